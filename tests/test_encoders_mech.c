/* test_encoders_mech.c — the three mechanistic encoders without attention: layer-wise
 * statistics, flattened weights and DWSNet (SPEC.md §3.1, 3.2, 3.4). Parameter counts and names
 * against the official modules, the statistics against values worked out by hand, finite-
 * difference gradients of every parameter tensor and of θ, and the hidden-neuron permutation
 * symmetry: stats and DWS are invariant, flat is not. */
#include "gradcheck.h"

static const ZooShape TINY = {3, 4, 2}; /* I, H, O: P = 314, small enough to check every tensor */

static EncoderConfig config(EncoderKind kind, ZooShape z)
{
    EncoderConfig c = encoder_config_paper(kind, z);
    if (kind == ENC_STATS) c.hidden_layers = 2;  /* also exercise the hidden Linear(h, h) */
    c.hidden = 16;
    c.channels = 8;
    c.dws_layers = 2;
    return c;
}

static int find_param(const ParamSet *ps, const char *name)
{
    for (size_t i = 0; i < ps->count; i++)
        if (strcmp(ps->names[i], name) == 0) return (int)i;
    return -1;
}

/* ---------------------------------------------------------------------------------------- */

static void check_counts(void)
{
    static const struct { EncoderKind kind; size_t formal, mnist, tensors; const char *first, *last; } want[] = {
        {ENC_STATS, 11152, 11152, 4, "mlp_model.0.weight", "mlp_model.2.bias"},
        {ENC_FLAT, 1797264, 1978000, 8, "mlp_model.0.weight", "mlp_model.6.bias"},
        /* 4 layers × (3 embeddings + 5 tensors × 6 maps × weight and bias) + 2 Linear × 2 */
        {ENC_DWS, 1279736, 1282400, 4 * 63 + 4, "np_model.0.in_embed", "mlp_model.2.bias"},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
        for (int m = 0; m < 2; m++) {
            ZooShape z = m ? ZOO_MNIST : ZOO_FORMAL;
            EncoderConfig c = encoder_config_paper(want[k].kind, z);
            Rng rng;
            rng_seed(&rng, 1);
            Encoder enc;
            encoder_init(&enc, &c, &rng);
            size_t n = m ? want[k].mnist : want[k].formal;
            const ParamSet *ps = &enc.params;
            CHECK(ps->n == n, "%s (%s): %zu parameters, want %zu", encoder_facts[want[k].kind].name, m ? "mnist" : "formal", ps->n, n);
            CHECK(ps->count == want[k].tensors, "%s: %zu parameter tensors, want %zu", encoder_facts[want[k].kind].name, ps->count, want[k].tensors);
            CHECK(strcmp(ps->names[0], want[k].first) == 0 && strcmp(ps->names[ps->count - 1], want[k].last) == 0,
                  "%s: names %s .. %s", encoder_facts[want[k].kind].name, ps->names[0], ps->names[ps->count - 1]);
            if (want[k].kind == ENC_DWS) {
                /* Official shapes and order: the module's own embeddings, then i2h_layer_0 ... */
                int i = find_param(ps, "np_model.0.i2h_layer_0.weight"), j = find_param(ps, "np_model.6.h2h_bias_1_rc.bias");
                CHECK(i == 3 && ps->views[i]->ndim == 4 && ps->views[i]->shape[0] == 48 && ps->views[i]->shape[1] == 4,
                      "dws: np_model.0.i2h_layer_0.weight is the 4th tensor, (48, 4, 1, 1)");
                CHECK(j >= 0 && ps->views[j]->size == 48, "dws: np_model.6.h2h_bias_1_rc.bias (48)");
                int r = find_param(ps, "np_model.2.i2h_layer_1_r.weight");
                CHECK(r >= 0 && ps->views[r]->ndim == 3 && ps->views[r]->shape[1] == 6 * 48, "dws: i2h_layer_1_r reads 6 x 48 channels");
                /* set_init_: the weight path of A_0 in layer 1 reads 4 + 40 + 4 + 24 = 72 inputs. */
                double bound = sqrt(1.0 / 72), hi = 0;
                const char *path[4] = {"np_model.0.i2h_layer_0.weight", "np_model.0.i2h_layer_0_rc.weight",
                                       "np_model.0.i2h_layer_0_r.bias", "np_model.0.i2h_layer_0_c.weight"};
                for (int p = 0; p < 4; p++) {
                    const Tensor *w = ps->views[find_param(ps, path[p])];
                    for (size_t e = 0; e < w->size; e++) hi = fabs(w->data[e]) > hi ? fabs(w->data[e]) : hi;
                }
                CHECK(hi <= bound && hi > 0.95 * bound, "dws init: max |w| %g, bound sqrt(1/72) = %g", hi, bound);
            }
            encoder_free(&enc);
        }
}

/* ---------------------------------------------------------------------------------------- */

/* The statistics through the public interface: with hidden = embed = 70, mlp_model.0 =
 * (identity, +10) and mlp_model.2 = (identity, -10), E(θ) is the feature vector itself as long
 * as every feature is above -10. */
static void check_statistics(void)
{
    ZooShape z = {2, 1, 2}; /* G = 4: tensors of 8, 4, 4, 4, 4, 4, 4, 4, 2, 2 entries */
    EncoderConfig c = encoder_config_paper(ENC_STATS, z);
    c.hidden = c.embed = 70;
    Rng rng;
    rng_seed(&rng, 3);
    Encoder enc;
    encoder_init(&enc, &c, &rng);
    for (int l = 0; l < 2; l++) {
        Tensor *W = enc.params.views[2 * l], *b = enc.params.views[2 * l + 1];
        memset(W->data, 0, W->size * sizeof(real));
        for (int i = 0; i < 70; i++) W->data[i * 70 + i] = 1;
        init_constant(b, l == 0 ? 10 : -10);
    }
    size_t P = zoo_num_params(z);
    Tape t;
    tape_init(&t);
    Tensor *theta = tensor_new(&t, 2, (size_t[]){1, P}, 0);
    fill_uniform(theta->data, P, &rng, -1, 1);
    static const real w_ih0[8] = {5, -2, 0, 7, 1, 1, -3, 2}, w_hh0[4] = {3, 1, 4, 1}, lin_b[2] = {(real)0.5, (real)-1.5};
    memcpy(theta->data, w_ih0, sizeof w_ih0);          /* weight_ih_l0, offset 0 */
    memcpy(theta->data + 8, w_hh0, sizeof w_hh0);      /* weight_hh_l0, offset 8 */
    memcpy(theta->data + P - 2, lin_b, sizeof lin_b);  /* linear.bias, the last 2 */
    Tensor *e = encoder_forward(&t, &enc, theta, NULL);
    /* θ without a gradient: the statistics record nothing; the tape holds only the MLP's
     * Linear, ReLU, Linear. */
    CHECK(t.count == 3, "stats encoder on θ without a gradient: %zu tape entries, want the MLP's 3", t.count);
    /* By hand. weight_ih_l0 sorted: -3 -2 0 1 1 2 5 7; mean 11/8; Σ(x - mean)^2 = 93 - 8 (11/8)^2
     * = 77.875, /7 = 11.125; quantile positions q·7: 1.75 → -2 + .75·2 = -0.5, 3.5 → 1,
     * 5.25 → 2 + .25·3 = 2.75. weight_hh_l0 sorted 1 1 3 4: mean 2.25, var (2 · 1.25^2 + .75^2 + 1.75^2) / 3 = 2.25, positions q·3:
     * .75 → 1, 1.5 → 2, 2.25 → 3.25. linear.bias -1.5 0.5: mean -0.5, var 2, quartiles -1, -0.5, 0. */
    static const double want[3][7] = {{1.375, 11.125, -3, -0.5, 1, 2.75, 7},
                                      {2.25, 2.25, 1, 1, 2, 3.25, 4},
                                      {-0.5, 2, -1.5, -1, -0.5, 0, 0.5}};
    static const int tensor[3] = {ZOO_W_IH0, ZOO_W_HH0, ZOO_LINEAR_B};
    double tol = IS_DOUBLE_BUILD ? 1e-12 : 2e-6;
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < 7; j++) {
            char what[64];
            snprintf(what, sizeof what, "%s statistic %d", zoo_tensor_names[tensor[k]], j);
            CHECK_NEAR(e->data[7 * tensor[k] + j], want[k][j], tol, what);
        }
    /* Every other tensor: its mean lies between its quantiles 0 and 1, and quantiles ascend. */
    int ordered = 1;
    for (int k = 0; k < ZOO_NUM_TENSORS; k++) {
        const real *f = e->data + 7 * k;
        ordered &= f[2] <= f[0] && f[0] <= f[6] && f[1] >= 0;
        for (int j = 2; j < 6; j++) ordered &= f[j] <= f[j + 1];
    }
    CHECK(ordered, "statistics are ordered min <= mean <= max, quantiles ascending");
    tape_free(&t);
    encoder_free(&enc);
}

