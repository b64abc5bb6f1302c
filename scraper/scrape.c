/*
 * The scrape loop: one thread drives every target through one libcurl
 * multi handle (non-blocking transfers, thousands at once).
 *
 * Schedule: a target scrapes at the wall-clock instants t with
 * t mod interval == offset, offset = its identity hash mod interval, so
 * targets of a job are spread evenly over the interval and never drift. The
 * scheduled instant is the timestamp of the scrape's samples (constant
 * deltas also compress to one bit per timestamp in the XOR chunks). A
 * scrape still running at its next instant is not started twice: the
 * timeout (≤ interval) ends it first.
 *
 * Each transfer has CURLOPT_TIMEOUT_MS = scrape timeout, so a hanging
 * target ends as TIMEOUT and its handle is free again; the loop itself
 * never blocks on a target. Bodies are accumulated under body_size_limit
 * (gzip is decoded by libcurl). Finished bodies are ingested on this
 * thread, which is the single appender the TSDB allows.
 *
 * Target sets from discovery arrive through `pending`; surviving targets
 * (same identity) keep their cache and state, new ones are scheduled, gone
 * ones get stale markers and are freed.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scraper_int.h"
#include "strata/err.h"
#include "strata/log.h"
#include "strata/promconfig.h"
#include "strata/textfmt.h"

#define DEFAULT_BODY_MAX ((size_t)2 << 30)
#define KEEP_BODY_BYTES ((size_t)1 << 20)
#define MAX_WAIT_MS 1000

static const char accept_header[] =
    "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

struct scrape_loop {
    st_db_t *db;
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t mu; /* guards: targets array, target state fields, pending, current */
    target_set_t *pending;
    target_set_t *current; /* the last set (its dropped targets, its config) */
    atomic_bool stop;
    scrape_target_t **targets;
    size_t n;
    scrape_target_t **heap;
    size_t hn;
    scrape_stats_t stats;
};

int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- min-heap on next_ms ---- */

static void heap_swap(scrape_loop_t *l, size_t a, size_t b) {
    scrape_target_t *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_idx = a;
    l->heap[b]->heap_idx = b;
}

static void heap_down(scrape_loop_t *l, size_t i) {
    for (;;) {
        size_t m = i, a = 2 * i + 1, b = a + 1;
        if (a < l->hn && l->heap[a]->next_ms < l->heap[m]->next_ms) m = a;
        if (b < l->hn && l->heap[b]->next_ms < l->heap[m]->next_ms) m = b;
        if (m == i) return;
        heap_swap(l, i, m);
        i = m;
    }
}

static void heap_build(scrape_loop_t *l) {
    l->hn = l->n;
    for (size_t i = 0; i < l->n; i++) {
        l->heap[i] = l->targets[i];
        l->heap[i]->heap_idx = i;
    }
    for (size_t i = l->hn / 2; i-- > 0;) heap_down(l, i);
}

