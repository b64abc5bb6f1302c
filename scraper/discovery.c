/*
 * Service discovery and target labels.
 *
 * One thread owns the SD state of the current config. Every second it
 * re-expands the file_sd globs and re-reads any file whose (inode, size,
 * mtime) changed or whose refresh_interval passed, and fetches each
 * http_sd URL when its refresh_interval is due. A file or URL that fails
 * keeps its previous groups (logged), as Prometheus does. When anything
 * changed, or a new config arrived, the complete target set of every job is
 * rebuilt and published to the scrape loop.
 *
 * Target labels follow Prometheus 2.42's targetsFromGroup/populateLabels:
 * the target's __address__ over the group labels over the scrape config's
 * defaults (job, __scheme__, __metrics_path__, __scrape_interval__,
 * __scrape_timeout__, __param_<name>), then relabel_configs, then a default
 * port from the scheme, __meta_* removed, instance defaulted to the address.
 */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "scraper_int.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/flags.h"
#include "strata/httpclient.h"
#include "strata/log.h"
#include "strata/relabel.h"
#include "strata/textfmt.h"

#define SD_POLL_MS 1000
#define HTTP_SD_TIMEOUT_MS 30000
#define SD_FILE_MAX ((size_t)64 << 20)

/* ---- target labels ---- */

static bool has_port(const char *a) {
    if (a[0] == '[') {
        const char *e = strchr(a, ']');
        return e && e[1] == ':' && e[2];
    }
    const char *c = strchr(a, ':');
    return c && !strchr(c + 1, ':') && c[1];
}

/* Go's net.SplitHostPort(addr + ":1234") succeeds: a bare host or [v6]. */
static bool port_addable(const char *a) {
    if (a[0] == '[') return a[strlen(a) - 1] == ']' && !strchr(a + 1, '[');
    return *a && !strchr(a, ':');
}

static void put_query_escaped(st_encbuf_t *b, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            st_put_u8(b, c);
        } else if (c == ' ') {
            st_put_u8(b, '+');
        } else {
            st_put_u8(b, '%');
            st_put_u8(b, (uint8_t)hex[c >> 4]);
            st_put_u8(b, (uint8_t)hex[c & 15]);
        }
    }
}

typedef struct {
    const char *name;
    const char *first; /* replaces values[0] (a __param_ label), or NULL */
    const char *const *values;
    size_t n;
} qparam_t;

static int qparam_cmp(const void *x, const void *y) {
    return strcmp(((const qparam_t *)x)->name, ((const qparam_t *)y)->name);
}

/* scheme://address/path?params as Prometheus's Target.URL(): the configured
 * params, a __param_<name> label replacing the first value of <name> (or
 * adding it), encoded as url.Values.Encode() (sorted by key). */
static int build_url(const st_scrape_config_t *sc, const st_labels_t *l, char **out) {
    const st_label_t *scheme = st_labels_get(l, "__scheme__"), *addr = st_labels_get(l, "__address__"),
                     *path = st_labels_get(l, "__metrics_path__");
    st_encbuf_t b;
    st_encbuf_init(&b, 1 << 20);
    st_put_fmt(&b, "%s://%s", scheme ? scheme->value : "http", addr->value);
    if (path && path->value[0] != '/') st_put_u8(&b, '/');
    if (path) st_put_cstr(&b, path->value);
    size_t np = sc->n_params;
    for (size_t i = 0; i < l->n; i++)
        if (strncmp(l->v[i].name, "__param_", 8) == 0) np++;
    qparam_t *ps = calloc(np ? np : 1, sizeof *ps);
    if (!ps) {
        st_encbuf_free(&b);
        return st_errorf(ST_ENOMEM, "target URL");
    }
    size_t k = 0;
    for (size_t i = 0; i < sc->n_params; i++)
        ps[k++] = (qparam_t){.name = sc->params[i].name, .values = (const char *const *)sc->params[i].values,
                             .n = sc->params[i].n_values};
    for (size_t i = 0; i < l->n; i++) {
        if (strncmp(l->v[i].name, "__param_", 8) != 0 || !l->v[i].name[8]) continue;
        const char *name = l->v[i].name + 8;
        size_t j;
        for (j = 0; j < k && strcmp(ps[j].name, name) != 0; j++) {}
        if (j == k) ps[k++] = (qparam_t){.name = name};
        ps[j].first = l->v[i].value;
        if (!ps[j].n) ps[j].n = 1;
    }
    qsort(ps, k, sizeof *ps, qparam_cmp);
    bool first = true;
    for (size_t i = 0; i < k; i++)
        for (size_t v = 0; v < ps[i].n; v++) {
            st_put_u8(&b, first ? '?' : '&');
            first = false;
            put_query_escaped(&b, ps[i].name);
            st_put_u8(&b, '=');
            put_query_escaped(&b, v == 0 && ps[i].first ? ps[i].first : ps[i].values[v]);
        }
    free(ps);
    st_put_u8(&b, 0);
    if (b.err) {
        st_encbuf_free(&b);
        return st_errorf(ST_ELIMIT, "target URL too long");
    }
    *out = (char *)b.p;
    return ST_OK;
}

