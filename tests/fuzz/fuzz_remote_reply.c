/*
 * libFuzzer target for the parsers of inference-server replies (the remote
 * scorer, src/backend/remote_reply.c): arbitrary bytes as a scoring reply in
 * every dialect (for three known sequences, and for one under llama-server,
 * whose single results come as an object), a /tokenize, /detokenize,
 * completion and /v1/models reply. Each parser either succeeds with
 * well-formed output (finite or -inf sums, non-negative ids) or fails with a
 * message; nothing may crash, leak or read out of bounds.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/remote_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    spex_ctx *ctx = spex_ctx_new();
    if (!ctx) return 0;
    const char *b = (const char *)data;
    static const int32_t s0[] = {1, 450, 3}, s1[] = {1, 9}, s2[] = {1, 2, 3, 4};
    const int32_t *seqs[3] = {s0, s1, s2};
    int64_t lens[3] = {3, 2, 4}, from[3] = {1, 1, 2};
    for (int api = SPEX_REMOTE_VLLM; api <= SPEX_REMOTE_LLAMA_SERVER; api++)
        for (int n = 3; n >= 1; n -= 2) {
            double out[3];
            if (spexi_parse_score_reply(ctx, (spex_remote_api)api, b, size, n, seqs, lens, from,
                                        out) == SPEX_OK) {
                for (int i = 0; i < n; i++)
                    if (isnan(out[i]) || out[i] == INFINITY) abort();
            } else if (!*spex_errmsg(ctx)) {
                abort();
            }
        }
    int32_t *t = NULL;
    int64_t n = 0;
    if (spexi_parse_tokens_reply(ctx, b, size, &t, &n) == SPEX_OK)
        for (int64_t i = 0; i < n; i++)
            if (t[i] < 0) abort();
    spex_free(ctx, t);
    char *s = NULL;
    spexi_parse_content_reply(ctx, b, size, &s);
    spex_free(ctx, s);
    s = NULL;
    int stopped;
    spexi_parse_text_reply(ctx, b, size, &s, &stopped);
    spex_free(ctx, s);
    s = NULL;
    char *owner = NULL;
    spexi_parse_models_reply(ctx, b, size, NULL, &s, &owner);
    spex_free(ctx, s);
    spex_free(ctx, owner);
    s = NULL;
    spexi_parse_models_reply(ctx, b, size, "synth", &s, NULL);
    spex_free(ctx, s);
    spex_ctx_free(ctx);
    return 0;
}
