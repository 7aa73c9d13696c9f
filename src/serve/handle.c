/* spex serve's request handlers (serve_int.h): a parsed request run on the
 * engine and its JSON reply, in the shapes OpenAI, vLLM and llama-server
 * clients read. No HTTP here (serve.c does that), so tests and the fuzz
 * target call these directly.
 *
 * HOW IT WORKS
 * A completion request's prompts are tokenized (text) or taken as given
 * (ids), then visited in token order: the log-probs of the prefix shared
 * with the previous prompt are copied, and spex_llm_token_logprobs reuses
 * the KV cache of the previous prompt for that prefix, so the ablated
 * variants of one prompt that a spex client sends in one request cost about
 * their differing suffixes only. Greedy generation (max_tokens > 0) follows
 * per prompt; with echo the generated tokens' log-probs are scored with the
 * prompt's in one teacher-forced pass. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/serve_int.h"

/* A finite double as a JSON real, else null (JSON has no inf/NaN). */
static json_t *real_or_null(double v) {
    json_t *r = json_real(v);
    return r ? r : json_null();
}

static int reply_json(spexi_reply *out, int status, json_t *o) {
    out->status = status;
    out->body = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(o);
    return out->body ? SPEX_OK : SPEX_E_NOMEM;
}

/* {"error": {"message", "type", "code"}} as OpenAI and vLLM send it. */
int spexi_reply_error(spexi_reply *out, int status, const char *msg) {
    const char *type = status == 401   ? "authentication_error"
                       : status == 404 ? "not_found_error"
                       : status >= 500 ? "server_error"
                                       : "invalid_request_error";
    json_t *o =
        json_pack("{s:{s:s,s:s,s:i}}", "error", "message", msg, "type", type, "code", status);
    return reply_json(out, status, o);
}

/* The HTTP status of a failed parse: the client's fault unless memory ran out. */
static int status_of(int rc) {
    return rc == SPEX_E_NOMEM || rc == SPEX_E_INTERNAL ? 500 : 400;
}

typedef struct prompt_run {
    int32_t *tok; /* owned: prompt tokens then generated ones */
    int64_t n_prompt, n_gen;
    double *lp;      /* owned: n_prompt + n_gen - 1 teacher-forced log-probs of tokens 1.. */
    int64_t lp_from; /* lp[j - 1] is computed for tokens j >= lp_from (NaN before) */
    int stopped;     /* generation ended at EOS */
} prompt_run;

typedef struct order_key {
    const int32_t *tok;
    int64_t n, idx;
} order_key;

