/* Several sequences in one forward pass (spexi_run_batch, used by the batch
 * scorers of score.c) against the same sequences one at a time
 * (spex_llm.multi_seq = 0): prompt-lens batches (random token drops, so that
 * neighbours share prefixes of every length) with and without prefix reuse,
 * per-token log-probs, component-ablation batches mixing zero and mean
 * ablations of heads and MLPs, and a batch under an ablation set with
 * spex_llm_set_ablation; bit-identical at 1 and 2 threads, on the fast
 * (int8 where the CPU has it, and float) and the reference kernels. The
 * one-at-a-time path is itself checked against llama.cpp's goldens
 * (test_llama) and patched model files (test_ablation). The test also
 * checks that multi-sequence passes did run, so that it cannot pass by
 * never batching. */
#include "test_util.h"

#include "llm/model_int.h"

#include <stdlib.h>
#include <string.h>

#define MODEL "../shared/models/synth-interact-llama-Q8_0.gguf"

enum { NV = 48 };

static uint64_t rng_next(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

typedef struct variants {
    int32_t *seq[NV];
    int64_t len[NV], from[NV];
} variants;

/* NV variants of one prompt + target: each drops a random set of the
 * prompt's tokens after BOS (about one in three), keeps the 2-token target. */
static void make_variants(spex_ctx *ctx, spex_llm *m, variants *v) {
    int32_t *t;
    int64_t n;
    const char *text = "the waiter is never so superb but the waiter felt lovely . the food was "
                       "cold and the room was loud , yet we stayed";
    CHECK_RC(ctx, spex_llm_tokenize(m, text, strlen(text), 1, &t, &n));
    uint64_t s = 7;
    for (int k = 0; k < NV; k++) {
        v->seq[k] = malloc((size_t)n * sizeof(int32_t));
        int64_t o = 0;
        for (int64_t i = 0; i < n; i++)
            if (i == 0 || i >= n - 2 || k == 0 || rng_next(&s) % 3) v->seq[k][o++] = t[i];
        v->len[k] = o;
        v->from[k] = o - 2;
    }
    spex_free(ctx, t);
}

static void free_variants(variants *v) {
    for (int k = 0; k < NV; k++)
        free(v->seq[k]);
}

#define SEQS(v) ((const int32_t *const *)(v)->seq)

static void check_prompt_batches(spex_ctx *ctx, spex_llm *m, const variants *v) {
    double one[NV], multi[NV], multi2[NV], noreuse[NV];
    m->multi_seq = 0;
    spex_ctx_set_threads(ctx, 1);
    CHECK_RC(ctx, spex_llm_score_tokens_batch(m, NV, SEQS(v), v->len, v->from, 1, one));
    m->multi_seq = 1;
    int64_t passes = m->n_batch_passes;
    CHECK_RC(ctx, spex_llm_score_tokens_batch(m, NV, SEQS(v), v->len, v->from, 1, multi));
    CHECK(m->n_batch_passes > passes); /* neighbours did share passes */
    CHECK_RC(ctx, spex_llm_score_tokens_batch(m, NV, SEQS(v), v->len, v->from, 0, noreuse));
    spex_ctx_set_threads(ctx, 2);
    CHECK_RC(ctx, spex_llm_score_tokens_batch(m, NV, SEQS(v), v->len, v->from, 1, multi2));
    spex_ctx_set_threads(ctx, 1);
    for (int k = 0; k < NV; k++) {
        CHECK(multi[k] == one[k]);
        CHECK(multi2[k] == one[k]);
        CHECK(noreuse[k] == one[k]);
    }
    /* per-token log-probs from position 2 on */
    double *tl[NV], *t1[NV];
    int64_t f2[NV];
    for (int k = 0; k < NV; k++) {
        f2[k] = 2;
        tl[k] = malloc((size_t)v->len[k] * sizeof(double));
        t1[k] = malloc((size_t)v->len[k] * sizeof(double));
    }
    m->multi_seq = 0;
    CHECK_RC(ctx, spex_llm_token_logprobs_batch(m, NV, SEQS(v), v->len, f2, t1));
    m->multi_seq = 1;
    CHECK_RC(ctx, spex_llm_token_logprobs_batch(m, NV, SEQS(v), v->len, f2, tl));
    for (int k = 0; k < NV; k++) {
        for (int64_t j = 0; j < v->len[k] - 2; j++)
            CHECK(tl[k][j] == t1[k][j]);
        free(tl[k]);
        free(t1[k]);
    }
}

/* One prompt under NV ablations: random head and MLP flags, zero or mean
 * values, in runs of one to three sequences sharing one ablation. */
static void check_ablated_batches(spex_ctx *ctx, spex_llm *m, const variants *v) {
    spex_llm_info I;
    spex_llm_get_info(m, &I);
    int64_t L = I.n_layers, H = I.n_heads, D = I.dim;
    float *hm = malloc((size_t)(L * D) * sizeof(float));
    float *mm = malloc((size_t)(L * D) * sizeof(float));
    CHECK_RC(ctx, spex_llm_component_means(m, 4, SEQS(v), v->len, hm, mm));
    enum { NA = 16 };
    uint8_t *heads = calloc((size_t)(NA * L * H), 1), *mlps = calloc((size_t)(NA * L), 1);
    spex_llm_ablation ab[NA];
    const spex_llm_ablation *which[NV];
    uint64_t s = 11;
    for (int a = 0; a < NA; a++) {
        for (int64_t i = 0; i < L * H; i++)
            heads[a * L * H + i] = rng_next(&s) % 4 == 0;
        for (int64_t l = 0; l < L; l++)
            mlps[a * L + l] = rng_next(&s) % 5 == 0;
        int mean = a % 2;
        ab[a] = (spex_llm_ablation){heads + a * L * H, mlps + a * L, mean ? hm : NULL,
                                    mean ? mm : NULL};
    }
    const int32_t *seqs[NV];
    int64_t lens[NV], from[NV];
    for (int k = 0, a = 0; k < NV; k++) {
        seqs[k] = v->seq[0];
        lens[k] = v->len[0];
        from[k] = v->from[0];
        if (k && rng_next(&s) % 3 == 0) a = (a + 1) % NA;
        which[k] = k % 9 == 4 ? NULL : &ab[a];
    }
    double one[NV], multi[NV], multi2[NV];
    m->multi_seq = 0;
    CHECK_RC(ctx, spex_llm_score_ablated_batch(m, NV, seqs, lens, from, which, one));
    m->multi_seq = 1;
    int64_t passes = m->n_batch_passes;
    CHECK_RC(ctx, spex_llm_score_ablated_batch(m, NV, seqs, lens, from, which, multi));
    CHECK(m->n_batch_passes > passes);
    spex_ctx_set_threads(ctx, 2);
    CHECK_RC(ctx, spex_llm_score_ablated_batch(m, NV, seqs, lens, from, which, multi2));
    spex_ctx_set_threads(ctx, 1);
    double moved = 0;
    for (int k = 0; k < NV; k++) {
        CHECK(multi[k] == one[k]);
        CHECK(multi2[k] == one[k]);
        moved = fmax(moved, fabs(one[k] - one[4]));
    }
    CHECK(moved > 1e-3); /* the ablations matter, or the comparison proves little */
    /* an ablation set by spex_llm_set_ablation applies to a prompt batch */
    double set1[NV], setm[NV];
    CHECK_RC(ctx, spex_llm_set_ablation(m, &ab[1]));
    m->multi_seq = 0;
    CHECK_RC(ctx, spex_llm_score_tokens_batch(m, NV, SEQS(v), v->len, v->from, 1, set1));
    m->multi_seq = 1;
    CHECK_RC(ctx, spex_llm_score_tokens_batch(m, NV, SEQS(v), v->len, v->from, 1, setm));
    CHECK_RC(ctx, spex_llm_set_ablation(m, NULL));
    for (int k = 0; k < NV; k++)
        CHECK(setm[k] == set1[k]);
    /* a non-finite replacement value is refused before any pass */
    float keep = hm[3];
    hm[3] = NAN;
    CHECK(spex_llm_score_ablated_batch(m, NV, seqs, lens, from, which, multi) == SPEX_E_VALUE);
    hm[3] = keep;
    free(hm);
    free(mm);
    free(heads);
    free(mlps);
}

static void run(int reference, int float_acts) {
    spex_ctx *ctx = spex_ctx_new();
    spex_llm_opts o = spex_llm_opts_default();
    o.reference = reference;
    o.float_acts = float_acts;
    spex_llm *m;
    CHECK_RC(ctx, spex_llm_load(ctx, MODEL, &o, &m));
    variants v;
    make_variants(ctx, m, &v);
    check_prompt_batches(ctx, m, &v);
    check_ablated_batches(ctx, m, &v);
    printf("%s kernels%s: %d variants, %lld multi-sequence passes, all bit-identical to one at a "
           "time\n",
           reference ? "reference" : "fast",
           reference    ? ""
           : float_acts ? " (float)"
                        : " (int8)",
           NV, (long long)m->n_batch_passes);
    free_variants(&v);
    spex_llm_free(m);
    spex_ctx_free(ctx);
}

static void test_fast(void **state) {
    (void)state;
    run(0, 0);
}
static void test_fast_float(void **state) {
    (void)state;
    run(0, 1);
}
static void test_reference(void **state) {
    (void)state;
    run(1, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast),
        cmocka_unit_test(test_fast_float),
        cmocka_unit_test(test_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
