/* Groups (Thanos's block streams: external labels minus the replica
 * labels, and resolution), their next plan, and what is left to do: the
 * planner run over a copy of each group until it has nothing more
 * (Thanos's CompactionProgressCalculator), which gives the todo metrics and
 * the block plan served at /api/v1/plan. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "compactor.h"
#include "strata/downsample.h"
#include "strata/err.h"
#include "strata/log.h"

/* ---- groups ---- */

static int group_cmp(const void *x, const void *y) {
    return strcmp(((const compactor_group_t *)x)->key, ((const compactor_group_t *)y)->key);
}

static int group_reserve(compactor_group_t *g, size_t n) {
    if (n <= g->cap) return ST_OK;
    size_t cap = g->cap ? g->cap * 2 : 8;
    while (cap < n) cap *= 2;
    st_meta_t *m = realloc(g->metas, cap * sizeof *m);
    if (!m) return st_errorf(ST_ENOMEM, "group %s: %zu blocks", g->key, cap);
    g->metas = m;
    bool *o = realloc(g->owned, cap * sizeof *o);
    if (!o) return st_errorf(ST_ENOMEM, "group %s: %zu blocks", g->key, cap);
    g->owned = o;
    bool *nc = realloc(g->no_compact, cap * sizeof *nc);
    if (!nc) return st_errorf(ST_ENOMEM, "group %s: %zu blocks", g->key, cap);
    g->no_compact = nc;
    g->cap = cap;
    return ST_OK;
}

int compactor_groups_build(const compactor_t *c, const compactor_view_t *v, compactor_group_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    compactor_group_t *g = calloc(v->nlive ? v->nlive : 1, sizeof *g);
    if (!g) return st_errorf(ST_ENOMEM, "groups of %zu blocks", v->nlive);
    size_t ng = 0;
    int rc = ST_OK;
    for (size_t i = 0; i < v->nlive && !rc; i++) {
        const st_bucket_block_t *b = &v->v[v->live[i]];
        const char *key = v->keys[v->live[i]];
        size_t k = 0;
        while (k < ng && strcmp(g[k].key, key) != 0) k++;
        if (k == ng) {
            snprintf(g[k].key, sizeof g[k].key, "%s", key);
            g[k].resolution = b->thanos.resolution;
            if ((rc = st_compact_group_labels(&b->thanos.labels, c->replica_labels, c->nreplica, &g[k].labels)))
                break;
            ng++;
        }
        if ((rc = group_reserve(&g[k], g[k].n + 1))) break;
        g[k].metas[g[k].n] = b->meta; /* borrowed */
        g[k].owned[g[k].n] = false;
        g[k].no_compact[g[k].n] = b->no_compact_marked;
        g[k].n++;
    }
    if (rc) {
        compactor_groups_free(g, ng);
        return rc;
    }
    qsort(g, ng, sizeof *g, group_cmp);
    *out = g;
    *n = ng;
    return ST_OK;
}

void compactor_groups_free(compactor_group_t *g, size_t n) {
    for (size_t i = 0; g && i < n; i++) {
        for (size_t j = 0; j < g[i].n; j++)
            if (g[i].owned[j]) st_meta_free(&g[i].metas[j]);
        st_labels_free(&g[i].labels);
        free(g[i].metas);
        free(g[i].owned);
        free(g[i].no_compact);
    }
    free(g);
}

void compactor_group_remove(compactor_group_t *g, const size_t *idx, size_t k) {
    size_t w = 0;
    for (size_t j = 0; j < g->n; j++) {
        bool drop = false;
        for (size_t i = 0; i < k && !drop; i++) drop = idx[i] == j;
        if (drop) {
            if (g->owned[j]) st_meta_free(&g->metas[j]);
            continue;
        }
        g->metas[w] = g->metas[j];
        g->owned[w] = g->owned[j];
        g->no_compact[w] = g->no_compact[j];
        w++;
    }
    g->n = w;
}

int compactor_group_add(compactor_group_t *g, st_meta_t *m) {
    int rc = group_reserve(g, g->n + 1);
    if (rc) return rc;
    g->metas[g->n] = *m;
    g->owned[g->n] = true;
    g->no_compact[g->n] = false;
    g->n++;
    memset(m, 0, sizeof *m);
    return ST_OK;
}

