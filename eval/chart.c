/* Report charts drawn with Cairo's SVG surface into memory (see internal.h).
 *
 * Invariants: every chart is CHART_W x CHART_H points with the same margins and fonts, so
 * charts line up in the report; axes start at a "nice" tick; text uses Cairo's toy font API
 * (sans-serif), which the SVG surface embeds as glyph outlines (no font needed to view). */
#include "eval/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cairo-svg.h>
#include <cairo.h>

#include "data/strbuf.h"

enum { CHART_W = 760, CHART_H = 300 };
static const double ML = 56, MR = 16, MT = 34, MB = 58; /* margins, points */

/* Cairo's write callback: appends the SVG bytes to the chart's string builder. */
static cairo_status_t write_mem(void *closure, const unsigned char *data, unsigned int len) {
    return data_strbuf_put(closure, data, len) ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

typedef struct chart {
    data_strbuf buf;
    cairo_surface_t *surf;
    cairo_t *cr;
    double y0, y1; /* data range of the y axis */
    double px0, px1, py0, py1; /* plot box in points */
} chart;

static rw_status chart_begin(chart *c, const char *title, rw_err *err) {
    memset(c, 0, sizeof *c);
    c->surf = cairo_svg_surface_create_for_stream(write_mem, &c->buf, CHART_W, CHART_H);
    if (cairo_surface_status(c->surf) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(c->surf);
        return rw_err_set(err, RW_E_NOMEM, "chart '%s': cannot create an SVG surface", title);
    }
    c->cr = cairo_create(c->surf);
    cairo_set_source_rgb(c->cr, 1, 1, 1);
    cairo_paint(c->cr);
    cairo_select_font_face(c->cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(c->cr, 14);
    cairo_set_source_rgb(c->cr, 0.12, 0.12, 0.15);
    cairo_move_to(c->cr, ML, 20);
    cairo_show_text(c->cr, title);
    cairo_select_font_face(c->cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(c->cr, 11);
    c->px0 = ML;
    c->px1 = CHART_W - MR;
    c->py0 = MT;
    c->py1 = CHART_H - MB;
    return RW_OK;
}

static rw_status chart_end(chart *c, const char *title, char **svg, rw_err *err) {
    cairo_destroy(c->cr);
    cairo_surface_finish(c->surf);
    cairo_status_t cs = cairo_surface_status(c->surf);
    cairo_surface_destroy(c->surf);
    if (cs != CAIRO_STATUS_SUCCESS || c->buf.failed || !c->buf.s) {
        data_strbuf_deinit(&c->buf);
        return rw_err_set(err, RW_E_NOMEM, "chart '%s': SVG rendering failed (%s)", title,
                          cairo_status_to_string(cs));
    }
    *svg = c->buf.s;
    return RW_OK;
}

static double ymap(const chart *c, double v) {
    return c->py1 - (v - c->y0) / (c->y1 - c->y0) * (c->py1 - c->py0);
}

static double nice_step(double range, int target) {
    double raw = range / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static void text_at(cairo_t *cr, double x, double y, const char *s, double align /* 0 left .5 center 1 right */) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - align * e.x_advance, y);
    cairo_show_text(cr, s);
}

/* Y axis with grid lines over [y0, y1] (extended to nice ticks). */
static void y_axis(chart *c, double y0, double y1) {
    if (!(y1 > y0)) y1 = y0 + 1;
    double step = nice_step(y1 - y0, 5);
    c->y0 = floor(y0 / step) * step;
    c->y1 = ceil(y1 / step) * step;
    cairo_t *cr = c->cr;
    cairo_set_line_width(cr, 1);
    for (double t = c->y0; t <= c->y1 + step * 1e-9; t += step) {
        double y = floor(ymap(c, t)) + 0.5;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.92);
        cairo_move_to(cr, c->px0, y);
        cairo_line_to(cr, c->px1, y);
        cairo_stroke(cr);
        char lab[32];
        snprintf(lab, sizeof lab, step < 0.01 ? "%.3f" : step < 0.1 ? "%.2f" : step < 1 ? "%.1f" : "%.0f", fabs(t) < step * 1e-9 ? 0.0 : t);
        cairo_set_source_rgb(cr, 0.35, 0.35, 0.4);
        text_at(cr, c->px0 - 6, y + 4, lab, 1);
    }
    cairo_set_source_rgb(cr, 0.45, 0.45, 0.5);
    cairo_move_to(cr, c->px0 + 0.5, c->py0);
    cairo_line_to(cr, c->px0 + 0.5, c->py1);
    cairo_stroke(cr);
}

static void legend(chart *c, const char *const *labels, const double (*rgb)[3], size_t n) {
    double x = c->px1;
    for (size_t i = n; i-- > 0;) {
        cairo_text_extents_t e;
        cairo_text_extents(c->cr, labels[i], &e);
        x -= e.x_advance;
        cairo_set_source_rgb(c->cr, 0.2, 0.2, 0.25);
        cairo_move_to(c->cr, x, 20);
        cairo_show_text(c->cr, labels[i]);
        x -= 16;
        cairo_set_source_rgb(c->cr, rgb[i][0], rgb[i][1], rgb[i][2]);
        cairo_rectangle(c->cr, x, 11, 11, 11);
        cairo_fill(c->cr);
        x -= 14;
    }
}

rw_status eval_chart_bars(const char *title, const char *const *names, size_t n,
                          const eval_bar_series *series, size_t n_series, char **svg, rw_err *err) {
    chart c;
    rw_status st = chart_begin(&c, title, err);
    if (st != RW_OK) return st;
    double hi = 0;
    for (size_t s = 0; s < n_series; s++)
        for (size_t i = 0; i < n; i++) {
            double v = series[s].hi && isfinite(series[s].hi[i]) ? series[s].hi[i] : series[s].v[i];
            if (isfinite(v) && v > hi) hi = v;
        }
    y_axis(&c, 0, hi > 0 ? hi * 1.05 : 1);
    cairo_t *cr = c.cr;
    double gw = (c.px1 - c.px0) / (double)(n ? n : 1), bw = gw * 0.7 / (double)(n_series ? n_series : 1);
    for (size_t i = 0; i < n; i++) {
        double gx = c.px0 + gw * (double)i + gw * 0.15;
        for (size_t s = 0; s < n_series; s++) {
            const eval_bar_series *se = &series[s];
            double v = isfinite(se->v[i]) ? se->v[i] : 0, x = gx + bw * (double)s;
            cairo_set_source_rgb(cr, se->rgb[0], se->rgb[1], se->rgb[2]);
            cairo_rectangle(cr, x + 1, ymap(&c, v), bw - 2, ymap(&c, 0) - ymap(&c, v));
            cairo_fill(cr);
            if (se->lo && se->hi && isfinite(se->lo[i]) && isfinite(se->hi[i])) {
                double cx = x + bw / 2, ylo = ymap(&c, se->lo[i]), yhi = ymap(&c, se->hi[i]);
                cairo_set_source_rgb(cr, 0.1, 0.1, 0.12);
                cairo_set_line_width(cr, 1.3);
                cairo_move_to(cr, cx, ylo);
                cairo_line_to(cr, cx, yhi);
                cairo_move_to(cr, cx - bw * 0.2, ylo);
                cairo_line_to(cr, cx + bw * 0.2, ylo);
                cairo_move_to(cr, cx - bw * 0.2, yhi);
                cairo_line_to(cr, cx + bw * 0.2, yhi);
                cairo_stroke(cr);
            }
        }
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.25);
        text_at(cr, c.px0 + gw * ((double)i + 0.5), c.py1 + 16, names[i], 0.5);
    }
    const char *labels[8];
    double rgb[8][3];
    for (size_t s = 0; s < n_series && s < 8; s++) {
        labels[s] = series[s].label;
        memcpy(rgb[s], series[s].rgb, sizeof rgb[s]);
    }
    legend(&c, labels, (const double(*)[3])rgb, n_series < 8 ? n_series : 8);
    cairo_set_source_rgb(cr, 0.4, 0.4, 0.45);
    text_at(cr, c.px0, CHART_H - 12, "bars: mean over queries; whiskers: bootstrap confidence interval", 0);
    return chart_end(&c, title, svg, err);
}

