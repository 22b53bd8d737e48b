/* test_hostile.c — issue 12's zoo-file rows through the program: `zoo info` and `zoo merge` of
 * crafted files (a tiny valid zoo, tinyzoo.h, with one file rewritten by npy_create /
 * npy_append or npy_write) end in exit 1 with a message naming the file, never in a signal, a
 * hang or a summary of garbage; a failed merge leaves nothing that looks like a zoo; a good
 * merge still equals the zoo generated whole.
 *
 * Runs ./rnnrep (the float build), so the double build skips it. `make debug` rebuilds ./rnnrep
 * with -fsanitize=address,undefined before it runs the tests, so there every case below runs
 * through the sanitized program, and an overflow or undefined behaviour fails it (cli.h's
 * expect refuses a sanitizer report whatever the exit status). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include "cli.h"
#include "files.h"
#include "tinyzoo.h"

static void shell(const char *cmd)
{
    if (system(cmd) != 0) printf("  failed: %s\n", cmd);
}

/* dst: a fresh copy of the zoo directory src. */
static void copy_zoo(const char *src, const char *dst)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s && cp -r %s %s", dst, src, dst);
    shell(cmd);
}

/* dir/name replaced by a zero-filled array of this dtype and shape, written with npy_create
 * and npy_append (which also writes a header claiming shape[0] rows of 0 bytes). */
static void put_zeros(const char *dir, const char *name, NpyDtype dtype, int ndim, const size_t *shape)
{
    char path[512], err[RR_ERRLEN];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    remove(path);
    NpyFile f;
    size_t row = npy_dtype_size(dtype);
    for (int d = 1; d < ndim; d++) row *= shape[d];
    void *zeros = calloc(row ? row : 1, 1);
    int rc = npy_create(&f, path, dtype, ndim, shape, err);
    for (size_t r = 0; r < shape[0] && !rc && row; r++) rc = npy_append(&f, zeros, 1, err);
    if (!rc && !row) rc = npy_append(&f, zeros, shape[0], err);
    if (f.fp) npy_close(&f, NULL);
    CHECK(rc == RR_OK, "writing %s: %s", path, rc ? err : "");
    free(zeros);
}

/* dir/name cut to its first rows rows. */
static void cut_rows(const char *dir, const char *name, size_t rows)
{
    char path[512], err[RR_ERRLEN];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    NpyArray a;
    int rc = npy_read(path, &a, err);
    if (!rc) {
        a.count = a.count / a.shape[0] * rows;
        a.shape[0] = rows;
        rc = npy_write(path, &a, err);
        npy_free(&a);
    }
    CHECK(rc == RR_OK, "cutting %s: %s", path, rc ? err : "");
}

/* The run numbers (column 0) of dir/name set to run. */
static void set_runs(const char *dir, const char *name, int64_t run)
{
    char path[512], err[RR_ERRLEN];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    NpyArray a;
    int rc = npy_read(path, &a, err);
    if (!rc) {
        for (size_t r = 0; r < a.shape[0]; r++) ((int64_t *)a.data)[r * a.shape[1]] = run;
        rc = npy_write(path, &a, err);
        npy_free(&a);
    }
    CHECK(rc == RR_OK, "run numbers of %s: %s", path, rc ? err : "");
}

