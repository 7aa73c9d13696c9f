/*
 * The matrix product of the forward pass, out (T, n_out) = x (T, n_in) . W^T,
 * on a weight matrix W where it lies in the mapped GGUF file (F32 rows are
 * read in place, F16 and BF16 rows too by the vector kernels, which widen
 * them in registers; the quantised types are dequantised a tile of rows at a
 * time, never copied whole). forward.c and score.c call it for every weight
 * matrix.
 *
 * Kernel sets, chosen at load by the CPU (spex_llm.isa, spexi_isa_best):
 * AVX-512F (16 lanes), AVX2 + FMA (8 lanes), portable C; and the reference
 * (one row at a time, double accumulation, one thread), the test oracle
 * that the goldens are checked with.
 *
 * HOW IT WORKS (tiles)
 * Threads split the output rows in tiles of TILE_ROWS. A thread dequantises
 * its tile's rows (TILE_ROWS x n_in floats: at n_in = 5632 360 KiB, which
 * stays in L2) with the fast row dequantiser, then sweeps the chunk's
 * positions in groups of up to MK_T, and in each group the tile in groups of
 * up to MK_R rows: a micro-kernel keeps the MK_R x MK_T dot products in
 * vector registers, loading each weight slice once for MK_T positions and
 * each activation slice once for MK_R rows. So each weight is read from the
 * file once per chunk (not once per position) and from cache MK_T-fold
 * fewer times than a row-by-row product.
 * Every output is one lane-split sum over i = 0, 1, .., n_in - 1 (lanes
 * i mod L, added in a fixed order), whatever the group shapes, the tile and
 * the thread that computes it: results are bit-identical for any thread
 * count and any position of a row in a batch.
 */
#include "llm/model_int.h"

#include <omp.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SPEX_HAVE_X86 1
#endif

enum { TILE_ROWS = 16 };

/* A micro-kernel: out[t * ldo + r] = dot(w + r * n_in, x + t * n_in) for
 * r < nr <= MK_R, t < nt <= MK_T. */
typedef void (*mk_fn)(const void *w, int64_t n_in, int nr, const float *x, int nt, float *out,
                      int64_t ldo);

/* ------------------------------------------------------ portable -- */

static void mk_portable(const void *wv, int64_t n_in, int nr, const float *x, int nt, float *out,
                        int64_t ldo) {
    const float *w = wv;
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++)
            out[t * ldo + r] = spexi_dot_portable(w + r * n_in, x + t * n_in, n_in);
}

#ifdef SPEX_HAVE_X86
/* ------------------------------------------------- AVX2 and AVX-512 -- */

/* One micro-kernel body for both vector widths: (NR rows, NT positions) in
 * NR * NT accumulators of W lanes; the n_in mod W tail goes through masked
 * loads (zeros past the end), so every input passes through the lanes in
 * the same order whatever the shapes. The body is inlined into a switch
 * over the shapes (MK_CASES), so NR and NT are constants and the loops
 * unroll into registers. */
#define MK_BODY(NAME, TGT, VEC, W, MR, MT, MASK_T, MASK_OF, ZERO, LOAD, MLOAD, WT, WLOAD, WMLOAD,  \
                FMA, HSUM)                                                                         \
    __attribute__((target(TGT), always_inline)) static inline void NAME(                           \
        const WT *w, int64_t n_in, int NR, const float *x, int NT, float *out, int64_t ldo) {      \
        VEC acc[MR][MT];                                                                           \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                       \
            _Pragma("GCC unroll 4") for (int t = 0; t < NT; t++) acc[r][t] = ZERO();               \
        int64_t i = 0;                                                                             \
        for (; i + (W) <= n_in; i += (W)) {                                                        \
            VEC xv[MT];                                                                            \
            _Pragma("GCC unroll 4") for (int t = 0; t < NT; t++) xv[t] = LOAD(x + t * n_in + i);   \
            _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++) {                                 \
                VEC wv = WLOAD(w + r * n_in + i);                                                  \
                _Pragma("GCC unroll 4") for (int t = 0; t < NT; t++) acc[r][t] =                   \
                    FMA(wv, xv[t], acc[r][t]);                                                     \
            }                                                                                      \
        }                                                                                          \
        if (i < n_in) {                                                                            \
            MASK_T k = MASK_OF(n_in - i);                                                          \
            VEC xv[MT];                                                                            \
            _Pragma("GCC unroll 4") for (int t = 0; t < NT; t++) xv[t] =                           \
                MLOAD(k, x + t * n_in + i);                                                        \
            _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++) {                                 \
                VEC wv = WMLOAD(k, w + r * n_in + i);                                              \
                _Pragma("GCC unroll 4") for (int t = 0; t < NT; t++) acc[r][t] =                   \
                    FMA(wv, xv[t], acc[r][t]);                                                     \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < NR; r++)                                       \
            _Pragma("GCC unroll 4") for (int t = 0; t < NT; t++) out[t * ldo + r] =                \
                HSUM(acc[r][t]);                                                                   \
    }

