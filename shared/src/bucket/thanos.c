/*
 * The JSON documents Thanos keeps next to a block (layouts in bucket.h):
 * the "thanos" section of meta.json and the marker files.
 *
 * Key order follows the Go structs Thanos marshals (labels, downsample,
 * source, segment_files, files; id, version, details, <time>, reason);
 * jansson keeps insertion order, and st_meta_encode re-indents the section
 * in MarshalIndent style. Go writes map keys sorted, as our labels are.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bucket_int.h"
#include "strata/err.h"

#define MARKER_MAX_BYTES ((size_t)1 << 20)

char *bucket_obj_name(const st_ulid_t *id, const char *rel) {
    char u[ST_ULID_TEXT_LEN + 1];
    st_ulid_format(id, u);
    size_t n = ST_ULID_TEXT_LEN + 1 + strlen(rel) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", u, rel);
    return s;
}

/* ---- thanos section ---- */

static int bad(const char *name, const char *field, const char *why) {
    return st_errorf(ST_ECORRUPT, "meta %s: thanos section: field \"%s\": %s", name, field, why);
}

static int parse_labels(st_thanos_t *out, json_t *obj, const char *name) {
    if (!obj || json_is_null(obj)) return ST_OK;
    if (!json_is_object(obj)) return bad(name, "labels", "not an object");
    size_t n = json_object_size(obj), i = 0;
    if (!n) return ST_OK;
    st_label_t *pairs = calloc(n, sizeof *pairs);
    if (!pairs) return st_errorf(ST_ENOMEM, "meta %s: %zu thanos labels", name, n);
    const char *key;
    json_t *v;
    int rc = ST_OK;
    json_object_foreach(obj, key, v) {
        if (!json_is_string(v)) {
            rc = bad(name, "labels", "a value is not a string");
            goto out;
        }
        pairs[i++] = (st_label_t){key, json_string_value(v), strlen(key), json_string_length(v)};
    }
    rc = st_labels_from_pairs(&out->labels, pairs, n);
    if (rc == ST_EINVAL) rc = st_errwrap(ST_ECORRUPT, "meta %s: thanos section: field \"labels\"", name);
out:
    free(pairs);
    return rc;
}

static int parse_files(st_thanos_t *out, json_t *arr, const char *name) {
    if (!arr || json_is_null(arr)) return ST_OK;
    if (!json_is_array(arr)) return bad(name, "files", "not an array");
    size_t n = json_array_size(arr);
    if (!n) return ST_OK;
    out->files = calloc(n, sizeof *out->files);
    if (!out->files) return st_errorf(ST_ENOMEM, "meta %s: %zu thanos files", name, n);
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_array_get(arr, i);
        json_t *rel = json_object_get(f, "rel_path"), *size = json_object_get(f, "size_bytes");
        if (!json_is_object(f) || !json_is_string(rel)) return bad(name, "files", "entry without a rel_path string");
        if (size && !json_is_null(size) && (!json_is_integer(size) || json_integer_value(size) < 0))
            return bad(name, "files.size_bytes", "not a non-negative integer");
        out->files[i].rel_path = strdup(json_string_value(rel));
        if (!out->files[i].rel_path) return st_errorf(ST_ENOMEM, "meta %s: thanos file", name);
        out->files[i].size = size && json_is_integer(size) ? (uint64_t)json_integer_value(size) : 0;
        out->nfiles++;
    }
    return ST_OK;
}

int st_thanos_parse(st_thanos_t *out, const char *json, const char *name) {
    memset(out, 0, sizeof *out);
    int rc = ST_OK;
    json_t *root = NULL;
    if (json) {
        json_error_t jerr;
        root = json_loads(json, 0, &jerr);
        if (!root || !json_is_object(root)) {
            rc = st_errorf(ST_ECORRUPT, "meta %s: thanos section: not a JSON object", name);
            goto out;
        }
        json_t *ver = json_object_get(root, "version"), *down = json_object_get(root, "downsample");
        json_t *res = json_object_get(down, "resolution"), *src = json_object_get(root, "source");
        if (ver && !json_is_null(ver) &&
            (!json_is_integer(ver) || (json_integer_value(ver) != 0 && json_integer_value(ver) != 1))) {
            rc = bad(name, "version", "unexpected thanos section version (want 1)");
            goto out;
        }
        if (down && !json_is_null(down) && !json_is_object(down)) {
            rc = bad(name, "downsample", "not an object");
            goto out;
        }
        if (res && !json_is_null(res)) {
            if (!json_is_integer(res) || json_integer_value(res) < 0) {
                rc = bad(name, "downsample.resolution", "not a non-negative integer");
                goto out;
            }
            out->resolution = (int64_t)json_integer_value(res);
        }
        if (src && !json_is_null(src) && !json_is_string(src)) {
            rc = bad(name, "source", "not a string");
            goto out;
        }
        out->source = strdup(json_is_string(src) ? json_string_value(src) : "");
        if (!out->source) {
            rc = st_errorf(ST_ENOMEM, "meta %s: thanos source", name);
            goto out;
        }
        if ((rc = parse_labels(out, json_object_get(root, "labels"), name)) ||
            (rc = parse_files(out, json_object_get(root, "files"), name)))
            goto out;
    } else {
        out->source = strdup("");
        if (!out->source) rc = st_errorf(ST_ENOMEM, "meta %s: thanos source", name);
    }
out:
    json_decref(root);
    if (rc) st_thanos_free(out);
    return rc;
}