static int set_pair(st_label_t **v, size_t *n, size_t *cap, const char *name, const char *value) {
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i].name, name) == 0) {
            (*v)[i] = st_label(name, value);
            return ST_OK;
        }
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        st_label_t *nv = realloc(*v, c * sizeof *nv);
        if (!nv) return st_errorf(ST_ENOMEM, "target labels");
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = st_label(name, value);
    return ST_OK;
}

static bool pairs_has(const st_label_t *v, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0 && v[i].value_len) return true;
    return false;
}

int target_populate(const st_scrape_config_t *sc, const st_labels_t *group_labels, const char *address,
                    const st_label_t *meta, size_t n_meta, target_spec_t *out, bool *keep) {
    memset(out, 0, sizeof *out);
    *keep = false;
    out->sc = sc;
    st_label_t *v = NULL, *fin = NULL;
    size_t n = 0, cap = 0, nf = 0;
    st_labels_t relabeled = {0};
    char ivs[32], tos[32], *portaddr = NULL, *params = NULL;
    int rc;
    if ((rc = set_pair(&v, &n, &cap, "__address__", address))) goto out;
    for (size_t i = 0; i < n_meta; i++)
        if (!pairs_has(v, n, meta[i].name) && (rc = set_pair(&v, &n, &cap, meta[i].name, meta[i].value))) goto out;
    for (size_t i = 0; i < group_labels->n; i++)
        if (!pairs_has(v, n, group_labels->v[i].name) &&
            (rc = set_pair(&v, &n, &cap, group_labels->v[i].name, group_labels->v[i].value)))
            goto out;
    st_fmt_prom_duration(ivs, sc->scrape_interval_ms);
    st_fmt_prom_duration(tos, sc->scrape_timeout_ms);
    const char *defaults[][2] = {{"job", sc->job_name},           {"__scrape_interval__", ivs},
                                 {"__scrape_timeout__", tos},     {"__metrics_path__", sc->metrics_path},
                                 {"__scheme__", sc->scheme}};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (!pairs_has(v, n, defaults[i][0]) && (rc = set_pair(&v, &n, &cap, defaults[i][0], defaults[i][1])))
            goto out;
    /* __param_<name>: the first configured value, set unconditionally */
    size_t plen = 0;
    for (size_t i = 0; i < sc->n_params; i++) plen += strlen(sc->params[i].name) + 9;
    if (plen && !(params = malloc(plen))) {
        rc = st_errorf(ST_ENOMEM, "target labels");
        goto out;
    }
    for (size_t i = 0, off = 0; i < sc->n_params; i++) {
        if (!sc->params[i].n_values) continue;
        char *pn = params + off;
        off += (size_t)sprintf(pn, "__param_%s", sc->params[i].name) + 1;
        if ((rc = set_pair(&v, &n, &cap, pn, sc->params[i].values[0]))) goto out;
    }
    if ((rc = st_labels_from_pairs(&out->discovered, v, n))) goto out;
    bool kept;
    if ((rc = st_relabel_process(sc->relabel_configs.compiled, out->discovered.v, out->discovered.n, &relabeled,
                                 &kept)))
        goto out;
    if (!kept) goto out;
    const st_label_t *addr = st_labels_get(&relabeled, "__address__");
    if (!addr) {
        rc = st_errorf(ST_EINVAL, "target %s: no address", address);
        goto out;
    }
    const char *a = addr->value;
    if (!has_port(a) && port_addable(a)) {
        const st_label_t *scheme = st_labels_get(&relabeled, "__scheme__");
        const char *s = scheme ? scheme->value : "";
        const char *port = strcmp(s, "https") == 0 ? ":443" : (!*s || strcmp(s, "http") == 0) ? ":80" : NULL;
        if (!port) {
            rc = st_errorf(ST_EINVAL, "target %s: invalid scheme: \"%s\"", address, s);
            goto out;
        }
        if (!(portaddr = malloc(strlen(a) + 5))) {
            rc = st_errorf(ST_ENOMEM, "target labels");
            goto out;
        }
        sprintf(portaddr, "%s%s", a, port);
        a = portaddr;
    }
    if (strchr(a, '/')) {
        rc = st_errorf(ST_EINVAL, "target %s: \"%s\" is not a valid hostname", address, a);
        goto out;
    }
    const st_label_t *iv = st_labels_get(&relabeled, "__scrape_interval__"),
                     *to = st_labels_get(&relabeled, "__scrape_timeout__");
    if (!iv || st_duration_parse(iv->value, &out->interval_ms)) {
        rc = st_errorf(ST_EINVAL, "target %s: error parsing scrape interval \"%s\"", address, iv ? iv->value : "");
        goto out;
    }
    if (!to || st_duration_parse(to->value, &out->timeout_ms)) {
        rc = st_errorf(ST_EINVAL, "target %s: error parsing scrape timeout \"%s\"", address, to ? to->value : "");
        goto out;
    }
    if (out->interval_ms == 0) {
        rc = st_errorf(ST_EINVAL, "target %s: scrape interval cannot be 0", address);
        goto out;
    }
    if (out->timeout_ms == 0) {
        rc = st_errorf(ST_EINVAL, "target %s: scrape timeout cannot be 0", address);
        goto out;
    }
    if (out->timeout_ms > out->interval_ms) {
        rc = st_errorf(ST_EINVAL, "target %s: scrape timeout cannot be greater than scrape interval (\"%s\" > \"%s\")",
                       address, to->value, iv->value);
        goto out;
    }
    /* final set: __meta_ dropped, __address__ with port, instance default */
    if (!(fin = malloc((relabeled.n + 1) * sizeof *fin))) {
        rc = st_errorf(ST_ENOMEM, "target labels");
        goto out;
    }
    bool have_instance = false;
    for (size_t i = 0; i < relabeled.n; i++) {
        st_label_t l = relabeled.v[i];
        if (strncmp(l.name, "__meta_", 7) == 0) continue;
        if (strcmp(l.name, "__address__") == 0) l = st_label("__address__", a);
        have_instance |= strcmp(l.name, "instance") == 0;
        fin[nf++] = l;
    }
    if (!have_instance) fin[nf++] = st_label("instance", a);
    if ((rc = st_labels_from_pairs(&out->labels, fin, nf))) goto out;
    size_t np = 0;
    for (size_t i = 0; i < out->labels.n; i++)
        if (strncmp(out->labels.v[i].name, "__", 2) != 0) fin[np++] = out->labels.v[i];
    if ((rc = st_labels_from_pairs(&out->target_labels, fin, np))) goto out;
    for (size_t i = 0; i < out->labels.n; i++)
        if (!st_utf8_valid(out->labels.v[i].value, out->labels.v[i].value_len)) {
            rc = st_errorf(ST_EINVAL, "target %s: invalid label value for \"%s\"", address, out->labels.v[i].name);
            goto out;
        }
    if ((rc = build_url(sc, &out->labels, &out->url))) goto out;
    XXH3_state_t hs;
    XXH3_64bits_reset(&hs);
    XXH3_64bits_update(&hs, sc->job_name, strlen(sc->job_name) + 1);
    XXH3_64bits_update(&hs, out->url, strlen(out->url) + 1);
    /* a new interval or timeout keeps the target (it is rescheduled) */
    for (size_t i = 0; i < out->labels.n; i++) {
        const st_label_t *l = &out->labels.v[i];
        if (strcmp(l->name, "__scrape_interval__") == 0 || strcmp(l->name, "__scrape_timeout__") == 0) continue;
        XXH3_64bits_update(&hs, l->name, l->name_len + 1);
        XXH3_64bits_update(&hs, l->value, l->value_len + 1);
    }
    out->key = XXH3_64bits_digest(&hs);
    *keep = true;
out:
    if (rc || !*keep) {
        st_labels_t d = out->discovered;
        out->discovered = (st_labels_t){0};
        target_spec_clear(out);
        out->sc = sc;
        out->discovered = d;
        *keep = false;
    }
    st_labels_free(&relabeled);
    free(v);
    free(fin);
    free(portaddr);
    free(params);
    return rc;
}

