/* spex_explain: runs one method through the query engine, then derives the
 * requested interaction index from the surrogate's Fourier form. */
#include "algo/algo_int.h"

#include <stdio.h>
#include <string.h>

static const char *const method_names[] = {"exact", "spex",       "proxyspex",
                                           "lasso", "kernelshap", "auto"};

spex_explain_opts spex_explain_opts_default(void) {
    spex_explain_opts o;
    memset(&o, 0, sizeof o);
    o.method = SPEX_METHOD_AUTO;
    o.max_order = 2;
    o.index = SPEX_INDEX_FOURIER;
    o.seed = 1;
    o.batch_size = 256;
    o.decoder = SPEX_DECODER_SOFT;
    return o;
}

int spex_method_parse(spex_ctx *ctx, const char *name, spex_method *out) {
    for (int i = 0; i < (int)(sizeof method_names / sizeof *method_names); i++)
        if (!strcmp(name, method_names[i])) {
            *out = (spex_method)i;
            return SPEX_OK;
        }
    return spex_seterr(ctx, SPEX_E_INVAL,
                       "unknown method '%s' (expected auto, exact, spex, proxyspex, lasso or "
                       "kernelshap)",
                       name);
}

const char *spex_method_name(spex_method m) {
    return (unsigned)m < sizeof method_names / sizeof *method_names ? method_names[m] : "?";
}

int64_t spex_auto_budget(int64_t n) {
    if (n <= 11) return n < 0 ? 1 : (int64_t)1 << n; /* at most 2,048: exact */
    int64_t b = 50 * n;
    return b < 2000 ? 2000 : b > 10000 ? 10000 : b;
}

/* Method auto: exact when every mask fits the budget (spex_auto_budget(n)
 * when none is given), else ProxySPEX, the most faithful on the real model
 * functions of bench/RESULTS.md at every budget measured. */
static void resolve_auto(int64_t n, spex_explain_opts *o, int *chosen) {
    *chosen = 0;
    if (o->method != SPEX_METHOD_AUTO) return;
    if (o->budget == 0) o->budget = spex_auto_budget(n);
    o->method =
        n <= 62 && ((int64_t)1 << n) <= o->budget ? SPEX_METHOD_EXACT : SPEX_METHOD_PROXYSPEX;
    *chosen = 1;
}

/* The degree a method is asked for when opts.degree is 0: up to
 * SPEX_AUTO_DEGREE_MAX, and at least the reported order. SPEX lowers it
 * further to what its budget affords (make_plan), LASSO and Faith-Banzhaf
 * regression to what their design affords (baselines.c). */
static int wanted_degree(const spex_explain_opts *o) {
    if (o->degree > 0) return o->degree;
    return o->max_order > SPEX_AUTO_DEGREE_MAX ? o->max_order : SPEX_AUTO_DEGREE_MAX;
}

int spex_result_new(spex_ctx *ctx, int64_t n, spex_result **out) {
    *out = NULL;
    spex_result *r = spex_calloc(ctx, 1, sizeof *r);
    if (!r) return SPEX_E_NOMEM;
    r->n = n;
    r->seed = 1;
    r->max_order = 1;
    int rc = spex_coefs_new(ctx, n, &r->fourier);
    if (!rc) {
        r->features = spex_calloc(ctx, (size_t)n, sizeof *r->features);
        if (!r->features) rc = SPEX_E_NOMEM;
    }
    for (int64_t j = 0; !rc && j < n; j++) {
        char buf[32];
        snprintf(buf, sizeof buf, "x%lld", (long long)j);
        r->features[j] = spex_strdup(ctx, buf);
        if (!r->features[j]) rc = SPEX_E_NOMEM;
    }
    if (rc) {
        spex_result_free(r);
        return rc;
    }
    *out = r;
    return SPEX_OK;
}

void spex_result_free(spex_result *r) {
    if (!r) return;
    spex_ctx *ctx = r->fourier ? spex_coefs_ctx(r->fourier) : NULL;
    if (r->features)
        for (int64_t j = 0; j < r->n; j++)
            spex_free(ctx, r->features[j]);
    spex_free(ctx, r->features);
    spex_coefs_free(r->fourier);
    spex_coefs_free(r->interactions);
    spex_free(ctx, r);
}

