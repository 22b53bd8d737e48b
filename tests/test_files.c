/* test_files.c — .npy, float16, IDX and JSON files.
 *
 * The reference files in tests/data/ were written once by real NumPy (tests/data/make_refs.py);
 * writing the same arrays here must give the same bytes. Corrupted files are made in build/
 * (tests run from the repository root, where make has created build/). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* pipe */

#include "files.h"

#define DATA "tests/data/"
#define TMP (IS_DOUBLE_BUILD ? "build/test_files_f64_" : "build/test_files_f32_")

#define tmp_path(name) scratch_path(TMP, name)




static void copy_file(const char *from, const char *to)
{
    size_t n = 0;
    unsigned char *d = slurp(from, &n);
    CHECK(d != NULL, "read %s", from);
    if (d) spit(to, d, n);
    free(d);
}

static int contains(const char *s, const char *part) { return strstr(s, part) != NULL; }

/* ---------------------------------------------------------------------------------------- */

static void test_round_trips(void)
{
    static const struct { const char *name; NpyDtype dtype; int ndim; size_t shape[8]; } refs[] = {
        {"ref_f4.npy", NPY_F4, 2, {3, 4}},     {"ref_f8.npy", NPY_F8, 2, {2, 3}},
        {"ref_f2.npy", NPY_F2, 2, {2, 5}},     {"ref_i2.npy", NPY_I2, 1, {5}},
        {"ref_i4.npy", NPY_I4, 3, {2, 2, 2}},  {"ref_i8.npy", NPY_I8, 2, {3, 2}},
        {"ref_u1.npy", NPY_U1, 2, {2, 3}},     {"ref_0d.npy", NPY_F8, 0, {0}},
        {"ref_empty.npy", NPY_F4, 2, {0, 6}},  {"ref_append.npy", NPY_F4, 2, {3, 5}},
        {"ref_long_dim.npy", NPY_I2, 8, {1, 1, 1, 1, 1, 1, 1, 3}},
    };
    char err[RR_ERRLEN], ref[256];
    for (size_t r = 0; r < sizeof refs / sizeof refs[0]; r++) {
        NpyArray a;
        snprintf(ref, sizeof ref, DATA "%s", refs[r].name);
        int rc = npy_read(ref, &a, err);
        CHECK(rc == RR_OK, "%s: %s", ref, err);
        if (rc) continue;
        CHECK(npy_expect(&a, ref, refs[r].dtype, refs[r].ndim, refs[r].shape, err) == RR_OK, "%s", err);
        CHECK(npy_write(tmp_path("rt.npy"), &a, err) == RR_OK, "%s", err);
        CHECK(same_files(ref, tmp_path("rt.npy")), "%s: rewritten bytes differ from NumPy's", ref);
        npy_free(&a);
    }
}

/* The same arrays built from C values must give NumPy's bytes. */
static void test_write_matches_numpy(void)
{
    char err[RR_ERRLEN];
    NpyArray a;
    const int64_t i2[5] = {0, 1, -1, 32767, -32768};
    npy_alloc(&a, NPY_I2, 1, (size_t[]){5});
    npy_from_i64(NPY_I2, i2, 5, a.data);
    CHECK(npy_write(tmp_path("i2.npy"), &a, err) == RR_OK, "%s", err);
    CHECK(same_files(tmp_path("i2.npy"), DATA "ref_i2.npy"), "int16 (5,) differs from NumPy");
    npy_free(&a);

    const int32_t u1[6] = {0, 1, 2, 127, 128, 255};
    npy_alloc(&a, NPY_U1, 2, (size_t[]){2, 3});
    npy_from_i32(NPY_U1, u1, 6, a.data);
    CHECK(npy_write(tmp_path("u1.npy"), &a, err) == RR_OK, "%s", err);
    CHECK(same_files(tmp_path("u1.npy"), DATA "ref_u1.npy"), "uint8 differs from NumPy");
    npy_free(&a);

    const int64_t i8[6] = {0, -1, INT64_C(1) << 62, INT64_MIN, INT64_MAX, 42};
    npy_alloc(&a, NPY_I8, 2, (size_t[]){3, 2});
    npy_from_i64(NPY_I8, i8, 6, a.data);
    CHECK(npy_write(tmp_path("i8.npy"), &a, err) == RR_OK, "%s", err);
    CHECK(same_files(tmp_path("i8.npy"), DATA "ref_i8.npy"), "int64 differs from NumPy");
    npy_free(&a);

    int32_t i4[8];
    for (int i = 0; i < 8; i++) i4[i] = (i - 4) * 123456789;
    npy_alloc(&a, NPY_I4, 3, (size_t[]){2, 2, 2});
    npy_from_i32(NPY_I4, i4, 8, a.data);
    CHECK(npy_write(tmp_path("i4.npy"), &a, err) == RR_OK, "%s", err);
    CHECK(same_files(tmp_path("i4.npy"), DATA "ref_i4.npy"), "int32 differs from NumPy");
    npy_free(&a);

    npy_alloc(&a, NPY_F8, 0, NULL);
    ((double *)a.data)[0] = 2.75;
    CHECK(npy_write(tmp_path("0d.npy"), &a, err) == RR_OK, "%s", err);
    CHECK(same_files(tmp_path("0d.npy"), DATA "ref_0d.npy"), "0-d float64 differs from NumPy");
    npy_free(&a);

    npy_alloc(&a, NPY_F4, 2, (size_t[]){0, 6});
    CHECK(npy_write(tmp_path("empty.npy"), &a, err) == RR_OK, "%s", err);
    CHECK(same_files(tmp_path("empty.npy"), DATA "ref_empty.npy"), "(0, 6) float32 differs from NumPy");
    npy_free(&a);

    real r[15];
    for (int i = 0; i < 15; i++) r[i] = (real)i / 8;
    npy_alloc(&a, NPY_F4, 2, (size_t[]){3, 5});
    npy_from_real(NPY_F4, r, 15, a.data);
    CHECK(npy_write(tmp_path("f4.npy"), &a, err) == RR_OK, "%s", err);
    CHECK(same_files(tmp_path("f4.npy"), DATA "ref_append.npy"), "(3, 5) float32 differs from NumPy");
    npy_free(&a);

    /* float16 written from values: NumPy stored 0.1 etc. rounded to nearest even. */
    const real f2[10] = {0, 1, -2, 65504, (real)6e-8, (real)0.1, (real)-0.333, (real)1e-5, (real)INFINITY, 3};
    npy_alloc(&a, NPY_F2, 2, (size_t[]){2, 5});
    npy_from_real(NPY_F2, f2, 10, a.data);
    CHECK(npy_write(tmp_path("f2.npy"), &a, err) == RR_OK, "%s", err);
    CHECK(same_files(tmp_path("f2.npy"), DATA "ref_f2.npy"), "float16 differs from NumPy");
    npy_free(&a);

    /* No temporary file is left behind by an atomic write. */
    FILE *fp = fopen(tmp_path("f2.npy.tmp"), "rb");
    CHECK(fp == NULL, "npy_write left its .tmp file");
    if (fp) fclose(fp);
}

