/*
 * workers.c — jobs run as worker processes (POSIX fork, execvp, waitpid, sigaction; open and dup2
 * for quiet ones): no shell, so no quoting and no length limit on the arguments; every worker's
 * status is checked.
 *
 * The caller waits in sigsuspend with SIGCHLD, SIGINT and SIGTERM blocked everywhere else, so
 * a worker that ends or an interrupt that arrives between two checks is never missed. Workers
 * must not outlive the caller: on Linux the kernel sends them SIGTERM when it dies
 * (PR_SET_PDEATHSIG); everywhere, a worker can poll worker_orphaned between units of work.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "rnnrep.h"

/* The signal that interrupted workers_run, set by its handler: a signal can only reach the
 * program through a global. */
static volatile sig_atomic_t stop_signal;

static void on_stop(int sig) { stop_signal = sig; }
static void on_child(int sig) { (void)sig; } /* only wakes sigsuspend */

/* The signal state of the caller, restored when workers_run returns and in every worker. */
typedef struct Signals {
    sigset_t mask;
    struct sigaction on_int, on_term, on_chld;
} Signals;

static void restore_signals(const Signals *s)
{
    sigaction(SIGINT, &s->on_int, NULL);
    sigaction(SIGTERM, &s->on_term, NULL);
    sigaction(SIGCHLD, &s->on_chld, NULL);
    sigprocmask(SIG_SETMASK, &s->mask, NULL);
}

static void write_text(const char *text)
{
    size_t n = strlen(text);
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, text, n);
        if (w <= 0) return;
        text += w;
        n -= (size_t)w;
    }
}

/* In the forked child: the caller's signal state back, then the program. Exits with 127
 * if the program cannot be run (as a shell does) or the caller has already ended. */
static void exec_worker(const WorkerJob *job, pid_t parent, const Signals *caller)
{
    restore_signals(caller);
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
    if (getppid() != parent) _exit(127);
    if (job->quiet) {
        int null = open("/dev/null", O_WRONLY);
        if (null < 0 || dup2(null, STDOUT_FILENO) < 0 || dup2(null, STDERR_FILENO) < 0) _exit(127);
    }
    execvp(job->argv[0], job->argv);
    /* only async-signal-safe calls between fork and exit */
    write_text("rnnrep: cannot run ");
    write_text(job->argv[0]);
    write_text(errno == ENOENT ? ": no such program\n" : ": exec failed\n");
    _exit(127);
}

static void describe_status(int status, char *buf, size_t len)
{
    if (status == -1) snprintf(buf, len, "its status was lost");
    else if (WIFEXITED(status))
        snprintf(buf, len, "exit status %d%s", WEXITSTATUS(status), WEXITSTATUS(status) == 127 ? " (could not be run)" : "");
    else if (WIFSIGNALED(status)) snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
    else snprintf(buf, len, "status %d", status);
}

int workers_run(const WorkerJob *jobs, size_t n, size_t parallel, char *err)
{
    if (parallel == 0) parallel = 1;
    pid_t parent = getpid();
    pid_t *pid = rr_calloc(n, sizeof *pid, "worker process ids"); /* 0 once reaped */
    size_t next = 0, running = 0, failed = n; /* failed: the first job that failed, n if none */
    size_t stopped = 0;   /* workers sent SIGTERM because another failed or we were interrupted */
    int failed_status = 0, fork_errno = 0, stopping = 0;
    char how[64];

    /* Block the three signals except inside sigsuspend; catch SIGINT and SIGTERM unless the
     * caller ignores them (a background job stays immune to the terminal's interrupt). */
    Signals caller;
    sigset_t watched, waiting;
    struct sigaction act;
    sigemptyset(&watched);
    sigaddset(&watched, SIGCHLD);
    sigaddset(&watched, SIGINT);
    sigaddset(&watched, SIGTERM);
    sigprocmask(SIG_BLOCK, &watched, &caller.mask);
    memset(&act, 0, sizeof act);
    sigemptyset(&act.sa_mask);
    act.sa_handler = on_child;
    sigaction(SIGCHLD, &act, &caller.on_chld);
    act.sa_handler = on_stop;
    sigaction(SIGINT, NULL, &caller.on_int);
    sigaction(SIGTERM, NULL, &caller.on_term);
    if (caller.on_int.sa_handler != SIG_IGN) sigaction(SIGINT, &act, NULL);
    if (caller.on_term.sa_handler != SIG_IGN) sigaction(SIGTERM, &act, NULL);
    waiting = caller.mask;
    sigdelset(&waiting, SIGCHLD);
    sigdelset(&waiting, SIGINT);
    sigdelset(&waiting, SIGTERM);
    stop_signal = 0;
    fflush(NULL); /* nothing buffered is written twice */

    for (;;) {
        while (running < parallel && next < n && failed == n && !fork_errno && !stop_signal) {
            pid_t p = fork();
            if (p < 0) {
                fork_errno = errno;
                break;
            }
            if (p == 0) exec_worker(&jobs[next], parent, &caller);
            pid[next++] = p;
            running++;
        }
        int reaped = 0;
        for (size_t j = 0; j < next; j++) {
            int status = 0;
            pid_t r = pid[j] > 0 ? waitpid(pid[j], &status, WNOHANG) : 0;
            if (r == 0 || (r < 0 && errno == EINTR)) continue;
            int ok = r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
            pid[j] = 0;
            running--;
            reaped = 1;
            if (!ok && failed == n && !stopping) {
                failed = j;
                failed_status = r > 0 ? status : -1; /* -1: lost (waitpid failed) */
            }
        }
        if (!stopping && (failed < n || fork_errno || stop_signal)) {
            stopping = 1;
            for (size_t j = 0; j < next; j++)
                if (pid[j] > 0 && kill(pid[j], SIGTERM) == 0) stopped++;
        }
        if (running == 0 && (stopping || next == n)) break;
        if (!reaped) sigsuspend(&waiting);
    }
    restore_signals(&caller);
    free(pid);

    if (stop_signal)
        return rr_error(err, RR_ERR_PROCESS, "interrupted by signal %d: stopped %zu running worker%s", (int)stop_signal, stopped,
                        stopped == 1 ? "" : "s");
    if (failed < n) {
        describe_status(failed_status, how, sizeof how);
        return rr_error(err, RR_ERR_PROCESS, "%s failed (%s); stopped %zu other running worker%s", jobs[failed].label, how, stopped,
                        stopped == 1 ? "" : "s");
    }
    if (fork_errno)
        return rr_error(err, RR_ERR_PROCESS, "cannot start a worker for %s: %s", jobs[next].label, strerror(fork_errno));
    return RR_OK;
}

int worker_orphaned(uint64_t parent)
{
    return (uint64_t)getppid() != parent;
}
