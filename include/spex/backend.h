/*
 * spex/backend.h - value-function backends: synthetic games (DESIGN.md §4.1)
 * and external programs speaking the exec protocol (DESIGN.md §4.2).
 *
 * Example:
 *     spex_game *g;
 *     spex_game_load(ctx, "game.json", &g);
 *     spex_valuefn vf;
 *     spex_game_valuefn(g, 1, 7, &vf);       // with the file's noise, seed 7
 *     ...                                    // use vf
 *     spex_valuefn_release(&vf);
 *     spex_game_free(g);
 *
 *     spex_exec_opts eo = spex_exec_opts_default();
 *     eo.n_workers = 4;
 *     spex_exec_open(ctx, "python3 model.py", 128, &eo, &vf);
 */
#ifndef SPEX_BACKEND_H
#define SPEX_BACKEND_H

#include "spex/coefs.h"
#include "spex/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum spex_basis { SPEX_BASIS_FOURIER = 0, SPEX_BASIS_MOBIUS = 1 } spex_basis;

/* ---- synthetic games (§4.1) ---- */
typedef struct spex_game spex_game;

/* Loads a game file. Malformed JSON or content gets SPEX_E_PARSE / _RANGE /
 * _INVAL with a message naming the file, line and column or the coefficient
 * number and what is wrong (out-of-range or repeated feature index, n < 1,
 * unknown basis, negative noise). *out owned by the caller. */
SPEX_API int spex_game_load(spex_ctx *ctx, const char *path, spex_game **out);
/* The same from a string in memory (`name` is used in messages). */
SPEX_API int spex_game_parse(spex_ctx *ctx, const char *json, size_t len, const char *name,
                             spex_game **out);
/* A game from coefficients (copied) in the given basis. */
SPEX_API int spex_game_from_coefs(spex_ctx *ctx, const spex_coefs *coefs, spex_basis basis,
                                  double noise_sd, spex_game **out);
SPEX_API void spex_game_free(spex_game *g);
SPEX_API int64_t spex_game_n(const spex_game *g);
SPEX_API double spex_game_noise_sd(const spex_game *g);
SPEX_API spex_basis spex_game_basis(const spex_game *g);
/* The coefficients as written in the file (its basis); borrowed. */
SPEX_API const spex_coefs *spex_game_coefs(const spex_game *g);
/* The game's exact Fourier representation (converted when the file is in
 * the Möbius basis); borrowed. */
SPEX_API const spex_coefs *spex_game_fourier(const spex_game *g);
/* Longest feature name kept from a game file, in bytes; longer names are cut
 * there (at a UTF-8 character boundary). */
#define SPEX_GAME_MAX_FEATURE_NAME 256
/* The name of feature j from the file's optional "features" array, borrowed
 * (valid while g lives); NULL when the game has no names (no "features" key,
 * not an array, or not exactly n elements: the array is then ignored) or j
 * is outside 0..n-1. An element that is not a string is named "?". */
SPEX_API const char *spex_game_feature_name(const spex_game *g, int64_t j);
/* The noiseless value at one packed mask. */
SPEX_API double spex_game_value(const spex_game *g, const uint64_t *mask);
/* A value function over the game. With_noise != 0 adds N(0, noise_sd²)
 * noise that is a function of (seed, mask): independent across masks, the
 * same for a mask asked again or in another order (so cached and resumed
 * runs match uninterrupted ones). The game must outlive the vf. */
SPEX_API int spex_game_valuefn(spex_game *g, int with_noise, uint64_t seed, spex_valuefn *out);

/* ---- external programs (§4.2) ---- */
typedef struct spex_exec_opts {
    int n_workers;    /* processes started in parallel (default 1) */
    double timeout_s; /* limit for one batch, seconds; <= 0: none (default 0) */
    /* a worker alive with answers owed and silent this long gets one notice
     * (spex_ctx_notice) naming the usual cause, input read in blocks;
     * <= 0: never (default 10) */
    double stall_notice_s;
} spex_exec_opts;

SPEX_API spex_exec_opts spex_exec_opts_default(void);
/* Starts n_workers copies of `/bin/sh -c cmd` and returns a value function
 * over n features that sends each batch split across them. The workers are
 * stopped by spex_valuefn_release. Errors (SPEX_E_VALUE, SPEX_E_CHILD,
 * SPEX_E_TIMEOUT) quote the offending output line, name the worker and the
 * mask number; answers received before a failure are kept in out. */
SPEX_API int spex_exec_open(spex_ctx *ctx, const char *cmd, int64_t n, const spex_exec_opts *opts,
                            spex_valuefn *out);

#ifdef __cplusplus
}
#endif
#endif
