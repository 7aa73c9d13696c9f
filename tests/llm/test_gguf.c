/* GGUF loader and dequantisation: real model files, a synthetic file with
 * every metadata type and tensor type, block formats checked against
 * element-wise encodings from their definitions, quantised model weights
 * against the F32 file's, and corrupt, truncated and hostile files. */
#include "testing.h"
#include "test_util.h"
#include "gguf_writer.h"

#include "llm/llm_int.h"
#include "spex/llm.h"
#include "spex/rng.h"

#include <stdlib.h>
#include <string.h>

#define MODELS "../shared/models/"

static uint16_t f32_to_f16(float f) {
    /* exact for the values used here (small integers and halves) */
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, exp = (x >> 23) & 255, man = x & 0x7FFFFF;
    if (!exp) return (uint16_t)sign;
    return (uint16_t)(sign | (exp - 112) << 10 | man >> 13);
}

/* ------------------------------------- block formats by definition -- */

/* Encodes the bits of one element into a block: writes v's low nbits into
 * the block at the given bit positions (one bit each). */
static void setbits(uint8_t *blk, int byte, int shift, int nbits, int v) {
    for (int i = 0; i < nbits; i++) {
        int bit = shift + i;
        uint8_t mask = (uint8_t)(1u << (bit & 7));
        uint8_t *p = blk + byte + bit / 8;
        if (v >> i & 1)
            *p |= mask;
        else
            *p &= (uint8_t)~mask;
    }
}

