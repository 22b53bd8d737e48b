/* mnist.c — the tiled rotated sequential MNIST task family (SPEC 2.2): rotation, tiling,
 * normalisation and the index-hash train / evaluation split; where the vendored digits are.
 *
 * Official code: rnn_weights_representation_learning/dataset_creation_sequential_mnist.py
 * (TiledMNIST, the transform Compose([RandomRotation([task, task]), ToTensor(),
 * Normalize((0.1307,), (0.3081,))]) and the index split in main) and utilities.py (hash64).
 *
 * torchvision's MNIST dataset hands RandomRotation a PIL image, so the rotation that ran is
 * Pillow's Image.rotate, not torchvision's tensor grid_sample path. This file follows Pillow
 * (src/PIL/Image.py: rotate; src/libImaging/Geometry.c: ImagingTransformAffine, affine_fixed,
 * ImagingScaleAffine and the ROTATE_90 / 180 / 270 transposes) step by step, in double and
 * integer arithmetic that gives the same bits (every product that is not exact is rounded in
 * its own statement, so contraction into fused multiply-adds cannot change it). Never build
 * with -ffast-math: pixels on a sampling boundary would move. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnnrep.h"

#define SIDE MNIST_SIDE

/* Python's float `x % 360.0`: the result has the sign of the divisor. */
static double python_mod360(double x)
{
    double m = fmod(x, 360.0);
    if (m != 0.0) {
        if (m < 0.0) m += 360.0;
    } else {
        m = 0.0;
    }
    return m;
}

/* Python's round(x, 15), which is correctly rounded in decimal: print with 15 decimals and read
 * back (glibc's printf and strtod are exact). Pillow rounds the matrix so that angles like 90
 * give exact zeros. */
static double round15(double x)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.15f", x);
    return strtod(buf, NULL);
}

/* Pillow's FIX: 16.16 fixed point, FLOOR(v * 65536 + 0.5). */
static long fix16(double v)
{
    return (long)floor(v * 65536.0 + 0.5);
}

/* x >> 16 on a two's-complement int as Pillow does, written as floor division. */
static long shift16(long v)
{
    return v >= 0 ? v / 65536 : -((-v + 65535) / 65536);
}

static void transpose_rotation(const uint8_t *in, int quarter_turns, uint8_t *out)
{
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            uint8_t p = in[y * SIDE + x];
            if (quarter_turns == 1) out[(SIDE - 1 - x) * SIDE + y] = p;              /* ROTATE_90 */
            else if (quarter_turns == 2) out[(SIDE - 1 - y) * SIDE + (SIDE - 1 - x)] = p;
            else out[x * SIDE + (SIDE - 1 - y)] = p;                                  /* ROTATE_270 */
        }
}

