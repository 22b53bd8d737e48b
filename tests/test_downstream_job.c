/* test_downstream_job.c — `rnnrep downstream`'s job (zoo/downstream.c): the downstream split's
 * sizes, every (target, split, metric) row written for the frozen features and the reference
 * points (formal languages and MNIST) and for a supervised baseline, rows replaced and never
 * duplicated, a supervised baseline killed mid-run and continued ending with the same bytes,
 * and refusals (a run of another zoo, a target the zoo does not have, too few tasks, other
 * settings for a baseline in progress). The zoos and runs are made here, tiny (12 runs x 9
 * updates, the tiny training preset), as in test_train.c. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "files.h"
#include "tinyzoo.h"

#define DIR "build/tests/downstream"



static void shell(const char *cmd)
{
    CHECK(system(cmd) == 0, "%s", cmd);
}


static void train(const char *zoo, const char *run, const char *encoder)
{
    TrainSettings s;
    char err[RR_ERRLEN];
    train_settings_preset(&s, "tiny", encoder, err);
    int rc = train_run(zoo, run, &s, 0, NULL, NULL, err);
    CHECK(rc == RR_OK, "train %s on %s: %s", encoder, zoo, rc ? err : "");
}

/* SPEC.md §2.4 step 4 for the 216 languages, one row each: 151 train, 32 validation and 33
 * OOD tasks, of which 17 move to predictor training and 16 stay. */
static void check_split_sizes(void)
{
    double tasks[216 * 4];
    for (size_t k = 0; k < 216; k++) {
        int t[4];
        lang_task(k, t);
        for (int c = 0; c < 4; c++) tasks[k * 4 + c] = t[c];
    }
    TaskSplits s;
    char err[RR_ERRLEN];
    int rc = task_splits_init(&s, tasks, 216, 4, "synthetic", err);
    CHECK(rc == RR_OK, "task_splits_init: %s", rc ? err : "");
    if (rc) return;
    size_t rows[3] = {0, 0, 0}, moved = 0;
    int kept = 1;
    for (size_t r = 0; r < 216; r++) {
        rows[s.row_downstream[r]]++;
        moved += s.row_split[r] == SPLIT_OOD && s.row_downstream[r] == SPLIT_TRAIN;
        kept &= s.row_split[r] == SPLIT_OOD || s.row_downstream[r] == s.row_split[r];
    }
    CHECK(kept, "train and validation tasks keep their split");
    CHECK(rows[SPLIT_TRAIN] == 168 && rows[SPLIT_VALID] == 32 && rows[SPLIT_OOD] == 16,
          "downstream rows: %zu predictor-training (want 151 + 17), %zu validation (32), %zu OOD (16)", rows[0], rows[1], rows[2]);
    CHECK(moved == 17, "17 of the 33 OOD tasks move to predictor training, got %zu", moved);
    task_splits_free(&s);
}

/* ---- The table ------------------------------------------------------------------------- */

typedef struct Row { char key[300]; char value[64]; } Row;

/* The rows of a downstream.csv (header checked); how many, at most max. */
static size_t read_rows(const char *path, Row *rows, size_t max)
{
    size_t len, n = 0;
    char *text = slurp(path, &len);
    CHECK(text && !strncmp(text, DOWNSTREAM_HEADER "\n", strlen(DOWNSTREAM_HEADER) + 1), "%s: the header", path);
    if (!text) return 0;
    for (char *line = strchr(text, '\n') + 1; *line && n < max; n++) {
        char *end = strchr(line, '\n'), *comma = end;
        *end = '\0';
        while (comma > line && comma[-1] != ',') comma--;
        snprintf(rows[n].key, sizeof rows[n].key, "%.*s", (int)(comma - 1 - line), line);
        snprintf(rows[n].value, sizeof rows[n].value, "%s", comma);
        line = end + 1;
    }
    free(text);
    return n;
}

