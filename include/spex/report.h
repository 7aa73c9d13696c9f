/*
 * spex/report.h - writing and reading results (DESIGN.md §4.3).
 *
 * Writers take a FILE * chosen by the caller (the library never picks the
 * terminal). JSON follows the spex-result/1 format; CSV has one row per
 * interaction; the table is the terminal report.
 *
 * Example:
 *     spex_result_write_json(ctx, res, f);
 *     spex_result *back;
 *     spex_result_read_json(ctx, "result.json", &back);
 */
#ifndef SPEX_REPORT_H
#define SPEX_REPORT_H

#include <stdio.h>

#include "spex/explain.h"

#ifdef __cplusplus
extern "C" {
#endif

/* DESIGN.md §4.3; numbers with 17 significant digits (round-trip exact). */
SPEX_API int spex_result_write_json(spex_ctx *ctx, const spex_result *r, FILE *f);
/* Header "rank,order,value,features,indices"; features joined by ' x ',
 * indices by ' '. top <= 0: all interactions. */
SPEX_API int spex_result_write_csv(spex_ctx *ctx, const spex_result *r, int64_t top, FILE *f);
/* A human-readable table of the top interactions with a summary line. */
SPEX_API int spex_result_write_table(spex_ctx *ctx, const spex_result *r, int64_t top, FILE *f);
/* Reads a result file; SPEX_E_PARSE / _RANGE with file, line and column or
 * the key at fault. *out owned by the caller. */
SPEX_API int spex_result_read_json(spex_ctx *ctx, const char *path, spex_result **out);
/* The same from len bytes in memory; `name` is used in messages. */
SPEX_API int spex_result_parse(spex_ctx *ctx, const char *json, size_t len, const char *name,
                               spex_result **out);

#ifdef __cplusplus
}
#endif
#endif
