/* Tokenizers against llama.cpp's reference token ids: every line of the
 * llama-spm, phi-3, gpt-2 and deepseek-coder vocabulary tests
 * (../shared/models/vocab) and of the llama-bpe (Llama 3) and qwen2
 * goldens, the token
 * ids of the synth-interact golden prompts and their candidate
 * continuations, and detokenization round trips. */
#include "testing.h"
#include "test_util.h"

#include "llm/llm_int.h"
#include "spex/llm.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MODELS "../shared/models/"
#define SEP "\n__ggml_vocab_test__\n"

static char *read_text(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)sz + 1);
    assert_non_null(p);
    assert_true(fread(p, 1, (size_t)sz, f) == (size_t)sz);
    p[sz] = 0;
    fclose(f);
    *n = (size_t)sz;
    return p;
}

/* Tokenizes every input of vocab/NAME.inp and compares with NAME.out, or
 * with out_path when given, the vocabulary's pre-tokenizer replaced by pre
 * (>= 0; -1: as the file says). */
static void check_vocab(const char *name, const char *out_path, int pre, int expect_lines) {
    spex_ctx *ctx = spex_ctx_new();
    char path[256];
    snprintf(path, sizeof path, MODELS "vocab/%s", name);
    spex_gguf *g;
    CHECK_RC(ctx, spex_gguf_open(ctx, path, &g));
    llm_vocab v;
    CHECK_RC(ctx, spexi_vocab_load(ctx, g, &v));
    if (pre >= 0) {
        v.pre = pre;
        v.ignore_merges = pre == LLM_PRE_LLAMA3;
    }
    size_t ni, no;
    snprintf(path, sizeof path, MODELS "vocab/%s.inp", name);
    char *inp = read_text(path, &ni);
    snprintf(path, sizeof path, MODELS "vocab/%s.out", name);
    char *out = read_text(out_path ? out_path : path, &no);
    char *ip = inp, *op = out;
    int lines = 0;
    for (;;) {
        char *end = strstr(ip, SEP);
        if (!end) break;
        char *oe = strchr(op, '\n');
        assert_non_null(oe);
        *oe = 0;
        int32_t *toks;
        int64_t nt;
        CHECK_RC(ctx, spexi_vocab_tokenize(ctx, &v, ip, (size_t)(end - ip), 0, &toks, &nt));
        /* expected: space-separated ids */
        int64_t k = 0;
        char *s = op, *e;
        int ok = 1;
        for (;;) {
            while (*s == ' ')
                s++;
            if (!*s) break;
            long id = strtol(s, &e, 10);
            assert_true(e != s);
            s = e;
            if (k >= nt || toks[k] != id) ok = 0;
            k++;
        }
        if (!ok || k != nt) {
            fprintf(stderr, "input %d '%.*s':\n  want:%s\n  got: ", lines, (int)(end - ip), ip, op);
            for (int64_t i = 0; i < nt; i++)
                fprintf(stderr, " %d", toks[i]);
            fprintf(stderr, "\n");
            fail_msg("%s: input %d tokenized differently", name, lines);
        }
        spex_test_checks++;
        /* round trip: the pieces give back the text (the space prefix stripped) */
        size_t total = 0;
        for (int64_t i = 0; i < nt; i++) {
            const char *pc;
            size_t pl;
            CHECK(spexi_vocab_piece(&v, toks[i], &pc, &pl) == SPEX_OK);
            total += pl;
        }
        if (nt) CHECK(total == (size_t)(end - ip) + (v.add_space_prefix ? 1 : 0));
        spex_free(ctx, toks);
        ip = end + strlen(SEP);
        op = oe + 1;
        lines++;
    }
    CHECK(lines == expect_lines);
    printf("%s: %d inputs tokenized as the reference\n", name, lines);
    free(inp);
    free(out);
    spexi_vocab_clear(ctx, &v);
    spex_gguf_free(g);
    spex_ctx_free(ctx);
}

