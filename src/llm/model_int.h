/* Internals of the model (not public API), shared by the files of the
 * engine: load.c builds a spex_llm from a GGUF file, kernels.c holds the
 * numeric kernels, forward.c runs tokens through the blocks and score.c
 * turns the logits into the public scores. */
#ifndef SPEX_MODEL_INT_H
#define SPEX_MODEL_INT_H

#include "llm/llm_int.h"

/* Positions processed at once: each weight row is read once per chunk. */
#define SPEXI_CHUNK 64

typedef float (*spexi_dot_fn)(const float *a, const float *b, int64_t n);

/* A weight matrix of n_out rows of n_in, in the mapped file. */
typedef struct spexi_wmat {
    int type; /* enum spex_tensor_type */
    int64_t n_in, n_out;
    size_t row_size;
    const uint8_t *data;
} spexi_wmat;

/* Kernel sets of the fast matmul (matmul.c), by what the CPU runs. */
enum { SPEXI_ISA_PORTABLE = 0, SPEXI_ISA_AVX2 = 1, SPEXI_ISA_AVX512 = 2 };

/* The weights of one block. Vectors point into spex_llm.vecs; a NULL one is
 * absent in the architecture. */
typedef struct spexi_layer {
    float *attn_norm, *ffn_norm; /* (dim) */
    float *an_b, *fn_b;          /* gpt2: LayerNorm biases (dim) */
    float *bq, *bk, *bv;         /* qwen2, gpt2: biases of q (dim), k and v (kv_dim) */
    float *bo, *bu, *bd;       /* gpt2: biases of attn_output (dim), ffn_up (ffn), ffn_down (dim) */
    spexi_wmat wq, wk, wv, wo; /* (dim -> dim), (dim -> kv_dim) x 2, (dim -> dim) */
    spexi_wmat wg, wu, wd;     /* (dim -> ffn) x 2, (ffn -> dim); wg empty in gpt2 */
    spexi_wmat wqkv;           /* gpt2: fused (dim -> dim + 2 kv_dim); wq, wk, wv are its rows */
} spexi_layer;

/* How an architecture computes a block (see the table in load.c). */
enum { SPEXI_NORM_RMS = 0, SPEXI_NORM_LAYER = 1 }; /* RMSNorm; LayerNorm + bias */
enum {
    SPEXI_ROPE_NONE = 0,
    SPEXI_ROPE_NORM = 1,
    SPEXI_ROPE_NEOX = 2
};                                                 /* pairs (2i, 2i+1); (i, i + n_rot/2) */
enum { SPEXI_MLP_SWIGLU = 0, SPEXI_MLP_GELU = 1 }; /* silu(gate) * up; GELU(up + b) */

typedef struct spexi_arch spexi_arch; /* load.c */

/* Per-chunk working memory, in llama2.c's RunState style: one slab carved
 * once by spexi_scratch_alloc, sized for n_threads. */
typedef struct spexi_scratch {
    float *x;      /* (CHUNK, dim) residual stream */
    float *q;      /* (CHUNK, dim) queries; then the output of attn_output and ffn_down */
    float *att;    /* (CHUNK, dim) attention output, heads side by side */
    float *k, *v;  /* (CHUNK, kv_dim) this chunk's keys and values */
    float *hb;     /* (CHUNK, ffn) MLP hidden: silu(gate) * up, or GELU(up) */
    float *hb2;    /* (CHUNK, ffn) MLP up projection (SwiGLU) */
    float *xb;     /* (CHUNK, dim) a block's normalised input; at the end the final hidden states */
    float *logits; /* (CHUNK, n_vocab) */
    float *rows;   /* (n_threads, spexi_matmul_rows_floats(max(dim, ffn))) dequantised weights */
    float *scores; /* (n_threads, n_ctx) attention scores per thread */
    int n_threads;
    float *slab; /* owned: all of the above */
} spexi_scratch;

