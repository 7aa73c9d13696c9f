/*
 * spex/common.h - error codes, the context, allocation. The ground floor of
 * the public API: every other header includes this one.
 *
 * A spex_ctx carries what would otherwise be global: the last error message,
 * the allocator's fault-injection counter (tests), the thread count and the
 * progress callback. Every object remembers the context it was made with;
 * a context and its objects are used by one thread at a time.
 *
 * Example:
 *     spex_ctx *ctx = spex_ctx_new();
 *     int rc = spex_game_load(ctx, "game.json", &vf);
 *     if (rc != SPEX_OK) fprintf(stderr, "%s\n", spex_errmsg(ctx));
 *     spex_ctx_free(ctx);
 */
#ifndef SPEX_COMMON_H
#define SPEX_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Names (STYLE.md rules 1-2): `spex_` and SPEX_API mark the public API, the
 * functions declared in the headers of include/spex and exported from
 * libspex.so: an ABI promise. `spexi_` marks internals shared between the files of the
 * library (declared in src/<part>/<part>_int.h, hidden in libspex.so, free
 * to change); file-local functions are static and unprefixed. Test hooks
 * live in src/testing.h. tests/packaging/test_install.sh fails when
 * libspex.so exports a symbol no public header declares. */
#if defined(SPEX_BUILDING)
#define SPEX_API __attribute__((visibility("default")))
#else
#define SPEX_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes: append-only; values never change. */
enum spex_err {
    SPEX_OK = 0,
    SPEX_E_NOMEM = -1,       /* an allocation failed or a size overflowed */
    SPEX_E_INVAL = -2,       /* a bad argument or option value */
    SPEX_E_IO = -3,          /* a file could not be opened, read or written */
    SPEX_E_PARSE = -4,       /* malformed input file or line */
    SPEX_E_RANGE = -5,       /* a value outside its allowed range */
    SPEX_E_VALUE = -6,       /* the value function failed or returned garbage */
    SPEX_E_TIMEOUT = -7,     /* the value function did not answer in time */
    SPEX_E_BUDGET = -8,      /* the budget is too small for the method */
    SPEX_E_UNSUPPORTED = -9, /* a feature not available in this build/input */
    SPEX_E_NUMERIC = -10,    /* a numerical failure (singular system, NaN) */
    SPEX_E_INTERNAL = -11,   /* a bug: an invariant did not hold */
    SPEX_E_CHILD = -12       /* a subprocess died or closed its pipe */
};

typedef struct spex_ctx spex_ctx;

/* Progress of a long run: done of total units (masks), called by the query
 * engine at most a few times per second. The CLI draws it; the library never
 * prints. */
typedef void (*spex_progress_fn)(void *user, int64_t done, int64_t total);

/* Returns NULL only when out of memory. */
SPEX_API spex_ctx *spex_ctx_new(void);
SPEX_API void spex_ctx_free(spex_ctx *ctx);

/* Last error message set on ctx ("" when none); borrowed, valid until the next
 * call that fails. */
SPEX_API const char *spex_errmsg(const spex_ctx *ctx);
/* Static text for a code, e.g. "out of memory". */
SPEX_API const char *spex_strerror(int code);
/* Records a formatted message for code and returns code, so that callers can
 * write `return spex_seterr(ctx, SPEX_E_PARSE, "line %d: ...", line);`.
 * Value-function implementations use it to explain their failures. */
SPEX_API int spex_seterr(spex_ctx *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends "prefix: " to the current message (adds context going up). */
SPEX_API void spex_errprefix(spex_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Worker threads for kernels that use them (default 1). */
SPEX_API void spex_ctx_set_threads(spex_ctx *ctx, int n_threads);
SPEX_API int spex_ctx_threads(const spex_ctx *ctx);
SPEX_API void spex_ctx_set_progress(spex_ctx *ctx, spex_progress_fn fn, void *user);
SPEX_API void spex_ctx_progress(spex_ctx *ctx, int64_t done, int64_t total);
/* Notices: things a user should know while a run goes on that are not
 * errors (e.g. "the exec program has not answered for 10 s"). The library
 * never prints; without a callback a notice is dropped. */
typedef void (*spex_notice_fn)(void *user, const char *msg);
SPEX_API void spex_ctx_set_notice(spex_ctx *ctx, spex_notice_fn fn, void *user);
SPEX_API void spex_ctx_notice(spex_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Allocation through the context. All sizes are overflow-checked; on failure
 * they set SPEX_E_NOMEM on ctx and return NULL. */
SPEX_API void *spex_malloc(spex_ctx *ctx, size_t size);
SPEX_API void *spex_calloc(spex_ctx *ctx, size_t count, size_t size);
/* Grows/shrinks p to count*size bytes; on failure p is untouched. */
SPEX_API void *spex_realloc(spex_ctx *ctx, void *p, size_t count, size_t size);
SPEX_API void spex_free(spex_ctx *ctx, void *p);
SPEX_API char *spex_strdup(spex_ctx *ctx, const char *s);
/* Seconds on a monotonic clock (for the timings in results). */
SPEX_API double spex_now(void);

#ifdef __cplusplus
}
#endif
#endif
