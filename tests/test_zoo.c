/* test_zoo.c — model zoo generation: the released file layout (names, dtypes, shapes,
 * 128-byte headers), determinism, resume after an interruption (also one torn between two
 * files' appends), slices merged back into the whole, and --jobs through the program: equal to
 * one process, a failing worker failing the command, the directory checked first, workers
 * ending with their parent, no shell between the parent and its workers. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "files.h"

static const char *const formal_files[] = {"args.json", "parameters.npy", "sequences.npy", "logits.npy", "tasks.npy",
                                           "num_step_correct.npy", "num_step_correct_strict.npy"};
static const char *const mnist_files[] = {"args.json", "parameters.npy", "sequences.npy", "logits.npy", "tasks.npy",
                                          "num_step.npy", "accuracy_losses.npy"};


/* Every file of two zoo directories, byte for byte. */
static int same_zoo(const char *a, const char *b, ZooKind kind)
{
    const char *const *names = kind == ZOO_KIND_FORMAL ? formal_files : mnist_files;
    int same = 1;
    for (int i = 0; i < 7; i++) {
        char pa[512], pb[512];
        snprintf(pa, sizeof pa, "%s/%s", a, names[i]);
        snprintf(pb, sizeof pb, "%s/%s", b, names[i]);
        int eq = same_files(pa, pb);
        if (!eq) printf("  %s differs between %s and %s\n", names[i], a, b);
        same &= eq;
    }
    return same;
}

static void fresh(const char *dir)
{
    char cmd[600] = "rm -rf '";
    size_t n = strlen(cmd);
    for (const char *p = dir; *p && n < sizeof cmd - 8; p++) { /* in single quotes, ' is '\'' */
        if (*p == '\'') n += (size_t)snprintf(cmd + n, sizeof cmd - n, "'\\''");
        else cmd[n++] = *p;
    }
    snprintf(cmd + n, sizeof cmd - n, "'");
    if (system(cmd) != 0) printf("  could not clear %s\n", dir);
}

static ZooSettings tiny_settings(ZooKind kind)
{
    ZooSettings s;
    zoo_settings_preset(&s, kind, "tiny", NULL);
    s.runs = 3;
    s.steps = 8;
    for (int k = 0; k < ZOO_SNAPSHOTS; k++) s.snapshot[k] = (size_t)k;
    s.batch = 4;
    s.samples = 40;
    s.stored = 5;
    s.eval_batches = 1;
    s.eval_batch = 40;
    return s;
}

