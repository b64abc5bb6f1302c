/* External labels out of Prometheus's /api/v1/status/config answer: never
 * crash or hang on any bytes, and a result is a valid label set (sorted,
 * unique, names [a-zA-Z_][a-zA-Z0-9_]*, non-empty values without NUL).
 * Input starting with '{' is taken as the whole JSON answer; anything else
 * as the YAML, wrapped into the answer here so the fuzzer reaches libyaml
 * without having to learn JSON string escaping. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/httpclient.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const st_labels_t *l) {
    for (size_t i = 0; i < l->n; i++) {
        const st_label_t *x = &l->v[i];
        if (!x->name_len || !x->value_len || strlen(x->value) != x->value_len) abort();
        for (size_t k = 0; k < x->name_len; k++) {
            char c = x->name[k];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (k && c >= '0' && c <= '9')))
                abort();
        }
        if (i && st_bytes_cmp(l->v[i - 1].name, l->v[i - 1].name_len, x->name, x->name_len) >= 0) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_labels_t l;
    if (size && data[0] == '{') {
        if (st_prom_external_labels((const char *)data, size, &l) == 0) {
            check(&l);
            st_labels_free(&l);
        }
        return 0;
    }
    static const char head[] = "{\"status\":\"success\",\"data\":{\"yaml\":\"", tail[] = "\"}}";
    char *json = malloc(sizeof head + size * 6 + sizeof tail);
    if (!json) return 0;
    size_t n = 0;
    memcpy(json, head, sizeof head - 1);
    n += sizeof head - 1;
    for (size_t i = 0; i < size; i++) {
        uint8_t c = data[i];
        if (c == '"' || c == '\\') {
            json[n++] = '\\';
            json[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)sprintf(json + n, "\\u%04x", c);
        } else {
            json[n++] = (char)c;
        }
    }
    memcpy(json + n, tail, sizeof tail - 1);
    n += sizeof tail - 1;
    if (st_prom_external_labels(json, n, &l) == 0) {
        check(&l);
        st_labels_free(&l);
    }
    free(json);
    return 0;
}
