/*
 * meta.json (Prometheus BlockMeta version 1), as Go's
 * json.MarshalIndent(meta, "", "\t") writes it — no trailing newline:
 *
 *   {
 *   \t"ulid": "<26-char ULID>",
 *   \t"minTime": <int64>,
 *   \t"maxTime": <int64>,
 *   \t"stats": {                 always present; each key omitted when 0
 *   \t\t"numSamples": <uint64>, "numSeries", "numChunks", "numTombstones"
 *   \t},
 *   \t"compaction": {
 *   \t\t"level": <int>,
 *   \t\t"sources": ["<ULID>", ...],                  omitted when empty
 *   \t\t"deletable": true,                           omitted when false
 *   \t\t"parents": [{"ulid","minTime","maxTime"}...], omitted when empty
 *   \t\t"failed": true,                              omitted when false
 *   \t\t"hints": ["...", ...]                        omitted when empty
 *   \t},
 *   \t"version": 1,
 *   \t"thanos": {...}            only if read from a Thanos block
 *   }
 *
 * Thanos embeds BlockMeta and appends its own field, so "thanos" follows
 * "version" in the files Thanos writes; we keep that order. An empty object
 * or array is written "{}" / "[]"; strings use Go's escaping (HTML-safe
 * \u003c \u003e \u0026, \u2028 \u2029, other control bytes as \u00xx).
 */
#include "strata/meta.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "strata/buf.h"
#include "strata/err.h"
#include "strata/fileutil.h"

/* A Thanos meta.json lists every file of the block, so it can be large. */
#define META_MAX_BYTES ((size_t)16 << 20)

static int bad_field(const char *name, const char *field, const char *why) {
    return st_errorf(ST_ECORRUPT, "meta %s: field \"%s\": %s", name, field, why);
}

