/*
 * rnnrep.c — the command-line program: subcommands, options, progress and reports.
 * All computation lives in the library (autograd.c, models/, zoo/).
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>   /* clock: the CPU time of benchmarks */
#include <unistd.h> /* isatty: progress lines redraw on a terminal, and stay sparse in logs */

#include "rnnrep.h"

/* argv[0], to start worker processes of this same program (zoo --jobs). */
static const char *program_path = "rnnrep";

/* ========================================================================================
 * Options: one table-driven parser for every command.
 *
 * A command declares its options in a table and the number of its positional arguments;
 * parse_command_line reads argv the same way for all of them: options in any order and
 * between the arguments, "--name value" or "--name=value", flags without a value, "--" ends
 * the options, --help (or -h) prints the command's help. Numbers are decimal digits only (no
 * sign, no spaces, nothing after them) and must lie in the option's range; text must have
 * between min and max characters. A mistake prints one line that names the option and makes
 * the command exit with status 2 (usage); errors while running exit with 1. A command that
 * computes sets CommandLine.threads and so takes --threads N too (set_threads).
 *
 * A later command declares its table the same way; train, for example:
 *
 *     static int cmd_train(int argc, char **argv)
 *     {
 *         const char *zoo = NULL, *out = NULL, *encoder = "dws";
 *         size_t steps = 100000, batch = 64, jobs = 1;
 *         uint64_t seed = 1;
 *         int resume = 0, rc;
 *         Option options[] = {
 *             {.name = "--zoo", .type = OPT_TEXT, .value = &zoo, .min = 1, .max = PATH_CHARS, .required = 1},
 *             {.name = "--out", .type = OPT_TEXT, .value = &out, .min = 1, .max = PATH_CHARS, .required = 1},
 *             {.name = "--encoder", .type = OPT_TEXT, .value = &encoder, .min = 1, .max = 32},
 *             {.name = "--steps", .type = OPT_SIZE, .value = &steps, .min = 1, .max = 100000000},
 *             {.name = "--batch", .type = OPT_SIZE, .value = &batch, .min = 1, .max = 4096},
 *             {.name = "--seed", .type = OPT_U64, .value = &seed, .min = 0, .max = UINT64_MAX},
 *             {.name = "--jobs", .type = OPT_SIZE, .value = &jobs, .min = 1, .max = MAX_JOBS},
 *             {.name = "--resume", .type = OPT_FLAG, .value = &resume},
 *         };
 *         CommandLine cl = {.name = "rnnrep train", .help = train_help, .options = options, .noptions = COUNT(options)};
 *         if (!parse_command_line(&cl, argc, argv, &rc)) return rc;
 *         ...one call into zoo/, its error printed as "rnnrep train: <err>", exit 1...
 *     }
 * ====================================================================================== */

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
/* The longest path accepted on the command line: zoo/ builds file names in buffers of 1024
 * bytes (a zoo's slices and files add up to about 100 characters). */
enum { PATH_CHARS = 500 };
enum { MAX_JOBS = 256 };  /* worker processes of one command */
enum { EXIT_USAGE = 2 };  /* 0: success, 1: an error while running, 2: a usage error */

typedef enum OptionType {
    OPT_FLAG,   /* no value; sets an int to 1 */
    OPT_TEXT,   /* a const char * of min..max characters */
    OPT_SIZE,   /* a size_t in min..max */
    OPT_U64,    /* a uint64_t in min..max */
    OPT_SIZES,  /* `count` size_t values in min..max, separated by `separator` ("3:7") */
    OPT_REAL    /* a finite double in real_min..real_max (decimal or exponent notation) */
} OptionType;

typedef struct Option {
    const char *name;        /* "--jobs" */
    OptionType type;
    void *value;             /* int *, const char **, size_t *, uint64_t * or size_t[count]; kept
                                as it was when the option is not given (the default) */
    uint64_t min, max;       /* the accepted range (OPT_TEXT: of the length) */
    double real_min, real_max;  /* OPT_REAL */
    int count;               /* OPT_SIZES: at most 16 */
    char separator;          /* OPT_SIZES */
    int required;
    /* set by the parser */
    int given;
    const char *text;        /* the value as written (NULL for a flag) */
} Option;

/* The help line of --threads (set_threads), in the help of every command that takes it. */
#define THREADS_HELP                                                                             \
    "  --threads N        threads, 1..256 (default: RNNREP_THREADS, else OMP_NUM_THREADS, else\n" \
    "                     every core); the results are the same bit for bit at any count\n"

typedef struct CommandLine {
    const char *name;        /* "rnnrep zoo merge": begins every message */
    const char *help;        /* printed by --help */
    Option *options;
    size_t noptions;
    int threads;             /* 1: the command computes and takes --threads N (see set_threads) */
    const char *arguments;   /* the positional arguments for messages ("DIR"), or NULL for none */
    size_t min_args, max_args;
    const char **args;       /* room for max_args; the parser fills args[0 .. nargs) */
    size_t nargs;
} CommandLine;

static int usage_error(const CommandLine *cl, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int usage_error(const CommandLine *cl, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", cl->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see %s --help)\n", cl->name);
    return EXIT_USAGE;
}

/* The number at the start of text, which must end at `stop` ('\0', or a list's separator):
 * decimal digits only, within o's range. 0, or EXIT_USAGE after a message naming o.
 * *end: the character after the digits. */
static int parse_number(const CommandLine *cl, const Option *o, const char *text, char stop, uint64_t *value,
                        const char **end)
{
    const char *p = text;
    uint64_t v = 0;
    int overflow = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - digit) / 10) overflow = 1;
        else v = v * 10 + digit;
    }
    if (*text == '-' || *text == '+')
        return usage_error(cl, "%s wants %s without a sign, not '%s'", o->name,
                           o->type == OPT_SIZES ? "whole numbers" : "a whole number", o->text);
    if (p == text || *p != stop) {
        if (o->type == OPT_SIZES)
            return usage_error(cl, "%s wants %d whole numbers separated by '%c', not '%s'", o->name, o->count, o->separator, o->text);
        return usage_error(cl, "%s wants a whole number, not '%s'", o->name, o->text);
    }
    int digits = (int)(p - text);
    if (overflow) return usage_error(cl, "%s: %.*s is larger than %llu", o->name, digits, text, (unsigned long long)o->max);
    if (v < o->min || v > o->max)
        return usage_error(cl, "%s: %.*s is out of range %llu..%llu", o->name, digits, text, (unsigned long long)o->min,
                           (unsigned long long)o->max);
    *value = v;
    *end = p;
    return 0;
}

/* Stores option o's value from text; 0 or EXIT_USAGE (after the message). */
static int parse_value(const CommandLine *cl, Option *o, const char *text)
{
    uint64_t v = 0;
    const char *end;
    o->text = text;
    switch (o->type) {
    case OPT_FLAG:
        *(int *)o->value = 1;
        return 0;
    case OPT_TEXT: {
        size_t len = strlen(text);
        if (len < o->min) return usage_error(cl, "%s must not be empty", o->name);
        if (len > o->max) return usage_error(cl, "%s: %zu characters, more than the %llu accepted", o->name, len, (unsigned long long)o->max);
        *(const char **)o->value = text;
        return 0;
    }
    case OPT_SIZE:
    case OPT_U64:
        if (parse_number(cl, o, text, '\0', &v, &end)) return EXIT_USAGE;
        if (o->type == OPT_U64) *(uint64_t *)o->value = v;
        else *(size_t *)o->value = (size_t)v; /* o->max <= SIZE_MAX */
        return 0;
    case OPT_REAL: {
        char *stop;
        double x = strtod(text, &stop);
        if (stop == text || *stop || !isfinite(x) || isspace((unsigned char)text[0]))
            return usage_error(cl, "%s wants a number, not '%s'", o->name, text);
        if (x < o->real_min || x > o->real_max)
            return usage_error(cl, "%s: %s is out of range %g..%g", o->name, text, o->real_min, o->real_max);
        *(double *)o->value = x;
        return 0;
    }
    case OPT_SIZES: {
        size_t got[16];
        for (int k = 0; k < o->count; k++, text = end + 1) {
            if (parse_number(cl, o, text, k + 1 < o->count ? o->separator : '\0', &v, &end)) return EXIT_USAGE;
            got[k] = (size_t)v;
        }
        memcpy(o->value, got, (size_t)o->count * sizeof got[0]);
        return 0;
    }
    }
    return 0;
}

/* --threads N, which every command that computes accepts (CommandLine.threads), with the
 * same parsing as its own options. */
static size_t threads_value;
static Option threads_option = {.name = "--threads", .type = OPT_SIZE, .value = &threads_value, .min = 1, .max = RR_MAX_THREADS};
static const char threads_variable[] = "RNNREP_THREADS";

/* Whether the option called name (with its dashes) was given. */
static int given(const CommandLine *cl, const char *name)
{
    for (size_t k = 0; k < cl->noptions; k++)
        if (!strcmp(cl->options[k].name, name)) return cl->options[k].given;
    return cl->threads && !strcmp(name, threads_option.name) && threads_option.given;
}

/* The threads of this process (rr_set_threads): --threads N, else RNNREP_THREADS, else
 * OpenMP's default (OMP_NUM_THREADS, else every core). The results are the same bit for bit
 * at any count, so the default is the fastest on a machine of one's own. 0, or EXIT_USAGE
 * after a message when RNNREP_THREADS is not a number in 1..RR_MAX_THREADS. */
