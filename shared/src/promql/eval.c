/*
 * The PromQL evaluator, following Prometheus 2.42's promql/engine.go step by
 * step so that its results (and its quirks) are the same:
 *
 *  1. the AST is copied into an evaluation tree (enode_t), where parts that
 *     do not depend on the evaluation time (@ selectors, literals and
 *     functions of them) are wrapped as step-invariant, and start()/end()
 *     are resolved (PreprocessExpr);
 *  2. every vector selector asks the queryable once for its series, over the
 *     range Prometheus computes from the offsets, ranges and @ of the
 *     selector and its enclosing subqueries (populateSeries), with hints;
 *     the series are read when the selector is evaluated, one at a time
 *     (timestamp()'s argument, read at every step, is loaded whole);
 *  3. selector offsets are adjusted for @ relative to the evaluation start
 *     (setOffsetForAtModifier), again for each subquery's own start;
 *  4. every node evaluates to a matrix over the evaluator's steps;
 *     range_eval() runs a per-step function over the vectors of its
 *     argument matrices (rangeEval), functions of range vectors slide a
 *     closed window [t - offset - range, t - offset] over each series, and
 *     simple aggregations of a selector or a range function take their
 *     input series by series (eval_agg.c).
 *
 * The sample limit counts what Prometheus counts (currentSamples) at the
 * same places, so a query fails with "too many samples" when Prometheus's
 * would.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval_int.h"
#include "strata/err.h"
#include "strata/satmath.h"

/* ---- small helpers ---- */

bool st_is_stale_nan(double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u == ST_STALE_NAN_BITS;
}

int oom(const char *what) { return st_errorf(ST_ENOMEM, "promql: out of memory (%s)", what); }

int ev_too_many(void) {
    return st_errorf(ST_ELIMIT, "query processing would load too many samples into memory in query execution");
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Steps between deadline checks inside one series: a step of
 * quantile_over_time over a long window can take 100 us, and a timeout
 * should be noticed within tens of ms; a check costs one vDSO clock read. */
#define EV_CHECK_EVERY 0xff

int ev_check_done(ev_t *ev) {
    if (ev->q->cancel && atomic_load(ev->q->cancel))
        return st_errorf(ST_ECANCELED, "query was canceled in expression evaluation");
    if (ev->q->deadline_ns && now_ns() > ev->q->deadline_ns)
        return st_errorf(ST_ETIMEDOUT, "query timed out in expression evaluation");
    return 0;
}

int ev_check_steps(const ev_t *ev) {
    uint64_t max = ev->q->opts->max_steps;
    if (max && ev_steps(ev) > max)
        return st_errorf(ST_ELIMIT, "promql: an evaluation of %llu steps is more than the limit of %llu",
                         (unsigned long long)ev_steps(ev), (unsigned long long)max);
    return 0;
}

/* ---- pointer maps ---- */

static size_t pmap_slot(uint64_t key, size_t cap) {
    uint64_t h = key * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

int pmap_put(pmap_t *m, uint64_t key, size_t val) {
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        uint64_t *k = calloc(cap, sizeof *k);
        size_t *v = malloc(cap * sizeof *v);
        if (!k || !v) {
            free(k);
            free(v);
            return oom("map");
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->k[i]) continue;
            size_t s = pmap_slot(m->k[i], cap);
            while (k[s]) s = (s + 1) & (cap - 1);
            k[s] = m->k[i];
            v[s] = m->v[i];
        }
        free(m->k);
        free(m->v);
        m->k = k;
        m->v = v;
        m->cap = cap;
    }
    size_t s = pmap_slot(key, m->cap);
    while (m->k[s] && m->k[s] != key) s = (s + 1) & (m->cap - 1);
    if (!m->k[s]) {
        m->k[s] = key;
        m->n++;
    }
    m->v[s] = val;
    return 0;
}

bool pmap_get(const pmap_t *m, uint64_t key, size_t *val) {
    if (!m->cap) return false;
    size_t s = pmap_slot(key, m->cap);
    while (m->k[s]) {
        if (m->k[s] == key) {
            if (val) *val = m->v[s];
            return true;
        }
        s = (s + 1) & (m->cap - 1);
    }
    return false;
}

void pmap_clear(pmap_t *m) {
    if (m->cap && m->n) memset(m->k, 0, m->cap * sizeof *m->k);
    m->n = 0;
}

void pmap_free(pmap_t *m) {
    free(m->k);
    free(m->v);
    memset(m, 0, sizeof *m);
}

/* ---- interned label sets ---- */

const lset_t *lset_intern(qctx_t *q, const st_label_t *pairs, size_t n) {
    st_labels_t tmp = {(st_label_t *)pairs, n};
    uint64_t h = st_labels_hash(&tmp);
    if (q->tab_cap) {
        for (lset_t *e = q->tab[h & (q->tab_cap - 1)]; e; e = e->next)
            if (e->hash == h && st_labels_equal(&e->l, &tmp)) return e;
    }
    if ((q->tab_n + 1) > q->tab_cap) {
        size_t cap = q->tab_cap ? q->tab_cap * 2 : 256;
        lset_t **t = calloc(cap, sizeof *t);
        if (!t) {
            oom("label table");
            return NULL;
        }
        for (size_t i = 0; i < q->tab_cap; i++) {
            for (lset_t *e = q->tab[i], *nx; e; e = nx) {
                nx = e->next;
                e->next = t[e->hash & (cap - 1)];
                t[e->hash & (cap - 1)] = e;
            }
        }
        free(q->tab);
        q->tab = t;
        q->tab_cap = cap;
    }
    lset_t *e = calloc(1, sizeof *e);
    if (!e || (n && st_labels_from_sorted(&e->l, pairs, n))) {
        free(e);
        oom("label set");
        return NULL;
    }
    e->hash = h;
    e->next = q->tab[h & (q->tab_cap - 1)];
    q->tab[h & (q->tab_cap - 1)] = e;
    q->tab_n++;
    return e;
}

static void lset_table_free(qctx_t *q) {
    for (size_t i = 0; i < q->tab_cap; i++) {
        for (lset_t *e = q->tab[i], *nx; e; e = nx) {
            nx = e->next;
            st_labels_free(&e->l);
            free(e);
        }
    }
    free(q->tab);
    q->tab = NULL;
    q->tab_cap = q->tab_n = 0;
}

const char *lset_get(const lset_t *l, const char *name, size_t *len) {
    const st_label_t *x = st_labels_get(&l->l, name);
    if (!x) return NULL;
    if (len) *len = x->value_len;
    return x->value;
}

int lb_reset(lbuild_t *b, const lset_t *l) {
    b->n = 0;
    if (l->l.n > b->cap) {
        st_label_t *v = realloc(b->v, l->l.n * sizeof *v);
        if (!v) return oom("labels");
        b->v = v;
        b->cap = l->l.n;
    }
    if (l->l.n) memcpy(b->v, l->l.v, l->l.n * sizeof *b->v);
    b->n = l->l.n;
    return 0;
}

static st_label_t *lb_find(lbuild_t *b, const char *name, size_t nlen) {
    for (size_t i = 0; i < b->n; i++)
        if (b->v[i].name_len == nlen && memcmp(b->v[i].name, name, nlen) == 0) return &b->v[i];
    return NULL;
}

void lb_del(lbuild_t *b, const char *name) {
    size_t nlen = strlen(name);
    for (size_t i = 0; i < b->n; i++) {
        if (b->v[i].name_len == nlen && memcmp(b->v[i].name, name, nlen) == 0) {
            memmove(&b->v[i], &b->v[i + 1], (b->n - i - 1) * sizeof *b->v);
            b->n--;
            return;
        }
    }
}

