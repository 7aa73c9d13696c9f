/*
 * The query cache in SQLite (spex/store.h): the only part of spex that links
 * SQLite. It implements the query engine's spex_query_store callbacks.
 *
 * HOW IT WORKS: the file holds three tables.
 *   spex_meta(key, value)              "schema" = SPEX_STORE_SCHEMA
 *   fingerprints(id, fp, label, n, created, used)
 *   answers(fp -> fingerprints.id, mask BLOB, value, created)  key (fp, mask)
 * A mask is its packed words written little-endian (8 bytes a word), so a
 * file moves between machines. Lookups run inside one read transaction per
 * chunk with a prepared point query per mask; a save is one BEGIN IMMEDIATE
 * transaction of INSERT OR IGNORE (the first answer for a mask wins, so two
 * processes racing on the same mask keep one value) committed before the
 * engine asks the next batch. WAL mode lets readers go on while another
 * process writes; the busy timeout makes writers queue instead of failing.
 * synchronous=NORMAL: a committed batch survives a killed process (what
 * resume needs); a power cut may lose the last batches, never corrupt.
 */
#include "spex/store.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct spex_store {
    spex_ctx *ctx;
    sqlite3 *db;
    char *path;
    spex_store_opts opts;
    sqlite3_stmt *get;   /* SELECT value ... WHERE fp = ? AND mask = ? */
    sqlite3_stmt *put;   /* INSERT OR IGNORE INTO answers ... */
    int64_t fp_id;       /* bound fingerprint; -1: none in the file yet */
    int64_t n;           /* its n */
    char *fp;            /* its text (for read-only stores that cannot add it) */
    unsigned char *blob; /* (words * 8) one serialised mask */
    size_t blob_size;
    int fail_rc; /* first failed lookup or save, for spex_store_failure */
    char fail_msg[512];
};

spex_store_opts spex_store_opts_default(void) {
    spex_store_opts o = {0, 0, 10000};
    return o;
}

/* Maps the connection's last SQLite error to a spex code and message. */
static int db_err(spex_store *st, const char *what) {
    int e = st->db ? sqlite3_errcode(st->db) & 0xff : SQLITE_CANTOPEN;
    const char *msg = st->db ? sqlite3_errmsg(st->db) : "cannot open";
    int code = SPEX_E_IO;
    const char *hint = "";
    switch (e) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        code = SPEX_E_PARSE;
        hint = " (the file is corrupt, truncated or not a spex cache: delete it, or choose "
               "another with --cache)";
        break;
    case SQLITE_FULL:
        hint = " (the disk, or the cache's size limit, is full)";
        break;
    case SQLITE_READONLY:
    case SQLITE_PERM:
        hint = " (the file or its directory is read-only)";
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        hint = " (another process held the cache locked too long)";
        break;
    case SQLITE_NOMEM:
        code = SPEX_E_NOMEM;
        break;
    default:
        break;
    }
    return spex_seterr(st->ctx, code, "cache '%s': %s: %s%s", st->path, what, msg, hint);
}

static int exec_sql(spex_store *st, const char *sql, const char *what) {
    return sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK ? SPEX_OK : db_err(st, what);
}

/* Creates the missing parent directories of path (mode 0700). */
static int make_parents(spex_store *st, const char *path) {
    size_t len = strlen(path);
    char *dir = spex_malloc(st->ctx, len + 1);
    if (!dir) return SPEX_E_NOMEM;
    memcpy(dir, path, len + 1);
    int rc = SPEX_OK;
    for (char *p = dir + 1; *p && !rc; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(dir, 0700) && errno != EEXIST)
            rc = spex_seterr(st->ctx, SPEX_E_IO, "cache '%s': cannot create directory '%s': %s",
                             path, dir, strerror(errno));
        *p = '/';
    }
    spex_free(st->ctx, dir);
    return rc;
}

static int64_t query_int(spex_store *st, const char *sql, int64_t *out, const char *what) {
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(s, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        *out = 0;
        rc = SQLITE_OK;
    }
    int ret = rc == SQLITE_OK ? SPEX_OK : db_err(st, what);
    sqlite3_finalize(s);
    return ret;
}

