/*
 * The feature-attribution lens's value function (spex/prompt.h): a prompt
 * split into units, masks turned into ablated prompt texts, texts scored by
 * the GGUF engine (spex/llm.h) in batches that share their KV-cache prefix.
 *
 * HOW IT WORKS
 * Each unit keeps its text and the whitespace before it ("lead"). A mask's
 * body is the kept units in order, each after its lead except the first
 * emitted; the prefix and suffix are joined to it by one space. For each
 * mask the body text is tokenized twice (prompt; prompt + target) to apply
 * llama.cpp's continuation convention, and all sequences of the batch go to
 * spex_llm_score_tokens_batch in one call, which sorts them and reuses the
 * cache across common prefixes.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "spex/prompt.h"

typedef struct unit {
    char *text; /* owned, NUL-terminated */
    char *lead; /* owned, whitespace before the unit */
} unit;

struct spex_prompt {
    spex_ctx *ctx;
    spex_llm *m;           /* borrowed; NULL: texts only or a scorer's */
    spex_prompt_scorer sc; /* what scores: m's adapter (below) or a given one */
    int scored;            /* 1: sc is usable (a model or a given scorer) */
    unit *units;
    int64_t n, cap;
    char *prefix, *suffix, *replace; /* prefix/suffix "" when none */
    char *target, *contrast;         /* contrast NULL when none */
};

spex_prompt_opts spex_prompt_opts_default(void) {
    spex_prompt_opts o;
    memset(&o, 0, sizeof o);
    o.unit = SPEX_PROMPT_WORD;
    o.max_answer_tokens = 8;
    return o;
}

static const char *const unit_names[] = {"word", "sentence", "token", "segment"};

int spex_prompt_unit_parse(spex_ctx *ctx, const char *name, spex_prompt_unit *out) {
    for (int i = 0; i < 4; i++)
        if (name && !strcmp(name, unit_names[i])) {
            *out = (spex_prompt_unit)i;
            return SPEX_OK;
        }
    return spex_seterr(ctx, SPEX_E_INVAL,
                       "unknown unit '%s' (expected word, sentence, token or segment)",
                       name ? name : "");
}

const char *spex_prompt_unit_name(spex_prompt_unit u) {
    return (unsigned)u < 4 ? unit_names[u] : "?";
}

static int is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static char *dup_n(spex_ctx *ctx, const char *s, size_t len) {
    char *d = spex_malloc(ctx, len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = 0;
    }
    return d;
}

/* Appends a unit (text[0..len), lead[0..lead_len)). */
static int add_unit(spex_prompt *p, const char *lead, size_t lead_len, const char *text,
                    size_t len) {
    if (p->n == p->cap) {
        int64_t cap = p->cap ? 2 * p->cap : 16;
        unit *u = spex_realloc(p->ctx, p->units, (size_t)cap, sizeof *u);
        if (!u) return SPEX_E_NOMEM;
        p->units = u;
        p->cap = cap;
    }
    unit *u = &p->units[p->n];
    u->lead = dup_n(p->ctx, lead, p->n ? lead_len : 0);
    u->text = dup_n(p->ctx, text, len);
    if (!u->lead || !u->text) {
        spex_free(p->ctx, u->lead);
        spex_free(p->ctx, u->text);
        return SPEX_E_NOMEM;
    }
    p->n++;
    return SPEX_OK;
}

static int split_words(spex_prompt *p, const char *s) {
    size_t i = 0, len = strlen(s);
    while (i < len) {
        size_t ws = i;
        while (i < len && is_ws(s[i]))
            i++;
        if (i == len) break;
        size_t start = i;
        while (i < len && !is_ws(s[i]))
            i++;
        int rc = add_unit(p, s + ws, start - ws, s + start, i - start);
        if (rc) return rc;
    }
    return SPEX_OK;
}

