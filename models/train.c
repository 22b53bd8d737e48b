/*
 * train.c — emulation training (SPEC.md §5): one step encodes a batch of θ, normalises the
 * embeddings, runs the emulator on each θ's stored sequence and descends the emulation loss
 * with AdamW on encoder and emulator, clipping each one's gradient norm separately.
 */
#include <stdlib.h>
#include <string.h>

#include "rnnrep.h"

void emulation_trainer_init(EmulationTrainer *tr, Encoder *enc, Emulator *em, uint64_t seed)
{
    tr->encoder = enc;
    tr->emulator = em;
    tr->opt = adamw_default();
    tr->opt.lr = 1e-4;
    tr->opt.weight_decay = 0.01;
    tr->clip = 0.1;
    tr->loss = LOSS_TV;
    /* Encoders that are not invariant to hidden-neuron permutations learn it from data. */
    tr->augment = !encoder_facts[enc->cfg.kind].invariant;
    rng_seed(&tr->rng, seed);
    tape_init(&tr->tape);
}

void emulation_trainer_free(EmulationTrainer *tr) { tape_free(&tr->tape); }

/* loss = emulation_loss(emulator(x, E(θ) / |E(θ)|), targets) */
static Tensor *emulation_forward(EmulationTrainer *tr, const EmulationBatch *batch, const real *theta)
{
    Tape *t = &tr->tape;
    ZooShape z = tr->emulator->cfg.zoo;
    size_t B = batch->B, T = batch->T, P = zoo_num_params(z);
    Tensor *th = tensor_new(t, 2, (size_t[]){B, P}, 0);                 /* (B, P) */
    Tensor *x = tensor_new(t, 3, (size_t[]){B, T, z.I}, 0);             /* (B, T, I) */
    Tensor *target = tensor_new(t, 3, (size_t[]){B, T, z.O}, 0);        /* (B, T, O) */
    memcpy(th->data, theta, B * P * sizeof(real));
    memcpy(x->data, batch->inputs, x->size * sizeof(real));
    memcpy(target->data, batch->targets, target->size * sizeof(real));
    Tensor *e = op_l2_normalize(t, encoder_forward(t, tr->encoder, th, NULL)); /* (B, E) */
    Tensor *logits = emulator_forward(t, tr->emulator, x, e);           /* (B, T, O) */
    return emulation_loss(t, tr->loss, logits, target);
}

/* With augmentation, batch's θ under one random permutation per LSTM layer drawn from tr->rng,
 * the same for the whole batch (a malloc'd copy); otherwise NULL. */
static real *augmented_theta(EmulationTrainer *tr, const EmulationBatch *batch)
{
    if (!tr->augment) return NULL;
    ZooShape z = tr->emulator->cfg.zoo;
    real *permuted = rr_malloc(batch->B * zoo_num_params(z) * sizeof *permuted, "permuted batch");
    zoo_permute_rows(z, batch->theta, batch->B, 0, &tr->rng, permuted);
    return permuted;
}

double emulation_eval(EmulationTrainer *tr, const EmulationBatch *batch)
{
    real *permuted = augmented_theta(tr, batch);
    tape_reset(&tr->tape);
    tr->tape.record = 0;
    tr->tape.training = 0;
    double loss = emulation_forward(tr, batch, permuted ? permuted : batch->theta)->data[0];
    tr->tape.record = 1;
    free(permuted);
    return loss;
}

double emulation_step(EmulationTrainer *tr, const EmulationBatch *batch)
{
    real *permuted = augmented_theta(tr, batch);
    tape_reset(&tr->tape);
    tr->tape.record = 1;
    tr->tape.training = 1;            /* dropout (the transformer's, when set) draws from tr->rng */
    tr->tape.rng = &tr->rng;
    Tensor *loss = emulation_forward(tr, batch, permuted ? permuted : batch->theta);
    paramset_zero_grad(&tr->encoder->params);
    paramset_zero_grad(&tr->emulator->params);
    tape_backward(&tr->tape, loss);
    paramset_clip_grad_norm(&tr->encoder->params, tr->clip);
    paramset_clip_grad_norm(&tr->emulator->params, tr->clip);
    adamw_step(&tr->encoder->params, &tr->opt);
    adamw_step(&tr->emulator->params, &tr->opt);
    tr->tape.training = 0;
    free(permuted);
    return loss->data[0];
}

/* e (E) as n identical rows, for a conditioned emulator stepping n sequences. */
static real *repeat_rows(const real *e, size_t E, size_t n)
{
    real *rows = rr_malloc(n * E * sizeof(real), "embeddings");
    for (size_t i = 0; i < n; i++) memcpy(rows + i * E, e, E * sizeof(real));
    return rows;
}

void clone_sample_tokens(const Emulator *em, const real *theta, const real *e, size_t n, size_t len, int bos,
                         Rng *rng_theta, Rng *rng_clone, int16_t *from_theta, int16_t *from_clone)
{
    ZooLstm zoo;
    zoo_lstm_from_theta(&zoo, em->cfg.zoo, theta);
    SeqModel original = zoo_lstm_seq(&zoo);
    seq_sample_tokens(&original, rng_theta, n, len, bos, from_theta, NULL);
    zoo_lstm_free(&zoo);
    real *rows = repeat_rows(e, em->cfg.embed, n);
    SeqModel clone = emulator_seq(em, rows);
    seq_sample_tokens(&clone, rng_clone, n, len, bos, from_clone, NULL);
    free(rows);
}

double clone_accuracy(const Emulator *em, const real *e, const real *x, const int32_t *labels, size_t n, size_t T)
{
    real *rows = repeat_rows(e, em->cfg.embed, n);
    SeqModel clone = emulator_seq(em, rows);
    SeqScore score = seq_classify(&clone, x, n, T, labels, NULL);
    free(rows);
    return n ? (double)score.correct / (double)n : 0.0;
}
