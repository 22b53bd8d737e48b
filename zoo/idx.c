/*
 * idx.c — IDX files (the MNIST format, yann.lecun.com/exdb/mnist): two zero bytes, a type
 * byte (0x08 = unsigned byte), the number of dimensions, one big-endian uint32 per dimension,
 * then the data in C order. Images: 0x00000803 (N, 28, 28); labels: 0x00000801 (N).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rnnrep.h"

int idx_read(const char *path, IdxArray *a, char *err)
{
    unsigned char head[4 + 4 * 4];
    memset(a, 0, sizeof *a);
    FILE *fp = fopen(path, "rb");
    if (!fp) return rr_error(err, RR_ERR_OPEN, "%s: cannot open: %s", path, strerror(errno));
    int rc = RR_OK;
    size_t got = fread(head, 1, 4, fp);
    if (got < 4 || head[0] || head[1] || head[3] < 1 || head[3] > 4)
        rc = rr_error(err, RR_ERR_FORMAT, "%s: not an IDX file (bad magic %02x%02x%02x%02x)", path,
                      got > 0 ? head[0] : 0, got > 1 ? head[1] : 0, got > 2 ? head[2] : 0, got > 3 ? head[3] : 0);
    else if (head[2] != 0x08)
        rc = rr_error(err, RR_ERR_UNSUPPORTED, "%s: IDX element type 0x%02x is not supported (only 0x08, "
                      "unsigned byte)", path, head[2]);
    else if (fread(head + 4, 4, head[3], fp) != head[3])
        rc = rr_error(err, RR_ERR_FORMAT, "%s: truncated IDX header", path);
    if (rc) { fclose(fp); return rc; }
    a->ndim = head[3];
    a->count = 1;
    for (int i = 0; i < a->ndim; i++) {
        const unsigned char *b = head + 4 + 4 * i;
        a->shape[i] = (size_t)b[0] << 24 | (size_t)b[1] << 16 | (size_t)b[2] << 8 | (size_t)b[3];
        if (a->shape[i] && a->count > SIZE_MAX / a->shape[i]) {
            fclose(fp);
            return rr_error(err, RR_ERR_FORMAT, "%s: IDX shape overflows size_t", path);
        }
        a->count *= a->shape[i];
    }
    /* Compare the announced size with the file before allocating, so a corrupt header
     * cannot ask for gigabytes. */
    long header = 4 + 4 * a->ndim, size = rr_file_size(fp);
    if (size < 0) {
        fclose(fp);
        return rr_error(err, RR_ERR_UNSUPPORTED, "%s: its size cannot be read (not a regular file?)", path);
    }
    if ((uint64_t)(size - header) != (uint64_t)a->count) {
        fclose(fp);
        return rr_error(err, RR_ERR_FORMAT, "%s: header announces %zu bytes of data, the file holds %ld (%s)",
                        path, a->count, size - header, (uint64_t)(size - header) < a->count ? "truncated" : "count mismatch");
    }
    a->data = rr_malloc(a->count, "IDX data");
    if (fseek(fp, header, SEEK_SET) || fread(a->data, 1, a->count, fp) != a->count)
        rc = rr_error(err, RR_ERR_IO, "%s: read of %zu data bytes failed (truncated?)", path, a->count);
    if (fclose(fp) && !rc) rc = rr_error(err, RR_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    if (rc) idx_free(a);
    return rc;
}

void idx_free(IdxArray *a)
{
    free(a->data);
    a->data = NULL;
}

int idx_read_mnist(const char *images_path, const char *labels_path, IdxArray *images,
                   IdxArray *labels, char *err)
{
    int rc = idx_read(images_path, images, err);
    if (rc) return rc;
    if ((rc = idx_read(labels_path, labels, err))) {
        idx_free(images);
        return rc;
    }
    if (images->ndim != 3)
        rc = rr_error(err, RR_ERR_FORMAT, "%s: expected images (magic 0x00000803), found %d dimensions",
                      images_path, images->ndim);
    else if (labels->ndim != 1)
        rc = rr_error(err, RR_ERR_FORMAT, "%s: expected labels (magic 0x00000801), found %d dimensions",
                      labels_path, labels->ndim);
    else if (images->shape[0] != labels->shape[0])
        rc = rr_error(err, RR_ERR_FORMAT, "%s holds %zu images but %s holds %zu labels (count mismatch)",
                      images_path, images->shape[0], labels_path, labels->shape[0]);
    for (size_t i = 0; !rc && i < labels->count; i++)
        if (labels->data[i] > 9)
            rc = rr_error(err, RR_ERR_FORMAT, "%s: label %zu is %d, not a digit", labels_path, i, labels->data[i]);
    if (rc) {
        idx_free(images);
        idx_free(labels);
    }
    return rc;
}
