/* The fast matrix product (src/llm/matmul.c) against the reference one (the
 * scalar dequantiser and double-accumulated dot products) on every weight
 * type the engine reads and every kernel set the CPU runs (portable, AVX2,
 * AVX-512; the ones this CPU lacks are reported as skipped): random blocks
 * (random quant bytes, sane random scales), shapes with partial tiles and
 * partial vectors. Also: bit-identical results for 1 and 2 threads and for a
 * position computed alone or inside a chunk. */
#include "test_util.h"

#include "llm/model_int.h"

#include <stdlib.h>

/* Bytes offsets of the IEEE-half scales in a block of each type (-1 ends). */
static const int *half_offsets(int type) {
    static const int q4_0[] = {0, -1}, q4_1[] = {0, 2, -1}, q2_k[] = {80, 82, -1},
                     q3_k[] = {108, -1}, q6_k[] = {208, -1};
    switch (type) {
    case SPEX_TENSOR_Q4_0:
    case SPEX_TENSOR_Q5_0:
    case SPEX_TENSOR_Q8_0:
        return q4_0;
    case SPEX_TENSOR_Q4_1:
    case SPEX_TENSOR_Q5_1:
    case SPEX_TENSOR_Q4_K:
    case SPEX_TENSOR_Q5_K:
        return q4_1;
    case SPEX_TENSOR_Q2_K:
        return q2_k;
    case SPEX_TENSOR_Q3_K:
        return q3_k;
    case SPEX_TENSOR_Q6_K:
        return q6_k;
    default:
        return NULL;
    }
}

static uint64_t rng_next(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}
static float rng_unif(uint64_t *s) { /* [-1, 1) */
    return (float)((double)rng_next(s) / 2147483648.0 * 2.0 - 1.0);
}