static int cmp_order(const void *a, const void *b) {
    const order_key *x = a, *y = b;
    for (int64_t k = 0; k < x->n && k < y->n; k++)
        if (x->tok[k] != y->tok[k]) return x->tok[k] < y->tok[k] ? -1 : 1;
    if (x->n != y->n) return x->n < y->n ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Appends the pieces of tok[0..n) to a logprobs object's arrays. */
static int put_tokens(spex_llm *m, const int32_t *tok, int64_t n, const double *lp, int first_null,
                      json_t *tokens, json_t *lps, json_t *offs, size_t *off) {
    for (int64_t j = 0; j < n; j++) {
        const char *piece;
        size_t len;
        int rc = spex_llm_token_piece(m, tok[j], &piece, &len);
        if (rc) return rc;
        json_t *t = json_stringn(piece, len); /* NULL for a byte piece that is not UTF-8 */
        json_array_append_new(tokens, t ? t : json_string("\xef\xbf\xbd"));
        json_array_append_new(lps, j == 0 && first_null ? json_null() : real_or_null(lp[j]));
        json_array_append_new(offs, json_integer((json_int_t)*off));
        *off += len;
    }
    return SPEX_OK;
}

/* One choice of the reply. */
static int make_choice(spex_ctx *ctx, spex_llm *m, const spexi_completion_req *r, int64_t i,
                       const prompt_run *pr, json_t **out) {
    spex_llm_info info;
    spex_llm_get_info(m, &info);
    char *ptext = NULL, *gtext = NULL;
    int rc = spex_llm_detokenize(m, pr->tok, pr->n_prompt, 0, &ptext);
    if (!rc) rc = spex_llm_detokenize(m, pr->tok + pr->n_prompt, pr->n_gen, 0, &gtext);
    if (rc) {
        spex_free(ctx, ptext);
        return rc;
    }
    json_t *c = json_object();
    size_t plen = strlen(ptext);
    /* a text prompt is echoed as given; ids as their pieces */
    const char *echo_text = r->prompts[i].text ? r->prompts[i].text : ptext;
    size_t echo_len = r->prompts[i].text ? r->prompts[i].text_len : plen;
    size_t glen = strlen(gtext);
    char *text = malloc((r->echo ? echo_len : 0) + glen + 1);
    if (!c || !text) rc = SPEX_E_NOMEM;
    if (!rc) {
        size_t k = 0;
        if (r->echo) {
            memcpy(text, echo_text, echo_len);
            k = echo_len;
        }
        memcpy(text + k, gtext, glen);
        json_object_set_new(c, "index", json_integer((json_int_t)i));
        json_t *t = json_stringn(text, k + glen);
        json_object_set_new(c, "text", t ? t : json_string(""));
        json_object_set_new(c, "finish_reason", json_string(pr->stopped ? "stop" : "length"));
    }
    if (!rc && r->logprobs >= 0) {
        json_t *lo = json_object(), *tokens = json_array(), *lps = json_array(),
               *offs = json_array(), *top = json_array();
        size_t off = 0;
        if (r->echo) /* lp[j - 1] is token j's */
            rc = put_tokens(m, pr->tok, 1, NULL, 1, tokens, lps, offs, &off);
        if (!rc && r->echo && pr->n_prompt > 1)
            rc = put_tokens(m, pr->tok + 1, pr->n_prompt - 1, pr->lp, 0, tokens, lps, offs, &off);
        if (!r->echo) off = 0;
        if (!rc)
            rc = put_tokens(m, pr->tok + pr->n_prompt, pr->n_gen, pr->lp + pr->n_prompt - 1, 0,
                            tokens, lps, offs, &off);
        for (size_t j = 0; j < json_array_size(tokens); j++)
            json_array_append_new(top, json_null());
        json_object_set_new(lo, "tokens", tokens);
        json_object_set_new(lo, "token_logprobs", lps);
        json_object_set_new(lo, "top_logprobs", top);
        json_object_set_new(lo, "text_offset", offs);
        json_object_set_new(c, "logprobs", lo);
    } else if (!rc) {
        json_object_set_new(c, "logprobs", json_null());
    }
    if (!rc && r->prompt_logprobs >= 0) { /* vLLM: [null, {"id": {"logprob", ...}}, ...] */
        json_t *pl = json_array(), *ids = json_array();
        for (int64_t j = 0; j < pr->n_prompt; j++) {
            json_array_append_new(ids, json_integer(pr->tok[j]));
            if (j == 0 || j < pr->lp_from) { /* none, or not asked for */
                json_array_append_new(pl, json_null());
                continue;
            }
            const char *piece;
            size_t len;
            spex_llm_token_piece(m, pr->tok[j], &piece, &len);
            char key[16];
            snprintf(key, sizeof key, "%d", pr->tok[j]);
            json_t *d = json_stringn(piece, len);
            json_array_append_new(pl, json_pack("{s:{s:o,s:o}}", key, "logprob",
                                                real_or_null(pr->lp[j - 1]), "decoded_token",
                                                d ? d : json_string("")));
        }
        json_object_set_new(c, "prompt_logprobs", pl);
        json_object_set_new(c, "prompt_token_ids", ids);
    }
    free(text);
    spex_free(ctx, ptext);
    spex_free(ctx, gtext);
    if (rc) {
        json_decref(c);
        return rc;
    }
    *out = c;
    return SPEX_OK;
}

/* A completion request between its steps (serve_int.h). */
struct spexi_comp {
    spexi_completion_req r;
    const char *model_id;
    prompt_run *runs; /* n_prompts */
    order_key *keys;  /* the prompts in token order */
    int64_t *calc;    /* per prompt: log-probs from here on come from the engine */
    int want_lp;
    const int32_t **seqs; /* the engine's work: nb sequences */
    int64_t *lens, *from, nb;
    double **dst;
};

void spexi_comp_free(spex_ctx *ctx, spexi_comp *c) {
    if (!c) return;
    for (int64_t i = 0; c->runs && i < c->r.n_prompts; i++) {
        spex_free(ctx, c->runs[i].tok);
        spex_free(ctx, c->runs[i].lp);
    }
    spex_free(ctx, c->runs);
    spex_free(ctx, c->keys);
    spex_free(ctx, c->calc);
    spex_free(ctx, c->seqs);
    spex_free(ctx, c->lens);
    spex_free(ctx, c->from);
    spex_free(ctx, c->dst);
    spexi_completion_req_clear(ctx, &c->r);
    spex_free(ctx, c);
}

/* Tokenizes (or copies) each prompt and sorts them into token order. */
static int load_prompts(spex_ctx *ctx, spex_llm *m, spexi_comp *c, const spex_llm_info *info) {
    spexi_completion_req *r = &c->r;
    int rc = SPEX_OK;
    for (int64_t i = 0; !rc && i < r->n_prompts; i++) {
        spexi_prompt_in *p = &r->prompts[i];
        prompt_run *pr = &c->runs[i];
        if (p->text) {
            rc = spex_llm_tokenize(m, p->text, p->text_len, 1, &pr->tok, &pr->n_prompt);
        } else {
            pr->tok = spex_malloc(ctx, (size_t)p->n_ids * sizeof *pr->tok);
            if (!pr->tok)
                rc = SPEX_E_NOMEM;
            else
                memcpy(pr->tok, p->ids, (size_t)p->n_ids * sizeof *pr->tok);
            pr->n_prompt = p->n_ids;
        }
        if (!rc && pr->n_prompt + r->max_tokens > info->n_ctx)
            rc = spex_seterr(ctx, SPEX_E_RANGE,
                             "prompt %lld: %lld tokens + max_tokens %lld exceed the context "
                             "length %lld",
                             (long long)i, (long long)pr->n_prompt, (long long)r->max_tokens,
                             (long long)info->n_ctx);
        if (!rc && pr->n_prompt < 1)
            rc = spex_seterr(ctx, SPEX_E_INVAL, "prompt %lld has no tokens", (long long)i);
        c->keys[i] = (order_key){pr->tok, pr->n_prompt, i};
    }
    if (!rc) qsort(c->keys, (size_t)r->n_prompts, sizeof *c->keys, cmp_order);
    return rc;
}

/* Generation, and what each prompt's log-probs need: positions from
 * lp_from on; of those, the ones inside the prefix shared with the previous
 * prompt in token order are copied from it (token j's log-prob depends on
 * tokens 0..j only), the rest computed from calc on. */
static int plan_prompts(spex_ctx *ctx, spex_llm *m, spexi_comp *c, const spex_llm_info *info) {
    spexi_completion_req *r = &c->r;
    int64_t n = r->n_prompts;
    int rc = SPEX_OK;
    const prompt_run *prev = NULL;
    for (int64_t k = 0; !rc && k < n; k++) {
        int64_t i = c->keys[k].idx;
        prompt_run *pr = &c->runs[i];
        if (r->max_tokens > 0) {
            int32_t *gen = NULL;
            int64_t ng = 0;
            rc = spex_llm_generate(m, pr->tok, pr->n_prompt, r->max_tokens, &gen, &ng);
            int32_t *all = rc ? NULL : spex_realloc(ctx, pr->tok, (size_t)(pr->n_prompt + ng), 4);
            if (!rc && !all) rc = SPEX_E_NOMEM;
            if (!rc) {
                memcpy(all + pr->n_prompt, gen, (size_t)ng * sizeof *gen);
                pr->tok = all;
                pr->n_gen = ng;
                pr->stopped = ng > 0 && gen[ng - 1] == info->eos;
            }
            spex_free(ctx, gen);
        }
        int64_t nt = pr->n_prompt + pr->n_gen;
        if (!rc && c->want_lp && !(pr->lp = spex_calloc(ctx, (size_t)(nt > 1 ? nt - 1 : 1), 8)))
            rc = SPEX_E_NOMEM;
        pr->lp_from = r->lp_from ? r->lp_from[i] : 1;
        if (!rc && pr->lp_from > pr->n_prompt)
            rc = spex_seterr(ctx, SPEX_E_INVAL,
                             "\"spex_logprobs_from\"[%lld] = %lld is past the prompt's %lld tokens",
                             (long long)i, (long long)pr->lp_from, (long long)pr->n_prompt);
        if (rc || !c->want_lp) continue;
        for (int64_t j = 1; j < pr->lp_from && j < nt; j++)
            pr->lp[j - 1] = NAN;
        int64_t q = 0;
        if (prev)
            while (q < nt && q < prev->n_prompt + prev->n_gen && prev->tok[q] == pr->tok[q])
                q++;
        c->calc[i] = prev && prev->lp_from <= pr->lp_from && q > pr->lp_from ? q : pr->lp_from;
        prev = pr;
    }
    if (rc || !c->want_lp) return rc;
    /* the rest: one engine call (prefix reuse, the output matrix over many
     * prompts' positions at once), made by the caller */
    c->seqs = spex_calloc(ctx, (size_t)n, sizeof *c->seqs);
    c->lens = spex_calloc(ctx, (size_t)n, sizeof *c->lens);
    c->from = spex_calloc(ctx, (size_t)n, sizeof *c->from);
    c->dst = spex_calloc(ctx, (size_t)n, sizeof *c->dst);
    if (!c->seqs || !c->lens || !c->from || !c->dst) return SPEX_E_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        prompt_run *pr = &c->runs[i];
        int64_t nt = pr->n_prompt + pr->n_gen;
        if (c->calc[i] >= nt) continue;
        c->seqs[c->nb] = pr->tok;
        c->lens[c->nb] = nt;
        c->from[c->nb] = c->calc[i];
        c->dst[c->nb++] = pr->lp + c->calc[i] - 1;
    }
    return SPEX_OK;
}

