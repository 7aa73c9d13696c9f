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
    spex_llm *m; /* borrowed; NULL: texts only */
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

/* Token units: the engine's tokens of the prompt (no BOS); a piece's leading
 * spaces are its lead. */
static int split_tokens(spex_prompt *p, const char *s) {
    int32_t *tok = NULL;
    int64_t nt = 0;
    int rc = spex_llm_tokenize(p->m, s, strlen(s), 0, &tok, &nt);
    for (int64_t i = 0; !rc && i < nt; i++) {
        const char *piece;
        size_t plen, k = 0;
        rc = spex_llm_token_piece(p->m, tok[i], &piece, &plen);
        if (rc) break;
        while (k < plen && piece[k] == ' ')
            k++;
        if (k == plen) { /* a piece of spaces only: keep it as text */
            rc = add_unit(p, "", 0, piece, plen);
            continue;
        }
        rc = add_unit(p, piece, k, piece + k, plen - k);
    }
    spex_free(p->ctx, tok);
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
    int32_t *tok = NULL, *gen = NULL;
    int64_t nt = 0, ng = 0;
    spex_llm_info info;
    spex_llm_get_info(p->m, &info);
    int rc = spex_prompt_text(p, NULL, &text);
    if (!rc) rc = spex_llm_tokenize(p->m, text, strlen(text), 1, &tok, &nt);
    if (!rc) rc = spex_llm_generate(p->m, tok, nt, max_tokens, &gen, &ng);
    int64_t keep = 0;
    while (!rc && keep < ng && gen[keep] != info.eos) {
        const char *piece;
        size_t len;
        rc = spex_llm_token_piece(p->m, gen[keep], &piece, &len);
        if (!rc && memchr(piece, '\n', len)) break;
        keep++;
    }
    if (!rc && keep == 0)
        rc = spex_seterr(p->ctx, SPEX_E_VALUE,
                         "the model's greedy answer to the full prompt is empty (it ends or "
                         "breaks the line at once); give a target");
    if (!rc) rc = spex_llm_detokenize(p->m, gen, keep, 0, &p->target);
    spex_free(p->ctx, text);
    spex_free(p->ctx, tok);
    spex_free(p->ctx, gen);
    return rc;
}

int spex_prompt_new(spex_ctx *ctx, spex_llm *m, const char *prompt, const spex_prompt_opts *opts,
                    spex_prompt **out) {
    *out = NULL;
    spex_prompt_opts def = spex_prompt_opts_default();
    const spex_prompt_opts *o = opts ? opts : &def;
    if (!prompt || !*prompt) return spex_seterr(ctx, SPEX_E_INVAL, "the prompt is empty");
    if ((unsigned)o->unit > SPEX_PROMPT_SEGMENT)
        return spex_seterr(ctx, SPEX_E_INVAL, "unknown unit %d", (int)o->unit);
    if (o->unit == SPEX_PROMPT_TOKEN && !m)
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
    if (!rc && m && !p->target) rc = greedy_answer(p, o->max_answer_tokens);
    if (rc) {
        if (rc == SPEX_E_NOMEM) spex_seterr(ctx, rc, "out of memory");
        spex_prompt_free(p);
        return rc;
    }
    *out = p;
    return SPEX_OK;
}

/* Tokens of text (with BOS) and of text + cont; SPEX_E_VALUE when cont adds
 * no token or text's tokens are not a prefix of the joint tokenization. On
 * success *seq (owned) holds the joint tokens and *from the prompt's count. */
static int joint_tokens(spex_prompt *p, const char *text, size_t len, const char *cont, sbuf *tmp,
                        int32_t **seq, int64_t *n_seq, int64_t *from) {
    int32_t *pt = NULL, *jt = NULL;
    int64_t np = 0, nj = 0;
    *seq = NULL;
    tmp->len = 0;
    sb_put(tmp, text, len);
    sb_put(tmp, cont, strlen(cont));
    if (tmp->err) return spex_seterr(p->ctx, SPEX_E_NOMEM, "out of memory");
    int rc = spex_llm_tokenize(p->m, text, len, 1, &pt, &np);
    if (!rc) rc = spex_llm_tokenize(p->m, tmp->s, tmp->len, 1, &jt, &nj);
    if (!rc && (nj <= np || memcmp(pt, jt, (size_t)np * sizeof *pt)))
        rc = SPEX_E_VALUE; /* the caller names the mask */
    spex_free(p->ctx, pt);
    if (rc) {
        spex_free(p->ctx, jt);
        return rc;
    }
    *seq = jt;
    *n_seq = nj;
    *from = np;
    return SPEX_OK;
}

