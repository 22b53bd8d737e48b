/*
 * train.c — emulation training over a zoo (SPEC.md §2.4, §5, §9): `rnnrep train`.
 *
 *   splits        by task, exactly as the official code (TaskSplits, zoo/splits.c)
 *   training      epochs over the train split's snapshots, shuffled each epoch and drawn
 *                 without replacement (the last batch of an epoch smaller); each visit one of
 *                 the snapshot's stored sequences, uniformly; one AdamW group, clipping per
 *                 network, permutation augmentation for the encoders that are not invariant
 *   evaluation    after step 0, every eval_every steps and after the last: validation and OOD
 *                 emulation loss over every snapshot of the split, each with one stored
 *                 sequence fixed for the whole run (augmented encoders: a fixed permutation
 *                 too), the exact mean over snapshots; cloned performance on clone_snapshots
 *                 snapshots per split (linspace(0, n - 1, k) truncated)
 *   checkpoints   best.safetensors (lowest validation loss; step 0 counts) and
 *                 last.safetensors (with the AdamW moments), official state_dict names
 *                 prefixed encoder. / emulator.
 *
 * Resuming. Every random draw of step s (its epoch's order, its sequences, its permutation,
 * dropout) comes from streams seeded by (seed, s) or (seed, epoch), and evaluation draws
 * from streams seeded by the seed alone, so a checkpoint needs no generator state: the
 * parameters, the AdamW moments and step counts, the step and the best loss so far. The
 * tables are cut back to the checkpoint's step on resume, and rewritten whole at each
 * evaluation: a run killed at any moment and resumed ends with the same bytes.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "zoo/zoo_internal.h"

/* ========================================================================================
 * Settings
 * ====================================================================================== */

int train_settings_preset(TrainSettings *s, const char *preset, const char *encoder, char *err)
{
    memset(s, 0, sizeof *s);
    snprintf(s->encoder, sizeof s->encoder, "%s", encoder);
    snprintf(s->preset, sizeof s->preset, "%s", preset);
    /* the official recipe */
    s->steps = 100000;
    s->batch = 64;
    s->eval_every = 1000;
    s->lr = 1e-4;
    s->weight_decay = 0.01;
    s->clip = 0.1;
    s->seed = 1;
    s->loss = LOSS_TV;
    s->hidden = 128;
    s->d_model = 128;
    s->layers = 6;
    s->channels = 48;
    s->core = 256;
    s->width = 256;
    s->clone_snapshots = 20;
    s->clone_samples = 64;
    s->clone_images = 1000;
    if (!strcmp(preset, "paper")) return RR_OK;
    if (!strcmp(preset, "small")) { /* one encoder on a small zoo in minutes on 2 cores */
        s->steps = 2000;
        s->eval_every = 100;
        s->width = 64;
        s->core = 64;
        s->hidden = 64;
        s->d_model = 32;
        s->layers = 2;
        s->channels = 16;
        return RR_OK;
    }
    if (!strcmp(preset, "tiny")) { /* seconds: for tests */
        s->steps = 12;
        s->batch = 8;
        s->eval_every = 6;
        s->width = 16;
        s->core = 16;
        s->hidden = 16;
        s->d_model = 16;
        s->layers = 1;
        s->channels = 4;
        s->clone_snapshots = 3;
        s->clone_samples = 8;
        s->clone_images = 40;
        return RR_OK;
    }
    return rr_error(err, RR_ERR_FORMAT, "unknown preset '%s' (paper, small, tiny)", preset);
}

int train_settings_configs(const TrainSettings *s, ZooShape zoo, EncoderConfig *enc, EmulatorConfig *em, char *err)
{
    int rc = encoder_preset(s->encoder, zoo, enc, err);
    if (rc) return rc;
    if (!s->batch || !s->eval_every || !s->hidden || !s->d_model || !s->layers || !s->channels || !s->core || !s->width)
        return rr_error(err, RR_ERR_FORMAT, "batch, eval_every and the widths must be positive");
    if (s->d_model % enc->heads) return rr_error(err, RR_ERR_FORMAT, "d_model %zu must split into %zu heads", s->d_model, enc->heads);
    enc->hidden = s->hidden;
    if (enc->kind == ENC_STATS && s->stats_configured) {
        enc->hidden = 768;
        enc->hidden_layers = 3;
    }
    enc->d_model = s->d_model;
    enc->ffn = 4 * s->d_model;
    enc->layers = s->layers;
    enc->dropout = (real)s->dropout;
    enc->channels = s->channels;
    enc->core = s->core;
    if (s->M) enc->M = s->M;
    if (s->L) enc->L = s->L;
    *em = emulator_config_paper(zoo);
    em->width = s->width;
    em->embed = enc->embed;
    return RR_OK;
}

