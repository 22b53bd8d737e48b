/*
 * svg.c — the figures of SPEC.md §10 as standalone SVG files: a figure title over a grid of
 * panels; each panel has a plot area framed by axes with nice ticks and labels, a title, and
 * to its right a legend and/or a colour bar. Series are kept (copied) until svg_write lays
 * the figure out and draws it.
 *
 * Every series is drawn as <g class="series"><title>name</title> one or more <path>s </g>
 * (the title is a browser's tooltip), so a reader or a test finds each series' ink. Dots are
 * zero-length path segments ("M x y h0") with round caps, and bars and heat-map cells are
 * rectangles in one path per colour, which keeps large scatters small. Coordinates are
 * pixels with one decimal. Text is escaped (& < > " '), control characters and invalid
 * UTF-8 become U+FFFD, so the file is well-formed XML whatever the labels hold.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rnnrep.h"

#define MAX_INTERVALS  6    /* at most this many tick intervals on an axis */
#define FIGURE_TITLE_H 36.0 /* the band above the panels that holds the figure title */
#define FONT_TITLE     17.0
#define FONT_PANEL     13.0
#define FONT_LABEL     12.0
#define FONT_TICK      11.0
#define FONT_LEGEND    11.0
#define LEGEND_ROW     16.0
#define DOT            5.0 /* diameter of scatter dots and line markers */
#define LEVELS         64  /* colour-mapped dots and cells are drawn in this many shades */

/* ========================================================================================
 * Colours.
 * ====================================================================================== */

/* Tableau 10, the categorical palette of matplotlib ("tab10") and d3 ("category10"). */
static const char *const palette[10] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

/* matplotlib's viridis (van der Walt and Smith, public domain) at t = 0, 1/9, .., 1. */
static const unsigned char viridis[10][3] = {
    {0x44, 0x01, 0x54}, {0x48, 0x28, 0x78}, {0x3e, 0x49, 0x89}, {0x31, 0x68, 0x8e}, {0x26, 0x82, 0x8e},
    {0x1f, 0x9e, 0x89}, {0x35, 0xb7, 0x79}, {0x6e, 0xce, 0x58}, {0xb5, 0xde, 0x2b}, {0xfd, 0xe7, 0x25}};

/* Ours, shaped like matplotlib's twilight: light at t = 0, blue at 1/4, dark at 1/2, red at 3/4,
 * and light again at 1, so opposite angles differ in lightness and quarter turns in hue; the
 * light end is darker than twilight's, so that its dots still show on white. */
static const unsigned char cyclic[9][3] = {{0xd0, 0xc4, 0xd4}, {0x93, 0xa7, 0xd0}, {0x5a, 0x6f, 0xc0},
                                           {0x40, 0x30, 0x7a}, {0x2f, 0x14, 0x36}, {0x7a, 0x2a, 0x4a},
                                           {0xb8, 0x56, 0x3f}, {0xd4, 0x9a, 0x86}, {0xd0, 0xc4, 0xd4}};

void svg_colour(SvgColourMap map, double t, unsigned char rgb[3])
{
    const unsigned char(*stops)[3] = map == SVG_CYCLIC ? cyclic : viridis;
    size_t n = map == SVG_CYCLIC ? 9 : 10;
    if (t != t) t = 0;
    if (map == SVG_CYCLIC) t -= floor(t);
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double u = t * (double)(n - 1);
    size_t i = (size_t)u;
    if (i > n - 2) i = n - 2;
    double f = u - (double)i;
    for (int c = 0; c < 3; c++) rgb[c] = (unsigned char)lround(stops[i][c] + f * (stops[i + 1][c] - stops[i][c]));
}

/* ========================================================================================
 * Ticks.
 * ====================================================================================== */

/* m x 10^e, correctly rounded (10^|e| is exact in a double for |e| <= 22). */
static double decimal(double m, int e) { return e < 0 ? m / pow(10, -e) : m * pow(10, e); }

/* Largest k with 10^k <= v (v > 0), robust to log10's rounding. */
static int decade(double v)
{
    int k = (int)floor(log10(v));
    if (decimal(1, k + 1) <= v) k++;
    if (decimal(1, k) > v) k--;
    return k;
}

static void label_linear(SvgTicks *t, int e)
{
    double maxabs = 0;
    for (size_t i = 0; i < t->n; i++) maxabs = fmax(maxabs, fabs(t->at[i]));
    for (size_t i = 0; i < t->n; i++) {
        double v = t->at[i];
        char *s = t->label[i];
        if (v == 0)
            snprintf(s, sizeof t->label[i], "0");
        else if (e < -3 || maxabs >= 1e15) {
            int E = decade(maxabs), d = E - e;
            snprintf(s, sizeof t->label[i], "%.*fe%d", d > 0 ? (d < 12 ? d : 12) : 0, v / decimal(1, E), E);
        } else if (e >= 3 && maxabs >= 1e4) {
            int mega = e >= 6;
            snprintf(s, sizeof t->label[i], "%.0f%s", v / (mega ? 1e6 : 1e3), mega ? "M" : "k");
        } else
            snprintf(s, sizeof t->label[i], "%.*f", e < 0 ? -e : 0, v);
    }
    /* a set of labels that all share decimals: "0" among "0.2", "0.4" reads better as "0.0" */
    if (e < 0 && e >= -3)
        for (size_t i = 0; i < t->n; i++)
            if (t->at[i] == 0) snprintf(t->label[i], sizeof t->label[i], "%.*f", -e, 0.0);
}

/* Linear ticks; min_step > 0 keeps the step at least that (index axes: 1). */
static void ticks_linear(double lo, double hi, int fixed, double min_step, SvgTicks *t)
{
    static const int mantissa[3] = {1, 2, 5};
    for (int e = (int)floor(log10((hi - lo) / MAX_INTERVALS)) - 1;; e++)
        for (int i = 0; i < 3; i++) {
            double s = decimal(mantissa[i], e);
            if (s < min_step) continue;
            double k0 = fixed ? ceil(lo / s - 1e-9) : floor(lo / s + 1e-9);
            double k1 = fixed ? floor(hi / s + 1e-9) : ceil(hi / s - 1e-9);
            if (k1 - k0 > MAX_INTERVALS) continue;
            t->n = 0;
            for (double k = k0; k <= k1; k++) t->at[t->n++] = decimal(mantissa[i] * k, e) + 0.0; /* no -0 */
            t->lo = fixed ? lo : t->at[0];
            t->hi = fixed ? hi : t->at[t->n - 1];
            label_linear(t, e);
            return;
        }
}

