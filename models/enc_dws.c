/*
 * enc_dws.c — DWSNet for LSTMs (SPEC.md §3.4): a stack of layers that are equivariant under
 * the hidden-neuron permutations of θ, then per-tensor channel means (invariant), then an MLP.
 * This is the official NFLSTMParameterEncoder built from NPLinearLSTM layers.
 *
 * Input. Each LSTM tensor is viewed with its 4 gate blocks as 4 channels, W (G, k) → (4, H, k)
 * and b (G) → (4, H); linear.weight (O, H) and linear.bias (O) are repeated over the 4 channels.
 * Tensors are channels first as in the official code: weights (B, C, rows, cols), biases
 * (B, C, rows). A 1×1 convolution (a mixing of channels at each entry) is then the product of
 * the shared W (C_out, C_in) with each sample's x[b] (C_in, entries), one op_matmul over the
 * batch, and a term that is constant along rows or columns is added by op_add's broadcast
 * over a size-1 dim: (B, C, 1, cols) or (B, C, rows, 1) onto (B, C, rows, cols).
 *
 * Names. With A_0 = W_ih^0, A_1 = W_ih^1, A_2 = linear.weight and a_l their biases, and
 * B_l = W_hh^l with biases b_l, the official layer keeps the weights in the order
 * [A_0, B_0, A_1, B_1, A_2] (index i below: A_l = 2l, B_l = 2l + 1) and the biases likewise.
 * rowmean(W) is the mean over the rows (a vector over the columns), colmean(W) the mean over
 * the columns (a vector over the rows).
 *
 * One layer, C_in → C_out channels:
 *   0. io-embeddings (normal init): A_0 += in_embed (C_in, 1, I); A_2 += out_embed (C_in, O, 1);
 *      a_2 += out_bias_embed (C_in, O). They break the symmetry of the input and output
 *      neurons, which must not be permuted. Everything below sees the embedded tensors.
 *   1. g = [mean(A_0), mean(B_0), mean(A_1), mean(B_1), mean(A_2), mean(a_0), mean(b_0), ...,
 *      mean(a_2)], each a C_in vector: 10 C_in global features.
 *   2. For A_l:  R = [rowmean A_l] ++ (l > 0: [colmean A_{l-1}, a_{l-1}, colmean B_{l-1}, b_{l-1},
 *                    rowmean B_{l-1}])                       (vectors over A_l's columns)
 *                Q = [colmean A_l, a_l] ++ (l < 2: [colmean B_l, b_l, rowmean B_l, rowmean A_{l+1}])
 *                                                          (vectors over A_l's rows)
 *      For B_l:  R = [rowmean B_l, colmean B_l, b_l, colmean A_l, a_l]
 *                Q = [colmean B_l, b_l, rowmean B_l] ++ (l = 0: [rowmean A_1])
 *      (lists are concatenated along the channel axis, item-major: item j, channel c at j C_in + c)
 *      W_out[n, k] = layer(W[n, k]) + layer_rc(g) + layer_r(R[k]) + layer_c(Q[n])
 *      b_out[n]    = bias(Q[n]) + bias_rc(g)
 *      Every term sees a row n (a neuron of the layer that the rows belong to) only through its
 *      own entries or through means over all neurons, so permuting neurons permutes the output
 *      in the same way: the layer is equivariant.
 * Between layers ReLU; after the last, each of the 10 tensors is averaged over all its entries
 * per channel, in the flat order of θ (weight_ih_l0, weight_hh_l0, bias_ih_l0, ...) → 10 C
 * features → Linear(10 C, h) → ReLU → ... → Linear(h, E).
 *
 * Initialisation (official set_init_): the four weight-path maps of a tensor (layer, layer_rc,
 * layer_r, layer_c) share uniform(±sqrt(1 / Σ fan_in)), weights and biases alike; the two
 * bias-path maps (bias, bias_rc) likewise with their own Σ fan_in. The MLP has torch's default.
 *
 * Parameter count. A map from n inputs to d = C_out outputs has n d + d parameters. With
 * c = C_in, the maps of one tensor hold d c (1 + 10 + |R| + |Q|) + d c (|Q| + 10) + 6 d:
 *     A_0: |R| 1, |Q| 6 → 34 d c        A_1: |R| 6, |Q| 6 → 39 d c      A_2: |R| 6, |Q| 2 → 31 d c
 *     B_0: |R| 5, |Q| 4 → 34 d c        B_1: |R| 5, |Q| 3 → 32 d c
 * so a layer has 170 d c + 30 d + c (I + 2 O) (the embeddings). Paper (channels 4→48→48→48→48):
 *     layer 1 (c 4, d 48):   32,640 + 1,440 +    72 / 144   =    34,152 /    34,224
 *     layers 2-4 (c = d 48): 391,680 + 1,440 + 864 / 1,728 =   393,984 /   394,848 each
 *     MLP: 480·128 + 128 + 128·16 + 16                      =    63,632
 *     total                                                 = 1,279,736 / 1,282,400
 * (formal languages I = O = 6 / MNIST I = 16, O = 10).
 *
 * Parameter names and order are the official module's state_dict: np_model.{0,2,4,6} (ReLUs at
 * the odd indices) each with in_embed, out_embed, out_bias_embed first (a module's own
 * parameters precede its submodules'), then i2h_layer_0, i2h_layer_0_rc, i2h_layer_0_r,
 * i2h_layer_0_c, i2h_bias_0, i2h_bias_0_rc, ... for l = 0, 1, 2, then h2h_... for l = 0, 1; then
 * mlp_model.{0,2}. Weights keep PyTorch's shapes: Conv2d (out, in, 1, 1), Conv1d (out, in, 1),
 * Linear (out, in).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/encoders.h"

/* The official order of the weights (and biases): zoo_matrix_of's (and zoo_bias_of's). */
enum { A0, B0, A1, B1, A2, N_WEIGHTS };

