/*
 * interrogate.c — the paper's theory of probing (SPEC.md §8), made runnable.
 *
 * An interrogator must identify an unknown f from a known finite set D of distinct total
 * functions X -> A by asking for f(x) at inputs x of its choice. A non-adaptive interrogator
 * fixes its queries in advance (as the non-interactive probing encoder does); an adaptive one
 * chooses each query after seeing the answers so far (the interactive probing encoder).
 *
 * Theorem. |D| - 1 queries always suffice, adaptive or not, and some families need that many
 * even adaptively. But some families need exponentially fewer queries adaptively: 2^K
 * functions that K adaptive queries identify, while no fixed set of fewer than 2^K - 1 does.
 *
 * Upper bound. Group D into blocks of functions that agree on the inputs asked so far. The
 * functions are distinct, so while some block holds two of them some input splits it, and
 * asking that input makes at least one more block. There is one block at the start and there
 * are at most |D| at the end, so at most |D| - 1 inputs are needed. They can be fixed in
 * advance (interrogate_fixed splits every block) or chosen adaptively (interrogate_adaptive
 * splits only the block f is in).
 *
 * The worst-case family (family_worst_case): n functions over the n - 1 inputs, the zero
 * function f_0 and the indicators f_i(x) = [x = i - 1], i = 1..n-1. While f = f_0 every answer
 * is 0, and the answer 0 at x rules out one candidate, f_{x+1}. After q < n - 1 queries at
 * least n - q >= 2 candidates remain, f_0 among them. So every interrogator, adaptive or not,
 * needs n - 1 queries to identify f_0.
 *
 * The decision-tree family (family_decision_tree): the inputs are the 2^K - 1 nodes of a
 * complete binary tree of depth K in heap order (the root is 0; the children of v are 2v + 1
 * and 2v + 2). Function b = b_1 b_2 .. b_K (K bits, b_1 the most significant) walks down from
 * the root, turning left at depth d when b_d = 0 and right when b_d = 1, and
 *     f_b(v) = 1 if v is on b's path and b turns right at v, else 0.
 * - Adaptively K queries suffice: the root's answer is b_1 and names the next node on the
 *   path; that node's answer is b_2; and so on. After K answers b is known.
 * - A fixed set needs all 2^K - 1 nodes. Take any node v, reached from the root by the turns
 *   p. The functions b = p 0 0..0 and b' = p 1 0..0 agree everywhere except at v: above v
 *   they share their path, below v each only turns left (answer 0), and every other node is
 *   off both paths (answer 0). So a fixed set without v cannot tell b from b'. Asking the
 *   set one query at a time, in a fixed order and stopping as soon as f is known, does not
 *   help either: the pair split only by the last node in the order needs every query.
 * tests/test_interrogate.c checks both lower bounds by brute force over every interrogator
 * (every query set, every adaptive strategy) for small K and n.
 */
#include <stdlib.h>
#include <string.h>

#include "rnnrep.h"

#define SYMBOLS 256 /* answers are bytes */

static uint8_t answer(const FunctionFamily *D, size_t f, size_t x) { return D->out[f * D->X + x]; }

void family_init(FunctionFamily *D, size_t n, size_t X)
{
    D->n = n;
    D->X = X;
    D->out = rr_calloc(n, X, "function family");
}

void family_free(FunctionFamily *D)
{
    free(D->out);
    D->out = NULL;
}

int family_check(const FunctionFamily *D, char *err)
{
    if (D->n == 0) return rr_error(err, RR_ERR_FORMAT, "function family: D is empty");
    for (size_t f = 0; f < D->n; f++)
        for (size_t g = f + 1; g < D->n; g++)
            if (!memcmp(D->out + f * D->X, D->out + g * D->X, D->X))
                return rr_error(err, RR_ERR_FORMAT,
                                "function family: members %zu and %zu are the same function (D must hold distinct "
                                "functions)", f, g);
    return RR_OK;
}

void family_decision_tree(FunctionFamily *D, size_t K)
{
    if (K > INTERROGATE_K_MAX) rr_fatal("family_decision_tree: K = %zu exceeds %d", K, INTERROGATE_K_MAX);
    size_t n = (size_t)1 << K;
    family_init(D, n, n - 1);
    for (size_t b = 0; b < n; b++)
        for (size_t d = 1, v = 0; d <= K; d++) {
            uint8_t turn = (uint8_t)((b >> (K - d)) & 1);
            D->out[b * D->X + v] = turn;
            v = 2 * v + 1 + turn;
        }
}

