/* External programs (DESIGN.md §4.2): sh, awk and python3 workers checked
 * against ground truth; no deadlock for n = 100,000 or for a program that
 * answers before reading; equal results for 1..4 workers; timeouts, garbage
 * answers and early exits with their messages, kept answers and NaN for the
 * rest; release never hangs. */
#include "testing.h"
#include "test_util.h"

#include "spex/backend.h"
#include "spex/masks.h"
#include "spex/rng.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <errno.h>

#define PYTHON "/usr/bin/python3"

/* Counts of ones in awk. $SPEX_AWK is set up in setup(): mawk reads its
 * input in blocks unless -W interactive, and every awk needs the fflush. */
#define AWK_COUNT "$SPEX_AWK '{ print gsub(/1/, \"1\"); fflush() }'"

static char tmpdir[256];

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/spex_test_exec_XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    int mawk = system("awk -W version 2>/dev/null | grep -q mawk") == 0;
    return setenv("SPEX_AWK", mawk ? "awk -W interactive" : "awk", 1);
}

static int teardown(void **state) {
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes a program to the temp dir and returns its path in buf. */
static const char *write_prog(const char *name, const char *text, char *buf, size_t size) {
    snprintf(buf, size, "%s/%s", tmpdir, name);
    FILE *f = fopen(buf, "w");
    if (!f) fail_msg("cannot write %s", buf);
    fputs(text, f);
    fclose(f);
    return buf;
}

static spex_masks *random_batch(spex_ctx *ctx, int64_t n, int64_t count, uint64_t seed) {
    spex_masks *b;
    if (spex_masks_new(ctx, n, count, &b)) fail_msg("%s", spex_errmsg(ctx));
    spex_rng r;
    spex_rng_seed(&r, seed);
    for (int64_t i = 0; i < count; i++) {
        uint64_t *row;
        spex_masks_append_zero(b, &row);
        spex_rng_bits(&r, row, spex_masks_words(b), n);
    }
    return b;
}

static double popcount(const spex_masks *b, int64_t i) {
    return (double)spex_bits_popcount(spex_masks_crow(b, i), spex_masks_words(b));
}

/* Σ_j w_j m_j with w_j = (j % 7) - 3: the python program's value. */
static double weighted(const spex_masks *b, int64_t i) {
    double s = 0;
    for (int64_t j = 0; j < spex_masks_n(b); j++)
        if (spex_bits_get(spex_masks_crow(b, i), j)) s += (double)(j % 7) - 3.0;
    return s;
}

static void nap(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static spex_exec_opts opts(int n_workers, double timeout_s) {
    spex_exec_opts o = spex_exec_opts_default();
    o.n_workers = n_workers;
    o.timeout_s = timeout_s;
    return o;
}

static void test_languages(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    char path[512], cmd[600];
    write_prog("weighted.py",
               "import sys\n"
               "for line in sys.stdin:\n"
               "    s = sum((j % 7) - 3 for j, c in enumerate(line.strip()) if c == '1')\n"
               "    print(s / 4, flush=True)\n",
               path, sizeof path);
    snprintf(cmd, sizeof cmd, PYTHON " '%s'", path);
    spex_masks *b = random_batch(ctx, 150, 40, 1);
    double out[40];
    spex_exec_opts o = opts(2, 10);
    spex_valuefn vf;

    CHECK_RC(ctx, spex_exec_open(ctx, cmd, 150, &o, &vf));
    CHECK(vf.n == 150 && vf.name && strstr(vf.name, "weighted.py"));
    for (int round = 0; round < 3; round++) { /* the same workers, batch after batch */
        CHECK_RC(ctx, vf.eval(vf.user, b, out));
        for (int i = 0; i < 40; i++)
            CHECK_NEAR(out[i], weighted(b, i) / 4, 1e-12);
    }
    spex_valuefn_release(&vf);

    CHECK_RC(ctx, spex_exec_open(ctx, AWK_COUNT, 150, &o, &vf));
    CHECK_RC(ctx, vf.eval(vf.user, b, out));
    for (int i = 0; i < 40; i++)
        CHECK_NEAR(out[i], popcount(b, i), 0);
    spex_valuefn_release(&vf);

    /* sh echoing the line back: checks the line format (feature 0 first) */
    spex_masks *small = random_batch(ctx, 9, 30, 2);
    CHECK_RC(ctx, spex_exec_open(ctx, "while read -r l; do echo \"1$l\"; done", 9, &o, &vf));
    CHECK_RC(ctx, vf.eval(vf.user, small, out));
    for (int i = 0; i < 30; i++) {
        double want = 1;
        for (int j = 0; j < 9; j++)
            want = want * 10 + spex_bits_get(spex_masks_crow(small, i), j);
        CHECK_NEAR(out[i], want, 0);
    }
    spex_valuefn_release(&vf);

    /* answers with surrounding blanks and CRLF are fine; so are exponents */
    CHECK_RC(ctx,
             spex_exec_open(ctx, "while read -r l; do printf '  -2.5e1 \\r\\n'; done", 9, &o, &vf));
    CHECK_RC(ctx, vf.eval(vf.user, small, out));
    for (int i = 0; i < 30; i++)
        CHECK_NEAR(out[i], -25.0, 0);
    spex_valuefn_release(&vf);
    spex_masks_free(small);
    spex_masks_free(b);
    spex_ctx_free(ctx);
}

/* n = 100,000: one line is larger than a pipe buffer in each direction. */
static void test_large_n(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const int64_t n = 100000;
    spex_masks *b = random_batch(ctx, n, 64, 3);
    double out[64];
    spex_exec_opts o = opts(2, 30);
    spex_valuefn vf;
    const char *cmd =
        PYTHON " -c 'import sys\nfor l in sys.stdin: print(l.count(\"1\"), flush=True)'";
    CHECK_RC(ctx, spex_exec_open(ctx, cmd, n, &o, &vf));
    CHECK_RC(ctx, vf.eval(vf.user, b, out));
    for (int i = 0; i < 64; i++)
        CHECK_NEAR(out[i], popcount(b, i), 0);
    spex_valuefn_release(&vf);

    /* answers from the first 10 characters, before the rest of the line is read */
    const char *early = PYTHON " -c 'import sys\n"
                               "while True:\n"
                               "    h = sys.stdin.read(10)\n"
                               "    if not h: break\n"
                               "    print(h.count(\"1\"), flush=True)\n"
                               "    sys.stdin.readline()'";
    CHECK_RC(ctx, spex_exec_open(ctx, early, n, &o, &vf));
    CHECK_RC(ctx, vf.eval(vf.user, b, out));
    for (int i = 0; i < 64; i++) {
        int want = 0;
        for (int j = 0; j < 10; j++)
            want += spex_bits_get(spex_masks_crow(b, i), j);
        CHECK_NEAR(out[i], want, 0);
    }
    spex_valuefn_release(&vf);

    /* every answer written before any input is read (6.4 MB of input pending) */
    o.n_workers = 1;
    const char *first = PYTHON " -c 'import sys\n"
                               "for i in range(64): print(i, flush=True)\n"
                               "sys.stdin.read()'";
    CHECK_RC(ctx, spex_exec_open(ctx, first, n, &o, &vf));
    CHECK_RC(ctx, vf.eval(vf.user, b, out));
    for (int i = 0; i < 64; i++)
        CHECK_NEAR(out[i], i, 0);
    spex_valuefn_release(&vf);
    spex_masks_free(b);
    spex_ctx_free(ctx);
}

static void test_workers_equal(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_masks *b = random_batch(ctx, 200, 37, 4);
    double ref[37], out[37];
    for (int i = 0; i < 37; i++)
        ref[i] = popcount(b, i);
    for (int k = 1; k <= 4; k++) {
        spex_exec_opts o = opts(k, 10);
        spex_valuefn vf;
        CHECK_RC(ctx, spex_exec_open(ctx, AWK_COUNT, 200, &o, &vf));
        CHECK_RC(ctx, vf.eval(vf.user, b, out));
        for (int i = 0; i < 37; i++)
            CHECK(out[i] == ref[i]);
        /* fewer masks than workers, then none, then the full batch again */
        spex_masks *two = random_batch(ctx, 200, 2, 5);
        CHECK_RC(ctx, vf.eval(vf.user, two, out));
        CHECK_NEAR(out[0], popcount(two, 0), 0);
        CHECK_NEAR(out[1], popcount(two, 1), 0);
        spex_masks_clear(two);
        CHECK_RC(ctx, vf.eval(vf.user, two, out));
        CHECK_RC(ctx, vf.eval(vf.user, b, out));
        for (int i = 0; i < 37; i++)
            CHECK(out[i] == ref[i]);
        spex_masks_free(two);
        spex_valuefn_release(&vf);
    }
    spex_masks_free(b);
    spex_ctx_free(ctx);
}

/* Evaluates one batch that must fail with `code`; returns the message. */
static const char *eval_fail(spex_ctx *ctx, const char *cmd, int64_t n, int n_workers,
                             double timeout_s, const spex_masks *b, double *out, int code) {
    spex_exec_opts o = opts(n_workers, timeout_s);
    spex_valuefn vf;
    CHECK_RC(ctx, spex_exec_open(ctx, cmd, n, &o, &vf));
    int rc = vf.eval(vf.user, b, out);
    if (rc != code) fail_msg("%s: code %d, expected %d: %s", cmd, rc, code, spex_errmsg(ctx));
    static char msg[1024];
    snprintf(msg, sizeof msg, "%s", spex_errmsg(ctx));
    /* after a failure the value function refuses further batches */
    double *again = malloc((size_t)spex_masks_count(b) * sizeof *again);
    CHECK(vf.eval(vf.user, b, again) != SPEX_OK);
    CHECK(strstr(spex_errmsg(ctx), "earlier failure") != NULL);
    for (int64_t i = 0; i < spex_masks_count(b); i++)
        CHECK(isnan(again[i]));
    free(again);
    double t0 = spex_now();
    spex_valuefn_release(&vf);
    CHECK(spex_now() - t0 < 3.0); /* SIGTERM, 0.5 s grace, SIGKILL */
    return msg;
}

static void check_has(const char *msg, const char *part) {
    spex_test_checks++;
    if (!strstr(msg, part)) fail_msg("message lacks \"%s\": %s", part, msg);
}

static void test_timeout(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_masks *b = random_batch(ctx, 20, 8, 6);
    double out[8];
    double t0 = spex_now();
    const char *msg = eval_fail(ctx, "while read -r l; do sleep 5; echo 1; done", 20, 1, 0.3, b,
                                out, SPEX_E_TIMEOUT);
    CHECK(spex_now() - t0 < 4.0);
    check_has(msg, "timed out");
    check_has(msg, "worker 0");
    check_has(msg, "0 of 8 answers");
    for (int i = 0; i < 8; i++)
        CHECK(isnan(out[i]));

    /* three answers, then silence: the three are kept */
    msg = eval_fail(ctx, "$SPEX_AWK '{ if (NR > 3) system(\"sleep 5\"); print 1; fflush() }'", 20,
                    1, 0.3, b, out, SPEX_E_TIMEOUT);
    check_has(msg, "3 of 8 answers");
    for (int i = 0; i < 8; i++)
        CHECK(i < 3 ? out[i] == 1 : isnan(out[i]));

    /* two workers, the second one stalls: the first one's answers are kept */
    msg = eval_fail(ctx, "while read -r l; do case $l in 1*) sleep 5;; esac; echo 7; done", 20, 2,
                    0.3, b, out, SPEX_E_TIMEOUT);
    check_has(msg, "timed out");
    for (int i = 0; i < 8; i++) {
        /* a worker stops at its first mask starting with 1 */
        int stalled = 0;
        for (int j = (i < 4 ? 0 : 4); j <= i; j++)
            stalled |= spex_bits_get(spex_masks_crow(b, j), 0);
        CHECK(stalled ? isnan(out[i]) : out[i] == 7);
    }
    spex_masks_free(b);
    spex_ctx_free(ctx);
}

/* The notices a run gave, in order. */
typedef struct notices {
    int count;
    char last[1024];
} notices;

static void take_notice(void *user, const char *msg) {
    notices *n = user;
    n->count++;
    snprintf(n->last, sizeof n->last, "%s", msg);
}

/* A program that reads its input in blocks (python's sys.stdin.read waits
 * for EOF) never answers: after stall_notice_s one notice names the usual
 * causes, and only one however long it stays silent; a program that
 * answers gets none; <= 0 turns the notice off. */
static void test_stall_notice(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    notices got = {0, ""};
    spex_ctx_set_notice(ctx, take_notice, &got);
    spex_masks *b = random_batch(ctx, 20, 8, 9);
    double out[8];
    spex_exec_opts o = opts(1, 1.2);
    o.stall_notice_s = 0.2;
    spex_valuefn vf;
    if (spex_exec_open(ctx, PYTHON " -c 'import sys; sys.stdin.read()'", 20, &o, &vf))
        fail_msg("%s", spex_errmsg(ctx));
    CHECK(vf.eval(vf.user, b, out) == SPEX_E_TIMEOUT);
    spex_valuefn_release(&vf);
    CHECK(got.count == 1);
    check_has(got.last, "worker 0 has not answered for");
    check_has(got.last, "0 of 8 answers");
    check_has(got.last, "mawk needs -W interactive");
    check_has(got.last, "line by line");

    /* answers within the delay: no notice */
    got.count = 0;
    if (spex_exec_open(ctx, AWK_COUNT, 20, &o, &vf)) fail_msg("%s", spex_errmsg(ctx));
    CHECK(vf.eval(vf.user, b, out) == SPEX_OK);
    CHECK(vf.eval(vf.user, b, out) == SPEX_OK);
    spex_valuefn_release(&vf);
    CHECK(got.count == 0);

    /* turned off */
    o.stall_notice_s = 0;
    o.timeout_s = 0.5;
    if (spex_exec_open(ctx, PYTHON " -c 'import sys; sys.stdin.read()'", 20, &o, &vf))
        fail_msg("%s", spex_errmsg(ctx));
    CHECK(vf.eval(vf.user, b, out) == SPEX_E_TIMEOUT);
    spex_valuefn_release(&vf);
    CHECK(got.count == 0);
    spex_masks_free(b);
    spex_ctx_free(ctx);
}

static void test_bad_answers(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_masks *b = random_batch(ctx, 12, 10, 7);
    double out[10];
    const char *msg =
        eval_fail(ctx, "$SPEX_AWK '{ if (NR == 3) print \"hello world\"; else print 1; fflush() }'",
                  12, 1, 5, b, out, SPEX_E_VALUE);
    check_has(msg, "'hello world'");
    check_has(msg, "mask 2");
    check_has(msg, "not a number");
    for (int i = 0; i < 10; i++)
        CHECK(i < 2 ? out[i] == 1 : isnan(out[i]));

    /* the same with 2 workers: the bad line is in the second worker's chunk
     * (mask 7, late), and the first worker's answers are all kept */
    char mask7[16], cmd2[256];
    spex_masks_to_string(b, 7, mask7);
    for (int i = 0; i < 7; i++) {
        char other[16];
        spex_masks_to_string(b, i, other);
        CHECK(strcmp(other, mask7) != 0);
    }
    snprintf(
        cmd2, sizeof cmd2,
        "while read -r l; do if [ \"$l\" = %s ]; then sleep 0.3; echo x; else echo 2; fi; done",
        mask7);
    msg = eval_fail(ctx, cmd2, 12, 2, 5, b, out, SPEX_E_VALUE);
    check_has(msg, "worker 1");
    check_has(msg, "mask 7");
    check_has(msg, "'x'");
    for (int i = 0; i < 10; i++)
        CHECK(i < 7 ? out[i] == 2 : isnan(out[i]));

    static const struct {
        const char *reply, *want;
    } bad[] = {
        {"nan", "not a finite number"},
        {"inf", "not a finite number"},
        {"-Infinity", "not a finite number"},
        {"1e999", "not a finite number"},
        {"", "empty line"},
        {"1.5x", "'1.5x'"},
        {"1 2", "'1 2'"},
        {"0x", "not a number"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "while read -r l; do echo '%s'; done", bad[k].reply);
        msg = eval_fail(ctx, cmd, 12, 1, 5, b, out, SPEX_E_VALUE);
        check_has(msg, bad[k].want);
        check_has(msg, "mask 0");
    }

    /* a long garbage line is quoted shortened; one past the cap is refused */
    msg = eval_fail(ctx,
                    PYTHON " -c 'import sys\nfor l in sys.stdin: print(\"z\" * 300, flush=True)'",
                    12, 1, 5, b, out, SPEX_E_VALUE);
    check_has(msg, "zzzzzzzzzz...'");
    CHECK(strstr(msg,
                 "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
                 "zzzzzzzzzzzzzzzzzzzz") == NULL);
    msg = eval_fail(ctx,
                    PYTHON " -c 'import sys\nfor l in sys.stdin: print(\"1\" * 5000, flush=True)'",
                    12, 1, 5, b, out, SPEX_E_VALUE);
    check_has(msg, "longer than 4096");

    /* more lines than masks: an error in this batch, or in the next one once
     * the extra lines have arrived */
    spex_exec_opts o = opts(1, 5);
    spex_valuefn vf;
    CHECK_RC(ctx, spex_exec_open(ctx, "$SPEX_AWK '{ print 1; print 2; fflush() }'", 12, &o, &vf));
    int rc = vf.eval(vf.user, b, out);
    if (rc == SPEX_OK) {
        nap(0.5);
        rc = vf.eval(vf.user, b, out);
    }
    CHECK(rc == SPEX_E_VALUE);
    check_has(spex_errmsg(ctx), "more");
    spex_valuefn_release(&vf);

    /* a line written between batches is caught before the next batch's answers */
    CHECK_RC(ctx, spex_exec_open(ctx, "read -r l; echo 5; echo 6; " AWK_COUNT, 12, &o, &vf));
    spex_masks *one = random_batch(ctx, 12, 1, 3);
    rc = vf.eval(vf.user, one, out);
    if (rc == SPEX_OK) {
        nap(0.5);
        rc = vf.eval(vf.user, b, out);
        check_has(spex_errmsg(ctx), "no mask asked for");
        check_has(spex_errmsg(ctx), "'6'");
    }
    CHECK(rc == SPEX_E_VALUE);
    spex_masks_free(one);
    spex_valuefn_release(&vf);
    spex_masks_free(b);
    spex_ctx_free(ctx);
}

static void test_child_exit(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_masks *b = random_batch(ctx, 50, 10, 8);
    double out[10];
    const char *msg = eval_fail(ctx, "$SPEX_AWK '{ print 1; fflush() } NR == 5 { exit 3 }'", 50, 1,
                                5, b, out, SPEX_E_CHILD);
    check_has(msg, "exited with status 3");
    check_has(msg, "5 of 10 answers");
    check_has(msg, "mask 5");
    for (int i = 0; i < 10; i++)
        CHECK(i < 5 ? out[i] == 1 : isnan(out[i]));

    msg = eval_fail(ctx, "read -r l; echo 4; kill -KILL $$", 50, 1, 5, b, out, SPEX_E_CHILD);
    check_has(msg, "signal 9");
    CHECK(out[0] == 4 && isnan(out[1]));

    msg = eval_fail(ctx, "spex_no_such_command_xyz", 50, 1, 5, b, out, SPEX_E_CHILD);
    check_has(msg, "status 127");

    /* closes stdout but keeps running */
    msg = eval_fail(ctx, "exec >&-; sleep 30", 50, 1, 0, b, out, SPEX_E_CHILD);
    check_has(msg, "closed its output");

    /* stops reading its input (exits) after one answer, with a long line pending */
    spex_masks *big = random_batch(ctx, 300000, 4, 9);
    double o4[4];
    msg = eval_fail(ctx, "head -c 10 >/dev/null; echo 1", 300000, 1, 5, big, o4, SPEX_E_CHILD);
    check_has(msg, "1 of 4 answers");
    CHECK(o4[0] == 1 && isnan(o4[1]));
    /* the EPIPE's SIGPIPE was consumed and the thread's signal mask restored */
    sigset_t cur, pend;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    sigpending(&pend);
    CHECK(!sigismember(&cur, SIGPIPE));
    CHECK(!sigismember(&pend, SIGPIPE));
    spex_masks_free(big);

    /* a worker that exits after a complete batch fails the next batch */
    spex_exec_opts o = opts(2, 5);
    spex_valuefn vf;
    CHECK_RC(ctx, spex_exec_open(ctx, "$SPEX_AWK '{ print 1; fflush() } NR == 5 { exit 0 }'", 50,
                                 &o, &vf));
    CHECK_RC(ctx, vf.eval(vf.user, b, out));
    nap(0.2);
    CHECK(vf.eval(vf.user, b, out) == SPEX_E_CHILD);
    check_has(spex_errmsg(ctx), "status 0");
    spex_valuefn_release(&vf);
    spex_masks_free(b);
    spex_ctx_free(ctx);
}

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int k = 0;
    if (!d) return -1;
    while (readdir(d))
        k++;
    closedir(d);
    return k;
}

struct exec_call {
    const spex_exec_opts *o;
    spex_valuefn *vf;
    spex_masks *good;
    double *out;
};
static int exec_open_run(spex_ctx *ctx, void *user) {
    struct exec_call *c = user;
    return spex_exec_open(ctx, AWK_COUNT, 10, c->o, c->vf);
}
static void exec_open_after(void *user, int rc) {
    struct exec_call *c = user;
    if (rc != SPEX_OK) return;
    CHECK(c->vf->eval(c->vf->user, c->good, c->out) == SPEX_OK); /* the opened one works */
    spex_valuefn_release(c->vf);
}

static void test_open_and_release(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    int fds = count_fds();
    spex_exec_opts o = opts(0, 0);
    spex_valuefn vf;
    CHECK(spex_exec_open(ctx, AWK_COUNT, 10, &o, &vf) == SPEX_E_INVAL);
    check_has(spex_errmsg(ctx), "n_workers = 0");
    CHECK(spex_exec_open(ctx, AWK_COUNT, 0, NULL, &vf) == SPEX_E_RANGE);
    CHECK(spex_exec_open(ctx, "", 10, NULL, &vf) == SPEX_E_INVAL);
    CHECK(vf.eval == NULL);

    /* a batch of the wrong n is refused without breaking the value function */
    CHECK_RC(ctx, spex_exec_open(ctx, AWK_COUNT, 10, NULL, &vf));
    spex_masks *b = random_batch(ctx, 11, 3, 1), *good = random_batch(ctx, 10, 3, 1);
    double out[3];
    CHECK(vf.eval(vf.user, b, out) == SPEX_E_INVAL);
    CHECK_RC(ctx, vf.eval(vf.user, good, out));
    CHECK_NEAR(out[2], popcount(good, 2), 0);
    double t0 = spex_now();
    spex_valuefn_release(&vf);
    CHECK(spex_now() - t0 < 1.0); /* awk exits on EOF at once */

    /* release after success with workers that ignore EOF and SIGTERM */
    o = opts(3, 5);
    CHECK_RC(ctx, spex_exec_open(ctx, "trap '' TERM; " AWK_COUNT "; sleep 30", 10, &o, &vf));
    CHECK_RC(ctx, vf.eval(vf.user, good, out));
    t0 = spex_now();
    spex_valuefn_release(&vf);
    double dt = spex_now() - t0;
    CHECK(dt > 1.0 && dt < 3.0);

    /* release without any batch, workers never read */
    CHECK_RC(ctx, spex_exec_open(ctx, "sleep 30", 10, &o, &vf));
    t0 = spex_now();
    spex_valuefn_release(&vf);
    CHECK(spex_now() - t0 < 3.0);
    spex_valuefn_release(&vf); /* twice is harmless */

    /* each allocation failing in turn: SPEX_E_NOMEM, nothing leaked or left running */
    struct exec_call c = {&o, &vf, good, out};
    CHECK(spex_test_alloc_walk(ctx, 1000, exec_open_run, exec_open_after, &c) > 3);
    CHECK(count_fds() == fds);
    /* every worker of this binary was reaped */
    CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
    spex_masks_free(b);
    spex_masks_free(good);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_languages),        cmocka_unit_test(test_large_n),
        cmocka_unit_test(test_workers_equal),    cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_bad_answers),      cmocka_unit_test(test_child_exit),
        cmocka_unit_test(test_open_and_release), cmocka_unit_test(test_stall_notice),
    };
    const int failed = cmocka_run_group_tests(tests, setup, teardown);
    if (!failed && spex_test_checks == 0) {
        fprintf(stderr, "no checks ran\n");
        return 1;
    }
    printf("%ld checks\n", spex_test_checks);
    return failed;
}