static int set_threads(const CommandLine *cl)
{
    const char *env = getenv(threads_variable);
    if (threads_option.given) {
        rr_set_threads(threads_value);
    } else if (env) {
        Option o = threads_option;
        o.name = threads_variable;
        o.text = env;
        const char *end;
        uint64_t v;
        if (parse_number(cl, &o, env, '\0', &v, &end)) return EXIT_USAGE;
        rr_set_threads((size_t)v);
    }
    return 0;
}

/* Before a command starts worker processes (--jobs): they already share the cores out, so
 * each worker (which inherits the environment) runs on one thread, unless this command was
 * given --threads N (then N each) or RNNREP_THREADS (inherited as it is). */
static void set_worker_threads(void)
{
    if (threads_option.given) {
        char text[32];
        snprintf(text, sizeof text, "%zu", threads_value);
        setenv(threads_variable, text, 1);
    } else if (!getenv(threads_variable)) {
        setenv(threads_variable, "1", 1);
    }
}

/* The words of command, then the options given on cl except those named in `except`, as
 * "--name=value" ("--name" for a flag): the argv of a worker that runs this same command on a
 * part of the work. NULL-terminated; every word is a copy, released by free_words. */
static char **worker_command(const CommandLine *cl, const char *const *command, size_t ncommand, const char *const *except,
                             size_t nexcept)
{
    char **words = rr_calloc(ncommand + cl->noptions + 1, sizeof *words, "worker arguments");
    size_t n = 0;
    for (size_t i = 0; i < ncommand; i++) {
        words[n] = rr_malloc(strlen(command[i]) + 1, "worker argument");
        strcpy(words[n++], command[i]);
    }
    for (size_t k = 0; k < cl->noptions; k++) {
        const Option *o = &cl->options[k];
        int skip = !o->given;
        for (size_t j = 0; j < nexcept; j++) skip |= !strcmp(o->name, except[j]);
        if (skip) continue;
        words[n] = rr_malloc(strlen(o->name) + (o->text ? strlen(o->text) + 1 : 0) + 1, "worker argument");
        if (o->text) sprintf(words[n++], "%s=%s", o->name, o->text);
        else strcpy(words[n++], o->name);
    }
    return words;
}

static void free_words(char **words)
{
    for (size_t i = 0; words[i]; i++) free(words[i]);
    free(words);
}

/* Reads argv (the words after the command's name) into cl's options and arguments. Returns 1
 * when the command should run; 0 when it should return *exit_code at once: 0 after --help,
 * EXIT_USAGE after a message on stderr. Parsing the same argv again gives the same result. */
static int parse_command_line(CommandLine *cl, int argc, char **argv, int *exit_code)
{
    int options_end = argc;
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--")) {
            options_end = i;
            break;
        }
    for (int i = 0; i < options_end; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(cl->help, stdout);
            return *exit_code = 0, 0;
        }
    *exit_code = EXIT_USAGE;
    cl->nargs = 0;
    for (size_t k = 0; k < cl->noptions; k++) {
        cl->options[k].given = 0;
        cl->options[k].text = NULL;
    }
    threads_option.given = 0;
    threads_option.text = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (i == options_end) continue;
        if (i > options_end || a[0] != '-' || a[1] == '\0') { /* an argument ("-" is one too) */
            if (cl->nargs == cl->max_args) {
                if (cl->max_args == 0) return usage_error(cl, "takes no arguments, not '%s'", a), 0;
                return usage_error(cl, "'%s' is one argument too many (wants %s)", a, cl->arguments), 0;
            }
            cl->args[cl->nargs++] = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        Option *o = NULL;
        for (size_t k = 0; k < cl->noptions; k++)
            if (strlen(cl->options[k].name) == len && !strncmp(cl->options[k].name, a, len)) o = &cl->options[k];
        if (!o && cl->threads && strlen(threads_option.name) == len && !strncmp(threads_option.name, a, len)) o = &threads_option;
        if (!o) return usage_error(cl, "unknown option '%.*s'", (int)len, a), 0;
        if (o->given) return usage_error(cl, "%s given twice", o->name), 0;
        o->given = 1;
        const char *value = eq ? eq + 1 : NULL;
        if (o->type == OPT_FLAG && value) return usage_error(cl, "%s takes no value", o->name), 0;
        if (o->type != OPT_FLAG && !value) {
            if (i + 1 >= options_end) return usage_error(cl, "%s needs a value", o->name), 0;
            value = argv[++i];
            /* "--out --jobs 2" is a forgotten value, not a directory named "--jobs" */
            if (value[0] == '-' && value[1] == '-')
                return usage_error(cl, "%s needs a value, not the option '%s' (write %s=%s if you mean it)", o->name, value, o->name, value), 0;
        }
        if (parse_value(cl, o, value)) return 0;
    }
    for (size_t k = 0; k < cl->noptions; k++)
        if (cl->options[k].required && !cl->options[k].given) return usage_error(cl, "%s is required", cl->options[k].name), 0;
    if (cl->nargs < cl->min_args) return usage_error(cl, "missing %s", cl->arguments), 0;
    if (cl->threads && set_threads(cl)) return 0;
    return *exit_code = 0, 1;
}

/* ========================================================================================
 * bench: one tab-separated line per benchmark. The columns (new ones are added at the end):
 *   name     the benchmark
 *   ms       wall-clock milliseconds per call (median of repeats after a warm-up)
 *   GFLOP/s  flops per call / wall time (0 when not counted)
 *   threads  rr_threads() during the run
 *   cpu_ms   process CPU milliseconds per call, all threads together (under load, the
 *            better measure of the work: it leaves out the time spent waiting for a core)
 *   GFLOP    flops per call (0 when not counted)
 *   of_gemm  GFLOP/s as a fraction of gemm-256-fast's, timed in the same run
 * ====================================================================================== */

typedef void (*BenchFn)(void *ctx);

typedef struct BenchTime {
    double wall, cpu;          /* seconds per call */
} BenchTime;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* After two warm-up calls, finds how many calls take about 0.1 s, then times 7 such repeats
 * (3 single calls when one call takes over a second); the medians per call. */
static BenchTime bench_time(BenchFn fn, void *ctx)
{
    double wall[7], cpu[7], t0;
    long iters = 1;
    fn(ctx); /* warm-up: the first call sizes the tape's arena, the second settles in it */
    t0 = rr_seconds();
    fn(ctx);
    int repeats = rr_seconds() - t0 > 1.0 ? 3 : 7;
    while (repeats == 7) {
        t0 = rr_seconds();
        for (long i = 0; i < iters; i++) fn(ctx);
        double dt = rr_seconds() - t0;
        if (dt > 0.1 || iters > (1L << 24)) break;
        iters = dt > 0.01 ? (long)(iters * 0.12 / dt) + 1 : iters * 10;
    }
    for (int r = 0; r < repeats; r++) {
        double start = rr_seconds();
        clock_t c0 = clock();
        for (long i = 0; i < iters; i++) fn(ctx);
        wall[r] = (rr_seconds() - start) / (double)iters;
        cpu[r] = (double)(clock() - c0) / CLOCKS_PER_SEC / (double)iters;
    }
    qsort(wall, (size_t)repeats, sizeof wall[0], cmp_double);
    qsort(cpu, (size_t)repeats, sizeof cpu[0], cmp_double);
    BenchTime t = {wall[repeats / 2], cpu[repeats / 2]};
    return t;
}

/* gemm-256-fast's GFLOP/s in this run (the reference of of_gemm), once it has run. */
static double gemm_reference;

static void bench_print(const char *name, BenchTime t, double flops)
{
    double rate = flops > 0 ? flops / t.wall * 1e-9 : 0.0;
    printf("%s\t%.4f\t%.2f\t%zu\t%.4f\t%.4f\t%.3f\n", name, 1e3 * t.wall, rate, rr_threads(), 1e3 * t.cpu, flops * 1e-9,
           gemm_reference > 0 ? rate / gemm_reference : 0.0);
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

/* name-fast, then name-naive unless fast_only; gemm-256-fast sets the reference. */
static void bench_gemm(const char *name, size_t M, size_t N, size_t K, int fast_only)
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
    for (int naive = 0; naive < 2 - fast_only; naive++) {
        g.naive = naive;
        snprintf(full, sizeof full, "%s-%s", name, naive ? "naive" : "fast");
        BenchTime t = bench_time(gemm_bench_fn, &g);
        if (!naive && !strcmp(name, "gemm-256")) gemm_reference = 2.0 * M * N * K / t.wall * 1e-9;
        bench_print(full, t, 2.0 * M * N * K);
    }
    free(g.A);
    free(g.B);
    free(g.C);
}

/* The flops of the products on a tape after a training step: forward and backward. */
static double step_flops(const Tape *t)
{
    double forward, backward;
    tape_flops(t, &forward, &backward);
    return forward + backward;
}

/* One emulation training step at the paper's configuration: batch 64, one stored sequence
 * each, encoder + emulator forward and backward, AdamW. Random θ from PyTorch's init.
 * Its flops are those of the matrix products, counted by tape_flops from the shapes on the
 * step's tape: the emulator's (the input and output projections, and per LSTM layer the input
 * product x W_ih^T over B T rows and the recurrent h W_hh^T over B (T - 1)), in the forward
 * and once more for each operand with a gradient in the backward (about 3 times the forward
 * for the LSTM layers), plus the encoder's products counted the same way. Elementwise work
 * (the cells' exp and tanh, AdamW) is not counted, so the rate is that of the products. */
