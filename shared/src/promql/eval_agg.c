/*
 * Aggregation operators as Prometheus 2.42's engine computes them
 * (aggregation() in promql/engine.go): groups keyed by the `by` labels or
 * by everything but the `without` labels and the metric name, in order of
 * first appearance; the running mean of avg and the Welford updates of
 * stddev/stdvar with Prometheus's Inf handling; topk/bottomk kept in heaps
 * that replay Go's container/heap operations, so ties are broken the same
 * way; count_values with the value printed as strconv 'f' -1.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval_int.h"
#include "strata/err.h"
#include "strata/textfmt.h"

/* The running state of one group at one step. */
typedef struct {
    double value, mean;
    uint64_t count; /* samples so far; 0: none yet */
} acc_t;

typedef struct {
    const lset_t *m;
    acc_t a;
    smp_t *heap;
    size_t nheap, capheap;
} group_t;

typedef struct {
    const st_promql_expr_t *e;
    char **grouping; /* sorted copy */
    size_t ngrouping;
    const char *value_label; /* count_values */
    pmap_t keymemo;          /* series -> group key */
    pmap_t index;            /* group key -> group */
    group_t *g;
    size_t ng, capg;
} agg_ctx_t;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* generateGroupingKey, as the group's own label set. */
static const lset_t *group_key(ev_t *ev, agg_ctx_t *c, const lset_t *m) {
    qctx_t *q = ev->q;
    if (lb_reset(&q->lb, m)) return NULL;
    if (c->e->agg.without) {
        for (size_t i = 0; i < c->ngrouping; i++) lb_del(&q->lb, c->grouping[i]);
        lb_del(&q->lb, ST_METRIC_NAME);
    } else {
        lb_keep(&q->lb, c->grouping, c->ngrouping);
    }
    return lb_intern(q, &q->lb);
}

static const lset_t *prep_key(ev_t *ev, void *ctx, const lset_t *m) {
    agg_ctx_t *c = ctx;
    size_t idx;
    if (pmap_get(&c->keymemo, pkey(m), &idx)) return (const lset_t *)(uintptr_t)idx;
    const lset_t *k = group_key(ev, c, m);
    if (k && pmap_put(&c->keymemo, pkey(m), (size_t)(uintptr_t)k)) return NULL;
    return k;
}

/* vectorByValueHeap (topk, quantile) and vectorByReverseValueHeap (bottomk). */
static bool less(const smp_t *h, size_t i, size_t j, bool reverse) {
    if (isnan(h[i].v)) return true;
    return reverse ? h[i].v > h[j].v : h[i].v < h[j].v;
}

static void swap(smp_t *h, size_t i, size_t j) {
    smp_t t = h[i];
    h[i] = h[j];
    h[j] = t;
}

/* Go's container/heap up() and down(). */
static void heap_up(smp_t *h, size_t j, bool rev) {
    while (j > 0) {
        size_t i = (j - 1) / 2;
        if (!less(h, j, i, rev)) break;
        swap(h, i, j);
        j = i;
    }
}

static void heap_down(smp_t *h, size_t i, size_t n, bool rev) {
    for (;;) {
        size_t j1 = 2 * i + 1;
        if (j1 >= n) break;
        size_t j = j1;
        if (j1 + 1 < n && less(h, j1 + 1, j1, rev)) j = j1 + 1;
        if (!less(h, j, i, rev)) break;
        swap(h, i, j);
        i = j;
    }
}

static int heap_append(group_t *g, smp_t s) {
    if (g->nheap == g->capheap) {
        size_t cap = g->capheap ? g->capheap * 2 : 4;
        smp_t *h = realloc(g->heap, cap * sizeof *h);
        if (!h) return oom("aggregation");
        g->heap = h;
        g->capheap = cap;
    }
    g->heap[g->nheap++] = s;
    return 0;
}

static int heap_push(group_t *g, smp_t s, bool rev) {
    int rc = heap_append(g, s);
    if (!rc) heap_up(g->heap, g->nheap - 1, rev);
    return rc;
}

static void heap_pop(group_t *g, bool rev) {
    size_t n = g->nheap - 1;
    swap(g->heap, 0, n);
    heap_down(g->heap, 0, n, rev);
    g->nheap--;
}

