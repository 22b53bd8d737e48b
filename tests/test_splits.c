/* test_splits.c — MT19937, NumPy's legacy permutation, and the task splits of SPEC 2.4
 * (sizes, membership against NumPy, ties, zoo rows, splits.json).
 *
 * The long literals below were printed by tests/data/make_split_refs.py with Debian's
 * python3-numpy 1.24.2: perm_sS_kK = np.random.seed(S); np.random.permutation(K), and formal_*
 * the lists of the SPEC 2.4 procedure (np.unique, stable argsort, those permutations) for the
 * synthetic formal zoo of test_formal_zoo, as lang_task numbers. Tests run from the repository
 * root, where make has created build/. */
#include <stdlib.h>
#include <string.h>

#include "files.h"

#define TMP (IS_DOUBLE_BUILD ? "build/test_splits_f64_" : "build/test_splits_f32_")

static const size_t perm_s1_k10[10] = {2, 9, 6, 4, 0, 3, 1, 7, 8, 5}; /* SPEC 2.4 */
static const size_t perm_s1_k8[8] = {7, 2, 1, 6, 0, 4, 3, 5};
static const size_t perm_s1_k2[2] = {0, 1};
static const size_t perm_s2_k2[2] = {1, 0};
static const size_t perm_s2_k33[33] = {
    31, 14, 23, 9, 25, 20, 0, 19, 12, 1, 16, 27, 29, 21, 10, 4,
    6, 3, 24, 5, 32, 26, 17, 2, 7, 30, 28, 18, 11, 22, 8, 13,
    15};
static const size_t perm_s1_k183[183] = {
    53, 91, 118, 178, 47, 166, 31, 177, 152, 120, 16, 110, 127, 11, 78, 4,
    94, 14, 29, 19, 93, 114, 124, 90, 48, 164, 82, 56, 42, 161, 119, 35,
    40, 59, 17, 5, 105, 130, 143, 162, 147, 122, 54, 58, 167, 108, 39, 151,
    44, 84, 33, 51, 18, 99, 132, 73, 153, 12, 97, 116, 28, 66, 181, 69,
    102, 95, 107, 13, 113, 163, 45, 135, 36, 169, 171, 168, 112, 81, 180, 89,
    125, 75, 21, 138, 2, 70, 85, 136, 6, 170, 0, 149, 77, 65, 55, 106,
    88, 173, 46, 62, 74, 92, 145, 123, 126, 176, 117, 10, 34, 32, 150, 38,
    83, 165, 182, 27, 100, 23, 103, 67, 9, 155, 104, 175, 159, 158, 87, 98,
    111, 172, 64, 15, 41, 148, 109, 80, 52, 26, 76, 43, 24, 3, 154, 49,
    131, 174, 30, 121, 115, 160, 8, 60, 128, 1, 57, 22, 61, 63, 7, 179,
    141, 86, 96, 68, 50, 142, 157, 156, 139, 146, 101, 20, 25, 134, 71, 129,
    144, 79, 133, 137, 72, 140, 37};
static const size_t perm_s2_k150[150] = {
    6, 3, 113, 12, 24, 129, 25, 108, 128, 45, 48, 42, 35, 5, 85, 54,
    41, 96, 144, 89, 77, 74, 115, 94, 87, 29, 2, 127, 44, 125, 126, 23,
    64, 117, 84, 14, 132, 91, 53, 141, 78, 97, 143, 93, 11, 134, 28, 65,
    0, 27, 36, 106, 148, 131, 20, 140, 136, 105, 119, 13, 30, 101, 99, 59,
    135, 123, 71, 21, 55, 16, 114, 92, 98, 18, 81, 61, 86, 122, 1, 56,
    19, 82, 120, 9, 60, 34, 40, 10, 112, 100, 26, 32, 146, 118, 62, 109,
    57, 73, 147, 17, 130, 149, 111, 8, 121, 39, 49, 79, 139, 90, 133, 50,
    76, 110, 52, 80, 66, 138, 83, 142, 70, 46, 68, 88, 69, 67, 137, 58,
    33, 38, 103, 51, 107, 4, 102, 37, 116, 124, 31, 63, 47, 145, 95, 7,
    104, 75, 43, 22, 72, 15};
