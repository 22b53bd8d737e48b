/* test_workers.c — worker processes (zoo/workers.c): exit statuses and signals reported with
 * the job's label, programs that cannot be run, at most `parallel` jobs at a time, arguments
 * passed without a shell, SIGTERM to the caller stopping the workers, and (Linux) workers
 * ending with their caller. The jobs are small sh scripts. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "test.h"

static void pause_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static char *sh_argv[8][4];

/* Job i runs "sh -c SCRIPT" with label "job i". */
static WorkerJob sh_job(int i, const char *script)
{
    static char labels[8][16];
    sh_argv[i][0] = "sh";
    sh_argv[i][1] = "-c";
    sh_argv[i][2] = (char *)script;
    sh_argv[i][3] = NULL;
    snprintf(labels[i], sizeof labels[i], "job %d", i);
    return (WorkerJob){sh_argv[i], labels[i], 0};
}

static void check_statuses(void)
{
    char err[RR_ERRLEN] = "";
    WorkerJob jobs[4] = {sh_job(0, "exit 0"), sh_job(1, "exit 0"), sh_job(2, "exit 0"), sh_job(3, "exit 0")};
    CHECK(workers_run(jobs, 4, 2, err) == RR_OK, "four jobs that succeed: %s", err);

    jobs[2] = sh_job(2, "exit 3");
    CHECK(workers_run(jobs, 4, 1, err) == RR_ERR_PROCESS && strstr(err, "job 2 failed (exit status 3)"), "exit status: %s", err);
    jobs[2] = sh_job(2, "kill -9 $$");
    CHECK(workers_run(jobs, 4, 4, err) == RR_ERR_PROCESS && strstr(err, "job 2 failed (killed by signal 9)"), "signal: %s", err);

    char *missing[] = {"build/no-such-program", NULL};
    WorkerJob lost = {missing, "the missing one", 0};
    CHECK(workers_run(&lost, 1, 1, err) == RR_ERR_PROCESS && strstr(err, "the missing one failed (exit status 127 (could not be run))"),
          "a program that cannot be run: %s", err);

    /* after a failure nothing more starts: job 1 fails at once, job 2 would leave a file */
    remove("build/wk-late");
    jobs[0] = sh_job(0, "exit 0");
    jobs[1] = sh_job(1, "exit 1");
    jobs[2] = sh_job(2, "touch build/wk-late");
    CHECK(workers_run(jobs, 3, 1, err) == RR_ERR_PROCESS && strstr(err, "job 1 failed"), "serial failure: %s", err);
    CHECK(access("build/wk-late", F_OK) != 0, "no job starts after one failed");

    /* arguments reach the program as they are: quotes, a semicolon, 9,000 characters */
    char *long_arg = malloc(9001);
    memset(long_arg, 'x', 9000);
    long_arg[9000] = '\0';
    char *args[] = {"sh", "-c", "[ \"$1\" = \"x'; touch build/wk-injected; echo '\" ] && [ ${#2} -eq 9000 ]", "sh",
                    "x'; touch build/wk-injected; echo '", long_arg, NULL};
    WorkerJob literal = {args, "literal", 0};
    remove("build/wk-injected");
    CHECK(workers_run(&literal, 1, 1, err) == RR_OK, "arguments passed unchanged: %s", err);
    CHECK(access("build/wk-injected", F_OK) != 0, "no shell interprets the arguments");
    free(long_arg);
}

/* Each job marks itself running in build/wk-running, waits, counts the marks, leaves: with
 * parallel = 2, no job can see more than 2. */
static void check_parallel_limit(void)
{
    char err[RR_ERRLEN] = "";
    if (system("rm -rf build/wk-running build/wk-counts && mkdir build/wk-running") != 0) printf("  cannot prepare build/wk-running\n");
    const char *script = "touch build/wk-running/$$; sleep 0.5; ls build/wk-running | wc -l >> build/wk-counts; sleep 0.2; "
                         "rm build/wk-running/$$";
    WorkerJob jobs[5];
    for (int i = 0; i < 5; i++) jobs[i] = sh_job(i, script);
    CHECK(workers_run(jobs, 5, 2, err) == RR_OK, "five jobs, two at a time: %s", err);
    FILE *f = fopen("build/wk-counts", "r");
    int count, most = 0, lines = 0;
    while (f && fscanf(f, "%d", &count) == 1) {
        most = count > most ? count : most;
        lines++;
    }
    if (f) fclose(f);
    CHECK(lines == 5 && most == 2, "every job ran, at most and at some time 2 at once (%d counts, most %d)", lines, most);
}

