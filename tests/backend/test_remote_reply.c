/* The parsers of inference-server replies (src/backend/remote_reply.c) on
 * replies captured from a real llama-server (llama.cpp 81ff7abe serving
 * synth-interact-llama-F32.gguf, tests/backend/data/): the log-probs of
 * the forced tokens, ids and context lengths that differ, counts, the
 * single-result object, the lowest float as -inf, /v1/models' owned_by,
 * and allocation failures. */
#include "testing.h"
#include "test_util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "backend/remote_int.h"

#define DATA "tests/backend/data/"

/* The fixture's request: two prompts ("Review: the food was good .
 * Sentiment:" and the same without "good"), token 8178 (" negative")
 * forced after each. */
static const int32_t ctx_a[] = {1,    13957, 29901, 278,  9687,  471,
                                1781, 869,   28048, 2073, 29901, 8178};
static const int32_t ctx_b[] = {1, 13957, 29901, 278, 9687, 471, 869, 28048, 2073, 29901, 8178};

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s (run from the project root)", path);
    char *b = malloc(1 << 16);
    *len = fread(b, 1, (1 << 16) - 1, f);
    b[*len] = 0;
    fclose(f);
    return b;
}

static int parse_fixture(spex_ctx *ctx, const char *body, size_t len, const int32_t *a,
                         const int32_t *b, int64_t from_a, double *out) {
    const int32_t *seqs[2] = {a, b};
    int64_t lens[2] = {12, 11}, from[2] = {from_a, 10};
    return spexi_parse_score_reply(ctx, SPEX_REMOTE_LLAMA_SERVER, body, len, 2, seqs, lens, from,
                                   out);
}

static void test_llama_server_reply(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    size_t len;
    char *body = slurp(DATA "llama_server_completion.json", &len);
    double out[2];
    CHECK_RC(ctx, parse_fixture(ctx, body, len, ctx_a, ctx_b, 11, out));
    CHECK_NEAR(out[0], -6.932368755340576, 1e-12);
    CHECK_NEAR(out[1], -0.6969264149665833, 1e-12);

    /* another token than the one the server generated */
    int32_t other[12];
    memcpy(other, ctx_a, sizeof other);
    other[11] = 6374;
    CHECK(parse_fixture(ctx, body, len, other, ctx_b, 11, out) == SPEX_E_VALUE);
    CHECK(
        strstr(spex_errmsg(ctx), "position 11: the server generated token 8178, spex forced 6374"));
    /* a context of another length than the server evaluated */
    CHECK(parse_fixture(ctx, body, len, ctx_a, ctx_b, 10, out) == SPEX_E_VALUE);
    CHECK(strstr(spex_errmsg(ctx), "evaluated 11 prompt tokens, spex sent 10"));
    /* two results for three prompts; a reply cut short; another dialect */
    const int32_t *seqs[3] = {ctx_a, ctx_b, ctx_b};
    int64_t lens[3] = {12, 11, 11}, from[3] = {11, 10, 10};
    double out3[3];
    CHECK(spexi_parse_score_reply(ctx, SPEX_REMOTE_LLAMA_SERVER, body, len, 3, seqs, lens, from,
                                  out3) == SPEX_E_PARSE);
    CHECK(strstr(spex_errmsg(ctx), "2 results for 3 prompts"));
    CHECK(parse_fixture(ctx, body, len / 2, ctx_a, ctx_b, 11, out) == SPEX_E_PARSE);
    CHECK(strstr(spex_errmsg(ctx), "not JSON"));
    CHECK(spexi_parse_score_reply(ctx, SPEX_REMOTE_VLLM, body, len, 2, seqs, lens, from, out) ==
          SPEX_E_PARSE);

    /* one prompt: llama-server answers with the result itself */
    json_t *all = json_loadb(body, len, 0, NULL);
    CHECK(json_is_array(all));
    char *one = json_dumps(json_array_get(all, 1), JSON_COMPACT);
    CHECK_RC(ctx, spexi_parse_score_reply(ctx, SPEX_REMOTE_LLAMA_SERVER, one, strlen(one), 1,
                                          seqs + 1, lens + 1, from + 1, out));
    CHECK_NEAR(out[0], -0.6969264149665833, 1e-12);
    free(one);
    json_decref(all);

    /* a zero probability comes as the lowest float: -inf */
    static const char zero[] =
        "{\"tokens_evaluated\":1,\"completion_probabilities\":[{\"id\":9,\"logprob\":"
        "-3.4028234663852886e+38,\"top_logprobs\":[]}]}";
    static const int32_t s9[] = {1, 9};
    const int32_t *z[1] = {s9};
    int64_t zl[1] = {2}, zf[1] = {1};
    CHECK_RC(ctx, spexi_parse_score_reply(ctx, SPEX_REMOTE_LLAMA_SERVER, zero, sizeof zero - 1, 1,
                                          z, zl, zf, out));
    CHECK(out[0] == -INFINITY);
    static const char nolp[] = "{\"completion_probabilities\":[{\"id\":9,\"logprob\":null}]}";
    CHECK(spexi_parse_score_reply(ctx, SPEX_REMOTE_LLAMA_SERVER, nolp, sizeof nolp - 1, 1, z, zl,
                                  zf, out) == SPEX_E_PARSE);
    CHECK(strstr(spex_errmsg(ctx), "no \"logprob\" number"));
    free(body);
    spex_ctx_free(ctx);
}

