/*
 * Binary operators, as Prometheus 2.42's engine applies them: scalar op
 * scalar, vector op scalar (comparisons keep the vector's value, bool turns
 * them into 0/1), and vector op vector with one-to-one, many-to-one
 * (group_left) or one-to-many (group_right) matching on/ignoring labels,
 * the set operators and/or/unless, the result's label rules (metric name
 * dropped by arithmetic, matching labels kept with `on` one-to-one,
 * group_x labels copied from the "one" side) and the matching errors.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval_int.h"
#include "strata/err.h"
#include "strata/textfmt.h"

static double btos(bool b) { return b ? 1 : 0; }

double scalar_binop(st_promql_binop_t op, double l, double r) {
    switch (op) {
    case ST_PROMQL_ADD: return l + r;
    case ST_PROMQL_SUB: return l - r;
    case ST_PROMQL_MUL: return l * r;
    case ST_PROMQL_DIV: return l / r;
    case ST_PROMQL_POW: return pow(l, r);
    case ST_PROMQL_MOD: return fmod(l, r);
    case ST_PROMQL_EQLC: return btos(l == r);
    case ST_PROMQL_NEQ: return btos(l != r);
    case ST_PROMQL_GTR: return btos(l > r);
    case ST_PROMQL_LSS: return btos(l < r);
    case ST_PROMQL_GTE: return btos(l >= r);
    case ST_PROMQL_LTE: return btos(l <= r);
    case ST_PROMQL_ATAN2: return atan2(l, r);
    default: return NAN;
    }
}

/* vectorElemBinop: the value, and whether a comparison keeps the sample. */
static double elem_binop(st_promql_binop_t op, double l, double r, bool *keep) {
    *keep = true;
    switch (op) {
    case ST_PROMQL_EQLC: *keep = l == r; return l;
    case ST_PROMQL_NEQ: *keep = l != r; return l;
    case ST_PROMQL_GTR: *keep = l > r; return l;
    case ST_PROMQL_LSS: *keep = l < r; return l;
    case ST_PROMQL_GTE: *keep = l >= r; return l;
    case ST_PROMQL_LTE: *keep = l <= r; return l;
    default: return scalar_binop(op, l, r);
    }
}

static bool drops_name(st_promql_binop_t op) {
    return op == ST_PROMQL_ADD || op == ST_PROMQL_SUB || op == ST_PROMQL_DIV || op == ST_PROMQL_MUL ||
           op == ST_PROMQL_POW || op == ST_PROMQL_MOD;
}

typedef struct {
    const st_promql_expr_t *e;
    pmap_t memo;    /* drop-name cache */
    pmap_t sigmemo; /* series -> signature */
    pmap_t right;   /* signature -> index in rhs */
    pmap_t matched; /* signature -> index+1 in sets (0: seen, one-to-one) */
    pmap_t *sets;   /* many-to-one: per signature, the result label sets seen */
    size_t nsets, capsets;
    /* resultMetric cache: lhs series -> (rhs series, result) */
    pmap_t resmemo;
    struct rm {
        const lset_t *rhs, *res;
    } *rms;
    size_t nrms, caprms;
} bin_ctx_t;

/* signatureFunc: the labels that take part in matching, as a label set. */
static const lset_t *signature(ev_t *ev, void *ctx, const lset_t *m) {
    bin_ctx_t *c = ctx;
    size_t idx;
    if (pmap_get(&c->sigmemo, pkey(m), &idx)) return (const lset_t *)(uintptr_t)idx;
    qctx_t *q = ev->q;
    if (lb_reset(&q->lb, m)) return NULL;
    if (c->e->binary.on) {
        lb_keep(&q->lb, c->e->binary.labels.v, c->e->binary.labels.n);
    } else {
        for (size_t i = 0; i < c->e->binary.labels.n; i++) lb_del(&q->lb, c->e->binary.labels.v[i]);
        lb_del(&q->lb, ST_METRIC_NAME);
    }
    const lset_t *r = lb_intern(q, &q->lb);
    if (r && pmap_put(&c->sigmemo, pkey(m), (size_t)(uintptr_t)r)) return NULL;
    return r;
}

