/* test_report.c — the report's statistics (PCA on hand-computed examples, the bootstrap
 * interval on hand-checked cases), reading results back (csv_read, json_member_text), and a
 * reduced reproduction end to end through ./rnnrep: every stage, every figure well-formed
 * with ink in every series, every table with its header and rows; a second reproduction does
 * nothing; a deleted run and a run cut back to its config are trained again to the same
 * bytes; a report of run directories given one by one. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "files.h"
#include "svgcheck.h"

#define OUT "build/tests/reproduce"

/* Four points on the lines through (1, 2) along (1, 1) and (1, -1): (±3, ±3) and (±1, ∓1)
 * about the mean. C = [[5, 4], [4, 5]]: eigenvalues 9 along (1, 1)/√2 and 1 along (1, -1)/√2. */
static void check_pca(void)
{
    const double X[4 * 2] = {4, 5, -2, -1, 2, 1, 0, 3};
    double mean[2], comp[4], var[2], out[8];
    pca_fit(X, 4, 2, 2, mean, comp, var);
    CHECK_NEAR(mean[0], 1, 1e-15, "PCA mean x");
    CHECK_NEAR(mean[1], 2, 1e-15, "PCA mean y");
    CHECK_NEAR(var[0], 9, 1e-12, "first eigenvalue");
    CHECK_NEAR(var[1], 1, 1e-12, "second eigenvalue");
    const double r = sqrt(0.5);
    /* signs: the largest entry positive, the first of equal ones */
    CHECK_NEAR(comp[0], r, 1e-12, "PC 1 x");
    CHECK_NEAR(comp[1], r, 1e-12, "PC 1 y");
    CHECK_NEAR(comp[2], r, 1e-12, "PC 2 x");
    CHECK_NEAR(comp[3], -r, 1e-12, "PC 2 y");
    pca_project(X, 4, 2, 2, mean, comp, out);
    const double want[8] = {3 / r, 0, -3 / r, 0, 0, 1 / r, 0, -1 / r}; /* (3, 3) -> 3√2 = 3 / r */
    for (int i = 0; i < 8; i++) CHECK_NEAR(out[i], want[i], 1e-12, "projection");

    /* 3-D, a diagonal covariance (0.5, 2, 0): the components are the axes, by variance */
    const double Y[4 * 3] = {0, 2, 5, 0, -2, 5, 1, 0, 5, -1, 0, 5};
    double m3[3], c3[9], v3[3];
    pca_fit(Y, 4, 3, 3, m3, c3, v3);
    CHECK_NEAR(v3[0], 2, 1e-12, "3-D: variance along y");
    CHECK_NEAR(v3[1], 0.5, 1e-12, "3-D: variance along x");
    CHECK_NEAR(v3[2], 0, 1e-12, "3-D: no variance along z");
    CHECK(c3[0] == 0 && c3[1] == 1 && c3[2] == 0, "3-D: PC 1 = (0, 1, 0), got (%g, %g, %g)", c3[0], c3[1], c3[2]);
    CHECK(c3[3] == 1 && c3[4] == 0 && c3[5] == 0, "3-D: PC 2 = (1, 0, 0), got (%g, %g, %g)", c3[3], c3[4], c3[5]);
    CHECK_NEAR(m3[2], 5, 1e-15, "3-D mean z");
}

/* Hand-checked intervals. {0, 0, 0, 1}: a resample's mean is k/4 with k ~ Binomial(4, 1/4),
 * P(k <= 2) = 0.949 and P(k <= 3) = 0.996, so with 2000 resamples the 2.5% point is 0 and the
 * 97.5% point 0.75 (each a margin of 5 and more standard deviations). {1, 2}: 1 or 2 each with
 * probability 1/4, so [1, 2]. One value: the value. */
