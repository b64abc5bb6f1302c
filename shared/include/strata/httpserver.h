/*
 * httpserver.h — a small HTTP server over libmicrohttpd for every
 * component's /metrics, /-/healthy, /-/ready and (later) APIs.
 *
 * Routes are registered before st_http_server_start(); the table is then
 * read-only. Requests are served by an internal pool of threads, so a
 * handler may run on several threads at once and must guard what it shares.
 * A path with no route gets 404 "404 page not found\n" (as Go's mux).
 * Request bodies above the cap get 413 without calling the handler.
 */
#ifndef STRATA_HTTPSERVER_H
#define STRATA_HTTPSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_HTTP_CT_TEXT "text/plain; charset=utf-8"
#define ST_HTTP_CT_JSON "application/json"
/* Prometheus text exposition format 0.0.4 */
#define ST_HTTP_CT_METRICS "text/plain; version=0.0.4; charset=utf-8"

typedef struct st_http_server st_http_server_t;
typedef struct st_http_request st_http_request_t;

/* Borrowed views of the request, valid during the handler call. */
const char *st_http_request_method(const st_http_request_t *r);
const char *st_http_request_path(const st_http_request_t *r);
/* Decoded query-string argument (first occurrence) or NULL. */
const char *st_http_request_arg(const st_http_request_t *r, const char *name);
/* Every occurrence of a query-string argument, in order (match[]=a&match[]=b).
 * *out is a malloc'd array of borrowed strings (free() it; NULL when n = 0). */
int st_http_request_args(const st_http_request_t *r, const char *name, const char ***out, size_t *n);
/* Request header (case-insensitive name) or NULL. */
const char *st_http_request_header(const st_http_request_t *r, const char *name);
/* Request body (len 0 and a non-NULL pointer when there is none). */
const void *st_http_request_body(const st_http_request_t *r, size_t *len);

typedef struct {
    int status;               /* 0 = 200 */
    const char *content_type; /* static string; NULL = ST_HTTP_CT_TEXT */
    char *body;               /* malloc'd, freed by the server; NULL = empty */
    size_t len;
    const char *content_encoding; /* static string ("snappy"); NULL = no header */
} st_http_response_t;

/* Fill *resp and return 0. A negative ST_E* return discards *resp and
 * answers 500 with the error detail. */
typedef int (*st_http_handler_fn)(void *ctx, const st_http_request_t *req, st_http_response_t *resp);

typedef struct {
    unsigned threads; /* worker threads; 0 = 4 */
    size_t max_body;  /* request body cap; 0 = 16 MiB */
} st_http_server_opts_t;

int st_http_server_new(st_http_server_t **out, const st_http_server_opts_t *opts /* NULL = defaults */);
/* Route `path` to fn. With prefix, every path starting with `path` matches;
 * an exact route wins over a prefix one, a longer prefix over a shorter. */
int st_http_server_route(st_http_server_t *s, const char *path, bool prefix, st_http_handler_fn fn, void *ctx);
/* A component's route table: every entry routed with the same ctx. */
typedef struct {
    const char *path;
    bool prefix;
    st_http_handler_fn fn;
} st_http_route_t;
int st_http_server_routes(st_http_server_t *s, const st_http_route_t *routes, size_t n, void *ctx);
/* Listen on addr ("127.0.0.1:10902", "[::1]:80", ":10902" = every
 * interface; port 0 picks a free port) and start serving. Bind failures are
 * ST_EIO naming the address and the errno text. */
int st_http_server_start(st_http_server_t *s, const char *addr);
/* The bound port (useful with port 0); 0 before start. */
uint16_t st_http_server_port(const st_http_server_t *s);
/* Fill resp with a copy of a C string (status, content type as given). */
int st_http_respond(st_http_response_t *resp, int status, const char *content_type, const char *text);
/* Stops (waits for running handlers) and frees. NULL ok. */
void st_http_server_free(st_http_server_t *s);

#endif
