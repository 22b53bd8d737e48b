/*
 * safetensors.c — safetensors files, the format of training checkpoints (SPEC.md §9): a writer
 * whose files are byte-identical to the reference's, and a strict reader.
 *
 * The format (huggingface/safetensors): an unsigned 64-bit little-endian N, N bytes of UTF-8
 * JSON, then the data section, which every tensor indexes with offsets relative to its start:
 *     {"__metadata__":{"step":"1000"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}
 * Data are little-endian, C order. "__metadata__" (optional) maps strings to strings.
 *
 * Writing follows the reference serializer (safetensors/src/tensor.rs, prepare() and
 * serialize_to_file(), which safetensors.torch.save_file calls):
 * - Tensors are laid out by descending position of their dtype in the reference's Dtype enum
 *   (I64, F64, F32, I32, F16, I16, U8 among ours: widest first, so each tensor is aligned for its
 *   type), ties by name in byte order; offsets packed from 0 without gaps. The header lists
 *   them in the same order.
 * - The header is serde_json::to_string of that map: no spaces; "__metadata__" first when
 *   there is metadata, absent when there is none (save_file's metadata=None; an empty
 *   metadata dict, written by the reference as "__metadata__":{}, cannot be asked for here);
 *   each tensor's members in the order dtype, shape, data_offsets; integers in decimal;
 *   strings escape '"', '\\', \b \f \n \r \t and other bytes below 0x20 as \u00xx (lowercase
 *   hex), and keep every other byte (DEL, UTF-8) as it is.
 * - The reference keeps metadata in a HashMap, so several pairs come out in a random order;
 *   we sort them by key (byte order), so a file does not depend on the caller's order either.
 *   Byte-identical to save_file therefore whenever the metadata has at most one pair
 *   (tests/data/ref_mixed.safetensors is such a file, written by the reference).
 * - The header is padded with spaces to a multiple of 8 bytes, so the data start 8-aligned.
 * - The file is written to path.tmp and renamed over path, as npy_write does.
 * Names, keys and values must be valid UTF-8 without NUL, as the reference's Python strings
 * are, and header length is limited to what readers accept (100,000,000 bytes).
 *
 * Reading checks everything before it allocates for the data or loops over anything whose
 * size the file chooses: N at most 100,000,000 and
 * within the file; the header a JSON object starting at its first byte, followed by nothing
 * but spaces; strings valid UTF-8 with JSON escapes (surrogate pairs, no raw control bytes);
 * numbers non-negative integers; no duplicate names, metadata keys or tensor members; every
 * dtype known (ours, or RR_ERR_UNSUPPORTED for the reference's others); the shape's byte size
 * computed without overflow and equal to end - begin; offsets within the data section; and
 * the tensors tiling the data section exactly, without overlaps or holes (the reference's
 * validate(); a hole could hide a second file inside a checkpoint). Where the reference's
 * serde parser is more lenient than the format's specification (leading whitespace, trailing
 * newlines, unknown tensor members, a repeated name silently replacing the first), we follow
 * the specification and refuse.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "rnnrep.h"

#define SAFETENSORS_MAX_HEADER 100000000u /* the reference's MAX_HEADER_SIZE */

/* The reference's Dtype enum in its declared order (the writer sorts by this position), with
 * the NpyDtype of each one rnnrep reads and writes, -1 for the others. */
static const struct { const char *name; int npy; } dtype_table[] = {
    {"BOOL", -1}, {"F4", -1}, {"F6_E2M3", -1}, {"F6_E3M2", -1}, {"U8", NPY_U1}, {"I8", -1},
    {"F8_E5M2", -1}, {"F8_E4M3", -1}, {"F8_E8M0", -1}, {"F8_E4M3FNUZ", -1}, {"F8_E5M2FNUZ", -1},
    {"I16", NPY_I2}, {"U16", -1}, {"F16", NPY_F2}, {"BF16", -1}, {"I32", NPY_I4}, {"U32", -1},
    {"F32", NPY_F4}, {"C64", -1}, {"F64", NPY_F8}, {"I64", NPY_I8}, {"U64", -1},
};
#define DTYPE_TABLE_SIZE (sizeof dtype_table / sizeof dtype_table[0])

static size_t dtype_rank(NpyDtype dtype)
{
    size_t i = 0;
    while (dtype_table[i].npy != (int)dtype) i++;
    return i;
}

const char *safetensors_dtype_name(NpyDtype dtype) { return dtype_table[dtype_rank(dtype)].name; }

/* ========================================================================================
 * Byte order and text.
 * ====================================================================================== */

/* Between host byte order and the file's little-endian order, in place: reverses each
 * element's bytes on a big-endian host, nothing on a little-endian one. Its own inverse. */