static void check_bootstrap(void)
{
    Rng rng;
    double lo, hi;
    rng_seed(&rng, 7);
    double m = bootstrap_mean_ci((const double[]){0, 0, 0, 1}, 4, 2000, 0.95, &rng, &lo, &hi);
    CHECK(m == 0.25 && lo == 0 && hi == 0.75, "bootstrap {0,0,0,1}: mean %g [%g, %g], want 0.25 [0, 0.75]", m, lo, hi);
    m = bootstrap_mean_ci((const double[]){1, 2}, 2, 2000, 0.95, &rng, &lo, &hi);
    CHECK(m == 1.5 && lo == 1 && hi == 2, "bootstrap {1,2}: mean %g [%g, %g], want 1.5 [1, 2]", m, lo, hi);
    Rng before = rng;
    m = bootstrap_mean_ci((const double[]){0.123}, 1, 2000, 0.95, &rng, &lo, &hi);
    CHECK(m == 0.123 && lo == 0.123 && hi == 0.123, "bootstrap of one seed is the point: %g [%g, %g]", m, lo, hi);
    CHECK(!memcmp(&before, &rng, sizeof rng), "one seed draws nothing");
    double a[2], b[2];
    const double x[5] = {0.3, 0.1, 0.5, 0.2, 0.9};
    rng_seed(&rng, 11);
    bootstrap_mean_ci(x, 5, 2000, 0.95, &rng, &a[0], &a[1]);
    rng_seed(&rng, 11);
    bootstrap_mean_ci(x, 5, 2000, 0.95, &rng, &b[0], &b[1]);
    CHECK(a[0] == b[0] && a[1] == b[1] && a[0] < 0.4 && a[1] > 0.4 && a[0] >= 0.1 && a[1] <= 0.9,
          "the same seed, the same interval, around the mean 0.4: [%g, %g]", a[0], a[1]);
}

static void check_reading(void)
{
    const char *path = "build/tests/report-table.csv";
    const char text[] = "step,split,value\n0,val,0.5\n6,ood,0.25\n12,val,0.1"; /* the last line torn */
    spit(path, text, strlen(text));
    CsvTable t;
    char err[RR_ERRLEN];
    int rc = csv_read(path, &t, err);
    CHECK(rc == RR_OK && t.cols == 3 && t.rows == 2, "a table of 3 columns and 2 complete rows: %s", rc ? err : "");
    if (!rc) {
        CHECK(csv_column(&t, "split") == 1 && csv_column(&t, "none") == SIZE_MAX, "columns by name");
        CHECK(!strcmp(csv_field(&t, 1, 1), "ood") && !strcmp(csv_field(&t, 0, 2), "0.5"), "fields by row and column");
        csv_table_free(&t);
    }
    const char bad[] = "a,b\n1,2\n3\n";
    spit(path, bad, strlen(bad));
    rc = csv_read(path, &t, err);
    CHECK(rc == RR_ERR_FORMAT && strstr(err, "line 3"), "a short row is refused naming its line: %s", err);

    const char *json = "{\"encoder\": \"interactive\", \"seed\": 3, \"zoo\": \"a \\\"q\\\" \\\\ b\", \"lr\": 0.0001, \"m\": [1, 2]}";
    char v[64];
    CHECK(json_member_text(json, "encoder", v, sizeof v) && !strcmp(v, "interactive"), "a string member: %s", v);
    CHECK(json_member_text(json, "seed", v, sizeof v) && !strcmp(v, "3"), "a number member: %s", v);
    CHECK(json_member_text(json, "zoo", v, sizeof v) && !strcmp(v, "a \"q\" \\ b"), "escapes undone: %s", v);
    CHECK(json_member_text(json, "m", v, sizeof v) && !strcmp(v, "[1, 2]"), "a list as written: %s", v);
    CHECK(!json_member_text(json, "steps", v, sizeof v) && v[0] == '\0', "a missing member");
}

/* ---- the reduced reproduction ---------------------------------------------------------- */