/* Checks the schema, creating it in an empty file. */
static int check_schema(spex_store *st) {
    int64_t have_meta = 0, n_tables = 0, version = 0;
    int rc = query_int(st, "SELECT count(*) FROM sqlite_master", &n_tables, "reading the schema");
    if (!rc)
        rc = query_int(st,
                       "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='spex_meta'",
                       &have_meta, "reading the schema");
    if (rc) return rc;
    if (!have_meta && n_tables > 0)
        return spex_seterr(st->ctx, SPEX_E_PARSE,
                           "cache '%s': an SQLite file of another program (no spex_meta table); "
                           "choose another file with --cache",
                           st->path);
    if (!have_meta) {
        if (st->opts.read_only) return SPEX_OK; /* empty: every lookup misses */
        static const char schema[] =
            "BEGIN IMMEDIATE;"
            "CREATE TABLE IF NOT EXISTS spex_meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
            "INSERT OR IGNORE INTO spex_meta VALUES('schema', 1);"
            "CREATE TABLE IF NOT EXISTS fingerprints(id INTEGER PRIMARY KEY, fp TEXT NOT NULL "
            "UNIQUE, label TEXT NOT NULL, n INTEGER NOT NULL, created INTEGER NOT NULL, used "
            "INTEGER NOT NULL);"
            "CREATE TABLE IF NOT EXISTS answers(fp INTEGER NOT NULL, mask BLOB NOT NULL, value "
            "REAL NOT NULL, created INTEGER NOT NULL, PRIMARY KEY(fp, mask)) WITHOUT ROWID;"
            "CREATE INDEX IF NOT EXISTS answers_created ON answers(created);"
            "COMMIT;";
        rc = exec_sql(st, schema, "creating the tables");
        if (rc) {
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    rc = query_int(st, "SELECT value FROM spex_meta WHERE key='schema'", &version,
                   "reading the schema version");
    if (rc) return rc;
    if (version > SPEX_STORE_SCHEMA)
        return spex_seterr(st->ctx, SPEX_E_PARSE,
                           "cache '%s' was written by a newer spex (schema version %lld; this "
                           "build reads version %d): upgrade spex or choose another file with "
                           "--cache",
                           st->path, (long long)version, SPEX_STORE_SCHEMA);
    if (version < 1)
        return spex_seterr(st->ctx, SPEX_E_PARSE, "cache '%s': bad schema version %lld", st->path,
                           (long long)version);
    return SPEX_OK;
}

int spex_store_open(spex_ctx *ctx, const char *path, const spex_store_opts *opts,
                    spex_store **out) {
    *out = NULL;
    if (!path || !*path) return spex_seterr(ctx, SPEX_E_INVAL, "cache: empty file name");
    spex_store *st = spex_calloc(ctx, 1, sizeof *st);
    if (!st) return SPEX_E_NOMEM;
    st->ctx = ctx;
    st->opts = opts ? *opts : spex_store_opts_default();
    st->fp_id = -1;
    st->path = spex_strdup(ctx, path);
    int rc = st->path ? SPEX_OK : SPEX_E_NOMEM;
    if (!rc && !st->opts.read_only) rc = make_parents(st, path);
    if (rc) goto done;
    struct stat sb;
    if (!stat(path, &sb) && S_ISDIR(sb.st_mode)) {
        rc = spex_seterr(ctx, SPEX_E_IO, "cache '%s' is a directory, not a file", path);
        goto done;
    }
    int flags =
        st->opts.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        rc = db_err(st, "cannot open");
        goto done;
    }
    sqlite3_extended_result_codes(st->db, 0);
    sqlite3_busy_timeout(st->db, st->opts.busy_timeout_ms > 0 ? st->opts.busy_timeout_ms : 0);
    /* the first statement reads the header: garbage gets SQLITE_NOTADB here */
    if (!st->opts.read_only) {
        rc = exec_sql(st, "PRAGMA journal_mode=WAL", "opening");
        if (!rc) rc = exec_sql(st, "PRAGMA synchronous=NORMAL", "opening");
    }
    if (!rc) rc = check_schema(st);
    if (!rc && st->opts.max_size > 0) {
        int64_t page = 4096;
        rc = query_int(st, "PRAGMA page_size", &page, "reading the page size");
        if (!rc) {
            char sql[64];
            int64_t pages = st->opts.max_size / (page > 0 ? page : 4096);
            snprintf(sql, sizeof sql, "PRAGMA max_page_count=%lld",
                     (long long)(pages > 1 ? pages : 1));
            rc = exec_sql(st, sql, "setting the size limit");
        }
    }
done:
    if (rc) {
        spex_store_close(st);
        return rc;
    }
    *out = st;
    return SPEX_OK;
}

void spex_store_close(spex_store *st) {
    if (!st) return;
    sqlite3_finalize(st->get);
    sqlite3_finalize(st->put);
    sqlite3_close(st->db);
    spex_free(st->ctx, st->path);
    spex_free(st->ctx, st->fp);
    spex_free(st->ctx, st->blob);
    spex_free(st->ctx, st);
}

/* Serialises row i of b into st->blob (little-endian words). */
static void to_blob(spex_store *st, const spex_masks *b, int64_t i) {
    const uint64_t *row = spex_masks_crow(b, i);
    size_t words = spex_masks_words(b);
    for (size_t w = 0; w < words; w++)
        for (int k = 0; k < 8; k++)
            st->blob[8 * w + (size_t)k] = (unsigned char)(row[w] >> (8 * k));
}

static int check_batch(spex_store *st, const spex_masks *b) {
    if (spex_masks_n(b) != st->n)
        return spex_seterr(st->ctx, SPEX_E_INVAL,
                           "cache '%s': masks of n = %lld, bound to n = %lld", st->path,
                           (long long)spex_masks_n(b), (long long)st->n);
    return SPEX_OK;
}

/* Remembers the first failure of a callback (the engine may go on). */
static int note_failure(spex_store *st, int rc) {
    if (rc && !st->fail_rc) {
        st->fail_rc = rc;
        snprintf(st->fail_msg, sizeof st->fail_msg, "%s", spex_errmsg(st->ctx));
    }
    return rc;
}

int spex_store_failure(const spex_store *st, const char **msg) {
    if (msg) *msg = st->fail_rc ? st->fail_msg : "";
    return st->fail_rc;
}

static int store_lookup(void *user, const spex_masks *masks, double *values, unsigned char *found) {
    spex_store *st = user;
    int64_t count = spex_masks_count(masks);
    int rc = note_failure(st, check_batch(st, masks));
    if (rc || st->fp_id < 0) return rc;
    if (!st->get &&
        sqlite3_prepare_v2(st->db, "SELECT value FROM answers WHERE fp = ?1 AND mask = ?2", -1,
                           &st->get, NULL) != SQLITE_OK)
        return note_failure(st, db_err(st, "preparing a lookup"));
    if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return note_failure(st, db_err(st, "starting a lookup"));
    for (int64_t i = 0; !rc && i < count; i++) {
        to_blob(st, masks, i);
        sqlite3_bind_int64(st->get, 1, st->fp_id);
        sqlite3_bind_blob(st->get, 2, st->blob, (int)st->blob_size, SQLITE_STATIC);
        int s = sqlite3_step(st->get);
        if (s == SQLITE_ROW) {
            values[i] = sqlite3_column_double(st->get, 0);
            found[i] = 1;
        } else if (s == SQLITE_DONE) {
            found[i] = 0;
        } else {
            rc = db_err(st, "looking up an answer");
        }
        sqlite3_reset(st->get);
    }
    if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK && !rc)
        rc = db_err(st, "ending a lookup");
    if (rc) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return note_failure(st, rc);
}