int lb_set(lbuild_t *b, const char *name, size_t nlen, const char *val, size_t vlen) {
    st_label_t *x = lb_find(b, name, nlen);
    if (vlen == 0) {
        if (x) {
            size_t i = (size_t)(x - b->v);
            memmove(&b->v[i], &b->v[i + 1], (b->n - i - 1) * sizeof *b->v);
            b->n--;
        }
        return 0;
    }
    if (x) {
        x->value = val;
        x->value_len = vlen;
        return 0;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        st_label_t *v = realloc(b->v, cap * sizeof *v);
        if (!v) return oom("labels");
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = (st_label_t){name, val, nlen, vlen};
    return 0;
}

void lb_keep(lbuild_t *b, char *const *names, size_t n) {
    size_t w = 0;
    for (size_t i = 0; i < b->n; i++) {
        bool keep = false;
        for (size_t j = 0; j < n && !keep; j++)
            keep = strlen(names[j]) == b->v[i].name_len && memcmp(names[j], b->v[i].name, b->v[i].name_len) == 0;
        if (keep) b->v[w++] = b->v[i];
    }
    b->n = w;
}

static int pair_cmp(const void *x, const void *y) {
    const st_label_t *a = x, *b = y;
    return st_bytes_cmp(a->name, a->name_len, b->name, b->name_len);
}

const lset_t *lb_intern(qctx_t *q, lbuild_t *b) {
    bool sorted = true;
    for (size_t i = 1; i < b->n && sorted; i++) sorted = pair_cmp(&b->v[i - 1], &b->v[i]) < 0;
    if (!sorted) qsort(b->v, b->n, sizeof *b->v, pair_cmp);
    return lset_intern(q, b->v, b->n);
}

const lset_t *drop_metric_name(qctx_t *q, pmap_t *memo, const lset_t *l) {
    if (!st_labels_get(&l->l, ST_METRIC_NAME)) return l;
    size_t idx;
    if (memo && pmap_get(memo, pkey(l), &idx)) return (const lset_t *)(uintptr_t)idx;
    if (lb_reset(&q->lb, l)) return NULL;
    lb_del(&q->lb, ST_METRIC_NAME);
    const lset_t *r = lb_intern(q, &q->lb);
    if (r && memo && pmap_put(memo, pkey(l), (size_t)(uintptr_t)r)) return NULL;
    return r;
}

/* ---- vectors and matrices ---- */

int vec_push(vec_t *v, const lset_t *m, int64_t t, double val) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        smp_t *s = realloc(v->s, cap * sizeof *s);
        if (!s) return oom("vector");
        v->s = s;
        v->cap = cap;
    }
    v->s[v->n++] = (smp_t){m, t, val};
    return 0;
}

void vec_free(vec_t *v) {
    free(v->s);
    memset(v, 0, sizeof *v);
}

int ser_push(ser_t *s, int64_t t, double v) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        pt_t *p = realloc(s->p, cap * sizeof *p);
        if (!p) return oom("series points");
        s->p = p;
        s->cap = cap;
    }
    s->p[s->n++] = (pt_t){t, v};
    return 0;
}

int mat_push(mat_t *m, const lset_t *metric, ser_t **out) {
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        ser_t *s = realloc(m->s, cap * sizeof *s);
        if (!s) return oom("matrix");
        m->s = s;
        m->cap = cap;
    }
    m->s[m->n] = (ser_t){metric, NULL, 0, 0};
    *out = &m->s[m->n++];
    return 0;
}

void mat_free(mat_t *m) {
    for (size_t i = 0; i < m->n; i++) free(m->s[i].p);
    free(m->s);
    memset(m, 0, sizeof *m);
}

static uint64_t mat_samples(const mat_t *m) {
    uint64_t n = 0;
    for (size_t i = 0; i < m->n; i++) n += m->s[i].n;
    return n;
}

/* Interning makes equal label sets the same pointer. */
bool vec_has_dup(vec_t *v, pmap_t *scratch) {
    if (v->n < 2) return false;
    if (v->n == 2) return v->s[0].m == v->s[1].m;
    pmap_clear(scratch);
    for (size_t i = 0; i < v->n; i++) {
        if (pmap_get(scratch, pkey(v->s[i].m), NULL)) return true;
        if (pmap_put(scratch, pkey(v->s[i].m), 0)) return false;
    }
    return false;
}

static bool mat_has_dup(const mat_t *m) {
    if (m->n < 2) return false;
    pmap_t seen = {0};
    bool dup = false;
    for (size_t i = 0; i < m->n && !dup; i++) {
        if (pmap_get(&seen, pkey(m->s[i].m), NULL)) dup = true;
        else if (pmap_put(&seen, pkey(m->s[i].m), 0)) break;
    }
    pmap_free(&seen);
    return dup;
}

static int dup_labelset(void) { return st_errorf(ST_EINVAL, "vector cannot contain metrics with the same labelset"); }

/* ---- the evaluation tree ---- */

enode_t *unwrap_paren(enode_t *n) {
    while (n && n->kind == EN_PAREN) n = n->kid[0];
    return n;
}

enode_t *unwrap_arg(enode_t *n) {
    n = unwrap_paren(n);
    if (n && n->kind == EN_STEPINV) n = n->kid[0];
    return unwrap_paren(n);
}

static void enode_free(enode_t *n) {
    if (!n) return;
    enode_free(n->kid[0]);
    enode_free(n->kid[1]);
    for (size_t i = 0; i < n->nargs; i++) enode_free(n->args[i]);
    free(n->args);
    for (size_t i = 0; i < n->ndata; i++) free(n->data[i].p);
    free(n->data);
    st_series_set_free(n->set);
    free(n);
}

