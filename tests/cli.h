/* cli.h — the program run as a user runs it, for the tests of ./rnnrep (the float build; the
 * double build of such a test skips itself): ARGS split as a shell splits them, the exit status,
 * stdout and stderr. The includer defines _POSIX_C_SOURCE (system, getpid, WIFEXITED). */
#ifndef RNNREP_TEST_CLI_H
#define RNNREP_TEST_CLI_H
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "test.h"

static char out_text[1 << 16], err_text[1 << 16];

/* path into buf ('\0'-terminated, cut to len - 1 bytes), then path removed. */
static void take_text(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
    remove(path);
}

/* Runs "./rnnrep ARGS" and returns its exit status, or 128 + the signal that ended it; stdout
 * and stderr land in out_text and err_text. */
static int run(const char *args)
{
    char out[64], errs[64];
    snprintf(out, sizeof out, "build/cli-%ld-out.txt", (long)getpid());
    snprintf(errs, sizeof errs, "build/cli-%ld-err.txt", (long)getpid());
    size_t len = strlen(args) + 200;
    char *cmd = malloc(len);
    snprintf(cmd, len, "./rnnrep %s >%s 2>%s", args, out, errs);
    int status = system(cmd);
    free(cmd);
    take_text(out, out_text, sizeof out_text);
    take_text(errs, err_text, sizeof err_text);
    if (status == -1) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* "./rnnrep ARGS" exits with want_rc and its stderr contains want (when not NULL) and no
 * sanitizer report (which exits 1 too under `make debug`). */
static void expect(const char *args, int want_rc, const char *want)
{
    int rc = run(args);
    int sanitizer = strstr(err_text, "Sanitizer") || strstr(err_text, "runtime error:");
    CHECK(rc == want_rc && (!want || strstr(err_text, want)) && !sanitizer, "rnnrep %.200s: exit %d (want %d), stderr: %.300s%s%s",
          args, rc, want_rc, err_text, want ? " -- wanted: " : "", want ? want : "");
}
#endif
