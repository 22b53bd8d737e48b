/* test_interrogate.c — the interrogator theory (SPEC.md §8, models/interrogate.c): the two
 * families by hand, both interrogators on them and on random families, the lower bounds by
 * brute force over every interrogator for small K and n, the table, and rejected families. */
#include <stdlib.h>
#include <string.h>

#include "test.h"

#define BRUTE_MAX 16 /* members and inputs the brute-force searches handle (bit masks) */

/* The smallest fixed query set that separates every pair of members: search over all 2^X subsets. */
static size_t brute_fixed(const FunctionFamily *D)
{
    size_t n = D->n, X = D->X, best = X + 1, npairs = 0;
    uint32_t split[BRUTE_MAX * BRUTE_MAX]; /* per pair, the inputs where the two differ */
    for (size_t f = 0; f < n; f++)
        for (size_t g = f + 1; g < n; g++) {
            uint32_t m = 0;
            for (size_t x = 0; x < X; x++) m |= (uint32_t)(D->out[f * X + x] != D->out[g * X + x]) << x;
            split[npairs++] = m;
        }
    for (uint32_t S = 0; S < (uint32_t)1 << X; S++) {
        size_t p = 0, size = 0;
        while (p < npairs && (split[p] & S)) p++;
        for (size_t x = 0; x < X; x++) size += (S >> x) & 1;
        if (p == npairs && size < best) best = size;
    }
    return best;
}

/* The fewest queries any adaptive interrogator needs in the worst case to identify a member
 * of the candidate set S (a bit mask): 0 for one candidate, else the best input's 1 + the
 * worst answer's need. Memoised in need (2^n, 0xff = unknown); answers below 4. */
static unsigned brute_adaptive(const FunctionFamily *D, uint32_t S, unsigned char *need)
{
    if ((S & (S - 1)) == 0) return 0;
    if (need[S] != 0xff) return need[S];
    unsigned best = 0xff;
    for (size_t x = 0; x < D->X; x++) {
        uint32_t part[4] = {0};
        for (size_t f = 0; f < D->n; f++)
            if ((S >> f) & 1) part[D->out[f * D->X + x]] |= (uint32_t)1 << f;
        unsigned worst = 0;
        for (int a = 0; a < 4; a++) {
            if (part[a] == S) worst = 0xff; /* x does not split S */
            if (worst == 0xff) break;
            if (part[a]) {
                unsigned w = 1 + brute_adaptive(D, part[a], need);
                if (w > worst) worst = w;
            }
        }
        if (worst < best) best = worst;
    }
    need[S] = (unsigned char)best;
    return best;
}

static unsigned brute_adaptive_all(const FunctionFamily *D)
{
    unsigned char *need = malloc((size_t)1 << D->n);
    memset(need, 0xff, (size_t)1 << D->n);
    unsigned r = brute_adaptive(D, (uint32_t)((1ul << D->n) - 1), need);
    free(need);
    return r;
}

/* 1 if some pair of members differs at input v and nowhere else. */
static int only_separator(const FunctionFamily *D, size_t v)
{
    for (size_t f = 0; f < D->n; f++)
        for (size_t g = f + 1; g < D->n; g++) {
            size_t differ = 0;
            for (size_t x = 0; x < D->X; x++) differ += D->out[f * D->X + x] != D->out[g * D->X + x];
            if (differ == 1 && D->out[f * D->X + v] != D->out[g * D->X + v]) return 1;
        }
    return 0;
}

/* Runs both interrogators on every member; returns their most queries, checking every guess. */
static void run_both(const FunctionFamily *D, size_t *adaptive_most, size_t *fixed_most, const char *what)
{
    size_t *q = malloc(D->n * sizeof *q), *g = malloc(D->n * sizeof *g);
    for (int fixed = 0; fixed < 2; fixed++) {
        char err[RR_ERRLEN] = "";
        int rc = fixed ? interrogate_fixed(D, q, g, err) : interrogate_adaptive(D, q, g, err);
        CHECK(rc == RR_OK, "%s: %s", what, err);
        size_t most = 0, wrong = 0;
        for (size_t f = 0; f < D->n; f++) {
            if (q[f] > most) most = q[f];
            wrong += g[f] != f;
        }
        CHECK(wrong == 0, "%s: the %s interrogator misnamed %zu members", what, fixed ? "fixed" : "adaptive", wrong);
        *(fixed ? fixed_most : adaptive_most) = most;
    }
    free(q);
    free(g);
}

