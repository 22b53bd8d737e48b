/*
 * zoo_merge.c — joining slices of one zoo (made with --slice A:B, in run order) into one
 * directory, byte-identical to the zoo generated in one piece.
 */
#include <stdlib.h>
#include <string.h>

#include "zoo/zoo_internal.h"

int zoo_merge(const char *out, const char *const *parts, size_t n, char *err)
{
    if (n == 0) return rr_error(err, RR_ERR_FORMAT, "zoo merge: no input directories");
    ZooKind kind = ZOO_KIND_FORMAL;
    int rc = zoo_detect_kind(parts[0], &kind, err);
    if (rc) return rc;
    char path[1024], other[1024];
    zoo_path(path, sizeof path, parts[0], "args.json");
    for (size_t p = 1; p < n; p++) {
        zoo_path(other, sizeof other, parts[p], "args.json");
        if (!zoo_same_file(path, other))
            return rr_error(err, RR_ERR_FORMAT, "%s and %s differ: slices of one zoo share their settings", path, other);
    }
    if ((rc = rr_make_dir(out, err))) return rc;
    zoo_path(other, sizeof other, out, "args.json");
    FILE *probe = fopen(other, "rb");
    if (probe) {
        fclose(probe);
        return rr_error(err, RR_ERR_FORMAT, "%s already exists: merge into a new directory", other);
    }
    /* The kind decides the files' names; their row shapes come from parts[0]. */
    ZooFile f[ZOO_MAX_FILES];
    size_t nf = zoo_files(kind, 1, f);
    int64_t prev_run = -1;
    size_t merged_rows = 0;
    for (size_t i = 0; i < nf && !rc; i++) {
        NpyFile dst;
        char dpath[1024];
        zoo_path(dpath, sizeof dpath, out, f[i].name);
        for (size_t p = 0; p < n && !rc; p++) {
            NpyFile src;
            zoo_path(path, sizeof path, parts[p], f[i].name);
            if ((rc = npy_open(&src, path, err))) break;
            if (p == 0) rc = npy_create(&dst, dpath, src.array.dtype, src.array.ndim, src.array.shape, err);
            else if (src.array.dtype != dst.array.dtype || src.array.ndim != dst.array.ndim ||
                     memcmp(src.array.shape + 1, dst.array.shape + 1, (size_t)(src.array.ndim - 1) * sizeof(size_t)))
                rc = rr_error(err, RR_ERR_FORMAT, "%s: row shape or dtype differs from %s", path, parts[0]);
            size_t rows = src.array.shape[0], chunk = 64;
            unsigned char *buf = rr_malloc(chunk * (src.row_bytes ? src.row_bytes : 1), "merge buffer");
            for (size_t r = 0; r < rows && !rc; r += chunk) {
                size_t m = rows - r < chunk ? rows - r : chunk;
                rc = npy_read_rows(&src, r, m, buf, err);
                /* Blocks of 9 rows share a run number, and each block's is one more than the
                 * last: slices must come in order and must not overlap. */
                if (!rc && (!strcmp(f[i].name, "num_step_correct.npy") || !strcmp(f[i].name, "num_step.npy")))
                    for (size_t j = 0; j < m && !rc; j++, merged_rows++) {
                        int64_t run;
                        npy_to_i64(NPY_I8, buf + j * src.row_bytes, 1, &run);
                        int64_t want = merged_rows % ZOO_SNAPSHOTS ? prev_run : prev_run + 1;
                        if (merged_rows > 0 && run != want)
                            rc = rr_error(err, RR_ERR_FORMAT, "%s: run %lld where run %lld was due: slices out of order, overlapping or incomplete",
                                          path, (long long)run, (long long)want);
                        prev_run = run;
                    }
                if (!rc) rc = npy_append(&dst, buf, m, err);
            }
            free(buf);
            npy_close(&src, NULL);
        }
        char cerr[RR_ERRLEN];
        if (npy_close(&dst, cerr) && !rc) rc = rr_error(err, RR_ERR_IO, "%s", cerr);
    }
    if (rc) return rc;
    zoo_path(path, sizeof path, parts[0], "args.json");
    size_t len;
    char *text = zoo_slurp(path, &len);
    if (!text) return rr_error(err, RR_ERR_OPEN, "%s: cannot read", path);
    FILE *o = fopen(other, "wb");
    if (!o || fwrite(text, 1, len, o) != len || fclose(o)) {
        free(text);
        return rr_error(err, RR_ERR_IO, "%s: cannot write", other);
    }
    free(text);
    return RR_OK;
}

