/*
 * prometheus.yml subset (see promconfig.h): parsing with libyaml's document
 * API (aliases stay references to one node; every visit counts against
 * ST_PROMCONFIG_MAX_NODES so an alias web cannot multiply work), defaults
 * and checks as Prometheus 2.42 applies them, and the YAML writer.
 *
 * The walk is schema-driven: each mapping is read by a table of known keys,
 * so unknown or repeated keys are reported with their line.
 */
#include "strata/promconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <yaml.h>

#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/flags.h"
#include "strata/textfmt.h"

#define DEFAULT_SCRAPE_INTERVAL 60000
#define DEFAULT_SCRAPE_TIMEOUT 10000
#define DEFAULT_EVAL_INTERVAL 60000
#define DEFAULT_FILE_SD_REFRESH 300000
#define DEFAULT_HTTP_SD_REFRESH 60000

typedef struct {
    yaml_document_t *doc;
    const char *name;
    size_t visited;
} ctx_t;

static int cfg_err(ctx_t *c, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int cfg_err(ctx_t *c, const yaml_node_t *n, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return st_errorf(ST_EINVAL, "%s:%zu: %s", c->name, n ? n->start_mark.line + 1 : 1, msg);
}

static int visit(ctx_t *c, const yaml_node_t *n) {
    if (++c->visited > ST_PROMCONFIG_MAX_NODES)
        return st_errorf(ST_ELIMIT, "%s:%zu: more than %zu YAML nodes (alias expansion?)", c->name,
                         n->start_mark.line + 1, (size_t)ST_PROMCONFIG_MAX_NODES);
    return ST_OK;
}

static yaml_node_t *node(ctx_t *c, int id) { return yaml_document_get_node(c->doc, id); }

/* YAML null: an empty plain scalar, "~" or "null" (any case Go accepts). */
static bool is_null(const yaml_node_t *n) {
    if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    const char *s = (const char *)n->data.scalar.value;
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static const char *scalar(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static int want_scalar(ctx_t *c, const yaml_node_t *n, const char *where) {
    if (n->type != YAML_SCALAR_NODE) return cfg_err(c, n, "%s: expected a string, got a %s", where,
                                                    n->type == YAML_MAPPING_NODE ? "mapping" : "sequence");
    /* strings with NUL bytes are truncated by libyaml's API: refuse them */
    if (strlen(scalar(n)) != n->data.scalar.length) return cfg_err(c, n, "%s: string contains a NUL byte", where);
    return ST_OK;
}

static int get_string(ctx_t *c, const yaml_node_t *n, const char *where, char **out) {
    int rc;
    if ((rc = want_scalar(c, n, where))) return rc;
    free(*out);
    *out = strdup(is_null(n) ? "" : scalar(n));
    return *out ? ST_OK : st_errorf(ST_ENOMEM, "%s: allocating", c->name);
}

static int get_duration(ctx_t *c, const yaml_node_t *n, const char *where, int64_t *out) {
    int rc;
    if ((rc = want_scalar(c, n, where))) return rc;
    if (is_null(n)) return ST_OK;
    if (st_duration_parse(scalar(n), out))
        return cfg_err(c, n, "%s: not a valid duration string: \"%s\"", where, scalar(n));
    return ST_OK;
}

static int get_bool(ctx_t *c, const yaml_node_t *n, const char *where, bool *out) {
    static const char *const t[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"};
    static const char *const f[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"};
    int rc;
    if ((rc = want_scalar(c, n, where))) return rc;
    if (is_null(n)) return ST_OK;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (strcmp(scalar(n), t[i]) == 0) return *out = true, ST_OK;
        if (strcmp(scalar(n), f[i]) == 0) return *out = false, ST_OK;
    }
    return cfg_err(c, n, "%s: cannot unmarshal \"%s\" into a bool", where, scalar(n));
}

static int get_uint(ctx_t *c, const yaml_node_t *n, const char *where, uint64_t *out) {
    int rc;
    if ((rc = want_scalar(c, n, where))) return rc;
    if (is_null(n)) return ST_OK;
    const char *s = scalar(n);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || *s == '-' || *s == '+' || *s == ' ')
        return cfg_err(c, n, "%s: cannot unmarshal \"%s\" into an unsigned integer", where, s);
    *out = v;
    return ST_OK;
}

/* units.Base2Bytes as Prometheus parses body_size_limit: 1024-based KB/KiB,
 * MB/MiB, ...; a bare number is bytes. */
static int get_bytes(ctx_t *c, const yaml_node_t *n, const char *where, uint64_t *out) {
    int rc;
    if ((rc = want_scalar(c, n, where))) return rc;
    if (is_null(n)) return ST_OK;
    if (st_bytes_parse(scalar(n), out)) return cfg_err(c, n, "%s: not a valid size: \"%s\"", where, scalar(n));
    return ST_OK;
}

/* ---- mappings read through key tables ---- */

typedef struct {
    const char *key;
    int (*fn)(ctx_t *c, yaml_node_t *v, void *dst, const char *where);
    size_t off;
} field_t;

static int read_map(ctx_t *c, yaml_node_t *n, const char *where, const field_t *fields, size_t nfields, void *dst) {
    int rc;
    if (!n || is_null(n)) return ST_OK;
    if (n->type != YAML_MAPPING_NODE) return cfg_err(c, n, "%s: expected a mapping", where);
    bool seen[64] = {0};
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
        if (!k || !v) return cfg_err(c, n, "%s: broken YAML node", where);
        if ((rc = visit(c, v))) return rc;
        if (k->type != YAML_SCALAR_NODE) return cfg_err(c, k, "%s: keys must be strings", where);
        size_t i;
        for (i = 0; i < nfields; i++)
            if (strcmp(fields[i].key, scalar(k)) == 0) break;
        if (i == nfields) return cfg_err(c, k, "%s: field %s not found (not supported by strata)", where, scalar(k));
        if (seen[i]) return cfg_err(c, k, "%s: mapping key \"%s\" already defined", where, scalar(k));
        seen[i] = true;
        char sub[256];
        snprintf(sub, sizeof sub, "%.180s.%.60s", where, scalar(k));
        if ((rc = fields[i].fn(c, v, (char *)dst + fields[i].off, sub))) return rc;
    }
    return ST_OK;
}

static int f_string(ctx_t *c, yaml_node_t *v, void *dst, const char *where) { return get_string(c, v, where, dst); }
static int f_duration(ctx_t *c, yaml_node_t *v, void *dst, const char *where) { return get_duration(c, v, where, dst); }
static int f_bool(ctx_t *c, yaml_node_t *v, void *dst, const char *where) { return get_bool(c, v, where, dst); }
static int f_uint(ctx_t *c, yaml_node_t *v, void *dst, const char *where) { return get_uint(c, v, where, dst); }
static int f_bytes(ctx_t *c, yaml_node_t *v, void *dst, const char *where) { return get_bytes(c, v, where, dst); }

/* Iterate a sequence (null = empty); fn gets each item with its index. */
typedef int (*item_fn)(ctx_t *c, yaml_node_t *item, size_t i, void *arg, const char *where);

static int each_item(ctx_t *c, yaml_node_t *n, const char *where, item_fn fn, void *arg, size_t *count) {
    int rc;
    *count = 0;
    if (is_null(n)) return ST_OK;
    if (n->type != YAML_SEQUENCE_NODE) return cfg_err(c, n, "%s: expected a list", where);
    size_t len = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *it = node(c, n->data.sequence.items.start[i]);
        if (!it) return cfg_err(c, n, "%s: broken YAML node", where);
        if ((rc = visit(c, it))) return rc;
        char sub[256];
        snprintf(sub, sizeof sub, "%.200s[%zu]", where, i);
        if ((rc = fn(c, it, i, arg, sub))) return rc;
        *count = i + 1;
    }
    return ST_OK;
}

static size_t seq_len(const yaml_node_t *n) {
    return n->type == YAML_SEQUENCE_NODE ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start) : 0;
}

