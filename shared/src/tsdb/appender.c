/*
 * The appender: stages samples, then commit writes them to the WAL (series
 * records for series it created first, then samples records) and only
 * after that appends them to the head's chunks, so nothing becomes visible
 * that a restart could not replay.
 *
 * There is one appender object per database, reused: st_db_appender takes
 * app_mu (blocking while another appender is open) and commit/rollback
 * release it. Holding app_mu makes the appender the only writer of the
 * head's index, so lookups need no lock here.
 */
#include <stdlib.h>
#include <string.h>

#include "strata/err.h"
#include "strata/log.h"
#include "tsdb_int.h"

#define SERIES_PER_RECORD 4096
#define SAMPLES_PER_RECORD 16384

int st_db_appender(st_db_t *db, st_appender_t **out) {
    pthread_mutex_lock(&db->app_mu);
    st_appender_t *a = &db->app;
    a->db = db;
    a->n = 0;
    a->ncreated = 0;
    if (++db->app_gen == 0) db->app_gen = 1; /* 0 is the "never staged" generation of a new series */
    a->gen = db->app_gen;
    *out = a;
    return ST_OK;
}

static int grow_staged(st_appender_t *a) {
    size_t cap = a->cap ? a->cap * 2 : 1024;
    st_wal_sample_t *ns = realloc(a->samples, cap * sizeof *ns);
    if (ns) a->samples = ns;
    hseries_t **nser = ns ? realloc(a->sser, cap * sizeof *nser) : NULL;
    if (!nser) return st_errorf(ST_ENOMEM, "tsdb appender: staging %zu samples", cap);
    a->sser = nser;
    a->cap = cap;
    return ST_OK;
}

static int lookup_or_create(st_appender_t *a, uint64_t ref, const st_labels_t *lbls, hseries_t **out) {
    st_db_t *db = a->db;
    hseries_t *s = ref ? st__head_by_ref(&db->head, ref) : NULL;
    *out = s;
    if (s) {
        *out = s;
        return ST_OK;
    }
    if (!lbls)
        return st_errorf(ST_ENOTFOUND, "tsdb: series ref %llu is not in the head (removed after a block cut); "
                                       "add the sample with its labels",
                         (unsigned long long)ref);
    uint64_t hash = st_labels_hash(lbls);
    if ((s = st__head_by_labels(&db->head, lbls, hash))) {
        *out = s;
        return ST_OK;
    }
    if (a->ncreated == a->capcreated) {
        size_t cap = a->capcreated ? a->capcreated * 2 : 64;
        hseries_t **nc = realloc(a->created, cap * sizeof *nc);
        if (!nc) return st_errorf(ST_ENOMEM, "tsdb appender: tracking %zu new series", cap);
        a->created = nc;
        a->capcreated = cap;
    }
    int rc = st__head_create(&db->head, lbls, hash, db->last_ref + 1, &s);
    if (rc) return rc;
    db->last_ref++;
    a->created[a->ncreated++] = s;
    *out = s;
    return ST_OK;
}

int st_appender_add(st_appender_t *a, uint64_t *ref, const st_labels_t *lbls, int64_t t, double v) {
    st_db_t *db = a->db;
    hseries_t *s = NULL;
    int rc = lookup_or_create(a, *ref, lbls, &s);
    if (rc) return rc;
    *ref = s->ref;
    int64_t mvt = atomic_load(&db->min_valid_time);
    if (t < mvt)
        return st_errorf(ST_EINVAL, "out of bounds: sample at %lld is older than the head's minimum valid time %lld",
                         (long long)t, (long long)mvt);
    union { double d; uint64_t u; } bits = {.d = v};
    int64_t last_t;
    uint64_t last_v;
    bool have;
    if (s->pend_gen == a->gen && s->pend_idx < a->n && a->sser[s->pend_idx] == s) {
        const st_wal_sample_t *p = &a->samples[s->pend_idx];
        union { double d; uint64_t u; } pb = {.d = p->v};
        last_t = p->t;
        last_v = pb.u;
        have = true;
    } else {
        have = st__series_last(s, &last_t, &last_v);
    }
    if (have && t <= last_t) {
        if (t == last_t && bits.u == last_v) return ST_OK; /* exact duplicate: accepted and dropped, as Prometheus */
        if (t == last_t)
            return st_errorf(ST_EINVAL, "duplicate sample for timestamp %lld with a different value", (long long)t);
        atomic_fetch_add(&db->out_of_order, 1);
        return st_errorf(ST_EINVAL, "out of order sample: %lld is older than the series' last sample at %lld",
                         (long long)t, (long long)last_t);
    }
    if (a->n == a->cap && (rc = grow_staged(a))) return rc;
    a->samples[a->n] = (st_wal_sample_t){s->ref, t, v};
    a->sser[a->n] = s;
    s->pend_gen = a->gen;
    s->pend_idx = (uint32_t)a->n;
    a->n++;
    return ST_OK;
}

