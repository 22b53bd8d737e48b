/* splits.c — train / validation / OOD splits by task (SPEC 2.4), and splits.json (SPEC 9).
 *
 * Official code: rnn_weights_representation_learning/dataset_classes.py,
 * ParametersSequencesDataset.__init__, with eval_ratio = ood_ratio = 0.15 from training_script.py:
 *   num_train = int(n * (1 - eval_ratio - ood_ratio)), num_eval = int(n * eval_ratio),
 *   num_ood = n - num_train - num_eval; sorted = unique tasks[argsort(criterion)];
 *   ood = sorted[-num_ood:]; perm = permutation(num_train + num_eval) under seed 1;
 *   train = sorted[perm[:num_train]], eval = sorted[perm[num_train:]];
 *   downstream: perm2 = permutation(num_ood) under seed 2, keep = num_ood // 2,
 *   train += ood[perm2[keep:]], ood = ood[perm2[:keep]].
 * The permutations are NumPy's own (numpy_permutation: MT19937 and the legacy shuffle), so
 * the same tasks land in the same lists in the same order. One deliberate difference: the
 * official argsort (numpy quicksort) orders tied criteria in an implementation-defined way;
 * here ties go by index (np.unique order). MNIST angles do not tie, so MNIST splits of the
 * released zoo are the official ones; the formal-language entropy has exact ties. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "rnnrep.h"

/* ------------------------------------------------------------------------ task lists -- */

typedef struct { double key; size_t index; } Keyed;

static int by_key_then_index(const void *pa, const void *pb)
{
    const Keyed *a = pa, *b = pb;
    if (a->key < b->key) return -1;
    if (a->key > b->key) return 1;
    return (a->index > b->index) - (a->index < b->index);
}

/* Room for the five lists of n tasks (they hold n + num_train + num_ood <= 2n indices). */
static size_t *alloc_lists(size_t n)
{
    if (n > SIZE_MAX / (2 * sizeof(size_t))) rr_fatal("task splits: %zu tasks do not fit in memory", n);
    return rr_malloc(2 * n * sizeof(size_t), "task splits");
}

/* The five lists of SPEC 2.4 as indices into criterion (n), written into buf (alloc_lists)
 * with list[k] pointing into it: train | val | ood | downstream_train | downstream_ood. */
static void split_lists(const double *criterion, size_t n, size_t *buf, size_t *list[SPLIT_LISTS],
                        size_t count[SPLIT_LISTS])
{
    /* The official expression; 1 - 0.15 - 0.15 is exactly the double 0.7. */
    size_t num_train = (size_t)((double)n * (1.0 - SPLIT_VALID_RATIO - SPLIT_OOD_RATIO));
    size_t num_val = (size_t)((double)n * SPLIT_VALID_RATIO);
    size_t num_in = num_train + num_val, num_ood = n - num_in, keep = num_ood / 2;
    Keyed *sorted = rr_malloc(n * sizeof *sorted, "task_split");
    size_t *perm = rr_malloc(n * sizeof *perm, "task_split");

    for (size_t i = 0; i < n; i++) sorted[i] = (Keyed){criterion[i], i};
    qsort(sorted, n, sizeof *sorted, by_key_then_index);

    count[LIST_TRAIN] = num_train;
    count[LIST_VAL] = num_val;
    count[LIST_OOD] = num_ood;
    count[LIST_DOWNSTREAM_TRAIN] = num_train + num_ood - keep;
    count[LIST_DOWNSTREAM_OOD] = keep;
    list[LIST_TRAIN] = buf;
    list[LIST_VAL] = buf + num_train;
    list[LIST_OOD] = buf + num_in;
    list[LIST_DOWNSTREAM_TRAIN] = buf + n;
    list[LIST_DOWNSTREAM_OOD] = buf + n + count[LIST_DOWNSTREAM_TRAIN];

    numpy_permutation(1, num_in, perm);
    for (size_t i = 0; i < num_in; i++) buf[i] = sorted[perm[i]].index;   /* train, then val */
    for (size_t i = num_in; i < n; i++) buf[i] = sorted[i].index;         /* ood */

    const size_t *ood = list[LIST_OOD];
    size_t *down_train = list[LIST_DOWNSTREAM_TRAIN], *down_ood = list[LIST_DOWNSTREAM_OOD];
    numpy_permutation(2, num_ood, perm);
    memcpy(down_train, list[LIST_TRAIN], num_train * sizeof *down_train);
    for (size_t i = keep; i < num_ood; i++) down_train[num_train + i - keep] = ood[perm[i]];
    for (size_t i = 0; i < keep; i++) down_ood[i] = ood[perm[i]];
    free(perm);
    free(sorted);
}

/* label[i] for every task i in the lists: train / val / OOD, or the downstream assignment. */
static void label_tasks(size_t *const list[SPLIT_LISTS], const size_t count[SPLIT_LISTS],
                        int downstream, TaskSplit *label)
{
    static const TaskSplit plain[SPLIT_LISTS] = {SPLIT_TRAIN, SPLIT_VALID, SPLIT_OOD, SPLIT_TRAIN, SPLIT_OOD};
    for (int k = 0; k < SPLIT_LISTS; k++) {
        int used = downstream ? k != LIST_TRAIN && k != LIST_OOD : k < LIST_DOWNSTREAM_TRAIN;
        for (size_t i = 0; used && i < count[k]; i++) label[list[k][i]] = plain[k];
    }
}

void task_split(const double *criterion, size_t n, int downstream, TaskSplit *split)
{
    size_t *buf = alloc_lists(n), *list[SPLIT_LISTS], count[SPLIT_LISTS];
    split_lists(criterion, n, buf, list, count);
    label_tasks(list, count, downstream, split);
    free(buf);
}

