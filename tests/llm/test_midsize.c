/* The engine's fast kernels against its reference path on a mid-size llama
 * model that the test writes itself (issue 18 item 1): the shipped models
 * are tiny (dim <= 128), so this one has real-ish shapes — dim 512, 8
 * heads over 4 KV heads (grouped-query attention), ffn 1536 (a multiple of
 * the K-quants' 256-weight super-block: ffn_down's input), 4 layers, a
 * separate output matrix and Llama-2's SentencePiece vocabulary of 32000
 * tokens (copied from ../shared/models/vocab/ggml-vocab-llama-spm.gguf):
 * 45M parameters. Three files hold every weight type the fast paths take:
 * F16 + BF16; Q8_0, Q4_0, Q4_1, Q5_0, Q5_1; a K-quant mix (Q4_K, Q5_K,
 * Q6_K, Q3_K, Q2_K). Weights are random blocks with sane scales (rms about
 * 0.02, as in an initialised model); no quantiser is needed.
 *
 * For each file, a few token sequences of 40-70 tokens are scored with the
 * reference kernels, the int8-activation path (the default) and the float
 * path (spex_llm_opts.float_acts), and the test checks: float path within
 * float rounding of the reference, int8 path within the rounding of the
 * activations, bit-identical results for 1 and 2 threads and for a batch
 * (with prefix reuse) against one sequence at a time, and peak memory
 * near the file size (weights used where they lie in the mapping, never
 * copied as floats).
 *
 * Labelled slow, which scripts/test.sh leaves out of the ASan run: 11 s in
 * the Release build on 2 cores, 100 s at -O0 under ASan (the scalar
 * reference path); the same kernels run under ASan in test_matmul and
 * test_llama. */
// spex-test-label: slow
#include "test_util.h"
#include "gguf_writer.h"

#include "llm/model_int.h"
#include "spex/llm.h"
#include "spex/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define VOCAB_FILE "../shared/models/vocab/ggml-vocab-llama-spm.gguf"

enum { DIM = 512, N_HEADS = 8, N_KV_HEADS = 4, FFN = 1536, N_LAYERS = 4, N_CTX = 128 };
enum { KV_DIM = DIM / N_HEADS * N_KV_HEADS, N_VOCAB = 32000 };

/* ------------------------------------------------------ random weights -- */

/* Where a quantised type keeps its IEEE-half scale d (and a second half
 * m, or -1), the rms of its integer part per unit of d over random bytes
 * (so that d = 0.02 / rms gives weights of rms 0.02), and m / d, which
 * centres the weights: w = d * q + m for Q4_1 and Q5_1 (m = -mean(q) d),
 * w = d * sc * q - dmin * mn for Q4_K, Q5_K (dmin = mean(q) d) and
 * w = d * (sc & 15) * q - dmin * (sc >> 4) for Q2_K (block layouts:
 * src/llm/quant.c). */
typedef struct qscale {
    int type, d_off, m_off;
    double rms, m_per_d;
} qscale;

static const qscale qscales[] = {
    {SPEX_TENSOR_Q8_0, 0, -1, 73.9, 0},    /* q in -128..127 */
    {SPEX_TENSOR_Q4_0, 0, -1, 4.64, 0},    /* q - 8 in -8..7 */
    {SPEX_TENSOR_Q5_0, 0, -1, 9.23, 0},    /* q - 16 in -16..15 */
    {SPEX_TENSOR_Q4_1, 0, 2, 4.61, -7.5},  /* q in 0..15 */
    {SPEX_TENSOR_Q5_1, 0, 2, 9.23, -15.5}, /* q in 0..31 */
    {SPEX_TENSOR_Q4_K, 0, 2, 255, 7.5},    /* 6-bit sc, mn; q in 0..15 */
    {SPEX_TENSOR_Q5_K, 0, 2, 521, 15.5},   /* 6-bit sc, mn; q in 0..31 */
    {SPEX_TENSOR_Q6_K, 208, -1, 1369, 0},  /* int8 sc; q - 32 in -32..31 */
    {SPEX_TENSOR_Q3_K, 108, -1, 43.5, 0},  /* 6-bit sc - 32; q in -4..3 */
    {SPEX_TENSOR_Q2_K, 80, 82, 13.9, 1.5}, /* 4-bit sc, mn; q in 0..3 */
};