void st_thanos_free(st_thanos_t *t) {
    if (!t) return;
    st_labels_free(&t->labels);
    free(t->source);
    for (size_t i = 0; i < t->nfiles; i++) free(t->files[i].rel_path);
    free(t->files);
    memset(t, 0, sizeof *t);
}

/* Set obj[key] = v, taking the reference; false on allocation failure. */
static bool set_new(json_t *obj, const char *key, json_t *v) { return v && json_object_set_new(obj, key, v) == 0; }

int bucket_thanos_json(const st_thanos_t *t, const char *existing, const st_thanos_file_t *files, size_t nfiles,
                       const char *name, char **out) {
    *out = NULL;
    json_t *root = NULL;
    int rc = ST_OK;
    bool ok;
    /* set_new() hands each new value to its parent at once (jansson frees it
     * on failure), so the single json_decref(root) below frees everything. */
    if (t) {
        if (!t->labels.n)
            return st_errorf(ST_EINVAL, "block %s: empty external labels are not allowed for Thanos blocks", name);
        root = json_object();
        json_t *labels = json_object();
        ok = set_new(root, "labels", labels);
        for (size_t i = 0; ok && i < t->labels.n; i++)
            ok = set_new(labels, t->labels.v[i].name, json_stringn(t->labels.v[i].value, t->labels.v[i].value_len));
        json_t *down = ok ? json_object() : NULL;
        ok = ok && set_new(root, "downsample", down) && set_new(down, "resolution", json_integer(t->resolution)) &&
             set_new(root, "source", json_string(t->source ? t->source : ""));
        if (!ok) {
            rc = st_errorf(ST_ENOMEM, "block %s: building the thanos section (labels and source must be UTF-8)", name);
            goto out;
        }
    } else {
        st_thanos_t own;
        if ((rc = st_thanos_parse(&own, existing, name))) return rc;
        size_t nl = own.labels.n;
        st_thanos_free(&own);
        if (!existing || !nl)
            return st_errorf(ST_EINVAL, "block %s: no thanos section with external labels in meta.json", name);
        root = json_loads(existing, 0, NULL);
        if (!root) return st_errorf(ST_ENOMEM, "block %s: copying the thanos section", name);
    }
    json_t *segs = json_array();
    ok = set_new(root, "segment_files", segs);
    json_t *farr = ok ? json_array() : NULL;
    ok = ok && set_new(root, "files", farr);
    for (size_t i = 0; ok && i < nfiles; i++) {
        json_t *f = json_object();
        ok = json_array_append_new(farr, f) == 0 && set_new(f, "rel_path", json_string(files[i].rel_path)) &&
             (!files[i].size || set_new(f, "size_bytes", json_integer((json_int_t)files[i].size))) &&
             (strncmp(files[i].rel_path, "chunks/", 7) != 0 ||
              json_array_append_new(segs, json_string(files[i].rel_path + 7)) == 0);
    }
    if (ok) *out = json_dumps(root, JSON_COMPACT);
    if (!*out) rc = st_errorf(ST_ENOMEM, "block %s: encoding the thanos section", name);
out:
    json_decref(root);
    return rc;
}

/* ---- markers ---- */

static const char *time_key(st_mark_kind_t k) {
    switch (k) {
    case ST_MARK_DELETION: return "deletion_time";
    case ST_MARK_NO_COMPACT: return "no_compact_time";
    case ST_MARK_NO_DOWNSAMPLE: break;
    }
    return "no_downsample_time";
}

