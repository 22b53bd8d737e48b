/*
 * zoo.c — model zoos (SPEC.md §2): training runs of the zoo RNN on formal languages or tiled
 * rotated sequential MNIST, 9 snapshots per run, written in the layout of the officially
 * released zoos (SPEC.md §2.3) so that either can be read by the same code.
 *
 * Files grow one run at a time: a run's 9 rows are appended to each file only when the run is
 * complete, and each file's header is rewritten after its rows, so a reader (or --resume)
 * never sees part of a run. Creating directories needs POSIX mkdir.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h> /* ftruncate */

#include "rnnrep.h"

static const size_t paper_snapshots[ZOO_SNAPSHOTS] = {0, 100, 200, 500, 1000, 2000, 5000, 10000, 20000};

int zoo_settings_preset(ZooSettings *s, ZooKind kind, const char *preset, char *err)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->batch = 32;
    s->samples = 1000;
    s->stored = 100;
    s->eval_batches = 13;
    s->eval_batch = 1000;
    s->seed = 1;
    if (!strcmp(preset, "paper")) {
        s->runs = 1000;
        s->steps = 20000;
    } else if (!strcmp(preset, "small")) { /* about ten minutes with --jobs 2 on 2 cores */
        s->runs = kind == ZOO_KIND_FORMAL ? 48 : 24;
        s->steps = 4000;
    } else if (!strcmp(preset, "tiny")) {  /* well under a minute */
        s->runs = 4;
        s->steps = 200;
        s->eval_batches = 2;
    } else {
        return rr_error(err, RR_ERR_FORMAT, "unknown preset '%s' (paper, small, tiny)", preset);
    }
    snprintf(s->preset, sizeof s->preset, "%s", preset);
    zoo_scale_snapshots(s);
    return RR_OK;
}

void zoo_scale_snapshots(ZooSettings *s)
{
    for (int k = 0; k < ZOO_SNAPSHOTS; k++)
        s->snapshot[k] = (size_t)((double)paper_snapshots[k] * (double)s->steps / 20000.0 + 0.5);
}

int zoo_settings_check(const ZooSettings *s, char *err)
{
    if (s->runs == 0 || s->batch == 0 || s->stored == 0)
        return rr_error(err, RR_ERR_FORMAT, "runs, batch and stored must be positive");
    if (s->kind == ZOO_KIND_FORMAL && s->samples == 0) return rr_error(err, RR_ERR_FORMAT, "samples must be positive");
    if (s->kind == ZOO_KIND_MNIST && (s->eval_batches == 0 || s->eval_batch < s->stored))
        return rr_error(err, RR_ERR_FORMAT, "MNIST needs eval batches of at least %zu images", s->stored);
    for (int k = 1; k < ZOO_SNAPSHOTS; k++)
        if (s->snapshot[k] <= s->snapshot[k - 1])
            return rr_error(err, RR_ERR_FORMAT, "snapshot steps must increase (%zu then %zu); use more steps or --snapshots",
                            s->snapshot[k - 1], s->snapshot[k]);
    if (s->snapshot[ZOO_SNAPSHOTS - 1] != s->steps)
        return rr_error(err, RR_ERR_FORMAT, "the last snapshot (%zu) must be the last step (%zu)", s->snapshot[ZOO_SNAPSHOTS - 1], s->steps);
    return RR_OK;
}

/* ========================================================================================
 * The files of a zoo: name, dtype and the shape of one row (one snapshot).
 * ====================================================================================== */

enum { MAX_FILES = 7 };
typedef struct ZooFile {
    const char *name;
    NpyDtype dtype;
    int ndim;             /* of one row */
    size_t shape[3];
} ZooFile;

static size_t zoo_files(const ZooSettings *s, ZooFile *f)
{
    size_t P = zoo_num_params(s->kind == ZOO_KIND_FORMAL ? ZOO_FORMAL : ZOO_MNIST), n = 0, S = s->stored;
    if (s->kind == ZOO_KIND_FORMAL) {
        f[n++] = (ZooFile){"parameters.npy", NPY_F4, 1, {P}};
        f[n++] = (ZooFile){"sequences.npy", NPY_I2, 2, {S, LANG_LENGTH}};
        f[n++] = (ZooFile){"logits.npy", NPY_F2, 3, {S, LANG_LENGTH - 1, LANG_TOKENS}};
        f[n++] = (ZooFile){"tasks.npy", NPY_I8, 1, {4}};
        f[n++] = (ZooFile){"num_step_correct.npy", NPY_I8, 1, {3}};
        /* ours, beside the released layout: the strict metric that also checks letter order */
        f[n++] = (ZooFile){"num_step_correct_strict.npy", NPY_I8, 1, {3}};
    } else {
        f[n++] = (ZooFile){"parameters.npy", NPY_F4, 1, {P}};
        f[n++] = (ZooFile){"sequences.npy", NPY_F2, 3, {S, MNIST_STEPS, MNIST_TILE_SIZE}};
        f[n++] = (ZooFile){"logits.npy", NPY_F2, 3, {S, MNIST_STEPS, MNIST_CLASSES}};
        f[n++] = (ZooFile){"tasks.npy", NPY_F8, 1, {1}};
        f[n++] = (ZooFile){"num_step.npy", NPY_I8, 1, {2}};
        f[n++] = (ZooFile){"accuracy_losses.npy", NPY_F8, 1, {4}};
    }
    return n;
}

