/* test_safetensors.c — safetensors files: our bytes against a hand-computed file and a file of
 * the reference serializer (tests/data/ref_mixed.safetensors, written by the huggingface crate
 * that safetensors.torch.save_file calls; see tests/data/make_safetensors_ref.rs), round trips
 * of every dtype, and every kind of damaged file rejected with a message that says why.
 * Scratch files go to build/ (tests run from the repository root, where make created it). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "files.h"

#define DATA "tests/data/"
#define TMP (IS_DOUBLE_BUILD ? "build/test_safetensors_f64_" : "build/test_safetensors_f32_")

#define tmp_path(name) scratch_path(TMP, name)



static int file_exists(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (fp) fclose(fp);
    return fp != NULL;
}

/* The file must hold exactly these bytes. */
static void check_bytes(const char *path, const unsigned char *want, size_t n, const char *what)
{
    size_t got_n = 0;
    unsigned char *got = slurp(path, &got_n);
    CHECK(got && got_n == n, "%s: %zu bytes, want %zu", what, got_n, n);
    for (size_t i = 0; got && i < n && i < got_n; i++)
        if (got[i] != want[i]) {
            CHECK(0, "%s: byte %zu is 0x%02x, want 0x%02x", what, i, got[i], want[i]);
            break;
        }
    free(got);
}

/* ------------------------------------------------------------------------------------------
 * Bytes computed by hand.
 * ---------------------------------------------------------------------------------------- */
static void test_hand_computed(void)
{
    /* x: F32 (2,) = [1, -2], given as reals; n: I64 0-d = 3; metadata k = v. The reference
     * orders the data by dtype, widest first (I64 before F32), so n gets [0, 8) and x [8, 16).
     * The header, serde_json style without spaces, members dtype, shape, data_offsets:
     *   {"__metadata__":{"k":"v"},                          1 + 15 + 9 + 1          = 26
     *   "n":{"dtype":"I64","shape":[],"data_offsets":[0,8]},  4 + 15 + 11 + 21 + 1    = 52 -> 78
     *   "x":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}} 4 + 15 + 12 + 22 + 1   = 54 -> 132
     * 132 is padded with 4 spaces to 136 = 0x88, a multiple of 8. Then n = 3 as 8 LE bytes,
     * 1.0f = 0x3f800000 and -2.0f = 0xc0000000, each as 4 LE bytes: 8 + 136 + 16 = 160 bytes. */
    const char *json = "{\"__metadata__\":{\"k\":\"v\"},"
                       "\"n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
                       "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}    ";
    unsigned char want[160] = {0x88, 0, 0, 0, 0, 0, 0, 0};
    CHECK(strlen(json) == 136, "hand header is %zu bytes", strlen(json));
    memcpy(want + 8, json, 136);
    const unsigned char data[16] = {3, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0};
    memcpy(want + 144, data, 16);

    const real x[2] = {1, -2};
    const int64_t n = 3;
    SafetensorsTensor t[2] = {{"x", NPY_F4, 1, {2}, 0, NULL, x}, {"n", NPY_I8, 0, {0}, 0, &n, NULL}};
    SafetensorsPair meta = {"k", "v"};
    char err[RR_ERRLEN] = "";
    const char *path = tmp_path("hand.safetensors");
    CHECK(safetensors_write(path, t, 2, &meta, 1, err) == RR_OK, "write: %s", err);
    check_bytes(path, want, sizeof want, "hand-computed file");
    CHECK(!file_exists(tmp_path("hand.safetensors.tmp")), "the .tmp file is left behind");

    /* No tensors, no metadata: "{}" and 6 spaces, N = 8. */
    const unsigned char empty[16] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    path = tmp_path("empty.safetensors");
    CHECK(safetensors_write(path, NULL, 0, NULL, 0, err) == RR_OK, "write empty: %s", err);
    check_bytes(path, empty, sizeof empty, "empty file");
    Safetensors st;
    CHECK(safetensors_read(path, &st, err) == RR_OK, "read empty: %s", err);
    CHECK(st.count == 0 && st.metadata_count == 0 && !safetensors_find(&st, "x"), "empty file holds something");
    safetensors_free(&st);
}