static int split_sentences(spex_prompt *p, const char *s) {
    size_t i = 0, len = strlen(s);
    while (i < len) {
        size_t ws = i;
        while (i < len && is_ws(s[i]))
            i++;
        if (i == len) break;
        size_t start = i, end;
        for (;;) {
            if (i == len || s[i] == '\n') {
                end = i;
                break;
            }
            if (s[i] == '.' || s[i] == '!' || s[i] == '?') {
                while (i < len && (s[i] == '.' || s[i] == '!' || s[i] == '?'))
                    i++;
                if (i == len || is_ws(s[i])) {
                    end = i;
                    break;
                }
                continue;
            }
            i++;
        }
        while (end > start && is_ws(s[end - 1]))
            end--;
        int rc = add_unit(p, s + ws, start - ws, s + start, end - start);
        if (rc) return rc;
    }
    return SPEX_OK;
}

static int split_segments(spex_prompt *p, const char *s, const char *sep) {
    size_t sep_len = strlen(sep), len = strlen(s);
    const char *lead = strchr(sep, '\n') ? "\n" : " ";
    size_t i = 0;
    while (i <= len) {
        const char *hit = strstr(s + i, sep);
        size_t end = hit ? (size_t)(hit - s) : len, a = i, b = end;
        while (a < b && is_ws(s[a]))
            a++;
        while (b > a && is_ws(s[b - 1]))
            b--;
        if (b > a) {
            int rc = add_unit(p, lead, 1, s + a, b - a);
            if (rc) return rc;
        }
        if (!hit) break;
        i = end + sep_len;
    }
    return SPEX_OK;
}

/* Token units: the model's tokens of the prompt (no BOS); a piece's
 * leading spaces are its lead. */
static int split_tokens(spex_prompt *p, const char *s) {
    int32_t *tok = NULL;
    int64_t nt = 0;
    size_t len = strlen(s);
    int rc = p->sc.tokenize(p->sc.user, 1, &s, &len, 0, &tok, &nt);
    for (int64_t i = 0; !rc && i < nt; i++) {
        char *piece = NULL;
        size_t plen, k = 0;
        rc = p->sc.detokenize(p->sc.user, &tok[i], 1, &piece);
        if (rc) break;
        plen = strlen(piece);
        while (k < plen && piece[k] == ' ')
            k++;
        if (k == plen) /* a piece of spaces only: keep it as text */
            rc = add_unit(p, "", 0, piece, plen);
        else
            rc = add_unit(p, piece, k, piece + k, plen - k);
        spex_free(p->ctx, piece);
    }
    spex_free(p->ctx, tok);
    return rc;
}

/* ---- the scorer of an in-process model (spex/prompt.h) ---- */

static int local_tokenize(void *user, int64_t n, const char *const *texts, const size_t *lens,
                          int add_bos, int32_t **toks, int64_t *n_toks) {
    spex_llm *m = ((spex_prompt *)user)->m;
    int rc = SPEX_OK;
    for (int64_t i = 0; !rc && i < n; i++)
        rc = spex_llm_tokenize(m, texts[i], lens[i], add_bos, &toks[i], &n_toks[i]);
    return rc;
}

static int local_detokenize(void *user, const int32_t *tokens, int64_t n, char **text) {
    return spex_llm_detokenize(((spex_prompt *)user)->m, tokens, n, 0, text);
}

static int local_answer(void *user, const int32_t *tokens, int64_t n, int64_t max_tokens,
                        char **text) {
    spex_prompt *p = user;
    spex_llm *m = p->m;
    int32_t *gen = NULL;
    int64_t ng = 0, keep = 0;
    spex_llm_info info;
    spex_llm_get_info(m, &info);
    int rc = spex_llm_generate(m, tokens, n, max_tokens, &gen, &ng);
    while (!rc && keep < ng && gen[keep] != info.eos) {
        const char *piece;
        size_t len;
        rc = spex_llm_token_piece(m, gen[keep], &piece, &len);
        if (!rc && memchr(piece, '\n', len)) break;
        keep++;
    }
    if (!rc) rc = spex_llm_detokenize(m, gen, keep, 0, text);
    spex_free(p->ctx, gen);
    return rc;
}

