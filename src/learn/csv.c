/*
 * CSV reader of the data-attribution lens (spex/data.h): a header row, numeric
 * feature columns, a label column (numbers or text, mapped to class ids) and
 * an optional group column. Untrusted input (STYLE.md rule 10): every size is
 * capped and checked before allocation, numbers are parsed strictly, and each
 * error names the file, line and column.
 *
 * HOW IT WORKS
 * The file is read whole (capped), then walked twice: the first pass counts
 * the data lines so the (rows, features) matrix is allocated once; the second
 * splits each line at commas (no quoting: a cell is the text between commas,
 * surrounding blanks and a final '\r' removed) and parses it. Label and group
 * texts are interned through core's hash table (ids in order of first
 * appearance). When every label is a number the class ids are then
 * renumbered by increasing value, so "0".."9" become classes 0..9.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spex/learn.h"

#include "core/hash_int.h"

spex_csv_opts spex_csv_opts_default(void) {
    spex_csv_opts o;
    memset(&o, 0, sizeof o);
    o.max_bytes = SPEX_CSV_MAX_BYTES;
    o.max_rows = SPEX_CSV_MAX_ROWS;
    o.max_cols = SPEX_CSV_MAX_COLS;
    return o;
}

void spex_dataset_free(spex_dataset *ds) {
    if (!ds) return;
    for (int c = 0; ds->class_names && c < ds->n_classes; c++)
        free(ds->class_names[c]);
    for (int64_t j = 0; ds->feature_names && j < ds->n_features; j++)
        free(ds->feature_names[j]);
    for (int64_t g = 0; ds->group_names && g < ds->n_groups; g++)
        free(ds->group_names[g]);
    free(ds->class_names);
    free(ds->feature_names);
    free(ds->group_names);
    free(ds->x);
    free(ds->y);
    free(ds->group);
    free(ds);
}

/* ---- string interning: text -> id in order of first appearance ---- */
typedef struct intern {
    char **names; /* n owned copies (malloc: they move into the dataset) */
    int64_t n, cap, max;
    spexi_hash tab; /* text -> id; zeroed until the first add */
} intern;

typedef struct text_key {
    const char *s;
    size_t len;
} text_key;

static int name_eq(const void *user, int64_t id, const void *key) {
    const char *nm = ((const intern *)user)->names[id];
    const text_key *k = key;
    return strlen(nm) == k->len && !memcmp(nm, k->s, k->len);
}

static uint64_t name_hash(const void *user, int64_t id) {
    const char *nm = ((const intern *)user)->names[id];
    return spexi_hash_bytes(nm, strlen(nm));
}

/* The id of text s[0..len) (added when new); -1 out of memory, -2 over max. */
static int64_t intern_id(spex_ctx *ctx, intern *t, const char *s, size_t len) {
    text_key k = {s, len};
    uint64_t h = spexi_hash_bytes(s, len);
    size_t slot;
    int64_t id = spexi_hash_find(&t->tab, h, name_eq, t, &k, &slot);
    if (id >= 0) return id;
    if (t->n >= t->max) return -2;
    /* texts with an embedded NUL would not hash back to themselves */
    if (memchr(s, 0, len)) return -2;
    if (t->n == t->cap) {
        int64_t nc = t->cap ? t->cap * 2 : 16;
        char **nn = realloc(t->names, (size_t)nc * sizeof *nn);
        if (!nn) return -1;
        t->names = nn;
        t->cap = nc;
    }
    char *c = malloc(len + 1);
    if (!c) return -1;
    memcpy(c, s, len);
    c[len] = 0;
    if (spexi_hash_add(ctx, &t->tab, slot, h, t->n, name_hash, t)) {
        free(c);
        return -1;
    }
    t->names[t->n] = c;
    return t->n++;
}

static void intern_free(spex_ctx *ctx, intern *t) {
    for (int64_t i = 0; i < t->n; i++)
        free(t->names[i]);
    free(t->names);
    spexi_hash_free(ctx, &t->tab);
}

/* ---- cells ---- */
typedef struct cell {
    const char *s;
    size_t len;
} cell;

static cell trim(const char *s, size_t len) {
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
        len--;
    return (cell){s, len};
}

