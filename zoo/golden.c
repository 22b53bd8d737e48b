/*
 * golden.c — reference fixtures for other implementations (golden/, documented in
 * golden/README.md, which this file writes too). Every network of SPEC.md at reduced widths,
 * with the zoo RNNs at their real size: flat parameters, inputs, outputs, a scalar loss and
 * its gradients with respect to all parameters and inputs; plus an AdamW trajectory.
 *
 * One function computes a fixture's arrays; golden_write saves them and golden_compare
 * recomputes and compares them, so the files and the check can never drift apart.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rnnrep.h"

/* Tolerances of golden_compare, relative to the largest magnitude in each reference array:
 * the float build must reproduce the files to rounding; the double build (which computes
 * more exactly than the float32 files store) to float32's accuracy over deep networks. */
#define GOLDEN_RTOL_FLOAT 1e-6
#define GOLDEN_RTOL_DOUBLE 1e-5

enum { MAX_ARRAYS = 12, MAX_PARAMS = 256 };

typedef struct GoldenArray {
    char name[48];
    char meaning[160];
    int ndim;
    size_t shape[4];
    real *data;         /* owned */
} GoldenArray;

typedef struct Fixture {
    char name[48];
    char config[400];
    size_t count;
    GoldenArray arrays[MAX_ARRAYS];
    /* the flat parameter layout: PyTorch-equivalent names, shapes, offsets */
    size_t nparams;
    char param_names[MAX_PARAMS][64];
    int param_ndim[MAX_PARAMS];
    size_t param_shape[MAX_PARAMS][4], param_offset[MAX_PARAMS];
} Fixture;

static void add_array(Fixture *f, const char *name, const char *meaning, int ndim, const size_t *shape, const real *data)
{
    if (f->count == MAX_ARRAYS) rr_fatal("golden: too many arrays in %s", f->name);
    GoldenArray *a = &f->arrays[f->count++];
    size_t n = 1;
    snprintf(a->name, sizeof a->name, "%s", name);
    snprintf(a->meaning, sizeof a->meaning, "%s", meaning);
    a->ndim = ndim;
    for (int i = 0; i < ndim; i++) n *= a->shape[i] = shape[i];
    a->data = rr_malloc(n * sizeof(real), "golden array");
    memcpy(a->data, data, n * sizeof(real));
}

static void add_tensor(Fixture *f, const char *name, const char *meaning, const Tensor *t, int grad)
{
    add_array(f, name, meaning, t->ndim, t->shape, grad ? t->grad : t->data);
}

static void record_layout(Fixture *f, const ParamSet *ps)
{
    if (ps->count > MAX_PARAMS) rr_fatal("golden: %s has too many parameter tensors", ps->name);
    f->nparams = ps->count;
    for (size_t i = 0; i < ps->count; i++) {
        snprintf(f->param_names[i], 64, "%s", ps->names[i]);
        f->param_ndim[i] = ps->views[i]->ndim;
        for (int d = 0; d < ps->views[i]->ndim; d++) f->param_shape[i][d] = ps->views[i]->shape[d];
        f->param_offset[i] = paramset_offset(ps, i);
    }
}

static void fixture_free(Fixture *f)
{
    for (size_t i = 0; i < f->count; i++) free(f->arrays[i].data);
}

/* A constant (data) tensor filled uniform(lo, hi). */
static Tensor *uniform_tensor(Tape *t, Rng *rng, int ndim, const size_t *shape, double lo, double hi, int grad)
{
    Tensor *a = tensor_new(t, ndim, shape, grad);
    for (size_t i = 0; i < a->size; i++) a->data[i] = (real)(lo + (hi - lo) * rng_uniform(rng));
    return a;
}

/* loss = sum(y * r): every output element gets its own weight, so every gradient is tested. */
static Tensor *weighted_sum(Tape *t, Rng *rng, Tensor *y, Tensor **r_out)
{
    Tensor *r = uniform_tensor(t, rng, y->ndim, y->shape, -1, 1, 0);
    *r_out = r;
    return op_sum_all(t, op_mul(t, y, r));
}

/* ========================================================================================
 * The fixtures
 * ====================================================================================== */

static const char *zoo_name(ZooShape z) { return zoo_reads_tiles(z) ? "mnist" : "formal"; }