static int set_op(ev_t *ev, void *ctx, vec_t *in, const lset_t *const *const *h, int64_t ts, vec_t *out) {
    (void)ev, (void)ts;
    bin_ctx_t *c = ctx;
    vec_t *l = &in[0], *r = &in[1];
    int rc = 0;
    st_promql_binop_t op = c->e->binary.op;
    if (op == ST_PROMQL_LAND && (!l->n || !r->n)) return 0;
    if (op == ST_PROMQL_LOR && (!l->n || !r->n)) {
        for (size_t i = 0; i < l->n && !rc; i++) rc = vec_push(out, l->s[i].m, l->s[i].t, l->s[i].v);
        for (size_t i = 0; i < r->n && !rc; i++) rc = vec_push(out, r->s[i].m, r->s[i].t, r->s[i].v);
        return rc;
    }
    if (op == ST_PROMQL_LUNLESS && (!l->n || !r->n)) {
        for (size_t i = 0; i < l->n && !rc; i++) rc = vec_push(out, l->s[i].m, l->s[i].t, l->s[i].v);
        return rc;
    }
    pmap_clear(&c->right);
    if (op == ST_PROMQL_LOR) {
        for (size_t i = 0; i < l->n && !rc; i++) {
            if (!(rc = pmap_put(&c->right, pkey(h[0][i]), 0))) rc = vec_push(out, l->s[i].m, l->s[i].t, l->s[i].v);
        }
        for (size_t j = 0; j < r->n && !rc; j++)
            if (!pmap_get(&c->right, pkey(h[1][j]), NULL)) rc = vec_push(out, r->s[j].m, r->s[j].t, r->s[j].v);
        return rc;
    }
    for (size_t j = 0; j < r->n && !rc; j++) rc = pmap_put(&c->right, pkey(h[1][j]), 0);
    for (size_t i = 0; i < l->n && !rc; i++) {
        bool found = pmap_get(&c->right, pkey(h[0][i]), NULL);
        if (found == (op == ST_PROMQL_LAND)) rc = vec_push(out, l->s[i].m, l->s[i].t, l->s[i].v);
    }
    return rc;
}

/* resultMetric */
static const lset_t *result_metric(ev_t *ev, bin_ctx_t *c, const lset_t *lhs, const lset_t *rhs) {
    size_t idx;
    bool have = pmap_get(&c->resmemo, pkey(lhs), &idx);
    if (have && c->rms[idx].rhs == rhs) return c->rms[idx].res;
    const st_promql_expr_t *e = c->e;
    qctx_t *q = ev->q;
    if (lb_reset(&q->lb, lhs)) return NULL;
    if (drops_name(e->binary.op)) lb_del(&q->lb, ST_METRIC_NAME);
    if (e->binary.card == ST_PROMQL_CARD_ONE_TO_ONE) {
        if (e->binary.on) lb_keep(&q->lb, e->binary.labels.v, e->binary.labels.n);
        else
            for (size_t i = 0; i < e->binary.labels.n; i++) lb_del(&q->lb, e->binary.labels.v[i]);
    }
    for (size_t i = 0; i < e->binary.include.n; i++) {
        const char *name = e->binary.include.v[i];
        size_t vlen;
        const char *v = lset_get(rhs, name, &vlen);
        if (v && vlen) {
            if (lb_set(&q->lb, name, strlen(name), v, vlen)) return NULL;
        } else {
            lb_del(&q->lb, name);
        }
    }
    const lset_t *res = lb_intern(q, &q->lb);
    if (!res) return NULL;
    if (!have) {
        if (c->nrms == c->caprms) {
            size_t cap = c->caprms ? c->caprms * 2 : 64;
            struct rm *v = realloc(c->rms, cap * sizeof *v);
            if (!v) {
                oom("binary operation");
                return NULL;
            }
            c->rms = v;
            c->caprms = cap;
        }
        idx = c->nrms++;
        if (pmap_put(&c->resmemo, pkey(lhs), idx)) return NULL;
    }
    c->rms[idx] = (struct rm){rhs, res};
    return res;
}

