/*
 * enc_transformer.c — the parameter transformer (SPEC.md §3.3): every row of a zoo RNN's
 * weight matrices, with its bias entry, becomes one token; a transformer encoder reads the
 * tokens and a learned compression token, and E(θ) is a linear map of that token's output.
 *
 *   token of row r of W (rows, cols) = Linear_W([W[r, :], b[r]])    (cols + 1 -> D)
 *   pairs (W, b): (W_ih^0, b_ih^0), (W_hh^0, b_hh^0), (W_ih^1, b_ih^1), (W_hh^1, b_hh^1),
 *                 (linear.weight, linear.bias)            -> 4G + O tokens (518 / 522)
 *   x = [tokens; compression] + positional_encoding      (B, T, D), T = 4G + O + 1
 *   x = layer_k(x), k = 1..layers                         post-LayerNorm encoder layers
 *   E(θ) = output_projection(x[:, T-1])                   (B, E)
 *
 * One layer is torch.nn.TransformerEncoderLayer(D, heads, ffn, dropout, ReLU,
 * norm_first=False, batch_first=True):
 *   x = norm1(x + dropout1(MHA(x)))
 *   x = norm2(x + dropout2(linear2(dropout(relu(linear1(x))))))
 *   MHA(x) = out_proj(concat_h softmax_dropout(q_h k_h^T / sqrt(D / heads)) v_h),
 *   [q | k | v] = x in_proj_weight^T + in_proj_bias   (rows 0..D-1 = q, D..2D-1 = k, 2D.. = v)
 *
 * Cost: each layer runs under op_checkpoint, so the tape keeps its input and output, not its
 * intermediate results: the backward pass runs the layer's forward again (one layer's worth of
 * scratch). Within it, op_attention recomputes the attention weights of each (sample, head)
 * pair instead of keeping B heads T^2 values. The last layer computes only the compression
 * token's row.
 *
 * Parameter names and order are the official module's state_dict: a module's own
 * parameters (compression_token, positional_encoding) come before its submodules'.
 * The official input transforms are keyed by the converted zoo names
 * ("lstm_cells.0.i2h.weight" -> "lstm_cells_0_i2h").
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/encoders.h"

enum { NUM_MATRICES = ZOO_NUM_MATRICES };

static const char *const transform_name[NUM_MATRICES] = {
    "lstm_cells_0_i2h", "lstm_cells_0_h2h", "lstm_cells_1_i2h", "lstm_cells_1_h2h", "linear"};

typedef struct EncoderLayer {
    Tensor *in_proj_weight, *in_proj_bias;  /* (3D, D), (3D) */
    Linear out_proj, linear1, linear2;      /* D -> D, D -> ffn, ffn -> D */
    Tensor *norm1_weight, *norm1_bias, *norm2_weight, *norm2_bias; /* (D) each */
} EncoderLayer;

typedef struct ParameterTransformer {
    Tensor *compression_token;    /* (1, 1, D) */
    Tensor *positional_encoding;  /* (1, T, D) */
    Linear input[NUM_MATRICES];   /* cols + 1 -> D */
    Linear output_projection;     /* D -> E */
    size_t tokens;                /* T = 4G + O + 1, the compression token included */
    EncoderLayer layer[];         /* cfg.layers */
} ParameterTransformer;

static Tensor *declare(ParamSet *ps, const char *prefix, const char *name, int ndim, const size_t *shape)
{
    char full[128];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    return paramset_add(ps, full, ndim, shape);
}

static void copy_values(Tensor *dst, const Tensor *src) { memcpy(dst->data, src->data, src->size * sizeof(real)); }

