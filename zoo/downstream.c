/*
 * downstream.c — downstream prediction over a zoo (SPEC.md §2.4 step 4, §6, §9):
 * `rnnrep downstream`.
 *
 *   features     the run's best encoder, frozen: E(θ) / |E(θ)| of every zoo row, no
 *                permutation (train_embed_zoo); for the reference, the 70 layer-wise
 *                statistics of θ (stats_features)
 *   splits       by task (TaskSplits.row_downstream): predictor-train = the train tasks and
 *                the moved half of the OOD tasks; model selection on the validation tasks;
 *                results on the validation tasks and on the OOD half that stays
 *   predictors   ridge and the MLP (models/downstream.c) on the embeddings; the constant
 *                predictor and ridge on the statistics as reference points (SPEC.md §6.6)
 *   supervised   the same encoder architecture with the MLP head, trained end to end on the
 *                target from scratch (SPEC.md §6.5; the model and its step: SupervisedModel in
 *                models/downstream.c): E(θ) / |E(θ)| -> 64 -> 64 -> K, AdamW,
 *                clipping per network, permutation augmentation for encoders that are not
 *                invariant, early stopping on the validation loss
 *   table        downstream.csv, one row per (encoder, seed, training, predictor, target,
 *                split, metric); a row computed again replaces the old one in its place
 *
 * The supervised head reads E(θ) / |E(θ)| as the emulator does [ours], so that pretrained
 * and supervised differ only in how the encoder was trained. Its training resumes as
 * `rnnrep train` does: every draw of step s comes from streams seeded by (seed, s) or (seed,
 * epoch), so the last checkpoint holds all the state there is (parameters, AdamW moments and
 * steps, the step, the best validation loss and its step).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "zoo/zoo_internal.h"

/* The key of a row of downstream.csv: its first seven fields. */
enum { KEY_FIELDS = 7 };
enum { TRAIN = SPLIT_TRAIN, VAL = SPLIT_VALID, OOD = SPLIT_OOD };
static const char *const split_names[3] = {"train", "val", "ood"};

/* One command: the zoo, the split, the features, where the rows go. */
typedef struct Job {
    const DownstreamSettings *s;
    const char *run_dir, *out;
    ZooData z;
    TaskSplits splits;
    size_t *rows[3], nrows[3];   /* predictor-train, validation and OOD rows, in file order */
    int64_t *steps;              /* the zoo's distinct snapshot steps, ascending */
    size_t nsteps;
    TrainSettings run;           /* the run's, from its best checkpoint */
    uint64_t seed;               /* the seed column */
    real *embeddings;            /* (N, E) */
    real *statistics;            /* (N, 70) */
    TrainProgress progress;
    void *progress_ctx;
} Job;

/* ========================================================================================
 * Targets and metrics (SPEC.md §6.4)
 * ====================================================================================== */

typedef struct Target Target;
/* The metric of predictions pred (n, K) against the truth (n, K); NaN when undefined. */
typedef double (*MetricFn)(const Target *t, const double *truth, const double *pred, size_t n);
/* The target of a zoo row: y (K). */
typedef void (*TargetFn)(const Job *j, size_t row, double *y);

typedef enum Metric { EXACT_MATCH, BLOCK_ACCURACY, ACCURACY, R2, KENDALL_TAU, CIRCULAR_MAE } Metric;

struct Target {
    const char *name;
    int formal, mnist;         /* which zoos have it */
    PredictorLoss loss;
    size_t K, blocks;          /* columns; one-hot blocks of K / blocks classes (BCE, CE) */
    TargetFn fill;
    size_t metrics;
    Metric metric[2];
};

/* The share of rows whose blocks all hold the true class (all = 1), or of (row, block) pairs
 * that do (all = 0); a block's class is its argmax, in truth and in pred. */
static double blocks_right(const Target *t, const double *truth, const double *pred, size_t n, int all)
{
    int32_t *a = rr_malloc((n * t->blocks + 1) * sizeof *a, "labels"), *b = rr_malloc((n * t->blocks + 1) * sizeof *b, "labels");
    block_argmax(truth, n, t->blocks, t->K / t->blocks, a);
    block_argmax(pred, n, t->blocks, t->K / t->blocks, b);
    double v = all ? exact_match_accuracy(a, b, n, t->blocks) : block_accuracy(a, b, n, t->blocks);
    free(a);
    free(b);
    return v;
}

