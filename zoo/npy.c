/*
 * npy.c — NumPy .npy files (read, write, grow row by row) and float16 conversion.
 *
 * The format (numpy/lib/format.py): "\x93NUMPY", major, minor, header length HLEN (uint16 LE
 * in 1.0, uint32 LE in 2.0 and 3.0), HLEN bytes of a Python dict literal padded with spaces and
 * ending in '\n', then the data. We write the dict exactly as NumPy does:
 *     "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }" + growth + pad + "\n"
 * growth = 21 - digits(shape[0]) spaces (none for 0-d), so that shape[0] can be rewritten in
 * place; pad = 64 - (prefix + len(dict) + growth + 1) % 64 spaces (1 to 64), so the data starts
 * at a multiple of 64. Data is little-endian; on a big-endian host we swap bytes.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rnnrep.h"

#define NPY_MAX_HEADER (1u << 20) /* longer headers are refused: ours are < 400 bytes */

/* ========================================================================================
 * float16. Any finite double is rounded once to the nearest binary16 (ties to even); a float
 * converts exactly to double first, so both paths give NumPy's results. NaNs are handled on
 * the bits, because a float -> double conversion may quiet a signalling NaN.
 * ====================================================================================== */

uint16_t half_from_double(double x)
{
    uint64_t d;
    memcpy(&d, &x, sizeof d);
    uint16_t sign = (uint16_t)((d >> 48) & 0x8000u);
    uint64_t biased = (d >> 52) & 0x7ff, sig = d & 0xfffffffffffffull;
    if (biased == 0x7ff) {
        if (sig == 0) return (uint16_t)(sign | 0x7c00u);           /* inf */
        uint16_t h = (uint16_t)(0x7c00u | (sig >> 42));            /* NaN: top 10 payload bits */
        return (uint16_t)(sign | (h == 0x7c00u ? 0x7c01u : h));
    }
    int e = (int)biased - 1023;                 /* |x| in [2^e, 2^(e+1)) */
    if (e >= 16) return (uint16_t)(sign | 0x7c00u);                /* >= 65536: inf */
    if (e < -25) return sign;                   /* < 2^-25, half the smallest subnormal: 0 */
    /* x = m * 2^(e-52); the half's unit in the last place is 2^(e-10) for normals (e >= -14)
     * and 2^-24 for subnormals. Keep m >> shift, round the rest to nearest even. */
    uint64_t m = sig | (1ull << 52);
    int shift = e >= -14 ? 42 : 28 - e;         /* 42 .. 53 */
    uint64_t keep = m >> shift, rest = m & ((1ull << shift) - 1), halfway = 1ull << (shift - 1);
    if (rest > halfway || (rest == halfway && (keep & 1))) keep++;
    /* Normals: keep in [1024, 2048] includes the implicit bit, so adding it to the exponent
     * field (e + 14) << 10 also carries a rounding overflow into the next binade (or inf).
     * Subnormals: keep in [0, 1024]; 1024 is the smallest normal, 0x0400. */
    if (e >= -14) return (uint16_t)(sign | (((uint32_t)(e + 14) << 10) + (uint32_t)keep));
    return (uint16_t)(sign | keep);
}

uint16_t half_from_float(float x)
{
    uint32_t f;
    memcpy(&f, &x, sizeof f);
    if ((f & 0x7f800000u) == 0x7f800000u && (f & 0x007fffffu)) {
        uint16_t sign = (uint16_t)((f >> 16) & 0x8000u);
        uint16_t h = (uint16_t)(0x7c00u | ((f & 0x007fffffu) >> 13));
        return (uint16_t)(sign | (h == 0x7c00u ? 0x7c01u : h));
    }
    return half_from_double((double)x);
}

float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, sig = h & 0x3ffu, f;
    if (exp == 0x1f) f = sign | 0x7f800000u | (sig << 13);          /* inf, NaN with payload */
    else if (exp) f = sign | ((exp + 112) << 23) | (sig << 13);     /* rebias 15 -> 127 */
    else if (sig == 0) f = sign;
    else { /* subnormal: sig * 2^-24; normalise so the leading 1 is at bit 10 */
        int e = -1;
        do { sig <<= 1; e++; } while (!(sig & 0x400u));
        f = sign | ((uint32_t)(112 - e) << 23) | ((sig & 0x3ffu) << 13);
    }
    float x;
    memcpy(&x, &f, sizeof x);
    return x;
}

