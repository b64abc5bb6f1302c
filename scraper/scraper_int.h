/*
 * scraper_int.h — the pieces of `strata scraper` and how they meet.
 *
 *   main.c       flags, startup/shutdown, reload (SIGHUP, POST /-/reload),
 *                the compaction timer thread
 *   discovery.c  static / file / http service discovery on its own thread;
 *                target labels (Prometheus's populateLabels); publishes
 *                complete target sets to the scrape loop
 *   scrape.c     the scrape event loop: one thread, libcurl multi,
 *                per-target schedule at a fixed offset inside the interval
 *   ingest.c     what happens to a fetched body: parse -> label merge ->
 *                metric relabel -> limits and cardinality guard -> appender
 *                -> commit; staleness markers; the report series
 *   cache.c      the per-target series cache and the cardinality guard
 *   api.c        HTTP endpoints
 *
 * Ownership: a config_t is refcounted and immutable; every target keeps a
 * reference to the config its scrape config lives in. A target_set_t goes
 * from discovery to the loop, which owns it from then on. scrape targets
 * belong to the loop thread; the fields the API reads are guarded by the
 * loop's mutex.
 */
#ifndef STRATA_SCRAPER_INT_H
#define STRATA_SCRAPER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/version.h"
#include "strata/buf.h"
#include "strata/labels.h"
#include "strata/promconfig.h"
#include "strata/promql_engine.h"
#include "strata/tsdb.h"

#define REASSIGNED_VALUE "reassigned_high_cardinality"

/* ---- config ---- */

typedef struct {
    atomic_int refs;
    st_promconfig_t *cfg;
    char *yaml; /* st_promconfig_write_yaml output, NUL-terminated */
} config_t;

int config_load(config_t **out, const char *path);
int config_from_text(config_t **out, const char *text, size_t len, const char *name);
config_t *config_ref(config_t *c);
void config_unref(config_t *c); /* NULL ok */

/* ---- targets (discovery.c) ---- */

typedef struct {
    const st_scrape_config_t *sc; /* borrowed from the set's config */
    st_labels_t labels;           /* after relabeling, "__meta_" removed; "__" labels still in */
    st_labels_t target_labels;    /* labels without the "__" ones: what samples get */
    st_labels_t discovered;       /* before relabeling */
    char *url;
    int64_t interval_ms, timeout_ms;
    uint64_t key; /* identity within the loop: job, url, labels but __scrape_interval__/__scrape_timeout__ */
} target_spec_t;

void target_spec_clear(target_spec_t *t);

typedef struct {
    const st_scrape_config_t *sc;
    st_labels_t discovered;
} dropped_target_t;

typedef struct {
    config_t *cfg; /* reference */
    target_spec_t *active;
    size_t n_active;
    dropped_target_t *dropped;
    size_t n_dropped;
} target_set_t;

void target_set_free(target_set_t *s); /* NULL ok */

/* Prometheus's populateLabels for one target of a group: scrape-config
 * defaults (job, __scheme__, __metrics_path__, __scrape_interval__,
 * __scrape_timeout__, __param_*), relabel_configs, port defaulting,
 * __meta_ removal, instance default. *keep false when relabeling dropped
 * it (out->discovered is set either way). ST_EINVAL for a target with no
 * address or bad interval/timeout labels. */
int target_populate(const st_scrape_config_t *sc, const st_labels_t *group_labels, const char *address,
                    const st_label_t *meta, size_t n_meta, target_spec_t *out, bool *keep);

typedef struct discovery discovery_t;
typedef void (*publish_fn)(void *ctx, target_set_t *set); /* takes ownership of set */

int discovery_start(discovery_t **out, publish_fn fn, void *ctx);
/* New config (takes a reference): SD is rebuilt and a new set published. */
void discovery_set_config(discovery_t *d, config_t *cfg);
void discovery_stop(discovery_t *d); /* NULL ok */

/* ---- series cache and cardinality guard (cache.c) ---- */

#define CACHE_DROPPED 1u  /* metric relabeling dropped it */
#define CACHE_NOSTALE 2u  /* had an explicit timestamp: not tracked for staleness */

/* One raw series as exposed: 128-bit hash of its label pairs in input
 * order (collision odds ~2^-100 even at millions of series, so the text is
 * not kept), the storage ref, the last scrape iteration it was seen in. */
typedef struct {
    uint64_t h1, h2;
    uint64_t ref;
    uint32_t iter;
    uint32_t flags;
} cache_entry_t;

typedef struct {
    cache_entry_t *v; /* dense, first-seen order */
    size_t n, cap;
    uint32_t *idx; /* open addressing: entry number + 1, 0 = free */
    size_t icap;
} series_cache_t;

/* Lookup; hint (may be NULL) is the entry number to try first, and on a hit
 * becomes the number after the found one. */
cache_entry_t *cache_find(series_cache_t *c, uint64_t h1, uint64_t h2, size_t *hint);
/* Append a new entry (must be absent). May reallocate: earlier pointers die. */
int cache_insert(series_cache_t *c, uint64_t h1, uint64_t h2, cache_entry_t **out);
/* Remove entries for which drop(e) is true (drop may also update e). */
void cache_sweep(series_cache_t *c, bool (*drop)(const cache_entry_t *e, void *arg), void *arg);
void cache_free(series_cache_t *c);

typedef struct {
    char *name;
    uint64_t *vals; /* set of value hashes, open addressing, 0 = free */
    size_t cap, n;
    uint64_t reassigned;
} guard_name_t;

typedef struct {
    guard_name_t *v;
    size_t n, cap;
    uint64_t limit; /* 0 = off */
} guard_t;

