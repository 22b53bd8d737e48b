/* test_fuzz_regressions.c — the fuzz harnesses of tests/fuzz/ without libFuzzer: every seed of
 * tests/fuzz/corpus/<harness>/ and every input of tests/fuzz/regressions/<harness>/ (those a
 * fuzzer once failed on, and hand-made hostile headers named hostile-*) through the same
 * function `make fuzz` runs. The seeds are real files, so each must be accepted; a regression
 * input must end in RR_OK or a message naming the file (fuzz_run), its invariants holding (a
 * violation aborts); `make debug` runs them under the sanitizers too. The hostile headers must
 * be refused with the message given below. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>

#include "files.h"
#include "fuzz/fuzz_idx.c"
#include "fuzz/fuzz_json.c"
#include "fuzz/fuzz_npy.c"
#include "fuzz/fuzz_safetensors.c"

#define SCRATCH (IS_DOUBLE_BUILD ? "build/test_fuzz_f64" : "build/test_fuzz_f32")

static const struct { const char *name; FuzzHarness *run; } harnesses[] = {
    {"idx", fuzz_idx}, {"json", fuzz_json}, {"npy", fuzz_npy}, {"safetensors", fuzz_safetensors},
};

static int by_string(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The file names in dir, sorted (so the output does not depend on the directory's order);
 * how many. Release with free_names. */
static size_t list_dir(const char *dir, char ***names)
{
    size_t n = 0, cap = 16;
    *names = rr_malloc(cap * sizeof **names, "names");
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (n == cap && !(*names = realloc(*names, (cap *= 2) * sizeof **names))) rr_fatal("out of memory");
        size_t len = strlen(e->d_name) + 1;
        (*names)[n] = rr_malloc(len, "name");
        memcpy((*names)[n++], e->d_name, len);
    }
    if (d) closedir(d);
    qsort(*names, n, sizeof **names, by_string);
    return n;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* Every file of tests/fuzz/<kind>/<harness> through the harness; seeds must be accepted. */
static void run_all(const char *kind, int seeds)
{
    for (size_t h = 0; h < sizeof harnesses / sizeof harnesses[0]; h++) {
        char dir[256], path[FUZZ_PATH], err[RR_ERRLEN], **names;
        snprintf(dir, sizeof dir, "tests/fuzz/%s/%s", kind, harnesses[h].name);
        size_t n = list_dir(dir, &names), accepted = 0;
        if (seeds) CHECK(n > 0, "%s holds no inputs", dir);
        for (size_t i = 0; i < n; i++) {
            size_t len = 0;
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            uint8_t *data = slurp(path, &len);
            CHECK(data != NULL, "%s: cannot read", path);
            if (!data) continue;
            int rc = fuzz_run(harnesses[h].run, SCRATCH, data, len, err);
            if (seeds) CHECK(rc == RR_OK, "seed %s refused: %s", path, err);
            accepted += rc == RR_OK;
            free(data);
        }
        printf("%s/%s: %zu inputs, %zu accepted\n", kind, harnesses[h].name, n, accepted);
        free_names(names, n);
    }
}

/* Inputs that must be refused with code and a message holding what (fuzz_run checks that it
 * begins with the scratch file's path). */
static void check_refused(void)
{
    static const struct { const char *harness, *file; int code; const char *what; } cases[] = {
        {"npy", "hostile-2e62-rows.npy", RR_ERR_FORMAT, "shape (4611686018427387904, 13766) is too large"},
        {"npy", "hostile-rows-without-data.npy", RR_ERR_FORMAT, "truncated: shape (1000, 13766) needs 55064000 data bytes"},
        {"idx", "hostile-10000-images-without-data", RR_ERR_FORMAT, "announces 7840000 bytes of data, the file holds 0"},
        {"safetensors", "hostile-header-length-2e63.safetensors", RR_ERR_FORMAT, "header length 9223372036854775808 exceeds"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char path[FUZZ_PATH], err[RR_ERRLEN];
        size_t len = 0, h = 0;
        while (strcmp(harnesses[h].name, cases[c].harness)) h++;
        snprintf(path, sizeof path, "tests/fuzz/regressions/%s/%s", cases[c].harness, cases[c].file);
        uint8_t *data = slurp(path, &len);
        CHECK(data != NULL, "%s: cannot read", path);
        if (!data) continue;
        int rc = fuzz_run(harnesses[h].run, SCRATCH, data, len, err);
        CHECK(rc == cases[c].code && strstr(err, cases[c].what),
              "%s: code %d, \"%s\"; want code %d and \"%s\"", path, rc, err, cases[c].code, cases[c].what);
        free(data);
    }
}

int main(void)
{
    char err[RR_ERRLEN];
    CHECK(rr_make_dir(SCRATCH, err) == RR_OK, "%s", err);
    run_all("corpus", 1);
    run_all("regressions", 0);
    check_refused();
    return test_summary("test_fuzz_regressions");
}