static void put_half(uint8_t *p, float v) {
    uint16_t h = f32_to_f16(v);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

/* Builds one block of type from random integer codes and returns the
 * floats the definition gives (ggml's block formats, ggml-common.h):
 * element e of a 32-block uses nibble (e < 16 ? low : high) of qs[e % 16];
 * K-quant super-blocks of 256 as documented in each branch. */
static void make_block(int type, spex_rng *r, uint8_t *blk, float *want) {
    size_t bs = spex_tensor_block_size(type);
    for (size_t i = 0; i < bs; i++)
        blk[i] = (uint8_t)(spex_rng_u64(r) & 255);
    float d = (float)(1 + (int)(spex_rng_u64(r) % 8)) * 0.25f;
    float dm = (float)(1 + (int)(spex_rng_u64(r) % 8)) * 0.125f;
    switch (type) {
    case SPEX_TENSOR_Q4_0:
    case SPEX_TENSOR_Q4_1:
    case SPEX_TENSOR_Q5_0:
    case SPEX_TENSOR_Q5_1: {
        int has_m = type == SPEX_TENSOR_Q4_1 || type == SPEX_TENSOR_Q5_1;
        int five = type == SPEX_TENSOR_Q5_0 || type == SPEX_TENSOR_Q5_1;
        put_half(blk, d);
        if (has_m) put_half(blk + 2, dm);
        int qh = has_m ? 4 : 2, qs = qh + (five ? 4 : 0);
        for (int e = 0; e < 32; e++) {
            int q = (int)(spex_rng_u64(r) % (five ? 32 : 16));
            setbits(blk, qs + e % 16, e < 16 ? 0 : 4, 4, q & 15);
            if (five) setbits(blk, qh, e, 1, q >> 4); /* bit e of the u32 qh */
            int off = has_m ? 0 : (five ? 16 : 8);
            want[e] = d * (float)(q - off) + (has_m ? dm : 0.0f);
        }
        break;
    }
    case SPEX_TENSOR_Q8_0:
        put_half(blk, d);
        for (int e = 0; e < 32; e++)
            want[e] = d * (float)(int8_t)blk[2 + e];
        break;
    case SPEX_TENSOR_Q2_K: {
        /* scales[16] (4-bit scale | 4-bit min << 4), qs[64], d, dmin; element
         * e = 128n + 32j + l: 2 bits at shift 2j of qs[32n + l], sub-block
         * 8n + 2j + l/16 */
        put_half(blk + 80, d);
        put_half(blk + 82, dm);
        for (int e = 0; e < 256; e++) {
            int n = e / 128, j = (e % 128) / 32, l = e % 32, q = (int)(spex_rng_u64(r) % 4);
            setbits(blk, 16 + 32 * n + l, 2 * j, 2, q);
            uint8_t sc = blk[8 * n + 2 * j + l / 16];
            want[e] = d * (float)(sc & 15) * (float)q - dm * (float)(sc >> 4);
        }
        break;
    }
    case SPEX_TENSOR_Q3_K: {
        /* hmask[32], qs[64], scales[12], d; 2 low bits as Q2_K, high bit =
         * bit 4n + j of hmask[l] (clear: minus 4); 6-bit scale s of sub-block
         * i: low 4 bits in nibble i/8 of byte i%8, high 2 bits at shift
         * 2(i/4) of byte 8 + i%4; value d * (s - 32) * q */
        put_half(blk + 108, d);
        int s6[16];
        for (int i = 0; i < 16; i++) {
            s6[i] = (int)(spex_rng_u64(r) % 64);
            setbits(blk, 96 + i % 8, i < 8 ? 0 : 4, 4, s6[i] & 15);
            setbits(blk, 96 + 8 + i % 4, 2 * (i / 4), 2, s6[i] >> 4);
        }
        for (int e = 0; e < 256; e++) {
            int n = e / 128, j = (e % 128) / 32, l = e % 32, q = (int)(spex_rng_u64(r) % 8) - 4;
            int u = q + 4; /* 0..7: low 2 bits + high bit (set = no -4) */
            setbits(blk, 32 + 32 * n + l, 2 * j, 2, u & 3);
            setbits(blk, l, 4 * n + j, 1, u >> 2);
            want[e] = d * (float)(s6[8 * n + 2 * j + l / 16] - 32) * (float)q;
        }
        break;
    }
    case SPEX_TENSOR_Q4_K:
    case SPEX_TENSOR_Q5_K: {
        /* d, dmin, scales[12] (8 6-bit scales and mins: for i < 4 scale in
         * byte i, min in byte i+4 (low 6 bits); for i >= 4 low 4 bits in the
         * nibbles of byte i+4, high 2 bits in the top bits of bytes i-4
         * (scale) and i (min)), [qh[32]], qs[128]; element e = 64c + 32h + l:
         * nibble h of qs[32c + l], 5th bit = bit 2c+h of qh[l] */
        int five = type == SPEX_TENSOR_Q5_K;
        put_half(blk, d);
        put_half(blk + 2, dm);
        int sc[8], mn[8];
        for (int i = 0; i < 8; i++) {
            sc[i] = (int)(spex_rng_u64(r) % 64);
            mn[i] = (int)(spex_rng_u64(r) % 64);
            if (i < 4) {
                setbits(blk, 4 + i, 0, 6, sc[i]);
                setbits(blk, 4 + i + 4, 0, 6, mn[i]);
            } else {
                setbits(blk, 4 + i + 4, 0, 4, sc[i] & 15);
                setbits(blk, 4 + i + 4, 4, 4, mn[i] & 15);
                setbits(blk, 4 + i - 4, 6, 2, sc[i] >> 4);
                setbits(blk, 4 + i, 6, 2, mn[i] >> 4);
            }
        }
        int qs = five ? 48 : 16;
        for (int e = 0; e < 256; e++) {
            int c = e / 64, h = (e % 64) / 32, l = e % 32,
                q = (int)(spex_rng_u64(r) % (five ? 32 : 16));
            setbits(blk, qs + 32 * c + l, 4 * h, 4, q & 15);
            if (five) setbits(blk, 16 + l, 2 * c + h, 1, q >> 4);
            want[e] = d * (float)sc[2 * c + h] * (float)q - dm * (float)mn[2 * c + h];
        }
        break;
    }
    case SPEX_TENSOR_Q6_K: {
        /* ql[128], qh[64], scales[16] int8, d; element e = 128n + 32k + l:
         * low 4 bits = nibble (k >= 2) of ql[64n + 32(k%2) + l], high 2 bits at
         * shift 2k of qh[32n + l], scale 8n + 2k + l/16; value d*s*(q - 32) */
        put_half(blk + 208, d);
        for (int e = 0; e < 256; e++) {
            int n = e / 128, k = (e % 128) / 32, l = e % 32, q = (int)(spex_rng_u64(r) % 64);
            setbits(blk, 64 * n + 32 * (k % 2) + l, k >= 2 ? 4 : 0, 4, q & 15);
            setbits(blk, 128 + 32 * n + l, 2 * k, 2, q >> 4);
            want[e] = d * (float)(int8_t)blk[192 + 8 * n + 2 * k + l / 16] * (float)(q - 32);
        }
        break;
    }
    case SPEX_TENSOR_F16: {
        float v = (float)((int)(spex_rng_u64(r) % 2001) - 1000) / 8.0f;
        put_half(blk, v);
        want[0] = v;
        break;
    }
    case SPEX_TENSOR_BF16: {
        float v = (float)((int)(spex_rng_u64(r) % 201) - 100) / 2.0f; /* 8 significant bits */
        uint32_t x;
        memcpy(&x, &v, 4);
        blk[0] = (uint8_t)(x >> 16);
        blk[1] = (uint8_t)(x >> 24);
        want[0] = v;
        break;
    }
    case SPEX_TENSOR_F32: {
        float v = (float)spex_rng_uniform(r) - 0.5f;
        memcpy(blk, &v, 4);
        want[0] = v;
        break;
    }
    default:
        fail_msg("type %d", type);
    }
}

static const int all_types[] = {
    SPEX_TENSOR_F32,  SPEX_TENSOR_F16,  SPEX_TENSOR_BF16, SPEX_TENSOR_Q4_0, SPEX_TENSOR_Q4_1,
    SPEX_TENSOR_Q5_0, SPEX_TENSOR_Q5_1, SPEX_TENSOR_Q8_0, SPEX_TENSOR_Q2_K, SPEX_TENSOR_Q3_K,
    SPEX_TENSOR_Q4_K, SPEX_TENSOR_Q5_K, SPEX_TENSOR_Q6_K};
#define N_TYPES ((int)(sizeof all_types / sizeof all_types[0]))

static void test_blocks_by_definition(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_rng r;
    spex_rng_seed(&r, 3);
    uint8_t blk[4][256];
    float want[4 * 256], got[4 * 256];
    for (int ti = 0; ti < N_TYPES; ti++) {
        int type = all_types[ti];
        int64_t be = spex_tensor_block_elems(type);
        size_t bs = spex_tensor_block_size(type);
        for (int rep = 0; rep < 20; rep++) {
            uint8_t raw[4 * 256];
            for (int b = 0; b < 4; b++) {
                make_block(type, &r, blk[b], want + b * be);
                memcpy(raw + b * bs, blk[b], bs);
            }
            CHECK_RC(ctx, spex_tensor_to_f32(ctx, type, raw, 4 * be, got));
            for (int64_t e = 0; e < 4 * be; e++)
                if (got[e] != want[e])
                    fail_msg("%s element %lld: got %g, want %g", spex_tensor_type_name(type),
                             (long long)e, got[e], want[e]);
            spex_test_checks++;
            /* the fast (SIMD when the CPU has it) row kernels give the same floats */
            float fast[4 * 256];
            spexi_pick_dequant(0)(type, raw, 4 * be, fast);
            CHECK(!memcmp(fast, want, (size_t)(4 * be) * sizeof(float)));
        }
    }
    /* special halves */
    CHECK(spexi_f16_to_f32(0x3C00) == 1.0f);
    CHECK(spexi_f16_to_f32(0xC000) == -2.0f);
    CHECK(spexi_f16_to_f32(0x0001) == 5.960464477539063e-08f); /* smallest subnormal */
    CHECK(spexi_f16_to_f32(0x7BFF) == 65504.0f);
    CHECK(isinf(spexi_f16_to_f32(0x7C00)));
    CHECK(spex_tensor_to_f32(ctx, SPEX_TENSOR_Q4_0, blk[0], 31, got) == SPEX_E_INVAL);
    CHECK(spex_tensor_to_f32(ctx, 99, blk[0], 32, got) == SPEX_E_INVAL);
    spex_ctx_free(ctx);
}

/* ------------------------------------------- a synthetic GGUF file -- */

/* Every metadata type and one tensor of every type (2 rows of 2 blocks),
 * alignment 64. want: the floats of each tensor. */
static void make_file(buf *b, uint32_t version, float *want) {
    spex_rng r;
    spex_rng_seed(&r, 9);
    put(b, "GGUF", 4);
    put32(b, version);
    put64(b, N_TYPES);
    put64(b, 17);
    uint8_t u8 = 200;
    putkey(b, "t.u8", SPEX_GGUF_UINT8), put(b, &u8, 1);
    putkey(b, "t.i8", SPEX_GGUF_INT8), u8 = 0x80, put(b, &u8, 1);
    putkey(b, "t.u16", SPEX_GGUF_UINT16), put(b, "\xff\xff", 2);
    putkey(b, "t.i16", SPEX_GGUF_INT16), put(b, "\x00\x80", 2);
    putkey(b, "t.u32", SPEX_GGUF_UINT32), put32(b, 4000000000u);
    putkey(b, "t.i32", SPEX_GGUF_INT32), put32(b, (uint32_t)-7);
    float f = 1.5f;
    uint32_t fu;
    memcpy(&fu, &f, 4);
    putkey(b, "t.f32", SPEX_GGUF_FLOAT32), put32(b, fu);
    putkey(b, "t.bool", SPEX_GGUF_BOOL), u8 = 1, put(b, &u8, 1);
    putkey(b, "t.str", SPEX_GGUF_STRING), putstr(b, "héllo");
    putkey(b, "t.u64", SPEX_GGUF_UINT64), put64(b, UINT64_MAX);
    putkey(b, "t.i64", SPEX_GGUF_INT64), put64(b, (uint64_t)INT64_MIN);
    double dd = -0.25;
    uint64_t du;
    memcpy(&du, &dd, 8);
    putkey(b, "t.f64", SPEX_GGUF_FLOAT64), put64(b, du);
    putkey(b, "t.arr_i32", SPEX_GGUF_ARRAY), put32(b, SPEX_GGUF_INT32), put64(b, 3);
    put32(b, 1), put32(b, (uint32_t)-2), put32(b, 3);
    putkey(b, "t.arr_str", SPEX_GGUF_ARRAY), put32(b, SPEX_GGUF_STRING), put64(b, 3);
    putstr(b, "a"), putstr(b, ""), putstr(b, "ccc");
    putkey(b, "t.arr_empty", SPEX_GGUF_ARRAY), put32(b, SPEX_GGUF_FLOAT64), put64(b, 0);
    putkey(b, "t.arr_f32", SPEX_GGUF_ARRAY), put32(b, SPEX_GGUF_FLOAT32), put64(b, 1), put32(b, fu);
    putkey(b, "general.alignment", SPEX_GGUF_UINT32), put32(b, 64);
    /* tensor infos: ne = {2 blocks, 2 rows} */
    uint64_t off = 0;
    uint64_t offs[N_TYPES];
    for (int i = 0; i < N_TYPES; i++) {
        char name[32];
        snprintf(name, sizeof name, "w.%s", spex_tensor_type_name(all_types[i]));
        putstr(b, name);
        put32(b, 2);
        put64(b, 2 * (uint64_t)spex_tensor_block_elems(all_types[i]));
        put64(b, 2);
        put32(b, (uint32_t)all_types[i]);
        offs[i] = off;
        put64(b, off);
        off += 4 * spex_tensor_block_size(all_types[i]);
        off = (off + 63) / 64 * 64;
    }
    while (b->n % 64)
        put(b, "", 1);
    size_t data0 = b->n;
    for (int i = 0; i < N_TYPES; i++) {
        while (b->n < data0 + offs[i])
            put(b, "\x55", 1);
        int64_t be = spex_tensor_block_elems(all_types[i]);
        for (int k = 0; k < 4; k++) {
            uint8_t blk[256];
            make_block(all_types[i], &r, blk, want + i * 1024 + k * be);
            put(b, blk, spex_tensor_block_size(all_types[i]));
        }
    }
}

static void test_synthetic_file(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    static float want[N_TYPES * 1024];
    for (uint32_t version = 2; version <= 3; version++) {
        buf b = {0};
        make_file(&b, version, want);
        spex_gguf *g;
        CHECK_RC(ctx, spex_gguf_open_buffer(ctx, b.p, b.n, "synthetic.gguf", &g));
        CHECK(spex_gguf_version(g) == version);
        CHECK(spex_gguf_alignment(g) == 64);
        CHECK(spex_gguf_n_kv(g) == 17);
        int64_t v;
        double d;
        const char *s;
        size_t len;
        CHECK_RC(ctx, spex_gguf_get_int(g, spex_gguf_find_key(g, "t.u8"), -1, &v));
        CHECK(v == 200);
        CHECK_RC(ctx, spex_gguf_get_int(g, spex_gguf_find_key(g, "t.i8"), -1, &v));
        CHECK(v == -128);
        CHECK_RC(ctx, spex_gguf_get_int(g, spex_gguf_find_key(g, "t.u16"), -1, &v));
        CHECK(v == 65535);
        CHECK_RC(ctx, spex_gguf_get_int(g, spex_gguf_find_key(g, "t.i16"), -1, &v));
        CHECK(v == -32768);
        CHECK_RC(ctx, spex_gguf_get_int(g, spex_gguf_find_key(g, "t.u32"), -1, &v));
        CHECK(v == 4000000000LL);
        CHECK_RC(ctx, spex_gguf_get_int(g, spex_gguf_find_key(g, "t.i32"), -1, &v));
        CHECK(v == -7);
        CHECK_RC(ctx, spex_gguf_get_float(g, spex_gguf_find_key(g, "t.f32"), -1, &d));
        CHECK(d == 1.5);
        CHECK_RC(ctx, spex_gguf_get_int(g, spex_gguf_find_key(g, "t.bool"), -1, &v));
        CHECK(v == 1);
        CHECK_RC(ctx, spex_gguf_get_str(g, spex_gguf_find_key(g, "t.str"), -1, &s, &len));
        CHECK(len == 6 && !memcmp(s, "héllo", 6));
        CHECK(spex_gguf_get_int(g, spex_gguf_find_key(g, "t.u64"), -1, &v) == SPEX_E_INVAL);
        CHECK_RC(ctx, spex_gguf_get_float(g, spex_gguf_find_key(g, "t.u64"), -1, &d));
        CHECK(d == 18446744073709551615.0);
        CHECK_RC(ctx, spex_gguf_get_int(g, spex_gguf_find_key(g, "t.i64"), -1, &v));
        CHECK(v == INT64_MIN);
        CHECK_RC(ctx, spex_gguf_get_float(g, spex_gguf_find_key(g, "t.f64"), -1, &d));
        CHECK(d == -0.25);
        int64_t ka = spex_gguf_find_key(g, "t.arr_i32");
        CHECK(spex_gguf_kv_type(g, ka) == SPEX_GGUF_ARRAY);
        CHECK(spex_gguf_arr_type(g, ka) == SPEX_GGUF_INT32);
        CHECK(spex_gguf_arr_n(g, ka) == 3);
        CHECK_RC(ctx, spex_gguf_get_int(g, ka, 1, &v));
        CHECK(v == -2);
        CHECK(spex_gguf_get_int(g, ka, 3, &v) == SPEX_E_INVAL);
        CHECK(spex_gguf_get_int(g, ka, -1, &v) == SPEX_E_INVAL);
        int64_t ks = spex_gguf_find_key(g, "t.arr_str");
        CHECK_RC(ctx, spex_gguf_get_str(g, ks, 2, &s, &len));
        CHECK(len == 3 && !memcmp(s, "ccc", 3));
        CHECK_RC(ctx, spex_gguf_get_str(g, ks, 1, &s, &len));
        CHECK(len == 0);
        CHECK(spex_gguf_arr_n(g, spex_gguf_find_key(g, "t.arr_empty")) == 0);
        CHECK_RC(ctx, spex_gguf_get_float(g, spex_gguf_find_key(g, "t.arr_f32"), 0, &d));
        CHECK(d == 1.5);
        CHECK(spex_gguf_find_key(g, "nope") == -1);
        CHECK(spex_gguf_get_str(g, spex_gguf_find_key(g, "t.u8"), -1, &s, &len) == SPEX_E_INVAL);
        CHECK(spex_gguf_n_tensors(g) == N_TYPES);
        for (int i = 0; i < N_TYPES; i++) {
            char name[32];
            snprintf(name, sizeof name, "w.%s", spex_tensor_type_name(all_types[i]));
            int64_t ti = spex_gguf_find_tensor(g, name);
            CHECK(ti == i);
            spex_tensor_info t;
            spex_gguf_tensor(g, ti, &t);
            CHECK(t.type == all_types[i] && t.n_dims == 2 && t.ne[1] == 2 && t.ne[2] == 1);
            CHECK(t.offset % 64 == 0);
            CHECK((const uint8_t *)t.data == b.p + t.offset);
            float got[1024];
            CHECK_RC(ctx, spex_tensor_to_f32(ctx, t.type, t.data, t.ne[0] * t.ne[1], got));
            for (int64_t e = 0; e < t.ne[0] * t.ne[1]; e++)
                if (got[e] != want[i * 1024 + e])
                    fail_msg("%s element %lld: %g vs %g", name, (long long)e, got[e],
                             want[i * 1024 + e]);
        }
        spex_gguf_free(g);
        free(b.p);
    }
    spex_ctx_free(ctx);
}

/* ---------------------------------------------------- real models -- */

static void test_real_files(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_gguf *g;
    CHECK_RC(ctx, spex_gguf_open(ctx, MODELS "stories260K.gguf", &g));
    CHECK(spex_gguf_version(g) == 3);
    CHECK(spex_gguf_n_tensors(g) == 48);
    const char *s;
    size_t len;
    CHECK_RC(ctx,
             spex_gguf_get_str(g, spex_gguf_find_key(g, "general.architecture"), -1, &s, &len));
    CHECK(len == 5 && !memcmp(s, "llama", 5));
    int64_t kt = spex_gguf_find_key(g, "tokenizer.ggml.tokens");
    CHECK(spex_gguf_arr_n(g, kt) == 512);
    CHECK_RC(ctx, spex_gguf_get_str(g, kt, 1, &s, &len));
    CHECK(len == 3 && !memcmp(s, "<s>", 3));
    spex_gguf_free(g);

    CHECK(spex_gguf_open(ctx, MODELS "negative/stories260K-ggufv1.gguf", &g) == SPEX_E_UNSUPPORTED);
    CHECK(g == NULL);
    CHECK(strstr(spex_errmsg(ctx), "GGUF v1 is not supported") != NULL);
    CHECK(spex_gguf_open(ctx, MODELS "does-not-exist.gguf", &g) == SPEX_E_IO);
    /* the fuzz seeds: two well-formed files and a truncated one */
    CHECK_RC(ctx, spex_gguf_open(ctx, "tests/fuzz/seeds/gguf/mini.gguf", &g));
    CHECK(spex_gguf_n_tensors(g) == 2 && spex_gguf_n_kv(g) == 6);
    spex_gguf_free(g);
    CHECK_RC(ctx, spex_gguf_open(ctx, "tests/fuzz/seeds/gguf/v2-array.gguf", &g));
    CHECK(spex_gguf_version(g) == 2);
    spex_gguf_free(g);
    CHECK(spex_gguf_open(ctx, "tests/fuzz/seeds/gguf/stories-head.gguf", &g) == SPEX_E_PARSE);
    CHECK_RC(ctx, spex_gguf_open(ctx, "tests/fuzz/seeds/gguf/mini-bpe.gguf", &g));
    {
        llm_vocab v;
        int32_t *t;
        int64_t nt;
        CHECK_RC(ctx, spexi_vocab_load(ctx, g, &v));
        CHECK(v.bpe == 1 && v.n_merges == 5);
        CHECK_RC(ctx, spexi_vocab_tokenize(ctx, &v, "hel 12!", 7, 0, &t, &nt));
        /* "hel" -> hel; " 12" -> Ġ (no merge "Ġ 1"), 12; "!" */
        CHECK(nt == 4 && t[0] == 7 && t[1] == 5 && t[2] == 13 && t[3] == 10);
        spex_free(ctx, t);
        spexi_vocab_clear(ctx, &v);
    }
    spex_gguf_free(g);
    CHECK(spex_gguf_open(ctx, MODELS "README.md", &g) == SPEX_E_PARSE);
    CHECK(strstr(spex_errmsg(ctx), "bad magic") != NULL);
    spex_ctx_free(ctx);
}

/* Dequantised Q8_0 / Q5_0 / Q4_0 weights of the synth model are close to
 * the F32 file's: mean absolute error per tensor within a fraction of the
 * weights' mean magnitude that grows with fewer bits. */
static void test_quantised_vs_f32(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_gguf *ref;
    CHECK_RC(ctx, spex_gguf_open(ctx, MODELS "synth-interact-llama-F32.gguf", &ref));
    const char *variants[] = {"Q8_0", "Q5_0", "Q4_0", "F16"};
    const double rel_tol[] = {0.01, 0.06, 0.12, 0.001};
    for (int vi = 0; vi < 4; vi++) {
        char path[256];
        snprintf(path, sizeof path, MODELS "synth-interact-llama-%s.gguf", variants[vi]);
        spex_gguf *g;
        CHECK_RC(ctx, spex_gguf_open(ctx, path, &g));
        CHECK(spex_gguf_n_tensors(g) == spex_gguf_n_tensors(ref));
        double worst = 0;
        int n_quant = 0;
        for (int64_t i = 0; i < spex_gguf_n_tensors(g); i++) {
            spex_tensor_info t, tr;
            spex_gguf_tensor(g, i, &t);
            int64_t j = spex_gguf_find_tensor(ref, t.name);
            CHECK(j >= 0);
            spex_gguf_tensor(ref, j, &tr);
            int64_t n = t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3];
            CHECK(tr.type == SPEX_TENSOR_F32 && n == tr.ne[0] * tr.ne[1] * tr.ne[2] * tr.ne[3]);
            if (t.type == SPEX_TENSOR_F32) continue;
            n_quant++;
            float *w = malloc((size_t)n * sizeof(float));
            CHECK_RC(ctx, spex_tensor_to_f32(ctx, t.type, t.data, n, w));
            const float *x = tr.data;
            double err = 0, mag = 0;
            for (int64_t e = 0; e < n; e++) {
                err += fabs((double)w[e] - x[e]);
                mag += fabs((double)x[e]);
            }
            free(w);
            if (mag == 0) continue;
            double rel = err / mag;
            if (rel > worst) worst = rel;
            if (!(rel <= rel_tol[vi]))
                fail_msg("%s tensor '%s' (%s): mean |error| / mean |w| = %g > %g", variants[vi],
                         t.name, spex_tensor_type_name(t.type), rel, rel_tol[vi]);
            spex_test_checks++;
        }
        CHECK(n_quant >= 29);
        printf("%s: worst relative mean abs error %.4g (tolerance %g)\n", variants[vi], worst,
               rel_tol[vi]);
        spex_gguf_free(g);
    }
    spex_gguf_free(ref);
    spex_ctx_free(ctx);
}