/* Log ticks from the mantissa set m[0..count) (m[0] = 1), decades stepped by stride. */
static size_t ticks_log_set(double lo, double hi, const int *m, size_t count, int stride, SvgTicks *t)
{
    int k0 = decade(lo), k1 = decade(hi);
    size_t a = 0, b = 0; /* the tick at or below lo is m[a] 10^k0; the one at or above hi, m[b] 10^k1 */
    for (size_t i = 0; i < count; i++)
        if (decimal(m[i], k0) <= lo) a = i;
    if (stride > 1) k0 -= ((k0 % stride) + stride) % stride;
    b = count;
    for (size_t i = count; i-- > 0;)
        if (decimal(m[i], k1) >= hi) b = i;
    if (b == count) b = 0, k1++;
    if (stride > 1) k1 = k0 + (k1 - k0 + stride - 1) / stride * stride;
    t->n = 0;
    for (int k = k0; k <= k1 && t->n < SVG_MAX_TICKS; k += stride)
        for (size_t i = 0; i < count && t->n < SVG_MAX_TICKS; i++) {
            if ((k == k0 && i < a) || (k == k1 && i > b)) continue;
            t->at[t->n] = decimal(m[i], k);
            if (k >= -4 && k <= 4)
                snprintf(t->label[t->n], sizeof t->label[t->n], "%.*f", k < 0 ? -k : 0, t->at[t->n]);
            else
                snprintf(t->label[t->n], sizeof t->label[t->n], "%de%d", m[i], k);
            t->n++;
        }
    t->lo = t->at[0];
    t->hi = t->at[t->n - 1];
    return t->n;
}

