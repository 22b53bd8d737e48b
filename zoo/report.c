/*
 * report.c — `rnnrep report` (SPEC.md §9, §10): the pictures and tables of a reproduction,
 * made from the files its runs left, and report.md, which says in words what each one shows
 * and where ours agrees with the paper (SPEC.md §7).
 *
 *   input    a reproduction directory, DIR/zoos/<zoo> and DIR/runs/<zoo>/<run> (zoo/reproduce.c
 *            makes it), or run directories given one by one (each names its zoo in config.json)
 *   output   DIR/report.md, DIR/tables/<name>.csv, DIR/figures/<name>.svg
 *
 * For each zoo, one section each (the table `sections` below): learning curves; Table 2 (the
 * best validation loss, mean and 95% bootstrap interval over seeds, beside the paper's);
 * cloned performance at the best step; the embedding space (PCA of the validation and OOD
 * embeddings); the probing encoders' probes and the zoo RNN's answers; downstream
 * prediction. Then the interrogator table of SPEC.md §8. Every interval is a percentile
 * bootstrap with its own generator seeded by one fixed seed, so the report is the same bytes
 * whenever the runs are.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "zoo/zoo_internal.h"

enum { PATH_LEN = 1100, MAX_ZOOS = 8, SHOWN_SNAPSHOTS = 3 };
enum { BOOTSTRAP_RESAMPLES = 2000 };
#define BOOTSTRAP_SEED 20240315u
#define CI_LEVEL 0.95

const char *const zoo_short_names[2] = {"formal", "mnist"};
const char *const run_downstream_files[RUN_DOWNSTREAM_FILES] = {"downstream.csv", "downstream-supervised.csv"};
static const char *const zoo_titles[2] = {"formal languages", "sequential MNIST"};
static const char *const zoo_headings[2] = {"Formal languages", "Sequential MNIST"};

/* The paper's Table 2 (SPEC.md §7): validation emulation loss, formal languages and MNIST. */
static const struct PaperRow { const char *encoder; double loss[2]; } paper_table2[] = {
    {"stats", {0.051, 0.039}},          {"flat", {0.045, 0.024}},
    {"transformer", {0.043, 0.067}},    {"dws", {0.046, 0.024}},
    {"noninteractive", {0.023, 0.017}}, {"interactive", {0.015, 0.017}},
};
enum { PAPER_ROWS = sizeof paper_table2 / sizeof paper_table2[0] };

/* ========================================================================================
 * What the report reads: runs, grouped by zoo and encoder
 * ====================================================================================== */

typedef struct Run {
    char dir[PATH_LEN];
    char encoder[40], preset[16];
    EncoderKind kind;
    uint64_t seed;
    size_t steps;                  /* the last step its settings ask for */
    size_t n;                      /* evaluations in metrics.csv */
    double *step, *val, *ood, *diff_val, *diff_ood;   /* (n) */
    size_t best;                   /* the evaluation with the lowest validation loss (the first of equal ones) */
} Run;

/* One zoo and the runs trained on it, sorted by encoder (the order of encoder_facts, then the
 * name) and seed; the runs of one encoder (a group) are a contiguous range. */
typedef struct ZooReport {
    char name[24];                 /* "formal", "mnist" (another zoo of a kind: "formal-2"): names files */
    char dir[PATH_LEN];
    ZooKind kind;
    ZooData z;
    TaskSplits sp;
    Run *runs;
    size_t nruns, cap;
    size_t groups, *group_first, *group_n;
} ZooReport;

typedef struct Report {
    const char *dir;
    Csv md;                        /* report.md as it grows */
    size_t figures, tables;
    ZooReport zoo[MAX_ZOOS];
    size_t zoos;
} Report;

static const char *zoo_title(const ZooReport *zr) { return zoo_titles[zr->kind]; }

/* dir/name, then a NUL-terminated whole file, or NULL. */
static char *read_text(const char *dir, const char *name)
{
    char path[PATH_LEN];
    size_t len;
    zoo_path(path, sizeof path, dir, name);
    return zoo_slurp(path, &len);
}

/* A column of a table as numbers; RR_ERR_FORMAT naming the file when it has no such column. */
static int table_column(const CsvTable *t, const char *path, const char *name, double *out, char *err)
{
    size_t c = csv_column(t, name);
    if (c == SIZE_MAX) return rr_error(err, RR_ERR_FORMAT, "%s: no column '%s'", path, name);
    for (size_t i = 0; i < t->rows; i++) out[i] = strtod(csv_field(t, i, c), NULL);
    return RR_OK;
}

static void run_free(Run *r)
{
    free(r->step), free(r->val), free(r->ood), free(r->diff_val), free(r->diff_ood);
}

/* A run from its config.json and metrics.csv. RR_OK; RR_ERR_OPEN when it has no evaluation
 * yet (left out of the report); another code for a file that is not what train writes. */
static int run_read(Run *r, const char *dir, ZooShape shape, char *err)
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    char *config = read_text(dir, "config.json"), value[64];
    if (!config) return rr_error(err, RR_ERR_OPEN, "%s/config.json: cannot read", dir);
    json_member_text(config, "encoder", r->encoder, sizeof r->encoder);
    json_member_text(config, "preset", r->preset, sizeof r->preset);
    json_member_text(config, "seed", value, sizeof value);
    r->seed = strtoull(value, NULL, 10);
    json_member_text(config, "steps", value, sizeof value);
    r->steps = (size_t)strtoull(value, NULL, 10);
    free(config);
    EncoderConfig cfg;
    int rc = encoder_preset(r->encoder, shape, &cfg, err);
    if (rc) return rr_error(err, rc, "%s/config.json: encoder '%s' is none rnnrep knows", dir, r->encoder);
    r->kind = cfg.kind;
    char path[PATH_LEN];
    zoo_path(path, sizeof path, dir, "metrics.csv");
    CsvTable t;
    if ((rc = csv_read(path, &t, err))) return rc;
    if (t.rows == 0) {
        csv_table_free(&t);
        return rr_error(err, RR_ERR_OPEN, "%s: no evaluation yet", path);
    }
    r->n = t.rows;
    double **cols[5] = {&r->step, &r->val, &r->ood, &r->diff_val, &r->diff_ood};
    static const char *const names[5] = {"step", "val_loss", "ood_loss", "return_diff_val", "return_diff_ood"};
    for (int k = 0; k < 5; k++) *cols[k] = rr_malloc(r->n * sizeof(double), "metrics");
    for (int k = 0; k < 5 && !rc; k++) rc = table_column(&t, path, names[k], *cols[k], err);
    csv_table_free(&t);
    for (size_t i = 1; i < r->n; i++)
        if (r->val[i] < r->val[r->best]) r->best = i;
    if (rc) run_free(r);
    return rc;
}

static int run_order(const void *a, const void *b)
{
    const Run *x = a, *y = b;
    if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
    int c = strcmp(x->encoder, y->encoder);
    if (c) return c;
    return (x->seed > y->seed) - (x->seed < y->seed);
}

/* The zoo report for zoo_dir, made and loaded on first use; NULL (err set) if it cannot be. */
static ZooReport *zoo_for(Report *r, const char *zoo_dir, const char *name, char *err)
{
    for (size_t i = 0; i < r->zoos; i++)
        if (!strcmp(r->zoo[i].dir, zoo_dir)) return &r->zoo[i];
    if (r->zoos == MAX_ZOOS) return rr_error(err, RR_ERR_UNSUPPORTED, "%s: more than %d zoos in one report", zoo_dir, MAX_ZOOS), NULL;
    ZooReport *zr = &r->zoo[r->zoos];
    memset(zr, 0, sizeof *zr);
    snprintf(zr->dir, sizeof zr->dir, "%s", zoo_dir);
    if (zoo_data_load(zoo_dir, &zr->z, err)) return NULL;
    char path[PATH_LEN];
    zoo_path(path, sizeof path, zoo_dir, "tasks.npy");
    if (task_splits_init(&zr->sp, zr->z.tasks, zr->z.N, zr->z.task_width, path, err)) {
        zoo_data_free(&zr->z);
        return NULL;
    }
    zr->kind = zr->z.kind;
    size_t same_kind = 0;
    for (size_t i = 0; i < r->zoos; i++) same_kind += r->zoo[i].kind == zr->kind;
    if (name) snprintf(zr->name, sizeof zr->name, "%s", name);
    else if (same_kind) snprintf(zr->name, sizeof zr->name, "%s-%zu", zoo_short_names[zr->kind], same_kind + 1);
    else snprintf(zr->name, sizeof zr->name, "%s", zoo_short_names[zr->kind]);
    r->zoos++;
    return zr;
}

