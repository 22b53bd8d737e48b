/*
 * zoo_data.c — a zoo's files checked against its kind and against each other (every reader of
 * a zoo starts there), and a whole zoo in memory for the jobs that learn from it (emulation
 * training, embeddings, downstream prediction), ours or an official release.
 *
 * The checks read headers only; a reader then reads the rows it uses, which the headers have
 * bounded. num_step_correct_strict.npy is ours and optional.
 */
#include <stdlib.h>
#include <string.h>

#include "zoo/zoo_internal.h"

static const char *const kind_phrase[2] = {"a formal-language zoo", "a MNIST zoo"};

void zoo_dir_close(ZooDir *z)
{
    for (size_t i = 0; i < z->nfiles; i++)
        if (z->npy[i].fp) npy_close(&z->npy[i], NULL); /* read-only: nothing can be lost */
    memset(z, 0, sizeof *z);
}

/* Whether f (one of the zoo's files, opened as a) has f's dtype and row shape, with N rows
 * when N is known (N != NPY_ANY); otherwise a message naming path. */
static int check_file(const ZooFile *f, const NpyArray *a, size_t N, const char *path, ZooKind kind, char *err)
{
    size_t want[4] = {N == NPY_ANY && a->ndim > 0 ? a->shape[0] : N, f->shape[0], f->shape[1], f->shape[2]};
    int ok = a->dtype == f->dtype && a->ndim == f->ndim + 1;
    for (int d = 1; ok && d <= f->ndim; d++) ok = want[d] == NPY_ANY || want[d] == a->shape[d];
    if (!ok) {
        char got[256], has[256];
        npy_shape_str(a->ndim, a->shape, got, sizeof got);
        npy_shape_str(f->ndim + 1, want, has, sizeof has);
        return rr_error(err, RR_ERR_FORMAT, "%s: %s %s, %s has %s %s", path, npy_descr[a->dtype], got, kind_phrase[kind],
                        npy_descr[f->dtype], has);
    }
    if (N != NPY_ANY && a->shape[0] != N)
        return rr_error(err, RR_ERR_FORMAT, "%s: %zu rows, parameters.npy has %zu: every file holds one row per snapshot", path,
                        a->shape[0], N);
    return RR_OK;
}

int zoo_dir_open(const char *dir, ZooDir *z, char *err)
{
    memset(z, 0, sizeof *z);
    int rc = zoo_detect_kind(dir, &z->kind, err);
    if (rc) return rc;
    /* in the table's order: parameters.npy fixes N, then sequences.npy fixes S */
    z->nfiles = zoo_files(z->kind, NPY_ANY, z->file);
    size_t N = NPY_ANY;
    for (size_t i = 0; i < z->nfiles && !rc; i++) {
        char path[1024];
        zoo_path(path, sizeof path, dir, z->file[i].name);
        if (z->file[i].optional) {
            FILE *probe = fopen(path, "rb");
            if (!probe) continue;
            fclose(probe);
        }
        if ((rc = npy_open(&z->npy[i], path, err))) break;
        const NpyArray *a = &z->npy[i].array;
        if ((rc = check_file(&z->file[i], a, N, path, z->kind, err))) break;
        if (i == ZOO_PARAMETERS) {
            N = z->N = a->shape[0];
            if (N == 0) rc = rr_error(err, RR_ERR_FORMAT, "%s: no rows: the zoo holds no snapshots", path);
        } else if (i == ZOO_SEQUENCES) {
            z->S = a->shape[1];
            if (z->S == 0) rc = rr_error(err, RR_ERR_FORMAT, "%s: shape (%zu, 0, ...): no stored sequences", path, N);
            zoo_files(z->kind, z->S, z->file);
        }
    }
    if (rc) zoo_dir_close(z);
    return rc;
}

/* The whole of an open file into a (rows bounded by the file's size). */
static int read_whole(NpyFile *f, NpyArray *a, char *err)
{
    *a = f->array;
    a->data = rr_malloc(a->count * npy_dtype_size(a->dtype) + 1, "zoo file");
    int rc = npy_read_rows(f, 0, a->shape[0], a->data, err);
    if (rc) npy_free(a);
    return rc;
}

int zoo_data_load(const char *dir, ZooData *z, char *err)
{
    memset(z, 0, sizeof *z);
    ZooDir d;
    int rc = zoo_dir_open(dir, &d, err);
    if (rc) return rc;
    int formal = d.kind == ZOO_KIND_FORMAL;
    z->kind = d.kind;
    z->shape = formal ? ZOO_FORMAL : ZOO_MNIST;
    z->N = d.N;
    z->S = d.S;
    z->T = formal ? LANG_LENGTH - 1 : MNIST_STEPS;
    z->task_width = formal ? 4 : 1;
    size_t N = z->N, P = zoo_num_params(z->shape);
    NpyArray book, tasks, acc, params;
    memset(&book, 0, sizeof book);
    memset(&tasks, 0, sizeof tasks);
    memset(&acc, 0, sizeof acc);
    memset(&params, 0, sizeof params);
    rc = read_whole(&d.npy[ZOO_SEQUENCES], &z->sequences, err);
    if (!rc && formal) { /* tokens index one-hot inputs: every one must be a token */
        const int16_t *tok = z->sequences.data;
        for (size_t i = 0; i < z->sequences.count && !rc; i++)
            if (tok[i] < 0 || tok[i] >= LANG_TOKENS)
                rc = rr_error(err, RR_ERR_FORMAT, "%s/sequences.npy: row %zu holds %d, not a token (0..%d)", dir,
                              i / (z->S * LANG_LENGTH), tok[i], LANG_TOKENS - 1);
    }
    if (!rc) rc = read_whole(&d.npy[ZOO_LOGITS], &z->logits, err);
    if (!rc) rc = read_whole(&d.npy[ZOO_TASKS], &tasks, err);
    if (!rc) rc = read_whole(&d.npy[ZOO_BOOKKEEPING], &book, err);
    if (!rc && !formal) rc = read_whole(&d.npy[ZOO_LAST_FILE], &acc, err); /* accuracy_losses.npy */
    if (!rc) rc = read_whole(&d.npy[ZOO_PARAMETERS], &params, err);
    zoo_dir_close(&d);
    if (!rc) {
        z->theta = rr_malloc(N * P * sizeof(real), "zoo parameters");
        npy_to_real(NPY_F4, params.data, N * P, z->theta);
        z->tasks = rr_malloc(N * z->task_width * sizeof(double), "zoo tasks");
        z->run = rr_malloc(N * sizeof(int64_t), "zoo runs");
        z->step = rr_malloc(N * sizeof(int64_t), "zoo steps");
        z->accuracy = rr_malloc(N * sizeof(double), "zoo accuracies");
        const int64_t *bk = book.data;
        size_t bw = book.shape[1];
        for (size_t i = 0; i < N; i++) {
            z->run[i] = bk[i * bw];
            z->step[i] = bk[i * bw + 1];
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