/* ========================================================================================
 * Dtypes, byte order, conversions.
 * ====================================================================================== */

const char *const npy_descr[NPY_DTYPE_COUNT] = {"<f4", "<f8", "<f2", "<i2", "<i4", "<i8", "|u1"};
static const size_t dtype_size[NPY_DTYPE_COUNT] = {4, 8, 2, 2, 4, 8, 1};

size_t npy_dtype_size(NpyDtype dtype) { return dtype_size[dtype]; }

static int host_is_big_endian(void)
{
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 0;
}

static void swap_bytes(void *p, size_t count, size_t size)
{
    unsigned char *b = p;
    for (size_t i = 0; i < count; i++, b += size)
        for (size_t j = 0; j < size / 2; j++) {
            unsigned char t = b[j];
            b[j] = b[size - 1 - j];
            b[size - 1 - j] = t;
        }
}

static int is_float(NpyDtype t) { return t == NPY_F4 || t == NPY_F8 || t == NPY_F2; }

/* Element i of a buffer as a double (float dtypes) or an int64 (integer dtypes). */
static double load_double(NpyDtype t, const unsigned char *p)
{
    float f;
    double d;
    uint16_t h;
    switch (t) {
    case NPY_F4: memcpy(&f, p, 4); return f;
    case NPY_F8: memcpy(&d, p, 8); return d;
    default: memcpy(&h, p, 2); return half_to_float(h);
    }
}

static int64_t load_int(NpyDtype t, const unsigned char *p)
{
    int16_t i2;
    int32_t i4;
    int64_t i8;
    switch (t) {
    case NPY_I2: memcpy(&i2, p, 2); return i2;
    case NPY_I4: memcpy(&i4, p, 4); return i4;
    case NPY_I8: memcpy(&i8, p, 8); return i8;
    default: return *p;
    }
}

/* Float to integer as NumPy's astype: truncate toward zero; we also saturate and map NaN to 0. */
static int64_t double_to_int(double x, int64_t lo, int64_t hi)
{
    if (x != x) return 0;
    if (x <= (double)lo) return lo;
    if (x >= (double)hi) return hi;   /* (double)INT64_MAX rounds up to 2^63, so >= is right */
    return (int64_t)x;
}

static void store_int(NpyDtype t, int64_t v, unsigned char *p)
{
    int16_t i2;
    int32_t i4;
    switch (t) {
    case NPY_I2: i2 = (int16_t)(v < INT16_MIN ? INT16_MIN : v > INT16_MAX ? INT16_MAX : v); memcpy(p, &i2, 2); break;
    case NPY_I4: i4 = (int32_t)(v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : v); memcpy(p, &i4, 4); break;
    case NPY_I8: memcpy(p, &v, 8); break;
    default: *p = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v); break;
    }
}

static void store_double(NpyDtype t, double x, unsigned char *p)
{
    float f;
    uint16_t h;
    switch (t) {
    case NPY_F4: f = (float)x; memcpy(p, &f, 4); break;
    case NPY_F8: memcpy(p, &x, 8); break;
    case NPY_F2: h = half_from_double(x); memcpy(p, &h, 2); break;
    case NPY_I8: store_int(t, double_to_int(x, INT64_MIN, INT64_MAX), p); break;
    default: store_int(t, double_to_int(x, INT32_MIN, INT32_MAX), p); break; /* then narrowed */
    }
}

void npy_to_real(NpyDtype dtype, const void *src, size_t n, real *dst)
{
    const unsigned char *p = src;
    size_t size = dtype_size[dtype];
    for (size_t i = 0; i < n; i++, p += size)
        dst[i] = is_float(dtype) ? (real)load_double(dtype, p) : (real)load_int(dtype, p);
}

void npy_from_real(NpyDtype dtype, const real *src, size_t n, void *dst)
{
    unsigned char *p = dst;
    size_t size = dtype_size[dtype];
    for (size_t i = 0; i < n; i++, p += size) {
#ifndef RNNREP_DOUBLE
        if (dtype == NPY_F2) { /* round float -> half directly (float -> double is exact anyway) */
            uint16_t h = half_from_float(src[i]);
            memcpy(p, &h, 2);
            continue;
        }
#endif
        store_double(dtype, (double)src[i], p);
    }
}

