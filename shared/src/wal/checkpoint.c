/*
 * WAL checkpoints (Prometheus 2.42 tsdb/wlog/checkpoint.go). A checkpoint
 * is a directory wal/checkpoint.NNNNNNNN of ordinary segments holding what
 * is still needed from segments <= N: series records of live series and
 * samples / tombstones at or after the truncation time. Replay reads the
 * newest checkpoint, then segments N+1, N+2, ...
 *
 * Crash safety: the checkpoint is built in checkpoint.N.tmp (a leftover one
 * is removed first), closed (padded, fsynced) and renamed durably; only then
 * may the caller delete segments <= N and older checkpoints. A crash at any
 * point leaves either the old state or the new checkpoint plus segments it
 * already covers, which replay skips.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/wal.h"
#include "wal_int.h"

#define CHECKPOINT_PREFIX "checkpoint."

/* N of "checkpoint.N", or -1 (also for "checkpoint.N.tmp"). */
static int checkpoint_index(const char *name) {
    if (strncmp(name, CHECKPOINT_PREFIX, sizeof CHECKPOINT_PREFIX - 1) != 0) return -1;
    return st__wal_parse_index(name + sizeof CHECKPOINT_PREFIX - 1);
}

static char *checkpoint_path(const char *dir, int index, const char *suffix) {
    char name[48];
    snprintf(name, sizeof name, CHECKPOINT_PREFIX "%08d%s", index, suffix);
    return st_path_join(dir, name);
}

int st_wal_last_checkpoint(const char *dir, char **path, int *index) {
    *path = NULL;
    *index = -1;
    DIR *d = opendir(dir);
    if (!d)
        return st_errorf(errno == ENOENT ? ST_ENOTFOUND : ST_EIO, "wal %s: open directory: %s", dir, strerror(errno));
    struct dirent *e;
    int best = -1;
    while ((e = readdir(d))) {
        int k = checkpoint_index(e->d_name);
        if (k > best) best = k;
    }
    closedir(d);
    if (best < 0) return st_errorf(ST_ENOTFOUND, "wal %s: no checkpoint", dir);
    char *p = checkpoint_path(dir, best, "");
    if (!p) return st_errorf(ST_ENOMEM, "wal %s: allocation failed", dir);
    struct stat st;
    if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
        int rc = st_errorf(ST_ECORRUPT, "wal %s: checkpoint %s is not a directory", dir, p);
        free(p);
        return rc;
    }
    *path = p;
    *index = best;
    return ST_OK;
}

int st_wal_delete_checkpoints(const char *dir, int below) {
    DIR *d = opendir(dir);
    if (!d) return st_errorf(ST_EIO, "wal %s: open directory: %s", dir, strerror(errno));
    int rc = ST_OK;
    bool removed = false;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        int k = checkpoint_index(e->d_name);
        if (k < 0 || k >= below) continue;
        char *p = st_path_join(dir, e->d_name);
        if (!p) rc = st_errorf(ST_ENOMEM, "wal %s: allocation failed", dir);
        else rc = st_rm_rf(p);
        free(p);
        removed = true;
    }
    closedir(d);
    if (!rc && removed) rc = st_fsync_path(dir);
    return rc;
}

typedef struct {
    st_wal_t *w;
    st_wal_keep_fn keep;
    void *ctx;
    int64_t mint;
    st_encbuf_t buf;
    st_wal_checkpoint_stats_t *stats;
} cp_t;

/* Log the record encoded in c->buf. */
static int log_buf(cp_t *c, const char *what) {
    if (c->buf.err) return st_errorf(c->buf.err, "wal checkpoint: encoding a %s record", what);
    return st_wal_log(c->w, c->buf.p, c->buf.len);
}

static int filter_series(cp_t *c, const uint8_t *rec, size_t len) {
    st_wal_series_t *s;
    size_t n, kept = 0;
    int rc = st_wal_decode_series(rec, len, &s, &n);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        if (!c->keep(c->ctx, s[i].ref)) {
            st_labels_free(&s[i].lbls);
            continue;
        }
        s[kept++] = s[i];
    }
    c->stats->series_kept += kept;
    c->stats->series_dropped += n - kept;
    if (kept) {
        st_encbuf_reset(&c->buf);
        st_wal_encode_series(&c->buf, s, kept);
        rc = log_buf(c, "series");
    }
    st_wal_series_free(s, kept);
    return rc;
}

