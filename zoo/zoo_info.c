/*
 * zoo_info.c — what a zoo holds, ours or an official release: kind, runs, snapshot steps,
 * tasks and the accuracy distribution per snapshot step.
 */
#include <stdlib.h>
#include <string.h>

#include "zoo/zoo_internal.h"

/* Opens dir/name, checks its dtype, rank and (when n != NULL and *n set) its first dim. */
static int open_checked(const char *dir, const char *name, NpyDtype dtype, int ndim, size_t *n, NpyFile *f, char *err)
{
    char path[1024];
    zoo_path(path, sizeof path, dir, name);
    int rc = npy_open(f, path, err);
    if (rc) return rc;
    size_t shape[NPY_MAXDIM];
    for (int i = 0; i < NPY_MAXDIM; i++) shape[i] = NPY_ANY;
    if (*n != SIZE_MAX) shape[0] = *n;
    if ((rc = npy_expect(&f->array, path, dtype, ndim, shape, err))) {
        npy_close(f, NULL);
        return rc;
    }
    *n = f->array.shape[0];
    return RR_OK;
}

int zoo_info(const char *dir, FILE *out, char *err)
{
    ZooKind kind = ZOO_KIND_FORMAL;
    int rc = zoo_detect_kind(dir, &kind, err);
    if (rc) return rc;
    int formal = kind == ZOO_KIND_FORMAL;
    size_t N = SIZE_MAX;
    NpyFile book, params, seqs, logits, tasks, acc;
    /* the bookkeeping file first: it fixes N, which every other file must match */
    if ((rc = open_checked(dir, formal ? "num_step_correct.npy" : "num_step.npy", NPY_I8, 2, &N, &book, err))) return rc;
    if ((rc = open_checked(dir, "parameters.npy", NPY_F4, 2, &N, &params, err))) goto close_book;
    if ((rc = open_checked(dir, "sequences.npy", formal ? NPY_I2 : NPY_F2, formal ? 3 : 4, &N, &seqs, err))) goto close_params;
    if ((rc = open_checked(dir, "logits.npy", NPY_F2, 4, &N, &logits, err))) goto close_seqs;
    if ((rc = open_checked(dir, "tasks.npy", formal ? NPY_I8 : NPY_F8, 2, &N, &tasks, err))) goto close_logits;
    if (!formal && (rc = open_checked(dir, "accuracy_losses.npy", NPY_F8, 2, &N, &acc, err))) goto close_tasks;

    size_t P = params.array.shape[1], want_P = zoo_num_params(formal ? ZOO_FORMAL : ZOO_MNIST);
    if (P != want_P) {
        rc = rr_error(err, RR_ERR_FORMAT, "%s/parameters.npy: %zu parameters per row, a %s zoo RNN has %zu", dir, P,
                      formal ? "formal-language" : "MNIST", want_P);
        goto close_all;
    }
    size_t bw = book.array.shape[1], tw = tasks.array.shape[1];
    int64_t *bk = rr_malloc(N * bw * sizeof(int64_t), "bookkeeping");
    unsigned char *raw = rr_malloc(N * (book.row_bytes > tasks.row_bytes ? book.row_bytes : tasks.row_bytes) + 1, "rows");
    double *task = rr_malloc(N * tw * sizeof(double), "tasks"), *accuracy = rr_malloc(N * sizeof(double), "accuracy");
    if ((rc = npy_read_rows(&book, 0, N, raw, err))) goto free_all;
    npy_to_i64(NPY_I8, raw, N * bw, bk);
    if ((rc = npy_read_rows(&tasks, 0, N, raw, err))) goto free_all;
    if (formal) {
        int64_t *ti = rr_malloc(N * tw * sizeof(int64_t) + 1, "tasks");
        npy_to_i64(NPY_I8, raw, N * tw, ti);
        for (size_t i = 0; i < N * tw; i++) task[i] = (double)ti[i];
        free(ti);
    } else {
        memcpy(task, raw, N * tw * sizeof(double));
    }
    if (formal) {
        size_t samples = 1000; /* the released zoos count correct sequences out of 1000 */
        for (size_t i = 0; i < N; i++) accuracy[i] = (double)bk[i * bw + 2] / (double)samples;
    } else {
        double *al = rr_malloc(N * 4 * sizeof(double) + 1, "accuracy_losses");
        if ((rc = npy_read_rows(&acc, 0, N, al, err))) {
            free(al);
            goto free_all;
        }
        for (size_t i = 0; i < N; i++) accuracy[i] = al[i * 4];
        free(al);
    }
    /* runs, distinct steps, distinct tasks */
    size_t runs = 0, nsteps = 0, ntasks = 0;
    int64_t steps[64];
    for (size_t i = 0; i < N; i++) {
        if (i == 0 || bk[i * bw] != bk[(i - 1) * bw]) runs++;
        size_t k = 0;
        while (k < nsteps && steps[k] != bk[i * bw + 1]) k++;
        if (k == nsteps && nsteps < 64) steps[nsteps++] = bk[i * bw + 1];
        size_t j = 0;
        while (j < i && memcmp(task + j * tw, task + i * tw, tw * sizeof(double))) j++;
        ntasks += j == i;
    }
    fprintf(out, "zoo        %s\n", dir);
    fprintf(out, "kind       %s\n", formal ? "formal languages" : "tiled sequential MNIST");
    fprintf(out, "snapshots  %zu (%zu runs, %zu snapshot steps)\n", N, runs, nsteps);
    fprintf(out, "tasks      %zu distinct%s\n", ntasks, formal ? " (of 216 languages)" : " (rotation angles)");
    fprintf(out, "files      parameters (%zu, %zu) <f4, sequences %s, logits <f2\n", N, P, formal ? "<i2" : "<f2");
    fprintf(out, "\n%s per snapshot step:\n", formal ? "official accuracy (correct of 1000 samples)" : "eval accuracy");
    fprintf(out, "%8s %6s %8s %8s %8s %8s %8s %8s\n", "step", "n", "min", "q25", "median", "q75", "max", "mean");
    double *v = rr_malloc(N * sizeof(double) + 1, "accuracies");
    for (size_t k = 0; k < nsteps; k++) {
        size_t m = 0;
        double mean = 0;
        for (size_t i = 0; i < N; i++)
            if (bk[i * bw + 1] == steps[k]) {
                v[m++] = accuracy[i];
                mean += accuracy[i];
            }
        static const double levels[5] = {0, 0.25, 0.5, 0.75, 1};
        double q[5]; /* min, quartiles, max, interpolated as torch.quantile */
        quantiles_of(v, m, levels, 5, q);
        fprintf(out, "%8lld %6zu %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f\n", (long long)steps[k], m, q[0], q[1], q[2], q[3], q[4],
                mean / (double)m);
    }
    free(v);
free_all:
    free(bk);
    free(raw);
    free(task);
    free(accuracy);
close_all:
    if (!formal) npy_close(&acc, NULL);
close_tasks:
    npy_close(&tasks, NULL);
close_logits:
    npy_close(&logits, NULL);
close_seqs:
    npy_close(&seqs, NULL);
close_params:
    npy_close(&params, NULL);
close_book:
    npy_close(&book, NULL);
    return rc;
}