void spexi_means_cache_clear(spex_ctx *ctx, spexi_means_cache *mc) {
    spex_free(ctx, mc->ids);
    spex_free(ctx, mc->lens);
    spex_free(ctx, mc->hm);
    spex_free(ctx, mc->mm);
    memset(mc, 0, sizeof *mc);
}

/* 1 when mc holds the means of exactly a's reference sequences. */
static int means_cached(const spexi_means_cache *mc, const spexi_ablate_req *a) {
    if (!mc->hm || mc->n_refs != a->n_refs) return 0;
    const int32_t *at = mc->ids;
    for (int64_t i = 0; i < a->n_refs; at += a->ref_lens[i], i++)
        if (mc->lens[i] != a->ref_lens[i] ||
            memcmp(at, a->refs[i], (size_t)a->ref_lens[i] * sizeof *at))
            return 0;
    return 1;
}

/* Computes the means of a's references into mc (replacing what it held). */
static int fill_means(spex_ctx *ctx, spex_llm *m, const spexi_ablate_req *a,
                      const spex_llm_info *info, spexi_means_cache *mc) {
    spexi_means_cache_clear(ctx, mc);
    size_t nf = (size_t)(info->n_layers * info->dim);
    int64_t n_ids = 0;
    for (int64_t i = 0; i < a->n_refs; i++)
        n_ids += a->ref_lens[i];
    mc->hm = spex_malloc(ctx, nf * sizeof *mc->hm);
    mc->mm = spex_malloc(ctx, nf * sizeof *mc->mm);
    mc->ids = spex_malloc(ctx, (size_t)(n_ids ? n_ids : 1) * sizeof *mc->ids);
    mc->lens = spex_malloc(ctx, (size_t)(a->n_refs ? a->n_refs : 1) * sizeof *mc->lens);
    int rc = mc->hm && mc->mm && mc->ids && mc->lens ? SPEX_OK : SPEX_E_NOMEM;
    if (!rc)
        rc = spex_llm_component_means(m, a->n_refs, (const int32_t *const *)a->refs, a->ref_lens,
                                      mc->hm, mc->mm);
    if (rc) {
        spexi_means_cache_clear(ctx, mc);
        return rc;
    }
    for (int64_t i = 0, at = 0; i < a->n_refs; at += a->ref_lens[i], i++) {
        memcpy(mc->ids + at, a->refs[i], (size_t)a->ref_lens[i] * sizeof *mc->ids);
        mc->lens[i] = a->ref_lens[i];
    }
    mc->n_refs = a->n_refs;
    mc->n_ids = n_ids;
    return SPEX_OK;
}