/* ------------------------------------------------ corrupt files -- */

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)sz);
    assert_non_null(p);
    assert_true(fread(p, 1, (size_t)sz, f) == (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return p;
}

static void test_truncated(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    size_t n;
    uint8_t *full = read_all(MODELS "stories260K.gguf", &n);
    spex_gguf *g;
    CHECK_RC(ctx, spex_gguf_open_buffer(ctx, full, n, "s.gguf", &g));
    size_t data_off = g->data_off;
    spex_gguf_free(g);
    /* every cut inside the header and metadata, then a spread over the data */
    for (size_t cut = 0; cut < n; cut += cut < data_off + 64 ? 1 : 997) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, full, cut);
        int rc = spex_gguf_open_buffer(ctx, p, cut, "cut.gguf", &g);
        if (rc == SPEX_OK) fail_msg("file cut at %zu of %zu bytes was accepted", cut, n);
        if (rc != SPEX_E_PARSE) fail_msg("cut at %zu: rc %d (%s)", cut, rc, spex_errmsg(ctx));
        if (!strstr(spex_errmsg(ctx), "cut.gguf") ||
            (!strstr(spex_errmsg(ctx), "byte") && !strstr(spex_errmsg(ctx), "tensor")))
            fail_msg("cut at %zu: message '%s' names no place", cut, spex_errmsg(ctx));
        spex_test_checks++;
        free(p);
    }
    /* the last cut names the tensor that runs past the end */
    CHECK(spex_gguf_open_buffer(ctx, full, n - 1, "cut.gguf", &g) == SPEX_E_PARSE);
    CHECK(strstr(spex_errmsg(ctx), "tensor 'output.weight'") != NULL ||
          strstr(spex_errmsg(ctx), "tensor '") != NULL);
    free(full);
    spex_ctx_free(ctx);
}

