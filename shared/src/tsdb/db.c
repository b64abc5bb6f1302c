/*
 * The database: data directory, lock, blocks, WAL replay, compaction
 * (head -> block -> WAL checkpoint), retention, queries, stats.
 *
 * Data directory (as Prometheus's --storage.tsdb.path):
 *   lock                    flock(2)ed while open, removed on close
 *   <ULID>/                 blocks; <ULID>.tmp-for-creation / -deletion and
 *                           *.tmp are leftovers of a crash, removed at open
 *   wal/%08d                segments; wal/checkpoint.%08d/ after truncation
 *
 * Write path and its crash guarantees:
 *   1. commit writes records to the WAL with write(2) before samples
 *      become visible: an acknowledged sample survives kill -9; the
 *      segment is fsynced every wal_fsync_interval_ms by a thread (or at
 *      every commit when the interval is 0) and on close;
 *   2. compaction, once the head spans 1.5 block durations, sets the head's
 *      min valid time to the end of the oldest window [k*d, (k+1)*d) (no
 *      sample can enter it any more), writes the window as a block
 *      (tmp dir + rename), drops it from the head, starts a new WAL segment,
 *      folds all older segments into checkpoint.N (series still in the head,
 *      samples at or after the window end) and only then deletes them;
 *   3. at open the newest checkpoint and the later segments are replayed;
 *      samples older than the newest block's maxTime are skipped. A corrupt
 *      or torn record stops the replay: the WAL is cut there (logged with
 *      segment and offset) and what came before is kept.
 *   4. retention (Prometheus's rule): blocks whose maxTime is more than the
 *      retention older than the newest block's maxTime are renamed to
 *      *.tmp-for-deletion and removed once no reader uses them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/log.h"
#include "../block/chunkcut.h"
#include "tsdb_int.h"

#define WAL_DIR "wal"
#define LOCK_FILE "lock"

void st_db_opts_default(st_db_opts_t *o, const char *path) {
    memset(o, 0, sizeof *o);
    o->path = path;
    o->block_duration_ms = ST_DEFAULT_BLOCK_DURATION_MS;
    o->retention_ms = (int64_t)15 * 24 * 3600 * 1000;
    o->wal_segment_size = ST_WAL_DEFAULT_SEGMENT_SIZE;
    o->wal_compression = true;
    o->wal_fsync_interval_ms = 1000;
}

static bool has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* ---- lock file ---- */

static int take_lock(st_db_t *db) {
    if (!(db->lock_path = st_path_join(db->path, LOCK_FILE))) return st_errorf(ST_ENOMEM, "tsdb: allocation failed");
    db->lock_fd = open(db->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (db->lock_fd < 0) return st_errorf(ST_EIO, "tsdb: create %s: %s", db->lock_path, strerror(errno));
    if (flock(db->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(db->lock_fd);
        db->lock_fd = -1;
        if (e == EWOULDBLOCK)
            return st_errorf(ST_EEXIST, "tsdb: lock %s: the data directory is in use by another process",
                             db->lock_path);
        return st_errorf(ST_EIO, "tsdb: lock %s: %s", db->lock_path, strerror(e));
    }
    return ST_OK;
}

static void release_lock(st_db_t *db) {
    if (db->lock_fd < 0) return;
    unlink(db->lock_path);
    close(db->lock_fd);
    db->lock_fd = -1;
}

/* Remove what a crash may leave: unfinished or half-deleted blocks. */
static int remove_tmp_dirs(const char *dir, bool checkpoints) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? ST_OK : st_errorf(ST_EIO, "tsdb: open %s: %s", dir, strerror(errno));
    int rc = ST_OK;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        const char *n = e->d_name;
        bool tmp = checkpoints ? strncmp(n, "checkpoint.", 11) == 0 && has_suffix(n, ".tmp")
                               : has_suffix(n, ST_BLOCK_TMP_SUFFIX) || has_suffix(n, ".tmp-for-deletion") ||
                                     (has_suffix(n, ".tmp") && strlen(n) == ST_ULID_TEXT_LEN + 4);
        if (!tmp) continue;
        char *p = st_path_join(dir, n);
        rc = p ? st_rm_rf(p) : st_errorf(ST_ENOMEM, "tsdb: allocation failed");
        free(p);
    }
    closedir(d);
    return rc;
}