typedef struct StepBench {
    EmulationTrainer trainer;
    EmulationBatch batch;
} StepBench;

static void step_bench_fn(void *ctx)
{
    StepBench *s = ctx;
    emulation_step(&s->trainer, &s->batch);
}

/* theta (B, P): B zoo RNNs with PyTorch's default initialisation. */
static real *random_zoo_thetas(ZooShape z, size_t B, Rng *rng)
{
    real *theta = rr_malloc(B * zoo_num_params(z) * sizeof(real), "zoo parameters");
    zoo_lstm_init_batch(z, B, rng, theta);
    return theta;
}

static void bench_step(EncoderKind kind, ZooShape z, const char *task)
{
    enum { B = 64 };
    size_t T = zoo_reads_tiles(z) ? 50 : 41;
    Rng rng;
    rng_seed(&rng, 3);
    EncoderConfig cfg = encoder_config_paper(kind, z);
    Encoder enc;
    Emulator em;
    encoder_init(&enc, &cfg, &rng);
    EmulatorConfig ec = emulator_config_paper(z);
    emulator_init(&em, &ec, &rng);
    StepBench s;
    emulation_trainer_init(&s.trainer, &enc, &em, 4);
    real *theta = random_zoo_thetas(z, B, &rng);
    real *x = rr_malloc((size_t)B * T * z.I * sizeof(real), "bench inputs");
    real *y = rr_malloc((size_t)B * T * z.O * sizeof(real), "bench targets");
    for (size_t i = 0; i < (size_t)B * T * z.I; i++) x[i] = (real)rng_uniform(&rng);
    for (size_t i = 0; i < (size_t)B * T * z.O; i++) y[i] = (real)rng_normal(&rng);
    s.batch = (EmulationBatch){B, T, theta, x, y};
    char name[64];
    snprintf(name, sizeof name, "step-%s-%s", encoder_facts[kind].name, task);
    BenchTime t = bench_time(step_bench_fn, &s);
    bench_print(name, t, step_flops(&s.trainer.tape));  /* the tape holds the last step */
    emulation_trainer_free(&s.trainer);
    encoder_free(&enc);
    emulator_free(&em);
    free(theta);
    free(x);
    free(y);
}

/* One training update of a zoo RNN at the paper's configuration: batch 32, 41 steps
 * (formal languages, one-hot tokens) or 50 steps (MNIST tiles); flops as for the emulation
 * step, from its tape. */
typedef struct ZooStepBench {
    ZooLstm model;
    Tape tape;
    AdamW opt;
    real *x;
    int32_t *labels;
    size_t B, T;
} ZooStepBench;

static void zoo_step_bench_fn(void *ctx)
{
    ZooStepBench *s = ctx;
    zoo_lstm_train_step(&s->model, &s->tape, &s->opt, s->x, s->labels, s->B, s->T);
}

static void bench_zoo_step(const char *name, ZooShape z, size_t T)
{
    ZooStepBench s;
    Rng rng;
    rng_seed(&rng, 5);
    s.B = 32;
    s.T = T;
    zoo_lstm_init(&s.model, z, &rng);
    tape_init(&s.tape);
    s.opt = adamw_default();
    s.opt.lr = 0.01;
    s.opt.weight_decay = 1e-4;
    s.x = rr_calloc(s.B * T * z.I, sizeof(real), "bench inputs");
    s.labels = rr_malloc(s.B * T * sizeof(int32_t), "bench labels");
    for (size_t i = 0; i < s.B * T; i++) {
        s.labels[i] = (int32_t)rng_below(&rng, z.O);
        if (z.I == z.O) s.x[i * z.I + rng_below(&rng, z.I)] = 1; /* one-hot tokens */
        else for (size_t k = 0; k < z.I; k++) s.x[i * z.I + k] = (real)rng_normal(&rng);
    }
    BenchTime t = bench_time(zoo_step_bench_fn, &s);
    bench_print(name, t, step_flops(&s.tape));
    zoo_lstm_free(&s.model);
    tape_free(&s.tape);
    free(s.x);
    free(s.labels);
}

/* A group of benchmarks (gemm-256 times both kernels) runs when no names are given, or a
 * name is a prefix of the group's name, or the group's name is a prefix of a name. */
static int matches(const char *group, const char *arg)
{
    return !strncmp(group, arg, strlen(arg)) || !strncmp(arg, group, strlen(group));
}

static int selected(const char *group, const char *const *names, size_t n)
{
    if (n == 0) return 1;
    for (size_t i = 0; i < n; i++)
        if (matches(group, names[i])) return 1;
    return 0;
}

/* The groups cmd_bench knows, for checking its arguments. */
static const char *const bench_names[] = {
    "gemm-256", "gemm-lstm", "zoo-step-formal", "zoo-step-mnist",
    "step-stats-formal", "step-flat-formal", "step-transformer-formal", "step-dws-formal",
    "step-noninteractive-formal", "step-interactive-formal",
    "step-stats-mnist", "step-flat-mnist", "step-transformer-mnist", "step-dws-mnist",
    "step-noninteractive-mnist", "step-interactive-mnist",
};

static const char bench_help[] =
    "usage: rnnrep bench [--threads N] [NAME...]\n"
    "\n"
    "Prints one tab-separated line per benchmark, under a header line: name; ms, wall-clock\n"
    "milliseconds per call (median of 7 repeats after two warm-up calls; 3 repeats for calls\n"
    "over a second); GFLOP/s where the flops are counted (else 0); threads; cpu_ms, the\n"
    "process's CPU milliseconds per call over all threads; GFLOP per call; of_gemm, the\n"
    "GFLOP/s as a fraction of gemm-256-fast's in the same run (timed first whenever a step\n"
    "is). A step's flops are those of its matrix products, forward and backward, counted from\n"
    "the shapes on its tape. A NAME selects every benchmark whose name starts with it (the\n"
    "fast and naive kernels are timed together). Float. Benchmarks:\n"
    "  gemm-256-fast, gemm-256-naive    256x256x256 matrix product\n"
    "  gemm-lstm-fast, gemm-lstm-naive  32x38 times 38x128, the zoo LSTM's gate product\n"
    "  zoo-step-formal, zoo-step-mnist  one AdamW update of a zoo RNN: batch 32, 41 / 50 steps\n"
    "  step-ENCODER-formal, step-ENCODER-mnist   one emulation training step at the paper's\n"
    "                     configuration (batch 64, encoder + emulator forward and backward,\n"
    "                     AdamW) for ENCODER in stats, flat, transformer, dws,\n"
    "                     noninteractive, interactive. The transformer needs about 1.4 GB.\n"
    "\n"
    "options:\n"
    THREADS_HELP;

static int cmd_bench(int argc, char **argv)
{
    const char *names[64];
    int rc;
    CommandLine cl = {.name = "rnnrep bench", .help = bench_help, .arguments = "NAME...", .max_args = COUNT(names), .args = names, .threads = 1};
    if (!parse_command_line(&cl, argc, argv, &rc)) return rc;
    size_t n = cl.nargs;
    for (size_t i = 0; i < n; i++) {
        int known = 0;
        for (size_t b = 0; b < COUNT(bench_names); b++) known |= matches(bench_names[b], names[i]);
        if (!known) return usage_error(&cl, "no benchmark matches '%s'", names[i]);
    }
    int steps = 0; /* whether a step is selected: it needs the reference */
    for (size_t b = 0; b < COUNT(bench_names); b++)
        steps |= strstr(bench_names[b], "step-") && selected(bench_names[b], names, n);
    printf("name\tms\tGFLOP/s\tthreads\tcpu_ms\tGFLOP\tof_gemm\n");
    if (selected("gemm-256", names, n)) bench_gemm("gemm-256", 256, 256, 256, 0);
    else if (steps) bench_gemm("gemm-256", 256, 256, 256, 1);
    /* The zoo LSTM's gate product: (B=32, I+H=38) x (38, 4H=128). */
    if (selected("gemm-lstm", names, n)) bench_gemm("gemm-lstm", 32, 128, 38, 0);
    if (selected("zoo-step-formal", names, n)) bench_zoo_step("zoo-step-formal", ZOO_FORMAL, 41);
    if (selected("zoo-step-mnist", names, n)) bench_zoo_step("zoo-step-mnist", ZOO_MNIST, 50);
    for (int task = 0; task < 2; task++)
        for (int k = 0; k < ENC_COUNT; k++) {
            char name[64];
            snprintf(name, sizeof name, "step-%s-%s", encoder_facts[k].name, task ? "mnist" : "formal");
            if (selected(name, names, n)) bench_step((EncoderKind)k, task ? ZOO_MNIST : ZOO_FORMAL, task ? "mnist" : "formal");
        }
    return 0;
}

/* ========================================================================================
 * models: the encoders' table of the paper's poster, with parameter counts computed by
 * building each network at the paper's configuration.
 * ====================================================================================== */

static size_t encoder_param_count(EncoderKind kind, ZooShape z)
{
    Rng rng;
    rng_seed(&rng, 0);
    EncoderConfig cfg = encoder_config_paper(kind, z);
    Encoder enc;
    encoder_init(&enc, &cfg, &rng);
    size_t n = enc.params.n;
    encoder_free(&enc);
    return n;
}

