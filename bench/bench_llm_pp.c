/*
 * bench_llm_pp: prompt-processing speed of the GGUF engine (src/llm) at given
 * prompt lengths and thread count, measured the way llama.cpp's llama-bench
 * measures "pp" (all N tokens of a prompt in one pass, logits of the last
 * position only, one warm-up pass, then REPS timed passes; tokens/s is the
 * mean over passes of N / seconds; the per-pass figures are printed too, as
 * llama-bench's samples_ts). Used by bench/run_llm_compare.sh, which
 * interleaves it with llama-bench. Run from the repository root:
 *
 *     build/bench_llm_pp MODEL.gguf THREADS N1[,N2,...] [REPS]
 *
 * The prompt is real text (a sentiment review, repeated), BOS first. Prints
 * one line per length: "pp N threads T tokens/s MEAN stddev SD samples S1 S2 ...".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spex/llm.h"

static const char *TEXT =
    "Review: the food was not good and the staff seemed really friendly but the movie is "
    "hardly boring although the service was never slow and the room looked very clean but the "
    "music felt quite loud and the price is not fair although the view was really perfect and "
    "the drinks are so cold but the bed was never comfortable . Sentiment: positive";

static int die(spex_ctx *ctx, const char *what) {
    fprintf(stderr, "bench_llm_pp: %s: %s\n", what, spex_errmsg(ctx));
    exit(1);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_llm_pp MODEL.gguf THREADS N1[,N2,...] [REPS]\n");
        return 2;
    }
    const char *path = argv[1];
    int threads = atoi(argv[2]);
    int reps = argc > 4 ? atoi(argv[4]) : 5;
    if (threads < 1 || reps < 1) {
        fprintf(stderr, "bench_llm_pp: THREADS and REPS must be positive\n");
        return 2;
    }
    spex_ctx *ctx = spex_ctx_new();
    spex_llm *m;
    if (spex_llm_load(ctx, path, NULL, &m)) die(ctx, "load");
    spex_ctx_set_threads(ctx, threads);

    /* a long token stream: BOS + the text repeated */
    int32_t *all = NULL;
    int64_t n_all = 0;
    {
        size_t tl = strlen(TEXT), cap = 64 * (tl + 1) + 1, o = 0;
        char *big = malloc(cap);
        for (int i = 0; i < 64; i++) {
            memcpy(big + o, TEXT, tl);
            o += tl;
            big[o++] = ' ';
        }
        big[o] = 0;
        if (spex_llm_tokenize(m, big, o, 1, &all, &n_all)) die(ctx, "tokenize");
        free(big);
    }

    for (char *s = argv[3]; *s;) {
        char *end;
        long long n = strtoll(s, &end, 10);
        if (end == s || n < 1 || n + 1 > n_all) {
            fprintf(stderr, "bench_llm_pp: bad length list '%s'\n", argv[3]);
            return 2;
        }
        s = *end == ',' ? end + 1 : end;
        /* N tokens processed; the (N+1)-th is scored from the last logits */
        const int32_t *seq = all;
        int64_t len = n + 1, from = n;
        double out, sum = 0, sum2 = 0, *samples = malloc((size_t)reps * sizeof *samples);
        if (spex_llm_score_tokens_batch(m, 1, &seq, &len, &from, 0, &out)) die(ctx, "warm-up");
        for (int r = 0; r < reps; r++) {
            double t0 = spex_now();
            if (spex_llm_score_tokens_batch(m, 1, &seq, &len, &from, 0, &out)) die(ctx, "pass");
            double ts = (double)n / (spex_now() - t0);
            samples[r] = ts;
            sum += ts;
            sum2 += ts * ts;
        }
        double mean = sum / reps, var = reps > 1 ? (sum2 - sum * mean) / (reps - 1) : 0;
        printf("pp %lld threads %d tokens/s %.1f stddev %.1f samples", n, threads, mean,
               sqrt(var > 0 ? var : 0));
        for (int r = 0; r < reps; r++) printf(" %.1f", samples[r]);
        printf("\n");
        free(samples);
        fflush(stdout);
    }
    spex_free(ctx, all);
    spex_llm_free(m);
    spex_ctx_free(ctx);
    return 0;
}
