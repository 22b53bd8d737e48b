/*
 * zoo_data.c — a whole zoo in memory, checked file against file, for the jobs that learn from
 * it (emulation training, embeddings, downstream prediction), ours or an official release.
 *
 * Every file's dtype and full shape is checked against the zoo kind and against the others
 * (the same N rows everywhere, the same stored count S in sequences and logits) before its
 * data is used. num_step_correct_strict.npy is ours and optional.
 */
#include <stdlib.h>
#include <string.h>

#include "zoo/zoo_internal.h"

/* Reads dir/name whole and checks dtype and shape (NPY_ANY matches any size). */
static int read_checked(const char *dir, const char *name, NpyDtype dtype, int ndim, const size_t *shape, NpyArray *a,
                        char *err)
{
    char path[1024];
    zoo_path(path, sizeof path, dir, name);
    int rc = npy_read(path, a, err);
    if (rc) return rc;
    if ((rc = npy_expect(a, path, dtype, ndim, shape, err))) npy_free(a);
    return rc;
}

int zoo_data_load(const char *dir, ZooData *z, char *err)
{
    memset(z, 0, sizeof *z);
    int rc = zoo_detect_kind(dir, &z->kind, err);
    if (rc) return rc;
    int formal = z->kind == ZOO_KIND_FORMAL;
    z->shape = formal ? ZOO_FORMAL : ZOO_MNIST;
    z->T = formal ? LANG_LENGTH - 1 : MNIST_STEPS;
    z->task_width = formal ? 4 : 1;
    size_t P = zoo_num_params(z->shape), O = z->shape.O, A = NPY_ANY;
    NpyArray book, tasks, acc;
    memset(&book, 0, sizeof book);
    memset(&tasks, 0, sizeof tasks);
    memset(&acc, 0, sizeof acc);
    /* The bookkeeping file fixes N; sequences fix S; every other file must agree. */
    rc = read_checked(dir, formal ? "num_step_correct.npy" : "num_step.npy", NPY_I8, 2, (size_t[]){A, formal ? 3 : 2}, &book, err);
    if (!rc) {
        z->N = book.shape[0];
        if (z->N == 0) rc = rr_error(err, RR_ERR_FORMAT, "%s: the zoo holds no snapshots", dir);
    }
    size_t N = z->N;
    if (!rc) rc = read_checked(dir, "sequences.npy", formal ? NPY_I2 : NPY_F2, formal ? 3 : 4,
                               formal ? (size_t[]){N, A, LANG_LENGTH} : (size_t[]){N, A, MNIST_STEPS, MNIST_TILE_SIZE},
                               &z->sequences, err);
    if (!rc) {
        z->S = z->sequences.shape[1];
        if (z->S == 0) rc = rr_error(err, RR_ERR_FORMAT, "%s/sequences.npy: no stored sequences", dir);
    }
    if (!rc && formal) { /* tokens index one-hot inputs: every one must be a token */
        const int16_t *tok = z->sequences.data;
        for (size_t i = 0; i < z->sequences.count && !rc; i++)
            if (tok[i] < 0 || tok[i] >= LANG_TOKENS)
                rc = rr_error(err, RR_ERR_FORMAT, "%s/sequences.npy: row %zu holds %d, not a token (0..%d)", dir,
                              i / (z->S * LANG_LENGTH), tok[i], LANG_TOKENS - 1);
    }
    NpyArray params;
    memset(&params, 0, sizeof params);
    if (!rc) rc = read_checked(dir, "logits.npy", NPY_F2, 4, (size_t[]){N, z->S, z->T, O}, &z->logits, err);
    if (!rc) rc = read_checked(dir, "tasks.npy", formal ? NPY_I8 : NPY_F8, 2, (size_t[]){N, z->task_width}, &tasks, err);
    if (!rc && !formal) rc = read_checked(dir, "accuracy_losses.npy", NPY_F8, 2, (size_t[]){N, 4}, &acc, err);
    if (!rc) rc = read_checked(dir, "parameters.npy", NPY_F4, 2, (size_t[]){N, P}, &params, err);
    if (!rc) {
        z->theta = rr_malloc(N * P * sizeof(real), "zoo parameters");
        npy_to_real(NPY_F4, params.data, N * P, z->theta);
        z->tasks = rr_malloc(N * z->task_width * sizeof(double), "zoo tasks");
        z->run = rr_malloc(N * sizeof(int64_t), "zoo runs");
        z->step = rr_malloc(N * sizeof(int64_t), "zoo steps");
        z->accuracy = rr_malloc(N * sizeof(double), "zoo accuracies");
        const int64_t *bk = book.data;
        for (size_t i = 0; i < N; i++) {
            z->run[i] = bk[i * book.shape[1]];
            z->step[i] = bk[i * book.shape[1] + 1];
            /* formal languages: correct of the 1000 samples the released zoos count */
            z->accuracy[i] = formal ? (double)bk[i * 3 + 2] / 1000.0 : ((const double *)acc.data)[i * 4];
        }
        if (formal) {
            for (size_t i = 0; i < N * 4; i++) z->tasks[i] = (double)((const int64_t *)tasks.data)[i];
        } else {
            memcpy(z->tasks, tasks.data, N * sizeof(double));
            z->gap = rr_malloc(N * sizeof(double), "zoo generalisation gaps");
            const double *al = acc.data;
            for (size_t i = 0; i < N; i++) z->gap[i] = al[i * 4 + 2] - al[i * 4 + 1]; /* eval loss - train loss */
        }
    }
    npy_free(&book);
    npy_free(&tasks);
    npy_free(&acc);
    npy_free(&params);
    if (rc) zoo_data_free(z);
    return rc;
}

void zoo_data_free(ZooData *z)
{
    free(z->theta);
    free(z->tasks);
    free(z->run);
    free(z->step);
    free(z->accuracy);
    free(z->gap);
    npy_free(&z->sequences);
    npy_free(&z->logits);
    memset(z, 0, sizeof *z);
}

void zoo_data_example(const ZooData *z, size_t row, size_t seq, real *inputs, real *targets)
{
    size_t T = z->T, I = z->shape.I, O = z->shape.O, at = row * z->S + seq;
    if (z->kind == ZOO_KIND_FORMAL) {
        /* one-hot of the stored tokens 0..40; position 0 is BOS whatever the file holds (SPEC.md §2.1) */
        const int16_t *tok = (const int16_t *)z->sequences.data + at * LANG_LENGTH;
        memset(inputs, 0, T * I * sizeof(real));
        for (size_t s = 0; s < T; s++) {
            inputs[s * I + (size_t)(s == 0 ? LANG_BOS : tok[s])] = 1;
        }
    } else {
        npy_to_real(NPY_F2, (const uint16_t *)z->sequences.data + at * T * I, T * I, inputs);
    }
    npy_to_real(NPY_F2, (const uint16_t *)z->logits.data + at * T * O, T * O, targets);
}
