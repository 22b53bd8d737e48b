/*
 * zoo_merge.c — joining slices of one zoo (made with --slice A:B, in run order) into one
 * directory, byte-identical to the zoo generated in one piece.
 *
 * Nothing is written before every slice has been checked whole (zoo_dir_open, the run numbers,
 * the sizes of the result). The zoo is then written into OUT.merging-PID beside OUT, checked
 * again, and renamed into place. OUT may be absent, an empty directory (replaced), or a
 * directory that holds other things but no zoo file (the --jobs parent's DIR holds DIR/.slices):
 * then the files are renamed into it one by one, args.json last. A failure removes what the
 * merge wrote, so it never leaves anything that looks like a zoo. POSIX: getpid, rmdir.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zoo/zoo_internal.h"

/* The names of the files in a zoo of either kind, and args.json; returns how many. */
static size_t zoo_names(const char **names)
{
    ZooFile f[2 * ZOO_MAX_FILES];
    size_t n = zoo_files(ZOO_KIND_FORMAL, 1, f);
    n += zoo_files(ZOO_KIND_MNIST, 1, f + n);
    for (size_t i = 0; i < n; i++) names[i] = f[i].name;
    names[n++] = "args.json";
    return n;
}

/* Whether dir holds one of those files; its path into found. */
static int holds_zoo(const char *dir, char *found, size_t len)
{
    const char *names[2 * ZOO_MAX_FILES + 1];
    size_t n = zoo_names(names);
    for (size_t i = 0; i < n; i++) {
        zoo_path(found, len, dir, names[i]);
        FILE *probe = fopen(found, "rb");
        if (probe) {
            fclose(probe);
            return 1;
        }
    }
    return 0;
}

/* Removes the files a merge writes into tmp, then tmp itself. */
static void remove_merge(const char *tmp)
{
    const char *names[2 * ZOO_MAX_FILES + 1];
    size_t n = zoo_names(names);
    char path[1024];
    for (size_t i = 0; i < n; i++) {
        zoo_path(path, sizeof path, tmp, names[i]);
        remove(path);
    }
    rmdir(tmp);
}

/* Whether rows of b can follow rows of a in one file. */
static int same_rows(const NpyFile *a, const NpyFile *b)
{
    return a->array.dtype == b->array.dtype && a->array.ndim == b->array.ndim &&
           !memcmp(a->array.shape + 1, b->array.shape + 1, (size_t)(a->array.ndim - 1) * sizeof(size_t));
}

/* Checks the slice d in part against the first slice (NULL: d is the first): its kind, which
 * optional files it has and its row shapes; then its run numbers: blocks of 9 rows share a run
 * number 0 .. INT64_MAX - 1 (so that the next one exists), and each block's is one more than
 * the last, across slices. *rows counts the rows so far, *prev_run holds the last run number. */
static int check_slice(const char *part, ZooDir *d, const ZooDir *first, int64_t *prev_run, size_t *rows, char *err)
{
    char path[1024];
    if (first && d->kind != first->kind) return rr_error(err, RR_ERR_FORMAT, "%s: a zoo of another kind than the first slice's", part);
    for (size_t i = 0; first && i < d->nfiles; i++) {
        zoo_path(path, sizeof path, part, d->file[i].name);
        if (!d->npy[i].fp != !first->npy[i].fp)
            return rr_error(err, RR_ERR_FORMAT, "%s: %s, but the first slice's is %s", path, d->npy[i].fp ? "present" : "missing",
                            first->npy[i].fp ? "present" : "missing");
        if (d->npy[i].fp && !same_rows(&d->npy[i], &first->npy[i]))
            return rr_error(err, RR_ERR_FORMAT, "%s: rows of another shape than the first slice's", path);
    }
    zoo_path(path, sizeof path, part, d->file[ZOO_BOOKKEEPING].name);
    if (d->N % ZOO_SNAPSHOTS)
        return rr_error(err, RR_ERR_FORMAT, "%s: %zu rows, not whole runs of %d snapshots", path, d->N, ZOO_SNAPSHOTS);
    if (d->N > SIZE_MAX - *rows) return rr_error(err, RR_ERR_FORMAT, "%s: %zu rows in all are too many", path, *rows);
    size_t width = d->file[ZOO_BOOKKEEPING].shape[0]; /* (run, step[, correct]) */
    int64_t *book = rr_malloc(d->N * width * sizeof(int64_t), "bookkeeping");
    int rc = npy_read_rows(&d->npy[ZOO_BOOKKEEPING], 0, d->N, book, err);
    for (size_t r = 0; r < d->N && !rc; r++, ++*rows) {
        int64_t run = book[r * width];
        if (run < 0 || run == INT64_MAX)
            rc = rr_error(err, RR_ERR_FORMAT, "%s: row %zu: run %lld is not a run number (0 to 2^63 - 2)", path, r, (long long)run);
        else if (*rows > 0) {
            int64_t want = *rows % ZOO_SNAPSHOTS ? *prev_run : *prev_run + 1;
            if (run != want)
                rc = rr_error(err, RR_ERR_FORMAT, "%s: run %lld where run %lld was due: slices out of order, overlapping or incomplete",
                              path, (long long)run, (long long)want);
        }
        *prev_run = run;
    }
    free(book);
    return rc;
}

