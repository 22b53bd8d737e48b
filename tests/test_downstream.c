/* test_downstream.c — downstream prediction (models/downstream.c, models/downstream_metrics.c):
 * Cholesky and ridge against hand-solved systems, an exact fit of noiseless linear data, the
 * choice of λ and its ties, the metrics against hand-computed values (τ-b also against the
 * O(n^2) definition), and the MLP predictor on toy problems it must solve, bit-identically. */
#include <stdlib.h>
#include <string.h>

#include "test.h"

/* A problem over caller-owned arrays; the loss and blocks are set by the caller. */
static DownstreamProblem problem(size_t F, size_t K, const real *Xt, const double *Yt, size_t nt, const real *Xv,
                                 const double *Yv, size_t nv)
{
    DownstreamProblem p = {F, K, PREDICT_MSE, 0, nt, nv, Xt, Xv, Yt, Yv};
    return p;
}

static void test_cholesky(void)
{
    /* A = L Lᵀ with L = [[2,0,0],[1,3,0],[-1,1,2]]:
     *   L11 = sqrt(4) = 2, L21 = 2/2 = 1, L31 = -2/2 = -1,
     *   L22 = sqrt(10 - 1^2) = 3, L32 = (2 - (-1)(1)) / 3 = 1, L33 = sqrt(6 - 1 - 1) = 2.
     * A x = b for x = (1, -1, 2): b = (4-2-4, 2-10+4, -2-2+12) = (-2, -4, 8); forward L y = b:
     * y = (-1, (-4+1)/3 = -1, (8-1+1)/2 = 4); back Lᵀ x = y: x3 = 2, x2 = (-1-2)/3 = -1,
     * x1 = (-1+1+2)/2 = 1. A second right-hand side 2b gives 2x. */
    double A[9] = {4, 2, -2, 2, 10, 2, -2, 2, 6};
    double L[9] = {2, 0, 0, 1, 3, 0, -1, 1, 2};
    CHECK(cholesky_factor(A, 3) == 0, "cholesky of a positive definite matrix");
    for (int i = 0; i < 3; i++)
        for (int j = 0; j <= i; j++) CHECK(A[i * 3 + j] == L[i * 3 + j], "L[%d][%d] = %g, want %g", i, j, A[i * 3 + j], L[i * 3 + j]);
    CHECK(A[1] == 2 && A[2] == -2 && A[5] == 2, "upper triangle untouched");
    double B[6] = {-2, -4, -4, -8, 8, 16};                   /* (3, 2): b and 2b */
    cholesky_solve(A, 3, B, 2);
    double x[3] = {1, -1, 2};
    for (int i = 0; i < 3; i++) {
        CHECK(B[i * 2] == x[i], "x[%d] = %g, want %g", i, B[i * 2], x[i]);
        CHECK(B[i * 2 + 1] == 2 * x[i], "second column x[%d] = %g", i, B[i * 2 + 1]);
    }
    double indefinite[4] = {1, 2, 2, 1};                     /* eigenvalues 3 and -1 */
    CHECK(cholesky_factor(indefinite, 2) == -1, "an indefinite matrix is refused");
    double singular[4] = {1, 1, 1, 1};
    CHECK(cholesky_factor(singular, 2) == -1, "a singular matrix is refused");
    double not_finite[1] = {NAN};
    CHECK(cholesky_factor(not_finite, 1) == -1, "NaN is refused");
}

static void test_standardizer(void)
{
    /* Column 0: 1, 3, 2 -> mean 2, population variance (1 + 1 + 0) / 3; column 1 constant. */
    real X[6] = {1, 5, 3, 5, 2, 5};
    Standardizer s;
    standardizer_fit(&s, X, 3, 2);
    CHECK_NEAR(s.mean[0], 2, 1e-15, "mean");
    CHECK_NEAR(s.std[0], sqrt(2.0 / 3.0), 1e-15, "population std");
    CHECK(s.mean[1] == 5 && s.std[1] == 0, "a constant feature has std 0 (%g)", s.std[1]);
    real x[2] = {4, 7};
    double z[2];
    standardizer_apply(&s, x, 1, z);
    CHECK_NEAR(z[0], 2 / sqrt(2.0 / 3.0), 1e-14, "standardised");
    CHECK(z[1] == 0, "a zero-variance feature becomes 0, also away from its value (%g)", z[1]);
    standardizer_free(&s);
}