/* Look up key; a JSON null counts as absent, as in Go's decoder. */
static json_t *get(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

static int get_int(json_t *obj, const char *key, const char *field, const char *name,
                   int64_t *out) {
    json_t *v = get(obj, key);
    if (!v) return bad_field(name, field, "missing");
    if (!json_is_integer(v)) return bad_field(name, field, "not an integer");
    *out = (int64_t)json_integer_value(v);
    return ST_OK;
}

static int get_ulid(json_t *v, const char *field, const char *name, st_ulid_t *out) {
    if (!v) return bad_field(name, field, "missing");
    if (!json_is_string(v)) return bad_field(name, field, "not a string");
    if (st_ulid_parse(out, json_string_value(v)) != ST_OK)
        return bad_field(name, field, "not a valid ULID");
    return ST_OK;
}

static int get_bool(json_t *obj, const char *key, const char *field, const char *name,
                    bool *out) {
    json_t *v = get(obj, key);
    *out = false;
    if (!v) return ST_OK;
    if (!json_is_boolean(v)) return bad_field(name, field, "not a boolean");
    *out = json_is_true(v);
    return ST_OK;
}

/* Optional array at obj[key]; *arr NULL when absent. */
static int get_array(json_t *obj, const char *key, const char *field, const char *name,
                     json_t **arr) {
    *arr = get(obj, key);
    if (*arr && !json_is_array(*arr)) return bad_field(name, field, "not an array");
    return ST_OK;
}

static int parse_stats(st_meta_t *m, json_t *root, const char *name) {
    json_t *stats = get(root, "stats");
    if (!stats) return ST_OK;
    if (!json_is_object(stats)) return bad_field(name, "stats", "not an object");
    static const struct {
        const char *key, *field;
        size_t off;
    } keys[] = {
        {"numSamples", "stats.numSamples", offsetof(st_meta_t, num_samples)},
        {"numSeries", "stats.numSeries", offsetof(st_meta_t, num_series)},
        {"numChunks", "stats.numChunks", offsetof(st_meta_t, num_chunks)},
        {"numTombstones", "stats.numTombstones", offsetof(st_meta_t, num_tombstones)},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = get(stats, keys[i].key);
        if (!v) continue;
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return bad_field(name, keys[i].field, "not a non-negative integer");
        *(uint64_t *)((char *)m + keys[i].off) = (uint64_t)json_integer_value(v);
    }
    return ST_OK;
}

static int parse_compaction(st_meta_t *m, json_t *root, const char *name) {
    json_t *c = get(root, "compaction");
    if (!c) return bad_field(name, "compaction", "missing");
    if (!json_is_object(c)) return bad_field(name, "compaction", "not an object");

    int64_t level = 0;
    int rc = get_int(c, "level", "compaction.level", name, &level);
    if (rc) return rc;
    if (level < 1 || level > INT_MAX)
        return bad_field(name, "compaction.level", "out of range (must be >= 1)");
    m->level = (int)level;

    json_t *arr;
    if ((rc = get_array(c, "sources", "compaction.sources", name, &arr))) return rc;
    size_t n = arr ? json_array_size(arr) : 0;
    if (n) {
        m->sources = calloc(n, sizeof *m->sources);
        if (!m->sources) return st_errorf(ST_ENOMEM, "meta %s: %zu sources", name, n);
        m->nsources = n;
        for (size_t i = 0; i < n; i++)
            if ((rc = get_ulid(json_array_get(arr, i), "compaction.sources", name,
                               &m->sources[i])))
                return rc;
    }

    if ((rc = get_array(c, "parents", "compaction.parents", name, &arr))) return rc;
    n = arr ? json_array_size(arr) : 0;
    if (n) {
        m->parents = calloc(n, sizeof *m->parents);
        if (!m->parents) return st_errorf(ST_ENOMEM, "meta %s: %zu parents", name, n);
        m->nparents = n;
        for (size_t i = 0; i < n; i++) {
            json_t *p = json_array_get(arr, i);
            st_block_desc_t *d = &m->parents[i];
            if (!json_is_object(p)) return bad_field(name, "compaction.parents", "not an object");
            if ((rc = get_ulid(get(p, "ulid"), "compaction.parents.ulid", name, &d->ulid)) ||
                (rc = get_int(p, "minTime", "compaction.parents.minTime", name, &d->min_time)) ||
                (rc = get_int(p, "maxTime", "compaction.parents.maxTime", name, &d->max_time)))
                return rc;
        }
    }

    if ((rc = get_bool(c, "deletable", "compaction.deletable", name, &m->deletable)) ||
        (rc = get_bool(c, "failed", "compaction.failed", name, &m->failed)))
        return rc;

    if ((rc = get_array(c, "hints", "compaction.hints", name, &arr))) return rc;
    n = arr ? json_array_size(arr) : 0;
    if (n) {
        m->hints = calloc(n, sizeof *m->hints);
        if (!m->hints) return st_errorf(ST_ENOMEM, "meta %s: %zu hints", name, n);
        m->nhints = n;
        for (size_t i = 0; i < n; i++) {
            json_t *h = json_array_get(arr, i);
            if (!json_is_string(h)) return bad_field(name, "compaction.hints", "not a string");
            m->hints[i] = strdup(json_string_value(h));
            if (!m->hints[i]) return st_errorf(ST_ENOMEM, "meta %s: hint", name);
        }
    }
    return ST_OK;
}

int st_meta_parse(st_meta_t *out, const char *json, size_t len, const char *name) {
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root)
        return st_errorf(ST_ECORRUPT, "meta %s: bad JSON at line %d column %d: %s", name,
                         jerr.line, jerr.column, jerr.text);
    int rc = ST_OK;
    int64_t version = 0;
    if (!json_is_object(root)) {
        rc = st_errorf(ST_ECORRUPT, "meta %s: top level is not an object", name);
        goto out;
    }
    if ((rc = get_int(root, "version", "version", name, &version))) goto out;
    if (version != 1) {
        rc = st_errorf(ST_ECORRUPT, "meta %s: field \"version\": unexpected meta file version %lld",
                       name, (long long)version);
        goto out;
    }
    if ((rc = get_ulid(get(root, "ulid"), "ulid", name, &out->ulid)) ||
        (rc = get_int(root, "minTime", "minTime", name, &out->min_time)) ||
        (rc = get_int(root, "maxTime", "maxTime", name, &out->max_time)) ||
        (rc = parse_stats(out, root, name)) || (rc = parse_compaction(out, root, name)))
        goto out;

    json_t *thanos = get(root, "thanos");
    if (thanos) {
        if (!json_is_object(thanos)) {
            rc = bad_field(name, "thanos", "not an object");
            goto out;
        }
        out->thanos_json = json_dumps(thanos, JSON_COMPACT);
        if (!out->thanos_json) rc = st_errorf(ST_ENOMEM, "meta %s: copying thanos section", name);
    }
out:
    json_decref(root);
    if (rc) st_meta_free(out);
    return rc;
}

