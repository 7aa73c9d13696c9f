/*
 * libFuzzer target for the data lens's CSV reader (src/backend/csv.c):
 * arbitrary bytes into spex_data_parse_csv, as a training file (label column
 * "label", group column "g") and then as a test file read against the first
 * successful parse, so the label mapping and column matching see hostile
 * input too. Every failure must name the input; every success must hold
 * consistent counts and class ids. Built with -DSPEX_FUZZ=ON and CC=clang:
 *
 *     ./fuzz_csv -max_total_time=60 corpus/ tests/fuzz/seeds/csv/
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spex/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const spex_dataset *ds) {
    if (ds->n_rows < 1 || ds->n_classes < 1) abort();
    for (int64_t i = 0; i < ds->n_rows; i++) {
        if (ds->y[i] < 0 || ds->y[i] >= ds->n_classes) abort();
        if (ds->group && (ds->group[i] < 0 || ds->group[i] >= ds->n_groups)) abort();
        for (int64_t j = 0; j < ds->n_features; j++)
            if (!isfinite(ds->x[i * ds->n_features + j])) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    spex_ctx *ctx = spex_ctx_new();
    if (!ctx) return 0;
    spex_csv_opts o = spex_csv_opts_default();
    o.label = "label";
    o.group_by = size && (data[0] & 1) ? "g" : NULL;
    o.max_cols = 4096;
    o.max_rows = 100000;
    spex_dataset *tr = NULL, *te = NULL;
    int rc = spex_data_parse_csv(ctx, (const char *)data, size, "fuzz.csv", &o, NULL, &tr);
    if (rc != SPEX_OK && (tr != NULL || strncmp(spex_errmsg(ctx), "fuzz.csv", 8) != 0)) abort();
    if (rc == SPEX_OK) {
        check(tr);
        /* the same bytes as a test file against themselves */
        rc = spex_data_parse_csv(ctx, (const char *)data, size, "fuzz.csv", &o, tr, &te);
        if (rc != SPEX_OK && (te != NULL || strncmp(spex_errmsg(ctx), "fuzz.csv", 8) != 0))
            abort();
        if (rc == SPEX_OK) {
            check(te);
            if (te->n_classes != tr->n_classes) abort();
        }
        spex_dataset_free(te);
        spex_dataset_free(tr);
    }
    spex_ctx_free(ctx);
    return 0;
}
