/*
 * The llama forward pass on a GGUF model: token embedding, n_layers blocks of
 * RMSNorm -> grouped-query attention with RoPE -> residual, RMSNorm ->
 * SwiGLU feed-forward -> residual, final RMSNorm and the output matrix
 * (separate, or tied to the embedding). Produces next-token log-probabilities
 * and teacher-forced continuation scores for the LLM lens of spex. The qwen2
 * architecture is the same block with biases added to q, k and v after
 * their matmuls and RoPE in GPT-NeoX order (pairs (j, j + n_rot/2)); its
 * metadata keys are named "qwen2.*". gpt2 uses LayerNorm with biases,
 * learned position embeddings added to the token's, a fused qkv matrix
 * (split at load into row views of q, k, v), biases on every matmul, an
 * up -> GELU -> down MLP and no RoPE.
 *
 * Two kernel sets compute the same thing: the reference (plain scalar loops,
 * double accumulation, one thread: the test oracle) and the fast one (AVX2 +
 * FMA kernels chosen at run time when the CPU has them, a portable fallback
 * otherwise, packed weight panels, OpenMP threads over output rows). Every
 * output element is computed by one thread in a fixed order, so results are
 * bit-identical for any thread count.
 *
 * HOW IT WORKS (batches and the KV cache)
 * Tokens are processed in chunks of up to CHUNK positions at once: each
 * weight row is dequantised once per chunk and dotted with every position's
 * activation (a matrix-matrix product). Keys and values of every processed
 * position stay in the cache, (n_layers, n_ctx, kv_dim), together with the
 * tokens they belong to. A new sequence that starts with the same tokens as
 * the cached one reuses their keys and values and processes only the rest
 * (causal attention: position p depends only on tokens 0..p), which is what
 * makes ablated variants of one prompt cheap when they share a start.
 *
 * HOW IT WORKS (the fast path's weights and matmul)
 * At load every weight matrix that goes through matmul gets an F32 copy
 * packed in panels of 8 rows, (n_in, 8) each, row r in lane r mod 8 (a
 * quantised matrix is dequantised once, with the same dequantiser that
 * would otherwise run per row and use, so the values are the same bits).
 * The copies are made only while they total <= 1 GiB (PACK_AT_LOAD_MAX);
 * bigger models keep dotting rows straight from the mapped file. The packed
 * kernel holds a tile of up to 2 panels x 4 positions (or 4 x 1) in
 * registers: per input i it loads the panels' 8-wide slices, broadcasts
 * x[t][i] and FMAs, so lanes are output rows, no horizontal sums, and the
 * stores are contiguous. Every output is summed the same way in any tile
 * shape and by one thread (blocks of PBLK products, the blocks added in
 * order), so the results do not depend on the thread count or on where a
 * row sits in a batch. RoPE angles come from cos/sin tables (n_ctx, n_rot/2)
 * made at load. The reference path ignores the copies and the tiles.
 */
#include "llm/llm_int.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SPEX_HAVE_X86 1
#endif

#define CHUNK 64

typedef float (*dot_fn)(const float *a, const float *b, int64_t n);

typedef struct wmat {
    int type;
    int64_t n_in, n_out;
    size_t row_size;
    const uint8_t *data;
    /* the fast path's copy, or NULL: ceil(n_out / 8) panels of (n_in, 8),
     * rows 8p..8p+7 interleaved (zero rows past n_out) */
    const float *pk;
} wmat;

typedef struct layer {
    float *attn_norm, *ffn_norm; /* (dim) */
    float *bq, *bk, *bv;         /* qwen2, gpt2: biases of q (dim), k and v (kv_dim); else NULL */
    float *an_b, *fn_b;          /* gpt2: LayerNorm biases (dim); else NULL */
    float *bo, *bu, *bd;         /* gpt2: biases of attn_output (dim), ffn_up (ffn), ffn_down (dim) */
    wmat wq, wk, wv, wo, wg, wu, wd;
} layer;

struct spex_llm {
    spex_ctx *ctx;
    spex_gguf *g;
    llm_vocab vocab;
    spex_llm_info info;
    char *arch, *name, *tok_model;
    int64_t head_dim, kv_dim, n_rot;
    int neox;                    /* RoPE pairs (i, i + n_rot/2) (qwen2) rather than (2i, 2i+1) */
    int gpt2;                    /* LayerNorm, learned positions, no RoPE, GELU MLP */
    wmat pos_embd;               /* gpt2: (n_ctx_train, dim) */
    float *out_norm_b;           /* gpt2: final LayerNorm bias */
    float *biases;               /* owned: every layer's bq, bk, bv */
    /* RoPE rotations (n_ctx, n_rot / 2) each: cos and sin of pos * base^(-2i / n_rot) */
    float *rope_cos, *rope_sin;
    layer *layers;
    float *out_norm;
    wmat embd, output;
    float *wcopy; /* slab of the wmat.pk copies */
    int reference, kv_f16;
    dot_fn dot;
    spexi_deq_fn deq;
    /* KV cache: (n_layers, n_ctx, kv_dim) each, valid for cache_tok[0..n_cached) */
    float *kc, *vc;
    int32_t *cache_tok;
    int64_t n_cached;
    /* scratch for one chunk, sized for n_scratch_threads */
    float *scratch;
    int n_scratch_threads;
    /* component ablation (spex_llm_set_ablation), owned copies: flags
     * (n_layers * n_heads, n_layers) and replacement outputs (n_layers * dim
     * each, NULL = zero); abl_on when any flag is set */
    int abl_on;
    uint8_t *abl_heads, *abl_mlps;
    float *abl_head_val, *abl_mlp_val;
    /* spex_llm_component_means: running sums (n_layers * dim each) while
     * collecting, else NULL */
    double *sum_head, *sum_mlp;
};

/* ------------------------------------------------------------ kernels -- */

static float dot_ref(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return (float)s;
}

static float dot_portable(const float *a, const float *b, int64_t n) {
    float s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += a[i + k] * b[i + k];
    float r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++) r += a[i] * b[i];
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
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

/* out[k] = dot(x[k], w) for four activation rows: w is loaded once. */
__attribute__((target("avx2,fma"))) static void dot4_avx2(const float *const *x, const float *w,
                                                          int64_t n, float *out) {
    __m256 s0[4], s1[4];
    for (int k = 0; k < 4; k++) s0[k] = s1[k] = _mm256_setzero_ps();
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
        for (int k = 0; k < 4; k++) s0[k] = _mm256_fmadd_ps(_mm256_loadu_ps(x[k] + i), w0, s0[k]);
        i8 = i + 8;
    }
    for (int k = 0; k < 4; k++) {
        float r = hsum8(_mm256_add_ps(s0[k], s1[k]));
        for (int64_t j = i8; j < n; j++) r += x[k][j] * w[j];
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
            for (int t = 0; t < nt; t++) blk[p][t] = _mm256_setzero_ps();
        for (int64_t i = i0; i < i1; i++) {
#pragma GCC unroll 4
            for (int p = 0; p < np; p++) wv[p] = _mm256_loadu_ps(pan + (p * n_in + i) * 8);
#pragma GCC unroll 4
            for (int t = 0; t < nt; t++) {
                __m256 xb = _mm256_broadcast_ss(x + t * n_in + i);
#pragma GCC unroll 4
                for (int p = 0; p < np; p++) blk[p][t] = _mm256_fmadd_ps(xb, wv[p], blk[p][t]);
            }
        }
#pragma GCC unroll 4
        for (int p = 0; p < np; p++)
#pragma GCC unroll 4
            for (int t = 0; t < nt; t++)
                _mm256_storeu_ps(tot[p][t], i0 ? _mm256_add_ps(_mm256_loadu_ps(tot[p][t]), blk[p][t])
                                               : blk[p][t]);
    }
#pragma GCC unroll 4
    for (int p = 0; p < np; p++)
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++) {
            if (n_rows >= 8 * (p + 1))
                memcpy(out + t * n_out + 8 * p, tot[p][t], sizeof tot[p][t]);
            else
                for (int64_t l = 0; l < n_rows - 8 * p; l++) out[t * n_out + 8 * p + l] = tot[p][t][l];
        }
}

