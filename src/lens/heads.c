/*
 * The mechanistic lens's value function (spex/heads.h): attention heads and
 * MLP blocks of a GGUF model as features, a mask's zero bits ablated through
 * the engine (spex_llm_set_ablation) while it scores one fixed prompt and
 * target.
 *
 * HOW IT WORKS
 * The token sequences (prompt + target, prompt + contrast) are built once by
 * the feature lens (spex_prompt_sequences with every unit kept). A batch of
 * masks becomes one engine call (spex_llm_score_ablated_batch): each mask's
 * ablation flags, its sequences consecutive so that the contrast reuses the
 * prompt's keys and values (same ablation, same prefix), and the output
 * matrix applied to the scored positions of many masks at once. Mean ablation replaces an output by
 * its average over every position of the reference prompts, computed once, unablated, at creation.
 * The engine is reached through a spex_heads_scorer: the model in process
 * (the llm_* functions below) or another one (spex_remote_heads_scorer,
 * where spex serve does the same per request).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "spex/heads.h"

struct spex_heads {
    spex_ctx *ctx;
    spex_heads_scorer sc;
    int mean;
    spex_llm *m;          /* in process, or NULL */
    int64_t n_prompts;    /* the task's prompts; the value is their mean */
    int32_t **seqs;       /* (n_prompts, 2): target [, contrast] sequences */
    int64_t *lens, *from; /* (n_prompts, 2) */
    int *n_seqs;          /* per prompt: 1, or 2 with a contrast */
    int64_t n, L, H;
    int64_t *layer, *head;       /* per feature; head -1 for an MLP block */
    char *names;                 /* n names of NAME_LEN bytes */
    float *head_mean, *mlp_mean; /* in process: (L * dim) each; NULL: zero ablation */
};

#define NAME_LEN 48
#define HEADS_SEQS_PER_CALL 1024 /* "L%lld.H%lld" of two 20-digit numbers fits */

spex_heads_opts spex_heads_opts_default(void) {
    spex_heads_opts o;
    memset(&o, 0, sizeof o);
    o.layer_to = -1;
    o.heads = 1;
    return o;
}

void spex_heads_free(spex_heads *h) {
    if (!h) return;
    spex_ctx *ctx = h->ctx;
    for (int64_t i = 0; h->seqs && i < 2 * h->n_prompts; i++)
        spex_free(ctx, h->seqs[i]);
    spex_free(ctx, h->seqs);
    spex_free(ctx, h->lens);
    spex_free(ctx, h->from);
    spex_free(ctx, h->n_seqs);
    spex_free(ctx, h->layer);
    spex_free(ctx, h->head);
    spex_free(ctx, h->names);
    spex_free(ctx, h->head_mean);
    spex_free(ctx, h->mlp_mean);
    spex_free(ctx, h);
}

/* The model in process as a scorer (user: the spex_heads). */
static int llm_tokenize(void *user, int64_t n, const char *const *texts, const size_t *lens,
                        int add_bos, int32_t **toks, int64_t *n_toks) {
    spex_heads *h = user;
    int rc = SPEX_OK;
    for (int64_t i = 0; !rc && i < n; i++)
        rc = spex_llm_tokenize(h->m, texts[i], lens[i], add_bos, &toks[i], &n_toks[i]);
    return rc;
}

static int llm_set_reference(void *user, int64_t n, const int32_t *const *seqs,
                             const int64_t *lens) {
    spex_heads *h = user;
    spex_llm_info info;
    spex_llm_get_info(h->m, &info);
    size_t nf = (size_t)(h->L * info.dim);
    if (!h->head_mean) h->head_mean = spex_malloc(h->ctx, nf * sizeof(float));
    if (!h->mlp_mean) h->mlp_mean = spex_malloc(h->ctx, nf * sizeof(float));
    if (!h->head_mean || !h->mlp_mean) return SPEX_E_NOMEM;
    return spex_llm_component_means(h->m, n, seqs, lens, h->head_mean, h->mlp_mean);
}

