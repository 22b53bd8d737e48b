/* test_encoders_func.c — the parameter transformer and the two probing encoders: parameter
 * counts and names against the official modules, forward values against plain-loop
 * references written from the torch definitions, finite-difference gradients with respect to
 * every parameter tensor and to θ, the permutation symmetry, and what the probes depend on. */
#include <stdlib.h>
#include <string.h>
#include "gradcheck.h"

/* Small zoo shapes for the numerical checks: a token zoo (softmax probes) and one that reads
 * 16-value tiles like sequential MNIST (sigmoid probes). */
static const ZooShape TOKENS = {3, 4, 2};
static const ZooShape TILES = {16, 4, 3};

static EncoderConfig small_config(EncoderKind kind, ZooShape zoo)
{
    EncoderConfig c = encoder_config_paper(kind, zoo);
    c.embed = 3;
    c.d_model = 16;
    c.heads = 2;
    c.ffn = 32;
    c.layers = 2;
    c.core = 32;
    c.hidden = 16;
    c.M = 2;
    c.L = 4;
    return c;
}

static Tensor *find_param(const Encoder *enc, const char *name)
{
    for (size_t i = 0; i < enc->params.count; i++)
        if (strcmp(enc->params.names[i], name) == 0) return enc->params.views[i];
    return NULL;
}

static const real *param(const Encoder *enc, const char *name)
{
    Tensor *v = find_param(enc, name);
    if (!v) rr_fatal("test: no parameter %s in %s", name, enc->params.name);
    return v->data;
}

static int has_shape(const Encoder *enc, const char *name, int ndim, const size_t *shape)
{
    Tensor *v = find_param(enc, name);
    if (!v || v->ndim != ndim) return 0;
    for (int i = 0; i < ndim; i++)
        if (v->shape[i] != shape[i]) return 0;
    return 1;
}

static size_t count_params(EncoderKind kind, ZooShape zoo, size_t M, size_t L)
{
    EncoderConfig c = encoder_config_paper(kind, zoo);
    if (M) c.M = M;
    if (L) c.L = L;
    Encoder enc;
    Rng rng;
    rng_seed(&rng, 1);
    encoder_init(&enc, &c, &rng);
    size_t n = enc.params.n;
    encoder_free(&enc);
    return n;
}

static void check_counts(void)
{
    size_t n;
    n = count_params(ENC_TRANSFORMER, ZOO_FORMAL, 0, 0);
    CHECK(n == 1276688, "transformer, formal languages: %zu parameters, want 1,276,688", n);
    n = count_params(ENC_TRANSFORMER, ZOO_MNIST, 0, 0);
    CHECK(n == 1278480, "transformer, MNIST: %zu parameters, want 1,278,480", n);
    for (int k = 0; k < 2; k++) {
        EncoderKind kind = k ? ENC_INTERACTIVE : ENC_NONINTERACTIVE;
        n = count_params(kind, ZOO_FORMAL, 0, 0);
        CHECK(n == 1147030, "%s, formal languages: %zu parameters, want 1,147,030", encoder_facts[kind].name, n);
        n = count_params(kind, ZOO_MNIST, 0, 0);
        CHECK(n == 1156512, "%s, MNIST: %zu parameters, want 1,156,512", encoder_facts[kind].name, n);
        /* Ablations (formal languages, C = 256, hidden 128, O = 6): from the count formula in
         * enc_probing.c, each further stream adds O C (output map) + (C + 1) 128 (proj_up)
         * = 1536 + 32,896 = 34,432, and each further probing step one row of 256:
         *   M = 2, 4, 8:  1,147,030 + 34,432 (M - 1) = 1,181,462 / 1,250,326 / 1,388,054
         *   L = 7, 12, 42: 1,147,030 + 256 (L - 22) = 1,143,190 / 1,144,470 / 1,152,150 */
        const size_t Ms[3] = {2, 4, 8}, by_M[3] = {1181462, 1250326, 1388054};
        const size_t Ls[3] = {7, 12, 42}, by_L[3] = {1143190, 1144470, 1152150};
        for (int i = 0; i < 3; i++) {
            n = count_params(kind, ZOO_FORMAL, Ms[i], 0);
            CHECK(n == by_M[i], "%s, M = %zu: %zu parameters, want %zu", encoder_facts[kind].name, Ms[i], n, by_M[i]);
            n = count_params(kind, ZOO_FORMAL, 0, Ls[i]);
            CHECK(n == by_L[i], "%s, L = %zu: %zu parameters, want %zu", encoder_facts[kind].name, Ls[i], n, by_L[i]);
        }
        /* MNIST, M = 2: + O C + (C + 1) 128 = 2560 + 32,896 = 35,456 -> 1,191,968 */
        n = count_params(kind, ZOO_MNIST, 2, 0);
        CHECK(n == 1191968, "%s, MNIST, M = 2: %zu parameters, want 1,191,968", encoder_facts[kind].name, n);
    }
}