static void test_llama_server_models(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    size_t len;
    char *body = slurp(DATA "llama_server_models.json", &len), *id, *owner;
    CHECK_RC(ctx, spexi_parse_models_reply(ctx, body, len, NULL, &id, &owner));
    CHECK(!strcmp(id, "/work/shared/models/synth-interact-llama-F32.gguf"));
    CHECK(owner && !strcmp(owner, "llamacpp"));
    spex_free(ctx, id);
    spex_free(ctx, owner);
    static const char plain[] = "{\"data\":[{\"id\":\"m\"}]}";
    CHECK_RC(ctx, spexi_parse_models_reply(ctx, plain, sizeof plain - 1, "m", &id, &owner));
    CHECK(!strcmp(id, "m") && owner == NULL);
    spex_free(ctx, id);
    free(body);
    spex_ctx_free(ctx);
}

typedef struct fixture_run {
    const char *body;
    size_t len;
    char *id, *owner;
    spex_ctx *ctx;
} fixture_run;

static int parse_both(spex_ctx *ctx, void *user) {
    fixture_run *f = user;
    double out[2];
    int rc = parse_fixture(ctx, f->body, f->len, ctx_a, ctx_b, 11, out);
    return rc ? rc
              : spexi_parse_models_reply(ctx, f->body + f->len + 1, strlen(f->body + f->len + 1),
                                         NULL, &f->id, &f->owner);
}

static void free_ids(void *user, int rc) {
    (void)rc;
    fixture_run *f = user;
    spex_free(f->ctx, f->id);
    spex_free(f->ctx, f->owner);
    f->id = f->owner = NULL;
}

static void test_alloc_faults(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    size_t a, b;
    char *s = slurp(DATA "llama_server_completion.json", &a),
         *m = slurp(DATA "llama_server_models.json", &b);
    char *both = malloc(a + b + 2);
    memcpy(both, s, a);
    both[a] = 0;
    memcpy(both + a + 1, m, b + 1);
    fixture_run f = {both, a, NULL, NULL, ctx};
    CHECK(spex_test_alloc_walk(ctx, 50, parse_both, free_ids, &f) >= 3);
    free(both);
    free(s);
    free(m);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_server_reply),
        cmocka_unit_test(test_llama_server_models),
        cmocka_unit_test(test_alloc_faults),
    };
    SPEX_RUN_TESTS(tests);
}