static void swap_little_endian(unsigned char *p, size_t count, size_t size)
{
    const uint16_t one = 1;
    if (*(const unsigned char *)&one == 1) return;
    for (size_t i = 0; i < count; i++, p += size)
        for (size_t j = 0; j < size / 2; j++) {
            unsigned char t = p[j];
            p[j] = p[size - 1 - j];
            p[size - 1 - j] = t;
        }
}

/* Length of the UTF-8 sequence that starts s (n bytes available), or 0 when it is not valid
 * UTF-8: truncated, a stray continuation byte, overlong, a surrogate or above U+10FFFF. */
static size_t utf8_length(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80) return 1;
    size_t len = s[0] >= 0xc2 && s[0] <= 0xdf ? 2
               : s[0] >= 0xe0 && s[0] <= 0xef ? 3
               : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;  /* 0x80..0xc1: continuation or overlong */
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||  /* overlong, surrogate */
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))   /* overlong, > U+10FFFF */
        return 0;
    return len;
}

static int valid_utf8(const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    for (size_t n = strlen(text), len; n > 0; s += len, n -= len)
        if (!(len = utf8_length(s, n))) return 0;
    return 1;
}

/* Header text, built twice: first with buf NULL to measure it, then into a buffer of that size. */
typedef struct Text {
    char *buf;
    size_t len;
} Text;

static void put(Text *t, const char *s, size_t n)
{
    if (t->buf) memcpy(t->buf + t->len, s, n);
    t->len += n;
}

static void put_str(Text *t, const char *s) { put(t, s, strlen(s)); }

static void put_uint(Text *t, uint64_t v)
{
    char digits[24];
    put(t, digits, (size_t)snprintf(digits, sizeof digits, "%llu", (unsigned long long)v));
}

/* A JSON string escaped as serde_json escapes it. */
static void put_json_string(Text *t, const char *s)
{
    put(t, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b" : c == '\f' ? "\\f"
                        : c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
        char u[8];
        if (esc) put_str(t, esc);
        else if (c < 0x20) { snprintf(u, sizeof u, "\\u%04x", c); put_str(t, u); }
        else put(t, s, 1);
    }
    put(t, "\"", 1);
}

/* ========================================================================================
 * Writing.
 * ====================================================================================== */

static int by_layout(const void *a, const void *b)
{
    const SafetensorsTensor *x = *(const SafetensorsTensor *const *)a, *y = *(const SafetensorsTensor *const *)b;
    size_t rx = dtype_rank(x->dtype), ry = dtype_rank(y->dtype);
    if (rx != ry) return rx > ry ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const SafetensorsTensor *const *)a)->name, (*(const SafetensorsTensor *const *)b)->name);
}

static int by_key(const void *a, const void *b)
{
    return strcmp((*(const SafetensorsPair *const *)a)->key, (*(const SafetensorsPair *const *)b)->key);
}

/* Elements and bytes of a tensor of this dtype and shape; 0 when the bytes overflow uint64_t
 * or the elements size_t. */
static int tensor_size(NpyDtype dtype, int ndim, const size_t *shape, size_t *count, uint64_t *bytes)
{
    uint64_t c = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] && c > UINT64_MAX / shape[i]) return 0;
        c *= shape[i];
    }
    if (c > SIZE_MAX || c > UINT64_MAX / npy_dtype_size(dtype)) return 0;
    *count = (size_t)c;
    *bytes = c * npy_dtype_size(dtype);
    return 1;
}

/* Everything about the writer's arguments that can be wrong, checked before a file is
 * touched; order is in layout order, meta in key order. Fills offsets (begin, end pairs). */
