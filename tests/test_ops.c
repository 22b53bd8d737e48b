/* test_ops.c — a finite-difference check of every op's gradient with respect to every
 * input, and forward values checked against direct formulas for the trickier ops. */
#include "gradcheck.h"

/* A case computes an op's output from up to three leaves; the loss is sum(out * r) with a
 * fixed random r, so every output element carries a distinct weight. */
typedef Tensor *(*CaseFn)(Tape *t, Tensor **in);

typedef struct Case {
    const char *name;
    CaseFn fn;
    int nin;
    int ndim[3];
    size_t shape[3][RR_MAXDIM];
    double lo, hi; /* input range */
} Case;

static const int32_t labels[] = {0, 3, 2, 1, 3, 0};

static Tensor *c_add(Tape *t, Tensor **x) { return op_add(t, x[0], x[1]); }
static Tensor *c_sub(Tape *t, Tensor **x) { return op_sub(t, x[0], x[1]); }
static Tensor *c_mul(Tape *t, Tensor **x) { return op_mul(t, x[0], x[1]); }
static Tensor *c_scale(Tape *t, Tensor **x) { return op_scale(t, x[0], (real)-1.7); }
static Tensor *c_add_scalar(Tape *t, Tensor **x) { return op_add_scalar(t, x[0], (real)0.3); }
static Tensor *c_mm_nn(Tape *t, Tensor **x) { return op_matmul(t, x[0], x[1], 0, 0); }
static Tensor *c_mm_tn(Tape *t, Tensor **x) { return op_matmul(t, x[0], x[1], 1, 0); }
static Tensor *c_mm_nt(Tape *t, Tensor **x) { return op_matmul(t, x[0], x[1], 0, 1); }
static Tensor *c_mm_tt(Tape *t, Tensor **x) { return op_matmul(t, x[0], x[1], 1, 1); }
static Tensor *c_linear(Tape *t, Tensor **x) { return op_linear(t, x[0], x[1], x[2]); }
static Tensor *c_linear_nobias(Tape *t, Tensor **x) { return op_linear(t, x[0], x[1], NULL); }
static Tensor *c_linear_batched(Tape *t, Tensor **x) { return op_linear_batched(t, x[0], x[1], x[2]); }
static Tensor *c_sigmoid(Tape *t, Tensor **x) { return op_sigmoid(t, x[0]); }
static Tensor *c_tanh(Tape *t, Tensor **x) { return op_tanh(t, x[0]); }
static Tensor *c_relu(Tape *t, Tensor **x) { return op_relu(t, x[0]); }
static Tensor *c_exp(Tape *t, Tensor **x) { return op_exp(t, x[0]); }
static Tensor *c_log(Tape *t, Tensor **x) { return op_log(t, x[0]); }
static Tensor *c_abs(Tape *t, Tensor **x) { return op_abs(t, x[0]); }
static Tensor *c_sum0(Tape *t, Tensor **x) { return op_sum_axis(t, x[0], 0); }
static Tensor *c_sum1(Tape *t, Tensor **x) { return op_sum_axis(t, x[0], 1); }
static Tensor *c_mean2(Tape *t, Tensor **x) { return op_mean_axis(t, x[0], -1); }
static Tensor *c_variance(Tape *t, Tensor **x) { return op_variance(t, x[0]); }
/* Inputs are uniform random, so no two entries tie and each order statistic is one entry.
 * n = 6: positions q 5 = 0, 1.25, 2.5, 3.75, 5 interpolate with w < 0.5, = 0.5 and > 0.5. */
static Tensor *c_quantile(Tape *t, Tensor **x) { return op_quantile(t, x[0], (double[]){0, 0.25, 0.5, 0.75, 1}, 5); }
/* n = 5: positions 0.4, 0.4, 2.4, 4: a repeated level and the maximum. */
static Tensor *c_quantile_repeat(Tape *t, Tensor **x) { return op_quantile(t, x[0], (double[]){0.1, 0.1, 0.6, 1}, 4); }
static Tensor *c_sum_all(Tape *t, Tensor **x) { return op_sum_all(t, x[0]); }
static Tensor *c_mean_all(Tape *t, Tensor **x) { return op_mean_all(t, x[0]); }
static Tensor *c_concat(Tape *t, Tensor **x) { return op_concat(t, x, 3, 1); }
static Tensor *c_slice(Tape *t, Tensor **x) { return op_slice(t, x[0], 1, 1, 2); }
static Tensor *c_permute3(Tape *t, Tensor **x) { return op_permute(t, x[0], (int[]){2, 0, 1}); }
static Tensor *c_permute4(Tape *t, Tensor **x) { return op_permute(t, x[0], (int[]){0, 2, 1, 3}); }
static Tensor *c_gather(Tape *t, Tensor **x) { return op_gather_rows(t, x[0], (size_t[]){2, 0, 2, 3}, 4); }
static Tensor *c_copy(Tape *t, Tensor **x) { return op_copy(t, x[0]); }
static Tensor *c_view(Tape *t, Tensor **x) { return op_tanh(t, tensor_view(t, x[0], 2, (size_t[]){4, 6})); }
static Tensor *c_l2(Tape *t, Tensor **x) { return op_l2_normalize(t, x[0]); }
static Tensor *c_layer_norm(Tape *t, Tensor **x) { return op_layer_norm(t, x[0], x[1], x[2], (real)1e-5); }
static Tensor *c_softmax(Tape *t, Tensor **x) { return op_softmax(t, x[0]); }
static Tensor *c_log_softmax(Tape *t, Tensor **x) { return op_log_softmax(t, x[0]); }
static Tensor *c_dropout(Tape *t, Tensor **x)
{
    static Rng rng;
    rng_seed(&rng, 7); /* the same mask on every evaluation */
    t->training = 1;
    t->rng = &rng;
    Tensor *y = op_dropout(t, x[0], (real)0.4);
    t->training = 0;
    return y;
}
static Tensor *c_attention(Tape *t, Tensor **x) { return op_attention(t, x[0], x[1], 2, 0); }
static Tensor *c_attention_dropout(Tape *t, Tensor **x)
{
    static Rng rng;
    rng_seed(&rng, 7); /* the same mask on every evaluation */
    t->training = 1;
    t->rng = &rng;
    Tensor *y = op_attention(t, x[0], x[1], 2, (real)0.3);
    t->training = 0;
    return y;
}
/* A sub-computation for op_checkpoint: in = {x (3, 4), y (3, 5), x again}, W (5, 4) from ctx:
 * concat(dropout(tanh(x W^T)) * y, x) (3, 9), dropout drawing from the tape's rng. */
