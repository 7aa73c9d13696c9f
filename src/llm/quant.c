/*
 * Dequantisation of GGUF tensor blocks to float: F16, BF16 and ggml's block
 * formats Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (32 elements per block) and the
 * K-quants Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (256 elements per super-block). The
 * forward pass (kernels.c) dequantises one weight row at a time through here.
 *
 * Block layouts (bytes, little-endian; d, m are IEEE halves):
 *   Q4_0  d, qs[16]            x[l] = d*((qs[l]&15)-8), x[l+16] = d*((qs[l]>>4)-8)
 *   Q4_1  d, m, qs[16]         x = d*q + m (same nibble order)
 *   Q5_0  d, qh[4], qs[16]     5th bit of x[l] is bit l of the u32 qh; q - 16
 *   Q5_1  d, m, qh[4], qs[16]  x = d*q + m
 *   Q8_0  d, qs[32] (int8)     x = d*q
 *   Q2_K  scales[16], qs[64], d, dmin
 *   Q3_K  hmask[32], qs[64], scales[12], d
 *   Q4_K  d, dmin, scales[12], qs[128]
 *   Q5_K  d, dmin, scales[12], qh[32], qs[128]
 *   Q6_K  ql[128], qh[64], scales[16] (int8), d
 * The K-quant layouts are explained at each function.
 */
#include "llm/llm_int.h"

#include <string.h>

float spexi_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 31, man = h & 1023, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {       /* subnormal: normalise */
            exp = 113; /* 127 - 15 + 1 */
            while (!(man & 1024)) {
                man <<= 1;
                exp--;
            }
            bits = sign | exp << 23 | (man & 1023) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | man << 13;
    } else {
        bits = sign | (exp + 112) << 23 | man << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float spexi_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float half(const uint8_t *p) {
    return spexi_f16_to_f32((uint16_t)(p[0] | p[1] << 8));
}

static void deq_q4_0(const uint8_t *b, float *y) {
    float d = half(b);
    const uint8_t *qs = b + 2;
    for (int l = 0; l < 16; l++) {
        y[l] = d * (float)((qs[l] & 15) - 8);
        y[l + 16] = d * (float)((qs[l] >> 4) - 8);
    }
}

static void deq_q4_1(const uint8_t *b, float *y) {
    float d = half(b), m = half(b + 2);
    const uint8_t *qs = b + 4;
    for (int l = 0; l < 16; l++) {
        y[l] = d * (float)(qs[l] & 15) + m;
        y[l + 16] = d * (float)(qs[l] >> 4) + m;
    }
}

static void deq_q5(const uint8_t *b, float *y, int has_min) {
    float d = half(b), m = has_min ? half(b + 2) : 0.0f;
    const uint8_t *qhp = b + (has_min ? 4 : 2), *qs = qhp + 4;
    uint32_t qh =
        (uint32_t)qhp[0] | (uint32_t)qhp[1] << 8 | (uint32_t)qhp[2] << 16 | (uint32_t)qhp[3] << 24;
    int off = has_min ? 0 : 16;
    for (int l = 0; l < 16; l++) {
        int lo = (qs[l] & 15) | (int)((qh >> l) & 1) << 4;
        int hi = (qs[l] >> 4) | (int)((qh >> (l + 16)) & 1) << 4;
        y[l] = d * (float)(lo - off) + m;
        y[l + 16] = d * (float)(hi - off) + m;
    }
}

static void deq_q8_0(const uint8_t *b, float *y) {
    float d = half(b);
    for (int l = 0; l < 32; l++)
        y[l] = d * (float)(int8_t)b[2 + l];
}

/* Q2_K: 16 sub-blocks of 16; scales[i] low nibble = scale, high = min (4
 * bits each, times d and dmin). Element e: half n = e/128, within it 2-bit
 * field j = (e%128)/32 of byte qs[32n + e%32]; sub-block 8n + 2j + (e%32)/16. */
static void deq_q2_k(const uint8_t *b, float *y) {
    const uint8_t *sc = b, *qs = b + 16;
    float d = half(b + 80), dmin = half(b + 82);
    for (int n = 0; n < 2; n++)
        for (int j = 0; j < 4; j++)
            for (int h = 0; h < 2; h++) {
                uint8_t s = sc[8 * n + 2 * j + h];
                float dl = d * (float)(s & 15), ml = dmin * (float)(s >> 4);
                for (int l = 0; l < 16; l++) {
                    int q = (qs[32 * n + 16 * h + l] >> (2 * j)) & 3;
                    y[128 * n + 32 * j + 16 * h + l] = dl * (float)q - ml;
                }
            }
}

/* Q3_K: as Q2_K's 2-bit layout plus a third bit from hmask (bit n*4+j of
 * hmask[e%32]; a clear bit subtracts 4); 16 signed 6-bit scales (minus 32):
 * low 4 bits in the nibbles of scales[0..8), high 2 bits in scales[8..12). */
static void deq_q3_k(const uint8_t *b, float *y) {
    const uint8_t *hm = b, *qs = b + 32, *sc = b + 96;
    float d = half(b + 108);
    int8_t s6[16];
    for (int i = 0; i < 16; i++) {
        int lo = i < 8 ? sc[i] & 15 : sc[i - 8] >> 4;
        int hi = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
        s6[i] = (int8_t)((lo | hi << 4) - 32);
    }
    for (int n = 0; n < 2; n++)
        for (int j = 0; j < 4; j++)
            for (int h = 0; h < 2; h++) {
                float dl = d * (float)s6[8 * n + 2 * j + h];
                for (int l = 0; l < 16; l++) {
                    int e = 16 * h + l;
                    int q = (qs[32 * n + e] >> (2 * j)) & 3;
                    if (!(hm[e] >> (4 * n + j) & 1)) q -= 4;
                    y[128 * n + 32 * j + e] = dl * (float)q;
                }
            }
}

/* The 8 6-bit (scale, min) pairs of Q4_K/Q5_K packed in 12 bytes. */
static void scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 15) | (q[j - 4] >> 6) << 4;
        *m = (q[j + 4] >> 4) | (q[j] >> 6) << 4;
    }
}

