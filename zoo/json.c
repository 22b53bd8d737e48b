/*
 * json.c — a small writer for JSON files of one object (args.json, config.json, splits.json),
 * in the layout of Python's json.dump(d, f): {"key": value, "key": [1, 2], "key": [[1, 2]]}
 * with ", " and ": " separators, no newline.
 * Output goes to "path.tmp" and is renamed over path at the end, so readers never see half a
 * file. Non-ASCII bytes are written as they are (valid UTF-8 JSON; Python would escape them).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rnnrep.h"

/* Python's repr of a float: the fewest significant digits (1..17) that read back to exactly
 * x; positional notation when the decimal exponent X is in [-4, 16), with ".0" if integral;
 * otherwise d.ddde+XX. NaN and infinities as Python's json writes them. */
void json_format_double(double x, char *buf, size_t len)
{
    if (x != x) { snprintf(buf, len, "NaN"); return; }
    if (isinf(x)) { snprintf(buf, len, x > 0 ? "Infinity" : "-Infinity"); return; }
    char e[40];
    int digits = 1;
    for (; digits < 17; digits++) {
        snprintf(e, sizeof e, "%.*e", digits - 1, x);
        if (strtod(e, NULL) == x) break;
    }
    snprintf(e, sizeof e, "%.*e", digits - 1, x);
    int X = atoi(strchr(e, 'e') + 1);
    if (X < -4 || X >= 16) { snprintf(buf, len, "%s", e); return; }
    int decimals = digits - 1 - X;
    snprintf(buf, len, "%.*f", decimals > 0 ? decimals : 0, x);
    if (!strchr(buf, '.') && strlen(buf) + 3 <= len) strcat(buf, ".0");
}

static void put(JsonWriter *w, const char *s)
{
    if (w->fp && fputs(s, w->fp) == EOF) w->failed = 1;
}

static void put_string(JsonWriter *w, const char *s)
{
    char esc[8];
    put(w, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        const char *short_form = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                               : c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
        if (short_form) put(w, short_form);
        else if (c < 0x20 || c == 0x7f) { snprintf(esc, sizeof esc, "\\u%04x", c); put(w, esc); }
        else { esc[0] = (char)c; esc[1] = '\0'; put(w, esc); }
    }
    put(w, "\"");
}

static void member(JsonWriter *w, const char *key)
{
    if (w->members++) put(w, ", ");
    put_string(w, key);
    put(w, ": ");
}

int json_begin(JsonWriter *w, const char *path, char *err)
{
    memset(w, 0, sizeof *w);
    size_t n = strlen(path);
    w->path = rr_malloc(n + 1, "path");
    w->tmp_path = rr_malloc(n + 5, "path");
    memcpy(w->path, path, n + 1);
    sprintf(w->tmp_path, "%s.tmp", path);
    w->fp = fopen(w->tmp_path, "wb");
    if (!w->fp) {
        int rc = rr_error(err, RR_ERR_OPEN, "%s: cannot create: %s", w->tmp_path, strerror(errno));
        free(w->path);
        free(w->tmp_path);
        memset(w, 0, sizeof *w);
        return rc;
    }
    put(w, "{");
    return RR_OK;
}

void json_string(JsonWriter *w, const char *key, const char *value)
{
    member(w, key);
    put_string(w, value);
}

void json_int(JsonWriter *w, const char *key, int64_t value)
{
    char buf[32];
    member(w, key);
    snprintf(buf, sizeof buf, "%lld", (long long)value);
    put(w, buf);
}

void json_double(JsonWriter *w, const char *key, double value)
{
    char buf[40];
    member(w, key);
    json_format_double(value, buf, sizeof buf);
    put(w, buf);
}

void json_bool(JsonWriter *w, const char *key, int value)
{
    member(w, key);
    put(w, value ? "true" : "false");
}

void json_ints(JsonWriter *w, const char *key, const int64_t *values, size_t n)
{
    char buf[32];
    member(w, key);
    put(w, "[");
    for (size_t i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, "%s%lld", i ? ", " : "", (long long)values[i]);
        put(w, buf);
    }
    put(w, "]");
}

void json_doubles(JsonWriter *w, const char *key, const double *values, size_t n)
{
    char buf[40];
    member(w, key);
    put(w, "[");
    for (size_t i = 0; i < n; i++) {
        if (i) put(w, ", ");
        json_format_double(values[i], buf, sizeof buf);
        put(w, buf);
    }
    put(w, "]");
}

void json_int_rows(JsonWriter *w, const char *key, const int64_t *values, size_t rows, size_t cols)
{
    char buf[32];
    member(w, key);
    put(w, "[");
    for (size_t r = 0; r < rows; r++) {
        put(w, r ? ", [" : "[");
        for (size_t c = 0; c < cols; c++) {
            snprintf(buf, sizeof buf, "%s%lld", c ? ", " : "", (long long)values[r * cols + c]);
            put(w, buf);
        }
        put(w, "]");
    }
    put(w, "]");
}