typedef struct CheckpointCtx { Tensor *W; } CheckpointCtx;
static Tensor *checkpoint_fn(Tape *t, const void *ctx, Tensor *const *in)
{
    const CheckpointCtx *c = ctx;
    Tensor *h = op_dropout(t, op_tanh(t, op_linear(t, in[0], c->W, NULL)), (real)0.3);
    return op_concat(t, (Tensor *[]){op_mul(t, h, in[1]), in[2]}, 2, 1);
}
static Tensor *c_checkpoint(Tape *t, Tensor **x)
{
    static Rng rng;
    rng_seed(&rng, 7); /* the same mask on every evaluation */
    t->training = 1;
    t->rng = &rng;
    CheckpointCtx ctx = {x[1]};
    Tensor *y = op_checkpoint(t, checkpoint_fn, &ctx, sizeof ctx, (Tensor *[]){x[0], x[2], x[0]}, 3);
    t->training = 0;
    return y;
}
static Tensor *c_lstm(Tape *t, Tensor **x)
{
    Tensor *h, *c;
    op_lstm_cell(t, x[0], x[1], &h, &c);
    return op_concat(t, (Tensor *[]){h, c}, 2, 1);
}
static Tensor *c_lstm_seq(Tape *t, Tensor **x) { return op_lstm_sequence(t, x[0], x[1], x[2]); }
/* The sequence op against the same recurrence built from lstm_cell steps. */
static Tensor *c_lstm_steps(Tape *t, Tensor **x)
{
    size_t B = x[0]->shape[0], T = x[0]->shape[1], G = x[0]->shape[2], H = G / 4;
    Tensor *h = tensor_new(t, 2, (size_t[]){B, H}, 0), *c = tensor_new(t, 2, (size_t[]){B, H}, 0), *hs[8];
    for (size_t s = 0; s < T; s++) {
        Tensor *xs = tensor_view(t, op_slice(t, x[0], 1, s, 1), 2, (size_t[]){B, G});
        op_lstm_cell(t, op_add(t, xs, op_linear(t, h, x[1], x[2])), c, &h, &c);
        hs[s] = tensor_view(t, h, 3, (size_t[]){B, 1, H});
    }
    return op_concat(t, hs, T, 1);
}
static Tensor *c_ce(Tape *t, Tensor **x) { return op_cross_entropy(t, x[0], labels); }
static Tensor *c_bce(Tape *t, Tensor **x) { return op_bce_logits(t, x[0], x[1]); }
static Tensor *c_mse(Tape *t, Tensor **x) { return op_mse(t, x[0], x[1]); }
static Tensor *c_tv(Tape *t, Tensor **x) { return op_total_variation(t, x[0], x[1]); }
static Tensor *c_kl(Tape *t, Tensor **x) { return op_kl_div(t, op_log_softmax(t, x[0]), op_log_softmax(t, x[1])); }

