/*
 * zoo_generate.c — a zoo directory (SPEC.md §2.3): created with its args.json, grown one run
 * at a time, resumed after an interruption.
 *
 * A run's 9 rows are appended to each file only when the run is complete, and each file's
 * header is rewritten after its rows, so a reader (or --resume) never sees part of a run.
 * One process at a time writes a zoo directory: it holds the directory's lock (rr_lock_dir)
 * from its first look into the directory until its files are closed. Cutting files back
 * needs POSIX ftruncate.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* ftruncate */

#include "zoo/zoo_internal.h"

/* Opens (or creates) every file of the zoo for appending; returns the number of complete
 * runs all files hold, cutting files that hold more back to that number. */
static int open_zoo_files(const ZooSettings *s, const char *dir, int resume, NpyFile *files, size_t *runs_held, char *err)
{
    ZooFile f[ZOO_MAX_FILES];
    size_t n = zoo_files(s->kind, s->stored, f), held = SIZE_MAX;
    char path[1024];
    for (size_t i = 0; i < n; i++) {
        zoo_path(path, sizeof path, dir, f[i].name);
        FILE *probe = fopen(path, "rb");
        int rc;
        size_t shape[4] = {0, f[i].shape[0], f[i].shape[1], f[i].shape[2]};
        if (probe) {
            fclose(probe);
            if (!resume) {
                for (size_t j = 0; j < i; j++) npy_close(&files[j], NULL);
                return rr_error(err, RR_ERR_FORMAT, "%s already exists: use --resume to continue that zoo, or another --out", path);
            }
            rc = npy_open_append(&files[i], path, err);
            if (!rc) {
                shape[0] = NPY_ANY;
                rc = npy_expect(&files[i].array, path, f[i].dtype, f[i].ndim + 1, shape, err);
                if (rc) npy_close(&files[i], NULL);
            }
        } else {
            rc = npy_create(&files[i], path, f[i].dtype, f[i].ndim + 1, shape, err);
        }
        if (rc) {
            for (size_t j = 0; j < i; j++) npy_close(&files[j], NULL);
            return rc;
        }
        size_t runs = files[i].array.shape[0] / ZOO_SNAPSHOTS;
        held = runs < held ? runs : held;
    }
    for (size_t i = 0; i < n; i++) { /* an interrupted append may have completed some files only */
        if (files[i].array.shape[0] != held * ZOO_SNAPSHOTS) {
            char dummy = 0;
            files[i].array.shape[0] = held * ZOO_SNAPSHOTS;
            int rc = npy_append(&files[i], &dummy, 0, err);
            if (rc) return rc;
        }
        /* and may have left bytes of a run behind the last complete one */
        long end = (long)(files[i].header_bytes + held * ZOO_SNAPSHOTS * files[i].row_bytes);
        if (fflush(files[i].fp) || ftruncate(fileno(files[i].fp), end))
            return rr_error(err, RR_ERR_IO, "%s: cannot cut back to %zu complete runs: %s", files[i].path, held, strerror(errno));
    }
    *runs_held = held;
    return RR_OK;
}

/* Writes dir's args.json, or (resume) checks that the args.json there matches. */
static int prepare_dir(const ZooSettings *s, const char *dir, int resume, char *err)
{
    int rc;
    char args[1024], fresh[1024];
    zoo_path(args, sizeof args, dir, "args.json");
    zoo_path(fresh, sizeof fresh, dir, "args.json.new");
    FILE *probe = fopen(args, "rb");
    if (probe) {
        fclose(probe);
        if (!resume) return rr_error(err, RR_ERR_FORMAT, "%s already exists: use --resume to continue that zoo, or another --out", args);
        if ((rc = zoo_write_args(s, fresh, err))) return rc;
        int same = zoo_same_file(args, fresh);
        remove(fresh);
        if (!same) return rr_error(err, RR_ERR_FORMAT, "%s: the zoo there was made with other settings; resume with the same ones", args);
    } else if ((rc = zoo_write_args(s, args, err))) {
        return rc;
    }
    return RR_OK;
}

/* The digits of an MNIST zoo, enough of them on both sides of the split for its settings. */
static int load_digits(const ZooSettings *s, MnistData *d, char *err)
{
    int rc = mnist_load(s->mnist_dir, d, err);
    if (rc) return rc;
    if (d->ntrain < s->batch || d->neval == 0) {
        rc = rr_error(err, RR_ERR_FORMAT, "%s: %zu training and %zu evaluation digits; a zoo needs a batch of %zu and at least one",
                      s->mnist_dir[0] ? s->mnist_dir : "the vendored MNIST", d->ntrain, d->neval, s->batch);
        mnist_data_free(d);
    }
    return rc;
}

int zoo_generate(const ZooSettings *s, const char *dir, size_t first, size_t last, int resume,
                 ZooProgress progress, void *progress_ctx, char *err)
{
    int rc = zoo_settings_check(s, err);
    if (rc) return rc;
    if (first >= last || last > s->runs)
        return rr_error(err, RR_ERR_FORMAT, "slice %zu:%zu is empty or outside the %zu runs", first, last, s->runs);
    MnistData data; /* first: a zoo that cannot start leaves no directory behind */
    memset(&data, 0, sizeof data);
    if (s->kind == ZOO_KIND_MNIST && (rc = load_digits(s, &data, err))) return rc;
    int lock = -1; /* held from before the first look at dir until the files are closed */
    rc = rr_make_dir(dir, err);
    if (!rc) rc = rr_lock_dir(dir, &lock, err);
    if (!rc) rc = prepare_dir(s, dir, resume, err);
    NpyFile files[ZOO_MAX_FILES];
    size_t held = 0;
    if (!rc) rc = open_zoo_files(s, dir, resume, files, &held, err);
    if (rc) {
        if (s->kind == ZOO_KIND_MNIST) mnist_data_free(&data);
        rr_unlock_dir(lock);
        return rc;
    }
    if (held > last - first) {
        rc = rr_error(err, RR_ERR_FORMAT, "%s holds %zu runs, more than the %zu of slice %zu:%zu", dir, held, last - first, first, last);
        held = last - first;
    }
    RunRows rows;
    run_rows_init(&rows, s);
    for (size_t run = first + held; run < last && !rc; run++) {
        zoo_run(s, &data, run, &rows, progress, progress_ctx, run - first, last - first);
        for (size_t i = 0; i < rows.nfiles && !rc; i++) rc = npy_append(&files[i], rows.rows[i], ZOO_SNAPSHOTS, err);
        if (progress) progress(progress_ctx, run + 1 - first, last - first, 0, 0);
    }
    run_rows_free(&rows);
    for (size_t i = 0; i < rows.nfiles; i++) {
        char cerr[RR_ERRLEN];
        int crc = npy_close(&files[i], cerr);
        if (crc && !rc) rc = rr_error(err, crc, "%s", cerr);
    }
    if (s->kind == ZOO_KIND_MNIST) mnist_data_free(&data);
    rr_unlock_dir(lock);
    return rc;
}

