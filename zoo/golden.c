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
    char config[512];
    const char *notes;  /* the conventions of this kind of fixture, in Markdown */
    const char *layout; /* what the parameter table lays out */
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

static const char notes_zoo_lstm[] =
    "Inputs x are any real numbers (uniform in (-1, 1) here, not one-hot tokens or image tiles). From "
    "h = c = 0 in both layers, the LSTM runs over the T steps and the linear head maps the second "
    "layer's h at every step t to `logits[:, t]`:\n\n"
    "```\n"
    "h1, _ = lstm(x)                   # (B, T, H), nn.LSTM(I, H, num_layers=2, batch_first=True)\n"
    "logits = linear(h1)               # (B, T, O)\n"
    "loss = (logits * loss_weights).sum()\n"
    "```\n\n"
    "Compare `logits`, `loss`, `grad_params` and `grad_x` (d loss / d x).\n";

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
             "PyTorch's default initialisation (every entry uniform in ±1/√%zu), seed %zu; B = %zu, T = %zu.",
             z.I, z.H, z.H, z.O, z.H, (size_t)(100 + z.I), B, T);
    f->notes = notes_zoo_lstm;
    f->layout = "Parameter layout of `params` (and of `grad_params`)";
    size_t P = m.params.n;
    add_array(f, "params", "θ in PyTorch's flat order (the table below)", 1, &P, m.params.data);
    add_tensor(f, "x", "inputs (B, T, I), uniform in (-1, 1)", x, 0);
    add_tensor(f, "logits", "outputs (B, T, O) of the linear head at every step", y, 0);
    add_tensor(f, "loss_weights", "(B, T, O), uniform in (-1, 1)", r, 0);
    add_array(f, "loss", "sum(logits * loss_weights)", 1, (size_t[]){1}, loss->data);
    add_array(f, "grad_params", "d loss / d params, same layout as params", 1, &P, m.params.grad);
    add_tensor(f, "grad_x", "d loss / d x (B, T, I)", x, 1);
    record_layout(f, &m.params);
    tape_free(&t);
    zoo_lstm_free(&m);
}

static const char notes_emulator[] =
    "The embedding enters once: projected and added to the projected first input step (with both "
    "projections' biases). The LSTM starts from zero state. The loss is the total-variation distance, "
    "with its factor 0.5, between the two softmax distributions over the O outputs at each of the "
    "B·T positions, averaged over the positions:\n\n"
    "```\n"
    "u = input_projection(x)                                   # (B, T, D)\n"
    "u[:, 0] = u[:, 0] + embedding_projection(embedding)       # the first step only\n"
    "h, _ = lstm(u)                                            # nn.LSTM(D, D, 2, batch_first=True)\n"
    "logits = output_projection(h)                             # (B, T, O)\n"
    "p, q = softmax(target, -1), softmax(logits, -1)\n"
    "loss = (0.5 * (p - q).abs().sum(-1)).mean()\n"
    "```\n\n"
    "`embedding` here is uniform in (-0.5, 0.5), not normalised (in emulation training it is "
    "E(θ) / ‖E(θ)‖); `target` is uniform in (-2, 2) and read as logits (the zoo RNN's stored "
    "outputs). Compare `logits`, `loss`, `grad_params`, `grad_x` and `grad_embedding`.\n";

