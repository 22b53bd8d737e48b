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
/* E(θ) (B, E), not normalised; gradients flow into the encoder's parameters and, where the
 * architecture allows (all but stats), into theta when it carries a gradient. */
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

void emulation_trainer_init(EmulationTrainer *tr, Encoder *enc, Emulator *em, uint64_t seed);
void emulation_trainer_free(EmulationTrainer *tr);
/* The loss of a batch without training (no tape recording). */
double emulation_eval(EmulationTrainer *tr, const EmulationBatch *batch);
/* One AdamW step on a batch; returns the loss before the step. */
double emulation_step(EmulationTrainer *tr, const EmulationBatch *batch);

/* ------------------------------------------------------------------------------------------
 * Files (zoo/): .npy, IDX, JSON.
 * ---------------------------------------------------------------------------------------- */
/* Every function here that touches a file returns 0 (RR_OK) or one of these codes, and then
 * writes "<path>: <problem>" into err (a caller-supplied char[RR_ERRLEN], or NULL). Bad
 * input is never fatal; only running out of memory stops the program (rr_malloc). */
enum {
    RR_OK = 0,
    RR_ERR_OPEN,        /* the file cannot be opened or created */
    RR_ERR_IO,          /* a read, write, seek, close or rename failed */
    RR_ERR_FORMAT,      /* not a valid file of the format, or it contradicts itself */
    RR_ERR_UNSUPPORTED  /* valid, but outside what rnnrep reads (dtype, byte order, layout) */
};
/* Format the message into err (when err is not NULL) and return code. */
int rr_error(char *err, int code, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Creates directory dir unless it exists (POSIX mkdir); RR_OK or a message naming dir. */
int rr_make_dir(const char *dir, char *err);
/* rename(from, to), replacing an existing file (for atomic writes via "path.tmp"); 0 on success. */
int rr_replace_file(const char *from, const char *to);

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

/* --- JSON settings files: one flat object, written as Python's json.dump writes it,
 *     {"seed": 1, "lr": 0.01, "name": "fl", "store": true, "task": [0, -3, 2]}
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
int json_end(JsonWriter *w, char *err);   /* "}", close, rename over path; always releases w */
/* The text json_double writes for x, into buf (at least 32 bytes). */
void json_format_double(double x, char *buf, size_t len);

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

/* Splits by task (SPEC 2.4). Given one criterion value per unique task (formal languages:
 * lang_task_entropy; MNIST: the angle), sort ascending (ties by index); the last
 * n - floor(0.7 n) - floor(0.15 n) are OOD; the others are shuffled with the fixed seed 1 and
 * the first floor(0.7 n) of them are train, the rest validation. With downstream set, the OOD
 * tasks are shuffled with seed 2 and all but floor(ood / 2) of them move to train. */
typedef enum TaskSplit { SPLIT_TRAIN = 0, SPLIT_VALID = 1, SPLIT_OOD = 2 } TaskSplit;
#define SPLIT_VALID_RATIO 0.15
#define SPLIT_OOD_RATIO 0.15
void task_split(const double *criterion, size_t n, int downstream, TaskSplit *split);

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

/* ------------------------------------------------------------------------------------------
 * Model zoos (zoo/zoo.c, SPEC.md §2): many independent training runs of the zoo RNN, each on
 * its own task, with 9 snapshots per run, stored in the released layout (SPEC.md §2.3).
 * Run r draws everything (task, initialisation, batches, samples) from its own RNG stream
 * seeded by (seed, r), so any slicing of the runs gives the same rows.
 * ---------------------------------------------------------------------------------------- */
typedef enum ZooKind { ZOO_KIND_FORMAL, ZOO_KIND_MNIST } ZooKind;
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
    char mnist_dir[512];             /* MNIST IDX directory; "" = the vendored zoo/data/mnist10k */
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
/* Concatenates zoo directories (slices of one zoo, in run order) into out. */
int zoo_merge(const char *out, const char *const *parts, size_t n, char *err);
/* Prints what a zoo holds (ours or an official release): kind, runs, snapshots, tasks, and
 * the accuracy distribution per snapshot step. */
int zoo_info(const char *dir, FILE *out, char *err);

/* A network's parameters as one .npy file, <f4 (n,), in its ParamSet's order (zoo/checkpoint.c).
 * Loading checks the count and names the file on any mismatch. */
int params_save(const ParamSet *ps, const char *path, char *err);
int params_load(ParamSet *ps, const char *path, char *err);

/* ------------------------------------------------------------------------------------------
 * Golden fixtures (zoo/golden.c): every network at reduced widths with its inputs, outputs,
 * a loss and all gradients, as float32 .npy files, plus golden/README.md describing them.
 * ---------------------------------------------------------------------------------------- */
int golden_write(const char *dir, char *err);
/* Recomputes every fixture and compares it with dir, one line per array on log (may be
 * NULL); *mismatches counts arrays over the tolerance. RR_OK unless a file is unreadable. */
int golden_compare(const char *dir, FILE *log, size_t *mismatches, char *err);

#endif /* RNNREP_H */
