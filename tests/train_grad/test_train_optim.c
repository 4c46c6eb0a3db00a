/* AdamW, schedules, clipping and the NaN/Inf detector against hand-worked values.
 *
 * AdamW (torch.optim.AdamW formula, lr 0.1, betas 0.9/0.999, eps 1e-8, wd 0.01), worked by
 * hand for two parameters:
 *   p = 1, g = 0.5 then -0.25:
 *     t=1: p = 0.999; m = 0.05, v = 2.5e-4; mhat = 0.5, vhat = 0.25;
 *          p = 0.999 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.899000002
 *     t=2: p = 0.898101002; m = 0.02, v = 3.1225e-4; mhat = 0.02/0.19, vhat = 3.1225e-4/0.001999;
 *          p = 0.898101002 - 0.1 * 0.105263158 / 0.395225380 = 0.871467299
 *   p = -2, g = 0 then 3 (no update from a zero gradient, only decay):
 *     t=1: p = -1.998; t=2: p = -1.996002 - 0.1 * (0.3/0.19) / sqrt(0.009/0.001999)
 *          = -2.070415682 */
#pragma GCC diagnostic ignored "-Wdouble-promotion"

#include <math.h>
#include <string.h>

#include "rw_test.h"
#include "train/optim.h"

static void test_adamw_two_steps(void **state) {
    (void)state;
    train_adamw o;
    train_adamw_cfg c = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01};
    assert_int_equal(train_adamw_init(&o, 2, &c, NULL), RW_OK);
    float p[2] = {1.0f, -2.0f};
    float g1[2] = {0.5f, 0.0f}, g2[2] = {-0.25f, 3.0f};
    train_adamw_step(&o, p, g1, 0.1f);
    assert_true(fabs(p[0] - 0.899000002) < 1e-6);
    assert_true(fabs(p[1] - -1.998) < 1e-6);
    train_adamw_step(&o, p, g2, 0.1f);
    assert_true(fabs(p[0] - 0.871467299) < 1e-6);
    assert_true(fabs(p[1] - -2.070415682) < 1e-6);
    assert_int_equal(o.t, 2);
    assert_true(fabs(o.m[0] - 0.02) < 1e-7 && fabs(o.v[1] - 0.009) < 1e-9);
    train_adamw_deinit(&o);
    train_adamw_cfg d;
    train_adamw_cfg_default(&d);
    assert_true(d.beta1 == 0.9 && d.beta2 == 0.999 && d.eps == 1e-8 && d.weight_decay == 0.01);
}

static void test_schedules(void **state) {
    (void)state;
    train_sched s = {
        .kind = TRAIN_SCHED_COSINE, .lr = 1e-3f, .warmup_steps = 10, .total_steps = 110};
    /* warm-up: lr (step+1)/10 */
    assert_true(fabs(train_sched_lr(&s, 0) - 1e-4) < 1e-10);
    assert_true(fabs(train_sched_lr(&s, 4) - 5e-4) < 1e-10);
    assert_true(fabs(train_sched_lr(&s, 9) - 1e-3) < 1e-10);
    /* cosine over 100 steps: p = 0 at 10, 0.25 at 35, 0.5 at 60, 1 at 110 and after */
    assert_true(fabs(train_sched_lr(&s, 10) - 1e-3) < 1e-10);
    assert_true(fabs(train_sched_lr(&s, 35) - 8.535533906e-4) < 1e-9); /* (1+cos(pi/4))/2 */
    assert_true(fabs(train_sched_lr(&s, 60) - 5e-4) < 1e-9);
    assert_true(fabs(train_sched_lr(&s, 110)) < 1e-10);
    assert_true(fabs(train_sched_lr(&s, 500)) < 1e-10);
    s.min_lr = 1e-4f;
    assert_true(fabs(train_sched_lr(&s, 60) - 5.5e-4) < 1e-9);
    s.kind = TRAIN_SCHED_LINEAR;
    s.min_lr = 0;
    assert_true(fabs(train_sched_lr(&s, 35) - 7.5e-4) < 1e-9);
    assert_true(fabs(train_sched_lr(&s, 60) - 5e-4) < 1e-9);
    assert_true(fabs(train_sched_lr(&s, 110)) < 1e-10);
    s.kind = TRAIN_SCHED_CONSTANT;
    assert_true(fabs(train_sched_lr(&s, 3) - 4e-4) < 1e-10);
    assert_true(train_sched_lr(&s, 1000) == 1e-3f);
    s.warmup_steps = 0;
    assert_true(train_sched_lr(&s, 0) == 1e-3f);
    train_sched_kind k;
    rw_err e;
    assert_int_equal(train_sched_kind_parse("cosine", &k, &e), RW_OK);
    assert_int_equal(k, TRAIN_SCHED_COSINE);
    assert_int_equal(train_sched_kind_parse("cosin", &k, &e), RW_E_INVALID);
    assert_non_null(strstr(e.msg, "cosin"));
}

static void test_clip_and_finite(void **state) {
    (void)state;
    float g[3] = {3.0f, 0.0f, 4.0f};
    assert_true(fabs(train_grad_norm(g, 3) - 5.0) < 1e-12);
    double n = train_clip_grad_norm(g, 3, 1.0);
    assert_true(fabs(n - 5.0) < 1e-12);
    assert_true(fabs(g[0] - 0.6) < 1e-6 && fabs(g[2] - 0.8) < 1e-6);
    float h[2] = {0.3f, 0.4f}; /* norm 0.5 < 1: unchanged */
    train_clip_grad_norm(h, 2, 1.0);
    assert_true(h[0] == 0.3f && h[1] == 0.4f);
    train_grad_scale(h, 2, 2.0f);
    assert_true(h[0] == 0.6f && h[1] == 0.8f);
    rw_err e;
    float bad[4] = {1, 2, NAN, INFINITY};
    assert_int_equal(train_check_finite(bad, 2, "grads", &e), RW_OK);
    assert_int_equal(train_check_finite(bad, 4, "grads", &e), RW_E_NUMERIC);
    assert_non_null(strstr(e.msg, "grads"));
    assert_non_null(strstr(e.msg, "index 2"));
    assert_non_null(strstr(e.msg, "2 of 4"));
    assert_int_equal(train_check_loss(1.5f, 3, &e), RW_OK);
    assert_int_equal(train_check_loss(NAN, 12, &e), RW_E_NUMERIC);
    assert_non_null(strstr(e.msg, "step 12"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adamw_two_steps),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_clip_and_finite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