/* ---- blocks ---- */

void st__db_block_release(dbblock_t *b) {
    if (atomic_fetch_sub(&b->refs, 1) != 1) return;
    st_block_close(b->b);
    if (b->deleted) {
        int rc = st_rm_rf(b->dir);
        if (rc)
            st_log(ST_LOG_WARN, "tsdb: removing a deleted block failed", "dir", b->dir, "err", st_errdetail(rc), NULL);
    }
    free(b->dir);
    free(b);
}

static int block_cmp(const void *x, const void *y) {
    const st_meta_t *a = st_block_meta((*(dbblock_t *const *)x)->b), *b = st_block_meta((*(dbblock_t *const *)y)->b);
    if (a->min_time != b->min_time) return a->min_time < b->min_time ? -1 : 1;
    return st_ulid_cmp(&a->ulid, &b->ulid);
}

/* Take ownership of an opened block into the list (blocks_mu held). */
static int add_block_locked(st_db_t *db, st_block_t *blk) {
    dbblock_t *b = calloc(1, sizeof *b);
    dbblock_t **nl = realloc(db->blocks, (db->nblocks + 1) * sizeof *nl);
    if (nl) db->blocks = nl;
    if (!b || !nl || !(b->dir = strdup(st_block_dir(blk)))) {
        free(b);
        st_block_close(blk);
        return st_errorf(ST_ENOMEM, "tsdb: allocating a block entry");
    }
    b->b = blk;
    atomic_init(&b->refs, 1);
    db->blocks[db->nblocks++] = b;
    qsort(db->blocks, db->nblocks, sizeof *db->blocks, block_cmp);
    return ST_OK;
}

static int64_t newest_block_max(st_db_t *db) {
    int64_t m = INT64_MIN;
    for (size_t i = 0; i < db->nblocks; i++) {
        int64_t t = st_block_meta(db->blocks[i]->b)->max_time;
        if (t > m) m = t;
    }
    return m;
}

/* Blocks put into the directory by others (backfill) appear here. */
static void rescan_blocks(st_db_t *db) {
    DIR *d = opendir(db->path);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        st_ulid_t id;
        if (strlen(e->d_name) != ST_ULID_TEXT_LEN || st_ulid_parse(&id, e->d_name) != 0) continue;
        bool known = false;
        pthread_mutex_lock(&db->blocks_mu);
        for (size_t i = 0; i < db->nblocks && !known; i++)
            known = st_ulid_cmp(&st_block_meta(db->blocks[i]->b)->ulid, &id) == 0;
        pthread_mutex_unlock(&db->blocks_mu);
        if (known) continue;
        char *p = st_path_join(db->path, e->d_name);
        st_block_t *blk = NULL;
        int rc = p ? st_block_open(&blk, p) : st_errorf(ST_ENOMEM, "tsdb: allocation failed");
        if (!rc) {
            pthread_mutex_lock(&db->blocks_mu);
            rc = add_block_locked(db, blk);
            pthread_mutex_unlock(&db->blocks_mu);
            if (!rc) st_log(ST_LOG_INFO, "tsdb: picked up a new block", "block", e->d_name, NULL);
        }
        if (rc) st_log(ST_LOG_WARN, "tsdb: cannot open a block found in the data directory", "dir", p ? p : e->d_name,
                       "err", st_errdetail(rc), NULL);
        free(p);
    }
    closedir(d);
}

static void delete_block(dbblock_t *b) {
    char ulid[ST_ULID_TEXT_LEN + 1];
    st_ulid_format(&st_block_meta(b->b)->ulid, ulid);
    size_t n = strlen(b->dir);
    char *to = malloc(n + sizeof ".tmp-for-deletion");
    int rc = to ? ST_OK : st_errorf(ST_ENOMEM, "tsdb: allocation failed");
    if (to) {
        memcpy(to, b->dir, n);
        memcpy(to + n, ".tmp-for-deletion", sizeof ".tmp-for-deletion");
        rc = st_rename_durable(b->dir, to);
    }
    if (rc) {
        st_log(ST_LOG_ERROR, "tsdb: deleting a block beyond retention failed", "block", ulid, "err", st_errdetail(rc),
               NULL);
        free(to);
    } else {
        st_log(ST_LOG_INFO, "tsdb: deleting block beyond retention", "block", ulid, NULL);
        free(b->dir);
        b->dir = to;
        b->deleted = true;
    }
    st__db_block_release(b);
}