/* One ablation struct per run of equal flags pointers. */
static int llm_score(void *user, int64_t n, const int32_t *const *seqs, const int64_t *lens,
                     const int64_t *from, const uint8_t *const *flags, int mean, double *out) {
    spex_heads *h = user;
    spex_llm_ablation *abl = spex_calloc(h->ctx, (size_t)(n > 0 ? n : 1), sizeof *abl);
    const spex_llm_ablation **which = spex_calloc(h->ctx, (size_t)(n > 0 ? n : 1), sizeof *which);
    int rc = abl && which ? SPEX_OK : SPEX_E_NOMEM;
    for (int64_t e = 0, k = -1; !rc && e < n; e++) {
        if (e == 0 || flags[e] != flags[e - 1])
            abl[++k] = (spex_llm_ablation){flags[e], flags[e] + h->L * h->H,
                                           mean ? h->head_mean : NULL, mean ? h->mlp_mean : NULL};
        which[e] = &abl[k];
    }
    if (!rc) rc = spex_llm_score_ablated_batch(h->m, n, seqs, lens, from, which, out);
    spex_free(h->ctx, abl);
    spex_free(h->ctx, which);
    return rc;
}

/* Mean outputs over the reference prompts (or the task's own prompts). */
static int compute_means(spex_heads *h, const spex_heads_opts *o) {
    if (!o->ref_prompts) { /* each prompt's positions before its target */
        int64_t k = h->n_prompts;
        const int32_t **seq = spex_malloc(h->ctx, (size_t)k * sizeof *seq);
        int64_t *len = spex_malloc(h->ctx, (size_t)k * sizeof *len);
        int rc = seq && len ? SPEX_OK : SPEX_E_NOMEM;
        for (int64_t i = 0; !rc && i < k; i++) {
            seq[i] = h->seqs[2 * i];
            len[i] = h->from[2 * i];
        }
        if (!rc) rc = h->sc.set_reference(h->sc.user, k, seq, len);
        spex_free(h->ctx, seq);
        spex_free(h->ctx, len);
        return rc;
    }
    int64_t nr = o->n_ref;
    int32_t **toks = spex_calloc(h->ctx, (size_t)(nr > 0 ? nr : 1), sizeof *toks);
    int64_t *lens = spex_calloc(h->ctx, (size_t)(nr > 0 ? nr : 1), sizeof *lens);
    size_t *tlen = spex_calloc(h->ctx, (size_t)(nr > 0 ? nr : 1), sizeof *tlen);
    int rc = toks && lens && tlen ? SPEX_OK : SPEX_E_NOMEM;
    if (!rc && nr < 1) rc = spex_seterr(h->ctx, SPEX_E_INVAL, "no reference prompts");
    for (int64_t i = 0; !rc && i < nr; i++) {
        const char *t = o->ref_prompts[i];
        if (!t || !*t)
            rc = spex_seterr(h->ctx, SPEX_E_INVAL, "reference prompt %lld is empty",
                             (long long)i + 1);
        else
            tlen[i] = strlen(t);
    }
    if (!rc) rc = h->sc.tokenize(h->sc.user, nr, o->ref_prompts, tlen, 1, toks, lens);
    if (!rc) rc = h->sc.set_reference(h->sc.user, nr, (const int32_t *const *)toks, lens);
    for (int64_t i = 0; toks && i < nr; i++)
        spex_free(h->ctx, toks[i]);
    spex_free(h->ctx, toks);
    spex_free(h->ctx, lens);
    spex_free(h->ctx, tlen);
    return rc;
}

static int heads_new(spex_ctx *ctx, const spex_heads_scorer *sc, spex_llm *m,
                     spex_prompt *const *prompts, int64_t k, const spex_heads_opts *opts,
                     spex_heads **out);

int spex_heads_new(spex_ctx *ctx, spex_llm *m, spex_prompt *prompt, const spex_heads_opts *opts,
                   spex_heads **out) {
    return spex_heads_new_task(ctx, m, &prompt, 1, opts, out);
}

int spex_heads_new_task(spex_ctx *ctx, spex_llm *m, spex_prompt *const *prompts, int64_t k,
                        const spex_heads_opts *opts, spex_heads **out) {
    spex_llm_info info;
    spex_llm_get_info(m, &info);
    spex_heads_scorer sc = {NULL,         info.n_layers,     info.n_heads,
                            llm_tokenize, llm_set_reference, llm_score};
    return heads_new(ctx, &sc, m, prompts, k, opts, out);
}

int spex_heads_new_scored(spex_ctx *ctx, const spex_heads_scorer *sc, spex_prompt *const *prompts,
                          int64_t k, const spex_heads_opts *opts, spex_heads **out) {
    return heads_new(ctx, sc, NULL, prompts, k, opts, out);
}

