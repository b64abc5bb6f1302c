/* The compactor's view of the bucket: the listing with markers and
 * Thanos's meta filters (pkg/block/fetcher.go) — partial uploads,
 * unreadable metas, deletion marks, blocks younger than the consistency
 * delay (by ULID time; the compactor's own output is exempt, it is
 * complete by construction), the selector's relabeling — then the
 * deduplicate filter: a block whose sources all belong to another block of
 * its group is what a compaction left behind when it died before marking
 * its sources, and is marked for deletion here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compactor.h"
#include "strata/err.h"
#include "strata/log.h"

/* Thanos's sources exempt from the consistency delay. */
static bool exempt_source(const char *s) {
    return strcmp(s, ST_THANOS_SOURCE_COMPACTOR) == 0 || strcmp(s, "bucket.repair") == 0 ||
           strcmp(s, "compactor.repair") == 0;
}

static const char TOO_YOUNG[] = "younger than --consistency-delay";

/* Why block b stays out of the view; NULL = it is in. */
static const char *filtered(compactor_t *c, const st_bucket_block_t *b, int64_t now) {
    if (b->partial) return "partial upload";
    if (b->meta_rc) return "unreadable meta.json";
    if (b->deletion_marked) return "marked for deletion";
    if (!b->thanos.labels.n) return "no external labels";
    if (compactor_res_index(b->thanos.resolution) < 0) return "unknown resolution";
    if (now - (int64_t)st_ulid_time(&b->id) < c->consistency_delay_ms && !exempt_source(b->thanos.source))
        return TOO_YOUNG;
    bool keep = true;
    int rc = st_bucket_block_selected(c->relabel.compiled, b, c->replica_labels, c->nreplica, &keep);
    if (rc) {
        st_log(ST_LOG_WARN, "relabeling a block failed; skipping it", "err", st_errdetail(rc), NULL);
        return "relabel failed";
    }
    return keep ? NULL : "dropped by --selector.relabel-config";
}

static int mark_redundant(compactor_t *c, compactor_view_t *v) {
    if (v->nlive < 2) return ST_OK;
    st_meta_t *metas = malloc(v->nlive * sizeof *metas);
    const char **keys = malloc(v->nlive * sizeof *keys);
    bool *red = malloc(v->nlive * sizeof *red);
    int rc = ST_OK;
    if (!metas || !keys || !red) {
        rc = st_errorf(ST_ENOMEM, "redundant blocks: %zu blocks", v->nlive);
        goto out;
    }
    for (size_t i = 0; i < v->nlive; i++) {
        metas[i] = v->v[v->live[i]].meta; /* shallow: read only */
        keys[i] = v->keys[v->live[i]];
    }
    if ((rc = st_compact_find_redundant(metas, keys, v->nlive, red))) goto out;
    size_t k = 0;
    for (size_t i = 0; i < v->nlive; i++) {
        /* a block whose mark failed stays out too: compacting it again
         * would only make another copy of its data */
        if (!red[i]) {
            v->live[k++] = v->live[i];
            continue;
        }
        st_bucket_block_t *b = &v->v[v->live[i]];
        char id[ST_ULID_TEXT_LEN + 1];
        st_ulid_format(&b->id, id);
        int mrc = compactor_mark(c, &b->id, MARK_DELETION_REDUNDANT,
                                 "redundant: every source is in another block of its group (a compaction that "
                                 "did not finish marking its sources)");
        if (mrc) {
            st_log(ST_LOG_ERROR, "marking a redundant block for deletion failed", "block", id, "err",
                   st_errdetail(mrc), NULL);
            if (!rc) rc = mrc;
        } else {
            atomic_fetch_add(&c->m.garbage_collected, 1);
            b->deletion_marked = true;
            b->deletion_time_s = compactor_now_ms() / 1000;
            st_log(ST_LOG_INFO, "marked redundant block for deletion", "block", id, NULL);
        }
    }
    v->nlive = k;
out:
    free(metas);
    free(keys);
    free(red);
    return rc;
}

int compactor_sync(compactor_t *c, bool redundant, compactor_view_t *out) {
    memset(out, 0, sizeof *out);
    int rc = st_bucket_list(c->bkt, ST_BUCKET_LIST_MARKERS, &out->v, &out->n);
    if (rc) return st_errwrap(rc, "listing the bucket");
    size_t n = out->n ? out->n : 1;
    out->live = malloc(n * sizeof *out->live);
    out->keys = calloc(n, sizeof *out->keys);
    if (!out->live || !out->keys) {
        compactor_view_free(out);
        return st_errorf(ST_ENOMEM, "bucket view of %zu blocks", out->n);
    }
    int64_t now = compactor_now_ms();
    size_t partial = 0, marked = 0, young = 0;
    for (size_t i = 0; i < out->n; i++) {
        st_bucket_block_t *b = &out->v[i];
        const char *why = filtered(c, b, now);
        if (!why) {
            st_labels_t gl;
            if ((rc = st_compact_group_labels(&b->thanos.labels, c->replica_labels, c->nreplica, &gl))) {
                compactor_view_free(out);
                return rc;
            }
            st_compact_group_key(&gl, b->thanos.resolution, out->keys[i], sizeof out->keys[i]);
            st_labels_free(&gl);
            out->live[out->nlive++] = i;
            continue;
        }
        char id[ST_ULID_TEXT_LEN + 1];
        st_ulid_format(&b->id, id);
        if (b->partial) partial++;
        else if (b->deletion_marked) marked++;
        else if (why == TOO_YOUNG) young++;
        if (b->meta_rc) st_log(ST_LOG_WARN, "skipping block", "block", id, "reason", why, "err", b->meta_err, NULL);
        else if (!b->partial && !b->deletion_marked)
            st_log(ST_LOG_DEBUG, "skipping block", "block", id, "reason", why, NULL);
        if (b->marker_err)
            st_log(ST_LOG_WARN, "unreadable marker (counts as absent)", "block", id, "err", b->marker_err, NULL);
    }
    if (redundant) out->err = mark_redundant(c, out);
    atomic_store(&c->m.blocks, out->nlive);
    char a[24], b[24], d[24], e[24], f[24];
    snprintf(a, sizeof a, "%zu", out->n);
    snprintf(b, sizeof b, "%zu", out->nlive);
    snprintf(d, sizeof d, "%zu", partial);
    snprintf(e, sizeof e, "%zu", marked);
    snprintf(f, sizeof f, "%zu", young);
    st_log(ST_LOG_INFO, "synced bucket", "listed", a, "usable", b, "partial", d, "deletion_marked", e, "too_young", f,
           NULL);
    return ST_OK;
}

void compactor_view_free(compactor_view_t *v) {
    if (!v) return;
    st_bucket_blocks_free(v->v, v->n);
    free(v->live);
    free(v->keys);
    memset(v, 0, sizeof *v);
}
