/*
 * ProxySPEX (Butler et al., NeurIPS 2025; DESIGN.md §3): uniform random
 * masks, a gradient-boosted tree proxy through XGBoost's C API chosen by
 * K-fold cross-validation, the proxy's exact Fourier form
 * (proxyspex_trees.c), truncation, and a ridge refit on the sampled data.
 *
 * HOW IT WORKS
 * Grid search. Every (max depth, learning rate) pair of the grid is fitted
 * once per fold with the largest round count of the grid; each smaller round
 * count is scored from the same booster by predicting with the first r
 * rounds only (iteration_end = r), so the grid costs |depths|·|lrs|·K fits,
 * not |depths|·|lrs|·|rounds|·K. The score is the mean validation MSE over
 * the folds (equivalently R²); the best triple is refitted on all masks.
 * The K·|depths|·|lrs| fits run on spex_ctx_threads(ctx) worker threads, one
 * XGBoost thread each (XGBoost's own OpenMP threads synchronise several
 * times per round, which on a shared, loaded machine made a run 10x slower
 * than one thread); scores are reduced in fold order, so the result does not
 * depend on the thread count. Workers take jobs from a queue, deepest trees
 * first, so that load from other programs does not idle a core.
 * Sparse input. The masks reach XGBoost with their zeros as missing entries
 * (spexi_gbt_params.zero_missing): its histogram pass then visits only the
 * ones, about half the entries of a uniform mask, and fits about twice as
 * fast. The candidate splits are the same (on a 0/1 feature the only
 * partition is {0} | {1}, whichever branch the default direction names), so
 * the proxy is the same function; extraction reads x_j = 0 as the split's
 * "missing" branch.
 * Truncation. The reference keeps the largest coefficients holding 95% of
 * the non-constant energy, which caps faithfulness near R² = 0.95 when the
 * trees spread energy over many small spurious terms. Here the energy
 * fraction is chosen by cross-validation instead: for each candidate
 * fraction in {0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1} the kept
 * support is refitted by ridge (±1 Fourier columns, penalty by 5-fold CV over
 * 100 values in [1e-6, 1e6], one Gram eigendecomposition per fold), and the
 * support with the lowest CV error wins. A support is capped at rows/2
 * columns (and SPEX_PROXY_MAX_COLS) so the refit stays well posed.
 * Prior refit. Each truncation is also refitted with the penalty of term k
 * scaled by |F_k|^-gamma (gamma in {1, 2}: columns scaled by |F_k|^(gamma/2)),
 * a Gaussian prior that trusts the terms the trees call large. On functions
 * with a dense tail of small real terms (the word prompts of bench/faith.py)
 * it keeps far more terms at little variance. Its CV error is optimistic
 * (the trees saw the validation folds), so whether the prior (no pruning)
 * or the plain pipeline (gamma = 0, noise-level pruning in refit.c) is used
 * is decided out of sample: both run on 80% of the samples with the chosen
 * tree settings and are scored on the other 20% (prior_holdout). Noisy
 * sparse games keep the plain pipeline and its figures.
 * Growth (proxyspex_grow.c). The trees miss the small high-order terms of
 * a hierarchical function; candidates suggested by the kept terms (their
 * subsets, unions of two terms one element apart) that the residuals call
 * for are added and refitted while the CV error falls. On the planted
 * hierarchical n = 128 game this turns R² 0.9955 at 5,000 masks into an
 * exact recovery (bench/RESULTS.md, ProxySPEX).
 * Degenerate cases: no non-constant energy gives the constant surrogate (the
 * mean); an empty support gives the mean as well.
 */
#include "algo/algo_int.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spex/linalg.h"
#include "spex/masks.h"

#define SPEX_PROXY_MAX_COLS 1500
#define SPEX_PROXY_DEFAULT_BUDGET 5000

