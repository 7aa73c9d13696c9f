/*
 * The numeric kernels of the forward pass (forward.c): dot products, the
 * matrix product over packed weight panels or rows of the mapped file, the
 * norms, RoPE, GELU and bias rows.
 *
 * Two kernel sets compute the same thing: the reference (plain scalar loops,
 * double accumulation, one thread: the test oracle, kept beside each fast
 * kernel) and the fast one (AVX2 + FMA kernels chosen at run time when the
 * CPU has them, a portable fallback otherwise, packed weight panels, OpenMP
 * threads over output rows). Every output element is computed by one thread
 * in a fixed order, so results are bit-identical for any thread count.
 *
 * HOW IT WORKS (the packed matmul)
 * load.c gives every weight matrix that goes through matmul an F32 copy
 * packed in panels of 8 rows, (n_in, 8) each, row r in lane r mod 8, while
 * the copies total at most 1 GiB. The packed kernel holds a tile of up to 2
 * panels x 4 positions (or 4 x 1) in registers: per input i it loads the
 * panels' 8-wide slices, broadcasts x[t][i] and FMAs, so lanes are output
 * rows, no horizontal sums, and the stores are contiguous. Every output is
 * summed the same way in any tile shape and by one thread (blocks of PBLK
 * products, the blocks added in order), so the results do not depend on the
 * thread count or on where a row sits in a batch. Without a copy (bigger
 * models, or the reference path) each row is dotted straight from the
 * mapped file, dequantised per use into a per-thread row buffer.
 */
#include "llm/model_int.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SPEX_HAVE_X86 1
#endif

static float dot_ref(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return (float)s;
}

static float dot_portable(const float *a, const float *b, int64_t n) {
    float s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] += a[i + k] * b[i + k];
    float r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++)
        r += a[i] * b[i];
    return r;
}

#ifdef SPEX_HAVE_X86
/* Horizontal sum of 8 lanes in a fixed order. */
__attribute__((target("avx2,fma"))) static float hsum8(__m256 s) {
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    lo = _mm_hadd_ps(lo, lo);
    lo = _mm_hadd_ps(lo, lo);
    return _mm_cvtss_f32(lo);
}

/* sum a[i] b[i]: lanes (i mod 16) in two accumulators, then 8-wide and
 * scalar tails. dot4_avx2 computes four of these with the same operations
 * in the same order, so either kernel gives the same bits. */
__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b,
                                                          int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    if (i + 8 <= n) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        i += 8;
    }
    float r = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        r += a[i] * b[i];
    return r;
}

/* out[k] = dot(x[k], w) for four activation rows: w is loaded once. */
__attribute__((target("avx2,fma"))) static void dot4_avx2(const float *const *x, const float *w,
                                                          int64_t n, float *out) {
    __m256 s0[4], s1[4];
    for (int k = 0; k < 4; k++)
        s0[k] = s1[k] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = _mm256_loadu_ps(w + i), w1 = _mm256_loadu_ps(w + i + 8);
        for (int k = 0; k < 4; k++) {
            s0[k] = _mm256_fmadd_ps(_mm256_loadu_ps(x[k] + i), w0, s0[k]);
            s1[k] = _mm256_fmadd_ps(_mm256_loadu_ps(x[k] + i + 8), w1, s1[k]);
        }
    }
    int64_t i8 = i;
    if (i + 8 <= n) {
        __m256 w0 = _mm256_loadu_ps(w + i);
        for (int k = 0; k < 4; k++)
            s0[k] = _mm256_fmadd_ps(_mm256_loadu_ps(x[k] + i), w0, s0[k]);
        i8 = i + 8;
    }
    for (int k = 0; k < 4; k++) {
        float r = hsum8(_mm256_add_ps(s0[k], s1[k]));
        for (int64_t j = i8; j < n; j++)
            r += x[k][j] * w[j];
        out[k] = r;
    }
}

