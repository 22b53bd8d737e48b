/* test_cli.c — the command line through the program: every command's options parsed by the
 * one parser (any order, --name=value, strict numbers with their ranges, empty and overlong
 * values, --help; --threads and RNNREP_THREADS), usage errors exit 2 with a message naming
 * the option, runtime errors 1, never a signal. Runs ./rnnrep (the float build), so the double build skips it.
 *
 * Issue 12's command-line rows are cases here: --batch 4611686018427387904, --seed
 * 99999999999999999999999, --runs / --steps 2^64-1, --jobs 0, --steps 10, --out "", and
 * 9,000-character arguments. Its worker rows are in test_zoo.c (the --mnist-dir injection, a
 * failing worker, --jobs on a directory holding a zoo, kill -9 of the --jobs parent) and
 * test_workers.c (arguments passed without a shell, 9,000 characters included); its zoo-file
 * rows in test_hostile.c. */
#define _POSIX_C_SOURCE 200809L
#include <sys/stat.h>
#include "cli.h"

static void check_numbers(void)
{
    expect("zoo formal --out build/cli-x --jobs 0", 2, "--jobs: 0 is out of range 1..256");
    expect("zoo formal --out build/cli-x --jobs 257", 2, "--jobs: 257 is out of range 1..256");
    expect("zoo formal --out build/cli-x --seed 99999999999999999999999", 2,
           "--seed: 99999999999999999999999 is larger than 18446744073709551615");
    expect("zoo formal --out build/cli-x --seed 18446744073709551616", 2, "is larger than 18446744073709551615");
    expect("zoo formal --out build/cli-x --batch 4611686018427387904", 2, "--batch: 4611686018427387904 is out of range 1..65536");
    expect("zoo formal --out build/cli-x --runs 18446744073709551615", 2, "--runs: 18446744073709551615 is out of range 1..1000000");
    expect("zoo formal --out build/cli-x --steps 18446744073709551615", 2, "--steps: 18446744073709551615 is out of range");
    expect("zoo formal --out build/cli-x --runs 2x", 2, "--runs wants a whole number, not '2x'");
    expect("zoo formal --out build/cli-x --runs ''", 2, "--runs wants a whole number, not ''");
    expect("zoo formal --out build/cli-x --runs ' 3'", 2, "--runs wants a whole number");
    expect("zoo formal --out build/cli-x --runs 0x10", 2, "--runs wants a whole number, not '0x10'");
    expect("zoo formal --out build/cli-x --runs -3", 2, "--runs wants a whole number without a sign, not '-3'");
    expect("zoo formal --out build/cli-x --seed=+5", 2, "--seed wants a whole number without a sign, not '+5'");
    expect("zoo formal --out build/cli-x --steps 10", 2, "give --steps 150 or more");
    expect("zoo formal --out build/cli-x --snapshots 1,2", 2, "--snapshots wants 9 whole numbers separated by ','");
    expect("zoo formal --out build/cli-x --snapshots 0,1,2,3,4,5,6,7,8,9", 2, "--snapshots wants 9 whole numbers");
    expect("zoo formal --out build/cli-x --snapshots 0,1,2,3,4,5,6,7,-8", 2, "--snapshots wants whole numbers without a sign");
    expect("zoo formal --out build/cli-x --slice 3", 2, "--slice wants 2 whole numbers separated by ':'");
    expect("zoo formal --out build/cli-x --slice 3:2", 2, "--slice 3:2 is not a non-empty part of the 4 runs");
    expect("zoo formal --out build/cli-x --slice 0:5", 2, "--slice 0:5 is not a non-empty part of the 4 runs");
}

