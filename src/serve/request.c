/* Parsers of spex serve's request bodies (serve_int.h): untrusted JSON in,
 * checked structs out. Every field is type-checked, every count bounded
 * before anything is allocated for it, token ids checked against the
 * vocabulary; messages name the field (and the prompt and position) that is
 * wrong. tests/fuzz/fuzz_serve_request.c runs them on arbitrary bytes. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "serve/serve_int.h"

static int load(spex_ctx *ctx, const char *body, size_t len, json_t **out) {
    json_error_t e;
    *out = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
    if (!*out)
        return spex_seterr(ctx, SPEX_E_PARSE, "the body is not JSON: %s (line %d, column %d)",
                           e.text, e.line, e.column);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return spex_seterr(ctx, SPEX_E_PARSE, "the body is not a JSON object");
    }
    return SPEX_OK;
}

static char *dup_text(spex_ctx *ctx, const char *s, size_t len) {
    char *d = spex_malloc(ctx, len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = 0;
    }
    return d;
}

/* An optional boolean field: *out unchanged when absent or null. */
static int get_bool(spex_ctx *ctx, json_t *o, const char *key, int *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return SPEX_OK;
    if (!json_is_boolean(v)) return spex_seterr(ctx, SPEX_E_INVAL, "\"%s\" must be a boolean", key);
    *out = json_is_true(v);
    return SPEX_OK;
}

/* An optional integer field in [lo, hi]: *out unchanged when absent or null. */
static int get_int(spex_ctx *ctx, json_t *o, const char *key, int64_t lo, int64_t hi,
                   int64_t *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return SPEX_OK;
    if (!json_is_integer(v))
        return spex_seterr(ctx, SPEX_E_INVAL, "\"%s\" must be an integer", key);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return spex_seterr(ctx, SPEX_E_RANGE, "\"%s\" = %lld is outside [%lld, %lld]", key,
                           (long long)x, (long long)lo, (long long)hi);
    *out = (int64_t)x;
    return SPEX_OK;
}

/* A token-id array into a new buffer; what names it in messages. */
static int get_ids(spex_ctx *ctx, json_t *a, const spexi_req_limits *lim, const char *what,
                   int32_t **ids, int64_t *n) {
    *ids = NULL;
    *n = 0;
    size_t k = json_array_size(a);
    if ((int64_t)k > lim->max_tokens)
        return spex_seterr(ctx, SPEX_E_RANGE, "%s has %zu tokens, more than %lld", what, k,
                           (long long)lim->max_tokens);
    int32_t *t = spex_malloc(ctx, (k ? k : 1) * sizeof *t);
    if (!t) return SPEX_E_NOMEM;
    for (size_t j = 0; j < k; j++) {
        json_t *v = json_array_get(a, j);
        if (!json_is_integer(v)) {
            spex_free(ctx, t);
            return spex_seterr(ctx, SPEX_E_INVAL, "%s, position %zu: a token id must be an integer",
                               what, j);
        }
        json_int_t x = json_integer_value(v);
        if (x < 0 || x >= lim->n_vocab) {
            spex_free(ctx, t);
            return spex_seterr(ctx, SPEX_E_RANGE,
                               "%s, position %zu: token id %lld is outside the vocabulary "
                               "[0, %lld)",
                               what, j, (long long)x, (long long)lim->n_vocab);
        }
        t[j] = (int32_t)x;
    }
    *ids = t;
    *n = (int64_t)k;
    return SPEX_OK;
}

/* One prompt: a string or an array of token ids. */
static int get_prompt(spex_ctx *ctx, json_t *v, const spexi_req_limits *lim, int64_t i,
                      spexi_prompt_in *p) {
    char what[64];
    snprintf(what, sizeof what, "prompt %lld", (long long)i);
    if (json_is_string(v)) {
        p->text_len = json_string_length(v);
        if (!p->text_len) return spex_seterr(ctx, SPEX_E_INVAL, "%s is empty", what);
        p->text = dup_text(ctx, json_string_value(v), p->text_len);
        return p->text ? SPEX_OK : SPEX_E_NOMEM;
    }
    if (json_is_array(v)) {
        if (!json_array_size(v)) return spex_seterr(ctx, SPEX_E_INVAL, "%s is empty", what);
        return get_ids(ctx, v, lim, what, &p->ids, &p->n_ids);
    }
    return spex_seterr(ctx, SPEX_E_INVAL, "%s must be a string or an array of token ids", what);
}

