/*
 * reproduce.c — `rnnrep reproduce`: the paper in one command. Each stage runs commands of this
 * same program as worker processes (zoo/workers.c), at most `jobs` at a time, and is skipped
 * for whatever is complete already, so an interrupted reproduction continues where it stopped:
 *
 *   stage        what runs, per zoo                                   complete when
 *   zoo          rnnrep zoo KIND ... --jobs N                          every file holds runs x 9 rows,
 *                                                                      args.json as these settings
 *   train        rnnrep train per encoder x seed (--resume if begun)   metrics.csv reaches the last step
 *   embed        rnnrep embed per run                                  embeddings.npy has a row per zoo
 *                                                                      row, and the run was not trained now
 *   downstream   rnnrep downstream per run: pretrained, supervised     the run's file holds rows of that
 *                (skipped when the program has no such command)        training, and it was not trained now
 *   report       report_write, in this process                         report.md exists and no stage ran
 *
 * The layout of DIR is the one zoo/report.c reads (zoo_internal.h).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "zoo/zoo_internal.h"

enum { PATH_LEN = 1100, MAX_ARGS = 32, MAX_SEEDS = 1000 };

/* What each preset sets beyond the zoo and train presets of the same name (0: theirs). */
static const struct ReproducePreset {
    const char *name;
    size_t zoo_runs, zoo_steps;    /* the zoo: runs, and the steps its 9 snapshot steps scale to */
    size_t mnist_eval_batches;     /* MNIST zoo: evaluation batches of 1000 images per metric */
    size_t seeds;
} presets[] = {
    {"tiny", 16, 200, 0, 2},       /* a few minutes: the pipeline, not the results */
    {"small", 1000, 1000, 2, 2},   /* a few hours: enough runs for emulation training to generalise */
    {"paper", 0, 0, 0, 3},         /* the paper's zoos and training: weeks of CPU time */
};
enum { PRESETS = sizeof presets / sizeof presets[0] };

int reproduce_settings_preset(ReproduceSettings *s, const char *preset, char *err)
{
    memset(s, 0, sizeof *s);
    const struct ReproducePreset *p = NULL;
    for (int i = 0; i < PRESETS; i++)
        if (!strcmp(presets[i].name, preset)) p = &presets[i];
    if (!p) return rr_error(err, RR_ERR_FORMAT, "unknown preset '%s' (tiny, small, paper)", preset);
    snprintf(s->preset, sizeof s->preset, "%s", preset);
    snprintf(s->train_preset, sizeof s->train_preset, "%s", preset);
    for (int k = 0; k < 2; k++) {
        ZooSettings *z = &s->zoo_settings[k];
        int rc = zoo_settings_preset(z, (ZooKind)k, preset, err);
        if (rc) return rc;
        if (p->zoo_runs) z->runs = p->zoo_runs;
        if (p->zoo_steps) {
            z->steps = p->zoo_steps;
            zoo_scale_snapshots(z);
        }
        if (p->mnist_eval_batches && k == ZOO_KIND_MNIST) z->eval_batches = p->mnist_eval_batches;
        s->zoo[k] = 1;
    }
    for (int k = 0; k < ENC_COUNT; k++) s->encoder[k] = 1;
    s->seeds = p->seeds;
    s->jobs = 1;
    return RR_OK;
}

/* ========================================================================================
 * Jobs: command lines of this program
 * ====================================================================================== */

typedef struct Job {
    char *argv[MAX_ARGS + 1];      /* owned words, NULL-terminated */
    size_t argc;
    char label[160];
} Job;

typedef struct JobList { Job *job; size_t n, cap; } JobList;

static Job *job_new(JobList *l, const char *program)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->job = realloc(l->job, l->cap * sizeof *l->job);
        if (!l->job) rr_fatal("out of memory listing jobs");
    }
    Job *j = &l->job[l->n++];
    memset(j, 0, sizeof *j);
    j->argv[j->argc] = rr_malloc(strlen(program) + 1, "argument");
    strcpy(j->argv[j->argc++], program);
    return j;
}

/* One more word of the job's command line, formatted. */
static void arg(Job *j, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void arg(Job *j, const char *fmt, ...)
{
    if (j->argc == MAX_ARGS) rr_fatal("reproduce: more than %d arguments for %s", MAX_ARGS, j->label);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) rr_fatal("reproduce: cannot format an argument");
    char *w = rr_malloc((size_t)n + 1, "argument");
    va_start(ap, fmt);
    vsnprintf(w, (size_t)n + 1, fmt, ap);
    va_end(ap);
    j->argv[j->argc++] = w;
}