static int alloc_array(ctx_t *c, const yaml_node_t *n, void **arr, size_t elem) {
    size_t len = seq_len(n);
    *arr = NULL;
    if (!len) return ST_OK;
    *arr = calloc(len, elem);
    return *arr ? ST_OK : st_errorf(ST_ENOMEM, "%s: allocating %zu entries", c->name, len);
}

static int item_string(ctx_t *c, yaml_node_t *it, size_t i, void *arg, const char *where) {
    char **arr = *(char ***)arg;
    return get_string(c, it, where, &arr[i]);
}

static int string_list(ctx_t *c, yaml_node_t *n, const char *where, char ***out, size_t *count) {
    int rc;
    if ((rc = alloc_array(c, n, (void **)out, sizeof(char *)))) return rc;
    return each_item(c, n, where, item_string, out, count);
}

/* A mapping of label name -> value (labels:, external_labels:). */
static int label_map(ctx_t *c, yaml_node_t *n, const char *where, st_labels_t *out) {
    int rc = ST_OK;
    st_labels_free(out);
    if (is_null(n)) return ST_OK;
    if (n->type != YAML_MAPPING_NODE) return cfg_err(c, n, "%s: expected a mapping of label names to values", where);
    size_t len = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    st_label_t *pairs = calloc(len ? len : 1, sizeof *pairs);
    if (!pairs) return st_errorf(ST_ENOMEM, "%s: allocating labels", c->name);
    for (size_t i = 0; i < len; i++) {
        yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
        yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
        if (!k || !v) {
            rc = cfg_err(c, n, "%s: broken YAML node", where);
            goto out;
        }
        if ((rc = visit(c, v)) || (rc = want_scalar(c, k, where)) || (rc = want_scalar(c, v, where))) goto out;
        if (!st_label_name_valid(scalar(k), k->data.scalar.length)) {
            rc = cfg_err(c, k, "%s: \"%s\" is not a valid label name", where, scalar(k));
            goto out;
        }
        const char *val = is_null(v) ? "" : scalar(v);
        if (!st_utf8_valid(val, strlen(val))) {
            rc = cfg_err(c, v, "%s: invalid UTF-8 in the value of label %s", where, scalar(k));
            goto out;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(pairs[j].name, scalar(k)) == 0) {
                rc = cfg_err(c, k, "%s: mapping key \"%s\" already defined", where, scalar(k));
                goto out;
            }
        pairs[i] = st_label(scalar(k), val);
    }
    rc = st_labels_from_pairs(out, pairs, len);
out:
    free(pairs);
    return rc;
}

static int f_labels(ctx_t *c, yaml_node_t *v, void *dst, const char *where) { return label_map(c, v, where, dst); }

/* ---- relabel rules ---- */

typedef struct {
    char **source_labels;
    size_t n_source_labels;
    char *separator, *regex, *target_label, *replacement, *action;
    uint64_t modulus;
} raw_rule_t;

static int f_strlist(ctx_t *c, yaml_node_t *v, void *dst, const char *where) {
    raw_rule_t *r = (raw_rule_t *)((char *)dst - offsetof(raw_rule_t, source_labels));
    return string_list(c, v, where, &r->source_labels, &r->n_source_labels);
}

static const field_t rule_fields[] = {
    {"source_labels", f_strlist, offsetof(raw_rule_t, source_labels)},
    {"separator", f_string, offsetof(raw_rule_t, separator)},
    {"regex", f_string, offsetof(raw_rule_t, regex)},
    {"modulus", f_uint, offsetof(raw_rule_t, modulus)},
    {"target_label", f_string, offsetof(raw_rule_t, target_label)},
    {"replacement", f_string, offsetof(raw_rule_t, replacement)},
    {"action", f_string, offsetof(raw_rule_t, action)},
};

static void spec_clear(st_relabel_spec_t *s) {
    for (size_t i = 0; i < s->n_source_labels; i++) free((char *)s->source_labels[i]);
    free((char **)s->source_labels);
    free((char *)s->separator);
    free((char *)s->regex);
    free((char *)s->target_label);
    free((char *)s->replacement);
}

void st_relabel_list_free(st_relabel_list_t *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) spec_clear(&l->specs[i]);
    free(l->specs);
    st_relabel_free(l->compiled);
    memset(l, 0, sizeof *l);
}

