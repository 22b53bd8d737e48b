/* test_zoo_lstm.c — the zoo RNN θ (models/zoo_lstm.c) and the LSTM layer it is built from
 * (models/nn.c): parameter counts and the flat layout, one LSTM step worked out by hand, the
 * two modes (θ as parameters, θ as data) against each other, finite-difference gradients of
 * both modes, and the hidden-neuron permutation symmetry. */
#include "gradcheck.h"

/* Forward agreement between computations that sum in different orders. */
#define TOL (IS_DOUBLE_BUILD ? 1e-11 : 2e-5)

/* sum(out * r) with a fixed pseudo-random r (a function of out's size and seed only), so every
 * output element carries its own weight in the scalar the gradient checks differentiate. */
static Tensor *weighted_sum(Tape *t, Tensor *out, uint64_t seed)
{
    Rng rng;
    rng_seed(&rng, seed);
    Tensor *r = tensor_new(t, out->ndim, out->shape, 0);
    fill_uniform(r->data, r->size, &rng, -1, 1);
    return op_sum_all(t, op_mul(t, out, r));
}

/* ---- counts and layout ----------------------------------------------------------------- */

static void check_layout(ZooShape s, size_t want_P, const char *what)
{
    Rng rng;
    rng_seed(&rng, 1);
    ZooLstm m;
    zoo_lstm_init(&m, s, &rng);
    size_t P = zoo_num_params(s);
    CHECK(P == want_P, "%s: zoo_num_params = %zu, want %zu", what, P, want_P);
    CHECK(m.params.n == P, "%s: ZooLstm has %zu parameters, want %zu", what, m.params.n, P);
    CHECK(m.params.count == ZOO_NUM_TENSORS, "%s: %zu tensors", what, m.params.count);
    size_t end = 0;
    for (int k = 0; k < ZOO_NUM_TENSORS && (size_t)k < m.params.count; k++) {
        size_t off, rows, cols;
        zoo_tensor_layout(s, (ZooTensor)k, &off, &rows, &cols);
        const Tensor *v = m.params.views[k];
        CHECK(strcmp(m.params.names[k], zoo_tensor_names[k]) == 0, "%s: tensor %d is %s, want %s", what, k,
              m.params.names[k], zoo_tensor_names[k]);
        CHECK(off == end, "%s: %s starts at %zu, the previous tensor ends at %zu", what, zoo_tensor_names[k], off, end);
        CHECK(m.params.offsets[k] == off && v->data == m.params.data + off,
              "%s: %s at offset %zu in the ParamSet, layout says %zu", what, zoo_tensor_names[k], m.params.offsets[k], off);
        int is_bias = k == ZOO_B_IH0 || k == ZOO_B_HH0 || k == ZOO_B_IH1 || k == ZOO_B_HH1 || k == ZOO_LINEAR_B;
        CHECK(is_bias ? cols == 1 && v->ndim == 1 && v->shape[0] == rows
                      : v->ndim == 2 && v->shape[0] == rows && v->shape[1] == cols,
              "%s: %s has the wrong shape", what, zoo_tensor_names[k]);
        end = off + rows * cols;
    }
    CHECK(end == P, "%s: tensors end at %zu, P = %zu", what, end, P);
    /* The shapes of SPEC.md §1, spelled out. */
    size_t G = 4 * s.H, rows, cols, off;
    zoo_tensor_layout(s, ZOO_W_IH0, &off, &rows, &cols);
    CHECK(rows == G && cols == s.I, "%s: weight_ih_l0 is (%zu, %zu)", what, rows, cols);
    zoo_tensor_layout(s, ZOO_W_IH1, &off, &rows, &cols);
    CHECK(off == G * s.I + G * s.H + 2 * G && rows == G && cols == s.H, "%s: weight_ih_l1 at %zu", what, off);
    zoo_tensor_layout(s, ZOO_LINEAR_W, &off, &rows, &cols);
    CHECK(rows == s.O && cols == s.H, "%s: linear.weight is (%zu, %zu)", what, rows, cols);
    /* PyTorch's default initialisation: everything within ±1/sqrt(H) = ±0.1768 (H = 32). */
    double bound = 1 / sqrt((double)s.H), largest = 0;
    for (size_t i = 0; i < P; i++) largest = fabs((double)m.params.data[i]) > largest ? fabs((double)m.params.data[i]) : largest;
    CHECK(largest <= bound && largest > 0.9 * bound, "%s: largest initial |θ| %.4f, bound %.4f", what, largest, bound);
    zoo_lstm_free(&m);
}

