/* test_core.c — RNG, arena and tape bookkeeping, shape errors, parameters, AdamW against
 * values worked out by hand from torch's update rule, clipping and schedules. */
#include <stdlib.h>
#include <string.h>
#include "test.h"

static void check_rng(void)
{
    Rng a, b;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    int same = 1;
    for (int i = 0; i < 1000; i++) same &= rng_next(&a) == rng_next(&b);
    CHECK(same, "the same seed gives the same stream");
    /* splitmix64 seeding, then xoshiro256**: the first output for seed 0, computed by hand
     * from the reference definitions (splitmix64 outputs e220a8397b1dcdaf, 6e789e6aa1b965f4,
     * 06c45d188009454f, f88bb8a8724c81ec; next = rotl(s1 * 5, 7) * 9). */
    rng_seed(&a, 0);
    CHECK(a.s[0] == 0xe220a8397b1dcdafull && a.s[1] == 0x6e789e6aa1b965f4ull, "splitmix64 seeding");
    uint64_t s1 = 0x6e789e6aa1b965f4ull * 5, want = ((s1 << 7) | (s1 >> 57)) * 9;
    CHECK(rng_next(&a) == want, "xoshiro256** first output");
    double sum = 0, sum2 = 0, lo = 1, hi = 0;
    int counts[7] = {0};
    for (int i = 0; i < 100000; i++) {
        double u = rng_uniform(&b), z = rng_normal(&b);
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
        sum += z;
        sum2 += z * z;
        counts[rng_below(&b, 7)]++;
    }
    CHECK(lo >= 0 && hi < 1, "uniform in [0, 1)");
    CHECK(fabs(sum / 1e5) < 0.02 && fabs(sum2 / 1e5 - 1) < 0.03, "normal mean %g var %g", sum / 1e5, sum2 / 1e5);
    int fair = 1;
    for (int k = 0; k < 7; k++) fair &= abs(counts[k] - 100000 / 7) < 600;
    CHECK(fair, "rng_below(7) roughly uniform");
    int64_t r = rng_range(&b, -3, 2), rmin = r, rmax = r;
    for (int i = 0; i < 1000; i++) {
        r = rng_range(&b, -3, 2);
        rmin = r < rmin ? r : rmin;
        rmax = r > rmax ? r : rmax;
    }
    CHECK(rmin == -3 && rmax == 2, "rng_range covers -3..2 inclusive");
    size_t perm[50], seen[50] = {0};
    rng_permutation(&b, 50, perm);
    int ok = 1;
    for (int i = 0; i < 50; i++) seen[perm[i]]++;
    for (int i = 0; i < 50; i++) ok &= seen[i] == 1;
    CHECK(ok, "rng_permutation is a permutation");
    double p[3] = {0.0, 3.0, 1.0};
    int cat[3] = {0};
    for (int i = 0; i < 40000; i++) cat[rng_categorical(&b, p, 3)]++;
    CHECK(cat[0] == 0 && abs(cat[1] - 30000) < 500, "categorical frequencies %d %d %d", cat[0], cat[1], cat[2]);
}

static void check_tape(void)
{
    Tape t;
    tape_init(&t);
    size_t used = 0;
    for (int pass = 0; pass < 3; pass++) {
        tape_reset(&t);
        for (int i = 0; i < 100; i++) tensor_new(&t, 2, (size_t[]){300, 300}, 1);
        CHECK(t.arena.head->prev == NULL || pass == 0, "after a reset everything fits one block");
        if (pass) CHECK(t.arena.used_bytes == used, "the same work uses the same bytes");
        used = t.arena.used_bytes;
    }
    /* No gradient flows into constants; recording off gives no entries. */
    Tensor *c = tensor_new(&t, 1, (size_t[]){3}, 0);
    Tensor *y = op_tanh(&t, c);
    CHECK(y->grad == NULL, "a function of constants carries no gradient");
    t.record = 0;
    Tensor *x = tensor_new(&t, 1, (size_t[]){3}, 1);
    size_t before = t.count;
    op_tanh(&t, x);
    CHECK(t.count == before, "a tape that does not record appends nothing");
    tape_free(&t);
}