/* ------------------------------------------------------------------------------------------
 * The reference's file (tests/data/make_safetensors_ref.rs has the same values).
 * ---------------------------------------------------------------------------------------- */
static const float ref_weight[6] = {0.0f, -0.0f, 1.5f, -2.25f, 3.4e38f, 1e-45f};
static const float ref_bias[3] = {1, 2, 3}, ref_upper[1] = {-1};
static const double ref_scale[2] = {0.1, -1e-300};
static const uint16_t ref_half[4] = {0x3c00, 0xc000, 0x7bff, 0x0001}; /* 1, -2, 65504, 2^-24 */
static const int64_t ref_step = 1234567890123;
static const int32_t ref_counts[4] = {1, -2, INT32_MAX, INT32_MIN};
static const char ref_note[] = "a \"q\" \\ line\nnext\ttab \x01 \x7f \xce\xb8 \b\f\r/";

static void test_reference_file(void)
{
    char err[RR_ERRLEN] = "";
    const char *ref = DATA "ref_mixed.safetensors";
    SafetensorsPair note = {"note", ref_note};
    /* Given in an order of our own; the writer must find the reference's. */
    SafetensorsTensor t[8] = {
        {"half", NPY_F2, 1, {4}, 0, ref_half, NULL},
        {"counts", NPY_I4, 2, {2, 2}, 0, ref_counts, NULL},
        {"empty", NPY_F4, 2, {0, 3}, 0, NULL, NULL},
        {"encoder.weight", NPY_F4, 2, {2, 3}, 0, ref_weight, NULL},
        {"step", NPY_I8, 0, {0}, 0, &ref_step, NULL},
        {"Upper", NPY_F4, 1, {1}, 0, ref_upper, NULL},
        {"emulator.scale", NPY_F8, 1, {2}, 0, ref_scale, NULL},
        {"encoder.bias", NPY_F4, 1, {3}, 0, ref_bias, NULL},
    };
    size_t ref_n = 0;
    unsigned char *want = slurp(ref, &ref_n);
    CHECK(want != NULL, "cannot read %s", ref);
    const char *path = tmp_path("ref_mixed.safetensors");
    CHECK(safetensors_write(path, t, 8, &note, 1, err) == RR_OK, "write: %s", err);
    if (want) check_bytes(path, want, ref_n, "our file vs the reference's (raw data)");

    /* The same from program values: F32 and F16 converted from reals while writing (exact:
     * every value is a float, and the halves' values are halves). */
    real weight[6], bias[3], upper[1], half[4];
    for (int i = 0; i < 6; i++) weight[i] = (real)ref_weight[i];
    for (int i = 0; i < 3; i++) bias[i] = (real)ref_bias[i];
    upper[0] = (real)ref_upper[0];
    for (int i = 0; i < 4; i++) half[i] = (real)half_to_float(ref_half[i]);
    t[0].data = NULL, t[0].values = half;
    t[3].data = NULL, t[3].values = weight;
    t[5].data = NULL, t[5].values = upper;
    t[7].data = NULL, t[7].values = bias;
    CHECK(safetensors_write(path, t, 8, &note, 1, err) == RR_OK, "write: %s", err);
    if (want) check_bytes(path, want, ref_n, "our file vs the reference's (from reals)");
    free(want);

    /* Reading the reference's file gives back every tensor, in its data order. */
    Safetensors st;
    int rc = safetensors_read(ref, &st, err);
    CHECK(rc == RR_OK, "read: %s", err);
    if (rc) return;
    static const char *const order[8] = {"step", "emulator.scale", "Upper", "empty", "encoder.bias",
                                         "encoder.weight", "counts", "half"};
    CHECK(st.count == 8, "%zu tensors", st.count);
    for (size_t i = 0; i < st.count && i < 8; i++)
        CHECK(!strcmp(st.tensors[i].name, order[i]), "tensor %zu is %s, want %s", i, st.tensors[i].name, order[i]);
    CHECK(st.metadata_count == 1 && !strcmp(st.metadata[0].key, "note"), "metadata");
    const char *value = safetensors_metadata(&st, "note");
    CHECK(value && !strcmp(value, ref_note), "the note's escapes decode to the original: [%s]", value ? value : "");
    CHECK(safetensors_metadata(&st, "absent") == NULL, "absent metadata found");
    for (int i = 0; i < 8; i++) {
        const SafetensorsTensor *a = safetensors_find(&st, t[i].name);
        CHECK(a && a->dtype == t[i].dtype && a->ndim == t[i].ndim, "find %s", t[i].name);
        for (int d = 0; a && d < a->ndim; d++) CHECK(a->shape[d] == t[i].shape[d], "%s shape", t[i].name);
    }
    CHECK(safetensors_find(&st, "encoder") == NULL && safetensors_find(&st, "") == NULL, "found a missing name");
    const SafetensorsTensor *a = safetensors_find(&st, "step");
    int64_t step = 0;
    if (a) npy_to_i64(a->dtype, a->data, 1, &step);
    CHECK(a && a->count == 1 && step == ref_step, "0-d step = %lld", (long long)step);
    int32_t counts[4] = {0};
    if ((a = safetensors_find(&st, "counts"))) npy_to_i32(a->dtype, a->data, 4, counts);
    CHECK(!memcmp(counts, ref_counts, sizeof counts), "counts");
    uint16_t h[4] = {0};
    if ((a = safetensors_find(&st, "half"))) memcpy(h, a->data, sizeof h);
    CHECK(!memcmp(h, ref_half, sizeof h), "half bits");
    double scale[2] = {0};
    if ((a = safetensors_find(&st, "emulator.scale"))) memcpy(scale, a->data, sizeof scale);
    CHECK(scale[0] == 0.1 && scale[1] == -1e-300, "F64 values");
    CHECK((a = safetensors_find(&st, "empty")) && a->count == 0, "empty tensor");

    real w[6];
    rc = safetensors_load_real(&st, "encoder.weight", 2, (size_t[]){2, 3}, w, err);
    CHECK(rc == RR_OK, "load_real: %s", err);
    for (int i = 0; i < 6 && !rc; i++) CHECK(w[i] == weight[i], "weight[%d] = %g", i, (double)w[i]);
    CHECK(!rc && signbit(w[1]), "-0.0 keeps its sign");
    rc = safetensors_load_real(&st, "encoder.weight", 2, (size_t[]){3, 2}, w, err);
    CHECK(rc == RR_ERR_FORMAT && strstr(err, ref) && strstr(err, "'encoder.weight' has shape (2, 3), expected (3, 2)"),
          "wrong shape: %s", err);
    rc = safetensors_load_real(&st, "decoder.weight", 2, (size_t[]){2, 3}, w, err);
    CHECK(rc == RR_ERR_FORMAT && strstr(err, ref) && strstr(err, "no tensor 'decoder.weight'"), "missing: %s", err);
    safetensors_free(&st);
}

