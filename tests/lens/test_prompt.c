/* The prompt-ablation value function (spex/prompt.h): unit splitting, masks
 * to texts exactly as the truth files of ../shared/models/truth were made,
 * the contrast against spex_llm_score of the two texts, the greedy default
 * target, every value of a truth file, and bad inputs. */
#include "test_util.h"

#include "spex/prompt.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MODELS "../shared/models/"

static spex_prompt *make(spex_ctx *ctx, spex_llm *m, const char *text, const spex_prompt_opts *o) {
    spex_prompt *p = NULL;
    CHECK_RC(ctx, spex_prompt_new(ctx, m, text, o, &p));
    return p;
}

/* The masked text for a mask given as '0'/'1' characters. */
static void check_text(spex_ctx *ctx, spex_prompt *p, const char *bits, const char *want) {
    int64_t n = spex_prompt_n_units(p);
    uint64_t row[4] = {0};
    CHECK((int64_t)strlen(bits) == n && n <= 256);
    for (int64_t j = 0; j < n; j++)
        spex_bits_set(row, j, bits[j] == '1');
    char *got = NULL;
    CHECK(spex_prompt_text(p, row, &got) == SPEX_OK);
    if (strcmp(got, want)) fail_msg("mask %s: '%s', expected '%s'", bits, got, want);
    spex_test_checks++;
    spex_free(ctx, got);
}

static void check_units(spex_prompt *p, const char *const *want, int n) {
    CHECK(spex_prompt_n_units(p) == n);
    for (int i = 0; i < n && i < spex_prompt_n_units(p); i++)
        if (strcmp(spex_prompt_unit_text(p, i), want[i]))
            fail_msg("unit %d: '%s', expected '%s'", i, spex_prompt_unit_text(p, i), want[i]);
}

static void test_words(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_prompt_opts o = spex_prompt_opts_default();
    o.prefix = "Review:";
    o.suffix = "Sentiment:";
    spex_prompt *p = make(ctx, NULL, "  the food was not very good .\n", &o);
    static const char *const w[] = {"the", "food", "was", "not", "very", "good", "."};
    check_units(p, w, 7);
    CHECK(!strcmp(spex_prompt_unit_lead(p, 0), "") && !strcmp(spex_prompt_unit_lead(p, 3), " "));
    /* the truth files' convention: a removed word goes with its space */
    check_text(ctx, p, "1111111", "Review: the food was not very good . Sentiment:");
    check_text(ctx, p, "1110111", "Review: the food was very good . Sentiment:");
    check_text(ctx, p, "0000000", "Review: Sentiment:");
    check_text(ctx, p, "1000000", "Review: the Sentiment:");
    check_text(ctx, p, "0000011", "Review: good . Sentiment:");
    spex_prompt_free(p);
    /* whitespace between words is kept as written; a replacement keeps it */
    o.replace = "___";
    o.prefix = "Q:\n";
    o.suffix = NULL;
    p = make(ctx, NULL, "a\tb  c", &o);
    check_text(ctx, p, "111", "Q:\na\tb  c");
    check_text(ctx, p, "010", "Q:\n___\tb  ___");
    spex_prompt_free(p);
    spex_ctx_free(ctx);
}

static void test_sentences_segments(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_prompt_opts o = spex_prompt_opts_default();
    o.unit = SPEX_PROMPT_SENTENCE;
    spex_prompt *p = make(ctx, NULL, "Hello there. Version 1.5 is out!! Why?\nno end", &o);
    static const char *const s[] = {"Hello there.", "Version 1.5 is out!!", "Why?", "no end"};
    check_units(p, s, 4);
    check_text(ctx, p, "1011", "Hello there. Why?\nno end");
    check_text(ctx, p, "0101", "Version 1.5 is out!!\nno end");
    spex_prompt_free(p);

    o.unit = SPEX_PROMPT_SEGMENT;
    o.suffix = "Answer:";
    p = make(ctx, NULL, "first line \n\n  second line\nthird", &o);
    static const char *const g[] = {"first line", "second line", "third"};
    check_units(p, g, 3);
    check_text(ctx, p, "101", "first line\nthird Answer:");
    spex_prompt_free(p);
    o.segments_sep = "|";
    p = make(ctx, NULL, "the food was not good | but the staff | were kind .", &o);
    static const char *const g2[] = {"the food was not good", "but the staff", "were kind ."};
    check_units(p, g2, 3);
    check_text(ctx, p, "011", "but the staff were kind . Answer:");
    spex_prompt_free(p);
    spex_ctx_free(ctx);
}

static void test_bad_inputs(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_prompt_opts o = spex_prompt_opts_default();
    spex_prompt *p = NULL;
    spex_prompt_unit u;
    CHECK(spex_prompt_new(ctx, NULL, "", &o, &p) == SPEX_E_INVAL && !p);
    CHECK(strstr(spex_errmsg(ctx), "empty"));
    CHECK(spex_prompt_new(ctx, NULL, " \n ", &o, &p) == SPEX_E_INVAL && !p);
    CHECK(strstr(spex_errmsg(ctx), "no word units"));
    CHECK(spex_prompt_unit_parse(ctx, "paragraph", &u) == SPEX_E_INVAL);
    CHECK(strstr(spex_errmsg(ctx), "'paragraph'"));
    CHECK(spex_prompt_unit_parse(ctx, "token", &u) == SPEX_OK && u == SPEX_PROMPT_TOKEN);
    o.contrast = " b";
    CHECK(spex_prompt_new(ctx, NULL, "a", &o, &p) == SPEX_E_INVAL && !p);
    o.contrast = NULL;
    o.unit = SPEX_PROMPT_TOKEN;
    CHECK(spex_prompt_new(ctx, NULL, "a", &o, &p) == SPEX_E_INVAL && !p);
    /* a prompt without a model builds texts but has no value function */
    o.unit = SPEX_PROMPT_WORD;
    p = make(ctx, NULL, "a b", &o);
    spex_valuefn vf;
    CHECK(spex_prompt_valuefn(p, &vf) == SPEX_E_INVAL);
    spex_prompt_free(p);
    spex_prompt_free(NULL);
    spex_ctx_free(ctx);
}

