/* test_faults.c — faults around what rnnrep writes (issue 12):
 *   - one process at a time writes a zoo or a run: while another process holds the
 *     directory's lock (rr_lock_dir), a generation, a --jobs generation and a training refuse
 *     to start, naming the holder's pid;
 *   - a write that fails (a full disk, ENOSPC; here a file-size limit, EFBIG) ends the zoo or
 *     the training with a message naming the file, and resuming afterwards completes it with
 *     the bytes of one that never failed, whichever write failed: args.json or config.json,
 *     the rows of a run (the first or a later one, partly written), a checkpoint.
 * The faults are made without any hook in the library: the job runs in a child process
 * whose files may grow to a limit (POSIX setrlimit(RLIMIT_FSIZE)), with SIGXFSZ ignored so
 * that the write past it fails as one to a full disk does. The files are the same in both
 * builds, so the float build skips this program. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "files.h"
#include "tinyzoo.h"

#define DIR "build/tests/faults"

/* ---- jobs in a child process ----------------------------------------------------------- */

typedef struct ZooJob { ZooSettings s; const char *dir; int resume, jobs; } ZooJob;
typedef struct TrainJob { const char *zoo, *run; TrainSettings s; int resume; } TrainJob;

static int zoo_job(const void *ctx, char *err)
{
    const ZooJob *j = ctx;
    if (j->jobs) {
        char *argv[] = {"false", NULL}; /* never run: the lock is checked first */
        return zoo_generate_jobs(&j->s, j->dir, 0, j->s.runs, (size_t)j->jobs, j->resume, argv, err);
    }
    return zoo_generate(&j->s, j->dir, 0, j->s.runs, j->resume, NULL, NULL, err);
}

static int train_job(const void *ctx, char *err)
{
    const TrainJob *j = ctx;
    return train_run(j->zoo, j->run, &j->s, j->resume, NULL, NULL, err);
}

/* A tiny run of the statistics encoder on the 12-run zoo. */
static TrainJob tiny_run(const char *run)
{
    TrainJob t;
    char err[RR_ERRLEN];
    memset(&t, 0, sizeof t);
    t.zoo = DIR "/zoo12";
    t.run = run;
    train_settings_preset(&t.s, "tiny", "stats", err);
    return t;
}

/* job(ctx) in a child process whose files may grow to at most `limit` bytes (0: unlimited);
 * returns its return code (or 128 + the signal that ended it) and its message in err. */
static int in_child(int (*job)(const void *, char *), const void *ctx, size_t limit, char *err)
{
    int fds[2];
    err[0] = '\0';
    if (pipe(fds)) return -1;
    fflush(NULL); /* nothing buffered is printed twice */
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        if (limit) {
            struct rlimit rl = {(rlim_t)limit, (rlim_t)limit};
            signal(SIGXFSZ, SIG_IGN);
            if (setrlimit(RLIMIT_FSIZE, &rl)) _exit(99);
        }
        char e[RR_ERRLEN] = "";
        int rc = job(ctx, e);
        ssize_t w = write(fds[1], e, strlen(e) + 1);
        (void)w;
        _exit(rc);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t got;
    while (n < RR_ERRLEN - 1 && (got = read(fds[0], err + n, RR_ERRLEN - 1 - n)) > 0) n += (size_t)got;
    err[n] = '\0';
    close(fds[0]);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void clean(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "%s", cmd);
}

/* Whether dir_a/name and dir_b/name hold the same bytes, for every name. */
static int same_dirs(const char *dir_a, const char *dir_b, const char *const *names, size_t n)
{
    int same = 1;
    for (size_t i = 0; i < n; i++) {
        char a[300], b[300];
        snprintf(a, sizeof a, "%s/%s", dir_a, names[i]);
        snprintf(b, sizeof b, "%s/%s", dir_b, names[i]);
        int s = same_files(a, b);
        CHECK(s, "%s and %s hold the same bytes", a, b);
        same &= s;
    }
    return same;
}

/* ---- locks ------------------------------------------------------------------------------ */

static void check_locks(void)
{
    char err[RR_ERRLEN], want[80], zoo[] = DIR "/locked-zoo", run[] = DIR "/locked-run";
    snprintf(want, sizeof want, "by another rnnrep process (pid %ld", (long)getpid());
    ZooJob z = {tiny_zoo_settings(ZOO_KIND_FORMAL, 2), zoo, 0, 0};
    TrainJob t = tiny_run(run);

    int fd;
    CHECK(rr_make_dir(zoo, err) == RR_OK && rr_lock_dir(zoo, &fd, err) == RR_OK, "lock %s: %s", zoo, err);
    int rc = in_child(zoo_job, &z, 0, err);
    CHECK(rc == RR_ERR_PROCESS && strstr(err, want), "a generation into a locked zoo refuses: rc %d, %s", rc, err);
    z.resume = 1;
    rc = in_child(zoo_job, &z, 0, err);
    CHECK(rc == RR_ERR_PROCESS && strstr(err, want), "so does a --resume: rc %d, %s", rc, err);
    z.jobs = 2;
    rc = in_child(zoo_job, &z, 0, err);
    CHECK(rc == RR_ERR_PROCESS && strstr(err, want), "and a --jobs --resume, before any worker: rc %d, %s", rc, err);
    rr_unlock_dir(fd);
    z.jobs = 0;
    rc = in_child(zoo_job, &z, 0, err);
    CHECK(rc == RR_OK, "once the lock is released the zoo is made: %s", err);

    CHECK(rr_make_dir(run, err) == RR_OK && rr_lock_dir(run, &fd, err) == RR_OK, "lock %s: %s", run, err);
    rc = in_child(train_job, &t, 0, err);
    CHECK(rc == RR_ERR_PROCESS && strstr(err, want), "a training into a locked run refuses: rc %d, %s", rc, err);
    rr_unlock_dir(fd);
    rc = in_child(train_job, &t, 0, err);
    CHECK(rc == RR_OK, "once the lock is released the run trains: %s", err);
}