static void test_values_and_conversions(void)
{
    char err[RR_ERRLEN];
    NpyArray a;
    CHECK(npy_read(DATA "ref_f4.npy", &a, err) == RR_OK, "%s", err);
    real r[12];
    npy_to_real(a.dtype, a.data, 12, r);
    CHECK(r[2] == (real)1.5 && r[4] == (real)3.14159265f && isinf(r[7]) && r[11] == -7, "ref_f4 values");
    npy_free(&a);

    CHECK(npy_read(DATA "ref_f2.npy", &a, err) == RR_OK, "%s", err);
    npy_to_real(a.dtype, a.data, 10, r);
    CHECK(r[3] == 65504 && r[2] == -2 && fabs(r[5] - 0.0999755859375) < 1e-12, "ref_f2 values");
    npy_free(&a);

    CHECK(npy_read(DATA "ref_0d.npy", &a, err) == RR_OK, "%s", err);
    CHECK(a.ndim == 0 && a.count == 1 && ((double *)a.data)[0] == 2.75, "0-d value");
    npy_free(&a);

    CHECK(npy_read(DATA "ref_i8.npy", &a, err) == RR_OK, "%s", err);
    int64_t i8[6];
    int32_t i4[6];
    npy_to_i64(a.dtype, a.data, 6, i8);
    npy_to_i32(a.dtype, a.data, 6, i4);
    CHECK(i8[3] == INT64_MIN && i8[4] == INT64_MAX && i8[2] == INT64_C(1) << 62, "int64 values");
    CHECK(i4[3] == INT32_MIN && i4[4] == INT32_MAX && i4[5] == 42, "int64 -> int32 saturates");
    npy_free(&a);

    /* Float -> integer truncates toward zero (as NumPy's astype), saturates, NaN -> 0. */
    double d[6] = {-2.7, 2.7, 1e30, -1e30, NAN, 40000.0};
    int32_t got[6];
    int16_t s[6];
    npy_to_i32(NPY_F8, d, 6, got);
    CHECK(got[0] == -2 && got[1] == 2 && got[2] == INT32_MAX && got[3] == INT32_MIN && got[4] == 0,
          "float -> int32: %d %d %d %d %d", got[0], got[1], got[2], got[3], got[4]);
    const int32_t wide[3] = {40000, -40000, 7};
    npy_from_i32(NPY_I2, wide, 3, s);
    CHECK(s[0] == 32767 && s[1] == -32768 && s[2] == 7, "int32 -> int16 saturates");
    unsigned char u[3];
    npy_from_i32(NPY_U1, wide, 3, u);
    CHECK(u[0] == 255 && u[1] == 0 && u[2] == 7, "int32 -> uint8 saturates");

    /* Streaming rows. */
    NpyFile f;
    CHECK(npy_open(&f, DATA "ref_i4.npy", err) == RR_OK, "%s", err);
    int32_t row[4];
    CHECK(npy_read_rows(&f, 1, 1, row, err) == RR_OK, "%s", err);
    CHECK(row[0] == 0 && row[3] == 3 * 123456789, "row 1 of ref_i4: %d %d", row[0], row[3]);
    CHECK(npy_read_rows(&f, 1, 2, row, err) == RR_ERR_FORMAT && contains(err, "ref_i4.npy"), "rows past the end");
    CHECK(npy_close(&f, err) == RR_OK, "%s", err);

    /* Version 2.0 is read; writing it back gives version 1.0 with the same array. */
    CHECK(npy_read(DATA "ref_v2.npy", &a, err) == RR_OK, "%s", err);
    CHECK(a.dtype == NPY_F4 && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3 &&
          ((float *)a.data)[5] == 5.0f, "version 2.0 file");
    npy_free(&a);

    /* npy_expect names the file and both shapes. */
    CHECK(npy_read(DATA "ref_f4.npy", &a, err) == RR_OK, "%s", err);
    CHECK(npy_expect(&a, "x.npy", NPY_F4, 2, (size_t[]){NPY_ANY, 4}, err) == RR_OK, "NPY_ANY");
    CHECK(npy_expect(&a, "x.npy", NPY_I8, 2, (size_t[]){NPY_ANY, 4}, err) == RR_ERR_FORMAT &&
          !strcmp(err, "x.npy: expected <i8 (any, 4), found <f4 (3, 4)"), "npy_expect message: %s", err);
    npy_free(&a);
}

