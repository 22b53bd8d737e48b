/* gradcheck.h — finite-difference gradient checks, per element, in double.
 *
 * build(t, ctx) must return a scalar loss computed from x (and anything else in ctx) on
 * tape t. The analytic gradient from tape_backward is compared with the central difference
 * (L(x + h) - L(x - h)) / 2h, element by element, signed: an element passes when
 * |analytic - numeric| <= tol * max(|analytic|, |numeric|) + 1e-7. The reported error is
 * |analytic - numeric| / max(|analytic|, |numeric|, 1e-4), the floor keeping gradients that
 * are zero up to rounding from dominating it. The check fails when
 * every analytic gradient it looked at is zero (a gradient that never flows is no proof). */
#ifndef RNNREP_GRADCHECK_H
#define RNNREP_GRADCHECK_H
#include <stdlib.h>
#include <string.h>
#include "test.h"

typedef Tensor *(*LossBuilder)(Tape *t, void *ctx);

/* Checks at most max_check elements of x (0: all), a fixed-seed sample when fewer than all.
 * Returns the largest relative error seen. */
static inline double gradcheck(const char *what, LossBuilder build, void *ctx, Tensor *x, size_t max_check, double tol)
{
    Tape t;
    tape_init(&t);
    memset(x->grad, 0, x->size * sizeof(real));
    tape_backward(&t, build(&t, ctx));
    real *analytic = malloc(x->size * sizeof(real));
    memcpy(analytic, x->grad, x->size * sizeof(real));
    t.record = 0;
    size_t n = max_check && max_check < x->size ? max_check : x->size, nonzero = 0, bad = 0;
    double worst = 0;
    Rng rng;
    rng_seed(&rng, 12345);
    for (size_t c = 0; c < n; c++) {
        size_t i = n == x->size ? c : (size_t)rng_below(&rng, x->size);
        real orig = x->data[i];
        double h = 1e-6 * (fabs(orig) > 1 ? fabs(orig) : 1);
        x->data[i] = orig + (real)h;
        tape_reset(&t);
        double lp = build(&t, ctx)->data[0];
        x->data[i] = orig - (real)h;
        tape_reset(&t);
        double lm = build(&t, ctx)->data[0];
        x->data[i] = orig;
        double num = (lp - lm) / (2 * h), ana = analytic[i], diff = ana - num;
        double scale = fabs(ana) > fabs(num) ? fabs(ana) : fabs(num);
        double rel = fabs(diff) / (scale > 1e-4 ? scale : 1e-4);
        if (ana != 0) nonzero++;
        if (fabs(diff) > tol * scale + 1e-7) {
            if (bad++ < 3) printf("  %s[%zu]: analytic %.10g numeric %.10g\n", what, i, ana, num);
        }
        if (rel > worst) worst = rel;
    }
    CHECK(bad == 0, "gradient of %s: %zu of %zu elements differ (max rel err %.3g)", what, bad, n, worst);
    CHECK(nonzero > 0, "gradient of %s: all %zu checked analytic gradients are zero", what, n);
    free(analytic);
    tape_free(&t);
    return worst;
}

/* a[0..n) uniform(lo, hi). (inline: a test that does not use a helper is not warned.) */
static inline void fill_uniform(real *a, size_t n, Rng *rng, double lo, double hi)
{
    for (size_t i = 0; i < n; i++) a[i] = (real)(lo + (hi - lo) * rng_uniform(rng));
}

/* max_i |a_i - b_i| */
static inline double max_abs_diff(const real *a, const real *b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > worst) worst = d;
    }
    return worst;
}

/* A leaf tensor with data and gradient on the heap, filled uniform(lo, hi). */
static inline Tensor leaf_new(Rng *rng, int ndim, const size_t *shape, double lo, double hi)
{
    Tensor a = tensor_wrap(NULL, NULL, ndim, shape);
    a.data = malloc(a.size * sizeof(real));
    a.grad = calloc(a.size, sizeof(real));
    fill_uniform(a.data, a.size, rng, lo, hi);
    return a;
}

/* A second leaf with a's values and a zero gradient of its own (for comparing two ways of
 * computing the same thing). */
static inline Tensor leaf_copy(const Tensor *a)
{
    Tensor c = *a;
    c.data = malloc(a->size * sizeof(real));
    c.grad = calloc(a->size, sizeof(real));
    memcpy(c.data, a->data, a->size * sizeof(real));
    return c;
}

static inline void leaf_free(Tensor *a)
{
    free(a->data);
    free(a->grad);
}
#endif