/* Every setting, for config.json and the checkpoints' metadata: one table, both ways. */
typedef enum FieldKind { F_TEXT, F_SIZE, F_U64, F_REAL, F_FLAG, F_LOSS } FieldKind;
typedef struct Field { const char *key; FieldKind kind; size_t offset, size; } Field;
#define FIELD(key, kind, member) {key, kind, offsetof(TrainSettings, member), sizeof(((TrainSettings *)0)->member)}
static const Field fields[] = {
    FIELD("encoder", F_TEXT, encoder),       FIELD("preset", F_TEXT, preset),
    FIELD("steps", F_SIZE, steps),           FIELD("batch", F_SIZE, batch),
    FIELD("eval_every", F_SIZE, eval_every), FIELD("lr", F_REAL, lr),
    FIELD("weight_decay", F_REAL, weight_decay), FIELD("clip", F_REAL, clip),
    FIELD("seed", F_U64, seed),              FIELD("loss", F_LOSS, loss),
    FIELD("dropout", F_REAL, dropout),       FIELD("stats_configured", F_FLAG, stats_configured),
    FIELD("hidden", F_SIZE, hidden),         FIELD("d_model", F_SIZE, d_model),
    FIELD("layers", F_SIZE, layers),         FIELD("channels", F_SIZE, channels),
    FIELD("M", F_SIZE, M),                   FIELD("L", F_SIZE, L),
    FIELD("core", F_SIZE, core),             FIELD("width", F_SIZE, width),
    FIELD("clone_snapshots", F_SIZE, clone_snapshots), FIELD("clone_samples", F_SIZE, clone_samples),
    FIELD("clone_images", F_SIZE, clone_images), FIELD("mnist_dir", F_TEXT, mnist_dir),
};
enum { NUM_FIELDS = sizeof fields / sizeof fields[0] };

/* The value of field f in s as text (numbers as JSON writes them). */
static void field_text(const Field *f, const TrainSettings *s, char *buf, size_t len)
{
    const char *at = (const char *)s + f->offset;
    switch (f->kind) {
    case F_TEXT: snprintf(buf, len, "%s", at); break;
    case F_SIZE: snprintf(buf, len, "%zu", *(const size_t *)(const void *)at); break;
    case F_U64: snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)(const void *)at); break;
    case F_REAL: json_format_double(*(const double *)(const void *)at, buf, len); break;
    case F_FLAG: snprintf(buf, len, "%s", *(const int *)(const void *)at ? "true" : "false"); break;
    case F_LOSS: snprintf(buf, len, "%s", emulation_loss_names[*(const EmulationLoss *)(const void *)at]); break;
    }
}

/* The inverse of field_text; RR_OK or RR_ERR_FORMAT. */
static int field_parse(const Field *f, TrainSettings *s, const char *text)
{
    char *at = (char *)s + f->offset, *end = NULL;
    switch (f->kind) {
    case F_TEXT:
        if (strlen(text) >= f->size) return RR_ERR_FORMAT;
        memcpy(at, text, strlen(text) + 1);
        return RR_OK;
    case F_SIZE: *(size_t *)(void *)at = (size_t)strtoull(text, &end, 10); break;
    case F_U64: *(uint64_t *)(void *)at = (uint64_t)strtoull(text, &end, 10); break;
    case F_REAL: *(double *)(void *)at = strtod(text, &end); break;
    case F_FLAG: *(int *)(void *)at = !strcmp(text, "true"); return strcmp(text, "true") && strcmp(text, "false") ? RR_ERR_FORMAT : RR_OK;
    case F_LOSS:
        for (int k = 0; k < LOSS_COUNT; k++)
            if (!strcmp(text, emulation_loss_names[k])) {
                *(EmulationLoss *)(void *)at = (EmulationLoss)k;
                return RR_OK;
            }
        return RR_ERR_FORMAT;
    }
    return end && *end == '\0' && end != text ? RR_OK : RR_ERR_FORMAT;
}

/* config.json: every setting, the zoo it trains on, the program. */
static int write_config(const char *path, const TrainSettings *s, const char *zoo_dir, const ZooData *z, char *err)
{
    JsonWriter w;
    int rc = json_begin(&w, path, err);
    if (rc) return rc;
    char buf[600];
    json_string(&w, "program", "rnnrep " RR_VERSION);
    for (int i = 0; i < NUM_FIELDS; i++) {
        const Field *f = &fields[i];
        field_text(f, s, buf, sizeof buf);
        if (f->kind == F_TEXT || f->kind == F_LOSS) json_string(&w, f->key, buf);
        else if (f->kind == F_FLAG) json_bool(&w, f->key, buf[0] == 't');
        else if (f->kind == F_REAL) json_double(&w, f->key, *(const double *)(const void *)((const char *)s + f->offset));
        else json_int(&w, f->key, (int64_t)strtoll(buf, NULL, 10));
    }
    json_string(&w, "zoo", zoo_dir);
    json_string(&w, "zoo_kind", zoo_kind_names[z->kind]);
    json_int(&w, "zoo_snapshots", (int64_t)z->N);
    json_int(&w, "zoo_parameters", (int64_t)zoo_num_params(z->shape));
    json_int(&w, "zoo_stored_sequences", (int64_t)z->S);
    return json_end(&w, err);
}

