/*
 * The two LLM lenses end to end (issue 6, item 7): for the prompt lens (word
 * features) and the mechanistic lens (attention heads and MLP blocks) of
 * synth-interact-llama, each method at each budget: queries, model seconds
 * (inside the value function), solve seconds (everything else) and the
 * faithfulness R² of its surrogate on held-out uniformly random masks scored
 * by the model. Methods run with --max-order 2 (spex and proxyspex find
 * higher orders themselves; lasso and Faith-Banzhaf regression take all
 * subsets up to order 2).
 *
 *     build/bench_lens [MODEL] [held-out masks, default 300] [threads, default 2]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spex/explain.h"
#include "spex/heads.h"
#include "spex/masks.h"
#include "spex/rng.h"

typedef struct lens {
    const char *name;
    spex_valuefn vf;
} lens;

/* Held-out masks and their values, then every method and budget. */
static int bench(spex_ctx *ctx, const lens *L, int64_t H) {
    int64_t n = L->vf.n;
    spex_masks *h = NULL;
    double *yh = malloc((size_t)H * sizeof *yh);
    spex_rng rng;
    spex_rng_seed_stream(&rng, 11, 0x1e45);
    if (!yh || spex_masks_new(ctx, n, H, &h)) return 1;
    for (int64_t i = 0; i < H; i++) {
        uint64_t *row;
        if (spex_masks_append_zero(h, &row)) return 1;
        spex_rng_bits(&rng, row, spex_masks_words(h), n);
    }
    double t0 = spex_now();
    if (L->vf.eval(L->vf.user, h, yh)) return 1;
    double per_mask = (spex_now() - t0) / (double)H;
    double mean = 0, ss_tot = 0;
    for (int64_t i = 0; i < H; i++) mean += yh[i] / (double)H;
    for (int64_t i = 0; i < H; i++) ss_tot += (yh[i] - mean) * (yh[i] - mean);
    printf("\n%s: n = %lld features, %.2f ms per query, R² on %lld held-out masks "
           "(value variance %.3f)\n\n",
           L->name, (long long)n, 1e3 * per_mask, (long long)H, ss_tot / (double)H);
    printf("| method | budget | queries | R² | model s | solve s |\n|---|---:|---:|---:|---:|---:|\n");
    static const char *const methods[] = {"proxyspex", "spex", "lasso", "kernelshap"};
    static const int64_t budgets[] = {250, 500, 1000, 2000};
    for (int mi = 0; mi < 4; mi++)
        for (int bi = 0; bi < 4; bi++) {
            spex_explain_opts eo = spex_explain_opts_default();
            if (spex_method_parse(ctx, methods[mi], &eo.method)) return 1;
            eo.budget = budgets[bi];
            eo.max_order = 2;
            spex_result *res = NULL;
            if (spex_explain(ctx, &L->vf, &eo, &res)) {
                printf("| %s | %lld | - | - | - | - |  (%s)\n", methods[mi],
                       (long long)eo.budget, spex_errmsg(ctx));
                continue;
            }
            double ss_res = 0;
            for (int64_t i = 0; i < H; i++) {
                double d = yh[i] - spex_coefs_eval_fourier(res->fourier, spex_masks_crow(h, i));
                ss_res += d * d;
            }
            printf("| %s | %lld | %lld | %.4f | %.2f | %.2f |\n", methods[mi],
                   (long long)eo.budget, (long long)res->queries, 1.0 - ss_res / ss_tot,
                   res->seconds_queries, res->seconds_solve);
            fflush(stdout);
            spex_result_free(res);
        }
    spex_masks_free(h);
    free(yh);
    return 0;
}

int main(int argc, char **argv) {
    const char *model = argc > 1 ? argv[1] : "../shared/models/synth-interact-llama-F32.gguf";
    int64_t H = argc > 2 ? strtoll(argv[2], NULL, 10) : 300;
    int threads = argc > 3 ? atoi(argv[3]) : 2;
    spex_ctx *ctx = spex_ctx_new();
    spex_llm *m = NULL;
    spex_prompt *words = NULL, *full = NULL;
    spex_heads *heads = NULL;
    if (!ctx) return 1;
    spex_ctx_set_threads(ctx, threads);
    spex_prompt_opts po = spex_prompt_opts_default();
    po.prefix = "Review:";
    po.suffix = "Sentiment:";
    po.target = " negative";
    po.contrast = " positive";
    /* 17 words, three clauses: a negation, a "but" that hands the decision
     * to the later clause, and an "and" of the same polarity */
    const char *review =
        "the food was not very good but the service was really slow and the room was dirty .";
    spex_heads_opts ho = spex_heads_opts_default();
    ho.mlps = 1;
    lens L[2] = {{"prompt lens, word units", {0}}, {"mechanistic lens, 16 heads + 4 MLP blocks",
                                                     {0}}};
    if (spex_llm_load(ctx, model, NULL, &m) || spex_prompt_new(ctx, m, review, &po, &words) ||
        spex_prompt_valuefn(words, &L[0].vf) || spex_prompt_new(ctx, m, review, &po, &full) ||
        spex_heads_new(ctx, m, full, &ho, &heads) || spex_heads_valuefn(heads, &L[1].vf)) {
        fprintf(stderr, "bench_lens: %s\n", spex_errmsg(ctx));
        return 1;
    }
    printf("model %s, prompt \"Review: %s Sentiment:\", value log p(\" negative\") - "
           "log p(\" positive\"), %d threads\n", model, review, threads);
    for (int i = 0; i < 2; i++)
        if (bench(ctx, &L[i], H)) {
            fprintf(stderr, "bench_lens: %s\n", spex_errmsg(ctx));
            return 1;
        }
    spex_heads_free(heads);
    spex_prompt_free(words);
    spex_prompt_free(full);
    spex_llm_free(m);
    spex_ctx_free(ctx);
    return 0;
}