int st_meta_read(st_meta_t *out, const char *dir) {
    memset(out, 0, sizeof *out);
    char *path = st_path_join(dir, ST_META_FILENAME);
    if (!path) return ST_ENOMEM;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = st_file_read_all(path, META_MAX_BYTES, &buf, &len);
    if (rc == ST_OK) rc = st_meta_parse(out, (const char *)buf, len, path);
    free(buf);
    free(path);
    return rc;
}

/* ---- encoding ---- */

static void put_indent(st_encbuf_t *b, int depth) {
    for (int i = 0; i < depth; i++) st_put_u8(b, '\t');
}

static void put_jstr(st_encbuf_t *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    st_put_u8(b, '"');
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c == '"' || c == '\\') {
            st_put_u8(b, '\\');
            st_put_u8(b, c);
        } else if (c == '\n') {
            st_put_cstr(b, "\\n");
        } else if (c == '\r') {
            st_put_cstr(b, "\\r");
        } else if (c == '\t') {
            st_put_cstr(b, "\\t");
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            st_put_bytes(b, e, 6);
        } else if (c == 0xE2 && i + 2 < n && (uint8_t)s[i + 1] == 0x80 &&
                   ((uint8_t)s[i + 2] == 0xA8 || (uint8_t)s[i + 2] == 0xA9)) {
            /* U+2028 / U+2029 break JavaScript string literals; Go escapes them. */
            st_put_cstr(b, (uint8_t)s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
            i += 2;
        } else {
            st_put_u8(b, c);
        }
    }
    st_put_u8(b, '"');
}

/* Start member `key` of an object at depth-1 whose members sit at depth. */
static void put_key(st_encbuf_t *b, int depth, bool *first, const char *key) {
    st_put_cstr(b, *first ? "\n" : ",\n");
    *first = false;
    put_indent(b, depth);
    put_jstr(b, key, strlen(key));
    st_put_cstr(b, ": ");
}

/* Close a container opened at depth; an empty one stays "{}" / "[]". */
static void put_close(st_encbuf_t *b, int depth, bool first, char c) {
    if (!first) {
        st_put_u8(b, '\n');
        put_indent(b, depth);
    }
    st_put_u8(b, (uint8_t)c);
}

static void put_ulid(st_encbuf_t *b, const st_ulid_t *id) {
    char s[ST_ULID_TEXT_LEN + 1];
    st_ulid_format(id, s);
    put_jstr(b, s, ST_ULID_TEXT_LEN);
}

/* Go's float64 encoding: shortest round-trip digits, plain decimal for
 * 1e-6 <= |x| < 1e21, else exponent form "1e+21" / "1.5e-7". Two deviations
 * keep our own output readable by jansson and re-encoding stable: -0.0 is
 * written "0" (Go: "-0", which jansson reads as integer 0), and the exponent
 * form already starts at 2^63 (Go's "100000000000000000000" for 1e20 would
 * be read back as an overflowing integer and rejected). */