/* Reads the run in run_dir into zr; a run without evaluations is left out (a note on log). */
static int zoo_add_run(ZooReport *zr, const char *run_dir, FILE *log, char *err)
{
    if (zr->nruns == zr->cap) {
        zr->cap = zr->cap ? 2 * zr->cap : 16;
        zr->runs = realloc(zr->runs, zr->cap * sizeof *zr->runs);
        if (!zr->runs) rr_fatal("out of memory listing runs");
    }
    int rc = run_read(&zr->runs[zr->nruns], run_dir, zr->z.shape, err);
    if (rc == RR_ERR_OPEN) {
        if (log) fprintf(log, "report: left out %s (%s)\n", run_dir, err);
        return RR_OK;
    }
    if (!rc) zr->nruns++;
    return rc;
}

/* Sorts the runs and finds the groups (one per encoder). */
static void zoo_group(ZooReport *zr)
{
    qsort(zr->runs, zr->nruns, sizeof *zr->runs, run_order);
    zr->group_first = rr_malloc((zr->nruns + 1) * sizeof(size_t), "groups");
    zr->group_n = rr_malloc((zr->nruns + 1) * sizeof(size_t), "groups");
    for (size_t i = 0; i < zr->nruns; i++) {
        if (i == 0 || strcmp(zr->runs[i].encoder, zr->runs[i - 1].encoder)) {
            zr->group_first[zr->groups] = i;
            zr->group_n[zr->groups++] = 0;
        }
        zr->group_n[zr->groups - 1]++;
    }
}

static Run *group_run(const ZooReport *zr, size_t g, size_t k) { return &zr->runs[zr->group_first[g] + k]; }
static const char *group_name(const ZooReport *zr, size_t g) { return group_run(zr, g, 0)->encoder; }

static void zoo_free(ZooReport *zr)
{
    for (size_t i = 0; i < zr->nruns; i++) run_free(&zr->runs[i]);
    free(zr->runs);
    free(zr->group_first);
    free(zr->group_n);
    task_splits_free(&zr->sp);
    zoo_data_free(&zr->z);
}

static int name_order(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The runs of a reproduction directory: every DIR/runs/<zoo>/<run> holding a config.json,
 * with the zoo DIR/zoos/<zoo>. A missing DIR/runs/<zoo> is no zoo of that kind. */
static int discover(Report *r, FILE *log, char *err)
{
    for (int k = 0; k < 2; k++) {
        char runs_dir[PATH_LEN], zoo_dir[PATH_LEN], sub[PATH_LEN], run_dir[PATH_LEN * 2];
        snprintf(sub, sizeof sub, "runs/%s", zoo_short_names[k]);
        zoo_path(runs_dir, sizeof runs_dir, r->dir, sub);
        snprintf(sub, sizeof sub, "zoos/%s", zoo_short_names[k]);
        zoo_path(zoo_dir, sizeof zoo_dir, r->dir, sub);
        DIR *d = opendir(runs_dir);
        if (!d) continue;
        char **names = NULL;
        size_t n = 0;
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            names = realloc(names, (n + 1) * sizeof *names);
            if (!names) rr_fatal("out of memory listing %s", runs_dir);
            names[n] = rr_malloc(strlen(e->d_name) + 1, "run name");
            strcpy(names[n++], e->d_name);
        }
        closedir(d);
        qsort(names, n, sizeof *names, name_order);
        int rc = RR_OK;
        ZooReport *zr = NULL;
        for (size_t i = 0; i < n && !rc; i++) {
            snprintf(run_dir, sizeof run_dir, "%s/%s", runs_dir, names[i]);
            char *config = read_text(run_dir, "config.json");
            if (!config) continue;
            free(config);
            if (!zr && !(zr = zoo_for(r, zoo_dir, zoo_short_names[k], err))) rc = RR_ERR_FORMAT;
            if (!rc) rc = zoo_add_run(zr, run_dir, log, err);
        }
        for (size_t i = 0; i < n; i++) free(names[i]);
        free(names);
        if (rc) return rc;
    }
    return RR_OK;
}

/* Given run directories: each names its zoo in config.json. */
static int gather(Report *r, const char *const *run_dirs, size_t n, FILE *log, char *err)
{
    for (size_t i = 0; i < n; i++) {
        char *config = read_text(run_dirs[i], "config.json"), zoo_dir[PATH_LEN];
        if (!config) return rr_error(err, RR_ERR_OPEN, "%s/config.json: cannot read (not a run directory)", run_dirs[i]);
        json_member_text(config, "zoo", zoo_dir, sizeof zoo_dir);
        free(config);
        ZooReport *zr = zoo_for(r, zoo_dir, NULL, err);
        int rc = zr ? zoo_add_run(zr, run_dirs[i], log, err) : RR_ERR_FORMAT;
        if (rc) return rc;
    }
    return RR_OK;
}

/* ========================================================================================
 * Writing: figures, tables, numbers in words
 * ====================================================================================== */

/* A file name part: letters, digits, '-' and '_' kept, anything else '_'. */
static void file_part(const char *s, char *out, size_t len)
{
    size_t i = 0;
    for (; s[i] && i + 1 < len; i++) {
        char c = s[i];
        int keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        out[i] = keep ? c : '_';
    }
    out[i] = '\0';
}

/* figures/<name>.svg, and its picture in report.md. Frees fig. */
static int write_figure(Report *r, SvgFigure *fig, const char *name, char *err)
{
    char part[200], path[PATH_LEN];
    file_part(name, part, sizeof part);
    snprintf(path, sizeof path, "%s/figures/%s.svg", r->dir, part);
    int rc = svg_write(fig, path, err);
    if (!rc) csv_printf(&r->md, "![%s](figures/%s.svg)\n\n", fig->title, part);
    svg_free(fig);
    r->figures += !rc;
    return rc;
}

/* tables/<name>.csv. Frees t. */
static int write_table(Report *r, Csv *t, const char *name, char *err)
{
    char part[200], path[PATH_LEN];
    file_part(name, part, sizeof part);
    snprintf(path, sizeof path, "%s/tables/%s.csv", r->dir, part);
    int rc = csv_write(t, path, err);
    csv_free(t);
    r->tables += !rc;
    return rc;
}

/* Mean and 95% percentile-bootstrap interval of the finite values among x (n); NaN for none.
 * Every call draws from its own generator with the fixed seed. */
static double mean_ci(const double *x, size_t n, double *lo, double *hi, size_t *used)
{
    double *v = rr_malloc((n ? n : 1) * sizeof *v, "values");
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) v[m++] = x[i];
    double mean = NAN;
    *lo = *hi = NAN;
    if (m) {
        Rng rng;
        rng_seed(&rng, BOOTSTRAP_SEED);
        mean = bootstrap_mean_ci(v, m, BOOTSTRAP_RESAMPLES, CI_LEVEL, &rng, lo, hi);
    }
    free(v);
    if (used) *used = m;
    return mean;
}

/* "0.0234 [0.0211, 0.0250]", or the mean alone when the interval is a point. */
static void format_ci(double mean, double lo, double hi, char *buf, size_t len)
{
    if (!isfinite(mean)) snprintf(buf, len, "-");
    else if (lo == hi) snprintf(buf, len, "%.4g", mean);
    else snprintf(buf, len, "%.4g [%.4g, %.4g]", mean, lo, hi);
}

static double paper_loss(const char *encoder, ZooKind kind)
{
    char name[48];
    for (int i = 0; i < PAPER_ROWS; i++) {
        snprintf(name, sizeof name, "%s_1", paper_table2[i].encoder); /* M = 1 is the paper's probing */
        if (!strcmp(encoder, paper_table2[i].encoder) || !strcmp(encoder, name)) return paper_table2[i].loss[kind];
    }
    return NAN;
}

