/* The query cache's cost (issue 8): microseconds per answer saved and per
 * answer looked up, through the query engine (batches of 256, one
 * transaction per batch; streamed answers, eval_stream: one per 64), and
 * a fully cached re-run of spex_explain against
 * the same run without a cache. Outputs are verified before timing is
 * reported. Usage: bench_cache [--n N] [--masks M] [--dir DIR]
 * (the cache file is created in DIR, default /tmp, and removed). */
#include "spex/backend.h"
#include "spex/explain.h"
#include "spex/rng.h"
#include "spex/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int eval_sum(void *user, const spex_masks *b, double *out) {
    (void)user;
    for (int64_t i = 0; i < spex_masks_count(b); i++)
        out[i] = (double)spex_bits_popcount(spex_masks_crow(b, i), spex_masks_words(b));
    return SPEX_OK;
}

/* The same, answer by answer: the engine commits every 64. */
static int eval_sum_stream(void *user, const spex_masks *b, double *out, spex_answer_fn answer,
                           void *sink) {
    int rc = eval_sum(user, b, out);
    for (int64_t i = 0; !rc && i < spex_masks_count(b); i++)
        answer(sink, i, out[i]);
    return rc;
}

static int run(spex_ctx *ctx, const spex_valuefn *vf, const spex_query_store *qs,
               const spex_masks *m, double *out, double *secs, int64_t *cached) {
    spex_query_opts qo = spex_query_opts_default();
    qo.store = qs;
    qo.store_policy = SPEX_STORE_STOP;
    spex_query *q;
    int rc = spex_query_new(ctx, vf, &qo, &q);
    if (rc) return rc;
    double t0 = spex_now();
    rc = spex_query_eval(q, m, out);
    *secs = spex_now() - t0;
    *cached = spex_query_n_cached(q);
    spex_query_free(q);
    return rc;
}

