/* The context: error buffer, allocation wrappers with fault injection, thread
 * count, progress callback. Replaces what would otherwise be global state. */
#include "core/core_int.h"
#include "testing.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

spex_ctx *spex_ctx_new(void) {
    spex_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    ctx->n_threads = 1;
    return ctx;
}

void spex_ctx_free(spex_ctx *ctx) {
    free(ctx);
}

const char *spex_errmsg(const spex_ctx *ctx) {
    return ctx ? ctx->errmsg : "no context";
}

const char *spex_strerror(int code) {
    switch (code) {
    case SPEX_OK:
        return "ok";
    case SPEX_E_NOMEM:
        return "out of memory";
    case SPEX_E_INVAL:
        return "invalid argument";
    case SPEX_E_IO:
        return "input/output error";
    case SPEX_E_PARSE:
        return "parse error";
    case SPEX_E_RANGE:
        return "value out of range";
    case SPEX_E_VALUE:
        return "value function failed";
    case SPEX_E_TIMEOUT:
        return "value function timed out";
    case SPEX_E_BUDGET:
        return "budget too small";
    case SPEX_E_UNSUPPORTED:
        return "unsupported";
    case SPEX_E_NUMERIC:
        return "numerical failure";
    case SPEX_E_INTERNAL:
        return "internal error";
    case SPEX_E_CHILD:
        return "subprocess failed";
    default:
        return "unknown error";
    }
}

int spex_seterr(spex_ctx *ctx, int code, const char *fmt, ...) {
    if (!ctx) return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->errmsg, sizeof ctx->errmsg, fmt, ap);
    va_end(ap);
    ctx->errcode = code;
    return code;
}

void spex_errprefix(spex_ctx *ctx, const char *fmt, ...) {
    if (!ctx) return;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof ctx->errmsg];
    memcpy(old, ctx->errmsg, sizeof old);
    size_t plen = strlen(prefix);
    if (plen + 2 >= sizeof ctx->errmsg) plen = sizeof ctx->errmsg - 3;
    memcpy(ctx->errmsg, prefix, plen);
    memcpy(ctx->errmsg + plen, ": ", 2);
    size_t room = sizeof ctx->errmsg - plen - 3;
    size_t olen = strnlen(old, room);
    memcpy(ctx->errmsg + plen + 2, old, olen);
    ctx->errmsg[plen + 2 + olen] = '\0';
}

void spex_ctx_set_threads(spex_ctx *ctx, int n_threads) {
    ctx->n_threads = n_threads < 1 ? 1 : n_threads;
}

int spex_ctx_threads(const spex_ctx *ctx) {
    return ctx->n_threads;
}

void spex_ctx_set_progress(spex_ctx *ctx, spex_progress_fn fn, void *user) {
    ctx->progress = fn;
    ctx->progress_user = user;
}

void spex_ctx_progress(spex_ctx *ctx, int64_t done, int64_t total) {
    if (ctx && ctx->progress) ctx->progress(ctx->progress_user, done, total);
}

void spex_ctx_set_notice(spex_ctx *ctx, spex_notice_fn fn, void *user) {
    ctx->notice = fn;
    ctx->notice_user = user;
}

void spex_ctx_notice(spex_ctx *ctx, const char *fmt, ...) {
    if (!ctx || !ctx->notice) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ctx->notice(ctx->notice_user, msg);
}

static int alloc_allowed(spex_ctx *ctx) {
    if (!ctx || ctx->fail_after <= 0) return 1;
    if (ctx->fail_after == 1) return 0;
    ctx->fail_after--;
    return 1;
}

void *spex_malloc(spex_ctx *ctx, size_t size) {
    void *p = alloc_allowed(ctx) ? malloc(size ? size : 1) : NULL;
    if (!p) spex_seterr(ctx, SPEX_E_NOMEM, "out of memory allocating %zu bytes", size);
    return p;
}

void *spex_calloc(spex_ctx *ctx, size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) {
        spex_seterr(ctx, SPEX_E_NOMEM, "size overflow: %zu x %zu bytes", count, size);
        return NULL;
    }
    void *p = alloc_allowed(ctx) ? calloc(count ? count : 1, size ? size : 1) : NULL;
    if (!p) spex_seterr(ctx, SPEX_E_NOMEM, "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *spex_realloc(spex_ctx *ctx, void *p, size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) {
        spex_seterr(ctx, SPEX_E_NOMEM, "size overflow: %zu x %zu bytes", count, size);
        return NULL;
    }
    size_t bytes = count * size;
    void *q = alloc_allowed(ctx) ? realloc(p, bytes ? bytes : 1) : NULL;
    if (!q) spex_seterr(ctx, SPEX_E_NOMEM, "out of memory allocating %zu bytes", bytes);
    return q;
}

void spex_free(spex_ctx *ctx, void *p) {
    (void)ctx;
    free(p);
}

char *spex_strdup(spex_ctx *ctx, const char *s) {
    size_t len = strlen(s);
    char *d = spex_malloc(ctx, len + 1);
    if (d) memcpy(d, s, len + 1);
    return d;
}

void spexi_ctx_fail_alloc_after(spex_ctx *ctx, int64_t n) {
    ctx->fail_after = n;
}

double spex_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