static int item_rule(ctx_t *c, yaml_node_t *it, size_t i, void *arg, const char *where) {
    st_relabel_list_t *l = arg;
    raw_rule_t raw = {0};
    int rc = read_map(c, it, where, rule_fields, sizeof rule_fields / sizeof rule_fields[0], &raw);
    st_relabel_spec_t *s = &l->specs[i];
    /* hand the strings to the spec even on error, so they are freed once */
    s->source_labels = (const char *const *)raw.source_labels;
    s->n_source_labels = raw.n_source_labels;
    s->separator = raw.separator;
    s->regex = raw.regex;
    s->target_label = raw.target_label;
    s->replacement = raw.replacement;
    s->modulus = raw.modulus;
    l->n = i + 1;
    if (rc == ST_OK && raw.action && !*raw.action) rc = cfg_err(c, it, "%s: relabel action cannot be empty", where);
    if (rc == ST_OK && raw.action && st_relabel_action_parse(raw.action, &s->action))
        rc = cfg_err(c, it, "%s: unknown relabel action \"%s\"", where, raw.action);
    free(raw.action);
    if (rc) return rc;
    /* validate this rule alone to report its line */
    st_relabel_t *one;
    if ((rc = st_relabel_new(&one, s, 1))) {
        const char *d = st_errdetail(rc);
        const char *msg = strstr(d, "): ");
        return cfg_err(c, it, "%s (%s): %s", where, st_relabel_action_name(s->action), msg ? msg + 3 : d);
    }
    st_relabel_free(one);
    return ST_OK;
}

static int relabel_list(ctx_t *c, yaml_node_t *n, const char *where, st_relabel_list_t *out) {
    int rc;
    st_relabel_list_free(out);
    if ((rc = alloc_array(c, n, (void **)&out->specs, sizeof *out->specs))) return rc;
    size_t count;
    if ((rc = each_item(c, n, where, item_rule, out, &count))) return rc;
    if (out->n && (rc = st_relabel_new(&out->compiled, out->specs, out->n)))
        return cfg_err(c, n, "%s: %s", where, st_errdetail(rc));
    return ST_OK;
}

static int f_relabel(ctx_t *c, yaml_node_t *v, void *dst, const char *where) { return relabel_list(c, v, where, dst); }

/* ---- target groups, SD configs, params ---- */

static int f_targets(ctx_t *c, yaml_node_t *v, void *dst, const char *where) {
    st_target_group_t *g = dst;
    return string_list(c, v, where, &g->targets, &g->n_targets);
}

static const field_t group_fields[] = {
    {"targets", f_targets, offsetof(st_target_group_t, targets)},
    {"labels", f_labels, offsetof(st_target_group_t, labels)},
};

static void groups_clear(st_target_group_t *g, size_t n) {
    for (size_t i = 0; g && i < n; i++) {
        for (size_t k = 0; k < g[i].n_targets; k++) free(g[i].targets[k]);
        free(g[i].targets);
        st_labels_free(&g[i].labels);
    }
}

void st_target_groups_free(st_target_group_t *g, size_t n) {
    groups_clear(g, n);
    free(g);
}

static int item_group(ctx_t *c, yaml_node_t *it, size_t i, void *arg, const char *where) {
    st_target_group_t *g = *(st_target_group_t **)arg;
    return read_map(c, it, where, group_fields, 2, &g[i]);
}

typedef struct {
    st_target_group_t *v;
    size_t n;
} groups_t;

static int f_groups(ctx_t *c, yaml_node_t *v, void *dst, const char *where) {
    groups_t *g = dst;
    int rc;
    if ((rc = alloc_array(c, v, (void **)&g->v, sizeof *g->v))) return rc;
    rc = each_item(c, v, where, item_group, &g->v, &g->n);
    if (rc && g->v) g->n = seq_len(v); /* free every slot that may hold data */
    return rc;
}

static int f_file_list(ctx_t *c, yaml_node_t *v, void *dst, const char *where) {
    st_file_sd_config_t *f = dst;
    return string_list(c, v, where, &f->files, &f->n_files);
}

static const field_t file_sd_fields[] = {
    {"files", f_file_list, offsetof(st_file_sd_config_t, files)},
    {"refresh_interval", f_duration, offsetof(st_file_sd_config_t, refresh_interval_ms)},
};

static int item_file_sd(ctx_t *c, yaml_node_t *it, size_t i, void *arg, const char *where) {
    st_file_sd_config_t *f = &(*(st_file_sd_config_t **)arg)[i];
    f->refresh_interval_ms = DEFAULT_FILE_SD_REFRESH;
    int rc = read_map(c, it, where, file_sd_fields, 2, f);
    if (rc) return rc;
    for (size_t k = 0; k < f->n_files; k++) {
        const char *p = f->files[k], *dot = strrchr(p, '.');
        const char *slash = strrchr(p, '/');
        if (!dot || (slash && dot < slash) ||
            (strcmp(dot, ".json") != 0 && strcmp(dot, ".yml") != 0 && strcmp(dot, ".yaml") != 0))
            return cfg_err(c, it, "%s: path name \"%s\" is not valid for file discovery (want *.json, *.yml, *.yaml)",
                           where, p);
        /* globs only in the last element, as Prometheus requires */
        if (slash && strpbrk(p, "*?[") && strpbrk(p, "*?[") < slash)
            return cfg_err(c, it, "%s: path name \"%s\" is not valid for file discovery (glob in a directory)", where, p);
    }
    if (f->refresh_interval_ms <= 0) return cfg_err(c, it, "%s: refresh_interval must be positive", where);
    return ST_OK;
}

typedef struct {
    st_file_sd_config_t *v;
    size_t n;
} file_sds_t;

static int f_file_sds(ctx_t *c, yaml_node_t *v, void *dst, const char *where) {
    file_sds_t *f = dst;
    int rc;
    if ((rc = alloc_array(c, v, (void **)&f->v, sizeof *f->v))) return rc;
    rc = each_item(c, v, where, item_file_sd, &f->v, &f->n);
    if (rc && f->v) f->n = seq_len(v);
    return rc;
}

static const field_t http_sd_fields[] = {
    {"url", f_string, offsetof(st_http_sd_config_t, url)},
    {"refresh_interval", f_duration, offsetof(st_http_sd_config_t, refresh_interval_ms)},
};