void family_worst_case(FunctionFamily *D, size_t n)
{
    if (n == 0) rr_fatal("family_worst_case: n must be at least 1");
    family_init(D, n, n - 1);
    for (size_t i = 1; i < n; i++) D->out[i * D->X + (i - 1)] = 1;
}

/* Over the members cand[0..m): the size of the largest class of equal answers at x, and the
 * number of pairs inside one class (the pairs x does not separate). count (SYMBOLS) is zero
 * on entry and on return. */
static void answer_classes(const FunctionFamily *D, size_t x, const size_t *cand, size_t m, size_t *count,
                           size_t *largest, size_t *pairs)
{
    size_t big = 0, same = 0;
    for (size_t i = 0; i < m; i++) {
        size_t before = count[answer(D, cand[i], x)]++; /* members before i with the same answer */
        same += before;
        if (before + 1 > big) big = before + 1;
    }
    for (size_t i = 0; i < m; i++) count[answer(D, cand[i], x)] = 0;
    *largest = big;
    *pairs = same;
}

/* Sorts cand[0..m) by the answer at x, stably (counting sort through scratch (m)); count as above. */
static void sort_by_answer(const FunctionFamily *D, size_t x, size_t *cand, size_t m, size_t *scratch, size_t *count)
{
    for (size_t i = 0; i < m; i++) count[answer(D, cand[i], x)]++;
    for (size_t a = 0, pos = 0; a < SYMBOLS; a++) {
        size_t c = count[a];
        count[a] = pos;
        pos += c;
    }
    for (size_t i = 0; i < m; i++) scratch[count[answer(D, cand[i], x)]++] = cand[i];
    memset(count, 0, SYMBOLS * sizeof *count);
    memcpy(cand, scratch, m * sizeof *cand);
}

typedef struct Interrogation {
    const FunctionFamily *D;
    size_t *queries, *guess;   /* (n) results per member */
    size_t *scratch, *count;   /* (n), (SYMBOLS) zeros */
} Interrogation;

/* The members cand[0..m) gave the same answers to the `asked` queries so far, so they are
 * exactly the candidates left, and the interrogator, which sees only answers, is in the same
 * state for each of them: running them together is running each one alone. It asks the
 * input whose largest class of answers is smallest (the first such input), which splits the
 * candidates whenever they hold two distinct functions, and follows each answer. */
static void adaptive(Interrogation *it, size_t *cand, size_t m, size_t asked)
{
    const FunctionFamily *D = it->D;
    size_t best = D->X, best_largest = m, largest, pairs;
    for (size_t x = 0; m > 1 && x < D->X; x++) {
        answer_classes(D, x, cand, m, it->count, &largest, &pairs);
        if (largest < best_largest) best = x, best_largest = largest;
    }
    if (best == D->X) { /* one candidate left (or no input splits them): name the first */
        for (size_t i = 0; i < m; i++) it->queries[cand[i]] = asked, it->guess[cand[i]] = cand[0];
        return;
    }
    sort_by_answer(D, best, cand, m, it->scratch, it->count);
    for (size_t i = 0, j; i < m; i = j) {
        for (j = i + 1; j < m && answer(D, cand[j], best) == answer(D, cand[i], best); j++) {}
        adaptive(it, cand + i, j - i, asked + 1);
    }
}

int interrogate_adaptive(const FunctionFamily *D, size_t *queries, size_t *guess, char *err)
{
    int rc = family_check(D, err);
    if (rc != RR_OK) return rc;
    size_t *cand = rr_malloc(D->n * sizeof *cand, "interrogation");
    Interrogation it = {D, queries, guess, rr_malloc(D->n * sizeof(size_t), "interrogation"),
                        rr_calloc(SYMBOLS, sizeof(size_t), "interrogation")};
    for (size_t f = 0; f < D->n; f++) cand[f] = f;
    adaptive(&it, cand, D->n, 0);
    free(cand);
    free(it.scratch);
    free(it.count);
    return RR_OK;
}

/* Greedy set cover over the pairs of D: keeps D sorted into blocks of members that agree on
 * the inputs chosen so far (order (n), head[i] = 1 where a block starts) and adds the input
 * that leaves the fewest pairs inside one block (the first such input), until no pair is
 * left. Writes the inputs into set (X) in the order chosen and returns how many. */