/* Names, shapes and order as the official modules' state_dicts, and torch's initialisation. */
static void check_names_and_init(void)
{
    Rng rng;
    rng_seed(&rng, 2);
    Encoder enc;
    EncoderConfig c = encoder_config_paper(ENC_TRANSFORMER, ZOO_FORMAL);
    encoder_init(&enc, &c, &rng);
    const ParamSet *ps = &enc.params;
    CHECK(strcmp(ps->names[0], "compression_token") == 0 && strcmp(ps->names[1], "positional_encoding") == 0 &&
              strcmp(ps->names[2], "input_transformations.lstm_cells_0_i2h.weight") == 0 &&
              strcmp(ps->names[ps->count - 1], "output_projection.bias") == 0,
          "transformer parameter order");
    CHECK(ps->count == 2 + 10 + 6 * 12 + 2, "transformer: %zu parameter tensors", ps->count);
    CHECK(has_shape(&enc, "positional_encoding", 3, (size_t[]){1, 519, 128}), "positional_encoding (1, 519, 128)");
    CHECK(has_shape(&enc, "input_transformations.lstm_cells_0_i2h.weight", 2, (size_t[]){128, 7}), "W_ih^0 tokens: Linear(7, 128)");
    CHECK(has_shape(&enc, "input_transformations.linear.weight", 2, (size_t[]){128, 33}), "linear tokens: Linear(33, 128)");
    CHECK(has_shape(&enc, "transformer.layers.5.self_attn.in_proj_weight", 2, (size_t[]){384, 128}), "in_proj_weight (384, 128)");
    CHECK(has_shape(&enc, "transformer.layers.5.linear1.weight", 2, (size_t[]){512, 128}), "linear1 (512, 128)");
    CHECK(has_shape(&enc, "transformer.layers.5.norm2.bias", 1, (size_t[]){128}), "norm2.bias (128)");
    const char *twelve[12] = {"self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
                              "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight",
                              "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"};
    int order = 1, same = 1;
    for (int l = 0; l < 6; l++)
        for (int i = 0; i < 12; i++) {
            char name[128];
            snprintf(name, sizeof name, "transformer.layers.%d.%s", l, twelve[i]);
            order &= strcmp(ps->names[12 + 12 * l + i], name) == 0;
            Tensor *a = ps->views[12 + i], *b = ps->views[12 + 12 * l + i];
            same &= memcmp(a->data, b->data, a->size * sizeof(real)) == 0;
        }
    CHECK(order, "each layer's parameters in TransformerEncoderLayer's order");
    CHECK(same, "every layer starts as a copy of the first (nn.TransformerEncoder deep-copies it)");
    /* xavier_uniform bound sqrt(6 / (128 + 384)) = 0.10825; zero biases; LayerNorm 1 / 0 */
    const Tensor *w = find_param(&enc, "transformer.layers.0.self_attn.in_proj_weight");
    double mx = 0;
    for (size_t i = 0; i < w->size; i++) mx = fabs(w->data[i]) > mx ? fabs(w->data[i]) : mx;
    CHECK(mx <= 0.10826 && mx > 0.105, "in_proj_weight xavier bound: max |w| = %g", mx);
    const real *pb = param(&enc, "transformer.layers.0.self_attn.in_proj_bias");
    const real *ob = param(&enc, "transformer.layers.0.self_attn.out_proj.bias");
    const real *g = param(&enc, "transformer.layers.0.norm1.weight");
    CHECK(pb[0] == 0 && pb[383] == 0 && ob[0] == 0 && ob[127] == 0 && g[0] == 1 && g[127] == 1, "zero attention biases, unit LayerNorm");
    CHECK(param(&enc, "compression_token")[5] == 0, "compression token starts at zero");
    encoder_free(&enc);

    c = encoder_config_paper(ENC_INTERACTIVE, ZOO_MNIST);
    encoder_init(&enc, &c, &rng);
    const char *first[9] = {"bos", "eos", "h0", "c0", "probing_encodings", "rnn_cells.0.cell.weight_ih",
                            "rnn_cells.0.cell.weight_hh", "rnn_cells.0.cell.bias_ih", "rnn_cells.0.cell.bias_hh"};
    order = 1;
    for (int i = 0; i < 9; i++) order &= strcmp(enc.params.names[i], first[i]) == 0;
    CHECK(order, "probing parameters: own tensors first, then rnn_cells.0.cell");
    CHECK(strcmp(enc.params.names[13], "probing_output_transform.0.weight") == 0 &&
              strcmp(enc.params.names[15], "proj_up.0.weight") == 0 &&
              strcmp(enc.params.names[17], "probing_input_decoder.0.weight") == 0 &&
              strcmp(enc.params.names[21], "output_transform.0.weight") == 0 &&
              strcmp(enc.params.names[enc.params.count - 1], "output_transform.2.bias") == 0,
          "probing module order: output map, proj_up, decoder, head");
    CHECK(has_shape(&enc, "h0", 3, (size_t[]){2, 1, 256}) && has_shape(&enc, "probing_encodings", 2, (size_t[]){51, 256}) &&
              has_shape(&enc, "probing_output_transform.0.weight", 2, (size_t[]){256, 10}) &&
              has_shape(&enc, "probing_input_decoder.2.weight", 2, (size_t[]){16, 128}),
          "probing shapes (MNIST)");
    encoder_free(&enc);
}