static int is_functionalist(EncoderKind k) { return !strcmp(encoder_facts[k].type, "functionalist"); }

/* ========================================================================================
 * Sections
 * ====================================================================================== */

/* Learning curves: validation and OOD loss against the step, the mean over seeds. */
static int section_curves(Report *r, ZooReport *zr, char *err)
{
    SvgFigure fig;
    char title[160];
    snprintf(title, sizeof title, "Emulation loss during training (%s)", zoo_title(zr));
    svg_begin(&fig, title, 2, 1);
    SvgPanel *panel[2] = {svg_panel(&fig, 0, "validation", "step", "emulation loss"),
                          svg_panel(&fig, 1, "out of distribution", "step", "emulation loss")};
    svg_log_y(panel[0]);
    svg_log_y(panel[1]);
    Csv at, still; /* each run's best step, and the runs still improving, in words */
    memset(&at, 0, sizeof at), memset(&still, 0, sizeof still);
    size_t improving = 0, above = 0;
    double ratio = 0;
    csv_printf(&r->md, "Validation (left) and out-of-distribution (right) emulation loss, the total variation between "
               "the zoo RNN's stored output distributions and the emulator's, averaged over every snapshot of the split, "
               "at each evaluation; one line per encoder, the mean over its seeds; log scale.");
    for (size_t g = 0; g < zr->groups; g++) {
        size_t seeds = zr->group_n[g], n = SIZE_MAX;
        for (size_t k = 0; k < seeds; k++) n = group_run(zr, g, k)->n < n ? group_run(zr, g, k)->n : n;
        double *mean[2] = {rr_calloc(n, sizeof(double), "curve"), rr_calloc(n, sizeof(double), "curve")};
        for (size_t k = 0; k < seeds; k++)
            for (size_t i = 0; i < n; i++) {
                mean[0][i] += group_run(zr, g, k)->val[i] / (double)seeds;
                mean[1][i] += group_run(zr, g, k)->ood[i] / (double)seeds;
            }
        for (int s = 0; s < 2; s++) svg_line(panel[s], group_name(zr, g), group_run(zr, g, 0)->step, mean[s], n);
        free(mean[0]);
        free(mean[1]);
        csv_printf(&at, "%s %s", g ? "," : "", group_name(zr, g));
        for (size_t k = 0; k < seeds; k++) {
            const Run *run = group_run(zr, g, k);
            csv_printf(&at, "%s step %.0f", k ? "," : "", run->step[run->best]);
            if (run->best == run->n - 1 && run->n > 1) {
                csv_printf(&still, "%s%s (seed %llu)", improving++ ? ", " : "", run->encoder, (unsigned long long)run->seed);
            }
            above += run->ood[run->best] > run->val[run->best];
            ratio += run->ood[run->best] / run->val[run->best] / (double)zr->nruns;
        }
        if (seeds > 1) csv_printf(&at, " (seeds in order)");
    }
    const Run *first = &zr->runs[0];
    if (improving == zr->nruns && improving > 1)
        csv_printf(&r->md, " Every run (all %zu) has its best validation loss at its last evaluation (of %zu steps): all are "
                   "still improving, so none is trained to its best.", improving, first->steps);
    else {
        csv_printf(&r->md, " Best validation loss at:%s (of %zu steps).", at.text, first->steps);
        if (improving) csv_printf(&r->md, " Still improving at the last evaluation, so not trained to their best: %s.", still.text);
        else csv_printf(&r->md, " Every run passed its lowest validation loss before its last evaluation.");
    }
    csv_printf(&r->md, " At the best step the OOD loss is above the validation loss in %zu of %zu runs (mean ratio %.2f): "
               "the OOD split holds the tasks at the end of the split criterion (%s).\n\n",
               above, zr->nruns, ratio, zr->kind == ZOO_KIND_FORMAL ? "the most balanced languages" : "the largest angles");
    csv_free(&at), csv_free(&still);
    char name[64];
    snprintf(name, sizeof name, "%s-curves", zr->name);
    return write_figure(r, &fig, name, err);
}

/* Table 2: the best validation loss per encoder over seeds, beside the paper's. */
static int section_table2(Report *r, ZooReport *zr, char *err)
{
    size_t G = zr->groups;
    double *mean = rr_malloc(G * sizeof(double), "table 2"), *lo = rr_malloc(G * sizeof(double), "table 2");
    double *hi = rr_malloc(G * sizeof(double), "table 2"), *paper = rr_malloc(G * sizeof(double), "table 2");
    const char **names = rr_malloc(G * sizeof *names, "table 2");
    Csv t;
    csv_init(&t, "encoder,type,seeds,best_val_loss,ci_low,ci_high,ood_loss_at_best,paper_val_loss");
    csv_printf(&r->md, "| encoder | type | seeds | best validation loss, mean [95%% CI] | OOD loss there | paper |\n"
               "|---|---|---|---|---|---|\n");
    for (size_t g = 0; g < G; g++) {
        size_t seeds = zr->group_n[g];
        double *best = rr_malloc(seeds * sizeof(double), "seeds"), *ood = rr_malloc(seeds * sizeof(double), "seeds"), olo, ohi;
        for (size_t k = 0; k < seeds; k++) {
            const Run *run = group_run(zr, g, k);
            best[k] = run->val[run->best];
            ood[k] = run->ood[run->best];
        }
        names[g] = group_name(zr, g);
        mean[g] = mean_ci(best, seeds, &lo[g], &hi[g], NULL);
        double ood_mean = mean_ci(ood, seeds, &olo, &ohi, NULL);
        paper[g] = paper_loss(names[g], zr->kind);
        EncoderKind kind = group_run(zr, g, 0)->kind;
        csv_printf(&t, "%s,%s,%zu,", names[g], encoder_facts[kind].type, seeds);
        csv_double(&t, mean[g], ",");
        csv_double(&t, lo[g], ",");
        csv_double(&t, hi[g], ",");
        csv_double(&t, ood_mean, ",");
        csv_double(&t, paper[g], "\n");
        char ours[80], there[80];
        format_ci(mean[g], lo[g], hi[g], ours, sizeof ours);
        format_ci(ood_mean, olo, ohi, there, sizeof there);
        csv_printf(&r->md, "| %s | %s | %zu | %s | %s | ", names[g], encoder_facts[kind].type, seeds, ours, there);
        csv_printf(&r->md, isfinite(paper[g]) ? "%.3f |\n" : "- |\n", paper[g]);
        free(best);
        free(ood);
    }
    csv_printf(&r->md, "\n");

    /* In words: the winner, functionalist against mechanistic, the order. */
    size_t ours_best = 0, paper_best = SIZE_MAX, with_paper = 0;
    double best_f = INFINITY, best_m = INFINITY, paper_f = INFINITY, paper_m = INFINITY;
    double *a = rr_malloc(G * sizeof(double), "ranks"), *b = rr_malloc(G * sizeof(double), "ranks");
    for (size_t g = 0; g < G; g++) {
        int f = is_functionalist(group_run(zr, g, 0)->kind);
        if (mean[g] < mean[ours_best]) ours_best = g;
        if (f) best_f = fmin(best_f, mean[g]);
        else best_m = fmin(best_m, mean[g]);
        if (!isfinite(paper[g])) continue;
        a[with_paper] = mean[g], b[with_paper++] = paper[g];
        if (paper_best == SIZE_MAX || paper[g] < paper[paper_best]) paper_best = g;
        if (f) paper_f = fmin(paper_f, paper[g]);
        else paper_m = fmin(paper_m, paper[g]);
    }
    csv_printf(&r->md, "Lowest validation loss: ours **%s** (%.4g)", names[ours_best], mean[ours_best]);
    if (paper_best != SIZE_MAX) {
        int tie = paper[ours_best] == paper[paper_best];  /* the paper's MNIST column has a tie at its best */
        csv_printf(&r->md, "; the paper's among these encoders **%s** (%.3f): %s.", names[paper_best], paper[paper_best],
                   tie ? "agree" : "disagree");
    } else {
        csv_printf(&r->md, "; the paper has no value for these encoders.");
    }
    if (isfinite(best_f) && isfinite(best_m))
        csv_printf(&r->md, " The best functionalist (probing) encoder is %s the best mechanistic one (%.4g against %.4g)%s",
                   best_f < best_m ? "below" : "not below", best_f, best_m,
                   isfinite(paper_f) && isfinite(paper_m)
                       ? (((best_f < best_m) == (paper_f < paper_m)) ? "; so in the paper: agree." : "; in the paper it is the other way: disagree.")
                       : ".");
    if (with_paper >= 2)
        csv_printf(&r->md, " Order of the %zu encoders with a paper value, ours against the paper's: Kendall's tau-b = %.2f "
                   "(1 the same order, -1 reversed).", with_paper, kendall_tau_b(a, b, with_paper));
    const Run *first = &zr->runs[0];
    csv_printf(&r->md, " Our runs use the `%s` preset on a zoo of %zu snapshots (the paper: 1000 runs x 9 snapshots, "
               "100,000 training steps, emulator width 256): compare the order of the encoders, not the values. "
               "The intervals are 95%% percentile-bootstrap intervals of the mean over seeds (%d resamples; one seed: "
               "the value itself).\n\n", first->preset, zr->z.N, BOOTSTRAP_RESAMPLES);
    free(a);
    free(b);

    SvgFigure fig;
    char title[160], name[64];
    snprintf(title, sizeof title, "Table 2, %s", zoo_title(zr));
    svg_begin(&fig, title, 1, 1);
    fig.panel_width = 600;
    SvgPanel *p = svg_panel(&fig, 0, "best validation loss: mean over seeds, 95% bootstrap interval", NULL, "emulation loss");
    svg_x_categories(p, names, G);
    svg_bars(p, "ours", mean, lo, hi, G);
    if (with_paper) svg_bars(p, "paper (SPEC.md 7)", paper, NULL, NULL, G);
    snprintf(name, sizeof name, "%s-table2", zr->name);
    int rc = write_figure(r, &fig, name, err);
    if (!rc) rc = write_table(r, &t, name, err);
    else csv_free(&t);
    free(mean), free(lo), free(hi), free(paper), free(names);
    return rc;
}