static const char models_help[] =
    "usage: rnnrep models\n"
    "\n"
    "Prints the encoders' table of the paper's poster for both zoo shapes (formal languages\n"
    "I = O = 6; sequential MNIST I = 16, O = 10): type, invariance to hidden-neuron\n"
    "permutations, universality, and the parameter count at the paper's configuration,\n"
    "counted by building each network; then the zoo LSTM's and the emulator's counts.\n";

static int cmd_models(int argc, char **argv)
{
    int rc;
    CommandLine cl = {.name = "rnnrep models", .help = models_help};
    if (!parse_command_line(&cl, argc, argv, &rc)) return rc;
    Rng rng;
    rng_seed(&rng, 0);
    ZooLstm zf, zm;
    Emulator ef, emm;
    zoo_lstm_init(&zf, ZOO_FORMAL, &rng);
    zoo_lstm_init(&zm, ZOO_MNIST, &rng);
    EmulatorConfig cf = emulator_config_paper(ZOO_FORMAL), cm = emulator_config_paper(ZOO_MNIST);
    emulator_init(&ef, &cf, &rng);
    emulator_init(&emm, &cm, &rng);
    printf("%-16s %-14s %-10s %-10s %12s %12s\n", "network", "type", "invariant", "universal", "formal", "mnist");
    for (int k = 0; k < ENC_COUNT; k++)
        printf("%-16s %-14s %-10s %-10s %12zu %12zu\n", encoder_facts[k].name, encoder_facts[k].type,
               encoder_facts[k].invariant ? "yes" : "no", encoder_facts[k].universal ? "yes" : "no",
               encoder_param_count((EncoderKind)k, ZOO_FORMAL), encoder_param_count((EncoderKind)k, ZOO_MNIST));
    printf("%-16s %-14s %-10s %-10s %12zu %12zu\n", "zoo-lstm", "(the RNN)", "-", "-", zf.params.n, zm.params.n);
    printf("%-16s %-14s %-10s %-10s %12zu %12zu\n", "emulator", "(decoder)", "-", "-", ef.params.n, emm.params.n);
    zoo_lstm_free(&zf);
    zoo_lstm_free(&zm);
    emulator_free(&ef);
    emulator_free(&emm);
    return 0;
}

/* ========================================================================================
 * invariance: how much each encoder's embedding moves when the hidden neurons of θ are
 * permuted (a function-preserving change, SPEC.md §1).
 * ====================================================================================== */

/* encoder_permutation_change at the paper's configuration, over 4 random zoo RNNs. */
static double invariance_change(EncoderKind kind, ZooShape z, Rng *rng)
{
    enum { B = 4 };
    EncoderConfig cfg = encoder_config_paper(kind, z);
    Encoder enc;
    encoder_init(&enc, &cfg, rng);
    real *theta = random_zoo_thetas(z, B, rng);
    double change = encoder_permutation_change(&enc, theta, B, rng);
    free(theta);
    encoder_free(&enc);
    return change;
}

static const char invariance_help[] =
    "usage: rnnrep invariance\n"
    "\n"
    "For each encoder at the paper's configuration (random initialisation) and a batch of\n"
    "4 randomly initialised zoo RNNs, prints max |E(θ) - E(πθ)| / max |E(θ)|, where π is a\n"
    "random permutation of the hidden neurons of each LSTM layer (SPEC.md §1). Invariant\n"
    "encoders show rounding error only (about 1e-7 in float).\n"
    "\n"
    "options:\n"
    THREADS_HELP;

static int cmd_invariance(int argc, char **argv)
{
    int rc;
    CommandLine cl = {.name = "rnnrep invariance", .help = invariance_help, .threads = 1};
    if (!parse_command_line(&cl, argc, argv, &rc)) return rc;
    Rng rng;
    rng_seed(&rng, 11);
    printf("%-16s %-10s %14s %14s\n", "encoder", "invariant", "formal", "mnist");
    for (int k = 0; k < ENC_COUNT; k++) {
        double f = invariance_change((EncoderKind)k, ZOO_FORMAL, &rng);
        double m = invariance_change((EncoderKind)k, ZOO_MNIST, &rng);
        printf("%-16s %-10s %14.3e %14.3e\n", encoder_facts[k].name, encoder_facts[k].invariant ? "yes" : "no", f, m);
    }
    printf("(max relative change of E(θ) under a random hidden-neuron permutation of θ)\n");
    return 0;
}

/* ========================================================================================
 * zoo: generate, merge and describe model zoos
 * ====================================================================================== */

/* Progress on stderr: redrawn in place on a terminal; in a log, one line per run at most
 * every 30 seconds (and the last one). */
typedef struct Progress {
    const char *label;
    double start, last_print;
    int tty;
    size_t steps_per_run;       /* learnt from the first report of a run */
    uint64_t parent;            /* a worker's parent process (--parent), or 0 */
} Progress;

static const char orphan_message[] = "the parent process has ended: stopping this worker (its slice continues with --resume)";

static void progress_report(void *ctx, size_t runs_done, size_t runs_total, size_t step, size_t steps_per_run)
{
    Progress *p = ctx;
    if (p->parent && worker_orphaned(p->parent)) { /* every 100 steps: the complete runs are safe */
        fprintf(stderr, "%s: %s\n", p->label, orphan_message);
        exit(1);
    }
    double now = rr_seconds(), elapsed = now - p->start;
    int run_finished = steps_per_run == 0;
    if (steps_per_run) p->steps_per_run = steps_per_run;
    if (!p->tty && !(run_finished && (now - p->last_print >= 30 || runs_done == runs_total))) return;
    if (p->tty && !run_finished && now - p->last_print < 0.5) return;
    double per_run = (double)p->steps_per_run, done = (double)runs_done * per_run + (double)step;
    double rate = elapsed > 0 ? done / elapsed : 0, left = rate > 0 ? ((double)runs_total * per_run - done) / rate : 0;
    fprintf(stderr, "%s%s runs %zu/%zu  %.0f steps/s  elapsed %.0fs  left %.0fs%s", p->tty ? "\r" : "", p->label, runs_done,
            runs_total, rate, elapsed, left, p->tty ? "   " : "\n");
    if (p->tty && runs_done == runs_total) fputc('\n', stderr);
    fflush(stderr);
    p->last_print = now;
}

static const char zoo_help[] =
    "usage: rnnrep zoo formal|mnist --out DIR [options]    generate a model zoo\n"
    "       rnnrep zoo merge --out DIR SLICE_DIR...         join slices, in run order\n"
    "       rnnrep zoo info DIR                             describe a zoo (ours or released)\n"
    "\n"
    "Each run trains the zoo RNN (2-layer LSTM, H = 32) on its own task with AdamW (lr\n"
    "piecewise linear 0.01 -> 0.003 -> 0.0003) and stores 9 snapshots in the layout of the\n"
    "released zoos (SPEC.md §2.3). The same seed gives bit-identical files whatever the\n"
    "slicing and job count.\n"
    "\n"
    "options:\n"
    "  --out DIR          the zoo directory (required)\n"
    "  --preset NAME      paper (1000 runs x 20000 steps), small (48 formal / 24 MNIST runs\n"
    "                     x 4000 steps, about ten minutes with --jobs 2), tiny (4 x 200);\n"
    "                     default tiny. Snapshot steps scale with the steps.\n"
    "  --runs N           1..1000000\n"
    "  --steps N          1..100000000 (at least 150 unless --snapshots is given)\n"
    "  --snapshots S0,...,S8   the 9 snapshot steps (increasing, the last = --steps)\n"
    "  --seed N           0..18446744073709551615\n"
    "  --batch N          1..65536 (32)\n"
    "  --samples N        formal: rollouts for the accuracy, 1..1000000 (1000)\n"
    "  --stored N         rollouts / images stored per snapshot, 1..100000 (100)\n"
    "  --eval-batches N   MNIST: evaluation batches per metric, 1..1000 (13 in paper)\n"
    "  --eval-batch N     MNIST: images per evaluation batch, 1..100000 (1000)\n"
    "  --mnist-dir DIR    MNIST IDX files (train-images-idx3-ubyte, ...); default the\n"
    "                     vendored 10,000 digits: PREFIX/share/rnnrep/mnist10k as make\n"
    "                     install put them, else zoo/data/mnist10k in the source tree\n"
    "  --slice A:B        generate runs A..B-1 only (merge slices with 'rnnrep zoo merge')\n"
    "  --jobs N           N worker processes (1..256), each a slice; merged into DIR at the end\n"
    "  --threads N        threads of this process or of each worker, 1..256 (default 1, else\n"
    "                     RNNREP_THREADS: the runs are parallel with --jobs); the files are the\n"
    "                     same bit for bit at any count\n"
    "  --resume           continue an interrupted generation in DIR\n"
    "  --parent PID       (given by --jobs to its workers) stop when process PID has ended\n"
    "\n"
    "Options may come in any order, as --name value or --name=value.\n";

/* The fewest steps from which the paper's snapshot steps, scaled, increase (or 0 if none up
 * to the paper's 20000 does: another setting is wrong then). */
static size_t fewest_scalable_steps(const ZooSettings *s)
{
    ZooSettings t = *s;
    for (t.steps = 1; t.steps <= 20000; t.steps++) {
        zoo_scale_snapshots(&t);
        if (zoo_settings_check(&t, NULL) == RR_OK) return t.steps;
    }
    return 0;
}