static bool overlapping(const st_meta_t *metas, const size_t *idx, size_t n) {
    /* idx is sorted by min time (st_compact_plan's promise) */
    int64_t reach = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        const st_meta_t *m = &metas[idx[i]];
        if (i > 0 && m->min_time < reach) return true;
        if (m->max_time > reach) reach = m->max_time;
    }
    return false;
}

int compactor_group_plan(const compactor_group_t *g, size_t **out, size_t *nout, bool *overlap) {
    *overlap = false;
    int rc = st_compact_plan(g->metas, g->n, g->no_compact, st_compact_default_ranges, ST_COMPACT_NRANGES, out, nout);
    if (rc) return st_errwrap(rc, "planning group %s", g->key);
    *overlap = *nout > 1 && overlapping(g->metas, *out, *nout);
    return ST_OK;
}

bool compactor_plan_refused(const compactor_t *c, const compactor_group_t *g, bool overlap, mark_reason_t *why) {
    if (!overlap) return false;
    /* Thanos: there is no vertical compaction of aggregates (how would
     * two averages merge?), so overlapping downsampled blocks are set aside */
    if (g->resolution != ST_RES_RAW) {
        *why = MARK_NO_COMPACT_DOWNSAMPLED_OVERLAP;
        return true;
    }
    if (!c->vertical) {
        *why = MARK_NO_COMPACT_OVERLAP;
        return true;
    }
    return false;
}

/* ---- downsampling candidates ---- */

static int ulid_cmp_v(const void *x, const void *y) { return st_ulid_cmp(x, y); }

/* Sorted sources of every live block at resolution res. */
static int sources_of(const compactor_view_t *v, int64_t res, st_ulid_t **out, size_t *n) {
    size_t total = 0;
    for (size_t i = 0; i < v->nlive; i++) {
        const st_bucket_block_t *b = &v->v[v->live[i]];
        if (b->thanos.resolution == res) total += b->meta.nsources;
    }
    st_ulid_t *s = malloc((total ? total : 1) * sizeof *s);
    if (!s) return st_errorf(ST_ENOMEM, "downsampling: %zu sources", total);
    size_t k = 0;
    for (size_t i = 0; i < v->nlive; i++) {
        const st_bucket_block_t *b = &v->v[v->live[i]];
        if (b->thanos.resolution != res) continue;
        memcpy(s + k, b->meta.sources, b->meta.nsources * sizeof *s);
        k += b->meta.nsources;
    }
    qsort(s, k, sizeof *s, ulid_cmp_v);
    *out = s;
    *n = k;
    return ST_OK;
}

static bool covered(const st_meta_t *m, const st_ulid_t *srcs, size_t n) {
    for (size_t i = 0; i < m->nsources; i++)
        if (!bsearch(&m->sources[i], srcs, n, sizeof *srcs, ulid_cmp_v)) return false;
    return true;
}

int compactor_downsample_todo(const compactor_view_t *v, size_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    st_ulid_t *s5 = NULL, *s1h = NULL;
    size_t n5 = 0, n1h = 0;
    size_t *todo = malloc((v->nlive ? v->nlive : 1) * sizeof *todo);
    int rc = todo ? ST_OK : st_errorf(ST_ENOMEM, "downsampling: %zu blocks", v->nlive);
    if (!rc) rc = sources_of(v, ST_RES_5M, &s5, &n5);
    if (!rc) rc = sources_of(v, ST_RES_1H, &s1h, &n1h);
    size_t k = 0;
    for (size_t i = 0; !rc && i < v->nlive; i++) {
        const st_bucket_block_t *b = &v->v[v->live[i]];
        if (b->no_downsample_marked) continue;
        int64_t span = b->meta.max_time - b->meta.min_time;
        if (b->thanos.resolution == ST_RES_RAW) {
            if (span < ST_DOWNSAMPLE_RANGE_5M || covered(&b->meta, s5, n5)) continue;
        } else if (b->thanos.resolution == ST_RES_5M) {
            if (span < ST_DOWNSAMPLE_RANGE_1H || covered(&b->meta, s1h, n1h)) continue;
        } else {
            continue;
        }
        todo[k++] = v->live[i];
    }
    free(s5);
    free(s1h);
    if (rc) {
        free(todo);
        return rc;
    }
    *out = todo;
    *n = k;
    return ST_OK;
}

