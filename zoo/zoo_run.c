/*
 * zoo_run.c — one training run of a model zoo (SPEC.md §2): the zoo RNN learns its own task
 * with AdamW, and at each of the 9 snapshot steps its θ, its stored rollouts or images with
 * its outputs on them, and its performance become one row of every file.
 *
 * The skeleton is the same for both task families:
 *   draw the task and initialise θ from the run's own stream
 *   for step = 0..steps:  a batch of the task; lr(step); one AdamW update
 *                         at a snapshot step: evaluate and fill the snapshot's rows
 * and each family supplies its batches and its snapshot (formal languages below, then MNIST).
 * Run r draws everything from the stream seeded by (seed, r), so any slicing of the runs gives
 * the same rows.
 */
#include <stdlib.h>
#include <string.h>

#include "zoo/zoo_internal.h"

void run_rows_init(RunRows *r, const ZooSettings *s)
{
    r->nfiles = zoo_files(s->kind, s->stored, r->file);
    for (size_t i = 0; i < r->nfiles; i++)
        r->rows[i] = rr_calloc(ZOO_SNAPSHOTS * zoo_file_row_elems(&r->file[i]), npy_dtype_size(r->file[i].dtype), "zoo rows");
}

void run_rows_free(RunRows *r)
{
    for (size_t i = 0; i < r->nfiles; i++) free(r->rows[i]);
}

/* Where snapshot k's row of file i starts. */
static void *row_at(RunRows *r, size_t i, int k)
{
    return r->rows[i] + (size_t)k * zoo_file_row_elems(&r->file[i]) * npy_dtype_size(r->file[i].dtype);
}

static void put_i64(RunRows *r, size_t i, int k, const int64_t *v) { npy_from_i64(r->file[i].dtype, v, zoo_file_row_elems(&r->file[i]), row_at(r, i, k)); }
static void put_real(RunRows *r, size_t i, int k, const real *v) { npy_from_real(r->file[i].dtype, v, zoo_file_row_elems(&r->file[i]), row_at(r, i, k)); }
static void put_f64(RunRows *r, size_t i, int k, const double *v) { memcpy(row_at(r, i, k), v, zoo_file_row_elems(&r->file[i]) * sizeof *v); }

/* The official schedule sets the rate after each update, so update s uses lr(s - 1). */
static double zoo_lr(const ZooSettings *s, size_t step)
{
    const double at[3] = {(double)s->snapshot[0], (double)s->snapshot[ZOO_SNAPSHOTS - 2], (double)s->snapshot[ZOO_SNAPSHOTS - 1]};
    const double lr[3] = {0.01, 0.003, 0.0003};
    return schedule_piecewise(at, lr, 3, step == 0 ? 0.0 : (double)(step - 1));
}

/* A run in progress: the settings, the RNN and its optimiser, the batch being trained on,
 * and the task family's own state. */
typedef struct Run {
    const ZooSettings *s;
    const MnistData *data;
    size_t run, T;              /* T: steps of a training sequence */
    Rng rng;
    ZooLstm model;
    AdamW opt;
    real *x;                    /* (batch, T, I) */
    int32_t *labels;            /* (batch T): the target at every step */
    int task[4];                /* formal languages: t = (0, m_b, m_c, m_d) */
    double angle;               /* MNIST: the rotation, degrees */
    size_t *order, pos;         /* MNIST: this epoch's order of the training images, next one */
    size_t *batch_idx;          /* MNIST: the batch's images (batch) */
    int32_t *batch_y;           /* MNIST: their labels (batch) */
} Run;

typedef struct TaskFamily {
    void (*begin)(Run *r);                      /* draw the task, initialise the model */
    void (*batch)(Run *r);                      /* fill r->x and r->labels */
    void (*snapshot)(Run *r, size_t step, RunRows *rows, int k);
} TaskFamily;

/* ========================================================================================
 * Formal languages
 * ====================================================================================== */

static void formal_begin(Run *r)
{
    r->task[0] = 0;
    for (int k = 1; k < 4; k++) r->task[k] = (int)rng_range(&r->rng, -3, 2);
    zoo_lstm_init(&r->model, ZOO_FORMAL, &r->rng);
    r->opt.weight_decay = 1e-4;
    r->T = LANG_LENGTH - 1;
}

/* Teacher forcing: inputs tokens 0..40 of a training string, targets tokens 1..41. */
static void formal_batch(Run *r)
{
    size_t B = r->s->batch, T = r->T, V = LANG_TOKENS;
    int16_t str[LANG_LENGTH];
    memset(r->x, 0, B * T * V * sizeof(real));
    for (size_t b = 0; b < B; b++) {
        lang_sample_string(&r->rng, r->task, str);
        for (size_t i = 0; i < T; i++) {
            r->x[(b * T + i) * V + (size_t)str[i]] = 1;
            r->labels[b * T + i] = str[i + 1];
        }
    }
}

