/*
 * Builds a spex_llm from a GGUF file: the hyper-parameters from the
 * "<arch>.*" keys, the tensors an architecture reads (a table per
 * architecture: names and shapes in the model's sizes, and where each one
 * goes), the RoPE tables and the KV cache. forward.c runs the model,
 * matmul.c and kernels.c hold its kernels.
 *
 * Architectures (general.architecture):
 *   llama  RMSNorm, RoPE on adjacent pairs (2i, 2i+1), grouped-query
 *          attention, SwiGLU MLP, output matrix separate or tied to the
 *          token embedding.
 *   qwen2  llama with biases on q, k and v and RoPE in GPT-NeoX order
 *          (pairs (i, i + n_rot/2)).
 *   gpt2   LayerNorm with biases, learned position embeddings added to the
 *          token's, a fused qkv matrix (split at load into row views of q,
 *          k, v), biases on every matmul, an up -> GELU -> down MLP, no RoPE.
 * Weight matrices stay in the mapped file; norm weights and biases are
 * copied as floats into one slab (spex_llm.vecs).
 *
 * Weight matrices are never copied: matmul.c reads them where they lie in
 * the mapping, so memory is about the file size plus the KV cache and a
 * chunk's scratch. RoPE angles come from cos/sin tables (n_ctx, n_rot/2)
 * made here.
 */
#include "llm/model_int.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------ architectures -- */

/* A tensor dimension in the model's sizes. */
enum { SZ_1, SZ_DIM, SZ_KV, SZ_FFN, SZ_QKV, SZ_VOCAB, SZ_CTX_TRAIN, SZ_COUNT };

/* A matrix (a spexi_wmat into the file), an optional one (left empty when
 * absent), a vector (a float * to its copy in spex_llm.vecs). */
enum { T_MAT, T_OPT_MAT, T_VEC };

typedef struct tensor_spec {
    const char *name; /* a block's tensor: after "blk.<l>." */
    int kind;         /* T_* */
    int n_in, n_out;  /* SZ_*: ne[0] and ne[1] (n_out rows of n_in); a vector is (n_in, 1) */
    size_t off;       /* of the destination in spex_llm (model tensors) or spexi_layer (block) */
} tensor_spec;

struct spexi_arch {
    const char *name; /* general.architecture, and the prefix of its keys */
    int norm, rope, mlp;
    const tensor_spec *top; /* the model's tensors, read first */
    int n_top;
    const tensor_spec *blk; /* each block's, in the order they are read */
    int n_blk;
    /* wiring a table cannot express, after block ly's tensors are read; or NULL */
    void (*wire)(const spex_llm *m, spexi_layer *ly);
};

#define TOP(f) offsetof(struct spex_llm, f)
#define BLK(f) offsetof(spexi_layer, f)
#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const tensor_spec llama_top[] = {
    {"token_embd.weight", T_MAT, SZ_DIM, SZ_VOCAB, TOP(embd)},
    {"output_norm.weight", T_VEC, SZ_DIM, SZ_1, TOP(out_norm)},
    {"output.weight", T_OPT_MAT, SZ_DIM, SZ_VOCAB, TOP(output)}, /* absent: token_embd */
};

/* llama's block, which qwen2 extends */
#define LLAMA_BLK_SPECS                                                                            \
    {"attn_norm.weight", T_VEC, SZ_DIM, SZ_1, BLK(attn_norm)},                                     \
        {"ffn_norm.weight", T_VEC, SZ_DIM, SZ_1, BLK(ffn_norm)},                                   \
        {"attn_output.weight", T_MAT, SZ_DIM, SZ_DIM, BLK(wo)},                                    \
        {"ffn_up.weight", T_MAT, SZ_DIM, SZ_FFN, BLK(wu)},                                         \
        {"ffn_down.weight", T_MAT, SZ_FFN, SZ_DIM, BLK(wd)},                                       \
        {"attn_q.weight", T_MAT, SZ_DIM, SZ_DIM, BLK(wq)},                                         \
        {"attn_k.weight", T_MAT, SZ_DIM, SZ_KV, BLK(wk)},                                          \
        {"attn_v.weight", T_MAT, SZ_DIM, SZ_KV, BLK(wv)},                                          \
        {"ffn_gate.weight", T_MAT, SZ_DIM, SZ_FFN, BLK(wg)},