/* ========================================================================================
 * Random streams: one per purpose and index, so that nothing depends on what ran before.
 * ====================================================================================== */

Rng job_stream(uint64_t seed, uint64_t purpose, uint64_t index)
{
    Rng rng;
    rng_seed(&rng, seed * 0x9E3779B97F4A7C15ull ^ (purpose << 56) ^ index);
    return rng;
}

/* ========================================================================================
 * Checkpoints
 * ====================================================================================== */

static NpyDtype real_dtype(void) { return sizeof(real) == 4 ? NPY_F4 : NPY_F8; }

/* The tensors of one network with prefix (encoder. / emulator.), from buffer data (the
 * values or an AdamW moment). names: storage for the full names, 200 bytes each. */
static size_t network_tensors(const ParamSet *ps, const char *prefix, const real *data, SafetensorsTensor *t, char (*names)[200])
{
    for (size_t i = 0; i < ps->count; i++) {
        const Tensor *v = ps->views[i];
        snprintf(names[i], sizeof names[i], "%s%s", prefix, ps->names[i]);
        memset(&t[i], 0, sizeof t[i]);
        t[i].name = names[i];
        t[i].dtype = real_dtype();
        t[i].ndim = v->ndim;
        for (int d = 0; d < v->ndim; d++) t[i].shape[d] = v->shape[d];
        t[i].values = data + ps->offsets[i];
    }
    return ps->count;
}

int checkpoint_write(const char *path, const TrainSettings *s, const Encoder *enc, const ParamSet *net,
                     const char *net_prefix, const Checkpoint *c, int moments, const SafetensorsPair *extra,
                     size_t nextra, char *err)
{
    const ParamSet *ps[2] = {&enc->params, net};
    const char *prefix[2] = {"encoder.", net_prefix};
    size_t total = 1 + 3 * (ps[0]->count + ps[1]->count), n = 0;
    SafetensorsTensor *t = rr_calloc(total, sizeof *t, "checkpoint tensors");
    char (*names)[200] = rr_calloc(total, sizeof *names, "checkpoint names");
    for (int k = 0; k < 2; k++) {
        n += network_tensors(ps[k], prefix[k], ps[k]->data, t + n, names + n);
        if (!moments) continue;
        char pm[40], pv[40];
        snprintf(pm, sizeof pm, "optimizer.m.%s", prefix[k]);
        snprintf(pv, sizeof pv, "optimizer.v.%s", prefix[k]);
        n += network_tensors(ps[k], pm, ps[k]->m, t + n, names + n);
        n += network_tensors(ps[k], pv, ps[k]->v, t + n, names + n);
    }
    /* The statistics encoder's buffer: the official module registers its quantile levels. */
    float levels[5];
    if (enc->cfg.kind == ENC_STATS) {
        for (int i = 0; i < 5; i++) levels[i] = (float)stats_quantile_levels[i];
        t[n] = (SafetensorsTensor){"encoder.quantiles", NPY_F4, 1, {5}, 0, levels, NULL};
        n++;
    }
    enum { META = NUM_FIELDS + 7 };
    SafetensorsPair *meta = rr_malloc((META + nextra) * sizeof *meta, "checkpoint metadata");
    char keys[META][48], values[META][600];
    size_t m = 0;
    for (int i = 0; i < NUM_FIELDS; i++, m++) {
        snprintf(keys[m], sizeof keys[m], "setting.%s", fields[i].key);
        field_text(&fields[i], s, values[m], sizeof values[m]);
    }
    snprintf(keys[m], sizeof keys[m], "step"), snprintf(values[m++], sizeof values[0], "%zu", c->step);
    snprintf(keys[m], sizeof keys[m], "best_step"), snprintf(values[m++], sizeof values[0], "%zu", c->best_step);
    snprintf(keys[m], sizeof keys[m], "best_val_loss"), json_format_double(c->best_loss, values[m++], sizeof values[0]);
    snprintf(keys[m], sizeof keys[m], "encoder.adamw_step"), snprintf(values[m++], sizeof values[0], "%ld", ps[0]->step);
    snprintf(keys[m], sizeof keys[m], "%sadamw_step", prefix[1]), snprintf(values[m++], sizeof values[0], "%ld", ps[1]->step);
    snprintf(keys[m], sizeof keys[m], "rng");
    snprintf(values[m++], sizeof values[0], "every draw of step s comes from streams seeded by (seed, s): no state to keep");
    snprintf(keys[m], sizeof keys[m], "program"), snprintf(values[m++], sizeof values[0], "rnnrep %s", RR_VERSION);
    for (size_t i = 0; i < m; i++) meta[i] = (SafetensorsPair){keys[i], values[i]};
    for (size_t i = 0; i < nextra; i++) meta[m++] = extra[i];
    int rc = safetensors_write(path, t, n, meta, m, err);
    free(t);
    free(names);
    free(meta);
    return rc;
}

