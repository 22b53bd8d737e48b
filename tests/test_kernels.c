/* test_kernels.c — the fast matrix-product kernel against its naive twin on awkward shapes
 * (1, odd, prime, larger than any block) in all four transpose combinations, the pre-packed
 * kernel against the naive one too and against the fast one bit for bit (with a pack used for
 * several products, as an LSTM uses W_hh), and the naive one against a product worked out by
 * hand; and rr_exp against libm's exp. */
#include <stdlib.h>
#include <string.h>
#include "test.h"

static void check_against_hand(void)
{
    /* [1 2; 3 4] [5 6; 7 8] = [19 22; 43 50], added to C = 1 */
    real A[] = {1, 2, 3, 4}, B[] = {5, 6, 7, 8}, C[] = {1, 1, 1, 1}, want[] = {20, 23, 44, 51};
    gemm_naive(2, 2, 2, A, 2, 0, B, 2, 0, C, 2);
    for (int i = 0; i < 4; i++) CHECK(C[i] == want[i], "naive gemm hand check [%d]: %g", i, (double)C[i]);
    /* A^T B with A stored transposed gives the same */
    real At[] = {1, 3, 2, 4}, C2[] = {1, 1, 1, 1};
    gemm_fast(2, 2, 2, At, 2, 1, B, 2, 0, C2, 2);
    for (int i = 0; i < 4; i++) CHECK(C2[i] == want[i], "fast gemm hand check [%d]: %g", i, (double)C2[i]);
}

static void check_shape(Rng *rng, size_t M, size_t N, size_t K, int ta, int tb)
{
    size_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2; /* padded rows */
    size_t arows = ta ? K : M, brows = tb ? N : K;
    real *A = malloc(arows * lda * sizeof(real)), *B = malloc(brows * ldb * sizeof(real));
    real *C1 = malloc(M * ldc * sizeof(real)), *C2 = malloc(M * ldc * sizeof(real)), *C3 = malloc(M * ldc * sizeof(real));
    double *bound = calloc(M * N, sizeof(double));
    for (size_t i = 0; i < arows * lda; i++) A[i] = (real)(2 * rng_uniform(rng) - 1);
    for (size_t i = 0; i < brows * ldb; i++) B[i] = (real)(2 * rng_uniform(rng) - 1);
    for (size_t i = 0; i < M * ldc; i++) C1[i] = C2[i] = C3[i] = (real)(rng_uniform(rng) - 0.5);
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++)
            for (size_t k = 0; k < K; k++)
                bound[i * N + j] += fabs((double)(ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]));
    gemm_naive(M, N, K, A, lda, ta, B, ldb, tb, C1, ldc);
    gemm_fast(M, N, K, A, lda, ta, B, ldb, tb, C2, ldc);
    GemmPacked p;
    gemm_pack(&p, K, N, B, ldb, tb);
    real *zero = calloc(M * ldc, sizeof(real));
    gemm_packed(M, A, lda, ta, &p, zero, ldc); /* a first product with the pack: it stays intact */
    gemm_packed(M, A, lda, ta, &p, C3, ldc);
    gemm_pack_free(&p);
    free(zero);
    CHECK(!memcmp(C2, C3, M * ldc * sizeof(real)), "gemm_packed %zux%zux%zu ta=%d tb=%d: not the bits of gemm_fast", M, N, K, ta, tb);
    double eps = IS_DOUBLE_BUILD ? 1e-15 : 1e-6, worst = 0;
    size_t bad = 0;
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < ldc; j++) {
            double d = fabs((double)C1[i * ldc + j] - C2[i * ldc + j]);
            double tol = j < N ? 4 * eps * (bound[i * N + j] + 1) : 0; /* padding must stay untouched */
            if (d > tol) bad++;
            if (j < N && d / (bound[i * N + j] + 1) > worst) worst = d / (bound[i * N + j] + 1);
        }
    CHECK(bad == 0, "gemm %zux%zux%zu ta=%d tb=%d: %zu elements differ (worst %.3g)", M, N, K, ta, tb, bad, worst);
    free(A); free(B); free(C1); free(C2); free(C3); free(bound);
}

/* rr_exp against libm's exp: within 2 ulp over the range where both are normal (every
 * 1/64 from -708 to 709, then 10^6 uniform draws, then around 0 and at the edges of k's
 * steps), exact at 0, and the ends: 0 below -708, infinity above 709, NaN for NaN. */
static double exp_ulps(double x)
{
    double ref = exp(x), got = rr_exp(x);
    return fabs(got - ref) / (nextafter(ref, INFINITY) - ref);
}

static void check_exp(Rng *rng)
{
    double worst = 0, x;
    for (x = -708; x <= 709; x += 1.0 / 64) worst = fmax(worst, exp_ulps(x));
    for (int i = 0; i < 1000000; i++) worst = fmax(worst, exp_ulps(-708 + 1417 * rng_uniform(rng)));
    for (int i = -2000; i <= 2000; i++) {
        worst = fmax(worst, exp_ulps(i * 1e-9));
        worst = fmax(worst, exp_ulps(i * 0.34657359027997264)); /* multiples of ln2 / 2: r at its bounds */
    }
    CHECK(worst <= 2, "rr_exp within 2 ulp of libm's exp (worst %.2f ulp)", worst);
    printf("  rr_exp: worst %.2f ulp from libm\n", worst);
    CHECK(rr_exp(0) == 1 && rr_exp(-709) == 0 && rr_exp(-1e300) == 0, "rr_exp at 0 and below -708");
    CHECK(isinf(rr_exp(710)) && isinf(rr_exp(INFINITY)) && rr_exp(-INFINITY) == 0, "rr_exp above 709");
    CHECK(isnan(rr_exp(NAN)), "rr_exp(NaN) is NaN");
}

int main(void)
{
    Rng rng;
    rng_seed(&rng, 5);
    check_against_hand();
    check_exp(&rng);
    static const size_t sizes[][3] = {{1, 1, 1}, {1, 7, 3}, {5, 1, 9}, {7, 13, 1}, {13, 17, 19}, {31, 37, 41},
                                      {32, 128, 38}, {64, 96, 300}, {127, 33, 257}, {130, 2050, 5}, {200, 70, 600}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) check_shape(&rng, sizes[s][0], sizes[s][1], sizes[s][2], ta, tb);
    return test_summary("test_kernels");
}