#define S1(a) 1, {a}
#define S(...) {__VA_ARGS__}
static const Case cases[] = {
    {"add", c_add, 2, {3, 3}, {S(2, 3, 4), S(2, 3, 4)}, -1, 1},
    {"add suffix", c_add, 2, {3, 1}, {S(2, 3, 4), S(4)}, -1, 1},
    {"add middle", c_add, 2, {3, 3}, {S(2, 3, 4), S(2, 1, 4)}, -1, 1},
    {"sub last", c_sub, 2, {3, 3}, {S(2, 3, 4), S(2, 3, 1)}, -1, 1},
    {"mul", c_mul, 2, {3, 3}, {S(2, 3, 4), S(2, 3, 4)}, -1, 1},
    {"mul middle", c_mul, 2, {3, 2}, {S(2, 3, 4), S(1, 4)}, -1, 1},
    {"add rows", c_add, 2, {4, 4}, {S(2, 3, 4, 5), S(2, 3, 1, 5)}, -1, 1},
    {"add columns", c_add, 2, {4, 4}, {S(2, 3, 4, 5), S(2, 3, 4, 1)}, -1, 1},
    {"sub columns, long rows", c_sub, 2, {4, 4}, {S(2, 2, 3, 19), S(2, 2, 3, 1)}, -1, 1},
    {"mul columns, long rows", c_mul, 2, {4, 3}, {S(2, 2, 3, 19), S(2, 3, 1)}, -1, 1},
    {"mul embedding", c_mul, 2, {4, 4}, {S(2, 3, 4, 5), S(1, 3, 1, 5)}, -1, 1},
    {"add scalar-like", c_add, 2, {3, 1}, {S(2, 3, 4), S(1)}, -1, 1},
    {"scale", c_scale, 1, {2}, {S(3, 5)}, -1, 1},
    {"add_scalar", c_add_scalar, 1, {2}, {S(3, 5)}, -1, 1},
    {"matmul nn", c_mm_nn, 2, {2, 2}, {S(3, 4), S(4, 5)}, -1, 1},
    {"matmul tn", c_mm_tn, 2, {2, 2}, {S(4, 3), S(4, 5)}, -1, 1},
    {"matmul nt", c_mm_nt, 2, {2, 2}, {S(3, 4), S(5, 4)}, -1, 1},
    {"matmul tt", c_mm_tt, 2, {2, 2}, {S(4, 3), S(5, 4)}, -1, 1},
    {"matmul batched", c_mm_nn, 2, {3, 3}, {S(2, 3, 4), S(2, 4, 5)}, -1, 1},
    {"matmul batched nt", c_mm_nt, 2, {3, 3}, {S(2, 3, 4), S(2, 5, 4)}, -1, 1},
    {"matmul shared", c_mm_nn, 2, {3, 2}, {S(2, 3, 4), S(4, 5)}, -1, 1},
    {"matmul shared tt", c_mm_tt, 2, {3, 2}, {S(2, 4, 3), S(5, 4)}, -1, 1},
    {"matmul shared left", c_mm_nn, 2, {2, 3}, {S(3, 4), S(2, 4, 5)}, -1, 1},
    {"matmul shared left tn", c_mm_tn, 2, {2, 4}, {S(4, 3), S(2, 2, 4, 5)}, -1, 1},
    {"matmul shared left nt", c_mm_nt, 2, {2, 3}, {S(3, 4), S(3, 5, 4)}, -1, 1},
    {"matmul shared left tt", c_mm_tt, 2, {2, 3}, {S(4, 3), S(2, 5, 4)}, -1, 1},
    {"linear", c_linear, 3, {3, 2, 1}, {S(2, 3, 4), S(5, 4), S(5)}, -1, 1},
    {"linear no bias", c_linear_nobias, 2, {2, 2}, {S(3, 4), S(5, 4)}, -1, 1},
    {"linear_batched", c_linear_batched, 3, {3, 3, 2}, {S(3, 2, 4), S(3, 5, 4), S(3, 5)}, -1, 1},
    {"sigmoid", c_sigmoid, 1, {2}, {S(3, 4)}, -3, 3},
    {"tanh", c_tanh, 1, {2}, {S(3, 4)}, -2, 2},
    {"relu", c_relu, 1, {2}, {S(3, 4)}, -1, 1},
    {"exp", c_exp, 1, {2}, {S(3, 4)}, -2, 2},
    {"log", c_log, 1, {2}, {S(3, 4)}, 0.2, 3},
    {"abs", c_abs, 1, {2}, {S(3, 4)}, -1, 1},
    {"sum_axis 0", c_sum0, 1, {3}, {S(2, 3, 4)}, -1, 1},
    {"sum_axis 1", c_sum1, 1, {3}, {S(2, 3, 4)}, -1, 1},
    {"mean_axis -1", c_mean2, 1, {3}, {S(2, 3, 4)}, -1, 1},
    {"variance", c_variance, 1, {3}, {S(2, 3, 5)}, -1, 1},
    {"quantile", c_quantile, 1, {2}, {S(3, 6)}, -1, 1},
    {"quantile repeated levels", c_quantile_repeat, 1, {3}, {S(2, 3, 5)}, -1, 1},
    {"sum_all", c_sum_all, 1, {3}, {S(2, 3, 4)}, -1, 1},
    {"mean_all", c_mean_all, 1, {3}, {S(2, 3, 4)}, -1, 1},
    {"concat", c_concat, 3, {3, 3, 3}, {S(2, 1, 3), S(2, 2, 3), S(2, 4, 3)}, -1, 1},
    {"slice", c_slice, 1, {3}, {S(2, 4, 3)}, -1, 1},
    {"permute 3-d", c_permute3, 1, {3}, {S(2, 3, 4)}, -1, 1},
    {"permute 4-d", c_permute4, 1, {4}, {S(2, 3, 4, 5)}, -1, 1},
    {"gather_rows", c_gather, 1, {2}, {S(4, 3)}, -1, 1},
    {"copy", c_copy, 1, {2}, {S(4, 3)}, -1, 1},
    {"view", c_view, 1, {3}, {S(2, 3, 4)}, -1, 1},
    {"l2_normalize", c_l2, 1, {2}, {S(3, 5)}, -1, 1},
    {"layer_norm", c_layer_norm, 3, {2, 1, 1}, {S(3, 6), S(6), S(6)}, -1, 1},
    {"softmax", c_softmax, 1, {2}, {S(3, 5)}, -2, 2},
    {"log_softmax", c_log_softmax, 1, {2}, {S(3, 5)}, -2, 2},
    {"dropout", c_dropout, 1, {2}, {S(4, 5)}, -1, 1},
    {"attention", c_attention, 2, {3, 3}, {S(2, 3, 4), S(2, 5, 8)}, -1, 1},
    {"attention with dropout", c_attention_dropout, 2, {3, 3}, {S(2, 3, 4), S(2, 5, 8)}, -1, 1},
    {"checkpoint", c_checkpoint, 3, {2, 2, 2}, {S(3, 4), S(5, 4), S(3, 5)}, -1, 1},
    {"lstm_cell", c_lstm, 2, {2, 2}, {S(3, 12), S(3, 3)}, -2, 2},
    {"lstm_sequence", c_lstm_seq, 3, {3, 2, 1}, {S(2, 4, 12), S(12, 3), S(12)}, -1, 1},
    {"lstm_sequence as cells", c_lstm_steps, 3, {3, 2, 1}, {S(2, 4, 12), S(12, 3), S(12)}, -1, 1},
    {"cross_entropy", c_ce, 1, {3}, {S(2, 3, 4)}, -2, 2},
    {"bce_logits", c_bce, 2, {2, 2}, {S(3, 4), S(3, 4)}, -2, 2},
    {"mse", c_mse, 2, {2, 2}, {S(3, 4), S(3, 4)}, -1, 1},
    {"total_variation", c_tv, 2, {2, 2}, {S(3, 4), S(3, 4)}, 0, 1},
    {"kl_div", c_kl, 2, {2, 2}, {S(3, 4), S(3, 4)}, -2, 2},
};