static int local_score(void *user, int64_t n, const int32_t *const *seqs, const int64_t *lens,
                       const int64_t *from, double *out, spex_answer_fn answer, void *sink) {
    int rc = spex_llm_score_tokens_batch(((spex_prompt *)user)->m, n, seqs, lens, from, 1, out);
    for (int64_t i = 0; i < n; i++) {
        if (rc)
            out[i] = NAN;
        else if (answer)
            answer(sink, i, out[i]);
    }
    return rc;
}

void spex_prompt_free(spex_prompt *p) {
    if (!p) return;
    for (int64_t i = 0; i < p->n; i++) {
        spex_free(p->ctx, p->units[i].text);
        spex_free(p->ctx, p->units[i].lead);
    }
    spex_free(p->ctx, p->units);
    spex_free(p->ctx, p->prefix);
    spex_free(p->ctx, p->suffix);
    spex_free(p->ctx, p->replace);
    spex_free(p->ctx, p->target);
    spex_free(p->ctx, p->contrast);
    spex_free(p->ctx, p);
}

int64_t spex_prompt_n_units(const spex_prompt *p) {
    return p->n;
}
const char *spex_prompt_unit_text(const spex_prompt *p, int64_t i) {
    return p->units[i].text;
}
const char *spex_prompt_unit_lead(const spex_prompt *p, int64_t i) {
    return p->units[i].lead;
}
const char *spex_prompt_target(const spex_prompt *p) {
    return p->target;
}
const char *spex_prompt_contrast(const spex_prompt *p) {
    return p->contrast;
}
const char *spex_prompt_prefix(const spex_prompt *p) {
    return p->prefix;
}
const char *spex_prompt_suffix(const spex_prompt *p) {
    return p->suffix;
}
const char *spex_prompt_replace(const spex_prompt *p) {
    return p->replace;
}

/* A growable string. */
typedef struct sbuf {
    spex_ctx *ctx;
    char *s;
    size_t len, cap;
    int err;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t len) {
    if (b->err) return;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *d = spex_realloc(b->ctx, b->s, cap, 1);
        if (!d) {
            b->err = SPEX_E_NOMEM;
            return;
        }
        b->s = d;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, len);
    b->len += len;
    b->s[b->len] = 0;
}

/* Joins a part to what b holds by one space unless either side has one. */
static void sb_join(sbuf *b, const char *s, size_t len) {
    if (!len) return;
    if (b->len && !is_ws(b->s[b->len - 1]) && !is_ws(s[0])) sb_put(b, " ", 1);
    sb_put(b, s, len);
}

/* The masked text into b (cleared first); mask NULL = all kept. */
static int build_text(spex_prompt *p, const uint64_t *mask, sbuf *body, sbuf *b) {
    body->len = 0;
    b->len = 0;
    for (int64_t i = 0; i < p->n; i++) {
        const char *t = !mask || spex_bits_get(mask, i) ? p->units[i].text : p->replace;
        if (!t) continue;
        if (body->len) sb_put(body, p->units[i].lead, strlen(p->units[i].lead));
        sb_put(body, t, strlen(t));
    }
    sb_put(b, "", 0);
    sb_join(b, p->prefix, strlen(p->prefix));
    if (body->len) sb_join(b, body->s, body->len);
    sb_join(b, p->suffix, strlen(p->suffix));
    if (body->err || b->err) return spex_seterr(p->ctx, SPEX_E_NOMEM, "out of memory");
    return SPEX_OK;
}

int spex_prompt_text(spex_prompt *p, const uint64_t *mask, char **out) {
    *out = NULL;
    sbuf body = {p->ctx, NULL, 0, 0, 0}, b = {p->ctx, NULL, 0, 0, 0};
    int rc = build_text(p, mask, &body, &b);
    spex_free(p->ctx, body.s);
    if (rc) {
        spex_free(p->ctx, b.s);
        return rc;
    }
    *out = b.s;
    return SPEX_OK;
}

