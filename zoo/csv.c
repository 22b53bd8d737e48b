/*
 * csv.c — the CSV tables of experiments (metrics.csv, cloned.csv, timing.csv, downstream.csv):
 * a header line, then rows of comma-separated fields, "\n" line ends, numbers as
 * json_format_double writes them (the shortest digits that read back exactly). A table is kept
 * in memory and written whole, atomically (path.tmp, then rename), so a reader never sees half
 * a row. Tables of a run's steps begin each row with the step; a keyed table
 * (downstream.csv) holds one row per key, its first fields.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "rnnrep.h"

void csv_init(Csv *c, const char *header)
{
    memset(c, 0, sizeof *c);
    csv_printf(c, "%s\n", header);
}

void csv_free(Csv *c)
{
    free(c->text);
    memset(c, 0, sizeof *c);
}

void csv_printf(Csv *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) rr_fatal("csv_printf: cannot format '%s'", fmt);
    if (c->len + (size_t)n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + (size_t)n + 1) cap *= 2;
        char *grown = realloc(c->text, cap);
        if (!grown) rr_fatal("out of memory growing a table");
        c->text = grown;
        c->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(c->text + c->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    c->len += (size_t)n;
}

void csv_double(Csv *c, double x, const char *end)
{
    char buf[40];
    json_format_double(x, buf, sizeof buf);
    csv_printf(c, "%s%s", buf, end);
}

/* The table at path into c: its complete rows, all of them (steps = 0) or those that begin
 * with a step <= max_step. */
static int load(Csv *c, const char *path, const char *header, int steps, int64_t max_step, char *err)
{
    csv_init(c, header);
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? RR_OK : rr_error(err, RR_ERR_OPEN, "%s: cannot open: %s", path, strerror(errno));
    char line[4096];
    int rc = RR_OK;
    if (!fgets(line, sizeof line, f) || strncmp(line, header, strlen(header)) || line[strlen(header)] != '\n')
        rc = rr_error(err, RR_ERR_FORMAT, "%s: the first line is not the header '%s'", path, header);
    while (!rc && fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n') { /* a torn last line is dropped */
            if (!feof(f)) rc = rr_error(err, RR_ERR_FORMAT, "%s: a line longer than %zu characters", path, sizeof line - 2);
            break;
        }
        char *end;
        long long step = steps ? strtoll(line, &end, 10) : 0;
        if (steps && (end == line || *end != ',')) {
            rc = rr_error(err, RR_ERR_FORMAT, "%s: a row that does not start with a step: '%.40s'", path, line);
            break;
        }
        if (!steps || step <= max_step) csv_printf(c, "%s", line);
    }
    fclose(f);
    return rc;
}

int csv_load_upto(Csv *c, const char *path, const char *header, int64_t max_step, char *err)
{
    return load(c, path, header, 1, max_step, err);
}

int csv_load(Csv *c, const char *path, const char *header, char *err)
{
    return load(c, path, header, 0, 0, err);
}

/* The length of the first `fields` comma-separated fields of line, with the comma after them. */
static size_t key_length(const char *line, size_t fields)
{
    size_t n = 0;
    for (size_t k = 0; k < fields && line[n] && line[n] != '\n'; n++) k += line[n] == ',';
    return n;
}

void csv_put(Csv *c, const char *row, size_t key_fields)
{
    size_t key = key_length(row, key_fields);
    const char *line = strchr(c->text, '\n') + 1;              /* the first row, after the header */
    while (*line) {
        const char *next = strchr(line, '\n');
        next = next ? next + 1 : line + strlen(line);
        if (key_length(line, key_fields) == key && !strncmp(line, row, key)) {
            Csv replaced;
            memset(&replaced, 0, sizeof replaced);
            csv_printf(&replaced, "%.*s%s%s", (int)(line - c->text), c->text, row, next);
            csv_free(c);
            *c = replaced;
            return;
        }
        line = next;
    }
    csv_printf(c, "%s", row);
}

int csv_write(const Csv *c, const char *path, char *err)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return rr_error(err, RR_ERR_OPEN, "%s: cannot create: %s", tmp, strerror(errno));
    int bad = fwrite(c->text, 1, c->len, f) != c->len;
    bad |= fclose(f) != 0;
    if (bad || rr_replace_file(tmp, path)) {
        remove(tmp);
        return rr_error(err, RR_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    return RR_OK;
}

int csv_read(const char *path, CsvTable *t, char *err)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "rb");
    if (!f) return rr_error(err, RR_ERR_OPEN, "%s: cannot open: %s", path, strerror(errno));
    Csv text;
    memset(&text, 0, sizeof text);
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) csv_printf(&text, "%.*s", (int)got, chunk);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        csv_free(&text);
        return rr_error(err, RR_ERR_IO, "%s: cannot read", path);
    }
    if (!text.text) csv_printf(&text, "%s", "");
    char *end = strrchr(text.text, '\n');
    if (!end) {
        csv_free(&text);
        return rr_error(err, RR_ERR_FORMAT, "%s: no header line", path);
    }
    end[1] = '\0'; /* a torn last line (no line end) is dropped */
    size_t lines = 0, fields = 0;
    for (char *p = text.text; *p; p++) {
        lines += *p == '\n';
        fields += *p == ',' || *p == '\n';
    }
    t->text = text.text;
    t->field = rr_malloc(fields * sizeof *t->field, "table fields");
    size_t n = 0, line = 0;
    for (char *p = text.text; *p; line++) {
        size_t in_line = 0;
        for (;;) { /* one field per comma, and the last up to the line end */
            t->field[n++] = p;
            in_line++;
            p += strcspn(p, ",\n");
            char c = *p;
            *p++ = '\0';
            if (c == '\n') break;
        }
        if (line == 0) t->cols = in_line;
        else if (in_line != t->cols) {
            int rc = rr_error(err, RR_ERR_FORMAT, "%s: line %zu has %zu fields, the header %zu", path, line + 1, in_line, t->cols);
            csv_table_free(t);
            return rc;
        }
    }
    t->rows = lines - 1;
    return RR_OK;
}

void csv_table_free(CsvTable *t)
{
    free(t->field);
    free(t->text);
    memset(t, 0, sizeof *t);
}

size_t csv_column(const CsvTable *t, const char *name)
{
    for (size_t c = 0; c < t->cols; c++)
        if (!strcmp(t->field[c], name)) return c;
    return SIZE_MAX;
}

const char *csv_field(const CsvTable *t, size_t row, size_t col) { return t->field[(row + 1) * t->cols + col]; }