static void fixture_emulator(Fixture *f, ZooShape z, GoldenWidth width)
{
    Rng rng;
    rng_seed(&rng, 200 + z.I);
    size_t D = width == GOLDEN_PAPER ? emulator_config_paper(z).width : 32, E = 16, B = 2, T = 5;
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
             "the first step only, nn.LSTM(D, D, 2), output Linear(D, %zu); PyTorch's default initialisation, seed %zu; "
             "B = %zu, T = %zu.",
             D, E, z.I, z.O, (size_t)(200 + z.I), B, T);
    f->notes = notes_emulator;
    f->layout = "Parameter layout of `params` (and of `grad_params`)";
    size_t P = em.params.n;
    add_array(f, "params", "emulator parameters, flat (the table below)", 1, &P, em.params.data);
    add_tensor(f, "x", "inputs (B, T, I), uniform in (-1, 1)", x, 0);
    add_tensor(f, "embedding", "(B, E) the embedding it is conditioned on, uniform in (-0.5, 0.5)", e, 0);
    add_tensor(f, "target", "(B, T, O) logits of the distributions it imitates, uniform in (-2, 2)", target, 0);
    add_tensor(f, "logits", "emulator outputs (B, T, O)", y, 0);
    add_array(f, "loss", "the total-variation emulation loss", 1, (size_t[]){1}, loss->data);
    add_array(f, "grad_params", "d loss / d params", 1, &P, em.params.grad);
    add_tensor(f, "grad_x", "d loss / d x (B, T, I)", x, 1);
    add_tensor(f, "grad_embedding", "d loss / d embedding (B, E)", e, 1);
    record_layout(f, &em.params);
    tape_free(&t);
    emulator_free(&em);
}

/* What each encoder computes from θ, in the terms of its PyTorch module. */
static const char notes_stats[] =
    "Features, (B, 70): each row of θ is cut into its ten tensors (the `theta_*` table), each\n"
    "flattened to its n entries, and tensor k in that order (weight_ih_l0, weight_hh_l0,\n"
    "bias_ih_l0, ..., linear.bias) gives the 7 statistics at columns 7k .. 7k + 6 (tensor-major):\n"
    "\n"
    "```\n"
    "x = theta[:, offset:offset + n]                           # (B, n), tensor k\n"
    "stats_k = cat([x.mean(1, keepdim=True),                   # mean\n"
    "               x.var(1, keepdim=True),                    # unbiased variance, divisor n - 1\n"
    "               torch.quantile(x, torch.tensor([0., .25, .5, .75, 1.]), dim=1).t()], 1)\n"
    "features = cat([stats_0, ..., stats_9], 1)                # (B, 70)\n"
    "E = mlp_model(features)                                   # Linear(70, h), ReLU, Linear(h, 16)\n"
    "```\n"
    "\n"
    "torch.quantile's default 'linear' interpolation: with s the n entries sorted ascending and\n"
    "p = q (n - 1), the quantile is s[⌊p⌋] + w (s[⌈p⌉] - s[⌊p⌋]), w = p - ⌊p⌋. rnnrep computes\n"
    "each statistic in double from the float32 θ and rounds it once to float32; a float32 PyTorch\n"
    "run agrees to rounding. `grad_theta` is d loss / d θ as PyTorch's autograd defines it through\n"
    "these three ops: d mean / d x_i = 1/n, d var / d x_i = 2 (x_i - mean) / (n - 1), and each\n"
    "quantile passes (1 - w) of its gradient to the entry at sorted position ⌊p⌋ and w to the\n"
    "entry at ⌈p⌉ (the whole of it when p is whole), so most entries receive only the mean's and\n"
    "the variance's share. The entries at those positions are unique in `theta_*`, so no tie\n"
    "makes the gradient depend on how equal entries are sorted. (The official module also holds\n"
    "the levels as a buffer `quantiles`; it is not a parameter and not in `params`.)\n";

static const char notes_flat[] =
    "The input is each row of θ exactly as stored, in the flat order of the `theta_*` table:\n"
    "\n"
    "```\n"
    "E = mlp_model(theta)     # Linear(P, h), ReLU, Linear(h, h), ReLU, Linear(h, h), ReLU, Linear(h, 16)\n"
    "```\n"
    "\n"
    "No permutation augmentation here (it belongs to training, SPEC.md §5).\n";