static const size_t perm_s1_k850[850] = {
    486, 559, 185, 806, 493, 298, 842, 776, 752, 755, 8, 819, 286, 775, 835, 846,
    659, 216, 426, 84, 663, 307, 673, 483, 841, 789, 371, 238, 719, 783, 181, 245,
    735, 224, 291, 657, 17, 782, 81, 175, 631, 205, 744, 117, 522, 502, 277, 73,
    523, 355, 56, 676, 844, 598, 701, 696, 34, 802, 754, 94, 625, 706, 331, 666,
    392, 549, 241, 90, 257, 47, 560, 415, 19, 101, 242, 65, 831, 301, 154, 576,
    50, 498, 540, 60, 805, 702, 543, 589, 643, 780, 790, 683, 386, 614, 268, 121,
    408, 521, 85, 248, 825, 345, 436, 437, 111, 528, 427, 811, 433, 187, 201, 698,
    457, 705, 107, 262, 49, 474, 244, 180, 488, 617, 59, 350, 412, 148, 3, 233,
    16, 289, 494, 597, 605, 527, 353, 430, 594, 106, 23, 69, 550, 411, 760, 733,
    473, 119, 207, 816, 667, 587, 247, 202, 120, 255, 699, 194, 537, 757, 445, 311,
    664, 195, 61, 363, 341, 732, 448, 404, 650, 681, 135, 223, 672, 134, 791, 104,
    318, 822, 57, 480, 517, 314, 274, 837, 459, 265, 602, 340, 558, 35, 739, 495,
    710, 742, 41, 239, 773, 763, 808, 108, 552, 847, 647, 375, 0, 838, 573, 74,
    160, 368, 66, 479, 299, 455, 218, 463, 421, 546, 472, 824, 159, 651, 161, 516,
    709, 828, 814, 361, 443, 13, 652, 452, 403, 429, 320, 92, 125, 114, 743, 654,
    258, 76, 836, 697, 741, 189, 385, 132, 366, 554, 529, 759, 246, 834, 563, 40,
    89, 428, 354, 68, 309, 139, 506, 118, 622, 786, 399, 305, 793, 612, 14, 82,
    592, 388, 88, 273, 172, 432, 103, 510, 339, 45, 414, 294, 512, 636, 11, 214,
    607, 147, 449, 679, 435, 674, 624, 555, 173, 747, 226, 31, 359, 544, 496, 285,
    329, 778, 116, 813, 95, 708, 453, 344, 382, 346, 446, 62, 204, 584, 184, 91,
    803, 501, 690, 29, 54, 571, 370, 632, 146, 221, 582, 809, 481, 447, 349, 165,
    484, 80, 758, 310, 259, 323, 9, 577, 434, 669, 179, 27, 372, 364, 293, 525,
    5, 197, 670, 829, 538, 261, 688, 122, 677, 38, 358, 730, 334, 604, 784, 162,
    67, 124, 39, 4, 33, 530, 671, 335, 280, 590, 99, 629, 649, 236, 467, 570,
    519, 765, 779, 639, 772, 535, 618, 352, 800, 504, 12, 186, 610, 581, 771, 374,
    260, 574, 333, 153, 396, 585, 304, 200, 394, 812, 373, 464, 78, 312, 770, 619,
    42, 711, 133, 745, 389, 567, 692, 553, 250, 599, 720, 439, 192, 220, 826, 518,
    682, 638, 30, 491, 579, 395, 157, 608, 272, 818, 509, 306, 601, 640, 102, 52,
    156, 507, 402, 511, 97, 541, 128, 378, 177, 347, 110, 635, 379, 191, 419, 482,
    343, 613, 142, 685, 6, 531, 267, 722, 237, 565, 400, 383, 58, 687, 232, 781,
    700, 442, 203, 600, 284, 98, 2, 833, 634, 487, 217, 360, 46, 817, 422, 225,
    18, 168, 228, 292, 377, 798, 397, 227, 713, 641, 328, 283, 797, 661, 637, 578,
    93, 213, 337, 425, 680, 115, 158, 843, 112, 36, 105, 362, 365, 441, 351, 830,
    249, 723, 675, 406, 726, 164, 746, 689, 704, 83, 593, 295, 70, 748, 787, 734,
    551, 127, 724, 1, 717, 539, 308, 410, 171, 417, 644, 460, 736, 423, 315, 376,
    524, 737, 438, 623, 150, 849, 556, 684, 409, 143, 526, 731, 703, 208, 440, 131,
    380, 174, 533, 270, 407, 603, 123, 138, 51, 275, 823, 342, 256, 182, 300, 678,
    240, 230, 326, 458, 465, 163, 167, 145, 206, 500, 188, 324, 721, 761, 575, 79,
    686, 768, 718, 229, 658, 100, 290, 444, 807, 53, 391, 821, 848, 251, 499, 475,
    271, 44, 113, 24, 211, 620, 169, 591, 827, 596, 520, 32, 611, 109, 136, 330,
    222, 28, 287, 55, 750, 766, 48, 769, 832, 642, 545, 477, 547, 63, 413, 384,
    756, 322, 451, 662, 234, 656, 557, 462, 424, 840, 303, 762, 219, 740, 296, 21,
    420, 325, 199, 450, 137, 536, 646, 628, 212, 820, 796, 785, 505, 691, 231, 405,
    568, 317, 183, 729, 727, 693, 609, 626, 485, 278, 630, 20, 170, 401, 788, 566,
    176, 327, 198, 470, 716, 694, 266, 615, 492, 130, 338, 725, 489, 572, 606, 193,
    140, 416, 660, 476, 714, 152, 764, 10, 269, 96, 210, 839, 569, 548, 804, 532,
    795, 332, 75, 712, 77, 263, 845, 149, 794, 514, 801, 469, 564, 461, 253, 369,
    321, 695, 151, 810, 302, 190, 586, 348, 243, 87, 751, 655, 774, 418, 288, 648,
    166, 595, 799, 155, 356, 381, 279, 126, 707, 777, 22, 616, 665, 282, 471, 738,
    367, 25, 196, 64, 15, 466, 297, 621, 336, 26, 588, 43, 497, 792, 515, 815,
    561, 454, 387, 71, 542, 456, 633, 431, 627, 653, 728, 264, 209, 316, 513, 313,
    534, 319, 7, 393, 141, 86, 478, 503, 753, 215, 580, 562, 398, 668, 490, 252,
    468, 357, 254, 276, 178, 281, 390, 508, 749, 583, 129, 144, 645, 715, 767, 72,
    235, 37};
