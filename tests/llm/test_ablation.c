/* Component ablation (spex_llm_set_ablation) and the mechanistic lens
 * (spex/heads.h) against independent ground truth: zeroing head h of layer l
 * must equal a copy of the model file whose output matrix has that head's
 * columns zeroed, and ablating an MLP block must equal a copy whose
 * ffn_down matrix is zero (patched bytes, loaded without any ablation);
 * mean ablation on a one-token prompt, with the means taken over that same
 * token, must change nothing. Also: the KV cache is dropped when the
 * ablation changes, and results do not depend on the thread count. */
#include "test_util.h"

#include "spex/heads.h"
#include "spex/rng.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MODEL "../shared/models/synth-interact-llama-F32.gguf"

/* Reads the whole file into a malloc'ed buffer. */
static uint8_t *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_true(fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

/* Writes a copy of MODEL where head `head` of layer `hl` has its columns of
 * attn_output zeroed (head >= 0) and layer `ml`'s ffn_down is zero (ml >= 0);
 * returns the temporary path (malloc'ed). */
static char *patched_model(spex_ctx *ctx, int64_t hl, int64_t head, int64_t ml) {
    size_t size;
    uint8_t *buf = read_all(MODEL, &size);
    spex_gguf *g;
    CHECK_RC(ctx, spex_gguf_open_buffer(ctx, buf, size, "copy", &g));
    char name[64];
    spex_tensor_info t;
    if (head >= 0) {
        snprintf(name, sizeof name, "blk.%lld.attn_output.weight", (long long)hl);
        spex_gguf_tensor(g, spex_gguf_find_tensor(g, name), &t);
        CHECK(t.type == SPEX_TENSOR_F32);
        int64_t n_in = t.ne[0], n_out = t.ne[1], hd = n_in / 4; /* 4 query heads */
        float *w = (float *)(buf + ((const uint8_t *)t.data - buf));
        for (int64_t r = 0; r < n_out; r++)
            for (int64_t i = head * hd; i < (head + 1) * hd; i++)
                w[r * n_in + i] = 0;
    }
    if (ml >= 0) {
        snprintf(name, sizeof name, "blk.%lld.ffn_down.weight", (long long)ml);
        spex_gguf_tensor(g, spex_gguf_find_tensor(g, name), &t);
        memset(buf + ((const uint8_t *)t.data - buf), 0, t.size);
    }
    spex_gguf_free(g);
    char *path = strdup("/tmp/spex_ablate_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_true(write(fd, buf, size) == (ssize_t)size);
    close(fd);
    free(buf);
    return path;
}

/* A batch of k all-zero masks over n features. */
static spex_masks *zero_masks(spex_ctx *ctx, int64_t n, int64_t k) {
    spex_masks *b;
    uint64_t *row;
    CHECK_RC(ctx, spex_masks_new(ctx, n, k, &b));
    for (int64_t i = 0; i < k; i++)
        CHECK_RC(ctx, spex_masks_append_zero(b, &row));
    return b;
}

static int32_t *tokens(spex_ctx *ctx, spex_llm *m, const char *text, int64_t *n) {
    int32_t *t;
    CHECK_RC(ctx, spex_llm_tokenize(m, text, strlen(text), 1, &t, n));
    return t;
}

static const char *const texts[] = {
    "Review: the food was not good . Sentiment: negative",
    "Mara lives in Tovik . Tovik is in Brell . Question: In which country does Mara live? "
    "Answer: Brell",
    "a = 3 . b = a + 2 . Question: b ? Answer: 5"};

/* Head (2, 1) and MLP 0 ablated by the engine vs the patched file, for
 * both kernel sets. */
static void check_against_patch(int reference) {
    spex_ctx *ctx = spex_ctx_new();
    spex_llm_opts o = spex_llm_opts_default();
    o.reference = reference;
    spex_llm *m, *p;
    char *path = patched_model(ctx, 2, 1, 0);
    CHECK_RC(ctx, spex_llm_load(ctx, MODEL, &o, &m));
    CHECK_RC(ctx, spex_llm_load(ctx, path, &o, &p));
    spex_llm_info info;
    spex_llm_get_info(m, &info);
    CHECK(info.n_heads == 4 && spex_llm_head_dim(m) * 4 == info.dim);
    uint8_t heads[64] = {0}, mlps[16] = {0};
    heads[2 * info.n_heads + 1] = 1;
    mlps[0] = 1;
    spex_llm_ablation a = {heads, mlps, NULL, NULL};
    double worst = 0, moved = 0;
    for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) {
        int64_t n;
        int32_t *t = tokens(ctx, m, texts[k], &n);
        double want[256], got[256], plain[256];
        CHECK_RC(ctx, spex_llm_token_logprobs(p, t, n, 1, want));
        CHECK_RC(ctx, spex_llm_set_ablation(m, &a));
        CHECK_RC(ctx, spex_llm_token_logprobs(m, t, n, 1, got));
        CHECK_RC(ctx, spex_llm_set_ablation(m, NULL));
        CHECK_RC(ctx, spex_llm_token_logprobs(m, t, n, 1, plain));
        for (int64_t i = 0; i < n - 1; i++) {
            CHECK_NEAR(got[i], want[i], 1e-6);
            if (fabs(got[i] - want[i]) > worst) worst = fabs(got[i] - want[i]);
            if (fabs(plain[i] - want[i]) > moved) moved = fabs(plain[i] - want[i]);
        }
        spex_free(ctx, t);
    }
    /* the ablation must matter, or the comparison proves nothing */
    CHECK(moved > 1e-2);
    printf("%s kernels: ablated vs patched file within %.2g; the ablation moves log-probs by "
           "up to %.3f\n",
           reference ? "reference" : "fast", worst, moved);
    spex_llm_free(m);
    spex_llm_free(p);
    unlink(path);
    free(path);
    spex_ctx_free(ctx);
}

static void test_zero_ablation_fast(void **state) {
    (void)state;
    check_against_patch(0);
}

static void test_zero_ablation_reference(void **state) {
    (void)state;
    check_against_patch(1);
}

/* Means taken over the BOS token alone, every component mean-ablated: the
 * BOS position sees exactly its own outputs, so nothing changes there. */
static void test_mean_ablation_identity(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_llm *m;
    CHECK_RC(ctx, spex_llm_load(ctx, MODEL, NULL, &m));
    spex_llm_info info;
    spex_llm_get_info(m, &info);
    int64_t L = info.n_layers, D = info.dim;
    float *hm = malloc((size_t)(L * D) * sizeof *hm), *mm = malloc((size_t)(L * D) * sizeof *mm);
    int32_t bos = info.bos;
    const int32_t *seq = &bos;
    int64_t one = 1;
    CHECK_RC(ctx, spex_llm_component_means(m, 1, &seq, &one, hm, mm));
    double *want = malloc((size_t)info.n_vocab * sizeof *want);
    double *got = malloc((size_t)info.n_vocab * sizeof *got);
    CHECK_RC(ctx, spex_llm_next_logprobs(m, &bos, 1, want));
    uint8_t heads[64], mlps[16];
    memset(heads, 1, sizeof heads);
    memset(mlps, 1, sizeof mlps);
    spex_llm_ablation a = {heads, mlps, hm, mm};
    CHECK_RC(ctx, spex_llm_set_ablation(m, &a));
    CHECK_RC(ctx, spex_llm_next_logprobs(m, &bos, 1, got));
    for (int64_t i = 0; i < info.n_vocab; i++)
        CHECK_NEAR(got[i], want[i], 1e-9);
    /* zero ablation of the same components does change the output */
    spex_llm_ablation z = {heads, mlps, NULL, NULL};
    CHECK_RC(ctx, spex_llm_set_ablation(m, &z));
    CHECK_RC(ctx, spex_llm_next_logprobs(m, &bos, 1, got));
    double moved = 0;
    for (int64_t i = 0; i < info.n_vocab; i++)
        if (fabs(got[i] - want[i]) > moved) moved = fabs(got[i] - want[i]);
    CHECK(moved > 1e-2);
    /* a non-finite replacement is refused */
    hm[3] = NAN;
    CHECK(spex_llm_set_ablation(m, &a) == SPEX_E_VALUE);
    free(hm);
    free(mm);
    free(want);
    free(got);
    spex_llm_free(m);
    spex_ctx_free(ctx);
}

/* The lens: a mask without head (2, 1) and MLP 0 equals the unablated value
 * on the patched file; the full mask equals the prompt lens's value; thread
 * counts agree bit for bit; mean ablation from reference prompts runs. */
/* An answer sink that records what it was told. */
typedef struct streamed {
    int calls;
    int seen[70];
    double val[70];
} streamed;

static void count_answer(void *sink, int64_t i, double v) {
    streamed *s = sink;
    s->calls++;
    if (i >= 0 && i < 70) {
        s->seen[i]++;
        s->val[i] = v;
    }
}

static void test_heads_lens(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_llm *m, *p;
    char *path = patched_model(ctx, 2, 1, 0);
    CHECK_RC(ctx, spex_llm_load(ctx, MODEL, NULL, &m));
    CHECK_RC(ctx, spex_llm_load(ctx, path, NULL, &p));
    spex_prompt_opts po = spex_prompt_opts_default();
    po.prefix = "Review:";
    po.suffix = "Sentiment:";
    po.target = " negative";
    po.contrast = " positive";
    const char *review = "the food was not good .";
    spex_prompt *pm, *pp;
    CHECK_RC(ctx, spex_prompt_new(ctx, m, review, &po, &pm));
    CHECK_RC(ctx, spex_prompt_new(ctx, p, review, &po, &pp));
    spex_heads_opts ho = spex_heads_opts_default();
    ho.mlps = 1;
    spex_heads *h;
    CHECK_RC(ctx, spex_heads_new(ctx, m, pm, &ho, &h));
    CHECK(spex_heads_n_features(h) == 4 * 5);
    CHECK(!strcmp(spex_heads_feature_name(h, 0), "L0.H0"));
    CHECK(!strcmp(spex_heads_feature_name(h, 4), "L0.MLP"));
    CHECK(!strcmp(spex_heads_feature_name(h, 11), "L2.H1"));
    int64_t l, hh;
    spex_heads_feature(h, 11, &l, &hh);
    CHECK(l == 2 && hh == 1);
    spex_masks *ms = zero_masks(ctx, 20, 3), *one = zero_masks(ctx, 6, 1);
    for (int64_t i = 0; i < 20; i++) {
        spex_bits_set(spex_masks_row(ms, 0), i, 1);
        spex_bits_set(spex_masks_row(ms, 1), i, i != 11 && i != 4);
        spex_bits_set(spex_masks_row(ms, 2), i, i % 3 == 0);
    }
    for (int64_t i = 0; i < 6; i++)
        spex_bits_set(spex_masks_row(one, 0), i, 1);
    double v[3], v2[3], full_m, full_p;
    CHECK_RC(ctx, spex_heads_eval(h, ms, v));
    CHECK_RC(ctx, spex_prompt_eval(pm, one, &full_m));
    CHECK_RC(ctx, spex_prompt_eval(pp, one, &full_p));
    CHECK_NEAR(v[0], full_m, 1e-12);
    CHECK_NEAR(v[1], full_p, 1e-6);
    CHECK(fabs(full_p - full_m) > 1e-2);
    spex_ctx_set_threads(ctx, 2);
    CHECK_RC(ctx, spex_heads_eval(h, ms, v2));
    for (int i = 0; i < 3; i++)
        CHECK(v2[i] == v[i]);
    printf("heads lens: full %.4f, head L2.H1 + L0.MLP off %.4f (patched file %.4f)\n", v[0], v[1],
           full_p);
    /* streamed (the query engine saves answers as they come): 70 masks, each
     * answered once, with the value eval gives */
    spex_masks *many = zero_masks(ctx, 20, 70);
    for (int64_t k = 0; k < 70; k++)
        for (int64_t i = 0; i < 20; i++)
            spex_bits_set(spex_masks_row(many, k), i, (k * 7 + i * 3) % 5 != 0);
    double sv[70], ev[70];
    streamed st = {0, {0}, {0}};
    spex_valuefn vf;
    CHECK_RC(ctx, spex_heads_valuefn(h, &vf));
    CHECK(vf.eval_stream != NULL);
    CHECK_RC(ctx, vf.eval_stream(vf.user, many, sv, count_answer, &st));
    CHECK_RC(ctx, spex_heads_eval(h, many, ev));
    CHECK(st.calls == 70);
    for (int k = 0; k < 70; k++)
        CHECK(st.seen[k] == 1 && st.val[k] == ev[k] && sv[k] == ev[k]);
    spex_masks_free(many);
    spex_heads_free(h);
    /* mean ablation over reference prompts; layer range and errors */
    const char *refs[] = {"Review: the service was great . Sentiment:",
                          "Review: the room was never clean . Sentiment:"};
    ho = spex_heads_opts_default();
    ho.layer_from = 2;
    ho.layer_to = 3;
    ho.mean = 1;
    ho.ref_prompts = refs;
    ho.n_ref = 2;
    CHECK_RC(ctx, spex_heads_new(ctx, m, pm, &ho, &h));
    CHECK(spex_heads_n_features(h) == 8);
    CHECK(!strcmp(spex_heads_feature_name(h, 0), "L2.H0"));
    double w[3];
    spex_masks *m8 = zero_masks(ctx, 8, 1);
    for (int64_t i = 0; i < 8; i++)
        spex_bits_set(spex_masks_row(m8, 0), i, 1);
    CHECK_RC(ctx, spex_heads_eval(h, m8, w));
    CHECK_NEAR(w[0], full_m, 1e-12);
    spex_bits_set(spex_masks_row(m8, 0), 0, 0);
    CHECK_RC(ctx, spex_heads_eval(h, m8, w));
    CHECK(isfinite(w[0]) && w[0] != full_m);
    spex_heads_free(h);
    ho.layer_to = 4;
    CHECK(spex_heads_new(ctx, m, pm, &ho, &h) == SPEX_E_INVAL);
    CHECK(strstr(spex_errmsg(ctx), "0-3") != NULL);
    ho = spex_heads_opts_default();
    ho.heads = 0;
    CHECK(spex_heads_new(ctx, m, pm, &ho, &h) == SPEX_E_INVAL);
    spex_masks_free(ms);
    spex_masks_free(one);
    spex_masks_free(m8);
    spex_prompt_free(pm);
    spex_prompt_free(pp);
    spex_llm_free(m);
    spex_llm_free(p);
    unlink(path);
    free(path);
    spex_ctx_free(ctx);
}

/* A task (spex_heads_new_task): the value of each mask is the mean of the
 * single-prompt lenses' values (each checked against patched files above)
 * over prompts with their own targets, with and without a contrast; 200
 * masks take more than one engine call (the lens chunks a batch). */
static void test_heads_task(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_llm *m;
    CHECK_RC(ctx, spex_llm_load(ctx, MODEL, NULL, &m));
    const char *reviews[3] = {"the food was not good .", "the staff were very friendly .",
                              "the room was never clean but the view was lovely ."};
    const char *targets[3] = {" negative", " positive", " positive"};
    const char *contrasts[3] = {" positive", NULL, " negative"};
    spex_prompt *ps[3];
    spex_heads *one[3], *task;
    spex_heads_opts ho = spex_heads_opts_default();
    for (int i = 0; i < 3; i++) {
        spex_prompt_opts po = spex_prompt_opts_default();
        po.prefix = "Review:";
        po.suffix = "Sentiment:";
        po.target = targets[i];
        po.contrast = contrasts[i];
        CHECK_RC(ctx, spex_prompt_new(ctx, m, reviews[i], &po, &ps[i]));
        CHECK_RC(ctx, spex_heads_new(ctx, m, ps[i], &ho, &one[i]));
    }
    CHECK_RC(ctx, spex_heads_new_task(ctx, m, ps, 3, &ho, &task));
    CHECK(spex_heads_n_features(task) == 16);
    const int64_t nb = 200;
    spex_masks *ms = zero_masks(ctx, 16, nb);
    spex_rng r;
    spex_rng_seed(&r, 5);
    for (int64_t b = 0; b < nb; b++)
        spex_rng_bits(&r, spex_masks_row(ms, b), spex_masks_words(ms), 16);
    double *v = malloc(4 * (size_t)nb * sizeof *v);
    CHECK_RC(ctx, spex_heads_eval(task, ms, v));
    for (int i = 0; i < 3; i++)
        CHECK_RC(ctx, spex_heads_eval(one[i], ms, v + (i + 1) * nb));
    double spread = 0;
    for (int64_t b = 0; b < nb; b++) {
        double mean = (v[nb + b] + v[2 * nb + b] + v[3 * nb + b]) / 3;
        CHECK_NEAR(v[b], mean, 1e-9);
        spread += fabs(v[nb + b] - v[3 * nb + b]);
    }
    CHECK(spread / (double)nb > 1e-2); /* the prompts' values differ */
    spex_heads_free(task);
    CHECK(spex_heads_new_task(ctx, m, ps, 0, &ho, &task) == SPEX_E_INVAL);
    /* mean ablation over the task's own prompts runs and moves the value */
    ho.mean = 1;
    CHECK_RC(ctx, spex_heads_new_task(ctx, m, ps, 3, &ho, &task));
    double w[2];
    spex_masks *two = zero_masks(ctx, 16, 2);
    for (int64_t i = 0; i < 16; i++)
        spex_bits_set(spex_masks_row(two, 0), i, 1);
    CHECK_RC(ctx, spex_heads_eval(task, two, w));
    double full = 0, u[2];
    for (int i = 0; i < 3; i++) {
        CHECK_RC(ctx, spex_heads_eval(one[i], two, u)); /* zero ablation: row 0 is all kept */
        full += u[0] / 3;
    }
    CHECK_NEAR(w[0], full, 1e-9); /* nothing ablated: the means do not matter */
    CHECK(isfinite(w[1]) && fabs(w[1] - w[0]) > 1e-3);
    spex_heads_free(task);
    for (int i = 0; i < 3; i++) {
        spex_heads_free(one[i]);
        spex_prompt_free(ps[i]);
    }
    spex_masks_free(ms);
    spex_masks_free(two);
    free(v);
    spex_llm_free(m);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_ablation_fast),
        cmocka_unit_test(test_zero_ablation_reference),
        cmocka_unit_test(test_mean_ablation_identity),
        cmocka_unit_test(test_heads_lens),
        cmocka_unit_test(test_heads_task),
    };
    SPEX_RUN_TESTS(tests);
}
