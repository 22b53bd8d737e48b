/*
 * nn.c — building blocks with PyTorch's parameter names and default initialisation:
 * Linear (nn.Linear) and one LSTM layer (a layer of nn.LSTM, or an nn.LSTMCell).
 */
#include <math.h>
#include <stdio.h>

#include "rnnrep.h"

void linear_declare(Linear *l, ParamSet *ps, const char *name, size_t in, size_t out, int bias)
{
    char full[128];
    snprintf(full, sizeof full, "%s.weight", name);
    l->W = paramset_add(ps, full, 2, (size_t[]){out, in});
    l->b = NULL;
    if (bias) {
        snprintf(full, sizeof full, "%s.bias", name);
        l->b = paramset_add(ps, full, 1, (size_t[]){out});
    }
    l->in = in;
    l->out = out;
}

/* torch.nn.Linear.reset_parameters: kaiming_uniform(a=sqrt(5)) for W, which is
 * uniform(±1/sqrt(in)), and uniform(±1/sqrt(in)) for b. */
void linear_init(const Linear *l, Rng *rng)
{
    double bound = 1.0 / sqrt((double)l->in);
    init_uniform(l->W, rng, bound);
    if (l->b) init_uniform(l->b, rng, bound);
}

Tensor *linear_forward(Tape *t, const Linear *l, Tensor *x) { return op_linear(t, x, l->W, l->b); }

void mlp_declare(Mlp *m, ParamSet *ps, const char *prefix, size_t in, size_t hidden, size_t hidden_layers, size_t out)
{
    if (hidden_layers < 1 || hidden_layers + 1 > MLP_MAX_LINEAR)
        rr_fatal("%s: %zu hidden layers (1 to %d allowed)", prefix, hidden_layers, MLP_MAX_LINEAR - 1);
    m->n = hidden_layers + 1;
    for (size_t i = 0; i < m->n; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s.%zu", prefix, 2 * i);
        linear_declare(&m->linear[i], ps, name, i == 0 ? in : hidden, i + 1 == m->n ? out : hidden, 1);
    }
}

void mlp_init(const Mlp *m, Rng *rng)
{
    for (size_t i = 0; i < m->n; i++) linear_init(&m->linear[i], rng);
}

Tensor *mlp_forward(Tape *t, const Mlp *m, Tensor *x)
{
    for (size_t i = 0; i < m->n; i++) {
        x = linear_forward(t, &m->linear[i], x);     /* (.., hidden), the last (.., out) */
        if (i + 1 < m->n) x = op_relu(t, x);
    }
    return x;
}

void lstm_layer_declare(LstmLayer *l, ParamSet *ps, const char *prefix, const char *suffix, size_t in, size_t H)
{
    char name[128];
    snprintf(name, sizeof name, "%sweight_ih%s", prefix, suffix);
    l->W_ih = paramset_add(ps, name, 2, (size_t[]){4 * H, in});
    snprintf(name, sizeof name, "%sweight_hh%s", prefix, suffix);
    l->W_hh = paramset_add(ps, name, 2, (size_t[]){4 * H, H});
    snprintf(name, sizeof name, "%sbias_ih%s", prefix, suffix);
    l->b_ih = paramset_add(ps, name, 1, (size_t[]){4 * H});
    snprintf(name, sizeof name, "%sbias_hh%s", prefix, suffix);
    l->b_hh = paramset_add(ps, name, 1, (size_t[]){4 * H});
    l->in = in;
    l->H = H;
}

/* torch.nn.LSTM.reset_parameters: every weight and bias uniform(±1/sqrt(H)). */
void lstm_layer_init(const LstmLayer *l, Rng *rng)
{
    double bound = 1.0 / sqrt((double)l->H);
    init_uniform(l->W_ih, rng, bound);
    init_uniform(l->W_hh, rng, bound);
    init_uniform(l->b_ih, rng, bound);
    init_uniform(l->b_hh, rng, bound);
}

void lstm_layer_step(Tape *t, const LstmLayer *l, Tensor *x, Tensor *h, Tensor *c, Tensor **h_out, Tensor **c_out)
{
    Tensor *gates = op_add(t, op_linear(t, x, l->W_ih, l->b_ih), op_linear(t, h, l->W_hh, l->b_hh)); /* (B, G) */
    op_lstm_cell(t, gates, c, h_out, c_out);
}

Tensor *lstm_layer_sequence(Tape *t, const LstmLayer *l, Tensor *x)
{
    Tensor *xg = op_linear(t, x, l->W_ih, l->b_ih);                 /* (B, T, G): all steps at once */
    return op_lstm_sequence(t, xg, l->W_hh, l->b_hh);               /* (B, T, H) */
}