/* Sets the request's ablation ("spex_ablate") on the engine; mean values
 * from its reference sequences (spex_llm_component_means, unablated),
 * reused from mc when it holds the same ones. */
static int set_ablation(spex_ctx *ctx, spex_llm *m, const spexi_ablate_req *a,
                        const spex_llm_info *info, spexi_means_cache *mc) {
    spexi_means_cache own = {0};
    if (!mc) mc = &own;
    int rc = SPEX_OK;
    if (a->mean && !means_cached(mc, a)) rc = fill_means(ctx, m, a, info, mc);
    spex_llm_ablation abl = {a->heads, a->mlps, a->mean ? mc->hm : NULL, a->mean ? mc->mm : NULL};
    if (!rc) rc = spex_llm_set_ablation(m, &abl);
    spexi_means_cache_clear(ctx, &own);
    return rc;
}

spexi_comp *spexi_comp_prepare(spex_ctx *ctx, spex_llm *m, const char *model_id,
                               const spex_serve_opts *opts, spexi_means_cache *mc, const char *body,
                               size_t len, spexi_reply *out) {
    spex_llm_info info;
    spex_llm_get_info(m, &info);
    spexi_req_limits lim = {info.n_vocab, opts->max_prompts, info.n_ctx, info.n_layers,
                            info.n_heads};
    spexi_comp *c = spex_calloc(ctx, 1, sizeof *c);
    if (!c) {
        spexi_reply_error(out, 500, "out of memory");
        return NULL;
    }
    c->model_id = model_id;
    int rc = spexi_parse_completion(ctx, body, len, &lim, &c->r);
    if (rc) {
        spexi_reply_error(out, status_of(rc), spex_errmsg(ctx));
        spexi_comp_free(ctx, c);
        return NULL;
    }
    if (c->r.model && model_id && strcmp(c->r.model, model_id)) {
        char msg[512];
        snprintf(msg, sizeof msg, "the model '%.200s' does not exist: this server serves '%.200s'",
                 c->r.model, model_id);
        spexi_comp_free(ctx, c);
        spexi_reply_error(out, 404, msg);
        return NULL;
    }
    int64_t n = c->r.n_prompts;
    c->want_lp = c->r.logprobs >= 0 || c->r.prompt_logprobs >= 0;
    c->runs = spex_calloc(ctx, (size_t)n, sizeof *c->runs);
    c->keys = spex_calloc(ctx, (size_t)n, sizeof *c->keys);
    c->calc = spex_calloc(ctx, (size_t)n, sizeof *c->calc);
    if (!c->runs || !c->keys || !c->calc) rc = SPEX_E_NOMEM;
    if (!rc) rc = load_prompts(ctx, m, c, &info);
    /* an ablated request runs whole, under its ablation, now: generation
     * too, and its KV cache is dropped before and after */
    if (!rc && c->r.ablate) rc = set_ablation(ctx, m, c->r.ablate, &info, mc);
    if (!rc) rc = plan_prompts(ctx, m, c, &info);
    if (!rc && c->r.ablate) {
        int64_t nb;
        const int32_t *const *seqs;
        const int64_t *lens, *from;
        double *const *dst;
        spexi_comp_seqs(c, &nb, &seqs, &lens, &from, &dst);
        if (nb) rc = spex_llm_token_logprobs_batch(m, nb, seqs, lens, from, dst);
    }
    if (c->r.ablate) spex_llm_set_ablation(m, NULL);
    if (rc) {
        spexi_reply_error(out, status_of(rc),
                          rc == SPEX_E_NOMEM ? "out of memory" : spex_errmsg(ctx));
        spexi_comp_free(ctx, c);
        return NULL;
    }
    if (c->r.ablate) {
        c->nb = 0; /* scored already */
        spexi_comp_finish(ctx, m, c, SPEX_OK, out);
        return NULL;
    }
    return c;
}