/* Strict: the whole cell is one finite decimal number. */
static int parse_num(cell c, double *out) {
    char buf[128];
    if (c.len == 0 || c.len >= sizeof buf) return -1;
    memcpy(buf, c.s, c.len);
    buf[c.len] = 0;
    /* decimal syntax only: no hex floats, inf, nan or embedded NUL */
    if (strspn(buf, "0123456789+-.eE") != c.len) return -1;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end != buf + c.len || errno == ERANGE || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* Splits line [s, e) at commas into at most cap cells; returns the count
 * (which may exceed cap: the rest are not stored). */
static int64_t split(const char *s, const char *e, cell *cells, int64_t cap) {
    int64_t k = 0;
    const char *p = s;
    for (;;) {
        const char *q = memchr(p, ',', (size_t)(e - p));
        const char *end = q ? q : e;
        if (k < cap) cells[k] = trim(p, (size_t)(end - p));
        k++;
        if (!q) return k;
        p = q + 1;
    }
}

static int is_blank(const char *s, const char *e) {
    for (; s < e; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r') return 0;
    return 1;
}

static int line_end(const char *p, const char *end, const char **le) {
    const char *q = memchr(p, '\n', (size_t)(end - p));
    *le = q ? q : end;
    return q != NULL;
}

int spex_data_parse_csv(spex_ctx *ctx, const char *buf, size_t size, const char *name,
                        const spex_csv_opts *opts, const spex_dataset *like, spex_dataset **out) {
    *out = NULL;
    spex_csv_opts o = opts ? *opts : spex_csv_opts_default();
    if (!o.label) return spex_seterr(ctx, SPEX_E_INVAL, "%s: no label column given", name);
    if (size > o.max_bytes)
        return spex_seterr(ctx, SPEX_E_RANGE, "%s: %zu bytes, more than the limit of %zu", name,
                           size, o.max_bytes);
    const char *end = buf + size, *p = buf, *le;
    int rc = SPEX_OK;
    cell *cells = NULL;
    int64_t *col_of = NULL; /* feature j -> column index */
    spex_dataset *ds = NULL;
    intern labels = {0}, groups = {0};
    char **hdr = NULL;
    int64_t n_cols = 0;
    labels.max = SPEX_CSV_MAX_CLASSES;
    groups.max = o.max_rows;

    /* header: skip leading blank lines */
    int64_t line = 1;
    for (;;) {
        if (p >= end) return spex_seterr(ctx, SPEX_E_PARSE, "%s: empty file (no header row)", name);
        int nl = line_end(p, end, &le);
        if (!is_blank(p, le)) break;
        p = nl ? le + 1 : end;
        line++;
    }
    int64_t hdr_line = line;
    n_cols = split(p, le, NULL, 0);
    if (n_cols > o.max_cols)
        return spex_seterr(ctx, SPEX_E_RANGE,
                           "%s: line %lld: %lld columns, more than the limit of %lld", name,
                           (long long)line, (long long)n_cols, (long long)o.max_cols);
    cells = calloc((size_t)n_cols, sizeof *cells);
    hdr = calloc((size_t)n_cols, sizeof *hdr);
    col_of = calloc((size_t)n_cols, sizeof *col_of);
    ds = calloc(1, sizeof *ds);
    if (!cells || !hdr || !col_of || !ds) {
        rc = spex_seterr(ctx, SPEX_E_NOMEM, "%s: out of memory", name);
        goto done;
    }
    split(p, le, cells, n_cols);
    int64_t label_col = -1, group_col = -1;
    for (int64_t c = 0; c < n_cols; c++) {
        if (!(hdr[c] = malloc(cells[c].len + 1))) {
            rc = spex_seterr(ctx, SPEX_E_NOMEM, "%s: out of memory", name);
            goto done;
        }
        memcpy(hdr[c], cells[c].s, cells[c].len);
        hdr[c][cells[c].len] = 0;
        if (cells[c].len == 0) {
            rc = spex_seterr(ctx, SPEX_E_PARSE, "%s: line %lld, column %lld: empty column name",
                             name, (long long)line, (long long)c + 1);
            goto done;
        }
        if (label_col < 0 && !strcmp(hdr[c], o.label))
            label_col = c;
        else if (group_col < 0 && o.group_by && !strcmp(hdr[c], o.group_by))
            group_col = c;
    }
    if (label_col < 0) {
        rc = spex_seterr(ctx, SPEX_E_PARSE,
                         "%s: line %lld: no label column named '%s' in the header (first column "
                         "'%s', %lld columns)",
                         name, (long long)line, o.label, hdr[0], (long long)n_cols);
        goto done;
    }
    if (o.group_by && group_col < 0 && !like) {
        rc = spex_seterr(ctx, SPEX_E_PARSE,
                         "%s: line %lld: no group column named '%s' in the header", name,
                         (long long)line, o.group_by);
        goto done;
    }
    for (int64_t c = 0; c < n_cols; c++)
        if (c != label_col && c != group_col) col_of[ds->n_features++] = c;
    if (like) {
        int same = ds->n_features == like->n_features;
        for (int64_t j = 0; same && j < ds->n_features; j++)
            same = !strcmp(hdr[col_of[j]], like->feature_names[j]);
        if (!same) {
            rc = spex_seterr(ctx, SPEX_E_PARSE,
                             "%s: line %lld: the feature columns differ from the training set's "
                             "(%lld here, %lld there; they must match in name and order)",
                             name, (long long)line, (long long)ds->n_features,
                             (long long)like->n_features);
            goto done;
        }
    }
    p = le < end ? le + 1 : end;

    /* first pass: count data rows (blank lines only at the end) */
    int64_t rows = 0;
    for (const char *q = p; q < end;) {
        int nl = line_end(q, end, &le);
        if (!is_blank(q, le)) rows++;
        q = nl ? le + 1 : end;
    }
    if (rows == 0) {
        rc = spex_seterr(ctx, SPEX_E_PARSE, "%s: no data rows after the header (line %lld)", name,
                         (long long)hdr_line);
        goto done;
    }
    if (rows > o.max_rows) {
        rc = spex_seterr(ctx, SPEX_E_RANGE, "%s: %lld data rows, more than the limit of %lld", name,
                         (long long)rows, (long long)o.max_rows);
        goto done;
    }
    size_t nf = (size_t)(ds->n_features ? ds->n_features : 1);
    if ((size_t)rows > SIZE_MAX / sizeof(double) / nf) {
        rc = spex_seterr(ctx, SPEX_E_NOMEM, "%s: too large", name);
        goto done;
    }
    ds->n_rows = rows;
    ds->x = malloc((size_t)rows * nf * sizeof *ds->x);
    ds->y = malloc((size_t)rows * sizeof *ds->y);
    ds->feature_names = calloc(nf, sizeof *ds->feature_names);
    if (group_col >= 0 && !like) ds->group = malloc((size_t)rows * sizeof *ds->group);
    if (!ds->x || !ds->y || !ds->feature_names || (group_col >= 0 && !like && !ds->group)) {
        rc = spex_seterr(ctx, SPEX_E_NOMEM, "%s: out of memory (%lld rows)", name, (long long)rows);
        goto done;
    }
    for (int64_t j = 0; j < ds->n_features; j++)
        if (!(ds->feature_names[j] = strdup(hdr[col_of[j]]))) {
            rc = spex_seterr(ctx, SPEX_E_NOMEM, "%s: out of memory", name);
            goto done;
        }

    /* second pass: parse */
    int64_t r = 0;
    int all_numeric = 1;
    while (p < end) {
        line++;
        int nl = line_end(p, end, &le);
        if (is_blank(p, le)) {
            p = nl ? le + 1 : end;
            continue;
        }
        int64_t k = split(p, le, cells, n_cols);
        if (k != n_cols) {
            rc = spex_seterr(ctx, SPEX_E_PARSE,
                             "%s: line %lld: %lld cells, expected %lld (as in the header); ragged "
                             "row",
                             name, (long long)line, (long long)k, (long long)n_cols);
            goto done;
        }
        for (int64_t c = 0; c < n_cols; c++)
            if (cells[c].len == 0) {
                rc = spex_seterr(ctx, SPEX_E_PARSE,
                                 "%s: line %lld, column %lld ('%s'): missing value", name,
                                 (long long)line, (long long)c + 1, hdr[c]);
                goto done;
            }
        for (int64_t j = 0; j < ds->n_features; j++) {
            cell cl = cells[col_of[j]];
            if (parse_num(cl, &ds->x[r * ds->n_features + j])) {
                rc = spex_seterr(ctx, SPEX_E_PARSE,
                                 "%s: line %lld, column %lld ('%s'): not a number: '%.*s'", name,
                                 (long long)line, (long long)col_of[j] + 1, ds->feature_names[j],
                                 (int)(cl.len > 40 ? 40 : cl.len), cl.s);
                goto done;
            }
        }
        cell lc = cells[label_col];
        double lv = 0.0; /* set by parse_num; gcc 12 -O2 cannot see that */
        int lnum = !parse_num(lc, &lv);
        if (!lnum) all_numeric = 0;
        if (like) {
            int found = -1;
            for (int cls = 0; cls < like->n_classes && found < 0; cls++) {
                double cv;
                const char *cn = like->class_names[cls];
                if ((strlen(cn) == lc.len && !memcmp(cn, lc.s, lc.len)) ||
                    (lnum && !parse_num((cell){cn, strlen(cn)}, &cv) && cv == lv))
                    found = cls;
            }
            if (found < 0) {
                rc = spex_seterr(ctx, SPEX_E_PARSE,
                                 "%s: line %lld, column %lld ('%s'): label '%.*s' does not occur "
                                 "in the training set",
                                 name, (long long)line, (long long)label_col + 1, o.label,
                                 (int)(lc.len > 40 ? 40 : lc.len), lc.s);
                goto done;
            }
            ds->y[r] = found;
        } else {
            int64_t id = intern_id(ctx, &labels, lc.s, lc.len);
            if (id < 0) {
                rc = id == -1 ? spex_seterr(ctx, SPEX_E_NOMEM, "%s: out of memory", name)
                              : spex_seterr(ctx, SPEX_E_RANGE,
                                            "%s: line %lld, column %lld ('%s'): more than %d "
                                            "distinct labels (or a label with a NUL byte)",
                                            name, (long long)line, (long long)label_col + 1,
                                            o.label, SPEX_CSV_MAX_CLASSES);
                goto done;
            }
            ds->y[r] = (int)id;
            if (group_col >= 0) {
                cell gc = cells[group_col];
                int64_t g = intern_id(ctx, &groups, gc.s, gc.len);
                if (g < 0) {
                    rc = g == -1 ? spex_seterr(ctx, SPEX_E_NOMEM, "%s: out of memory", name)
                                 : spex_seterr(ctx, SPEX_E_PARSE,
                                               "%s: line %lld, column %lld ('%s'): bad group "
                                               "value",
                                               name, (long long)line, (long long)group_col + 1,
                                               o.group_by);
                    goto done;
                }
                ds->group[r] = g;
            }
        }
        r++;
        p = nl ? le + 1 : end;
    }
    if (like) {
        ds->n_classes = like->n_classes;
        ds->class_names = calloc((size_t)like->n_classes, sizeof *ds->class_names);
        if (!ds->class_names) {
            rc = spex_seterr(ctx, SPEX_E_NOMEM, "%s: out of memory", name);
            goto done;
        }
        for (int c = 0; c < like->n_classes; c++)
            if (!(ds->class_names[c] = strdup(like->class_names[c]))) {
                rc = spex_seterr(ctx, SPEX_E_NOMEM, "%s: out of memory", name);
                goto done;
            }
    } else {
        ds->n_classes = (int)labels.n;
        ds->class_names = labels.names;
        labels.names = NULL;
        labels.n = 0;
        if (all_numeric) {
            /* renumber classes by increasing value (insertion sort: <= 1000) */
            int K = ds->n_classes;
            int *order = malloc((size_t)K * sizeof *order),
                *rank = malloc((size_t)K * sizeof *rank);
            double *val = malloc((size_t)K * sizeof *val);
            char **nm = malloc((size_t)K * sizeof *nm);
            if (!order || !rank || !val || !nm) {
                free(order), free(rank), free(val), free(nm);
                rc = spex_seterr(ctx, SPEX_E_NOMEM, "%s: out of memory", name);
                goto done;
            }
            for (int c = 0; c < K; c++) {
                parse_num((cell){ds->class_names[c], strlen(ds->class_names[c])}, &val[c]);
                int i = c;
                while (i > 0 && val[order[i - 1]] > val[c])
                    order[i] = order[i - 1], i--;
                order[i] = c;
            }
            for (int i = 0; i < K; i++)
                rank[order[i]] = i, nm[i] = ds->class_names[order[i]];
            for (int64_t i = 0; i < rows; i++)
                ds->y[i] = rank[ds->y[i]];
            free(ds->class_names);
            ds->class_names = nm;
            free(order), free(rank), free(val);
        }
        if (group_col >= 0) {
            ds->n_groups = groups.n;
            ds->group_names = groups.names;
            groups.names = NULL;
            groups.n = 0;
        }
    }
done:
    intern_free(ctx, &labels);
    intern_free(ctx, &groups);
    for (int64_t c = 0; hdr && c < n_cols; c++)
        free(hdr[c]);
    free(hdr);
    free(cells);
    free(col_of);
    if (rc) {
        spex_dataset_free(ds);
        return rc;
    }
    *out = ds;
    return SPEX_OK;
}

int spex_data_read_csv(spex_ctx *ctx, const char *path, const spex_csv_opts *opts,
                       const spex_dataset *like, spex_dataset **out) {
    *out = NULL;
    spex_csv_opts o = opts ? *opts : spex_csv_opts_default();
    FILE *f = fopen(path, "rb");
    if (!f) return spex_seterr(ctx, SPEX_E_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = SPEX_OK;
    for (;;) {
        if (len == cap) {
            if (cap > o.max_bytes) {
                rc = spex_seterr(ctx, SPEX_E_RANGE, "%s: larger than the limit of %zu bytes", path,
                                 o.max_bytes);
                break;
            }
            size_t nc = cap ? cap * 2 : 65536;
            char *nb = spex_realloc(ctx, buf, nc, 1);
            if (!nb) {
                rc = spex_seterr(ctx, SPEX_E_NOMEM, "%s: out of memory", path);
                break;
            }
            buf = nb;
            cap = nc;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) rc = spex_seterr(ctx, SPEX_E_IO, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (!rc) rc = spex_data_parse_csv(ctx, buf ? buf : "", len, path, &o, like, out);
    spex_free(ctx, buf);
    return rc;
}