static void test_model(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_llm *m = NULL;
    CHECK_RC(ctx, spex_llm_load(ctx, MODELS "synth-interact-llama-F32.gguf", NULL, &m));
    spex_prompt_opts o = spex_prompt_opts_default();
    o.prefix = "Review:";
    o.suffix = "Sentiment:";
    /* the greedy default target: the model's answer, cut before EOS */
    spex_prompt *p = make(ctx, m, "the food was not very good .", &o);
    CHECK(!strcmp(spex_prompt_target(p), " negative") && !spex_prompt_contrast(p));
    spex_prompt_free(p);

    /* contrast arithmetic against spex_llm_score of the two texts */
    o.target = " negative";
    o.contrast = " positive";
    p = make(ctx, m, "the food was not very good .", &o);
    spex_masks *b;
    CHECK_RC(ctx, spex_masks_new(ctx, 7, 4, &b));
    static const char *const bits[] = {"1111111", "1110111", "0000000", "1000010"};
    for (int i = 0; i < 4; i++)
        CHECK_RC(ctx, spex_masks_append_string(b, bits[i], 7));
    double out[4];
    CHECK_RC(ctx, spex_prompt_eval(p, b, out));
    for (int i = 0; i < 4; i++) {
        char *text;
        spex_llm_score_result ra, rb;
        CHECK_RC(ctx, spex_prompt_text(p, spex_masks_crow(b, i), &text));
        CHECK_RC(ctx, spex_llm_score(m, text, " negative", &ra));
        CHECK_RC(ctx, spex_llm_score(m, text, " positive", &rb));
        CHECK_NEAR(out[i], ra.logprob - rb.logprob, 1e-9);
        spex_llm_score_result_clear(m, &ra);
        spex_llm_score_result_clear(m, &rb);
        spex_free(ctx, text);
    }
    spex_masks_free(b);
    spex_prompt_free(p);

    /* token units: pieces and their spaces rebuild the prompt */
    o.unit = SPEX_PROMPT_TOKEN;
    o.prefix = o.suffix = NULL;
    p = make(ctx, m, "the food was unbelievably good", &o);
    CHECK(spex_prompt_n_units(p) >= 5);
    char *all;
    CHECK_RC(ctx, spex_prompt_text(p, NULL, &all));
    if (strcmp(all, "the food was unbelievably good")) fail_msg("token units: '%s'", all);
    spex_free(ctx, all);
    spex_prompt_free(p);
    spex_llm_free(m);
    spex_ctx_free(ctx);
}

/* Every mask of truth/sentiment_1 (log p(answer) - log p(other), computed
 * in float64 PyTorch; the F32 engine agrees to ~2e-5 nats). */
static void test_truth_values(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    json_t *t = json_load_file(MODELS "truth/sentiment_1.values.json", 0, NULL);
    CHECK(t != NULL);
    spex_llm *m = NULL;
    CHECK_RC(ctx, spex_llm_load(ctx, MODELS "synth-interact-llama-F32.gguf", NULL, &m));
    spex_prompt_opts o = spex_prompt_opts_default();
    o.prefix = json_string_value(json_object_get(t, "prompt_prefix"));
    o.suffix = json_string_value(json_object_get(t, "prompt_suffix"));
    o.target = json_string_value(json_object_get(t, "answer"));
    o.contrast = json_string_value(json_object_get(t, "other"));
    spex_prompt *p = make(ctx, m, "the food was not very good .", &o);
    int64_t n = spex_prompt_n_units(p);
    const json_t *vals = json_object_get(t, "values");
    CHECK(n == 7 && json_array_size(vals) == 128);
    spex_masks *b;
    CHECK_RC(ctx, spex_masks_new(ctx, n, 128, &b));
    for (int64_t k = 0; k < 128; k++) {
        uint64_t row = (uint64_t)k; /* bit i = word i kept */
        CHECK_RC(ctx, spex_masks_append(b, &row));
    }
    double out[128], worst = 0;
    CHECK_RC(ctx, spex_prompt_eval(p, b, out));
    for (int k = 0; k < 128; k++) {
        double d = fabs(out[k] - json_number_value(json_array_get(vals, (size_t)k)));
        if (d > worst) worst = d;
    }
    CHECK_NEAR(worst, 0.0, 1e-3);
    printf("sentiment_1: largest |engine - truth| over 128 masks %.3g\n", worst);
    spex_masks_free(b);
    spex_prompt_free(p);
    spex_llm_free(m);
    json_decref(t);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words),        cmocka_unit_test(test_sentences_segments),
        cmocka_unit_test(test_bad_inputs),   cmocka_unit_test(test_model),
        cmocka_unit_test(test_truth_values),
    };
    SPEX_RUN_TESTS(tests);
}
