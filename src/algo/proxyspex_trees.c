/*
 * Exact Fourier form of a gradient-boosted tree ensemble over 0/1 features,
 * read from XGBoost's JSON model dump (ProxySPEX, Butler et al. 2025;
 * DESIGN.md §3).
 *
 * HOW IT WORKS
 * A leaf is the constant function {∅: value}. At a split on feature j the
 * tree sends x_j to "yes" when x_j < split_condition and to "no" otherwise;
 * when the booster was trained with zeros as missing entries (proxyspex.c
 * does, for speed), x_j = 0 is never compared and takes the split's
 * "missing" (default) branch instead. With C0 the child reached by x_j = 0
 * and C1 the child reached by x_j = 1, and [m_j = 0] = (1 + (-1)^{m_j})/2,
 * [m_j = 1] = (1 - (-1)^{m_j})/2,
 *     f(m) = (C0 + C1)/2 + (-1)^{m_j} (C0 - C1)/2,
 * so each coefficient F_C(k) of the children contributes (F_C0(k)+F_C1(k))/2
 * to k and (F_C0(k)-F_C1(k))/2 to k Δ {j} (symmetric difference: a feature
 * split twice on one path folds back, since ((-1)^{m_j})² = 1). When both
 * values of x_j reach the same child, the split is a no-op. A tree of depth
 * d has at most 2^d terms; the ensemble is the sum of its trees plus the
 * base score (the prediction before any tree).
 */
#include "algo/algo_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define TREE_MAX_DEPTH 64

/* idx Δ {j} into buf (sorted); returns the new length. */
static int sym_diff(const int32_t *idx, int len, int32_t j, int32_t *buf) {
    int o = 0, placed = 0;
    for (int i = 0; i < len; i++) {
        if (idx[i] == j) {
            placed = 1;
            continue;
        }
        if (!placed && idx[i] > j) {
            buf[o++] = j;
            placed = 1;
        }
        buf[o++] = idx[i];
    }
    if (!placed) buf[o++] = j;
    return o;
}

static json_t *child_by_id(json_t *node, json_int_t id) {
    json_t *kids = json_object_get(node, "children");
    size_t i;
    json_t *c;
    json_array_foreach(kids, i, c) {
        json_t *nid = json_object_get(c, "nodeid");
        if (json_is_integer(nid) && json_integer_value(nid) == id) return c;
    }
    return NULL;
}

/* Fourier form of the subtree at node into a new *out; scale multiplies
 * every value (1/2 per split above). */
