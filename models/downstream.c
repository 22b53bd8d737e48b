/*
 * downstream.c — the two predictors of SPEC.md §6.3 that read frozen features: ridge regression
 * in closed form (double precision, Cholesky) and a small MLP trained on the tape with early
 * stopping. Both standardise the features with the predictor-training rows' mean and
 * population std. The metrics they are judged by are in downstream_metrics.c. And the
 * supervised baseline of §6.5: an encoder with the MLP head, trained end to end.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rnnrep.h"

const double ridge_lambdas[RIDGE_LAMBDAS] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2,
                                             1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9, 1e10};

/* ---- The problem --------------------------------------------------------------------------- */

/* Finite features and targets, and for BCE / CE each block of a row one-hot (one 1, the rest 0). */
static int check_rows(const DownstreamProblem *p, const real *X, const double *Y, size_t n, const char *split,
                      char *err)
{
    for (size_t i = 0; i < n * p->F; i++)
        if (!isfinite(X[i])) return rr_error(err, RR_ERR_FORMAT, "downstream: %s row %zu: feature %zu is not finite",
                                             split, i / p->F, i % p->F);
    for (size_t i = 0; i < n * p->K; i++)
        if (!isfinite(Y[i])) return rr_error(err, RR_ERR_FORMAT, "downstream: %s row %zu: target %zu is not finite",
                                             split, i / p->K, i % p->K);
    if (p->loss == PREDICT_MSE) return RR_OK;
    size_t classes = p->K / p->blocks;
    for (size_t i = 0; i < n * p->blocks; i++) {
        size_t ones = 0, others = 0;
        for (size_t c = 0; c < classes; c++) {
            double y = Y[i * classes + c];
            ones += y == 1;
            others += y != 0 && y != 1;
        }
        if (ones != 1 || others)
            return rr_error(err, RR_ERR_FORMAT, "downstream: %s row %zu: target block %zu is not one-hot", split,
                            i / p->blocks, i % p->blocks);
    }
    return RR_OK;
}

static int check_problem(const DownstreamProblem *p, int need_val, char *err)
{
    if (!p->F || !p->K) return rr_error(err, RR_ERR_FORMAT, "downstream: %zu features, %zu targets", p->F, p->K);
    if (!p->n_train) return rr_error(err, RR_ERR_FORMAT, "downstream: no predictor-training rows");
    if (need_val && !p->n_val) return rr_error(err, RR_ERR_FORMAT, "downstream: no validation rows");
    if (p->loss != PREDICT_MSE && p->loss != PREDICT_BCE && p->loss != PREDICT_CE)
        return rr_error(err, RR_ERR_FORMAT, "downstream: unknown loss %d", (int)p->loss);
    if (p->loss != PREDICT_MSE && (!p->blocks || p->K % p->blocks))
        return rr_error(err, RR_ERR_FORMAT, "downstream: %zu target columns are not %zu one-hot blocks", p->K,
                        p->blocks);
    int rc = check_rows(p, p->X_train, p->Y_train, p->n_train, "predictor-training", err);
    return rc ? rc : check_rows(p, p->X_val, p->Y_val, p->n_val, "validation", err);
}

/* ---- Standardisation ----------------------------------------------------------------------- */

void standardizer_fit(Standardizer *s, const real *X, size_t n, size_t F)
{
    s->F = F;
    s->mean = rr_malloc(F * sizeof *s->mean, "feature means");
    s->std = rr_malloc(F * sizeof *s->std, "feature deviations");
    for (size_t j = 0; j < F; j++) {
        double sum = 0;
        int constant = 1;
        for (size_t i = 0; i < n; i++) {
            sum += X[i * F + j];
            constant &= X[i * F + j] == X[j];
        }
        double mean = sum / (double)n, squares = 0;
        for (size_t i = 0; i < n && !constant; i++) squares += (X[i * F + j] - mean) * (X[i * F + j] - mean);
        s->mean[j] = mean;
        s->std[j] = constant ? 0 : sqrt(squares / (double)n);   /* exactly 0 only if all values are equal */
    }
}

