/* The block set: every --sync-block-duration the bucket is listed, the
 * blocks to serve are chosen (Thanos's meta filters: complete, not marked
 * for deletion, a resolution Thanos knows (raw, 5m, 1h), inside
 * --min-time/--max-time, kept by --selector.relabel-config), new ones are
 * loaded in parallel (--block-sync-concurrency) and gone ones unloaded. A
 * block that fails to load is logged and counted and tried again at the
 * next sync; the others are served regardless. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "strata/downsample.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/log.h"
#include "strata/relabel.h"


static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int store_init(store_t *st, st_objstore_t *bkt, const char *data_dir, uint64_t cache_bytes) {
    memset(st, 0, sizeof *st);
    st->bkt = bkt;
    st->sync_concurrency = 1;
    st->series_estimate = (uint64_t)64 << 10; /* Thanos's maxSeriesSize */
    st->chunk_estimate = 16000;               /* Thanos's EstimatedMaxChunkSize */
    st->max_time.ms = INT64_MAX;
    st->min_time.ms = INT64_MIN;
    pthread_mutex_init(&st->mu, NULL);
    int rc = st_mkdir_p(data_dir, 0755);
    if (rc) return st_errwrap(rc, "--data-dir");
    if (!(st->data_dir = strdup(data_dir))) return st_errorf(ST_ENOMEM, "allocating the store");
    return st_cache_new(&st->cache, cache_bytes);
}

void store_destroy(store_t *st) {
    for (size_t i = 0; i < st->nblocks; i++) store_block_unref(st->blocks[i]);
    free(st->blocks);
    st_cache_free(st->cache);
    st_relabel_list_free(&st->relabel);
    free(st->data_dir);
    pthread_mutex_destroy(&st->mu);
    memset(st, 0, sizeof *st);
}

int store_snapshot(store_t *st, store_block_t ***out, size_t *n) {
    pthread_mutex_lock(&st->mu);
    size_t nb = st->nblocks;
    store_block_t **v = malloc((nb ? nb : 1) * sizeof *v);
    if (v)
        for (size_t i = 0; i < nb; i++) {
            v[i] = st->blocks[i];
            store_block_ref(v[i]);
        }
    pthread_mutex_unlock(&st->mu);
    if (!v) return st_errorf(ST_ENOMEM, "allocating a block list");
    *out = v;
    *n = nb;
    return ST_OK;
}

bool store_block_wanted(store_t *st, const st_bucket_block_t *b, int64_t now) {
    int64_t lo = store_time_resolve(&st->min_time, now), hi = store_time_resolve(&st->max_time, now);
    if (b->meta.max_time < lo || b->meta.min_time > hi) return false;
    bool keep = true;
    /* out of memory: serving an extra block is the safe side */
    (void)st_bucket_block_selected(st->relabel.compiled, b, NULL, 0, &keep);
    return keep;
}

/* ---- parallel loading ---- */

typedef struct {
    store_t *st;
    const st_bucket_block_t *const *todo;
    store_block_t **loaded; /* parallel to todo; NULL = failed */
    size_t n;
    atomic_size_t next;
} loader_t;

static void *load_worker(void *arg) {
    loader_t *l = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&l->next, 1);
        if (i >= l->n || (l->st->stop && atomic_load(l->st->stop))) break;
        const st_bucket_block_t *b = l->todo[i];
        char id[ST_ULID_TEXT_LEN + 1];
        st_ulid_format(&b->id, id);
        uint64_t t0 = mono_us();
        int rc = store_block_load(l->st, b, &l->loaded[i]);
        if (rc) {
            atomic_fetch_add(&l->st->m.block_load_failures, 1);
            st_log(ST_LOG_ERROR, "loading block failed; not serving it (retried next sync)", "block", id, "err",
                   st_errdetail(rc), NULL);
            l->loaded[i] = NULL;
            continue;
        }
        atomic_fetch_add(&l->st->m.block_loads, 1);
        char ms[32];
        snprintf(ms, sizeof ms, "%.1fms", (double)(mono_us() - t0) / 1000.0);
        st_log(ST_LOG_INFO, "loaded block", "block", id, "duration", ms, NULL);
    }
    return NULL;
}

static int load_all(store_t *st, const st_bucket_block_t *const *todo, size_t n, store_block_t **loaded) {
    loader_t l = {.st = st, .todo = todo, .loaded = loaded, .n = n};
    atomic_init(&l.next, 0);
    size_t nth = (size_t)(st->sync_concurrency > 0 ? st->sync_concurrency : 1);
    if (nth > n) nth = n;
    pthread_t *th = calloc(nth ? nth : 1, sizeof *th);
    if (!th) return st_errorf(ST_ENOMEM, "allocating loader threads");
    size_t started = 0;
    for (; started < nth; started++)
        if (pthread_create(&th[started], NULL, load_worker, &l) != 0) break;
    if (!started) load_worker(&l);
    for (size_t i = 0; i < started; i++) pthread_join(th[i], NULL);
    free(th);
    return ST_OK;
}

static int block_cmp(const void *x, const void *y) {
    return st_ulid_cmp(&(*(store_block_t *const *)x)->id, &(*(store_block_t *const *)y)->id);
}

/* Index of a listed block in the (ULID-sorted) listing, or n. */
static size_t find_listed(const st_bucket_block_t *v, size_t n, const st_ulid_t *id) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = st_ulid_cmp(&v[mid].id, id);
        if (c == 0) return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return n;
}