void spexi_completion_req_clear(spex_ctx *ctx, spexi_completion_req *r) {
    for (int64_t i = 0; r->prompts && i < r->n_prompts; i++) {
        spex_free(ctx, r->prompts[i].text);
        spex_free(ctx, r->prompts[i].ids);
    }
    spex_free(ctx, r->prompts);
    spex_free(ctx, r->model);
    spex_free(ctx, r->lp_from);
    spexi_ablate_req *a = r->ablate;
    for (int64_t i = 0; a && a->refs && i < a->n_refs; i++)
        spex_free(ctx, a->refs[i]);
    if (a) {
        spex_free(ctx, a->refs);
        spex_free(ctx, a->ref_lens);
        spex_free(ctx, a->heads);
        spex_free(ctx, a->mlps);
        spex_free(ctx, a);
    }
    memset(r, 0, sizeof *r);
}

/* An integer in [0, hi) at a[i] of the "spex_ablate" field key. */
static int get_index(spex_ctx *ctx, json_t *v, const char *what, size_t i, int64_t hi,
                     int64_t *out) {
    if (!json_is_integer(v))
        return spex_seterr(ctx, SPEX_E_INVAL, "\"spex_ablate\".%s[%zu] must be an integer", what,
                           i);
    json_int_t x = json_integer_value(v);
    if (x < 0 || x >= hi)
        return spex_seterr(ctx, SPEX_E_RANGE,
                           "\"spex_ablate\".%s[%zu] = %lld is outside the model's [0, %lld)", what,
                           i, (long long)x, (long long)hi);
    *out = (int64_t)x;
    return SPEX_OK;
}

/* "spex_ablate".heads: [[layer, head], ...] into flags[layer * H + head]. */
static int get_heads(spex_ctx *ctx, json_t *a, const spexi_req_limits *lim, uint8_t *flags) {
    if (!json_is_array(a))
        return spex_seterr(ctx, SPEX_E_INVAL,
                           "\"spex_ablate\".heads must be an array of [layer, head] pairs");
    if ((int64_t)json_array_size(a) > lim->n_layers * lim->n_heads)
        return spex_seterr(ctx, SPEX_E_RANGE, "\"spex_ablate\".heads has more than %lld entries",
                           (long long)(lim->n_layers * lim->n_heads));
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *p = json_array_get(a, i);
        int64_t l = 0, h = 0;
        if (!json_is_array(p) || json_array_size(p) != 2)
            return spex_seterr(ctx, SPEX_E_INVAL,
                               "\"spex_ablate\".heads[%zu] must be a [layer, head] pair", i);
        int rc = get_index(ctx, json_array_get(p, 0), "heads layer", i, lim->n_layers, &l);
        if (!rc) rc = get_index(ctx, json_array_get(p, 1), "heads head", i, lim->n_heads, &h);
        if (rc) return rc;
        if (flags[l * lim->n_heads + h]++)
            return spex_seterr(ctx, SPEX_E_INVAL,
                               "\"spex_ablate\".heads[%zu]: head [%lld, %lld] is listed twice", i,
                               (long long)l, (long long)h);
    }
    return SPEX_OK;
}

/* "spex_ablate".mlps: [layer, ...] into flags[layer]. */
static int get_mlps(spex_ctx *ctx, json_t *a, const spexi_req_limits *lim, uint8_t *flags) {
    if (!json_is_array(a) || (int64_t)json_array_size(a) > lim->n_layers)
        return spex_seterr(ctx, SPEX_E_INVAL,
                           "\"spex_ablate\".mlps must be an array of at most %lld layers",
                           (long long)lim->n_layers);
    for (size_t i = 0; i < json_array_size(a); i++) {
        int64_t l = 0;
        int rc = get_index(ctx, json_array_get(a, i), "mlps", i, lim->n_layers, &l);
        if (rc) return rc;
        if (flags[l]++)
            return spex_seterr(ctx, SPEX_E_INVAL,
                               "\"spex_ablate\".mlps[%zu]: layer %lld is listed twice", i,
                               (long long)l);
    }
    return SPEX_OK;
}

/* "spex_ablate".reference: [[ids], ...], the sequences mean ablation
 * averages over. */
