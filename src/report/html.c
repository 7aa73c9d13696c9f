/* The HTML report (spex/report.h): one self-contained page, inline CSS and
 * SVG only, no script and no external reference, so it opens offline and can
 * be mailed as one file. Sections: the features shaded by first-order value,
 * a bar chart of those values, the top pairwise interactions as arcs between
 * the features, the top interactions as a table, the run's settings. */
#include "spex/report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define HTML_TOP_DEFAULT 20
#define HTML_BARS_DEFAULT 100
#define HTML_ARC_LABELS 5 /* arcs that get their number written */
#define HTML_LABEL_MAX 24 /* bytes of a feature name drawn inside the SVGs */

spex_html_opts spex_html_opts_default(void) {
    spex_html_opts o;
    memset(&o, 0, sizeof o);
    o.top = HTML_TOP_DEFAULT;
    o.max_bars = HTML_BARS_DEFAULT;
    return o;
}

/* Writes at most max bytes of s (max < 0: all) HTML-escaped, never cutting a
 * UTF-8 sequence; control characters other than tab and newline show as
 * \xNN. Appends an ellipsis when s was cut. */
static void put_html_n(FILE *f, const char *s, long max) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    long used = 0;
    for (; *p; p++, used++) {
        if (max >= 0 && used >= max && (*p & 0xC0) != 0x80) {
            fputs("…", f);
            return;
        }
        switch (*p) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        case '\t':
        case '\n':
            fputc(*p, f);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(f, "\\x%02x", *p);
            else
                fputc(*p, f);
        }
    }
}

static void put_html(FILE *f, const char *s) {
    put_html_n(f, s, -1);
}

/* The diverging colour of v on the scale [-vmax, vmax]: white at 0, red
 * (214,39,40) at +vmax, blue (31,119,180) at -vmax. */
static void put_color(FILE *f, double v, double vmax) {
    double t = vmax > 0 ? fabs(v) / vmax : 0;
    if (t > 1) t = 1;
    int r = v >= 0 ? 214 : 31, g = v >= 0 ? 39 : 119, b = v >= 0 ? 40 : 180;
    fprintf(f, "rgb(%d,%d,%d)", (int)lround(255 + t * (r - 255)), (int)lround(255 + t * (g - 255)),
            (int)lround(255 + t * (b - 255)));
}

