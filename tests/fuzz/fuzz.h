/* fuzz.h — what the fuzz harnesses (tests/fuzz/fuzz_*.c) share.
 *
 * A harness is one function
 *     int fuzz_<name>(const char *dir, const uint8_t *data, size_t size, char *err)
 * that writes the input as a file (or two) into the existing scratch directory dir, runs the
 * readers of one format on it, checks what must hold of anything they accept (FUZZ_CHECK aborts
 * otherwise, which the fuzzer reports as a crash) and returns the first reader's RR_OK or
 * RR_ERR_* code, its "<path>: <problem>" message in err.
 *
 * `make fuzz` compiles each harness alone with -DRNNREP_LIBFUZZER, where FUZZ_ENTRY adds
 * libFuzzer's entry point; tests/test_fuzz_regressions.c includes them all without it and
 * feeds them the seed corpus and the regression inputs in `make test`.
 *
 * The seeds (tests/fuzz/corpus/<name>/) are real files: NumPy's arrays of tests/data; the first
 * rows of a tiny zoo's files, cut with npy_create and npy_append; the first vendored MNIST
 * digits and labels under headers that count them; a tiny zoo's args.json and a tiny run's
 * config.json, splits.json and best.safetensors; the reference writer's ref_mixed.safetensors.
 */
#ifndef RNNREP_FUZZ_H
#define RNNREP_FUZZ_H
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnnrep.h"

enum { FUZZ_PATH = 512 };

typedef int FuzzHarness(const char *dir, const uint8_t *data, size_t size, char *err);

static void fuzz_fail(const char *file, int line, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4), noreturn))
#endif
    ;
static void fuzz_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: invariant failed: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

/* What must hold of whatever a reader accepted; a violation is a crash, as an overflow is. */
#define FUZZ_CHECK(cond, ...)                                                    \
    do {                                                                         \
        if (!(cond)) fuzz_fail(__FILE__, __LINE__, __VA_ARGS__);                 \
    } while (0)

/* dir/name into path (FUZZ_PATH bytes). */
static inline void fuzz_path(char *path, const char *dir, const char *name)
{
    snprintf(path, FUZZ_PATH, "%s/%s", dir, name);
}

/* The bytes as the file path (replaced); 0, or -1 when it cannot be written. */
static inline int fuzz_write(const char *path, const void *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    int failed = size && fwrite(data, 1, size, fp) != size;
    return fclose(fp) || failed ? -1 : 0;
}

/* One input through a harness, with what every reader's answer must satisfy: a known code, and
 * a refusal's message beginning with the path of the scratch file it refused. */
static inline int fuzz_run(FuzzHarness *harness, const char *dir, const uint8_t *data, size_t size, char *err)
{
    err[0] = '\0';
    int rc = harness(dir, data, size, err);
    FUZZ_CHECK(rc >= RR_OK && rc <= RR_ERR_PROCESS, "unknown return code %d", rc);
    FUZZ_CHECK(rc == RR_OK || !strncmp(err, dir, strlen(dir)),
               "the message of code %d does not begin with the file's path: \"%s\"", rc, err);
    return rc;
}

#ifdef RNNREP_LIBFUZZER
#include <dirent.h>
#include <unistd.h>

/* One scratch directory per fuzzing process, in memory when /dev/shm exists; removed with
 * its files when the process exits. */
static char fuzz_dir[64];

static void fuzz_remove_dir(void)
{
    DIR *d = opendir(fuzz_dir);
    char path[FUZZ_PATH];
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            fuzz_path(path, fuzz_dir, e->d_name);
            remove(path);
        }
    if (d) closedir(d);
    rmdir(fuzz_dir);
}

static const char *fuzz_scratch(void)
{
    if (fuzz_dir[0]) return fuzz_dir;
    snprintf(fuzz_dir, sizeof fuzz_dir, "/dev/shm/rnnrep-fuzz-XXXXXX");
    if (!mkdtemp(fuzz_dir)) {
        snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/rnnrep-fuzz-XXXXXX");
        if (!mkdtemp(fuzz_dir)) rr_fatal("cannot create a scratch directory in /dev/shm or /tmp");
    }
    atexit(fuzz_remove_dir);
    return fuzz_dir;
}

#define FUZZ_ENTRY(harness)                                                      \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                 \
    {                                                                            \
        char err[RR_ERRLEN];                                                     \
        fuzz_run(harness, fuzz_scratch(), data, size, err);                      \
        return 0;                                                                \
    }
#else
#define FUZZ_ENTRY(harness)
#endif

#endif
