/* Internals of src/llm shared between its files (not public API): the parsed
 * GGUF file, the vocabulary, the model. */
#ifndef SPEX_LLM_INT_H
#define SPEX_LLM_INT_H

#include "spex/llm.h"

typedef struct gguf_kv {
    char *key;          /* owned, NUL-terminated */
    uint32_t type;      /* enum spex_gguf_type */
    uint32_t arr_type;  /* element type when type == ARRAY */
    uint64_t n;         /* elements when ARRAY */
    const uint8_t *val; /* the value's bytes (after the type / array header) */
    uint64_t *str_off;  /* owned: byte offsets into val of each string of a
                           string array (its 8-byte length first) */
} gguf_kv;

typedef struct gguf_tensor {
    char *name; /* owned */
    spex_tensor_info info;
} gguf_tensor;

struct spex_gguf {
    spex_ctx *ctx;
    const uint8_t *base;
    size_t size;
    int mapped; /* base is an mmap of size bytes */
    uint32_t version;
    size_t alignment;
    size_t data_off;
    int64_t n_kv, n_tensors;
    gguf_kv *kv;
    gguf_tensor *tensors;
};

/* IEEE half and bfloat16 to float. */
float spexi_f16_to_f32(uint16_t h);
float spexi_bf16_to_f32(uint16_t h);
/* float to IEEE half, round to nearest even. */
uint16_t spexi_f32_to_f16(float f);

/* Dequantises n elements of one row (whole blocks) into dst; the fast
 * variant is chosen by the CPU at run time, the reference is the scalar
 * code. Both give identical floats. */
typedef void (*spexi_deq_fn)(int type, const void *src, int64_t n, float *dst);
spexi_deq_fn spexi_pick_dequant(int reference);
/* AVX2, FMA and F16C all present (every fast F16 path needs the three). */
int spexi_cpu_avx2_f16c(void);

/* Vocabulary (tokenizer.c). */
#include "core/hash_int.h"

enum { LLM_PRE_GPT2 = 0, LLM_PRE_DEEPSEEK_CODER = 1, LLM_PRE_LLAMA3 = 2, LLM_PRE_QWEN2 = 3 };
typedef struct llm_vocab {
    int64_t n;
    const char **text;   /* token texts, borrowed from the gguf (not NUL-terminated) */
    uint32_t *len;       /* their byte lengths */
    char *piece_slab;    /* owned: output text of every token */
    uint64_t *piece_off; /* n + 1 offsets into piece_slab */
    float *score;
    int32_t *type;     /* 1 normal, 2 unknown, 3 control, 4 user, 6 byte */
    spexi_hash tokens; /* token text -> id (the last id of a duplicate text) */
    int32_t byte_tok[256];
    int32_t bos, eos, unk;
    int add_bos, add_eos, add_space_prefix;
    int bpe;           /* 0: SentencePiece ("llama"), 1: byte-level BPE ("gpt2") */
    int pre;           /* BPE pre-tokenizer (tokenizer.ggml.pre): LLM_PRE_* */
    int ignore_merges; /* BPE: a word that is a token is that token (llama3) */
    int32_t *user;     /* BPE: user-defined token ids, longest text first */
    int64_t n_user;
    /* BPE merges "left right" by rank: texts borrowed from the gguf */
    int64_t n_merges;
    const char **merge_text;
    uint32_t *merge_len;
    spexi_hash merges; /* merge text -> rank (the first rank of a duplicate) */
} llm_vocab;

int spexi_vocab_load(spex_ctx *ctx, const spex_gguf *g, llm_vocab *v);
void spexi_vocab_clear(spex_ctx *ctx, llm_vocab *v);
int32_t spexi_vocab_find(const llm_vocab *v, const char *s, size_t len);
/* Tokenization of text (SentencePiece or byte-level BPE by the vocabulary),
 * with BOS/EOS by the vocabulary's rules when add_bos. */
int spexi_vocab_tokenize(spex_ctx *ctx, const llm_vocab *v, const char *text, size_t len,
                         int add_bos, int32_t **tokens, int64_t *n_tokens);
int spexi_vocab_piece(const llm_vocab *v, int32_t id, const char **piece, size_t *len);

#endif
