/*
 * Top-k search over a sparse Möbius form (spex/topk.h): the k features whose
 * joint removal (or keeping) changes the surrogate most, exactly.
 *
 * HOW IT WORKS
 * Maximise G(R) = Σ over the terms S that R "activates" of c(S), with
 * c = -s·a for removal (a term is activated when R hits it) and c = s·a for
 * keeping (a term is activated when R contains it), s = ±1 the sign asked.
 * Only features that occur in some term matter; the others change nothing
 * and pad the set, so the search picks between max(0, k - #others) and k
 * "active" features.
 * Depth-first search over the active features in decreasing order of their
 * root bound, each either taken or left out (taken first); the incumbent
 * starts from a greedy set. The bound at a node is the current value plus
 * the r = k - |taken| largest per-feature optimistic gains among the
 * undecided features:
 *   removal: ub_j = Σ c(S)+ over terms S ∋ j not hit yet, since a new term
 *            is activated only through one of its features that gets taken;
 *   keeping: ub_j = Σ c(S)+ / |S \ taken| over terms S ∋ j that are not
 *            complete and have no left-out feature, since a newly completed
 *            term needs all its missing features taken and each of them is
 *            credited its share.
 * Negative terms only lower G, so the bound is valid and nodes whose bound
 * does not beat the incumbent are cut. With sign 0 both signs are searched.
 */
#include "spex/topk.h"

#include <stdlib.h>
#include <string.h>

#include "spex/masks.h"

spex_topk_opts spex_topk_opts_default(void) {
    spex_topk_opts o;
    memset(&o, 0, sizeof o);
    o.direction = SPEX_TOPK_REMOVE;
    o.sign = 0;
    o.max_nodes = 100000000;
    return o;
}

static int check_set(spex_ctx *ctx, int64_t n, const int32_t *idx, int k) {
    for (int i = 0; i < k; i++) {
        if (idx[i] < 0 || idx[i] >= n)
            return spex_seterr(ctx, SPEX_E_RANGE,
                               "top-k set: feature %d (position %d) is outside "
                               "0..%lld",
                               (int)idx[i], i, (long long)(n - 1));
        for (int j = 0; j < i; j++)
            if (idx[j] == idx[i])
                return spex_seterr(ctx, SPEX_E_INVAL, "top-k set: feature %d repeats", (int)idx[i]);
    }
    return SPEX_OK;
}

int spex_topk_change(const spex_coefs *mobius, spex_topk_direction dir, const int32_t *idx, int k,
                     double *change) {
    spex_ctx *ctx = spex_coefs_ctx(mobius);
    int64_t n = spex_coefs_n(mobius);
    *change = 0;
    int rc = check_set(ctx, n, idx, k);
    if (rc) return rc;
    uint64_t *in = spex_calloc(ctx, spex_bits_words(n), sizeof *in);
    if (!in) return SPEX_E_NOMEM;
    for (int i = 0; i < k; i++)
        spex_bits_set(in, idx[i], 1);
    double s = 0;
    for (int64_t t = 0; t < spex_coefs_count(mobius); t++) {
        const int32_t *S;
        int len;
        double v;
        spex_coefs_entry(mobius, t, &S, &len, &v);
        if (!len) continue;
        int hit = 0;
        for (int i = 0; i < len; i++)
            hit += spex_bits_get(in, S[i]);
        if (dir == SPEX_TOPK_REMOVE ? hit > 0 : hit == len) s += v;
    }
    *change = dir == SPEX_TOPK_REMOVE ? -s : s;
    spex_free(ctx, in);
    return SPEX_OK;
}

typedef struct {
    spex_topk_direction dir;
    int64_t n_terms, n_act;
    double *c; /* (n_terms) signed values */
    int *len, *hit, *dead;
    int64_t *toff; /* (n_terms+1) offsets into tfeat (positions in act) */
    int64_t *tfeat;
    int64_t *foff; /* (n_act+1) offsets into fterm */
    int64_t *fterm;
    int32_t *act; /* (n_act) feature ids, search order */
    int *taken;   /* (n_act) */
    double *ub;   /* (n_act) scratch */
    int k, lo;
    int64_t nodes, max_nodes;
    int aborted;
    double best;
    int *best_taken; /* (n_act) */
    int best_count;
} search;

