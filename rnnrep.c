/*
 * rnnrep.c — the command-line program: subcommands, options, progress and reports.
 * All computation lives in the library (autograd.c, models/, zoo/).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* isatty: progress lines redraw on a terminal, and stay sparse in logs */

#include "rnnrep.h"

/* argv[0], to start worker processes of this same program (zoo --jobs). */
static const char *program_path = "rnnrep";

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

/* After two warm-up calls, finds how many calls take about 0.1 s, then times 7 such repeats
 * (3 single calls when one call takes over a second); prints the median per call. */
static void bench_run(const char *name, double flops, BenchFn fn, void *ctx)
{
    double times[7], t0;
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
        for (long i = 0; i < iters; i++) fn(ctx);
        times[r] = (rr_seconds() - start) / (double)iters;
    }
    qsort(times, (size_t)repeats, sizeof times[0], cmp_double);
    double t = times[repeats / 2];
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

/* One emulation training step at the paper's configuration: batch 64, one stored sequence
 * each, encoder + emulator forward and backward, AdamW. Random θ from PyTorch's init. */
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
    bench_run(name, 0, step_bench_fn, &s);
    emulation_trainer_free(&s.trainer);
    encoder_free(&enc);
    emulator_free(&em);
    free(theta);
    free(x);
    free(y);
}

/* One training update of a zoo RNN at the paper's configuration: batch 32, 41 steps
 * (formal languages, one-hot tokens) or 50 steps (MNIST tiles). */
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
    /* forward + backward: about 3 times the forward's 2 * B * T * (4H (I + H) + 4H (2H) + O H) flops */
    double flops = 3.0 * 2 * s.B * T * (4.0 * z.H * (z.I + z.H) + 4.0 * z.H * 2 * z.H + (double)z.O * z.H);
    bench_run(name, flops, zoo_step_bench_fn, &s);
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

