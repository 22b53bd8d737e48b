/*
 * zoo_lstm.c — the zoo RNN θ: a 2-layer LSTM (H = 32) with a linear head at every step, in
 * PyTorch's flat parameter layout. Two modes: one RNN being trained (θ are parameters), and
 * a batch of different RNNs given as data (each sample its own θ), stepped one time step at
 * a time, as the probing encoders need.
 */
#include <stdlib.h>
#include <string.h>

#include "rnnrep.h"

const ZooShape ZOO_FORMAL = {6, 32, 6};
const ZooShape ZOO_MNIST = {16, 32, 10};

/* The state_dict keys of the official RNNFast module (self.lstm = nn.LSTM, self.linear =
 * nn.Linear), whose named_parameters() order is the flat order of the released zoos. */
const char *const zoo_tensor_names[ZOO_NUM_TENSORS] = {
    "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0",
    "lstm.weight_ih_l1", "lstm.weight_hh_l1", "lstm.bias_ih_l1", "lstm.bias_hh_l1",
    "linear.weight", "linear.bias",
};

void zoo_tensor_layout(ZooShape s, ZooTensor k, size_t *offset, size_t *rows, size_t *cols)
{
    size_t G = 4 * s.H;
    const size_t r[ZOO_NUM_TENSORS] = {G, G, G, G, G, G, G, G, s.O, s.O};
    const size_t c[ZOO_NUM_TENSORS] = {s.I, s.H, 1, 1, s.H, s.H, 1, 1, s.H, 1};
    size_t off = 0;
    for (int i = 0; i < (int)k; i++) off += r[i] * c[i];
    *offset = off;
    *rows = r[k];
    *cols = c[k];
}

const ZooTensor zoo_matrix_of[ZOO_NUM_MATRICES] = {ZOO_W_IH0, ZOO_W_HH0, ZOO_W_IH1, ZOO_W_HH1, ZOO_LINEAR_W};
const ZooTensor zoo_bias_of[ZOO_NUM_MATRICES] = {ZOO_B_IH0, ZOO_B_HH0, ZOO_B_IH1, ZOO_B_HH1, ZOO_LINEAR_B};

void zoo_theta_views(Tape *t, ZooShape s, Tensor *theta, Tensor *views[ZOO_NUM_TENSORS])
{
    size_t P = zoo_num_params(s);
    if (theta->ndim != 2 || theta->shape[1] != P) {
        char sh[96];
        tensor_shape_str(theta, sh, sizeof sh);
        rr_fatal("zoo_theta_views: want theta (B, %zu), got %s", P, sh);
    }
    size_t B = theta->shape[0];
    for (int k = 0; k < ZOO_NUM_TENSORS; k++) {
        size_t off, rows, cols;
        zoo_tensor_layout(s, (ZooTensor)k, &off, &rows, &cols);
        Tensor *block = op_slice(t, theta, 1, off, rows * cols); /* (B, rows cols), contiguous */
        views[k] = cols == 1 ? block : tensor_view(t, block, 3, (size_t[]){B, rows, cols});
    }
}

int zoo_reads_tiles(ZooShape s) { return s.I == ZOO_MNIST.I; }

size_t zoo_num_params(ZooShape s)
{
    size_t off, rows, cols;
    zoo_tensor_layout(s, ZOO_LINEAR_B, &off, &rows, &cols);
    return off + rows * cols;
}

static void zoo_lstm_declare(ZooLstm *m, ZooShape s)
{
    m->shape = s;
    paramset_init(&m->params, "zoo_lstm");
    /* Declaration order is the flat order of SPEC.md §1. */
    lstm_layer_declare(&m->layer[0], &m->params, "lstm.", "_l0", s.I, s.H);
    lstm_layer_declare(&m->layer[1], &m->params, "lstm.", "_l1", s.H, s.H);
    linear_declare(&m->head, &m->params, "linear", s.H, s.O, 1);
    paramset_finalize(&m->params);
}

void zoo_lstm_from_theta(ZooLstm *m, ZooShape s, const real *theta)
{
    zoo_lstm_declare(m, s);
    memcpy(m->params.data, theta, m->params.n * sizeof(real));
}

void zoo_lstm_init(ZooLstm *m, ZooShape s, Rng *rng)
{
    zoo_lstm_declare(m, s);
    lstm_layer_init(&m->layer[0], rng);
    lstm_layer_init(&m->layer[1], rng);
    linear_init(&m->head, rng);
}

void zoo_lstm_free(ZooLstm *m) { paramset_free(&m->params); }

void zoo_lstm_init_batch(ZooShape s, size_t B, Rng *rng, real *theta)
{
    size_t P = zoo_num_params(s);
    for (size_t b = 0; b < B; b++) {
        ZooLstm m;
        zoo_lstm_init(&m, s, rng);
        memcpy(theta + b * P, m.params.data, P * sizeof(real));
        zoo_lstm_free(&m);
    }
}