void mnist_rotate(const uint8_t in[MNIST_PIXELS], double degrees, uint8_t out[MNIST_PIXELS])
{
    /* RandomRotation.get_params: torch.empty(1).uniform_(a, a) stores a in a float32 tensor. */
    double angle = python_mod360((double)(float)degrees);

    /* Image.rotate fast paths (no centre or translation given, square image). */
    if (angle == 0.0) {
        for (int i = 0; i < MNIST_PIXELS; i++) out[i] = in[i];
        return;
    }
    if (angle == 90.0 || angle == 180.0 || angle == 270.0) {
        transpose_rotation(in, (int)(angle / 90.0), out);
        return;
    }

    /* The inverse map, output pixel-edge coordinates -> input: about the centre (w/2, h/2),
     *   x_in = cos(a) (x - 14) - sin(a) (y - 14) + 14,  y_in = sin(a) (x - 14) + cos(a) (y - 14) + 14,
     * which turns the picture counter-clockwise by a (y points down). */
    const double centre = SIDE / 2.0;
    double rad = -(angle * (3.141592653589793 / 180.0)); /* -math.radians(angle) */
    double m[6];
    m[0] = round15(cos(rad));
    m[1] = round15(sin(rad));
    m[2] = 0.0;
    m[3] = round15(-sin(rad));
    m[4] = round15(cos(rad));
    m[5] = 0.0;
    /* Python's a * x + b * y + c, one rounding per operation: the products get their own
     * statements so that no compiler may fuse them into a multiply-add. */
    double ax = m[0] * -centre, by = m[1] * -centre, dx = m[3] * -centre, ey = m[4] * -centre;
    m[2] = ax + by + m[2];
    m[5] = dx + ey + m[5];
    m[2] += centre;
    m[5] += centre;

    for (int i = 0; i < MNIST_PIXELS; i++) out[i] = 0; /* fillcolor 0 */

    if (m[1] == 0.0 && m[3] == 0.0) {
        /* ImagingScaleAffine (angles within 1e-15 rad of 0 or 180 degrees): floating point,
         * sampling at pixel centres, COORD(v) = v < 0 ? -1 : (int)v. */
        int xin[SIDE];
        double xo = m[2] + m[0] * 0.5, yo = m[5] + m[4] * 0.5;
        for (int x = 0; x < SIDE; x++, xo += m[0]) xin[x] = xo < 0.0 ? -1 : (int)xo;
        for (int y = 0; y < SIDE; y++, yo += m[4]) {
            int yi = yo < 0.0 ? -1 : (int)yo;
            if (yi < 0 || yi >= SIDE) continue;
            for (int x = 0; x < SIDE; x++)
                if (xin[x] >= 0 && xin[x] < SIDE) out[y * SIDE + x] = in[yi * SIDE + xin[x]];
        }
        return;
    }

    /* affine_fixed: the map evaluated at output pixel centres (x + 0.5, y + 0.5) in 16.16 fixed
     * point, stepped incrementally; the input pixel is the integer part. */
    long a0 = fix16(m[0]), a1 = fix16(m[1]), a3 = fix16(m[3]), a4 = fix16(m[4]);
    long a2 = fix16(m[2] + m[0] * 0.5 + m[1] * 0.5);
    long a5 = fix16(m[5] + m[3] * 0.5 + m[4] * 0.5);
    for (int y = 0; y < SIDE; y++, a2 += a1, a5 += a4) {
        long xx = a2, yy = a5;
        for (int x = 0; x < SIDE; x++, xx += a0, yy += a3) {
            long xi = shift16(xx), yi = shift16(yy);
            if (xi >= 0 && xi < SIDE && yi >= 0 && yi < SIDE) out[y * SIDE + x] = in[yi * SIDE + xi];
        }
    }
}

/* TiledMNIST.__getitem__: view (7, 4, 7, 4) = (tile row, row in tile, tile column, column in
 * tile), transpose to (tile row, tile column, row, column), flatten to (49, 16), prepend zeros.
 * ToTensor divides by 255 and Normalize subtracts and divides, all in float32. */
void mnist_tiles(const uint8_t img[MNIST_PIXELS], real out[MNIST_STEPS * MNIST_TILE_SIZE])
{
    const int tiles_per_row = SIDE / MNIST_TILE;
    const float mean = (float)MNIST_MEAN, std = (float)MNIST_STD;
    for (int k = 0; k < MNIST_TILE_SIZE; k++) out[k] = 0; /* BOS tile */
    for (int tile = 0; tile < tiles_per_row * tiles_per_row; tile++) {
        int row0 = tile / tiles_per_row * MNIST_TILE, col0 = tile % tiles_per_row * MNIST_TILE;
        real *dst = out + (size_t)(tile + 1) * MNIST_TILE_SIZE;
        for (int r = 0; r < MNIST_TILE; r++)
            for (int c = 0; c < MNIST_TILE; c++) {
                float v = (float)img[(row0 + r) * SIDE + col0 + c] / 255.0f;
                dst[r * MNIST_TILE + c] = (real)((v - mean) / std);
            }
    }
}

void mnist_sequence(const uint8_t img[MNIST_PIXELS], double degrees,
                    real out[MNIST_STEPS * MNIST_TILE_SIZE])
{
    uint8_t rotated[MNIST_PIXELS];
    mnist_rotate(img, degrees, rotated);
    mnist_tiles(rotated, out);
}

/* Official hash64(i) = (i ^ HASH_KEY_1) ^ HASH_KEY_2 = i ^ 0x04095164213DD204: a plain XOR, no
 * mixing. The key's top bit is clear, so torch's signed remainder equals the unsigned one. */
int mnist_is_train(uint64_t index)
{
    return (index ^ MNIST_SPLIT_KEY) % 10 < 8;
}

