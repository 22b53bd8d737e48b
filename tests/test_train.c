/* test_train.c — emulation training over a zoo (zoo/train.c): a tiny run end to end, a run
 * interrupted at several moments and resumed ends with the same bytes as one that ran
 * through, checkpoints round-trip, settings that differ on resume are named, bad input is
 * refused with a message. The zoo is made here, small (12 runs x 9 updates). */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "files.h"
#include "tinyzoo.h"

static const char *const run_files[] = {"config.json", "splits.json", "metrics.csv", "cloned.csv", "best.safetensors",
                                        "last.safetensors"};
enum { RUN_FILES = sizeof run_files / sizeof run_files[0] };


static int same_file(const char *dir_a, const char *dir_b, const char *name)
{
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/%s", dir_a, name);
    snprintf(b, sizeof b, "%s/%s", dir_b, name);
    return same_files(a, b);
}


static TrainSettings tiny(const char *encoder)
{
    TrainSettings s;
    char err[RR_ERRLEN];
    train_settings_preset(&s, "tiny", encoder, err);
    return s;
}

/* A tiny run end to end: every file there, metrics with a row per evaluation, finite losses. */
static void check_run(const char *zoo, const char *run, const char *encoder)
{
    TrainSettings s = tiny(encoder);
    char err[RR_ERRLEN], path[512];
    int rc = train_run(zoo, run, &s, 0, NULL, NULL, err);
    CHECK(rc == RR_OK, "train %s: %s", encoder, rc ? err : "");
    for (int i = 0; i < RUN_FILES; i++) {
        snprintf(path, sizeof path, "%s/%s", run, run_files[i]);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL, "%s written", path);
        if (f) fclose(f);
    }
    snprintf(path, sizeof path, "%s/metrics.csv", run);
    size_t len;
    char *text = slurp(path, &len);
    size_t lines = 0;
    for (size_t i = 0; text && i < len; i++) lines += text[i] == '\n';
    CHECK(lines == 1 + 3, "%s: header and 3 evaluations (steps 0, 6, 12), got %zu lines", path, lines);
    CHECK(text && !strstr(text, "nan") && !strstr(text, "inf"), "%s: finite numbers", path);
    free(text);
}

/* Killed (in a child process) after `die_after` progress reports and resumed, the run ends
 * with the files of the uninterrupted one. */
static int die_after, reports;
static void die_at(void *ctx, size_t step, size_t steps, double loss, const char *line)
{
    (void)ctx, (void)step, (void)steps, (void)loss, (void)line;
    if (++reports == die_after) _exit(3);
}

static void check_resume(const char *zoo, const char *whole, const char *run, const char *encoder, int kill_at)
{
    TrainSettings s = tiny(encoder);
    char err[RR_ERRLEN], cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", run);
    CHECK(system(cmd) == 0, "clean %s", run);
    pid_t pid = fork();
    if (pid == 0) {
        die_after = kill_at;
        train_run(zoo, run, &s, 0, die_at, NULL, err);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3, "the run was interrupted at report %d", kill_at);
    int rc = train_run(zoo, run, &s, 1, NULL, NULL, err);
    CHECK(rc == RR_OK, "resume after report %d: %s", kill_at, rc ? err : "");
    for (int i = 0; i < RUN_FILES; i++)
        CHECK(same_file(whole, run, run_files[i]), "%s after an interruption at report %d equals the uninterrupted run's",
              run_files[i], kill_at);
}