/* ---- one LSTM step by hand ------------------------------------------------------------- */

static double sigmoid_d(double z) { return 1 / (1 + exp(-z)); }

/* A cell with I = H = 1, so G = 4 rows in the order i, f, g, o:
 *   W_ih = (0.5, -0.3, 0.8, 0.2), W_hh = (0.1, 0.4, -0.6, 0.3),
 *   b_ih = (0.05, -0.1, 0.2, 0), b_hh = (0, 0.3, -0.1, 0.1);  x = 1, h = 0.5, c = -0.2.
 * gates = W_ih x + b_ih + W_hh h + b_hh:
 *   i = 0.5 + 0.05 + 0.05 + 0   = 0.60    sigmoid(0.60) = 0.6456563
 *   f = -0.3 - 0.1 + 0.2 + 0.3  = 0.10    sigmoid(0.10) = 0.5249792
 *   g = 0.8 + 0.2 - 0.3 - 0.1   = 0.60    tanh(0.60)    = 0.5370496
 *   o = 0.2 + 0 + 0.15 + 0.1    = 0.45    sigmoid(0.45) = 0.6106392
 * c' = 0.5249792 * (-0.2) + 0.6456563 * 0.5370496 = -0.1049958 + 0.3467494 = 0.2417536
 * h' = 0.6106392 * tanh(0.2417536) = 0.6106392 * 0.2371514 = 0.1448140 */
static void check_hand_step(void)
{
    ParamSet ps;
    paramset_init(&ps, "cell");
    LstmLayer cell;
    lstm_layer_declare(&cell, &ps, "", "", 1, 1);
    paramset_finalize(&ps);
    const real w_ih[4] = {0.5, -0.3, 0.8, 0.2}, w_hh[4] = {0.1, 0.4, -0.6, 0.3};
    const real b_ih[4] = {0.05, -0.1, 0.2, 0}, b_hh[4] = {0, 0.3, -0.1, 0.1};
    memcpy(cell.W_ih->data, w_ih, sizeof w_ih);
    memcpy(cell.W_hh->data, w_hh, sizeof w_hh);
    memcpy(cell.b_ih->data, b_ih, sizeof b_ih);
    memcpy(cell.b_hh->data, b_hh, sizeof b_hh);
    CHECK(strcmp(ps.names[0], "weight_ih") == 0 && strcmp(ps.names[3], "bias_hh") == 0,
          "nn.LSTMCell names: %s ... %s", ps.names[0], ps.names[3]);

    Tape t;
    tape_init(&t);
    Tensor *x = tensor_new(&t, 2, (size_t[]){1, 1}, 0), *h = tensor_new(&t, 2, (size_t[]){1, 1}, 0);
    Tensor *c = tensor_new(&t, 2, (size_t[]){1, 1}, 0), *h2, *c2;
    x->data[0] = 1;
    h->data[0] = (real)0.5;
    c->data[0] = (real)-0.2;
    lstm_layer_step(&t, &cell, x, h, c, &h2, &c2);

    /* The same numbers from the scalar formulas, independently of the library's ops. */
    double gi = 0.5 * 1 + 0.05 + 0.1 * 0.5 + 0, gf = -0.3 * 1 - 0.1 + 0.4 * 0.5 + 0.3;
    double gg = 0.8 * 1 + 0.2 - 0.6 * 0.5 - 0.1, go = 0.2 * 1 + 0 + 0.3 * 0.5 + 0.1;
    double c_want = sigmoid_d(gf) * -0.2 + sigmoid_d(gi) * tanh(gg);
    double h_want = sigmoid_d(go) * tanh(c_want);
    CHECK_NEAR(c2->data[0], c_want, 1e-6, "hand LSTM step c'");
    CHECK_NEAR(h2->data[0], h_want, 1e-6, "hand LSTM step h'");
    CHECK_NEAR(c2->data[0], 0.2417536, 1e-6, "hand LSTM step c' (worked value)");
    CHECK_NEAR(h2->data[0], 0.1448140, 1e-6, "hand LSTM step h' (worked value)");
    tape_free(&t);
    paramset_free(&ps);
}