static void check_text_and_form(void)
{
    expect("zoo formal --out ''", 2, "--out must not be empty");
    expect("zoo formal --out=", 2, "--out must not be empty");
    expect("zoo formal --out build/cli-x --mnist-dir ''", 2, "--mnist-dir must not be empty");
    expect("golden --out ''", 2, "--out must not be empty");
    expect("zoo merge --out '' a", 2, "--out must not be empty");
    expect("zoo formal --runs 3", 2, "--out is required");
    expect("zoo formal --out", 2, "--out needs a value");
    expect("zoo formal --out --jobs 2", 2, "--out needs a value, not the option '--jobs'");
    expect("zoo formal --out a --out b", 2, "--out given twice");
    expect("zoo formal --out a --resume=yes", 2, "--resume takes no value");
    expect("zoo formal --out a --bogus 3", 2, "unknown option '--bogus'");
    expect("zoo formal --out a --bogus=3", 2, "unknown option '--bogus'");
    expect("zoo formal --out a -x", 2, "unknown option '-x'");
    expect("zoo formal --out a stray", 2, "takes no arguments, not 'stray'");
    expect("zoo formal --out a --preset huge", 2, "unknown preset 'huge'");
    expect("zoo info", 2, "missing DIR");
    expect("zoo info a b", 2, "'b' is one argument too many");
    expect("zoo merge a b", 2, "--out is required");
    expect("zoo merge --out a", 2, "missing SLICE_DIR...");
    expect("zoo", 2, "usage: rnnrep zoo");
    expect("zoo nonsense", 2, "the first argument is formal, mnist, merge or info, not 'nonsense'");
    expect("models extra", 2, "rnnrep models: takes no arguments");
    expect("invariance --fast", 2, "rnnrep invariance: unknown option '--fast'");
    expect("bench nonsense", 2, "no benchmark matches 'nonsense'");
    expect("reproduce --out build/cli-x", 2, "--preset is required");
    expect("reproduce --preset huge --out build/cli-x", 2, "unknown preset 'huge' (tiny, small, paper)");
    expect("reproduce --preset tiny --out build/cli-x --zoo both2", 2, "--zoo: 'both2' is not formal, mnist or both");
    expect("reproduce --preset tiny --out build/cli-x --seeds 0", 2, "--seeds: 0 is out of range 1..1000");
    expect("golden --width paper", 2, "--width paper needs --out");
    expect("golden --width huge --out build/cli-x", 2, "--width: 'huge' is not reduced or paper");
    expect("report", 2, "missing DIR");
    expect("report build/cli-no-runs", 1, "no run with an evaluation");
    expect("nonsense", 2, "unknown command 'nonsense'");
    expect("", 2, "usage: rnnrep COMMAND");

    /* 9,000 characters: refused by length, before anything touches a file or a process */
    char *arg = malloc(9100);
    strcpy(arg, "zoo formal --jobs 2 --out build/");
    size_t n = strlen(arg);
    memset(arg + n, 'a', 9000);
    arg[n + 9000] = '\0';
    expect(arg, 2, "--out: 9006 characters, more than the 500 accepted");
    snprintf(arg, 9100, "zoo mnist --out build/cli-x --jobs 2 --mnist-dir ");
    n = strlen(arg);
    memset(arg + n, 'd', 9000);
    arg[n + 9000] = '\0';
    expect(arg, 2, "--mnist-dir: 9000 characters, more than the 511 accepted");
    free(arg);
}

