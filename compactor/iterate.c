/* The compactor's state and one iteration of its work (order as Thanos's
 * compactMainFn: compaction, downsampling, retention, then the cleaner). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compactor.h"
#include "strata/downsample.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/log.h"

const char *const compactor_res_names[COMPACTOR_NRES] = {"0", "300000", "3600000"};

int compactor_res_index(int64_t resolution) {
    if (resolution == ST_RES_RAW) return 0;
    if (resolution == ST_RES_5M) return 1;
    if (resolution == ST_RES_1H) return 2;
    return -1;
}

int64_t compactor_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool compactor_stopping(const compactor_t *c) { return c->stop && atomic_load(c->stop); }

static const struct {
    st_mark_kind_t kind;
    const char *reason;
} reasons[MARK_NREASONS] = {
    [MARK_DELETION_COMPACTED] = {ST_MARK_DELETION, NULL},
    [MARK_DELETION_REDUNDANT] = {ST_MARK_DELETION, NULL},
    [MARK_DELETION_RETENTION] = {ST_MARK_DELETION, NULL},
    [MARK_NO_COMPACT_DOWNSAMPLED_OVERLAP] = {ST_MARK_NO_COMPACT, "downsample-vertical-compaction"},
    [MARK_NO_COMPACT_OVERLAP] = {ST_MARK_NO_COMPACT, "overlapping-blocks"},
    [MARK_NO_COMPACT_CORRUPT] = {ST_MARK_NO_COMPACT, "corrupt-block"},
    [MARK_NO_COMPACT_UNSUPPORTED] = {ST_MARK_NO_COMPACT, "unsupported-block"},
    [MARK_NO_DOWNSAMPLE_CORRUPT] = {ST_MARK_NO_DOWNSAMPLE, "corrupt-block"},
    [MARK_NO_DOWNSAMPLE_UNSUPPORTED] = {ST_MARK_NO_DOWNSAMPLE, "unsupported-block"},
};

st_mark_kind_t compactor_mark_kind(mark_reason_t why) { return reasons[why].kind; }
const char *compactor_mark_reason(mark_reason_t why) { return reasons[why].reason ? reasons[why].reason : ""; }

int compactor_mark(compactor_t *c, const st_ulid_t *id, mark_reason_t why, const char *details) {
    st_marker_t m = {.id = *id,
                     .time_s = compactor_now_ms() / 1000,
                     .details = (char *)details,
                     .reason = (char *)reasons[why].reason};
    int rc = st_bucket_write_marker(c->bkt, reasons[why].kind, &m);
    if (rc) {
        char u[ST_ULID_TEXT_LEN + 1];
        st_ulid_format(id, u);
        return st_errwrap(rc, "writing %s of block %s", st_marker_filename(reasons[why].kind), u);
    }
    atomic_fetch_add(&c->m.marked[why], 1);
    return ST_OK;
}

int compactor_init(compactor_t *c, st_objstore_t *bkt, const char *data_dir) {
    memset(c, 0, sizeof *c);
    c->bkt = bkt;
    c->concurrency = 1;
    c->ds_concurrency = 1;
    pthread_mutex_init(&c->plan_mu, NULL);
    if (!(c->data_dir = strdup(data_dir))) return st_errorf(ST_ENOMEM, "allocating the compactor");
    int rc = st_mkdir_p(data_dir, 0755);
    return rc ? st_errwrap(rc, "--data-dir") : ST_OK;
}

void compactor_destroy(compactor_t *c) {
    st_relabel_list_free(&c->relabel);
    free(c->data_dir);
    free(c->plan_json);
    pthread_mutex_destroy(&c->plan_mu);
    memset(c, 0, sizeof *c);
}

int compactor_clean_local(compactor_t *c) {
    static const char *const dirs[] = {"compact", "downsample"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char *p = st_path_join(c->data_dir, dirs[i]);
        if (!p) return st_errorf(ST_ENOMEM, "path");
        int rc = st_rm_rf(p);
        free(p);
        if (rc) return st_errwrap(rc, "removing what an earlier run left in --data-dir");
    }
    return ST_OK;
}

/* Totals the iteration summary reports. */
typedef struct {
    uint64_t compactions, downsamples, marked, deleted, read, written;
} totals_t;