/* Appends every row of d's files to the open dst files (of the first slice's row shapes). */
static int copy_rows(const char *part, ZooDir *d, NpyFile *dst, char *err)
{
    int rc = RR_OK;
    for (size_t i = 0; i < d->nfiles && !rc; i++) {
        NpyFile *src = &d->npy[i];
        if (!src->fp && !dst[i].fp) continue;
        if (!src->fp || !dst[i].fp || !same_rows(src, &dst[i])) /* changed since it was checked */
            return rr_error(err, RR_ERR_FORMAT, "%s/%s: changed during the merge", part, d->file[i].name);
        size_t chunk = (1u << 22) / src->row_bytes + 1; /* about 4 MB at a time */
        if (chunk > d->N) chunk = d->N;
        unsigned char *buf = rr_malloc(chunk * src->row_bytes, "merge buffer");
        for (size_t r = 0; r < d->N && !rc; r += chunk) {
            size_t m = d->N - r < chunk ? d->N - r : chunk;
            rc = npy_read_rows(src, r, m, buf, err);
            if (!rc) rc = npy_append(&dst[i], buf, m, err);
        }
        free(buf);
    }
    return rc;
}

/* The zoo into tmp: every slice's rows, then args.json, then tmp checked whole. */
static int write_merge(const char *tmp, const char *const *parts, size_t n, const ZooDir *first, size_t total, char *err)
{
    NpyFile dst[ZOO_MAX_FILES];
    memset(dst, 0, sizeof dst);
    int rc = rr_make_dir(tmp, err);
    for (size_t i = 0; i < first->nfiles && !rc; i++) {
        if (!first->npy[i].fp) continue;
        char path[1024];
        zoo_path(path, sizeof path, tmp, first->file[i].name);
        rc = npy_create(&dst[i], path, first->npy[i].array.dtype, first->npy[i].array.ndim, first->npy[i].array.shape, err);
    }
    for (size_t p = 0; p < n && !rc; p++) {
        ZooDir d;
        if ((rc = zoo_dir_open(parts[p], &d, err))) break;
        rc = copy_rows(parts[p], &d, dst, err);
        zoo_dir_close(&d);
    }
    for (size_t i = 0; i < first->nfiles; i++) {
        char cerr[RR_ERRLEN];
        if (dst[i].fp && npy_close(&dst[i], cerr) && !rc) rc = rr_error(err, RR_ERR_IO, "%s", cerr);
    }
    char path[1024], copy[1024];
    zoo_path(path, sizeof path, parts[0], "args.json");
    zoo_path(copy, sizeof copy, tmp, "args.json");
    size_t len;
    char *text = rc ? NULL : zoo_slurp(path, &len);
    if (!rc && !text) rc = rr_error(err, RR_ERR_OPEN, "%s: cannot read", path);
    if (!rc) {
        FILE *o = fopen(copy, "wb");
        if (!o || fwrite(text, 1, len, o) != len || fclose(o)) rc = rr_error(err, RR_ERR_IO, "%s: cannot write", copy);
    }
    free(text);
    ZooDir merged;
    if (!rc && !(rc = zoo_dir_open(tmp, &merged, err))) {
        if (merged.N != total || merged.S != first->S || merged.kind != first->kind)
            rc = rr_error(err, RR_ERR_IO, "%s: the merged zoo holds %zu rows of %zu sequences, %zu of %zu were written", tmp,
                          merged.N, merged.S, total, first->S);
        zoo_dir_close(&merged);
    }
    return rc;
}

