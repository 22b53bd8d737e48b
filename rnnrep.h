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

/* ------------------------------------------------------------------------------------------
 * Errors, memory and directories (defined at the top of autograd.c, which every part of
 * rnnrep links against).
 *
 * Bad input is never fatal: every function that touches a file or a process returns 0
 * (RR_OK) or one of these codes, and then writes "<path>: <problem>" into err (a
 * caller-supplied char[RR_ERRLEN], or NULL). Only running out of memory, and a programming
 * error such as a shape mismatch between ops, stop the program (rr_fatal).
 * ---------------------------------------------------------------------------------------- */
#define RR_ERRLEN 512 /* size of every error-message buffer */
enum {
    RR_OK = 0,
    RR_ERR_OPEN,        /* the file cannot be opened or created */
    RR_ERR_IO,          /* a read, write, seek, close or rename failed */
    RR_ERR_FORMAT,      /* not a valid file of the format, or it contradicts itself */
    RR_ERR_UNSUPPORTED, /* valid, but outside what rnnrep reads (dtype, byte order, layout) */
    RR_ERR_PROCESS      /* a worker process failed or could not start, we were interrupted, or
                           another process holds the directory (rr_lock_dir) */
};
/* Format the message into err (when err is not NULL) and return code. */
int rr_error(char *err, int code, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Print "rnnrep: <message>" to stderr and exit with status 1. */
void rr_fatal(const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 1, 2), noreturn))
#endif
    ;
/* malloc / calloc that stop the program with a message naming `what` when out of memory. */
void *rr_malloc(size_t bytes, const char *what);
void *rr_calloc(size_t count, size_t size, const char *what);
/* Creates directory dir unless it exists (POSIX mkdir); RR_OK or a message naming dir. */
int rr_make_dir(const char *dir, char *err);
/* Takes the lock of directory dir (which must exist): a POSIX record lock on dir/.lock, held
 * until rr_unlock_dir(*fd) or the process ends, so one process at a time writes a zoo or a
 * run. RR_OK, or RR_ERR_PROCESS naming the holder's pid when another process holds it. Locks
 * belong to processes: worker processes take their own. */
int rr_lock_dir(const char *dir, int *fd, char *err);
void rr_unlock_dir(int fd);
/* The size in bytes of the file open as fp, which is left at its start; -1 when the stream
 * cannot tell (a pipe): readers then refuse it, as they bound every count by the size. */
long rr_file_size(FILE *fp);
/* rename(from, to), replacing an existing file (for atomic writes via "path.tmp"); 0 on success. */
int rr_replace_file(const char *from, const char *to);

/* ------------------------------------------------------------------------------------------
 * Random numbers: xoshiro256** with splitmix64 seeding, and MT19937 where NumPy must be matched.
 * All state is explicit; no globals.
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

/* MT19937 (Matsumoto & Nishimura), bit-exact with NumPy's legacy RandomState, for the one place
 * that must draw what NumPy draws: the task splits (SPEC 2.4). Seed 5489 gives 3499211612,
 * 581869302, ... and 4123659995 as its 10000th word. */
#define MT19937_N 624
typedef struct Mt19937 { uint32_t key[MT19937_N]; size_t pos; } Mt19937;

void mt19937_seed(Mt19937 *mt, uint32_t seed);  /* init_genrand(seed), as np.random.seed(seed) */
uint32_t mt19937_next(Mt19937 *mt);             /* 32 uniform bits (genrand_int32) */
/* perm (n) = np.random.seed(seed); np.random.permutation(n): perm = 0..n-1, then for i = n-1
 * down to 1 swap perm[i] with perm[j], j uniform in {0..i} drawn as NumPy's legacy
 * random_interval does (32-bit words masked to the smallest 2^b - 1 >= i, rejected while > i).
 * Seed 1, n = 10 gives [2,9,6,4,0,3,1,7,8,5]. n <= 2^32, else the program stops (NumPy's own
 * 64-bit draw for larger n has an unspecified order of evaluation). */
#define NUMPY_PERMUTATION_MAX 4294967296ull
void numpy_permutation(uint32_t seed, size_t n, size_t *perm);

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
    OP_SUM_AXIS, OP_MEAN_AXIS, OP_SUM_ALL, OP_MEAN_ALL, OP_VARIANCE, OP_QUANTILE,
    OP_CONCAT, OP_SLICE, OP_PERMUTE, OP_GATHER_ROWS, OP_COPY,
    OP_L2_NORMALIZE, OP_LAYER_NORM, OP_SOFTMAX, OP_LOG_SOFTMAX, OP_DROPOUT, OP_ATTENTION, OP_CHECKPOINT,
    OP_LSTM_CELL, OP_LSTM_SEQUENCE,
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
    struct Tape *inner;   /* op_checkpoint's scratch tape, made on first use */
} Tape;

void tape_init(Tape *t);
void tape_reset(Tape *t);                      /* drop all entries and tensors */
void tape_free(Tape *t);
void tape_backward(Tape *t, Tensor *loss);     /* loss must have size 1 */
/* The flops (2 per multiply-add) of the matrix products recorded on t (matmul, linear,
 * linear_batched, lstm_sequence's W_hh products): *forward those the ops ran, *backward those
 * tape_backward runs (a product per input that carries a gradient). Elementwise work is not
 * counted. */
void tape_flops(const Tape *t, double *forward, double *backward);

/* A new tensor in the tape's arena, zero-filled; with_grad allocates a zeroed gradient. */
Tensor *tensor_new(Tape *t, int ndim, const size_t *shape, int with_grad);
/* A tensor header over existing memory (not owned); grad may be NULL. */
Tensor tensor_wrap(real *data, real *grad, int ndim, const size_t *shape);
/* Same data and gradient, another shape of equal size. Costs nothing, records nothing. */
Tensor *tensor_view(Tape *t, Tensor *a, int ndim, const size_t *shape);
void tensor_shape_str(const Tensor *a, char *buf, size_t len); /* "(2, 3, 4)" */

/* --- Ops. Each returns a new tensor in t's arena. Broadcasting (add, sub, mul): b is
 * right-aligned with a, and each of b's dims equals a's or is 1; the result has a's shape
 * (e.g. (B, C, N, K) with (B, C, 1, K), (B, C, N, 1), (1, C, 1, K) or (K)). b's gradient
 * is summed over the broadcast dims in double.
 * Shape errors stop the program with the op's name and both shapes. -------------------- */
Tensor *op_add(Tape *t, Tensor *a, Tensor *b);             /* a + b */
Tensor *op_sub(Tape *t, Tensor *a, Tensor *b);             /* a - b */
Tensor *op_mul(Tape *t, Tensor *a, Tensor *b);             /* a * b, elementwise */
Tensor *op_scale(Tape *t, Tensor *a, real s);              /* s * a */
Tensor *op_add_scalar(Tape *t, Tensor *a, real s);         /* a + s */
/* (.., M, K) x (.., K, N) -> (.., M, N), with optional transposes of the last two dims.
 * Leading (batch) dims must be equal, or one operand is 2-D and shared by every batch
 * element of the other: (.., M, K) x (K, N) or (M, K) x (.., K, N) -> (.., M, N). */
Tensor *op_matmul(Tape *t, Tensor *a, Tensor *b, int trans_a, int trans_b);
/* y = x W^T + bias: x (.., in), W (out, in), bias (out) or NULL -> (.., out). */
Tensor *op_linear(Tape *t, Tensor *x, Tensor *W, Tensor *bias);
/* Each sample its own weights: x (B, M, in), W (B, out, in), bias (B, out) or NULL -> (B, M, out). */
Tensor *op_linear_batched(Tape *t, Tensor *x, Tensor *W, Tensor *bias);
Tensor *op_sigmoid(Tape *t, Tensor *a);                    /* 1 / (1 + e^-a) */
Tensor *op_tanh(Tape *t, Tensor *a);
Tensor *op_relu(Tape *t, Tensor *a);                       /* max(a, 0), NaN kept (torch.relu); gradient 0 at 0 */
Tensor *op_exp(Tape *t, Tensor *a);
Tensor *op_log(Tape *t, Tensor *a);
Tensor *op_abs(Tape *t, Tensor *a);                        /* gradient sign(a), 0 at 0 */
Tensor *op_sum_axis(Tape *t, Tensor *a, int axis);         /* removes axis */
Tensor *op_mean_axis(Tape *t, Tensor *a, int axis);        /* removes axis */
Tensor *op_sum_all(Tape *t, Tensor *a);                    /* shape (1) */
Tensor *op_mean_all(Tape *t, Tensor *a);                   /* shape (1) */
/* Over the last dim, (.., n) -> (..), n >= 2: sum_i (a_i - m)^2 / (n - 1), m = sum_i a_i / n
 * (torch.var, unbiased); two passes in double, rounded once. */
Tensor *op_variance(Tape *t, Tensor *a);
/* Over the last dim, (.., n) -> (.., nq), levels q ascending in [0, 1] (torch.quantile,
 * interpolation 'linear'): with s the row sorted ascending and p = q_j (n - 1),
 *   y_j = s[floor p] + w (s[ceil p] - s[floor p]),  w = p - floor p   (evaluated as torch.lerp);
 * a row holding a NaN gives NaN. Gradient: (1 - w) g and w g to the entries at s[floor p] and
 * s[ceil p]; among tied entries the first in the row takes it. */
Tensor *op_quantile(Tape *t, Tensor *a, const double *q, size_t nq);
/* The same quantiles of plain values s[0..n), n >= 1, into y[0..nq); s is reordered. */
void quantiles_of(double *s, size_t n, const double *q, size_t nq, double *y);
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
/* Multi-head attention of q (B, Tq, D) over k = kv[.., :D] and v = kv[.., D:] (kv (B, T, 2D),
 * as a packed in-projection gives them), heads dividing D: head h's columns of the result
 * (B, Tq, D) are dropout_p(softmax(q_h k_h^T)) v_h, the same bits as that composition of ops;
 * the weights are recomputed in the backward, not kept. */
Tensor *op_attention(Tape *t, Tensor *q, Tensor *kv, size_t heads, real p);
/* out = fn(t, ctx, in) without keeping fn's intermediate results on t: fn runs on a scratch
 * tape, and again in the backward pass (from the same state of t->rng, so with the same
 * dropout draws), where its gradients flow to in[] and to the parameters fn uses. The same
 * values and gradients as calling fn on t. At most RR_CHECKPOINT_INPUTS inputs; ctx (ctx_bytes)
 * is copied. */
#define RR_CHECKPOINT_INPUTS 4
typedef Tensor *(*CheckpointFn)(Tape *t, const void *ctx, Tensor *const *in);
Tensor *op_checkpoint(Tape *t, CheckpointFn fn, const void *ctx, size_t ctx_bytes, Tensor *const *in, size_t nin);
/* Fused LSTM cell, gates (B, 4H) pre-activations in order i, f, g, o; c (B, H):
 *   c' = sigmoid(f) * c + sigmoid(i) * tanh(g),   h' = sigmoid(o) * tanh(c'). */
void op_lstm_cell(Tape *t, Tensor *gates, Tensor *c, Tensor **h_out, Tensor **c_out);
/* A whole LSTM layer's recurrence from zero state, given the input products
 * xg (B, T, 4H) = x W_ih^T + b_ih:  gates_t = xg_t + h_{t-1} W_hh^T + b_hh, then the cell
 * -> h (B, T, H). The same values as T lstm_cells (their gradients agree up to rounding); one
 * tape entry, whose backward forms d W_hh as one matrix product over all B T rows. */
Tensor *op_lstm_sequence(Tape *t, Tensor *xg, Tensor *W_hh, Tensor *b_hh);

/* Losses, each a mean over rows (all dims but the last) unless stated; shape (1). */
Tensor *op_cross_entropy(Tape *t, Tensor *logits, const int32_t *labels); /* -log softmax(z)[y] */
Tensor *op_bce_logits(Tape *t, Tensor *logits, Tensor *targets); /* mean over all elements */
Tensor *op_mse(Tape *t, Tensor *a, Tensor *b);             /* mean over all elements of (a - b)^2 */
Tensor *op_total_variation(Tape *t, Tensor *p, Tensor *q); /* 0.5 sum_k |p_k - q_k| */
Tensor *op_kl_div(Tape *t, Tensor *log_p, Tensor *log_q);  /* sum_k p_k (log p_k - log q_k) */

/* ------------------------------------------------------------------------------------------
 * Kernels. C (M, N) += op(A) op(B), op = transpose when the flag is set; leading dimensions
 * are row strides. The naive kernel is the reference; the fast one packs panels and runs a
 * register-blocked micro-kernel, its threads sharing out C's rows or columns. Each C element
 * is summed over k by one thread in a fixed order (increasing k within 256-deep slices, the
 * slices added in turn), so the result is the same bit for bit at any thread count.
 * ---------------------------------------------------------------------------------------- */
