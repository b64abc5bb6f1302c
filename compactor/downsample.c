/* Downsampling (Thanos's downsampleBucket): raw blocks spanning at least
 * 40h whose sources are not all inside some 5m block get a 5m version,
 * 5m blocks spanning at least 10d likewise a 1h version; blocks with a
 * no-downsample mark are left alone. Sources stay: each resolution is kept
 * for its own retention. Two passes, as Thanos, so 5m blocks made by the
 * first can be downsampled to 1h by the second. A block that cannot be
 * downsampled (does not decode, or holds what the downsampler does not
 * handle) gets a no-downsample mark instead of failing every iteration.
 * Up to --downsample.concurrency blocks of a pass at once, each in its
 * own directory under <data-dir>/downsample. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "compactor.h"
#include "strata/block.h"
#include "strata/downsample.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/log.h"

/* Downsample b under dir; *made5m when a 5m block went up. */
static int downsample_one(compactor_t *c, const st_bucket_block_t *b, const char *dir, atomic_bool *made5m) {
    int64_t target = b->thanos.resolution == ST_RES_RAW ? ST_RES_5M : ST_RES_1H;
    int ri = compactor_res_index(b->thanos.resolution);
    char id[ST_ULID_TEXT_LEN + 1], tres[24];
    st_ulid_format(&b->id, id);
    snprintf(tres, sizeof tres, "%" PRId64, target);
    char *bdir = NULL, *out_dir = NULL;
    st_block_t *src = NULL;
    st_meta_t nm = {0};
    int64_t t0 = compactor_now_ms();
    bool counted = false;
    st_log(ST_LOG_INFO, "downsampling block", "block", id, "to_resolution", tres, NULL);
    int rc = st_rm_rf(dir);
    if (!rc) rc = st_mkdir_p(dir, 0755);
    if (!rc) rc = st_bucket_download_block(c->bkt, &b->id, dir, &bdir);
    if (!rc) rc = st_block_open(&src, bdir);
    if (!rc) {
        atomic_fetch_add(&c->m.bytes_read, st_block_size(src));
        st_downsample_stats_t stats = {0};
        rc = st_downsample_block(src, b->thanos.resolution, target, dir, &out_dir, &stats);
    }
    st_block_close(src);
    if (rc == ST_ECORRUPT || rc == ST_EUNSUPPORTED) {
        char detail[1024];
        snprintf(detail, sizeof detail, "%s", st_errdetail(rc));
        atomic_fetch_add(&c->m.downsample_failures[ri], 1);
        counted = true;
        st_log(ST_LOG_ERROR, "downsampling impossible; setting the block aside with a no-downsample mark", "block", id,
               "err", detail, NULL);
        rc = compactor_mark(c, &b->id,
                            rc == ST_ECORRUPT ? MARK_NO_DOWNSAMPLE_CORRUPT : MARK_NO_DOWNSAMPLE_UNSUPPORTED, detail);
        goto out;
    }
    if (rc) goto out;
    uint64_t bytes = compactor_dir_bytes(out_dir);
    /* the new block's own thanos section: the source's labels, the new
     * resolution, source "compactor" */
    if ((rc = st_bucket_upload_block(c->bkt, out_dir, NULL, c->stop, &nm))) goto out;
    compactor_crash_point("downsample");
    atomic_fetch_add(&c->m.downsamples[ri], 1);
    atomic_fetch_add(&c->m.bytes_written, bytes);
    if (target == ST_RES_5M) atomic_store(made5m, true);
    char nid[ST_ULID_TEXT_LEN + 1], bs[24], dur[24];
    st_ulid_format(&nm.ulid, nid);
    snprintf(bs, sizeof bs, "%" PRIu64, bytes);
    snprintf(dur, sizeof dur, "%.3fs", (double)(compactor_now_ms() - t0) / 1000.0);
    st_log(ST_LOG_INFO, "uploaded downsampled block", "from", id, "block", nid, "resolution", tres, "bytes", bs,
           "duration", dur, NULL);
out:
    if (rc && !counted && !compactor_stopping(c)) {
        atomic_fetch_add(&c->m.downsample_failures[ri], 1);
        st_log(ST_LOG_ERROR, "downsampling failed; retried next iteration", "block", id, "err", st_errdetail(rc),
               NULL);
    }
    st_meta_free(&nm);
    free(bdir);
    free(out_dir);
    st_rm_rf(dir);
    return rc;
}

typedef struct {
    compactor_t *c;
    const compactor_view_t *v;
    const size_t *todo;
    const char *root;
    atomic_bool made5m;
    char (*ids)[ST_ULID_TEXT_LEN + 1];
} pass_t;

static int pass_job(void *ctx, size_t i) {
    pass_t *p = ctx;
    char *dir = st_path_join(p->root, p->ids[i]);
    if (!dir) return st_errorf(ST_ENOMEM, "downsample dir");
    int rc = downsample_one(p->c, &p->v->v[p->todo[i]], dir, &p->made5m);
    free(dir);
    return rc;
}

static const char *pass_name(void *ctx, size_t i) { return ((pass_t *)ctx)->ids[i]; }

int compactor_downsample(compactor_t *c) {
    char *dir = st_path_join(c->data_dir, "downsample");
    if (!dir) return st_errorf(ST_ENOMEM, "downsample dir");
    st_rm_rf(dir); /* what a killed run left */
    int first = ST_OK;
    char first_detail[512] = "";
    for (int pass = 0; pass < 2 && !compactor_stopping(c); pass++) {
        compactor_view_t v;
        int rc = compactor_sync(c, false, &v);
        if (rc) {
            first = rc;
            snprintf(first_detail, sizeof first_detail, "%s", st_errdetail(rc));
            break;
        }
        size_t *todo = NULL, n = 0;
        if ((rc = compactor_downsample_todo(&v, &todo, &n))) {
            compactor_view_free(&v);
            first = rc;
            snprintf(first_detail, sizeof first_detail, "%s", st_errdetail(rc));
            break;
        }
        char nb[24];
        snprintf(nb, sizeof nb, "%zu", n);
        st_log(ST_LOG_INFO, pass ? "second pass of downsampling" : "first pass of downsampling", "blocks", nb, NULL);
        pass_t p = {.c = c, .v = &v, .todo = todo, .root = dir, .ids = calloc(n ? n : 1, sizeof *p.ids)};
        atomic_init(&p.made5m, false);
        if (!p.ids) {
            rc = st_errorf(ST_ENOMEM, "downsample: %zu blocks", n);
        } else {
            for (size_t i = 0; i < n; i++) st_ulid_format(&v.v[todo[i]].id, p.ids[i]);
            rc = compactor_run_jobs(c, n, c->ds_concurrency, "block", pass_job, pass_name, &p);
        }
        if (rc && !first && !compactor_stopping(c)) {
            first = rc;
            snprintf(first_detail, sizeof first_detail, "%s", st_errdetail(rc));
        }
        free(p.ids);
        free(todo);
        compactor_view_free(&v);
        if (!atomic_load(&p.made5m)) break;
    }
    free(dir);
    if (first) return st_errorf(first, "%s", first_detail);
    return ST_OK;
}