static void put_real(st_encbuf_t *b, double x) {
    if (x == 0) x = 0; /* drops the sign of -0.0 */
    char e[40];
    int p = 1;
    for (; p < 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, fabs(x));
        if (strtod(e, NULL) == fabs(x)) break;
    }
    snprintf(e, sizeof e, "%.*e", p - 1, fabs(x));
    char digits[20];
    size_t nd = 0;
    char *s = e;
    for (; *s != 'e'; s++)
        if (*s != '.') digits[nd++] = *s;
    int exp = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    if (signbit(x)) st_put_u8(b, '-');
    double ax = fabs(x);
    if (ax != 0 && (ax < 1e-6 || ax >= 0x1p63)) {
        st_put_u8(b, (uint8_t)digits[0]);
        if (nd > 1) {
            st_put_u8(b, '.');
            st_put_bytes(b, digits + 1, nd - 1);
        }
        st_put_fmt(b, "e%+d", exp);
    } else if (exp < 0) {
        st_put_cstr(b, "0.");
        for (int i = 0; i < -exp - 1; i++) st_put_u8(b, '0');
        st_put_bytes(b, digits, nd);
    } else if ((size_t)exp + 1 >= nd) {
        st_put_bytes(b, digits, nd);
        for (size_t i = nd; i < (size_t)exp + 1; i++) st_put_u8(b, '0');
    } else {
        st_put_bytes(b, digits, (size_t)exp + 1);
        st_put_u8(b, '.');
        st_put_bytes(b, digits + exp + 1, nd - (size_t)exp - 1);
    }
}

/* Any JSON value in MarshalIndent layout (used for the opaque thanos part). */
static void put_value(st_encbuf_t *b, json_t *v, int depth) {
    bool first = true;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *item;
        st_put_u8(b, '{');
        json_object_foreach(v, key, item) {
            put_key(b, depth + 1, &first, key);
            put_value(b, item, depth + 1);
        }
        put_close(b, depth, first, '}');
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *item;
        st_put_u8(b, '[');
        json_array_foreach(v, i, item) {
            st_put_cstr(b, first ? "\n" : ",\n");
            first = false;
            put_indent(b, depth + 1);
            put_value(b, item, depth + 1);
        }
        put_close(b, depth, first, ']');
        break;
    }
    case JSON_STRING: put_jstr(b, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: st_put_fmt(b, "%lld", (long long)json_integer_value(v)); break;
    case JSON_REAL: put_real(b, json_real_value(v)); break;
    case JSON_TRUE: st_put_cstr(b, "true"); break;
    case JSON_FALSE: st_put_cstr(b, "false"); break;
    case JSON_NULL: st_put_cstr(b, "null"); break;
    }
}

static void put_stats(st_encbuf_t *b, const st_meta_t *m) {
    bool first = true;
    const struct {
        const char *key;
        uint64_t v;
    } stats[] = {{"numSamples", m->num_samples},
                 {"numSeries", m->num_series},
                 {"numChunks", m->num_chunks},
                 {"numTombstones", m->num_tombstones}};
    st_put_u8(b, '{');
    for (size_t i = 0; i < sizeof stats / sizeof stats[0]; i++) {
        if (!stats[i].v) continue;
        put_key(b, 2, &first, stats[i].key);
        st_put_fmt(b, "%llu", (unsigned long long)stats[i].v);
    }
    put_close(b, 1, first, '}');
}