void transformer_encoder_init(Encoder *enc, Rng *rng)
{
    const EncoderConfig *c = &enc->cfg;
    size_t D = c->d_model;
    if (c->layers == 0 || c->heads == 0 || D % c->heads != 0)
        rr_fatal("transformer encoder: d_model %zu must split into heads (not %zu), and layers (%zu) must be > 0",
                 D, c->heads, c->layers);
    ParameterTransformer *m = rr_calloc(1, sizeof *m + c->layers * sizeof m->layer[0], "transformer encoder");
    enc->impl = m;
    ParamSet *ps = &enc->params;

    m->tokens = 1;
    for (int k = 0; k < NUM_MATRICES; k++) {
        size_t off, rows, cols;
        zoo_tensor_layout(c->zoo, zoo_matrix_of[k], &off, &rows, &cols);
        m->tokens += rows;
    }
    m->compression_token = paramset_add(ps, "compression_token", 3, (size_t[]){1, 1, D});
    m->positional_encoding = paramset_add(ps, "positional_encoding", 3, (size_t[]){1, m->tokens, D});
    for (int k = 0; k < NUM_MATRICES; k++) {
        size_t off, rows, cols;
        char name[128];
        zoo_tensor_layout(c->zoo, zoo_matrix_of[k], &off, &rows, &cols);
        snprintf(name, sizeof name, "input_transformations.%s", transform_name[k]);
        linear_declare(&m->input[k], ps, name, cols + 1, D, 1);
    }
    for (size_t l = 0; l < c->layers; l++) {
        EncoderLayer *L = &m->layer[l];
        char p[96], name[128];
        snprintf(p, sizeof p, "transformer.layers.%zu.", l);
        L->in_proj_weight = declare(ps, p, "self_attn.in_proj_weight", 2, (size_t[]){3 * D, D});
        L->in_proj_bias = declare(ps, p, "self_attn.in_proj_bias", 1, (size_t[]){3 * D});
        snprintf(name, sizeof name, "%sself_attn.out_proj", p);
        linear_declare(&L->out_proj, ps, name, D, D, 1);
        snprintf(name, sizeof name, "%slinear1", p);
        linear_declare(&L->linear1, ps, name, D, c->ffn, 1);
        snprintf(name, sizeof name, "%slinear2", p);
        linear_declare(&L->linear2, ps, name, c->ffn, D, 1);
        L->norm1_weight = declare(ps, p, "norm1.weight", 1, (size_t[]){D});
        L->norm1_bias = declare(ps, p, "norm1.bias", 1, (size_t[]){D});
        L->norm2_weight = declare(ps, p, "norm2.weight", 1, (size_t[]){D});
        L->norm2_bias = declare(ps, p, "norm2.bias", 1, (size_t[]){D});
    }
    linear_declare(&m->output_projection, ps, "output_projection", D, c->embed, 1);
    paramset_finalize(ps);

    /* torch's initialisation: compression token zeros, positional encoding N(0, 1), every
     * Linear uniform(±1/sqrt(in)); nn.MultiheadAttention._reset_parameters: xavier_uniform on
     * in_proj_weight, bound sqrt(6 / (fan_in + fan_out)) = sqrt(6 / 4D), zero in_proj_bias and
     * out_proj.bias; LayerNorm weight 1, bias 0. */
    init_constant(m->compression_token, 0);
    init_normal(m->positional_encoding, rng, 1.0);
    for (int k = 0; k < NUM_MATRICES; k++) linear_init(&m->input[k], rng);
    EncoderLayer *L0 = &m->layer[0];
    init_uniform(L0->in_proj_weight, rng, sqrt(6.0 / (double)(4 * D)));
    init_constant(L0->in_proj_bias, 0);
    linear_init(&L0->out_proj, rng);
    init_constant(L0->out_proj.b, 0);
    linear_init(&L0->linear1, rng);
    linear_init(&L0->linear2, rng);
    init_constant(L0->norm1_weight, 1);
    init_constant(L0->norm1_bias, 0);
    init_constant(L0->norm2_weight, 1);
    init_constant(L0->norm2_bias, 0);
    /* nn.TransformerEncoder deep-copies the layer it is given, so in torch every layer starts
     * from the same values; so do ours. */
    for (size_t l = 1; l < c->layers; l++) {
        EncoderLayer *L = &m->layer[l];
        copy_values(L->in_proj_weight, L0->in_proj_weight);
        copy_values(L->in_proj_bias, L0->in_proj_bias);
        copy_values(L->out_proj.W, L0->out_proj.W);
        copy_values(L->out_proj.b, L0->out_proj.b);
        copy_values(L->linear1.W, L0->linear1.W);
        copy_values(L->linear1.b, L0->linear1.b);
        copy_values(L->linear2.W, L0->linear2.W);
        copy_values(L->linear2.b, L0->linear2.b);
        copy_values(L->norm1_weight, L0->norm1_weight);
        copy_values(L->norm1_bias, L0->norm1_bias);
        copy_values(L->norm2_weight, L0->norm2_weight);
        copy_values(L->norm2_bias, L0->norm2_bias);
    }
    linear_init(&m->output_projection, rng);
}

/* Multi-head self-attention of the queries xq (B, Tq, D) over all tokens x (B, T, D).
 * xq is x itself, or its last row in the last layer (only the compression token is read).
 * Head h owns columns h dh .. (h+1) dh - 1 of q, k and v (op_attention). q k^T / sqrt(dh) is
 * computed as (q / sqrt(dh)) k^T, as torch's multi_head_attention_forward does when it
 * returns the weights: Tq D multiplications instead of heads Tq T. */
