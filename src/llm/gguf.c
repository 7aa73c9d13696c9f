/*
 * GGUF loader: parses the header, metadata and tensor infos of a GGUF file
 * (versions 2 and 3, little-endian) that is memory-mapped or given as a
 * buffer. Tensor data is never copied: spex_tensor_info.data points into the
 * mapping. The model (load.c) and the CLI read everything through here.
 *
 * HOW IT WORKS
 * File layout: "GGUF", u32 version, u64 n_tensors, u64 n_kv; n_kv key/value
 * pairs (key = u64 length + bytes, u32 type, value); n_tensors tensor infos
 * (name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset); padding to
 * general.alignment (default 32); the data section, where each tensor's
 * offset is relative to the data section's start. The parser is a cursor
 * over the bytes: every read first checks that the bytes remain, every count
 * is checked against the bytes that remain before anything is allocated
 * (each element needs at least one byte, each string eight), and every size
 * product is overflow-checked. Errors name the key or tensor and the byte
 * offset where the bad value starts.
 *
 * Files of BIG_FILE bytes or more (real models) are read into anonymous
 * memory on transparent huge pages instead of mapped: the matmul streams
 * every weight once per chunk, and through 4 KiB page-cache pages the TLB
 * misses alone took a fifth of a 1.1B model's time (measured, F16, pp64).
 * Resident size is the same as a mapping's (the file's size).
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, madvise */
#include "llm/llm_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAX_DIMS 4
#define GGUF_MAX_KEY 65535u
#define GGUF_DEFAULT_ALIGNMENT 32u

typedef struct cursor {
    spex_ctx *ctx;
    const char *name;
    const uint8_t *p;
    size_t size, off;
} cursor;

static size_t remain(const cursor *c) {
    return c->size - c->off;
}

