/*
 * spex/explain.h - the top of the library: explain a value function.
 *
 * spex_explain runs one method (DESIGN.md §3) against a value function
 * through the query engine and returns a spex_result: the surrogate's sparse
 * Fourier representation, the requested interaction index, and the costs.
 * Results are written and read by spex/report.h.
 *
 * Example:
 *     spex_explain_opts eo = spex_explain_opts_default();
 *     eo.method = SPEX_METHOD_EXACT;
 *     eo.index = SPEX_INDEX_FSII;
 *     eo.max_order = 2;
 *     spex_result *res;
 *     if (spex_explain(ctx, &vf, &eo, &res) == SPEX_OK) { ...; spex_result_free(res); }
 */
#ifndef SPEX_EXPLAIN_H
#define SPEX_EXPLAIN_H

#include "spex/coefs.h"
#include "spex/query.h"
#include "spex/transform.h"
#include "spex/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum spex_method {
    SPEX_METHOD_EXACT = 0,  /* all 2^n masks, n <= 20 */
    SPEX_METHOD_SPEX,       /* sparse Fourier transform with BCH-coded sampling */
    SPEX_METHOD_PROXYSPEX,  /* gradient-boosted-tree proxy */
    SPEX_METHOD_LASSO,      /* LASSO over all subsets up to max_order */
    SPEX_METHOD_KERNELSHAP, /* marginal regression baseline */
    SPEX_METHOD_AUTO        /* exact when all 2^n masks fit the budget, else
                               ProxySPEX (the best measured on real model
                               functions, bench/RESULTS.md); the default */
} spex_method;

typedef enum spex_decoder { SPEX_DECODER_SOFT = 0, SPEX_DECODER_HARD = 1 } spex_decoder;

typedef struct spex_explain_opts {
    spex_method method;             /* default SPEX_METHOD_AUTO */
    int64_t budget;                 /* most model queries; 0 = the method's default
                                       (auto: spex_auto_budget(n)) */
    int max_order;                  /* K: highest interaction order of the reported
                                       index (default 2); the surrogate's own
                                       degree is .degree */
    spex_index index;               /* default SPEX_INDEX_FOURIER */
    uint64_t seed;                  /* every random choice derives from it (default 1) */
    int64_t batch_size;             /* masks per value-function call (default 256) */
    spex_decoder decoder;           /* SPEX only */
    const spex_query_store *store;  /* persistent cache asked first (spex/store.h);
                                       borrowed; NULL = none (default) */
    spex_store_policy store_policy; /* when the cache fails: go on without it
                                       (default) or stop with its error */
    int degree;                     /* D: the surrogate's highest interaction order
                                       (SPEX's decoded weight and code design,
                                       LASSO/Faith-Banzhaf columns, a cap on
                                       ProxySPEX's trees and growth); 0 = the
                                       highest the budget affords, up to
                                       SPEX_AUTO_DEGREE_MAX (default) */
} spex_explain_opts;

/* The highest degree chosen when spex_explain_opts.degree is 0: real model
 * functions carry interactions of order 3 to 5 (bench/RESULTS.md). */
#define SPEX_AUTO_DEGREE_MAX 5

SPEX_API spex_explain_opts spex_explain_opts_default(void);
/* The budget of method auto when none is given, for n features: all 2^n
 * masks when they number at most 2,048 (exact), else 50 queries per feature,
 * at least 2,000 and at most 10,000. */
SPEX_API int64_t spex_auto_budget(int64_t n);
/* "exact", "spex", "proxyspex", "lasso", "kernelshap", "auto". */
SPEX_API int spex_method_parse(spex_ctx *ctx, const char *name, spex_method *out);
SPEX_API const char *spex_method_name(spex_method m);

/* ---- the method's own account of a run (spex_result.details) ----
 * Typed fields, written as the "details" object of a result file (DESIGN.md
 * §4.3) and printed as one line by spex_details_text. */
