/*
 * The forward pass of spex_llm: token (and, for gpt2, position) embedding,
 * n_layers blocks of norm -> attention -> residual, norm -> MLP ->
 * residual, and the final norm, over chunks of up to SPEXI_CHUNK positions;
 * the architecture (load.c) picks RMSNorm or LayerNorm, RoPE in either pair
 * order or none, and a SwiGLU or GELU MLP. Also the component ablation that
 * replaces heads' and MLP blocks' outputs, and their mean outputs. score.c
 * turns the results into log-probabilities.
 *
 * HOW IT WORKS (batches and the KV cache)
 * Tokens are processed in chunks of up to SPEXI_CHUNK positions at once:
 * each weight row is dequantised once per chunk and dotted with every
 * position's activation (a matrix-matrix product). Keys and values of every
 * processed position stay in the cache, (n_layers, n_ctx, kv_dim), together
 * with the tokens they belong to. A new sequence that starts with the same
 * tokens as the cached one reuses their keys and values and processes only
 * the rest (causal attention: position p depends only on tokens 0..p),
 * which is what makes ablated variants of one prompt cheap when they share
 * a start. Several sequences can also share one pass (spexi_run_batch):
 * their rows are stacked into one chunk, so each weight streams once for
 * all of them; each row attends to the cached common prefix and then to its
 * own sequence's keys, kept in side slots past n_ctx. The working memory of a chunk is one slab,
 * carved once into the buffers of spexi_scratch (model_int.h).
 */
#include "llm/model_int.h"

#include <math.h>
#include <omp.h>
#include <string.h>

int spexi_scratch_alloc(spex_llm *m, int nt) {
    spexi_scratch *s = &m->s;
    if (s->slab && s->n_threads >= nt) return SPEX_OK;
    const spex_llm_info *I = &m->info;
    double C = SPEXI_CHUNK, D = (double)I->dim, KV = (double)m->kv_dim, F = (double)I->ffn_dim;
    struct {
        float **p;
        double n; /* floats */
    } buf[] = {{&s->x, C * D},
               {&s->q, C * D},
               {&s->att, C * D},
               {&s->k, C * KV},
               {&s->v, C * KV},
               {&s->hb, C * F},
               {&s->hb2, C * F},
               {&s->xb, C * D},
               {&s->logits, C * (double)I->n_vocab},
               {&s->rows, nt * (double)spexi_matmul_rows_floats(F > D ? I->ffn_dim : I->dim)},
               {&s->scores, nt * (double)I->n_ctx}};
    enum { N_BUF = sizeof buf / sizeof buf[0] };
    double total = 0;
    for (int i = 0; i < N_BUF; i++)
        total += buf[i].n;
    if (total > (double)(SIZE_MAX / 8))
        return spex_seterr(m->ctx, SPEX_E_NOMEM, "scratch of %g floats is too large", total);
    float *slab = spex_malloc(m->ctx, (size_t)total * sizeof(float));
    if (!slab) return SPEX_E_NOMEM;
    spex_free(m->ctx, s->slab);
    s->slab = slab;
    s->n_threads = nt;
    for (int i = 0; i < N_BUF; i++) {
        *buf[i].p = slab;
        slab += (size_t)buf[i].n;
    }
    return SPEX_OK;
}

/* The rows of one forward pass (at most SPEXI_CHUNK): row t is token
 * tok[t] at position pos[t], under ablation abl[t] (NULL: none); its key
 * and value go to cache slot slot[t], and it attends to slots
 * [0, n_main[t]) and then [own0[t], slot[t]]: the shared cached prefix,
 * then its own sequence's positions. One sequence's chunk has n_main 0 and
 * own0 0; in a multi-sequence pass n_main is the shared prefix and own0
 * the first of the sequence's side slots (n_ctx and up). Either way a row
 * visits the same keys in the same order as when its sequence runs alone,
 * which is why its bits do not depend on the company it keeps. */
typedef struct pass_rows {
    int64_t T;
    int32_t tok[SPEXI_CHUNK];
    int64_t pos[SPEXI_CHUNK], slot[SPEXI_CHUNK], n_main[SPEXI_CHUNK], own0[SPEXI_CHUNK];
    const spex_llm_ablation *abl[SPEXI_CHUNK];
} pass_rows;

static int head_ablated(const spex_llm_ablation *a, int64_t i) {
    return a && a->heads && a->heads[i];
}
static int mlp_ablated(const spex_llm_ablation *a, int64_t l) {
    return a && a->mlps && a->mlps[l];
}