static void ticks_log(double lo, double hi, SvgTicks *t)
{
    static const int ones[1] = {1}, nice[3] = {1, 2, 5}, all[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    int decades = decade(hi) - decade(lo) + 1, stride = (decades + MAX_INTERVALS - 1) / MAX_INTERVALS;
    if (ticks_log_set(lo, hi, ones, 1, stride > 1 ? stride : 1, t) >= 4) return;
    if (ticks_log_set(lo, hi, nice, 3, 1, t) >= 4) return;
    ticks_log_set(lo, hi, all, 9, 1, t);
}

/* A range too narrow to tick (a constant, or below 1e-280) is widened: by 10% of its largest
 * magnitude each way (1 at zero), or x2 each way on a log axis. */
static void widen(double *lo, double *hi, int log)
{
    double big = fmax(fabs(*lo), fabs(*hi));
    if (*hi - *lo > 1e-12 * big && *hi - *lo > 1e-280) return;
    if (log) {
        *lo /= 2, *hi *= 2;
        return;
    }
    double d = big != 0 ? fmax(0.1 * big, 1e-280) : 1;
    *lo -= d, *hi += d;
}

static void ticks(double lo, double hi, int log, int fixed, double min_step, SvgTicks *t)
{
    widen(&lo, &hi, log);
    if (log)
        ticks_log(lo, hi, t);
    else
        ticks_linear(lo, hi, fixed, min_step, t);
}

void svg_ticks(double lo, double hi, int log, int fixed, SvgTicks *t) { ticks(lo, hi, log, fixed && !log, 0, t); }

/* ========================================================================================
 * The figure and its series.
 * ====================================================================================== */
typedef enum Kind { LINE, SCATTER, CLASSES, VALUES, BARS, HEATMAP, DIAGONAL } Kind;

typedef struct Series {
    Kind kind;
    char *name;           /* NULL: no legend entry */
    size_t n;             /* points, bars, or rows * cols cells */
    double *x, *y;        /* points (x NULL in a line: 0 .. n-1) */
    double *v;            /* colour values, bar heights, or the heat map's cells */
    double *lo, *hi;      /* whiskers (bars) or NULL */
    int *cls;             /* CLASSES: class of each point */
    char **class_names;   /* CLASSES: names of the classes */
    size_t *class_colour; /* CLASSES: palette index of each class */
    size_t classes;
    size_t rows, cols; /* HEATMAP */
    size_t colour;     /* palette index */
    int marked;        /* LINE: a dot at every point */
} Series;

struct SvgPanel {
    SvgFigure *fig;
    int used;
    char *title, *xlabel, *ylabel;
    int log_y;
    double include[4]; /* x0, x1, y0, y1; NaN: none */
    char **xcat, **ycat;
    size_t nxcat, nycat;
    int scale_set;
    SvgColourMap map;
    char *scale_label;
    double vlo, vhi;
    Series *series;
    size_t count, cap;
};

static char *copy_string(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    return memcpy(rr_malloc(n, "svg text"), s, n);
}

static double *copy_doubles(const double *src, size_t n)
{
    if (!src) return NULL;
    if (n > SIZE_MAX / sizeof(double)) rr_fatal("svg: %zu values do not fit in memory", n);
    return memcpy(rr_malloc(n * sizeof(double), "svg series"), src, n * sizeof(double));
}

static char **copy_strings(const char *const *names, size_t n)
{
    char **c = rr_calloc(n, sizeof *c, "svg names");
    for (size_t i = 0; i < n; i++) c[i] = copy_string(names[i] ? names[i] : "");
    return c;
}

static void free_strings(char **s, size_t n)
{
    for (size_t i = 0; s && i < n; i++) free(s[i]);
    free(s);
}

/* The palette index of a name: its rank among the figure's distinct names. */
static size_t colour_of(SvgFigure *fig, const char *name)
{
    if (!name) name = "";
    for (size_t i = 0; i < fig->name_count; i++)
        if (!strcmp(fig->names[i], name)) return i;
    char **grown = realloc(fig->names, (fig->name_count + 1) * sizeof *grown);
    if (!grown) rr_fatal("out of memory growing a figure's names");
    fig->names = grown;
    fig->names[fig->name_count] = copy_string(name);
    return fig->name_count++;
}

void svg_begin(SvgFigure *fig, const char *title, int cols, int rows)
{
    if (cols < 1 || rows < 1 || cols > 64 || rows > 64) rr_fatal("svg_begin: a %d x %d grid of panels", cols, rows);
    memset(fig, 0, sizeof *fig);
    fig->title = copy_string(title ? title : "");
    fig->cols = cols, fig->rows = rows;
    fig->panel_width = 440, fig->panel_height = 330;
    fig->panels = rr_calloc((size_t)cols * (size_t)rows, sizeof *fig->panels, "svg panels");
}

static void free_series(Series *s)
{
    free(s->name);
    free(s->x), free(s->y), free(s->v), free(s->lo), free(s->hi), free(s->cls);
    free_strings(s->class_names, s->classes);
    free(s->class_colour);
}

void svg_free(SvgFigure *fig)
{
    for (int i = 0; fig->panels && i < fig->cols * fig->rows; i++) {
        SvgPanel *p = &fig->panels[i];
        free(p->title), free(p->xlabel), free(p->ylabel), free(p->scale_label);
        free_strings(p->xcat, p->nxcat);
        free_strings(p->ycat, p->nycat);
        for (size_t k = 0; k < p->count; k++) free_series(&p->series[k]);
        free(p->series);
    }
    free(fig->panels);
    free_strings(fig->names, fig->name_count);
    free(fig->title);
    memset(fig, 0, sizeof *fig);
}

SvgPanel *svg_panel(SvgFigure *fig, int index, const char *title, const char *xlabel, const char *ylabel)
{
    if (index < 0 || index >= fig->cols * fig->rows)
        rr_fatal("svg_panel: panel %d of a %d x %d grid", index, fig->cols, fig->rows);
    SvgPanel *p = &fig->panels[index];
    if (!p->used) {
        p->fig = fig;
        p->used = 1;
        for (int i = 0; i < 4; i++) p->include[i] = NAN;
    }
    free(p->title), free(p->xlabel), free(p->ylabel);
    p->title = copy_string(title), p->xlabel = copy_string(xlabel), p->ylabel = copy_string(ylabel);
    return p;
}

void svg_log_y(SvgPanel *p) { p->log_y = 1; }

void svg_include(SvgPanel *p, double x0, double x1, double y0, double y1)
{
    double b[4] = {x0, x1, y0, y1};
    for (int i = 0; i < 4; i++)
        if (b[i] == b[i]) p->include[i] = b[i];
}

void svg_x_categories(SvgPanel *p, const char *const *names, size_t n)
{
    free_strings(p->xcat, p->nxcat);
    p->xcat = copy_strings(names, n), p->nxcat = n;
}

void svg_y_categories(SvgPanel *p, const char *const *names, size_t n)
{
    free_strings(p->ycat, p->nycat);
    p->ycat = copy_strings(names, n), p->nycat = n;
}

void svg_colour_scale(SvgPanel *p, SvgColourMap map, const char *label, double lo, double hi)
{
    free(p->scale_label);
    p->scale_set = 1, p->map = map, p->scale_label = copy_string(label), p->vlo = lo, p->vhi = hi;
}

static Series *add_series(SvgPanel *p, Kind kind, const char *name, size_t n)
{
    if (p->count == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 8;
        Series *grown = realloc(p->series, p->cap * sizeof *grown);
        if (!grown) rr_fatal("out of memory growing a panel's series");
        p->series = grown;
    }
    Series *s = &p->series[p->count++];
    memset(s, 0, sizeof *s);
    s->kind = kind, s->name = copy_string(name), s->n = n;
    if (kind == LINE || kind == SCATTER || kind == BARS) s->colour = colour_of(p->fig, name);
    return s;
}

static void add_line(SvgPanel *p, const char *name, const double *x, const double *y, size_t n, int marked)
{
    Series *s = add_series(p, LINE, name, n);
    s->x = copy_doubles(x, n), s->y = copy_doubles(y, n), s->marked = marked;
}

void svg_line(SvgPanel *p, const char *name, const double *x, const double *y, size_t n)
{
    add_line(p, name, x, y, n, 0);
}
void svg_line_marked(SvgPanel *p, const char *name, const double *x, const double *y, size_t n)
{
    add_line(p, name, x, y, n, 1);
}

void svg_scatter(SvgPanel *p, const char *name, const double *x, const double *y, size_t n)
{
    Series *s = add_series(p, SCATTER, name, n);
    s->x = copy_doubles(x, n), s->y = copy_doubles(y, n);
}

void svg_scatter_classes(SvgPanel *p, const double *x, const double *y, const int *cls, size_t n,
                         const char *const *class_names, size_t classes)
{
    Series *s = add_series(p, CLASSES, NULL, n);
    s->x = copy_doubles(x, n), s->y = copy_doubles(y, n);
    s->cls = rr_calloc(n, sizeof *s->cls, "svg classes");
    if (n) memcpy(s->cls, cls, n * sizeof *s->cls);
    s->class_names = copy_strings(class_names, classes), s->classes = classes;
    s->class_colour = rr_calloc(classes, sizeof *s->class_colour, "svg classes");
    for (size_t c = 0; c < classes; c++) s->class_colour[c] = colour_of(p->fig, s->class_names[c]);
}

void svg_scatter_values(SvgPanel *p, const char *name, const double *x, const double *y, const double *v, size_t n)
{
    Series *s = add_series(p, VALUES, name, n);
    s->x = copy_doubles(x, n), s->y = copy_doubles(y, n), s->v = copy_doubles(v, n);
}

void svg_bars(SvgPanel *p, const char *name, const double *value, const double *lo, const double *hi, size_t n)
{
    Series *s = add_series(p, BARS, name, n);
    s->v = copy_doubles(value, n);
    if (lo && hi) s->lo = copy_doubles(lo, n), s->hi = copy_doubles(hi, n);
}

void svg_heatmap(SvgPanel *p, const double *values, size_t rows, size_t cols)
{
    if (cols && rows > SIZE_MAX / cols) rr_fatal("svg_heatmap: %zu x %zu cells", rows, cols);
    Series *s = add_series(p, HEATMAP, NULL, rows * cols);
    s->v = copy_doubles(values, rows * cols), s->rows = rows, s->cols = cols;
}

void svg_diagonal(SvgPanel *p) { add_series(p, DIAGONAL, "y = x", 0); }

/* ========================================================================================
 * Layout: ranges, axes and the places of things.
 * ====================================================================================== */
typedef struct Axis {
    double lo, hi; /* data values at p0 and p1 */
    double p0, p1; /* pixels */
    int log;
    SvgTicks t;   /* numeric ticks, or */
    char **names; /* category names at 0 .. n-1 */
    size_t names_n;
} Axis;

static double axis_px(const Axis *a, double v)
{
    double u = a->log ? (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo)) : (v - a->lo) / (a->hi - a->lo);
    return a->p0 + u * (a->p1 - a->p0);
}

typedef struct Range {
    double lo, hi;
} Range;

/* The values that are drawn: within +-1e300 (so that ranges and steps stay finite), and on a
 * log axis at least 1e-300; NaN and infinities never. */
static int usable(double v, int log) { return log ? v >= 1e-300 && v <= 1e300 : v >= -1e300 && v <= 1e300; }

static void extend(Range *r, double v, int log)
{
    if (!usable(v, log)) return;
    if (v < r->lo) r->lo = v;
    if (v > r->hi) r->hi = v;
}