static void check_layout(const char *dir, ZooKind kind)
{
    char err[RR_ERRLEN], path[512];
    NpyArray a;
    int formal = kind == ZOO_KIND_FORMAL;
    size_t N = 3 * ZOO_SNAPSHOTS, P = zoo_num_params(formal ? ZOO_FORMAL : ZOO_MNIST);
    struct { const char *name; NpyDtype dtype; int ndim; size_t shape[4]; } want[6] = {
        {"parameters.npy", NPY_F4, 2, {N, P}},
        {"sequences.npy", formal ? NPY_I2 : NPY_F2, formal ? 3 : 4, {N, 5, formal ? 42 : 50, 16}},
        {"logits.npy", NPY_F2, 4, {N, 5, formal ? 41 : 50, formal ? 6 : 10}},
        {"tasks.npy", formal ? NPY_I8 : NPY_F8, 2, {N, formal ? 4 : 1}},
        {formal ? "num_step_correct.npy" : "num_step.npy", NPY_I8, 2, {N, formal ? 3 : 2}},
        {formal ? "num_step_correct_strict.npy" : "accuracy_losses.npy", formal ? NPY_I8 : NPY_F8, 2, {N, formal ? 3 : 4}},
    };
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, want[i].name);
        int rc = npy_read(path, &a, err);
        CHECK(rc == RR_OK, "%s", err);
        if (rc) continue;
        CHECK(npy_expect(&a, path, want[i].dtype, want[i].ndim, want[i].shape, err) == RR_OK, "%s", err);
        size_t len;
        char *raw = slurp(path, &len);
        CHECK(raw && len > 10 && (unsigned char)raw[8] + 256 * (unsigned char)raw[9] + 10 == 128, "%s: a 128-byte header", path);
        free(raw);
        if (i == 4) { /* run numbers and steps */
            int64_t *v = malloc(a.count * sizeof *v);
            npy_to_i64(NPY_I8, a.data, a.count, v);
            size_t w = a.shape[1];
            int ok = 1;
            for (size_t r = 0; r < N; r++) ok &= v[r * w] == (int64_t)(r / 9) && v[r * w + 1] == (int64_t)(r % 9);
            CHECK(ok, "%s: run and step columns", path);
            if (formal) {
                int in_range = 1;
                for (size_t r = 0; r < N; r++) in_range &= v[r * w + 2] >= 0 && v[r * w + 2] <= 40;
                CHECK(in_range, "%s: correct counts within the 40 samples", path);
            }
            free(v);
        }
        if (i == 1 && formal) { /* stored rollouts start with BOS and hold tokens 0..5 */
            int16_t *seq = a.data;
            int ok = 1;
            for (size_t r = 0; r < a.count; r++) ok &= seq[r] >= 0 && seq[r] <= 5 && (r % 42 || seq[r] == LANG_BOS);
            CHECK(ok, "%s: tokens and BOS", path);
        }
        npy_free(&a);
    }
}

static void check_kind(ZooKind kind, const char *tag)
{
    char err[RR_ERRLEN], whole[64], again[64], a[64], b[64], merged[64], resumed[64];
    ZooSettings s = tiny_settings(kind);
    snprintf(whole, sizeof whole, "build/zoo-%s-whole", tag);
    snprintf(again, sizeof again, "build/zoo-%s-again", tag);
    snprintf(a, sizeof a, "build/zoo-%s-a", tag);
    snprintf(b, sizeof b, "build/zoo-%s-b", tag);
    snprintf(merged, sizeof merged, "build/zoo-%s-merged", tag);
    snprintf(resumed, sizeof resumed, "build/zoo-%s-resumed", tag);
    const char *dirs[] = {whole, again, a, b, merged, resumed};
    for (int i = 0; i < 6; i++) fresh(dirs[i]);

    CHECK(zoo_generate(&s, whole, 0, 3, 0, NULL, NULL, err) == RR_OK, "generate: %s", err);
    check_layout(whole, kind);
    CHECK(zoo_generate(&s, again, 0, 3, 0, NULL, NULL, err) == RR_OK, "generate again: %s", err);
    CHECK(same_zoo(whole, again, kind), "%s: the same seed gives the same bytes", tag);
    CHECK(zoo_generate(&s, whole, 0, 3, 0, NULL, NULL, err) != RR_OK && strstr(err, "--resume"),
          "%s: refusing to overwrite a zoo: %s", tag, err);

    /* slices 0:1 and 1:3, merged */
    CHECK(zoo_generate(&s, a, 0, 1, 0, NULL, NULL, err) == RR_OK, "slice 0:1: %s", err);
    CHECK(zoo_generate(&s, b, 1, 3, 0, NULL, NULL, err) == RR_OK, "slice 1:3: %s", err);
    const char *parts[2] = {a, b}, *swapped[2] = {b, a};
    CHECK(zoo_merge(merged, swapped, 2, err) != RR_OK && strstr(err, "out of order"), "%s: merge refuses slices out of order: %s", tag, err);
    fresh(merged);
    CHECK(zoo_merge(merged, parts, 2, err) == RR_OK, "merge: %s", err);
    CHECK(same_zoo(whole, merged, kind), "%s: merged slices equal the whole zoo", tag);

    /* interrupted after one run; then a torn append: run 2's rows reached parameters.npy
     * only, and half a row of garbage follows them; resume must repair both */
    CHECK(zoo_generate(&s, resumed, 0, 1, 0, NULL, NULL, err) == RR_OK, "first run: %s", err);
    CHECK(zoo_generate(&s, resumed, 0, 2, 1, NULL, NULL, err) == RR_OK, "resume to 2 runs: %s", err);
    char path[128];
    snprintf(path, sizeof path, "%s/parameters.npy", resumed);
    NpyFile f;
    CHECK(npy_open_append(&f, path, err) == RR_OK, "%s", err);
    real *junk = calloc(ZOO_SNAPSHOTS * f.row_bytes, 1);
    CHECK(npy_append(&f, junk, ZOO_SNAPSHOTS, err) == RR_OK, "%s", err);
    npy_close(&f, NULL);
    FILE *tail = fopen(path, "ab");
    fwrite(junk, 1, 1000, tail);
    fclose(tail);
    free(junk);
    CHECK(zoo_generate(&s, resumed, 0, 3, 1, NULL, NULL, err) == RR_OK, "resume to 3 runs: %s", err);
    CHECK(same_zoo(whole, resumed, kind), "%s: an interrupted and resumed zoo equals an uninterrupted one", tag);
    ZooSettings other = s;
    other.seed = 99;
    CHECK(zoo_generate(&other, resumed, 0, 3, 1, NULL, NULL, err) != RR_OK && strstr(err, "other settings"),
          "%s: resume refuses other settings: %s", tag, err);

    FILE *info = fopen("build/zoo-info.txt", "w");
    CHECK(zoo_info(whole, info, err) == RR_OK, "zoo info: %s", err);
    fclose(info);
    size_t len;
    char *text = slurp("build/zoo-info.txt", &len);
    CHECK(text && strstr(text, "27 (3 runs, 9 snapshot steps)"), "zoo info counts: %s", text ? text : "");
    free(text);
}

