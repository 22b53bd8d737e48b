/* test_tasks.c — the two task families: formal languages (tasks, strings, both acceptance
 * checks, entropy) and tiled rotated MNIST (rotation, tiles, normalisation, split). The task
 * splits of SPEC 2.4 are tested in test_splits.c. */
#include <stdlib.h>
#include <string.h>
#include "test.h"

#define L LANG_LENGTH

static int same_seq(const int16_t *a, const int16_t *b, size_t n)
{
    return memcmp(a, b, n * sizeof *a) == 0;
}

/* ---------------------------------------------------------------------------- languages -- */

static void test_task_enumeration(void)
{
    int seen[LANG_NUM_TASKS] = {0}, t[4], prev[4] = {0, -4, 0, 0}, ordered = 1, valid = 1;
    for (size_t k = 0; k < LANG_NUM_TASKS; k++) {
        lang_task(k, t);
        size_t back = lang_task_index(t);
        if (back < LANG_NUM_TASKS) seen[back]++;
        CHECK(back == k, "lang_task_index(lang_task(%zu)) = %zu", k, back);
        valid &= t[0] == 0;
        for (int j = 1; j < 4; j++) valid &= t[j] >= -3 && t[j] <= 2;
        /* strictly increasing lexicographically, as np.unique(tasks, axis=0) orders them */
        int j = 1;
        while (j < 4 && t[j] == prev[j]) j++;
        ordered &= j < 4 && t[j] > prev[j];
        memcpy(prev, t, sizeof t);
    }
    int all_once = 1;
    for (size_t k = 0; k < LANG_NUM_TASKS; k++) all_once &= seen[k] == 1;
    CHECK(all_once, "every task index hit exactly once");
    CHECK(valid, "every task is (0, m_b, m_c, m_d) with m in -3..2");
    CHECK(ordered, "tasks are in lexicographic order");
    lang_task(0, t);
    CHECK(t[1] == -3 && t[2] == -3 && t[3] == -3, "task 0 = (0,-3,-3,-3)");
    lang_task(215, t);
    CHECK(t[1] == 2 && t[2] == 2 && t[3] == 2, "task 215 = (0,2,2,2)");
    lang_task(1 * 36 + 4 * 6 + 5, t);
    CHECK(t[1] == -2 && t[2] == 1 && t[3] == 2, "task 65 = (0,-2,1,2)");
}

static void test_strings(void)
{
    int16_t s[L];
    /* t = (0,-1,0,2), n = 2: a a b c c d d d d, EOS x 32 */
    const int t1[4] = {0, -1, 0, 2};
    const int16_t want[10] = {4, 0, 0, 1, 2, 2, 3, 3, 3, 3};
    lang_string(t1, 2, s);
    int eos_after = 1;
    for (int i = 10; i < L; i++) eos_after &= s[i] == LANG_EOS;
    CHECK(same_seq(s, want, 10) && eos_after, "lang_string (0,-1,0,2), n=2");
    CHECK(lang_accepts(t1, s, L) && lang_accepts_strict(t1, s, L), "it is accepted");

    /* Overflow, as the official ramp >= threshold construction does it: letters past slot 41
     * are cut off and no EOS is written. (0,2,2,2), n = 9 wants 9+11+11+11 = 42 letters. */
    const int t2[4] = {0, 2, 2, 2};
    int count[6] = {0};
    lang_string(t2, 9, s);
    for (int i = 1; i < L; i++) count[s[i]]++;
    CHECK(s[0] == LANG_BOS && count[0] == 9 && count[1] == 11 && count[2] == 11 && count[3] == 10 &&
              count[LANG_EOS] == 0,
          "(0,2,2,2), n=9: a^9 b^11 c^11 d^10, no EOS (counts %d %d %d %d, eos %d)", count[0],
          count[1], count[2], count[3], count[LANG_EOS]);
    CHECK(!lang_finished(s, L) && !lang_accepts(t2, s, L) && !lang_accepts_strict(t2, s, L),
          "a truncated string is unfinished and rejected");
    /* Exactly 41 letters: (0,2,2,1), n = 9 → 9+11+11+10; fits, but no room for EOS. */
    const int t3[4] = {0, 2, 2, 1};
    lang_string(t3, 9, s);
    CHECK(s[L - 1] == 3 && !lang_finished(s, L) && !lang_accepts(t3, s, L),
          "41 letters leave no EOS: rejected");
    /* 40 letters: (0,2,1,1), n = 9 → EOS in the last slot, accepted. */
    const int t4[4] = {0, 2, 1, 1};
    lang_string(t4, 9, s);
    CHECK(s[L - 1] == LANG_EOS && lang_accepts(t4, s, L) && lang_accepts_strict(t4, s, L),
          "40 letters + EOS: accepted");
}

