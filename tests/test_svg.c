/* test_svg.c — SVG figures (zoo/svg.c): nice ticks and colour maps against hand-computed
 * values, then one figure of every kind of SPEC.md §10 written to build/tests/ and read back:
 * well-formed XML (the checker of svgcheck.h, itself tested on broken snippets), the required
 * parts (title, axis labels, a legend or colour bar, ink in every series), every drawn point
 * inside its panel's frame, escaped text, and no trace of NaN or infinity.
 * Tests run from the repository root, where make has created build/tests/. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "svgcheck.h"
#include "test.h"

#define OUT (IS_DOUBLE_BUILD ? "build/tests/svg_f64_" : "build/tests/svg_f32_")

static char *out_path(const char *name)
{
    static char buf[4][256];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 256, "%s%s.svg", OUT, name);
    return p;
}

/* Whole file as a string; NULL if it cannot be read. */
static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap) {
            char *bigger = realloc(buf, (cap *= 2) + 1);
            if (!bigger) free(buf);
            buf = bigger;
        }
    }
    fclose(fp);
    if (buf) buf[n] = 0;
    return buf;
}

static int contains(const char *s, const char *part) { return strstr(s, part) != NULL; }

static void test_xml_checker(void)
{
    static const char *const bad[] = {"<a><b></a></b>",
                                      "<a x=1/>",
                                      "<a>&foo;</a>",
                                      "<a>1 < 2</a>",
                                      "<a/><b/>",
                                      "<a x=\"1\" x=\"2\"/>",
                                      "<a>",
                                      "text<a/>",
                                      "<a>x > y</a>",
                                      "<a x=\"<\"/>",
                                      "<a>&#;</a>",
                                      "<a b=\"1\"c=\"2\"/>"};
    char why[200];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(!xml_well_formed(bad[i], why), "checker accepts %s", bad[i]);
    CHECK(xml_well_formed("<?xml version=\"1.0\"?>\n<a x='1' y=\"&amp;&#38;&#x26;\"><b/>t &lt;<!-- c --></a>\n", why),
          "checker rejects a good document: %s", why);
}

/* ========================================================================================
 * Reading figures back.
 * ====================================================================================== */
static size_t count(const char *s, const char *part)
{
    size_t n = 0;
    for (const char *p = strstr(s, part); p; p = strstr(p + 1, part)) n++;
    return n;
}

/* The checks every figure must pass; series = the number of series with ink. */
static char *check_figure(const char *path, const char *title, size_t series, const char *const *labels)
{
    char *s = slurp(path), why[200];
    CHECK(s != NULL, "%s: cannot read", path);
    if (!s) return NULL;
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *stale = fopen(tmp, "rb");
    CHECK(!stale, "%s left behind", tmp);
    if (stale) fclose(stale);
    CHECK(xml_well_formed(s, why), "%s: not well-formed XML: %s", path, why);
    CHECK(!strncmp(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"",
                   85),
          "%s: does not start as a standalone SVG", path);
    CHECK(contains(s, " viewBox=\"0 0 "), "%s: no viewBox", path);
    char want[300];
    snprintf(want, sizeof want, "<title>%s</title>", title);
    CHECK(contains(s, want), "%s: no %s", path, want);
    snprintf(want, sizeof want, ">%s</text>", title);
    CHECK(contains(s, want), "%s: the title is not written", path);
    for (size_t i = 0; labels && labels[i]; i++) {
        snprintf(want, sizeof want, ">%s</text>", labels[i]);
        CHECK(contains(s, want), "%s: no text '%s'", path, labels[i]);
    }
    size_t inked, groups = series_groups(s, &inked);
    CHECK(groups == series && inked == series, "%s: %zu series groups, %zu with ink, want %zu", path, groups, inked,
          series);
    CHECK(contains(s, "<g class=\"legend\">") || contains(s, "<g class=\"colorbar\">"),
          "%s: neither legend nor colour bar", path);
    CHECK(points_outside(s) == 0, "%s: %zu points outside their frame or too many decimals", path, points_outside(s));
    const char *p = s;
    while (*p && strncmp(p, "nan", 3) && strncmp(p, "NaN", 3) && strncmp(p, "inf", 3) && strncmp(p, "Inf", 3)) p++;
    CHECK(!*p, "%s: '%.20s'", path, p);
    CHECK(!contains(s, "<script") && !contains(s, "href") && !contains(s, "url("), "%s: a script or reference", path);
    return s;
}