/* ptile_avx2 with np and nt constant (np * nt <= 8 accumulators). */
__attribute__((target("avx2,fma"))) static void ptile_avx2_any(const float *pan, int64_t n_in,
                                                               int np, const float *x, int nt,
                                                               float *out, int64_t n_out,
                                                               int64_t n_rows) {
#define PT(NP, NT)                                                                    \
    case NP * 8 + NT:                                                                 \
        ptile_avx2(pan, n_in, NP, x, NT, out, n_out, n_rows);                         \
        break
    switch (np * 8 + nt) {
        PT(2, 4); PT(2, 3); PT(2, 2); PT(2, 1);
        PT(1, 4); PT(1, 3); PT(1, 2); PT(1, 1);
        PT(4, 1);
    default: break;
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
                    for (int l = 0; l < 8; l++) blk[l] += x[t * n_in + i] * pan[(p * n_in + i) * 8 + l];
                for (int l = 0; l < 8; l++) acc[l] += blk[l];
            }
            for (int64_t l = 0; l < 8 && 8 * p + l < n_rows; l++)
                out[t * n_out + 8 * p + l] = acc[l];
        }
}

static dot_fn pick_dot(int reference) {
    if (reference) return dot_ref;
#ifdef SPEX_HAVE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return dot_avx2;
#endif
    return dot_portable;
}

static int n_threads(const spex_llm *m) {
    int t = m->reference ? 1 : spex_ctx_threads(m->ctx);
    return t < 1 ? 1 : t;
}

/* out (T, W.n_out) = x (T, W.n_in) . W^T. rowbuf: n_threads * n_in floats
 * for dequantised rows. */
static void matmul(const spex_llm *m, const wmat *w, const float *x, int64_t T, float *out,
                   float *rowbuf) {
    int nt = n_threads(m);
    dot_fn dot = m->dot;
    int64_t n_in = w->n_in, n_out = w->n_out;
    /* threads only pay off past ~2^18 multiply-adds per call */
    int par = nt > 1 && (double)n_out * (double)n_in * (double)T >= 262144.0;
    if (w->pk && !m->reference) {
        /* units of 4 panels (32 rows) over threads; in a unit, tiles of up
         * to 2 panels x 4 positions, or 4 panels x 1 position */
        int64_t n_pan = (n_out + 7) / 8, n_units = (n_pan + 3) / 4;
        void (*tile)(const float *, int64_t, int, const float *, int, float *, int64_t,
                     int64_t) = ptile_portable;
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
            float *buf = rowbuf + (size_t)omp_get_thread_num() * (size_t)n_in;
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
                for (int k = 0; k < 4; k++) out[(t + k) * n_out + r] = o4[k];
            }
#endif
        for (; t < T; t++) out[t * n_out + r] = dot(x + t * n_in, wr, n_in);
    }
}

/* y = x / sqrt(mean(x^2) + eps) * w over rows of n. */
static void rmsnorm(float *y, const float *x, const float *w, int64_t T, int64_t n, double eps) {
    for (int64_t t = 0; t < T; t++) {
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += (double)x[t * n + i] * x[t * n + i];
        float sc = (float)(1.0 / sqrt(ss / (double)n + eps));
        for (int64_t i = 0; i < n; i++) y[t * n + i] = x[t * n + i] * sc * w[i];
    }
}

/* y = (x - mean) / sqrt(var + eps) * w + b over rows of n (gpt2). */
static void layernorm(float *y, const float *x, const float *w, const float *b, int64_t T,
                      int64_t n, double eps) {
    for (int64_t t = 0; t < T; t++) {
        const float *xr = x + t * n;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < n; i++) mean += xr[i];
        mean /= (double)n;
        for (int64_t i = 0; i < n; i++) var += ((double)xr[i] - mean) * ((double)xr[i] - mean);
        double sc = 1.0 / sqrt(var / (double)n + eps);
        for (int64_t i = 0; i < n; i++)
            y[t * n + i] = (float)(((double)xr[i] - mean) * sc) * w[i] + b[i];
    }
}

/* Norm of a block's input: LayerNorm with bias (gpt2) or RMSNorm. */
static void block_norm(const spex_llm *m, float *y, const float *x, const float *w, const float *b,
                       int64_t T) {
    if (m->gpt2) layernorm(y, x, w, b, T, m->info.dim, m->info.rms_eps);
    else rmsnorm(y, x, w, T, m->info.dim, m->info.rms_eps);
}

/* GELU, tanh form (GPT-2's "gelu_new"), in double. */
static float gelu(float x) {
    double d = x;
    return (float)(0.5 * d * (1.0 + tanh(0.7978845608028654 * (d + 0.044715 * d * d * d))));
}

/* RoPE, adjacent pairs (llama.cpp's "normal" mode): in each head of hd,
 * (x[2i], x[2i+1]) turns by pos * base^(-2i / n_rot) for 2i < n_rot; c and s
 * (n_rot / 2) are that position's row of the tables rope_tables fills
 * (with linear RoPE scaling the angle is multiplied by the model's
 * rope_freq_scale = 1 / llama.rope.scaling.factor, and divided by the
 * pair's entry of the rope_freqs tensor when the file has one: Llama 3.1+
 * scaling, both as llama.cpp does). */
static void rope(float *x, int64_t n_heads, int64_t hd, int64_t n_rot, const float *c,
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

/* x (T, n) += b (n) on every row. */
static void add_bias(float *x, const float *b, int64_t T, int64_t n) {
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < n; i++) x[t * n + i] += b[i];
}

/* cos and sin tables (n_ctx, n_rot / 2) of the RoPE angles, in double and
 * rounded to float once. */
