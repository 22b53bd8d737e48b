/*
 * rnnrep.h — public API and manual of rnnrep, a C99 reference implementation of
 * "Learning Useful Representations of Recurrent Neural Network Weight Matrices"
 * (Herrmann, Faccio, Schmidhuber, ICML 2024).
 *
 * Shape letters used in every shape comment:
 *   B batch, T time, H hidden (32 in the zoo RNNs), I input size, O output size,
 *   G = 4H gate rows, E embedding size (16), D model width, C channels,
 *   M parallel probing streams, L probing length, P parameters of one zoo RNN.
 *
 * Layout rules: tensors are dense, row-major (C order). Linear weights are (out, in),
 * exactly as PyTorch stores them: y = W x + b. LSTM gates are in PyTorch order i, f, g, o.
 *
 * Ownership: a Tape owns an arena; every tensor an op returns lives in that arena and dies
 * with tape_reset / tape_free. Parameters live in a ParamSet (one flat buffer each for
 * values, gradients and the two AdamW moments) and outlive tapes. Data read from files is
 * owned by the struct it was read into and released by that struct's _free function.
 *
 * Example (compiled and run as tests/test_example.c):
 *
 *     Rng rng; rng_seed(&rng, 1);
 *     ParamSet ps; paramset_init(&ps, "mlp");
 *     Tensor *W = paramset_add(&ps, "weight", 2, (size_t[]){3, 4});
 *     Tensor *b = paramset_add(&ps, "bias", 1, (size_t[]){3});
 *     paramset_finalize(&ps);
 *     init_uniform(W, &rng, 0.5); init_uniform(b, &rng, 0.5);
 *     Tape tape; tape_init(&tape);
 *     Tensor *x = tensor_new(&tape, 2, (size_t[]){5, 4}, 0);     // (B, 4), no gradient
 *     init_normal(x, &rng, 1.0);
 *     Tensor *y = op_relu(&tape, op_linear(&tape, x, W, b));      // (B, 3)
 *     Tensor *loss = op_mean_all(&tape, op_mul(&tape, y, y));
 *     paramset_zero_grad(&ps);
 *     tape_backward(&tape, loss);                                 // fills W->grad, b->grad
 *     AdamW opt = adamw_default(); opt.lr = 1e-3;
 *     adamw_step(&ps, &opt);
 *     tape_free(&tape); paramset_free(&ps);
 */
#ifndef RNNREP_H
#define RNNREP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One scalar type for all tensors. The gradient checks build the library in double. */
#ifdef RNNREP_DOUBLE
typedef double real;
#else
typedef float real;
#endif

#define RR_VERSION "0.1.0"
#define RR_ERRLEN 512 /* size of every error-message buffer */

/* Print "rnnrep: <message>" to stderr and exit with status 1. */
void rr_fatal(const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 1, 2), noreturn))
#endif
    ;
/* malloc / calloc that stop the program with a message naming `what` when out of memory. */
void *rr_malloc(size_t bytes, const char *what);
void *rr_calloc(size_t count, size_t size, const char *what);

/* ------------------------------------------------------------------------------------------
 * Random numbers: xoshiro256** with splitmix64 seeding. All state is explicit; no globals.
 * ---------------------------------------------------------------------------------------- */
typedef struct Rng { uint64_t s[4]; } Rng;

void rng_seed(Rng *rng, uint64_t seed);
uint64_t rng_next(Rng *rng);                   /* 64 uniform bits */
Rng rng_split(Rng *rng);                        /* an independent stream derived from rng */
double rng_uniform(Rng *rng);                   /* [0, 1), 53 bits */
double rng_normal(Rng *rng);                    /* N(0, 1), Box–Muller */
uint64_t rng_below(Rng *rng, uint64_t n);       /* uniform in {0..n-1}, unbiased; n > 0 */
int64_t rng_range(Rng *rng, int64_t lo, int64_t hi); /* uniform in {lo..hi}, inclusive */
void rng_permutation(Rng *rng, size_t n, size_t *perm); /* uniform permutation of 0..n-1 */
size_t rng_categorical(Rng *rng, const double *p, size_t n); /* index k with probability p[k] / sum p */