/* ------------------------------------------------------------------------------------------
 * Round trips: every dtype, several metadata pairs, a name that needs escapes, tensors larger
 * than the writer's conversion buffer.
 * ---------------------------------------------------------------------------------------- */
static void test_round_trip(void)
{
    char err[RR_ERRLEN] = "";
    enum { BIG = 10007 };
    float f4[6] = {1.5f, -2, 3e-39f, 7, 8, 9};
    double f8[3] = {1e300, -0.5, 2.0 / 3.0};
    uint16_t f2[5] = {0x0000, 0x8000, 0x7c00, 0xfc00, 0x3555};
    int64_t i8[2] = {INT64_MIN, INT64_MAX};
    int32_t i4[3] = {-7, 0, 123456};
    int16_t i2[4] = {-32768, 32767, 1, -1};
    uint8_t u1[3] = {0, 128, 255};
    real *big = malloc(BIG * sizeof *big), *big_half = malloc(BIG * sizeof *big_half);
    for (int i = 0; i < BIG; i++) {
        big[i] = (real)(i % 97) * (real)0.25 - 12;         /* exact in every dtype used */
        big_half[i] = (real)((i * 7) % 2048) - 1024;       /* exact in float16 */
    }
    SafetensorsTensor t[10] = {
        {"u8", NPY_U1, 1, {3}, 0, u1, NULL},
        {"i16", NPY_I2, 2, {2, 2}, 0, i2, NULL},
        {"f16", NPY_F2, 1, {5}, 0, f2, NULL},
        {"i32", NPY_I4, 3, {1, 3, 1}, 0, i4, NULL},
        {"f32", NPY_F4, 2, {3, 2}, 0, f4, NULL},
        {"f64", NPY_F8, 1, {3}, 0, f8, NULL},
        {"i64", NPY_I8, 1, {2}, 0, i8, NULL},
        {"big.f64", NPY_F8, 2, {BIG, 1}, 0, NULL, big},
        {"big.f16", NPY_F2, 1, {BIG}, 0, NULL, big_half},
        {"q\"\\\n\x01\x7f \xce\xb8", NPY_F4, 1, {BIG}, 0, NULL, big},
    };
    SafetensorsPair meta[3] = {{"zeta", "last"}, {"alpha", ""}, {"mid", "{\"json\": [1]}"}};
    const char *path = tmp_path("round.safetensors");
    CHECK(safetensors_write(path, t, 10, meta, 3, err) == RR_OK, "write: %s", err);
    Safetensors st;
    int rc = safetensors_read(path, &st, err);
    CHECK(rc == RR_OK, "read back: %s", err);
    if (rc) { free(big); free(big_half); return; }
    /* Data order: I64, F64 (by name), F32 (by name), I32, F16 (by name), I16, U8. */
    static const char *const order[10] = {"i64", "big.f64", "f64", "f32", "q\"\\\n\x01\x7f \xce\xb8", "i32",
                                          "big.f16", "f16", "i16", "u8"};
    CHECK(st.count == 10, "%zu tensors", st.count);
    for (size_t i = 0; i < st.count && i < 10; i++)
        CHECK(!strcmp(st.tensors[i].name, order[i]), "tensor %zu is %s, want %s", i, st.tensors[i].name, order[i]);
    for (int i = 0; i < 7; i++) {
        const SafetensorsTensor *a = safetensors_find(&st, t[i].name);
        size_t bytes = npy_dtype_size(t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++) bytes *= t[i].shape[d];
        CHECK(a && a->dtype == t[i].dtype && a->ndim == t[i].ndim && a->count * npy_dtype_size(a->dtype) == bytes &&
              !memcmp(a->data, t[i].data, bytes), "%s comes back unchanged", t[i].name);
    }
    real *back = malloc(BIG * sizeof *back);
    for (int k = 0; k < 3; k++) {
        const char *name = k == 0 ? "big.f64" : k == 1 ? "big.f16" : t[9].name;
        const real *want = k == 1 ? big_half : big;
        int nd = k == 0 ? 2 : 1;
        rc = safetensors_load_real(&st, name, nd, (size_t[]){BIG, 1}, back, err);
        CHECK(rc == RR_OK, "load %s: %s", name, err);
        size_t bad = 0;
        for (int i = 0; i < BIG && !rc; i++) bad += back[i] != want[i];
        CHECK(bad == 0, "%s: %zu values differ", name, bad);
    }
    free(back);
    /* Metadata come back sorted by key. */
    CHECK(st.metadata_count == 3, "%zu metadata pairs", st.metadata_count);
    for (size_t i = 0; i < st.metadata_count && i < 3; i++) {
        const SafetensorsPair *want = &meta[i == 0 ? 1 : i == 1 ? 2 : 0];
        CHECK(!strcmp(st.metadata[i].key, want->key) && !strcmp(st.metadata[i].value, want->value), "metadata %zu", i);
    }
    safetensors_free(&st);
    free(big);
    free(big_half);
}