static void apply_retention(st_db_t *db) {
    if (db->opts.retention_ms <= 0) return;
    dbblock_t **victims = NULL;
    size_t nv = 0;
    pthread_mutex_lock(&db->blocks_mu);
    int64_t newest = newest_block_max(db);
    size_t keep = 0;
    for (size_t i = 0; i < db->nblocks; i++) {
        dbblock_t *b = db->blocks[i];
        if (newest - st_block_meta(b->b)->max_time <= db->opts.retention_ms) {
            db->blocks[keep++] = b;
            continue;
        }
        dbblock_t **nv2 = realloc(victims, (nv + 1) * sizeof *nv2);
        if (!nv2) {
            db->blocks[keep++] = b; /* retried at the next compaction */
            continue;
        }
        victims = nv2;
        victims[nv++] = b;
    }
    db->nblocks = keep;
    pthread_mutex_unlock(&db->blocks_mu);
    for (size_t i = 0; i < nv; i++) delete_block(victims[i]);
    free(victims);
}

/* ---- replay ---- */

typedef struct {
    uint64_t series, samples, unknown_ref, too_old, out_of_order;
} replay_stats_t;

static int replay_series(st_db_t *db, const uint8_t *rec, size_t len, replay_stats_t *st) {
    st_wal_series_t *v;
    size_t n;
    int rc = st_wal_decode_series(rec, len, &v, &n);
    if (rc) return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        if (v[i].ref == 0) continue; /* never written; refs start at 1 */
        if (v[i].ref > db->last_ref) db->last_ref = v[i].ref;
        uint64_t hash = st_labels_hash(&v[i].lbls);
        hseries_t *s = st__head_by_labels(&db->head, &v[i].lbls, hash);
        if (s) {
            if (s->ref != v[i].ref) rc = st__head_alias(&db->head, v[i].ref, s);
        } else if (!st__head_by_ref(&db->head, v[i].ref)) {
            rc = st__head_create(&db->head, &v[i].lbls, hash, v[i].ref, &s);
            st->series++;
        }
    }
    st_wal_series_free(v, n);
    return rc;
}

static int replay_samples(st_db_t *db, const uint8_t *rec, size_t len, replay_stats_t *st) {
    st_wal_sample_t *v;
    size_t n;
    int rc = st_wal_decode_samples(rec, len, &v, &n);
    if (rc) return rc;
    head_t *h = &db->head;
    int64_t mvt = atomic_load(&db->min_valid_time), mn = INT64_MAX, mx = INT64_MIN;
    for (size_t i = 0; i < n && !rc; i++) {
        hseries_t *s = st__head_by_ref(h, v[i].ref);
        int64_t lt;
        uint64_t lv;
        if (!s) st->unknown_ref++;
        else if (v[i].t < mvt) st->too_old++;
        else if (st__series_last(s, &lt, &lv) && v[i].t <= lt) st->out_of_order++;
        else if (!(rc = st__series_append(h, s, v[i].t, v[i].v))) {
            st->samples++;
            if (v[i].t < mn) mn = v[i].t;
            if (v[i].t > mx) mx = v[i].t;
        }
    }
    free(v);
    if (mn != INT64_MAX) {
        st__atomic_min(&h->min_time, mn);
        st__atomic_max(&h->max_time, mx);
    }
    return rc;
}

/* Replay every record of r. A record that does not decode counts as
 * corruption at its position, as in Prometheus. */
static int replay_reader(st_db_t *db, st_wal_reader_t *r, replay_stats_t *st) {
    const uint8_t *rec;
    size_t len;
    int rc;
    while ((rc = st_wal_reader_next(r, &rec, &len)) == 1) {
        switch (rc = st_wal_record_type(rec, len)) {
        case ST_WAL_REC_SERIES: rc = replay_series(db, rec, len, st); break;
        case ST_WAL_REC_SAMPLES: rc = replay_samples(db, rec, len, st); break;
        default: rc = rc < 0 ? rc : ST_OK; break; /* tombstones (no deletion here), exemplars, metadata, ... */
        }
        if (rc) return rc;
    }
    return rc;
}