/* ------------------------------------------------------------------------------------------
 * Tensors, arena and tape.
 *
 * The tape is an append-only array of entries in execution order. Every op computes its
 * forward result at once and, when the tape records and an input needs a gradient, appends
 * an entry. tape_backward(loss) sets d loss = 1 and walks the entries in reverse, each op's
 * backward adding (+=) into its inputs' gradients. Gradients of tensors made by ops are
 * zeroed once, when the tensor is allocated; parameter gradients accumulate over backward
 * calls until paramset_zero_grad.
 * ---------------------------------------------------------------------------------------- */
#define RR_MAXDIM 4

typedef struct Tensor {
    int ndim;
    size_t shape[RR_MAXDIM];
    size_t size;  /* product of shape */
    real *data;
    real *grad;   /* NULL when no gradient flows to this tensor */
} Tensor;

typedef struct ArenaBlock {
    struct ArenaBlock *prev;
    size_t size, used;
    unsigned char *base;  /* 64-byte aligned start inside the allocation */
} ArenaBlock;
typedef struct Arena {
    ArenaBlock *head;     /* current block; older blocks chain behind it */
    size_t block_bytes;   /* default size of a new block */
    size_t used_bytes;    /* bytes handed out since the last reset (statistics) */
} Arena;

void arena_init(Arena *a, size_t block_bytes);
void *arena_alloc(Arena *a, size_t bytes);     /* 64-byte aligned, zeroed */
void arena_reset(Arena *a);                    /* forget everything, keep the largest block */
void arena_free(Arena *a);

typedef enum OpKind {
    OP_ADD, OP_SUB, OP_MUL, OP_SCALE, OP_ADD_SCALAR,
    OP_MATMUL, OP_LINEAR, OP_LINEAR_BATCHED,
    OP_SIGMOID, OP_TANH, OP_RELU, OP_EXP, OP_LOG, OP_ABS,
    OP_SUM_AXIS, OP_MEAN_AXIS, OP_SUM_ALL, OP_MEAN_ALL,
    OP_CONCAT, OP_SLICE, OP_PERMUTE, OP_GATHER_ROWS, OP_COPY,
    OP_L2_NORMALIZE, OP_LAYER_NORM, OP_SOFTMAX, OP_LOG_SOFTMAX, OP_DROPOUT,
    OP_LSTM_CELL,
    OP_CROSS_ENTROPY, OP_BCE_LOGITS, OP_MSE, OP_TOTAL_VARIATION, OP_KL_DIV,
    OP_COUNT
} OpKind;
extern const char *const op_names[OP_COUNT];

typedef struct TapeEntry {
    OpKind op;
    Tensor *out, *out2;   /* out2: second result (the LSTM cell's c') or NULL */
    Tensor *in[4];
    size_t iarg[4];       /* op-specific integers (axis, offsets, flags) */
    real rarg[2];         /* op-specific scalars */
    void *saved;          /* op-specific saved state, in the tape's arena */
} TapeEntry;

typedef struct Tape {
    Arena arena;
    TapeEntry *entries;
    size_t count, capacity;
    int record;           /* 0: ops compute forward only (no entries, no gradients) */
    int training;         /* dropout active */
    Rng *rng;             /* for dropout; may be NULL when training == 0 */
} Tape;

void tape_init(Tape *t);
void tape_reset(Tape *t);                      /* drop all entries and tensors */
void tape_free(Tape *t);
void tape_backward(Tape *t, Tensor *loss);     /* loss must have size 1 */

/* A new tensor in the tape's arena, zero-filled; with_grad allocates a zeroed gradient. */
Tensor *tensor_new(Tape *t, int ndim, const size_t *shape, int with_grad);
/* A tensor header over existing memory (not owned); grad may be NULL. */
Tensor tensor_wrap(real *data, real *grad, int ndim, const size_t *shape);
/* Same data and gradient, another shape of equal size. Costs nothing, records nothing. */
Tensor *tensor_view(Tape *t, Tensor *a, int ndim, const size_t *shape);
void tensor_shape_str(const Tensor *a, char *buf, size_t len); /* "(2, 3, 4)" */

