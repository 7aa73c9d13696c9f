/*
 * Tokenizers from GGUF metadata (tokenizer.ggml.*), reproducing llama.cpp's
 * tokenization: SentencePiece-style ("llama": a space prefix, spaces as
 * U+2581, greedy best-score bigram merges, byte fallback for what no token
 * covers) and byte-level BPE ("gpt2": the GPT-2, Llama-3, Qwen2 or DeepSeek-Coder
 * pre-tokenizer by tokenizer.ggml.pre, bytes as printable characters,
 * merges by rank); and the pieces that turn tokens
 * back into text.
 *
 * HOW IT WORKS (tokenize)
 * The text (with " " prepended when add_space_prefix, every " " written as
 * "▁") starts as one symbol per UTF-8 character, in a linked list. Every
 * adjacent pair whose concatenation is a vocabulary token is a candidate
 * merge, keyed by that token's score, in a max-heap (ties: the leftmost
 * pair first). Popping a candidate whose symbols changed since it was pushed
 * is skipped; otherwise the right symbol joins the left one and the new
 * pairs with its neighbours are pushed. When no candidate is left, each
 * symbol is its token, or, when the symbol is a character no token covers,
 * the byte tokens <0xXX> of its UTF-8 bytes.
 */
#include "llm/llm_int.h"
#include "llm/unicode_tables.h"

#include <stdio.h>
#include <string.h>

#define TOKEN_NORMAL 1
#define TOKEN_UNKNOWN 2
#define TOKEN_CONTROL 3
#define TOKEN_USER 4
#define TOKEN_UNUSED 5
#define TOKEN_BYTE 6

/* A text being looked up in the token or merge table. */
typedef struct text_key {
    const char *s;
    size_t len;
} text_key;

static int token_eq(const void *user, int64_t id, const void *key) {
    const llm_vocab *v = user;
    const text_key *k = key;
    return v->len[id] == k->len && !memcmp(v->text[id], k->s, k->len);
}

static uint64_t token_hash(const void *user, int64_t id) {
    const llm_vocab *v = user;
    return spexi_hash_bytes(v->text[id], v->len[id]);
}

static int merge_eq(const void *user, int64_t id, const void *key) {
    const llm_vocab *v = user;
    const text_key *k = key;
    return v->merge_len[id] == k->len && !memcmp(v->merge_text[id], k->s, k->len);
}

static uint64_t merge_hash(const void *user, int64_t id) {
    const llm_vocab *v = user;
    return spexi_hash_bytes(v->merge_text[id], v->merge_len[id]);
}

int32_t spexi_vocab_find(const llm_vocab *v, const char *s, size_t len) {
    text_key k = {s, len};
    return (int32_t)spexi_hash_find(&v->tokens, spexi_hash_bytes(s, len), token_eq, v, &k, NULL);
}

static int key_int(const spex_gguf *g, const char *key, int64_t *out) {
    int64_t i = spex_gguf_find_key(g, key);
    return i >= 0 && spex_gguf_get_int(g, i, -1, out) == SPEX_OK;
}

/* One UTF-8 character at p (n > 0 bytes): its code point and length; an
 * invalid or truncated sequence is one byte standing for itself. */
static size_t utf8_decode(const uint8_t *p, size_t n, uint32_t *cp) {
    uint8_t c = p[0];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 1 || len == 0 || len > n) {
        *cp = c;
        return 1;
    }
    uint32_t v = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *cp = c;
            return 1;
        }
        v = v << 6 | (p[i] & 0x3F);
    }
    *cp = v;
    return len;
}

/* GPT-2's byte map: bytes 33..126, 161..172, 174..255 are their own
 * character; the other 68 bytes, in order, are U+0100.. */
static uint32_t char_of_byte(uint8_t b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    uint32_t k = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174)) k++;
    return 256 + k;
}

static int byte_of_char(uint32_t cp) {
    if (cp < 256)
        return ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || cp >= 174) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    uint32_t k = cp - 256;
    for (int x = 0; x < 256; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174) && k-- == 0) return x;
    return -1;
}

/* The output text of token id: ▁ as space for normal tokens, the byte of a
 * byte token, nothing for control tokens. Writes to buf when not NULL;
 * returns the length. */
static size_t make_piece(const llm_vocab *v, int32_t id, char *buf) {
    const char *t = v->text[id];
    size_t n = v->len[id], o = 0;
    switch (v->type[id]) {
    case TOKEN_CONTROL:
    case TOKEN_UNUSED:
        return 0;
    case TOKEN_UNKNOWN:
        if (buf) memcpy(buf, "\xe2\x96\x85", 3);
        return 3;
    case TOKEN_BYTE: {
        unsigned b;
        if (n == 6 && sscanf(t, "<0x%2x>", &b) == 1) {
            if (buf) buf[0] = (char)b;
            return 1;
        }
        break;
    }
    case TOKEN_USER:
        if (buf) memcpy(buf, t, n);
        return n;
    default:
        break;
    }
    if (v->bpe) { /* each character stands for one byte (gpt2 byte map) */
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            size_t l = utf8_decode((const uint8_t *)t + i, n - i, &cp);
            int b = byte_of_char(cp);
            if (b < 0) { /* not a byte character: copy as is */
                if (buf) memcpy(buf + o, t + i, l);
                o += l;
            } else {
                if (buf) buf[o] = (char)b;
                o++;
            }
            i += l;
        }
        return o;
    }
    for (size_t i = 0; i < n; i++) {
        if (i + 2 < n && !memcmp(t + i, "\xe2\x96\x81", 3)) {
            if (buf) buf[o] = ' ';
            o++;
            i += 2;
        } else {
            if (buf) buf[o] = t[i];
            o++;
        }
    }
    return o;
}