/* A 1×1 convolution or a Linear layer: y = W x + b over the channel axis. */
typedef struct ChannelMap {
    Tensor *weight, *bias;  /* (out, in, 1, 1), (out, in, 1) or (out, in); (out) */
    size_t in, out;
} ChannelMap;

/* The six maps that make one weight tensor and its bias (SPEC.md §3.4: conv1x1, Linear(g),
 * Conv_r, Conv_c; Conv_b, Linear_b). */
typedef struct DwsMaps {
    ChannelMap layer;     /* Conv2d(C_in, C_out): the tensor itself, entry by entry */
    ChannelMap layer_rc;  /* Linear(10 C_in, C_out): g, added everywhere */
    ChannelMap layer_r;   /* Conv1d(|R| C_in, C_out): R, broadcast over the rows */
    ChannelMap layer_c;   /* Conv1d(|Q| C_in, C_out): Q, broadcast over the columns */
    ChannelMap bias;      /* Conv1d(|Q| C_in, C_out): the bias from Q */
    ChannelMap bias_rc;   /* Linear(10 C_in, C_out): the bias from g */
} DwsMaps;

typedef struct DwsLayer {
    size_t c_in, c_out;
    Tensor *in_embed;        /* (1, C_in, 1, I) */
    Tensor *out_embed;       /* (1, C_in, O, 1) */
    Tensor *out_bias_embed;  /* (1, C_in, O) */
    DwsMaps i2h[3];          /* A_0, A_1, A_2 */
    DwsMaps h2h[2];          /* B_0, B_1 */
} DwsLayer;

typedef struct DwsEncoder {
    size_t n_layers;
    DwsLayer *layer;  /* np_model.0, .2, ... */
    Mlp mlp;          /* mlp_model */
} DwsEncoder;

/* The activations between layers: weights w[i] (B, C, rows, cols), biases b[i] (B, C, rows). */
typedef struct DwsState {
    Tensor *w[N_WEIGHTS], *b[N_WEIGHTS];
} DwsState;

