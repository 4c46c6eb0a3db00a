/* Gate rules: a recursive-descent parser for the expression language of gate.h and the
 * promote/reject decision.
 *
 * Grammar (whitespace between tokens is ignored):
 *   rule    := expr CMP expr
 *   expr    := term (('+' | '-') term)*
 *   term    := unary (('*' | '/') unary)*
 *   unary   := '-' unary | primary
 *   primary := NUMBER ['%'] | METRIC | 'baseline' ['(' METRIC ')']
 *            | ('ci_low' | 'ci_high') '(' expr ')' | ('p_value' | 'cohen_d') '(' METRIC ')'
 *            | '(' expr ')'
 * Invariants: a parsed rule is a flat node array (children by index); a bare `baseline` is
 * resolved to the rule's single metric at parse time; ci_* bodies contain no statistics
 * calls, so evaluating one on a bootstrap resample only needs resampled means. A body whose
 * interval the comparison already holds (M - baseline(M), M, baseline(M)) takes it from
 * there instead of bootstrapping again. */
#include "eval/gate.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

typedef enum nkind {
    N_NUM,
    N_CAND,
    N_BASE,
    N_NEG,
    N_ADD,
    N_SUB,
    N_MUL,
    N_DIV,
    N_CI_LOW,
    N_CI_HIGH,
    N_PVAL,
    N_COHEN
} nkind;

typedef struct node {
    nkind k;
    double v;
    eval_metric m;
    int a, b;          /* children (node indices), -1 when unused */
    size_t start, end; /* source span [start, end) */
    int bare;          /* N_BASE written as bare `baseline` */
} node;

typedef enum cmp_op { OP_GE, OP_GT, OP_LE, OP_LT, OP_EQ, OP_NE } cmp_op;

typedef struct rule {
    char *text;
    node *nodes;
    size_t n_nodes, cap_nodes;
    int lhs, rhs;
    cmp_op op;
} rule;

struct eval_gate {
    rule *rules;
    size_t n_rules, cap_rules;
    double max_regressed; /* < 0: off */
    int has_reg_metric;
    eval_metric reg_metric;
    eval_stats_opts opts;
};

/* ---- parser ---- */

enum { MAX_DEPTH = 64 };

typedef struct parser {
    const char *s;
    size_t pos;
    rule *r;
    rw_err *err;
    rw_status st;
    int in_ci;
    int depth; /* nesting of parentheses and unary minus (bounded: rules come from files) */
    eval_metric first_metric;
    int n_metrics_named; /* distinct metrics seen so far, capped at 2 */
} parser;

static void skip_ws(parser *p) {
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t') p->pos++;
}