static int replay(st_db_t *db, const char *waldir) {
    replay_stats_t st = {0};
    char *cp = NULL;
    int cp_idx, first, last, rc = st_wal_last_checkpoint(waldir, &cp, &cp_idx);
    st_wal_reader_t *r = NULL;
    if (rc == ST_ENOTFOUND) {
        cp_idx = -1;
    } else if (rc) {
        return rc;
    } else {
        if ((rc = st_wal_segments(cp, &first, &last)) || (rc = st_wal_reader_open(&r, cp, first, last)) ||
            (rc = replay_reader(db, r, &st))) {
            rc = st_errwrap(rc, "tsdb: replaying checkpoint %s", cp);
            goto out;
        }
        st_wal_reader_free(r);
        r = NULL;
    }
    if ((rc = st_wal_segments(waldir, &first, &last))) goto out;
    if (first < cp_idx + 1) first = cp_idx + 1;
    if (first <= last) {
        if ((rc = st_wal_reader_open(&r, waldir, first, last))) goto out;
        rc = replay_reader(db, r, &st);
        if (rc == ST_ECORRUPT) {
            int seg;
            uint64_t off;
            st_wal_reader_position(r, &seg, &off);
            char segname[16], offs[24];
            snprintf(segname, sizeof segname, "%08d", seg);
            snprintf(offs, sizeof offs, "%" PRIu64, off);
            st_log(ST_LOG_WARN, "WAL corruption: replayed the records before it and cutting the WAL there", "dir",
                   waldir, "segment", segname, "offset", offs, "err", st_errdetail(rc), NULL);
            atomic_fetch_add(&db->wal_corruptions, 1);
            st_wal_reader_free(r);
            r = NULL;
            rc = st_wal_repair(waldir, seg, off);
        }
        if (rc) goto out;
    }
    if (st.series || st.samples || st.unknown_ref || st.too_old) {
        char a[24], b[24], c[24], d[24], e[24];
        snprintf(a, sizeof a, "%" PRIu64, st.series);
        snprintf(b, sizeof b, "%" PRIu64, st.samples);
        snprintf(c, sizeof c, "%" PRIu64, st.unknown_ref);
        snprintf(d, sizeof d, "%" PRIu64, st.too_old);
        snprintf(e, sizeof e, "%" PRIu64, st.out_of_order);
        st_log(ST_LOG_INFO, "WAL replay completed", "series", a, "samples", b, "unknown_refs", c,
               "older_than_blocks", d, "out_of_order", e, NULL);
    }
out:
    st_wal_reader_free(r);
    free(cp);
    return rc;
}

/* ---- open / close ---- */

static void *sync_main(void *arg) {
    st_db_t *db = arg;
    pthread_mutex_lock(&db->sync_mu);
    while (!db->sync_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (db->opts.wal_fsync_interval_ms % 1000) * 1000000;
        ts.tv_sec += (time_t)(db->opts.wal_fsync_interval_ms / 1000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&db->sync_cv, &db->sync_mu, &ts);
        if (db->sync_stop) break;
        pthread_mutex_unlock(&db->sync_mu);
        int rc = st_wal_sync(db->wal);
        if (rc) st_log(ST_LOG_ERROR, "tsdb: WAL fsync failed", "err", st_errdetail(rc), NULL);
        pthread_mutex_lock(&db->sync_mu);
    }
    pthread_mutex_unlock(&db->sync_mu);
    return NULL;
}

