/* StoreAPI request decoders on arbitrary bytes: SeriesRequest (with its
 * hints), both label requests, label responses and InfoResponse. Whatever
 * decodes must re-encode and decode again to the same values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata/storeapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void series(const uint8_t *data, size_t size) {
    st_series_request_t r, r2;
    if (st_series_request_decode(data, size, &r)) return;
    uint8_t *enc;
    size_t len;
    if (st_series_request_encode(&r, &enc, &len)) abort();
    if (st_series_request_decode(enc, len, &r2)) abort();
    if (r.min_time != r2.min_time || r.max_time != r2.max_time || r.matchers.n != r2.matchers.n ||
        r.block_matchers.n != r2.block_matchers.n || r.aggregates != r2.aggregates || r.limit != r2.limit ||
        r.response_batch_size != r2.response_batch_size || r.skip_chunks != r2.skip_chunks ||
        r.partial_response_abort != r2.partial_response_abort)
        abort();
    for (size_t i = 0; i < r.matchers.n; i++)
        if (strcmp(st_matcher_value(r.matchers.v[i]), st_matcher_value(r2.matchers.v[i])) != 0) abort();
    st_series_request_free(&r2);
    st_series_request_free(&r);
    free(enc);
}

static void labels(const uint8_t *data, size_t size, bool values) {
    st_label_request_t r, r2;
    int rc = values ? st_label_values_request_decode(data, size, &r) : st_label_names_request_decode(data, size, &r);
    if (rc) return;
    uint8_t *enc;
    size_t len;
    rc = values ? st_label_values_request_encode(&r, &enc, &len) : st_label_names_request_encode(&r, &enc, &len);
    if (rc) abort();
    rc = values ? st_label_values_request_decode(enc, len, &r2) : st_label_names_request_decode(enc, len, &r2);
    if (rc || r.start != r2.start || r.end != r2.end || r.limit != r2.limit || r.matchers.n != r2.matchers.n ||
        (values && strcmp(r.label, r2.label) != 0))
        abort();
    st_label_request_free(&r2);
    st_label_request_free(&r);
    free(enc);
}

static void info(const uint8_t *data, size_t size) {
    st_store_info_t i, i2;
    if (st_store_info_decode(data, size, &i)) return;
    uint8_t *enc;
    size_t len;
    if (st_store_info_encode(&i, &enc, &len) || st_store_info_decode(enc, len, &i2)) abort();
    if (strcmp(i.component, i2.component) != 0 || i.nlabel_sets != i2.nlabel_sets ||
        i.ntsdb_infos != i2.ntsdb_infos || i.min_time != i2.min_time || i.max_time != i2.max_time)
        abort();
    for (size_t k = 0; k < i.nlabel_sets; k++)
        if (!st_labels_equal(&i.label_sets[k], &i2.label_sets[k])) abort();
    st_store_info_free(&i2);
    st_store_info_free(&i);
    free(enc);
}

static void label_response(const uint8_t *data, size_t size) {
    st_strlist_t v, w;
    if (st_label_response_decode(data, size, &v, &w)) return;
    st_strlist_free(&v);
    st_strlist_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    series(data, size);
    labels(data, size, false);
    labels(data, size, true);
    info(data, size);
    label_response(data, size);
    return 0;
}