static double feature_ub(const search *s, int64_t f) {
    double u = 0;
    for (int64_t p = s->foff[f]; p < s->foff[f + 1]; p++) {
        int64_t t = s->fterm[p];
        if (s->c[t] <= 0) continue;
        if (s->dir == SPEX_TOPK_REMOVE) {
            if (!s->hit[t]) u += s->c[t];
        } else if (!s->dead[t] && s->hit[t] < s->len[t]) {
            u += s->c[t] / (s->len[t] - s->hit[t]);
        }
    }
    return u;
}

static void take(search *s, int64_t f, int d, double *val) {
    for (int64_t p = s->foff[f]; p < s->foff[f + 1]; p++) {
        int64_t t = s->fterm[p];
        if (s->dir == SPEX_TOPK_REMOVE) {
            if (d > 0 && s->hit[t] == 0) *val += s->c[t];
            if (d < 0 && s->hit[t] == 1) *val -= s->c[t];
        } else {
            if (d > 0 && s->hit[t] + 1 == s->len[t]) *val += s->c[t];
            if (d < 0 && s->hit[t] == s->len[t]) *val -= s->c[t];
        }
        s->hit[t] += d;
    }
    s->taken[f] = d > 0;
}

static void leave(search *s, int64_t f, int d) {
    for (int64_t p = s->foff[f]; p < s->foff[f + 1]; p++)
        s->dead[s->fterm[p]] += d;
}

static void dfs(search *s, int64_t pos, int count, double val) {
    if (++s->nodes > s->max_nodes) {
        s->aborted = 1;
        return;
    }
    if (count >= s->lo && val > s->best) {
        s->best = val;
        memcpy(s->best_taken, s->taken, (size_t)s->n_act * sizeof *s->taken);
        s->best_count = count;
    }
    if (count == s->k || pos == s->n_act) return;
    int r = s->k - count;
    int64_t m = 0;
    for (int64_t f = pos; f < s->n_act; f++) {
        double u = feature_ub(s, f);
        if (u > 0) s->ub[m++] = u;
    }
    /* the r largest of ub[0..m): partial selection */
    double bound = val;
    for (int i = 0; i < r && i < m; i++) {
        int64_t b = i;
        for (int64_t j = i + 1; j < m; j++)
            if (s->ub[j] > s->ub[b]) b = j;
        double t = s->ub[i];
        s->ub[i] = s->ub[b];
        s->ub[b] = t;
        bound += s->ub[i];
    }
    /* no completion of this node can beat the incumbent */
    if (bound <= s->best + 1e-12 * (1 + (s->best < 0 ? -s->best : s->best))) return;
    double v2 = val;
    take(s, pos, +1, &v2);
    dfs(s, pos + 1, count + 1, v2);
    take(s, pos, -1, &v2);
    if (s->aborted) return;
    if (s->n_act - pos - 1 >= s->lo - count) {
        leave(s, pos, +1);
        dfs(s, pos + 1, count, val);
        leave(s, pos, -1);
    }
}