/* The model's greedy answer to the full prompt (spex/prompt.h). */
static int greedy_answer(spex_prompt *p, int64_t max_tokens) {
    char *text = NULL;
    int32_t *tok = NULL;
    int64_t nt = 0;
    int rc = spex_prompt_text(p, NULL, &text);
    size_t len = text ? strlen(text) : 0;
    if (!rc) rc = p->sc.tokenize(p->sc.user, 1, (const char *const *)&text, &len, 1, &tok, &nt);
    if (!rc) rc = p->sc.answer(p->sc.user, tok, nt, max_tokens, &p->target);
    if (!rc && !*p->target) {
        spex_free(p->ctx, p->target);
        p->target = NULL;
        rc = spex_seterr(p->ctx, SPEX_E_VALUE,
                         "the model's greedy answer to the full prompt is empty (it ends or "
                         "breaks the line at once); give a target");
    }
    spex_free(p->ctx, text);
    spex_free(p->ctx, tok);
    return rc;
}

/* Both constructors: m (in-process) or sc (given), or neither (texts only). */
static int prompt_new(spex_ctx *ctx, spex_llm *m, const spex_prompt_scorer *sc, const char *prompt,
                      const spex_prompt_opts *opts, spex_prompt **out);

int spex_prompt_new(spex_ctx *ctx, spex_llm *m, const char *prompt, const spex_prompt_opts *opts,
                    spex_prompt **out) {
    return prompt_new(ctx, m, NULL, prompt, opts, out);
}

int spex_prompt_new_scored(spex_ctx *ctx, const spex_prompt_scorer *sc, const char *prompt,
                           const spex_prompt_opts *opts, spex_prompt **out) {
    if (!sc || !sc->tokenize || !sc->detokenize || !sc->answer || !sc->score) {
        *out = NULL;
        return spex_seterr(ctx, SPEX_E_INVAL, "the scorer lacks a function");
    }
    return prompt_new(ctx, NULL, sc, prompt, opts, out);
}

static int prompt_new(spex_ctx *ctx, spex_llm *m, const spex_prompt_scorer *sc, const char *prompt,
                      const spex_prompt_opts *opts, spex_prompt **out) {
    *out = NULL;
    spex_prompt_opts def = spex_prompt_opts_default();
    const spex_prompt_opts *o = opts ? opts : &def;
    if (!prompt || !*prompt) return spex_seterr(ctx, SPEX_E_INVAL, "the prompt is empty");
    if ((unsigned)o->unit > SPEX_PROMPT_SEGMENT)
        return spex_seterr(ctx, SPEX_E_INVAL, "unknown unit %d", (int)o->unit);
    if (o->unit == SPEX_PROMPT_TOKEN && !m && !sc)
        return spex_seterr(ctx, SPEX_E_INVAL, "token units need a model");
    if (o->contrast && !o->target)
        return spex_seterr(ctx, SPEX_E_INVAL, "a contrast needs a target");
    if (o->target && !*o->target) return spex_seterr(ctx, SPEX_E_INVAL, "the target is empty");
    if (o->contrast && !*o->contrast)
        return spex_seterr(ctx, SPEX_E_INVAL, "the contrast is empty");
    if (o->segments_sep && !*o->segments_sep)
        return spex_seterr(ctx, SPEX_E_INVAL, "the segment separator is empty");
    if (!o->target && o->max_answer_tokens < 1)
        return spex_seterr(ctx, SPEX_E_INVAL, "max_answer_tokens must be at least 1");
    spex_prompt *p = spex_calloc(ctx, 1, sizeof *p);
    if (!p) return SPEX_E_NOMEM;
    p->ctx = ctx;
    p->m = m;
    if (sc) {
        p->sc = *sc;
        p->scored = 1;
    } else if (m) {
        p->sc =
            (spex_prompt_scorer){p, local_tokenize, local_detokenize, local_answer, local_score, 0};
        p->scored = 1;
    }
    int rc = SPEX_OK;
    p->prefix = spex_strdup(ctx, o->prefix ? o->prefix : "");
    p->suffix = spex_strdup(ctx, o->suffix ? o->suffix : "");
    if (!p->prefix || !p->suffix) rc = SPEX_E_NOMEM;
    if (!rc && o->replace && !(p->replace = spex_strdup(ctx, o->replace))) rc = SPEX_E_NOMEM;
    if (!rc && o->target && !(p->target = spex_strdup(ctx, o->target))) rc = SPEX_E_NOMEM;
    if (!rc && o->contrast && !(p->contrast = spex_strdup(ctx, o->contrast))) rc = SPEX_E_NOMEM;
    if (!rc) {
        switch (o->unit) {
        case SPEX_PROMPT_WORD:
            rc = split_words(p, prompt);
            break;
        case SPEX_PROMPT_SENTENCE:
            rc = split_sentences(p, prompt);
            break;
        case SPEX_PROMPT_TOKEN:
            rc = split_tokens(p, prompt);
            break;
        case SPEX_PROMPT_SEGMENT:
            rc = split_segments(p, prompt, o->segments_sep ? o->segments_sep : "\n");
            break;
        }
        if (rc == SPEX_E_NOMEM) spex_seterr(ctx, rc, "out of memory");
    }
    if (!rc && p->n == 0)
        rc = spex_seterr(ctx, SPEX_E_INVAL, "the prompt has no %s units (only whitespace?)",
                         spex_prompt_unit_name(o->unit));
    if (!rc && p->n > SPEX_MAX_FEATURES)
        rc = spex_seterr(ctx, SPEX_E_RANGE, "the prompt has %lld units, more than %lld",
                         (long long)p->n, (long long)SPEX_MAX_FEATURES);
    if (!rc && p->scored && !p->target) rc = greedy_answer(p, o->max_answer_tokens);
    if (rc) {
        if (rc == SPEX_E_NOMEM) spex_seterr(ctx, rc, "out of memory");
        spex_prompt_free(p);
        return rc;
    }
    *out = p;
    return SPEX_OK;
}

