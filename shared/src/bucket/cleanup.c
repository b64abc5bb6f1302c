/*
 * Removing what a bucket no longer needs (bucket.h): blocks whose deletion
 * mark is older than the delay, and partial uploads (no meta.json) whose
 * newest object is. Shared by `strata tools bucket cleanup` and the
 * compactor, as Thanos's blocks cleaner and aborted-upload cleaner.
 */
#include <stdio.h>

#include "strata/bucket.h"
#include "strata/err.h"

static void report(void (*fn)(void *, const st_cleanup_event_t *), void *ctx, const st_bucket_block_t *b,
                   const char *what, int64_t age, st_cleanup_action_t action, const char *err) {
    if (!fn) return;
    st_cleanup_event_t ev = {b, what, age, action, err};
    fn(ctx, &ev);
}

int st_bucket_cleanup(st_objstore_t *s, const st_bucket_block_t *v, size_t n, int64_t delay_ms, int64_t now_ms,
                      bool dry_run, const atomic_bool *stop, void (*fn)(void *ctx, const st_cleanup_event_t *ev),
                      void *ctx, st_cleanup_stats_t *stats) {
    st_cleanup_stats_t st = {0};
    for (size_t i = 0; i < n && !(stop && atomic_load(stop)); i++) {
        const st_bucket_block_t *b = &v[i];
        const char *what;
        int64_t since;
        /* a deletion-marked block that lost meta.json is a deletion cut
         * short: it goes by its mark, like Thanos's cleaner */
        if (b->deletion_marked) {
            what = "block marked for deletion";
            since = b->deletion_time_s * 1000;
        } else if (b->partial) {
            what = "partial upload";
            int rc = st_bucket_block_last_modified(s, &b->id, &since);
            if (rc) {
                char err[512];
                snprintf(err, sizeof err, "reading modification times: %s", st_errdetail(rc));
                st.failed++;
                report(fn, ctx, b, what, 0, ST_CLEANUP_FAILED, err);
                continue;
            }
            /* a backend without modification times: the ULID's time is
             * when the block was made, never later than its upload */
            if (!since) since = (int64_t)st_ulid_time(&b->id);
        } else {
            continue;
        }
        int64_t age = now_ms - since;
        if (age < delay_ms) {
            st.kept++;
            report(fn, ctx, b, what, age, ST_CLEANUP_KEPT, NULL);
            continue;
        }
        if (dry_run) {
            report(fn, ctx, b, what, age, ST_CLEANUP_WOULD_DELETE, NULL);
            continue;
        }
        int rc = st_bucket_delete_block(s, &b->id);
        if (rc) {
            char err[512];
            snprintf(err, sizeof err, "deleting: %s", st_errdetail(rc));
            st.failed++;
            report(fn, ctx, b, what, age, ST_CLEANUP_FAILED, err);
            continue;
        }
        st.deleted++;
        report(fn, ctx, b, what, age, ST_CLEANUP_DELETED, NULL);
    }
    if (stats) *stats = st;
    return ST_OK;
}