int st_db_open(st_db_t **out, const st_db_opts_t *opts) {
    *out = NULL;
    if (!opts->path || !*opts->path) return st_errorf(ST_EINVAL, "tsdb: no data directory");
    if (opts->block_duration_ms <= 0) return st_errorf(ST_EINVAL, "tsdb: block duration must be positive");
    st_db_t *db = calloc(1, sizeof *db);
    if (!db || !(db->path = strdup(opts->path))) {
        free(db);
        return st_errorf(ST_ENOMEM, "tsdb: allocation failed");
    }
    db->opts = *opts;
    db->opts.path = db->path;
    db->lock_fd = -1;
    pthread_mutex_init(&db->app_mu, NULL);
    pthread_mutex_init(&db->sync_mu, NULL);
    pthread_cond_init(&db->sync_cv, NULL);
    pthread_mutex_init(&db->blocks_mu, NULL);
    pthread_mutex_init(&db->compact_mu, NULL);
    st_encbuf_init(&db->app.enc, ST_WAL_MAX_RECORD);
    atomic_init(&db->min_valid_time, INT64_MIN);
    char *waldir = NULL;
    st_block_t **blocks = NULL;
    size_t nblocks = 0;
    int rc = st__head_init(&db->head, opts->block_duration_ms);
    if (rc) goto fail_head;
    if ((rc = st_mkdir_p(db->path, 0777)) || (rc = take_lock(db)) || (rc = remove_tmp_dirs(db->path, false))) goto fail;
    if (!(waldir = st_path_join(db->path, WAL_DIR))) {
        rc = st_errorf(ST_ENOMEM, "tsdb: allocation failed");
        goto fail;
    }
    if ((rc = st_mkdir_p(waldir, 0777)) || (rc = remove_tmp_dirs(waldir, true))) goto fail;
    if ((rc = st_blocks_open_dir(db->path, &blocks, &nblocks))) goto fail;
    for (size_t i = 0; i < nblocks; i++) {
        rc = add_block_locked(db, blocks[i]);
        blocks[i] = NULL;
        if (rc) goto fail;
    }
    free(blocks);
    blocks = NULL;
    if (db->nblocks) atomic_store(&db->min_valid_time, newest_block_max(db));
    apply_retention(db);
    if ((rc = replay(db, waldir))) goto fail;
    if ((rc = st_wal_open(&db->wal, waldir, opts->wal_segment_size, opts->wal_compression))) goto fail;
    if (opts->wal_fsync_interval_ms > 0) {
        if (pthread_create(&db->sync_thread, NULL, sync_main, db) != 0) {
            rc = st_errorf(ST_ENOMEM, "tsdb: starting the WAL sync thread");
            goto fail;
        }
        db->sync_running = true;
    }
    free(waldir);
    *out = db;
    return ST_OK;
fail:
    st__head_free(&db->head);
fail_head:
    if (blocks) st_blocks_close(blocks, nblocks);
    free(waldir);
    st_wal_close(db->wal);
    db->wal = NULL;
    for (size_t i = 0; i < db->nblocks; i++) st__db_block_release(db->blocks[i]);
    free(db->blocks);
    release_lock(db);
    free(db->lock_path);
    st_encbuf_free(&db->app.enc);
    free(db->path);
    free(db);
    return rc;
}

void st_db_close(st_db_t *db) {
    if (!db) return;
    if (db->sync_running) {
        pthread_mutex_lock(&db->sync_mu);
        db->sync_stop = true;
        pthread_cond_signal(&db->sync_cv);
        pthread_mutex_unlock(&db->sync_mu);
        pthread_join(db->sync_thread, NULL);
    }
    int rc = st_wal_close(db->wal);
    if (rc) st_log(ST_LOG_ERROR, "tsdb: closing the WAL failed", "err", st_errdetail(rc), NULL);
    st__head_free(&db->head);
    for (size_t i = 0; i < db->nblocks; i++) st__db_block_release(db->blocks[i]);
    free(db->blocks);
    release_lock(db);
    free(db->lock_path);
    free(db->app.samples);
    free(db->app.sser);
    free(db->app.created);
    st_encbuf_free(&db->app.enc);
    pthread_mutex_destroy(&db->app_mu);
    pthread_mutex_destroy(&db->sync_mu);
    pthread_cond_destroy(&db->sync_cv);
    pthread_mutex_destroy(&db->blocks_mu);
    pthread_mutex_destroy(&db->compact_mu);
    free(db->path);
    free(db);
}

/* ---- compaction ---- */

static bool keep_ref(void *ctx, uint64_t ref) {
    head_t *h = ctx;
    pthread_rwlock_rdlock(&h->lock);
    bool found = st__head_by_ref(h, ref) != NULL;
    pthread_rwlock_unlock(&h->lock);
    return found;
}