static const tensor_spec llama_blk[] = {LLAMA_BLK_SPECS};

/* llama's block and the q, k, v biases (unformatted: clang-format would
 * join the macro to the next entry) */
// clang-format off
static const tensor_spec qwen2_blk[] = {
    LLAMA_BLK_SPECS
    {"attn_q.bias", T_VEC, SZ_DIM, SZ_1, BLK(bq)},
    {"attn_k.bias", T_VEC, SZ_KV, SZ_1, BLK(bk)},
    {"attn_v.bias", T_VEC, SZ_KV, SZ_1, BLK(bv)},
};
// clang-format on

static const tensor_spec gpt2_top[] = {
    {"token_embd.weight", T_MAT, SZ_DIM, SZ_VOCAB, TOP(embd)},
    {"output_norm.weight", T_VEC, SZ_DIM, SZ_1, TOP(out_norm)},
    {"output.weight", T_OPT_MAT, SZ_DIM, SZ_VOCAB, TOP(output)}, /* absent: token_embd */
    {"output_norm.bias", T_VEC, SZ_DIM, SZ_1, TOP(out_norm_b)},
    {"position_embd.weight", T_MAT, SZ_DIM, SZ_CTX_TRAIN, TOP(pos_embd)},
};

static const tensor_spec gpt2_blk[] = {
    {"attn_norm.weight", T_VEC, SZ_DIM, SZ_1, BLK(attn_norm)},
    {"ffn_norm.weight", T_VEC, SZ_DIM, SZ_1, BLK(ffn_norm)},
    {"attn_output.weight", T_MAT, SZ_DIM, SZ_DIM, BLK(wo)},
    {"ffn_up.weight", T_MAT, SZ_DIM, SZ_FFN, BLK(wu)},
    {"ffn_down.weight", T_MAT, SZ_FFN, SZ_DIM, BLK(wd)},
    {"attn_qkv.weight", T_MAT, SZ_DIM, SZ_QKV, BLK(wqkv)}, /* rows [0, dim) q, then k, then v */
    {"attn_qkv.bias", T_VEC, SZ_QKV, SZ_1, BLK(bq)},       /* q's, then k's and v's */
    {"attn_norm.bias", T_VEC, SZ_DIM, SZ_1, BLK(an_b)},
    {"ffn_norm.bias", T_VEC, SZ_DIM, SZ_1, BLK(fn_b)},
    {"attn_output.bias", T_VEC, SZ_DIM, SZ_1, BLK(bo)},
    {"ffn_up.bias", T_VEC, SZ_FFN, SZ_1, BLK(bu)},
    {"ffn_down.bias", T_VEC, SZ_DIM, SZ_1, BLK(bd)},
};

/* gpt2: q, k and v are row views of the fused matrix, their biases slices
 * of the fused bias. */
static void gpt2_wire(const spex_llm *m, spexi_layer *ly) {
    int64_t D = m->info.dim, KV = m->kv_dim;
    ly->wq = ly->wk = ly->wv = ly->wqkv;
    ly->wq.n_out = D;
    ly->wk.n_out = ly->wv.n_out = KV;
    ly->wk.data = ly->wqkv.data + (size_t)D * ly->wqkv.row_size;
    ly->wv.data = ly->wk.data + (size_t)KV * ly->wqkv.row_size;
    ly->bk = ly->bq + D;
    ly->bv = ly->bk + KV;
}