static void test_append(void)
{
    char err[RR_ERRLEN];
    NpyFile f;
    NpyArray a;
    float rows[15];
    for (int i = 0; i < 15; i++) rows[i] = (float)i / 8;

    /* An empty file as np.save writes np.zeros((0, 6), float32). */
    CHECK(npy_create(&f, tmp_path("grow.npy"), NPY_F4, 2, (size_t[]){0, 6}, err) == RR_OK, "%s", err);
    CHECK(f.header_bytes == 128, "zoo-style header of %zu bytes", f.header_bytes);
    CHECK(npy_close(&f, err) == RR_OK, "%s", err);
    CHECK(same_files(tmp_path("grow.npy"), DATA "ref_empty.npy"), "created (0, 6) differs from NumPy");

    /* Grow (0, 5) by 1 + 2 rows: a reader in between sees the complete rows only; the final
     * bytes equal np.save of the (3, 5) array. */
    CHECK(npy_create(&f, tmp_path("grow.npy"), NPY_F4, 2, (size_t[]){99, 5}, err) == RR_OK, "%s", err);
    CHECK(npy_append(&f, rows, 1, err) == RR_OK, "%s", err);
    CHECK(npy_read(tmp_path("grow.npy"), &a, err) == RR_OK && a.shape[0] == 1 && ((float *)a.data)[4] == 0.5f,
          "reader during appends: %s", err);
    npy_free(&a);
    CHECK(npy_append(&f, rows + 5, 2, err) == RR_OK, "%s", err);
    CHECK(f.array.shape[0] == 3 && f.array.count == 15, "shape after appends");
    CHECK(npy_close(&f, err) == RR_OK, "%s", err);
    CHECK(same_files(tmp_path("grow.npy"), DATA "ref_append.npy"), "appended file differs from np.save");

    /* Reopen and continue. */
    CHECK(npy_open_append(&f, tmp_path("grow.npy"), err) == RR_OK, "%s", err);
    CHECK(npy_append(&f, rows, 1, err) == RR_OK, "%s", err);
    CHECK(npy_close(&f, err) == RR_OK, "%s", err);
    CHECK(npy_read(tmp_path("grow.npy"), &a, err) == RR_OK && a.shape[0] == 4 && ((float *)a.data)[16] == 0.125f,
          "reopened append: %s", err);
    npy_free(&a);

    /* A file in npy-append-array's layout (version 2.0, 64 spare bytes), as the official zoos:
     * appending a row rewrites the header in its own length, exactly as that library does. */
    copy_file(DATA "ref_append_v2.npy", tmp_path("v2.npy"));
    CHECK(npy_open_append(&f, tmp_path("v2.npy"), err) == RR_OK, "%s", err);
    CHECK(f.version == 2 && f.header_bytes == 192 && f.array.shape[0] == 2, "npy-append-array header");
    const int16_t more[4] = {5, 4, 3, 2};
    CHECK(npy_append(&f, more, 1, err) == RR_OK, "%s", err);
    CHECK(npy_close(&f, err) == RR_OK, "%s", err);
    CHECK(same_files(tmp_path("v2.npy"), DATA "ref_append_v2_more.npy"), "append to npy-append-array file");

    /* A header with no room for another digit refuses, and the file stays readable. */
    static const char tight[] = "\x93NUMPY\x01\x00\x3a\x00{'descr': '<i2', 'fortran_order': False, 'shape': (9,), }\n";
    unsigned char buf[sizeof tight - 1 + 18];
    memcpy(buf, tight, sizeof tight - 1);
    memset(buf + sizeof tight - 1, 0, 18);
    spit(tmp_path("tight.npy"), buf, sizeof buf);
    CHECK(npy_open_append(&f, tmp_path("tight.npy"), err) == RR_OK, "%s", err);
    CHECK(npy_append(&f, more, 1, err) == RR_ERR_FORMAT && contains(err, "no room"), "no room: %s", err);
    npy_close(&f, NULL);
    CHECK(npy_read(tmp_path("tight.npy"), &a, err) == RR_OK && a.shape[0] == 9, "after refused append: %s", err);
    npy_free(&a);

    /* Write errors are reported (Linux: /dev/full accepts the open, fails the write). */
    FILE *probe = fopen("/dev/full", "wb");
    if (probe) {
        fclose(probe);
        int rc = npy_create(&f, "/dev/full", NPY_F4, 2, (size_t[]){0, 5}, err);
        CHECK(rc == RR_ERR_IO && contains(err, "/dev/full"), "write to a full device: %d %s", rc, err);
    }
}