static const size_t formal_train[151] = {
    131, 199, 125, 116, 188, 63, 10, 100, 21, 195, 66, 132, 137, 18, 19, 4,
    168, 31, 72, 1, 148, 37, 79, 189, 193, 14, 109, 29, 192, 120, 140, 145,
    102, 174, 181, 24, 190, 167, 97, 154, 157, 44, 141, 149, 74, 27, 77, 206,
    68, 197, 40, 210, 186, 76, 202, 115, 111, 108, 65, 95, 61, 183, 170, 191,
    155, 16, 22, 11, 7, 169, 83, 13, 150, 118, 153, 84, 162, 107, 160, 139,
    88, 203, 36, 52, 180, 211, 212, 38, 144, 133, 5, 176, 9, 138, 201, 205,
    119, 51, 103, 23, 143, 28, 106, 49, 98, 91, 105, 3, 60, 25, 196, 32,
    114, 58, 179, 46, 96, 104, 156, 198, 187, 15, 175, 81, 90, 75, 69, 70,
    147, 163, 113, 41, 182, 161, 112, 54, 43, 12, 213, 53, 194, 0, 126, 35,
    177, 56, 151, 200, 42, 110, 67};
static const size_t formal_val[32] = {
    184, 142, 30, 34, 89, 204, 33, 47, 121, 78, 59, 26, 71, 185, 82, 64,
    20, 62, 152, 146, 6, 2, 8, 45, 158, 101, 39, 207, 48, 55, 73, 17};