void npy_to_i64(NpyDtype dtype, const void *src, size_t n, int64_t *dst)
{
    const unsigned char *p = src;
    size_t size = dtype_size[dtype];
    for (size_t i = 0; i < n; i++, p += size)
        dst[i] = is_float(dtype) ? double_to_int(load_double(dtype, p), INT64_MIN, INT64_MAX)
                                 : load_int(dtype, p);
}

void npy_from_i64(NpyDtype dtype, const int64_t *src, size_t n, void *dst)
{
    unsigned char *p = dst;
    size_t size = dtype_size[dtype];
    for (size_t i = 0; i < n; i++, p += size) {
        if (is_float(dtype)) store_double(dtype, (double)src[i], p);
        else store_int(dtype, src[i], p);
    }
}

void npy_to_i32(NpyDtype dtype, const void *src, size_t n, int32_t *dst)
{
    const unsigned char *p = src;
    size_t size = dtype_size[dtype];
    for (size_t i = 0; i < n; i++, p += size) {
        int64_t v = is_float(dtype) ? double_to_int(load_double(dtype, p), INT32_MIN, INT32_MAX)
                                    : load_int(dtype, p);
        dst[i] = (int32_t)(v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : v);
    }
}

void npy_from_i32(NpyDtype dtype, const int32_t *src, size_t n, void *dst)
{
    unsigned char *p = dst;
    size_t size = dtype_size[dtype];
    for (size_t i = 0; i < n; i++, p += size) {
        if (is_float(dtype)) store_double(dtype, (double)src[i], p);
        else store_int(dtype, src[i], p);
    }
}

/* ========================================================================================
 * Arrays.
 * ====================================================================================== */

/* count = product of shape and bytes = count * size; 0 if either overflows size_t. */
static int shape_size(int ndim, const size_t *shape, size_t size, size_t *count, size_t *bytes)
{
    size_t c = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] && c > SIZE_MAX / shape[i]) return 0;
        c *= shape[i];
    }
    if (c > SIZE_MAX / size) return 0;
    *count = c;
    *bytes = c * size;
    return 1;
}

void npy_alloc(NpyArray *a, NpyDtype dtype, int ndim, const size_t *shape)
{
    size_t bytes;
    if (ndim < 0 || ndim > NPY_MAXDIM) rr_fatal("npy_alloc: %d dimensions (0 to %d allowed)", ndim, NPY_MAXDIM);
    memset(a, 0, sizeof *a);
    a->dtype = dtype;
    a->ndim = ndim;
    for (int i = 0; i < ndim; i++) a->shape[i] = shape[i];
    if (!shape_size(ndim, shape, dtype_size[dtype], &a->count, &bytes))
        rr_fatal("npy_alloc: shape overflows size_t");
    a->data = rr_calloc(bytes, 1, "npy array");
}

void npy_free(NpyArray *a)
{
    free(a->data);
    a->data = NULL;
}

void npy_shape_str(int ndim, const size_t *shape, char *buf, size_t len)
{
    size_t used = 0;
    if (len == 0) return;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < ndim && used < len; i++) {
        if (shape[i] == NPY_ANY) used += (size_t)snprintf(buf + used, len - used, "%sany", i ? ", " : "");
        else used += (size_t)snprintf(buf + used, len - used, "%s%zu", i ? ", " : "", shape[i]);
    }
    if (used < len) snprintf(buf + used, len - used, ndim == 1 ? ",)" : ")");
}

int npy_expect(const NpyArray *a, const char *path, NpyDtype dtype, int ndim, const size_t *shape,
               char *err)
{
    int ok = a->dtype == dtype && a->ndim == ndim;
    for (int i = 0; ok && shape && i < ndim; i++) ok = shape[i] == NPY_ANY || shape[i] == a->shape[i];
    if (ok) return RR_OK;
    char want[256], got[256];
    if (shape) npy_shape_str(ndim, shape, want, sizeof want);
    else snprintf(want, sizeof want, "with %d dimensions", ndim);
    npy_shape_str(a->ndim, a->shape, got, sizeof got);
    return rr_error(err, RR_ERR_FORMAT, "%s: expected %s %s, found %s %s", path, npy_descr[dtype], want,
                    npy_descr[a->dtype], got);
}