/* The shapes a kernel takes: NR in 1..4 rows, NT in 1..T positions. */
#define MK_CASE(BODY, R, T)                                                                        \
    case R * 8 + T:                                                                                \
        BODY(w, n_in, R, x, T, out, ldo);                                                          \
        break;
#define MK_ROW3(BODY, R) MK_CASE(BODY, R, 1) MK_CASE(BODY, R, 2) MK_CASE(BODY, R, 3)
#define MK_ROW4(BODY, R) MK_ROW3(BODY, R) MK_CASE(BODY, R, 4)
#define MK_CASES(ROW, BODY) ROW(BODY, 4) ROW(BODY, 3) ROW(BODY, 2) ROW(BODY, 1)

/* A kernel set's entry for weights of element type WT: the shape switch,
 * behind the untyped signature of mk_fn. */
#define MK_DISPATCH(NAME, TGT, WT, ROW, BODY)                                                      \
    __attribute__((target(TGT))) static void NAME(                                                 \
        const void *wv, int64_t n_in, int nr, const float *x, int nt, float *out, int64_t ldo) {   \
        const WT *w = wv;                                                                          \
        switch (nr * 8 + nt) {                                                                     \
            MK_CASES(ROW, BODY)                                                                    \
        default:                                                                                   \
            break;                                                                                 \
        }                                                                                          \
    }

/* AVX2 + FMA: 8 lanes, 4 x 3 accumulators (12 of the 16 ymm registers). */
enum { MK2_R = 4, MK2_T = 3 };

__attribute__((target("avx2,fma"))) static inline __m256i mask8(int64_t left) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)left),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
__attribute__((target("avx2,fma"))) static inline __m256 mload8(__m256i k, const float *p) {
    return _mm256_maskload_ps(p, k);
}
__attribute__((target("avx2,fma"))) static inline float hsum8(__m256 s) {
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    lo = _mm_hadd_ps(lo, lo);
    lo = _mm_hadd_ps(lo, lo);
    return _mm_cvtss_f32(lo);
}
/* F16 and BF16 weights are widened in registers as they are loaded, so
 * they are multiplied where they lie, at half the bytes of an F32 copy; the
 * vector tail goes through a zero-padded copy. */
