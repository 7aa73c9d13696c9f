/*
 * External value functions (DESIGN.md §4.2): n_workers copies of
 * `/bin/sh -c CMD`, each reading one mask per line on stdin (n characters
 * '0'/'1', then '\n') and answering one number per line on stdout. A batch is
 * split into contiguous chunks, one per worker, run concurrently.
 *
 * HOW IT WORKS (the I/O loop, exec_run_batch): both pipe ends we hold are
 * non-blocking, and one poll() waits on every worker's stdin (while it has
 * mask bytes left to send) and stdout (while it is open). Whatever is ready is
 * served: writes go out of a 64 KiB staging buffer that is refilled straight
 * from the packed masks, so a 100,000-feature line is never built whole;
 * reads fill a capped line buffer (EXEC_LINE_MAX) and every complete line is
 * parsed at once into out[] (and, through eval_stream, handed to the query
 * engine's answer callback at once, so it reaches the cache before the batch
 * ends). Because writing never waits for reading or the
 * other way round, a program that answers before it has read its whole input,
 * or one whose answers fill its stdout pipe while we still have input for it,
 * cannot deadlock us, whatever n and the batch size. The batch ends when every
 * worker has answered its whole chunk and taken all its input, or with the
 * first error (bad line, EOF, timeout); then whatever complete answers the
 * other workers already wrote are still collected (non-blocking reads), so no
 * answer received is lost, and the value function is marked failed: later
 * calls return an error and release kills the workers.
 *
 * Extra output (more lines than masks sent) is an error when it is read: in
 * the batch while other workers are still busy, at the end of the batch (a
 * partial line left over), or at the start of the next batch, which first
 * checks every worker for unread output and for EOF (not before the first
 * batch: output there may be answers written ahead of reading the masks).
 * The protocol has no end-of-answer marker, so extra lines that arrive only
 * after the next batch has started are indistinguishable from its answers;
 * they are caught one batch later, when the backlog shows.
 * A worker that stops reading its input (EPIPE) with answers missing gets
 * EXEC_REAP_WAIT_S for its last answers and EOF before it is reported.
 *
 * SIGPIPE: a worker that exits while we still write to it would raise SIGPIPE
 * and by default kill the whole process. The library never touches
 * process-wide signal state: during a batch it blocks SIGPIPE in the calling
 * thread only (pthread_sigmask), treats EPIPE as "the worker stopped reading",
 * consumes the SIGPIPE it caused (sigtimedwait, zero timeout) unless one was
 * already pending before, and restores the thread's mask. Workers start with
 * an empty signal mask and SIGPIPE at its default action, whatever the caller
 * had, each in a process group of its own so that release can signal the
 * shell and everything it started.
 */
#include "spex/backend.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ; /* the caller's environment, passed on to the workers */

#define EXEC_LINE_MAX 4096   /* longest answer line accepted, bytes with '\n' */
#define EXEC_WBUF_SIZE 65536 /* per-worker staging buffer for mask lines */
#define EXEC_QUOTE_MAX 80    /* characters of an offending line quoted in messages */
#define EXEC_MAX_WORKERS 256
#define EXEC_EXIT_WAIT_S 1.0  /* release after success: time to exit on stdin EOF */
#define EXEC_KILL_GRACE_S 0.5 /* between SIGTERM and SIGKILL */
#define EXEC_REAP_WAIT_S 0.5  /* after stdout EOF: time allowed to collect the status */

typedef struct worker {
    int id;
    pid_t pid;  /* 0 once reaped */
    int status; /* waitpid status, valid when reaped && status_known */
    int status_known;
    int in_fd;         /* our end of the worker's stdin; -1 once closed */
    int out_fd;        /* our end of the worker's stdout; -1 once closed */
    int in_gone;       /* EPIPE: the worker closed its stdin */
    double in_gone_at; /* when (spex_now) */
    int out_eof;       /* read() returned 0 */
    /* the current batch's chunk: masks first .. first+count-1 */
    int64_t first, count;
    int64_t n_filled;   /* masks completely copied into wbuf */
    int64_t pos;        /* next character of mask n_filled: 0..n-1, n = '\n' */
    int64_t n_sent;     /* masks completely written to the pipe */
    int64_t n_answers;  /* answers received */
    double quiet_since; /* spex_now() of its chunk's start or its last answer */
    char *wbuf;         /* (EXEC_WBUF_SIZE) bytes wbuf[woff..wlen) not yet written */
    size_t wlen, woff;
    char *rbuf; /* (EXEC_LINE_MAX) bytes of an incomplete answer line */
    size_t rlen;
} worker;

