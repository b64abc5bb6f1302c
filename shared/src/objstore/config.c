/*
 * objstore.yml — the Thanos bucket configuration document, parsed with
 * libyaml's document loader:
 *
 *   type: FILESYSTEM | S3          (case-insensitive, as Thanos)
 *   config:                        mapping of backend keys, see objstore.h
 *   prefix: ""                     (Thanos's bucket prefix; only "" accepted)
 *
 * S3 keys beyond objstore.h's list, all Thanos's own: max_retries (0..20,
 * default 4: retries after the first attempt), http_config.insecure_skip_verify,
 * bucket_lookup_type (auto|path: we always address path-style),
 * list_objects_version (v2). http_config's Go transport timeouts are
 * accepted and not acted on (the curl transport has its own).
 *
 * Unknown keys are an error, as with Thanos's strict unmarshalling. S3 keys
 * that Thanos knows but Strata does not act on are accepted only with their
 * neutral values, so a config never silently means something else. Error
 * details name the line and key, never a credential's value.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "objstore_int.h"
#include "strata/err.h"

#define CFG_ERR(node, ...) cfg_err((node), __VA_ARGS__)

static int __attribute__((format(printf, 2, 3))) cfg_err(const yaml_node_t *node, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (node) return st_errorf(ST_EINVAL, "objstore config: line %zu: %s", node->start_mark.line + 1, msg);
    return st_errorf(ST_EINVAL, "objstore config: %s", msg);
}

static const char *scalar(const yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A scalar value as an owned string; a NUL inside the value is refused
 * because it would silently cut the value short. */
static int get_str(const yaml_node_t *v, const char *key, char **out) {
    const char *s = scalar(v);
    if (!s) return CFG_ERR(v, "%s: expected a string", key);
    if (strlen(s) != v->data.scalar.length) return CFG_ERR(v, "%s: contains a NUL byte", key);
    char *d = strdup(s);
    if (!d) return st_errorf(ST_ENOMEM, "objstore config: out of memory");
    free(*out);
    *out = d;
    return ST_OK;
}

/* YAML 1.1 booleans, as Go's yaml.v2 reads them. */
static int get_bool(const yaml_node_t *v, const char *key, bool *out) {
    static const char *const yes[] = {"true", "yes", "on", "y"};
    static const char *const no[] = {"false", "no", "off", "n"};
    const char *s = scalar(v);
    if (s) {
        for (size_t i = 0; i < 4; i++) {
            if (!strcasecmp(s, yes[i])) return *out = true, ST_OK;
            if (!strcasecmp(s, no[i])) return *out = false, ST_OK;
        }
    }
    return CFG_ERR(v, "%s: expected true or false", key);
}

static int get_u64(const yaml_node_t *v, const char *key, uint64_t *out) {
    const char *s = scalar(v);
    if (!s || !isdigit((unsigned char)s[0])) return CFG_ERR(v, "%s: expected a non-negative integer", key);
    errno = 0;
    char *end;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end) return CFG_ERR(v, "%s: expected a non-negative integer", key);
    *out = x;
    return ST_OK;
}

static bool is_empty_value(const yaml_node_t *v) {
    if (!v) return true;
    switch (v->type) {
    case YAML_SCALAR_NODE: {
        const char *s = (const char *)v->data.scalar.value;
        return !*s || !strcmp(s, "~") || !strcasecmp(s, "null") || !strcasecmp(s, "false");
    }
    case YAML_MAPPING_NODE: return v->data.mapping.pairs.start == v->data.mapping.pairs.top;
    case YAML_SEQUENCE_NODE: return v->data.sequence.items.start == v->data.sequence.items.top;
    default: return true;
    }
}

/* host or host:port, with [v6]:port; no scheme, path or userinfo. */
static bool valid_endpoint(const char *e) {
    if (!*e || strlen(e) > 255) return false;
    for (const char *p = e; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(".-:[]_", *p)) return false;
    return true;
}

static bool valid_bucket(const char *b) {
    size_t n = strlen(b);
    if (n < 1 || n > 255) return false;
    for (const char *p = b; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(".-_", *p)) return false;
    return true;
}