/* ---------------------------------------------------------------------------------------- */

static uint32_t float_bits(float x) { uint32_t b; memcpy(&b, &x, 4); return b; }
static float bits_float(uint32_t b) { float x; memcpy(&x, &b, 4); return x; }

static void test_float16(void)
{
    char err[RR_ERRLEN];
    NpyArray table, in, out;

    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) bad += half_from_float(half_to_float((uint16_t)h)) != h;
    CHECK(bad == 0, "half -> float -> half changed %d of 65536 values", bad);
    bad = 0;
    for (uint32_t h = 0; h < 65536; h++)
        if (((h & 0x7c00) != 0x7c00 || !(h & 0x3ff))) bad += half_from_double(half_to_float((uint16_t)h)) != h;
    CHECK(bad == 0, "half -> float -> double -> half changed %d non-NaN values", bad);

    CHECK(npy_read(DATA "ref_f16_to_f32.npy", &table, err) == RR_OK && table.count == 65536, "%s", err);
    if (table.data) {
        bad = 0;
        for (uint32_t h = 0; h < 65536; h++) {
            uint32_t want;
            memcpy(&want, (char *)table.data + 4 * h, 4);
            if (float_bits(half_to_float((uint16_t)h)) != want && bad++ == 0)
                printf("half 0x%04x: got 0x%08x, NumPy 0x%08x\n", (unsigned)h,
                       (unsigned)float_bits(half_to_float((uint16_t)h)), (unsigned)want);
        }
        CHECK(bad == 0, "half -> float32 differs from NumPy for %d values", bad);
    }
    npy_free(&table);

    CHECK(npy_read(DATA "ref_f32_to_f16_in.npy", &in, err) == RR_OK, "%s", err);
    CHECK(npy_read(DATA "ref_f32_to_f16_out.npy", &out, err) == RR_OK, "%s", err);
    CHECK(in.count == out.count && in.count > 3000, "float32 table sizes %zu, %zu", in.count, out.count);
    if (in.data && out.data && in.count == out.count) {
        const uint32_t *x = in.data;
        const uint16_t *want = out.data;
        int bad_double = 0, bad_real = 0;
        bad = 0;
        for (size_t i = 0; i < in.count; i++) {
            uint16_t h = half_from_float(bits_float(x[i]));
            if (h != want[i] && bad++ == 0)
                printf("float 0x%08x: got half 0x%04x, NumPy 0x%04x\n", (unsigned)x[i], h, want[i]);
            int nan = (x[i] & 0x7f800000u) == 0x7f800000u && (x[i] & 0x7fffffu);
            if (nan) continue;
            bad_double += half_from_double((double)bits_float(x[i])) != want[i];
            real v = (real)bits_float(x[i]);
            uint16_t via;
            npy_from_real(NPY_F2, &v, 1, &via);
            bad_real += via != want[i];
        }
        CHECK(bad == 0, "float32 -> half differs from NumPy for %d of %zu values", bad, in.count);
        CHECK(bad_double == 0, "float32 as double -> half differs for %d values", bad_double);
        CHECK(bad_real == 0, "npy_from_real -> <f2 differs for %d values", bad_real);
    }
    npy_free(&in);
    npy_free(&out);

    CHECK(npy_read(DATA "ref_f64_to_f16_in.npy", &in, err) == RR_OK, "%s", err);
    CHECK(npy_read(DATA "ref_f64_to_f16_out.npy", &out, err) == RR_OK, "%s", err);
    CHECK(in.count == out.count && in.count > 3000, "float64 table sizes %zu, %zu", in.count, out.count);
    if (in.data && out.data && in.count == out.count) {
        const double *x = in.data;
        const uint16_t *want = out.data;
        bad = 0;
        for (size_t i = 0; i < in.count; i++) {
            uint16_t h = half_from_double(x[i]);
            if (h != want[i] && bad++ == 0) printf("double %.17g: got half 0x%04x, NumPy 0x%04x\n", x[i], h, want[i]);
        }
        CHECK(bad == 0, "float64 -> half differs from NumPy for %d of %zu values", bad, in.count);
    }
    npy_free(&in);
    npy_free(&out);

    /* The classic edges, stated directly. */
    CHECK(half_from_float(65504.0f) == 0x7bff && half_from_float(65519.99f) == 0x7bff, "largest half");
    CHECK(half_from_float(65520.0f) == 0x7c00 && half_from_float(-1e10f) == 0xfc00, "overflow to inf");
    CHECK(half_from_float(5.9604645e-8f) == 0x0001 && half_from_float(2.9802322e-8f) == 0x0000, "2^-24, 2^-25 tie");
    CHECK(half_from_float(bits_float(0x7f800001u)) == 0x7c01, "signalling NaN stays NaN");
    CHECK(half_from_double(1.0 + 0x1p-11 + 0x1p-40) == 0x3c01 && half_from_float((float)(1.0 + 0x1p-11 + 0x1p-40)) == 0x3c00,
          "double rounds once (no double rounding through float)");
}