/* ---- progress and the published plan ---- */

/* A planning copy of a group: shallow metas (only what the planner reads)
 * that simulated compactions replace. */
typedef struct {
    st_meta_t *metas;
    bool *nc;
    size_t n;
} sim_t;

static json_t *ulid_json(const st_ulid_t *id) {
    char s[ST_ULID_TEXT_LEN + 1];
    st_ulid_format(id, s);
    return json_string(s);
}

/* Run the planner on g to the end. *compactions / *blocks: Thanos's todo
 * numbers; next (when not NULL) receives the first plan's ULIDs. */
static int simulate(const compactor_t *c, const compactor_group_t *g, uint64_t *compactions, uint64_t *blocks,
                    json_t *next) {
    *compactions = *blocks = 0;
    sim_t s = {malloc((g->n ? g->n : 1) * sizeof *s.metas), malloc((g->n ? g->n : 1) * sizeof *s.nc), g->n};
    if (!s.metas || !s.nc) {
        free(s.metas);
        free(s.nc);
        return st_errorf(ST_ENOMEM, "planning group %s", g->key);
    }
    for (size_t i = 0; i < g->n; i++) {
        st_meta_t m = {0};
        m.ulid = g->metas[i].ulid;
        m.min_time = g->metas[i].min_time;
        m.max_time = g->metas[i].max_time;
        m.num_series = g->metas[i].num_series;
        m.num_tombstones = g->metas[i].num_tombstones;
        m.failed = g->metas[i].failed;
        s.metas[i] = m;
        s.nc[i] = g->no_compact[i];
    }
    int rc = ST_OK;
    /* each round removes at least one block or sets one aside: bounded */
    for (size_t round = 0; round < 2 * g->n + 2; round++) {
        size_t *plan = NULL, np = 0;
        bool overlap = false;
        compactor_group_t view = *g;
        view.metas = s.metas;
        view.no_compact = s.nc;
        view.n = s.n;
        if ((rc = compactor_group_plan(&view, &plan, &np, &overlap)) || !np) {
            free(plan);
            break;
        }
        mark_reason_t why;
        if (compactor_plan_refused(c, g, overlap, &why)) {
            for (size_t i = 0; i < np; i++) s.nc[plan[i]] = true;
            free(plan);
            continue;
        }
        if (next && *compactions == 0)
            for (size_t i = 0; i < np; i++) json_array_append_new(next, ulid_json(&s.metas[plan[i]].ulid));
        (*compactions)++;
        *blocks += np;
        st_meta_t merged = {0};
        merged.min_time = INT64_MAX;
        merged.max_time = INT64_MIN;
        for (size_t i = 0; i < np; i++) {
            const st_meta_t *m = &s.metas[plan[i]];
            if (m->min_time < merged.min_time) merged.min_time = m->min_time;
            if (m->max_time > merged.max_time) merged.max_time = m->max_time;
            merged.num_series += m->num_series;
        }
        merged.ulid = s.metas[plan[0]].ulid; /* any ULID: only ties on min time look at it */
        /* drop the planned ones, append the merged one (reusing a slot) */
        size_t w = 0;
        for (size_t j = 0; j < s.n; j++) {
            bool planned = false;
            for (size_t i = 0; i < np && !planned; i++) planned = plan[i] == j;
            if (planned) continue;
            s.metas[w] = s.metas[j];
            s.nc[w] = s.nc[j];
            w++;
        }
        s.metas[w] = merged;
        s.nc[w] = false;
        s.n = w + 1;
        free(plan);
    }
    free(s.metas);
    free(s.nc);
    return rc;
}

static json_t *labels_json(const st_labels_t *l) {
    json_t *o = json_object();
    for (size_t i = 0; o && i < l->n; i++)
        json_object_set_new(o, l->v[i].name, json_stringn(l->v[i].value, l->v[i].value_len));
    return o;
}

static int by_min_time(const void *x, const void *y, void *arg) {
    const compactor_group_t *g = arg;
    const st_meta_t *a = &g->metas[*(const size_t *)x], *b = &g->metas[*(const size_t *)y];
    if (a->min_time != b->min_time) return a->min_time < b->min_time ? -1 : 1;
    return st_ulid_cmp(&a->ulid, &b->ulid);
}