/* Every task, many samples: n stays in its range and covers it, and each sampled string is
 * accepted by both metrics unless its letters fill all 41 slots (4n + m_b + m_c + m_d >= 41,
 * which with n <= 9 happens only for n = 9 and m_b + m_c + m_d >= 5: four tasks). */
static void test_sampled_strings(void)
{
    Rng rng;
    rng_seed(&rng, 7);
    int16_t s[L];
    long accepted = 0, unfinished = 0, bad = 0, range_bad = 0, coverage_bad = 0;
    int unfinished_tasks = 0;
    for (size_t k = 0; k < LANG_NUM_TASKS; k++) {
        int t[4], lo = 0, hit[LANG_MAX_N + 1] = {0}, task_unfinished = 0;
        lang_task(k, t);
        for (int j = 1; j < 4; j++)
            if (-t[j] > lo) lo = -t[j];
        for (int r = 0; r < 400; r++) {
            int n = lang_sample_string(&rng, t, s);
            if (n < lo || n > LANG_MAX_N) {
                range_bad++;
                continue;
            }
            hit[n] = 1;
            int fits = 4 * n + t[1] + t[2] + t[3] <= L - 2;
            int official = lang_accepts(t, s, L), strict = lang_accepts_strict(t, s, L);
            if (fits) {
                accepted += official && strict;
                bad += !(official && strict);
            } else {
                unfinished++;
                task_unfinished = 1;
                bad += official || strict || lang_finished(s, L) || n != 9;
            }
        }
        for (int n = lo; n <= LANG_MAX_N; n++) coverage_bad += !hit[n];
        unfinished_tasks += task_unfinished;
    }
    CHECK(range_bad == 0, "%ld samples with n outside {max(0,-min t)..9}", range_bad);
    CHECK(coverage_bad == 0, "%ld (task, n) pairs never drawn", coverage_bad);
    CHECK(bad == 0, "%ld sampled strings misjudged", bad);
    CHECK(accepted > 80000, "accepted %ld sampled strings", accepted);
    CHECK(unfinished_tasks == 4, "%d tasks produced strings without EOS, want 4", unfinished_tasks);
}

/* Corruptions of correct strings, for every task at n = 9 - 1 (always has letters and EOS). */
static void test_corruptions(void)
{
    long wrong = 0, swaps = 0;
    for (size_t k = 0; k < LANG_NUM_TASKS; k++) {
        int t[4];
        int16_t s[L], c[L];
        lang_task(k, t);
        lang_string(t, 8, s);
        size_t end = 1;
        while (s[end] != LANG_EOS) end++;
        if (!lang_accepts(t, s, L) || !lang_accepts_strict(t, s, L)) wrong++;

        /* a letter changed: its count drops, another rises */
        memcpy(c, s, sizeof s);
        c[1] = (int16_t)((c[1] + 1) % LANG_LETTERS);
        wrong += lang_accepts(t, c, L) + lang_accepts_strict(t, c, L);

        /* a letter dropped: shift left, EOS at the end */
        memcpy(c, s, sizeof s);
        memmove(c + 1, c + 2, (L - 2) * sizeof *c);
        c[L - 1] = LANG_EOS;
        wrong += lang_accepts(t, c, L) + lang_accepts_strict(t, c, L);

        /* a letter added */
        memcpy(c, s, sizeof s);
        c[end] = c[end - 1];
        wrong += lang_accepts(t, c, L) + lang_accepts_strict(t, c, L);

        /* no EOS: the sequence ends with the letters */
        wrong += lang_accepts(t, s, end) + lang_accepts_strict(t, s, end) + lang_finished(s, end);

        /* two adjacent different letters swapped: the official metric counts only, so it accepts;
         * the strict one sees the order */
        memcpy(c, s, sizeof s);
        for (size_t i = 1; i + 1 < end; i++)
            if (c[i] != c[i + 1]) {
                int16_t tmp = c[i];
                c[i] = c[i + 1];
                c[i + 1] = tmp;
                swaps++;
                wrong += !lang_accepts(t, c, L) + lang_accepts_strict(t, c, L);
                break;
            }

        /* whole blocks in the wrong order: d's first */
        memcpy(c, s, sizeof s);
        size_t first_d = 1;
        while (first_d < end && c[first_d] != 3) first_d++;
        if (first_d < end && first_d > 1) {
            size_t nd = end - first_d, pos = 1;
            for (size_t i = 0; i < nd; i++) c[pos++] = 3;
            for (size_t i = 1; i < first_d; i++) c[pos++] = s[i];
            wrong += !lang_accepts(t, c, L) + lang_accepts_strict(t, c, L);
        }

        /* a stray BOS among the letters: not a letter, so not counted by the official metric */
        memcpy(c, s, sizeof s);
        memmove(c + 2, c + 1, (L - 2) * sizeof *c);
        c[1] = LANG_BOS;
        wrong += !lang_accepts(t, c, L) + lang_accepts_strict(t, c, L);

        /* anything after the first EOS is ignored; position 0 is never inspected */
        memcpy(c, s, sizeof s);
        for (size_t i = end + 1; i < L; i++) c[i] = (int16_t)(i % 6);
        c[0] = LANG_EOS;
        wrong += !lang_accepts(t, c, L) + !lang_accepts_strict(t, c, L);
    }
    CHECK(wrong == 0, "%ld corrupted strings misjudged", wrong);
    CHECK(swaps == LANG_NUM_TASKS, "every task had a swap to test (%ld)", swaps);

    /* Members of L_t outside the training range of n still belong to the language. */
    int16_t s[L];
    const int t_low[4] = {0, -3, -3, -3}, zero[4] = {0, 0, 0, 0}, t_neg[4] = {0, -1, 0, 0};
    lang_string(t_low, 10, s); /* 10 + 7 + 7 + 7 = 31 letters */
    CHECK(lang_accepts(t_low, s, L) && lang_accepts_strict(t_low, s, L), "n = 10 is in L_t");
    lang_string(zero, 0, s); /* BOS EOS ...: the empty string is in L_(0,0,0,0) */
    CHECK(lang_accepts(zero, s, L) && lang_accepts_strict(zero, s, L), "empty string, t = 0");
    CHECK(!lang_accepts(t_neg, s, L) && !lang_accepts_strict(t_neg, s, L),
          "empty string not in L_(0,-1,0,0): n = 0 would need -1 b's");
}