/* Inputs per partial sum in the packed kernels: each output is summed in
 * blocks of PBLK products (one FMA chain each), the blocks added in order,
 * which keeps the rounding error near that of the lane-split dot products. */
#define PBLK 16

/* acc (nt, 8 np) = x (nt rows of n_in) . np consecutive panels (n_in, 8):
 * vector lanes are output rows, one FMA chain per output in the order
 * i = 0, 1, ..., n_in - 1 (whatever np and nt), so an output has the same
 * bits in every tile shape. Rows past n_rows are not stored. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
ptile_avx2(const float *pan, int64_t n_in, int np, const float *x, int nt, float *out,
           int64_t n_out, int64_t n_rows) {
    /* the block sums run in registers, the totals in memory */
    float tot[4][4][8];
    __m256 blk[4][4], wv[4];
    for (int64_t i0 = 0; i0 < n_in; i0 += PBLK) {
        int64_t i1 = i0 + PBLK < n_in ? i0 + PBLK : n_in;
#pragma GCC unroll 4
        for (int p = 0; p < np; p++)
#pragma GCC unroll 4
            for (int t = 0; t < nt; t++)
                blk[p][t] = _mm256_setzero_ps();
        for (int64_t i = i0; i < i1; i++) {
#pragma GCC unroll 4
            for (int p = 0; p < np; p++)
                wv[p] = _mm256_loadu_ps(pan + (p * n_in + i) * 8);
#pragma GCC unroll 4
            for (int t = 0; t < nt; t++) {
                __m256 xb = _mm256_broadcast_ss(x + t * n_in + i);
#pragma GCC unroll 4
                for (int p = 0; p < np; p++)
                    blk[p][t] = _mm256_fmadd_ps(xb, wv[p], blk[p][t]);
            }
        }
#pragma GCC unroll 4
        for (int p = 0; p < np; p++)
#pragma GCC unroll 4
            for (int t = 0; t < nt; t++)
                _mm256_storeu_ps(tot[p][t],
                                 i0 ? _mm256_add_ps(_mm256_loadu_ps(tot[p][t]), blk[p][t])
                                    : blk[p][t]);
    }
#pragma GCC unroll 4
    for (int p = 0; p < np; p++)
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++) {
            if (n_rows >= 8 * (p + 1))
                memcpy(out + t * n_out + 8 * p, tot[p][t], sizeof tot[p][t]);
            else
                for (int64_t l = 0; l < n_rows - 8 * p; l++)
                    out[t * n_out + 8 * p + l] = tot[p][t][l];
        }
}

/* ptile_avx2 with np and nt constant (np * nt <= 8 accumulators). */
__attribute__((target("avx2,fma"))) static void ptile_avx2_any(const float *pan, int64_t n_in,
                                                               int np, const float *x, int nt,
                                                               float *out, int64_t n_out,
                                                               int64_t n_rows) {
#define PT(NP, NT)                                                                                 \
    case NP * 8 + NT:                                                                              \
        ptile_avx2(pan, n_in, NP, x, NT, out, n_out, n_rows);                                      \
        break
    switch (np * 8 + nt) {
        PT(2, 4);
        PT(2, 3);
        PT(2, 2);
        PT(2, 1);
        PT(1, 4);
        PT(1, 3);
        PT(1, 2);
        PT(1, 1);
        PT(4, 1);
    default:
        break;
    }
#undef PT
}
#endif

/* The portable version of ptile_avx2: the same outputs in the same order of
 * additions, without FMA. */
static void ptile_portable(const float *pan, int64_t n_in, int np, const float *x, int nt,
                           float *out, int64_t n_out, int64_t n_rows) {
    for (int p = 0; p < np; p++)
        for (int t = 0; t < nt; t++) {
            float acc[8] = {0};
            for (int64_t i0 = 0; i0 < n_in; i0 += PBLK) {
                float blk[8] = {0};
                for (int64_t i = i0; i < i0 + PBLK && i < n_in; i++)
                    for (int l = 0; l < 8; l++)
                        blk[l] += x[t * n_in + i] * pan[(p * n_in + i) * 8 + l];
                for (int l = 0; l < 8; l++)
                    acc[l] += blk[l];
            }
            for (int64_t l = 0; l < 8 && 8 * p + l < n_rows; l++)
                out[t * n_out + 8 * p + l] = acc[l];
        }
}

