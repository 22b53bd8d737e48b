/* splits.c — train / validation / OOD splits by task (SPEC 2.4).
 *
 * Official code: rnn_weights_representation_learning/dataset_classes.py,
 * ParametersSequencesDataset.__init__, with eval_ratio = ood_ratio = 0.15 from training_script.py:
 *   num_train = int(n * (1 - eval_ratio - ood_ratio)), num_eval = int(n * eval_ratio),
 *   num_ood = n - num_train - num_eval; sorted = unique tasks[argsort(criterion)];
 *   ood = sorted[-num_ood:]; perm = permutation(num_train + num_eval) under seed 1;
 *   train = sorted[perm[:num_train]], eval = sorted[perm[num_train:]];
 *   downstream: perm2 = permutation(num_ood) under seed 2, keep = num_ood // 2,
 *   train += ood[perm2[keep:]], ood = ood[perm2[:keep]].
 * Two deliberate differences: the official argsort (numpy quicksort on float32) orders tied
 * criteria in an implementation-defined way, here ties go by index; and the permutations come
 * from our Rng, not numpy's MT19937, so the same sizes but not the same members result. */
#include <stdlib.h>
#include "rnnrep.h"

typedef struct { double key; size_t index; } Keyed;

static int by_key_then_index(const void *pa, const void *pb)
{
    const Keyed *a = pa, *b = pb;
    if (a->key < b->key) return -1;
    if (a->key > b->key) return 1;
    return (a->index > b->index) - (a->index < b->index);
}

void task_split(const double *criterion, size_t n, int downstream, TaskSplit *split)
{
    double valid_ratio = SPLIT_VALID_RATIO, ood_ratio = SPLIT_OOD_RATIO;
    size_t num_train = (size_t)((double)n * (1.0 - valid_ratio - ood_ratio));
    size_t num_valid = (size_t)((double)n * valid_ratio);
    size_t num_in = num_train + num_valid, num_ood = n - num_in;
    Keyed *sorted = rr_malloc(n * sizeof *sorted, "task_split");
    size_t *perm = rr_malloc(n * sizeof *perm, "task_split");
    Rng rng;

    for (size_t i = 0; i < n; i++) {
        sorted[i].key = criterion[i];
        sorted[i].index = i;
    }
    qsort(sorted, n, sizeof *sorted, by_key_then_index);

    rng_seed(&rng, 1);
    rng_permutation(&rng, num_in, perm);
    for (size_t i = 0; i < num_in; i++)
        split[sorted[perm[i]].index] = i < num_train ? SPLIT_TRAIN : SPLIT_VALID;
    for (size_t i = num_in; i < n; i++) split[sorted[i].index] = SPLIT_OOD;

    if (downstream) {
        rng_seed(&rng, 2);
        rng_permutation(&rng, num_ood, perm);
        for (size_t i = num_ood / 2; i < num_ood; i++)
            split[sorted[num_in + perm[i]].index] = SPLIT_TRAIN;
    }
    free(perm);
    free(sorted);
}