/* Q4_K / Q5_K: 4 chunks of 64; chunk c uses sub-blocks 2c (low nibbles of
 * qs[32c..32c+32)) and 2c+1 (high nibbles); Q5_K's 5th bit of element
 * 64c + 32h + l is bit 2c+h of qh[l]. x = d*sc*q - dmin*m. */
static void deq_q45_k(const uint8_t *b, float *y, int five) {
    float d = half(b), dmin = half(b + 2);
    const uint8_t *sc = b + 4, *qh = b + 16, *qs = b + (five ? 48 : 16);
    for (int c = 0; c < 4; c++)
        for (int h = 0; h < 2; h++) {
            int s, m;
            scale_min_k4(2 * c + h, sc, &s, &m);
            float dl = d * (float)s, ml = dmin * (float)m;
            for (int l = 0; l < 32; l++) {
                int q = h ? qs[32 * c + l] >> 4 : qs[32 * c + l] & 15;
                if (five && (qh[l] >> (2 * c + h) & 1)) q += 16;
                y[64 * c + 32 * h + l] = dl * (float)q - ml;
            }
        }
}

/* Q6_K: 2 halves of 128; in half n, element 32k + l (k < 4) has low 4 bits
 * from ql[64n + l + 32(k&1)] (low nibble for k < 2, high for k >= 2), high 2
 * bits from qh[32n + l] >> 2k, scale scales[8n + 2k + l/16]; x = d*s*(q-32). */
static void deq_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = half(b + 208);
    for (int n = 0; n < 2; n++)
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 32; l++) {
                uint8_t lowb = ql[64 * n + l + 32 * (k & 1)];
                int lo = k < 2 ? lowb & 15 : lowb >> 4;
                int hi = (qh[32 * n + l] >> (2 * k)) & 3;
                int q = (lo | hi << 4) - 32;
                y[128 * n + 32 * k + l] = d * (float)sc[8 * n + 2 * k + l / 16] * (float)q;
            }
}