/* New segment; fold everything before it into a checkpoint; delete it. */
static int truncate_wal(st_db_t *db, int64_t mint) {
    const char *dir = st_wal_dir(db->wal);
    int cur, first, last, rc;
    if ((rc = st_wal_next_segment(db->wal, &cur)) || (rc = st_wal_segments(dir, &first, &last))) return rc;
    if (first < 0 || first >= cur) return ST_OK;
    st_wal_checkpoint_stats_t cs;
    if ((rc = st_wal_checkpoint(dir, first, cur - 1, keep_ref, &db->head, mint, db->opts.wal_compression, &cs)))
        return rc;
    if ((rc = st_wal_truncate(db->wal, cur)) || (rc = st_wal_delete_checkpoints(dir, cur - 1))) return rc;
    char segs[32], kept[48];
    snprintf(segs, sizeof segs, "%d..%d", first, cur - 1);
    snprintf(kept, sizeof kept, "%" PRIu64 " series, %" PRIu64 " samples", cs.series_kept, cs.samples_kept);
    st_log(ST_LOG_INFO, "WAL checkpoint complete", "segments", segs, "kept", kept, NULL);
    return ST_OK;
}

/* One head window to a block. 0 = done one, 1 = nothing due, < 0 error.
 * *last_w1 guards progress: windows only move forward. */
static int compact_once(st_db_t *db, int64_t *last_w1) {
    head_t *h = &db->head;
    int64_t d = db->opts.block_duration_ms;
    pthread_mutex_lock(&db->app_mu);
    int64_t hmin = atomic_load(&h->min_time), hmax = atomic_load(&h->max_time);
    if (hmin == INT64_MAX || hmax - hmin <= d / 2 * 3) {
        pthread_mutex_unlock(&db->app_mu);
        return 1;
    }
    /* the window of the oldest sample, as Prometheus's rangeForTimestamp;
     * head chunks never cross its end (chunkcut.h uses the same windows) */
    int64_t w1 = st_chunkcut_range_end(hmin, d), w0 = w1 - d;
    if (w1 <= *last_w1) {
        pthread_mutex_unlock(&db->app_mu);
        return st_errorf(ST_EINVAL, "tsdb: compaction made no progress at window end %lld", (long long)w1);
    }
    *last_w1 = w1;
    st__atomic_max(&db->min_valid_time, w1);
    pthread_mutex_unlock(&db->app_mu);

    char *dir = NULL;
    int rc = st__head_write_block(h, db->path, w0, w1, &dir);
    if (rc) return st_errwrap(rc, "tsdb: writing block [%lld, %lld)", (long long)w0, (long long)w1);
    if (dir) {
        st_block_t *blk;
        if ((rc = st_block_open(&blk, dir))) {
            free(dir);
            return st_errwrap(rc, "tsdb: opening the new block");
        }
        pthread_mutex_lock(&db->blocks_mu);
        rc = add_block_locked(db, blk);
        pthread_mutex_unlock(&db->blocks_mu);
        char ulid[ST_ULID_TEXT_LEN + 1], range[48];
        st_ulid_format(&st_block_meta(blk)->ulid, ulid);
        snprintf(range, sizeof range, "[%lld, %lld)", (long long)w0, (long long)w1);
        if (!rc) st_log(ST_LOG_INFO, "write block", "block", ulid, "range", range, NULL);
        free(dir);
        if (rc) return rc;
    }
    pthread_mutex_lock(&db->app_mu);
    rc = st__head_gc(h, w1);
    pthread_mutex_unlock(&db->app_mu);
    if (rc) return rc;
    if ((rc = truncate_wal(db, w1))) return st_errwrap(rc, "tsdb: truncating the WAL");
    atomic_fetch_add(&db->compactions, 1);
    return 0;
}

int st_db_compact(st_db_t *db) {
    pthread_mutex_lock(&db->compact_mu);
    int rc;
    int64_t last_w1 = INT64_MIN;
    while ((rc = compact_once(db, &last_w1)) == 0) {
    }
    if (rc < 0) {
        atomic_fetch_add(&db->compaction_failures, 1);
        st_log(ST_LOG_ERROR, "tsdb: compaction failed", "err", st_errdetail(rc), NULL);
    } else {
        rc = ST_OK;
    }
    rescan_blocks(db);
    apply_retention(db);
    pthread_mutex_unlock(&db->compact_mu);
    return rc;
}

/* ---- queries ---- */

typedef struct {
    st_series_set_t *inner;
    dbblock_t **blocks;
    size_t n;
} db_set_t;