static int enode_build(const st_promql_expr_t *e, enode_t **out) {
    enode_t *n = calloc(1, sizeof *n);
    int rc = 0;
    if (!n) return oom("evaluation tree");
    n->e = e;
    n->type = e->type;
    switch (e->kind) {
    case ST_PROMQL_NUMBER: n->kind = EN_NUMBER; break;
    case ST_PROMQL_STRING: n->kind = EN_STRING; break;
    case ST_PROMQL_VECTOR_SELECTOR:
        n->kind = EN_VS;
        n->has_ts = e->vs.at == ST_PROMQL_AT_TIME;
        n->ts = e->vs.at_ms;
        n->offset = e->vs.offset_ms;
        break;
    case ST_PROMQL_MATRIX_SELECTOR:
        n->kind = EN_MS;
        rc = enode_build(e->ms.vs, &n->kid[0]);
        break;
    case ST_PROMQL_SUBQUERY:
        n->kind = EN_SUBQ;
        n->has_ts = e->sq.at == ST_PROMQL_AT_TIME;
        n->ts = e->sq.at_ms;
        n->offset = e->sq.offset_ms;
        rc = enode_build(e->sq.expr, &n->kid[0]);
        break;
    case ST_PROMQL_PAREN:
        n->kind = EN_PAREN;
        rc = enode_build(e->paren.expr, &n->kid[0]);
        break;
    case ST_PROMQL_UNARY:
        n->kind = EN_UNARY;
        rc = enode_build(e->unary.expr, &n->kid[0]);
        break;
    case ST_PROMQL_BINARY:
        n->kind = EN_BINARY;
        if (!(rc = enode_build(e->binary.lhs, &n->kid[0]))) rc = enode_build(e->binary.rhs, &n->kid[1]);
        break;
    case ST_PROMQL_CALL:
        n->kind = EN_CALL;
        n->fn = pql_func_impl(e->call.func->name, &n->matrix_fn);
        if (!n->fn) {
            rc = st_errorf(ST_EUNSUPPORTED, "function %s is not supported", e->call.func->name);
            break;
        }
        if (e->call.nargs && !(n->args = calloc(e->call.nargs, sizeof *n->args))) {
            rc = oom("evaluation tree");
            break;
        }
        for (size_t i = 0; i < e->call.nargs && !rc; i++) {
            rc = enode_build(e->call.args[i], &n->args[i]);
            if (!rc) n->nargs++;
        }
        break;
    case ST_PROMQL_AGGREGATE:
        n->kind = EN_AGG;
        rc = enode_build(e->agg.expr, &n->kid[0]);
        if (!rc && e->agg.param) rc = enode_build(e->agg.param, &n->kid[1]);
        break;
    }
    if (rc) {
        enode_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

static int wrap_invariant(enode_t **slot) {
    enode_t *w = calloc(1, sizeof *w);
    if (!w) return oom("evaluation tree");
    w->kind = EN_STEPINV;
    w->type = (*slot)->type;
    w->kid[0] = *slot;
    *slot = w;
    return 0;
}

static bool at_unsafe(const char *f) {
    static const char *const names[] = {"days_in_month", "day_of_month", "day_of_week", "day_of_year", "hour",
                                        "minute",        "month",        "year",        "predict_linear",
                                        "time",          "timestamp"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(f, names[i]) == 0) return true;
    return false;
}

/* PreprocessExpr's helper: resolves start()/end(), wraps step-invariant
 * children; *inv tells whether n itself is step-invariant. */
static int preprocess(qctx_t *q, enode_t *n, bool *inv) {
    int rc = 0;
    bool a = false, b = false;
    *inv = false;
    switch (n->kind) {
    case EN_VS:
        if (n->e->vs.at == ST_PROMQL_AT_START) n->has_ts = true, n->ts = q->start;
        else if (n->e->vs.at == ST_PROMQL_AT_END) n->has_ts = true, n->ts = q->end;
        *inv = n->has_ts;
        return 0;
    case EN_AGG:
    case EN_MS:
    case EN_PAREN:
    case EN_UNARY: return preprocess(q, n->kid[0], inv);
    case EN_BINARY:
        if ((rc = preprocess(q, n->kid[0], &a)) || (rc = preprocess(q, n->kid[1], &b))) return rc;
        if (a && b) {
            *inv = true;
            return 0;
        }
        if (a && (rc = wrap_invariant(&n->kid[0]))) return rc;
        if (b && (rc = wrap_invariant(&n->kid[1]))) return rc;
        return 0;
    case EN_CALL: {
        bool all = !at_unsafe(n->e->call.func->name);
        bool *each = calloc(n->nargs ? n->nargs : 1, sizeof *each);
        if (!each) return oom("preprocess");
        for (size_t i = 0; i < n->nargs && !rc; i++) {
            rc = preprocess(q, n->args[i], &each[i]);
            all = all && each[i];
        }
        if (!rc && all) *inv = true;
        for (size_t i = 0; i < n->nargs && !rc && !all; i++)
            if (each[i]) rc = wrap_invariant(&n->args[i]);
        free(each);
        return rc;
    }
    case EN_SUBQ:
        if ((rc = preprocess(q, n->kid[0], &a))) return rc;
        if (a && (rc = wrap_invariant(&n->kid[0]))) return rc;
        if (n->e->sq.at == ST_PROMQL_AT_START) n->has_ts = true, n->ts = q->start;
        else if (n->e->sq.at == ST_PROMQL_AT_END) n->has_ts = true, n->ts = q->end;
        *inv = n->has_ts;
        return 0;
    case EN_NUMBER:
    case EN_STRING: *inv = true; return 0;
    case EN_STEPINV: return 0;
    }
    return 0;
}

static int64_t node_orig_offset(const enode_t *n) {
    return n->kind == EN_VS ? n->e->vs.offset_ms : n->kind == EN_SUBQ ? n->e->sq.offset_ms : 0;
}

/* subqueryTimes: the offsets and ranges of the enclosing subqueries (since
 * the innermost one with @), and that @ time. */
static void subquery_times(enode_t *const *path, size_t depth, int64_t *off, int64_t *range, bool *has_ts,
                           int64_t *ts) {
    *off = *range = 0;
    *has_ts = false;
    for (size_t i = 0; i < depth; i++) {
        const enode_t *n = path[i];
        if (n->kind != EN_SUBQ) continue;
        *off = st_sat_add(*off, n->e->sq.offset_ms);
        *range = st_sat_add(*range, n->e->sq.range_ms);
        if (n->has_ts) {
            *off = n->e->sq.offset_ms;
            *range = n->e->sq.range_ms;
            *has_ts = true;
            *ts = n->ts;
        }
    }
}

typedef struct {
    enode_t **v;
    size_t n, cap;
} path_t;

static int path_push(path_t *p, enode_t *n) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        enode_t **v = realloc(p->v, cap * sizeof *v);
        if (!v) return oom("tree walk");
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = n;
    return 0;
}

/* Children in Prometheus's Children() order. */
static size_t children(enode_t *n, enode_t **out) {
    size_t k = 0;
    switch (n->kind) {
    case EN_CALL: return 0; /* handled by the callers through args */
    case EN_AGG:
        if (n->kid[1]) out[k++] = n->kid[1]; /* Param comes before Expr in Children() */
        out[k++] = n->kid[0];
        return k;
    default:
        for (int i = 0; i < 2; i++)
            if (n->kid[i]) out[k++] = n->kid[i];
        return k;
    }
}

/* setOffsetForAtModifier over the subtree n with ancestors path. */
static int set_offsets_walk(int64_t eval_time, enode_t *n, path_t *path) {
    if (n->kind == EN_VS || n->kind == EN_SUBQ) {
        int64_t orig = node_orig_offset(n);
        if (!n->has_ts) {
            n->offset = orig;
        } else {
            int64_t soff, srange, sts = 0;
            bool shas;
            subquery_times(path->v, path->n, &soff, &srange, &shas, &sts);
            if (shas) soff = st_sat_add(soff, st_sat_sub(eval_time, sts));
            n->offset = st_sat_add(orig, st_sat_sub(st_sat_sub(eval_time, n->ts), soff));
        }
    }
    int rc = path_push(path, n);
    if (rc) return rc;
    enode_t *kids[2];
    size_t nk = children(n, kids);
    for (size_t i = 0; i < nk && !rc; i++) rc = set_offsets_walk(eval_time, kids[i], path);
    for (size_t i = 0; i < n->nargs && !rc; i++) rc = set_offsets_walk(eval_time, n->args[i], path);
    path->n--;
    return rc;
}

static int set_offsets(int64_t eval_time, enode_t *root) {
    path_t p = {0};
    int rc = set_offsets_walk(eval_time, root, &p);
    free(p.v);
    return rc;
}

/* ---- selecting series (populateSeries) ---- */

/* Samples read from a set per call: a batch spares the callbacks of every
 * layer below (sets, dedup, chunk decoder) a call per sample. */
#define READ_BATCH 1024

/* The next series of set with samples in [mint, maxt] into s (its buffer
 * reused): labels interned, samples in strict time order (as a merge
 * would keep them), stale markers dropped when asked. 1, 0 at the end of
 * the set, or an error. */
static int read_series(qctx_t *q, st_series_set_t *set, int64_t mint, int64_t maxt, bool drop_stale, ser_t *s) {
    int rc;
    int64_t t[READ_BATCH];
    double v[READ_BATCH];
    while ((rc = st_series_set_next(set)) == 1) {
        const st_labels_t *l = st_series_set_labels(set);
        if (!(s->m = lset_intern(q, l->v, l->n))) return ST_ENOMEM;
        s->n = 0;
        while ((rc = st_series_set_samples(set, t, v, READ_BATCH)) > 0) {
            for (int i = 0; i < rc; i++) {
                if (t[i] < mint || t[i] > maxt || (drop_stale && st_is_stale_nan(v[i]))) continue;
                if (s->n && t[i] <= s->p[s->n - 1].t) continue;
                int prc = ser_push(s, t[i], v[i]);
                if (prc) return prc;
            }
        }
        if (rc < 0) return rc;
        if (s->n) return 1;
    }
    return rc;
}

static int load_series(qctx_t *q, enode_t *n, st_series_set_t *set, int64_t mint, int64_t maxt, bool drop_stale) {
    int rc;
    size_t cap = 0;
    ser_t s = {0};
    while ((rc = read_series(q, set, mint, maxt, drop_stale, &s)) == 1) {
        if (n->ndata == cap) {
            size_t nc = cap ? cap * 2 : 16;
            ser_t *d = realloc(n->data, nc * sizeof *d);
            if (!d) {
                rc = oom("selected series");
                break;
            }
            n->data = d;
            cap = nc;
        }
        n->data[n->ndata++] = s;
        s = (ser_t){0};
        if ((rc = ev_check_done(&(ev_t){.q = q}))) break;
    }
    free(s.p);
    return rc < 0 ? rc : 0;
}

void ser_iter_vs(ser_iter_t *it, enode_t *vs) {
    *it = (ser_iter_t){.v = vs->data, .n = vs->ndata, .lazy = vs->set ? vs : NULL};
}

void ser_iter_mat(ser_iter_t *it, const mat_t *m) { *it = (ser_iter_t){.v = m->s, .n = m->n}; }

int ser_iter_next(qctx_t *q, ser_iter_t *it, const ser_t **out) {
    enode_t *n = it->lazy;
    if (!n) {
        if (it->i == it->n) return 0;
        *out = &it->v[it->i++];
        return 1;
    }
    if (!it->i++) {
        /* each node is evaluated once, so its set is read once */
        if (n->set_read) return st_errorf(ST_EINVAL, "promql: internal error: a selector's series read twice");
        n->set_read = true;
    }
    int rc = read_series(q, n->set, n->set_mint, n->set_maxt, n->drop_stale, &it->buf);
    if (rc < 0) return st_errwrap(rc, "expanding series");
    *out = &it->buf;
    return rc;
}

void ser_iter_free(ser_iter_t *it) {
    free(it->buf.p);
    it->buf = (ser_t){0};
}

/* Is the selector at the end of path timestamp()'s argument, which reads
 * it at every step (unwrap_arg's wrappers in between)? */
static bool under_timestamp(const path_t *path) {
    size_t i = path->n;
    while (i > 0 && (path->v[i - 1]->kind == EN_PAREN || path->v[i - 1]->kind == EN_STEPINV)) i--;
    return i > 0 && path->v[i - 1]->kind == EN_CALL && strcmp(path->v[i - 1]->e->call.func->name, "timestamp") == 0;
}

static int populate_walk(qctx_t *q, enode_t *n, path_t *path) {
    int rc;
    if (n->kind == EN_VS) {
        enode_t *parent = path->n ? path->v[path->n - 1] : NULL;
        int64_t eval_range = parent && parent->kind == EN_MS ? parent->e->ms.range_ms : 0;
        /* getTimeRangesForSelector */
        int64_t start = q->start, end = q->end, soff, srange, sts = 0;
        bool shas;
        subquery_times(path->v, path->n, &soff, &srange, &shas, &sts);
        if (shas) start = end = sts;
        if (n->has_ts) {
            start = end = n->ts;
        } else {
            start = st_sat_sub(st_sat_sub(start, soff), srange);
            end = st_sat_sub(end, soff);
        }
        start = st_sat_sub(start, eval_range ? eval_range : q->opts->lookback_delta_ms);
        start = st_sat_sub(start, n->e->vs.offset_ms);
        end = st_sat_sub(end, n->e->vs.offset_ms);
        /* hints: step of the innermost subquery, enclosing function */
        int64_t step = 0;
        for (size_t i = 0; i < path->n; i++)
            if (path->v[i]->kind == EN_SUBQ)
                step = path->v[i]->e->sq.step_ms ? path->v[i]->e->sq.step_ms : q->opts->no_step_subquery_interval_ms;
        if (!step) step = q->interval;
        const char *func = "";
        for (size_t i = path->n; i-- > 0;) {
            const enode_t *a = path->v[i];
            if (a->kind == EN_AGG) func = st_promql_aggop_name(a->e->agg.op);
            else if (a->kind == EN_CALL) func = a->e->call.func->name;
            if (a->kind == EN_AGG || a->kind == EN_CALL || a->kind == EN_BINARY) break;
        }
        st_promql_hints_t h = {start, end, step, eval_range, func, false, NULL, 0};
        if (parent && parent->kind == EN_AGG) {
            h.by = !parent->e->agg.without;
            h.grouping = (const char *const *)parent->e->agg.grouping.v;
            h.ngrouping = parent->e->agg.grouping.n;
        }
        st_series_set_t *set = NULL;
        rc = q->qb->select(q->qb->ctx, &n->e->vs.matchers, start, end, &h, &set, q->warnings);
        if (rc) return st_errwrap(rc, "expanding series");
        n->drop_stale = eval_range != 0;
        if (!under_timestamp(path)) {
            /* read when evaluated, a series at a time */
            n->set = set;
            n->set_mint = start;
            n->set_maxt = end;
            return 0;
        }
        rc = load_series(q, n, set, start, end, n->drop_stale);
        st_series_set_free(set);
        if (rc) return st_errwrap(rc, "expanding series");
        return 0;
    }
    if ((rc = path_push(path, n))) return rc;
    enode_t *kids[2];
    size_t nk = children(n, kids);
    for (size_t i = 0; i < nk && !rc; i++) rc = populate_walk(q, kids[i], path);
    for (size_t i = 0; i < n->nargs && !rc; i++) rc = populate_walk(q, n->args[i], path);
    path->n--;
    return rc;
}

/* ---- evaluation ---- */

static int eval(ev_t *ev, enode_t *n, mat_t *out);

int range_eval(ev_t *ev, prep_fn_t prep, step_fn_t fn, void *ctx, enode_t *const *exprs, size_t nexprs, mat_t *out) {
    int rc = 0;
    uint64_t nsteps = ev_steps(ev);
    uint64_t orig_samples = ev->cur;
    mat_t mats[8] = {{0}};
    vec_t vecs[8] = {{0}};
    const lset_t **helpers[8] = {0}, **bufh[8] = {0};
    size_t *cursor[8] = {0};
    vec_t res = {0};
    pmap_t index = {0}, scratch = {0};
    memset(out, 0, sizeof *out);
    if (nexprs > 8) return st_errorf(ST_EINVAL, "promql: too many arguments");
    if ((rc = ev_check_steps(ev))) return rc;
    for (size_t i = 0; i < nexprs; i++) {
        if (exprs[i] && exprs[i]->type != ST_PROMQL_TSTRING && (rc = eval(ev, exprs[i], &mats[i]))) goto out;
    }
    for (size_t i = 0; i < nexprs; i++) {
        size_t ns = mats[i].n ? mats[i].n : 1;
        if (!(cursor[i] = calloc(ns, sizeof **cursor))) {
            rc = oom("range evaluation");
            goto out;
        }
        if (!prep) continue;
        if (!(helpers[i] = calloc(ns, sizeof **helpers)) || !(bufh[i] = calloc(ns, sizeof **bufh))) {
            rc = oom("range evaluation");
            goto out;
        }
        for (size_t s = 0; s < mats[i].n; s++) {
            if (!(helpers[i][s] = prep(ev, ctx, mats[i].s[s].m))) {
                rc = ST_ENOMEM;
                goto out;
            }
        }
    }
    uint64_t temp_samples = ev->cur;
    for (uint64_t k = 0; k < nsteps; k++) {
        int64_t ts = step_ts(ev, k);
        if ((rc = ev_check_done(ev))) goto out;
        ev->cur = temp_samples;
        for (size_t i = 0; i < nexprs; i++) {
            vecs[i].n = 0;
            size_t nb = 0;
            for (size_t s = 0; s < mats[i].n; s++) {
                ser_t *se = &mats[i].s[s];
                if (cursor[i][s] >= se->n || se->p[cursor[i][s]].t != ts) continue;
                if (ev->cur >= ev->max) {
                    rc = ev_too_many();
                    goto out;
                }
                if ((rc = vec_push(&vecs[i], se->m, ts, se->p[cursor[i][s]].v))) goto out;
                if (prep) bufh[i][nb++] = helpers[i][s];
                cursor[i][s]++;
                ev->cur++;
            }
        }
        res.n = 0;
        if ((rc = fn(ev, ctx, vecs, (const lset_t *const *const *)bufh, ts, &res))) goto out;
        if (vec_has_dup(&res, &scratch)) {
            rc = dup_labelset();
            goto out;
        }
        ev->cur += res.n;
        temp_samples += res.n;
        if (ev->cur > ev->max) {
            rc = ev_too_many();
            goto out;
        }
        if (ev->start == ev->end) {
            for (size_t j = 0; j < res.n; j++) {
                ser_t *se = NULL;
                if ((rc = mat_push(out, res.s[j].m, &se)) || (rc = ser_push(se, ts, res.s[j].v))) goto out;
            }
            ev->cur = orig_samples + mat_samples(out);
            goto out;
        }
        for (size_t j = 0; j < res.n; j++) {
            size_t at;
            ser_t *se = NULL;
            if (pmap_get(&index, pkey(res.s[j].m), &at)) {
                se = &out->s[at];
            } else {
                if ((rc = pmap_put(&index, pkey(res.s[j].m), out->n)) || (rc = mat_push(out, res.s[j].m, &se)))
                    goto out;
            }
            if ((rc = ser_push(se, ts, res.s[j].v))) goto out;
        }
    }
    ev->cur = orig_samples + mat_samples(out);
out:
    for (size_t i = 0; i < nexprs && i < 8; i++) {
        mat_free(&mats[i]);
        vec_free(&vecs[i]);
        free(helpers[i]);
        free(bufh[i]);
        free(cursor[i]);
    }
    vec_free(&res);
    pmap_free(&index);
    pmap_free(&scratch);
    if (rc) mat_free(out);
    return rc;
}

/* The sample of a selected series at ref (vectorSelectorSingle): the last
 * one at or before ref, not older than the lookback delta, not a stale
 * marker. *cur is a forward-only cursor for increasing refs. */
static bool sample_at(const ev_t *ev, const ser_t *s, size_t *cur, int64_t ref, int64_t *t, double *v) {
    size_t i = *cur;
    if (i < s->n && s->p[i].t > ref) i = 0; /* ref went back: restart */
    while (i + 1 < s->n && s->p[i + 1].t <= ref) i++;
    *cur = i;
    if (!s->n || s->p[i].t > ref) return false;
    if (s->p[i].t < st_sat_sub(ref, ev->lookback)) return false;
    if (st_is_stale_nan(s->p[i].v)) return false;
    *t = s->p[i].t;
    *v = s->p[i].v;
    return true;
}

int eval_vs_to(ev_t *ev, enode_t *n, series_sink_t sink, void *sctx, mat_t *out) {
    uint64_t nsteps = ev_steps(ev);
    ser_t buf = {0}; /* a series for the sink */
    ser_iter_t it;
    const ser_t *s;
    int rc = ev_check_steps(ev);
    if (rc) return rc;
    ser_iter_vs(&it, n);
    while ((rc = ser_iter_next(ev->q, &it, &s)) == 1) {
        ser_t *o = sink ? &buf : NULL;
        size_t cur = 0;
        buf.n = 0;
        for (uint64_t k = 0; k < nsteps; k++) {
            int64_t ts = step_ts(ev, k), t;
            double v;
            if ((k & EV_CHECK_EVERY) == EV_CHECK_EVERY && (rc = ev_check_done(ev))) goto out;
            if (!sample_at(ev, s, &cur, st_sat_sub(ts, n->offset), &t, &v)) continue;
            if (ev->cur >= ev->max) {
                rc = ev_too_many();
                goto out;
            }
            if (!o && (rc = mat_push(out, s->m, &o))) goto out;
            if ((rc = ser_push(o, ts, v))) goto out;
            ev->cur++;
        }
        if (sink && buf.n && (rc = sink(ev, sctx, s->m, buf.p, buf.n))) goto out;
        if ((rc = ev_check_done(ev))) goto out;
    }
out:
    ser_iter_free(&it);
    free(buf.p);
    return rc;
}

/* Index of the first point at or after t. */
static size_t lower_bound(const pt_t *p, size_t n, int64_t t) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p[mid].t < t) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static void window(const pt_t *p, size_t n, int64_t mint, int64_t maxt, size_t *from, size_t *to) {
    *from = lower_bound(p, n, mint);
    size_t e = lower_bound(p, n, maxt);
    if (e < n && p[e].t == maxt) e++;
    *to = e < *from ? *from : e;
}