static double metric_exact_match(const Target *t, const double *truth, const double *pred, size_t n)
{
    return blocks_right(t, truth, pred, n, 1);
}

static double metric_block_accuracy(const Target *t, const double *truth, const double *pred, size_t n)
{
    return blocks_right(t, truth, pred, n, 0);
}

static double metric_r2(const Target *t, const double *truth, const double *pred, size_t n)
{
    (void)t;
    return r_squared(truth, pred, n);   /* K = 1 */
}

static double metric_kendall_tau(const Target *t, const double *truth, const double *pred, size_t n)
{
    (void)t;
    return kendall_tau_b(truth, pred, n);
}

/* (sin, cos) rows read back as angles; the mean circular distance in degrees. */
static double metric_circular_mae(const Target *t, const double *truth, const double *pred, size_t n)
{
    (void)t;
    double *a = rr_malloc((2 * n + 1) * sizeof *a, "angles"), *b = a + n;
    for (size_t i = 0; i < n; i++) {
        a[i] = angle_from_sincos(truth[2 * i], truth[2 * i + 1]);
        b[i] = angle_from_sincos(pred[2 * i], pred[2 * i + 1]);
    }
    double v = circular_mae(a, b, n);
    free(a);
    return v;
}

static const struct { const char *name; MetricFn value; } metrics[] = {
    [EXACT_MATCH] = {"exact_match", metric_exact_match},
    [BLOCK_ACCURACY] = {"block_accuracy", metric_block_accuracy},
    [ACCURACY] = {"accuracy", metric_exact_match},   /* one block: the share of right classes */
    [R2] = {"r2", metric_r2},
    [KENDALL_TAU] = {"kendall_tau", metric_kendall_tau},
    [CIRCULAR_MAE] = {"circular_mae", metric_circular_mae},
};

/* ---- What each target reads from a zoo row --------------------------------------------- */

static void target_task(const Job *j, size_t row, double *y)
{
    memset(y, 0, 18 * sizeof *y);
    for (int b = 0; b < 3; b++) y[6 * b + (size_t)(j->z.tasks[row * 4 + 1 + b] + 3)] = 1;   /* m in -3..2 */
}

static void target_accuracy(const Job *j, size_t row, double *y) { y[0] = j->z.accuracy[row]; }
static void target_gap(const Job *j, size_t row, double *y) { y[0] = j->z.gap[row]; }
static void target_angle(const Job *j, size_t row, double *y) { angle_to_sincos(j->z.tasks[row], y); }

static void target_step(const Job *j, size_t row, double *y)
{
    memset(y, 0, ZOO_SNAPSHOTS * sizeof *y);
    for (size_t k = 0; k < j->nsteps; k++)
        if (j->steps[k] == j->z.step[row]) y[k] = 1;
}

static const Target targets[] = {
    /* name      formal mnist loss         K              blocks  target           metrics */
    {"task",     1,     0,    PREDICT_BCE, 18,            3,      target_task,     2, {EXACT_MATCH, BLOCK_ACCURACY}},
    {"accuracy", 1,     1,    PREDICT_MSE, 1,             0,      target_accuracy, 2, {R2, KENDALL_TAU}},
    {"angle",    0,     1,    PREDICT_MSE, 2,             0,      target_angle,    1, {CIRCULAR_MAE}},
    {"gap",      0,     1,    PREDICT_MSE, 1,             0,      target_gap,      2, {R2, KENDALL_TAU}},
    {"step",     1,     1,    PREDICT_CE,  ZOO_SNAPSHOTS, 1,      target_step,     1, {ACCURACY}},
};
enum { NUM_TARGETS = sizeof targets / sizeof targets[0], MAX_K = 18 /* the task's columns, the most */ };

static int has_target(ZooKind kind, const Target *t) { return kind == ZOO_KIND_FORMAL ? t->formal : t->mnist; }

void downstream_settings_default(DownstreamSettings *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->target, sizeof s->target, "all");
    s->ridge = s->mlp = 1;
    s->seed = 1;
    s->run_seed = 1;
    s->patience = 10;
}

int downstream_target_check(ZooKind kind, const char *target, char *err)
{
    char names[120] = "";
    for (size_t i = 0; i < NUM_TARGETS; i++) {
        if (!has_target(kind, &targets[i])) continue;
        if (!strcmp(target, targets[i].name) || !strcmp(target, "all")) return RR_OK;
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s, ", targets[i].name);
    }
    return rr_error(err, RR_ERR_FORMAT, "'%s' is not a target of %s zoos (%sor all)", target, zoo_kind_names[kind], names);
}

