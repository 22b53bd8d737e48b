/* test_sequence.c — the steppable sequence model: stepping the zoo RNN and the conditioned
 * emulator gives, at every position, the logits of their whole-sequence forwards; the token
 * sampler and the classifier over it agree with those forwards. */
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"

/* Steps m over x (B, T, I) and returns the largest |difference| from want (B, T, O). */
static double stepped_difference(const SeqModel *m, const real *x, size_t B, size_t T, const real *want)
{
    SeqRun r;
    seq_run_begin(&r, m, B);
    real *xs = malloc(B * m->I * sizeof(real));
    double worst = 0;
    for (size_t s = 0; s < T; s++) {
        for (size_t b = 0; b < B; b++) memcpy(xs + b * m->I, x + (b * T + s) * m->I, m->I * sizeof(real));
        Tensor *z = seq_run_step(&r, xs);
        for (size_t b = 0; b < B; b++)
            worst = fmax(worst, max_abs_diff(z->data + b * m->O, want + (b * T + s) * m->O, m->O));
    }
    free(xs);
    seq_run_free(&r);
    return worst;
}

static void check_emulator_steps(ZooShape z)
{
    Rng rng;
    rng_seed(&rng, 31 + z.I);
    size_t B = 3, T = 7, E = 5;
    Emulator em;
    emulator_init(&em, &(EmulatorConfig){z, 12, E}, &rng);
    Tape t;
    tape_init(&t);
    t.record = 0;
    Tensor *x = tensor_new(&t, 3, (size_t[]){B, T, z.I}, 0), *e = tensor_new(&t, 2, (size_t[]){B, E}, 0);
    fill_uniform(x->data, x->size, &rng, -1, 1);
    fill_uniform(e->data, e->size, &rng, -1, 1);
    Tensor *want = emulator_forward(&t, &em, x, e);                       /* (B, T, O) */
    SeqModel m = emulator_seq(&em, e->data);
    double d = stepped_difference(&m, x->data, B, T, want->data);
    CHECK(d <= (IS_DOUBLE_BUILD ? 1e-14 : 1e-6), "emulator (I = %zu) stepped vs whole sequence: %g", z.I, d);
    /* the conditioning matters: another embedding gives other logits at the first step */
    for (size_t i = 0; i < e->size; i++) e->data[i] = -e->data[i];
    CHECK(stepped_difference(&m, x->data, B, T, want->data) > 1e-4, "emulator: the embedding changes the logits");
    tape_free(&t);
    emulator_free(&em);
}

static void check_zoo_steps(ZooShape z)
{
    Rng rng;
    rng_seed(&rng, 41 + z.I);
    size_t B = 4, T = 9;
    ZooLstm zl;
    zoo_lstm_init(&zl, z, &rng);
    Tape t;
    tape_init(&t);
    t.record = 0;
    Tensor *x = tensor_new(&t, 3, (size_t[]){B, T, z.I}, 0);
    fill_uniform(x->data, x->size, &rng, -1, 1);
    Tensor *want = zoo_lstm_forward(&t, &zl, x);
    SeqModel m = zoo_lstm_seq(&zl);
    double d = stepped_difference(&m, x->data, B, T, want->data);
    CHECK(d <= (IS_DOUBLE_BUILD ? 1e-14 : 1e-6), "zoo RNN (I = %zu) stepped vs whole sequence: %g", z.I, d);

    /* seq_classify: the last step's argmax and the mean cross-entropy over all B T positions */
    int32_t labels[4] = {0, 1, 2, 1}, *every = malloc(B * T * sizeof *every);
    for (size_t i = 0; i < B * T; i++) every[i] = labels[i / T];
    real *logits = malloc(B * T * z.O * sizeof(real));
    SeqScore score = seq_classify(&m, x->data, B, T, labels, logits);
    size_t correct = 0;
    for (size_t b = 0; b < B; b++) {
        const real *last = want->data + (b * T + T - 1) * z.O;
        size_t best = 0;
        for (size_t k = 1; k < z.O; k++) best = last[k] > last[best] ? k : best;
        correct += best == (size_t)labels[b];
    }
    double loss = op_cross_entropy(&t, want, every)->data[0];
    CHECK(score.correct == correct, "seq_classify: %zu correct, want %zu", score.correct, correct);
    CHECK_NEAR(score.loss, loss, IS_DOUBLE_BUILD ? 1e-12 : 1e-5, "seq_classify loss");
    CHECK(max_abs_diff(logits, want->data, B * T * z.O) <= (IS_DOUBLE_BUILD ? 1e-14 : 1e-6), "seq_classify logits");
    free(every);
    free(logits);
    tape_free(&t);
    zoo_lstm_free(&zl);
}

/* Sampled sequences start with BOS; the stored log-probabilities are those of the model fed
 * the sampled prefix (checked by a whole-sequence forward over the sampled tokens). */
