/* test_emulator.c — the emulator and the emulation losses (models/emulator.c): parameter
 * counts and names, the forward pass against a computation by hand (the embedding enters the
 * first step only), each loss against its formula, and finite-difference gradients of every
 * loss with respect to the logits, the target, every emulator parameter, e and x. */
#include "gradcheck.h"

#define TOL (IS_DOUBLE_BUILD ? 1e-11 : 2e-5)

/* ---- counts, names, initialisation ----------------------------------------------------- */

static void check_params(ZooShape zoo, size_t want, const char *what)
{
    static const char *const names[] = {
        "embedding_projection.weight", "embedding_projection.bias",
        "input_projection.weight", "input_projection.bias",
        "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0",
        "lstm.weight_ih_l1", "lstm.weight_hh_l1", "lstm.bias_ih_l1", "lstm.bias_hh_l1",
        "output_projection.weight", "output_projection.bias",
    };
    Rng rng;
    rng_seed(&rng, 5);
    Emulator em;
    EmulatorConfig ec = emulator_config_paper(zoo);
    emulator_init(&em, &ec, &rng);
    CHECK(em.params.n == want, "%s: emulator has %zu parameters, want %zu", what, em.params.n, want);
    size_t n = sizeof names / sizeof names[0];
    CHECK(em.params.count == n, "%s: %zu tensors, want %zu", what, em.params.count, n);
    for (size_t k = 0; k < n && k < em.params.count; k++)
        CHECK(strcmp(em.params.names[k], names[k]) == 0, "%s: tensor %zu is %s, want %s", what, k, em.params.names[k], names[k]);
    /* PyTorch defaults: Linear uniform(±1/sqrt(in)), LSTM uniform(±1/sqrt(D)). */
    for (size_t k = 0; k < em.params.count; k++) {
        const Tensor *v = em.params.views[k];
        double bound = k < 2 ? 1 / sqrt(16.0) : k < 4 ? 1 / sqrt((double)zoo.I) : 1 / sqrt(256.0), largest = 0;
        for (size_t i = 0; i < v->size; i++) largest = fabs((double)v->data[i]) > largest ? fabs((double)v->data[i]) : largest;
        CHECK(largest <= bound && largest > 0.5 * bound, "%s: %s largest |w| %.4f, bound %.4f", what, em.params.names[k], largest, bound);
    }
    emulator_free(&em);
}

/* ---- forward by hand ------------------------------------------------------------------- */

/* u[b, s] = W_in x[b, s] + b_in, plus (W_emb e[b] + b_emb) at s = 0 only (e may be NULL),
 * written with plain loops from the parameter values; then the two LSTM layers and the
 * output projection from the building blocks. */
static Tensor *forward_by_hand(Tape *t, const Emulator *em, const Tensor *x, const Tensor *e)
{
    size_t B = x->shape[0], T = x->shape[1], I = em->cfg.zoo.I, D = em->cfg.width, E = em->cfg.embed;
    Tensor *u = tensor_new(t, 3, (size_t[]){B, T, D}, 0);                       /* (B, T, D) */
    for (size_t b = 0; b < B; b++)
        for (size_t s = 0; s < T; s++)
            for (size_t d = 0; d < D; d++) {
                double acc = em->input.b->data[d];
                for (size_t i = 0; i < I; i++) acc += (double)em->input.W->data[d * I + i] * x->data[(b * T + s) * I + i];
                if (s == 0 && e) {
                    acc += em->embedding.b->data[d];
                    for (size_t j = 0; j < E; j++) acc += (double)em->embedding.W->data[d * E + j] * e->data[b * E + j];
                }
                u->data[(b * T + s) * D + d] = (real)acc;
            }
    Tensor *h = lstm_layer_sequence(t, &em->lstm[1], lstm_layer_sequence(t, &em->lstm[0], u));
    return op_linear(t, h, em->output.W, em->output.b);                         /* (B, T, O) */
}