rw_status eval_chart_winloss(const char *title, const double *d, size_t n, char **svg, rw_err *err) {
    enum { BINS = 21 }; /* odd: the middle bin holds the ties */
    chart c;
    rw_status st = chart_begin(&c, title, err);
    if (st != RW_OK) return st;
    double range = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(d[i]) > range) range = fabs(d[i]);
    if (range <= 0) range = 1;
    size_t counts[BINS] = {0}, ties = 0, wins = 0, losses = 0;
    double half = range / (BINS / 2); /* width of the non-tie bins */
    for (size_t i = 0; i < n; i++) {
        int b;
        if (fabs(d[i]) <= 1e-12) {
            b = BINS / 2;
            ties++;
        } else {
            int k = (int)ceil(fabs(d[i]) / half); /* 1..BINS/2 */
            if (k > BINS / 2) k = BINS / 2;
            b = d[i] > 0 ? BINS / 2 + k : BINS / 2 - k;
            if (d[i] > 0) wins++;
            else losses++;
        }
        counts[b]++;
    }
    size_t maxc = 1;
    for (int b = 0; b < BINS; b++)
        if (counts[b] > maxc) maxc = counts[b];
    y_axis(&c, 0, (double)maxc);
    cairo_t *cr = c.cr;
    double bw = (c.px1 - c.px0) / BINS;
    for (int b = 0; b < BINS; b++) {
        if (b < BINS / 2) cairo_set_source_rgb(cr, 0.84, 0.24, 0.22);
        else if (b > BINS / 2) cairo_set_source_rgb(cr, 0.18, 0.62, 0.32);
        else cairo_set_source_rgb(cr, 0.62, 0.62, 0.66);
        double x = c.px0 + bw * b;
        cairo_rectangle(cr, x + 1, ymap(&c, (double)counts[b]), bw - 2, ymap(&c, 0) - ymap(&c, (double)counts[b]));
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.25);
    char lab[64];
    for (int b = 0; b < BINS; b += 5) {
        double center = (b - BINS / 2) * half;
        snprintf(lab, sizeof lab, "%+.2f", center);
        text_at(cr, c.px0 + bw * (b + 0.5), c.py1 + 16, b == BINS / 2 ? "tie" : lab, 0.5);
    }
    snprintf(lab, sizeof lab, "%zu worse", losses);
    text_at(cr, c.px0 + 4, c.py1 + 34, lab, 0);
    snprintf(lab, sizeof lab, "%zu tied", ties);
    text_at(cr, (c.px0 + c.px1) / 2, c.py1 + 34, lab, 0.5);
    snprintf(lab, sizeof lab, "%zu better", wins);
    text_at(cr, c.px1 - 4, c.py1 + 34, lab, 1);
    cairo_set_source_rgb(cr, 0.4, 0.4, 0.45);
    text_at(cr, c.px0, CHART_H - 6, "per-query difference, candidate - baseline (number of queries per bin)", 0);
    return chart_end(&c, title, svg, err);
}