typedef struct Ctx {
    const Case *c;
    Tensor *in[3];
    real *r; /* projection weights */
    size_t rn;
} Ctx;

static Tensor *build(Tape *t, void *p)
{
    Ctx *ctx = p;
    Tensor *out = ctx->c->fn(t, ctx->in);
    if (ctx->rn != out->size) {
        Rng rng;
        rng_seed(&rng, 99);
        free(ctx->r);
        ctx->r = malloc(out->size * sizeof(real));
        ctx->rn = out->size;
        for (size_t i = 0; i < out->size; i++) ctx->r[i] = (real)(rng_uniform(&rng) * 2 - 1);
    }
    Tensor *r = tensor_new(t, out->ndim, out->shape, 0);
    memcpy(r->data, ctx->r, out->size * sizeof(real));
    return op_sum_all(t, op_mul(t, out, r));
}

static void check_all_gradients(void)
{
    Rng rng;
    rng_seed(&rng, 2024);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const Case *c = &cases[k];
        Tensor leaves[3];
        Ctx ctx = {c, {NULL, NULL, NULL}, NULL, 0};
        for (int i = 0; i < c->nin; i++) {
            leaves[i] = leaf_new(&rng, c->ndim[i], c->shape[i], c->lo, c->hi);
            ctx.in[i] = &leaves[i];
        }
        for (int i = 0; i < c->nin; i++) {
            char what[96];
            snprintf(what, sizeof what, "%s / input %d", c->name, i);
            double err = gradcheck(what, build, &ctx, &leaves[i], 0, 1e-5);
            printf("  %-28s max rel err %.2e\n", what, err);
        }
        for (int i = 0; i < c->nin; i++) leaf_free(&leaves[i]);
        free(ctx.r);
    }
}

/* ---- Broadcasting against the simplest correct loop, on awkward shapes ---------------- */

/* The element of b that meets element i of a: i unravelled over a's shape, raveled over b's
 * (right-aligned), index 0 along b's size-1 dims. */
static size_t naive_b_index(const Tensor *a, const Tensor *b, size_t i)
{
    size_t j = 0, stride = 1;
    for (int d = a->ndim - 1, e = b->ndim - 1; e >= 0; d--, e--) {
        size_t k = i % a->shape[d];
        i /= a->shape[d];
        if (b->shape[e] != 1) j += k * stride;
        stride *= b->shape[e];
    }
    return j;
}

static Tensor *binary_op(Tape *t, OpKind op, Tensor *a, Tensor *b)
{
    return op == OP_ADD ? op_add(t, a, b) : op == OP_SUB ? op_sub(t, a, b) : op_mul(t, a, b);
}

/* z = a op b with loss sum(z * r): z, da and db (both starting from nonzero gradients)
 * against the naive loops. z and da are the same operations on the same operands, so they
 * must agree exactly; db sums in double in another order, so it agrees to rounding. */
