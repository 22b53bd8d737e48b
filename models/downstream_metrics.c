/*
 * downstream_metrics.c — how downstream predictions are scored (SPEC.md §6.4), in double:
 * R², Kendall's τ-b, the circular error of an angle, block accuracies, and the constant
 * predictor that every number is read against (SPEC.md §6.6). A metric that is undefined on
 * the rows given (none, a constant truth) is NaN.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rnnrep.h"

#define PI 3.141592653589793

void constant_predictor(const double *Y, size_t n, size_t K, double *out)
{
    for (size_t k = 0; k < K; k++) {
        double sum = 0;
        for (size_t i = 0; i < n; i++) sum += Y[i * K + k];
        out[k] = sum / (double)n;
    }
}

void block_argmax(const double *scores, size_t n, size_t blocks, size_t classes, int32_t *labels)
{
    for (size_t i = 0; i < n * blocks; i++) {
        const double *s = scores + i * classes;
        size_t best = 0;
        for (size_t c = 1; c < classes; c++)
            if (s[c] > s[best]) best = c;
        labels[i] = (int32_t)best;
    }
}

double exact_match_accuracy(const int32_t *truth, const int32_t *pred, size_t n, size_t blocks)
{
    if (!n) return NAN;
    size_t right = 0;
    for (size_t i = 0; i < n; i++) right += !memcmp(truth + i * blocks, pred + i * blocks, blocks * sizeof *truth);
    return (double)right / (double)n;
}

double block_accuracy(const int32_t *truth, const int32_t *pred, size_t n, size_t blocks)
{
    if (!n || !blocks) return NAN;
    size_t right = 0;
    for (size_t i = 0; i < n * blocks; i++) right += truth[i] == pred[i];
    return (double)right / (double)(n * blocks);
}

/* R^2 = 1 - SSE / SST,  SSE = Σ (y_i - ŷ_i)^2,  SST = Σ (y_i - ȳ)^2 with ȳ the mean of these y. */
double r_squared(const double *truth, const double *pred, size_t n)
{
    if (!n) return NAN;
    double mean = 0, sse = 0, sst = 0;
    for (size_t i = 0; i < n; i++) mean += truth[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        sse += (truth[i] - pred[i]) * (truth[i] - pred[i]);
        sst += (truth[i] - mean) * (truth[i] - mean);
    }
    return sst > 0 ? 1 - sse / sst : NAN;
}

/* ---- Kendall's τ-b --------------------------------------------------------------------------
 * Of the n0 = n (n - 1) / 2 pairs {i, j}, each is exactly one of: concordant (x and y strictly
 * ordered the same way, n_c), discordant (strictly, opposite ways, n_d), tied in x only, tied in
 * y only, or tied in both (n3). With n1 = pairs tied in x and n2 = pairs tied in y (each
 * Σ t (t - 1) / 2 over the groups of t equal values):
 *     τ_b = (n_c - n_d) / sqrt((n0 - n1) (n0 - n2)),     n_c + n_d = n0 - n1 - n2 + n3,
 * undefined (NaN) when x or y is constant. Knight's O(n log n) algorithm: sort the pairs by x,
 * ties by y; then a pair with x_i < x_j is discordant iff y_i > y_j, an inversion of the y
 * sequence, and pairs tied in x are in ascending y and are none. A merge sort of that sequence
 * counts the inversions n_d, and leaves y sorted for counting n2.                              */

typedef struct Pair { double x, y; } Pair;

static int by_x_then_y(const void *pa, const void *pb)
{
    const Pair *a = pa, *b = pb;
    if (a->x != b->x) return a->x < b->x ? -1 : 1;
    return (a->y > b->y) - (a->y < b->y);
}

/* Sorts a (n) ascending, bottom-up and stable; returns the number of pairs i < j with
 * a_i > a_j. tmp: scratch of n. */
static uint64_t sort_counting_inversions(double *a, double *tmp, size_t n)
{
    uint64_t inversions = 0;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                if (a[j] < a[i]) {
                    inversions += mid - i;      /* a[j] is smaller than all of a[i..mid) */
                    tmp[k++] = a[j++];
                } else {
                    tmp[k++] = a[i++];
                }
            }
            while (i < mid) tmp[k++] = a[i++];
            while (j < hi) tmp[k++] = a[j++];
        }
        memcpy(a, tmp, n * sizeof *a);
    }
    return inversions;
}

double kendall_tau_b(const double *x, const double *y, size_t n)
{
    if (n < 2) return NAN;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]) || !isfinite(y[i])) return NAN;
    Pair *p = rr_malloc(n * sizeof *p, "kendall pairs");
    double *ys = rr_malloc(n * sizeof *ys, "kendall y"), *tmp = rr_malloc(n * sizeof *tmp, "kendall scratch");
    for (size_t i = 0; i < n; i++) p[i] = (Pair){x[i], y[i]};
    qsort(p, n, sizeof *p, by_x_then_y);
    uint64_t n0 = (uint64_t)n * (n - 1) / 2, n1 = 0, n2 = 0, n3 = 0;
    for (size_t i = 1, run_x = 1, run_xy = 1; i < n; i++) {   /* a run of t adds 1 + 2 + ... + (t - 1) */
        run_x = p[i].x == p[i - 1].x ? run_x + 1 : 1;
        run_xy = run_x > 1 && p[i].y == p[i - 1].y ? run_xy + 1 : 1;
        n1 += run_x - 1;
        n3 += run_xy - 1;
    }
    for (size_t i = 0; i < n; i++) ys[i] = p[i].y;
    uint64_t discordant = sort_counting_inversions(ys, tmp, n);
    for (size_t i = 1, run_y = 1; i < n; i++) {
        run_y = ys[i] == ys[i - 1] ? run_y + 1 : 1;
        n2 += run_y - 1;
    }
    free(p);
    free(ys);
    free(tmp);
    if (n1 == n0 || n2 == n0) return NAN;
    double s = (double)(n0 + n3 - n1 - n2) - 2.0 * (double)discordant;   /* n_c - n_d */
    return s / sqrt((double)(n0 - n1) * (double)(n0 - n2));
}

/* ---- Angles ---------------------------------------------------------------------------------- */

void angle_to_sincos(double degrees, double out[2])
{
    double a = degrees * (PI / 180);
    out[0] = sin(a);
    out[1] = cos(a);
}

double angle_from_sincos(double sin_a, double cos_a)
{
    double degrees = atan2(sin_a, cos_a) * (180 / PI);      /* (-180, 180] */
    if (degrees < 0) degrees += 360;
    return degrees < 360 ? degrees : 0;                    /* -1e-17 + 360 rounds to 360 */
}

double circular_mae(const double *truth_degrees, const double *pred_degrees, size_t n)
{
    if (!n) return NAN;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fmod(fabs(truth_degrees[i] - pred_degrees[i]), 360);
        sum += d > 180 ? 360 - d : d;
    }
    return sum / (double)n;
}