static void fixture_zoo_lstm(Fixture *f, ZooShape z)
{
    Rng rng;
    rng_seed(&rng, 100 + z.I);
    ZooLstm m;
    zoo_lstm_init(&m, z, &rng);
    Tape t;
    tape_init(&t);
    size_t B = 2, T = 5;
    Tensor *x = uniform_tensor(&t, &rng, 3, (size_t[]){B, T, z.I}, -1, 1, 1), *r;
    Tensor *y = zoo_lstm_forward(&t, &m, x);
    Tensor *loss = weighted_sum(&t, &rng, y, &r);
    paramset_zero_grad(&m.params);
    tape_backward(&t, loss);
    snprintf(f->name, sizeof f->name, "zoo_lstm_%s", zoo_name(z));
    snprintf(f->config, sizeof f->config,
             "The zoo RNN θ: nn.LSTM(%zu, %zu, num_layers=2, batch_first=True) then nn.Linear(%zu, %zu) at every step, "
             "PyTorch default initialisation (seed %zu). Loss = sum(logits * loss_weights).",
             z.I, z.H, z.H, z.O, (size_t)(100 + z.I));
    size_t P = m.params.n;
    add_array(f, "params", "θ in PyTorch's flat order (the table below)", 1, &P, m.params.data);
    add_tensor(f, "x", "inputs (B, T, I)", x, 0);
    add_tensor(f, "logits", "outputs (B, T, O) of the linear head at every step", y, 0);
    add_tensor(f, "loss_weights", "r (B, T, O)", r, 0);
    add_array(f, "loss", "sum(logits * r)", 1, (size_t[]){1}, loss->data);
    add_array(f, "grad_params", "d loss / d params, same layout as params", 1, &P, m.params.grad);
    add_tensor(f, "grad_x", "d loss / d x", x, 1);
    record_layout(f, &m.params);
    tape_free(&t);
    zoo_lstm_free(&m);
}

static void fixture_emulator(Fixture *f, ZooShape z)
{
    Rng rng;
    rng_seed(&rng, 200 + z.I);
    size_t D = 32, E = 16, B = 2, T = 5;
    Emulator em;
    emulator_init(&em, &(EmulatorConfig){z, D, E}, &rng);
    Tape t;
    tape_init(&t);
    Tensor *x = uniform_tensor(&t, &rng, 3, (size_t[]){B, T, z.I}, -1, 1, 1);
    Tensor *e = uniform_tensor(&t, &rng, 2, (size_t[]){B, E}, -0.5, 0.5, 1);
    Tensor *target = uniform_tensor(&t, &rng, 3, (size_t[]){B, T, z.O}, -2, 2, 0);
    Tensor *y = emulator_forward(&t, &em, x, e);
    Tensor *loss = emulation_loss(&t, LOSS_TV, y, target);
    paramset_zero_grad(&em.params);
    tape_backward(&t, loss);
    snprintf(f->name, sizeof f->name, "emulator_%s", zoo_name(z));
    snprintf(f->config, sizeof f->config,
             "Emulator at width D = %zu (the paper: 256), E = %zu: input Linear(%zu, D), embedding Linear(E, D) added to "
             "the first step only, nn.LSTM(D, D, 2), output Linear(D, %zu); seed %zu. Loss = total variation between "
             "softmax(target) and softmax(logits), mean over B and T.",
             D, E, z.I, z.O, (size_t)(200 + z.I));
    size_t P = em.params.n;
    add_array(f, "params", "emulator parameters, flat (the table below)", 1, &P, em.params.data);
    add_tensor(f, "x", "inputs (B, T, I)", x, 0);
    add_tensor(f, "embedding", "e (B, E), the (normalised) embedding it is conditioned on", e, 0);
    add_tensor(f, "target", "the zoo RNN's outputs (B, T, O) it imitates (logits)", target, 0);
    add_tensor(f, "logits", "emulator outputs (B, T, O)", y, 0);
    add_array(f, "loss", "total-variation emulation loss", 1, (size_t[]){1}, loss->data);
    add_array(f, "grad_params", "d loss / d params", 1, &P, em.params.grad);
    add_tensor(f, "grad_x", "d loss / d x", x, 1);
    add_tensor(f, "grad_embedding", "d loss / d e", e, 1);
    record_layout(f, &em.params);
    tape_free(&t);
    emulator_free(&em);
}

/* Reduced widths that keep golden/ small; the zoo RNNs stay at their real size. */
static EncoderConfig golden_encoder_config(EncoderKind kind, ZooShape z)
{
    EncoderConfig c = encoder_config_paper(kind, z);
    c.hidden = kind == ENC_FLAT ? 4 : 32;
    c.d_model = 16;
    c.heads = 2;
    c.ffn = 32;
    c.layers = 2;
    c.channels = 8;
    c.core = 32;
    return c;
}