static int need(cursor *c, size_t n, const char *what, const char *where) {
    if (n > remain(c))
        return spex_seterr(c->ctx, SPEX_E_PARSE,
                           "%s: byte %zu: %s%s%s needs %zu bytes but the file ends at byte %zu",
                           c->name, c->off, where ? where : "", where ? ": " : "", what, n,
                           c->size);
    return SPEX_OK;
}

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) {
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static int get_u32(cursor *c, uint32_t *v, const char *what, const char *where) {
    int rc = need(c, 4, what, where);
    if (rc) return rc;
    *v = rd32(c->p + c->off);
    c->off += 4;
    return SPEX_OK;
}
static int get_u64(cursor *c, uint64_t *v, const char *what, const char *where) {
    int rc = need(c, 8, what, where);
    if (rc) return rc;
    *v = rd64(c->p + c->off);
    c->off += 8;
    return SPEX_OK;
}

/* A string: u64 length + bytes. *s points into the buffer. */
static int get_str(cursor *c, const uint8_t **s, uint64_t *len, const char *what,
                   const char *where) {
    size_t at = c->off;
    int rc = get_u64(c, len, what, where);
    if (rc) return rc;
    if (*len > remain(c))
        return spex_seterr(c->ctx, SPEX_E_PARSE,
                           "%s: byte %zu: %s%s%s length %llu runs past the end of the file "
                           "(%zu bytes remain)",
                           c->name, at, where ? where : "", where ? ": " : "", what,
                           (unsigned long long)*len, remain(c));
    *s = c->p + c->off;
    c->off += (size_t)*len;
    return SPEX_OK;
}

static size_t scalar_size(uint32_t type) {
    switch (type) {
    case SPEX_GGUF_UINT8:
    case SPEX_GGUF_INT8:
    case SPEX_GGUF_BOOL:
        return 1;
    case SPEX_GGUF_UINT16:
    case SPEX_GGUF_INT16:
        return 2;
    case SPEX_GGUF_UINT32:
    case SPEX_GGUF_INT32:
    case SPEX_GGUF_FLOAT32:
        return 4;
    case SPEX_GGUF_UINT64:
    case SPEX_GGUF_INT64:
    case SPEX_GGUF_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

static char *dup_n(spex_ctx *ctx, const uint8_t *s, size_t n) {
    char *d = spex_malloc(ctx, n + 1);
    if (d) {
        if (n) memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* One value of kv (its type already read). */
static int parse_value(cursor *c, spex_gguf *g, gguf_kv *kv) {
    spex_ctx *ctx = c->ctx;
    const char *k = kv->key;
    size_t at = c->off;
    if (kv->type == SPEX_GGUF_STRING) {
        const uint8_t *s;
        uint64_t len;
        kv->val = c->p + c->off;
        return get_str(c, &s, &len, "string value", k);
    }
    if (kv->type == SPEX_GGUF_ARRAY) {
        int rc = get_u32(c, &kv->arr_type, "array element type", k);
        if (!rc) rc = get_u64(c, &kv->n, "array length", k);
        if (rc) return rc;
        kv->val = c->p + c->off;
        if (kv->arr_type == SPEX_GGUF_STRING) {
            if (kv->n > remain(c) / 8)
                return spex_seterr(ctx, SPEX_E_PARSE,
                                   "%s: byte %zu: key '%s': array of %llu strings cannot fit in "
                                   "the %zu bytes that remain",
                                   c->name, at, k, (unsigned long long)kv->n, remain(c));
            kv->str_off = spex_calloc(ctx, (size_t)kv->n ? (size_t)kv->n : 1, sizeof(uint64_t));
            if (!kv->str_off) return SPEX_E_NOMEM;
            size_t start = c->off;
            for (uint64_t j = 0; j < kv->n; j++) {
                const uint8_t *s;
                uint64_t len;
                kv->str_off[j] = c->off - start;
                if ((rc = get_str(c, &s, &len, "string element", k))) return rc;
            }
            return SPEX_OK;
        }
        size_t es = scalar_size(kv->arr_type);
        if (kv->arr_type == SPEX_GGUF_ARRAY)
            return spex_seterr(ctx, SPEX_E_PARSE,
                               "%s: byte %zu: key '%s': nested arrays are not supported", c->name,
                               at, k);
        if (!es)
            return spex_seterr(ctx, SPEX_E_PARSE,
                               "%s: byte %zu: key '%s': unknown array element type %u", c->name, at,
                               k, kv->arr_type);
        if (kv->n > remain(c) / es)
            return spex_seterr(ctx, SPEX_E_PARSE,
                               "%s: byte %zu: key '%s': array of %llu elements of %zu bytes runs "
                               "past the end of the file (%zu bytes remain)",
                               c->name, at, k, (unsigned long long)kv->n, es, remain(c));
        c->off += (size_t)kv->n * es;
        return SPEX_OK;
    }
    size_t es = scalar_size(kv->type);
    if (!es)
        return spex_seterr(ctx, SPEX_E_PARSE, "%s: byte %zu: key '%s': unknown value type %u",
                           c->name, at - 4, k, kv->type);
    int rc = need(c, es, "value", k);
    if (rc) return rc;
    kv->val = c->p + c->off;
    if (kv->type == SPEX_GGUF_BOOL && kv->val[0] > 1)
        return spex_seterr(ctx, SPEX_E_PARSE, "%s: byte %zu: key '%s': bool value %u is not 0 or 1",
                           c->name, at, k, kv->val[0]);
    c->off += es;
    (void)g;
    return SPEX_OK;
}

int64_t spex_tensor_block_elems(int type) {
    switch (type) {
    case SPEX_TENSOR_F32:
    case SPEX_TENSOR_F16:
    case SPEX_TENSOR_BF16:
        return 1;
    case SPEX_TENSOR_Q4_0:
    case SPEX_TENSOR_Q4_1:
    case SPEX_TENSOR_Q5_0:
    case SPEX_TENSOR_Q5_1:
    case SPEX_TENSOR_Q8_0:
        return 32;
    case SPEX_TENSOR_Q2_K:
    case SPEX_TENSOR_Q3_K:
    case SPEX_TENSOR_Q4_K:
    case SPEX_TENSOR_Q5_K:
    case SPEX_TENSOR_Q6_K:
        return 256;
    default:
        return 0;
    }
}

size_t spex_tensor_block_size(int type) {
    switch (type) {
    case SPEX_TENSOR_F32:
        return 4;
    case SPEX_TENSOR_F16:
    case SPEX_TENSOR_BF16:
        return 2;
    case SPEX_TENSOR_Q4_0:
        return 18;
    case SPEX_TENSOR_Q4_1:
        return 20;
    case SPEX_TENSOR_Q5_0:
        return 22;
    case SPEX_TENSOR_Q5_1:
        return 24;
    case SPEX_TENSOR_Q8_0:
        return 34;
    case SPEX_TENSOR_Q2_K:
        return 84;
    case SPEX_TENSOR_Q3_K:
        return 110;
    case SPEX_TENSOR_Q4_K:
        return 144;
    case SPEX_TENSOR_Q5_K:
        return 176;
    case SPEX_TENSOR_Q6_K:
        return 210;
    default:
        return 0;
    }
}

const char *spex_tensor_type_name(int type) {
    switch (type) {
    case SPEX_TENSOR_F32:
        return "F32";
    case SPEX_TENSOR_F16:
        return "F16";
    case SPEX_TENSOR_BF16:
        return "BF16";
    case SPEX_TENSOR_Q4_0:
        return "Q4_0";
    case SPEX_TENSOR_Q4_1:
        return "Q4_1";
    case SPEX_TENSOR_Q5_0:
        return "Q5_0";
    case SPEX_TENSOR_Q5_1:
        return "Q5_1";
    case SPEX_TENSOR_Q8_0:
        return "Q8_0";
    case SPEX_TENSOR_Q2_K:
        return "Q2_K";
    case SPEX_TENSOR_Q3_K:
        return "Q3_K";
    case SPEX_TENSOR_Q4_K:
        return "Q4_K";
    case SPEX_TENSOR_Q5_K:
        return "Q5_K";
    case SPEX_TENSOR_Q6_K:
        return "Q6_K";
    default:
        return NULL;
    }
}

static int parse_tensor(cursor *c, spex_gguf *g, int64_t ti) {
    spex_ctx *ctx = c->ctx;
    gguf_tensor *t = &g->tensors[ti];
    const uint8_t *s;
    uint64_t len;
    size_t at = c->off;
    char where[48];
    snprintf(where, sizeof where, "tensor %lld", (long long)ti);
    int rc = get_str(c, &s, &len, "name", where);
    if (rc) return rc;
    if (len > GGUF_MAX_KEY)
        return spex_seterr(ctx, SPEX_E_PARSE,
                           "%s: byte %zu: tensor %lld: name of %llu bytes is too long", c->name, at,
                           (long long)ti, (unsigned long long)len);
    if (memchr(s, 0, (size_t)len))
        return spex_seterr(ctx, SPEX_E_PARSE, "%s: byte %zu: tensor %lld: name contains a NUL byte",
                           c->name, at, (long long)ti);
    if (!(t->name = dup_n(ctx, s, (size_t)len))) return SPEX_E_NOMEM;
    t->info.name = t->name;
    const char *nm = t->name;
    char w2[96];
    snprintf(w2, sizeof w2, "tensor '%.60s'", nm);
    uint32_t n_dims, type;
    at = c->off;
    if ((rc = get_u32(c, &n_dims, "n_dims", w2))) return rc;
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return spex_seterr(ctx, SPEX_E_PARSE,
                           "%s: byte %zu: tensor '%s': %u dimensions (1..%d allowed)", c->name, at,
                           nm, n_dims, GGUF_MAX_DIMS);
    t->info.n_dims = (int)n_dims;
    int64_t n_elems = 1;
    for (int d = 0; d < 4; d++)
        t->info.ne[d] = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        uint64_t ne;
        at = c->off;
        if ((rc = get_u64(c, &ne, "dimension", w2))) return rc;
        if (ne == 0 || ne > (uint64_t)INT64_MAX || (int64_t)ne > INT64_MAX / n_elems)
            return spex_seterr(ctx, SPEX_E_PARSE,
                               "%s: byte %zu: tensor '%s': dimension %u = %llu is zero or makes "
                               "the element count overflow",
                               c->name, at, nm, d, (unsigned long long)ne);
        t->info.ne[d] = (int64_t)ne;
        n_elems *= (int64_t)ne;
    }
    at = c->off;
    if ((rc = get_u32(c, &type, "type", w2))) return rc;
    int64_t be = spex_tensor_block_elems((int)type);
    if (!be)
        return spex_seterr(ctx, SPEX_E_UNSUPPORTED,
                           "%s: byte %zu: tensor '%s': unknown or unsupported tensor type %u",
                           c->name, at, nm, type);
    if (t->info.ne[0] % be)
        return spex_seterr(ctx, SPEX_E_PARSE,
                           "%s: byte %zu: tensor '%s': rows of %lld elements are not a multiple "
                           "of the %s block size %lld",
                           c->name, at, nm, (long long)t->info.ne[0],
                           spex_tensor_type_name((int)type), (long long)be);
    t->info.type = (int)type;
    size_t bs = spex_tensor_block_size((int)type);
    uint64_t n_blocks = (uint64_t)(n_elems / be);
    if (n_blocks > SIZE_MAX / bs)
        return spex_seterr(ctx, SPEX_E_PARSE, "%s: byte %zu: tensor '%s': data size overflows",
                           c->name, at, nm);
    t->info.size = (size_t)n_blocks * bs;
    at = c->off;
    if ((rc = get_u64(c, &t->info.offset, "data offset", w2))) return rc;
    return SPEX_OK;
}

static void gguf_clear(spex_gguf *g) {
    if (g->kv)
        for (int64_t i = 0; i < g->n_kv; i++) {
            spex_free(g->ctx, g->kv[i].key);
            spex_free(g->ctx, g->kv[i].str_off);
        }
    if (g->tensors)
        for (int64_t i = 0; i < g->n_tensors; i++)
            spex_free(g->ctx, g->tensors[i].name);
    spex_free(g->ctx, g->kv);
    spex_free(g->ctx, g->tensors);
    g->kv = NULL;
    g->tensors = NULL;
}

static int gguf_parse(spex_gguf *g, const char *name) {
    spex_ctx *ctx = g->ctx;
    cursor cur = {ctx, name, g->base, g->size, 0}, *c = &cur;
    int rc;
    if (g->size < 4 || memcmp(g->base, "GGUF", 4)) {
        if (g->size >= 4 && !memcmp(g->base, "FUGG", 4))
            return spex_seterr(ctx, SPEX_E_UNSUPPORTED,
                               "%s: byte 0: big-endian GGUF files are not supported", name);
        return spex_seterr(ctx, SPEX_E_PARSE,
                           "%s: byte 0: bad magic (not a GGUF file: expected \"GGUF\")", name);
    }
    c->off = 4;
    if ((rc = get_u32(c, &g->version, "version", NULL))) return rc;
    if (g->version == 1)
        return spex_seterr(ctx, SPEX_E_UNSUPPORTED,
                           "%s: byte 4: GGUF v1 is not supported (re-convert the model with a "
                           "current converter to GGUF v3)",
                           name);
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xFFFF) == 0 && g->version)
            return spex_seterr(ctx, SPEX_E_UNSUPPORTED,
                               "%s: byte 4: version %u looks byte-swapped: big-endian GGUF files "
                               "are not supported",
                               name, g->version);
        return spex_seterr(ctx, SPEX_E_UNSUPPORTED,
                           "%s: byte 4: unknown GGUF version %u (2 and 3 are supported)", name,
                           g->version);
    }
    uint64_t n_tensors, n_kv;
    if ((rc = get_u64(c, &n_tensors, "tensor count", NULL))) return rc;
    if ((rc = get_u64(c, &n_kv, "metadata count", NULL))) return rc;
    /* a key/value needs >= 13 bytes (8 length + 1 key byte + 4 type), a
     * tensor info >= 29 */
    if (n_kv > remain(c) / 13)
        return spex_seterr(
            ctx, SPEX_E_PARSE,
            "%s: byte 16: metadata count %llu cannot fit in the %zu bytes that remain", name,
            (unsigned long long)n_kv, remain(c));
    if (n_tensors > remain(c) / 29)
        return spex_seterr(ctx, SPEX_E_PARSE,
                           "%s: byte 8: tensor count %llu cannot fit in the %zu bytes that remain",
                           name, (unsigned long long)n_tensors, remain(c));
    g->kv = spex_calloc(ctx, (size_t)n_kv ? (size_t)n_kv : 1, sizeof *g->kv);
    if (!g->kv) return SPEX_E_NOMEM;
    g->n_kv = (int64_t)n_kv;
    g->tensors = spex_calloc(ctx, (size_t)n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    if (!g->tensors) return SPEX_E_NOMEM;
    g->n_tensors = (int64_t)n_tensors;

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (int64_t i = 0; i < g->n_kv; i++) {
        gguf_kv *kv = &g->kv[i];
        const uint8_t *s;
        uint64_t len;
        size_t at = c->off;
        char where[48];
        snprintf(where, sizeof where, "key %lld", (long long)i);
        if ((rc = get_str(c, &s, &len, "name", where))) return rc;
        if (len == 0 || len > GGUF_MAX_KEY || memchr(s, 0, (size_t)len))
            return spex_seterr(ctx, SPEX_E_PARSE,
                               "%s: byte %zu: key %lld: name of %llu bytes is empty, too long or "
                               "contains a NUL byte",
                               name, at, (long long)i, (unsigned long long)len);
        if (!(kv->key = dup_n(ctx, s, (size_t)len))) return SPEX_E_NOMEM;
        for (int64_t j = 0; j < i; j++)
            if (!strcmp(g->kv[j].key, kv->key))
                return spex_seterr(ctx, SPEX_E_PARSE, "%s: byte %zu: duplicate key '%s'", name, at,
                                   kv->key);
        if ((rc = get_u32(c, &kv->type, "value type", kv->key))) return rc;
        if ((rc = parse_value(c, g, kv))) return rc;
        if (!strcmp(kv->key, "general.alignment")) {
            if (kv->type != SPEX_GGUF_UINT32)
                return spex_seterr(ctx, SPEX_E_PARSE,
                                   "%s: byte %zu: key 'general.alignment' must be a uint32 (type "
                                   "%u)",
                                   name, at, kv->type);
            uint32_t a = rd32(kv->val);
            if (a == 0 || (a & (a - 1)) || a > (1u << 24))
                return spex_seterr(ctx, SPEX_E_PARSE,
                                   "%s: byte %zu: key 'general.alignment' = %u is not a power of "
                                   "two up to 2^24",
                                   name, at, a);
            g->alignment = a;
        }
    }
    for (int64_t i = 0; i < g->n_tensors; i++) {
        size_t at = c->off;
        if ((rc = parse_tensor(c, g, i))) return rc;
        for (int64_t j = 0; j < i; j++)
            if (!strcmp(g->tensors[j].name, g->tensors[i].name))
                return spex_seterr(ctx, SPEX_E_PARSE, "%s: byte %zu: duplicate tensor '%s'", name,
                                   at, g->tensors[i].name);
    }
    size_t data_off = c->off;
    if (data_off % g->alignment) data_off += g->alignment - data_off % g->alignment;
    if (g->n_tensors > 0 && data_off > g->size)
        return spex_seterr(ctx, SPEX_E_PARSE,
                           "%s: byte %zu: the data section (at byte %zu after alignment "
                           "padding) starts past the end of the file",
                           name, c->off, data_off);
    g->data_off = data_off;
    size_t data_size = g->n_tensors > 0 ? g->size - data_off : 0;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        spex_tensor_info *t = &g->tensors[i].info;
        if (t->offset % g->alignment)
            return spex_seterr(ctx, SPEX_E_PARSE,
                               "%s: tensor '%s': data offset %llu is not a multiple of the "
                               "alignment %zu",
                               name, t->name, (unsigned long long)t->offset, g->alignment);
        if (t->offset > data_size || t->size > data_size - t->offset)
            return spex_seterr(ctx, SPEX_E_PARSE,
                               "%s: tensor '%s': data at byte %llu + %zu bytes runs past the end "
                               "of the file (%zu bytes)",
                               name, t->name, (unsigned long long)(data_off + t->offset), t->size,
                               g->size);
        t->data = g->base + data_off + t->offset;
        t->offset += data_off;
    }
    return SPEX_OK;
}

static int gguf_new(spex_ctx *ctx, const uint8_t *base, size_t size, int mapped, const char *name,
                    spex_gguf **out) {
    spex_gguf *g = spex_calloc(ctx, 1, sizeof *g);
    if (!g) {
        if (mapped) munmap((void *)base, size);
        return SPEX_E_NOMEM;
    }
    g->ctx = ctx;
    g->base = base;
    g->size = size;
    g->mapped = mapped;
    int rc = gguf_parse(g, name);
    if (rc) {
        spex_gguf_free(g);
        return rc;
    }
    *out = g;
    return SPEX_OK;
}

int spex_gguf_open_buffer(spex_ctx *ctx, const void *data, size_t size, const char *name,
                          spex_gguf **out) {
    *out = NULL;
    if (!data && size) return spex_seterr(ctx, SPEX_E_INVAL, "spex_gguf_open_buffer: NULL data");
    return gguf_new(ctx, data ? data : (const void *)"", size, 0, name ? name : "buffer", out);
}

enum { BIG_FILE = 256 << 20 };

/* The file's size bytes, read-only: read into huge-page anonymous memory
 * when big (the HOW IT WORKS above), else mapped; MAP_FAILED on failure
 * (errno set). Either way munmap frees it. */
static void *map_file(int fd, size_t size) {
#ifdef MADV_HUGEPAGE
    if (size >= BIG_FILE) {
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return p;
        (void)madvise(p, size, MADV_HUGEPAGE); /* a hint: without it, small pages */
        size_t got = 0;
        while (got < size) {
            ssize_t r = pread(fd, (char *)p + got, size - got, (off_t)got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                int e = r < 0 ? errno : EIO;
                munmap(p, size);
                errno = e;
                return MAP_FAILED;
            }
            got += (size_t)r;
        }
        if (mprotect(p, size, PROT_READ) == 0) return p;
        int e = errno;
        munmap(p, size);
        errno = e;
        return MAP_FAILED;
    }
#endif
    return mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
}

int spex_gguf_open(spex_ctx *ctx, const char *path, spex_gguf **out) {
    *out = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return spex_seterr(ctx, SPEX_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return spex_seterr(ctx, SPEX_E_IO, "%s: not a regular file", path);
    }
    if (st.st_size < 24) {
        close(fd);
        if (st.st_size >= 8) {
            /* small enough to parse for the better message */
            uint8_t buf[24];
            FILE *f = fopen(path, "rb");
            size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
            if (f) fclose(f);
            spex_gguf *g = NULL;
            int rc = gguf_new(ctx, buf, n, 0, path, &g);
            spex_gguf_free(g);
            if (rc) return rc;
        }
        return spex_seterr(ctx, SPEX_E_PARSE,
                           "%s: byte 0: file of %lld bytes is too short for a GGUF header (24)",
                           path, (long long)st.st_size);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return spex_seterr(ctx, SPEX_E_IO, "%s: file too large to map", path);
    }
    void *p = map_file(fd, (size_t)st.st_size);
    int err = errno;
    close(fd);
    if (p == MAP_FAILED)
        return spex_seterr(ctx, SPEX_E_IO, "%s: cannot map or read: %s", path, strerror(err));
    return gguf_new(ctx, p, (size_t)st.st_size, 1, path, out);
}

void spex_gguf_free(spex_gguf *g) {
    if (!g) return;
    gguf_clear(g);
    if (g->mapped) munmap((void *)g->base, g->size);
    spex_free(g->ctx, g);
}

uint32_t spex_gguf_version(const spex_gguf *g) {
    return g->version;
}
size_t spex_gguf_alignment(const spex_gguf *g) {
    return g->alignment;
}
int64_t spex_gguf_n_kv(const spex_gguf *g) {
    return g->n_kv;
}
int64_t spex_gguf_find_key(const spex_gguf *g, const char *key) {
    for (int64_t i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, key)) return i;
    return -1;
}
const char *spex_gguf_key(const spex_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}
int spex_gguf_kv_type(const spex_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? (int)g->kv[i].type : -1;
}
int spex_gguf_arr_type(const spex_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv && g->kv[i].type == SPEX_GGUF_ARRAY ? (int)g->kv[i].arr_type : -1;
}
int64_t spex_gguf_arr_n(const spex_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv && g->kv[i].type == SPEX_GGUF_ARRAY ? (int64_t)g->kv[i].n : 0;
}

