/*
 * rnnrep.c — the command-line program: subcommands, options, progress and reports.
 * All computation lives in the library (autograd.c, models/, zoo/).
 */
#include <stdlib.h>
#include <string.h>

#include "rnnrep.h"

/* ========================================================================================
 * bench: one tab-separated line per benchmark: name, ms per iteration (median of repeats
 * after a warm-up), GFLOP/s.
 * ====================================================================================== */

typedef void (*BenchFn)(void *ctx);

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs fn until one repeat takes about 0.1 s, then 7 repeats; prints the median. */
static void bench_run(const char *name, double flops, BenchFn fn, void *ctx)
{
    enum { REPEATS = 7 };
    double times[REPEATS];
    long iters = 1;
    fn(ctx); /* warm-up */
    for (;;) {
        double t0 = rr_seconds();
        for (long i = 0; i < iters; i++) fn(ctx);
        double dt = rr_seconds() - t0;
        if (dt > 0.1 || iters > (1L << 24)) break;
        iters = dt > 0.01 ? (long)(iters * 0.12 / dt) + 1 : iters * 10;
    }
    for (int r = 0; r < REPEATS; r++) {
        double t0 = rr_seconds();
        for (long i = 0; i < iters; i++) fn(ctx);
        times[r] = (rr_seconds() - t0) / (double)iters;
    }
    qsort(times, REPEATS, sizeof times[0], cmp_double);
    double t = times[REPEATS / 2];
    printf("%s\t%.4f\t%.2f\n", name, 1e3 * t, flops > 0 ? flops / t * 1e-9 : 0.0);
    fflush(stdout);
}

typedef struct GemmBench {
    size_t M, N, K;
    real *A, *B, *C;
    int naive;
} GemmBench;

static void gemm_bench_fn(void *ctx)
{
    GemmBench *g = ctx;
    if (g->naive) gemm_naive(g->M, g->N, g->K, g->A, g->K, 0, g->B, g->N, 0, g->C, g->N);
    else gemm_fast(g->M, g->N, g->K, g->A, g->K, 0, g->B, g->N, 0, g->C, g->N);
}

static void bench_gemm(const char *name, size_t M, size_t N, size_t K)
{
    Rng rng;
    rng_seed(&rng, 1);
    GemmBench g = {M, N, K, NULL, NULL, NULL, 0};
    g.A = rr_malloc(M * K * sizeof(real), "bench A");
    g.B = rr_malloc(K * N * sizeof(real), "bench B");
    g.C = rr_calloc(M * N, sizeof(real), "bench C");
    for (size_t i = 0; i < M * K; i++) g.A[i] = (real)(rng_uniform(&rng) - 0.5);
    for (size_t i = 0; i < K * N; i++) g.B[i] = (real)(rng_uniform(&rng) - 0.5);
    char full[64];
    for (int naive = 0; naive < 2; naive++) {
        g.naive = naive;
        snprintf(full, sizeof full, "%s-%s", name, naive ? "naive" : "fast");
        bench_run(full, 2.0 * M * N * K, gemm_bench_fn, &g);
    }
    free(g.A);
    free(g.B);
    free(g.C);
}

/* A benchmark runs when no names are given or one of the names is a prefix of its name. */
static int selected(const char *name, int argc, char **argv)
{
    if (argc == 0) return 1;
    for (int i = 0; i < argc; i++)
        if (strncmp(name, argv[i], strlen(argv[i])) == 0) return 1;
    return 0;
}

static const char *const bench_names[] = {"gemm-256", "gemm-lstm"};

static int cmd_bench(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        int known = 0;
        for (size_t b = 0; b < sizeof bench_names / sizeof *bench_names; b++)
            known |= strncmp(bench_names[b], argv[i], strlen(argv[i])) == 0;
        if (!known) {
            fprintf(stderr, "rnnrep bench: no benchmark matches '%s' (see rnnrep bench --help)\n", argv[i]);
            return 2;
        }
    }
    printf("name\tms\tGFLOP/s\n");
    if (selected("gemm-256", argc, argv)) bench_gemm("gemm-256", 256, 256, 256);
    /* The zoo LSTM's gate product: (B=32, I+H=38) x (38, 4H=128). */
    if (selected("gemm-lstm", argc, argv)) bench_gemm("gemm-lstm", 32, 128, 38);
    return 0;
}

/* ========================================================================================
 * Commands and their help
 * ====================================================================================== */

typedef struct Command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    const char *help;
} Command;

static const Command commands[] = {
    {"bench", cmd_bench, "time the kernels (and later the models)",
     "usage: rnnrep bench [NAME...]\n"
     "\n"
     "Prints one tab-separated line per benchmark: name, milliseconds per iteration\n"
     "(median of 7 repeats after a warm-up) and GFLOP/s. A NAME selects every benchmark\n"
     "whose name starts with it. Benchmarks:\n"
     "  gemm-256-fast, gemm-256-naive    256x256x256 matrix product\n"
     "  gemm-lstm-fast, gemm-lstm-naive  32x38 times 38x128, the zoo LSTM's gate product\n"},
};
enum { NUM_COMMANDS = sizeof commands / sizeof commands[0] };

static void usage(FILE *f)
{
    fprintf(f, "usage: rnnrep COMMAND [OPTIONS]\n\n"
               "rnnrep %s: learning representations of RNN weight matrices (Herrmann,\n"
               "Faccio, Schmidhuber, ICML 2024), a C99 reference implementation.\n\n"
               "Commands:\n",
            RR_VERSION);
    for (int i = 0; i < NUM_COMMANDS; i++) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'rnnrep COMMAND --help' describes a command and its options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("rnnrep %s\n", RR_VERSION);
        return 0;
    }
    for (int i = 0; i < NUM_COMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name)) continue;
        for (int j = 2; j < argc; j++) {
            if (!strcmp(argv[j], "--help") || !strcmp(argv[j], "-h")) {
                fputs(commands[i].help, stdout);
                return 0;
            }
            if (argv[j][0] == '-') {
                fprintf(stderr, "rnnrep %s: unknown option '%s'\n\n%s", commands[i].name, argv[j], commands[i].help);
                return 2;
            }
        }
        return commands[i].run(argc - 2, argv + 2);
    }
    fprintf(stderr, "rnnrep: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
