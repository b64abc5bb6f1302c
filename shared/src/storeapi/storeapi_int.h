/* Shared by the StoreAPI codecs (request.c, info.c), the server glue
 * (sink.c, server.c) and the client (client.c): protobuf <-> matchers and
 * label sets, packing protobuf-c messages, Any type checks. */
#ifndef STRATA_STOREAPI_INT_H
#define STRATA_STOREAPI_INT_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "google/protobuf/any.pb-c.h"
#include "strata/labels.h"
#include "strata/matcher.h"
#include "strata/storeapi.h"
#include "thanos/types.pb-c.h"

#define ST__SA_TYPE_URL_PREFIX "type.googleapis.com/"
#define ST__SA_SERIES_REQUEST_HINTS "hintspb.SeriesRequestHints"
#define ST__SA_SERIES_RESPONSE_HINTS "hintspb.SeriesResponseHints"

/* Validated matchers from protobuf: type in range, non-empty name, regex
 * compiles; ST_EINVAL naming `what` and the index otherwise. *out owned. */
int st__sa_matchers_from_pb(Thanos__LabelMatcher *const *v, size_t n, st_matchers_t *out, const char *what);

/* Borrowing protobuf view of matchers: arrays owned by the struct, strings
 * borrowed from the matchers. */
typedef struct {
    Thanos__LabelMatcher *m;
    Thanos__LabelMatcher **p;
    size_t n;
} st__sa_pb_matchers_t;
int st__sa_matchers_to_pb(const st_matchers_t *ms, st__sa_pb_matchers_t *out);
void st__sa_pb_matchers_free(st__sa_pb_matchers_t *pm);

/* Label set from protobuf labels; a repeated or empty name is ST_ECORRUPT
 * naming `what`. Empty values are dropped, as Prometheus does. */
int st__sa_labels_from_pb(Thanos__Label *const *v, size_t n, st_labels_t *out, const char *what);

/* Borrowing protobuf view of label sets (strings borrowed). */
typedef struct {
    Thanos__Label *l;
    Thanos__Label **p;
    size_t n;
} st__sa_pb_labels_t;
/* Appends every label of sets[0..nsets) into one view; set i's labels are
 * out->p + offsets[i] (offsets: nsets entries, caller-provided). */
int st__sa_labels_to_pb(const st_labels_t *sets, size_t nsets, st__sa_pb_labels_t *out, size_t *offsets);
void st__sa_pb_labels_free(st__sa_pb_labels_t *pl);

/* Pack a message into a malloc'd buffer (never NULL on success). */
int st__sa_pack(const ProtobufCMessage *m, uint8_t **out, size_t *len, const char *what);

/* Does an Any's type_url name `msg`? As in Go's types.UnmarshalAny, the
 * name is what follows the last '/', and a URL without '/' names nothing. */
bool st__sa_any_is(const Google__Protobuf__Any *a, const char *msg);

/* What st_storeapi_register hands each handler. */
typedef struct st__sa_glue {
    const st_storeapi_ops_t *ops;
    void *ctx;
    st_storeapi_limits_t limits;
} st__sa_glue_t;

/* The /thanos.Store/Series handler (sink.c): decode, run ops->series over
 * a sink, flush, send the queried blocks. */
int st__sa_serve_series(const st__sa_glue_t *g, st_grpc_call_t *call, const uint8_t *req, size_t len);

#endif