/* exp(x) within 2 ulp of libm's, in code the compiler vectorises: the float build's cells,
 * sigmoid, tanh and softmax use it (the double build, the reference, uses libm). 0 below
 * exp(-708), infinity above 709. */
double rr_exp(double x);
void gemm_naive(size_t M, size_t N, size_t K, const real *A, size_t lda, int trans_a,
                const real *B, size_t ldb, int trans_b, real *C, size_t ldc);
void gemm_fast(size_t M, size_t N, size_t K, const real *A, size_t lda, int trans_a,
               const real *B, size_t ldb, int trans_b, real *C, size_t ldc);
/* op(B) (K, N) packed once for many products with it (an LSTM's W_hh at every time step),
 * with the packing room for the A blocks of up to rr_threads() threads (taken at gemm_pack). */
typedef struct GemmPacked {
    size_t K, N;
    real *panels;                /* op(B) in the fast kernel's panels */
    real *a_blocks;              /* one block of op(A) per thread */
    size_t threads;
} GemmPacked;
void gemm_pack(GemmPacked *p, size_t K, size_t N, const real *B, size_t ldb, int trans_b);
/* C (M, N) += op(A) (M, K) op(B): the same bits as gemm_fast with the B that p packed. It
 * writes p's A blocks: one call at a time per p. */
void gemm_packed(size_t M, const real *A, size_t lda, int trans_a, GemmPacked *p, real *C, size_t ldc);
void gemm_pack_free(GemmPacked *p);

/* ------------------------------------------------------------------------------------------
 * Threads (OpenMP; without it, make OPENMP=0, always 1). The kernels and the row loops of
 * the ops, the losses, the gradient norm and AdamW run on rr_threads() threads; every result
 * is bit-identical for every thread count (work is shared out by whole output elements, and
 * reductions run over fixed chunks added in chunk order, accumulating in double).
 * ---------------------------------------------------------------------------------------- */
#define RR_MAX_THREADS 256
size_t rr_cores(void);              /* processors available (1 without OpenMP) */
void rr_set_threads(size_t n);      /* n threads from now on (at most RR_MAX_THREADS); 0: rr_cores() */
size_t rr_threads(void);            /* threads a parallel loop uses now */

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
 * Building blocks (models/nn.c), with PyTorch's parameter names and default initialisation.
 * ---------------------------------------------------------------------------------------- */
typedef struct Linear {
    Tensor *W, *b;   /* (out, in), (out) or NULL */
    size_t in, out;
} Linear;
/* Declares "<name>.weight" and (if bias) "<name>.bias" in ps. */
void linear_declare(Linear *l, ParamSet *ps, const char *name, size_t in, size_t out, int bias);
void linear_init(const Linear *l, Rng *rng);     /* uniform(±1/sqrt(in)), as torch.nn.Linear */
Tensor *linear_forward(Tape *t, const Linear *l, Tensor *x); /* (.., in) -> (.., out) */

/* An MLP as an nn.Sequential named <prefix>: Linear(in, hidden) -> ReLU -> (hidden_layers - 1)
 * x [Linear(hidden, hidden) -> ReLU] -> Linear(hidden, out); its Linear layers are
 * "<prefix>.0", "<prefix>.2", ... (the ReLUs take the odd indices). */
#define MLP_MAX_LINEAR 8
typedef struct Mlp {
    size_t n;                       /* hidden_layers + 1 Linear layers */
    Linear linear[MLP_MAX_LINEAR];
} Mlp;
void mlp_declare(Mlp *m, ParamSet *ps, const char *prefix, size_t in, size_t hidden, size_t hidden_layers, size_t out);
void mlp_init(const Mlp *m, Rng *rng);                       /* each Linear as torch */
Tensor *mlp_forward(Tape *t, const Mlp *m, Tensor *x);       /* (.., in) -> (.., out) */

typedef struct LstmLayer {
    Tensor *W_ih, *W_hh, *b_ih, *b_hh;  /* (G, in), (G, H), (G), (G) */
    size_t in, H;
} LstmLayer;
/* Declares "<prefix>weight_ih<suffix>", weight_hh, bias_ih, bias_hh in that (PyTorch) order:
 * prefix "lstm." and suffix "_l0" give nn.LSTM's names, suffix "" nn.LSTMCell's. */
void lstm_layer_declare(LstmLayer *l, ParamSet *ps, const char *prefix, const char *suffix, size_t in, size_t H);
void lstm_layer_init(const LstmLayer *l, Rng *rng); /* uniform(±1/sqrt(H)) */
/* One step from (h, c) (B, H): gates = x W_ih^T + b_ih + h W_hh^T + b_hh; an LSTM cell. */
void lstm_layer_step(Tape *t, const LstmLayer *l, Tensor *x, Tensor *h, Tensor *c, Tensor **h_out, Tensor **c_out);
/* A whole sequence x (B, T, in) from zero state -> h at every step (B, T, H). The input
 * products of all steps are one matrix product. */
Tensor *lstm_layer_sequence(Tape *t, const LstmLayer *l, Tensor *x);

/* ------------------------------------------------------------------------------------------
 * The zoo RNN θ (models/zoo_lstm.c): nn.LSTM(I, H, num_layers=2, batch_first=True) then
 * nn.Linear(H, O) at every step, in PyTorch's flat layout (SPEC.md §1).
 * ---------------------------------------------------------------------------------------- */
typedef struct ZooShape { size_t I, H, O; } ZooShape;
extern const ZooShape ZOO_FORMAL;  /* I = O = 6, H = 32: P = 13,766 */
extern const ZooShape ZOO_MNIST;   /* I = 16, O = 10, H = 32: P = 15,178 */

typedef enum ZooTensor {
    ZOO_W_IH0, ZOO_W_HH0, ZOO_B_IH0, ZOO_B_HH0,
    ZOO_W_IH1, ZOO_W_HH1, ZOO_B_IH1, ZOO_B_HH1,
    ZOO_LINEAR_W, ZOO_LINEAR_B, ZOO_NUM_TENSORS
} ZooTensor;
extern const char *const zoo_tensor_names[ZOO_NUM_TENSORS]; /* "lstm.weight_ih_l0", ..., "linear.bias" */

size_t zoo_num_params(ZooShape s);                          /* P */
/* Whether the zoo RNN reads MNIST tiles (I = 16, sigmoid probes, 50 steps) rather than
 * language tokens (one-hot, softmax probes): the one rule every task-dependent choice uses. */
int zoo_reads_tiles(ZooShape s);
/* Where tensor k sits in the flat θ: offset, rows and columns (cols = 1 for biases). */
void zoo_tensor_layout(ZooShape s, ZooTensor k, size_t *offset, size_t *rows, size_t *cols);
/* The ten tensors of a batch theta (B, P) as tensors on the tape: weights (B, rows, cols),
 * biases (B, rows); gradients flow back into theta when it carries one. Every reader of θ's
 * structure (the encoders, the zoo RNN as data) starts here. */
void zoo_theta_views(Tape *t, ZooShape s, Tensor *theta, Tensor *views[ZOO_NUM_TENSORS]);
/* The five weight matrices in the official order (W_ih^0, W_hh^0, W_ih^1, W_hh^1,
 * linear.weight) and the bias each matrix's rows pair with (b_ih^0, b_hh^0, ..., linear.bias). */
#define ZOO_NUM_MATRICES 5
extern const ZooTensor zoo_matrix_of[ZOO_NUM_MATRICES];
extern const ZooTensor zoo_bias_of[ZOO_NUM_MATRICES];

/* Mode 1: one zoo RNN being trained; θ is its ParamSet, in the flat layout. */
typedef struct ZooLstm {
    ZooShape shape;
    ParamSet params;
    LstmLayer layer[2];
    Linear head;
} ZooLstm;
void zoo_lstm_init(ZooLstm *m, ZooShape s, Rng *rng);       /* PyTorch default init */
void zoo_lstm_from_theta(ZooLstm *m, ZooShape s, const real *theta); /* θ (P) given */
void zoo_lstm_free(ZooLstm *m);
/* theta (B, P): B zoo RNNs with PyTorch's default initialisation, drawn in turn from rng. */
void zoo_lstm_init_batch(ZooShape s, size_t B, Rng *rng, real *theta);
Tensor *zoo_lstm_forward(Tape *t, const ZooLstm *m, Tensor *x); /* x (B, T, I) -> logits (B, T, O) */

/* Mode 2: a batch of different θ as data, each sample its own RNN, M parallel input streams,
 * stepped one time step at a time; differentiable with respect to the inputs. */
typedef struct ZooBatch {
    ZooShape shape;
    size_t B, M;
    Tensor *w[ZOO_NUM_TENSORS];   /* (B, rows, cols) weights, (B, rows) biases */
    Tensor *h[2], *c[2];          /* (B, M, H) state of each layer */
} ZooBatch;
/* theta (B, P) -> per-tensor views; zero state. */
void zoo_batch_begin(Tape *t, ZooBatch *zb, ZooShape s, Tensor *theta, size_t M);
Tensor *zoo_batch_step(Tape *t, ZooBatch *zb, Tensor *x);    /* x (B, M, I) -> logits (B, M, O) */

/* One AdamW update of a zoo RNN: x (B, T, I) inputs, labels (B * T) the class at every step,
 * loss = cross-entropy averaged over all B * T positions (the zoo recipe of SPEC.md §2).
 * Returns the loss before the update. */
double zoo_lstm_train_step(ZooLstm *m, Tape *t, const AdamW *opt, const real *x, const int32_t *labels,
                           size_t B, size_t T);

/* Hidden-neuron permutation (SPEC.md §1): perm[l] permutes the H neurons of layer l; the
 * function of θ is unchanged. out may not alias theta. */
void zoo_permute(ZooShape s, const real *theta, const size_t *perm0, const size_t *perm1, real *out);
/* The B rows theta (B, P) under random permutations drawn from rng (perm0, then perm1, each by
 * rng_permutation): one pair for the whole batch (the permutation augmentation of SPEC.md
 * §5), or with per_row a pair for each row in turn. out (B, P) may not alias theta. */
void zoo_permute_rows(ZooShape s, const real *theta, size_t B, int per_row, Rng *rng, real *out);

/* ------------------------------------------------------------------------------------------
 * Encoders θ -> E(θ) in R^E (SPEC.md §3), one interface for all six (models/encoder.c
 * dispatches to models/enc_*.c). Input: a batch of flat θ, theta (B, P), as data.
 * ---------------------------------------------------------------------------------------- */
typedef enum EncoderKind {
    ENC_STATS, ENC_FLAT, ENC_TRANSFORMER, ENC_DWS, ENC_NONINTERACTIVE, ENC_INTERACTIVE, ENC_COUNT
} EncoderKind;

/* What each encoder is (the paper's poster table), in one place:
 *   name           type           invariant  universal
 *   stats          mechanistic    yes        no
 *   flat           mechanistic    no         yes
 *   transformer    mechanistic    no         yes
 *   dws            mechanistic    yes        yes
 *   noninteractive functionalist  yes        yes
 *   interactive    functionalist  yes        yes
 * invariant: E(πθ) = E(θ) for every hidden-neuron permutation π (SPEC.md §1); an encoder that
 * is not is trained with permutation augmentation (SPEC.md §5). universal: can in principle
 * tell any two different functions apart. */
typedef struct EncoderFacts {
    const char *name;      /* the official preset name */
    const char *type;      /* "mechanistic" (reads θ) or "functionalist" (queries the RNN) */
    int invariant, universal;
} EncoderFacts;
extern const EncoderFacts encoder_facts[ENC_COUNT];
#define PAPER_EMBED 16     /* E, the embedding size of every encoder and the emulator */
/* The statistics encoder's quantile levels 0, .25, .5, .75, 1 (its registered buffer). */
extern const double stats_quantile_levels[5];
/* The 70 layer-wise statistics of theta (B, P) -> (B, 70) that the statistics encoder reads
 * (and the downstream reference of SPEC.md §6.6): for each of the 10 tensors of θ in the flat
 * order, at 7k .. 7k + 6, its mean, unbiased variance (torch.var) and quantiles 0, .25, .5,
 * .75, 1 (torch.quantile, linear). Tape ops: gradients reach theta when it carries one. */
#define STATS_FEATURES 70
Tensor *stats_features(Tape *t, ZooShape z, Tensor *theta);