spexi_proxy_opts spexi_proxy_opts_default(void) {
    spexi_proxy_opts o;
    memset(&o, 0, sizeof o);
    o.n_folds = 5;
    o.n_depths = 2;
    o.depths[0] = 3;
    o.depths[1] = 5;
    o.n_rounds = 2;
    o.rounds[0] = 500;
    o.rounds[1] = 1000;
    o.n_lrs = 2;
    o.lrs[0] = 0.01;
    o.lrs[1] = 0.1;
    o.cv_truncation = 1;
    o.energy = 0.95;
    o.grow_rounds = 6;
    o.n_gammas = 3;
    o.gammas[0] = 0.0;
    o.gammas[1] = 1.0;
    o.gammas[2] = 2.0;
    return o;
}

void spexi_proxy_cap_degree(spexi_proxy_opts *po, int degree) {
    if (degree <= 0) return;
    po->max_order = degree;
    /* a tree of depth d holds interactions of order <= d: clip the grid's
     * depths to the degree, keeping each depth once */
    int m = 0;
    for (int i = 0; i < po->n_depths; i++) {
        int d = po->depths[i] < degree ? po->depths[i] : degree, dup = 0;
        for (int j = 0; j < m; j++)
            dup |= po->depths[j] == d;
        if (!dup) po->depths[m++] = d;
    }
    po->n_depths = m;
}

int spexi_gbt_fourier(spex_ctx *ctx, spexi_gbt *g, int64_t n, double base_score, spex_coefs **out) {
    const char *const *dump = NULL;
    int64_t n_trees = 0;
    int zm = 0;
    *out = NULL;
    int rc = spexi_gbt_dump_json(ctx, g, &dump, &n_trees, &zm);
    if (rc) return rc;
    /* dump is owned by XGBoost until the next call on g: parse it now */
    return spexi_trees_fourier(ctx, n, dump, n_trees, base_score, zm, out);
}

/* Rows of masks as dense 0/1 floats: (rows, n). */
static float *dense_rows(spex_ctx *ctx, const spex_masks *ms, const int64_t *sel, int64_t rows,
                         int64_t n) {
    float *X = spex_calloc(ctx, (size_t)rows, (size_t)n * sizeof *X);
    if (!X) return NULL;
    for (int64_t r = 0; r < rows; r++) {
        const uint64_t *row = spex_masks_crow(ms, sel ? sel[r] : r);
        for (int64_t j = 0; j < n; j++)
            X[r * n + j] = (float)spex_bits_get(row, j);
    }
    return X;
}

/* ±1 design (rows, cols) of the first cols entries of order (indices into F). */
static double *fourier_design(spex_ctx *ctx, const spex_masks *ms, const spex_coefs *F,
                              const int64_t *order, int64_t cols) {
    int64_t rows = spex_masks_count(ms);
    double *X = spex_calloc(ctx, (size_t)rows, (size_t)(cols ? cols : 1) * sizeof *X);
    if (!X) return NULL;
    for (int64_t r = 0; r < rows; r++) {
        const uint64_t *row = spex_masks_crow(ms, r);
        for (int64_t c = 0; c < cols; c++) {
            const int32_t *idx;
            int len;
            spex_coefs_entry(F, order[c], &idx, &len, NULL);
            X[r * cols + c] = spex_bits_dot_idx(row, idx, len) ? -1.0 : 1.0;
        }
    }
    return X;
}

