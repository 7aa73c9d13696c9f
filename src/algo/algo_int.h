/* Internals of src/algo: the per-method entry points used by explain.c. Each
 * fills *fourier (owned by the caller) with the surrogate's Fourier form. */
#ifndef SPEX_ALGO_INT_H
#define SPEX_ALGO_INT_H

#include "spex/explain.h"
#include "spex/query.h"

#include "learn/learn_int.h"

int spexi_algo_exact(spex_ctx *ctx, spex_query *q, int64_t n, const spex_explain_opts *opts,
                     spex_coefs **fourier);

/* Ridge refit of the Fourier support (its values are ignored) on every
 * sample q holds, dropping coefficients below the noise level; *fourier
 * (owned) gets the constant and the surviving coefficients. */
int spexi_refit_fourier(spex_ctx *ctx, spex_query *q, const spex_coefs *support,
                        spex_coefs **fourier);
/* The same on the samples (ms, y), with a prior and the pruning optional:
 * gamma = 0 gives every column one penalty; gamma > 0 scales column k's
 * penalty by |value_k|^-gamma (support values as the prior, refit.c).
 * prune = 0 keeps every term of the support. */
int spexi_refit_samples(spex_ctx *ctx, const spex_masks *ms, const double *y,
                        const spex_coefs *support, double gamma, int prune, spex_coefs **fourier);

/* details (NULL: none wanted): on success, the method's account of the plan
 * and what was found (spex_details, spex/explain.h); the same for each method
 * below. */
int spexi_algo_spex(spex_ctx *ctx, spex_query *q, int64_t n, const spex_explain_opts *opts,
                    spex_coefs **fourier, spex_details *details);

/* Test hook: the SPEX sampling design with explicit (b, t, C), queried
 * through q. U is (C, P+1, 2^b) aliased bins, cols (C, n) the b-bit hash
 * of each feature per group (bin of k = XOR of cols over k), delays
 * (P+1, words) packed rows with d_0 = 0. Owned: spexi_sft_view_free. */
typedef struct spexi_sft_view {
    int b, t, C, P;
    double *U;
    uint32_t *cols;
    uint64_t *delays;
} spexi_sft_view;
int spexi_sft_sample_for_test(spex_ctx *ctx, spex_query *q, int64_t n, int b, int t, int C,
                              uint64_t seed, spexi_sft_view *out);
void spexi_sft_view_free(spex_ctx *ctx, spexi_sft_view *v);

/* ---- uniform random masks (sampling.c) ---- */

/* count distinct masks of n features (at most 2^n): all-zeros, all-ones,
 * then uniformly random rows from a stream seeded by seed; with paired != 0
 * each random row is followed by its complement. *out owned by the caller. */
int spexi_uniform_masks(spex_ctx *ctx, int64_t n, int64_t count, uint64_t seed, int paired,
                        spex_masks **out);

/* ---- ProxySPEX (proxyspex.c, proxyspex_trees.c) ---- */

typedef struct spexi_proxy_opts {
    int n_folds;             /* K of the grid search (default 5) */
    int n_depths, depths[8]; /* default {3, 5} */
    int n_rounds, rounds[8]; /* default {500, 1000} */
    int n_lrs;               /* default {0.01, 0.1} */
    double lrs[8];
    int cv_truncation; /* choose the energy fraction by CV (default 1) */
    double energy;     /* the fixed fraction when cv_truncation = 0 (0.95) */
    int paired;        /* complement pairs in the masks (default 0) */
    int grow_rounds;   /* rounds of hierarchy-guided growth (default
                          6; 0: off; proxyspex_grow.c) */
    int max_order;     /* highest order of a term (growth included); 0 =
                          the deepest tree's depth (default) */
    int n_gammas;      /* refit priors tried by CV: penalty of term k scaled */
    double gammas[4];  /* by |proxy value_k|^-gamma (default {0, 1, 2}) */
} spexi_proxy_opts;
spexi_proxy_opts spexi_proxy_opts_default(void);
/* Caps po at interactions of order <= degree (0: no cap): clips the grid's
 * depths and sets max_order. */