static int item_http_sd(ctx_t *c, yaml_node_t *it, size_t i, void *arg, const char *where) {
    st_http_sd_config_t *h = &(*(st_http_sd_config_t **)arg)[i];
    h->refresh_interval_ms = DEFAULT_HTTP_SD_REFRESH;
    int rc = read_map(c, it, where, http_sd_fields, 2, h);
    if (rc) return rc;
    if (!h->url || !*h->url) return cfg_err(c, it, "%s: URL is missing", where);
    if (strncmp(h->url, "http://", 7) != 0 && strncmp(h->url, "https://", 8) != 0)
        return cfg_err(c, it, "%s: URL scheme must be 'http' or 'https'", where);
    if (h->refresh_interval_ms <= 0) return cfg_err(c, it, "%s: refresh_interval must be positive", where);
    return ST_OK;
}

typedef struct {
    st_http_sd_config_t *v;
    size_t n;
} http_sds_t;

static int f_http_sds(ctx_t *c, yaml_node_t *v, void *dst, const char *where) {
    http_sds_t *h = dst;
    int rc;
    if ((rc = alloc_array(c, v, (void **)&h->v, sizeof *h->v))) return rc;
    rc = each_item(c, v, where, item_http_sd, &h->v, &h->n);
    if (rc && h->v) h->n = seq_len(v);
    return rc;
}

typedef struct {
    st_url_param_t *v;
    size_t n;
} params_t;

static int f_params(ctx_t *c, yaml_node_t *v, void *dst, const char *where) {
    params_t *p = dst;
    int rc;
    if (is_null(v)) return ST_OK;
    if (v->type != YAML_MAPPING_NODE) return cfg_err(c, v, "%s: expected a mapping of names to lists", where);
    size_t len = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    if (len && !(p->v = calloc(len, sizeof *p->v))) return st_errorf(ST_ENOMEM, "%s: allocating params", c->name);
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *k = node(c, v->data.mapping.pairs.start[i].key), *val = node(c, v->data.mapping.pairs.start[i].value);
        if (!k || !val) return cfg_err(c, v, "%s: broken YAML node", where);
        if ((rc = visit(c, val))) return rc;
        p->n = i + 1;
        if ((rc = get_string(c, k, where, &p->v[i].name))) return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->v[j].name, p->v[i].name) == 0)
                return cfg_err(c, k, "%s: mapping key \"%s\" already defined", where, p->v[i].name);
        if ((rc = string_list(c, val, where, &p->v[i].values, &p->v[i].n_values))) return rc;
    }
    return ST_OK;
}

/* ---- scrape configs ---- */

typedef struct {
    st_scrape_config_t sc;
    groups_t statics;
    file_sds_t files;
    http_sds_t https;
    params_t params;
} raw_scrape_t;

static const field_t scrape_fields[] = {
    {"job_name", f_string, offsetof(raw_scrape_t, sc.job_name)},
    {"scrape_interval", f_duration, offsetof(raw_scrape_t, sc.scrape_interval_ms)},
    {"scrape_timeout", f_duration, offsetof(raw_scrape_t, sc.scrape_timeout_ms)},
    {"metrics_path", f_string, offsetof(raw_scrape_t, sc.metrics_path)},
    {"scheme", f_string, offsetof(raw_scrape_t, sc.scheme)},
    {"params", f_params, offsetof(raw_scrape_t, params)},
    {"honor_labels", f_bool, offsetof(raw_scrape_t, sc.honor_labels)},
    {"honor_timestamps", f_bool, offsetof(raw_scrape_t, sc.honor_timestamps)},
    {"sample_limit", f_uint, offsetof(raw_scrape_t, sc.sample_limit)},
    {"label_limit", f_uint, offsetof(raw_scrape_t, sc.label_limit)},
    {"label_name_length_limit", f_uint, offsetof(raw_scrape_t, sc.label_name_length_limit)},
    {"label_value_length_limit", f_uint, offsetof(raw_scrape_t, sc.label_value_length_limit)},
    {"target_limit", f_uint, offsetof(raw_scrape_t, sc.target_limit)},
    {"body_size_limit", f_bytes, offsetof(raw_scrape_t, sc.body_size_limit)},
    {"label_value_limit_per_name", f_uint, offsetof(raw_scrape_t, sc.label_value_limit_per_name)},
    {"static_configs", f_groups, offsetof(raw_scrape_t, statics)},
    {"file_sd_configs", f_file_sds, offsetof(raw_scrape_t, files)},
    {"http_sd_configs", f_http_sds, offsetof(raw_scrape_t, https)},
    {"relabel_configs", f_relabel, offsetof(raw_scrape_t, sc.relabel_configs)},
    {"metric_relabel_configs", f_relabel, offsetof(raw_scrape_t, sc.metric_relabel_configs)},
};

static void scrape_clear(st_scrape_config_t *s) {
    free(s->job_name);
    free(s->metrics_path);
    free(s->scheme);
    for (size_t i = 0; i < s->n_params; i++) {
        free(s->params[i].name);
        for (size_t k = 0; k < s->params[i].n_values; k++) free(s->params[i].values[k]);
        free(s->params[i].values);
    }
    free(s->params);
    st_target_groups_free(s->static_configs, s->n_static_configs);
    for (size_t i = 0; i < s->n_file_sd_configs; i++) {
        for (size_t k = 0; k < s->file_sd_configs[i].n_files; k++) free(s->file_sd_configs[i].files[k]);
        free(s->file_sd_configs[i].files);
    }
    free(s->file_sd_configs);
    for (size_t i = 0; i < s->n_http_sd_configs; i++) free(s->http_sd_configs[i].url);
    free(s->http_sd_configs);
    st_relabel_list_free(&s->relabel_configs);
    st_relabel_list_free(&s->metric_relabel_configs);
}

void st_promconfig_free(st_promconfig_t *c) {
    if (!c) return;
    st_labels_free(&c->external_labels);
    for (size_t i = 0; i < c->n_scrape_configs; i++) scrape_clear(&c->scrape_configs[i]);
    free(c->scrape_configs);
    free(c);
}