static int eval_ms(ev_t *ev, enode_t *n, mat_t *out) {
    if (ev->start != ev->end) return st_errorf(ST_EINVAL, "cannot do range evaluation of matrix selector");
    enode_t *vs = n->kid[0];
    int64_t maxt = st_sat_sub(ev->start, vs->offset), mint = st_sat_sub(maxt, n->e->ms.range_ms);
    ser_iter_t it;
    const ser_t *s;
    int rc;
    ser_iter_vs(&it, vs);
    while ((rc = ev_check_done(ev)) == 0 && (rc = ser_iter_next(ev->q, &it, &s)) == 1) {
        size_t from, to;
        window(s->p, s->n, mint, maxt, &from, &to);
        if (from == to) continue;
        if (ev->cur + (to - from) > ev->max) {
            rc = ev_too_many();
            break;
        }
        ser_t *o = NULL;
        if ((rc = mat_push(out, s->m, &o))) break;
        if (!(o->p = malloc((to - from) * sizeof *o->p))) {
            rc = oom("range vector");
            break;
        }
        memcpy(o->p, s->p + from, (to - from) * sizeof *o->p);
        o->n = o->cap = to - from;
        ev->cur += to - from;
    }
    ser_iter_free(&it);
    return rc;
}

static int eval_subquery(ev_t *ev, enode_t *n, mat_t *out) {
    int64_t offset = n->offset, range = n->e->sq.range_ms;
    ev_t nev = *ev;
    nev.end = st_sat_sub(ev->end, offset);
    nev.interval = n->e->sq.step_ms ? n->e->sq.step_ms : ev->q->opts->no_step_subquery_interval_ms;
    if (nev.interval <= 0) return st_errorf(ST_EINVAL, "promql: subquery step must be positive");
    int64_t lo = st_sat_sub(st_sat_sub(ev->start, offset), range);
    nev.start = nev.interval * (lo / nev.interval);
    if (nev.start < lo) nev.start = st_sat_add(nev.start, nev.interval);
    int rc;
    if (nev.start != ev->start && (rc = set_offsets(nev.start, n->kid[0]))) return rc;
    rc = eval(&nev, n->kid[0], out);
    ev->cur = nev.cur;
    return rc;
}

