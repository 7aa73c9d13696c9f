/*
 * The matrix product on quantised weights with int8 activations, as
 * llama.cpp computes it on CPUs with AVX-512 VNNI: out (T, n_out) = x (T,
 * n_in) . W^T where W is Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K or Q5_K (every
 * type whose scales apply to 32 consecutive weights). matmul.c sends those
 * types here when the CPU has VNNI and the model is not in reference mode
 * (spex_llm.int8); the others keep the float kernels.
 *
 * HOW IT WORKS
 * 1. Activations: each position's row is cut into blocks of 32, each block
 *    rounded to int8 with its own scale dx = max|x| / 127 (llama.cpp's
 *    Q8_0 activations): xq = round(x / dx). That rounding is the only
 *    approximation; everything after it is exact integer arithmetic plus
 *    one float update per block.
 * 2. Weights, a tile of 16 rows at a time (threads take tiles): each 32-
 *    weight block of the 16 rows is unpacked to unsigned integers q (0..255)
 *    with w = scale * (q - zero) - min, and laid out "lanes = rows": 8
 *    vectors of 64 bytes, vector g holding weights 4g..4g+3 of each of the
 *    16 rows, then the 16 scales and the 16 mins. The tile (20 bytes per
 *    weight) stays in L1/L2 while every position of the chunk passes.
 * 3. Per block and position: 8 vpdpbusd (u8 weights x s8 activations,
 *    broadcast 4 at a time) sum the block's 32 products for the 16 rows at
 *    once in int32 lanes, started at -zero * sum(xq) so the zero point
 *    comes out exactly; then acc += float(isum) * (scale * dx) and, for
 *    types with a min, acc -= min * (dx * sum(xq)). The 16 lanes are 16
 *    outputs: no horizontal sums.
 * Every output is the same sequence of operations whatever the tile, the
 * thread and the other positions of the chunk, so results are
 * bit-identical for any thread count and any position of a row in a batch,
 * as the float kernels' are.
 */
#include "llm/model_int.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SPEX_HAVE_X86 1
#endif

enum {
    Q8_ROWS = 16,                /* rows of a tile: the lanes of a vector */
    Q8_BLK = 32,                 /* weights per block */
    Q8_BLK_BYTES = 8 * 64 + 128, /* a tile's block: 8 vectors, 16 scales, 16 mins */
    Q8_MT = 8                    /* positions per kernel call */
};

/* One 32-weight block of a row unpacked: w[l] = scale * (q[l] - zero) - min. */
typedef struct q8_block {
    uint8_t q[Q8_BLK];
    float scale, min;
} q8_block;

static float half_at(const uint8_t *p) {
    return spexi_f16_to_f32((uint16_t)(p[0] | p[1] << 8));
}

/* The zero point of a type's unpacked integers (0: its offset is a min). */
static int type_zero(int type) {
    switch (type) {
    case SPEX_TENSOR_Q8_0:
        return 128;
    case SPEX_TENSOR_Q4_0:
        return 8;
    case SPEX_TENSOR_Q5_0:
        return 16;
    default:
        return 0;
    }
}

int spexi_q8_type(int type) {
    switch (type) {
    case SPEX_TENSOR_Q8_0:
    case SPEX_TENSOR_Q4_0:
    case SPEX_TENSOR_Q4_1:
    case SPEX_TENSOR_Q5_0:
    case SPEX_TENSOR_Q5_1:
    case SPEX_TENSOR_Q4_K:
    case SPEX_TENSOR_Q5_K:
        return 1;
    default:
        return 0;
    }
}

/* The 8 6-bit (scale, min) pairs of Q4_K/Q5_K packed in 12 bytes (the
 * layout quant.c documents). */
static void scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 15) | (q[j - 4] >> 6) << 4;
        *m = (q[j + 4] >> 4) | (q[j] >> 6) << 4;
    }
}