static void test_flipped_bytes(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    size_t n;
    uint8_t *full = read_all(MODELS "stories260K.gguf", &n);
    spex_gguf *g;
    CHECK_RC(ctx, spex_gguf_open_buffer(ctx, full, n, "s.gguf", &g));
    size_t data_off = g->data_off;
    spex_gguf_free(g);
    uint8_t *p = malloc(n);
    const uint8_t vals[] = {0x00, 0xFF, 0x80, 0x7F, 0x01};
    int accepted = 0, rejected = 0;
    spex_rng r;
    spex_rng_seed(&r, 4);
    for (size_t at = 0; at < data_off; at += 1 + at / 64) {
        for (int k = 0; k < 5; k++) {
            memcpy(p, full, n);
            p[at] = vals[k] == full[at] ? (uint8_t)~vals[k] : vals[k];
            int rc = spex_gguf_open_buffer(ctx, p, n, "flip.gguf", &g);
            if (rc == SPEX_OK) {
                accepted++;
                /* whatever was accepted is consistent: every tensor inside the file */
                for (int64_t i = 0; i < spex_gguf_n_tensors(g); i++) {
                    spex_tensor_info t;
                    spex_gguf_tensor(g, i, &t);
                    CHECK(t.offset + t.size <= n);
                }
                spex_gguf_free(g);
            } else {
                rejected++;
                CHECK(strlen(spex_errmsg(ctx)) > 10);
            }
        }
    }
    printf("flipped header bytes: %d accepted, %d rejected\n", accepted, rejected);
    CHECK(rejected > 100);
    free(p);
    free(full);
    spex_ctx_free(ctx);
}