/* ========================================================================================
 * Header: build and parse.
 * ====================================================================================== */

/* The header bytes for dtype and shape into buf (cap >= 1024). total == 0: NumPy's own
 * layout (growth padding, 64-byte alignment, version 1.0 unless too long). total > 0: the dict
 * padded with spaces to exactly total bytes in the given version. Returns the length, or 0 if
 * the dict does not fit into total. */
static size_t build_header(char *buf, NpyDtype dtype, int ndim, const size_t *shape, size_t total,
                           int *version)
{
    char dict[640], shape_str[256];
    npy_shape_str(ndim, shape, shape_str, sizeof shape_str);
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     npy_descr[dtype], shape_str);
    size_t dict_len = (size_t)n;
    if (total == 0) {
        if (ndim > 0) {
            char digits[32];
            size_t growth = 21 - (size_t)snprintf(digits, sizeof digits, "%zu", shape[0]);
            memset(dict + dict_len, ' ', growth);
            dict_len += growth;
        }
        size_t hlen = dict_len + 1; /* + '\n' */
        *version = 1;
        total = 10 + hlen + (64 - (10 + hlen) % 64);
        if (total - 10 > 65535) {
            *version = 2;
            total = 12 + hlen + (64 - (12 + hlen) % 64);
        }
    }
    size_t prefix = *version == 1 ? 10 : 12, hlen = total - prefix;
    if (prefix + dict_len + 1 > total || total > 1024) return 0;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (char)*version;
    buf[7] = 0;
    for (size_t i = 0; i < prefix - 8; i++) buf[8 + i] = (char)((hlen >> (8 * i)) & 0xff);
    memcpy(buf + prefix, dict, dict_len);
    memset(buf + prefix + dict_len, ' ', total - prefix - dict_len - 1);
    buf[total - 1] = '\n';
    return total;
}

/* A cursor over the header dict, for error messages with the offending position. */
typedef struct Parser {
    const char *s;
    size_t pos, len;
    const char *path;
    char *err;
} Parser;

static int bad(Parser *p, const char *what)
{
    return rr_error(p->err, RR_ERR_FORMAT, "%s: malformed header at byte %zu of the dict: %s",
                    p->path, p->pos, what);
}

static void skip_space(Parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
                               p->s[p->pos] == '\r'))
        p->pos++;
}

static int expect_char(Parser *p, char c, const char *what)
{
    skip_space(p);
    if (p->pos >= p->len) return bad(p, "the dict ends early (header length too small?)");
    if (p->s[p->pos] != c) return bad(p, what);
    p->pos++;
    return RR_OK;
}

/* A Python string literal in ' or " quotes, without escapes (NumPy never writes any). */
static int parse_string(Parser *p, char *out, size_t cap)
{
    skip_space(p);
    if (p->pos >= p->len) return bad(p, "the dict ends early (header length too small?)");
    char q = p->s[p->pos];
    if (q != '\'' && q != '"') return bad(p, "expected a quoted string");
    size_t start = ++p->pos;
    while (p->pos < p->len && p->s[p->pos] != q && p->s[p->pos] != '\\' && p->s[p->pos] != '\n') p->pos++;
    if (p->pos >= p->len || p->s[p->pos] != q) return bad(p, "unterminated string");
    size_t n = p->pos - start;
    p->pos++;
    if (n >= cap) return bad(p, "string too long");
    memcpy(out, p->s + start, n);
    out[n] = '\0';
    return RR_OK;
}