void spexi_vocab_clear(spex_ctx *ctx, llm_vocab *v) {
    spex_free(ctx, v->text);
    spex_free(ctx, v->len);
    spex_free(ctx, v->score);
    spex_free(ctx, v->type);
    spexi_hash_free(ctx, &v->tokens);
    spex_free(ctx, v->piece_slab);
    spex_free(ctx, v->piece_off);
    spex_free(ctx, v->merge_text);
    spex_free(ctx, v->merge_len);
    spexi_hash_free(ctx, &v->merges);
    spex_free(ctx, v->user);
    memset(v, 0, sizeof *v);
}

int spexi_vocab_load(spex_ctx *ctx, const spex_gguf *g, llm_vocab *v) {
    memset(v, 0, sizeof *v);
    int rc = SPEX_OK;
    int64_t kt = spex_gguf_find_key(g, "tokenizer.ggml.tokens");
    if (kt < 0 || spex_gguf_arr_type(g, kt) != SPEX_GGUF_STRING || spex_gguf_arr_n(g, kt) < 1 ||
        spex_gguf_arr_n(g, kt) > INT32_MAX / 2)
        return spex_seterr(ctx, SPEX_E_PARSE,
                           "key 'tokenizer.ggml.tokens': missing, empty or not an array of "
                           "strings");
    int64_t n = spex_gguf_arr_n(g, kt);
    int64_t km = spex_gguf_find_key(g, "tokenizer.ggml.model");
    const char *model = "llama";
    size_t model_len = 5;
    if (km >= 0 && spex_gguf_get_str(g, km, -1, &model, &model_len))
        return spex_seterr(ctx, SPEX_E_PARSE, "key 'tokenizer.ggml.model' is not a string");
    if (model_len == 4 && !memcmp(model, "gpt2", 4)) {
        int64_t kp = spex_gguf_find_key(g, "tokenizer.ggml.pre");
        const char *pre = "gpt-2";
        size_t pre_len = 5;
        if (kp >= 0 && spex_gguf_get_str(g, kp, -1, &pre, &pre_len))
            return spex_seterr(ctx, SPEX_E_PARSE, "key 'tokenizer.ggml.pre' is not a string");
        if ((pre_len == 5 && !memcmp(pre, "gpt-2", 5)) ||
            (pre_len == 7 && !memcmp(pre, "default", 7)))
            v->pre = LLM_PRE_GPT2;
        else if (pre_len == 14 && !memcmp(pre, "deepseek-coder", 14))
            v->pre = LLM_PRE_DEEPSEEK_CODER;
        else if ((pre_len == 6 && !memcmp(pre, "llama3", 6)) ||
                 (pre_len == 8 && !memcmp(pre, "llama-v3", 8)) ||
                 (pre_len == 9 && !memcmp(pre, "llama-bpe", 9)))
            v->pre = LLM_PRE_LLAMA3, v->ignore_merges = 1;
        else if ((pre_len == 5 && !memcmp(pre, "qwen2", 5)) ||
                 (pre_len == 16 && !memcmp(pre, "deepseek-r1-qwen", 16)))
            v->pre = LLM_PRE_QWEN2;
        else
            return spex_seterr(ctx, SPEX_E_UNSUPPORTED,
                               "key 'tokenizer.ggml.pre' = '%.*s': the supported pre-tokenizers "
                               "are gpt-2 (also 'default'), llama-bpe (also llama3, llama-v3), "
                               "qwen2 and deepseek-coder",
                               (int)(pre_len > 64 ? 64 : pre_len), pre);
        v->bpe = 1;
    } else if (!(model_len == 5 && !memcmp(model, "llama", 5))) {
        return spex_seterr(ctx, SPEX_E_UNSUPPORTED,
                           "key 'tokenizer.ggml.model' = '%.*s': only 'llama' (SentencePiece) "
                           "and 'gpt2' (byte-level BPE) are supported",
                           (int)(model_len > 64 ? 64 : model_len), model);
    }
    int64_t ks = spex_gguf_find_key(g, "tokenizer.ggml.scores");
    int64_t ky = spex_gguf_find_key(g, "tokenizer.ggml.token_type");
    if (ks >= 0 && spex_gguf_arr_n(g, ks) != n)
        return spex_seterr(ctx, SPEX_E_PARSE,
                           "key 'tokenizer.ggml.scores': %lld entries for %lld tokens",
                           (long long)spex_gguf_arr_n(g, ks), (long long)n);
    if (ky >= 0 && spex_gguf_arr_n(g, ky) != n)
        return spex_seterr(ctx, SPEX_E_PARSE,
                           "key 'tokenizer.ggml.token_type': %lld entries for %lld tokens",
                           (long long)spex_gguf_arr_n(g, ky), (long long)n);
    v->n = n;
    v->text = spex_calloc(ctx, (size_t)n, sizeof *v->text);
    v->len = spex_calloc(ctx, (size_t)n, sizeof *v->len);
    v->score = spex_calloc(ctx, (size_t)n, sizeof *v->score);
    v->type = spex_calloc(ctx, (size_t)n, sizeof *v->type);
    v->piece_off = spex_calloc(ctx, (size_t)n + 1, sizeof *v->piece_off);
    if (!v->text || !v->len || !v->score || !v->type || !v->piece_off) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    /* sized for all n: adds never grow it */
    if ((rc = spexi_hash_init(ctx, &v->tokens, n)) != SPEX_OK) goto done;
    for (int64_t i = 0; i < n; i++) {
        size_t len;
        double sc = 0;
        int64_t ty = TOKEN_NORMAL;
        spex_gguf_get_str(g, kt, i, &v->text[i], &len);
        if (len > UINT32_MAX / 2) {
            rc = spex_seterr(ctx, SPEX_E_PARSE, "key 'tokenizer.ggml.tokens': token %lld too long",
                             (long long)i);
            goto done;
        }
        v->len[i] = (uint32_t)len;
        if (ks >= 0 && spex_gguf_get_float(g, ks, i, &sc)) {
            rc = spex_seterr(ctx, SPEX_E_PARSE,
                             "key 'tokenizer.ggml.scores': entry %lld is not a number",
                             (long long)i);
            goto done;
        }
        if (ky >= 0 && spex_gguf_get_int(g, ky, i, &ty)) {
            rc = spex_seterr(ctx, SPEX_E_PARSE,
                             "key 'tokenizer.ggml.token_type': entry %lld is not an integer",
                             (long long)i);
            goto done;
        }
        v->score[i] = (float)sc;
        v->type[i] = (int32_t)(ty >= 1 && ty <= 6 ? ty : TOKEN_NORMAL);
        /* insert; a later duplicate text replaces the earlier id (llama.cpp) */
        text_key k = {v->text[i], len};
        uint64_t h = spexi_hash_bytes(k.s, len);
        size_t slot;
        if (spexi_hash_find(&v->tokens, h, token_eq, v, &k, &slot) >= 0)
            spexi_hash_replace(&v->tokens, slot, i);
        else if ((rc = spexi_hash_add(ctx, &v->tokens, slot, h, i, token_hash, v)) != SPEX_OK)
            goto done;
    }
    int64_t x;
    v->bos = key_int(g, "tokenizer.ggml.bos_token_id", &x) && x >= 0 && x < n ? (int32_t)x : -1;
    v->eos = key_int(g, "tokenizer.ggml.eos_token_id", &x) && x >= 0 && x < n ? (int32_t)x : -1;
    v->unk = key_int(g, "tokenizer.ggml.unknown_token_id", &x) && x >= 0 && x < n ? (int32_t)x : -1;
    v->add_bos = key_int(g, "tokenizer.ggml.add_bos_token", &x) ? (int)x : !v->bpe;
    v->add_eos = key_int(g, "tokenizer.ggml.add_eos_token", &x) ? (int)x : 0;
    v->add_space_prefix = key_int(g, "tokenizer.ggml.add_space_prefix", &x) ? (int)x : !v->bpe;
    if (v->bpe) {
        int64_t kg = spex_gguf_find_key(g, "tokenizer.ggml.merges");
        if (kg < 0 || spex_gguf_arr_type(g, kg) != SPEX_GGUF_STRING ||
            spex_gguf_arr_n(g, kg) > INT32_MAX / 2) {
            rc = spex_seterr(ctx, SPEX_E_PARSE,
                             "key 'tokenizer.ggml.merges': missing or not an array of strings");
            goto done;
        }
        int64_t nm = spex_gguf_arr_n(g, kg);
        v->n_merges = nm;
        v->merge_text = spex_calloc(ctx, (size_t)nm + 1, sizeof *v->merge_text);
        v->merge_len = spex_calloc(ctx, (size_t)nm + 1, sizeof *v->merge_len);
        if (!v->merge_text || !v->merge_len) {
            rc = SPEX_E_NOMEM;
            goto done;
        }
        if ((rc = spexi_hash_init(ctx, &v->merges, nm)) != SPEX_OK) goto done;
        for (int64_t i = 0; i < nm; i++) {
            size_t len;
            spex_gguf_get_str(g, kg, i, &v->merge_text[i], &len);
            v->merge_len[i] = (uint32_t)(len > UINT32_MAX / 2 ? 0 : len);
            /* the first (lowest) rank of a duplicate wins */
            text_key k = {v->merge_text[i], len};
            uint64_t h = spexi_hash_bytes(k.s, len);
            size_t slot;
            if (spexi_hash_find(&v->merges, h, merge_eq, v, &k, &slot) < 0 &&
                (rc = spexi_hash_add(ctx, &v->merges, slot, h, i, merge_hash, v)) != SPEX_OK)
                goto done;
        }
    }
    if (v->bos < 0) v->add_bos = 0;
    if (v->bpe) { /* user-defined tokens match the raw text before BPE */
        for (int64_t i = 0; i < n; i++)
            v->n_user += v->type[i] == TOKEN_USER && v->len[i] > 0;
        if (v->n_user && !(v->user = spex_malloc(ctx, (size_t)v->n_user * sizeof *v->user))) {
            rc = SPEX_E_NOMEM;
            goto done;
        }
        int64_t k = 0;
        for (int64_t i = 0; i < n; i++)
            if (v->type[i] == TOKEN_USER && v->len[i] > 0) v->user[k++] = (int32_t)i;
        for (int64_t i = 1; i < k; i++) { /* insertion sort: longest first, then by id */
            int32_t t = v->user[i];
            int64_t j = i;
            for (; j > 0 && v->len[v->user[j - 1]] < v->len[t]; j--)
                v->user[j] = v->user[j - 1];
            v->user[j] = t;
        }
    }
    for (int b = 0; b < 256 && v->bpe; b++) {
        uint32_t cp = char_of_byte((uint8_t)b);
        char buf[4];
        size_t l = cp < 0x80 ? 1 : 2;
        if (l == 1)
            buf[0] = (char)cp;
        else {
            buf[0] = (char)(0xC0 | cp >> 6);
            buf[1] = (char)(0x80 | (cp & 0x3F));
        }
        int32_t id = spexi_vocab_find(v, buf, l);
        v->byte_tok[b] = id >= 0 ? id : v->unk;
    }
    for (int b = 0; b < 256 && !v->bpe; b++) {
        char buf[8];
        snprintf(buf, sizeof buf, "<0x%02X>", b);
        int32_t id = spexi_vocab_find(v, buf, 6);
        if (id < 0) {
            buf[0] = (char)b;
            id = spexi_vocab_find(v, buf, 1);
        }
        v->byte_tok[b] = id >= 0 ? id : v->unk;
    }
    uint64_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        v->piece_off[i] = total;
        total += make_piece(v, (int32_t)i, NULL);
    }
    v->piece_off[n] = total;
    if (!(v->piece_slab = spex_malloc(ctx, (size_t)total + 1))) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        make_piece(v, (int32_t)i, v->piece_slab + v->piece_off[i]);
