/*
 * From a fetched body to committed samples, as Prometheus 2.42's scrape
 * loop does it (scrape/scrape.go: append, report, mutateSampleLabels):
 *
 *   parse (0.0.4 or OpenMetrics by Content-Type)
 *     -> per sample: series cache lookup by the raw label pairs
 *        miss: target labels merged (honor_labels, or exported_ prefixes
 *              for conflicts) -> metric_relabel_configs -> __name__ check
 *              -> label_limit / name / value length -> cardinality guard
 *     -> sample_limit (counted after relabeling; exceeding it discards the
 *        whole scrape, but parsing goes on so the totals are right)
 *     -> appender (explicit timestamps kept when honor_timestamps)
 *   any failure: rollback; like an empty scrape, it then marks every
 *   series of the previous successful scrape stale.
 *   Then the five report series, and one commit.
 *
 * Staleness: a series seen in the previous successful scrape and not in
 * this one gets the stale NaN at this scrape's timestamp; series with an
 * explicit timestamp are not tracked (as in Prometheus).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "scraper_int.h"
#include "strata/err.h"
#include "strata/log.h"
#include "strata/relabel.h"
#include "strata/textparse.h"

#define STALE_NAN_BITS 0x7ff0000000000002ull
#define CACHE_PREVOK 4u /* seen in the previous successful scrape (set when first seen in this one) */
#define CACHE_EVICT_ITERS 10

static double stale_nan(void) {
    double d;
    uint64_t b = STALE_NAN_BITS;
    memcpy(&d, &b, sizeof d);
    return d;
}

const char *target_state_name(target_state_t s) {
    static const char *const names[] = {"UNKNOWN", "UP", "DOWN", "TIMEOUT", "PARSE_ERROR", "OVERLIMIT"};
    return (size_t)s < sizeof names / sizeof names[0] ? names[s] : "UNKNOWN";
}

int64_t scrape_offset(uint64_t key, int64_t interval_ms) {
    return interval_ms > 0 ? (int64_t)(key % (uint64_t)interval_ms) : 0;
}

int64_t scrape_next(int64_t now, int64_t interval_ms, int64_t offset_ms) {
    int64_t base = now - (now % interval_ms) + offset_ms;
    while (base <= now) base += interval_ms;
    return base;
}

void target_spec_clear(target_spec_t *t) {
    st_labels_free(&t->labels);
    st_labels_free(&t->target_labels);
    st_labels_free(&t->discovered);
    free(t->url);
    memset(t, 0, sizeof *t);
}

int scrape_target_new(scrape_target_t **out, const target_spec_t *spec, config_t *cfg) {
    scrape_target_t *t = calloc(1, sizeof *t);
    if (!t) return st_errorf(ST_ENOMEM, "scrape target: allocating");
    t->spec = *spec;
    t->cfg = config_ref(cfg);
    t->guard.limit = spec->sc->label_value_limit_per_name;
    t->offset_ms = scrape_offset(spec->key, spec->interval_ms);
    st_encbuf_init(&t->body, 0);
    *out = t;
    return ST_OK;
}

void scrape_target_free(scrape_target_t *t) {
    if (!t) return;
    target_spec_clear(&t->spec);
    config_unref(t->cfg);
    cache_free(&t->cache);
    guard_free(&t->guard);
    st_encbuf_free(&t->body);
    free(t);
}