static const Row *find_row(const Row *rows, size_t n, const char *key, size_t *copies)
{
    const Row *found = NULL;
    *copies = 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].key, key)) {
            found = &rows[i];
            ++*copies;
        }
    return found;
}

/* Whether the zoo's column (accuracy or gap) is constant over the rows of downstream split k:
 * then R² and τ are undefined there. */
static int constant_truth(const char *zoo, int gap, int k)
{
    ZooData z;
    TaskSplits s;
    char err[RR_ERRLEN];
    if (zoo_data_load(zoo, &z, err)) return 0;
    task_splits_init(&s, z.tasks, z.N, z.task_width, "tasks", err);
    double first = NAN;
    int constant = 1;
    for (size_t r = 0; r < z.N; r++) {
        if (s.row_downstream[r] != (TaskSplit)k) continue;
        double v = gap ? z.gap[r] : z.accuracy[r];
        if (isnan(first)) first = v;
        constant &= v == first;
    }
    task_splits_free(&s);
    zoo_data_free(&z);
    return constant;
}

/* Every row the job owes, exactly once, finite where the metric is defined. */
typedef struct Expect { const char *target, *metrics[2]; } Expect;

static void check_rows(const char *zoo, const char *path, const char *encoder, const Expect *targets, size_t ntargets,
                       const char *supervised, const char *supervised_target, size_t want_rows)
{
    static Row rows[400];
    size_t n = read_rows(path, rows, 400);
    CHECK(n == want_rows, "%s: %zu rows, want %zu", path, n, want_rows);
    const char *who[5][3] = {{encoder, "pretrained", "ridge"}, {encoder, "pretrained", "mlp"}, {"none", "reference", "constant"},
                             {"stats_features", "reference", "ridge"}, {supervised, "supervised", "mlp"}};
    for (int w = 0; w < 5; w++)
        for (size_t t = 0; t < ntargets; t++) {
            if (w == 4 && (!supervised || strcmp(targets[t].target, supervised_target))) continue;
            for (int k = 1; k <= 2; k++)
                for (int m = 0; m < 2 && targets[t].metrics[m]; m++) {
                    const char *metric = targets[t].metrics[m];
                    char key[300];
                    size_t copies;
                    snprintf(key, sizeof key, "%s,1,%s,%s,%s,%s,%s", who[w][0], who[w][1], who[w][2], targets[t].target,
                             k == 1 ? "val" : "ood", metric);
                    const Row *row = find_row(rows, n, key, &copies);
                    CHECK(copies == 1, "%s: row %s %zu times", path, key, copies);
                    if (!row) continue;
                    int regression = !strcmp(metric, "r2") || !strcmp(metric, "kendall_tau");
                    int undefined = regression && constant_truth(zoo, !strcmp(targets[t].target, "gap"), k);
                    undefined |= w == 2 && !strcmp(metric, "kendall_tau");   /* a constant prediction has no order */
                    double v = strtod(row->value, NULL);
                    if (undefined) CHECK(!strcmp(row->value, "nan"), "%s: %s is undefined, written nan", key, row->value);
                    else CHECK(isfinite(v) && strcmp(row->value, "nan"), "%s: finite, got %s", key, row->value);
                    int share = !strcmp(metric, "exact_match") || !strcmp(metric, "block_accuracy") || !strcmp(metric, "accuracy");
                    if (share) CHECK(v >= 0 && v <= 1, "%s: a share in [0, 1], got %g", key, v);
                    if (!strcmp(metric, "circular_mae")) CHECK(v >= 0 && v <= 180, "%s: degrees in [0, 180], got %g", key, v);
                    if (!strcmp(metric, "kendall_tau") && !undefined) CHECK(fabs(v) <= 1, "%s: |tau| <= 1, got %g", key, v);
                }
        }
}

static const Expect formal_targets[] = {
    {"task", {"exact_match", "block_accuracy"}}, {"accuracy", {"r2", "kendall_tau"}}, {"step", {"accuracy", NULL}}};