static const char notes_transformer[] =
    "One token per row of each of the five weight matrices, in this order: lstm.weight_ih_l0 (4H rows),\n"
    "lstm.weight_hh_l0 (4H), lstm.weight_ih_l1 (4H), lstm.weight_hh_l1 (4H), linear.weight (O rows).\n"
    "A token's features are the row followed by the matching bias entry, [W[r, :] | b[r]]\n"
    "(weight_ih rows with bias_ih, weight_hh rows with bias_hh, linear.weight with linear.bias),\n"
    "mapped by that matrix's own `input_transformations.<name>`, Linear(cols + 1, d). The learned\n"
    "compression token comes last, at index T - 1 (T = 16H + O + 1: 519 formal, 523 MNIST), and\n"
    "the learned positional encoding is added to all T tokens:\n"
    "\n"
    "```\n"
    "tokens_m = input_transformations[m](cat([W_m, b_m[:, :, None]], 2))   # (B, rows_m, d), m = 0..4\n"
    "x = cat([tokens_0, ..., tokens_4, compression_token.expand(B, 1, d)], 1) + positional_encoding\n"
    "x = transformer(x)                      # nn.TransformerEncoder of the layers below\n"
    "E = output_projection(x[:, T - 1])      # the compression token's output\n"
    "```\n"
    "\n"
    "Each layer is nn.TransformerEncoderLayer(d, heads, ffn, dropout=0, activation=relu,\n"
    "batch_first=True, norm_first=False), post-LayerNorm (eps 1e-5), no mask:\n"
    "\n"
    "```\n"
    "x = norm1(x + self_attn(x, x, x))       # [q | k | v] = x in_proj_weight^T + in_proj_bias;\n"
    "x = norm2(x + linear2(relu(linear1(x))))   # head j: columns j d/heads .. (j+1) d/heads - 1,\n"
    "                                        # softmax(q k^T / sqrt(d/heads)) v, then out_proj\n"
    "```\n";

static const char notes_dws[] =
    "Input, 4 channels: each LSTM tensor is viewed with its 4 gate blocks (i, f, g, o) as channels,\n"
    "a weight (4H, k) as (4, H, k) and a bias (4H) as (4, H), i.e. `W.view(B, 4, H, k)`;\n"
    "linear.weight (O, H) and linear.bias (O) are repeated over the 4 channels, (B, 4, O, H) and\n"
    "(B, 4, O). Names: A_0 = weight_ih_l0, A_1 = weight_ih_l1, A_2 = linear.weight, a_l their biases;\n"
    "B_0 = weight_hh_l0, B_1 = weight_hh_l1, b_l their biases. Weights are (B, C, rows, cols),\n"
    "biases (B, C, rows); rowmean(W) = W.mean(2) (a vector over the columns), colmean(W) = W.mean(3)\n"
    "(over the rows). One layer `np_model.<2i>`, C_in → C_out:\n"
    "\n"
    "```\n"
    "A_0 += in_embed; A_2 += out_embed; a_2 += out_bias_embed     # learned io-embeddings, broadcast\n"
    "g = cat([A_0.mean((2,3)), B_0..., A_1..., B_1..., A_2..., a_0.mean(2), b_0..., a_1..., b_1..., a_2...], 1)\n"
    "                                                             # (B, 10 C_in)\n"
    "for A_l:  R = [rowmean A_l] + ([colmean A_{l-1}, a_{l-1}, colmean B_{l-1}, b_{l-1}, rowmean B_{l-1}] if l > 0)\n"
    "          Q = [colmean A_l, a_l] + ([colmean B_l, b_l, rowmean B_l, rowmean A_{l+1}] if l < 2)\n"
    "for B_l:  R = [rowmean B_l, colmean B_l, b_l, colmean A_l, a_l]\n"
    "          Q = [colmean B_l, b_l, rowmean B_l] + ([rowmean A_1] if l == 0)\n"
    "R, Q = cat(R, 1), cat(Q, 1)          # (B, |R| C_in, cols), (B, |Q| C_in, rows): item-major\n"
    "W_out = layer(W) + layer_rc(g)[:, :, None, None] + layer_r(R)[:, :, None, :] + layer_c(Q)[:, :, :, None]\n"
    "b_out = bias(Q) + bias_rc(g)[:, :, None]\n"
    "```\n"
    "\n"
    "with, for A_l, the maps `i2h_layer_l` (Conv2d(C_in, C_out, 1)), `i2h_layer_l_rc` (Linear(10 C_in,\n"
    "C_out)), `i2h_layer_l_r`, `i2h_layer_l_c`, `i2h_bias_l` (Conv1d(·, C_out, 1)) and `i2h_bias_l_rc`\n"
    "(Linear(10 C_in, C_out)); for B_l the same with `h2h`. The io-embeddings act before everything\n"
    "else in the layer, so g, R and Q see the embedded tensors. ReLU on every weight and bias between\n"
    "layers, none after the last. Readout: each of the ten tensors, in θ's flat order (weight_ih_l0,\n"
    "weight_hh_l0, bias_ih_l0, bias_hh_l0, weight_ih_l1, ..., linear.bias), averaged over all its\n"
    "entries per channel, gives feature k C + c of (B, 10 C); E = mlp_model(features), Linear(10 C, h),\n"
    "ReLU, Linear(h, 16).\n";