/* Whether point i of a point series, bar i, its whisker, or cell i is drawn. */
static int point_drawn(const Series *s, size_t i, int log_y)
{
    if (!usable(s->x ? s->x[i] : (double)i, 0) || !usable(s->y[i], log_y)) return 0; /* x_of, below */
    if (s->kind == CLASSES && (s->cls[i] < 0 || (size_t)s->cls[i] >= s->classes)) return 0;
    return s->kind != VALUES || usable(s->v[i], 0);
}
static int bar_drawn(const Series *s, size_t i, int log_y) { return usable(s->v[i], log_y); }
static int whisker_drawn(const Series *s, size_t i, int log_y)
{
    return s->lo && usable(s->lo[i], log_y) && usable(s->hi[i], log_y);
}
static int cell_drawn(const Series *s, size_t i) { return usable(s->v[i], 0); }

/* How many things of s are drawn: points, bars or cells (the diagonal counts as 1). */
static size_t drawn(const Series *s, int log_y)
{
    size_t count = 0;
    if (s->kind == DIAGONAL) return 1;
    for (size_t i = 0; i < s->n; i++)
        count += s->kind == BARS      ? bar_drawn(s, i, log_y)
                 : s->kind == HEATMAP ? cell_drawn(s, i)
                                      : point_drawn(s, i, log_y);
    return count;
}

/* Text width in pixels, estimated from the count of characters (code points): a sans-serif
 * character is about 0.55 em wide on average (digits 0.56, lower case less, capitals more). */
#define EM_PER_CHAR 0.55
static double text_width(const char *s, double size)
{
    size_t n = 0;
    for (; s && *s; s++) n += ((unsigned char)*s & 0xc0) != 0x80;
    return EM_PER_CHAR * size * (double)n;
}

typedef struct LegendEntry {
    const char *label;
    Kind kind; /* swatch: a line, a dot, a square, a dashed line */
    size_t colour;
    int marked, empty;
} LegendEntry;

typedef struct Layout {
    Axis x, y;
    int index_x, index_y; /* category or cell axes */
    int no_data;
    int slanted;                     /* x category names at a slant */
    double cell_x, cell_y;           /* top-left of the panel's grid cell */
    double left, top, right, bottom; /* the plot area */
    LegendEntry *legend;
    size_t legend_n, legend_shown; /* entries, and how many fit */
    double legend_w;
    int colour_bar;
    SvgColourMap map;
    double vlo, vhi;
    SvgTicks vt;     /* colour bar ticks */
    double column_x; /* left of the legend / colour bar column */
} Layout;

static double ticks_width(const SvgTicks *t, double size)
{
    double w = 0;
    for (size_t i = 0; i < t->n; i++) w = fmax(w, text_width(t->label[i], size));
    return w;
}

static double names_width(char **names, size_t n, double size)
{
    double w = 0;
    for (size_t i = 0; i < n; i++) w = fmax(w, text_width(names[i], size));
    return w;
}

/* An index axis spans [-0.5, n - 0.5] and the points r on it: ticks at its names, or at nice
 * integers. */
static void index_axis(Axis *a, size_t n, Range r, char **names, size_t names_n)
{
    a->lo = fmin(-0.5, r.lo - 0.5), a->hi = fmax((double)(n ? n : 1) - 0.5, r.hi + 0.5);
    a->names = names, a->names_n = names_n;
    if (!names_n) ticks(a->lo, a->hi, 0, 1, 1, &a->t);
}

