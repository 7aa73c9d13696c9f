/* A small GGUF writer for the tests (little-endian, the layout
 * src/llm/gguf.c reads): a growable byte buffer and the integer, string and
 * key encoders. test_gguf.c builds whole files in memory with it (and
 * breaks them on purpose); test_midsize.c writes the metadata and tensor
 * infos of a model with it and streams the tensor data to the file. */
#ifndef SPEX_TEST_GGUF_WRITER_H
#define SPEX_TEST_GGUF_WRITER_H

#include "test_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static inline void put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static inline void put32(buf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, x, 4);
}
static inline void put64(buf *b, uint64_t v) {
    put32(b, (uint32_t)v);
    put32(b, (uint32_t)(v >> 32));
}
/* A GGUF string: u64 length, then the bytes (no NUL). */
static inline void putstrn(buf *b, const char *s, size_t n) {
    put64(b, n);
    put(b, s, n);
}
static inline void putstr(buf *b, const char *s) {
    putstrn(b, s, strlen(s));
}
/* A metadata key and its value's type; the value follows. */
static inline void putkey(buf *b, const char *k, uint32_t type) {
    putstr(b, k);
    put32(b, type);
}

#endif
