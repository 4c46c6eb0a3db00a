/* Template of the 256-bit int8 panel micro-kernel (matmul_int8_avx2.c includes it once per
 * integer-dot form; no include guard on purpose). Before including, define:
 *   I8_NAME(x)  suffixes the names of this instance (x##_maddubs, x##_avxvnni, ...)
 *   I8_TARGET   target attribute of the instance (the feature of its dot; empty for AVX2)
 *   I8_RMAX     activation rows per tile
 *   I8_VNNI     0: AVX2 vpmaddubsw + vpmaddwd, 1: 256-bit vpdpbusd
 *   I8_DPBUSD   (I8_VNNI only) the vpdpbusd intrinsic of the instance's encoding
 * and have bcast4, load_i, load_f, store_rows (matmul_int8_avx2.c) in scope.
 *
 * Tile: 16 weight rows (two ymm of 8 int32/f32 lanes, h = 0: rows 0-7, h = 1: rows 8-15)
 * x I8_RMAX activation rows, over K chunks of KCHUNK_BLOCKS blocks like the AVX-512
 * kernel. Per 32-element block and output the integer sum is exact (bounds in
 * matmul_int8_avx2.c) and the float steps are the reference's: the same fmaf/mul
 * operations in the same order, so every instance is bit-identical to
 * kern_int8_panel_gemm_ref. */

/* R (1..I8_RMAX) activation rows against nb blocks of one panel, accumulating into f; t is
 * a constant after inlining. */
static inline __attribute__((always_inline)) I8_TARGET void
I8_NAME(tile)(rw_dtype t, const uint8_t *pn, int64_t nb, const uint8_t *const a[I8_RMAX],
              const float *const d[I8_RMAX], const float *const s[I8_RMAX], int R,
              __m256 f[I8_RMAX][2]) {
    const kern_i8_kind kind = kern_i8_kind_of(t);
    const size_t rec_bytes = kern_i8_record_bytes(kind);
#if !I8_VNNI
    const __m256i ones16 = _mm256_set1_epi16(1), flip = _mm256_set1_epi8((char)0x80);
    /* groups (4 elements per row) summed in int16 lanes before one vpmaddwd */
    const int G = t == RW_DTYPE_Q4_0 ? 8 : t == RW_DTYPE_Q4_K ? 4 : t == RW_DTYPE_Q6_K ? 2 : 1;
#endif
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *rec = pn + (size_t)b * rec_bytes;
        const size_t o = (size_t)b * 32;
        __m256i acc[I8_RMAX][2];
        for (int i = R; i < I8_RMAX; i++) /* unused rows of a tail tile (quiets gcc) */
            acc[i][0] = acc[i][1] = _mm256_setzero_si256();
        const __m256i c00 = load_i(rec + 576), c01 = load_i(rec + 608);
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
#if !I8_VNNI
            if (t == RW_DTYPE_Q8_0) { /* signed activations: no +128 to remove */
                acc[i][0] = acc[i][1] = _mm256_setzero_si256();
                continue;
            }
#endif
            acc[i][0] = c00;
            acc[i][1] = c01;
        }
#pragma GCC unroll 8
        for (int g0 = 0; g0 < 8;) {
            if (kind == KERN_I8_HALVES && g0 == 4) {
                /* first half done: acc = fma(i0, s0 * da, acc), then restart from c1 */
                const __m256 s00 = load_f(rec + 512), s01 = load_f(rec + 544);
                const __m256i c10 = load_i(rec + 704), c11 = load_i(rec + 736);
#pragma GCC unroll 4
                for (int i = 0; i < R; i++) {
                    const __m256 dd = _mm256_set1_ps(d[i][b]);
                    f[i][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[i][0]), _mm256_mul_ps(s00, dd),
                                              f[i][0]);
                    f[i][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[i][1]), _mm256_mul_ps(s01, dd),
                                              f[i][1]);
                    acc[i][0] = c10;
                    acc[i][1] = c11;
                }
            }
#if I8_VNNI
            {
                const __m256i w0 = load_i(rec + 64 * g0), w1 = load_i(rec + 64 * g0 + 32);
#pragma GCC unroll 4
                for (int i = 0; i < R; i++) {
                    const __m256i av = bcast4(a[i] + o + 4 * (size_t)g0);
                    acc[i][0] = I8_DPBUSD(acc[i][0], av, w0);
                    acc[i][1] = I8_DPBUSD(acc[i][1], av, w1);
                }
                g0++;
            }
#else
            if (t == RW_DTYPE_Q8_0) {
                /* sign trick: |w| (u8 0..128) x sign(q, w) (s8 -127..127) */
                const __m256i w0 = load_i(rec + 64 * g0), w1 = load_i(rec + 64 * g0 + 32);
                const __m256i u0 = _mm256_abs_epi8(w0), u1 = _mm256_abs_epi8(w1);
#pragma GCC unroll 4
                for (int i = 0; i < R; i++) {
                    const __m256i q = _mm256_xor_si256(bcast4(a[i] + o + 4 * (size_t)g0), flip);
                    const __m256i p0 = _mm256_maddubs_epi16(u0, _mm256_sign_epi8(q, w0)),
                                  p1 = _mm256_maddubs_epi16(u1, _mm256_sign_epi8(q, w1));
                    acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(p0, ones16));
                    acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(p1, ones16));
                }
                g0++;
            } else {
                /* u8 activations (1..255) x s8 levels, G groups in int16 lanes */
                __m256i p[I8_RMAX][2];
                for (int i = 0; i < I8_RMAX; i++)
                    p[i][0] = p[i][1] = _mm256_setzero_si256();
#pragma GCC unroll 8
                for (int g = g0; g < g0 + G; g++) {
                    const __m256i w0 = load_i(rec + 64 * g), w1 = load_i(rec + 64 * g + 32);
#pragma GCC unroll 4
                    for (int i = 0; i < R; i++) {
                        const __m256i av = bcast4(a[i] + o + 4 * (size_t)g);
                        const __m256i q0 = _mm256_maddubs_epi16(av, w0),
                                      q1 = _mm256_maddubs_epi16(av, w1);
                        p[i][0] = _mm256_add_epi16(p[i][0], q0);
                        p[i][1] = _mm256_add_epi16(p[i][1], q1);
                    }
                }
#pragma GCC unroll 4
                for (int i = 0; i < R; i++) {
                    acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(p[i][0], ones16));
                    acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(p[i][1], ones16));
                }
                g0 += G;
            }
