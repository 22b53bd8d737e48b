/* test_threads.c — the same bits at 1, 2 and 3 threads: the matrix-product kernels (and the
 * pre-packed one against the plain one), every op that shares its work out, forward and
 * backward, on tensors large enough to use the threads; an emulation training step of each
 * encoder kind (the loss, the gradient norms, every parameter and AdamW moment after the
 * step); a small zoo
 * (every file). Without OpenMP every count is 1, which the program says; its checks then
 * compare one thread with itself. */
#include <stdlib.h>
#include <string.h>

#include "files.h"
#include "tinyzoo.h"

static const size_t counts[] = {1, 2, 3};
enum { COUNTS = sizeof counts / sizeof counts[0] };

/* A growing record of results, compared byte for byte between thread counts. */
typedef struct Record { unsigned char *v; size_t n, cap; } Record;

static void record_bytes(Record *r, const void *x, size_t bytes)
{
    if (r->n + bytes > r->cap) {
        r->cap = 2 * (r->n + bytes);
        r->v = realloc(r->v, r->cap);
        if (!r->v) rr_fatal("out of memory in test_threads");
    }
    memcpy(r->v + r->n, x, bytes);
    r->n += bytes;
}

static void record(Record *r, const real *x, size_t n) { record_bytes(r, x, n * sizeof(real)); }

/* Records 1.. equal record 0 bit for bit. */
static void check_same(Record *r, const char *what)
{
    for (size_t c = 1; c < COUNTS; c++) {
        int same = r[c].n == r[0].n && !memcmp(r[c].v, r[0].v, r[0].n);
        CHECK(same, "%s: %zu threads differ from 1", what, counts[c]);
    }
    for (size_t c = 0; c < COUNTS; c++) free(r[c].v);
}

static void fill(real *x, size_t n, Rng *rng)
{
    for (size_t i = 0; i < n; i++) x[i] = (real)(2 * rng_uniform(rng) - 1);
}

/* gemm_fast at each count, and gemm_packed on the same B, on products above the threshold
 * where the threads split rows (M large) and where they split columns (M small). */
static void check_kernels(void)
{
    static const size_t shapes[][5] = {{64, 1024, 256, 0, 1}, {64, 256, 1024, 0, 0}, {1024, 256, 700, 1, 0}, {301, 203, 517, 1, 1}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        size_t M = shapes[k][0], N = shapes[k][1], K = shapes[k][2];
        int ta = (int)shapes[k][3], tb = (int)shapes[k][4];
        Rng rng;
        rng_seed(&rng, 7 + k);
        real *A = malloc(M * K * sizeof(real)), *B = malloc(K * N * sizeof(real)), *C = malloc(M * N * sizeof(real));
        fill(A, M * K, &rng);
        fill(B, K * N, &rng);
        Record fast[COUNTS] = {{0}}, packed[COUNTS] = {{0}};
        for (size_t c = 0; c < COUNTS; c++) {
            rr_set_threads(counts[c]);
            memset(C, 0, M * N * sizeof(real));
            gemm_fast(M, N, K, A, ta ? M : K, ta, B, tb ? K : N, tb, C, N);
            record(&fast[c], C, M * N);
            GemmPacked p;
            gemm_pack(&p, K, N, B, tb ? K : N, tb);
            memset(C, 0, M * N * sizeof(real));
            gemm_packed(M, A, ta ? M : K, ta, &p, C, N);
            gemm_pack_free(&p);
            record(&packed[c], C, M * N);
            CHECK(!memcmp(fast[c].v, packed[c].v, M * N * sizeof(real)), "gemm %zux%zux%zu: packed differs from fast at %zu threads",
                  M, N, K, counts[c]);
        }
        char what[64];
        snprintf(what, sizeof what, "gemm_fast %zux%zux%zu", M, N, K);
        check_same(fast, what);
        snprintf(what, sizeof what, "gemm_packed %zux%zux%zu", M, N, K);
        check_same(packed, what);
        free(A);
        free(B);
        free(C);
    }
}

/* Every op with a parallel loop, on (R, D) = (600, 96) inputs (57,600 elements: above every
 * threshold), into one loss; records each result and every input's gradient. */