spexi_dot_fn spexi_pick_dot(int reference) {
    if (reference) return dot_ref;
#ifdef SPEX_HAVE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return dot_avx2;
#endif
    return dot_portable;
}

int spexi_n_threads(const spex_llm *m) {
    int t = m->reference ? 1 : spex_ctx_threads(m->ctx);
    return t < 1 ? 1 : t;
}

void spexi_matmul(const spex_llm *m, const spexi_wmat *w, const float *x, int64_t T, float *out,
                  float *rows) {
    int nt = spexi_n_threads(m);
    spexi_dot_fn dot = m->dot;
    int64_t n_in = w->n_in, n_out = w->n_out;
    /* threads only pay off past ~2^18 multiply-adds per call */
    int par = nt > 1 && (double)n_out * (double)n_in * (double)T >= 262144.0;
    if (w->pk && !m->reference) {
        /* units of 4 panels (32 rows) over threads; in a unit, tiles of up
         * to 2 panels x 4 positions, or 4 panels x 1 position */
        int64_t n_pan = (n_out + 7) / 8, n_units = (n_pan + 3) / 4;
        void (*tile)(const float *, int64_t, int, const float *, int, float *, int64_t, int64_t) =
            ptile_portable;
#ifdef SPEX_HAVE_X86
        if (dot == dot_avx2) tile = ptile_avx2_any;
#endif
#pragma omp parallel for num_threads(nt) schedule(static) if (par)
        for (int64_t u = 0; u < n_units; u++) {
            int64_t p_end = 4 * u + 4 < n_pan ? 4 * u + 4 : n_pan;
            for (int64_t t = 0; t < T; t += 4) {
                int tn = T - t < 4 ? (int)(T - t) : 4;
                for (int64_t p = 4 * u; p < p_end;) {
                    int np = tn == 1 && p_end - p == 4 ? 4 : (p_end - p >= 2 ? 2 : 1);
                    tile(w->pk + p * n_in * 8, n_in, np, x + t * n_in, tn, out + t * n_out + 8 * p,
                         n_out, n_out - 8 * p);
                    p += np;
                }
            }
        }
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static) if (par)
    for (int64_t r = 0; r < n_out; r++) {
        const uint8_t *row = w->data + (size_t)r * w->row_size;
        const float *wr;
        if (w->type == SPEX_TENSOR_F32) {
            wr = (const float *)(const void *)row;
        } else {
            float *buf = rows + (size_t)omp_get_thread_num() * (size_t)n_in;
            m->deq(w->type, row, n_in, buf);
            wr = buf;
        }
        int64_t t = 0;
#ifdef SPEX_HAVE_X86
        if (dot == dot_avx2)
            for (; t + 4 <= T; t += 4) {
                const float *xs[4] = {x + t * n_in, x + (t + 1) * n_in, x + (t + 2) * n_in,
                                      x + (t + 3) * n_in};
                float o4[4];
                dot4_avx2(xs, wr, n_in, o4);
                for (int k = 0; k < 4; k++)
                    out[(t + k) * n_out + r] = o4[k];
            }
#endif
        for (; t < T; t++)
            out[t * n_out + r] = dot(x + t * n_in, wr, n_in);
    }
}

/* y = x / sqrt(mean(x^2) + eps) * w over rows of n. */
static void rmsnorm(float *y, const float *x, const float *w, int64_t T, int64_t n, double eps) {
    for (int64_t t = 0; t < T; t++) {
        double ss = 0;
        for (int64_t i = 0; i < n; i++)
            ss += (double)x[t * n + i] * x[t * n + i];
        float sc = (float)(1.0 / sqrt(ss / (double)n + eps));
        for (int64_t i = 0; i < n; i++)
            y[t * n + i] = x[t * n + i] * sc * w[i];
    }
}