static void test_entropy(void)
{
    /* t = 0: s = (1,1,1,1), p = 1/4: H = -log(0.25 + 1e-6) = 1.3862903611278907 */
    const int zero[4] = {0, 0, 0, 0};
    CHECK_NEAR(lang_task_entropy(zero), 1.3862903611278907, 1e-15, "H(0,0,0,0)");
    /* t = (0,-3,-3,-3): s = (4,1,1,1), p = (4/7, 1/7, 1/7, 1/7) */
    const int low[4] = {0, -3, -3, -3};
    double want = -(4.0 / 7 * log(4.0 / 7 + 1e-6) + 3 * (1.0 / 7 * log(1.0 / 7 + 1e-6)));
    CHECK_NEAR(lang_task_entropy(low), want, 1e-14, "H(0,-3,-3,-3)");
    /* Only the multiset of s = 1 + t - min t matters: (0,1,1,1) -> (1,2,2,2) and
     * (0,-1,0,0) -> (2,1,2,2); (0,1,2,-1) and (0,-1,2,1) are permutations. Bit-identical. */
    const int a[4] = {0, 1, 1, 1}, b[4] = {0, -1, 0, 0}, c[4] = {0, 1, 2, -1}, d[4] = {0, -1, 2, 1};
    CHECK(lang_task_entropy(a) == lang_task_entropy(b), "shifted multisets tie exactly");
    CHECK(lang_task_entropy(c) == lang_task_entropy(d), "permuted multisets tie exactly");

    double crit[LANG_NUM_TASKS], max_h = -1.0;
    int t[4];
    for (size_t k = 0; k < LANG_NUM_TASKS; k++) {
        lang_task(k, t);
        crit[k] = lang_task_entropy(t);
        if (crit[k] > max_h) max_h = crit[k];
    }
    CHECK(lang_task_entropy(zero) == max_h, "the balanced language has the largest entropy");
}

/* -------------------------------------------------------------------------------- MNIST -- */

static int count_lit(const uint8_t *img)
{
    int n = 0;
    for (int i = 0; i < MNIST_PIXELS; i++) n += img[i] != 0;
    return n;
}

