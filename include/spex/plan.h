/*
 * spex/plan.h - the masks a method will ask, written ahead of time, so that
 * shards on other machines (Slurm array tasks, GNU parallel jobs, Kubernetes
 * Indexed Jobs) can answer them into caches that are merged afterwards.
 *
 * Every method of spex_explain chooses its masks from n, the budget and the
 * seed alone, never from the answers (exact: all 2^n; spex: the BCH-coded
 * design, then uniform masks for the refit; proxyspex, lasso, kernelshap:
 * uniform masks in one call), so running it against a stand-in value
 * function gives exactly the masks a real run asks. spex_plan_masks does
 * that. A plan file ("spex-plan 1") is text:
 *     spex-plan 1
 *     fingerprint HEX      SHA-256 (64 hex digits) of the target's cache fingerprint
 *     n N                  features
 *     masks COUNT
 *     COUNT lines of N characters '0'/'1' (feature j kept = character j is '1')
 * Masks are distinct and in the order the method asks them.
 *
 * Example:
 *     spex_masks *m;
 *     spex_plan_masks(ctx, &eo, n, &m);
 *     spex_plan_write(ctx, f, fp_hex, m);
 *     ... on each shard: spex_plan_parse(ctx, text, len, fp_hex, &m);
 */
#ifndef SPEX_PLAN_H
#define SPEX_PLAN_H

#include "spex/explain.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest plan spex_plan_parse accepts: masks * n characters. */
#define SPEX_PLAN_MAX_CHARS ((int64_t)1 << 36)

/* The distinct masks (in asking order) that spex_explain with these options
 * asks of an n-feature value function. *out owned by the caller. The
 * method's solver runs on stand-in answers (a hash of each mask), so this
 * costs the method's own solve time. SPEX_E_INVAL for a method that is not
 * known to choose its masks without seeing answers (none today). */
SPEX_API int spex_plan_masks(spex_ctx *ctx, const spex_explain_opts *opts, int64_t n,
                             spex_masks **out);
/* Writes a plan file; fp_hex is 64 hex digits (spex_sha256_hex of the
 * target's fingerprint). SPEX_E_IO when writing fails. */
SPEX_API int spex_plan_write(spex_ctx *ctx, FILE *f, const char *fp_hex, const spex_masks *m);
/* Parses a plan file's text (len bytes, need not be NUL-terminated) into
 * fp_hex (NUL-terminated) and *out (owned by the caller). SPEX_E_PARSE with
 * the line number for anything malformed: wrong header, bad counts, a mask
 * line of another length or with other characters, missing or extra lines. */
SPEX_API int spex_plan_parse(spex_ctx *ctx, const char *text, size_t len, char fp_hex[65],
                             spex_masks **out);

#ifdef __cplusplus
}
#endif
#endif