/* Causal attention of row t's query head h over its slots (pass_rows)
 * into o (head_dim). */
static void attend(const spex_llm *m, const pass_rows *r, int64_t t, int64_t h, float *qh,
                   const float *kc, const float *vc, float *sc, float *o) {
    int64_t KV = m->kv_dim, hd = m->head_dim, g = m->info.n_heads / m->info.n_kv_heads;
    int64_t n_main = r->n_main[t], own0 = r->own0[t], n_pos = n_main + r->slot[t] - own0 + 1;
    float scale = (float)(1.0 / sqrt((double)hd));
    if (m->kv_f16) /* an F16 cache multiplies in half precision */
        for (int64_t i = 0; i < hd; i++)
            qh[i] = spexi_f16_to_f32(spexi_f32_to_f16(qh[i]));
    const float *kh = kc + (h / g) * hd, *vh = vc + (h / g) * hd;
    float mx = -INFINITY;
    for (int64_t j = 0; j < n_pos; j++) {
        int64_t p = j < n_main ? j : own0 + (j - n_main);
        sc[j] = m->dot(qh, kh + p * KV, hd) * scale;
        if (sc[j] > mx) mx = sc[j];
    }
    double sum = 0;
    for (int64_t j = 0; j < n_pos; j++) {
        sc[j] = expf(sc[j] - mx);
        sum += sc[j];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < hd; i++)
        o[i] = 0;
    for (int64_t j = 0; j < n_pos; j++) {
        int64_t p = j < n_main ? j : own0 + (j - n_main);
        float w = sc[j] * inv;
        if (m->kv_f16) w = spexi_f16_to_f32(spexi_f32_to_f16(w));
        const float *vp = vh + p * KV;
        for (int64_t i = 0; i < hd; i++)
            o[i] += w * vp[i];
    }
}

/* Runs the rows of r through the model and leaves the final normalised
 * hidden states in m->s.xb (T, dim). */