static ReproduceSettings reduced(void)
{
    ReproduceSettings s;
    char err[RR_ERRLEN];
    CHECK(reproduce_settings_preset(&s, "tiny", err) == RR_OK, "tiny preset: %s", err);
    for (int k = 0; k < 2; k++) { /* the zoo of tests/test_train.c: 12 runs x 9 updates */
        ZooSettings *z = &s.zoo_settings[k];
        z->runs = 12;
        z->steps = 8;
        for (int i = 0; i < ZOO_SNAPSHOTS; i++) z->snapshot[i] = (size_t)i;
        z->samples = 40;
        z->stored = 4;
        z->eval_batches = 1;
        z->eval_batch = 50;
    }
    s.seeds = 1;
    s.jobs = 2;
    return s;
}

/* Every figure: well-formed, ink in each series, nothing outside its frame; every table:
 * its header and rows; each named in report.md. Returns the number of figures. */
static size_t check_files(const char *dir)
{
    char path[600], *md;
    size_t len, figures = 0, tables = 0;
    snprintf(path, sizeof path, "%s/report.md", dir);
    md = slurp(path, &len);
    CHECK(md != NULL && strstr(md, "## Formal languages") && strstr(md, "## Sequential MNIST") && strstr(md, "interrogator"),
          "%s has a section per zoo and the theory", path);
    static const char *const kinds[2] = {"figures", "tables"};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, kinds[k]);
        DIR *d = opendir(path);
        CHECK(d != NULL, "%s exists", path);
        for (struct dirent *e; d && (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "%s/%s/%s", dir, kinds[k], e->d_name);
            if (k == 0) {
                char *svg = slurp(path, &len), why[200] = "";
                size_t inked = 0, series = svg ? series_groups(svg, &inked) : 0;
                CHECK(svg && xml_well_formed(svg, why), "%s: well-formed XML (%s)", path, why);
                CHECK(series > 0 && inked == series, "%s: %zu series, %zu with a plotted path", path, series, inked);
                CHECK(svg && points_outside(svg) == 0, "%s: every point inside its frame", path);
                char ref[300];
                snprintf(ref, sizeof ref, "(figures/%s)", e->d_name);
                CHECK(md && strstr(md, ref), "report.md shows %s", e->d_name);
                free(svg);
                figures++;
            } else {
                CsvTable t;
                char err[RR_ERRLEN];
                int rc = csv_read(path, &t, err);
                CHECK(rc == RR_OK && t.cols >= 2 && t.rows >= 1, "%s: a header and rows (%s)", path, rc ? err : "");
                if (!rc) csv_table_free(&t);
                tables++;
            }
        }
        if (d) closedir(d);
    }
    /* per zoo: curves, Table 2, cloned, 6 embeddings, 2 probing figures and one downstream
     * figure per target (formal 3, MNIST 4); tables: Table 2, cloned, 6 embeddings and the
     * downstream table per zoo, and the interrogator's */
    CHECK(figures == 2 * 11 + 3 + 4, "%zu figures, want 29", figures);
    CHECK(tables == 2 * 9 + 1, "%zu tables, want 19", tables);
    snprintf(path, sizeof path, "%s/tables/formal-table2.csv", dir);
    char *t2 = slurp(path, &len);
    const char *head = "encoder,type,seeds,best_val_loss,ci_low,ci_high,ood_loss_at_best,paper_val_loss\nstats,mechanistic,1,";
    CHECK(t2 && !strncmp(t2, head, strlen(head)), "Table 2 starts with the statistics encoder, one seed");
    CHECK(t2 && strstr(t2, "\ninteractive,functionalist,1,") && strstr(t2, ",0.015\n"), "Table 2 has interactive probing beside the paper's 0.015");
    free(t2);
    free(md);
    return figures;
}

/* Runs a reproduction with its stage lines in log_path; returns its status. */
static int reproduce(const ReproduceSettings *s, const char *log_path, char *err)
{
    FILE *log = fopen(log_path, "w");
    CHECK(log != NULL, "create %s", log_path);
    int rc = reproduce_run(s, OUT, "./rnnrep", log, err);
    if (log) fclose(log);
    return rc;
}

