/* Result files (DESIGN.md §4.3): JSON writer and reader, CSV writer, the
 * terminal table. */
#include "spex/report.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void write_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void write_coefs(FILE *f, const spex_coefs *c) {
    fputc('[', f);
    for (int64_t i = 0; c && i < spex_coefs_count(c); i++) {
        const int32_t *idx;
        int len;
        double v;
        spex_coefs_entry(c, i, &idx, &len, &v);
        fputs(i ? ",\n  {\"s\": [" : "\n  {\"s\": [", f);
        for (int k = 0; k < len; k++)
            fprintf(f, k ? ", %d" : "%d", idx[k]);
        fprintf(f, "], \"v\": %.17g}", v);
    }
    fputs("]", f);
}

/* ---- the "details" object: the typed fields of spex_details ----
 * One table per kind drives both the writer and the reader, so the two list
 * the same keys in the same order. Integers are range-checked on reading;
 * doubles are written with as many digits as they need to read back exactly
 * (at most 17), NaN as null and infinities as "inf" / "-inf". */
typedef enum field_type { F_INT, F_I64, F_F64 } field_type;
typedef struct field {
    const char *key;
    field_type type;
    size_t offset;
    int64_t lo, hi; /* integers: the accepted range */
} field;

#define I32(T, k, lo, hi)                                                                          \
    { #k, F_INT, offsetof(T, k), lo, hi }
#define I64(T, k, lo)                                                                              \
    { #k, F_I64, offsetof(T, k), lo, INT64_MAX }
#define F64(T, k)                                                                                  \
    { #k, F_F64, offsetof(T, k), 0, 0 }

static const field spex_fields[] = {
    I32(spex_spex_details, t, 0, INT32_MAX),
    I32(spex_spex_details, C, 1, SPEX_DETAILS_MAX_GROUPS),
    I32(spex_spex_details, delays, 0, INT32_MAX),
    I64(spex_spex_details, structured, 0),
    I64(spex_spex_details, structured_distinct, 0),
    I64(spex_spex_details, random, 0),
    I64(spex_spex_details, found, 0),
    I64(spex_spex_details, sweeps, 0),
    I64(spex_spex_details, pairs, 0),
    I64(spex_spex_details, triples, 0),
    F64(spex_spex_details, seconds),
};
static const field proxyspex_fields[] = {
    I32(spex_proxyspex_details, max_depth, 0, INT32_MAX),
    F64(spex_proxyspex_details, lr),
    I32(spex_proxyspex_details, rounds, 0, INT32_MAX),
    F64(spex_proxyspex_details, grid_cv_r2),
    I64(spex_proxyspex_details, tree_terms, 0),
    I64(spex_proxyspex_details, kept, 0),
    F64(spex_proxyspex_details, energy),
    F64(spex_proxyspex_details, alpha),
    F64(spex_proxyspex_details, cv_r2),
    I64(spex_proxyspex_details, grown, 0),
    F64(spex_proxyspex_details, seconds_grow),
    I64(spex_proxyspex_details, final_terms, 0),
    F64(spex_proxyspex_details, seconds_xgb),
};
static const field linear_fields[] = {
    I64(spex_linear_details, masks, 0),         I64(spex_linear_details, columns, 0),
    I32(spex_linear_details, max_order, 0, 63), F64(spex_linear_details, alpha),
    I64(spex_linear_details, nonzero, 0),       F64(spex_linear_details, cv_r2),
    I64(spex_linear_details, rank, -1),         F64(spex_linear_details, train_r2),
};

/* The field table of a kind and the struct it describes inside d. */
static const field *details_fields(spex_details *d, spex_details_kind kind, size_t *n_fields,
                                   char **base) {
    switch (kind) {
    case SPEX_DETAILS_SPEX:
        *n_fields = sizeof spex_fields / sizeof *spex_fields;
        *base = (char *)&d->u.spex;
        return spex_fields;
    case SPEX_DETAILS_PROXYSPEX:
        *n_fields = sizeof proxyspex_fields / sizeof *proxyspex_fields;
        *base = (char *)&d->u.proxyspex;
        return proxyspex_fields;
    case SPEX_DETAILS_LASSO:
    case SPEX_DETAILS_KERNELSHAP:
        *n_fields = sizeof linear_fields / sizeof *linear_fields;
        *base = (char *)&d->u.linear;
        return linear_fields;
    default:
        *n_fields = 0;
        *base = NULL;
        return NULL;
    }
}

/* The shortest of 15, 16 or 17 significant digits that reads back as v. */
static void write_double(FILE *f, double v) {
    if (isnan(v)) {
        fputs("null", f);
        return;
    }
    if (isinf(v)) {
        fputs(v > 0 ? "\"inf\"" : "\"-inf\"", f);
        return;
    }
    char buf[32];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) break;
    }
    fputs(buf, f);
}

static void write_details(FILE *f, const spex_details *dc) {
    spex_details d = *dc;
    size_t nf;
    char *base;
    const field *fs = details_fields(&d, d.kind, &nf, &base);
    if (!fs) {
        fputs("null", f);
        return;
    }
    fprintf(f, "{\"method\": \"%s\"", spex_details_kind_name(d.kind));
    if (d.kind == SPEX_DETAILS_SPEX) {
        int C = d.u.spex.C < 0 ? 0 : d.u.spex.C;
        if (C > SPEX_DETAILS_MAX_GROUPS) C = SPEX_DETAILS_MAX_GROUPS;
        fputs(", \"b\": [", f);
        for (int c = 0; c < C; c++)
            fprintf(f, c ? ", %d" : "%d", d.u.spex.b[c]);
        fputc(']', f);
    }
    for (size_t i = 0; i < nf; i++) {
        const char *p = base + fs[i].offset;
        fprintf(f, ", \"%s\": ", fs[i].key);
        if (fs[i].type == F_INT)
            fprintf(f, "%d", *(const int *)(const void *)p);
        else if (fs[i].type == F_I64)
            fprintf(f, "%lld", (long long)*(const int64_t *)(const void *)p);
        else
            write_double(f, *(const double *)(const void *)p);
    }
    fputc('}', f);
}

static int read_double(json_t *v, double *out) {
    const char *s = json_string_value(v);
    if (json_is_number(v))
        *out = json_number_value(v);
    else if (json_is_null(v))
        *out = NAN;
    else if (s && !strcmp(s, "inf"))
        *out = INFINITY;
    else if (s && !strcmp(s, "-inf"))
        *out = -INFINITY;
    else
        return -1;
    return 0;
}

/* "details": an object as write_details writes it; null, absent or a string
 * (files from before the typed fields: their free text is ignored) give
 * SPEX_DETAILS_NONE. Every key of the kind is required; unknown keys are
 * ignored. */
static int read_details(spex_ctx *ctx, const char *path, json_t *jd, spex_details *out) {
    memset(out, 0, sizeof *out);
    if (!jd || json_is_null(jd) || json_is_string(jd)) return SPEX_OK;
    if (!json_is_object(jd))
        return spex_seterr(ctx, SPEX_E_PARSE, "%s: \"details\" must be an object", path);
    const char *m = json_string_value(json_object_get(jd, "method"));
    spex_details_kind kind = SPEX_DETAILS_NONE;
    for (int k = SPEX_DETAILS_SPEX; m && k <= SPEX_DETAILS_KERNELSHAP; k++)
        if (!strcmp(m, spex_details_kind_name((spex_details_kind)k))) kind = (spex_details_kind)k;
    if (m && !strcmp(m, "none")) return SPEX_OK;
    if (kind == SPEX_DETAILS_NONE)
        return spex_seterr(ctx, SPEX_E_PARSE,
                           "%s: details.method must be \"spex\", \"proxyspex\", \"lasso\", "
                           "\"kernelshap\" or \"none\"",
                           path);
    spex_details d;
    memset(&d, 0, sizeof d);
    d.kind = kind;
    size_t nf;
    char *base;
    const field *fs = details_fields(&d, kind, &nf, &base);
    for (size_t i = 0; i < nf; i++) {
        json_t *v = json_object_get(jd, fs[i].key);
        char *p = base + fs[i].offset;
        if (fs[i].type == F_F64) {
            if (read_double(v, (double *)(void *)p))
                return spex_seterr(ctx, SPEX_E_PARSE,
                                   "%s: details.%s must be a number, null, \"inf\" or \"-inf\"",
                                   path, fs[i].key);
            continue;
        }
        json_int_t x = json_integer_value(v);
        if (!json_is_integer(v) || x < fs[i].lo || x > fs[i].hi)
            return spex_seterr(ctx, SPEX_E_PARSE, "%s: details.%s must be an integer in %lld..%lld",
                               path, fs[i].key, (long long)fs[i].lo, (long long)fs[i].hi);
        if (fs[i].type == F_INT)
            *(int *)(void *)p = (int)x;
        else
            *(int64_t *)(void *)p = (int64_t)x;
    }
    if (kind == SPEX_DETAILS_SPEX) {
        json_t *b = json_object_get(jd, "b");
        if (!json_is_array(b) || json_array_size(b) != (size_t)d.u.spex.C)
            return spex_seterr(ctx, SPEX_E_PARSE, "%s: details.b must be a list of C = %d integers",
                               path, d.u.spex.C);
        for (int c = 0; c < d.u.spex.C; c++) {
            json_t *x = json_array_get(b, (size_t)c);
            if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > 63)
                return spex_seterr(ctx, SPEX_E_PARSE,
                                   "%s: details.b[%d] must be an integer in 0..63", path, c);
            d.u.spex.b[c] = (int)json_integer_value(x);
        }
    }
    *out = d;
    return SPEX_OK;
}

