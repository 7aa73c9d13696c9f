/*
 * spex/llm.h - a GGUF language-model engine: the loader, the tokenizer and the
 * llama forward pass that turn a prompt into next-token log-probabilities.
 * The LLM lens of spex (DESIGN.md §1) scores thousands of ablated prompts
 * through it.
 *
 * Three layers, each usable alone:
 *   spex_gguf   a parsed GGUF file (versions 2 and 3): metadata and tensor
 *               infos; tensor data stays in the memory-mapped file.
 *   spex_llm    a model built from a spex_gguf: tokenizer + weights.
 *   scoring     log p(continuation | prompt) under teacher forcing, for one
 *               prompt or a batch (KV cache reused across shared prefixes).
 *
 * Scoring convention (llama.cpp's): the prompt is tokenized with BOS; the
 * continuation's tokens are those that the tokenization of prompt +
 * continuation has beyond the prompt's tokens.
 *
 * Example:
 *     spex_llm *m;
 *     if (spex_llm_load(ctx, "model.gguf", NULL, &m)) puts(spex_errmsg(ctx));
 *     spex_llm_score_result r;
 *     spex_llm_score(m, "Review: the food was good . Sentiment:", " positive", &r);
 *     printf("%f\n", r.logprob);
 *     spex_llm_score_result_clear(m, &r);
 *     spex_llm_free(m);
 */
#ifndef SPEX_LLM_H
#define SPEX_LLM_H

#include "spex/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- GGUF -- */

typedef struct spex_gguf spex_gguf;

/* Metadata value types (GGUF spec numbering). */
enum spex_gguf_type {
    SPEX_GGUF_UINT8 = 0,
    SPEX_GGUF_INT8 = 1,
    SPEX_GGUF_UINT16 = 2,
    SPEX_GGUF_INT16 = 3,
    SPEX_GGUF_UINT32 = 4,
    SPEX_GGUF_INT32 = 5,
    SPEX_GGUF_FLOAT32 = 6,
    SPEX_GGUF_BOOL = 7,
    SPEX_GGUF_STRING = 8,
    SPEX_GGUF_ARRAY = 9,
    SPEX_GGUF_UINT64 = 10,
    SPEX_GGUF_INT64 = 11,
    SPEX_GGUF_FLOAT64 = 12
};

/* Tensor element types (ggml numbering); the ones this engine reads. */
enum spex_tensor_type {
    SPEX_TENSOR_F32 = 0,
    SPEX_TENSOR_F16 = 1,
    SPEX_TENSOR_Q4_0 = 2,
    SPEX_TENSOR_Q4_1 = 3,
    SPEX_TENSOR_Q5_0 = 6,
    SPEX_TENSOR_Q5_1 = 7,
    SPEX_TENSOR_Q8_0 = 8,
    SPEX_TENSOR_Q2_K = 10,
    SPEX_TENSOR_Q3_K = 11,
    SPEX_TENSOR_Q4_K = 12,
    SPEX_TENSOR_Q5_K = 13,
    SPEX_TENSOR_Q6_K = 14,
    SPEX_TENSOR_BF16 = 30
};

/* One tensor of a GGUF file. ne[0] is the innermost (contiguous) dimension:
 * a weight matrix with ne = {n_in, n_out} has n_out rows of n_in elements. */
typedef struct spex_tensor_info {
    const char *name; /* borrowed from the spex_gguf */
    int type;         /* enum spex_tensor_type */
    int n_dims;       /* 1..4 */
    int64_t ne[4];    /* dimensions; 1 past n_dims */
    uint64_t offset;  /* byte offset of the data in the file */
    size_t size;      /* bytes of data */
    const void *data; /* the data, in the mapping (borrowed) */
} spex_tensor_info;

/* Opens and memory-maps a GGUF file (versions 2 and 3) and checks every
 * count, length, type, offset and alignment against the file. Errors:
 * SPEX_E_IO (cannot open/map), SPEX_E_PARSE (malformed; the message names
 * the key or tensor and the byte offset), SPEX_E_UNSUPPORTED (GGUF v1,
 * unknown tensor type), SPEX_E_NOMEM. *out is owned; free with
 * spex_gguf_free. */
SPEX_API int spex_gguf_open(spex_ctx *ctx, const char *path, spex_gguf **out);
/* The same from a buffer of size bytes; the buffer is borrowed and must
 * outlive *out. name appears in error messages. */