static int labels_str(st_encbuf_t *b, const lset_t *l) {
    st_put_labels_go(b, &l->l);
    return b->err;
}

static int vector_binop(ev_t *ev, void *ctx, vec_t *in, const lset_t *const *const *h, int64_t ts, vec_t *out) {
    (void)ts;
    bin_ctx_t *c = ctx;
    const st_promql_expr_t *e = c->e;
    st_promql_card_t card = e->binary.card;
    vec_t *l = &in[0], *r = &in[1];
    const lset_t *const *lh = h[0], *const *rh = h[1];
    int rc = 0;
    if (!l->n || !r->n) return 0;
    if (card == ST_PROMQL_CARD_ONE_TO_MANY) {
        vec_t *t = l;
        l = r;
        r = t;
        const lset_t *const *th = lh;
        lh = rh;
        rh = th;
    }
    pmap_clear(&c->right);
    for (size_t j = 0; j < r->n; j++) {
        size_t dup;
        if (pmap_get(&c->right, pkey(rh[j]), &dup)) {
            st_encbuf_t b;
            st_encbuf_init(&b, 1 << 16);
            labels_str(&b, rh[j]);
            st_put_cstr(&b, " on the ");
            st_put_cstr(&b, card == ST_PROMQL_CARD_ONE_TO_MANY ? "left" : "right");
            st_put_cstr(&b, " hand-side of the operation: [");
            labels_str(&b, r->s[j].m);
            st_put_cstr(&b, ", ");
            labels_str(&b, r->s[dup].m);
            st_put_u8(&b, 0);
            rc = b.err ? oom("error message")
                       : st_errorf(ST_EINVAL,
                                   "found duplicate series for the match group %s];many-to-many matching not allowed: "
                                   "matching labels must be unique on one side",
                                   (const char *)b.p);
            st_encbuf_free(&b);
            return rc;
        }
        if ((rc = pmap_put(&c->right, pkey(rh[j]), j))) return rc;
    }
    pmap_clear(&c->matched);
    c->nsets = 0;
    for (size_t i = 0; i < l->n; i++) {
        size_t j;
        if (!pmap_get(&c->right, pkey(lh[i]), &j)) continue;
        double vl = l->s[i].v, vr = r->s[j].v;
        if (card == ST_PROMQL_CARD_ONE_TO_MANY) {
            double t = vl;
            vl = vr;
            vr = t;
        }
        bool keep;
        double value = elem_binop(e->binary.op, vl, vr, &keep);
        if (e->binary.return_bool) value = keep ? 1 : 0;
        else if (!keep) continue;
        const lset_t *metric = result_metric(ev, c, l->s[i].m, r->s[j].m);
        if (metric && e->binary.return_bool) metric = drop_metric_name(ev->q, &c->memo, metric);
        if (!metric) return ST_ENOMEM;
        size_t si;
        bool exists = pmap_get(&c->matched, pkey(lh[i]), &si);
        if (card == ST_PROMQL_CARD_ONE_TO_ONE) {
            if (exists)
                return st_errorf(ST_EINVAL, "multiple matches for labels: many-to-one matching must be explicit "
                                            "(group_left/group_right)");
            if ((rc = pmap_put(&c->matched, pkey(lh[i]), 0))) return rc;
        } else {
            if (!exists) {
                if (c->nsets == c->capsets) {
                    size_t cap = c->capsets ? c->capsets * 2 : 16;
                    pmap_t *v = realloc(c->sets, cap * sizeof *v);
                    if (!v) return oom("binary operation");
                    memset(v + c->capsets, 0, (cap - c->capsets) * sizeof *v);
                    c->sets = v;
                    c->capsets = cap;
                }
                si = c->nsets++;
                pmap_clear(&c->sets[si]);
                if ((rc = pmap_put(&c->matched, pkey(lh[i]), si))) return rc;
            } else if (pmap_get(&c->sets[si], pkey(metric), NULL)) {
                return st_errorf(ST_EINVAL, "multiple matches for labels: grouping labels must ensure unique matches");
            }
            if ((rc = pmap_put(&c->sets[si], pkey(metric), 0))) return rc;
        }
        if ((rc = vec_push(out, metric, 0, value))) return rc;
    }
    return 0;
}