/* ========================================================================================
 * The job: the zoo, its run, the split, the features
 * ====================================================================================== */

/* Rows rows[0..n) of X (N rows of row_bytes) into a new array (n rows). */
static void *gather(const void *X, size_t row_bytes, const size_t *rows, size_t n)
{
    char *out = rr_malloc(n * row_bytes + 1, "rows");
    for (size_t i = 0; i < n; i++) memcpy(out + i * row_bytes, (const char *)X + rows[i] * row_bytes, row_bytes);
    return out;
}

/* The run must have been trained on a zoo like z: the kind and the sizes its config.json
 * records (snapshots N, parameters P, stored sequences S), else its splits and embeddings
 * would belong to another zoo. */
static int check_run_zoo(const char *run_dir, const char *zoo_dir, const ZooData *z, char *err)
{
    static const char *const keys[4] = {"zoo_kind", "zoo_snapshots", "zoo_parameters", "zoo_stored_sequences"};
    char path[1100], want[4][64], got[4][64], trained_on[600] = "?";
    zoo_path(path, sizeof path, run_dir, "config.json");
    size_t len;
    char *text = zoo_slurp(path, &len);
    if (!text) return rr_error(err, RR_ERR_OPEN, "%s: cannot read it: is %s a run of rnnrep train?", path, run_dir);
    if (!(text = realloc(text, len + 1))) rr_fatal("out of memory");
    text[len] = '\0';
    snprintf(want[0], sizeof want[0], "%s", zoo_kind_names[z->kind]);
    snprintf(want[1], sizeof want[1], "%zu", z->N);
    snprintf(want[2], sizeof want[2], "%zu", zoo_num_params(z->shape));
    snprintf(want[3], sizeof want[3], "%zu", z->S);
    int rc = RR_OK, same = 1;
    for (int k = 0; k < 4 && !rc; k++) {
        if (!json_member_text(text, keys[k], got[k], sizeof got[k]))
            rc = rr_error(err, RR_ERR_FORMAT, "%s: no '%s': not the config.json of a run of rnnrep train", path, keys[k]);
        else same &= !strcmp(got[k], want[k]);
    }
    json_member_text(text, "zoo", trained_on, sizeof trained_on);
    free(text);
    if (!rc && !same)
        rc = rr_error(err, RR_ERR_FORMAT, "%s: the run was trained on the zoo %s (%s, %s snapshots of %s parameters, %s stored sequences "
                      "each), but %s is another (%s, %s snapshots of %s parameters, %s stored sequences each)", path,
                      trained_on, got[0], got[1], got[2], got[3], zoo_dir, want[0], want[1], want[2],
                      want[3]);
    return rc;
}

/* The downstream split's rows, each split holding at least one task; the zoo's steps. */
static int job_splits(Job *j, const char *zoo_dir, char *err)
{
    char path[1100];
    zoo_path(path, sizeof path, zoo_dir, "tasks.npy");
    const ZooData *z = &j->z;
    int rc = task_splits_init(&j->splits, z->tasks, z->N, z->task_width, path, err);
    if (rc) return rc;
    for (int k = 0; k < 3; k++) {
        j->rows[k] = rr_malloc(z->N * sizeof(size_t), "split rows");
        for (size_t r = 0; r < z->N; r++)
            if (j->splits.row_downstream[r] == (TaskSplit)k) j->rows[k][j->nrows[k]++] = r;
    }
    const size_t *count = j->splits.count;
    for (int k = 0; k < 3; k++)
        if (!j->nrows[k])
            return rr_error(err, RR_ERR_FORMAT, "%s: its %zu distinct tasks leave the downstream %s split empty (%zu predictor-training, "
                            "%zu validation, %zu OOD tasks); downstream prediction needs at least 7 tasks", zoo_dir,
                            j->splits.tasks, split_names[k], count[LIST_DOWNSTREAM_TRAIN], count[LIST_VAL],
                            count[LIST_DOWNSTREAM_OOD]);
    j->steps = rr_malloc(z->N * sizeof *j->steps, "steps");
    for (size_t r = 0; r < z->N; r++) {   /* insertion into the ascending list of distinct steps */
        size_t k = 0;
        while (k < j->nsteps && j->steps[k] < z->step[r]) k++;
        if (k < j->nsteps && j->steps[k] == z->step[r]) continue;
        memmove(j->steps + k + 1, j->steps + k, (j->nsteps - k) * sizeof *j->steps);
        j->steps[k] = z->step[r];
        j->nsteps++;
    }
    return RR_OK;
}

