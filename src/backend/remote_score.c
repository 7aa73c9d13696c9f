/*
 * Scoring on the servers (remote_pool.h): token-id sequences in the vllm
 * (prompt_logprobs), openai (echo + logprobs) and llama-server (n_probs +
 * logit_bias) dialects. Sequences are sorted by their tokens before they
 * are grouped into requests, so that the requests in flight share long
 * prefixes (the servers' prefix caches), and each answer is reported as its
 * request returns.
 */
#include "backend/remote_pool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/remote_int.h"

typedef struct seq_ref {
    const int32_t *t;
    int64_t len, idx;
    int64_t from; /* the first position summed */
} seq_ref;

static int cmp_ids(const int32_t *x, int64_t nx, const int32_t *y, int64_t ny) {
    int64_t m = nx < ny ? nx : ny;
    for (int64_t i = 0; i < m; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return (nx > ny) - (nx < ny);
}

static int cmp_seq(const void *a, const void *b) {
    const seq_ref *x = a, *y = b;
    return cmp_ids(x->t, x->len, y->t, y->len);
}

static int cmp_cont(const seq_ref *x, const seq_ref *y) {
    return cmp_ids(x->t + x->from, x->len - x->from, y->t + y->from, y->len - y->from);
}

/* llama-server: by continuation first (one forced token per request), then by
 * the tokens. */
static int cmp_cont_seq(const void *a, const void *b) {
    int c = cmp_cont(a, b);
    return c ? c : cmp_seq(a, b);
}

typedef struct score_run {
    spex_remote *r;
    spex_remote_api api;
    const seq_ref *order; /* sorted */
    const int64_t *start; /* request k scores order[start[k] .. start[k + 1]) */
    int64_t n;
    const int32_t *const *seqs;
    const int64_t *lens, *from;
    double *out;
    spex_answer_fn answer;
    void *sink;
} score_run;

static int score_done(void *user, spexi_job *j) {
    score_run *s = user;
    int64_t a = s->start[j->tag], k = s->start[j->tag + 1] - a;
    const int32_t *seqs[64];
    int64_t lens[64], from[64];
    double v[64];
    for (int64_t i = 0; i < k; i++) {
        int64_t x = s->order[a + i].idx;
        seqs[i] = s->seqs[x];
        lens[i] = s->lens[x];
        from[i] = s->from[x];
    }
    int rc = spexi_parse_score_reply(s->r->ctx, s->api, j->resp ? j->resp : "", j->len, k, seqs,
                                     lens, from, v);
    if (rc) return rc;
    for (int64_t i = 0; i < k; i++) {
        int64_t x = s->order[a + i].idx;
        s->out[x] = v[i];
        if (s->answer) s->answer(s->sink, x, v[i]);
    }
    return SPEX_OK;
}

/* llama-server's body for sequences order[a..b) of one token to score
 * (from = len - 1) that is the same for all: the contexts t[0..from) as
 * prompts, that token forced, one token generated.
 *
 * WHY LOGIT_BIAS. llama-server scores no prompt tokens, but with n_probs > 0
 * and post_sampling_probs false it reports, for each generated token, the
 * log-softmax of the raw logits at that step, computed before logit_bias,
 * grammar or any sampler: the teacher-forced log-prob, when the generated
 * token is the one to score. A bias of 1e30 on that token makes it the
 * greedy choice (temperature 0) whatever the logits, and the id that comes
 * back is checked (remote_reply.c). The bias holds at every step, so one
 * request forces one token: a continuation of k tokens costs k prompts,
 * each its context extended by the tokens before (cache_prompt keeps the
 * shared prefix). A grammar of token ids ("root ::= <[id]> <[id]>") would
 * force all k in one request, but the tested build (81ff7abe) answers HTTP
 * 500 for some tokens (the byte token <0x00>) and older builds have no
 * token grammars; a large n_probs misses tokens ranked below it and costs
 * a vocabulary-sized reply.
 *
 * PRECISION. llama-server sums the softmax in float32, so tail mass below
 * half an ulp of the running sum is lost: every log-prob of one position
 * is off by the same log(true sum / float sum), at most about n_vocab *
 * 2^-24 (3.3e-4 measured on a peaked position of a 32000-token model).
 * It cancels in target - contrast at one position; renormalizing over all
 * n_vocab top_logprobs in double would remove it, at a vocabulary-sized
 * reply per prompt, and is not done. */
static json_t *llama_body(const seq_ref *order, int64_t a, int64_t b) {
    json_t *o = json_object(), *p = json_array(), *bias = json_array(), *pair = json_array();
    for (int64_t i = a; i < b; i++)
        json_array_append_new(p, spexi_ids_array(order[i].t, order[i].from));
    json_array_append_new(pair, json_integer(order[a].t[order[a].from]));
    json_array_append_new(pair, json_real(1e30));
    json_array_append_new(bias, pair);
    json_object_set_new(o, "prompt", p);
    json_object_set_new(o, "n_predict", json_integer(1));
    json_object_set_new(o, "n_probs", json_integer(1));
    json_object_set_new(o, "post_sampling_probs", json_false());
    json_object_set_new(o, "temperature", json_real(0));
    json_object_set_new(o, "logit_bias", bias);
    json_object_set_new(o, "cache_prompt", json_true());
    return o;
}

/* The body scoring sequences order[a..b) in the dialect. */
static char *score_body(const spex_remote *r, spex_remote_api api, const seq_ref *order, int64_t a,
                        int64_t b) {
    if (api == SPEX_REMOTE_LLAMA_SERVER) return spexi_json_dump(llama_body(order, a, b));
    json_t *o = json_object(), *p = json_array();
    for (int64_t i = a; i < b; i++)
        json_array_append_new(p, spexi_ids_array(order[i].t, order[i].len));
    json_object_set_new(o, "model", json_string(r->model));
    json_object_set_new(o, "prompt", p);
    json_object_set_new(o, "temperature", json_real(0));
    if (r->spex_ext) { /* the positions summed only, and no token generated */
        json_t *f = json_array();
        for (int64_t i = a; i < b; i++)
            json_array_append_new(f, json_integer((json_int_t)order[i].from));
        json_object_set_new(o, "spex_logprobs_from", f);
    }
    if (api == SPEX_REMOTE_VLLM) {
        json_object_set_new(o, "max_tokens", json_integer(r->spex_ext ? 0 : 1));
        json_object_set_new(o, "prompt_logprobs", json_integer(0));
    } else {
        json_object_set_new(o, "max_tokens", json_integer(0));
        json_object_set_new(o, "echo", json_true());
        json_object_set_new(o, "logprobs", json_integer(0));
    }
    return spexi_json_dump(o);
}

/* Scores the sequences in the dialect; under llama-server each has one
 * token to score (llama_score makes them so). */
static int score_core(spex_remote *r, spex_remote_api api, int64_t n, const int32_t *const *seqs,
                      const int64_t *lens, const int64_t *from, double *out, spex_answer_fn answer,
                      void *sink) {
    for (int64_t i = 0; i < n; i++)
        out[i] = NAN;
    if (n == 0) return SPEX_OK;
    seq_ref *order = malloc((size_t)n * sizeof *order);
    if (!order) return spex_seterr(r->ctx, SPEX_E_NOMEM, "out of memory");
    int llama = api == SPEX_REMOTE_LLAMA_SERVER;
    int64_t *start = malloc((size_t)(n + 1) * sizeof *start);
    if (!start) {
        free(order);
        return spex_seterr(r->ctx, SPEX_E_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < n; i++) {
        order[i].t = seqs[i];
        order[i].len = lens[i];
        order[i].idx = i;
        order[i].from = from[i];
    }
    qsort(order, (size_t)n, sizeof *order, llama ? cmp_cont_seq : cmp_seq);
    /* requests of up to prompts_per_request sequences; under llama-server
     * of one continuation each */
    int64_t per = r->o.prompts_per_request, nj = 0;
    for (int64_t i = 0; i < n; i++)
        if (!nj || i - start[nj - 1] == per || (llama && cmp_cont(&order[i - 1], &order[i])))
            start[nj++] = i;
    start[nj] = n;
    spexi_job *jobs = spexi_new_jobs(r, nj);
    int rc = jobs ? SPEX_OK : SPEX_E_NOMEM;
    for (int64_t k = 0; k < nj && !rc; k++) {
        jobs[k].path = llama ? "/completion" : "/v1/completions";
        jobs[k].tag = k;
        jobs[k].body = score_body(r, api, order, start[k], start[k + 1]);
        if (!jobs[k].body) rc = spex_seterr(r->ctx, SPEX_E_NOMEM, "out of memory");
    }
    score_run s = {r, api, order, start, n, seqs, lens, from, out, answer, sink};
    if (!rc) rc = spexi_run_jobs(r, jobs, nj, score_done, &s);
    spexi_free_jobs(jobs, nj);
    free(start);
    free(order);
    return rc;
}

/* llama-server: sequence x's tokens from[x] .. lens[x] - 1 become items
 * off[x] .. off[x + 1] - 1, item p scoring token p of x after tokens 0..p;
 * x's value is the sum of its items' log-probs, added in token order once
 * all are in (the same sum whatever order the replies come in). */
typedef struct llama_items {
    const int64_t *off, *seq_of; /* (n + 1) offsets; (n_items) its sequence */
    int64_t *pending;            /* (n) items not yet answered */
    double *lp, *out;            /* (n_items), (n) */
    spex_answer_fn answer;
    void *sink;
} llama_items;

static void llama_item_done(void *user, int64_t item, double v) {
    llama_items *L = user;
    int64_t x = L->seq_of[item];
    L->lp[item] = v;
    if (--L->pending[x]) return;
    double sum = 0;
    for (int64_t k = L->off[x]; k < L->off[x + 1]; k++)
        sum += L->lp[k];
    L->out[x] = sum;
    if (L->answer) L->answer(L->sink, x, sum);
}

static int llama_score(spex_remote *r, int64_t n, const int32_t *const *seqs, const int64_t *lens,
                       const int64_t *from, double *out, spex_answer_fn answer, void *sink) {
    if (n == 0) return SPEX_OK;
    for (int64_t x = 0; x < n; x++) {
        out[x] = NAN;
        if (from[x] < 1 || from[x] >= lens[x])
            return spex_seterr(r->ctx, SPEX_E_INVAL,
                               "sequence %lld: llama-server scores tokens after a context, "
                               "both not empty (tokens %lld.. of %lld)",
                               (long long)x, (long long)from[x], (long long)lens[x]);
    }
    int64_t m = 0;
    for (int64_t x = 0; x < n; x++)
        m += lens[x] - from[x];
    int64_t *off = malloc((size_t)(n + 1) * sizeof *off), *seq_of = malloc((size_t)m * sizeof *off),
            *pending = malloc((size_t)n * sizeof *off), *ilen = malloc((size_t)m * sizeof *off),
            *ifrom = malloc((size_t)m * sizeof *off);
    const int32_t **iseq = malloc((size_t)m * sizeof *iseq);
    double *lp = malloc((size_t)m * sizeof *lp);
    int rc = SPEX_OK;
    if (!off || !seq_of || !pending || !ilen || !ifrom || !iseq || !lp)
        rc = spex_seterr(r->ctx, SPEX_E_NOMEM, "out of memory");
    for (int64_t x = 0, k = 0; !rc && x < n; x++) {
        off[x] = k;
        pending[x] = lens[x] - from[x];
        for (int64_t p = from[x]; p < lens[x]; p++, k++) {
            iseq[k] = seqs[x];
            ilen[k] = p + 1;
            ifrom[k] = p;
            seq_of[k] = x;
        }
        off[x + 1] = k;
    }
    llama_items L = {off, seq_of, pending, lp, out, answer, sink};
    if (!rc)
        rc = score_core(r, SPEX_REMOTE_LLAMA_SERVER, m, iseq, ilen, ifrom, lp, llama_item_done, &L);
    free(off);
    free(seq_of);
    free(pending);
    free(ilen);
    free(ifrom);
    free(iseq);
    free(lp);
    return rc;
}

int spexi_score_with(spex_remote *r, spex_remote_api api, int64_t n, const int32_t *const *seqs,
                     const int64_t *lens, const int64_t *from, double *out, spex_answer_fn answer,
                     void *sink) {
    return api == SPEX_REMOTE_LLAMA_SERVER
               ? llama_score(r, n, seqs, lens, from, out, answer, sink)
               : score_core(r, api, n, seqs, lens, from, out, answer, sink);
}