static void fixture_encoder(Fixture *f, EncoderKind kind, ZooShape z)
{
    Rng rng;
    size_t B = 4, P = zoo_num_params(z);
    Tape t;
    tape_init(&t);
    Tensor *theta = tensor_new(&t, 2, (size_t[]){B, P}, kind != ENC_STATS);
    rng_seed(&rng, 300 + z.I); /* the four zoo RNNs of fixture_theta, for every encoder */
    zoo_lstm_init_batch(z, B, &rng, theta->data);
    rng_seed(&rng, 310 + 10 * (uint64_t)kind + z.I);
    EncoderConfig cfg = golden_encoder_config(kind, z);
    Encoder enc;
    encoder_init(&enc, &cfg, &rng);
    ProbeTrace trace = {NULL, NULL};
    int probing = kind == ENC_NONINTERACTIVE || kind == ENC_INTERACTIVE;
    Tensor *e = encoder_forward(&t, &enc, theta, probing ? &trace : NULL), *r;
    Tensor *en = op_l2_normalize(&t, e);
    Tensor *loss = weighted_sum(&t, &rng, en, &r);
    paramset_zero_grad(&enc.params);
    tape_backward(&t, loss);
    snprintf(f->name, sizeof f->name, "encoder_%s_%s", encoder_facts[kind].name, zoo_name(z));
    switch (kind) {
    case ENC_STATS: snprintf(f->config, sizeof f->config, "Layer-wise statistics, MLP 70 -> %zu -> 16 (paper 128).", cfg.hidden); break;
    case ENC_FLAT: snprintf(f->config, sizeof f->config, "Flattened weights, MLP P -> %zu -> %zu -> %zu -> 16 (paper 128).", cfg.hidden, cfg.hidden, cfg.hidden); break;
    case ENC_TRANSFORMER:
        snprintf(f->config, sizeof f->config, "Parameter transformer, d %zu, %zu heads, FFN %zu, %zu post-LN layers (paper 128, 2, 512, 6), dropout 0.",
                 cfg.d_model, cfg.heads, cfg.ffn, cfg.layers);
        break;
    case ENC_DWS: snprintf(f->config, sizeof f->config, "DWSNet, channels 4 -> %zu x 4 layers (paper 48), head 480 -> %zu -> 16 (here 10 x %zu features).", cfg.channels, cfg.hidden, cfg.channels); break;
    default:
        snprintf(f->config, sizeof f->config, "%s probing, core width %zu (paper 256), M = %zu, L = %zu.",
                 kind == ENC_INTERACTIVE ? "Interactive" : "Non-interactive", cfg.core, cfg.M, cfg.L);
    }
    size_t used = strlen(f->config);
    snprintf(f->config + used, sizeof f->config - used,
             " Seed %zu. Input: the 4 zoo RNNs θ of `theta_%s/theta.npy`. Loss = sum(E(θ)/|E(θ)| * loss_weights).",
             (size_t)(310 + 10 * kind + z.I), zoo_name(z));
    size_t NP = enc.params.n;
    add_array(f, "params", "encoder parameters, flat (the table below)", 1, &NP, enc.params.data);
    add_tensor(f, "embedding", "E(θ) (B, 16) before normalisation", e, 0);
    add_tensor(f, "embedding_normalized", "E(θ) / |E(θ)| (B, 16)", en, 0);
    add_tensor(f, "loss_weights", "r (B, 16)", r, 0);
    add_array(f, "loss", "sum(embedding_normalized * r)", 1, (size_t[]){1}, loss->data);
    add_array(f, "grad_params", "d loss / d params", 1, &NP, enc.params.grad);
    if (kind != ENC_STATS) add_tensor(f, "grad_theta", "d loss / d θ", theta, 1);
    if (probing) {
        add_tensor(f, "probe_inputs", "the probe inputs p (B, L, M, I) given to each zoo RNN, after softmax / sigmoid", trace.inputs, 0);
        add_tensor(f, "probe_answers", "the zoo RNN's raw logits (B, L, M, O) at every probing step", trace.answers, 0);
    }
    record_layout(f, &enc.params);
    tape_free(&t);
    encoder_free(&enc);
}