static void rope_tables(float *cs, float *sn, int64_t n_ctx, int64_t n_rot, double base,
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

/* ------------------------------------------------------------- loading -- */

/* The fast path's packed F32 copies of the weight matrices (wmat.pk;
 * quantised ones dequantised with the fast path's dequantiser, the same
 * bits as dequantising a row per use) are made at load when they total at
 * most this many bytes; bigger models dot each row straight from the mapped
 * file, dequantising quantised rows as they use them. */
#define PACK_AT_LOAD_MAX ((double)(1 << 30))

/* Weight matrix k of the 7 n_layers + 1 that go through matmul. */
static wmat *mat_at(spex_llm *m, int64_t k) {
    if (k == 7 * m->info.n_layers) return &m->output;
    layer *ly = &m->layers[k / 7];
    wmat *all[7] = {&ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->wg, &ly->wu, &ly->wd};
    return all[k % 7];
}

static int pack_weights(spex_llm *m) {
    const spex_llm_info *I = &m->info;
    int64_t n_mats = 7 * I->n_layers + 1, max_in = I->ffn_dim > I->dim ? I->ffn_dim : I->dim;
    double total = (double)max_in * 4.0; /* + one dequantised row */
    for (int64_t k = 0; k < n_mats; k++) {
        const wmat *w = mat_at(m, k);
        total += (double)w->n_in * (double)((w->n_out + 7) / 8 * 8) * 4.0;
    }
    if (total > PACK_AT_LOAD_MAX) return SPEX_OK;
    float *dst = m->wcopy = spex_malloc(m->ctx, (size_t)total);
    if (!dst) return SPEX_E_NOMEM;
    float *row = dst + (size_t)(total / 4.0) - max_in;
    spexi_deq_fn deq = spexi_pick_dequant(0);
    for (int64_t k = 0; k < n_mats; k++) {
        wmat *w = mat_at(m, k);
        int64_t n_in = w->n_in, n_pan = (w->n_out + 7) / 8;
        memset(dst, 0, (size_t)(n_pan * 8 * n_in) * sizeof(float));
        for (int64_t r = 0; r < w->n_out; r++) {
            const uint8_t *src = w->data + (size_t)r * w->row_size;
            const float *wr = (const float *)(const void *)src;
            if (w->type != SPEX_TENSOR_F32) {
                deq(w->type, src, n_in, row);
                wr = row;
            }
            float *pan = dst + (r / 8) * n_in * 8 + r % 8;
            for (int64_t i = 0; i < n_in; i++) pan[i * 8] = wr[i];
        }
        w->pk = dst;
        dst += n_pan * 8 * n_in;
    }
    return SPEX_OK;
}

static int get_key_int(spex_ctx *ctx, const spex_gguf *g, const char *key, int64_t def,
                       int64_t lo, int64_t hi, int64_t *out) {
    int64_t i = spex_gguf_find_key(g, key);
    if (i < 0) {
        if (def < 0) return spex_seterr(ctx, SPEX_E_PARSE, "missing key '%s'", key);
        *out = def;
        return SPEX_OK;
    }
    if (spex_gguf_get_int(g, i, -1, out) || *out < lo || *out > hi)
        return spex_seterr(ctx, SPEX_E_PARSE, "key '%s': not an integer in [%lld, %lld]", key,
                           (long long)lo, (long long)hi);
    return SPEX_OK;
}

static int get_key_float(spex_ctx *ctx, const spex_gguf *g, const char *key, double def,
                         double *out) {
    int64_t i = spex_gguf_find_key(g, key);
    if (i < 0) {
        *out = def;
        return SPEX_OK;
    }
    if (spex_gguf_get_float(g, i, -1, out) || !(*out > 0) || !isfinite(*out))
        return spex_seterr(ctx, SPEX_E_PARSE, "key '%s': not a positive number", key);
    return SPEX_OK;
}

static char *get_key_str(spex_ctx *ctx, const spex_gguf *g, const char *key) {
    int64_t i = spex_gguf_find_key(g, key);
    const char *s = "";
    size_t len = 0;
    if (i >= 0 && spex_gguf_get_str(g, i, -1, &s, &len)) {
        s = "";
        len = 0;
    }
    char *d = spex_malloc(ctx, len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = 0;
    }
    return d;
}

/* RoPE scaling as llama.cpp reads it: llama.rope.scaling.type (default
 * "linear") and llama.rope.scaling.factor (or the older
 * llama.rope.scale_linear; absent or 0: 1). "none" never scales; "linear"
 * multiplies positions by 1 / factor; YaRN and LongRoPE are refused rather
 * than run wrongly. */
static int rope_scaling(spex_ctx *ctx, const spex_gguf *g, const char *arch, double *scale) {
    *scale = 1.0;
    char kty[96], kf[96], kl[96];
    snprintf(kty, sizeof kty, "%s.rope.scaling.type", arch);
    snprintf(kf, sizeof kf, "%s.rope.scaling.factor", arch);
    snprintf(kl, sizeof kl, "%s.rope.scale_linear", arch);
    int64_t kt = spex_gguf_find_key(g, kty);
    const char *type = "linear";
    size_t tl = 6;
    if (kt >= 0 && spex_gguf_get_str(g, kt, -1, &type, &tl))
        return spex_seterr(ctx, SPEX_E_PARSE, "key '%s' is not a string", kty);
    int linear = tl == 6 && !memcmp(type, "linear", 6);
    if (!linear && !(tl == 4 && !memcmp(type, "none", 4)))
        return spex_seterr(ctx, SPEX_E_UNSUPPORTED,
                           "key '%s' = '%.*s': only 'none' and 'linear' RoPE scaling are "
                           "supported",
                           kty, (int)(tl > 32 ? 32 : tl), type);
    const char *keys[2] = {kf, kl};
    for (int k = 0; k < 2; k++) {
        int64_t i = spex_gguf_find_key(g, keys[k]);
        if (i < 0) continue;
        double f;
        if (spex_gguf_get_float(g, i, -1, &f) || !(f >= 0) || !isfinite(f))
            return spex_seterr(ctx, SPEX_E_PARSE, "key '%s': not a number >= 0", keys[k]);
        if (linear && f > 0) *scale = 1.0 / f;
        break;
    }
    return SPEX_OK;
}

/* A weight matrix (n_out rows of n_in) by name; optional: *found = 0 when absent. */
static int get_mat(spex_llm *m, const char *name, int64_t n_in, int64_t n_out, wmat *w,
                   int *found) {
    int64_t i = spex_gguf_find_tensor(m->g, name);
    if (i < 0) {
        if (found) {
            *found = 0;
            return SPEX_OK;
        }
        return spex_seterr(m->ctx, SPEX_E_PARSE, "missing tensor '%s'", name);
    }
    if (found) *found = 1;
    spex_tensor_info t;
    spex_gguf_tensor(m->g, i, &t);
    if (t.n_dims > 2 || t.ne[0] != n_in || t.ne[1] != n_out)
        return spex_seterr(m->ctx, SPEX_E_PARSE,
                           "tensor '%s' (byte %llu): shape [%lld, %lld] (%d dims), expected "
                           "[%lld, %lld]",
                           name, (unsigned long long)t.offset, (long long)t.ne[0],
                           (long long)t.ne[1], t.n_dims, (long long)n_in, (long long)n_out);
    if (t.type == SPEX_TENSOR_F32 && ((uintptr_t)t.data & 3))
        return spex_seterr(m->ctx, SPEX_E_PARSE, "tensor '%s' (byte %llu): F32 data misaligned",
                           name, (unsigned long long)t.offset);
    w->type = t.type;
    w->n_in = n_in;
    w->n_out = n_out;
    w->row_size = t.size / (size_t)n_out;
    w->data = t.data;
    return SPEX_OK;
}

/* A vector of n floats by name, dequantised into dst. */
static int get_vec(spex_llm *m, const char *name, int64_t n, float *dst) {
    wmat w = {0}; /* filled by get_mat on success; gcc -O3 cannot see it */
    int rc = get_mat(m, name, n, 1, &w, NULL);
    if (rc) return rc;
    return spex_tensor_to_f32(m->ctx, w.type, w.data, n, dst);
}

spex_llm_opts spex_llm_opts_default(void) {
    spex_llm_opts o = {0, 0, 0};
    return o;
}

static int alloc_scratch(spex_llm *m, int nt) {
    if (m->scratch && m->n_scratch_threads >= nt) return SPEX_OK;
    const spex_llm_info *I = &m->info;
    int64_t max_in = I->ffn_dim > I->dim ? I->ffn_dim : I->dim;
    /* x, xb, q, att (CHUNK, dim); k, v (CHUNK, kv_dim); h1, h2 (CHUNK, ffn);
     * logits (CHUNK, n_vocab); rows (nt, max_in); scores (nt, n_ctx) */
    double total = (double)CHUNK * (4.0 * I->dim + 2.0 * m->kv_dim + 2.0 * I->ffn_dim +
                                    (double)I->n_vocab) +
                   (double)nt * (double)(max_in + I->n_ctx);
    if (total > (double)(SIZE_MAX / 8))
        return spex_seterr(m->ctx, SPEX_E_NOMEM, "scratch of %g floats is too large", total);
    float *s = spex_malloc(m->ctx, (size_t)total * sizeof(float));
    if (!s) return SPEX_E_NOMEM;
    spex_free(m->ctx, m->scratch);
    m->scratch = s;
    m->n_scratch_threads = nt;
    return SPEX_OK;
}

int spex_llm_load(spex_ctx *ctx, const char *path, const spex_llm_opts *opts, spex_llm **out) {
    spex_llm_opts o = opts ? *opts : spex_llm_opts_default();
    *out = NULL;
    spex_llm *m = spex_calloc(ctx, 1, sizeof *m);
    if (!m) return SPEX_E_NOMEM;
    m->ctx = ctx;
    int rc = spex_gguf_open(ctx, path, &m->g);
    if (rc) goto done;
    const spex_gguf *g = m->g;
    spex_llm_info *I = &m->info;
    if (!(m->arch = get_key_str(ctx, g, "general.architecture")) ||
        !(m->name = get_key_str(ctx, g, "general.name")) ||
        !(m->tok_model = get_key_str(ctx, g, "tokenizer.ggml.model"))) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    I->arch = m->arch;
    I->name = m->name;
    I->tokenizer = m->tok_model;
    if (strcmp(m->arch, "llama") && strcmp(m->arch, "qwen2") && strcmp(m->arch, "gpt2")) {
        rc = spex_seterr(ctx, SPEX_E_UNSUPPORTED,
                         "%s: key 'general.architecture' = '%s': only 'llama', 'qwen2' and "
                         "'gpt2' are supported",
                         path, m->arch);
        goto done;
    }
    /* gpt2: LayerNorm with biases, learned position embeddings, fused qkv
     * with bias, biases on every matmul, a GELU MLP, no RoPE */
    m->gpt2 = !strcmp(m->arch, "gpt2");
    /* qwen2 = llama + biases on q, k, v and NeoX-style RoPE; its keys are
     * named "qwen2.*" */
    m->neox = !strcmp(m->arch, "qwen2");
    char akey[96];
#define AK(suffix) (snprintf(akey, sizeof akey, "%s." suffix, m->arch), akey)

    const int64_t big = (int64_t)1 << 24;
    if ((rc = get_key_int(ctx, g, AK("embedding_length"), -1, 1, big, &I->dim)) ||
        (rc = get_key_int(ctx, g, AK("block_count"), -1, 1, 4096, &I->n_layers)) ||
        (rc = get_key_int(ctx, g, AK("feed_forward_length"), -1, 1, big, &I->ffn_dim)) ||
        (rc = get_key_int(ctx, g, AK("attention.head_count"), -1, 1, 4096, &I->n_heads)) ||
        (rc = get_key_int(ctx, g, AK("attention.head_count_kv"), I->n_heads, 1, I->n_heads,
                          &I->n_kv_heads)) ||
        (rc = get_key_int(ctx, g, AK("context_length"), 2048, 1, big, &I->n_ctx_train)) ||
        (rc = get_key_float(ctx, g, AK("rope.freq_base"), 10000.0, &I->rope_base)) ||
        (rc = get_key_float(ctx, g, AK("attention.layer_norm_rms_epsilon"), 1e-5, &I->rms_eps)) ||
        (m->gpt2 &&
         (rc = get_key_float(ctx, g, AK("attention.layer_norm_epsilon"), 1e-5, &I->rms_eps))))
        goto done;
    if (I->dim % I->n_heads || I->n_heads % I->n_kv_heads || (I->dim / I->n_heads) % 2) {
        rc = spex_seterr(ctx, SPEX_E_PARSE,
                         "%s: dim %lld, %lld heads, %lld kv heads do not divide evenly", path,
                         (long long)I->dim, (long long)I->n_heads, (long long)I->n_kv_heads);
        goto done;
    }
    m->head_dim = I->dim / I->n_heads;
    m->kv_dim = m->head_dim * I->n_kv_heads;
    if ((rc = rope_scaling(ctx, g, m->arch, &I->rope_freq_scale))) {
        spex_errprefix(ctx, "%s", path);
        goto done;
    }
    if ((rc = get_key_int(ctx, g, AK("rope.dimension_count"), m->head_dim, 2, m->head_dim,
                          &m->n_rot)))
        goto done;
#undef AK
    m->n_rot &= ~(int64_t)1;
    I->n_ctx = o.n_ctx > 0 ? o.n_ctx : (I->n_ctx_train < 4096 ? I->n_ctx_train : 4096);
    if ((rc = spexi_vocab_load(ctx, g, &m->vocab))) {
        spex_errprefix(ctx, "%s", path);
        goto done;
    }
    I->n_vocab = m->vocab.n;
    I->bos = m->vocab.bos;
    I->eos = m->vocab.eos;
    I->add_bos = m->vocab.add_bos;

    int64_t L = I->n_layers, D = I->dim, F = I->ffn_dim, KV = m->kv_dim;
    m->layers = spex_calloc(ctx, (size_t)L, sizeof *m->layers);
    m->out_norm = spex_calloc(ctx, (size_t)((2 * L + 1) * D), sizeof(float));
    if (!m->layers || !m->out_norm) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    if ((rc = get_mat(m, "token_embd.weight", D, I->n_vocab, &m->embd, NULL)) ||
        (rc = get_vec(m, "output_norm.weight", D, m->out_norm)))
        goto done;
    int found;
    if ((rc = get_mat(m, "output.weight", D, I->n_vocab, &m->output, &found))) goto done;
    if (!found) m->output = m->embd;
    I->tied_output = !found;
    /* biases, per layer: qwen2 q, k, v; gpt2 also both LayerNorms',
     * attn_output's, ffn_up's and ffn_down's; then gpt2's final norm bias */
    int64_t stride = m->gpt2 ? 5 * D + 2 * KV + F : D + 2 * KV;
    if ((m->neox || m->gpt2) &&
        !(m->biases = spex_malloc(ctx, (size_t)(L * stride + D) * sizeof(float)))) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    if (m->gpt2) {
        m->out_norm_b = m->biases + L * stride;
        if ((rc = get_vec(m, "output_norm.bias", D, m->out_norm_b)) ||
            (rc = get_mat(m, "position_embd.weight", D, I->n_ctx_train, &m->pos_embd, NULL)))
            goto done;
        if (I->n_ctx > I->n_ctx_train) I->n_ctx = I->n_ctx_train; /* no positions beyond */
    }
    for (int64_t l = 0; l < L; l++) {
        layer *ly = &m->layers[l];
        char nm[96];
        ly->attn_norm = m->out_norm + (1 + 2 * l) * D;
        ly->ffn_norm = ly->attn_norm + D;
#define BLK(suffix) (snprintf(nm, sizeof nm, "blk.%lld." suffix, (long long)l), nm)
        if ((rc = get_vec(m, BLK("attn_norm.weight"), D, ly->attn_norm)) ||
            (rc = get_vec(m, BLK("ffn_norm.weight"), D, ly->ffn_norm)) ||
            (rc = get_mat(m, BLK("attn_output.weight"), D, D, &ly->wo, NULL)) ||
            (rc = get_mat(m, BLK("ffn_up.weight"), D, F, &ly->wu, NULL)) ||
            (rc = get_mat(m, BLK("ffn_down.weight"), F, D, &ly->wd, NULL)))
            goto done;
        if (m->biases) {
            ly->bq = m->biases + l * stride;
            ly->bk = ly->bq + D;
            ly->bv = ly->bk + KV;
        }
        if (m->gpt2) { /* fused qkv: rows [0, D) q, then k, then v */
            wmat qkv = {0};
            ly->an_b = ly->bv + KV;
            ly->fn_b = ly->an_b + D;
            ly->bo = ly->fn_b + D;
            ly->bd = ly->bo + D;
            ly->bu = ly->bd + D;
            if ((rc = get_mat(m, BLK("attn_qkv.weight"), D, D + 2 * KV, &qkv, NULL)) ||
                (rc = get_vec(m, BLK("attn_qkv.bias"), D + 2 * KV, ly->bq)) ||
                (rc = get_vec(m, BLK("attn_norm.bias"), D, ly->an_b)) ||
                (rc = get_vec(m, BLK("ffn_norm.bias"), D, ly->fn_b)) ||
                (rc = get_vec(m, BLK("attn_output.bias"), D, ly->bo)) ||
                (rc = get_vec(m, BLK("ffn_up.bias"), F, ly->bu)) ||
                (rc = get_vec(m, BLK("ffn_down.bias"), D, ly->bd)))
                goto done;
            ly->wq = ly->wk = ly->wv = qkv;
            ly->wq.n_out = D;
            ly->wk.n_out = ly->wv.n_out = KV;
            ly->wk.data = qkv.data + (size_t)D * qkv.row_size;
            ly->wv.data = ly->wk.data + (size_t)KV * qkv.row_size;
            continue;
        }
        if ((rc = get_mat(m, BLK("attn_q.weight"), D, D, &ly->wq, NULL)) ||
            (rc = get_mat(m, BLK("attn_k.weight"), D, KV, &ly->wk, NULL)) ||
            (rc = get_mat(m, BLK("attn_v.weight"), D, KV, &ly->wv, NULL)) ||
            (rc = get_mat(m, BLK("ffn_gate.weight"), D, F, &ly->wg, NULL)))
            goto done;
        if (m->neox &&
            ((rc = get_vec(m, BLK("attn_q.bias"), D, ly->bq)) ||
             (rc = get_vec(m, BLK("attn_k.bias"), KV, ly->bk)) ||
             (rc = get_vec(m, BLK("attn_v.bias"), KV, ly->bv))))
            goto done;
#undef BLK
    }
    for (int64_t i = 0; i < spex_gguf_n_tensors(g); i++) {
        spex_tensor_info t;
        spex_gguf_tensor(g, i, &t);
        I->n_params += t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3];
    }
    double cache = 2.0 * (double)L * (double)I->n_ctx * (double)KV;
    if (cache * 4 > (double)SIZE_MAX / 2) {
        rc = spex_seterr(ctx, SPEX_E_NOMEM, "KV cache too large");
        goto done;
    }
    m->kc = spex_malloc(ctx, (size_t)cache * sizeof(float));
    m->cache_tok = spex_malloc(ctx, (size_t)I->n_ctx * sizeof(int32_t));
    if (!m->kc || !m->cache_tok) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    m->vc = m->kc + (size_t)cache / 2;
    /* n_ctx <= 2^24 and n_rot <= 2^24: the product fits */
    m->rope_cos = spex_malloc(ctx, (size_t)(I->n_ctx * m->n_rot) * sizeof(float));
    if (!m->rope_cos) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    m->rope_sin = m->rope_cos + I->n_ctx * (m->n_rot / 2);
    {
        float *factors = NULL; /* per-frequency factors (Llama 3.1+), optional */
        if (spex_gguf_find_tensor(g, "rope_freqs.weight") >= 0) {
            factors = spex_malloc(ctx, (size_t)(m->n_rot / 2) * sizeof *factors);
            if (!factors) {
                rc = SPEX_E_NOMEM;
                goto done;
            }
            rc = get_vec(m, "rope_freqs.weight", m->n_rot / 2, factors);
            for (int64_t i = 0; !rc && i < m->n_rot / 2; i++)
                if (!(factors[i] > 0) || !isfinite(factors[i]))
                    rc = spex_seterr(ctx, SPEX_E_PARSE,
                                     "%s: tensor 'rope_freqs.weight': entry %lld is not a "
                                     "positive number",
                                     path, (long long)i);
            if (rc) {
                spex_free(ctx, factors);
                goto done;
            }
        }
        rope_tables(m->rope_cos, m->rope_sin, I->n_ctx, m->n_rot, I->rope_base,
                    I->rope_freq_scale, factors);
        spex_free(ctx, factors);
    }
    if ((rc = pack_weights(m))) goto done;
    m->reference = o.reference;
    m->kv_f16 = o.kv_f16;
    m->dot = pick_dot(m->reference);
    m->deq = spexi_pick_dequant(m->reference);
done:
    if (rc) {
        spex_llm_free(m);
        return rc;
    }
    *out = m;
    return SPEX_OK;
}