/* ---------------------------------------------------------------------------------------- */

/* A .npy file with the given version, dict text padded to 64 (as NumPy pads), an optional lie
 * in the header length, and data bytes. */
static void write_npy_raw(const char *path, int version, const char *dict, long hlen_delta, const void *data,
                          size_t data_len)
{
    unsigned char buf[1024];
    size_t prefix = version == 1 ? 10 : 12, dlen = strlen(dict);
    size_t total = prefix + dlen + 1;
    total += (64 - total % 64) % 64;
    size_t hlen = total - prefix + (size_t)hlen_delta;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)version;
    buf[7] = 0;
    for (size_t i = 0; i < prefix - 8; i++) buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + prefix, dict, dlen);
    memset(buf + prefix + dlen, ' ', total - prefix - dlen - 1);
    buf[total - 1] = '\n';
    memcpy(buf + total, data, data_len);
    spit(path, buf, total + data_len);
}

/* Reading path must fail with code and a message naming the file and containing what. */
#define EXPECT_READ_ERROR(path, code, what)                                                       \
    do {                                                                                         \
        NpyArray a_;                                                                             \
        char e_[RR_ERRLEN] = "";                                                                 \
        int rc_ = npy_read(path, &a_, e_);                                                       \
        CHECK(rc_ == (code) && contains(e_, path) && contains(e_, what) && a_.data == NULL,      \
              "%s: want code %d with \"%s\", got %d: %s", path, code, what, rc_, e_);             \
    } while (0)

/* A file whose size cannot be read (a pipe, through /dev/fd where the system has it) is
 * refused: the counts its header claims could not be bounded. */
static void test_npy_unsized(void)
{
    int fds[2];
    FILE *probe = fopen("/dev/fd/0", "rb");
    if (!probe || pipe(fds)) {
        printf("SKIP test_npy_unsized: no /dev/fd or no pipe\n");
        if (probe) fclose(probe);
        return;
    }
    fclose(probe);
    static const char header[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }";
    char padded[128], path[64], err[RR_ERRLEN];
    memset(padded, ' ', sizeof padded);
    memcpy(padded, header, sizeof header - 1);
    padded[127] = '\n';
    CHECK(write(fds[1], padded, sizeof padded) == (ssize_t)sizeof padded, "write the pipe");
    snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
    NpyFile f;
    int rc = npy_open(&f, path, err);
    CHECK(rc == RR_ERR_UNSUPPORTED && strstr(err, path) && strstr(err, "size cannot be read"), "a pipe: rc %d, %s", rc, err);
    if (rc == RR_OK) npy_close(&f, NULL);
    close(fds[0]);
    close(fds[1]);
}