static const char notes_probing[] =
    "Both probing encoders are one module (the official InteractiveEncoder); they differ only in the\n"
    "weights of the probe generator's input, u_s = iw · y_s + sw · probing_encodings[s]: interactive\n"
    "iw = 1, sw = 0 (each probe depends on the answers so far), non-interactive iw = 0, sw = 1 (a fixed\n"
    "learned sequence, the same for every θ). With C the core width, h the hidden width, M streams and\n"
    "L probing steps:\n"
    "\n"
    "```\n"
    "def core(x):                            # rnn_cells.0 and .1, nn.LSTMCell(C, C), residual outputs\n"
    "    for l in 0, 1:\n"
    "        hc[l] = rnn_cells[l](x, hc[l])  # (h, c), zeros at the start\n"
    "        x = hc[l][0] + x                # out = h + x\n"
    "    return x\n"
    "x = bos.expand(B, C)                    # the zoo RNN θ (per sample its own) starts at h = c = 0\n"
    "for s in range(L + 1):\n"
    "    y = core(x)\n"
    "    if s == L: break\n"
    "    u = iw * y + sw * probing_encodings[s]\n"
    "    e = relu(proj_up(u)).view(B, M, h)               # stream m: columns m h .. (m+1) h - 1\n"
    "    z = probing_input_decoder(e)                     # Linear(h, h), ReLU, Linear(h, I)\n"
    "    p = softmax(z, -1) if the zoo reads tokens else sigmoid(z)    # probe_inputs[:, s], (B, M, I)\n"
    "    o = one step of the zoo RNN θ on p               # probe_answers[:, s], raw logits (B, M, O)\n"
    "    x = sigmoid(probing_output_transform(o.view(B, M * O)))       # stream-major\n"
    "y = core(eos.expand(B, C))\n"
    "E = output_transform(y)                              # Linear(C, h), ReLU, Linear(h, 16)\n"
    "```\n"
    "\n"
    "Softmax over the I tokens for formal languages, elementwise sigmoid for the MNIST tiles. The zoo\n"
    "RNN keeps its (h, c), both layers, per stream, from one probing step to the next: it reads the L\n"
    "probes as one sequence. The core takes L + 2 steps: L that each produce a probe, one more that\n"
    "reads the last answer (its output is not used, its state is), and the eos step. Its states start\n"
    "at zero: the parameters `h0` and `c0` exist in the official module and are counted, but are never\n"
    "read. `probing_encodings` has L + 1 rows and row L is never read (only non-interactive probing\n"
    "reads rows 0 .. L - 1). Gradients flow through the zoo RNN into the probe generator and, θ being\n"
    "an input, into `grad_theta`.\n";