__attribute__((target("avx2,fma,f16c"))) static inline __m256 hload8(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
}
__attribute__((target("avx2,fma,f16c"))) static inline __m256 bload8(const uint16_t *p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
__attribute__((target("avx2,fma,f16c"))) static inline int left8(__m256i k) {
    return __builtin_popcount((unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(k)));
}
__attribute__((target("avx2,fma,f16c"))) static inline __m256 hmload8(__m256i k,
                                                                      const uint16_t *p) {
    uint16_t b[8] = {0};
    memcpy(b, p, sizeof *p * (size_t)left8(k));
    return hload8(b);
}
__attribute__((target("avx2,fma,f16c"))) static inline __m256 bmload8(__m256i k,
                                                                      const uint16_t *p) {
    uint16_t b[8] = {0};
    memcpy(b, p, sizeof *p * (size_t)left8(k));
    return bload8(b);
}
MK_BODY(mk2_body, "avx2,fma", __m256, 8, MK2_R, MK2_T, __m256i, mask8, _mm256_setzero_ps,
        _mm256_loadu_ps, mload8, float, _mm256_loadu_ps, mload8, _mm256_fmadd_ps, hsum8)
MK_BODY(mk2h_body, "avx2,fma,f16c", __m256, 8, MK2_R, MK2_T, __m256i, mask8, _mm256_setzero_ps,
        _mm256_loadu_ps, mload8, uint16_t, hload8, hmload8, _mm256_fmadd_ps, hsum8)
MK_BODY(mk2b_body, "avx2,fma,f16c", __m256, 8, MK2_R, MK2_T, __m256i, mask8, _mm256_setzero_ps,
        _mm256_loadu_ps, mload8, uint16_t, bload8, bmload8, _mm256_fmadd_ps, hsum8)
MK_DISPATCH(mk_avx2, "avx2,fma,f16c", float, MK_ROW3, mk2_body)
MK_DISPATCH(mk_avx2_f16, "avx2,fma,f16c", uint16_t, MK_ROW3, mk2h_body)
MK_DISPATCH(mk_avx2_bf16, "avx2,fma,f16c", uint16_t, MK_ROW3, mk2b_body)

/* AVX-512F: 16 lanes, 4 x 4 accumulators. */
enum { MK5_R = 4, MK5_T = 4 };

__attribute__((target("avx512f"))) static inline __mmask16 mask16(int64_t left) {
    return (__mmask16)((1u << left) - 1);
}
__attribute__((target("avx512f"))) static inline __m512 mload16(__mmask16 k, const float *p) {
    return _mm512_maskz_loadu_ps(k, p);
}
__attribute__((target("avx512f"))) static inline __m512 hload16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
}
__attribute__((target("avx512f"))) static inline __m512 bload16(const uint16_t *p) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}
__attribute__((target("avx512f"))) static inline __m512 hmload16(__mmask16 k, const uint16_t *p) {
    uint16_t b[16] = {0};
    memcpy(b, p, sizeof *p * (size_t)__builtin_popcount(k));
    return hload16(b);
}
__attribute__((target("avx512f"))) static inline __m512 bmload16(__mmask16 k, const uint16_t *p) {
    uint16_t b[16] = {0};
    memcpy(b, p, sizeof *p * (size_t)__builtin_popcount(k));
    return bload16(b);
}
MK_BODY(mk5_body, "avx512f", __m512, 16, MK5_R, MK5_T, __mmask16, mask16, _mm512_setzero_ps,
        _mm512_loadu_ps, mload16, float, _mm512_loadu_ps, mload16, _mm512_fmadd_ps,
        _mm512_reduce_add_ps)
MK_BODY(mk5h_body, "avx512f", __m512, 16, MK5_R, MK5_T, __mmask16, mask16, _mm512_setzero_ps,
        _mm512_loadu_ps, mload16, uint16_t, hload16, hmload16, _mm512_fmadd_ps,
        _mm512_reduce_add_ps)
MK_BODY(mk5b_body, "avx512f", __m512, 16, MK5_R, MK5_T, __mmask16, mask16, _mm512_setzero_ps,
        _mm512_loadu_ps, mload16, uint16_t, bload16, bmload16, _mm512_fmadd_ps,
        _mm512_reduce_add_ps)
MK_DISPATCH(mk_avx512, "avx512f", float, MK_ROW4, mk5_body)
MK_DISPATCH(mk_avx512_f16, "avx512f", uint16_t, MK_ROW4, mk5h_body)
MK_DISPATCH(mk_avx512_bf16, "avx512f", uint16_t, MK_ROW4, mk5b_body)
#endif

/* ------------------------------------------------------ selection -- */

int spexi_isa_best(void) {
#ifdef SPEX_HAVE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return SPEXI_ISA_AVX512;
    if (spexi_cpu_avx2_f16c()) return SPEXI_ISA_AVX2;
#endif
    return SPEXI_ISA_PORTABLE;
}

const char *spexi_isa_name(int isa) {
    static const char *const names[] = {"portable", "avx2", "avx512"};
    return isa >= 0 && isa <= SPEXI_ISA_AVX512 ? names[isa] : "?";
}

int spexi_set_isa(spex_llm *m, int isa) {
    if (isa < SPEXI_ISA_PORTABLE || isa > spexi_isa_best())
        return spex_seterr(m->ctx, SPEX_E_INVAL, "kernel set '%s' is not supported by this CPU",
                           spexi_isa_name(isa));
    m->isa = isa;
    return SPEX_OK;
}

/* ------------------------------------------------------- the product -- */

/* One row at a time, each dequantised by the reference dequantiser and
 * dotted with every position by m->dot (dot_ref on the reference path). */
static void matmul_rows(const spex_llm *m, const spexi_wmat *w, const float *x, int64_t T,
                        float *out, float *rows) {
    int64_t n_in = w->n_in, n_out = w->n_out;
    for (int64_t r = 0; r < n_out; r++) {
        const uint8_t *row = w->data + (size_t)r * w->row_size;
        const float *wr;
        if (w->type == SPEX_TENSOR_F32) {
            wr = (const float *)(const void *)row;
        } else {
            m->deq(w->type, row, n_in, rows);
            wr = rows;
        }
        for (int64_t t = 0; t < T; t++)
            out[t * n_out + r] = m->dot(x + t * n_in, wr, n_in);
    }
}