int json_end(JsonWriter *w, char *err)
{
    int rc = RR_OK;
    if (!w->fp) return rr_error(err, RR_ERR_IO, "json_end: writer is not open");
    put(w, "}");
    if (fclose(w->fp)) w->failed = 1;
    if (w->failed) rc = rr_error(err, RR_ERR_IO, "%s: write failed: %s", w->tmp_path, strerror(errno));
    else if (rr_replace_file(w->tmp_path, w->path))
        rc = rr_error(err, RR_ERR_IO, "%s: cannot rename to %s: %s", w->tmp_path, w->path, strerror(errno));
    if (rc) remove(w->tmp_path);
    free(w->path);
    free(w->tmp_path);
    memset(w, 0, sizeof *w);
    return rc;
}

/* The members ("key": value) of the object in text, string-aware: their starts and lengths
 * (at most max of them); returns how many. */
static size_t json_members(const char *text, const char **member_start, size_t *member_len, size_t max)
{
    size_t n = 0, depth = 0;
    int in_string = 0;
    const char *p = strchr(text, '{'), *start = NULL;
    if (!p) return 0;
    for (p++; *p; p++) {
        char c = *p;
        if (in_string) {
            if (c == '\\' && p[1]) p++;
            else if (c == '"') in_string = 0;
            continue;
        }
        if (c == '"') {
            in_string = 1;
            if (!start && depth == 0) start = p;
        } else if (c == '[' || c == '{') depth++;
        else if ((c == ']' || c == '}') && depth > 0) depth--;
        else if (depth == 0 && (c == ',' || c == '}')) { /* a member ends, or the object */
            if (start && n < max) {
                member_start[n] = start;
                member_len[n] = (size_t)(p - start);
                n++;
            }
            start = NULL;
            if (c == '}') break;
        }
    }
    return n;
}

/* The key of a member "key": value, into key (len bytes), without unescaping. */
static void member_key(const char *m, size_t mlen, char *key, size_t len)
{
    size_t i = 1;
    while (i < mlen && m[i] != '"') i += m[i] == '\\' ? 2 : 1;
    snprintf(key, len, "%.*s", (int)(i > 1 ? i - 1 : 0), m + 1);
}

int json_first_difference(const char *a, const char *b, char *key, size_t len)
{
    enum { MAX = 256 };
    const char *ma[MAX], *mb[MAX];
    size_t la[MAX], lb[MAX];
    if (!strcmp(a, b)) return 0; /* also when a key is given twice, which the search below would take for a difference */
    size_t na = json_members(a, ma, la, MAX), nb = json_members(b, mb, lb, MAX);
    char ka[128], kb[128];
    for (size_t i = 0; i < na; i++) { /* a member of a that b lacks or holds otherwise */
        member_key(ma[i], la[i], ka, sizeof ka);
        size_t j = 0;
        for (; j < nb; j++) {
            member_key(mb[j], lb[j], kb, sizeof kb);
            if (!strcmp(ka, kb)) break;
        }
        if (j == nb || la[i] != lb[j] || memcmp(ma[i], mb[j], la[i])) {
            snprintf(key, len, "%s", ka);
            return 1;
        }
    }
    for (size_t j = 0; j < nb; j++) { /* a member only b has */
        member_key(mb[j], lb[j], kb, sizeof kb);
        size_t i = 0;
        for (; i < na; i++) {
            member_key(ma[i], la[i], ka, sizeof ka);
            if (!strcmp(ka, kb)) break;
        }
        if (i == na) {
            snprintf(key, len, "%s", kb);
            return 1;
        }
    }
    snprintf(key, len, "(the order of the settings)"); /* the same members in another order or spacing */
    return 1;
}

int json_member_text(const char *object, const char *key, char *value, size_t len)
{
    enum { MAX = 256 };
    const char *m[MAX];
    size_t ml[MAX], n = json_members(object, m, ml, MAX);
    char k[128];
    for (size_t i = 0; i < n; i++) {
        member_key(m[i], ml[i], k, sizeof k);
        if (strcmp(k, key)) continue;
        const char *v = m[i] + 1, *end = m[i] + ml[i];
        while (v < end && *v != '"') v += *v == '\\' ? 2 : 1;   /* past the key */
        v++;
        while (v < end && (*v == ':' || *v == ' ')) v++;
        while (end > v && (end[-1] == ' ' || end[-1] == '\n')) end--;
        size_t out = 0;
        if (v < end && *v == '"') { /* a string: unescaped (\uXXXX below 0x80 only, as json_string writes) */
            for (v++; v < end - 1 && out + 1 < len; v++) {
                char c = *v;
                if (c == '\\' && v + 1 < end - 1) {
                    c = *++v;
                    if (c == 'n') c = '\n';
                    else if (c == 't') c = '\t';
                    else if (c == 'r') c = '\r';
                    else if (c == 'b') c = '\b';
                    else if (c == 'f') c = '\f';
                    else if (c == 'u' && v + 4 < end) {
                        c = (char)strtol((char[]){v[1], v[2], v[3], v[4], 0}, NULL, 16);
                        v += 4;
                    }
                }
                value[out++] = c;
            }
        } else {
            for (; v < end && out + 1 < len; v++) value[out++] = *v;
        }
        if (len) value[out] = '\0';
        return 1;
    }
    if (len) value[0] = '\0';
    return 0;
}