static void check_forward(void)
{
    Rng rng;
    rng_seed(&rng, 6);
    Emulator em;
    ZooShape zoo = ZOO_MNIST;
    size_t B = 3, T = 6, D = 12, E = 5;
    emulator_init(&em, &(EmulatorConfig){zoo, D, E}, &rng);
    Tape t;
    tape_init(&t);
    t.record = 0;
    Tensor *x = tensor_new(&t, 3, (size_t[]){B, T, zoo.I}, 0);                 /* (B, T, I) */
    Tensor *e = tensor_new(&t, 2, (size_t[]){B, E}, 0);                        /* (B, E) */
    fill_uniform(x->data, x->size, &rng, -1, 1);
    fill_uniform(e->data, e->size, &rng, -1, 1);
    Tensor *y = emulator_forward(&t, &em, x, e);                               /* (B, T, O) */
    Tensor *want = forward_by_hand(&t, &em, x, e);
    double d = max_abs_diff(y->data, want->data, y->size);
    CHECK(d <= TOL, "emulator_forward differs from the computation by hand by %.3g", d);
    d = max_abs_diff(emulator_forward(&t, &em, x, NULL)->data, forward_by_hand(&t, &em, x, NULL)->data, y->size);
    CHECK(d <= TOL, "emulator_forward without e differs from the computation by hand by %.3g", d);

    /* With a single step the embedding is still added. */
    Tensor *x1 = tensor_new(&t, 3, (size_t[]){B, 1, zoo.I}, 0);
    fill_uniform(x1->data, x1->size, &rng, -1, 1);
    d = max_abs_diff(emulator_forward(&t, &em, x1, e)->data, forward_by_hand(&t, &em, x1, e)->data, B * zoo.O);
    CHECK(d <= TOL, "emulator_forward with T = 1 differs by %.3g", d);

    /* Another e changes the outputs from step 0 on; x at step 3 changes nothing before step 3. */
    Tensor *e2 = tensor_new(&t, 2, (size_t[]){B, E}, 0);
    fill_uniform(e2->data, e2->size, &rng, -1, 1);
    Tensor *y2 = emulator_forward(&t, &em, x, e2);
    CHECK(max_abs_diff(y->data, y2->data, zoo.O) > 1e-4, "changing e leaves step 0 unchanged");
    x->data[(0 * T + 3) * zoo.I + 2] += 1;
    Tensor *y3 = emulator_forward(&t, &em, x, e);
    CHECK(max_abs_diff(y->data, y3->data, 3 * zoo.O) == 0, "x at step 3 changes earlier outputs");
    CHECK(max_abs_diff(y->data + 3 * zoo.O, y3->data + 3 * zoo.O, zoo.O) > 1e-5, "x at step 3 changes nothing at step 3");
    tape_free(&t);
    emulator_free(&em);
}

/* ---- losses against their formulas ----------------------------------------------------- */

/* The loss by its formula, in double, from raw logits z and target y (R rows of K). */
static double loss_by_formula(EmulationLoss kind, const real *z, const real *y, size_t R, size_t K)
{
    double total = 0;
    for (size_t r = 0; r < R; r++) {
        double mz = -INFINITY, my = -INFINITY, sz = 0, sy = 0, row = 0;
        for (size_t k = 0; k < K; k++) mz = fmax(mz, z[r * K + k]), my = fmax(my, y[r * K + k]);
        for (size_t k = 0; k < K; k++) sz += exp(z[r * K + k] - mz), sy += exp(y[r * K + k] - my);
        for (size_t k = 0; k < K; k++) {
            double lq = z[r * K + k] - mz - log(sz), lp = y[r * K + k] - my - log(sy), p = exp(lp), q = exp(lq);
            switch (kind) {
            case LOSS_TV: row += 0.5 * fabs(p - q); break;
            case LOSS_KL: row += p * (lp - lq) / (double)K; break;
            case LOSS_REVERSE_KL: row += q * (lq - lp) / (double)K; break;
            case LOSS_JS: row += 0.5 * (p * (lp - lq) + q * (lq - lp)) / (double)K; break;
            case LOSS_CE: row += -p * lq; break;
            case LOSS_L2: row += (lq - lp) * (lq - lp) / (double)K; break;
            default: break;
            }
        }
        total += row;
    }
    return total / (double)R;
}

static void check_loss_values(void)
{
    Rng rng;
    rng_seed(&rng, 7);
    size_t B = 2, T = 3, K = 5;
    Tape t;
    tape_init(&t);
    Tensor *z = tensor_new(&t, 3, (size_t[]){B, T, K}, 0), *y = tensor_new(&t, 3, (size_t[]){B, T, K}, 0);
    fill_uniform(z->data, z->size, &rng, -2, 2);
    fill_uniform(y->data, y->size, &rng, -2, 2);
    /* The formal-language zoo stores log-softmax outputs, MNIST raw logits: p is the same. */
    Tensor *y_log = op_log_softmax(&t, y);
    for (int k = 0; k < LOSS_COUNT; k++) {
        EmulationLoss kind = (EmulationLoss)k;
        char what[64];
        snprintf(what, sizeof what, "%s value", emulation_loss_names[k]);
        double got = emulation_loss(&t, kind, z, y)->data[0];
        CHECK_NEAR(got, loss_by_formula(kind, z->data, y->data, B * T, K), 1e-6, what);
        snprintf(what, sizeof what, "%s with a log-softmax target", emulation_loss_names[k]);
        CHECK_NEAR(emulation_loss(&t, kind, z, y_log)->data[0], got, 1e-6, what);
        snprintf(what, sizeof what, "%s of identical distributions", emulation_loss_names[k]);
        double self = emulation_loss(&t, kind, y, y_log)->data[0];
        if (kind == LOSS_CE) CHECK(self > 0, "ce of identical distributions is the entropy, got %g", self);
        else CHECK_NEAR(self, 0, 1e-6, what);
    }
    /* ce = K kl + H(p): the soft cross-entropy and the official kl share a gradient up to K. */
    double ce = emulation_loss(&t, LOSS_CE, z, y)->data[0], kl = emulation_loss(&t, LOSS_KL, z, y)->data[0];
    double entropy = emulation_loss(&t, LOSS_CE, y, y)->data[0];
    CHECK_NEAR(ce, (double)K * kl + entropy, 1e-6, "ce = K kl + H(p)");
    /* A hand example, one position: p = (0.2, 0.3, 0.5) as log-probabilities, q = (0.5, 0.5, 0):
     * tv = 0.5 (0.3 + 0.2 + 0.5) = 0.5 (q's last logit -40 makes q_3 = 4e-18, negligible). */
    Tensor *zz = tensor_new(&t, 3, (size_t[]){1, 1, 3}, 0), *yy = tensor_new(&t, 3, (size_t[]){1, 1, 3}, 0);
    zz->data[0] = 0, zz->data[1] = 0, zz->data[2] = -40;
    yy->data[0] = (real)log(0.2), yy->data[1] = (real)log(0.3), yy->data[2] = (real)log(0.5);
    CHECK_NEAR(emulation_loss(&t, LOSS_TV, zz, yy)->data[0], 0.5, 1e-6, "tv hand example");
    tape_free(&t);
}