static int selected(const char *group, int argc, char **argv)
{
    if (argc == 0) return 1;
    for (int i = 0; i < argc; i++)
        if (matches(group, argv[i])) return 1;
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

static int cmd_bench(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] == '-') return fprintf(stderr, "rnnrep bench: unknown option '%s' (see rnnrep bench --help)\n", argv[i]), 2;
        int known = 0;
        for (size_t b = 0; b < sizeof bench_names / sizeof *bench_names; b++) known |= matches(bench_names[b], argv[i]);
        if (!known) {
            fprintf(stderr, "rnnrep bench: no benchmark matches '%s' (see rnnrep bench --help)\n", argv[i]);
            return 2;
        }
    }
    printf("name\tms\tGFLOP/s\n");
    if (selected("gemm-256", argc, argv)) bench_gemm("gemm-256", 256, 256, 256);
    /* The zoo LSTM's gate product: (B=32, I+H=38) x (38, 4H=128). */
    if (selected("gemm-lstm", argc, argv)) bench_gemm("gemm-lstm", 32, 128, 38);
    if (selected("zoo-step-formal", argc, argv)) bench_zoo_step("zoo-step-formal", ZOO_FORMAL, 41);
    if (selected("zoo-step-mnist", argc, argv)) bench_zoo_step("zoo-step-mnist", ZOO_MNIST, 50);
    for (int task = 0; task < 2; task++)
        for (int k = 0; k < ENC_COUNT; k++) {
            char name[64];
            snprintf(name, sizeof name, "step-%s-%s", encoder_facts[k].name, task ? "mnist" : "formal");
            if (selected(name, argc, argv)) bench_step((EncoderKind)k, task ? ZOO_MNIST : ZOO_FORMAL, task ? "mnist" : "formal");
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

static int cmd_models(int argc, char **argv)
{
    (void)argv;
    if (argc) return fprintf(stderr, "rnnrep models: takes no arguments\n"), 2;
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

static int cmd_invariance(int argc, char **argv)
{
    (void)argv;
    if (argc) return fprintf(stderr, "rnnrep invariance: takes no arguments\n"), 2;
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
} Progress;

static void progress_report(void *ctx, size_t runs_done, size_t runs_total, size_t step, size_t steps_per_run)
{
    Progress *p = ctx;
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

static int parse_size(const char *opt, const char *text, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (!*text || *end || text[0] == '-') {
        fprintf(stderr, "rnnrep zoo: %s wants a whole number, not '%s'\n", opt, text);
        return 2;
    }
    *out = (size_t)v;
    return 0;
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
    "  --runs N --steps N --seed N --batch N\n"
    "  --snapshots S0,...,S8   the 9 snapshot steps (increasing, the last = --steps)\n"
    "  --samples N        formal: rollouts for the accuracy (1000)\n"
    "  --stored N         rollouts / images stored per snapshot (100)\n"
    "  --eval-batches N   MNIST: batches of 1000 images per metric (13 in paper)\n"
    "  --mnist-dir DIR    MNIST IDX files (train-images-idx3-ubyte, ...); default the\n"
    "                     vendored 10,000 digits in zoo/data/mnist10k\n"
    "  --slice A:B        generate runs A..B-1 only (merge slices with 'rnnrep zoo merge')\n"
    "  --jobs N           N worker processes, each a slice; merged into DIR at the end\n"
    "  --resume           continue an interrupted generation in DIR\n";

/* Runs `rnnrep zoo ... --slice` workers for --jobs, then completes and merges their slices. */
static int zoo_jobs(const char *self, int argc, char **argv, const ZooSettings *s, const char *out, size_t first,
                    size_t last, size_t jobs)
{
    char err[RR_ERRLEN], cmd[8192], dir[1024];
    size_t used = 0, n = last - first;
    if (strchr(out, '\'') || strchr(self, '\'')) return fprintf(stderr, "rnnrep zoo: --jobs needs paths without quotes\n"), 1;
    snprintf(dir, sizeof dir, "%s/.slices", out);
    if (rr_make_dir(out, err) || rr_make_dir(dir, err)) return fprintf(stderr, "rnnrep zoo: %s\n", err), 1;
    for (size_t j = 0; j < jobs; j++) {
        size_t a = first + n * j / jobs, b = first + n * (j + 1) / jobs;
        used += (size_t)snprintf(cmd + used, sizeof cmd - used, "'%s' zoo", self);
        for (int i = 0; i < argc; i++) /* the parent's options, less --out, --jobs and --slice */
            if (!strcmp(argv[i], "--out") || !strcmp(argv[i], "--jobs") || !strcmp(argv[i], "--slice")) i++;
            else used += (size_t)snprintf(cmd + used, sizeof cmd - used, " '%s'", argv[i]);
        used += (size_t)snprintf(cmd + used, sizeof cmd - used, " --out '%s/%zu-%zu' --slice %zu:%zu --resume & ", dir, a, b, a, b);
        if (used >= sizeof cmd) return fprintf(stderr, "rnnrep zoo: command line too long\n"), 1;
    }
    snprintf(cmd + used, sizeof cmd - used, "wait");
    if (system(cmd) == -1) return fprintf(stderr, "rnnrep zoo: cannot start the workers\n"), 1;
    const char *parts[256];
    char names[256][1100];
    if (jobs > 256) return fprintf(stderr, "rnnrep zoo: at most 256 jobs\n"), 2;
    for (size_t j = 0; j < jobs; j++) {
        size_t a = first + n * j / jobs, b = first + n * (j + 1) / jobs;
        snprintf(names[j], sizeof names[j], "%s/%zu-%zu", dir, a, b);
        parts[j] = names[j];
        /* a worker that died left its slice incomplete: finish it here (a no-op otherwise) */
        if (zoo_generate(s, names[j], a, b, 1, NULL, NULL, err)) return fprintf(stderr, "rnnrep zoo: %s\n", err), 1;
    }
    if (zoo_merge(out, parts, jobs, err)) return fprintf(stderr, "rnnrep zoo: %s\n", err), 1;
    fprintf(stderr, "rnnrep zoo: merged %zu slices into %s (the slices stay in %s until you delete them)\n", jobs, out, dir);
    return 0;
}

static int cmd_zoo(int argc, char **argv)
{
    char err[RR_ERRLEN];
    if (argc < 1) return fprintf(stderr, "%s", zoo_help), 2;
    if (!strcmp(argv[0], "info")) {
        if (argc != 2) return fprintf(stderr, "usage: rnnrep zoo info DIR\n"), 2;
        if (zoo_info(argv[1], stdout, err)) return fprintf(stderr, "rnnrep zoo info: %s\n", err), 1;
        return 0;
    }
    if (!strcmp(argv[0], "merge")) {
        const char *out = NULL, *parts[256];
        size_t n = 0;
        for (int i = 1; i < argc; i++) {
            if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
            else if (argv[i][0] == '-') return fprintf(stderr, "rnnrep zoo merge: unknown option '%s'\n", argv[i]), 2;
            else if (n < 256) parts[n++] = argv[i];
        }
        if (!out || n == 0) return fprintf(stderr, "usage: rnnrep zoo merge --out DIR SLICE_DIR...\n"), 2;
        if (zoo_merge(out, parts, n, err)) return fprintf(stderr, "rnnrep zoo merge: %s\n", err), 1;
        return 0;
    }
    ZooKind kind;
    if (!strcmp(argv[0], "formal")) kind = ZOO_KIND_FORMAL;
    else if (!strcmp(argv[0], "mnist")) kind = ZOO_KIND_MNIST;
    else return fprintf(stderr, "rnnrep zoo: unknown zoo '%s' (formal, mnist, merge, info)\n\n%s", argv[0], zoo_help), 2;
    const char *preset = "tiny", *out = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--preset")) preset = argv[i + 1];
    ZooSettings s;
    if (zoo_settings_preset(&s, kind, preset, err)) return fprintf(stderr, "rnnrep zoo: %s\n", err), 2;
    size_t first = 0, last = SIZE_MAX, jobs = 1, steps_given = 0;
    int resume = 0, snapshots_given = 0, rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--resume")) { resume = 1; continue; }
        if (!v) return fprintf(stderr, "rnnrep zoo: %s needs a value\n", o), 2;
        i++;
        if (!strcmp(o, "--preset")) continue;
        else if (!strcmp(o, "--out")) out = v;
        else if (!strcmp(o, "--runs")) rc = parse_size(o, v, &s.runs);
        else if (!strcmp(o, "--steps")) { rc = parse_size(o, v, &s.steps); steps_given = 1; }
        else if (!strcmp(o, "--batch")) rc = parse_size(o, v, &s.batch);
        else if (!strcmp(o, "--samples")) rc = parse_size(o, v, &s.samples);
        else if (!strcmp(o, "--stored")) rc = parse_size(o, v, &s.stored);
        else if (!strcmp(o, "--eval-batches")) rc = parse_size(o, v, &s.eval_batches);
        else if (!strcmp(o, "--jobs")) rc = parse_size(o, v, &jobs);
        else if (!strcmp(o, "--seed")) { size_t seed = 0; rc = parse_size(o, v, &seed); s.seed = seed; }
        else if (!strcmp(o, "--mnist-dir")) snprintf(s.mnist_dir, sizeof s.mnist_dir, "%s", v);
        else if (!strcmp(o, "--slice")) {
            char *end;
            first = (size_t)strtoull(v, &end, 10);
            if (*end != ':' || !end[1]) return fprintf(stderr, "rnnrep zoo: --slice wants A:B, not '%s'\n", v), 2;
            last = (size_t)strtoull(end + 1, &end, 10);
            if (*end) return fprintf(stderr, "rnnrep zoo: --slice wants A:B, not '%s'\n", v), 2;
        } else if (!strcmp(o, "--snapshots")) {
            const char *p = v;
            for (int k = 0; k < ZOO_SNAPSHOTS; k++) {
                char *end;
                s.snapshot[k] = (size_t)strtoull(p, &end, 10);
                if (end == p || (k < ZOO_SNAPSHOTS - 1 && *end != ',') || (k == ZOO_SNAPSHOTS - 1 && *end))
                    return fprintf(stderr, "rnnrep zoo: --snapshots wants 9 comma-separated steps, not '%s'\n", v), 2;
                p = end + 1;
            }
            snapshots_given = 1;
        } else return fprintf(stderr, "rnnrep zoo: unknown option '%s'\n\n%s", o, zoo_help), 2;
    }
    if (rc) return rc;
    if (!out) return fprintf(stderr, "rnnrep zoo: --out DIR is required\n"), 2;
    if (steps_given && !snapshots_given) zoo_scale_snapshots(&s);
    if (last == SIZE_MAX) last = s.runs;
    if (zoo_settings_check(&s, err)) return fprintf(stderr, "rnnrep zoo: %s\n", err), 2;
    if (first >= last || last > s.runs) return fprintf(stderr, "rnnrep zoo: slice %zu:%zu is outside the %zu runs\n", first, last, s.runs), 2;
    if (jobs > 1 && last - first > 1) return zoo_jobs(program_path, argc, argv, &s, out, first, last, jobs < last - first ? jobs : last - first);
    char label[64];
    snprintf(label, sizeof label, "zoo %s %zu:%zu", argv[0], first, last);
    Progress p = {label, rr_seconds(), 0, isatty(fileno(stderr)), 1};
    if (zoo_generate(&s, out, first, last, resume, progress_report, &p, err)) return fprintf(stderr, "rnnrep zoo: %s\n", err), 1;
    return 0;
}

/* ========================================================================================
 * golden: regenerate the reference fixtures
 * ====================================================================================== */

static int cmd_golden(int argc, char **argv)
{
    const char *dir = "golden";
    char err[RR_ERRLEN];
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) dir = argv[++i];
        else return fprintf(stderr, "rnnrep golden: unknown argument '%s'\n", argv[i]), 2;
    }
    if (golden_write(dir, err)) return fprintf(stderr, "rnnrep golden: %s\n", err), 1;
    printf("wrote %s/ and %s/README.md\n", dir, dir);
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
    {"golden", cmd_golden, "regenerate the reference fixtures in golden/",
     "usage: rnnrep golden [--out DIR]\n"
     "\n"
     "Recomputes every fixture (each network at reduced widths, with inputs, outputs, a loss and\n"
     "all gradients; an AdamW trajectory) deterministically and writes them as float32 .npy\n"
     "files with a README.md that documents each array and parameter layout. Default DIR golden.\n"},
    {"zoo", cmd_zoo, "generate, merge and describe model zoos", zoo_help},
    {"models", cmd_models, "the networks, their properties and parameter counts",
     "usage: rnnrep models\n"
     "\n"
     "Prints the encoders' table of the paper's poster for both zoo shapes (formal languages\n"
     "I = O = 6; sequential MNIST I = 16, O = 10): type, invariance to hidden-neuron\n"
     "permutations, universality, and the parameter count at the paper's configuration,\n"
     "counted by building each network; then the zoo LSTM's and the emulator's counts.\n"},
    {"invariance", cmd_invariance, "embedding change of each encoder under neuron permutations",
     "usage: rnnrep invariance\n"
     "\n"
     "For each encoder at the paper's configuration (random initialisation) and a batch of\n"
     "4 randomly initialised zoo RNNs, prints max |E(θ) - E(πθ)| / max |E(θ)|, where π is a\n"
     "random permutation of the hidden neurons of each LSTM layer (SPEC.md §1). Invariant\n"
     "encoders show rounding error only (about 1e-7 in float).\n"},
    {"bench", cmd_bench, "time the kernels, the emulation training steps and the zoo steps",
     "usage: rnnrep bench [NAME...]\n"
     "\n"
     "Prints one tab-separated line per benchmark: name, milliseconds per iteration\n"
     "(median of 7 repeats after two warm-up calls; 3 repeats for calls over a second) and\n"
     "GFLOP/s where the flop count is known (else 0). A NAME selects every benchmark whose\n"
     "name starts with it (the fast and naive kernels are timed together). One thread,\n"
     "float. Benchmarks:\n"
     "  gemm-256-fast, gemm-256-naive    256x256x256 matrix product\n"
     "  gemm-lstm-fast, gemm-lstm-naive  32x38 times 38x128, the zoo LSTM's gate product\n"
     "  zoo-step-formal, zoo-step-mnist  one AdamW update of a zoo RNN: batch 32, 41 / 50 steps\n"
     "  step-ENCODER-formal, step-ENCODER-mnist   one emulation training step at the paper's\n"
     "                     configuration (batch 64, encoder + emulator forward and backward,\n"
     "                     AdamW) for ENCODER in stats, flat, transformer, dws,\n"
     "                     noninteractive, interactive. The transformer needs about 7 GB.\n"},
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
    program_path = argv[0];
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
        }
        return commands[i].run(argc - 2, argv + 2);
    }
    fprintf(stderr, "rnnrep: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