static void test_ridge_hand(void)
{
    /* Features x1 = (1, 3, 1, 3): mean 2, population std 1, z1 = (-1, 1, -1, 1);
     *          x2 = (0, 6, 6, 8): mean 5, deviations (-5, 1, 1, 3), std sqrt(36 / 4) = 3,
     *                             z2 = (-5/3, 1/3, 1/3, 1).
     * Targets y = (1, 2, 0, 5): bias b = 2, centred (-1, 0, -2, 3).
     * ZᵀZ = [[4, 8/3], [8/3, 4]],  Zᵀ(y - b) = (1 + 2 + 3, 5/3 - 2/3 + 3) = (6, 4).
     * λ = 1: A = [[5, 8/3], [8/3, 5]], det A = 25 - 64/9 = 161/9,
     *   W = (9/161) [[5, -8/3], [-8/3, 5]] (6, 4) = (9/161) (58/3, 4) = (174/161, 36/161).
     * The row x = (3, 6) has z = (1, 1/3): y = 2 + 174/161 + 12/161 = 2 + 186/161. */
    real X[8] = {1, 0, 3, 6, 1, 6, 3, 8};
    double Y[4] = {1, 2, 0, 5};
    DownstreamProblem p = problem(2, 1, X, Y, 4, NULL, NULL, 0);
    double lambda = 1;
    Ridge r;
    char err[RR_ERRLEN];
    int rc = ridge_fit(&r, &p, &lambda, 1, err);
    CHECK(rc == RR_OK, "ridge with one λ and no validation rows: %s", rc ? err : "");
    if (rc) return;
    CHECK(r.lambda == 1 && isnan(r.val_mse), "λ %g, validation MSE %g (none)", r.lambda, r.val_mse);
    CHECK_NEAR(r.bias[0], 2, 1e-15, "bias = training mean");
    CHECK_NEAR(r.W[0], 174.0 / 161.0, 1e-14, "W[0]");
    CHECK_NEAR(r.W[1], 36.0 / 161.0, 1e-14, "W[1]");
    real row[2] = {3, 6};
    double y;
    ridge_predict(&r, row, 1, &y);
    CHECK_NEAR(y, 2 + 186.0 / 161.0, 1e-14, "prediction");
    ridge_free(&r);
}

/* Noiseless y = a + X c (two outputs): the smallest λ fits best, and the fit is exact up to the
 * shrinkage of the weights by about λ / (eigenvalue of ZᵀZ ≈ n) = 1e-6 / 16000. */
static void test_ridge_exact_fit(void)
{
    enum { F = 3, K = 2, NT = 16000, NV = 500, NO = 500, N = NT + NV + NO };
    const double a[K] = {2, -1}, c[K][F] = {{1.5, -3, 0.5}, {0, 1, 0.25}};
    real *X = malloc(N * F * sizeof *X);
    double *Y = malloc(N * K * sizeof *Y), *out = malloc(NO * K * sizeof *out);
    Rng rng;
    rng_seed(&rng, 7);
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < F; j++) X[i * F + j] = (real)(4 * rng_uniform(&rng) - 2);
        for (size_t k = 0; k < K; k++) {
            Y[i * K + k] = a[k];
            for (size_t j = 0; j < F; j++) Y[i * K + k] += c[k][j] * X[i * F + j];   /* exact in the stored reals */
        }
    }
    DownstreamProblem p = problem(F, K, X, Y, NT, X + NT * F, Y + NT * K, NV);
    Ridge r;
    char err[RR_ERRLEN];
    int rc = ridge_fit(&r, &p, NULL, 0, err);
    CHECK(rc == RR_OK, "exact fit: %s", rc ? err : "");
    if (rc == RR_OK) {
        CHECK(r.lambda == 1e-6, "noiseless data choose λ = 1e-6 (chose %g)", r.lambda);
        ridge_predict(&r, X + (NT + NV) * F, NO, out);
        double worst = 0;
        for (size_t i = 0; i < NO * K; i++) worst = fmax(worst, fabs(out[i] - Y[(NT + NV) * K + i]));
        CHECK(worst < 1e-9, "held-out predictions equal the truth (max error %g)", worst);
        ridge_free(&r);
    }
    free(X);
    free(Y);
    free(out);
}