/* The token sequences of nb masks (masks[i] NULL: all kept): for mask i
 * and continuation c (target, then contrast) seqs[i * nc + c] (owned),
 * lens[], from[] (the context's count). bad[i] = 1 when mask i cannot be
 * scored (its continuation adds no token or, under llama.cpp's rule, the
 * context's tokens are not a prefix); first_bad describes the first. All
 * texts of the batch go to the scorer's tokenizer in one call. */
static int masks_sequences(spex_prompt *p, int64_t nb, const uint64_t *const *masks, int32_t **seqs,
                           int64_t *lens, int64_t *from, int *bad, char *first_bad,
                           size_t first_bad_size) {
    int nc = p->contrast ? 2 : 1, per = 1 + nc;
    int64_t nt = nb * per;
    char **texts = spex_calloc(p->ctx, (size_t)nt, sizeof *texts);
    size_t *tlen = spex_calloc(p->ctx, (size_t)nt, sizeof *tlen);
    int32_t **toks = spex_calloc(p->ctx, (size_t)nt, sizeof *toks);
    int64_t *ntok = spex_calloc(p->ctx, (size_t)nt, sizeof *ntok);
    sbuf body = {p->ctx, NULL, 0, 0, 0}, text = {p->ctx, NULL, 0, 0, 0};
    int rc = texts && tlen && toks && ntok ? SPEX_OK : SPEX_E_NOMEM;
    for (int64_t i = 0; !rc && i < nb; i++) {
        rc = build_text(p, masks[i], &body, &text);
        size_t keep = text.len;
        if (p->sc.harness_split) /* trailing whitespace moves to the continuation */
            while (keep > 0 && is_ws(text.s[keep - 1]))
                keep--;
        for (int c = 0; !rc && c <= nc; c++) {
            const char *cont = c == 0 ? "" : c == 1 ? p->target : p->contrast;
            size_t cl = strlen(cont), n = c == 0 ? keep : text.len + cl;
            char *t = spex_malloc(p->ctx, n + 1);
            if (!t) {
                rc = SPEX_E_NOMEM;
                break;
            }
            memcpy(t, text.s, c == 0 ? keep : text.len);
            if (c) memcpy(t + text.len, cont, cl);
            t[n] = 0;
            texts[i * per + c] = t;
            tlen[i * per + c] = n;
        }
    }
    if (!rc) rc = p->sc.tokenize(p->sc.user, nt, (const char *const *)texts, tlen, 1, toks, ntok);
    for (int64_t i = 0; !rc && i < nb; i++) {
        bad[i] = 0;
        const int32_t *ct = toks[i * per];
        int64_t np = ntok[i * per];
        for (int c = 0; c < nc; c++) {
            int32_t *jt = toks[i * per + 1 + c];
            int64_t nj = ntok[i * per + 1 + c];
            if (nj <= np || (!p->sc.harness_split && memcmp(ct, jt, (size_t)np * sizeof *ct))) {
                if (!bad[i] && first_bad && !*first_bad)
                    snprintf(first_bad, first_bad_size,
                             "masked prompt '%s': the tokens of the %s do not extend the "
                             "prompt's (%s)",
                             texts[i * per], c ? "contrast" : "target",
                             p->sc.harness_split ? "it adds no token"
                                                 : "llama.cpp's continuation convention");
                bad[i] = 1;
            }
        }
        for (int c = 0; c < nc; c++) {
            seqs[i * nc + c] = bad[i] ? NULL : toks[i * per + 1 + c];
            if (!bad[i]) toks[i * per + 1 + c] = NULL;
            lens[i * nc + c] = ntok[i * per + 1 + c];
            from[i * nc + c] = np;
        }
    }
    for (int64_t j = 0; toks && j < nt; j++)
        spex_free(p->ctx, toks[j]);
    for (int64_t j = 0; texts && j < nt; j++)
        spex_free(p->ctx, texts[j]);
    spex_free(p->ctx, texts);
    spex_free(p->ctx, tlen);
    spex_free(p->ctx, toks);
    spex_free(p->ctx, ntok);
    spex_free(p->ctx, body.s);
    spex_free(p->ctx, text.s);
    if (rc == SPEX_E_NOMEM) return spex_seterr(p->ctx, rc, "out of memory");
    return rc;
}