/* y = (x - mean) / sqrt(var + eps) * w + b over rows of n (gpt2). */
static void layernorm(float *y, const float *x, const float *w, const float *b, int64_t T,
                      int64_t n, double eps) {
    for (int64_t t = 0; t < T; t++) {
        const float *xr = x + t * n;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < n; i++)
            mean += xr[i];
        mean /= (double)n;
        for (int64_t i = 0; i < n; i++)
            var += ((double)xr[i] - mean) * ((double)xr[i] - mean);
        double sc = 1.0 / sqrt(var / (double)n + eps);
        for (int64_t i = 0; i < n; i++)
            y[t * n + i] = (float)(((double)xr[i] - mean) * sc) * w[i] + b[i];
    }
}

void spexi_block_norm(const spex_llm *m, float *y, const float *x, const float *w, const float *b,
                      int64_t T) {
    if (m->norm == SPEXI_NORM_LAYER)
        layernorm(y, x, w, b, T, m->info.dim, m->info.rms_eps);
    else
        rmsnorm(y, x, w, T, m->info.dim, m->info.rms_eps);
}

/* GELU, tanh form (GPT-2's "gelu_new"), in double. */
static float gelu(float x) {
    double d = x;
    return (float)(0.5 * d * (1.0 + tanh(0.7978845608028654 * (d + 0.044715 * d * d * d))));
}

void spexi_gelu(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        x[i] = gelu(x[i]);
}

/* RoPE, adjacent pairs (llama.cpp's "normal" mode): in each head of hd,
 * (x[2i], x[2i+1]) turns by pos * base^(-2i / n_rot) for 2i < n_rot; c and s
 * (n_rot / 2) are that position's row of the tables spexi_rope_tables fills
 * (with linear RoPE scaling the angle is multiplied by the model's
 * rope_freq_scale = 1 / llama.rope.scaling.factor, and divided by the
 * pair's entry of the rope_freqs tensor when the file has one: Llama 3.1+
 * scaling, both as llama.cpp does). */
void spexi_rope(float *x, int64_t n_heads, int64_t hd, int64_t n_rot, const float *c,
                const float *s, int neox) {
    if (neox) { /* GPT-NeoX order: pair j is (x[j], x[j + n_rot/2]), angle j */
        for (int64_t j = 0; j < n_rot / 2; j++)
            for (int64_t h = 0; h < n_heads; h++) {
                float *p = x + h * hd + j, *p2 = p + n_rot / 2;
                float a = p[0], b = p2[0];
                p[0] = a * c[j] - b * s[j];
                p2[0] = a * s[j] + b * c[j];
            }
        return;
    }
    for (int64_t i = 0; i < n_rot; i += 2)
        for (int64_t h = 0; h < n_heads; h++) {
            float *p = x + h * hd + i;
            float a = p[0], b = p[1];
            p[0] = a * c[i / 2] - b * s[i / 2];
            p[1] = a * s[i / 2] + b * c[i / 2];
        }
}

void spexi_add_bias(float *x, const float *b, int64_t T, int64_t n) {
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < n; i++)
            x[t * n + i] += b[i];
}

/* cos and sin tables (n_ctx, n_rot / 2) of the RoPE angles, in double and
 * rounded to float once. */
void spexi_rope_tables(float *cs, float *sn, int64_t n_ctx, int64_t n_rot, double base,
                       double scale, const float *factors) {
    for (int64_t i = 0; i < n_rot; i += 2) {
        double f = pow(base, -(double)i / (double)n_rot) * scale;
        if (factors) f /= (double)factors[i / 2];
        for (int64_t p = 0; p < n_ctx; p++) {
            double th = (double)p * f;
            cs[p * (n_rot / 2) + i / 2] = (float)cos(th);
            sn[p * (n_rot / 2) + i / 2] = (float)sin(th);
        }
    }
}