/* ---- transfers ---- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg) {
    scrape_target_t *t = arg;
    size_t n = size * nmemb;
    st_put_bytes(&t->body, p, n);
    if (t->body.err) {
        t->body_over = true;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    return n;
}

static void start_scrape(scrape_loop_t *l, scrape_target_t *t) {
    CURL *e = t->easy;
    if (!e) {
        if (!(e = curl_easy_init())) {
            st_log(ST_LOG_ERROR, "curl_easy_init failed", "url", t->spec.url, NULL);
            return;
        }
        t->easy = e;
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
        curl_easy_setopt(e, CURLOPT_PRIVATE, t);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip");
        curl_easy_setopt(e, CURLOPT_USERAGENT, "strata/" ST_VERSION);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_err);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    }
    curl_slist_free_all(t->headers);
    char to[96];
    snprintf(to, sizeof to, "X-Prometheus-Scrape-Timeout-Seconds: %g", (double)t->spec.timeout_ms / 1000.0);
    struct curl_slist *h = curl_slist_append(NULL, accept_header);
    struct curl_slist *h2 = h ? curl_slist_append(h, to) : NULL;
    t->headers = h2 ? h2 : h;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_URL, t->spec.url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)t->spec.timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)t->spec.timeout_ms);
    st_encbuf_reset(&t->body);
    t->body.max = t->spec.sc->body_size_limit ? t->spec.sc->body_size_limit : DEFAULT_BODY_MAX;
    /* grow once to about the last size instead of doubling through it */
    size_t want = t->last_body_len + t->last_body_len / 8;
    if (want > t->body.cap && want <= t->body.max) (void)st_encbuf_reserve(&t->body, want);
    t->body_over = false;
    t->curl_err[0] = 0;
    t->scrape_ts = t->next_ms;
    t->started_mono_ns = mono_ns();
    CURLMcode mc = curl_multi_add_handle(l->multi, e);
    if (mc != CURLM_OK) {
        st_log(ST_LOG_ERROR, "curl_multi_add_handle failed", "url", t->spec.url, "err", curl_multi_strerror(mc), NULL);
        return;
    }
    t->in_flight = true;
}

static const char *status_text(long s) {
    switch (s) {
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
    }
}

static void finish_scrape(scrape_loop_t *l, scrape_target_t *t, CURLcode res) {
    curl_multi_remove_handle(l->multi, t->easy);
    t->in_flight = false;
    int64_t dns = mono_ns() - t->started_mono_ns;
    double dur = (double)dns / 1e9;
    atomic_fetch_add(&l->stats.scrape_ns_total, (uint64_t)dns);
    fetch_result_t fr = {0};
    char err[768];
    long status = 0;
    if (res == CURLE_OK) {
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200) {
            const char *txt = status_text(status);
            snprintf(err, sizeof err, "server returned HTTP status %ld%s%s", status, *txt ? " " : "", txt);
            fr.fail_state = TS_DOWN;
            fr.error = err;
        } else {
            char *ct = NULL;
            curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ct);
            fr.fetched = true;
            fr.body = t->body.len ? (const char *)t->body.p : "";
            fr.len = t->body.len;
            fr.content_type = ct;
        }
    } else if (res == CURLE_OPERATION_TIMEDOUT) {
        snprintf(err, sizeof err, "Get \"%s\": context deadline exceeded", t->spec.url);
        fr.fail_state = TS_TIMEOUT;
        fr.error = err;
    } else if (res == CURLE_WRITE_ERROR && t->body_over) {
        snprintf(err, sizeof err, "body size limit exceeded (limit %zu bytes)", t->body.max);
        fr.fail_state = TS_OVERLIMIT;
        fr.error = err;
    } else {
        snprintf(err, sizeof err, "Get \"%s\": %s", t->spec.url, t->curl_err[0] ? t->curl_err : curl_easy_strerror(res));
        fr.fail_state = TS_DOWN;
        fr.error = err;
    }
    if (fr.fetched) t->last_body_len = fr.len;
    scrape_ingest(t, l->db, &fr, t->scrape_ts, dur, &l->stats, &l->mu);
    if (t->body.cap > KEEP_BODY_BYTES) {
        size_t max = t->body.max;
        st_encbuf_free(&t->body);
        st_encbuf_init(&t->body, max);
    }
    if (!fr.fetched) st_log(ST_LOG_DEBUG, "Scrape failed", "scrape_pool", t->spec.sc->job_name, "target", t->spec.url,
                            "err", fr.error, NULL);
}

/* ---- target set changes ---- */

static void target_remove(scrape_loop_t *l, scrape_target_t *t, int64_t now) {
    if (t->in_flight) curl_multi_remove_handle(l->multi, t->easy);
    scrape_target_stale_all(t, l->db, now);
    if (t->easy) curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    scrape_target_free(t);
}