static int check_entries(const char *path, const SafetensorsTensor **order, size_t count,
                         const SafetensorsPair **meta, size_t meta_count, uint64_t *offsets, char *err)
{
    uint64_t offset = 0;
    for (size_t i = 0; i < count; i++) {
        const SafetensorsTensor *t = order[i];
        size_t n;
        uint64_t bytes;
        if (!strcmp(t->name, "__metadata__"))
            return rr_error(err, RR_ERR_FORMAT, "%s: '__metadata__' is reserved and cannot name a tensor", path);
        if (!valid_utf8(t->name))
            return rr_error(err, RR_ERR_FORMAT, "%s: tensor name '%s' is not valid UTF-8", path, t->name);
        if (t->ndim < 0 || t->ndim > NPY_MAXDIM)
            return rr_error(err, RR_ERR_FORMAT, "%s: tensor '%s': %d dimensions (0 to %d allowed)", path, t->name,
                            t->ndim, NPY_MAXDIM);
        if (!tensor_size(t->dtype, t->ndim, t->shape, &n, &bytes) || bytes > UINT64_MAX - offset)
            return rr_error(err, RR_ERR_FORMAT, "%s: tensor '%s': byte size overflows", path, t->name);
        if (t->data && t->values)
            return rr_error(err, RR_ERR_FORMAT, "%s: tensor '%s': give data or values, not both", path, t->name);
        if (n && !t->data && !t->values)
            return rr_error(err, RR_ERR_FORMAT, "%s: tensor '%s': no data", path, t->name);
        offsets[2 * i] = offset;
        offsets[2 * i + 1] = offset += bytes;
    }
    const SafetensorsTensor **names = rr_calloc(count + 1, sizeof *names, "safetensors names");
    memcpy(names, order, count * sizeof *names);
    qsort(names, count, sizeof *names, by_name);
    int rc = RR_OK;
    for (size_t i = 1; i < count && !rc; i++)
        if (!strcmp(names[i]->name, names[i - 1]->name))
            rc = rr_error(err, RR_ERR_FORMAT, "%s: tensor name '%s' appears twice", path, names[i]->name);
    free(names);
    for (size_t i = 0; i < meta_count && !rc; i++) {
        if (i && !strcmp(meta[i]->key, meta[i - 1]->key))
            rc = rr_error(err, RR_ERR_FORMAT, "%s: metadata key '%s' appears twice", path, meta[i]->key);
        else if (!valid_utf8(meta[i]->key) || !valid_utf8(meta[i]->value))
            rc = rr_error(err, RR_ERR_FORMAT, "%s: metadata '%s' is not valid UTF-8", path, meta[i]->key);
    }
    return rc;
}

static void build_header(Text *t, const SafetensorsTensor **order, size_t count, const SafetensorsPair **meta,
                         size_t meta_count, const uint64_t *offsets)
{
    put_str(t, "{");
    if (meta_count) {
        put_str(t, "\"__metadata__\":{");
        for (size_t i = 0; i < meta_count; i++) {
            if (i) put_str(t, ",");
            put_json_string(t, meta[i]->key);
            put_str(t, ":");
            put_json_string(t, meta[i]->value);
        }
        put_str(t, count ? "}," : "}");
    }
    for (size_t i = 0; i < count; i++) {
        const SafetensorsTensor *e = order[i];
        if (i) put_str(t, ",");
        put_json_string(t, e->name);
        put_str(t, ":{\"dtype\":\"");
        put_str(t, safetensors_dtype_name(e->dtype));
        put_str(t, "\",\"shape\":[");
        for (int d = 0; d < e->ndim; d++) {
            if (d) put_str(t, ",");
            put_uint(t, e->shape[d]);
        }
        put_str(t, "],\"data_offsets\":[");
        put_uint(t, offsets[2 * i]);
        put_str(t, ",");
        put_uint(t, offsets[2 * i + 1]);
        put_str(t, "]}");
    }
    put_str(t, "}");
    while (t->len % 8) put_str(t, " ");
}

/* One tensor's data, little-endian, through a fixed buffer: values are converted to the
 * stored dtype chunk by chunk (npy_from_real), so the caller needs no converted copy. */
static int write_data(FILE *fp, const SafetensorsTensor *t)
{
    unsigned char chunk[1 << 14];
    size_t size = npy_dtype_size(t->dtype), per_chunk = sizeof chunk / size, count = 1;
    for (int d = 0; d < t->ndim; d++) count *= t->shape[d];  /* checked by check_entries */
    for (size_t done = 0; done < count;) {
        size_t n = count - done < per_chunk ? count - done : per_chunk;
        if (t->values) npy_from_real(t->dtype, t->values + done, n, chunk);
        else memcpy(chunk, (const unsigned char *)t->data + done * size, n * size);
        swap_little_endian(chunk, n, size);
        if (fwrite(chunk, size, n, fp) != n) return -1;
        done += n;
    }
    return 0;
}

/* header (8 + header_len bytes), then every tensor's data in layout order, into path.tmp,
 * renamed over path. */