static const spexi_arch archs[] = {
    {"llama", SPEXI_NORM_RMS, SPEXI_ROPE_NORM, SPEXI_MLP_SWIGLU, llama_top, N_OF(llama_top),
     llama_blk, N_OF(llama_blk), NULL},
    {"qwen2", SPEXI_NORM_RMS, SPEXI_ROPE_NEOX, SPEXI_MLP_SWIGLU, llama_top, N_OF(llama_top),
     qwen2_blk, N_OF(qwen2_blk), NULL},
    {"gpt2", SPEXI_NORM_LAYER, SPEXI_ROPE_NONE, SPEXI_MLP_GELU, gpt2_top, N_OF(gpt2_top), gpt2_blk,
     N_OF(gpt2_blk), gpt2_wire},
};

static int get_key_int(spex_ctx *ctx, const spex_gguf *g, const char *key, int64_t def, int64_t lo,
                       int64_t hi, int64_t *out) {
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
static int get_mat(spex_llm *m, const char *name, int64_t n_in, int64_t n_out, spexi_wmat *w,
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
    spexi_wmat w = {0}; /* filled by get_mat on success; gcc -O3 cannot see it */
    int rc = get_mat(m, name, n, 1, &w, NULL);
    if (rc) return rc;
    return spex_tensor_to_f32(m->ctx, w.type, w.data, n, dst);
}

/* -------------------------------------------------------------- loading -- */

static const spexi_arch *find_arch(const char *name) {
    for (int i = 0; i < N_OF(archs); i++)
        if (!strcmp(archs[i].name, name)) return &archs[i];
    return NULL;
}

/* Floats of the vectors among n specs. */
static int64_t vec_floats(const spex_llm *m, const tensor_spec *spec, int n) {
    const spex_llm_info *I = &m->info;
    int64_t size[SZ_COUNT] = {
        1, I->dim, m->kv_dim, I->ffn_dim, I->dim + 2 * m->kv_dim, I->n_vocab, I->n_ctx_train};
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        if (spec[i].kind == T_VEC) total += size[spec[i].n_in];
    return total;
}

/* Reads the n tensors of spec into the fields of base (block l, or the
 * model's when l < 0), the vectors' values at *vec onwards (*vec advances). */
static int load_tensors(spex_llm *m, const tensor_spec *spec, int n, void *base, int64_t l,
                        float **vec) {
    const spex_llm_info *I = &m->info;
    int64_t size[SZ_COUNT] = {
        1, I->dim, m->kv_dim, I->ffn_dim, I->dim + 2 * m->kv_dim, I->n_vocab, I->n_ctx_train};
    char nm[96];
    for (int i = 0; i < n; i++) {
        const tensor_spec *t = &spec[i];
        const char *name = t->name;
        char *dst = (char *)base + t->off;
        int rc, found;
        if (l >= 0) {
            snprintf(nm, sizeof nm, "blk.%lld.%s", (long long)l, t->name);
            name = nm;
        }
        if (t->kind == T_VEC) {
            float *v = *vec;
            *vec += size[t->n_in];
            *(float **)(void *)dst = v;
            rc = get_vec(m, name, size[t->n_in], v);
        } else {
            rc = get_mat(m, name, size[t->n_in], size[t->n_out], (spexi_wmat *)(void *)dst,
                         t->kind == T_OPT_MAT ? &found : NULL);
        }
        if (rc) return rc;
    }
    return SPEX_OK;
}

/* The "<arch>.*" hyper-parameters, head_dim, kv_dim and n_rot. */
static int read_hparams(spex_llm *m, const char *path, const spex_llm_opts *o) {
    spex_ctx *ctx = m->ctx;
    const spex_gguf *g = m->g;
    spex_llm_info *I = &m->info;
    char akey[96];
#define AK(suffix) (snprintf(akey, sizeof akey, "%s." suffix, m->arch), akey)
    const int64_t big = (int64_t)1 << 24;
    int rc;
    /* LayerNorm's epsilon has a key of its own, read after the RMS one */
    if ((rc = get_key_int(ctx, g, AK("embedding_length"), -1, 1, big, &I->dim)) ||
        (rc = get_key_int(ctx, g, AK("block_count"), -1, 1, 4096, &I->n_layers)) ||
        (rc = get_key_int(ctx, g, AK("feed_forward_length"), -1, 1, big, &I->ffn_dim)) ||
        (rc = get_key_int(ctx, g, AK("attention.head_count"), -1, 1, 4096, &I->n_heads)) ||
        (rc = get_key_int(ctx, g, AK("attention.head_count_kv"), I->n_heads, 1, I->n_heads,
                          &I->n_kv_heads)) ||
        (rc = get_key_int(ctx, g, AK("context_length"), 2048, 1, big, &I->n_ctx_train)) ||
        (rc = get_key_float(ctx, g, AK("rope.freq_base"), 10000.0, &I->rope_base)) ||
        (rc = get_key_float(ctx, g, AK("attention.layer_norm_rms_epsilon"), 1e-5, &I->rms_eps)) ||
        (m->norm == SPEXI_NORM_LAYER &&
         (rc = get_key_float(ctx, g, AK("attention.layer_norm_epsilon"), 1e-5, &I->rms_eps))))
        return rc;
    if (I->dim % I->n_heads || I->n_heads % I->n_kv_heads || (I->dim / I->n_heads) % 2)
        return spex_seterr(ctx, SPEX_E_PARSE,
                           "%s: dim %lld, %lld heads, %lld kv heads do not divide evenly", path,
                           (long long)I->dim, (long long)I->n_heads, (long long)I->n_kv_heads);
    m->head_dim = I->dim / I->n_heads;
    m->kv_dim = m->head_dim * I->n_kv_heads;
    if ((rc = rope_scaling(ctx, g, m->arch, &I->rope_freq_scale))) {
        spex_errprefix(ctx, "%s", path);
        return rc;
    }
    if ((rc = get_key_int(ctx, g, AK("rope.dimension_count"), m->head_dim, 2, m->head_dim,
                          &m->n_rot)))
        return rc;
#undef AK
    m->n_rot &= ~(int64_t)1;
    I->n_ctx = o->n_ctx > 0 ? o->n_ctx : (I->n_ctx_train < 4096 ? I->n_ctx_train : 4096);
    return SPEX_OK;
}

/* Every tensor of the architecture's tables; the vectors into one slab. */
static int load_weights(spex_llm *m) {
    const spexi_arch *a = m->arch_desc;
    spex_llm_info *I = &m->info;
    int64_t L = I->n_layers;
    int64_t n_vec = vec_floats(m, a->top, a->n_top) + L * vec_floats(m, a->blk, a->n_blk);
    m->layers = spex_calloc(m->ctx, (size_t)L, sizeof *m->layers);
    m->vecs = spex_calloc(m->ctx, (size_t)n_vec, sizeof(float));
    if (!m->layers || !m->vecs) return SPEX_E_NOMEM;
    float *vec = m->vecs;
    int rc = load_tensors(m, a->top, a->n_top, m, -1, &vec);
    if (rc) return rc;
    I->tied_output = !m->output.data;
    if (I->tied_output) m->output = m->embd;
    /* learned positions: none beyond the trained context */
    if (m->pos_embd.data && I->n_ctx > I->n_ctx_train) I->n_ctx = I->n_ctx_train;
    for (int64_t l = 0; l < L; l++) {
        if ((rc = load_tensors(m, a->blk, a->n_blk, &m->layers[l], l, &vec))) return rc;
        if (a->wire) a->wire(m, &m->layers[l]);
    }
    return SPEX_OK;
}

/* cos/sin tables of the RoPE angles, with the per-frequency factors of a
 * rope_freqs tensor when the file has one (Llama 3.1+). */
static int make_rope_tables(spex_llm *m, const char *path) {
    spex_ctx *ctx = m->ctx;
    const spex_llm_info *I = &m->info;
    /* n_ctx <= 2^24 and n_rot <= 2^24: the product fits */
    m->rope_cos = spex_malloc(ctx, (size_t)(I->n_ctx * m->n_rot) * sizeof(float));
    if (!m->rope_cos) return SPEX_E_NOMEM;
    m->rope_sin = m->rope_cos + I->n_ctx * (m->n_rot / 2);
    float *factors = NULL;
    int rc = SPEX_OK;
    if (spex_gguf_find_tensor(m->g, "rope_freqs.weight") >= 0) {
        factors = spex_malloc(ctx, (size_t)(m->n_rot / 2) * sizeof *factors);
        if (!factors) return SPEX_E_NOMEM;
        rc = get_vec(m, "rope_freqs.weight", m->n_rot / 2, factors);
        for (int64_t i = 0; !rc && i < m->n_rot / 2; i++)
            if (!(factors[i] > 0) || !isfinite(factors[i]))
                rc = spex_seterr(ctx, SPEX_E_PARSE,
                                 "%s: tensor 'rope_freqs.weight': entry %lld is not a "
                                 "positive number",
                                 path, (long long)i);
    }
    if (!rc)
        spexi_rope_tables(m->rope_cos, m->rope_sin, I->n_ctx, m->n_rot, I->rope_base,
                          I->rope_freq_scale, factors);
    spex_free(ctx, factors);
    return rc;
}

spex_llm_opts spex_llm_opts_default(void) {
    spex_llm_opts o = {0, 0, 0, 0};
    return o;
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
    const spexi_arch *a = m->arch_desc = find_arch(m->arch);
    if (!a) {
        rc = spex_seterr(ctx, SPEX_E_UNSUPPORTED,
                         "%s: key 'general.architecture' = '%s': only 'llama', 'qwen2' and "
                         "'gpt2' are supported",
                         path, m->arch);
        goto done;
    }
    m->norm = a->norm;
    m->rope = a->rope;
    m->mlp = a->mlp;
    if ((rc = read_hparams(m, path, &o))) goto done;
    if ((rc = spexi_vocab_load(ctx, g, &m->vocab))) {
        spex_errprefix(ctx, "%s", path);
        goto done;
    }
    I->n_vocab = m->vocab.n;
    I->bos = m->vocab.bos;
    I->eos = m->vocab.eos;
    I->add_bos = m->vocab.add_bos;
    if ((rc = load_weights(m))) goto done;
    for (int64_t i = 0; i < spex_gguf_n_tensors(g); i++) {
        spex_tensor_info t;
        spex_gguf_tensor(g, i, &t);
        I->n_params += t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3];
    }
    /* KV cache: keys then values, (n_layers, n_slots, kv_dim) each */
    m->n_slots = I->n_ctx + SPEXI_CHUNK;
    double cache = 2.0 * (double)I->n_layers * (double)m->n_slots * (double)m->kv_dim;
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
    if ((rc = make_rope_tables(m, path))) goto done;
    m->reference = o.reference;
    m->kv_f16 = o.kv_f16;
    m->isa = spexi_isa_best();
    m->int8 = !o.float_acts && spexi_q8_supported();
    m->multi_seq = 1;
    m->dot = spexi_pick_dot(m->reference);
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
    spex_free(ctx, m->vecs);
    spex_free(ctx, m->kc);
    spex_free(ctx, m->cache_tok);
    spex_free(ctx, m->rope_cos);
    spex_free(ctx, m->s.slab);
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
    /* cached keys and values were made by the other kernels: a prefix
     * reused from them would mix both paths into one score */
    if (reference != m->reference) m->n_cached = 0;
    m->reference = reference;
    m->dot = spexi_pick_dot(reference);
    m->deq = spexi_pick_dequant(reference);
}