/* Turns the scorer's per-sequence answers into per-mask ones: a mask is
 * answered when all its sequences (target, contrast) are. */
typedef struct mask_sink {
    spex_answer_fn answer;
    void *sink;
    const int64_t *owner; /* sequence -> mask */
    double *lp;           /* per sequence */
    uint8_t *got;         /* per sequence */
    double *out;          /* per mask */
    int nc;
} mask_sink;

static void seq_answered(void *user, int64_t j, double v) {
    mask_sink *ms = user;
    if (ms->got[j]) return;
    ms->got[j] = 1;
    ms->lp[j] = v;
    int64_t base = j - j % ms->nc;
    for (int c = 0; c < ms->nc; c++)
        if (!ms->got[base + c]) return;
    double mv = ms->nc == 2 ? ms->lp[base] - ms->lp[base + 1] : ms->lp[base];
    ms->out[ms->owner[base]] = mv;
    if (ms->answer) ms->answer(ms->sink, ms->owner[base], mv);
}

static int prompt_eval_stream(spex_prompt *p, const spex_masks *batch, double *out,
                              spex_answer_fn answer, void *sink) {
    int64_t nb = spex_masks_count(batch);
    int nc = p->contrast ? 2 : 1;
    if (!p->scored || !p->target)
        return spex_seterr(p->ctx, SPEX_E_INVAL, "this prompt was built without a model");
    for (int64_t i = 0; i < nb; i++)
        out[i] = NAN;
    if (nb == 0) return SPEX_OK;
    int64_t cap = nb * nc, k = 0;
    const uint64_t **masks = spex_calloc(p->ctx, (size_t)nb, sizeof *masks);
    int *bad = spex_calloc(p->ctx, (size_t)nb, sizeof *bad);
    int32_t **seqs = spex_calloc(p->ctx, (size_t)cap, sizeof *seqs);
    int64_t *lens = spex_calloc(p->ctx, (size_t)cap, sizeof *lens);
    int64_t *from = spex_calloc(p->ctx, (size_t)cap, sizeof *from);
    int64_t *owner = spex_calloc(p->ctx, (size_t)cap, sizeof *owner);
    double *lp = spex_calloc(p->ctx, (size_t)cap, sizeof *lp);
    uint8_t *got = spex_calloc(p->ctx, (size_t)cap, 1);
    char first_bad[512] = "";
    int rc = masks && bad && seqs && lens && from && owner && lp && got ? SPEX_OK : SPEX_E_NOMEM;
    for (int64_t i = 0; !rc && i < nb; i++)
        masks[i] = spex_masks_crow(batch, i);
    if (!rc) rc = masks_sequences(p, nb, masks, seqs, lens, from, bad, first_bad, sizeof first_bad);
    /* the scorable masks' sequences, packed: (k / nc, nc) */
    for (int64_t i = 0; !rc && i < nb; i++) {
        if (bad[i]) continue;
        for (int c = 0; c < nc; c++) {
            seqs[k] = seqs[i * nc + c];
            if (k != i * nc + c) seqs[i * nc + c] = NULL;
            lens[k] = lens[i * nc + c];
            from[k] = from[i * nc + c];
            owner[k++] = i;
        }
    }
    mask_sink ms = {answer, sink, owner, lp, got, out, nc};
    if (!rc && k > 0)
        rc = p->sc.score(p->sc.user, k, (const int32_t *const *)seqs, lens, from, lp, seq_answered,
                         &ms);
    for (int64_t j = 0; seqs && j < cap; j++)
        spex_free(p->ctx, seqs[j]);
    spex_free(p->ctx, masks);
    spex_free(p->ctx, bad);
    spex_free(p->ctx, seqs);
    spex_free(p->ctx, lens);
    spex_free(p->ctx, from);
    spex_free(p->ctx, owner);
    spex_free(p->ctx, lp);
    spex_free(p->ctx, got);
    if (rc == SPEX_E_NOMEM) return spex_seterr(p->ctx, rc, "out of memory");
    if (rc) return rc;
    return *first_bad ? spex_seterr(p->ctx, SPEX_E_VALUE, "%s", first_bad) : SPEX_OK;
}