/* Records the first error with a caret under column `at` (0-based). */
static void perr(parser *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void perr(parser *p, size_t at, const char *fmt, ...) {
    if (p->st != RW_OK) return;
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    size_t len = strlen(p->s);
    if (len <= 120)
        p->st = rw_err_set(p->err, RW_E_INVALID, "gate rule \"%s\": column %zu: %s\n    %s\n    %*s^",
                           p->s, at + 1, what, p->s, (int)at, "");
    else
        p->st = rw_err_set(p->err, RW_E_INVALID, "gate rule \"%.120s...\": column %zu: %s", p->s,
                           at + 1, what);
}

/* Describes the token at pos for messages. */
static void found_desc(const parser *p, size_t at, char *buf, size_t cap) {
    if (!p->s[at]) {
        snprintf(buf, cap, "the end of the rule");
        return;
    }
    size_t n = 0;
    while (p->s[at + n] && p->s[at + n] != ' ' && n < 20) n++;
    snprintf(buf, cap, "'%.*s'", (int)(n ? n : 1), p->s + at);
}

static int new_node(parser *p, nkind k, size_t start) {
    rule *r = p->r;
    if (r->n_nodes == r->cap_nodes) {
        size_t nc = r->cap_nodes ? r->cap_nodes * 2 : 16;
        node *nn = rw_realloc(r->nodes, nc * sizeof *nn);
        if (!nn) {
            if (p->st == RW_OK) p->st = rw_err_set(p->err, RW_E_NOMEM, "gate: out of memory");
            return -1;
        }
        r->nodes = nn;
        r->cap_nodes = nc;
    }
    r->nodes[r->n_nodes] = (node){.k = k, .a = -1, .b = -1, .start = start, .end = start};
    return (int)r->n_nodes++;
}

static int is_ident_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static int is_ident_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* Scans an identifier with an optional "@digits" suffix; returns its length. */
static size_t scan_ident(const parser *p, size_t at) {
    size_t n = 0;
    if (!is_ident_start(p->s[at])) return 0;
    while (is_ident_char(p->s[at + n])) n++;
    if (p->s[at + n] == '@') {
        n++;
        while (is_ident_char(p->s[at + n])) n++;
    }
    return n;
}

static void note_metric(parser *p, eval_metric m) {
    if (p->n_metrics_named == 0) {
        p->first_metric = m;
        p->n_metrics_named = 1;
    } else if (!eval_metric_equal(p->first_metric, m)) {
        p->n_metrics_named = 2;
    }
}

static int parse_metric_at(parser *p, size_t at, size_t len, eval_metric *m) {
    rw_err e;
    if (eval_metric_parse(p->s + at, len, m, &e) != RW_OK) {
        perr(p, at, "%s", e.msg);
        return 0;
    }
    note_metric(p, *m);
    return 1;
}

static int parse_expr(parser *p);

static int expect_char(parser *p, char c, const char *ctx) {
    skip_ws(p);
    if (p->s[p->pos] != c) {
        char f[40];
        found_desc(p, p->pos, f, sizeof f);
        perr(p, p->pos, "expected '%c' %s but found %s", c, ctx, f);
        return 0;
    }
    p->pos++;
    return 1;
}

/* '(' METRIC ')' after a function name; returns 1 on success. */
static int parse_metric_arg(parser *p, const char *fname, eval_metric *m) {
    if (!expect_char(p, '(', fname)) return 0;
    skip_ws(p);
    size_t at = p->pos, len = scan_ident(p, at);
    if (!len) {
        char f[40];
        found_desc(p, at, f, sizeof f);
        perr(p, at, "expected a metric name (e.g. mrr@10) inside %s(...) but found %s", fname, f);
        return 0;
    }
    if (!parse_metric_at(p, at, len, m)) return 0;
    p->pos += len;
    return expect_char(p, ')', "to close the call");
}

static int parse_primary(parser *p) {
    skip_ws(p);
    size_t at = p->pos;
    char c = p->s[at];
    if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)p->s[at + 1]))) {
        char *end = NULL;
        double v = strtod(p->s + at, &end);
        size_t len = (size_t)(end - (p->s + at));
        if (!isfinite(v)) {
            perr(p, at, "number out of range");
            return -1;
        }
        p->pos += len;
        if (p->s[p->pos] == '%') {
            v /= 100.0;
            p->pos++;
        }
        if (is_ident_char(p->s[p->pos]) || p->s[p->pos] == '@') {
            perr(p, p->pos, "unexpected '%c' after the number", p->s[p->pos]);
            return -1;
        }
        int n = new_node(p, N_NUM, at);
        if (n < 0) return -1;
        p->r->nodes[n].v = v;
        p->r->nodes[n].end = p->pos;
        return n;
    }
    if (c == '(') {
        if (++p->depth > MAX_DEPTH) {
            perr(p, at, "nesting deeper than %d", MAX_DEPTH);
            return -1;
        }
        p->pos++;
        int e = parse_expr(p);
        p->depth--;
        if (e < 0 || !expect_char(p, ')', "to close the parenthesis")) return -1;
        return e;
    }
    size_t len = scan_ident(p, at);
    if (!len) {
        char f[40];
        found_desc(p, at, f, sizeof f);
        perr(p, at, "expected a number, a metric (e.g. mrr@10), 'baseline', a function or '(' but found %s", f);
        return -1;
    }
    p->pos += len;