static const Expect mnist_targets[] = {{"accuracy", {"r2", "kendall_tau"}}, {"angle", {"circular_mae", NULL}},
                                       {"gap", {"r2", "kendall_tau"}}, {"step", {"accuracy", NULL}}};

/* ---- Progress: counting supervised steps, or dying at one ------------------------------ */

static int steps_seen, die_at_step;
static void count_steps(void *ctx, size_t step, size_t steps, double loss, const char *line)
{
    (void)ctx, (void)step, (void)steps, (void)loss;
    if (line) return;
    if (++steps_seen == die_at_step) _exit(3);
}

static DownstreamSettings settings(const char *target, const char *supervised)
{
    DownstreamSettings s;
    downstream_settings_default(&s);
    snprintf(s.target, sizeof s.target, "%s", target);
    if (supervised) {
        snprintf(s.supervised, sizeof s.supervised, "%s", supervised);
        snprintf(s.preset, sizeof s.preset, "tiny");
    }
    return s;
}

static int run_job(const char *zoo, const char *run, const char *out, const DownstreamSettings *s, char *err)
{
    steps_seen = 0;
    return downstream_run(zoo, run, out, s, count_steps, NULL, err);
}

/* End to end on a formal zoo: every row, once; a rerun gives the same bytes; a changed value
 * is replaced in place, not duplicated; the supervised baseline found complete is only
 * evaluated. */
static void check_formal(const char *zoo, const char *run)
{
    char err[RR_ERRLEN], out[300] = DIR "/formal.csv";
    DownstreamSettings s = settings("all", NULL);
    int rc = run_job(zoo, run, out, &s, err);
    CHECK(rc == RR_OK, "downstream on the formal zoo: %s", rc ? err : "");
    check_rows(zoo, out, "stats", formal_targets, 3, NULL, NULL, 4 * 10);
    shell("cp " DIR "/formal.csv " DIR "/formal-first.csv");

    s = settings("task", "flat");
    rc = run_job(zoo, run, out, &s, err);
    CHECK(rc == RR_OK, "downstream with a supervised baseline: %s", rc ? err : "");
    CHECK(steps_seen == 13, "the supervised baseline trained steps 0..12, %d step reports", steps_seen);
    check_rows(zoo, out, "stats", formal_targets, 3, "flat", "task", 4 * 10 + 4);

    /* the same again: the baseline is complete (evaluated only) and every row is replaced */
    shell("cp " DIR "/formal.csv " DIR "/formal-second.csv");
    rc = run_job(zoo, run, out, &s, err);
    CHECK(rc == RR_OK && steps_seen == 0, "a complete baseline is not trained again (%d steps): %s", steps_seen, rc ? err : "");
    CHECK(same_files(DIR "/formal.csv", DIR "/formal-second.csv"), "a rerun replaces its rows with the same bytes");
    s = settings("all", NULL);
    rc = run_job(zoo, run, out, &s, err);
    CHECK(rc == RR_OK, "rerun: %s", rc ? err : "");
    check_rows(zoo, out, "stats", formal_targets, 3, "flat", "task", 4 * 10 + 4);

    /* a row edited by hand comes back in its place, no duplicate */
    size_t len;
    char *text = slurp(out, &len), *row = strstr(text, "none,1,reference,constant,step,ood,accuracy,");
    CHECK(row != NULL, "the constant predictor's step row is there");
    if (row) {
        char *value = row + strlen("none,1,reference,constant,step,ood,accuracy,"), *end = strchr(value, '\n');
        FILE *f = fopen(out, "wb");
        fprintf(f, "%.*s7%s", (int)(value - text), text, end);
        fclose(f);
        rc = run_job(zoo, run, out, &s, err);
        CHECK(rc == RR_OK && same_files(out, DIR "/formal-second.csv"), "an edited row is replaced in its place: %s", rc ? err : "");
    }
    free(text);

    /* --seed: rows under another seed, beside the first ones */
    s.run_seed = 0;
    s.seed = 2;
    snprintf(s.target, sizeof s.target, "accuracy");
    rc = run_job(zoo, run, out, &s, err);
    static Row rows[400];
    size_t n = read_rows(out, rows, 400), copies;
    CHECK(rc == RR_OK && n == 44 + 4 * 4, "seed 2 adds 16 rows: %zu rows", n);
    CHECK(find_row(rows, n, "stats,2,pretrained,mlp,accuracy,ood,r2", &copies) && copies == 1, "a seed-2 row");
}