/* Loads one network's tensors (and moments) with prefix from st. */
static int load_network(const Safetensors *st, ParamSet *ps, const char *prefix, int moments, char *err)
{
    char name[240];
    int rc = RR_OK;
    for (size_t i = 0; i < ps->count && !rc; i++) {
        const Tensor *v = ps->views[i];
        snprintf(name, sizeof name, "%s%s", prefix, ps->names[i]);
        rc = safetensors_load_real(st, name, v->ndim, v->shape, ps->data + ps->offsets[i], err);
        if (moments && !rc) {
            snprintf(name, sizeof name, "optimizer.m.%s%s", prefix, ps->names[i]);
            rc = safetensors_load_real(st, name, v->ndim, v->shape, ps->m + ps->offsets[i], err);
        }
        if (moments && !rc) {
            snprintf(name, sizeof name, "optimizer.v.%s%s", prefix, ps->names[i]);
            rc = safetensors_load_real(st, name, v->ndim, v->shape, ps->v + ps->offsets[i], err);
        }
    }
    return rc;
}

/* A metadata value as a whole number. */
static int meta_size(const Safetensors *st, const char *key, size_t *out, char *err)
{
    const char *v = safetensors_metadata(st, key);
    char *end;
    if (!v || !*v) return rr_error(err, RR_ERR_FORMAT, "%s: no metadata '%s'", st->path, key);
    *out = (size_t)strtoull(v, &end, 10);
    if (*end) return rr_error(err, RR_ERR_FORMAT, "%s: metadata '%s' is '%s', not a whole number", st->path, key, v);
    return RR_OK;
}

int checkpoint_load(const char *path, Encoder *enc, ParamSet *net, const char *net_prefix, Checkpoint *c, int moments,
                    char *err)
{
    Safetensors st;
    int rc = safetensors_read(path, &st, err);
    if (rc) return rc;
    rc = load_network(&st, &enc->params, "encoder.", moments, err);
    if (!rc && net) rc = load_network(&st, net, net_prefix, moments, err);
    size_t a = 0, b = 0;
    if (!rc && c) rc = meta_size(&st, "step", &c->step, err);
    if (!rc && c) rc = meta_size(&st, "best_step", &c->best_step, err);
    if (!rc && c) {
        const char *v = safetensors_metadata(&st, "best_val_loss");
        char *end = NULL;
        c->best_loss = v ? strtod(v, &end) : 0;
        if (!v || *end) rc = rr_error(err, RR_ERR_FORMAT, "%s: no valid metadata 'best_val_loss'", path);
    }
    if (!rc && moments) rc = meta_size(&st, "encoder.adamw_step", &a, err);
    if (!rc && moments && net) {
        char key[64];
        snprintf(key, sizeof key, "%sadamw_step", net_prefix);
        rc = meta_size(&st, key, &b, err);
    }
    if (!rc && moments) {
        enc->params.step = (long)a;
        if (net) net->step = (long)b;
    }
    safetensors_free(&st);
    return rc;
}

int checkpoint_settings(const char *path, TrainSettings *s, char *err)
{
    Safetensors st;
    int rc = safetensors_read(path, &st, err);
    if (rc) return rc;
    memset(s, 0, sizeof *s);
    char key[64];
    for (int i = 0; i < NUM_FIELDS && !rc; i++) {
        snprintf(key, sizeof key, "setting.%s", fields[i].key);
        const char *v = safetensors_metadata(&st, key);
        if (!v || field_parse(&fields[i], s, v))
            rc = rr_error(err, RR_ERR_FORMAT, "%s: metadata '%s' is missing or invalid", path, key);
    }
    safetensors_free(&st);
    return rc;
}

const char *train_settings_difference(const TrainSettings *a, const TrainSettings *b)
{
    char ta[600], tb[600];
    for (int i = 0; i < NUM_FIELDS; i++) {
        field_text(&fields[i], a, ta, sizeof ta);
        field_text(&fields[i], b, tb, sizeof tb);
        if (strcmp(ta, tb)) return fields[i].key;
    }
    return NULL;
}

/* ========================================================================================
 * The run
 * ====================================================================================== */

static const char *const metrics_header = "step,train_loss,val_loss,ood_loss,return_diff_train,return_diff_val,return_diff_ood";
static const char *const cloned_header = "step,split,row,original,clone";
static const char *const timing_header = "step,seconds";
static const char *const split_names[3] = {"train", "val", "ood"};

typedef struct Job {
    const TrainSettings *s;
    const ZooData *z;
    MnistData digits;           /* MNIST: the clone's eval images */
    size_t *rows[3], nrows[3];  /* the snapshots (rows) of the train, val and OOD splits, file order */
    size_t *eval_seq[3];        /* val / OOD: the stored sequence each row is evaluated on */
    Encoder enc;
    Emulator em;
    EmulationTrainer tr;
    real *theta, *inputs, *targets;   /* one batch: (batch, P), (batch, T, I), (batch, T, O) */
} Job;