static void test_families_by_hand(void)
{
    FunctionFamily D;
    family_decision_tree(&D, 2); /* nodes 0 (root), 1 (left), 2 (right); members 00 01 10 11 */
    static const uint8_t tree2[4][3] = {{0, 0, 0}, {0, 1, 0}, {1, 0, 0}, {1, 0, 1}};
    CHECK(D.n == 4 && D.X == 3 && !memcmp(D.out, tree2, sizeof tree2), "decision-tree family, K = 2");
    family_free(&D);
    family_decision_tree(&D, 0);
    CHECK(D.n == 1 && D.X == 0, "decision-tree family, K = 0: one member, no inputs");
    family_free(&D);
    family_worst_case(&D, 3);
    static const uint8_t worst3[3][2] = {{0, 0}, {1, 0}, {0, 1}};
    CHECK(D.n == 3 && D.X == 2 && !memcmp(D.out, worst3, sizeof worst3), "worst-case family, n = 3");
    family_free(&D);
}

/* Per member: the adaptive interrogator follows f's path (K queries each), the fixed one asks every node. */
static void test_tree_per_member(void)
{
    for (size_t K = 1; K <= 5; K++) {
        FunctionFamily D;
        family_decision_tree(&D, K);
        size_t *q = malloc(D.n * sizeof *q), *g = malloc(D.n * sizeof *g), bad = 0;
        CHECK(interrogate_adaptive(&D, q, g, NULL) == RR_OK, "adaptive, K = %zu", K);
        for (size_t f = 0; f < D.n; f++) bad += q[f] != K || g[f] != f;
        CHECK(bad == 0, "K = %zu: %zu members not identified in exactly K adaptive queries", K, bad);
        CHECK(interrogate_fixed(&D, q, g, NULL) == RR_OK, "fixed, K = %zu", K);
        bad = 0;
        for (size_t f = 0; f < D.n; f++) bad += q[f] != D.n - 1 || g[f] != f;
        CHECK(bad == 0, "K = %zu: %zu members not identified by 2^K - 1 fixed queries", K, bad);
        free(q);
        free(g);
        family_free(&D);
    }
}

/* The lower bounds, by brute force over every fixed query set and every adaptive strategy. */
static void test_lower_bounds(void)
{
    for (size_t K = 1; K <= 4; K++) {
        FunctionFamily D;
        family_decision_tree(&D, K);
        char what[64];
        snprintf(what, sizeof what, "decision tree K = %zu", K);
        /* The proof's pairs: for every node v, p 0 0..0 and p 1 0..0 differ only at v. */
        size_t lonely = 0;
        for (size_t v = 0; v < D.X; v++) lonely += only_separator(&D, v);
        CHECK(lonely == D.X, "%s: %zu of %zu nodes are the only separator of some pair", what, lonely, D.X);
        size_t best_f = brute_fixed(&D);
        unsigned best_a = brute_adaptive_all(&D);
        CHECK(best_f == D.n - 1, "%s: smallest separating set %zu, want %zu", what, best_f, D.n - 1);
        CHECK(best_a == K, "%s: best adaptive worst case %u, want %zu", what, best_a, K);
        family_free(&D);
    }
    for (size_t n = 1; n <= 9; n++) {
        FunctionFamily D;
        family_worst_case(&D, n);
        size_t best_f = brute_fixed(&D);
        unsigned best_a = brute_adaptive_all(&D);
        CHECK(best_f == n - 1, "worst-case n = %zu: smallest separating set %zu", n, best_f);
        CHECK(best_a == n - 1, "worst-case n = %zu: best adaptive %u", n, best_a);
        size_t a, f;
        run_both(&D, &a, &f, "worst-case family");
        CHECK(a == n - 1 && f == n - 1, "worst-case n = %zu: adaptive %zu, fixed %zu, want n - 1", n, a, f);
        family_free(&D);
    }
}