static void forward_pass(spex_llm *m, const pass_rows *r) {
    const spex_llm_info *I = &m->info;
    int64_t D = I->dim, F = I->ffn_dim, KV = m->kv_dim, hd = m->head_dim, H = I->n_heads;
    int64_t T = r->T, n_slots = m->n_slots;
    int nt = spexi_n_threads(m);
    const spexi_scratch *s = &m->s;
    float *x = s->x, *xb = s->xb, *q = s->q, *k = s->k, *v = s->v, *att = s->att;
    float *hb = s->hb, *hb2 = s->hb2, *rows = s->rows;
    int neox = m->rope == SPEXI_ROPE_NEOX;

    for (int64_t t = 0; t < T; t++)
        m->deq(m->embd.type, m->embd.data + (size_t)r->tok[t] * m->embd.row_size, D, x + t * D);
    if (m->pos_embd.data) /* learned absolute positions (gpt2) */
        for (int64_t t = 0; t < T; t++) {
            m->deq(m->pos_embd.type, m->pos_embd.data + (size_t)r->pos[t] * m->pos_embd.row_size, D,
                   xb);
            for (int64_t i = 0; i < D; i++)
                x[t * D + i] += xb[i];
        }
    /* attention work of the pass: threads pay off past ~2^18 multiply-adds */
    double work = 0;
    for (int64_t t = 0; t < T; t++)
        work += (double)(r->n_main[t] + r->slot[t] - r->own0[t] + 1);
    int par = nt > 1 && work * (double)H * (double)hd >= 262144.0;
    for (int64_t l = 0; l < I->n_layers; l++) {
        const spexi_layer *ly = &m->layers[l];
        float *kc = m->kc + (size_t)l * n_slots * KV, *vc = m->vc + (size_t)l * n_slots * KV;
        spexi_block_norm(m, xb, x, ly->attn_norm, ly->an_b, T);
        spexi_matmul(m, &ly->wq, xb, T, q, rows);
        spexi_matmul(m, &ly->wk, xb, T, k, rows);
        spexi_matmul(m, &ly->wv, xb, T, v, rows);
        if (ly->bq) {
            spexi_add_bias(q, ly->bq, T, D);
            spexi_add_bias(k, ly->bk, T, KV);
            spexi_add_bias(v, ly->bv, T, KV);
        }
        for (int64_t t = 0; t < T; t++) {
            const float *rc = m->rope_cos + r->pos[t] * (m->n_rot / 2);
            const float *rs = m->rope_sin + r->pos[t] * (m->n_rot / 2);
            if (m->rope != SPEXI_ROPE_NONE) {
                spexi_rope(q + t * D, H, hd, m->n_rot, rc, rs, neox);
                spexi_rope(k + t * KV, I->n_kv_heads, hd, m->n_rot, rc, rs, neox);
            }
            if (m->kv_f16)
                for (int64_t i = 0; i < KV; i++) {
                    k[t * KV + i] = spexi_f16_to_f32(spexi_f32_to_f16(k[t * KV + i]));
                    v[t * KV + i] = spexi_f16_to_f32(spexi_f32_to_f16(v[t * KV + i]));
                }
            memcpy(kc + r->slot[t] * KV, k + t * KV, (size_t)KV * sizeof(float));
            memcpy(vc + r->slot[t] * KV, v + t * KV, (size_t)KV * sizeof(float));
        }
        /* rows differ in length: (row, head) pairs are handed out as threads
         * come free */
#pragma omp parallel for num_threads(nt) schedule(dynamic, 8) if (par)
        for (int64_t th = 0; th < T * H; th++) {
            int64_t t = th / H, h = th % H;
            float *o = att + t * D + h * hd;
            const spex_llm_ablation *a = r->abl[t];
            if (head_ablated(a, l * H + h)) { /* ablated: its replacement */
                const float *val = a->head_values ? a->head_values + (l * H + h) * hd : NULL;
                for (int64_t i = 0; i < hd; i++)
                    o[i] = val ? val[i] : 0.0f;
                continue;
            }
            attend(m, r, t, h, q + t * D + h * hd, kc, vc,
                   s->scores + (size_t)omp_get_thread_num() * I->n_ctx, o);
        }
        if (m->sum_head) /* head (l, h) is att[t][h * hd ..], summed at l * D + h * hd */
            for (int64_t i = 0; i < T * D; i++)
                m->sum_head[l * D + i % D] += att[i];
        spexi_matmul(m, &ly->wo, att, T, q, rows);
        if (ly->bo) spexi_add_bias(q, ly->bo, T, D);
        for (int64_t i = 0; i < T * D; i++)
            x[i] += q[i];
        /* an ablated MLP adds its replacement instead of its output; when
         * every row's is ablated nothing is computed */
        int64_t n_abl = 0;
        for (int64_t t = 0; t < T; t++)
            n_abl += mlp_ablated(r->abl[t], l);
        if (n_abl < T) {
            spexi_block_norm(m, xb, x, ly->ffn_norm, ly->fn_b, T);
            if (m->mlp == SPEXI_MLP_GELU) { /* up (+ bias), GELU, down (+ bias) */
                spexi_matmul(m, &ly->wu, xb, T, hb, rows);
                spexi_add_bias(hb, ly->bu, T, F);
                spexi_gelu(hb, T * F);
                spexi_matmul(m, &ly->wd, hb, T, q, rows);
                spexi_add_bias(q, ly->bd, T, D);
            } else { /* SwiGLU */
                spexi_matmul(m, &ly->wg, xb, T, hb, rows);
                spexi_matmul(m, &ly->wu, xb, T, hb2, rows);
                for (int64_t i = 0; i < T * F; i++)
                    hb[i] = hb[i] / (1.0f + expf(-hb[i])) * hb2[i];
                spexi_matmul(m, &ly->wd, hb, T, q, rows);
            }
            if (m->sum_mlp)
                for (int64_t i = 0; i < T * D; i++)
                    m->sum_mlp[l * D + i % D] += q[i];
        }
        for (int64_t t = 0; t < T; t++) {
            const spex_llm_ablation *a = r->abl[t];
            const float *add = q + t * D;
            if (mlp_ablated(a, l)) {
                if (!a->mlp_values) continue;
                add = a->mlp_values + l * D;
            }
            for (int64_t i = 0; i < D; i++)
                x[t * D + i] += add[i];
        }
    }
    spexi_block_norm(m, xb, x, m->out_norm, m->out_norm_b, T);
}

/* SPEX_E_RANGE unless seq[0..n) fits the context and the vocabulary. */
static int check_tokens(const spex_llm *m, const int32_t *seq, int64_t n) {
    const spex_llm_info *I = &m->info;
    if (n < 1 || n > I->n_ctx)
        return spex_seterr(m->ctx, SPEX_E_RANGE, "sequence of %lld tokens (context is %lld)",
                           (long long)n, (long long)I->n_ctx);
    for (int64_t i = 0; i < n; i++)
        if (seq[i] < 0 || seq[i] >= I->n_vocab)
            return spex_seterr(m->ctx, SPEX_E_RANGE,
                               "token %lld = %d is not in the vocabulary (%lld)", (long long)i,
                               seq[i], (long long)I->n_vocab);
    return SPEX_OK;
}