/* Rows idx[0..n) with stored sequences seq[0..n) into the job's batch. */
static EmulationBatch make_batch(Job *j, const size_t *idx, const size_t *seq, size_t n)
{
    const ZooData *z = j->z;
    size_t P = zoo_num_params(z->shape), T = z->T, I = z->shape.I, O = z->shape.O;
    for (size_t b = 0; b < n; b++) {
        memcpy(j->theta + b * P, z->theta + idx[b] * P, P * sizeof(real));
        zoo_data_example(z, idx[b], seq[b], j->inputs + b * T * I, j->targets + b * T * O);
    }
    return (EmulationBatch){n, T, j->theta, j->inputs, j->targets};
}

/* The exact mean emulation loss over every snapshot of split k, in batches. */
static double split_loss(Job *j, int k)
{
    double sum = 0;
    size_t B = j->s->batch, n = j->nrows[k];
    for (size_t first = 0, c = 0; first < n; first += B, c++) {
        size_t m = n - first < B ? n - first : B;
        EmulationBatch batch = make_batch(j, j->rows[k] + first, j->eval_seq[k] + first, m);
        j->tr.rng = job_stream(j->s->seed, STREAM_EVAL_PERMUTATION, 1000000 * (uint64_t)k + c); /* a fixed permutation */
        sum += emulation_eval(&j->tr, &batch) * (double)m;
    }
    return sum / (double)n;
}

void embed_rows(const Encoder *enc, const real *theta, size_t n, real *e)
{
    size_t P = zoo_num_params(enc->cfg.zoo), E = enc->cfg.embed, B = 64;
    Tape t;
    tape_init(&t);
    t.record = 0;
    for (size_t first = 0; first < n; first += B) {
        size_t m = n - first < B ? n - first : B;
        tape_reset(&t);
        Tensor *th = tensor_new(&t, 2, (size_t[]){m, P}, 0);                      /* (m, P) */
        memcpy(th->data, theta + first * P, m * P * sizeof(real));
        Tensor *out = op_l2_normalize(&t, encoder_forward(&t, enc, th, NULL));   /* (m, E) */
        memcpy(e + first * E, out->data, m * E * sizeof(real));
    }
    tape_free(&t);
}

/* Formal languages: correct / finished of n sequences (0 when none finished). */
static double language_score(const double *task_row, const int16_t *seqs, size_t n)
{
    int t[4];
    for (int k = 0; k < 4; k++) t[k] = (int)task_row[k];
    size_t finished = 0, correct = 0;
    for (size_t i = 0; i < n; i++) {
        finished += (size_t)lang_finished(seqs + i * LANG_LENGTH, LANG_LENGTH);
        correct += (size_t)lang_accepts(t, seqs + i * LANG_LENGTH, LANG_LENGTH);
    }
    return finished ? (double)correct / (double)finished : 0.0;
}

/* Cloned performance of split k: the mean |original - clone| over its evenly spaced
 * snapshots, each pair also appended to cloned. */
static double cloned_performance(Job *j, int k, size_t step, Csv *cloned)
{
    const TrainSettings *s = j->s;
    const ZooData *z = j->z;
    size_t n = j->nrows[k], K = s->clone_snapshots, E = j->em.cfg.embed, P = zoo_num_params(z->shape);
    size_t ns = s->clone_samples, ni = s->clone_images;
    real *e = rr_malloc(E * sizeof(real), "embedding");
    int16_t *a = rr_malloc(ns * LANG_LENGTH * sizeof *a, "samples"), *b = rr_malloc(ns * LANG_LENGTH * sizeof *b, "samples");
    real *x = rr_malloc(ni * MNIST_STEPS * MNIST_TILE_SIZE * sizeof(real), "images");
    int32_t *y = rr_malloc(ni * sizeof *y, "labels");
    size_t *idx = rr_malloc(ni * sizeof *idx, "images");
    double sum = 0;
    for (size_t c = 0; c < K; c++) {
        size_t row = j->rows[k][K > 1 ? (size_t)((double)c * (double)(n - 1) / (double)(K - 1)) : 0];
        embed_rows(&j->enc, z->theta + row * P, 1, e);
        double original, clone;
        uint64_t index = 1000000 * (uint64_t)k + c;
        if (z->kind == ZOO_KIND_FORMAL) {
            Rng rt = job_stream(s->seed, STREAM_CLONE_THETA, index), re = job_stream(s->seed, STREAM_CLONE_EMULATOR, index);
            clone_sample_tokens(&j->em, z->theta + row * P, e, ns, LANG_LENGTH, LANG_BOS, &rt, &re, a, b);
            original = language_score(z->tasks + row * 4, a, ns);
            clone = language_score(z->tasks + row * 4, b, ns);
        } else {
            Rng ri = job_stream(s->seed, STREAM_IMAGES, index);
            for (size_t i = 0; i < ni; i++) idx[i] = j->digits.eval[rng_below(&ri, j->digits.neval)];
            mnist_batch(&j->digits, idx, ni, z->tasks[row], x, y);
            original = z->accuracy[row];
            clone = clone_accuracy(&j->em, e, x, y, ni, MNIST_STEPS);
        }
        csv_printf(cloned, "%zu,%s,%zu,", step, split_names[k], row);
        csv_double(cloned, original, ",");
        csv_double(cloned, clone, "\n");
        sum += fabs(original - clone);
    }
    free(e);
    free(a);
    free(b);
    free(x);
    free(y);
    free(idx);
    return sum / (double)K;
}