typedef struct exec_vf {
    spex_ctx *ctx;
    char *name; /* "exec `CMD`" (CMD shortened), for messages */
    int64_t n;
    double timeout_s;
    double stall_s;  /* the stall notice's delay; <= 0: none */
    int stall_noted; /* the notice was given (once per value function) */
    int n_workers;
    worker *w;          /* (n_workers) */
    struct pollfd *pfd; /* (2 n_workers) poll set of one round */
    int *pfd_worker;    /* (2 n_workers) worker index per entry, negative: stdin */
    locale_t c_locale;  /* numbers are read in the C locale; (locale_t)0 if unavailable */
    int64_t n_batches;  /* batches sent so far */
    int failed;         /* a batch failed: the workers are in an unknown state */
    int failed_worker;  /* worker that caused the failure, -1: none in particular */
    int fail_code;
    char fail_msg[512];
    spex_answer_fn answer; /* during a streamed batch: told of each answer line */
    void *sink;
} exec_vf;

typedef struct sigpipe_guard {
    sigset_t old;
    int was_pending;
} sigpipe_guard;

static void sigpipe_block(sigpipe_guard *g) {
    sigset_t s, pend;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s, &g->old);
    sigemptyset(&pend);
    sigpending(&pend);
    g->was_pending = sigismember(&pend, SIGPIPE) == 1;
}