/* Descending for topk, ascending for bottomk, NaN last (sort.Reverse of the heap order). */
static int cmp_desc(const void *a, const void *b) {
    double x = ((const smp_t *)a)->v, y = ((const smp_t *)b)->v;
    if (isnan(x) || isnan(y)) return isnan(x) - isnan(y);
    return (x < y) - (x > y);
}

static int cmp_asc(const void *a, const void *b) {
    double x = ((const smp_t *)a)->v, y = ((const smp_t *)b)->v;
    if (isnan(x) || isnan(y)) return isnan(x) - isnan(y);
    return (x > y) - (x < y);
}

static int cmp_double_nan_first(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    if (isnan(x) || isnan(y)) return isnan(y) - isnan(x);
    return (x > y) - (x < y);
}

double pql_quantile(double q, double *v, size_t n) {
    if (n == 0 || isnan(q)) return NAN;
    if (q < 0) return -INFINITY;
    if (q > 1) return INFINITY;
    qsort(v, n, sizeof *v, cmp_double_nan_first);
    double fn = (double)n;
    double rank = q * (fn - 1);
    double lower = fmax(0, floor(rank));
    double upper = fmin(fn - 1, lower + 1);
    double weight = rank - floor(rank);
    return v[(size_t)lower] * (1 - weight) + v[(size_t)upper] * weight;
}

static bool valid_label_name(const char *s) {
    if (!*s) return false;
    for (const char *p = s; *p; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || (p != s && ch >= '0' && ch <= '9');
        if (!ok) return false;
    }
    return true;
}

/* The first sample of a group (topk, bottomk and quantile add heaps). */
static inline void acc_first(st_promql_aggop_t op, acc_t *a, double v) {
    a->value = v;
    a->mean = v;
    a->count = 1;
    if (op == ST_PROMQL_STDVAR || op == ST_PROMQL_STDDEV) a->value = 0;
    else if (op == ST_PROMQL_GROUP) a->value = 1;
}

/* A later sample of the group, for the aggregations without heaps. */
static inline void acc_add(st_promql_aggop_t op, acc_t *a, double v) {
    switch (op) {
    case ST_PROMQL_SUM: a->value += v; break;
    case ST_PROMQL_AVG:
        a->count++;
        if (isinf(a->mean)) {
            if (isinf(v) && (a->mean > 0) == (v > 0)) break;
            if (!isinf(v) && !isnan(v)) break;
        }
        a->mean += v / (double)a->count - a->mean / (double)a->count;
        break;
    case ST_PROMQL_MAX:
        if (a->value < v || isnan(a->value)) a->value = v;
        break;
    case ST_PROMQL_MIN:
        if (a->value > v || isnan(a->value)) a->value = v;
        break;
    case ST_PROMQL_COUNT:
    case ST_PROMQL_COUNT_VALUES: a->count++; break;
    case ST_PROMQL_STDVAR:
    case ST_PROMQL_STDDEV: {
        a->count++;
        double delta = v - a->mean;
        a->mean += delta / (double)a->count;
        a->value += delta * (v - a->mean);
        break;
    }
    default: break; /* group; the heap ones are agg_step's */
    }
}

/* The group's value once all samples are in (not for the heap ones). */
static inline double acc_result(st_promql_aggop_t op, const acc_t *a) {
    switch (op) {
    case ST_PROMQL_AVG: return a->mean;
    case ST_PROMQL_COUNT:
    case ST_PROMQL_COUNT_VALUES: return (double)a->count;
    case ST_PROMQL_STDVAR: return a->value / (double)a->count;
    case ST_PROMQL_STDDEV: return sqrt(a->value / (double)a->count);
    default: return a->value;
    }
}

