/* Backward of RoPE: the rotation is orthogonal, so dx = R(-theta) dy, i.e. the inverse
 * rotation applied to the output gradient (normal and neox modes alike; dims past n_rot pass
 * through). Without frequency factors the kernel's inverse rotation does it; with Llama-3
 * factors (src[1], f32 {n_rot/2}: theta_i = pos * scale * base^(-2i/n_rot) / ff[i]) the
 * rotation is applied here in double like infer's forward. Record: i = {mode, n_rot,
 * n_head, head_dim}, f = {base, scale}, saved = positions[T]. */
#include "train/autograd_internal.h"

#include <math.h>

#include "core/assert.h"
#include "kernels/ops.h"

static void rope_ff_inverse(float *dx, const float *dy, const int32_t *pos, int64_t T, int64_t H,
                            int64_t D, const kern_rope_cfg *cfg, const float *ff) {
    const int64_t half = (int64_t)cfg->n_rot / 2, stride = H * D;
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < H; h++) {
            const float *g = dy + t * stride + h * D;
            float *o = dx + t * stride + h * D;
            for (int64_t i = 0; i < half; i++) {
                const double th =
                    (double)pos[t] * (double)cfg->freq_scale *
                    pow((double)cfg->freq_base, -2.0 * (double)i / (double)cfg->n_rot) /
                    (double)ff[i];
                const int64_t a = cfg->mode == KERN_ROPE_NEOX ? i : 2 * i;
                const int64_t b = cfg->mode == KERN_ROPE_NEOX ? i + half : 2 * i + 1;
                const double ga = (double)g[a], gb = (double)g[b], c = cos(th), s = sin(th);
                o[a] += (float)(ga * c + gb * s);
                o[b] += (float)(-ga * s + gb * c);
            }
            for (int64_t d = (int64_t)cfg->n_rot; d < D; d++)
                o[d] += g[d];
        }
}

void train_bwd_rope(train_bwd *b, const rw_tape_rec *r, const float *dy) {
    rw_tensor *x = r->src[0], *ff = r->src[1];
    float *dx = train_bwd_grad(b, x);
    if (!dx) return;
    const int64_t H = r->i[2], D = r->i[3], T = rw_tensor_nrows(x);
    RW_ASSERT(x->ne[0] == H * D, "rope backward: record shape");
    kern_rope_cfg cfg = {.mode = (kern_rope_mode)r->i[0],
                         .n_rot = (size_t)r->i[1],
                         .freq_base = r->f[0],
                         .freq_scale = r->f[1]};
    if (ff) {
        rope_ff_inverse(dx, dy, r->saved, T, H, D, &cfg, ff->data);
        return;
    }
    const size_t n = (size_t)(H * D * T);
    float *tmp = train_bwd_scratch(b, n * sizeof(float));
    if (!tmp) return;
    kern_rope_f32(tmp, dy, (size_t)(H * D), r->saved, (size_t)T, (size_t)H, (size_t)D, &cfg, true);
    kern_add_f32(dx, dx, tmp, n);
}