void spex_llm_free(spex_llm *m) {
    if (!m) return;
    spex_ctx *ctx = m->ctx;
    spexi_vocab_clear(ctx, &m->vocab);
    spex_gguf_free(m->g);
    spex_free(ctx, m->arch);
    spex_free(ctx, m->name);
    spex_free(ctx, m->tok_model);
    spex_free(ctx, m->layers);
    spex_free(ctx, m->biases);
    spex_free(ctx, m->out_norm);
    spex_free(ctx, m->kc);
    spex_free(ctx, m->cache_tok);
    spex_free(ctx, m->rope_cos);
    spex_free(ctx, m->wcopy);
    spex_free(ctx, m->scratch);
    spex_free(ctx, m->abl_heads);
    spex_free(ctx, m->abl_mlps);
    spex_free(ctx, m->abl_head_val);
    spex_free(ctx, m->abl_mlp_val);
    spex_free(ctx, m);
}

void spex_llm_get_info(const spex_llm *m, spex_llm_info *out) {
    *out = m->info;
}
const spex_gguf *spex_llm_gguf(const spex_llm *m) {
    return m->g;
}
void spex_llm_set_reference(spex_llm *m, int reference) {
    m->reference = reference;
    m->dot = pick_dot(reference);
    m->deq = spexi_pick_dequant(reference);
}