static void layout_panel(const SvgFigure *fig, const SvgPanel *p, int index, Layout *L)
{
    memset(L, 0, sizeof *L);
    Range xr = {INFINITY, -INFINITY}, yr = {INFINITY, -INFINITY}, vr = {INFINITY, -INFINITY};
    size_t nx = p->nxcat, ny = p->nycat, bars = 0, total = 0;
    int diagonal = 0;
    for (size_t k = 0; k < p->count; k++) {
        const Series *s = &p->series[k];
        total += s->kind == DIAGONAL ? 0 : drawn(s, p->log_y);
        switch (s->kind) {
        case BARS:
            bars++;
            if (s->n > nx) nx = s->n;
            extend(&yr, 0, p->log_y);
            for (size_t i = 0; i < s->n; i++) {
                extend(&yr, s->v[i], p->log_y);
                if (whisker_drawn(s, i, p->log_y)) extend(&yr, s->lo[i], p->log_y), extend(&yr, s->hi[i], p->log_y);
            }
            break;
        case HEATMAP:
            if (s->cols > nx) nx = s->cols;
            if (s->rows > ny) ny = s->rows;
            for (size_t i = 0; i < s->n; i++) extend(&vr, s->v[i], 0);
            break;
        case DIAGONAL: diagonal = 1; break;
        default:
            for (size_t i = 0; i < s->n; i++) {
                if (!point_drawn(s, i, p->log_y)) continue;
                extend(&xr, s->x ? s->x[i] : (double)i, 0), extend(&yr, s->y[i], p->log_y);
                if (s->kind == VALUES) extend(&vr, s->v[i], 0);
            }
        }
        if (s->kind == HEATMAP || s->kind == VALUES) L->colour_bar = 1;
    }
    L->no_data = total == 0;
    for (int i = 0; i < 2; i++) {
        extend(&xr, p->include[i], 0);
        extend(&yr, p->include[2 + i], p->log_y);
    }
    if (diagonal && !p->log_y && xr.lo <= xr.hi && yr.lo <= yr.hi) {
        xr.lo = yr.lo = fmin(xr.lo, yr.lo);
        xr.hi = yr.hi = fmax(xr.hi, yr.hi);
    }

    L->index_x = nx > 0 || bars > 0;
    L->index_y = ny > 0;
    if (L->index_x)
        index_axis(&L->x, nx, xr, p->xcat, p->nxcat);
    else {
        if (xr.lo > xr.hi) xr.lo = 0, xr.hi = 1;
        ticks(xr.lo, xr.hi, 0, 0, 0, &L->x.t);
        L->x.lo = L->x.t.lo, L->x.hi = L->x.t.hi;
    }
    if (L->index_y)
        index_axis(&L->y, ny, yr, p->ycat, p->nycat);
    else {
        L->y.log = p->log_y;
        if (yr.lo > yr.hi) yr.lo = p->log_y ? 0.1 : 0, yr.hi = 1;
        ticks(yr.lo, yr.hi, p->log_y, 0, 0, &L->y.t);
        L->y.lo = L->y.t.lo, L->y.hi = L->y.t.hi;
    }

    if (L->colour_bar) {
        L->map = p->scale_set ? p->map : SVG_VIRIDIS;
        L->vlo = p->scale_set && usable(p->vlo, 0) ? p->vlo : vr.lo;
        L->vhi = p->scale_set && usable(p->vhi, 0) ? p->vhi : vr.hi;
        if (!usable(L->vlo, 0) || !usable(L->vhi, 0)) L->vlo = 0, L->vhi = 1; /* no values at all */
        double lo = fmin(L->vlo, L->vhi), hi = fmax(L->vlo, L->vhi);          /* lo > hi reverses the map */
        widen(&lo, &hi, 0);
        if (L->vlo <= L->vhi)
            L->vlo = lo, L->vhi = hi;
        else
            L->vlo = hi, L->vhi = lo;
        ticks(lo, hi, 0, 1, 0, &L->vt);
    }

    /* the legend: named series, the classes that occur */
    size_t entries = 0;
    for (size_t k = 0; k < p->count; k++) entries += p->series[k].kind == CLASSES ? p->series[k].classes : 1;
    L->legend = rr_calloc(entries, sizeof *L->legend, "svg legend");
    for (size_t k = 0; k < p->count; k++) {
        const Series *s = &p->series[k];
        if (s->kind == CLASSES) {
            for (size_t c = 0; c < s->classes; c++) {
                size_t i = 0;
                while (i < s->n && !(s->cls[i] == (int)c && point_drawn(s, i, p->log_y))) i++;
                if (i < s->n)
                    L->legend[L->legend_n++] = (LegendEntry){s->class_names[c], SCATTER, s->class_colour[c], 0, 0};
            }
        } else if (s->name && *s->name && s->kind != HEATMAP)
            L->legend[L->legend_n++] = (LegendEntry){s->name, s->kind, s->colour, s->marked, drawn(s, p->log_y) == 0};
    }

    /* the places: the cell, then margins for titles, tick labels, axis labels and the column */
    double W = fig->panel_width, H = fig->panel_height;
    L->cell_x = (index % fig->cols) * W;
    L->cell_y = FIGURE_TITLE_H + (index / fig->cols) * H;
    double ytick_w = L->y.names_n ? names_width(L->y.names, L->y.names_n, FONT_TICK) : ticks_width(&L->y.t, FONT_TICK);
    L->left = L->cell_x + 10 + (p->ylabel && *p->ylabel ? 20 : 0) + fmin(ytick_w, 0.3 * W) + 8;
    L->top = L->cell_y + (p->title && *p->title ? 30 : 12);
    double column = 0, label_max = fmin(0.3 * W, 200);
    for (size_t i = 0; i < L->legend_n; i++) {
        double w = text_width(L->legend[i].label, FONT_LEGEND) +
                   (L->legend[i].empty ? text_width(" (no data)", FONT_LEGEND) : 0);
        L->legend_w = fmax(L->legend_w, 28 + fmin(w, label_max));
    }
    column = L->legend_w;
    if (L->colour_bar)
        column = fmax(column, 14 + 6 + ticks_width(&L->vt, FONT_TICK) + (p->scale_label && *p->scale_label ? 22 : 0));
    double xtick_last = L->x.names_n || !L->x.t.n ? 0 : text_width(L->x.t.label[L->x.t.n - 1], FONT_TICK) / 2;
    L->right = L->cell_x + W - (column > 0 ? column + 22 : fmax(14, xtick_last + 6));
    L->column_x = L->right + 14;
    double below = 24 + (p->xlabel && *p->xlabel ? 20 : 0);
    if (L->x.names_n) {
        double slot = (L->right - L->left) / (double)L->x.names_n,
               names_w = names_width(L->x.names, L->x.names_n, FONT_TICK);
        L->slanted = names_w > slot - 6;
        if (L->slanted) below += fmin(names_w, 0.35 * H) * 0.643 + 2; /* sin 40 degrees */
    }
    L->bottom = L->cell_y + H - below;
    L->x.p0 = L->left, L->x.p1 = L->right;
    if (L->index_y)
        L->y.p0 = L->top, L->y.p1 = L->bottom; /* row 0 at the top */
    else
        L->y.p0 = L->bottom, L->y.p1 = L->top;
    double room = L->bottom - L->top - (L->colour_bar ? 80 : 0);
    L->legend_shown = L->legend_n;
    if ((double)L->legend_n * LEGEND_ROW + 8 > room) {
        size_t fit = room > 8 + 2 * LEGEND_ROW ? (size_t)((room - 8) / LEGEND_ROW) : 1;
        L->legend_shown = fit - 1; /* and a "+ k more" row */
    }
}

/* ========================================================================================
 * Writing.
 * ====================================================================================== */

/* A pixel coordinate with one decimal, without a trailing ".0" or a "-0". */
static void num(FILE *f, double v)
{
    char b[32];
    snprintf(b, sizeof b, "%.1f", v);
    size_t n = strlen(b);
    if (n > 2 && !strcmp(b + n - 2, ".0")) b[n - 2] = 0;
    fputs(strcmp(b, "-0") ? b : "0", f);
}

/* Path commands: "M x y" (or L), and "H x" (or V, h, v) */
static void point(FILE *f, const char *command, double x, double y)
{
    fputs(command, f);
    num(f, x);
    fputc(' ', f);
    num(f, y);
}

static void step(FILE *f, const char *command, double v)
{
    fputs(command, f);
    num(f, v);
}

/* XML text or attribute value; at most max_chars code points (then "…"). */
static void escaped(FILE *f, const char *s, size_t max_chars)
{
    static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    for (size_t chars = 0; *u; chars++) {
        if (chars == max_chars) {
            fputs("\xe2\x80\xa6", f);
            return;
        }
        unsigned char c = *u;
        switch (c) {
        case '&': fputs("&amp;", f), u++; continue;
        case '<': fputs("&lt;", f), u++; continue;
        case '>': fputs("&gt;", f), u++; continue;
        case '"': fputs("&quot;", f), u++; continue;
        case '\'': fputs("&apos;", f), u++; continue;
        }
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                fputs(replacement, f);
            else
                fputc(c, f);
            u++;
            continue;
        }
        /* a UTF-8 sequence: lead byte, continuation bytes, no overlong form, surrogate or > U+10FFFF */
        size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        int ok = len > 0;
        for (size_t i = 1; ok && i < len; i++) ok = (u[i] & 0xc0) == 0x80;
        if (ok && len == 3) ok = !(c == 0xe0 && u[1] < 0xa0) && !(c == 0xed && u[1] >= 0xa0);
        if (ok && len == 4) ok = !(c == 0xf0 && u[1] < 0x90) && !(c == 0xf4 && u[1] >= 0x90);
        if (ok)
            fwrite(u, 1, len, f), u += len;
        else
            fputs(replacement, f), u++;
    }
}