done:
    if (rc) spexi_vocab_clear(ctx, v);
    return rc;
}

int spexi_vocab_piece(const llm_vocab *v, int32_t id, const char **piece, size_t *len) {
    if (id < 0 || id >= v->n) return SPEX_E_RANGE;
    *piece = v->piece_slab + v->piece_off[id];
    *len = (size_t)(v->piece_off[id + 1] - v->piece_off[id]);
    return SPEX_OK;
}

typedef struct sym {
    int prev, next;
    size_t start, n; /* bytes of the escaped text; n == 0: merged away */
} sym;

typedef struct bigram {
    int left, right;
    float score;
    size_t n;
} bigram;

/* a comes out of the heap before b */
static int bigram_before(const bigram *a, const bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(bigram *h, size_t *n, bigram b) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!bigram_before(&b, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = b;
}

static bigram heap_pop(bigram *h, size_t *n) {
    bigram top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && bigram_before(&h[c + 1], &h[c])) c++;
        if (!bigram_before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static void try_bigram(const llm_vocab *v, const char *txt, const sym *s, int left, int right,
                       bigram *h, size_t *nh) {
    if (left < 0 || right < 0) return;
    size_t n = s[left].n + s[right].n;
    int32_t id = spexi_vocab_find(v, txt + s[left].start, n);
    if (id < 0) return;
    bigram b = {left, right, v->score[id], n};
    heap_push(h, nh, b);
}

static int push_tok(spex_ctx *ctx, int32_t **toks, int64_t *n, int64_t *cap, int32_t id) {
    if (*n == *cap) {
        int64_t nc = *cap ? *cap * 2 : 64;
        int32_t *t = spex_realloc(ctx, *toks, (size_t)nc, sizeof **toks);
        if (!t) return SPEX_E_NOMEM;
        *toks = t;
        *cap = nc;
    }
    (*toks)[(*n)++] = id;
    return SPEX_OK;
}

static size_t utf8_len(uint8_t c) {
    static const uint8_t lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lens[c >> 4];
}

/* ------------------------------------------------------- byte-level BPE --
 * HOW IT WORKS (gpt2)
 * The text is split into words by the GPT-2 pre-tokenizer, the regex
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * written out as a scanner over code points. Each word's bytes become
 * printable characters by GPT-2's byte map, one symbol each; adjacent pairs
 * listed in tokenizer.ggml.merges ("left right") merge, lowest rank first
 * (ties: leftmost), with the same heap as above; each final symbol is a
 * vocabulary token. */

enum { CP_OTHER = 0, CP_LETTER = 1, CP_NUMBER = 2, CP_SPACE = 3 };

static int cp_class(uint32_t cp) {
    if ((cp >= 9 && cp <= 13) || cp == 32 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
        (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
        cp == 0x205F || cp == 0x3000)
        return CP_SPACE;
    size_t lo = 0, hi = sizeof unicode_ranges / sizeof unicode_ranges[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < unicode_ranges[mid][0])
            hi = mid;
        else if (cp > unicode_ranges[mid][1])
            lo = mid + 1;
        else
            return (int)unicode_ranges[mid][2];
    }
    return CP_OTHER;
}

static int32_t merge_rank(const llm_vocab *v, const char *s, size_t len) {
    text_key k = {s, len};
    return (int32_t)spexi_hash_find(&v->merges, spexi_hash_bytes(s, len), merge_eq, v, &k, NULL);
}

/* Pushes the pair (left, right) when "left right" is a merge; key: scratch
 * of at least s[left].n + s[right].n + 1 bytes. */
static void try_merge(const llm_vocab *v, const char *txt, const sym *s, int left, int right,
                      int first, bigram *h, size_t *nh, char *key) {
    if (left < first || right < 0) return;
    size_t a = s[left].n, b = s[right].n;
    memcpy(key, txt + s[left].start, a);
    key[a] = ' ';
    memcpy(key + a + 1, txt + s[right].start, b);
    int32_t r = merge_rank(v, key, a + b + 1);
    if (r < 0) return;
    bigram g = {left, right, -(float)r, a + b};
    heap_push(h, nh, g);
}

/* Byte-level BPE of one word text[0..len) (already pre-tokenized). */
static int bpe_word(spex_ctx *ctx, const llm_vocab *v, const uint8_t *w, size_t len, char *map,
                    sym *s, bigram *h, char *key, int32_t **toks, int64_t *nt, int64_t *cap) {
    size_t o = 0;
    int ns = 0;
    for (size_t i = 0; i < len; i++) {
        uint32_t cp = char_of_byte(w[i]);
        s[ns].start = o;
        if (cp < 0x80) {
            map[o++] = (char)cp;
        } else {
            map[o++] = (char)(0xC0 | cp >> 6);
            map[o++] = (char)(0x80 | (cp & 0x3F));
        }
        s[ns].n = o - s[ns].start;
        s[ns].prev = ns - 1;
        s[ns].next = i + 1 == len ? -1 : ns + 1;
        ns++;
    }
    if (v->ignore_merges && ns > 0) { /* llama3: a word that is a token stays whole */
        int32_t id = spexi_vocab_find(v, map, o);
        if (id >= 0) return push_tok(ctx, toks, nt, cap, id);
    }
    size_t nh = 0;
    for (int i = 1; i < ns; i++)
        try_merge(v, map, s, i - 1, i, 0, h, &nh, key);
    while (nh) {
        bigram b = heap_pop(h, &nh);
        sym *l = &s[b.left], *r = &s[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.n || l->next != b.right) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = b.left;
        try_merge(v, map, s, l->prev, b.left, 0, h, &nh, key);
        try_merge(v, map, s, b.left, l->next, 0, h, &nh, key);
    }
    int rc = SPEX_OK;
    for (int i = 0; i != -1 && ns > 0; i = s[i].next) {
        int32_t id = spexi_vocab_find(v, map + s[i].start, s[i].n);
        if (id >= 0) {
            if ((rc = push_tok(ctx, toks, nt, cap, id))) return rc;
            continue;
        }
        /* a symbol no token covers: one token per byte character */
        for (size_t j = s[i].start; j < s[i].start + s[i].n;) {
            size_t l = ((uint8_t)map[j] & 0xE0) == 0xC0 ? 2 : 1;
            int32_t bt = spexi_vocab_find(v, map + j, l);
            if (bt >= 0 && (rc = push_tok(ctx, toks, nt, cap, bt))) return rc;
            j += l;
        }
    }
    return SPEX_OK;
}

/* The GPT-2 pre-tokenizer over code points cps[0..n): writes the end of
 * each word to cut (ascending) and returns the word count. */
static size_t pre_gpt2(const uint32_t *cps, size_t n, size_t *cut) {
    size_t n_cut = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c = cps[i];
        size_t e = i;
        if (c == '\'' && i + 1 < n) {
            uint32_t c1 = cps[i + 1], c2 = i + 2 < n ? cps[i + 2] : 0;
            if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
                e = i + 2;
            else if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') ||
                     (c1 == 'l' && c2 == 'l'))
                e = i + 3;
        }
        if (e == i) {
            size_t j = (c == ' ' && i + 1 < n && cp_class(cps[i + 1]) != CP_SPACE) ? i + 1 : i;
            int k = cp_class(cps[j]);
            if (k != CP_SPACE) {
                for (e = j; e < n && cp_class(cps[e]) == k;)
                    e++;
            } else {
                for (e = i; e < n && cp_class(cps[e]) == CP_SPACE;)
                    e++;
                if (e < n && e - i > 1) e--; /* \s+(?!\S): the last space goes with the word */
            }
        }
        cut[n_cut++] = e;
        i = e;
    }
    return n_cut;
}

