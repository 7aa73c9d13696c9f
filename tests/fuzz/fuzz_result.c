/*
 * libFuzzer target for the result-file reader (DESIGN.md §4.3): arbitrary
 * bytes into spex_result_parse; a result that loads is written back as JSON
 * and CSV and its index recomputed, so everything downstream of the reader
 * sees hostile values too. Built with -DSPEX_FUZZ=ON and CC=clang:
 *
 *     ./fuzz_result -max_total_time=30 corpus/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spex/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    spex_ctx *ctx = spex_ctx_new();
    if (!ctx) return 0;
    spex_result *r = NULL;
    int rc = spex_result_parse(ctx, (const char *)data, size, "fuzz.json", &r);
    /* every failure explains itself and names the input */
    if (rc != SPEX_OK && (r != NULL || strncmp(spex_errmsg(ctx), "fuzz.json", 9) != 0)) abort();
    if (rc == SPEX_OK) {
        FILE *sink = fopen("/dev/null", "w");
        if (sink) {
            spex_result_write_json(ctx, r, sink);
            spex_result_write_csv(ctx, r, 10, sink);
            spex_result_write_table(ctx, r, 10, sink);
            fclose(sink);
        }
        /* bounded work: index conversion costs 2^|S| per coefficient */
        if (spex_coefs_max_order(r->fourier) <= 12 && spex_coefs_count(r->fourier) < 2000)
            spex_result_set_index(r, SPEX_INDEX_SII, 2);
        spex_result_free(r);
    }
    spex_ctx_free(ctx);
    return 0;
}