static int item_scrape(ctx_t *c, yaml_node_t *it, size_t i, void *arg, const char *where) {
    st_promconfig_t *cfg = arg;
    raw_scrape_t raw = {.sc = {.honor_timestamps = true,
                               .label_value_limit_per_name = ST_PROMCONFIG_DEFAULT_LABEL_VALUE_LIMIT}};
    int rc = read_map(c, it, where, scrape_fields, sizeof scrape_fields / sizeof scrape_fields[0], &raw);
    st_scrape_config_t *s = &cfg->scrape_configs[i];
    *s = raw.sc;
    s->static_configs = raw.statics.v;
    s->n_static_configs = raw.statics.n;
    s->file_sd_configs = raw.files.v;
    s->n_file_sd_configs = raw.files.n;
    s->http_sd_configs = raw.https.v;
    s->n_http_sd_configs = raw.https.n;
    s->params = raw.params.v;
    s->n_params = raw.params.n;
    cfg->n_scrape_configs = i + 1;
    if (rc) return rc;

    char label[300];
    if (!s->job_name || !*s->job_name) return cfg_err(c, it, "%s: job_name is empty", where);
    snprintf(label, sizeof label, "%s (job \"%s\")", where, s->job_name);
    for (size_t k = 0; k < i; k++)
        if (strcmp(cfg->scrape_configs[k].job_name, s->job_name) == 0)
            return cfg_err(c, it, "found multiple scrape configs with job name \"%s\"", s->job_name);
    if (!s->scheme && !(s->scheme = strdup("http"))) return st_errorf(ST_ENOMEM, "%s: allocating", c->name);
    if (strcmp(s->scheme, "http") != 0 && strcmp(s->scheme, "https") != 0)
        return cfg_err(c, it, "%s: unknown scheme \"%s\" (want http or https)", label, s->scheme);
    if (!s->metrics_path && !(s->metrics_path = strdup("/metrics")))
        return st_errorf(ST_ENOMEM, "%s: allocating", c->name);
    if (s->scrape_interval_ms < 0 || s->scrape_timeout_ms < 0)
        return cfg_err(c, it, "%s: negative duration", label);
    if (s->scrape_interval_ms == 0) s->scrape_interval_ms = cfg->scrape_interval_ms;
    if (s->scrape_timeout_ms > s->scrape_interval_ms)
        return cfg_err(c, it, "%s: scrape timeout greater than scrape interval for scrape config with job name \"%s\"",
                       label, s->job_name);
    if (s->scrape_timeout_ms == 0)
        s->scrape_timeout_ms = cfg->scrape_timeout_ms > s->scrape_interval_ms ? s->scrape_interval_ms
                                                                              : cfg->scrape_timeout_ms;
    for (size_t g = 0; g < s->n_static_configs; g++)
        for (size_t t = 0; t < s->static_configs[g].n_targets; t++) {
            const char *tg = s->static_configs[g].targets[t];
            if (!*tg || strchr(tg, '/'))
                return cfg_err(c, it, "%s: static_configs[%zu]: \"%s\" is not a valid hostname", label, g, tg);
        }
    return ST_OK;
}

static int f_scrapes(ctx_t *c, yaml_node_t *v, void *dst, const char *where) {
    st_promconfig_t *cfg = (st_promconfig_t *)((char *)dst - offsetof(st_promconfig_t, scrape_configs));
    int rc;
    if ((rc = alloc_array(c, v, (void **)&cfg->scrape_configs, sizeof *cfg->scrape_configs))) return rc;
    size_t count;
    return each_item(c, v, where, item_scrape, cfg, &count);
}

static const field_t global_fields[] = {
    {"scrape_interval", f_duration, offsetof(st_promconfig_t, scrape_interval_ms)},
    {"scrape_timeout", f_duration, offsetof(st_promconfig_t, scrape_timeout_ms)},
    {"evaluation_interval", f_duration, offsetof(st_promconfig_t, evaluation_interval_ms)},
    {"external_labels", f_labels, offsetof(st_promconfig_t, external_labels)},
};

static int f_global(ctx_t *c, yaml_node_t *v, void *dst, const char *where) {
    st_promconfig_t *cfg = dst;
    int rc = read_map(c, v, where, global_fields, sizeof global_fields / sizeof global_fields[0], cfg);
    if (rc) return rc;
    if (cfg->scrape_interval_ms < 0 || cfg->scrape_timeout_ms < 0 || cfg->evaluation_interval_ms < 0)
        return cfg_err(c, v, "global: negative duration");
    if (cfg->scrape_interval_ms == 0) cfg->scrape_interval_ms = DEFAULT_SCRAPE_INTERVAL;
    if (cfg->scrape_timeout_ms > cfg->scrape_interval_ms)
        return cfg_err(c, v, "global scrape timeout greater than scrape interval");
    if (cfg->scrape_timeout_ms == 0)
        cfg->scrape_timeout_ms = DEFAULT_SCRAPE_TIMEOUT > cfg->scrape_interval_ms ? cfg->scrape_interval_ms
                                                                                  : DEFAULT_SCRAPE_TIMEOUT;
    if (cfg->evaluation_interval_ms == 0) cfg->evaluation_interval_ms = DEFAULT_EVAL_INTERVAL;
    return ST_OK;
}

/* The root mapping: global first (scrape configs default from it), then
 * scrape_configs, whatever their order in the file. */
static int parse_root(ctx_t *c, yaml_node_t *root, st_promconfig_t *cfg) {
    yaml_node_t *global = NULL, *scrapes = NULL;
    int rc;
    if (root && !is_null(root)) {
        if (root->type != YAML_MAPPING_NODE) return cfg_err(c, root, "top level: expected a mapping");
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
            yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
            if (!k || !v || k->type != YAML_SCALAR_NODE) return cfg_err(c, root, "top level: keys must be strings");
            if ((rc = visit(c, v))) return rc;
            yaml_node_t **slot = strcmp(scalar(k), "global") == 0           ? &global
                                 : strcmp(scalar(k), "scrape_configs") == 0 ? &scrapes
                                                                            : NULL;
            if (!slot) return cfg_err(c, k, "top level: field %s not found (not supported by strata)", scalar(k));
            if (*slot) return cfg_err(c, k, "top level: mapping key \"%s\" already defined", scalar(k));
            *slot = v;
        }
    }
    if ((rc = f_global(c, global, cfg, "global"))) return rc;
    return scrapes ? f_scrapes(c, scrapes, &cfg->scrape_configs, "scrape_configs") : ST_OK;
}