int spexi_run_seq(spex_llm *m, const int32_t *seq, int64_t n_run, int64_t want_from, int reuse,
                  int hidden, spexi_emit_fn emit, void *user) {
    const spex_llm_info *I = &m->info;
    int rc = check_tokens(m, seq, n_run);
    if (!rc) rc = spexi_scratch_alloc(m, spexi_n_threads(m));
    if (rc) return rc;
    int64_t start = 0;
    if (reuse)
        while (start < m->n_cached && start < n_run && m->cache_tok[start] == seq[start])
            start++;
    if (start > want_from) start = want_from;
    m->n_cached = start;
    const spexi_scratch *s = &m->s;
    pass_rows r;
    const spex_llm_ablation *a = m->abl_on ? &m->abl_view : NULL;
    for (int64_t p0 = start; p0 < n_run; p0 += SPEXI_CHUNK) {
        int64_t T = n_run - p0 < SPEXI_CHUNK ? n_run - p0 : SPEXI_CHUNK;
        r.T = T;
        for (int64_t t = 0; t < T; t++) {
            r.tok[t] = seq[p0 + t];
            r.pos[t] = r.slot[t] = p0 + t;
            r.n_main[t] = r.own0[t] = 0;
            r.abl[t] = a;
        }
        forward_pass(m, &r);
        memcpy(m->cache_tok + p0, seq + p0, (size_t)T * sizeof(int32_t));
        m->n_cached = p0 + T;
        int64_t first = want_from > p0 ? want_from - p0 : 0;
        if (first >= T) continue;
        if (hidden) {
            for (int64_t t = first; t < T; t++)
                emit(user, p0 + t, s->xb + t * I->dim);
            continue;
        }
        spexi_matmul(m, &m->output, s->xb + first * I->dim, T - first, s->logits, s->rows);
        for (int64_t t = first; t < T; t++)
            emit(user, p0 + t, s->logits + (t - first) * I->n_vocab);
    }
    return SPEX_OK;
}

int spexi_run_batch(spex_llm *m, int64_t nb, const int32_t *const *seqs, const int64_t *n_run,
                    const int64_t *want_from, int64_t P, const spex_llm_ablation *const *abl,
                    spexi_emit_batch_fn emit, void *user) {
    int64_t total = 0;
    if (P < 0 || P > m->n_cached)
        return spex_seterr(m->ctx, SPEX_E_INVAL, "batch: prefix of %lld with %lld cached",
                           (long long)P, (long long)m->n_cached);
    for (int64_t b = 0; b < nb; b++) {
        int rc = check_tokens(m, seqs[b], n_run[b]);
        if (rc) {
            spex_errprefix(m->ctx, "sequence %lld of the batch", (long long)b);
            return rc;
        }
        if (n_run[b] <= P || want_from[b] < P ||
            memcmp(seqs[b], m->cache_tok, (size_t)P * sizeof(int32_t)))
            return spex_seterr(m->ctx, SPEX_E_INVAL,
                               "batch: sequence %lld does not extend the cached prefix of %lld",
                               (long long)b, (long long)P);
        total += n_run[b] - P;
    }
    if (total > SPEXI_CHUNK)
        return spex_seterr(m->ctx, SPEX_E_INVAL, "batch of %lld rows (at most %d)",
                           (long long)total, SPEXI_CHUNK);
    int rc = spexi_scratch_alloc(m, spexi_n_threads(m));
    if (rc) return rc;
    pass_rows r;
    r.T = 0;
    for (int64_t b = 0; b < nb; b++) {
        int64_t own0 = m->info.n_ctx + r.T;
        for (int64_t p = P; p < n_run[b]; p++, r.T++) {
            r.tok[r.T] = seqs[b][p];
            r.pos[r.T] = p;
            r.slot[r.T] = own0 + p - P;
            r.n_main[r.T] = P;
            r.own0[r.T] = own0;
            r.abl[r.T] = abl ? abl[b] : NULL;
        }
    }
    forward_pass(m, &r);
    m->n_batch_passes++;
    int64_t row = 0;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t p = P; p < n_run[b]; p++, row++)
            if (p >= want_from[b]) emit(user, b, p, m->s.xb + row * m->info.dim);
    return SPEX_OK;
}

/* ----------------------------------------------------------- ablation -- */