typedef struct EncoderConfig {
    EncoderKind kind;
    ZooShape zoo;
    size_t embed;          /* E = 16 */
    size_t hidden;         /* stats / flat MLP width (128); DWS and probing head width (128) */
    size_t hidden_layers;  /* stats: 1 (the code that ran; the config names 3 x 768); flat: 3 */
    size_t d_model, heads, ffn, layers; /* transformer: 128, 2, 512, 6 */
    real dropout;          /* transformer: 0 (official code leaves torch's 0.1 on) */
    size_t channels, dws_layers;        /* DWSNet: 48, 4 */
    size_t core, M, L;     /* probing: core width 256, streams 1, length 22 / 50 */
} EncoderConfig;
/* The paper's configuration of an encoder for a zoo shape. */
EncoderConfig encoder_config_paper(EncoderKind kind, ZooShape zoo);
/* An official preset by name (SPEC.md §5): stats, flat, transformer, dws, noninteractive_M and
 * interactive_M (M in 1, 2, 4, 8; no suffix: M = 1), interactive_length_L (L in 7, 12, 42; a
 * zoo that reads MNIST tiles always probes 50 steps). The transformer's dropout stays 0 (the
 * official presets leave torch's 0.1 on; set cfg->dropout for that). RR_OK, or
 * RR_ERR_FORMAT with the names it knows in err. */
int encoder_preset(const char *name, ZooShape zoo, EncoderConfig *cfg, char *err);

typedef struct Encoder {
    EncoderConfig cfg;
    ParamSet params;
    void *impl;            /* the kind's named views into params */
} Encoder;

/* What a probing encoder asked and heard: probe inputs p (B, L, M, I) after the decoder's
 * softmax / sigmoid, and the zoo RNN's raw logits (B, L, M, O). Filled when non-NULL. */
typedef struct ProbeTrace { Tensor *inputs, *answers; } ProbeTrace;

void encoder_init(Encoder *enc, const EncoderConfig *cfg, Rng *rng); /* declare + initialise */
void encoder_free(Encoder *enc);
/* E(θ) (B, E), not normalised; gradients flow into the encoder's parameters and, when theta
 * carries a gradient, into theta (for stats through the mean, variance and quantiles, as
 * PyTorch's autograd defines them). */
Tensor *encoder_forward(Tape *t, const Encoder *enc, Tensor *theta, ProbeTrace *trace);
/* How far an encoder is from permutation invariance: max |E(θ) - E(πθ)| / max |E(θ)| over a
 * batch theta (B, P), where each θ gets its own random permutation π of the hidden neurons of
 * both LSTM layers (SPEC.md §1, drawn from rng). 0 for an exactly invariant encoder. */
double encoder_permutation_change(const Encoder *enc, const real *theta, size_t B, Rng *rng);

/* ------------------------------------------------------------------------------------------
 * Emulator and emulation losses (models/emulator.c, SPEC.md §4).
 * ---------------------------------------------------------------------------------------- */
typedef struct EmulatorConfig {
    ZooShape zoo;
    size_t width, embed;          /* D = 256, E = 16 */
} EmulatorConfig;
EmulatorConfig emulator_config_paper(ZooShape zoo);   /* D = 256, E = 16 (the encoders' embed) */

typedef struct Emulator {
    EmulatorConfig cfg;
    ParamSet params;
    Linear input, embedding, output;   /* Linear(I, D), Linear(E, D), Linear(D, O) */
    LstmLayer lstm[2];                 /* nn.LSTM(D, D, 2) */
} Emulator;
void emulator_init(Emulator *em, const EmulatorConfig *cfg, Rng *rng);
void emulator_free(Emulator *em);
/* x (B, T, I) inputs, e (B, E) embeddings (added, projected, to the first step only)
 * -> logits (B, T, O). */
Tensor *emulator_forward(Tape *t, const Emulator *em, Tensor *x, Tensor *e);

typedef enum EmulationLoss { LOSS_TV, LOSS_KL, LOSS_REVERSE_KL, LOSS_JS, LOSS_CE, LOSS_L2, LOSS_COUNT } EmulationLoss;
extern const char *const emulation_loss_names[LOSS_COUNT]; /* "tv", "kl", "reverse_kl", "js", "ce", "l2" */
/* Distance between p = softmax(target) (the zoo RNN's stored outputs, data) and
 * q = softmax(logits) (the emulator's), per position, mean over all positions (B, T). */
Tensor *emulation_loss(Tape *t, EmulationLoss kind, Tensor *logits, Tensor *target);

/* ------------------------------------------------------------------------------------------
 * The steppable sequence model (models/sequence.c): the zoo RNN θ and the emulator
 * conditioned on E(θ) alike, run one time step at a time with their state kept between
 * steps, and what is written once over it: sampling a token language, classifying
 * sequences. For evaluation: nothing records gradients.
 * ---------------------------------------------------------------------------------------- */
typedef struct SeqModel {
    size_t I, O, D;              /* inputs, outputs per step; LSTM width */
    const Linear *input;         /* I -> D before the LSTM (the emulator's), or NULL (D reads x) */
    const LstmLayer *lstm[2];    /* two stacked layers of width D */
    const Linear *output;        /* D -> O at every step */
    const Linear *condition;     /* E -> D, added to the first step's input (the emulator's
                                    embedding_projection), or NULL */
    const real *e;               /* (rows, E) conditioning embeddings, when condition is set */
} SeqModel;
SeqModel zoo_lstm_seq(const ZooLstm *m);
/* The emulator conditioned on e (rows, E), normalised as in training (E(θ) / |E(θ)|). The
 * model reads e when a run starts; e must then hold one row per run row. */
SeqModel emulator_seq(const Emulator *em, const real *e);

typedef struct SeqRun {
    SeqModel model;
    size_t rows, steps;          /* sequences stepped together; steps taken */
    real *state;                 /* (4, rows, D): h and c of layer 0, then of layer 1 */
    Tape tape;                   /* emptied at every step */
} SeqRun;
void seq_run_begin(SeqRun *r, const SeqModel *m, size_t rows);   /* zero state */
/* One step: x (rows, I) -> logits (rows, O), a tensor on r->tape valid until the next step. */
Tensor *seq_run_step(SeqRun *r, const real *x);
void seq_run_free(SeqRun *r);

/* n sequences of a token language (I = O = V tokens, one-hot inputs), len tokens each:
 * seqs[i, 0] = bos, then token s + 1 drawn from softmax(logits_s) given token s, for rows
 * i = 0..n-1 in turn at each step (seqs (n, len)). logp (n, len - 1, V) receives the
 * log-softmax outputs when not NULL. */
void seq_sample_tokens(const SeqModel *m, Rng *rng, size_t n, size_t len, int bos, int16_t *seqs, real *logp);
/* n input sequences x (n, T, I) with one label each: loss = mean over all n T positions of
 * -log softmax(logits)[label] (the label is the target at every step), correct = how many
 * argmaxes of the last step's logits equal the label. logits (n, T, O) when not NULL. */
typedef struct SeqScore { size_t correct; double loss; } SeqScore;
SeqScore seq_classify(const SeqModel *m, const real *x, size_t n, size_t T, const int32_t *labels, real *logits);

/* ------------------------------------------------------------------------------------------
 * Emulation training (models/train.c, SPEC.md §5): encoder + emulator trained together so
 * that the emulator, given E(θ)/|E(θ)|, imitates the zoo RNN θ on its stored sequences.
 * ---------------------------------------------------------------------------------------- */
typedef struct EmulationBatch {
    size_t B, T;
    const real *theta;    /* (B, P) zoo RNN parameters */
    const real *inputs;   /* (B, T, I) emulator inputs */
    const real *targets;  /* (B, T, O) the zoo RNN's stored outputs (logits or log-softmax) */
} EmulationBatch;

typedef struct EmulationTrainer {
    Encoder *encoder;
    Emulator *emulator;
    AdamW opt;               /* lr 1e-4, weight decay 0.01 */
    double clip;             /* 0.1, applied separately to the encoder's and emulator's gradients */
    EmulationLoss loss;      /* LOSS_TV */
    int augment;             /* permutation augmentation (on for non-invariant encoders) */
    Rng rng;                 /* permutations */
    Tape tape;
} EmulationTrainer;

/* Cloned performance (SPEC.md §5), the part that runs models. Token languages: n sequences
 * of len tokens from bos, sampled from the zoo RNN θ (P) with rng_theta into from_theta
 * (n, len), and from the emulator conditioned on e (E, normalised), stepped one token at a
 * time, with rng_clone into from_clone (n, len). Scoring them is the task's business. */
void clone_sample_tokens(const Emulator *em, const real *theta, const real *e, size_t n, size_t len, int bos,
                         Rng *rng_theta, Rng *rng_clone, int16_t *from_theta, int16_t *from_clone);
/* Classification: the share of labelled sequences x (n, T, I) whose last-step argmax of the
 * emulator conditioned on e (E) is the label. */
double clone_accuracy(const Emulator *em, const real *e, const real *x, const int32_t *labels, size_t n, size_t T);

void emulation_trainer_init(EmulationTrainer *tr, Encoder *enc, Emulator *em, uint64_t seed);
void emulation_trainer_free(EmulationTrainer *tr);
/* The loss of a batch without training (no tape recording, no dropout). With augmentation
 * the batch is permuted here too, as the official evaluation does: seed tr->rng first for a
 * fixed permutation. */
double emulation_eval(EmulationTrainer *tr, const EmulationBatch *batch);
/* One AdamW step on a batch; returns the loss before the step. Permutations and dropout draw
 * from tr->rng. */
double emulation_step(EmulationTrainer *tr, const EmulationBatch *batch);

/* ------------------------------------------------------------------------------------------
 * The interrogator theory (models/interrogate.c, SPEC.md §8): identify an unknown f from a
 * known set D of distinct total functions by asking for f(x). |D| - 1 queries always suffice,
 * adaptive or not, and are needed for the worst-case family; the decision-tree family of 2^K
 * functions needs K adaptive queries but 2^K - 1 fixed ones. Proofs in the file's comment.
 * ---------------------------------------------------------------------------------------- */
/* Largest K of the decision-tree family and the table. The interrogators take time cubic in
 * |D| (the table up to K = 8: 0.2 s; every K more, about 8 times as long). */
#define INTERROGATE_K_MAX 8

/* D as a table: member f maps input x in 0..X-1 to the symbol out[f X + x]. */
typedef struct FunctionFamily {
    size_t n, X;        /* |D| members, |X| inputs */
    uint8_t *out;       /* (n, X) */
} FunctionFamily;

void family_init(FunctionFamily *D, size_t n, size_t X);   /* every output 0 */
void family_free(FunctionFamily *D);
/* RR_OK if D has at least one member and no two members are the same function; else
 * RR_ERR_FORMAT naming the two members. */
int family_check(const FunctionFamily *D, char *err);
/* 2^K members over the 2^K - 1 nodes of a complete binary tree of depth K in heap order
 * (children of v: 2v + 1, 2v + 2). Member b walks from the root by its bits, most significant
 * first (0 left, 1 right): f_b(v) = 1 if v is on b's path and b turns right there, else 0.
 * K <= INTERROGATE_K_MAX. */
void family_decision_tree(FunctionFamily *D, size_t K);
/* n >= 1 members over n - 1 inputs: f_0 = 0 and f_i(x) = [x = i - 1] for i = 1..n-1. */
void family_worst_case(FunctionFamily *D, size_t n);

/* Both interrogators are run on every member f of D and write, for each, the number of
 * queries used, queries (n), and the member named, guess (n), which is f whenever D is
 * distinct. RR_OK, or family_check's error (then nothing is written).
 * Adaptive: while several candidates (members consistent with the answers) are left, ask the
 * input whose largest class of equal answers among them is smallest. On the decision-tree
 * family this asks the nodes of f's path: K queries. At most |D| - 1 queries; not optimal for
 * every D. */
int interrogate_adaptive(const FunctionFamily *D, size_t *queries, size_t *guess, char *err);
/* Non-adaptive: one query set S for all members, chosen from D alone by greedy set cover of
 * the pairs of members (add the input that separates the most pairs not yet separated, until
 * none is left); every member is asked all of S, queries[f] = |S| <= |D| - 1, and named by
 * its answers. Greedy S can exceed the smallest separating set; on both constructed
 * families it is the smallest, since every input is needed (all 2^K - 1 nodes). */
int interrogate_fixed(const FunctionFamily *D, size_t *queries, size_t *guess, char *err);

/* One row of `rnnrep interrogate`: the most queries each interrogator used on a member of the
 * decision-tree family for K and of the worst-case family with as many members. */
typedef struct InterrogationRow {
    size_t K, functions;                  /* K and |D| = 2^K */
    size_t tree_adaptive, tree_fixed;     /* decision-tree family: K and 2^K - 1 */
    size_t worst_adaptive, worst_fixed;   /* worst-case family: 2^K - 1 and 2^K - 1 */
    int identified;                       /* 1 if all four runs named every member correctly */
} InterrogationRow;
/* rows[K - 1] for K = 1..kmax. RR_OK, or RR_ERR_UNSUPPORTED when kmax is outside
 * 1..INTERROGATE_K_MAX. */
