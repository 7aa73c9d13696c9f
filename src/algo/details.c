/* The methods' accounts of a run (spex_details, spex/explain.h) as the one
 * line that the terminal table, the HTML report and the benchmarks print.
 * The methods fill the typed fields (spex.c, proxyspex.c, baselines.c); the
 * result file keeps them as an object (src/report/result_io.c). */
#include <stdarg.h>
#include <stdio.h>

#include "spex/explain.h"

/* snprintf into buf[at..cap) that keeps counting past the end. */
typedef struct line {
    char *buf;
    size_t cap, at;
} line;

static void put(line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(line *l, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *dst = l->at < l->cap ? l->buf + l->at : NULL;
    int w = vsnprintf(dst, dst ? l->cap - l->at : 0, fmt, ap);
    va_end(ap);
    if (w > 0) l->at += (size_t)w;
}

static void spex_line(line *l, const spex_spex_details *s) {
    int C = s->C < 1 ? 1 : s->C > SPEX_DETAILS_MAX_GROUPS ? SPEX_DETAILS_MAX_GROUPS : s->C;
    /* group sizes: "4" when all equal, else "5,5,4,4" (the last one after) */
    put(l, "spex: b = ");
    for (int c = 0; s->b[0] != s->b[C - 1] && c + 1 < C; c++)
        put(l, "%d,", s->b[c]);
    put(l,
        "%d, t = %d, C = %d groups, %d delays: %lld structured masks (%lld distinct) + %lld "
        "random; %lld coefficients found in %lld peeling sweeps, %lld pairs, %lld triples "
        "(%.3f s)",
        s->b[C - 1], s->t, s->C, s->delays, (long long)s->structured,
        (long long)s->structured_distinct, (long long)s->random, (long long)s->found,
        (long long)s->sweeps, (long long)s->pairs, (long long)s->triples, s->seconds);
}

static void proxyspex_line(line *l, const spex_proxyspex_details *p) {
    put(l,
        "proxy: depth %d, lr %g, %d rounds (grid cv r2 %.4f); %lld tree terms; kept %lld (%.4f of "
        "the energy), ridge alpha %.3g, cv r2 %.4f; grown by %lld (%.2f s); %lld above the noise "
        "level after the final refit; xgboost %.2f s",
        p->max_depth, p->lr, p->rounds, p->grid_cv_r2, (long long)p->tree_terms, (long long)p->kept,
        p->energy, p->alpha, p->cv_r2, (long long)p->grown, p->seconds_grow,
        (long long)p->final_terms, p->seconds_xgb);
}

int spex_details_text(const spex_details *d, char *buf, size_t cap) {
    line l = {buf, cap, 0};
    if (buf && cap) buf[0] = '\0';
    if (!d) return 0;
    const spex_linear_details *r = &d->u.linear;
    switch (d->kind) {
    case SPEX_DETAILS_SPEX:
        spex_line(&l, &d->u.spex);
        break;
    case SPEX_DETAILS_PROXYSPEX:
        proxyspex_line(&l, &d->u.proxyspex);
        break;
    case SPEX_DETAILS_LASSO:
        put(&l,
            "lasso: %lld masks, %lld Fourier columns (orders 1..%d), alpha %.3g, %lld nonzero, cv "
            "r2 %.4f",
            (long long)r->masks, (long long)r->columns, r->max_order, r->alpha,
            (long long)r->nonzero, r->cv_r2);
        break;
    case SPEX_DETAILS_KERNELSHAP:
        put(&l,
            "faith-banzhaf regression: %lld masks, %lld Moebius columns (orders 1..%d), rank %lld, "
            "train r2 %.4f",
            (long long)r->masks, (long long)r->columns, r->max_order, (long long)r->rank,
            r->train_r2);
        break;
    default:
        break;
    }
    return l.at > (size_t)0x7fffffff ? 0x7fffffff : (int)l.at;
}

int spex_result_details_text(const spex_result *r, char *buf, size_t cap) {
    return spex_details_text(r ? &r->details : NULL, buf, cap);
}

const char *spex_details_kind_name(spex_details_kind k) {
    switch (k) {
    case SPEX_DETAILS_SPEX:
        return "spex";
    case SPEX_DETAILS_PROXYSPEX:
        return "proxyspex";
    case SPEX_DETAILS_LASSO:
        return "lasso";
    case SPEX_DETAILS_KERNELSHAP:
        return "kernelshap";
    default:
        return "none";
    }
}