static size_t row_elems(const ZooFile *f)
{
    size_t n = 1;
    for (int i = 0; i < f->ndim; i++) n *= f->shape[i];
    return n;
}

static void path_join(char *buf, size_t len, const char *dir, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

/* One run's rows for every file, in the files' dtypes, filled snapshot by snapshot. */
typedef struct RunRows {
    size_t nfiles;
    ZooFile file[MAX_FILES];
    unsigned char *rows[MAX_FILES];   /* ZOO_SNAPSHOTS rows each */
} RunRows;

static void run_rows_init(RunRows *r, const ZooSettings *s)
{
    r->nfiles = zoo_files(s, r->file);
    for (size_t i = 0; i < r->nfiles; i++)
        r->rows[i] = rr_calloc(ZOO_SNAPSHOTS * row_elems(&r->file[i]), npy_dtype_size(r->file[i].dtype), "zoo rows");
}

static void run_rows_free(RunRows *r)
{
    for (size_t i = 0; i < r->nfiles; i++) free(r->rows[i]);
}

/* Where snapshot k's row of file i starts. */
static void *row_at(RunRows *r, size_t i, int k)
{
    return r->rows[i] + (size_t)k * row_elems(&r->file[i]) * npy_dtype_size(r->file[i].dtype);
}

static void put_i64(RunRows *r, size_t i, int k, const int64_t *v) { npy_from_i64(r->file[i].dtype, v, row_elems(&r->file[i]), row_at(r, i, k)); }
static void put_real(RunRows *r, size_t i, int k, const real *v) { npy_from_real(r->file[i].dtype, v, row_elems(&r->file[i]), row_at(r, i, k)); }

/* Run r's own stream: independent of which runs a process generates. */
static Rng run_rng(uint64_t seed, size_t run)
{
    Rng rng;
    rng_seed(&rng, seed * 0x9E3779B97F4A7C15ull + (uint64_t)run);
    return rng;
}

/* The official schedule sets the rate after each update, so update s uses lr(s - 1). */
static double zoo_lr(const ZooSettings *s, size_t step)
{
    const double at[3] = {(double)s->snapshot[0], (double)s->snapshot[ZOO_SNAPSHOTS - 2], (double)s->snapshot[ZOO_SNAPSHOTS - 1]};
    const double lr[3] = {0.01, 0.003, 0.0003};
    return schedule_piecewise(at, lr, 3, step == 0 ? 0.0 : (double)(step - 1));
}

/* ========================================================================================
 * Formal languages
 * ====================================================================================== */

/* Samples n sequences autoregressively from the RNN: BOS, then 41 tokens, each drawn from
 * softmax of the output. seqs (n, 42); logp (n, 41, 6) the log-softmax outputs, or NULL.
 * The state lives in state (4 n H) between steps, so the tape is emptied every step. */
static void formal_sample(const ZooLstm *m, Tape *t, Rng *rng, size_t n, int16_t *seqs, real *logp, real *state)
{
    size_t H = m->shape.H, V = LANG_TOKENS, shape[2] = {n, H};
    memset(state, 0, 4 * n * H * sizeof(real));
    Tensor hc[4]; /* h0, c0, h1, c1 over state */
    for (int i = 0; i < 4; i++) hc[i] = tensor_wrap(state + (size_t)i * n * H, NULL, 2, shape);
    t->record = 0;
    for (size_t i = 0; i < n; i++) seqs[i * LANG_LENGTH] = LANG_BOS;
    for (size_t s = 0; s + 1 < LANG_LENGTH; s++) {
        tape_reset(t);
        Tensor *x = tensor_new(t, 2, (size_t[]){n, V}, 0), *h[2], *c[2];  /* (n, 6) one-hot */
        for (size_t i = 0; i < n; i++) x->data[i * V + (size_t)seqs[i * LANG_LENGTH + s]] = 1;
        lstm_layer_step(t, &m->layer[0], x, &hc[0], &hc[1], &h[0], &c[0]);
        lstm_layer_step(t, &m->layer[1], h[0], &hc[2], &hc[3], &h[1], &c[1]);
        Tensor *lp = op_log_softmax(t, linear_forward(t, &m->head, h[1])); /* (n, 6) */
        const Tensor *next[4] = {h[0], c[0], h[1], c[1]};
        for (int i = 0; i < 4; i++) memcpy(hc[i].data, next[i]->data, n * H * sizeof(real));
        for (size_t i = 0; i < n; i++) {
            double p[LANG_TOKENS];
            for (size_t k = 0; k < V; k++) p[k] = exp((double)lp->data[i * V + k]);
            seqs[i * LANG_LENGTH + s + 1] = (int16_t)rng_categorical(rng, p, V);
            if (logp) memcpy(logp + (i * (LANG_LENGTH - 1) + s) * V, lp->data + i * V, V * sizeof(real));
        }
    }
    t->record = 1;
}

static void formal_run(const ZooSettings *s, size_t run, RunRows *rows, ZooProgress progress, void *pctx,
                       size_t runs_done, size_t runs_total)
{
    Rng rng = run_rng(s->seed, run);
    int task[4] = {0, 0, 0, 0};
    for (int k = 1; k < 4; k++) task[k] = (int)rng_range(&rng, -3, 2);
    ZooLstm m;
    zoo_lstm_init(&m, ZOO_FORMAL, &rng);
    Tape t;
    tape_init(&t);
    AdamW opt = {0.01, 0.9, 0.999, 1e-8, 1e-4};
    size_t B = s->batch, T = LANG_LENGTH - 1, V = LANG_TOKENS, S = s->stored;
    real *x = rr_malloc(B * T * V * sizeof(real), "formal batch");
    int32_t *labels = rr_malloc(B * T * sizeof(int32_t), "formal labels");
    int16_t *seqs = rr_malloc((s->samples > S ? s->samples : S) * LANG_LENGTH * sizeof(int16_t), "samples");
    real *logp = rr_malloc(S * T * V * sizeof(real), "stored outputs");
    real *state = rr_malloc(4 * (s->samples > S ? s->samples : S) * m.shape.H * sizeof(real), "sampling state");
    int k = 0;
    for (size_t step = 0; step <= s->steps; step++) {
        int16_t str[LANG_LENGTH];
        memset(x, 0, B * T * V * sizeof(real));
        for (size_t b = 0; b < B; b++) { /* teacher forcing: inputs tokens 0..40, targets 1..41 */
            lang_sample_string(&rng, task, str);
            for (size_t i = 0; i < T; i++) {
                x[(b * T + i) * V + (size_t)str[i]] = 1;
                labels[b * T + i] = str[i + 1];
            }
        }
        opt.lr = zoo_lr(s, step);
        zoo_lstm_train_step(&m, &t, &opt, x, labels, B, T);
        if (progress && step % 100 == 0) progress(pctx, runs_done, runs_total, step, s->steps + 1);
        if (step != s->snapshot[k]) continue;
        /* Snapshot k: accuracy from s->samples rollouts, then a second rollout to store. */
        int64_t correct = 0, strict = 0;
        formal_sample(&m, &t, &rng, s->samples, seqs, NULL, state);
        for (size_t i = 0; i < s->samples; i++) {
            correct += lang_accepts(task, seqs + i * LANG_LENGTH, LANG_LENGTH);
            strict += lang_accepts_strict(task, seqs + i * LANG_LENGTH, LANG_LENGTH);
        }
        formal_sample(&m, &t, &rng, S, seqs, logp, state);
        int64_t task64[4] = {task[0], task[1], task[2], task[3]};
        int64_t nsc[3] = {(int64_t)run, (int64_t)step, correct}, nss[3] = {(int64_t)run, (int64_t)step, strict};
        int64_t *seq64 = rr_malloc(S * LANG_LENGTH * sizeof(int64_t), "sequences");
        for (size_t i = 0; i < S * LANG_LENGTH; i++) seq64[i] = seqs[i];
        put_real(rows, 0, k, m.params.data);
        put_i64(rows, 1, k, seq64);
        put_real(rows, 2, k, logp);
        put_i64(rows, 3, k, task64);
        put_i64(rows, 4, k, nsc);
        put_i64(rows, 5, k, nss);
        free(seq64);
        if (++k == ZOO_SNAPSHOTS) break;
    }
    free(x);
    free(labels);
    free(seqs);
    free(logp);
    free(state);
    tape_free(&t);
    zoo_lstm_free(&m);
}

/* ========================================================================================
 * Tiled rotated sequential MNIST
 * ====================================================================================== */

typedef struct MnistData {
    IdxArray images, labels;
    size_t *train, *eval;     /* indices of the hash split */
    size_t ntrain, neval;
} MnistData;

static int mnist_load(const ZooSettings *s, MnistData *d, char *err)
{
    char img[600], lab[600], dir[512];
    int rc = mnist_find_dir(s->mnist_dir, dir, sizeof dir, err);
    if (rc) return rc;
    /* the vendored files are named like the official ones without the "train-" prefix */
    const char *names[2][2] = {{"train-images-idx3-ubyte", "train-labels-idx1-ubyte"}, {"images-idx3-ubyte", "labels-idx1-ubyte"}};
    int which = 0;
    path_join(img, sizeof img, dir, names[0][0]);
    FILE *probe = fopen(img, "rb");
    if (probe) fclose(probe);
    else which = 1;
    path_join(img, sizeof img, dir, names[which][0]);
    path_join(lab, sizeof lab, dir, names[which][1]);
    rc = idx_read_mnist(img, lab, &d->images, &d->labels, err);
    if (rc) return rc;
    if (d->images.shape[1] != MNIST_SIDE || d->images.shape[2] != MNIST_SIDE) {
        idx_free(&d->images);
        idx_free(&d->labels);
        return rr_error(err, RR_ERR_FORMAT, "%s: images are %zux%zu, not 28x28", img, d->images.shape[1], d->images.shape[2]);
    }
    size_t n = d->images.shape[0];
    d->train = rr_malloc(n * sizeof(size_t), "train indices");
    d->eval = rr_malloc(n * sizeof(size_t), "eval indices");
    d->ntrain = mnist_split_indices(n, 1, d->train);
    d->neval = mnist_split_indices(n, 0, d->eval);
    return RR_OK;
}

static void mnist_free_data(MnistData *d)
{
    idx_free(&d->images);
    idx_free(&d->labels);
    free(d->train);
    free(d->eval);
}

/* Tile sequences of images idx[0..n) rotated by angle into x (n, 50, 16), labels repeated
 * over the 50 steps into y (n * 50). */
static void mnist_batch(const MnistData *d, const size_t *idx, size_t n, double angle, real *x, int32_t *y)
{
    for (size_t b = 0; b < n; b++) {
        mnist_sequence(d->images.data + idx[b] * MNIST_PIXELS, angle, x + b * MNIST_STEPS * MNIST_TILE_SIZE);
        if (y)
            for (size_t i = 0; i < MNIST_STEPS; i++) y[b * MNIST_STEPS + i] = d->labels.data[idx[b]];
    }
}

/* The official evaluate_model: up to eval_batches shuffled batches of eval_batch images;
 * loss = mean over batches of the mean CE over all 50 steps; accuracy from the last step.
 * keep (optional): the first `stored` images' sequences and raw logits. */
static void mnist_evaluate(const ZooSettings *s, const ZooLstm *m, Tape *t, Rng *rng, const MnistData *d,
                           const size_t *set, size_t nset, double angle, double *loss, double *accuracy,
                           real *keep_x, real *keep_logits)
{
    size_t *order = rr_malloc(nset * sizeof *order, "evaluation order"), *idx = rr_malloc(s->eval_batch * sizeof *idx, "batch");
    rng_permutation(rng, nset, order);
    double loss_sum = 0;
    size_t batches = 0, correct = 0, total = 0;
    for (size_t start = 0; start < nset && batches < s->eval_batches; start += s->eval_batch, batches++) {
        size_t n = nset - start < s->eval_batch ? nset - start : s->eval_batch;
        for (size_t b = 0; b < n; b++) idx[b] = set[order[start + b]];
        tape_reset(t);
        t->record = 0;
        Tensor *x = tensor_new(t, 3, (size_t[]){n, MNIST_STEPS, MNIST_TILE_SIZE}, 0);
        int32_t *y = rr_malloc(n * MNIST_STEPS * sizeof *y, "labels");
        mnist_batch(d, idx, n, angle, x->data, y);
        Tensor *logits = zoo_lstm_forward(t, m, x);                         /* (n, 50, 10) */
        loss_sum += op_cross_entropy(t, logits, y)->data[0];
        for (size_t b = 0; b < n; b++) {
            const real *z = logits->data + (b * MNIST_STEPS + MNIST_STEPS - 1) * MNIST_CLASSES;
            size_t best = 0;
            for (size_t k = 1; k < MNIST_CLASSES; k++) best = z[k] > z[best] ? k : best;
            correct += best == (size_t)y[b * MNIST_STEPS];
        }
        total += n;
        if (keep_x && batches == 0) {
            size_t S = s->stored < n ? s->stored : n;
            memcpy(keep_x, x->data, S * MNIST_STEPS * MNIST_TILE_SIZE * sizeof(real));
            memcpy(keep_logits, logits->data, S * MNIST_STEPS * MNIST_CLASSES * sizeof(real));
        }
        free(y);
        t->record = 1;
    }
    *loss = loss_sum / (double)batches;
    *accuracy = (double)correct / (double)total;
    free(order);
    free(idx);
}

static void mnist_run(const ZooSettings *s, const MnistData *d, size_t run, RunRows *rows, ZooProgress progress,
                      void *pctx, size_t runs_done, size_t runs_total)
{
    static const double decays[4] = {0.0, 0.001, 0.01, 0.1};
    Rng rng = run_rng(s->seed, run);
    double angle = rng_uniform(&rng) * 360.0, wd = decays[rng_below(&rng, 4)];
    ZooLstm m;
    zoo_lstm_init(&m, ZOO_MNIST, &rng);
    Tape t;
    tape_init(&t);
    AdamW opt = {0.01, 0.9, 0.999, 1e-8, wd};
    size_t B = s->batch, T = MNIST_STEPS, S = s->stored, pos = d->ntrain;
    size_t *order = rr_malloc(d->ntrain * sizeof *order, "epoch order"), *idx = rr_malloc(B * sizeof *idx, "batch");
    real *x = rr_malloc(B * T * MNIST_TILE_SIZE * sizeof(real), "mnist batch");
    int32_t *y = rr_malloc(B * T * sizeof(int32_t), "mnist labels");
    real *keep_x = rr_calloc(S * T * MNIST_TILE_SIZE, sizeof(real), "stored images");
    real *keep_logits = rr_calloc(S * T * MNIST_CLASSES, sizeof(real), "stored logits");
    int k = 0;
    for (size_t step = 0; step <= s->steps; step++) {
        if (pos + B > d->ntrain) { /* a new epoch: a fresh shuffle; the incomplete tail is skipped */
            rng_permutation(&rng, d->ntrain, order);
            pos = 0;
        }
        for (size_t b = 0; b < B; b++) idx[b] = d->train[order[pos++]];
        mnist_batch(d, idx, B, angle, x, y);
        opt.lr = zoo_lr(s, step);
        zoo_lstm_train_step(&m, &t, &opt, x, y, B, T);
        if (progress && step % 100 == 0) progress(pctx, runs_done, runs_total, step, s->steps + 1);
        if (step != s->snapshot[k]) continue;
        double train_loss, train_acc, eval_loss, eval_acc;
        mnist_evaluate(s, &m, &t, &rng, d, d->train, d->ntrain, angle, &train_loss, &train_acc, keep_x, keep_logits);
        mnist_evaluate(s, &m, &t, &rng, d, d->eval, d->neval, angle, &eval_loss, &eval_acc, NULL, NULL);
        int64_t num_step[2] = {(int64_t)run, (int64_t)step};
        double acc_losses[4] = {eval_acc, train_loss, eval_loss, wd};
        put_real(rows, 0, k, m.params.data);
        put_real(rows, 1, k, keep_x);
        put_real(rows, 2, k, keep_logits);
        memcpy(row_at(rows, 3, k), &angle, sizeof angle); /* <f8, exact */
        put_i64(rows, 4, k, num_step);
        memcpy(row_at(rows, 5, k), acc_losses, sizeof acc_losses);
        if (++k == ZOO_SNAPSHOTS) break;
    }
    free(order);
    free(idx);
    free(x);
    free(y);
    free(keep_x);
    free(keep_logits);
    tape_free(&t);
    zoo_lstm_free(&m);
}

/* ========================================================================================
 * Directories: args.json, growing the files, resume, merge
 * ====================================================================================== */

static int write_args(const ZooSettings *s, const char *path, char *err)
{
    JsonWriter w;
    int rc = json_begin(&w, path, err);
    if (rc) return rc;
    int64_t snaps[ZOO_SNAPSHOTS];
    for (int k = 0; k < ZOO_SNAPSHOTS; k++) snaps[k] = (int64_t)s->snapshot[k];
    json_string(&w, "generator", "rnnrep " RR_VERSION);
    json_string(&w, "kind", s->kind == ZOO_KIND_FORMAL ? "formal_languages" : "sequential_mnist");
    json_string(&w, "preset", s->preset);
    json_int(&w, "seed", (int64_t)s->seed);
    json_int(&w, "num_training_runs", (int64_t)s->runs);
    json_int(&w, "steps", (int64_t)s->steps);
    json_ints(&w, "snapshot_steps", snaps, ZOO_SNAPSHOTS);
    json_int(&w, "batch_size", (int64_t)s->batch);
    json_int(&w, "rnn_hidden_size", 32);
    json_int(&w, "rnn_num_layers", 2);
    json_doubles(&w, "lr_values", (const double[]){0.01, 0.003, 0.0003}, 3);
    json_int(&w, "stored_per_snapshot", (int64_t)s->stored);
    if (s->kind == ZOO_KIND_FORMAL) {
        json_int(&w, "accuracy_samples", (int64_t)s->samples);
        json_double(&w, "weight_decay", 1e-4);
        json_int(&w, "sequence_length", LANG_LENGTH);
        json_int(&w, "max_n", LANG_MAX_N + 1);
    } else {
        json_int(&w, "tile_size", MNIST_TILE);
        json_int(&w, "eval_batches", (int64_t)s->eval_batches);
        json_int(&w, "eval_batch_size", (int64_t)s->eval_batch);
        char dir[512]; /* the directory used (mnist_load found it before) */
        json_string(&w, "mnist_dir", mnist_find_dir(s->mnist_dir, dir, sizeof dir, NULL) ? s->mnist_dir : dir);
    }
    return json_end(&w, err);
}

/* Whole file into a malloc'd buffer; NULL if unreadable. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = rr_malloc(cap, "file contents");
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
        if (!buf) rr_fatal("out of memory reading %s", path);
    }
    fclose(f);
    *len = n;
    return buf;
}

static int same_file_contents(const char *a, const char *b)
{
    size_t la, lb;
    char *x = slurp(a, &la), *y = slurp(b, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

/* Opens (or creates) every file of the zoo for appending; returns the number of complete
 * runs all files hold, cutting files that hold more back to that number. */
static int open_zoo_files(const ZooSettings *s, const char *dir, int resume, NpyFile *files, size_t *runs_held, char *err)
{
    ZooFile f[MAX_FILES];
    size_t n = zoo_files(s, f), held = SIZE_MAX;
    char path[1024];
    for (size_t i = 0; i < n; i++) {
        path_join(path, sizeof path, dir, f[i].name);
        FILE *probe = fopen(path, "rb");
        int rc;
        size_t shape[4] = {0, f[i].shape[0], f[i].shape[1], f[i].shape[2]};
        if (probe) {
            fclose(probe);
            if (!resume) {
                for (size_t j = 0; j < i; j++) npy_close(&files[j], NULL);
                return rr_error(err, RR_ERR_FORMAT, "%s already exists: use --resume to continue that zoo, or another --out", path);
            }
            rc = npy_open_append(&files[i], path, err);
            if (!rc) {
                shape[0] = NPY_ANY;
                rc = npy_expect(&files[i].array, path, f[i].dtype, f[i].ndim + 1, shape, err);
                if (rc) npy_close(&files[i], NULL);
            }
        } else {
            rc = npy_create(&files[i], path, f[i].dtype, f[i].ndim + 1, shape, err);
        }
        if (rc) {
            for (size_t j = 0; j < i; j++) npy_close(&files[j], NULL);
            return rc;
        }
        size_t runs = files[i].array.shape[0] / ZOO_SNAPSHOTS;
        held = runs < held ? runs : held;
    }
    for (size_t i = 0; i < n; i++) { /* an interrupted append may have completed some files only */
        if (files[i].array.shape[0] != held * ZOO_SNAPSHOTS) {
            char dummy = 0;
            files[i].array.shape[0] = held * ZOO_SNAPSHOTS;
            int rc = npy_append(&files[i], &dummy, 0, err);
            if (rc) return rc;
        }
        /* and may have left bytes of a run behind the last complete one */
        long end = (long)(files[i].header_bytes + held * ZOO_SNAPSHOTS * files[i].row_bytes);
        if (fflush(files[i].fp) || ftruncate(fileno(files[i].fp), end))
            return rr_error(err, RR_ERR_IO, "%s: cannot cut back to %zu complete runs: %s", files[i].path, held, strerror(errno));
    }
    *runs_held = held;
    return RR_OK;
}

/* Creates dir and its args.json, or (resume) checks that the args.json there matches. */
static int prepare_dir(const ZooSettings *s, const char *dir, int resume, char *err)
{
    int rc = rr_make_dir(dir, err);
    if (rc) return rc;
    char args[1024], fresh[1024];
    path_join(args, sizeof args, dir, "args.json");
    path_join(fresh, sizeof fresh, dir, "args.json.new");
    FILE *probe = fopen(args, "rb");
    if (probe) {
        fclose(probe);
        if (!resume) return rr_error(err, RR_ERR_FORMAT, "%s already exists: use --resume to continue that zoo, or another --out", args);
        if ((rc = write_args(s, fresh, err))) return rc;
        int same = same_file_contents(args, fresh);
        remove(fresh);
        if (!same) return rr_error(err, RR_ERR_FORMAT, "%s: the zoo there was made with other settings; resume with the same ones", args);
    } else if ((rc = write_args(s, args, err))) {
        return rc;
    }
    return RR_OK;
}

int zoo_generate(const ZooSettings *s, const char *dir, size_t first, size_t last, int resume,
                 ZooProgress progress, void *progress_ctx, char *err)
{
    int rc = zoo_settings_check(s, err);
    if (rc) return rc;
    if (first >= last || last > s->runs)
        return rr_error(err, RR_ERR_FORMAT, "slice %zu:%zu is empty or outside the %zu runs", first, last, s->runs);
    MnistData data; /* first: a zoo that cannot start leaves no directory behind */
    memset(&data, 0, sizeof data);
    if (s->kind == ZOO_KIND_MNIST && (rc = mnist_load(s, &data, err))) return rc;
    rc = prepare_dir(s, dir, resume, err);
    NpyFile files[MAX_FILES];
    size_t held = 0;
    if (!rc) rc = open_zoo_files(s, dir, resume, files, &held, err);
    if (rc) {
        if (s->kind == ZOO_KIND_MNIST) mnist_free_data(&data);
        return rc;
    }
    if (held > last - first) {
        rc = rr_error(err, RR_ERR_FORMAT, "%s holds %zu runs, more than the %zu of slice %zu:%zu", dir, held, last - first, first, last);
        held = last - first;
    }
    RunRows rows;
    run_rows_init(&rows, s);
    for (size_t run = first + held; run < last && !rc; run++) {
        if (s->kind == ZOO_KIND_FORMAL) formal_run(s, run, &rows, progress, progress_ctx, run - first, last - first);
        else mnist_run(s, &data, run, &rows, progress, progress_ctx, run - first, last - first);
        for (size_t i = 0; i < rows.nfiles && !rc; i++) rc = npy_append(&files[i], rows.rows[i], ZOO_SNAPSHOTS, err);
        if (progress) progress(progress_ctx, run + 1 - first, last - first, 0, 0);
    }
    run_rows_free(&rows);
    for (size_t i = 0; i < rows.nfiles; i++) {
        char cerr[RR_ERRLEN];
        int crc = npy_close(&files[i], cerr);
        if (crc && !rc) rc = rr_error(err, crc, "%s", cerr);
    }
    if (s->kind == ZOO_KIND_MNIST) mnist_free_data(&data);
    return rc;
}

/* The kind of the zoo in dir, from its bookkeeping file. */
static int detect_kind(const char *dir, ZooKind *kind, char *err)
{
    char path[1024];
    path_join(path, sizeof path, dir, "num_step_correct.npy");
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        *kind = ZOO_KIND_FORMAL;
        return RR_OK;
    }
    path_join(path, sizeof path, dir, "num_step.npy");
    if ((f = fopen(path, "rb"))) {
        fclose(f);
        *kind = ZOO_KIND_MNIST;
        return RR_OK;
    }
    return rr_error(err, RR_ERR_OPEN, "%s: not a zoo (neither num_step_correct.npy nor num_step.npy is there)", dir);
}