void spexi_comp_seqs(spexi_comp *c, int64_t *n, const int32_t *const **seqs, const int64_t **lens,
                     const int64_t **from, double *const **dst) {
    *n = c->nb;
    *seqs = (const int32_t *const *)c->seqs;
    *lens = c->lens;
    *from = c->from;
    *dst = (double *const *)c->dst;
}

int spexi_comp_finish(spex_ctx *ctx, spex_llm *m, spexi_comp *c, int score_rc, spexi_reply *out) {
    spexi_completion_req *r = &c->r;
    int64_t n = r->n_prompts;
    int rc = SPEX_OK;
    if (score_rc && c->nb) /* the shared call failed: this request's own error */
        rc = spex_llm_token_logprobs_batch(m, c->nb, (const int32_t *const *)c->seqs, c->lens,
                                           c->from, (double *const *)c->dst);
    int status = status_of(rc);
    /* the copies, in token order (a prompt's source is done before it) */
    const prompt_run *prev = NULL;
    for (int64_t k = 0; !rc && c->want_lp && k < n; k++) {
        prompt_run *pr = &c->runs[c->keys[k].idx];
        int64_t a = pr->lp_from, b = c->calc[c->keys[k].idx];
        if (b > a) memcpy(pr->lp + a - 1, prev->lp + a - 1, (size_t)(b - a) * sizeof *pr->lp);
        prev = pr;
    }
    json_t *choices = json_array();
    for (int64_t i = 0; !rc && i < n; i++) {
        json_t *ch = NULL;
        rc = make_choice(ctx, m, r, i, &c->runs[i], &ch);
        if (!rc) json_array_append_new(choices, ch);
        if (rc) status = 500;
    }
    int64_t n_prompt_tok = 0, n_gen_tok = 0;
    for (int64_t i = 0; i < n; i++) {
        n_prompt_tok += c->runs[i].n_prompt;
        n_gen_tok += c->runs[i].n_gen;
    }
    const char *model_id = c->model_id;
    spexi_comp_free(ctx, c);
    if (rc) {
        json_decref(choices);
        return spexi_reply_error(out, status,
                                 rc == SPEX_E_NOMEM ? "out of memory" : spex_errmsg(ctx));
    }
    char id[64];
    snprintf(id, sizeof id, "cmpl-spex-%lld", (long long)time(NULL));
    json_t *o = json_pack(
        "{s:s,s:s,s:I,s:s,s:o,s:{s:I,s:I,s:I}}", "id", id, "object", "text_completion", "created",
        (json_int_t)time(NULL), "model", model_id ? model_id : "spex", "choices", choices, "usage",
        "prompt_tokens", (json_int_t)n_prompt_tok, "completion_tokens", (json_int_t)n_gen_tok,
        "total_tokens", (json_int_t)(n_prompt_tok + n_gen_tok));
    return reply_json(out, 200, o);
}

