/* The HTML report writer (src/report/html.c): every feature name is escaped,
 * one bar per feature up to the limit, one arc per top pairwise interaction,
 * and nothing refers outside the page. */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include "spex/report.h"

/* Renders r with opts into a malloc'ed string. */
static char *render(spex_ctx *ctx, const spex_result *r, const spex_html_opts *o) {
    FILE *f = tmpfile();
    CHECK(f != NULL);
    CHECK_RC(ctx, spex_result_write_html(ctx, r, o, f));
    long len = ftell(f);
    CHECK(len > 0);
    rewind(f);
    char *buf = malloc((size_t)len + 1);
    CHECK(buf != NULL);
    CHECK(fread(buf, 1, (size_t)len, f) == (size_t)len);
    buf[len] = 0;
    fclose(f);
    return buf;
}

static long count_of(const char *s, const char *needle) {
    long k = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        k++;
    return k;
}

/* A result on n features: first-order value j - n/2 + 1.25 for feature j, pairs
 * (0,1) .. (n_pairs-1, n_pairs) with small values, one order-3 term. */
static spex_result *make_result(spex_ctx *ctx, int64_t n, int n_pairs) {
    spex_result *r;
    CHECK_RC(ctx, spex_result_new(ctx, n, &r));
    CHECK_RC(ctx, spex_coefs_new(ctx, n, &r->interactions));
    for (int32_t j = 0; j < n; j++)
        CHECK_RC(ctx, spex_coefs_add(r->interactions, &j, 1, (double)j - (double)n / 2 + 1.25));
    for (int32_t j = 0; j < n_pairs; j++) {
        int32_t s[2] = {j, j + 1};
        CHECK_RC(ctx, spex_coefs_add(r->interactions, s, 2, 0.01 * (j + 1) * (j % 2 ? -1 : 1)));
    }
    int32_t t[3] = {0, 1, 2};
    CHECK_RC(ctx, spex_coefs_add(r->interactions, t, 3, 0.001));
    spex_coefs_sort_abs(r->interactions);
    r->max_order = 3;
    return r;
}

static void test_escaping(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_result *r = make_result(ctx, 4, 2);
    spex_free(ctx, r->features[2]);
    r->features[2] = spex_strdup(ctx, "<b>&\"x\"");
    const char *prefix = "Q: <i>", *note = "n&m";
    spex_html_opts o = spex_html_opts_default();
    o.title = "t<'>";
    o.prose = 1;
    o.prefix = prefix;
    o.notes = &note;
    o.n_notes = 1;
    char *html = render(ctx, r, &o);
    CHECK(strstr(html, "&lt;b&gt;&amp;&quot;x&quot;") != NULL);
    CHECK(strstr(html, "<b>&") == NULL);
    CHECK(strstr(html, "\"x\"") == NULL);
    CHECK(strstr(html, "<script") == NULL);
    CHECK(strstr(html, "Q: &lt;i&gt;") != NULL);
    CHECK(strstr(html, "n&amp;m") != NULL);
    CHECK(strstr(html, "t&lt;&#39;&gt;") != NULL);
    CHECK(strstr(html, "http://") == NULL && strstr(html, "https://") == NULL);
    free(html);
    spex_result_free(r);
    spex_ctx_free(ctx);
}

/* The settings table shows the method's account as its one-line summary,
 * and no details row when there is none. */
static void test_details(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_result *r = make_result(ctx, 4, 2);
    spex_html_opts o = spex_html_opts_default();
    char *html = render(ctx, r, &o);
    CHECK(strstr(html, "<th>details</th>") == NULL);
    free(html);
    r->details.kind = SPEX_DETAILS_LASSO;
    r->details.u.linear = (spex_linear_details){1000, 528, 2, 0.163, 36, 0.4639, -1, 0.5};
    html = render(ctx, r, &o);
    CHECK(strstr(html, "<tr><th>details</th><td>lasso: 1000 masks, 528 Fourier columns (orders "
                       "1..2), alpha 0.163, 36 nonzero, cv r2 0.4639</td></tr>") != NULL);
    free(html);
    spex_result_free(r);
    spex_ctx_free(ctx);
}

static void test_counts(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    /* 12 features, 5 pairs: all shown with top = all */
    spex_result *r = make_result(ctx, 12, 5);
    spex_html_opts o = spex_html_opts_default();
    o.top = 1000;
    char *html = render(ctx, r, &o);
    CHECK(count_of(html, "class=\"bar\"") == 12);
    CHECK(count_of(html, "class=\"arc\"") == 5);
    CHECK(count_of(html, "class=\"feat\"") == 12);
    CHECK(count_of(html, "<div class=\"chips\">") == 1);
    free(html);
    /* the bar limit and the top K: 12 first-order values outrank the pairs,
     * so top 14 keeps the two largest pairs */
    o.max_bars = 5;
    o.top = 14;
    html = render(ctx, r, &o);
    CHECK(count_of(html, "class=\"bar\"") == 5);
    CHECK(count_of(html, "class=\"arc\"") == 2);
    CHECK(count_of(html, "<td class=\"num\">14</td>") == 1);
    CHECK(count_of(html, "<td class=\"num\">15</td>") == 0);
    free(html);
    spex_result_free(r);
    /* no pairs: no arcs, the page says so */
    r = make_result(ctx, 3, 0);
    html = render(ctx, r, NULL);
    CHECK(count_of(html, "class=\"arc\"") == 0);
    CHECK(strstr(html, "No pairwise interaction") != NULL);
    free(html);
    spex_result_free(r);
    spex_ctx_free(ctx);
}

/* The largest |value| features get the bars when n exceeds the limit. */
static void test_bar_choice(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_result *r = make_result(ctx, 12, 0); /* values -4.75 .. +6.25 */
    for (int64_t j = 0; j < 12; j++) {
        spex_free(ctx, r->features[j]);
        char name[16];
        snprintf(name, sizeof name, "f%lldz", (long long)j);
        r->features[j] = spex_strdup(ctx, name);
    }
    spex_html_opts o = spex_html_opts_default();
    o.max_bars = 3; /* f11 (+6.25), f10 (+5.25) and f0 (-4.75) */
    char *html = render(ctx, r, &o);
    const char *bars = strstr(html, "<svg class=\"bars\"");
    CHECK(bars != NULL);
    const char *end = strstr(bars, "</svg>");
    CHECK(end != NULL);
    size_t len = (size_t)(end - bars);
    char *chart = malloc(len + 1);
    memcpy(chart, bars, len);
    chart[len] = 0;
    CHECK(strstr(chart, ">f11z<") && strstr(chart, ">f10z<") && strstr(chart, ">f0z<"));
    CHECK(!strstr(chart, ">f9z<") && !strstr(chart, ">f1z<"));
    free(chart);
    free(html);
    spex_result_free(r);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_details),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_bar_choice),
    };
    SPEX_RUN_TESTS(tests);
}