static int write_file(const char *path, const char *header, size_t header_len, const SafetensorsTensor **order,
                      size_t count, char *err)
{
    char *tmp = rr_malloc(strlen(path) + 5, "path");
    sprintf(tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        int rc = rr_error(err, RR_ERR_OPEN, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    int failed = fwrite(header, 1, header_len, fp) != header_len, rc = RR_OK;
    for (size_t i = 0; i < count && !failed; i++) failed = write_data(fp, order[i]) != 0;
    if (fclose(fp)) failed = 1;
    if (failed) rc = rr_error(err, RR_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    else if (rr_replace_file(tmp, path))
        rc = rr_error(err, RR_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    if (rc) remove(tmp);
    free(tmp);
    return rc;
}

int safetensors_write(const char *path, const SafetensorsTensor *tensors, size_t count,
                      const SafetensorsPair *metadata, size_t metadata_count, char *err)
{
    const SafetensorsTensor **order = rr_calloc(count + 1, sizeof *order, "safetensors order");
    const SafetensorsPair **meta = rr_calloc(metadata_count + 1, sizeof *meta, "safetensors metadata");
    uint64_t *offsets = rr_calloc(2 * count + 1, sizeof *offsets, "safetensors offsets");
    Text text = {NULL, 0};
    int rc = RR_OK;
    for (size_t i = 0; i < count && !rc; i++) {
        order[i] = &tensors[i];
        if (!tensors[i].name || (int)tensors[i].dtype < 0 || tensors[i].dtype >= NPY_DTYPE_COUNT)
            rc = rr_error(err, RR_ERR_FORMAT, "%s: tensor %zu has no name or an invalid dtype", path, i);
    }
    for (size_t i = 0; i < metadata_count && !rc; i++) {
        meta[i] = &metadata[i];
        if (!metadata[i].key || !metadata[i].value)
            rc = rr_error(err, RR_ERR_FORMAT, "%s: metadata pair %zu has no key or no value", path, i);
    }
    if (!rc) {
        qsort(order, count, sizeof *order, by_layout);
        qsort(meta, metadata_count, sizeof *meta, by_key);
        rc = check_entries(path, order, count, meta, metadata_count, offsets, err);
    }
    if (!rc) {
        build_header(&text, order, count, meta, metadata_count, offsets);  /* measure */
        if (text.len > SAFETENSORS_MAX_HEADER)
            rc = rr_error(err, RR_ERR_FORMAT, "%s: a header of %zu bytes exceeds the readers' limit of %u", path,
                          text.len, SAFETENSORS_MAX_HEADER);
    }
    if (!rc) {
        char *header = rr_malloc(8 + text.len, "safetensors header");
        for (int b = 0; b < 8; b++) header[b] = (char)((uint64_t)text.len >> (8 * b) & 0xff);
        text.buf = header + 8;
        text.len = 0;
        build_header(&text, order, count, meta, metadata_count, offsets);  /* write */
        rc = write_file(path, header, 8 + text.len, order, count, err);
        free(header);
    }
    free(order);
    free(meta);
    free(offsets);
    return rc;
}

/* ========================================================================================
 * Reading.
 * ====================================================================================== */

/* A tensor while the header is parsed: its public fields and its offsets in the data section. */
typedef struct Entry {
    SafetensorsTensor t;
    uint64_t begin, end;
} Entry;

typedef struct Parser {
    const unsigned char *s;       /* the header, len bytes */
    size_t pos, len;
    char *strings;                /* every string unescaped, NUL-terminated; room for len bytes */
    size_t used;
    Entry *entries;               /* tensors in header order */
    size_t count, capacity;
    SafetensorsPair *meta;        /* "__metadata__" pairs in header order */
    size_t meta_count, meta_capacity;
    int seen_metadata;
    const char *tensor;           /* the tensor being parsed, for messages; NULL outside one */
    const char *path;
    char *err;
} Parser;

/* "<path>: at byte 57 of the header (tensor 'w'): <what>" */
static int syntax(Parser *p, int code, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int syntax(Parser *p, int code, const char *fmt, ...)
{
    char what[RR_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (p->tensor) return rr_error(p->err, code, "%s: at byte %zu of the header (tensor '%s'): %s", p->path, p->pos,
                                   p->tensor, what);
    return rr_error(p->err, code, "%s: at byte %zu of the header: %s", p->path, p->pos, what);
}

static int peek(Parser *p) { return p->pos < p->len ? p->s[p->pos] : -1; }

static void skip_space(Parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
                               p->s[p->pos] == '\r'))
        p->pos++;
}

static int expect(Parser *p, char c, const char *what)
{
    skip_space(p);
    if (peek(p) != c) return syntax(p, RR_ERR_FORMAT, "%s", what);
    p->pos++;
    return RR_OK;
}

static int hex4(Parser *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++, p->pos++) {
        int c = peek(p), d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return syntax(p, RR_ERR_FORMAT, "\\u must be followed by 4 hex digits");
        *v = *v << 4 | (unsigned)d;
    }
    return RR_OK;
}

/* A JSON string into p->strings, *out pointing at it. The unescaped text and its NUL never
 * take more bytes than the quoted original (an escape of 2, 6 or 12 bytes gives 1 to 4), so
 * the strings of a header fit into its length. */
static int parse_string(Parser *p, const char *what, const char **out)
{
    skip_space(p);
    if (peek(p) != '"') return syntax(p, RR_ERR_FORMAT, "expected %s (a string)", what);
    p->pos++;
    char *o = p->strings + p->used;
    *out = o;
    for (;;) {
        int c = peek(p);
        if (c < 0) return syntax(p, RR_ERR_FORMAT, "unterminated string");
        if (c == '"') { p->pos++; break; }
        if (c < 0x20) return syntax(p, RR_ERR_FORMAT, "control byte 0x%02x inside a string (must be escaped)", c);
        if (c >= 0x80) {
            size_t k = utf8_length(p->s + p->pos, p->len - p->pos);
            if (!k) return syntax(p, RR_ERR_FORMAT, "invalid UTF-8");
            memcpy(o, p->s + p->pos, k);
            o += k;
            p->pos += k;
            continue;
        }
        p->pos++;
        if (c != '\\') { *o++ = (char)c; continue; }
        int e = peek(p);
        const char *plain = "\"\\/bfnrt", *decoded = "\"\\/\b\f\n\r\t", *hit = e > 0 ? strchr(plain, e) : NULL;
        if (hit) { *o++ = decoded[hit - plain]; p->pos++; continue; }
        if (e != 'u') return syntax(p, RR_ERR_FORMAT, "invalid escape in a string");
        p->pos++;
        unsigned cp, low;
        int rc = hex4(p, &cp);
        if (rc) return rc;
        if (cp >= 0xdc00 && cp <= 0xdfff) return syntax(p, RR_ERR_FORMAT, "unpaired surrogate \\u%04x", cp);
        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                return syntax(p, RR_ERR_FORMAT, "unpaired surrogate \\u%04x", cp);
            p->pos += 2;
            if ((rc = hex4(p, &low))) return rc;
            if (low < 0xdc00 || low > 0xdfff) return syntax(p, RR_ERR_FORMAT, "unpaired surrogate \\u%04x", cp);
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        }
        if (cp == 0) return syntax(p, RR_ERR_UNSUPPORTED, "\\u0000 in a string is not supported");
        if (cp < 0x80) *o++ = (char)cp;
        else if (cp < 0x800) { *o++ = (char)(0xc0 | cp >> 6); *o++ = (char)(0x80 | (cp & 0x3f)); }
        else if (cp < 0x10000) {
            *o++ = (char)(0xe0 | cp >> 12);
            *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
            *o++ = (char)(0x80 | (cp & 0x3f));
        } else {
            *o++ = (char)(0xf0 | cp >> 18);
            *o++ = (char)(0x80 | (cp >> 12 & 0x3f));
            *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
            *o++ = (char)(0x80 | (cp & 0x3f));
        }
    }
    *o++ = '\0';
    p->used = (size_t)(o - p->strings);
    return RR_OK;
}

/* A JSON number that must be a non-negative integer: -?(0|[1-9][0-9]*) without fraction or
 * exponent, and at most max. */
static int parse_uint(Parser *p, const char *what, uint64_t max, uint64_t *v)
{
    skip_space(p);
    int c = peek(p);
    if (c == '-') return syntax(p, RR_ERR_FORMAT, "%s is negative", what);
    if (c < '0' || c > '9') return syntax(p, RR_ERR_FORMAT, "expected %s (an integer)", what);
    if (c == '0' && p->pos + 1 < p->len && p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9')
        return syntax(p, RR_ERR_FORMAT, "%s has a leading zero", what);
    for (*v = 0; (c = peek(p)) >= '0' && c <= '9'; p->pos++) {
        uint64_t digit = (uint64_t)(c - '0');
        if (*v > (max - digit) / 10) return syntax(p, RR_ERR_FORMAT, "%s is too large", what);
        *v = *v * 10 + digit;
    }
    if (c == '.' || c == 'e' || c == 'E') return syntax(p, RR_ERR_FORMAT, "%s is not an integer", what);
    return RR_OK;
}

static int parse_metadata(Parser *p)
{
    int rc;
    if (p->seen_metadata++) return syntax(p, RR_ERR_FORMAT, "'__metadata__' appears twice");
    if ((rc = expect(p, '{', "'__metadata__' is not an object"))) return rc;
    skip_space(p);
    if (peek(p) == '}') { p->pos++; return RR_OK; }
    for (;;) {
        SafetensorsPair pair;
        if ((rc = parse_string(p, "a metadata key", &pair.key))) return rc;
        if ((rc = expect(p, ':', "expected ':' after a metadata key"))) return rc;
        skip_space(p);
        if (peek(p) != '"') return syntax(p, RR_ERR_FORMAT, "metadata '%s' is not a string", pair.key);
        if ((rc = parse_string(p, "a metadata value", &pair.value))) return rc;
        if (p->meta_count == p->meta_capacity) {
            p->meta_capacity = p->meta_capacity ? 2 * p->meta_capacity : 16;
            p->meta = realloc(p->meta, p->meta_capacity * sizeof *p->meta);
            if (!p->meta) rr_fatal("out of memory reading the metadata of %s", p->path);
        }
        p->meta[p->meta_count++] = pair;
        skip_space(p);
        if (peek(p) == ',') { p->pos++; continue; }
        return expect(p, '}', "expected ',' or '}' in '__metadata__'");
    }
}

static int parse_shape(Parser *p, Entry *e)
{
    int rc = expect(p, '[', "'shape' is not an array");
    if (rc) return rc;
    skip_space(p);
    if (peek(p) == ']') { p->pos++; return RR_OK; }
    for (;;) {
        uint64_t v;
        if (e->t.ndim == NPY_MAXDIM)
            return syntax(p, RR_ERR_UNSUPPORTED, "more than %d dimensions are not supported", NPY_MAXDIM);
        if ((rc = parse_uint(p, "a dimension", SIZE_MAX, &v))) return rc;
        e->t.shape[e->t.ndim++] = (size_t)v;
        skip_space(p);
        if (peek(p) == ',') { p->pos++; continue; }
        return expect(p, ']', "expected ',' or ']' in 'shape'");
    }
}

static int parse_tensor(Parser *p, const char *name)
{
    static const char *const members[3] = {"dtype", "shape", "data_offsets"};
    Entry e;
    int seen[3] = {0, 0, 0}, rc;
    const char *dtype = NULL;
    memset(&e, 0, sizeof e);
    e.t.name = p->tensor = name;
    if ((rc = expect(p, '{', "expected an object with dtype, shape and data_offsets"))) return rc;
    skip_space(p);
    if (peek(p) == '}') p->pos++;
    else for (;;) {
        const char *member;
        int k = 0;
        if ((rc = parse_string(p, "a member name", &member))) return rc;
        while (k < 3 && strcmp(member, members[k])) k++;
        if (k == 3) return syntax(p, RR_ERR_FORMAT, "unknown member '%s' (only dtype, shape, data_offsets)", member);
        if (seen[k]++) return syntax(p, RR_ERR_FORMAT, "member '%s' appears twice", member);
        if ((rc = expect(p, ':', "expected ':' after a member name"))) return rc;
        if (k == 0) rc = parse_string(p, "the dtype", &dtype);
        else if (k == 1) rc = parse_shape(p, &e);
        else if (!(rc = expect(p, '[', "'data_offsets' is not an array")) &&
                 !(rc = parse_uint(p, "an offset", UINT64_MAX, &e.begin)) &&
                 !(rc = expect(p, ',', "'data_offsets' must hold two integers")) &&
                 !(rc = parse_uint(p, "an offset", UINT64_MAX, &e.end)))
            rc = expect(p, ']', "'data_offsets' must hold two integers");
        if (rc) return rc;
        skip_space(p);
        if (peek(p) == ',') { p->pos++; continue; }
        if ((rc = expect(p, '}', "expected ',' or '}' after a member"))) return rc;
        break;
    }
    for (int k = 0; k < 3; k++)
        if (!seen[k]) return rr_error(p->err, RR_ERR_FORMAT, "%s: tensor '%s': no '%s'", p->path, name, members[k]);
    size_t i = 0;
    while (i < DTYPE_TABLE_SIZE && strcmp(dtype, dtype_table[i].name)) i++;
    if (i == DTYPE_TABLE_SIZE)
        return rr_error(p->err, RR_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%s'", p->path, name, dtype);
    if (dtype_table[i].npy < 0)
        return rr_error(p->err, RR_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s is not supported (only F32 F64 F16 "
                        "I64 I32 I16 U8)", p->path, name, dtype);
    e.t.dtype = (NpyDtype)dtype_table[i].npy;
    if (p->count == p->capacity) {
        p->capacity = p->capacity ? 2 * p->capacity : 64;
        p->entries = realloc(p->entries, p->capacity * sizeof *p->entries);
        if (!p->entries) rr_fatal("out of memory reading the header of %s", p->path);
    }
    p->entries[p->count++] = e;
    p->tensor = NULL;
    return RR_OK;
}

/* The whole header: one object, from its first byte, followed by nothing but spaces. */
static int parse_header(Parser *p)
{
    int rc;
    if (p->len == 0 || p->s[0] != '{') return syntax(p, RR_ERR_FORMAT, "the header does not start with '{'");
    p->pos = 1;
    skip_space(p);
    if (peek(p) == '}') p->pos++;
    else for (;;) {
        const char *key;
        if ((rc = parse_string(p, "a tensor name", &key))) return rc;
        if ((rc = expect(p, ':', "expected ':' after a tensor name"))) return rc;
        if ((rc = !strcmp(key, "__metadata__") ? parse_metadata(p) : parse_tensor(p, key))) return rc;
        skip_space(p);
        if (peek(p) == ',') { p->pos++; continue; }
        if ((rc = expect(p, '}', "expected ',' or '}' after a tensor"))) return rc;
        break;
    }
    while (p->pos < p->len && p->s[p->pos] == ' ') p->pos++;
    if (p->pos != p->len) return syntax(p, RR_ERR_FORMAT, "bytes after the header's object (only spaces may pad it)");
    return RR_OK;
}

static int by_offsets(const void *a, const void *b)
{
    const Entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int pair_by_key(const void *a, const void *b)
{
    return strcmp(((const SafetensorsPair *)a)->key, ((const SafetensorsPair *)b)->key);
}

/* Every tensor's size against its offsets and the data section (data_bytes long), no two
 * names or keys equal, and the tensors tiling the data section. Sorts p->entries by offset. */
static int check_layout(Parser *p, uint64_t data_bytes)
{
    char shape[256];
    for (size_t i = 0; i < p->count; i++) {
        Entry *e = &p->entries[i];
        uint64_t bytes;
        int sized = tensor_size(e->t.dtype, e->t.ndim, e->t.shape, &e->t.count, &bytes);
        if (!sized || e->end - e->begin != bytes) npy_shape_str(e->t.ndim, e->t.shape, shape, sizeof shape);
        if (!sized)
            return rr_error(p->err, RR_ERR_FORMAT, "%s: tensor '%s': the byte size of shape %s overflows", p->path,
                            e->t.name, shape);
        if (e->begin > e->end || e->end > data_bytes)
            return rr_error(p->err, RR_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] do not lie within the "
                            "data section of %llu bytes", p->path, e->t.name, (unsigned long long)e->begin,
                            (unsigned long long)e->end, (unsigned long long)data_bytes);
        if (e->end - e->begin != bytes)
            return rr_error(p->err, RR_ERR_FORMAT, "%s: tensor '%s': shape %s of %s needs %llu bytes, data_offsets "
                            "[%llu, %llu] hold %llu", p->path, e->t.name, shape, safetensors_dtype_name(e->t.dtype),
                            (unsigned long long)bytes, (unsigned long long)e->begin, (unsigned long long)e->end,
                            (unsigned long long)(e->end - e->begin));
    }
    const SafetensorsTensor **names = rr_calloc(p->count + 1, sizeof *names, "safetensors names");
    for (size_t i = 0; i < p->count; i++) names[i] = &p->entries[i].t;
    qsort(names, p->count, sizeof *names, by_name);
    int rc = RR_OK;
    for (size_t i = 1; i < p->count && !rc; i++)
        if (!strcmp(names[i]->name, names[i - 1]->name))
            rc = rr_error(p->err, RR_ERR_FORMAT, "%s: tensor name '%s' appears twice", p->path, names[i]->name);
    free(names);
    if (rc) return rc;
    SafetensorsPair *keys = rr_calloc(p->meta_count + 1, sizeof *keys, "safetensors metadata");
    if (p->meta_count) memcpy(keys, p->meta, p->meta_count * sizeof *keys);  /* p->meta may be NULL */
    qsort(keys, p->meta_count, sizeof *keys, pair_by_key);
    for (size_t i = 1; i < p->meta_count && !rc; i++)
        if (!strcmp(keys[i].key, keys[i - 1].key))
            rc = rr_error(p->err, RR_ERR_FORMAT, "%s: metadata key '%s' appears twice", p->path, keys[i].key);
    free(keys);
    if (rc) return rc;
    if (p->count) qsort(p->entries, p->count, sizeof *p->entries, by_offsets);
    uint64_t covered = 0;
    for (size_t i = 0; i < p->count; i++) {
        const Entry *e = &p->entries[i];
        if (e->begin < covered)
            return rr_error(p->err, RR_ERR_FORMAT, "%s: tensors '%s' [%llu, %llu) and '%s' [%llu, %llu) overlap",
                            p->path, e[-1].t.name, (unsigned long long)e[-1].begin, (unsigned long long)e[-1].end,
                            e->t.name, (unsigned long long)e->begin, (unsigned long long)e->end);
        if (e->begin > covered)
            return rr_error(p->err, RR_ERR_FORMAT, "%s: bytes [%llu, %llu) of the data section, before tensor '%s', "
                            "belong to no tensor", p->path, (unsigned long long)covered, (unsigned long long)e->begin,
                            e->t.name);
        covered = e->end;
    }
    if (covered != data_bytes)
        return rr_error(p->err, RR_ERR_FORMAT, "%s: bytes [%llu, %llu) at the end of the data section belong to no "
                        "tensor", p->path, (unsigned long long)covered, (unsigned long long)data_bytes);
    return RR_OK;
}

int safetensors_read(const char *path, Safetensors *st, char *err)
{
    unsigned char length[8], *header = NULL, *bytes = NULL;
    Parser p;
    int rc = RR_OK;
    memset(st, 0, sizeof *st);
    memset(&p, 0, sizeof p);
    p.path = path;
    p.err = err;
    FILE *fp = fopen(path, "rb");
    if (!fp) return rr_error(err, RR_ERR_OPEN, "%s: cannot open: %s", path, strerror(errno));
    long size = rr_file_size(fp);
    uint64_t n = 0, data_bytes = 0;
    if (size < 0) rc = rr_error(err, RR_ERR_IO, "%s: cannot tell the file's size: %s", path, strerror(errno));
    else if (size < 8)
        rc = rr_error(err, RR_ERR_FORMAT, "%s: %ld bytes, too short for the 8-byte header length", path, size);
    else if (fread(length, 1, 8, fp) != 8) rc = rr_error(err, RR_ERR_IO, "%s: read failed", path);
    if (rc) goto done;
    for (int b = 0; b < 8; b++) n |= (uint64_t)length[b] << (8 * b);
    if (n > SAFETENSORS_MAX_HEADER)
        rc = rr_error(err, RR_ERR_FORMAT, "%s: header length %llu exceeds the limit of %u bytes", path,
                      (unsigned long long)n, SAFETENSORS_MAX_HEADER);
    else if (n > (uint64_t)size - 8)
        rc = rr_error(err, RR_ERR_FORMAT, "%s: header length %llu runs past the end of the file (%ld bytes)", path,
                      (unsigned long long)n, size);
    if (rc) goto done;
    data_bytes = (uint64_t)size - 8 - n;
    header = rr_malloc((size_t)n + 1, "safetensors header");
    p.strings = rr_malloc((size_t)n + 1, "safetensors strings");
    if (fread(header, 1, (size_t)n, fp) != (size_t)n) {
        rc = rr_error(err, RR_ERR_IO, "%s: read of the header failed", path);
        goto done;
    }
    p.s = header;
    p.len = (size_t)n;
    if ((rc = parse_header(&p)) || (rc = check_layout(&p, data_bytes))) goto done;
    if (data_bytes > SIZE_MAX) {
        rc = rr_error(err, RR_ERR_UNSUPPORTED, "%s: the data section is too large for this machine", path);
        goto done;
    }
    bytes = rr_malloc(data_bytes ? (size_t)data_bytes : 1, "safetensors data");
    if (fread(bytes, 1, (size_t)data_bytes, fp) != (size_t)data_bytes) {
        rc = rr_error(err, RR_ERR_IO, "%s: read of the data failed", path);
        goto done;
    }

    size_t len = strlen(path) + 1;
    st->path = rr_malloc(len, "path");
    memcpy(st->path, path, len);
    st->count = p.count;
    st->tensors = rr_calloc(p.count + 1, sizeof *st->tensors, "safetensors tensors");
    st->by_name = rr_calloc(p.count + 1, sizeof *st->by_name, "safetensors names");
    for (size_t i = 0; i < p.count; i++) {
        SafetensorsTensor *t = &st->tensors[i];
        *t = p.entries[i].t;
        swap_little_endian(bytes + p.entries[i].begin, t->count, npy_dtype_size(t->dtype));
        t->data = bytes + p.entries[i].begin;
        st->by_name[i] = t;
    }
    qsort(st->by_name, st->count, sizeof *st->by_name, by_name);
    st->metadata = p.meta;
    st->metadata_count = p.meta_count;
    st->strings = p.strings;
    st->bytes = bytes;
    p.meta = NULL;
    p.strings = NULL;
    bytes = NULL;
done:
    fclose(fp);
    free(header);
    free(bytes);
    free(p.strings);
    free(p.entries);
    free(p.meta);
    return rc;
}

void safetensors_free(Safetensors *st)
{
    free(st->path);
    free(st->tensors);
    free(st->by_name);
    free(st->metadata);
    free(st->strings);
    free(st->bytes);
    memset(st, 0, sizeof *st);
}

static int find_name(const void *key, const void *element)
{
    return strcmp(key, (*(const SafetensorsTensor *const *)element)->name);
}

const SafetensorsTensor *safetensors_find(const Safetensors *st, const char *name)
{
    SafetensorsTensor **hit = bsearch(name, st->by_name, st->count, sizeof *st->by_name, find_name);
    return hit ? *hit : NULL;
}

const char *safetensors_metadata(const Safetensors *st, const char *key)
{
    for (size_t i = 0; i < st->metadata_count; i++)
        if (!strcmp(st->metadata[i].key, key)) return st->metadata[i].value;
    return NULL;
}

int safetensors_load_real(const Safetensors *st, const char *name, int ndim, const size_t *shape, real *dst,
                          char *err)
{
    const SafetensorsTensor *t = safetensors_find(st, name);
    if (!t) return rr_error(err, RR_ERR_FORMAT, "%s: no tensor '%s'", st->path, name);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char want[256], got[256];
        npy_shape_str(ndim, shape, want, sizeof want);
        npy_shape_str(t->ndim, t->shape, got, sizeof got);
        return rr_error(err, RR_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s", st->path, name, got, want);
    }
    npy_to_real(t->dtype, t->data, t->count, dst);
    return RR_OK;
}