static const size_t formal_ood[33] = {
    209, 214, 57, 117, 127, 215, 50, 80, 85, 94, 99, 124, 134, 159, 164, 173,
    178, 208, 87, 92, 122, 136, 166, 171, 86, 130, 135, 165, 93, 123, 128, 172,
    129};
static const size_t formal_downstream_ood[16] = {
    172, 164, 171, 94, 130, 122, 209, 92, 134, 214, 178, 165, 123, 136, 99, 127};
static const size_t formal_moved[17] = {
    50, 117, 86, 215, 129, 135, 208, 57, 80, 128, 93, 87, 124, 166, 85, 159,
    173};

static int same_sizes(const size_t *a, const size_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static void test_mt19937(void)
{
    /* mt19937ar's init_genrand(5489); the 10000th word is C++11's check of std::mt19937. */
    const uint32_t want[6] = {3499211612u, 581869302u, 3890346734u, 3586334585u, 545404204u, 4161255391u};
    Mt19937 mt;
    mt19937_seed(&mt, 5489);
    int same = 1;
    for (int i = 0; i < 6; i++) same &= mt19937_next(&mt) == want[i];
    CHECK(same, "MT19937 seed 5489: first six words");
    uint32_t w = 0;
    for (int i = 6; i < 10000; i++) w = mt19937_next(&mt);
    CHECK(w == 4123659995u, "MT19937 seed 5489: word 10000 = %lu", (unsigned long)w);
    /* np.random.RandomState(1)._bit_generator.random_raw(3) */
    mt19937_seed(&mt, 1);
    uint32_t a = mt19937_next(&mt), b = mt19937_next(&mt), c = mt19937_next(&mt);
    CHECK(a == 1791095845u && b == 4282876139u && c == 3093770124u, "MT19937 seed 1: %lu %lu %lu",
          (unsigned long)a, (unsigned long)b, (unsigned long)c);
}

static void test_numpy_permutation(void)
{
    static const struct { uint32_t seed; size_t n; const size_t *want; } cases[] = {
        {1, 10, perm_s1_k10}, {1, 8, perm_s1_k8}, {1, 2, perm_s1_k2}, {2, 2, perm_s2_k2},
        {2, 33, perm_s2_k33}, {1, 183, perm_s1_k183}, {2, 150, perm_s2_k150}, {1, 850, perm_s1_k850},
    };
    size_t perm[850];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        numpy_permutation(cases[c].seed, cases[c].n, perm);
        CHECK(same_sizes(perm, cases[c].want, cases[c].n), "np.random.seed(%lu); permutation(%zu)",
              (unsigned long)cases[c].seed, cases[c].n);
    }
    perm[0] = 7;
    numpy_permutation(1, 1, perm);
    CHECK(perm[0] == 0, "permutation(1) = [0]");
    numpy_permutation(1, 0, perm); /* writes nothing, draws nothing */
}

/* The official int(n * ratio) in double: n = 10 -> 7 / 1 / 2; n = 20 -> 14 / 3 / 3 (20 * 0.15 =
 * 3.0000000000000004); 216 -> int(151.2) / int(32.4) / 33; 1000 -> 700 / 150 / 150. Downstream
 * keeps floor(ood / 2) OOD and moves the rest to train. */
static void test_sizes(void)
{
    static const size_t cases[][6] = { /* n, train, val, ood, downstream train, downstream ood */
        {1, 0, 0, 1, 1, 0}, {2, 1, 0, 1, 2, 0}, {10, 7, 1, 2, 8, 1}, {20, 14, 3, 3, 16, 1},
        {216, 151, 32, 33, 168, 16}, {1000, 700, 150, 150, 775, 75},
    };
    double *crit = malloc(1000 * sizeof *crit);
    TaskSplit *split = malloc(1000 * sizeof *split);
    for (size_t i = 0; i < 1000; i++) crit[i] = (double)((i * 389) % 1000);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = cases[c][0], m[3] = {0, 0, 0}, d[3] = {0, 0, 0};
        task_split(crit, n, 0, split);
        for (size_t i = 0; i < n; i++) m[split[i]]++;
        task_split(crit, n, 1, split);
        for (size_t i = 0; i < n; i++) d[split[i]]++;
        CHECK(m[SPLIT_TRAIN] == cases[c][1] && m[SPLIT_VALID] == cases[c][2] && m[SPLIT_OOD] == cases[c][3],
              "n = %zu: %zu / %zu / %zu", n, m[0], m[1], m[2]);
        CHECK(d[SPLIT_TRAIN] == cases[c][4] && d[SPLIT_VALID] == cases[c][2] && d[SPLIT_OOD] == cases[c][5],
              "n = %zu downstream: %zu / %zu / %zu", n, d[0], d[1], d[2]);
    }
    free(crit);
    free(split);
}