static int cmp_abs_desc(const void *a, const void *b) {
    const double *x = a, *y = b; /* pairs (|v|, index) */
    if (x[0] != y[0]) return x[0] < y[0] ? 1 : -1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* ---- the grid search: one job per (fold, depth, learning rate) ---- */

typedef struct {
    const float *X, *yf;
    const double *y;
    const int *fold;
    int K, max_rounds, n_workers;
    int64_t rows, n;
    const spexi_proxy_opts *po;
    uint64_t seed;
    double *job_mse; /* (n_jobs, n_rounds) validation MSE */
    int *job_rc;     /* (n_jobs) */
    char (*job_err)[256];
    const int *queue; /* (n_jobs) job indices, deepest trees first */
    int next;         /* next queue position to take, under lock */
    pthread_mutex_t lock;
} cv_shared;

/* The next job of the queue, or -1. Workers take jobs as they finish (not
 * in a fixed stride), so a worker slowed by other load on the machine does
 * not leave the other idle; the deepest (slowest) fits go first so the last
 * jobs are short. */
static int cv_next(cv_shared *s, int n_jobs) {
    pthread_mutex_lock(&s->lock);
    int j = s->next < n_jobs ? s->queue[s->next++] : -1;
    pthread_mutex_unlock(&s->lock);
    return j;
}

typedef struct {
    cv_shared *s;
    int worker;
} cv_worker;

static void *cv_run(void *arg) {
    cv_worker *w = arg;
    cv_shared *s = w->s;
    const spexi_proxy_opts *po = s->po;
    int64_t rows = s->rows, n = s->n;
    int n_jobs = s->K * po->n_depths * po->n_lrs;
    spex_ctx *wctx = spex_ctx_new(); /* errors of this thread; copied out */
    float *Xtr = wctx ? spex_malloc(wctx, (size_t)rows * (size_t)n * sizeof *Xtr) : NULL;
    float *Xva = wctx ? spex_malloc(wctx, (size_t)rows * (size_t)n * sizeof *Xva) : NULL;
    float *ytr = wctx ? spex_malloc(wctx, (size_t)rows * sizeof *ytr) : NULL;
    int64_t *sel = wctx ? spex_malloc(wctx, (size_t)rows * sizeof *sel) : NULL;
    double *pred = wctx ? spex_malloc(wctx, (size_t)rows * sizeof *pred) : NULL;
    for (int j; (j = cv_next(s, n_jobs)) >= 0;) {
        if (!Xtr || !Xva || !ytr || !sel || !pred) {
            s->job_rc[j] = SPEX_E_NOMEM;
            snprintf(s->job_err[j], sizeof s->job_err[j], "out of memory in a CV worker");
            continue;
        }
        int f = j / (po->n_depths * po->n_lrs), di = (j / po->n_lrs) % po->n_depths,
            li = j % po->n_lrs;
        int64_t ntr = 0, nva = 0;
        for (int64_t r = 0; r < rows; r++) {
            if (s->fold[r] == f) {
                memcpy(Xva + nva * n, s->X + r * n, (size_t)n * sizeof *Xva);
                sel[nva++] = r;
            } else {
                memcpy(Xtr + ntr * n, s->X + r * n, (size_t)n * sizeof *Xtr);
                ytr[ntr++] = s->yf[r];
            }
        }
        double m = 0;
        for (int64_t r = 0; r < ntr; r++)
            m += ytr[r];
        spexi_gbt_params gp = spexi_gbt_params_default();
        gp.max_depth = po->depths[di];
        gp.lr = po->lrs[li];
        gp.rounds = s->max_rounds;
        gp.base_score = ntr ? m / (double)ntr : 0.0;
        gp.seed = s->seed;
        gp.zero_missing = 1;
        spexi_gbt *g = NULL;
        int rc = spexi_gbt_train(wctx, Xtr, ytr, ntr, n, &gp, &g);
        for (int ri = 0; !rc && ri < po->n_rounds; ri++) {
            rc = spexi_gbt_predict(wctx, g, Xva, nva, n, 0, po->rounds[ri], 1, pred);
            double mse = 0;
            for (int64_t v = 0; !rc && v < nva; v++) {
                double e = pred[v] - s->y[sel[v]];
                mse += e * e;
            }
            s->job_mse[(int64_t)j * po->n_rounds + ri] = mse / (double)(nva ? nva : 1);
        }
        spexi_gbt_free(g);
        s->job_rc[j] = rc;
        if (rc) snprintf(s->job_err[j], sizeof s->job_err[j], "%s", spex_errmsg(wctx));
    }
    spex_free(wctx, Xtr);
    spex_free(wctx, Xva);
    spex_free(wctx, ytr);
    spex_free(wctx, sel);
    spex_free(wctx, pred);
    spex_ctx_free(wctx);
    return NULL;
}

/* score (n_depths, n_lrs, n_rounds): mean validation MSE over the K folds.
 * Jobs are spread over `threads` workers, each booster with one XGBoost
 * thread: independent fits scale across cores without OpenMP barriers, which
 * cost dearly on a loaded machine. The reduction runs in fold order, so the
 * scores do not depend on the thread count. */
static int grid_search(spex_ctx *ctx, const float *X, const float *yf, const double *y,
                       const int *fold, int K, int64_t rows, int64_t n, const spexi_proxy_opts *po,
                       int max_rounds, uint64_t seed, int threads, double *score) {
    int n_jobs = K * po->n_depths * po->n_lrs;
    int W = threads < 1 ? 1 : threads > n_jobs ? n_jobs : threads;
    cv_shared s;
    memset(&s, 0, sizeof s);
    s.X = X, s.yf = yf, s.y = y, s.fold = fold, s.K = K, s.max_rounds = max_rounds;
    s.n_workers = W, s.rows = rows, s.n = n, s.po = po, s.seed = seed;
    s.job_mse = spex_calloc(ctx, (size_t)n_jobs * (size_t)po->n_rounds, sizeof *s.job_mse);
    s.job_rc = spex_calloc(ctx, (size_t)n_jobs, sizeof *s.job_rc);
    s.job_err = spex_calloc(ctx, (size_t)n_jobs, sizeof *s.job_err);
    int *queue = spex_calloc(ctx, (size_t)n_jobs, sizeof *queue);
    cv_worker *ws = spex_calloc(ctx, (size_t)W, sizeof *ws);
    pthread_t *tids = spex_calloc(ctx, (size_t)W, sizeof *tids);
    int rc = SPEX_OK, started = 0, locked = 0;
    if (!s.job_mse || !s.job_rc || !s.job_err || !queue || !ws || !tids) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    if (pthread_mutex_init(&s.lock, NULL)) {
        rc =
            spex_seterr(ctx, SPEX_E_NOMEM, "proxyspex cross-validation: pthread_mutex_init failed");
        goto done;
    }
    locked = 1;
    /* jobs by depth, deepest first; a stable insertion sort keeps fold
     * order within a depth */
    for (int j = 0; j < n_jobs; j++) {
        int d = po->depths[(j / po->n_lrs) % po->n_depths], q = j;
        for (; q > 0 && po->depths[(queue[q - 1] / po->n_lrs) % po->n_depths] < d; q--)
            queue[q] = queue[q - 1];
        queue[q] = j;
    }
    s.queue = queue;
    for (int w = 0; w < W; w++)
        ws[w] = (cv_worker){&s, w};
    for (int w = 1; w < W; w++) {
        if (pthread_create(&tids[w], NULL, cv_run, &ws[w])) break;
        started = w;
    }
    /* workers that failed to start: their jobs run here, in turn */
    cv_run(&ws[0]);
    for (int w = started + 1; w < W; w++)
        cv_run(&ws[w]);
    for (int w = 1; w <= started; w++)
        pthread_join(tids[w], NULL);
    for (int j = 0; j < n_jobs; j++)
        if (s.job_rc[j]) {
            rc = spex_seterr(ctx, s.job_rc[j], "proxyspex cross-validation: %s", s.job_err[j]);
            goto done;
        }
    int per_fold = po->n_depths * po->n_lrs;
    for (int c = 0; c < per_fold; c++)
        for (int ri = 0; ri < po->n_rounds; ri++) {
            double acc = 0;
            for (int f = 0; f < K; f++)
                acc += s.job_mse[(int64_t)(f * per_fold + c) * po->n_rounds + ri];
            score[c * po->n_rounds + ri] = acc / K;
        }
done:
    if (locked) pthread_mutex_destroy(&s.lock);
    spex_free(ctx, s.job_mse);
    spex_free(ctx, s.job_rc);
    spex_free(ctx, s.job_err);
    spex_free(ctx, queue);
    spex_free(ctx, ws);
    spex_free(ctx, tids);
    return rc;
}

int spexi_proxy_surrogate(spex_ctx *ctx, const spex_masks *ms, const double *y, int64_t n,
                          const spexi_proxy_opts *po, int threads, uint64_t seed,
                          spex_coefs **fourier, spexi_proxy_info *info) {
    *fourier = NULL;
    memset(info, 0, sizeof *info);
    int64_t rows = spex_masks_count(ms);
    int rc = SPEX_OK;
    float *X = NULL, *yf = NULL;
    int *fold = NULL;
    int64_t *order = NULL;
    double *score = NULL, *pairs = NULL, *D = NULL, *beta = NULL, *best_beta = NULL;
    spexi_gbt *g = NULL;
    spex_coefs *T = NULL, *out = NULL;
    if (rows < 4)
        return spex_seterr(ctx, SPEX_E_BUDGET, "proxyspex needs at least 4 masks, got %lld",
                           (long long)rows);
    if (po->n_depths < 1 || po->n_rounds < 1 || po->n_lrs < 1 || po->n_depths > 8 ||
        po->n_rounds > 8 || po->n_lrs > 8)
        return spex_seterr(ctx, SPEX_E_INVAL, "proxyspex grid: 1..8 values per axis");
    int max_rounds = 0;
    for (int i = 0; i < po->n_rounds; i++)
        if (po->rounds[i] > max_rounds) max_rounds = po->rounds[i];
    double mean = 0;
    for (int64_t r = 0; r < rows; r++)
        mean += y[r];
    mean /= (double)rows;
    X = dense_rows(ctx, ms, NULL, rows, n);
    yf = spex_malloc(ctx, (size_t)rows * sizeof *yf);
    fold = spex_malloc(ctx, (size_t)rows * sizeof *fold);
    int n_grid = po->n_depths * po->n_lrs * po->n_rounds;
    score = spex_calloc(ctx, (size_t)n_grid, sizeof *score);
    if (!X || !yf || !fold || !score) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    for (int64_t r = 0; r < rows; r++)
        yf[r] = (float)y[r];
    /* the final fit uses one XGBoost thread too (see grid_search) */
    spexi_gbt_params gp = spexi_gbt_params_default();
    gp.base_score = mean;
    gp.seed = seed;
    gp.zero_missing = 1;
    int best = 0, K = 0;
    if (n_grid > 1) {
        rc = spex_kfold_assign(ctx, rows, po->n_folds, seed, fold, &K);
        if (rc) goto done;
        double t0 = spex_now();
        rc = grid_search(ctx, X, yf, y, fold, K, rows, n, po, max_rounds, seed, threads, score);
        info->seconds_xgb += spex_now() - t0;
        if (rc) goto done;
        for (int i = 1; i < n_grid; i++)
            if (score[i] < score[best]) best = i;
    }
    info->max_depth = po->depths[best / (po->n_lrs * po->n_rounds)];
    info->lr = po->lrs[(best / po->n_rounds) % po->n_lrs];
    info->rounds = po->rounds[best % po->n_rounds];
    {
        double var = 0;
        for (int64_t r = 0; r < rows; r++)
            var += (y[r] - mean) * (y[r] - mean);
        var /= (double)rows;
        info->grid_cv_r2 = n_grid > 1 && var > 0 ? 1.0 - score[best] / var : NAN;
    }
    gp.max_depth = info->max_depth;
    gp.lr = info->lr;
    gp.rounds = info->rounds;
    gp.base_score = mean;
    {
        double t0 = spex_now();
        rc = spexi_gbt_train(ctx, X, yf, rows, n, &gp, &g);
        if (!rc) rc = spexi_gbt_fourier(ctx, g, n, mean, &T);
        info->seconds_xgb += spex_now() - t0;
        if (rc) goto done;
    }
    info->tree_terms = spex_coefs_count(T);

    /* order the non-constant terms by |F| descending */
    int64_t nt = spex_coefs_count(T), m = 0;
    double energy = 0;
    pairs = spex_malloc(ctx, (size_t)(nt ? nt : 1) * 2 * sizeof *pairs);
    order = spex_malloc(ctx, (size_t)(nt ? nt : 1) * sizeof *order);
    if (!pairs || !order) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < nt; i++) {
        const int32_t *idx;
        int len;
        double v;
        spex_coefs_entry(T, i, &idx, &len, &v);
        if (!len || v == 0.0) continue;
        pairs[2 * m] = fabs(v);
        pairs[2 * m + 1] = (double)i;
        energy += v * v;
        m++;
    }
    qsort(pairs, (size_t)m, 2 * sizeof *pairs, cmp_abs_desc);
    for (int64_t i = 0; i < m; i++)
        order[i] = (int64_t)pairs[2 * i + 1];
    int64_t cap = rows / 2 < SPEX_PROXY_MAX_COLS ? rows / 2 : SPEX_PROXY_MAX_COLS;
    rc = spex_coefs_new(ctx, n, &out);
    if (rc) goto done;
    if (m == 0 || energy <= 0 || cap < 1) { /* degenerate: the mean */
        rc = spex_coefs_set(out, NULL, 0, mean);
        goto done;
    }
    static const double fracs[] = {0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0};
    int n_fr = (int)(sizeof fracs / sizeof *fracs);
    int64_t prev = -1, best_cols = 0;
    double best_mse = INFINITY, best_b0 = mean;
    beta = spex_malloc(ctx, (size_t)cap * sizeof *beta);
    best_beta = spex_malloc(ctx, (size_t)cap * sizeof *best_beta);
    D = fourier_design(ctx, ms, T, order, m < cap ? m : cap);
    if (!beta || !best_beta || !D) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    int64_t dcols = m < cap ? m : cap;
    for (int fi = 0; fi < n_fr; fi++) {
        double frac = po->cv_truncation ? fracs[fi] : po->energy;
        int64_t cols = 0;
        double acc = 0;
        while (cols < m && acc < frac * energy * (1 - 1e-12)) {
            acc += pairs[2 * cols] * pairs[2 * cols];
            cols++;
        }
        if (cols < 1) cols = 1;
        if (cols > dcols) cols = dcols;
        if (cols != prev) {
            prev = cols;
            double *Xc = spex_malloc(ctx, (size_t)rows * (size_t)cols * sizeof *Xc);
            double *w = spex_malloc(ctx, (size_t)cols * sizeof *w), wmean = 0;
            if (!Xc || !w) {
                spex_free(ctx, Xc);
                spex_free(ctx, w);
                rc = SPEX_E_NOMEM;
                goto done;
            }
            for (int64_t c = 0; c < cols; c++)
                wmean += pairs[2 * c];
            wmean /= (double)cols;
            for (int gi = 0; !rc && gi < (po->n_gammas > 0 ? po->n_gammas : 1); gi++) {
                double gamma = po->n_gammas > 0 ? po->gammas[gi] : 0.0;
                /* the prior: column c scaled by (|F_c| / mean)^(gamma/2), so
                 * the ridge penalises beta_c by alpha |F_c|^-gamma */
                for (int64_t c = 0; c < cols; c++)
                    w[c] = gamma > 0 ? pow(pairs[2 * c] / wmean, gamma / 2) : 1.0;
                for (int64_t r = 0; r < rows; r++)
                    for (int64_t c = 0; c < cols; c++)
                        Xc[r * cols + c] = D[r * dcols + c] * w[c];
                spex_ridge_opts ro = spex_ridge_opts_default();
                ro.seed = seed;
                spex_fit_info fi_info;
                rc = spex_ridge_cv_gram(ctx, Xc, rows, cols, y, &ro, beta, &fi_info);
                if (!rc && fi_info.cv_mse < best_mse) {
                    best_mse = fi_info.cv_mse;
                    best_cols = cols;
                    best_b0 = fi_info.b0;
                    for (int64_t c = 0; c < cols; c++)
                        best_beta[c] = beta[c] * w[c];
                    info->alpha = fi_info.alpha;
                    info->refit_cv_r2 = fi_info.cv_r2;
                    info->energy = acc / energy;
                    info->gamma = gamma;
                }
            }
            spex_free(ctx, Xc);
            spex_free(ctx, w);
            if (rc) goto done;
        }
        if (!po->cv_truncation) break;
    }
    info->kept = best_cols;
    rc = spex_coefs_set(out, NULL, 0, best_b0);
    for (int64_t c = 0; !rc && c < best_cols; c++) {
        const int32_t *idx;
        int len;
        spex_coefs_entry(T, order[c], &idx, &len, NULL);
        if (best_beta[c] != 0.0) rc = spex_coefs_set(out, idx, len, best_beta[c]);
    }
    if (!rc && po->grow_rounds > 0) {
        int max_order = po->max_order;
        for (int i = 0; !po->max_order && i < po->n_depths; i++)
            if (po->depths[i] > max_order) max_order = po->depths[i];
        double t0 = spex_now();
        rc = spexi_proxy_grow(ctx, ms, y, max_order, cap, po->grow_rounds, seed, best_mse, &out,
                              &info->grown);
        info->seconds_grow = spex_now() - t0;
    }
done:
    spexi_gbt_free(g);
    spex_coefs_free(T);
    spex_free(ctx, X);
    spex_free(ctx, yf);
    spex_free(ctx, fold);
    spex_free(ctx, order);
    spex_free(ctx, score);
    spex_free(ctx, pairs);
    spex_free(ctx, D);
    spex_free(ctx, beta);
    spex_free(ctx, best_beta);
    if (rc) {
        spex_coefs_free(out);
        return rc;
    }
    *fourier = out;
    return SPEX_OK;
}