/* Whether a temporary directory dir.merging-* is left next to dir. */
static int merging_left(const char *dir)
{
    const char *base = strrchr(dir, '/') + 1;
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s.merging", base);
    DIR *parent = opendir("build");
    struct dirent *e;
    int left = 0;
    while (parent && (e = readdir(parent)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) {
            printf("  build/%s is left\n", e->d_name);
            left = 1;
        }
    if (parent) closedir(parent);
    return left;
}

/* Whether dir (a directory in build/) or a temporary directory next to it holds anything of a
 * zoo. */
static int zoo_left(const char *dir)
{
    static const char *const names[] = {"args.json", "parameters.npy", "sequences.npy", "logits.npy", "tasks.npy",
                                        "num_step_correct.npy", "num_step_correct_strict.npy", "num_step.npy",
                                        "accuracy_losses.npy"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        if (f) {
            fclose(f);
            printf("  %s is left\n", path);
            return 1;
        }
    }
    return merging_left(dir);
}

enum { N = 9, S = 4 }; /* the one-run zoos: 9 snapshots, tinyzoo.h's 4 stored sequences */

/* zoo info: every file's dtype and full shape, against the kind and the others. */
static void check_info(void)
{
    const char *x = "build/hostile-x";
    char args[128];
    snprintf(args, sizeof args, "zoo info %s", x);

    /* MNIST accuracy_losses.npy of 5 columns (read N x 5 doubles into N x 4) and of 1 */
    copy_zoo("build/hostile-mnist-a", x);
    put_zeros(x, "accuracy_losses.npy", NPY_F8, 2, (size_t[]){N, 5});
    expect(args, 1, "build/hostile-x/accuracy_losses.npy: <f8 (9, 5), a MNIST zoo has <f8 (9, 4)");
    put_zeros(x, "accuracy_losses.npy", NPY_F8, 2, (size_t[]){N, 1});
    expect(args, 1, "build/hostile-x/accuracy_losses.npy: <f8 (9, 1), a MNIST zoo has <f8 (9, 4)");
    put_zeros(x, "accuracy_losses.npy", NPY_F8, 2, (size_t[]){N, 4});
    expect(args, 0, NULL);
    CHECK(strstr(out_text, "9 (1 runs, 9 snapshot steps)") && strstr(out_text, "0.000    0.000"), "zoo info, accuracies of zeros: %.400s",
          out_text);

    /* MNIST sequences and logits of the wrong inner shape */
    copy_zoo("build/hostile-mnist-a", x);
    put_zeros(x, "sequences.npy", NPY_F2, 4, (size_t[]){N, S, 50, 15});
    expect(args, 1, "build/hostile-x/sequences.npy: <f2 (9, 4, 50, 15), a MNIST zoo has <f2 (9, any, 50, 16)");
    copy_zoo("build/hostile-mnist-a", x);
    put_zeros(x, "logits.npy", NPY_F2, 4, (size_t[]){N, S, 50, 9});
    expect(args, 1, "build/hostile-x/logits.npy: <f2 (9, 4, 50, 9), a MNIST zoo has <f2 (9, 4, 50, 10)");

    /* formal num_step_correct.npy of 1 and of 0 columns (the accuracy is column 2) */
    copy_zoo("build/hostile-formal-a", x);
    put_zeros(x, "num_step_correct.npy", NPY_I8, 2, (size_t[]){N, 1});
    expect(args, 1, "build/hostile-x/num_step_correct.npy: <i8 (9, 1), a formal-language zoo has <i8 (9, 3)");
    put_zeros(x, "num_step_correct.npy", NPY_I8, 2, (size_t[]){N, 0});
    expect(args, 1, "build/hostile-x/num_step_correct.npy: <i8 (9, 0), a formal-language zoo has <i8 (9, 3)");

    /* formal sequences and logits of the wrong inner shape; logits of another S; no S at all */
    copy_zoo("build/hostile-formal-a", x);
    put_zeros(x, "sequences.npy", NPY_I2, 3, (size_t[]){N, S, 41});
    expect(args, 1, "build/hostile-x/sequences.npy: <i2 (9, 4, 41), a formal-language zoo has <i2 (9, any, 42)");
    put_zeros(x, "sequences.npy", NPY_I2, 3, (size_t[]){N, 0, 42});
    expect(args, 1, "build/hostile-x/sequences.npy: shape (9, 0, ...): no stored sequences");
    copy_zoo("build/hostile-formal-a", x);
    put_zeros(x, "logits.npy", NPY_F2, 4, (size_t[]){N, S, 41, 5});
    expect(args, 1, "build/hostile-x/logits.npy: <f2 (9, 4, 41, 5), a formal-language zoo has <f2 (9, 4, 41, 6)");
    put_zeros(x, "logits.npy", NPY_F2, 4, (size_t[]){N, S - 1, 41, 6});
    expect(args, 1, "build/hostile-x/logits.npy: <f2 (9, 3, 41, 6), a formal-language zoo has <f2 (9, 4, 41, 6)");
    put_zeros(x, "logits.npy", NPY_F2, 3, (size_t[]){N, S, 41});
    expect(args, 1, "build/hostile-x/logits.npy: <f2 (9, 4, 41), a formal-language zoo has <f2 (9, 4, 41, 6)");

    /* another dtype; other row counts; no rows; a header claiming more rows than the file holds */
    copy_zoo("build/hostile-formal-a", x);
    put_zeros(x, "tasks.npy", NPY_F8, 2, (size_t[]){N, 4});
    expect(args, 1, "build/hostile-x/tasks.npy: <f8 (9, 4), a formal-language zoo has <i8 (9, 4)");
    copy_zoo("build/hostile-formal-a", x);
    cut_rows(x, "num_step_correct_strict.npy", 8);
    expect(args, 1, "build/hostile-x/num_step_correct_strict.npy: 8 rows, parameters.npy has 9");
    copy_zoo("build/hostile-formal-a", x);
    put_zeros(x, "parameters.npy", NPY_F4, 2, (size_t[]){0, zoo_num_params(ZOO_FORMAL)});
    expect(args, 1, "build/hostile-x/parameters.npy: no rows");
    copy_zoo("build/hostile-formal-a", x);
    struct stat st;
    CHECK(stat("build/hostile-x/logits.npy", &st) == 0 && truncate("build/hostile-x/logits.npy", st.st_size - 1) == 0, "truncate");
    expect(args, 1, "build/hostile-x/logits.npy: truncated");

    /* a released zoo has no num_step_correct_strict.npy: still whole */
    copy_zoo("build/hostile-formal-a", x);
    remove("build/hostile-x/num_step_correct_strict.npy");
    expect(args, 0, NULL);
    CHECK(strstr(out_text, "9 (1 runs, 9 snapshot steps)"), "zoo info without the strict file: %.300s", out_text);
    shell("rm -rf build/hostile-x");
}

/* zoo merge: every slice checked whole before anything is written; nothing zoo-like left. */
static void check_merge(void)
{
    const char *x = "build/hostile-x", *out = "build/hostile-out";
    char args[256];
    snprintf(args, sizeof args, "zoo merge --out %s build/hostile-formal-a %s", out, x);
    shell("rm -rf build/hostile-out");

    /* parameters.npy claiming (2^62, 0): rows of no bytes are not bounded by the file's size */
    copy_zoo("build/hostile-formal-b", x);
    put_zeros(x, "parameters.npy", NPY_F4, 2, (size_t[]){(size_t)1 << 62, 0});
    expect(args, 1, "build/hostile-x/parameters.npy: <f4 (4611686018427387904, 0), a formal-language zoo has <f4 (4611686018427387904, 13766)");
    CHECK(!zoo_left(out), "a merge refused leaves nothing");

    /* files that disagree on the row count */
    copy_zoo("build/hostile-formal-b", x);
    cut_rows(x, "tasks.npy", N);
    expect(args, 1, "build/hostile-x/tasks.npy: 9 rows, parameters.npy has 18");
    CHECK(!zoo_left(out), "a merge refused leaves nothing");

    /* run numbers: INT64_MAX (whose next run does not exist), negative, out of order */
    copy_zoo("build/hostile-formal-b", x);
    set_runs(x, "num_step_correct.npy", INT64_MAX);
    expect(args, 1, "build/hostile-x/num_step_correct.npy: row 0: run 9223372036854775807 is not a run number");
    CHECK(!zoo_left(out), "a merge refused leaves nothing");
    snprintf(args, sizeof args, "zoo merge --out %s %s", out, x);
    expect(args, 1, "build/hostile-x/num_step_correct.npy: row 0: run 9223372036854775807 is not a run number");
    set_runs(x, "num_step_correct.npy", -1);
    expect(args, 1, "build/hostile-x/num_step_correct.npy: row 0: run -1 is not a run number");
    snprintf(args, sizeof args, "zoo merge --out %s build/hostile-formal-b build/hostile-formal-a", out);
    expect(args, 1, "build/hostile-formal-a/num_step_correct.npy: run 0 where run 3 was due");
    CHECK(!zoo_left(out), "a merge refused leaves nothing");

    /* slices that differ: in their row shapes (under the same args.json), in an optional file */
    snprintf(args, sizeof args, "zoo merge --out %s build/hostile-formal-a %s", out, x);
    shell("rm -rf build/hostile-x");
    char err[RR_ERRLEN];
    ZooSettings s = tiny_zoo_settings(ZOO_KIND_FORMAL, 3);
    s.stored = S + 1;
    CHECK(zoo_generate(&s, x, 1, 2, 0, NULL, NULL, err) == RR_OK, "a slice of 5 stored sequences: %s", err);
    shell("cp build/hostile-formal-a/args.json build/hostile-x/");
    expect(args, 1, "build/hostile-x/sequences.npy: rows of another shape than the first slice's");
    copy_zoo("build/hostile-formal-b", x);
    remove("build/hostile-x/num_step_correct_strict.npy");
    expect(args, 1, "build/hostile-x/num_step_correct_strict.npy: missing, but the first slice's is present");
    CHECK(!zoo_left(out), "a merge refused leaves nothing");

    /* a failure after the zoo is written (OUT is a file): the temporary directory goes too */
    spit(out, "x", 1);
    snprintf(args, sizeof args, "zoo merge --out %s build/hostile-formal-a build/hostile-formal-b", out);
    expect(args, 1, "cannot rename to build/hostile-out/parameters.npy: Not a directory");
    CHECK(!zoo_left(out), "a merge that fails at the end leaves nothing");
    remove(out);
    shell("rm -rf build/hostile-x");
}

/* Good merges through the program: equal to the zoo generated whole, into a new directory, an
 * empty one, or one holding other things; never over a zoo. */
static void check_good_merges(void)
{
    static const char *const kinds[2] = {"formal", "mnist"};
    static const char *const files[2][7] = {
        {"args.json", "parameters.npy", "sequences.npy", "logits.npy", "tasks.npy", "num_step_correct.npy", "num_step_correct_strict.npy"},
        {"args.json", "parameters.npy", "sequences.npy", "logits.npy", "tasks.npy", "num_step.npy", "accuracy_losses.npy"}};
    for (int k = 0; k < 2; k++) {
        char args[256], a[128], b[128];
        shell("rm -rf build/hostile-out");
        snprintf(args, sizeof args, "zoo merge --out build/hostile-out build/hostile-%s-a build/hostile-%s-b", kinds[k], kinds[k]);
        expect(args, 0, NULL);
        for (int i = 0; i < 7; i++) {
            snprintf(a, sizeof a, "build/hostile-%s/%s", kinds[k], files[k][i]);
            snprintf(b, sizeof b, "build/hostile-out/%s", files[k][i]);
            CHECK(same_files(a, b), "%s: merged %s equals the whole zoo's", kinds[k], files[k][i]);
        }
        expect(args, 1, "build/hostile-out/parameters.npy already exists: merge into a new directory");
    }
    shell("rm -rf build/hostile-out && mkdir build/hostile-out");
    expect("zoo merge --out build/hostile-out/ build/hostile-formal-a build/hostile-formal-b", 0, NULL);
    CHECK(same_files("build/hostile-formal/parameters.npy", "build/hostile-out/parameters.npy"), "merged into an empty directory");
    shell("rm -rf build/hostile-out && mkdir -p build/hostile-out/.slices");
    expect("zoo merge --out build/hostile-out build/hostile-formal-a build/hostile-formal-b", 0, NULL);
    CHECK(same_files("build/hostile-formal/args.json", "build/hostile-out/args.json"), "merged into a directory holding .slices");
    CHECK(!merging_left("build/hostile-out"), "no temporary directory is left");
    shell("rm -rf build/hostile-out");
}

int main(void)
{
    if (IS_DOUBLE_BUILD) {
        printf("SKIP the hostile-input tests run once, in the float build (./rnnrep)\n");
        return test_summary("test_hostile");
    }
    mkdir("build", 0777);
    shell("rm -rf build/hostile-formal build/hostile-formal-a build/hostile-formal-b build/hostile-mnist build/hostile-mnist-a "
          "build/hostile-mnist-b");
    make_tiny_zoo("build/hostile-formal", ZOO_KIND_FORMAL, 3, 0, 3);
    make_tiny_zoo("build/hostile-formal-a", ZOO_KIND_FORMAL, 3, 0, 1);
    make_tiny_zoo("build/hostile-formal-b", ZOO_KIND_FORMAL, 3, 1, 3);
    make_tiny_zoo("build/hostile-mnist", ZOO_KIND_MNIST, 2, 0, 2);
    make_tiny_zoo("build/hostile-mnist-a", ZOO_KIND_MNIST, 2, 0, 1);
    make_tiny_zoo("build/hostile-mnist-b", ZOO_KIND_MNIST, 2, 1, 2);
    check_info();
    check_merge();
    check_good_merges();
    return test_summary("test_hostile");
}