static int eval_stepinv(ev_t *ev, enode_t *n, mat_t *out) {
    enode_t *in = n->kid[0];
    if (in->kind == EN_NUMBER) return eval(ev, in, out);
    if (in->kind == EN_STRING || in->type == ST_PROMQL_TSTRING)
        return st_errorf(ST_EINVAL, "unexpected result in StepInvariantExpr evaluation: *parser.StepInvariantExpr");
    ev_t nev = *ev;
    nev.end = ev->start;
    int rc = eval(&nev, in, out);
    ev->cur = nev.cur;
    if (rc) return rc;
    if (in->kind == EN_MS || in->kind == EN_SUBQ) return 0;
    uint64_t nsteps = ev_steps(ev);
    if ((rc = ev_check_steps(ev))) goto fail;
    for (size_t i = 0; i < out->n; i++) {
        ser_t *s = &out->s[i];
        if (s->n != 1) {
            rc = st_errorf(ST_EINVAL, "unexpected number of samples");
            goto fail;
        }
        for (uint64_t k = 1; k < nsteps; k++) {
            if ((rc = ser_push(s, step_ts(ev, k), s->p[0].v))) goto fail;
            if (++ev->cur > ev->max) {
                rc = ev_too_many();
                goto fail;
            }
        }
    }
    return 0;
fail:
    mat_free(out);
    return rc;
}