int spex_result_set_index(spex_result *r, spex_index idx, int max_order) {
    spex_coefs *inter = NULL;
    int rc = spex_interactions(r->fourier, idx, max_order, &inter);
    if (rc) return rc;
    spex_coefs_sort_abs(inter);
    spex_coefs_free(r->interactions);
    r->interactions = inter;
    r->index = idx;
    r->max_order = max_order;
    return SPEX_OK;
}

int spex_explain(spex_ctx *ctx, const spex_valuefn *vf, const spex_explain_opts *opts,
                 spex_result **out) {
    *out = NULL;
    spex_explain_opts o = opts ? *opts : spex_explain_opts_default();
    if (o.max_order < 1)
        return spex_seterr(ctx, SPEX_E_RANGE, "max order %d must be >= 1", o.max_order);
    if (o.budget < 0)
        return spex_seterr(ctx, SPEX_E_RANGE, "budget %lld must be >= 0", (long long)o.budget);
    if (o.degree < 0 || o.degree > 63)
        return spex_seterr(ctx, SPEX_E_RANGE, "degree %d must be 0 (automatic) or 1..63", o.degree);
    int chosen;
    resolve_auto(vf->n, &o, &chosen);
    /* exact and the baselines resolve an automatic degree themselves */
    if (o.method == SPEX_METHOD_SPEX || o.method == SPEX_METHOD_PROXYSPEX)
        o.degree = wanted_degree(&o);
    spex_query_opts qo = spex_query_opts_default();
    qo.batch_size = o.batch_size;
    qo.budget = o.budget;
    qo.store = o.store;
    qo.store_policy = o.store_policy;
    spex_query *q = NULL;
    spex_result *res = NULL;
    spex_coefs *fourier = NULL;
    spex_details details;
    memset(&details, 0, sizeof details);
    double t0 = spex_now();
    int rc = spex_query_new(ctx, vf, &qo, &q);
    if (rc) goto done;
    switch (o.method) {
    case SPEX_METHOD_EXACT:
        rc = spexi_algo_exact(ctx, q, vf->n, &o, &fourier);
        break;
    case SPEX_METHOD_SPEX:
        rc = spexi_algo_spex(ctx, q, vf->n, &o, &fourier, &details);
        break;
    case SPEX_METHOD_PROXYSPEX:
        rc = spexi_algo_proxyspex(ctx, q, vf->n, &o, &fourier, &details);
        break;
    case SPEX_METHOD_LASSO:
        rc = spexi_algo_lasso(ctx, q, vf->n, &o, &fourier, &details);
        break;
    case SPEX_METHOD_KERNELSHAP:
        rc = spexi_algo_kernelshap(ctx, q, vf->n, &o, &fourier, &details);
        break;
    default:
        rc = spex_seterr(ctx, SPEX_E_UNSUPPORTED, "method %s is not available in this build",
                         spex_method_name(o.method));
    }
    if (rc) goto done;
    rc = spex_result_new(ctx, vf->n, &res);
    if (rc) goto done;
    spex_coefs_free(res->fourier);
    res->fourier = fourier;
    fourier = NULL;
    res->method = o.method;
    res->budget = o.budget;
    res->seed = o.seed;
    res->queries = spex_query_n_asked(q);
    res->queries_cached = spex_query_n_cached(q);
    res->queries_new = res->queries - res->queries_cached;
    res->details = details;
    res->method_auto = chosen;
    switch (o.method) {
    case SPEX_METHOD_SPEX:
        res->degree = details.u.spex.t;
        break;
    case SPEX_METHOD_LASSO:
    case SPEX_METHOD_KERNELSHAP:
        res->degree = details.u.linear.max_order;
        break;
    case SPEX_METHOD_PROXYSPEX:
        res->degree = o.degree;
        break;
    default:
        res->degree = vf->n > 63 ? 63 : (int)vf->n;
    }
    rc = spex_result_set_index(res, o.index, o.max_order);
    if (rc) goto done;
    res->seconds_queries = spex_query_seconds(q);
    res->seconds_solve = spex_now() - t0 - res->seconds_queries;
    *out = res;
    res = NULL;
done:
    spex_coefs_free(fourier);
    spex_result_free(res);
    spex_query_free(q);
    return rc;
}
