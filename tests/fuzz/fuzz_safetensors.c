/* fuzz_safetensors.c — the safetensors reader (zoo/safetensors.c) on hostile input:
 * safetensors_read, every tensor through safetensors_find and safetensors_load_real, every
 * metadata key through safetensors_metadata, and checkpoint_settings (the settings a
 * checkpoint was trained with). Whatever is accepted must hold together: each tensor's count
 * is the product of its shape and its data lie inside the data section; names and keys find
 * themselves; and safetensors_write writes the tensors and metadata back into a file that
 * safetensors_read reads as the same tensors and metadata. */
#define _POSIX_C_SOURCE 200809L
#include "fuzz.h"
#include "zoo/zoo_internal.h"

/* Whether b holds a's tensors (by name: dtype, shape, bytes) and a's metadata. */
static int safetensors_same(const Safetensors *a, const Safetensors *b)
{
    if (a->count != b->count || a->metadata_count != b->metadata_count) return 0;
    for (size_t i = 0; i < a->count; i++) {
        const SafetensorsTensor *x = &a->tensors[i], *y = safetensors_find(b, x->name);
        if (!y || x->dtype != y->dtype || x->ndim != y->ndim || x->count != y->count ||
            memcmp(x->shape, y->shape, (size_t)x->ndim * sizeof *x->shape) ||
            memcmp(x->data, y->data, x->count * npy_dtype_size(x->dtype)))
            return 0;
    }
    for (size_t i = 0; i < a->metadata_count; i++) {
        const char *v = safetensors_metadata(b, a->metadata[i].key);
        if (!v || strcmp(v, a->metadata[i].value)) return 0;
    }
    return 1;
}

int fuzz_safetensors(const char *dir, const uint8_t *data, size_t size, char *err)
{
    char path[FUZZ_PATH], copy[FUZZ_PATH], err2[RR_ERRLEN];
    fuzz_path(path, dir, "input.safetensors");
    fuzz_path(copy, dir, "copy.safetensors");
    if (fuzz_write(path, data, size)) return rr_error(err, RR_ERR_IO, "%s: cannot write the input", path);

    Safetensors st, back;
    int rc = safetensors_read(path, &st, err);
    if (rc == RR_OK) {
        size_t data_bytes = 0;
        for (size_t i = 0; i < st.count; i++) {
            const SafetensorsTensor *t = &st.tensors[i];
            size_t count = 1, bytes;
            for (int d = 0; d < t->ndim; d++) {
                FUZZ_CHECK(!t->shape[d] || count <= SIZE_MAX / t->shape[d], "tensor '%s': the shape's product overflows",
                           t->name);
                count *= t->shape[d];
            }
            bytes = t->count * npy_dtype_size(t->dtype);
            FUZZ_CHECK(t->ndim >= 0 && t->ndim <= NPY_MAXDIM && count == t->count, "tensor '%s': count", t->name);
            FUZZ_CHECK(bytes <= size && (const unsigned char *)t->data >= st.bytes &&
                       (size_t)((const unsigned char *)t->data - st.bytes) <= size - bytes,
                       "tensor '%s': data outside the file", t->name);
            FUZZ_CHECK(safetensors_find(&st, t->name) == t, "tensor '%s' is not found by its name", t->name);
            real *values = rr_malloc((t->count + 1) * sizeof *values, "values");
            FUZZ_CHECK(safetensors_load_real(&st, t->name, t->ndim, t->shape, values, err2) == RR_OK, "%s", err2);
            free(values);
            data_bytes += bytes;
        }
        FUZZ_CHECK(data_bytes <= size, "%zu data bytes from a file of %zu", data_bytes, size);
        for (size_t i = 0; i < st.metadata_count; i++)
            FUZZ_CHECK(safetensors_metadata(&st, st.metadata[i].key) == st.metadata[i].value,
                       "metadata '%s' is not found by its key", st.metadata[i].key);
        FUZZ_CHECK(safetensors_write(copy, st.tensors, st.count, st.metadata, st.metadata_count, err2) == RR_OK,
                   "safetensors_write of what safetensors_read gave: %s", err2);
        FUZZ_CHECK(safetensors_read(copy, &back, err2) == RR_OK, "safetensors_read of what it wrote: %s", err2);
        FUZZ_CHECK(safetensors_same(&st, &back), "write then read changed the tensors or the metadata");
        safetensors_free(&back);
        safetensors_free(&st);
    }
    TrainSettings s;
    checkpoint_settings(path, &s, err2);
    return rc;
}

FUZZ_ENTRY(fuzz_safetensors)
