/*
 * `strata compact`: flags and wiring. Threads:
 *   main      runs the iterations (one, or every --wait-interval with --wait);
 *   workers   during the compaction step, up to --compact.concurrency, one
 *             group each at a time; during downsampling, up to
 *             --downsample.concurrency, one block each at a time;
 *   signals   sigwait()s SIGINT/SIGTERM (blocked everywhere else) and sets
 *             the stop flag, checked between steps, groups and uploaded
 *             objects, which also cuts the wait between iterations short;
 *   http      libmicrohttpd's pool serving /metrics, /api/v1/plan,
 *             /-/healthy, /-/ready.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compactor.h"
#include "strata/downsample.h"
#include "strata/err.h"
#include "strata/flags.h"
#include "strata/httpserver.h"
#include "strata/log.h"
#include "strata/runtime.h"

#define DEDUP_PENALTY "penalty"

/* Thanos's checks of the retention flags. */
static int check_retention(const int64_t *ret, bool downsampling) {
    static const char *const names[COMPACTOR_NRES] = {"--retention.resolution-raw", "--retention.resolution-5m",
                                                      "--retention.resolution-1h"};
    for (int i = 0; i < COMPACTOR_NRES; i++)
        if (ret[i] < 0) return st_errorf(ST_EINVAL, "%s must not be negative", names[i]);
    if (downsampling && ret[0] && ret[0] < ST_DOWNSAMPLE_RANGE_5M)
        return st_errorf(ST_EINVAL, "raw resolution must be higher than the minimum block size after which 5m "
                                    "resolution downsampling will occur (40 hours)");
    if (downsampling && ret[1] && ret[1] < ST_DOWNSAMPLE_RANGE_1H)
        return st_errorf(ST_EINVAL, "5m resolution retention must be higher than the minimum block size after which "
                                    "1h resolution downsampling will occur (10 days)");
    return ST_OK;
}