static void sigpipe_restore(sigpipe_guard *g) {
    if (!g->was_pending) {
        sigset_t s, pend;
        sigemptyset(&s);
        sigaddset(&s, SIGPIPE);
        sigemptyset(&pend);
        sigpending(&pend);
        if (sigismember(&pend, SIGPIPE) == 1) {
            struct timespec zero = {0, 0};
            while (sigtimedwait(&s, NULL, &zero) < 0 && errno == EINTR) {
            }
        }
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Copies at most EXEC_QUOTE_MAX characters of s[0..len) into dst with
 * non-printable bytes shown as '?' and "..." when shortened. */
static void quote_line(char *dst, size_t dst_size, const char *s, size_t len) {
    size_t k = 0, lim = len < EXEC_QUOTE_MAX ? len : EXEC_QUOTE_MAX;
    for (size_t i = 0; i < lim && k + 4 < dst_size; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (lim < len && k + 4 <= dst_size) {
        memcpy(dst + k, "...", 3);
        k += 3;
    }
    dst[k] = '\0';
}

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* Non-blocking reap; returns 1 when the worker is (now) reaped. */
static int try_reap(worker *w) {
    if (w->pid <= 0) return 1;
    int st;
    pid_t r = waitpid(w->pid, &st, WNOHANG);
    if (r == w->pid) {
        w->status = st;
        w->status_known = 1;
        w->pid = 0;
        return 1;
    }
    if (r < 0 && errno != EINTR) { /* ECHILD: reaped elsewhere (SIGCHLD ignored) */
        w->pid = 0;
        return 1;
    }
    return 0;
}

/* Waits until every worker is reaped or `seconds` passed (< 0: no limit). */
static void reap_all(exec_vf *x, double seconds) {
    double end = spex_now() + seconds;
    for (;;) {
        int left = 0;
        for (int i = 0; i < x->n_workers; i++)
            left += !try_reap(&x->w[i]);
        if (!left || (seconds >= 0 && spex_now() >= end)) return;
        sleep_s(0.002);
    }
}

static void signal_all(exec_vf *x, int sig) {
    for (int i = 0; i < x->n_workers; i++)
        if (x->w[i].pid > 0 && kill(-x->w[i].pid, sig) < 0) kill(x->w[i].pid, sig);
}

/* Describes how a worker ended, e.g. "exited with status 3". */
static void describe_end(const worker *w, char *buf, size_t size) {
    if (w->pid > 0)
        snprintf(buf, size, "%s",
                 w->out_eof ? "closed its output (still running)" : "is still running");
    else if (!w->status_known)
        snprintf(buf, size, "ended (exit status unavailable)");
    else if (WIFEXITED(w->status))
        snprintf(buf, size, "exited with status %d%s", WEXITSTATUS(w->status),
                 WEXITSTATUS(w->status) == 127 ? " (command not found?)" : "");
    else if (WIFSIGNALED(w->status))
        snprintf(buf, size, "was killed by signal %d (%s)", WTERMSIG(w->status),
                 strsignal(WTERMSIG(w->status)));
    else
        snprintf(buf, size, "ended with wait status %d", w->status);
}

/* The worker's stdout reached EOF (or it stopped reading its input) before
 * it answered its chunk: collect the exit status briefly and explain. */
static int child_error(exec_vf *x, worker *w, const char *what) {
    double end = spex_now() + EXEC_REAP_WAIT_S;
    while (!try_reap(w) && spex_now() < end)
        sleep_s(0.002);
    char how[160];
    describe_end(w, how, sizeof how);
    x->failed_worker = w->id;
    return spex_seterr(x->ctx, SPEX_E_CHILD,
                       "%s: worker %d %s%s after %lld of %lld answers; mask %lld of the batch is "
                       "the first unanswered",
                       x->name, w->id, what, how, (long long)w->n_answers, (long long)w->count,
                       (long long)(w->first + w->n_answers));
}

/* Parses one answer line (without its '\n') into out[]. */
static int take_line(exec_vf *x, worker *w, const char *line, size_t len, double *out) {
    char q[EXEC_QUOTE_MAX + 8];
    if (w->n_answers >= w->count) {
        quote_line(q, sizeof q, line, len);
        x->failed_worker = w->id;
        return spex_seterr(x->ctx, SPEX_E_VALUE,
                           "%s: worker %d wrote more lines than the %lld masks it was sent; "
                           "extra line: '%s'",
                           x->name, w->id, (long long)w->count, q);
    }
    int64_t mask = w->first + w->n_answers;
    size_t a = 0, b = len;
    while (a < b && isspace((unsigned char)line[a]))
        a++;
    while (b > a && isspace((unsigned char)line[b - 1]))
        b--;
    const char *why = NULL;
    double v = 0.0;
    if (a == b)
        why = "an empty line";
    else {
        char buf[EXEC_LINE_MAX + 1];
        memcpy(buf, line + a, b - a);
        buf[b - a] = '\0';
        char *end;
        errno = 0;
        v = strtod(buf, &end);
        if (end != buf + (b - a))
            why = "not a number";
        else if (!isfinite(v))
            why = "not a finite number";
    }
    if (why) {
        quote_line(q, sizeof q, line, len);
        x->failed_worker = w->id;
        return spex_seterr(x->ctx, SPEX_E_VALUE,
                           "%s: worker %d: the answer to mask %lld of the batch is %s: '%s'",
                           x->name, w->id, (long long)mask, why, q);
    }
    out[mask] = v;
    w->n_answers++;
    w->quiet_since = spex_now();
    if (x->answer) x->answer(x->sink, mask, v);
    return SPEX_OK;
}

/* Parses every complete line in rbuf and keeps the incomplete rest. */
static int take_lines(exec_vf *x, worker *w, double *out) {
    size_t start = 0;
    int rc = SPEX_OK;
    for (;;) {
        char *nl = memchr(w->rbuf + start, '\n', w->rlen - start);
        if (!nl) break;
        size_t end = (size_t)(nl - w->rbuf);
        rc = take_line(x, w, w->rbuf + start, end - start, out);
        if (rc) break;
        start = end + 1;
    }
    memmove(w->rbuf, w->rbuf + start, w->rlen - start);
    w->rlen -= start;
    return rc;
}

/* Reads whatever the worker has written (non-blocking) and parses it. */
static int worker_read(exec_vf *x, worker *w, double *out) {
    while (w->out_fd >= 0) {
        ssize_t k = read(w->out_fd, w->rbuf + w->rlen, EXEC_LINE_MAX - w->rlen);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return SPEX_OK;
            x->failed_worker = w->id;
            return spex_seterr(x->ctx, SPEX_E_IO, "%s: worker %d: reading its output: %s", x->name,
                               w->id, strerror(errno));
        }
        if (k == 0) {
            w->out_eof = 1;
            close_fd(&w->out_fd);
            /* a last answer without its '\n' still counts */
            if (w->rlen > 0) {
                int rc = take_line(x, w, w->rbuf, w->rlen, out);
                w->rlen = 0;
                if (rc) return rc;
            }
            if (w->n_answers < w->count) return child_error(x, w, "");
            return SPEX_OK;
        }
        w->rlen += (size_t)k;
        int rc = take_lines(x, w, out);
        if (rc) return rc;
        if (w->rlen == EXEC_LINE_MAX) {
            char q[EXEC_QUOTE_MAX + 8];
            quote_line(q, sizeof q, w->rbuf, w->rlen);
            x->failed_worker = w->id;
            return spex_seterr(x->ctx, SPEX_E_VALUE,
                               "%s: worker %d: the answer to mask %lld of the batch is a line "
                               "longer than %d bytes: '%s'",
                               x->name, w->id, (long long)(w->first + w->n_answers), EXEC_LINE_MAX,
                               q);
        }
    }
    return SPEX_OK;
}

/* Refills wbuf from the packed masks of the worker's chunk. */
static void worker_fill(exec_vf *x, worker *w, const spex_masks *batch) {
    w->wlen = w->woff = 0;
    while (w->wlen < EXEC_WBUF_SIZE && w->n_filled < w->count) {
        const uint64_t *row = spex_masks_crow(batch, w->first + w->n_filled);
        while (w->pos < x->n && w->wlen < EXEC_WBUF_SIZE)
            w->wbuf[w->wlen++] = (char)('0' + spex_bits_get(row, w->pos++));
        if (w->pos == x->n && w->wlen < EXEC_WBUF_SIZE) {
            w->wbuf[w->wlen++] = '\n';
            w->pos = 0;
            w->n_filled++;
        }
    }
}

/* Writes as much of the worker's chunk as its stdin pipe takes now. */
static int worker_write(exec_vf *x, worker *w, const spex_masks *batch) {
    while (w->in_fd >= 0) {
        if (w->woff == w->wlen) {
            worker_fill(x, w, batch);
            if (w->wlen == 0) return SPEX_OK;
        }
        ssize_t k = write(w->in_fd, w->wbuf + w->woff, w->wlen - w->woff);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return SPEX_OK;
            if (errno == EPIPE) {
                /* it stopped reading; its answers so far may still be in its stdout */
                w->in_gone = 1;
                w->in_gone_at = spex_now();
                close_fd(&w->in_fd);
                return SPEX_OK;
            }
            x->failed_worker = w->id;
            return spex_seterr(x->ctx, SPEX_E_IO, "%s: worker %d: writing its input: %s", x->name,
                               w->id, strerror(errno));
        }
        for (const char *p = w->wbuf + w->woff, *e = p + k; (p = memchr(p, '\n', (size_t)(e - p)));
             p++)
            w->n_sent++;
        w->woff += (size_t)k;
    }
    return SPEX_OK;
}

/* Between batches every worker must be alive and silent. */
static int exec_check_idle(exec_vf *x) {
    for (int i = 0; i < x->n_workers; i++)
        x->w[i].count = x->w[i].n_answers = 0;
    for (int i = 0; i < x->n_workers; i++) {
        worker *w = &x->w[i];
        if (w->out_eof || w->in_gone || w->pid <= 0)
            return child_error(x, w, w->in_gone ? "stopped reading its input and " : "");
        /* Before the first batch, output may be answers written ahead of reading. */
        if (x->n_batches == 0) continue;
        struct pollfd p = {w->out_fd, POLLIN, 0};
        int r;
        while ((r = poll(&p, 1, 0)) < 0 && errno == EINTR) {
        }
        if (r > 0 && w->rlen == 0) {
            ssize_t k;
            while ((k = read(w->out_fd, w->rbuf, EXEC_LINE_MAX)) < 0 && errno == EINTR) {
            }
            if (k == 0) {
                w->out_eof = 1;
                close_fd(&w->out_fd);
                return child_error(x, w, "");
            }
            if (k > 0) w->rlen = (size_t)k;
        }
        if (w->rlen > 0) {
            char q[EXEC_QUOTE_MAX + 8];
            char *nl = memchr(w->rbuf, '\n', w->rlen);
            quote_line(q, sizeof q, w->rbuf, nl ? (size_t)(nl - w->rbuf) : w->rlen);
            x->failed_worker = w->id;
            return spex_seterr(x->ctx, SPEX_E_VALUE,
                               "%s: worker %d wrote output no mask asked for (more lines than "
                               "masks sent): '%s'",
                               x->name, w->id, q);
        }
    }
    return SPEX_OK;
}

static int timeout_error(exec_vf *x, int64_t count) {
    int first = -1, others = 0;
    for (int i = 0; i < x->n_workers; i++) {
        if (x->w[i].n_answers >= x->w[i].count) continue;
        if (first < 0)
            first = i;
        else
            others++;
    }
    x->failed_worker = -1;
    if (first < 0) { /* all answered, but someone does not take the rest of its input */
        for (int i = 0; i < x->n_workers && first < 0; i++)
            if (x->w[i].n_sent < x->w[i].count) first = i;
        const worker *w = &x->w[first < 0 ? 0 : first];
        return spex_seterr(x->ctx, SPEX_E_TIMEOUT,
                           "%s: a batch of %lld masks timed out after %g s: worker %d answered "
                           "but took only %lld of its %lld masks",
                           x->name, (long long)count, x->timeout_s, w->id, (long long)w->n_sent,
                           (long long)w->count);
    }
    const worker *w = &x->w[first];
    char more[64] = "";
    if (others)
        snprintf(more, sizeof more, " (and %d other worker%s)", others, others > 1 ? "s" : "");
    return spex_seterr(x->ctx, SPEX_E_TIMEOUT,
                       "%s: a batch of %lld masks timed out after %g s: worker %d had given %lld "
                       "of %lld answers (masks %lld..%lld of the batch)%s",
                       x->name, (long long)count, x->timeout_s, w->id, (long long)w->n_answers,
                       (long long)w->count, (long long)w->first,
                       (long long)(w->first + w->count - 1), more);
}

/* The I/O loop: see HOW IT WORKS at the top. */
static int exec_run_batch(exec_vf *x, const spex_masks *batch, double *out) {
    int64_t count = spex_masks_count(batch);
    double deadline = x->timeout_s > 0 ? spex_now() + x->timeout_s : 0.0;
    for (;;) {
        int np = 0, busy = 0;
        double wake = 0; /* > 0: seconds until a worker's grace period ends */
        for (int i = 0; i < x->n_workers; i++) {
            worker *w = &x->w[i];
            if (w->count == 0) continue;
            int more_input = w->n_sent < w->count && w->in_fd >= 0;
            if (w->n_answers < w->count || more_input) busy = 1;
            /* It stopped reading with answers missing: usually it is exiting, and
             * EOF with its last answers follows; give it EXEC_REAP_WAIT_S. */
            if (w->in_gone && w->n_answers < w->count && w->out_fd >= 0) {
                double left = w->in_gone_at + EXEC_REAP_WAIT_S - spex_now();
                if (left <= 0) return child_error(x, w, "stopped reading its input and ");
                if (wake <= 0 || left < wake) wake = left;
            }
            /* Masks sent, none answered for stall_s: one notice. The usual
             * cause is a program that reads its input in blocks and waits for
             * more; with no --timeout the run would wait forever in silence. */
            if (x->stall_s > 0 && !x->stall_noted && w->n_sent > w->n_answers && w->pid > 0) {
                double quiet = spex_now() - w->quiet_since;
                if (quiet >= x->stall_s) {
                    x->stall_noted = 1;
                    spex_ctx_notice(x->ctx,
                                    "%s: worker %d has not answered for %.0f s (it is running; "
                                    "%lld of %lld answers given). If it is computing, wait. If "
                                    "it reads its input in blocks it waits for more forever: "
                                    "mawk needs -W interactive, Python must read line by line "
                                    "(for line in sys.stdin) and flush every answer "
                                    "(print(..., flush=True)). --timeout SEC ends such a run.",
                                    x->name, w->id, quiet, (long long)w->n_answers,
                                    (long long)w->count);
                } else if (wake <= 0 || x->stall_s - quiet < wake) {
                    wake = x->stall_s - quiet;
                }
            }
            if (more_input) {
                x->pfd[np] = (struct pollfd){w->in_fd, POLLOUT, 0};
                x->pfd_worker[np++] = -1 - i;
            }
            if (w->out_fd >= 0) {
                x->pfd[np] = (struct pollfd){w->out_fd, POLLIN, 0};
                x->pfd_worker[np++] = i;
            }
        }
        if (!busy) break;
        if (np == 0)
            return spex_seterr(x->ctx, SPEX_E_INTERNAL, "%s: busy worker with no open pipe",
                               x->name);
        int ms = -1;
        if (deadline > 0) {
            double left = deadline - spex_now();
            if (left <= 0) return timeout_error(x, count);
            if (wake <= 0 || left < wake) wake = left;
        }
        if (wake > 0) ms = (int)ceil(wake * 1000.0);
        int r = poll(x->pfd, (nfds_t)np, ms);
        if (r < 0) {
            if (errno == EINTR) continue;
            return spex_seterr(x->ctx, SPEX_E_IO, "%s: poll: %s", x->name, strerror(errno));
        }
        for (int k = 0; k < np && r > 0; k++) {
            if (!x->pfd[k].revents) continue;
            int i = x->pfd_worker[k];
            int rc = i < 0 ? worker_write(x, &x->w[-1 - i], batch) : worker_read(x, &x->w[i], out);
            if (rc) return rc;
        }
    }
    /* a partial line after the last answer is output nobody asked for */
    for (int i = 0; i < x->n_workers; i++) {
        worker *w = &x->w[i];
        if (w->rlen == 0) continue;
        char q[EXEC_QUOTE_MAX + 8];
        quote_line(q, sizeof q, w->rbuf, w->rlen);
        x->failed_worker = w->id;
        return spex_seterr(x->ctx, SPEX_E_VALUE,
                           "%s: worker %d wrote more than the %lld answers it was asked for: '%s'",
                           x->name, w->id, (long long)w->count, q);
    }
    return SPEX_OK;
}

/* After a failure: keeps the complete answers the other workers have already
 * written (non-blocking), without replacing the failure's message. */
static void exec_salvage(exec_vf *x, double *out) {
    char msg[sizeof x->fail_msg];
    snprintf(msg, sizeof msg, "%s", spex_errmsg(x->ctx));
    int code = x->fail_code;
    for (int i = 0; i < x->n_workers; i++) {
        worker *w = &x->w[i];
        if (i == x->failed_worker || w->count == 0 || w->n_answers >= w->count) continue;
        if (w->out_fd < 0) continue;
        worker_read(x, w, out);
    }
    spex_seterr(x->ctx, code, "%s", msg);
}

static int exec_eval_batch(exec_vf *x, const spex_masks *batch, double *out) {
    int64_t count = spex_masks_count(batch);
    for (int64_t i = 0; i < count; i++)
        out[i] = NAN;
    if (x->failed)
        return spex_seterr(x->ctx, x->fail_code, "%s: unusable after an earlier failure: %s",
                           x->name, x->fail_msg);
    if (spex_masks_n(batch) != x->n)
        return spex_seterr(x->ctx, SPEX_E_INVAL,
                           "%s: batch masks have n = %lld features, the program takes n = %lld",
                           x->name, (long long)spex_masks_n(batch), (long long)x->n);
    sigpipe_guard sg;
    sigpipe_block(&sg);
    locale_t old_loc = x->c_locale ? uselocale(x->c_locale) : (locale_t)0;
    x->failed_worker = -1;
    int rc = exec_check_idle(x);
    if (!rc && count > 0) {
        /* contiguous chunks; the first count % k workers take one mask more */
        int64_t k = count < x->n_workers ? count : x->n_workers;
        int64_t base = count / k, extra = count % k, first = 0;
        for (int i = 0; i < k; i++) {
            worker *w = &x->w[i];
            w->first = first;
            w->count = base + (i < extra);
            first += w->count;
            w->n_filled = w->n_sent = w->n_answers = w->pos = 0;
            w->quiet_since = spex_now();
            w->wlen = w->woff = 0;
        }
        x->n_batches++;
        rc = exec_run_batch(x, batch, out);
    }
    if (rc) {
        x->fail_code = rc;
        exec_salvage(x, out);
        x->failed = 1;
        snprintf(x->fail_msg, sizeof x->fail_msg, "%s", spex_errmsg(x->ctx));
    }
    if (x->c_locale) uselocale(old_loc);
    sigpipe_restore(&sg);
    return rc;
}

/* eval_stream: every answer line is passed on as soon as it is parsed. */
static int exec_eval_stream(void *user, const spex_masks *batch, double *out, spex_answer_fn answer,
                            void *sink) {
    exec_vf *x = user;
    x->answer = answer;
    x->sink = sink;
    int rc = exec_eval_batch(x, batch, out);
    x->answer = NULL;
    x->sink = NULL;
    return rc;
}

static int exec_eval(void *user, const spex_masks *batch, double *out) {
    return exec_eval_stream(user, batch, out, NULL, NULL);
}

/* Closes the pipes, lets the workers exit on their own after a success,
 * then SIGTERM, a grace period, SIGKILL, and reaps every one of them. */
static void exec_destroy(void *user) {
    exec_vf *x = user;
    if (!x) return;
    spex_ctx *ctx = x->ctx;
    if (x->w) {
        for (int i = 0; i < x->n_workers; i++) {
            close_fd(&x->w[i].in_fd);
            close_fd(&x->w[i].out_fd);
        }
        if (!x->failed) reap_all(x, EXEC_EXIT_WAIT_S);
        signal_all(x, SIGTERM);
        reap_all(x, EXEC_KILL_GRACE_S);
        signal_all(x, SIGKILL);
        reap_all(x, -1.0);
        for (int i = 0; i < x->n_workers; i++) {
            spex_free(ctx, x->w[i].wbuf);
            spex_free(ctx, x->w[i].rbuf);
        }
    }
    if (x->c_locale) freelocale(x->c_locale);
    spex_free(ctx, x->w);
    spex_free(ctx, x->pfd);
    spex_free(ctx, x->pfd_worker);
    spex_free(ctx, x->name);
    spex_free(ctx, x);
}

/* Moves fd above the standard descriptors (so that the spawn's dup2 onto
 * 0/1 never meets itself) and marks it close-on-exec, so that no worker
 * inherits another worker's pipes and every stdin EOF arrives. */
/* (pipe2 with O_CLOEXEC is not POSIX; a thread of the caller forking between
 * pipe() and here could leak these fds into its child, which only delays
 * that worker's stdin EOF until the child exits.) */
static int fd_prepare(int *fd) {
    if (*fd <= 2) {
        int nfd = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
        if (nfd < 0) return -1;
        close(*fd);
        *fd = nfd;
        return 0;
    }
    int fl = fcntl(*fd, F_GETFD);
    return fl < 0 ? -1 : fcntl(*fd, F_SETFD, fl | FD_CLOEXEC);
}

static int set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int spawn_worker(exec_vf *x, worker *w, const char *cmd) {
    int in_p[2] = {-1, -1}, out_p[2] = {-1, -1};
    int rc = SPEX_OK, fa_ok = 0, at_ok = 0;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    const char *what = "pipe";
    if (pipe(in_p) < 0 || pipe(out_p) < 0) goto sys_fail;
    what = "fcntl";
    if (fd_prepare(&in_p[0]) || fd_prepare(&in_p[1]) || fd_prepare(&out_p[0]) ||
        fd_prepare(&out_p[1]) || set_nonblock(in_p[1]) || set_nonblock(out_p[0]))
        goto sys_fail;
    what = "posix_spawn";
    if ((errno = posix_spawn_file_actions_init(&fa))) goto sys_fail;
    fa_ok = 1;
    if ((errno = posix_spawn_file_actions_adddup2(&fa, in_p[0], 0)) ||
        (errno = posix_spawn_file_actions_adddup2(&fa, out_p[1], 1)))
        goto sys_fail;
    if ((errno = posix_spawnattr_init(&at))) goto sys_fail;
    at_ok = 1;
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    if ((errno = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                                   POSIX_SPAWN_SETPGROUP)) ||
        (errno = posix_spawnattr_setsigmask(&at, &none)) ||
        (errno = posix_spawnattr_setsigdefault(&at, &def)) ||
        (errno = posix_spawnattr_setpgroup(&at, 0)))
        goto sys_fail;
    char arg0[] = "sh", arg1[] = "-c";
    char *cmd_copy = spex_strdup(x->ctx, cmd);
    if (!cmd_copy) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    char *argv[] = {arg0, arg1, cmd_copy, NULL};
    errno = posix_spawn(&w->pid, "/bin/sh", &fa, &at, argv, environ);
    spex_free(x->ctx, cmd_copy);
    if (errno) {
        w->pid = 0;
        goto sys_fail;
    }
    w->in_fd = in_p[1];
    w->out_fd = out_p[0];
    in_p[1] = out_p[0] = -1;
    goto done;
sys_fail:
    rc = spex_seterr(x->ctx, SPEX_E_CHILD, "%s: starting worker %d: %s: %s", x->name, w->id, what,
                     strerror(errno));
done:
    if (fa_ok) posix_spawn_file_actions_destroy(&fa);
    if (at_ok) posix_spawnattr_destroy(&at);
    close_fd(&in_p[0]);
    close_fd(&in_p[1]);
    close_fd(&out_p[0]);
    close_fd(&out_p[1]);
    return rc;
}

