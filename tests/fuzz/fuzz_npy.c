/* fuzz_npy.c — the .npy reader (zoo/npy.c) on hostile input: npy_read; npy_open with
 * npy_read_rows; npy_open_append with npy_append, the path a resumed zoo takes. Whatever is
 * accepted must hold together: the count is the product of the shape, the data fit into the
 * file, npy_write writes the array back and npy_read gives the same array again, the last row
 * can be read and the one after it cannot, and after an append of one zero row the file holds
 * the old array plus that row (or, when the append is refused, still the old array). */
#define _POSIX_C_SOURCE 200809L
#include "fuzz.h"

/* Whether a and b hold the same dtype, shape and bytes. */
static int npy_same(const NpyArray *a, const NpyArray *b, size_t leading_rows)
{
    if (a->dtype != b->dtype || a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i] && !(i == 0 && leading_rows)) return 0;
    return !memcmp(a->data, b->data, a->count * npy_dtype_size(a->dtype));
}

/* Append one zero row to path, which holds a (ndim >= 1, rows of row_bytes); then the file must
 * hold a and that row, or, when the append was refused, a alone. */
static void npy_check_append(const char *path, const NpyArray *a, size_t row_bytes)
{
    NpyFile f;
    NpyArray b;
    char err[RR_ERRLEN];
    if (npy_open_append(&f, path, err)) return;
    unsigned char *zeros = rr_calloc(row_bytes + 1, 1, "zero row");
    int appended = npy_append(&f, zeros, 1, err) == RR_OK;
    FUZZ_CHECK(npy_close(&f, err) == RR_OK, "npy_close after npy_append: %s", err);
    FUZZ_CHECK(npy_read(path, &b, err) == RR_OK, "unreadable after %s append: %s",
               appended ? "an" : "a refused", err);
    if (appended) {
        FUZZ_CHECK(b.shape[0] == a->shape[0] + 1 && npy_same(a, &b, 1), "the append changed the old rows");
        FUZZ_CHECK(!memcmp((unsigned char *)b.data + a->count * npy_dtype_size(a->dtype), zeros, row_bytes),
                   "the appended row is not what was written");
    } else {
        FUZZ_CHECK(npy_same(a, &b, 0), "a refused append changed the array");
    }
    npy_free(&b);
    free(zeros);
}

int fuzz_npy(const char *dir, const uint8_t *data, size_t size, char *err)
{
    char path[FUZZ_PATH], copy[FUZZ_PATH], err2[RR_ERRLEN];
    fuzz_path(path, dir, "input.npy");
    fuzz_path(copy, dir, "copy.npy");
    if (fuzz_write(path, data, size)) return rr_error(err, RR_ERR_IO, "%s: cannot write the input", path);

    NpyArray a, b;
    int rc = npy_read(path, &a, err);
    if (rc == RR_OK) {
        size_t count = 1, bytes = a.count * npy_dtype_size(a.dtype);
        for (int i = 0; i < a.ndim; i++) {
            FUZZ_CHECK(!a.shape[i] || count <= SIZE_MAX / a.shape[i], "the shape's product overflows");
            count *= a.shape[i];
        }
        FUZZ_CHECK(a.ndim >= 0 && a.ndim <= NPY_MAXDIM && count == a.count, "count %zu for the shape's %zu", a.count, count);
        FUZZ_CHECK(bytes <= size, "%zu data bytes from a file of %zu", bytes, size);
        real *values = rr_malloc((a.count + 1) * sizeof *values, "values");
        int64_t *ints = rr_malloc((a.count + 1) * sizeof *ints, "values");
        npy_to_real(a.dtype, a.data, a.count, values);
        npy_to_i64(a.dtype, a.data, a.count, ints);
        free(values);
        free(ints);
        FUZZ_CHECK(npy_write(copy, &a, err2) == RR_OK, "npy_write of what npy_read gave: %s", err2);
        FUZZ_CHECK(npy_read(copy, &b, err2) == RR_OK, "npy_read of what npy_write wrote: %s", err2);
        FUZZ_CHECK(npy_same(&a, &b, 0), "npy_write then npy_read changed the array");
        npy_free(&b);
    }

    NpyFile f;
    int opened = npy_open(&f, path, err2) == RR_OK;
    FUZZ_CHECK(opened || rc != RR_OK, "npy_read accepts what npy_open refuses: %s", err2);
    if (opened) {
        size_t rows = f.array.ndim ? f.array.shape[0] : 1, row_bytes = f.row_bytes;
        if (row_bytes <= size) { /* a row buffer the file's size bounds */
            unsigned char *row = rr_malloc(row_bytes + 1, "row");
            if (rows) FUZZ_CHECK(npy_read_rows(&f, rows - 1, 1, row, err2) == RR_OK, "the last row: %s", err2);
            FUZZ_CHECK(npy_read_rows(&f, rows, 1, row, err2) != RR_OK, "a row after the last was read");
            free(row);
        }
        npy_close(&f, NULL);
        if (rc == RR_OK && a.ndim >= 1 && row_bytes <= size) npy_check_append(path, &a, row_bytes);
    }
    if (rc == RR_OK) npy_free(&a);
    return rc;
}

FUZZ_ENTRY(fuzz_npy)