/* |R| and |Q| of A_l (i2h) and B_l (h2h), as listed at the top. */
static size_t i2h_rows(int l) { return l > 0 ? 6 : 1; }
static size_t i2h_cols(int l) { return l < 2 ? 6 : 2; }
static size_t h2h_rows(int l) { (void)l; return 5; }
static size_t h2h_cols(int l) { return l < 1 ? 4 : 3; }

/* ---------------------------------------------------------------------------------------- */

static void map_declare(ChannelMap *m, ParamSet *ps, const char *name, int ndim, size_t in, size_t out)
{
    char full[96];
    size_t shape[4] = {out, in, 1, 1};
    snprintf(full, sizeof full, "%s.weight", name);
    m->weight = paramset_add(ps, full, ndim, shape);
    snprintf(full, sizeof full, "%s.bias", name);
    m->bias = paramset_add(ps, full, 1, (size_t[]){out});
    m->in = in;
    m->out = out;
}

/* prefix "np_model.2.", kind "i2h": i2h_layer_<l>, i2h_layer_<l>_rc, ..., i2h_bias_<l>_rc. */
static void maps_declare(DwsMaps *m, ParamSet *ps, const char *prefix, const char *kind, int l, size_t c_in,
                         size_t c_out, size_t n_r, size_t n_q)
{
    char name[80];
    snprintf(name, sizeof name, "%s%s_layer_%d", prefix, kind, l);
    map_declare(&m->layer, ps, name, 4, c_in, c_out);
    snprintf(name, sizeof name, "%s%s_layer_%d_rc", prefix, kind, l);
    map_declare(&m->layer_rc, ps, name, 2, N_WEIGHTS * 2 * c_in, c_out);
    snprintf(name, sizeof name, "%s%s_layer_%d_r", prefix, kind, l);
    map_declare(&m->layer_r, ps, name, 3, n_r * c_in, c_out);
    snprintf(name, sizeof name, "%s%s_layer_%d_c", prefix, kind, l);
    map_declare(&m->layer_c, ps, name, 3, n_q * c_in, c_out);
    snprintf(name, sizeof name, "%s%s_bias_%d", prefix, kind, l);
    map_declare(&m->bias, ps, name, 3, n_q * c_in, c_out);
    snprintf(name, sizeof name, "%s%s_bias_%d_rc", prefix, kind, l);
    map_declare(&m->bias_rc, ps, name, 2, N_WEIGHTS * 2 * c_in, c_out);
}

/* set_init_: maps that are summed into one output share the bound sqrt(1 / Σ fan_in), so the
 * sum has the variance of a single torch-initialised layer over all the inputs. */
static void maps_init(const DwsMaps *m, Rng *rng)
{
    const ChannelMap *weight_path[4] = {&m->layer, &m->layer_rc, &m->layer_r, &m->layer_c};
    const ChannelMap *bias_path[2] = {&m->bias, &m->bias_rc};
    double bound = sqrt(1.0 / (double)(m->layer.in + m->layer_rc.in + m->layer_r.in + m->layer_c.in));
    for (int j = 0; j < 4; j++) {
        init_uniform(weight_path[j]->weight, rng, bound);
        init_uniform(weight_path[j]->bias, rng, bound);
    }
    bound = sqrt(1.0 / (double)(m->bias.in + m->bias_rc.in));
    for (int j = 0; j < 2; j++) {
        init_uniform(bias_path[j]->weight, rng, bound);
        init_uniform(bias_path[j]->bias, rng, bound);
    }
}