/* lstm_layer_sequence (all input products in one matrix product) against T calls of
 * lstm_layer_step from zero state. */
static void check_sequence_equals_steps(void)
{
    Rng rng;
    rng_seed(&rng, 3);
    ParamSet ps;
    paramset_init(&ps, "layer");
    LstmLayer l;
    size_t B = 3, T = 5, I = 4, H = 6;
    lstm_layer_declare(&l, &ps, "lstm.", "_l0", I, H);
    paramset_finalize(&ps);
    lstm_layer_init(&l, &rng);
    Tape t;
    tape_init(&t);
    Tensor *x = tensor_new(&t, 3, (size_t[]){B, T, I}, 0);                     /* (B, T, I) */
    fill_uniform(x->data, x->size, &rng, -1, 1);
    Tensor *hs = lstm_layer_sequence(&t, &l, x);                               /* (B, T, H) */
    Tensor *h = tensor_new(&t, 2, (size_t[]){B, H}, 0), *c = tensor_new(&t, 2, (size_t[]){B, H}, 0);
    double worst = 0;
    for (size_t s = 0; s < T; s++) {
        Tensor *xs = tensor_view(&t, op_slice(&t, x, 1, s, 1), 2, (size_t[]){B, I}); /* (B, I) */
        lstm_layer_step(&t, &l, xs, h, c, &h, &c);
        for (size_t b = 0; b < B; b++) {
            double d = max_abs_diff(hs->data + (b * T + s) * H, h->data + b * H, H);
            worst = d > worst ? d : worst;
        }
    }
    CHECK(worst <= TOL, "lstm_layer_sequence differs from stepping by %.3g", worst);
    tape_free(&t);
    paramset_free(&ps);
}

/* ---- mode 1 against mode 2 ------------------------------------------------------------- */

/* Mode 2 over a whole sequence: x (B, T, M, I) -> logits (B, T, M, O). */
static Tensor *run_batch(Tape *t, ZooShape s, Tensor *theta, Tensor *x)
{
    size_t B = x->shape[0], T = x->shape[1], M = x->shape[2];
    ZooBatch zb;
    zoo_batch_begin(t, &zb, s, theta, M);
    Tensor **ys = arena_alloc(&t->arena, T * sizeof *ys);
    for (size_t step = 0; step < T; step++) {
        Tensor *xs = tensor_view(t, op_slice(t, x, 1, step, 1), 3, (size_t[]){B, M, s.I}); /* (B, M, I) */
        Tensor *y = zoo_batch_step(t, &zb, xs);                                 /* (B, M, O) */
        ys[step] = tensor_view(t, y, 4, (size_t[]){B, 1, M, s.O});
    }
    return op_concat(t, ys, T, 1);                                              /* (B, T, M, O) */
}

/* B RNNs with M streams each in mode 2 (every row of theta a copy of the ZooLstm's θ) against
 * the same B * M sequences in mode 1. */
static void check_modes_agree(ZooShape s, size_t M, const char *what)
{
    Rng rng;
    rng_seed(&rng, 10 + M);
    ZooLstm m;
    zoo_lstm_init(&m, s, &rng);
    size_t B = 2, T = 7, P = zoo_num_params(s);
    Tape t;
    tape_init(&t);
    Tensor *x1 = tensor_new(&t, 3, (size_t[]){B * M, T, s.I}, 0);              /* (B M, T, I) */
    fill_uniform(x1->data, x1->size, &rng, -1, 1);
    Tensor *logits1 = zoo_lstm_forward(&t, &m, x1);                             /* (B M, T, O) */

    Tensor *theta = tensor_new(&t, 2, (size_t[]){B, P}, 0);                     /* (B, P) */
    for (size_t b = 0; b < B; b++) memcpy(theta->data + b * P, m.params.data, P * sizeof(real));
    Tensor *x2 = tensor_new(&t, 4, (size_t[]){B, T, M, s.I}, 0);                /* (B, T, M, I) */
    for (size_t b = 0; b < B; b++)
        for (size_t step = 0; step < T; step++)
            for (size_t j = 0; j < M; j++) /* stream j of RNN b reads sequence b M + j */
                memcpy(x2->data + ((b * T + step) * M + j) * s.I, x1->data + ((b * M + j) * T + step) * s.I, s.I * sizeof(real));
    Tensor *logits2 = run_batch(&t, s, theta, x2);                              /* (B, T, M, O) */
    double worst = 0;
    for (size_t b = 0; b < B; b++)
        for (size_t step = 0; step < T; step++)
            for (size_t j = 0; j < M; j++) {
                double d = max_abs_diff(logits2->data + ((b * T + step) * M + j) * s.O,
                                        logits1->data + ((b * M + j) * T + step) * s.O, s.O);
                worst = d > worst ? d : worst;
            }
    CHECK(worst <= TOL, "%s, M = %zu: mode 1 and mode 2 logits differ by %.3g", what, M, worst);
    tape_free(&t);
    zoo_lstm_free(&m);
}