/* <text x y font-size [anchor] [extra]>s</text> */
static void text(FILE *f, double x, double y, double size, const char *anchor, const char *extra, const char *s,
                 size_t max_chars)
{
    fputs("<text x=\"", f);
    num(f, x);
    fputs("\" y=\"", f);
    num(f, y);
    fprintf(f, "\" font-size=\"%g\"", size);
    if (anchor) fprintf(f, " text-anchor=\"%s\"", anchor);
    if (extra) fprintf(f, " %s", extra);
    fputc('>', f);
    escaped(f, s, max_chars);
    fputs("</text>\n", f);
}

/* Vertical text centred on (x, y), reading upwards (y labels) or downwards (colour bars). */
static void text_vertical(FILE *f, double x, double y, double size, int upwards, const char *s, size_t max_chars)
{
    fprintf(f, "<text transform=\"translate(");
    num(f, x);
    fputc(',', f);
    num(f, y);
    fprintf(f, ") rotate(%d)\" font-size=\"%g\" text-anchor=\"middle\">", upwards ? -90 : 90, size);
    escaped(f, s, max_chars);
    fputs("</text>\n", f);
}

static void series_open(FILE *f, const char *title)
{
    fputs("<g class=\"series\"><title>", f);
    escaped(f, title, 200);
    fputs("</title>\n", f);
}

/* A path of dots ("M x y h0" each, round caps) in one colour. */
static void dots_open(FILE *f, const char *colour, double diameter)
{
    fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"%g\" stroke-linecap=\"round\" d=\"", colour, diameter);
}

static void dot(FILE *f, double x, double y)
{
    point(f, "M", x, y);
    fputs("h0", f);
}

static void rect(FILE *f, double x0, double y0, double x1, double y1)
{
    point(f, "M", x0, y0);
    step(f, "H", x1);
    step(f, "V", y1);
    step(f, "H", x0);
    fputs("Z", f);
}

static void hex(char out[8], SvgColourMap map, double t)
{
    unsigned char rgb[3];
    svg_colour(map, t, rgb);
    snprintf(out, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

/* The colour level (0 .. LEVELS-1) of value v on the layout's colour scale. */
static int level(const Layout *L, double v)
{
    double t = (v - L->vlo) / (L->vhi - L->vlo);
    if (L->map == SVG_CYCLIC) t -= floor(t);
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    int k = (int)floor(t * LEVELS);
    return k < LEVELS ? k : LEVELS - 1;
}

/* Level k is painted with the colour at its centre. */
static double level_t(int k) { return (k + 0.5) / LEVELS; }

static double x_of(const Series *s, size_t i) { return s->x ? s->x[i] : (double)i; }

/* The dots of a series are drawn in groups of one colour: its class, its colour level, or one. */
static size_t dot_group(const Layout *L, const Series *s, size_t i)
{
    return s->kind == CLASSES ? (size_t)s->cls[i] : s->kind == VALUES ? (size_t)level(L, s->v[i]) : 0;
}

static void draw_points(FILE *f, const Layout *L, const Series *s, int log_y)
{
    if (s->kind == LINE) {
        fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" stroke-linejoin=\"round\" d=\"",
                palette[s->colour % 10]);
        int pen = 0; /* a point that is not drawn lifts the pen */
        for (size_t i = 0; i < s->n; i++) {
            int drawn_here = point_drawn(s, i, log_y);
            if (drawn_here) point(f, pen ? "L" : "M", axis_px(&L->x, x_of(s, i)), axis_px(&L->y, s->y[i]));
            pen = drawn_here;
        }
        fputs("\"/>\n", f);
        if (!s->marked) return;
    }
    size_t groups = s->kind == CLASSES ? s->classes : s->kind == VALUES ? LEVELS : 1;
    for (size_t g = 0; g < groups; g++) {
        int open = 0;
        for (size_t i = 0; i < s->n; i++) {
            if (!point_drawn(s, i, log_y) || dot_group(L, s, i) != g) continue;
            if (!open) {
                char colour[8];
                if (s->kind == VALUES)
                    hex(colour, L->map, level_t((int)g));
                else
                    snprintf(colour, sizeof colour, "%s",
                             palette[(s->kind == CLASSES ? s->class_colour[g] : s->colour) % 10]);
                dots_open(f, colour, DOT);
                open = 1;
            }
            dot(f, axis_px(&L->x, x_of(s, i)), axis_px(&L->y, s->y[i]));
        }
        if (open) fputs("\"/>\n", f);
    }
}

static void draw_bars(FILE *f, const Layout *L, const Series *s, size_t rank, size_t bars, int log_y)
{
    double width = 0.8 / (double)bars, base = log_y ? L->y.lo : 0;
    fprintf(f, "<path fill=\"%s\" d=\"", palette[s->colour % 10]);
    for (size_t i = 0; i < s->n; i++) {
        if (!bar_drawn(s, i, log_y)) continue;
        double x0 = (double)i - 0.4 + (double)rank * width;
        rect(f, axis_px(&L->x, x0), axis_px(&L->y, base), axis_px(&L->x, x0 + width), axis_px(&L->y, s->v[i]));
    }
    fputs("\"/>\n", f);
    if (!s->lo) return;
    int any = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!whisker_drawn(s, i, log_y)) continue;
        if (!any) fputs("<path fill=\"none\" stroke=\"#222\" stroke-width=\"1.2\" d=\"", f);
        any = 1;
        double xc = axis_px(&L->x, (double)i - 0.4 + ((double)rank + 0.5) * width);
        double cap = fmin(5, 0.25 * fabs(axis_px(&L->x, width) - axis_px(&L->x, 0)));
        double y0 = axis_px(&L->y, s->lo[i]), y1 = axis_px(&L->y, s->hi[i]);
        point(f, "M", xc, y0);
        step(f, "V", y1);
        point(f, "M", xc - cap, y0);
        step(f, "H", xc + cap);
        point(f, "M", xc - cap, y1);
        step(f, "H", xc + cap);
    }
    if (any) fputs("\"/>\n", f);
}