/* m: in process (the scorer's user is then h itself), else NULL */
static int heads_new(spex_ctx *ctx, const spex_heads_scorer *sc, spex_llm *m,
                     spex_prompt *const *prompts, int64_t k, const spex_heads_opts *opts,
                     spex_heads **out) {
    *out = NULL;
    if (k < 1) return spex_seterr(ctx, SPEX_E_INVAL, "a task needs at least one prompt");
    spex_heads_opts def = spex_heads_opts_default();
    const spex_heads_opts *o = opts ? opts : &def;
    int64_t L = sc->n_layers, H = sc->n_heads;
    int64_t lo = o->layer_from, hi = o->layer_to < 0 ? L - 1 : o->layer_to;
    if (lo < 0 || lo >= L || hi >= L || hi < lo)
        return spex_seterr(ctx, SPEX_E_INVAL,
                           "layers %lld-%lld are not a range of the model's layers 0-%lld",
                           (long long)lo, (long long)hi, (long long)(L - 1));
    if (!o->heads && !o->mlps)
        return spex_seterr(ctx, SPEX_E_INVAL, "no component selected (heads or MLP blocks)");
    spex_heads *h = spex_calloc(ctx, 1, sizeof *h);
    if (!h) return SPEX_E_NOMEM;
    h->ctx = ctx;
    h->m = m;
    h->sc = *sc;
    if (m) h->sc.user = h;
    h->mean = o->mean;
    h->n_prompts = k;
    h->L = L;
    h->H = H;
    int64_t per_layer = (o->heads ? H : 0) + (o->mlps ? 1 : 0), cap = (hi - lo + 1) * per_layer;
    h->layer = spex_malloc(ctx, (size_t)cap * sizeof *h->layer);
    h->head = spex_malloc(ctx, (size_t)cap * sizeof *h->head);
    h->names = spex_malloc(ctx, (size_t)cap * NAME_LEN);
    h->seqs = spex_calloc(ctx, (size_t)(2 * k), sizeof *h->seqs);
    h->lens = spex_calloc(ctx, (size_t)(2 * k), sizeof *h->lens);
    h->from = spex_calloc(ctx, (size_t)(2 * k), sizeof *h->from);
    h->n_seqs = spex_calloc(ctx, (size_t)k, sizeof *h->n_seqs);
    int rc = h->layer && h->head && h->names && h->seqs && h->lens && h->from && h->n_seqs
                 ? SPEX_OK
                 : SPEX_E_NOMEM;
    for (int64_t l = lo; !rc && l <= hi; l++)
        for (int64_t j = o->heads ? 0 : H; j <= H; j++) {
            if (j == H && !o->mlps) break;
            h->layer[h->n] = l;
            h->head[h->n] = j < H ? j : -1;
            if (j < H)
                snprintf(h->names + h->n * NAME_LEN, NAME_LEN, "L%lld.H%lld", (long long)l,
                         (long long)j);
            else
                snprintf(h->names + h->n * NAME_LEN, NAME_LEN, "L%lld.MLP", (long long)l);
            h->n++;
        }
    for (int64_t i = 0; !rc && i < k; i++) {
        rc = spex_prompt_sequences(prompts[i], NULL, h->seqs + 2 * i, h->lens + 2 * i,
                                   h->from + 2 * i, &h->n_seqs[i]);
        if (rc && rc != SPEX_E_NOMEM && k > 1) {
            char why[512];
            snprintf(why, sizeof why, "%s", spex_errmsg(ctx));
            spex_seterr(ctx, rc, "prompt %lld of the task: %s", (long long)i + 1, why);
        }
    }
    if (!rc && o->mean) rc = compute_means(h, o);
    if (rc) {
        if (rc == SPEX_E_NOMEM) spex_seterr(ctx, rc, "out of memory");
        spex_heads_free(h);
        return rc;
    }
    *out = h;
    return SPEX_OK;
}

int64_t spex_heads_n_features(const spex_heads *h) {
    return h->n;
}
const char *spex_heads_feature_name(const spex_heads *h, int64_t i) {
    return h->names + i * NAME_LEN;
}
void spex_heads_feature(const spex_heads *h, int64_t i, int64_t *layer, int64_t *head) {
    *layer = h->layer[i];
    *head = h->head[i];
}

/* Masks [b0, b1) of batch into out: one engine call, one ablation per mask,
 * the sequences of every prompt of the task consecutive behind it (they
 * share it; a contrast reuses its prompt's keys and values). */
