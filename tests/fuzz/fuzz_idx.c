/* fuzz_idx.c — the IDX reader (zoo/idx.c) and the MNIST loader (zoo/mnist.c) on hostile input.
 * The input is read whole with idx_read; then it is cut after the first file its header
 * announces (header + product of the sizes bytes, or all of it) into an images file and a
 * labels file of a digits directory, which mnist_load reads as the program does. A seed of the
 * corpus is one IDX file, or an images file followed by a labels file; the harness answers
 * with idx_read's code for the first, mnist_load's for the second. Whatever is accepted must hold
 * together: the count is the product of the shape and fits into the file; the digits are
 * (N, 28, 28) images with N labels in 0..9, split into train and evaluation indices below N. */
#define _POSIX_C_SOURCE 200809L
#include "fuzz.h"

/* Length of the IDX file at the start of data: its header and the data the header announces,
 * at most size (the whole input when the header is not one). */
static size_t idx_first_file(const uint8_t *data, size_t size)
{
    if (size < 4 || data[3] < 1 || data[3] > 4 || size < 4 + 4 * (size_t)data[3]) return size;
    size_t len = 1;
    for (int i = 0; i < data[3]; i++) {
        const uint8_t *b = data + 4 + 4 * i;
        size_t n = (size_t)b[0] << 24 | (size_t)b[1] << 16 | (size_t)b[2] << 8 | b[3];
        if (n && len > size / n) return size;
        len *= n;
    }
    len += 4 + 4 * (size_t)data[3];
    return len < size ? len : size;
}

int fuzz_idx(const char *dir, const uint8_t *data, size_t size, char *err)
{
    char images[FUZZ_PATH], labels[FUZZ_PATH], err2[RR_ERRLEN];
    fuzz_path(images, dir, "images-idx3-ubyte");
    fuzz_path(labels, dir, "labels-idx1-ubyte");
    if (fuzz_write(images, data, size)) return rr_error(err, RR_ERR_IO, "%s: cannot write the input", images);

    IdxArray a;
    int rc = idx_read(images, &a, err);
    if (rc == RR_OK) {
        size_t count = 1;
        for (int i = 0; i < a.ndim; i++) {
            FUZZ_CHECK(!a.shape[i] || count <= SIZE_MAX / a.shape[i], "the shape's product overflows");
            count *= a.shape[i];
        }
        FUZZ_CHECK(a.ndim >= 1 && a.ndim <= 4 && count == a.count, "count %zu for the shape's %zu", a.count, count);
        FUZZ_CHECK(a.count + 4 + 4 * (size_t)a.ndim == size, "%zu elements from a file of %zu bytes", a.count, size);
        idx_free(&a);
    }

    size_t cut = idx_first_file(data, size);
    if (fuzz_write(images, data, cut) || fuzz_write(labels, data + cut, size - cut))
        return rr_error(err, RR_ERR_IO, "%s: cannot write the input", labels);
    MnistData d;
    int pair = mnist_load(dir, &d, cut < size ? err : err2);
    if (cut < size) rc = pair;
    if (pair == RR_OK) {
        size_t n = d.images.shape[0];
        FUZZ_CHECK(d.images.ndim == 3 && d.images.shape[1] == MNIST_SIDE && d.images.shape[2] == MNIST_SIDE,
                   "images of the wrong shape accepted");
        FUZZ_CHECK(d.labels.ndim == 1 && d.labels.count == n, "%zu labels for %zu images", d.labels.count, n);
        for (size_t i = 0; i < n; i++) FUZZ_CHECK(d.labels.data[i] <= 9, "label %d accepted", d.labels.data[i]);
        FUZZ_CHECK(d.ntrain + d.neval == n, "the split loses images");
        for (size_t i = 0; i < d.ntrain; i++) FUZZ_CHECK(d.train[i] < n, "train index out of range");
        for (size_t i = 0; i < d.neval; i++) FUZZ_CHECK(d.eval[i] < n, "eval index out of range");
        mnist_data_free(&d);
    }
    return rc;
}

FUZZ_ENTRY(fuzz_idx)
