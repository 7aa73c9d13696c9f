/* `spex explain --validate K` (DESIGN.md §3, checks on a result): re-queries
 * the target for each of the top K interactions T, at the full input with T
 * and each of its subsets ablated, and compares the surrogate's prediction
 * (its Fourier form at the same masks) with the measured values:
 *   joint    f(N \ T) - f(N): removing T's features together;
 *   Δ_T      Σ_{L ⊆ T} (-1)^{|L|} f(N \ L): their interaction at the full
 *            input (DESIGN.md appendix, Δ_T v(N \ T)).
 * The queries go through the query engine with the run's cache (any lens):
 * what the cache holds is not asked again, and what is asked is saved, so a
 * re-run validates for free. The rows are printed in the terminal and shown
 * in the HTML report. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "target.h"
#include "spex/query.h"

#define VALIDATE_MAX_ORDER 10 /* 2^10 masks per interaction at most */

void cli_validation_clear(cli_validation *v) {
    free(v->rows);
    memset(v, 0, sizeof *v);
}

int cli_validate(spex_ctx *ctx, cli_target *t, const spex_explain_opts *eo,
                 const spex_result *res, int64_t k, cli_validation *out) {
    memset(out, 0, sizeof *out);
    int64_t n = res->n, n_int = spex_coefs_count(res->interactions), nk = 0;
    int64_t *pick = calloc((size_t)(k > 0 ? k : 1), sizeof *pick);
    spex_masks *b = NULL;
    spex_query *qe = NULL;
    double *meas = NULL;
    int rc = pick ? spex_masks_new(ctx, n, 64, &b) : SPEX_E_NOMEM;
    for (int64_t i = 0; !rc && i < n_int && nk < k; i++) {
        const int32_t *idx;
        int len;
        double v;
        spex_coefs_entry(res->interactions, i, &idx, &len, &v);
        if (len >= 1 && len <= VALIDATE_MAX_ORDER) pick[nk++] = i;
    }
    /* rows: the full mask, then per picked T its 2^|T| - 1 ablations N \ L */
    uint64_t *row;
    if (!rc) rc = spex_masks_append_zero(b, &row);
    if (!rc)
        for (int64_t j = 0; j < n; j++) spex_bits_set(row, j, 1);
    for (int64_t q = 0; !rc && q < nk; q++) {
        const int32_t *idx;
        int len;
        double v;
        spex_coefs_entry(res->interactions, pick[q], &idx, &len, &v);
        for (uint32_t l = 1; !rc && l < (1u << len); l++) {
            rc = spex_masks_append(b, spex_masks_crow(b, 0));
            if (rc) break;
            row = spex_masks_row(b, spex_masks_count(b) - 1);
            for (int j = 0; j < len; j++)
                if (l >> j & 1) spex_bits_set(row, idx[j], 0);
        }
    }
    int64_t nm = rc ? 0 : spex_masks_count(b);
    if (!rc && !(meas = calloc((size_t)nm, sizeof *meas))) rc = SPEX_E_NOMEM;
    if (!rc && !(out->rows = calloc((size_t)(nk > 0 ? nk : 1), sizeof *out->rows)))
        rc = SPEX_E_NOMEM;
    spex_query_opts qo = spex_query_opts_default();
    qo.store = eo->store;
    qo.store_policy = eo->store_policy;
    if (eo->batch_size > 0) qo.batch_size = eo->batch_size;
    if (!rc) rc = spex_query_new(ctx, &t->vf, &qo, &qe);
    if (!rc) rc = spex_query_eval(qe, b, meas);
    if (!rc) {
        out->n_distinct = spex_query_n_asked(qe);
        out->n_cached = spex_query_n_cached(qe);
    }
    if (rc) {
        if (rc == SPEX_E_NOMEM) spex_seterr(ctx, rc, "out of memory");
        spex_errprefix(ctx, "--validate");
        goto done;
    }
    for (int64_t i = 0; i < nm; i++)
        if (!isfinite(meas[i])) {
            rc = spex_seterr(ctx, SPEX_E_VALUE, "--validate: the target gave no number for "
                                                "re-query %lld", (long long)i);
            goto done;
        }
    out->n_masks = nm;
    out->full_pred = spex_coefs_eval_fourier(res->fourier, spex_masks_crow(b, 0));
    out->full_meas = meas[0];
    int64_t r = 1;
    for (int64_t q = 0; q < nk; q++) {
        spex_validation_row *v = &out->rows[q];
        spex_coefs_entry(res->interactions, pick[q], &v->idx, &v->len, &v->index);
        /* masks of this T: row r + l - 1 is N \ L for L = bits of l */
        for (uint32_t l = 0; l < (1u << v->len); l++) {
            int64_t ri = l ? r + (int64_t)l - 1 : 0;
            double fp = spex_coefs_eval_fourier(res->fourier, spex_masks_crow(b, ri));
            double sgn = __builtin_popcount(l) & 1 ? -1.0 : 1.0;
            v->delta_pred += sgn * fp;
            v->delta_meas += sgn * meas[ri];
            if (l == (1u << v->len) - 1) {
                v->joint_pred = fp - out->full_pred;
                v->joint_meas = meas[ri] - meas[0];
            }
        }
        r += (int64_t)(1u << v->len) - 1;
        if (fabs(v->joint_pred - v->joint_meas) > out->worst)
            out->worst = fabs(v->joint_pred - v->joint_meas);
        if (fabs(v->delta_pred - v->delta_meas) > out->worst)
            out->worst = fabs(v->delta_pred - v->delta_meas);
    }
    out->n = nk;
done:
    if (rc) cli_validation_clear(out);
    free(pick);
    free(meas);
    spex_masks_free(b);
    spex_query_free(qe);
    return rc;
}

void cli_validation_print(const cli_validation *v, const spex_result *res, FILE *f) {
    fprintf(f, "\nvalidation: top %lld interaction%s re-queried (%lld distinct masks, %lld "
               "from the cache); predicted = the surrogate, measured = the target\n",
            (long long)v->n, v->n == 1 ? "" : "s", (long long)v->n_distinct,
            (long long)v->n_cached);
    fprintf(f, "  joint: value change when the features are removed together; "
               "Δ: their interaction at the full input\n\n");
    fprintf(f, " rank        index   joint pred   joint meas       Δ pred       Δ meas  features\n");
    for (int64_t q = 0; q < v->n; q++) {
        const spex_validation_row *w = &v->rows[q];
        fprintf(f, "%5lld %12.6f %12.6f %12.6f %12.6f %12.6f  ", (long long)(q + 1), w->index,
                w->joint_pred, w->joint_meas, w->delta_pred, w->delta_meas);
        for (int j = 0; j < w->len; j++)
            fprintf(f, "%s%s", j ? " × " : "", res->features[w->idx[j]]);
        fputc('\n', f);
    }
    fprintf(f, "\nlargest |predicted - measured|: %.6f (full input: predicted %.6f, measured "
               "%.6f)\n",
            v->worst, v->full_pred, v->full_meas);
}
