/* Retention (Thanos's ApplyRetentionPolicyByResolution): a block of a
 * resolution with a retention is marked for deletion once now is past its
 * max time (whole seconds, as Thanos truncates it) plus the retention.
 * Then the cleanup (bucket.h, shared with `tools bucket cleanup`): blocks
 * marked at least --delete-delay ago and partial uploads whose newest
 * object is that old are deleted. A block whose meta.json does not parse
 * is not deleted unless it is also marked (it may be a meta we cannot
 * read, not garbage). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "compactor.h"
#include "strata/err.h"
#include "strata/log.h"
#include "strata/promconfig.h"

static int apply_retention(compactor_t *c, compactor_view_t *v) {
    int64_t now = compactor_now_ms();
    int first = ST_OK;
    size_t marked = 0, k = 0;
    for (size_t i = 0; i < v->nlive; i++) {
        st_bucket_block_t *b = &v->v[v->live[i]];
        int ri = compactor_res_index(b->thanos.resolution);
        int64_t ret = ri >= 0 ? c->retention_ms[ri] : 0;
        int64_t max_s = b->meta.max_time / 1000 * 1000;
        if (ret <= 0 || now <= max_s + ret || compactor_stopping(c)) {
            v->live[k++] = v->live[i];
            continue;
        }
        char id[ST_ULID_TEXT_LEN + 1], dur[32], details[96];
        st_ulid_format(&b->id, id);
        st_fmt_prom_duration(dur, ret);
        snprintf(details, sizeof details, "block exceeding retention of %s", dur);
        int rc = compactor_mark(c, &b->id, MARK_DELETION_RETENTION, details);
        if (rc) {
            st_log(ST_LOG_ERROR, "marking a block past retention failed", "block", id, "err", st_errdetail(rc), NULL);
            if (!first) first = rc;
            v->live[k++] = v->live[i];
            continue;
        }
        b->deletion_marked = true;
        b->deletion_time_s = now / 1000;
        marked++;
        char mt[24];
        snprintf(mt, sizeof mt, "%" PRId64, b->meta.max_time);
        st_log(ST_LOG_INFO, "applying retention: marked block for deletion", "block", id, "max_time", mt,
               "retention", dur, NULL);
    }
    v->nlive = k;
    if (marked) {
        char n[24];
        snprintf(n, sizeof n, "%zu", marked);
        st_log(ST_LOG_INFO, "retention applied", "marked", n, NULL);
    }
    return first;
}

static void cleanup_event(void *ctx, const st_cleanup_event_t *ev) {
    compactor_t *c = ctx;
    char id[ST_ULID_TEXT_LEN + 1];
    st_ulid_format(&ev->block->id, id);
    bool partial = !ev->block->deletion_marked;
    switch (ev->action) {
    case ST_CLEANUP_DELETED:
        atomic_fetch_add(&c->m.blocks_cleaned, 1);
        if (partial) atomic_fetch_add(&c->m.partial_deletes, 1);
        st_log(ST_LOG_INFO, partial ? "deleted aborted partial upload" : "deleted block marked for deletion", "block",
               id, NULL);
        break;
    case ST_CLEANUP_FAILED:
        atomic_fetch_add(&c->m.cleanup_failures, 1);
        if (partial) atomic_fetch_add(&c->m.partial_deletes, 1);
        st_log(ST_LOG_ERROR, "cleanup failed", "block", id, "what", ev->what, "err", ev->err, NULL);
        break;
    case ST_CLEANUP_KEPT:
    case ST_CLEANUP_WOULD_DELETE:
        break;
    }
}

/* What this compactor cleans: every partial upload, and the marked blocks
 * of its own shard (Thanos collects deletion marks after the selector's
 * filter, so sharded compactors each delete their own). Shallow copies. */
static int cleanup_set(compactor_t *c, const compactor_view_t *v, st_bucket_block_t **out, size_t *n) {
    st_bucket_block_t *s = malloc((v->n ? v->n : 1) * sizeof *s);
    if (!s) return st_errorf(ST_ENOMEM, "cleanup: %zu blocks", v->n);
    size_t k = 0;
    for (size_t i = 0; i < v->n; i++) {
        const st_bucket_block_t *b = &v->v[i];
        bool keep = b->partial || b->meta_rc;
        if (!keep && b->deletion_marked &&
            st_bucket_block_selected(c->relabel.compiled, b, c->replica_labels, c->nreplica, &keep))
            keep = false;
        if (keep) s[k++] = *b;
    }
    *out = s;
    *n = k;
    return ST_OK;
}

int compactor_retention_and_cleanup(compactor_t *c, compactor_view_t *v) {
    int rc = apply_retention(c, v);
    if (compactor_stopping(c)) return rc;
    st_cleanup_stats_t cs = {0};
    st_bucket_block_t *set = NULL;
    size_t nset = 0;
    int crc = cleanup_set(c, v, &set, &nset);
    if (!crc)
        crc = st_bucket_cleanup(c->bkt, set, nset, c->delete_delay_ms, compactor_now_ms(), false, c->stop,
                                cleanup_event, c, &cs);
    free(set);
    if (!rc) rc = crc;
    if (cs.deleted || cs.failed) {
        char d[24], f[24];
        snprintf(d, sizeof d, "%zu", cs.deleted);
        snprintf(f, sizeof f, "%zu", cs.failed);
        st_log(ST_LOG_INFO, "cleanup done", "deleted", d, "failures", f, NULL);
    }
    if (!rc && cs.failed) rc = st_errorf(ST_EIO, "cleanup: %zu block(s) could not be deleted", cs.failed);
    return rc;
}