void standardizer_apply(const Standardizer *s, const real *X, size_t n, double *Z)
{
    size_t F = s->F;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < F; j++) Z[i * F + j] = s->std[j] > 0 ? (X[i * F + j] - s->mean[j]) / s->std[j] : 0;
}

void standardizer_free(Standardizer *s)
{
    free(s->mean);
    free(s->std);
    s->mean = s->std = NULL;
}

/* ---- Cholesky ------------------------------------------------------------------------------ */

int cholesky_factor(double *A, size_t n)
{
    for (size_t j = 0; j < n; j++) {                    /* column j of L, from the columns before it */
        double d = A[j * n + j];
        for (size_t k = 0; k < j; k++) d -= A[j * n + k] * A[j * n + k];
        if (!(d > 0)) return -1;
        double ljj = A[j * n + j] = sqrt(d);
        for (size_t i = j + 1; i < n; i++) {
            double s = A[i * n + j];
            for (size_t k = 0; k < j; k++) s -= A[i * n + k] * A[j * n + k];
            A[i * n + j] = s / ljj;
        }
    }
    return 0;
}

void cholesky_solve(const double *L, size_t n, double *B, size_t k)
{
    for (size_t c = 0; c < k; c++) {
        for (size_t i = 0; i < n; i++) {                /* y_i = (b_i - Σ_{j<i} L_ij y_j) / L_ii */
            double s = B[i * k + c];
            for (size_t j = 0; j < i; j++) s -= L[i * n + j] * B[j * k + c];
            B[i * k + c] = s / L[i * n + i];
        }
        for (size_t i = n; i-- > 0;) {                  /* x_i = (y_i - Σ_{j>i} L_ji x_j) / L_ii */
            double s = B[i * k + c];
            for (size_t j = i + 1; j < n; j++) s -= L[j * n + i] * B[j * k + c];
            B[i * k + c] = s / L[i * n + i];
        }
    }
}

/* ---- Ridge regression ---------------------------------------------------------------------- */

/* out (n, K) = bias + Z W for standardised rows Z (n, F). */
static void ridge_outputs(const double *Z, size_t n, size_t F, size_t K, const double *W, const double *bias,
                          double *out)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < K; k++) {
            double y = bias[k];
            for (size_t j = 0; j < F; j++) y += Z[i * F + j] * W[j * K + k];
            out[i * K + k] = y;
        }
}

int ridge_fit(Ridge *r, const DownstreamProblem *p, const double *lambdas, size_t count, char *err)
{
    if (!lambdas) {
        lambdas = ridge_lambdas;
        count = RIDGE_LAMBDAS;
    }
    if (!count) return rr_error(err, RR_ERR_FORMAT, "downstream: no ridge lambda to choose from");
    int rc = check_problem(p, count > 1, err);
    if (rc) return rc;
    size_t F = p->F, K = p->K, n = p->n_train, m = p->n_val;
    memset(r, 0, sizeof *r);
    r->F = F;
    r->K = K;
    r->W = rr_malloc(F * K * sizeof *r->W, "ridge weights");
    r->bias = rr_malloc(K * sizeof *r->bias, "ridge bias");
    r->val_mse = NAN;
    standardizer_fit(&r->scale, p->X_train, n, F);
    constant_predictor(p->Y_train, n, K, r->bias);      /* b = mean of the training targets */

    double *Z = rr_malloc(n * F * sizeof *Z, "standardised features");                    /* (n, F) */
    double *Zv = rr_malloc(m * F * sizeof *Zv, "standardised features");                  /* (m, F) */
    double *G = rr_calloc(F * F, sizeof *G, "ridge Gram matrix");                         /* (F, F) ZᵀZ */
    double *C = rr_calloc(F * K, sizeof *C, "ridge moments");                             /* (F, K) Zᵀ(Y - b) */
    double *A = rr_malloc(F * F * sizeof *A, "ridge system");
    double *W = rr_malloc(F * K * sizeof *W, "ridge weights");
    double *out = rr_malloc(m * K * sizeof *out, "ridge validation outputs");
    standardizer_apply(&r->scale, p->X_train, n, Z);
    standardizer_apply(&r->scale, p->X_val, m, Zv);
    for (size_t i = 0; i < n; i++) {
        const double *z = Z + i * F, *y = p->Y_train + i * K;
        for (size_t a = 0; a < F; a++) {
            for (size_t b = 0; b <= a; b++) G[a * F + b] += z[a] * z[b];   /* lower triangle */
            for (size_t k = 0; k < K; k++) C[a * K + k] += z[a] * (y[k] - r->bias[k]);
        }
    }
    int found = 0;
    for (size_t l = 0; l < count; l++) {
        double lambda = lambdas[l];
        memcpy(A, G, F * F * sizeof *A);
        for (size_t j = 0; j < F; j++) A[j * F + j] += lambda;            /* ZᵀZ + λ I */
        if (cholesky_factor(A, F)) continue;
        memcpy(W, C, F * K * sizeof *W);
        cholesky_solve(A, F, W, K);
        double mse = NAN;
        if (m) {
            double squares = 0;
            ridge_outputs(Zv, m, F, K, W, r->bias, out);
            for (size_t i = 0; i < m * K; i++) squares += (out[i] - p->Y_val[i]) * (out[i] - p->Y_val[i]);
            mse = squares / (double)(m * K);
        }
        if (!found || mse < r->val_mse || (mse == r->val_mse && lambda > r->lambda)) {
            found = 1;
            r->lambda = lambda;
            r->val_mse = mse;
            memcpy(r->W, W, F * K * sizeof *W);
        }
    }
    free(Z);
    free(Zv);
    free(G);
    free(C);
    free(A);
    free(W);
    free(out);
    if (!found) {
        ridge_free(r);
        return rr_error(err, RR_ERR_FORMAT, "downstream: no ridge lambda of %zu gives a positive definite system", count);
    }
    return RR_OK;
}

