/*
 * libFuzzer target for the GGUF loader (src/llm/gguf.c): arbitrary bytes
 * into spex_gguf_open_buffer. A file that loads is walked completely: every
 * metadata value read through every accessor, every tensor's data
 * dequantised (bounded), and the vocabulary built when there is one, so that
 * everything downstream of the parser sees hostile values too. Built with
 * -DSPEX_FUZZ=ON and CC=clang:
 *
 *     ./fuzz_gguf -max_total_time=60 corpus/ ../tests/fuzz/seeds/gguf/
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llm/llm_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    spex_ctx *ctx = spex_ctx_new();
    if (!ctx) return 0;
    /* an aligned copy, as a mapping would be */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) {
        spex_ctx_free(ctx);
        return 0;
    }
    if (size) memcpy(copy, data, size);
    spex_gguf *g = NULL;
    int rc = spex_gguf_open_buffer(ctx, copy, size, "fuzz.gguf", &g);
    /* every failure explains itself and names the input */
    if (rc != SPEX_OK && (g != NULL || strncmp(spex_errmsg(ctx), "fuzz.gguf", 9) != 0)) abort();
    if (rc == SPEX_OK) {
        for (int64_t i = 0; i < spex_gguf_n_kv(g); i++) {
            int64_t n = spex_gguf_kv_type(g, i) == SPEX_GGUF_ARRAY ? spex_gguf_arr_n(g, i) : 0;
            for (int64_t j = -1; j < n && j < 64; j++) {
                int64_t v;
                double d;
                const char *s;
                size_t len;
                spex_gguf_get_int(g, i, j, &v);
                spex_gguf_get_float(g, i, j, &d);
                if (spex_gguf_get_str(g, i, j, &s, &len) == SPEX_OK && len && s[len - 1] == 0x7f)
                    v = 0;
            }
        }
        float buf[4096];
        for (int64_t i = 0; i < spex_gguf_n_tensors(g); i++) {
            spex_tensor_info t;
            spex_gguf_tensor(g, i, &t);
            if ((const uint8_t *)t.data + t.size > copy + size) abort();
            int64_t be = spex_tensor_block_elems(t.type);
            size_t bs = spex_tensor_block_size(t.type);
            int64_t nb = (int64_t)(t.size / bs), take = nb < 4096 / be ? nb : 4096 / be;
            if (spex_tensor_to_f32(ctx, t.type, t.data, take * be, buf) != SPEX_OK) abort();
        }
        llm_vocab v;
        if (spexi_vocab_load(ctx, g, &v) == SPEX_OK) {
            int32_t *toks;
            int64_t nt;
            static const char text[] = "Hello world, naïve 日本 \x01\xff tokens";
            if (spexi_vocab_tokenize(ctx, &v, text, sizeof text - 1, 1, &toks, &nt) == SPEX_OK) {
                for (int64_t k = 0; k < nt; k++)
                    if (toks[k] < 0 || toks[k] >= v.n) abort();
                spex_free(ctx, toks);
            }
            spexi_vocab_clear(ctx, &v);
        }
        spex_gguf_free(g);
    }
    free(copy);
    spex_ctx_free(ctx);
    return 0;
}