/* The input batch shared by the encoder fixtures of one zoo shape. */
static void fixture_theta(Fixture *f, ZooShape z)
{
    Rng rng;
    size_t B = 4, P = zoo_num_params(z);
    real *theta = rr_malloc(B * P * sizeof(real), "theta");
    rng_seed(&rng, 300 + z.I);
    zoo_lstm_init_batch(z, B, &rng, theta);
    ZooLstm layout; /* only for the table of names, shapes and offsets */
    zoo_lstm_init(&layout, z, &rng);
    record_layout(f, &layout.params);
    zoo_lstm_free(&layout);
    snprintf(f->name, sizeof f->name, "theta_%s", zoo_name(z));
    snprintf(f->config, sizeof f->config, "The input of every encoder fixture for this zoo shape: 4 zoo RNNs with PyTorch's default "
                                          "initialisation (seed %zu), each row laid out as the table below.", (size_t)(300 + z.I));
    add_array(f, "theta", "θ (4, P)", 2, (size_t[]){B, P}, theta);
    free(theta);
}

/* 10 AdamW steps (lr 0.01, betas 0.9 / 0.999, eps 1e-8, weight decay 0.01) of a small MLP
 * Linear(3, 4) -> tanh -> Linear(4, 2) on a fixed batch, loss = mean((y - target)^2). */
static void fixture_adamw(Fixture *f)
{
    Rng rng;
    rng_seed(&rng, 400);
    ParamSet ps;
    paramset_init(&ps, "mlp");
    Linear l1, l2;
    linear_declare(&l1, &ps, "0", 3, 4, 1);
    linear_declare(&l2, &ps, "2", 4, 2, 1);
    paramset_finalize(&ps);
    linear_init(&l1, &rng);
    linear_init(&l2, &rng);
    Tape t;
    tape_init(&t);
    real xs[5 * 3], ys[5 * 2];
    for (int i = 0; i < 15; i++) xs[i] = (real)(2 * rng_uniform(&rng) - 1);
    for (int i = 0; i < 10; i++) ys[i] = (real)(2 * rng_uniform(&rng) - 1);
    AdamW opt = {0.01, 0.9, 0.999, 1e-8, 0.01};
    real *traj = rr_malloc(11 * ps.n * sizeof(real), "trajectory"), losses[10];
    memcpy(traj, ps.data, ps.n * sizeof(real));
    for (int step = 0; step < 10; step++) {
        tape_reset(&t);
        Tensor *x = tensor_new(&t, 2, (size_t[]){5, 3}, 0), *y = tensor_new(&t, 2, (size_t[]){5, 2}, 0);
        memcpy(x->data, xs, sizeof xs);
        memcpy(y->data, ys, sizeof ys);
        Tensor *loss = op_mse(&t, linear_forward(&t, &l2, op_tanh(&t, linear_forward(&t, &l1, x))), y);
        losses[step] = loss->data[0];
        paramset_zero_grad(&ps);
        tape_backward(&t, loss);
        adamw_step(&ps, &opt);
        memcpy(traj + (size_t)(step + 1) * ps.n, ps.data, ps.n * sizeof(real));
    }
    snprintf(f->name, sizeof f->name, "adamw");
    snprintf(f->config, sizeof f->config,
             "10 steps of torch.optim.AdamW(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01) on "
             "nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), loss = MSE(output, target), seed 400.");
    add_array(f, "x", "inputs (5, 3)", 2, (size_t[]){5, 3}, xs);
    add_array(f, "target", "targets (5, 2)", 2, (size_t[]){5, 2}, ys);
    add_array(f, "params", "parameters before each step and after the last (11, n)", 2, (size_t[]){11, ps.n}, traj);
    add_array(f, "loss", "the loss at each step, before its update (10)", 1, (size_t[]){10}, losses);
    record_layout(f, &ps);
    free(traj);
    tape_free(&t);
    paramset_free(&ps);
}

/* Fixture k of golden_count(); fills f. */
static size_t golden_count(void) { return 2 + 2 + 2 + 2 * ENC_COUNT + 1; }

static void golden_compute(size_t k, Fixture *f)
{
    memset(f, 0, sizeof *f);
    const ZooShape zs[2] = {ZOO_FORMAL, ZOO_MNIST};
    if (k < 2) fixture_zoo_lstm(f, zs[k]);
    else if (k < 4) fixture_emulator(f, zs[k - 2]);
    else if (k < 6) fixture_theta(f, zs[k - 4]);
    else if (k < 6 + 2 * ENC_COUNT) fixture_encoder(f, (EncoderKind)((k - 6) / 2), zs[(k - 6) % 2]);
    else fixture_adamw(f);
}

/* ========================================================================================
 * Writing and comparing
 * ====================================================================================== */

static void shape_text(const GoldenArray *a, char *buf, size_t len)
{
    npy_shape_str(a->ndim, a->shape, buf, len);
}