/* ---- plain-loop references, in double, from the torch definitions ----------------------- */

static void ref_linear(const real *W, const real *b, const double *x, size_t in, size_t out, double *y)
{
    for (size_t o = 0; o < out; o++) {
        double s = b ? b[o] : 0;
        for (size_t i = 0; i < in; i++) s += W[o * in + i] * x[i];
        y[o] = s;
    }
}

static void ref_layer_norm(double *x, size_t D, const real *g, const real *b)
{
    double mu = 0, var = 0;
    for (size_t j = 0; j < D; j++) mu += x[j] / (double)D;
    for (size_t j = 0; j < D; j++) var += (x[j] - mu) * (x[j] - mu) / (double)D;
    for (size_t j = 0; j < D; j++) x[j] = (x[j] - mu) / sqrt(var + 1e-5) * g[j] + b[j];
}

static double sigmoid_d(double z) { return 1 / (1 + exp(-z)); }

/* TransformerEncoderLayer (post-norm, ReLU, no dropout) on the tokens of one θ. */
static void ref_transformer(const Encoder *enc, const real *theta, double *out)
{
    const EncoderConfig *c = &enc->cfg;
    size_t D = c->d_model, F = c->ffn, nh = c->heads, dh = D / nh, T = 1;
    const char *keys[5] = {"lstm_cells_0_i2h", "lstm_cells_0_h2h", "lstm_cells_1_i2h", "lstm_cells_1_h2h", "linear"};
    for (int k = 0; k < 5; k++) {
        size_t off, rows, cols;
        zoo_tensor_layout(c->zoo, zoo_matrix_of[k], &off, &rows, &cols);
        T += rows;
    }
    double *X = calloc(T * D, sizeof *X), *Q = calloc(T * 3 * D, sizeof *Q), *A = calloc(T * D, sizeof *A);
    double *tmp = calloc(F > D ? F : D, sizeof *tmp), *row = calloc(64, sizeof *row), *s = calloc(T, sizeof *s);
    size_t at = 0;
    for (int k = 0; k < 5; k++) {
        size_t woff, boff, rows, cols, one;
        char name[96];
        zoo_tensor_layout(c->zoo, zoo_matrix_of[k], &woff, &rows, &cols);
        zoo_tensor_layout(c->zoo, zoo_bias_of[k], &boff, &rows, &one);
        snprintf(name, sizeof name, "input_transformations.%s.weight", keys[k]);
        const real *W = param(enc, name);
        snprintf(name, sizeof name, "input_transformations.%s.bias", keys[k]);
        const real *b = param(enc, name);
        for (size_t r = 0; r < rows; r++, at++) {
            for (size_t j = 0; j < cols; j++) row[j] = theta[woff + r * cols + j];
            row[cols] = theta[boff + r];                 /* [W[r, :], b[r]] */
            ref_linear(W, b, row, cols + 1, D, X + at * D);
        }
    }
    const real *ct = param(enc, "compression_token"), *pe = param(enc, "positional_encoding");
    for (size_t j = 0; j < D; j++) X[at * D + j] = ct[j];
    for (size_t i = 0; i < T * D; i++) X[i] += pe[i];
    for (size_t l = 0; l < c->layers; l++) {
        char p[64], name[128];
        snprintf(p, sizeof p, "transformer.layers.%zu.", l);
#define PRM(suffix) (snprintf(name, sizeof name, "%s%s", p, suffix), param(enc, name))
        for (size_t i = 0; i < T; i++) /* [q | k | v] of token i */
            ref_linear(PRM("self_attn.in_proj_weight"), PRM("self_attn.in_proj_bias"), X + i * D, D, 3 * D, Q + i * 3 * D);
        for (size_t i = 0; i < T; i++)
            for (size_t h = 0; h < nh; h++) {
                double mx = -1e300, z = 0;
                for (size_t j = 0; j < T; j++) {
                    double d = 0;
                    for (size_t e = 0; e < dh; e++) d += Q[i * 3 * D + h * dh + e] * Q[j * 3 * D + D + h * dh + e];
                    s[j] = d / sqrt((double)dh);
                    mx = s[j] > mx ? s[j] : mx;
                }
                for (size_t j = 0; j < T; j++) z += (s[j] = exp(s[j] - mx));
                for (size_t e = 0; e < dh; e++) {
                    double o = 0;
                    for (size_t j = 0; j < T; j++) o += s[j] / z * Q[j * 3 * D + 2 * D + h * dh + e];
                    A[i * D + h * dh + e] = o;
                }
            }
        for (size_t i = 0; i < T; i++) {
            double *x = X + i * D;
            ref_linear(PRM("self_attn.out_proj.weight"), PRM("self_attn.out_proj.bias"), A + i * D, D, D, tmp);
            for (size_t j = 0; j < D; j++) x[j] += tmp[j];
            ref_layer_norm(x, D, PRM("norm1.weight"), PRM("norm1.bias"));
            ref_linear(PRM("linear1.weight"), PRM("linear1.bias"), x, D, F, tmp);
            for (size_t j = 0; j < F; j++) tmp[j] = tmp[j] > 0 ? tmp[j] : 0;
            double f[256];
            ref_linear(PRM("linear2.weight"), PRM("linear2.bias"), tmp, F, D, f);
            for (size_t j = 0; j < D; j++) x[j] += f[j];
            ref_layer_norm(x, D, PRM("norm2.weight"), PRM("norm2.bias"));
        }
#undef PRM
    }
    ref_linear(param(enc, "output_projection.weight"), param(enc, "output_projection.bias"), X + (T - 1) * D, D, c->embed, out);
    free(X); free(Q); free(A); free(tmp); free(row); free(s);
}