int spex_result_write_json(spex_ctx *ctx, const spex_result *r, FILE *f) {
    fprintf(f, "{\"format\": \"spex-result/1\", \"n\": %lld,\n \"features\": [", (long long)r->n);
    for (int64_t j = 0; j < r->n; j++) {
        if (j) fputs(", ", f);
        write_json_string(f, r->features[j]);
    }
    fprintf(f, "],\n \"method\": \"%s\", \"budget\": %lld, \"queries\": %lld, \"seed\": %llu,\n",
            spex_method_name(r->method), (long long)r->budget, (long long)r->queries,
            (unsigned long long)r->seed);
    fprintf(f, " \"queries_cached\": %lld, \"queries_new\": %lld,\n", (long long)r->queries_cached,
            (long long)r->queries_new);
    fprintf(f, " \"degree\": %d, \"method_auto\": %s,\n", r->degree,
            r->method_auto ? "true" : "false");
    fputs(" \"fourier\": ", f);
    write_coefs(f, r->fourier);
    fprintf(f, ",\n \"index\": \"%s\", \"max_order\": %d,\n \"interactions\": ",
            spex_index_name(r->index), r->max_order);
    write_coefs(f, r->interactions);
    fprintf(f, ",\n \"seconds\": {\"queries\": %.6f, \"solve\": %.6f},\n \"details\": ",
            r->seconds_queries, r->seconds_solve);
    write_details(f, &r->details);
    fputs("}\n", f);
    if (ferror(f) || fflush(f))
        return spex_seterr(ctx, SPEX_E_IO, "writing the result failed: %s", strerror(errno));
    return SPEX_OK;
}