static int key_cmp(const void *x, const void *y) {
    uint64_t a = (*(scrape_target_t *const *)x)->spec.key, b = (*(scrape_target_t *const *)y)->spec.key;
    return a < b ? -1 : a > b;
}

static void apply_set(scrape_loop_t *l, target_set_t *set) {
    int64_t now = now_ms();
    scrape_target_t **nt = calloc(set->n_active + 1, sizeof *nt), **heap = calloc(set->n_active + 1, sizeof *heap);
    bool *kept = calloc(l->n + 1, sizeof *kept);
    if (!nt || !heap || !kept) {
        st_log(ST_LOG_ERROR, "applying targets: out of memory", NULL);
        free(nt);
        free(heap);
        free(kept);
        target_set_free(set);
        return;
    }
    pthread_mutex_lock(&l->mu);
    if (l->n > 1) qsort(l->targets, l->n, sizeof *l->targets, key_cmp);
    size_t n = 0;
    size_t added = 0, removed = 0;
    for (size_t i = 0; i < set->n_active; i++) {
        target_spec_t *spec = &set->active[i];
        scrape_target_t probe = {.spec = {.key = spec->key}}, *pp = &probe;
        scrape_target_t **found = l->n ? bsearch(&pp, l->targets, l->n, sizeof *l->targets, key_cmp) : NULL;
        if (found && !kept[found - l->targets]) {
            scrape_target_t *t = *found;
            kept[found - l->targets] = true;
            scrape_target_update(t, l->db, spec, set->cfg, now);
            if (!t->next_ms) t->next_ms = scrape_next(now, t->spec.interval_ms, t->offset_ms);
            nt[n++] = t;
        } else {
            scrape_target_t *t;
            if (scrape_target_new(&t, spec, set->cfg)) {
                target_spec_clear(spec);
                continue;
            }
            t->next_ms = scrape_next(now, t->spec.interval_ms, t->offset_ms);
            nt[n++] = t;
            added++;
        }
        memset(spec, 0, sizeof *spec); /* moved into the target */
    }
    for (size_t i = 0; i < l->n; i++)
        if (!kept[i]) {
            target_remove(l, l->targets[i], now);
            removed++;
        }
    free(l->targets);
    free(l->heap);
    l->targets = nt;
    l->heap = heap;
    l->n = n;
    heap_build(l);
    target_set_free(l->current);
    l->current = set;
    pthread_mutex_unlock(&l->mu);
    free(kept);
    char a[24], r[24], tot[24];
    snprintf(a, sizeof a, "%zu", added);
    snprintf(r, sizeof r, "%zu", removed);
    snprintf(tot, sizeof tot, "%zu", n);
    st_log(ST_LOG_INFO, "targets updated", "active", tot, "added", a, "removed", r, NULL);
}

/* ---- the loop ---- */

static void *loop_main(void *arg) {
    scrape_loop_t *l = arg;
    while (!atomic_load(&l->stop)) {
        pthread_mutex_lock(&l->mu);
        target_set_t *set = l->pending;
        l->pending = NULL;
        pthread_mutex_unlock(&l->mu);
        if (set) apply_set(l, set);

        int64_t now = now_ms();
        while (l->hn && l->heap[0]->next_ms <= now) {
            scrape_target_t *t = l->heap[0];
            if (!t->in_flight) start_scrape(l, t);
            t->next_ms = scrape_next(now, t->spec.interval_ms, t->offset_ms);
            heap_down(l, 0);
        }
        int running = 0;
        curl_multi_perform(l->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(l->multi, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            scrape_target_t *t = NULL;
            CURL *e = msg->easy_handle;
            CURLcode res = msg->data.result;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&t);
            if (t) finish_scrape(l, t, res);
        }
        int64_t wait = MAX_WAIT_MS;
        if (l->hn) {
            int64_t d = l->heap[0]->next_ms - now_ms();
            if (d < wait) wait = d < 0 ? 0 : d;
        }
        curl_multi_poll(l->multi, NULL, 0, (int)wait, NULL);
    }
    return NULL;
}