/* AdamW, two steps on one parameter, against torch's formula evaluated by hand. */
static void check_adamw(void)
{
    ParamSet ps;
    paramset_init(&ps, "p");
    Tensor *w = paramset_add(&ps, "w", 1, (size_t[]){2});
    paramset_finalize(&ps);
    w->data[0] = 1;
    w->data[1] = -2;
    AdamW opt = {0.1, 0.9, 0.999, 1e-8, 0.01};
    double theta = 1, m = 0, v = 0, g[2] = {0.5, -0.25};
    for (int step = 1; step <= 2; step++) {
        w->grad[0] = (real)g[step - 1];
        adamw_step(&ps, &opt);
        theta *= 1 - 0.1 * 0.01;
        m = 0.9 * m + 0.1 * g[step - 1];
        v = 0.999 * v + 0.001 * g[step - 1] * g[step - 1];
        theta -= 0.1 / (1 - pow(0.9, step)) * m / (sqrt(v) / sqrt(1 - pow(0.999, step)) + 1e-8);
        CHECK_NEAR(w->data[0], theta, 1e-6, "adamw step");
    }
    /* zero gradient: only the decay acts */
    CHECK_NEAR(w->data[1], -2 * (1 - 1e-3) * (1 - 1e-3), 1e-6, "adamw decay with zero gradient");
    /* First step of Adam moves by lr * sign(g) (up to eps): a classic closed form. */
    CHECK(ps.step == 2, "step count");
    w->grad[0] = 3;
    w->grad[1] = 4;
    CHECK_NEAR(paramset_grad_norm(&ps), 5, 1e-12, "gradient norm");
    double before = paramset_clip_grad_norm(&ps, 1.0);
    CHECK_NEAR(before, 5, 1e-12, "clip returns the norm before");
    CHECK_NEAR(paramset_grad_norm(&ps), 5.0 / (5.0 + 1e-6), 1e-6, "clipped norm");
    paramset_clip_grad_norm(&ps, 10.0);
    CHECK_NEAR(paramset_grad_norm(&ps), 5.0 / (5.0 + 1e-6), 1e-6, "no clip below max");
    paramset_zero_grad(&ps);
    CHECK(ps.grad[0] == 0 && ps.grad[1] == 0, "zero_grad");
    paramset_free(&ps);
}

static void check_schedule(void)
{
    const double steps[] = {0, 10000, 20000}, lr[] = {0.01, 0.003, 0.0003};
    CHECK_NEAR(schedule_piecewise(steps, lr, 3, 0), 0.01, 1e-15, "schedule start");
    CHECK_NEAR(schedule_piecewise(steps, lr, 3, 5000), 0.0065, 1e-15, "schedule middle");
    CHECK_NEAR(schedule_piecewise(steps, lr, 3, 15000), 0.00165, 1e-15, "schedule second piece");
    CHECK_NEAR(schedule_piecewise(steps, lr, 3, 30000), 0.0003, 1e-15, "schedule after the end");
}


/* Shape errors stop the program with the op's name and both shapes: run ourselves. */
static void check_shape_error(const char *self)
{
    char cmd[512], msg[512] = "";
    snprintf(cmd, sizeof cmd, "%s --shape-error 2> build/test_core_err.txt", self);
    int rc = system(cmd);
    FILE *f = fopen("build/test_core_err.txt", "r");
    if (f) {
        if (!fgets(msg, sizeof msg, f)) msg[0] = 0;
        fclose(f);
    }
    CHECK(rc != 0, "a shape error exits non-zero");
    CHECK(strstr(msg, "matmul") && strstr(msg, "(2, 3)") && strstr(msg, "(4, 5)"), "shape error message: %s", msg);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--shape-error")) {
        Tape t;
        tape_init(&t);
        op_matmul(&t, tensor_new(&t, 2, (size_t[]){2, 3}, 0), tensor_new(&t, 2, (size_t[]){4, 5}, 0), 0, 0);
        return 0;
    }
    check_rng();
    check_tape();
    check_adamw();
    check_schedule();
    check_shape_error(argv[0]);
    return test_summary("test_core");
}
