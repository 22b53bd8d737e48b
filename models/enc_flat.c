/*
 * enc_flat.c — the flattened-weights encoder (SPEC.md §3.2): mechanistic and universal, but
 * not invariant under the hidden-neuron permutations, so it is trained with permutation
 * augmentation (models/train.c).
 *
 *   E(θ) = Linear(P, h) → ReLU → (hidden_layers - 1) × [Linear(h, h) → ReLU] → Linear(h, E)
 *
 * with θ in the flat order of SPEC.md §1, which is the official FlatParameterEncoder's
 * concatenation order. The official module is an nn.Sequential named mlp_model whose Linear
 * layers sit at the even indices 0, 2, 4, 6. Paper: h = 128, hidden_layers = 3, which gives
 * P·128 + 128 + 2 (128·128 + 128) + 128·16 + 16 = 1,797,264 (formal languages, P = 13,766) and
 * 1,978,000 (MNIST, P = 15,178) parameters. Gradients flow into θ when it carries one.
 */

#include "models/encoders.h"

void flat_encoder_init(Encoder *enc, Rng *rng)
{
    const EncoderConfig *c = &enc->cfg;
    Mlp *mlp = rr_malloc(sizeof *mlp, "flat encoder");
    mlp_declare(mlp, &enc->params, "mlp_model", zoo_num_params(c->zoo), c->hidden, c->hidden_layers, c->embed);
    paramset_finalize(&enc->params);
    mlp_init(mlp, rng);
    enc->impl = mlp;
}

Tensor *flat_encoder_forward(Tape *t, const Encoder *enc, Tensor *theta, ProbeTrace *trace)
{
    (void)trace;
    return mlp_forward(t, enc->impl, theta); /* (B, P) -> (B, E) */
}
