/*
 * enc_stats.c — the layer-wise statistics encoder (SPEC.md §3.1): mechanistic, invariant
 * under the hidden-neuron permutations (every statistic is a function of the multiset of a
 * tensor's entries), but not universal.
 *
 *   features = for each of the 10 tensors of θ, in the flat order (weight_ih_l0, weight_hh_l0,
 *              bias_ih_l0, ..., linear.bias):
 *                [mean, unbiased variance, quantile 0, .25, .5, .75, 1]      (B, 70)
 *   E(θ)     = Linear(70, h) → ReLU → (hidden_layers - 1) × [Linear(h, h) → ReLU] → Linear(h, E)
 *
 * As the official ParameterStatisticsEncoder: tensor-major feature order (tensor k, statistic j
 * at 7k + j), torch.var (divisor n - 1), torch.quantile (linear interpolation), and the MLP is
 * an nn.Sequential named mlp_model whose Linear layers sit at the even indices 0, 2, 4, ...
 * The features are computed off the tape, in double, the quantiles by selection rather than a
 * full sort: no gradient flows into θ (sorting is
 * piecewise constant anyway).
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/encoders.h"

#define STATS_PER_TENSOR 7
const double stats_quantile_levels[5] = {0, 0.25, 0.5, 0.75, 1};

/* Rearranges a[lo..hi] so that a[k] holds the value a full sort would put there, with no
 * larger value before it and no smaller one after it (Hoare's selection, middle pivot):
 * the quantiles need a few order statistics, not a sorted tensor. */
static void select_kth(double *a, ptrdiff_t lo, ptrdiff_t hi, ptrdiff_t k)
{
    while (lo < hi) {
        double pivot = a[lo + (hi - lo) / 2];
        ptrdiff_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) {
                double tmp = a[i];
                a[i++] = a[j];
                a[j--] = tmp;
            }
        }
        if (k <= j) hi = j;       /* a[lo..j] <= pivot <= a[i..hi], equal to it in between */
        else if (k >= i) lo = i;
        else return;
    }
}

/* torch.lerp(a, b, w): a + w (b - a) for |w| < 0.5, else b - (b - a)(1 - w), which is exact at
 * both ends. */
static double lerp(double a, double b, double w) { return fabs(w) < 0.5 ? a + w * (b - a) : b - (b - a) * (1 - w); }

/* The 7 statistics of x[0..n-1] (n >= 2) into out. sorted: scratch of n doubles.
 *   mean = Σ x / n;   var = Σ (x - mean)^2 / (n - 1)   (two passes, in double)
 *   quantile q: position p = q (n - 1) in the sorted values s, s[floor p] interpolated
 *   linearly towards s[ceil p] by p - floor p (torch.quantile's default 'linear'). */
static void tensor_statistics(const real *x, size_t n, double *sorted, real *out)
{
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++) sum += x[i];
    double mean = sum / (double)n;
    for (size_t i = 0; i < n; i++) sq += ((double)x[i] - mean) * ((double)x[i] - mean);
    out[0] = (real)mean;
    out[1] = (real)(sq / (double)(n - 1));
    for (size_t i = 0; i < n; i++) sorted[i] = x[i];
    /* The order statistics floor(p) and ceil(p) of each level, in increasing order: each
     * selection leaves everything past its index no smaller, so the next one starts there. */
    ptrdiff_t from = 0;
    for (int j = 0; j < 5; j++) {
        double p = stats_quantile_levels[j] * (double)(n - 1);
        size_t lo = (size_t)floor(p), hi = (size_t)ceil(p);
        for (size_t k = lo; k <= hi; k++)
            if ((ptrdiff_t)k >= from) {
                select_kth(sorted, from, (ptrdiff_t)n - 1, (ptrdiff_t)k);
                from = (ptrdiff_t)k + 1;
            }
        out[2 + j] = (real)lerp(sorted[lo], sorted[hi], p - (double)lo);
    }
}

void stats_encoder_init(Encoder *enc, Rng *rng)
{
    const EncoderConfig *c = &enc->cfg;
    Mlp *mlp = rr_malloc(sizeof *mlp, "stats encoder");
    mlp_declare(mlp, &enc->params, "mlp_model", ZOO_NUM_TENSORS * STATS_PER_TENSOR, c->hidden, c->hidden_layers, c->embed);
    paramset_finalize(&enc->params);
    mlp_init(mlp, rng);
    enc->impl = mlp;
}

Tensor *stats_encoder_forward(Tape *t, const Encoder *enc, Tensor *theta, ProbeTrace *trace)
{
    size_t B = theta->shape[0], P = theta->shape[1], F = ZOO_NUM_TENSORS * STATS_PER_TENSOR;
    (void)trace;
    Tensor *views[ZOO_NUM_TENSORS];
    zoo_theta_views(t, enc->cfg.zoo, theta, views);
    Tensor *x = tensor_new(t, 2, (size_t[]){B, F}, 0); /* (B, 70), data: no gradient to θ */
    double *sorted = rr_malloc(P * sizeof *sorted, "stats encoder scratch");
    for (int k = 0; k < ZOO_NUM_TENSORS; k++) {
        size_t n = views[k]->size / B; /* entries of tensor k in one θ */
        if (n < 2) rr_fatal("stats encoder: %s has one entry, its variance is undefined", zoo_tensor_names[k]);
        for (size_t b = 0; b < B; b++)
            tensor_statistics(views[k]->data + b * n, n, sorted, x->data + b * F + (size_t)k * STATS_PER_TENSOR);
    }
    free(sorted);
    return mlp_forward(t, enc->impl, x);                  /* (B, E) */
}
