/*
 * zoo_settings.c — what a model zoo is made with (SPEC.md §2): the presets, their checks, the
 * args.json that records them, and the table of files a zoo of these settings holds.
 */
#include <stdlib.h>
#include <string.h>

#include "zoo/zoo_internal.h"

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

size_t zoo_files(ZooKind kind, size_t stored, ZooFile *f)
{
    size_t P = zoo_num_params(kind == ZOO_KIND_FORMAL ? ZOO_FORMAL : ZOO_MNIST), n = 0, S = stored;
    if (kind == ZOO_KIND_FORMAL) {
        f[n++] = (ZooFile){"parameters.npy", NPY_F4, 1, {P}, 0};
        f[n++] = (ZooFile){"sequences.npy", NPY_I2, 2, {S, LANG_LENGTH}, 0};
        f[n++] = (ZooFile){"logits.npy", NPY_F2, 3, {S, LANG_LENGTH - 1, LANG_TOKENS}, 0};
        f[n++] = (ZooFile){"tasks.npy", NPY_I8, 1, {4}, 0};
        f[n++] = (ZooFile){"num_step_correct.npy", NPY_I8, 1, {3}, 0};
        /* ours, beside the released layout: the strict metric that also checks letter order */
        f[n++] = (ZooFile){"num_step_correct_strict.npy", NPY_I8, 1, {3}, 1};
    } else {
        f[n++] = (ZooFile){"parameters.npy", NPY_F4, 1, {P}, 0};
        f[n++] = (ZooFile){"sequences.npy", NPY_F2, 3, {S, MNIST_STEPS, MNIST_TILE_SIZE}, 0};
        f[n++] = (ZooFile){"logits.npy", NPY_F2, 3, {S, MNIST_STEPS, MNIST_CLASSES}, 0};
        f[n++] = (ZooFile){"tasks.npy", NPY_F8, 1, {1}, 0};
        f[n++] = (ZooFile){"num_step.npy", NPY_I8, 1, {2}, 0};
        f[n++] = (ZooFile){"accuracy_losses.npy", NPY_F8, 1, {4}, 0};
    }
    return n;
}

size_t zoo_file_row_elems(const ZooFile *f)
{
    size_t n = 1;
    for (int i = 0; i < f->ndim; i++) n *= f->shape[i];
    return n;
}

int zoo_write_args(const ZooSettings *s, const char *path, char *err)
{
    JsonWriter w;
    int rc = json_begin(&w, path, err);
    if (rc) return rc;
    int64_t snaps[ZOO_SNAPSHOTS];
    for (int k = 0; k < ZOO_SNAPSHOTS; k++) snaps[k] = (int64_t)s->snapshot[k];
    json_string(&w, "generator", "rnnrep " RR_VERSION);
    json_string(&w, "kind", zoo_kind_names[s->kind]);
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

void zoo_path(char *buf, size_t len, const char *dir, const char *name) { snprintf(buf, len, "%s/%s", dir, name); }

char *zoo_slurp(const char *path, size_t *len)
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
    buf[n] = '\0'; /* n < cap: the loop doubles a full buffer */
    *len = n;
    return buf;
}

int zoo_same_file(const char *a, const char *b)
{
    size_t la, lb;
    char *x = zoo_slurp(a, &la), *y = zoo_slurp(b, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

const char *const zoo_kind_names[2] = {"formal_languages", "sequential_mnist"};

int zoo_detect_kind(const char *dir, ZooKind *kind, char *err)
{
    char path[1024];
    zoo_path(path, sizeof path, dir, "num_step_correct.npy");
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        *kind = ZOO_KIND_FORMAL;
        return RR_OK;
    }
    zoo_path(path, sizeof path, dir, "num_step.npy");
    if ((f = fopen(path, "rb"))) {
        fclose(f);
        *kind = ZOO_KIND_MNIST;
        return RR_OK;
    }
    return rr_error(err, RR_ERR_OPEN, "%s: not a zoo (neither num_step_correct.npy nor num_step.npy is there)", dir);
}