/* One feature z = (-1, 1) (x = (-1, 1)), y = (-1, 1): ZᵀZ = 2, Zᵀy = 2, so w(λ) = 2 / (2 + λ).
 * One validation row z = 1 with y = w(λ*): its MSE (w(λ) - w(λ*))^2 is 0 at λ* and grows
 * monotonically with |log λ - log λ*| on the grid, so λ* is chosen. */
static void test_ridge_lambda_choice(void)
{
    real X[2] = {-1, 1}, Xv[1] = {1};
    double Y[2] = {-1, 1};
    const double wanted[] = {1e-3, 1, 1e2, 1e5};
    for (size_t t = 0; t < sizeof wanted / sizeof *wanted; t++) {
        double Yv[1] = {2 / (2 + wanted[t])};
        DownstreamProblem p = problem(1, 1, X, Y, 2, Xv, Yv, 1);
        Ridge r;
        char err[RR_ERRLEN];
        if (ridge_fit(&r, &p, NULL, 0, err) != RR_OK) {
            CHECK(0, "λ choice: %s", err);
            continue;
        }
        CHECK(r.lambda == wanted[t], "validation favours λ = %g, chose %g", wanted[t], r.lambda);
        CHECK(r.val_mse < 1e-30, "its validation MSE is 0 (%g)", r.val_mse);
        ridge_free(&r);
    }
}

/* Constant features: every λ gives W = 0 and the same validation MSE, so the largest wins. */
static void test_ridge_ties(void)
{
    real X[6] = {3, 3, 3, 3, 3, 3}, Xv[2] = {3, 3};
    double Y[3] = {1, 2, 6}, Yv[1] = {0};
    DownstreamProblem p = problem(2, 1, X, Y, 3, Xv, Yv, 1);
    Ridge r;
    char err[RR_ERRLEN];
    int rc = ridge_fit(&r, &p, NULL, 0, err);
    CHECK(rc == RR_OK, "ties: %s", rc ? err : "");
    if (rc) return;
    CHECK(r.lambda == 1e10, "ties go to the largest λ (chose %g)", r.lambda);
    CHECK(r.W[0] == 0 && r.W[1] == 0 && r.val_mse == 9, "W = 0, validation MSE (3 - 0)^2 = %g", r.val_mse);
    double y;
    ridge_predict(&r, Xv, 1, &y);
    CHECK(y == 3, "a constant feature predicts the training mean (%g)", y);
    ridge_free(&r);
    const double list[2] = {5, 3};                            /* the larger λ, not the later one */
    rc = ridge_fit(&r, &p, list, 2, err);
    CHECK(rc == RR_OK && r.lambda == 5, "ties in a given list go to the larger λ (chose %g)", rc ? 0 : r.lambda);
    if (rc == RR_OK) ridge_free(&r);
}

/* Separable blocks: block 0 is the sign of x0, block 1 the sign of x1; ridge on the one-hot
 * targets with an argmax per block gets every block of every row right. */
static void toy_blocks(Rng *rng, size_t n, real *X, double *Y, int32_t *labels)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < 2; j++) {
            double v = 0.3 + 0.7 * rng_uniform(rng);
            int positive = rng_uniform(rng) < 0.5;
            X[i * 2 + j] = (real)(positive ? v : -v);
            labels[i * 2 + j] = positive;
            Y[i * 4 + j * 2] = !positive;
            Y[i * 4 + j * 2 + 1] = positive;
        }
    }
}

static void test_ridge_blocks_and_errors(void)
{
    enum { NT = 200, NV = 100 };
    real X[(NT + NV) * 2];
    double Y[(NT + NV) * 4], out[NV * 4];
    int32_t labels[(NT + NV) * 2], pred[NV * 2];
    Rng rng;
    rng_seed(&rng, 3);
    toy_blocks(&rng, NT + NV, X, Y, labels);
    DownstreamProblem p = problem(2, 4, X, Y, NT, X + NT * 2, Y + NT * 4, NV);
    p.loss = PREDICT_BCE;
    p.blocks = 2;
    Ridge r;
    char err[RR_ERRLEN];
    int rc = ridge_fit(&r, &p, NULL, 0, err);
    CHECK(rc == RR_OK, "ridge on blocks: %s", rc ? err : "");
    if (rc == RR_OK) {
        ridge_predict(&r, X + NT * 2, NV, out);
        block_argmax(out, NV, 2, 2, pred);
        CHECK(exact_match_accuracy(labels + NT * 2, pred, NV, 2) == 1, "ridge separates the blocks");
        ridge_free(&r);
    }
    /* Bad input is an error with a message, never a crash. */
    p.n_val = 0;
    CHECK(ridge_fit(&r, &p, NULL, 0, err) == RR_ERR_FORMAT && strstr(err, "validation"), "no validation rows: %s", err);
    p.n_val = NV;
    p.blocks = 3;
    CHECK(ridge_fit(&r, &p, NULL, 0, err) == RR_ERR_FORMAT && strstr(err, "blocks"), "4 columns in 3 blocks: %s", err);
    p.blocks = 2;
    Y[5] = 0.5;
    CHECK(ridge_fit(&r, &p, NULL, 0, err) == RR_ERR_FORMAT && strstr(err, "one-hot"), "not one-hot: %s", err);
    Y[5] = 1;
    X[3] = (real)NAN;
    CHECK(ridge_fit(&r, &p, NULL, 0, err) == RR_ERR_FORMAT && strstr(err, "row 1: feature 1"), "NaN feature: %s", err);
}