static int zoo_generate_command(ZooKind kind, const char *name, int argc, char **argv)
{
    ZooSettings s;
    const char *preset = "tiny", *out = NULL, *mnist_dir = NULL;
    size_t slice[2] = {0, 0}, jobs = 1;
    uint64_t parent = 0;
    int resume = 0, rc;
    char err[RR_ERRLEN];
    Option options[] = {
        {.name = "--out", .type = OPT_TEXT, .value = &out, .min = 1, .max = PATH_CHARS, .required = 1},
        {.name = "--preset", .type = OPT_TEXT, .value = &preset, .min = 1, .max = sizeof s.preset - 1},
        {.name = "--runs", .type = OPT_SIZE, .value = &s.runs, .min = 1, .max = 1000000},
        {.name = "--steps", .type = OPT_SIZE, .value = &s.steps, .min = 1, .max = 100000000},
        {.name = "--snapshots", .type = OPT_SIZES, .value = s.snapshot, .min = 0, .max = 100000000, .count = ZOO_SNAPSHOTS, .separator = ','},
        {.name = "--seed", .type = OPT_U64, .value = &s.seed, .min = 0, .max = UINT64_MAX},
        {.name = "--batch", .type = OPT_SIZE, .value = &s.batch, .min = 1, .max = 65536},
        {.name = "--samples", .type = OPT_SIZE, .value = &s.samples, .min = 1, .max = 1000000},
        {.name = "--stored", .type = OPT_SIZE, .value = &s.stored, .min = 1, .max = 100000},
        {.name = "--eval-batches", .type = OPT_SIZE, .value = &s.eval_batches, .min = 1, .max = 1000},
        {.name = "--eval-batch", .type = OPT_SIZE, .value = &s.eval_batch, .min = 1, .max = 100000},
        {.name = "--mnist-dir", .type = OPT_TEXT, .value = &mnist_dir, .min = 1, .max = sizeof s.mnist_dir - 1},
        {.name = "--slice", .type = OPT_SIZES, .value = slice, .min = 0, .max = 1000000, .count = 2, .separator = ':'},
        {.name = "--jobs", .type = OPT_SIZE, .value = &jobs, .min = 1, .max = MAX_JOBS},
        {.name = "--resume", .type = OPT_FLAG, .value = &resume},
        {.name = "--parent", .type = OPT_U64, .value = &parent, .min = 1, .max = UINT64_MAX},
    };
    CommandLine cl = {.name = name, .help = zoo_help, .options = options, .noptions = COUNT(options), .threads = 1};
    /* The preset sets every default: the first reading finds it, the second lays the options
     * over the preset's settings. */
    memset(&s, 0, sizeof s);
    if (!parse_command_line(&cl, argc, argv, &rc)) return rc;
    if (zoo_settings_preset(&s, kind, preset, err)) return usage_error(&cl, "%s", err);
    parse_command_line(&cl, argc, argv, &rc);
    if (mnist_dir) snprintf(s.mnist_dir, sizeof s.mnist_dir, "%s", mnist_dir);
    if (given(&cl, "--steps") && !given(&cl, "--snapshots")) {
        zoo_scale_snapshots(&s);
        size_t fewest = fewest_scalable_steps(&s);
        if (s.steps < fewest)
            return usage_error(&cl, "--steps %zu is too few for the paper's 9 snapshot steps scaled to it (they would not all "
                               "differ): give --steps %zu or more, or the 9 steps with --snapshots S0,...,S8", s.steps, fewest);
    }
    if (zoo_settings_check(&s, err)) return usage_error(&cl, "%s", err);
    /* A zoo's runs are parallel in worker processes (--jobs); a zoo RNN's step (B = 32, H = 32)
     * is too small to share out, and on a busy machine threads waiting for each other make it
     * many times slower: one thread unless told otherwise. */
    if (!given(&cl, "--threads") && !getenv(threads_variable)) rr_set_threads(1);
    size_t first = 0, last = s.runs;
    if (given(&cl, "--slice")) {
        first = slice[0];
        last = slice[1];
        if (first >= last || last > s.runs)
            return usage_error(&cl, "--slice %zu:%zu is not a non-empty part of the %zu runs 0:%zu", first, last, s.runs, s.runs);
    }
    if (jobs > 1 && last - first > 1) {
        /* each worker: this command with the options given here, less those placing a slice */
        const char *command[] = {program_path, "zoo", kind == ZOO_KIND_FORMAL ? "formal" : "mnist"};
        const char *placing[] = {"--out", "--slice", "--jobs", "--resume", "--parent"};
        char **worker = worker_command(&cl, command, COUNT(command), placing, COUNT(placing));
        set_worker_threads();
        rc = zoo_generate_jobs(&s, out, first, last, jobs, resume, worker, err);
        free_words(worker);
        if (rc) return fprintf(stderr, "%s: %s\n", name, err), 1;
        fprintf(stderr, "%s: merged the slices into %s (they stay in %s/.slices until you delete them)\n", name, out, out);
        return 0;
    }
    char label[64];
    snprintf(label, sizeof label, "zoo %s %zu:%zu", kind == ZOO_KIND_FORMAL ? "formal" : "mnist", first, last);
    Progress p = {label, rr_seconds(), 0, isatty(fileno(stderr)), 1, parent};
    if (parent && worker_orphaned(parent)) return fprintf(stderr, "%s: %s\n", name, orphan_message), 1;
    if (zoo_generate(&s, out, first, last, resume, progress_report, &p, err)) return fprintf(stderr, "%s: %s\n", name, err), 1;
    return 0;
}

static int zoo_merge_command(int argc, char **argv)
{
    const char *out = NULL, *parts[MAX_JOBS];
    char err[RR_ERRLEN];
    int rc;
    Option options[] = {{.name = "--out", .type = OPT_TEXT, .value = &out, .min = 1, .max = PATH_CHARS, .required = 1}};
    CommandLine cl = {.name = "rnnrep zoo merge", .help = zoo_help, .options = options, .noptions = COUNT(options),
                      .arguments = "SLICE_DIR...", .min_args = 1, .max_args = COUNT(parts), .args = parts};
    if (!parse_command_line(&cl, argc, argv, &rc)) return rc;
    if (zoo_merge(out, parts, cl.nargs, err)) return fprintf(stderr, "rnnrep zoo merge: %s\n", err), 1;
    return 0;
}

static int zoo_info_command(int argc, char **argv)
{
    const char *dir[1];
    char err[RR_ERRLEN];
    int rc;
    CommandLine cl = {.name = "rnnrep zoo info", .help = zoo_help, .arguments = "DIR", .min_args = 1, .max_args = 1, .args = dir};
    if (!parse_command_line(&cl, argc, argv, &rc)) return rc;
    if (zoo_info(dir[0], stdout, err)) return fprintf(stderr, "rnnrep zoo info: %s\n", err), 1;
    return 0;
}

static int cmd_zoo(int argc, char **argv)
{
    if (argc == 0) return fputs(zoo_help, stderr), EXIT_USAGE;
    const char *what = argv[0];
    if (!strcmp(what, "formal")) return zoo_generate_command(ZOO_KIND_FORMAL, "rnnrep zoo formal", argc - 1, argv + 1);
    if (!strcmp(what, "mnist")) return zoo_generate_command(ZOO_KIND_MNIST, "rnnrep zoo mnist", argc - 1, argv + 1);
    if (!strcmp(what, "merge")) return zoo_merge_command(argc - 1, argv + 1);
    if (!strcmp(what, "info")) return zoo_info_command(argc - 1, argv + 1);
    if (!strcmp(what, "--help") || !strcmp(what, "-h")) return fputs(zoo_help, stdout), 0;
    fprintf(stderr, "rnnrep zoo: the first argument is formal, mnist, merge or info, not '%s' (see rnnrep zoo --help)\n", what);
    return EXIT_USAGE;
}

/* ========================================================================================
 * train, embed: emulation training over a zoo, and the embeddings of its best checkpoint
 * ====================================================================================== */

static const char train_help[] =
    "usage: rnnrep train --zoo DIR --encoder NAME --out RUN [--preset paper|small|tiny] [options]\n"
    "\n"
    "Trains an encoder and the emulator together on a zoo (SPEC.md §5): the emulator, given\n"
    "E(θ)/|E(θ)|, imitates each zoo RNN θ on its stored sequences. Splits by task as the\n"
    "official code (RUN/splits.json); evaluation after step 0 and every --eval-every steps:\n"
    "validation and OOD emulation loss, cloned performance (RUN/metrics.csv, RUN/cloned.csv);\n"
    "checkpoints RUN/best.safetensors (lowest validation loss) and RUN/last.safetensors. A run\n"
    "killed at any moment continues with --resume and ends with the same bytes.\n"
    "\n"
    "NAME: stats, flat, transformer, dws, noninteractive_{1,2,4,8}, interactive_{1,2,4,8},\n"
    "      interactive_length_{7,12,42} (noninteractive / interactive: M = 1)\n"
    "\n"
    "presets (README.md lists what each sets):\n"
    "  paper   the official recipe: 100,001 updates, batch 64, evaluation every 1000 steps,\n"
    "          emulator and probing core width 256 (the default)\n"
    "  small   widths 64, 2,001 updates, evaluation every 100 steps\n"
    "  tiny    widths 16, 13 updates of batch 8: seconds, for tests\n"
    "\n"
    "options (each overrides the preset):\n"
    "  --steps N          the last step (steps + 1 updates)\n"
    "  --batch N          snapshots per batch (64)\n"
    "  --lr X --weight-decay X --clip X     AdamW (1e-4, 0.01) and the gradient-norm clip (0.1)\n"
    "  --eval-every N     steps between evaluations (1000)\n"
    "  --seed N           (1)\n"
    "  --loss NAME        tv, kl, reverse_kl, js, ce, l2 (tv)\n"
    "  --dropout X        the parameter transformer's dropout (0; the official code ran 0.1)\n"
    "  --stats-mlp run|configured   the statistics MLP as run (1 x 128) or as configured (3 x 768)\n"
    "  --streams M --length L       probing streams and steps (the encoder's preset)\n"
    "  --width D          the emulator's width (256)\n"
    "  --core C           the probing core's width (256)\n"
    "  --hidden N         the encoders' MLP width (128)\n"
    "  --d-model N --layers N       the parameter transformer's width (128, FFN 4x) and layers (6)\n"
    "  --channels N       DWSNet's channels (48)\n"
    "  --clone-snapshots N --clone-samples N --clone-images N\n"
    "                     cloned performance: snapshots per split (20), formal-language samples\n"
    "                     (64), MNIST evaluation images (1000)\n"
    "  --mnist-dir DIR    MNIST digits for the clone's accuracy (the vendored ones)\n"
    "  --resume           continue the run in RUN (its settings must be the same)\n"
    THREADS_HELP;