/* "(3, 4)", "(5,)" or "()"; Python 2 writers may have added an 'L' to each integer. */
static int parse_shape(Parser *p, int *ndim, size_t *shape)
{
    int rc = expect_char(p, '(', "'shape' is not a tuple");
    if (rc) return rc;
    *ndim = 0;
    int trailing_comma = 0;
    for (;;) {
        skip_space(p);
        if (p->pos < p->len && p->s[p->pos] == ')') { p->pos++; break; }
        if (p->pos >= p->len) return bad(p, "the dict ends early (header length too small?)");
        if (p->s[p->pos] == '-') return bad(p, "negative dimension in 'shape'");
        if (p->s[p->pos] < '0' || p->s[p->pos] > '9') return bad(p, "'shape' must hold integers");
        size_t v = 0;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
            size_t digit = (size_t)(p->s[p->pos] - '0');
            if (v > (SIZE_MAX - digit) / 10)
                return rr_error(p->err, RR_ERR_FORMAT, "%s: a dimension in 'shape' overflows size_t", p->path);
            v = v * 10 + digit;
            p->pos++;
        }
        if (p->pos < p->len && (p->s[p->pos] == 'L' || p->s[p->pos] == 'l')) p->pos++;
        if (*ndim == NPY_MAXDIM)
            return rr_error(p->err, RR_ERR_UNSUPPORTED, "%s: more than %d dimensions are not supported",
                            p->path, NPY_MAXDIM);
        shape[(*ndim)++] = v;
        skip_space(p);
        trailing_comma = 0;
        if (p->pos < p->len && p->s[p->pos] == ',') { p->pos++; trailing_comma = 1; continue; }
        rc = expect_char(p, ')', "expected ',' or ')' in 'shape'");
        if (rc) return rc;
        break;
    }
    if (*ndim == 1 && !trailing_comma) return bad(p, "'shape' (n) is not a tuple; NumPy writes (n,)");
    return RR_OK;
}

/* Known dtype, or a message saying why not. */
static int parse_descr(Parser *p, const char *descr, NpyDtype *dtype)
{
    for (int t = 0; t < NPY_DTYPE_COUNT; t++)
        if (!strcmp(descr, npy_descr[t]) || (t == NPY_U1 && (!strcmp(descr, "<u1") || !strcmp(descr, ">u1")))) {
            *dtype = (NpyDtype)t;
            return RR_OK;
        }
    if (descr[0] == '>') {
        for (int t = 0; t < NPY_DTYPE_COUNT; t++)
            if (!strcmp(descr + 1, npy_descr[t] + 1))
                return rr_error(p->err, RR_ERR_UNSUPPORTED, "%s: big-endian dtype '%s' is not supported",
                                p->path, descr);
    }
    return rr_error(p->err, RR_ERR_UNSUPPORTED,
                    "%s: dtype '%s' is not supported (only <f4 <f8 <f2 <i2 <i4 <i8 |u1)", p->path, descr);
}

static int parse_dict(Parser *p, NpyArray *a)
{
    int seen[3] = {0, 0, 0}, fortran = 0, rc;
    char key[64], descr[64];
    if ((rc = expect_char(p, '{', "the header is not a dict (expected '{')"))) return rc;
    for (;;) {
        skip_space(p);
        if (p->pos < p->len && p->s[p->pos] == '}') { p->pos++; break; }
        if ((rc = parse_string(p, key, sizeof key))) return rc;
        if ((rc = expect_char(p, ':', "expected ':' after a key"))) return rc;
        int k = !strcmp(key, "descr") ? 0 : !strcmp(key, "fortran_order") ? 1 : !strcmp(key, "shape") ? 2 : -1;
        if (k < 0) return bad(p, "unexpected key (only 'descr', 'fortran_order', 'shape')");
        if (seen[k]++) return bad(p, "duplicate key");
        skip_space(p);
        if (k == 0) {
            if (p->pos < p->len && p->s[p->pos] != '\'' && p->s[p->pos] != '"')
                return rr_error(p->err, RR_ERR_UNSUPPORTED, "%s: structured dtypes are not supported", p->path);
            if ((rc = parse_string(p, descr, sizeof descr))) return rc;
        } else if (k == 1) {
            if (p->len - p->pos >= 4 && !strncmp(p->s + p->pos, "True", 4)) { fortran = 1; p->pos += 4; }
            else if (p->len - p->pos >= 5 && !strncmp(p->s + p->pos, "False", 5)) p->pos += 5;
            else return bad(p, "'fortran_order' must be True or False");
        } else if ((rc = parse_shape(p, &a->ndim, a->shape))) {
            return rc;
        }
        skip_space(p);
        if (p->pos < p->len && p->s[p->pos] == ',') { p->pos++; continue; }
        if ((rc = expect_char(p, '}', "expected ',' or '}' after a value"))) return rc;
        break;
    }
    size_t end = p->pos;
    skip_space(p);
    if (p->pos != p->len) return bad(p, "bytes after the dict (header length too large?)");
    if (!memchr(p->s + end, '\n', p->len - end)) /* NumPy always ends the header with '\n' */
        return bad(p, "no newline after the dict (header length too small?)");
    for (int k = 0; k < 3; k++)
        if (!seen[k]) {
            static const char *const names[3] = {"descr", "fortran_order", "shape"};
            return rr_error(p->err, RR_ERR_FORMAT, "%s: header has no '%s'", p->path, names[k]);
        }
    if ((rc = parse_descr(p, descr, &a->dtype))) return rc;
    if (fortran) { /* the same bytes as C order when at most one dimension exceeds 1 */
        int big = 0;
        for (int i = 0; i < a->ndim; i++) big += a->shape[i] > 1;
        if (big > 1) return rr_error(p->err, RR_ERR_UNSUPPORTED, "%s: Fortran-order arrays are not supported", p->path);
    }
    return RR_OK;
}

