/*
 * spex/store.h - the persistent query cache: every paid answer kept on disk.
 *
 * A store is one SQLite file (WAL mode, safe for several spex processes at
 * once) of answers keyed by (fingerprint of the value function, mask). The
 * query engine consults it through a spex_query_store (spex/query.h): cached
 * masks are not asked again, new answers are committed as each batch
 * returns, so a killed run resumes where it stopped and another method or a
 * larger budget on the same target reuses every answer it can.
 *
 * The fingerprint is a string the caller builds from everything that
 * changes the value: for a game file, the SHA-256 of its bytes (and the
 * noise seed when it is noisy); for an external program, the command line
 * and n (spex cannot see inside the program: a changed model file behind an
 * unchanged command needs --no-cache or a new cache). Masks are stored as
 * their packed little-endian words.
 *
 * Errors: a file that is not SQLite, is corrupt or truncated gets
 * SPEX_E_PARSE; one written by a newer spex (schema version) SPEX_E_PARSE;
 * a file or directory that cannot be opened, a read-only file, a full disk
 * SPEX_E_IO. Messages name the file and what to do.
 *
 * Example:
 *     spex_store *st;
 *     spex_store_opts so = spex_store_opts_default();
 *     if (spex_store_open(ctx, "cache.sqlite", &so, &st) == SPEX_OK) {
 *         char hex[65], fp[128];
 *         spex_sha256_file(ctx, "game.json", hex);
 *         snprintf(fp, sizeof fp, "game sha256=%s", hex);
 *         spex_query_store qs;
 *         spex_store_bind(st, fp, "game.json", n, &qs);
 *         eo.store = &qs;                     // spex_explain_opts
 *         spex_explain(ctx, &vf, &eo, &res);  // res->queries_cached ...
 *         spex_store_close(st);
 *     }
 */
#ifndef SPEX_STORE_H
#define SPEX_STORE_H

#include "spex/query.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Version of the file layout this build reads and writes. */
#define SPEX_STORE_SCHEMA 1

typedef struct spex_store spex_store;

typedef struct spex_store_opts {
    int read_only;       /* lookups only; saves fail with SPEX_E_IO (default 0) */
    int64_t max_size;    /* bytes the database may grow to; a save past it fails
                            like a full disk (SPEX_E_IO); 0 = no limit (default) */
    int busy_timeout_ms; /* wait this long for another process's write lock
                            (default 10000) */
} spex_store_opts;

SPEX_API spex_store_opts spex_store_opts_default(void);
/* Opens (creating it and missing parent directories, mode 0700, unless
 * read_only) the cache file at path. *out owned by the caller. */
SPEX_API int spex_store_open(spex_ctx *ctx, const char *path, const spex_store_opts *opts,
                             spex_store **out);
/* Closes the file (NULL-safe); bound spex_query_stores become invalid. */
SPEX_API void spex_store_close(spex_store *st);

/* Binds st to one value function: fingerprint (non-empty, borrowed during
 * the call), a label for listings (e.g. the game path; may be NULL) and its
 * n. Fills *out with callbacks over st; valid until the next bind or close.
 * SPEX_E_INVAL when the fingerprint is known with another n. */
SPEX_API int spex_store_bind(spex_store *st, const char *fingerprint, const char *label, int64_t n,
                             spex_query_store *out);

/* SPEX_OK, or the code of the first lookup or save that failed through a
 * bound spex_query_store (the run may have gone on without the cache, see
 * spex_store_policy); *msg gets its message. */
SPEX_API int spex_store_failure(const spex_store *st, const char **msg);

typedef struct spex_store_stats {
    int64_t n_fingerprints; /* value functions with answers or bound */
    int64_t n_answers;      /* (fingerprint, mask) answers */
    int64_t size;           /* bytes of the database (pages in use + free) */
    int64_t oldest, newest; /* unix seconds of the oldest / newest answer; 0 if none */
    int schema;             /* the file's schema version */
} spex_store_stats;

SPEX_API int spex_store_stats_get(spex_store *st, spex_store_stats *out);

/* One fingerprint of the cache, for spex_store_list; strings borrowed for
 * the duration of the callback. */
typedef struct spex_store_entry {
    const char *fingerprint;
    const char *label; /* "" when none */
    int64_t n;         /* features */
    int64_t n_answers;
    int64_t created, used; /* unix seconds: first bound, last answer saved or bound */
} spex_store_entry;

/* Calls fn for every fingerprint, most recently used first; a non-zero
 * return from fn stops the walk and is returned. */
SPEX_API int spex_store_list(spex_store *st, int (*fn)(void *user, const spex_store_entry *e),
                             void *user);
/* Deletes answers saved before unix time `before` (INT64_MAX: every
 * answer), then fingerprints left without answers; *n_deleted (may be NULL)
 * gets the number of answers deleted. */
SPEX_API int spex_store_clear(spex_store *st, int64_t before, int64_t *n_deleted);

/* What spex_store_merge did. */
typedef struct spex_store_merge_stats {
    int64_t answers_new;      /* answers copied into st */
    int64_t answers_known;    /* answers st already had (st's value kept) */
    int64_t answers_skipped;  /* malformed rows of the input (mask length, value type) */
    int64_t fingerprints_new; /* value functions st did not know */
} spex_store_merge_stats;

/* Copies every answer of the cache file at `path` into st (insert or
 * ignore: an answer st already holds is kept), e.g. to join the shard caches
 * of a plan evaluated on many machines. The input is opened read-only and
 * checked like any cache: SPEX_E_PARSE for a file of another program, a
 * corrupt one or one written by a newer spex (schema version), and when a
 * fingerprint is known in both with another n (nothing is merged);
 * SPEX_E_IO when st is read-only or the file cannot be read. One
 * transaction: on error st is unchanged. *out (may be NULL) gets counts. */
SPEX_API int spex_store_merge(spex_store *st, const char *path, spex_store_merge_stats *out);

/* ---- fingerprint helpers: SHA-256 (FIPS 180-4) ---- */
SPEX_API void spex_sha256(const void *data, size_t size, unsigned char out[32]);
/* 64 lowercase hex digits + NUL. */
SPEX_API void spex_sha256_hex(const void *data, size_t size, char hex[65]);
/* Of a file's bytes; SPEX_E_IO naming the file when it cannot be read. */
SPEX_API int spex_sha256_file(spex_ctx *ctx, const char *path, char hex[65]);

#ifdef __cplusplus
}
#endif
#endif