/* A zoo with missing or inconsistent files gets an error naming the file. */
static void check_info_errors(void)
{
    char err[RR_ERRLEN];
    CHECK(zoo_info("build/no-such-zoo", stdout, err) != RR_OK && strstr(err, "build/no-such-zoo"), "missing zoo: %s", err);
    if (system("cp -r build/zoo-formal-whole build/zoo-broken && rm build/zoo-broken/logits.npy") == 0) {
        CHECK(zoo_info("build/zoo-broken", stdout, err) != RR_OK && strstr(err, "logits.npy"), "missing file: %s", err);
        if (system("cp build/zoo-formal-a/tasks.npy build/zoo-broken/ && cp build/zoo-formal-whole/logits.npy build/zoo-broken/") == 0)
            CHECK(zoo_info("build/zoo-broken", stdout, err) != RR_OK && strstr(err, "tasks.npy"), "inconsistent rows: %s", err);
    }
    fresh("build/zoo-broken");
}

/* --jobs 2 through the program equals one process (both the float build). */
static void check_jobs(void)
{
    const char *opts = "--runs 3 --steps 8 --snapshots 0,1,2,3,4,5,6,7,8 --batch 4 --samples 40 --stored 5";
    char cmd[1024];
    fresh("build/zoo-cli-one");
    fresh("build/zoo-cli-jobs");
    snprintf(cmd, sizeof cmd, "./rnnrep zoo formal %s --out build/zoo-cli-one 2>/dev/null", opts);
    CHECK(system(cmd) == 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "./rnnrep zoo formal %s --jobs 2 --out build/zoo-cli-jobs 2>/dev/null", opts);
    CHECK(system(cmd) == 0, "%s", cmd);
    CHECK(same_zoo("build/zoo-cli-one", "build/zoo-cli-jobs", ZOO_KIND_FORMAL), "--jobs 2 equals one process");
    /* no shell between parent and workers: quotes and spaces in a path are just characters,
     * and options given as --name=value reach the workers as they were */
    fresh("build/zoo-cli-jobs 'quoted' $x");
    snprintf(cmd, sizeof cmd, "./rnnrep zoo formal --runs=3 --steps=8 --snapshots=0,1,2,3,4,5,6,7,8 --batch=4 --samples=40 --stored=5 "
             "--jobs=3 --out=\"build/zoo-cli-jobs 'quoted' \\$x\" 2>/dev/null");
    CHECK(system(cmd) == 0, "%s", cmd);
    CHECK(same_zoo("build/zoo-cli-one", "build/zoo-cli-jobs 'quoted' $x", ZOO_KIND_FORMAL), "--jobs 3 into a path with quotes");
    CHECK(system("./rnnrep zoo formal --out build/x --runs 2x 2>/dev/null") != 0, "a bad number is refused");
}