/* ------------------------------------------------- deepseek-coder --------
 * HOW IT WORKS (deepseek-coder, as llama.cpp splits it)
 * Five patterns are applied in turn, each to every piece the previous ones
 * left: [\r\n], \s?\p{L}+, \s?\p{P}+, [\x{800}-\x{9FA5}\x{AC00}-\x{D7FF}]+,
 * \p{N}. Within a piece the leftmost match is taken, then the next after
 * it; matches and the gaps between them all become pieces. Character
 * classes follow llama.cpp's: in ASCII, letters are A-Z a-z, digits 0-9 and
 * punctuation the set PUNCT_ASCII below (so $+<=>^`|~ are not punctuation);
 * beyond ASCII the Unicode general category decides, and whitespace
 * (is \s, never a letter, digit, punctuation or CJK) comes first. */

#define PUNCT_ASCII "!\"#%&'()*,-./:;?@[\\]_{}"

static int ds_letter(uint32_t c) {
    if (c < 0x80) return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    return cp_class(c) == CP_LETTER;
}

static int ds_digit(uint32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    return cp_class(c) == CP_NUMBER;
}

static int ds_punct(uint32_t c) {
    if (c < 0x80) return c && strchr(PUNCT_ASCII, (int)c) != NULL;
    if (cp_class(c) == CP_SPACE) return 0;
    size_t lo = 0, hi = sizeof unicode_punct_ranges / sizeof unicode_punct_ranges[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < unicode_punct_ranges[mid][0])
            hi = mid;
        else if (c > unicode_punct_ranges[mid][1])
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

static int ds_cjk(uint32_t c) {
    return ((c >= 0x800 && c <= 0x9FA5) || (c >= 0xAC00 && c <= 0xD7FF)) && cp_class(c) != CP_SPACE;
}

/* Length of the match of pattern `rule` at cps[i] within [i, end), 0: none. */
static size_t ds_match(int rule, const uint32_t *cps, size_t i, size_t end) {
    size_t e = i;
    switch (rule) {
    case 0:
        return cps[i] == '\r' || cps[i] == '\n';
    case 1:
    case 2: {
        int (*in)(uint32_t) = rule == 1 ? ds_letter : ds_punct;
        if (cp_class(cps[i]) == CP_SPACE && i + 1 < end && in(cps[i + 1])) e = i + 1;
        if (!in(cps[e])) return 0;
        while (e < end && in(cps[e]))
            e++;
        return e - i;
    }
    case 3:
        while (e < end && ds_cjk(cps[e]))
            e++;
        return e - i;
    default:
        return ds_digit(cps[i]);
    }
}

/* Word ends into cut (ascending; tmp: scratch of the same size, n + 1). */
static size_t pre_deepseek_coder(const uint32_t *cps, size_t n, size_t *cut, size_t *tmp) {
    size_t n_cut = 0;
    if (n) cut[n_cut++] = n;
    for (int rule = 0; rule < 5; rule++) {
        size_t m = 0;
        for (size_t w = 0; w < n_cut; w++) {
            size_t a = w ? cut[w - 1] : 0, b = cut[w], last = a;
            for (size_t i = a; i < b;) {
                size_t L = ds_match(rule, cps, i, b);
                if (!L) {
                    i++;
                    continue;
                }
                if (i > last) tmp[m++] = i; /* the gap before the match */
                if (i + L < b) tmp[m++] = i + L;
                i += L;
                last = i;
            }
            tmp[m++] = b;
        }
        memcpy(cut, tmp, m * sizeof *cut);
        n_cut = m;
    }
    return n_cut;
}

/* The Llama-3 pre-tokenizer (tokenizer.ggml.pre llama-bpe), the regex
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *    ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * written out as a scanner, alternative by alternative as llama.cpp's.
 * max_digits 1 gives the Qwen2 pre-tokenizer (\p{N} instead of \p{N}{1,3}). */
static size_t pre_llama3(const uint32_t *cps, size_t n, size_t max_digits, size_t *cut) {
    size_t n_cut = 0;
#define CLS(p) ((p) < n ? cp_class(cps[p]) : -1)
    for (size_t i = 0; i < n;) {
        uint32_t c = cps[i];
        int k = cp_class(c);
        size_t e = i;
        if (c == '\'' && i + 1 < n) {
            uint32_t c1 = cps[i + 1] | (cps[i + 1] < 0x80 ? 0x20 : 0); /* ASCII lower case */
            uint32_t c2 = i + 2 < n ? (cps[i + 2] | (cps[i + 2] < 0x80 ? 0x20 : 0)) : 0;
            if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
                e = i + 2;
            else if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') ||
                     (c1 == 'l' && c2 == 'l'))
                e = i + 3;
        }
        if (e == i && !(c == '\r' || c == '\n' || k == CP_NUMBER) &&
            (k == CP_LETTER || CLS(i + 1) == CP_LETTER)) { /* [^\r\n\p{L}\p{N}]?\p{L}+ */
            for (e = i + 1; CLS(e) == CP_LETTER;)
                e++;
        }
        if (e == i && k == CP_NUMBER) { /* \p{N}{1,3} */
            for (e = i; e < i + max_digits && CLS(e) == CP_NUMBER;)
                e++;
        }
        if (e == i) { /* " ?[^\s\p{L}\p{N}]+[\r\n]*" */
            size_t j = c == ' ' ? i + 1 : i;
            if (CLS(j) == CP_OTHER) {
                for (e = j; CLS(e) == CP_OTHER;)
                    e++;
                while (e < n && (cps[e] == '\r' || cps[e] == '\n'))
                    e++;
            }
        }
        if (e == i) { /* \s*[\r\n]+ | \s+(?!\S) | \s+ */
            size_t w = i, last_nl = 0;
            for (; CLS(w) == CP_SPACE; w++)
                if (cps[w] == '\r' || cps[w] == '\n') last_nl = w + 1;
            if (last_nl)
                e = last_nl;
            else if (w - i > 1 && w < n)
                e = w - 1;
            else if (w > i)
                e = w;
            else
                e = i + 1; /* no alternative matches: the character alone */
        }
        cut[n_cut++] = e;
        i = e;
    }
#undef CLS
    return n_cut;
}