static int cmp_desc(const void *a, const void *b) {
    const double *x = a, *y = b; /* (score, feature) */
    if (x[0] != y[0]) return x[0] < y[0] ? 1 : -1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* One signed search; fills set (k, increasing) and *g (the maximised G). */
static int search_sign(const spex_coefs *mob, int k, spex_topk_direction dir, double sgn,
                       int64_t max_nodes, int32_t *set, double *g, int *optimal) {
    spex_ctx *ctx = spex_coefs_ctx(mob);
    int64_t n = spex_coefs_n(mob), nt = 0, nnz = 0, T = spex_coefs_count(mob);
    search s;
    memset(&s, 0, sizeof s);
    int64_t *pos_of = spex_malloc(ctx, (size_t)n * sizeof *pos_of);
    double *score = spex_calloc(ctx, (size_t)n, 2 * sizeof *score);
    int rc = SPEX_OK;
    if (!pos_of || !score) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    for (int64_t j = 0; j < n; j++)
        pos_of[j] = -1;
    for (int64_t t = 0; t < T; t++) {
        const int32_t *S;
        int len;
        double v;
        spex_coefs_entry(mob, t, &S, &len, &v);
        if (!len || v == 0.0) continue;
        nt++;
        nnz += len;
        for (int i = 0; i < len; i++) {
            double c = dir == SPEX_TOPK_REMOVE ? -sgn * v : sgn * v;
            score[2 * S[i]] += c > 0 ? (dir == SPEX_TOPK_REMOVE ? c : c / len) : 0;
            pos_of[S[i]] = 0;
        }
    }
    int64_t n_act = 0;
    for (int64_t j = 0; j < n; j++)
        if (pos_of[j] == 0) {
            score[2 * n_act] = score[2 * j];
            score[2 * n_act + 1] = (double)j;
            n_act++;
        }
    qsort(score, (size_t)n_act, 2 * sizeof *score, cmp_desc);
    s.dir = dir;
    s.n_terms = nt;
    s.n_act = n_act;
    s.k = k;
    s.lo = k - (int)(n - n_act) > 0 ? k - (int)(n - n_act) : 0;
    s.max_nodes = max_nodes;
    size_t A = (size_t)(n_act ? n_act : 1), NT = (size_t)(nt ? nt : 1),
           NZ = (size_t)(nnz ? nnz : 1);
    s.c = spex_malloc(ctx, NT * sizeof *s.c);
    s.len = spex_calloc(ctx, NT, sizeof *s.len);
    s.hit = spex_calloc(ctx, NT, sizeof *s.hit);
    s.dead = spex_calloc(ctx, NT, sizeof *s.dead);
    s.toff = spex_calloc(ctx, NT + 1, sizeof *s.toff);
    s.tfeat = spex_malloc(ctx, NZ * sizeof *s.tfeat);
    s.foff = spex_calloc(ctx, A + 1, sizeof *s.foff);
    s.fterm = spex_malloc(ctx, NZ * sizeof *s.fterm);
    s.act = spex_malloc(ctx, A * sizeof *s.act);
    s.taken = spex_calloc(ctx, A, sizeof *s.taken);
    s.best_taken = spex_calloc(ctx, A, sizeof *s.best_taken);
    s.ub = spex_malloc(ctx, A * sizeof *s.ub);
    if (!s.c || !s.len || !s.hit || !s.dead || !s.toff || !s.tfeat || !s.foff || !s.fterm ||
        !s.act || !s.taken || !s.best_taken || !s.ub) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    for (int64_t p = 0; p < n_act; p++) {
        s.act[p] = (int32_t)score[2 * p + 1];
        pos_of[s.act[p]] = p;
    }
    int64_t t2 = 0, z = 0;
    for (int64_t t = 0; t < T; t++) {
        const int32_t *S;
        int len;
        double v;
        spex_coefs_entry(mob, t, &S, &len, &v);
        if (!len || v == 0.0) continue;
        s.c[t2] = dir == SPEX_TOPK_REMOVE ? -sgn * v : sgn * v;
        s.len[t2] = len;
        for (int i = 0; i < len; i++) {
            s.tfeat[z++] = pos_of[S[i]];
            s.foff[pos_of[S[i]] + 1]++;
        }
        s.toff[++t2] = z;
    }
    for (int64_t p = 0; p < n_act; p++)
        s.foff[p + 1] += s.foff[p];
    {
        int64_t *fill = spex_calloc(ctx, A, sizeof *fill);
        if (!fill) {
            rc = SPEX_E_NOMEM;
            goto done;
        }
        for (int64_t t = 0; t < nt; t++)
            for (int64_t q = s.toff[t]; q < s.toff[t + 1]; q++) {
                int64_t f = s.tfeat[q];
                s.fterm[s.foff[f] + fill[f]++] = t;
            }
        spex_free(ctx, fill);
    }
    /* greedy incumbent: add the best feature k times (padding when best) */
    {
        double val = 0;
        int count = 0;
        s.best = -1e300;
        for (int step = 0; step < k; step++) {
            int64_t bf = -1;
            double bv = -1e300;
            for (int64_t f = 0; f < n_act; f++) {
                if (s.taken[f]) continue;
                double v2 = val;
                take(&s, f, +1, &v2);
                double gain = v2;
                take(&s, f, -1, &v2);
                if (gain > bv) {
                    bv = gain;
                    bf = f;
                }
            }
            if (bf < 0) break;
            /* stop and pad with inert features when no feature helps */
            if (bv <= val && count >= s.lo && count + (n - n_act) >= k) break;
            take(&s, bf, +1, &val);
            count++;
        }
        if (count >= s.lo) {
            s.best = val;
            memcpy(s.best_taken, s.taken, A * sizeof *s.taken);
            s.best_count = count;
        }
        for (int64_t f = 0; f < n_act; f++)
            if (s.taken[f]) take(&s, f, -1, &val);
    }
    dfs(&s, 0, 0, 0.0);
    *optimal = !s.aborted;
    *g = s.best;
    /* the set: taken active features, then padding by the lowest free ids */
    {
        int o = 0;
        for (int64_t p = 0; p < n_act; p++)
            if (s.best_taken[p]) set[o++] = s.act[p];
        for (int64_t j = 0; j < n && o < k; j++)
            if (pos_of[j] < 0) set[o++] = (int32_t)j;
        for (int i = 1; i < k; i++) /* insertion sort: k is small */
            for (int j = i; j > 0 && set[j - 1] > set[j]; j--) {
                int32_t t = set[j];
                set[j] = set[j - 1];
                set[j - 1] = t;
            }
        if (o != k)
            rc = spex_seterr(ctx, SPEX_E_INTERNAL, "top-k search built %d of %d features", o, k);
    }
done:
    spex_free(ctx, pos_of);
    spex_free(ctx, score);
    spex_free(ctx, s.c);
    spex_free(ctx, s.len);
    spex_free(ctx, s.hit);
    spex_free(ctx, s.dead);
    spex_free(ctx, s.toff);
    spex_free(ctx, s.tfeat);
    spex_free(ctx, s.foff);
    spex_free(ctx, s.fterm);
    spex_free(ctx, s.act);
    spex_free(ctx, s.taken);
    spex_free(ctx, s.best_taken);
    spex_free(ctx, s.ub);
    return rc;
}

int spex_topk_search(const spex_coefs *mobius, int k, const spex_topk_opts *opts, int32_t *set,
                     double *change, int *optimal) {
    spex_ctx *ctx = spex_coefs_ctx(mobius);
    int64_t n = spex_coefs_n(mobius);
    spex_topk_opts o = opts ? *opts : spex_topk_opts_default();
    *change = 0;
    *optimal = 0;
    if (k < 1 || k > n)
        return spex_seterr(ctx, SPEX_E_RANGE, "top-k: k = %d must be in 1..%lld", k, (long long)n);
    int32_t *other = spex_malloc(ctx, (size_t)k * sizeof *other);
    if (!other) return SPEX_E_NOMEM;
    double g1 = 0, g2 = -1e300;
    int opt1 = 1, opt2 = 1;
    double s1 = o.sign < 0 ? -1.0 : 1.0;
    int rc = search_sign(mobius, k, o.direction, s1, o.max_nodes, set, &g1, &opt1);
    if (!rc && o.sign == 0)
        rc = search_sign(mobius, k, o.direction, -1.0, o.max_nodes, other, &g2, &opt2);
    if (!rc) {
        *change = s1 * g1;
        if (o.sign == 0 && g2 > g1) {
            memcpy(set, other, (size_t)k * sizeof *set);
            *change = -g2;
        }
        *optimal = opt1 && opt2;
    }
    spex_free(ctx, other);
    return rc;
}