spex_exec_opts spex_exec_opts_default(void) {
    spex_exec_opts o = {1, 0.0, 10.0};
    return o;
}

int spex_exec_open(spex_ctx *ctx, const char *cmd, int64_t n, const spex_exec_opts *opts,
                   spex_valuefn *out) {
    memset(out, 0, sizeof *out);
    spex_exec_opts o = opts ? *opts : spex_exec_opts_default();
    if (!cmd || !*cmd) return spex_seterr(ctx, SPEX_E_INVAL, "exec: empty command");
    if (n < 1 || n > SPEX_MAX_FEATURES)
        return spex_seterr(ctx, SPEX_E_RANGE, "exec `%.60s`: n = %lld must be in 1..%lld", cmd,
                           (long long)n, (long long)SPEX_MAX_FEATURES);
    if (o.n_workers < 1 || o.n_workers > EXEC_MAX_WORKERS)
        return spex_seterr(ctx, SPEX_E_INVAL, "exec `%.60s`: n_workers = %d must be in 1..%d", cmd,
                           o.n_workers, EXEC_MAX_WORKERS);
    if (isnan(o.timeout_s))
        return spex_seterr(ctx, SPEX_E_INVAL, "exec `%.60s`: timeout_s is NaN", cmd);
    exec_vf *x = spex_calloc(ctx, 1, sizeof *x);
    if (!x) return SPEX_E_NOMEM;
    int rc = SPEX_E_NOMEM;
    x->ctx = ctx;
    x->n = n;
    x->timeout_s = isinf(o.timeout_s) ? 0.0 : o.timeout_s;
    x->stall_s = isnan(o.stall_notice_s) ? 0.0 : o.stall_notice_s;
    x->failed = 1; /* until every worker runs: destroy kills at once */
    x->failed_worker = -1;
    size_t clen = strlen(cmd);
    x->name = spex_malloc(ctx, 96);
    if (!x->name) goto done;
    snprintf(x->name, 96, "exec `%.60s%s`", cmd, clen > 60 ? "..." : "");
    x->w = spex_calloc(ctx, (size_t)o.n_workers, sizeof *x->w);
    x->pfd = spex_calloc(ctx, 2 * (size_t)o.n_workers, sizeof *x->pfd);
    x->pfd_worker = spex_calloc(ctx, 2 * (size_t)o.n_workers, sizeof *x->pfd_worker);
    if (!x->w || !x->pfd || !x->pfd_worker) goto done;
    x->n_workers = o.n_workers;
    for (int i = 0; i < x->n_workers; i++) {
        x->w[i].id = i;
        x->w[i].in_fd = x->w[i].out_fd = -1;
    }
    for (int i = 0; i < x->n_workers; i++) {
        worker *w = &x->w[i];
        w->wbuf = spex_malloc(ctx, EXEC_WBUF_SIZE);
        w->rbuf = spex_malloc(ctx, EXEC_LINE_MAX);
        if (!w->wbuf || !w->rbuf) goto done;
    }
    x->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    for (int i = 0; i < x->n_workers; i++) {
        rc = spawn_worker(x, &x->w[i], cmd);
        if (rc) goto done;
    }
    x->failed = 0;
    rc = SPEX_OK;
    out->eval = exec_eval;
    out->eval_stream = exec_eval_stream;
    out->user = x;
    out->destroy = exec_destroy;
    out->n = n;
    out->name = x->name;
done:
    if (rc) exec_destroy(x);
    return rc;
}