/* Whether the prior refit (gamma > 0, no pruning) beats the plain pipeline
 * (gamma = 0, noise-level pruning) out of sample. The CV inside each refit
 * cannot say: the prior and the support come from trees fitted on every
 * sample, the validation folds included, so it favours the prior even where
 * pruning is right (noisy sparse games). Here the whole pipeline runs twice
 * on 80% of the samples (the tree settings the grid chose on all samples)
 * and each surrogate is scored on the other 20%; *plain = 1 unless the
 * prior is strictly better there. */
static int prior_holdout(spex_ctx *ctx, const spex_masks *ms, const double *y, int64_t n,
                         const spexi_proxy_opts *po, const spexi_proxy_info *chosen, int threads,
                         uint64_t seed, int *plain) {
    *plain = 1;
    int64_t rows = spex_masks_count(ms), nt = 0;
    int K = 0;
    int *fold = spex_malloc(ctx, (size_t)rows * sizeof *fold);
    double *yt = spex_malloc(ctx, (size_t)rows * sizeof *yt), mse[2] = {0, 0};
    spex_masks *mt = NULL;
    spex_coefs *F = NULL, *G = NULL;
    int rc = fold && yt ? spex_masks_new(ctx, n, rows, &mt) : SPEX_E_NOMEM;
    if (!rc) rc = spex_kfold_assign(ctx, rows, 5, seed ^ 0x5eedULL, fold, &K);
    for (int64_t r = 0; !rc && r < rows; r++)
        if (fold[r] != 0) {
            rc = spex_masks_append(mt, spex_masks_crow(ms, r));
            yt[nt++] = y[r];
        }
    spexi_proxy_opts p1 = *po;
    p1.n_depths = p1.n_lrs = p1.n_rounds = 1; /* no grid search: the chosen triple */
    p1.depths[0] = chosen->max_depth;
    p1.lrs[0] = chosen->lr;
    p1.rounds[0] = chosen->rounds;
    for (int v = 0; !rc && v < 2; v++) {
        spexi_proxy_opts pv = p1;
        if (v == 0) pv.n_gammas = 1, pv.gammas[0] = 0.0;
        spexi_proxy_info iv;
        rc = spexi_proxy_surrogate(ctx, mt, yt, n, &pv, threads, seed, &F, &iv);
        if (!rc) rc = spexi_refit_samples(ctx, mt, yt, F, v ? iv.gamma : 0.0, !v, &G);
        for (int64_t r = 0; !rc && r < rows; r++)
            if (fold[r] == 0) {
                double e = y[r] - spex_coefs_eval_fourier(G, spex_masks_crow(ms, r));
                mse[v] += e * e;
            }
        spex_coefs_free(F);
        spex_coefs_free(G);
        F = G = NULL;
    }
    if (!rc) *plain = !(mse[1] < mse[0]);
    spex_masks_free(mt);
    spex_free(ctx, fold);
    spex_free(ctx, yt);
    return rc;
}