int64_t spex_llm_head_dim(const spex_llm *m) {
    return m->head_dim;
}

/* Copies n floats of src into *dst (allocated on first use), or frees *dst
 * when src is NULL; SPEX_E_VALUE for a non-finite value. */
static int check_values(spex_llm *m, const float *v, int64_t n, const char *what) {
    for (int64_t i = 0; v && i < n; i++)
        if (!isfinite(v[i]))
            return spex_seterr(m->ctx, SPEX_E_VALUE, "ablation: %s value %lld is not finite", what,
                               (long long)i);
    return SPEX_OK;
}

int spexi_check_ablation(spex_llm *m, const spex_llm_ablation *a) {
    int64_t n = m->info.n_layers * m->info.dim;
    int rc = a ? check_values(m, a->head_values, n, "head") : SPEX_OK;
    return rc || !a ? rc : check_values(m, a->mlp_values, n, "MLP");
}

static int copy_values(spex_llm *m, const float *src, int64_t n, float **dst, const char *what) {
    if (!src) {
        spex_free(m->ctx, *dst);
        *dst = NULL;
        return SPEX_OK;
    }
    int rc = check_values(m, src, n, what);
    if (rc) return rc;
    if (!*dst && !(*dst = spex_malloc(m->ctx, (size_t)n * sizeof(float)))) return SPEX_E_NOMEM;
    memcpy(*dst, src, (size_t)n * sizeof(float));
    return SPEX_OK;
}

int spex_llm_set_ablation(spex_llm *m, const spex_llm_ablation *a) {
    int64_t L = m->info.n_layers, H = m->info.n_heads, D = m->info.dim;
    m->n_cached = 0; /* cached keys and values belong to the old ablation */
    m->abl_on = 0;
    if (!a) return SPEX_OK;
    if (!m->abl_heads) {
        m->abl_heads = spex_calloc(m->ctx, (size_t)(L * H), 1);
        m->abl_mlps = spex_calloc(m->ctx, (size_t)L, 1);
        if (!m->abl_heads || !m->abl_mlps) return SPEX_E_NOMEM;
    }
    int rc = copy_values(m, a->head_values, L * D, &m->abl_head_val, "head");
    if (!rc) rc = copy_values(m, a->mlp_values, L * D, &m->abl_mlp_val, "MLP");
    if (rc) return rc;
    for (int64_t i = 0; i < L * H; i++) {
        m->abl_heads[i] = a->heads && a->heads[i];
        m->abl_on |= m->abl_heads[i];
    }
    for (int64_t l = 0; l < L; l++) {
        m->abl_mlps[l] = a->mlps && a->mlps[l];
        m->abl_on |= m->abl_mlps[l];
    }
    m->abl_view = (spex_llm_ablation){m->abl_heads, m->abl_mlps, m->abl_head_val, m->abl_mlp_val};
    return SPEX_OK;
}

static void emit_none(void *user, int64_t p, const float *logits) {
    (void)user, (void)p, (void)logits;
}

int spex_llm_component_means(spex_llm *m, int64_t n, const int32_t *const *seqs,
                             const int64_t *lens, float *head_means, float *mlp_means) {
    int64_t L = m->info.n_layers, D = m->info.dim, count = 0;
    double *sums = spex_calloc(m->ctx, (size_t)(2 * L * D), sizeof *sums);
    if (!sums) return SPEX_E_NOMEM;
    int saved = m->abl_on, rc = SPEX_OK;
    m->abl_on = 0;
    m->sum_head = sums;
    m->sum_mlp = sums + L * D;
    /* no prefix reuse: every position of every sequence is processed once */
    for (int64_t i = 0; i < n && !rc; i++) {
        m->n_cached = 0;
        rc = spexi_run_seq(m, seqs[i], lens[i], lens[i], 0, 0, emit_none, NULL);
        if (rc) spex_errprefix(m->ctx, "reference sequence %lld", (long long)i);
        count += lens[i];
    }
    m->sum_head = m->sum_mlp = NULL;
    m->abl_on = saved;
    m->n_cached = 0; /* the cache holds unablated keys and values */
    if (!rc && count == 0)
        rc = spex_seterr(m->ctx, SPEX_E_INVAL, "component means: no reference tokens");
    for (int64_t i = 0; !rc && i < L * D; i++) {
        if (head_means) head_means[i] = (float)(sums[i] / (double)count);
        if (mlp_means) mlp_means[i] = (float)(sums[L * D + i] / (double)count);
    }
    spex_free(m->ctx, sums);
    return rc;
}
