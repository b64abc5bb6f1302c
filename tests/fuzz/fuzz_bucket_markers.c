/* Marker files (deletion-mark.json, no-compact-mark.json,
 * no-downsample-mark.json) and meta.json's thanos section, as bucket.h
 * parses them from the bucket: never crash on any bytes; a marker that
 * parses encodes (unless its strings are not UTF-8) and parses back to the
 * same marker. Input: one byte choosing the marker kind, then the JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata/bucket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int streq(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    st_mark_kind_t kind = (st_mark_kind_t)(data[0] % 3);
    const char *json = (const char *)data + 1;
    size_t len = size - 1;
    st_marker_t m, back;
    if (st_marker_parse(kind, json, len, "fuzz", &m) == 0) {
        char *enc = NULL;
        size_t elen = 0;
        if (st_marker_encode(kind, &m, &enc, &elen) == 0) {
            if (st_marker_parse(kind, enc, elen, "fuzz-reencoded", &back) != 0) abort();
            /* an empty details string is omitted on encode */
            const char *d = m.details && m.details[0] ? m.details : NULL;
            if (st_ulid_cmp(&m.id, &back.id) || m.time_s != back.time_s || !streq(d, back.details)) abort();
            if (kind != ST_MARK_DELETION && !streq(m.reason ? m.reason : "manual", back.reason)) abort();
            st_marker_free(&back);
            free(enc);
        }
        st_marker_free(&m);
    }
    /* the thanos section wants a NUL-terminated string */
    char *s = malloc(len + 1);
    if (!s) return 0;
    memcpy(s, json, len);
    s[len] = 0;
    st_thanos_t t;
    if (st_thanos_parse(&t, s, "fuzz") == 0) st_thanos_free(&t);
    free(s);
    return 0;
}