static void test_npy_errors(void)
{
    const unsigned char data[64] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24};
    char *p = tmp_path("bad.npy");

    EXPECT_READ_ERROR("build/no/such/file.npy", RR_ERR_OPEN, "cannot open");
    spit(p, "", 0);
    EXPECT_READ_ERROR(p, RR_ERR_FORMAT, "bad magic");
    spit(p, "\x93NUMPZ\x01\x00\x10\x00{}", 12);
    EXPECT_READ_ERROR(p, RR_ERR_FORMAT, "bad magic");
    spit(p, "PK\x03\x04 this is an npz", 20);
    EXPECT_READ_ERROR(p, RR_ERR_FORMAT, "bad magic");
    spit(p, "\x93NUMPY\x01\x00\x10", 9);
    EXPECT_READ_ERROR(p, RR_ERR_FORMAT, "truncated header");
    spit(p, "\x93NUMPY\x04\x00\x10\x00{}", 12);
    EXPECT_READ_ERROR(p, RR_ERR_UNSUPPORTED, "version 4.0");

    /* Headers whose length field lies. */
    const char *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    write_npy_raw(p, 1, ok, 0, data, 24);
    { NpyArray a; char e[RR_ERRLEN]; CHECK(npy_read(p, &a, e) == RR_OK && a.count == 6, "control file: %s", e); npy_free(&a); }
    write_npy_raw(p, 1, ok, 5000, data, 24);
    EXPECT_READ_ERROR(p, RR_ERR_FORMAT, "header claims");
    write_npy_raw(p, 2, ok, 0x7fff0000, data, 24);
    EXPECT_READ_ERROR(p, RR_ERR_FORMAT, "header claims");
    write_npy_raw(p, 1, ok, -30, data, 24);
    EXPECT_READ_ERROR(p, RR_ERR_FORMAT, "header length too small");
    write_npy_raw(p, 1, ok, -70, data, 24);
    EXPECT_READ_ERROR(p, RR_ERR_FORMAT, "header length too small");
    write_npy_raw(p, 1, ok, 8, data, 24);
    EXPECT_READ_ERROR(p, RR_ERR_FORMAT, "header length too large");
    write_npy_raw(p, 1, ok, 0, data, 23);
    EXPECT_READ_ERROR(p, RR_ERR_FORMAT, "truncated");
    write_npy_raw(p, 1, ok, 0, data, 0);
    EXPECT_READ_ERROR(p, RR_ERR_FORMAT, "needs 24 data bytes");

    /* Unsupported but valid files. */
    write_npy_raw(p, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 0, data, 24);
    EXPECT_READ_ERROR(p, RR_ERR_UNSUPPORTED, "big-endian");
    write_npy_raw(p, 1, "{'descr': '>i8', 'fortran_order': False, 'shape': (2,), }", 0, data, 16);
    EXPECT_READ_ERROR(p, RR_ERR_UNSUPPORTED, "big-endian");
    write_npy_raw(p, 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3), }", 0, data, 48);
    EXPECT_READ_ERROR(p, RR_ERR_UNSUPPORTED, "dtype '<c8' is not supported");
    write_npy_raw(p, 1, "{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3), }", 0, data, 12);
    EXPECT_READ_ERROR(p, RR_ERR_UNSUPPORTED, "'<u2'");
    write_npy_raw(p, 1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 0, data, 8);
    EXPECT_READ_ERROR(p, RR_ERR_UNSUPPORTED, "structured");
    write_npy_raw(p, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 0, data, 24);
    EXPECT_READ_ERROR(p, RR_ERR_UNSUPPORTED, "Fortran");
    write_npy_raw(p, 1, "{'descr': '<i2', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 2), }", 0, data, 4);
    EXPECT_READ_ERROR(p, RR_ERR_UNSUPPORTED, "more than 8 dimensions");
    { /* Fortran order of a vector is the same bytes: accepted, as are Python 2 'L' integers and
       * other key orders and quotes. */
        NpyArray a;
        char e[RR_ERRLEN];
        write_npy_raw(p, 1, "{'descr': '<i2', 'fortran_order': True, 'shape': (1, 3), }", 0, data, 6);
        CHECK(npy_read(p, &a, e) == RR_OK && a.count == 3, "Fortran-order vector: %s", e);
        npy_free(&a);
        write_npy_raw(p, 1, "{\"shape\": (3L, 2L), \"fortran_order\": False, \"descr\": \"|u1\"}", 0, data, 6);
        CHECK(npy_read(p, &a, e) == RR_OK && a.shape[0] == 3 && a.dtype == NPY_U1, "Python 2 header: %s", e);
        npy_free(&a);
    }

    /* Shapes whose size overflows size_t. */
    write_npy_raw(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }", 0, data, 8);
    EXPECT_READ_ERROR(p, RR_ERR_FORMAT, "overflows size_t");
    write_npy_raw(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }", 0, data, 8);
    EXPECT_READ_ERROR(p, RR_ERR_FORMAT, "overflows size_t");
    write_npy_raw(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,), }", 0, data, 8);
    EXPECT_READ_ERROR(p, RR_ERR_FORMAT, "overflows size_t");
    write_npy_raw(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }", 0, data, 8);
    EXPECT_READ_ERROR(p, RR_ERR_FORMAT, "truncated");

    /* Malformed dicts. */
    static const struct { const char *dict, *what; } bad[] = {
        {"{'descr': '<f4', 'fortran_order': False}", "no 'shape'"},
        {"{'descr': '<f4', 'shape': (2, 3)}", "no 'fortran_order'"},
        {"{'fortran_order': False, 'shape': (2, 3), }", "no 'descr'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}", "unexpected key"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", "duplicate key"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6)}", "not a tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}", "not a tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}", "negative dimension"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, x)}", "must hold integers"},
        {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 3)}", "True or False"},
        {"{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3)}", "expected ',' or '}'"},
        {"{'descr' '<f4', 'fortran_order': False, 'shape': (2, 3)}", "expected ':'"},
        {"{'descr: '<f4', 'fortran_order': False, 'shape': (2, 3)}", "expected ':'"},
        {"{descr: '<f4', 'fortran_order': False, 'shape': (2, 3)}", "quoted string"},
        {"('descr', '<f4')", "not a dict"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } junk", "bytes after the dict"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ", "ends early"},
        {"", "ends early"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_npy_raw(p, 1, bad[i].dict, 0, data, 24);
        EXPECT_READ_ERROR(p, RR_ERR_FORMAT, bad[i].what);
    }

    /* Writing into a directory that does not exist. */
    NpyArray a;
    char e[RR_ERRLEN];
    npy_alloc(&a, NPY_F4, 1, (size_t[]){3});
    CHECK(npy_write("build/no/such/dir/x.npy", &a, e) == RR_ERR_OPEN && contains(e, "build/no/such/dir/x.npy"),
          "write into a missing directory: %s", e);
    npy_free(&a);
    NpyFile f;
    CHECK(npy_open_append(&f, "build/no/such/file.npy", e) == RR_ERR_OPEN, "append to a missing file");
}