/* Remove <data-dir>/<ULID> directories of blocks not in the set (unloaded
 * earlier, or left by a previous run). */
static void remove_stray_dirs(store_t *st, store_block_t *const *set, size_t n) {
    DIR *d = opendir(st->data_dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        st_ulid_t id;
        if (strlen(e->d_name) != ST_ULID_TEXT_LEN || st_ulid_parse(&id, e->d_name) != ST_OK) continue;
        bool used = false;
        for (size_t i = 0; i < n && !used; i++) used = st_ulid_cmp(&set[i]->id, &id) == 0;
        if (used) continue;
        char *path = st_path_join(st->data_dir, e->d_name);
        if (path && st_rm_rf(path) == ST_OK)
            st_log(ST_LOG_DEBUG, "removed unused index-header", "block", e->d_name, NULL);
        free(path);
    }
    closedir(d);
}

static bool listed_wanted(store_t *st, const st_bucket_block_t *b, int64_t now) {
    char id[ST_ULID_TEXT_LEN + 1];
    st_ulid_format(&b->id, id);
    if (b->partial) return false;
    if (b->meta_rc) {
        st_log(ST_LOG_WARN, "skipping block with unreadable meta.json", "block", id, "err", b->meta_err, NULL);
        return false;
    }
    if (b->deletion_marked && now - b->deletion_time_s * 1000 >= st->deletion_delay_ms) return false;
    if (b->thanos.resolution != ST_RES_RAW && b->thanos.resolution != ST_RES_5M && b->thanos.resolution != ST_RES_1H) {
        char res[32];
        snprintf(res, sizeof res, "%lld", (long long)b->thanos.resolution);
        st_log(ST_LOG_WARN, "skipping block of unsupported downsampling resolution", "block", id, "resolution", res,
               NULL);
        return false;
    }
    return store_block_wanted(st, b, now);
}

int store_sync(store_t *st) {
    uint64_t t0 = mono_us();
    st_bucket_block_t *v = NULL;
    size_t n = 0;
    bool *want = NULL;
    const st_bucket_block_t **todo = NULL;
    store_block_t **loaded = NULL, **cur = NULL, **next = NULL, **gone = NULL;
    size_t ncur = 0, ntodo = 0, nnext = 0, ngone = 0;
    /* a failed listing is a failed sync attempt: both counters move */
    int rc = st_bucket_list(st->bkt, ST_BUCKET_LIST_MARKERS, &v, &n);
    if (rc) {
        st_errwrap(rc, "listing the bucket");
        goto out;
    }
    int64_t now = now_ms();
    want = calloc(n ? n : 1, sizeof *want);
    todo = malloc((n ? n : 1) * sizeof *todo);
    loaded = calloc(n ? n : 1, sizeof *loaded);
    if (!want || !todo || !loaded) {
        rc = st_errorf(ST_ENOMEM, "allocating sync state for %zu blocks", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) want[i] = listed_wanted(st, &v[i], now);
    if ((rc = store_snapshot(st, &cur, &ncur))) goto out;
    for (size_t i = 0; i < n; i++) {
        if (!want[i]) continue;
        bool have = false;
        for (size_t k = 0; k < ncur && !have; k++) have = st_ulid_cmp(&cur[k]->id, &v[i].id) == 0;
        if (!have) todo[ntodo++] = &v[i];
    }
    if ((rc = load_all(st, todo, ntodo, loaded))) goto out;
    if (!(next = malloc((ncur + ntodo + 1) * sizeof *next)) || !(gone = malloc((ncur + 1) * sizeof *gone))) {
        rc = st_errorf(ST_ENOMEM, "allocating the block set");
        for (size_t i = 0; i < ntodo; i++) store_block_unref(loaded[i]);
        goto out;
    }
    for (size_t k = 0; k < ncur; k++) {
        size_t i = find_listed(v, n, &cur[k]->id);
        if (i < n && want[i]) {
            next[nnext++] = cur[k];
            store_block_ref(cur[k]);
        } else {
            gone[ngone++] = cur[k];
        }
    }
    for (size_t i = 0; i < ntodo; i++)
        if (loaded[i]) next[nnext++] = loaded[i];
    qsort(next, nnext, sizeof *next, block_cmp);

    pthread_mutex_lock(&st->mu);
    store_block_t **old = st->blocks;
    size_t nold = st->nblocks;
    st->blocks = next;
    st->nblocks = nnext;
    pthread_mutex_unlock(&st->mu);
    for (size_t i = 0; i < nold; i++) store_block_unref(old[i]);
    free(old);
    next = NULL;

    for (size_t i = 0; i < ngone; i++) {
        atomic_fetch_add(&st->m.block_drops, 1);
        st_log(ST_LOG_INFO, "dropped block", "block", gone[i]->ulid, NULL);
    }
    /* The set's references are gone; queries may still hold theirs (the
     * mapping outlives the unlinked file). */
    pthread_mutex_lock(&st->mu);
    remove_stray_dirs(st, st->blocks, st->nblocks);
    pthread_mutex_unlock(&st->mu);
out:
    for (size_t i = 0; i < ncur; i++) store_block_unref(cur[i]);
    free(cur);
    free(next);
    free(gone);
    free(loaded);
    free(todo);
    free(want);
    st_bucket_blocks_free(v, n);
    atomic_fetch_add(&st->m.syncs, 1);
    atomic_fetch_add(&st->m.sync_duration_us_sum, mono_us() - t0);
    if (rc) atomic_fetch_add(&st->m.sync_failures, 1);
    return rc;
}
