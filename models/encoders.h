/*
 * encoders.h — models/ internal: each encoder kind's init and forward, called through
 * encoder_init / encoder_forward (models/encoder.c). init declares the kind's parameters in
 * enc->params, finalizes them, initialises them, and keeps its named views in enc->impl
 * (one malloc, freed by encoder_free).
 */
#ifndef RNNREP_MODELS_ENCODERS_H
#define RNNREP_MODELS_ENCODERS_H
#include "rnnrep.h"

void stats_encoder_init(Encoder *enc, Rng *rng);
Tensor *stats_encoder_forward(Tape *t, const Encoder *enc, Tensor *theta, ProbeTrace *trace);
void flat_encoder_init(Encoder *enc, Rng *rng);
Tensor *flat_encoder_forward(Tape *t, const Encoder *enc, Tensor *theta, ProbeTrace *trace);
void transformer_encoder_init(Encoder *enc, Rng *rng);
Tensor *transformer_encoder_forward(Tape *t, const Encoder *enc, Tensor *theta, ProbeTrace *trace);
void dws_encoder_init(Encoder *enc, Rng *rng);
Tensor *dws_encoder_forward(Tape *t, const Encoder *enc, Tensor *theta, ProbeTrace *trace);
void probing_encoder_init(Encoder *enc, Rng *rng);        /* both probing kinds */
Tensor *probing_encoder_forward(Tape *t, const Encoder *enc, Tensor *theta, ProbeTrace *trace);
#endif