/* ========================================================================================
 * Ticks and colours.
 * ====================================================================================== */
static void check_ticks(double lo, double hi, int log, int fixed, double want_lo, double want_hi, size_t n,
                        const double *at, const char *const *labels)
{
    SvgTicks t;
    svg_ticks(lo, hi, log, fixed, &t);
    CHECK(t.n == n, "ticks [%g, %g]: %zu ticks, want %zu", lo, hi, t.n, n);
    CHECK_NEAR(t.lo, want_lo, 1e-12, "axis low");
    CHECK_NEAR(t.hi, want_hi, 1e-12, "axis high");
    for (size_t i = 0; i < n && i < t.n; i++) {
        CHECK_NEAR(t.at[i], at[i], 1e-12, "tick");
        CHECK(!strcmp(t.label[i], labels[i]), "ticks [%g, %g]: label %zu is '%s', want '%s'", lo, hi, i, t.label[i],
              labels[i]);
    }
}

static void test_ticks(void)
{
    /* step 0.1 gives 10 intervals, 0.2 gives 5 <= 6 */
    check_ticks(0, 0.93, 0, 0, 0, 1, 6, (double[]){0, 0.2, 0.4, 0.6, 0.8, 1.0},
                (const char *[]){"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"});
    /* step 1: floor(-1.3) = -2 .. ceil(2.7) = 3, 5 intervals */
    check_ticks(-1.3, 2.7, 0, 0, -2, 3, 6, (double[]){-2, -1, 0, 1, 2, 3},
                (const char *[]){"-2", "-1", "0", "1", "2", "3"});
    /* 3 .. 97: step 10 gives 10 intervals, 20 gives 5 */
    check_ticks(3, 97, 0, 0, 0, 100, 6, (double[]){0, 20, 40, 60, 80, 100},
                (const char *[]){"0", "20", "40", "60", "80", "100"});
    check_ticks(0, 20000, 0, 0, 0, 20000, 5, (double[]){0, 5000, 10000, 15000, 20000},
                (const char *[]){"0", "5k", "10k", "15k", "20k"});
    check_ticks(0.00012, 0.00049, 0, 0, 0.0001, 0.0005, 5, (double[]){1e-4, 2e-4, 3e-4, 4e-4, 5e-4},
                (const char *[]){"1e-4", "2e-4", "3e-4", "4e-4", "5e-4"});
    /* fixed: the range stays, ticks at the multiples of 0.1 inside */
    check_ticks(0.31, 0.97, 0, 1, 0.31, 0.97, 6, (double[]){0.4, 0.5, 0.6, 0.7, 0.8, 0.9},
                (const char *[]){"0.4", "0.5", "0.6", "0.7", "0.8", "0.9"});
    /* a constant is widened by 10%: [0.45, 0.55], step 0.02 */
    check_ticks(0.5, 0.5, 0, 0, 0.44, 0.56, 7, (double[]){0.44, 0.46, 0.48, 0.5, 0.52, 0.54, 0.56},
                (const char *[]){"0.44", "0.46", "0.48", "0.50", "0.52", "0.54", "0.56"});
    /* log within a decade: powers of ten give 2 ticks, 1-2-5 gives 0.01 .. 0.1 */
    check_ticks(0.013, 0.051, 1, 0, 0.01, 0.1, 4, (double[]){0.01, 0.02, 0.05, 0.1},
                (const char *[]){"0.01", "0.02", "0.05", "0.1"});
    check_ticks(0.0013, 2, 1, 0, 0.001, 10, 5, (double[]){0.001, 0.01, 0.1, 1, 10},
                (const char *[]){"0.001", "0.01", "0.1", "1", "10"});
    check_ticks(0.31, 0.45, 1, 0, 0.3, 0.5, 3, (double[]){0.3, 0.4, 0.5}, (const char *[]){"0.3", "0.4", "0.5"});
    /* 14 decades: every 3rd (stride ceil(15 / 6)) from 10^-6 */
    check_ticks(2e-6, 3e7, 1, 0, 1e-6, 1e9, 6, (double[]){1e-6, 1e-3, 1, 1e3, 1e6, 1e9},
                (const char *[]){"1e-6", "0.001", "1", "1000", "1e6", "1e9"});
    /* step 1e20 gives -4 .. 4, 8 intervals; 2e20 gives 4 */
    check_ticks(-3.5e20, 3.5e20, 0, 0, -4e20, 4e20, 5, (double[]){-4e20, -2e20, 0, 2e20, 4e20},
                (const char *[]){"-4e20", "-2e20", "0", "2e20", "4e20"});
    /* the extremes end with sane ticks: a subnormal range is widened, the widest fits */
    SvgTicks t;
    svg_ticks(1e-310, 2e-310, 0, 0, &t);
    CHECK(t.n >= 2 && t.n <= 7 && t.lo <= 1e-310 && t.hi >= 2e-310 && isfinite(t.lo) && isfinite(t.hi),
          "subnormal range");
    svg_ticks(-1e300, 1e300, 0, 0, &t);
    CHECK(t.n >= 2 && t.n <= 7 && t.lo <= -1e300 && t.hi >= 1e300 && isfinite(t.lo) && isfinite(t.hi), "widest range");
    svg_ticks(1e-300, 1e300, 1, 0, &t);
    CHECK(t.n >= 2 && t.n <= 7 && t.lo <= 1e-300 && t.hi >= 1e300, "widest log range: %zu ticks", t.n);
}