/* ------------------------------------------------------------- forward -- */

/* Processes tokens tok[0..T) at positions p0..p0+T (T <= CHUNK; the cache
 * holds positions 0..p0) and leaves the final normalised hidden states in
 * xb (T, dim). */
static void forward_chunk(spex_llm *m, const int32_t *tok, int64_t T, int64_t p0, float *xb) {
    const spex_llm_info *I = &m->info;
    int64_t D = I->dim, F = I->ffn_dim, KV = m->kv_dim, hd = m->head_dim, H = I->n_heads;
    int64_t group = I->n_heads / I->n_kv_heads, n_ctx = I->n_ctx;
    int nt = n_threads(m);
    float *x = m->scratch;            /* (T, D) residual stream */
    float *q = x + CHUNK * D;         /* (T, D) */
    float *att = q + CHUNK * D;       /* (T, D) attention output */
    float *k = att + CHUNK * D;       /* (T, KV) */
    float *v = k + CHUNK * KV;        /* (T, KV) */
    float *h1 = v + CHUNK * KV;       /* (T, F) */
    float *h2 = h1 + CHUNK * F;       /* (T, F) */
    float *rowbuf = h2 + CHUNK * F + CHUNK * I->n_vocab + CHUNK * D; /* (nt, max_in) */
    int64_t max_in = F > D ? F : D;
    float *scores = rowbuf + (size_t)m->n_scratch_threads * max_in; /* (nt, n_ctx) */
    float scale = (float)(1.0 / sqrt((double)hd));

    for (int64_t t = 0; t < T; t++)
        m->deq(m->embd.type, m->embd.data + (size_t)tok[t] * m->embd.row_size, D, x + t * D);
    if (m->gpt2) /* learned absolute positions */
        for (int64_t t = 0; t < T; t++) {
            m->deq(m->pos_embd.type, m->pos_embd.data + (size_t)(p0 + t) * m->pos_embd.row_size, D,
                   xb);
            for (int64_t i = 0; i < D; i++) x[t * D + i] += xb[i];
        }
    for (int64_t l = 0; l < I->n_layers; l++) {
        const layer *ly = &m->layers[l];
        float *kc = m->kc + (size_t)l * n_ctx * KV, *vc = m->vc + (size_t)l * n_ctx * KV;
        block_norm(m, xb, x, ly->attn_norm, ly->an_b, T);
        matmul(m, &ly->wq, xb, T, q, rowbuf);
        matmul(m, &ly->wk, xb, T, k, rowbuf);
        matmul(m, &ly->wv, xb, T, v, rowbuf);
        if (ly->bq) {
            add_bias(q, ly->bq, T, D);
            add_bias(k, ly->bk, T, KV);
            add_bias(v, ly->bv, T, KV);
        }
        for (int64_t t = 0; t < T; t++) {
            const float *rc = m->rope_cos + (p0 + t) * (m->n_rot / 2);
            const float *rs = m->rope_sin + (p0 + t) * (m->n_rot / 2);
            if (!m->gpt2) {
                rope(q + t * D, H, hd, m->n_rot, rc, rs, m->neox);
                rope(k + t * KV, I->n_kv_heads, hd, m->n_rot, rc, rs, m->neox);
            }
            if (m->kv_f16)
                for (int64_t i = 0; i < KV; i++) {
                    k[t * KV + i] = spexi_f16_to_f32(spexi_f32_to_f16(k[t * KV + i]));
                    v[t * KV + i] = spexi_f16_to_f32(spexi_f32_to_f16(v[t * KV + i]));
                }
            memcpy(kc + (p0 + t) * KV, k + t * KV, (size_t)KV * sizeof(float));
            memcpy(vc + (p0 + t) * KV, v + t * KV, (size_t)KV * sizeof(float));
        }
        /* causal attention: query (t, h) over cached positions 0..p0+t of
         * kv head h / group */
        int par = nt > 1 && (double)T * (double)H * (double)(p0 + T) * (double)hd >= 262144.0;
#pragma omp parallel for num_threads(nt) schedule(static) if (par)
        for (int64_t th = 0; th < T * H; th++) {
            int64_t t = th / H, h = th % H, n_pos = p0 + t + 1;
            if (m->abl_on && m->abl_heads[l * H + h]) { /* ablated: its replacement */
                float *o = att + t * D + h * hd;
                const float *val = m->abl_head_val ? m->abl_head_val + l * D + h * hd : NULL;
                for (int64_t i = 0; i < hd; i++) o[i] = val ? val[i] : 0.0f;
                continue;
            }
            float *qh = q + t * D + h * hd;
            if (m->kv_f16) /* an F16 cache multiplies in half precision */
                for (int64_t i = 0; i < hd; i++) qh[i] = spexi_f16_to_f32(spexi_f32_to_f16(qh[i]));
            const float *kh = kc + (h / group) * hd, *vh = vc + (h / group) * hd;
            float *sc = scores + (size_t)omp_get_thread_num() * n_ctx;
            float mx = -INFINITY;
            for (int64_t p = 0; p < n_pos; p++) {
                sc[p] = m->dot(qh, kh + p * KV, hd) * scale;
                if (sc[p] > mx) mx = sc[p];
            }
            double sum = 0;
            for (int64_t p = 0; p < n_pos; p++) {
                sc[p] = expf(sc[p] - mx);
                sum += sc[p];
            }
            float inv = (float)(1.0 / sum), *o = att + t * D + h * hd;
            for (int64_t i = 0; i < hd; i++) o[i] = 0;
            for (int64_t p = 0; p < n_pos; p++) {
                float w = sc[p] * inv;
                if (m->kv_f16) w = spexi_f16_to_f32(spexi_f32_to_f16(w));
                const float *vp = vh + p * KV;
                for (int64_t i = 0; i < hd; i++) o[i] += w * vp[i];
            }
        }
        if (m->sum_head) /* head (l, h) is att[t][h * hd ..], summed at l * D + h * hd */
            for (int64_t i = 0; i < T * D; i++) m->sum_head[l * D + i % D] += att[i];
        matmul(m, &ly->wo, att, T, q, rowbuf);
        if (ly->bo) add_bias(q, ly->bo, T, D);
        for (int64_t i = 0; i < T * D; i++) x[i] += q[i];
        if (m->abl_on && m->abl_mlps[l]) { /* ablated MLP: its replacement, no compute */
            if (m->abl_mlp_val)
                for (int64_t i = 0; i < T * D; i++) x[i] += m->abl_mlp_val[l * D + i % D];
            continue;
        }
        block_norm(m, xb, x, ly->ffn_norm, ly->fn_b, T);
        if (m->gpt2) { /* up (+ bias), GELU, down (+ bias) */
            matmul(m, &ly->wu, xb, T, h1, rowbuf);
            add_bias(h1, ly->bu, T, F);
            for (int64_t i = 0; i < T * F; i++) h1[i] = gelu(h1[i]);
            matmul(m, &ly->wd, h1, T, q, rowbuf);
            add_bias(q, ly->bd, T, D);
        } else { /* SwiGLU */
            matmul(m, &ly->wg, xb, T, h1, rowbuf);
            matmul(m, &ly->wu, xb, T, h2, rowbuf);
            for (int64_t i = 0; i < T * F; i++) h1[i] = h1[i] / (1.0f + expf(-h1[i])) * h2[i];
            matmul(m, &ly->wd, h1, T, q, rowbuf);
        }
        if (m->sum_mlp)
            for (int64_t i = 0; i < T * D; i++) m->sum_mlp[l * D + i % D] += q[i];
        for (int64_t i = 0; i < T * D; i++) x[i] += q[i];
    }
    block_norm(m, xb, x, m->out_norm, m->out_norm_b, T);
}

