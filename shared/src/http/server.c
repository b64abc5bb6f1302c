/*
 * HTTP server over libmicrohttpd; contract in httpserver.h.
 *
 * We create, bind and listen on the socket ourselves and hand it to MHD
 * (MHD_OPTION_LISTEN_SOCKET): that way a bind failure carries its errno
 * and port 0 can be read back with getsockname. MHD calls the access
 * handler several times per request: once when the headers are in, once
 * per body piece, and a last time with no data, where we dispatch.
 */
#include "strata/httpserver.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "strata/buf.h"
#include "strata/err.h"
#include "strata/log.h"

#define DEFAULT_THREADS 4
#define DEFAULT_MAX_BODY ((size_t)16 << 20)
#define MAX_ADDR_LEN 512

typedef struct {
    char *path;
    size_t len;
    bool prefix;
    st_http_handler_fn fn;
    void *ctx;
} route_t;

struct st_http_server {
    struct MHD_Daemon *mhd;
    route_t *routes;
    size_t nroutes;
    unsigned threads;
    size_t max_body;
    uint16_t port;
};

struct st_http_request {
    struct MHD_Connection *conn;
    const char *method, *path;
    st_encbuf_t body;
    bool too_large;
};

const char *st_http_request_method(const st_http_request_t *r) { return r->method; }
const char *st_http_request_path(const st_http_request_t *r) { return r->path; }

const char *st_http_request_arg(const st_http_request_t *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

typedef struct {
    const char *name;
    const char **v;
    size_t n;
    int err;
} args_t;

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    args_t *a = cls;
    if (!key || strcmp(key, a->name) != 0) return MHD_YES;
    const char **v = realloc(a->v, (a->n + 1) * sizeof *v);
    if (!v) {
        a->err = st_errorf(ST_ENOMEM, "query argument %s: allocation failed", a->name);
        return MHD_NO;
    }
    v[a->n++] = value ? value : "";
    a->v = v;
    return MHD_YES;
}

int st_http_request_args(const st_http_request_t *r, const char *name, const char ***out, size_t *n) {
    args_t a = {name, NULL, 0, 0};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
    if (a.err) {
        free(a.v);
        a.v = NULL;
        a.n = 0;
    }
    *out = a.v;
    *n = a.n;
    return a.err;
}

const char *st_http_request_header(const st_http_request_t *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const void *st_http_request_body(const st_http_request_t *r, size_t *len) {
    *len = r->body.len;
    return r->body.p ? (const void *)r->body.p : "";
}

int st_http_respond(st_http_response_t *resp, int status, const char *content_type, const char *text) {
    size_t n = strlen(text);
    char *b = malloc(n ? n : 1);
    if (!b) return st_errorf(ST_ENOMEM, "http response of %zu bytes", n);
    memcpy(b, text, n);
    free(resp->body);
    *resp = (st_http_response_t){status, content_type, b, n, NULL};
    return ST_OK;
}

int st_http_server_new(st_http_server_t **out, const st_http_server_opts_t *opts) {
    st_http_server_t *s = calloc(1, sizeof *s);
    if (!s) return st_errorf(ST_ENOMEM, "http server");
    s->threads = opts && opts->threads ? opts->threads : DEFAULT_THREADS;
    s->max_body = opts && opts->max_body ? opts->max_body : DEFAULT_MAX_BODY;
    *out = s;
    return ST_OK;
}

int st_http_server_route(st_http_server_t *s, const char *path, bool prefix, st_http_handler_fn fn, void *ctx) {
    if (s->mhd) return st_errorf(ST_EINVAL, "http route %s: server already started", path);
    if (path[0] != '/') return st_errorf(ST_EINVAL, "http route \"%s\": must start with '/'", path);
    route_t *r = realloc(s->routes, (s->nroutes + 1) * sizeof *r);
    if (!r) return st_errorf(ST_ENOMEM, "http route %s", path);
    s->routes = r;
    char *p = strdup(path);
    if (!p) return st_errorf(ST_ENOMEM, "http route %s", path);
    s->routes[s->nroutes++] = (route_t){p, strlen(p), prefix, fn, ctx};
    return ST_OK;
}

int st_http_server_routes(st_http_server_t *s, const st_http_route_t *routes, size_t n, void *ctx) {
    for (size_t i = 0; i < n; i++) {
        int rc = st_http_server_route(s, routes[i].path, routes[i].prefix, routes[i].fn, ctx);
        if (rc) return rc;
    }
    return ST_OK;
}

static const route_t *find_route(const st_http_server_t *s, const char *path) {
    const route_t *best = NULL;
    for (size_t i = 0; i < s->nroutes; i++) {
        const route_t *r = &s->routes[i];
        if (!r->prefix) {
            if (strcmp(r->path, path) == 0) return r;
        } else if (strncmp(r->path, path, r->len) == 0 && (!best || r->len > best->len)) {
            best = r;
        }
    }
    return best;
}

static enum MHD_Result queue_response(struct MHD_Connection *conn, int status, const char *ct, const char *enc,
                                      char *body, size_t len) {
    struct MHD_Response *resp = body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
                                     : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ct ? ct : ST_HTTP_CT_TEXT);
    if (enc) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, enc);
    enum MHD_Result r = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result send_text(struct MHD_Connection *conn, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum MHD_Result send_text(struct MHD_Connection *conn, int status, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    return queue_response(conn, status, ST_HTTP_CT_TEXT, NULL, strdup(tmp), strlen(tmp));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    st_http_server_t *s = cls;
    st_http_request_t *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req) return MHD_NO;
        req->conn = conn;
        req->method = method;
        req->path = url;
        st_encbuf_init(&req->body, s->max_body);
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!req->too_large) {
            st_put_bytes(&req->body, upload_data, *upload_data_size);
            if (req->body.err) req->too_large = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->too_large) return send_text(conn, 413, "request body larger than %zu bytes\n", s->max_body);
    const route_t *r = find_route(s, url);
    if (!r) return send_text(conn, 404, "404 page not found\n");
    st_http_response_t resp = {0};
    int rc = r->fn(r->ctx, req, &resp);
    if (rc) {
        free(resp.body);
        st_log(ST_LOG_WARN, "http handler failed", "method", method, "path", url, "err", st_errdetail(rc), NULL);
        return send_text(conn, 500, "internal error: %s\n", st_errdetail(rc));
    }
    return queue_response(conn, resp.status ? resp.status : 200, resp.content_type, resp.content_encoding, resp.body,
                          resp.len);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)conn, (void)toe;
    st_http_request_t *req = *con_cls;
    if (!req) return;
    st_encbuf_free(&req->body);
    free(req);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
    st_log(ST_LOG_DEBUG, "http server", "detail", msg, NULL);
}