static void check_sampler(void)
{
    Rng rng;
    rng_seed(&rng, 5);
    ZooShape z = ZOO_FORMAL;
    size_t n = 6, len = LANG_LENGTH, V = z.I;
    ZooLstm zl;
    zoo_lstm_init(&zl, z, &rng);
    SeqModel m = zoo_lstm_seq(&zl);
    int16_t *seqs = malloc(n * len * sizeof *seqs);
    real *logp = malloc(n * (len - 1) * V * sizeof(real));
    seq_sample_tokens(&m, &rng, n, len, LANG_BOS, seqs, logp);
    Tape t;
    tape_init(&t);
    t.record = 0;
    Tensor *x = tensor_new(&t, 3, (size_t[]){n, len - 1, V}, 0);
    int bos = 1, range = 1;
    for (size_t i = 0; i < n; i++) {
        bos &= seqs[i * len] == LANG_BOS;
        for (size_t s = 0; s + 1 < len; s++) {
            range &= seqs[i * len + s + 1] >= 0 && seqs[i * len + s + 1] < (int16_t)V;
            x->data[(i * (len - 1) + s) * V + (size_t)seqs[i * len + s]] = 1;
        }
    }
    CHECK(bos && range, "samples start with BOS and hold tokens");
    Tensor *want = op_log_softmax(&t, zoo_lstm_forward(&t, &zl, x));
    double d = max_abs_diff(logp, want->data, want->size);
    CHECK(d <= (IS_DOUBLE_BUILD ? 1e-13 : 1e-5), "sampler log-probabilities vs forward over the samples: %g", d);
    /* the same stream gives the same samples */
    int16_t *again = malloc(n * len * sizeof *again);
    rng_seed(&rng, 5);
    ZooLstm zl2;
    zoo_lstm_init(&zl2, z, &rng);
    SeqModel m2 = zoo_lstm_seq(&zl2);
    seq_sample_tokens(&m2, &rng, n, len, LANG_BOS, again, NULL);
    CHECK(memcmp(seqs, again, n * len * sizeof *seqs) == 0, "sampling is deterministic");
    free(again);
    zoo_lstm_free(&zl2);
    tape_free(&t);
    free(seqs);
    free(logp);
    zoo_lstm_free(&zl);
}

/* An emulator that computes θ exactly: width D = H, the input projection placing x in the
 * first I of the D inputs, the LSTM and output weights taken from θ (W_ih^0 padded with zero
 * columns), the embedding projection zero. Sampled with the same random stream as θ, its
 * sequences are θ's own, and the return difference is 0. */
static void check_exact_clone(void)
{
    Rng rng;
    rng_seed(&rng, 8);
    ZooShape z = ZOO_FORMAL;
    size_t H = z.H, I = z.I, n = 64, len = LANG_LENGTH;
    ZooLstm zl;
    zoo_lstm_init(&zl, z, &rng);
    Emulator em;
    emulator_init(&em, &(EmulatorConfig){z, H, 16}, &rng);
    memset(em.params.data, 0, em.params.n * sizeof(real));
    for (size_t i = 0; i < I; i++) em.input.W->data[i * I + i] = 1;         /* (D, I): x into the first I */
    for (size_t r = 0; r < 4 * H; r++)
        memcpy(em.lstm[0].W_ih->data + r * H, zl.layer[0].W_ih->data + r * I, I * sizeof(real));
    const LstmLayer *from[2] = {&zl.layer[0], &zl.layer[1]};
    for (int l = 0; l < 2; l++) {
        if (l == 1) memcpy(em.lstm[1].W_ih->data, from[1]->W_ih->data, from[1]->W_ih->size * sizeof(real));
        memcpy(em.lstm[l].W_hh->data, from[l]->W_hh->data, from[l]->W_hh->size * sizeof(real));
        memcpy(em.lstm[l].b_ih->data, from[l]->b_ih->data, from[l]->b_ih->size * sizeof(real));
        memcpy(em.lstm[l].b_hh->data, from[l]->b_hh->data, from[l]->b_hh->size * sizeof(real));
    }
    memcpy(em.output.W->data, zl.head.W->data, zl.head.W->size * sizeof(real));
    memcpy(em.output.b->data, zl.head.b->data, zl.head.b->size * sizeof(real));
    real e[16];
    fill_uniform(e, 16, &rng, -1, 1);                                        /* any embedding: it is ignored */
    int16_t *a = malloc(n * len * sizeof *a), *b = malloc(n * len * sizeof *b);
    Rng ra, rb;
    rng_seed(&ra, 99);
    rb = ra;
    clone_sample_tokens(&em, zl.params.data, e, n, len, LANG_BOS, &ra, &rb, a, b);
    CHECK(memcmp(a, b, n * len * sizeof *a) == 0, "an exact emulator samples θ's own sequences");
    const int task[4] = {0, 1, -1, 0};
    size_t finished[2] = {0, 0}, correct[2] = {0, 0};
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            const int16_t *seq = (k ? b : a) + i * len;
            finished[k] += (size_t)lang_finished(seq, len);
            correct[k] += (size_t)lang_accepts(task, seq, len);
        }
    double score_a = finished[0] ? (double)correct[0] / (double)finished[0] : 0;
    double score_b = finished[1] ? (double)correct[1] / (double)finished[1] : 0;
    CHECK(finished[0] > 0 && score_a == score_b, "return difference %g (%zu of %zu finished)", fabs(score_a - score_b), finished[0], n);
    /* a different stream for the clone gives other samples: the check above can fail */
    rng_seed(&ra, 99);
    rng_seed(&rb, 100);
    clone_sample_tokens(&em, zl.params.data, e, n, len, LANG_BOS, &ra, &rb, a, b);
    CHECK(memcmp(a, b, n * len * sizeof *a) != 0, "another stream gives other samples");
    free(a);
    free(b);
    emulator_free(&em);
    zoo_lstm_free(&zl);
}

int main(void)
{
    check_exact_clone();
    check_emulator_steps(ZOO_FORMAL);
    check_emulator_steps(ZOO_MNIST);
    check_zoo_steps(ZOO_FORMAL);
    check_zoo_steps(ZOO_MNIST);
    check_sampler();
    return test_summary("test_sequence");
}