static void check_broadcast_case(Rng *rng, OpKind op, int nda, const size_t *sa, int ndb, const size_t *sb)
{
    Tape t;
    tape_init(&t);
    Tensor a = leaf_new(rng, nda, sa, -1, 1), b = leaf_new(rng, ndb, sb, -1, 1);
    fill_uniform(a.grad, a.size, rng, -1, 1);
    fill_uniform(b.grad, b.size, rng, -1, 1);
    real *da = malloc(a.size * sizeof *da), *z = malloc(a.size * sizeof *z);
    double *acc = calloc(b.size, sizeof *acc), *bound = calloc(b.size, sizeof *bound);
    Tensor *out = binary_op(&t, op, &a, &b);
    Tensor *r = tensor_new(&t, nda, sa, 0);
    fill_uniform(r->data, r->size, rng, -1, 1);
    const real *g = r->data, *x = a.data, *y = b.data;
    for (size_t i = 0; i < a.size; i++) {
        size_t j = naive_b_index(&a, &b, i);
        z[i] = op == OP_ADD ? x[i] + y[j] : op == OP_SUB ? x[i] - y[j] : x[i] * y[j];
        da[i] = a.grad[i] + (op == OP_MUL ? g[i] * y[j] : g[i]);
        double term = (op == OP_SUB ? -1.0 : 1.0) * (double)g[i] * (op == OP_MUL ? (double)x[i] : 1.0);
        acc[j] += term;
        bound[j] += fabs(term);
    }
    size_t bad_z = 0, bad_da = 0, bad_db = 0;
    for (size_t i = 0; i < a.size; i++) bad_z += out->data[i] != z[i];
    real *db0 = malloc(b.size * sizeof *db0);
    memcpy(db0, b.grad, b.size * sizeof *db0);
    tape_backward(&t, op_sum_all(&t, op_mul(&t, out, r)));
    for (size_t i = 0; i < a.size; i++) bad_da += a.grad[i] != da[i];
    double eps = IS_DOUBLE_BUILD ? 1e-13 : 1e-6;
    for (size_t j = 0; j < b.size; j++) {
        double want = (double)db0[j] + acc[j];
        bad_db += fabs(b.grad[j] - want) > eps * (bound[j] + fabs(db0[j]));
    }
    char sa_str[64], sb_str[64];
    tensor_shape_str(&a, sa_str, sizeof sa_str);
    tensor_shape_str(&b, sb_str, sizeof sb_str);
    CHECK(bad_z == 0, "%s %s with %s: %zu of %zu outputs differ from the naive loop", op_names[op], sa_str, sb_str, bad_z, a.size);
    CHECK(bad_da == 0, "%s %s with %s: %zu of %zu da differ from the naive loop", op_names[op], sa_str, sb_str, bad_da, a.size);
    CHECK(bad_db == 0, "%s %s with %s: %zu of %zu db differ from the naive loop", op_names[op], sa_str, sb_str, bad_db, b.size);
    free(da); free(z); free(acc); free(bound); free(db0);
    leaf_free(&a);
    leaf_free(&b);
    tape_free(&t);
}

static void check_broadcast_naive(void)
{
    static const struct { int nda; size_t a[RR_MAXDIM]; int ndb; size_t b[RR_MAXDIM]; } shapes[] = {
        {3, {2, 3, 4}, 3, {2, 3, 4}},      /* like a */
        {3, {1, 3, 4}, 2, {3, 4}},         /* the same size, fewer dims */
        {3, {2, 3, 4}, 2, {3, 4}},         /* a trailing matrix */
        {2, {5, 7}, 1, {7}},               /* a trailing vector */
        {4, {3, 4, 5, 6}, 4, {3, 4, 1, 6}}, /* rows: (B, C, 1, K) */
        {4, {3, 4, 5, 6}, 4, {3, 4, 5, 1}}, /* columns: (B, C, N, 1) */
        {4, {3, 4, 5, 6}, 4, {1, 4, 1, 6}}, /* DWS in_embed */
        {4, {2, 3, 5, 7}, 4, {1, 3, 5, 1}}, /* DWS out_embed */
        {4, {2, 3, 4, 5}, 4, {2, 1, 4, 1}}, /* alternating */
        {4, {2, 3, 4, 5}, 3, {3, 1, 1}},
        {4, {2, 3, 4, 5}, 4, {1, 3, 1, 1}},
        {3, {2, 1, 3}, 2, {1, 3}},         /* size-1 dims in a */
        {4, {1, 4, 1, 9}, 3, {4, 1, 1}},
        {3, {4, 1, 5}, 3, {4, 1, 1}},
        {2, {3, 37}, 2, {3, 1}},           /* row sums of 37 = 4 x 8 lanes + 5 */
        {3, {2, 13, 19}, 2, {13, 1}},      /* each row sum lands on b twice */
        {4, {2, 1, 64, 33}, 4, {1, 1, 64, 1}},
        {2, {3, 5}, 1, {1}},               /* one element of b */
        {1, {1}, 1, {1}},
    };
    Rng rng;
    rng_seed(&rng, 77);
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        for (int op = OP_ADD; op <= OP_MUL; op++)
            check_broadcast_case(&rng, (OpKind)op, shapes[k].nda, shapes[k].a, shapes[k].ndb, shapes[k].b);
}

/* ---- The shared left operand of op_matmul against the naive triple loops ---------------- */