/* "x4 x x17" style label of a subset, truncated to cap bytes. */
static void subset_label(const spex_result *r, const int32_t *idx, int len, char *buf, size_t cap,
                         const char *sep) {
    size_t at = 0;
    buf[0] = '\0';
    if (len == 0) {
        snprintf(buf, cap, "(baseline)");
        return;
    }
    for (int k = 0; k < len && at + 1 < cap; k++) {
        int w = snprintf(buf + at, cap - at, "%s%s", k ? sep : "", r->features[idx[k]]);
        if (w < 0) break;
        at += (size_t)w;
    }
    if (at >= cap && cap > 4) memcpy(buf + cap - 4, "...", 4);
}

int spex_result_write_csv(spex_ctx *ctx, const spex_result *r, int64_t top, FILE *f) {
    fputs("rank,order,value,features,indices\n", f);
    int64_t count = r->interactions ? spex_coefs_count(r->interactions) : 0;
    if (top > 0 && top < count) count = top;
    char label[4096];
    for (int64_t i = 0; i < count; i++) {
        const int32_t *idx;
        int len;
        double v;
        spex_coefs_entry(r->interactions, i, &idx, &len, &v);
        subset_label(r, idx, len, label, sizeof label, " x ");
        fprintf(f, "%lld,%d,%.17g,\"", (long long)i + 1, len, v);
        for (const char *p = label; *p; p++) {
            if (*p == '"') fputc('"', f);
            fputc(*p, f);
        }
        fputs("\",", f);
        for (int k = 0; k < len; k++)
            fprintf(f, k ? " %d" : "%d", idx[k]);
        fputc('\n', f);
    }
    if (ferror(f) || fflush(f))
        return spex_seterr(ctx, SPEX_E_IO, "writing the CSV failed: %s", strerror(errno));
    return SPEX_OK;
}

