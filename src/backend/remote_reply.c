/* Parsers of inference-server replies for the remote scorer (remote_int.h):
 * vLLM's prompt_logprobs, OpenAI's echoed logprobs, llama-server's
 * completion_probabilities of forced tokens, /tokenize,
 * /detokenize, completions text and /v1/models. Untrusted input: every
 * field's type is checked, every count against what the request sent; a
 * failure quotes the reply. */
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend/remote_int.h"

void spexi_quote_reply(const char *body, size_t len, char *buf, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < len && i < 200 && k + 5 < cap; i++) {
        unsigned char c = (unsigned char)body[i];
        if (c < 0x20 || c == 0x7f)
            k += (size_t)snprintf(buf + k, cap - k, "\\x%02x", c);
        else
            buf[k++] = (char)c;
    }
    if (len > 200 && k + 4 < cap) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k < cap ? k : cap - 1] = 0;
}

/* Sets a SPEX_E_PARSE message "<what> in the reply '<quote>'". */
static int bad_reply(spex_ctx *ctx, const char *body, size_t len, const char *what) {
    char q[1024];
    spexi_quote_reply(body, len, q, sizeof q);
    return spex_seterr(ctx, SPEX_E_PARSE, "%s in the reply '%s'", what, q);
}

/* Any JSON value. */
static json_t *load_any(spex_ctx *ctx, const char *body, size_t len, int *rc) {
    json_error_t e;
    json_t *o = json_loadb(body, len, 0, &e);
    *rc = SPEX_OK;
    if (!o) {
        char what[256];
        snprintf(what, sizeof what, "not JSON (%s, byte %d)", e.text, e.position);
        *rc = bad_reply(ctx, body, len, what);
    }
    return o;
}

static json_t *load(spex_ctx *ctx, const char *body, size_t len, int *rc) {
    json_t *o = load_any(ctx, body, len, rc);
    if (o && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
        *rc = bad_reply(ctx, body, len, "not a JSON object");
    }
    return o;
}

/* The objects of array a (noun: "choice", "result") ordered by their
 * "index" (position when absent): ch[i] for i < n. */
static int get_indexed(spex_ctx *ctx, json_t *a, const char *noun, const char *body, size_t len,
                       int64_t n, json_t **ch) {
    if ((int64_t)json_array_size(a) != n) {
        char what[128];
        snprintf(what, sizeof what, "%zu %ss for %lld prompts", json_array_size(a), noun,
                 (long long)n);
        return bad_reply(ctx, body, len, what);
    }
    for (int64_t i = 0; i < n; i++)
        ch[i] = NULL;
    for (int64_t i = 0; i < n; i++) {
        json_t *c = json_array_get(a, (size_t)i), *ix = json_object_get(c, "index");
        char what[96];
        if (!json_is_object(c)) {
            snprintf(what, sizeof what, "a %s that is not an object", noun);
            return bad_reply(ctx, body, len, what);
        }
        int64_t k = i;
        if (ix) {
            if (!json_is_integer(ix) || json_integer_value(ix) < 0 || json_integer_value(ix) >= n ||
                ch[json_integer_value(ix)]) {
                snprintf(what, sizeof what, "a %s \"index\" out of range or repeated", noun);
                return bad_reply(ctx, body, len, what);
            }
            k = (int64_t)json_integer_value(ix);
        }
        ch[k] = c;
    }
    return SPEX_OK;
}

/* choices[] of a completion reply, ordered by "index". */
static int get_choices(spex_ctx *ctx, json_t *o, const char *body, size_t len, int64_t n,
                       json_t **ch) {
    json_t *a = json_object_get(o, "choices");
    if (!json_is_array(a)) return bad_reply(ctx, body, len, "no \"choices\" array");
    return get_indexed(ctx, a, "choice", body, len, n, ch);
}

/* llama-server's /completion: an array of results, or the result itself
 * for a single prompt. */
static int get_results(spex_ctx *ctx, json_t *o, const char *body, size_t len, int64_t n,
                       json_t **ch) {
    if (json_is_object(o) && n == 1) {
        ch[0] = o;
        return SPEX_OK;
    }
    if (!json_is_array(o)) return bad_reply(ctx, body, len, "not an array of results");
    return get_indexed(ctx, o, "result", body, len, n, ch);
}

/* A log-prob: a finite or -inf number (JSON null is not one). */
static int get_lp(json_t *v, double *out) {
    if (!json_is_number(v)) return 0;
    *out = json_number_value(v);
    return !isnan(*out);
}

/* The id v the server returns for position j of sequence i is want; else
 * SPEX_E_VALUE "the server <got> token X, spex <sent> Y (<why>)". */
