/* languages.c — the formal-language task family (SPEC 2.1): tasks, training strings, the two
 * acceptance checks and the task entropy used to choose the OOD tasks.
 *
 * Official code: rnn_weights_representation_learning/dataset_creation_formal_language.py,
 * class RelativeOccurrenceLanguage (get_sequence, accept_sequence) and the run loop in main(). */
#include <math.h>
#include "rnnrep.h"

#define LANG_SLOTS (LANG_LENGTH - 1) /* 41 positions after BOS */

void lang_task(size_t k, int t[4])
{
    if (k >= LANG_NUM_TASKS) rr_fatal("lang_task: task %zu out of range 0..%d", k, LANG_NUM_TASKS - 1);
    t[0] = 0;
    t[1] = (int)(k / 36) - 3;
    t[2] = (int)(k / 6 % 6) - 3;
    t[3] = (int)(k % 6) - 3;
}

size_t lang_task_index(const int t[4])
{
    for (int k = 1; k < 4; k++)
        if (t[k] < -3 || t[k] > 2)
            rr_fatal("lang_task_index: t = (%d, %d, %d, %d) is not a task", t[0], t[1], t[2], t[3]);
    return (size_t)(t[1] + 3) * 36 + (size_t)(t[2] + 3) * 6 + (size_t)(t[3] + 3);
}

static int min_n(const int t[4])
{
    int m = 0;
    for (int k = 0; k < 4; k++)
        if (-t[k] > m) m = -t[k];
    return m;
}

/* Official get_sequence: slot j (0..40) holds the letter k with
 * sum_{i<k} count_i <= j < sum_{i<=k} count_i, or EOS when j >= sum of all counts. Letters that
 * do not fit in the 41 slots are silently cut off; nothing marks the string as truncated. */
void lang_string(const int t[4], int n, int16_t out[LANG_LENGTH])
{
    size_t pos = 1;
    out[0] = LANG_BOS;
    for (int k = 0; k < LANG_LETTERS; k++) {
        int count = n + t[k];
        if (count < 0) rr_fatal("lang_string: n = %d gives %d copies of letter %d", n, count, k);
        for (int c = 0; c < count && pos < LANG_LENGTH; c++) out[pos++] = (int16_t)k;
    }
    while (pos < LANG_LENGTH) out[pos++] = LANG_EOS;
}

/* Official: n = torch.randint(min_n, max_n) with max_n = 10 (exclusive), so n <= 9. */
int lang_sample_string(Rng *rng, const int t[4], int16_t out[LANG_LENGTH])
{
    int n = (int)rng_range(rng, min_n(t), LANG_MAX_N);
    lang_string(t, n, out);
    return n;
}

/* Position of the first EOS in seq[1..len-1], or 0 when there is none. */
static size_t first_eos(const int16_t *seq, size_t len)
{
    for (size_t i = 1; i < len; i++)
        if (seq[i] == LANG_EOS) return i;
    return 0;
}

int lang_finished(const int16_t *seq, size_t len) { return first_eos(seq, len) != 0; }

/* True when count_k - t_k is the same for every letter k. */
static int counts_match(const int t[4], const int count[4])
{
    for (int k = 1; k < LANG_LETTERS; k++)
        if (count[k] - t[k] != count[0] - t[0]) return 0;
    return 1;
}

/* Official accept_sequence: one-hot cumulative counts read at the first EOS, minus t, all equal
 * to the count of a, and an EOS present. Tokens other than letters (BOS) are not counted.
 * Unlike the official code this does not write EOS into position 0 of unfinished sequences. */
int lang_accepts(const int t[4], const int16_t *seq, size_t len)
{
    size_t end = first_eos(seq, len);
    int count[4] = {0, 0, 0, 0};
    if (end == 0) return 0;
    for (size_t i = 1; i < end; i++)
        if (seq[i] >= 0 && seq[i] < LANG_LETTERS) count[seq[i]]++;
    return counts_match(t, count);
}

int lang_accepts_strict(const int t[4], const int16_t *seq, size_t len)
{
    size_t end = first_eos(seq, len);
    int count[4] = {0, 0, 0, 0};
    if (end == 0) return 0;
    for (size_t i = 1; i < end; i++) {
        int16_t tok = seq[i];
        if (tok < 0 || tok >= LANG_LETTERS) return 0;      /* a stray BOS */
        if (i > 1 && tok < seq[i - 1]) return 0;           /* letters out of order */
        count[tok]++;
    }
    return counts_match(t, count);
}

/* Official task_entropy_criterion computes this in float32 with numpy's summation order; we use
 * double over the sorted s so that only the multiset of s matters (ties are then exact and
 * task_split breaks them by task index). */
double lang_task_entropy(const int t[4])
{
    int lo = t[0], s[4];
    for (int k = 1; k < 4; k++)
        if (t[k] < lo) lo = t[k];
    for (int k = 0; k < 4; k++) s[k] = 1 + t[k] - lo;
    for (int i = 1; i < 4; i++)                     /* insertion sort of four numbers */
        for (int j = i; j > 0 && s[j] < s[j - 1]; j--) {
            int tmp = s[j]; s[j] = s[j - 1]; s[j - 1] = tmp;
        }
    double total = (double)(s[0] + s[1] + s[2] + s[3]), h = 0.0;
    for (int k = 0; k < 4; k++) {
        double p = s[k] / total;
        h -= p * log(p + 1e-6);
    }
    return h;
}