static int job_init(Job *j, const TrainSettings *s, const ZooData *z, const TaskSplits *sp, char *err)
{
    memset(j, 0, sizeof *j);
    j->s = s;
    j->z = z;
    EncoderConfig ec;
    EmulatorConfig mc;
    int rc = train_settings_configs(s, z->shape, &ec, &mc, err);
    if (rc) return rc;
    if (z->kind == ZOO_KIND_MNIST) {
        if ((rc = mnist_load(s->mnist_dir, &j->digits, err))) return rc;
        if (j->digits.neval == 0) {
            mnist_data_free(&j->digits);
            return rr_error(err, RR_ERR_FORMAT, "%s: no evaluation digits for the clone's accuracy", s->mnist_dir);
        }
    }
    for (int k = 0; k < 3; k++) {
        j->rows[k] = rr_malloc(z->N * sizeof(size_t), "split rows");
        for (size_t r = 0; r < z->N; r++)
            if (sp->row_split[r] == (TaskSplit)k) j->rows[k][j->nrows[k]++] = r;
        Rng rng = job_stream(s->seed, STREAM_EVAL_SEQUENCES, (uint64_t)k);
        j->eval_seq[k] = rr_malloc(z->N * sizeof(size_t), "evaluation sequences");
        for (size_t r = 0; r < j->nrows[k]; r++) j->eval_seq[k][r] = (size_t)rng_below(&rng, z->S);
    }
    Rng init = job_stream(s->seed, STREAM_INIT, 0);
    encoder_init(&j->enc, &ec, &init);
    emulator_init(&j->em, &mc, &init);
    emulation_trainer_init(&j->tr, &j->enc, &j->em, 0);
    j->tr.opt.lr = s->lr;
    j->tr.opt.weight_decay = s->weight_decay;
    j->tr.clip = s->clip;
    j->tr.loss = s->loss;
    size_t B = s->batch, P = zoo_num_params(z->shape);
    j->theta = rr_malloc(B * P * sizeof(real), "batch parameters");
    j->inputs = rr_malloc(B * z->T * z->shape.I * sizeof(real), "batch inputs");
    j->targets = rr_malloc(B * z->T * z->shape.O * sizeof(real), "batch targets");
    return RR_OK;
}

static void job_free(Job *j)
{
    for (int k = 0; k < 3; k++) {
        free(j->rows[k]);
        free(j->eval_seq[k]);
    }
    if (j->z && j->z->kind == ZOO_KIND_MNIST) mnist_data_free(&j->digits);
    emulation_trainer_free(&j->tr);
    encoder_free(&j->enc);
    emulator_free(&j->em);
    free(j->theta);
    free(j->inputs);
    free(j->targets);
}

size_t epoch_batch(uint64_t seed, size_t step, size_t n, size_t B, size_t *order, size_t *epoch_of_order, size_t *items)
{
    size_t per_epoch = (n + B - 1) / B;
    size_t epoch = step / per_epoch, first = (step % per_epoch) * B, m = n - first < B ? n - first : B;
    if (*epoch_of_order != epoch) {
        Rng rng = job_stream(seed, STREAM_EPOCH, epoch);
        rng_permutation(&rng, n, order);
        *epoch_of_order = epoch;
    }
    memcpy(items, order + first, m * sizeof *items);
    return m;
}

/* The train split's rows of step's batch (n of them, at most batch) and their sequences. */
static size_t step_rows(Job *j, size_t step, size_t *order, size_t *epoch_of_order, size_t *idx, size_t *seq)
{
    size_t m = epoch_batch(j->s->seed, step, j->nrows[0], j->s->batch, order, epoch_of_order, idx);
    Rng rng = job_stream(j->s->seed, STREAM_STEP, step);
    for (size_t b = 0; b < m; b++) {
        idx[b] = j->rows[0][idx[b]];
        seq[b] = (size_t)rng_below(&rng, j->z->S);
    }
    j->tr.rng = rng; /* the step's permutation and dropout continue this stream */
    return m;
}

static int check_splits(const TaskSplits *sp, const char *zoo_dir, char *err)
{
    size_t counts[3] = {0, 0, 0};
    for (size_t r = 0; r < sp->rows; r++) counts[sp->row_split[r]]++;
    for (int k = 0; k < 3; k++)
        if (!counts[k])
            return rr_error(err, RR_ERR_FORMAT, "%s: its %zu distinct tasks leave the %s split empty (%zu train, %zu val, %zu OOD tasks); "
                            "a zoo needs at least 7 tasks", zoo_dir, sp->tasks, split_names[k], sp->count[LIST_TRAIN],
                            sp->count[LIST_VAL], sp->count[LIST_OOD]);
    return RR_OK;
}

