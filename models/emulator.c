/*
 * emulator.c — the emulator and the emulation losses (SPEC.md §4).
 *
 * The emulator is the official EmulatorLSTM: it reads the zoo RNN's input sequence and,
 * conditioned on the embedding E(θ), predicts the zoo RNN's output distribution at every
 * step. The embedding enters once, added to the projected first input; after that the
 * emulator only has its own recurrent state to remember which RNN it imitates.
 */
#include <stdlib.h>

#include "rnnrep.h"

/* Declaration order = the official module's registration order, hence its state_dict order:
 * embedding_projection, input_projection, lstm (layer 0, then 1), output_projection. */
EmulatorConfig emulator_config_paper(ZooShape zoo)
{
    EmulatorConfig c = {zoo, 256, PAPER_EMBED};
    return c;
}

void emulator_init(Emulator *em, const EmulatorConfig *cfg, Rng *rng)
{
    ZooShape zoo = cfg->zoo;
    size_t width = cfg->width, embed = cfg->embed;
    em->cfg = *cfg;
    paramset_init(&em->params, "emulator");
    linear_declare(&em->embedding, &em->params, "embedding_projection", embed, width, 1);
    linear_declare(&em->input, &em->params, "input_projection", zoo.I, width, 1);
    lstm_layer_declare(&em->lstm[0], &em->params, "lstm.", "_l0", width, width);
    lstm_layer_declare(&em->lstm[1], &em->params, "lstm.", "_l1", width, width);
    linear_declare(&em->output, &em->params, "output_projection", width, zoo.O, 1);
    paramset_finalize(&em->params);
    /* PyTorch's default initialisation. The official option emulator_open_gate_init (forget-gate
     * biases set to 1) defaults to 1 in its argument parser, but every configuration sets it to
     * 0, so the runs used the default initialisation. */
    linear_init(&em->embedding, rng);
    linear_init(&em->input, rng);
    lstm_layer_init(&em->lstm[0], rng);
    lstm_layer_init(&em->lstm[1], rng);
    linear_init(&em->output, rng);
}

void emulator_free(Emulator *em) { paramset_free(&em->params); }

/* u_0 = x_0 W_in^T + b_in + (e W_emb^T + b_emb),  u_s = x_s W_in^T + b_in for s > 0;
 * h = LSTM_1(LSTM_0(u));  logits = h W_out^T + b_out.
 * e may be NULL: no conditioning term at all (not even b_emb). */
Tensor *emulator_forward(Tape *t, const Emulator *em, Tensor *x, Tensor *e)
{
    if (x->ndim != 3 || x->shape[2] != em->cfg.zoo.I) {
        char sx[96];
        tensor_shape_str(x, sx, sizeof sx);
        rr_fatal("emulator_forward: want x (B, T, %zu), got %s", em->cfg.zoo.I, sx);
    }
    size_t B = x->shape[0], T = x->shape[1], D = em->cfg.width;
    if (e && (e->ndim != 2 || e->shape[0] != B || e->shape[1] != em->cfg.embed))
        rr_fatal("emulator_forward: want e (%zu, %zu)", B, em->cfg.embed);
    Tensor *u = linear_forward(t, &em->input, x);                               /* (B, T, D) */
    if (e) {
        Tensor *cond = tensor_view(t, linear_forward(t, &em->embedding, e), 3, (size_t[]){B, 1, D}); /* (B, 1, D) */
        Tensor *first = op_add(t, op_slice(t, u, 1, 0, 1), cond);               /* (B, 1, D) */
        u = T == 1 ? first : op_concat(t, (Tensor *[]){first, op_slice(t, u, 1, 1, T - 1)}, 2, 1);
    }
    Tensor *h0 = lstm_layer_sequence(t, &em->lstm[0], u);                      /* (B, T, D) */
    Tensor *h1 = lstm_layer_sequence(t, &em->lstm[1], h0);                     /* (B, T, D) */
    return linear_forward(t, &em->output, h1);                                 /* (B, T, O) */
}