static void check_vocab_file(const char *name, int expect_lines) {
    check_vocab(name, NULL, -1, expect_lines);
}

static void test_vocab_spm(void **state) {
    (void)state;
    check_vocab_file("ggml-vocab-llama-spm.gguf", 46);
    check_vocab_file("ggml-vocab-phi-3.gguf", 46);
}

static void test_vocab_bpe(void **state) {
    (void)state;
    check_vocab_file("ggml-vocab-gpt-2.gguf", 46);
    /* arch llama with a BPE vocabulary and the deepseek-coder pre-tokenizer */
    check_vocab_file("ggml-vocab-deepseek-coder.gguf", 46);
    /* the Llama-3 pre-tokenizer (llama-bpe) with the GPT-2 vocabulary and
     * merges: expected ids from llama.cpp's llama-tokenize on a copy of the
     * vocabulary with tokenizer.ggml.pre = llama-bpe (tests/llm/golden/README) */
    check_vocab("ggml-vocab-gpt-2.gguf", "tests/llm/golden/gpt-2-vocab-llama-bpe.out",
                LLM_PRE_LLAMA3, 46);
    /* and the Qwen2 one (single digits; no whole-word shortcut) */
    check_vocab("ggml-vocab-gpt-2.gguf", "tests/llm/golden/gpt-2-vocab-qwen2.out", LLM_PRE_QWEN2,
                46);
}

/* The golden prompts' token ids (with BOS) and candidate continuations
 * (suffix of the joint tokenization), through the model's API. */
static void test_golden_prompts(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_llm *m;
    CHECK_RC(ctx, spex_llm_load(ctx, MODELS "llama-2-tiny-random.gguf", NULL, &m));
    json_error_t err;
    json_t *root = json_load_file(MODELS "golden/synth-interact-llama-F32.json", 0, &err);
    assert_non_null(root);
    json_t *prompts = json_object_get(root, "prompts"), *p;
    size_t i;
    int n_checked = 0;
    json_array_foreach(prompts, i, p) {
        const char *text = json_string_value(json_object_get(p, "prompt"));
        json_t *ids = json_object_get(p, "token_ids");
        int32_t *toks;
        int64_t nt;
        CHECK_RC(ctx, spex_llm_tokenize(m, text, strlen(text), 1, &toks, &nt));
        CHECK(nt == (int64_t)json_array_size(ids));
        for (int64_t k = 0; k < nt && k < (int64_t)json_array_size(ids); k++)
            if (toks[k] != json_integer_value(json_array_get(ids, (size_t)k)))
                fail_msg("prompt %zu token %lld: %d vs %lld", i, (long long)k, toks[k],
                         (long long)json_integer_value(json_array_get(ids, (size_t)k)));
        char *back;
        CHECK_RC(ctx, spex_llm_detokenize(m, toks, nt, 1, &back));
        CHECK(!strcmp(back, text));
        spex_free(ctx, back);
        spex_free(ctx, toks);
        json_t *c;
        size_t j;
        json_array_foreach(json_object_get(p, "candidates"), j, c) {
            const char *ct = json_string_value(json_object_get(c, "text"));
            json_t *cids = json_object_get(c, "token_ids");
            spex_llm_score_result r;
            /* the score result carries the continuation tokens; scoring on a
             * random model is fine for ids */
            CHECK_RC(ctx, spex_llm_score(m, text, ct, &r));
            CHECK(r.n_continuation == (int64_t)json_array_size(cids));
            for (int64_t k = 0; k < r.n_continuation; k++)
                CHECK(r.continuation_tokens[k] ==
                      json_integer_value(json_array_get(cids, (size_t)k)));
            spex_llm_score_result_clear(m, &r);
        }
        n_checked++;
    }
    CHECK(n_checked == 30);
    json_decref(root);
    spex_llm_free(m);
    spex_ctx_free(ctx);
}

