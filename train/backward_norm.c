/* Backward of the row normalisations (rows of C = ne[0] values; per-head norms are rows of
 * D after a reshape). Uses the values the forward saved: rstd (rmsnorm), mean and rstd
 * (layernorm), the norms (l2_normalize). Row sums accumulate in double.
 *
 *   rmsnorm:   y = x r w, r = (mean x^2 + eps)^-1/2, g = dy w:
 *              dx = r g - x r^3 (g . x) / C;          dw += sum_rows dy x r
 *   layernorm: xh = (x - mu) r, y = xh w + b, g = dy w:
 *              dx = r (g - mean(g) - xh mean(g xh));  dw += sum dy xh;  db += sum dy
 *   l2:        y = x / n (n > 1e-12): dx = (dy - y (y . dy)) / n;  else y = x / 1e-12. */
#include "train/autograd_internal.h"

#include <math.h>
#include <string.h>

void train_bwd_rmsnorm(train_bwd *b, const rw_tape_rec *r, const float *dy) {
    rw_tensor *x = r->src[0], *w = r->src[1];
    const int64_t C = x->ne[0], T = rw_tensor_nrows(x);
    const float *xv = x->data, *wv = w ? (const float *)w->data : NULL, *rstd = r->saved;
    float *dx = train_bwd_grad(b, x);
    float *dw = train_bwd_grad(b, w);
    double *acc = dw ? train_bwd_scratch(b, (size_t)C * sizeof(double)) : NULL;
    if (b->st != RW_OK) return;
    if (acc) memset(acc, 0, (size_t)C * sizeof(double));
    for (int64_t t = 0; t < T; t++) {
        const float *xr = xv + t * C, *dr = dy + t * C;
        const double rs = (double)rstd[t];
        if (dx) {
            double dot = 0;
            for (int64_t c = 0; c < C; c++)
                dot += (double)dr[c] * (double)(wv ? wv[c] : 1.0f) * (double)xr[c];
            const double k = rs * rs * rs * dot / (double)C;
            for (int64_t c = 0; c < C; c++)
                dx[t * C + c] +=
                    (float)(rs * (double)dr[c] * (double)(wv ? wv[c] : 1.0f) - k * (double)xr[c]);
        }
        if (acc)
            for (int64_t c = 0; c < C; c++)
                acc[c] += (double)dr[c] * (double)xr[c] * rs;
    }
    if (acc)
        for (int64_t c = 0; c < C; c++)
            dw[c] += (float)acc[c];
}

void train_bwd_layernorm(train_bwd *b, const rw_tape_rec *r, const float *dy) {
    rw_tensor *x = r->src[0], *w = r->src[1], *bb = r->src[2];
    const int64_t C = x->ne[0], T = rw_tensor_nrows(x);
    const float *xv = x->data, *wv = w ? (const float *)w->data : NULL;
    const float *mean = r->saved, *rstd = mean + T;
    float *dx = train_bwd_grad(b, x);
    float *dw = train_bwd_grad(b, w);
    float *db = train_bwd_grad(b, bb);
    double *acc = (dw || db) ? train_bwd_scratch(b, 2 * (size_t)C * sizeof(double)) : NULL;
    if (b->st != RW_OK) return;
    if (acc) memset(acc, 0, 2 * (size_t)C * sizeof(double));
    for (int64_t t = 0; t < T; t++) {
        const float *xr = xv + t * C, *dr = dy + t * C;
        const double mu = (double)mean[t], rs = (double)rstd[t];
        if (dx) {
            double sg = 0, sgx = 0;
            for (int64_t c = 0; c < C; c++) {
                const double g = (double)dr[c] * (double)(wv ? wv[c] : 1.0f);
                sg += g;
                sgx += g * ((double)xr[c] - mu) * rs;
            }
            sg /= (double)C;
            sgx /= (double)C;
            for (int64_t c = 0; c < C; c++) {
                const double g = (double)dr[c] * (double)(wv ? wv[c] : 1.0f);
                const double xh = ((double)xr[c] - mu) * rs;
                dx[t * C + c] += (float)(rs * (g - sg - xh * sgx));
            }
        }
        if (acc)
            for (int64_t c = 0; c < C; c++) {
                acc[c] += (double)dr[c] * ((double)xr[c] - mu) * rs;
                acc[C + c] += (double)dr[c];
            }
    }
    if (dw)
        for (int64_t c = 0; c < C; c++)
            dw[c] += (float)acc[c];
    if (db)
        for (int64_t c = 0; c < C; c++)
            db[c] += (float)acc[C + c];
}

void train_bwd_l2_normalize(train_bwd *b, const rw_tape_rec *r, const float *dy) {
    rw_tensor *x = r->src[0];
    float *dx = train_bwd_grad(b, x);
    if (!dx) return;
    const int64_t C = x->ne[0], T = rw_tensor_nrows(x);
    const float *y = r->dst->data, *norms = r->saved;
    for (int64_t t = 0; t < T; t++) {
        const float *yr = y + t * C, *dr = dy + t * C;
        const double n = (double)norms[t];
        if (n > 1e-12) {
            double dot = 0;
            for (int64_t c = 0; c < C; c++)
                dot += (double)yr[c] * (double)dr[c];
            for (int64_t c = 0; c < C; c++)
                dx[t * C + c] += (float)(((double)dr[c] - (double)yr[c] * dot) / n);
        } else {
            for (int64_t c = 0; c < C; c++)
                dx[t * C + c] += (float)((double)dr[c] / 1e-12);
        }
    }
}