static void run_ops(Record *out)
{
    enum { R = 600, D = 96, C = 8 };
    Rng rng;
    rng_seed(&rng, 21);
    Tape t;
    tape_init(&t);
    Tensor *x = tensor_new(&t, 2, (size_t[]){R, D}, 1), *y = tensor_new(&t, 2, (size_t[]){R, D}, 1);
    Tensor *col = tensor_new(&t, 1, (size_t[]){D}, 1), *row = tensor_new(&t, 3, (size_t[]){C, R / C, 1}, 1);
    Tensor *gamma = tensor_new(&t, 1, (size_t[]){D}, 1), *beta = tensor_new(&t, 1, (size_t[]){D}, 1);
    Tensor *W = tensor_new(&t, 2, (size_t[]){D, D}, 1), *bias = tensor_new(&t, 1, (size_t[]){D}, 1);
    Tensor *gates = tensor_new(&t, 2, (size_t[]){R, 4 * 24}, 1), *cell = tensor_new(&t, 2, (size_t[]){R, 24}, 1);
    Tensor *Ws = tensor_new(&t, 2, (size_t[]){10, D}, 1), *Wb = tensor_new(&t, 3, (size_t[]){60, 8, D}, 1);
    Tensor *bb = tensor_new(&t, 2, (size_t[]){60, 8}, 1);
    Tensor *inputs[] = {x, y, col, row, gamma, beta, W, bias, gates, cell, Ws, Wb, bb};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) fill(inputs[i]->data, inputs[i]->size, &rng);
    int32_t labels[R];
    for (size_t r = 0; r < R; r++) labels[r] = (int32_t)rng_below(&rng, D);
    Tensor *x3 = tensor_view(&t, x, 3, (size_t[]){C, R / C, D});
    Tensor *x60 = tensor_view(&t, x, 3, (size_t[]){60, 10, D}), *y60 = tensor_view(&t, y, 3, (size_t[]){60, 10, D});
    Tensor *h, *cn;
    op_lstm_cell(&t, gates, cell, &h, &cn);
    Tensor *results[] = {
        op_add(&t, x, col),                                  /* broadcast rows, b contiguous */
        op_mul(&t, x3, row),                                 /* broadcast columns, b constant per row */
        op_sub(&t, x, y),
        op_mul(&t, x, y),
        op_scale(&t, x, (real)0.7),
        op_add_scalar(&t, y, (real)0.3),
        op_sigmoid(&t, x),
        op_tanh(&t, y),
        op_relu(&t, x),
        op_exp(&t, y),
        op_log(&t, op_add_scalar(&t, op_abs(&t, x), (real)0.5)),
        op_sum_axis(&t, x, 0),
        op_mean_axis(&t, y, 1),
        op_variance(&t, x),
        op_quantile(&t, y, (const double[]){0, 0.25, 0.5, 0.75, 1}, 5),
        op_l2_normalize(&t, x),
        op_layer_norm(&t, y, gamma, beta, (real)1e-5),
        op_softmax(&t, x),
        op_log_softmax(&t, y),
        op_linear(&t, x, W, bias),
        op_matmul(&t, x3, tensor_view(&t, y, 3, (size_t[]){C, R / C, D}), 1, 0), /* each product on the threads */
        op_matmul(&t, x60, y60, 0, 1),                       /* small products shared out */
        op_matmul(&t, Ws, y60, 0, 1),                        /* a shared left operand */
        op_linear_batched(&t, x60, Wb, bb),
        op_attention(&t, x60, tensor_view(&t, y, 3, (size_t[]){60, 5, 2 * D}), 2, 0), /* (sample, head) pairs shared out */
        h,
        cn,
        op_cross_entropy(&t, x, labels),
        op_bce_logits(&t, x, op_sigmoid(&t, y)),
        op_mse(&t, x, y),
        op_total_variation(&t, op_softmax(&t, x), op_softmax(&t, y)),
        op_kl_div(&t, op_log_softmax(&t, x), op_log_softmax(&t, y)),
    };
    enum { NRESULTS = sizeof results / sizeof results[0] };
    Tensor *loss = NULL;
    for (size_t i = 0; i < NRESULTS; i++) {
        Tensor *term = op_sum_all(&t, op_mul(&t, results[i], results[i]));
        loss = loss ? op_add(&t, loss, term) : term;
        record(out, results[i]->data, results[i]->size);
    }
    tape_backward(&t, loss);
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) record(out, inputs[i]->grad, inputs[i]->size);
    tape_free(&t);
}

static void check_ops(void)
{
    Record r[COUNTS] = {{0}};
    for (size_t c = 0; c < COUNTS; c++) {
        rr_set_threads(counts[c]);
        run_ops(&r[c]);
    }
    check_same(r, "ops, forward and backward");
}

