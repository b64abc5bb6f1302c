/*
 * The endpoint set: --store addresses plus the targets of --store.sd-files
 * (Prometheus file SD documents, YAML or JSON by extension; globs allowed),
 * each with a gRPC channel and the state of its last Info call.
 *
 * Only the updater thread (query_endpoints_update) changes the set and
 * the SD state; requests take snapshots. The set's mutex guards the array,
 * each endpoint's mutex its Info state. An endpoint whose Info fails stays
 * in the set, marked unhealthy with its last error and its last known
 * label sets and time range (Thanos keeps the metadata too); requests skip
 * it with a warning, or fail with partial response off.
 */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "query.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/log.h"
#include "strata/promconfig.h"
#include "strata/textfmt.h"

typedef struct {
    char *path;
    struct timespec mtime;
    off_t size;
    ino_t ino;
    st_strlist_t targets; /* from its last good read */
} sd_file_t;

struct query_endpoints {
    query_endpoints_opts_t opts;
    pthread_mutex_t mu;
    query_endpoint_t **eps; /* sorted by address; one reference each */
    size_t n;
    /* the updater thread's alone */
    sd_file_t *files;
    size_t nfiles;
    int64_t sd_read_ms; /* when the files were last read; 0 = never */
    atomic_uint_fast64_t info_calls, info_failures;
};

void query_endpoint_ref(query_endpoint_t *e) { atomic_fetch_add(&e->refs, 1); }

static void free_sets(st_labels_t *sets, size_t n) {
    for (size_t i = 0; i < n; i++) st_labels_free(&sets[i]);
    free(sets);
}

