/*
 * spex/prompt.h - the feature-attribution lens (DESIGN.md §1): a prompt split
 * into units (words, sentences, tokens or given segments) whose masks are
 * scored by a GGUF language model (spex/llm.h).
 *
 * A mask keeps units (bit i = unit i kept). A removed unit is deleted
 * together with the whitespace before it, or replaced by a given text. The
 * masked prompt is
 *
 *     prefix ␣ body(mask) ␣ suffix
 *
 * where the prefix and suffix are never ablated and "␣" is a single space,
 * left out where a part is empty or already ends (starts) with whitespace.
 * body(mask) concatenates the kept (or replaced) units in order, each after
 * the whitespace that preceded it in the prompt, except the first one
 * emitted, which gets none. So with prefix "Review:", suffix "Sentiment:"
 * and word units of "the food was not good .", removing "not" gives
 * "Review: the food was good . Sentiment:" and removing everything gives
 * "Review: Sentiment:" (the convention of ../shared/models/truth/).
 *
 * Units:
 *   word      maximal runs of non-whitespace characters.
 *   sentence  text up to and including a run of . ! ? followed by whitespace
 *             or the end, or up to a line break.
 *   token     the model's tokens of the prompt (SentencePiece/BPE as the
 *             engine tokenizes it, no BOS); a token's leading spaces are its
 *             whitespace. The masked text is rebuilt from the kept pieces
 *             and tokenized again.
 *   segment   pieces between separators (segments_sep, default a line
 *             break), trimmed; empty pieces are skipped. Kept segments are
 *             joined by a line break when the separator contains one, by a
 *             space otherwise.
 *
 * The value of a mask (llama.cpp's convention, as spex_llm_score):
 *     log p(target | masked prompt)                        without contrast
 *     log p(target | masked) - log p(contrast | masked)    with a contrast
 * teacher-forced, natural log, BOS added. Without a target the model's
 * greedy answer to the full (unmasked) prompt is used: at most
 * max_answer_tokens tokens, cut before EOS and before the first line break.
 * Batches are scored with spex_llm_score_tokens_batch, reusing the KV cache
 * across shared prefixes; kernels use the threads of the model's context.
 * A prompt made by spex_prompt_new_scored goes through its scorer instead
 * (the same units, masked texts and targets; values from the scorer), and
 * its value function streams answers (value.h eval_stream) as they come.
 *
 * Example:
 *     spex_prompt_opts po = spex_prompt_opts_default();
 *     po.prefix = "Review:";
 *     po.suffix = "Sentiment:";
 *     po.target = " negative";
 *     po.contrast = " positive";
 *     spex_prompt *p;
 *     if (spex_prompt_new(ctx, m, "the food was not good .", &po, &p)) puts(spex_errmsg(ctx));
 *     spex_valuefn vf;
 *     spex_prompt_valuefn(p, &vf);   // n = spex_prompt_n_units(p) features
 *     ... spex_explain(ctx, &vf, &eo, &res) ...
 *     spex_prompt_free(p);
 */
#ifndef SPEX_PROMPT_H
#define SPEX_PROMPT_H

#include "spex/llm.h"
#include "spex/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum spex_prompt_unit {
    SPEX_PROMPT_WORD = 0,
    SPEX_PROMPT_SENTENCE = 1,
    SPEX_PROMPT_TOKEN = 2,
    SPEX_PROMPT_SEGMENT = 3
} spex_prompt_unit;

typedef struct spex_prompt_opts {
    spex_prompt_unit unit;     /* default SPEX_PROMPT_WORD */
    const char *segments_sep;  /* SEGMENT: the separator; NULL: "\n" */
    const char *replace;       /* NULL (default): removed units are deleted
                                  with their whitespace; else each removed
                                  unit becomes this text */
    const char *prefix;        /* never ablated; NULL or "": none */
    const char *suffix;        /* never ablated; NULL or "": none */
    const char *target;        /* scored continuation; NULL: the greedy answer */
    const char *contrast;      /* NULL: none; else value = lp(target) - lp(contrast) */
    int64_t max_answer_tokens; /* greedy answer length cap (default 8) */
} spex_prompt_opts;

SPEX_API spex_prompt_opts spex_prompt_opts_default(void);
/* "word", "sentence", "token", "segment"; SPEX_E_INVAL names the unknown. */
SPEX_API int spex_prompt_unit_parse(spex_ctx *ctx, const char *name, spex_prompt_unit *out);
SPEX_API const char *spex_prompt_unit_name(spex_prompt_unit u);

typedef struct spex_prompt spex_prompt;

/* Splits prompt into units and resolves the target. m is borrowed (it must
 * outlive *out) and must have been loaded with ctx; it may be NULL for
 * word/sentence/segment units, giving a prompt that only builds masked
 * texts (no target, no value function). The option strings are copied.
 * Errors: SPEX_E_INVAL (empty prompt, no units, token units without a model,
 * a contrast without a target), SPEX_E_VALUE (the greedy answer is empty),
 * the engine's errors, SPEX_E_NOMEM. *out is owned; free with
 * spex_prompt_free. */
SPEX_API int spex_prompt_new(spex_ctx *ctx, spex_llm *m, const char *prompt,
                             const spex_prompt_opts *opts, spex_prompt **out);