typedef enum spex_details_kind {
    SPEX_DETAILS_NONE = 0,  /* no account (exact, or a result file without one) */
    SPEX_DETAILS_SPEX,      /* .spex */
    SPEX_DETAILS_PROXYSPEX, /* .proxyspex */
    SPEX_DETAILS_LASSO,     /* .linear */
    SPEX_DETAILS_KERNELSHAP /* .linear (Faith-Banzhaf regression) */
} spex_details_kind;

#define SPEX_DETAILS_MAX_GROUPS 64 /* most SPEX subsampling groups */

/* SPEX: the sampling plan and what peeling found. */
typedef struct spex_spex_details {
    int C;                          /* subsampling groups, 1..SPEX_DETAILS_MAX_GROUPS */
    int b[SPEX_DETAILS_MAX_GROUPS]; /* group c has 2^b[c] bins (b[0..C)) */
    int t;                          /* errors the BCH code corrects */
    int delays;                     /* delays per group (P + 1) */
    int64_t structured;             /* structured masks of the plan (C·delays·2^b) */
    int64_t structured_distinct;    /* of those, distinct (asked) */
    int64_t random;                 /* uniformly random masks for the refit */
    int64_t found;                  /* coefficients found by peeling */
    int64_t sweeps;                 /* peeling sweeps */
    int64_t pairs, triples;         /* bins read as 2 or 3 coefficients */
    double seconds;                 /* decoding and refit */
} spex_spex_details;

/* ProxySPEX: the chosen trees, truncation, refit and growth. */
typedef struct spex_proxyspex_details {
    int max_depth;       /* chosen by the grid search */
    double lr;           /* chosen learning rate */
    int rounds;          /* chosen boosting rounds */
    double grid_cv_r2;   /* CV R² of that triple (NaN: no search) */
    int64_t tree_terms;  /* Fourier terms of the trees */
    int64_t kept;        /* kept after truncation */
    double energy;       /* the kept fraction of the non-constant energy */
    double alpha;        /* ridge penalty of the refit */
    double cv_r2;        /* CV R² of the refit */
    int64_t grown;       /* terms added by hierarchy-guided growth */
    double seconds_grow; /* spent growing */
    int64_t final_terms; /* terms above the noise level after the final refit */
    double seconds_xgb;  /* inside XGBoost (fits, predictions, dumps) */
} spex_proxyspex_details;

/* LASSO (Fourier columns) and Faith-Banzhaf regression (Möbius columns):
 * the regression's shape and its spex_fit_info (spex/linalg.h). */
typedef struct spex_linear_details {
    int64_t masks;   /* rows of the regression */
    int64_t columns; /* subsets 1 <= |S| <= max_order */
    int max_order;
    double alpha;    /* LASSO's penalty chosen by CV (0 for least squares) */
    int64_t nonzero; /* nonzero coefficients */
    double cv_r2;    /* LASSO's CV R² at alpha (NaN without CV) */
    int64_t rank;    /* numerical rank of the design (-1 for LASSO) */
    double train_r2; /* R² on the samples */
} spex_linear_details;

typedef struct spex_details {
    spex_details_kind kind; /* which member holds the account */
    union {
        spex_spex_details spex;
        spex_proxyspex_details proxyspex;
        spex_linear_details linear;
    } u;
} spex_details;

/* The account as one line of text (the terminal table's and the HTML
 * report's "details"), snprintf-style: writes at most cap bytes including the
 * NUL and returns the length of the whole line (0 for SPEX_DETAILS_NONE, with
 * buf = ""); a line longer than cap - 1 is cut. buf may be NULL when cap = 0.
 *     char line[512];
 *     spex_details_text(&res->details, line, sizeof line);
 *     -> "lasso: 1000 masks, 528 Fourier columns (orders 1..2), alpha 0.163, ..." */
SPEX_API int spex_details_text(const spex_details *d, char *buf, size_t cap);
/* "spex", "proxyspex", "lasso", "kernelshap"; "none" for SPEX_DETAILS_NONE. */
SPEX_API const char *spex_details_kind_name(spex_details_kind k);