static void check_colour(SvgColourMap map, double t, int r, int g, int b)
{
    unsigned char rgb[3];
    svg_colour(map, t, rgb);
    CHECK(rgb[0] == r && rgb[1] == g && rgb[2] == b, "colour map %d at %g: #%02x%02x%02x, want #%02x%02x%02x", (int)map,
          t, rgb[0], rgb[1], rgb[2], r, g, b);
}

static void test_colours(void)
{
    check_colour(SVG_VIRIDIS, 0, 0x44, 0x01, 0x54);
    check_colour(SVG_VIRIDIS, 1, 0xfd, 0xe7, 0x25);
    check_colour(SVG_VIRIDIS, -3, 0x44, 0x01, 0x54); /* clamped */
    check_colour(SVG_VIRIDIS, 7, 0xfd, 0xe7, 0x25);
    /* halfway between the stops at 4/9 (#26828e) and 5/9 (#1f9e89): 34.5, 144, 139.5, rounded away from 0 */
    check_colour(SVG_VIRIDIS, 0.5, 35, 144, 140);
    /* a quarter of the way from 1/9 (#482878) to 2/9 (#3e4989): 72 - 2.5, 40 + 8.25, 120 + 4.25 */
    check_colour(SVG_VIRIDIS, 1.25 / 9, 70, 48, 124);
    check_colour(SVG_CYCLIC, 0, 0xd0, 0xc4, 0xd4);
    check_colour(SVG_CYCLIC, 1, 0xd0, 0xc4, 0xd4);
    check_colour(SVG_CYCLIC, 0.5, 0x2f, 0x14, 0x36);
    check_colour(SVG_CYCLIC, 1.25, 0x5a, 0x6f, 0xc0); /* wraps to 1/4 */
    check_colour(SVG_CYCLIC, -0.75, 0x5a, 0x6f, 0xc0);
}

/* ========================================================================================
 * Figures, with data shaped like the report's.
 * ====================================================================================== */
static const char *const encoders[6] = {"stats", "flat", "transformer", "dws", "noninteractive", "interactive"};