/* The 70 layer-wise statistics of every row (N, 70). */
static real *zoo_statistics(const ZooData *z)
{
    size_t P = zoo_num_params(z->shape), B = 64;
    real *out = rr_malloc(z->N * STATS_FEATURES * sizeof *out, "statistics");
    Tape t;
    tape_init(&t);
    t.record = 0;
    for (size_t first = 0; first < z->N; first += B) {
        size_t m = z->N - first < B ? z->N - first : B;
        tape_reset(&t);
        Tensor *theta = tensor_new(&t, 2, (size_t[]){m, P}, 0);                   /* (m, P) */
        memcpy(theta->data, z->theta + first * P, m * P * sizeof(real));
        Tensor *f = stats_features(&t, z->shape, theta);                        /* (m, 70) */
        memcpy(out + first * STATS_FEATURES, f->data, m * STATS_FEATURES * sizeof(real));
    }
    tape_free(&t);
    return out;
}

static void job_free(Job *j)
{
    for (int k = 0; k < 3; k++) free(j->rows[k]);
    free(j->steps);
    free(j->embeddings);
    free(j->statistics);
    task_splits_free(&j->splits);
    zoo_data_free(&j->z);
}

/* The target matrix Y (N, K) of every row. */
static double *target_matrix(const Job *j, const Target *t)
{
    double *Y = rr_malloc(j->z.N * t->K * sizeof *Y, "targets");
    for (size_t r = 0; r < j->z.N; r++) t->fill(j, r, Y + r * t->K);
    return Y;
}

/* ========================================================================================
 * Results: rows of the table
 * ====================================================================================== */

/* The metric rows of one predictor: pred[VAL], pred[OOD] against truth[VAL], truth[OOD], into
 * block; a summary line for progress. */
static void add_results(const Job *j, Csv *block, const char *encoder, const char *training, const char *predictor,
                        const Target *t, double *const truth[3], double *const pred[3])
{
    char line[600];
    int at = snprintf(line, sizeof line, "%s %s %s %s:", encoder, training, predictor, t->name);
    for (int k = VAL; k <= OOD; k++) {
        at += snprintf(line + at, sizeof line - (size_t)at, "%s %s", k == VAL ? "" : ";", split_names[k]);
        for (size_t m = 0; m < t->metrics; m++) {
            const char *name = metrics[t->metric[m]].name;
            double v = metrics[t->metric[m]].value(t, truth[k], pred[k], j->nrows[k]);
            csv_printf(block, "%s,%llu,%s,%s,%s,%s,%s,", encoder, (unsigned long long)j->seed, training, predictor, t->name,
                       split_names[k], name);
            if (isnan(v)) csv_printf(block, "nan\n");   /* an undefined metric (SPEC.md §6.4) */
            else if (isinf(v)) csv_printf(block, "%s\n", v > 0 ? "inf" : "-inf");
            else csv_double(block, v, "\n");
            at += snprintf(line + at, sizeof line - (size_t)at, " %s %.4g", name, v);
        }
    }
    if (j->progress) j->progress(j->progress_ctx, 0, 0, NAN, line);
}

/* Puts the rows of block (a table of its own, header first) into the table at j->out. */
static int save_results(const Job *j, const Csv *block, char *err)
{
    Csv table;
    int rc = csv_load(&table, j->out, DOWNSTREAM_HEADER, err);
    const char *row = strchr(block->text, '\n') + 1;
    char *line = rr_malloc(block->len + 1, "row");
    while (!rc && *row) {
        const char *next = strchr(row, '\n') + 1;
        memcpy(line, row, (size_t)(next - row));
        line[next - row] = '\0';
        csv_put(&table, line, KEY_FIELDS);
        row = next;
    }
    if (!rc) rc = csv_write(&table, j->out, err);
    free(line);
    csv_free(&table);
    return rc;
}

/* ========================================================================================
 * Predictors on frozen features
 * ====================================================================================== */

/* Ridge (mlp = 0) or the MLP predictor (mlp = 1, seeded by the target's index) on features
 * X (N, F): predictions pred[VAL], pred[OOD] (n, K) for the validation and OOD rows. */