/* Ten tasks, criterion c with a tie between tasks 2 and 3:
 *   i  0    1    2    3    4    5    6    7    8    9
 *   c  0.9  0.1  0.5  0.5  0.3  0.7  0.2  0.6  0.8  0.0
 * sorted (ascending, ties by index) = [9, 1, 6, 4, 2, 3, 7, 5, 8, 0]; 7 / 1 / 2.
 * perm_s1_k8 = [7, 2, 1, 6, 0, 4, 3, 5]:
 *   train = sorted[7, 2, 1, 6, 0, 4, 3] = [5, 6, 1, 7, 9, 2, 4], val = sorted[5] = [3],
 *   ood = sorted[8, 9] = [8, 0].
 * perm_s2_k2 = [1, 0], keep 1: downstream_ood = ood[1] = [0]; 8 moves to train.
 * Were the tie broken the other way (3 before 2), task 2 would be val and 3 train. */
static void test_ties(void)
{
    const double crit[10] = {0.9, 0.1, 0.5, 0.5, 0.3, 0.7, 0.2, 0.6, 0.8, 0.0};
    const TaskSplit T = SPLIT_TRAIN, V = SPLIT_VALID, O = SPLIT_OOD;
    const TaskSplit want[10] = {O, T, T, V, T, T, T, T, O, T}, want_down[10] = {O, T, T, V, T, T, T, T, T, T};
    TaskSplit split[10];
    task_split(crit, 10, 0, split);
    CHECK(!memcmp(split, want, sizeof want), "hand-derived split with a tie");
    task_split(crit, 10, 1, split);
    CHECK(!memcmp(split, want_down, sizeof want_down), "hand-derived downstream split");
}

/* Ten angles u0 < ... < u9 in 11 runs (u7 twice) of 2 rows each, runs in shuffled order. The
 * unique tasks are u0..u9 (np.unique sorts them) and the criterion is the angle, so sorted is
 * the identity and, as in test_ties, with perm_s1_k8 = [7, 2, 1, 6, 0, 4, 3, 5]:
 *   train = [u7, u2, u1, u6, u0, u4, u3], val = [u5], ood = [u8, u9],
 *   downstream (perm_s2_k2 = [1, 0], keep 1): ood = [u9], train = train + [u8]. */
static void test_hand_zoo(void)
{
    const double u[10] = {5.0, 40.0, 75.5, 90.0, 123.25, 180.0, 200.0, 271.0, 300.0, 359.5};
    const size_t runs[11] = {3, 7, 0, 9, 5, 1, 8, 2, 6, 4, 7};
    double rows[22];
    for (size_t r = 0; r < 22; r++) rows[r] = u[runs[r / 2]];
    const size_t want[SPLIT_LISTS][8] = {
        {7, 2, 1, 6, 0, 4, 3}, {5}, {8, 9}, {7, 2, 1, 6, 0, 4, 3, 8}, {9},
    };
    const size_t want_count[SPLIT_LISTS] = {7, 1, 2, 8, 1};
    TaskSplits s;
    char err[RR_ERRLEN];
    CHECK(task_splits_init(&s, rows, 22, 1, "hand", err) == RR_OK, "%s", err);
    CHECK(s.rows == 22 && s.width == 1 && s.tasks == 10, "10 unique tasks in 22 rows, got %zu", s.tasks);
    CHECK(!memcmp(s.task, u, sizeof u), "unique tasks in ascending order");
    CHECK(!memcmp(s.criterion, u, sizeof u), "the criterion is the angle");
    for (int k = 0; k < SPLIT_LISTS; k++)
        CHECK(s.count[k] == want_count[k] && same_sizes(s.list[k], want[k], want_count[k]), "list %d", k);
    int rows_ok = 1;
    for (size_t r = 0; r < 22; r++) {
        size_t t = runs[r / 2];
        TaskSplit plain = t == 5 ? SPLIT_VALID : t >= 8 ? SPLIT_OOD : SPLIT_TRAIN;
        TaskSplit down = t == 5 ? SPLIT_VALID : t == 9 ? SPLIT_OOD : SPLIT_TRAIN;
        rows_ok &= s.row_task[r] == t && s.row_split[r] == plain && s.row_downstream[r] == down;
    }
    CHECK(rows_ok, "row -> task, split and downstream split");
    task_splits_free(&s);
}