static void test_r_squared(void)
{
    const double y[4] = {1, 2, 3, 4}, p[4] = {1, 2, 3, 5};
    CHECK_NEAR(r_squared(y, p, 4), 0.8, 1e-15, "R² = 1 - 1 / 5");           /* SST = 2.25+.25+.25+2.25 */
    const double y2[2] = {1, 3}, p2[2] = {0, 0};
    CHECK_NEAR(r_squared(y2, p2, 2), -4, 1e-15, "R² = 1 - 10 / 2 about the split's own mean 2");
    const double c[3] = {2, 2, 2}, pc[3] = {2, 2, 2};
    CHECK(isnan(r_squared(c, pc, 3)), "constant truth: NaN");
    CHECK(isnan(r_squared(y, p, 0)), "no rows: NaN");
}

/* τ-b by the definition, O(n^2): sign products over all pairs. */
static double tau_b_brute(const double *x, const double *y, size_t n)
{
    double s = 0, n0 = 0, tx = 0, ty = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            double dx = (x[i] > x[j]) - (x[i] < x[j]), dy = (y[i] > y[j]) - (y[i] < y[j]);
            s += dx * dy;
            n0 += 1;
            tx += dx == 0;
            ty += dy == 0;
        }
    return s / sqrt((n0 - tx) * (n0 - ty));
}

static void test_kendall(void)
{
    /* x = (1,2,2,3), y = (1,3,2,2); the 6 pairs (i, j):
     *   (1,2): x 1<2, y 1<3  concordant      (2,3): x 2=2        tied in x only
     *   (1,3): x 1<2, y 1<2  concordant      (2,4): x 2<3, y 3>2 discordant
     *   (1,4): x 1<3, y 1<2  concordant      (3,4): y 2=2        tied in y only
     * n_c = 3, n_d = 1, n0 = 6, n1 = 1, n2 = 1: τ_b = (3 - 1) / sqrt(5 * 5) = 0.4. */
    const double x[4] = {1, 2, 2, 3}, y[4] = {1, 3, 2, 2};
    CHECK_NEAR(kendall_tau_b(x, y, 4), 0.4, 1e-15, "τ-b with ties");
    /* No ties: (3,1,2) against (1,2,3): pairs D, D, C -> (1 - 2) / 3. */
    const double a[3] = {1, 2, 3}, b[3] = {3, 1, 2};
    CHECK_NEAR(kendall_tau_b(a, b, 3), -1.0 / 3.0, 1e-15, "τ-b without ties");
    /* Pairs tied in both: x = (1,1,2), y = (5,5,6): n0 = 3, n1 = n2 = n3 = 1, n_c = 2. */
    const double u[3] = {1, 1, 2}, v[3] = {5, 5, 6};
    CHECK_NEAR(kendall_tau_b(u, v, 3), 1, 1e-15, "τ-b with a pair tied in both");
    const double c[3] = {4, 4, 4};
    CHECK(isnan(kendall_tau_b(a, c, 3)) && isnan(kendall_tau_b(c, a, 3)), "constant: NaN");
    CHECK(isnan(kendall_tau_b(a, b, 1)), "a single row: NaN");
    const double bad[3] = {1, NAN, 3};
    CHECK(isnan(kendall_tau_b(a, bad, 3)), "a NaN value: NaN");

    enum { N = 300 };
    double rx[N], ry[N];
    Rng rng;
    rng_seed(&rng, 11);
    double worst = 0;
    for (int trial = 0; trial < 20; trial++) {
        int levels = 2 + trial % 7;                         /* few levels: many ties of every kind */
        size_t n = 2 + rng_below(&rng, N - 1);
        for (size_t i = 0; i < n; i++) {
            rx[i] = (double)rng_below(&rng, (uint64_t)levels);
            ry[i] = (double)rng_below(&rng, (uint64_t)levels) + (trial % 2 ? 0.5 * rx[i] : 0);
        }
        double fast = kendall_tau_b(rx, ry, n), brute = tau_b_brute(rx, ry, n);
        worst = fmax(worst, fabs(fast - brute));
        CHECK(isnan(fast) == isnan(brute), "trial %d: NaN in one only", trial);
    }
    CHECK(worst < 1e-14, "O(n log n) τ-b = O(n^2) τ-b (max difference %g)", worst);
}