size_t mnist_split_indices(size_t n, int train, size_t *idx)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (mnist_is_train(i) == (train != 0)) idx[count++] = i;
    return count;
}

/* ========================================================================================
 * Where the vendored digits are. The Makefile fixes both places at build time (-D); these
 * defaults serve a build by hand from the source directory.
 * ====================================================================================== */
#ifndef RNNREP_DATADIR
#define RNNREP_DATADIR "/usr/local/share/rnnrep"
#endif
#ifndef RNNREP_SOURCEDIR
#define RNNREP_SOURCEDIR "."
#endif

int mnist_find_dir(const char *given, char *dir, size_t len, char *err)
{
    const char *places[2] = {RNNREP_DATADIR "/mnist10k", RNNREP_SOURCEDIR "/zoo/data/mnist10k"};
    char probe[1024];
    if (given && given[0]) {
        if (strlen(given) >= len) return rr_error(err, RR_ERR_OPEN, "%s: the path is too long (at most %zu characters)", given, len - 1);
        snprintf(dir, len, "%s", given);
        return RR_OK;
    }
    for (int i = 0; i < 2; i++) {
        snprintf(probe, sizeof probe, "%s/images-idx3-ubyte", places[i]);
        FILE *f = fopen(probe, "rb");
        if (!f) continue;
        fclose(f);
        if (strlen(places[i]) >= len) return rr_error(err, RR_ERR_OPEN, "%s: the path is too long (at most %zu characters)", places[i], len - 1);
        snprintf(dir, len, "%s", places[i]);
        return RR_OK;
    }
    return rr_error(err, RR_ERR_OPEN, "the vendored MNIST digits are in neither %s (installed by make install) nor %s (the source tree); "
                    "give --mnist-dir DIR with the IDX files", places[0], places[1]);
}

/* ========================================================================================
 * The digits of a zoo's runs: loaded once, split by the hash, served as rotated tile batches.
 * ====================================================================================== */

int mnist_load(const char *given, MnistData *d, char *err)
{
    char img[600], lab[600], dir[512];
    memset(d, 0, sizeof *d);
    int rc = mnist_find_dir(given, dir, sizeof dir, err);
    if (rc) return rc;
    /* the vendored files are named like the official ones without the "train-" prefix */
    const char *names[2][2] = {{"train-images-idx3-ubyte", "train-labels-idx1-ubyte"}, {"images-idx3-ubyte", "labels-idx1-ubyte"}};
    int which = 0;
    snprintf(img, sizeof img, "%s/%s", dir, names[0][0]);
    FILE *probe = fopen(img, "rb");
    if (probe) fclose(probe);
    else which = 1;
    snprintf(img, sizeof img, "%s/%s", dir, names[which][0]);
    snprintf(lab, sizeof lab, "%s/%s", dir, names[which][1]);
    rc = idx_read_mnist(img, lab, &d->images, &d->labels, err);
    if (rc) return rc;
    if (d->images.shape[1] != MNIST_SIDE || d->images.shape[2] != MNIST_SIDE) {
        rc = rr_error(err, RR_ERR_FORMAT, "%s: images are %zux%zu, not 28x28", img, d->images.shape[1], d->images.shape[2]);
        mnist_data_free(d);
        return rc;
    }
    size_t n = d->images.shape[0];
    d->train = rr_malloc(n * sizeof(size_t), "train indices");
    d->eval = rr_malloc(n * sizeof(size_t), "eval indices");
    d->ntrain = mnist_split_indices(n, 1, d->train);
    d->neval = mnist_split_indices(n, 0, d->eval);
    return RR_OK;
}

void mnist_data_free(MnistData *d)
{
    idx_free(&d->images);
    idx_free(&d->labels);
    free(d->train);
    free(d->eval);
    memset(d, 0, sizeof *d);
}

void mnist_batch(const MnistData *d, const size_t *idx, size_t n, double angle, real *x, int32_t *y)
{
    for (size_t b = 0; b < n; b++) {
        mnist_sequence(d->images.data + idx[b] * MNIST_PIXELS, angle, x + b * MNIST_STEPS * MNIST_TILE_SIZE);
        y[b] = d->labels.data[idx[b]];
    }
}