static void write_readme_fixture(FILE *md, const Fixture *f)
{
    fprintf(md, "## %s\n\n%s\n\n| file | shape | dtype | meaning |\n|---|---|---|---|\n", f->name, f->config);
    for (size_t i = 0; i < f->count; i++) {
        char sh[96];
        shape_text(&f->arrays[i], sh, sizeof sh);
        fprintf(md, "| `%s/%s.npy` | %s | `<f4` | %s |\n", f->name, f->arrays[i].name, sh, f->arrays[i].meaning);
    }
    fprintf(md, "\nParameter layout of `params` (and `grad_params`):\n\n| name | shape | offset |\n|---|---|---|\n");
    for (size_t i = 0; i < f->nparams; i++) {
        char sh[96];
        npy_shape_str(f->param_ndim[i], f->param_shape[i], sh, sizeof sh);
        fprintf(md, "| `%s` | %s | %zu |\n", f->param_names[i], sh, f->param_offset[i]);
    }
    fprintf(md, "\n");
}

int golden_write(const char *dir, char *err)
{
    char path[1024];
    int rc = rr_make_dir(dir, err);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/README.md", dir);
    FILE *md = fopen(path, "w");
    if (!md) return rr_error(err, RR_ERR_OPEN, "%s: cannot create", path);
    fprintf(md,
            "# golden/ — reference fixtures\n\n"
            "Written by `rnnrep golden` (deterministic; `make test` recomputes every array and compares, see\n"
            "`tests/test_golden.c`). Each fixture is a directory of float32 `.npy` files. Networks run at\n"
            "reduced widths to keep this directory small; the zoo RNNs θ are at their real size. Parameter\n"
            "names are the PyTorch `state_dict` keys of the equivalent module, and `params` holds them\n"
            "concatenated, each flattened row-major, at the offsets listed, so a PyTorch implementation can\n"
            "load them with `torch.from_numpy(params[offset:offset + numel]).view(shape)` per name.\n"
            "Every loss is a sum over an output weighted by `loss_weights` (or the stated loss), so that\n"
            "every output element's gradient is exercised.\n\n");
    for (size_t k = 0; k < golden_count() && !rc; k++) {
        Fixture f;
        golden_compute(k, &f);
        snprintf(path, sizeof path, "%s/%s", dir, f.name);
        rc = rr_make_dir(path, err);
        for (size_t i = 0; i < f.count && !rc; i++) {
            NpyArray a;
            npy_alloc(&a, NPY_F4, f.arrays[i].ndim, f.arrays[i].shape);
            npy_from_real(NPY_F4, f.arrays[i].data, a.count, a.data);
            snprintf(path, sizeof path, "%s/%s/%s.npy", dir, f.name, f.arrays[i].name);
            rc = npy_write(path, &a, err);
            npy_free(&a);
        }
        write_readme_fixture(md, &f);
        fixture_free(&f);
    }
    if (fclose(md) && !rc) rc = rr_error(err, RR_ERR_IO, "%s/README.md: write failed", dir);
    return rc;
}

int golden_compare(const char *dir, FILE *log, size_t *mismatches, char *err)
{
    double rtol = sizeof(real) == sizeof(double) ? GOLDEN_RTOL_DOUBLE : GOLDEN_RTOL_FLOAT;
    *mismatches = 0;
    for (size_t k = 0; k < golden_count(); k++) {
        Fixture f;
        golden_compute(k, &f);
        for (size_t i = 0; i < f.count; i++) {
            char path[1024];
            NpyArray a;
            snprintf(path, sizeof path, "%s/%s/%s.npy", dir, f.name, f.arrays[i].name);
            int rc = npy_read(path, &a, err);
            if (!rc) rc = npy_expect(&a, path, NPY_F4, f.arrays[i].ndim, f.arrays[i].shape, err);
            if (rc) {
                fixture_free(&f);
                return rc;
            }
            const float *ref = a.data;
            double scale = 0, worst = 0;
            for (size_t j = 0; j < a.count; j++) scale = fabs(ref[j]) > scale ? fabs(ref[j]) : scale;
            for (size_t j = 0; j < a.count; j++) {
                double d = fabs((double)f.arrays[i].data[j] - ref[j]) / (scale > 0 ? scale : 1);
                worst = d > worst ? d : worst;
            }
            int ok = worst <= rtol;
            if (!ok) (*mismatches)++;
            if (log) fprintf(log, "%s %-44s max rel diff %.2e%s\n", ok ? "  " : "FAIL", path, worst, ok ? "" : " (over the tolerance)");
            npy_free(&a);
        }
        fixture_free(&f);
    }
    return RR_OK;
}