/* Adds the bound fingerprint to the file (inside the caller's transaction). */
static int add_fingerprint(spex_store *st, const char *label, int64_t now);

static int store_save(void *user, const spex_masks *masks, const double *values) {
    spex_store *st = user;
    int64_t count = spex_masks_count(masks), now = (int64_t)time(NULL);
    int rc = check_batch(st, masks);
    if (rc) return rc;
    if (st->opts.read_only)
        return note_failure(st, spex_seterr(st->ctx, SPEX_E_IO,
                                            "cache '%s' is open read-only: answers not saved",
                                            st->path));
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return note_failure(st, db_err(st, "starting to save answers"));
    if (st->fp_id < 0) rc = add_fingerprint(st, NULL, now);
    if (!rc && !st->put &&
        sqlite3_prepare_v2(st->db,
                           "INSERT OR IGNORE INTO answers(fp, mask, value, created) "
                           "VALUES(?1, ?2, ?3, ?4)",
                           -1, &st->put, NULL) != SQLITE_OK)
        rc = db_err(st, "preparing to save answers");
    for (int64_t i = 0; !rc && i < count; i++) {
        to_blob(st, masks, i);
        sqlite3_bind_int64(st->put, 1, st->fp_id);
        sqlite3_bind_blob(st->put, 2, st->blob, (int)st->blob_size, SQLITE_STATIC);
        sqlite3_bind_double(st->put, 3, values[i]);
        sqlite3_bind_int64(st->put, 4, now);
        if (sqlite3_step(st->put) != SQLITE_DONE) rc = db_err(st, "saving answers");
        sqlite3_reset(st->put);
    }
    if (!rc) {
        char sql[96];
        snprintf(sql, sizeof sql, "UPDATE fingerprints SET used = %lld WHERE id = %lld",
                 (long long)now, (long long)st->fp_id);
        rc = exec_sql(st, sql, "saving answers");
    }
    if (!rc && sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_err(st, "committing answers");
    if (rc) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return note_failure(st, rc);
}

static int find_fingerprint(spex_store *st, int64_t *n_found) {
    sqlite3_stmt *s = NULL;
    int rc = SPEX_OK;
    st->fp_id = -1;
    *n_found = -1;
    if (sqlite3_prepare_v2(st->db, "SELECT id, n FROM fingerprints WHERE fp = ?1", -1, &s, NULL) !=
        SQLITE_OK) {
        /* a read-only empty file has no tables: nothing is cached */
        sqlite3_finalize(s);
        return st->opts.read_only ? SPEX_OK : db_err(st, "reading fingerprints");
    }
    sqlite3_bind_text(s, 1, st->fp, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        st->fp_id = sqlite3_column_int64(s, 0);
        *n_found = sqlite3_column_int64(s, 1);
    } else if (r != SQLITE_DONE) {
        rc = db_err(st, "reading fingerprints");
    }
    sqlite3_finalize(s);
    return rc;
}

static int add_fingerprint(spex_store *st, const char *label, int64_t now) {
    sqlite3_stmt *s = NULL;
    int rc = SPEX_OK;
    int64_t n_found;
    if (sqlite3_prepare_v2(st->db,
                           "INSERT OR IGNORE INTO fingerprints(fp, label, n, created, used) "
                           "VALUES(?1, ?2, ?3, ?4, ?4)",
                           -1, &s, NULL) != SQLITE_OK)
        return db_err(st, "adding a fingerprint");
    sqlite3_bind_text(s, 1, st->fp, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, label ? label : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, st->n);
    sqlite3_bind_int64(s, 4, now);
    if (sqlite3_step(s) != SQLITE_DONE) rc = db_err(st, "adding a fingerprint");
    sqlite3_finalize(s);
    if (!rc) rc = find_fingerprint(st, &n_found);
    if (!rc && st->fp_id < 0)
        rc = spex_seterr(st->ctx, SPEX_E_INTERNAL, "cache '%s': fingerprint not added", st->path);
    return rc;
}

int spex_store_bind(spex_store *st, const char *fingerprint, const char *label, int64_t n,
                    spex_query_store *out) {
    memset(out, 0, sizeof *out);
    if (!fingerprint || !*fingerprint || n < 1 || n > SPEX_MAX_FEATURES)
        return spex_seterr(st->ctx, SPEX_E_INVAL, "cache '%s': bind needs a fingerprint and n >= 1",
                           st->path);
    size_t blob_size = spex_bits_words(n) * 8;
    if (blob_size > INT_MAX) return spex_seterr(st->ctx, SPEX_E_RANGE, "cache: n too large");
    unsigned char *blob = spex_malloc(st->ctx, blob_size);
    char *fp = spex_strdup(st->ctx, fingerprint);
    if (!blob || !fp) {
        spex_free(st->ctx, blob);
        spex_free(st->ctx, fp);
        return SPEX_E_NOMEM;
    }
    spex_free(st->ctx, st->blob);
    spex_free(st->ctx, st->fp);
    st->blob = blob;
    st->blob_size = blob_size;
    st->fp = fp;
    st->n = n;
    int64_t n_found = -1, now = (int64_t)time(NULL);
    int rc = find_fingerprint(st, &n_found);
    if (!rc && st->fp_id >= 0 && n_found != n)
        rc = spex_seterr(st->ctx, SPEX_E_INVAL,
                         "cache '%s': fingerprint '%s' has n = %lld there, the value function has "
                         "n = %lld",
                         st->path, fingerprint, (long long)n_found, (long long)n);
    if (!rc && st->fp_id < 0 && !st->opts.read_only) {
        if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
            rc = db_err(st, "adding a fingerprint");
        } else {
            rc = add_fingerprint(st, label, now);
            if (!rc && sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
                rc = db_err(st, "adding a fingerprint");
            if (rc) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        }
    }
    if (rc) {
        st->fp_id = -1;
        return rc;
    }
    out->lookup = store_lookup;
    out->save = store_save;
    out->user = st;
    return SPEX_OK;
}

int spex_store_stats_get(spex_store *st, spex_store_stats *out) {
    memset(out, 0, sizeof *out);
    int64_t pages = 0, page = 0, v = 0, have = 0;
    int rc = query_int(st, "PRAGMA page_count", &pages, "reading statistics");
    if (!rc) rc = query_int(st, "PRAGMA page_size", &page, "reading statistics");
    out->size = pages * page;
    if (!rc)
        rc = query_int(st, "SELECT count(*) FROM sqlite_master WHERE name='answers'", &have,
                       "reading statistics");
    if (rc || !have) return rc; /* an empty read-only file */
    rc = query_int(st, "SELECT count(*) FROM fingerprints", &out->n_fingerprints,
                   "reading statistics");
    if (!rc)
        rc = query_int(st, "SELECT count(*) FROM answers", &out->n_answers, "reading statistics");
    if (!rc)
        rc = query_int(st, "SELECT min(created) FROM answers", &out->oldest, "reading statistics");
    if (!rc)
        rc = query_int(st, "SELECT max(created) FROM answers", &out->newest, "reading statistics");
    if (!rc)
        rc = query_int(st, "SELECT value FROM spex_meta WHERE key='schema'", &v,
                       "reading statistics");
    out->schema = (int)v;
    return rc;
}

int spex_store_list(spex_store *st, int (*fn)(void *user, const spex_store_entry *e), void *user) {
    int64_t have = 0;
    int rc =
        query_int(st, "SELECT count(*) FROM sqlite_master WHERE name='answers'", &have, "listing");
    if (rc || !have) return rc;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT f.fp, f.label, f.n, f.created, f.used, "
                           "(SELECT count(*) FROM answers a WHERE a.fp = f.id) "
                           "FROM fingerprints f ORDER BY f.used DESC, f.id DESC",
                           -1, &s, NULL) != SQLITE_OK)
        return db_err(st, "listing");
    int r;
    while (!rc && (r = sqlite3_step(s)) == SQLITE_ROW) {
        spex_store_entry e;
        const unsigned char *fp = sqlite3_column_text(s, 0), *label = sqlite3_column_text(s, 1);
        e.fingerprint = fp ? (const char *)fp : "";
        e.label = label ? (const char *)label : "";
        e.n = sqlite3_column_int64(s, 2);
        e.created = sqlite3_column_int64(s, 3);
        e.used = sqlite3_column_int64(s, 4);
        e.n_answers = sqlite3_column_int64(s, 5);
        rc = fn(user, &e);
    }
    if (!rc && r != SQLITE_DONE) rc = db_err(st, "listing");
    sqlite3_finalize(s);
    return rc;
}