static totals_t totals(compactor_t *c) {
    totals_t t = {0};
    for (int i = 0; i < COMPACTOR_NRES; i++) {
        t.compactions += atomic_load(&c->m.compactions[i]);
        t.downsamples += atomic_load(&c->m.downsamples[i]);
    }
    for (int w = 0; w < MARK_NREASONS; w++) t.marked += atomic_load(&c->m.marked[w]);
    t.deleted = atomic_load(&c->m.blocks_cleaned);
    t.read = atomic_load(&c->m.bytes_read);
    t.written = atomic_load(&c->m.bytes_written);
    return t;
}

/* Keep the first error and its detail. */
static void keep_first(int rc, int *first, char *detail, size_t cap, const char *step) {
    if (!rc || *first) return;
    *first = rc;
    snprintf(detail, cap, "%s: %s", step, st_errdetail(rc));
}

int compactor_iterate(compactor_t *c) {
    int first = ST_OK;
    char detail[768] = "";
    int64_t t0 = compactor_now_ms();
    totals_t before = totals(c);
    int rc = compactor_clean_local(c);
    keep_first(rc, &first, detail, sizeof detail, "local cleanup");

    /* 1-3: sync, redundant blocks, compaction */
    compactor_view_t v;
    if ((rc = compactor_sync(c, true, &v))) {
        keep_first(rc, &first, detail, sizeof detail, "sync");
        goto out;
    }
    keep_first(v.err, &first, detail, sizeof detail, "marking redundant blocks");
    compactor_group_t *g = NULL;
    size_t ng = 0;
    rc = compactor_groups_build(c, &v, &g, &ng);
    if (!rc) {
        compactor_publish_plan(c, &v, g, ng);
        if (!compactor_stopping(c)) rc = compactor_compact_groups(c, g, ng);
        keep_first(rc, &first, detail, sizeof detail, "compaction");
    } else {
        keep_first(rc, &first, detail, sizeof detail, "grouping");
    }
    compactor_groups_free(g, ng);
    compactor_view_free(&v);

    /* 4: downsampling */
    if (c->downsampling && !compactor_stopping(c))
        keep_first(compactor_downsample(c), &first, detail, sizeof detail, "downsampling");

    /* 5-6: retention and cleanup, over a fresh listing; the plan published
     * from it is what is left for the next iteration */
    if (!compactor_stopping(c)) {
        if ((rc = compactor_sync(c, false, &v))) {
            keep_first(rc, &first, detail, sizeof detail, "sync");
            goto out;
        }
        keep_first(compactor_retention_and_cleanup(c, &v), &first, detail, sizeof detail, "retention and cleanup");
        if (!compactor_stopping(c) && !compactor_groups_build(c, &v, &g, &ng)) {
            compactor_publish_plan(c, &v, g, ng);
            compactor_groups_free(g, ng);
        }
        compactor_view_free(&v);
    }
out:
    if (compactor_stopping(c)) return ST_OK;
    totals_t after = totals(c);
    char dur[32], comp[24], down[24], mk[24], del[24], rd[24], wr[24];
    snprintf(dur, sizeof dur, "%.3fs", (double)(compactor_now_ms() - t0) / 1000.0);
    snprintf(comp, sizeof comp, "%" PRIu64, after.compactions - before.compactions);
    snprintf(down, sizeof down, "%" PRIu64, after.downsamples - before.downsamples);
    snprintf(mk, sizeof mk, "%" PRIu64, after.marked - before.marked);
    snprintf(del, sizeof del, "%" PRIu64, after.deleted - before.deleted);
    snprintf(rd, sizeof rd, "%" PRIu64, after.read - before.read);
    snprintf(wr, sizeof wr, "%" PRIu64, after.written - before.written);
    if (first) {
        atomic_fetch_add(&c->m.iteration_failures, 1);
        st_log(ST_LOG_ERROR, "iteration failed", "duration", dur, "compactions", comp, "downsamples", down,
               "blocks_marked", mk, "blocks_deleted", del, "bytes_read", rd, "bytes_written", wr, "err", detail, NULL);
        return st_errorf(first, "%s", detail);
    }
    atomic_fetch_add(&c->m.iterations, 1);
    st_log(ST_LOG_INFO, "iteration done", "duration", dur, "compactions", comp, "downsamples", down, "blocks_marked",
           mk, "blocks_deleted", del, "bytes_read", rd, "bytes_written", wr, NULL);
    return ST_OK;
}