static void draw_heatmap(FILE *f, const Layout *L, const Series *s)
{
    int *levels = rr_malloc(s->n * sizeof *levels, "svg heat map");
    for (size_t i = 0; i < s->n; i++) levels[i] = cell_drawn(s, i) ? level(L, s->v[i]) : -1;
    fputs("<g shape-rendering=\"crispEdges\">\n", f);
    for (int g = 0; g < LEVELS; g++) {
        int any = 0;
        for (size_t i = 0; i < s->n; i++) {
            if (levels[i] != g) continue;
            if (!any) {
                char colour[8];
                hex(colour, L->map, level_t(g));
                fprintf(f, "<path fill=\"%s\" d=\"", colour);
                any = 1;
            }
            double r = (double)(i / s->cols), c = (double)(i % s->cols);
            rect(f, axis_px(&L->x, c - 0.5), axis_px(&L->y, r - 0.5), axis_px(&L->x, c + 0.5), axis_px(&L->y, r + 0.5));
        }
        if (any) fputs("\"/>\n", f);
    }
    fputs("</g>\n", f);
    free(levels);
}

/* y = x over the part of the plot where both axes hold v (sampled, in case y is logarithmic). */
static void draw_diagonal(FILE *f, const Layout *L)
{
    double lo = fmax(L->x.lo, L->y.lo), hi = fmin(L->x.hi, L->y.hi);
    int steps = L->y.log ? 48 : 1;
    fputs("<path fill=\"none\" stroke=\"#888\" stroke-width=\"1\" stroke-dasharray=\"5 4\" d=\"", f);
    for (int i = 0; i <= steps; i++) {
        double v = lo + (hi - lo) * i / steps;
        point(f, i ? "L" : "M", axis_px(&L->x, v), axis_px(&L->y, v));
    }
    fputs("\"/>\n", f);
}

static int diagonal_visible(const Layout *L) { return fmax(L->x.lo, L->y.lo) < fmin(L->x.hi, L->y.hi); }

/* Light lines at the numeric ticks, under the data. */
static void draw_grid(FILE *f, const Layout *L)
{
    if (L->index_y) return;
    fputs("<path fill=\"none\" stroke=\"#e6e6e6\" stroke-width=\"1\" d=\"", f);
    if (!L->index_x)
        for (size_t i = 0; i < L->x.t.n; i++) {
            point(f, "M", axis_px(&L->x, L->x.t.at[i]), L->top);
            step(f, "V", L->bottom);
        }
    for (size_t i = 0; i < L->y.t.n; i++) {
        point(f, "M", L->left, axis_px(&L->y, L->y.t.at[i]));
        step(f, "H", L->right);
    }
    fputs("\"/>\n", f);
}

/* Every k-th category name is written, k keeping min_px between them. */
static size_t name_stride(const Axis *a, double min_px)
{
    double slot = fabs(a->p1 - a->p0) / (double)(a->hi - a->lo);
    return slot >= min_px ? 1 : (size_t)ceil(min_px / slot);
}

static void draw_axes(FILE *f, const SvgFigure *fig, const SvgPanel *p, const Layout *L)
{
    fputs("<g class=\"axis\" fill=\"#333\">\n<path fill=\"none\" stroke=\"#444\" stroke-width=\"1\" d=\"", f);
    rect(f, L->left, L->top, L->right, L->bottom);
    size_t nx = L->x.names_n ? L->x.names_n : L->x.t.n, ny = L->y.names_n ? L->y.names_n : L->y.t.n;
    size_t sx = L->x.names_n ? name_stride(&L->x, 12) : 1, sy = L->y.names_n ? name_stride(&L->y, 12) : 1;
    for (size_t i = 0; i < nx; i += sx) {
        point(f, "M", axis_px(&L->x, L->x.names_n ? (double)i : L->x.t.at[i]), L->bottom);
        fputs("v4", f);
    }
    for (size_t i = 0; i < ny; i += sy) {
        point(f, "M", L->left, axis_px(&L->y, L->y.names_n ? (double)i : L->y.t.at[i]));
        fputs("h-4", f);
    }
    fputs("\"/>\n", f);
    for (size_t i = 0; i < nx; i += sx) {
        double x = axis_px(&L->x, L->x.names_n ? (double)i : L->x.t.at[i]);
        if (!L->x.names_n)
            text(f, x, L->bottom + 16, FONT_TICK, "middle", NULL, L->x.t.label[i], 24);
        else if (!L->slanted)
            text(f, x, L->bottom + 16, FONT_TICK, "middle", NULL, L->x.names[i], 40);
        else {
            fputs("<text transform=\"translate(", f);
            num(f, x + 3);
            fputc(',', f);
            num(f, L->bottom + 12);
            fprintf(f, ") rotate(-40)\" font-size=\"%g\" text-anchor=\"end\">", FONT_TICK);
            escaped(f, L->x.names[i], (size_t)(0.35 * fig->panel_height / (EM_PER_CHAR * FONT_TICK)));
            fputs("</text>\n", f);
        }
    }
    for (size_t i = 0; i < ny; i += sy) {
        double y = axis_px(&L->y, L->y.names_n ? (double)i : L->y.t.at[i]) + 0.35 * FONT_TICK;
        text(f, L->left - 7, y, FONT_TICK, "end", NULL, L->y.names_n ? L->y.names[i] : L->y.t.label[i],
             (size_t)(0.3 * fig->panel_width / (EM_PER_CHAR * FONT_TICK)));
    }
    fputs("</g>\n", f);
    double below = L->cell_y + fig->panel_height - 10;
    if (p->xlabel && *p->xlabel) text(f, (L->left + L->right) / 2, below, FONT_LABEL, "middle", NULL, p->xlabel, 80);
    if (p->ylabel && *p->ylabel)
        text_vertical(f, L->cell_x + 10 + 12, (L->top + L->bottom) / 2, FONT_LABEL, 1, p->ylabel, 60);
    if (p->title && *p->title)
        text(f, (L->left + L->right) / 2, L->top - 11, FONT_PANEL, "middle", "font-weight=\"bold\"", p->title, 70);
}