/* Accuracy from s->samples rollouts (official and strict), then a second rollout to store. */
static void formal_snapshot(Run *r, size_t step, RunRows *rows, int k)
{
    const ZooSettings *s = r->s;
    size_t S = s->stored, n = s->samples > S ? s->samples : S;
    SeqModel m = zoo_lstm_seq(&r->model);
    int16_t *seqs = rr_malloc(n * LANG_LENGTH * sizeof *seqs, "samples");
    real *logp = rr_malloc(S * (LANG_LENGTH - 1) * LANG_TOKENS * sizeof(real), "stored outputs");
    int64_t correct = 0, strict = 0;
    seq_sample_tokens(&m, &r->rng, s->samples, LANG_LENGTH, LANG_BOS, seqs, NULL);
    for (size_t i = 0; i < s->samples; i++) {
        correct += lang_accepts(r->task, seqs + i * LANG_LENGTH, LANG_LENGTH);
        strict += lang_accepts_strict(r->task, seqs + i * LANG_LENGTH, LANG_LENGTH);
    }
    seq_sample_tokens(&m, &r->rng, S, LANG_LENGTH, LANG_BOS, seqs, logp);
    int64_t task64[4] = {r->task[0], r->task[1], r->task[2], r->task[3]};
    int64_t nsc[3] = {(int64_t)r->run, (int64_t)step, correct}, nss[3] = {(int64_t)r->run, (int64_t)step, strict};
    int64_t *seq64 = rr_malloc(S * LANG_LENGTH * sizeof *seq64, "sequences");
    for (size_t i = 0; i < S * LANG_LENGTH; i++) seq64[i] = seqs[i];
    put_real(rows, ZOO_PARAMETERS, k, r->model.params.data);
    put_i64(rows, ZOO_SEQUENCES, k, seq64);
    put_real(rows, ZOO_LOGITS, k, logp);
    put_i64(rows, ZOO_TASKS, k, task64);
    put_i64(rows, ZOO_BOOKKEEPING, k, nsc);
    put_i64(rows, ZOO_LAST_FILE, k, nss);
    free(seq64);
    free(seqs);
    free(logp);
}

/* ========================================================================================
 * Tiled rotated sequential MNIST
 * ====================================================================================== */

static void mnist_begin(Run *r)
{
    static const double decays[4] = {0.0, 0.001, 0.01, 0.1};
    r->angle = rng_uniform(&r->rng) * 360.0;
    r->opt.weight_decay = decays[rng_below(&r->rng, 4)];
    zoo_lstm_init(&r->model, ZOO_MNIST, &r->rng);
    r->T = MNIST_STEPS;
    r->order = rr_malloc(r->data->ntrain * sizeof *r->order, "epoch order");
    r->batch_idx = rr_malloc(r->s->batch * sizeof *r->batch_idx, "batch images");
    r->batch_y = rr_malloc(r->s->batch * sizeof *r->batch_y, "batch labels");
    r->pos = r->data->ntrain;
}

/* The next batch of the epoch; a new epoch (a fresh shuffle) when the rest is too short. */
static void mnist_batch_next(Run *r)
{
    const MnistData *d = r->data;
    size_t B = r->s->batch, T = r->T;
    if (r->pos + B > d->ntrain) {
        rng_permutation(&r->rng, d->ntrain, r->order);
        r->pos = 0;
    }
    for (size_t b = 0; b < B; b++) r->batch_idx[b] = d->train[r->order[r->pos++]];
    mnist_batch(d, r->batch_idx, B, r->angle, r->x, r->batch_y);
    for (size_t b = 0; b < B; b++)
        for (size_t i = 0; i < T; i++) r->labels[b * T + i] = r->batch_y[b];
}

/* The official evaluate_model: up to eval_batches shuffled batches of eval_batch images of
 * set; loss = mean over batches of the mean cross-entropy over all 50 steps; accuracy from
 * the last step. keep_x / keep_logits (optional): the first `stored` images of the first
 * batch and the RNN's raw logits on them. */