void dws_encoder_init(Encoder *enc, Rng *rng)
{
    const EncoderConfig *c = &enc->cfg;
    ZooShape z = c->zoo;
    if (c->dws_layers < 1 || c->channels < 1 || c->hidden_layers < 1)
        rr_fatal("dws encoder: channels, dws_layers and hidden_layers must be at least 1");
    size_t n_layers = c->dws_layers;
    /* One allocation (encoder_free frees enc->impl): the struct, then the layers. */
    DwsEncoder *d = rr_malloc(sizeof *d + n_layers * sizeof(DwsLayer), "dws encoder");
    d->n_layers = n_layers;
    d->layer = (DwsLayer *)(d + 1);
    ParamSet *ps = &enc->params;
    for (size_t i = 0; i < n_layers; i++) {
        DwsLayer *L = &d->layer[i];
        char prefix[32], name[64];
        L->c_in = i == 0 ? 4 : c->channels;
        L->c_out = c->channels;
        snprintf(prefix, sizeof prefix, "np_model.%zu.", 2 * i);
        snprintf(name, sizeof name, "%sin_embed", prefix);
        L->in_embed = paramset_add(ps, name, 4, (size_t[]){1, L->c_in, 1, z.I});
        snprintf(name, sizeof name, "%sout_embed", prefix);
        L->out_embed = paramset_add(ps, name, 4, (size_t[]){1, L->c_in, z.O, 1});
        snprintf(name, sizeof name, "%sout_bias_embed", prefix);
        L->out_bias_embed = paramset_add(ps, name, 3, (size_t[]){1, L->c_in, z.O});
        for (int l = 0; l < 3; l++) maps_declare(&L->i2h[l], ps, prefix, "i2h", l, L->c_in, L->c_out, i2h_rows(l), i2h_cols(l));
        for (int l = 0; l < 2; l++) maps_declare(&L->h2h[l], ps, prefix, "h2h", l, L->c_in, L->c_out, h2h_rows(l), h2h_cols(l));
    }
    mlp_declare(&d->mlp, ps, "mlp_model", ZOO_NUM_TENSORS * c->channels, c->hidden, c->hidden_layers, c->embed);
    paramset_finalize(ps);
    for (size_t i = 0; i < n_layers; i++) {
        const DwsLayer *L = &d->layer[i];
        init_normal(L->in_embed, rng, 1.0);       /* torch.randn */
        init_normal(L->out_embed, rng, 1.0);
        init_normal(L->out_bias_embed, rng, 1.0);
        for (int l = 0; l < 3; l++) maps_init(&L->i2h[l], rng);
        for (int l = 0; l < 2; l++) maps_init(&L->h2h[l], rng);
    }
    mlp_init(&d->mlp, rng);
    enc->impl = d;
}

/* ---------------------------------------------------------------------------------------- */

/* y = W x + b over the last axis of x (.., in) -> (.., out): a Linear layer. */
static Tensor *channel_map(Tape *t, const ChannelMap *m, Tensor *x)
{
    return op_linear(t, x, tensor_view(t, m->weight, 2, (size_t[]){m->out, m->in}), m->bias);
}

/* A 1×1 convolution without its bias, x (B, in, ..) -> (B, out, ..): y[b] = W x[b], one
 * product of the shared W (out, in) with each sample's (in, entries). The biases of the maps
 * are constant over the entries, so they are added with the global term. */
static Tensor *conv1x1(Tape *t, const ChannelMap *m, Tensor *x)
{
    size_t B = x->shape[0], shape[RR_MAXDIM];
    memcpy(shape, x->shape, sizeof shape);
    shape[1] = m->out;
    Tensor *W = tensor_view(t, m->weight, 2, (size_t[]){m->out, m->in});
    Tensor *y = op_matmul(t, W, tensor_view(t, x, 3, (size_t[]){B, m->in, x->size / (B * m->in)}), 0, 0);
    return tensor_view(t, y, x->ndim, shape);
}

/* One weight tensor's output (the formula at the top) and its bias's, channels first as in
 * the official code. w (B, C_in, N, K); R: n_r tensors (B, C_in, K); Q: n_q tensors
 * (B, C_in, N); g (B, 10 C_in). */