/* W (M, K) (stored (K, M) when ta) times X (.., K, N) (stored (.., N, K) when tb), batch S. */
static void check_matmul_shared_left(Rng *rng, size_t M, size_t K, size_t N, int ta, int tb)
{
    size_t S0 = 2, S1 = 3, S = S0 * S1;
    Tape t;
    tape_init(&t);
    Tensor W = leaf_new(rng, 2, ta ? (size_t[]){K, M} : (size_t[]){M, K}, -1, 1);
    Tensor X = leaf_new(rng, 4, tb ? (size_t[]){S0, S1, N, K} : (size_t[]){S0, S1, K, N}, -1, 1);
    Tensor *Y = op_matmul(&t, &W, &X, ta, tb);
    CHECK(Y->ndim == 4 && Y->shape[0] == S0 && Y->shape[1] == S1 && Y->shape[2] == M && Y->shape[3] == N,
          "matmul shared left: result (2, 3, M, N)");
    Tensor *r = tensor_new(&t, 4, Y->shape, 0);
    fill_uniform(r->data, r->size, rng, -1, 1);
    tape_backward(&t, op_sum_all(&t, op_mul(&t, Y, r)));
    const real *g = r->data;
#define W_AT(i, k) (ta ? W.data[(k) * M + (i)] : W.data[(i) * K + (k)])
#define X_AT(s, k, j) (tb ? X.data[((s) * N + (j)) * K + (k)] : X.data[((s) * K + (k)) * N + (j)])
    double worst_y = 0, worst_dw = 0, worst_dx = 0;
    for (size_t s = 0; s < S; s++) /* y[s] = W X[s] */
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++) {
                double y = 0, bound = 0;
                for (size_t k = 0; k < K; k++) {
                    y += (double)W_AT(i, k) * X_AT(s, k, j);
                    bound += fabs((double)W_AT(i, k) * X_AT(s, k, j));
                }
                double d = fabs(Y->data[(s * M + i) * N + j] - y) / (bound + 1e-30);
                worst_y = d > worst_y ? d : worst_y;
            }
    for (size_t i = 0; i < M; i++) /* dW[i, k] = sum_s sum_j g[s, i, j] X[s, k, j] */
        for (size_t k = 0; k < K; k++) {
            double dw = 0, bound = 0;
            for (size_t s = 0; s < S; s++)
                for (size_t j = 0; j < N; j++) {
                    dw += (double)g[(s * M + i) * N + j] * X_AT(s, k, j);
                    bound += fabs((double)g[(s * M + i) * N + j] * X_AT(s, k, j));
                }
            double d = fabs((ta ? W.grad[k * M + i] : W.grad[i * K + k]) - dw) / (bound + 1e-30);
            worst_dw = d > worst_dw ? d : worst_dw;
        }
    for (size_t s = 0; s < S; s++) /* dX[s, k, j] = sum_i W[i, k] g[s, i, j] */
        for (size_t k = 0; k < K; k++)
            for (size_t j = 0; j < N; j++) {
                double dx = 0, bound = 0;
                for (size_t i = 0; i < M; i++) {
                    dx += (double)W_AT(i, k) * g[(s * M + i) * N + j];
                    bound += fabs((double)W_AT(i, k) * g[(s * M + i) * N + j]);
                }
                real got = tb ? X.grad[(s * N + j) * K + k] : X.grad[(s * K + k) * N + j];
                double d = fabs(got - dx) / (bound + 1e-30);
                worst_dx = d > worst_dx ? d : worst_dx;
            }
#undef W_AT
#undef X_AT
    double eps = IS_DOUBLE_BUILD ? 1e-14 : 2e-6; /* relative to the sum of |terms| */
    printf("  matmul shared left %3zux%3zux%3zu ta=%d tb=%d: rel err y %.1e, dW %.1e, dX %.1e\n", M, K, N, ta, tb, worst_y, worst_dw, worst_dx);
    CHECK(worst_y <= eps && worst_dw <= eps && worst_dx <= eps,
          "matmul shared left %zux%zux%zu ta=%d tb=%d against the naive loops: y %.2g, dW %.2g, dX %.2g", M, K, N, ta, tb,
          worst_y, worst_dw, worst_dx);
    leaf_free(&W);
    leaf_free(&X);
    tape_free(&t);
}

/* Forward values against direct formulas. */
static void check_forward_values(void)
{
    Tape t;
    tape_init(&t);
    Tensor *z = tensor_new(&t, 2, (size_t[]){1, 3}, 0);
    z->data[0] = 1; z->data[1] = 2; z->data[2] = 3;
    Tensor *p = op_softmax(&t, z), *lp = op_log_softmax(&t, z);
    double s = exp(1.0) + exp(2.0) + exp(3.0);
    for (int k = 0; k < 3; k++) {
        CHECK_NEAR(p->data[k], exp(k + 1.0) / s, 1e-6, "softmax");
        CHECK_NEAR(lp->data[k], (k + 1.0) - log(s), 1e-6, "log_softmax");
    }
    int32_t y = 2;
    CHECK_NEAR(op_cross_entropy(&t, z, &y)->data[0], log(s) - 3.0, 1e-6, "cross_entropy");
    Tensor *q = tensor_new(&t, 2, (size_t[]){1, 3}, 0);
    q->data[0] = (real)0.5; q->data[1] = (real)0.5; q->data[2] = 0;
    Tensor *pp = tensor_new(&t, 2, (size_t[]){1, 3}, 0);
    pp->data[0] = (real)0.2; pp->data[1] = (real)0.3; pp->data[2] = (real)0.5;
    CHECK_NEAR(op_total_variation(&t, pp, q)->data[0], 0.5, 1e-6, "total_variation");
    Tensor *x = tensor_new(&t, 2, (size_t[]){1, 4}, 0);
    for (int k = 0; k < 4; k++) x->data[k] = (real)(k + 1);
    Tensor *ln = op_layer_norm(&t, x, NULL, NULL, 0);
    CHECK_NEAR(ln->data[0], -1.5 / sqrt(1.25), 1e-6, "layer_norm");
    Tensor *n = op_l2_normalize(&t, x);
    CHECK_NEAR(n->data[3], 4 / sqrt(30.0), 1e-6, "l2_normalize");
    tape_free(&t);
}

