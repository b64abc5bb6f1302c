/* Prometheus API parameters (promapi.h): never crash on any bytes.
 * The first byte picks the parser:
 *   'f'  the rest is a form body: it decodes, and no key or value is
 *        longer than the body;
 *   't'  the rest is a time parameter: parse it (any result will do);
 *   else the whole input is a label value: its JSON string must be valid
 *        JSON (jansson decodes it) and, for valid UTF-8 without NUL bytes,
 *        decode back to the input. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata/promapi.h"
#include "strata/textfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size && data[0] == 'f') {
        st_promapi_form_t f;
        if (st_promapi_form_parse(&f, (const char *)data + 1, size - 1) != 0) abort();
        for (size_t i = 0; i < f.n; i++)
            if (strlen(f.v[i].key) > size || strlen(f.v[i].value) > size) abort();
        st_promapi_form_free(&f);
        return 0;
    }
    if (size && data[0] == 't') {
        char *s = strndup((const char *)data + 1, size - 1);
        if (!s) return 0;
        int64_t ms;
        (void)st_promapi_parse_time(s, &ms);
        free(s);
        return 0;
    }
    st_encbuf_t b;
    st_encbuf_init(&b, (size_t)64 << 20);
    st_promapi_put_json_string(&b, (const char *)data, size);
    if (b.err) abort();
    json_error_t jerr;
    json_t *j = json_loadb((const char *)b.p, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j || !json_is_string(j)) abort();
    if (st_utf8_valid((const char *)data, size) &&
        (json_string_length(j) != size || memcmp(json_string_value(j), data, size) != 0))
        abort();
    json_decref(j);
    st_encbuf_free(&b);
    return 0;
}
