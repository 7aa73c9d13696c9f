/*
 * spex/heads.h - the mechanistic lens (DESIGN.md §1): the features are a
 * model's components — attention heads, labelled L<layer>.H<head>, and
 * optionally MLP blocks, L<layer>.MLP — and a mask keeps some of them and
 * ablates the rest (spex_llm_set_ablation) while the model scores one fixed
 * prompt.
 *
 * The prompt, the target and the contrast come from a spex_prompt (its full,
 * unmasked text: prefix, every unit, suffix), so the value is the one of the
 * feature lens with every unit kept:
 *     log p(target | prompt)  or  log p(target | prompt) - log p(contrast | prompt)
 * with the components of the mask's zero bits ablated. Ablation replaces a
 * component's output by zero (default) or by its mean over reference
 * prompts (every position of each, run unablated); without reference prompts
 * the mean is over the positions of the explained prompt itself.
 *
 * Example:
 *     spex_heads_opts ho = spex_heads_opts_default();
 *     ho.layer_from = 2;
 *     ho.mean = 1;
 *     spex_heads *h;
 *     if (spex_heads_new(ctx, m, prompt, &ho, &h)) puts(spex_errmsg(ctx));
 *     spex_valuefn vf;
 *     spex_heads_valuefn(h, &vf);   // spex_heads_n_features(h) features
 */
#ifndef SPEX_HEADS_H
#define SPEX_HEADS_H

#include "spex/prompt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spex_heads_opts {
    int64_t layer_from;             /* first layer (default 0) */
    int64_t layer_to;               /* last layer, inclusive (default -1: the model's last) */
    int heads;                      /* attention heads are features (default 1) */
    int mlps;                       /* MLP blocks are features (default 0) */
    int mean;                       /* 0 (default): ablated outputs are zero; 1: their mean */
    const char *const *ref_prompts; /* mean ablation: reference prompts (texts,
                                       BOS added); NULL: the explained prompt */
    int64_t n_ref;
} spex_heads_opts;

SPEX_API spex_heads_opts spex_heads_opts_default(void);

typedef struct spex_heads spex_heads;

/* Builds the lens over model m (borrowed) and the full text and target of
 * prompt (borrowed; built with m). Both must outlive *out. Errors:
 * SPEX_E_INVAL (no component selected, a layer outside the model, an empty
 * reference prompt), SPEX_E_VALUE (the target's tokens do not extend the
 * prompt's), the engine's errors, SPEX_E_NOMEM. */
SPEX_API int spex_heads_new(spex_ctx *ctx, spex_llm *m, spex_prompt *prompt,
                            const spex_heads_opts *opts, spex_heads **out);
/* The lens over a task: k prompts (each with its own target and contrast,
 * all built with m; borrowed, they must outlive *out), the value of a mask
 * the mean over the prompts of each one's value under the same ablation —
 * which components matter for the task, as circuit-discovery work measures
 * it. Mean ablation without reference prompts averages over the positions
 * of every prompt. spex_heads_new is the task of one prompt. Errors as
 * spex_heads_new, naming the prompt at fault; SPEX_E_INVAL when k < 1. */
SPEX_API int spex_heads_new_task(spex_ctx *ctx, spex_llm *m, spex_prompt *const *prompts, int64_t k,
                                 const spex_heads_opts *opts, spex_heads **out);
/* What the lens needs of a model reached another way than in process
 * (spex_remote_heads_scorer: spex serve's "spex_ablate"). A mask's
 * ablation is given as flags, n_layers * n_heads for the heads ([l *
 * n_heads + h]) then n_layers for the MLP blocks, nonzero = ablated. */
typedef struct spex_heads_scorer {
    void *user;
    int64_t n_layers, n_heads;
    /* as spex_prompt_scorer.tokenize (reference prompts, add_bos 1) */
    int (*tokenize)(void *user, int64_t n, const char *const *texts, const size_t *lens,
                    int add_bos, int32_t **toks, int64_t *n_toks);
    /* mean ablation: the n reference sequences whose every position the
     * means are taken over (unablated), for every later score call */
    int (*set_reference)(void *user, int64_t n, const int32_t *const *seqs, const int64_t *lens);
    /* out[i] = sum over j in [from[i], lens[i]) of log p(seqs[i][j] | the
     * tokens before) with the components flags[i] names ablated (by zero,
     * or by the means when mean); consecutive sequences of one ablation
     * share its flags pointer */
    int (*score)(void *user, int64_t n, const int32_t *const *seqs, const int64_t *lens,
                 const int64_t *from, const uint8_t *const *flags, int mean, double *out);
} spex_heads_scorer;

/* As spex_heads_new_task over a scorer (borrowed, it must outlive *out)
 * instead of a model in process; the prompts built with the same model's
 * tokens (spex_prompt_new_scored). The same values as in process when the
 * scorer runs the same model. */
SPEX_API int spex_heads_new_scored(spex_ctx *ctx, const spex_heads_scorer *sc,
                                   spex_prompt *const *prompts, int64_t k,
                                   const spex_heads_opts *opts, spex_heads **out);
SPEX_API void spex_heads_free(spex_heads *h);

SPEX_API int64_t spex_heads_n_features(const spex_heads *h);
/* "L2.H3" or "L2.MLP"; borrowed. */
SPEX_API const char *spex_heads_feature_name(const spex_heads *h, int64_t i);
/* Feature i's layer, and its head (-1 for an MLP block). */
SPEX_API void spex_heads_feature(const spex_heads *h, int64_t i, int64_t *layer, int64_t *head);

/* Values of a batch of masks (bit i = feature i kept, not ablated). The
 * model's ablation is switched off again on return. */
SPEX_API int spex_heads_eval(spex_heads *h, const spex_masks *batch, double *out);
/* A value function over the features (value.h contract); h is borrowed. */
SPEX_API int spex_heads_valuefn(spex_heads *h, spex_valuefn *out);

#ifdef __cplusplus
}
#endif
#endif