static int check_id(spex_ctx *ctx, json_t *v, int64_t i, int64_t j, int32_t want, const char *got,
                    const char *sent, const char *why) {
    if (json_is_integer(v) && json_integer_value(v) == want) return SPEX_OK;
    return spex_seterr(ctx, SPEX_E_VALUE,
                       "sequence %lld, position %lld: the server %s token %lld, spex %s %d (%s)",
                       (long long)i, (long long)j, got,
                       json_is_integer(v) ? (long long)json_integer_value(v) : -1LL, sent, want,
                       why);
}

/* vLLM: prompt_token_ids equal to those sent, prompt_logprobs[j] =
 * {"<id>": {"logprob": x, ...}, ...} for j >= 1. */
static int score_vllm(spex_ctx *ctx, json_t *c, const char *body, size_t len, int64_t i,
                      const int32_t *seq, int64_t n_seq, int64_t from, double *out) {
    json_t *ids = json_object_get(c, "prompt_token_ids"),
           *pl = json_object_get(c, "prompt_logprobs");
    if (!json_is_array(pl))
        return bad_reply(ctx, body, len, "a choice without \"prompt_logprobs\"");
    if (json_is_array(ids)) {
        if ((int64_t)json_array_size(ids) != n_seq)
            return spex_seterr(ctx, SPEX_E_VALUE,
                               "sequence %lld: the server echoes %zu prompt tokens, spex sent "
                               "%lld",
                               (long long)i, json_array_size(ids), (long long)n_seq);
        for (int64_t j = 0; j < n_seq; j++) {
            int rc = check_id(ctx, json_array_get(ids, (size_t)j), i, j, seq[j], "echoes", "sent",
                              "not the same tokenization");
            if (rc) return rc;
        }
    }
    if ((int64_t)json_array_size(pl) != n_seq)
        return spex_seterr(ctx, SPEX_E_VALUE,
                           "sequence %lld: %zu prompt log-probs for the %lld tokens sent",
                           (long long)i, json_array_size(pl), (long long)n_seq);
    double sum = 0;
    for (int64_t j = from; j < n_seq; j++) {
        char key[16];
        snprintf(key, sizeof key, "%d", seq[j]);
        json_t *e = json_array_get(pl, (size_t)j), *t = json_object_get(e, key);
        double lp;
        if (!json_is_object(e) || !json_is_object(t) ||
            !get_lp(json_object_get(t, "logprob"), &lp)) {
            char what[160];
            snprintf(what, sizeof what,
                     "sequence %lld, position %lld: no logprob for the token sent (%d)",
                     (long long)i, (long long)j, seq[j]);
            return bad_reply(ctx, body, len, what);
        }
        sum += lp;
    }
    *out = sum;
    return SPEX_OK;
}

/* OpenAI echo: logprobs.token_logprobs has one entry per token sent. */
static int score_openai(spex_ctx *ctx, json_t *c, const char *body, size_t len, int64_t i,
                        int64_t n_seq, int64_t from, double *out) {
    json_t *lo = json_object_get(c, "logprobs"), *tl = json_object_get(lo, "token_logprobs");
    if (!json_is_array(tl))
        return bad_reply(ctx, body, len, "a choice without \"logprobs\".\"token_logprobs\"");
    if ((int64_t)json_array_size(tl) != n_seq)
        return spex_seterr(ctx, SPEX_E_VALUE,
                           "sequence %lld: the server echoes %zu tokens, spex sent %lld (not "
                           "the same tokenization, or generated tokens: max_tokens must be 0)",
                           (long long)i, json_array_size(tl), (long long)n_seq);
    double sum = 0;
    for (int64_t j = from; j < n_seq; j++) {
        double lp;
        if (!get_lp(json_array_get(tl, (size_t)j), &lp)) {
            char what[128];
            snprintf(what, sizeof what, "sequence %lld, position %lld: token_logprobs not a number",
                     (long long)i, (long long)j);
            return bad_reply(ctx, body, len, what);
        }
        sum += lp;
    }
    *out = sum;
    return SPEX_OK;
}

/* llama-server: completion_probabilities[j] = {"id": the token generated,
 * "logprob": x, ...} for the n_seq - from tokens forced after the context
 * seq[0..from) (remote.c forces one); x is the log-softmax of the raw
 * logits (post_sampling_probs false), a zero probability the lowest float
 * (JSON has no -inf). "tokens_evaluated", when there, is the context's
 * length. */