int spex_result_method_text(const spex_result *r, char *buf, size_t cap) {
    char why[96] = "", deg[48] = "";
    if (r->method_auto && r->method == SPEX_METHOD_EXACT)
        snprintf(why, sizeof why, " (chosen by auto: all 2^%lld masks fit the budget)",
                 (long long)r->n);
    else if (r->method_auto)
        snprintf(why, sizeof why, " (chosen by auto: 2^%lld masks exceed the budget of %lld)",
                 (long long)r->n, (long long)r->budget);
    if (r->degree > 0 && r->method != SPEX_METHOD_EXACT)
        snprintf(deg, sizeof deg, " · surrogate degree %d", r->degree);
    return snprintf(buf, cap, "%s%s%s", spex_method_name(r->method), why, deg);
}

int spex_result_write_table(spex_ctx *ctx, const spex_result *r, int64_t top, FILE *f) {
    int64_t total = r->interactions ? spex_coefs_count(r->interactions) : 0;
    int64_t count = top > 0 && top < total ? top : total;
    char how[160];
    spex_result_method_text(r, how, sizeof how);
    fprintf(f,
            "method %s · n = %lld features · %lld model queries (%lld from the cache, %lld new) "
            "· %.3f s querying, %.3f s solving\n",
            how, (long long)r->n, (long long)r->queries, (long long)r->queries_cached,
            (long long)r->queries_new, r->seconds_queries, r->seconds_solve);
    char details[512];
    if (spex_result_details_text(r, details, sizeof details) > 0) fprintf(f, "%s\n", details);
    fprintf(f, "index %s up to order %d: top %lld of %lld nonzero values\n\n",
            spex_index_name(r->index), r->max_order, (long long)count, (long long)total);
    fprintf(f, "%5s  %5s  %12s  %s\n", "rank", "order", "value", "features");
    char label[512];
    for (int64_t i = 0; i < count; i++) {
        const int32_t *idx;
        int len;
        double v;
        spex_coefs_entry(r->interactions, i, &idx, &len, &v);
        subset_label(r, idx, len, label, sizeof label, " × ");
        fprintf(f, "%5lld  %5d  %12.6f  %s\n", (long long)i + 1, len, v, label);
    }
    if (ferror(f) || fflush(f))
        return spex_seterr(ctx, SPEX_E_IO, "writing the table failed: %s", strerror(errno));
    return SPEX_OK;
}

static int read_coefs(spex_ctx *ctx, const char *path, const char *key, json_t *arr, int64_t n,
                      spex_coefs **out) {
    if (!json_is_array(arr))
        return spex_seterr(ctx, SPEX_E_PARSE, "%s: \"%s\" must be a list", path, key);
    int rc = spex_coefs_new(ctx, n, out);
    int32_t *idx = NULL;
    for (size_t i = 0; !rc && i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i), *s = json_object_get(e, "s"),
               *v = json_object_get(e, "v");
        if (!json_is_array(s) || !json_is_number(v)) {
            rc = spex_seterr(ctx, SPEX_E_PARSE,
                             "%s: %s[%zu] needs \"s\" (a list) and \"v\" (a number)", path, key, i);
            break;
        }
        size_t len = json_array_size(s);
        if ((int64_t)len > n) {
            rc = spex_seterr(ctx, SPEX_E_RANGE, "%s: %s[%zu] has %zu indices but n = %lld", path,
                             key, i, len, (long long)n);
            break;
        }
        spex_free(ctx, idx);
        idx = spex_malloc(ctx, (len ? len : 1) * sizeof *idx);
        if (!idx) {
            rc = SPEX_E_NOMEM;
            break;
        }
        for (size_t k = 0; !rc && k < len; k++) {
            json_t *x = json_array_get(s, k);
            if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= n)
                rc = spex_seterr(ctx, SPEX_E_RANGE,
                                 "%s: %s[%zu].s[%zu] must be a feature index in 0..%lld", path, key,
                                 i, k, (long long)n - 1);
            else
                idx[k] = (int32_t)json_integer_value(x);
        }
        if (!rc) rc = spex_subset_normalize(ctx, n, idx, (int)len);
        if (!rc) rc = spex_coefs_add(*out, idx, (int)len, json_number_value(v));
        if (rc && rc != SPEX_E_NOMEM) spex_errprefix(ctx, "%s: %s[%zu]", path, key, i);
    }
    spex_free(ctx, idx);
    if (rc) {
        spex_coefs_free(*out);
        *out = NULL;
    }
    return rc;
}

static int result_from_json(spex_ctx *ctx, json_t *root, const char *path, spex_result **out);

int spex_result_read_json(spex_ctx *ctx, const char *path, spex_result **out) {
    *out = NULL;
    json_error_t err;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        if (err.line < 0)
            return spex_seterr(ctx, SPEX_E_IO, "%s: cannot read the file: %s", path, err.text);
        return spex_seterr(ctx, SPEX_E_PARSE, "%s: line %d, column %d: %s", path, err.line,
                           err.column, err.text);
    }
    int rc = result_from_json(ctx, root, path, out);
    json_decref(root);
    return rc;
}

