/*
 * The shipper: one pass over the TSDB directory per call (rules in
 * shipper.h). The state file is re-read every pass, so an operator may
 * edit it between passes, and rewritten after every upload, so a crash
 * right after an upload does not ship that block again. Blocks that left
 * the TSDB directory (retention) are dropped from the file at the end of
 * the pass, as Thanos does.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "shipper.h"
#include "strata/bucket.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/log.h"
#include "strata/meta.h"

typedef struct {
    st_meta_t meta;
    char *dir;
} local_block_t;

static void local_free(local_block_t *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) {
        st_meta_free(&v[i].meta);
        free(v[i].dir);
    }
    free(v);
}

static int by_min_time(const void *x, const void *y) {
    const local_block_t *a = x, *b = y;
    if (a->meta.min_time != b->meta.min_time) return a->meta.min_time < b->meta.min_time ? -1 : 1;
    return st_ulid_cmp(&a->meta.ulid, &b->meta.ulid);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Block directories (canonical ULID names) with a readable meta.json. */
static int list_local(const char *tsdb_dir, local_block_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    DIR *d = opendir(tsdb_dir);
    if (!d)
        return st_errorf(errno == ENOENT ? ST_ENOTFOUND : ST_EIO, "read TSDB dir %s: %s", tsdb_dir, strerror(errno));
    local_block_t *v = NULL;
    size_t nv = 0, cap = 0;
    int rc = ST_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        st_ulid_t id;
        char canon[ST_ULID_TEXT_LEN + 1];
        if (strlen(e->d_name) != ST_ULID_TEXT_LEN || st_ulid_parse(&id, e->d_name) != ST_OK) continue;
        st_ulid_format(&id, canon);
        if (strcmp(canon, e->d_name) != 0) continue;
        char *dir = st_path_join(tsdb_dir, e->d_name);
        struct stat st;
        if (!dir) {
            rc = st_errorf(ST_ENOMEM, "TSDB dir listing");
            goto out;
        }
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            free(dir);
            continue;
        }
        if (nv == cap) {
            cap = cap ? cap * 2 : 16;
            local_block_t *nvv = realloc(v, cap * sizeof *v);
            if (!nvv) {
                free(dir);
                rc = st_errorf(ST_ENOMEM, "TSDB dir listing of %zu blocks", cap);
                goto out;
            }
            v = nvv;
        }
        int mrc = st_meta_read(&v[nv].meta, dir);
        if (mrc == ST_OK && st_ulid_cmp(&v[nv].meta.ulid, &id) != 0)
            mrc = st_errorf(ST_ECORRUPT, "%s/meta.json: names another ULID", dir);
        if (mrc) {
            /* Prometheus renames finished blocks into place, so this is a
             * broken block, not one being written: report it and go on. */
            st_log(ST_LOG_WARN, "skipping block with unreadable meta.json", "block", e->d_name, "err",
                   st_errdetail(mrc), NULL);
            st_meta_free(&v[nv].meta);
            free(dir);
            continue;
        }
        v[nv++].dir = dir;
    }
    if (nv) qsort(v, nv, sizeof *v, by_min_time);
    *out = v;
    *n = nv;
    v = NULL;
out:
    closedir(d);
    local_free(v, nv);
    return rc;
}

/* A compacted block may only go up if no bucket block of the same labels
 * overlaps it (it would duplicate data the bucket already has). */
static int check_overlap(st_objstore_t *bkt, st_bucket_block_t **remote, size_t *nremote, bool *listed,
                         const st_meta_t *m, const st_labels_t *ext) {
    int rc;
    if (!*listed) {
        if ((rc = st_bucket_list(bkt, 0, remote, nremote))) return st_errwrap(rc, "list bucket for overlap check");
        *listed = true;
    }
    for (size_t i = 0; i < *nremote; i++) {
        const st_bucket_block_t *r = &(*remote)[i];
        if (r->partial || r->meta_rc || r->thanos.resolution != 0 || !st_labels_equal(&r->thanos.labels, ext))
            continue;
        if (r->meta.min_time < m->max_time && m->min_time < r->meta.max_time) {
            char a[ST_ULID_TEXT_LEN + 1], b[ST_ULID_TEXT_LEN + 1];
            st_ulid_format(&m->ulid, a);
            st_ulid_format(&r->id, b);
            return st_errorf(ST_EEXIST,
                             "compacted block %s [%lld, %lld) overlaps bucket block %s [%lld, %lld) of the same "
                             "labels; not uploading it (resolve the overlap by hand)",
                             a, (long long)m->min_time, (long long)m->max_time, b, (long long)r->meta.min_time,
                             (long long)r->meta.max_time);
        }
    }
    return ST_OK;
}

