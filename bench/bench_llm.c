/*
 * bench_llm: speed of the GGUF engine (src/llm) on the questions that matter
 * for the LLM lens: prompt processing (tokens/s, all tokens of a prompt at
 * once) and the ablation workload (N masked variants of one 60-word prompt,
 * scored for one continuation), fast kernels vs the reference kernels, 1 and
 * 2 threads, with and without KV prefix reuse (the batch visits variants in
 * token order, so neighbours share the longest prefixes). Outputs are checked to agree
 * before any figure is printed. Run from the repository root:
 *
 *     build/bench_llm [MODEL.gguf] [N_VARIANTS]
 *
 * defaults: ../shared/models/synth-interact-llama-F32.gguf, 1000.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "spex/llm.h"
#include "spex/rng.h"

static const char *WORDS[] = {
    "the", "food", "was", "not", "good", "and", "the", "staff", "seemed", "really", "friendly",
    "but", "the", "movie", "is", "hardly", "boring", "although", "the", "service", "was", "never",
    "slow", "and", "the", "room", "looked", "very", "clean", "but", "the", "music", "felt",
    "quite", "loud", "and", "the", "price", "is", "not", "fair", "although", "the", "view", "was",
    "really", "perfect", "and", "the", "drinks", "are", "so", "cold", "but", "the", "bed", "was",
    "never", "comfortable", "."};
#define N_WORDS ((int)(sizeof WORDS / sizeof WORDS[0]))

typedef struct variants {
    int64_t n;
    int32_t **seq;
    int64_t *len, *from;
} variants;

static int die(spex_ctx *ctx, const char *what) {
    fprintf(stderr, "bench_llm: %s: %s\n", what, spex_errmsg(ctx));
    exit(1);
}

/* Tokenizes "Review: <kept words> Sentiment:" + " positive" for each mask
 * (each word kept with probability keep; mask 0 keeps all). */
static void make_variants(spex_ctx *ctx, spex_llm *m, int64_t n, uint64_t seed, double keep,
                          variants *v) {
    spex_rng r;
    spex_rng_seed(&r, seed);
    v->n = n;
    v->seq = calloc((size_t)n, sizeof *v->seq);
    v->len = calloc((size_t)n, sizeof *v->len);
    v->from = calloc((size_t)n, sizeof *v->from);
    char text[2048];
    for (int64_t i = 0; i < n; i++) {
        size_t o = (size_t)snprintf(text, sizeof text, "Review:");
        for (int w = 0; w < N_WORDS; w++)
            if (i == 0 || spex_rng_uniform(&r) < keep)
                o += (size_t)snprintf(text + o, sizeof text - o, " %s", WORDS[w]);
        snprintf(text + o, sizeof text - o, " Sentiment:");
        spex_llm_score_result res;
        /* the score call tokenizes by the convention; its result gives the
         * token sequence to batch */
        if (spex_llm_score(m, text, " positive", &res)) die(ctx, "score");
        v->len[i] = res.n_prompt + res.n_continuation;
        v->from[i] = res.n_prompt;
        v->seq[i] = malloc((size_t)v->len[i] * sizeof(int32_t));
        memcpy(v->seq[i], res.prompt_tokens, (size_t)res.n_prompt * sizeof(int32_t));
        memcpy(v->seq[i] + res.n_prompt, res.continuation_tokens,
               (size_t)res.n_continuation * sizeof(int32_t));
        spex_llm_score_result_clear(m, &res);
    }
}

/* Seconds to score variants [0, n) as one batch. */
static double run(spex_ctx *ctx, spex_llm *m, const variants *v, int64_t n, int reuse,
                  double *out) {
    const int32_t **seq = malloc((size_t)n * sizeof *seq);
    int64_t *len = malloc((size_t)n * sizeof *len), *from = malloc((size_t)n * sizeof *from);
    for (int64_t i = 0; i < n; i++) {
        int64_t k = i;
        seq[i] = v->seq[k];
        len[i] = v->len[k];
        from[i] = v->from[k];
    }
    double *tmp = malloc((size_t)n * sizeof *tmp);
    double t0 = spex_now();
    if (spex_llm_score_tokens_batch(m, n, seq, len, from, reuse, tmp)) die(ctx, "batch");
    double t = spex_now() - t0;
    for (int64_t i = 0; i < n; i++) out[i] = tmp[i];
    free(tmp);
    free(seq);
    free(len);
    free(from);
    return t;
}

