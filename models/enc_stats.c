/*
 * enc_stats.c — the layer-wise statistics encoder (SPEC.md §3.1): mechanistic, invariant
 * under the hidden-neuron permutations (every statistic is a function of the multiset of a
 * tensor's entries), but not universal.
 *
 *   features = for each of the 10 tensors of θ, in the flat order (weight_ih_l0, weight_hh_l0,
 *              bias_ih_l0, ..., linear.bias):
 *                [mean, unbiased variance, quantile 0, .25, .5, .75, 1]      (B, 70)
 *   E(θ)     = Linear(70, h) → ReLU → (hidden_layers - 1) × [Linear(h, h) → ReLU] → Linear(h, E)
 *
 * As the official ParameterStatisticsEncoder: tensor-major feature order (tensor k, statistic j
 * at 7k + j), torch.var (divisor n - 1), torch.quantile (linear interpolation), and the MLP is
 * an nn.Sequential named mlp_model whose Linear layers sit at the even indices 0, 2, 4, ...
 * The statistics are tape ops (op_mean_axis, op_variance, op_quantile), each accumulated in
 * double and rounded once. When θ carries a gradient, d E / d θ flows through them as
 * PyTorch's autograd defines it (the quantiles send (1 - w) and w of theirs to the two entries
 * they interpolate); when it does not, they record nothing. The official training treats θ as
 * data, so emulation training never asks for that gradient.
 */
#include "models/encoders.h"

enum { NUM_LEVELS = 5 };
const double stats_quantile_levels[NUM_LEVELS] = {0, 0.25, 0.5, 0.75, 1};

void stats_encoder_init(Encoder *enc, Rng *rng)
{
    const EncoderConfig *c = &enc->cfg;
    Mlp *mlp = rr_malloc(sizeof *mlp, "stats encoder");
    mlp_declare(mlp, &enc->params, "mlp_model", STATS_FEATURES, c->hidden, c->hidden_layers, c->embed);
    paramset_finalize(&enc->params);
    mlp_init(mlp, rng);
    enc->impl = mlp;
}

Tensor *stats_features(Tape *t, ZooShape z, Tensor *theta)
{
    size_t B = theta->shape[0];
    Tensor *views[ZOO_NUM_TENSORS], *parts[3 * ZOO_NUM_TENSORS];
    zoo_theta_views(t, z, theta, views);
    for (int k = 0; k < ZOO_NUM_TENSORS; k++) {
        Tensor *x = tensor_view(t, views[k], 2, (size_t[]){B, views[k]->size / B}); /* (B, n) */
        parts[3 * k] = tensor_view(t, op_mean_axis(t, x, 1), 2, (size_t[]){B, 1});
        parts[3 * k + 1] = tensor_view(t, op_variance(t, x), 2, (size_t[]){B, 1});
        parts[3 * k + 2] = op_quantile(t, x, stats_quantile_levels, NUM_LEVELS);           /* (B, 5) */
    }
    return op_concat(t, parts, 3 * ZOO_NUM_TENSORS, 1);                              /* (B, 70) */
}

Tensor *stats_encoder_forward(Tape *t, const Encoder *enc, Tensor *theta, ProbeTrace *trace)
{
    (void)trace;
    return mlp_forward(t, enc->impl, stats_features(t, enc->cfg.zoo, theta));     /* (B, E) */
}
