/* StoreAPI server glue: the handlers st_storeapi_register puts on a gRPC
 * server (Series lives in sink.c). Message layouts are at the top of
 * request.c, info.c and sink.c. */
#include <stdlib.h>
#include <string.h>

#include "storeapi_int.h"
#include "strata/err.h"

static int series_h(void *ctx, st_grpc_call_t *call, const uint8_t *req, size_t len) {
    return st__sa_serve_series(ctx, call, req, len);
}

typedef int (*label_op_t)(void *, const st_label_request_t *, st_strlist_t *, st_strlist_t *);
typedef int (*label_decode_t)(const uint8_t *, size_t, st_label_request_t *);

static int serve_labels(const st__sa_glue_t *g, label_op_t op, label_decode_t decode, const char *what,
                        const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len) {
    if (!op) return st_errorf(ST_EUNSUPPORTED, "%s: not served by this store", what);
    st_label_request_t r;
    st_strlist_t values = {0}, warnings = {0};
    int rc = decode(req, len, &r);
    if (rc) return rc;
    if ((rc = op(g->ctx, &r, &values, &warnings))) goto out;
    st_strlist_sort_unique(&values);
    if (r.limit > 0 && values.n > (uint64_t)r.limit) {
        for (size_t i = (size_t)r.limit; i < values.n; i++) free(values.v[i]);
        values.n = (size_t)r.limit;
    }
    rc = st_label_response_encode(&values, &warnings, resp, resp_len);
out:
    st_strlist_free(&values);
    st_strlist_free(&warnings);
    st_label_request_free(&r);
    return rc;
}

static int label_names_h(void *ctx, st_grpc_call_t *call, const uint8_t *req, size_t len, uint8_t **resp,
                         size_t *resp_len) {
    (void)call;
    const st__sa_glue_t *g = ctx;
    return serve_labels(g, g->ops->label_names, st_label_names_request_decode, "LabelNames", req, len, resp,
                        resp_len);
}

static int label_values_h(void *ctx, st_grpc_call_t *call, const uint8_t *req, size_t len, uint8_t **resp,
                          size_t *resp_len) {
    (void)call;
    const st__sa_glue_t *g = ctx;
    return serve_labels(g, g->ops->label_values, st_label_values_request_decode, "LabelValues", req, len, resp,
                        resp_len);
}

static int info_h(void *ctx, st_grpc_call_t *call, const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len) {
    (void)call, (void)req, (void)len; /* InfoRequest has no fields */
    const st__sa_glue_t *g = ctx;
    if (!g->ops->info) return st_errorf(ST_EUNSUPPORTED, "Info: not served by this store");
    st_store_info_t info = {0};
    int rc = g->ops->info(g->ctx, &info);
    if (!rc) rc = st_store_info_encode(&info, resp, resp_len);
    info.component = NULL; /* static in a store's answer; _free would free it */
    st_store_info_free(&info);
    return rc;
}

int st_storeapi_register(st_grpc_server_t *s, const st_storeapi_ops_t *ops, void *ctx,
                         const st_storeapi_limits_t *limits) {
    st__sa_glue_t *g = calloc(1, sizeof *g);
    if (!g) return st_errorf(ST_ENOMEM, "StoreAPI: allocating the server glue");
    g->ops = ops;
    g->ctx = ctx;
    if (limits) g->limits = *limits;
    int rc = st_grpc_server_on_free(s, free, g);
    if (rc) {
        free(g);
        return rc;
    }
    rc = st_grpc_server_add_stream(s, ST_STOREAPI_SERIES, series_h, g);
    if (!rc) rc = st_grpc_server_add_unary(s, ST_STOREAPI_LABEL_NAMES, label_names_h, g);
    if (!rc) rc = st_grpc_server_add_unary(s, ST_STOREAPI_LABEL_VALUES, label_values_h, g);
    if (!rc) rc = st_grpc_server_add_unary(s, ST_STOREAPI_INFO, info_h, g);
    return rc;
}