void spexi_proxy_cap_degree(spexi_proxy_opts *po, int degree);

typedef struct spexi_proxy_info {
    int max_depth, rounds;
    double lr, grid_cv_r2;    /* chosen triple and its CV R² (NaN: no search) */
    int64_t tree_terms, kept; /* Fourier terms of the trees; kept after truncation */
    double energy, alpha, refit_cv_r2;
    double seconds_xgb;  /* inside XGBoost (fits, predictions, dump) */
    int64_t grown;       /* terms added by hierarchy-guided growth */
    double gamma;        /* refit prior exponent chosen by CV (0: plain ridge) */
    double seconds_grow; /* spent in it */
} spexi_proxy_info;

/* The exact Fourier form of a booster (spexi_gbt, src/learn/gbt.c: the
 * proxy trains on 0/1 float rows with zeros as missing entries) from its
 * tree dumps; base_score: the one it was trained with. */
int spexi_gbt_fourier(spex_ctx *ctx, spexi_gbt *g, int64_t n, double base_score, spex_coefs **out);
/* Exact Fourier form of n_trees XGBoost JSON tree dumps plus base_score.
 * zero_missing: x_j = 0 takes each split's "missing" branch (the trees were
 * trained with zeros as missing entries); otherwise x_j = 0 is compared with
 * the split condition like x_j = 1. */
int spexi_trees_fourier(spex_ctx *ctx, int64_t n, const char *const *dumps, int64_t n_trees,
                        double base_score, int zero_missing, spex_coefs **out);
/* The ProxySPEX surrogate of samples (ms, y): grid search, extraction,
 * truncation, ridge refit. */
int spexi_proxy_surrogate(spex_ctx *ctx, const spex_masks *ms, const double *y, int64_t n,
                          const spexi_proxy_opts *po, int threads, uint64_t seed,
                          spex_coefs **fourier, spexi_proxy_info *info);
/* Hierarchy-guided growth (proxyspex_grow.c): *F (owned, fitted values and
 * constant) gains the candidate terms, up to order max_order and cap
 * non-constant terms in all, that the residuals of the samples (ms, y) call
 * for, refitted by CV ridge, for as long as the CV error (cv_mse: that of
 * *F) improves; at most max_rounds rounds. *added: terms it gained. */
#define SPEX_MAX_ORDER_GROW 16
int spexi_proxy_grow(spex_ctx *ctx, const spex_masks *ms, const double *y, int max_order,
                     int64_t cap, int max_rounds, uint64_t seed, double cv_mse, spex_coefs **F,
                     int64_t *added);
int spexi_algo_proxyspex_opts(spex_ctx *ctx, spex_query *q, int64_t n,
                              const spex_explain_opts *opts, const spexi_proxy_opts *po,
                              spex_coefs **fourier, spex_details *details);
int spexi_algo_proxyspex(spex_ctx *ctx, spex_query *q, int64_t n, const spex_explain_opts *opts,
                         spex_coefs **fourier, spex_details *details);

/* ---- baselines (baselines.c) on uniform random masks ---- */

/* LASSO over the ±1 Fourier features of all subsets 1 <= |S| <= max_order. */
int spexi_algo_lasso(spex_ctx *ctx, spex_query *q, int64_t n, const spex_explain_opts *opts,
                     spex_coefs **fourier, spex_details *details);
/* Faith-Banzhaf regression: least squares on 0/1 Möbius features of all
 * subsets 1 <= |S| <= max_order (order 1: Banzhaf values). */
int spexi_algo_kernelshap(spex_ctx *ctx, spex_query *q, int64_t n, const spex_explain_opts *opts,
                          spex_coefs **fourier, spex_details *details);

#endif