/* ---- finite differences ---------------------------------------------------------------- */

typedef struct Mode1Ctx { const ZooLstm *m; Tensor *x; } Mode1Ctx;
static Tensor *mode1_loss(Tape *t, void *p)
{
    Mode1Ctx *ctx = p;
    return weighted_sum(t, zoo_lstm_forward(t, ctx->m, ctx->x), 77);
}

typedef struct Mode2Ctx { ZooShape s; Tensor *theta, *x; } Mode2Ctx;
static Tensor *mode2_loss(Tape *t, void *p)
{
    Mode2Ctx *ctx = p;
    return weighted_sum(t, run_batch(t, ctx->s, ctx->theta, ctx->x), 78);
}

/* Mode 1: every parameter tensor (a sample of 200 elements of the large ones) and x. */
static void gradcheck_mode1(void)
{
    Rng rng;
    rng_seed(&rng, 21);
    ZooLstm m;
    zoo_lstm_init(&m, ZOO_FORMAL, &rng);
    Tensor x = leaf_new(&rng, 3, (size_t[]){2, 5, ZOO_FORMAL.I}, -1, 1);       /* (B, T, I) */
    Mode1Ctx ctx = {&m, &x};
    double worst = 0;
    for (size_t k = 0; k < m.params.count; k++) {
        char what[96];
        snprintf(what, sizeof what, "mode 1 / %s", m.params.names[k]);
        double e = gradcheck(what, mode1_loss, &ctx, m.params.views[k], 200, 1e-5);
        worst = e > worst ? e : worst;
    }
    printf("  %-36s max rel err %.2e\n", "mode 1 / every parameter tensor", worst);
    printf("  %-36s max rel err %.2e\n", "mode 1 / x", gradcheck("mode 1 / x", mode1_loss, &ctx, &x, 0, 1e-5));
    leaf_free(&x);
    zoo_lstm_free(&m);
}

/* Mode 2 with respect to theta and x: every element for a small shape (I = 2, H = 3, O = 2,
 * P = 188), then a sample for the formal-language shape with M = 3 streams. */
static void gradcheck_mode2(ZooShape s, size_t M, size_t sample, const char *what)
{
    Rng rng;
    rng_seed(&rng, 31 + M);
    size_t B = 2, T = 4, P = zoo_num_params(s);
    Tensor theta = leaf_new(&rng, 2, (size_t[]){B, P}, -0.6, 0.6);             /* (B, P) */
    Tensor x = leaf_new(&rng, 4, (size_t[]){B, T, M, s.I}, -1, 1);            /* (B, T, M, I) */
    Mode2Ctx ctx = {s, &theta, &x};
    char name[96];
    snprintf(name, sizeof name, "%s / theta", what);
    printf("  %-36s max rel err %.2e\n", name, gradcheck(name, mode2_loss, &ctx, &theta, sample, 1e-5));
    snprintf(name, sizeof name, "%s / x", what);
    printf("  %-36s max rel err %.2e\n", name, gradcheck(name, mode2_loss, &ctx, &x, 0, 1e-5));
    leaf_free(&theta);
    leaf_free(&x);
}

/* ---- permutation symmetry -------------------------------------------------------------- */

static size_t at(ZooShape s, ZooTensor k, size_t row, size_t col)
{
    size_t off, rows, cols;
    zoo_tensor_layout(s, k, &off, &rows, &cols);
    return off + row * cols + col;
}