/* Run r of a formal zoo has task lang_task((r * 97) % 216) in 9 rows (97 is prime to 216);
 * NumPy's lists for the same rows are the formal_* literals. */
static void test_formal_zoo(void)
{
    const size_t N = 216 * 9;
    double *rows = malloc(N * 4 * sizeof *rows);
    int t[4];
    for (size_t r = 0; r < N; r++) {
        lang_task((r / 9 * 97) % 216, t);
        for (int c = 0; c < 4; c++) rows[r * 4 + c] = t[c];
    }
    TaskSplits s;
    char err[RR_ERRLEN];
    CHECK(task_splits_init(&s, rows, N, 4, "formal", err) == RR_OK, "%s", err);
    int ordered = s.tasks == LANG_NUM_TASKS, crit_ok = 1, rows_ok = 1;
    for (size_t k = 0; ordered && k < LANG_NUM_TASKS; k++) {
        lang_task(k, t);
        for (int c = 0; c < 4; c++) ordered &= s.task[k * 4 + c] == t[c];
        crit_ok &= s.criterion[k] == lang_task_entropy(t);
    }
    CHECK(ordered, "216 unique tasks in np.unique order");
    CHECK(crit_ok, "criterion = lang_task_entropy");
    for (size_t r = 0; r < N; r++) rows_ok &= s.row_task[r] == (r / 9 * 97) % 216;
    CHECK(rows_ok, "row -> task");
    CHECK(s.count[LIST_TRAIN] == 151 && same_sizes(s.list[LIST_TRAIN], formal_train, 151), "train = NumPy's");
    CHECK(s.count[LIST_VAL] == 32 && same_sizes(s.list[LIST_VAL], formal_val, 32), "val = NumPy's");
    CHECK(s.count[LIST_OOD] == 33 && same_sizes(s.list[LIST_OOD], formal_ood, 33), "ood = NumPy's");
    CHECK(s.count[LIST_DOWNSTREAM_TRAIN] == 168 && same_sizes(s.list[LIST_DOWNSTREAM_TRAIN], formal_train, 151)
          && same_sizes(s.list[LIST_DOWNSTREAM_TRAIN] + 151, formal_moved, 17), "downstream_train = NumPy's");
    CHECK(s.count[LIST_DOWNSTREAM_OOD] == 16 && same_sizes(s.list[LIST_DOWNSTREAM_OOD], formal_downstream_ood, 16),
          "downstream_ood = NumPy's");
    /* OOD = the 33 largest entropies, (0,0,0,0) among them */
    double min_ood = 1e9, max_in = -1e9;
    for (size_t r = 0; r < N; r++) {
        double h = s.criterion[s.row_task[r]];
        if (s.row_split[r] == SPLIT_OOD && h < min_ood) min_ood = h;
        if (s.row_split[r] != SPLIT_OOD && h > max_in) max_in = h;
    }
    CHECK(min_ood >= max_in, "OOD tasks have the largest entropies");
    int zero_ood = 0;
    for (size_t r = 0; r < N; r++)
        if (s.row_task[r] < s.tasks && s.task[s.row_task[r] * 4 + 1] == 0 && s.task[s.row_task[r] * 4 + 2] == 0
            && s.task[s.row_task[r] * 4 + 3] == 0)
            zero_ood = s.row_split[r] == SPLIT_OOD;
    CHECK(zero_ood, "(0,0,0,0) is OOD");
    task_splits_free(&s);
    free(rows);
}