/* ---- finite differences ---------------------------------------------------------------- */

typedef struct LossCtx { EmulationLoss kind; Tensor *logits, *target; } LossCtx;
static Tensor *loss_only(Tape *t, void *p)
{
    LossCtx *c = p;
    return emulation_loss(t, c->kind, c->logits, c->target);
}

typedef struct EmuCtx { EmulationLoss kind; const Emulator *em; Tensor *x, *e, *target; } EmuCtx;
static Tensor *emulator_loss(Tape *t, void *p)
{
    EmuCtx *c = p;
    return emulation_loss(t, c->kind, emulator_forward(t, c->em, c->x, c->e), c->target);
}

static void gradcheck_losses(void)
{
    Rng rng;
    rng_seed(&rng, 8);
    size_t B = 2, T = 3;
    Emulator em;
    ZooShape zoo = ZOO_FORMAL;
    emulator_init(&em, &(EmulatorConfig){zoo, 7, 3}, &rng);                  /* D = 7, E = 3: every element is checked */
    /* Larger weights than PyTorch's ±1/sqrt(D) carry larger signals through the two layers, so
     * the gradients stand well above the finite differences' rounding noise. */
    for (size_t v = 0; v < em.params.count; v++) init_uniform(em.params.views[v], &rng, 0.8);
    Tensor logits = leaf_new(&rng, 3, (size_t[]){B, T, zoo.O}, -2, 2);       /* (B, T, O) */
    Tensor target = leaf_new(&rng, 3, (size_t[]){B, T, zoo.O}, -2, 2);       /* (B, T, O) */
    Tensor x = leaf_new(&rng, 3, (size_t[]){B, T, zoo.I}, -1, 1);            /* (B, T, I) */
    Tensor e = leaf_new(&rng, 2, (size_t[]){B, 3}, -1, 1);                   /* (B, E) */
    /* Through the emulator the target is data, as in training: the same values, no gradient. */
    Tensor target_data = tensor_wrap(target.data, NULL, 3, target.shape);
    for (int k = 0; k < LOSS_COUNT; k++) {
        char what[96];
        LossCtx lc = {(EmulationLoss)k, &logits, &target};
        snprintf(what, sizeof what, "%s / logits", emulation_loss_names[k]);
        printf("  %-40s max rel err %.2e\n", what, gradcheck(what, loss_only, &lc, &logits, 0, 1e-5));
        snprintf(what, sizeof what, "%s / target", emulation_loss_names[k]);
        printf("  %-40s max rel err %.2e\n", what, gradcheck(what, loss_only, &lc, &target, 0, 1e-5));

        EmuCtx ec = {(EmulationLoss)k, &em, &x, &e, &target_data};
        double worst = 0;
        for (size_t v = 0; v < em.params.count; v++) {
            snprintf(what, sizeof what, "%s / %s", emulation_loss_names[k], em.params.names[v]);
            double err = gradcheck(what, emulator_loss, &ec, em.params.views[v], 0, 1e-5);
            worst = err > worst ? err : worst;
        }
        snprintf(what, sizeof what, "%s / every emulator parameter", emulation_loss_names[k]);
        printf("  %-40s max rel err %.2e\n", what, worst);
        snprintf(what, sizeof what, "%s / e", emulation_loss_names[k]);
        printf("  %-40s max rel err %.2e\n", what, gradcheck(what, emulator_loss, &ec, &e, 0, 1e-5));
        snprintf(what, sizeof what, "%s / x", emulation_loss_names[k]);
        printf("  %-40s max rel err %.2e\n", what, gradcheck(what, emulator_loss, &ec, &x, 0, 1e-5));
    }
    leaf_free(&logits), leaf_free(&target), leaf_free(&x), leaf_free(&e);
    emulator_free(&em);
}

int main(void)
{
    check_params(ZOO_FORMAL, 1060358, "formal");
    check_params(ZOO_MNIST, 1063946, "mnist");
    check_forward();
    check_loss_values();
    if (IS_DOUBLE_BUILD) gradcheck_losses();
    else printf("SKIP finite-difference checks need the double build\n");
    return test_summary("test_emulator");
}