int spex_store_clear(spex_store *st, int64_t before, int64_t *n_deleted) {
    if (n_deleted) *n_deleted = 0;
    if (st->opts.read_only)
        return spex_seterr(st->ctx, SPEX_E_IO, "cache '%s' is open read-only", st->path);
    int64_t have = 0;
    int rc =
        query_int(st, "SELECT count(*) FROM sqlite_master WHERE name='answers'", &have, "clearing");
    if (rc || !have) return rc;
    char sql[160];
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_err(st, "clearing");
    snprintf(sql, sizeof sql, "DELETE FROM answers WHERE created < %lld", (long long)before);
    rc = exec_sql(st, sql, "clearing");
    if (!rc && n_deleted) *n_deleted = sqlite3_changes(st->db);
    if (!rc)
        rc = exec_sql(st,
                      "DELETE FROM fingerprints WHERE NOT EXISTS "
                      "(SELECT 1 FROM answers a WHERE a.fp = fingerprints.id)",
                      "clearing");
    if (!rc) rc = exec_sql(st, "COMMIT", "clearing");
    if (rc) {
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    st->fp_id = -1; /* a bound fingerprint may be gone: re-added on the next save */
    /* give the space back when nobody else is using the file (best effort) */
    sqlite3_exec(st->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    sqlite3_exec(st->db, "VACUUM", NULL, NULL, NULL);
    return SPEX_OK;
}

/* HOW MERGING WORKS: the input is first opened as a read-only store of its
 * own (the same checks as any cache: an SQLite file of another program, a
 * corrupt one or one of a newer schema is refused with its message), then
 * ATTACHed to st's connection, and one transaction copies it: fingerprints
 * by their text (a fingerprint known in both with different n is refused:
 * the same value function cannot have two feature counts), then answers
 * INSERT OR IGNORE by (fingerprint, mask), so what st already holds wins and
 * merging a file twice adds nothing. Masks whose length does not match
 * their fingerprint's n are skipped and counted. */
int spex_store_merge(spex_store *st, const char *path, spex_store_merge_stats *out) {
    spex_store_merge_stats ms = {0, 0, 0, 0};
    if (out) *out = ms;
    if (st->opts.read_only)
        return spex_seterr(st->ctx, SPEX_E_IO, "cache '%s' is open read-only", st->path);
    struct stat sb;
    if (stat(path, &sb))
        return spex_seterr(st->ctx, SPEX_E_IO, "cache '%s': cannot open: %s", path,
                           strerror(errno));
    spex_store_opts ro = spex_store_opts_default();
    ro.read_only = 1;
    spex_store *in = NULL;
    int rc = spex_store_open(st->ctx, path, &ro, &in);
    int64_t have = 0;
    if (!rc)
        rc = query_int(in, "SELECT count(*) FROM sqlite_master WHERE name='answers'", &have,
                       "reading");
    spex_store_close(in);
    if (rc || !have) return rc; /* an empty file: nothing to merge */
    sqlite3_stmt *att = NULL;
    if (sqlite3_prepare_v2(st->db, "ATTACH DATABASE ?1 AS src", -1, &att, NULL) != SQLITE_OK)
        return db_err(st, "merging");
    sqlite3_bind_text(att, 1, path, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(att);
    sqlite3_finalize(att);
    if (r != SQLITE_DONE) return db_err(st, "attaching the file to merge");
    int64_t clash = 0, before = 0, after = 0, total = 0;
    rc = exec_sql(st, "BEGIN IMMEDIATE", "merging");
    if (!rc)
        rc = query_int(st,
                       "SELECT count(*) FROM src.fingerprints s JOIN main.fingerprints m "
                       "ON m.fp = s.fp WHERE m.n != s.n",
                       &clash, "merging");
    if (!rc && clash)
        rc = spex_seterr(st->ctx, SPEX_E_PARSE,
                         "cache '%s': %lld fingerprint(s) of '%s' are known here with another n; "
                         "nothing merged",
                         st->path, (long long)clash, path);
    if (!rc) rc = query_int(st, "SELECT count(*) FROM main.fingerprints", &before, "merging");
    if (!rc)
        rc = exec_sql(st,
                      "INSERT OR IGNORE INTO main.fingerprints(fp, label, n, created, used) "
                      "SELECT fp, label, n, created, used FROM src.fingerprints "
                      "WHERE n >= 1 ORDER BY id",
                      "merging fingerprints");
    if (!rc) rc = query_int(st, "SELECT count(*) FROM main.fingerprints", &after, "merging");
    ms.fingerprints_new = after - before;
    if (!rc) rc = query_int(st, "SELECT count(*) FROM src.answers", &total, "merging");
    if (!rc)
        rc = exec_sql(st,
                      "INSERT OR IGNORE INTO main.answers(fp, mask, value, created) "
                      "SELECT m.id, a.mask, a.value, a.created FROM src.answers a "
                      "JOIN src.fingerprints s ON s.id = a.fp "
                      "JOIN main.fingerprints m ON m.fp = s.fp "
                      "WHERE typeof(a.mask) = 'blob' AND length(a.mask) = ((m.n + 63) / 64) * 8 "
                      "AND typeof(a.value) = 'real'",
                      "merging answers");
    if (!rc) ms.answers_new = sqlite3_changes(st->db);
    int64_t valid = 0;
    if (!rc)
        rc = query_int(st,
                       "SELECT count(*) FROM src.answers a JOIN src.fingerprints s ON s.id = a.fp "
                       "WHERE typeof(a.mask) = 'blob' AND length(a.mask) = ((s.n + 63) / 64) * 8 "
                       "AND typeof(a.value) = 'real'",
                       &valid, "merging");
    ms.answers_known = valid - ms.answers_new;
    ms.answers_skipped = total - valid;
    if (!rc)
        rc = exec_sql(st,
                      "UPDATE main.fingerprints SET used = max(used, (SELECT s.used FROM "
                      "src.fingerprints s WHERE s.fp = main.fingerprints.fp)) WHERE fp IN "
                      "(SELECT fp FROM src.fingerprints)",
                      "merging");
    if (!rc) rc = exec_sql(st, "COMMIT", "merging");
    if (rc) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_exec(st->db, "DETACH DATABASE src", NULL, NULL, NULL);
    if (!rc && out) *out = ms;
    return rc;
}