/* ------------------------------------------------------------------------ zoo rows -- */

typedef struct { double key[4]; size_t index; } Row; /* w <= 4 columns, unused ones 0 */

static int by_row_then_index(const void *pa, const void *pb)
{
    const Row *a = pa, *b = pb;
    for (int c = 0; c < 4; c++) {
        if (a->key[c] < b->key[c]) return -1;
        if (a->key[c] > b->key[c]) return 1;
    }
    return (a->index > b->index) - (a->index < b->index);
}

static int same_task(const Row *a, const Row *b)
{
    return a->key[0] == b->key[0] && a->key[1] == b->key[1] && a->key[2] == b->key[2] && a->key[3] == b->key[3];
}

/* RR_OK when row r (w doubles) is a task of its family, else a message naming it. */
static int check_task(const double *t, size_t w, size_t r, const char *source, char *err)
{
    if (w == 1) {
        if (!isfinite(t[0]))
            return rr_error(err, RR_ERR_FORMAT, "%s: row %zu: angle %g is not finite", source, r, t[0]);
        return RR_OK;
    }
    int ok = t[0] == 0.0;
    for (size_t c = 1; c < 4; c++) ok &= t[c] >= -3.0 && t[c] <= 2.0 && t[c] == (double)(int)t[c];
    if (!ok)
        return rr_error(err, RR_ERR_FORMAT, "%s: row %zu: (%g, %g, %g, %g) is not a task (0, m_b, m_c, m_d) "
                        "with m in -3..2", source, r, t[0], t[1], t[2], t[3]);
    return RR_OK;
}

int task_splits_init(TaskSplits *s, const double *tasks, size_t N, size_t width, const char *source,
                     char *err)
{
    memset(s, 0, sizeof *s);
    if (width != 1 && width != 4)
        return rr_error(err, RR_ERR_UNSUPPORTED, "%s: tasks of width %zu (want 4, formal languages, "
                        "or 1, MNIST angles)", source, width);
    for (size_t r = 0; r < N; r++) {
        int rc = check_task(tasks + r * width, width, r, source, err);
        if (rc) return rc;
    }

    /* np.unique(tasks, axis=0): sort the rows, then each run of equal rows is one task. */
    if (N > SIZE_MAX / sizeof(Row)) rr_fatal("task splits: %zu rows do not fit in memory", N);
    Row *rows = rr_malloc(N * sizeof *rows, "task_splits");
    for (size_t r = 0; r < N; r++) {
        memset(rows[r].key, 0, sizeof rows[r].key);
        memcpy(rows[r].key, tasks + r * width, width * sizeof(double));
        rows[r].index = r;
    }
    qsort(rows, N, sizeof *rows, by_row_then_index);

    s->rows = N;
    s->width = width;
    s->row_task = rr_malloc(N * sizeof *s->row_task, "task_splits");
    s->task = rr_malloc(N * width * sizeof *s->task, "task_splits");
    for (size_t r = 0; r < N; r++) {
        if (r == 0 || !same_task(&rows[r], &rows[r - 1]))
            memcpy(s->task + s->tasks++ * width, rows[r].key, width * sizeof(double));
        s->row_task[rows[r].index] = s->tasks - 1;
    }
    free(rows);

    s->criterion = rr_malloc(s->tasks * sizeof *s->criterion, "task_splits");
    for (size_t i = 0; i < s->tasks; i++) {
        const double *t = s->task + i * width;
        if (width == 1) s->criterion[i] = t[0];
        else s->criterion[i] = lang_task_entropy((const int[4]){(int)t[0], (int)t[1], (int)t[2], (int)t[3]});
    }

    split_lists(s->criterion, s->tasks, alloc_lists(s->tasks), s->list, s->count);
    TaskSplit *label = rr_malloc(2 * s->tasks * sizeof *label, "task_splits");
    label_tasks(s->list, s->count, 0, label);
    label_tasks(s->list, s->count, 1, label + s->tasks);
    s->row_split = rr_malloc(N * sizeof *s->row_split, "task_splits");
    s->row_downstream = rr_malloc(N * sizeof *s->row_downstream, "task_splits");
    for (size_t r = 0; r < N; r++) {
        s->row_split[r] = label[s->row_task[r]];
        s->row_downstream[r] = label[s->tasks + s->row_task[r]];
    }
    free(label);
    return RR_OK;
}

void task_splits_free(TaskSplits *s)
{
    free(s->task);
    free(s->criterion);
    free(s->row_task);
    free(s->row_split);
    free(s->row_downstream);
    free(s->list[0]);   /* the one buffer behind all five lists */
    memset(s, 0, sizeof *s);
}

/* ----------------------------------------------------------------------- splits.json -- */

int splits_write_json(const TaskSplits *s, const char *path, char *err)
{
    static const char *const key[SPLIT_LISTS] = {"train", "val", "ood", "downstream_train", "downstream_ood"};
    size_t w = s->width;
    int64_t *rows = rr_malloc(s->tasks * 4 * sizeof *rows, "splits.json");
    double *angles = rr_malloc(s->tasks * sizeof *angles, "splits.json");
    JsonWriter jw;
    int rc = json_begin(&jw, path, err);
    for (int k = 0; !rc && k < SPLIT_LISTS; k++) {
        for (size_t i = 0; i < s->count[k]; i++) {
            const double *t = s->task + s->list[k][i] * w;
            if (w == 1) angles[i] = t[0];
            else for (size_t c = 0; c < 4; c++) rows[i * 4 + c] = (int64_t)t[c];
        }
        if (w == 1) json_doubles(&jw, key[k], angles, s->count[k]);
        else json_int_rows(&jw, key[k], rows, s->count[k], 4);
    }
    if (!rc) rc = json_end(&jw, err);
    free(rows);
    free(angles);
    return rc;
}
