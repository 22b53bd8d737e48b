/*
 * encoder.c — the one interface of the six encoders: the paper's configurations and the
 * dispatch to each kind's implementation in models/enc_*.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/encoders.h"

const EncoderFacts encoder_facts[ENC_COUNT] = {
    [ENC_STATS] = {"stats", "mechanistic", 1, 0},
    [ENC_FLAT] = {"flat", "mechanistic", 0, 1},
    [ENC_TRANSFORMER] = {"transformer", "mechanistic", 0, 1},
    [ENC_DWS] = {"dws", "mechanistic", 1, 1},
    [ENC_NONINTERACTIVE] = {"noninteractive", "functionalist", 1, 1},
    [ENC_INTERACTIVE] = {"interactive", "functionalist", 1, 1},
};

EncoderConfig encoder_config_paper(EncoderKind kind, ZooShape zoo)
{
    EncoderConfig c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.zoo = zoo;
    c.embed = PAPER_EMBED;
    c.hidden = 128;
    c.hidden_layers = kind == ENC_FLAT ? 3 : 1;
    c.d_model = 128;
    c.heads = 2;
    c.ffn = 512;
    c.layers = 6;
    c.dropout = 0;
    c.channels = 48;
    c.dws_layers = 4;
    c.core = 256;
    c.M = 1;
    c.L = zoo_reads_tiles(zoo) ? 50 : 22;
    return c;
}

int encoder_preset(const char *name, ZooShape zoo, EncoderConfig *cfg, char *err)
{
    static const size_t streams[] = {1, 2, 4, 8}, lengths[] = {7, 12, 42};
    char full[64];
    for (int k = 0; k < ENC_COUNT; k++) {
        *cfg = encoder_config_paper((EncoderKind)k, zoo);
        if (!strcmp(name, encoder_facts[k].name)) return RR_OK;
        if (k < ENC_NONINTERACTIVE) continue;
        for (size_t i = 0; i < sizeof streams / sizeof *streams; i++) {
            snprintf(full, sizeof full, "%s_%zu", encoder_facts[k].name, streams[i]);
            if (!strcmp(name, full)) {
                cfg->M = streams[i];
                return RR_OK;
            }
        }
        for (size_t i = 0; k == ENC_INTERACTIVE && i < sizeof lengths / sizeof *lengths; i++) {
            snprintf(full, sizeof full, "interactive_length_%zu", lengths[i]);
            if (!strcmp(name, full)) {
                if (!zoo_reads_tiles(zoo)) cfg->L = lengths[i];
                return RR_OK;
            }
        }
    }
    return rr_error(err, RR_ERR_FORMAT,
                    "unknown encoder '%s' (stats, flat, transformer, dws, noninteractive_{1,2,4,8}, interactive_{1,2,4,8}, "
                    "interactive_length_{7,12,42})", name);
}

static const struct {
    void (*init)(Encoder *enc, Rng *rng);
    Tensor *(*forward)(Tape *t, const Encoder *enc, Tensor *theta, ProbeTrace *trace);
} kinds[ENC_COUNT] = {
    [ENC_STATS] = {stats_encoder_init, stats_encoder_forward},
    [ENC_FLAT] = {flat_encoder_init, flat_encoder_forward},
    [ENC_TRANSFORMER] = {transformer_encoder_init, transformer_encoder_forward},
    [ENC_DWS] = {dws_encoder_init, dws_encoder_forward},
    [ENC_NONINTERACTIVE] = {probing_encoder_init, probing_encoder_forward},
    [ENC_INTERACTIVE] = {probing_encoder_init, probing_encoder_forward},
};

void encoder_init(Encoder *enc, const EncoderConfig *cfg, Rng *rng)
{
    if ((unsigned)cfg->kind >= ENC_COUNT) rr_fatal("encoder_init: unknown encoder kind %d", (int)cfg->kind);
    enc->cfg = *cfg;
    enc->impl = NULL;
    paramset_init(&enc->params, encoder_facts[cfg->kind].name);
    kinds[cfg->kind].init(enc, rng); /* declares, finalizes and initialises enc->params */
}

void encoder_free(Encoder *enc)
{
    free(enc->impl);
    paramset_free(&enc->params);
}

Tensor *encoder_forward(Tape *t, const Encoder *enc, Tensor *theta, ProbeTrace *trace)
{
    size_t P = zoo_num_params(enc->cfg.zoo);
    if (theta->ndim != 2 || theta->shape[1] != P) rr_fatal("encoder %s: want theta (B, %zu)", encoder_facts[enc->cfg.kind].name, P);
    return kinds[enc->cfg.kind].forward(t, enc, theta, trace);
}

double encoder_permutation_change(const Encoder *enc, const real *theta, size_t B, Rng *rng)
{
    ZooShape z = enc->cfg.zoo;
    size_t P = zoo_num_params(z);
    Tape t;
    tape_init(&t);
    t.record = 0;
    Tensor *th = tensor_new(&t, 2, (size_t[]){B, P}, 0), *tp = tensor_new(&t, 2, (size_t[]){B, P}, 0);
    memcpy(th->data, theta, B * P * sizeof(real));
    zoo_permute_rows(z, theta, B, 1, rng, tp->data);
    Tensor *e1 = encoder_forward(&t, enc, th, NULL), *e2 = encoder_forward(&t, enc, tp, NULL);
    double diff = 0, scale = 0;
    for (size_t i = 0; i < e1->size; i++) {
        diff = fmax(diff, fabs((double)e1->data[i] - (double)e2->data[i]));
        scale = fmax(scale, fabs((double)e1->data[i]));
    }
    tape_free(&t);
    return diff / (scale > 0 ? scale : 1);
}
