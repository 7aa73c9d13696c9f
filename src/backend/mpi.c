/*
 * MPI workers (spex/mpi.h). Built with real MPI when SPEX_HAVE_MPI is
 * defined (CMake -DSPEX_MPI=ON); otherwise a job of one rank.
 *
 * HOW IT WORKS. Messages on MPI_COMM_WORLD, all between rank 0 and a worker:
 *   HELLO  worker -> 0   int64 n, then the check string (NUL-terminated)
 *   WORK   0 -> worker   uint64 seq, count, then count packed masks
 *   DONE   worker -> 0   int64 seq, count, rc, count doubles, the error text
 *   STOP   0 -> worker   empty: spex_mpi_serve returns
 * Rank 0's eval splits the batch into contiguous chunks as it sends them
 * (guided self-scheduling: a 1/(2W) share of what is left, but at least
 * what takes 50 ms and at most what takes chunk_s seconds at the rate
 * measured so far, and at least one mask), so every worker gets work while
 * there is work, the last chunks of a batch are short, and fast masks do
 * not drown in messages. Both sides poll (MPI_Iprobe) with a
 * sleep that grows from 50 us to 2 ms: Open MPI's blocking receive spins,
 * which on an oversubscribed node steals the CPU of the workers' models.
 * A worker holds at most one chunk; rank 0 sends only to idle workers, so a
 * send never waits for a busy receiver. Chunk sequence numbers never
 * repeat, so a late duplicate's answer (after its batch ended) is
 * recognised and dropped.
 */
#include "spex/mpi.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spex/masks.h"

spex_mpi_opts spex_mpi_opts_default(void) {
    spex_mpi_opts o = {2.0, 30.0};
    return o;
}

#ifndef SPEX_HAVE_MPI

struct spex_mpi {
    int unused;
};

int spex_mpi_available(void) {
    return 0;
}

int spex_mpi_open(spex_ctx *ctx, int *argc, char ***argv, spex_mpi **out) {
    (void)argc;
    (void)argv;
    *out = spex_calloc(ctx, 1, sizeof **out);
    return *out ? SPEX_OK : SPEX_E_NOMEM;
}

int spex_mpi_rank(const spex_mpi *mp) {
    (void)mp;
    return 0;
}

int spex_mpi_size(const spex_mpi *mp) {
    (void)mp;
    return 1;
}

int spex_mpi_valuefn(spex_ctx *ctx, spex_mpi *mp, int64_t n, const char *check,
                     const spex_mpi_opts *opts, spex_valuefn *out) {
    (void)mp;
    (void)n;
    (void)check;
    (void)opts;
    memset(out, 0, sizeof *out);
    return spex_seterr(ctx, SPEX_E_UNSUPPORTED, "this spex was built without MPI");
}

int spex_mpi_serve(spex_ctx *ctx, spex_mpi *mp, spex_valuefn *vf, const char *check) {
    (void)mp;
    (void)vf;
    (void)check;
    return spex_seterr(ctx, SPEX_E_UNSUPPORTED, "this spex was built without MPI");
}

void spex_mpi_close(spex_mpi *mp) {
    free(mp);
}

#else /* SPEX_HAVE_MPI */

#include <mpi.h>

enum { TAG_HELLO = 1, TAG_WORK = 2, TAG_DONE = 3, TAG_STOP = 4 };

/* a DONE message's fixed part */
typedef struct done_head {
    int64_t seq, count, rc;
} done_head;

/* One chunk of the batch in hand: masks [start, start + count). */
typedef struct chunk {
    int64_t start, count;
    double sent; /* when last sent */
    int copies;  /* sends so far (a late chunk is sent once more) */
    int done;
} chunk;

struct spex_mpi {
    int initialised; /* by us: MPI_Finalize on close */
    int rank, size;
    int stopped;         /* rank 0: STOP sent to every worker */
    int64_t *busy;       /* rank 0: busy[w] = seq of the chunk worker w holds, or -1 */
    int64_t next_seq;    /* rank 0: next chunk sequence number */
    double sec_per_mask; /* rank 0: worker time per mask, moving average (0: none yet) */
    spex_mpi_opts opts;
    spex_ctx *ctx; /* rank 0, while a value function exists */
    int64_t n;
};