/* The type and bytes of value i (element j when j >= 0). */
static int value_at(const spex_gguf *g, int64_t i, int64_t j, uint32_t *type, const uint8_t **p) {
    if (i < 0 || i >= g->n_kv)
        return spex_seterr(g->ctx, SPEX_E_INVAL, "metadata index %lld out of range", (long long)i);
    const gguf_kv *kv = &g->kv[i];
    if (j < 0) {
        if (kv->type == SPEX_GGUF_ARRAY)
            return spex_seterr(g->ctx, SPEX_E_INVAL, "key '%s' is an array", kv->key);
        *type = kv->type;
        *p = kv->val;
        return SPEX_OK;
    }
    if (kv->type != SPEX_GGUF_ARRAY || (uint64_t)j >= kv->n)
        return spex_seterr(g->ctx, SPEX_E_INVAL, "key '%s' has no element %lld", kv->key,
                           (long long)j);
    *type = kv->arr_type;
    *p = kv->arr_type == SPEX_GGUF_STRING ? kv->val + kv->str_off[j]
                                          : kv->val + (size_t)j * scalar_size(kv->arr_type);
    return SPEX_OK;
}

int spex_gguf_get_int(const spex_gguf *g, int64_t i, int64_t j, int64_t *out) {
    uint32_t t = 0; /* set by value_at on success; gcc -O3 cannot see it */
    const uint8_t *p = NULL;
    int rc = value_at(g, i, j, &t, &p);
    if (rc) return rc;
    switch (t) {
    case SPEX_GGUF_UINT8:
    case SPEX_GGUF_BOOL:
        *out = p[0];
        return SPEX_OK;
    case SPEX_GGUF_INT8:
        *out = (int8_t)p[0];
        return SPEX_OK;
    case SPEX_GGUF_UINT16:
        *out = (uint16_t)(p[0] | p[1] << 8);
        return SPEX_OK;
    case SPEX_GGUF_INT16:
        *out = (int16_t)(uint16_t)(p[0] | p[1] << 8);
        return SPEX_OK;
    case SPEX_GGUF_UINT32:
        *out = rd32(p);
        return SPEX_OK;
    case SPEX_GGUF_INT32:
        *out = (int32_t)rd32(p);
        return SPEX_OK;
    case SPEX_GGUF_INT64:
        *out = (int64_t)rd64(p);
        return SPEX_OK;
    case SPEX_GGUF_UINT64:
        if (rd64(p) > (uint64_t)INT64_MAX) break;
        *out = (int64_t)rd64(p);
        return SPEX_OK;
    default:
        break;
    }
    return spex_seterr(g->ctx, SPEX_E_INVAL, "key '%s': value (type %u) is not an integer",
                       g->kv[i].key, t);
}