static size_t fixed_query_set(const FunctionFamily *D, size_t *set)
{
    size_t n = D->n, X = D->X, k = 0, largest, pairs;
    size_t *order = rr_malloc(n * sizeof *order, "query set"), *scratch = rr_malloc(n * sizeof *scratch, "query set");
    size_t *count = rr_calloc(SYMBOLS, sizeof *count, "query set");
    unsigned char *head = rr_calloc(n, 1, "query set"), *chosen = rr_calloc(X, 1, "query set");
    for (size_t f = 0; f < n; f++) order[f] = f;
    head[0] = 1;
    size_t left = n * (n - 1) / 2; /* pairs that no chosen input separates */
    while (left > 0) {
        size_t best = X, best_left = left;
        for (size_t x = 0; x < X; x++) {
            if (chosen[x]) continue;
            size_t l = 0;
            for (size_t i = 0, j; i < n; i = j) {
                for (j = i + 1; j < n && !head[j]; j++) {}
                answer_classes(D, x, order + i, j - i, count, &largest, &pairs);
                l += pairs;
            }
            if (l < best_left) best = x, best_left = l;
        }
        if (best == X) break; /* no input separates the pairs left: D is not distinct */
        chosen[best] = 1;
        set[k++] = best;
        left = best_left;
        for (size_t i = 0, j; i < n; i = j) {
            for (j = i + 1; j < n && !head[j]; j++) {}
            sort_by_answer(D, best, order + i, j - i, scratch, count);
            for (size_t p = i + 1; p < j; p++)
                if (answer(D, order[p], best) != answer(D, order[p - 1], best)) head[p] = 1;
        }
    }
    free(order);
    free(scratch);
    free(count);
    free(head);
    free(chosen);
    return k;
}

int interrogate_fixed(const FunctionFamily *D, size_t *queries, size_t *guess, char *err)
{
    int rc = family_check(D, err);
    if (rc != RR_OK) return rc;
    size_t *set = rr_malloc(D->X * sizeof *set, "query set");
    size_t k = fixed_query_set(D, set);
    for (size_t f = 0; f < D->n; f++) { /* ask f every input of the set, name the first g that answers alike */
        size_t g = 0, s = 0;
        for (; g < D->n; g++) {
            for (s = 0; s < k && answer(D, g, set[s]) == answer(D, f, set[s]); s++) {}
            if (s == k) break;
        }
        queries[f] = k;
        guess[f] = g;
    }
    free(set);
    return RR_OK;
}

/* The most queries an interrogator used on a member of D, and whether it named every member. */
static size_t worst_queries(const FunctionFamily *D, int (*interrogate)(const FunctionFamily *, size_t *, size_t *, char *),
                            int *identified)
{
    size_t *queries = rr_malloc(D->n * sizeof *queries, "interrogation"), *guess = rr_malloc(D->n * sizeof *guess, "interrogation");
    size_t most = 0;
    if (interrogate(D, queries, guess, NULL) != RR_OK) rr_fatal("interrogate_table: a constructed family is not distinct");
    for (size_t f = 0; f < D->n; f++) {
        if (queries[f] > most) most = queries[f];
        if (guess[f] != f) *identified = 0;
    }
    free(queries);
    free(guess);
    return most;
}

int interrogate_table(size_t kmax, InterrogationRow *rows, char *err)
{
    if (kmax < 1 || kmax > INTERROGATE_K_MAX)
        return rr_error(err, RR_ERR_UNSUPPORTED, "interrogate: K = %zu is outside 1..%d", kmax, INTERROGATE_K_MAX);
    for (size_t K = 1; K <= kmax; K++) {
        InterrogationRow *r = &rows[K - 1];
        FunctionFamily tree, worst;
        family_decision_tree(&tree, K);
        family_worst_case(&worst, tree.n);
        r->K = K;
        r->functions = tree.n;
        r->identified = 1;
        r->tree_adaptive = worst_queries(&tree, interrogate_adaptive, &r->identified);
        r->tree_fixed = worst_queries(&tree, interrogate_fixed, &r->identified);
        r->worst_adaptive = worst_queries(&worst, interrogate_adaptive, &r->identified);
        r->worst_fixed = worst_queries(&worst, interrogate_fixed, &r->identified);
        family_free(&tree);
        family_free(&worst);
    }
    return RR_OK;
}