int spex_mpi_available(void) {
    return 1;
}

/* Whether a launcher started us: Open MPI, MPICH/Hydra, PMIx (srun). */
static int launched_by_mpi(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK",
                                       NULL};
    for (const char *const *v = vars; *v; v++)
        if (getenv(*v)) return 1;
    return 0;
}

static int mpi_fail(spex_ctx *ctx, int err, const char *what) {
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "error %d", err);
    return spex_seterr(ctx, SPEX_E_IO, "MPI: %s failed: %s", what, s);
}

int spex_mpi_open(spex_ctx *ctx, int *argc, char ***argv, spex_mpi **out) {
    spex_mpi *mp = spex_calloc(ctx, 1, sizeof *mp);
    if (!mp) return SPEX_E_NOMEM;
    mp->size = 1;
    mp->opts = spex_mpi_opts_default();
    *out = mp;
    int flag = 0;
    MPI_Initialized(&flag);
    if (!flag && !launched_by_mpi()) return SPEX_OK;
    if (!flag) {
        int err = MPI_Init(argc, argv);
        if (err != MPI_SUCCESS) {
            *out = NULL;
            free(mp);
            return spex_seterr(ctx, SPEX_E_IO, "MPI_Init failed (error %d)", err);
        }
        mp->initialised = 1;
    }
    /* errors come back as codes, with a message, rather than aborting */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &mp->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &mp->size);
    return SPEX_OK;
}

int spex_mpi_rank(const spex_mpi *mp) {
    return mp ? mp->rank : 0;
}

int spex_mpi_size(const spex_mpi *mp) {
    return mp ? mp->size : 1;
}

/* Sleeps *wait seconds and doubles it up to 2 ms (the polling backoff). */
static void backoff(double *wait) {
    struct timespec ts = {0, (long)(*wait * 1e9)};
    nanosleep(&ts, NULL);
    *wait = *wait * 2 > 2e-3 ? 2e-3 : *wait * 2;
}

/* Waits for a message with tag from src (MPI_ANY_SOURCE allowed), polling;
 * timeout_s < 0: forever. Returns 1 with *st set, 0 on timeout, <0 on an MPI error. */
static int poll_msg(int src, int tag, double timeout_s, MPI_Status *st) {
    double wait = 5e-5, t0 = spex_now();
    for (;;) {
        int flag = 0, err = MPI_Iprobe(src, tag, MPI_COMM_WORLD, &flag, st);
        if (err != MPI_SUCCESS) return -err;
        if (flag) return 1;
        if (timeout_s >= 0 && spex_now() - t0 >= timeout_s) return 0;
        backoff(&wait);
    }
}

/* ---- workers ---- */

