/* The query cache (spex/store.h) and the cache-first query engine: SHA-256
 * against the FIPS vectors; cached answers equal the value function's and
 * are not asked again; answers of a failed batch are kept; and the faults:
 * read-only and unwritable caches, a full disk (size limit), garbage,
 * truncated and foreign files, a newer schema, two processes at once. */
#include "test_util.h"

#include "spex/backend.h"
#include "spex/explain.h"
#include "spex/rng.h"
#include "spex/store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    spex_ctx *ctx;
    int64_t asked;
    int64_t fail_after; /* answer this many masks in total, then fail; < 0: never */
} counter;

/* f(m) = sum of (j + 1) over kept features j. */
static double truth(const uint64_t *row, int64_t n) {
    double s = 0;
    for (int64_t j = 0; j < n; j++)
        s += spex_bits_get(row, j) * (double)(j + 1);
    return s;
}

static int eval_counter(void *user, const spex_masks *b, double *out) {
    counter *c = user;
    for (int64_t i = 0; i < spex_masks_count(b); i++) {
        if (c->fail_after >= 0 && c->asked >= c->fail_after)
            return spex_seterr(c->ctx, SPEX_E_VALUE, "planted failure");
        out[i] = truth(spex_masks_crow(b, i), spex_masks_n(b));
        c->asked++;
    }
    return SPEX_OK;
}

static void random_masks(spex_masks *m, int64_t count, uint64_t seed) {
    spex_rng r;
    spex_rng_seed(&r, seed);
    for (int64_t i = 0; i < count; i++) {
        uint64_t *row;
        spex_masks_append_zero(m, &row);
        spex_rng_bits(&r, row, spex_masks_words(m), spex_masks_n(m));
    }
}

static char tmp_dir[256];

static void remove_tmp_dir(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmp_dir);
}

/* A fresh path in a per-test temp directory (removed at exit). */
static void tmp_path(char *buf, size_t cap, const char *name) {
    char *dir = tmp_dir;
    if (!dir[0]) {
        snprintf(dir, sizeof tmp_dir, "/tmp/spex_test_store_XXXXXX");
        if (!mkdtemp(dir)) fail_msg("mkdtemp failed");
        atexit(remove_tmp_dir);
    }
    snprintf(buf, cap, "%s/%s", dir, name);
}

/* Runs one "run" (a new query engine) over masks with the store; returns the
 * value-function calls it made and checks every value. */
static int64_t run_once(spex_ctx *ctx, const spex_query_store *qs, spex_store_policy pol,
                        const spex_masks *m, int64_t batch, int want_rc, int64_t *n_cached) {
    counter c = {ctx, 0, -1};
    spex_valuefn vf = {eval_counter, &c, NULL, spex_masks_n(m), "counter", NULL};
    spex_query_opts qo = spex_query_opts_default();
    qo.batch_size = batch;
    qo.store = qs;
    qo.store_policy = pol;
    spex_query *q;
    CHECK_RC(ctx, spex_query_new(ctx, &vf, &qo, &q));
    int64_t count = spex_masks_count(m);
    double *out = malloc((size_t)count * sizeof *out);
    int rc = spex_query_eval(q, m, out);
    if (rc != want_rc) fail_msg("eval returned %d, expected %d: %s", rc, want_rc, spex_errmsg(ctx));
    CHECK(rc == want_rc);
    for (int64_t i = 0; !rc && i < count; i++)
        CHECK_NEAR(out[i], truth(spex_masks_crow(m, i), spex_masks_n(m)), 0);
    if (n_cached) *n_cached = spex_query_n_cached(q);
    if (!rc) CHECK(spex_query_n_asked(q) - spex_query_n_cached(q) == c.asked);
    free(out);
    spex_query_free(q);
    return c.asked;
}