/* ------------------------------------------------------------------------------------------
 * The writer refuses bad entries and leaves no file.
 * ---------------------------------------------------------------------------------------- */
static void expect_write_error(SafetensorsTensor *t, size_t n, SafetensorsPair *meta, size_t nm, const char *needle)
{
    char err[RR_ERRLEN] = "";
    const char *path = tmp_path("refused.safetensors");
    remove(path);
    int rc = safetensors_write(path, t, n, meta, nm, err);
    CHECK(rc == RR_ERR_FORMAT && strstr(err, path) && strstr(err, needle), "write with %s: rc %d, '%s'", needle, rc,
          err);
    CHECK(!file_exists(path) && !file_exists(tmp_path("refused.safetensors.tmp")), "a refused write made a file");
}

static void test_write_errors(void)
{
    float v[2] = {1, 2};
    int64_t w[2] = {1, 2};
    real r[2] = {1, 2};
    SafetensorsTensor two[2] = {{"a", NPY_F4, 1, {2}, 0, v, NULL}, {"a", NPY_I8, 1, {2}, 0, w, NULL}};
    expect_write_error(two, 2, NULL, 0, "tensor name 'a' appears twice");
    SafetensorsTensor one = {"__metadata__", NPY_F4, 1, {2}, 0, v, NULL};
    expect_write_error(&one, 1, NULL, 0, "reserved");
    one.name = "bad\xff";
    expect_write_error(&one, 1, NULL, 0, "not valid UTF-8");
    one.name = "x";
    one.data = NULL;
    expect_write_error(&one, 1, NULL, 0, "tensor 'x': no data");
    one.data = v, one.values = r;
    expect_write_error(&one, 1, NULL, 0, "not both");
    one.values = NULL, one.ndim = NPY_MAXDIM + 1;
    expect_write_error(&one, 1, NULL, 0, "dimensions");
    one.ndim = 3, one.shape[0] = one.shape[1] = one.shape[2] = (size_t)1 << 31;
    expect_write_error(&one, 1, NULL, 0, "overflows");
    one.ndim = 1, one.shape[0] = 2;
    SafetensorsPair meta[2] = {{"k", "1"}, {"k", "2"}};
    expect_write_error(&one, 1, meta, 2, "metadata key 'k' appears twice");
    meta[1].key = "j", meta[1].value = "\xc0\x80"; /* an overlong NUL */
    expect_write_error(&one, 1, meta, 2, "metadata 'j' is not valid UTF-8");
}