void target_set_free(target_set_t *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_active; i++) target_spec_clear(&s->active[i]);
    free(s->active);
    for (size_t i = 0; i < s->n_dropped; i++) st_labels_free(&s->dropped[i].discovered);
    free(s->dropped);
    config_unref(s->cfg);
    free(s);
}

/* ---- SD state ---- */

typedef struct {
    char *path;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    bool seen; /* matched in the current poll */
    st_target_group_t *groups;
    size_t n;
} sd_file_t;

typedef struct {
    const st_file_sd_config_t *cfg;
    sd_file_t *files;
    size_t n, cap;
    int64_t last_full_ms;
} file_sd_t;

typedef struct {
    const st_http_sd_config_t *cfg;
    st_target_group_t *groups;
    size_t n;
    int64_t next_ms;
} http_sd_t;

typedef struct {
    const st_scrape_config_t *sc;
    file_sd_t *files;
    http_sd_t *https;
} job_sd_t;

struct discovery {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    config_t *pending;
    publish_fn fn;
    void *ctx;
    /* owned by the thread */
    config_t *cfg;
    job_sd_t *jobs;
    size_t n_jobs;
};

static void file_sd_clear(file_sd_t *f) {
    for (size_t i = 0; i < f->n; i++) {
        free(f->files[i].path);
        st_target_groups_free(f->files[i].groups, f->files[i].n);
    }
    free(f->files);
}