/* One LSTM cell step in place: gates = W_ih x + b_ih + W_hh h + b_hh. */
static void ref_lstm(const real *Wih, const real *Whh, const real *bih, const real *bhh, const double *x, size_t in,
                     double *h, double *cc, size_t H)
{
    double g[4 * 256], a[256];
    ref_linear(Wih, bih, x, in, 4 * H, g);
    ref_linear(Whh, bhh, h, H, 4 * H, a);
    for (size_t j = 0; j < 4 * H; j++) g[j] += a[j];
    for (size_t j = 0; j < H; j++) {
        cc[j] = sigmoid_d(g[H + j]) * cc[j] + sigmoid_d(g[j]) * tanh(g[2 * H + j]);
        h[j] = sigmoid_d(g[3 * H + j]) * tanh(cc[j]);
    }
}

static void ref_core(const Encoder *enc, double *x, double h[2][256], double cc[2][256])
{
    size_t C = enc->cfg.core;
    for (int l = 0; l < 2; l++) {
        char n[4][64];
        const char *w[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
        for (int i = 0; i < 4; i++) snprintf(n[i], sizeof n[i], "rnn_cells.%d.cell.%s", l, w[i]);
        ref_lstm(param(enc, n[0]), param(enc, n[1]), param(enc, n[2]), param(enc, n[3]), x, C, h[l], cc[l], C);
        for (size_t j = 0; j < C; j++) x[j] += h[l][j];   /* out = h + x */
    }
}

/* The official InteractiveEncoder.forward for one θ (vfunc = the zoo RNN, M streams). */
static void ref_probing(const Encoder *enc, const real *theta, double *out)
{
    const EncoderConfig *c = &enc->cfg;
    size_t C = c->core, Hd = c->hidden, M = c->M, I = c->zoo.I, O = c->zoo.O, H = c->zoo.H;
    double x[256], u[256], h[2][256] = {{0}}, cc[2][256] = {{0}}, e[8 * 64], d[64], p[8][16], o[8 * 16];
    double zh[8][2][64] = {{{0}}}, zc[8][2][64] = {{{0}}};
    size_t off[ZOO_NUM_TENSORS], rows, cols;
    for (int k = 0; k < ZOO_NUM_TENSORS; k++) zoo_tensor_layout(c->zoo, (ZooTensor)k, &off[k], &rows, &cols);
    for (size_t j = 0; j < C; j++) x[j] = param(enc, "bos")[j];
    for (size_t s = 0;; s++) {
        ref_core(enc, x, h, cc);
        if (s == c->L) break;
        for (size_t j = 0; j < C; j++) u[j] = enc->cfg.kind == ENC_INTERACTIVE ? x[j] : param(enc, "probing_encodings")[s * C + j];
        ref_linear(param(enc, "proj_up.0.weight"), param(enc, "proj_up.0.bias"), u, C, Hd * M, e);
        for (size_t m = 0; m < M; m++) {
            double *em = e + m * Hd, z[16], sum = 0;
            for (size_t j = 0; j < Hd; j++) em[j] = em[j] > 0 ? em[j] : 0;
            ref_linear(param(enc, "probing_input_decoder.0.weight"), param(enc, "probing_input_decoder.0.bias"), em, Hd, Hd, d);
            for (size_t j = 0; j < Hd; j++) d[j] = d[j] > 0 ? d[j] : 0;
            ref_linear(param(enc, "probing_input_decoder.2.weight"), param(enc, "probing_input_decoder.2.bias"), d, Hd, I, z);
            for (size_t j = 0; j < I; j++) sum += exp(z[j]);
            for (size_t j = 0; j < I; j++) p[m][j] = I == 16 ? sigmoid_d(z[j]) : exp(z[j]) / sum;
            /* the zoo RNN, stream m */
            const real *z0 = theta + off[ZOO_W_IH0], *z1 = theta + off[ZOO_W_IH1];
            ref_lstm(z0, theta + off[ZOO_W_HH0], theta + off[ZOO_B_IH0], theta + off[ZOO_B_HH0], p[m], I, zh[m][0], zc[m][0], H);
            ref_lstm(z1, theta + off[ZOO_W_HH1], theta + off[ZOO_B_IH1], theta + off[ZOO_B_HH1], zh[m][0], H, zh[m][1], zc[m][1], H);
            ref_linear(theta + off[ZOO_LINEAR_W], theta + off[ZOO_LINEAR_B], zh[m][1], H, O, o + m * O);
        }
        ref_linear(param(enc, "probing_output_transform.0.weight"), param(enc, "probing_output_transform.0.bias"), o, O * M, C, x);
        for (size_t j = 0; j < C; j++) x[j] = sigmoid_d(x[j]);
    }
    for (size_t j = 0; j < C; j++) x[j] = param(enc, "eos")[j];
    ref_core(enc, x, h, cc);
    ref_linear(param(enc, "output_transform.0.weight"), param(enc, "output_transform.0.bias"), x, C, Hd, d);
    for (size_t j = 0; j < Hd; j++) d[j] = d[j] > 0 ? d[j] : 0;
    ref_linear(param(enc, "output_transform.2.weight"), param(enc, "output_transform.2.bias"), d, Hd, c->embed, out);
}

/* ---- gradients ---------------------------------------------------------------------------- */

typedef struct Ctx {
    const Encoder *enc;
    Tensor *theta;
    const real *r;   /* (B, E) fixed weights of the loss */
} Ctx;

/* loss = sum E(θ) r */
static Tensor *embedding_loss(Tape *t, void *p)
{
    Ctx *c = p;
    Tensor *e = encoder_forward(t, c->enc, c->theta, NULL);
    Tensor *r = tensor_new(t, e->ndim, e->shape, 0);
    memcpy(r->data, c->r, r->size * sizeof(real));
    return op_sum_all(t, op_mul(t, e, r));
}

static Tensor *forward_values(Tape *t, const Encoder *enc, const real *theta, size_t B, ProbeTrace *trace)
{
    size_t P = zoo_num_params(enc->cfg.zoo);
    Tensor *th = tensor_new(t, 2, (size_t[]){B, P}, 0);
    memcpy(th->data, theta, B * P * sizeof(real));
    return encoder_forward(t, enc, th, trace);
}

/* Forward against the plain-loop reference, then (double build) every parameter tensor and θ
 * by finite differences. Parameters that never influence E(θ) (h0, c0; probing_encodings of
 * the interactive kind) must get exactly zero gradient instead. */
static void check_encoder(EncoderKind kind, ZooShape zoo)
{
    Rng rng;
    rng_seed(&rng, 10 + (uint64_t)kind + zoo.I);
    EncoderConfig cfg = small_config(kind, zoo);
    Encoder enc;
    encoder_init(&enc, &cfg, &rng);
    size_t B = 2, P = zoo_num_params(zoo), E = cfg.embed;
    Tensor theta = leaf_new(&rng, 2, (size_t[]){B, P}, -0.5, 0.5);
    real r[2 * 16];
    for (size_t i = 0; i < B * E; i++) r[i] = (real)(2 * rng_uniform(&rng) - 1);
    char what[160];
    const char *name = encoder_facts[kind].name, *zname = zoo.I == 16 ? "tiles" : "tokens";

    Tape t;
    tape_init(&t);
    t.record = 0;
    Tensor *e = forward_values(&t, &enc, theta.data, B, NULL);
    double worst = 0;
    for (size_t b = 0; b < B; b++) {
        double ref[16];
        if (kind == ENC_TRANSFORMER) ref_transformer(&enc, theta.data + b * P, ref);
        else ref_probing(&enc, theta.data + b * P, ref);
        for (size_t j = 0; j < E; j++) {
            double d = fabs(e->data[b * E + j] - ref[j]) / (fabs(ref[j]) > 1 ? fabs(ref[j]) : 1);
            worst = d > worst ? d : worst;
        }
    }
    CHECK(worst < (IS_DOUBLE_BUILD ? 1e-10 : 1e-4), "%s (%s): forward differs from the reference by %g", name, zname, worst);
    tape_free(&t);

    if (IS_DOUBLE_BUILD) {
        Ctx ctx = {&enc, &theta, r};
        for (size_t i = 0; i < enc.params.count; i++) {
            const char *pn = enc.params.names[i];
            Tensor *v = enc.params.views[i];
            snprintf(what, sizeof what, "%s (%s) %s", name, zname, pn);
            int unused = strcmp(pn, "h0") == 0 || strcmp(pn, "c0") == 0 ||
                         (kind == ENC_INTERACTIVE && strcmp(pn, "probing_encodings") == 0);
            if (unused) {
                Tape u;
                tape_init(&u);
                paramset_zero_grad(&enc.params);
                tape_backward(&u, embedding_loss(&u, &ctx));
                double s = 0;
                for (size_t k = 0; k < v->size; k++) s += fabs(v->grad[k]);
                CHECK(s == 0, "%s: unused, yet has gradient %g", what, s);
                tape_free(&u);
            } else {
                gradcheck(what, embedding_loss, &ctx, v, 12, 1e-5);
            }
        }
        snprintf(what, sizeof what, "%s (%s) theta", name, zname);
        gradcheck(what, embedding_loss, &ctx, &theta, 24, 1e-5);
    }
    leaf_free(&theta);
    encoder_free(&enc);
}

/* With dropout p, the tape in evaluation mode gives the p = 0 output; training changes it. */
static void check_transformer_dropout(void)
{
    Rng rng, drop;
    rng_seed(&rng, 5);
    rng_seed(&drop, 6);
    EncoderConfig cfg = small_config(ENC_TRANSFORMER, TOKENS);
    Encoder enc;
    encoder_init(&enc, &cfg, &rng);
    size_t P = zoo_num_params(TOKENS);
    Tensor theta = leaf_new(&rng, 2, (size_t[]){2, P}, -0.5, 0.5);
    Tape t;
    tape_init(&t);
    Tensor *e0 = forward_values(&t, &enc, theta.data, 2, NULL);
    enc.cfg.dropout = (real)0.1;
    Tensor *e1 = forward_values(&t, &enc, theta.data, 2, NULL);
    t.training = 1;
    t.rng = &drop;
    Tensor *e2 = forward_values(&t, &enc, theta.data, 2, NULL);
    CHECK(memcmp(e0->data, e1->data, e0->size * sizeof(real)) == 0, "dropout is the identity outside training");
    CHECK(fabs(e2->data[0] - e0->data[0]) > 1e-6, "dropout changes the training output");
    tape_free(&t);
    leaf_free(&theta);
    encoder_free(&enc);
}

/* ---- permutation symmetry and what the probes depend on ------------------------------------ */

static void check_permutation(ZooShape zoo)
{
    Rng rng;
    rng_seed(&rng, 7);
    size_t B = 2, P = zoo_num_params(zoo);
    Tensor theta = leaf_new(&rng, 2, (size_t[]){B, P}, -0.5, 0.5);
    const EncoderKind kinds[3] = {ENC_NONINTERACTIVE, ENC_INTERACTIVE, ENC_TRANSFORMER};
    for (int k = 0; k < 3; k++) {
        EncoderConfig cfg = small_config(kinds[k], zoo);
        Encoder enc;
        encoder_init(&enc, &cfg, &rng);
        double d = encoder_permutation_change(&enc, theta.data, B, &rng);
        if (kinds[k] == ENC_TRANSFORMER)
            CHECK(d > 1e-3, "transformer: permuting θ's neurons should change E(θ), changed by %g", d);
        else
            CHECK(d < (IS_DOUBLE_BUILD ? 1e-12 : 1e-5), "%s: permuting θ's neurons changed E(θ) by %g", encoder_facts[kinds[k]].name, d);
        encoder_free(&enc);
    }
    leaf_free(&theta);
}

/* The trace: non-interactive probes are the same for every θ, interactive ones follow the
 * answers (only the first probe, made from bos alone, is shared); the answers are the zoo
 * RNN's logits on those probes; probes are distributions (tokens) or in (0, 1) (tiles). */
static void check_trace(EncoderKind kind, ZooShape zoo)
{
    Rng rng;
    rng_seed(&rng, 8);
    EncoderConfig cfg = small_config(kind, zoo);
    Encoder enc;
    encoder_init(&enc, &cfg, &rng);
    size_t B = 2, P = zoo_num_params(zoo), L = cfg.L, M = cfg.M, I = zoo.I, O = zoo.O;
    Tensor th1 = leaf_new(&rng, 2, (size_t[]){B, P}, -0.5, 0.5), th2 = leaf_new(&rng, 2, (size_t[]){B, P}, -0.5, 0.5);
    Tape t;
    tape_init(&t);
    t.record = 0;
    ProbeTrace tr1, tr2;
    forward_values(&t, &enc, th1.data, B, &tr1);
    forward_values(&t, &enc, th2.data, B, &tr2);
    const char *name = encoder_facts[kind].name;
    CHECK(tr1.inputs->ndim == 4 && tr1.inputs->shape[0] == B && tr1.inputs->shape[1] == L && tr1.inputs->shape[2] == M &&
              tr1.inputs->shape[3] == I && tr1.answers->shape[1] == L && tr1.answers->shape[3] == O,
          "%s: trace shapes (B, L, M, I) and (B, L, M, O)", name);
    size_t step = M * I, n = B * L * step;
    if (kind == ENC_NONINTERACTIVE) {
        CHECK(memcmp(tr1.inputs->data, tr2.inputs->data, n * sizeof(real)) == 0, "%s: probes do not depend on θ", name);
    } else {
        int first_same = 1;
        for (size_t b = 0; b < B; b++)
            first_same &= memcmp(tr1.inputs->data + b * L * step, tr2.inputs->data + b * L * step, step * sizeof(real)) == 0;
        CHECK(first_same, "%s: the first probe comes from bos alone", name);
        CHECK(max_abs_diff(tr1.inputs->data, tr2.inputs->data, tr1.inputs->size) > 1e-6, "%s: later probes depend on θ", name);
    }
    int ok = 1;
    for (size_t r = 0; r < B * L * M; r++) {
        double s = 0;
        for (size_t j = 0; j < I; j++) {
            double v = tr1.inputs->data[r * I + j];
            ok &= v > 0 && v < 1;
            s += v;
        }
        if (I != 16) ok &= fabs(s - 1) < 1e-5;
    }
    CHECK(ok, "%s (%s): probes are %s", name, I == 16 ? "tiles" : "tokens", I == 16 ? "in (0, 1)" : "distributions");
    /* Replay the recorded probes through the zoo RNN: the same logits, bit for bit. */
    Tensor *theta = tensor_new(&t, 2, (size_t[]){B, P}, 0);
    memcpy(theta->data, th1.data, B * P * sizeof(real));
    ZooBatch zb;
    zoo_batch_begin(&t, &zb, zoo, theta, M);
    int same = 1;
    for (size_t s = 0; s < L; s++) {
        Tensor *x = tensor_new(&t, 3, (size_t[]){B, M, I}, 0);
        for (size_t b = 0; b < B; b++) memcpy(x->data + b * step, tr1.inputs->data + (b * L + s) * step, step * sizeof(real));
        Tensor *o = zoo_batch_step(&t, &zb, x);
        for (size_t b = 0; b < B; b++)
            same &= memcmp(o->data + b * M * O, tr1.answers->data + (b * L + s) * M * O, M * O * sizeof(real)) == 0;
    }
    CHECK(same, "%s: the answers are the zoo RNN's logits on the probes", name);
    tape_free(&t);
    leaf_free(&th1);
    leaf_free(&th2);
    encoder_free(&enc);
}

/* With W_ih^0 = 0 the zoo RNN ignores its inputs, so the probe generator (proj_up, decoder,
 * and the non-interactive probing_encodings), whose only path to E(θ) runs through the zoo
 * RNN, gets exactly zero gradient; with the real W_ih^0 it does not. */
static void check_zoo_path(EncoderKind kind)
{
    Rng rng;
    rng_seed(&rng, 9);
    EncoderConfig cfg = small_config(kind, TOKENS);
    Encoder enc;
    encoder_init(&enc, &cfg, &rng);
    size_t B = 2, P = zoo_num_params(TOKENS), off, rows, cols;
    Tensor theta = leaf_new(&rng, 2, (size_t[]){B, P}, -0.5, 0.5);
    real r[6] = {1, -0.5, 0.25, 0.7, -1, 0.3};
    const char *gen[6] = {"proj_up.0.weight", "proj_up.0.bias", "probing_input_decoder.0.weight",
                          "probing_input_decoder.2.weight", "probing_input_decoder.2.bias", "probing_encodings"};
    int n_gen = kind == ENC_INTERACTIVE ? 5 : 6;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            zoo_tensor_layout(TOKENS, ZOO_W_IH0, &off, &rows, &cols);
            for (size_t b = 0; b < B; b++) memset(theta.data + b * P + off, 0, rows * cols * sizeof(real));
        }
        Ctx ctx = {&enc, &theta, r};
        Tape t;
        tape_init(&t);
        paramset_zero_grad(&enc.params);
        tape_backward(&t, embedding_loss(&t, &ctx));
        double gsum = 0;
        for (int i = 0; i < n_gen; i++) {
            Tensor *v = find_param(&enc, gen[i]);
            for (size_t k = 0; k < v->size; k++) gsum += fabs(v->grad[k]);
        }
        double core = fabs(find_param(&enc, "rnn_cells.1.cell.weight_hh")->grad[3]);
        if (pass == 0) CHECK(gsum > 0, "%s: the probe generator gets a gradient through the zoo RNN", encoder_facts[kind].name);
        else CHECK(gsum == 0 && core > 0, "%s: with W_ih^0 = 0 the probe generator's gradient is %g (core %g)",
                   encoder_facts[kind].name, gsum, core);
        tape_free(&t);
    }
    leaf_free(&theta);
    encoder_free(&enc);
}