const char *st_marker_filename(st_mark_kind_t k) {
    switch (k) {
    case ST_MARK_DELETION: return ST_BUCKET_DELETION_MARK;
    case ST_MARK_NO_COMPACT: return ST_BUCKET_NO_COMPACT_MARK;
    case ST_MARK_NO_DOWNSAMPLE: break;
    }
    return ST_BUCKET_NO_DOWNSAMPLE_MARK;
}

int st_marker_encode(st_mark_kind_t kind, const st_marker_t *m, char **out, size_t *len) {
    char id[ST_ULID_TEXT_LEN + 1];
    st_ulid_format(&m->id, id);
    json_t *o = json_object();
    bool ok = o && set_new(o, "id", json_string(id)) && set_new(o, "version", json_integer(1)) &&
              (!m->details || !m->details[0] || set_new(o, "details", json_string(m->details))) &&
              set_new(o, time_key(kind), json_integer(m->time_s)) &&
              (kind == ST_MARK_DELETION || set_new(o, "reason", json_string(m->reason ? m->reason : "manual")));
    *out = ok ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!*out)
        return st_errorf(ST_ENOMEM, "%s of %s: encoding (is details valid UTF-8?)", st_marker_filename(kind), id);
    *len = strlen(*out);
    return ST_OK;
}

int st_marker_parse(st_mark_kind_t kind, const char *json, size_t len, const char *name, st_marker_t *out) {
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *o = json_loadb(json, len, 0, &jerr);
    int rc = ST_OK;
    if (!o || !json_is_object(o)) {
        rc = st_errorf(ST_ECORRUPT, "marker %s: not a JSON object%s%s", name, o ? "" : ": ", o ? "" : jerr.text);
        goto out;
    }
    json_t *id = json_object_get(o, "id"), *ver = json_object_get(o, "version"), *t = json_object_get(o, time_key(kind));
    json_t *details = json_object_get(o, "details"), *reason = json_object_get(o, "reason");
    if (!json_is_string(id) || st_ulid_parse(&out->id, json_string_value(id)) != ST_OK) {
        rc = st_errorf(ST_ECORRUPT, "marker %s: field \"id\": missing or not a ULID", name);
        goto out;
    }
    if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
        rc = st_errorf(ST_ECORRUPT, "marker %s: field \"version\": unexpected marker version (want 1)", name);
        goto out;
    }
    if (!json_is_integer(t)) {
        rc = st_errorf(ST_ECORRUPT, "marker %s: field \"%s\": missing or not an integer", name, time_key(kind));
        goto out;
    }
    out->time_s = (int64_t)json_integer_value(t);
    if ((details && !json_is_null(details) && !json_is_string(details)) ||
        (reason && !json_is_null(reason) && !json_is_string(reason))) {
        rc = st_errorf(ST_ECORRUPT, "marker %s: details or reason is not a string", name);
        goto out;
    }
    if (json_is_string(details) && !(out->details = strdup(json_string_value(details)))) rc = ST_ENOMEM;
    if (!rc && json_is_string(reason) && !(out->reason = strdup(json_string_value(reason)))) rc = ST_ENOMEM;
    if (rc) st_errorf(rc, "marker %s: out of memory", name);
out:
    json_decref(o);
    if (rc) st_marker_free(out);
    return rc;
}

void st_marker_free(st_marker_t *m) {
    if (!m) return;
    free(m->details);
    free(m->reason);
    memset(m, 0, sizeof *m);
}

int st_bucket_write_marker(st_objstore_t *s, st_mark_kind_t kind, const st_marker_t *m) {
    char *json = NULL, *obj = bucket_obj_name(&m->id, st_marker_filename(kind));
    size_t len = 0;
    int rc = obj ? st_marker_encode(kind, m, &json, &len) : st_errorf(ST_ENOMEM, "marker name");
    if (!rc) rc = st_objstore_upload(s, obj, json, len);
    free(json);
    free(obj);
    return rc;
}

int st_bucket_read_marker(st_objstore_t *s, st_mark_kind_t kind, const st_ulid_t *id, st_marker_t *out) {
    memset(out, 0, sizeof *out);
    char *obj = bucket_obj_name(id, st_marker_filename(kind));
    if (!obj) return st_errorf(ST_ENOMEM, "marker name");
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = st_objstore_get(s, obj, MARKER_MAX_BYTES, &buf, &len);
    if (!rc) rc = st_marker_parse(kind, (const char *)buf, len, obj, out);
    if (!rc && st_ulid_cmp(&out->id, id) != 0) {
        st_marker_free(out);
        rc = st_errorf(ST_ECORRUPT, "marker %s: field \"id\" names another block", obj);
    }
    free(buf);
    free(obj);
    return rc;
}