int scrape_loop_start(scrape_loop_t **out, st_db_t *db) {
    scrape_loop_t *l = calloc(1, sizeof *l);
    if (!l) return st_errorf(ST_ENOMEM, "scrape loop: allocating");
    l->db = db;
    if (!(l->multi = curl_multi_init())) {
        free(l);
        return st_errorf(ST_ENOMEM, "scrape loop: curl_multi_init failed");
    }
    pthread_mutex_init(&l->mu, NULL);
    int e = pthread_create(&l->thread, NULL, loop_main, l);
    if (e) {
        curl_multi_cleanup(l->multi);
        pthread_mutex_destroy(&l->mu);
        free(l);
        return st_errorf(ST_EIO, "scrape loop: starting thread: %s", strerror(e));
    }
    *out = l;
    return ST_OK;
}

void scrape_loop_publish(void *loop, target_set_t *set) {
    scrape_loop_t *l = loop;
    pthread_mutex_lock(&l->mu);
    target_set_free(l->pending);
    l->pending = set;
    pthread_mutex_unlock(&l->mu);
    curl_multi_wakeup(l->multi);
}

void scrape_loop_stop(scrape_loop_t *l) {
    if (!l) return;
    atomic_store(&l->stop, true);
    curl_multi_wakeup(l->multi);
    pthread_join(l->thread, NULL);
    /* no stale markers at shutdown: a restart continues the series, as
     * Prometheus does */
    for (size_t i = 0; i < l->n; i++) {
        scrape_target_t *t = l->targets[i];
        if (t->in_flight) curl_multi_remove_handle(l->multi, t->easy);
        if (t->easy) curl_easy_cleanup(t->easy);
        curl_slist_free_all(t->headers);
        scrape_target_free(t);
    }
    free(l->targets);
    free(l->heap);
    target_set_free(l->pending);
    target_set_free(l->current);
    curl_multi_cleanup(l->multi);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

const scrape_stats_t *scrape_loop_stats(const scrape_loop_t *l) { return &l->stats; }

/* ---- API views ---- */

static json_t *labels_json(const st_labels_t *l) {
    json_t *o = json_object();
    for (size_t i = 0; o && i < l->n; i++)
        json_object_set_new(o, l->v[i].name, json_stringn_nocheck(l->v[i].value, l->v[i].value_len));
    return o;
}

/* Go's time.Time RFC3339Nano in UTC (trailing zeros of the fraction dropped). */
static void rfc3339(char out[48], int64_t ms) {
    if (!ms) {
        snprintf(out, 48, "0001-01-01T00:00:00Z");
        return;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 48, "%Y-%m-%dT%H:%M:%S", &tm);
    int frac = (int)(ms % 1000);
    if (frac) {
        n += (size_t)snprintf(out + n, 48 - n, ".%03d", frac);
        while (out[n - 1] == '0') out[--n] = 0;
    }
    snprintf(out + n, 48 - n, "Z");
}

static const char *health(target_state_t s) {
    return s == TS_UNKNOWN ? "unknown" : s == TS_UP ? "up" : "down";
}

int scrape_loop_targets_json(scrape_loop_t *l, const char *state, char **out, size_t *len) {
    bool active = !state || !*state || strcmp(state, "active") == 0 || strcmp(state, "any") == 0;
    bool dropped = !state || !*state || strcmp(state, "dropped") == 0 || strcmp(state, "any") == 0;
    json_t *root = json_object(), *data = json_object(), *at = json_array(), *dt = json_array();
    if (!root || !data || !at || !dt) {
        json_decref(root);
        json_decref(data);
        json_decref(at);
        json_decref(dt);
        return st_errorf(ST_ENOMEM, "targets JSON");
    }
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; active && i < l->n; i++) {
        const scrape_target_t *t = l->targets[i];
        char ls[48], iv[32], to[32];
        rfc3339(ls, t->last_scrape_ms);
        st_fmt_prom_duration(iv, t->spec.interval_ms);
        st_fmt_prom_duration(to, t->spec.timeout_ms);
        json_t *o = json_object();
        json_object_set_new(o, "discoveredLabels", labels_json(&t->spec.discovered));
        json_object_set_new(o, "labels", labels_json(&t->spec.target_labels));
        json_object_set_new(o, "scrapePool", json_string_nocheck(t->spec.sc->job_name));
        json_object_set_new(o, "scrapeUrl", json_string_nocheck(t->spec.url));
        json_object_set_new(o, "globalUrl", json_string_nocheck(t->spec.url));
        json_object_set_new(o, "lastError", json_string_nocheck(t->last_error));
        json_object_set_new(o, "lastScrape", json_string(ls));
        json_object_set_new(o, "lastScrapeDuration", json_real(t->last_duration_s));
        json_object_set_new(o, "health", json_string(health(t->state)));
        json_object_set_new(o, "scrapeInterval", json_string(iv));
        json_object_set_new(o, "scrapeTimeout", json_string(to));
        /* Strata extension: why a target is down */
        json_object_set_new(o, "state", json_string(target_state_name(t->state)));
        json_array_append_new(at, o);
    }
    for (size_t i = 0; dropped && l->current && i < l->current->n_dropped; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "discoveredLabels", labels_json(&l->current->dropped[i].discovered));
        json_array_append_new(dt, o);
    }
    pthread_mutex_unlock(&l->mu);
    json_object_set_new(data, "activeTargets", at);
    json_object_set_new(data, "droppedTargets", dt);
    json_object_set_new(root, "status", json_string("success"));
    json_object_set_new(root, "data", data);
    *out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!*out) return st_errorf(ST_ENOMEM, "targets JSON");
    *len = strlen(*out);
    return ST_OK;
}