/* tmp renamed to out (absent or an empty directory), or else (a directory that holds other
 * things, or a link to one) its files renamed into out, args.json last, while out holds no zoo. */
static int install(const char *tmp, const char *out, const ZooDir *first, char *err)
{
    if (rename(tmp, out) == 0) return RR_OK;
    if (errno != ENOTEMPTY && errno != EEXIST && errno != ENOTDIR)
        return rr_error(err, RR_ERR_IO, "%s: cannot rename to %s: %s", tmp, out, strerror(errno));
    const char *names[ZOO_MAX_FILES + 1];
    size_t n = 0;
    for (size_t i = 0; i < first->nfiles; i++)
        if (first->npy[i].fp) names[n++] = first->file[i].name;
    names[n++] = "args.json";
    char from[1024], to[1024];
    if (holds_zoo(out, to, sizeof to)) return rr_error(err, RR_ERR_FORMAT, "%s appeared during the merge", to);
    for (size_t i = 0; i < n; i++) {
        zoo_path(from, sizeof from, tmp, names[i]);
        zoo_path(to, sizeof to, out, names[i]);
        if (rename(from, to) == 0) continue;
        int rc = rr_error(err, RR_ERR_IO, "%s: cannot rename to %s: %s", from, to, strerror(errno));
        while (i-- > 0) { /* take back what reached out: without args.json it is no zoo, but looks like one */
            zoo_path(to, sizeof to, out, names[i]);
            remove(to);
        }
        return rc;
    }
    rmdir(tmp);
    return RR_OK;
}

int zoo_merge(const char *out, const char *const *parts, size_t n, char *err)
{
    if (n == 0) return rr_error(err, RR_ERR_FORMAT, "zoo merge: no input directories");
    char path[1024], other[1024];
    zoo_path(path, sizeof path, parts[0], "args.json");
    for (size_t p = 1; p < n; p++) {
        zoo_path(other, sizeof other, parts[p], "args.json");
        if (!zoo_same_file(path, other))
            return rr_error(err, RR_ERR_FORMAT, "%s and %s differ: slices of one zoo share their settings", path, other);
    }
    if (holds_zoo(out, other, sizeof other))
        return rr_error(err, RR_ERR_FORMAT, "%s already exists: merge into a new directory", other);

    /* every slice whole, before anything is written */
    ZooDir first, d;
    int rc = zoo_dir_open(parts[0], &first, err);
    if (rc) return rc;
    int64_t prev_run = -1;
    size_t total = 0;
    for (size_t p = 0; p < n && !rc; p++) {
        if (p > 0 && (rc = zoo_dir_open(parts[p], &d, err))) break;
        ZooDir *slice = p ? &d : &first;
        rc = check_slice(parts[p], slice, p ? &first : NULL, &prev_run, &total, err);
        for (size_t i = 0; i < slice->nfiles && !rc; i++) /* the merged rows' bytes, so that npy_append cannot overflow */
            if (slice->npy[i].fp && total > SIZE_MAX / slice->npy[i].row_bytes)
                rc = rr_error(err, RR_ERR_FORMAT, "%s/%s: %zu rows in all are too many", parts[p], slice->file[i].name, total);
        if (p > 0) zoo_dir_close(&d);
    }
    if (rc) {
        zoo_dir_close(&first);
        return rc;
    }

    /* OUT.merging-PID beside OUT (a trailing '/' of OUT dropped), then into place */
    size_t len = strlen(out);
    while (len > 1 && out[len - 1] == '/') len--;
    char tmp[1024];
    if (len > 900) rc = rr_error(err, RR_ERR_OPEN, "%s: the path is too long", out);
    else {
        snprintf(tmp, sizeof tmp, "%.*s.merging-%ld", (int)len, out, (long)getpid());
        rc = write_merge(tmp, parts, n, &first, total, err);
        if (!rc) rc = install(tmp, out, &first, err);
        if (rc) remove_merge(tmp);
    }
    zoo_dir_close(&first);
    return rc;
}
