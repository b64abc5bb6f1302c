/* The scraper's Prometheus API parameters (scraper/apiparams.c, compiled
 * in: the scraper is not part of libstrata): never crash on any bytes.
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

#include "../../scraper/apiparams.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size && data[0] == 'f') {
        api_form_t f;
        if (api_form_parse(&f, (const char *)data + 1, size - 1) != 0) abort();
        for (size_t i = 0; i < f.n; i++)
            if (strlen(f.v[i].key) > size || strlen(f.v[i].value) > size) abort();
        api_form_free(&f);
        return 0;
    }
    if (size && data[0] == 't') {
        char *s = strndup((const char *)data + 1, size - 1);
        if (!s) return 0;
        int64_t ms;
        (void)api_parse_time(s, &ms);
        free(s);
        return 0;
    }
    st_encbuf_t b;
    st_encbuf_init(&b, (size_t)64 << 20);
    api_put_json_string(&b, (const char *)data, size);
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