/* Split "host:port" / "[v6]:port" / ":port" into host (empty = any) and port. */
static int split_addr(const char *addr, char *host, size_t hostcap, char *port, size_t portcap) {
    const char *colon;
    size_t hlen;
    const char *h = addr;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':') return st_errorf(ST_EINVAL, "listen address \"%s\": want [host]:port", addr);
        h = addr + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon) return st_errorf(ST_EINVAL, "listen address \"%s\": missing port (want host:port)", addr);
        hlen = (size_t)(colon - addr);
        if (memchr(addr, ':', hlen))
            return st_errorf(ST_EINVAL, "listen address \"%s\": IPv6 hosts need brackets ([::1]:port)", addr);
    }
    size_t plen = strlen(colon + 1);
    if (hlen >= hostcap || plen == 0 || plen >= portcap || strspn(colon + 1, "0123456789") != plen)
        return st_errorf(ST_EINVAL, "listen address \"%s\": bad host or port", addr);
    memcpy(host, h, hlen);
    host[hlen] = 0;
    memcpy(port, colon + 1, plen + 1);
    return ST_OK;
}

static int listen_on(const char *addr, int *out_fd, int *out_family, uint16_t *out_port) {
    char host[MAX_ADDR_LEN], port[16];
    int rc = split_addr(addr, host, sizeof host, port, sizeof port);
    if (rc) return rc;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    if (!host[0]) hints.ai_family = AF_INET6; /* any interface: dual-stack, as Go does */
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai != 0 && !host[0]) {
        hints.ai_family = AF_INET; /* no IPv6 on this machine */
        gai = getaddrinfo(NULL, port, &hints, &res);
    }
    if (gai != 0) return st_errorf(ST_EIO, "listen on %s: resolve: %s", addr, gai_strerror(gai));
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    if (fd < 0) {
        rc = st_errorf(ST_EIO, "listen on %s: socket: %s", addr, strerror(errno));
        goto out;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (res->ai_family == AF_INET6 && !host[0]) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        rc = st_errorf(ST_EIO, "listen on %s: %s", addr, strerror(errno));
        close(fd);
        goto out;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        rc = st_errorf(ST_EIO, "listen on %s: getsockname: %s", addr, strerror(errno));
        close(fd);
        goto out;
    }
    *out_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    *out_fd = fd;
    *out_family = res->ai_family;
out:
    freeaddrinfo(res);
    return rc;
}

int st_http_server_start(st_http_server_t *s, const char *addr) {
    if (s->mhd) return st_errorf(ST_EINVAL, "http server on %s: already started", addr);
    int fd = -1, family = 0;
    uint16_t port = 0;
    int rc = listen_on(addr, &fd, &family, &port);
    if (rc) return rc;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (family == AF_INET6) flags |= MHD_USE_IPv6;
    /* the logger option goes first so that MHD logs nothing on its own */
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                              MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, s->threads,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT,
                              (unsigned)120, MHD_OPTION_END);
    if (!s->mhd) {
        close(fd);
        return st_errorf(ST_EIO, "listen on %s: libmicrohttpd failed to start", addr);
    }
    s->port = port;
    return ST_OK;
}

uint16_t st_http_server_port(const st_http_server_t *s) { return s->port; }

void st_http_server_free(st_http_server_t *s) {
    if (!s) return;
    if (s->mhd) MHD_stop_daemon(s->mhd);
    for (size_t i = 0; i < s->nroutes; i++) free(s->routes[i].path);
    free(s->routes);
    free(s);
}
