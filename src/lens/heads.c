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
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "spex/heads.h"

struct spex_heads {
    spex_ctx *ctx;
    spex_llm *m;
    int32_t *seqs[2];
    int64_t lens[2], from[2];
    int n_seqs;
    int64_t n, L, H;
    int64_t *layer, *head;       /* per feature; head -1 for an MLP block */
    char *names;                 /* n names of NAME_LEN bytes */
    float *head_mean, *mlp_mean; /* (L * dim) each; NULL: zero ablation */
};

#define NAME_LEN 48 /* "L%lld.H%lld" of two 20-digit numbers fits */

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
    spex_free(ctx, h->seqs[0]);
    spex_free(ctx, h->seqs[1]);
    spex_free(ctx, h->layer);
    spex_free(ctx, h->head);
    spex_free(ctx, h->names);
    spex_free(ctx, h->head_mean);
    spex_free(ctx, h->mlp_mean);
    spex_free(ctx, h);
}

/* Mean outputs over the reference prompts (or the prompt itself). */
static int compute_means(spex_heads *h, const spex_heads_opts *o) {
    spex_llm_info info;
    spex_llm_get_info(h->m, &info);
    size_t nf = (size_t)(h->L * info.dim);
    h->head_mean = spex_malloc(h->ctx, nf * sizeof(float));
    h->mlp_mean = spex_malloc(h->ctx, nf * sizeof(float));
    if (!h->head_mean || !h->mlp_mean) return SPEX_E_NOMEM;
    if (!o->ref_prompts) {
        const int32_t *seq = h->seqs[0];
        return spex_llm_component_means(h->m, 1, &seq, &h->from[0], h->head_mean, h->mlp_mean);
    }
    int64_t nr = o->n_ref;
    int32_t **toks = spex_calloc(h->ctx, (size_t)(nr > 0 ? nr : 1), sizeof *toks);
    int64_t *lens = spex_calloc(h->ctx, (size_t)(nr > 0 ? nr : 1), sizeof *lens);
    int rc = toks && lens ? SPEX_OK : SPEX_E_NOMEM;
    if (!rc && nr < 1) rc = spex_seterr(h->ctx, SPEX_E_INVAL, "no reference prompts");
    for (int64_t i = 0; !rc && i < nr; i++) {
        const char *t = o->ref_prompts[i];
        if (!t || !*t)
            rc = spex_seterr(h->ctx, SPEX_E_INVAL, "reference prompt %lld is empty",
                             (long long)i + 1);
        else
            rc = spex_llm_tokenize(h->m, t, strlen(t), 1, &toks[i], &lens[i]);
    }
    if (!rc)
        rc = spex_llm_component_means(h->m, nr, (const int32_t *const *)toks, lens, h->head_mean,
                                      h->mlp_mean);
    for (int64_t i = 0; toks && i < nr; i++)
        spex_free(h->ctx, toks[i]);
    spex_free(h->ctx, toks);
    spex_free(h->ctx, lens);
    return rc;
}

int spex_heads_new(spex_ctx *ctx, spex_llm *m, spex_prompt *prompt, const spex_heads_opts *opts,
                   spex_heads **out) {
    *out = NULL;
    spex_heads_opts def = spex_heads_opts_default();
    const spex_heads_opts *o = opts ? opts : &def;
    spex_llm_info info;
    spex_llm_get_info(m, &info);
    int64_t L = info.n_layers, H = info.n_heads;
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
    h->L = L;
    h->H = H;
    int64_t per_layer = (o->heads ? H : 0) + (o->mlps ? 1 : 0), cap = (hi - lo + 1) * per_layer;
    h->layer = spex_malloc(ctx, (size_t)cap * sizeof *h->layer);
    h->head = spex_malloc(ctx, (size_t)cap * sizeof *h->head);
    h->names = spex_malloc(ctx, (size_t)cap * NAME_LEN);
    int rc = h->layer && h->head && h->names ? SPEX_OK : SPEX_E_NOMEM;
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
    if (!rc) rc = spex_prompt_sequences(prompt, NULL, h->seqs, h->lens, h->from, &h->n_seqs);
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

int spex_heads_eval(spex_heads *h, const spex_masks *batch, double *out) {
    int64_t nb = spex_masks_count(batch), ns = h->n_seqs, per = h->L * h->H + h->L;
    for (int64_t i = 0; i < nb; i++)
        out[i] = NAN;
    if (nb == 0) return SPEX_OK;
    /* one ablation per mask, its sequences consecutive (they share it) */
    uint8_t *flags = spex_calloc(h->ctx, (size_t)(nb * per), 1);
    spex_llm_ablation *abl = spex_calloc(h->ctx, (size_t)nb, sizeof *abl);
    const spex_llm_ablation **which = spex_calloc(h->ctx, (size_t)(nb * ns), sizeof *which);
    const int32_t **seqs = spex_calloc(h->ctx, (size_t)(nb * ns), sizeof *seqs);
    int64_t *lens = spex_calloc(h->ctx, (size_t)(nb * ns), sizeof *lens);
    int64_t *from = spex_calloc(h->ctx, (size_t)(nb * ns), sizeof *from);
    double *lp = spex_calloc(h->ctx, (size_t)(nb * ns), sizeof *lp);
    int rc = flags && abl && which && seqs && lens && from && lp ? SPEX_OK : SPEX_E_NOMEM;
    for (int64_t b = 0; !rc && b < nb; b++) {
        const uint64_t *row = spex_masks_crow(batch, b);
        uint8_t *fh = flags + b * per, *fm = fh + h->L * h->H;
        for (int64_t i = 0; i < h->n; i++)
            if (!spex_bits_get(row, i)) {
                if (h->head[i] >= 0)
                    fh[h->layer[i] * h->H + h->head[i]] = 1;
                else
                    fm[h->layer[i]] = 1;
            }
        abl[b] = (spex_llm_ablation){fh, fm, h->head_mean, h->mlp_mean};
        for (int64_t c = 0; c < ns; c++) {
            which[b * ns + c] = &abl[b];
            seqs[b * ns + c] = h->seqs[c];
            lens[b * ns + c] = h->lens[c];
            from[b * ns + c] = h->from[c];
        }
    }
    if (!rc) rc = spex_llm_score_ablated_batch(h->m, nb * ns, seqs, lens, from, which, lp);
    for (int64_t b = 0; !rc && b < nb; b++)
        out[b] = ns == 2 ? lp[2 * b] - lp[2 * b + 1] : lp[b];
    spex_free(h->ctx, flags);
    spex_free(h->ctx, abl);
    spex_free(h->ctx, which);
    spex_free(h->ctx, seqs);
    spex_free(h->ctx, lens);
    spex_free(h->ctx, from);
    spex_free(h->ctx, lp);
    if (rc == SPEX_E_NOMEM) return spex_seterr(h->ctx, rc, "out of memory");
    return rc;
}

static int heads_eval_cb(void *user, const spex_masks *batch, double *out) {
    return spex_heads_eval(user, batch, out);
}

int spex_heads_valuefn(spex_heads *h, spex_valuefn *out) {
    memset(out, 0, sizeof *out);
    out->eval = heads_eval_cb;
    out->user = h;
    out->n = h->n;
    out->name = "llm heads";
    return SPEX_OK;
}