/* Cloned performance: original against clone at each run's best step (cloned.csv). */
static int section_cloned(Report *r, ZooReport *zr, char *err)
{
    int cols = zr->groups < 3 ? (int)zr->groups : 3, rows = (int)((zr->groups + 2) / 3), rc = RR_OK;
    SvgFigure fig;
    char title[160], name[64];
    snprintf(title, sizeof title, "Cloned performance at the best step (%s)", zoo_title(zr));
    svg_begin(&fig, title, cols, rows);
    Csv t;
    csv_init(&t, "encoder,seed,best_step,return_diff_val,return_diff_ood");
    csv_printf(&r->md, "| encoder | mean return difference, validation | OOD |\n|---|---|---|\n");
    size_t best_g = 0, pairs = 0;
    double best_ood = INFINITY, original_sum = 0, clone_sum = 0;
    for (size_t g = 0; g < zr->groups && !rc; g++) {
        SvgPanel *p = svg_panel(&fig, (int)g, group_name(zr, g), "original accuracy", "clone accuracy");
        svg_include(p, 0, 1, 0, 1);
        svg_diagonal(p);
        size_t seeds = zr->group_n[g];
        double *dv = rr_malloc(seeds * sizeof(double), "seeds"), *dood = rr_malloc(seeds * sizeof(double), "seeds");
        for (size_t k = 0; k < seeds && !rc; k++) {
            const Run *run = group_run(zr, g, k);
            dv[k] = run->diff_val[run->best];
            dood[k] = run->diff_ood[run->best];
            csv_printf(&t, "%s,%llu,%.0f,", run->encoder, (unsigned long long)run->seed, run->step[run->best]);
            csv_double(&t, dv[k], ",");
            csv_double(&t, dood[k], "\n");
            char path[PATH_LEN];
            zoo_path(path, sizeof path, run->dir, "cloned.csv");
            CsvTable c;
            if (csv_read(path, &c, NULL)) continue; /* no pairs to draw */
            size_t cs = csv_column(&c, "step"), cp = csv_column(&c, "split"), co = csv_column(&c, "original"),
                   cc = csv_column(&c, "clone");
            if (cs == SIZE_MAX || cp == SIZE_MAX || co == SIZE_MAX || cc == SIZE_MAX)
                rc = rr_error(err, RR_ERR_FORMAT, "%s: not the columns train writes", path);
            static const char *const splits[2] = {"val", "ood"};
            double *x = rr_malloc((c.rows + 1) * sizeof(double), "pairs"), *y = rr_malloc((c.rows + 1) * sizeof(double), "pairs");
            for (int s = 0; s < 2 && !rc; s++) {
                size_t m = 0;
                for (size_t i = 0; i < c.rows; i++)
                    if (strtod(csv_field(&c, i, cs), NULL) == run->step[run->best] && !strcmp(csv_field(&c, i, cp), splits[s])) {
                        x[m] = strtod(csv_field(&c, i, co), NULL);
                        y[m] = strtod(csv_field(&c, i, cc), NULL);
                        original_sum += x[m];
                        clone_sum += y[m++];
                    }
                svg_scatter(p, s ? "OOD" : "validation", x, y, m);
                pairs += m;
            }
            free(x);
            free(y);
            csv_table_free(&c);
        }
        double lo, hi, olo, ohi, mv = mean_ci(dv, seeds, &lo, &hi, NULL), mo = mean_ci(dood, seeds, &olo, &ohi, NULL);
        char a[80], b[80];
        format_ci(mv, lo, hi, a, sizeof a);
        format_ci(mo, olo, ohi, b, sizeof b);
        csv_printf(&r->md, "| %s | %s | %s |\n", group_name(zr, g), a, b);
        if (mo < best_ood) best_ood = mo, best_g = g;
        free(dv);
        free(dood);
    }
    csv_printf(&r->md, "\nEach panel plots, for the snapshots cloned at every seed's best step, the zoo RNN's own "
               "performance against its clone's: the emulator conditioned on E(θ) (%s). Points on the dashed line y = x "
               "are clones that perform exactly as their originals. The return difference is the mean |original - clone| "
               "over those snapshots, mean [95%% CI] over seeds.",
               zr->kind == ZOO_KIND_FORMAL ? "correct / finished of sequences sampled from each"
                                           : "stored accuracy against the clone's on rotated evaluation digits");
    double original_mean = pairs ? original_sum / (double)pairs : NAN, clone_mean = pairs ? clone_sum / (double)pairs : NAN;
    if (pairs) csv_printf(&r->md, " Over all %zu pairs the originals score %.3g and their clones %.3g on average.", pairs,
                          original_mean, clone_mean);
    /* A clone that scores almost nothing makes the return difference the original's own score,
     * the same for every encoder: then it ranks nothing. */
    if (pairs && clone_mean < 0.1 * original_mean)
        csv_printf(&r->md, " The clones score below a tenth of their originals: at these emulation losses they do not yet "
                   "work, so each return difference is about the originals' own score and does not rank the encoders.");
    else csv_printf(&r->md, " Closest clones out of distribution: **%s** (%.3g).", group_name(zr, best_g), best_ood);
    csv_printf(&r->md, " SPEC.md §7 gives no numbers for cloned performance to compare with.\n\n");
    snprintf(name, sizeof name, "%s-cloned", zr->name);
    if (!rc) rc = write_figure(r, &fig, name, err);
    else svg_free(&fig);
    if (!rc) rc = write_table(r, &t, name, err);
    else csv_free(&t);
    return rc;
}

/* The first run of group g (lowest seed) whose embeddings.npy covers the zoo, read into
 * e (N, E) as doubles; NULL when none does. */
static const Run *group_embeddings(const ZooReport *zr, size_t g, double **e, size_t *E)
{
    for (size_t k = 0; k < zr->group_n[g]; k++) {
        const Run *run = group_run(zr, g, k);
        char path[PATH_LEN];
        zoo_path(path, sizeof path, run->dir, "embeddings.npy");
        NpyArray a;
        if (npy_read(path, &a, NULL)) continue;
        if (a.dtype == NPY_F4 && a.ndim == 2 && a.shape[0] == zr->z.N && a.shape[1] > 0) {
            *E = a.shape[1];
            *e = rr_malloc(a.count * sizeof(double), "embeddings");
            for (size_t i = 0; i < a.count; i++) (*e)[i] = ((const float *)a.data)[i];
            npy_free(&a);
            return run;
        }
        npy_free(&a);
    }
    return NULL;
}