/* Random distinct families (answers 0..2): both interrogators name every member within
 * |D| - 1 queries, never beating the brute-force optima. */
static void test_random_families(void)
{
    Rng rng;
    rng_seed(&rng, 10);
    size_t tried = 0;
    for (int trial = 0; trial < 300; trial++) {
        FunctionFamily D;
        family_init(&D, 2 + rng_below(&rng, 9), 1 + rng_below(&rng, 7));
        for (size_t i = 0; i < D.n * D.X; i++) D.out[i] = (uint8_t)rng_below(&rng, 3);
        if (family_check(&D, NULL) == RR_OK) {
            size_t a, f;
            run_both(&D, &a, &f, "random family");
            unsigned best_a = brute_adaptive_all(&D);
            size_t best_f = brute_fixed(&D);
            CHECK(a <= D.n - 1 && f <= D.n - 1, "random family: %zu, %zu queries > |D| - 1 = %zu", a, f, D.n - 1);
            CHECK(a >= best_a && f >= best_f && best_f >= best_a, "random family: adaptive %zu (best %u), fixed %zu (best %zu)",
                  a, best_a, f, best_f);
            tried++;
        }
        family_free(&D);
    }
    CHECK(tried > 100, "random families: only %zu of 300 distinct", tried);
}

static void test_table(void)
{
    InterrogationRow rows[6];
    char err[RR_ERRLEN];
    CHECK(interrogate_table(6, rows, err) == RR_OK, "interrogate_table: %s", err);
    for (size_t K = 1; K <= 6; K++) {
        const InterrogationRow *r = &rows[K - 1];
        size_t n = (size_t)1 << K;
        CHECK(r->K == K && r->functions == n && r->identified, "row K = %zu", K);
        CHECK(r->tree_adaptive == K && r->tree_fixed == n - 1, "K = %zu: tree family %zu adaptive, %zu fixed", K,
              r->tree_adaptive, r->tree_fixed);
        CHECK(r->worst_adaptive == n - 1 && r->worst_fixed == n - 1, "K = %zu: worst-case family %zu adaptive, %zu fixed", K,
              r->worst_adaptive, r->worst_fixed);
    }
    CHECK(interrogate_table(0, rows, err) == RR_ERR_UNSUPPORTED && strstr(err, "K = 0"), "K = 0 rejected: %s", err);
    CHECK(interrogate_table(INTERROGATE_K_MAX + 1, rows, err) == RR_ERR_UNSUPPORTED, "K too large rejected");
}

static void test_rejected(void)
{
    FunctionFamily D;
    family_worst_case(&D, 4);
    memcpy(D.out + 2 * D.X, D.out, D.X); /* member 2 := member 0 */
    char err[RR_ERRLEN] = "";
    CHECK(family_check(&D, err) == RR_ERR_FORMAT && strstr(err, "members 0 and 2"), "duplicate rejected: %s", err);
    size_t q[4] = {99, 99, 99, 99}, g[4] = {99, 99, 99, 99};
    CHECK(interrogate_adaptive(&D, q, g, err) == RR_ERR_FORMAT && q[0] == 99 && g[3] == 99, "adaptive refuses a duplicate");
    CHECK(interrogate_fixed(&D, q, g, err) == RR_ERR_FORMAT && q[0] == 99 && g[3] == 99, "fixed refuses a duplicate");
    family_free(&D);
    family_init(&D, 0, 3);
    CHECK(family_check(&D, err) == RR_ERR_FORMAT, "empty family rejected");
    family_free(&D);
    family_init(&D, 2, 0); /* two functions on no inputs are the same function */
    CHECK(family_check(&D, err) == RR_ERR_FORMAT, "two functions without inputs rejected");
    family_free(&D);
}

int main(void)
{
    test_families_by_hand();
    test_tree_per_member();
    test_lower_bounds();
    test_random_families();
    test_table();
    test_rejected();
    return test_summary("test_interrogate");
}