static int get_refs(spex_ctx *ctx, json_t *a, const spexi_req_limits *lim, spexi_ablate_req *out) {
    size_t n = json_is_array(a) ? json_array_size(a) : 0;
    if (!n || !json_is_array(json_array_get(a, 0)))
        return spex_seterr(ctx, SPEX_E_INVAL,
                           "\"spex_ablate\".reference must be a non-empty array of token-id "
                           "arrays (\"mode\": \"mean\" needs it)");
    if ((int64_t)n > lim->max_prompts)
        return spex_seterr(ctx, SPEX_E_RANGE,
                           "\"spex_ablate\".reference has %zu sequences, more than %lld", n,
                           (long long)lim->max_prompts);
    out->refs = spex_calloc(ctx, n, sizeof *out->refs);
    out->ref_lens = spex_calloc(ctx, n, sizeof *out->ref_lens);
    if (!out->refs || !out->ref_lens) return SPEX_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof what, "\"spex_ablate\".reference[%zu]", i);
        json_t *v = json_array_get(a, i);
        if (!json_is_array(v) || !json_array_size(v))
            return spex_seterr(ctx, SPEX_E_INVAL, "%s must be a non-empty array of token ids",
                               what);
        int rc = get_ids(ctx, v, lim, what, &out->refs[i], &out->ref_lens[i]);
        out->n_refs = (int64_t)i + 1;
        if (rc) return rc;
    }
    return SPEX_OK;
}

/* "spex_ablate": {"heads": [[layer, head], ...], "mlps": [layer, ...],
 * "mode": "zero" | "mean", "reference": [[ids], ...] (mean only)}; absent
 * or null: no ablation. Unknown keys are refused (a misspelt field would
 * silently score the unablated model). */
static int get_ablate(spex_ctx *ctx, json_t *o, const spexi_req_limits *lim,
                      spexi_completion_req *out) {
    json_t *a = json_object_get(o, "spex_ablate");
    if (!a || json_is_null(a)) return SPEX_OK;
    if (!json_is_object(a))
        return spex_seterr(ctx, SPEX_E_INVAL, "\"spex_ablate\" must be an object");
    if (lim->n_layers < 1 || lim->n_heads < 1)
        return spex_seterr(ctx, SPEX_E_UNSUPPORTED, "this model has no components to ablate");
    const char *key;
    json_t *v;
    json_object_foreach(a, key, v) {
        if (strcmp(key, "heads") && strcmp(key, "mlps") && strcmp(key, "mode") &&
            strcmp(key, "reference"))
            return spex_seterr(ctx, SPEX_E_INVAL,
                               "\"spex_ablate\".%.100s: unknown field (heads, mlps, mode, "
                               "reference)",
                               key);
    }
    spexi_ablate_req *r = out->ablate = spex_calloc(ctx, 1, sizeof *r);
    if (!r) return SPEX_E_NOMEM;
    r->heads = spex_calloc(ctx, (size_t)(lim->n_layers * lim->n_heads), 1);
    r->mlps = spex_calloc(ctx, (size_t)lim->n_layers, 1);
    if (!r->heads || !r->mlps) return SPEX_E_NOMEM;
    json_t *mode = json_object_get(a, "mode"), *h = json_object_get(a, "heads"),
           *m = json_object_get(a, "mlps"), *ref = json_object_get(a, "reference");
    if (mode && !json_is_null(mode)) {
        const char *s = json_is_string(mode) ? json_string_value(mode) : "";
        if (strcmp(s, "zero") && strcmp(s, "mean"))
            return spex_seterr(ctx, SPEX_E_INVAL,
                               "\"spex_ablate\".mode must be \"zero\" or \"mean\"");
        r->mean = !strcmp(s, "mean");
    }
    int rc = SPEX_OK;
    if (h && !json_is_null(h)) rc = get_heads(ctx, h, lim, r->heads);
    if (!rc && m && !json_is_null(m)) rc = get_mlps(ctx, m, lim, r->mlps);
    if (!rc && r->mean) rc = get_refs(ctx, ref, lim, r);
    if (!rc && !r->mean && ref && !json_is_null(ref))
        rc = spex_seterr(ctx, SPEX_E_INVAL,
                         "\"spex_ablate\".reference goes with \"mode\": \"mean\"");
    return rc;
}

/* "spex_logprobs_from": absent/null, or one integer per prompt, each in
 * [1, its token count] (ids) or >= 1 (text, checked after tokenizing). */