/* The embedding space: PCA of the validation and OOD embeddings, coloured four ways. */
static int section_embedding(Report *r, ZooReport *zr, char *err)
{
    const ZooData *z = &zr->z;
    int rc = RR_OK, any = 0;
    csv_printf(&r->md, "Each figure shows the embeddings E(θ)/|E(θ)| of every validation and OOD snapshot, by one "
               "encoder's best checkpoint (its first seed), projected on their first two principal components (PCA fit on "
               "these points, in double, by Jacobi rotations, each axis's sign fixed by its largest entry). Panels colour "
               "the same points by task (%s), by the snapshot's accuracy, by training step, and by split. "
               "Kendall's tau-b of each coordinate with accuracy and step says how far the layout follows them.\n\n",
               zr->kind == ZOO_KIND_FORMAL ? "m_b, the b-count offset of the language" : "the rotation angle, a cyclic colour map");
    Csv words; /* the table of numbers, after the figures */
    csv_init(&words, "| encoder | seed | points | variance in PC 1 + 2 | tau(PC 1, accuracy) | tau(PC 2, accuracy) | "
             "tau(PC 1, step) | tau(PC 2, step) |\n|---|---|---|---|---|---|---|---|");
    for (size_t g = 0; g < zr->groups && !rc; g++) {
        double *e = NULL;
        size_t E = 0;
        const Run *run = group_embeddings(zr, g, &e, &E);
        if (!run) continue;
        size_t m = 0;
        size_t *rows = rr_malloc(z->N * sizeof *rows, "rows");
        for (size_t i = 0; i < z->N; i++)
            if (zr->sp.row_split[i] != SPLIT_TRAIN) rows[m++] = i;
        if (m < 2) {
            free(rows), free(e);
            continue;
        }
        double *X = rr_malloc(m * E * sizeof(double), "points"), *mean = rr_malloc(E * sizeof(double), "pca");
        double *comp = rr_malloc(E * E * sizeof(double), "pca"), *var = rr_malloc(E * sizeof(double), "pca");
        double *pc = rr_malloc(m * 2 * sizeof(double), "pca"), *x = rr_malloc(m * sizeof(double), "pca");
        double *y = rr_malloc(m * sizeof(double), "pca"), *acc = rr_malloc(m * sizeof(double), "pca");
        double *step = rr_malloc(m * sizeof(double), "pca"), *task = rr_malloc(m * sizeof(double), "pca");
        int *cls = rr_malloc(m * sizeof(int), "pca"), *split = rr_malloc(m * sizeof(int), "pca");
        for (size_t i = 0; i < m; i++) memcpy(X + i * E, e + rows[i] * E, E * sizeof(double));
        pca_fit(X, m, E, E, mean, comp, var);
        pca_project(X, m, E, 2, mean, comp, pc);
        double total = 0;
        for (size_t j = 0; j < E; j++) total += var[j];
        Csv t;
        csv_init(&t, zr->kind == ZOO_KIND_FORMAL ? "row,split,pc1,pc2,m_b,m_c,m_d,accuracy,step" : "row,split,pc1,pc2,angle,accuracy,step");
        static const char *const split_names[3] = {"train", "val", "ood"};
        for (size_t i = 0; i < m; i++) {
            size_t row = rows[i];
            x[i] = pc[2 * i], y[i] = pc[2 * i + 1];
            acc[i] = z->accuracy[row];
            step[i] = log10(1.0 + (double)z->step[row]);
            task[i] = z->tasks[row * z->task_width + (zr->kind == ZOO_KIND_FORMAL ? 1 : 0)];
            cls[i] = (int)task[i] + 3; /* m_b in -3..2 */
            split[i] = zr->sp.row_split[row] == SPLIT_OOD;
            csv_printf(&t, "%zu,%s,", row, split_names[zr->sp.row_split[row]]);
            csv_double(&t, x[i], ",");
            csv_double(&t, y[i], ",");
            for (size_t w = zr->kind == ZOO_KIND_FORMAL ? 1 : 0; w < z->task_width; w++) csv_double(&t, z->tasks[row * z->task_width + w], ",");
            csv_double(&t, acc[i], ",");
            csv_printf(&t, "%lld\n", (long long)z->step[row]);
        }
        SvgFigure fig;
        char title[200], name[96];
        snprintf(title, sizeof title, "Embedding space of %s (%s, seed %llu)", run->encoder, zoo_title(zr), (unsigned long long)run->seed);
        svg_begin(&fig, title, 2, 2);
        SvgPanel *p = svg_panel(&fig, 0, zr->kind == ZOO_KIND_FORMAL ? "by task (m_b)" : "by angle", "PC 1", "PC 2");
        if (zr->kind == ZOO_KIND_FORMAL) {
            static const char *const mb[6] = {"m_b = -3", "m_b = -2", "m_b = -1", "m_b = 0", "m_b = 1", "m_b = 2"};
            svg_scatter_classes(p, x, y, cls, m, mb, 6);
        } else {
            svg_colour_scale(p, SVG_CYCLIC, "angle (degrees)", 0, 360);
            svg_scatter_values(p, NULL, x, y, task, m);
        }
        p = svg_panel(&fig, 1, "by accuracy", "PC 1", "PC 2");
        svg_colour_scale(p, SVG_VIRIDIS, "accuracy", 0, 1);
        svg_scatter_values(p, NULL, x, y, acc, m);
        p = svg_panel(&fig, 2, "by training step", "PC 1", "PC 2");
        svg_colour_scale(p, SVG_VIRIDIS, "log10(1 + step)", NAN, NAN);
        svg_scatter_values(p, NULL, x, y, step, m);
        static const char *const split_classes[2] = {"validation", "OOD"};
        svg_scatter_classes(svg_panel(&fig, 3, "by split", "PC 1", "PC 2"), x, y, split, m, split_classes, 2);
        snprintf(name, sizeof name, "%s-embedding-%s", zr->name, run->encoder);
        rc = write_figure(r, &fig, name, err);
        if (!rc) rc = write_table(r, &t, name, err);
        else csv_free(&t);
        csv_printf(&words, "| %s | %llu | %zu | %.0f%% | %.2f | %.2f | %.2f | %.2f |\n", run->encoder, (unsigned long long)run->seed, m,
                   total > 0 ? 100 * (var[0] + var[1]) / total : 0.0, kendall_tau_b(x, acc, m), kendall_tau_b(y, acc, m),
                   kendall_tau_b(x, step, m), kendall_tau_b(y, step, m));
        any = 1;
        free(rows), free(e), free(X), free(mean), free(comp), free(var), free(pc), free(x), free(y);
        free(acc), free(step), free(task), free(cls), free(split);
    }
    /* The figures came first in report.md; their numbers follow. */
    if (any) csv_printf(&r->md, "%s\n", words.text);
    else csv_printf(&r->md, "No run of this zoo holds embeddings.npy (`rnnrep embed`), so there is no picture.\n\n");
    csv_free(&words);
    return rc;
}

/* Up to SHOWN_SNAPSHOTS rows to probe: OOD snapshots (else validation ones) at the last
 * snapshot step, the first, middle and last of them. */
static size_t probe_rows(const ZooReport *zr, size_t *rows)
{
    const ZooData *z = &zr->z;
    int64_t last = 0;
    for (size_t i = 0; i < z->N; i++) last = z->step[i] > last ? z->step[i] : last;
    for (int want = SPLIT_OOD; want >= SPLIT_VALID; want--) {
        size_t n = 0, *all = rr_malloc(z->N * sizeof *all, "rows");
        for (size_t i = 0; i < z->N; i++)
            if (zr->sp.row_split[i] == (TaskSplit)want && z->step[i] == last) all[n++] = i;
        size_t k = 0;
        for (size_t j = 0; j < SHOWN_SNAPSHOTS && n; j++) {
            size_t pick = all[SHOWN_SNAPSHOTS > 1 ? j * (n - 1) / (SHOWN_SNAPSHOTS - 1) : 0];
            if (k == 0 || rows[k - 1] != pick) rows[k++] = pick;
        }
        free(all);
        if (k) return k;
    }
    return 0;
}