/* Series records for the series this appender created, in records of at
 * most SERIES_PER_RECORD entries. */
static int log_created(st_appender_t *a) {
    if (a->ncreated == 0) return ST_OK;
    size_t nb = a->ncreated < SERIES_PER_RECORD ? a->ncreated : SERIES_PER_RECORD;
    st_wal_series_t *batch = malloc(nb * sizeof *batch);
    st_label_t *pairs = NULL;
    size_t pcap = 0;
    int rc = batch ? ST_OK : st_errorf(ST_ENOMEM, "tsdb appender: series record");
    for (size_t i = 0; i < a->ncreated && !rc; i += nb) {
        size_t cnt = a->ncreated - i < nb ? a->ncreated - i : nb, nl = 0;
        for (size_t k = 0; k < cnt; k++) nl += a->created[i + k]->nlabels;
        if (nl > pcap) {
            st_label_t *np = realloc(pairs, nl * sizeof *np);
            if (!np) {
                rc = st_errorf(ST_ENOMEM, "tsdb appender: series labels");
                break;
            }
            pairs = np;
            pcap = nl;
        }
        st_label_t *p = pairs;
        for (size_t k = 0; k < cnt; k++) {
            const hseries_t *s = a->created[i + k];
            for (uint32_t j = 0; j < s->nlabels; j++) {
                const hsym_t *n = s->lbl[2 * j], *v = s->lbl[2 * j + 1];
                p[j] = (st_label_t){n->s, v->s, n->len, v->len};
            }
            batch[k] = (st_wal_series_t){s->ref, {p, s->nlabels}};
            p += s->nlabels;
        }
        st_encbuf_reset(&a->enc);
        st_wal_encode_series(&a->enc, batch, cnt);
        rc = a->enc.err ? st_errorf(a->enc.err, "tsdb appender: encoding a series record")
                        : st_wal_log(a->db->wal, a->enc.p, a->enc.len);
    }
    free(batch);
    free(pairs);
    return rc;
}

static int log_samples(st_appender_t *a) {
    for (size_t i = 0; i < a->n; i += SAMPLES_PER_RECORD) {
        size_t cnt = a->n - i < SAMPLES_PER_RECORD ? a->n - i : SAMPLES_PER_RECORD;
        st_encbuf_reset(&a->enc);
        st_wal_encode_samples(&a->enc, a->samples + i, cnt);
        if (a->enc.err) return st_errorf(a->enc.err, "tsdb appender: encoding a samples record");
        int rc = st_wal_log(a->db->wal, a->enc.p, a->enc.len);
        if (rc) return rc;
    }
    return ST_OK;
}

static void finish(st_appender_t *a) {
    a->n = 0;
    a->ncreated = 0;
    pthread_mutex_unlock(&a->db->app_mu);
}

int st_appender_commit(st_appender_t *a) {
    st_db_t *db = a->db;
    head_t *h = &db->head;
    if (a->n == 0 && a->ncreated == 0) {
        finish(a);
        return ST_OK;
    }
    int rc = log_created(a);
    if (!rc) rc = log_samples(a);
    if (!rc) rc = db->opts.wal_fsync_interval_ms > 0 ? st_wal_flush(db->wal) : st_wal_sync(db->wal);
    if (rc) {
        rc = st_errwrap(rc, "tsdb: commit: writing the WAL");
        finish(a);
        return rc;
    }
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    for (size_t i = 0; i < a->n; i++) {
        /* series are scattered in memory: fetch a few ahead, then the end
         * of their open chunk (where the sample goes) */
        if (i + 8 < a->n) __builtin_prefetch(a->sser[i + 8], 1);
        if (i + 4 < a->n) {
            const st_xor_appender_t *ahead = &a->sser[i + 4]->app;
            if (ahead->buf) __builtin_prefetch(ahead->buf + ahead->len, 1);
        }
        hseries_t *s = a->sser[i];
        const st_wal_sample_t *p = &a->samples[i];
        st__series_lock(s);
        int e = st__series_append(h, s, p->t, p->v);
        st__series_unlock(s);
        if (e) {
            if (!rc) rc = st_errwrap(e, "tsdb: commit: series ref %llu", (unsigned long long)s->ref);
            continue;
        }
        if (p->t < mn) mn = p->t;
        if (p->t > mx) mx = p->t;
    }
    if (mn != INT64_MAX) {
        st__atomic_min(&h->min_time, mn);
        st__atomic_max(&h->max_time, mx);
    }
    atomic_fetch_add(&db->samples_appended, a->n);
    finish(a);
    return rc;
}

void st_appender_rollback(st_appender_t *a) {
    if (!a) return;
    /* created series stay in the head, so their records must reach the WAL
     * or later samples for them would be unreplayable */
    int rc = log_created(a);
    if (!rc && a->ncreated) rc = st_wal_flush(a->db->wal);
    if (rc) st_log(ST_LOG_WARN, "tsdb: rollback: logging new series failed", "err", st_errdetail(rc), NULL);
    finish(a);
}