static void test_angles(void)
{
    const double truth[4] = {359, 10, 90, 720.5}, pred[4] = {1, 350, 270, 0.5};
    CHECK_NEAR(circular_mae(truth, pred, 4), (2 + 20 + 180 + 0) / 4.0, 1e-13, "circular MAE across the wrap");
    CHECK(isnan(circular_mae(truth, pred, 0)), "no rows: NaN");
    const double angles[5] = {0, 45, 180, 330, 359.5};
    for (int i = 0; i < 5; i++) {
        double sc[2];
        angle_to_sincos(angles[i], sc);
        CHECK_NEAR(angle_from_sincos(sc[0], sc[1]), angles[i], 1e-12, "angle round trip");
    }
    CHECK_NEAR(angle_from_sincos(-0.5, sqrt(3) / 2), 330, 1e-12, "atan2 of -30 degrees in [0, 360)");
    double sc[2];
    angle_to_sincos(-1e-15, sc);
    double back = angle_from_sincos(sc[0], sc[1]);
    CHECK(back >= 0 && back < 360, "a tiny negative angle stays in [0, 360) (%.17g)", back);
}

static void test_accuracies(void)
{
    /* Three rows of three blocks: all right, one block wrong, two blocks wrong.
     * exact match = 1/3; per-block = (3 + 2 + 1) / 9. */
    const int32_t truth[9] = {0, 1, 2, 3, 4, 5, 0, 0, 0}, pred[9] = {0, 1, 2, 3, 4, 0, 1, 1, 0};
    CHECK_NEAR(exact_match_accuracy(truth, pred, 3, 3), 1.0 / 3.0, 1e-15, "exact match");
    CHECK_NEAR(block_accuracy(truth, pred, 3, 3), 6.0 / 9.0, 1e-15, "mean per-block accuracy");
    const int32_t t1[4] = {1, 2, 3, 4}, p1[4] = {1, 2, 0, 4};
    CHECK(exact_match_accuracy(t1, p1, 4, 1) == 0.75 && block_accuracy(t1, p1, 4, 1) == 0.75, "plain accuracy");
    CHECK(isnan(exact_match_accuracy(t1, p1, 0, 1)), "no rows: NaN");
    const double scores[6] = {0.1, 0.7, 0.7, -1, -3, -2};   /* 2 blocks of 3; a tie goes to the first */
    int32_t labels[2];
    block_argmax(scores, 1, 2, 3, labels);
    CHECK(labels[0] == 1 && labels[1] == 0, "block argmax %d %d", labels[0], labels[1]);
    /* The constant predictor: column means; their argmax is the majority class. */
    const double Y[9] = {1, 0, 0, 0, 1, 0, 0, 1, 0}, R[3] = {1, 2, 6};
    double means[3], mean;
    constant_predictor(Y, 3, 3, means);
    block_argmax(means, 1, 1, 3, labels);
    CHECK_NEAR(means[1], 2.0 / 3.0, 1e-15, "class share");
    CHECK(labels[0] == 1, "majority class %d", labels[0]);
    constant_predictor(R, 3, 1, &mean);
    CHECK(mean == 3, "mean predictor %g", mean);
}

/* A small MLP predictor run (batch 32; the paper's 64 -> 64 widths, lr, patience). */
static int fit_mlp(MlpPredictor *m, const DownstreamProblem *p, uint64_t seed)
{
    MlpPredictorConfig cfg = mlp_predictor_config_paper();
    cfg.batch = 32;
    Rng rng;
    rng_seed(&rng, seed);
    char err[RR_ERRLEN];
    int rc = mlp_predictor_fit(m, &cfg, p, &rng, err);
    CHECK(rc == RR_OK, "MLP predictor: %s", rc ? err : "");
    return rc == RR_OK;
}