static int eval_unary(ev_t *ev, enode_t *n, mat_t *out) {
    int rc = eval(ev, n->kid[0], out);
    if (rc || n->e->unary.op != ST_PROMQL_SUB) return rc;
    for (size_t i = 0; i < out->n; i++) {
        if (!(out->s[i].m = drop_metric_name(ev->q, NULL, out->s[i].m))) {
            mat_free(out);
            return ST_ENOMEM;
        }
        for (size_t j = 0; j < out->s[i].n; j++) out->s[i].p[j].v = -out->s[i].p[j].v;
    }
    if (mat_has_dup(out)) {
        mat_free(out);
        return dup_labelset();
    }
    return 0;
}

static int number_step(ev_t *ev, void *ctx, vec_t *in, const lset_t *const *const *h, int64_t ts, vec_t *out) {
    (void)in, (void)h, (void)ts;
    return vec_push(out, ev->q->empty, 0, *(const double *)ctx);
}

/* ---- function calls ---- */

typedef struct {
    enode_t *n;
    enode_t *vs; /* timestamp(selector) */
    pmap_t memo;
    void *cache;
} call_ctx_t;

static int call_step(ev_t *ev, void *ctx, vec_t *in, const lset_t *const *const *h, int64_t ts, vec_t *out) {
    (void)h;
    call_ctx_t *c = ctx;
    fcall_t fc = {.ev = ev, .node = c->n, .ts = ts, .args = in, .out = out, .memo = &c->memo, .cache = c->cache};
    int rc = c->n->fn(&fc);
    c->cache = fc.cache;
    return rc;
}

/* timestamp(v) of a plain selector: the timestamps of the samples, not of
 * the steps, so the selector is evaluated at each step here. */
static int timestamp_step(ev_t *ev, void *ctx, vec_t *in, const lset_t *const *const *h, int64_t ts, vec_t *out) {
    (void)in, (void)h;
    call_ctx_t *c = ctx;
    enode_t *vs = c->vs;
    if (vs->has_ts) vs->offset = st_sat_sub(ts, vs->ts);
    vec_t v = {0};
    int rc = 0;
    for (size_t i = 0; i < vs->ndata; i++) {
        int64_t t;
        double val;
        size_t cur = 0;
        if (!sample_at(ev, &vs->data[i], &cur, st_sat_sub(ts, vs->offset), &t, &val)) continue;
        if ((rc = vec_push(&v, vs->data[i].m, t, val))) break;
        if (++ev->cur > ev->max) {
            rc = ev_too_many();
            break;
        }
    }
    if (!rc) {
        fcall_t fc = {.ev = ev, .node = c->n, .ts = ts, .args = &v, .out = out, .memo = &c->memo};
        rc = c->n->fn(&fc);
    }
    vec_free(&v);
    return rc;
}

/* ---- functions of range vectors ---- */

/* Window functions computed incrementally as the window slides, with the
 * same arithmetic as functions.c's on the whole window. */
typedef enum { RK_GENERIC, RK_RATE, RK_INCREASE, RK_DELTA, RK_MAX, RK_MIN } rkind_t;

static rkind_t range_kind(const char *fname) {
    static const struct {
        const char *name;
        rkind_t k;
    } kinds[] = {{"rate", RK_RATE}, {"increase", RK_INCREASE}, {"delta", RK_DELTA},
                 {"max_over_time", RK_MAX}, {"min_over_time", RK_MIN}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(fname, kinds[i].name) == 0) return kinds[i].k;
    return RK_GENERIC;
}

/* Per-series window state, its buffers reused across series. */
typedef struct {
    size_t *resets; /* rate, increase: the indices i with p[i].v < p[i-1].v */
    size_t *dq;     /* max/min_over_time: window points that may yet be the extreme */
    size_t cap;
} rscratch_t;

static int rscratch_fit(rscratch_t *r, size_t n) {
    if (n <= r->cap) return 0;
    size_t *a = realloc(r->resets, n * sizeof *a);
    if (!a) return oom("range function");
    r->resets = a;
    size_t *d = realloc(r->dq, n * sizeof *d);
    if (!d) return oom("range function");
    r->dq = d;
    r->cap = n;
    return 0;
}

/* max_over_time scans `if (v > m || isnan(m)) m = v` from m = the first
 * value: its result is the earliest of the largest non-NaN values, or the
 * last value when all are NaN (min_over_time alike). The deque holds, in
 * time order, the non-NaN window points not beaten by a later one (ties do
 * not beat), so its head is that earliest extreme. */
static inline bool rk_beats(rkind_t k, double x, double y) { return k == RK_MAX ? x > y : x < y; }

/* A function of a range vector, one series at a time: at each step the
 * closed window [t - offset - range, t - offset] of the series, found by
 * two cursors that only move forward, as the steps do. rate, increase and
 * delta take the values before resets from a list made once per series
 * instead of scanning each window; max/min_over_time keep a monotonic
 * deque; both give bit for bit what the function gives on the window.
 * Each output series goes to sink when one is given (its points lent for
 * the call), else into out. Samples are counted in ev->cur as if every
 * series were kept, so the limit trips where it does with out. */
