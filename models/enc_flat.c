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
#include <stdio.h>

#include "models/encoders.h"

typedef struct FlatEncoder {
    size_t n_linear;  /* hidden_layers + 1 */
    Linear mlp[];     /* mlp_model.0, mlp_model.2, ... */
} FlatEncoder;

void flat_encoder_init(Encoder *enc, Rng *rng)
{
    const EncoderConfig *c = &enc->cfg;
    if (c->hidden_layers < 1) rr_fatal("flat encoder: hidden_layers must be at least 1");
    size_t n = c->hidden_layers + 1;
    FlatEncoder *f = rr_malloc(sizeof *f + n * sizeof f->mlp[0], "flat encoder");
    f->n_linear = n;
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "mlp_model.%zu", 2 * i);
        size_t in = i == 0 ? zoo_num_params(c->zoo) : c->hidden, out = i + 1 == n ? c->embed : c->hidden;
        linear_declare(&f->mlp[i], &enc->params, name, in, out, 1);
    }
    paramset_finalize(&enc->params);
    for (size_t i = 0; i < n; i++) linear_init(&f->mlp[i], rng);
    enc->impl = f;
}

Tensor *flat_encoder_forward(Tape *t, const Encoder *enc, Tensor *theta, ProbeTrace *trace)
{
    const FlatEncoder *f = enc->impl;
    Tensor *x = theta; /* (B, P) */
    (void)trace;
    for (size_t i = 0; i < f->n_linear; i++) {
        x = linear_forward(t, &f->mlp[i], x);              /* (B, h), last (B, E) */
        if (i + 1 < f->n_linear) x = op_relu(t, x);
    }
    return x;
}