static const char *const html_css =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#222;"
    "max-width:1100px;margin:24px auto;padding:0 16px;line-height:1.45}\n"
    "h1{font-size:1.5em;margin:0 0 4px}h2{font-size:1.15em;margin:28px 0 8px;"
    "border-bottom:1px solid #ddd;padding-bottom:4px}\n"
    ".sub{color:#666;margin:0 0 12px}\n"
    ".prompt{font-size:1.35em;white-space:pre-wrap;line-height:2.1;padding:12px;"
    "border:1px solid #ddd;border-radius:6px;background:#fafafa}\n"
    ".fixed{color:#888;font-style:italic}\n"
    ".prompt .feat{padding:2px 3px;border-radius:4px}\n"
    ".chips{display:flex;flex-wrap:wrap;gap:8px}\n"
    ".chips .feat{display:inline-block;border:1px solid #ccc;border-radius:14px;"
    "padding:3px 10px;font-size:1.05em}\n"
    ".feat sub{opacity:.75;font-size:.62em;margin-left:2px}\n"
    ".legend{margin-top:8px;font-size:.9em;color:#444}\n"
    ".scroll{overflow-x:auto}\n"
    "table{border-collapse:collapse;font-size:.95em}\n"
    "td,th{padding:3px 10px;text-align:left;border-bottom:1px solid #eee;vertical-align:top}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "svg text{font-family:inherit;font-size:12px;fill:#333}\n"
    "footer{margin-top:28px;color:#888;font-size:.85em}\n";

/* The legend: a gradient bar from -vmax (blue) through 0 to +vmax (red). */
static void put_legend(FILE *f, double vmax) {
    fputs("<div class=\"legend\"><svg class=\"legend-scale\" width=\"420\" height=\"34\" "
          "role=\"img\" aria-label=\"colour scale\">"
          "<defs><linearGradient id=\"spexdiv\" x1=\"0\" x2=\"1\" y1=\"0\" y2=\"0\">"
          "<stop offset=\"0\" stop-color=\"rgb(31,119,180)\"/>"
          "<stop offset=\"0.5\" stop-color=\"rgb(255,255,255)\"/>"
          "<stop offset=\"1\" stop-color=\"rgb(214,39,40)\"/></linearGradient></defs>"
          "<rect x=\"10\" y=\"2\" width=\"400\" height=\"12\" fill=\"url(#spexdiv)\" "
          "stroke=\"#999\"/>",
          f);
    fprintf(f,
            "<text x=\"10\" y=\"30\">%+.3g</text><text x=\"210\" y=\"30\" "
            "text-anchor=\"middle\">0</text><text x=\"410\" y=\"30\" "
            "text-anchor=\"end\">%+.3g</text></svg><br>",
            -vmax, vmax);
    fputs("red: the feature raises the value; blue: it lowers it "
          "(first-order values; hover a feature for its number)</div>\n",
          f);
}

/* The features in place (prompt) or as chips, each shaded by its value. */
static void put_features(FILE *f, const spex_result *r, const spex_html_opts *o,
                         const double *first, double vmax) {
    fprintf(f, "<div class=\"%s\">", o->prose ? "prompt" : "chips");
    if (o->prose && o->prefix && *o->prefix) {
        fputs("<span class=\"fixed\">", f);
        put_html(f, o->prefix);
        fputs("</span> ", f);
    }
    for (int64_t i = 0; i < r->n; i++) {
        if (o->prose && i) put_html(f, o->leads && o->leads[i] ? o->leads[i] : " ");
        fputs("<span class=\"feat\" style=\"background:", f);
        put_color(f, first[i], vmax);
        if (vmax > 0 && fabs(first[i]) / vmax > 0.6) fputs(";color:#fff", f);
        fputs("\" title=\"", f);
        put_html(f, r->features[i]);
        fprintf(f, " (x%lld): %+.4g\">", (long long)i, first[i]);
        put_html(f, o->prose && o->texts && o->texts[i] ? o->texts[i] : r->features[i]);
        if (!o->prose) fprintf(f, "<sub>%+.2f</sub>", first[i]);
        fputs("</span>", f);
    }
    if (o->prose && o->suffix && *o->suffix) {
        fputs(" <span class=\"fixed\">", f);
        put_html(f, o->suffix);
        fputs("</span>", f);
    }
    fputs("</div>\n", f);
    put_legend(f, vmax);
}

static int cmp_abs_desc(const void *a, const void *b, const double *first) {
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    double x = fabs(first[i]), y = fabs(first[j]);
    return x < y ? 1 : x > y ? -1 : (i > j) - (i < j);
}

/* Selection of the nb largest |first| (insertion into a sorted prefix: nb is
 * small, and qsort has no context argument in C11). */
static void pick_bars(const double *first, int64_t n, int64_t nb, int64_t *order) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t at = k < nb ? k : nb;
        while (at > 0 && cmp_abs_desc(&i, &order[at - 1], first) < 0)
            at--;
        if (at >= nb) continue;
        int64_t end = k < nb ? k : nb - 1;
        memmove(order + at + 1, order + at, (size_t)(end - at) * sizeof *order);
        order[at] = i;
        if (k < nb) k++;
    }
}