static Tensor *self_attention(Tape *t, const EncoderLayer *L, Tensor *xq, Tensor *x, size_t heads, real p)
{
    size_t D = x->shape[2], dh = D / heads;
    Tensor *Wq = op_slice(t, L->in_proj_weight, 0, 0, D), *bq = op_slice(t, L->in_proj_bias, 0, 0, D);
    Tensor *Wkv = op_slice(t, L->in_proj_weight, 0, D, 2 * D), *bkv = op_slice(t, L->in_proj_bias, 0, D, 2 * D);
    Tensor *q = op_scale(t, op_linear(t, xq, Wq, bq), (real)(1.0 / sqrt((double)dh))); /* (B, Tq, D) */
    Tensor *kv = op_linear(t, x, Wkv, bkv);                                             /* (B, T, 2D) = [k | v] */
    Tensor *o = op_attention(t, q, kv, heads, p);                                       /* (B, Tq, D) */
    return op_linear(t, o, L->out_proj.W, L->out_proj.b);                               /* (B, Tq, D) */
}

/* One post-LayerNorm encoder layer; returns (B, Tq, D) for the queries xq. */
static Tensor *encoder_layer(Tape *t, const EncoderLayer *L, Tensor *xq, Tensor *x, size_t heads, real p)
{
    const real eps = (real)1e-5;
    Tensor *a = op_dropout(t, self_attention(t, L, xq, x, heads, p), p);
    Tensor *y = op_layer_norm(t, op_add(t, xq, a), L->norm1_weight, L->norm1_bias, eps);
    Tensor *f = op_dropout(t, op_relu(t, linear_forward(t, &L->linear1, y)), p);
    f = op_dropout(t, linear_forward(t, &L->linear2, f), p);
    return op_layer_norm(t, op_add(t, y, f), L->norm2_weight, L->norm2_bias, eps);
}

/* A layer as op_checkpoint runs it: in = {x, xq}. */
typedef struct LayerCall {
    const EncoderLayer *L;
    size_t heads;
    real p;
} LayerCall;

static Tensor *layer_call(Tape *t, const void *ctx, Tensor *const *in)
{
    const LayerCall *c = ctx;
    return encoder_layer(t, c->L, in[1], in[0], c->heads, c->p);
}

Tensor *transformer_encoder_forward(Tape *t, const Encoder *enc, Tensor *theta, ProbeTrace *trace)
{
    (void)trace;
    const EncoderConfig *c = &enc->cfg;
    const ParameterTransformer *m = enc->impl;
    size_t B = theta->shape[0], D = c->d_model, T = m->tokens;
    Tensor *parts[NUM_MATRICES + 1], *views[ZOO_NUM_TENSORS];
    zoo_theta_views(t, c->zoo, theta, views);
    for (int k = 0; k < NUM_MATRICES; k++) {
        Tensor *W = views[zoo_matrix_of[k]];                               /* (B, rows, cols) */
        size_t rows = W->shape[1];
        Tensor *b = tensor_view(t, views[zoo_bias_of[k]], 3, (size_t[]){B, rows, 1});
        Tensor *rows_with_bias = op_concat(t, (Tensor *[]){W, b}, 2, 2);   /* (B, rows, cols + 1) */
        parts[k] = linear_forward(t, &m->input[k], rows_with_bias);        /* (B, rows, D) */
    }
    /* The compression token broadcast over the batch: 0 + token, (B, 1, D). */
    Tensor *zeros = tensor_new(t, 3, (size_t[]){B, 1, D}, 0);
    parts[NUM_MATRICES] = op_add(t, zeros, tensor_view(t, m->compression_token, 1, (size_t[]){D}));
    Tensor *x = op_concat(t, parts, NUM_MATRICES + 1, 1);                    /* (B, T, D) */
    x = op_add(t, x, tensor_view(t, m->positional_encoding, 2, (size_t[]){T, D}));
    for (size_t l = 0; l < c->layers; l++) {
        /* Only the compression token's output is read, so the last layer computes only its row. */
        Tensor *xq = l + 1 < c->layers ? x : op_slice(t, x, 1, T - 1, 1);
        LayerCall call = {&m->layer[l], c->heads, c->dropout};
        x = op_checkpoint(t, layer_call, &call, sizeof call, (Tensor *[]){x, xq}, 2);
    }
    Tensor *last = tensor_view(t, x, 2, (size_t[]){B, D});                  /* (B, D): x[:, T-1] */
    return linear_forward(t, &m->output_projection, last);                   /* (B, E) */
}