/* ========================================================================================
 * Files.
 * ====================================================================================== */

/* fseek to an absolute offset that may exceed LONG_MAX. */
static int seek_to(FILE *fp, uint64_t offset)
{
    if (fseek(fp, 0, SEEK_SET)) return -1;
    while (offset > (uint64_t)LONG_MAX) {
        if (fseek(fp, LONG_MAX, SEEK_CUR)) return -1;
        offset -= (uint64_t)LONG_MAX;
    }
    return fseek(fp, (long)offset, SEEK_CUR);
}

static char *copy_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = rr_malloc(n, "path");
    memcpy(c, s, n);
    return c;
}

/* Write count elements of size bytes in little-endian order. */
static int write_le(FILE *fp, const void *data, size_t count, size_t size)
{
    if (size == 1 || !host_is_big_endian()) return fwrite(data, size, count, fp) == count ? 0 : -1;
    unsigned char chunk[4096];
    const unsigned char *p = data;
    for (size_t done = 0; done < count;) {
        size_t n = count - done < sizeof chunk / size ? count - done : sizeof chunk / size;
        memcpy(chunk, p + done * size, n * size);
        swap_bytes(chunk, n, size);
        if (fwrite(chunk, size, n, fp) != n) return -1;
        done += n;
    }
    return 0;
}

static void file_release(NpyFile *f)
{
    if (f->fp) fclose(f->fp);
    free(f->path);
    memset(f, 0, sizeof *f);
}