static int get_lp_from(spex_ctx *ctx, json_t *o, spexi_completion_req *out) {
    json_t *a = json_object_get(o, "spex_logprobs_from");
    if (!a || json_is_null(a)) return SPEX_OK;
    if (!json_is_array(a) || (int64_t)json_array_size(a) != out->n_prompts)
        return spex_seterr(ctx, SPEX_E_INVAL,
                           "\"spex_logprobs_from\" must be an array of one position per prompt "
                           "(%lld)",
                           (long long)out->n_prompts);
    if (!(out->lp_from = spex_malloc(ctx, (size_t)out->n_prompts * sizeof *out->lp_from)))
        return SPEX_E_NOMEM;
    for (int64_t i = 0; i < out->n_prompts; i++) {
        json_t *v = json_array_get(a, (size_t)i);
        int64_t x = json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
        int64_t n = out->prompts[i].ids ? out->prompts[i].n_ids : INT64_MAX;
        if (x < 1 || x > n)
            return spex_seterr(ctx, SPEX_E_INVAL,
                               "\"spex_logprobs_from\"[%lld] must be a position from 1 to the "
                               "prompt's token count",
                               (long long)i);
        out->lp_from[i] = x;
    }
    return SPEX_OK;
}

/* "logprobs"/"prompt_logprobs": null/absent -> -1; an integer must be 0
 * (spex serves the chosen tokens' log-probs, not top alternatives). */
static int get_logprobs(spex_ctx *ctx, json_t *o, const char *key, int *out) {
    int64_t v = -1;
    json_t *x = json_object_get(o, key);
    if (x && json_is_boolean(x)) { /* chat-style "logprobs": true */
        *out = json_is_true(x) ? 0 : -1;
        return SPEX_OK;
    }
    int rc = get_int(ctx, o, key, 0, 20, &v);
    if (rc) return rc;
    if (v > 0)
        return spex_seterr(ctx, SPEX_E_UNSUPPORTED,
                           "\"%s\" = %lld: spex serve returns the log-probabilities of the given "
                           "tokens only (use 0), not top alternatives",
                           key, (long long)v);
    *out = (int)v;
    return SPEX_OK;
}

int spexi_parse_completion(spex_ctx *ctx, const char *body, size_t len, const spexi_req_limits *lim,
                           spexi_completion_req *out) {
    memset(out, 0, sizeof *out);
    out->max_tokens = 16;
    out->logprobs = out->prompt_logprobs = -1;
    json_t *o;
    int rc = load(ctx, body, len, &o);
    if (rc) return rc;
    json_t *p = json_object_get(o, "prompt"), *model = json_object_get(o, "model");
    if (!p) rc = spex_seterr(ctx, SPEX_E_INVAL, "\"prompt\" is missing");
    if (!rc && model && !json_is_null(model)) {
        if (!json_is_string(model))
            rc = spex_seterr(ctx, SPEX_E_INVAL, "\"model\" must be a string");
        else if (!(out->model = dup_text(ctx, json_string_value(model), json_string_length(model))))
            rc = SPEX_E_NOMEM;
    }
    if (!rc) rc = get_int(ctx, o, "max_tokens", 0, lim->max_tokens, &out->max_tokens);
    if (!rc) rc = get_bool(ctx, o, "echo", &out->echo);
    if (!rc) rc = get_logprobs(ctx, o, "logprobs", &out->logprobs);
    if (!rc) rc = get_logprobs(ctx, o, "prompt_logprobs", &out->prompt_logprobs);
    if (!rc) {
        int64_t n = 1;
        if (!rc && (int64_t)json_array_size(p) > 0) {
            json_t *first = json_array_get(p, 0);
            /* a list of prompts: strings or arrays; else one array of ids */
            if (json_is_string(first) || json_is_array(first)) n = (int64_t)json_array_size(p);
        } else if (json_is_array(p)) {
            rc = spex_seterr(ctx, SPEX_E_INVAL, "\"prompt\" is an empty array");
        }
        if (!rc && n > lim->max_prompts)
            rc = spex_seterr(ctx, SPEX_E_RANGE, "%lld prompts in one request, more than %lld",
                             (long long)n, (long long)lim->max_prompts);
        if (!rc && !(out->prompts = spex_calloc(ctx, (size_t)n, sizeof *out->prompts)))
            rc = SPEX_E_NOMEM;
        int list = json_is_array(p) &&
                   (json_is_string(json_array_get(p, 0)) || json_is_array(json_array_get(p, 0)));
        for (int64_t i = 0; !rc && i < n; i++) {
            rc = get_prompt(ctx, list ? json_array_get(p, (size_t)i) : p, lim, i, &out->prompts[i]);
            out->n_prompts = i + 1;
        }
    }
    if (!rc) rc = get_lp_from(ctx, o, out);
    if (!rc) rc = get_ablate(ctx, o, lim, out);
    json_decref(o);
    if (rc == SPEX_E_NOMEM) spex_seterr(ctx, rc, "out of memory");
    if (rc) spexi_completion_req_clear(ctx, out);
    return rc;
}