static int fit_and_predict(const Job *j, size_t target_index, const real *X, size_t F, int mlp, double *const truth[3],
                           double *const pred[3], char *err)
{
    const Target *t = &targets[target_index];
    real *Xs[3];
    for (int k = 0; k < 3; k++) Xs[k] = gather(X, F * sizeof(real), j->rows[k], j->nrows[k]);
    DownstreamProblem p = {F, t->K, t->loss, t->blocks, j->nrows[TRAIN], j->nrows[VAL], Xs[TRAIN], Xs[VAL], truth[TRAIN], truth[VAL]};
    int rc;
    if (!mlp) {
        Ridge r;
        if (!(rc = ridge_fit(&r, &p, NULL, 0, err))) {
            for (int k = VAL; k <= OOD; k++) ridge_predict(&r, Xs[k], j->nrows[k], pred[k]);
            ridge_free(&r);
        }
    } else {
        MlpPredictorConfig cfg = mlp_predictor_config_paper();
        Rng rng = job_stream(j->seed, STREAM_PREDICTOR, target_index);
        MlpPredictor m;
        if (!(rc = mlp_predictor_fit(&m, &cfg, &p, &rng, err))) {
            for (int k = VAL; k <= OOD; k++) mlp_predictor_predict(&m, Xs[k], j->nrows[k], pred[k]);
            mlp_predictor_free(&m);
        }
    }
    for (int k = 0; k < 3; k++) free(Xs[k]);
    if (rc && err) { /* which problem failed */
        char why[RR_ERRLEN];
        snprintf(why, sizeof why, "%s", err);
        rr_error(err, rc, "target %s, %s on %s: %s", t->name, mlp ? "mlp" : "ridge",
                 X == j->embeddings ? "the embeddings" : "the statistics", why);
    }
    return rc;
}

/* Target i on the embeddings (the requested predictors) and the reference points, into block. */
static int frozen_target(const Job *j, size_t i, Csv *block, char *err)
{
    const Target *t = &targets[i];
    double *Y = target_matrix(j, t), *truth[3], *pred[3] = {NULL, NULL, NULL};
    for (int k = 0; k < 3; k++) {
        truth[k] = gather(Y, t->K * sizeof *Y, j->rows[k], j->nrows[k]);
        if (k != TRAIN) pred[k] = rr_malloc(j->nrows[k] * t->K * sizeof(double), "predictions");
    }
    static const char *const predictor_names[2] = {"ridge", "mlp"};
    const int wanted[2] = {j->s->ridge, j->s->mlp};
    int rc = RR_OK;
    for (int mlp = 0; mlp < 2 && !rc; mlp++) {
        if (!wanted[mlp]) continue;
        if (!(rc = fit_and_predict(j, i, j->embeddings, PAPER_EMBED, mlp, truth, pred, err)))
            add_results(j, block, j->run.encoder, "pretrained", predictor_names[mlp], t, truth, pred);
    }
    if (!rc) {
        double mean[MAX_K];
        constant_predictor(truth[TRAIN], j->nrows[TRAIN], t->K, mean);
        for (int k = VAL; k <= OOD; k++)
            for (size_t r = 0; r < j->nrows[k]; r++) memcpy(pred[k] + r * t->K, mean, t->K * sizeof *mean);
        add_results(j, block, "none", "reference", "constant", t, truth, pred);
    }
    if (!rc && !(rc = fit_and_predict(j, i, j->statistics, STATS_FEATURES, 0, truth, pred, err)))
        add_results(j, block, "stats_features", "reference", "ridge", t, truth, pred);
    free(Y);
    for (int k = 0; k < 3; k++) {
        free(truth[k]);
        free(pred[k]);
    }
    return rc;
}

/* ========================================================================================
 * The supervised baseline (SPEC.md §6.5)
 * ====================================================================================== */

typedef struct Supervised {
    const Job *j;
    const Target *t;
    TrainSettings s;           /* the encoder's widths, the batch and budget, the rates, the seed */
    SupervisedModel m;
    double *Y;                 /* (N, K) the target of every row */
    real *theta;               /* one batch (batch, P) */
    double *Yb;                /* one batch (batch, K) */
    char best[1100], last[1100];
    char extra_values[2][64];  /* the checkpoint's downstream.* metadata */
    SafetensorsPair extra[2];
} Supervised;

