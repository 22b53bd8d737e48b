/* tinyzoo.h — the tiny zoos the training, downstream and report tests learn from: `runs` runs
 * of 9 updates (a snapshot after each), 4 stored sequences, quick metrics. */
#ifndef RNNREP_TEST_TINYZOO_H
#define RNNREP_TEST_TINYZOO_H
#include "test.h"

/* The settings of such a zoo of `runs` runs. */
static inline ZooSettings tiny_zoo_settings(ZooKind kind, size_t runs)
{
    ZooSettings s;
    char err[RR_ERRLEN];
    zoo_settings_preset(&s, kind, "tiny", err);
    s.runs = runs;
    s.steps = 8;
    for (int k = 0; k < ZOO_SNAPSHOTS; k++) s.snapshot[k] = (size_t)k;
    s.samples = 40;
    s.stored = 4;
    s.eval_batches = 1;
    s.eval_batch = 50;
    return s;
}

/* Runs [first, last) of such a zoo into dir. */
static inline void make_tiny_zoo(const char *dir, ZooKind kind, size_t runs, size_t first, size_t last)
{
    ZooSettings s = tiny_zoo_settings(kind, runs);
    char err[RR_ERRLEN];
    int rc = zoo_generate(&s, dir, first, last, 0, NULL, NULL, err);
    CHECK(rc == RR_OK, "zoo %s: %s", dir, rc ? err : "");
}
#endif