/* Open path, read and check the header; f->fp is left at the start of the data. */
static int open_file(NpyFile *f, const char *path, const char *mode, char *err)
{
    unsigned char pre[12];
    memset(f, 0, sizeof *f);
    f->fp = fopen(path, mode);
    if (!f->fp) return rr_error(err, RR_ERR_OPEN, "%s: cannot open: %s", path, strerror(errno));
    f->path = copy_string(path);
    f->writable = mode[1] == '+' || mode[2] == '+';
    long size = rr_file_size(f->fp); /* every count the header claims is bounded by it */
    if (size < 0) {
        file_release(f);
        return rr_error(err, RR_ERR_UNSUPPORTED, "%s: its size cannot be read (not a regular file?)", path);
    }
    int rc;
    size_t got = fread(pre, 1, 10, f->fp);
    if (got < 6 || memcmp(pre, "\x93NUMPY", 6))
        rc = rr_error(err, RR_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
    else if (got < 10)
        rc = rr_error(err, RR_ERR_FORMAT, "%s: truncated header (file has %zu bytes)", path, got);
    else if ((pre[6] != 1 && pre[6] != 2 && pre[6] != 3) || pre[7] != 0)
        rc = rr_error(err, RR_ERR_UNSUPPORTED, "%s: .npy format version %d.%d is not supported", path,
                      pre[6], pre[7]);
    else rc = RR_OK;
    if (rc) { file_release(f); return rc; }
    f->version = pre[6];
    size_t prefix = 10, hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    if (f->version > 1) {
        if (fread(pre + 10, 1, 2, f->fp) != 2) {
            file_release(f);
            return rr_error(err, RR_ERR_FORMAT, "%s: truncated header", path);
        }
        prefix = 12;
        hlen |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    }
    if (hlen > NPY_MAX_HEADER || (uint64_t)prefix + hlen > (uint64_t)size) {
        file_release(f);
        return rr_error(err, RR_ERR_FORMAT, "%s: header claims %zu bytes but the file has only %ld after the "
                        "length field", path, hlen, size - (long)prefix);
    }
    char *text = rr_malloc(hlen + 1, "npy header");
    if (fread(text, 1, hlen, f->fp) != hlen) {
        free(text);
        file_release(f);
        return rr_error(err, RR_ERR_FORMAT, "%s: header claims %zu bytes but the file ends early", path, hlen);
    }
    Parser p = {text, 0, hlen, path, err};
    rc = parse_dict(&p, &f->array);
    free(text);
    if (rc) { file_release(f); return rc; }
    size_t bytes, unused;
    if (!shape_size(f->array.ndim, f->array.shape, dtype_size[f->array.dtype], &f->array.count, &bytes) ||
        !shape_size(f->array.ndim - 1, f->array.shape + 1, dtype_size[f->array.dtype], &unused, &f->row_bytes) ||
        bytes > UINT64_MAX - prefix - hlen) {
        char s[256];
        npy_shape_str(f->array.ndim, f->array.shape, s, sizeof s);
        file_release(f);
        return rr_error(err, RR_ERR_FORMAT, "%s: shape %s is too large: its byte size overflows size_t", path, s);
    }
    if (f->array.ndim == 0) f->row_bytes = dtype_size[f->array.dtype];
    f->header_bytes = prefix + hlen;
    if ((uint64_t)size < (uint64_t)f->header_bytes + bytes) {
        char s[256];
        npy_shape_str(f->array.ndim, f->array.shape, s, sizeof s);
        file_release(f);
        return rr_error(err, RR_ERR_FORMAT, "%s: truncated: shape %s needs %zu data bytes, the file holds %llu",
                        path, s, bytes, (unsigned long long)((uint64_t)size - (prefix + hlen)));
    }
    return RR_OK;
}

int npy_open(NpyFile *f, const char *path, char *err) { return open_file(f, path, "rb", err); }

int npy_read_rows(NpyFile *f, size_t first, size_t n, void *dst, char *err)
{
    size_t rows = f->array.ndim ? f->array.shape[0] : 1;
    if (first > rows || n > rows - first)
        return rr_error(err, RR_ERR_FORMAT, "%s: rows %zu..%zu requested, the file has %zu", f->path, first,
                        first + n, rows);
    if (n == 0 || f->row_bytes == 0) return RR_OK;
    if (seek_to(f->fp, (uint64_t)f->header_bytes + (uint64_t)first * f->row_bytes))
        return rr_error(err, RR_ERR_IO, "%s: cannot seek to row %zu: %s", f->path, first, strerror(errno));
    if (fread(dst, f->row_bytes, n, f->fp) != n)
        return rr_error(err, RR_ERR_IO, "%s: read of rows %zu..%zu failed%s", f->path, first, first + n,
                        feof(f->fp) ? " (file truncated)" : "");
    size_t size = dtype_size[f->array.dtype];
    if (size > 1 && host_is_big_endian()) swap_bytes(dst, n * f->row_bytes / size, size);
    return RR_OK;
}

int npy_close(NpyFile *f, char *err)
{
    int rc = RR_OK;
    if (f->fp && fclose(f->fp))
        rc = rr_error(err, RR_ERR_IO, "%s: close failed: %s", f->path ? f->path : "npy", strerror(errno));
    f->fp = NULL;
    file_release(f);
    return rc;
}

int npy_read(const char *path, NpyArray *a, char *err)
{
    NpyFile f;
    memset(a, 0, sizeof *a);
    int rc = npy_open(&f, path, err);
    if (rc) return rc;
    NpyArray got = f.array;
    got.data = rr_malloc(got.count * dtype_size[got.dtype], "npy data");
    size_t rows = got.ndim ? got.shape[0] : 1;
    rc = npy_read_rows(&f, 0, rows, got.data, err);
    if (rc) {
        npy_close(&f, NULL);
        free(got.data);
        return rc;
    }
    npy_close(&f, NULL); /* read-only: nothing can be lost */
    *a = got;
    return RR_OK;
}

int npy_write(const char *path, const NpyArray *a, char *err)
{
    char header[1024], *tmp = rr_malloc(strlen(path) + 5, "path");
    int version;
    size_t hbytes = build_header(header, a->dtype, a->ndim, a->shape, 0, &version);
    sprintf(tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        int rc = rr_error(err, RR_ERR_OPEN, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    int failed = fwrite(header, 1, hbytes, fp) != hbytes;
    if (!failed && a->count) failed = write_le(fp, a->data, a->count, dtype_size[a->dtype]) != 0;
    if (fclose(fp)) failed = 1;
    int rc = RR_OK;
    if (failed) rc = rr_error(err, RR_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    else if (rr_replace_file(tmp, path))
        rc = rr_error(err, RR_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    if (rc) remove(tmp);
    free(tmp);
    return rc;
}

/* Rewrite the header for the current shape in its existing length, then return to the end. */
static int rewrite_header(NpyFile *f, char *err)
{
    char header[1024];
    int version = f->version;
    size_t n = build_header(header, f->array.dtype, f->array.ndim, f->array.shape, f->header_bytes, &version);
    if (n == 0)
        return rr_error(err, RR_ERR_FORMAT, "%s: no room in the %zu-byte header for %zu rows", f->path,
                        f->header_bytes, f->array.shape[0]);
    if (fflush(f->fp) || seek_to(f->fp, 0) || fwrite(header, 1, n, f->fp) != n || fflush(f->fp))
        return rr_error(err, RR_ERR_IO, "%s: header rewrite failed: %s", f->path, strerror(errno));
    return RR_OK;
}

int npy_create(NpyFile *f, const char *path, NpyDtype dtype, int ndim, const size_t *shape, char *err)
{
    size_t count, bytes;
    char header[1024];
    if (ndim < 1 || ndim > NPY_MAXDIM) rr_fatal("npy_create: %d dimensions (1 to %d allowed)", ndim, NPY_MAXDIM);
    memset(f, 0, sizeof *f);
    f->array.dtype = dtype;
    f->array.ndim = ndim;
    for (int i = 1; i < ndim; i++) f->array.shape[i] = shape[i];
    if (!shape_size(ndim - 1, shape + 1, dtype_size[dtype], &count, &bytes)) rr_fatal("npy_create: shape overflows");
    f->row_bytes = bytes;
    f->header_bytes = build_header(header, dtype, ndim, f->array.shape, 0, &f->version);
    f->fp = fopen(path, "w+b");
    if (!f->fp) return rr_error(err, RR_ERR_OPEN, "%s: cannot create: %s", path, strerror(errno));
    f->path = copy_string(path);
    f->writable = 1;
    if (fwrite(header, 1, f->header_bytes, f->fp) != f->header_bytes || fflush(f->fp)) {
        int rc = rr_error(err, RR_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        file_release(f);
        return rc;
    }
    return RR_OK;
}

int npy_open_append(NpyFile *f, const char *path, char *err)
{
    int rc = open_file(f, path, "r+b", err);
    if (rc) return rc;
    if (f->array.ndim == 0) {
        file_release(f);
        return rr_error(err, RR_ERR_FORMAT, "%s: cannot append to a 0-d array", path);
    }
    if (f->header_bytes > 1024) {
        file_release(f);
        return rr_error(err, RR_ERR_UNSUPPORTED, "%s: header of %zu bytes is too long to rewrite", path,
                        f->header_bytes);
    }
    return RR_OK;
}

int npy_append(NpyFile *f, const void *rows, size_t n, char *err)
{
    size_t size = dtype_size[f->array.dtype];
    if (!f->writable) return rr_error(err, RR_ERR_IO, "%s: not opened for appending", f->path);
    if (n == 0) return RR_OK;
    if (f->array.shape[0] > SIZE_MAX - n || (f->row_bytes && f->array.shape[0] + n > SIZE_MAX / f->row_bytes))
        return rr_error(err, RR_ERR_FORMAT, "%s: appending %zu rows overflows size_t", f->path, n);
    if (seek_to(f->fp, (uint64_t)f->header_bytes + (uint64_t)f->array.shape[0] * f->row_bytes) ||
        write_le(f->fp, rows, n * f->row_bytes / size, size))
        return rr_error(err, RR_ERR_IO, "%s: append of %zu rows failed: %s", f->path, n, strerror(errno));
    f->array.shape[0] += n;
    f->array.count = f->array.shape[0] * (f->row_bytes / size);
    int rc = rewrite_header(f, err);
    if (rc) f->array.shape[0] -= n;
    return rc;
}