Tensor *zoo_lstm_forward(Tape *t, const ZooLstm *m, Tensor *x)
{
    if (x->ndim != 3 || x->shape[2] != m->shape.I) rr_fatal("zoo_lstm_forward: want x (B, T, %zu)", m->shape.I);
    Tensor *h0 = lstm_layer_sequence(t, &m->layer[0], x);   /* (B, T, H) */
    Tensor *h1 = lstm_layer_sequence(t, &m->layer[1], h0);  /* (B, T, H) */
    return linear_forward(t, &m->head, h1);                /* (B, T, O) */
}

void zoo_batch_begin(Tape *t, ZooBatch *zb, ZooShape s, Tensor *theta, size_t M)
{
    size_t B = theta->shape[0];
    zoo_theta_views(t, s, theta, zb->w);
    zb->shape = s;
    zb->B = B;
    zb->M = M;
    for (int l = 0; l < 2; l++) {
        zb->h[l] = tensor_new(t, 3, (size_t[]){B, M, s.H}, 0);
        zb->c[l] = tensor_new(t, 3, (size_t[]){B, M, s.H}, 0);
    }
}

/* gates = W_ih x + b_ih + W_hh h + b_hh per sample, then one LSTM cell over all B * M rows. */
static void batch_layer_step(Tape *t, ZooBatch *zb, int l, Tensor *x)
{
    size_t B = zb->B, M = zb->M, H = zb->shape.H;
    int base = l == 0 ? ZOO_W_IH0 : ZOO_W_IH1;
    Tensor *gates = op_add(t, op_linear_batched(t, x, zb->w[base], zb->w[base + 2]),
                           op_linear_batched(t, zb->h[l], zb->w[base + 1], zb->w[base + 3])); /* (B, M, G) */
    Tensor *h, *c;
    op_lstm_cell(t, tensor_view(t, gates, 2, (size_t[]){B * M, 4 * H}),
                 tensor_view(t, zb->c[l], 2, (size_t[]){B * M, H}), &h, &c);
    zb->h[l] = tensor_view(t, h, 3, (size_t[]){B, M, H});
    zb->c[l] = tensor_view(t, c, 3, (size_t[]){B, M, H});
}

Tensor *zoo_batch_step(Tape *t, ZooBatch *zb, Tensor *x)
{
    if (x->ndim != 3 || x->shape[0] != zb->B || x->shape[1] != zb->M || x->shape[2] != zb->shape.I)
        rr_fatal("zoo_batch_step: want x (%zu, %zu, %zu)", zb->B, zb->M, zb->shape.I);
    batch_layer_step(t, zb, 0, x);
    batch_layer_step(t, zb, 1, zb->h[0]);
    return op_linear_batched(t, zb->h[1], zb->w[ZOO_LINEAR_W], zb->w[ZOO_LINEAR_B]); /* (B, M, O) */
}

/* Row r of every gate block of a layer-l tensor moves to perm[r]; so does column r of the
 * tensors that read layer l's hidden state (its own W_hh and the next layer's input). */
void zoo_permute(ZooShape s, const real *theta, const size_t *perm0, const size_t *perm1, real *out)
{
    size_t H = s.H;
    const size_t *perm[2] = {perm0, perm1};
    memcpy(out, theta, zoo_num_params(s) * sizeof(real));
    for (int k = 0; k < ZOO_NUM_TENSORS; k++) {
        size_t off, rows, cols;
        zoo_tensor_layout(s, (ZooTensor)k, &off, &rows, &cols);
        int layer = k < ZOO_W_IH1 ? 0 : k < ZOO_LINEAR_W ? 1 : 2;
        /* Which permutation acts on rows (the layer's own neurons) and on columns (the
         * hidden state it reads): W_hh reads its own layer, W_ih1 reads layer 0, the head layer 1. */
        const size_t *row_perm = layer < 2 ? perm[layer] : NULL;
        const size_t *col_perm = k == ZOO_W_HH0 ? perm0 : k == ZOO_W_HH1 || k == ZOO_LINEAR_W ? perm1
                                 : k == ZOO_W_IH1 ? perm0 : NULL;
        for (size_t r = 0; r < rows; r++) {
            size_t rr = row_perm ? (r / H) * H + row_perm[r % H] : r;
            for (size_t c = 0; c < cols; c++) {
                size_t cc = col_perm ? col_perm[c] : c;
                out[off + rr * cols + cc] = theta[off + r * cols + c];
            }
        }
    }
}

void zoo_permute_rows(ZooShape s, const real *theta, size_t B, int per_row, Rng *rng, real *out)
{
    size_t P = zoo_num_params(s), H = s.H;
    size_t *perm = rr_malloc(2 * H * sizeof *perm, "permutation");
    for (size_t b = 0; b < B; b++) {
        if (b == 0 || per_row) {
            rng_permutation(rng, H, perm);
            rng_permutation(rng, H, perm + H);
        }
        zoo_permute(s, theta + b * P, perm, perm + H, out + b * P);
    }
    free(perm);
}