rw_status eval_chart_lines(const char *title, const char *xlabel, const eval_line_series *s,
                           size_t n_series, char **svg, rw_err *err) {
    chart c;
    rw_status st = chart_begin(&c, title, err);
    if (st != RW_OK) return st;
    const double inf = (double)INFINITY;
    double x0 = inf, x1 = -inf, y0 = inf, y1 = -inf;
    for (size_t k = 0; k < n_series; k++)
        for (size_t i = 0; i < s[k].n; i++) {
            if (!isfinite(s[k].x[i]) || !isfinite(s[k].y[i])) continue;
            x0 = fmin(x0, s[k].x[i]);
            x1 = fmax(x1, s[k].x[i]);
            y0 = fmin(y0, s[k].y[i]);
            y1 = fmax(y1, s[k].y[i]);
        }
    if (!isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (x1 <= x0) x1 = x0 + 1;
    double pad = (y1 - y0) * 0.05;
    y_axis(&c, y0 - pad, y1 + pad);
    cairo_t *cr = c.cr;
    double xs = nice_step(x1 - x0, 6);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.25);
    for (double t = ceil(x0 / xs) * xs; t <= x1 + xs * 1e-9; t += xs) {
        char lab[32];
        snprintf(lab, sizeof lab, "%g", t);
        text_at(cr, c.px0 + (t - x0) / (x1 - x0) * (c.px1 - c.px0), c.py1 + 16, lab, 0.5);
    }
    text_at(cr, (c.px0 + c.px1) / 2, c.py1 + 34, xlabel, 0.5);
    const char *labels[4];
    double rgb[4][3];
    for (size_t k = 0; k < n_series && k < 4; k++) {
        const eval_line_series *se = &s[k];
        cairo_set_source_rgb(cr, se->rgb[0], se->rgb[1], se->rgb[2]);
        cairo_set_line_width(cr, 2);
        int started = 0;
        for (size_t i = 0; i < se->n; i++) {
            if (!isfinite(se->x[i]) || !isfinite(se->y[i])) continue;
            double px = c.px0 + (se->x[i] - x0) / (x1 - x0) * (c.px1 - c.px0), py = ymap(&c, se->y[i]);
            if (started) cairo_line_to(cr, px, py);
            else cairo_move_to(cr, px, py);
            started = 1;
        }
        cairo_stroke(cr);
        labels[k] = se->label;
        memcpy(rgb[k], se->rgb, sizeof rgb[k]);
    }
    legend(&c, labels, (const double(*)[3])rgb, n_series < 4 ? n_series : 4);
    return chart_end(&c, title, svg, err);
}