typedef struct {
    bin_ctx_t b;
    bool swap; /* the scalar is the left operand */
} vs_ctx_t;

static int vector_scalar(ev_t *ev, void *ctx, vec_t *in, const lset_t *const *const *h, int64_t ts, vec_t *out) {
    (void)h, (void)ts;
    vs_ctx_t *c = ctx;
    const st_promql_expr_t *e = c->b.e;
    vec_t *v = c->swap ? &in[1] : &in[0];
    double s = c->swap ? in[0].s[0].v : in[1].s[0].v;
    bool cmp = st_promql_binop_is_comparison(e->binary.op);
    for (size_t i = 0; i < v->n; i++) {
        double lv = v->s[i].v, rv = s;
        if (c->swap) lv = s, rv = v->s[i].v;
        bool keep;
        double value = elem_binop(e->binary.op, lv, rv, &keep);
        if (cmp && c->swap) value = rv;
        if (e->binary.return_bool) {
            value = keep ? 1 : 0;
            keep = true;
        }
        if (!keep) continue;
        const lset_t *m = v->s[i].m;
        if (drops_name(e->binary.op) || e->binary.return_bool) m = drop_metric_name(ev->q, &c->b.memo, m);
        if (!m) return ST_ENOMEM;
        int rc = vec_push(out, m, v->s[i].t, value);
        if (rc) return rc;
    }
    return 0;
}

static int scalar_scalar(ev_t *ev, void *ctx, vec_t *in, const lset_t *const *const *h, int64_t ts, vec_t *out) {
    (void)h, (void)ts;
    bin_ctx_t *c = ctx;
    return vec_push(out, ev->q->empty, 0, scalar_binop(c->e->binary.op, in[0].s[0].v, in[1].s[0].v));
}

static void bin_ctx_free(bin_ctx_t *c) {
    pmap_free(&c->memo);
    pmap_free(&c->sigmemo);
    pmap_free(&c->right);
    pmap_free(&c->matched);
    pmap_free(&c->resmemo);
    for (size_t i = 0; i < c->capsets; i++) pmap_free(&c->sets[i]);
    free(c->sets);
    free(c->rms);
}

int eval_binary(ev_t *ev, enode_t *n, mat_t *out) {
    vs_ctx_t c = {.b = {.e = n->e}};
    st_promql_type_t lt = n->kid[0]->type, rt = n->kid[1]->type;
    int rc;
    if (lt == ST_PROMQL_TSCALAR && rt == ST_PROMQL_TSCALAR) {
        rc = range_eval(ev, NULL, scalar_scalar, &c.b, n->kid, 2, out);
    } else if (lt == ST_PROMQL_TVECTOR && rt == ST_PROMQL_TVECTOR) {
        step_fn_t fn = st_promql_binop_is_set(n->e->binary.op) ? set_op : vector_binop;
        rc = range_eval(ev, signature, fn, &c.b, n->kid, 2, out);
    } else {
        c.swap = lt == ST_PROMQL_TSCALAR;
        rc = range_eval(ev, NULL, vector_scalar, &c, n->kid, 2, out);
    }
    bin_ctx_free(&c.b);
    return rc;
}