static size_t count(const char *text, const char *what)
{
    size_t n = 0;
    for (const char *p = text ? strstr(text, what) : NULL; p; p = strstr(p + 1, what)) n++;
    return n;
}

/* Downstream rows as `rnnrep downstream` writes them (SPEC.md §9), for two runs: figures per
 * target with a bar series per training and predictor, the table, the paper's claim in words. */
static void check_downstream(const char *given, const char *run_a, const char *run_b)
{
    static const char *const head = "encoder,seed,training,predictor,target,split,metric,value\n";
    char text[4096], path[600], err[RR_ERRLEN];
    size_t len;
    const char *runs[2] = {run_a, run_b}, *encoders[2] = {"interactive", "stats"};
    for (int r = 0; r < 2; r++) {
        double good = r == 0 ? 0.6 : 0.3; /* interactive best */
        int n = snprintf(text, sizeof text, "%s", head);
        static const char *const splits[2] = {"val", "ood"};
        for (int sp = 0; sp < 2; sp++) {
            n += snprintf(text + n, sizeof text - (size_t)n, "%s,1,pretrained,ridge,task,%s,exact_match,%g\n", encoders[r], splits[sp], good);
            n += snprintf(text + n, sizeof text - (size_t)n, "%s,1,pretrained,mlp,task,%s,exact_match,%g\n", encoders[r], splits[sp], good - 0.1);
            n += snprintf(text + n, sizeof text - (size_t)n, "%s,1,pretrained,ridge,task,%s,block_accuracy,%g\n", encoders[r], splits[sp], good + 0.2);
            n += snprintf(text + n, sizeof text - (size_t)n, "%s,1,pretrained,ridge,accuracy,%s,r2,nan\n", encoders[r], splits[sp]);
            n += snprintf(text + n, sizeof text - (size_t)n, "%s,1,pretrained,ridge,accuracy,%s,kendall_tau,0.5\n", encoders[r], splits[sp]);
            n += snprintf(text + n, sizeof text - (size_t)n, "constant,1,reference,ridge,task,%s,exact_match,0.05\n", splits[sp]);
        }
        n += snprintf(text + n, sizeof text - (size_t)n, "%s,1,pretrained,ridge,task,ood,exact_match,%g\n", encoders[r], good); /* replaced, not doubled */
        snprintf(path, sizeof path, "%s/downstream.csv", runs[r]);
        spit(path, text, (size_t)n);
        n = snprintf(text, sizeof text, "%s%s,1,supervised,mlp,task,ood,exact_match,0.2\n", head, encoders[r]);
        snprintf(path, sizeof path, "%s/downstream-supervised.csv", runs[r]);
        spit(path, text, (size_t)n);
    }
    int rc = report_write(given, runs, 2, NULL, err);
    CHECK(rc == RR_OK, "a report with downstream rows: %s", rc ? err : "");
    static const char *const figures[2] = {"formal-downstream-task", "formal-downstream-accuracy"};
    for (int f = 0; f < 2; f++) {
        snprintf(path, sizeof path, "%s/figures/%s.svg", given, figures[f]);
        char *svg = slurp(path, &len), why[200] = "";
        size_t inked = 0, series = svg ? series_groups(svg, &inked) : 0;
        CHECK(svg && xml_well_formed(svg, why) && series > 0 && inked == series && points_outside(svg) == 0,
              "%s: well-formed, %zu series, %zu inked (%s)", path, series, inked, why);
        free(svg);
    }
    snprintf(path, sizeof path, "%s/figures/formal-downstream-task.svg", given);
    char *svg = slurp(path, &len);
    CHECK(svg && strstr(svg, "pretrained, ridge") && strstr(svg, "supervised, mlp") && strstr(svg, "reference, ridge"),
          "the task figure has a series per training and predictor");
    free(svg);
    snprintf(path, sizeof path, "%s/tables/formal-downstream.csv", given);
    char *table = slurp(path, &len);
    CHECK(table && strstr(table, "task,exact_match,ood,interactive,pretrained,ridge,1,0.6,0.6,0.6\n") &&
          strstr(table, "task,exact_match,ood,constant,reference,ridge,1,"), "the downstream table: one row per cell, one seed");
    free(table);
    snprintf(path, sizeof path, "%s/report.md", given);
    char *md = slurp(path, &len);
    CHECK(md && strstr(md, "**interactive** (0.6, ridge)") && strstr(md, "clearly best at OOD task prediction: agree") &&
          strstr(md, "supervised (mlp): 0.2"), "report.md names the best pretrained encoder and the paper's claim");
    free(md);
}