/* Settings against the run directory, once its lock is held (*lock): a fresh run needs an
 * empty one, a resumed one the same config.json (the first setting that differs is named). */
static int prepare_run_dir(const char *run_dir, const TrainSettings *s, const char *zoo_dir, const ZooData *z,
                           int resume, int *lock, char *err)
{
    char path[1100], fresh[1100];
    int rc = rr_make_dir(run_dir, err);
    if (!rc) rc = rr_lock_dir(run_dir, lock, err);
    if (rc) return rc;
    zoo_path(path, sizeof path, run_dir, "config.json");
    zoo_path(fresh, sizeof fresh, run_dir, "config.json.new");
    FILE *probe = fopen(path, "rb");
    if (!probe) return write_config(path, s, zoo_dir, z, err);
    fclose(probe);
    if (!resume) return rr_error(err, RR_ERR_FORMAT, "%s already exists: use --resume to continue that run, or another --out", path);
    if ((rc = write_config(fresh, s, zoo_dir, z, err))) return rc;
    size_t la, lb;
    char *a = zoo_slurp(path, &la), *b = zoo_slurp(fresh, &lb), key[128];
    remove(fresh);
    if (!a || !b) rc = rr_error(err, RR_ERR_IO, "%s: cannot read", path);
    else if (json_first_difference(a, b, key, sizeof key))
        rc = rr_error(err, RR_ERR_FORMAT, "%s: the run was made with another '%s'; resume it with the same settings", path, key);
    free(a);
    free(b);
    return rc;
}

/* The seconds of timing.csv's last row (0 for the header alone). */
static double last_seconds(const Csv *timing)
{
    size_t end = timing->len - 1, start = end; /* the text ends with a line end */
    while (start > 0 && timing->text[start - 1] != '\n') start--;
    const char *comma = memchr(timing->text + start, ',', end - start);
    return start > 0 && comma ? strtod(comma + 1, NULL) : 0;
}