static int filter_samples(cp_t *c, const uint8_t *rec, size_t len) {
    st_wal_sample_t *s;
    size_t n, kept = 0;
    int rc = st_wal_decode_samples(rec, len, &s, &n);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++)
        if (s[i].t >= c->mint) s[kept++] = s[i];
    c->stats->samples_kept += kept;
    c->stats->samples_dropped += n - kept;
    if (kept) {
        st_encbuf_reset(&c->buf);
        st_wal_encode_samples(&c->buf, s, kept);
        rc = log_buf(c, "samples");
    }
    free(s);
    return rc;
}

static int filter_tombstones(cp_t *c, const uint8_t *rec, size_t len) {
    st_wal_tombstone_t *t;
    size_t n, kept = 0;
    int rc = st_wal_decode_tombstones(rec, len, &t, &n);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++)
        if (t[i].maxt >= c->mint) t[kept++] = t[i];
    c->stats->tombstones_kept += kept;
    c->stats->tombstones_dropped += n - kept;
    if (kept) {
        st_encbuf_reset(&c->buf);
        st_wal_encode_tombstones(&c->buf, t, kept);
        rc = log_buf(c, "tombstones");
    }
    free(t);
    return rc;
}

static int copy_segments(cp_t *c, const char *dir, int first, int last) {
    st_wal_reader_t *r;
    int rc = st_wal_reader_open(&r, dir, first, last);
    if (rc) return rc;
    const uint8_t *rec;
    size_t len;
    while ((rc = st_wal_reader_next(r, &rec, &len)) == 1) {
        switch (st_wal_record_type(rec, len)) {
        case ST_WAL_REC_SERIES: rc = filter_series(c, rec, len); break;
        case ST_WAL_REC_SAMPLES: rc = filter_samples(c, rec, len); break;
        case ST_WAL_REC_TOMBSTONES: rc = filter_tombstones(c, rec, len); break;
        default: rc = ST_OK; break; /* exemplars, metadata, histograms: not kept */
        }
        if (rc) {
            int seg;
            uint64_t off;
            st_wal_reader_position(r, &seg, &off);
            rc = st_errwrap(rc, "wal checkpoint: segment %s/%08d offset %llu", dir, seg, (unsigned long long)off);
            break;
        }
    }
    st_wal_reader_free(r);
    return rc;
}

int st_wal_checkpoint(const char *dir, int from, int to, st_wal_keep_fn keep, void *ctx, int64_t mint,
                      bool compress, st_wal_checkpoint_stats_t *stats) {
    st_wal_checkpoint_stats_t local = {0};
    cp_t c = {.keep = keep, .ctx = ctx, .mint = mint, .stats = stats ? stats : &local};
    memset(c.stats, 0, sizeof *c.stats);
    st_encbuf_init(&c.buf, ST_WAL_MAX_RECORD);
    char *prev = NULL, *tmp = NULL, *final = NULL;
    int prev_idx, rc = st_wal_last_checkpoint(dir, &prev, &prev_idx);
    if (rc == ST_ENOTFOUND) {
        rc = ST_OK;
    } else if (rc) {
        goto out;
    } else {
        if (from > prev_idx + 1) {
            rc = st_errorf(ST_EINVAL, "wal %s: checkpoint of segments %d..%d leaves a gap after checkpoint.%08d", dir,
                           from, to, prev_idx);
            goto out;
        }
        from = prev_idx + 1; /* older segments are folded into prev already */
    }
    tmp = checkpoint_path(dir, to, ".tmp");
    final = checkpoint_path(dir, to, "");
    if (!tmp || !final) {
        rc = st_errorf(ST_ENOMEM, "wal %s: allocation failed", dir);
        goto out;
    }
    if ((rc = st_rm_rf(tmp)) || (rc = st_wal_open(&c.w, tmp, 0, compress))) goto out;
    if (prev) {
        int first, last;
        if ((rc = st_wal_segments(prev, &first, &last))) goto out;
        if (first >= 0 && (rc = copy_segments(&c, prev, first, last))) goto out;
    }
    if (from <= to && (rc = copy_segments(&c, dir, from, to))) goto out;
    rc = st_wal_close(c.w);
    c.w = NULL;
    if (rc || (rc = st_rm_rf(final)) || (rc = st_rename_durable(tmp, final))) goto out;
out:
    if (c.w) st_wal_close(c.w);
    if (rc && tmp) st_rm_rf(tmp);
    st_encbuf_free(&c.buf);
    free(prev);
    free(tmp);
    free(final);
    return rc;
}
