/* svgcheck.h — reading SVG figures back in tests: an XML well-formedness checker, the series
 * groups that zoo/svg.c writes (<g class="series">, each with its paths), and whether every
 * drawn point lies inside its panel's frame. For tests of any command that writes figures. */
#ifndef RNNREP_SVGCHECK_H
#define RNNREP_SVGCHECK_H
#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* ========================================================================================
 * A small XML well-formedness checker: one root element; tags nest and match; attributes
 * are name="value" (or '...'), unique per element; '<' never in text or values; every '&'
 * starts an entity (the five named ones or a character reference); and, stricter than XML,
 * no raw '>' in text. A leading <?xml ...?> and comments are allowed.
 * ====================================================================================== */
static inline int xml_name(const char **p, const char **start, size_t *len)
{
    const char *q = *p;
    if (!(isalpha((unsigned char)*q) || *q == '_' || *q == ':')) return 0;
    while (isalnum((unsigned char)*q) || *q == '_' || *q == ':' || *q == '.' || *q == '-') q++;
    *start = *p, *len = (size_t)(q - *p), *p = q;
    return 1;
}

static inline int xml_entity(const char **p)
{
    static const char *const named[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (int i = 0; i < 5; i++)
        if (!strncmp(*p, named[i], strlen(named[i]))) return *p += strlen(named[i]), 1;
    const char *q = *p + 1;
    if (*q++ != '#') return 0;
    int hexa = *q == 'x', digits = 0;
    if (hexa) q++;
    while (hexa ? isxdigit((unsigned char)*q) : isdigit((unsigned char)*q)) q++, digits++;
    if (!digits || *q != ';') return 0;
    *p = q + 1;
    return 1;
}

static inline int xml_fail(char *why, const char *what, const char *at)
{
    snprintf(why, 200, "%s at \"%.30s\"", what, at);
    return 0;
}

static inline int xml_well_formed(const char *s, char *why)
{
    const char *p = s, *stack[64], *names[32];
    size_t stack_len[64], names_len[32], depth = 0;
    int roots = 0;
    if (!strncmp(p, "<?xml", 5)) {
        if (!(p = strstr(p, "?>"))) return xml_fail(why, "unterminated declaration", s);
        p += 2;
    }
    while (*p) {
        if (!strncmp(p, "<!--", 4)) {
            const char *end = strstr(p + 4, "-->");
            if (!end) return xml_fail(why, "unterminated comment", p);
            p = end + 3;
        } else if (p[0] == '<' && p[1] == '/') {
            const char *at = p, *name;
            size_t len;
            p += 2;
            if (!xml_name(&p, &name, &len)) return xml_fail(why, "bad closing tag", at);
            if (!depth || len != stack_len[depth - 1] || strncmp(name, stack[depth - 1], len))
                return xml_fail(why, "closing tag does not match", at);
            while (isspace((unsigned char)*p)) p++;
            if (*p++ != '>') return xml_fail(why, "closing tag not ended by >", at);
            depth--;
        } else if (*p == '<') {
            const char *at = p, *name;
            size_t len, attributes = 0;
            p++;
            if (!xml_name(&p, &name, &len)) return xml_fail(why, "bad tag name", at);
            if (!depth && roots++) return xml_fail(why, "a second root element", at);
            for (;;) {
                int space = isspace((unsigned char)*p);
                while (isspace((unsigned char)*p)) p++;
                if (*p == '>' || (p[0] == '/' && p[1] == '>')) break;
                const char *attr;
                size_t alen;
                if (!space || !xml_name(&p, &attr, &alen)) return xml_fail(why, "bad attribute", at);
                for (size_t i = 0; i < attributes; i++)
                    if (names_len[i] == alen && !strncmp(names[i], attr, alen))
                        return xml_fail(why, "duplicate attribute", at);
                if (attributes == 32) return xml_fail(why, "too many attributes", at);
                names[attributes] = attr, names_len[attributes++] = alen;
                if (*p++ != '=') return xml_fail(why, "attribute without =", at);
                char quote = *p++;
                if (quote != '"' && quote != '\'') return xml_fail(why, "unquoted attribute", at);
                while (*p && *p != quote) {
                    if (*p == '<') return xml_fail(why, "< in an attribute", at);
                    if (*p == '&' ? !xml_entity(&p) : (p++, 0)) return xml_fail(why, "bad entity in an attribute", at);
                }
                if (*p++ != quote) return xml_fail(why, "unterminated attribute", at);
            }
            if (*p == '/')
                p += 2;
            else {
                if (depth == 64) return xml_fail(why, "nested too deep", at);
                stack[depth] = name, stack_len[depth++] = len, p++;
            }
        } else {
            if (!depth && !isspace((unsigned char)*p)) return xml_fail(why, "text outside the root", p);
            if (*p == '>') return xml_fail(why, "unescaped > in text", p);
            if (*p == '&' ? !xml_entity(&p) : (p++, 0)) return xml_fail(why, "bad entity in text", p);
        }
    }
    if (depth) return xml_fail(why, "unclosed element", stack[depth - 1]);
    if (!roots) return xml_fail(why, "no root element", s);
    return 1;
}

/* The end of the <g ...> element starting at p (nested groups included). */
static inline const char *group_end(const char *p)
{
    int depth = 0;
    for (; *p; p++) {
        if (!strncmp(p, "<g ", 3) || !strncmp(p, "<g>", 3))
            depth++;
        else if (!strncmp(p, "</g>", 4) && --depth == 0)
            return p + 4;
    }
    return p;
}

/* Series groups in the figure; *inked counts those with a path whose data starts "M<number>". */
static inline size_t series_groups(const char *s, size_t *inked)
{
    size_t n = 0;
    *inked = 0;
    for (const char *p = strstr(s, "<g class=\"series\">"); p; p = strstr(p + 1, "<g class=\"series\">")) {
        const char *end = group_end(p);
        int ink = 0;
        for (const char *d = strstr(p, " d=\"M"); d && d < end && !ink; d = strstr(d + 1, " d=\"M"))
            ink = isdigit((unsigned char)d[5]) || d[5] == '-';
        n++, *inked += ink;
    }
    return n;
}

/* Every M and L point of every series path lies inside its panel's frame (the first path of
 * the panel's axis group: M left top H right V bottom ...), to the printed 0.1 px; every
 * number in path data has at most one decimal. Returns the number of violations. */
static inline size_t points_outside(const char *s)
{
    size_t bad = 0;
    for (const char *panel = strstr(s, "<g class=\"panel\">"); panel;
         panel = strstr(panel + 1, "<g class=\"panel\">")) {
        const char *panel_end = group_end(panel), *axis = strstr(panel, "<g class=\"axis\"");
        double left, top, right, bottom;
        const char *frame = axis ? strstr(axis, " d=\"M") : NULL;
        if (!frame || sscanf(frame, " d=\"M%lf %lfH%lfV%lf", &left, &top, &right, &bottom) != 4) return bad + 1;
        for (const char *g = strstr(panel, "<g class=\"series\">"); g && g < panel_end;
             g = strstr(g + 1, "<g class=\"series\">"))
            for (const char *d = strstr(g, " d=\""); d && d < group_end(g); d = strstr(d + 1, " d=\"")) {
                const char *q = d + 4;
                while (*q && *q != '"') {
                    char c = *q++;
                    double x, y;
                    int used = 0;
                    if ((c == 'M' || c == 'L') && sscanf(q, "%lf %lf%n", &x, &y, &used) == 2) {
                        if (x < left - 0.11 || x > right + 0.11 || y < top - 0.11 || y > bottom + 0.11) bad++;
                        q += used;
                    }
                    if (c == '.' && isdigit((unsigned char)q[0]) && isdigit((unsigned char)q[1])) bad++;
                }
            }
    }
    return bad;
}

#endif
