/*
 * How fast does the data-attribution lens re-train? Digits (../shared/data/
 * digits.csv), the first N training images (default 256), one test image
 * (row 1500); a batch of uniformly random masks is re-trained by each learner
 * at 1 and 2 threads, answers checked identical before timing, and the best
 * of 2 interleaved repetitions reported: seconds per re-training and masks
 * per second.
 *
 *     build/bench_data [digits.csv] [N] [masks]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spex/data.h"
#include "spex/explain.h"
#include "spex/masks.h"
#include "spex/rng.h"

static int run(spex_ctx *ctx, spex_valuefn *vf, const spex_masks *b, int threads, double *out,
               double *secs) {
    spex_ctx_set_threads(ctx, threads);
    double t0 = spex_now();
    int rc = vf->eval(vf->user, b, out);
    *secs = spex_now() - t0;
    return rc;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "../shared/data/digits.csv";
    int64_t N = argc > 2 ? strtoll(argv[2], NULL, 10) : 256;
    int64_t M = argc > 3 ? strtoll(argv[3], NULL, 10) : 64;
    spex_ctx *ctx = spex_ctx_new();
    spex_csv_opts co = spex_csv_opts_default();
    co.label = "label";
    spex_dataset *all = NULL;
    if (!ctx || spex_data_read_csv(ctx, path, &co, NULL, &all)) {
        fprintf(stderr, "bench_data: %s\n", ctx ? spex_errmsg(ctx) : "out of memory");
        return 1;
    }
    if (N < 2 || N > 1500 || M < 1 || M > 100000) {
        fprintf(stderr, "bench_data: need 2 <= N <= 1500 and 1 <= masks\n");
        return 1;
    }
    /* plain-data views: the first N rows, and row 1500 (not freed) */
    spex_dataset train = *all, test = *all;
    train.n_rows = N;
    test.n_rows = 1;
    test.x = all->x + 1500 * all->n_features;
    test.y = all->y + 1500;
    spex_masks *b = NULL;
    double *o1 = malloc((size_t)M * sizeof *o1), *o2 = malloc((size_t)M * sizeof *o2);
    if (!o1 || !o2 || spex_masks_new(ctx, N, M, &b)) return 1;
    spex_rng rng;
    spex_rng_seed(&rng, 7);
    for (int64_t i = 0; i < M; i++) {
        uint64_t *row;
        if (spex_masks_append_zero(b, &row)) return 1;
        for (int64_t j = 0; j < N; j++)
            if (spex_rng_u64(&rng) >> 63) row[j >> 6] |= 1ull << (j & 63);
    }
    printf("digits: %lld training images, %lld features each, test row 1500 (label %s), "
           "%lld random masks (half the rows kept on average)\n",
           (long long)N, (long long)all->n_features, all->class_names[test.y[0]], (long long)M);
    printf("%-9s %14s %12s %12s %8s\n", "learner", "s/retrain(1t)", "masks/s 1t", "masks/s 2t",
           "speedup");
    for (int L = 0; L < 2; L++) {
        spex_data_attr_opts ao = spex_data_attr_opts_default();
        ao.learn.learner = L ? SPEX_LEARNER_XGBOOST : SPEX_LEARNER_LOGISTIC;
        spex_valuefn vf;
        if (spex_data_attr_open(ctx, &train, &test, 0, &ao, &vf)) {
            fprintf(stderr, "bench_data: %s\n", spex_errmsg(ctx));
            return 1;
        }
        double t1 = INFINITY, t2 = INFINITY, s;
        for (int rep = 0; rep < 2; rep++) {
            if (run(ctx, &vf, b, 1, o1, &s)) goto fail;
            t1 = s < t1 ? s : t1;
            if (run(ctx, &vf, b, 2, o2, &s)) goto fail;
            t2 = s < t2 ? s : t2;
            if (memcmp(o1, o2, (size_t)M * sizeof *o1)) {
                fprintf(stderr, "bench_data: answers differ between 1 and 2 threads\n");
                return 1;
            }
        }
        printf("%-9s %14.5f %12.1f %12.1f %8.2f\n", L ? "xgboost" : "logistic", t1 / (double)M,
               (double)M / t1, (double)M / t2, t1 / t2);
        spex_valuefn_release(&vf);
        continue;
    fail:
        fprintf(stderr, "bench_data: %s\n", spex_errmsg(ctx));
        return 1;
    }
    /* Faithfulness per method and budget: R² of each surrogate on 300
     * held-out uniformly random masks, re-trained for real (logistic, the
     * first 64 training images, 2 threads). */
    {
        const int64_t n = 64, H = 300;
        spex_dataset small = train;
        small.n_rows = n;
        spex_data_attr_opts ao = spex_data_attr_opts_default();
        spex_valuefn vf;
        spex_masks *h = NULL;
        double *yh = malloc((size_t)H * sizeof *yh);
        if (!yh || spex_data_attr_open(ctx, &small, &test, 0, &ao, &vf) ||
            spex_masks_new(ctx, n, H, &h))
            goto fail2;
        spex_rng_seed_stream(&rng, 7, 0xe7a1);
        for (int64_t i = 0; i < H; i++) {
            uint64_t *row;
            if (spex_masks_append_zero(h, &row)) goto fail2;
            spex_rng_bits(&rng, row, spex_masks_words(h), n);
        }
        spex_ctx_set_threads(ctx, 2);
        if (vf.eval(vf.user, h, yh)) goto fail2;
        double mean = 0, ss_tot = 0;
        for (int64_t i = 0; i < H; i++) mean += yh[i] / (double)H;
        for (int64_t i = 0; i < H; i++) ss_tot += (yh[i] - mean) * (yh[i] - mean);
        printf("\nfaithfulness, logistic, %lld training images, R^2 on %lld held-out re-trainings:\n",
               (long long)n, (long long)H);
        printf("%-11s %7s %8s %9s %8s\n", "method", "budget", "queries", "R^2", "solve s");
        static const char *const methods[] = {"spex", "proxyspex", "lasso", "kernelshap"};
        static const int64_t budgets[] = {500, 2000};
        for (int mi = 0; mi < 4; mi++)
            for (int bi = 0; bi < 2; bi++) {
                spex_explain_opts eo = spex_explain_opts_default();
                if (spex_method_parse(ctx, methods[mi], &eo.method)) goto fail2;
                eo.budget = budgets[bi];
                eo.max_order = 2;
                spex_result *res = NULL;
                if (spex_explain(ctx, &vf, &eo, &res)) {
                    printf("%-11s %7lld %8s %9s %8s  (%s)\n", methods[mi], (long long)eo.budget,
                           "-", "-", "-", spex_errmsg(ctx));
                    continue;
                }
                double ss_res = 0;
                for (int64_t i = 0; i < H; i++) {
                    double d = yh[i] - spex_coefs_eval_fourier(res->fourier, spex_masks_crow(h, i));
                    ss_res += d * d;
                }
                printf("%-11s %7lld %8lld %9.4f %8.2f\n", methods[mi], (long long)eo.budget,
                       (long long)res->queries, 1.0 - ss_res / ss_tot, res->seconds_solve);
                spex_result_free(res);
            }
        spex_valuefn_release(&vf);
        spex_masks_free(h);
        free(yh);
    }
    spex_masks_free(b);
    free(o1);
    free(o2);
    spex_dataset_free(all);
    spex_ctx_free(ctx);
    return 0;
fail2:
    fprintf(stderr, "bench_data: %s\n", spex_errmsg(ctx));
    return 1;
}