/* What the lens needs from a language model, for a model it does not run
 * itself (a server: spex/remote.h). spex_prompt_new wraps a spex_llm in
 * one. Token ids are the model's; arrays and strings returned are owned by
 * the caller (spex_free with the lens's ctx). Each call returns SPEX_OK or
 * an error code with a message on the ctx. */
typedef struct spex_prompt_scorer {
    void *user;
    /* Tokens of n texts (texts[i]: lens[i] bytes), BOS first when add_bos
     * (as the model adds it): toks[i] (owned), n_toks[i]. */
    int (*tokenize)(void *user, int64_t n, const char *const *texts, const size_t *lens,
                    int add_bos, int32_t **toks, int64_t *n_toks);
    /* The text of tokens, their pieces concatenated (no space stripped). */
    int (*detokenize)(void *user, const int32_t *tokens, int64_t n, char **text);
    /* The greedy answer after tokens: at most max_tokens tokens, ended
     * before EOS and before the first line break ("" when it ends at once). */
    int (*answer)(void *user, const int32_t *tokens, int64_t n, int64_t max_tokens, char **text);
    /* out[i] = sum over j in [from[i], lens[i]) of log p(seqs[i][j] |
     * seqs[i][0..j)), natural log; answer(sink, i, out[i]) as each is
     * known (answer may be NULL). On failure the unanswered out[i] are NaN
     * and the answered ones stay (value.h's contract). */
    int (*score)(void *user, int64_t n, const int32_t *const *seqs, const int64_t *lens,
                 const int64_t *from, double *out, spex_answer_fn answer, void *sink);
    /* The continuation's tokens: 0: llama.cpp's rule (those of
     * context+continuation beyond the context's, which must be a prefix;
     * else the mask is NaN); 1: lm-evaluation-harness's (trailing spaces of
     * the context move to the continuation; encode context+continuation
     * and split at the length of the encoded context). Equal where the
     * prefix holds and the context ends without a space. */
    int harness_split;
} spex_prompt_scorer;

/* As spex_prompt_new, scored through sc (copied; sc->user is borrowed and
 * must outlive *out). The greedy answer, token units and masks all go
 * through sc. */
SPEX_API int spex_prompt_new_scored(spex_ctx *ctx, const spex_prompt_scorer *sc, const char *prompt,
                                    const spex_prompt_opts *opts, spex_prompt **out);
SPEX_API void spex_prompt_free(spex_prompt *p);

/* Number of units (the features). */
SPEX_API int64_t spex_prompt_n_units(const spex_prompt *p);
/* Unit i's text (without its whitespace); borrowed. */
SPEX_API const char *spex_prompt_unit_text(const spex_prompt *p, int64_t i);
/* The whitespace that precedes unit i in the prompt ("" for the first);
 * borrowed. */
SPEX_API const char *spex_prompt_unit_lead(const spex_prompt *p, int64_t i);
/* The scored target (given or greedy) and the contrast (NULL when none);
 * borrowed. NULL target when built without a model. */
SPEX_API const char *spex_prompt_target(const spex_prompt *p);
SPEX_API const char *spex_prompt_contrast(const spex_prompt *p);
/* The settings as given (prefix, suffix: "" when none; replace: NULL when
 * units are deleted); borrowed. */
SPEX_API const char *spex_prompt_prefix(const spex_prompt *p);
SPEX_API const char *spex_prompt_suffix(const spex_prompt *p);
SPEX_API const char *spex_prompt_replace(const spex_prompt *p);

/* The masked prompt text for a packed mask of spex_prompt_n_units bits
 * (NULL mask: all kept). *out is NUL-terminated, owned (spex_free with
 * ctx). */
SPEX_API int spex_prompt_text(spex_prompt *p, const uint64_t *mask, char **out);

/* A value function over the units (value.h contract: masks the engine could
 * not score, e.g. because the target's tokens do not extend the masked
 * prompt's, are NaN and the call returns SPEX_E_VALUE naming the first).
 * p is borrowed: it must outlive *out. SPEX_E_INVAL without a model. */
SPEX_API int spex_prompt_valuefn(spex_prompt *p, spex_valuefn *out);

/* Values of a batch of masks, as the value function computes them. */
SPEX_API int spex_prompt_eval(spex_prompt *p, const spex_masks *batch, double *out);

/* The token sequences a mask's value is scored on (NULL mask: all kept):
 * seqs[0] = the masked prompt (with BOS) + the target, and with a contrast
 * seqs[1] = the prompt + the contrast; lens[c] tokens of which the first
 * from[c] are the prompt's (the arrays need room for 2 entries only with a
 * contrast). Returns the count (1 or 2) in *n_seqs; each
 * seqs[c] is owned (spex_free with the ctx). SPEX_E_VALUE when a
 * continuation's tokens do not extend the prompt's. Other lenses that score
 * the same prompt and target (spex/heads.h) start from these. */
SPEX_API int spex_prompt_sequences(spex_prompt *p, const uint64_t *mask, int32_t *seqs[2],
                                   int64_t lens[2], int64_t from[2], int *n_seqs);

#ifdef __cplusplus
}
#endif
#endif