/* Horizontal diverging bars, one per shown feature: (nb rows) */
static void put_bars(FILE *f, const spex_result *r, const double *first, double vmax,
                     const int64_t *order, int64_t nb) {
    const int label_w = 190, plot_w = 640, row_h = 22, top = 24;
    int width = label_w + plot_w + 70, height = top + (int)nb * row_h + 10;
    double mid = label_w + plot_w / 2.0, half = plot_w / 2.0 - 64; /* room for the numbers */
    fprintf(f,
            "<div class=\"scroll\"><svg class=\"bars\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"first-order values\">\n",
            width, height, width, height);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#888\"/>\n", mid,
            top - 6, mid, height - 6);
    fprintf(f,
            "<text x=\"%d\" y=\"14\" text-anchor=\"middle\">%+.3g</text><text x=\"%.1f\" "
            "y=\"14\" text-anchor=\"middle\">0</text><text x=\"%d\" y=\"14\" "
            "text-anchor=\"middle\">%+.3g</text>\n",
            (int)(mid - half), -vmax, mid, (int)(mid + half), vmax);
    for (int64_t k = 0; k < nb; k++) {
        int64_t i = order[k];
        double v = first[i], w = vmax > 0 ? fabs(v) / vmax * half : 0;
        double x = v >= 0 ? mid : mid - w, y = top + (double)k * row_h;
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", label_w - 8, y + 15);
        put_html_n(f, r->features[i], HTML_LABEL_MAX);
        fprintf(f,
                "</text><rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                "height=\"%d\" fill=\"",
                x, y + 3, w < 0.5 ? 0.5 : w, row_h - 6);
        put_color(f, v, vmax > 0 ? vmax * 0.8 : 0);
        fputs("\"><title>", f);
        put_html(f, r->features[i]);
        fprintf(f, ": %+.6g</title></rect>", v);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\"%s>%+.3f</text>\n",
                v >= 0 ? mid + w + 4 : mid - w - 4, y + 15, v >= 0 ? "" : " text-anchor=\"end\"",
                v);
    }
    fputs("</svg></div>\n", f);
}

/* The arc diagram: features as nodes on a line (in feature order), each of
 * the pairwise interactions among the top `count` as an arc above it,
 * coloured by sign, width by |value|. Returns the number of arcs drawn. */
static int64_t put_arcs(FILE *f, const spex_result *r, const double *first, double vmax,
                        int64_t count) {
    double pmax = 0;
    int64_t n_pairs = 0;
    for (int64_t i = 0; i < count; i++) {
        const int32_t *idx;
        int len;
        double v;
        spex_coefs_entry(r->interactions, i, &idx, &len, &v);
        if (len != 2) continue;
        n_pairs++;
        if (fabs(v) > pmax) pmax = fabs(v);
    }
    if (!n_pairs) {
        fputs("<p class=\"sub\">No pairwise interaction among the top ones (run with "
              "--max-order 2 or more).</p>\n",
              f);
        return 0;
    }
    const double step = r->n > 16 ? 44 : 72, margin = 60, arc_h_max = 170;
    double span = (double)(r->n - 1) * step, base = arc_h_max + 30;
    int width = (int)(2 * margin + span), height = (int)base + (r->n > 8 ? 120 : 60);
    fprintf(f,
            "<div class=\"scroll\"><svg class=\"arcs\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"pairwise interactions\">\n",
            width, height, width, height);
    /* weakest first, so the strongest arcs are drawn on top; numbers on the
     * strongest few only, so they do not pile up */
    int64_t rank = n_pairs;
    for (int64_t i = count - 1; i >= 0; i--) {
        const int32_t *idx;
        int len;
        double v;
        spex_coefs_entry(r->interactions, i, &idx, &len, &v);
        if (len != 2) continue;
        rank--;
        double xa = margin + idx[0] * step, xb = margin + idx[1] * step;
        double rx = (xb - xa) / 2, ry = rx < arc_h_max ? rx : arc_h_max;
        fprintf(f,
                "<path class=\"arc\" d=\"M %.1f %.1f A %.1f %.1f 0 0 1 %.1f %.1f\" "
                "fill=\"none\" stroke=\"%s\" stroke-opacity=\"0.8\" stroke-width=\"%.1f\" "
                "stroke-linecap=\"round\"><title>",
                xa, base, rx, ry, xb, base, v >= 0 ? "rgb(214,39,40)" : "rgb(31,119,180)",
                1.5 + 7 * fabs(v) / pmax);
        put_html(f, r->features[idx[0]]);
        fputs(" × ", f);
        put_html(f, r->features[idx[1]]);
        fprintf(f, ": %+.6g</title></path>\n", v);
        if (rank < HTML_ARC_LABELS)
            fprintf(f,
                    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                    "font-weight=\"bold\">%+.2f</text>\n",
                    (xa + xb) / 2, base - ry - 5, v);
    }
    for (int64_t i = 0; i < r->n; i++) {
        double x = margin + (double)i * step;
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"7\" stroke=\"#555\" fill=\"", x, base);
        put_color(f, first[i], vmax);
        fputs("\"/>", f);
        if (r->n > 8)
            fprintf(f, "<text transform=\"translate(%.1f %.1f) rotate(35)\">", x - 3, base + 18);
        else
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x, base + 26);
        put_html_n(f, r->features[i], HTML_LABEL_MAX);
        fputs("</text>\n", f);
    }
    fputs("</svg></div>\n", f);
    fputs("<p class=\"legend\">arc colour: red, the pair together raises the value beyond "
          "its parts; blue, it lowers it; thickness: |value|</p>\n",
          f);
    return n_pairs;
}