static int tokenize_bpe(spex_ctx *ctx, const llm_vocab *v, const char *text, size_t len,
                        int32_t **toks, int64_t *nt, int64_t *cap) {
    uint32_t *cps = spex_calloc(ctx, len + 1, sizeof *cps);
    size_t *off = spex_calloc(ctx, len + 1, sizeof *off);
    char *map = spex_malloc(ctx, 2 * len + 1), *key = spex_malloc(ctx, 4 * len + 2);
    sym *s = spex_calloc(ctx, len + 1, sizeof *s);
    bigram *h = spex_calloc(ctx, 3 * len + 1, sizeof *h);
    int rc = cps && off && map && key && s && h ? SPEX_OK : SPEX_E_NOMEM;
    size_t n = 0;
    for (size_t i = 0; !rc && i < len; n++) {
        off[n] = i;
        i += utf8_decode((const uint8_t *)text + i, len - i, &cps[n]);
    }
    off[n] = len;
    size_t *cut = spex_calloc(ctx, 2 * (n + 1), sizeof *cut), n_cut = 0;
    if (!rc && !cut) rc = SPEX_E_NOMEM;
    if (!rc)
        n_cut = v->pre == LLM_PRE_DEEPSEEK_CODER ? pre_deepseek_coder(cps, n, cut, cut + n + 1)
                : v->pre == LLM_PRE_LLAMA3       ? pre_llama3(cps, n, 3, cut)
                : v->pre == LLM_PRE_QWEN2        ? pre_llama3(cps, n, 1, cut)
                                                 : pre_gpt2(cps, n, cut);
    for (size_t w = 0; !rc && w < n_cut; w++) {
        size_t i = w ? cut[w - 1] : 0, e = cut[w];
        rc = bpe_word(ctx, v, (const uint8_t *)text + off[i], off[e] - off[i], map, s, h, key, toks,
                      nt, cap);
    }
    spex_free(ctx, cut);
    spex_free(ctx, cps);
    spex_free(ctx, off);
    spex_free(ctx, map);
    spex_free(ctx, key);
    spex_free(ctx, s);
    spex_free(ctx, h);
    return rc;
}