static void jobs_free(discovery_t *d) {
    for (size_t j = 0; j < d->n_jobs; j++) {
        job_sd_t *js = &d->jobs[j];
        for (size_t i = 0; js->files && i < js->sc->n_file_sd_configs; i++) file_sd_clear(&js->files[i]);
        free(js->files);
        for (size_t i = 0; js->https && i < js->sc->n_http_sd_configs; i++)
            st_target_groups_free(js->https[i].groups, js->https[i].n);
        free(js->https);
    }
    free(d->jobs);
    d->jobs = NULL;
    d->n_jobs = 0;
}

static int jobs_init(discovery_t *d) {
    const st_promconfig_t *pc = d->cfg->cfg;
    d->jobs = calloc(pc->n_scrape_configs ? pc->n_scrape_configs : 1, sizeof *d->jobs);
    if (!d->jobs) return st_errorf(ST_ENOMEM, "discovery: jobs");
    d->n_jobs = pc->n_scrape_configs;
    for (size_t j = 0; j < d->n_jobs; j++) {
        job_sd_t *js = &d->jobs[j];
        js->sc = &pc->scrape_configs[j];
        js->files = calloc(js->sc->n_file_sd_configs + 1, sizeof *js->files);
        js->https = calloc(js->sc->n_http_sd_configs + 1, sizeof *js->https);
        if (!js->files || !js->https) return st_errorf(ST_ENOMEM, "discovery: jobs");
        for (size_t i = 0; i < js->sc->n_file_sd_configs; i++) js->files[i].cfg = &js->sc->file_sd_configs[i];
        for (size_t i = 0; i < js->sc->n_http_sd_configs; i++) js->https[i].cfg = &js->sc->http_sd_configs[i];
    }
    return ST_OK;
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Re-read one matched file when it changed (or force). Returns true when
 * its groups changed. A file that cannot be read or parsed keeps its
 * previous groups. */
static bool file_refresh(sd_file_t *sf, bool force) {
    struct stat st;
    if (stat(sf->path, &st) != 0) return false;
    if (!force && st.st_dev == sf->dev && st.st_ino == sf->ino && st.st_size == sf->size &&
        st.st_mtim.tv_sec == sf->mtime.tv_sec && st.st_mtim.tv_nsec == sf->mtime.tv_nsec)
        return false;
    sf->dev = st.st_dev;
    sf->ino = st.st_ino;
    sf->size = st.st_size;
    sf->mtime = st.st_mtim;
    uint8_t *data;
    size_t len;
    int rc = st_file_read_all(sf->path, SD_FILE_MAX, &data, &len);
    st_target_group_t *g = NULL;
    size_t n = 0;
    if (!rc) {
        rc = st_target_groups_parse(&g, &n, (const char *)data, len, ends_with(sf->path, ".json"), sf->path);
        free(data);
    }
    if (rc) {
        st_log(ST_LOG_ERROR, "Error reading file", "discovery", "file", "path", sf->path, "err", st_errdetail(rc), NULL);
        return false;
    }
    st_target_groups_free(sf->groups, sf->n);
    sf->groups = g;
    sf->n = n;
    return true;
}

static bool file_sd_poll(file_sd_t *f, int64_t now) {
    bool changed = false, force = now - f->last_full_ms >= f->cfg->refresh_interval_ms;
    if (force) f->last_full_ms = now;
    for (size_t i = 0; i < f->n; i++) f->files[i].seen = false;
    for (size_t p = 0; p < f->cfg->n_files; p++) {
        glob_t gl;
        int grc = glob(f->cfg->files[p], 0, NULL, &gl);
        if (grc != 0) {
            if (grc != GLOB_NOMATCH)
                st_log(ST_LOG_ERROR, "Error expanding glob", "discovery", "file", "glob", f->cfg->files[p], NULL);
            continue;
        }
        for (size_t k = 0; k < gl.gl_pathc; k++) {
            const char *path = gl.gl_pathv[k];
            size_t i;
            for (i = 0; i < f->n && strcmp(f->files[i].path, path) != 0; i++) {}
            if (i == f->n) {
                if (f->n == f->cap) {
                    size_t cap = f->cap ? 2 * f->cap : 8;
                    sd_file_t *nf = realloc(f->files, cap * sizeof *nf);
                    if (!nf) continue;
                    f->files = nf;
                    f->cap = cap;
                }
                f->files[i] = (sd_file_t){.path = strdup(path)};
                if (!f->files[i].path) continue;
                f->n++;
            }
            f->files[i].seen = true;
            changed |= file_refresh(&f->files[i], force);
        }
        globfree(&gl);
    }
    /* files that vanished take their targets with them */
    for (size_t i = 0; i < f->n;) {
        if (f->files[i].seen) {
            i++;
            continue;
        }
        changed |= f->files[i].n > 0;
        free(f->files[i].path);
        st_target_groups_free(f->files[i].groups, f->files[i].n);
        f->files[i] = f->files[--f->n];
    }
    return changed;
}

static bool http_sd_poll(http_sd_t *h, int64_t now) {
    if (now < h->next_ms) return false;
    h->next_ms = now + h->cfg->refresh_interval_ms;
    st_http_resp_t resp = {0};
    int rc = st_http_get(h->cfg->url, HTTP_SD_TIMEOUT_MS, &resp);
    st_target_group_t *g = NULL;
    size_t n = 0;
    if (!rc && resp.status != 200)
        rc = st_errorf(ST_EIO, "server returned HTTP status %ld", resp.status);
    if (!rc && (!resp.content_type || strncmp(resp.content_type, "application/json", 16) != 0))
        rc = st_errorf(ST_ECORRUPT, "unsupported content type \"%s\"", resp.content_type ? resp.content_type : "");
    if (!rc) rc = st_target_groups_parse(&g, &n, resp.body, resp.len, true, h->cfg->url);
    st_http_resp_free(&resp);
    if (rc) {
        st_log(ST_LOG_ERROR, "Unable to refresh target groups", "discovery", "http", "url", h->cfg->url, "err",
               st_errdetail(rc), NULL);
        return false;
    }
    st_target_groups_free(h->groups, h->n);
    h->groups = g;
    h->n = n;
    return true;
}

/* ---- building the target set ---- */

typedef struct {
    target_set_t *set;
    size_t cap_active, cap_dropped;
    size_t job_start; /* first active index of the current job */
} set_builder_t;

static int add_group(set_builder_t *sb, const st_scrape_config_t *sc, const st_target_group_t *g,
                     const st_label_t *meta, size_t n_meta) {
    target_set_t *s = sb->set;
    for (size_t t = 0; t < g->n_targets; t++) {
        target_spec_t spec;
        bool keep;
        int rc = target_populate(sc, &g->labels, g->targets[t], meta, n_meta, &spec, &keep);
        if (rc == ST_ENOMEM) return rc;
        if (rc) {
            st_log(ST_LOG_ERROR, "Creating target failed", "scrape_pool", sc->job_name, "err", st_errdetail(rc), NULL);
            st_labels_free(&spec.discovered);
            continue;
        }
        if (!keep) {
            if (s->n_dropped == sb->cap_dropped) {
                size_t cap = sb->cap_dropped ? 2 * sb->cap_dropped : 16;
                dropped_target_t *d = realloc(s->dropped, cap * sizeof *d);
                if (!d) {
                    st_labels_free(&spec.discovered);
                    return st_errorf(ST_ENOMEM, "discovery: dropped targets");
                }
                s->dropped = d;
                sb->cap_dropped = cap;
            }
            s->dropped[s->n_dropped++] = (dropped_target_t){sc, spec.discovered};
            continue;
        }
        bool dup = false;
        for (size_t i = sb->job_start; i < s->n_active && !dup; i++) dup = s->active[i].key == spec.key;
        if (dup) {
            target_spec_clear(&spec);
            continue;
        }
        if (s->n_active == sb->cap_active) {
            size_t cap = sb->cap_active ? 2 * sb->cap_active : 16;
            target_spec_t *a = realloc(s->active, cap * sizeof *a);
            if (!a) {
                target_spec_clear(&spec);
                return st_errorf(ST_ENOMEM, "discovery: targets");
            }
            s->active = a;
            sb->cap_active = cap;
        }
        s->active[s->n_active++] = spec;
    }
    return ST_OK;
}

static int build_set(discovery_t *d, target_set_t **out) {
    set_builder_t sb = {0};
    int rc = ST_OK;
    if (!(sb.set = calloc(1, sizeof *sb.set))) return st_errorf(ST_ENOMEM, "discovery: target set");
    sb.set->cfg = config_ref(d->cfg);
    for (size_t j = 0; j < d->n_jobs && !rc; j++) {
        job_sd_t *js = &d->jobs[j];
        const st_scrape_config_t *sc = js->sc;
        sb.job_start = sb.set->n_active;
        for (size_t g = 0; g < sc->n_static_configs && !rc; g++) rc = add_group(&sb, sc, &sc->static_configs[g], NULL, 0);
        for (size_t i = 0; i < sc->n_file_sd_configs && !rc; i++)
            for (size_t f = 0; f < js->files[i].n && !rc; f++) {
                st_label_t meta = st_label("__meta_filepath", js->files[i].files[f].path);
                for (size_t g = 0; g < js->files[i].files[f].n && !rc; g++)
                    rc = add_group(&sb, sc, &js->files[i].files[f].groups[g], &meta, 1);
            }
        for (size_t i = 0; i < sc->n_http_sd_configs && !rc; i++) {
            st_label_t meta = st_label("__meta_url", js->https[i].cfg->url);
            for (size_t g = 0; g < js->https[i].n && !rc; g++) rc = add_group(&sb, sc, &js->https[i].groups[g], &meta, 1);
        }
        size_t n = sb.set->n_active - sb.job_start;
        if (!rc && sc->target_limit && n > sc->target_limit) {
            st_log(ST_LOG_ERROR, "target_limit exceeded: no target of the job is scraped", "scrape_pool", sc->job_name,
                   NULL);
            for (size_t i = sb.job_start; i < sb.set->n_active; i++) target_spec_clear(&sb.set->active[i]);
            sb.set->n_active = sb.job_start;
        }
    }
    if (rc) {
        target_set_free(sb.set);
        return rc;
    }
    *out = sb.set;
    return ST_OK;
}

static void *discovery_main(void *arg) {
    discovery_t *d = arg;
    for (;;) {
        bool changed = false;
        pthread_mutex_lock(&d->mu);
        if (d->stop) {
            pthread_mutex_unlock(&d->mu);
            break;
        }
        config_t *nc = d->pending;
        d->pending = NULL;
        pthread_mutex_unlock(&d->mu);
        if (nc) {
            jobs_free(d);
            config_unref(d->cfg);
            d->cfg = nc;
            if (jobs_init(d)) {
                st_log(ST_LOG_ERROR, "discovery: out of memory", NULL);
                jobs_free(d);
            }
            changed = true;
        }
        int64_t now = now_ms();
        for (size_t j = 0; j < d->n_jobs; j++) {
            for (size_t i = 0; i < d->jobs[j].sc->n_file_sd_configs; i++) changed |= file_sd_poll(&d->jobs[j].files[i], now);
            for (size_t i = 0; i < d->jobs[j].sc->n_http_sd_configs; i++) changed |= http_sd_poll(&d->jobs[j].https[i], now);
        }
        if (changed && d->cfg) {
            target_set_t *set;
            int rc = build_set(d, &set);
            if (rc) st_log(ST_LOG_ERROR, "building targets failed", "err", st_errdetail(rc), NULL);
            else d->fn(d->ctx, set);
        }
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += SD_POLL_MS / 1000;
        pthread_mutex_lock(&d->mu);
        while (!d->stop && !d->pending)
            if (pthread_cond_timedwait(&d->cv, &d->mu, &dl) != 0) break;
        pthread_mutex_unlock(&d->mu);
    }
    return NULL;
}

int discovery_start(discovery_t **out, publish_fn fn, void *ctx) {
    discovery_t *d = calloc(1, sizeof *d);
    if (!d) return st_errorf(ST_ENOMEM, "discovery: allocating");
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    d->fn = fn;
    d->ctx = ctx;
    int e = pthread_create(&d->thread, NULL, discovery_main, d);
    if (e) {
        pthread_mutex_destroy(&d->mu);
        pthread_cond_destroy(&d->cv);
        free(d);
        return st_errorf(ST_EIO, "discovery: starting thread: %s", strerror(e));
    }
    *out = d;
    return ST_OK;
}

void discovery_set_config(discovery_t *d, config_t *cfg) {
    pthread_mutex_lock(&d->mu);
    config_unref(d->pending);
    d->pending = config_ref(cfg);
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

void discovery_stop(discovery_t *d) {
    if (!d) return;
    pthread_mutex_lock(&d->mu);
    d->stop = true;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    jobs_free(d);
    config_unref(d->cfg);
    config_unref(d->pending);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    free(d);
}
