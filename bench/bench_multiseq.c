/*
 * bench_multiseq: several ablated prompts per forward pass (spexi_run_batch)
 * against one prompt per pass, on the two batch workloads of the lenses,
 * alternated in one run so that load moves both alike:
 *
 *   prompt  N masked variants of a 30-word prompt (each word kept with
 *           p = 0.5, mask 0 keeps all), continuation " yes", scored in one
 *           spex_llm_score_tokens_batch call with prefix reuse (the prompt
 *           lens's call)
 *   heads   one 12-word prompt under N random head ablations (each head
 *           zeroed with p = 0.5), spex_llm_score_ablated_batch (the heads
 *           lens's call)
 *
 * Outputs of the two modes are checked to be bit-identical before any
 * figure is printed. Run from the repository root:
 *
 *     build/bench_multiseq MODEL.gguf [THREADS] [N] [ROUNDS]
 *
 * defaults: 1 thread, N = 64, 3 rounds; prints prompts/s per mode (median
 * of the rounds) and their ratio.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/model_int.h"
#include "spex/rng.h"

static const char *WORDS[30] = {"the", "food",    "was",    "not",    "good",     "and",
                                "the", "staff",   "seemed", "really", "friendly", "but",
                                "the", "movie",   "is",     "hardly", "boring",   "although",
                                "the", "service", "was",    "never",  "slow",     "and",
                                "the", "room",    "looked", "very",   "clean",    "."};

static void die(spex_ctx *ctx, const char *what) {
    fprintf(stderr, "bench_multiseq: %s: %s\n", what, spex_errmsg(ctx));
    exit(1);
}

/* prompt tokens of text, then those of text + cont; *from: the prompt's */
static int32_t *tokens(spex_ctx *ctx, spex_llm *m, const char *text, const char *cont, int64_t *len,
                       int64_t *from) {
    char joint[4096];
    snprintf(joint, sizeof joint, "%s%s", text, cont);
    int32_t *p, *j;
    if (spex_llm_tokenize(m, text, strlen(text), 1, &p, from) ||
        spex_llm_tokenize(m, joint, strlen(joint), 1, &j, len))
        die(ctx, "tokenize");
    spex_free(ctx, p);
    return j;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_multiseq MODEL.gguf [THREADS] [N] [ROUNDS]\n");
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    int64_t n = argc > 3 ? atoll(argv[3]) : 64;
    int rounds = argc > 4 ? atoi(argv[4]) : 3;
    if (threads < 1 || n < 1 || rounds < 1) {
        fprintf(stderr, "bench_multiseq: THREADS, N and ROUNDS must be positive\n");
        return 2;
    }
    spex_ctx *ctx = spex_ctx_new();
    spex_ctx_set_threads(ctx, threads);
    spex_llm *m;
    if (spex_llm_load(ctx, argv[1], NULL, &m)) die(ctx, "load");
    spex_llm_info I;
    spex_llm_get_info(m, &I);
    spex_rng r;
    spex_rng_seed(&r, 5);
    /* the prompt workload */
    int32_t **seq = calloc((size_t)n, sizeof *seq);
    int64_t *len = calloc((size_t)n, sizeof *len), *from = calloc((size_t)n, sizeof *from);
    double mean_len = 0;
    for (int64_t i = 0; i < n; i++) {
        char text[1024];
        size_t o = (size_t)snprintf(text, sizeof text, "Review:");
        for (int w = 0; w < 30; w++)
            if (i == 0 || spex_rng_uniform(&r) < 0.5)
                o += (size_t)snprintf(text + o, sizeof text - o, " %s", WORDS[w]);
        snprintf(text + o, sizeof text - o, " Is it good? Answer:");
        seq[i] = tokens(ctx, m, text, " yes", &len[i], &from[i]);
        mean_len += (double)len[i] / (double)n;
    }
    /* the heads workload: one prompt, n ablations */
    int64_t hl, hf, LH = I.n_layers * I.n_heads;
    int32_t *hs = tokens(ctx, m, "Review: the food was not good and the staff seemed friendly .",
                         " Answer: yes", &hl, &hf);
    uint8_t *flags = calloc((size_t)(n * LH), 1);
    spex_llm_ablation *ab = calloc((size_t)n, sizeof *ab);
    const spex_llm_ablation **which = calloc((size_t)n, sizeof *which);
    const int32_t **hseq = calloc((size_t)n, sizeof *hseq);
    int64_t *hlen = calloc((size_t)n, sizeof *hlen), *hfrom = calloc((size_t)n, sizeof *hfrom);
    for (int64_t i = 0; i < n; i++) {
        for (int64_t k = 0; k < LH; k++)
            flags[i * LH + k] = spex_rng_uniform(&r) < 0.5;
        ab[i] = (spex_llm_ablation){flags + i * LH, NULL, NULL, NULL};
        which[i] = &ab[i];
        hseq[i] = hs;
        hlen[i] = hl;
        hfrom[i] = hf;
    }
    printf("model %s: dim %lld, %lld layers, %lld heads; %d thread%s, N = %lld, %d rounds\n",
           argv[1], (long long)I.dim, (long long)I.n_layers, (long long)I.n_heads, threads,
           threads > 1 ? "s" : "", (long long)n, rounds);
    printf("prompt workload: mean %.1f tokens per variant (full %lld); heads workload: %lld "
           "tokens, %lld heads\n",
           mean_len, (long long)len[0], (long long)hl, (long long)LH);
    double *out[2][2], *t[2][2];
    for (int w = 0; w < 2; w++)
        for (int k = 0; k < 2; k++) {
            out[w][k] = calloc((size_t)n, sizeof(double));
            t[w][k] = calloc((size_t)rounds, sizeof(double));
        }
    int64_t passes = 0;
    for (int round = 0; round < rounds; round++)
        for (int k0 = 0; k0 < 2; k0++) {
            int k = (k0 + round) % 2; /* alternate which mode goes first */
            m->multi_seq = k;
            int64_t p0 = m->n_batch_passes;
            double s = spex_now();
            if (spex_llm_score_tokens_batch(m, n, (const int32_t *const *)seq, len, from, 1,
                                            out[0][k]))
                die(ctx, "prompt batch");
            t[0][k][round] = spex_now() - s;
            s = spex_now();
            if (spex_llm_score_ablated_batch(m, n, hseq, hlen, hfrom, which, out[1][k]))
                die(ctx, "heads batch");
            t[1][k][round] = spex_now() - s;
            if (k) passes = m->n_batch_passes - p0;
        }
    for (int w = 0; w < 2; w++)
        for (int64_t i = 0; i < n; i++)
            if (out[w][0][i] != out[w][1][i]) {
                fprintf(stderr, "bench_multiseq: %s variant %lld differs: %.17g vs %.17g\n",
                        w ? "heads" : "prompt", (long long)i, out[w][0][i], out[w][1][i]);
                return 1;
            }
    static const char *names[2] = {"prompt lens", "heads lens"};
    printf("| workload | one per pass (prompts/s) | several per pass (prompts/s) | ratio |\n");
    printf("|---|---:|---:|---:|\n");
    for (int w = 0; w < 2; w++) {
        qsort(t[w][0], (size_t)rounds, sizeof(double), cmp_double);
        qsort(t[w][1], (size_t)rounds, sizeof(double), cmp_double);
        double a = (double)n / t[w][0][rounds / 2], b = (double)n / t[w][1][rounds / 2];
        printf("| %s | %.2f | %.2f | %.2fx |\n", names[w], a, b, b / a);
    }
    printf("outputs bit-identical between the modes; %lld multi-sequence passes in the last "
           "round\n",
           (long long)passes);
    for (int64_t i = 0; i < n; i++)
        spex_free(ctx, seq[i]);
    spex_free(ctx, hs);
    free(seq);
    free(len);
    free(from);
    free(flags);
    free(ab);
    free(which);
    free(hseq);
    free(hlen);
    free(hfrom);
    for (int w = 0; w < 2; w++)
        for (int k = 0; k < 2; k++) {
            free(out[w][k]);
            free(t[w][k]);
        }
    spex_llm_free(m);
    spex_ctx_free(ctx);
    return 0;
}