/* Killed during the supervised baseline (after kill_at step reports) and run again, the
 * baseline's checkpoints and the table equal those of a run without a break. */
static void check_resume(const char *zoo, const char *run, int kill_at)
{
    char err[RR_ERRLEN], cmd[600];
    const char *whole = DIR "/resume-whole", *broken = DIR "/resume-broken";
    DownstreamSettings s = settings("task", "flat");
    if (kill_at == 0) { /* the reference: a copy of the run, the job run through */
        snprintf(cmd, sizeof cmd, "rm -rf %s && cp -r %s %s && rm -f %s/supervised-* %s/downstream.csv", whole, run, whole, whole, whole);
        shell(cmd);
        int rc = run_job(zoo, whole, DIR "/resume-whole/downstream.csv", &s, err);
        CHECK(rc == RR_OK, "the uninterrupted job: %s", rc ? err : "");
        return;
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s && cp -r %s %s && rm -f %s/supervised-* %s/downstream.csv", broken, run, broken, broken, broken);
    shell(cmd);
    pid_t pid = fork();
    if (pid == 0) {
        die_at_step = kill_at;
        run_job(zoo, broken, DIR "/resume-broken/downstream.csv", &s, err);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3, "the job was killed at supervised step report %d", kill_at);
    int rc = run_job(zoo, broken, DIR "/resume-broken/downstream.csv", &s, err);
    CHECK(rc == RR_OK, "continued after step report %d: %s", kill_at, rc ? err : "");
    CHECK(steps_seen == 13 - (kill_at > 7 ? 7 : 1), "continued from the last evaluation: %d step reports", steps_seen);
    static const char *const files[] = {"supervised-flat-task-seed1.safetensors", "supervised-flat-task-seed1-last.safetensors",
                                        "downstream.csv"};
    for (int i = 0; i < 3; i++) {
        char a[300], b[300];
        snprintf(a, sizeof a, "%s/%s", whole, files[i]);
        snprintf(b, sizeof b, "%s/%s", broken, files[i]);
        CHECK(same_files(a, b), "%s after a kill at step report %d equals the uninterrupted job's", files[i], kill_at);
    }
}

static void check_refusals(const char *zoo, const char *run, const char *other_zoo, const char *few_zoo)
{
    char err[RR_ERRLEN];
    DownstreamSettings s = settings("all", NULL);
    int rc = run_job(other_zoo, run, DIR "/refused.csv", &s, err);
    CHECK(rc != RR_OK && strstr(err, other_zoo) && strstr(err, zoo) && strstr(err, "108 snapshots") && strstr(err, "117 snapshots"),
          "a run of another zoo is refused, naming both: %s", err);
    s = settings("angle", NULL);
    rc = run_job(zoo, run, DIR "/refused.csv", &s, err);
    CHECK(rc != RR_OK && strstr(err, "'angle' is not a target of formal_languages zoos (task, accuracy, step, or all)"),
          "an MNIST target on a formal zoo is refused: %s", err);
    rc = downstream_target_check(ZOO_KIND_MNIST, "task", err);
    CHECK(rc != RR_OK && strstr(err, "(accuracy, angle, gap, step, or all)"), "a formal target for MNIST is refused: %s", err);
    CHECK(downstream_target_check(ZOO_KIND_MNIST, "gap", err) == RR_OK, "gap is an MNIST target");
    s = settings("all", NULL);
    rc = run_job(few_zoo, run, DIR "/refused.csv", &s, err);
    CHECK(rc != RR_OK && strstr(err, "needs at least 7 tasks"), "too few tasks for the split: %s", err);
    s = settings("task", "flat");
    s.steps = 20;
    rc = run_job(zoo, run, DIR "/refused.csv", &s, err);
    CHECK(rc != RR_OK && strstr(err, "another 'steps'"), "a baseline checkpoint of other settings is refused, naming it: %s", err);
    s.steps = 0;
    s.patience = 3;
    rc = run_job(zoo, run, DIR "/refused.csv", &s, err);
    CHECK(rc != RR_OK && strstr(err, "another 'downstream.patience'"), "another patience is refused: %s", err);
    FILE *f = fopen(DIR "/refused.csv", "rb");
    CHECK(f == NULL, "refusals write no table");
    if (f) fclose(f);
    if (!IS_DOUBLE_BUILD) { /* the command line: a target the zoo lacks is a usage error */
        char cmd[600];
        snprintf(cmd, sizeof cmd, "./rnnrep downstream --zoo %s --run %s --out %s/cli.csv --target angle 2>/dev/null", zoo, run, DIR);
        int status = system(cmd);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2, "rnnrep downstream --target angle on a formal zoo exits 2");
        snprintf(cmd, sizeof cmd, "./rnnrep downstream --zoo %s --run %s --out %s/cli.csv 2>/dev/null", other_zoo, run, DIR);
        status = system(cmd);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1, "rnnrep downstream with a run of another zoo exits 1");
        static const char *const usage[] = {"--predictor lasso", "--steps 3", "--supervised interactive_3", "--supervised flat --preset huge",
                                            "--target volume"};
        for (size_t i = 0; i < sizeof usage / sizeof *usage; i++) {
            snprintf(cmd, sizeof cmd, "./rnnrep downstream --zoo %s --run %s --out %s/cli.csv %s 2>/dev/null", zoo, run, DIR, usage[i]);
            status = system(cmd);
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2, "rnnrep downstream %s exits 2", usage[i]);
        }
    }
}