/* A result (DESIGN.md §4.3). Plain data; owned by whoever holds the pointer,
 * freed with spex_result_free. */
typedef struct spex_result {
    int64_t n;
    char **features; /* n names, owned */
    spex_method method;
    int64_t budget;         /* 0 when there was none */
    int64_t queries;        /* distinct masks used (cached + new) */
    int64_t queries_cached; /* of those, answered from the cache */
    int64_t queries_new;    /* of those, asked of the value function */
    uint64_t seed;
    spex_coefs *fourier; /* the surrogate, empty set included */
    spex_index index;
    int max_order;
    spex_coefs *interactions; /* sorted by |v| descending */
    double seconds_queries;   /* inside the value function */
    double seconds_solve;     /* everything else */
    spex_details details;     /* the method's own account (parameters chosen,
                                 what it found); kind NONE when none */
    int degree;               /* the surrogate's highest possible order (n for
                                 exact; 0 when unknown: an older result file) */
    int method_auto;          /* 1 when method auto chose .method */
} spex_result;

/* spex_details_text of r->details. */
SPEX_API int spex_result_details_text(const spex_result *r, char *buf, size_t cap);

/* Explains vf; on success *out is a new result (features named x0..x{n-1};
 * name them with spex_result_set_features). On failure every answer
 * obtained is kept by the query engine and the error (SPEX_E_VALUE,
 * _BUDGET, _RANGE ...) is returned. */
SPEX_API int spex_explain(spex_ctx *ctx, const spex_valuefn *vf, const spex_explain_opts *opts,
                          spex_result **out);
/* A new empty result for n features (names x0..), used by readers. */
SPEX_API int spex_result_new(spex_ctx *ctx, int64_t n, spex_result **out);
SPEX_API void spex_result_free(spex_result *r);
/* Names r's features, the names every report shows: names[j] (r->n strings,
 * copied) for feature j, or the name it has when names or names[j] is NULL,
 * with repeats told apart. A name that occurs more than once becomes
 * "name#k" at each occurrence, k = 1, 2, ... in feature order (a "name#k"
 * that is already another feature's name is skipped); a name that occurs
 * once stays as it is. The names in a result file are these names.
 *     {"the", "waiter", "felt", "the", "waiter"}
 *     -> {"the#1", "waiter#1", "felt", "the#2", "waiter#2"}
 * SPEX_E_NOMEM (r unchanged). */
SPEX_API int spex_result_set_features(spex_result *r, const char *const *names);
/* Recomputes r->interactions from r->fourier for r->index / r->max_order. */
SPEX_API int spex_result_set_index(spex_result *r, spex_index idx, int max_order);

/* ---- checks of a result ---- */
/* R² of the Fourier surrogate against the value function vf on n_masks
 * uniformly random masks drawn from seed (a stream no method uses), or on all
 * 2^n masks when n_masks <= 0 (n <= 20, else SPEX_E_RANGE). vf is asked in
 * batches of up to 4,096 masks (no cache: give a cached value function to
 * reuse answers). Errors: SPEX_E_INVAL (n differs), SPEX_E_VALUE (a value is
 * not finite), vf's own. For a game: its noiseless value function,
 * spex_game_valuefn(g, 0, seed, &vf) (spex/backend.h). */
SPEX_API int spex_faithfulness(spex_ctx *ctx, const spex_valuefn *vf, const spex_coefs *fourier,
                               int64_t n_masks, uint64_t seed, double *r2);
/* Support recovery over non-constant subsets with |value| > tol: *tp found
 * subsets also in truth, *n_found found, *n_true in truth. */
SPEX_API void spex_support_match(const spex_coefs *truth, const spex_coefs *found, double tol,
                                 int64_t *tp, int64_t *n_found, int64_t *n_true);

#ifdef __cplusplus
}
#endif
#endif