int spex_tensor_to_f32(spex_ctx *ctx, int type, const void *src, int64_t n, float *dst) {
    int64_t be = spex_tensor_block_elems(type);
    size_t bs = spex_tensor_block_size(type);
    if (!be || n < 0 || n % be)
        return spex_seterr(ctx, SPEX_E_INVAL,
                           "dequantise: type %d with %lld elements (unknown type or partial block)",
                           type, (long long)n);
    const uint8_t *b = src;
    int64_t nb = n / be;
    for (int64_t i = 0; i < nb; i++, b += bs) {
        float *y = dst + i * be;
        switch (type) {
        case SPEX_TENSOR_F32:
            memcpy(y, b, 4);
            break;
        case SPEX_TENSOR_F16:
            *y = half(b);
            break;
        case SPEX_TENSOR_BF16:
            *y = spexi_bf16_to_f32((uint16_t)(b[0] | b[1] << 8));
            break;
        case SPEX_TENSOR_Q4_0:
            deq_q4_0(b, y);
            break;
        case SPEX_TENSOR_Q4_1:
            deq_q4_1(b, y);
            break;
        case SPEX_TENSOR_Q5_0:
            deq_q5(b, y, 0);
            break;
        case SPEX_TENSOR_Q5_1:
            deq_q5(b, y, 1);
            break;
        case SPEX_TENSOR_Q8_0:
            deq_q8_0(b, y);
            break;
        case SPEX_TENSOR_Q2_K:
            deq_q2_k(b, y);
            break;
        case SPEX_TENSOR_Q3_K:
            deq_q3_k(b, y);
            break;
        case SPEX_TENSOR_Q4_K:
            deq_q45_k(b, y, 0);
            break;
        case SPEX_TENSOR_Q5_K:
            deq_q45_k(b, y, 1);
            break;
        case SPEX_TENSOR_Q6_K:
            deq_q6_k(b, y);
            break;
        default:
            return spex_seterr(ctx, SPEX_E_INTERNAL, "dequantise: type %d", type);
        }
    }
    return SPEX_OK;
}

uint16_t spexi_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7FFFFFFFu;
    if (ax >= 0x7F800000u) return (uint16_t)(sign | 0x7C00u | (ax > 0x7F800000u ? 0x200u : 0));
    if (ax >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* rounds to infinity */
    if (ax < 0x38800000u) {                                   /* subnormal half or zero */
        if (ax < 0x33000000u) return (uint16_t)sign;
        uint32_t e = ax >> 23, man = (ax & 0x7FFFFFu) | 0x800000u, shift = 126 - e;
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((ax >> 13) - (112u << 10)), rem = ax & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

/* ----------------------------------------------------------- fast rows --
 * Row dequantisation for the fast kernels: AVX2 (+F16C) versions of the
 * most common types, chosen at run time; every other type, and CPUs
 * without AVX2, use the scalar code above. Both compute each element as the
 * same single float product, so their results are identical. */

static void deq_row_scalar(int type, const void *src, int64_t n, float *dst) {
    spex_tensor_to_f32(NULL, type, src, n, dst);
}

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>

__attribute__((target("avx2,fma,f16c"))) static void deq_row_avx2(int type, const void *src,
                                                                  int64_t n, float *dst) {
    const uint8_t *b = src;
    if (type == SPEX_TENSOR_F16) {
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(dst + i,
                             _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + 2 * i))));
        for (; i < n; i++)
            dst[i] = half(b + 2 * i);
        return;
    }
    if (type == SPEX_TENSOR_Q8_0) {
        /* (n/32) blocks of 34 bytes: d, 32 int8 */
        for (int64_t k = 0; k < n / 32; k++, b += 34) {
            __m256 d = _mm256_set1_ps(half(b));
            for (int j = 0; j < 4; j++) {
                __m128i q8 = _mm_loadl_epi64((const __m128i *)(b + 2 + 8 * j));
                __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8));
                _mm256_storeu_ps(dst + 32 * k + 8 * j, _mm256_mul_ps(d, q));
            }
        }
        return;
    }
    if (type == SPEX_TENSOR_Q4_0) {
        /* (n/32) blocks of 18 bytes: d, 16 bytes of nibbles (low: 0..15,
         * high: 16..31), minus 8 */
        const __m128i m4 = _mm_set1_epi8(15), e8 = _mm_set1_epi8(8);
        for (int64_t k = 0; k < n / 32; k++, b += 18) {
            __m256 d = _mm256_set1_ps(half(b));
            __m128i qs = _mm_loadu_si128((const __m128i *)(b + 2));
            __m128i lo = _mm_sub_epi8(_mm_and_si128(qs, m4), e8);
            __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(qs, 4), m4), e8);
            __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
            for (int j = 0; j < 4; j++) {
                __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(parts[j]));
                _mm256_storeu_ps(dst + 32 * k + 8 * j, _mm256_mul_ps(d, q));
            }
        }
        return;
    }
    spex_tensor_to_f32(NULL, type, src, n, dst);
}
#endif

int spexi_cpu_avx2_f16c(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    unsigned a, b, c, d; /* F16C: CPUID leaf 1, ECX bit 29 (not a cpu_supports name in clang 14) */
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
#else
    return 0;
#endif
}

spexi_deq_fn spexi_pick_dequant(int reference) {
    if (reference) return deq_row_scalar;
#if defined(__x86_64__) || defined(__i386__)
    if (spexi_cpu_avx2_f16c()) return deq_row_avx2;
#endif
    return deq_row_scalar;
}