struct spex_llm {
    spex_ctx *ctx;
    spex_gguf *g;
    llm_vocab vocab;
    spex_llm_info info;
    const spexi_arch *arch_desc;
    int norm, rope, mlp; /* SPEXI_NORM_*, SPEXI_ROPE_*, SPEXI_MLP_* of the architecture */
    char *arch, *name, *tok_model;
    int64_t head_dim, kv_dim, n_rot;
    spexi_wmat pos_embd; /* gpt2: learned positions (n_ctx_train, dim); else empty */
    float *out_norm;     /* (dim) */
    float *out_norm_b;   /* gpt2: final LayerNorm bias (dim); else NULL */
    float *vecs;         /* owned: every norm weight and bias vector */
    /* RoPE rotations (n_ctx, n_rot / 2) each: cos and sin of pos * base^(-2i / n_rot) */
    float *rope_cos, *rope_sin;
    spexi_layer *layers;
    spexi_wmat embd, output;
    int reference, kv_f16;
    int isa;  /* SPEXI_ISA_* of the fast matmul: the best the CPU has, found at load */
    int int8; /* 1: int8 activations against the quantised types of matmul_q8.c */
    spexi_dot_fn dot;
    spexi_deq_fn deq;
    /* KV cache: (n_layers, n_slots, kv_dim) each. Slots [0, n_ctx) hold the
     * running sequence, valid for cache_tok[0..n_cached); the SPEXI_CHUNK
     * slots after them hold the own positions of the sequences of one
     * multi-sequence pass (spexi_run_batch), valid only during it. */
    float *kc, *vc;
    int64_t n_slots;
    int32_t *cache_tok;
    int64_t n_cached;
    spexi_scratch s;
    /* component ablation (spex_llm_set_ablation), owned copies: flags
     * (n_layers * n_heads, n_layers) and replacement outputs (n_layers * dim
     * each, NULL = zero); abl_on when any flag is set */
    int abl_on;
    uint8_t *abl_heads, *abl_mlps;
    float *abl_head_val, *abl_mlp_val;
    spex_llm_ablation abl_view; /* the copies above as an ablation (when abl_on) */
    /* 1 (default): the batch scorers put several sequences in one forward
     * pass (spexi_run_batch); 0: one at a time, as benchmarks compare */
    int multi_seq;
    int64_t n_batch_passes; /* multi-sequence passes run so far (tests look) */
    /* spex_llm_component_means: running sums (n_layers * dim each) while
     * collecting, else NULL */
    double *sum_head, *sum_mlp;
};

/* ------------------------------------------------------ kernels.c -- */

/* dot(a, b) over n: the reference (double accumulation) or the fastest
 * the CPU runs. */
spexi_dot_fn spexi_pick_dot(int reference);
/* The portable dot product: 8 lanes, added in a fixed order. */
float spexi_dot_portable(const float *a, const float *b, int64_t n);
/* Worker threads of a forward pass: 1 on the reference path. */
int spexi_n_threads(const spex_llm *m);
/* Norm of a block's input over rows of dim: LayerNorm with bias b or
 * RMSNorm (b unused), by the architecture. */
void spexi_block_norm(const spex_llm *m, float *y, const float *x, const float *w, const float *b,
                      int64_t T);
/* x[i] = GELU(x[i]) for n values (tanh form). */
void spexi_gelu(float *x, int64_t n);
/* Turns n_heads heads of hd in x by one position's cos/sin rows (n_rot / 2). */
void spexi_rope(float *x, int64_t n_heads, int64_t hd, int64_t n_rot, const float *c,
                const float *s, int neox);
/* x (T, n) += b (n) on every row. */
void spexi_add_bias(float *x, const float *b, int64_t T, int64_t n);
/* cos and sin tables (n_ctx, n_rot / 2) of the RoPE angles; factors
 * (n_rot / 2) divide the frequencies, or NULL. */
void spexi_rope_tables(float *cs, float *sn, int64_t n_ctx, int64_t n_rot, double base,
                       double scale, const float *factors);

/* ------------------------------------------------------- matmul.c -- */