/* ---------------------------------------------------------------------------------------- */

static void write_idx(const char *path, const unsigned char *magic, const size_t *dims, int ndim,
                      const unsigned char *data, size_t len)
{
    unsigned char buf[256];
    memcpy(buf, magic, 4);
    for (int i = 0; i < ndim; i++) {
        buf[4 + 4 * i] = (unsigned char)(dims[i] >> 24);
        buf[5 + 4 * i] = (unsigned char)(dims[i] >> 16);
        buf[6 + 4 * i] = (unsigned char)(dims[i] >> 8);
        buf[7 + 4 * i] = (unsigned char)dims[i];
    }
    memcpy(buf + 4 + 4 * ndim, data, len);
    spit(path, buf, 4 + 4 * (size_t)ndim + len);
}

#define EXPECT_IDX_ERROR(call, code, path, what)                                                  \
    do {                                                                                         \
        char e_[RR_ERRLEN] = "";                                                                 \
        int rc_ = (call);                                                                        \
        CHECK(rc_ == (code) && contains(e_, path) && contains(e_, what),                          \
              "want code %d with \"%s\", got %d: %s", code, what, rc_, e_);                        \
    } while (0)

static void test_idx(void)
{
    static const unsigned char images_magic[4] = {0, 0, 8, 3}, labels_magic[4] = {0, 0, 8, 1};
    unsigned char pixels[3 * 2 * 2], labels[3] = {7, 0, 9};
    for (int i = 0; i < 12; i++) pixels[i] = (unsigned char)(i * 21);
    char *ip = tmp_path("images.idx"), *lp = tmp_path("labels.idx"), err[RR_ERRLEN];
    write_idx(ip, images_magic, (size_t[]){3, 2, 2}, 3, pixels, 12);
    write_idx(lp, labels_magic, (size_t[]){3}, 1, labels, 3);

    IdxArray im, lab;
    CHECK(idx_read(ip, &im, err) == RR_OK, "%s", err);
    CHECK(im.ndim == 3 && im.shape[0] == 3 && im.shape[1] == 2 && im.shape[2] == 2 && im.count == 12 &&
          im.data[11] == 231, "IDX images");
    idx_free(&im);
    CHECK(idx_read_mnist(ip, lp, &im, &lab, err) == RR_OK, "%s", err);
    CHECK(lab.count == 3 && lab.data[0] == 7 && lab.data[2] == 9 && im.data[5] == 105, "MNIST pair");
    idx_free(&im);
    idx_free(&lab);

    char *bp = tmp_path("bad.idx");
    EXPECT_IDX_ERROR(idx_read("build/no/such.idx", &im, e_), RR_ERR_OPEN, "build/no/such.idx", "cannot open");
    spit(bp, "\x1f\x8b\x08\x08gzip", 8);
    EXPECT_IDX_ERROR(idx_read(bp, &im, e_), RR_ERR_FORMAT, bp, "bad magic 1f8b0808");
    write_idx(bp, (const unsigned char *)"\0\0\x0d\x01", (size_t[]){3}, 1, labels, 3);
    EXPECT_IDX_ERROR(idx_read(bp, &im, e_), RR_ERR_UNSUPPORTED, bp, "type 0x0d");
    spit(bp, "\0\0\x08\x03\0\0\0\x03\0\0", 10);
    EXPECT_IDX_ERROR(idx_read(bp, &im, e_), RR_ERR_FORMAT, bp, "truncated IDX header");
    write_idx(bp, images_magic, (size_t[]){3, 2, 2}, 3, pixels, 11);
    EXPECT_IDX_ERROR(idx_read(bp, &im, e_), RR_ERR_FORMAT, bp, "truncated");
    write_idx(bp, images_magic, (size_t[]){3, 2, 2}, 3, pixels, 12);
    spit(bp, pixels, 0); /* empty file */
    EXPECT_IDX_ERROR(idx_read(bp, &im, e_), RR_ERR_FORMAT, bp, "bad magic");
    write_idx(bp, images_magic, (size_t[]){2, 2, 2}, 3, pixels, 12);
    EXPECT_IDX_ERROR(idx_read(bp, &im, e_), RR_ERR_FORMAT, bp, "count mismatch");
    write_idx(bp, images_magic, (size_t[]){4294967295u, 4294967295u, 4294967295u}, 3, pixels, 12);
    EXPECT_IDX_ERROR(idx_read(bp, &im, e_), RR_ERR_FORMAT, bp, "overflows");

    write_idx(bp, labels_magic, (size_t[]){2}, 1, labels, 2);
    EXPECT_IDX_ERROR(idx_read_mnist(ip, bp, &im, &lab, e_), RR_ERR_FORMAT, bp, "count mismatch");
    EXPECT_IDX_ERROR(idx_read_mnist(lp, ip, &im, &lab, e_), RR_ERR_FORMAT, lp, "expected images");
    write_idx(bp, labels_magic, (size_t[]){3}, 1, (const unsigned char *)"\x01\x0a\x02", 3);
    EXPECT_IDX_ERROR(idx_read_mnist(ip, bp, &im, &lab, e_), RR_ERR_FORMAT, bp, "not a digit");

    /* The vendored MNIST subset, when it is there (its README gives the class counts). */
    if (idx_read_mnist("zoo/data/mnist10k/images-idx3-ubyte", "zoo/data/mnist10k/labels-idx1-ubyte", &im, &lab,
                       err) == RR_OK) {
        size_t counts[10] = {0};
        const size_t want[10] = {1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978};
        for (size_t i = 0; i < lab.count; i++) counts[lab.data[i]]++;
        CHECK(im.shape[0] == 10000 && im.shape[1] == 28 && im.shape[2] == 28 && !memcmp(counts, want, sizeof want),
              "mnist10k shape and class counts");
        idx_free(&im);
        idx_free(&lab);
    }
}