/* Block k (of 32 weights) of a row of type: the layouts of quant.c. */
static void unpack_block(int type, const uint8_t *row, int64_t k, q8_block *o) {
    o->min = 0;
    switch (type) {
    case SPEX_TENSOR_Q8_0: {
        const uint8_t *b = row + 34 * k;
        o->scale = half_at(b);
        for (int l = 0; l < 32; l++)
            o->q[l] = (uint8_t)(b[2 + l] ^ 0x80); /* int8 + 128 */
        return;
    }
    case SPEX_TENSOR_Q4_0:
    case SPEX_TENSOR_Q4_1: {
        int m1 = type == SPEX_TENSOR_Q4_1;
        const uint8_t *b = row + (m1 ? 20 : 18) * k, *qs = b + (m1 ? 4 : 2);
        o->scale = half_at(b);
        if (m1) o->min = -half_at(b + 2);
        for (int l = 0; l < 16; l++) {
            o->q[l] = qs[l] & 15;
            o->q[l + 16] = qs[l] >> 4;
        }
        return;
    }
    case SPEX_TENSOR_Q5_0:
    case SPEX_TENSOR_Q5_1: {
        int m1 = type == SPEX_TENSOR_Q5_1;
        const uint8_t *b = row + (m1 ? 24 : 22) * k, *qhp = b + (m1 ? 4 : 2), *qs = qhp + 4;
        o->scale = half_at(b);
        if (m1) o->min = -half_at(b + 2);
        uint32_t qh = (uint32_t)qhp[0] | (uint32_t)qhp[1] << 8 | (uint32_t)qhp[2] << 16 |
                      (uint32_t)qhp[3] << 24;
        for (int l = 0; l < 16; l++) {
            o->q[l] = (uint8_t)((qs[l] & 15) | ((qh >> l) & 1) << 4);
            o->q[l + 16] = (uint8_t)((qs[l] >> 4) | ((qh >> (l + 16)) & 1) << 4);
        }
        return;
    }
    default: { /* Q4_K, Q5_K: block k is sub-block k % 8 of super-block k / 8 */
        int five = type == SPEX_TENSOR_Q5_K;
        const uint8_t *b = row + (five ? 176 : 144) * (k / 8);
        const uint8_t *sc = b + 4, *qh = b + 16, *qs = b + (five ? 48 : 16);
        int j = (int)(k % 8), c = j / 2, h = j % 2, s, m;
        scale_min_k4(j, sc, &s, &m);
        o->scale = half_at(b) * (float)s;
        o->min = half_at(b + 2) * (float)m;
        for (int l = 0; l < 32; l++) {
            int q = h ? qs[32 * c + l] >> 4 : qs[32 * c + l] & 15;
            if (five && (qh[l] >> j & 1)) q += 16;
            o->q[l] = (uint8_t)q;
        }
        return;
    }
    }
}

/* Rows [0, n_r) of a tile (n_r <= 16; missing rows are zeros) into the
 * lanes = rows layout of the header. */
static void repack_tile(int type, const uint8_t *src, size_t row_size, int n_r, int64_t nb,
                        uint8_t *tile) {
    for (int64_t k = 0; k < nb; k++) {
        uint8_t *t = tile + k * Q8_BLK_BYTES;
        float sc[Q8_ROWS] = {0}, mn[Q8_ROWS] = {0};
        if (n_r < Q8_ROWS) memset(t, 0, 8 * 64);
        for (int r = 0; r < n_r; r++) {
            q8_block b;
            unpack_block(type, src + (size_t)r * row_size, k, &b);
            for (int g = 0; g < 8; g++)
                memcpy(t + 64 * g + 4 * r, b.q + 4 * g, 4);
            sc[r] = b.scale;
            mn[r] = b.min;
        }
        memcpy(t + 512, sc, sizeof sc);
        memcpy(t + 576, mn, sizeof mn);
    }
}

/* Position rows of x cut into int8 blocks: xq (T, n_in), and per block
 * dx (the scale) and sx = dx * sum(xq); si = sum(xq). */
typedef struct q8_acts {
    int8_t *xq;
    float *dx, *sx;
    int32_t *si;
} q8_acts;

static void quantise_acts(const float *x, int64_t T, int64_t n_in, const q8_acts *a) {
    int64_t nb = n_in / Q8_BLK;
    for (int64_t t = 0; t < T; t++)
        for (int64_t k = 0; k < nb; k++) {
            const float *v = x + t * n_in + k * Q8_BLK;
            float amax = 0;
            for (int l = 0; l < Q8_BLK; l++)
                amax = fabsf(v[l]) > amax ? fabsf(v[l]) : amax;
            float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
            int8_t *q = a->xq + t * n_in + k * Q8_BLK;
            int32_t s = 0;
            for (int l = 0; l < Q8_BLK; l++) {
                q[l] = (int8_t)lrintf(v[l] * id);
                s += q[l];
            }
            a->dx[t * nb + k] = d;
            a->si[t * nb + k] = s;
            a->sx[t * nb + k] = d * (float)s;
        }
}

int64_t spexi_matmul_q8_floats(int64_t max_in) {
    /* a tile (Q8_BLK_BYTES per block), and a share of the activations of a
     * chunk, which each thread's region can hold whole: each position takes
     * n_in bytes and 12 bytes per block */
    int64_t nb = max_in / Q8_BLK;
    return (nb * Q8_BLK_BYTES + SPEXI_CHUNK * (max_in + 12 * nb) + 64) / 4 + 16;
}

#ifdef SPEX_HAVE_X86
int spexi_q8_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
}

#define Q8_TGT "avx512f,avx512bw,avx512vnni"

