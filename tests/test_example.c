/* test_example.c — the example at the top of rnnrep.h, run and checked. main holds exactly
 * the header's lines (the first check compares the two texts, so they cannot drift apart);
 * two observers, wrapped around the example's calls by the macros below, check the loss, the
 * gradients and the AdamW update it computed before it frees them. */
#include <stdlib.h>
#include <string.h>
#include "test.h"

enum { MAX_LINES = 64, MAX_LINE = 128 };

/* The lines after the first line that begins with `start`, up to one that begins with `stop`,
 * that begin with `prefix`, without it. Returns how many (0 when the file cannot be read). */
static size_t read_block(const char *path, const char *start, const char *stop, const char *prefix,
                         char lines[MAX_LINES][MAX_LINE])
{
    FILE *f = fopen(path, "r");
    char buf[512];
    size_t n = 0, skip = strlen(prefix);
    int inside = 0;
    if (!f) return 0;
    while (fgets(buf, sizeof buf, f) && n < MAX_LINES) {
        if (!inside) {
            inside = !strncmp(buf, start, strlen(start));
            continue;
        }
        if (!strncmp(buf, stop, strlen(stop))) break;
        if (strncmp(buf, prefix, skip)) continue;
        snprintf(lines[n++], MAX_LINE, "%s", buf + skip);
    }
    fclose(f);
    return n;
}

static void check_same_text(void)
{
    static char header[MAX_LINES][MAX_LINE], here[MAX_LINES][MAX_LINE];
    size_t nh = read_block("rnnrep.h", " * Example (compiled and run as tests/test_example.c)", " */", " *     ", header);
    size_t nt = read_block("tests/test_example.c", "    /* ---- the example of rnnrep.h", "    /* ---- end", "    ", here);
    int same = nh == nt && nh > 10;
    for (size_t i = 0; same && i < nh; i++)
        if (strcmp(header[i], here[i])) {
            printf("  line %zu of the example differs:\n  rnnrep.h:  %s  here:      %s", i + 1, header[i], here[i]);
            same = 0;
        }
    CHECK(same, "tests/test_example.c holds the example of rnnrep.h (%zu and %zu lines)", nh, nt);
}

static real W_before[12], b_before[3], W_grad[12], b_grad[3];

/* Before the update: loss = mean over (5, 3) of y^2, y = relu(x W^T + b), and
 * d loss / d W_jk = sum_i (2 / 15) y_ij x_ik, d loss / d b_j = sum_i (2 / 15) y_ij,
 * recomputed here by hand (y_ij = 0 where the ReLU is off). */
static void check_before_step(const Tensor *x, const Tensor *W, const Tensor *b, const Tensor *loss)
{
    double sum = 0, dW[12] = {0}, db[3] = {0};
    for (size_t i = 0; i < 5; i++)
        for (size_t j = 0; j < 3; j++) {
            double z = b->data[j];
            for (size_t k = 0; k < 4; k++) z += (double)x->data[i * 4 + k] * W->data[j * 4 + k];
            double y = z > 0 ? z : 0;
            sum += y * y;
            db[j] += 2.0 / 15 * y;
            for (size_t k = 0; k < 4; k++) dW[j * 4 + k] += 2.0 / 15 * y * x->data[i * 4 + k];
        }
    double tol = IS_DOUBLE_BUILD ? 1e-12 : 1e-5, norm = 0;
    CHECK_NEAR(loss->data[0], sum / 15, tol, "loss = mean(relu(x W^T + b)^2)");
    for (size_t i = 0; i < 12; i++) {
        CHECK_NEAR(W->grad[i], dW[i], tol, "d loss / d W");
        norm += dW[i] * dW[i];
    }
    for (size_t j = 0; j < 3; j++) CHECK_NEAR(b->grad[j], db[j], tol, "d loss / d b");
    CHECK(norm > 1e-6, "the example's gradient is not zero (|dW|^2 = %g)", norm);
    memcpy(W_before, W->data, sizeof W_before);
    memcpy(b_before, b->data, sizeof b_before);
    memcpy(W_grad, W->grad, sizeof W_grad);
    memcpy(b_grad, b->grad, sizeof b_grad);
}

/* After AdamW's first step the bias corrections cancel: m^ = g, v^ = g^2, so
 * theta' = theta (1 - lr wd) - lr g / (|g| + eps), with lr 1e-3, wd 0.01, eps 1e-8. */
static void check_after_step(const Tensor *W, const Tensor *b, const ParamSet *ps)
{
    CHECK(ps->step == 1, "one AdamW step taken (%ld)", ps->step);
    for (size_t i = 0; i < 15; i++) {
        double theta = i < 12 ? W_before[i] : b_before[i - 12], g = i < 12 ? W_grad[i] : b_grad[i - 12];
        double want = theta * (1 - 1e-3 * 0.01) - 1e-3 * g / (fabs(g) + 1e-8);
        CHECK_NEAR(i < 12 ? W->data[i] : b->data[i - 12], want, 1e-6, "AdamW's first step");
    }
}

/* The observers see the example's own variables: these macros expand inside main. */
#define adamw_step(ps, opt) (check_before_step(x, W, b, loss), adamw_step(ps, opt))
#define paramset_free(ps) (check_after_step(W, b, ps), paramset_free(ps))

int main(void)
{
    check_same_text();
    /* ---- the example of rnnrep.h, verbatim ---- */
    Rng rng; rng_seed(&rng, 1);
    ParamSet ps; paramset_init(&ps, "mlp");
    Tensor *W = paramset_add(&ps, "weight", 2, (size_t[]){3, 4});
    Tensor *b = paramset_add(&ps, "bias", 1, (size_t[]){3});
    paramset_finalize(&ps);
    init_uniform(W, &rng, 0.5); init_uniform(b, &rng, 0.5);
    Tape tape; tape_init(&tape);
    Tensor *x = tensor_new(&tape, 2, (size_t[]){5, 4}, 0);     // (B, 4), no gradient
    init_normal(x, &rng, 1.0);
    Tensor *y = op_relu(&tape, op_linear(&tape, x, W, b));      // (B, 3)
    Tensor *loss = op_mean_all(&tape, op_mul(&tape, y, y));
    paramset_zero_grad(&ps);
    tape_backward(&tape, loss);                                 // fills W->grad, b->grad
    AdamW opt = adamw_default(); opt.lr = 1e-3;
    adamw_step(&ps, &opt);
    tape_free(&tape); paramset_free(&ps);
    /* ---- end of the example ---- */
    return test_summary("test_example");
}