/* ------------------------------------------------------------------------------------------
 * Damaged files. A file is the 8-byte length of header, the header, then ndata bytes.
 * ---------------------------------------------------------------------------------------- */
static void write_with_header(const char *path, const char *header, size_t header_len, size_t ndata)
{
    size_t n = 8 + header_len + ndata;
    unsigned char *buf = calloc(n, 1);
    for (int b = 0; b < 8; b++) buf[b] = (unsigned char)((uint64_t)header_len >> (8 * b));
    memcpy(buf + 8, header, header_len);
    for (size_t i = 0; i < ndata; i++) buf[8 + header_len + i] = (unsigned char)(i * 37 + 1);
    spit(path, buf, n);
    free(buf);
}

/* Reading must give code and a message that names the file and contains needle. */
static void expect_read(const char *path, int code, const char *needle, const char *what)
{
    char err[RR_ERRLEN] = "";
    Safetensors st;
    int rc = safetensors_read(path, &st, err);
    if (code == RR_OK) CHECK(rc == RR_OK, "%s: should be accepted: %s", what, err);
    else CHECK(rc == code && strstr(err, path) && strstr(err, needle), "%s: rc %d (want %d), '%s' (want '%s')", what,
               rc, code, err, needle);
    if (rc == RR_OK) safetensors_free(&st);
    else CHECK(st.tensors == NULL && st.count == 0, "%s: a failed read leaves data", what);
}