static int agg_step(ev_t *ev, void *ctx, vec_t *in, const lset_t *const *const *h, int64_t ts, vec_t *out) {
    (void)ts;
    agg_ctx_t *c = ctx;
    st_promql_aggop_t op = c->e->agg.op;
    /* (param, expr), or (expr) alone for count_values' string */
    vec_t *vec = c->value_label ? &in[0] : &in[1];
    const lset_t *const *keys = c->value_label ? h[0] : h[1];
    double param = !c->value_label && in[0].n ? in[0].s[0].v : 0;
    int64_t k = 0;
    int rc = 0;
    if (op == ST_PROMQL_TOPK || op == ST_PROMQL_BOTTOMK) {
        if (!(param <= 9223372036854774784.0 && param >= -9223372036854775808.0)) {
            char f[ST_FLOAT_BUF];
            st_fmt_go_g(f, param);
            return st_errorf(ST_EINVAL, "Scalar value %s overflows int64", f);
        }
        k = (int64_t)param;
        if (k < 1) return 0;
    }
    pmap_clear(&c->index);
    c->ng = 0;
    bool rev = op == ST_PROMQL_BOTTOMK;
    char vbuf[400];
    for (size_t si = 0; si < vec->n; si++) {
        smp_t s = vec->s[si];
        const lset_t *key = keys[si];
        if (op == ST_PROMQL_COUNT_VALUES) {
            st_encbuf_t b;
            st_encbuf_init(&b, sizeof vbuf - 1);
            st_put_prom_value(&b, s.v);
            size_t n = b.err ? 0 : b.len;
            if (n) memcpy(vbuf, b.p, n);
            vbuf[n] = 0;
            st_encbuf_free(&b);
            qctx_t *q = ev->q;
            if ((rc = lb_reset(&q->lb, s.m)) ||
                (rc = lb_set(&q->lb, c->value_label, strlen(c->value_label), vbuf, n)))
                return rc;
            const lset_t *m = lb_intern(q, &q->lb);
            if (!m || !(key = group_key(ev, c, m))) return ST_ENOMEM;
            s.m = m;
        }
        size_t gi;
        if (!pmap_get(&c->index, pkey(key), &gi)) {
            if (c->ng == c->capg) {
                size_t cap = c->capg ? c->capg * 2 : 16;
                group_t *g = realloc(c->g, cap * sizeof *g);
                if (!g) return oom("aggregation");
                memset(g + c->capg, 0, (cap - c->capg) * sizeof *g);
                c->g = g;
                c->capg = cap;
            }
            gi = c->ng++;
            if ((rc = pmap_put(&c->index, pkey(key), gi))) return rc;
            group_t *g = &c->g[gi];
            g->m = key;
            acc_first(op, &g->a, s.v);
            g->nheap = 0;
            if (op == ST_PROMQL_TOPK || op == ST_PROMQL_BOTTOMK || op == ST_PROMQL_QUANTILE)
                rc = heap_append(g, (smp_t){vec->s[si].m, 0, s.v});
            if (rc) return rc;
            continue;
        }
        group_t *g = &c->g[gi];
        switch (op) {
        case ST_PROMQL_TOPK:
        case ST_PROMQL_BOTTOMK: {
            double top = g->heap[0].v;
            bool better = rev ? top > s.v : top < s.v;
            if ((int64_t)g->nheap < k || better || isnan(top)) {
                smp_t ns = {vec->s[si].m, 0, s.v};
                if ((int64_t)g->nheap == k) {
                    if (k == 1) {
                        g->heap[0] = ns;
                        break;
                    }
                    heap_pop(g, rev);
                }
                if ((rc = heap_push(g, ns, rev))) return rc;
            }
            break;
        }
        case ST_PROMQL_QUANTILE:
            if ((rc = heap_append(g, (smp_t){vec->s[si].m, 0, s.v}))) return rc;
            break;
        default: acc_add(op, &g->a, s.v); break;
        }
    }
    for (size_t gi = 0; gi < c->ng; gi++) {
        group_t *g = &c->g[gi];
        switch (op) {
        case ST_PROMQL_TOPK:
        case ST_PROMQL_BOTTOMK:
            if (g->nheap > 1) qsort(g->heap, g->nheap, sizeof *g->heap, rev ? cmp_asc : cmp_desc);
            for (size_t i = 0; i < g->nheap; i++)
                if ((rc = vec_push(out, g->heap[i].m, 0, g->heap[i].v))) return rc;
            continue;
        case ST_PROMQL_QUANTILE: {
            double *v = malloc(g->nheap * sizeof *v);
            if (!v) return oom("quantile");
            for (size_t i = 0; i < g->nheap; i++) v[i] = g->heap[i].v;
            g->a.value = pql_quantile(param, v, g->nheap);
            free(v);
            break;
        }
        default: g->a.value = acc_result(op, &g->a); break;
        }
        if ((rc = vec_push(out, g->m, 0, g->a.value))) return rc;
    }
    return 0;
}