static void test_mlp_classes(void)
{
    /* 4 classes = the quadrant of (x0, x1), one block, softmax cross-entropy; and the same
     * signs as 2 blocks of 2 with binary cross-entropy. Margins keep them separable. */
    enum { NT = 256, NV = 64 };
    real X[(NT + NV) * 2];
    double Y2[(NT + NV) * 4], Y4[(NT + NV) * 4], out[(NT + NV) * 4], again[(NT + NV) * 4];
    int32_t signs[(NT + NV) * 2], quadrant[NT + NV], pred[(NT + NV) * 2];
    Rng rng;
    rng_seed(&rng, 5);
    toy_blocks(&rng, NT + NV, X, Y2, signs);
    memset(Y4, 0, sizeof Y4);
    for (size_t i = 0; i < NT + NV; i++) {
        quadrant[i] = signs[i * 2] + 2 * signs[i * 2 + 1];
        Y4[i * 4 + (size_t)quadrant[i]] = 1;
    }
    DownstreamProblem p = problem(2, 4, X, Y4, NT, X + NT * 2, Y4 + NT * 4, NV);
    p.loss = PREDICT_CE;
    p.blocks = 1;
    MlpPredictor m, m2;
    if (fit_mlp(&m, &p, 1)) {
        mlp_predictor_predict(&m, X, NT + NV, out);
        block_argmax(out, NT + NV, 1, 4, pred);
        CHECK(exact_match_accuracy(quadrant, pred, NT, 1) == 1, "CE: 100%% on the training rows");
        CHECK(exact_match_accuracy(quadrant + NT, pred + NT, NV, 1) == 1, "CE: 100%% on the validation rows");
        CHECK(m.best_epoch >= 1 && m.best_epoch <= m.epochs && m.epochs <= 200, "epochs %zu, best %zu", m.epochs,
              m.best_epoch);
        /* The weights kept are the best epoch's: their validation loss is the best one. */
        Tape t;
        tape_init(&t);
        Tensor *o = tensor_new(&t, 2, (size_t[]){NV, 4}, 0);
        for (size_t i = 0; i < NV * 4; i++) o->data[i] = (real)out[NT * 4 + i];
        double loss = predictor_loss(&t, PREDICT_CE, 1, o, Y4 + NT * 4)->data[0];
        CHECK(loss == m.best_val_loss, "kept weights' validation loss %.9g = best %.9g", loss, m.best_val_loss);
        tape_free(&t);
        if (fit_mlp(&m2, &p, 1)) {
            mlp_predictor_predict(&m2, X, NT + NV, again);
            CHECK(!memcmp(out, again, sizeof out) && m.epochs == m2.epochs, "the same seed: bit-identical");
            mlp_predictor_free(&m2);
        }
        if (fit_mlp(&m2, &p, 2)) {
            mlp_predictor_predict(&m2, X, NT + NV, again);
            CHECK(memcmp(out, again, sizeof out) != 0, "another seed: other weights");
            mlp_predictor_free(&m2);
        }
        mlp_predictor_free(&m);
    }
    p.Y_train = Y2;
    p.Y_val = Y2 + NT * 4;
    p.loss = PREDICT_BCE;
    p.blocks = 2;
    if (fit_mlp(&m, &p, 3)) {
        mlp_predictor_predict(&m, X + NT * 2, NV, out);
        block_argmax(out, NV, 2, 2, pred);
        CHECK(exact_match_accuracy(signs + NT * 2, pred, NV, 2) == 1, "BCE blocks: 100%% exact match on validation");
        mlp_predictor_free(&m);
    }
}