/* The baseline's settings: the run's (or the preset's) widths and budget for the encoder
 * named in s->supervised, the rates of SPEC.md §6.5, the job's seed; its encoder's config. */
static int supervised_settings(const Job *j, TrainSettings *s, EncoderConfig *ec, char *err)
{
    const DownstreamSettings *d = j->s;
    if (d->preset[0]) {
        int rc = train_settings_preset(s, d->preset, d->supervised, err);
        if (rc) return rc;
    } else {
        *s = j->run;
        snprintf(s->encoder, sizeof s->encoder, "%s", d->supervised);
    }
    s->lr = 1e-4;
    s->weight_decay = 0.01;
    s->clip = 0.1;
    s->seed = j->seed;
    if (d->steps) s->steps = d->steps;
    if (d->eval_every) s->eval_every = d->eval_every;
    EmulatorConfig mc;
    return train_settings_configs(s, j->z.shape, ec, &mc, err);
}

/* The baseline of target t without its networks: settings, checkpoint paths, metadata. */
static int supervised_describe(Supervised *sv, const Job *j, const Target *t, EncoderConfig *ec, char *err)
{
    memset(sv, 0, sizeof *sv);
    int rc = supervised_settings(j, &sv->s, ec, err);
    if (rc) return rc;
    sv->t = t;
    char name[200], base[1024];
    snprintf(name, sizeof name, "supervised-%s-%s-seed%llu", sv->s.encoder, t->name, (unsigned long long)sv->s.seed);
    zoo_path(base, sizeof base, j->run_dir, name);
    snprintf(sv->best, sizeof sv->best, "%s.safetensors", base);
    snprintf(sv->last, sizeof sv->last, "%s-last.safetensors", base);
    snprintf(sv->extra_values[0], sizeof sv->extra_values[0], "%s", t->name);
    snprintf(sv->extra_values[1], sizeof sv->extra_values[1], "%zu", j->s->patience);
    sv->extra[0] = (SafetensorsPair){"downstream.target", sv->extra_values[0]};
    sv->extra[1] = (SafetensorsPair){"downstream.patience", sv->extra_values[1]};
    return RR_OK;
}

/* supervised_describe, then the networks, initialised from the seed, and the buffers. */
static int supervised_init(Supervised *sv, const Job *j, const Target *t, char *err)
{
    EncoderConfig ec;
    int rc = supervised_describe(sv, j, t, &ec, err);
    if (rc) return rc;
    sv->j = j;   /* from here on, sv holds what supervised_free releases */
    Rng init = job_stream(sv->s.seed, STREAM_INIT, 0);
    AdamW opt = adamw_default();
    opt.lr = sv->s.lr;
    opt.weight_decay = sv->s.weight_decay;
    supervised_model_init(&sv->m, &ec, t->K, t->loss, t->blocks, &opt, sv->s.clip, &init);
    sv->Y = target_matrix(j, t);
    sv->theta = rr_malloc(sv->s.batch * zoo_num_params(j->z.shape) * sizeof(real), "batch parameters");
    sv->Yb = rr_malloc(sv->s.batch * t->K * sizeof(double), "batch targets");
    return RR_OK;
}

static void supervised_free(Supervised *sv)
{
    supervised_model_free(&sv->m);
    free(sv->Y);
    free(sv->theta);
    free(sv->Yb);
}

/* The rows idx[0..m) into the batch: θ and the targets. */
static void supervised_batch(Supervised *sv, const size_t *idx, size_t m)
{
    const ZooData *z = &sv->j->z;
    size_t P = zoo_num_params(z->shape), K = sv->t->K;
    for (size_t b = 0; b < m; b++) {
        memcpy(sv->theta + b * P, z->theta + idx[b] * P, P * sizeof(real));
        memcpy(sv->Yb + b * K, sv->Y + idx[b] * K, K * sizeof(double));
    }
}

/* The exact mean loss over the rows rows[0..n) (no permutation, no dropout), and their
 * outputs into pred (n, K) when pred is not NULL. */
static double supervised_pass(Supervised *sv, const size_t *rows, size_t n, double *pred)
{
    size_t B = sv->s.batch, K = sv->t->K;
    double sum = 0;
    for (size_t first = 0; first < n; first += B) {
        size_t m = n - first < B ? n - first : B;
        supervised_batch(sv, rows + first, m);
        sum += supervised_model_eval(&sv->m, sv->theta, sv->Yb, m, pred ? pred + first * K : NULL) * (double)m;
    }
    return sum / (double)n;
}