static int score_llama(spex_ctx *ctx, json_t *c, const char *body, size_t len, int64_t i,
                       const int32_t *seq, int64_t n_seq, int64_t from, double *out) {
    json_t *cp = json_object_get(c, "completion_probabilities"),
           *te = json_object_get(c, "tokens_evaluated");
    if (!json_is_array(cp))
        return bad_reply(ctx, body, len, "a result without \"completion_probabilities\"");
    if (json_is_integer(te) && json_integer_value(te) != from)
        return spex_seterr(ctx, SPEX_E_VALUE,
                           "sequence %lld: the server evaluated %lld prompt tokens, spex sent "
                           "%lld (truncated to the context?)",
                           (long long)i, (long long)json_integer_value(te), (long long)from);
    if ((int64_t)json_array_size(cp) != n_seq - from)
        return spex_seterr(ctx, SPEX_E_VALUE,
                           "sequence %lld: the server generated %zu tokens, spex forced %lld "
                           "(logit_bias ignored?)",
                           (long long)i, json_array_size(cp), (long long)(n_seq - from));
    double sum = 0;
    for (int64_t j = from; j < n_seq; j++) {
        json_t *e = json_array_get(cp, (size_t)(j - from)), *id = json_object_get(e, "id");
        double lp;
        int rc = check_id(ctx, id, i, j, seq[j], "generated", "forced", "logit_bias ignored?");
        if (rc) return rc;
        if (!get_lp(json_object_get(e, "logprob"), &lp)) {
            char what[160];
            snprintf(what, sizeof what, "sequence %lld, position %lld: no \"logprob\" number",
                     (long long)i, (long long)j);
            return bad_reply(ctx, body, len, what);
        }
        sum += lp <= -FLT_MAX ? -INFINITY : lp;
    }
    *out = sum;
    return SPEX_OK;
}

int spexi_parse_score_reply(spex_ctx *ctx, spex_remote_api api, const char *body, size_t len,
                            int64_t n, const int32_t *const *seqs, const int64_t *lens,
                            const int64_t *from, double *out) {
    int rc, llama = api == SPEX_REMOTE_LLAMA_SERVER;
    json_t *o = llama ? load_any(ctx, body, len, &rc) : load(ctx, body, len, &rc);
    if (!o) return rc;
    json_t **ch = spex_calloc(ctx, (size_t)(n > 0 ? n : 1), sizeof *ch);
    rc = !ch     ? SPEX_E_NOMEM
         : llama ? get_results(ctx, o, body, len, n, ch)
                 : get_choices(ctx, o, body, len, n, ch);
    for (int64_t i = 0; !rc && i < n; i++)
        rc = llama ? score_llama(ctx, ch[i], body, len, i, seqs[i], lens[i], from[i], &out[i])
             : api == SPEX_REMOTE_VLLM
                 ? score_vllm(ctx, ch[i], body, len, i, seqs[i], lens[i], from[i], &out[i])
                 : score_openai(ctx, ch[i], body, len, i, lens[i], from[i], &out[i]);
    spex_free(ctx, ch);
    json_decref(o);
    return rc;
}

/* A JSON array of token ids -> *toks (owned), *n. */
static int ids_of(spex_ctx *ctx, json_t *a, const char *body, size_t len, int32_t **toks,
                  int64_t *n) {
    if (!json_is_array(a)) return bad_reply(ctx, body, len, "no \"tokens\" array");
    size_t k = json_array_size(a);
    int32_t *t = spex_malloc(ctx, (k ? k : 1) * sizeof *t);
    if (!t) return SPEX_E_NOMEM;
    for (size_t j = 0; j < k; j++) {
        json_t *v = json_array_get(a, j);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX) {
            spex_free(ctx, t);
            return bad_reply(ctx, body, len, "a token id that is not a non-negative integer");
        }
        t[j] = (int32_t)json_integer_value(v);
    }
    *toks = t;
    *n = (int64_t)k;
    return SPEX_OK;
}

int spexi_parse_tokens_reply(spex_ctx *ctx, const char *body, size_t len, int32_t **toks,
                             int64_t *n) {
    *toks = NULL;
    *n = 0;
    int rc;
    json_t *o = load(ctx, body, len, &rc);
    if (!o) return rc;
    rc = ids_of(ctx, json_object_get(o, "tokens"), body, len, toks, n);
    json_decref(o);
    return rc;
}

int spexi_parse_tokens_list_reply(spex_ctx *ctx, const char *body, size_t len, int64_t k,
                                  int32_t **toks, int64_t *n) {
    for (int64_t i = 0; i < k; i++) {
        toks[i] = NULL;
        n[i] = 0;
    }
    int rc;
    json_t *o = load(ctx, body, len, &rc);
    if (!o) return rc;
    json_t *a = json_object_get(o, "tokens");
    if (!json_is_array(a) || (int64_t)json_array_size(a) != k)
        rc = bad_reply(ctx, body, len, "no \"tokens\" array with one id array per text");
    for (int64_t i = 0; !rc && i < k; i++)
        rc = ids_of(ctx, json_array_get(a, (size_t)i), body, len, &toks[i], &n[i]);
    json_decref(o);
    if (rc)
        for (int64_t i = 0; i < k; i++) {
            spex_free(ctx, toks[i]);
            toks[i] = NULL;
        }
    return rc;
}