static int parse_http_config(yaml_document_t *doc, yaml_node_t *m, st_objstore_config_t *cfg) {
    if (m->type != YAML_MAPPING_NODE) return CFG_ERR(m, "http_config: expected a mapping");
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
        const char *key = scalar(k);
        if (!key) return CFG_ERR(k, "http_config: expected a string key");
        if (!strcmp(key, "insecure_skip_verify")) {
            int rc = get_bool(v, "http_config.insecure_skip_verify", &cfg->insecure_skip_verify);
            if (rc) return rc;
            continue;
        }
        /* Go transport tuning (timeouts, idle connections): the curl
         * transport has its own fixed timeouts, so these are accepted and
         * not acted on; anything else is a typo. */
        static const char *const tuning[] = {
            "idle_conn_timeout", "response_header_timeout", "tls_handshake_timeout",
            "expect_continue_timeout", "max_idle_conns", "max_idle_conns_per_host",
            "max_conns_per_host", "disable_compression"};
        bool known = false;
        for (size_t i = 0; i < sizeof tuning / sizeof tuning[0]; i++) known |= !strcmp(key, tuning[i]);
        if (!known) return CFG_ERR(k, "http_config: unknown key \"%s\"", key);
    }
    return ST_OK;
}

static int parse_s3(yaml_document_t *doc, yaml_node_t *m, st_objstore_config_t *cfg) {
    int rc = ST_OK;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
        const char *key = scalar(k);
        if (!key) return CFG_ERR(k, "config: expected a string key");
        if (!strcmp(key, "bucket")) rc = get_str(v, key, &cfg->bucket);
        else if (!strcmp(key, "endpoint")) rc = get_str(v, key, &cfg->endpoint);
        else if (!strcmp(key, "region")) rc = get_str(v, key, &cfg->region);
        else if (!strcmp(key, "access_key")) rc = get_str(v, key, &cfg->access_key);
        else if (!strcmp(key, "secret_key")) rc = get_str(v, key, &cfg->secret_key);
        else if (!strcmp(key, "insecure")) rc = get_bool(v, key, &cfg->insecure);
        else if (!strcmp(key, "signature_version2")) rc = get_bool(v, key, &cfg->signature_version2);
        else if (!strcmp(key, "part_size")) rc = get_u64(v, key, &cfg->part_size);
        else if (!strcmp(key, "max_retries")) {
            uint64_t r;
            rc = get_u64(v, key, &r);
            if (!rc && r > 20) rc = CFG_ERR(v, "max_retries: %llu is more than 20", (unsigned long long)r);
            if (!rc) cfg->max_retries = (int)r;
        } else if (!strcmp(key, "http_config")) rc = parse_http_config(doc, v, cfg);
        else if (!strcmp(key, "bucket_lookup_type")) {
            const char *s = scalar(v);
            if (!s || (strcmp(s, "auto") && strcmp(s, "path")))
                rc = CFG_ERR(v, "bucket_lookup_type: only \"auto\" or \"path\" (path-style addressing)");
        } else if (!strcmp(key, "list_objects_version")) {
            const char *s = scalar(v);
            if (!s || (*s && strcmp(s, "v2")))
                rc = CFG_ERR(v, "list_objects_version: only \"v2\" is supported");
        } else if (!strcmp(key, "session_token") || !strcmp(key, "sse_config") ||
                   !strcmp(key, "aws_sdk_auth") || !strcmp(key, "sts_endpoint") ||
                   !strcmp(key, "put_user_metadata") || !strcmp(key, "trace") ||
                   !strcmp(key, "send_content_md5") || !strcmp(key, "disable_dualstack")) {
            /* Thanos keys whose non-default values would change behaviour we
             * do not implement; never echo the value (session_token is a secret). */
            if (!is_empty_value(v) && strcmp(key, "trace") && strcmp(key, "send_content_md5") &&
                strcmp(key, "disable_dualstack"))
                rc = CFG_ERR(v, "%s: not supported by Strata's S3 client", key);
        } else
            rc = CFG_ERR(k, "config: unknown S3 key \"%s\"", key);
        if (rc) return rc;
    }
    if (!cfg->bucket) return CFG_ERR(m, "S3: no bucket");
    if (!valid_bucket(cfg->bucket)) return CFG_ERR(m, "S3: invalid bucket name \"%s\"", cfg->bucket);
    if (!cfg->endpoint) return CFG_ERR(m, "S3: no endpoint (host:port)");
    if (!valid_endpoint(cfg->endpoint))
        return CFG_ERR(m, "S3: endpoint must be host:port without scheme or path, got \"%s\"", cfg->endpoint);
    if (!cfg->region || !*cfg->region) {
        free(cfg->region);
        if (!(cfg->region = strdup("us-east-1"))) return st_errorf(ST_ENOMEM, "objstore config: out of memory");
    }
    for (const char *r = cfg->region; *r; r++)
        if (!isalnum((unsigned char)*r) && *r != '-') return CFG_ERR(m, "S3: invalid region \"%s\"", cfg->region);
    if ((cfg->access_key && *cfg->access_key) != (cfg->secret_key && *cfg->secret_key))
        return CFG_ERR(m, "S3: access_key and secret_key must be given together");
    if (!cfg->access_key || !*cfg->access_key) {
        const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
        free(cfg->access_key);
        free(cfg->secret_key);
        cfg->access_key = cfg->secret_key = NULL;
        if (ak && *ak && sk && *sk) {
            cfg->access_key = strdup(ak);
            cfg->secret_key = strdup(sk);
            if (!cfg->access_key || !cfg->secret_key) return st_errorf(ST_ENOMEM, "objstore config: out of memory");
        }
    }
    /* The key goes into "KEY:SECRET" for curl; a ':' in the key would split wrongly. */
    if (cfg->access_key && strchr(cfg->access_key, ':'))
        return CFG_ERR(m, "S3: access_key must not contain ':'");
    if (cfg->part_size == 0) cfg->part_size = ST_OBJ_DEFAULT_PART_SIZE;
    if (cfg->part_size < ST_OBJ_MIN_PART_SIZE || cfg->part_size > ST_OBJ_MAX_PART_SIZE)
        return CFG_ERR(m, "S3: part_size %llu outside [5 MiB, 5 GiB]", (unsigned long long)cfg->part_size);
    return ST_OK;
}