static void equivariant_map(Tape *t, const DwsMaps *m, Tensor *w, Tensor **R, size_t n_r, Tensor **Q, size_t n_q,
                            Tensor *g, Tensor **w_out, Tensor **b_out)
{
    size_t B = w->shape[0], N = w->shape[2], K = w->shape[3], C = m->layer.out;
    Tensor *r = op_concat(t, R, n_r, 1);                                        /* (B, |R| C_in, K) */
    Tensor *q = op_concat(t, Q, n_q, 1);                                        /* (B, |Q| C_in, N) */
    /* Linear(g) and the biases of all four maps are constant over the entries: they join
     * Conv_c(Q) before its broadcast over the columns, one pass over the output fewer. */
    Tensor *constant = channel_map(t, &m->layer_rc, g);                         /* (B, C) */
    constant = op_add(t, op_add(t, op_add(t, constant, m->layer.bias), m->layer_r.bias), m->layer_c.bias);
    Tensor *conv_r = conv1x1(t, &m->layer_r, r);                                /* (B, C, K) */
    Tensor *conv_c = op_add(t, conv1x1(t, &m->layer_c, q), tensor_view(t, constant, 3, (size_t[]){B, C, 1})); /* (B, C, N) */
    /* out = conv(W) + Linear(g) + Conv_r(R)[:, None, :] + Conv_c(Q)[:, :, None] */
    Tensor *out = op_add(t, conv1x1(t, &m->layer, w), tensor_view(t, conv_r, 4, (size_t[]){B, C, 1, K}));
    *w_out = op_add(t, out, tensor_view(t, conv_c, 4, (size_t[]){B, C, N, 1}));  /* (B, C, N, K) */
    /* bias out = Conv_b(Q) + Linear_b(g), Conv_b's bias joining Linear_b's */
    Tensor *constant_b = op_add(t, channel_map(t, &m->bias_rc, g), m->bias.bias); /* (B, C) */
    *b_out = op_add(t, conv1x1(t, &m->bias, q), tensor_view(t, constant_b, 3, (size_t[]){B, C, 1})); /* (B, C, N) */
}

static DwsState dws_layer_forward(Tape *t, const DwsLayer *L, const DwsState *in)
{
    DwsState s = *in, out;
    /* 0. io-embeddings, the same for every sample: in_embed (1, C, 1, I) onto A_0 (B, C, H, I),
     *    the same for every row; out_embed (1, C, O, 1) onto A_2 (B, C, O, H), the same for
     *    every column; out_bias_embed (1, C, O) onto a_2 (B, C, O). */
    s.w[A0] = op_add(t, s.w[A0], L->in_embed);
    s.w[A2] = op_add(t, s.w[A2], L->out_embed);
    s.b[A2] = op_add(t, s.b[A2], L->out_bias_embed);

    Tensor *rowmean[N_WEIGHTS], *colmean[N_WEIGHTS], *means[2 * N_WEIGHTS];
    for (int i = 0; i < N_WEIGHTS; i++) {
        rowmean[i] = op_mean_axis(t, s.w[i], 2);                 /* (B, C, cols) */
        colmean[i] = op_mean_axis(t, s.w[i], 3);                 /* (B, C, rows) */
        means[i] = op_mean_axis(t, colmean[i], 2);               /* (B, C): mean of all entries */
        means[N_WEIGHTS + i] = op_mean_axis(t, s.b[i], 2);       /* (B, C) */
    }
    Tensor *g = op_concat(t, means, 2 * N_WEIGHTS, 1);           /* (B, 10 C) */

    for (int l = 0; l < 3; l++) { /* A_l, at index i = 2l */
        int i = 2 * l;
        Tensor *R[6] = {rowmean[i]}, *Q[6] = {colmean[i], s.b[i]};
        if (l > 0) {
            R[1] = colmean[i - 2]; R[2] = s.b[i - 2]; R[3] = colmean[i - 1]; R[4] = s.b[i - 1]; R[5] = rowmean[i - 1];
        }
        if (l < 2) {
            Q[2] = colmean[i + 1]; Q[3] = s.b[i + 1]; Q[4] = rowmean[i + 1]; Q[5] = rowmean[i + 2];
        }
        equivariant_map(t, &L->i2h[l], s.w[i], R, i2h_rows(l), Q, i2h_cols(l), g, &out.w[i], &out.b[i]);
    }
    for (int l = 0; l < 2; l++) { /* B_l, at index i = 2l + 1 */
        int i = 2 * l + 1;
        Tensor *R[5] = {rowmean[i], colmean[i], s.b[i], colmean[i - 1], s.b[i - 1]};
        Tensor *Q[4] = {colmean[i], s.b[i], rowmean[i], l < 1 ? rowmean[i + 1] : NULL};
        equivariant_map(t, &L->h2h[l], s.w[i], R, h2h_rows(l), Q, h2h_cols(l), g, &out.w[i], &out.b[i]);
    }
    return out;
}