/* The official preset names and what they set. */
static void check_presets(void)
{
    static const struct { const char *name; EncoderKind kind; size_t M, L_tokens; } want[] = {
        {"stats", ENC_STATS, 1, 22}, {"flat", ENC_FLAT, 1, 22}, {"transformer", ENC_TRANSFORMER, 1, 22},
        {"dws", ENC_DWS, 1, 22}, {"noninteractive", ENC_NONINTERACTIVE, 1, 22}, {"noninteractive_8", ENC_NONINTERACTIVE, 8, 22},
        {"interactive", ENC_INTERACTIVE, 1, 22}, {"interactive_1", ENC_INTERACTIVE, 1, 22}, {"interactive_4", ENC_INTERACTIVE, 4, 22},
        {"interactive_length_7", ENC_INTERACTIVE, 1, 7}, {"interactive_length_42", ENC_INTERACTIVE, 1, 42},
    };
    char err[RR_ERRLEN];
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        EncoderConfig tok, til;
        int ok = encoder_preset(want[i].name, ZOO_FORMAL, &tok, err) == RR_OK && encoder_preset(want[i].name, ZOO_MNIST, &til, err) == RR_OK;
        CHECK(ok && tok.kind == want[i].kind && tok.M == want[i].M && tok.L == want[i].L_tokens && til.M == want[i].M && til.L == 50,
              "preset %s", want[i].name);
    }
    const char *bad[] = {"interactive_3", "noninteractive_length_7", "stat", "", "interactive_length_22"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        EncoderConfig c;
        CHECK(encoder_preset(bad[i], ZOO_FORMAL, &c, err) == RR_ERR_FORMAT && strstr(err, "unknown encoder"), "preset '%s' refused", bad[i]);
    }
}

int main(void)
{
    check_presets();
    check_counts();
    check_names_and_init();
    const EncoderKind kinds[3] = {ENC_TRANSFORMER, ENC_NONINTERACTIVE, ENC_INTERACTIVE};
    for (int k = 0; k < 3; k++) {
        check_encoder(kinds[k], TOKENS);
        check_encoder(kinds[k], TILES);
    }
    check_transformer_dropout();
    check_permutation(TOKENS);
    check_permutation(TILES);
    check_trace(ENC_NONINTERACTIVE, TOKENS);
    check_trace(ENC_INTERACTIVE, TOKENS);
    check_trace(ENC_INTERACTIVE, TILES);
    check_zoo_path(ENC_NONINTERACTIVE);
    check_zoo_path(ENC_INTERACTIVE);
    return test_summary("test_encoders_func");
}