static void put_compaction(st_encbuf_t *b, const st_meta_t *m) {
    bool first = true;
    st_put_u8(b, '{');
    put_key(b, 2, &first, "level");
    st_put_fmt(b, "%d", m->level);
    if (m->nsources) {
        put_key(b, 2, &first, "sources");
        st_put_u8(b, '[');
        for (size_t i = 0; i < m->nsources; i++) {
            st_put_cstr(b, i ? ",\n" : "\n");
            put_indent(b, 3);
            put_ulid(b, &m->sources[i]);
        }
        put_close(b, 2, false, ']');
    }
    if (m->deletable) {
        put_key(b, 2, &first, "deletable");
        st_put_cstr(b, "true");
    }
    if (m->nparents) {
        put_key(b, 2, &first, "parents");
        st_put_u8(b, '[');
        for (size_t i = 0; i < m->nparents; i++) {
            bool pf = true;
            st_put_cstr(b, i ? ",\n" : "\n");
            put_indent(b, 3);
            st_put_u8(b, '{');
            put_key(b, 4, &pf, "ulid");
            put_ulid(b, &m->parents[i].ulid);
            put_key(b, 4, &pf, "minTime");
            st_put_fmt(b, "%lld", (long long)m->parents[i].min_time);
            put_key(b, 4, &pf, "maxTime");
            st_put_fmt(b, "%lld", (long long)m->parents[i].max_time);
            put_close(b, 3, false, '}');
        }
        put_close(b, 2, false, ']');
    }
    if (m->failed) {
        put_key(b, 2, &first, "failed");
        st_put_cstr(b, "true");
    }
    if (m->nhints) {
        put_key(b, 2, &first, "hints");
        st_put_u8(b, '[');
        for (size_t i = 0; i < m->nhints; i++) {
            st_put_cstr(b, i ? ",\n" : "\n");
            put_indent(b, 3);
            put_jstr(b, m->hints[i], strlen(m->hints[i]));
        }
        put_close(b, 2, false, ']');
    }
    put_close(b, 1, false, '}');
}

int st_meta_encode(const st_meta_t *m, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    if (m->level < 1) return st_errorf(ST_EINVAL, "meta encode: compaction level %d < 1", m->level);
    json_t *thanos = NULL;
    if (m->thanos_json) {
        json_error_t jerr;
        thanos = json_loads(m->thanos_json, 0, &jerr);
        if (!json_is_object(thanos)) {
            json_decref(thanos);
            return st_errorf(ST_EINVAL, "meta encode: thanos_json is not a JSON object");
        }
    }
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    bool first = true;
    char id[ST_ULID_TEXT_LEN + 1];
    st_ulid_format(&m->ulid, id);
    st_put_u8(&b, '{');
    put_key(&b, 1, &first, "ulid");
    put_jstr(&b, id, ST_ULID_TEXT_LEN);
    put_key(&b, 1, &first, "minTime");
    st_put_fmt(&b, "%lld", (long long)m->min_time);
    put_key(&b, 1, &first, "maxTime");
    st_put_fmt(&b, "%lld", (long long)m->max_time);
    put_key(&b, 1, &first, "stats");
    put_stats(&b, m);
    put_key(&b, 1, &first, "compaction");
    put_compaction(&b, m);
    put_key(&b, 1, &first, "version");
    st_put_u8(&b, '1');
    if (thanos) {
        put_key(&b, 1, &first, "thanos");
        put_value(&b, thanos, 1);
    }
    st_put_cstr(&b, "\n}");
    st_put_u8(&b, 0);
    json_decref(thanos);
    if (b.err) {
        int err = b.err;
        st_encbuf_free(&b);
        return st_errorf(err, "meta encode: out of memory");
    }
    *out = (char *)b.p;
    *len = b.len - 1;
    return ST_OK;
}

int st_meta_write(const st_meta_t *m, const char *dir) {
    char *json = NULL, *path = NULL;
    size_t len;
    int rc = st_meta_encode(m, &json, &len);
    if (rc) goto out;
    path = st_path_join(dir, ST_META_FILENAME);
    if (!path) {
        rc = ST_ENOMEM;
        goto out;
    }
    rc = st_file_write_atomic(path, json, len);
out:
    free(json);
    free(path);
    return rc;
}

void st_meta_free(st_meta_t *m) {
    if (!m) return;
    free(m->sources);
    free(m->parents);
    for (size_t i = 0; i < m->nhints; i++) free(m->hints[i]);
    free(m->hints);
    free(m->thanos_json);
    memset(m, 0, sizeof *m);
}