/* ---- write failures --------------------------------------------------------------------- */

/* Bytes of the .npy header and of one row of dir/name. */
static void npy_sizes(const char *dir, const char *name, size_t *header, size_t *row)
{
    char path[300], err[RR_ERRLEN];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    NpyFile f;
    *header = *row = 0;
    if (npy_open(&f, path, err) == RR_OK) {
        *header = f.header_bytes;
        *row = f.row_bytes;
        npy_close(&f, NULL);
    }
    CHECK(*row > 0, "%s: %s", path, err);
}

static void check_zoo_write_failures(void)
{
    static const char *const files[] = {"args.json", "parameters.npy", "sequences.npy", "logits.npy", "tasks.npy",
                                        "num_step_correct.npy", "num_step_correct_strict.npy"};
    enum { FILES = sizeof files / sizeof files[0] };
    const char *ref = DIR "/zoo-ref";
    make_tiny_zoo(ref, ZOO_KIND_FORMAL, 2, 0, 2);
    size_t h, row;
    npy_sizes(ref, "parameters.npy", &h, &row); /* the largest file, and the first a run appends to */
    size_t limits[] = {
        100,                           /* args.json */
        h + row / 2,                   /* the first run's rows */
        h + ZOO_SNAPSHOTS * row + 100, /* the second run's, the first one complete */
    };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        char dir[100], err[RR_ERRLEN];
        snprintf(dir, sizeof dir, DIR "/zoo-cut%zu", i);
        ZooJob z = {tiny_zoo_settings(ZOO_KIND_FORMAL, 2), dir, 0, 0};
        int rc = in_child(zoo_job, &z, limits[i], err);
        if (getenv("FAULTS_VERBOSE")) printf("zoo limited to %zu bytes: %s\n", limits[i], err);
        CHECK(rc == RR_ERR_IO && strstr(err, dir) && strstr(err, "too large"), "files limited to %zu bytes: rc %d, %s", limits[i],
              rc, err);
        z.resume = 1;
        rc = in_child(zoo_job, &z, 0, err);
        CHECK(rc == RR_OK, "the zoo limited to %zu bytes is resumed: %s", limits[i], err);
        CHECK(same_dirs(ref, dir, files, FILES), "resumed after the failure at %zu bytes: the zoo of one that never failed",
              limits[i]);
    }
}

static void check_train_write_failures(void)
{
    static const char *const files[] = {"config.json", "splits.json", "metrics.csv", "cloned.csv", "best.safetensors",
                                        "last.safetensors"};
    enum { FILES = sizeof files / sizeof files[0] };
    char err[RR_ERRLEN], path[300];
    TrainJob t = tiny_run(DIR "/run-ref");
    int rc = in_child(train_job, &t, 0, err);
    CHECK(rc == RR_OK, "reference run: %s", err);
    size_t best = 0, last = 0;
    snprintf(path, sizeof path, "%s/best.safetensors", t.run);
    free(slurp(path, &best));
    snprintf(path, sizeof path, "%s/last.safetensors", t.run);
    free(slurp(path, &last));
    CHECK(best > 0 && last > best, "a checkpoint with moments (%zu bytes) is larger than one without (%zu)", last, best);
    size_t limits[] = {100, best / 2, (best + last) / 2}; /* config.json; best; last, after best and the CSVs */
    const char *failed[] = {"config.json", "best.safetensors", "last.safetensors"};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        char run[100];
        snprintf(run, sizeof run, DIR "/run-cut%zu", i);
        t.run = run;
        t.resume = 0;
        rc = in_child(train_job, &t, limits[i], err);
        if (getenv("FAULTS_VERBOSE")) printf("run limited to %zu bytes: %s\n", limits[i], err);
        CHECK(rc == RR_ERR_IO && strstr(err, run) && strstr(err, failed[i]) && strstr(err, "too large"),
              "a run limited to %zu bytes stops at %s: rc %d, %s", limits[i], failed[i], rc, err);
        t.resume = 1;
        rc = in_child(train_job, &t, 0, err);
        CHECK(rc == RR_OK, "the run limited to %zu bytes is resumed: %s", limits[i], err);
        CHECK(same_dirs(DIR "/run-ref", run, files, FILES), "resumed after the failure at %zu bytes: the run of one that never failed",
              limits[i]);
    }
}

int main(void)
{
    if (IS_DOUBLE_BUILD) {
        clean(DIR);
        char err[RR_ERRLEN];
        CHECK(rr_make_dir(DIR, err) == RR_OK, "%s", err);
        make_tiny_zoo(DIR "/zoo12", ZOO_KIND_FORMAL, 12, 0, 12);
        check_locks();
        check_zoo_write_failures();
        check_train_write_failures();
    }
    return test_summary("faults");
}