/* The first occurrence of needle (nl >= 1 bytes) in hay, or NULL. */
static const char *find_bytes(const char *hay, size_t hl, const char *needle, size_t nl) {
    for (size_t i = 0; i + nl <= hl; i++)
        if (hay[i] == needle[0] && !memcmp(hay + i, needle, nl)) return hay + i;
    return NULL;
}

/* Splits text at the occurrences of user-defined tokens (as llama.cpp:
 * the longest token first, leftmost occurrences; each later token only in
 * what the earlier ones left), emitting those tokens and byte-level BPE of
 * the rest. k: the first user token still to look for. */
static int tokenize_bpe_user(spex_ctx *ctx, const llm_vocab *v, const char *text, size_t len,
                             int64_t k, int32_t **toks, int64_t *nt, int64_t *cap) {
    for (; k < v->n_user; k++) {
        int32_t id = v->user[k];
        size_t tl = v->len[id];
        const char *hit = tl <= len ? find_bytes(text, len, v->text[id], tl) : NULL;
        if (!hit) continue;
        size_t pos = 0;
        int rc = SPEX_OK;
        while (!rc && hit) {
            size_t at = (size_t)(hit - text);
            if (at > pos)
                rc = tokenize_bpe_user(ctx, v, text + pos, at - pos, k + 1, toks, nt, cap);
            if (!rc) rc = push_tok(ctx, toks, nt, cap, id);
            pos = at + tl;
            hit = len - pos >= tl ? find_bytes(text + pos, len - pos, v->text[id], tl) : NULL;
        }
        if (!rc && pos < len)
            rc = tokenize_bpe_user(ctx, v, text + pos, len - pos, k + 1, toks, nt, cap);
        return rc;
    }
    return len ? tokenize_bpe(ctx, v, text, len, toks, nt, cap) : SPEX_OK;
}

