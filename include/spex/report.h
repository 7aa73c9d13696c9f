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

/* DESIGN.md §4.3; numbers with 17 significant digits (round-trip exact).
 * "details" is the method's account (spex_details, spex/explain.h) as an
 * object of its typed fields under their struct names, plus "method", or null
 * when there is none:
 *     "details": {"method": "lasso", "masks": 1000, "columns": 528,
 *                 "max_order": 2, "alpha": 0.163, "nonzero": 36,
 *                 "cv_r2": 0.4639, "rank": -1, "train_r2": 0.51}
 * SPEX's "b" is a list of C integers. Doubles take the fewest digits that
 * read back exactly; NaN is null, infinities "inf" / "-inf". */
SPEX_API int spex_result_write_json(spex_ctx *ctx, const spex_result *r, FILE *f);
/* Header "rank,order,value,features,indices"; features joined by ' x ',
 * indices by ' '. top <= 0: all interactions. */
SPEX_API int spex_result_write_csv(spex_ctx *ctx, const spex_result *r, int64_t top, FILE *f);
/* A human-readable table of the top interactions with a summary line. */
SPEX_API int spex_result_write_table(spex_ctx *ctx, const spex_result *r, int64_t top, FILE *f);
/* The method as the reports name it, snprintf-style: its name, why method
 * auto chose it, and the surrogate's degree, e.g.
 * "proxyspex (chosen by auto: 2^15 masks exceed the budget of 2000) ·
 * surrogate degree 5". */
SPEX_API int spex_result_method_text(const spex_result *r, char *buf, size_t cap);
/* Reads a result file; SPEX_E_PARSE / _RANGE with file, line and column or
 * the key at fault. *out owned by the caller. A "details" object must hold
 * every field of its method, each of its type and in range (unknown keys are
 * ignored); a "details" string (files written before the typed fields) is
 * ignored and gives SPEX_DETAILS_NONE, as null or no "details" do. */
SPEX_API int spex_result_read_json(spex_ctx *ctx, const char *path, spex_result **out);
/* The same from len bytes in memory; `name` is used in messages. */
SPEX_API int spex_result_parse(spex_ctx *ctx, const char *json, size_t len, const char *name,
                               spex_result **out);

/* ---- the HTML report (src/report/html.c) ----
 * One self-contained page (inline CSS and SVG, no script, no external
 * reference): the features shaded by their first-order value (red raises the
 * value, blue lowers it, with a legend), a bar chart of the first-order
 * values, the top pairwise interactions drawn as arcs between the features,
 * the top interactions as a table, and the run's settings and costs.
 *
 *     spex_html_opts ho = spex_html_opts_default();
 *     ho.title = "movie_review";
 *     spex_result_write_html(ctx, res, &ho, f);
 */
/* One re-queried interaction (`spex explain --validate`): the surrogate's
 * predicted and the target's measured value change when its features are
 * removed together (joint), and their interaction at the full input
 * (delta). */
typedef struct spex_validation_row {
    const int32_t *idx; /* the features (borrowed) */
    int len;
    double index; /* its value in the result's index */
    double joint_pred, joint_meas, delta_pred, delta_meas;
} spex_validation_row;

typedef struct spex_html_opts {
    const char *title; /* page title; NULL: "spex explanation" */
    /* Prompt view when prose != 0: the features are runs of text shown in
     * place, between prefix and suffix (never ablated; NULL: none), feature
     * i preceded by leads[i] (NULL array: one space) and shown as texts[i]
     * (NULL array: its name; the name, "waiter#2", stays in its tooltip).
     * Otherwise the features are a row of labelled chips. */
    int prose;
    const char *prefix;
    const char *suffix;
    const char *const *leads; /* r->n strings or NULL; borrowed */
    const char *const *texts; /* r->n strings or NULL; borrowed */
    int64_t top;              /* interactions in the table; pairwise ones
                                 among them become arcs; <= 0: 20 */
    int64_t max_bars;         /* bars drawn (largest |value| first when
                                 n exceeds it); <= 0: 100 */
    const char *const *notes; /* n_notes extra settings lines; borrowed */
    int64_t n_notes;
    /* n_validation re-queried interactions shown as a table (tr.vrow each);
     * NULL: no validation section */
    const spex_validation_row *validation;
    int64_t n_validation;
} spex_html_opts;

SPEX_API spex_html_opts spex_html_opts_default(void);
/* Writes the page to f. Every feature name and text is HTML-escaped;
 * elements carry stable classes for checks: rect.bar (one per bar),
 * path.arc (one per drawn pairwise interaction), span.feat (one per
 * feature). opts NULL: defaults. SPEX_E_IO when writing fails,
 * SPEX_E_NOMEM. */
SPEX_API int spex_result_write_html(spex_ctx *ctx, const spex_result *r, const spex_html_opts *opts,
                                    FILE *f);

#ifdef __cplusplus
}
#endif
#endif