/* log-softmax of one row of logits into lp (double). */
static void log_softmax(const float *logits, int64_t n, double *lp) {
    double mx = -INFINITY, sum = 0;
    for (int64_t i = 0; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    for (int64_t i = 0; i < n; i++) sum += exp((double)logits[i] - mx);
    double lse = mx + log(sum);
    for (int64_t i = 0; i < n; i++) lp[i] = (double)logits[i] - lse;
}

static double logprob_of(const float *logits, int64_t n, int32_t tok) {
    double mx = -INFINITY, sum = 0;
    for (int64_t i = 0; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    for (int64_t i = 0; i < n; i++) sum += exp((double)logits[i] - mx);
    return (double)logits[tok] - mx - log(sum);
}

/* Runs seq[0..n_run) through the model, reusing the cached prefix when
 * reuse, and for every position p in [want_from, n_run) computes the logits
 * (n_vocab) and calls emit(p, logits) — or, with hidden, calls emit(p, h)
 * with the final normalised hidden state h (dim) and leaves the output
 * matrix to the caller (which batches it across sequences). */
typedef void (*emit_fn)(void *user, int64_t p, const float *logits);

static int run_seq_ex(spex_llm *m, const int32_t *seq, int64_t n_run, int64_t want_from,
                      int reuse, int hidden, emit_fn emit, void *user) {
    const spex_llm_info *I = &m->info;
    if (n_run < 1 || n_run > I->n_ctx)
        return spex_seterr(m->ctx, SPEX_E_RANGE, "sequence of %lld tokens (context is %lld)",
                           (long long)n_run, (long long)I->n_ctx);
    for (int64_t i = 0; i < n_run; i++)
        if (seq[i] < 0 || seq[i] >= I->n_vocab)
            return spex_seterr(m->ctx, SPEX_E_RANGE, "token %lld = %d is not in the vocabulary (%lld)",
                               (long long)i, seq[i], (long long)I->n_vocab);
    int rc = alloc_scratch(m, n_threads(m));
    if (rc) return rc;
    int64_t start = 0;
    if (reuse)
        while (start < m->n_cached && start < n_run && m->cache_tok[start] == seq[start]) start++;
    if (start > want_from) start = want_from;
    m->n_cached = start;
    float *xb = m->scratch + 3 * CHUNK * I->dim + 2 * CHUNK * m->kv_dim + 2 * CHUNK * I->ffn_dim;
    float *logits = xb + CHUNK * I->dim;
    for (int64_t p0 = start; p0 < n_run; p0 += CHUNK) {
        int64_t T = n_run - p0 < CHUNK ? n_run - p0 : CHUNK;
        forward_chunk(m, seq + p0, T, p0, xb);
        memcpy(m->cache_tok + p0, seq + p0, (size_t)T * sizeof(int32_t));
        m->n_cached = p0 + T;
        int64_t first = want_from > p0 ? want_from - p0 : 0;
        if (first >= T) continue;
        if (hidden) {
            for (int64_t t = first; t < T; t++) emit(user, p0 + t, xb + t * I->dim);
            continue;
        }
        matmul(m, &m->output, xb + first * I->dim, T - first, logits,
               logits + CHUNK * I->n_vocab);
        for (int64_t t = first; t < T; t++) emit(user, p0 + t, logits + (t - first) * I->n_vocab);
    }
    return SPEX_OK;
}

static int run_seq(spex_llm *m, const int32_t *seq, int64_t n_run, int64_t want_from, int reuse,
                   emit_fn emit, void *user) {
    return run_seq_ex(m, seq, n_run, want_from, reuse, 0, emit, user);
}

typedef struct emit_state {
    const spex_llm *m;
    const int32_t *seq;
    int64_t from;
    double *lp;   /* next_logprobs: n_vocab; token_logprobs: per position */
    double sum;
} emit_state;

static void emit_full(void *user, int64_t p, const float *logits) {
    emit_state *s = user;
    (void)p;
    log_softmax(logits, s->m->info.n_vocab, s->lp);
}

static void emit_token(void *user, int64_t p, const float *logits) {
    emit_state *s = user;
    double lp = logprob_of(logits, s->m->info.n_vocab, s->seq[p + 1]);
    if (s->lp) s->lp[p + 1 - s->from] = lp;
    s->sum += lp;
}

int spex_llm_next_logprobs(spex_llm *m, const int32_t *tokens, int64_t n, double *logprobs) {
    emit_state s = {m, tokens, 0, logprobs, 0};
    return run_seq(m, tokens, n, n - 1, 1, emit_full, &s);
}

int spex_llm_token_logprobs(spex_llm *m, const int32_t *tokens, int64_t n, int64_t from,
                            double *token_logprobs) {
    if (from < 1 || from >= n)
        return spex_seterr(m->ctx, SPEX_E_INVAL, "token_logprobs: from = %lld with %lld tokens",
                           (long long)from, (long long)n);
    emit_state s = {m, tokens, from, token_logprobs, 0};
    return run_seq(m, tokens, n - 1, from - 1, 1, emit_token, &s);
}

/* ----------------------------------------------------------- ablation -- */

int64_t spex_llm_head_dim(const spex_llm *m) { return m->head_dim; }

/* Copies n floats of src into *dst (allocated on first use), or frees *dst
 * when src is NULL; SPEX_E_VALUE for a non-finite value. */
static int copy_values(spex_llm *m, const float *src, int64_t n, float **dst, const char *what) {
    if (!src) {
        spex_free(m->ctx, *dst);
        *dst = NULL;
        return SPEX_OK;
    }
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(src[i]))
            return spex_seterr(m->ctx, SPEX_E_VALUE, "ablation: %s value %lld is not finite",
                               what, (long long)i);
    if (!*dst && !(*dst = spex_malloc(m->ctx, (size_t)n * sizeof(float)))) return SPEX_E_NOMEM;
    memcpy(*dst, src, (size_t)n * sizeof(float));
    return SPEX_OK;
}

int spex_llm_set_ablation(spex_llm *m, const spex_llm_ablation *a) {
    int64_t L = m->info.n_layers, H = m->info.n_heads, D = m->info.dim;
    m->n_cached = 0; /* cached keys and values belong to the old ablation */
    m->abl_on = 0;
    if (!a) return SPEX_OK;
    if (!m->abl_heads) {
        m->abl_heads = spex_calloc(m->ctx, (size_t)(L * H), 1);
        m->abl_mlps = spex_calloc(m->ctx, (size_t)L, 1);
        if (!m->abl_heads || !m->abl_mlps) return SPEX_E_NOMEM;
    }
    int rc = copy_values(m, a->head_values, L * D, &m->abl_head_val, "head");
    if (!rc) rc = copy_values(m, a->mlp_values, L * D, &m->abl_mlp_val, "MLP");
    if (rc) return rc;
    for (int64_t i = 0; i < L * H; i++) {
        m->abl_heads[i] = a->heads && a->heads[i];
        m->abl_on |= m->abl_heads[i];
    }
    for (int64_t l = 0; l < L; l++) {
        m->abl_mlps[l] = a->mlps && a->mlps[l];
        m->abl_on |= m->abl_mlps[l];
    }
    return SPEX_OK;
}

static void emit_none(void *user, int64_t p, const float *logits) {
    (void)user, (void)p, (void)logits;
}

int spex_llm_component_means(spex_llm *m, int64_t n, const int32_t *const *seqs,
                             const int64_t *lens, float *head_means, float *mlp_means) {
    int64_t L = m->info.n_layers, D = m->info.dim, count = 0;
    double *sums = spex_calloc(m->ctx, (size_t)(2 * L * D), sizeof *sums);
    if (!sums) return SPEX_E_NOMEM;
    int saved = m->abl_on, rc = SPEX_OK;
    m->abl_on = 0;
    m->sum_head = sums;
    m->sum_mlp = sums + L * D;
    /* no prefix reuse: every position of every sequence is processed once */
    for (int64_t i = 0; i < n && !rc; i++) {
        m->n_cached = 0;
        rc = run_seq(m, seqs[i], lens[i], lens[i], 0, emit_none, NULL);
        if (rc) spex_errprefix(m->ctx, "reference sequence %lld", (long long)i);
        count += lens[i];
    }
    m->sum_head = m->sum_mlp = NULL;
    m->abl_on = saved;
    m->n_cached = 0; /* the cache holds unablated keys and values */
    if (!rc && count == 0)
        rc = spex_seterr(m->ctx, SPEX_E_INVAL, "component means: no reference tokens");
    for (int64_t i = 0; !rc && i < L * D; i++) {
        if (head_means) head_means[i] = (float)(sums[i] / (double)count);
        if (mlp_means) mlp_means[i] = (float)(sums[L * D + i] / (double)count);
    }
    spex_free(m->ctx, sums);
    return rc;
}

/* sort key of a batch entry: its tokens, then its index */
typedef struct seq_key {
    const int32_t *seq;
    int64_t len, idx;
} seq_key;

static int cmp_seq_key(const void *a, const void *b) {
    const seq_key *x = a, *y = b;
    for (int64_t k = 0; k < x->len && k < y->len; k++)
        if (x->seq[k] != y->seq[k]) return x->seq[k] < y->seq[k] ? -1 : 1;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Positions whose logits are still to be computed, up to CHUNK of them
 * across sequences: each weight row of the output matrix (often the largest
 * matrix of a small model) is then read once for many scored tokens. */
typedef struct pending {
    spex_llm *m;
    float *rows;          /* (CHUNK, dim) final hidden states */
    int32_t tok[CHUNK];   /* the token each row scores */
    int64_t owner[CHUNK]; /* ... for out[owner] */
    int n;
    const int32_t *seq;   /* the sequence being run, and its index */
    int64_t idx;
    double *out;
} pending;

/* Logits of the pending rows, their log-probabilities added to out[] in
 * the order the rows came (the sum of each sequence runs in position order,
 * whatever the batching: the kernels give a row the same bits wherever it
 * sits in the block). */
static void flush_pending(pending *pd) {
    if (!pd->n) return;
    spex_llm *m = pd->m;
    const spex_llm_info *I = &m->info;
    float *logits = m->scratch + 4 * CHUNK * I->dim + 2 * CHUNK * m->kv_dim +
                    2 * CHUNK * I->ffn_dim;
    matmul(m, &m->output, pd->rows, pd->n, logits, logits + CHUNK * I->n_vocab);
    for (int r = 0; r < pd->n; r++)
        pd->out[pd->owner[r]] += logprob_of(logits + r * I->n_vocab, I->n_vocab, pd->tok[r]);
    pd->n = 0;
}

static void emit_pending(void *user, int64_t p, const float *h) {
    pending *pd = user;
    int64_t D = pd->m->info.dim;
    memcpy(pd->rows + pd->n * D, h, (size_t)D * sizeof(float));
    pd->tok[pd->n] = pd->seq[p + 1];
    pd->owner[pd->n] = pd->idx;
    if (++pd->n == CHUNK) flush_pending(pd);
}

/* The batch scorers: sequences in token order when reuse_prefix and no
 * ablations (neighbours share the longest prefixes: a depth-first walk of
 * their prefix tree), else in the given order, each under ablation abl[i]
 * (NULL: none) and reusing the cache of its predecessor when it has the
 * same ablation. */
static int score_batch(spex_llm *m, int64_t n, const int32_t *const *seqs, const int64_t *lens,
                       const int64_t *from, int reuse_prefix,
                       const spex_llm_ablation *const *abl, double *out) {
    for (int64_t i = 0; i < n; i++)
        if (from[i] < 1 || from[i] >= lens[i])
            return spex_seterr(m->ctx, SPEX_E_INVAL,
                               "score batch: sequence %lld: prompt of %lld tokens in %lld",
                               (long long)i, (long long)from[i], (long long)lens[i]);
    seq_key *keys = NULL;
    if (reuse_prefix && !abl && n > 2) {
        keys = spex_malloc(m->ctx, (size_t)n * sizeof *keys);
        if (!keys) return SPEX_E_NOMEM;
        for (int64_t i = 0; i < n; i++) keys[i] = (seq_key){seqs[i], lens[i], i};
        qsort(keys, (size_t)n, sizeof *keys, cmp_seq_key);
    }
    pending pd = {.m = m, .out = out};
    pd.rows = spex_malloc(m->ctx, (size_t)(CHUNK * m->info.dim) * sizeof(float));
    int rc = pd.rows ? SPEX_OK : SPEX_E_NOMEM;
    for (int64_t i = 0; i < n; i++) out[i] = 0;
    const spex_llm_ablation *cur = NULL;
    for (int64_t j = 0; !rc && j < n; j++) {
        int64_t i = keys ? keys[j].idx : j;
        int reuse = reuse_prefix;
        if (abl && (j == 0 || abl[i] != cur)) {
            cur = abl[i];
            rc = spex_llm_set_ablation(m, cur);
            reuse = 0;
            if (rc) break;
        }
        pd.seq = seqs[i];
        pd.idx = i;
        rc = run_seq_ex(m, seqs[i], lens[i] - 1, from[i] - 1, reuse, 1, emit_pending, &pd);
        if (rc) spex_errprefix(m->ctx, "sequence %lld", (long long)i);
    }
    if (!rc) flush_pending(&pd);
    if (abl) {
        int rc2 = spex_llm_set_ablation(m, NULL);
        if (!rc) rc = rc2;
    }
    spex_free(m->ctx, pd.rows);
    spex_free(m->ctx, keys);
    return rc;
}

int spex_llm_score_tokens_batch(spex_llm *m, int64_t n, const int32_t *const *seqs,
                                const int64_t *lens, const int64_t *from, int reuse_prefix,
                                double *out) {
    return score_batch(m, n, seqs, lens, from, reuse_prefix, NULL, out);
}

int spex_llm_score_ablated_batch(spex_llm *m, int64_t n, const int32_t *const *seqs,
                                 const int64_t *lens, const int64_t *from,
                                 const spex_llm_ablation *const *abl, double *out) {
    return score_batch(m, n, seqs, lens, from, 1, abl, out);
}

int spex_llm_tokenize(spex_llm *m, const char *text, size_t len, int add_bos, int32_t **tokens,
                      int64_t *n_tokens) {
    return spexi_vocab_tokenize(m->ctx, &m->vocab, text, len, add_bos, tokens, n_tokens);
}

int spex_llm_token_piece(const spex_llm *m, int32_t token, const char **piece, size_t *len) {
    if (spexi_vocab_piece(&m->vocab, token, piece, len))
        return spex_seterr(m->ctx, SPEX_E_RANGE, "token %d is not in the vocabulary (%lld)", token,
                           (long long)m->vocab.n);
    return SPEX_OK;
}

int spex_llm_detokenize(spex_llm *m, const int32_t *tokens, int64_t n, int strip_space_prefix,
                        char **text) {
    size_t total = 0, len;
    const char *p;
    *text = NULL;
    for (int64_t i = 0; i < n; i++) {
        int rc = spex_llm_token_piece(m, tokens[i], &p, &len);
        if (rc) return rc;
        total += len;
    }
    char *s = spex_malloc(m->ctx, total + 1), *o = s;
    if (!s) return SPEX_E_NOMEM;
    int first = 1;
    for (int64_t i = 0; i < n; i++) {
        spex_llm_token_piece(m, tokens[i], &p, &len);
        if (first && len && strip_space_prefix && m->vocab.add_space_prefix && p[0] == ' ') {
            p++;
            len--;
        }
        if (len) first = 0;
        memcpy(o, p, len);
        o += len;
    }
    *o = 0;
    *text = s;
    return SPEX_OK;
}

void spex_llm_score_result_clear(spex_llm *m, spex_llm_score_result *r) {
    spex_free(m->ctx, r->prompt_tokens);
    spex_free(m->ctx, r->continuation_tokens);
    spex_free(m->ctx, r->token_logprobs);
    memset(r, 0, sizeof *r);
}

int spex_llm_score(spex_llm *m, const char *prompt, const char *continuation,
                   spex_llm_score_result *out) {
    memset(out, 0, sizeof *out);
    size_t lp = strlen(prompt), lc = strlen(continuation);
    char *joint = spex_malloc(m->ctx, lp + lc + 1);
    int32_t *all = NULL;
    int64_t n_all = 0;
    int rc;
    if (!joint) return SPEX_E_NOMEM;
    memcpy(joint, prompt, lp);
    memcpy(joint + lp, continuation, lc + 1);
    if ((rc = spex_llm_tokenize(m, prompt, lp, 1, &out->prompt_tokens, &out->n_prompt)) ||
        (rc = spex_llm_tokenize(m, joint, lp + lc, 1, &all, &n_all)))
        goto done;
    if (n_all <= out->n_prompt ||
        memcmp(all, out->prompt_tokens, (size_t)out->n_prompt * sizeof *all)) {
        rc = spex_seterr(m->ctx, SPEX_E_INVAL,
                         "the continuation adds no token, or the prompt's %lld tokens are not a "
                         "prefix of the joint tokenization (%lld tokens)",
                         (long long)out->n_prompt, (long long)n_all);
        goto done;
    }
    if (out->n_prompt < 1) {
        rc = spex_seterr(m->ctx, SPEX_E_INVAL, "empty prompt and no BOS token to condition on");
        goto done;
    }
    out->n_continuation = n_all - out->n_prompt;
    out->continuation_tokens = spex_malloc(m->ctx, (size_t)out->n_continuation * sizeof(int32_t));
    out->token_logprobs = spex_malloc(m->ctx, (size_t)out->n_continuation * sizeof(double));
    if (!out->continuation_tokens || !out->token_logprobs) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    memcpy(out->continuation_tokens, all + out->n_prompt,
           (size_t)out->n_continuation * sizeof(int32_t));
    if ((rc = spex_llm_token_logprobs(m, all, n_all, out->n_prompt, out->token_logprobs)))
        goto done;
    out->logprob = 0;
    for (int64_t i = 0; i < out->n_continuation; i++) out->logprob += out->token_logprobs[i];
done:
    spex_free(m->ctx, joint);
    spex_free(m->ctx, all);
    if (rc) spex_llm_score_result_clear(m, out);
    return rc;
}

int spex_llm_score_batch(spex_llm *m, int64_t n, const char *const *prompts,
                         const char *const *continuations, int reuse_prefix, double *out) {
    if (n <= 0) return SPEX_OK;
    int32_t **seqs = spex_calloc(m->ctx, (size_t)n, sizeof *seqs);
    int64_t *lens = spex_calloc(m->ctx, (size_t)n, sizeof *lens);
    int64_t *from = spex_calloc(m->ctx, (size_t)n, sizeof *from);
    int rc = seqs && lens && from ? SPEX_OK : SPEX_E_NOMEM;
    for (int64_t i = 0; i < n && !rc; i++) {
        size_t lp = strlen(prompts[i]), lc = strlen(continuations[i]);
        char *joint = spex_malloc(m->ctx, lp + lc + 1);
        int32_t *pt = NULL;
        rc = joint ? SPEX_OK : SPEX_E_NOMEM;
        if (!rc) {
            memcpy(joint, prompts[i], lp);
            memcpy(joint + lp, continuations[i], lc + 1);
            rc = spex_llm_tokenize(m, prompts[i], lp, 1, &pt, &from[i]);
        }
        if (!rc) rc = spex_llm_tokenize(m, joint, lp + lc, 1, &seqs[i], &lens[i]);
        if (!rc && (from[i] < 1 || lens[i] <= from[i] ||
                    memcmp(seqs[i], pt, (size_t)from[i] * sizeof *pt)))
            rc = spex_seterr(m->ctx, SPEX_E_INVAL,
                             "pair %lld: the continuation adds no token, or the prompt's %lld "
                             "tokens are not a prefix of the joint tokenization (%lld tokens)",
                             (long long)i, (long long)from[i], (long long)lens[i]);
        spex_free(m->ctx, joint);
        spex_free(m->ctx, pt);
    }
    if (!rc)
        rc = spex_llm_score_tokens_batch(m, n, (const int32_t *const *)seqs, lens, from,
                                         reuse_prefix, out);
    for (int64_t i = 0; seqs && i < n; i++) spex_free(m->ctx, seqs[i]);
    spex_free(m->ctx, seqs);
    spex_free(m->ctx, lens);
    spex_free(m->ctx, from);
    return rc;
}

typedef struct argmax_state {
    int64_t n_vocab;
    int32_t best;
} argmax_state;

static void emit_argmax(void *user, int64_t p, const float *logits) {
    argmax_state *s = user;
    (void)p;
    int32_t b = 0;
    for (int64_t i = 1; i < s->n_vocab; i++)
        if (logits[i] > logits[b]) b = (int32_t)i;
    s->best = b;
}

int spex_llm_generate(spex_llm *m, const int32_t *tokens, int64_t n, int64_t n_new, int32_t **out,
                      int64_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (n < 1 || n_new < 0 || n_new > m->info.n_ctx - n)
        return spex_seterr(m->ctx, SPEX_E_RANGE,
                           "generate: %lld prompt tokens + %lld new exceed the context (%lld)",
                           (long long)n, (long long)n_new, (long long)m->info.n_ctx);
    int32_t *seq = spex_malloc(m->ctx, (size_t)(n + n_new) * sizeof(int32_t));
    if (!seq) return SPEX_E_NOMEM;
    memcpy(seq, tokens, (size_t)n * sizeof(int32_t));
    int64_t len = n;
    int rc = SPEX_OK;
    while (len < n + n_new) {
        argmax_state s = {m->info.n_vocab, 0};
        if ((rc = run_seq(m, seq, len, len - 1, 1, emit_argmax, &s))) break;
        seq[len++] = s.best;
        if (s.best == m->vocab.eos) break;
    }
    if (rc) {
        spex_free(m->ctx, seq);
        return rc;
    }
    memmove(seq, seq + n, (size_t)(len - n) * sizeof(int32_t));
    *out = seq;
    *n_out = len - n;
    return SPEX_OK;
}