/* Run r of an MNIST zoo has angle ((r * 7) % 1000) * 0.36 in 9 rows: the unique tasks are
 * j * 0.36, j = 0..999, already sorted by the criterion, so NumPy's lists are
 * train = perm_s1_k850[0..700) * 0.36, val = perm_s1_k850[700..850) * 0.36,
 * ood = (850..1000) * 0.36, downstream_ood = (850 + perm_s2_k150[0..75)) * 0.36,
 * downstream_train = train then (850 + perm_s2_k150[75..150)) * 0.36
 * (make_split_refs.py checks this against the procedure run by NumPy). */
static void test_mnist_zoo(void)
{
    const size_t N = 9000;
    double *rows = malloc(N * sizeof *rows);
    for (size_t r = 0; r < N; r++) rows[r] = (double)((r / 9 * 7) % 1000) * 0.36;
    TaskSplits s;
    char err[RR_ERRLEN];
    CHECK(task_splits_init(&s, rows, N, 1, "mnist", err) == RR_OK, "%s", err);
    CHECK(s.tasks == 1000 && s.count[LIST_TRAIN] == 700 && s.count[LIST_VAL] == 150 && s.count[LIST_OOD] == 150
          && s.count[LIST_DOWNSTREAM_TRAIN] == 775 && s.count[LIST_DOWNSTREAM_OOD] == 75,
          "1000 angles: 700 / 150 / 150, downstream 775 / 75");
    int ok[SPLIT_LISTS] = {1, 1, 1, 1, 1};
    for (size_t i = 0; i < 700; i++) ok[LIST_TRAIN] &= s.task[s.list[LIST_TRAIN][i]] == perm_s1_k850[i] * 0.36;
    for (size_t i = 0; i < 150; i++) ok[LIST_VAL] &= s.task[s.list[LIST_VAL][i]] == perm_s1_k850[700 + i] * 0.36;
    for (size_t i = 0; i < 150; i++) ok[LIST_OOD] &= s.task[s.list[LIST_OOD][i]] == (850 + i) * 0.36;
    for (size_t i = 0; i < 775; i++)
        ok[LIST_DOWNSTREAM_TRAIN] &= s.task[s.list[LIST_DOWNSTREAM_TRAIN][i]] ==
            (i < 700 ? perm_s1_k850[i] : 850 + perm_s2_k150[75 + i - 700]) * 0.36;
    for (size_t i = 0; i < 75; i++)
        ok[LIST_DOWNSTREAM_OOD] &= s.task[s.list[LIST_DOWNSTREAM_OOD][i]] == (850 + perm_s2_k150[i]) * 0.36;
    for (int k = 0; k < SPLIT_LISTS; k++) CHECK(ok[k], "MNIST list %d = NumPy's", k);
    task_splits_free(&s);
    free(rows);
}

static int contains(const char *s, const char *part) { return strstr(s, part) != NULL; }

static void test_bad_rows(void)
{
    TaskSplits s;
    char err[RR_ERRLEN];
    const double three[3] = {0, 1, 2}, bad_m[8] = {0, 0, 0, 0, 0, 3, 0, 0}, half[4] = {0, 0.5, 0, 0};
    const double lead[4] = {1, 0, 0, 0}, angles[3] = {10.0, NAN, 20.0};
    CHECK(task_splits_init(&s, three, 1, 3, "t.npy", err) == RR_ERR_UNSUPPORTED && contains(err, "t.npy: "),
          "width 3: %s", err);
    CHECK(task_splits_init(&s, bad_m, 2, 4, "t.npy", err) == RR_ERR_FORMAT && contains(err, "t.npy: row 1"),
          "m = 3: %s", err);
    CHECK(task_splits_init(&s, half, 1, 4, "t.npy", err) == RR_ERR_FORMAT, "m = 0.5: %s", err);
    CHECK(task_splits_init(&s, lead, 1, 4, "t.npy", err) == RR_ERR_FORMAT, "t[0] = 1: %s", err);
    CHECK(task_splits_init(&s, angles, 3, 1, "t.npy", err) == RR_ERR_FORMAT && contains(err, "row 1"),
          "NaN angle: %s", err);
    CHECK(s.tasks == 0 && s.task == NULL, "a failed init leaves s empty");
    task_splits_free(&s);
    CHECK(task_splits_init(&s, NULL, 0, 1, "t.npy", err) == RR_OK && s.tasks == 0, "no rows: %s", err);
    task_splits_free(&s);
}


