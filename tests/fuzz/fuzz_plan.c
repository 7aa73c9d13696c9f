/*
 * libFuzzer target for the plan-file parser (spex/plan.h): arbitrary bytes
 * into spex_plan_parse; every failure must explain itself ("plan: ..."), and
 * a plan that loads is written back and parsed again, which must give the
 * same fingerprint and the same masks. Built with -DSPEX_FUZZ=ON, CC=clang:
 *
 *     ./fuzz_plan -max_total_time=30 corpus/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spex/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    spex_ctx *ctx = spex_ctx_new();
    if (!ctx) return 0;
    char fp[65], fp2[65];
    spex_masks *m = NULL, *m2 = NULL;
    int rc = spex_plan_parse(ctx, (const char *)data, size, fp, &m);
    if (rc != SPEX_OK && (m != NULL || strncmp(spex_errmsg(ctx), "plan: ", 6) != 0)) abort();
    if (rc == SPEX_OK) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (f) {
            int wrc = spex_plan_write(ctx, f, fp, m);
            fclose(f);
            if (wrc == SPEX_OK) {
                if (spex_plan_parse(ctx, buf, len, fp2, &m2) != SPEX_OK) abort();
                if (strcmp(fp, fp2) || spex_masks_count(m) != spex_masks_count(m2) ||
                    spex_masks_n(m) != spex_masks_n(m2))
                    abort();
                for (int64_t i = 0; i < spex_masks_count(m); i++)
                    if (memcmp(spex_masks_crow(m, i), spex_masks_crow(m2, i),
                               spex_masks_words(m) * sizeof(uint64_t)))
                        abort();
            }
        }
        free(buf);
    }
    spex_masks_free(m);
    spex_masks_free(m2);
    spex_ctx_free(ctx);
    return 0;
}