/* Options in any order and in both forms, --help anywhere, runtime errors exit 1. */
static void check_order_and_help(void)
{
    expect("zoo formal --help", 0, NULL);
    CHECK(strstr(out_text, "usage: rnnrep zoo formal|mnist"), "zoo formal --help prints the zoo help: %.100s", out_text);
    expect("zoo formal --runs 2x --help", 0, NULL);
    expect("zoo --help", 0, NULL);
    expect("golden -h", 0, NULL);
    CHECK(strstr(out_text, "usage: rnnrep golden"), "golden -h: %.100s", out_text);
    expect("bench --help", 0, NULL);
    CHECK(strstr(out_text, "usage: rnnrep bench"), "bench --help: %.100s", out_text);
    expect("models --help", 0, NULL);
    expect("reproduce --help", 0, NULL);
    CHECK(strstr(out_text, "usage: rnnrep reproduce") && strstr(out_text, "small"), "reproduce --help: %.100s", out_text);
    expect("report -h", 0, NULL);
    CHECK(strstr(out_text, "usage: rnnrep report DIR"), "report -h: %.100s", out_text);
    expect("--help", 0, NULL);
    CHECK(strstr(out_text, "Exit status"), "rnnrep --help states the exit codes");

    /* the same option values in any order and form reach the same checks: a zoo run with
     * --out first, last or as --out=DIR stops at the same settings error */
    expect("zoo formal --out build/cli-x --runs 3 --snapshots 0,1,2,3,4,5,6,7,9 --steps 8", 2, "the last snapshot (9) must be the last step (8)");
    expect("zoo formal --runs=3 --snapshots=0,1,2,3,4,5,6,7,9 --steps=8 --out=build/cli-x", 2, "the last snapshot (9) must be the last step (8)");
    expect("zoo formal --steps 8 --snapshots 0,1,2,3,4,5,6,7,9 --out build/cli-x --runs 3", 2, "the last snapshot (9) must be the last step (8)");

    /* runtime errors: 1, with the file named */
    expect("zoo info build/no-such-zoo", 1, "build/no-such-zoo");
    expect("zoo info -- --looks-like-an-option", 1, "--looks-like-an-option");
}

/* The threads column of the gemm-lstm-fast line that `rnnrep bench` printed, or 0. */
static unsigned long bench_threads(void)
{
    char *tab = strstr(out_text, "gemm-lstm-fast\t");
    for (int k = 0; k < 3 && tab; k++) tab = strchr(tab + 1, '\t'); /* past name, ms, GFLOP/s */
    return tab ? strtoul(tab + 1, NULL, 10) : 0;
}

/* --threads on the commands that compute, and RNNREP_THREADS, through the one parser. */
static void check_threads(void)
{
    expect("bench --threads 0 gemm-lstm", 2, "--threads: 0 is out of range 1..256");
    expect("bench gemm-lstm --threads=257", 2, "--threads: 257 is out of range 1..256");
    expect("invariance --threads 2 --threads 3", 2, "--threads given twice");
    expect("zoo formal --out build/cli-x --threads", 2, "--threads needs a value");
    expect("models --threads 2", 2, "unknown option '--threads'");
    expect("zoo merge --out build/cli-x --threads 2 build/cli-y", 2, "unknown option '--threads'");
    rr_set_threads(3);
    unsigned long three = (unsigned long)rr_threads(); /* 3, or 1 without OpenMP */
    expect("bench --threads 3 gemm-lstm", 0, NULL);
    CHECK(bench_threads() == three, "bench --threads 3 ran on %lu threads, not %lu", bench_threads(), three);
    setenv("RNNREP_THREADS", "x2", 1);
    expect("bench gemm-lstm", 2, "RNNREP_THREADS wants a whole number, not 'x2'");
    setenv("RNNREP_THREADS", "0", 1);
    expect("bench gemm-lstm", 2, "RNNREP_THREADS: 0 is out of range 1..256");
    setenv("RNNREP_THREADS", "3", 1);
    expect("bench gemm-lstm", 0, NULL);
    CHECK(bench_threads() == three, "RNNREP_THREADS=3: bench ran on %lu threads, not %lu", bench_threads(), three);
    expect("bench --threads 1 gemm-lstm", 0, NULL); /* the option wins over the variable */
    CHECK(bench_threads() == 1, "--threads 1 with RNNREP_THREADS=3: bench ran on %lu threads", bench_threads());
    unsetenv("RNNREP_THREADS");
}

int main(void)
{
    if (IS_DOUBLE_BUILD) {
        printf("SKIP the command-line tests run once, in the float build (./rnnrep)\n");
        return test_summary("test_cli");
    }
    mkdir("build", 0777);
    check_numbers();
    check_text_and_form();
    check_order_and_help();
    check_threads();
    return test_summary("test_cli");
}
