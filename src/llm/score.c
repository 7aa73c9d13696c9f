/*
 * Scoring on top of the forward pass (forward.c): next-token
 * log-probabilities, teacher-forced continuation scores for one prompt or a
 * batch (visited in token order so neighbours share their KV cache, the
 * output matrix applied to many sequences' positions at once), scores under
 * component ablations, greedy generation, and the text-level wrappers over
 * the tokenizer. The public side of the LLM lens of spex.
 */
#include "llm/model_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* log-softmax of one row of logits into lp (double). */
static void log_softmax(const float *logits, int64_t n, double *lp) {
    double mx = -INFINITY, sum = 0;
    for (int64_t i = 0; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    for (int64_t i = 0; i < n; i++)
        sum += exp((double)logits[i] - mx);
    double lse = mx + log(sum);
    for (int64_t i = 0; i < n; i++)
        lp[i] = (double)logits[i] - lse;
}

static double logprob_of(const float *logits, int64_t n, int32_t tok) {
    double mx = -INFINITY, sum = 0;
    for (int64_t i = 0; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    for (int64_t i = 0; i < n; i++)
        sum += exp((double)logits[i] - mx);
    return (double)logits[tok] - mx - log(sum);
}

typedef struct emit_state {
    const spex_llm *m;
    const int32_t *seq;
    int64_t from;
    double *lp; /* next_logprobs: n_vocab; token_logprobs: per position */
    double sum;
} emit_state;

static void emit_full(void *user, int64_t p, const float *logits) {
    emit_state *s = user;
    (void)p;
    log_softmax(logits, s->m->info.n_vocab, s->lp);
}

static void emit_token(void *user, int64_t p, const float *logits) {
    emit_state *s = user;
    double lp = logprob_of(logits, s->m->info.n_vocab, s->seq[p + 1]);
    if (s->lp) s->lp[p + 1 - s->from] = lp;
    s->sum += lp;
}

int spex_llm_next_logprobs(spex_llm *m, const int32_t *tokens, int64_t n, double *logprobs) {
    emit_state s = {m, tokens, 0, logprobs, 0};
    return spexi_run_seq(m, tokens, n, n - 1, 1, 0, emit_full, &s);
}

int spex_llm_token_logprobs(spex_llm *m, const int32_t *tokens, int64_t n, int64_t from,
                            double *token_logprobs) {
    if (from < 1 || from >= n)
        return spex_seterr(m->ctx, SPEX_E_INVAL, "token_logprobs: from = %lld with %lld tokens",
                           (long long)from, (long long)n);
    emit_state s = {m, tokens, from, token_logprobs, 0};
    return spexi_run_seq(m, tokens, n - 1, from - 1, 1, 0, emit_token, &s);
}

/* sort key of a batch entry: its tokens, then its index */
typedef struct seq_key {
    const int32_t *seq;
    int64_t len, idx;
} seq_key;

static int cmp_seq_key(const void *a, const void *b) {
    const seq_key *x = a, *y = b;
    for (int64_t k = 0; k < x->len && k < y->len; k++)
        if (x->seq[k] != y->seq[k]) return x->seq[k] < y->seq[k] ? -1 : 1;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Positions whose logits are still to be computed, up to SPEXI_CHUNK of them
 * across sequences: each weight row of the output matrix (often the largest
 * matrix of a small model) is then read once for many scored tokens. */
typedef struct pending {
    spex_llm *m;
    float *rows;              /* (SPEXI_CHUNK, dim) final hidden states */
    int32_t tok[SPEXI_CHUNK]; /* the token each row scores */
    double *dst[SPEXI_CHUNK]; /* ... and where its log-prob is added */
    int n;
    const int32_t *seq; /* the sequence being run, and its index */
    int64_t idx;
    double *out;        /* sums: out[idx] */
    double *const *lps; /* or per token: lps[idx][p + 1 - from[idx]] */
    const int64_t *from;
} pending;

/* Logits of the pending rows, their log-probabilities added to out[] in
 * the order the rows came (the sum of each sequence runs in position order,
 * whatever the batching: the kernels give a row the same bits wherever it
 * sits in the block). */
static void flush_pending(pending *pd) {
    if (!pd->n) return;
    spex_llm *m = pd->m;
    const spex_llm_info *I = &m->info;
    float *logits = m->s.logits;
    spexi_matmul(m, &m->output, pd->rows, pd->n, logits, m->s.rows);
    for (int r = 0; r < pd->n; r++)
        *pd->dst[r] += logprob_of(logits + r * I->n_vocab, I->n_vocab, pd->tok[r]);
    pd->n = 0;
}

static void emit_pending(void *user, int64_t p, const float *h) {
    pending *pd = user;
    int64_t D = pd->m->info.dim;
    memcpy(pd->rows + pd->n * D, h, (size_t)D * sizeof(float));
    pd->tok[pd->n] = pd->seq[p + 1];
    pd->dst[pd->n] = pd->lps ? &pd->lps[pd->idx][p + 1 - pd->from[pd->idx]] : &pd->out[pd->idx];
    if (++pd->n == SPEXI_CHUNK) flush_pending(pd);
}

static void emit_none(void *user, int64_t p, const float *h) {
    (void)user, (void)p, (void)h;
}

/* A multi-sequence pass's sequence b is the batch's sequence bidx[b]. */
typedef struct pass_map {
    pending *pd;
    const int32_t *seq[SPEXI_CHUNK];
    int64_t idx[SPEXI_CHUNK];
} pass_map;

static void emit_mapped(void *user, int64_t b, int64_t p, const float *h) {
    pass_map *pm = user;
    pm->pd->seq = pm->seq[b];
    pm->pd->idx = pm->idx[b];
    emit_pending(pm->pd, p, h);
}

static int64_t common_prefix(const int32_t *a, int64_t na, const int32_t *b, int64_t nb) {
    int64_t k = 0;
    while (k < na && k < nb && a[k] == b[k])
        k++;
    return k;
}

/* What a forward pass costs beyond its rows, counted in rows: a pass
 * streams every weight once whatever its rows, and that costs about as much
 * as computing this many more rows (1.1B-parameter model on one core: a
 * 1-row pass takes as long as ~10-30 rows of a full one). A sequence joins
 * the pass of its neighbours when that costs fewer rows than a pass of its
 * own would, counting the rows the others lose when it shortens their
 * shared prefix. */
#define PASS_ROWS 16

/* The batch scorers: sequences in token order when reuse_prefix and no
 * ablations (neighbours share the longest prefixes: a depth-first walk of
 * their prefix tree), else in the given order, each under ablation abl[i]
 * (NULL: none) and reusing the cache of its predecessor when it has the
 * same ablation. Runs of neighbours go through one multi-sequence pass
 * (spexi_run_batch) after their common prefix; results are the same bits
 * as one sequence at a time. */
static int score_batch(spex_llm *m, int64_t n, const int32_t *const *seqs, const int64_t *lens,
                       const int64_t *from, int reuse_prefix, const spex_llm_ablation *const *abl,
                       double *out, double *const *lps) {
    for (int64_t i = 0; i < n; i++)
        if (from[i] < 1 || from[i] >= lens[i])
            return spex_seterr(m->ctx, SPEX_E_INVAL,
                               "score batch: sequence %lld: prompt of %lld tokens in %lld",
                               (long long)i, (long long)from[i], (long long)lens[i]);
    for (int64_t i = 0; abl && i < n; i++) {
        int rc = i && abl[i] == abl[i - 1] ? SPEX_OK : spexi_check_ablation(m, abl[i]);
        if (rc) {
            spex_errprefix(m->ctx, "sequence %lld", (long long)i);
            return rc;
        }
    }
    seq_key *keys = NULL;
    if (reuse_prefix && !abl && n > 2) {
        keys = spex_malloc(m->ctx, (size_t)n * sizeof *keys);
        if (!keys) return SPEX_E_NOMEM;
        for (int64_t i = 0; i < n; i++)
            keys[i] = (seq_key){seqs[i], lens[i], i};
        qsort(keys, (size_t)n, sizeof *keys, cmp_seq_key);
    }
    pending pd = {.m = m, .out = out, .lps = lps, .from = from};
    pd.rows = spex_malloc(m->ctx, (size_t)(SPEXI_CHUNK * m->info.dim) * sizeof(float));
    pass_map *pm = spex_malloc(m->ctx, sizeof *pm);
    int rc = pd.rows && pm ? SPEX_OK : SPEX_E_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        if (out) out[i] = 0;
        for (int64_t j = 0; lps && j < lens[i] - from[i]; j++)
            lps[i][j] = 0;
    }
    if (pm) pm->pd = &pd;
    int64_t n_run[SPEXI_CHUNK], want[SPEXI_CHUNK];
    const spex_llm_ablation *babl[SPEXI_CHUNK];
    const spex_llm_ablation *cur = NULL;
    int have_cur = 0; /* the ablation set in m is cur */
#define ORDER(j) (keys ? keys[(j)].idx : (j))
    for (int64_t j = 0; !rc && j < n;) {
        /* the run of neighbours j..j+g that share one pass after their
         * common prefix P (a prefix of equal tokens under one ablation,
         * short of every wanted position) */
        int64_t i = ORDER(j), g = 1, P = from[i] - 1, rows = lens[i] - 1 - P;
        while (m->multi_seq && j + g < n) {
            int64_t k = ORDER(j + g), prev = ORDER(j + g - 1);
            int same = !abl || abl[k] == abl[prev];
            int64_t lc = reuse_prefix && same
                             ? common_prefix(seqs[prev], lens[prev] - 1, seqs[k], lens[k] - 1)
                             : 0;
            int64_t P2 = P < lc ? P : lc;
            if (from[k] - 1 < P2) P2 = from[k] - 1;
            int64_t rows2 = rows + g * (P - P2) + (lens[k] - 1 - P2);
            int64_t alone = lens[k] - 1 - (lc < from[k] - 1 ? lc : from[k] - 1);
            if (rows2 > SPEXI_CHUNK || rows2 > rows + alone + PASS_ROWS) break;
            P = P2;
            rows = rows2;
            g++;
        }
        /* the ablation of the cache (one pass alone, or a shared prefix) */
        const spex_llm_ablation *want_abl = abl ? abl[i] : NULL;
        int reuse = reuse_prefix;
        if ((g == 1 || P > 0) && abl && (!have_cur || want_abl != cur)) {
            cur = want_abl;
            have_cur = 1;
            rc = spex_llm_set_ablation(m, cur);
            reuse = 0;
            if (rc) break;
        }
        if (g == 1) {
            pd.seq = seqs[i];
            pd.idx = i;
            rc = spexi_run_seq(m, seqs[i], lens[i] - 1, from[i] - 1, reuse, 1, emit_pending, &pd);
            if (rc) spex_errprefix(m->ctx, "sequence %lld", (long long)i);
            j++;
            continue;
        }
        /* the prefix into the cache (P = 0: the pass leaves the cache as it is) */
        if (P > 0) rc = spexi_run_seq(m, seqs[i], P, P, reuse, 1, emit_none, NULL);
        for (int64_t b = 0; b < g; b++) {
            int64_t ib = ORDER(j + b);
            pm->seq[b] = seqs[ib];
            pm->idx[b] = ib;
            n_run[b] = lens[ib] - 1;
            want[b] = from[ib] - 1;
            babl[b] = abl ? abl[ib] : m->abl_on ? &m->abl_view : NULL; /* the set one */
        }
        if (!rc) rc = spexi_run_batch(m, g, pm->seq, n_run, want, P, babl, emit_mapped, pm);
        if (rc)
            spex_errprefix(m->ctx, "sequences %lld.. (a pass of %lld)", (long long)i, (long long)g);
        j += g;
    }
#undef ORDER
    if (!rc) flush_pending(&pd);
    if (abl) {
        int rc2 = spex_llm_set_ablation(m, NULL);
        if (!rc) rc = rc2;
    }
    spex_free(m->ctx, pd.rows);
    spex_free(m->ctx, pm);
    spex_free(m->ctx, keys);
    return rc;
}

int spex_llm_score_tokens_batch(spex_llm *m, int64_t n, const int32_t *const *seqs,
                                const int64_t *lens, const int64_t *from, int reuse_prefix,
                                double *out) {
    return score_batch(m, n, seqs, lens, from, reuse_prefix, NULL, out, NULL);
}

int spex_llm_token_logprobs_batch(spex_llm *m, int64_t n, const int32_t *const *seqs,
                                  const int64_t *lens, const int64_t *from,
                                  double *const *token_logprobs) {
    return score_batch(m, n, seqs, lens, from, 1, NULL, NULL, token_logprobs);
}

int spex_llm_score_ablated_batch(spex_llm *m, int64_t n, const int32_t *const *seqs,
                                 const int64_t *lens, const int64_t *from,
                                 const spex_llm_ablation *const *abl, double *out) {
    return score_batch(m, n, seqs, lens, from, 1, abl, out, NULL);
}

int spex_llm_tokenize(spex_llm *m, const char *text, size_t len, int add_bos, int32_t **tokens,
                      int64_t *n_tokens) {
    return spexi_vocab_tokenize(m->ctx, &m->vocab, text, len, add_bos, tokens, n_tokens);
}

int spex_llm_token_piece(const spex_llm *m, int32_t token, const char **piece, size_t *len) {
    if (spexi_vocab_piece(&m->vocab, token, piece, len))
        return spex_seterr(m->ctx, SPEX_E_RANGE, "token %d is not in the vocabulary (%lld)", token,
                           (long long)m->vocab.n);
    return SPEX_OK;
}

int spex_llm_detokenize(spex_llm *m, const int32_t *tokens, int64_t n, int strip_space_prefix,
                        char **text) {
    size_t total = 0, len;
    const char *p;
    *text = NULL;
    for (int64_t i = 0; i < n; i++) {
        int rc = spex_llm_token_piece(m, tokens[i], &p, &len);
        if (rc) return rc;
        total += len;
    }
    char *s = spex_malloc(m->ctx, total + 1), *o = s;
    if (!s) return SPEX_E_NOMEM;
    int first = 1;
    for (int64_t i = 0; i < n; i++) {
        spex_llm_token_piece(m, tokens[i], &p, &len);
        if (first && len && strip_space_prefix && m->vocab.add_space_prefix && p[0] == ' ') {
            p++;
            len--;
        }
        if (len) first = 0;
        memcpy(o, p, len);
        o += len;
    }
    *o = 0;
    *text = s;
    return SPEX_OK;
}

void spex_llm_score_result_clear(spex_llm *m, spex_llm_score_result *r) {
    spex_free(m->ctx, r->prompt_tokens);
    spex_free(m->ctx, r->continuation_tokens);
    spex_free(m->ctx, r->token_logprobs);
    memset(r, 0, sizeof *r);
}

int spex_llm_score(spex_llm *m, const char *prompt, const char *continuation,
                   spex_llm_score_result *out) {
    memset(out, 0, sizeof *out);
    size_t lp = strlen(prompt), lc = strlen(continuation);
    char *joint = spex_malloc(m->ctx, lp + lc + 1);
    int32_t *all = NULL;
    int64_t n_all = 0;
    int rc;
    if (!joint) return SPEX_E_NOMEM;
    memcpy(joint, prompt, lp);
    memcpy(joint + lp, continuation, lc + 1);
    if ((rc = spex_llm_tokenize(m, prompt, lp, 1, &out->prompt_tokens, &out->n_prompt)) ||
        (rc = spex_llm_tokenize(m, joint, lp + lc, 1, &all, &n_all)))
        goto done;
    if (n_all <= out->n_prompt ||
        memcmp(all, out->prompt_tokens, (size_t)out->n_prompt * sizeof *all)) {
        rc = spex_seterr(m->ctx, SPEX_E_INVAL,
                         "the continuation adds no token, or the prompt's %lld tokens are not a "
                         "prefix of the joint tokenization (%lld tokens)",
                         (long long)out->n_prompt, (long long)n_all);
        goto done;
    }
    if (out->n_prompt < 1) {
        rc = spex_seterr(m->ctx, SPEX_E_INVAL, "empty prompt and no BOS token to condition on");
        goto done;
    }
    out->n_continuation = n_all - out->n_prompt;
    out->continuation_tokens = spex_malloc(m->ctx, (size_t)out->n_continuation * sizeof(int32_t));
    out->token_logprobs = spex_malloc(m->ctx, (size_t)out->n_continuation * sizeof(double));
    if (!out->continuation_tokens || !out->token_logprobs) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    memcpy(out->continuation_tokens, all + out->n_prompt,
           (size_t)out->n_continuation * sizeof(int32_t));
    if ((rc = spex_llm_token_logprobs(m, all, n_all, out->n_prompt, out->token_logprobs)))
        goto done;
    out->logprob = 0;
    for (int64_t i = 0; i < out->n_continuation; i++)
        out->logprob += out->token_logprobs[i];
done:
    spex_free(m->ctx, joint);
    spex_free(m->ctx, all);
    if (rc) spex_llm_score_result_clear(m, out);
    return rc;
}

int spex_llm_score_batch(spex_llm *m, int64_t n, const char *const *prompts,
                         const char *const *continuations, int reuse_prefix, double *out) {
    if (n <= 0) return SPEX_OK;
    int32_t **seqs = spex_calloc(m->ctx, (size_t)n, sizeof *seqs);
    int64_t *lens = spex_calloc(m->ctx, (size_t)n, sizeof *lens);
    int64_t *from = spex_calloc(m->ctx, (size_t)n, sizeof *from);
    int rc = seqs && lens && from ? SPEX_OK : SPEX_E_NOMEM;
    for (int64_t i = 0; i < n && !rc; i++) {
        size_t lp = strlen(prompts[i]), lc = strlen(continuations[i]);
        char *joint = spex_malloc(m->ctx, lp + lc + 1);
        int32_t *pt = NULL;
        rc = joint ? SPEX_OK : SPEX_E_NOMEM;
        if (!rc) {
            memcpy(joint, prompts[i], lp);
            memcpy(joint + lp, continuations[i], lc + 1);
            rc = spex_llm_tokenize(m, prompts[i], lp, 1, &pt, &from[i]);
        }
        if (!rc) rc = spex_llm_tokenize(m, joint, lp + lc, 1, &seqs[i], &lens[i]);
        if (!rc && (from[i] < 1 || lens[i] <= from[i] ||
                    memcmp(seqs[i], pt, (size_t)from[i] * sizeof *pt)))
            rc = spex_seterr(m->ctx, SPEX_E_INVAL,
                             "pair %lld: the continuation adds no token, or the prompt's %lld "
                             "tokens are not a prefix of the joint tokenization (%lld tokens)",
                             (long long)i, (long long)from[i], (long long)lens[i]);
        spex_free(m->ctx, joint);
        spex_free(m->ctx, pt);
    }
    if (!rc)
        rc = spex_llm_score_tokens_batch(m, n, (const int32_t *const *)seqs, lens, from,
                                         reuse_prefix, out);
    for (int64_t i = 0; seqs && i < n; i++)
        spex_free(m->ctx, seqs[i]);
    spex_free(m->ctx, seqs);
    spex_free(m->ctx, lens);
    spex_free(m->ctx, from);
    return rc;
}

typedef struct argmax_state {
    int64_t n_vocab;
    int32_t best;
} argmax_state;

static void emit_argmax(void *user, int64_t p, const float *logits) {
    argmax_state *s = user;
    (void)p;
    int32_t b = 0;
    for (int64_t i = 1; i < s->n_vocab; i++)
        if (logits[i] > logits[b]) b = (int32_t)i;
    s->best = b;
}

int spex_llm_generate(spex_llm *m, const int32_t *tokens, int64_t n, int64_t n_new, int32_t **out,
                      int64_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (n < 1 || n_new < 0 || n_new > m->info.n_ctx - n)
        return spex_seterr(m->ctx, SPEX_E_RANGE,
                           "generate: %lld prompt tokens + %lld new exceed the context (%lld)",
                           (long long)n, (long long)n_new, (long long)m->info.n_ctx);
    int32_t *seq = spex_malloc(m->ctx, (size_t)(n + n_new) * sizeof(int32_t));
    if (!seq) return SPEX_E_NOMEM;
    memcpy(seq, tokens, (size_t)n * sizeof(int32_t));
    int64_t len = n;
    int rc = SPEX_OK;
    while (len < n + n_new) {
        argmax_state s = {m->info.n_vocab, 0};
        if ((rc = spexi_run_seq(m, seq, len, len - 1, 1, 0, emit_argmax, &s))) break;
        seq[len++] = s.best;
        if (s.best == m->vocab.eos) break;
    }
    if (rc) {
        spex_free(m->ctx, seq);
        return rc;
    }
    memmove(seq, seq + n, (size_t)(len - n) * sizeof(int32_t));
    *out = seq;
    *n_out = len - n;
    return SPEX_OK;
}