/* Pillow's rotation, worked by hand. Pixel (x, y) (column, row) covers [x, x+1) x [y, y+1); the
 * centre is (14, 14). Output pixel (X, Y) samples at its centre u = X + 0.5 - 14, v = Y + 0.5 - 14
 * the input at x_in = cos(a) u - sin(a) v + 14, y_in = sin(a) u + cos(a) v + 14, floored.
 * Input pixel (20, 14), centre offset (6.5, 0.5) from the image centre:
 *  - 90 degrees (the ROTATE_90 transpose, out[27 - x][y] = in[y][x]): row 27 - 20 = 7, column 14,
 *    i.e. (X, Y) = (14, 7): from the right of the centre to above it: counter-clockwise.
 *    By the formula: u = 0.5, v = -6.5 -> x_in = 6.5 + 14 = 20.5, y_in = 0.5 + 14 = 14.5. Same.
 *  - 180 degrees: (27 - 20, 27 - 14) = (7, 13).   270 degrees: out[x][27 - y]: (13, 20).
 *  - 37 degrees: cos = 0.7986355, sin = 0.6018150. Forward, the pixel centre goes to
 *    u = cos 6.5 + sin 0.5 = 5.4920, v = -sin 6.5 + cos 0.5 = -3.5125, i.e. (X, Y) ~ (18.99, 9.99),
 *    so output (19, 10): u = 5.5, v = -3.5 -> x_in = 4.39250 + 2.10635 + 14 = 20.4988,
 *    y_in = 3.30998 - 2.79522 + 14 = 14.5148 -> input (20, 14). Its neighbours sample (19 or 21,
 *    ...) or (..., 13 or 15), so exactly one output pixel is lit. */
static void test_rotation(void)
{
    uint8_t img[MNIST_PIXELS] = {0}, out[MNIST_PIXELS];
    img[14 * 28 + 20] = 255;
    struct { double deg; int x, y; } cases[] = {
        {90, 14, 7}, {180, 7, 13}, {270, 13, 20}, {37, 19, 10}, {0, 20, 14}, {360, 20, 14},
        {-90, 13, 20}, {450, 14, 7}, {45, 18, 9}, {90 + 1e-6, 14, 7} /* float32(90 + 1e-6) = 90 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mnist_rotate(img, cases[i].deg, out);
        CHECK(out[cases[i].y * 28 + cases[i].x] == 255 && count_lit(out) == 1,
              "rotating pixel (20,14) by %g lands at (%d,%d): lit %d", cases[i].deg, cases[i].x,
              cases[i].y, count_lit(out));
    }
    /* A full image by 37 and 45 degrees: the corners are filled with 0, the centre kept; lit
     * counts 652 and 640 were computed with a separate Python transcription of Pillow's
     * Image.rotate + affine_fixed (not by this code). */
    uint8_t full[MNIST_PIXELS];
    memset(full, 200, sizeof full);
    mnist_rotate(full, 37, out);
    CHECK(out[0] == 0 && out[27] == 0 && out[27 * 28] == 0 && out[783] == 0, "corners filled 0");
    CHECK(out[14 * 28 + 14] == 200 && out[13 * 28 + 13] == 200, "centre kept");
    CHECK(count_lit(out) == 652, "37 degrees keeps %d pixels, want 652", count_lit(out));
    mnist_rotate(full, 45, out);
    CHECK(count_lit(out) == 640, "45 degrees keeps %d pixels, want 640", count_lit(out));
}

static void test_tiles(void)
{
    uint8_t img[MNIST_PIXELS];
    real seq[MNIST_STEPS * MNIST_TILE_SIZE];
    for (int i = 0; i < MNIST_PIXELS; i++) img[i] = (uint8_t)(i * 7 % 256);
    mnist_tiles(img, seq);
    int bos_zero = 1, layout = 1;
    for (int k = 0; k < 16; k++) bos_zero &= seq[k] == 0;
    CHECK(bos_zero, "the BOS tile is all zeros");
    for (int tile = 0; tile < 49; tile++)
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) {
                int y = tile / 7 * 4 + r, x = tile % 7 * 4 + c;
                double want = ((double)img[y * 28 + x] / 255.0 - 0.1307) / 0.3081;
                layout &= fabs(seq[(tile + 1) * 16 + r * 4 + c] - want) < 1e-5;
            }
    CHECK(layout, "tile t = step t+1 holds rows 4(t/7).., columns 4(t%%7).., row-major");
    /* step 2 starts at pixel (row 0, column 4); step 8 at (row 4, column 0); the last value of
     * step 49 is pixel (27, 27) */
    real p4 = seq[2 * 16], p112 = seq[8 * 16], p783 = seq[49 * 16 + 15];
    CHECK_NEAR(p4, ((28 / 255.0) - 0.1307) / 0.3081, 1e-6, "step 2 value 0 = pixel 4");
    CHECK_NEAR(p112, ((112 * 7 % 256 / 255.0) - 0.1307) / 0.3081, 1e-6, "step 8 value 0 = pixel 112");
    CHECK_NEAR(p783, ((783 * 7 % 256 / 255.0) - 0.1307) / 0.3081, 1e-6, "step 49 value 15 = pixel 783");

    /* normalisation: 0 -> -0.1307 / 0.3081 = -0.424212918, 255 -> 0.8693 / 0.3081 = 2.821486530;
     * computed in float32 as torchvision does */
    memset(img, 0, sizeof img);
    img[0] = 255;
    mnist_tiles(img, seq);
    CHECK_NEAR(seq[16], 2.8214865, 1e-6, "pixel 255");
    CHECK_NEAR(seq[17], -0.42421293, 1e-6, "pixel 0");
    float f255 = (1.0f - 0.1307f) / 0.3081f;
    CHECK(seq[16] == (real)f255, "float32 arithmetic, as torch");

    /* mnist_sequence = rotate then tile */
    real seq2[MNIST_STEPS * MNIST_TILE_SIZE];
    uint8_t rot[MNIST_PIXELS];
    mnist_sequence(img, 90, seq);
    mnist_rotate(img, 90, rot);
    mnist_tiles(rot, seq2);
    CHECK(memcmp(seq, seq2, sizeof seq) == 0, "mnist_sequence = mnist_rotate + mnist_tiles");
    CHECK(seq[(6 * 7 + 0 + 1) * 16 + 3 * 4 + 0] > 2.8, "pixel (0,0) by 90 -> row 27, column 0");
}