/* Reduced widths that keep golden/ small, or the paper's; the zoo RNNs are at their real size. */
static EncoderConfig golden_encoder_config(EncoderKind kind, ZooShape z, GoldenWidth width)
{
    EncoderConfig c = encoder_config_paper(kind, z);
    if (width == GOLDEN_PAPER) return c;
    c.hidden = kind == ENC_FLAT ? 4 : 32;
    c.d_model = 16;
    c.heads = 2;
    c.ffn = 32;
    c.layers = 2;
    c.channels = 8;
    c.core = 32;
    return c;
}

static void fixture_encoder(Fixture *f, EncoderKind kind, ZooShape z, GoldenWidth width)
{
    Rng rng;
    size_t B = 4, P = zoo_num_params(z);
    Tape t;
    tape_init(&t);
    Tensor *theta = tensor_new(&t, 2, (size_t[]){B, P}, 1);
    rng_seed(&rng, 300 + z.I); /* the four zoo RNNs of fixture_theta, for every encoder */
    zoo_lstm_init_batch(z, B, &rng, theta->data);
    rng_seed(&rng, 310 + 10 * (uint64_t)kind + z.I);
    EncoderConfig cfg = golden_encoder_config(kind, z, width);
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
    case ENC_STATS:
        snprintf(f->config, sizeof f->config, "Layer-wise statistics, MLP 70 -> h = %zu -> 16 (paper h = 128).", cfg.hidden);
        f->notes = notes_stats;
        break;
    case ENC_FLAT:
        snprintf(f->config, sizeof f->config, "Flattened weights, MLP P -> h -> h -> h -> 16 with h = %zu (paper 128).", cfg.hidden);
        f->notes = notes_flat;
        break;
    case ENC_TRANSFORMER:
        snprintf(f->config, sizeof f->config, "Parameter transformer, d = %zu, heads = %zu, ffn = %zu, %zu post-LN layers (paper 128, 2, 512, 6), dropout 0.",
                 cfg.d_model, cfg.heads, cfg.ffn, cfg.layers);
        f->notes = notes_transformer;
        break;
    case ENC_DWS:
        snprintf(f->config, sizeof f->config, "DWSNet, channels 4 -> C = %zu in %zu layers (paper 48, 4), head 10 C -> h = %zu -> 16 (paper 480 -> 128 -> 16).",
                 cfg.channels, cfg.dws_layers, cfg.hidden);
        f->notes = notes_dws;
        break;
    default:
        snprintf(f->config, sizeof f->config, "%s probing (iw = %d, sw = %d), core width C = %zu (paper 256), h = %zu (paper 128), M = %zu, L = %zu, %s probes.",
                 kind == ENC_INTERACTIVE ? "Interactive" : "Non-interactive", kind == ENC_INTERACTIVE, kind != ENC_INTERACTIVE,
                 cfg.core, cfg.hidden, cfg.M, cfg.L, zoo_reads_tiles(z) ? "sigmoid" : "softmax");
        f->notes = notes_probing;
    }
    size_t used = strlen(f->config);
    snprintf(f->config + used, sizeof f->config - used,
             " Input θ (B = 4, P): `theta_%s/theta.npy`. Parameters drawn by rnnrep with seed %zu (which then draws "
             "`loss_weights`). Loss = sum(embedding_normalized * loss_weights).",
             zoo_name(z), (size_t)(310 + 10 * kind + z.I));
    f->layout = "Parameter layout of `params` (and of `grad_params`)";
    size_t NP = enc.params.n;
    add_array(f, "params", "encoder parameters, flat (the table below)", 1, &NP, enc.params.data);
    add_tensor(f, "embedding", "E(θ) (B, 16) before normalisation", e, 0);
    add_tensor(f, "embedding_normalized", "E(θ) / max(‖E(θ)‖, 1e-12) per row (B, 16)", en, 0);
    add_tensor(f, "loss_weights", "(B, 16), uniform in (-1, 1)", r, 0);
    add_array(f, "loss", "sum(embedding_normalized * loss_weights)", 1, (size_t[]){1}, loss->data);
    add_array(f, "grad_params", "d loss / d params", 1, &NP, enc.params.grad);
    add_tensor(f, "grad_theta", "d loss / d θ (B, P), θ taken as an input that requires grad", theta, 1);
    if (probing) {
        add_tensor(f, "probe_inputs", "the probe inputs p (B, L, M, I) given to each zoo RNN, after softmax / sigmoid", trace.inputs, 0);
        add_tensor(f, "probe_answers", "the zoo RNN's raw logits (B, L, M, O) at every probing step", trace.answers, 0);
    }
    record_layout(f, &enc.params);
    tape_free(&t);
    encoder_free(&enc);
}