int spex_result_parse(spex_ctx *ctx, const char *json, size_t len, const char *name,
                      spex_result **out) {
    *out = NULL;
    json_error_t err;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return spex_seterr(ctx, SPEX_E_PARSE, "%s: line %d, column %d: %s", name, err.line,
                           err.column, err.text);
    int rc = result_from_json(ctx, root, name, out);
    json_decref(root);
    return rc;
}

static int result_from_json(spex_ctx *ctx, json_t *root, const char *path, spex_result **out) {
    spex_result *r = NULL;
    int rc = SPEX_OK;
    json_t *jn = json_object_get(root, "n");
    const char *fmt = json_string_value(json_object_get(root, "format"));
    if (!fmt || strcmp(fmt, "spex-result/1")) {
        rc = spex_seterr(ctx, SPEX_E_PARSE,
                         "%s: not a spex result (\"format\" must be \"spex-result/1\")", path);
        goto done;
    }
    if (!json_is_integer(jn) || json_integer_value(jn) < 1 ||
        json_integer_value(jn) > SPEX_MAX_FEATURES) {
        rc = spex_seterr(ctx, SPEX_E_PARSE, "%s: \"n\" must be an integer in 1..%lld", path,
                         (long long)SPEX_MAX_FEATURES);
        goto done;
    }
    int64_t n = json_integer_value(jn);
    rc = spex_result_new(ctx, n, &r);
    if (rc) goto done;
    json_t *names = json_object_get(root, "features");
    if (json_is_array(names) && (int64_t)json_array_size(names) == n) {
        for (int64_t j = 0; !rc && j < n; j++) {
            const char *s = json_string_value(json_array_get(names, (size_t)j));
            if (!s) continue;
            char *d = spex_strdup(ctx, s);
            if (!d)
                rc = SPEX_E_NOMEM;
            else {
                spex_free(ctx, r->features[j]);
                r->features[j] = d;
            }
        }
    }
    const char *method = json_string_value(json_object_get(root, "method"));
    if (method && spex_method_parse(ctx, method, &r->method)) r->method = SPEX_METHOD_EXACT;
    r->budget = json_integer_value(json_object_get(root, "budget"));
    r->queries = json_integer_value(json_object_get(root, "queries"));
    /* absent in files from before the cache: every query was new */
    r->queries_cached = json_integer_value(json_object_get(root, "queries_cached"));
    json_t *jnew = json_object_get(root, "queries_new");
    r->queries_new = jnew ? json_integer_value(jnew) : r->queries - r->queries_cached;
    r->seed = (uint64_t)json_integer_value(json_object_get(root, "seed"));
    /* absent in files from before --degree: 0 = unknown, not chosen by auto */
    json_t *jdeg = json_object_get(root, "degree");
    if (!rc && jdeg &&
        (!json_is_integer(jdeg) || json_integer_value(jdeg) < 0 || json_integer_value(jdeg) > 63))
        rc = spex_seterr(ctx, SPEX_E_PARSE, "%s: \"degree\" must be an integer in 0..63", path);
    if (!rc && jdeg) r->degree = (int)json_integer_value(jdeg);
    r->method_auto = json_is_true(json_object_get(root, "method_auto"));
    spex_coefs_free(r->fourier);
    r->fourier = NULL;
    if (!rc)
        rc = read_coefs(ctx, path, "fourier", json_object_get(root, "fourier"), n, &r->fourier);
    const char *index = json_string_value(json_object_get(root, "index"));
    if (!rc && index && spex_index_parse(ctx, index, &r->index))
        rc = spex_seterr(ctx, SPEX_E_PARSE, "%s: unknown index \"%s\"", path, index);
    r->max_order = (int)json_integer_value(json_object_get(root, "max_order"));
    json_t *inter = json_object_get(root, "interactions");
    if (!rc && inter) rc = read_coefs(ctx, path, "interactions", inter, n, &r->interactions);
    json_t *sec = json_object_get(root, "seconds");
    r->seconds_queries = json_number_value(json_object_get(sec, "queries"));
    r->seconds_solve = json_number_value(json_object_get(sec, "solve"));
    if (!rc) rc = read_details(ctx, path, json_object_get(root, "details"), &r->details);
done:
    if (rc)
        spex_result_free(r);
    else
        *out = r;
    return rc;
}
