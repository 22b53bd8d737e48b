/*
 * enc_probing.c — non-interactive and interactive probing (SPEC.md §3.5, §3.6), one module
 * as in the official code (its InteractiveEncoder), two weightings of the probe generator's
 * input:
 *   interactive       u_s = y_s                     (iw = 1, sw = 0): probes depend on answers
 *   non-interactive   u_s = probing_encodings[s]    (iw = 0, sw = 1): a fixed learned sequence
 *
 *   x = bos;  core state zero
 *   for s = 0..L:
 *       y = core(x)                         two LSTMCells with residual outputs, out = h + in
 *       if s == L: break
 *       p = probe(decoder(relu(proj_up(u_s)) viewed as M rows of width hidden))   (B, M, I)
 *       o = zoo RNN θ, one step on p per stream, its (h, c) kept across steps      (B, M, O)
 *       x = sigmoid(output_map(o viewed as (B, M O)))
 *   y = core(eos);  E(θ) = head(y) = Linear(relu(Linear(y)))
 * probe = softmax over the tokens for formal languages, sigmoid for sequential MNIST. The
 * rule: a zoo RNN that reads MNIST tiles (zoo_reads_tiles, the rule encoder_config_paper
 * uses for L) gets sigmoid; any other zoo is a token language and gets softmax. The official
 * code decides it by the dataset name (probing_input_softmax).
 *
 * The zoo RNN θ is data: gradients flow through it into the probe generator (and into theta
 * when it carries a gradient), never into θ as a parameter. Since u_s does not depend on θ
 * in the non-interactive kind, its probes are computed once for the whole batch.
 *
 * Parameters, in the official state_dict order (a module's own parameters first):
 *   bos, eos (1, C) zeros; h0, c0 (2, 1, C) zeros, never read (they exist in the official
 *   module and are counted); probing_encodings (L+1, C) N(0, 1), row L never read;
 *   rnn_cells.{0,1}.cell.{weight_ih, weight_hh, bias_ih, bias_hh}   LSTMCell(C, C);
 *   probing_output_transform.0  Linear(O M, C);   proj_up.0  Linear(C, hidden M);
 *   probing_input_decoder.{0,2} Linear(hidden, hidden), Linear(hidden, I);
 *   output_transform.{0,2}      Linear(C, hidden), Linear(hidden, E).
 * Count: 2 (8C^2 + 8C) + 2C + 4C + (L+1) C + (O M + 1) C + (C + 1) hidden M
 *        + (hidden + 1) hidden + (hidden + 1) I + (C + 1) hidden + (hidden + 1) E
 *      = 1,147,030 (formal languages) / 1,156,512 (MNIST) at C = 256, hidden = 128, M = 1.
 */
#include <stdlib.h>
#include <string.h>

#include "models/encoders.h"

typedef struct ProbingEncoder {
    Tensor *bos, *eos;            /* (1, C) */
    Tensor *h0, *c0;              /* (2, 1, C), unused */
    Tensor *probing_encodings;    /* (L+1, C) */
    LstmLayer cell[2];            /* LSTMCell(C, C) */
    Linear output_map;            /* O M -> C, then sigmoid */
    Linear proj_up;               /* C -> hidden M, then ReLU */
    Mlp decoder;                  /* hidden -> hidden, ReLU, hidden -> I */
    Mlp head;                     /* C -> hidden, ReLU, hidden -> E */
    int interactive;
    int sigmoid_probes;           /* MNIST tiles: sigmoid; tokens: softmax */
} ProbingEncoder;

void probing_encoder_init(Encoder *enc, Rng *rng)
{
    const EncoderConfig *c = &enc->cfg;
    size_t C = c->core, Hd = c->hidden, M = c->M, L = c->L, I = c->zoo.I, O = c->zoo.O;
    if (C == 0 || Hd == 0 || M == 0 || L == 0) rr_fatal("probing encoder: core, hidden, M and L must be > 0");
    if (c->hidden_layers != 1) rr_fatal("probing encoder: %zu hidden layers; only 1 (every official config) is built", c->hidden_layers);
    ProbingEncoder *m = rr_calloc(1, sizeof *m, "probing encoder");
    enc->impl = m;
    m->interactive = c->kind == ENC_INTERACTIVE;
    m->sigmoid_probes = zoo_reads_tiles(c->zoo);
    ParamSet *ps = &enc->params;
    m->bos = paramset_add(ps, "bos", 2, (size_t[]){1, C});
    m->eos = paramset_add(ps, "eos", 2, (size_t[]){1, C});
    m->h0 = paramset_add(ps, "h0", 3, (size_t[]){2, 1, C});
    m->c0 = paramset_add(ps, "c0", 3, (size_t[]){2, 1, C});
    m->probing_encodings = paramset_add(ps, "probing_encodings", 2, (size_t[]){L + 1, C});
    lstm_layer_declare(&m->cell[0], ps, "rnn_cells.0.cell.", "", C, C);
    lstm_layer_declare(&m->cell[1], ps, "rnn_cells.1.cell.", "", C, C);
    linear_declare(&m->output_map, ps, "probing_output_transform.0", O * M, C, 1);
    linear_declare(&m->proj_up, ps, "proj_up.0", C, Hd * M, 1);
    mlp_declare(&m->decoder, ps, "probing_input_decoder", Hd, Hd, 1, I);
    mlp_declare(&m->head, ps, "output_transform", C, Hd, 1, c->embed);
    paramset_finalize(ps);

    /* torch: bos, eos, h0, c0 zeros (torch.zeros); probing_encodings torch.randn; LSTMCell and
     * Linear defaults. (The official option to open the forget gates is off in every config.) */
    init_constant(m->bos, 0);
    init_constant(m->eos, 0);
    init_constant(m->h0, 0);
    init_constant(m->c0, 0);
    init_normal(m->probing_encodings, rng, 1.0);
    lstm_layer_init(&m->cell[0], rng);
    lstm_layer_init(&m->cell[1], rng);
    linear_init(&m->output_map, rng);
    linear_init(&m->proj_up, rng);
    mlp_init(&m->decoder, rng);
    mlp_init(&m->head, rng);
}