static void test_mlp_regression(void)
{
    /* y = sin(x0) + x0 x1 on [-1.5, 1.5]^2, noiseless: the MLP fits it well. Then pure-noise
     * targets, where validation stops improving and early stopping ends training. */
    enum { NT = 512, NV = 128 };
    real X[(NT + NV) * 2];
    double Y[NT + NV], out[NV];
    Rng rng;
    rng_seed(&rng, 9);
    for (size_t i = 0; i < NT + NV; i++) {
        X[i * 2] = (real)(3 * rng_uniform(&rng) - 1.5);
        X[i * 2 + 1] = (real)(3 * rng_uniform(&rng) - 1.5);
        Y[i] = sin(X[i * 2]) + X[i * 2] * X[i * 2 + 1];
    }
    DownstreamProblem p = problem(2, 1, X, Y, NT, X + NT * 2, Y + NT, NV);
    MlpPredictor m;
    if (fit_mlp(&m, &p, 4)) {
        mlp_predictor_predict(&m, X + NT * 2, NV, out);
        double r2 = r_squared(Y + NT, out, NV);
        CHECK(r2 > 0.98, "MLP regression: validation R² %g", r2);
        mlp_predictor_free(&m);
    }
    for (size_t i = 0; i < NT + NV; i++) Y[i] = rng_normal(&rng);
    if (fit_mlp(&m, &p, 4)) {
        CHECK(m.epochs < 200 && m.epochs == m.best_epoch + 20, "early stopping after 20 epochs without progress "
              "(epochs %zu, best %zu)", m.epochs, m.best_epoch);
        mlp_predictor_free(&m);
    }
}

/* The supervised baseline's model (SPEC.md §6.5): a step returns the loss before it, as eval
 * computes it (stats: no permutation, no dropout); training drives the loss on a batch down;
 * permutation augmentation exactly for the encoders that are not invariant; the same seed and
 * streams give the same bytes. */
static void test_supervised_model(void)
{
    enum { B = 12, K = 2 };
    ZooShape z = ZOO_FORMAL;
    size_t P = zoo_num_params(z);
    real *theta = malloc(B * P * sizeof *theta);
    double Y[B * K];
    Rng rng;
    rng_seed(&rng, 5);
    for (size_t i = 0; i < B * P; i++) theta[i] = (real)(0.2 * rng_normal(&rng));
    for (size_t i = 0; i < B * K; i++) Y[i] = rng_normal(&rng);
    AdamW opt = adamw_default();
    opt.lr = 1e-3;
    const EncoderKind kinds[2] = {ENC_STATS, ENC_FLAT};
    for (int k = 0; k < 2; k++) {
        EncoderConfig ec = encoder_config_paper(kinds[k], z);
        ec.hidden = 16;
        ec.hidden_layers = 1;
        SupervisedModel m[2];
        for (int c = 0; c < 2; c++) {
            Rng init;
            rng_seed(&init, 11);
            supervised_model_init(&m[c], &ec, K, PREDICT_MSE, 1, &opt, 0.1, &init);
        }
        const char *name = encoder_facts[kinds[k]].name;
        CHECK(m[0].augment == !encoder_facts[kinds[k]].invariant, "%s: augmentation %d", name, m[0].augment);
        double first = supervised_model_eval(&m[0], theta, Y, B, NULL);
        for (size_t step = 0; step < 100; step++) {
            double before = supervised_model_eval(&m[0], theta, Y, B, NULL), loss[2];
            for (int c = 0; c < 2; c++) {
                Rng srng;
                rng_seed(&srng, 100 + step);
                loss[c] = supervised_model_step(&m[c], theta, Y, B, &srng);
            }
            if (step == 0 && !m[0].augment) CHECK(loss[0] == before, "%s: the step's loss %g is eval's %g", name, loss[0], before);
            CHECK(loss[0] == loss[1], "%s: the same streams, the same loss at step %zu", name, step);
        }
        double last = supervised_model_eval(&m[0], theta, Y, B, NULL);
        CHECK(last < 0.5 * first, "%s: 100 steps take the loss from %g to %g", name, first, last);
        CHECK(!memcmp(m[0].enc.params.data, m[1].enc.params.data, m[0].enc.params.n * sizeof(real)) &&
              !memcmp(m[0].head_params.data, m[1].head_params.data, m[0].head_params.n * sizeof(real)),
              "%s: the same seed and streams give the same parameters", name);
        for (int c = 0; c < 2; c++) supervised_model_free(&m[c]);
    }
    free(theta);
}

int main(void)
{
    test_cholesky();
    test_standardizer();
    test_ridge_hand();
    test_ridge_exact_fit();
    test_ridge_lambda_choice();
    test_ridge_ties();
    test_ridge_blocks_and_errors();
    test_r_squared();
    test_kendall();
    test_angles();
    test_accuracies();
    test_mlp_classes();
    test_mlp_regression();
    test_supervised_model();
    return test_summary("test_downstream");
}