/* NT positions (x rows t < NT) against one tile: the header's step 3. */
__attribute__((target(Q8_TGT), always_inline)) static inline void
q8_body(const uint8_t *tile, int64_t nb, int zero, int has_min, const q8_acts *a, int64_t t0,
        int64_t n_in, int NT, float *out, int64_t ldo, __mmask16 keep) {
    __m512 acc[Q8_MT];
    _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t k = 0; k < nb; k++) {
        const uint8_t *blk = tile + k * Q8_BLK_BYTES;
        __m512i is[Q8_MT];
        _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) is[t] =
            _mm512_set1_epi32(-zero * a->si[(t0 + t) * nb + k]);
        const int8_t *xk = a->xq + t0 * n_in + k * Q8_BLK;
        _Pragma("GCC unroll 8") for (int g = 0; g < 8; g++) {
            __m512i wv = _mm512_loadu_si512((const void *)(blk + 64 * g));
            _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {
                int32_t x4;
                memcpy(&x4, xk + t * n_in + 4 * g, 4);
                is[t] = _mm512_dpbusd_epi32(is[t], wv, _mm512_set1_epi32(x4));
            }
        }
        __m512 sc = _mm512_loadu_ps((const float *)(const void *)(blk + 512));
        _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) acc[t] =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[t]),
                            _mm512_mul_ps(sc, _mm512_set1_ps(a->dx[(t0 + t) * nb + k])), acc[t]);
        if (has_min) {
            __m512 mn = _mm512_loadu_ps((const float *)(const void *)(blk + 576));
            _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) acc[t] =
                _mm512_fnmadd_ps(mn, _mm512_set1_ps(a->sx[(t0 + t) * nb + k]), acc[t]);
        }
    }
    _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++)
        _mm512_mask_storeu_ps(out + t * ldo, keep, acc[t]);
}

#define Q8_CASE(N)                                                                                 \
    case N:                                                                                        \
        q8_body(tile, nb, zero, has_min, a, t0, n_in, N, out, ldo, keep);                          \
        break

__attribute__((target(Q8_TGT))) static void q8_kernel(const uint8_t *tile, int64_t nb, int zero,
                                                      int has_min, const q8_acts *a, int64_t t0,
                                                      int64_t n_in, int nt, float *out, int64_t ldo,
                                                      __mmask16 keep) {
    switch (nt) {
        Q8_CASE(8);
        Q8_CASE(7);
        Q8_CASE(6);
        Q8_CASE(5);
        Q8_CASE(4);
        Q8_CASE(3);
        Q8_CASE(2);
        Q8_CASE(1);
    default:
        break;
    }
}

void spexi_matmul_q8(const spex_llm *m, const spexi_wmat *w, const float *x, int64_t T, float *out,
                     float *rows) {
    int nt = spexi_n_threads(m);
    int64_t n_in = w->n_in, n_out = w->n_out, nb = n_in / Q8_BLK;
    int64_t n_tiles = (n_out + Q8_ROWS - 1) / Q8_ROWS;
    int zero = type_zero(w->type), has_min = !zero;
    size_t tile_bytes = (size_t)nb * Q8_BLK_BYTES;
    /* the threads' tiles first, then the activations of a chunk (this
     * call's n_in <= the max_in the scratch was sized for) */
    uint8_t *act = (uint8_t *)rows + (size_t)nt * tile_bytes;
    q8_acts a;
    a.xq = (int8_t *)act;
    a.dx = (float *)(void *)(act + ((size_t)SPEXI_CHUNK * (size_t)n_in + 15) / 16 * 16);
    a.sx = a.dx + SPEXI_CHUNK * nb;
    a.si = (int32_t *)(a.sx + SPEXI_CHUNK * nb);
    int par = nt > 1 && (double)n_out * (double)n_in * (double)T >= 262144.0;
    for (int64_t c0 = 0; c0 < T; c0 += SPEXI_CHUNK) {
        int64_t tc = T - c0 < SPEXI_CHUNK ? T - c0 : SPEXI_CHUNK;
        quantise_acts(x + c0 * n_in, tc, n_in, &a);
        float *oc = out + c0 * n_out;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (par)
        for (int64_t u = 0; u < n_tiles; u++) {
            int64_t r0 = u * Q8_ROWS;
            int n_r = n_out - r0 < Q8_ROWS ? (int)(n_out - r0) : Q8_ROWS;
            uint8_t *tile = (uint8_t *)rows + (size_t)omp_get_thread_num() * tile_bytes;
            repack_tile(w->type, w->data + (size_t)r0 * w->row_size, w->row_size, n_r, nb, tile);
            __mmask16 keep = (__mmask16)((1u << n_r) - 1);
            for (int64_t t = 0; t < tc; t += Q8_MT) {
                int n_t = tc - t < Q8_MT ? (int)(tc - t) : Q8_MT;
                q8_kernel(tile, nb, zero, has_min, &a, t, n_in, n_t, oc + t * n_out + r0, n_out,
                          keep);
            }
        }
    }
}
#else
int spexi_q8_supported(void) {
    return 0;
}
void spexi_matmul_q8(const spex_llm *m, const spexi_wmat *w, const float *x, int64_t T, float *out,
                     float *rows) {
    (void)m, (void)w, (void)x, (void)T, (void)out, (void)rows;
}
#endif