static void expect_header(const char *header, size_t ndata, int code, const char *needle)
{
    const char *path = tmp_path("damaged.safetensors");
    write_with_header(path, header, strlen(header), ndata);
    expect_read(path, code, needle, header);
}

#define T(name, dtype, shape, offsets) "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offsets "}"
#define A8 T("a", "F32", "[2]", "[0,8]") /* a valid tensor of 8 bytes */

static void test_damaged_files(void)
{
    const int F = RR_ERR_FORMAT, U = RR_ERR_UNSUPPORTED;
    /* Valid, for contrast: JSON whitespace between tokens, spaces after the object. */
    expect_header("{" A8 "}", 8, RR_OK, "");
    expect_header("{ \"a\" :\n{ \"dtype\" : \"F32\" ,\t\"shape\" : [ 2 ] ,\r\"data_offsets\" : [ 0 , 8 ] } }   ", 8,
                  RR_OK, "");
    expect_header("{\"__metadata__\":{}," A8 "}", 8, RR_OK, "");
    expect_header("{}", 0, RR_OK, "");

    /* Offsets against the data section. */
    expect_header("{" A8 "}", 4, F, "tensor 'a': data_offsets [0, 8] do not lie within the data section of 4 bytes");
    expect_header("{" T("a", "F32", "[0]", "[8,0]") "}", 8, F, "tensor 'a': data_offsets [8, 0] do not lie within");
    expect_header("{" A8 "," T("b", "F32", "[2]", "[4,12]") "}", 12, F, "tensors 'a' [0, 8) and 'b' [4, 12) overlap");
    expect_header("{" A8 "," T("b", "F32", "[0]", "[4,4]") "}", 8, F, "overlap");
    expect_header("{" T("a", "F32", "[1]", "[0,4]") "," T("b", "F32", "[1]", "[8,12]") "}", 12, F,
                  "bytes [4, 8) of the data section, before tensor 'b', belong to no tensor");
    expect_header("{" T("a", "F32", "[1]", "[4,8]") "}", 8, F, "bytes [0, 4) of the data section");
    expect_header("{" T("a", "F32", "[1]", "[0,4]") "}", 8, F, "bytes [4, 8) at the end of the data section");
    expect_header("{}", 4, F, "bytes [0, 4) at the end");
    /* Shape against offsets. */
    expect_header("{" T("a", "F32", "[3]", "[0,8]") "}", 8, F, "tensor 'a': shape (3,) of F32 needs 12 bytes, "
                  "data_offsets [0, 8] hold 8");
    expect_header("{" T("a", "I64", "[]", "[0,4]") "}", 4, F, "shape () of I64 needs 8 bytes");
    expect_header("{" T("a", "F32", "[4294967296,4294967296,4294967296]", "[0,0]") "}", 0, F,
                  "tensor 'a': the byte size of shape (4294967296, 4294967296, 4294967296) overflows");
    expect_header("{" T("a", "U8", "[1,1,1,1,1,1,1,1,1]", "[0,1]") "}", 1, U, "more than 8 dimensions");
    /* Dtypes. */
    expect_header("{" T("a", "F33", "[2]", "[0,8]") "}", 8, F, "tensor 'a': unknown dtype 'F33'");
    expect_header("{" T("a", "BF16", "[2]", "[0,4]") "}", 4, U, "tensor 'a': dtype BF16 is not supported");
    expect_header("{\"a\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, F, "expected the dtype");
    /* Names, members and keys. */
    expect_header("{" A8 "," T("a", "F32", "[2]", "[8,16]") "}", 16, F, "tensor name 'a' appears twice");
    expect_header("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, F,
                  "(tensor 'a'): member 'dtype' appears twice");
    expect_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, F, "tensor 'a': no 'data_offsets'");
    expect_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, F,
                  "unknown member 'x'");
    expect_header("{\"__metadata__\":{},\"__metadata__\":{}}", 0, F, "'__metadata__' appears twice");
    expect_header("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, F, "metadata key 'k' appears twice");
    expect_header("{\"__metadata__\":{\"step\":5}}", 0, F, "metadata 'step' is not a string");
    expect_header("{\"__metadata__\":{\"k\":[\"v\"]}}", 0, F, "metadata 'k' is not a string");
    expect_header("{\"__metadata__\":[\"x\"]}", 0, F, "'__metadata__' is not an object");
    /* JSON. */
    expect_header("", 0, F, "does not start with '{'");
    expect_header(" {}", 0, F, "does not start with '{'");
    expect_header("[]", 0, F, "does not start with '{'");
    expect_header("{}x", 0, F, "bytes after the header's object");
    expect_header("{}\n", 0, F, "bytes after the header's object");
    expect_header("{\"a\" {}}", 0, F, "expected ':'");
    expect_header("{" A8 ",}", 8, F, "expected a tensor name");
    expect_header("{" A8, 8, F, "expected ',' or '}' after a tensor");
    expect_header("{\"a\":null}", 0, F, "at byte 5 of the header (tensor 'a'): expected an object");
    expect_header("{\"a\":{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,8]}}", 8, F, "'shape' is not an array");
    expect_header("{" T("a", "F32", "[2,]", "[0,8]") "}", 8, F, "expected a dimension");
    expect_header("{" T("a", "F32", "[2.0]", "[0,8]") "}", 8, F, "a dimension is not an integer");
    expect_header("{" T("a", "F32", "[2e0]", "[0,8]") "}", 8, F, "a dimension is not an integer");
    expect_header("{" T("a", "F32", "[-2]", "[0,8]") "}", 8, F, "a dimension is negative");
    expect_header("{" T("a", "F32", "[02]", "[0,8]") "}", 8, F, "a dimension has a leading zero");
    expect_header("{" T("a", "F32", "[2]", "[0,8,8]") "}", 8, F, "'data_offsets' must hold two integers");
    expect_header("{" T("a", "F32", "[2]", "[0]") "}", 8, F, "'data_offsets' must hold two integers");
    expect_header("{" T("a", "F32", "[2]", "[0,18446744073709551616]") "}", 8, F, "an offset is too large");
    expect_header("{\"a", 0, F, "unterminated string");
    expect_header("{\"\\q\":{}}", 0, F, "invalid escape");
    expect_header("{\"\\u12g4\":{}}", 0, F, "4 hex digits");
    expect_header("{\"a\tb\":{}}", 0, F, "control byte 0x09");
    expect_header("{\"\xff\":{}}", 0, F, "invalid UTF-8");
    expect_header("{\"\xc0\x80\":{}}", 0, F, "invalid UTF-8");      /* overlong */
    expect_header("{\"\xed\xa0\x80\":{}}", 0, F, "invalid UTF-8");  /* a surrogate */
    expect_header("{\"\xf4\x90\x80\x80\":{}}", 0, F, "invalid UTF-8"); /* above U+10FFFF */
    expect_header("{\"\xe2\x82\":{}}", 0, F, "invalid UTF-8");      /* cut short */
    expect_header("{\"\\ud800\":{}}", 0, F, "unpaired surrogate \\ud800");
    expect_header("{\"\\ud800\\u0041\":{}}", 0, F, "unpaired surrogate");
    expect_header("{\"\\udc00\":{}}", 0, F, "unpaired surrogate \\udc00");
    expect_header("{\"a\\u0000b\":{}}", 0, U, "\\u0000");

    /* Escapes decode to UTF-8: "caf\u00e9 \ud83d\ude00" is "café 😀". */
    const char *path = tmp_path("damaged.safetensors");
    const char *escaped = "{\"caf\\u00e9 \\ud83d\\ude00\\/\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
    write_with_header(path, escaped, strlen(escaped), 1);
    Safetensors st;
    char err[RR_ERRLEN] = "";
    CHECK(safetensors_read(path, &st, err) == RR_OK, "escaped name: %s", err);
    CHECK(st.count == 1 && safetensors_find(&st, "caf\xc3\xa9 \xf0\x9f\x98\x80/"), "escaped name decodes");
    safetensors_free(&st);

    /* The header length itself. */
    unsigned char raw[16] = {0};
    spit(path, raw, 5);
    expect_read(path, F, "5 bytes, too short for the 8-byte header length", "5-byte file");
    raw[0] = 9; /* N = 9, but only 8 bytes follow */
    spit(path, raw, 16);
    expect_read(path, F, "header length 9 runs past the end of the file (16 bytes)", "N past the end");
    memset(raw, 0, 8), raw[7] = 0x80; /* N = 2^63 */
    spit(path, raw, 16);
    expect_read(path, F, "header length 9223372036854775808 exceeds the limit of 100000000 bytes", "N = 2^63");
    uint64_t over = 100000001;
    for (int b = 0; b < 8; b++) raw[b] = (unsigned char)(over >> (8 * b));
    spit(path, raw, 16);
    expect_read(path, F, "exceeds the limit", "N = 100000001");
    expect_read(tmp_path("no_such_file.safetensors"), RR_ERR_OPEN, "cannot open", "missing file");
}