int spex_mpi_serve(spex_ctx *ctx, spex_mpi *mp, spex_valuefn *vf, const char *check) {
    if (!mp || mp->size < 2 || mp->rank == 0)
        return spex_seterr(ctx, SPEX_E_INVAL, "spex_mpi_serve runs on ranks 1..N-1 of a job");
    size_t clen = strlen(check) + 1;
    char *hello = spex_malloc(ctx, sizeof(int64_t) + clen);
    if (!hello) return SPEX_E_NOMEM;
    int64_t n = vf->n;
    memcpy(hello, &n, sizeof n);
    memcpy(hello + sizeof n, check, clen);
    int err = MPI_Send(hello, (int)(sizeof n + clen), MPI_BYTE, 0, TAG_HELLO, MPI_COMM_WORLD);
    free(hello);
    if (err != MPI_SUCCESS) return mpi_fail(ctx, err, "sending HELLO");
    spex_masks *b = NULL;
    int rc = spex_masks_new(ctx, vf->n, 64, &b);
    if (rc) return rc;
    size_t words = spex_masks_words(b);
    uint64_t *in = NULL;
    char *reply = NULL;
    size_t in_cap = 0, reply_cap = 0;
    for (;;) {
        MPI_Status st;
        int got = poll_msg(0, MPI_ANY_TAG, -1, &st);
        if (got < 0) {
            rc = mpi_fail(ctx, -got, "waiting for work");
            break;
        }
        if (st.MPI_TAG == TAG_STOP) {
            err = MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_STOP, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            if (err != MPI_SUCCESS) rc = mpi_fail(ctx, err, "receiving STOP");
            break;
        }
        int len = 0;
        MPI_Get_count(&st, MPI_UINT64_T, &len);
        if (st.MPI_TAG != TAG_WORK || len < 2) {
            rc = spex_seterr(ctx, SPEX_E_INTERNAL, "MPI: unexpected message (tag %d)", st.MPI_TAG);
            break;
        }
        if ((size_t)len > in_cap) {
            uint64_t *p = realloc(in, (size_t)len * sizeof *p);
            if (!p) {
                rc = spex_seterr(ctx, SPEX_E_NOMEM, "out of memory");
                break;
            }
            in = p;
            in_cap = (size_t)len;
        }
        err = MPI_Recv(in, len, MPI_UINT64_T, 0, TAG_WORK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (err != MPI_SUCCESS) {
            rc = mpi_fail(ctx, err, "receiving work");
            break;
        }
        int64_t seq = (int64_t)in[0], count = (int64_t)in[1];
        if (count < 1 || (size_t)len != 2 + (size_t)count * words) {
            rc = spex_seterr(ctx, SPEX_E_INTERNAL, "MPI: malformed work message");
            break;
        }
        spex_masks_clear(b);
        for (int64_t i = 0; i < count && !rc; i++)
            rc = spex_masks_append(b, in + 2 + (size_t)i * words);
        if (rc) break;
        /* the reply: head, values, then the error text */
        size_t need = sizeof(done_head) + (size_t)count * sizeof(double) + 1024;
        if (need > reply_cap) {
            char *p = realloc(reply, need);
            if (!p) {
                rc = spex_seterr(ctx, SPEX_E_NOMEM, "out of memory");
                break;
            }
            reply = p;
            reply_cap = need;
        }
        double *vals = (double *)(reply + sizeof(done_head));
        for (int64_t i = 0; i < count; i++)
            vals[i] = NAN;
        int vrc = vf->eval(vf->user, b, vals);
        done_head h = {seq, count, vrc};
        memcpy(reply, &h, sizeof h);
        char *msg = (char *)(vals + count);
        size_t mlen = 0;
        if (vrc) {
            snprintf(msg, 1024, "%s", spex_errmsg(ctx));
            mlen = strlen(msg);
        }
        msg[mlen] = '\0';
        size_t total = sizeof h + (size_t)count * sizeof(double) + mlen + 1;
        err = MPI_Send(reply, (int)total, MPI_BYTE, 0, TAG_DONE, MPI_COMM_WORLD);
        if (err != MPI_SUCCESS) {
            rc = mpi_fail(ctx, err, "sending answers");
            break;
        }
    }
    free(in);
    free(reply);
    spex_masks_free(b);
    return rc;
}

/* ---- rank 0 ---- */

/* Sends STOP to every worker (once). */
static void stop_workers(spex_mpi *mp) {
    if (mp->stopped || mp->size < 2 || mp->rank != 0) return;
    mp->stopped = 1;
    /* a worker still holding a late duplicate finishes it first, so that its
     * answer is received and no send is left unmatched at MPI_Finalize */
    double t0 = spex_now();
    char *buf = NULL;
    for (int w = 1; mp->busy && w < mp->size; w++) {
        while (mp->busy[w] >= 0) {
            MPI_Status st;
            double left = mp->opts.deadline_s - (spex_now() - t0);
            if (poll_msg(w, TAG_DONE, left > 0 ? left : 0, &st) != 1) {
                fprintf(stderr, "spex: MPI rank %d still busy with a late chunk: ending the job\n",
                        w);
                MPI_Abort(MPI_COMM_WORLD, 0);
            }
            int len = 0;
            MPI_Get_count(&st, MPI_BYTE, &len);
            char *p = realloc(buf, (size_t)len + 1);
            if (p) buf = p;
            MPI_Recv(p ? buf : NULL, p ? len : 0, MPI_BYTE, w, TAG_DONE, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
            mp->busy[w] = -1;
        }
    }
    free(buf);
    for (int w = 1; w < mp->size; w++)
        MPI_Send(NULL, 0, MPI_BYTE, w, TAG_STOP, MPI_COMM_WORLD);
}

/* The state of one batch on rank 0. */
typedef struct batch_run {
    spex_mpi *mp;
    const spex_masks *b;
    double *out;
    spex_answer_fn answer;
    void *sink;
    chunk *ch;
    int64_t n_ch, cap_ch, seq0; /* chunk k has sequence number seq0 + k */
    int64_t next;               /* first mask not yet in a chunk */
    int64_t n_done;             /* chunks answered */
    int fail_rank, fail_rc;
    char *msg; /* first error's text (malloc'ed) */
    char *rbuf;
    size_t rcap;
} batch_run;

#define CHUNK_MIN_S 0.05

/* Chunk size for the next send (guided self-scheduling, see the top). */
static int64_t next_chunk_size(const batch_run *r) {
    const spex_mpi *mp = r->mp;
    int64_t left = spex_masks_count(r->b) - r->next;
    int64_t workers = mp->size - 1;
    int64_t share = (left + 2 * workers - 1) / (2 * workers);
    if (mp->sec_per_mask <= 0) return 1; /* the first chunks measure the rate */
    double spm = mp->sec_per_mask;
    /* a chunk shorter than CHUNK_MIN_S costs more in messages than its
     * share of the load balance gains: fast masks go in large chunks */
    double least = CHUNK_MIN_S / spm, most = mp->opts.chunk_s / spm;
    double c = (double)share;
    if (c < least) c = least;
    if (c > most) c = most;
    if (c > (double)left) c = (double)left;
    return c < 1 ? 1 : (int64_t)c;
}

static int send_chunk(batch_run *r, int w, int64_t k) {
    spex_mpi *mp = r->mp;
    chunk *c = &r->ch[k];
    size_t words = spex_masks_words(r->b);
    size_t len = 2 + (size_t)c->count * words;
    uint64_t *msg = malloc(len * sizeof *msg);
    if (!msg) return spex_seterr(mp->ctx, SPEX_E_NOMEM, "out of memory");
    msg[0] = (uint64_t)(r->seq0 + k);
    msg[1] = (uint64_t)c->count;
    memcpy(msg + 2, spex_masks_crow(r->b, c->start), (size_t)c->count * words * sizeof *msg);
    int err = MPI_Send(msg, (int)len, MPI_UINT64_T, w, TAG_WORK, MPI_COMM_WORLD);
    free(msg);
    if (err != MPI_SUCCESS) return mpi_fail(mp->ctx, err, "sending work");
    c->sent = spex_now();
    c->copies++;
    mp->busy[w] = r->seq0 + k;
    return SPEX_OK;
}

/* Gives every idle worker something: a new chunk while masks are left (and
 * no error came back), else a late chunk once more. */
static int dispatch(batch_run *r) {
    spex_mpi *mp = r->mp;
    int64_t total = spex_masks_count(r->b);
    for (int w = 1; w < mp->size; w++) {
        if (mp->busy[w] >= 0) continue;
        if (r->next < total && !r->fail_rc) {
            if (r->n_ch == r->cap_ch) {
                int64_t cap = r->cap_ch ? 2 * r->cap_ch : 64;
                chunk *p = realloc(r->ch, (size_t)cap * sizeof *p);
                if (!p) return spex_seterr(mp->ctx, SPEX_E_NOMEM, "out of memory");
                r->ch = p;
                r->cap_ch = cap;
            }
            chunk *c = &r->ch[r->n_ch];
            memset(c, 0, sizeof *c);
            c->start = r->next;
            c->count = next_chunk_size(r);
            r->next += c->count;
            int rc = send_chunk(r, w, r->n_ch++);
            if (rc) return rc;
            continue;
        }
        if (r->fail_rc) continue;
        /* nothing new: the oldest late chunk held by one worker only */
        int64_t best = -1;
        double now = spex_now();
        for (int64_t k = 0; k < r->n_ch; k++) {
            chunk *c = &r->ch[k];
            /* late: past the deadline and 4x what the chunk should take */
            double late = 4 * (double)c->count * mp->sec_per_mask;
            if (late < mp->opts.deadline_s) late = mp->opts.deadline_s;
            if (c->done || c->copies > 1 || now - c->sent < late) continue;
            if (best < 0 || c->sent < r->ch[best].sent) best = k;
        }
        if (best >= 0) {
            int rc = send_chunk(r, w, best);
            if (rc) return rc;
        }
    }
    return SPEX_OK;
}

/* Receives one DONE (from st's source) and takes its answers. */
static int receive(batch_run *r, const MPI_Status *st) {
    spex_mpi *mp = r->mp;
    int w = st->MPI_SOURCE, len = 0;
    MPI_Get_count(st, MPI_BYTE, &len);
    if ((size_t)len + 1 > r->rcap) {
        char *p = realloc(r->rbuf, (size_t)len + 1);
        if (!p) return spex_seterr(mp->ctx, SPEX_E_NOMEM, "out of memory");
        r->rbuf = p;
        r->rcap = (size_t)len + 1;
    }
    int err = MPI_Recv(r->rbuf, len, MPI_BYTE, w, TAG_DONE, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (err != MPI_SUCCESS) return mpi_fail(mp->ctx, err, "receiving answers");
    r->rbuf[len] = '\0';
    done_head h;
    if ((size_t)len < sizeof h) return spex_seterr(mp->ctx, SPEX_E_INTERNAL, "MPI: short reply");
    memcpy(&h, r->rbuf, sizeof h);
    mp->busy[w] = -1;
    int64_t k = h.seq - r->seq0;
    if (k < 0 || k >= r->n_ch || r->ch[k].done) return SPEX_OK; /* a late duplicate's */
    chunk *c = &r->ch[k];
    if (h.count != c->count || (size_t)len < sizeof h + (size_t)h.count * sizeof(double) + 1)
        return spex_seterr(mp->ctx, SPEX_E_INTERNAL, "MPI: malformed reply from rank %d", w);
    c->done = 1;
    r->n_done++;
    double took = spex_now() - c->sent;
    double spm = took / (double)c->count;
    mp->sec_per_mask = mp->sec_per_mask > 0 ? 0.7 * mp->sec_per_mask + 0.3 * spm : spm;
    const char *vals = r->rbuf + sizeof h;
    for (int64_t i = 0; i < c->count; i++) {
        double v;
        memcpy(&v, vals + (size_t)i * sizeof v, sizeof v);
        r->out[c->start + i] = v;
        if (r->answer && !isnan(v)) r->answer(r->sink, c->start + i, v);
    }
    if (h.rc && !r->fail_rc) {
        r->fail_rc = (int)h.rc;
        r->fail_rank = w;
        r->msg = strdup(vals + (size_t)h.count * sizeof(double));
    }
    return SPEX_OK;
}

/* Chunks sent and not answered (by anyone). */
static int64_t in_flight(const batch_run *r) {
    int64_t f = 0;
    for (int w = 1; w < r->mp->size; w++)
        if (r->mp->busy[w] >= r->seq0 && !r->ch[r->mp->busy[w] - r->seq0].done) f++;
    return f;
}

static int mpi_eval_stream(void *user, const spex_masks *b, double *out, spex_answer_fn answer,
                           void *sink) {
    spex_mpi *mp = user;
    int64_t total = spex_masks_count(b);
    for (int64_t i = 0; i < total; i++)
        out[i] = NAN;
    if (mp->stopped) return spex_seterr(mp->ctx, SPEX_E_INVAL, "MPI: the workers were stopped");
    batch_run r;
    memset(&r, 0, sizeof r);
    r.mp = mp;
    r.b = b;
    r.out = out;
    r.answer = answer;
    r.sink = sink;
    r.seq0 = mp->next_seq;
    int rc = SPEX_OK;
    double wait = 5e-5;
    while (!rc) {
        /* the batch ends when every mask is answered, or after an error once
         * what was in flight has come back */
        if (r.next == total && r.n_done == r.n_ch) break;
        if (r.fail_rc && in_flight(&r) == 0) break;
        rc = dispatch(&r);
        if (rc) break;
        mp->next_seq = r.seq0 + r.n_ch;
        MPI_Status st;
        int flag = 0, err = MPI_Iprobe(MPI_ANY_SOURCE, TAG_DONE, MPI_COMM_WORLD, &flag, &st);
        if (err != MPI_SUCCESS) {
            rc = mpi_fail(mp->ctx, err, "waiting for answers");
            break;
        }
        if (flag) {
            rc = receive(&r, &st);
            wait = 5e-5;
        } else {
            backoff(&wait);
        }
    }
    mp->next_seq = r.seq0 + r.n_ch;
    if (!rc && r.fail_rc)
        rc = spex_seterr(mp->ctx, r.fail_rc, "rank %d: %s", r.fail_rank,
                         r.msg ? r.msg : "evaluation failed");
    free(r.msg);
    free(r.rbuf);
    free(r.ch);
    return rc;
}

static int mpi_eval(void *user, const spex_masks *b, double *out) {
    return mpi_eval_stream(user, b, out, NULL, NULL);
}

static void mpi_vf_destroy(void *user) {
    spex_mpi *mp = user;
    stop_workers(mp);
    mp->ctx = NULL;
}

int spex_mpi_valuefn(spex_ctx *ctx, spex_mpi *mp, int64_t n, const char *check,
                     const spex_mpi_opts *opts, spex_valuefn *out) {
    memset(out, 0, sizeof *out);
    if (!mp || mp->size < 2 || mp->rank != 0)
        return spex_seterr(ctx, SPEX_E_INVAL, "spex_mpi_valuefn runs on rank 0 of a job of 2+");
    if (mp->ctx || mp->stopped)
        return spex_seterr(ctx, SPEX_E_INVAL, "MPI: one value function per job");
    if (opts) mp->opts = *opts;
    if (!(mp->opts.chunk_s > 0) || !(mp->opts.deadline_s > 0))
        return spex_seterr(ctx, SPEX_E_RANGE, "MPI: chunk_s and deadline_s must be positive");
    mp->busy = spex_malloc(ctx, (size_t)mp->size * sizeof *mp->busy);
    if (!mp->busy) return SPEX_E_NOMEM;
    for (int w = 0; w < mp->size; w++)
        mp->busy[w] = -1;
    /* every worker's HELLO: the same n and check */
    char *buf = NULL;
    int rc = SPEX_OK;
    for (int got = 1; got < mp->size && !rc; got++) {
        MPI_Status st;
        int p = poll_msg(MPI_ANY_SOURCE, TAG_HELLO, -1, &st);
        if (p < 0) {
            rc = mpi_fail(ctx, -p, "waiting for the workers");
            break;
        }
        int len = 0;
        MPI_Get_count(&st, MPI_BYTE, &len);
        char *q = realloc(buf, (size_t)len + 1);
        if (!q) {
            rc = spex_seterr(ctx, SPEX_E_NOMEM, "out of memory");
            break;
        }
        buf = q;
        int err = MPI_Recv(buf, len, MPI_BYTE, st.MPI_SOURCE, TAG_HELLO, MPI_COMM_WORLD,
                           MPI_STATUS_IGNORE);
        if (err != MPI_SUCCESS) {
            rc = mpi_fail(ctx, err, "receiving HELLO");
            break;
        }
        buf[len] = '\0';
        int64_t wn = -1;
        if ((size_t)len >= sizeof wn) memcpy(&wn, buf, sizeof wn);
        const char *wcheck = (size_t)len > sizeof wn ? buf + sizeof wn : "";
        if (wn != n)
            rc = spex_seterr(ctx, SPEX_E_INVAL, "MPI: rank %d has %lld features, rank 0 %lld",
                             st.MPI_SOURCE, (long long)wn, (long long)n);
        else if (strcmp(wcheck, check))
            rc = spex_seterr(ctx, SPEX_E_INVAL,
                             "MPI: rank %d opened another target than rank 0 ('%.80s' vs "
                             "'%.80s')",
                             st.MPI_SOURCE, wcheck, check);
    }
    free(buf);
    if (rc) {
        stop_workers(mp);
        return rc;
    }
    mp->ctx = ctx;
    mp->n = n;
    out->eval = mpi_eval;
    out->eval_stream = mpi_eval_stream;
    out->user = mp;
    out->destroy = mpi_vf_destroy;
    out->n = n;
    out->name = "MPI workers";
    return SPEX_OK;
}

void spex_mpi_close(spex_mpi *mp) {
    if (!mp) return;
    stop_workers(mp);
    if (mp->initialised) {
        int fin = 0;
        MPI_Finalized(&fin);
        if (!fin) MPI_Finalize();
    }
    free(mp->busy);
    free(mp);
}

#endif /* SPEX_HAVE_MPI */