static int upload_one(shipper_t *s, const local_block_t *b, const st_labels_t *ext, bool *already) {
    char id[ST_ULID_TEXT_LEN + 1];
    st_ulid_format(&b->meta.ulid, id);
    /* A GET rather than a HEAD: a refusal then carries the server's reason
     * (e.g. InvalidAccessKeyId), and an unreadable meta.json is replaced. */
    st_meta_t remote;
    int rc = st_bucket_read_meta(s->bucket, &b->meta.ulid, &remote);
    *already = rc == ST_OK;
    st_meta_free(&remote);
    if (*already) return ST_OK;
    if (rc == ST_ECORRUPT)
        st_log(ST_LOG_WARN, "bucket has an unreadable meta.json for this block; uploading it again", "block", id,
               "err", st_errdetail(rc), NULL);
    else if (rc != ST_ENOTFOUND)
        return st_errwrap(rc, "block %s: check bucket", id);
    st_thanos_t th = {.labels = *ext, .resolution = 0, .source = (char *)ST_THANOS_SOURCE_SIDECAR};
    int64_t t0 = now_ms();
    rc = st_bucket_upload_block(s->bucket, b->dir, &th, s->stop, NULL);
    if (rc) return rc;
    char mint[24], maxt[24], dur[32];
    snprintf(mint, sizeof mint, "%" PRId64, b->meta.min_time);
    snprintf(maxt, sizeof maxt, "%" PRId64, b->meta.max_time);
    snprintf(dur, sizeof dur, "%.3fs", (double)(now_ms() - t0) / 1000.0);
    st_log(ST_LOG_INFO, "upload new block", "block", id, "mint", mint, "maxt", maxt, "duration", dur, NULL);
    return ST_OK;
}

int shipper_sync(shipper_t *s, const st_labels_t *ext, size_t *uploaded) {
    *uploaded = 0;
    shipper_metrics_t *mt = s->metrics;
    atomic_fetch_add(&mt->syncs, 1);
    char *state_path = st_path_join(s->tsdb_dir, SHIPPER_STATE_FILE);
    shipper_state_t old = {0}, cur = {0};
    local_block_t *blocks = NULL;
    st_bucket_block_t *remote = NULL;
    size_t nblocks = 0, nremote = 0;
    bool listed = false, dirty = false;
    int rc = ST_OK, last_err = ST_OK;
    char last_detail[512] = "";
    if (!state_path) {
        rc = st_errorf(ST_ENOMEM, "state path");
        goto out;
    }
    rc = shipper_state_read(&old, state_path);
    if (rc) {
        /* the bucket check below still keeps shipped blocks from going up twice */
        st_log(ST_LOG_WARN, "reading shipper state failed, will override it", "file", state_path, "err",
               st_errdetail(rc), NULL);
        dirty = true;
    }
    if ((rc = list_local(s->tsdb_dir, &blocks, &nblocks))) goto out;
    /* keep the entries whose block is still here, in their old order */
    for (size_t i = 0; i < old.n; i++) {
        bool present = false;
        for (size_t j = 0; j < nblocks && !present; j++) present = st_ulid_cmp(&blocks[j].meta.ulid, &old.uploaded[i]) == 0;
        if (!present) {
            dirty = true;
            continue;
        }
        if ((rc = shipper_state_add(&cur, &old.uploaded[i]))) goto out;
    }

    for (size_t i = 0; i < nblocks; i++) {
        const st_meta_t *m = &blocks[i].meta;
        char id[ST_ULID_TEXT_LEN + 1];
        st_ulid_format(&m->ulid, id);
        if (atomic_load(s->stop)) break;
        if (shipper_state_has(&cur, &m->ulid) || m->num_samples == 0) continue;
        if (m->level > 1 && !s->upload_compacted) {
            char lvl[16];
            snprintf(lvl, sizeof lvl, "%d", m->level);
            st_log(ST_LOG_DEBUG, "skipping compacted block (see --shipper.upload-compacted)", "block", id, "level",
                   lvl, NULL);
            continue;
        }
        bool already = false;
        int brc = ST_OK;
        if (m->level > 1) brc = check_overlap(s->bucket, &remote, &nremote, &listed, m, ext);
        if (!brc) brc = upload_one(s, &blocks[i], ext, &already);
        if (brc) {
            atomic_fetch_add(&mt->upload_failures, 1);
            st_log(ST_LOG_ERROR, "shipping failed", "block", id, "err", st_errdetail(brc), NULL);
            last_err = brc;
            snprintf(last_detail, sizeof last_detail, "%s", st_errdetail(brc));
            continue;
        }
        if (already) {
            st_log(ST_LOG_INFO, "block already in the bucket, recording it as uploaded", "block", id, NULL);
        } else {
            atomic_fetch_add(&mt->uploads, 1);
            atomic_store(&mt->last_upload_ms, now_ms());
            (*uploaded)++;
        }
        if ((rc = shipper_state_add(&cur, &m->ulid))) goto out;
        if ((rc = shipper_state_write(&cur, state_path))) goto out;
        dirty = false;
    }
    if (dirty) rc = shipper_state_write(&cur, state_path);
out:
    if (!rc && last_err) rc = st_errorf(last_err, "%s", last_detail);
    if (rc) atomic_fetch_add(&mt->sync_failures, 1);
    st_bucket_blocks_free(remote, nremote);
    local_free(blocks, nblocks);
    shipper_state_free(&old);
    shipper_state_free(&cur);
    free(state_path);
    return rc;
}

int shipper_local_min_time(const char *tsdb_dir, int64_t *mint) {
    local_block_t *v;
    size_t n;
    int rc = list_local(tsdb_dir, &v, &n);
    if (rc) return rc;
    *mint = n ? v[0].meta.min_time : INT64_MIN; /* sorted by minTime */
    local_free(v, n);
    return ST_OK;
}
