/*
 * zoo_internal.h — zoo/ internal: what the units of a model zoo share.
 *
 *   zoo_settings.c   presets, checks, args.json, the table of a zoo's files
 *   zoo_run.c        one training run: the snapshot skeleton and the two task families
 *   zoo_generate.c   a zoo directory: creating, resuming and growing it run by run
 *   zoo_merge.c      joining slices of one zoo
 *   zoo_info.c       what a zoo holds (ours or a released one)
 *   report.c, reproduce.c   a reproduction directory: its layout is shared below
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
} ZooFile;
/* The files of a zoo of this kind with `stored` rollouts / images per snapshot, in the
 * released layout (SPEC.md §2.3) plus num_step_correct_strict.npy for formal languages;
 * the first file is always parameters.npy. Returns how many. */
size_t zoo_files(ZooKind kind, size_t stored, ZooFile *f);
size_t zoo_file_row_elems(const ZooFile *f);

/* Writes the generation settings as args.json at path. */
int zoo_write_args(const ZooSettings *s, const char *path, char *err);
/* The kind of the zoo in dir, from its bookkeeping file. */
int zoo_detect_kind(const char *dir, ZooKind *kind, char *err);
/* Whether two files hold the same bytes (both readable). */
int zoo_same_file(const char *a, const char *b);
/* dir/name into buf. */
void zoo_path(char *buf, size_t len, const char *dir, const char *name);
/* Whole file into a malloc'd buffer, with a '\0' after its *len bytes; NULL if unreadable. */
char *zoo_slurp(const char *path, size_t *len);

/* A reproduction directory (report.c, reproduce.c): DIR/zoos/<name> and DIR/runs/<name>/<run>,
 * name = zoo_kind_names[kind]; each run's downstream rows in its run_downstream_files: the
 * pretrained encoder's (and the reference features') and the supervised baseline's. */
extern const char *const zoo_kind_names[2];   /* "formal", "mnist" */
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

#endif