/* Progress on stderr: a line redrawn in place on a terminal (step, loss, steps per second, time
 * left); every evaluation's line, on a terminal or in a log. */
typedef struct TrainReport {
    double start, last_print;
    size_t first_step;          /* the first step of this session (a resumed run starts later) */
    int tty;
} TrainReport;

static void train_report(void *ctx, size_t step, size_t steps, double loss, const char *eval_line)
{
    TrainReport *p = ctx;
    double now = rr_seconds();
    if (p->first_step == SIZE_MAX && !eval_line) p->first_step = step;
    if (eval_line) {
        fprintf(stderr, "%s%s\n", p->tty ? "\r\033[K" : "", eval_line);
    } else if (p->tty && now - p->last_print >= 0.5) {
        double rate = (double)(step + 1 - p->first_step) / (now - p->start);
        fprintf(stderr, "\r\033[Kstep %zu/%zu  loss %.4f  %.2f steps/s  left %.0fs", step, steps, loss, rate,
                rate > 0 ? (double)(steps - step) / rate : 0.0);
        p->last_print = now;
    } else {
        return;
    }
    fflush(stderr);
}

static int cmd_train(int argc, char **argv)
{
    const char *zoo = NULL, *out = NULL, *encoder = NULL, *preset = "paper", *loss = NULL, *stats_mlp = NULL, *mnist_dir = NULL;
    TrainSettings s;
    int resume = 0, rc;
    char err[RR_ERRLEN];
    Option options[] = {
        {.name = "--zoo", .type = OPT_TEXT, .value = &zoo, .min = 1, .max = PATH_CHARS, .required = 1},
        {.name = "--encoder", .type = OPT_TEXT, .value = &encoder, .min = 1, .max = sizeof s.encoder - 1, .required = 1},
        {.name = "--out", .type = OPT_TEXT, .value = &out, .min = 1, .max = PATH_CHARS, .required = 1},
        {.name = "--preset", .type = OPT_TEXT, .value = &preset, .min = 1, .max = sizeof s.preset - 1},
        {.name = "--steps", .type = OPT_SIZE, .value = &s.steps, .min = 0, .max = 100000000},
        {.name = "--batch", .type = OPT_SIZE, .value = &s.batch, .min = 1, .max = 65536},
        {.name = "--lr", .type = OPT_REAL, .value = &s.lr, .real_min = 0, .real_max = 10},
        {.name = "--weight-decay", .type = OPT_REAL, .value = &s.weight_decay, .real_min = 0, .real_max = 10},
        {.name = "--clip", .type = OPT_REAL, .value = &s.clip, .real_min = 1e-12, .real_max = 1e12},
        {.name = "--eval-every", .type = OPT_SIZE, .value = &s.eval_every, .min = 1, .max = 100000000},
        {.name = "--seed", .type = OPT_U64, .value = &s.seed, .min = 0, .max = INT64_MAX},
        {.name = "--loss", .type = OPT_TEXT, .value = &loss, .min = 1, .max = 32},
        {.name = "--dropout", .type = OPT_REAL, .value = &s.dropout, .real_min = 0, .real_max = 0.99},
        {.name = "--stats-mlp", .type = OPT_TEXT, .value = &stats_mlp, .min = 1, .max = 32},
        {.name = "--streams", .type = OPT_SIZE, .value = &s.M, .min = 1, .max = 64},
        {.name = "--length", .type = OPT_SIZE, .value = &s.L, .min = 1, .max = 1000},
        {.name = "--width", .type = OPT_SIZE, .value = &s.width, .min = 1, .max = 4096},
        {.name = "--core", .type = OPT_SIZE, .value = &s.core, .min = 1, .max = 4096},
        {.name = "--hidden", .type = OPT_SIZE, .value = &s.hidden, .min = 1, .max = 4096},
        {.name = "--d-model", .type = OPT_SIZE, .value = &s.d_model, .min = 2, .max = 4096},
        {.name = "--layers", .type = OPT_SIZE, .value = &s.layers, .min = 1, .max = 64},
        {.name = "--channels", .type = OPT_SIZE, .value = &s.channels, .min = 1, .max = 1024},
        {.name = "--clone-snapshots", .type = OPT_SIZE, .value = &s.clone_snapshots, .min = 1, .max = 100000},
        {.name = "--clone-samples", .type = OPT_SIZE, .value = &s.clone_samples, .min = 1, .max = 100000},
        {.name = "--clone-images", .type = OPT_SIZE, .value = &s.clone_images, .min = 1, .max = 100000},
        {.name = "--mnist-dir", .type = OPT_TEXT, .value = &mnist_dir, .min = 1, .max = sizeof s.mnist_dir - 1},
        {.name = "--resume", .type = OPT_FLAG, .value = &resume},
    };
    CommandLine cl = {.name = "rnnrep train", .help = train_help, .options = options, .noptions = COUNT(options), .threads = 1};
    /* As for zoos: the first reading finds the preset, the second lays the options over it. */
    memset(&s, 0, sizeof s);
    if (!parse_command_line(&cl, argc, argv, &rc)) return rc;
    if (train_settings_preset(&s, preset, encoder, err)) return usage_error(&cl, "--preset: %s", err);
    parse_command_line(&cl, argc, argv, &rc);
    if (loss) {
        int k = 0;
        while (k < LOSS_COUNT && strcmp(loss, emulation_loss_names[k])) k++;
        if (k == LOSS_COUNT) return usage_error(&cl, "--loss: '%s' is not tv, kl, reverse_kl, js, ce or l2", loss);
        s.loss = (EmulationLoss)k;
    }
    if (stats_mlp) {
        if (strcmp(stats_mlp, "run") && strcmp(stats_mlp, "configured"))
            return usage_error(&cl, "--stats-mlp: '%s' is not run or configured", stats_mlp);
        s.stats_configured = !strcmp(stats_mlp, "configured");
    }
    if (mnist_dir) snprintf(s.mnist_dir, sizeof s.mnist_dir, "%s", mnist_dir);
    EncoderConfig ec;
    EmulatorConfig mc;
    if (train_settings_configs(&s, ZOO_FORMAL, &ec, &mc, err)) return usage_error(&cl, "%s", err);
    TrainReport p = {rr_seconds(), 0, SIZE_MAX, isatty(fileno(stderr))};
    if (train_run(zoo, out, &s, resume, train_report, &p, err)) {
        if (p.tty) fputc('\n', stderr);
        return fprintf(stderr, "rnnrep train: %s\n", err), 1;
    }
    return 0;
}

static const char embed_help[] =
    "usage: rnnrep embed --run RUN --zoo DIR [--out FILE]\n"
    "\n"
    "Writes E(θ)/|E(θ)| for every row of the zoo, with the run's best checkpoint, as a <f4\n"
    "(N, 16) .npy file (default RUN/embeddings.npy).\n"
    "\n"
    "options:\n"
    THREADS_HELP;

static int cmd_embed(int argc, char **argv)
{
    const char *run = NULL, *zoo = NULL, *out = NULL;
    char err[RR_ERRLEN], path[PATH_CHARS + 32];
    int rc;
    Option options[] = {
        {.name = "--run", .type = OPT_TEXT, .value = &run, .min = 1, .max = PATH_CHARS, .required = 1},
        {.name = "--zoo", .type = OPT_TEXT, .value = &zoo, .min = 1, .max = PATH_CHARS, .required = 1},
        {.name = "--out", .type = OPT_TEXT, .value = &out, .min = 1, .max = PATH_CHARS},
    };
    CommandLine cl = {.name = "rnnrep embed", .help = embed_help, .options = options, .noptions = COUNT(options), .threads = 1};
    if (!parse_command_line(&cl, argc, argv, &rc)) return rc;
    if (!out) {
        snprintf(path, sizeof path, "%s/embeddings.npy", run);
        out = path;
    }
    if (train_embed(run, zoo, out, err)) return fprintf(stderr, "rnnrep embed: %s\n", err), 1;
    return 0;
}

/* ========================================================================================
 * downstream: what the representations know (SPEC.md §6)
 * ====================================================================================== */