static void put_label_value(st_encbuf_t *b, const char *s) {
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') {
            st_put_u8(b, '\\');
            st_put_u8(b, (uint8_t)*s);
        } else if (*s == '\n') {
            st_put_cstr(b, "\\n");
        } else {
            st_put_u8(b, (uint8_t)*s);
        }
    }
}

void scrape_loop_metrics(scrape_loop_t *l, st_encbuf_t *b) {
    uint64_t by_state[6] = {0};
    st_put_cstr(b, "# HELP strata_scrape_reassigned_label_values_total Label values replaced by \"" REASSIGNED_VALUE
                   "\" by the cardinality guard (label_value_limit_per_name), per target and label name.\n"
                   "# TYPE strata_scrape_reassigned_label_values_total counter\n");
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n; i++) {
        const scrape_target_t *t = l->targets[i];
        by_state[t->state < 6 ? t->state : 0]++;
        const st_label_t *inst = st_labels_get(&t->spec.target_labels, "instance");
        for (size_t k = 0; k < t->guard.n; k++) {
            if (!t->guard.v[k].reassigned) continue;
            st_put_cstr(b, "strata_scrape_reassigned_label_values_total{job=\"");
            put_label_value(b, t->spec.sc->job_name);
            st_put_cstr(b, "\",instance=\"");
            put_label_value(b, inst ? inst->value : "");
            st_put_cstr(b, "\",label=\"");
            put_label_value(b, t->guard.v[k].name);
            st_put_fmt(b, "\"} %llu\n", (unsigned long long)t->guard.v[k].reassigned);
        }
    }
    pthread_mutex_unlock(&l->mu);
    st_put_cstr(b, "# HELP strata_scrape_targets Active targets by state of their last scrape.\n"
                   "# TYPE strata_scrape_targets gauge\n");
    for (int s = 0; s < 6; s++)
        st_put_fmt(b, "strata_scrape_targets{state=\"%s\"} %llu\n", target_state_name((target_state_t)s),
                   (unsigned long long)by_state[s]);
}