/* Variance and quantiles of a row worked out by hand, and where the quantiles' gradient goes. */
static void check_statistics(void)
{
    static const real row[8] = {5, -2, 0, 7, 1, 1, -3, 2}; /* sorted: -3 -2 0 1 1 2 5 7 */
    static const double levels[5] = {0, 0.25, 0.5, 0.75, 1};
    Tape t;
    tape_init(&t);
    Tensor *x = tensor_new(&t, 2, (size_t[]){1, 8}, 1);
    memcpy(x->data, row, sizeof row);
    /* mean 11/8; Σ (x - mean)^2 = 93 - 8 (11/8)^2 = 77.875, / 7 = 11.125 */
    CHECK_NEAR(op_variance(&t, x)->data[0], 11.125, 1e-6, "variance");
    /* positions q 7 = 0, 1.75, 3.5, 5.25, 7: -3, -2 + .75 (0 - -2), 1, 2 + .25 (5 - 2), 7 */
    Tensor *y = op_quantile(&t, x, levels, 5);
    static const double want[5] = {-3, -0.5, 1, 2.75, 7};
    for (int j = 0; j < 5; j++) CHECK_NEAR(y->data[j], want[j], 1e-6, "quantile");
    /* d y_1 = 0.25 to s[1] = -2 (entry 1) and 0.75 to s[2] = 0 (entry 2); d y_2: s[3] and s[4]
     * are the tied 1s, and the first of them (entry 4) takes all of it. */
    Tensor *r = tensor_new(&t, 2, (size_t[]){1, 5}, 0);
    r->data[1] = 1;
    r->data[2] = 10;
    tape_backward(&t, op_sum_all(&t, op_mul(&t, y, r)));
    static const double want_grad[8] = {0, 0.25, 0.75, 0, 10, 0, 0, 0};
    for (int i = 0; i < 8; i++) CHECK_NEAR(x->grad[i], want_grad[i], 1e-6, "quantile gradient");
    /* A row with a NaN gives NaN at every level, as torch.quantile. */
    x->data[3] = (real)NAN;
    y = op_quantile(&t, x, levels, 5);
    int all_nan = 1;
    for (int j = 0; j < 5; j++) all_nan &= y->data[j] != y->data[j];
    CHECK(all_nan, "quantile of a row with a NaN is NaN");
    tape_free(&t);
}

/* relu keeps NaN, as torch.relu does: a NaN input must not turn into a finite output. */
static void check_relu_nan(void)
{
    Tape t;
    tape_init(&t);
    Tensor *x = tensor_new(&t, 1, (size_t[]){4}, 0);
    x->data[0] = (real)NAN, x->data[1] = -1, x->data[2] = 0, x->data[3] = 2;
    Tensor *y = op_relu(&t, x);
    CHECK(y->data[0] != y->data[0] && y->data[1] == 0 && y->data[2] == 0 && y->data[3] == 2, "relu(NaN, -1, 0, 2) = (NaN, 0, 0, 2)");
    tape_free(&t);
}

/* ---- Fused attention against the composition it replaces ------------------------------- */

/* out = concat_h(dropout(softmax(q_h k_h^T)) v_h) as single ops, k and v the halves of kv. */
static Tensor *attention_composed(Tape *t, Tensor *q, Tensor *kv, size_t heads, real p)
{
    size_t D = q->shape[2], dh = D / heads;
    Tensor *head[8];
    for (size_t h = 0; h < heads; h++) {
        Tensor *s = op_matmul(t, op_slice(t, q, 2, h * dh, dh), op_slice(t, kv, 2, h * dh, dh), 0, 1);
        head[h] = op_matmul(t, op_dropout(t, op_softmax(t, s), p), op_slice(t, kv, 2, D + h * dh, dh), 0, 0);
    }
    return op_concat(t, head, heads, 2);
}

/* The same bits, forward and gradients, as the composition (with the same dropout draws),
 * on T > 256 keys (more than one slice of the kernel's k); the backward's flops one forward
 * product more (it recomputes q k^T). */