static void put_half(uint8_t *p, float f) {
    uint16_t h = spexi_f32_to_f16(f);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

/* n_out rows of n_in weights of type: random bytes with scales in
 * [-scale, scale]; F32/F16/BF16 elements in [-0.1, 0.1]. */
static uint8_t *random_matrix(int type, int64_t n_in, int64_t n_out, uint64_t *s,
                              size_t *row_size) {
    int64_t be = spex_tensor_block_elems(type);
    size_t bs = spex_tensor_block_size(type);
    *row_size = (size_t)(n_in / be) * bs;
    size_t n = *row_size * (size_t)n_out;
    uint8_t *d = malloc(n + 64);
    assert_non_null(d);
    for (size_t i = 0; i < n; i++)
        d[i] = (uint8_t)rng_next(s);
    if (type == SPEX_TENSOR_F32)
        for (size_t i = 0; i < n / 4; i++) {
            float f = 0.1f * rng_unif(s);
            memcpy(d + 4 * i, &f, 4);
        }
    else if (type == SPEX_TENSOR_F16)
        for (size_t i = 0; i < n / 2; i++)
            put_half(d + 2 * i, 0.1f * rng_unif(s));
    else if (type == SPEX_TENSOR_BF16)
        for (size_t i = 0; i < n / 2; i++) {
            float f = 0.1f * rng_unif(s);
            uint32_t b;
            memcpy(&b, &f, 4);
            d[2 * i] = (uint8_t)(b >> 16);
            d[2 * i + 1] = (uint8_t)(b >> 24);
        }
    else
        for (size_t k = 0; k < n / bs; k++)
            for (const int *o = half_offsets(type); *o >= 0; o++)
                put_half(d + k * bs + *o, 0.01f * rng_unif(s));
    return d;
}

/* A model shell carrying what spexi_matmul reads. */
static void shell(spex_llm *m, spex_ctx *ctx, int reference, int isa) {
    memset(m, 0, sizeof *m);
    m->ctx = ctx;
    m->reference = reference;
    m->isa = isa;
    m->dot = spexi_pick_dot(reference);
    m->deq = spexi_pick_dequant(reference);
}

/* What both checks share: a random matrix of type (n_out rows of n_in),
 * T positions of activations x, the dequantised weights deq, the reference
 * product ref (scalar, double-accumulated) and buffers for the fast
 * products: fast (1 thread), fast2 (2 threads), one (position 5 alone). */
enum { T = 37 }; /* past one micro-kernel's positions, not a multiple of them */
typedef struct fixture {
    uint64_t s; /* the RNG state, after the matrix */
    uint8_t *data;
    spexi_wmat w;
    float *x, *ref, *fast, *fast2, *one, *deq, *rows;
} fixture;

/* outlier_every > 0: every such activation is 8 times larger. */
static void fixture_init(fixture *f, spex_ctx *ctx, int type, int64_t n_in, int64_t n_out,
                         uint64_t seed, int outlier_every) {
    f->s = seed;
    size_t row_size;
    f->data = random_matrix(type, n_in, n_out, &f->s, &row_size);
    f->w = (spexi_wmat){type, n_in, n_out, row_size, f->data};
    f->x = malloc(sizeof(float) * T * (size_t)n_in);
    f->ref = malloc(sizeof(float) * T * (size_t)n_out);
    f->fast = malloc(sizeof(float) * T * (size_t)n_out);
    f->fast2 = malloc(sizeof(float) * T * (size_t)n_out);
    f->one = malloc(sizeof(float) * (size_t)n_out);
    f->deq = malloc(sizeof(float) * (size_t)n_in * (size_t)n_out);
    f->rows = malloc(sizeof(float) * 2 * (size_t)spexi_matmul_rows_floats(n_in));
    assert_true(f->x && f->ref && f->fast && f->fast2 && f->one && f->deq && f->rows);
    for (int64_t i = 0; i < T * n_in; i++)
        f->x[i] = rng_unif(&f->s) * (outlier_every && i % outlier_every == 0 ? 8.0f : 1.0f);
    for (int64_t r = 0; r < n_out; r++)
        CHECK_RC(ctx,
                 spex_tensor_to_f32(ctx, type, f->data + r * row_size, n_in, f->deq + r * n_in));
    spex_llm m;
    shell(&m, ctx, 1, SPEXI_ISA_PORTABLE);
    spexi_matmul(&m, &f->w, f->x, T, f->ref, f->rows);
}

/* The fast products of m into f->fast (1 thread), f->fast2 (2 threads) and
 * f->one (position 5 alone). */
static void fixture_run(fixture *f, spex_llm *m, spex_ctx *ctx) {
    spex_ctx_set_threads(ctx, 1);
    spexi_matmul(m, &f->w, f->x, T, f->fast, f->rows);
    spex_ctx_set_threads(ctx, 2);
    spexi_matmul(m, &f->w, f->x, T, f->fast2, f->rows);
    spexi_matmul(m, &f->w, f->x + 5 * f->w.n_in, 1, f->one, f->rows);
}

static void fixture_free(fixture *f) {
    free(f->data);
    free(f->x);
    free(f->ref);
    free(f->fast);
    free(f->fast2);
    free(f->one);
    free(f->deq);
    free(f->rows);
}

static void check_type(spex_ctx *ctx, int type, int64_t n_in, int64_t n_out, uint64_t seed) {
    fixture f;
    fixture_init(&f, ctx, type, n_in, n_out, seed, 0);
    spex_llm m;
    /* tolerance of each output: 1e-6 of sum |w x| (float sums of n_in
     * products err by at most ~n_in / lanes * 2^-24 of that) */
    for (int isa = SPEXI_ISA_PORTABLE; isa <= SPEXI_ISA_AVX512; isa++) {
        if (isa > spexi_isa_best()) {
            printf("  %-5s %-8s skipped (not on this CPU)\n", spex_tensor_type_name(type),
                   spexi_isa_name(isa));
            continue;
        }
        shell(&m, ctx, 0, isa);
        fixture_run(&f, &m, ctx);
        double worst = 0;
        for (int64_t t = 0; t < T; t++)
            for (int64_t r = 0; r < n_out; r++) {
                double mag = 0;
                for (int64_t i = 0; i < n_in; i++)
                    mag += fabs((double)f.deq[r * n_in + i] * f.x[t * n_in + i]);
                double got = f.fast[t * n_out + r], want = f.ref[t * n_out + r];
                CHECK_NEAR(got, want, 1e-6 * mag + 1e-30);
                if (mag > 0 && fabs(got - want) / mag > worst) worst = fabs(got - want) / mag;
                CHECK(f.fast2[t * n_out + r] == f.fast[t * n_out + r]);
                if (t == 5) CHECK(f.one[r] == f.fast[t * n_out + r]);
            }
        printf("  %-5s %-8s n_in %4lld n_out %3lld: worst |fast - ref| / sum|w x| = %.2g "
               "(tolerance 1e-6); 1 = 2 threads, alone = in a chunk\n",
               spex_tensor_type_name(type), spexi_isa_name(isa), (long long)n_in, (long long)n_out,
               worst);
    }
    fixture_free(&f);
}

/* The test's own int8 rounding of activations, as matmul_q8.c documents
 * it: blocks of 32, dx = max|x| / 127, xq = round(x / dx). */
static void round_acts(const float *x, int64_t n, float *xr, double *dx) {
    for (int64_t k = 0; k < n / 32; k++) {
        float amax = 0;
        for (int l = 0; l < 32; l++)
            amax = fmaxf(amax, fabsf(x[32 * k + l]));
        float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        dx[k] = d;
        for (int l = 0; l < 32; l++)
            xr[32 * k + l] = d * (float)lrintf(x[32 * k + l] * id);
    }
}

/* The int8 kernels (matmul_q8.c) on the types they take: against the exact
 * product of the dequantised weights with the test's own rounded
 * activations (only float rounding apart, 1e-6 of sum |w xr|), and against
 * the float reference within the rounding's bound (sum over blocks of
 * sum |w| * dx / 2); bit-identical for 1 and 2 threads and alone. */
static void check_int8(spex_ctx *ctx, int type, int64_t n_in, int64_t n_out, uint64_t seed) {
    fixture f;
    fixture_init(&f, ctx, type, n_in, n_out, seed, 97); /* a few outliers per row */
    int64_t nb = n_in / 32;
    float *xr = malloc(sizeof(float) * T * (size_t)n_in);
    double *dx = malloc(sizeof(double) * T * (size_t)nb);
    assert_true(xr && dx);
    for (int64_t t = 0; t < T; t++)
        round_acts(f.x + t * n_in, n_in, xr + t * n_in, dx + t * nb);
    spex_llm m;
    shell(&m, ctx, 0, SPEXI_ISA_AVX512);
    m.int8 = 1;
    fixture_run(&f, &m, ctx);
    double worst_exact = 0, worst_ref = 0;
    for (int64_t t = 0; t < T; t++)
        for (int64_t r = 0; r < n_out; r++) {
            const float *wr = f.deq + r * n_in;
            double exact = 0, mag = 0, bound = 0, magx = 0;
            for (int64_t i = 0; i < n_in; i++) {
                exact += (double)wr[i] * xr[t * n_in + i];
                mag += fabs((double)wr[i] * xr[t * n_in + i]);
                magx += fabs((double)wr[i] * f.x[t * n_in + i]);
                bound += fabs((double)wr[i]) * dx[t * nb + i / 32] * 0.5;
            }
            double got = f.fast[t * n_out + r];
            CHECK_NEAR(got, exact, 1e-6 * mag + 1e-30);
            CHECK_NEAR(got, f.ref[t * n_out + r], bound * 1.001 + 1e-4 * magx + 1e-30);
            if (mag > 0) worst_exact = fmax(worst_exact, fabs(got - exact) / mag);
            if (bound > 0) worst_ref = fmax(worst_ref, fabs(got - f.ref[t * n_out + r]) / bound);
            CHECK(f.fast2[t * n_out + r] == got);
            if (t == 5) CHECK(f.one[r] == got);
        }
    printf("  %-5s int8     n_in %4lld n_out %3lld: worst |fast - exact(w, rounded x)| / sum|w x| "
           "= %.2g (tolerance 1e-6); |fast - ref| = %.2f of the rounding bound; 1 = 2 threads, "
           "alone = in a chunk\n",
           spex_tensor_type_name(type), (long long)n_in, (long long)n_out, worst_exact, worst_ref);
    free(xr);
    free(dx);
    fixture_free(&f);
}

static void test_int8(void **state) {
    (void)state;
    if (!spexi_q8_supported()) {
        printf("  int8 kernels skipped (no AVX-512 VNNI on this CPU)\n");
        return;
    }
    spex_ctx *ctx = spex_ctx_new();
    static const int types[] = {SPEX_TENSOR_Q8_0, SPEX_TENSOR_Q4_0, SPEX_TENSOR_Q4_1,
                                SPEX_TENSOR_Q5_0, SPEX_TENSOR_Q5_1, SPEX_TENSOR_Q4_K,
                                SPEX_TENSOR_Q5_K};
    int n_types = 0;
    for (int t = 0; t <= SPEX_TENSOR_BF16 + 64; t++)
        n_types += spexi_q8_type(t);
    CHECK(n_types == (int)(sizeof types / sizeof types[0]));
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        CHECK(spexi_q8_type(types[k]));
        /* 768: three K-quant super-blocks; 37 rows: partial tiles of 16 */
        check_int8(ctx, types[k], 768, 37, 2000 + k);
    }
    spex_ctx_free(ctx);
}