static int dup_string(spex_ctx *ctx, json_t *v, char **out) {
    size_t n = json_string_length(v);
    *out = spex_malloc(ctx, n + 1);
    if (!*out) return SPEX_E_NOMEM;
    memcpy(*out, json_string_value(v), n);
    (*out)[n] = 0;
    return SPEX_OK;
}

int spexi_parse_content_reply(spex_ctx *ctx, const char *body, size_t len, char **text) {
    *text = NULL;
    int rc;
    json_t *o = load(ctx, body, len, &rc);
    if (!o) return rc;
    json_t *v = json_object_get(o, "content");
    if (!json_is_string(v)) v = json_object_get(o, "prompt");
    rc = json_is_string(v) ? dup_string(ctx, v, text)
                           : bad_reply(ctx, body, len, "no \"content\" string");
    json_decref(o);
    return rc;
}

int spexi_parse_text_reply(spex_ctx *ctx, const char *body, size_t len, char **text, int *stopped) {
    *text = NULL;
    *stopped = 0;
    int rc;
    json_t *o = load(ctx, body, len, &rc);
    if (!o) return rc;
    json_t *ch = NULL;
    rc = get_choices(ctx, o, body, len, 1, &ch);
    json_t *t = rc ? NULL : json_object_get(ch, "text");
    if (!rc && !json_is_string(t)) rc = bad_reply(ctx, body, len, "a choice without \"text\"");
    if (!rc) {
        json_t *f = json_object_get(ch, "finish_reason");
        *stopped = json_is_string(f) && !strcmp(json_string_value(f), "stop");
        rc = dup_string(ctx, t, text);
    }
    json_decref(o);
    return rc;
}

int spexi_parse_models_reply(spex_ctx *ctx, const char *body, size_t len, const char *want,
                             char **id, char **owner) {
    *id = NULL;
    if (owner) *owner = NULL;
    int rc;
    json_t *o = load(ctx, body, len, &rc);
    if (!o) return rc;
    json_t *d = json_object_get(o, "data"), *found = NULL, *by = NULL;
    if (!json_is_array(d)) rc = bad_reply(ctx, body, len, "no \"data\" array of models");
    size_t n = rc ? 0 : json_array_size(d);
    for (size_t i = 0; !rc && i < n; i++) {
        json_t *v = json_object_get(json_array_get(d, i), "id");
        if (!json_is_string(v))
            rc = bad_reply(ctx, body, len, "a model without a string \"id\"");
        else if (!want || !strcmp(json_string_value(v), want)) {
            found = v;
            by = json_object_get(json_array_get(d, i), "owned_by");
        }
    }
    if (!rc && !want && n != 1)
        rc =
            spex_seterr(ctx, SPEX_E_VALUE, "the server lists %zu models; name one with --model", n);
    else if (!rc && !found)
        rc = spex_seterr(ctx, SPEX_E_VALUE, "the server does not list the model '%s'", want);
    if (!rc) rc = dup_string(ctx, found, id);
    if (!rc && owner && json_is_string(by) && (rc = dup_string(ctx, by, owner))) {
        spex_free(ctx, *id);
        *id = NULL;
    }
    json_decref(o);
    return rc;
}

int spexi_parse_components_reply(spex_ctx *ctx, const char *body, size_t len, const char *model,
                                 int64_t *n_layers, int64_t *n_heads) {
    *n_layers = *n_heads = 0;
    int rc;
    json_t *o = load(ctx, body, len, &rc);
    if (!o) return rc;
    json_t *d = json_object_get(o, "data"), *m = NULL;
    for (size_t i = 0; json_is_array(d) && i < json_array_size(d); i++) {
        json_t *v = json_object_get(json_array_get(d, i), "id");
        if (json_is_string(v) && !strcmp(json_string_value(v), model)) m = json_array_get(d, i);
    }
    json_t *l = json_object_get(m, "n_layers"), *h = json_object_get(m, "n_heads");
    if (!json_is_integer(l) || !json_is_integer(h) || json_integer_value(l) < 1 ||
        json_integer_value(h) < 1 || json_integer_value(l) > 4096 || json_integer_value(h) > 4096)
        rc = bad_reply(ctx, body, len,
                       "no positive integer \"n_layers\" and \"n_heads\" of the model (spex "
                       "serve reports them)");
    else {
        *n_layers = (int64_t)json_integer_value(l);
        *n_heads = (int64_t)json_integer_value(h);
    }
    json_decref(o);
    return rc;
}