static void draw_legend(FILE *f, const Layout *L, double label_chars)
{
    if (!L->legend_n) return;
    fputs("<g class=\"legend\">\n", f);
    double x = L->column_x;
    for (size_t i = 0; i < L->legend_shown; i++) {
        const LegendEntry *e = &L->legend[i];
        double y = L->top + 4 + ((double)i + 0.5) * LEGEND_ROW;
        const char *colour = palette[e->colour % 10];
        switch (e->kind) {
        case LINE:
            fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\" d=\"", colour);
            point(f, "M", x, y);
            fputs("h20\"/>\n", f);
            if (e->marked) {
                dots_open(f, colour, DOT);
                dot(f, x + 10, y);
                fputs("\"/>\n", f);
            }
            break;
        case DIAGONAL:
            fputs("<path fill=\"none\" stroke=\"#888\" stroke-width=\"1\" stroke-dasharray=\"5 4\" d=\"", f);
            point(f, "M", x, y);
            fputs("h20\"/>\n", f);
            break;
        case BARS:
            fprintf(f, "<path fill=\"%s\" d=\"", colour);
            rect(f, x + 4, y - 5, x + 16, y + 5);
            fputs("\"/>\n", f);
            break;
        default:
            dots_open(f, e->kind == VALUES ? "#555" : colour, DOT + 1);
            dot(f, x + 10, y);
            fputs("\"/>\n", f);
        }
        fputs("<text x=\"", f);
        num(f, x + 26);
        fputs("\" y=\"", f);
        num(f, y + 0.35 * FONT_LEGEND);
        fprintf(f, "\" font-size=\"%g\">", FONT_LEGEND);
        escaped(f, e->label, (size_t)label_chars);
        if (e->empty) fputs(" (no data)", f);
        fputs("</text>\n", f);
    }
    if (L->legend_shown < L->legend_n) {
        char more[48];
        snprintf(more, sizeof more, "+ %zu more", L->legend_n - L->legend_shown);
        text(f, x + 26, L->top + 4 + ((double)L->legend_shown + 0.5) * LEGEND_ROW + 0.35 * FONT_LEGEND, FONT_LEGEND,
             NULL, NULL, more, 40);
    }
    fputs("</g>\n", f);
}

static void draw_colour_bar(FILE *f, const SvgPanel *p, const Layout *L)
{
    if (!L->colour_bar) return;
    double x = L->column_x, w = 14, bottom = L->bottom;
    double top = L->legend_n
                     ? L->top + 4 + (double)(L->legend_shown + (L->legend_shown < L->legend_n)) * LEGEND_ROW + 14
                     : L->top;
    Axis bar = {L->vlo, L->vhi, bottom, top, 0, L->vt, NULL, 0};
    fputs("<g class=\"colorbar\">\n<g shape-rendering=\"crispEdges\">\n", f);
    for (int k = 0; k < LEVELS; k++) {
        char colour[8];
        hex(colour, L->map, level_t(k));
        fprintf(f, "<path fill=\"%s\" d=\"", colour);
        rect(f, x, bottom + (top - bottom) * k / LEVELS, x + w, bottom + (top - bottom) * (k + 1) / LEVELS);
        fputs("\"/>\n", f);
    }
    fputs("</g>\n<path fill=\"none\" stroke=\"#444\" stroke-width=\"1\" d=\"", f);
    rect(f, x, top, x + w, bottom);
    for (size_t i = 0; i < L->vt.n; i++) {
        point(f, "M", x + w, axis_px(&bar, L->vt.at[i]));
        fputs("h3", f);
    }
    fputs("\"/>\n", f);
    for (size_t i = 0; i < L->vt.n; i++)
        text(f, x + w + 6, axis_px(&bar, L->vt.at[i]) + 0.35 * FONT_TICK, FONT_TICK, NULL, "fill=\"#333\"",
             L->vt.label[i], 24);
    if (p->scale_label && *p->scale_label)
        text_vertical(f, x + w + 6 + ticks_width(&L->vt, FONT_TICK) + 10, (top + bottom) / 2, FONT_LABEL, 0,
                      p->scale_label, 60);
    fputs("</g>\n", f);
}

static void draw_panel(FILE *f, const SvgFigure *fig, const SvgPanel *p, int index)
{
    Layout L;
    layout_panel(fig, p, index, &L);
    fputs("<g class=\"panel\">\n", f);
    draw_grid(f, &L);
    size_t bars = 0, rank = 0;
    for (size_t k = 0; k < p->count; k++) bars += p->series[k].kind == BARS;
    /* heat maps, bars and the diagonal; the axes over them; lines and dots over the axes, so
     * that a dot on the frame shows whole */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) draw_axes(f, fig, p, &L);
        for (size_t k = 0; k < p->count; k++) {
            const Series *s = &p->series[k];
            int under = s->kind == HEATMAP || s->kind == BARS || s->kind == DIAGONAL;
            if (under != (pass == 0)) continue;
            if (s->kind == DIAGONAL ? !diagonal_visible(&L) : drawn(s, p->log_y) == 0) {
                rank += s->kind == BARS;
                continue;
            }
            series_open(f, s->kind == HEATMAP   ? (p->scale_label ? p->scale_label : "heat map")
                           : s->kind == CLASSES ? "classes"
                           : s->name            ? s->name
                                                : "");
            switch (s->kind) {
            case HEATMAP: draw_heatmap(f, &L, s); break;
            case BARS: draw_bars(f, &L, s, rank++, bars, p->log_y); break;
            case DIAGONAL: draw_diagonal(f, &L); break;
            default: draw_points(f, &L, s, p->log_y);
            }
            fputs("</g>\n", f);
        }
    }
    if (L.no_data)
        text(f, (L.left + L.right) / 2, (L.top + L.bottom) / 2, FONT_LABEL, "middle",
             "fill=\"#888\" font-style=\"italic\"", "no data", 10);
    draw_legend(f, &L, fmin(0.3 * fig->panel_width, 200) / (EM_PER_CHAR * FONT_LEGEND));
    draw_colour_bar(f, p, &L);
    fputs("</g>\n", f);
    free(L.legend);
}

int svg_write(const SvgFigure *fig, const char *path, char *err)
{
    char tmp[1100];
    if (strlen(path) + 5 > sizeof tmp) return rr_error(err, RR_ERR_OPEN, "%.200s...: path too long", path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return rr_error(err, RR_ERR_OPEN, "%s: cannot create: %s", tmp, strerror(errno));
    double W = fig->cols * fig->panel_width, H = FIGURE_TITLE_H + fig->rows * fig->panel_height;
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", f);
    num(f, W);
    fputs("\" height=\"", f);
    num(f, H);
    fputs("\" viewBox=\"0 0 ", f);
    num(f, W);
    fputc(' ', f);
    num(f, H);
    fputs("\" font-family=\"Helvetica, Arial, sans-serif\">\n<title>", f);
    escaped(f, fig->title, 500);
    fputs("</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n", f);
    text(f, W / 2, 24, FONT_TITLE, "middle", "class=\"title\" font-weight=\"bold\"", fig->title,
         (size_t)(W / (EM_PER_CHAR * FONT_TITLE)));
    for (int i = 0; i < fig->cols * fig->rows; i++)
        if (fig->panels[i].used) draw_panel(f, fig, &fig->panels[i], i);
    fputs("</svg>\n", f);
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (bad || rr_replace_file(tmp, path)) {
        remove(tmp);
        return rr_error(err, RR_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    return RR_OK;
}