int interrogate_table(size_t kmax, InterrogationRow *rows, char *err);

/* ------------------------------------------------------------------------------------------
 * Downstream prediction (models/downstream.c, models/downstream_metrics.c, SPEC.md §6): what
 * frozen features (the embeddings E(θ), or the 70 layer-wise statistics) tell about a zoo RNN.
 * Arrays in, results out; the ridge algebra and every metric run in double. A problem has F
 * features and K target columns per row; its rows are already split (SPEC.md §2.4 step 4).
 * ---------------------------------------------------------------------------------------- */
/* How a target is learned and read. MSE: K real values (an accuracy, the generalisation gap,
 * an angle as (sin, cos)). BCE and CE: Y holds `blocks` one-hot blocks of K / blocks classes
 * (the formal task: 3 blocks of 6, BCE on every column; the training step: 1 block of 9, a
 * softmax cross-entropy per block); a prediction's class in a block is its argmax there. */
typedef enum PredictorLoss { PREDICT_MSE, PREDICT_BCE, PREDICT_CE } PredictorLoss;

typedef struct DownstreamProblem {
    size_t F, K;
    PredictorLoss loss;
    size_t blocks;                   /* BCE / CE: one-hot blocks in Y; MSE: ignored */
    size_t n_train, n_val;           /* predictor-training rows; validation rows (selection) */
    const real *X_train, *X_val;     /* (n_train, F), (n_val, F) features */
    const double *Y_train, *Y_val;   /* (n_train, K), (n_val, K) targets */
} DownstreamProblem;

/* Per feature j of n rows X (n, F): mean_j = Σ_i x_ij / n and the population standard
 * deviation std_j = sqrt(Σ_i (x_ij - mean_j)^2 / n), or std_j = 0 when the n values are all
 * equal (a zero-variance feature). n >= 1. */
typedef struct Standardizer { size_t F; double *mean, *std; } Standardizer;
void standardizer_fit(Standardizer *s, const real *X, size_t n, size_t F);
/* Z (n, F) = (X - mean) / std per column; 0 throughout a zero-variance feature's column. */
void standardizer_apply(const Standardizer *s, const real *X, size_t n, double *Z);
void standardizer_free(Standardizer *s);

/* A = L Lᵀ for a symmetric positive definite A (n, n), row-major, column by column:
 * L_jj = sqrt(A_jj - Σ_k<j L_jk^2), L_ij = (A_ij - Σ_k<j L_ik L_jk) / L_jj for i > j.
 * L overwrites the lower triangle; the strict upper triangle is neither read nor written.
 * Returns 0, or -1 at the first pivot that is not > 0 (A is not positive definite, or not
 * finite), A then partly overwritten. */
int cholesky_factor(double *A, size_t n);
/* Solves L Lᵀ X = B in place for the k columns of B (n, k): L y = b by forward substitution,
 * then Lᵀ x = y by back substitution. L as cholesky_factor leaves it. */
void cholesky_solve(const double *L, size_t n, double *B, size_t k);

/* The λ grid of SPEC.md §6.3: 1e-6, 1e-5, ..., 1e10. */
#define RIDGE_LAMBDAS 17
extern const double ridge_lambdas[RIDGE_LAMBDAS];

/* Ridge regression in closed form. With Z the training rows standardised by their own
 * Standardizer and b = the mean of Y_train (the bias, not penalised), for one λ
 *     (ZᵀZ + λ I) W = Zᵀ (Y_train - b)          W (F, K), by Cholesky,
 * and a row x is predicted as y = b + z(x) W. */
typedef struct Ridge {
    size_t F, K;
    Standardizer scale;     /* of the training rows */
    double *W;              /* (F, K) */
    double *bias;           /* (K) */
    double lambda;          /* the λ chosen */
    double val_mse;         /* its validation MSE, the mean over n_val K entries (NaN if n_val = 0) */
} Ridge;
/* Fits W for each of the count values in lambdas (NULL: ridge_lambdas, count ignored) and
 * keeps the one whose validation predictions have the lowest MSE against Y_val, ties to the
 * larger λ. Needs n_val >= 1 unless a single λ is given. RR_OK, or RR_ERR_FORMAT with the
 * problem in err (empty or non-finite input, Y not one-hot in blocks for BCE / CE, no λ whose
 * system is positive definite); r then holds nothing to free. */
int ridge_fit(Ridge *r, const DownstreamProblem *p, const double *lambdas, size_t count, char *err);
/* out (n, K): the predictions for the n rows of X (n, F). */
void ridge_predict(const Ridge *r, const real *X, size_t n, double *out);
void ridge_free(Ridge *r);

/* The MLP predictor of SPEC.md §6.3: F -> hidden -> ... -> K with ReLU (models/nn.c's Mlp,
 * "mlp.0", "mlp.2", ...) on the standardised features, trained with AdamW in shuffled
 * mini-batches (the last one of an epoch smaller); after every epoch the validation loss;
 * training stops when `patience` epochs in a row bring no lower validation loss, or after
 * max_epochs, and the weights of the epoch with the lowest one are kept. */
typedef struct MlpPredictorConfig {
    size_t hidden, hidden_layers;          /* 64, 2 */
    size_t batch, max_epochs, patience;    /* 64, 200, 20 */
    AdamW opt;                             /* lr 1e-3; torch's betas, eps and weight decay 0.01 */
} MlpPredictorConfig;
MlpPredictorConfig mlp_predictor_config_paper(void);

typedef struct MlpPredictor {
    MlpPredictorConfig cfg;
    size_t F, K, blocks;
    PredictorLoss loss;
    Standardizer scale;        /* of the training rows */
    ParamSet params;
    Mlp mlp;
    size_t epochs;             /* epochs trained */
    size_t best_epoch;         /* whose weights are kept (0: none beat the initial weights' +inf) */
    double best_val_loss;
} MlpPredictor;
/* The loss of outputs out (B, K) against target rows Y (B, K): MSE: mean over B K of
 * (out - y)^2; BCE: op_bce_logits, mean over B K; CE: op_cross_entropy over the B blocks
 * rows of each block's logits, labels the argmax of Y there, mean over those rows. */
Tensor *predictor_loss(Tape *t, PredictorLoss loss, size_t blocks, Tensor *out, const double *Y);
/* Trains a new predictor on p (needs n_val >= 1); initialisation and shuffles draw from rng,
 * so the same rng state gives bit-identical weights. RR_OK, or RR_ERR_FORMAT as ridge_fit
 * (m then holds nothing to free). */
int mlp_predictor_fit(MlpPredictor *m, const MlpPredictorConfig *cfg, const DownstreamProblem *p, Rng *rng,
                      char *err);
/* out (n, K): the outputs for the n rows of X (n, F): values (MSE) or logits (BCE, CE). */
void mlp_predictor_predict(const MlpPredictor *m, const real *X, size_t n, double *out);
void mlp_predictor_free(MlpPredictor *m);

/* The supervised baseline of SPEC.md §6.5, the part that runs models: an encoder with the
 * predictor's MLP head, head(E(θ) / |E(θ)|) (E -> 64 -> 64 -> K, "head.mlp.0", "head.mlp.2",
 * "head.mlp.4"), trained end to end on one target with AdamW on both networks, each one's
 * gradient clipped to `clip` separately, and permutation augmentation (one pair of
 * permutations per batch) for encoders that are not invariant. */
typedef struct SupervisedModel {
    Encoder enc;
    ParamSet head_params;
    Mlp head;
    AdamW opt;
    double clip;
    PredictorLoss loss;
    size_t K, blocks;
    int augment;
    Tape tape;
} SupervisedModel;
/* The encoder of ec, then the head to K outputs, initialised from rng in that order. */
void supervised_model_init(SupervisedModel *m, const EncoderConfig *ec, size_t K, PredictorLoss loss, size_t blocks,
                           const AdamW *opt, double clip, Rng *rng);
void supervised_model_free(SupervisedModel *m);
/* One AdamW step on θ (B, P) against the targets Y (B, K); the permutations, then dropout,
 * draw from rng. Returns the loss before the step. */
double supervised_model_step(SupervisedModel *m, const real *theta, const double *Y, size_t B, Rng *rng);
/* The loss of θ (B, P) against Y (B, K) without training (no permutation, no dropout), and
 * the outputs (values or logits) into out (B, K) unless NULL. */
double supervised_model_eval(SupervisedModel *m, const real *theta, const double *Y, size_t B, double *out);

/* --- Metrics (models/downstream_metrics.c). Each is a double computed in double; an
 * undefined one (no rows, a constant truth) is NaN. ------------------------------------- */
/* The constant predictor (SPEC.md §6.6): out (K) = the column means of Y (n, K), n >= 1, the
 * same prediction for every row. For one-hot blocks its argmax is the majority class. */
void constant_predictor(const double *Y, size_t n, size_t K, double *out);
/* labels (n, blocks): per row and block, the index of the largest of the block's classes
 * scores (the first one on ties); scores (n, blocks classes). */
void block_argmax(const double *scores, size_t n, size_t blocks, size_t classes, int32_t *labels);
/* Labels (n, blocks): the share of rows whose blocks are all right (exact match), and the
 * share of right (row, block) pairs (= the mean per-block accuracy). blocks = 1: both are
 * the plain accuracy. */
double exact_match_accuracy(const int32_t *truth, const int32_t *pred, size_t n, size_t blocks);
double block_accuracy(const int32_t *truth, const int32_t *pred, size_t n, size_t blocks);
/* R^2 = 1 - Σ (y - ŷ)^2 / Σ (y - mean y)^2 over the n rows given (the evaluated split). */
double r_squared(const double *truth, const double *pred, size_t n);
/* Kendall's τ-b of n pairs (x_i, y_i), O(n log n) (Knight 1966); see downstream_metrics.c.
 * NaN also when a value is not finite. */
double kendall_tau_b(const double *x, const double *y, size_t n);
/* An angle as the regression target (sin a, cos a) and back: atan2 in degrees, in [0, 360). */
void angle_to_sincos(double degrees, double out[2]);
double angle_from_sincos(double sin_a, double cos_a);
/* The mean over n angle pairs of the circular distance min(d, 360 - d) in degrees, where
 * d = |a - b| mod 360: in [0, 180]. */
double circular_mae(const double *truth_degrees, const double *pred_degrees, size_t n);

/* ------------------------------------------------------------------------------------------
 * Statistics of a report (models/statistics.c), in double: principal components of embeddings
 * and the bootstrap confidence interval of a mean over seeds.
 * ---------------------------------------------------------------------------------------- */
/* PCA of n >= 1 rows X (n, F): mean (F) = Σ_i x_i / n; the covariance
 * C = Σ_i (x_i - mean)(x_i - mean)ᵀ / n (F, F); its k <= F leading eigenvectors, by cyclic
 * Jacobi rotations, as the rows of components (k, F), unit length, eigenvalues descending
 * (ties to the lower index) in variance (k); each row's sign makes its largest-magnitude
 * entry positive (the first of equal ones), so the result does not depend on the machine. */
void pca_fit(const double *X, size_t n, size_t F, size_t k, double *mean, double *components, double *variance);
/* out (n, k): out_ic = Σ_j (x_ij - mean_j) components_cj. */
void pca_project(const double *X, size_t n, size_t F, size_t k, const double *mean, const double *components, double *out);
/* The percentile bootstrap of the mean of x (n >= 1): `resamples` means of n values drawn from
 * x with replacement (rng_below), then the levels (1 - level) / 2 and (1 + level) / 2 of those
 * means as quantiles_of interpolates them, into lo and hi; n = 1 gives lo = hi = x[0] (and
 * draws nothing). Returns the mean of x. level in (0, 1), e.g. 0.95. */
double bootstrap_mean_ci(const double *x, size_t n, size_t resamples, double level, Rng *rng, double *lo, double *hi);

/* ------------------------------------------------------------------------------------------
 * Files (zoo/): .npy, IDX, JSON, safetensors, CSV, SVG.
 * ---------------------------------------------------------------------------------------- */
/* Each function returns RR_OK or an RR_ERR_* code with "<path>: <problem>" in err (see rr_error). */
/* --- float16 (IEEE binary16), bit-exact with NumPy's npy_floatbits_to_halfbits,
 * npy_doublebits_to_halfbits and npy_halfbits_to_floatbits: round to nearest even, gradual
 * underflow to subnormals, overflow (|x| >= 65520) to inf; a NaN keeps the top 10 bits of
 * its payload, and is forced to 0x7c01 when those are all zero, so it stays a NaN. -------- */
uint16_t half_from_float(float x);
uint16_t half_from_double(double x);    /* rounds once, directly from the double */
float half_to_float(uint16_t h);        /* exact; NaN payloads are kept */