const char *const emulation_loss_names[LOSS_COUNT] = {"tv", "kl", "reverse_kl", "js", "ce", "l2"};

/* The official training_iteration, with p = softmax(target) and q = softmax(logits) over the K
 * outputs, per position, and every loss averaged over all B * T positions (the official mean
 * over a sample's positions, then over samples, is the same mean since T is fixed):
 *
 *   tv          0.5 sum_k |p_k - q_k|                           ("total_variation", the default)
 *   kl          (1/K) sum_k p_k (log p_k - log q_k)              ("kl")
 *   reverse_kl  (1/K) sum_k q_k (log q_k - log p_k)              ("kl_reverse")
 *   js          (kl + reverse_kl) / 2                            ("js_div")
 *   ce          -sum_k p_k log q_k                               ("ce", see below)
 *   l2          (1/K) sum_k (log q_k - log p_k)^2                ("l2")
 *
 * Differences from the textbook quantities, all kept as the official code has them:
 * - kl and reverse_kl are KL(p||q) / K and KL(q||p) / K: the code takes F.kl_div(...,
 *   reduction="none").mean(-1), a mean over the K classes where KL is a sum.
 * - js is not the Jensen-Shannon divergence (KL to m = (p + q) / 2); it is the symmetrised
 *   KL, (KL(p||q) + KL(q||p)) / (2K), the mean over positions and classes of the two
 *   pointwise F.kl_div terms.
 * - ce: the official code takes the cross-entropy with hard labels, the stored next token
 *   (formal languages) or argmax of the stored logits (MNIST), which this interface does not
 *   see. We use the soft cross-entropy against p; it is the expectation of the official loss
 *   when the stored token was sampled from p (as the formal-language rollouts are), and
 *   equals KL(p||q) + H(p), so its gradient in q is that of K * kl.
 * - "cosine" (1 - cos(log q, log p)) exists in the official code and is not offered here.
 * The target normally carries no gradient, but gradients flow into it when it does. */
Tensor *emulation_loss(Tape *t, EmulationLoss kind, Tensor *logits, Tensor *target)
{
    if (logits->ndim != target->ndim || logits->size != target->size ||
        logits->shape[logits->ndim - 1] != target->shape[target->ndim - 1]) {
        char sl[96], st[96];
        tensor_shape_str(logits, sl, sizeof sl);
        tensor_shape_str(target, st, sizeof st);
        rr_fatal("emulation_loss: logits %s and target %s differ", sl, st);
    }
    size_t K = logits->shape[logits->ndim - 1], R = logits->size / K;   /* R = B * T positions */
    real inv_K = (real)(1.0 / (double)K);
    switch (kind) {
    case LOSS_TV:
        return op_total_variation(t, op_softmax(t, target), op_softmax(t, logits));
    case LOSS_KL:
        return op_scale(t, op_kl_div(t, op_log_softmax(t, target), op_log_softmax(t, logits)), inv_K);
    case LOSS_REVERSE_KL:
        return op_scale(t, op_kl_div(t, op_log_softmax(t, logits), op_log_softmax(t, target)), inv_K);
    case LOSS_JS: {
        Tensor *log_p = op_log_softmax(t, target), *log_q = op_log_softmax(t, logits);
        Tensor *sum = op_add(t, op_kl_div(t, log_p, log_q), op_kl_div(t, log_q, log_p));
        return op_scale(t, sum, (real)0.5 * inv_K);
    }
    case LOSS_CE: {
        Tensor *p_log_q = op_mul(t, op_softmax(t, target), op_log_softmax(t, logits)); /* (B, T, K) */
        return op_scale(t, op_sum_all(t, p_log_q), (real)(-1.0 / (double)R));
    }
    case LOSS_L2:
        return op_mse(t, op_log_softmax(t, logits), op_log_softmax(t, target));
    default:
        rr_fatal("emulation_loss: unknown loss %d", (int)kind);
    }
}
