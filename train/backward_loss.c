/* Backward of the heads: softmax, cross-entropy (ignore mask), mean pooling, and train/'s
 * BCE-on-yes/no loss.
 *
 *   softmax:        dx = y (dy - y . dy)                               (per row)
 *   cross-entropy:  loss = (1/n) sum_{t: target >= 0} (lse_t - z_t[target]), n = i[0]:
 *                   dz_t = (g/n) (softmax(z_t) - onehot(target)), softmax = exp(z - lse)
 *   mean-pool:      dx[row of sequence b] += dy[b] / len_b
 *   bce_yesno:      d_b = z_yes - z_no, loss = (1/B) sum softplus(d_b) - l_b d_b:
 *                   dz_yes = g (sigmoid(d_b) - l_b) / B = -dz_no */
#include "train/autograd_internal.h"

#include <math.h>

#include "train/autograd.h"

void train_bwd_softmax(train_bwd *b, const rw_tape_rec *r, const float *dy) {
    float *dx = train_bwd_grad(b, r->src[0]);
    if (!dx) return;
    const int64_t N = r->dst->ne[0], T = rw_tensor_nrows(r->dst);
    const float *y = r->dst->data;
    for (int64_t t = 0; t < T; t++) {
        double dot = 0;
        for (int64_t j = 0; j < N; j++)
            dot += (double)y[t * N + j] * (double)dy[t * N + j];
        for (int64_t j = 0; j < N; j++)
            dx[t * N + j] += (float)((double)y[t * N + j] * ((double)dy[t * N + j] - dot));
    }
}

void train_bwd_cross_entropy(train_bwd *b, const rw_tape_rec *r, const float *dy) {
    rw_tensor *z = r->src[0];
    float *dz = train_bwd_grad(b, z);
    const int64_t cnt = r->i[0];
    if (!dz || cnt <= 0) return;
    const int64_t V = z->ne[0], T = rw_tensor_nrows(z);
    const int32_t *tg = r->saved;
    const float *lse =
        (const float *)((const unsigned char *)r->saved + (size_t)T * sizeof(int32_t));
    const double g = (double)dy[0] / (double)cnt;
    const float *zv = z->data;
    for (int64_t t = 0; t < T; t++) {
        if (tg[t] < 0) continue;
        const float *zr = zv + t * V;
        float *dr = dz + t * V;
        for (int64_t j = 0; j < V; j++)
            dr[j] += (float)(g * exp((double)zr[j] - (double)lse[t]));
        dr[tg[t]] -= (float)g;
    }
}

void train_bwd_mean_pool(train_bwd *b, const rw_tape_rec *r, const float *dy) {
    rw_tensor *x = r->src[0];
    float *dx = train_bwd_grad(b, x);
    if (!dx) return;
    const int32_t *lens = r->saved;
    const int64_t C = x->ne[0], n_seq = rw_tensor_nrows(r->dst);
    int64_t off = 0;
    for (int64_t s = 0; s < n_seq; s++) {
        const float inv = lens[s] > 0 ? 1.0f / (float)lens[s] : 0.0f;
        for (int64_t t = 0; t < lens[s]; t++)
            for (int64_t c = 0; c < C; c++)
                dx[(off + t) * C + c] += dy[s * C + c] * inv;
        off += lens[s];
    }
}

void train_bwd_bce_yesno(train_bwd *b, const rw_tape_rec *r, const float *dy) {
    rw_tensor *z = r->src[0];
    float *dz = train_bwd_grad(b, z);
    if (!dz) return;
    const int64_t V = z->ne[0], B = rw_tensor_nrows(z);
    const int32_t yes = r->i[0], no = r->i[1];
    const float *labels = r->saved;
    const float *zv = z->data;
    const double g = (double)dy[0] / (double)B;
    for (int64_t t = 0; t < B; t++) {
        const double d = (double)zv[t * V + yes] - (double)zv[t * V + no];
        const double s = 1.0 / (1.0 + exp(-d));
        const double gd = g * (s - (double)labels[t]);
        dz[t * V + yes] += (float)gd;
        dz[t * V + no] -= (float)gd;
    }
}