int eval_range_fn(ev_t *ev, enode_t *n, series_sink_t sink, void *sctx, mat_t *out) {
    call_ctx_t c = {.n = n};
    int rc = 0;
    const char *fname = n->e->call.func->name;
    size_t mi = 0;
    while (mi < n->nargs) {
        enode_t *a = unwrap_arg(n->args[mi]);
        if (a->kind == EN_MS || a->kind == EN_SUBQ) break;
        mi++;
    }
    if (out) memset(out, 0, sizeof *out);
    if (mi == n->nargs) return st_errorf(ST_EINVAL, "promql: %s: no range vector argument", fname);
    enode_t *marg = unwrap_arg(n->args[mi]);
    mat_t other[3] = {{0}}, sub = {0};
    vec_t argv[3] = {{0}}, res = {0};
    pmap_t seen = {0};
    rscratch_t rs = {0};
    ser_t o = {0};
    bool dup = false;
    uint64_t sub_samples = 0, nsteps = ev_steps(ev);
    size_t held = 0; /* points of the current window, counted in ev->cur */
    ser_iter_t it = {0};
    const ser_t *s;
    int64_t range, offset;
    rkind_t kind = range_kind(fname);
    if (n->nargs > 3) return st_errorf(ST_EINVAL, "promql: %s: too many arguments", fname);
    if (marg->kind == EN_SUBQ) {
        if ((rc = eval_subquery(ev, marg, &sub))) return rc;
        sub_samples = mat_samples(&sub);
        ser_iter_mat(&it, &sub);
        range = marg->e->sq.range_ms;
        offset = marg->has_ts ? st_sat_add(marg->e->sq.offset_ms, st_sat_sub(ev->start, marg->ts)) : marg->offset;
    } else {
        ser_iter_vs(&it, marg->kid[0]);
        range = marg->e->ms.range_ms;
        offset = marg->kid[0]->offset;
    }
    for (size_t j = 0; j < n->nargs; j++) {
        if (j == mi) continue;
        if ((rc = eval(ev, n->args[j], &other[j]))) goto out;
        if ((rc = vec_push(&argv[j], ev->q->empty, 0, 0))) goto out;
    }
    if ((rc = ev_check_steps(ev))) goto out;
    bool keep_name = strcmp(fname, "last_over_time") == 0;
    while ((rc = ev_check_done(ev)) == 0 && (rc = ser_iter_next(ev->q, &it, &s)) == 1) {
        const pt_t *p = s->p;
        ev->cur -= held;
        held = 0;
        const lset_t *metric = keep_name ? s->m : drop_metric_name(ev->q, &c.memo, s->m);
        if (!metric) {
            rc = ST_ENOMEM;
            goto out;
        }
        o.n = 0;
        size_t nres = 0, r = 0, from = 0, to = 0, dh = 0, dt = 0;
        if (kind != RK_GENERIC && (rc = rscratch_fit(&rs, s->n))) goto out;
        if (kind == RK_RATE || kind == RK_INCREASE)
            for (size_t j = 1; j < s->n; j++)
                if (p[j].v < p[j - 1].v) rs.resets[nres++] = j;
        for (uint64_t k = 0; k < nsteps; k++) {
            int64_t ts = step_ts(ev, k);
            if ((k & EV_CHECK_EVERY) == EV_CHECK_EVERY && (rc = ev_check_done(ev))) goto out;
            for (size_t j = 0; j < n->nargs; j++) {
                if (j == mi) continue;
                if (!other[j].n || other[j].s[0].n <= k) {
                    rc = st_errorf(ST_EINVAL, "unexpected error: runtime error: index out of range");
                    goto out;
                }
                argv[j].s[0].v = other[j].s[0].p[k].v;
            }
            int64_t maxt = st_sat_sub(ts, offset), mint = st_sat_sub(maxt, range);
            while (from < s->n && p[from].t < mint) from++;
            if (to < from) to = from;
            for (; to < s->n && p[to].t <= maxt; to++) {
                if ((kind != RK_MAX && kind != RK_MIN) || isnan(p[to].v)) continue;
                while (dt > dh && rk_beats(kind, p[to].v, p[rs.dq[dt - 1]].v)) dt--;
                rs.dq[dt++] = to;
            }
            ev->cur -= held;
            held = to - from;
            if (ev->cur + held > ev->max) {
                rc = ev_too_many();
                goto out;
            }
            ev->cur += held;
            if (!held) continue;
            double v;
            switch (kind) {
            case RK_RATE:
            case RK_INCREASE:
            case RK_DELTA: {
                if (held < 2) continue;
                double result = p[to - 1].v - p[from].v;
                if (kind != RK_DELTA) {
                    while (r < nres && rs.resets[r] <= from) r++;
                    for (size_t j = r; j < nres && rs.resets[j] < to; j++) result += p[rs.resets[j] - 1].v;
                }
                v = pql_extrapolate(p + from, held, result, ts, range, offset, kind != RK_DELTA, kind == RK_RATE);
                break;
            }
            case RK_MAX:
            case RK_MIN:
                while (dt > dh && rs.dq[dh] < from) dh++;
                v = dt > dh ? p[rs.dq[dh]].v : p[to - 1].v;
                break;
            default: {
                res.n = 0;
                fcall_t fc = {.ev = ev, .node = n, .ts = ts, .args = argv, .out = &res, .memo = &c.memo,
                              .cache = c.cache};
                fc.win = (mwin_t){s->m, p + from, held, range, offset};
                rc = n->fn(&fc);
                c.cache = fc.cache;
                if (rc) goto out;
                if (!res.n) continue;
                v = res.s[0].v;
            }
            }
            if ((rc = ser_push(&o, ts, v))) goto out;
        }
        if (!o.n) continue;
        if (ev->cur + o.n > ev->max) {
            rc = ev_too_many();
            goto out;
        }
        if (!dup) {
            dup = pmap_get(&seen, pkey(metric), NULL);
            if (!dup && (rc = pmap_put(&seen, pkey(metric), 0))) goto out;
        }
        size_t np = o.n;
        if (sink) {
            if ((rc = sink(ev, sctx, metric, o.p, o.n))) goto out;
        } else {
            ser_t *slot = NULL;
            if ((rc = mat_push(out, metric, &slot))) goto out;
            *slot = o;
            slot->m = metric;
            o = (ser_t){0};
        }
        ev->cur += np;
    }
    if (rc) goto out;
    ev->cur -= held;
    held = 0;
    if (strcmp(fname, "absent_over_time") == 0) {
        /* one series of 1s at the steps where no input series had a value */
        bool *found = calloc(nsteps ? nsteps : 1, sizeof *found);
        uint64_t nfound = 0;
        if (!found) {
            rc = oom("absent_over_time");
            goto out;
        }
        for (size_t i = 0; i < out->n; i++) {
            for (size_t j = 0; j < out->s[i].n; j++) {
                uint64_t k = ((uint64_t)out->s[i].p[j].t - (uint64_t)ev->start) / (uint64_t)ev->interval;
                if (k < nsteps && !found[k]) found[k] = true, nfound++;
            }
        }
        mat_free(out);
        if (nfound < nsteps) {
            ser_t *so = NULL;
            const lset_t *m = absent_labels(ev->q, n->args[0]);
            if (!m) rc = ST_ENOMEM;
            for (uint64_t k = 0; k < nsteps && !rc; k++) {
                if (found[k]) continue;
                if (!out->n && (rc = mat_push(out, m, &so))) break;
                rc = ser_push(&out->s[0], step_ts(ev, k), 1);
            }
        }
        free(found);
        goto out;
    }
    if (dup) rc = dup_labelset();
out:
    if (held) ev->cur -= held;
    ev->cur -= sub_samples < ev->cur ? sub_samples : ev->cur;
    for (int j = 0; j < 3; j++) {
        mat_free(&other[j]);
        vec_free(&argv[j]);
    }
    free(o.p);
    ser_iter_free(&it);
    free(rs.resets);
    free(rs.dq);
    pmap_free(&seen);
    mat_free(&sub);
    vec_free(&res);
    pmap_free(&c.memo);
    pql_func_cache_free(c.cache);
    if (rc && out) mat_free(out);
    return rc;
}

static int eval_call(ev_t *ev, enode_t *n, mat_t *out) {
    if (n->matrix_fn) return eval_range_fn(ev, n, NULL, NULL, out);
    call_ctx_t c = {.n = n};
    int rc;
    if (strcmp(n->e->call.func->name, "timestamp") == 0) {
        enode_t *a = unwrap_arg(n->args[0]);
        if (a->kind == EN_VS) {
            c.vs = a;
            rc = range_eval(ev, NULL, timestamp_step, &c, NULL, 0, out);
            pmap_free(&c.memo);
            return rc;
        }
    }
    rc = range_eval(ev, NULL, call_step, &c, n->args, n->nargs, out);
    pmap_free(&c.memo);
    pql_func_cache_free(c.cache);
    return rc;
}

static int eval(ev_t *ev, enode_t *n, mat_t *out) {
    int rc = ev_check_done(ev);
    memset(out, 0, sizeof *out);
    if (rc) return rc;
    switch (n->kind) {
    case EN_NUMBER: return range_eval(ev, NULL, number_step, (void *)&n->e->number, NULL, 0, out);
    case EN_STRING: return st_errorf(ST_EINVAL, "promql: a string is not a value here");
    case EN_VS: rc = eval_vs_to(ev, n, NULL, NULL, out); break;
    case EN_MS: rc = eval_ms(ev, n, out); break;
    case EN_SUBQ: return eval_subquery(ev, n, out);
    case EN_PAREN: return eval(ev, n->kid[0], out);
    case EN_UNARY: return eval_unary(ev, n, out);
    case EN_BINARY: return eval_binary(ev, n, out);
    case EN_CALL: return eval_call(ev, n, out);
    case EN_AGG: return eval_aggregate(ev, n, out);
    case EN_STEPINV: return eval_stepinv(ev, n, out);
    }
    if (rc) mat_free(out);
    return rc;
}

/* ---- the query ---- */

void st_promql_engine_opts_default(st_promql_engine_opts_t *o) {
    memset(o, 0, sizeof *o);
    o->lookback_delta_ms = 5 * 60 * 1000;
    o->timeout_ms = 2 * 60 * 1000;
    o->max_samples = 50000000;
    o->no_step_subquery_interval_ms = 60 * 1000;
    o->max_points_per_series = 11000;
}

int st_promql_warnings_add(st_promql_warnings_t *w, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) return oom("warning");
    for (size_t i = 0; i < w->n; i++) {
        if (strcmp(w->v[i], s) == 0) {
            free(s);
            return 0;
        }
    }
    char **v = realloc(w->v, (w->n + 1) * sizeof *v);
    if (!v) {
        free(s);
        return oom("warning");
    }
    w->v = v;
    w->v[w->n++] = s;
    return 0;
}