#define IS(word) (len == strlen(word) && strncmp(p->s + at, word, len) == 0)
    if (IS("baseline")) {
        int n = new_node(p, N_BASE, at);
        if (n < 0) return -1;
        size_t save = p->pos;
        skip_ws(p);
        if (p->s[p->pos] == '(') {
            eval_metric m;
            if (!parse_metric_arg(p, "baseline", &m)) return -1;
            p->r->nodes[n].m = m;
        } else {
            p->pos = save;
            p->r->nodes[n].bare = 1;
        }
        p->r->nodes[n].end = p->pos;
        return n;
    }
    if (IS("ci_low") || IS("ci_high")) {
        if (p->in_ci) {
            perr(p, at, "%.*s(...) cannot be nested inside another ci_low/ci_high", (int)len, p->s + at);
            return -1;
        }
        int n = new_node(p, IS("ci_low") ? N_CI_LOW : N_CI_HIGH, at);
        if (n < 0 || !expect_char(p, '(', "after the function name")) return -1;
        p->in_ci = 1;
        int e = parse_expr(p);
        p->in_ci = 0;
        if (e < 0 || !expect_char(p, ')', "to close the call")) return -1;
        p->r->nodes[n].a = e;
        p->r->nodes[n].end = p->pos;
        return n;
    }
    if (IS("p_value") || IS("cohen_d")) {
        if (p->in_ci) {
            perr(p, at, "%.*s(...) cannot be used inside ci_low/ci_high", (int)len, p->s + at);
            return -1;
        }
        int n = new_node(p, IS("p_value") ? N_PVAL : N_COHEN, at);
        eval_metric m;
        if (n < 0 || !parse_metric_arg(p, IS("p_value") ? "p_value" : "cohen_d", &m)) return -1;
        p->r->nodes[n].m = m;
        p->r->nodes[n].end = p->pos;
        return n;
    }
#undef IS
    eval_metric m;
    if (!parse_metric_at(p, at, len, &m)) return -1;
    int n = new_node(p, N_CAND, at);
    if (n < 0) return -1;
    p->r->nodes[n].m = m;
    p->r->nodes[n].end = p->pos;
    return n;
}

static int parse_unary(parser *p) {
    skip_ws(p);
    if (p->s[p->pos] == '-') {
        size_t at = p->pos++;
        if (++p->depth > MAX_DEPTH) {
            perr(p, at, "nesting deeper than %d", MAX_DEPTH);
            return -1;
        }
        int a = parse_unary(p);
        p->depth--;
        if (a < 0) return -1;
        int n = new_node(p, N_NEG, at);
        if (n < 0) return -1;
        p->r->nodes[n].a = a;
        p->r->nodes[n].end = p->r->nodes[a].end;
        return n;
    }
    return parse_primary(p);
}

static int parse_binary_chain(parser *p, int level) {
    int lhs = level ? parse_unary(p) : parse_binary_chain(p, 1);
    while (lhs >= 0) {
        skip_ws(p);
        char c = p->s[p->pos];
        nkind k;
        if (level == 0 && c == '+')
            k = N_ADD;
        else if (level == 0 && c == '-')
            k = N_SUB;
        else if (level == 1 && c == '*')
            k = N_MUL;
        else if (level == 1 && c == '/')
            k = N_DIV;
        else
            break;
        p->pos++;
        int rhs = level ? parse_unary(p) : parse_binary_chain(p, 1);
        if (rhs < 0) return -1;
        int n = new_node(p, k, p->r->nodes[lhs].start);
        if (n < 0) return -1;
        p->r->nodes[n].a = lhs;
        p->r->nodes[n].b = rhs;
        p->r->nodes[n].end = p->r->nodes[rhs].end;
        lhs = n;
    }
    return lhs;
}

static int parse_expr(parser *p) { return parse_binary_chain(p, 0); }

static void rule_free(rule *r) {
    rw_free(r->text);
    rw_free(r->nodes);
}