static const qscale *qscale_of(int type) {
    for (size_t i = 0; i < sizeof qscales / sizeof qscales[0]; i++)
        if (qscales[i].type == type) return &qscales[i];
    return NULL;
}

static void put_half(uint8_t *p, float f) {
    uint16_t h = spexi_f32_to_f16(f);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

/* n_rows rows of n_in weights of type into d: F16 and BF16 uniform with rms
 * 0.02, F32 (the norm weights) in [0.9, 1.1], quantised types random bytes
 * with the scales of qscales. */
static void fill_rows(int type, int64_t n_in, int64_t n_rows, spex_rng *r, uint8_t *d) {
    int64_t n = n_in * n_rows;
    const float a = 0.0346f; /* uniform on [-a, a]: rms 0.02 */
    if (type == SPEX_TENSOR_F32) {
        for (int64_t i = 0; i < n; i++) {
            float f = 1.0f + 0.2f * (float)(spex_rng_uniform(r) - 0.5);
            memcpy(d + 4 * i, &f, 4);
        }
        return;
    }
    if (type == SPEX_TENSOR_F16 || type == SPEX_TENSOR_BF16) {
        for (int64_t i = 0; i < n; i++) {
            float f = a * (float)(2 * spex_rng_uniform(r) - 1);
            if (type == SPEX_TENSOR_F16) {
                put_half(d + 2 * i, f);
            } else {
                uint32_t b;
                memcpy(&b, &f, 4);
                d[2 * i] = (uint8_t)(b >> 16);
                d[2 * i + 1] = (uint8_t)(b >> 24);
            }
        }
        return;
    }
    const qscale *q = qscale_of(type);
    assert_non_null(q);
    size_t bs = spex_tensor_block_size(type);
    size_t n_blocks = (size_t)(n / spex_tensor_block_elems(type));
    for (size_t i = 0; i < n_blocks * bs; i += 8) {
        uint64_t v = spex_rng_u64(r);
        for (size_t k = 0; k < 8 && i + k < n_blocks * bs; k++)
            d[i + k] = (uint8_t)(v >> 8 * k);
    }
    for (size_t k = 0; k < n_blocks; k++) {
        double u = 0.5 + spex_rng_uniform(r); /* |d| in [0.5, 1.5) of 0.02 / rms */
        double dv = (spex_rng_u64(r) & 1 ? -u : u) * 0.02 / q->rms;
        put_half(d + k * bs + q->d_off, (float)dv);
        if (q->m_off >= 0) put_half(d + k * bs + q->m_off, (float)(dv * q->m_per_d));
    }
}

/* ------------------------------------------------------- model files -- */

typedef struct tensor {
    char name[48];
    int type, n_dims;
    int64_t ne0, ne1;
    uint64_t off, size;
} tensor;

enum { N_TENSORS = 3 + 9 * N_LAYERS, N_MATS = 7 };

/* One file's types: output, token_embd, and the block matrices in turn
 * (q, k, v, o, gate, up, down of layer 0, then layer 1, ...). */
typedef struct file_spec {
    const char *name;
    int output, embd;
    int cycle[8];
    int n_cycle;
} file_spec;

static const file_spec files[] = {
    {"float", SPEX_TENSOR_F16, SPEX_TENSOR_BF16, {SPEX_TENSOR_F16, SPEX_TENSOR_BF16}, 2},
    {"legacy",
     SPEX_TENSOR_Q8_0,
     SPEX_TENSOR_Q4_0,
     {SPEX_TENSOR_Q8_0, SPEX_TENSOR_Q4_0, SPEX_TENSOR_Q4_1, SPEX_TENSOR_Q5_0, SPEX_TENSOR_Q5_1},
     5},
    {"kquant",
     SPEX_TENSOR_Q6_K,
     SPEX_TENSOR_Q4_K,
     {SPEX_TENSOR_Q4_K, SPEX_TENSOR_Q5_K, SPEX_TENSOR_Q6_K, SPEX_TENSOR_Q4_K, SPEX_TENSOR_Q3_K,
      SPEX_TENSOR_Q2_K},
     6},
};
#define N_FILES ((int)(sizeof files / sizeof files[0]))

static void add_tensor(tensor *t, int *n, const char *name, int type, int64_t ne0, int64_t ne1) {
    tensor *x = &t[(*n)++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->type = type;
    x->n_dims = ne1 > 1 ? 2 : 1;
    x->ne0 = ne0;
    x->ne1 = ne1;
    x->size = (uint64_t)(ne0 * ne1 / spex_tensor_block_elems(type)) * spex_tensor_block_size(type);
}

/* The tensors of a file of spec f, in file order. */
static void list_tensors(const file_spec *f, tensor *t) {
    int n = 0, k = 0;
    add_tensor(t, &n, "token_embd.weight", f->embd, DIM, N_VOCAB);
    add_tensor(t, &n, "output_norm.weight", SPEX_TENSOR_F32, DIM, 1);
    add_tensor(t, &n, "output.weight", f->output, DIM, N_VOCAB);
    static const char *mats[N_MATS] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                       "ffn_gate", "ffn_up", "ffn_down"};
    const int64_t n_in[N_MATS] = {DIM, DIM, DIM, DIM, DIM, DIM, FFN};
    const int64_t n_out[N_MATS] = {DIM, KV_DIM, KV_DIM, DIM, FFN, FFN, DIM};
    for (int l = 0; l < N_LAYERS; l++) {
        char nm[48];
        snprintf(nm, sizeof nm, "blk.%d.attn_norm.weight", l);
        add_tensor(t, &n, nm, SPEX_TENSOR_F32, DIM, 1);
        snprintf(nm, sizeof nm, "blk.%d.ffn_norm.weight", l);
        add_tensor(t, &n, nm, SPEX_TENSOR_F32, DIM, 1);
        for (int j = 0; j < N_MATS; j++, k++) {
            snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, mats[j]);
            add_tensor(t, &n, nm, f->cycle[k % f->n_cycle], n_in[j], n_out[j]);
        }
    }
    assert_int_equal(n, N_TENSORS);
    uint64_t off = 0;
    for (int i = 0; i < N_TENSORS; i++) {
        t[i].off = off;
        off = (off + t[i].size + 31) / 32 * 32;
    }
}