/* The words that depend on the numbers, from hand-made metrics.csv and cloned.csv of two tiny
 * runs (steps 0, 6, 12): every run still improving, or one best before its last evaluation;
 * clones that score nothing (the return difference ranks nothing) or that work. */
static void check_words(const char *given, const char *run_a, const char *run_b)
{
    static const char *const metrics_head = "step,train_loss,val_loss,ood_loss,return_diff_train,return_diff_val,return_diff_ood\n";
    const char *runs[2] = {run_a, run_b};
    char text[2048], path[600], err[RR_ERRLEN];
    size_t len;
    for (int c = 0; c < 2; c++) {
        double clone = c ? 0.7 : 0;
        for (int r = 0; r < 2; r++) {
            double late = c && r ? 0.4 : 0.2; /* the second time, run b's best is at step 6 */
            double d = 0.8 - clone; /* the return difference of the rows below */
            int n = snprintf(text, sizeof text, "%s0,0.7,0.6,0.6,%g,%g,%g\n6,0.5,0.3,0.3,%g,%g,%g\n12,0.3,%g,%g,%g,%g,%g\n",
                             metrics_head, d, d, d, d, d, d, late, late, d, d, d);
            snprintf(path, sizeof path, "%s/metrics.csv", runs[r]);
            spit(path, text, (size_t)n);
            n = snprintf(text, sizeof text, "step,split,row,original,clone\n");
            for (int step = 0; step <= 12; step += 6)
                n += snprintf(text + n, sizeof text - (size_t)n, "%d,train,0,0.8,%g\n%d,val,1,0.8,%g\n%d,ood,2,0.8,%g\n", step,
                              clone, step, clone, step, clone);
            snprintf(path, sizeof path, "%s/cloned.csv", runs[r]);
            spit(path, text, (size_t)n);
        }
        int rc = report_write(given, runs, 2, NULL, err);
        snprintf(path, sizeof path, "%s/report.md", given);
        char *md = rc ? NULL : slurp(path, &len);
        if (c == 0) {
            CHECK(md && strstr(md, "Every run (all 2) has its best validation loss at its last evaluation (of 12 steps)") &&
                  strstr(md, "Over all 4 pairs the originals score 0.8 and their clones 0 on average") &&
                  strstr(md, "do not yet work") && !strstr(md, "Closest clones"),
                  "clones that score nothing rank nothing; every run still improving: %s", rc ? err : "");
        } else {
            CHECK(md && strstr(md, "Best validation loss at: stats step 6, interactive step 12 (of 12 steps).") &&
                  strstr(md, "not trained to their best: interactive (seed 1).") &&
                  strstr(md, "their clones 0.7 on average") && strstr(md, "Closest clones out of distribution: **stats** (0.1)"),
                  "clones that work; one run past its best: %s", rc ? err : "");
        }
        free(md);
    }
}