#endif
        }
        /* float steps of matmul_internal.h, per output lane (HALVES: i1 with x1 * da) */
        const __m256 s00 = load_f(rec + 512), s01 = load_f(rec + 544);
        const __m256 s0 = kind == KERN_I8_HALVES ? load_f(rec + 640) : s00,
                     s1 = kind == KERN_I8_HALVES ? load_f(rec + 672) : s01;
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            const __m256 dd = _mm256_set1_ps(d[i][b]);
            f[i][0] =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[i][0]), _mm256_mul_ps(s0, dd), f[i][0]);
            f[i][1] =
                _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[i][1]), _mm256_mul_ps(s1, dd), f[i][1]);
            if (kind == KERN_I8_MIN) {
                const __m256 sb = _mm256_set1_ps(s[i][b]);
                f[i][0] = _mm256_fnmadd_ps(load_f(rec + 640), sb, f[i][0]);
                f[i][1] = _mm256_fnmadd_ps(load_f(rec + 672), sb, f[i][1]);
            }
        }
    }
}

static inline __attribute__((always_inline)) I8_TARGET void
I8_NAME(panel_gemm)(rw_dtype t, const void *panel, int64_t K, const uint8_t *au, const float *da,
                    const float *sa, int64_t M, float *Y, int64_t ldy, int nr, bool accumulate,
                    float *accbuf) {
    const int64_t nb = K / 32;
    const size_t rec_bytes = kern_i8_record_bytes(kern_i8_kind_of(t));
    for (int64_t b0 = 0; b0 < nb; b0 += KCHUNK_BLOCKS) {
        const int64_t nc = nb - b0 < KCHUNK_BLOCKS ? nb - b0 : KCHUNK_BLOCKS;
        const bool first = b0 == 0, last = b0 + nc == nb;
        const uint8_t *pn = (const uint8_t *)panel + (size_t)b0 * rec_bytes;
        for (int64_t m = 0; m < M; m += I8_RMAX) {
            const int R = M - m < I8_RMAX ? (int)(M - m) : I8_RMAX;
            const uint8_t *a[I8_RMAX];
            const float *d[I8_RMAX], *s[I8_RMAX];
            __m256 f[I8_RMAX][2];
            for (int i = 0; i < I8_RMAX; i++) {
                const int64_t mi = m + (i < R ? i : 0);
                a[i] = au + (size_t)mi * (size_t)K + (size_t)b0 * 32;
                d[i] = da + mi * nb + b0;
                s[i] = sa + mi * nb + b0;
                if (first) {
                    f[i][0] = f[i][1] = _mm256_setzero_ps();
                } else {
                    f[i][0] = _mm256_load_ps(accbuf + 16 * mi);
                    f[i][1] = _mm256_load_ps(accbuf + 16 * mi + 8);
                }
            }
            if (R == I8_RMAX)
                I8_NAME(tile)(t, pn, nc, a, d, s, I8_RMAX, f);
            else
                I8_NAME(tile)(t, pn, nc, a, d, s, R, f);
            for (int i = 0; i < R; i++) {
                if (last) {
                    store_rows(Y + (m + i) * ldy, f[i], nr, accumulate);
                } else {
                    _mm256_store_ps(accbuf + 16 * (m + i), f[i][0]);
                    _mm256_store_ps(accbuf + 16 * (m + i) + 8, f[i][1]);
                }
            }
        }
    }
}

/* One out-of-line function per weight type, so each tile is specialized (t constant). */
static I8_TARGET void I8_NAME(panel_gemm_type)(rw_dtype t, const void *panel, int64_t K,
                                               const uint8_t *au, const float *da, const float *sa,
                                               int64_t M, float *Y, int64_t ldy, int nr,
                                               bool accumulate, float *accbuf) {
    if (t == RW_DTYPE_Q8_0)
        I8_NAME(panel_gemm)(RW_DTYPE_Q8_0, panel, K, au, da, sa, M, Y, ldy, nr, accumulate, accbuf);
    else if (t == RW_DTYPE_Q4_0)
        I8_NAME(panel_gemm)(RW_DTYPE_Q4_0, panel, K, au, da, sa, M, Y, ldy, nr, accumulate, accbuf);
    else if (t == RW_DTYPE_Q4_K)
        I8_NAME(panel_gemm)(RW_DTYPE_Q4_K, panel, K, au, da, sa, M, Y, ldy, nr, accumulate, accbuf);
    else
        I8_NAME(panel_gemm)(RW_DTYPE_Q6_K, panel, K, au, da, sa, M, Y, ldy, nr, accumulate, accbuf);
}