/* The probing encoders: their probe inputs over the L steps and the zoo RNN's answers. */
static int section_probing(Report *r, ZooReport *zr, char *err)
{
    const ZooData *z = &zr->z;
    static const char *const tokens[LANG_TOKENS] = {"a", "b", "c", "d", "BOS", "EOS"};
    static const char *const digits[MNIST_CLASSES] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    int formal = zr->kind == ZOO_KIND_FORMAL, rc = RR_OK, any = 0;
    size_t rows[SHOWN_SNAPSHOTS], k = probe_rows(zr, rows), P = zoo_num_params(z->shape), I = z->shape.I, O = z->shape.O;
    for (size_t g = 0; g < zr->groups && !rc && k; g++) {
        const Run *run = group_run(zr, g, 0);
        if (run->kind != ENC_INTERACTIVE && run->kind != ENC_NONINTERACTIVE) continue;
        Encoder enc;
        if ((rc = train_load_encoder(run->dir, z->shape, &enc, NULL, err))) break;
        size_t L = enc.cfg.L, M = enc.cfg.M;
        Tape t;
        tape_init(&t);
        t.record = 0;
        Tensor *theta = tensor_new(&t, 2, (size_t[]){k, P}, 0);
        for (size_t b = 0; b < k; b++) memcpy(theta->data + b * P, z->theta + rows[b] * P, P * sizeof(real));
        ProbeTrace trace = {NULL, NULL};
        encoder_forward(&t, &enc, theta, &trace);
        const real *in = trace.inputs->data, *out = trace.answers->data;   /* (k, L, M, I), (k, L, M, O) */
        SvgFigure fig;
        char title[200], name[96], panel_title[120];
        snprintf(title, sizeof title, "Probes of %s and the zoo RNN's answers (%s)", run->encoder, zoo_title(zr));
        svg_begin(&fig, title, (int)k, 2);
        size_t side = MNIST_SIDE, cells = formal ? I * L : side * side;
        double *probe = rr_malloc(cells * sizeof(double), "probe"), *answer = rr_malloc(O * L * sizeof(double), "answers");
        for (size_t b = 0; b < k; b++) {
            size_t row = rows[b];
            if (formal)
                snprintf(panel_title, sizeof panel_title, "m = (%g, %g, %g), accuracy %.2f", z->tasks[row * 4 + 1], z->tasks[row * 4 + 2],
                         z->tasks[row * 4 + 3], z->accuracy[row]);
            else snprintf(panel_title, sizeof panel_title, "angle %.0f, accuracy %.2f", z->tasks[row], z->accuracy[row]);
            for (size_t i = 0; i < cells; i++) probe[i] = NAN;
            for (size_t s = 0; s < L; s++) {
                const real *p = in + ((b * L + s) * M) * I, *o = out + ((b * L + s) * M) * O; /* stream 0 */
                if (formal)
                    for (size_t i = 0; i < I; i++) probe[i * L + s] = p[i];
                else if (s >= 1 && s <= 49) { /* step s reads image tile s - 1 */
                    size_t tile = s - 1, r0 = MNIST_TILE * (tile / 7), c0 = MNIST_TILE * (tile % 7);
                    for (size_t i = 0; i < MNIST_TILE_SIZE; i++)
                        probe[(r0 + i / MNIST_TILE) * side + c0 + i % MNIST_TILE] = p[i];
                }
                double mx = o[0], sum = 0;
                for (size_t j = 1; j < O; j++) mx = fmax(mx, o[j]);
                for (size_t j = 0; j < O; j++) sum += exp(o[j] - mx);
                for (size_t j = 0; j < O; j++) answer[j * L + s] = exp(o[j] - mx) / sum;
            }
            SvgPanel *p = svg_panel(&fig, (int)b, panel_title, formal ? "probing step" : "pixel column", formal ? "probe token" : "pixel row");
            svg_colour_scale(p, SVG_VIRIDIS, formal ? "probability" : "probe value", 0, 1);
            if (formal) svg_y_categories(p, tokens, I);
            svg_heatmap(p, probe, formal ? I : side, formal ? L : side);
            p = svg_panel(&fig, (int)(k + b), "answers", "probing step", formal ? "next token" : "class");
            svg_colour_scale(p, SVG_VIRIDIS, "softmax of the answer", 0, 1);
            svg_y_categories(p, formal ? tokens : digits, O);
            svg_heatmap(p, answer, O, L);
        }
        /* how far the probes depend on the RNN: mean |p - p'| over the shown snapshots' pairs */
        double diff = 0;
        size_t pairs = 0;
        for (size_t a = 0; a < k; a++)
            for (size_t b = a + 1; b < k; b++, pairs++) {
                double s = 0;
                for (size_t i = 0; i < L * M * I; i++) s += fabs((double)in[a * L * M * I + i] - in[b * L * M * I + i]);
                diff += s / (double)(L * M * I);
            }
        free(probe);
        free(answer);
        tape_free(&t);
        encoder_free(&enc);
        snprintf(name, sizeof name, "%s-probing-%s", zr->name, run->encoder);
        if ((rc = write_figure(r, &fig, name, err))) break;
        csv_printf(&r->md, "%s (seed %llu, L = %zu steps, stream 1 of M = %zu): mean |p - p'| between the probes of two of "
                   "these RNNs, per entry: %.3g%s.\n\n", run->encoder, (unsigned long long)run->seed, L, M,
                   pairs ? diff / (double)pairs : 0.0,
                   run->kind == ENC_NONINTERACTIVE ? " (non-interactive probes are one learned sequence for every RNN, so 0)"
                                                   : " (interactive probes depend on the answers, so on the RNN)");
        any = 1;
    }
    if (any)
        csv_printf(&r->md, "Top row: the probe inputs the encoder generated at each probing step (%s); bottom row: the zoo "
                   "RNN's answers, softmax of its outputs, for %s snapshots at the last snapshot step. SPEC.md §7 gives no "
                   "numbers for the probes.\n\n",
                   formal ? "the softmax over the six tokens" : "the sigmoid per pixel, step s drawn where image tile s - 1 "
                   "would be; step 0, the BOS step, is not drawn", k && zr->sp.row_split[rows[0]] == SPLIT_OOD ? "OOD" : "validation");
    else csv_printf(&r->md, "No probing encoder among the runs of this zoo.\n\n");
    return rc;
}

/* ---- Downstream prediction: rows of downstream.csv (SPEC.md §9) ---------------------- */

enum { DS_ENCODER, DS_SEED, DS_TRAINING, DS_PREDICTOR, DS_TARGET, DS_SPLIT, DS_METRIC, DS_VALUE, DS_FIELDS };
static const char *const ds_columns[DS_FIELDS] = {"encoder", "seed", "training", "predictor", "target", "split", "metric", "value"};

typedef struct DsRow { char *field[DS_VALUE]; double value; } DsRow;
typedef struct DsRows { DsRow *row; size_t n, cap; CsvTable *tables; size_t ntables; } DsRows;

/* Appends the rows of path (when it exists), replacing a row of the same key. */
static int ds_read(DsRows *d, const char *path, char *err)
{
    FILE *probe = fopen(path, "rb");
    if (!probe) return RR_OK;
    fclose(probe);
    d->tables = realloc(d->tables, (d->ntables + 1) * sizeof *d->tables);
    if (!d->tables) rr_fatal("out of memory reading %s", path);
    CsvTable *t = &d->tables[d->ntables];
    int rc = csv_read(path, t, err);
    if (rc) return rc;
    d->ntables++;
    size_t col[DS_FIELDS];
    for (int f = 0; f < DS_FIELDS; f++)
        if ((col[f] = csv_column(t, ds_columns[f])) == SIZE_MAX)
            return rr_error(err, RR_ERR_FORMAT, "%s: no column '%s' (want %s,...)", path, ds_columns[f], ds_columns[0]);
    for (size_t i = 0; i < t->rows; i++) {
        DsRow row;
        for (int f = 0; f < DS_VALUE; f++) row.field[f] = (char *)csv_field(t, i, col[f]);
        row.value = strtod(csv_field(t, i, col[DS_VALUE]), NULL);
        size_t j = 0;
        while (j < d->n) {
            int same = 1;
            for (int f = 0; f < DS_VALUE && same; f++) same = !strcmp(d->row[j].field[f], row.field[f]);
            if (same) break;
            j++;
        }
        if (j == d->n) {
            if (d->n == d->cap) {
                d->cap = d->cap ? 2 * d->cap : 256;
                d->row = realloc(d->row, d->cap * sizeof *d->row);
                if (!d->row) rr_fatal("out of memory reading %s", path);
            }
            d->n++;
        }
        d->row[j] = row;
    }
    return RR_OK;
}