int spex_gguf_get_float(const spex_gguf *g, int64_t i, int64_t j, double *out) {
    uint32_t t = 0; /* set by value_at on success; gcc -O3 cannot see it */
    const uint8_t *p = NULL;
    int rc = value_at(g, i, j, &t, &p);
    if (rc) return rc;
    if (t == SPEX_GGUF_FLOAT32) {
        uint32_t u = rd32(p);
        float f;
        memcpy(&f, &u, 4);
        *out = f;
        return SPEX_OK;
    }
    if (t == SPEX_GGUF_FLOAT64) {
        uint64_t u = rd64(p);
        memcpy(out, &u, 8);
        return SPEX_OK;
    }
    if (t == SPEX_GGUF_UINT64) {
        *out = (double)rd64(p);
        return SPEX_OK;
    }
    int64_t v;
    if (t != SPEX_GGUF_BOOL && spex_gguf_get_int(g, i, j, &v) == SPEX_OK) {
        *out = (double)v;
        return SPEX_OK;
    }
    return spex_seterr(g->ctx, SPEX_E_INVAL, "key '%s': value (type %u) is not a number",
                       g->kv[i].key, t);
}

int spex_gguf_get_str(const spex_gguf *g, int64_t i, int64_t j, const char **s, size_t *len) {
    uint32_t t = 0; /* set by value_at on success; gcc -O3 cannot see it */
    const uint8_t *p = NULL;
    int rc = value_at(g, i, j, &t, &p);
    if (rc) return rc;
    if (t != SPEX_GGUF_STRING)
        return spex_seterr(g->ctx, SPEX_E_INVAL, "key '%s': value (type %u) is not a string",
                           g->kv[i].key, t);
    *len = (size_t)rd64(p);
    *s = (const char *)p + 8;
    return SPEX_OK;
}

int64_t spex_gguf_n_tensors(const spex_gguf *g) {
    return g->n_tensors;
}
int64_t spex_gguf_find_tensor(const spex_gguf *g, const char *name) {
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->tensors[i].name, name)) return i;
    return -1;
}
void spex_gguf_tensor(const spex_gguf *g, int64_t i, spex_tensor_info *out) {
    *out = g->tensors[i].info;
}