static int run_completion(spex_ctx *ctx, spex_llm *m, const char *model_id,
                          const spex_serve_opts *opts, const char *body, size_t len,
                          spexi_reply *out) {
    spexi_comp *c = spexi_comp_prepare(ctx, m, model_id, opts, NULL, body, len, out);
    if (!c) return out->body ? SPEX_OK : SPEX_E_NOMEM;
    int64_t nb;
    const int32_t *const *seqs;
    const int64_t *lens, *from;
    double *const *dst;
    spexi_comp_seqs(c, &nb, &seqs, &lens, &from, &dst);
    int rc = nb ? spex_llm_token_logprobs_batch(m, nb, seqs, lens, from, dst) : SPEX_OK;
    return spexi_comp_finish(ctx, m, c, rc, out);
}

static int run_tokenize(spex_ctx *ctx, spex_llm *m, const spex_serve_opts *opts, const char *body,
                        size_t len, spexi_reply *out) {
    spex_llm_info info;
    spex_llm_get_info(m, &info);
    spexi_req_limits lim = {info.n_vocab, opts->max_prompts, info.n_ctx, 0, 0};
    spexi_tokenize_req r;
    int rc = spexi_parse_tokenize(ctx, body, len, &lim, &r);
    if (rc) return spexi_reply_error(out, status_of(rc), spex_errmsg(ctx));
    json_t *all = json_array(), *a = NULL;
    int64_t nt = 0;
    for (int64_t k = 0; !rc && k < r.n_texts; k++) {
        int32_t *tok = NULL;
        rc = spex_llm_tokenize(m, r.texts[k], r.lens[k], r.add_special, &tok, &nt);
        a = json_array();
        for (int64_t i = 0; !rc && i < nt; i++)
            json_array_append_new(a, json_integer(tok[i]));
        spex_free(ctx, tok);
        if (r.list) json_array_append_new(all, a);
    }
    int list = r.list;
    spexi_tokenize_req_clear(ctx, &r);
    if (rc) {
        json_decref(all);
        if (!list) json_decref(a);
        return spexi_reply_error(out, 500, spex_errmsg(ctx));
    }
    if (list) /* the extension: one id array per text */
        return reply_json(
            out, 200,
            json_pack("{s:o,s:I}", "tokens", all, "max_model_len", (json_int_t)info.n_ctx));
    json_decref(all);
    return reply_json(out, 200,
                      json_pack("{s:o,s:I,s:I}", "tokens", a, "count", (json_int_t)nt,
                                "max_model_len", (json_int_t)info.n_ctx));
}