static int db_set_next(void *ctx) { return st_series_set_next(((db_set_t *)ctx)->inner); }
static const st_labels_t *db_set_labels(void *ctx) { return st_series_set_labels(((db_set_t *)ctx)->inner); }
static int db_set_sample(void *ctx, int64_t *t, double *v) {
    return st_series_set_sample(((db_set_t *)ctx)->inner, t, v);
}
static int db_set_samples(void *ctx, int64_t *t, double *v, size_t cap) {
    return st_series_set_samples(((db_set_t *)ctx)->inner, t, v, cap);
}

static void db_set_free(void *ctx) {
    db_set_t *s = ctx;
    st_series_set_free(s->inner);
    for (size_t i = 0; i < s->n; i++) st__db_block_release(s->blocks[i]);
    free(s->blocks);
    free(s);
}

static const st_series_set_ops_t db_set_ops = {db_set_next, db_set_labels, db_set_sample, db_set_free,
                                               db_set_samples};

int st_db_select(st_db_t *db, const st_matchers_t *ms, int64_t mint, int64_t maxt, st_series_set_t **out) {
    *out = NULL;
    db_set_t *ds = calloc(1, sizeof *ds);
    if (!ds) return st_errorf(ST_ENOMEM, "tsdb: allocating a query");
    pthread_mutex_lock(&db->blocks_mu);
    ds->blocks = malloc((db->nblocks ? db->nblocks : 1) * sizeof *ds->blocks);
    for (size_t i = 0; ds->blocks && i < db->nblocks; i++) {
        const st_meta_t *m = st_block_meta(db->blocks[i]->b);
        if (m->min_time > maxt || m->max_time <= mint) continue;
        atomic_fetch_add(&db->blocks[i]->refs, 1);
        ds->blocks[ds->n++] = db->blocks[i];
    }
    pthread_mutex_unlock(&db->blocks_mu);
    st_series_set_t **sets = ds->blocks ? calloc(ds->n + 1, sizeof *sets) : NULL;
    if (!sets) {
        db_set_free(ds);
        return st_errorf(ST_ENOMEM, "tsdb: allocating a query");
    }
    int rc = ST_OK;
    size_t nsets = 0;
    for (size_t i = 0; i < ds->n && !rc; i++)
        if (!(rc = st_block_select(&sets[nsets], ds->blocks[i]->b, ms, mint, maxt))) nsets++;
    if (!rc && !(rc = st__head_select(&db->head, ms, mint, maxt, &sets[nsets]))) nsets++;
    if (rc) {
        for (size_t i = 0; i < nsets; i++) st_series_set_free(sets[i]);
        free(sets);
        db_set_free(ds);
        return rc;
    }
    rc = st_series_set_merge(&ds->inner, sets, nsets);
    free(sets);
    if (rc) {
        db_set_free(ds);
        return rc;
    }
    return st_series_set_new(out, &db_set_ops, ds);
}

void st_db_stats(st_db_t *db, st_db_stats_t *out) {
    memset(out, 0, sizeof *out);
    head_t *h = &db->head;
    pthread_rwlock_rdlock(&h->lock);
    out->head_series = h->nseries;
    pthread_rwlock_unlock(&h->lock);
    out->head_chunks = atomic_load(&h->nchunks);
    out->samples_appended_total = atomic_load(&db->samples_appended);
    out->out_of_order_total = atomic_load(&db->out_of_order);
    out->head_min_time = atomic_load(&h->min_time);
    out->head_max_time = atomic_load(&h->max_time);
    out->wal_bytes = st_wal_bytes(db->wal);
    out->compactions_total = atomic_load(&db->compactions);
    out->compaction_failures_total = atomic_load(&db->compaction_failures);
    out->wal_corruptions_total = atomic_load(&db->wal_corruptions);
    out->lowest_timestamp_ms = out->head_min_time;
    pthread_mutex_lock(&db->blocks_mu);
    out->blocks = db->nblocks;
    if (db->nblocks) {
        int64_t bmin = st_block_meta(db->blocks[0]->b)->min_time;
        if (bmin < out->lowest_timestamp_ms) out->lowest_timestamp_ms = bmin;
    }
    pthread_mutex_unlock(&db->blocks_mu);
}