/* Load the single document of a YAML text. *empty when there is none. */
static int load_doc(yaml_document_t *doc, const char *text, size_t len, const char *name, bool *empty) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return st_errorf(ST_ENOMEM, "%s: YAML parser", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = ST_OK;
    if (!yaml_parser_load(&parser, doc)) {
        rc = st_errorf(ST_EINVAL, "%s:%zu: YAML error: %s%s%s", name, parser.problem_mark.line + 1,
                       parser.problem ? parser.problem : "malformed", parser.context ? " " : "",
                       parser.context ? parser.context : "");
        goto out;
    }
    *empty = yaml_document_get_root_node(doc) == NULL;
    if (!*empty) {
        /* a second document is not a config Prometheus would accept */
        yaml_document_t extra;
        if (!yaml_parser_load(&parser, &extra)) {
            yaml_document_delete(doc);
            rc = st_errorf(ST_EINVAL, "%s:%zu: YAML error: %s", name, parser.problem_mark.line + 1,
                           parser.problem ? parser.problem : "malformed");
            goto out;
        }
        bool more = yaml_document_get_root_node(&extra) != NULL;
        yaml_document_delete(&extra);
        if (more) {
            yaml_document_delete(doc);
            rc = st_errorf(ST_EINVAL, "%s: more than one YAML document", name);
        }
    } else {
        yaml_document_delete(doc);
    }
out:
    yaml_parser_delete(&parser);
    return rc;
}

int st_promconfig_parse(st_promconfig_t **out, const char *yaml, size_t len, const char *name) {
    *out = NULL;
    if (len > ST_PROMCONFIG_MAX_BYTES)
        return st_errorf(ST_ELIMIT, "%s: %zu bytes, more than the %zu allowed", name, len, ST_PROMCONFIG_MAX_BYTES);
    st_promconfig_t *cfg = calloc(1, sizeof *cfg);
    if (!cfg) return st_errorf(ST_ENOMEM, "%s: allocating config", name);
    yaml_document_t doc;
    bool empty = true;
    ctx_t c = {.doc = &doc, .name = name};
    int rc = load_doc(&doc, yaml, len, name, &empty);
    if (rc) goto out;
    rc = parse_root(&c, empty ? NULL : yaml_document_get_root_node(&doc), cfg);
    if (!empty) yaml_document_delete(&doc);
    if (rc) goto out;
    *out = cfg;
    cfg = NULL;
out:
    st_promconfig_free(cfg);
    return rc;
}

int st_promconfig_load(st_promconfig_t **out, const char *path) {
    *out = NULL;
    uint8_t *data;
    size_t len;
    int rc = st_file_read_all(path, ST_PROMCONFIG_MAX_BYTES, &data, &len);
    if (rc) return st_errwrap(rc, "config file");
    rc = st_promconfig_parse(out, (const char *)data, len, path);
    free(data);
    return rc;
}

int st_promconfig_parse_relabel(st_relabel_list_t *out, const char *yaml, size_t len, const char *name) {
    memset(out, 0, sizeof *out);
    if (len > ST_PROMCONFIG_MAX_BYTES)
        return st_errorf(ST_ELIMIT, "%s: %zu bytes, more than the %zu allowed", name, len, ST_PROMCONFIG_MAX_BYTES);
    yaml_document_t doc;
    bool empty = true;
    ctx_t c = {.doc = &doc, .name = name};
    int rc = load_doc(&doc, yaml, len, name, &empty);
    if (rc || empty) return rc;
    rc = relabel_list(&c, yaml_document_get_root_node(&doc), "relabel_configs", out);
    yaml_document_delete(&doc);
    if (rc) st_relabel_list_free(out);
    return rc;
}

int st_promconfig_load_selector_relabel(st_relabel_list_t *out, const char *file, const char *yaml) {
    memset(out, 0, sizeof *out);
    if (file && yaml)
        return st_errorf(ST_EINVAL,
                         "--selector.relabel-config-file and --selector.relabel-config are mutually exclusive");
    if (!file && !yaml) return ST_OK;
    if (!file) return st_promconfig_parse_relabel(out, yaml, strlen(yaml), "--selector.relabel-config");
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = st_file_read_all(file, ST_PROMCONFIG_MAX_BYTES, &data, &len);
    if (!rc) rc = st_promconfig_parse_relabel(out, (const char *)data, len, file);
    free(data);
    return rc;
}

/* ---- file_sd / http_sd documents ---- */

static int groups_json(st_target_group_t **out, size_t *n, const char *data, size_t len, const char *name) {
    json_error_t jerr;
    int rc = ST_OK;
    st_target_group_t *g = NULL;
    size_t ng = 0;
    st_label_t *pairs = NULL;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return st_errorf(ST_EINVAL, "%s:%d:%d: JSON error: %s", name, jerr.line, jerr.column, jerr.text);
    if (!json_is_array(root)) {
        rc = st_errorf(ST_EINVAL, "%s: expected a JSON list of target groups", name);
        goto out;
    }
    ng = json_array_size(root);
    if (ng && !(g = calloc(ng, sizeof *g))) {
        rc = st_errorf(ST_ENOMEM, "%s: allocating %zu groups", name, ng);
        goto out;
    }
    for (size_t i = 0; i < ng; i++) {
        json_t *grp = json_array_get(root, i), *targets, *labels;
        if (!json_is_object(grp)) {
            rc = st_errorf(ST_EINVAL, "%s: group %zu: expected an object", name, i);
            goto out;
        }
        const char *key;
        json_t *val;
        json_object_foreach(grp, key, val) {
            if (strcmp(key, "targets") != 0 && strcmp(key, "labels") != 0) {
                rc = st_errorf(ST_EINVAL, "%s: group %zu: unknown field \"%s\"", name, i, key);
                goto out;
            }
        }
        targets = json_object_get(grp, "targets");
        labels = json_object_get(grp, "labels");
        if (targets && !json_is_array(targets) && !json_is_null(targets)) {
            rc = st_errorf(ST_EINVAL, "%s: group %zu: targets must be a list of strings", name, i);
            goto out;
        }
        size_t nt = json_is_array(targets) ? json_array_size(targets) : 0;
        if (nt && !(g[i].targets = calloc(nt, sizeof(char *)))) {
            rc = st_errorf(ST_ENOMEM, "%s: allocating targets", name);
            goto out;
        }
        for (size_t t = 0; t < nt; t++) {
            json_t *s = json_array_get(targets, t);
            if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s)) {
                rc = st_errorf(ST_EINVAL, "%s: group %zu: target %zu is not a string", name, i, t);
                goto out;
            }
            if (!(g[i].targets[t] = strdup(json_string_value(s)))) {
                rc = st_errorf(ST_ENOMEM, "%s: allocating targets", name);
                goto out;
            }
            g[i].n_targets = t + 1;
        }
        if (labels && !json_is_object(labels) && !json_is_null(labels)) {
            rc = st_errorf(ST_EINVAL, "%s: group %zu: labels must be an object of strings", name, i);
            goto out;
        }
        size_t nl = json_is_object(labels) ? json_object_size(labels) : 0, k = 0;
        free(pairs);
        pairs = calloc(nl ? nl : 1, sizeof *pairs);
        if (!pairs) {
            rc = st_errorf(ST_ENOMEM, "%s: allocating labels", name);
            goto out;
        }
        json_object_foreach(labels, key, val) {
            if (!st_label_name_valid(key, strlen(key))) {
                rc = st_errorf(ST_EINVAL, "%s: group %zu: \"%s\" is not a valid label name", name, i, key);
                goto out;
            }
            if (!json_is_string(val) || strlen(json_string_value(val)) != json_string_length(val)) {
                rc = st_errorf(ST_EINVAL, "%s: group %zu: value of label %s is not a string", name, i, key);
                goto out;
            }
            pairs[k++] = st_label(key, json_string_value(val));
        }
        if ((rc = st_labels_from_pairs(&g[i].labels, pairs, k))) {
            rc = st_errwrap(rc, "%s: group %zu", name, i);
            goto out;
        }
    }
    *out = g;
    *n = ng;
    g = NULL;