int spexi_algo_proxyspex_opts(spex_ctx *ctx, spex_query *q, int64_t n,
                              const spex_explain_opts *opts, const spexi_proxy_opts *po,
                              spex_coefs **fourier, spex_details *details) {
    *fourier = NULL;
    int64_t count = opts->budget > 0 ? spex_query_budget_left(q) : SPEX_PROXY_DEFAULT_BUDGET;
    spex_masks *ms = NULL;
    double *y = NULL;
    int rc = spexi_uniform_masks(ctx, n, count, opts->seed, po->paired, &ms);
    if (!rc) {
        y = spex_malloc(ctx, (size_t)(spex_masks_count(ms) ? spex_masks_count(ms) : 1) * sizeof *y);
        if (!y) rc = SPEX_E_NOMEM;
    }
    if (!rc) rc = spex_query_eval(q, ms, y);
    spexi_proxy_info info;
    int threads = spex_ctx_threads(ctx), plain = 1;
    if (!rc) rc = spexi_proxy_surrogate(ctx, ms, y, n, po, threads, opts->seed, fourier, &info);
    if (!rc && info.gamma > 0 && spex_masks_count(ms) >= 40)
        rc = prior_holdout(ctx, ms, y, n, po, &info, threads, opts->seed, &plain);
    if (!rc && plain && info.gamma > 0) {
        /* the plain pipeline on every sample: the same final trees, one
         * penalty for every column */
        spexi_proxy_opts p1 = *po;
        p1.n_depths = p1.n_lrs = p1.n_rounds = 1;
        p1.depths[0] = info.max_depth;
        p1.lrs[0] = info.lr;
        p1.rounds[0] = info.rounds;
        p1.n_gammas = 1;
        p1.gammas[0] = 0.0;
        spexi_proxy_info i1;
        spex_coefs_free(*fourier);
        rc = spexi_proxy_surrogate(ctx, ms, y, n, &p1, threads, opts->seed, fourier, &i1);
        i1.grid_cv_r2 = info.grid_cv_r2;
        i1.seconds_xgb += info.seconds_xgb;
        i1.seconds_grow += info.seconds_grow;
        info = i1;
    }
    if (!rc) {
        /* the shared refit (plain: it drops terms below the noise level, so
         * the reported support is the proxy's signal, not every small tree
         * term; prior: every term, its penalty from its value) */
        spex_coefs *pruned = NULL;
        rc = spexi_refit_samples(ctx, spex_query_masks(q), spex_query_values(q), *fourier,
                                 plain ? 0.0 : info.gamma, plain, &pruned);
        spex_coefs_free(*fourier);
        *fourier = pruned;
    }
    if (!rc && details) {
        spex_proxyspex_details *pd = &details->u.proxyspex;
        memset(details, 0, sizeof *details);
        details->kind = SPEX_DETAILS_PROXYSPEX;
        pd->max_depth = info.max_depth;
        pd->lr = info.lr;
        pd->rounds = info.rounds;
        pd->grid_cv_r2 = info.grid_cv_r2;
        pd->tree_terms = info.tree_terms;
        pd->kept = info.kept;
        pd->energy = info.energy;
        pd->alpha = info.alpha;
        pd->cv_r2 = info.refit_cv_r2;
        pd->grown = info.grown;
        pd->seconds_grow = info.seconds_grow;
        pd->final_terms = *fourier ? spex_coefs_count(*fourier) : 0;
        pd->seconds_xgb = info.seconds_xgb;
    }
    spex_masks_free(ms);
    spex_free(ctx, y);
    if (rc) {
        spex_coefs_free(*fourier);
        *fourier = NULL;
    }
    return rc;
}

int spexi_algo_proxyspex(spex_ctx *ctx, spex_query *q, int64_t n, const spex_explain_opts *opts,
                         spex_coefs **fourier, spex_details *details) {
    spexi_proxy_opts po = spexi_proxy_opts_default();
    spexi_proxy_cap_degree(&po, opts->degree);
    return spexi_algo_proxyspex_opts(ctx, q, n, opts, &po, fourier, details);
}
