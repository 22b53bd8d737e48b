/*
 * statistics.c — the statistics a report shows, in double: principal components of the
 * embeddings (the pictures of the embedding space, SPEC.md §10) and the percentile bootstrap
 * of a mean over seeds (the confidence intervals of Table 2 and of downstream prediction,
 * SPEC.md §6.7).
 *
 * PCA. C = Σ_i (x_i - m)(x_i - m)ᵀ / n is symmetric, so cyclic Jacobi rotations diagonalise
 * it: each rotation zeroes one off-diagonal pair, the off-diagonal mass falls monotonically,
 * and after a few sweeps V (the product of the rotations) holds the eigenvectors as columns.
 * For F = 16 a sweep is 120 rotations; convergence is quadratic, about 6 sweeps. An
 * eigenvector's sign is arbitrary; fixing it by its largest entry makes the picture the same
 * on every machine and for every order of the rows.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rnnrep.h"

/* Eigen-decomposition of the symmetric A (F, F), destroyed: values (F) on A's diagonal at the
 * end, vectors as the columns of V (F, F). */
static void jacobi_eigen(double *A, size_t F, double *V)
{
    for (size_t i = 0; i < F * F; i++) V[i] = 0;
    for (size_t i = 0; i < F; i++) V[i * F + i] = 1;
    double total = 0;
    for (size_t i = 0; i < F * F; i++) total += A[i] * A[i];
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (size_t p = 0; p < F; p++)
            for (size_t q = p + 1; q < F; q++) off += A[p * F + q] * A[p * F + q];
        if (off <= 1e-30 * total || off == 0) break;
        for (size_t p = 0; p < F; p++)
            for (size_t q = p + 1; q < F; q++) {
                double apq = A[p * F + q];
                if (apq == 0) continue;
                /* the rotation by φ with cot 2φ = (a_qq - a_pp) / (2 a_pq) that zeroes a_pq;
                 * t = tan φ, the smaller root, for stability */
                double theta = (A[q * F + q] - A[p * F + p]) / (2 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (size_t k = 0; k < F; k++) { /* A = A J: columns p and q */
                    double akp = A[k * F + p], akq = A[k * F + q];
                    A[k * F + p] = c * akp - s * akq;
                    A[k * F + q] = s * akp + c * akq;
                }
                for (size_t k = 0; k < F; k++) { /* A = Jᵀ A: rows p and q */
                    double apk = A[p * F + k], aqk = A[q * F + k];
                    A[p * F + k] = c * apk - s * aqk;
                    A[q * F + k] = s * apk + c * aqk;
                }
                for (size_t k = 0; k < F; k++) { /* V = V J */
                    double vkp = V[k * F + p], vkq = V[k * F + q];
                    V[k * F + p] = c * vkp - s * vkq;
                    V[k * F + q] = s * vkp + c * vkq;
                }
            }
    }
}

void pca_fit(const double *X, size_t n, size_t F, size_t k, double *mean, double *components, double *variance)
{
    if (n == 0 || F == 0 || k > F) rr_fatal("pca_fit: %zu rows of %zu features, %zu components", n, F, k);
    double *C = rr_calloc(F * F, sizeof *C, "covariance"), *V = rr_malloc(F * F * sizeof *V, "eigenvectors");
    for (size_t j = 0; j < F; j++) {
        double sum = 0;
        for (size_t i = 0; i < n; i++) sum += X[i * F + j];
        mean[j] = sum / (double)n;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < F; a++)
            for (size_t b = a; b < F; b++) C[a * F + b] += (X[i * F + a] - mean[a]) * (X[i * F + b] - mean[b]);
    for (size_t a = 0; a < F; a++)
        for (size_t b = a; b < F; b++) C[b * F + a] = C[a * F + b] /= (double)n;
    jacobi_eigen(C, F, V);
    int *taken = rr_calloc(F, sizeof *taken, "eigenvalue order");
    for (size_t c = 0; c < k; c++) {
        size_t best = F; /* the largest eigenvalue left; ties to the lower index */
        for (size_t j = 0; j < F; j++)
            if (!taken[j] && (best == F || C[j * F + j] > C[best * F + best])) best = j;
        taken[best] = 1;
        variance[c] = C[best * F + best] > 0 ? C[best * F + best] : 0;
        size_t top = 0;
        for (size_t j = 0; j < F; j++)
            if (fabs(V[j * F + best]) > fabs(V[top * F + best]) * (1 + 1e-12)) top = j;
        double sign = V[top * F + best] < 0 ? -1 : 1;
        for (size_t j = 0; j < F; j++) components[c * F + j] = sign * V[j * F + best];
    }
    free(taken);
    free(C);
    free(V);
}

void pca_project(const double *X, size_t n, size_t F, size_t k, const double *mean, const double *components, double *out)
{
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < k; c++) {
            double sum = 0;
            for (size_t j = 0; j < F; j++) sum += (X[i * F + j] - mean[j]) * components[c * F + j];
            out[i * k + c] = sum;
        }
}

double bootstrap_mean_ci(const double *x, size_t n, size_t resamples, double level, Rng *rng, double *lo, double *hi)
{
    if (n == 0 || resamples == 0 || !(level > 0 && level < 1))
        rr_fatal("bootstrap_mean_ci: %zu values, %zu resamples, level %g", n, resamples, level);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += x[i];
    double mean = sum / (double)n;
    if (n == 1) { /* every resample is the one value */
        *lo = *hi = mean;
        return mean;
    }
    double *means = rr_malloc(resamples * sizeof *means, "bootstrap means");
    for (size_t r = 0; r < resamples; r++) {
        double s = 0;
        for (size_t i = 0; i < n; i++) s += x[rng_below(rng, n)];
        means[r] = s / (double)n;
    }
    const double q[2] = {(1 - level) / 2, (1 + level) / 2};
    double y[2];
    quantiles_of(means, resamples, q, 2, y);
    *lo = y[0];
    *hi = y[1];
    free(means);
    return mean;
}