int zoo_merge(const char *out, const char *const *parts, size_t n, char *err)
{
    if (n == 0) return rr_error(err, RR_ERR_FORMAT, "zoo merge: no input directories");
    ZooKind kind = ZOO_KIND_FORMAL;
    int rc = detect_kind(parts[0], &kind, err);
    if (rc) return rc;
    char path[1024], other[1024];
    path_join(path, sizeof path, parts[0], "args.json");
    for (size_t p = 1; p < n; p++) {
        path_join(other, sizeof other, parts[p], "args.json");
        if (!same_file_contents(path, other))
            return rr_error(err, RR_ERR_FORMAT, "%s and %s differ: slices of one zoo share their settings", path, other);
    }
    if ((rc = rr_make_dir(out, err))) return rc;
    path_join(other, sizeof other, out, "args.json");
    FILE *probe = fopen(other, "rb");
    if (probe) {
        fclose(probe);
        return rr_error(err, RR_ERR_FORMAT, "%s already exists: merge into a new directory", other);
    }
    /* The settings only decide the files' names and row shapes: take them from parts[0]. */
    ZooSettings s;
    zoo_settings_preset(&s, kind, "tiny", NULL);
    ZooFile f[MAX_FILES];
    size_t nf = zoo_files(&s, f);
    int64_t prev_run = -1;
    size_t merged_rows = 0;
    for (size_t i = 0; i < nf && !rc; i++) {
        NpyFile dst;
        char dpath[1024];
        path_join(dpath, sizeof dpath, out, f[i].name);
        for (size_t p = 0; p < n && !rc; p++) {
            NpyFile src;
            path_join(path, sizeof path, parts[p], f[i].name);
            if ((rc = npy_open(&src, path, err))) break;
            if (p == 0) rc = npy_create(&dst, dpath, src.array.dtype, src.array.ndim, src.array.shape, err);
            else if (src.array.dtype != dst.array.dtype || src.array.ndim != dst.array.ndim ||
                     memcmp(src.array.shape + 1, dst.array.shape + 1, (size_t)(src.array.ndim - 1) * sizeof(size_t)))
                rc = rr_error(err, RR_ERR_FORMAT, "%s: row shape or dtype differs from %s", path, parts[0]);
            size_t rows = src.array.shape[0], chunk = 64;
            unsigned char *buf = rr_malloc(chunk * (src.row_bytes ? src.row_bytes : 1), "merge buffer");
            for (size_t r = 0; r < rows && !rc; r += chunk) {
                size_t m = rows - r < chunk ? rows - r : chunk;
                rc = npy_read_rows(&src, r, m, buf, err);
                /* Blocks of 9 rows share a run number, and each block's is one more than the
                 * last: slices must come in order and must not overlap. */
                if (!rc && (!strcmp(f[i].name, "num_step_correct.npy") || !strcmp(f[i].name, "num_step.npy")))
                    for (size_t j = 0; j < m && !rc; j++, merged_rows++) {
                        int64_t run;
                        npy_to_i64(NPY_I8, buf + j * src.row_bytes, 1, &run);
                        int64_t want = merged_rows % ZOO_SNAPSHOTS ? prev_run : prev_run + 1;
                        if (merged_rows > 0 && run != want)
                            rc = rr_error(err, RR_ERR_FORMAT, "%s: run %lld where run %lld was due: slices out of order, overlapping or incomplete",
                                          path, (long long)run, (long long)want);
                        prev_run = run;
                    }
                if (!rc) rc = npy_append(&dst, buf, m, err);
            }
            free(buf);
            npy_close(&src, NULL);
        }
        char cerr[RR_ERRLEN];
        if (npy_close(&dst, cerr) && !rc) rc = rr_error(err, RR_ERR_IO, "%s", cerr);
    }
    if (rc) return rc;
    path_join(path, sizeof path, parts[0], "args.json");
    size_t len;
    char *text = slurp(path, &len);
    if (!text) return rr_error(err, RR_ERR_OPEN, "%s: cannot read", path);
    FILE *o = fopen(other, "wb");
    if (!o || fwrite(text, 1, len, o) != len || fclose(o)) {
        free(text);
        return rr_error(err, RR_ERR_IO, "%s: cannot write", other);
    }
    free(text);
    return RR_OK;
}

