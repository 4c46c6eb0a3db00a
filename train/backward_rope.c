/* Backward of RoPE: the rotation is orthogonal, so dx = R(-theta) dy, i.e. the inverse
 * rotation applied to the output gradient (normal and neox modes alike; dims past n_rot pass
 * through). Without frequency factors the kernel's inverse rotation does it; with Llama-3
 * factors (src[1], f32 {n_rot/2}: theta_i = pos * scale * base^(-2i/n_rot) / ff[i]) the
 * forward's table-driven rotation (infer_rope_ff_f32) turns it back. Record: i = {mode,
 * n_rot, n_head, head_dim}, f = {base, scale}, saved = positions[T]. */
#include "train/autograd_internal.h"

#include "core/assert.h"
#include "infer/ops.h"
#include "kernels/ops.h"

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
    const size_t n = (size_t)(H * D * T);
    float *tmp = train_bwd_scratch(b, n * sizeof(float));
    if (!tmp) return;
    if (ff)
        infer_rope_ff_f32(tmp, dy, (size_t)(H * D), r->saved, T, H, D, &cfg, ff->data, true);
    else
        kern_rope_f32(tmp, dy, (size_t)(H * D), r->saved, (size_t)T, (size_t)H, (size_t)D, &cfg,
                      true);
    kern_add_f32(dx, dx, tmp, n);
}