static void jobs_free(JobList *l)
{
    for (size_t i = 0; i < l->n; i++)
        for (size_t k = 0; k < l->job[i].argc; k++) free(l->job[i].argv[k]);
    free(l->job);
    memset(l, 0, sizeof *l);
}

/* Runs the jobs, `parallel` at a time; frees the list. */
static int jobs_run(JobList *l, size_t parallel, char *err)
{
    WorkerJob *w = rr_calloc(l->n ? l->n : 1, sizeof *w, "workers");
    for (size_t i = 0; i < l->n; i++) w[i] = (WorkerJob){l->job[i].argv, l->job[i].label, 0};
    int rc = l->n ? workers_run(w, l->n, parallel, err) : RR_OK;
    free(w);
    jobs_free(l);
    return rc;
}

/* ========================================================================================
 * The reproduction
 * ====================================================================================== */

typedef struct Reproduction {
    const ReproduceSettings *s;
    const char *dir, *program;
    FILE *log;
    double start;                  /* of the current stage */
    int ran;                       /* some stage did work in this call: the report is rewritten */
    unsigned char *trained[2];     /* (ENC_COUNT, seeds): that run was trained in this call */
    size_t zoo_rows[2];            /* N of each complete zoo */
} Reproduction;

static void say(Reproduction *r, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void say(Reproduction *r, const char *fmt, ...)
{
    if (!r->log) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(r->log, "reproduce: ");
    vfprintf(r->log, fmt, ap);
    fprintf(r->log, "\n");
    va_end(ap);
    fflush(r->log);
}

static void zoo_dir(const Reproduction *r, int kind, char *buf, size_t len)
{
    snprintf(buf, len, "%s/zoos/%s", r->dir, zoo_short_names[kind]);
}

static void run_dir(const Reproduction *r, int kind, int encoder, size_t seed, char *buf, size_t len)
{
    snprintf(buf, len, "%s/runs/%s/%s-s%zu", r->dir, zoo_short_names[kind], encoder_facts[encoder].name, seed);
}

static int exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* Rows of the .npy file at path (its header only), or SIZE_MAX when it cannot be read. */
static size_t npy_rows(const char *path)
{
    NpyFile f;
    if (npy_open(&f, path, NULL)) return SIZE_MAX;
    size_t n = f.array.ndim ? f.array.shape[0] : SIZE_MAX;
    npy_close(&f, NULL);
    return n;
}

static void stage_begin(Reproduction *r, const char *what)
{
    r->start = rr_seconds();
    say(r, "%s: start", what);
}

static int stage_end(Reproduction *r, const char *what, int rc, const char *err)
{
    if (rc) say(r, "%s: failed after %.0f s: %s", what, rr_seconds() - r->start, err);
    else say(r, "%s: done in %.0f s", what, rr_seconds() - r->start);
    r->ran = 1;
    return rc;
}

/* ---- zoo --------------------------------------------------------------------------------- */

/* The options of `rnnrep zoo` that set each ZooSettings number. */
static const struct { const char *option; size_t offset; } zoo_options[] = {
    {"--runs", offsetof(ZooSettings, runs)},       {"--steps", offsetof(ZooSettings, steps)},
    {"--batch", offsetof(ZooSettings, batch)},     {"--samples", offsetof(ZooSettings, samples)},
    {"--stored", offsetof(ZooSettings, stored)},   {"--eval-batches", offsetof(ZooSettings, eval_batches)},
    {"--eval-batch", offsetof(ZooSettings, eval_batch)},
};

static size_t zoo_number(const ZooSettings *s, size_t offset) { return *(const size_t *)(const void *)((const char *)s + offset); }

/* The command that makes zoo s in dir: the preset, then whatever differs from it. */
static void zoo_command(const Reproduction *r, const ZooSettings *s, const char *dir, int resume_alone, JobList *l)
{
    ZooSettings base;
    zoo_settings_preset(&base, s->kind, s->preset, NULL);
    Job *j = job_new(l, r->program);
    snprintf(j->label, sizeof j->label, "zoo %s", zoo_short_names[s->kind]);
    arg(j, "zoo");
    arg(j, "%s", zoo_short_names[s->kind]);
    arg(j, "--preset=%s", s->preset);
    for (size_t i = 0; i < sizeof zoo_options / sizeof zoo_options[0]; i++)
        if (zoo_number(s, zoo_options[i].offset) != zoo_number(&base, zoo_options[i].offset))
            arg(j, "%s=%zu", zoo_options[i].option, zoo_number(s, zoo_options[i].offset));
    base.steps = s->steps; /* --steps alone scales the snapshot steps */
    zoo_scale_snapshots(&base);
    if (memcmp(base.snapshot, s->snapshot, sizeof s->snapshot)) {
        char list[200];
        size_t used = 0;
        for (int k = 0; k < ZOO_SNAPSHOTS; k++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%zu", k ? "," : "", s->snapshot[k]);
        arg(j, "--snapshots=%s", list);
    }
    if (s->seed != base.seed) arg(j, "--seed=%llu", (unsigned long long)s->seed);
    if (s->mnist_dir[0]) arg(j, "--mnist-dir=%s", s->mnist_dir);
    arg(j, "--out=%s", dir);
    /* a zoo begun by one process continues in one; otherwise (new, or slices of --jobs) with workers */
    if (!resume_alone) arg(j, "--jobs=%zu", r->s->jobs);
    arg(j, "--resume");
}

/* How far the zoo in dir is: *args whether it has an args.json (which must be what s
 * writes), *complete whether every file holds all runs. */
static int zoo_state(const ZooSettings *s, const char *dir, int *args, int *complete, char *err)
{
    char path[PATH_LEN], expected[PATH_LEN];
    zoo_path(path, sizeof path, dir, "args.json");
    *args = exists(path);
    *complete = 0;
    if (!*args) return RR_OK;
    zoo_path(expected, sizeof expected, dir, "args.json.expected");
    int rc = zoo_write_args(s, expected, err);
    if (rc) return rc;
    int same = zoo_same_file(path, expected);
    remove(expected);
    if (!same)
        return rr_error(err, RR_ERR_FORMAT, "%s: the zoo there was made with other settings than the %s preset's; use another --out",
                        path, s->preset);
    ZooFile f[ZOO_MAX_FILES];
    size_t n = zoo_files(s->kind, s->stored, f);
    *complete = 1;
    for (size_t i = 0; i < n; i++) {
        zoo_path(path, sizeof path, dir, f[i].name);
        *complete &= npy_rows(path) == s->runs * ZOO_SNAPSHOTS;
    }
    return RR_OK;
}

static int stage_zoo(Reproduction *r, char *err)
{
    for (int k = 0; k < 2; k++) {
        if (!r->s->zoo[k]) continue;
        const ZooSettings *s = &r->s->zoo_settings[k];
        char dir[PATH_LEN], what[64];
        zoo_dir(r, k, dir, sizeof dir);
        snprintf(what, sizeof what, "zoo %s", zoo_short_names[k]);
        int args, complete, rc = zoo_state(s, dir, &args, &complete, err);
        if (rc) return rc;
        r->zoo_rows[k] = s->runs * ZOO_SNAPSHOTS;
        if (complete) {
            say(r, "%s: skipped, complete (%zu runs x %zu steps in %s)", what, s->runs, s->steps, dir);
            continue;
        }
        JobList l;
        memset(&l, 0, sizeof l);
        zoo_command(r, s, dir, args, &l);
        stage_begin(r, what);
        say(r, "%s: %s %zu runs x %zu steps into %s", what, args ? "resuming" : "making", s->runs, s->steps, dir);
        rc = jobs_run(&l, 1, err);
        if (stage_end(r, what, rc, err)) return rc;
    }
    return RR_OK;
}

/* ---- train ------------------------------------------------------------------------------- */

/* The last step the runs train to. */
static size_t train_steps(const ReproduceSettings *s)
{
    TrainSettings t;
    train_settings_preset(&t, s->train_preset, "stats", NULL);
    return s->train_steps ? s->train_steps : t.steps;
}

typedef enum RunState { RUN_NEW, RUN_BEGUN, RUN_DONE } RunState;

/* How far the run in dir is; a finished run trained with other settings is an error. */
static int run_state(const Reproduction *r, const char *dir, size_t seed, RunState *state, char *err)
{
    char path[PATH_LEN], value[64];
    *state = RUN_NEW;
    char *config = NULL;
    size_t len;
    zoo_path(path, sizeof path, dir, "config.json");
    if (!(config = zoo_slurp(path, &len))) return RR_OK;
    *state = RUN_BEGUN;
    size_t steps = train_steps(r->s);
    const char *differs = NULL;
    if (json_member_text(config, "preset", value, sizeof value) && strcmp(value, r->s->train_preset)) differs = "preset";
    if (json_member_text(config, "steps", value, sizeof value) && strtoull(value, NULL, 10) != steps) differs = "steps";
    if (json_member_text(config, "seed", value, sizeof value) && strtoull(value, NULL, 10) != seed) differs = "seed";
    free(config);
    if (differs)
        return rr_error(err, RR_ERR_FORMAT, "%s: the run there was trained with another %s than the %s preset's; use another --out",
                        path, differs, r->s->preset);
    zoo_path(path, sizeof path, dir, "metrics.csv");
    CsvTable t;
    if (csv_read(path, &t, NULL)) return RR_OK;
    if (t.rows && strtoull(csv_field(&t, t.rows - 1, 0), NULL, 10) == steps) *state = RUN_DONE;
    csv_table_free(&t);
    return RR_OK;
}

static int stage_train(Reproduction *r, char *err)
{
    const ReproduceSettings *s = r->s;
    JobList l;
    memset(&l, 0, sizeof l);
    size_t done = 0, begun = 0;
    int rc = RR_OK;
    for (int k = 0; k < 2 && !rc; k++) {
        if (!s->zoo[k]) continue;
        char dir[PATH_LEN], zoo[PATH_LEN];
        zoo_dir(r, k, zoo, sizeof zoo);
        snprintf(dir, sizeof dir, "%s/runs/%s", r->dir, zoo_short_names[k]);
        rc = rr_make_dir(dir, err);
        for (int e = 0; e < ENC_COUNT && !rc; e++)
            for (size_t seed = 1; seed <= s->seeds && s->encoder[e] && !rc; seed++) {
                RunState state;
                run_dir(r, k, e, seed, dir, sizeof dir);
                if ((rc = run_state(r, dir, seed, &state, err))) break;
                if (state == RUN_DONE) {
                    done++;
                    continue;
                }
                begun += state == RUN_BEGUN;
                r->trained[k][(size_t)e * s->seeds + seed - 1] = 1;
                Job *j = job_new(&l, r->program);
                snprintf(j->label, sizeof j->label, "train %s %s seed %zu", zoo_short_names[k], encoder_facts[e].name, seed);
                arg(j, "train");
                arg(j, "--zoo=%s", zoo);
                arg(j, "--encoder=%s", encoder_facts[e].name);
                arg(j, "--preset=%s", s->train_preset);
                if (s->train_steps) arg(j, "--steps=%zu", s->train_steps);
                arg(j, "--seed=%zu", seed);
                if (s->zoo_settings[k].mnist_dir[0]) arg(j, "--mnist-dir=%s", s->zoo_settings[k].mnist_dir);
                arg(j, "--out=%s", dir);
                if (state == RUN_BEGUN) arg(j, "--resume");
            }
    }
    if (!rc && l.n == 0) {
        say(r, "train: skipped, all %zu runs complete", done);
        return RR_OK;
    }
    if (rc) {
        jobs_free(&l);
        return rc;
    }
    stage_begin(r, "train");
    say(r, "train: %zu runs to train (%zu of them resumed, %zu complete) with %zu jobs", l.n, begun, done, s->jobs);
    rc = jobs_run(&l, s->jobs, err);
    return stage_end(r, "train", rc, err);
}

/* ---- embed ------------------------------------------------------------------------------- */

static int stage_embed(Reproduction *r, char *err)
{
    const ReproduceSettings *s = r->s;
    JobList l;
    memset(&l, 0, sizeof l);
    for (int k = 0; k < 2; k++)
        for (int e = 0; e < ENC_COUNT && s->zoo[k]; e++)
            for (size_t seed = 1; seed <= s->seeds && s->encoder[e]; seed++) {
                char dir[PATH_LEN], path[PATH_LEN], zoo[PATH_LEN];
                run_dir(r, k, e, seed, dir, sizeof dir);
                zoo_path(path, sizeof path, dir, "embeddings.npy");
                if (!r->trained[k][(size_t)e * s->seeds + seed - 1] && npy_rows(path) == r->zoo_rows[k]) continue;
                zoo_dir(r, k, zoo, sizeof zoo);
                Job *j = job_new(&l, r->program);
                snprintf(j->label, sizeof j->label, "embed %s %s seed %zu", zoo_short_names[k], encoder_facts[e].name, seed);
                arg(j, "embed");
                arg(j, "--run=%s", dir);
                arg(j, "--zoo=%s", zoo);
            }
    if (l.n == 0) {
        say(r, "embed: skipped, every run holds its embeddings");
        return RR_OK;
    }
    stage_begin(r, "embed");
    say(r, "embed: %zu runs", l.n);
    int rc = jobs_run(&l, s->jobs, err);
    return stage_end(r, "embed", rc, err);
}

/* ---- downstream -------------------------------------------------------------------------- */

/* Whether the CSV at path holds a row whose `training` is training. */
static int has_rows(const char *path, const char *training)
{
    CsvTable t;
    if (csv_read(path, &t, NULL)) return 0;
    size_t c = csv_column(&t, "training");
    int found = 0;
    for (size_t i = 0; c != SIZE_MAX && i < t.rows && !found; i++) found = !strcmp(csv_field(&t, i, c), training);
    csv_table_free(&t);
    return found;
}

/* Whether this program has the downstream command: `downstream --help` exits with 0. */
static int has_downstream(const Reproduction *r)
{
    char *argv[] = {(char *)r->program, "downstream", "--help", NULL};
    WorkerJob probe = {argv, "downstream --help", 1};
    return workers_run(&probe, 1, 1, NULL) == RR_OK;
}

static int stage_downstream(Reproduction *r, char *err)
{
    const ReproduceSettings *s = r->s;
    if (!has_downstream(r)) {
        say(r, "downstream: skipped, this %s has no downstream command", r->program);
        return RR_OK;
    }
    static const char *const training[RUN_DOWNSTREAM_FILES] = {"pretrained", "supervised"};
    JobList l;
    memset(&l, 0, sizeof l);
    for (int k = 0; k < 2; k++)
        for (int e = 0; e < ENC_COUNT && s->zoo[k]; e++)
            for (size_t seed = 1; seed <= s->seeds && s->encoder[e]; seed++)
                for (int f = 0; f < RUN_DOWNSTREAM_FILES; f++) {
                    char dir[PATH_LEN], path[PATH_LEN], zoo[PATH_LEN];
                    run_dir(r, k, e, seed, dir, sizeof dir);
                    zoo_path(path, sizeof path, dir, run_downstream_files[f]);
                    if (!r->trained[k][(size_t)e * s->seeds + seed - 1] && has_rows(path, training[f])) continue;
                    zoo_dir(r, k, zoo, sizeof zoo);
                    Job *j = job_new(&l, r->program);
                    snprintf(j->label, sizeof j->label, "downstream %s %s seed %zu (%s)", zoo_short_names[k], encoder_facts[e].name,
                             seed, training[f]);
                    arg(j, "downstream");
                    arg(j, "--zoo=%s", zoo);
                    arg(j, "--run=%s", dir);
                    arg(j, "--out=%s", path);
                    arg(j, "--target=all");
                    if (f == 0) arg(j, "--predictor=both");
                    else arg(j, "--supervised=%s", encoder_facts[e].name);
                }
    if (l.n == 0) {
        say(r, "downstream: skipped, every run holds its rows");
        return RR_OK;
    }
    stage_begin(r, "downstream");
    say(r, "downstream: %zu predictions (pretrained and supervised)", l.n);
    int rc = jobs_run(&l, s->jobs, err);
    return stage_end(r, "downstream", rc, err);
}

/* ---- report ------------------------------------------------------------------------------ */

static int stage_report(Reproduction *r, char *err)
{
    char path[PATH_LEN];
    zoo_path(path, sizeof path, r->dir, "report.md");
    if (!r->ran && exists(path)) {
        say(r, "report: skipped, %s is up to date", path);
        return RR_OK;
    }
    stage_begin(r, "report");
    int rc = report_write(r->dir, NULL, 0, r->log, err);
    return stage_end(r, "report", rc, err);
}

typedef int (*Stage)(Reproduction *r, char *err);
static const Stage stages[] = {stage_zoo, stage_train, stage_embed, stage_downstream, stage_report};

int reproduce_run(const ReproduceSettings *s, const char *dir, const char *program, FILE *log, char *err)
{
    if (s->seeds < 1 || s->seeds > MAX_SEEDS || s->jobs < 1 || !(s->zoo[0] || s->zoo[1]))
        return rr_error(err, RR_ERR_FORMAT, "a reproduction needs 1..%d seeds, at least one job and one zoo", MAX_SEEDS);
    for (int k = 0; k < 2; k++) {
        int rc = s->zoo[k] ? zoo_settings_check(&s->zoo_settings[k], err) : RR_OK;
        if (rc) return rc;
    }
    Reproduction r = {s, dir, program, log, 0, 0, {NULL, NULL}, {0, 0}};
    char sub[PATH_LEN];
    int rc = rr_make_dir(dir, err);
    zoo_path(sub, sizeof sub, dir, "zoos");
    if (!rc) rc = rr_make_dir(sub, err);
    zoo_path(sub, sizeof sub, dir, "runs");
    if (!rc) rc = rr_make_dir(sub, err);
    for (int k = 0; k < 2; k++) r.trained[k] = rr_calloc((size_t)ENC_COUNT * s->seeds, 1, "runs trained");
    for (size_t i = 0; i < sizeof stages / sizeof stages[0] && !rc; i++) rc = stages[i](&r, err);
    free(r.trained[0]);
    free(r.trained[1]);
    return rc;
}