void spexi_tokenize_req_clear(spex_ctx *ctx, spexi_tokenize_req *r) {
    for (int64_t i = 0; r->texts && i < r->n_texts; i++)
        spex_free(ctx, r->texts[i]);
    spex_free(ctx, r->texts);
    spex_free(ctx, r->lens);
    memset(r, 0, sizeof *r);
}

int spexi_parse_tokenize(spex_ctx *ctx, const char *body, size_t len, const spexi_req_limits *lim,
                         spexi_tokenize_req *out) {
    memset(out, 0, sizeof *out);
    json_t *o;
    int rc = load(ctx, body, len, &o);
    if (rc) return rc;
    /* llama-server: "content", add_special default false; vLLM: "prompt",
     * add_special_tokens default true */
    json_t *c = json_object_get(o, "content");
    const char *key = "content";
    if (!c) {
        c = json_object_get(o, "prompt");
        key = "prompt";
        out->add_special = 1;
    }
    out->list = json_is_array(c);
    int64_t n = out->list ? (int64_t)json_array_size(c) : 1;
    if (!c)
        rc = spex_seterr(ctx, SPEX_E_INVAL, "\"content\" (or \"prompt\") is missing");
    else if (!json_is_string(c) && !(out->list && n > 0))
        rc = spex_seterr(ctx, SPEX_E_INVAL,
                         "\"%s\" must be a string (or a non-empty array of strings)", key);
    else if (n > lim->max_prompts)
        rc = spex_seterr(ctx, SPEX_E_RANGE, "%lld texts in one request, more than %lld",
                         (long long)n, (long long)lim->max_prompts);
    if (!rc) rc = get_bool(ctx, o, "add_special", &out->add_special);
    if (!rc) rc = get_bool(ctx, o, "add_special_tokens", &out->add_special);
    if (!rc) {
        out->texts = spex_calloc(ctx, (size_t)n, sizeof *out->texts);
        out->lens = spex_calloc(ctx, (size_t)n, sizeof *out->lens);
        if (!out->texts || !out->lens) rc = spex_seterr(ctx, SPEX_E_NOMEM, "out of memory");
    }
    for (int64_t i = 0; !rc && i < n; i++) {
        json_t *v = out->list ? json_array_get(c, (size_t)i) : c;
        if (!json_is_string(v)) {
            rc = spex_seterr(ctx, SPEX_E_INVAL, "\"%s\"[%lld] must be a string", key, (long long)i);
            break;
        }
        out->lens[i] = json_string_length(v);
        if (!(out->texts[i] = dup_text(ctx, json_string_value(v), out->lens[i])))
            rc = spex_seterr(ctx, SPEX_E_NOMEM, "out of memory");
        out->n_texts = i + 1;
    }
    json_decref(o);
    if (rc) spexi_tokenize_req_clear(ctx, out);
    return rc;
}

void spexi_detokenize_req_clear(spex_ctx *ctx, spexi_detokenize_req *r) {
    spex_free(ctx, r->ids);
    memset(r, 0, sizeof *r);
}

int spexi_parse_detokenize(spex_ctx *ctx, const char *body, size_t len, const spexi_req_limits *lim,
                           spexi_detokenize_req *out) {
    memset(out, 0, sizeof *out);
    json_t *o;
    int rc = load(ctx, body, len, &o);
    if (rc) return rc;
    json_t *t = json_object_get(o, "tokens");
    if (!t)
        rc = spex_seterr(ctx, SPEX_E_INVAL, "\"tokens\" is missing");
    else if (!json_is_array(t))
        rc = spex_seterr(ctx, SPEX_E_INVAL, "\"tokens\" must be an array of token ids");
    if (!rc) rc = get_ids(ctx, t, lim, "\"tokens\"", &out->ids, &out->n_ids);
    json_decref(o);
    if (rc == SPEX_E_NOMEM) spex_seterr(ctx, rc, "out of memory");
    if (rc) spexi_detokenize_req_clear(ctx, out);
    return rc;
}
