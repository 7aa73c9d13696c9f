/*
 * libFuzzer target for spex serve's request parsers (src/serve/request.c):
 * arbitrary bytes as a /v1/completions, /tokenize and /detokenize body.
 * A parsed request must respect the limits (ids inside the vocabulary,
 * prompt count and lengths), a refused one leaves nothing allocated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    spex_ctx *ctx = spex_ctx_new();
    if (!ctx) return 0;
    const char *b = (const char *)data;
    spexi_req_limits lim = {512, 16, 64, 4, 2};
    spexi_completion_req c;
    memset(&c, 0, sizeof c);
    if (spexi_parse_completion(ctx, b, size, &lim, &c) == SPEX_OK) {
        if (c.n_prompts < 1 || c.n_prompts > lim.max_prompts || c.max_tokens < 0 ||
            c.max_tokens > lim.max_tokens)
            abort();
        for (int64_t i = 0; i < c.n_prompts; i++) {
            const spexi_prompt_in *p = &c.prompts[i];
            if (!p->text && p->n_ids > lim.max_tokens) abort();
            for (int64_t j = 0; !p->text && j < p->n_ids; j++)
                if (p->ids[j] < 0 || p->ids[j] >= lim.n_vocab) abort();
        }
    } else if (c.prompts || c.model) {
        abort();
    }
    spexi_completion_req_clear(ctx, &c);
    spexi_tokenize_req t;
    memset(&t, 0, sizeof t);
    if (spexi_parse_tokenize(ctx, b, size, &lim, &t) == SPEX_OK) {
        if (t.n_texts < 1 || t.n_texts > lim.max_prompts || (!t.list && t.n_texts != 1)) abort();
        for (int64_t i = 0; i < t.n_texts; i++)
            if (!t.texts[i]) abort();
    } else if (t.texts) {
        abort();
    }
    spexi_tokenize_req_clear(ctx, &t);
    spexi_detokenize_req d;
    memset(&d, 0, sizeof d);
    if (spexi_parse_detokenize(ctx, b, size, &lim, &d) == SPEX_OK)
        for (int64_t j = 0; j < d.n_ids; j++)
            if (d.ids[j] < 0 || d.ids[j] >= lim.n_vocab) abort();
    spexi_detokenize_req_clear(ctx, &d);
    spex_ctx_free(ctx);
    return 0;
}