static void check_reproduction(void)
{
    char cmd[1400], err[RR_ERRLEN], log_path[300], path[600], keep[600];
    size_t len;
    snprintf(cmd, sizeof cmd, "rm -rf %s %s-given", OUT, OUT);
    CHECK(system(cmd) == 0, "clean %s", OUT);
    ReproduceSettings s = reduced();
    snprintf(log_path, sizeof log_path, "%s.log", OUT);
    int rc = reproduce(&s, log_path, err);
    CHECK(rc == RR_OK, "the reduced reproduction: %s", rc ? err : "");
    char *log = slurp(log_path, &len);
    CHECK(count(log, ": start\n") == 6 && count(log, ": done in ") == 6, "stages zoo formal, zoo mnist, train, embed, "
          "downstream and report ran:\n%s", log ? log : "");
    free(log);
    if (rc) return;
    check_files(OUT);

    /* Again: nothing to do, nothing touched. */
    snprintf(path, sizeof path, "%s/report.md", OUT);
    snprintf(keep, sizeof keep, "%s.report.md", OUT);
    snprintf(cmd, sizeof cmd, "cp %s %s", path, keep);
    CHECK(system(cmd) == 0, "keep report.md");
    rc = reproduce(&s, log_path, err);
    log = slurp(log_path, &len);
    CHECK(rc == RR_OK && count(log, ": skipped") == 6 && count(log, ": start") == 0,
          "a second reproduction skips every stage (zoo x 2, train, embed, downstream, report):\n%s", log ? log : "");
    free(log);

    /* A run deleted and one cut back to its config.json (a run begun, to --resume): trained
     * again to the same bytes, the report the same. */
    snprintf(cmd, sizeof cmd, "cp %s/runs/formal/dws-s1/metrics.csv %s.metrics.csv && rm -rf %s/runs/formal/dws-s1 && cd "
             "%s/runs/mnist/stats-s1 && rm -f metrics.csv cloned.csv timing.csv best.safetensors last.safetensors embeddings.npy",
             OUT, OUT, OUT, OUT);
    CHECK(system(cmd) == 0, "delete a run, cut back another");
    rc = reproduce(&s, log_path, err);
    log = slurp(log_path, &len);
    CHECK(rc == RR_OK && strstr(log, "train: 2 runs to train (1 of them resumed, 10 complete)") && strstr(log, "embed: 2 runs") &&
          strstr(log, "downstream: 4 predictions") && count(log, ": skipped") == 2, "the reproduction continues with what is missing: %s\n%s", rc ? err : "", log ? log : "");
    free(log);
    snprintf(path, sizeof path, "%s/runs/formal/dws-s1/metrics.csv", OUT);
    snprintf(keep, sizeof keep, "%s.metrics.csv", OUT);
    CHECK(same_files(path, keep), "the run trained again has the same metrics.csv");
    snprintf(path, sizeof path, "%s/report.md", OUT);
    snprintf(keep, sizeof keep, "%s.report.md", OUT);
    CHECK(same_files(path, keep), "and the report the same report.md");

    /* Run directories given one by one: the report of those alone. */
    char given[300], run_a[300], run_b[300];
    snprintf(given, sizeof given, "%s-given", OUT);
    snprintf(run_a, sizeof run_a, "%s/runs/formal/interactive-s1", OUT);
    snprintf(run_b, sizeof run_b, "%s/runs/formal/stats-s1", OUT);
    const char *runs[2] = {run_a, run_b};
    rc = report_write(given, runs, 2, NULL, err);
    CHECK(rc == RR_OK, "a report of two run directories: %s", rc ? err : "");
    snprintf(path, sizeof path, "%s/figures/formal-probing-interactive.svg", given);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "it has the interactive encoder's probes");
    if (f) fclose(f);

    check_downstream(given, run_a, run_b);
    check_words(given, run_a, run_b);

    rc = report_write("build/tests", NULL, 0, NULL, err);
    CHECK(rc == RR_ERR_FORMAT && strstr(err, "no run"), "a directory without runs: %s", err);
    CHECK(reproduce_settings_preset(&s, "huge", err) == RR_ERR_FORMAT && strstr(err, "tiny, small, paper"), "an unknown preset: %s", err);
}

int main(void)
{
    check_pca();
    check_bootstrap();
    check_reading();
    /* the stages run ./rnnrep, the float build: like the command-line tests, once */
    if (IS_DOUBLE_BUILD) printf("SKIP the reproduction end to end runs once, in the float build (./rnnrep)\n");
    else check_reproduction();
    return test_summary("test_report");
}