static int run_detokenize(spex_ctx *ctx, spex_llm *m, const char *body, size_t len,
                          spexi_reply *out) {
    spex_llm_info info;
    spex_llm_get_info(m, &info);
    spexi_req_limits lim = {info.n_vocab, 1, info.n_ctx, 0, 0};
    spexi_detokenize_req r;
    int rc = spexi_parse_detokenize(ctx, body, len, &lim, &r);
    if (rc) return spexi_reply_error(out, status_of(rc), spex_errmsg(ctx));
    char *text = NULL;
    rc = spex_llm_detokenize(m, r.ids, r.n_ids, 0, &text);
    spexi_detokenize_req_clear(ctx, &r);
    if (rc) return spexi_reply_error(out, 500, spex_errmsg(ctx));
    json_t *t = json_string(text); /* NULL when the pieces are not UTF-8 */
    spex_free(ctx, text);
    if (!t) return spexi_reply_error(out, 400, "the tokens do not decode to UTF-8 text");
    json_t *o = json_object();
    json_object_set(o, "content", t);
    json_object_set_new(o, "prompt", t);
    return reply_json(out, 200, o);
}

int spexi_serve_handle_static(const spex_llm *m, const char *model_id, const char *method,
                              const char *path, void *stats, spexi_reply *out) {
    json_t *st = stats;
    int get = !strcmp(method, "GET");
    if (!strcmp(path, "/health")) {
        json_t *o = get ? json_pack("{s:s}", "status", "ok") : NULL;
        if (o && st) json_object_update(o, st);
        json_decref(st);
        if (!get) return spexi_reply_error(out, 405, "use GET for /health"), 1;
        reply_json(out, 200, o);
        return 1;
    }
    json_decref(st);
    if (strcmp(path, "/v1/models")) return 0;
    if (!get) return spexi_reply_error(out, 405, "use GET for /v1/models"), 1;
    spex_llm_info info;
    spex_llm_get_info(m, &info);
    /* n_layers and n_heads (extensions): the components "spex_ablate" names */
    reply_json(out, 200,
               json_pack("{s:s,s:[{s:s,s:s,s:s,s:I,s:I,s:I}]}", "object", "list", "data", "id",
                         model_id ? model_id : "spex", "object", "model", "owned_by", "spex",
                         "max_model_len", (json_int_t)info.n_ctx, "n_layers",
                         (json_int_t)info.n_layers, "n_heads", (json_int_t)info.n_heads));
    return 1;
}

int spexi_serve_handle(spex_ctx *ctx, spex_llm *m, const char *model_id,
                       const spex_serve_opts *opts, const char *method, const char *path,
                       const char *body, size_t len, spexi_reply *out) {
    out->status = 500;
    out->body = NULL;
    if (spexi_serve_handle_static(m, model_id, method, path, NULL, out))
        return out->body ? SPEX_OK : SPEX_E_NOMEM;
    int post = !strcmp(method, "POST");
    int comp = !strcmp(path, "/v1/completions"), tok = !strcmp(path, "/tokenize"),
        detok = !strcmp(path, "/detokenize");
    if (!comp && !tok && !detok) {
        char msg[300];
        snprintf(msg, sizeof msg, "no such endpoint: %.200s", path);
        return spexi_reply_error(out, 404, msg);
    }
    if (!post) return spexi_reply_error(out, 405, "use POST");
    if (comp) return run_completion(ctx, m, model_id, opts, body, len, out);
    if (tok) return run_tokenize(ctx, m, opts, body, len, out);
    return run_detokenize(ctx, m, body, len, out);
}