static bool str_eq(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

static bool same_rules(const st_relabel_list_t *a, const st_relabel_list_t *b) {
    if (a->n != b->n) return false;
    for (size_t i = 0; i < a->n; i++) {
        const st_relabel_spec_t *x = &a->specs[i], *y = &b->specs[i];
        if (x->action != y->action || x->modulus != y->modulus || x->n_source_labels != y->n_source_labels ||
            !str_eq(x->separator, y->separator) || !str_eq(x->regex, y->regex) ||
            !str_eq(x->target_label, y->target_label) || !str_eq(x->replacement, y->replacement))
            return false;
        for (size_t k = 0; k < x->n_source_labels; k++)
            if (!str_eq(x->source_labels[k], y->source_labels[k])) return false;
    }
    return true;
}

/* Does the cache content (raw series -> stored series) stay valid? */
static bool same_ingest_config(const st_scrape_config_t *a, const st_scrape_config_t *b) {
    return a->honor_labels == b->honor_labels && a->label_limit == b->label_limit &&
           a->label_name_length_limit == b->label_name_length_limit &&
           a->label_value_length_limit == b->label_value_length_limit &&
           a->label_value_limit_per_name == b->label_value_limit_per_name &&
           same_rules(&a->metric_relabel_configs, &b->metric_relabel_configs);
}

static void add_stale(st_appender_t *app, uint64_t *ref, int64_t ts) {
    /* a stale marker can meet a sample at the same time (reassigned series
     * share a ref): the appender's refusal is the expected answer */
    uint64_t r = *ref;
    (void)st_appender_add(app, &r, NULL, ts, stale_nan());
}

typedef struct {
    st_appender_t *app;
    int64_t ts;
    uint32_t cur, prev_ok;
    bool ok; /* this scrape succeeded */
} sweep_arg_t;

/* One pass: stale markers for series that went away, then eviction of
 * entries unseen for a while. */
static bool sweep_entry(const cache_entry_t *ce, void *arg) {
    sweep_arg_t *a = arg;
    cache_entry_t *e = (cache_entry_t *)ce;
    if (a->app && e->ref && !(e->flags & (CACHE_DROPPED | CACHE_NOSTALE))) {
        bool was_prev = e->iter == a->prev_ok || (e->iter == a->cur && (e->flags & CACHE_PREVOK));
        bool gone = a->ok ? (e->iter == a->prev_ok && a->prev_ok != a->cur) : (a->prev_ok && was_prev);
        if (gone) add_stale(a->app, &e->ref, a->ts);
    }
    return a->cur - e->iter > CACHE_EVICT_ITERS;
}

void scrape_target_update(scrape_target_t *t, st_db_t *db, const target_spec_t *spec, config_t *cfg, int64_t now) {
    if (!same_ingest_config(t->spec.sc, spec->sc)) {
        /* the cached raw -> stored mapping no longer holds: close the old
         * series now and start over */
        st_appender_t *app = NULL;
        if (st_db_appender(db, &app) == ST_OK) {
            for (size_t i = 0; i < t->cache.n; i++) {
                cache_entry_t *e = &t->cache.v[i];
                if (e->ref && e->iter == t->prev_ok_iter &&
                    !(e->flags & (CACHE_DROPPED | CACHE_NOSTALE)))
                    add_stale(app, &e->ref, now);
            }
            int rc = st_appender_commit(app);
            if (rc)
                st_log(ST_LOG_WARN, "writing stale markers after a config change failed", "err", st_errdetail(rc),
                       NULL);
        }
        cache_free(&t->cache);
        guard_free(&t->guard);
        t->prev_ok_iter = 0;
    }
    target_spec_clear(&t->spec);
    t->spec = *spec;
    t->guard.limit = spec->sc->label_value_limit_per_name;
    config_t *old = t->cfg;
    t->cfg = config_ref(cfg);
    config_unref(old);
    if (t->offset_ms != scrape_offset(spec->key, spec->interval_ms)) {
        t->offset_ms = scrape_offset(spec->key, spec->interval_ms);
        t->next_ms = 0; /* rescheduled by the loop */
    }
}

/* ---- building a stored series from exposed labels ---- */

typedef struct {
    target_state_t state;
    char err[512];
} fail_t;

static int failf(fail_t *f, target_state_t state, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failf(fail_t *f, target_state_t state, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->err, sizeof f->err, fmt, ap);
    va_end(ap);
    f->state = state;
    return ST_EINVAL;
}

/* st_labels_get for a name that is not NUL-terminated (parser output). */
static const st_label_t *labels_get_n(const st_labels_t *l, const char *name, size_t len) {
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = st_bytes_cmp(l->v[mid].name, l->v[mid].name_len, name, len);
        if (c == 0) return &l->v[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static bool pairs_have(const st_label_t *p, size_t n, const char *name, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (p[i].name_len == len && memcmp(p[i].name, name, len) == 0) return true;
    return false;
}

static const st_label_t *pairs_get(const st_label_t *p, size_t n, const char *name, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (p[i].name_len == len && memcmp(p[i].name, name, len) == 0 && p[i].value_len) return &p[i];
    return NULL;
}

typedef struct {
    st_label_t orig;   /* exposed label that clashed with a target label */
    char *name;        /* its exported_... name, owned */
    size_t name_len;
} conflict_t;

static int conflict_cmp(const void *x, const void *y) {
    const conflict_t *a = x, *b = y;
    /* stable by length: ties keep input order via the pointer order of orig */
    if (a->orig.name_len != b->orig.name_len) return a->orig.name_len < b->orig.name_len ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Merge exposed labels with the target's (mutateSampleLabels), then apply
 * metric relabeling. */
static int merge_and_relabel(const scrape_target_t *t, const st_label_t *in, size_t n, st_labels_t *out, bool *keep,
                             fail_t *f) {
    const st_scrape_config_t *sc = t->spec.sc;
    const st_labels_t *tl = &t->spec.target_labels;
    size_t cap = n + 2 * tl->n + 1;
    st_label_t *m = malloc(cap * sizeof *m);
    conflict_t *cf = calloc(tl->n + 1, sizeof *cf);
    size_t k = 0, nc = 0;
    int rc = ST_OK;
    if (!m || !cf) {
        rc = st_errorf(ST_ENOMEM, "scrape: merging labels");
        goto out;
    }
    if (sc->honor_labels) {
        for (size_t i = 0; i < n; i++)
            if (in[i].value_len) m[k++] = in[i];
        for (size_t i = 0; i < tl->n; i++)
            if (!pairs_get(in, n, tl->v[i].name, tl->v[i].name_len)) m[k++] = tl->v[i];
    } else {
        for (size_t i = 0; i < n; i++) {
            if (!in[i].value_len) continue;
            if (labels_get_n(tl, in[i].name, in[i].name_len)) {
                cf[nc++].orig = in[i];
                continue;
            }
            m[k++] = in[i];
        }
        for (size_t i = 0; i < tl->n; i++) m[k++] = tl->v[i];
        qsort(cf, nc, sizeof *cf, conflict_cmp);
        for (size_t i = 0; i < nc; i++) {
            size_t len = cf[i].orig.name_len;
            char *name = malloc(len + 1);
            if (!name) {
                rc = st_errorf(ST_ENOMEM, "scrape: exported_ label");
                goto out;
            }
            memcpy(name, cf[i].orig.name, len);
            for (;;) {
                char *nn = malloc(len + 10);
                if (!nn) {
                    free(name);
                    rc = st_errorf(ST_ENOMEM, "scrape: exported_ label");
                    goto out;
                }
                memcpy(nn, "exported_", 9);
                memcpy(nn + 9, name, len);
                len += 9;
                nn[len] = 0;
                free(name);
                name = nn;
                bool taken = pairs_have(in, n, name, len) || st_labels_get(tl, name);
                for (size_t j = 0; j < i && !taken; j++)
                    taken = cf[j].name_len == len && memcmp(cf[j].name, name, len) == 0;
                if (!taken) break;
            }
            cf[i].name = name;
            cf[i].name_len = len;
            m[k++] = (st_label_t){name, cf[i].orig.value, len, cf[i].orig.value_len};
        }
    }
    rc = st_relabel_process(sc->metric_relabel_configs.compiled, m, k, out, keep);
    if (rc == ST_EINVAL) rc = failf(f, TS_PARSE_ERROR, "%s", st_errdetail(rc));
out:
    for (size_t i = 0; i < nc; i++) free(cf[i].name);
    free(cf);
    free(m);
    return rc;
}

/* The stored series for an exposed one. *keep false when metric
 * relabeling dropped it. fresh: first sight of the raw series (the guard's
 * counter counts raw series, not rebuilds of a known one). */
static int build_series(scrape_target_t *t, const st_label_t *in, size_t n, st_labels_t *out, bool *keep, bool fresh,
                        fail_t *f) {
    const st_scrape_config_t *sc = t->spec.sc;
    int rc = merge_and_relabel(t, in, n, out, keep, f);
    if (rc || !*keep) return rc;
    const st_label_t *name = st_labels_get(out, ST_METRIC_NAME);
    if (!name) {
        st_labels_free(out);
        return failf(f, TS_PARSE_ERROR, "missing metric name (__name__ label)");
    }
    if (sc->label_limit && out->n > sc->label_limit) {
        rc = failf(f, TS_OVERLIMIT, "label_limit exceeded (metric: %.50s, number of labels: %zu, limit: %llu)",
                   name->value, out->n, (unsigned long long)sc->label_limit);
        st_labels_free(out);
        return rc;
    }
    for (size_t i = 0; i < out->n; i++) {
        const st_label_t *l = &out->v[i];
        if (sc->label_name_length_limit && l->name_len > sc->label_name_length_limit) {
            rc = failf(f, TS_OVERLIMIT, "label_name_length_limit exceeded (metric: %.50s, label name: %.50s, length: %zu, limit: %llu)",
                       name->value, l->name, l->name_len, (unsigned long long)sc->label_name_length_limit);
            st_labels_free(out);
            return rc;
        }
        if (sc->label_value_length_limit && l->value_len > sc->label_value_length_limit) {
            rc = failf(f, TS_OVERLIMIT, "label_value_length_limit exceeded (metric: %.50s, label name: %.50s, value: %.50s, length: %zu, limit: %llu)",
                       name->value, l->name, l->value, l->value_len, (unsigned long long)sc->label_value_length_limit);
            st_labels_free(out);
            return rc;
        }
    }
    if (!t->guard.limit) return ST_OK;
    /* cardinality guard: not on the metric name nor the target's own labels */
    st_label_t *repl = NULL;
    for (size_t i = 0; i < out->n; i++) {
        const st_label_t *l = &out->v[i];
        if (strcmp(l->name, ST_METRIC_NAME) == 0) continue;
        const st_label_t *own = st_labels_get(&t->spec.target_labels, l->name);
        if (own && own->value_len == l->value_len && memcmp(own->value, l->value, l->value_len) == 0) continue;
        bool ok;
        if ((rc = guard_admit(&t->guard, l->name, l->name_len, l->value, l->value_len, fresh, &ok))) break;
        if (ok) continue;
        if (!repl) {
            repl = malloc(out->n * sizeof *repl);
            if (!repl) {
                rc = st_errorf(ST_ENOMEM, "scrape: cardinality guard");
                break;
            }
            memcpy(repl, out->v, out->n * sizeof *repl);
        }
        repl[i].value = REASSIGNED_VALUE;
        repl[i].value_len = strlen(REASSIGNED_VALUE);
    }
    if (!rc && repl) {
        st_labels_t r2;
        if ((rc = st_labels_from_sorted(&r2, repl, out->n)) == ST_OK) {
            st_labels_free(out);
            *out = r2;
        }
    }
    free(repl);
    if (rc) st_labels_free(out);
    return rc;
}

/* ---- one scrape ---- */

typedef struct {
    uint64_t scraped, post, added, rejected;
} totals_t;

typedef struct {
    uint64_t h1, h2;
} hkey_t;

static int ingest_body(scrape_target_t *t, st_appender_t *app, const fetch_result_t *r, int64_t ts, totals_t *tot,
                       hkey_t **newk, size_t *nnew, fail_t *f) {
    const st_scrape_config_t *sc = t->spec.sc;
    st_textparse_t *p = NULL;
    st_encbuf_t key;
    size_t newcap = 0, hint = 0;
    bool over = false;
    st_encbuf_init(&key, 0);
    int rc = st_textparse_new(&p, st_text_format_from_content_type(r->content_type), r->body, r->len);
    if (rc) {
        failf(f, TS_PARSE_ERROR, "%s", st_errdetail(rc));
        goto out;
    }
    int e;
    while ((e = st_textparse_next(p)) > 0) {
        if (e != ST_TP_SAMPLE) continue;
        tot->scraped++;
        const st_label_t *pairs;
        size_t n;
        st_textparse_labels(p, &pairs, &n);
        size_t klen = 0;
        for (size_t i = 0; i < n; i++) klen += pairs[i].name_len + pairs[i].value_len + 2;
        st_encbuf_reset(&key);
        uint8_t *kp = st_encbuf_reserve(&key, klen);
        if (!kp) {
            rc = st_errorf(key.err, "scrape: series key of %zu bytes", klen);
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            memcpy(kp, pairs[i].name, pairs[i].name_len);
            kp += pairs[i].name_len;
            *kp++ = 0xff;
            memcpy(kp, pairs[i].value, pairs[i].value_len);
            kp += pairs[i].value_len;
            *kp++ = 0xff;
        }
        XXH128_hash_t h = XXH3_128bits(key.p, klen);
        cache_entry_t *ce = cache_find(&t->cache, h.low64, h.high64, &hint);
        st_labels_t lbls = {0};
        bool fresh = false;
        if (!ce) {
            bool keep;
            if ((rc = build_series(t, pairs, n, &lbls, &keep, true, f))) goto out;
            if ((rc = cache_insert(&t->cache, h.low64, h.high64, &ce))) {
                st_labels_free(&lbls);
                goto out;
            }
            ce->flags = keep ? 0 : CACHE_DROPPED;
            ce->iter = t->iter;
            if (*nnew == newcap) {
                newcap = newcap ? 2 * newcap : 64;
                hkey_t *nk = realloc(*newk, newcap * sizeof *nk);
                if (!nk) {
                    st_labels_free(&lbls);
                    rc = st_errorf(ST_ENOMEM, "scrape: new series list");
                    goto out;
                }
                *newk = nk;
            }
            (*newk)[(*nnew)++] = (hkey_t){ce->h1, ce->h2};
            fresh = keep;
        }
        if (ce->iter != t->iter) {
            ce->flags = (ce->iter == t->prev_ok_iter && t->prev_ok_iter) ? ce->flags | CACHE_PREVOK
                                                                         : ce->flags & ~CACHE_PREVOK;
            ce->iter = t->iter;
        }
        if (ce->flags & CACHE_DROPPED) continue;
        tot->post++;
        if (sc->sample_limit && tot->post > sc->sample_limit) over = true;
        if (over) {
            st_labels_free(&lbls);
            continue;
        }
        int64_t sts = ts;
        /* honor_timestamps: false drops exposed timestamps, and such series
         * are then tracked for staleness like any other */
        bool has_ts = st_textparse_timestamp(p, &sts) && sc->honor_timestamps;
        ce->flags = has_ts ? ce->flags | CACHE_NOSTALE : ce->flags & ~CACHE_NOSTALE;
        if (!has_ts) sts = ts;
        if (!ce->ref && !lbls.n) {
            /* known raw series without a stored ref (an earlier append was refused or rolled back) */
            bool keep;
            if ((rc = build_series(t, pairs, n, &lbls, &keep, false, f))) goto out;
        }
        uint64_t ref = ce->ref;
        rc = st_appender_add(app, &ref, ref ? NULL : &lbls, sts, st_textparse_value(p));
        if (rc == ST_ENOTFOUND && ref) {
            /* the storage dropped the series since (garbage collection after
             * a block cut): add it again by its labels */
            bool keep;
            if (!lbls.n && (rc = build_series(t, pairs, n, &lbls, &keep, false, f))) goto out;
            ref = 0;
            rc = st_appender_add(app, &ref, &lbls, sts, st_textparse_value(p));
        }
        st_labels_free(&lbls);
        /* ce is still valid: nothing since the lookup inserted into the cache */
        if (rc == ST_EINVAL) {
            /* refused (out of order, duplicate time, too old): the series
             * exists all the same, keep its ref */
            if (ref) ce->ref = ref;
            tot->rejected++;
            rc = ST_OK;
            continue;
        }
        if (rc) {
            failf(f, TS_DOWN, "append: %s", st_errdetail(rc));
            goto out;
        }
        ce->ref = ref;
        if (fresh) tot->added++;
    }
    if (e < 0) {
        rc = e;
        failf(f, TS_PARSE_ERROR, "%s", st_errdetail(e));
        goto out;
    }
    if (over) rc = failf(f, TS_OVERLIMIT, "sample limit exceeded (%llu samples after relabeling, limit %llu)",
                         (unsigned long long)tot->post, (unsigned long long)sc->sample_limit);
out:
    st_textparse_free(p);
    st_encbuf_free(&key);
    return rc;
}

/* The five series Prometheus adds per scrape, with the target's labels. */
static void append_report(scrape_target_t *t, st_appender_t *app, int64_t ts, bool up, double dur,
                          const totals_t *tot) {
    static const char *const names[5] = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                                         "scrape_samples_post_metric_relabeling", "scrape_series_added"};
    double vals[5] = {up ? 1 : 0, dur, (double)tot->scraped, (double)tot->post, (double)tot->added};
    const st_labels_t *tl = &t->spec.target_labels;
    for (int i = 0; i < 5; i++) {
        uint64_t ref = t->report_refs[i];
        if (ref && st_appender_add(app, &ref, NULL, ts, vals[i]) != ST_ENOTFOUND) continue;
        /* first time, or unknown to the storage since a block cut: by labels */
        st_label_t *pairs = malloc((tl->n + 1) * sizeof *pairs);
        st_labels_t l = {0};
        if (!pairs) continue;
        memcpy(pairs, tl->v, tl->n * sizeof *pairs);
        pairs[tl->n] = st_label(ST_METRIC_NAME, names[i]);
        int rc = st_labels_from_pairs(&l, pairs, tl->n + 1);
        free(pairs);
        ref = 0;
        if (!rc && st_appender_add(app, &ref, &l, ts, vals[i]) == ST_OK) t->report_refs[i] = ref;
        st_labels_free(&l);
    }
}

void scrape_ingest(scrape_target_t *t, st_db_t *db, const fetch_result_t *r, int64_t ts, double dur,
                   scrape_stats_t *stats, pthread_mutex_t *state_mu) {
    totals_t tot = {0};
    fail_t f = {.state = TS_UP};
    st_appender_t *app = NULL;
    hkey_t *newk = NULL;
    size_t nnew = 0;
    int rc;
    if (++t->iter == 0) t->iter = 1;
    if (!r->fetched) {
        f.state = r->fail_state;
        snprintf(f.err, sizeof f.err, "%s", r->error ? r->error : "scrape failed");
    } else if ((rc = st_db_appender(db, &app))) {
        failf(&f, TS_DOWN, "appender: %s", st_errdetail(rc));
    } else if ((rc = ingest_body(t, app, r, ts, &tot, &newk, &nnew, &f))) {
        if (f.state == TS_UP) failf(&f, TS_DOWN, "%s", st_errdetail(rc));
        st_appender_rollback(app);
        app = NULL;
        /* series first met in the failed scrape have no stored data */
        for (size_t i = 0; i < nnew; i++) {
            cache_entry_t *ce = cache_find(&t->cache, newk[i].h1, newk[i].h2, NULL);
            if (ce) ce->ref = 0;
        }
    }
    free(newk);
    bool ok = f.state == TS_UP;
    if (!app && (rc = st_db_appender(db, &app))) {
        st_log(ST_LOG_ERROR, "no appender for the report series", "err", st_errdetail(rc), NULL);
        app = NULL;
    }
    sweep_arg_t sa = {.app = app, .ts = ts, .cur = t->iter, .prev_ok = t->prev_ok_iter, .ok = ok};
    cache_sweep(&t->cache, sweep_entry, &sa);
    t->prev_ok_iter = ok ? t->iter : 0;
    if (app) {
        append_report(t, app, ts, ok, dur, &tot);
        if ((rc = st_appender_commit(app))) {
            if (ok) failf(&f, TS_DOWN, "commit: %s", st_errdetail(rc));
            ok = false;
            st_log(ST_LOG_ERROR, "commit failed", "job", t->spec.sc->job_name, "url", t->spec.url, "err",
                   st_errdetail(rc), NULL);
        }
    }
    if (state_mu) pthread_mutex_lock(state_mu);
    t->state = f.state;
    snprintf(t->last_error, sizeof t->last_error, "%s", ok ? "" : f.err);
    t->last_scrape_ms = ts;
    t->last_duration_s = dur;
    t->last_samples = tot.scraped;
    if (state_mu) pthread_mutex_unlock(state_mu);
    if (stats) {
        atomic_fetch_add(&stats->scrapes_total, 1);
        if (!ok) atomic_fetch_add(&stats->scrape_failures_total, 1);
        atomic_fetch_add(&stats->samples_scraped_total, tot.scraped);
        if (ok) atomic_fetch_add(&stats->samples_appended_total, tot.post - tot.rejected);
        atomic_fetch_add(&stats->rejected_out_of_order_total, tot.rejected);
        atomic_fetch_add(&stats->body_bytes_total, r->fetched ? r->len : 0);
    }
}

void scrape_target_stale_all(scrape_target_t *t, st_db_t *db, int64_t ts) {
    st_appender_t *app;
    if (st_db_appender(db, &app)) return;
    if (t->prev_ok_iter)
        for (size_t i = 0; i < t->cache.n; i++) {
            cache_entry_t *e = &t->cache.v[i];
            if (e->ref && e->iter == t->prev_ok_iter &&
                !(e->flags & (CACHE_DROPPED | CACHE_NOSTALE)))
                add_stale(app, &e->ref, ts);
        }
    for (int i = 0; i < 5; i++)
        if (t->report_refs[i]) add_stale(app, &t->report_refs[i], ts);
    int rc = st_appender_commit(app);
    if (rc)
        st_log(ST_LOG_WARN, "writing stale markers for a removed target failed", "url", t->spec.url, "err",
               st_errdetail(rc), NULL);
}