/* A last checkpoint to continue from must hold these settings (the first that differs is
 * named). */
static int check_checkpoint(const Supervised *sv, char *err)
{
    TrainSettings had;
    int rc = checkpoint_settings(sv->last, &had, err);
    if (rc) return rc;
    const char *key = train_settings_difference(&had, &sv->s);
    Safetensors st;
    if (!key && !(rc = safetensors_read(sv->last, &st, err))) {
        for (int i = 0; i < 2 && !key; i++) {
            const char *v = safetensors_metadata(&st, sv->extra[i].key);
            if (!v || strcmp(v, sv->extra[i].value)) key = sv->extra[i].key;
        }
        safetensors_free(&st);
    }
    if (!rc && key)
        rc = rr_error(err, RR_ERR_FORMAT, "%s: trained with another '%s'; give the same settings, or remove it and %s to train "
                      "again", sv->last, key, sv->best);
    return rc;
}

/* Whether training that reached step `done` (the last evaluation) is over: the budget spent,
 * or patience evaluations' worth of steps without a lower validation loss. */
static int supervised_over(const Supervised *sv, const Checkpoint *ck, int64_t done)
{
    return done >= 0 && ((size_t)done >= sv->s.steps || (size_t)done - ck->best_step >= sv->j->s->patience * sv->s.eval_every);
}

/* Trains (or continues) the baseline until supervised_over; best and last checkpoints. */
static int supervised_train(Supervised *sv, char *err)
{
    const Job *j = sv->j;
    Checkpoint ck = {0, INFINITY, 0};
    int64_t done = -1;   /* the last step whose update the state holds */
    int rc = RR_OK;
    FILE *probe = fopen(sv->last, "rb");
    if (probe) {
        fclose(probe);
        if (!(rc = check_checkpoint(sv, err))) rc = checkpoint_load(sv->last, &sv->m.enc, &sv->m.head_params, "head.", &ck, 1, err);
        done = (int64_t)ck.step;
    }
    size_t n = j->nrows[TRAIN], epoch_of_order = SIZE_MAX;
    size_t *order = rr_malloc(n * sizeof *order, "epoch order"), *idx = rr_malloc(sv->s.batch * sizeof *idx, "batch rows");
    for (size_t step = (size_t)(done + 1); !rc && !supervised_over(sv, &ck, done); step++) {
        size_t m = epoch_batch(sv->s.seed, step, n, sv->s.batch, order, &epoch_of_order, idx);
        for (size_t b = 0; b < m; b++) idx[b] = j->rows[TRAIN][idx[b]];
        Rng rng = job_stream(sv->s.seed, STREAM_STEP, step);
        supervised_batch(sv, idx, m);
        double loss = supervised_model_step(&sv->m, sv->theta, sv->Yb, m, &rng);
        if (!isfinite(loss)) {
            rc = rr_error(err, RR_ERR_FORMAT, "supervised %s, target %s, step %zu: the training loss is %g", sv->s.encoder,
                          sv->t->name, step, loss);
            break;
        }
        if (j->progress) j->progress(j->progress_ctx, step, sv->s.steps, loss, NULL);
        if (step % sv->s.eval_every && step != sv->s.steps) continue;
        double val = supervised_pass(sv, j->rows[VAL], j->nrows[VAL], NULL);
        if (!isfinite(val)) {
            rc = rr_error(err, RR_ERR_FORMAT, "supervised %s, target %s, step %zu: the validation loss is %g", sv->s.encoder,
                          sv->t->name, step, val);
            break;
        }
        ck.step = step;
        if (val < ck.best_loss) {
            ck.best_loss = val;
            ck.best_step = step;
            rc = checkpoint_write(sv->best, &sv->s, &sv->m.enc, &sv->m.head_params, "head.", &ck, 0, sv->extra, 2, err);
        }
        if (!rc) rc = checkpoint_write(sv->last, &sv->s, &sv->m.enc, &sv->m.head_params, "head.", &ck, 1, sv->extra, 2, err);
        done = (int64_t)step;
        if (j->progress) {
            char line[300];
            snprintf(line, sizeof line, "supervised %s %s step %zu: train %.4f  val %.4f%s", sv->s.encoder, sv->t->name, step, loss,
                     val, ck.best_step == step ? "  (best)" : "");
            j->progress(j->progress_ctx, step, sv->s.steps, loss, line);
        }
    }
    free(order);
    free(idx);
    return rc;
}

