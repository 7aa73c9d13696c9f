/*
 * The numeric kernels of the forward pass (forward.c) other than the matrix
 * product (matmul.c): dot products (attention), the norms, RoPE, GELU and
 * bias rows.
 *
 * Two kernel sets compute the same thing: the reference (plain scalar loops,
 * double accumulation, one thread: the test oracle, kept beside each fast
 * kernel) and the fast one (AVX2 + FMA kernels chosen at run time when the
 * CPU has them, a portable fallback otherwise). Every output element is
 * computed by one thread in a fixed order, so results are bit-identical for
 * any thread count.
 */
#include "llm/model_int.h"

#include <math.h>

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

float spexi_dot_portable(const float *a, const float *b, int64_t n) {
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
 * scalar tails. */
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

#endif

spexi_dot_fn spexi_pick_dot(int reference) {
    if (reference) return dot_ref;
#ifdef SPEX_HAVE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return dot_avx2;
#endif
    return spexi_dot_portable;
}

int spexi_n_threads(const spex_llm *m) {
    int t = m->reference ? 1 : spex_ctx_threads(m->ctx);
    return t < 1 ? 1 : t;
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