/* Metadata value j of key i of g (j < 0: the scalar), re-encoded as type. */
static void put_value(buf *b, const spex_gguf *g, int64_t i, int64_t j, int type) {
    int64_t v = 0;
    double f = 0;
    const char *s;
    size_t len;
    switch (type) {
    case SPEX_GGUF_STRING:
        assert_int_equal(spex_gguf_get_str(g, i, j, &s, &len), SPEX_OK);
        putstrn(b, s, len);
        return;
    case SPEX_GGUF_FLOAT32: {
        assert_int_equal(spex_gguf_get_float(g, i, j, &f), SPEX_OK);
        float x = (float)f;
        uint32_t u;
        memcpy(&u, &x, 4);
        put32(b, u);
        return;
    }
    case SPEX_GGUF_UINT8:
    case SPEX_GGUF_INT8:
    case SPEX_GGUF_BOOL:
    case SPEX_GGUF_UINT16:
    case SPEX_GGUF_INT16:
    case SPEX_GGUF_UINT32:
    case SPEX_GGUF_INT32:
    case SPEX_GGUF_INT64: {
        assert_int_equal(spex_gguf_get_int(g, i, j, &v), SPEX_OK);
        int bytes = type <= SPEX_GGUF_INT8 || type == SPEX_GGUF_BOOL ? 1
                    : type <= SPEX_GGUF_INT16                        ? 2
                    : type <= SPEX_GGUF_INT32                        ? 4
                                                                     : 8;
        for (int k = 0; k < bytes; k++) {
            uint8_t x = (uint8_t)((uint64_t)v >> 8 * k);
            put(b, &x, 1);
        }
        return;
    }
    default:
        fail_msg("key %s: value type %d not copied", spex_gguf_key(g, i), type);
    }
}

/* Writes the model of spec f to path with the tokenizer keys of vocab;
 * returns the file's size. The tensor data is streamed a few rows at a
 * time, so the test's own memory stays small. */