void compactor_publish_plan(compactor_t *c, const compactor_view_t *v, const compactor_group_t *g, size_t ng) {
    uint64_t todo = 0, todo_blocks = 0;
    size_t *ds = NULL, nds = 0;
    int rc = c->downsampling ? compactor_downsample_todo(v, &ds, &nds) : ST_OK;
    if (rc) st_log(ST_LOG_WARN, "listing pending downsamples failed", "err", st_errdetail(rc), NULL);
    json_t *root = json_object(), *groups = json_array();
    json_object_set_new(root, "groups", groups);
    for (size_t i = 0; i < ng; i++) {
        json_t *go = json_object(), *blocks = json_array(), *next = json_array(), *pend = json_array();
        json_array_append_new(groups, go);
        json_object_set_new(go, "key", json_string(g[i].key));
        json_object_set_new(go, "labels", labels_json(&g[i].labels));
        json_object_set_new(go, "resolution", json_integer(g[i].resolution));
        size_t *order = malloc((g[i].n ? g[i].n : 1) * sizeof *order);
        for (size_t j = 0; order && j < g[i].n; j++) order[j] = j;
        if (order) qsort_r(order, g[i].n, sizeof *order, by_min_time, (void *)&g[i]);
        for (size_t j = 0; order && j < g[i].n; j++) {
            const st_meta_t *m = &g[i].metas[order[j]];
            json_t *b = json_object();
            json_object_set_new(b, "ulid", ulid_json(&m->ulid));
            json_object_set_new(b, "min_time", json_integer(m->min_time));
            json_object_set_new(b, "max_time", json_integer(m->max_time));
            json_object_set_new(b, "level", json_integer(m->level));
            json_object_set_new(b, "sources", json_integer((json_int_t)m->nsources));
            json_object_set_new(b, "no_compact", json_boolean(g[i].no_compact[order[j]]));
            json_array_append_new(blocks, b);
        }
        free(order);
        json_object_set_new(go, "blocks", blocks);
        uint64_t nc = 0, nb = 0;
        if ((rc = simulate(c, &g[i], &nc, &nb, next)))
            st_log(ST_LOG_WARN, "planning failed", "group", g[i].key, "err", st_errdetail(rc), NULL);
        todo += nc;
        todo_blocks += nb;
        json_object_set_new(go, "next_compaction", next);
        json_object_set_new(go, "todo_compactions", json_integer((json_int_t)nc));
        for (size_t k = 0; k < nds; k++) {
            const st_bucket_block_t *b = &v->v[ds[k]];
            if (strcmp(v->keys[ds[k]], g[i].key) != 0) continue;
            json_t *p = json_object();
            json_object_set_new(p, "ulid", ulid_json(&b->id));
            json_object_set_new(p, "resolution",
                                json_integer(b->thanos.resolution == ST_RES_RAW ? ST_RES_5M : ST_RES_1H));
            json_array_append_new(pend, p);
        }
        json_object_set_new(go, "pending_downsamples", pend);
    }
    free(ds);
    json_object_set_new(root, "todo_compactions", json_integer((json_int_t)todo));
    json_object_set_new(root, "todo_downsamples", json_integer((json_int_t)nds));
    json_object_set_new(root, "updated_ms", json_integer(compactor_now_ms()));
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    atomic_store(&c->m.todo_compactions, todo);
    atomic_store(&c->m.todo_compaction_blocks, todo_blocks);
    atomic_store(&c->m.todo_downsamples, nds);
    atomic_store(&c->m.groups, ng);
    if (!text) {
        st_log(ST_LOG_WARN, "encoding the plan failed (out of memory)", NULL);
        return;
    }
    pthread_mutex_lock(&c->plan_mu);
    free(c->plan_json);
    c->plan_json = text;
    pthread_mutex_unlock(&c->plan_mu);
    char a[24], b[24], d[24];
    snprintf(a, sizeof a, "%zu", ng);
    snprintf(b, sizeof b, "%" PRIu64, todo);
    snprintf(d, sizeof d, "%zu", nds);
    st_log(ST_LOG_INFO, "planned", "groups", a, "todo_compactions", b, "todo_downsamples", d, NULL);
}