/* ---------------------------------------------------------------------------------------- */

static void test_json(void)
{
    /* Python's repr of each double. */
    static const struct { double x; const char *text; } reprs[] = {
        {0.0, "0.0"}, {-0.0, "-0.0"}, {0.1, "0.1"}, {1.0 / 3, "0.3333333333333333"}, {100.0, "100.0"},
        {1e16, "1e+16"}, {1e15, "1000000000000000.0"}, {123456789012345678.0, "1.2345678901234568e+17"},
        {1e-05, "1e-05"}, {0.0001, "0.0001"}, {1.5e-7, "1.5e-07"}, {2.5, "2.5"}, {-1234.5678, "-1234.5678"},
        {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
        {0.30000000000000004, "0.30000000000000004"}, {1e22, "1e+22"}, {9007199254740993.0, "9007199254740992.0"},
        {0.01, "0.01"}, {3e-4, "0.0003"}, {NAN, "NaN"}, {-INFINITY, "-Infinity"},
    };
    char buf[40];
    for (size_t i = 0; i < sizeof reprs / sizeof reprs[0]; i++) {
        json_format_double(reprs[i].x, buf, sizeof buf);
        CHECK(!strcmp(buf, reprs[i].text), "json double: got %s, want %s", buf, reprs[i].text);
    }

    /* The same text Python's json.dumps gives for this dict. */
    JsonWriter w;
    char err[RR_ERRLEN], *path = tmp_path("args.json");
    CHECK(json_begin(&w, path, err) == RR_OK, "%s", err);
    json_string(&w, "name", "a\"b\\c\nd\te\x01\x7f");
    json_int(&w, "seed", -1);
    json_double(&w, "lr", 0.01);
    json_bool(&w, "store", 1);
    json_bool(&w, "off", 0);
    json_ints(&w, "task", (const int64_t[]){0, -3, 2}, 3);
    json_doubles(&w, "w", (const double[]){0.1, 1e-05, 100.0}, 3);
    json_ints(&w, "e", NULL, 0);
    CHECK(json_end(&w, err) == RR_OK, "%s", err);
    size_t n = 0;
    char *text = (char *)slurp(path, &n);
    const char *want = "{\"name\": \"a\\\"b\\\\c\\nd\\te\\u0001\\u007f\", \"seed\": -1, \"lr\": 0.01, \"store\": true, "
                       "\"off\": false, \"task\": [0, -3, 2], \"w\": [0.1, 1e-05, 100.0], \"e\": []}";
    CHECK(text && n == strlen(want) && !memcmp(text, want, n), "json text: %.*s", (int)n, text ? text : "");
    free(text);
    FILE *fp = fopen(tmp_path("args.json.tmp"), "rb");
    CHECK(fp == NULL, "json_end left its .tmp file");
    if (fp) fclose(fp);

    CHECK(json_begin(&w, "build/no/such/dir/args.json", err) == RR_ERR_OPEN &&
          contains(err, "build/no/such/dir/args.json.tmp"), "json into a missing directory: %s", err);
}

int main(void)
{
    test_round_trips();
    test_write_matches_numpy();
    test_values_and_conversions();
    test_append();
    test_float16();
    test_npy_errors();
    test_npy_unsized();
    test_idx();
    test_json();
    return test_summary("test_files");
}