/* ========================================================================================
 * zoo info
 * ====================================================================================== */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Opens dir/name, checks its dtype, rank and (when n != NULL and *n set) its first dim. */
static int open_checked(const char *dir, const char *name, NpyDtype dtype, int ndim, size_t *n, NpyFile *f, char *err)
{
    char path[1024];
    path_join(path, sizeof path, dir, name);
    int rc = npy_open(f, path, err);
    if (rc) return rc;
    size_t shape[NPY_MAXDIM];
    for (int i = 0; i < NPY_MAXDIM; i++) shape[i] = NPY_ANY;
    if (*n != SIZE_MAX) shape[0] = *n;
    if ((rc = npy_expect(&f->array, path, dtype, ndim, shape, err))) {
        npy_close(f, NULL);
        return rc;
    }
    *n = f->array.shape[0];
    return RR_OK;
}

int zoo_info(const char *dir, FILE *out, char *err)
{
    ZooKind kind = ZOO_KIND_FORMAL;
    int rc = detect_kind(dir, &kind, err);
    if (rc) return rc;
    int formal = kind == ZOO_KIND_FORMAL;
    size_t N = SIZE_MAX;
    NpyFile book, params, seqs, logits, tasks, acc;
    /* the bookkeeping file first: it fixes N, which every other file must match */
    if ((rc = open_checked(dir, formal ? "num_step_correct.npy" : "num_step.npy", NPY_I8, 2, &N, &book, err))) return rc;
    if ((rc = open_checked(dir, "parameters.npy", NPY_F4, 2, &N, &params, err))) goto close_book;
    if ((rc = open_checked(dir, "sequences.npy", formal ? NPY_I2 : NPY_F2, formal ? 3 : 4, &N, &seqs, err))) goto close_params;
    if ((rc = open_checked(dir, "logits.npy", NPY_F2, 4, &N, &logits, err))) goto close_seqs;
    if ((rc = open_checked(dir, "tasks.npy", formal ? NPY_I8 : NPY_F8, 2, &N, &tasks, err))) goto close_logits;
    if (!formal && (rc = open_checked(dir, "accuracy_losses.npy", NPY_F8, 2, &N, &acc, err))) goto close_tasks;

    size_t P = params.array.shape[1], want_P = zoo_num_params(formal ? ZOO_FORMAL : ZOO_MNIST);
    if (P != want_P) {
        rc = rr_error(err, RR_ERR_FORMAT, "%s/parameters.npy: %zu parameters per row, a %s zoo RNN has %zu", dir, P,
                      formal ? "formal-language" : "MNIST", want_P);
        goto close_all;
    }
    size_t bw = book.array.shape[1], tw = tasks.array.shape[1];
    int64_t *bk = rr_malloc(N * bw * sizeof(int64_t), "bookkeeping");
    unsigned char *raw = rr_malloc(N * (book.row_bytes > tasks.row_bytes ? book.row_bytes : tasks.row_bytes) + 1, "rows");
    double *task = rr_malloc(N * tw * sizeof(double), "tasks"), *accuracy = rr_malloc(N * sizeof(double), "accuracy");
    if ((rc = npy_read_rows(&book, 0, N, raw, err))) goto free_all;
    npy_to_i64(NPY_I8, raw, N * bw, bk);
    if ((rc = npy_read_rows(&tasks, 0, N, raw, err))) goto free_all;
    if (formal) {
        int64_t *ti = rr_malloc(N * tw * sizeof(int64_t) + 1, "tasks");
        npy_to_i64(NPY_I8, raw, N * tw, ti);
        for (size_t i = 0; i < N * tw; i++) task[i] = (double)ti[i];
        free(ti);
    } else {
        memcpy(task, raw, N * tw * sizeof(double));
    }
    if (formal) {
        size_t samples = 1000; /* the released zoos count correct sequences out of 1000 */
        for (size_t i = 0; i < N; i++) accuracy[i] = (double)bk[i * bw + 2] / (double)samples;
    } else {
        double *al = rr_malloc(N * 4 * sizeof(double) + 1, "accuracy_losses");
        if ((rc = npy_read_rows(&acc, 0, N, al, err))) {
            free(al);
            goto free_all;
        }
        for (size_t i = 0; i < N; i++) accuracy[i] = al[i * 4];
        free(al);
    }
    /* runs, distinct steps, distinct tasks */
    size_t runs = 0, nsteps = 0, ntasks = 0;
    int64_t steps[64];
    for (size_t i = 0; i < N; i++) {
        if (i == 0 || bk[i * bw] != bk[(i - 1) * bw]) runs++;
        size_t k = 0;
        while (k < nsteps && steps[k] != bk[i * bw + 1]) k++;
        if (k == nsteps && nsteps < 64) steps[nsteps++] = bk[i * bw + 1];
        size_t j = 0;
        while (j < i && memcmp(task + j * tw, task + i * tw, tw * sizeof(double))) j++;
        ntasks += j == i;
    }
    fprintf(out, "zoo        %s\n", dir);
    fprintf(out, "kind       %s\n", formal ? "formal languages" : "tiled sequential MNIST");
    fprintf(out, "snapshots  %zu (%zu runs, %zu snapshot steps)\n", N, runs, nsteps);
    fprintf(out, "tasks      %zu distinct%s\n", ntasks, formal ? " (of 216 languages)" : " (rotation angles)");
    fprintf(out, "files      parameters (%zu, %zu) <f4, sequences %s, logits <f2\n", N, P, formal ? "<i2" : "<f2");
    fprintf(out, "\n%s per snapshot step:\n", formal ? "official accuracy (correct of 1000 samples)" : "eval accuracy");
    fprintf(out, "%8s %6s %8s %8s %8s %8s %8s %8s\n", "step", "n", "min", "q25", "median", "q75", "max", "mean");
    double *v = rr_malloc(N * sizeof(double) + 1, "accuracies");
    for (size_t k = 0; k < nsteps; k++) {
        size_t m = 0;
        double mean = 0;
        for (size_t i = 0; i < N; i++)
            if (bk[i * bw + 1] == steps[k]) {
                v[m++] = accuracy[i];
                mean += accuracy[i];
            }
        qsort(v, m, sizeof *v, cmp_double);
        fprintf(out, "%8lld %6zu %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f\n", (long long)steps[k], m, v[0], v[m / 4],
                m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]), v[(3 * m) / 4 < m ? (3 * m) / 4 : m - 1], v[m - 1], mean / (double)m);
    }
    free(v);
free_all:
    free(bk);
    free(raw);
    free(task);
    free(accuracy);
close_all:
    if (!formal) npy_close(&acc, NULL);
close_tasks:
    npy_close(&tasks, NULL);
close_logits:
    npy_close(&logits, NULL);
close_seqs:
    npy_close(&seqs, NULL);
close_params:
    npy_close(&params, NULL);
close_book:
    npy_close(&book, NULL);
    return rc;
}