/* kill -9 at an unknown moment, several times over, then resume. */
static void check_sigkill(const char *zoo, const char *whole, const char *run)
{
    TrainSettings s = tiny("stats");
    char err[RR_ERRLEN], cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", run);
    CHECK(system(cmd) == 0, "clean %s", run);
    for (int attempt = 0; attempt < 3; attempt++) {
        pid_t pid = fork();
        if (pid == 0) {
            int rc = train_run(zoo, run, &s, 1, NULL, NULL, err);
            _exit(rc ? 1 : 0);
        }
        struct timespec wait = {0, 30000000L + 40000000L * attempt};
        nanosleep(&wait, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
    }
    int rc = train_run(zoo, run, &s, 1, NULL, NULL, err);
    CHECK(rc == RR_OK, "resume after kill -9: %s", rc ? err : "");
    for (int i = 0; i < RUN_FILES; i++) CHECK(same_file(whole, run, run_files[i]), "%s after kill -9 equals the uninterrupted run's", run_files[i]);
}

static void check_refusals(const char *zoo, const char *run)
{
    char err[RR_ERRLEN];
    TrainSettings s = tiny("stats");
    s.lr = 2e-4;
    int rc = train_run(zoo, run, &s, 1, NULL, NULL, err);
    CHECK(rc != RR_OK && strstr(err, "'lr'"), "resume with another learning rate is refused naming it: %s", err);
    s = tiny("stats");
    rc = train_run(zoo, run, &s, 0, NULL, NULL, err);
    CHECK(rc != RR_OK && strstr(err, "--resume"), "a second run into the same directory is refused: %s", err);
    s = tiny("interactive_3");
    rc = train_run(zoo, "build/tests/train-none", &s, 0, NULL, NULL, err);
    CHECK(rc != RR_OK && strstr(err, "unknown encoder"), "an unknown encoder is refused: %s", err);
    s = tiny("stats");
    rc = train_run("build/tests", "build/tests/train-none", &s, 0, NULL, NULL, err);
    CHECK(rc != RR_OK && strstr(err, "not a zoo"), "a directory that is not a zoo is refused: %s", err);
}

/* The best checkpoint loads back into the networks it was written from (through embed):
 * embeddings are unit rows, one per zoo row. */
static void check_embed(const char *zoo, const char *run)
{
    char err[RR_ERRLEN], out[512];
    snprintf(out, sizeof out, "%s/embeddings.npy", run);
    int rc = train_embed(run, zoo, out, err);
    CHECK(rc == RR_OK, "embed: %s", rc ? err : "");
    NpyArray a;
    if (rc || npy_read(out, &a, err)) return;
    CHECK(a.dtype == NPY_F4 && a.ndim == 2 && a.shape[0] == 12 * 9 && a.shape[1] == 16, "embeddings (108, 16) <f4");
    double worst = 0;
    for (size_t r = 0; r < a.shape[0]; r++) {
        double n2 = 0;
        for (size_t k = 0; k < 16; k++) n2 += (double)((float *)a.data)[r * 16 + k] * ((float *)a.data)[r * 16 + k];
        worst = fmax(worst, fabs(sqrt(n2) - 1));
    }
    CHECK(worst < 1e-5, "embeddings are unit rows (worst |norm - 1| %g)", worst);
    npy_free(&a);
}

/* A zoo of too few tasks for the three splits, and a loss that is not finite: clear errors,
 * and no checkpoint from the bad step. */
static void check_bad_input(const char *zoo)
{
    char err[RR_ERRLEN];
    TrainSettings s = tiny("stats");
    make_tiny_zoo("build/tests/train-zoo-few", ZOO_KIND_FORMAL, 3, 0, 3);
    int rc = train_run("build/tests/train-zoo-few", "build/tests/train-run-few", &s, 0, NULL, NULL, err);
    CHECK(rc != RR_OK && strstr(err, "split empty") && strstr(err, "train-zoo-few"), "too few tasks is refused naming the zoo: %s", err);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf build/tests/train-zoo-nan && cp -r %s build/tests/train-zoo-nan", zoo);
    CHECK(system(cmd) == 0, "copy the zoo");
    NpyArray a;
    if (npy_read("build/tests/train-zoo-nan/parameters.npy", &a, err) == RR_OK) {
        for (size_t i = 0; i < a.count; i++) ((float *)a.data)[i] = NAN; /* every θ: the loss of step 0 is NaN */
        CHECK(npy_write("build/tests/train-zoo-nan/parameters.npy", &a, err) == RR_OK, "%s", err);
        npy_free(&a);
    }
    rc = train_run("build/tests/train-zoo-nan", "build/tests/train-run-nan", &s, 0, NULL, NULL, err);
    CHECK(rc != RR_OK && strstr(err, "step 0: the training loss is nan"), "a NaN loss stops the run naming the step: %s", err);
    FILE *f = fopen("build/tests/train-run-nan/last.safetensors", "rb");
    CHECK(f == NULL, "no checkpoint of the bad state");
    if (f) fclose(f);
}

int main(void)
{
    const char *zoo = "build/tests/train-zoo", *mzoo = "build/tests/train-zoo-mnist";
    CHECK(system("rm -rf build/tests/train-zoo* build/tests/train-run*") == 0, "clean");
    make_tiny_zoo(zoo, ZOO_KIND_FORMAL, 12, 0, 12);
    check_run(zoo, "build/tests/train-run-stats", "stats");
    check_run(zoo, "build/tests/train-run-flat", "flat");
    check_run(zoo, "build/tests/train-run-interactive", "interactive");
    check_embed(zoo, "build/tests/train-run-stats");
    check_refusals(zoo, "build/tests/train-run-stats");
    check_bad_input(zoo);
    /* interrupted just after the step-0 evaluation, between evaluations, and after the second */
    const int at[3] = {2, 5, 10};
    for (int i = 0; i < 3; i++) check_resume(zoo, "build/tests/train-run-stats", "build/tests/train-run-resumed", "stats", at[i]);
    check_resume(zoo, "build/tests/train-run-flat", "build/tests/train-run-resumed", "flat", 9);
    check_sigkill(zoo, "build/tests/train-run-stats", "build/tests/train-run-killed");
    make_tiny_zoo(mzoo, ZOO_KIND_MNIST, 12, 0, 12);
    check_run(mzoo, "build/tests/train-run-mnist", "noninteractive");
    return test_summary("test_train");
}