static rw_status parse_rule(const char *text, rule *out, rw_err *err) {
    rule r = {0};
    parser p = {.s = text, .r = &r, .err = err, .st = RW_OK};
    r.lhs = parse_expr(&p);
    if (r.lhs >= 0) {
        skip_ws(&p);
        const char *s = text + p.pos;
        size_t at = p.pos;
        if (s[0] == '>' && s[1] == '=') r.op = OP_GE, p.pos += 2;
        else if (s[0] == '<' && s[1] == '=') r.op = OP_LE, p.pos += 2;
        else if (s[0] == '=' && s[1] == '=') r.op = OP_EQ, p.pos += 2;
        else if (s[0] == '!' && s[1] == '=') r.op = OP_NE, p.pos += 2;
        else if (s[0] == '>') r.op = OP_GT, p.pos += 1;
        else if (s[0] == '<') r.op = OP_LT, p.pos += 1;
        else {
            char f[40];
            found_desc(&p, at, f, sizeof f);
            perr(&p, at, "expected a comparison (>=, >, <=, <, ==, !=) but found %s", f);
        }
        if (p.st == RW_OK) r.rhs = parse_expr(&p);
        if (p.st == RW_OK) {
            skip_ws(&p);
            if (text[p.pos]) {
                char f[40];
                found_desc(&p, p.pos, f, sizeof f);
                perr(&p, p.pos, "unexpected %s after the end of the rule", f);
            }
        }
    }
    if (p.st == RW_OK) {
        for (size_t i = 0; i < r.n_nodes; i++) {
            node *nd = &r.nodes[i];
            if (nd->k != N_BASE || !nd->bare) continue;
            if (p.n_metrics_named == 0)
                perr(&p, nd->start, "'baseline' needs a metric: the rule names none (write baseline(mrr@10))");
            else if (p.n_metrics_named > 1)
                perr(&p, nd->start, "'baseline' is ambiguous: the rule names several metrics (write baseline(<metric>))");
            else
                nd->m = p.first_metric;
        }
    }
    if (p.st == RW_OK && !(r.text = rw_strdup(text))) p.st = rw_err_set(err, RW_E_NOMEM, "gate: out of memory");
    if (p.st != RW_OK) {
        rule_free(&r);
        return p.st;
    }
    *out = r;
    return RW_OK;
}

/* ---- gate object ---- */

rw_status eval_gate_create(eval_gate **out, rw_err *err) {
    eval_gate *g = rw_calloc(1, sizeof *g);
    if (!g) return rw_err_set(err, RW_E_NOMEM, "gate: out of memory");
    g->max_regressed = -1;
    g->opts = eval_stats_defaults();
    *out = g;
    return RW_OK;
}

void eval_gate_destroy(eval_gate *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n_rules; i++) rule_free(&g->rules[i]);
    rw_free(g->rules);
    rw_free(g);
}

rw_status eval_gate_add_rule(eval_gate *g, const char *text, rw_err *err) {
    rule r;
    rw_status st = parse_rule(text, &r, err);
    if (st != RW_OK) return st;
    if (g->n_rules == g->cap_rules) {
        size_t nc = g->cap_rules ? g->cap_rules * 2 : 4;
        rule *nr = rw_realloc(g->rules, nc * sizeof *nr);
        if (!nr) {
            rule_free(&r);
            return rw_err_set(err, RW_E_NOMEM, "gate: out of memory");
        }
        g->rules = nr;
        g->cap_rules = nc;
    }
    g->rules[g->n_rules++] = r;
    return RW_OK;
}

rw_status eval_gate_set_max_regressed(eval_gate *g, double frac, rw_err *err) {
    if (!(frac <= 1.0) || isnan(frac))
        return rw_err_set(err, RW_E_INVALID, "max_regressed_queries = %g: must be a fraction in [0, 1]", frac);
    g->max_regressed = frac < 0 ? -1 : frac;
    return RW_OK;
}

void eval_gate_set_regression_metric(eval_gate *g, eval_metric m) {
    g->reg_metric = m;
    g->has_reg_metric = 1;
}