static const char notes_theta[] =
    "Not an output: the input that every `encoder_*` fixture of this zoo shape reads, and the layout in "
    "which every encoder sees θ. Each row is one zoo RNN nn.LSTM(I, 32, num_layers=2, "
    "batch_first=True) + nn.Linear(32, O), its ten tensors flattened row-major and concatenated in "
    "the order and at the offsets of the table (the order of `named_parameters()`, which is also the "
    "layout of the released zoos' `parameters.npy`). Each entry was drawn uniform in ±1/√32 (PyTorch's "
    "default for nn.LSTM and for nn.Linear with 32 inputs) by rnnrep's generator, the four RNNs in turn, "
    "each tensor in table order; a backend loads these float32 values rather than drawing its own. "
    "Nothing to compare, except that a backend's reader splits a row into the same tensors.\n";

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
    snprintf(f->config, sizeof f->config, "4 zoo RNNs θ (I = %zu, H = %zu, O = %zu, P = %zu) with PyTorch's default initialisation, seed %zu.",
             z.I, z.H, z.O, P, (size_t)(300 + z.I));
    f->notes = notes_theta;
    f->layout = "Layout of each row of `theta`";
    add_array(f, "theta", "θ (4, P), one zoo RNN per row", 2, (size_t[]){B, P}, theta);
    free(theta);
}

static const char notes_adamw[] =
    "Ten training steps on one fixed batch. Step s = 0 .. 9 evaluates the loss at `params[s]` "
    "(stored as `loss[s]`), backpropagates, and applies one AdamW update, giving `params[s + 1]`; "
    "`params[0]` is the initialisation (PyTorch's default, uniform in ±1/√in, drawn by rnnrep). "
    "With t = s + 1, the gradient g of one parameter θ, and m = v = 0 before the first step:\n\n"
    "```\n"
    "loss = ((model(x) - target) ** 2).mean()           # nn.MSELoss(), over all 10 elements\n"
    "θ = θ * (1 - lr * weight_decay)                    # decoupled weight decay first\n"
    "m = β1 m + (1 - β1) g;   v = β2 v + (1 - β2) g²\n"
    "θ = θ - lr / (1 - β1^t) * m / (sqrt(v) / sqrt(1 - β2^t) + eps)\n"
    "```\n\n"
    "which is torch.optim.AdamW (amsgrad off). A backend loads `params[0]`, `x` and `target`, runs "
    "the ten steps and compares `loss` and `params[1 ..]`.\n";

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
             "model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), loss = MSE(model(x), target), seed 400.");
    f->notes = notes_adamw;
    f->layout = "Layout of each row of `params`";
    add_array(f, "x", "inputs (5, 3), uniform in (-1, 1)", 2, (size_t[]){5, 3}, xs);
    add_array(f, "target", "targets (5, 2), uniform in (-1, 1)", 2, (size_t[]){5, 2}, ys);
    add_array(f, "params", "(11, n): row s = the parameters before step s; row 10 = after the last step", 2, (size_t[]){11, ps.n}, traj);
    add_array(f, "loss", "(10): the loss at step s, before its update", 1, (size_t[]){10}, losses);
    record_layout(f, &ps);
    free(traj);
    tape_free(&t);
    paramset_free(&ps);
}