static void test_sha256(void **state) {
    (void)state;
    char hex[65];
    spex_sha256_hex("", 0, hex);
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    spex_sha256_hex("abc", 3, hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    spex_sha256_hex(m448, strlen(m448), hex);
    CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    spex_sha256_hex(a, 1000000, hex);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    /* the file version streams in blocks: the same digest */
    char path[512], fhex[65];
    tmp_path(path, sizeof path, "million_a");
    FILE *f = fopen(path, "wb");
    fwrite(a, 1, 1000000, f);
    fclose(f);
    spex_ctx *ctx = spex_ctx_new();
    CHECK_RC(ctx, spex_sha256_file(ctx, path, fhex));
    CHECK(!strcmp(hex, fhex));
    tmp_path(path, sizeof path, "no_such_file");
    CHECK(spex_sha256_file(ctx, path, fhex) == SPEX_E_IO);
    CHECK(strstr(spex_errmsg(ctx), "no_such_file") != NULL);
    free(a);
    spex_ctx_free(ctx);
}

/* Cache-first: a second run asks nothing; a larger run only the new masks;
 * another fingerprint shares nothing; the same fingerprint with another n
 * is refused. */
static void test_cache_first(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    char path[512];
    tmp_path(path, sizeof path, "sub/dir/cache.sqlite"); /* parents are created */
    spex_store *st;
    spex_store_opts so = spex_store_opts_default();
    CHECK_RC(ctx, spex_store_open(ctx, path, &so, &st));
    spex_query_store qs;
    CHECK_RC(ctx, spex_store_bind(st, "test f n=130", "label", 130, &qs));
    spex_masks *m;
    CHECK_RC(ctx, spex_masks_new(ctx, 130, 16, &m));
    random_masks(m, 300, 1);
    int64_t cached;
    CHECK(run_once(ctx, &qs, SPEX_STORE_STOP, m, 32, SPEX_OK, &cached) == 300);
    CHECK(cached == 0);
    CHECK(run_once(ctx, &qs, SPEX_STORE_STOP, m, 32, SPEX_OK, &cached) == 0);
    CHECK(cached == 300);
    random_masks(m, 100, 2); /* 300 old + 100 new */
    CHECK(run_once(ctx, &qs, SPEX_STORE_STOP, m, 7, SPEX_OK, &cached) == 100);
    CHECK(cached == 300);
    spex_store_close(st);

    /* reopened: still there; another fingerprint shares nothing */
    CHECK_RC(ctx, spex_store_open(ctx, path, &so, &st));
    CHECK_RC(ctx, spex_store_bind(st, "test f n=130", NULL, 130, &qs));
    CHECK(run_once(ctx, &qs, SPEX_STORE_STOP, m, 64, SPEX_OK, &cached) == 0);
    CHECK(cached == 400);
    CHECK_RC(ctx, spex_store_bind(st, "another f", NULL, 130, &qs));
    CHECK(run_once(ctx, &qs, SPEX_STORE_STOP, m, 64, SPEX_OK, &cached) == 400);
    CHECK(spex_store_bind(st, "test f n=130", NULL, 131, &qs) == SPEX_E_INVAL);
    CHECK(strstr(spex_errmsg(ctx), "n = 130") != NULL);

    spex_store_stats ss;
    CHECK_RC(ctx, spex_store_stats_get(st, &ss));
    CHECK(ss.n_answers == 800);
    CHECK(ss.n_fingerprints == 2);
    CHECK(ss.schema == SPEX_STORE_SCHEMA);
    int64_t now = (int64_t)time(NULL), del = -1;
    CHECK(ss.oldest >= now - 60 && ss.newest <= now + 1);
    CHECK_RC(ctx, spex_store_clear(st, now - 3600, &del)); /* nothing that old */
    CHECK(del == 0);
    CHECK_RC(ctx, spex_store_clear(st, INT64_MAX, &del));
    CHECK(del == 800);
    CHECK_RC(ctx, spex_store_stats_get(st, &ss));
    CHECK(ss.n_answers == 0 && ss.n_fingerprints == 0);
    /* after a clear the binding re-adds its fingerprint on the next save */
    CHECK_RC(ctx, spex_store_bind(st, "test f n=130", NULL, 130, &qs));
    CHECK(run_once(ctx, &qs, SPEX_STORE_STOP, m, 64, SPEX_OK, &cached) == 400);
    CHECK(run_once(ctx, &qs, SPEX_STORE_STOP, m, 64, SPEX_OK, &cached) == 0);
    spex_masks_free(m);
    spex_store_close(st);
    spex_ctx_free(ctx);
}

/* Answers of a batch that failed part-way are saved; the re-run asks only
 * the rest. */
static void test_failed_batch_saved(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    char path[512];
    tmp_path(path, sizeof path, "failed.sqlite");
    spex_store *st;
    CHECK_RC(ctx, spex_store_open(ctx, path, NULL, &st));
    spex_query_store qs;
    CHECK_RC(ctx, spex_store_bind(st, "f", NULL, 20, &qs));
    spex_masks *m;
    CHECK_RC(ctx, spex_masks_new(ctx, 20, 16, &m));
    random_masks(m, 100, 3);
    counter c = {ctx, 0, 45}; /* dies inside the 5th batch of 10 */
    spex_valuefn vf = {eval_counter, &c, NULL, 20, "counter", NULL};
    spex_query_opts qo = spex_query_opts_default();
    qo.batch_size = 10;
    qo.store = &qs;
    spex_query *q;
    CHECK_RC(ctx, spex_query_new(ctx, &vf, &qo, &q));
    double out[100];
    CHECK(spex_query_eval(q, m, out) == SPEX_E_VALUE);
    CHECK(strstr(spex_errmsg(ctx), "planted") != NULL);
    spex_query_free(q);
    int64_t cached;
    CHECK(run_once(ctx, &qs, SPEX_STORE_STOP, m, 10, SPEX_OK, &cached) == 55);
    CHECK(cached == 45);
    spex_masks_free(m);
    spex_store_close(st);
    spex_ctx_free(ctx);
}

/* A read-only cache: lookups work; saves fail; the engine goes on without
 * it (CONTINUE, with the failure recorded) or stops (STOP). */
static void test_read_only(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    char path[512];
    tmp_path(path, sizeof path, "ro.sqlite");
    spex_store *st;
    spex_query_store qs;
    spex_masks *m;
    CHECK_RC(ctx, spex_masks_new(ctx, 40, 16, &m));
    random_masks(m, 50, 4);
    CHECK_RC(ctx, spex_store_open(ctx, path, NULL, &st));
    CHECK_RC(ctx, spex_store_bind(st, "f", NULL, 40, &qs));
    CHECK(run_once(ctx, &qs, SPEX_STORE_STOP, m, 16, SPEX_OK, NULL) == 50);
    spex_store_close(st);

    spex_store_opts so = spex_store_opts_default();
    so.read_only = 1;
    CHECK_RC(ctx, spex_store_open(ctx, path, &so, &st));
    CHECK_RC(ctx, spex_store_bind(st, "f", NULL, 40, &qs));
    int64_t cached;
    CHECK(run_once(ctx, &qs, SPEX_STORE_STOP, m, 16, SPEX_OK, &cached) == 0);
    CHECK(cached == 50);
    random_masks(m, 30, 5);
    CHECK(run_once(ctx, &qs, SPEX_STORE_CONTINUE, m, 16, SPEX_OK, &cached) == 30);
    const char *why;
    CHECK(spex_store_failure(st, &why) == SPEX_E_IO);
    CHECK(strstr(why, "read-only") != NULL && strstr(why, "ro.sqlite") != NULL);
    CHECK(run_once(ctx, &qs, SPEX_STORE_STOP, m, 16, SPEX_E_IO, NULL) == 16);
    CHECK(strstr(spex_errmsg(ctx), "read-only") != NULL);
    spex_store_close(st);

    /* the file itself read-only (only meaningful when not root) */
    if (geteuid() != 0) {
        chmod(path, 0444);
        int rc = spex_store_open(ctx, path, NULL, &st);
        CHECK(rc == SPEX_OK || rc == SPEX_E_IO); /* refused at open, or at the first save */
        if (!rc) {
            CHECK_RC(ctx, spex_store_bind(st, "f", NULL, 40, &qs));
            CHECK(run_once(ctx, &qs, SPEX_STORE_STOP, m, 16, SPEX_E_IO, NULL) == 16);
            spex_store_close(st);
        }
        chmod(path, 0644);
    }
    spex_masks_free(m);
    spex_ctx_free(ctx);
}

/* Paths that cannot hold a cache: a clear SPEX_E_IO naming the path. */
static void test_unwritable(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    char file[512], path[600];
    tmp_path(file, sizeof file, "plain_file");
    FILE *f = fopen(file, "w");
    fputs("x", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/cache.sqlite", file); /* parent is a file */
    spex_store *st = (spex_store *)1;
    CHECK(spex_store_open(ctx, path, NULL, &st) == SPEX_E_IO);
    CHECK(st == NULL);
    CHECK(strstr(spex_errmsg(ctx), "plain_file") != NULL);
    tmp_path(path, sizeof path, "");
    CHECK(spex_store_open(ctx, path, NULL, &st) == SPEX_E_IO); /* a directory */
    CHECK(strstr(spex_errmsg(ctx), "directory") != NULL);
    spex_store_opts so = spex_store_opts_default();
    so.read_only = 1;
    tmp_path(path, sizeof path, "missing.sqlite");
    CHECK(spex_store_open(ctx, path, &so, &st) == SPEX_E_IO);
    CHECK(strstr(spex_errmsg(ctx), "missing.sqlite") != NULL);
    spex_ctx_free(ctx);
}

/* A full disk (the size limit): saves fail with SPEX_E_IO; CONTINUE goes on
 * with correct values, STOP stops; the answers saved before remain. */
static void test_disk_full(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    char path[512];
    tmp_path(path, sizeof path, "full.sqlite");
    spex_store *st;
    spex_store_opts so = spex_store_opts_default();
    so.max_size = 96 * 1024;
    CHECK_RC(ctx, spex_store_open(ctx, path, &so, &st));
    spex_query_store qs;
    CHECK_RC(ctx, spex_store_bind(st, "f", NULL, 2000, &qs)); /* 256-byte masks */
    spex_masks *m;
    CHECK_RC(ctx, spex_masks_new(ctx, 2000, 16, &m));
    random_masks(m, 1000, 6);
    CHECK(run_once(ctx, &qs, SPEX_STORE_CONTINUE, m, 50, SPEX_OK, NULL) == 1000);
    const char *why;
    CHECK(spex_store_failure(st, &why) == SPEX_E_IO);
    CHECK(strstr(why, "full") != NULL);
    spex_store_stats ss;
    CHECK_RC(ctx, spex_store_stats_get(st, &ss));
    CHECK(ss.n_answers > 0 && ss.n_answers < 1000 && ss.n_answers % 50 == 0);
    int64_t cached;
    CHECK(run_once(ctx, &qs, SPEX_STORE_STOP, m, 50, SPEX_E_IO, &cached) == 50);
    CHECK(strstr(spex_errmsg(ctx), "full") != NULL);
    spex_store_close(st);
    spex_masks_free(m);
    spex_ctx_free(ctx);
}

static void write_bytes(const char *path, const void *p, size_t size) {
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, size, f);
    fclose(f);
}

/* Opens, binds and looks up: returns the first error (or SPEX_OK). */
static int try_use(spex_ctx *ctx, const char *path, const spex_masks *m) {
    spex_store *st = NULL;
    spex_query_store qs;
    int rc = spex_store_open(ctx, path, NULL, &st);
    if (!rc) rc = spex_store_bind(st, "f", NULL, spex_masks_n(m), &qs);
    if (!rc) {
        double *v = malloc((size_t)spex_masks_count(m) * sizeof *v);
        unsigned char *found = calloc((size_t)spex_masks_count(m), 1);
        rc = qs.lookup(qs.user, m, v, found);
        free(v);
        free(found);
    }
    spex_store_close(st);
    return rc;
}

/* Garbage, truncated, foreign and newer files: SPEX_E_PARSE with the path
 * and what to do, never a crash. */
static void test_bad_files(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    char path[512];
    spex_masks *m;
    CHECK_RC(ctx, spex_masks_new(ctx, 300, 16, &m));
    random_masks(m, 2000, 7);
    /* garbage */
    tmp_path(path, sizeof path, "garbage.sqlite");
    unsigned char junk[8192];
    spex_rng r;
    spex_rng_seed(&r, 8);
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)spex_rng_u64(&r);
    write_bytes(path, junk, sizeof junk);
    CHECK(try_use(ctx, path, m) == SPEX_E_PARSE);
    CHECK(strstr(spex_errmsg(ctx), "garbage.sqlite") && strstr(spex_errmsg(ctx), "corrupt"));
    /* a text file */
    tmp_path(path, sizeof path, "text.sqlite");
    write_bytes(path, "hello, not a database\n", 22);
    CHECK(try_use(ctx, path, m) == SPEX_E_PARSE);

    /* a real cache, truncated at several points */
    char full[512], cut[600];
    tmp_path(full, sizeof full, "full_cache.sqlite");
    spex_store *st;
    spex_query_store qs;
    CHECK_RC(ctx, spex_store_open(ctx, full, NULL, &st));
    CHECK_RC(ctx, spex_store_bind(st, "f", NULL, 300, &qs));
    run_once(ctx, &qs, SPEX_STORE_STOP, m, 500, SPEX_OK, NULL);
    CHECK_RC(ctx, spex_store_clear(st, 0, NULL)); /* checkpoints the WAL into the file */
    spex_store_close(st);
    FILE *f = fopen(full, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc((size_t)size);
    CHECK(fread(bytes, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    CHECK(size > 100000);
    long cuts[] = {50, 100, 4096, 5000, size / 3, size / 2, size - 4096};
    for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
        snprintf(cut, sizeof cut, "%s.cut%zu", full, k);
        write_bytes(cut, bytes, (size_t)cuts[k]);
        int rc = try_use(ctx, cut, m);
        if (rc != SPEX_E_PARSE)
            fail_msg("cut at %ld of %ld bytes: rc %d (%s)", cuts[k], size, rc, spex_errmsg(ctx));
        CHECK(rc == SPEX_E_PARSE);
        CHECK(strstr(spex_errmsg(ctx), ".cut") != NULL);
    }
    free(bytes);

    /* another program's SQLite file */
    sqlite3 *db;
    tmp_path(path, sizeof path, "foreign.sqlite");
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES(1);", 0, 0, 0) == SQLITE_OK);
    sqlite3_close(db);
    CHECK(try_use(ctx, path, m) == SPEX_E_PARSE);
    CHECK(strstr(spex_errmsg(ctx), "another program") != NULL);

    /* a newer schema */
    tmp_path(path, sizeof path, "newer.sqlite");
    CHECK_RC(ctx, spex_store_open(ctx, path, NULL, &st));
    spex_store_close(st);
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "UPDATE spex_meta SET value = 2 WHERE key = 'schema'", 0, 0, 0) ==
          SQLITE_OK);
    sqlite3_close(db);
    CHECK(try_use(ctx, path, m) == SPEX_E_PARSE);
    CHECK(strstr(spex_errmsg(ctx), "newer") && strstr(spex_errmsg(ctx), "version 2"));
    spex_masks_free(m);
    spex_ctx_free(ctx);
}