int compact_main(int argc, char **argv) {
    const char *obj_file = NULL, *obj_yaml = NULL, *data_dir = "./data", *http_addr = "0.0.0.0:10902";
    const char *relabel_file = NULL, *relabel_yaml = NULL, *dedup_func = NULL, *log_level = "info";
    bool wait = false, no_downsampling = false, vertical = false;
    int64_t wait_ms = 5 * 60 * 1000, consistency_ms = 30 * 60 * 1000, delete_delay_ms = 48 * 3600 * 1000LL;
    int64_t concurrency = 1, ds_concurrency = 1, retention[COMPACTOR_NRES] = {0, 0, 0};
    st_flag_strings_t replica = {0};
    const st_flag_t flags[] = {
        {"objstore.config-file", ST_FLAG_STRING, &obj_file, "Path to a YAML file with the object store configuration."},
        {"objstore.config", ST_FLAG_STRING, &obj_yaml, "Object store configuration as YAML text (instead of a file)."},
        {"data-dir", ST_FLAG_STRING, &data_dir,
         "Scratch space for blocks being compacted and downsampled (default ./data); emptied at start."},
        {"http-address", ST_FLAG_STRING, &http_addr,
         "Listen host:port for /metrics, /api/v1/plan, /-/healthy, /-/ready (default 0.0.0.0:10902)."},
        {"wait", ST_FLAG_BOOL, &wait, "Keep running: an iteration every --wait-interval. Without it: one iteration."},
        {"wait-interval", ST_FLAG_DURATION, &wait_ms, "Wait between iterations with --wait (default 5m)."},
        {"consistency-delay", ST_FLAG_DURATION, &consistency_ms,
         "Minimum age (by ULID time) of blocks not made by a compactor before they are touched (default 30m)."},
        {"compact.concurrency", ST_FLAG_INT64, &concurrency, "Groups compacted at once (default 1)."},
        {"downsample.concurrency", ST_FLAG_INT64, &ds_concurrency, "Blocks downsampled at once (default 1)."},
        {"delete-delay", ST_FLAG_DURATION, &delete_delay_ms,
         "Time between a block's deletion mark and its deletion, and age after which aborted partial uploads are "
         "deleted (default 48h; 0s deletes at once)."},
        {"deduplication.replica-label", ST_FLAG_STRINGS, &replica,
         "Label telling HA replicas apart (repeatable). Blocks differing only in these labels are one stream: "
         "overlapping ones are merged vertically (irreversibly)."},
        {"deduplication.func", ST_FLAG_STRING, &dedup_func,
         "Merge of overlapping samples: \"penalty\" (HA pairs: one replica, its gaps filled from the others) or \"\" "
         "(1:1, for identical replicas). Default here: penalty when replica labels are given; Thanos's default is "
         "\"\" (one-to-one)."},
        {"compact.enable-vertical-compaction", ST_FLAG_BOOL, &vertical,
         "Merge overlapping raw blocks of a stream even without replica labels (implied by them). Otherwise such "
         "blocks get a no-compact mark."},
        {"retention.resolution-raw", ST_FLAG_DURATION, &retention[0],
         "How long to keep raw samples in the bucket (0d = forever; at least 40h unless downsampling is off)."},
        {"retention.resolution-5m", ST_FLAG_DURATION, &retention[1],
         "How long to keep 5m aggregates (0d = forever; at least 10d unless downsampling is off)."},
        {"retention.resolution-1h", ST_FLAG_DURATION, &retention[2], "How long to keep 1h aggregates (0d = forever)."},
        {"downsampling.disable", ST_FLAG_BOOL, &no_downsampling, "Do not downsample blocks."},
        {"selector.relabel-config-file", ST_FLAG_STRING, &relabel_file,
         "YAML file with relabel rules over each block's external labels (replica labels left out) and "
         "__block_id; only blocks kept are touched (sharding compactors with hashmod)."},
        {"selector.relabel-config", ST_FLAG_STRING, &relabel_yaml, "The same rules as YAML text."},
        {"log.level", ST_FLAG_STRING, &log_level, "Log filtering level: debug, info, warn, error (default info)."},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    int exit_code;
    int rc = st_flags_parse_command(
        flags, nflags, nflags, argc, argv, "strata compact [flags]",
        "Compact, deduplicate, downsample and apply retention to the blocks of an object store bucket (as thanos "
        "compact).",
        &exit_code);
    if (rc == 1) {
        free(replica.v);
        return exit_code;
    }
    st_log_level_t level;
    bool downsampling = !no_downsampling;
    if (!rc && obj_file && obj_yaml)
        rc = st_errorf(ST_EINVAL, "--objstore.config-file and --objstore.config are mutually exclusive");
    if (!rc && !obj_file && !obj_yaml) rc = st_errorf(ST_EINVAL, "no bucket: give --objstore.config-file");
    if (!rc && wait_ms <= 0) rc = st_errorf(ST_EINVAL, "--wait-interval must be positive");
    if (!rc && consistency_ms < 0) rc = st_errorf(ST_EINVAL, "--consistency-delay must not be negative");
    if (!rc && delete_delay_ms < 0) rc = st_errorf(ST_EINVAL, "--delete-delay must not be negative");
    if (!rc && (concurrency <= 0 || concurrency > 1000))
        rc = st_errorf(ST_EINVAL, "--compact.concurrency must be in 1..1000");
    if (!rc && (ds_concurrency <= 0 || ds_concurrency > 1000))
        rc = st_errorf(ST_EINVAL, "--downsample.concurrency must be in 1..1000");
    if (!rc && dedup_func && dedup_func[0] && strcmp(dedup_func, DEDUP_PENALTY) != 0)
        rc = st_errorf(ST_EINVAL, "unsupported deduplication func, got %s (want \"penalty\" or \"\")", dedup_func);
    if (!rc && dedup_func && strcmp(dedup_func, DEDUP_PENALTY) == 0 && !replica.n)
        rc = st_errorf(ST_EINVAL, "penalty based deduplication needs at least one replica label specified");
    for (size_t i = 0; !rc && i < replica.n; i++)
        if (!st_label_name_valid(replica.v[i], strlen(replica.v[i])))
            rc = st_errorf(ST_EINVAL, "--deduplication.replica-label=%s: not a label name", replica.v[i]);
    if (!rc) rc = check_retention(retention, downsampling);
    if (!rc) rc = st_log_parse_level(log_level, &level);
    if (rc) {
        fprintf(stderr, "strata compact: %s\n", st_errdetail(rc));
        free(replica.v);
        return 2;
    }
    st_log_set_level(level);

    st_runtime_t rt;
    if ((rc = st_runtime_init(&rt))) {
        st_log(ST_LOG_ERROR, "starting failed", "err", st_errdetail(rc), NULL);
        free(replica.v);
        return 1;
    }
    exit_code = 1;
    st_objstore_t *bkt = NULL;
    st_http_server_t *http = NULL;
    compactor_t c;
    bool c_ok = false;
    rc = obj_file ? st_objstore_open_file(&bkt, obj_file) : st_objstore_open(&bkt, obj_yaml, strlen(obj_yaml));
    if (rc) {
        st_log(ST_LOG_ERROR, "opening the object store failed", "err", st_errdetail(rc), NULL);
        goto out;
    }
    rc = compactor_init(&c, bkt, data_dir);
    c_ok = true;
    if (!rc) rc = st_promconfig_load_selector_relabel(&c.relabel, relabel_file, relabel_yaml);
    if (rc) {
        st_log(ST_LOG_ERROR, "setting up the compactor failed", "err", st_errdetail(rc), NULL);
        exit_code = 2;
        goto out;
    }
    c.replica_labels = replica.v;
    c.nreplica = replica.n;
    c.penalty_dedup = dedup_func ? strcmp(dedup_func, DEDUP_PENALTY) == 0 : replica.n > 0;
    c.vertical = vertical || replica.n > 0;
    c.consistency_delay_ms = consistency_ms;
    c.delete_delay_ms = delete_delay_ms;
    memcpy(c.retention_ms, retention, sizeof retention);
    c.downsampling = downsampling;
    c.concurrency = (int)concurrency;
    c.ds_concurrency = (int)ds_concurrency;
    c.stop = &rt.stop;
    if ((rc = compactor_clean_local(&c))) {
        st_log(ST_LOG_ERROR, "cleaning --data-dir failed", "err", st_errdetail(rc), NULL);
        goto out;
    }
    if ((rc = st_http_server_new(&http, NULL)) || (rc = compactor_http_routes(&c, http)) ||
        (rc = st_runtime_add_probes(&rt, http)) || (rc = st_http_server_start(http, http_addr))) {
        st_log(ST_LOG_ERROR, "starting the HTTP server failed", "err", st_errdetail(rc), NULL);
        goto out;
    }
    st_log(ST_LOG_INFO, "starting compactor", "bucket", st_objstore_describe(bkt), "data_dir", data_dir, "http",
           http_addr, "wait", wait ? "true" : "false", "dedup", c.penalty_dedup ? "penalty" : "one-to-one",
           "downsampling", downsampling ? "true" : "false", NULL);
    st_runtime_set_ready(&rt, true);
    for (;;) {
        rc = compactor_iterate(&c);
        if (!wait) break;
        if (st_runtime_sleep(&rt, wait_ms)) break;
    }
    exit_code = rc ? 1 : 0;
out:
    if (st_runtime_signalled(&rt)) exit_code = 0;
    st_runtime_stop(&rt);
    st_runtime_set_ready(&rt, false);
    st_http_server_free(http);
    if (c_ok) compactor_destroy(&c);
    st_objstore_close(bkt);
    st_runtime_destroy(&rt);
    free(replica.v);
    st_log(ST_LOG_INFO, "exiting", "code", exit_code ? (exit_code == 2 ? "2" : "1") : "0", NULL);
    return exit_code;
}