/* stories260K (512-token vocabulary): byte fallback and the golden probe. */
/* Tokenize and detokenize an odd string; score a continuation. */
static int round_trip_run(spex_ctx *ctx, void *user) {
    spex_llm *m = user;
    const char *odd = "naïve 日本 \x01\xff";
    int32_t *t;
    int64_t n;
    char *back;
    int rc = spex_llm_tokenize(m, odd, strlen(odd), 1, &t, &n);
    if (rc != SPEX_OK) return rc;
    rc = spex_llm_detokenize(m, t, n, 1, &back);
    if (rc == SPEX_OK) spex_free(ctx, back);
    spex_free(ctx, t);
    return rc;
}
static int score_run(spex_ctx *ctx, void *user) {
    (void)ctx;
    spex_llm *m = user;
    spex_llm_score_result r;
    int rc = spex_llm_score(m, "Once upon", " a time", &r);
    if (rc == SPEX_OK) spex_llm_score_result_clear(m, &r);
    return rc;
}

static void test_small_vocab(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_llm *m;
    CHECK_RC(ctx, spex_llm_load(ctx, MODELS "stories260K.gguf", NULL, &m));
    int32_t *t;
    int64_t n;
    CHECK_RC(ctx, spex_llm_tokenize(m, "Once upon a time", 16, 1, &t, &n));
    int32_t want[] = {1, 403, 407, 261, 378};
    CHECK(n == 5 && !memcmp(t, want, sizeof want));
    spex_free(ctx, t);
    /* golden probe: " positive" after the prompt is ' p','o','s','it','i','ve' */
    const char *probe[] = {" p", "o", "s", "it", "i", "ve"};
    spex_llm_score_result r;
    CHECK_RC(ctx, spex_llm_score(m, "The acting never fails to impress.", " positive", &r));
    CHECK(r.n_continuation == 6);
    for (int64_t k = 0; k < r.n_continuation && k < 6; k++) {
        const char *pc;
        size_t pl;
        CHECK_RC(ctx, spex_llm_token_piece(m, r.continuation_tokens[k], &pc, &pl));
        CHECK(pl == strlen(probe[k]) && !memcmp(pc, probe[k], pl));
    }
    spex_llm_score_result_clear(m, &r);
    /* characters outside the vocabulary fall back to byte tokens, and come back */
    const char *odd = "naïve 日本 \x01\xff";
    CHECK_RC(ctx, spex_llm_tokenize(m, odd, strlen(odd), 0, &t, &n));
    char *back;
    CHECK_RC(ctx, spex_llm_detokenize(m, t, n, 1, &back));
    CHECK(!strcmp(back, odd));
    spex_free(ctx, back);
    spex_free(ctx, t);
    CHECK_RC(ctx, spex_llm_tokenize(m, "", 0, 1, &t, &n));
    CHECK(n == 1 && t[0] == 1);
    spex_free(ctx, t);
    CHECK_RC(ctx, spex_llm_tokenize(m, "", 0, 0, &t, &n));
    CHECK(n == 0);
    spex_free(ctx, t);
    CHECK(spex_llm_score(m, "abc", "", &r) == SPEX_E_INVAL);
    const char *pc;
    size_t pl;
    CHECK(spex_llm_token_piece(m, 512, &pc, &pl) == SPEX_E_RANGE);
    CHECK(spex_llm_token_piece(m, 2, &pc, &pl) == SPEX_OK && pl == 0); /* </s>: control */
    /* allocation failures inside tokenize, detokenize, score: clean NOMEM */
    CHECK(spex_test_alloc_walk(ctx, 1000, round_trip_run, NULL, (void *)m) >= 2);
    CHECK(spex_test_alloc_walk(ctx, 1000, score_run, NULL, (void *)m) >= 2);
    spex_llm_free(m);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab_spm),
        cmocka_unit_test(test_vocab_bpe),
        cmocka_unit_test(test_golden_prompts),
        cmocka_unit_test(test_small_vocab),
    };
    SPEX_RUN_TESTS(tests);
}