/* ---- streaming: sum, avg, count, min, max, group, stddev, stdvar of a
 * range function or a selector ----
 *
 * rangeEval would take the inner expression's whole matrix (for
 * sum(rate(x[5m])) over 10k series and a day at 15 s, 57.6 M points) and
 * aggregate it step by step, each group's samples in matrix order. Here
 * the inner series are aggregated one by one as they are produced, into a
 * state per group and step: every (group, step) still sees its samples in
 * matrix order, so the results are bit for bit the same. The output series
 * are ordered as rangeEval orders them (by the step where the group first
 * has a value, then by its first series there), and the sample limit is
 * checked where rangeEval checks it, from the per-step counts. */

typedef struct {
    const lset_t *key;
    uint64_t k0; /* first step with a sample */
    size_t i0;   /* first series with a sample at k0 */
    size_t npts; /* steps with a sample */
    acc_t *a;    /* per step */
} sgroup_t;

typedef struct {
    agg_ctx_t *c;
    uint64_t nsteps;
    uint64_t *nk; /* input samples per step */
    sgroup_t *g;
    size_t ng, capg;
    size_t nser; /* input series so far */
} stream_t;

static int stream_sink(ev_t *ev, void *ctx, const lset_t *m, const pt_t *p, size_t n) {
    stream_t *st = ctx;
    agg_ctx_t *c = st->c;
    st_promql_aggop_t op = c->e->agg.op;
    const lset_t *key = prep_key(ev, c, m);
    size_t gi;
    int rc;
    if (!key) return ST_ENOMEM;
    if (!pmap_get(&c->index, pkey(key), &gi)) {
        if (st->ng == st->capg) {
            size_t cap = st->capg ? st->capg * 2 : 16;
            sgroup_t *g = realloc(st->g, cap * sizeof *g);
            if (!g) return oom("aggregation");
            st->g = g;
            st->capg = cap;
        }
        sgroup_t *g = &st->g[st->ng];
        *g = (sgroup_t){key, UINT64_MAX, 0, 0, calloc(st->nsteps, sizeof *g->a)};
        if (!g->a) return oom("aggregation");
        gi = st->ng++;
        if ((rc = pmap_put(&c->index, pkey(key), gi))) return rc;
    }
    sgroup_t *g = &st->g[gi];
    /* the points are at steps, in order: walk the steps to find theirs */
    uint64_t k = 0;
    for (size_t j = 0; j < n; j++, k++) {
        while (k < st->nsteps && step_ts(ev, k) != p[j].t) k++;
        if (k == st->nsteps) return st_errorf(ST_EINVAL, "promql: aggregation: a sample off the steps");
        if (j == 0 && k < g->k0) g->k0 = k, g->i0 = st->nser;
        st->nk[k]++;
        acc_t *a = &g->a[k];
        if (a->count) {
            acc_add(op, a, p[j].v);
        } else {
            acc_first(op, a, p[j].v);
            g->npts++;
        }
    }
    st->nser++;
    return 0;
}

static int sgroup_cmp(const void *x, const void *y) {
    const sgroup_t *a = x, *b = y;
    if (a->k0 != b->k0) return a->k0 < b->k0 ? -1 : 1;
    return (a->i0 > b->i0) - (a->i0 < b->i0);
}

/* Can eval_aggregate stream n's input? */
static bool streamable(const enode_t *n) {
    switch (n->e->agg.op) {
    case ST_PROMQL_SUM:
    case ST_PROMQL_AVG:
    case ST_PROMQL_COUNT:
    case ST_PROMQL_MIN:
    case ST_PROMQL_MAX:
    case ST_PROMQL_GROUP:
    case ST_PROMQL_STDDEV:
    case ST_PROMQL_STDVAR: break;
    default: return false;
    }
    if (n->kid[1]) return false;
    const enode_t *in = unwrap_paren(n->kid[0]);
    if (in->kind == EN_VS) return true;
    return in->kind == EN_CALL && in->matrix_fn && strcmp(in->e->call.func->name, "absent_over_time") != 0;
}