int train_run(const char *zoo_dir, const char *run_dir, const TrainSettings *s, int resume, TrainProgress progress,
              void *progress_ctx, char *err)
{
    ZooData z;
    TaskSplits sp;
    int rc = zoo_data_load(zoo_dir, &z, err);
    if (rc) return rc;
    char path[1100];
    zoo_path(path, sizeof path, zoo_dir, "tasks.npy");
    if ((rc = task_splits_init(&sp, z.tasks, z.N, z.task_width, path, err))) {
        zoo_data_free(&z);
        return rc;
    }
    Job j;
    memset(&j, 0, sizeof j);
    if (!rc) rc = check_splits(&sp, zoo_dir, err);
    if (!rc) rc = job_init(&j, s, &z, &sp, err);
    int lock = -1;
    if (!rc) rc = prepare_run_dir(run_dir, s, zoo_dir, &z, resume, &lock, err);
    if (!rc) {
        zoo_path(path, sizeof path, run_dir, "splits.json");
        rc = splits_write_json(&sp, path, err);
    }
    char last[1100], best[1100], metrics_path[1100], cloned_path[1100], timing_path[1100];
    zoo_path(last, sizeof last, run_dir, "last.safetensors");
    zoo_path(best, sizeof best, run_dir, "best.safetensors");
    zoo_path(metrics_path, sizeof metrics_path, run_dir, "metrics.csv");
    zoo_path(cloned_path, sizeof cloned_path, run_dir, "cloned.csv");
    zoo_path(timing_path, sizeof timing_path, run_dir, "timing.csv");
    Checkpoint ck = {0, INFINITY, 0};
    int64_t done = -1; /* the last step whose update the state holds */
    FILE *probe = rc ? NULL : fopen(last, "rb");
    if (probe) {
        fclose(probe);
        rc = checkpoint_load(last, &j.enc, &j.em.params, "emulator.", &ck, 1, err);
        done = (int64_t)ck.step;
    }
    Csv metrics, cloned, timing;
    memset(&metrics, 0, sizeof metrics), memset(&cloned, 0, sizeof cloned), memset(&timing, 0, sizeof timing);
    if (!rc) rc = csv_load_upto(&metrics, metrics_path, metrics_header, done, err);
    if (!rc) rc = csv_load_upto(&cloned, cloned_path, cloned_header, done, err);
    if (!rc) rc = csv_load_upto(&timing, timing_path, timing_header, done, err);

    double elapsed = done >= 0 ? last_seconds(&timing) : 0; /* timing.csv counts every session of the run */
    size_t n = j.nrows[0], B = s->batch, epoch_of_order = SIZE_MAX;
    size_t *order = rr_malloc((n ? n : 1) * sizeof *order, "epoch order");
    size_t *idx = rr_malloc(B * sizeof *idx, "batch rows"), *seq = rr_malloc(B * sizeof *seq, "batch sequences");
    double loss_sum = 0, start = rr_seconds();
    size_t loss_count = 0;
    for (size_t step = (size_t)(done + 1); !rc && step <= s->steps; step++) {
        size_t m = step_rows(&j, step, order, &epoch_of_order, idx, seq);
        EmulationBatch batch = make_batch(&j, idx, seq, m);
        double loss = emulation_step(&j.tr, &batch);
        if (!isfinite(loss)) {
            rc = rr_error(err, RR_ERR_FORMAT, "step %zu: the training loss is %g; %s keeps the last good state (step %lld)", step,
                          loss, last, (long long)done);
            break;
        }
        loss_sum += loss;
        loss_count++;
        if (progress) progress(progress_ctx, step, s->steps, loss, NULL);
        if (step % s->eval_every && step != s->steps) continue;
        /* Evaluation */
        double val = split_loss(&j, 1), ood = split_loss(&j, 2), diff[3];
        for (int k = 0; k < 3; k++) diff[k] = cloned_performance(&j, k, step, &cloned);
        double train_loss = loss_sum / (double)loss_count;
        csv_printf(&metrics, "%zu,", step);
        csv_double(&metrics, train_loss, ",");
        csv_double(&metrics, val, ",");
        csv_double(&metrics, ood, ",");
        for (int k = 0; k < 3; k++) csv_double(&metrics, diff[k], k < 2 ? "," : "\n");
        csv_printf(&timing, "%zu,%.3f\n", step, elapsed + rr_seconds() - start);
        ck.step = step;
        if (val < ck.best_loss) {
            ck.best_loss = val;
            ck.best_step = step;
            if (!rc) rc = checkpoint_write(best, s, &j.enc, &j.em.params, "emulator.", &ck, 0, NULL, 0, err);
        }
        if (!rc) rc = csv_write(&metrics, metrics_path, err);
        if (!rc) rc = csv_write(&cloned, cloned_path, err);
        if (!rc) rc = csv_write(&timing, timing_path, err);
        if (!rc) rc = checkpoint_write(last, s, &j.enc, &j.em.params, "emulator.", &ck, 1, NULL, 0, err);
        done = (int64_t)step;
        loss_sum = 0;
        loss_count = 0;
        if (progress) {
            char line[300];
            snprintf(line, sizeof line, "step %zu: train %.4f  val %.4f  ood %.4f  return difference train %.3f val %.3f ood %.3f%s",
                     step, train_loss, val, ood, diff[0], diff[1], diff[2], ck.best_step == step ? "  (best)" : "");
            progress(progress_ctx, step, s->steps, loss, line);
        }
    }
    free(order);
    free(idx);
    free(seq);
    csv_free(&metrics);
    csv_free(&cloned);
    csv_free(&timing);
    job_free(&j);
    task_splits_free(&sp);
    zoo_data_free(&z);
    rr_unlock_dir(lock);
    return rc;
}

int train_load_encoder(const char *run_dir, ZooShape zoo, Encoder *enc, TrainSettings *settings, char *err)
{
    char best[1100];
    zoo_path(best, sizeof best, run_dir, "best.safetensors");
    TrainSettings s;
    int rc = checkpoint_settings(best, &s, err);
    if (rc) return rc;
    EncoderConfig ec;
    EmulatorConfig mc;
    if ((rc = train_settings_configs(&s, zoo, &ec, &mc, err))) return rc;
    Rng rng = job_stream(s.seed, STREAM_INIT, 0); /* drawn over by the checkpoint */
    encoder_init(enc, &ec, &rng);
    if ((rc = checkpoint_load(best, enc, NULL, NULL, NULL, 0, err))) encoder_free(enc);
    else if (settings) *settings = s;
    return rc;
}

int train_embed_zoo(const char *run_dir, const ZooData *z, real **e, TrainSettings *s, char *err)
{
    Encoder enc;
    int rc = train_load_encoder(run_dir, z->shape, &enc, s, err);
    if (rc) return rc;
    *e = rr_malloc(z->N * enc.cfg.embed * sizeof(real), "embeddings");
    embed_rows(&enc, z->theta, z->N, *e);
    encoder_free(&enc);
    return RR_OK;
}

int train_embed(const char *run_dir, const char *zoo_dir, const char *out, char *err)
{
    ZooData z;
    TrainSettings s;
    real *e = NULL;
    int rc = zoo_data_load(zoo_dir, &z, err);
    if (rc) return rc;
    if (!(rc = train_embed_zoo(run_dir, &z, &e, &s, err))) {
        NpyArray a;
        npy_alloc(&a, NPY_F4, 2, (size_t[]){z.N, PAPER_EMBED});
        npy_from_real(NPY_F4, e, z.N * PAPER_EMBED, a.data);
        rc = npy_write(out, &a, err);
        npy_free(&a);
    }
    free(e);
    zoo_data_free(&z);
    return rc;
}