static const char downstream_help[] =
    "usage: rnnrep downstream --zoo DIR --run RUN --out FILE [--target NAME|all]\n"
    "                         [--predictor ridge|mlp|both] [--seed N] [--supervised ENCODER\n"
    "                         [--preset NAME] [--steps N] [--eval-every N] [--patience N]]\n"
    "\n"
    "What a run's representations know about the zoo RNNs (SPEC.md §6). The run's best encoder,\n"
    "frozen, embeds every zoo row (E(θ)/|E(θ)|); ridge regression and an MLP (16 -> 64 -> 64)\n"
    "learn each target from the predictor-training tasks (the train tasks and half of the OOD\n"
    "tasks), choose on the validation tasks, and are scored on the validation tasks and on the\n"
    "other half of the OOD tasks. In the same table, the reference points: the constant\n"
    "predictor (training mean or majority class) and ridge on the 70 layer-wise statistics.\n"
    "Rows go into FILE (downstream.csv: encoder,seed,training,predictor,target,split,metric,\n"
    "value); a row with the key of a new one is replaced. Give runs that write the same FILE\n"
    "one after the other, not at the same time. RUN must have been trained on DIR.\n"
    "\n"
    "targets (metrics):\n"
    "  formal languages   task (exact_match, block_accuracy), accuracy (r2, kendall_tau),\n"
    "                     step (accuracy)\n"
    "  MNIST              angle (circular_mae, degrees), accuracy and gap (r2, kendall_tau),\n"
    "                     step (accuracy)\n"
    "\n"
    "options:\n"
    "  --target NAME      one target, or all (all)\n"
    "  --predictor P      ridge, mlp or both (both): on the embeddings\n"
    "  --seed N           the MLP's and the supervised baseline's seed, and the table's seed\n"
    "                     column (the run's training seed)\n"
    "  --supervised ENCODER\n"
    "                     also train ENCODER (a name as for rnnrep train) with the MLP head end\n"
    "                     to end on each target, from scratch: AdamW lr 1e-4, weight decay\n"
    "                     0.01, clipping 0.1 per network, permutation augmentation for the\n"
    "                     encoders that are not invariant, the best validation loss kept.\n"
    "                     Checkpoints RUN/supervised-ENCODER-TARGET-seedN.safetensors (best)\n"
    "                     and RUN/supervised-ENCODER-TARGET-seedN-last.safetensors: run the\n"
    "                     same command again to continue an interrupted one (same bytes)\n"
    "  --preset NAME      the supervised encoder's widths, batch and budget: paper, small or\n"
    "                     tiny, as for rnnrep train (default: the run's own settings)\n"
    "  --steps N          the supervised training's last step (the settings')\n"
    "  --eval-every N     steps between its evaluations (the settings')\n"
    "  --patience N       it stops after N evaluations without a lower validation loss (10)\n"
    THREADS_HELP;

static int cmd_downstream(int argc, char **argv)
{
    const char *zoo = NULL, *run = NULL, *out = NULL, *target = "all", *predictor = "both", *supervised = NULL, *preset = NULL;
    DownstreamSettings s;
    downstream_settings_default(&s);
    char err[RR_ERRLEN];
    int rc;
    Option options[] = {
        {.name = "--zoo", .type = OPT_TEXT, .value = &zoo, .min = 1, .max = PATH_CHARS, .required = 1},
        {.name = "--run", .type = OPT_TEXT, .value = &run, .min = 1, .max = PATH_CHARS, .required = 1},
        {.name = "--out", .type = OPT_TEXT, .value = &out, .min = 1, .max = PATH_CHARS, .required = 1},
        {.name = "--target", .type = OPT_TEXT, .value = &target, .min = 1, .max = sizeof s.target - 1},
        {.name = "--predictor", .type = OPT_TEXT, .value = &predictor, .min = 1, .max = 16},
        {.name = "--seed", .type = OPT_U64, .value = &s.seed, .min = 0, .max = INT64_MAX},
        {.name = "--supervised", .type = OPT_TEXT, .value = &supervised, .min = 1, .max = sizeof s.supervised - 1},
        {.name = "--preset", .type = OPT_TEXT, .value = &preset, .min = 1, .max = sizeof s.preset - 1},
        {.name = "--steps", .type = OPT_SIZE, .value = &s.steps, .min = 1, .max = 100000000},
        {.name = "--eval-every", .type = OPT_SIZE, .value = &s.eval_every, .min = 1, .max = 100000000},
        {.name = "--patience", .type = OPT_SIZE, .value = &s.patience, .min = 1, .max = 1000000},
    };
    CommandLine cl = {.name = "rnnrep downstream", .help = downstream_help, .options = options, .noptions = COUNT(options), .threads = 1};
    if (!parse_command_line(&cl, argc, argv, &rc)) return rc;
    s.run_seed = !given(&cl, "--seed");
    snprintf(s.target, sizeof s.target, "%s", target);
    if (strcmp(predictor, "ridge") && strcmp(predictor, "mlp") && strcmp(predictor, "both"))
        return usage_error(&cl, "--predictor: '%s' is not ridge, mlp or both", predictor);
    s.ridge = strcmp(predictor, "mlp") != 0;
    s.mlp = strcmp(predictor, "ridge") != 0;
    static const char *const supervised_only[] = {"--preset", "--steps", "--eval-every", "--patience"};
    for (size_t k = 0; !supervised && k < COUNT(supervised_only); k++)
        if (given(&cl, supervised_only[k])) return usage_error(&cl, "%s belongs to --supervised", supervised_only[k]);
    if (supervised) {
        TrainSettings ts;
        EncoderConfig ec;
        EmulatorConfig mc;
        if (train_settings_preset(&ts, preset ? preset : "paper", supervised, err)) return usage_error(&cl, "--preset: %s", err);
        if (train_settings_configs(&ts, ZOO_FORMAL, &ec, &mc, err)) return usage_error(&cl, "--supervised: %s", err);
        snprintf(s.supervised, sizeof s.supervised, "%s", supervised);
        if (preset) snprintf(s.preset, sizeof s.preset, "%s", preset);
    }
    ZooKind kind;
    if (zoo_detect_kind(zoo, &kind, err)) return fprintf(stderr, "rnnrep downstream: %s\n", err), 1;
    if (downstream_target_check(kind, s.target, err)) return usage_error(&cl, "--target: %s", err);
    TrainReport p = {rr_seconds(), 0, SIZE_MAX, isatty(fileno(stderr))};
    if (downstream_run(zoo, run, out, &s, train_report, &p, err)) {
        if (p.tty) fputc('\n', stderr);
        return fprintf(stderr, "rnnrep downstream: %s\n", err), 1;
    }
    return 0;
}

/* ========================================================================================
 * interrogate: the theory of SPEC.md §8, run
 * ====================================================================================== */

static const char interrogate_help[] =
    "usage: rnnrep interrogate [--k K]\n"
    "\n"
    "An interrogator identifies an unknown f among a known set D of distinct total functions by\n"
    "querying inputs (SPEC.md §8). For K = 1..K (default 6, at most 8), builds the family of 2^K\n"
    "functions that encode a binary decision tree, runs an adaptive interrogator (each query\n"
    "may depend on the answers so far) and the best non-adaptive one on every member, and\n"
    "prints the worst-case number of queries each needed, beside the worst-case family of the\n"
    "same size, for which both need |D| - 1.\n";

static int cmd_interrogate(int argc, char **argv)
{
    size_t kmax = 6;
    char err[RR_ERRLEN];
    int rc;
    Option options[] = {{.name = "--k", .type = OPT_SIZE, .value = &kmax, .min = 1, .max = INTERROGATE_K_MAX}};
    CommandLine cl = {.name = "rnnrep interrogate", .help = interrogate_help, .options = options, .noptions = COUNT(options)};
    if (!parse_command_line(&cl, argc, argv, &rc)) return rc;
    InterrogationRow rows[INTERROGATE_K_MAX];
    if (interrogate_table(kmax, rows, err)) return fprintf(stderr, "rnnrep interrogate: %s\n", err), 1;
    int all = 1;
    printf("%3s %6s | %-28s | %-28s\n", "", "", "decision-tree family", "worst-case family");
    printf("%3s %6s | %12s %15s | %12s %15s\n", "K", "|D|", "interactive", "non-interactive", "interactive", "non-interactive");
    for (size_t k = 0; k < kmax; k++) {
        printf("%3zu %6zu | %12zu %15zu | %12zu %15zu\n", rows[k].K, rows[k].functions, rows[k].tree_adaptive, rows[k].tree_fixed,
               rows[k].worst_adaptive, rows[k].worst_fixed);
        all &= rows[k].identified;
    }
    printf("(the most queries any member needed; every member identified: %s)\n", all ? "yes" : "NO");
    return all ? 0 : 1;
}

/* ========================================================================================
 * report: the figures, tables and words of a reproduction
 * ====================================================================================== */

static const char report_help[] =
    "usage: rnnrep report DIR [RUN_DIR...]\n"
    "\n"
    "Writes DIR/report.md, DIR/tables/*.csv and DIR/figures/*.svg (standalone SVG) from the runs\n"
    "of a reproduction directory (DIR/runs/formal/*, DIR/runs/mnist/* trained on DIR/zoos/formal,\n"
    "DIR/zoos/mnist, as rnnrep reproduce lays them out), or from the RUN_DIRs given (each on the\n"
    "zoo its config.json names). Per zoo: learning curves; Table 2, each encoder's best\n"
    "validation loss with a 95% bootstrap interval over seeds, beside the paper's; cloned\n"
    "performance; the embedding space (PCA); the probing encoders' probes and the zoo RNN's\n"
    "answers; downstream prediction when the runs hold downstream.csv. Then the interrogator\n"
    "table. report.md says what each figure shows and where it agrees with the paper.\n"
    "\n"
    "options:\n"
    THREADS_HELP;