/* Fixture k of golden_count(); fills f. */
static size_t golden_count(void) { return 2 + 2 + 2 + 2 * ENC_COUNT + 1; }

static void golden_compute(size_t k, GoldenWidth width, Fixture *f)
{
    memset(f, 0, sizeof *f);
    const ZooShape zs[2] = {ZOO_FORMAL, ZOO_MNIST};
    if (k < 2) fixture_zoo_lstm(f, zs[k]);
    else if (k < 4) fixture_emulator(f, zs[k - 2], width);
    else if (k < 6) fixture_theta(f, zs[k - 4]);
    else if (k < 6 + 2 * ENC_COUNT) fixture_encoder(f, (EncoderKind)((k - 6) / 2), zs[(k - 6) % 2], width);
    else fixture_adamw(f);
}

/* ========================================================================================
 * Writing and comparing
 * ====================================================================================== */

/* The README's first paragraph, for each width: where the files come from and what checks them. */
static const char *const readme_opening[2] = {
    "# golden/ — reference fixtures\n"
    "\n"
    "Written by `rnnrep golden`, deterministically; `make test` recomputes every array and compares it\n"
    "with these files (`tests/test_golden.c`). Each fixture is a directory of NumPy `.npy` files\n"
    "(format 1.0, little-endian float32 `<f4`, C order), computed by rnnrep's float32 build, whose\n"
    "reductions (sums, means, norms, softmax denominators, statistics) accumulate in double. Networks\n"
    "run at reduced widths to keep this directory small; the zoo RNNs θ are at their real size. Every\n",
    "# Reference fixtures at the paper's widths\n"
    "\n"
    "Written by `rnnrep golden --width paper`, deterministically, for a backend to test itself at real\n"
    "size (not kept in the repository; `golden/` holds the same fixtures at reduced widths, which\n"
    "`make test` checks). Each fixture is a directory of NumPy `.npy` files (format 1.0, little-endian\n"
    "float32 `<f4`, C order), computed by rnnrep's float32 build, whose reductions (sums, means, norms,\n"
    "softmax denominators, statistics) accumulate in double. Networks run at the paper's widths\n"
    "(SPEC.md §3, §4) and the zoo RNNs θ at their real size; the PyTorch comparison quoted under\n"
    "\"Comparing\" below was made at the reduced widths. Every\n",
};