static int parse_fs(yaml_document_t *doc, yaml_node_t *m, st_objstore_config_t *cfg) {
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
        const char *key = scalar(k);
        if (!key) return CFG_ERR(k, "config: expected a string key");
        if (strcmp(key, "directory")) return CFG_ERR(k, "config: unknown FILESYSTEM key \"%s\"", key);
        int rc = get_str(v, key, &cfg->directory);
        if (rc) return rc;
    }
    if (!cfg->directory || !*cfg->directory) return CFG_ERR(m, "FILESYSTEM: no directory");
    return ST_OK;
}

int st_objstore_config_parse(st_objstore_config_t *cfg, const char *yaml, size_t len) {
    memset(cfg, 0, sizeof *cfg);
    cfg->max_retries = ST_OBJ_DEFAULT_MAX_RETRIES;
    if (len > ST_OBJ_CONFIG_MAX_BYTES)
        return st_errorf(ST_EINVAL, "objstore config: %zu bytes, more than the limit of %zu", len,
                         ST_OBJ_CONFIG_MAX_BYTES);
    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_doc = false;
    int rc = ST_OK;
    if (!yaml_parser_initialize(&parser)) return st_errorf(ST_ENOMEM, "objstore config: out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = st_errorf(ST_EINVAL, "objstore config: line %zu: %s", parser.problem_mark.line + 1,
                       parser.problem ? parser.problem : "bad YAML");
        goto out;
    }
    have_doc = true;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        rc = CFG_ERR(NULL, "empty document");
        goto out;
    }
    if (root->type != YAML_MAPPING_NODE) {
        rc = CFG_ERR(root, "expected a mapping with type: and config:");
        goto out;
    }
    yaml_node_t *type = NULL, *conf = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key), *v = yaml_document_get_node(&doc, p->value);
        const char *key = scalar(k);
        if (!key) {
            rc = CFG_ERR(k, "expected a string key");
            goto out;
        }
        if (!strcmp(key, "type")) type = v;
        else if (!strcmp(key, "config")) conf = v;
        else if (!strcmp(key, "prefix")) {
            if (!is_empty_value(v)) {
                rc = CFG_ERR(v, "prefix: bucket prefixes are not supported");
                goto out;
            }
        } else {
            rc = CFG_ERR(k, "unknown key \"%s\"", key);
            goto out;
        }
    }
    const char *t = scalar(type);
    if (!t) {
        rc = CFG_ERR(type ? type : root, "type: expected FILESYSTEM or S3");
        goto out;
    }
    if (!strcasecmp(t, "FILESYSTEM")) cfg->type = ST_OBJ_FILESYSTEM;
    else if (!strcasecmp(t, "S3")) cfg->type = ST_OBJ_S3;
    else {
        rc = CFG_ERR(type, "type: unsupported bucket type \"%.64s\" (FILESYSTEM or S3)", t);
        goto out;
    }
    if (!conf || conf->type != YAML_MAPPING_NODE) {
        rc = CFG_ERR(conf ? conf : root, "config: expected a mapping");
        goto out;
    }
    rc = cfg->type == ST_OBJ_FILESYSTEM ? parse_fs(&doc, conf, cfg) : parse_s3(&doc, conf, cfg);
out:
    if (have_doc) yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc) st_objstore_config_free(cfg);
    return rc;
}

void st_objstore_config_free(st_objstore_config_t *cfg) {
    if (!cfg) return;
    free(cfg->directory);
    free(cfg->bucket);
    free(cfg->endpoint);
    free(cfg->access_key);
    if (cfg->secret_key) {
        explicit_bzero(cfg->secret_key, strlen(cfg->secret_key));
        free(cfg->secret_key);
    }
    free(cfg->region);
    memset(cfg, 0, sizeof *cfg);
}