void eval_gate_set_stats(eval_gate *g, const eval_stats_opts *o) { g->opts = *o; }
const eval_stats_opts *eval_gate_stats(const eval_gate *g) { return &g->opts; }
size_t eval_gate_n_rules(const eval_gate *g) { return g->n_rules; }

static eval_metric regression_metric(const eval_gate *g) {
    if (g->has_reg_metric) return g->reg_metric;
    for (size_t i = 0; i < g->n_rules; i++)
        for (size_t k = 0; k < g->rules[i].n_nodes; k++) {
            const node *nd = &g->rules[i].nodes[k];
            if (nd->k != N_NUM && nd->k != N_NEG && nd->k != N_ADD && nd->k != N_SUB && nd->k != N_MUL &&
                nd->k != N_DIV && nd->k != N_CI_LOW && nd->k != N_CI_HIGH)
                return nd->m;
        }
    return (eval_metric){EVAL_MRR, 10};
}

static size_t add_unique(eval_metric *out, size_t cap, size_t n, eval_metric m) {
    for (size_t i = 0; i < n && i < cap; i++)
        if (eval_metric_equal(out[i], m)) return n;
    if (n < cap) out[n] = m;
    return n + 1;
}

size_t eval_gate_metrics(const eval_gate *g, eval_metric *out, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < g->n_rules; i++)
        for (size_t k = 0; k < g->rules[i].n_nodes; k++) {
            const node *nd = &g->rules[i].nodes[k];
            if (nd->k == N_CAND || nd->k == N_BASE || nd->k == N_PVAL || nd->k == N_COHEN)
                n = add_unique(out, cap, n, nd->m);
        }
    if (g->max_regressed >= 0) n = add_unique(out, cap, n, regression_metric(g));
    return n;
}

/* ---- evaluation ---- */

typedef struct env {
    const eval_comparison *c;
    const rule *r;
    const uint32_t *idx; /* NULL: full sample */
    size_t n;
    rw_err *err;
    rw_status st;
} env;

static double eval_node(env *e, int i);

typedef struct ci_ctx {
    env *e;
    int body;
} ci_ctx;

static double ci_body(void *user, const uint32_t *idx, size_t n) {
    ci_ctx *c = user;
    env e = *c->e;
    e.idx = idx;
    e.n = n;
    return eval_node(&e, c->body);
}

static double column_mean(const env *e, eval_metric m, int cand) {
    const eval_results *res = cand ? e->c->cand : e->c->base;
    long col = eval_results_find(res, m);
    if (col < 0) return (double)NAN; /* checked before evaluation */
    size_t nm = res->n_metrics;
    double s = 0;
    if (e->idx) {
        for (size_t i = 0; i < e->n; i++) s += res->values[(size_t)e->idx[i] * nm + (size_t)col];
        return s / (double)e->n;
    }
    return res->mean[col];
}

static const eval_metric_cmp *find_cmp(const eval_comparison *c, eval_metric m) {
    for (size_t i = 0; i < c->n_metrics; i++)
        if (eval_metric_equal(c->m[i].metric, m)) return &c->m[i];
    return NULL;
}

/* The comparison already holds the percentile bootstrap CI of three bodies, computed with
 * the same options and resamples (eval/compare.c): M - baseline(M) (diff_lo/diff_hi), M
 * (cand_lo/cand_hi) and baseline(M) (base_lo/base_hi). Any other body is bootstrapped. */
static bool known_interval(const env *e, int body, double *lo, double *hi) {
    const node *nd = &e->r->nodes[body];
    const eval_metric_cmp *x = NULL;
    if (nd->k == N_SUB) {
        const node *l = &e->r->nodes[nd->a], *r = &e->r->nodes[nd->b];
        if (l->k != N_CAND || r->k != N_BASE || !eval_metric_equal(l->m, r->m) || !(x = find_cmp(e->c, l->m)))
            return false;
        *lo = x->diff_lo;
        *hi = x->diff_hi;
        return true;
    }
    if ((nd->k != N_CAND && nd->k != N_BASE) || !(x = find_cmp(e->c, nd->m))) return false;
    *lo = nd->k == N_CAND ? x->cand_lo : x->base_lo;
    *hi = nd->k == N_CAND ? x->cand_hi : x->base_hi;
    return true;
}