int main(void)
{
    check_split_sizes();
    shell("rm -rf " DIR " && mkdir -p " DIR);
    const char *zoo = DIR "/zoo", *run = DIR "/run";
    /* runs 0..11 of a zoo of 13: the zoo; its last run alone: a zoo of one task; both: another zoo */
    make_tiny_zoo(zoo, ZOO_KIND_FORMAL, 13, 0, 12);
    make_tiny_zoo(DIR "/zoo-1", ZOO_KIND_FORMAL, 13, 12, 13);
    char err[RR_ERRLEN];
    int rc = zoo_merge(DIR "/zoo-13", (const char *const[]){zoo, DIR "/zoo-1"}, 2, err);
    CHECK(rc == RR_OK, "merge: %s", rc ? err : "");
    train(zoo, run, "stats");
    check_formal(zoo, run);
    check_refusals(zoo, run, DIR "/zoo-13", DIR "/zoo-1");
    check_resume(zoo, run, 0);
    check_resume(zoo, run, 3);
    check_resume(zoo, run, 9);

    const char *mzoo = DIR "/zoo-mnist", *mrun = DIR "/run-mnist";
    make_tiny_zoo(mzoo, ZOO_KIND_MNIST, 8, 0, 8);   /* 8 angles: 5 + 1 predictor-training, 1 validation, 1 OOD */
    train(mzoo, mrun, "dws");
    DownstreamSettings s = settings("all", NULL);
    rc = run_job(mzoo, mrun, DIR "/mnist.csv", &s, err);
    CHECK(rc == RR_OK, "downstream on the MNIST zoo: %s", rc ? err : "");
    check_rows(mzoo, DIR "/mnist.csv", "dws", mnist_targets, 4, NULL, NULL, 4 * 12);
    return test_summary("test_downstream_job");
}