/* One emulation training step at reduced widths (emulator D = 64, batch 32, sequences of 12:
 * above the threads' thresholds) from the same seed; records the loss, then per network the
 * norm of the clipped gradients and every parameter and AdamW moment. */
static void run_step(EncoderKind kind, Record *out)
{
    enum { B = 32, T = 12 };
    ZooShape z = ZOO_FORMAL;
    Rng rng;
    rng_seed(&rng, 31);
    EncoderConfig cfg = encoder_config_paper(kind, z);
    cfg.hidden = 64;
    cfg.d_model = 32;
    cfg.ffn = 64;
    cfg.layers = 1;
    cfg.channels = 8;
    cfg.dws_layers = 2;
    cfg.core = 64;
    cfg.L = 6;
    EmulatorConfig ec = emulator_config_paper(z);
    ec.width = 64;
    Encoder enc;
    Emulator em;
    encoder_init(&enc, &cfg, &rng);
    emulator_init(&em, &ec, &rng);
    EmulationTrainer tr;
    emulation_trainer_init(&tr, &enc, &em, 5);
    tr.clip = 1e-3; /* so that the gradient norms scale every gradient */
    real *theta = malloc(B * zoo_num_params(z) * sizeof(real)), *x = calloc(B * T * z.I, sizeof(real));
    real *target = malloc(B * T * z.O * sizeof(real));
    zoo_lstm_init_batch(z, B, &rng, theta);
    for (size_t i = 0; i < B * T; i++) x[i * z.I + rng_below(&rng, z.I)] = 1;
    fill(target, B * T * z.O, &rng);
    EmulationBatch batch = {B, T, theta, x, target};
    double loss = emulation_step(&tr, &batch);
    record_bytes(out, &loss, sizeof loss);
    const ParamSet *sets[2] = {&enc.params, &em.params};
    for (int k = 0; k < 2; k++) {
        double norm = paramset_grad_norm(sets[k]); /* of the clipped gradients, in double */
        record_bytes(out, &norm, sizeof norm);
        record(out, sets[k]->data, sets[k]->n);
        record(out, sets[k]->m, sets[k]->n);
        record(out, sets[k]->v, sets[k]->n);
    }
    emulation_trainer_free(&tr);
    encoder_free(&enc);
    emulator_free(&em);
    free(theta);
    free(x);
    free(target);
}

static void check_steps(void)
{
    for (int k = 0; k < ENC_COUNT; k++) {
        Record r[COUNTS] = {{0}};
        for (size_t c = 0; c < COUNTS; c++) {
            rr_set_threads(counts[c]);
            run_step((EncoderKind)k, &r[c]);
        }
        char what[64];
        snprintf(what, sizeof what, "emulation step, %s encoder", encoder_facts[k].name);
        check_same(r, what);
    }
}

/* A formal-languages zoo of one run with batch 128 and 200 sampled sequences per evaluation
 * (so that its products and cells use the threads), generated at each count: every file
 * the same. */
static void check_zoo(void)
{
    static const char *const files[] = {"args.json", "parameters.npy", "sequences.npy", "logits.npy", "tasks.npy",
                                        "num_step_correct.npy", "num_step_correct_strict.npy"};
    ZooSettings s = tiny_zoo_settings(ZOO_KIND_FORMAL, 1);
    s.batch = 128;
    s.samples = 200;
    char dir[COUNTS][64], err[RR_ERRLEN];
    for (size_t c = 0; c < COUNTS; c++) {
        rr_set_threads(counts[c]);
        snprintf(dir[c], sizeof dir[c], "build/tests/threads-zoo-%zu", counts[c]);
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir[c]);
        CHECK(system(cmd) == 0, "clear %s", dir[c]);
        int rc = zoo_generate(&s, dir[c], 0, s.runs, 0, NULL, NULL, err);
        CHECK(rc == RR_OK, "zoo at %zu threads: %s", counts[c], rc ? err : "");
    }
    for (size_t c = 1; c < COUNTS; c++)
        for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
            char a[256], b[256];
            snprintf(a, sizeof a, "%s/%s", dir[0], files[f]);
            snprintf(b, sizeof b, "%s/%s", dir[c], files[f]);
            CHECK(same_files(a, b), "zoo: %s differs at %zu threads", files[f], counts[c]);
        }
}

int main(void)
{
    rr_set_threads(3);
    if (rr_threads() != 3)
        printf("SKIP built without OpenMP: every thread count is 1, so these checks compare one thread with itself\n");
    check_kernels();
    check_ops();
    check_steps();
    check_zoo();
    return test_summary("test_threads");
}