static void ds_free(DsRows *d)
{
    for (size_t i = 0; i < d->ntables; i++) csv_table_free(&d->tables[i]);
    free(d->tables);
    free(d->row);
}

/* The distinct values of field f among rows matching (fa = va, fb = vb; -1: any), in order of
 * appearance, into out (room for d->n). */
static size_t ds_distinct(const DsRows *d, int f, int fa, const char *va, const char **out)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (fa >= 0 && strcmp(d->row[i].field[fa], va)) continue;
        size_t j = 0;
        while (j < n && strcmp(out[j], d->row[i].field[f])) j++;
        if (j == n) out[n++] = d->row[i].field[f];
    }
    return n;
}

/* The series in the order of SPEC.md §6: pretrained, supervised, reference, then others by name. */
static int training_rank(const char *t)
{
    static const char *const order[3] = {"pretrained", "supervised", "reference"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(t, order[i])) return i;
    return 3;
}

static int training_order(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    int rx = training_rank(x), ry = training_rank(y);
    return rx != ry ? rx - ry : strcmp(x, y);
}

/* Whether a smaller value of the metric is better (errors, losses). */
static int lower_is_better(const char *metric)
{
    static const char *const lower[] = {"mae", "mse", "loss", "error"};
    for (size_t i = 0; i < sizeof lower / sizeof lower[0]; i++)
        if (strstr(metric, lower[i])) return 1;
    return 0;
}

/* Mean and interval over seeds of the rows of one (target, metric, split, training,
 * predictor, encoder). */
static double ds_cell(const DsRows *d, const char *const key[DS_VALUE], double *lo, double *hi, size_t *seeds)
{
    double *v = rr_malloc((d->n + 1) * sizeof *v, "values");
    size_t n = 0;
    for (size_t i = 0; i < d->n; i++) {
        int match = 1;
        for (int f = 0; f < DS_VALUE && match; f++) match = f == DS_SEED || !strcmp(d->row[i].field[f], key[f]);
        if (match) v[n++] = d->row[i].value;
    }
    double mean = mean_ci(v, n, lo, hi, seeds);
    free(v);
    return mean;
}

static int section_downstream(Report *r, ZooReport *zr, char *err)
{
    DsRows d;
    memset(&d, 0, sizeof d);
    int rc = RR_OK;
    for (size_t i = 0; i < zr->nruns && !rc; i++)
        for (int f = 0; f < RUN_DOWNSTREAM_FILES && !rc; f++) {
            char path[PATH_LEN];
            zoo_path(path, sizeof path, zr->runs[i].dir, run_downstream_files[f]);
            rc = ds_read(&d, path, err);
        }
    if (rc || d.n == 0) {
        if (!rc)
            csv_printf(&r->md, "No downstream results: no run of this zoo holds %s (`rnnrep downstream`; a reproduction "
                       "skips that stage when the program has no such command).\n\n", run_downstream_files[0]);
        ds_free(&d);
        return rc;
    }
    const char **targets = rr_malloc(d.n * sizeof *targets, "targets"), **metrics = rr_malloc(d.n * sizeof *metrics, "metrics");
    const char **encoders = rr_malloc((d.n + zr->groups) * sizeof *encoders, "encoders");
    const char **trainings = rr_malloc(d.n * sizeof *trainings, "trainings"), **predictors = rr_malloc(d.n * sizeof *predictors, "predictors");
    size_t ntargets = ds_distinct(&d, DS_TARGET, -1, NULL, targets);
    /* categories: our encoders in report order, then any other name (the reference features) */
    size_t nenc = 0;
    for (size_t g = 0; g < zr->groups; g++) encoders[nenc++] = group_name(zr, g);
    const char **others = rr_malloc(d.n * sizeof *others, "encoders");
    size_t nothers = ds_distinct(&d, DS_ENCODER, -1, NULL, others);
    for (size_t i = 0; i < nothers; i++) {
        size_t j = 0;
        while (j < nenc && strcmp(encoders[j], others[i])) j++;
        if (j == nenc) encoders[nenc++] = others[i];
    }
    free(others);
    size_t ntrain = ds_distinct(&d, DS_TRAINING, -1, NULL, trainings), npred = ds_distinct(&d, DS_PREDICTOR, -1, NULL, predictors);
    qsort(trainings, ntrain, sizeof *trainings, training_order);
    static const char *const splits[2] = {"ood", "val"};
    static const char *const split_titles[2] = {"OOD (held-out half of the OOD tasks)", "validation"};
    Csv t;
    csv_init(&t, "target,metric,split,encoder,training,predictor,seeds,mean,ci_low,ci_high");
    csv_printf(&r->md, "Prediction of properties of each zoo RNN from its frozen embedding (SPEC.md §6), on the OOD test half "
               "and on the validation tasks; bars are means over seeds with 95%% bootstrap intervals, one series per training "
               "(pretrained encoder, supervised end to end, reference features) and predictor.\n\n");
    double *mean = rr_malloc(nenc * sizeof(double), "bars"), *lo = rr_malloc(nenc * sizeof(double), "bars"), *hi = rr_malloc(nenc * sizeof(double), "bars");
    for (size_t ti = 0; ti < ntargets && !rc; ti++) {
        size_t nmetrics = ds_distinct(&d, DS_METRIC, DS_TARGET, targets[ti], metrics);
        SvgFigure fig;
        char title[200], name[260];
        snprintf(title, sizeof title, "Downstream prediction of %s (%s)", targets[ti], zoo_title(zr));
        svg_begin(&fig, title, 2, (int)(nmetrics < 64 ? nmetrics : 64));
        for (size_t mi = 0; mi < nmetrics && mi < 64; mi++)
            for (int s = 0; s < 2; s++) {
                char ptitle[160];
                snprintf(ptitle, sizeof ptitle, "%s, %s", metrics[mi], split_titles[s]);
                SvgPanel *p = svg_panel(&fig, (int)(2 * mi + (size_t)s), ptitle, NULL, metrics[mi]);
                svg_x_categories(p, encoders, nenc);
                for (size_t a = 0; a < ntrain; a++)
                    for (size_t b = 0; b < npred; b++) {
                        int present = 0;
                        for (size_t e = 0; e < nenc; e++) {
                            const char *key[DS_VALUE] = {encoders[e], NULL, trainings[a], predictors[b], targets[ti], splits[s], metrics[mi]};
                            size_t seeds;
                            mean[e] = ds_cell(&d, key, &lo[e], &hi[e], &seeds);
                            if (!seeds) continue;
                            present = 1;
                            csv_printf(&t, "%s,%s,%s,%s,%s,%s,%zu,", targets[ti], metrics[mi], splits[s], encoders[e], trainings[a], predictors[b], seeds);
                            csv_double(&t, mean[e], ",");
                            csv_double(&t, lo[e], ",");
                            csv_double(&t, hi[e], "\n");
                        }
                        char series[120];
                        snprintf(series, sizeof series, "%s, %s", trainings[a], predictors[b]);
                        if (present) svg_bars(p, series, mean, lo, hi, nenc);
                    }
            }
        /* In words: the best pretrained encoder out of distribution, on the first metric that has one. */
        const char *metric = metrics[0];
        int lower = 0;
        size_t best = SIZE_MAX;
        double best_value = NAN;
        const char *best_predictor = "";
        for (size_t mi = 0; mi < nmetrics && best == SIZE_MAX; mi++) {
            metric = metrics[mi];
            lower = lower_is_better(metric);
            for (size_t e = 0; e < nenc; e++)
                for (size_t b = 0; b < npred; b++) {
                    const char *key[DS_VALUE] = {encoders[e], NULL, "pretrained", predictors[b], targets[ti], "ood", metric};
                    double l, h, v = ds_cell(&d, key, &l, &h, NULL);
                    if (isfinite(v) && (best == SIZE_MAX || (lower ? v < best_value : v > best_value)))
                        best = e, best_value = v, best_predictor = predictors[b];
                }
        }
        csv_printf(&r->md, "**%s.** ", targets[ti]);
        if (best != SIZE_MAX) {
            csv_printf(&r->md, "Best pretrained encoder out of distribution by %s (%s is better): **%s** (%.4g, %s).", metric,
                       lower ? "lower" : "higher", encoders[best], best_value, best_predictor);
            const char *key[DS_VALUE] = {encoders[best], NULL, "supervised", "", targets[ti], "ood", metric};
            for (size_t b = 0; b < npred; b++) {
                key[DS_PREDICTOR] = predictors[b];
                double l, h, v = ds_cell(&d, key, &l, &h, NULL);
                if (isfinite(v)) csv_printf(&r->md, " The same architecture trained supervised (%s): %.4g.", predictors[b], v);
            }
            if (zr->kind == ZOO_KIND_FORMAL && strstr(targets[ti], "task"))
                csv_printf(&r->md, " The paper finds the pretrained interactive probing encoder clearly best at OOD task "
                           "prediction: %s.", !strncmp(encoders[best], "interactive", 11) ? "agree" : "disagree");
        } else {
            csv_printf(&r->md, "No pretrained encoder has a finite OOD value.");
        }
        csv_printf(&r->md, "\n\n");
        file_part(targets[ti], title, sizeof title);
        snprintf(name, sizeof name, "%s-downstream-%s", zr->name, title);
        rc = write_figure(r, &fig, name, err);
    }
    char name[64];
    snprintf(name, sizeof name, "%s-downstream", zr->name);
    if (!rc) rc = write_table(r, &t, name, err);
    else csv_free(&t);
    free(mean), free(lo), free(hi);
    free(targets), free(metrics), free(encoders), free(trainings), free(predictors);
    ds_free(&d);
    return rc;
}