static uint64_t write_model(const file_spec *f, const spex_gguf *vocab, const char *path,
                            uint64_t seed) {
    tensor t[N_TENSORS];
    list_tensors(f, t);
    int64_t n_tok_keys = 0;
    for (int64_t i = 0; i < spex_gguf_n_kv(vocab); i++)
        n_tok_keys += !strncmp(spex_gguf_key(vocab, i), "tokenizer.", 10);
    buf b = {0};
    put(&b, "GGUF", 4);
    put32(&b, 3);
    put64(&b, N_TENSORS);
    put64(&b, 10 + (uint64_t)n_tok_keys);
    putkey(&b, "general.architecture", SPEX_GGUF_STRING), putstr(&b, "llama");
    putkey(&b, "general.name", SPEX_GGUF_STRING), putstr(&b, f->name);
    const struct {
        const char *key;
        uint32_t v;
    } u32s[] = {{"llama.block_count", N_LAYERS},
                {"llama.context_length", 2048},
                {"llama.embedding_length", DIM},
                {"llama.feed_forward_length", FFN},
                {"llama.attention.head_count", N_HEADS},
                {"llama.attention.head_count_kv", N_KV_HEADS},
                {"llama.rope.dimension_count", DIM / N_HEADS}};
    for (size_t i = 0; i < sizeof u32s / sizeof u32s[0]; i++)
        putkey(&b, u32s[i].key, SPEX_GGUF_UINT32), put32(&b, u32s[i].v);
    float eps = 1e-5f;
    uint32_t eu;
    memcpy(&eu, &eps, 4);
    putkey(&b, "llama.attention.layer_norm_rms_epsilon", SPEX_GGUF_FLOAT32), put32(&b, eu);
    for (int64_t i = 0; i < spex_gguf_n_kv(vocab); i++) {
        const char *key = spex_gguf_key(vocab, i);
        if (strncmp(key, "tokenizer.", 10)) continue;
        int type = spex_gguf_kv_type(vocab, i);
        putkey(&b, key, (uint32_t)type);
        if (type != SPEX_GGUF_ARRAY) {
            put_value(&b, vocab, i, -1, type);
            continue;
        }
        int at = spex_gguf_arr_type(vocab, i);
        put32(&b, (uint32_t)at);
        put64(&b, (uint64_t)spex_gguf_arr_n(vocab, i));
        for (int64_t j = 0; j < spex_gguf_arr_n(vocab, i); j++)
            put_value(&b, vocab, i, j, at);
    }
    for (int i = 0; i < N_TENSORS; i++) {
        putstr(&b, t[i].name);
        put32(&b, (uint32_t)t[i].n_dims);
        put64(&b, (uint64_t)t[i].ne0);
        if (t[i].n_dims > 1) put64(&b, (uint64_t)t[i].ne1);
        put32(&b, (uint32_t)t[i].type);
        put64(&b, t[i].off);
    }
    while (b.n % 32)
        put(&b, "", 1);
    FILE *fp = fopen(path, "wb");
    if (!fp) fail_msg("cannot write %s", path);
    assert_int_equal(fwrite(b.p, 1, b.n, fp), b.n);
    uint64_t at = 0;
    spex_rng r;
    spex_rng_seed(&r, seed);
    enum { ROWS = 256 }; /* rows generated at a time */
    uint8_t *chunk = malloc((size_t)ROWS * FFN * 4);
    assert_non_null(chunk);
    for (int i = 0; i < N_TENSORS; i++) {
        static const uint8_t zeros[32];
        assert_true(t[i].off >= at && t[i].off - at < 32);
        assert_int_equal(fwrite(zeros, 1, (size_t)(t[i].off - at), fp), t[i].off - at);
        size_t row_size = (size_t)(t[i].size / (uint64_t)t[i].ne1);
        for (int64_t r0 = 0; r0 < t[i].ne1; r0 += ROWS) {
            int64_t nr = t[i].ne1 - r0 < ROWS ? t[i].ne1 - r0 : ROWS;
            fill_rows(t[i].type, t[i].ne0, nr, &r, chunk);
            assert_int_equal(fwrite(chunk, row_size, (size_t)nr, fp), (size_t)nr);
        }
        at = t[i].off + t[i].size;
    }
    assert_int_equal(fclose(fp), 0);
    free(chunk);
    free(b.p);
    return b.n + at;
}

/* --------------------------------------------------------- memory -- */

/* A "Vm...:" field of /proc/self/status in bytes, or -1 where there is none. */
static int64_t vm_bytes(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    int64_t v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') {
            char *end;
            long long kb = strtoll(line + n + 1, &end, 10);
            if (end != line + n + 1) v = (int64_t)kb * 1024;
            break;
        }
    fclose(f);
    return v;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0); 0 when it cannot. */