static void test_all_types(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    static const int types[] = {
        SPEX_TENSOR_F32,  SPEX_TENSOR_F16,  SPEX_TENSOR_BF16, SPEX_TENSOR_Q4_0, SPEX_TENSOR_Q4_1,
        SPEX_TENSOR_Q5_0, SPEX_TENSOR_Q5_1, SPEX_TENSOR_Q8_0, SPEX_TENSOR_Q2_K, SPEX_TENSOR_Q3_K,
        SPEX_TENSOR_Q4_K, SPEX_TENSOR_Q5_K, SPEX_TENSOR_Q6_K};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++)
        /* 768: three K-quant super-blocks; 37 rows: partial tiles (16) and
         * micro-kernel groups (4) */
        check_type(ctx, types[k], 768, 37, 1000 + k);
    /* float types with n_in not a multiple of any vector width */
    check_type(ctx, SPEX_TENSOR_F32, 100, 19, 7);
    check_type(ctx, SPEX_TENSOR_F16, 37, 5, 8);
    spex_ctx_free(ctx);
}

static void test_isa_errors(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_llm m;
    shell(&m, ctx, 0, SPEXI_ISA_PORTABLE);
    CHECK(spexi_set_isa(&m, spexi_isa_best()) == SPEX_OK);
    CHECK(spexi_set_isa(&m, 99) == SPEX_E_INVAL);
    CHECK(strstr(spex_errmsg(ctx), "not supported") != NULL);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_all_types),
                                       cmocka_unit_test(test_int8),
                                       cmocka_unit_test(test_isa_errors)};
    SPEX_RUN_TESTS(tests);
}