SPEX_API int spex_gguf_open_buffer(spex_ctx *ctx, const void *data, size_t size, const char *name,
                                   spex_gguf **out);
SPEX_API void spex_gguf_free(spex_gguf *g);

SPEX_API uint32_t spex_gguf_version(const spex_gguf *g);
SPEX_API size_t spex_gguf_alignment(const spex_gguf *g);
SPEX_API int64_t spex_gguf_n_kv(const spex_gguf *g);
/* Index of key, or -1. */
SPEX_API int64_t spex_gguf_find_key(const spex_gguf *g, const char *key);
SPEX_API const char *spex_gguf_key(const spex_gguf *g, int64_t i);
/* enum spex_gguf_type of value i; for arrays also the element type. */
SPEX_API int spex_gguf_kv_type(const spex_gguf *g, int64_t i);
SPEX_API int spex_gguf_arr_type(const spex_gguf *g, int64_t i);
/* Elements of array i (0 when i is not an array). */
SPEX_API int64_t spex_gguf_arr_n(const spex_gguf *g, int64_t i);
/* Scalar value i (or element j of array i when j >= 0) as an integer, a
 * float or a string (not NUL-terminated: *len bytes). SPEX_E_INVAL when the
 * type does not convert (integers and bools convert to int, every number to
 * float; unsigned 64-bit values above INT64_MAX do not convert to int). */
SPEX_API int spex_gguf_get_int(const spex_gguf *g, int64_t i, int64_t j, int64_t *out);
SPEX_API int spex_gguf_get_float(const spex_gguf *g, int64_t i, int64_t j, double *out);
SPEX_API int spex_gguf_get_str(const spex_gguf *g, int64_t i, int64_t j, const char **s,
                               size_t *len);

SPEX_API int64_t spex_gguf_n_tensors(const spex_gguf *g);
/* Index of the tensor called name, or -1. */
SPEX_API int64_t spex_gguf_find_tensor(const spex_gguf *g, const char *name);
SPEX_API void spex_gguf_tensor(const spex_gguf *g, int64_t i, spex_tensor_info *out);

/* "F32", "Q4_K", ... or NULL for a type this engine does not read. */
SPEX_API const char *spex_tensor_type_name(int type);
/* Elements per block and bytes per block of a type; 0 when unknown. */
SPEX_API int64_t spex_tensor_block_elems(int type);
SPEX_API size_t spex_tensor_block_size(int type);
/* Dequantises n elements (a multiple of the block) of type from src into
 * dst (n floats). SPEX_E_INVAL for an unknown type or a partial block. */
SPEX_API int spex_tensor_to_f32(spex_ctx *ctx, int type, const void *src, int64_t n, float *dst);

/* ---------------------------------------------------------------- model -- */

typedef struct spex_llm spex_llm;

typedef struct spex_llm_opts {
    int reference;  /* 1: plain scalar single-threaded kernels (the test
                       oracle); 0 (default): SIMD + threads of the ctx */
    int n_ctx;      /* context length for the KV cache (0: the model's,
                       capped at 4096) */
    int kv_f16;     /* 1: round cached keys and values to IEEE half, as
                       llama.cpp's default F16 KV cache does (to compare
                       with results made that way); 0 (default): F32 */
    int float_acts; /* 1: activations stay F32 against quantised weights
                       (dequantised, multiplied in float); 0 (default):
                       rounded to int8 per block of 32 against Q8_0, Q4_0,
                       Q4_1, Q5_0, Q5_1, Q4_K and Q5_K weights where the CPU
                       has AVX-512 VNNI, as llama.cpp does (faster; moves
                       log-probabilities by about 1e-3 nats) */
} spex_llm_opts;
SPEX_API spex_llm_opts spex_llm_opts_default(void);

/* Sizes and names of a loaded model. Strings are borrowed from the model. */
typedef struct spex_llm_info {
    const char *arch;      /* general.architecture */
    const char *name;      /* general.name or "" */
    const char *tokenizer; /* tokenizer.ggml.model ("llama" or "gpt2") */
    int64_t n_vocab, dim, n_layers, n_heads, n_kv_heads, ffn_dim, n_ctx_train, n_ctx;
    double rope_base, rms_eps;
    double rope_freq_scale; /* linear RoPE scaling: positions times this (1: none) */
    int tied_output;        /* 1 when the output matrix is token_embd */
    int32_t bos, eos;       /* -1 when absent */
    int add_bos;
    int64_t n_params;
} spex_llm_info;