/* --- NumPy .npy. File = "\x93NUMPY", major, minor, header length (uint16 LE in version 1.0,
 * uint32 LE in 2.0 / 3.0), then a Python dict literal such as
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and a final '\n' so that the data starts at a multiple of 64, then the
 * raw little-endian data in C order. NumPy (>= 1.23) also pads the dict with 21 - digits of
 * shape[0] spaces, so shape[0] can be rewritten in place as an array grows: npy_write and
 * npy_create write exactly those bytes (e.g. the 128-byte header of a (N, 13766) <f4 zoo
 * file), so an appended file is byte-identical to np.save of the final array. -------------- */
typedef enum NpyDtype { NPY_F4, NPY_F8, NPY_F2, NPY_I2, NPY_I4, NPY_I8, NPY_U1, NPY_DTYPE_COUNT } NpyDtype;
extern const char *const npy_descr[NPY_DTYPE_COUNT];   /* "<f4", "<f8", "<f2", ..., "|u1" */
size_t npy_dtype_size(NpyDtype dtype);                  /* bytes per element */

#define NPY_MAXDIM 8
#define NPY_ANY ((size_t)-1) /* wildcard dimension for npy_expect */

typedef struct NpyArray {
    NpyDtype dtype;
    int ndim;                  /* 0 .. NPY_MAXDIM; a 0-d array holds one element */
    size_t shape[NPY_MAXDIM];
    size_t count;              /* product of shape */
    void *data;                /* count elements in host byte order, owned; NULL in headers */
} NpyArray;

/* A zero-filled array of this dtype and shape (a shape whose size overflows is fatal). */
void npy_alloc(NpyArray *a, NpyDtype dtype, int ndim, const size_t *shape);
void npy_free(NpyArray *a);
/* Read a whole file (versions 1.0, 2.0, 3.0; the dtypes above; C order). Bytes after the data
 * are ignored, as NumPy does; too few bytes are an error. */
int npy_read(const char *path, NpyArray *a, char *err);
/* Write atomically (path.tmp, then rename), byte-identical to np.save; version 1.0 unless the
 * header needs 2.0. */
int npy_write(const char *path, const NpyArray *a, char *err);
/* RR_OK if a has this dtype, ndim and shape (NPY_ANY matches any size); otherwise a message
 * such as "zoo/tasks.npy: expected <i8 (any, 4), found <f8 (900, 1)". shape may be NULL. */
int npy_expect(const NpyArray *a, const char *path, NpyDtype dtype, int ndim, const size_t *shape,
               char *err);
void npy_shape_str(int ndim, const size_t *shape, char *buf, size_t len); /* "(3, 4)", "(5,)", "()" */

/* Conversions between stored elements (host byte order) and program values. Float to
 * integer truncates toward zero as NumPy's astype, saturates, and maps NaN to 0; to float16
 * rounds to nearest even; integers to float round to nearest. */
void npy_to_real(NpyDtype dtype, const void *src, size_t n, real *dst);
void npy_from_real(NpyDtype dtype, const real *src, size_t n, void *dst);
void npy_to_i64(NpyDtype dtype, const void *src, size_t n, int64_t *dst);
void npy_from_i64(NpyDtype dtype, const int64_t *src, size_t n, void *dst);
void npy_to_i32(NpyDtype dtype, const void *src, size_t n, int32_t *dst);
void npy_from_i32(NpyDtype dtype, const int32_t *src, size_t n, void *dst);

/* An open .npy file, for arrays too large to read at once and for growing a file row by row
 * (a row is one index along dim 0; ndim >= 1). Appending writes the rows first and then
 * rewrites shape[0] in the header in place, so a reader sees only complete rows. */
typedef struct NpyFile {
    FILE *fp;
    char *path;                /* owned copy, for messages */
    NpyArray array;            /* dtype, ndim, shape (shape[0] = rows so far), count; no data */
    size_t header_bytes;       /* offset of the data */
    size_t row_bytes;          /* bytes of one row */
    int version;               /* format major version: 1, 2 or 3 */
    int writable;
} NpyFile;

int npy_open(NpyFile *f, const char *path, char *err);            /* read and check the header */
/* Rows [first, first + n) into dst (n * row_bytes bytes), in host byte order. */
int npy_read_rows(NpyFile *f, size_t first, size_t n, void *dst, char *err);
/* A new file of shape (0, shape[1], ..., shape[ndim-1]) (shape[0] is ignored), header as np.save. */
int npy_create(NpyFile *f, const char *path, NpyDtype dtype, int ndim, const size_t *shape, char *err);
/* Reopen an existing file to append after its last complete row (any header length, e.g. the
 * official zoos' npy-append-array files); bytes after that row are overwritten. */
int npy_open_append(NpyFile *f, const char *path, char *err);
/* Append n rows (n * row_bytes bytes, host byte order), then rewrite shape[0] in place. */
int npy_append(NpyFile *f, const void *rows, size_t n, char *err);
int npy_close(NpyFile *f, char *err);                             /* always releases f */

/* --- IDX (MNIST): bytes 0, 0, type, ndim; ndim big-endian uint32 sizes; the data. Only
 * type 0x08 (unsigned byte) is read: images 0x00000803 (N, rows, cols), labels 0x00000801 (N).
 * The file must hold exactly the data the header announces. ---------------------------- */
typedef struct IdxArray {
    int ndim;                  /* 1 .. 4 */
    size_t shape[4];
    size_t count;              /* product of shape */
    uint8_t *data;             /* owned */
} IdxArray;

int idx_read(const char *path, IdxArray *a, char *err);
void idx_free(IdxArray *a);
/* An MNIST pair: images (N, rows, cols) and labels (N) in 0..9 with the same N. */
int idx_read_mnist(const char *images_path, const char *labels_path, IdxArray *images,
                   IdxArray *labels, char *err);

/* --- JSON files: one object of scalars, lists and lists of rows, as Python's json.dump writes it,
 *     {"seed": 1, "lr": 0.01, "name": "fl", "store": true, "task": [0, -3, 2], "m": [[1, 2]]}
 * Doubles use the shortest digits that read back exactly, as Python's repr (NaN and
 * Infinity as Python writes them). The file appears atomically at json_end. -------------- */
typedef struct JsonWriter {
    FILE *fp;
    char *path, *tmp_path;     /* owned */
    size_t members;            /* members written so far */
    int failed;                /* a write failed; reported by json_end */
} JsonWriter;

int json_begin(JsonWriter *w, const char *path, char *err);     /* creates path.tmp, writes "{" */
void json_string(JsonWriter *w, const char *key, const char *value);
void json_int(JsonWriter *w, const char *key, int64_t value);
void json_double(JsonWriter *w, const char *key, double value);
void json_bool(JsonWriter *w, const char *key, int value);
void json_ints(JsonWriter *w, const char *key, const int64_t *values, size_t n);
void json_doubles(JsonWriter *w, const char *key, const double *values, size_t n);
/* values (rows, cols) as a list of rows: "key": [[0, -3, 2, 1], [0, -3, 2, 2]] */
void json_int_rows(JsonWriter *w, const char *key, const int64_t *values, size_t rows, size_t cols);
int json_end(JsonWriter *w, char *err);   /* "}", close, rename over path; always releases w */
/* Whether two objects as JsonWriter writes them differ; if so the key of the first member
 * of a that b lacks or holds with another value (else of b that a lacks) goes into key. */
int json_first_difference(const char *a, const char *b, char *key, size_t len);
/* The value of member `key` of the object in text (as JsonWriter writes one) into value (len
 * bytes, cut to fit): a string unquoted and unescaped, anything else as written ("12",
 * "0.5", "true", "[1, 2]"). Returns 1, or 0 (value empty) when there is no such member. */
int json_member_text(const char *object, const char *key, char *value, size_t len);
/* The text json_double writes for x, into buf (at least 32 bytes). */
void json_format_double(double x, char *buf, size_t len);

/* --- safetensors (checkpoints, SPEC.md §9; zoo/safetensors.c): a little-endian uint64 N,
 * N bytes of JSON, then the data section, little-endian and C order:
 *     {"__metadata__":{"step":"100"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}
 * Offsets are relative to the data section, which the tensors tile exactly. Dtypes F32 F64
 * F16 I64 I32 I16 U8 are held as NPY_F4 NPY_F8 NPY_F2 NPY_I8 NPY_I4 NPY_I2 NPY_U1. Files are
 * byte-identical to safetensors.torch.save_file of the same tensors (metadata with several
 * pairs aside: the reference orders those at random, we by key), and load in PyTorch. ----- */
typedef struct SafetensorsTensor {
    const char *name;           /* UTF-8, unique, not "__metadata__" */
    NpyDtype dtype;
    int ndim;                   /* 0 .. NPY_MAXDIM; 0-d holds one element */
    size_t shape[NPY_MAXDIM];
    size_t count;               /* product of shape: set by the reader, ignored by the writer */
    /* The elements. Reader: in host byte order inside the file's data buffer, NOT necessarily
     * aligned for the dtype: read them with npy_to_real / npy_to_i64 / npy_to_i32 (bytewise).
     * Writer: give exactly one of data (count elements of dtype, host byte order) or values
     * (count reals, converted to dtype by npy_from_real while writing, without a copy). */
    const void *data;
    const real *values;         /* writer only; NULL in what the reader returns */
} SafetensorsTensor;

typedef struct SafetensorsPair { const char *key, *value; } SafetensorsPair; /* "__metadata__" */

typedef struct Safetensors {
    char *path;                     /* for messages */
    SafetensorsTensor *tensors;     /* count, in data-section order */
    size_t count;
    SafetensorsPair *metadata;      /* metadata_count pairs, in header order */
    size_t metadata_count;
    SafetensorsTensor **by_name;    /* the tensors sorted by name, for safetensors_find */
    char *strings;                  /* owns every name, key and value */
    unsigned char *bytes;           /* owns the data section */
} Safetensors;

/* Writes the tensors and metadata (metadata_count 0: no "__metadata__") atomically (path.tmp,
 * then rename) as the reference does: data ordered by dtype (I64, F64, F32, I32, F16, I16, U8)
 * then name, header without spaces and padded with spaces to a multiple of 8, metadata pairs
 * sorted by key. Bad entries (duplicate or reserved names, invalid UTF-8, a missing data
 * pointer, a size that overflows) are an RR_ERR_FORMAT naming the tensor; no file is made. */
int safetensors_write(const char *path, const SafetensorsTensor *tensors, size_t count,
                      const SafetensorsPair *metadata, size_t metadata_count, char *err);
/* Reads a whole file after validating all of it against the file size: header length (at
 * most 100,000,000), strict JSON (objects, arrays, strings with escapes, integers; nothing
 * after the object but spaces), names, keys and members unique, dtypes known, shapes'
 * byte sizes without overflow and equal to their offsets' span, and the tensors covering the
 * data section without overlaps or holes. Any violation: RR_ERR_FORMAT "<path>: <what>",
 * naming the tensor; a valid dtype other than ours, more than NPY_MAXDIM dimensions or a
 * \u0000 in a string: RR_ERR_UNSUPPORTED. Release with safetensors_free. */
int safetensors_read(const char *path, Safetensors *st, char *err);
void safetensors_free(Safetensors *st);
const SafetensorsTensor *safetensors_find(const Safetensors *st, const char *name); /* NULL if absent */
const char *safetensors_metadata(const Safetensors *st, const char *key);         /* NULL if absent */
/* Tensor name, which must have exactly this shape, converted (npy_to_real) into dst (count
 * reals). RR_ERR_FORMAT "<path>: no tensor 'x'" or "...: tensor 'x' has shape (3,), expected (4,)". */
int safetensors_load_real(const Safetensors *st, const char *name, int ndim, const size_t *shape, real *dst,
                          char *err);
const char *safetensors_dtype_name(NpyDtype dtype);  /* "F32", "F64", "F16", "I16", "I32", "I64", "U8" */

/* --- CSV tables of experiments (zoo/csv.c): a header line, rows of comma-separated fields
 * (a step first, or a key of several fields), "\n" line ends; doubles as json_format_double
 * writes them. A table is kept in memory and written whole, atomically. -------------------- */