static int cmd_report(int argc, char **argv)
{
    const char *args[1 + MAX_JOBS];
    char err[RR_ERRLEN];
    int rc;
    CommandLine cl = {.name = "rnnrep report", .help = report_help, .arguments = "DIR [RUN_DIR...]", .min_args = 1,
                      .max_args = COUNT(args), .args = args, .threads = 1};
    if (!parse_command_line(&cl, argc, argv, &rc)) return rc;
    if (report_write(args[0], args + 1, cl.nargs - 1, stderr, err)) return fprintf(stderr, "rnnrep report: %s\n", err), 1;
    return 0;
}

/* ========================================================================================
 * reproduce: the paper in one command
 * ====================================================================================== */

static const char reproduce_help[] =
    "usage: rnnrep reproduce --preset tiny|small|paper --out DIR [--zoo formal|mnist|both]\n"
    "                        [--seeds K] [--train-steps N] [--jobs N]\n"
    "\n"
    "Runs every stage of the paper into DIR: the zoos (DIR/zoos/formal, DIR/zoos/mnist, with\n"
    "rnnrep zoo --jobs N), emulation training of the six encoders x K seeds\n"
    "(DIR/runs/ZOO/ENCODER-sSEED, rnnrep train), their embeddings (rnnrep embed), downstream\n"
    "prediction, pretrained and supervised (rnnrep downstream; skipped when this program has\n"
    "none), then the report (DIR/report.md, DIR/tables, DIR/figures; see rnnrep report).\n"
    "Independent runs go to N worker processes. A stage is skipped when its outputs are\n"
    "complete and resumed when they are not: run the same command again to continue an\n"
    "interrupted reproduction. One line per stage on stderr.\n"
    "\n"
    "presets (README.md says why):\n"
    "  tiny    zoos of 16 runs x 200 steps, the tiny train preset (13 updates), 2 seeds:\n"
    "          a few minutes; it checks the pipeline, not the paper\n"
    "  small   zoos of 1000 runs x 1000 steps (MNIST metrics on 2000 images), the small train\n"
    "          preset (widths 64, 4,001 updates), 2 seeds: about 6 hours for both zoos with\n"
    "          --jobs 2 on 2 cores (formal languages alone about 3)\n"
    "  paper   the paper's zoos (1000 runs x 20,000 steps) and training (100,001 updates,\n"
    "          widths 256), 3 seeds: about 1,500 CPU-hours, weeks on one machine; spread\n"
    "          it over many (README.md)\n"
    "\n"
    "options:\n"
    "  --zoo formal|mnist|both   the zoos (both)\n"
    "  --seeds K                 seeds 1..K of every encoder (the preset's)\n"
    "  --train-steps N           train every encoder to step N (the train preset's); a new\n"
    "                            --out, since finished runs keep their steps\n"
    "  --jobs N                  worker processes (1); with N > 1 each on one thread unless\n"
    "                            --threads or RNNREP_THREADS say\n"
    THREADS_HELP;

static int cmd_reproduce(int argc, char **argv)
{
    const char *preset = NULL, *out = NULL, *zoo = "both";
    size_t seeds = 0, jobs = 1, train_steps = 0;
    char err[RR_ERRLEN];
    int rc;
    Option options[] = {
        {.name = "--preset", .type = OPT_TEXT, .value = &preset, .min = 1, .max = 15, .required = 1},
        {.name = "--out", .type = OPT_TEXT, .value = &out, .min = 1, .max = PATH_CHARS, .required = 1},
        {.name = "--zoo", .type = OPT_TEXT, .value = &zoo, .min = 1, .max = 16},
        {.name = "--seeds", .type = OPT_SIZE, .value = &seeds, .min = 1, .max = 1000},
        {.name = "--train-steps", .type = OPT_SIZE, .value = &train_steps, .min = 1, .max = 100000000},
        {.name = "--jobs", .type = OPT_SIZE, .value = &jobs, .min = 1, .max = MAX_JOBS},
    };
    CommandLine cl = {.name = "rnnrep reproduce", .help = reproduce_help, .options = options, .noptions = COUNT(options), .threads = 1};
    if (!parse_command_line(&cl, argc, argv, &rc)) return rc;
    ReproduceSettings s;
    if (reproduce_settings_preset(&s, preset, err)) return usage_error(&cl, "--preset: %s", err);
    static const char *const zoos[3] = {"formal", "mnist", "both"};
    int which = 0;
    while (which < 3 && strcmp(zoo, zoos[which])) which++;
    if (which == 3) return usage_error(&cl, "--zoo: '%s' is not formal, mnist or both", zoo);
    s.zoo[ZOO_KIND_FORMAL] = which != 1;
    s.zoo[ZOO_KIND_MNIST] = which != 0;
    if (seeds) s.seeds = seeds;
    s.train_steps = train_steps;
    s.jobs = jobs;
    if (jobs > 1) set_worker_threads();
    if (reproduce_run(&s, out, program_path, stderr, err)) return fprintf(stderr, "rnnrep reproduce: %s\n", err), 1;
    return 0;
}

/* ========================================================================================
 * golden: regenerate the reference fixtures
 * ====================================================================================== */

static const char golden_help[] =
    "usage: rnnrep golden [--out DIR] [--width reduced|paper]\n"
    "\n"
    "Recomputes every fixture (each network with inputs, outputs, a loss and all gradients; an\n"
    "AdamW trajectory) deterministically and writes them as float32 .npy files with a README.md\n"
    "that documents each array and parameter layout. --width reduced (the default) writes the\n"
    "small networks of golden/ (default DIR golden), which make test checks; --width paper the\n"
    "same fixtures at the paper's widths, for a backend to test itself at real size (then --out\n"
    "is required: they are not kept in golden/).\n"
    "\n"
    "options:\n"
    THREADS_HELP;

static int cmd_golden(int argc, char **argv)
{
    const char *dir = "golden", *width = "reduced";
    char err[RR_ERRLEN];
    int rc;
    Option options[] = {
        {.name = "--out", .type = OPT_TEXT, .value = &dir, .min = 1, .max = PATH_CHARS},
        {.name = "--width", .type = OPT_TEXT, .value = &width, .min = 1, .max = 16},
    };
    CommandLine cl = {.name = "rnnrep golden", .help = golden_help, .options = options, .noptions = COUNT(options), .threads = 1};
    if (!parse_command_line(&cl, argc, argv, &rc)) return rc;
    static const char *const widths[2] = {"reduced", "paper"}; /* in GoldenWidth order */
    int w = 0;
    while (w < 2 && strcmp(width, widths[w])) w++;
    if (w == 2) return usage_error(&cl, "--width: '%s' is not reduced or paper", width);
    if (w == GOLDEN_PAPER && !given(&cl, "--out")) return usage_error(&cl, "--width paper needs --out (golden/ holds the reduced widths)");
    if (golden_write(dir, (GoldenWidth)w, err)) return fprintf(stderr, "rnnrep golden: %s\n", err), 1;
    printf("wrote %s/ and %s/README.md\n", dir, dir);
    return 0;
}

/* ========================================================================================
 * Commands
 * ====================================================================================== */

typedef struct Command {
    const char *name;
    int (*run)(int argc, char **argv);   /* argv: the words after the command's name */
    const char *summary;
} Command;

static const Command commands[] = {
    {"golden", cmd_golden, "regenerate the reference fixtures in golden/"},
    {"zoo", cmd_zoo, "generate, merge and describe model zoos"},
    {"models", cmd_models, "the networks, their properties and parameter counts"},
    {"invariance", cmd_invariance, "embedding change of each encoder under neuron permutations"},
    {"bench", cmd_bench, "time the kernels, the emulation training steps and the zoo steps"},
    {"train", cmd_train, "train an encoder with the emulator on a zoo (emulation training)"},
    {"embed", cmd_embed, "the embeddings of every zoo row with a run's best checkpoint"},
    {"downstream", cmd_downstream, "what a run's embeddings predict about the zoo RNNs (and baselines)"},
    {"interrogate", cmd_interrogate, "the interrogator theory: queries needed with and without interaction"},
    {"report", cmd_report, "the report of a reproduction: report.md, tables and SVG figures"},
    {"reproduce", cmd_reproduce, "the paper in one command: zoos, training, embeddings, downstream, report"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: rnnrep COMMAND [OPTIONS]\n\n"
               "rnnrep %s: learning representations of RNN weight matrices (Herrmann,\n"
               "Faccio, Schmidhuber, ICML 2024), a C99 reference implementation.\n\n"
               "Commands:\n",
            RR_VERSION);
    for (size_t i = 0; i < COUNT(commands); i++) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'rnnrep COMMAND --help' describes a command and its options.\n"
               "Exit status: 0 done, 1 an error while running, 2 a usage error.\n");
}

int main(int argc, char **argv)
{
    program_path = argv[0];
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("rnnrep %s\n", RR_VERSION);
        return 0;
    }
    for (size_t i = 0; i < COUNT(commands); i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "rnnrep: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