static int subtree(spex_ctx *ctx, int64_t n, json_t *node, int depth, int64_t tree,
                   int zero_missing, spex_coefs **out) {
    *out = NULL;
    if (depth > TREE_MAX_DEPTH)
        return spex_seterr(ctx, SPEX_E_PARSE, "tree %lld: deeper than %d levels", (long long)tree,
                           TREE_MAX_DEPTH);
    json_t *leaf = json_object_get(node, "leaf");
    if (leaf) {
        if (!json_is_number(leaf))
            return spex_seterr(ctx, SPEX_E_PARSE, "tree %lld: a leaf value is not a number",
                               (long long)tree);
        int rc = spex_coefs_new(ctx, n, out);
        if (!rc) rc = spex_coefs_set(*out, NULL, 0, json_number_value(leaf));
        return rc;
    }
    const char *split = json_string_value(json_object_get(node, "split"));
    json_t *cond = json_object_get(node, "split_condition");
    json_t *yes = json_object_get(node, "yes"), *no = json_object_get(node, "no");
    json_t *miss = json_object_get(node, "missing");
    char *end = NULL;
    long long j = -1;
    if (split && split[0] == 'f' && split[1] >= '0' && split[1] <= '9')
        j = strtoll(split + 1, &end, 10);
    if (!split || j < 0 || !end || *end || j >= n || !json_is_number(cond) ||
        !json_is_integer(yes) || !json_is_integer(no) || (zero_missing && !json_is_integer(miss)))
        return spex_seterr(ctx, SPEX_E_PARSE,
                           "tree %lld: a split node lacks a valid 'split' (feature f0..f%lld), "
                           "'split_condition', 'yes', 'no' or 'missing'",
                           (long long)tree, (long long)(n - 1));
    double thr = json_number_value(cond);
    json_int_t id0 = zero_missing ? json_integer_value(miss)
                     : 0.0 < thr  ? json_integer_value(yes)
                                  : json_integer_value(no);
    json_int_t id1 = 1.0 < thr ? json_integer_value(yes) : json_integer_value(no);
    json_t *c0 = child_by_id(node, id0), *c1 = child_by_id(node, id1);
    if (!c0 || !c1)
        return spex_seterr(ctx, SPEX_E_PARSE, "tree %lld: child node %lld of a split is missing",
                           (long long)tree, (long long)(c0 ? id1 : id0));
    if (id0 == id1) return subtree(ctx, n, c0, depth + 1, tree, zero_missing, out);
    spex_coefs *f0 = NULL, *f1 = NULL, *f = NULL;
    int rc = subtree(ctx, n, c0, depth + 1, tree, zero_missing, &f0);
    if (!rc) rc = subtree(ctx, n, c1, depth + 1, tree, zero_missing, &f1);
    if (!rc) rc = spex_coefs_new(ctx, n, &f);
    int32_t buf[TREE_MAX_DEPTH + 2];
    for (int side = 0; !rc && side < 2; side++) {
        const spex_coefs *c = side ? f1 : f0;
        double sgn = side ? -0.5 : 0.5;
        for (int64_t i = 0; !rc && i < spex_coefs_count(c); i++) {
            const int32_t *idx;
            int len;
            double v;
            spex_coefs_entry(c, i, &idx, &len, &v);
            rc = spex_coefs_add(f, idx, len, 0.5 * v);
            if (rc) break;
            int l2 = sym_diff(idx, len, (int32_t)j, buf);
            rc = spex_coefs_add(f, buf, l2, sgn * v);
        }
    }
    spex_coefs_free(f0);
    spex_coefs_free(f1);
    if (rc) {
        spex_coefs_free(f);
        return rc;
    }
    *out = f;
    return SPEX_OK;
}

int spexi_trees_fourier(spex_ctx *ctx, int64_t n, const char *const *dumps, int64_t n_trees,
                        double base_score, int zero_missing, spex_coefs **out) {
    *out = NULL;
    spex_coefs *total = NULL;
    int rc = spex_coefs_new(ctx, n, &total);
    if (!rc) rc = spex_coefs_set(total, NULL, 0, base_score);
    for (int64_t t = 0; !rc && t < n_trees; t++) {
        json_error_t err;
        json_t *root = json_loads(dumps[t], 0, &err);
        if (!root) {
            rc = spex_seterr(ctx, SPEX_E_PARSE, "tree %lld: JSON dump line %d column %d: %s",
                             (long long)t, err.line, err.column, err.text);
            break;
        }
        spex_coefs *f = NULL;
        rc = subtree(ctx, n, root, 0, t, zero_missing, &f);
        json_decref(root);
        for (int64_t i = 0; !rc && i < spex_coefs_count(f); i++) {
            const int32_t *idx;
            int len;
            double v;
            spex_coefs_entry(f, i, &idx, &len, &v);
            rc = spex_coefs_add(total, idx, len, v);
        }
        spex_coefs_free(f);
    }
    if (!rc) rc = spex_coefs_prune(total, 0.0);
    if (!rc) {
        double v0;
        if (!spex_coefs_get(total, NULL, 0, &v0)) rc = spex_coefs_set(total, NULL, 0, 0.0);
    }
    if (rc) {
        spex_coefs_free(total);
        return rc;
    }
    *out = total;
    return SPEX_OK;
}