/* Two processes write the same file at once (overlapping masks): every
 * answer of both lands, once, with the right value. */
static void test_two_processes(void **state) {
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "shared.sqlite");
    spex_ctx *ctx = spex_ctx_new();
    spex_store *st;
    CHECK_RC(ctx, spex_store_open(ctx, path, NULL, &st)); /* create before forking */
    spex_store_close(st);
    spex_masks *all;
    CHECK_RC(ctx, spex_masks_new(ctx, 100, 16, &all));
    random_masks(all, 3000, 9);
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            /* child k: masks [k*1000, k*1000 + 2000), batches of 20 */
            spex_ctx *c2 = spex_ctx_new();
            spex_masks *m;
            spex_query_store qs;
            int rc = spex_masks_new(c2, 100, 16, &m);
            for (int64_t i = k * 1000; !rc && i < k * 1000 + 2000; i++)
                rc = spex_masks_append(m, spex_masks_crow(all, i));
            if (!rc) rc = spex_store_open(c2, path, NULL, &st);
            if (!rc) rc = spex_store_bind(st, "f", NULL, 100, &qs);
            counter c = {c2, 0, -1};
            spex_valuefn vf = {eval_counter, &c, NULL, 100, "counter", NULL};
            spex_query_opts qo = spex_query_opts_default();
            qo.batch_size = 20;
            qo.store = &qs;
            qo.store_policy = SPEX_STORE_STOP;
            spex_query *q = NULL;
            double *out = malloc(2000 * sizeof *out);
            if (!rc) rc = spex_query_new(c2, &vf, &qo, &q);
            if (!rc) rc = spex_query_eval(q, m, out);
            if (rc) fprintf(stderr, "child %d: %s\n", k, spex_errmsg(c2));
            _exit(rc ? 1 : 0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int status = 0;
        CHECK(waitpid(kids[k], &status, 0) == kids[k]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    CHECK_RC(ctx, spex_store_open(ctx, path, NULL, &st));
    spex_store_stats ss;
    CHECK_RC(ctx, spex_store_stats_get(st, &ss));
    CHECK(ss.n_answers == 3000);
    spex_query_store qs;
    CHECK_RC(ctx, spex_store_bind(st, "f", NULL, 100, &qs));
    int64_t cached;
    CHECK(run_once(ctx, &qs, SPEX_STORE_STOP, all, 256, SPEX_OK, &cached) == 0);
    CHECK(cached == 3000);
    spex_store_close(st);
    spex_masks_free(all);
    spex_ctx_free(ctx);
}

/* spex_explain through the cache: a re-run is answered from it alone with
 * the same result, a noisy game included (noise is a function of the mask),
 * and another method reuses what it can. */
static void test_explain_reuse(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const char *js = "{\"n\": 8, \"noise_sd\": 0.1, \"coefs\": [[[], 1.0], [[1], -2.0], "
                     "[[2, 5], 0.7], [[0, 3, 6], 0.4]]}";
    spex_game *g;
    CHECK_RC(ctx, spex_game_parse(ctx, js, strlen(js), "noisy.json", &g));
    spex_valuefn vf;
    CHECK_RC(ctx, spex_game_valuefn(g, 1, 11, &vf));
    char path[512];
    tmp_path(path, sizeof path, "explain.sqlite");
    spex_store *st;
    spex_query_store qs;
    CHECK_RC(ctx, spex_store_open(ctx, path, NULL, &st));
    CHECK_RC(ctx, spex_store_bind(st, "noisy seed 11", NULL, 8, &qs));
    spex_explain_opts eo = spex_explain_opts_default();
    spex_result *plain, *first, *again;
    CHECK_RC(ctx, spex_explain(ctx, &vf, &eo, &plain)); /* no cache */
    CHECK(plain->queries == 256 && plain->queries_new == 256 && plain->queries_cached == 0);
    eo.store = &qs;
    eo.batch_size = 17; /* another batching: the same noisy values */
    CHECK_RC(ctx, spex_explain(ctx, &vf, &eo, &first));
    CHECK(first->queries_new == 256 && first->queries_cached == 0);
    CHECK_RC(ctx, spex_explain(ctx, &vf, &eo, &again));
    CHECK(again->queries == 256 && again->queries_cached == 256 && again->queries_new == 0);
    CHECK(spex_coefs_count(again->fourier) == spex_coefs_count(plain->fourier));
    for (int64_t i = 0; i < spex_coefs_count(plain->fourier); i++) {
        const int32_t *ia, *ib;
        int la, lb;
        double va, vb;
        spex_coefs_entry(plain->fourier, i, &ia, &la, &va);
        spex_coefs_entry(again->fourier, i, &ib, &lb, &vb);
        CHECK(la == lb && !memcmp(ia, ib, (size_t)la * sizeof *ia));
        CHECK(va == vb); /* bit for bit */
    }
    spex_result_free(plain);
    spex_result_free(first);
    spex_result_free(again);
    /* SPEX on the same target: every mask it needs is among the 2^8 cached */
    eo.method = SPEX_METHOD_SPEX;
    spex_result *sp = NULL;
    int rc = spex_explain(ctx, &vf, &eo, &sp);
    if (rc == SPEX_OK) {
        CHECK(sp->queries_new == 0 && sp->queries_cached == sp->queries && sp->queries > 0);
        spex_result_free(sp);
    }
    spex_store_close(st);
    spex_valuefn_release(&vf);
    spex_game_free(g);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_cache_first),
        cmocka_unit_test(test_failed_batch_saved),
        cmocka_unit_test(test_read_only),
        cmocka_unit_test(test_unwritable),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_two_processes),
        cmocka_unit_test(test_explain_reuse),
    };
    SPEX_RUN_TESTS(tests);
}
