/*
 * zoo_info.c — what a zoo holds, ours or an official release: kind, runs, snapshot steps,
 * tasks and the accuracy distribution per snapshot step.
 */
#include <stdlib.h>
#include <string.h>

#include "zoo/zoo_internal.h"

int zoo_info(const char *dir, FILE *out, char *err)
{
    ZooDir d;
    int rc = zoo_dir_open(dir, &d, err);
    if (rc) return rc;
    int formal = d.kind == ZOO_KIND_FORMAL;
    size_t N = d.N, P = d.file[ZOO_PARAMETERS].shape[0];
    size_t bw = d.file[ZOO_BOOKKEEPING].shape[0], tw = d.file[ZOO_TASKS].shape[0]; /* (run, step[, correct]); 4 or 1 */
    NpyFile *book = &d.npy[ZOO_BOOKKEEPING], *tasks = &d.npy[ZOO_TASKS];
    int64_t *bk = rr_malloc(N * bw * sizeof(int64_t), "bookkeeping");
    unsigned char *raw = rr_malloc(N * (book->row_bytes > tasks->row_bytes ? book->row_bytes : tasks->row_bytes), "rows");
    double *task = rr_malloc(N * tw * sizeof(double), "tasks"), *accuracy = rr_malloc(N * sizeof(double), "accuracy");
    if ((rc = npy_read_rows(book, 0, N, raw, err))) goto free_all;
    npy_to_i64(NPY_I8, raw, N * bw, bk);
    if ((rc = npy_read_rows(tasks, 0, N, raw, err))) goto free_all;
    if (formal) {
        int64_t *ti = rr_malloc(N * tw * sizeof(int64_t), "tasks");
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
        double *al = rr_malloc(N * 4 * sizeof(double), "accuracy_losses"); /* (eval accuracy, losses, weight decay) */
        if ((rc = npy_read_rows(&d.npy[ZOO_LAST_FILE], 0, N, al, err))) {
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
    zoo_dir_close(&d);
    return rc;
}
