/*
 * zoo_train.c — one training update of a zoo RNN, as every run of a model zoo does it
 * (SPEC.md §2): teacher-forced cross-entropy at every step, AdamW.
 */
#include <string.h>

#include "rnnrep.h"

double zoo_lstm_train_step(ZooLstm *m, Tape *t, const AdamW *opt, const real *x, const int32_t *labels,
                           size_t B, size_t T)
{
    tape_reset(t);
    t->record = 1;
    Tensor *in = tensor_new(t, 3, (size_t[]){B, T, m->shape.I}, 0);   /* (B, T, I) */
    memcpy(in->data, x, in->size * sizeof(real));
    Tensor *logits = zoo_lstm_forward(t, m, in);                       /* (B, T, O) */
    Tensor *loss = op_cross_entropy(t, logits, labels);               /* mean over B * T */
    paramset_zero_grad(&m->params);
    tape_backward(t, loss);
    adamw_step(&m->params, opt);
    return loss->data[0];
}
