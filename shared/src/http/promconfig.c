/*
 * External labels out of Prometheus's GET /api/v1/status/config answer:
 *
 *   {"status":"success","data":{"yaml":"global:\n  external_labels:\n    k: v\n..."}}
 *
 * The YAML is the server's whole configuration, re-marshalled by
 * Prometheus; only the mapping global.external_labels (label name ->
 * scalar value) matters here. libyaml's document API keeps aliases as
 * references to existing nodes, so a hostile document cannot expand.
 */
#include "strata/httpclient.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "strata/err.h"

/* Label names as Prometheus's model.LabelName.IsValid: [a-zA-Z_][a-zA-Z0-9_]*. */
static bool valid_label_name(const char *s, size_t n) {
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

static bool scalar_is(const yaml_node_t *n, const char *s) {
    return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
           memcmp(n->data.scalar.value, s, n->data.scalar.length) == 0;
}

/* The value node of key `key` in mapping `map`, or NULL. A repeated key is
 * an error, as in Go's YAML decoder. */
static int map_get(yaml_document_t *doc, yaml_node_t *map, const char *key, const char *where, yaml_node_t **out) {
    *out = NULL;
    if (map->type != YAML_MAPPING_NODE)
        return st_errorf(ST_ECORRUPT, "prometheus config: %s (line %zu) is not a mapping", where,
                         map->start_mark.line + 1);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (!scalar_is(k, key)) continue;
        if (*out)
            return st_errorf(ST_ECORRUPT, "prometheus config: %s: key \"%s\" repeated (line %zu)", where, key,
                             k->start_mark.line + 1);
        *out = yaml_document_get_node(doc, p->value);
    }
    return ST_OK;
}

static int labels_from_yaml(const char *yaml, size_t len, st_labels_t *out) {
    yaml_parser_t parser;
    yaml_document_t doc;
    st_label_t *pairs = NULL;
    bool have_doc = false;
    int rc = ST_OK;
    if (!yaml_parser_initialize(&parser)) return st_errorf(ST_ENOMEM, "prometheus config: YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = st_errorf(ST_ECORRUPT, "prometheus config: YAML line %zu column %zu: %s", parser.problem_mark.line + 1,
                       parser.problem_mark.column + 1, parser.problem ? parser.problem : "parse error");
        goto out;
    }
    have_doc = true;
    yaml_node_t *root = yaml_document_get_root_node(&doc), *global = NULL, *ext = NULL;
    if (!root) goto out; /* empty document: no labels */
    if ((rc = map_get(&doc, root, "global", "top level", &global))) goto out;
    if (!global || (global->type == YAML_SCALAR_NODE && global->data.scalar.length == 0)) goto out;
    if ((rc = map_get(&doc, global, "external_labels", "global", &ext))) goto out;
    if (!ext || (ext->type == YAML_SCALAR_NODE && ext->data.scalar.length == 0)) goto out;
    if (ext->type != YAML_MAPPING_NODE) {
        rc = st_errorf(ST_ECORRUPT, "prometheus config: global.external_labels (line %zu) is not a mapping",
                       ext->start_mark.line + 1);
        goto out;
    }
    size_t n = (size_t)(ext->data.mapping.pairs.top - ext->data.mapping.pairs.start);
    if (n) {
        pairs = calloc(n, sizeof *pairs);
        if (!pairs) {
            rc = st_errorf(ST_ENOMEM, "prometheus config: %zu external labels", n);
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &ext->data.mapping.pairs.start[i];
        yaml_node_t *k = yaml_document_get_node(&doc, p->key), *v = yaml_document_get_node(&doc, p->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE) {
            rc = st_errorf(ST_ECORRUPT, "prometheus config: global.external_labels entry %zu (line %zu): not a "
                           "scalar name and value", i + 1, (k ? k->start_mark.line : ext->start_mark.line) + 1);
            goto out;
        }
        const char *name = (const char *)k->data.scalar.value, *value = (const char *)v->data.scalar.value;
        if (!valid_label_name(name, k->data.scalar.length)) {
            rc = st_errorf(ST_ECORRUPT, "prometheus config: global.external_labels (line %zu): invalid label name",
                           k->start_mark.line + 1);
            goto out;
        }
        /* label strings are NUL-terminated throughout Strata */
        if (memchr(value, 0, v->data.scalar.length)) {
            rc = st_errorf(ST_ECORRUPT, "prometheus config: external label %s: value contains a NUL byte", name);
            goto out;
        }
        pairs[i] = (st_label_t){name, value, k->data.scalar.length, v->data.scalar.length};
    }
    rc = st_labels_from_pairs(out, pairs, n);
    if (rc == ST_EINVAL)
        rc = st_errwrap(ST_ECORRUPT, "prometheus config: global.external_labels");
out:
    free(pairs);
    if (have_doc) yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int st_prom_external_labels(const char *json, size_t len, st_labels_t *out) {
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root)
        return st_errorf(ST_ECORRUPT, "prometheus config response: bad JSON at line %d column %d: %s", jerr.line,
                         jerr.column, jerr.text);
    int rc = ST_OK;
    json_t *status = json_object_get(root, "status"), *data = json_object_get(root, "data");
    json_t *yaml = json_object_get(data, "yaml");
    if (!json_is_string(status) || strcmp(json_string_value(status), "success") != 0) {
        json_t *err = json_object_get(root, "error");
        rc = st_errorf(ST_ECORRUPT, "prometheus config response: status is not \"success\"%s%s",
                       json_is_string(err) ? ": " : "", json_is_string(err) ? json_string_value(err) : "");
        goto out;
    }
    if (!json_is_string(yaml)) {
        rc = st_errorf(ST_ECORRUPT, "prometheus config response: data.yaml missing or not a string");
        goto out;
    }
    rc = labels_from_yaml(json_string_value(yaml), json_string_length(yaml), out);
out:
    json_decref(root);
    return rc;
}