/* Loads a GGUF model of the "llama", "qwen2" or "gpt2" architecture (opts
 * NULL: defaults). Errors name the missing key or tensor and the shape
 * expected. SPEX_E_UNSUPPORTED for other architectures or tokenizers (other
 * than "llama" SentencePiece and gpt-2 BPE). */
SPEX_API int spex_llm_load(spex_ctx *ctx, const char *path, const spex_llm_opts *opts,
                           spex_llm **out);
SPEX_API void spex_llm_free(spex_llm *m);
SPEX_API void spex_llm_get_info(const spex_llm *m, spex_llm_info *out);
/* The parsed file behind the model (borrowed). */
SPEX_API const spex_gguf *spex_llm_gguf(const spex_llm *m);
/* Switches between the reference and the fast kernels; a switch drops the
 * KV cache (its keys and values came from the other kernels). */
SPEX_API void spex_llm_set_reference(spex_llm *m, int reference);

/* ------------------------------------------------------------ tokenizer -- */

/* Tokenizes len bytes of text as llama.cpp does: SentencePiece
 * (tokenizer.ggml.model "llama": a space prefix, byte fallback) or
 * byte-level BPE ("gpt2" with the gpt-2 pre-tokenizer); with add_bos the
 * model's BOS first (and EOS last) when its metadata says so. User-defined
 * special tokens in the text are not parsed as such. *tokens is owned (spex_free with the model's
 * ctx); *n_tokens its length. */
SPEX_API int spex_llm_tokenize(spex_llm *m, const char *text, size_t len, int add_bos,
                               int32_t **tokens, int64_t *n_tokens);
/* The text of one token as it appears in output (▁ as space, byte tokens
 * as their byte, control tokens empty); *len bytes, borrowed. */
SPEX_API int spex_llm_token_piece(const spex_llm *m, int32_t token, const char **piece,
                                  size_t *len);
/* Concatenated pieces, NUL-terminated, owned; strips the space that the
 * tokenizer prefixed when strip_space_prefix. */
SPEX_API int spex_llm_detokenize(spex_llm *m, const int32_t *tokens, int64_t n,
                                 int strip_space_prefix, char **text);

/* -------------------------------------------------------------- scoring -- */

/* Next-token log-probabilities (natural log, full-vocabulary log-softmax)
 * after tokens[0..n): logprobs has n_vocab entries. */
SPEX_API int spex_llm_next_logprobs(spex_llm *m, const int32_t *tokens, int64_t n,
                                    double *logprobs);
/* Teacher forcing: token_logprobs[i] = log p(tokens[from + i] | tokens[0..from+i))
 * for i in [0, n - from); from >= 1. */
SPEX_API int spex_llm_token_logprobs(spex_llm *m, const int32_t *tokens, int64_t n, int64_t from,
                                     double *token_logprobs);

typedef struct spex_llm_score_result {
    int32_t *prompt_tokens; /* owned; BOS included */
    int64_t n_prompt;
    int32_t *continuation_tokens; /* owned */
    int64_t n_continuation;
    double *token_logprobs; /* owned; n_continuation */
    double logprob;         /* their sum */
} spex_llm_score_result;

/* Scores one continuation after one prompt (texts, NUL-terminated). Free
 * the result's arrays with spex_llm_score_result_clear. SPEX_E_INVAL when the
 * continuation adds no token or the prompt's tokens are not a prefix of the
 * joint tokenization. */
SPEX_API int spex_llm_score(spex_llm *m, const char *prompt, const char *continuation,
                            spex_llm_score_result *out);
SPEX_API void spex_llm_score_result_clear(spex_llm *m, spex_llm_score_result *r);
/* Summed continuation log-probability for n prompt/continuation pairs given
 * as token sequences: seqs[i] holds lens[i] tokens, of which the first
 * from[i] are the prompt. out[i]: the sum. With reuse_prefix the sequences
 * are visited in token order and each reuses the KV cache of the previous
 * one for their common prefix (ablated variants of one prompt share their
 * start); runs of neighbours share one forward pass after their common
 * prefix (their rows stacked, so each weight streams once for all of
 * them). Results are bit-identical with and without reuse, and to one
 * sequence at a time. */