/* The interrogator theory (SPEC.md §8), as `rnnrep interrogate` prints it. */
static int section_interrogate(Report *r, char *err)
{
    enum { KMAX = 6 };
    InterrogationRow rows[KMAX];
    int rc = interrogate_table(KMAX, rows, err);
    if (rc) return rc;
    Csv t;
    csv_init(&t, "K,functions,tree_adaptive,tree_fixed,worst_adaptive,worst_fixed,identified");
    csv_printf(&r->md, "## The interrogator theory\n\nAn interrogator must name an unknown f from a known set D of distinct "
               "functions by querying inputs (SPEC.md §8). Queries needed by the worst member, for the family of 2^K "
               "functions that encode a decision tree of depth K and for the worst-case family of as many members:\n\n"
               "| K | D | decision tree, interactive | decision tree, non-interactive | worst case, interactive | "
               "worst case, non-interactive |\n|---|---|---|---|---|---|\n");
    int agree = 1;
    for (size_t k = 0; k < KMAX; k++) {
        const InterrogationRow *w = &rows[k];
        csv_printf(&t, "%zu,%zu,%zu,%zu,%zu,%zu,%d\n", w->K, w->functions, w->tree_adaptive, w->tree_fixed, w->worst_adaptive,
                   w->worst_fixed, w->identified);
        csv_printf(&r->md, "| %zu | %zu | %zu | %zu | %zu | %zu |\n", w->K, w->functions, w->tree_adaptive, w->tree_fixed,
                   w->worst_adaptive, w->worst_fixed);
        agree &= w->identified && w->tree_adaptive == w->K && w->tree_fixed == w->functions - 1 &&
                 w->worst_adaptive == w->functions - 1 && w->worst_fixed == w->functions - 1;
    }
    csv_printf(&r->md, "\nEvery member was identified; the interactive interrogator needs K queries where any "
               "non-interactive one needs 2^K - 1, and both need |D| - 1 on the worst-case family: %s SPEC.md §8.\n\n",
               agree ? "as" : "NOT as");
    return write_table(r, &t, "interrogate", err);
}

/* ========================================================================================
 * The report
 * ====================================================================================== */

typedef int (*Section)(Report *r, ZooReport *zr, char *err);
static const struct { const char *title; Section write; } sections[] = {
    {"Learning curves", section_curves},
    {"Table 2: emulation loss", section_table2},
    {"Cloned performance", section_cloned},
    {"The embedding space", section_embedding},
    {"Probing: what the functionalist encoders ask", section_probing},
    {"Downstream prediction", section_downstream},
};

static void describe_zoo(Report *r, const ZooReport *zr)
{
    const TaskSplits *sp = &zr->sp;
    size_t runs = 0;
    for (size_t i = 0; i < zr->z.N; i++) runs += i == 0 || zr->z.run[i] != zr->z.run[i - 1];
    csv_printf(&r->md, "## %s\n\nZoo `%s`: %zu snapshots of %zu runs, %zu distinct tasks, split by task into %zu "
               "training, %zu validation and %zu OOD tasks. %zu runs of emulation training:", zoo_headings[zr->kind], zr->dir, zr->z.N, runs, sp->tasks, sp->count[LIST_TRAIN], sp->count[LIST_VAL],
               sp->count[LIST_OOD], zr->nruns);
    for (size_t g = 0; g < zr->groups; g++)
        csv_printf(&r->md, "%s %s (%zu seed%s)", g ? "," : "", group_name(zr, g), zr->group_n[g], zr->group_n[g] == 1 ? "" : "s");
    csv_printf(&r->md, ".\n\n");
}

int report_write(const char *dir, const char *const *run_dirs, size_t nruns, FILE *log, char *err)
{
    Report *r = rr_calloc(1, sizeof *r, "report");
    r->dir = dir;
    int rc = nruns ? gather(r, run_dirs, nruns, log, err) : discover(r, log, err);
    size_t total = 0;
    for (size_t i = 0; i < r->zoos; i++) total += r->zoo[i].nruns;
    if (!rc && total == 0)
        rc = rr_error(err, RR_ERR_FORMAT, "%s: no run with an evaluation (looked in %s)", dir,
                      nruns ? "the run directories given" : "runs/formal/* and runs/mnist/*");
    char sub[PATH_LEN];
    if (!rc) rc = rr_make_dir(dir, err);
    zoo_path(sub, sizeof sub, dir, "figures");
    if (!rc) rc = rr_make_dir(sub, err);
    zoo_path(sub, sizeof sub, dir, "tables");
    if (!rc) rc = rr_make_dir(sub, err);
    csv_init(&r->md, "# Reproduction report");
    csv_printf(&r->md, "\nWritten by rnnrep %s (`rnnrep report`) from the runs in `%s`: the figures of SPEC.md §10 and the "
               "paper's Table 2 (SPEC.md §7, validation emulation loss, values unverified) beside ours. Figures are in "
               "`figures/`, the numbers behind them in `tables/`.\n\n", RR_VERSION, nruns ? "(the run directories given)" : dir);
    for (size_t i = 0; i < r->zoos && !rc; i++) {
        ZooReport *zr = &r->zoo[i];
        if (!zr->nruns) continue;
        zoo_group(zr);
        describe_zoo(r, zr);
        for (size_t s = 0; s < sizeof sections / sizeof sections[0] && !rc; s++) {
            csv_printf(&r->md, "### %s\n\n", sections[s].title);
            rc = sections[s].write(r, zr, err);
        }
    }
    if (!rc) rc = section_interrogate(r, err);
    char path[PATH_LEN];
    zoo_path(path, sizeof path, dir, "report.md");
    if (!rc) rc = csv_write(&r->md, path, err);
    if (!rc && log) fprintf(log, "report: wrote %s with %zu figures and %zu tables\n", path, r->figures, r->tables);
    csv_free(&r->md);
    for (size_t i = 0; i < r->zoos; i++) zoo_free(&r->zoo[i]);
    free(r);
    return rc;
}