/* On real digits from the vendored files (read raw here so this test does not need zoo/idx.c):
 * four quarter turns and two half turns give the image back. */
static void test_real_digits(void)
{
    FILE *f = fopen("zoo/data/mnist10k/images-idx3-ubyte", "rb");
    if (!f) {
        printf("SKIP test_real_digits: zoo/data/mnist10k not found from the working directory\n");
        return;
    }
    uint8_t header[16], img[MNIST_PIXELS], a[MNIST_PIXELS], b[MNIST_PIXELS];
    int ok = fread(header, 1, 16, f) == 16 && header[2] == 8 && header[3] == 3;
    int identity = 1, lit_kept = 1;
    for (int k = 0; ok && k < 20; k++) {
        if (fread(img, 1, MNIST_PIXELS, f) != MNIST_PIXELS) { ok = 0; break; }
        mnist_rotate(img, 90, a);
        mnist_rotate(a, 90, b);
        mnist_rotate(b, 90, a);
        mnist_rotate(a, 90, b);
        identity &= memcmp(b, img, sizeof img) == 0;
        mnist_rotate(img, 180, a);
        mnist_rotate(a, -180, b);
        identity &= memcmp(b, img, sizeof img) == 0;
        mnist_rotate(img, 200.5, a);
        lit_kept &= count_lit(a) > count_lit(img) / 2; /* digits sit near the centre */
    }
    fclose(f);
    CHECK(ok, "read 20 digits from zoo/data/mnist10k/images-idx3-ubyte");
    CHECK(identity, "quarter and half turns compose to the identity");
    CHECK(lit_kept, "a rotated digit keeps most of its pixels");
}

static void test_split(void)
{
    /* K = 0x04095164213DD204 = 290853141438386692, K mod 10 = 2. Its low three bits are 100, so
     * for i < 8, i ^ K = (K - 4) + (i ^ 4) with (K - 4) mod 10 = 8:
     * i = 0..3 -> 2, 3, 4, 5 (train), i = 4, 5 -> 8, 9 (eval), i = 6, 7 -> 0, 1 (train). */
    int want[8] = {1, 1, 1, 1, 0, 0, 1, 1}, ok = 1;
    for (int i = 0; i < 8; i++) ok &= mnist_is_train((uint64_t)i) == want[i];
    CHECK(ok, "mnist_is_train on 0..7");
    size_t *idx = malloc(60000 * sizeof *idx);
    size_t n_train = mnist_split_indices(60000, 1, idx);
    int increasing = 1;
    for (size_t i = 1; i < n_train; i++) increasing &= idx[i] > idx[i - 1];
    size_t n_eval = mnist_split_indices(60000, 0, idx);
    CHECK(n_train == 47998 && n_eval == 12002, "split %zu / %zu, want 47998 / 12002", n_train, n_eval);
    CHECK(increasing, "indices in increasing order");
    CHECK(idx[0] == 4 && idx[1] == 5, "first eval indices are 4 and 5");
    free(idx);
}

int main(void)
{
    test_task_enumeration();
    test_strings();
    test_sampled_strings();
    test_corruptions();
    test_entropy();
    test_rotation();
    test_tiles();
    test_real_digits();
    test_split();
    return test_summary("test_tasks");
}