int spex_prompt_eval(spex_prompt *p, const spex_masks *batch, double *out) {
    int64_t nb = spex_masks_count(batch);
    int n_cont = p->contrast ? 2 : 1;
    if (!p->m || !p->target)
        return spex_seterr(p->ctx, SPEX_E_INVAL, "this prompt was built without a model");
    for (int64_t i = 0; i < nb; i++)
        out[i] = NAN;
    if (nb == 0) return SPEX_OK;
    int64_t cap = nb * n_cont, k = 0, bad = -1;
    int32_t **seqs = spex_calloc(p->ctx, (size_t)cap, sizeof *seqs);
    int64_t *lens = spex_calloc(p->ctx, (size_t)cap, sizeof *lens);
    int64_t *from = spex_calloc(p->ctx, (size_t)cap, sizeof *from);
    int64_t *owner = spex_calloc(p->ctx, (size_t)cap, sizeof *owner);
    double *lp = spex_calloc(p->ctx, (size_t)cap, sizeof *lp);
    char first_bad[512] = "";
    int rc = seqs && lens && from && owner && lp ? SPEX_OK : SPEX_E_NOMEM;
    /* (nb, n_cont) token sequences: target (and contrast) after each masked prompt */
    for (int64_t i = 0; !rc && i < nb; i++) {
        int nc = 0;
        rc = spex_prompt_sequences(p, spex_masks_crow(batch, i), &seqs[k], &lens[k], &from[k], &nc);
        for (int c = 0; c < nc; c++)
            owner[k++] = i;
        if (rc == SPEX_E_VALUE) { /* this mask cannot be scored: NaN, go on */
            if (bad < 0) {
                bad = i;
                snprintf(first_bad, sizeof first_bad, "masked %s", spex_errmsg(p->ctx));
            }
            rc = SPEX_OK;
        }
    }
    if (!rc && k > 0)
        rc = spex_llm_score_tokens_batch(p->m, k, (const int32_t *const *)seqs, lens, from, 1, lp);
    if (!rc)
        for (int64_t j = 0; j < k; j += n_cont)
            out[owner[j]] = n_cont == 2 ? lp[j] - lp[j + 1] : lp[j];
    else
        for (int64_t i = 0; i < nb; i++)
            out[i] = NAN;
    for (int64_t j = 0; seqs && j < k; j++)
        spex_free(p->ctx, seqs[j]);
    spex_free(p->ctx, seqs);
    spex_free(p->ctx, lens);
    spex_free(p->ctx, from);
    spex_free(p->ctx, owner);
    spex_free(p->ctx, lp);
    if (rc == SPEX_E_NOMEM) return spex_seterr(p->ctx, rc, "out of memory");
    if (rc) return rc;
    return bad >= 0 ? spex_seterr(p->ctx, SPEX_E_VALUE, "%s", first_bad) : SPEX_OK;
}

int spex_prompt_sequences(spex_prompt *p, const uint64_t *mask, int32_t *seqs[2], int64_t lens[2],
                          int64_t from[2], int *n_seqs) {
    int n_cont = p->contrast ? 2 : 1;
    for (int c = 0; c < n_cont; c++)
        seqs[c] = NULL; /* seqs[1] exists only with a contrast */
    *n_seqs = 0;
    if (!p->m || !p->target)
        return spex_seterr(p->ctx, SPEX_E_INVAL, "this prompt was built without a model");
    sbuf body = {p->ctx, NULL, 0, 0, 0}, text = {p->ctx, NULL, 0, 0, 0},
         tmp = {p->ctx, NULL, 0, 0, 0};
    int rc = build_text(p, mask, &body, &text);
    for (int c = 0; !rc && c < n_cont; c++) {
        rc = joint_tokens(p, text.s, text.len, c ? p->contrast : p->target, &tmp, &seqs[c],
                          &lens[c], &from[c]);
        if (rc == SPEX_E_VALUE)
            spex_seterr(p->ctx, rc,
                        "prompt '%s': the tokens of the %s do not extend the prompt's "
                        "(llama.cpp's continuation convention)",
                        text.s, c ? "contrast" : "target");
    }
    if (rc) {
        spex_free(p->ctx, seqs[0]);
        seqs[0] = NULL;
    } else {
        *n_seqs = n_cont;
    }
    spex_free(p->ctx, body.s);
    spex_free(p->ctx, text.s);
    spex_free(p->ctx, tmp.s);
    if (rc == SPEX_E_NOMEM) return spex_seterr(p->ctx, rc, "out of memory");
    return rc;
}

static int prompt_eval_cb(void *user, const spex_masks *batch, double *out) {
    return spex_prompt_eval(user, batch, out);
}

int spex_prompt_valuefn(spex_prompt *p, spex_valuefn *out) {
    memset(out, 0, sizeof *out);
    if (!p->m || !p->target)
        return spex_seterr(p->ctx, SPEX_E_INVAL, "this prompt was built without a model");
    out->eval = prompt_eval_cb;
    out->user = p;
    out->destroy = NULL;
    out->n = p->n;
    out->name = "llm prompt";
    return SPEX_OK;
}