/* --- Ops. Each returns a new tensor in t's arena. Broadcasting (add, sub, mul): b is
 * right-aligned with a, and each of b's dims equals a's or is 1; the result has a's shape.
 * Shape errors stop the program with the op's name and both shapes. -------------------- */
Tensor *op_add(Tape *t, Tensor *a, Tensor *b);             /* a + b */
Tensor *op_sub(Tape *t, Tensor *a, Tensor *b);             /* a - b */
Tensor *op_mul(Tape *t, Tensor *a, Tensor *b);             /* a * b, elementwise */
Tensor *op_scale(Tape *t, Tensor *a, real s);              /* s * a */
Tensor *op_add_scalar(Tape *t, Tensor *a, real s);         /* a + s */
/* (.., M, K) x (.., K, N) -> (.., M, N), with optional transposes of the last two dims.
 * Leading (batch) dims must be equal, or b is 2-D and shared by every batch element. */
Tensor *op_matmul(Tape *t, Tensor *a, Tensor *b, int trans_a, int trans_b);
/* y = x W^T + bias: x (.., in), W (out, in), bias (out) or NULL -> (.., out). */
Tensor *op_linear(Tape *t, Tensor *x, Tensor *W, Tensor *bias);
/* Each sample its own weights: x (B, M, in), W (B, out, in), bias (B, out) or NULL -> (B, M, out). */
Tensor *op_linear_batched(Tape *t, Tensor *x, Tensor *W, Tensor *bias);
Tensor *op_sigmoid(Tape *t, Tensor *a);                    /* 1 / (1 + e^-a) */
Tensor *op_tanh(Tape *t, Tensor *a);
Tensor *op_relu(Tape *t, Tensor *a);                       /* max(a, 0); gradient 0 at 0 */
Tensor *op_exp(Tape *t, Tensor *a);
Tensor *op_log(Tape *t, Tensor *a);
Tensor *op_abs(Tape *t, Tensor *a);                        /* gradient sign(a), 0 at 0 */
Tensor *op_sum_axis(Tape *t, Tensor *a, int axis);         /* removes axis */
Tensor *op_mean_axis(Tape *t, Tensor *a, int axis);        /* removes axis */
Tensor *op_sum_all(Tape *t, Tensor *a);                    /* shape (1) */
Tensor *op_mean_all(Tape *t, Tensor *a);                   /* shape (1) */
Tensor *op_concat(Tape *t, Tensor **parts, size_t n, int axis);
Tensor *op_slice(Tape *t, Tensor *a, int axis, size_t start, size_t len);
Tensor *op_permute(Tape *t, Tensor *a, const int *perm);   /* out.shape[i] = a.shape[perm[i]] */
Tensor *op_gather_rows(Tape *t, Tensor *a, const size_t *idx, size_t n); /* a (N, ..) -> (n, ..) */
Tensor *op_copy(Tape *t, Tensor *a);                       /* identity, a fresh tensor */
Tensor *op_l2_normalize(Tape *t, Tensor *a);               /* rows of the last dim: a / max(|a|, 1e-12) */
/* Over the last dim: (a - mean) / sqrt(var + eps) * gamma + beta; var is the biased variance. */
Tensor *op_layer_norm(Tape *t, Tensor *a, Tensor *gamma, Tensor *beta, real eps);
Tensor *op_softmax(Tape *t, Tensor *a);                    /* over the last dim */
Tensor *op_log_softmax(Tape *t, Tensor *a);                /* over the last dim */
Tensor *op_dropout(Tape *t, Tensor *a, real p);            /* identity unless t->training */
/* Fused LSTM cell, gates (B, 4H) pre-activations in order i, f, g, o; c (B, H):
 *   c' = sigmoid(f) * c + sigmoid(i) * tanh(g),   h' = sigmoid(o) * tanh(c'). */
void op_lstm_cell(Tape *t, Tensor *gates, Tensor *c, Tensor **h_out, Tensor **c_out);