out:
    free(pairs);
    st_target_groups_free(g, ng);
    json_decref(root);
    return rc;
}

int st_target_groups_parse(st_target_group_t **out, size_t *n, const char *data, size_t len, bool json,
                           const char *name) {
    *out = NULL;
    *n = 0;
    if (len > ST_PROMCONFIG_MAX_BYTES)
        return st_errorf(ST_ELIMIT, "%s: %zu bytes, more than the %zu allowed", name, len, ST_PROMCONFIG_MAX_BYTES);
    if (json) return groups_json(out, n, data, len, name);
    yaml_document_t doc;
    bool empty = true;
    ctx_t c = {.doc = &doc, .name = name};
    int rc = load_doc(&doc, data, len, name, &empty);
    if (rc || empty) return rc;
    groups_t g = {0};
    rc = f_groups(&c, yaml_document_get_root_node(&doc), &g, "groups");
    yaml_document_delete(&doc);
    if (rc) {
        st_target_groups_free(g.v, g.n);
        return rc;
    }
    *out = g.v;
    *n = g.n;
    return ST_OK;
}

/* ---- writer ---- */

void st_fmt_prom_duration(char out[32], int64_t ms) {
    static const struct { const char *u; int64_t ms; bool exact; } units[] = {
        {"y", 31536000000, true}, {"w", 604800000, true}, {"d", 86400000, false}, {"h", 3600000, false},
        {"m", 60000, false},      {"s", 1000, false},     {"ms", 1, false},
    };
    size_t n = 0;
    out[0] = 0;
    if (ms <= 0) {
        snprintf(out, 32, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (units[i].exact && ms % units[i].ms) continue;
        int64_t v = ms / units[i].ms;
        if (v <= 0) continue;
        n += (size_t)snprintf(out + n, 32 - n, "%lld%s", (long long)v, units[i].u);
        ms -= v * units[i].ms;
    }
}

/* A YAML scalar: plain when it reads back as the same string, otherwise
 * double-quoted with escapes. */
static void put_scalar(st_encbuf_t *b, const char *s) {
    static const char *const reserved[] = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"};
    bool plain = *s && !strchr("-?:,[]{}#&*!|>'\"%@` \t", s[0]) && s[strlen(s) - 1] != ' ' &&
                 !strstr(s, ": ") && !strstr(s, " #") && s[strlen(s) - 1] != ':';
    for (const char *p = s; plain && *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) plain = false;
    for (size_t i = 0; plain && i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcasecmp(s, reserved[i]) == 0) plain = false;
    if (plain) {
        char *end;
        (void)strtod(s, &end);
        if (*end == 0 || ((s[0] >= '0' && s[0] <= '9') || s[0] == '.')) plain = false;
    }
    if (plain) {
        st_put_cstr(b, s);
        return;
    }
    st_put_u8(b, '"');
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp = c;
        size_t k = c < 0x80 ? 1 : st_utf8_decode((const uint8_t *)s + i, len - i, &cp);
        if (k == 0) { /* not UTF-8 (never from libyaml): keep the byte's value */
            k = 1;
            cp = c;
        }
        if (cp == '"' || cp == '\\') {
            st_put_u8(b, '\\');
            st_put_u8(b, (uint8_t)cp);
        } else if (cp == '\n') {
            st_put_cstr(b, "\\n");
        } else if (cp == '\t') {
            st_put_cstr(b, "\\t");
        } else if (cp == 0x85) { /* YAML line breaks: escaped, or they fold */
            st_put_cstr(b, "\\N");
        } else if (cp == 0x2028) {
            st_put_cstr(b, "\\L");
        } else if (cp == 0x2029) {
            st_put_cstr(b, "\\P");
        } else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
            st_put_fmt(b, "\\x%02x", (unsigned)cp);
        } else if (cp == 0xfeff || cp == 0xfffe || cp == 0xffff) {
            st_put_fmt(b, "\\u%04x", (unsigned)cp);
        } else {
            st_put_bytes(b, s + i, k);
        }
        i += k;
    }
    st_put_u8(b, '"');
}

static void put_kv(st_encbuf_t *b, const char *indent, const char *k, const char *v) {
    st_put_fmt(b, "%s%s: ", indent, k);
    put_scalar(b, v);
    st_put_u8(b, '\n');
}

static void put_dur(st_encbuf_t *b, const char *indent, const char *k, int64_t ms) {
    char d[32];
    st_fmt_prom_duration(d, ms);
    st_put_fmt(b, "%s%s: %s\n", indent, k, d);
}