/* Deterministic pseudo-data: a hash of (i, j) in [0, 1). */
static double noise(size_t i, size_t j)
{
    uint64_t z = (uint64_t)i * 0x9e3779b97f4a7c15ull + (uint64_t)j * 0xbf58476d1ce4e5b9ull + 1;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static void test_learning_curves(void)
{
    enum { N = 60 };
    double step[N], loss[N];
    SvgFigure fig;
    svg_begin(&fig, "Emulation loss", 2, 1);
    for (int panel = 0; panel < 2; panel++) {
        SvgPanel *p = svg_panel(&fig, panel, panel ? "out of distribution" : "validation", "step", "emulation loss");
        svg_log_y(p);
        for (size_t e = 0; e < 6; e++) {
            for (size_t i = 0; i < N; i++) {
                step[i] = 250.0 * (double)i;
                loss[i] = (0.02 + 0.006 * (double)e + 0.004 * panel) * (1 + 3 * exp(-(double)i / 8)) *
                          (1 + 0.05 * noise(i, e));
            }
            if (e == 2) loss[17] = NAN, loss[30] = INFINITY, loss[31] = -1; /* skipped: a gap */
            svg_line(p, encoders[e], step, loss, N);
        }
    }
    char err[RR_ERRLEN];
    CHECK(svg_write(&fig, out_path("learning_curves"), err) == RR_OK, "%s", err);
    svg_free(&fig);
    char *s = check_figure(out_path("learning_curves"), "Emulation loss", 12,
                           (const char *[]){"validation", "out of distribution", "step", "emulation loss",
                                            "interactive", "0.02", "0.05", "0.1", "0.2", "0.5", "15k", NULL});
    if (!s) return;
    /* colours follow names: each encoder's line has the same stroke in both panels */
    CHECK(count(s, "stroke=\"#1f77b4\" stroke-width=\"1.6\"") == 2 &&
              count(s, "stroke=\"#8c564b\" stroke-width=\"1.6\"") == 2,
          "a name's colour differs between panels");
    /* transformer: one break at step 17 and one at 30..31: three subpaths */
    const char *t = strstr(s, "<title>transformer</title>");
    const char *d = t ? strstr(t, " d=\"") : NULL, *end = d ? strchr(d + 4, '"') : NULL;
    size_t moves = 0;
    for (const char *q = d; q && q < end; q++) moves += *q == 'M';
    CHECK(moves == 3, "the line with a NaN, an infinity and a negative value on a log axis has %zu subpaths, want 3",
          moves);
    free(s);
}

static void test_embedding_space(void)
{
    enum { N = 400 };
    double x[N], y[N], accuracy[N], step[N], angle[N];
    int mb[N];
    for (size_t i = 0; i < N; i++) {
        mb[i] = (int)(i % 6);
        double a = 6.283185307179586 * mb[i] / 6 + 0.4 * noise(i, 1);
        step[i] = (double)(i % 9) * 500;
        accuracy[i] = 1 - exp(-step[i] / 800) * (0.9 + 0.1 * noise(i, 2));
        x[i] = (0.3 + accuracy[i]) * cos(a) + 0.1 * noise(i, 3);
        y[i] = (0.3 + accuracy[i]) * sin(a) + 0.1 * noise(i, 4);
        angle[i] = fmod(60.0 * mb[i] + 20 * noise(i, 5), 360);
    }
    x[7] = NAN, y[8] = INFINITY, accuracy[9] = NAN, mb[10] = -1, mb[11] = 6; /* skipped where they matter */
    static const char *const classes[6] = {"m_b = -3", "m_b = -2", "m_b = -1", "m_b = 0", "m_b = 1", "m_b = 2"};
    SvgFigure fig;
    svg_begin(&fig, "Embedding space (interactive)", 2, 2);
    svg_scatter_classes(svg_panel(&fig, 0, "by task", "PC 1", "PC 2"), x, y, mb, N, classes, 6);
    SvgPanel *p = svg_panel(&fig, 1, "by accuracy", "PC 1", "PC 2");
    svg_colour_scale(p, SVG_VIRIDIS, "accuracy", 0, 1);
    svg_scatter_values(p, NULL, x, y, accuracy, N);
    p = svg_panel(&fig, 2, "by training step", "PC 1", "PC 2");
    svg_colour_scale(p, SVG_VIRIDIS, "step", NAN, NAN);
    svg_scatter_values(p, NULL, x, y, step, N);
    p = svg_panel(&fig, 3, "by angle", "PC 1", "PC 2");
    svg_colour_scale(p, SVG_CYCLIC, "angle (degrees)", 0, 360);
    svg_scatter_values(p, NULL, x, y, angle, N);
    char err[RR_ERRLEN];
    CHECK(svg_write(&fig, out_path("embedding_space"), err) == RR_OK, "%s", err);
    svg_free(&fig);
    char *s = check_figure(
        out_path("embedding_space"), "Embedding space (interactive)", 4,
        (const char *[]){"PC 1", "PC 2", "m_b = -3", "m_b = 2", "accuracy", "angle (degrees)", "4000", NULL});
    if (!s) return;
    CHECK(count(s, "<g class=\"colorbar\">") == 3 && count(s, "<g class=\"legend\">") == 1, "legend and colour bars");
    /* the first name of the figure is the first class: the palette's first colour */
    CHECK(contains(s, "stroke=\"#1f77b4\" stroke-width=\"5\""), "class m_b = -3 is not drawn in #1f77b4");
    /* dots: 400 points less x[7] and y[8] everywhere, less the classes -1 and 6, less accuracy[9] */
    size_t dots = count(s, "h0");
    CHECK(dots == (N - 4) + (N - 3) + 2 * (N - 2) + 6 /* legend swatches */, "%zu dots drawn", dots);
    free(s);
}

/* More classes than the legend can hold: it ends with "+ k more". */
static void test_long_legend(void)
{
    enum { N = 90, C = 30 };
    double x[N], y[N];
    int cls[N];
    char names[C][24];
    const char *name[C];
    for (size_t i = 0; i < N; i++) x[i] = noise(i, 7), y[i] = noise(i, 8), cls[i] = (int)(i % C);
    for (int c = 0; c < C; c++) snprintf(names[c], sizeof names[c], "task %d", c), name[c] = names[c];
    SvgFigure fig;
    svg_begin(&fig, "Many tasks", 1, 1);
    svg_scatter_classes(svg_panel(&fig, 0, "by task", "PC 1", "PC 2"), x, y, cls, N, name, C);
    char err[RR_ERRLEN];
    CHECK(svg_write(&fig, out_path("long_legend"), err) == RR_OK, "%s", err);
    svg_free(&fig);
    char *s = check_figure(out_path("long_legend"), "Many tasks", 1, (const char *[]){"task 0", NULL});
    if (!s) return;
    /* (330 - 30 - 44 - 8) / 16 = 15 rows: 14 tasks and "+ 16 more" */
    CHECK(contains(s, ">task 13</text>") && !contains(s, ">task 14</text>") && contains(s, ">+ 16 more</text>"),
          "the legend is not cut after 14 entries");
    free(s);
}

static void test_bars(void)
{
    double pre[6], sup[6], pre_lo[6], pre_hi[6], sup_lo[6], sup_hi[6];
    for (int e = 0; e < 6; e++) {
        pre[e] = 0.5 + 0.07 * e, sup[e] = 0.45 + 0.05 * e;
        pre_lo[e] = pre[e] - 0.03, pre_hi[e] = pre[e] + 0.04;
        sup_lo[e] = sup[e] - 0.05, sup_hi[e] = sup[e] + 0.02;
    }
    sup_lo[3] = NAN; /* no whisker there */
    SvgFigure fig;
    svg_begin(&fig, "OOD task prediction", 1, 1);
    SvgPanel *p = svg_panel(&fig, 0, "formal languages", NULL, "accuracy");
    svg_x_categories(p, encoders, 6);
    svg_bars(p, "pretrained", pre, pre_lo, pre_hi, 6);
    svg_bars(p, "supervised", sup, sup_lo, sup_hi, 6);
    char err[RR_ERRLEN];
    CHECK(svg_write(&fig, out_path("bars"), err) == RR_OK, "%s", err);
    svg_free(&fig);
    char *s =
        check_figure(out_path("bars"), "OOD task prediction", 2,
                     (const char *[]){"accuracy", "pretrained", "supervised", "noninteractive", "0.0", "0.8", NULL});
    if (!s) return;
    CHECK(contains(s, "rotate(-40)"), "long category names are not slanted");
    CHECK(count(s, "stroke=\"#222\"") == 2, "two whisker paths");
    /* 11 whiskers, each a stem and two caps */
    size_t moves = 0;
    for (const char *w = strstr(s, "stroke=\"#222\""); w; w = strstr(w + 1, "stroke=\"#222\""))
        for (const char *q = strstr(w, " d=\""); *q && *q != '>'; q++) moves += *q == 'M';
    CHECK(moves == 33, "%zu whisker strokes, want 33", moves);
    free(s);
}

static void test_heatmaps(void)
{
    enum { L = 12, V = 6 };
    static const char *const tokens[V] = {"a", "b", "c", "d", "BOS", "EOS"};
    double probe[V * L];
    SvgFigure fig;
    svg_begin(&fig, "Learned probe inputs", 2, 1);
    for (int e = 0; e < 2; e++) {
        for (size_t i = 0; i < V * L; i++) probe[i] = noise(i, (size_t)e);
        if (e == 1) probe[5] = NAN;
        SvgPanel *p = svg_panel(&fig, e, encoders[4 + e], "probing step", "token");
        svg_y_categories(p, tokens, V);
        svg_colour_scale(p, SVG_VIRIDIS, "probability", 0, 1);
        svg_heatmap(p, probe, V, L);
    }
    char err[RR_ERRLEN];
    CHECK(svg_write(&fig, out_path("heatmaps"), err) == RR_OK, "%s", err);
    svg_free(&fig);
    char *s = check_figure(out_path("heatmaps"), "Learned probe inputs", 2,
                           (const char *[]){"probing step", "token", "BOS", "EOS", "probability", "10", NULL});
    if (!s) return;
    /* cells: 72 + 71, each one "Z"-closed rectangle; colour bars: 2 x 64 */
    size_t cells = count(s, "Z");
    CHECK(cells == 72 + 71 + 2 * 64 + 2 /* frames */ + 2 /* colour bar frames */, "%zu rectangles", cells);
    free(s);
}

static void test_cloned(void)
{
    enum { N = 20 };
    double original[N], clone[N];
    SvgFigure fig;
    svg_begin(&fig, "Cloned performance", 3, 2);
    for (int e = 0; e < 6; e++) {
        for (size_t i = 0; i < N; i++)
            original[i] = 0.05 * (double)i, clone[i] = original[i] * (0.7 + 0.3 * noise(i, (size_t)e));
        SvgPanel *p = svg_panel(&fig, e, encoders[e], "original accuracy", "clone accuracy");
        svg_include(p, 0, 1, 0, 1);
        svg_diagonal(p);
        svg_scatter(p, encoders[e], original, clone, N);
    }
    char err[RR_ERRLEN];
    CHECK(svg_write(&fig, out_path("cloned"), err) == RR_OK, "%s", err);
    svg_free(&fig);
    char *s = check_figure(out_path("cloned"), "Cloned performance", 12,
                           (const char *[]){"original accuracy", "clone accuracy", "y = x", "1.0", NULL});
    if (!s) return;
    CHECK(count(s, "stroke-dasharray=\"5 4\"") == 12, "six diagonals and their legend swatches");
    free(s);
}

/* Points beyond the categories widen the index axis; lo > hi reverses a colour scale. */
static void test_axes_and_scales(void)
{
    static const char *const three[3] = {"one", "two", "three"};
    double x[4] = {0, 1, 2, 3.5}, y[4] = {1, 3, 2, 4}, v[2] = {0, 1};
    SvgFigure fig;
    svg_begin(&fig, "Axes and scales", 2, 1);
    SvgPanel *p = svg_panel(&fig, 0, "categories", NULL, "y");
    svg_x_categories(p, three, 3);
    svg_line_marked(p, "beyond", x, y, 4);
    p = svg_panel(&fig, 1, "reversed", "x", "y");
    svg_colour_scale(p, SVG_VIRIDIS, "loss", 1, 0);
    svg_scatter_values(p, "points", x, y, v, 2);
    char err[RR_ERRLEN];
    CHECK(svg_write(&fig, out_path("axes_and_scales"), err) == RR_OK, "%s", err);
    svg_free(&fig);
    char *s = check_figure(out_path("axes_and_scales"), "Axes and scales", 2, (const char *[]){"three", "loss", NULL});
    if (!s) return;
    /* v = 0 is at the top of the reversed scale: level 63 of 64, painted at its centre */
    unsigned char top[3], bottom[3];
    char want_top[64], want_bottom[64];
    svg_colour(SVG_VIRIDIS, 63.5 / 64, top);
    svg_colour(SVG_VIRIDIS, 0.5 / 64, bottom);
    snprintf(want_top, sizeof want_top, "stroke=\"#%02x%02x%02x\" stroke-width=\"5\" stroke-linecap=\"round\" d=\"M",
             top[0], top[1], top[2]);
    snprintf(want_bottom, sizeof want_bottom,
             "stroke=\"#%02x%02x%02x\" stroke-width=\"5\" stroke-linecap=\"round\" d=\"M", bottom[0], bottom[1],
             bottom[2]);
    const char *a = strstr(s, want_top), *b = strstr(s, want_bottom);
    CHECK(a && b, "the two dots are not in the colours of the scale's ends");
    /* the dot of v = 0 (x = 0) lies left of the dot of v = 1 (x = 1) */
    double xa = 0, xb = 0;
    CHECK(a && b && sscanf(strstr(a, " d=\"M") + 5, "%lf", &xa) == 1 &&
              sscanf(strstr(b, " d=\"M") + 5, "%lf", &xb) == 1 && xa < xb,
          "the reversed scale paints v = 0 at x = %g and v = 1 at x = %g", xa, xb);
    free(s);
}

static void test_empty_and_escaped(void)
{
    double nan3[3] = {NAN, NAN, NAN}, x3[3] = {1, 2, 3};
    SvgFigure fig;
    svg_begin(&fig, "Edge cases: <&> \"quoted\" 'single'", 3, 1);
    svg_panel(&fig, 0, "empty", "x", "y");
    SvgPanel *p = svg_panel(&fig, 1, "all missing", "x", "y");
    svg_line(p, "lost", x3, nan3, 3);
    svg_line(p, "none", NULL, NULL, 0);
    p = svg_panel(&fig, 2, "a < b & c > d", "x \xff bad \x01 bytes", "y");
    svg_line_marked(p, "A&B <tag>", x3, x3, 3);
    char err[RR_ERRLEN];
    CHECK(svg_write(&fig, out_path("edge_cases"), err) == RR_OK, "%s", err);
    svg_free(&fig);
    char *s = check_figure(out_path("edge_cases"), "Edge cases: &lt;&amp;&gt; &quot;quoted&quot; &apos;single&apos;", 1,
                           (const char *[]){"a &lt; b &amp; c &gt; d", "lost (no data)", "none (no data)",
                                            "x \xef\xbf\xbd bad \xef\xbf\xbd bytes", "A&amp;B &lt;tag&gt;", NULL});
    if (!s) return;
    CHECK(count(s, ">no data</text>") == 2, "two panels without data say so");
    CHECK(!contains(s, "<tag>") && !contains(s, "\xff"), "raw text in the file");
    free(s);

    /* a directory that does not exist: an error naming the file, no file */
    SvgFigure none;
    svg_begin(&none, "x", 1, 1);
    int rc = svg_write(&none, "build/tests/no-such-dir/figure.svg", err);
    CHECK(rc == RR_ERR_OPEN && contains(err, "build/tests/no-such-dir/figure.svg"), "rc %d: %s", rc, err);
    svg_free(&none);
}

int main(void)
{
    test_xml_checker();
    test_ticks();
    test_colours();
    test_learning_curves();
    test_embedding_space();
    test_long_legend();
    test_bars();
    test_heatmaps();
    test_cloned();
    test_axes_and_scales();
    test_empty_and_escaped();
    return test_summary("test_svg");
}