/* θ (B, P) -> the first layer's input, 4 channels. An LSTM tensor's gate blocks are the
 * channels, which in the flat layout is a mere view: W (B, 4H, k) = (B, 4, H, k), b (B, 4H) =
 * (B, 4, H). The head's weight (B, O, H) and bias (B, O) are repeated over the 4 channels:
 * 0 + v, with v viewed as (B, 1, O, H) and (B, 1, O) and broadcast by op_add. */
static DwsState dws_input(Tape *t, ZooShape z, Tensor *theta)
{
    size_t B = theta->shape[0], H = z.H;
    Tensor *views[ZOO_NUM_TENSORS];
    zoo_theta_views(t, z, theta, views);
    DwsState s;
    for (int i = 0; i < N_WEIGHTS; i++) {
        Tensor *w = views[zoo_matrix_of[i]], *b = views[zoo_bias_of[i]]; /* (B, rows, cols), (B, rows) */
        size_t rows = w->shape[1], cols = w->shape[2];
        if (i == A2) {
            s.w[i] = op_add(t, tensor_new(t, 4, (size_t[]){B, 4, rows, cols}, 0), tensor_view(t, w, 4, (size_t[]){B, 1, rows, cols}));
            s.b[i] = op_add(t, tensor_new(t, 3, (size_t[]){B, 4, rows}, 0), tensor_view(t, b, 3, (size_t[]){B, 1, rows}));
        } else {
            s.w[i] = tensor_view(t, w, 4, (size_t[]){B, 4, H, cols});
            s.b[i] = tensor_view(t, b, 3, (size_t[]){B, 4, H});
        }
    }
    return s;
}

Tensor *dws_encoder_forward(Tape *t, const Encoder *enc, Tensor *theta, ProbeTrace *trace)
{
    const DwsEncoder *d = enc->impl;
    size_t B = theta->shape[0], C = enc->cfg.channels;
    (void)trace;
    DwsState s = dws_input(t, enc->cfg.zoo, theta);
    for (size_t i = 0; i < d->n_layers; i++) {
        s = dws_layer_forward(t, &d->layer[i], &s);
        if (i + 1 < d->n_layers)
            for (int j = 0; j < N_WEIGHTS; j++) {
                s.w[j] = op_relu(t, s.w[j]);
                s.b[j] = op_relu(t, s.b[j]);
            }
    }
    /* Invariant readout: each tensor's mean over all its entries, per channel, in θ's order. */
    Tensor *features[ZOO_NUM_TENSORS];
    for (int i = 0; i < N_WEIGHTS; i++) {
        Tensor *w = s.w[i], *b = s.b[i];
        features[zoo_matrix_of[i]] = op_mean_axis(t, tensor_view(t, w, 3, (size_t[]){B, C, w->shape[2] * w->shape[3]}), 2);
        features[zoo_bias_of[i]] = op_mean_axis(t, b, 2);           /* (B, C) */
    }
    Tensor *x = op_concat(t, features, ZOO_NUM_TENSORS, 1);     /* (B, 10 C) */
    return mlp_forward(t, &d->mlp, x);                          /* (B, E) */
}