int64_t spexi_matmul_rows_floats(int64_t max_in) {
    int64_t f = TILE_ROWS * max_in, q = spexi_matmul_q8_floats(max_in);
    return f > q ? f : q;
}

void spexi_matmul(const spex_llm *m, const spexi_wmat *w, const float *x, int64_t T, float *out,
                  float *rows) {
    if (m->reference) {
        matmul_rows(m, w, x, T, out, rows);
        return;
    }
    if (m->int8 && spexi_q8_type(w->type)) {
        spexi_matmul_q8(m, w, x, T, out, rows);
        return;
    }
    int nt = spexi_n_threads(m);
    int64_t n_in = w->n_in, n_out = w->n_out, n_tiles = (n_out + TILE_ROWS - 1) / TILE_ROWS;
    mk_fn mk = mk_portable;
    int mk_r = 4, mk_t = 4;
    /* in place: the kernel reads the rows as they lie in the file (F32;
     * F16 and BF16 widened in registers); otherwise a tile is dequantised */
    int in_place = w->type == SPEX_TENSOR_F32;
    size_t esz = sizeof(float);
#ifdef SPEX_HAVE_X86
    if (m->isa == SPEXI_ISA_AVX512 || m->isa == SPEXI_ISA_AVX2) {
        int wide = m->isa == SPEXI_ISA_AVX512;
        mk_r = wide ? MK5_R : MK2_R;
        mk_t = wide ? MK5_T : MK2_T;
        mk = wide ? mk_avx512 : mk_avx2;
        if (w->type == SPEX_TENSOR_F16 || w->type == SPEX_TENSOR_BF16) {
            int h = w->type == SPEX_TENSOR_F16;
            mk = wide ? (h ? mk_avx512_f16 : mk_avx512_bf16) : (h ? mk_avx2_f16 : mk_avx2_bf16);
            in_place = 1;
            esz = sizeof(uint16_t);
        }
    }
#endif
    /* threads only pay off past ~2^18 multiply-adds per call */
    int par = nt > 1 && (double)n_out * (double)n_in * (double)T >= 262144.0;
    /* tiles are handed out as threads come free: on a loaded machine a
     * static split waits for the thread that shares its core */
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (par)
    for (int64_t u = 0; u < n_tiles; u++) {
        int64_t r0 = u * TILE_ROWS, n_r = n_out - r0 < TILE_ROWS ? n_out - r0 : TILE_ROWS;
        const uint8_t *src = w->data + (size_t)r0 * w->row_size;
        const uint8_t *wt = src;
        if (!in_place) {
            float *buf = rows + (size_t)omp_get_thread_num() * TILE_ROWS * (size_t)n_in;
            for (int64_t r = 0; r < n_r; r++)
                m->deq(w->type, src + (size_t)r * w->row_size, n_in, buf + r * n_in);
            wt = (const uint8_t *)buf;
        }
        /* the next tile's bytes are fetched a few lines per micro-kernel
         * call while this one computes, so its dequantiser does not wait
         * on memory (whichever thread takes it: the fetch lands in the
         * shared L3 at least). All at once would overflow the miss queue. */
        const char *pf = (const char *)(src + (size_t)n_r * w->row_size);
        size_t pf_n = u + 1 < n_tiles
                          ? (size_t)(n_out - r0 - n_r < TILE_ROWS ? n_out - r0 - n_r : TILE_ROWS) *
                                w->row_size
                          : 0;
        size_t n_calls = (size_t)((T + mk_t - 1) / mk_t) * (size_t)((n_r + mk_r - 1) / mk_r);
        size_t pf_step = (pf_n / 64 + n_calls - 1) / n_calls * 64, pf_o = 0;
        for (int64_t t = 0; t < T; t += mk_t) {
            int tn = T - t < mk_t ? (int)(T - t) : mk_t;
            for (int64_t r = 0; r < n_r; r += mk_r) {
                int rn = n_r - r < mk_r ? (int)(n_r - r) : mk_r;
                for (size_t e = pf_o + pf_step; pf_o < e && pf_o < pf_n; pf_o += 64)
                    __builtin_prefetch(pf + pf_o, 0, 2);
                mk(wt + (size_t)r * (size_t)n_in * (in_place ? esz : sizeof(float)), n_in, rn,
                   x + t * n_in, tn, out + t * n_out + r0 + r, n_out);
            }
        }
    }
}