static void put_labels_map(st_encbuf_t *b, const char *indent, const st_labels_t *l) {
    for (size_t i = 0; i < l->n; i++) put_kv(b, indent, l->v[i].name, l->v[i].value);
}

static void put_relabels(st_encbuf_t *b, const char *key, const st_relabel_list_t *l) {
    if (!l->n) return;
    st_put_fmt(b, "  %s:\n", key);
    for (size_t i = 0; i < l->n; i++) {
        const st_relabel_spec_t *s = &l->specs[i];
        const char *ind = "  - ";
        if (s->n_source_labels) {
            st_put_fmt(b, "%ssource_labels:\n", ind);
            for (size_t k = 0; k < s->n_source_labels; k++) {
                st_put_cstr(b, "    - ");
                put_scalar(b, s->source_labels[k]);
                st_put_u8(b, '\n');
            }
            ind = "    ";
        }
        put_kv(b, ind, "separator", s->separator ? s->separator : ";");
        ind = "    ";
        put_kv(b, ind, "regex", s->regex ? s->regex : "(.*)");
        if (s->modulus) st_put_fmt(b, "%smodulus: %llu\n", ind, (unsigned long long)s->modulus);
        if (s->target_label && *s->target_label) put_kv(b, ind, "target_label", s->target_label);
        put_kv(b, ind, "replacement", s->replacement ? s->replacement : "$1");
        put_kv(b, ind, "action", st_relabel_action_name(s->action));
    }
}

static void put_bytes_size(st_encbuf_t *b, uint64_t v) {
    static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int i = 0;
    while (i < 6 && v && v % 1024 == 0) {
        v /= 1024;
        i++;
    }
    st_put_fmt(b, "%llu%s", (unsigned long long)v, u[i]);
}

void st_promconfig_write_yaml(const st_promconfig_t *c, st_encbuf_t *b) {
    st_put_cstr(b, "global:\n");
    put_dur(b, "  ", "scrape_interval", c->scrape_interval_ms);
    put_dur(b, "  ", "scrape_timeout", c->scrape_timeout_ms);
    put_dur(b, "  ", "evaluation_interval", c->evaluation_interval_ms);
    if (c->external_labels.n) {
        st_put_cstr(b, "  external_labels:\n");
        put_labels_map(b, "    ", &c->external_labels);
    }
    if (c->n_scrape_configs) st_put_cstr(b, "scrape_configs:\n");
    for (size_t i = 0; i < c->n_scrape_configs; i++) {
        const st_scrape_config_t *s = &c->scrape_configs[i];
        put_kv(b, "- ", "job_name", s->job_name);
        st_put_fmt(b, "  honor_labels: %s\n", s->honor_labels ? "true" : "false");
        st_put_fmt(b, "  honor_timestamps: %s\n", s->honor_timestamps ? "true" : "false");
        if (s->n_params) {
            st_put_cstr(b, "  params:\n");
            for (size_t k = 0; k < s->n_params; k++) {
                st_put_cstr(b, "    ");
                put_scalar(b, s->params[k].name);
                st_put_cstr(b, ":\n");
                for (size_t v = 0; v < s->params[k].n_values; v++) {
                    st_put_cstr(b, "    - ");
                    put_scalar(b, s->params[k].values[v]);
                    st_put_u8(b, '\n');
                }
            }
        }
        put_dur(b, "  ", "scrape_interval", s->scrape_interval_ms);
        put_dur(b, "  ", "scrape_timeout", s->scrape_timeout_ms);
        put_kv(b, "  ", "metrics_path", s->metrics_path);
        put_kv(b, "  ", "scheme", s->scheme);
        if (s->body_size_limit) {
            st_put_cstr(b, "  body_size_limit: ");
            put_bytes_size(b, s->body_size_limit);
            st_put_u8(b, '\n');
        }
        const struct { const char *k; uint64_t v; } lims[] = {
            {"sample_limit", s->sample_limit}, {"target_limit", s->target_limit}, {"label_limit", s->label_limit},
            {"label_name_length_limit", s->label_name_length_limit},
            {"label_value_length_limit", s->label_value_length_limit},
        };
        for (size_t k = 0; k < sizeof lims / sizeof lims[0]; k++)
            if (lims[k].v) st_put_fmt(b, "  %s: %llu\n", lims[k].k, (unsigned long long)lims[k].v);
        st_put_fmt(b, "  label_value_limit_per_name: %llu\n", (unsigned long long)s->label_value_limit_per_name);
        for (size_t k = 0; k < s->n_file_sd_configs; k++) {
            st_put_cstr(b, k ? "" : "  file_sd_configs:\n");
            for (size_t f = 0; f < s->file_sd_configs[k].n_files; f++) {
                st_put_cstr(b, f ? "    - " : "  - files:\n    - ");
                put_scalar(b, s->file_sd_configs[k].files[f]);
                st_put_u8(b, '\n');
            }
            put_dur(b, s->file_sd_configs[k].n_files ? "    " : "  - ", "refresh_interval",
                    s->file_sd_configs[k].refresh_interval_ms);
        }
        for (size_t k = 0; k < s->n_http_sd_configs; k++) {
            st_put_cstr(b, k ? "" : "  http_sd_configs:\n");
            put_kv(b, "  - ", "url", s->http_sd_configs[k].url);
            put_dur(b, "    ", "refresh_interval", s->http_sd_configs[k].refresh_interval_ms);
        }
        if (s->n_static_configs) st_put_cstr(b, "  static_configs:\n");
        for (size_t g = 0; g < s->n_static_configs; g++) {
            const st_target_group_t *tg = &s->static_configs[g];
            st_put_cstr(b, "  - targets:\n");
            for (size_t t = 0; t < tg->n_targets; t++) {
                st_put_cstr(b, "    - ");
                put_scalar(b, tg->targets[t]);
                st_put_u8(b, '\n');
            }
            if (tg->labels.n) {
                st_put_cstr(b, "    labels:\n");
                put_labels_map(b, "      ", &tg->labels);
            }
        }
        put_relabels(b, "relabel_configs", &s->relabel_configs);
        put_relabels(b, "metric_relabel_configs", &s->metric_relabel_configs);
    }
}