/* Five rows, four tasks, n = 4: 2 / 0 / 2, keep 1; the texts are Python's json.dumps of the
 * lists NumPy computes (make_split_refs.py). By hand, formal: np.unique order (0,-3,2,1),
 * (0,0,0,0), (0,1,-1,0), (0,2,2,2) with s = (4,1,6,5), (1,1,1,1), (2,3,1,2), (1,3,3,3), so by
 * ascending entropy (0,-3,2,1), (0,2,2,2), (0,1,-1,0), (0,0,0,0); perm_s1_k2 = [0, 1] keeps the
 * first two in order as train; perm_s2_k2 = [1, 0] keeps (0,0,0,0) OOD and moves (0,1,-1,0). */
static void test_json(void)
{
    static const struct { size_t width; double rows[20]; const char *text; } cases[] = {
        {4, {0, 2, 2, 2, 0, -3, 2, 1, 0, 0, 0, 0, 0, -3, 2, 1, 0, 1, -1, 0},
         "{\"train\": [[0, -3, 2, 1], [0, 2, 2, 2]], \"val\": [], \"ood\": [[0, 1, -1, 0], [0, 0, 0, 0]], "
         "\"downstream_train\": [[0, -3, 2, 1], [0, 2, 2, 2], [0, 1, -1, 0]], \"downstream_ood\": [[0, 0, 0, 0]]}"},
        {1, {12.5, 0.1, 359.75, 0.1, 200.0},
         "{\"train\": [0.1, 12.5], \"val\": [], \"ood\": [200.0, 359.75], \"downstream_train\": [0.1, 12.5, 200.0], "
         "\"downstream_ood\": [359.75]}"},
    };
    char err[RR_ERRLEN], path[256];
    snprintf(path, sizeof path, "%ssplits.json", TMP);
    for (size_t c = 0; c < 2; c++) {
        TaskSplits s;
        size_t n = 0;
        CHECK(task_splits_init(&s, cases[c].rows, 5, cases[c].width, "tiny", err) == RR_OK, "%s", err);
        CHECK(splits_write_json(&s, path, err) == RR_OK, "%s", err);
        char *text = slurp(path, &n);
        CHECK(text && n == strlen(cases[c].text) && !memcmp(text, cases[c].text, n), "splits.json: %s",
              text ? text : "(missing)");
        free(text);
        CHECK(splits_write_json(&s, "build/no/such/dir/splits.json", err) == RR_ERR_OPEN &&
              contains(err, "build/no/such/dir/splits.json.tmp"), "splits.json into a missing directory: %s", err);
        task_splits_free(&s);
    }
    remove(path);

    /* json_int_rows on its own: Python's json.dumps({"m": [[1, -2], [3, 4]], "e": []}) */
    JsonWriter w;
    snprintf(path, sizeof path, "%srows.json", TMP);
    CHECK(json_begin(&w, path, err) == RR_OK, "%s", err);
    json_int_rows(&w, "m", (const int64_t[]){1, -2, 3, 4}, 2, 2);
    json_int_rows(&w, "e", NULL, 0, 4);
    CHECK(json_end(&w, err) == RR_OK, "%s", err);
    size_t n = 0;
    char *text = slurp(path, &n);
    CHECK(text && !strcmp(text, "{\"m\": [[1, -2], [3, 4]], \"e\": []}"), "json_int_rows: %s", text ? text : "");
    free(text);
    remove(path);
}

int main(void)
{
    test_mt19937();
    test_numpy_permutation();
    test_sizes();
    test_ties();
    test_hand_zoo();
    test_formal_zoo();
    test_mnist_zoo();
    test_bad_rows();
    test_json();
    return test_summary("test_splits");
}