/* out (T, W.n_out) = x (T, W.n_in) . W^T, W read where it lies in the file.
 * rows: n_threads * spexi_matmul_rows_floats(W.n_in) floats of working
 * memory for dequantised weights. */
void spexi_matmul(const spex_llm *m, const spexi_wmat *w, const float *x, int64_t T, float *out,
                  float *rows);
/* Floats of spexi_matmul's working memory per thread for inputs <= max_in. */
int64_t spexi_matmul_rows_floats(int64_t max_in);
/* The best SPEXI_ISA_* this CPU runs. */
int spexi_isa_best(void);
/* "portable", "avx2", "avx512". */
const char *spexi_isa_name(int isa);
/* Makes the fast matmul use kernel set isa (tests run every set the CPU
 * has); SPEX_E_INVAL for one the CPU lacks. */
int spexi_set_isa(spex_llm *m, int isa);

/* ---------------------------------------------------- matmul_q8.c -- */

/* 1 when the CPU runs the int8 kernels (AVX-512 VNNI). */
int spexi_q8_supported(void);
/* 1 when spexi_matmul_q8 takes weights of type (scales per 32 weights). */
int spexi_q8_type(int type);
/* spexi_matmul with activations rounded to int8 per block of 32; rows: as
 * spexi_matmul's. */
void spexi_matmul_q8(const spex_llm *m, const spexi_wmat *w, const float *x, int64_t T, float *out,
                     float *rows);
/* Floats of spexi_matmul_q8's working memory per thread for inputs <= max_in. */
int64_t spexi_matmul_q8_floats(int64_t max_in);

/* ------------------------------------------------------ forward.c -- */

/* Called for every wanted position p with its logits (n_vocab) or, from a
 * hidden run, its final normalised hidden state (dim). */
typedef void (*spexi_emit_fn)(void *user, int64_t p, const float *logits);

/* As spexi_emit_fn, for sequence b of a multi-sequence pass. */
typedef void (*spexi_emit_batch_fn)(void *user, int64_t b, int64_t p, const float *h);

/* Makes m->s fit nt threads (a no-op when it does). */
int spexi_scratch_alloc(spex_llm *m, int nt);
/* Runs seq[0..n_run) through the model, reusing the cached prefix when
 * reuse, and for every position p in [want_from, n_run) computes the logits
 * and calls emit(p, logits) — or, with hidden, emit(p, h) with the final
 * hidden state h, leaving the output matrix to the caller (which batches it
 * across sequences). SPEX_E_RANGE for a token outside the vocabulary or a
 * sequence longer than the context. */
int spexi_run_seq(spex_llm *m, const int32_t *seq, int64_t n_run, int64_t want_from, int reuse,
                  int hidden, spexi_emit_fn emit, void *user);
/* Runs nb sequences in one forward pass, so that the weights stream once
 * for all of them: sequence b is seqs[b][0..n_run[b]), whose first P
 * positions are the cached ones (the caller ran them with spexi_run_seq
 * under the ablation that is set; P = 0: none shared) and whose positions
 * [P, n_run[b]) are computed here under ablation abl[b] (abl NULL or
 * abl[b] NULL: none; with P > 0 it must equal the one set). At most
 * SPEXI_CHUNK rows in all (sum of n_run[b] - P). For every p in
 * [want_from[b], n_run[b]) (want_from[b] >= P) emit(user, b, p, h) gets
 * the final hidden state, bit for bit what spexi_run_seq gives that
 * position. The cached prefix stays; the sequences' own positions do not. */
int spexi_run_batch(spex_llm *m, int64_t nb, const int32_t *const *seqs, const int64_t *n_run,
                    const int64_t *want_from, int64_t P, const spex_llm_ablation *const *abl,
                    spexi_emit_batch_fn emit, void *user);
/* SPEX_E_VALUE when a replacement value of a is not finite. */
int spexi_check_ablation(spex_llm *m, const spex_llm_ablation *a);

#endif