void query_endpoint_unref(query_endpoint_t *e) {
    if (!e || atomic_fetch_sub(&e->refs, 1) != 1) return;
    st_grpc_client_free(e->client);
    free(e->addr);
    free(e->last_error);
    free(e->component);
    free_sets(e->label_sets, e->nlabel_sets);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

static int check_addr(const char *a, const char *where) {
    if (!*a) return st_errorf(ST_EINVAL, "%s: empty address", where);
    if (strncmp(a, "dns+", 4) == 0 || strncmp(a, "dnssrv+", 7) == 0 || strncmp(a, "dnssrvnoa+", 10) == 0)
        return st_errorf(ST_EINVAL, "%s: %s: DNS service discovery prefixes are not supported; give host:port",
                         where, a);
    return ST_OK;
}

int query_endpoints_new(query_endpoints_t **out, const query_endpoints_opts_t *opts) {
    *out = NULL;
    for (size_t i = 0; i < opts->nstatic; i++) {
        int rc = check_addr(opts->static_addrs[i], "--store");
        if (rc) return rc;
    }
    query_endpoints_t *es = calloc(1, sizeof *es);
    if (!es) return st_errorf(ST_ENOMEM, "allocating the endpoint set");
    es->opts = *opts;
    pthread_mutex_init(&es->mu, NULL);
    *out = es;
    return ST_OK;
}

void query_endpoints_free(query_endpoints_t *es) {
    if (!es) return;
    for (size_t i = 0; i < es->n; i++) query_endpoint_unref(es->eps[i]);
    free(es->eps);
    for (size_t i = 0; i < es->nfiles; i++) {
        free(es->files[i].path);
        st_strlist_free(&es->files[i].targets);
    }
    free(es->files);
    pthread_mutex_destroy(&es->mu);
    free(es);
}

/* ---- file SD ---- */

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static void read_sd_file(sd_file_t *f) {
    uint8_t *data = NULL;
    size_t len = 0;
    st_target_group_t *groups = NULL;
    size_t ngroups = 0;
    int rc = st_file_read_all(f->path, ST_PROMCONFIG_MAX_BYTES, &data, &len);
    if (!rc) rc = st_target_groups_parse(&groups, &ngroups, (const char *)data, len, ends_with(f->path, ".json"),
                                         f->path);
    st_strlist_t t = {0};
    for (size_t g = 0; g < ngroups && !rc; g++)
        for (size_t k = 0; k < groups[g].n_targets && !rc; k++)
            if (!(rc = check_addr(groups[g].targets[k], f->path))) rc = st_strlist_push(&t, groups[g].targets[k]);
    st_target_groups_free(groups, ngroups);
    free(data);
    if (rc) {
        /* as Prometheus's file SD: a bad file keeps what it last said */
        st_log(ST_LOG_ERROR, "reading a store SD file failed; keeping its previous targets", "file", f->path, "err",
               st_errdetail(rc), NULL);
        st_strlist_free(&t);
        return;
    }
    st_strlist_free(&f->targets);
    f->targets = t;
}

/* Expand the globs; re-read all files when the list or any file's stat
 * changed, or sd_interval passed. */
static int refresh_sd(query_endpoints_t *es) {
    if (es->opts.nsd_files == 0) return ST_OK;
    st_strlist_t paths = {0};
    int rc = ST_OK;
    for (size_t i = 0; i < es->opts.nsd_files && !rc; i++) {
        glob_t g;
        int e = glob(es->opts.sd_files[i], 0, NULL, &g);
        if (e == 0)
            for (size_t k = 0; k < g.gl_pathc && !rc; k++) rc = st_strlist_push(&paths, g.gl_pathv[k]);
        else if (e != GLOB_NOMATCH)
            st_log(ST_LOG_WARN, "expanding a store SD pattern failed", "pattern", es->opts.sd_files[i], NULL);
        globfree(&g);
    }
    if (rc) {
        st_strlist_free(&paths);
        return rc;
    }
    if (paths.n > 1) qsort(paths.v, paths.n, sizeof *paths.v, str_cmp);
    size_t nu = 0;
    for (size_t i = 0; i < paths.n; i++) {
        if (nu > 0 && strcmp(paths.v[i], paths.v[nu - 1]) == 0) {
            free(paths.v[i]);
            continue;
        }
        paths.v[nu++] = paths.v[i];
    }
    paths.n = nu;
    sd_file_t *nf = calloc(paths.n ? paths.n : 1, sizeof *nf);
    if (!nf) {
        st_strlist_free(&paths);
        return st_errorf(ST_ENOMEM, "store SD: %zu files", nu);
    }
    bool changed = paths.n != es->nfiles;
    for (size_t i = 0; i < paths.n; i++) {
        sd_file_t *f = &nf[i];
        f->path = paths.v[i];
        paths.v[i] = NULL;
        struct stat sb;
        if (stat(f->path, &sb) == 0) {
            f->mtime = sb.st_mtim;
            f->size = sb.st_size;
            f->ino = sb.st_ino;
        }
        sd_file_t *old = NULL;
        for (size_t k = 0; k < es->nfiles && !old; k++)
            if (strcmp(es->files[k].path, f->path) == 0) old = &es->files[k];
        if (old) {
            f->targets = old->targets; /* moved */
            old->targets = (st_strlist_t){0};
            if (old->mtime.tv_sec != f->mtime.tv_sec || old->mtime.tv_nsec != f->mtime.tv_nsec ||
                old->size != f->size || old->ino != f->ino)
                changed = true;
        } else {
            changed = true;
        }
    }
    st_strlist_free(&paths);
    for (size_t k = 0; k < es->nfiles; k++) {
        free(es->files[k].path);
        st_strlist_free(&es->files[k].targets);
    }
    free(es->files);
    es->files = nf;
    es->nfiles = nu;
    int64_t now = query_now_ms();
    if (changed || es->sd_read_ms == 0 || now - es->sd_read_ms >= es->opts.sd_interval_ms) {
        for (size_t i = 0; i < es->nfiles; i++) read_sd_file(&es->files[i]);
        es->sd_read_ms = now;
    }
    return ST_OK;
}

/* ---- the set ---- */

static int ep_cmp(const void *a, const void *b) {
    return strcmp((*(query_endpoint_t *const *)a)->addr, (*(query_endpoint_t *const *)b)->addr);
}

static int new_endpoint(query_endpoints_t *es, const char *addr, query_endpoint_t **out) {
    query_endpoint_t *e = calloc(1, sizeof *e);
    if (!e || !(e->addr = strdup(addr))) {
        free(e);
        return st_errorf(ST_ENOMEM, "endpoint %s", addr);
    }
    atomic_init(&e->refs, 1);
    pthread_mutex_init(&e->mu, NULL);
    e->min_time = INT64_MIN;
    e->max_time = INT64_MAX;
    int rc = st_grpc_client_new(&e->client, addr, &es->opts.client_opts);
    if (rc) {
        query_endpoint_unref(e);
        return st_errwrap(rc, "endpoint %s", addr);
    }
    *out = e;
    return ST_OK;
}

/* Make the set equal to static addresses ∪ SD targets. */
static int sync_set(query_endpoints_t *es) {
    st_strlist_t want = {0};
    int rc = ST_OK;
    for (size_t i = 0; i < es->opts.nstatic && !rc; i++) rc = st_strlist_push(&want, es->opts.static_addrs[i]);
    for (size_t f = 0; f < es->nfiles && !rc; f++)
        for (size_t k = 0; k < es->files[f].targets.n && !rc; k++)
            rc = st_strlist_push(&want, es->files[f].targets.v[k]);
    if (rc) {
        st_strlist_free(&want);
        return rc;
    }
    if (want.n > 1) qsort(want.v, want.n, sizeof *want.v, str_cmp);
    query_endpoint_t **nv = calloc(want.n ? want.n : 1, sizeof *nv);
    if (!nv) {
        st_strlist_free(&want);
        return st_errorf(ST_ENOMEM, "endpoint set: %zu endpoints", want.n);
    }
    size_t nn = 0;
    pthread_mutex_lock(&es->mu);
    for (size_t i = 0; i < want.n; i++) {
        if (nn > 0 && strcmp(nv[nn - 1]->addr, want.v[i]) == 0) continue;
        query_endpoint_t *e = NULL;
        for (size_t k = 0; k < es->n && !e; k++)
            if (es->eps[k] && strcmp(es->eps[k]->addr, want.v[i]) == 0) {
                e = es->eps[k];
                es->eps[k] = NULL; /* moved */
            }
        if (!e) {
            int erc = new_endpoint(es, want.v[i], &e);
            if (erc) {
                st_log(ST_LOG_ERROR, "adding an endpoint failed", "address", want.v[i], "err", st_errdetail(erc),
                       NULL);
                continue;
            }
            st_log(ST_LOG_INFO, "adding new endpoint", "address", want.v[i], NULL);
        }
        nv[nn++] = e;
    }
    query_endpoint_t **old = es->eps;
    size_t nold = es->n;
    qsort(nv, nn, sizeof *nv, ep_cmp);
    es->eps = nv;
    es->n = nn;
    pthread_mutex_unlock(&es->mu);
    for (size_t k = 0; k < nold; k++) {
        if (!old[k]) continue;
        st_log(ST_LOG_INFO, "removing endpoint no longer configured", "address", old[k]->addr, NULL);
        query_endpoint_unref(old[k]);
    }
    free(old);
    st_strlist_free(&want);
    return ST_OK;
}

typedef struct {
    query_endpoints_t *es;
    query_endpoint_t *ep;
    pthread_t th;
    bool started;
} info_job_t;

static void *info_main(void *arg) {
    info_job_t *j = arg;
    query_endpoint_t *e = j->ep;
    st_store_info_t info;
    memset(&info, 0, sizeof info);
    atomic_fetch_add(&j->es->info_calls, 1);
    int rc = st_storeapi_info(e->client, QUERY_INFO_TIMEOUT_MS, &info);
    pthread_mutex_lock(&e->mu);
    bool was = e->healthy, known = e->known;
    if (rc == 0) {
        free(e->last_error);
        e->last_error = NULL;
        free(e->component);
        e->component = (char *)info.component; /* malloc'd by the decoder: moved */
        info.component = NULL;
        free_sets(e->label_sets, e->nlabel_sets);
        e->label_sets = info.label_sets;
        e->nlabel_sets = info.nlabel_sets;
        info.label_sets = NULL;
        info.nlabel_sets = 0;
        e->min_time = info.min_time;
        e->max_time = info.max_time;
        e->strips_replica_labels = info.supports_without_replica_labels;
        e->healthy = e->known = true;
        e->last_check_ms = query_now_ms();
    } else {
        atomic_fetch_add(&j->es->info_failures, 1);
        free(e->last_error);
        e->last_error = strdup(st_errdetail(rc));
        e->healthy = false;
    }
    pthread_mutex_unlock(&e->mu);
    if (rc == 0 && !was) {
        st_encbuf_t b;
        st_encbuf_init(&b, 1 << 16);
        pthread_mutex_lock(&e->mu);
        for (size_t i = 0; i < e->nlabel_sets; i++) {
            if (i) st_put_u8(&b, ',');
            st_put_labels_go(&b, &e->label_sets[i]);
        }
        st_put_u8(&b, 0);
        char *comp = strdup(e->component ? e->component : "");
        pthread_mutex_unlock(&e->mu);
        st_log(ST_LOG_INFO, known ? "endpoint healthy again" : "endpoint healthy", "address", e->addr, "component",
               comp ? comp : "", "extLset", b.err ? "" : (const char *)b.p, NULL);
        free(comp);
        st_encbuf_free(&b);
    } else if (rc != 0 && (was || !known)) {
        st_log(ST_LOG_WARN, "update of endpoint failed", "address", e->addr, "err", st_errdetail(rc), NULL);
    }
    st_store_info_free(&info);
    return NULL;
}

int query_endpoints_update(query_endpoints_t *es) {
    int rc = refresh_sd(es);
    if (!rc) rc = sync_set(es);
    if (rc) return rc;
    pthread_mutex_lock(&es->mu);
    size_t n = es->n;
    info_job_t *jobs = calloc(n ? n : 1, sizeof *jobs);
    for (size_t i = 0; jobs && i < n; i++) {
        jobs[i].es = es;
        jobs[i].ep = es->eps[i];
        query_endpoint_ref(es->eps[i]);
    }
    pthread_mutex_unlock(&es->mu);
    if (!jobs) return st_errorf(ST_ENOMEM, "info: %zu endpoints", n);
    for (size_t i = 0; i < n; i++) {
        jobs[i].started = pthread_create(&jobs[i].th, NULL, info_main, &jobs[i]) == 0;
        if (!jobs[i].started) info_main(&jobs[i]); /* no thread to spare: call it here */
    }
    for (size_t i = 0; i < n; i++) {
        if (jobs[i].started) pthread_join(jobs[i].th, NULL);
        query_endpoint_unref(jobs[i].ep);
    }
    free(jobs);
    return ST_OK;
}

static int copy_sets(const st_labels_t *in, size_t n, st_labels_t **out) {
    *out = calloc(n ? n : 1, sizeof **out);
    if (!*out) return st_errorf(ST_ENOMEM, "copying %zu label sets", n);
    for (size_t i = 0; i < n; i++) {
        int rc = st_labels_copy(&(*out)[i], &in[i]);
        if (rc) {
            free_sets(*out, i);
            *out = NULL;
            return rc;
        }
    }
    return ST_OK;
}

int query_endpoints_snapshot(query_endpoints_t *es, query_target_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&es->mu);
    query_target_t *t = calloc(es->n ? es->n : 1, sizeof *t);
    int rc = t ? ST_OK : st_errorf(ST_ENOMEM, "snapshot of %zu endpoints", es->n);
    size_t k = 0;
    for (; k < es->n && !rc; k++) {
        query_endpoint_t *e = es->eps[k];
        query_target_t *x = &t[k];
        query_endpoint_ref(e);
        x->ep = e;
        pthread_mutex_lock(&e->mu);
        x->healthy = e->healthy;
        x->known = e->known;
        x->min_time = e->min_time;
        x->max_time = e->max_time;
        x->strips_replica_labels = e->strips_replica_labels;
        if (e->last_error && !(x->last_error = strdup(e->last_error))) rc = st_errorf(ST_ENOMEM, "snapshot");
        if (!rc && (rc = copy_sets(e->label_sets, e->nlabel_sets, &x->label_sets)) == 0)
            x->nlabel_sets = e->nlabel_sets;
        pthread_mutex_unlock(&e->mu);
        snprintf(x->name, sizeof x->name, "Addr: %s MinTime: %lld MaxTime: %lld", e->addr, (long long)x->min_time,
                 (long long)x->max_time);
    }
    pthread_mutex_unlock(&es->mu);
    if (rc) {
        query_targets_free(t, k);
        return rc;
    }
    *out = t;
    *n = k;
    return ST_OK;
}