/* Every proper prefix of a small valid file is refused cleanly; the whole file is read. */
static void test_truncated(void)
{
    char err[RR_ERRLEN] = "";
    const float a[3] = {1, 2, 3};
    const int64_t b = -1;
    SafetensorsTensor t[2] = {{"a", NPY_F4, 1, {3}, 0, a, NULL}, {"b", NPY_I8, 0, {0}, 0, &b, NULL}};
    SafetensorsPair meta = {"step", "7"};
    const char *whole = tmp_path("whole.safetensors"), *cut = tmp_path("cut.safetensors");
    CHECK(safetensors_write(whole, t, 2, &meta, 1, err) == RR_OK, "write: %s", err);
    size_t n = 0;
    unsigned char *bytes = slurp(whole, &n);
    CHECK(bytes && n > 100, "whole file %zu bytes", n);
    size_t refused = 0;
    for (size_t len = 0; bytes && len < n; len++) {
        Safetensors st;
        spit(cut, bytes, len);
        int rc = safetensors_read(cut, &st, err);
        refused += rc == RR_ERR_FORMAT && strstr(err, cut) != NULL;
        if (rc == RR_OK) safetensors_free(&st);
    }
    CHECK(refused == n, "%zu of %zu prefixes refused with a message", refused, n);
    expect_read(whole, RR_OK, "", "the whole file");

    /* Every byte replaced by each of a few troublemakers: read or refused with a message
     * naming the file, never a crash (this is what make debug's sanitizers watch). */
    static const unsigned char evil[] = {0x00, 0xff, '"', '\\', '{', '9', ' ', 0x80};
    size_t clean = 0, tried = 0;
    for (size_t i = 0; bytes && i < n; i++)
        for (size_t k = 0; k < sizeof evil; k++) {
            unsigned char keep = bytes[i];
            Safetensors st;
            bytes[i] = evil[k];
            spit(cut, bytes, n);
            bytes[i] = keep;
            err[0] = '\0';
            int rc = safetensors_read(cut, &st, err);
            clean += rc == RR_OK || ((rc == RR_ERR_FORMAT || rc == RR_ERR_UNSUPPORTED) && strstr(err, cut));
            tried++;
            if (rc == RR_OK) safetensors_free(&st);
        }
    CHECK(clean == tried, "%zu of %zu corrupted files handled cleanly", clean, tried);
    free(bytes);
}

int main(void)
{
    test_hand_computed();
    test_reference_file();
    test_round_trip();
    test_write_errors();
    test_damaged_files();
    test_truncated();
    return test_summary("test_safetensors");
}