int main(int argc, char **argv) {
    int64_t n = 128, count = 100000;
    const char *dir = "/tmp";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--n"))
            n = strtoll(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--masks"))
            count = strtoll(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--dir"))
            dir = argv[i + 1];
    }
    if (n < 1 || count < 1) return 1;
    char path[1024];
    snprintf(path, sizeof path, "%s/spex_bench_cache_%ld.sqlite", dir, (long)getpid());
    spex_ctx *ctx = spex_ctx_new();
    spex_store *st = NULL;
    spex_masks *m = NULL;
    double *a = malloc((size_t)count * sizeof *a), *b = malloc((size_t)count * sizeof *b);
    spex_valuefn vf = {eval_sum, NULL, NULL, n, "popcount", NULL};
    spex_valuefn vs = {eval_sum, NULL, NULL, n, "popcount", eval_sum_stream};
    spex_query_store qs, qss;
    int rc = spex_store_open(ctx, path, NULL, &st);
    if (!rc) rc = spex_store_bind(st, "bench popcount", NULL, n, &qs);
    if (!rc) rc = spex_masks_new(ctx, n, count, &m);
    spex_rng r;
    spex_rng_seed(&r, 1);
    for (int64_t i = 0; !rc && i < count; i++) {
        uint64_t *row;
        rc = spex_masks_append_zero(m, &row);
        if (!rc) spex_rng_bits(&r, row, spex_masks_words(m), n);
    }
    double t_none = 0, t_save = 0, t_hit = 0, t_stream = 0;
    int64_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
    if (!rc) rc = run(ctx, &vf, NULL, m, a, &t_none, &c0); /* no cache */
    if (!rc) rc = run(ctx, &vf, &qs, m, b, &t_save, &c1);  /* all new: saved */
    for (int64_t i = 0; !rc && i < count; i++)
        if (a[i] != b[i])
            rc = spex_seterr(ctx, SPEX_E_INTERNAL, "save run differs at %lld", (long long)i);
    if (!rc) rc = run(ctx, &vf, &qs, m, b, &t_hit, &c2); /* all cached */
    for (int64_t i = 0; !rc && i < count; i++)
        if (a[i] != b[i])
            rc = spex_seterr(ctx, SPEX_E_INTERNAL, "cached run differs at %lld", (long long)i);
    /* a second fingerprint (binding replaces the store's current one) */
    if (!rc) rc = spex_store_bind(st, "bench popcount streamed", NULL, n, &qss);
    if (!rc) rc = run(ctx, &vs, &qss, m, b, &t_stream, &c3); /* all new, streamed */
    int64_t c4 = 0;
    double t_unused;
    if (!rc) rc = run(ctx, &vf, &qss, m, b, &t_unused, &c4); /* what streaming saved */
    for (int64_t i = 0; !rc && i < count; i++)
        if (a[i] != b[i])
            rc = spex_seterr(ctx, SPEX_E_INTERNAL, "streamed run differs at %lld", (long long)i);
    if (!rc && (c3 != 0 || c4 != count))
        rc = spex_seterr(ctx, SPEX_E_INTERNAL, "streamed counts %lld, %lld", (long long)c3,
                         (long long)c4);
    if (!rc && (c1 != 0 || c2 != count))
        rc = spex_seterr(ctx, SPEX_E_INTERNAL, "cached counts %lld, %lld", (long long)c1,
                         (long long)c2);
    if (rc) {
        fprintf(stderr, "bench_cache: %s\n", spex_errmsg(ctx));
    } else {
        printf("| n | masks | no cache µs/mask | save µs/answer | lookup µs/answer | streamed "
               "save µs/answer |\n"
               "|---:|---:|---:|---:|---:|---:|\n");
        printf("| %lld | %lld | %.2f | %.2f | %.2f | %.2f |\n", (long long)n, (long long)count,
               1e6 * t_none / (double)count, 1e6 * (t_save - t_none) / (double)count,
               1e6 * t_hit / (double)count, 1e6 * (t_stream - t_none) / (double)count);
    }
    /* a fully cached re-run of spex_explain (exact, n = 14: 16384 masks) */
    spex_game *g = NULL;
    spex_valuefn gv = {0};
    if (!rc) {
        const char *js =
            "{\"n\": 14, \"coefs\": [[[], 0.5], [[1], 1.0], [[2, 9], -0.7], [[3, 5, 13], 0.3]]}";
        rc = spex_game_parse(ctx, js, strlen(js), "bench game", &g);
        if (!rc) rc = spex_game_valuefn(g, 0, 1, &gv);
        if (!rc) rc = spex_store_bind(st, "bench game", NULL, 14, &qs);
    }
    if (!rc) {
        spex_explain_opts eo = spex_explain_opts_default();
        spex_result *r0 = NULL, *r1 = NULL, *r2 = NULL;
        double t0 = spex_now();
        rc = spex_explain(ctx, &gv, &eo, &r0);
        double s_plain = spex_now() - t0;
        eo.store = &qs;
        eo.store_policy = SPEX_STORE_STOP;
        t0 = spex_now();
        if (!rc) rc = spex_explain(ctx, &gv, &eo, &r1);
        double s_first = spex_now() - t0;
        t0 = spex_now();
        if (!rc) rc = spex_explain(ctx, &gv, &eo, &r2);
        double s_cached = spex_now() - t0;
        if (!rc && (r2->queries_cached != 16384 || r2->queries_new != 0))
            rc = spex_seterr(ctx, SPEX_E_INTERNAL, "re-run not fully cached");
        if (rc)
            fprintf(stderr, "bench_cache: %s\n", spex_errmsg(ctx));
        else
            printf("\nexact, n = 14 (16384 masks, a game evaluated in-process): no cache %.3f s, "
                   "first run with cache %.3f s, fully cached re-run %.3f s (%.2f µs per cached "
                   "answer, whole run)\n",
                   s_plain, s_first, s_cached, 1e6 * s_cached / 16384.0);
        spex_result_free(r0);
        spex_result_free(r1);
        spex_result_free(r2);
    }
    spex_valuefn_release(&gv);
    spex_game_free(g);
    spex_masks_free(m);
    spex_store_close(st);
    char side[1100];
    remove(path);
    snprintf(side, sizeof side, "%s-wal", path);
    remove(side);
    snprintf(side, sizeof side, "%s-shm", path);
    remove(side);
    free(a);
    free(b);
    spex_ctx_free(ctx);
    return rc ? 1 : 0;
}
