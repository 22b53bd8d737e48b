/*
 * zoo_internal.h — zoo/ internal: what the units of a model zoo share.
 *
 *   zoo_settings.c   presets, checks, args.json, the table of a zoo's files
 *   zoo_run.c        one training run: the snapshot skeleton and the two task families
 *   zoo_generate.c   a zoo directory: creating, resuming and growing it run by run
 *   zoo_merge.c      joining slices of one zoo
 *   zoo_info.c       what a zoo holds (ours or a released one)
 *   zoo_data.c       a zoo's files checked against each other; a whole zoo in memory
 *   report.c, reproduce.c   a reproduction directory: its layout is shared below
 * and what the jobs that train on a zoo share: train.c (emulation training) with downstream.c
 * (downstream prediction).
 */
#ifndef RNNREP_ZOO_INTERNAL_H
#define RNNREP_ZOO_INTERNAL_H
#include "rnnrep.h"

/* One file of a zoo: its name, dtype and the shape of one row (one snapshot). */
enum { ZOO_MAX_FILES = 7 };
typedef struct ZooFile {
    const char *name;
    NpyDtype dtype;
    int ndim;             /* of one row */
    size_t shape[3];
    int optional;         /* ours only: a zoo without it (a released one) is still whole */
} ZooFile;
/* The files of a zoo of this kind with `stored` rollouts / images per snapshot, in the
 * released layout (SPEC.md §2.3) plus num_step_correct_strict.npy (optional) for formal
 * languages, in this order: */
enum { ZOO_PARAMETERS, ZOO_SEQUENCES, ZOO_LOGITS, ZOO_TASKS,
       ZOO_BOOKKEEPING,   /* num_step_correct.npy (run, step, correct) / num_step.npy (run, step) */
       ZOO_LAST_FILE };   /* num_step_correct_strict.npy / accuracy_losses.npy */
/* Returns how many (ZOO_LAST_FILE + 1). */
size_t zoo_files(ZooKind kind, size_t stored, ZooFile *f);
size_t zoo_file_row_elems(const ZooFile *f);

/* The files of the zoo in dir, open at their data and checked against each other. */
typedef struct ZooDir {
    ZooKind kind;
    size_t N, S;                    /* snapshots (the rows of every file), stored sequences per snapshot */
    size_t nfiles;
    ZooFile file[ZOO_MAX_FILES];    /* zoo_files(kind, S) */
    NpyFile npy[ZOO_MAX_FILES];     /* npy[i].fp == NULL: file[i] is optional and absent */
} ZooDir;
/* Opens every file of the zoo in dir (headers only; npy_open bounds each file's data by the
 * file's size) and checks its dtype and full shape against the kind and the other files:
 *   parameters (N, P) <f4          sequences (N, S, 42) <i2 | (N, S, 50, 16) <f2
 *   logits (N, S, 41, 6) | (N, S, 50, 10) <f2      tasks (N, 4) <i8 | (N, 1) <f8
 *   num_step_correct[_strict] (N, 3) <i8 | num_step (N, 2) <i8, accuracy_losses (N, 4) <f8
 * (formal languages | MNIST), N > 0 and S > 0 taken from parameters.npy and sequences.npy. As
 * no row is empty, N is bounded by every file's size. An error names the file and what is wrong; on error
 * nothing stays open. */
int zoo_dir_open(const char *dir, ZooDir *z, char *err);
void zoo_dir_close(ZooDir *z);

/* Writes the generation settings as args.json at path. */
int zoo_write_args(const ZooSettings *s, const char *path, char *err);
/* Whether two files hold the same bytes (both readable). */
int zoo_same_file(const char *a, const char *b);
/* dir/name into buf. */
void zoo_path(char *buf, size_t len, const char *dir, const char *name);
/* Whole file into a malloc'd buffer, with a '\0' after its *len bytes; NULL if unreadable. */
char *zoo_slurp(const char *path, size_t *len);

