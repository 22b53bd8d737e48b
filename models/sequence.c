/*
 * sequence.c — the one steppable sequence model, and what runs over it: sampling a token
 * language autoregressively and classifying tile sequences.
 *
 * The zoo RNN θ and the emulator conditioned on E(θ) are the same machine: an optional input
 * map, two stacked LSTM layers, a linear output map at every step. The emulator adds its
 * conditioning term c = embedding_projection(e) to the first step's projected input only:
 *
 *   u_s = input(x_s) + [s = 0] c      (u_s = x_s when there is no input map)
 *   (h1, c1) = LSTM_0(u_s; h1, c1);  (h2, c2) = LSTM_1(h1; h2, c2);  logits_s = output(h2)
 *
 * which is emulator_forward's computation, one step at a time. A run keeps the four state
 * rows outside the tape, so the tape is emptied at every step and memory does not grow with
 * the sequence length. Nothing here records gradients: this is for evaluation.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rnnrep.h"

SeqModel zoo_lstm_seq(const ZooLstm *m)
{
    SeqModel s = {m->shape.I, m->shape.O, m->shape.H, NULL, {&m->layer[0], &m->layer[1]}, &m->head, NULL, NULL};
    return s;
}

SeqModel emulator_seq(const Emulator *em, const real *e)
{
    SeqModel s = {em->cfg.zoo.I, em->cfg.zoo.O, em->cfg.width, &em->input, {&em->lstm[0], &em->lstm[1]}, &em->output,
                  &em->embedding, e};
    return s;
}

void seq_run_begin(SeqRun *r, const SeqModel *m, size_t rows)
{
    r->model = *m;
    r->rows = rows;
    r->steps = 0;
    r->state = rr_calloc(4 * rows * m->D, sizeof(real), "sequence state");
    tape_init(&r->tape);
    r->tape.record = 0;
}

void seq_run_free(SeqRun *r)
{
    free(r->state);
    tape_free(&r->tape);
}

Tensor *seq_run_step(SeqRun *r, const real *x)
{
    const SeqModel *m = &r->model;
    Tape *t = &r->tape;
    size_t n = r->rows, D = m->D, shape[2] = {n, D};
    tape_reset(t);
    Tensor hc[4]; /* h and c of layer 0, then of layer 1, over r->state */
    for (int i = 0; i < 4; i++) hc[i] = tensor_wrap(r->state + (size_t)i * n * D, NULL, 2, shape);
    Tensor *u = tensor_new(t, 2, (size_t[]){n, m->I}, 0);               /* (n, I) */
    memcpy(u->data, x, n * m->I * sizeof(real));
    if (m->input) u = linear_forward(t, m->input, u);                    /* (n, D) */
    if (m->condition && r->steps == 0) {
        Tensor *e = tensor_new(t, 2, (size_t[]){n, m->condition->in}, 0); /* (n, E) */
        memcpy(e->data, m->e, e->size * sizeof(real));
        u = op_add(t, u, linear_forward(t, m->condition, e));
    }
    Tensor *h[2], *c[2];
    lstm_layer_step(t, m->lstm[0], u, &hc[0], &hc[1], &h[0], &c[0]);
    lstm_layer_step(t, m->lstm[1], h[0], &hc[2], &hc[3], &h[1], &c[1]);
    const Tensor *next[4] = {h[0], c[0], h[1], c[1]};
    for (int i = 0; i < 4; i++) memcpy(hc[i].data, next[i]->data, n * D * sizeof(real));
    r->steps++;
    return linear_forward(t, m->output, h[1]);                           /* (n, O) */
}

void seq_sample_tokens(const SeqModel *m, Rng *rng, size_t n, size_t len, int bos, int16_t *seqs, real *logp)
{
    size_t V = m->I;
    if (m->O != V) rr_fatal("seq_sample_tokens: the model reads %zu tokens and writes %zu", m->I, m->O);
    SeqRun r;
    seq_run_begin(&r, m, n);
    real *x = rr_malloc(n * V * sizeof(real), "one-hot tokens");
    double *p = rr_malloc(V * sizeof *p, "token probabilities");
    for (size_t i = 0; i < n; i++) seqs[i * len] = (int16_t)bos;
    for (size_t s = 0; s + 1 < len; s++) {
        memset(x, 0, n * V * sizeof(real));
        for (size_t i = 0; i < n; i++) x[i * V + (size_t)seqs[i * len + s]] = 1;
        Tensor *lp = op_log_softmax(&r.tape, seq_run_step(&r, x));      /* (n, V) */
        for (size_t i = 0; i < n; i++) {
            for (size_t k = 0; k < V; k++) p[k] = exp((double)lp->data[i * V + k]);
            seqs[i * len + s + 1] = (int16_t)rng_categorical(rng, p, V);
            if (logp) memcpy(logp + (i * (len - 1) + s) * V, lp->data + i * V, V * sizeof(real));
        }
    }
    free(x);
    free(p);
    seq_run_free(&r);
}

SeqScore seq_classify(const SeqModel *m, const real *x, size_t n, size_t T, const int32_t *labels, real *logits)
{
    size_t I = m->I, O = m->O;
    SeqRun r;
    seq_run_begin(&r, m, n);
    real *xs = rr_malloc(n * I * sizeof(real), "step inputs");
    SeqScore score = {0, 0.0};
    for (size_t s = 0; s < T; s++) {
        for (size_t i = 0; i < n; i++) memcpy(xs + i * I, x + (i * T + s) * I, I * sizeof(real));
        Tensor *z = seq_run_step(&r, xs);                                 /* (n, O) */
        score.loss += op_cross_entropy(&r.tape, z, labels)->data[0] / (double)T; /* mean over the n rows */
        for (size_t i = 0; i < n; i++) {
            const real *zi = z->data + i * O;
            if (logits) memcpy(logits + (i * T + s) * O, zi, O * sizeof(real));
            if (s + 1 < T) continue;
            size_t best = 0;
            for (size_t k = 1; k < O; k++) best = zi[k] > zi[best] ? k : best;
            score.correct += best == (size_t)labels[i];
        }
    }
    free(xs);
    seq_run_free(&r);
    return score;
}