static int eval_agg_stream(ev_t *ev, enode_t *n, agg_ctx_t *c, mat_t *out) {
    enode_t *in = unwrap_paren(n->kid[0]);
    st_promql_aggop_t op = n->e->agg.op;
    uint64_t orig = ev->cur, nsteps = ev_steps(ev);
    stream_t st = {.c = c, .nsteps = nsteps};
    uint64_t *rk = NULL;
    int rc;
    memset(out, 0, sizeof *out);
    /* rangeEval's checks, then eval()'s, before the input is evaluated */
    if ((rc = ev_check_steps(ev)) || (rc = ev_check_done(ev))) return rc;
    if (!(st.nk = calloc(nsteps ? nsteps : 1, sizeof *st.nk)) || !(rk = calloc(nsteps ? nsteps : 1, sizeof *rk))) {
        rc = oom("aggregation");
        goto out;
    }
    rc = in->kind == EN_VS ? eval_vs_to(ev, in, stream_sink, &st, NULL)
                           : eval_range_fn(ev, in, stream_sink, &st, NULL);
    if (rc) goto out;
    /* rangeEval: at each step the input samples count one by one, then the
     * step's results, which stay counted */
    for (size_t gi = 0; gi < st.ng; gi++)
        for (uint64_t k = st.g[gi].k0; k < nsteps; k++) rk[k] += st.g[gi].a[k].count != 0;
    uint64_t temp = ev->cur, total = 0;
    for (uint64_t k = 0; k < nsteps; k++) {
        if ((k & 0xff) == 0 && (rc = ev_check_done(ev))) goto out;
        if ((st.nk[k] && temp + st.nk[k] > ev->max) || temp + st.nk[k] + rk[k] > ev->max) {
            rc = ev_too_many();
            goto out;
        }
        temp += rk[k];
        total += rk[k];
    }
    if (st.ng > 1) qsort(st.g, st.ng, sizeof *st.g, sgroup_cmp);
    for (size_t gi = 0; gi < st.ng; gi++) {
        sgroup_t *g = &st.g[gi];
        ser_t *se = NULL;
        if ((rc = mat_push(out, g->key, &se))) goto out;
        if (!(se->p = malloc(g->npts * sizeof *se->p))) {
            rc = oom("aggregation");
            goto out;
        }
        se->cap = g->npts;
        for (uint64_t k = g->k0; k < nsteps; k++)
            if (g->a[k].count)
                se->p[se->n++] = (pt_t){step_ts(ev, k), acc_result(op, &g->a[k])};
    }
    ev->cur = orig + total;
out:
    for (size_t gi = 0; gi < st.ng; gi++) free(st.g[gi].a);
    free(st.g);
    free(st.nk);
    free(rk);
    if (rc) mat_free(out);
    return rc;
}

int eval_aggregate(ev_t *ev, enode_t *n, mat_t *out) {
    agg_ctx_t c = {.e = n->e};
    int rc = 0;
    const st_promql_names_t *gr = &n->e->agg.grouping;
    if (gr->n && !(c.grouping = malloc(gr->n * sizeof *c.grouping))) return oom("aggregation");
    for (size_t i = 0; i < gr->n; i++) c.grouping[i] = gr->v[i];
    c.ngrouping = gr->n;
    if (c.ngrouping > 1) qsort(c.grouping, c.ngrouping, sizeof *c.grouping, cmp_str);
    enode_t *param = n->kid[1] ? unwrap_arg(n->kid[1]) : NULL;
    if (param && param->kind == EN_STRING) {
        c.value_label = param->e->string.v;
        if (strlen(c.value_label) != param->e->string.len || !valid_label_name(c.value_label)) {
            st_encbuf_t b;
            st_encbuf_init(&b, 1 << 16);
            st_put_go_quote(&b, param->e->string.v, param->e->string.len);
            st_put_u8(&b, 0);
            rc = b.err ? oom("error message") : st_errorf(ST_EINVAL, "invalid label name %s", (const char *)b.p);
            st_encbuf_free(&b);
            free(c.grouping);
            return rc;
        }
        if (!n->e->agg.without) {
            char **g = realloc(c.grouping, (c.ngrouping + 1) * sizeof *g);
            if (!g) {
                free(c.grouping);
                return oom("aggregation");
            }
            c.grouping = g;
            c.grouping[c.ngrouping++] = (char *)c.value_label;
            qsort(c.grouping, c.ngrouping, sizeof *c.grouping, cmp_str);
        }
        rc = range_eval(ev, prep_key, agg_step, &c, &n->kid[0], 1, out);
    } else if (streamable(n)) {
        rc = eval_agg_stream(ev, n, &c, out);
    } else {
        enode_t *exprs[2] = {n->kid[1], n->kid[0]};
        rc = range_eval(ev, prep_key, agg_step, &c, exprs, 2, out);
    }
    for (size_t i = 0; i < c.capg; i++) free(c.g[i].heap);
    free(c.g);
    free(c.grouping);
    pmap_free(&c.keymemo);
    pmap_free(&c.index);
    return rc;
}