int spexi_vocab_tokenize(spex_ctx *ctx, const llm_vocab *v, const char *text, size_t len,
                         int add_bos, int32_t **tokens, int64_t *n_tokens) {
    int rc = SPEX_OK;
    int32_t *toks = NULL;
    int64_t nt = 0, cap = 0;
    char *esc = NULL;
    sym *s = NULL;
    bigram *h = NULL;
    *tokens = NULL;
    *n_tokens = 0;
    if (add_bos && v->add_bos && v->bos >= 0 && (rc = push_tok(ctx, &toks, &nt, &cap, v->bos)))
        goto done;
    if (len > 0 && v->bpe) {
        if (len > (size_t)INT32_MAX / 4) {
            rc = spex_seterr(ctx, SPEX_E_NOMEM, "tokenize: text of %zu bytes is too long", len);
            goto done;
        }
        if ((rc = tokenize_bpe_user(ctx, v, text, len, 0, &toks, &nt, &cap))) goto done;
    } else if (len > 0) {
        size_t n_sp = 0;
        for (size_t i = 0; i < len; i++)
            n_sp += text[i] == ' ';
        if (len > (size_t)INT32_MAX / 4) {
            rc = spex_seterr(ctx, SPEX_E_NOMEM, "tokenize: text of %zu bytes is too long", len);
            goto done;
        }
        size_t elen = len + 2 * n_sp + (v->add_space_prefix ? 3 : 0), o = 0;
        if (!(esc = spex_malloc(ctx, elen + 1))) {
            rc = SPEX_E_NOMEM;
            goto done;
        }
        if (v->add_space_prefix) {
            memcpy(esc, "\xe2\x96\x81", 3);
            o = 3;
        }
        for (size_t i = 0; i < len; i++) {
            if (text[i] == ' ') {
                memcpy(esc + o, "\xe2\x96\x81", 3);
                o += 3;
            } else {
                esc[o++] = text[i];
            }
        }
        s = spex_calloc(ctx, elen, sizeof *s);
        h = spex_calloc(ctx, elen * 3 + 1, sizeof *h);
        if (!s || !h) {
            rc = SPEX_E_NOMEM;
            goto done;
        }
        int ns = 0;
        for (size_t off = 0; off < elen; ns++) {
            size_t cl = utf8_len((uint8_t)esc[off]);
            if (cl > elen - off) cl = elen - off;
            s[ns].start = off;
            s[ns].n = cl;
            s[ns].prev = ns - 1;
            s[ns].next = off + cl == elen ? -1 : ns + 1;
            off += cl;
        }
        size_t nh = 0;
        for (int i = 1; i < ns; i++)
            try_bigram(v, esc, s, i - 1, i, h, &nh);
        while (nh) {
            bigram b = heap_pop(h, &nh);
            sym *l = &s[b.left], *r = &s[b.right];
            if (l->n == 0 || r->n == 0 || l->n + r->n != b.n) continue;
            l->n += r->n;
            r->n = 0;
            l->next = r->next;
            if (r->next >= 0) s[r->next].prev = b.left;
            try_bigram(v, esc, s, l->prev, b.left, h, &nh);
            try_bigram(v, esc, s, b.left, l->next, h, &nh);
        }
        for (int i = 0; i != -1 && ns > 0; i = s[i].next) {
            int32_t id = spexi_vocab_find(v, esc + s[i].start, s[i].n);
            if (id >= 0) {
                if ((rc = push_tok(ctx, &toks, &nt, &cap, id))) goto done;
                continue;
            }
            for (size_t j = 0; j < s[i].n; j++) {
                int32_t bt = v->byte_tok[(uint8_t)esc[s[i].start + j]];
                if (bt < 0) {
                    rc = spex_seterr(ctx, SPEX_E_UNSUPPORTED,
                                     "tokenize: byte 0x%02X at text byte %zu has no token and the "
                                     "vocabulary has no byte fallback or unknown token",
                                     (uint8_t)esc[s[i].start + j], s[i].start + j);
                    goto done;
                }
                if ((rc = push_tok(ctx, &toks, &nt, &cap, bt))) goto done;
            }
        }
    }
    if (add_bos && v->add_eos && v->eos >= 0 && (rc = push_tok(ctx, &toks, &nt, &cap, v->eos)))
        goto done;
    if (!toks && !(toks = spex_malloc(ctx, sizeof *toks))) rc = SPEX_E_NOMEM;
done:
    spex_free(ctx, esc);
    spex_free(ctx, s);
    spex_free(ctx, h);
    if (rc) {
        spex_free(ctx, toks);
        return rc;
    }
    *tokens = toks;
    *n_tokens = nt;
    return SPEX_OK;
}