/* Hand-made hostile headers: each must fail with a message naming the place. */
struct open_call {
    const void *p;
    size_t n;
    spex_gguf *g;
};
static int open_run(spex_ctx *ctx, void *user) {
    struct open_call *c = user;
    return spex_gguf_open_buffer(ctx, c->p, c->n, "ok.gguf", &c->g);
}
static void open_after(void *user, int rc) {
    struct open_call *c = user;
    if (rc == SPEX_OK) spex_gguf_free(c->g);
    c->g = NULL;
}

static void test_hostile(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_gguf *g;
    struct {
        const char *what, *expect;
        int rc;
    } cases[] = {
        {"magic", "bad magic", SPEX_E_PARSE},
        {"version", "unknown GGUF version 7", SPEX_E_UNSUPPORTED},
        {"n_kv", "metadata count", SPEX_E_PARSE},
        {"n_tensors", "tensor count", SPEX_E_PARSE},
        {"keylen", "key 0: name length", SPEX_E_PARSE},
        {"valtype", "key 'k': unknown value type 99", SPEX_E_PARSE},
        {"arrlen", "key 'k': array of", SPEX_E_PARSE},
        {"nested", "nested arrays", SPEX_E_PARSE},
        {"align", "general.alignment' = 3", SPEX_E_PARSE},
        {"dims", "tensor 'w': 5 dimensions", SPEX_E_PARSE},
        {"dim0", "tensor 'w': dimension 1 = 0", SPEX_E_PARSE},
        {"huge", "tensor 'w': dimension 1", SPEX_E_PARSE},
        {"ttype", "tensor 'w': unknown or unsupported tensor type 99", SPEX_E_UNSUPPORTED},
        {"rows", "tensor 'w': rows of 33 elements are not a multiple of the Q4_0 block",
         SPEX_E_PARSE},
        {"misaligned", "tensor 'w': data offset 4 is not a multiple of the alignment 32",
         SPEX_E_PARSE},
        {"past", "tensor 'w': data at byte", SPEX_E_PARSE},
        {"dupkey", "duplicate key 'k'", SPEX_E_PARSE},
        {"bool", "bool value 2", SPEX_E_PARSE},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *w = cases[c].what;
        buf b = {0};
        put(&b, strcmp(w, "magic") ? "GGUF" : "GGML", 4);
        put32(&b, strcmp(w, "version") ? 3 : 7);
        put64(&b, !strcmp(w, "n_tensors") ? (uint64_t)1 << 60 : 1);
        int two = !strcmp(w, "dupkey") || !strcmp(w, "align");
        put64(&b, !strcmp(w, "n_kv") ? UINT64_MAX : (uint64_t)(1 + two));
        if (!strcmp(w, "keylen")) {
            put64(&b, UINT64_MAX - 3);
        } else if (!strcmp(w, "valtype")) {
            putkey(&b, "k", 99);
        } else if (!strcmp(w, "arrlen")) {
            putkey(&b, "k", SPEX_GGUF_ARRAY), put32(&b, SPEX_GGUF_UINT64), put64(&b, 1ull << 61);
        } else if (!strcmp(w, "nested")) {
            putkey(&b, "k", SPEX_GGUF_ARRAY), put32(&b, SPEX_GGUF_ARRAY), put64(&b, 1);
        } else if (!strcmp(w, "bool")) {
            putkey(&b, "k", SPEX_GGUF_BOOL), put(&b, "\x02", 1);
        } else {
            putkey(&b, "k", SPEX_GGUF_UINT32), put32(&b, 1);
        }
        if (two) {
            if (!strcmp(w, "align"))
                putkey(&b, "general.alignment", SPEX_GGUF_UINT32), put32(&b, 3);
            else
                putkey(&b, "k", SPEX_GGUF_UINT32), put32(&b, 2);
        }
        putstr(&b, "w");
        put32(&b, !strcmp(w, "dims") ? 5 : 2);
        put64(&b, !strcmp(w, "rows") ? 33 : 32);
        put64(&b, !strcmp(w, "dim0") ? 0 : !strcmp(w, "huge") ? (uint64_t)1 << 62 : 2);
        put32(&b, !strcmp(w, "ttype") ? 99 : SPEX_TENSOR_Q4_0);
        put64(&b, !strcmp(w, "misaligned") ? 4 : 0);
        while (b.n % 32)
            put(&b, "", 1);
        for (int i = 0; i < (!strcmp(w, "past") ? 10 : 36); i++)
            put(&b, "\x11", 1);
        /* padding so that counts are not stopped by the file size first */
        if (strcmp(w, "past"))
            for (int i = 0; i < 64; i++)
                put(&b, "", 1);
        int rc = spex_gguf_open_buffer(ctx, b.p, b.n, "hostile.gguf", &g);
        if (rc != cases[c].rc || !strstr(spex_errmsg(ctx), cases[c].expect))
            fail_msg("case %s: rc %d (want %d), message '%s' lacks '%s'", w, rc, cases[c].rc,
                     spex_errmsg(ctx), cases[c].expect);
        spex_test_checks++;
        CHECK(strstr(spex_errmsg(ctx), "hostile.gguf") != NULL);
        free(b.p);
    }
    /* a well-formed version of the same file loads */
    buf b = {0};
    put(&b, "GGUF", 4), put32(&b, 2), put64(&b, 1), put64(&b, 0);
    putstr(&b, "w"), put32(&b, 1), put64(&b, 32), put32(&b, SPEX_TENSOR_Q8_0), put64(&b, 0);
    while (b.n % 32)
        put(&b, "", 1);
    for (int i = 0; i < 34; i++)
        put(&b, "\x01", 1);
    CHECK_RC(ctx, spex_gguf_open_buffer(ctx, b.p, b.n, "ok.gguf", &g));
    spex_gguf_free(g);
    /* allocation failures: clean SPEX_E_NOMEM at every point */
    struct open_call c = {b.p, b.n, NULL};
    CHECK(spex_test_alloc_walk(ctx, 1000, open_run, open_after, &c) >= 3);
    free(b.p);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks_by_definition),
        cmocka_unit_test(test_synthetic_file),
        cmocka_unit_test(test_real_files),
        cmocka_unit_test(test_quantised_vs_f32),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_flipped_bytes),
        cmocka_unit_test(test_hostile),
    };
    SPEX_RUN_TESTS(tests);
}