static void check_same(const char *what, const double *a, const double *b, int64_t n, double tol) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(a[i] - b[i]) > worst) worst = fabs(a[i] - b[i]);
    if (!(worst <= tol)) {
        fprintf(stderr, "bench_llm: %s: outputs differ by %g (tolerance %g)\n", what, worst, tol);
        exit(1);
    }
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "../shared/models/synth-interact-llama-F32.gguf";
    int64_t n_var = argc > 2 ? strtoll(argv[2], NULL, 10) : 1000;
    if (n_var < 10) n_var = 10;
    spex_ctx *ctx = spex_ctx_new();
    spex_llm *m;
    if (spex_llm_load(ctx, path, NULL, &m)) die(ctx, "load");
    spex_llm_info I;
    spex_llm_get_info(m, &I);
    printf("model %s: dim %lld, %lld layers, vocab %lld\n", path, (long long)I.dim,
           (long long)I.n_layers, (long long)I.n_vocab);
    variants v;
    make_variants(ctx, m, n_var, 7, 0.5, &v);

    /* 1. prompt processing: the full prompt, no reuse, R repeats */
    int64_t R = 20, n_ref = 40 < n_var ? 40 : n_var;
    variants rep = {R, calloc((size_t)R, sizeof(int32_t *)), calloc((size_t)R, sizeof(int64_t)),
                    calloc((size_t)R, sizeof(int64_t))}; /* R copies of the full prompt */
    for (int64_t i = 0; i < R; i++) {
        rep.seq[i] = v.seq[0];
        rep.len[i] = v.len[0];
        rep.from[i] = v.len[0] - 1; /* logits of the last position only */
    }
    double *o1 = malloc((size_t)(n_var > R ? n_var : R) * sizeof(double));
    double *o2 = malloc((size_t)(n_var > R ? n_var : R) * sizeof(double));
    double *o3 = malloc((size_t)(n_var > R ? n_var : R) * sizeof(double));
    spex_llm_set_reference(m, 1);
    double t_ref = run(ctx, m, &rep, 4, 0, o1) / 4 * (double)R;
    spex_llm_set_reference(m, 0);
    spex_ctx_set_threads(ctx, 1);
    double t_f1 = run(ctx, m, &rep, R, 0, o2);
    spex_ctx_set_threads(ctx, 2);
    double t_f2 = run(ctx, m, &rep, R, 0, o3);
    check_same("prompt fast vs reference", o1, o2, 4, 1e-4);
    check_same("prompt 1 vs 2 threads", o2, o3, R, 0);
    double toks = (double)(v.len[0] - 1) * (double)R;
    printf("\nprompt processing (%lld tokens, logits of the last):\n", (long long)(v.len[0] - 1));
    printf("  reference          %10.0f tokens/s\n", toks / t_ref);
    printf("  fast, 1 thread     %10.0f tokens/s  (%.1fx reference)\n", toks / t_f1, t_ref / t_f1);
    printf("  fast, 2 threads    %10.0f tokens/s  (%.1fx reference)\n", toks / t_f2, t_ref / t_f2);

    /* 2. ablation workload, uniform random masks (keep 0.5, as SPEX and
     * ProxySPEX sample) and sparse ablations (keep 0.9 and 0.95: where
     * prefix reuse can save most, bench/prefix_ceiling.py) */
    static const double keeps[] = {0.5, 0.9, 0.95};
    for (int pass = 0; pass < 3; pass++) {
    double keep = keeps[pass];
    if (pass) {
        for (int64_t i = 0; i < n_var; i++) free(v.seq[i]);
        free(v.seq);
        free(v.len);
        free(v.from);
        make_variants(ctx, m, n_var, 7, keep, &v);
    }
    double mean_len = 0;
    for (int64_t i = 0; i < n_var; i++) mean_len += (double)v.len[i] / (double)n_var;
    printf("\nablation workload: %lld masked variants of a %d-word prompt, each word kept with "
           "p = %.2f (tokens: full %lld, mean %.1f), continuation ' positive'\n",
           (long long)n_var, N_WORDS, keep, (long long)v.len[0], mean_len);
    spex_llm_set_reference(m, 1);
    spex_ctx_set_threads(ctx, 1);
    double tr = run(ctx, m, &v, n_ref, 0, o1);
    spex_llm_set_reference(m, 0);
    printf("prompts/s (reference timed on the first %lld):\n", (long long)n_ref);
    printf("  reference, no reuse            %8.1f\n", (double)n_ref / tr);
    for (int th = 1; th <= 2; th++) {
        spex_ctx_set_threads(ctx, th);
        double tn = run(ctx, m, &v, n_var, 0, o2);
        double tu = run(ctx, m, &v, n_var, 1, o3);
        check_same("ablation fast vs reference", o1, o2, n_ref, 1e-4);
        check_same("ablation reuse vs none", o2, o3, n_var, 0);
        printf("  fast, %d thread%s, no reuse      %8.1f\n", th, th > 1 ? "s" : " ",
               (double)n_var / tn);
        printf("  fast, %d thread%s, prefix reuse  %8.1f  (%.2fx no reuse)\n", th,
               th > 1 ? "s" : " ", (double)n_var / tu, tn / tu);
    }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("\npeak memory (max RSS) %.1f MiB; outputs verified equal (fast vs reference within "
           "1e-4, threads and reuse bit-identical)\n",
           (double)ru.ru_maxrss / 1024.0);
    for (int64_t i = 0; i < n_var; i++) free(v.seq[i]);
    free(v.seq);
    free(v.len);
    free(v.from);
    free(rep.seq);
    free(rep.len);
    free(rep.from);
    free(o1);
    free(o2);
    free(o3);
    spex_llm_free(m);
    spex_ctx_free(ctx);
    return 0;
}