void ridge_predict(const Ridge *r, const real *X, size_t n, double *out)
{
    double *z = rr_malloc(r->F * sizeof *z, "standardised features");
    for (size_t i = 0; i < n; i++) {
        standardizer_apply(&r->scale, X + i * r->F, 1, z);
        ridge_outputs(z, 1, r->F, r->K, r->W, r->bias, out + i * r->K);
    }
    free(z);
}

void ridge_free(Ridge *r)
{
    standardizer_free(&r->scale);
    free(r->W);
    free(r->bias);
    r->W = r->bias = NULL;
}

/* ---- The MLP predictor --------------------------------------------------------------------- */

MlpPredictorConfig mlp_predictor_config_paper(void)
{
    MlpPredictorConfig c;
    c.hidden = 64;
    c.hidden_layers = 2;
    c.batch = 64;
    c.max_epochs = 200;
    c.patience = 20;
    c.opt = adamw_default();
    c.opt.lr = 1e-3;
    return c;
}

Tensor *predictor_loss(Tape *t, PredictorLoss loss, size_t blocks, Tensor *out, const double *Y)
{
    size_t B = out->shape[0], K = out->shape[1];
    if (loss == PREDICT_CE) {
        size_t classes = K / blocks;
        int32_t *labels = arena_alloc(&t->arena, B * blocks * sizeof *labels);
        block_argmax(Y, B, blocks, classes, labels);
        return op_cross_entropy(t, tensor_view(t, out, 2, (size_t[]){B * blocks, classes}), labels);
    }
    Tensor *target = tensor_new(t, 2, (size_t[]){B, K}, 0);             /* (B, K) */
    for (size_t i = 0; i < B * K; i++) target->data[i] = (real)Y[i];
    return loss == PREDICT_MSE ? op_mse(t, out, target) : op_bce_logits(t, out, target);
}

/* X (n, F) standardised, as reals for the tape (a malloc'd (n, F)). */
static real *standardized(const Standardizer *s, const real *X, size_t n)
{
    size_t F = s->F;
    double *z = rr_malloc(F * sizeof *z, "standardised features");
    real *Z = rr_malloc(n * F * sizeof *Z, "standardised features");
    for (size_t i = 0; i < n; i++) {
        standardizer_apply(s, X + i * F, 1, z);
        for (size_t j = 0; j < F; j++) Z[i * F + j] = (real)z[j];
    }
    free(z);
    return Z;
}

