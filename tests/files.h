/* files.h — files in tests: a whole file read or written, two files compared byte for byte,
 * scratch paths. */
#ifndef RNNREP_TEST_FILES_H
#define RNNREP_TEST_FILES_H
#include <stdlib.h>
#include <string.h>
#include "test.h"

/* Whole file into a malloc'd buffer with a '\0' after its len bytes; NULL if unreadable. */
static inline void *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - 1 - n, fp)) > 0) {
        n += got;
        if (n == cap - 1) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger) free(buf);
            buf = bigger;
        }
    }
    fclose(fp);
    if (buf) buf[n] = '\0';
    *len = n;
    return buf;
}

/* A new file holding data (removed first: truncating one that has data makes some file
 * systems flush it). */
static inline void spit(const char *path, const void *data, size_t len)
{
    remove(path);
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL, "cannot create %s", path);
    if (!fp) return;
    CHECK(len == 0 || fwrite(data, 1, len, fp) == len, "write %s", path);
    CHECK(fclose(fp) == 0, "close %s", path);
}

/* prefix followed by name, in one of 8 buffers used in turn: a scratch path of a test's own. */
static inline char *scratch_path(const char *prefix, const char *name)
{
    static char buf[8][256];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s%s", prefix, name);
    return p;
}

/* Whether both files can be read and hold the same bytes. */
static inline int same_files(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *da = slurp(a, &na), *db = slurp(b, &nb);
    int same = da && db && na == nb && !memcmp(da, db, na);
    free(da);
    free(db);
    return same;
}
#endif