static int eval_chunk(spex_heads *h, const spex_masks *batch, int64_t b0, int64_t b1, double *out) {
    int64_t nb = b1 - b0, per = h->L * h->H + h->L, ns = 0;
    for (int64_t p = 0; p < h->n_prompts; p++)
        ns += h->n_seqs[p];
    uint8_t *flags = spex_calloc(h->ctx, (size_t)(nb * per), 1);
    const uint8_t **which = spex_calloc(h->ctx, (size_t)(nb * ns), sizeof *which);
    const int32_t **seqs = spex_calloc(h->ctx, (size_t)(nb * ns), sizeof *seqs);
    int64_t *lens = spex_calloc(h->ctx, (size_t)(nb * ns), sizeof *lens);
    int64_t *from = spex_calloc(h->ctx, (size_t)(nb * ns), sizeof *from);
    double *lp = spex_calloc(h->ctx, (size_t)(nb * ns), sizeof *lp);
    int rc = flags && which && seqs && lens && from && lp ? SPEX_OK : SPEX_E_NOMEM;
    for (int64_t b = 0, e = 0; !rc && b < nb; b++) {
        const uint64_t *row = spex_masks_crow(batch, b0 + b);
        uint8_t *fh = flags + b * per, *fm = fh + h->L * h->H;
        for (int64_t i = 0; i < h->n; i++)
            if (!spex_bits_get(row, i)) {
                if (h->head[i] >= 0)
                    fh[h->layer[i] * h->H + h->head[i]] = 1;
                else
                    fm[h->layer[i]] = 1;
            }
        for (int64_t p = 0; p < h->n_prompts; p++)
            for (int c = 0; c < h->n_seqs[p]; c++, e++) {
                which[e] = fh;
                seqs[e] = h->seqs[2 * p + c];
                lens[e] = h->lens[2 * p + c];
                from[e] = h->from[2 * p + c];
            }
    }
    if (!rc) rc = h->sc.score(h->sc.user, nb * ns, seqs, lens, from, which, h->mean, lp);
    for (int64_t b = 0, e = 0; !rc && b < nb; b++) {
        double sum = 0;
        for (int64_t p = 0; p < h->n_prompts; p++) {
            sum += h->n_seqs[p] == 2 ? lp[e] - lp[e + 1] : lp[e];
            e += h->n_seqs[p];
        }
        out[b0 + b] = sum / (double)h->n_prompts;
    }
    spex_free(h->ctx, flags);
    spex_free(h->ctx, which);
    spex_free(h->ctx, seqs);
    spex_free(h->ctx, lens);
    spex_free(h->ctx, from);
    spex_free(h->ctx, lp);
    return rc;
}

/* Streamed, answers go to the query engine (and its cache) a chunk at a
 * time: a chunk of at most HEADS_STREAM_MASKS masks, about a second's work
 * on a large model, so that a kill loses little. */
#define HEADS_STREAM_MASKS 32

static int heads_eval_stream(spex_heads *h, const spex_masks *batch, double *out,
                             spex_answer_fn answer, void *sink) {
    int64_t nb = spex_masks_count(batch);
    for (int64_t i = 0; i < nb; i++)
        out[i] = NAN;
    /* a task of many prompts: chunks of masks, so one engine call holds at
     * most about HEADS_SEQS_PER_CALL sequences (bounded scratch) */
    int64_t per_mask = 2 * h->n_prompts, step = HEADS_SEQS_PER_CALL / per_mask;
    if (step < 1) step = 1;
    if (answer && step > HEADS_STREAM_MASKS) step = HEADS_STREAM_MASKS;
    int rc = SPEX_OK;
    for (int64_t b0 = 0; !rc && b0 < nb; b0 += step) {
        int64_t b1 = b0 + step < nb ? b0 + step : nb;
        rc = eval_chunk(h, batch, b0, b1, out);
        for (int64_t i = b0; !rc && answer && i < b1; i++)
            answer(sink, i, out[i]);
    }
    if (rc == SPEX_E_NOMEM) return spex_seterr(h->ctx, rc, "out of memory");
    return rc;
}

int spex_heads_eval(spex_heads *h, const spex_masks *batch, double *out) {
    return heads_eval_stream(h, batch, out, NULL, NULL);
}

static int heads_eval_cb(void *user, const spex_masks *batch, double *out) {
    return spex_heads_eval(user, batch, out);
}

static int heads_eval_stream_cb(void *user, const spex_masks *batch, double *out,
                                spex_answer_fn answer, void *sink) {
    return heads_eval_stream(user, batch, out, answer, sink);
}

int spex_heads_valuefn(spex_heads *h, spex_valuefn *out) {
    memset(out, 0, sizeof *out);
    out->eval = heads_eval_cb;
    out->eval_stream = heads_eval_stream_cb;
    out->user = h;
    out->n = h->n;
    out->name = "llm heads";
    return SPEX_OK;
}
