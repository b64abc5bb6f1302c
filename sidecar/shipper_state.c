/*
 * thanos.shipper.json, as Thanos's shipper writes it (json.MarshalIndent
 * with a tab, no trailing newline):
 *
 *   {
 *   \t"version": 1,
 *   \t"uploaded": [
 *   \t\t"01H...",
 *   \t\t"01J..."
 *   \t]
 *   }
 *
 * An empty list is written "[]" (Go writes null for a nil slice; both read
 * back the same). The file is local but may be hand-edited or torn by a
 * crash of another writer, so it is parsed as untrusted input.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "shipper.h"
#include "strata/buf.h"
#include "strata/err.h"
#include "strata/fileutil.h"

/* A hundred thousand ULIDs, with room to spare. */
#define STATE_MAX_BYTES ((size_t)8 << 20)

int shipper_state_parse(shipper_state_t *out, const char *json, size_t len, const char *name) {
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    int rc = ST_OK;
    if (!root) return st_errorf(ST_ECORRUPT, "%s: bad JSON at line %d: %s", name, jerr.line, jerr.text);
    json_t *ver = json_object_get(root, "version"), *up = json_object_get(root, "uploaded");
    if (!json_is_object(root)) {
        rc = st_errorf(ST_ECORRUPT, "%s: not a JSON object", name);
        goto out;
    }
    if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
        rc = st_errorf(ST_ECORRUPT, "%s: field \"version\": unexpected shipper meta version (want 1)", name);
        goto out;
    }
    if (up && !json_is_null(up) && !json_is_array(up)) {
        rc = st_errorf(ST_ECORRUPT, "%s: field \"uploaded\": not an array", name);
        goto out;
    }
    size_t n = json_is_array(up) ? json_array_size(up) : 0;
    if (n && !(out->uploaded = calloc(n, sizeof *out->uploaded))) {
        rc = st_errorf(ST_ENOMEM, "%s: %zu entries", name, n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(up, i);
        if (!json_is_string(v) || st_ulid_parse(&out->uploaded[i], json_string_value(v)) != ST_OK) {
            rc = st_errorf(ST_ECORRUPT, "%s: field \"uploaded\": entry %zu is not a ULID", name, i);
            goto out;
        }
        out->n++;
    }
out:
    json_decref(root);
    if (rc) shipper_state_free(out);
    return rc;
}

int shipper_state_encode(const shipper_state_t *s, char **out, size_t *len) {
    st_encbuf_t b;
    st_encbuf_init(&b, STATE_MAX_BYTES);
    st_put_cstr(&b, "{\n\t\"version\": 1,\n\t\"uploaded\": [");
    for (size_t i = 0; i < s->n; i++) {
        char id[ST_ULID_TEXT_LEN + 1];
        st_ulid_format(&s->uploaded[i], id);
        st_put_fmt(&b, "%s\n\t\t\"%s\"", i ? "," : "", id);
    }
    st_put_cstr(&b, s->n ? "\n\t]\n}" : "]\n}");
    st_put_u8(&b, 0);
    if (b.err) {
        int err = b.err;
        st_encbuf_free(&b);
        return st_errorf(err, "%s: encoding %zu entries", SHIPPER_STATE_FILE, s->n);
    }
    *out = (char *)b.p;
    *len = b.len - 1;
    return ST_OK;
}

int shipper_state_read(shipper_state_t *out, const char *path) {
    memset(out, 0, sizeof *out);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = st_file_read_all(path, STATE_MAX_BYTES, &buf, &len);
    if (rc == ST_ENOTFOUND) return ST_OK;
    if (!rc) rc = shipper_state_parse(out, (const char *)buf, len, path);
    free(buf);
    return rc;
}

int shipper_state_write(const shipper_state_t *s, const char *path) {
    char *json = NULL;
    size_t len = 0;
    int rc = shipper_state_encode(s, &json, &len);
    if (!rc) rc = st_file_write_atomic(path, json, len);
    free(json);
    return rc;
}

bool shipper_state_has(const shipper_state_t *s, const st_ulid_t *id) {
    for (size_t i = 0; i < s->n; i++)
        if (st_ulid_cmp(&s->uploaded[i], id) == 0) return true;
    return false;
}

int shipper_state_add(shipper_state_t *s, const st_ulid_t *id) {
    if (shipper_state_has(s, id)) return ST_OK;
    st_ulid_t *v = realloc(s->uploaded, (s->n + 1) * sizeof *v);
    if (!v) return st_errorf(ST_ENOMEM, "%s: %zu entries", SHIPPER_STATE_FILE, s->n + 1);
    s->uploaded = v;
    s->uploaded[s->n++] = *id;
    return ST_OK;
}

void shipper_state_free(shipper_state_t *s) {
    if (!s) return;
    free(s->uploaded);
    memset(s, 0, sizeof *s);
}
