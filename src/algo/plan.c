/*
 * Which masks a method will ask (spex/plan.h): spex_explain is run against
 * a stand-in value function that records every mask the query engine sends
 * it and answers with a hash of the mask. The query engine de-duplicates, so
 * the record is the distinct masks in asking order. This is exact only for
 * methods whose choice of masks does not depend on answers; every method
 * today is such (see plan.h), and a method added later must be listed in
 * plannable() after checking that.
 */
#include "spex/plan.h"

#include "core/hash_int.h"

typedef struct recorder {
    spex_masks *m;
} recorder;

static int record_eval(void *user, const spex_masks *b, double *out) {
    recorder *r = user;
    for (int64_t i = 0; i < spex_masks_count(b); i++) {
        const uint64_t *row = spex_masks_crow(b, i);
        int rc = spex_masks_append(r->m, row);
        if (rc) return rc;
        /* a varied stand-in, so that solvers do not meet a constant target */
        uint64_t h = spexi_hash_words(row, spex_masks_words(b));
        out[i] = (double)(h >> 11) * (1.0 / 9007199254740992.0);
    }
    return SPEX_OK;
}

static int plannable(spex_method m) {
    switch (m) {
    case SPEX_METHOD_EXACT:
    case SPEX_METHOD_SPEX:
    case SPEX_METHOD_PROXYSPEX:
    case SPEX_METHOD_LASSO:
    case SPEX_METHOD_KERNELSHAP:
    case SPEX_METHOD_AUTO: /* exact or ProxySPEX, chosen from n and the budget alone */
        return 1;
    }
    return 0;
}

int spex_plan_masks(spex_ctx *ctx, const spex_explain_opts *opts, int64_t n, spex_masks **out) {
    *out = NULL;
    spex_explain_opts eo = opts ? *opts : spex_explain_opts_default();
    if (!plannable(eo.method))
        return spex_seterr(ctx, SPEX_E_INVAL,
                           "method '%s' may choose masks from answers: it cannot be planned",
                           spex_method_name(eo.method));
    eo.store = NULL; /* the plan asks nothing of the cache */
    recorder r = {NULL};
    int rc = spex_masks_new(ctx, n, 1024, &r.m);
    if (rc) return rc;
    spex_valuefn vf = {record_eval, &r, NULL, n, "plan recorder", NULL};
    spex_result *res = NULL;
    rc = spex_explain(ctx, &vf, &eo, &res);
    spex_result_free(res);
    if (rc) {
        spex_masks_free(r.m);
        return rc;
    }
    *out = r.m;
    return SPEX_OK;
}