void st_promql_warnings_free(st_promql_warnings_t *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free(w->v[i]);
    free(w->v);
    w->v = NULL;
    w->n = 0;
}

void st_promql_result_free(st_promql_result_t *r) {
    if (!r) return;
    for (size_t i = 0; i < r->nseries; i++) {
        st_labels_free(&r->series[i].metric);
        free(r->series[i].points);
    }
    free(r->series);
    free(r->string);
    free(r->error);
    st_promql_warnings_free(&r->warnings);
    memset(r, 0, sizeof *r);
}

static int series_cmp(const void *a, const void *b) {
    return st_labels_cmp(&((const st_promql_series_t *)a)->metric, &((const st_promql_series_t *)b)->metric);
}

/* The evaluated matrix as the result (as a vector when instant): labels
 * copied, a matrix's point arrays handed over (m keeps the rest). */
static int to_result(mat_t *m, bool vector, int64_t t, st_promql_result_t *out) {
    if (m->n && !(out->series = calloc(m->n, sizeof *out->series))) return oom("result");
    for (size_t i = 0; i < m->n; i++) {
        st_promql_series_t *s = &out->series[i];
        if (st_labels_copy(&s->metric, &m->s[i].m->l)) return oom("result labels");
        out->nseries++;
        if (vector) {
            if (!(s->points = malloc(sizeof *s->points))) return oom("result points");
            s->points[0] = (st_promql_point_t){t, m->s[i].p[0].v};
            s->npoints = 1;
        } else {
            s->points = m->s[i].p;
            s->npoints = m->s[i].n;
            m->s[i] = (ser_t){m->s[i].m, NULL, 0, 0};
        }
    }
    return 0;
}

int st_promql_exec(const st_promql_engine_opts_t *opts, const st_promql_queryable_t *qb, const st_promql_query_t *qry,
                   st_promql_result_t *out) {
    st_promql_engine_opts_t defaults;
    st_promql_expr_t *parsed = NULL;
    enode_t *root = NULL;
    qctx_t q = {0};
    mat_t m = {0};
    bool in_eval = false;
    int rc = 0;
    memset(out, 0, sizeof *out);
    if (!opts) {
        st_promql_engine_opts_default(&defaults);
        opts = &defaults;
    }
    const st_promql_expr_t *expr = qry->expr;
    bool range = !(qry->start == qry->end && qry->step == 0);
    /* the API's checks, in its order: parameters, parsing, the result type */
    if (range) {
        if (qry->end < qry->start) {
            rc = st_errorf(ST_EINVAL, "invalid parameter \"end\": end timestamp must not be before start time");
            goto out;
        }
        if (qry->step <= 0) {
            rc = st_errorf(ST_EINVAL, "invalid parameter \"step\": zero or negative query resolution step widths are "
                                      "not accepted. Try a positive integer");
            goto out;
        }
        if (opts->max_points_per_series &&
            ((uint64_t)qry->end - (uint64_t)qry->start) / (uint64_t)qry->step > (uint64_t)opts->max_points_per_series) {
            rc = st_errorf(ST_EINVAL, "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing "
                                      "the query resolution (?step=XX)");
            goto out;
        }
    }
    if (!expr) {
        if ((rc = st_promql_parse(&parsed, qry->text ? qry->text : "", qry->text ? qry->text_len : 0))) {
            /* the API names the parameter for instant queries only */
            if (!range && rc == ST_EINVAL) st_errwrap(rc, "invalid parameter \"query\"");
            goto out;
        }
        expr = parsed;
    }
    if (range && expr->type != ST_PROMQL_TVECTOR && expr->type != ST_PROMQL_TSCALAR) {
        rc = st_errorf(ST_EINVAL, "invalid expression type \"%s\" for range query, must be Scalar or instant Vector",
                       st_promql_type_name(expr->type));
        goto out;
    }
    in_eval = true;
    q.opts = opts;
    q.qb = qb;
    q.warnings = &out->warnings;
    q.cancel = qry->cancel;
    q.start = qry->start;
    q.end = qry->end;
    q.interval = range ? qry->step : 0;
    if (opts->timeout_ms > 0) q.deadline_ns = now_ns() + opts->timeout_ms * 1000000;
    if (!(q.empty = lset_intern(&q, NULL, 0))) {
        rc = ST_ENOMEM;
        goto out;
    }
    bool inv;
    if ((rc = enode_build(expr, &root)) || (rc = preprocess(&q, root, &inv))) goto out;
    if (inv && (rc = wrap_invariant(&root))) goto out;
    path_t path = {0};
    rc = populate_walk(&q, root, &path);
    free(path.v);
    if (rc || (rc = set_offsets(qry->start, root))) goto out;
    ev_t ev = {&q, qry->start, range ? qry->end : qry->start, range ? qry->step : 1, 0, opts->max_samples,
               opts->lookback_delta_ms};
    if (root->type == ST_PROMQL_TSTRING) {
        enode_t *in = root->kind == EN_STEPINV ? root->kid[0] : root;
        if (in->kind != EN_STRING) {
            rc = st_errorf(ST_EINVAL, "unexpected result in StepInvariantExpr evaluation: *parser.StepInvariantExpr");
            goto out;
        }
        out->type = ST_PROMQL_TSTRING;
        out->string_t = qry->start;
        out->string_len = in->e->string.len;
        if (!(out->string = malloc(in->e->string.len + 1))) {
            rc = oom("result");
            goto out;
        }
        memcpy(out->string, in->e->string.v, in->e->string.len);
        out->string[in->e->string.len] = 0;
        goto out;
    }
    if ((rc = eval(&ev, root, &m))) goto out;
    out->type = expr->type;
    if (!range) {
        if (expr->type == ST_PROMQL_TSCALAR) {
            if (!m.n || !m.s[0].n) {
                rc = st_errorf(ST_EINVAL, "unexpected error: runtime error: index out of range");
                goto out;
            }
            out->scalar = (st_promql_point_t){qry->start, m.s[0].p[0].v};
        } else {
            rc = to_result(&m, expr->type == ST_PROMQL_TVECTOR, qry->start, out);
        }
    } else {
        out->type = ST_PROMQL_TMATRIX;
        if (!(rc = ev_check_done(&ev)) && !(rc = to_result(&m, false, 0, out)) && out->nseries > 1)
            qsort(out->series, out->nseries, sizeof *out->series, series_cmp);
    }
out:
    if (rc) {
        const char *d = st_errdetail(rc);
        st_promql_warnings_t w = out->warnings;
        out->warnings = (st_promql_warnings_t){0};
        st_promql_result_free(out);
        out->warnings = w;
        out->error = strdup(d);
        if (!in_eval) out->error_type = "bad_data";
        else if (rc == ST_ETIMEDOUT) out->error_type = "timeout";
        else if (rc == ST_ECANCELED) out->error_type = "canceled";
        else out->error_type = "execution";
        st_errorf(rc, "%s", out->error ? out->error : d);
    }
    mat_free(&m);
    enode_free(root);
    lset_table_free(&q);
    free(q.lb.v);
    st_promql_expr_free(parsed);
    return rc;
}

int st_promql_eval_instant(const st_promql_engine_opts_t *opts, const st_promql_queryable_t *q, const char *query,
                           int64_t t, st_promql_result_t *out) {
    st_promql_query_t qry = {.text = query, .text_len = strlen(query), .start = t, .end = t};
    return st_promql_exec(opts, q, &qry, out);
}

int st_promql_eval_range(const st_promql_engine_opts_t *opts, const st_promql_queryable_t *q, const char *query,
                         int64_t start, int64_t end, int64_t step, st_promql_result_t *out) {
    st_promql_query_t qry = {.text = query, .text_len = strlen(query), .start = start, .end = end, .step = step};
    return st_promql_exec(opts, q, &qry, out);
}