typedef struct Csv { char *text; size_t len, cap; } Csv;
void csv_init(Csv *c, const char *header);            /* the header line alone */
void csv_free(Csv *c);
void csv_printf(Csv *c, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void csv_double(Csv *c, double x, const char *end);   /* x, then end ("," or "\n") */
/* The table at path (header checked) with only its complete rows whose step is <= max_step;
 * a missing file gives the header alone. */
int csv_load_upto(Csv *c, const char *path, const char *header, int64_t max_step, char *err);
/* The whole table at path (header checked; a missing file gives the header alone), for a
 * keyed table whose rows need not begin with a step. */
int csv_load(Csv *c, const char *path, const char *header, char *err);
/* Puts row (a complete line, with its "\n") into the table: in the place of the row whose
 * first key_fields fields are row's, or else at the end. */
void csv_put(Csv *c, const char *row, size_t key_fields);
int csv_write(const Csv *c, const char *path, char *err);   /* path.tmp, then rename */
/* A table read whole, for reading results back: the header's names and every complete row's
 * fields as text (fields hold no commas; no quoting). A torn last line is dropped; a row with
 * another number of fields than the header is an RR_ERR_FORMAT naming its line. */
typedef struct CsvTable {
    size_t cols, rows;         /* fields per line; rows after the header */
    char **field;              /* ((rows + 1) cols) pointers into text: the header, then the rows */
    char *text;                /* owned */
} CsvTable;
int csv_read(const char *path, CsvTable *t, char *err);
void csv_table_free(CsvTable *t);
size_t csv_column(const CsvTable *t, const char *name);           /* its index, or SIZE_MAX */
const char *csv_field(const CsvTable *t, size_t row, size_t col); /* row 0 = the first after the header */

/* --- SVG figures (zoo/svg.c), the pictures of SPEC.md §10: standalone files (no scripts, no
 * external references) with a figure title and a grid of panels, each with axes, nice ticks,
 * axis labels, a title, and a legend and/or a colour bar. Series copy their data when added;
 * points with a NaN or infinite coordinate (beyond +-1e300, or y < 1e-300 on a log axis) are
 * skipped, a line breaks there, a heat-map cell stays blank. Every point drawn lies inside the
 * axes: ranges are taken from the data (bars also include 0 and their whiskers) and widened to
 * nice ticks. Colours follow names: the k-th distinct name of the figure (series or class) gets
 * colour k mod 10 of a categorical palette, in every panel.
 *
 *     SvgFigure fig;
 *     svg_begin(&fig, "Emulation loss", 2, 1);                   // 2 columns, 1 row
 *     SvgPanel *p = svg_panel(&fig, 0, "validation", "step", "loss");
 *     svg_log_y(p);
 *     svg_line(p, "interactive", steps, loss, n);                // one per encoder
 *     ...
 *     int rc = svg_write(&fig, "figures/loss.svg", err);
 *     svg_free(&fig);
 * ---------------------------------------------------------------------------------------- */
typedef enum SvgColourMap {
    SVG_VIRIDIS, /* sequential, dark purple -> yellow (matplotlib's viridis) */
    SVG_CYCLIC   /* wraps: t and t + 1 give one colour (angles); light, blue, dark, red, light */
} SvgColourMap;

typedef struct SvgPanel SvgPanel;   /* opaque; owned by its figure, which must not be moved */
typedef struct SvgFigure {
    char *title;
    int cols, rows;                   /* the grid of panels; panel index = row * cols + col */
    double panel_width, panel_height; /* pixels per grid cell: 440 x 330 unless changed before svg_write */
    SvgPanel *panels;                 /* cols * rows */
    char **names;                     /* series names in order of first use (their colours) */
    size_t name_count;
} SvgFigure;

void svg_begin(SvgFigure *fig, const char *title, int cols, int rows);
void svg_free(SvgFigure *fig);
/* Panel index (0 .. cols * rows - 1) with its title and axis labels; a grid cell never asked
 * for stays blank. */
SvgPanel *svg_panel(SvgFigure *fig, int index, const char *title, const char *xlabel, const char *ylabel);
void svg_log_y(SvgPanel *p);                   /* log-scale y: ticks 10^k, or 1, 2, 5 x 10^k */
/* The axes cover at least [x0, x1] x [y0, y1] (a NaN bound asks nothing), e.g. 0..1 for accuracy. */
void svg_include(SvgPanel *p, double x0, double x1, double y0, double y1);
/* Category axes: ticks at 0 .. n-1 named names[i]; the axis spans [-0.5, n - 0.5] (and any
 * point beyond). Long x names are written at a slant. */
void svg_x_categories(SvgPanel *p, const char *const *names, size_t n);
void svg_y_categories(SvgPanel *p, const char *const *names, size_t n);
/* The panel's colour bar, for svg_scatter_values and svg_heatmap: values lo .. hi map to the
 * ends of the map (NaN: the data's min / max; lo > hi reverses the map); SVG_VIRIDIS clamps
 * outside, SVG_CYCLIC wraps (e.g. 0 .. 360 for angles). Without this call: viridis over the
 * data, unlabelled. Dots and cells are painted in 64 shades of the map. */
void svg_colour_scale(SvgPanel *p, SvgColourMap map, const char *label, double lo, double hi);

/* Series; x, y and v hold n values each. x may be NULL (then x = 0 .. n-1); name may be NULL
 * (no legend entry). On an x axis with categories, bars or a heat map, x is a category index. */
void svg_line(SvgPanel *p, const char *name, const double *x, const double *y, size_t n);
void svg_line_marked(SvgPanel *p, const char *name, const double *x, const double *y, size_t n); /* + a dot per point */
void svg_scatter(SvgPanel *p, const char *name, const double *x, const double *y, size_t n);
/* Point i coloured by its class cls[i] in 0 .. classes-1 (another value skips it); the legend
 * names the classes that occur. */
void svg_scatter_classes(SvgPanel *p, const double *x, const double *y, const int *cls, size_t n,
                         const char *const *class_names, size_t classes);
/* Point i coloured by value v[i] through the panel's colour scale. */
void svg_scatter_values(SvgPanel *p, const char *name, const double *x, const double *y, const double *v, size_t n);
/* Bar i at x = i (a category) from 0 to value[i], with a whisker lo[i] .. hi[i] unless lo or
 * hi is NULL (or the bound NaN). The bar series of a panel stand side by side in each category. */
void svg_bars(SvgPanel *p, const char *name, const double *value, const double *lo, const double *hi, size_t n);
/* values (rows, cols): cell (i, j) is a rectangle centred at x = j, y = i, row 0 at the top,
 * coloured through the panel's colour scale. */
void svg_heatmap(SvgPanel *p, const double *values, size_t rows, size_t cols);
/* The reference line y = x (dashed), over x and y axes made equal (both linear). */
void svg_diagonal(SvgPanel *p);
/* Writes the figure atomically (path.tmp, then rename). RR_OK or RR_ERR_OPEN / RR_ERR_IO
 * with "<path>: <problem>". */
int svg_write(const SvgFigure *fig, const char *path, char *err);

/* Colour map at t (0 = first colour, 1 = last; SVG_VIRIDIS clamps, SVG_CYCLIC wraps), by
 * linear interpolation between the map's control points, each channel rounded to 0..255. */
void svg_colour(SvgColourMap map, double t, unsigned char rgb[3]);

/* Nice ticks for data in [lo, hi] (lo <= hi, both within +-1e300; lo >= 1e-300 when log),
 * as every axis and colour bar uses them. Linear: the step s = 1, 2 or 5 x 10^k is the
 * smallest giving at most 6 intervals; unless fixed, the axis widens to [floor(lo / s) s,
 * ceil(hi / s) s]; ticks at the multiples of s on the axis: [0, 0.93] -> 0, 0.2, .., 1.0.
 * Fixed keeps [lo, hi] as the axis. Log (never fixed): ticks at 10^k (every m-th decade
 * beyond 6), else at 1, 2, 5 x 10^k, else at 1..9 x 10^k, the first giving 4 ticks or more,
 * the axis from the tick at or below lo to the tick at or above hi: [0.013, 0.051] -> 0.01,
 * 0.02, 0.05, 0.1. A range too narrow to tick (lo == hi) is widened first. Labels share
 * their decimals ("0.0", "0.2"); steps from 1000 with values from 10^4 read "5k", "20k"
 * (steps from 10^6: "2M"); steps below 10^-3 and values from 10^15 read "2e-4", "1e20". */
#define SVG_MAX_TICKS 12
typedef struct SvgTicks {
    double lo, hi;                      /* the axis range */
    size_t n;
    double at[SVG_MAX_TICKS];
    char label[SVG_MAX_TICKS][24];
} SvgTicks;
void svg_ticks(double lo, double hi, int log, int fixed, SvgTicks *t);

/* ------------------------------------------------------------------------------------------
 * Task families (zoo/): formal languages and tiled rotated sequential MNIST.
 * ---------------------------------------------------------------------------------------- */
/* Formal languages (SPEC 2.1). Tokens a, b, c, d = 0..3, BOS = 4, EOS = 5. A task is the
 * vector of occurrence differences t = (0, m_b, m_c, m_d), each m in {-3..2}; its language is
 *   L_t = { a^n b^(n+m_b) c^(n+m_c) d^(n+m_d) : n >= max(0, -min t) }.
 * A string is BOS followed by 41 slots: the letters in order, then EOS up to the end. */
#define LANG_LETTERS 4          /* a, b, c, d */
#define LANG_BOS 4
#define LANG_EOS 5
#define LANG_TOKENS 6           /* one-hot width I = O of the zoo RNN */
#define LANG_LENGTH 42          /* BOS + 41 slots */
#define LANG_MAX_N 9            /* training strings draw n from {max(0, -min t) .. 9} */
#define LANG_NUM_TASKS 216      /* 6^3 */

/* Task number k in 0..215, lexicographic in (m_b, m_c, m_d) (the order of np.unique):
 * m_b = k / 36 - 3, m_c = (k / 6) % 6 - 3, m_d = k % 6 - 3. */
void lang_task(size_t k, int t[4]);
size_t lang_task_index(const int t[4]);   /* the inverse; t must be a valid task */
/* The training string of L_t with n a's: BOS, then a^n b^(n+m_b) c^(n+m_c) d^(n+m_d) written
 * into the 41 slots and cut off after the 41st (n = 9 and m_b+m_c+m_d >= 5 leaves no room for
 * EOS; only t = (0,2,2,2) loses a letter), then EOS in every slot left. */
void lang_string(const int t[4], int n, int16_t out[LANG_LENGTH]);
/* n uniform in {max(0, -min t) .. LANG_MAX_N}, then lang_string. Returns n. */
int lang_sample_string(Rng *rng, const int t[4], int16_t out[LANG_LENGTH]);
/* seq[0] is the BOS slot and is never inspected (released zoos may hold 5 there). */
int lang_finished(const int16_t *seq, size_t len);   /* an EOS somewhere in seq[1..len-1] */
/* The official accuracy check: finished, and the letter counts c before the first EOS satisfy
 * c_k - t_k equal for all k. Ignores letter order and stray BOS tokens. */
int lang_accepts(const int t[4], const int16_t *seq, size_t len);
/* Membership in L_t: finished, and the tokens before the first EOS are exactly
 * a^n b^(n+m_b) c^(n+m_c) d^(n+m_d) for some n (any n; the order is checked). */
int lang_accepts_strict(const int t[4], const int16_t *seq, size_t len);
/* The OOD criterion: s = 1 + t - min t, p = s / sum s, H = -sum_k p_k log(p_k + 1e-6).
 * Summed over the sorted s, so tasks with equal multisets of s get bit-identical values. */
double lang_task_entropy(const int t[4]);

/* Splits by task (SPEC 2.4), picking the same tasks as the official code. Given one finite
 * criterion value per unique task (formal languages: lang_task_entropy; MNIST: the angle), in
 * np.unique order, n tasks:
 *   sorted    = task indices by ascending criterion, ties by index (a stable sort);
 *   num_train = (size_t)(n * (1 - 0.15 - 0.15)), num_val = (size_t)(n * 0.15), products in
 *               double as the official int(...) (1 - 0.15 - 0.15 == 0.7 exactly), num_ood = rest;
 *   perm      = numpy_permutation(1, num_train + num_val);
 *   train     = sorted[perm[0 .. num_train)],  val = sorted[perm[num_train .. num_train + num_val)],
 *   ood       = sorted[num_train + num_val .. n)  (ascending criterion);
 *   downstream (the predictors of SPEC 6): perm2 = numpy_permutation(2, num_ood),
 *   keep = num_ood / 2, downstream_ood = ood[perm2[0 .. keep)],
 *   downstream_train = train followed by ood[perm2[keep .. num_ood)]; val stays val.
 * 216 tasks: 151 / 32 / 33, downstream 168 / 16; 1000 angles: 700 / 150 / 150, downstream 775 / 75. */
typedef enum TaskSplit { SPLIT_TRAIN = 0, SPLIT_VALID = 1, SPLIT_OOD = 2 } TaskSplit;
#define SPLIT_VALID_RATIO 0.15
#define SPLIT_OOD_RATIO 0.15
/* split (n): train / val / OOD of each task; with downstream set, the downstream assignment
 * instead (train + moved OOD tasks are SPLIT_TRAIN, downstream_ood SPLIT_OOD). */
void task_split(const double *criterion, size_t n, int downstream, TaskSplit *split);

/* The five task lists above, in that order; the keys of splits.json (SPEC 9) are
 * "train", "val", "ood", "downstream_train", "downstream_ood". */
typedef enum SplitList {
    LIST_TRAIN, LIST_VAL, LIST_OOD, LIST_DOWNSTREAM_TRAIN, LIST_DOWNSTREAM_OOD, SPLIT_LISTS
} SplitList;

/* The splits of a zoo's N rows. tasks (N, w) holds the rows of tasks.npy as doubles:
 *   w = 4: formal languages, each row (0, m_b, m_c, m_d) with m in -3..2; criterion the entropy;
 *   w = 1: MNIST, each row a finite angle in degrees; criterion the angle.
 * Two rows are the same task iff their w doubles compare equal (==, so 0.0 and -0.0 are one
 * task, stored as its first row). Unique tasks are in np.unique(tasks, axis=0) order:
 * lexicographic over the w columns. */
typedef struct TaskSplits {
    size_t rows, width, tasks;   /* N, w, n unique tasks */
    double *task;                /* (n, w) the unique tasks */
    double *criterion;           /* (n) */
    size_t *row_task;            /* (N) index of each row's task in task */
    TaskSplit *row_split;        /* (N) train / val / OOD */
    TaskSplit *row_downstream;   /* (N) downstream: train / val / OOD (the OOD half kept) */
    size_t *list[SPLIT_LISTS];   /* indices into task, in the order above; list[0] owns the
                                  * buffer that all five point into */
    size_t count[SPLIT_LISTS];
} TaskSplits;

/* RR_OK, or RR_ERR_UNSUPPORTED (w not 1 or 4) / RR_ERR_FORMAT (a row that is no task of its
 * family) with "<source>: <problem>" in err, s then left empty; source names the rows (the
 * path of tasks.npy). N = 0 gives an empty split. */
int task_splits_init(TaskSplits *s, const double *tasks, size_t N, size_t width, const char *source,
                     char *err);
void task_splits_free(TaskSplits *s);
/* splits.json: one member per list, e.g. {"train": [[0, -3, 2, 1], ...], "val": ...} for formal
 * tasks and {"train": [123.5, ...], ...} for angles, each list in the order above. Atomic. */
int splits_write_json(const TaskSplits *s, const char *path, char *err);

/* Tiled rotated sequential MNIST (SPEC 2.2). Images are 28 x 28 uint8, row-major. */
#define MNIST_SIDE 28
#define MNIST_PIXELS 784
#define MNIST_TILE 4                    /* tiles are 4 x 4 */
#define MNIST_TILE_SIZE 16              /* I of the zoo RNN */
#define MNIST_STEPS 50                  /* zero BOS tile + 49 image tiles */
#define MNIST_CLASSES 10                /* O of the zoo RNN */
#define MNIST_MEAN 0.1307
#define MNIST_STD 0.3081
#define MNIST_SPLIT_KEY 0x04095164213DD204ULL  /* HASH_KEY_1 ^ HASH_KEY_2 of the official hash64 */

/* torchvision RandomRotation([degrees, degrees]) on the PIL image: the angle is first rounded to
 * float32, then Pillow's Image.rotate(angle, NEAREST, fillcolor=0): counter-clockwise about the
 * image centre (14, 14) in pixel-edge coordinates, 16.16 fixed-point nearest neighbour. */
void mnist_rotate(const uint8_t in[MNIST_PIXELS], double degrees, uint8_t out[MNIST_PIXELS]);
/* ToTensor and Normalize in float32, (p / 255 - 0.1307) / 0.3081, cut into 49 row-major 4 x 4
 * tiles each flattened row-major, after one all-zero BOS tile: out (50, 16). */
void mnist_tiles(const uint8_t img[MNIST_PIXELS], real out[MNIST_STEPS * MNIST_TILE_SIZE]);
/* mnist_rotate then mnist_tiles: one input sequence of the zoo RNN for rotation task degrees. */
void mnist_sequence(const uint8_t img[MNIST_PIXELS], double degrees,
                    real out[MNIST_STEPS * MNIST_TILE_SIZE]);
/* Image i of the MNIST training file is a training image iff ((i ^ MNIST_SPLIT_KEY) mod 10) < 8
 * (47,998 of 60,000), else an evaluation image (12,002). */
int mnist_is_train(uint64_t index);
/* Writes the indices in 0..n-1 of one side of that split (train != 0: training) into idx
 * (room for n), in increasing order, and returns how many. */
size_t mnist_split_indices(size_t n, int train, size_t *idx);
/* The directory of the MNIST IDX files into dir (len bytes): `given` when not empty; else the
 * first of RNNREP_DATADIR/mnist10k (the copy `make install` puts in $(PREFIX)/share/rnnrep)
 * and RNNREP_SOURCEDIR/zoo/data/mnist10k (the source tree), both fixed at build time, that
 * holds the vendored images-idx3-ubyte. The error names both places and --mnist-dir. */
int mnist_find_dir(const char *given, char *dir, size_t len, char *err);

/* The digits a zoo's runs read: the IDX pair of the directory mnist_find_dir gives for
 * `given` ("" = the vendored digits), checked to be 28 x 28, with the indices of both sides
 * of the hash split. */
typedef struct MnistData {
    IdxArray images, labels;   /* (N, 28, 28), (N) */
    size_t *train, *eval;      /* indices of the hash split, increasing */
    size_t ntrain, neval;
} MnistData;
/* In dir, the official names (train-images-idx3-ubyte, train-labels-idx1-ubyte) or the
 * vendored ones (images-idx3-ubyte, labels-idx1-ubyte). */
int mnist_load(const char *given, MnistData *d, char *err);
void mnist_data_free(MnistData *d);
/* Images idx[0..n) rotated by angle: tile sequences x (n, 50, 16) and labels y (n). */
void mnist_batch(const MnistData *d, const size_t *idx, size_t n, double angle, real *x, int32_t *y);

/* ------------------------------------------------------------------------------------------
 * Model zoos (zoo/zoo_settings.c, zoo_run.c, zoo_generate.c, zoo_merge.c, zoo_info.c;
 * SPEC.md §2): many independent training runs of the zoo RNN, each on its own task, with 9
 * snapshots per run, stored in the released layout (SPEC.md §2.3).
 * Run r draws everything (task, initialisation, batches, samples) from its own RNG stream
 * seeded by (seed, r), so any slicing of the runs gives the same rows.
 * ---------------------------------------------------------------------------------------- */
typedef enum ZooKind { ZOO_KIND_FORMAL, ZOO_KIND_MNIST } ZooKind;
extern const char *const zoo_kind_names[2];  /* "formal_languages", "sequential_mnist" (args.json, config.json) */
/* The kind of the zoo in dir, from its bookkeeping file (num_step_correct.npy: formal
 * languages; num_step.npy: MNIST); RR_ERR_OPEN when neither is there. */
int zoo_detect_kind(const char *dir, ZooKind *kind, char *err);
#define ZOO_SNAPSHOTS 9

typedef struct ZooSettings {
    ZooKind kind;
    char preset[16];                 /* "paper", "small", "tiny" or "custom" */
    size_t runs;                     /* paper: 1000 */
    size_t steps;                    /* paper: 20000 (20,001 updates; the last snapshot's step) */
    size_t snapshot[ZOO_SNAPSHOTS];  /* paper: 0 100 200 500 1000 2000 5000 10000 20000 */
    size_t batch;                    /* 32 */
    size_t samples;                  /* formal: sequences sampled for the accuracy (1000) */
    size_t stored;                   /* rollouts / images stored per snapshot (100) */
    size_t eval_batches, eval_batch; /* MNIST: up to 13 batches of 1000 images per metric */
    uint64_t seed;
    char mnist_dir[512];             /* MNIST IDX directory; "" = the vendored digits (mnist_find_dir) */
} ZooSettings;

/* The named preset's settings (snapshot steps scaled with the steps). */
int zoo_settings_preset(ZooSettings *s, ZooKind kind, const char *preset, char *err);
/* Snapshot steps: the paper's 0 100 200 500 1000 2000 5000 10000 20000 scaled to s->steps. */
void zoo_scale_snapshots(ZooSettings *s);
/* Checks settings (snapshots increasing, last = steps, ...); RR_OK or a message. */
int zoo_settings_check(const ZooSettings *s, char *err);

/* Called after each run and during training, for progress reports. */
typedef void (*ZooProgress)(void *ctx, size_t runs_done, size_t runs_total, size_t steps_done_in_run,
                            size_t steps_per_run);

/* Runs [first, last) into dir (created if missing), appending each run's 9 rows to every file
 * when the run is complete. resume: continue a directory that holds the same settings and a
 * prefix of these runs (files that disagree are cut back to the last run all of them hold).
 * Without resume, dir must not hold a zoo already. */
int zoo_generate(const ZooSettings *s, const char *dir, size_t first, size_t last, int resume,
                 ZooProgress progress, void *progress_ctx, char *err);
/* zoo_generate split over `jobs` worker processes (zoo/zoo_jobs.c): worker j runs
 *     worker_argv... --slice A:B --out DIR/.slices/A-B --resume --parent PID
 * (worker_argv: NULL-terminated, a command of this program that generates a zoo of settings s;
 * PID: the caller's process id) for its share A:B of the runs, at the same time as the
 * others; then the slices are merged into dir (zoo_merge). Before any training: dir must not
 * hold a zoo, nor, without resume, the slices of an earlier call. If a worker fails, its
 * error is returned (RR_ERR_PROCESS, naming the slice) and nothing is merged; finished slices
 * stay for resume. */
int zoo_generate_jobs(const ZooSettings *s, const char *dir, size_t first, size_t last, size_t jobs, int resume,
                      char *const *worker_argv, char *err);
/* Concatenates zoo directories (slices of one zoo, in run order: blocks of 9 rows, run numbers
 * consecutive) into out, byte-identical to the zoo generated whole. Every slice is checked
 * whole before anything is written (its files against each other, kind, args.json and row
 * shapes against the first slice's, run numbers 0 .. INT64_MAX - 1); the zoo is written into
 * out.merging-PID beside out, checked again and renamed into place. out must not hold a zoo
 * file: it may be absent, an empty directory, or one holding other things (the --jobs DIR with
 * its .slices), into which the files are renamed one by one, args.json last. A failed merge
 * leaves nothing of the zoo behind. POSIX (getpid, rmdir). */
int zoo_merge(const char *out, const char *const *parts, size_t n, char *err);
/* Prints what a zoo holds (ours or an official release): kind, runs, snapshots, tasks, and
 * the accuracy distribution per snapshot step. */
int zoo_info(const char *dir, FILE *out, char *err);

/* A whole zoo in memory (zoo/zoo_data.c), for the jobs that learn from it; every file is
 * checked against the kind and the others (dtype, full shape, the same N rows, tokens in
 * range). Rows are snapshots in file order. */
typedef struct ZooData {
    ZooKind kind;
    ZooShape shape;
    size_t N, S, T;            /* snapshots, stored sequences per snapshot, emulator steps (41 / 50) */
    real *theta;               /* (N, P) */
    NpyArray sequences;        /* formal <i2 (N, S, 42); MNIST <f2 (N, S, 50, 16) */
    NpyArray logits;           /* <f2 (N, S, T, O): log-softmax (formal) or raw logits (MNIST) */
    double *tasks;             /* (N, task_width): (0, m_b, m_c, m_d) or the angle in degrees */
    size_t task_width;         /* 4 or 1 */
    int64_t *run, *step;       /* (N) */
    double *accuracy;          /* (N): correct / 1000 (formal) or the eval accuracy (MNIST) */
    double *gap;               /* (N) MNIST: eval loss - train loss; NULL for formal languages */
} ZooData;
int zoo_data_load(const char *dir, ZooData *z, char *err);
void zoo_data_free(ZooData *z);
/* The emulator's example for stored sequence seq of row: inputs (T, I) (formal: one-hot of
 * tokens 0..T-1 with position 0 read as BOS, SPEC.md §4; MNIST: the tiles) and targets (T, O). */
void zoo_data_example(const ZooData *z, size_t row, size_t seq, real *inputs, real *targets);

/* ------------------------------------------------------------------------------------------
 * Emulation training over a zoo (zoo/train.c, SPEC.md §2.4, §5, §9): `rnnrep train`.
 * A run directory holds config.json, splits.json, metrics.csv, cloned.csv, timing.csv,
 * best.safetensors and last.safetensors; every file appears atomically, and a run resumed
 * after being killed at any moment ends with the same bytes as one that ran through.
 * ---------------------------------------------------------------------------------------- */
typedef struct TrainSettings {
    char encoder[40];          /* an official preset name (encoder_preset) */
    char preset[16];           /* paper, small, tiny, or custom once a setting is changed */
    size_t steps;              /* the last step: steps + 1 updates (paper 100,000) */
    size_t batch;              /* 64 */
    size_t eval_every;         /* evaluate after step 0 and every eval_every steps, and at the end */
    double lr, weight_decay, clip;   /* 1e-4, 0.01, 0.1 (clipped separately per network) */
    uint64_t seed;
    EmulationLoss loss;        /* tv */
    double dropout;            /* the transformer's (0; the official presets ran 0.1) */
    int stats_configured;      /* 1: the statistics MLP as configured (3 x 768); 0: as run (1 x 128) */
    size_t hidden;             /* the encoders' MLP width (128) */
    size_t d_model, layers;    /* the transformer: width (128; FFN 4 d) and layers (6) */
    size_t channels;           /* DWSNet channels (48) */
    size_t M, L;               /* probing streams and length; 0: the encoder preset's */
    size_t core;               /* probing core width C (256) */
    size_t width;              /* emulator D (256) */
    size_t clone_snapshots;    /* cloned performance: snapshots per split (20) */
    size_t clone_samples;      /* formal languages: samples from θ and from the clone (64) */
    size_t clone_images;       /* MNIST: eval images per snapshot (1000) */
    char mnist_dir[512];       /* MNIST digits for the clone's accuracy ("" = vendored) */
} TrainSettings;
int train_settings_preset(TrainSettings *s, const char *preset, const char *encoder, char *err);
/* The encoder and emulator these settings build for a zoo shape; RR_OK or a message. */
int train_settings_configs(const TrainSettings *s, ZooShape zoo, EncoderConfig *enc, EmulatorConfig *em, char *err);

/* Called after every step (eval_line NULL) and after every evaluation (eval_line: the
 * evaluation's metrics in words). */
typedef void (*TrainProgress)(void *ctx, size_t step, size_t steps, double loss, const char *eval_line);

/* Trains s->encoder with an emulator on the zoo in zoo_dir into run_dir. resume: continue
 * the run there (its config.json must equal these settings; the differing one is named). */
int train_run(const char *zoo_dir, const char *run_dir, const TrainSettings *s, int resume, TrainProgress progress,
              void *progress_ctx, char *err);
/* The encoder of a run's best checkpoint, RUN/best.safetensors, for a zoo of this shape: built
 * with the settings its metadata records (copied into *settings unless NULL) and loaded, as
 * the run saved it. RR_OK, or a message naming the file; enc then holds nothing to free. */
int train_load_encoder(const char *run_dir, ZooShape zoo, Encoder *enc, TrainSettings *settings, char *err);
/* E(θ) / |E(θ)| for every row of the zoo with the run's best checkpoint: <f4 (N, E) at out. */
int train_embed(const char *run_dir, const char *zoo_dir, const char *out, char *err);
/* The same in memory, for the zoo z: *e (N, E), malloc'd (the caller frees it), and the
 * settings the checkpoint was trained with in s. Every encoder has E = PAPER_EMBED. */
int train_embed_zoo(const char *run_dir, const ZooData *z, real **e, TrainSettings *s, char *err);

/* A network's parameters as one .npy file, <f4 (n,), in its ParamSet's order (zoo/checkpoint.c).
 * Loading checks the count and names the file on any mismatch. */
int params_save(const ParamSet *ps, const char *path, char *err);
int params_load(ParamSet *ps, const char *path, char *err);

/* ------------------------------------------------------------------------------------------
 * Downstream prediction over a zoo (zoo/downstream.c, SPEC.md §2.4 step 4, §6, §9):
 * `rnnrep downstream`. What a run's frozen encoder tells about each zoo RNN, beside the
 * reference points and, on request, the same encoder trained on the target (supervised).
 *
 *   target    zoos      learned as (loss)                                metrics
 *   task      formal    (m_b, m_c, m_d) as 3 one-hot blocks of 6 (BCE)   exact_match, block_accuracy
 *   accuracy  both      correct / 1000, or the eval accuracy (MSE)       r2, kendall_tau
 *   angle     MNIST     (sin a, cos a) (MSE)                             circular_mae (degrees)
 *   gap       MNIST     eval loss - train loss (MSE)                     r2, kendall_tau
 *   step      both      the snapshot's index among the 9 steps (CE)      accuracy
 *
 * Rows of downstream.csv (DOWNSTREAM_HEADER), for split val and ood, each metric:
 *   <run's encoder>,S,pretrained,ridge|mlp,...   the predictors on the run's embeddings
 *   none,S,reference,constant,...                the training mean / majority class
 *   stats_features,S,reference,ridge,...         ridge on the 70 layer-wise statistics
 *   <ENCODER>,S,supervised,mlp,...               ENCODER with the head E(θ)/|E(θ)| -> 64 -> 64 -> K,
 *                                                trained end to end on the target from scratch
 * S is the seed; a row whose first seven fields are those of a new one is replaced by it.
 * ---------------------------------------------------------------------------------------- */
#define DOWNSTREAM_HEADER "encoder,seed,training,predictor,target,split,metric,value"

typedef struct DownstreamSettings {
    char target[16];           /* a target of the zoo's kind, or "all" (all of them) */
    int ridge, mlp;            /* the predictors on the embeddings (SPEC.md §6.3) */
    uint64_t seed;             /* the MLP predictor's and the supervised baseline's; the seed column */
    int run_seed;              /* 1: use the run's emulation-training seed instead of seed */
    char supervised[40];       /* "" or an encoder preset name: the supervised baseline (SPEC.md §6.5) */
    char preset[16];           /* its widths, batch and budget: "" the run's settings, else a train preset */
    size_t steps, eval_every;  /* its last step and evaluation interval; 0: the settings' */
    size_t patience;           /* evaluations without a lower validation loss before it stops */
} DownstreamSettings;
/* Every target, both predictors, the run's seed, no supervised baseline, patience 10. */
void downstream_settings_default(DownstreamSettings *s);
/* RR_OK when target is "all" or one that zoos of this kind have; else RR_ERR_FORMAT naming
 * the kind's targets. */
int downstream_target_check(ZooKind kind, const char *target, char *err);

/* The features of the zoo in zoo_dir from the run in run_dir (which must have been trained on
 * a zoo of the same kind and sizes, as its config.json records them), the downstream split
 * (at least 7 distinct tasks), every requested target and predictor, the reference points,
 * and the supervised baseline when s->supervised is set; the rows go into the table at out,
 * which is rewritten (atomically) after each target's results. The supervised baseline of
 * target T keeps RUN/supervised-<encoder>-T-seed<S>.safetensors (its best state) and
 * ...-last.safetensors (the state after its last evaluation, with the AdamW moments): a
 * baseline found complete is only evaluated, one found part-trained continues (its settings
 * must be the same; the differing one is named) and ends with the same bytes as one trained
 * without a break. progress hears every supervised step and every evaluation, and gets a
 * line for each predictor's results. */
int downstream_run(const char *zoo_dir, const char *run_dir, const char *out, const DownstreamSettings *s,
                   TrainProgress progress, void *progress_ctx, char *err);

/* ------------------------------------------------------------------------------------------
 * Reports and reproductions (zoo/report.c, zoo/reproduce.c, SPEC.md §9, §10). A reproduction
 * directory DIR holds
 *     DIR/zoos/formal, DIR/zoos/mnist                 the zoos
 *     DIR/runs/<zoo>/<encoder>-s<seed>/               emulation training runs on each zoo, with
 *                                                     embeddings.npy, downstream.csv and
 *                                                     downstream-supervised.csv
 *     DIR/report.md, DIR/tables/<name>.csv, DIR/figures/<name>.svg   the report
 * ---------------------------------------------------------------------------------------- */
/* Writes the report of the runs in DIR/runs/<zoo>/<run> (run_dirs NULL, n 0) or of the run
 * directories given (each trained on the zoo its config.json names) into DIR/report.md,
 * DIR/tables and DIR/figures (created when missing). Per zoo: learning curves; Table 2 (each
 * encoder's best validation loss, mean and 95% percentile-bootstrap interval over seeds, 2000
 * resamples from a fixed seed, beside SPEC.md §7); cloned performance at the best step; the
 * embedding space (PCA of the validation and OOD embeddings of the first seed); the probing
 * encoders' probes and the zoo RNN's answers; downstream prediction when the runs hold
 * downstream rows. Then the interrogator table. A run without an evaluation is left out with
 * a line on log (may be NULL). RR_OK, or an error naming the file. */
int report_write(const char *dir, const char *const *run_dirs, size_t n, FILE *log, char *err);

/* What `rnnrep reproduce` makes: the zoos, then for each zoo every encoder chosen x seeds
 * 1..seeds trained with the train preset (steps overridden unless 0), embedded, downstream
 * predictions (pretrained and supervised), the report. */
typedef struct ReproduceSettings {
    char preset[16];                 /* tiny, small, paper: names the zoo and train presets too */
    int zoo[2];                      /* 1: reproduce on that zoo kind ([ZOO_KIND_FORMAL], [ZOO_KIND_MNIST]) */
    ZooSettings zoo_settings[2];     /* each zoo's generation settings, by kind */
    char train_preset[16];           /* rnnrep train's preset */
    size_t train_steps;              /* 0: the train preset's */
    int encoder[ENC_COUNT];          /* 1: train encoder_facts[k] */
    size_t seeds;                    /* K: seeds 1..K */
    size_t jobs;                     /* worker processes at a time */
} ReproduceSettings;
/* The settings of a preset:
 *   tiny    zoos of 16 runs x 200 steps, the tiny train preset, 2 seeds: a few minutes
 *   small   zoos of 1000 runs x 1000 steps (snapshot steps scaled; MNIST metrics on 2 batches
 *           of 1000 images), the small train preset, 2 seeds: hours
 *   paper   the paper zoo and train presets, 3 seeds: weeks of CPU time
 * every encoder, both zoos, one job. RR_OK or RR_ERR_FORMAT naming the presets. */
int reproduce_settings_preset(ReproduceSettings *s, const char *preset, char *err);
/* Runs the stages of a reproduction into dir (layout above): zoo, train, embed, downstream
 * (skipped when `program downstream --help` fails), report. Each runs commands of program
 * (this rnnrep) as worker processes, s->jobs at a time, and skips what is complete, so a
 * reproduction interrupted at any point continues where it stopped (runs begun continue
 * with --resume), and one on a finished directory does nothing. One line per stage on log
 * (may be NULL): its start and end, or why it was skipped. RR_OK, or the first error. */
int reproduce_run(const ReproduceSettings *s, const char *dir, const char *program, FILE *log, char *err);

/* ------------------------------------------------------------------------------------------
 * Worker processes (zoo/workers.c, POSIX): jobs run as processes of their own, started
 * without a shell, for example the slices of a zoo run by this same program.
 * ---------------------------------------------------------------------------------------- */
typedef struct WorkerJob {
    char *const *argv;       /* NULL-terminated; argv[0] is the program, found as execvp finds it */
    const char *label;       /* names the job in messages, e.g. "slice 1:3" */
    int quiet;               /* 1: its stdout and stderr go to /dev/null (a probe such as "--help") */
} WorkerJob;

/* Runs jobs[0 .. n) as child processes, at most `parallel` at a time and in order, and waits
 * for each. RR_OK when every one exits with status 0. When one fails (another exit status, a
 * signal, or it cannot be run: status 127), or the caller gets SIGINT or SIGTERM meanwhile,
 * no further job starts, the running ones get SIGTERM and are waited for, and the result is
 * RR_ERR_PROCESS with err naming the first failed job and its status ("slice 1:3 failed (exit
 * status 1); ..."). On Linux a worker also gets SIGTERM when the caller dies. */
int workers_run(const WorkerJob *jobs, size_t n, size_t parallel, char *err);
/* In a worker started with its parent's process id: whether that parent has ended (the
 * worker has another parent now). Polled between units of work, it stops orphans anywhere. */
int worker_orphaned(uint64_t parent);

/* ------------------------------------------------------------------------------------------
 * Golden fixtures (zoo/golden.c): every network at reduced widths (golden/) or at the paper's,
 * with its inputs, outputs, a loss and all gradients, as float32 .npy files, plus a README.md
 * in the same directory describing them.
 * ---------------------------------------------------------------------------------------- */
typedef enum GoldenWidth {
    GOLDEN_REDUCED,   /* small networks: golden/, checked by make test */
    GOLDEN_PAPER      /* the paper's widths (encoder_config_paper, emulator D = 256): real size */
} GoldenWidth;
int golden_write(const char *dir, GoldenWidth width, char *err);
/* Recomputes every fixture and compares it with dir, one line per array on log (may be
 * NULL); *mismatches counts arrays over the tolerance. RR_OK unless a file is unreadable. */
int golden_compare(const char *dir, GoldenWidth width, FILE *log, size_t *mismatches, char *err);

#endif /* RNNREP_H */