/* Losses, each a mean over rows (all dims but the last) unless stated; shape (1). */
Tensor *op_cross_entropy(Tape *t, Tensor *logits, const int32_t *labels); /* -log softmax(z)[y] */
Tensor *op_bce_logits(Tape *t, Tensor *logits, Tensor *targets); /* mean over all elements */
Tensor *op_mse(Tape *t, Tensor *a, Tensor *b);             /* mean over all elements of (a - b)^2 */
Tensor *op_total_variation(Tape *t, Tensor *p, Tensor *q); /* 0.5 sum_k |p_k - q_k| */
Tensor *op_kl_div(Tape *t, Tensor *log_p, Tensor *log_q);  /* sum_k p_k (log p_k - log q_k) */

/* ------------------------------------------------------------------------------------------
 * Kernels. C (M, N) += op(A) op(B), op = transpose when the flag is set; leading dimensions
 * are row strides. The naive kernel is the reference; the fast one packs panels and runs a
 * register-blocked micro-kernel. Each C element is summed over k in increasing order, so a
 * split of the rows or columns across threads gives bit-identical results.
 * ---------------------------------------------------------------------------------------- */
void gemm_naive(size_t M, size_t N, size_t K, const real *A, size_t lda, int trans_a,
                const real *B, size_t ldb, int trans_b, real *C, size_t ldc);
void gemm_fast(size_t M, size_t N, size_t K, const real *A, size_t lda, int trans_a,
               const real *B, size_t ldb, int trans_b, real *C, size_t ldc);

/* ------------------------------------------------------------------------------------------
 * Parameters, initialisation and optimisation.
 * ---------------------------------------------------------------------------------------- */
typedef struct ParamSet {
    char name[64];
    size_t n;                    /* total scalars */
    real *data, *grad, *m, *v;   /* flat buffers of n each; m, v: AdamW moments */
    Tensor **views;              /* named views into data / grad, in declaration order */
    char (*names)[64];
    size_t *offsets;             /* offset of each view in the flat buffers */
    size_t count, capacity;
    long step;                   /* AdamW updates done */
} ParamSet;

void paramset_init(ParamSet *ps, const char *name);
/* Declare a parameter; its data pointer becomes valid after paramset_finalize. */
Tensor *paramset_add(ParamSet *ps, const char *name, int ndim, const size_t *shape);
void paramset_finalize(ParamSet *ps);
void paramset_free(ParamSet *ps);
void paramset_zero_grad(ParamSet *ps);
size_t paramset_offset(const ParamSet *ps, size_t i); /* offset of view i in the flat buffer */
double paramset_grad_norm(const ParamSet *ps);        /* L2 norm of all gradients */
/* Scale gradients so that their global L2 norm is at most max_norm (as torch's
 * clip_grad_norm_: factor max_norm / (norm + 1e-6) when below 1). Returns the norm before. */
double paramset_clip_grad_norm(ParamSet *ps, double max_norm);

void init_uniform(Tensor *a, Rng *rng, double bound);  /* uniform(-bound, bound) */
void init_normal(Tensor *a, Rng *rng, double std);
void init_constant(Tensor *a, real value);

typedef struct AdamW {
    double lr, beta1, beta2, eps, weight_decay;
} AdamW;
AdamW adamw_default(void);      /* torch defaults: lr 1e-3, betas 0.9 / 0.999, eps 1e-8, wd 0.01 */
/* One update, as torch.optim.AdamW: theta -= lr * wd * theta; m, v moments; bias correction;
 * theta -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). */
void adamw_step(ParamSet *ps, const AdamW *opt);

/* Piecewise-linear schedule through (steps[i], values[i]), steps increasing; constant
 * outside the first and last points. */
double schedule_piecewise(const double *steps, const double *values, size_t n, double step);

/* ------------------------------------------------------------------------------------------
 * Wall-clock time in seconds (monotonic where available), for progress and benchmarks.
 * ---------------------------------------------------------------------------------------- */
double rr_seconds(void);

/* ------------------------------------------------------------------------------------------
 * Files (zoo/): .npy, IDX, JSON.
 * ---------------------------------------------------------------------------------------- */
/* @@files@@ */

/* ------------------------------------------------------------------------------------------
 * Task families (zoo/): formal languages and tiled rotated sequential MNIST.
 * ---------------------------------------------------------------------------------------- */
/* @@tasks@@ */

#endif /* RNNREP_H */