static const char readme_intro[] =
    "random number comes from rnnrep's own generator (the seeds are given for the record): a backend\n"
    "loads the stored inputs and parameters instead of drawing its own.\n"
    "\n"
    "## Conventions shared by every fixture\n"
    "\n"
    "- **Parameters.** `params.npy` holds a network's parameters flattened row-major and concatenated\n"
    "  at the offsets of the fixture's table. The names are the `state_dict` keys of the equivalent\n"
    "  PyTorch module (buffers excepted) and the shapes are its shapes, so\n"
    "  `torch.from_numpy(params[offset:offset + numel]).view(shape)` per name rebuilds a state dict\n"
    "  that the module loads. `grad_params.npy` has the same layout.\n"
    "- **Layers.** Linear weights are (out, in): y = x W^T + b. LSTM gates are in PyTorch's order i, f,\n"
    "  g, o (rows 0..H-1, H..2H-1, 2H..3H-1, 3H..4H-1 of every (4H, ·) weight and (4H) bias), and every\n"
    "  LSTM starts from h = c = 0:\n"
    "  ```\n"
    "  gates = W_ih x + b_ih + W_hh h + b_hh\n"
    "  c' = sigmoid(f) * c + sigmoid(i) * tanh(g),   h' = sigmoid(o) * tanh(c')\n"
    "  ```\n"
    "- **θ.** A zoo RNN is nn.LSTM(I, 32, num_layers=2, batch_first=True) followed by\n"
    "  nn.Linear(32, O) at every step; its weights θ are P numbers in the flat order of the `theta_*`\n"
    "  tables (formal languages: I = O = 6, P = 13,766; MNIST: I = 16, O = 10, P = 15,178). Every\n"
    "  encoder reads a batch θ (B, P), one RNN per row, and cuts each row into the ten tensors of that\n"
    "  table. θ is an input, never a parameter: `grad_theta` is d loss / d θ with θ an input that\n"
    "  requires grad.\n"
    "- **Losses.** Each fixture reduces its outputs to one scalar `loss`: mostly\n"
    "  sum(output * loss_weights) with loss_weights uniform in (-1, 1), so that every output element\n"
    "  gets its own gradient; the emulator and AdamW fixtures use their training losses. Every `grad_*`\n"
    "  array is d loss / d (that array), from one backward pass. The encoders' output is normalised\n"
    "  per row before the loss, E / max(‖E‖, 1e-12), as F.normalize(E, dim=-1).\n"
    "- **Comparing.** For each array, err = max |yours - reference| / max |reference|. rnnrep's own\n"
    "  float32 build reproduces these files byte for byte and its float64 build is held to\n"
    "  err <= 1e-5. Every fixture rebuilt from this file alone in PyTorch 1.13 (float32, one thread)\n"
    "  came within err 1.4e-6 of the previous files on every array, most within 5e-7; these files,\n"
    "  written since rnnrep's float build computes exp (in sigmoid, tanh and softmax) with its own\n"
    "  vectorised `rr_exp`, differ from those by err <= 3.4e-7. err <= 1e-5 is a fair test for a\n"
    "  float32 backend.\n";

static void shape_text(const GoldenArray *a, char *buf, size_t len)
{
    npy_shape_str(a->ndim, a->shape, buf, len);
}

static void write_readme_fixture(FILE *md, const Fixture *f)
{
    fprintf(md, "## %s\n\n%s\n\n%s\n| file | shape | dtype | meaning |\n|---|---|---|---|\n", f->name, f->config, f->notes);
    for (size_t i = 0; i < f->count; i++) {
        char sh[96];
        shape_text(&f->arrays[i], sh, sizeof sh);
        fprintf(md, "| `%s/%s.npy` | %s | `<f4` | %s |\n", f->name, f->arrays[i].name, sh, f->arrays[i].meaning);
    }
    fprintf(md, "\n%s:\n\n| name | shape | offset |\n|---|---|---|\n", f->layout);
    for (size_t i = 0; i < f->nparams; i++) {
        char sh[96];
        npy_shape_str(f->param_ndim[i], f->param_shape[i], sh, sizeof sh);
        fprintf(md, "| `%s` | %s | %zu |\n", f->param_names[i], sh, f->param_offset[i]);
    }
    fprintf(md, "\n");
}

int golden_write(const char *dir, GoldenWidth width, char *err)
{
    char path[1024];
    int rc = rr_make_dir(dir, err);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/README.md", dir);
    FILE *md = fopen(path, "w");
    if (!md) return rr_error(err, RR_ERR_OPEN, "%s: cannot create", path);
    fprintf(md, "%s%s\n", readme_opening[width], readme_intro);
    for (size_t k = 0; k < golden_count() && !rc; k++) {
        Fixture f;
        golden_compute(k, width, &f);
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

int golden_compare(const char *dir, GoldenWidth width, FILE *log, size_t *mismatches, char *err)
{
    double rtol = sizeof(real) == sizeof(double) ? GOLDEN_RTOL_DOUBLE : GOLDEN_RTOL_FLOAT;
    *mismatches = 0;
    for (size_t k = 0; k < golden_count(); k++) {
        Fixture f;
        golden_compute(k, width, &f);
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