static void put_row(FILE *f, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void put_row(FILE *f, const char *key, const char *fmt, ...) {
    va_list ap;
    fprintf(f, "<tr><th>%s</th><td>", key);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputs("</td></tr>\n", f);
}

/* The validation table: predicted vs measured per re-queried interaction,
 * the largest gap said in words. */
static void put_validation(FILE *f, const spex_result *r, const spex_html_opts *o) {
    double worst = 0;
    fputs("<h2>Validation</h2>\n<p class=\"sub\">the top interactions re-queried: each one's "
          "features removed together (joint) and their interaction at the full input (Δ), as "
          "the surrogate predicts and as the target measured</p>\n<table class=\"validation\">\n"
          "<tr><th>features</th><th>value</th><th>joint predicted</th><th>joint measured</th>"
          "<th>Δ predicted</th><th>Δ measured</th></tr>\n",
          f);
    for (int64_t i = 0; i < o->n_validation; i++) {
        const spex_validation_row *v = &o->validation[i];
        fputs("<tr class=\"vrow\"><td>", f);
        for (int k = 0; k < v->len; k++) {
            if (k) fputs(" × ", f);
            if (v->idx[k] >= 0 && v->idx[k] < r->n) put_html(f, r->features[v->idx[k]]);
        }
        fprintf(f,
                "</td><td class=\"num\">%+.4f</td><td class=\"num\">%+.4f</td>"
                "<td class=\"num\">%+.4f</td><td class=\"num\">%+.4f</td>"
                "<td class=\"num\">%+.4f</td></tr>\n",
                v->index, v->joint_pred, v->joint_meas, v->delta_pred, v->delta_meas);
        if (fabs(v->joint_pred - v->joint_meas) > worst)
            worst = fabs(v->joint_pred - v->joint_meas);
        if (fabs(v->delta_pred - v->delta_meas) > worst)
            worst = fabs(v->delta_pred - v->delta_meas);
    }
    fprintf(f, "</table>\n<p class=\"sub\">largest |predicted − measured|: %.4f</p>\n", worst);
}

int spex_result_write_html(spex_ctx *ctx, const spex_result *r, const spex_html_opts *opts,
                           FILE *f) {
    spex_html_opts o = opts ? *opts : spex_html_opts_default();
    int64_t top = o.top > 0 ? o.top : HTML_TOP_DEFAULT;
    int64_t max_bars = o.max_bars > 0 ? o.max_bars : HTML_BARS_DEFAULT;
    int64_t total = r->interactions ? spex_coefs_count(r->interactions) : 0;
    int64_t count = top < total ? top : total, nb = r->n < max_bars ? r->n : max_bars;
    double *first = spex_calloc(ctx, (size_t)r->n, sizeof *first);
    int64_t *order = spex_calloc(ctx, (size_t)(nb > 0 ? nb : 1), sizeof *order);
    if (!first || !order) {
        spex_free(ctx, first);
        spex_free(ctx, order);
        return SPEX_E_NOMEM;
    }
    double vmax = 0;
    for (int64_t i = 0; i < total; i++) {
        const int32_t *idx;
        int len;
        double v;
        spex_coefs_entry(r->interactions, i, &idx, &len, &v);
        if (len == 1 && idx[0] < r->n) {
            first[idx[0]] = v;
            if (fabs(v) > vmax) vmax = fabs(v);
        }
    }
    if (nb == r->n)
        for (int64_t i = 0; i < nb; i++)
            order[i] = i;
    else
        pick_bars(first, r->n, nb, order);
    const char *title = o.title && *o.title ? o.title : "spex explanation";

    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          f);
    put_html(f, title);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", html_css);
    put_html(f, title);
    fprintf(f,
            "</h1>\n<p class=\"sub\">%lld features · method %s · index %s up to order %d · "
            "%lld model queries</p>\n",
            (long long)r->n, spex_method_name(r->method), spex_index_name(r->index), r->max_order,
            (long long)r->queries);

    fprintf(f, "<h2>%s</h2>\n", o.prose ? "The prompt" : "The features");
    put_features(f, r, &o, first, vmax);

    fprintf(f, "<h2>First-order values (%s)</h2>\n", spex_index_name(r->index));
    if (nb < r->n)
        fprintf(f, "<p class=\"sub\">the %lld largest of %lld, by |value|</p>\n", (long long)nb,
                (long long)r->n);
    put_bars(f, r, first, vmax, order, nb);

    fprintf(f, "<h2>Top interactions</h2>\n");
    put_arcs(f, r, first, vmax, count);
    fprintf(f, "<table class=\"top\">\n<tr><th>rank</th><th>order</th><th>value</th>"
               "<th>features</th></tr>\n");
    for (int64_t i = 0; i < count; i++) {
        const int32_t *idx;
        int len;
        double v;
        spex_coefs_entry(r->interactions, i, &idx, &len, &v);
        fprintf(f,
                "<tr><td class=\"num\">%lld</td><td class=\"num\">%d</td>"
                "<td class=\"num\">%+.4f</td><td>",
                (long long)i + 1, len, v);
        if (!len) fputs("(baseline)", f);
        for (int k = 0; k < len; k++) {
            if (k) fputs(" × ", f);
            put_html(f, r->features[idx[k]]);
        }
        fputs("</td></tr>\n", f);
    }
    fprintf(f, "</table>\n<p class=\"sub\">top %lld of %lld nonzero values</p>\n", (long long)count,
            (long long)total);

    if (o.validation && o.n_validation > 0) put_validation(f, r, &o);

    fputs("<h2>Settings and costs</h2>\n<table class=\"settings\">\n", f);
    char how[160];
    spex_result_method_text(r, how, sizeof how);
    put_row(f, "method", "%s", how);
    if (r->budget > 0)
        put_row(f, "budget", "%lld", (long long)r->budget);
    else
        put_row(f, "budget", "none (the method's own)");
    put_row(f, "queries", "%lld (%lld cached, %lld new)", (long long)r->queries,
            (long long)r->queries_cached, (long long)r->queries_new);
    put_row(f, "seconds", "%.3f s querying, %.3f s solving", r->seconds_queries, r->seconds_solve);
    put_row(f, "index", "%s", spex_index_name(r->index));
    put_row(f, "max order", "%d (of the index)", r->max_order);
    if (r->degree > 0) put_row(f, "surrogate degree", "%d", r->degree);
    put_row(f, "seed", "%llu", (unsigned long long)r->seed);
    put_row(f, "features", "%lld", (long long)r->n);
    char details[512];
    if (spex_result_details_text(r, details, sizeof details) > 0) {
        fputs("<tr><th>details</th><td>", f);
        put_html(f, details);
        fputs("</td></tr>\n", f);
    }
    for (int64_t i = 0; o.notes && i < o.n_notes; i++) {
        fputs("<tr><th>note</th><td>", f);
        put_html(f, o.notes[i]);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n<footer>written by spex; this page is self-contained (no script, no "
          "external files)</footer>\n</body>\n</html>\n",
          f);
    spex_free(ctx, first);
    spex_free(ctx, order);
    if (ferror(f) || fflush(f))
        return spex_seterr(ctx, SPEX_E_IO, "writing the HTML report failed: %s", strerror(errno));
    return SPEX_OK;
}
