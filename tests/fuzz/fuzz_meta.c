/* meta.json parser: never crash on any bytes; whatever parses must encode,
 * and the encoding must parse back to the same meta and re-encode identically. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata/meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_meta(const st_meta_t *a, const st_meta_t *b) {
    if (st_ulid_cmp(&a->ulid, &b->ulid) || a->min_time != b->min_time ||
        a->max_time != b->max_time || a->num_samples != b->num_samples ||
        a->num_series != b->num_series || a->num_chunks != b->num_chunks ||
        a->num_tombstones != b->num_tombstones || a->level != b->level ||
        a->nsources != b->nsources || a->nparents != b->nparents || a->nhints != b->nhints ||
        a->deletable != b->deletable || a->failed != b->failed ||
        !a->thanos_json != !b->thanos_json)
        abort();
    for (size_t i = 0; i < a->nsources; i++)
        if (st_ulid_cmp(&a->sources[i], &b->sources[i])) abort();
    for (size_t i = 0; i < a->nparents; i++)
        if (st_ulid_cmp(&a->parents[i].ulid, &b->parents[i].ulid) ||
            a->parents[i].min_time != b->parents[i].min_time ||
            a->parents[i].max_time != b->parents[i].max_time)
            abort();
    for (size_t i = 0; i < a->nhints; i++)
        if (strcmp(a->hints[i], b->hints[i])) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_meta_t m, back;
    if (st_meta_parse(&m, (const char *)data, size, "fuzz") != 0) return 0;
    char *enc = NULL, *enc2 = NULL;
    size_t len, len2;
    if (st_meta_encode(&m, &enc, &len) != 0) abort();
    if (st_meta_parse(&back, enc, len, "fuzz-reencoded") != 0) abort();
    same_meta(&m, &back);
    if (st_meta_encode(&back, &enc2, &len2) != 0) abort();
    if (len != len2 || memcmp(enc, enc2, len) != 0) abort();
    free(enc);
    free(enc2);
    st_meta_free(&back);
    st_meta_free(&m);
    return 0;
}