void query_targets_free(query_target_t *t, size_t n) {
    if (!t) return;
    for (size_t i = 0; i < n; i++) {
        query_endpoint_unref(t[i].ep);
        free(t[i].last_error);
        free_sets(t[i].label_sets, t[i].nlabel_sets);
    }
    free(t);
}

size_t query_endpoints_count(query_endpoints_t *es, size_t *healthy) {
    size_t h = 0;
    pthread_mutex_lock(&es->mu);
    size_t n = es->n;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&es->eps[i]->mu);
        h += es->eps[i]->healthy;
        pthread_mutex_unlock(&es->eps[i]->mu);
    }
    pthread_mutex_unlock(&es->mu);
    if (healthy) *healthy = h;
    return n;
}

void query_endpoints_info_stats(query_endpoints_t *es, uint64_t *calls, uint64_t *failures) {
    *calls = atomic_load(&es->info_calls);
    *failures = atomic_load(&es->info_failures);
}

/* ---- selection ---- */

bool query_label_sets_match(const st_matchers_t *ms, const st_labels_t *sets, size_t n) {
    if (n == 0 || !ms) return true;
    for (size_t i = 0; i < n; i++) {
        bool rejected = false;
        for (size_t k = 0; k < ms->n && !rejected; k++) {
            const st_label_t *l = st_labels_get(&sets[i], st_matcher_name(ms->v[k]));
            rejected = l && !st_matcher_matches(ms->v[k], l->value, l->value_len);
        }
        if (!rejected) return true;
    }
    return false;
}

bool query_target_matches(const query_target_t *t, int64_t mint, int64_t maxt, const st_matchers_t *ms) {
    if (mint > t->max_time || maxt < t->min_time) return false;
    return query_label_sets_match(ms, t->label_sets, t->nlabel_sets);
}