static int exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* Runs a shell command line; its exit status (128 + signal when a signal ended it), and its
 * stderr in build/zoo-cli-err.txt, read into err_text. */
static char err_text[4096];
static int run(const char *cmd)
{
    char full[2048];
    snprintf(full, sizeof full, "%s 2>build/zoo-cli-err.txt", cmd);
    int status = system(full);
    FILE *f = fopen("build/zoo-cli-err.txt", "rb");
    size_t n = f ? fread(err_text, 1, sizeof err_text - 1, f) : 0;
    err_text[n] = '\0';
    if (f) fclose(f);
    return status == -1 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A worker that fails fails the command, which names its slice and merges nothing; the output
 * directory is checked before any training. */
static void check_jobs_failing(void)
{
    const char *opts = "--runs 3 --steps 8 --snapshots 0,1,2,3,4,5,6,7,8 --batch 4 --samples 40 --stored 5";
    char cmd[1024];
    int rc;
    /* a regular file where slice 2:3's directory must go (root ignores permissions, not this) */
    fresh("build/zoo-cli-fail");
    if (system("mkdir -p build/zoo-cli-fail/.slices && touch build/zoo-cli-fail/.slices/2-3") != 0) printf("  cannot prepare\n");
    snprintf(cmd, sizeof cmd, "./rnnrep zoo formal %s --jobs 2 --resume --out build/zoo-cli-fail", opts);
    rc = run(cmd);
    CHECK(rc == 1 && strstr(err_text, "slice 2:3 failed (exit status 1)") && strstr(err_text, "nothing merged"),
          "a failing worker: exit %d, %s", rc, err_text);
    CHECK(!exists("build/zoo-cli-fail/args.json") && !exists("build/zoo-cli-fail/parameters.npy"), "no merged zoo after a failed worker");

    /* without --resume, those leftover slices are refused at once */
    snprintf(cmd, sizeof cmd, "./rnnrep zoo formal %s --jobs 2 --out build/zoo-cli-fail", opts);
    rc = run(cmd);
    CHECK(rc == 1 && strstr(err_text, "holds the slices of an earlier --jobs run"), "leftover slices: exit %d, %s", rc, err_text);

    /* a directory holding a zoo: refused before any slice is made, with and without --resume */
    snprintf(cmd, sizeof cmd, "./rnnrep zoo formal %s --jobs 2 --out build/zoo-cli-jobs", opts);
    rc = run(cmd);
    CHECK(rc == 1 && strstr(err_text, "already holds a zoo") && !strstr(err_text, "runs 1/"), "--jobs on a zoo: exit %d, %s", rc, err_text);
    snprintf(cmd, sizeof cmd, "./rnnrep zoo formal %s --jobs 2 --resume --out build/zoo-cli-jobs", opts);
    rc = run(cmd);
    CHECK(rc == 1 && strstr(err_text, "already holds a zoo"), "--jobs --resume on a merged zoo: exit %d, %s", rc, err_text);

    /* a worker whose parent has ended stops before training */
    fresh("build/zoo-cli-orphan");
    snprintf(cmd, sizeof cmd, "./rnnrep zoo formal %s --parent 1 --out build/zoo-cli-orphan", opts);
    rc = run(cmd);
    CHECK(rc == 1 && strstr(err_text, "the parent process has ended") && !exists("build/zoo-cli-orphan/parameters.npy"),
          "an orphaned worker: exit %d, %s", rc, err_text);

    /* no shell: a quote in an option is part of a directory name, not a command */
    fresh("build/zoo-cli-quote");
    remove("build/PWNED");
    snprintf(cmd, sizeof cmd, "./rnnrep zoo mnist --runs 2 --jobs 2 --out build/zoo-cli-quote --mnist-dir \"x'; touch build/PWNED; echo '\"");
    rc = run(cmd);
    CHECK(rc == 1 && !exists("build/PWNED"), "--mnist-dir with a quote: exit %d, no command run: %s", rc, err_text);
}

/* How many live processes (by POSIX `ps -e -o`) have arguments that contain text, or -1;
 * with stop set, each of them gets SIGKILL. */
static int live_processes(const char *text, int stop)
{
    FILE *p = popen("ps -e -o pid= -o stat= -o args= 2>/dev/null", "r");
    char line[4096], stat[16];
    long pid;
    int n = 0, any = 0;
    if (!p) return -1;
    while (fgets(line, sizeof line, p)) {
        any = 1;
        if (sscanf(line, "%ld %15s", &pid, stat) != 2 || stat[0] == 'Z' || !strstr(line, text)) continue;
        n++;
        if (stop) kill((pid_t)pid, SIGKILL);
    }
    return pclose(p) == 0 && any ? n : -1;
}

/* kill -9 of the --jobs parent: its workers end too (Linux: at once, by PR_SET_PDEATHSIG;
 * elsewhere within 100 training steps, by polling their parent). */
static void check_jobs_orphans(void)
{
    if (live_processes("ps", 0) < 0) {
        printf("SKIP check_jobs_orphans: ps -e -o is not available\n");
        return;
    }
    /* the directory names this test process, so that ps finds its workers and no others */
    char dir[64], slices[80], pid_file[80], cmd[512];
    snprintf(dir, sizeof dir, "build/zoo-cli-killed-%ld", (long)getpid());
    snprintf(slices, sizeof slices, "%s/.slices", dir);
    snprintf(pid_file, sizeof pid_file, "%s.pid", dir);
    fresh(dir);
    remove(pid_file);
    snprintf(cmd, sizeof cmd, "./rnnrep zoo formal --runs 2 --steps 20000 --jobs 2 --out %s 2>/dev/null & echo $! > %s", dir, pid_file);
    if (system(cmd) != 0) printf("  cannot start %s\n", cmd);
    long parent = 0;
    int workers = 0;
    for (int i = 0; i < 1000 && workers < 2; i++) { /* up to 10 s for both workers to appear */
        FILE *f = fopen(pid_file, "r");
        if (f) {
            if (fscanf(f, "%ld", &parent) != 1) parent = 0;
            fclose(f);
        }
        workers = live_processes(slices, 0);
        if (workers < 2) nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    CHECK(parent > 0 && workers == 2, "the parent (%ld) started 2 workers (%d)", parent, workers);
    if (parent > 0) kill((pid_t)parent, SIGKILL);
    for (int i = 0; i < 1000 && workers > 0; i++) { /* up to 10 s for them to end */
        nanosleep(&(struct timespec){0, 10000000}, NULL);
        workers = live_processes(slices, 0);
    }
    CHECK(workers == 0, "the workers end with their parent (%d still running)", workers);
    live_processes(slices, 1); /* none should be left; if some are, stop them */
    fresh(dir);
    remove(pid_file);
}

int main(void)
{
    mkdir("build", 0777);
    check_kind(ZOO_KIND_FORMAL, "formal");
    check_kind(ZOO_KIND_MNIST, "mnist");
    check_info_errors();
    if (!IS_DOUBLE_BUILD) { /* ./rnnrep is the float build */
        check_jobs();
        check_jobs_failing();
        check_jobs_orphans();
    }
    return test_summary("test_zoo");
}