/* A reproduction directory (report.c, reproduce.c): DIR/zoos/<name> and DIR/runs/<name>/<run>,
 * name = zoo_short_names[kind]; each run's downstream rows in its run_downstream_files: the
 * pretrained encoder's (and the reference features') and the supervised baseline's. */
extern const char *const zoo_short_names[2];   /* "formal", "mnist": as rnnrep zoo and directories name them */
enum { RUN_DOWNSTREAM_FILES = 2 };
extern const char *const run_downstream_files[RUN_DOWNSTREAM_FILES];

/* One run's rows for every file, in the files' dtypes, filled snapshot by snapshot. */
typedef struct RunRows {
    size_t nfiles;
    ZooFile file[ZOO_MAX_FILES];
    unsigned char *rows[ZOO_MAX_FILES];   /* ZOO_SNAPSHOTS rows each */
} RunRows;
void run_rows_init(RunRows *r, const ZooSettings *s);
void run_rows_free(RunRows *r);

/* Run `run` of the zoo s into rows (MNIST runs read data; NULL for formal languages).
 * progress (may be NULL) hears about steps; runs_done / runs_total are passed through. */
void zoo_run(const ZooSettings *s, const MnistData *data, size_t run, RunRows *rows, ZooProgress progress,
             void *progress_ctx, size_t runs_done, size_t runs_total);

/* ---- Jobs over a zoo (train.c, downstream.c) ---------------------------------------------- */

/* Random streams: every draw of a job comes from a stream seeded by (seed, purpose, index),
 * so that nothing depends on what ran before and a checkpoint needs no generator state. */
enum {
    STREAM_INIT = 1, STREAM_EPOCH, STREAM_STEP, STREAM_EVAL_SEQUENCES, STREAM_EVAL_PERMUTATION,
    STREAM_CLONE_THETA, STREAM_CLONE_EMULATOR, STREAM_IMAGES, STREAM_PREDICTOR
};
Rng job_stream(uint64_t seed, uint64_t purpose, uint64_t index);

/* Epochs over n items (n >= 1) in batches of B, each epoch in the order of a permutation
 * drawn from job_stream(seed, STREAM_EPOCH, epoch), the last batch of an epoch smaller: the
 * items of step's batch into items, and how many. order (n) holds the permutation of epoch
 * *epoch_of_order (SIZE_MAX at first: none yet). */
size_t epoch_batch(uint64_t seed, size_t step, size_t n, size_t B, size_t *order, size_t *epoch_of_order, size_t *items);

/* E(θ) / |E(θ)| (n, E) of the rows theta (n, P) into e, in batches on a tape that records
 * nothing. */
void embed_rows(const Encoder *enc, const real *theta, size_t n, real *e);

/* Checkpoints (SPEC.md §9): the encoder's tensors "encoder.<name>" and a second network's
 * "<prefix><name>" (the emulator, "emulator."; a downstream head, "head."); with moments also
 * the AdamW moments ("optimizer.m.", "optimizer.v." before those names). Metadata: every
 * setting of s ("setting.<key>"), the step, best step and best validation loss of c, each
 * network's AdamW step ("<prefix>adamw_step"), and the extra pairs. */
typedef struct Checkpoint {
    size_t step;
    double best_loss;
    size_t best_step;
} Checkpoint;
int checkpoint_write(const char *path, const TrainSettings *s, const Encoder *enc, const ParamSet *net,
                     const char *net_prefix, const Checkpoint *c, int moments, const SafetensorsPair *extra,
                     size_t nextra, char *err);
/* Into networks built as the writer's: the encoder, net (unless NULL), c (unless NULL) and,
 * with moments, the AdamW state. */
int checkpoint_load(const char *path, Encoder *enc, ParamSet *net, const char *net_prefix, Checkpoint *c, int moments,
                    char *err);
/* The settings a checkpoint was trained with, from its metadata. */
int checkpoint_settings(const char *path, TrainSettings *s, char *err);
/* The config.json key of the first setting in which a and b differ, or NULL. */
const char *train_settings_difference(const TrainSettings *a, const TrainSettings *b);

#endif