static double eval_node(env *e, int i) {
    const node *nd = &e->r->nodes[i];
    switch (nd->k) {
    case N_NUM: return nd->v;
    case N_CAND: return column_mean(e, nd->m, 1);
    case N_BASE: return column_mean(e, nd->m, 0);
    case N_NEG: return -eval_node(e, nd->a);
    case N_ADD: return eval_node(e, nd->a) + eval_node(e, nd->b);
    case N_SUB: return eval_node(e, nd->a) - eval_node(e, nd->b);
    case N_MUL: return eval_node(e, nd->a) * eval_node(e, nd->b);
    case N_DIV: return eval_node(e, nd->a) / eval_node(e, nd->b);
    case N_CI_LOW:
    case N_CI_HIGH: {
        double lo = (double)NAN, hi = (double)NAN;
        if (!known_interval(e, nd->a, &lo, &hi)) {
            ci_ctx c = {e, nd->a};
            rw_status st = eval_bootstrap_generic(e->c->base->n_queries, ci_body, &c, &e->c->opts, &lo, &hi, e->err);
            if (st != RW_OK && e->st == RW_OK) e->st = st;
        }
        return nd->k == N_CI_LOW ? lo : hi;
    }
    case N_PVAL: {
        const eval_metric_cmp *x = find_cmp(e->c, nd->m);
        return x ? x->p_value : (double)NAN;
    }
    case N_COHEN: {
        const eval_metric_cmp *x = find_cmp(e->c, nd->m);
        return x ? x->cohen_d : (double)NAN;
    }
    }
    return (double)NAN;
}

/* Appends "name = value" for the leaves and calls of node i (calls are not descended). */
static void describe(env *e, int i, char *buf, size_t cap, size_t *len) {
    const node *nd = &e->r->nodes[i];
    if (nd->k == N_NUM) return;
    if (nd->k == N_NEG || nd->k == N_ADD || nd->k == N_SUB || nd->k == N_MUL || nd->k == N_DIV) {
        describe(e, nd->a, buf, cap, len);
        if (nd->b >= 0) describe(e, nd->b, buf, cap, len);
        return;
    }
    char name[160];
    if (nd->k == N_BASE) {
        char mn[EVAL_METRIC_NAME];
        eval_metric_name(nd->m, mn, sizeof mn);
        snprintf(name, sizeof name, "baseline(%s)", mn);
    } else {
        snprintf(name, sizeof name, "%.*s", (int)(nd->end - nd->start), e->r->text + nd->start);
    }
    char key[170];
    snprintf(key, sizeof key, "%s = ", name);
    if (strstr(buf, key)) return; /* each term once */
    double v = eval_node(e, i);
    if (*len < cap) {
        int w = snprintf(buf + *len, cap - *len, "%s%s = %.6g", *len ? ", " : "", name, v);
        if (w > 0) *len += (size_t)w;
    }
}

static int compare_values(cmp_op op, double l, double r) {
    switch (op) {
    case OP_GE: return l >= r;
    case OP_GT: return l > r;
    case OP_LE: return l <= r;
    case OP_LT: return l < r;
    case OP_EQ: return l == r;
    case OP_NE: return l != r;
    }
    return 0;
}

void eval_decision_deinit(eval_decision *d) {
    if (!d) return;
    for (size_t i = 0; i < d->n_checks; i++) {
        rw_free(d->checks[i].what);
        rw_free(d->checks[i].detail);
    }
    rw_free(d->checks);
    memset(d, 0, sizeof *d);
}