/* The MLP on rows Z (n, F) of standardised features, on t. */
static Tensor *predictor_forward(Tape *t, const MlpPredictor *m, const real *Z, size_t n)
{
    Tensor *x = tensor_new(t, 2, (size_t[]){n, m->F}, 0);                  /* (n, F) */
    memcpy(x->data, Z, n * m->F * sizeof(real));
    return mlp_forward(t, &m->mlp, x);                                     /* (n, K) */
}

/* One AdamW step on the rows rows[0..B) of Z and Y, gathered into Zb (B, F) and Yb (B, K). */
static void predictor_step(Tape *t, MlpPredictor *m, const real *Z, const double *Y, const size_t *rows, size_t B,
                           real *Zb, double *Yb)
{
    size_t F = m->F, K = m->K;
    for (size_t i = 0; i < B; i++) {
        memcpy(Zb + i * F, Z + rows[i] * F, F * sizeof *Zb);
        memcpy(Yb + i * K, Y + rows[i] * K, K * sizeof *Yb);
    }
    tape_reset(t);
    t->record = 1;
    Tensor *loss = predictor_loss(t, m->loss, m->blocks, predictor_forward(t, m, Zb, B), Yb);
    paramset_zero_grad(&m->params);
    tape_backward(t, loss);
    adamw_step(&m->params, &m->cfg.opt);
}

static double predictor_eval(Tape *t, const MlpPredictor *m, const real *Z, const double *Y, size_t n)
{
    tape_reset(t);
    t->record = 0;
    double loss = predictor_loss(t, m->loss, m->blocks, predictor_forward(t, m, Z, n), Y)->data[0];
    t->record = 1;
    return loss;
}

int mlp_predictor_fit(MlpPredictor *m, const MlpPredictorConfig *cfg, const DownstreamProblem *p, Rng *rng,
                      char *err)
{
    int rc = check_problem(p, 1, err);
    if (rc) return rc;
    if (!cfg->batch || !cfg->hidden || !cfg->hidden_layers || cfg->hidden_layers + 1 > MLP_MAX_LINEAR)
        return rr_error(err, RR_ERR_FORMAT, "downstream: MLP predictor with batch %zu, %zu hidden layers of %zu",
                        cfg->batch, cfg->hidden_layers, cfg->hidden);
    size_t F = p->F, K = p->K, n = p->n_train;
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->F = F;
    m->K = K;
    m->loss = p->loss;
    m->blocks = p->loss == PREDICT_MSE ? 0 : p->blocks;
    standardizer_fit(&m->scale, p->X_train, n, F);
    paramset_init(&m->params, "predictor");
    mlp_declare(&m->mlp, &m->params, "mlp", F, cfg->hidden, cfg->hidden_layers, K);
    paramset_finalize(&m->params);
    mlp_init(&m->mlp, rng);

    real *Z = standardized(&m->scale, p->X_train, n), *Zv = standardized(&m->scale, p->X_val, p->n_val);
    real *Zb = rr_malloc(cfg->batch * F * sizeof *Zb, "predictor batch");
    double *Yb = rr_malloc(cfg->batch * K * sizeof *Yb, "predictor batch");
    real *best = rr_malloc(m->params.n * sizeof *best, "best predictor weights");
    size_t *order = rr_malloc(n * sizeof *order, "predictor shuffle");
    memcpy(best, m->params.data, m->params.n * sizeof *best);
    m->best_val_loss = INFINITY;
    Tape t;
    tape_init(&t);
    for (size_t epoch = 1; epoch <= cfg->max_epochs; epoch++) {
        rng_permutation(rng, n, order);
        for (size_t start = 0; start < n; start += cfg->batch)
            predictor_step(&t, m, Z, p->Y_train, order + start, n - start < cfg->batch ? n - start : cfg->batch, Zb, Yb);
        double val = predictor_eval(&t, m, Zv, p->Y_val, p->n_val);
        m->epochs = epoch;
        if (val < m->best_val_loss) {
            m->best_val_loss = val;
            m->best_epoch = epoch;
            memcpy(best, m->params.data, m->params.n * sizeof *best);
        } else if (epoch - m->best_epoch >= cfg->patience) {
            break;
        }
    }
    memcpy(m->params.data, best, m->params.n * sizeof *best);
    tape_free(&t);
    free(Z);
    free(Zv);
    free(Zb);
    free(Yb);
    free(best);
    free(order);
    return RR_OK;
}