/* One step of the core: each cell's output is its new h plus its input (residual). */
static Tensor *core_step(Tape *t, const ProbingEncoder *m, Tensor *x, Tensor **h, Tensor **c)
{
    for (int l = 0; l < 2; l++) {
        lstm_layer_step(t, &m->cell[l], x, h[l], c[l], &h[l], &c[l]);
        x = op_add(t, h[l], x);                                           /* (B, C) */
    }
    return x;
}

/* u (R, C) -> M probe inputs per row (R, M, I). */
static Tensor *probe_inputs(Tape *t, const ProbingEncoder *m, Tensor *u, size_t M)
{
    size_t R = u->shape[0], Hd = m->decoder.linear[0].in, I = m->decoder.linear[1].out;
    Tensor *e = op_relu(t, linear_forward(t, &m->proj_up, u));           /* (R, hidden M) */
    e = tensor_view(t, e, 2, (size_t[]){R * M, Hd});                     /* stream-major rows */
    Tensor *z = mlp_forward(t, &m->decoder, e);                          /* (R M, I) */
    z = tensor_view(t, z, 3, (size_t[]){R, M, I});
    return m->sigmoid_probes ? op_sigmoid(t, z) : op_softmax(t, z);
}

/* The rows (B, C) of a (1, C) parameter: 0 + v. */
static Tensor *broadcast_rows(Tape *t, Tensor *v, size_t B)
{
    size_t C = v->size;
    return op_add(t, tensor_new(t, 2, (size_t[]){B, C}, 0), tensor_view(t, v, 1, (size_t[]){C}));
}

/* dst[b, s] = src[b] for a (B, L, M, K) trace and a (B, M, K) step; values only. */
static void record_step(Tensor *dst, const Tensor *src, size_t s)
{
    size_t B = dst->shape[0], L = dst->shape[1], n = dst->shape[2] * dst->shape[3];
    for (size_t b = 0; b < B; b++) memcpy(dst->data + (b * L + s) * n, src->data + b * n, n * sizeof(real));
}

Tensor *probing_encoder_forward(Tape *t, const Encoder *enc, Tensor *theta, ProbeTrace *trace)
{
    const EncoderConfig *c = &enc->cfg;
    const ProbingEncoder *m = enc->impl;
    size_t B = theta->shape[0], C = c->core, M = c->M, L = c->L, I = c->zoo.I, O = c->zoo.O;
    ZooBatch zoo;
    zoo_batch_begin(t, &zoo, c->zoo, theta, M);
    if (trace) {
        trace->inputs = tensor_new(t, 4, (size_t[]){B, L, M, I}, 0);
        trace->answers = tensor_new(t, 4, (size_t[]){B, L, M, O}, 0);
    }
    Tensor *zero = tensor_new(t, 2, (size_t[]){B, C}, 0);
    Tensor *h[2] = {zero, zero}, *cs[2] = {zero, zero};
    Tensor *x = broadcast_rows(t, m->bos, B);                              /* (B, C) */
    for (size_t s = 0;; s++) {
        Tensor *y = core_step(t, m, x, h, cs);                             /* (B, C) */
        if (s == L) break;
        Tensor *p;                                                         /* (B, M, I) */
        if (m->interactive) {
            p = probe_inputs(t, m, y, M);
        } else {
            Tensor *u = op_slice(t, m->probing_encodings, 0, s, 1);       /* (1, C) */
            Tensor *p1 = probe_inputs(t, m, u, M);                         /* (1, M, I), the same for every θ */
            p = op_add(t, tensor_new(t, 3, (size_t[]){B, M, I}, 0), tensor_view(t, p1, 2, (size_t[]){M, I}));
        }
        Tensor *o = zoo_batch_step(t, &zoo, p);                            /* (B, M, O) raw logits */
        if (trace) {
            record_step(trace->inputs, p, s);
            record_step(trace->answers, o, s);
        }
        x = op_sigmoid(t, linear_forward(t, &m->output_map, tensor_view(t, o, 2, (size_t[]){B, M * O}))); /* (B, C) */
    }
    Tensor *y = core_step(t, m, broadcast_rows(t, m->eos, B), h, cs);     /* (B, C) */
    return mlp_forward(t, &m->head, y);                                   /* (B, E) */
}
