/* The compactor's HTTP endpoints beside the probes: /metrics (Thanos's
 * names where Thanos has the metric) and /api/v1/plan (the groups, their
 * blocks, the next compaction and the pending downsamples, as of the last
 * sync). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compactor.h"
#include "strata/buf.h"
#include "strata/err.h"
#include "strata/httpserver.h"
#include "strata/textfmt.h"

#define LD(x) ((double)atomic_load(&(x)))

static void per_res(st_encbuf_t *b, const char *name, const char *help, atomic_uint_fast64_t *v) {
    st_put_metric_head(b, name, "counter", help);
    for (int i = 0; i < COMPACTOR_NRES; i++) {
        char l[48];
        snprintf(l, sizeof l, "{resolution=\"%s\"}", compactor_res_names[i]);
        st_put_metric(b, name, NULL, NULL, l, LD(v[i]));
    }
}

static int h_metrics(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    compactor_t *c = ctx;
    compactor_metrics_t *m = &c->m;
    (void)req;
    st_encbuf_t b;
    st_encbuf_init(&b, 1 << 20);
    st_put_metric(&b, "thanos_compact_iterations_total", "counter",
                  "Total number of iterations that were executed successfully.", NULL, LD(m->iterations));
    st_put_metric(&b, "strata_compact_iteration_failures_total", "counter",
                  "Iterations in which some step failed (retried by the next one).", NULL, LD(m->iteration_failures));
    st_put_metric(&b, "thanos_compact_halted", "gauge",
                  "Set to 1 if the compactor halted due to an unexpected error (never: problems set blocks aside).",
                  NULL, 0);
    st_put_metric(&b, "thanos_delete_delay_seconds", "gauge", "Configured delete delay in seconds.", NULL,
                  (double)c->delete_delay_ms / 1000.0);
    per_res(&b, "thanos_compact_group_compactions_total",
            "Total number of group compaction attempts that resulted in a new block.", m->compactions);
    per_res(&b, "thanos_compact_group_vertical_compactions_total",
            "Total number of group compaction attempts that resulted in a new block based on overlapping blocks.",
            m->vertical_compactions);
    per_res(&b, "thanos_compact_group_compactions_failures_total", "Total number of failed group compactions.",
            m->compaction_failures);
    per_res(&b, "thanos_compact_downsample_total", "Total number of downsampling attempts.", m->downsamples);
    per_res(&b, "thanos_compact_downsample_failures_total", "Total number of failed downsampling attempts.",
            m->downsample_failures);
    st_put_metric_head(&b, "thanos_compact_blocks_marked_total", "counter",
                       "Total number of blocks marked in compactor.");
    /* one sample per (marker, reason); the deletion reasons share reason="" */
    double deletions = 0;
    for (int w = 0; w < MARK_NREASONS; w++)
        if (compactor_mark_kind((mark_reason_t)w) == ST_MARK_DELETION) deletions += LD(m->marked[w]);
    st_put_metric(&b, "thanos_compact_blocks_marked_total", NULL, NULL,
                  "{marker=\"" ST_BUCKET_DELETION_MARK "\",reason=\"\"}", deletions);
    for (int w = 0; w < MARK_NREASONS; w++) {
        st_mark_kind_t k = compactor_mark_kind((mark_reason_t)w);
        if (k == ST_MARK_DELETION) continue;
        char l[160];
        snprintf(l, sizeof l, "{marker=\"%s\",reason=\"%s\"}", st_marker_filename(k),
                 compactor_mark_reason((mark_reason_t)w));
        st_put_metric(&b, "thanos_compact_blocks_marked_total", NULL, NULL, l, LD(m->marked[w]));
    }
    st_put_metric(&b, "thanos_compact_garbage_collected_blocks_total", "counter",
                  "Total number of blocks marked for deletion by compactor.", NULL, LD(m->garbage_collected));
    st_put_metric(&b, "thanos_compact_blocks_cleaned_total", "counter", "Total number of blocks deleted in compactor.",
                  NULL, LD(m->blocks_cleaned));
    st_put_metric(&b, "thanos_compact_block_cleanup_failures_total", "counter",
                  "Failures encountered while deleting blocks in compactor.", NULL, LD(m->cleanup_failures));
    st_put_metric(&b, "thanos_compact_aborted_partial_uploads_deletion_attempts_total", "counter",
                  "Total number of started deletions of blocks that are assumed aborted and only partially uploaded.",
                  NULL, LD(m->partial_deletes));
    st_put_metric(&b, "thanos_compact_todo_compactions", "gauge", "number of compactions to be done", NULL,
                  LD(m->todo_compactions));
    st_put_metric(&b, "thanos_compact_todo_compaction_blocks", "gauge", "number of blocks planned to be compacted",
                  NULL, LD(m->todo_compaction_blocks));
    st_put_metric(&b, "thanos_compact_todo_downsample_blocks", "gauge", "number of blocks to be downsampled", NULL,
                  LD(m->todo_downsamples));
    st_put_metric(&b, "strata_compact_bytes_read_total", "counter",
                  "Bytes of blocks downloaded from the bucket to compact or downsample.", NULL, LD(m->bytes_read));
    st_put_metric(&b, "strata_compact_bytes_written_total", "counter",
                  "Bytes of compacted and downsampled blocks uploaded to the bucket.", NULL, LD(m->bytes_written));
    st_put_metric(&b, "strata_compact_blocks", "gauge", "Blocks the last sync kept (complete, unmarked, selected).",
                  NULL, LD(m->blocks));
    st_put_metric(&b, "strata_compact_groups", "gauge", "Groups (block streams) of the last plan.", NULL,
                  LD(m->groups));
    if (b.err) {
        int err = b.err;
        st_encbuf_free(&b);
        return st_errorf(err, "formatting metrics");
    }
    *resp = (st_http_response_t){200, ST_HTTP_CT_METRICS, (char *)b.p, b.len, NULL};
    return ST_OK;
}

static int h_plan(void *ctx, const st_http_request_t *req, st_http_response_t *resp) {
    compactor_t *c = ctx;
    (void)req;
    pthread_mutex_lock(&c->plan_mu);
    char *body = strdup(c->plan_json ? c->plan_json : "{\"groups\":[]}");
    pthread_mutex_unlock(&c->plan_mu);
    if (!body) return st_errorf(ST_ENOMEM, "copying the plan");
    *resp = (st_http_response_t){200, ST_HTTP_CT_JSON, body, strlen(body), NULL};
    return ST_OK;
}

int compactor_http_routes(compactor_t *c, st_http_server_t *s) {
    int rc = st_http_server_route(s, "/metrics", false, h_metrics, c);
    if (!rc) rc = st_http_server_route(s, "/api/v1/plan", false, h_plan, c);
    return rc;
}