rw_status eval_gate_decide(const eval_gate *g, const eval_comparison *cmp, eval_decision *out,
                           rw_err *err) {
    eval_metric need[64];
    size_t nneed = eval_gate_metrics(g, need, 64);
    for (size_t i = 0; i < nneed && i < 64; i++)
        if (eval_results_find(cmp->base, need[i]) < 0 || eval_results_find(cmp->cand, need[i]) < 0 ||
            !find_cmp(cmp, need[i])) {
            char mn[EVAL_METRIC_NAME];
            eval_metric_name(need[i], mn, sizeof mn);
            return rw_err_set(err, RW_E_INVALID, "gate needs metric %s, which the comparison does not hold", mn);
        }
    eval_decision d = {.promote = true};
    rw_status st = RW_OK;
    size_t n_checks = g->n_rules + (g->max_regressed >= 0);
    d.checks = rw_calloc(n_checks ? n_checks : 1, sizeof *d.checks);
    if (!d.checks) return rw_err_set(err, RW_E_NOMEM, "gate: out of memory");
    for (size_t i = 0; i < g->n_rules; i++) {
        const rule *r = &g->rules[i];
        env e = {.c = cmp, .r = r, .err = err, .st = RW_OK};
        eval_gate_check *c = &d.checks[d.n_checks++];
        c->lhs = eval_node(&e, r->lhs);
        c->rhs = eval_node(&e, r->rhs);
        if (e.st != RW_OK) {
            st = e.st;
            goto fail;
        }
        /* NaN (e.g. 0/0) never passes */
        c->pass = !isnan(c->lhs) && !isnan(c->rhs) && compare_values(r->op, c->lhs, c->rhs);
        char detail[1024] = "";
        size_t len = 0;
        describe(&e, r->lhs, detail, sizeof detail, &len);
        describe(&e, r->rhs, detail, sizeof detail, &len);
        char both[1200];
        static const char *const op_text[] = {">=", ">", "<=", "<", "==", "!="};
        snprintf(both, sizeof both, "%.6g %s %.6g%s%s%s", c->lhs, op_text[r->op], c->rhs, len ? " (" : "", detail,
                 len ? ")" : "");
        c->what = rw_strdup(r->text);
        c->detail = rw_strdup(both);
        if (!c->what || !c->detail) {
            st = rw_err_set(err, RW_E_NOMEM, "gate: out of memory");
            goto fail;
        }
        if (!c->pass) d.promote = false;
    }
    if (g->max_regressed >= 0) {
        eval_metric m = regression_metric(g);
        const eval_metric_cmp *x = find_cmp(cmp, m);
        size_t n = cmp->base->n_queries;
        eval_gate_check *c = &d.checks[d.n_checks++];
        c->lhs = n ? (double)x->losses / (double)n : 0.0;
        c->rhs = g->max_regressed;
        c->pass = c->lhs <= c->rhs;
        char mn[EVAL_METRIC_NAME], what[128], detail[256];
        eval_metric_name(m, mn, sizeof mn);
        snprintf(what, sizeof what, "regressed queries on %s <= %.4g%%", mn, 100 * g->max_regressed);
        snprintf(detail, sizeof detail, "%zu of %zu queries regressed (%.2f%%), %zu improved, %zu tied",
                 x->losses, n, 100 * c->lhs, x->wins, x->ties);
        c->what = rw_strdup(what);
        c->detail = rw_strdup(detail);
        if (!c->what || !c->detail) {
            st = rw_err_set(err, RW_E_NOMEM, "gate: out of memory");
            goto fail;
        }
        if (!c->pass) d.promote = false;
    }
    *out = d;
    return RW_OK;
fail:
    eval_decision_deinit(&d);
    return st;
}

char *eval_decision_text(const eval_decision *d) {
    size_t cap = 64;
    for (size_t i = 0; i < d->n_checks; i++) cap += strlen(d->checks[i].what) + strlen(d->checks[i].detail) + 16;
    char *s = rw_malloc(cap);
    if (!s) return NULL;
    size_t n = (size_t)snprintf(s, cap, "%s\n", d->promote ? "PROMOTE" : "REJECT");
    for (size_t i = 0; i < d->n_checks && n < cap; i++)
        n += (size_t)snprintf(s + n, cap - n, "  %s  %s: %s\n", d->checks[i].pass ? "pass" : "FAIL",
                              d->checks[i].what, d->checks[i].detail);
    return s;
}