/* Admit value for name: *ok true when it is known or there is room; false
 * when it must be replaced (then the name's counter is incremented if
 * count). */
int guard_admit(guard_t *g, const char *name, size_t nlen, const char *val, size_t vlen, bool count, bool *ok);
void guard_free(guard_t *g);

/* ---- scrape targets and ingestion (ingest.c) ---- */

typedef enum { TS_UNKNOWN = 0, TS_UP, TS_DOWN, TS_TIMEOUT, TS_PARSE_ERROR, TS_OVERLIMIT } target_state_t;
const char *target_state_name(target_state_t s); /* "UP", ... */

typedef struct scrape_target {
    target_spec_t spec;
    config_t *cfg;          /* reference keeping spec.sc alive */
    /* schedule (loop thread) */
    int64_t offset_ms, next_ms, scrape_ts;
    size_t heap_idx;
    void *easy;             /* CURL *, reused across scrapes */
    void *headers;          /* struct curl_slist * */
    bool in_flight;
    int64_t started_mono_ns;
    char curl_err[256]; /* CURLOPT_ERRORBUFFER (CURL_ERROR_SIZE) */
    st_encbuf_t body;
    size_t last_body_len; /* to size the buffer once per scrape */
    bool body_over;
    /* ingestion state (loop thread) */
    series_cache_t cache;
    guard_t guard;
    uint32_t iter, prev_ok_iter;
    uint64_t report_refs[5];
    /* read by the API under the loop mutex */
    target_state_t state;
    char last_error[512];
    int64_t last_scrape_ms;     /* wall clock ms, 0 = never */
    double last_duration_s;
    uint64_t last_samples;
} scrape_target_t;

int scrape_target_new(scrape_target_t **out, const target_spec_t *spec, config_t *cfg);
/* Move spec/config of a target that survived a reload; resets the cache when
 * the ingestion-relevant parts of its scrape config changed. */
void scrape_target_update(scrape_target_t *t, st_db_t *db, const target_spec_t *spec, config_t *cfg, int64_t now_ms);
void scrape_target_free(scrape_target_t *t);

typedef struct {
    bool fetched;           /* HTTP 200 and a body */
    target_state_t fail_state;
    const char *error;      /* when !fetched */
    const char *body;
    size_t len;
    const char *content_type;
} fetch_result_t;

/* Self-metrics counters shared by all targets. */
typedef struct {
    atomic_uint_fast64_t scrapes_total, scrape_failures_total;
    atomic_uint_fast64_t samples_scraped_total, samples_appended_total;
    atomic_uint_fast64_t rejected_out_of_order_total, appender_errors_total;
    atomic_uint_fast64_t scrape_ns_total;
    atomic_uint_fast64_t body_bytes_total;
} scrape_stats_t;

/* Everything after the fetch: parse, relabel, limits, append + commit,
 * staleness, report series; then updates t's state fields, holding
 * state_mu (may be NULL) only for that. ts_ms is the sample timestamp of
 * this scrape. */
void scrape_ingest(scrape_target_t *t, st_db_t *db, const fetch_result_t *r, int64_t ts_ms, double duration_s,
                   scrape_stats_t *stats, pthread_mutex_t *state_mu);
/* The target is going away: stale markers for its series and report series. */
void scrape_target_stale_all(scrape_target_t *t, st_db_t *db, int64_t ts_ms);

/* Offset of a target inside its interval, from its label hash. */
int64_t scrape_offset(uint64_t key, int64_t interval_ms);
/* First time > now with time % interval == offset. */
int64_t scrape_next(int64_t now_ms, int64_t interval_ms, int64_t offset_ms);

/* ---- the loop (scrape.c) ---- */

typedef struct scrape_loop scrape_loop_t;

int scrape_loop_start(scrape_loop_t **out, st_db_t *db);
void scrape_loop_publish(void *loop, target_set_t *set); /* publish_fn */
void scrape_loop_stop(scrape_loop_t *l); /* stops the thread, frees; NULL ok */
const scrape_stats_t *scrape_loop_stats(const scrape_loop_t *l);

/* Target JSON for /api/v1/targets (state: "active", "dropped", "any"). */
int scrape_loop_targets_json(scrape_loop_t *l, const char *state, char **out, size_t *len);
/* Per-target metrics (reassigned label values, states) in text format. */
void scrape_loop_metrics(scrape_loop_t *l, st_encbuf_t *b);

/* ---- HTTP API (api.c) ---- */

typedef struct scraper scraper_t;

typedef struct {
    const char *name, *value;
} flag_value_t;

struct scraper {
    const char *config_path;
    st_db_t *db;
    scrape_loop_t *loop;
    discovery_t *disc;
    pthread_mutex_t cfg_mu; /* guards cfg */
    config_t *cfg;
    pthread_mutex_t reload_mu; /* one reload at a time */
    atomic_bool ready;
    bool enable_lifecycle;
    flag_value_t *flags;
    size_t n_flags;
    atomic_uint_fast64_t reloads_total, reload_failures_total;
    atomic_int_fast64_t last_reload_ok_ms;
    atomic_bool last_reload_ok;
    int64_t start_ms;
    st_promql_engine_opts_t query_opts; /* --query.* flags; read-only after start */
    sem_t query_sem;                    /* --query.max-concurrency slots */
};

/* Load the config file; on success swap it in and hand it to discovery.
 * On failure the running config stays and the error is returned. */
int scraper_reload(scraper_t *s);

struct st_http_server;
int api_register(scraper_t *s, struct st_http_server *srv);

/* Wall-clock milliseconds and monotonic nanoseconds. */
int64_t now_ms(void);
int64_t mono_ns(void);

#endif