static void mnist_evaluate(Run *r, const size_t *set, size_t nset, double *loss, double *accuracy, real *keep_x,
                           real *keep_logits)
{
    const ZooSettings *s = r->s;
    size_t n_max = s->eval_batch, T = MNIST_STEPS, I = MNIST_TILE_SIZE, O = MNIST_CLASSES;
    size_t *order = rr_malloc(nset * sizeof *order, "evaluation order"), *idx = rr_malloc(n_max * sizeof *idx, "batch");
    real *x = rr_malloc(n_max * T * I * sizeof(real), "evaluation images");
    real *logits = keep_logits ? rr_malloc(n_max * T * O * sizeof(real), "evaluation logits") : NULL;
    int32_t *y = rr_malloc(n_max * sizeof *y, "evaluation labels");
    SeqModel m = zoo_lstm_seq(&r->model);
    rng_permutation(&r->rng, nset, order);
    double loss_sum = 0;
    size_t batches = 0, correct = 0, total = 0;
    for (size_t start = 0; start < nset && batches < s->eval_batches; start += n_max, batches++) {
        size_t n = nset - start < n_max ? nset - start : n_max;
        for (size_t b = 0; b < n; b++) idx[b] = set[order[start + b]];
        mnist_batch(r->data, idx, n, r->angle, x, y);
        SeqScore score = seq_classify(&m, x, n, T, y, batches == 0 ? logits : NULL);
        loss_sum += score.loss;
        correct += score.correct;
        total += n;
        if (keep_x && batches == 0) {
            size_t S = s->stored < n ? s->stored : n;
            memcpy(keep_x, x, S * T * I * sizeof(real));
            memcpy(keep_logits, logits, S * T * O * sizeof(real));
        }
    }
    *loss = loss_sum / (double)batches;
    *accuracy = (double)correct / (double)total;
    free(order);
    free(idx);
    free(x);
    free(logits);
    free(y);
}

static void mnist_snapshot(Run *r, size_t step, RunRows *rows, int k)
{
    const MnistData *d = r->data;
    size_t S = r->s->stored;
    real *keep_x = rr_calloc(S * MNIST_STEPS * MNIST_TILE_SIZE, sizeof(real), "stored images");
    real *keep_logits = rr_calloc(S * MNIST_STEPS * MNIST_CLASSES, sizeof(real), "stored logits");
    double train_loss, train_acc, eval_loss, eval_acc;
    mnist_evaluate(r, d->train, d->ntrain, &train_loss, &train_acc, keep_x, keep_logits);
    mnist_evaluate(r, d->eval, d->neval, &eval_loss, &eval_acc, NULL, NULL);
    int64_t num_step[2] = {(int64_t)r->run, (int64_t)step};
    double acc_losses[4] = {eval_acc, train_loss, eval_loss, r->opt.weight_decay};
    put_real(rows, ZOO_PARAMETERS, k, r->model.params.data);
    put_real(rows, ZOO_SEQUENCES, k, keep_x);
    put_real(rows, ZOO_LOGITS, k, keep_logits);
    put_f64(rows, ZOO_TASKS, k, &r->angle);   /* <f8, exact */
    put_i64(rows, ZOO_BOOKKEEPING, k, num_step);
    put_f64(rows, ZOO_LAST_FILE, k, acc_losses);
    free(keep_x);
    free(keep_logits);
}

/* ========================================================================================
 * The skeleton
 * ====================================================================================== */

static const TaskFamily families[2] = {
    [ZOO_KIND_FORMAL] = {formal_begin, formal_batch, formal_snapshot},
    [ZOO_KIND_MNIST] = {mnist_begin, mnist_batch_next, mnist_snapshot},
};

/* Run r's own stream: independent of which runs a process generates. */
static Rng run_rng(uint64_t seed, size_t run)
{
    Rng rng;
    rng_seed(&rng, seed * 0x9E3779B97F4A7C15ull + (uint64_t)run);
    return rng;
}

void zoo_run(const ZooSettings *s, const MnistData *data, size_t run, RunRows *rows, ZooProgress progress,
             void *progress_ctx, size_t runs_done, size_t runs_total)
{
    const TaskFamily *f = &families[s->kind];
    Run r;
    memset(&r, 0, sizeof r);
    r.s = s;
    r.data = data;
    r.run = run;
    r.rng = run_rng(s->seed, run);
    r.opt = (AdamW){0.01, 0.9, 0.999, 1e-8, 0};
    f->begin(&r);
    ZooShape z = r.model.shape;
    r.x = rr_malloc(s->batch * r.T * z.I * sizeof(real), "training batch");
    r.labels = rr_malloc(s->batch * r.T * sizeof(int32_t), "training labels");
    Tape t;
    tape_init(&t);
    int k = 0;
    for (size_t step = 0; step <= s->steps && k < ZOO_SNAPSHOTS; step++) {
        f->batch(&r);
        r.opt.lr = zoo_lr(s, step);
        zoo_lstm_train_step(&r.model, &t, &r.opt, r.x, r.labels, s->batch, r.T);
        if (progress && step % 100 == 0) progress(progress_ctx, runs_done, runs_total, step, s->steps + 1);
        if (step == s->snapshot[k]) f->snapshot(&r, step, rows, k++);
    }
    tape_free(&t);
    free(r.x);
    free(r.labels);
    free(r.order);
    free(r.batch_idx);
    free(r.batch_y);
    zoo_lstm_free(&r.model);
}