static void check_attention_composed(size_t B, size_t Tq, size_t T, size_t D, size_t heads, real p)
{
    Rng rng, drop[2];
    rng_seed(&rng, 31);
    Tensor in[2][2];
    const size_t shapes[2][3] = {{B, Tq, D}, {B, T, 2 * D}};
    for (int i = 0; i < 2; i++) {
        in[0][i] = leaf_new(&rng, 3, shapes[i], -1, 1);
        in[1][i] = leaf_copy(&in[0][i]);
    }
    Tensor *r = NULL, *out[2];
    Tape t[2];
    for (int w = 0; w < 2; w++) {
        tape_init(&t[w]);
        rng_seed(&drop[w], 5);
        t[w].training = 1;
        t[w].rng = &drop[w];
        out[w] = w ? attention_composed(&t[w], &in[w][0], &in[w][1], heads, p) : op_attention(&t[w], &in[w][0], &in[w][1], heads, p);
        if (!r) {
            r = tensor_new(&t[0], 3, out[0]->shape, 0);
            fill_uniform(r->data, r->size, &rng, -1, 1);
        }
        tape_backward(&t[w], op_sum_all(&t[w], op_mul(&t[w], out[w], r)));
    }
    char what[96];
    snprintf(what, sizeof what, "attention (%zu, %zu, %zu, %zu), %zu heads, p %.2f", B, Tq, T, D, heads, (double)p);
    CHECK(!memcmp(out[0]->data, out[1]->data, out[0]->size * sizeof(real)), "%s: the output differs from the composition's", what);
    for (int i = 0; i < 2; i++)
        CHECK(!memcmp(in[0][i].grad, in[1][i].grad, in[0][i].size * sizeof(real)),
              "%s: the gradient of input %d differs from the composition's", what, i);
    CHECK(!memcmp(drop[0].s, drop[1].s, sizeof drop[0].s), "%s: the dropout draws differ", what);
    double fw[2], bw[2];
    for (int w = 0; w < 2; w++) tape_flops(&t[w], &fw[w], &bw[w]);
    CHECK(fw[0] == fw[1] && bw[0] == bw[1] + fw[1] / 2, "%s: flops %.0f + %.0f, the composition's %.0f + %.0f", what,
          fw[0], bw[0], fw[1], bw[1]);
    for (int w = 0; w < 2; w++) {
        tape_free(&t[w]);
        for (int i = 0; i < 2; i++) leaf_free(&in[w][i]);
    }
}

/* op_checkpoint against calling its function on the tape: the same bits, forward and
 * backward (every input and the parameter fn reads), the same dropout draws, the stream left
 * in the same state; and fn's flops counted, with one forward more in the backward. */
static void check_checkpoint_direct(void)
{
    Rng rng, drop[2];
    rng_seed(&rng, 41);
    Tensor in[2][3];
    const size_t shapes[3][2] = {{3, 4}, {5, 4}, {3, 5}};
    for (int i = 0; i < 3; i++) {
        in[0][i] = leaf_new(&rng, 2, shapes[i], -1, 1);
        in[1][i] = leaf_copy(&in[0][i]);
    }
    Tensor *out[2], *r = NULL;
    Tape t[2];
    double fw[2], bw[2];
    for (int w = 0; w < 2; w++) {
        tape_init(&t[w]);
        rng_seed(&drop[w], 9);
        t[w].training = 1;
        t[w].rng = &drop[w];
        CheckpointCtx ctx = {&in[w][1]};
        Tensor *args[] = {&in[w][0], &in[w][2], &in[w][0]};
        out[w] = w ? checkpoint_fn(&t[w], &ctx, args) : op_checkpoint(&t[w], checkpoint_fn, &ctx, sizeof ctx, args, 3);
        if (!r) {
            r = tensor_new(&t[0], 2, out[0]->shape, 0);
            fill_uniform(r->data, r->size, &rng, -1, 1);
        }
        tape_backward(&t[w], op_sum_all(&t[w], op_mul(&t[w], out[w], r)));
        tape_flops(&t[w], &fw[w], &bw[w]);
    }
    CHECK(!memcmp(out[0]->data, out[1]->data, out[0]->size * sizeof(real)), "checkpoint: the output differs from fn's");
    for (int i = 0; i < 3; i++)
        CHECK(!memcmp(in[0][i].grad, in[1][i].grad, in[0][i].size * sizeof(real)), "checkpoint: the gradient of input %d differs", i);
    CHECK(!memcmp(drop[0].s, drop[1].s, sizeof drop[0].s), "checkpoint: the dropout stream is left in another state");
    CHECK(fw[0] == fw[1] && fw[0] > 0 && bw[0] == bw[1] + fw[1], "checkpoint: flops %.0f + %.0f against fn's %.0f + %.0f",
          fw[0], bw[0], fw[1], bw[1]);
    for (int w = 0; w < 2; w++) {
        tape_free(&t[w]);
        for (int i = 0; i < 3; i++) leaf_free(&in[w][i]);
    }
}

int main(void)
{
    check_relu_nan();
    if (IS_DOUBLE_BUILD) check_all_gradients();
    else printf("SKIP finite-difference checks need the double build\n");
    check_forward_values();
    check_statistics();
    check_broadcast_naive();
    check_attention_composed(3, 5, 300, 12, 3, 0);
    check_attention_composed(2, 7, 260, 8, 2, (real)0.25);
    check_attention_composed(2, 1, 9, 4, 1, 0);
    check_checkpoint_direct();
    Rng rng;
    rng_seed(&rng, 78);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check_matmul_shared_left(&rng, 7, 13, 37, ta, tb);
            check_matmul_shared_left(&rng, 48, 48, 300, ta, tb); /* dW sums over more than a block of k */
        }
    return test_summary("test_ops");
}