/* Waits up to 10 s for file path to hold a process id. */
static long read_pid(const char *path)
{
    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen(path, "r");
        long pid = 0;
        if (f) {
            int got = fscanf(f, "%ld", &pid);
            fclose(f);
            if (got == 1 && pid > 0) return pid;
        }
        pause_ms(10);
    }
    return 0;
}

/* Whether process pid has ended (gone, or a zombie nobody has reaped yet). */
static int ended(long pid)
{
    if (kill((pid_t)pid, 0) != 0) return errno == ESRCH;
#ifdef __linux__
    char path[64], stat[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(stat, 1, sizeof stat - 1, f) : 0;
    if (f) fclose(f);
    stat[n] = '\0';
    char *close = strrchr(stat, ')');
    return !f || (close && close[1] == ' ' && close[2] == 'Z');
#else
    return 0;
#endif
}

/* A caller process (forked here) runs two workers that would sleep for 30 s. */
static pid_t start_caller(void)
{
    remove("build/wk-pid-0");
    remove("build/wk-pid-1");
    remove("build/wk-caller-err");
    fflush(NULL);
    pid_t caller = fork();
    if (caller == 0) {
        char err[RR_ERRLEN] = "";
        WorkerJob jobs[2] = {sh_job(0, "echo $$ > build/wk-pid-0; exec sleep 30"), sh_job(1, "echo $$ > build/wk-pid-1; exec sleep 30")};
        int rc = workers_run(jobs, 2, 2, err);
        FILE *f = fopen("build/wk-caller-err", "w");
        if (f) fprintf(f, "%s\n", err), fclose(f);
        _exit(rc);
    }
    return caller;
}

/* Waits up to 10 s for process pid (a child of ours) to end; its status, or -1. */
static int wait_child(pid_t pid)
{
    int status;
    for (int i = 0; i < 1000; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) return status;
        pause_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static void check_interrupt(void)
{
    pid_t caller = start_caller();
    long w0 = read_pid("build/wk-pid-0"), w1 = read_pid("build/wk-pid-1");
    CHECK(w0 && w1, "both workers started");
    kill(caller, SIGTERM);
    int status = wait_child(caller);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == RR_ERR_PROCESS,
          "SIGTERM: the caller returns RR_ERR_PROCESS within 10 s (status %d)", status);
    char text[RR_ERRLEN] = "";
    FILE *f = fopen("build/wk-caller-err", "r");
    if (f) {
        if (!fgets(text, sizeof text, f)) text[0] = '\0';
        fclose(f);
    }
    CHECK(strstr(text, "interrupted by signal 15: stopped 2 running workers"), "interrupt message: %s", text);
    CHECK(w0 && w1 && ended(w0) && ended(w1), "the workers were stopped and waited for");
}

static void check_caller_death(void)
{
#ifdef __linux__
    pid_t caller = start_caller();
    long w0 = read_pid("build/wk-pid-0"), w1 = read_pid("build/wk-pid-1");
    CHECK(w0 && w1, "both workers started");
    kill(caller, SIGKILL);
    wait_child(caller);
    int gone = 0;
    for (int i = 0; i < 500 && !gone; i++, pause_ms(10)) gone = w0 && w1 && ended(w0) && ended(w1);
    CHECK(gone, "the workers end when their caller is killed (PR_SET_PDEATHSIG)");
    if (w0) kill((pid_t)w0, SIGKILL); /* when the check failed: no sleeper outlives the test */
    if (w1) kill((pid_t)w1, SIGKILL);
#endif
}

int main(void)
{
    mkdir("build", 0777);
    check_statuses();
    if (!IS_DOUBLE_BUILD) { /* timing-based: once is enough */
        check_parallel_limit();
        check_interrupt();
        check_caller_death();
    }
    return test_summary("test_workers");
}
