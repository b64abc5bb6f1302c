/* The querier's QueryService requests (query/grpc_query.c) on arbitrary
 * bytes, decoded both as an InstantQueryRequest and as a
 * RangeQueryRequest, with the checks the server applies before evaluating
 * (nothing is evaluated). What is accepted must be what the server may
 * run: a non-empty query, times Prometheus represents, a range with a
 * positive step and at most 11,000 points, non-negative timeout and
 * lookback, a max source resolution of -1 or more, non-empty replica
 * labels. A refused request leaves nothing allocated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"
#include "strata/promapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const query_grpc_req_t *r, bool range) {
    if (!r->msg || r->range != range || !r->text || !*r->text) abort();
    if (r->start < ST_PROMAPI_MIN_TIME_MS || r->end > ST_PROMAPI_MAX_TIME_MS) abort();
    if (range) {
        if (r->end < r->start || r->step <= 0) abort();
        if (((uint64_t)r->end - (uint64_t)r->start) / (uint64_t)r->step > QUERY_MAX_POINTS_PER_SERIES) abort();
    } else if (r->start != r->end || r->step != 0) {
        abort();
    }
    if (r->timeout_ms < 0 || r->lookback_delta_ms < 0 || r->max_source_resolution_ms < -1) abort();
    for (size_t i = 0; i < r->nreplica_labels; i++)
        if (!r->replica_labels[i] || !*r->replica_labels[i]) abort();
    /* the strings are the message's: readable to their ends */
    volatile size_t n = strlen(r->text);
    (void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int range = 0; range < 2; range++) {
        query_grpc_req_t r;
        if (query_grpc_req_decode(range, data, size, &r) == 0) {
            check(&r, range);
            query_grpc_req_free(&r);
            if (r.msg) abort();
        } else if (r.msg) {
            abort();
        }
    }
    return 0;
}