static int reset_peak(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return 0;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* The peak's growth since base (a VmHWM) against what the engine needs: the
 * file (its pages mapped as they are read), the KV cache, a chunk's scratch
 * and a margin for the vocabulary's tables, the batch scorer's buffers,
 * thread stacks and libc. A float copy of the weights would add 2 to 8
 * times the file. */
static void check_peak(const char *what, int64_t base, uint64_t file_size) {
#ifdef UNDER_ASAN
    (void)base, (void)file_size;
    printf("    %s: memory not checked under ASan (its shadow and quarantine)\n", what);
#else
    int64_t peak = vm_bytes("VmHWM");
    if (base < 0 || peak < 0) {
        printf("    %s: memory not checked (no /proc/self/status)\n", what);
        return;
    }
    int64_t kv = 2 * (int64_t)N_LAYERS * N_CTX * KV_DIM * 4;
    int64_t scratch = 4 * (SPEXI_CHUNK * (int64_t)(N_VOCAB + 4 * DIM + 2 * KV_DIM + 2 * FFN) +
                           N_CTX * 2 + 2 * spexi_matmul_rows_floats(FFN));
    int64_t margin = 16 << 20;
    int64_t bound = (int64_t)file_size + kv + scratch + margin;
    printf("    %s: peak memory grew %.1f MiB (file %.1f MiB, KV cache %.1f, scratch %.1f, "
           "margin %.0f: bound %.1f MiB)\n",
           what, (double)(peak - base) / 1048576, (double)file_size / 1048576, (double)kv / 1048576,
           (double)scratch / 1048576, (double)margin / 1048576, (double)bound / 1048576);
    CHECK(peak - base <= bound);
#endif
}

/* ------------------------------------------------------------ scoring -- */

enum { N_SEQ = 4, MAX_LEN = 80 };

typedef struct seqs {
    int32_t tok[N_SEQ][MAX_LEN];
    const int32_t *p[N_SEQ];
    int64_t len[N_SEQ], from[N_SEQ];
} seqs;

/* Scores of every sequence: per-token log-probs (one at a time) and the
 * batch's sums. */
typedef struct scores {
    double lp[N_SEQ][MAX_LEN];
    double sum[N_SEQ];
} scores;

/* A text (46 tokens with BOS), the same with one token dropped at two places (so
 * that the batch reuses prefixes), and 48 random tokens. */
static void make_seqs(spex_ctx *ctx, spex_llm *m, seqs *s) {
    static const char text[] =
        "The old lighthouse keeper climbed the spiral stairs every evening, counting "
        "one hundred and twelve steps, to light the lamp that warned the fishing boats "
        "away from the rocks below the northern cliffs.";
    int32_t *t;
    int64_t n;
    CHECK_RC(ctx, spex_llm_tokenize(m, text, strlen(text), 1, &t, &n));
    assert_true(n >= 40 && n <= MAX_LEN);
    memcpy(s->tok[0], t, (size_t)n * sizeof *t);
    s->len[0] = n;
    for (int v = 1; v <= 2; v++) {
        int64_t drop = v == 1 ? n / 2 : n - 10, o = 0;
        for (int64_t k = 0; k < n; k++)
            if (k != drop) s->tok[v][o++] = t[k];
        s->len[v] = n - 1;
    }
    free(t);
    spex_rng r;
    spex_rng_seed(&r, 18);
    s->len[3] = 48;
    s->tok[3][0] = s->tok[0][0]; /* BOS */
    for (int64_t k = 1; k < 48; k++)
        s->tok[3][k] = (int32_t)(3 + spex_rng_below(&r, N_VOCAB - 3));
    for (int i = 0; i < N_SEQ; i++) {
        s->p[i] = s->tok[i];
        s->from[i] = s->len[i] / 2;
    }
}

/* One sequence at a time (spex_llm_token_logprobs), with threads. */
static void score_each(spex_ctx *ctx, spex_llm *m, const seqs *s, int threads, scores *out) {
    spex_ctx_set_threads(ctx, threads);
    for (int i = 0; i < N_SEQ; i++) {
        CHECK_RC(ctx, spex_llm_token_logprobs(m, s->p[i], s->len[i], s->from[i], out->lp[i]));
        out->sum[i] = 0;
        for (int64_t j = 0; j < s->len[i] - s->from[i]; j++)
            out->sum[i] += out->lp[i][j];
    }
}

/* The fast path of m: 1 and 2 threads bit-identical, batch (prefix reuse,
 * both batch scorers) bit-identical to one at a time; out: 1 thread. */
static void score_fast(spex_ctx *ctx, spex_llm *m, const seqs *s, scores *out) {
    scores two;
    score_each(ctx, m, s, 1, out);
    score_each(ctx, m, s, 2, &two);
    double sums[N_SEQ], *lps[N_SEQ];
    scores batch;
    for (int i = 0; i < N_SEQ; i++)
        lps[i] = batch.lp[i];
    CHECK_RC(ctx, spex_llm_score_tokens_batch(m, N_SEQ, s->p, s->len, s->from, 1, sums));
    CHECK_RC(ctx, spex_llm_token_logprobs_batch(m, N_SEQ, s->p, s->len, s->from, lps));
    for (int i = 0; i < N_SEQ; i++) {
        CHECK(sums[i] == out->sum[i]);
        for (int64_t j = 0; j < s->len[i] - s->from[i]; j++) {
            CHECK(two.lp[i][j] == out->lp[i][j]);
            CHECK(batch.lp[i][j] == out->lp[i][j]);
        }
    }
    spex_ctx_set_threads(ctx, 1);
}

/* Worst |a - b| over every scored token. */
static double worst_dev(const seqs *s, const scores *a, const scores *b, double tol) {
    double worst = 0;
    for (int i = 0; i < N_SEQ; i++)
        for (int64_t j = 0; j < s->len[i] - s->from[i]; j++) {
            CHECK_NEAR(a->lp[i][j], b->lp[i][j], tol);
            worst = fmax(worst, fabs(a->lp[i][j] - b->lp[i][j]));
        }
    return worst;
}

/* Tolerances, per log-probability (nats). Float path: each matmul output is
 * within 1e-6 of sum |w x| of the reference's (test_matmul's bound for
 * float sums of n_in <= 1536 products in 16 lanes); a logit's sum |w x| is
 * about 7 here (512 weights of mean |w| 0.017 against a normalised state),
 * so a logit moves by 7e-6 at most, a log-prob (logit - logsumexp) by
 * twice that, and the 4 layers' hidden states add a few such terms: 1e-4
 * is ~3 times that estimate (measured: under 1e-6). Int8 path: rounding
 * activations to 8 bits per block of 32 moves each matmul output by up to
 * sum |w| dx / 2; through these models that moves log-probs by 0.014 (K
 * mix) and 0.020 (Q4_0..Q8_0) nats at worst, and the results are
 * deterministic (integer sums, fixed float order), so the bound is 1.5
 * times that: rounding to 6 bits instead fails it (0.056, tried). */
#define TOL_FLOAT 1e-4
#define TOL_INT8 0.03

static void check_file(spex_ctx *ctx, const spex_gguf *vocab, const char *dir, int fi,
                       int can_reset, double *worst_float, double *worst_int8) {
    const file_spec *f = &files[fi];
    char path[512];
    snprintf(path, sizeof path, "%s/midsize-%s.gguf", dir, f->name);
    double t0 = spex_now();
    uint64_t size = write_model(f, vocab, path, 100 + (uint64_t)fi);
    double t1 = spex_now();
    spex_llm_opts o = spex_llm_opts_default();
    o.n_ctx = N_CTX;
    spex_llm *m;
    if (can_reset) reset_peak();
    int64_t base = vm_bytes("VmHWM");
    CHECK_RC(ctx, spex_llm_load(ctx, path, &o, &m));
    spex_llm_info info;
    spex_llm_get_info(m, &info);
    CHECK(info.n_vocab == N_VOCAB && info.n_kv_heads == N_KV_HEADS && !info.tied_output);
    printf("  %s: %.1f MiB, %lld parameters, written in %.1f s\n", f->name, (double)size / 1048576,
           (long long)info.n_params, t1 - t0);
    seqs s;
    make_seqs(ctx, m, &s);
    if (fi == 0)
        printf("  sequences of %lld, %lld, %lld and %lld tokens, the second half of each scored\n",
               (long long)s.len[0], (long long)s.len[1], (long long)s.len[2], (long long)s.len[3]);
    /* the weights are as the comment on qscales says: rms near 0.02 */
    for (int64_t i = 0; i < spex_gguf_n_tensors(spex_llm_gguf(m)); i++) {
        spex_tensor_info ti;
        spex_gguf_tensor(spex_llm_gguf(m), i, &ti);
        if (ti.n_dims < 2) continue;
        float row[FFN];
        CHECK_RC(ctx, spex_tensor_to_f32(ctx, ti.type, ti.data, ti.ne[0], row));
        double ss = 0;
        for (int64_t k = 0; k < ti.ne[0]; k++)
            ss += (double)row[k] * row[k];
        double rms = sqrt(ss / (double)ti.ne[0]);
        if (!(rms > 0.01 && rms < 0.04))
            fail_msg("%s (%s): rms %g", ti.name, spex_tensor_type_name(ti.type), rms);
    }
    scores ref, q8, fl;
    spex_llm_set_reference(m, 1);
    double t2 = spex_now();
    score_each(ctx, m, &s, 1, &ref);
    double t3 = spex_now();
    spex_llm_set_reference(m, 0);
    score_fast(ctx, m, &s, &q8);
    double t4 = spex_now();
    check_peak("int8 path", base, size);
    spex_llm_free(m);

    o.float_acts = 1;
    if (can_reset) reset_peak();
    base = vm_bytes("VmHWM");
    CHECK_RC(ctx, spex_llm_load(ctx, path, &o, &m));
    score_fast(ctx, m, &s, &fl);
    check_peak("float path", base, size);
    spex_llm_free(m);
    CHECK(remove(path) == 0);

    double wf = worst_dev(&s, &fl, &ref, TOL_FLOAT), wq = worst_dev(&s, &q8, &ref, TOL_INT8);
    if (fi == 0) /* no type of the int8 kernels: both paths are the float one */
        CHECK(worst_dev(&s, &fl, &q8, 0) == 0);
    printf("    worst |float - ref| %.2g nats (tolerance %g), |int8 - ref| %.3g nats (tolerance "
           "%g); 1 = 2 threads, batch = one at a time; reference %.1f s, fast (4 runs) %.1f s; "
           "first score %.4f\n",
           wf, TOL_FLOAT, wq, TOL_INT8, t3 - t2, t4 - t3, ref.sum[0]);
    *worst_float = fmax(*worst_float, wf);
    *worst_int8 = fmax(*worst_int8, wq);
}

/* The temp directory of the model files; teardown removes what a failed
 * check left there. */
typedef struct tmp_dir {
    char dir[512];
} tmp_dir;

static int make_dir(void **state) {
    tmp_dir *t = malloc(sizeof *t);
    const char *tmp = getenv("TMPDIR");
    if (!t) return -1;
    snprintf(t->dir, sizeof t->dir, "%s/spex_test_midsize_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    *state = t;
    return mkdtemp(t->dir) ? 0 : -1;
}

static int remove_dir(void **state) {
    tmp_dir *t = *state;
    char path[600];
    for (int fi = 0; fi < N_FILES; fi++) {
        snprintf(path, sizeof path, "%s/midsize-%s.gguf", t->dir, files[fi].name);
        remove(path); /* absent when the test passed */
    }
    int rc = rmdir(t->dir);
    free(t);
    return rc;
}

static void test_midsize(void **state) {
    const char *dir = ((tmp_dir *)*state)->dir;
    spex_ctx *ctx = spex_ctx_new();
    spex_gguf *vocab;
    CHECK_RC(ctx, spex_gguf_open(ctx, VOCAB_FILE, &vocab));
    int can_reset = reset_peak();
    printf("  peak memory %s\n", can_reset ? "reset before each load (clear_refs)"
                                           : "not resettable: measured from the earlier peak");
    if (!spexi_q8_supported()) printf("  int8 kernels not on this CPU: int8 path = float path\n");
    double wf = 0, wq = 0;
    for (int fi = 0; fi < N_FILES; fi++)
        check_file(ctx, vocab, dir, fi, can_reset, &wf, &wq);
    printf("  all files: worst |float - ref| %.2g, |int8 - ref| %.3g nats per log-prob\n", wf, wq);
    spex_gguf_free(vocab);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_midsize, make_dir, remove_dir)};
    SPEX_RUN_TESTS(tests);
}
