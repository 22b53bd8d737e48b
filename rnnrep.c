/*
 * rnnrep.c — the command-line program: subcommands, options, progress and reports.
 * All computation lives in the library (autograd.c, models/, zoo/).
 */
#include <math.h>
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

/* Runs fn until one repeat takes about 0.1 s, then 7 repeats (3 when one call takes over a
 * second); prints the median. */
static void bench_run(const char *name, double flops, BenchFn fn, void *ctx)
{
    double times[7], t0 = rr_seconds();
    long iters = 1;
    fn(ctx); /* warm-up */
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
    size_t P = zoo_num_params(z);
    real *theta = rr_malloc(B * P * sizeof(real), "zoo parameters");
    for (size_t b = 0; b < B; b++) {
        ZooLstm m;
        zoo_lstm_init(&m, z, rng);
        memcpy(theta + b * P, m.params.data, P * sizeof(real));
        zoo_lstm_free(&m);
    }
    return theta;
}

static void bench_step(EncoderKind kind, ZooShape z, const char *task)
{
    enum { B = 64 };
    size_t T = z.I == ZOO_MNIST.I ? 50 : 41;
    Rng rng;
    rng_seed(&rng, 3);
    EncoderConfig cfg = encoder_config_paper(kind, z);
    Encoder enc;
    Emulator em;
    encoder_init(&enc, &cfg, &rng);
    emulator_init(&em, z, 256, cfg.embed, &rng);
    StepBench s;
    emulation_trainer_init(&s.trainer, &enc, &em, 4);
    real *theta = random_zoo_thetas(z, B, &rng);
    real *x = rr_malloc((size_t)B * T * z.I * sizeof(real), "bench inputs");
    real *y = rr_malloc((size_t)B * T * z.O * sizeof(real), "bench targets");
    for (size_t i = 0; i < (size_t)B * T * z.I; i++) x[i] = (real)rng_uniform(&rng);
    for (size_t i = 0; i < (size_t)B * T * z.O; i++) y[i] = (real)rng_normal(&rng);
    s.batch = (EmulationBatch){B, T, theta, x, y};
    char name[64];
    snprintf(name, sizeof name, "step-%s-%s", encoder_names[kind], task);
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

/* A benchmark runs when no names are given or one of the names is a prefix of its name. */
static int selected(const char *name, int argc, char **argv)
{
    if (argc == 0) return 1;
    for (int i = 0; i < argc; i++)
        if (strncmp(name, argv[i], strlen(argv[i])) == 0) return 1;
    return 0;
}

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
    if (selected("zoo-step-formal", argc, argv)) bench_zoo_step("zoo-step-formal", ZOO_FORMAL, 41);
    if (selected("zoo-step-mnist", argc, argv)) bench_zoo_step("zoo-step-mnist", ZOO_MNIST, 50);
    for (int task = 0; task < 2; task++)
        for (int k = 0; k < ENC_COUNT; k++) {
            char name[64];
            snprintf(name, sizeof name, "step-%s-%s", encoder_names[k], task ? "mnist" : "formal");
            if (selected(name, argc, argv)) bench_step((EncoderKind)k, task ? ZOO_MNIST : ZOO_FORMAL, task ? "mnist" : "formal");
        }
    return 0;
}

/* ========================================================================================
 * models: the encoders' table of the paper's poster, with parameter counts computed by
 * building each network at the paper's configuration.
 * ====================================================================================== */

static const struct {
    const char *type;
    int invariant, universal;
} encoder_facts[ENC_COUNT] = {
    [ENC_STATS] = {"mechanistic", 1, 0},       [ENC_FLAT] = {"mechanistic", 0, 1},
    [ENC_TRANSFORMER] = {"mechanistic", 0, 1}, [ENC_DWS] = {"mechanistic", 1, 1},
    [ENC_NONINTERACTIVE] = {"functionalist", 1, 1}, [ENC_INTERACTIVE] = {"functionalist", 1, 1},
};

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
    emulator_init(&ef, ZOO_FORMAL, 256, 16, &rng);
    emulator_init(&emm, ZOO_MNIST, 256, 16, &rng);
    printf("%-16s %-14s %-10s %-10s %12s %12s\n", "network", "type", "invariant", "universal", "formal", "mnist");
    for (int k = 0; k < ENC_COUNT; k++)
        printf("%-16s %-14s %-10s %-10s %12zu %12zu\n", encoder_names[k], encoder_facts[k].type,
               encoder_facts[k].invariant ? "yes" : "no", encoder_facts[k].universal ? "yes" : "no",
               encoder_param_count((EncoderKind)k, ZOO_FORMAL), encoder_param_count((EncoderKind)k, ZOO_MNIST));
    printf("%-16s %-14s %-10s %-10s %12zu %12zu\n", "zoo-lstm", "(the RNN θ)", "-", "-", zf.params.n, zm.params.n);
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

/* max |E(θ) - E(πθ)| / max |E(θ)| over a batch of 4 random zoo RNNs. */
static double invariance_change(EncoderKind kind, ZooShape z, Rng *rng)
{
    enum { B = 4 };
    size_t P = zoo_num_params(z);
    EncoderConfig cfg = encoder_config_paper(kind, z);
    Encoder enc;
    encoder_init(&enc, &cfg, rng);
    real *theta = random_zoo_thetas(z, B, rng);
    size_t *perm = rr_malloc(2 * z.H * sizeof *perm, "permutation");
    Tape t;
    tape_init(&t);
    t.record = 0;
    Tensor *th = tensor_new(&t, 2, (size_t[]){B, P}, 0), *tp = tensor_new(&t, 2, (size_t[]){B, P}, 0);
    memcpy(th->data, theta, B * P * sizeof(real));
    rng_permutation(rng, z.H, perm);
    rng_permutation(rng, z.H, perm + z.H);
    for (size_t b = 0; b < B; b++) zoo_permute(z, theta + b * P, perm, perm + z.H, tp->data + b * P);
    Tensor *e1 = encoder_forward(&t, &enc, th, NULL), *e2 = encoder_forward(&t, &enc, tp, NULL);
    double diff = 0, scale = 0;
    for (size_t i = 0; i < e1->size; i++) {
        double d = fabs((double)e1->data[i] - e2->data[i]), m = fabs((double)e1->data[i]);
        diff = d > diff ? d : diff;
        scale = m > scale ? m : scale;
    }
    tape_free(&t);
    free(perm);
    free(theta);
    encoder_free(&enc);
    return diff / (scale > 0 ? scale : 1);
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
        printf("%-16s %-10s %14.3e %14.3e\n", encoder_names[k], encoder_facts[k].invariant ? "yes" : "no", f, m);
    }
    printf("(max relative change of E(θ) under a random hidden-neuron permutation of θ)\n");
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