static void check_permutation(ZooShape s, const char *what)
{
    Rng rng;
    rng_seed(&rng, 41);
    ZooLstm m;
    zoo_lstm_init(&m, s, &rng);
    size_t H = s.H, P = zoo_num_params(s), B = 3, T = 9;
    size_t *perm0 = malloc(H * sizeof *perm0), *perm1 = malloc(H * sizeof *perm1), *id = malloc(H * sizeof *id);
    real *theta = malloc(P * sizeof *theta), *permuted = malloc(P * sizeof *permuted), *back = malloc(P * sizeof *back);
    memcpy(theta, m.params.data, P * sizeof(real));
    rng_permutation(&rng, H, perm0);
    rng_permutation(&rng, H, perm1);
    for (size_t j = 0; j < H; j++) id[j] = j;

    zoo_permute(s, theta, id, id, back);
    CHECK(memcmp(back, theta, P * sizeof(real)) == 0, "%s: identity permutation changes θ", what);

    zoo_permute(s, theta, perm0, perm1, permuted);
    size_t changed = 0;
    for (size_t i = 0; i < P; i++) changed += permuted[i] != theta[i];
    CHECK(changed > P / 2, "%s: the permutation changed only %zu of %zu entries", what, changed, P);
    /* Where single entries go: neuron r of layer l becomes neuron perm_l[r] in every gate block. */
    size_t g = 2, r = 5, c = 7, o = 1;
    CHECK(permuted[at(s, ZOO_W_HH0, g * H + perm0[r], perm0[c])] == theta[at(s, ZOO_W_HH0, g * H + r, c)], "%s: weight_hh_l0 entry", what);
    CHECK(permuted[at(s, ZOO_W_IH0, g * H + perm0[r], 1)] == theta[at(s, ZOO_W_IH0, g * H + r, 1)], "%s: weight_ih_l0 entry", what);
    CHECK(permuted[at(s, ZOO_W_IH1, g * H + perm1[r], perm0[c])] == theta[at(s, ZOO_W_IH1, g * H + r, c)], "%s: weight_ih_l1 entry", what);
    CHECK(permuted[at(s, ZOO_W_HH1, 3 * H + perm1[r], perm1[c])] == theta[at(s, ZOO_W_HH1, 3 * H + r, c)], "%s: weight_hh_l1 entry", what);
    CHECK(permuted[at(s, ZOO_B_HH1, H + perm1[r], 0)] == theta[at(s, ZOO_B_HH1, H + r, 0)], "%s: bias_hh_l1 entry", what);
    CHECK(permuted[at(s, ZOO_LINEAR_W, o, perm1[c])] == theta[at(s, ZOO_LINEAR_W, o, c)], "%s: linear.weight entry", what);
    CHECK(permuted[at(s, ZOO_LINEAR_B, o, 0)] == theta[at(s, ZOO_LINEAR_B, o, 0)], "%s: linear.bias moved", what);

    /* The inverse permutations undo it exactly. */
    size_t *inv0 = malloc(H * sizeof *inv0), *inv1 = malloc(H * sizeof *inv1);
    for (size_t j = 0; j < H; j++) inv0[perm0[j]] = j, inv1[perm1[j]] = j;
    zoo_permute(s, permuted, inv0, inv1, back);
    CHECK(memcmp(back, theta, P * sizeof(real)) == 0, "%s: inverse permutation does not restore θ", what);

    /* zoo_permute_rows: each pair drawn as perm0 then perm1; one pair for the batch, or a pair
     * per row in turn; nothing else drawn. */
    real *rows = malloc(2 * P * sizeof *rows), *out = malloc(2 * P * sizeof *out), *want = malloc(P * sizeof *want);
    size_t *q = malloc(2 * H * sizeof *q);
    memcpy(rows, theta, P * sizeof(real));
    memcpy(rows + P, permuted, P * sizeof(real));
    for (int per_row = 0; per_row < 2; per_row++) {
        Rng a, b;
        rng_seed(&a, 7);
        b = a;
        zoo_permute_rows(s, rows, 2, per_row, &a, out);
        for (size_t row = 0; row < 2; row++) {
            if (row == 0 || per_row) {
                rng_permutation(&b, H, q);
                rng_permutation(&b, H, q + H);
            }
            zoo_permute(s, rows + row * P, q, q + H, want);
            CHECK(memcmp(out + row * P, want, P * sizeof(real)) == 0, "%s: zoo_permute_rows per_row %d, row %zu", what, per_row, row);
        }
        CHECK(rng_next(&a) == rng_next(&b), "%s: zoo_permute_rows per_row %d draws its permutations only", what, per_row);
    }
    free(rows);
    free(out);
    free(want);
    free(q);

    /* Same function: mode 1 before and after, and mode 2 with both θ side by side. */
    Tape t;
    tape_init(&t);
    t.record = 0;
    Tensor *x = tensor_new(&t, 3, (size_t[]){B, T, s.I}, 0);                   /* (B, T, I) */
    fill_uniform(x->data, x->size, &rng, -1, 1);
    Tensor *y = zoo_lstm_forward(&t, &m, x);                                   /* (B, T, O) */
    memcpy(m.params.data, permuted, P * sizeof(real));
    Tensor *yp = zoo_lstm_forward(&t, &m, x);
    double d1 = max_abs_diff(y->data, yp->data, y->size);
    CHECK(d1 <= TOL, "%s: mode 1 outputs change by %.3g under permutation", what, d1);
    Tensor *th = tensor_new(&t, 2, (size_t[]){2, P}, 0);                      /* (2, P) */
    memcpy(th->data, theta, P * sizeof(real));
    memcpy(th->data + P, permuted, P * sizeof(real));
    Tensor *x2 = tensor_new(&t, 4, (size_t[]){2, T, 1, s.I}, 0);               /* (2, T, 1, I) */
    memcpy(x2->data, x->data, T * s.I * sizeof(real));
    memcpy(x2->data + T * s.I, x->data, T * s.I * sizeof(real));
    Tensor *y2 = run_batch(&t, s, th, x2);                                     /* (2, T, 1, O) */
    double d2 = max_abs_diff(y2->data, y2->data + T * s.O, T * s.O);
    CHECK(d2 <= TOL, "%s: mode 2 outputs change by %.3g under permutation", what, d2);
    double d3 = max_abs_diff(y2->data, y->data, T * s.O);   /* and both equal mode 1 */
    CHECK(d3 <= TOL, "%s: mode 2 differs from mode 1 by %.3g", what, d3);
    /* A permutation that is not a symmetry does change outputs: swap neurons 0 and 1 of layer 0
     * in the rows of weight_hh_l0 only, leaving every other tensor alone. */
    memcpy(m.params.data, theta, P * sizeof(real));
    for (size_t gate = 0; gate < 4; gate++)
        for (size_t col = 0; col < H; col++) {
            real *a = m.params.data + at(s, ZOO_W_HH0, gate * H + 0, col), *b = m.params.data + at(s, ZOO_W_HH0, gate * H + 1, col);
            real tmp = *a;
            *a = *b;
            *b = tmp;
        }
    Tensor *yb = zoo_lstm_forward(&t, &m, x);
    CHECK(max_abs_diff(y->data, yb->data, y->size) > 1e-4, "%s: a broken permutation leaves outputs unchanged", what);
    tape_free(&t);
    free(perm0), free(perm1), free(id), free(inv0), free(inv1);
    free(theta), free(permuted), free(back);
    zoo_lstm_free(&m);
}

int main(void)
{
    check_layout(ZOO_FORMAL, 13766, "formal");
    check_layout(ZOO_MNIST, 15178, "mnist");
    check_hand_step();
    check_sequence_equals_steps();
    check_modes_agree(ZOO_FORMAL, 1, "formal");
    check_modes_agree(ZOO_FORMAL, 3, "formal");
    check_modes_agree(ZOO_MNIST, 3, "mnist");
    check_permutation(ZOO_FORMAL, "formal");
    check_permutation(ZOO_MNIST, "mnist");
    if (IS_DOUBLE_BUILD) {
        const ZooShape small = {2, 3, 2};
        CHECK(zoo_num_params(small) == 188, "small shape: P = %zu", zoo_num_params(small));
        gradcheck_mode1();
        gradcheck_mode2(small, 1, 0, "mode 2 small, M = 1");
        gradcheck_mode2(small, 3, 0, "mode 2 small, M = 3");
        gradcheck_mode2(ZOO_FORMAL, 3, 400, "mode 2 formal, M = 3");
    } else {
        printf("SKIP finite-difference checks need the double build\n");
    }
    return test_summary("test_zoo_lstm");
}