/* ---------------------------------------------------------------------------------------- */

typedef struct Ctx {
    const Encoder *enc;
    Tensor *theta;  /* (B, P) */
    real *r;        /* (B, E) fixed weights: loss = Σ E(θ) · r */
} Ctx;

static Tensor *loss_fn(Tape *t, void *p)
{
    Ctx *c = p;
    Tensor *e = encoder_forward(t, c->enc, c->theta, NULL);
    Tensor *r = tensor_new(t, 2, e->shape, 0);
    memcpy(r->data, c->r, e->size * sizeof(real));
    return op_sum_all(t, op_mul(t, e, r));
}

/* Every parameter tensor (up to 100 sampled entries each) and θ. */
static void check_gradients(EncoderKind kind, ZooShape z, size_t B, int params_too)
{
    EncoderConfig c = config(kind, z);
    Rng rng;
    rng_seed(&rng, 7 + (uint64_t)kind);
    Encoder enc;
    encoder_init(&enc, &c, &rng);
    Tensor theta = leaf_new(&rng, 2, (size_t[]){B, zoo_num_params(z)}, -0.8, 0.8);
    real *r = malloc(B * c.embed * sizeof(real));
    fill_uniform(r, B * c.embed, &rng, -1, 1);
    Ctx ctx = {&enc, &theta, r};
    double worst = 0;
    char what[128];
    if (params_too)
        for (size_t i = 0; i < enc.params.count; i++) {
            snprintf(what, sizeof what, "%s %s", encoder_facts[kind].name, enc.params.names[i]);
            double err = gradcheck(what, loss_fn, &ctx, enc.params.views[i], 100, 1e-5);
            worst = err > worst ? err : worst;
        }
    snprintf(what, sizeof what, "%s theta (P = %zu)", encoder_facts[kind].name, zoo_num_params(z));
    double err = gradcheck(what, loss_fn, &ctx, &theta, 100, 1e-5);
    printf("  %-36s ok; max rel err where |diff| > 1e-7: %.1e\n", what, err);
    if (params_too) printf("  %-36s ok over %zu tensors; max rel err where |diff| > 1e-7: %.1e\n", encoder_facts[kind].name, enc.params.count, worst);
    leaf_free(&theta);
    free(r);
    encoder_free(&enc);
}