int spex_prompt_eval(spex_prompt *p, const spex_masks *batch, double *out) {
    return prompt_eval_stream(p, batch, out, NULL, NULL);
}

int spex_prompt_sequences(spex_prompt *p, const uint64_t *mask, int32_t *seqs[2], int64_t lens[2],
                          int64_t from[2], int *n_seqs) {
    int n_cont = p->contrast ? 2 : 1, bad = 0;
    for (int c = 0; c < n_cont; c++)
        seqs[c] = NULL; /* seqs[1] exists only with a contrast */
    *n_seqs = 0;
    if (!p->scored || !p->target)
        return spex_seterr(p->ctx, SPEX_E_INVAL, "this prompt was built without a model");
    char first_bad[512] = "";
    int rc = masks_sequences(p, 1, &mask, seqs, lens, from, &bad, first_bad, sizeof first_bad);
    if (rc) return rc;
    if (bad) return spex_seterr(p->ctx, SPEX_E_VALUE, "%s", first_bad);
    *n_seqs = n_cont;
    return SPEX_OK;
}

static int prompt_eval_cb(void *user, const spex_masks *batch, double *out) {
    return spex_prompt_eval(user, batch, out);
}

static int prompt_eval_stream_cb(void *user, const spex_masks *batch, double *out,
                                 spex_answer_fn answer, void *sink) {
    return prompt_eval_stream(user, batch, out, answer, sink);
}

int spex_prompt_valuefn(spex_prompt *p, spex_valuefn *out) {
    memset(out, 0, sizeof *out);
    if (!p->scored || !p->target)
        return spex_seterr(p->ctx, SPEX_E_INVAL, "this prompt was built without a model");
    out->eval = prompt_eval_cb;
    out->eval_stream = prompt_eval_stream_cb;
    out->user = p;
    out->destroy = NULL;
    out->n = p->n;
    out->name = p->m ? "llm prompt" : "remote llm prompt";
    return SPEX_OK;
}