/* Target i with the supervised baseline: trained (or continued), then its best state scored. */
static int supervised_target(const Job *j, size_t i, Csv *block, char *err)
{
    const Target *t = &targets[i];
    Supervised sv;
    int rc = supervised_init(&sv, j, t, err);
    if (!rc) rc = supervised_train(&sv, err);
    if (!rc) rc = checkpoint_load(sv.best, &sv.m.enc, &sv.m.head_params, "head.", NULL, 0, err);
    if (!rc) {
        double *truth[3], *pred[3];
        for (int k = 0; k < 3; k++) {
            truth[k] = gather(sv.Y, t->K * sizeof(double), j->rows[k], j->nrows[k]);
            pred[k] = rr_malloc((j->nrows[k] * t->K + 1) * sizeof(double), "predictions");
        }
        for (int k = VAL; k <= OOD; k++) supervised_pass(&sv, j->rows[k], j->nrows[k], pred[k]);
        add_results(j, block, sv.s.encoder, "supervised", "mlp", t, truth, pred);
        for (int k = 0; k < 3; k++) {
            free(truth[k]);
            free(pred[k]);
        }
    }
    if (sv.j) supervised_free(&sv);
    return rc;
}

/* ========================================================================================
 * The command
 * ====================================================================================== */

int downstream_run(const char *zoo_dir, const char *run_dir, const char *out, const DownstreamSettings *s,
                   TrainProgress progress, void *progress_ctx, char *err)
{
    Job j;
    memset(&j, 0, sizeof j);
    j.s = s;
    j.run_dir = run_dir;
    j.out = out;
    j.progress = progress;
    j.progress_ctx = progress_ctx;
    if (!s->ridge && !s->mlp) return rr_error(err, RR_ERR_FORMAT, "no predictor: ridge, mlp or both");
    int rc = zoo_data_load(zoo_dir, &j.z, err);
    if (rc) return rc;
    if ((rc = downstream_target_check(j.z.kind, s->target, err))) {
        char why[RR_ERRLEN];
        snprintf(why, sizeof why, "%s", err ? err : "");
        rr_error(err, rc, "%s: %s", zoo_dir, why);
    }
    if (!rc) rc = job_splits(&j, zoo_dir, err);
    if (!rc) rc = check_run_zoo(run_dir, zoo_dir, &j.z, err);
    size_t chosen[NUM_TARGETS], count = 0;
    for (size_t i = 0; !rc && i < NUM_TARGETS; i++)
        if (has_target(j.z.kind, &targets[i]) && (!strcmp(s->target, "all") || !strcmp(s->target, targets[i].name)))
            chosen[count++] = i;
    for (size_t c = 0; !rc && c < count; c++)
        if (targets[chosen[c]].fill == target_step && j.nsteps != ZOO_SNAPSHOTS)
            rc = rr_error(err, RR_ERR_FORMAT, "%s: %zu distinct snapshot steps; the step target wants %d", zoo_dir, j.nsteps, ZOO_SNAPSHOTS);
    if (!rc) rc = train_embed_zoo(run_dir, &j.z, &j.embeddings, &j.run, err);
    if (!rc) {
        j.seed = s->run_seed ? j.run.seed : s->seed;
        j.statistics = zoo_statistics(&j.z);
    }
    for (size_t c = 0; !rc && s->supervised[0] && c < count; c++) { /* the baselines' settings, before any long work */
        Supervised sv;
        EncoderConfig ec;
        rc = supervised_describe(&sv, &j, &targets[chosen[c]], &ec, err);
        FILE *probe = rc ? NULL : fopen(sv.last, "rb");
        if (probe) {
            fclose(probe);
            rc = check_checkpoint(&sv, err);
        }
    }
    /* The frozen features' results for every target first (seconds), then the baselines. */
    for (int supervised = 0; supervised < 2 && !rc; supervised++) {
        if (supervised && !s->supervised[0]) break;
        for (size_t c = 0; c < count && !rc; c++) {
            Csv block;
            csv_init(&block, DOWNSTREAM_HEADER);
            rc = supervised ? supervised_target(&j, chosen[c], &block, err) : frozen_target(&j, chosen[c], &block, err);
            if (!rc) rc = save_results(&j, &block, err);
            csv_free(&block);
        }
    }
    job_free(&j);
    return rc;
}