/* ---------------------------------------------------------------------------------------- */

/* encoder_permutation_change on B random θ (uniform in ±0.5). */
static double permutation_change(const EncoderConfig *c, size_t B, Rng *rng)
{
    Encoder enc;
    encoder_init(&enc, c, rng);
    size_t P = zoo_num_params(c->zoo);
    real *theta = malloc(B * P * sizeof *theta);
    fill_uniform(theta, B * P, rng, -0.5, 0.5);
    double change = encoder_permutation_change(&enc, theta, B, rng);
    free(theta);
    encoder_free(&enc);
    return change;
}

static void check_permutation_symmetry(void)
{
    Rng rng;
    rng_seed(&rng, 11);
    double tol = IS_DOUBLE_BUILD ? 1e-12 : 1e-4;
    for (int m = 0; m < 2; m++) {
        ZooShape z = m ? ZOO_MNIST : ZOO_FORMAL;
        EncoderConfig stats = encoder_config_paper(ENC_STATS, z), dws = encoder_config_paper(ENC_DWS, z);
        EncoderConfig flat = encoder_config_paper(ENC_FLAT, z);
        double ds = permutation_change(&stats, 3, &rng), dd = permutation_change(&dws, 3, &rng);
        double df = permutation_change(&flat, 3, &rng);
        printf("  permutation, %-6s relative change of E: stats %.1e, dws %.1e, flat %.1e\n", m ? "mnist" : "formal", ds, dd, df);
        CHECK(ds <= tol, "stats encoder is permutation invariant (%s): relative change %g", m ? "mnist" : "formal", ds);
        CHECK(dd <= tol, "dws encoder is permutation invariant (%s): relative change %g", m ? "mnist" : "formal", dd);
        CHECK(df > 1e-3, "flat encoder is not permutation invariant (%s): relative change %g", m ? "mnist" : "formal", df);
    }
}

int main(void)
{
    check_counts();
    check_statistics();
    check_permutation_symmetry();
    if (IS_DOUBLE_BUILD) {
        check_gradients(ENC_STATS, TINY, 3, 1);
        check_gradients(ENC_FLAT, TINY, 3, 1);
        check_gradients(ENC_DWS, TINY, 3, 1);
        /* θ at the real shapes: the gate-channel layout, the io-embeddings and broadcasts at I ≠ O ≠ H. */
        check_gradients(ENC_FLAT, ZOO_FORMAL, 2, 0);
        check_gradients(ENC_DWS, ZOO_FORMAL, 2, 0);
        check_gradients(ENC_DWS, ZOO_MNIST, 2, 0);
    } else {
        printf("SKIP finite-difference checks need the double build\n");
    }
    return test_summary("test_encoders_mech");
}