SPEX_API int spex_llm_score_tokens_batch(spex_llm *m, int64_t n, const int32_t *const *seqs,
                                         const int64_t *lens, const int64_t *from, int reuse_prefix,
                                         double *out);
/* Teacher forcing for n sequences at once, as spex_llm_token_logprobs for
 * each: token_logprobs[i][j] = log p(seqs[i][from[i] + j] | the tokens
 * before) for j < lens[i] - from[i] (from[i] >= 1), visited in token order
 * with the KV cache reused for common prefixes and the output matrix
 * applied to many sequences' positions at once; the same bits as one
 * sequence at a time. */
SPEX_API int spex_llm_token_logprobs_batch(spex_llm *m, int64_t n, const int32_t *const *seqs,
                                           const int64_t *lens, const int64_t *from,
                                           double *const *token_logprobs);
/* Text-level batch: out[i] = log p(continuations[i] | prompts[i]) by the
 * convention above, for n pairs (tokenized, then scored as by
 * spex_llm_score_tokens_batch). SPEX_E_INVAL names the pair whose
 * continuation adds no token. */
SPEX_API int spex_llm_score_batch(spex_llm *m, int64_t n, const char *const *prompts,
                                  const char *const *continuations, int reuse_prefix, double *out);
/* Greedy continuation: appends up to n_new tokens (argmax, ties to the lower
 * id; stops after EOS) to tokens[0..n) and returns them in *out (owned,
 * *n_out of them). */
SPEX_API int spex_llm_generate(spex_llm *m, const int32_t *tokens, int64_t n, int64_t n_new,
                               int32_t **out, int64_t *n_out);

/* ------------------------------------------------------------ ablation -- */

/* Component ablation, for the mechanistic lens (spex/heads.h). Components are
 * attention heads — query head h of layer l: its slice of the attention
 * output (head_dim values), before the output matrix — and MLP blocks — the
 * feed-forward output of layer l, before it joins the residual stream. An
 * ablated component's output is replaced, at every position, by zero or by a
 * given vector (e.g. its mean over reference prompts, from
 * spex_llm_component_means). Zeroing head h is the same as zeroing columns
 * h*head_dim .. (h+1)*head_dim of that layer's output matrix. */
typedef struct spex_llm_ablation {
    const uint8_t *heads;     /* n_layers * n_heads flags, [l * n_heads + h];
                                 nonzero = ablated; NULL: no head */
    const uint8_t *mlps;      /* n_layers flags; NULL: no MLP block */
    const float *head_values; /* NULL: zero; else n_layers * n_heads * head_dim
                                 floats, [(l * n_heads + h) * head_dim + i] */
    const float *mlp_values;  /* NULL: zero; else n_layers * dim floats */
} spex_llm_ablation;

/* head_dim of the model (dim / n_heads). */
SPEX_API int64_t spex_llm_head_dim(const spex_llm *m);
/* Sets the ablation of every later forward pass (the arrays are copied); a
 * NULL or empty one switches it off. Drops the KV cache (its keys and values
 * depend on the ablation). SPEX_E_VALUE for a non-finite value. */
SPEX_API int spex_llm_set_ablation(spex_llm *m, const spex_llm_ablation *a);
/* Batch scoring under ablations: as spex_llm_score_tokens_batch with
 * reuse, but sequence i runs under ablation abl[i] (NULL: none; see
 * spex_llm_set_ablation), in the given order; a sequence reuses the KV
 * cache of the one before it only when both have the same abl pointer, so
 * give consecutive sequences of one ablation the same pointer. Sequences
 * under different ablations still share forward passes, each row under
 * its own ablation. The output
 * matrix is applied to many sequences' positions at once. The ablation is
 * off on return. */
SPEX_API int spex_llm_score_ablated_batch(spex_llm *m, int64_t n, const int32_t *const *seqs,
                                          const int64_t *lens, const int64_t *from,
                                          const spex_llm_ablation *const *abl, double *out);
/* Mean output of every head (head_means: n_layers * n_heads * head_dim, laid
 * out as head_values) and MLP block (mlp_means: n_layers * dim) over every
 * position of n token sequences (seqs[i]: lens[i] tokens), computed without
 * ablation; the ablation that was set stays set. Either output may be NULL. */
SPEX_API int spex_llm_component_means(spex_llm *m, int64_t n, const int32_t *const *seqs,
                                      const int64_t *lens, float *head_means, float *mlp_means);

#ifdef __cplusplus
}
#endif
#endif