void mlp_predictor_predict(const MlpPredictor *m, const real *X, size_t n, double *out)
{
    if (!n) return;
    real *Z = standardized(&m->scale, X, n);
    Tape t;
    tape_init(&t);
    t.record = 0;
    Tensor *y = predictor_forward(&t, m, Z, n);                            /* (n, K) */
    for (size_t i = 0; i < n * m->K; i++) out[i] = y->data[i];
    tape_free(&t);
    free(Z);
}

void mlp_predictor_free(MlpPredictor *m)
{
    paramset_free(&m->params);
    standardizer_free(&m->scale);
}

/* ---- The supervised baseline (SPEC.md §6.5) -------------------------------------------------- */

void supervised_model_init(SupervisedModel *m, const EncoderConfig *ec, size_t K, PredictorLoss loss, size_t blocks,
                           const AdamW *opt, double clip, Rng *rng)
{
    MlpPredictorConfig head = mlp_predictor_config_paper();
    encoder_init(&m->enc, ec, rng);
    paramset_init(&m->head_params, "head");
    mlp_declare(&m->head, &m->head_params, "mlp", ec->embed, head.hidden, head.hidden_layers, K);
    paramset_finalize(&m->head_params);
    mlp_init(&m->head, rng);
    m->opt = *opt;
    m->clip = clip;
    m->loss = loss;
    m->K = K;
    m->blocks = blocks;
    m->augment = !encoder_facts[ec->kind].invariant;
    tape_init(&m->tape);
}

void supervised_model_free(SupervisedModel *m)
{
    encoder_free(&m->enc);
    paramset_free(&m->head_params);
    tape_free(&m->tape);
}

/* loss of head(E(θ) / |E(θ)|) (B, K) against Y, on m's tape; the outputs in *out. */
static Tensor *supervised_loss(SupervisedModel *m, const real *theta, const double *Y, size_t B, Tensor **out)
{
    Tape *t = &m->tape;
    size_t P = zoo_num_params(m->enc.cfg.zoo);
    Tensor *th = tensor_new(t, 2, (size_t[]){B, P}, 0);                          /* (B, P) */
    memcpy(th->data, theta, B * P * sizeof(real));
    Tensor *e = op_l2_normalize(t, encoder_forward(t, &m->enc, th, NULL));      /* (B, E) */
    *out = mlp_forward(t, &m->head, e);                                          /* (B, K) */
    return predictor_loss(t, m->loss, m->blocks, *out, Y);
}

double supervised_model_step(SupervisedModel *m, const real *theta, const double *Y, size_t B, Rng *rng)
{
    real *permuted = NULL;
    if (m->augment) {
        permuted = rr_malloc(B * zoo_num_params(m->enc.cfg.zoo) * sizeof *permuted, "permuted batch");
        zoo_permute_rows(m->enc.cfg.zoo, theta, B, 0, rng, permuted);
    }
    Tape *t = &m->tape;
    tape_reset(t);
    t->record = 1;
    t->training = 1; /* dropout (the transformer's, when set) draws from rng */
    t->rng = rng;
    Tensor *out, *loss = supervised_loss(m, permuted ? permuted : theta, Y, B, &out);
    paramset_zero_grad(&m->enc.params);
    paramset_zero_grad(&m->head_params);
    tape_backward(t, loss);
    paramset_clip_grad_norm(&m->enc.params, m->clip); /* separately per network */
    paramset_clip_grad_norm(&m->head_params, m->clip);
    adamw_step(&m->enc.params, &m->opt);
    adamw_step(&m->head_params, &m->opt);
    t->training = 0;
    t->rng = NULL;
    free(permuted);
    return loss->data[0];
}

double supervised_model_eval(SupervisedModel *m, const real *theta, const double *Y, size_t B, double *out)
{
    Tape *t = &m->tape;
    tape_reset(t);
    t->record = 0;
    Tensor *o, *loss = supervised_loss(m, theta, Y, B, &o);
    for (size_t i = 0; out && i < B * m->K; i++) out[i] = o->data[i];
    t->record = 1;
    return loss->data[0];
}
