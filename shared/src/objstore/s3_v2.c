/*
 * S3 with Signature Version 2 (signature_version2: true), through libs3 2.0
 * — for old MinIO/Ceph gateways that predate SigV4. libs3 2.0 has no
 * multipart API, so every upload is one PUT (S3 caps those at 5 GiB); it
 * lists with the V1 call (marker instead of continuation token). Requests
 * are synchronous (no request context), which libs3 allows from any
 * thread once S3_initialize has run. Retries follow the SigV4 backend:
 * libs3's retryable statuses, jittered exponential backoff. Object names
 * with spaces are refused (libs3 encodes ' ' as '+' in the path).
 *
 * Timeouts are libs3's own (it aborts stalled transfers; it sets no
 * connect timeout of its own, so curl's default applies).
 */
#include <errno.h>
#include <fcntl.h>
#include <libs3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "objstore_int.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/log.h"

#define V2_MAX_PUT ((uint64_t)5 << 30)
#define V2_LIST_MAX_PAGE ST_S3_LIST_MAX_ENTRIES

typedef struct {
    S3BucketContext ctx;
    char *endpoint, *bucket, *access_key, *secret_key;
    int attempts;
} v2_t;

/* Per-request state shared by libs3's callbacks. */
typedef struct {
    S3Status status;
    char errmsg[256];
    /* body to send */
    const uint8_t *body;
    uint64_t body_len, body_pos;
    /* body received */
    int fd;
    uint8_t *buf;
    size_t len, cap, max;
    bool clip; /* ranged: bytes past max are dropped (s3rver answers
                  "bytes=0-0" with the whole object), not an error */
    uint64_t written;
    int sink_err;
    /* properties */
    uint64_t content_length;
    int64_t last_modified;
    bool have_props;
    /* one list page, possibly delivered in several callbacks */
    st_s3_list_t page;
    size_t page_cap;
    char *next_marker;
} call_t;

static void call_reset(call_t *c) {
    c->status = S3StatusOK;
    c->errmsg[0] = 0;
    c->body_pos = 0;
    c->len = 0;
    c->written = 0;
    c->sink_err = 0;
    c->have_props = false;
    st_s3_list_free(&c->page);
    c->page_cap = 0;
    free(c->next_marker);
    c->next_marker = NULL;
}

static void call_free(call_t *c) {
    free(c->buf);
    st_s3_list_free(&c->page);
    free(c->next_marker);
}

static S3Status on_props(const S3ResponseProperties *p, void *ud) {
    call_t *c = ud;
    c->content_length = p->contentLength;
    c->last_modified = p->lastModified;
    c->have_props = true;
    return S3StatusOK;
}

static void on_complete(S3Status status, const S3ErrorDetails *e, void *ud) {
    call_t *c = ud;
    c->status = status;
    if (e && e->message) snprintf(c->errmsg, sizeof c->errmsg, "%s", e->message);
}

static int on_put_data(int size, char *buf, void *ud) {
    call_t *c = ud;
    uint64_t left = c->body_len - c->body_pos;
    int n = left < (uint64_t)size ? (int)left : size;
    memcpy(buf, c->body + c->body_pos, (size_t)n);
    c->body_pos += (uint64_t)n;
    return n;
}

static S3Status on_get_data(int size, const char *data, void *ud) {
    call_t *c = ud;
    size_t n = (size_t)size;
    if (c->fd >= 0) {
        if (st_pwrite_all(c->fd, data, n, c->written)) {
            c->sink_err = st_errwrap(ST_EIO, "S3 (SigV2) GET: writing the local file");
            return S3StatusAbortedByCallback;
        }
        c->written += n;
        return S3StatusOK;
    }
    if (c->clip && n > c->max - c->len) n = c->max - c->len;
    if (n > c->max - c->len) {
        c->sink_err = st_errorf(ST_ELIMIT, "S3 (SigV2) GET: object exceeds the limit of %zu bytes", c->max);
        return S3StatusAbortedByCallback;
    }
    if (c->len + n + 1 > c->cap) {
        size_t ncap = c->cap ? c->cap : 4096;
        while (ncap < c->len + n + 1) ncap *= 2;
        uint8_t *nb = realloc(c->buf, ncap);
        if (!nb) {
            c->sink_err = st_errorf(ST_ENOMEM, "S3 (SigV2) GET: out of memory");
            return S3StatusAbortedByCallback;
        }
        c->buf = nb;
        c->cap = ncap;
    }
    memcpy(c->buf + c->len, data, n);
    c->len += n;
    return S3StatusOK;
}

static bool add_entry(call_t *c, const char *name, uint64_t size, bool is_prefix) {
    if (c->page.n >= V2_LIST_MAX_PAGE) {
        c->sink_err = st_errorf(ST_ECORRUPT, "S3 (SigV2) list: more than %d entries in one page", V2_LIST_MAX_PAGE);
        return false;
    }
    if (c->page.n == c->page_cap) {
        size_t ncap = c->page_cap ? c->page_cap * 2 : 64;
        st_s3_entry_t *nv = realloc(c->page.v, ncap * sizeof *nv);
        if (!nv) return false;
        c->page.v = nv;
        c->page_cap = ncap;
    }
    char *d = strdup(name);
    if (!d) return false;
    c->page.v[c->page.n++] = (st_s3_entry_t){d, size, is_prefix};
    return true;
}

static S3Status on_list(int truncated, const char *next_marker, int ncontents, const S3ListBucketContent *contents,
                        int nprefixes, const char **prefixes, void *ud) {
    call_t *c = ud;
    c->page.truncated = truncated != 0;
    if (next_marker && *next_marker) {
        free(c->next_marker);
        if (!(c->next_marker = strdup(next_marker))) goto nomem;
    }
    for (int i = 0; i < ncontents; i++)
        if (!add_entry(c, contents[i].key, contents[i].size, false)) goto nomem;
    for (int i = 0; i < nprefixes; i++)
        if (!add_entry(c, prefixes[i], 0, true)) goto nomem;
    return S3StatusOK;
nomem:
    if (!c->sink_err) c->sink_err = st_errorf(ST_ENOMEM, "S3 (SigV2) list: out of memory");
    return S3StatusAbortedByCallback;
}

typedef enum { OP_PUT, OP_GET, OP_HEAD, OP_DELETE, OP_LIST } op_t;

typedef struct {
    op_t op;
    const char *key;
    uint64_t range_off, range_len; /* GET: range_len 0 = to the end */
    const char *prefix, *marker, *delimiter;
} v2req_t;

static const char *const op_names[] = {"PUT", "GET", "HEAD", "DELETE", "LIST"};

static void issue(v2_t *s, const v2req_t *q, call_t *c) {
    S3ResponseHandler rh = {on_props, on_complete};
    switch (q->op) {
    case OP_PUT: {
        S3PutObjectHandler h = {rh, on_put_data};
        S3_put_object(&s->ctx, q->key, c->body_len, NULL, NULL, &h, c);
        break;
    }
    case OP_GET: {
        S3GetObjectHandler h = {rh, on_get_data};
        S3_get_object(&s->ctx, q->key, NULL, q->range_off, q->range_len, NULL, &h, c);
        break;
    }
    case OP_HEAD: S3_head_object(&s->ctx, q->key, NULL, &rh, c); break;
    case OP_DELETE: S3_delete_object(&s->ctx, q->key, NULL, &rh, c); break;
    case OP_LIST: {
        S3ListBucketHandler h = {rh, on_list};
        S3_list_bucket(&s->ctx, q->prefix, q->marker, q->delimiter, 0, NULL, &h, c);
        break;
    }
    }
}

static bool not_found(S3Status st) {
    return st == S3StatusHttpErrorNotFound || st == S3StatusErrorNoSuchKey;
}

/* Run with retries; map the final libs3 status to our error space. */
static int v2_do(v2_t *s, const v2req_t *q, call_t *c) {
    const char *what = q->key ? q->key : "";
    int rc = ST_OK;
    /* libs3 2.0 writes ' ' in a key as '+', which S3-compatible servers
     * read as a literal '+': such a key could not be read back by name. */
    if (q->key && strchr(q->key, ' '))
        return st_errorf(ST_EINVAL, "S3 (SigV2) %s \"%s\": object names with spaces are not supported by libs3",
                         op_names[q->op], q->key);
    for (int attempt = 0; attempt < s->attempts; attempt++) {
        call_reset(c);
        if (c->fd >= 0 && attempt > 0 && ftruncate(c->fd, 0) != 0)
            return st_errorf(ST_EIO, "S3 (SigV2) GET %s: truncating the local file: %s", what, strerror(errno));
        issue(s, q, c);
        if (c->sink_err) return c->sink_err;
        if (c->status == S3StatusOK) return ST_OK;
        if (not_found(c->status))
            return st_errorf(ST_ENOTFOUND, "S3 (SigV2) %s %s/%s: not found", op_names[q->op], s->bucket, what);
        if (q->op == OP_GET && c->status == S3StatusErrorInvalidRange) return ST_OK; /* caller: empty */
        rc = st_errorf(ST_EIO, "S3 (SigV2) %s %s/%s: %s%s%s", op_names[q->op], s->bucket, what,
                       S3_get_status_name(c->status), c->errmsg[0] ? ": " : "", c->errmsg);
        if (!S3_status_is_retryable(c->status)) return rc;
        if (attempt + 1 < s->attempts) {
            char n[16];
            snprintf(n, sizeof n, "%d", attempt + 1);
            st_log(ST_LOG_WARN, "S3 request failed, retrying", "method", op_names[q->op], "object", what,
                   "attempt", n, "err", st_errdetail(rc), NULL);
            st_objstore_backoff(attempt);
        }
    }
    char detail[900];
    snprintf(detail, sizeof detail, "%s", st_errdetail(rc));
    return st_errorf(rc, "%s (after %d attempts)", detail, s->attempts);
}

static int v2_upload(st_objstore_t *so, const char *name, const void *data, size_t len) {
    v2_t *s = so->impl;
    if ((uint64_t)len > V2_MAX_PUT)
        return st_errorf(ST_ELIMIT, "S3 (SigV2) PUT %s: %zu bytes; SigV2 (libs3) has no multipart upload, "
                                    "single PUTs stop at 5 GiB", name, len);
    call_t c = {.body = data, .body_len = len, .fd = -1};
    v2req_t q = {.op = OP_PUT, .key = name};
    int rc = v2_do(s, &q, &c);
    call_free(&c);
    return rc;
}

static int v2_upload_file(st_objstore_t *so, const char *name, const char *path) {
    st_mmap_t m = {0};
    int rc = st_mmap_open(&m, path);
    if (rc) return st_errwrap(rc, "S3 (SigV2) upload %s", name);
    rc = v2_upload(so, name, m.p ? m.p : (const uint8_t *)"", m.len);
    st_mmap_close(&m);
    return rc;
}

static int v2_attributes(st_objstore_t *so, const char *name, st_obj_attrs_t *a) {
    v2_t *s = so->impl;
    call_t c = {.fd = -1};
    v2req_t q = {.op = OP_HEAD, .key = name};
    int rc = v2_do(s, &q, &c);
    if (!rc && !c.have_props) rc = st_errorf(ST_EIO, "S3 (SigV2) HEAD %s/%s: no properties", s->bucket, name);
    if (!rc) {
        a->size = c.content_length;
        a->last_modified_ms = c.last_modified > 0 ? c.last_modified * 1000 : 0;
    }
    call_free(&c);
    return rc;
}

static int v2_get(st_objstore_t *so, const char *name, uint64_t off, uint64_t len, size_t max, uint8_t **out,
                  size_t *outlen) {
    v2_t *s = so->impl;
    /* libs3 reads byteCount 0 as "to the end" */
    call_t c = {.fd = -1, .max = max, .clip = len != ST_OBJ_TO_END};
    v2req_t q = {.op = OP_GET, .key = name, .range_off = off, .range_len = len == ST_OBJ_TO_END ? 0 : len};
    int rc = v2_do(s, &q, &c);
    if (rc) goto out;
    if (c.status == S3StatusErrorInvalidRange) c.len = 0;
    if (!c.buf && !(c.buf = malloc(1))) {
        rc = st_errorf(ST_ENOMEM, "S3 (SigV2) GET %s: out of memory", name);
        goto out;
    }
    c.buf[c.len] = 0;
    *out = c.buf;
    *outlen = c.len;
    c.buf = NULL;
out:
    call_free(&c);
    return rc;
}

static int v2_download_file(st_objstore_t *so, const char *name, const char *path) {
    v2_t *s = so->impl;
    st_atomic_file_t f;
    int rc = st_atomic_file_open(&f, path);
    if (rc) return st_errwrap(rc, "S3 (SigV2) download %s", name);
    call_t c = {.fd = f.fd};
    v2req_t q = {.op = OP_GET, .key = name};
    if (!(rc = v2_do(s, &q, &c))) rc = st_atomic_file_commit(&f);
    st_atomic_file_abort(&f);
    call_free(&c);
    return rc;
}

static int v2_delete(st_objstore_t *so, const char *name) {
    /* S3 answers 204 for a missing key too; the contract wants ST_ENOTFOUND */
    st_obj_attrs_t a;
    int rc = v2_attributes(so, name, &a);
    if (rc) return rc;
    call_t c = {.fd = -1};
    v2req_t q = {.op = OP_DELETE, .key = name};
    rc = v2_do(so->impl, &q, &c);
    call_free(&c);
    return rc;
}

static int entry_cmp(const void *a, const void *b) {
    return strcmp(((const st_s3_entry_t *)a)->name, ((const st_s3_entry_t *)b)->name);
}

static int v2_iter(st_objstore_t *so, const char *dir, bool recursive, st_objstore_iter_fn fn, void *ctx) {
    v2_t *s = so->impl;
    call_t c = {.fd = -1};
    char *marker = NULL;
    int rc = ST_OK;
    for (;;) {
        v2req_t q = {.op = OP_LIST, .prefix = *dir ? dir : NULL, .marker = marker,
                     .delimiter = recursive ? NULL : "/"};
        if ((rc = v2_do(s, &q, &c))) break;
        st_s3_list_t *p = &c.page;
        if (p->n) qsort(p->v, p->n, sizeof *p->v, entry_cmp);
        for (size_t i = 0; i < p->n && !rc; i++) {
            const char *nm = p->v[i].name;
            size_t nl = strlen(nm);
            if (!strcmp(nm, dir) || (!p->v[i].is_prefix && nl && nm[nl - 1] == '/')) continue;
            if (p->v[i].is_prefix && recursive) continue;
            rc = fn(ctx, nm);
        }
        if (rc || !p->truncated) break;
        /* V1 listing: NextMarker when the server sends it, else the last name */
        const char *next = c.next_marker ? c.next_marker : p->n ? p->v[p->n - 1].name : NULL;
        if (!next || (marker && strcmp(next, marker) <= 0)) {
            rc = st_errorf(ST_ECORRUPT, "S3 (SigV2) list %s/%s: truncated page without a marker that advances",
                           s->bucket, dir);
            break;
        }
        char *nm = strdup(next);
        if (!nm) {
            rc = st_errorf(ST_ENOMEM, "S3 (SigV2) list: out of memory");
            break;
        }
        free(marker);
        marker = nm;
    }
    free(marker);
    call_free(&c);
    return rc;
}

static void v2_close(void *impl) {
    v2_t *s = impl;
    if (!s) return;
    free(s->endpoint);
    free(s->bucket);
    free(s->access_key);
    if (s->secret_key) {
        explicit_bzero(s->secret_key, strlen(s->secret_key));
        free(s->secret_key);
    }
    free(s);
}

static const st_objstore_ops_t v2_ops = {
    .upload = v2_upload,
    .upload_file = v2_upload_file,
    .get = v2_get,
    .download_file = v2_download_file,
    .attributes = v2_attributes,
    .del = v2_delete,
    .iter = v2_iter,
    .close = v2_close,
};

static pthread_once_t libs3_once = PTHREAD_ONCE_INIT;
static S3Status libs3_init_status;
static void libs3_init(void) { libs3_init_status = S3_initialize("strata", S3_INIT_ALL, NULL); }

int st_objstore_s3v2_open(st_objstore_t *so, const st_objstore_config_t *cfg) {
    pthread_once(&libs3_once, libs3_init);
    if (libs3_init_status != S3StatusOK)
        return st_errorf(ST_EIO, "S3 (SigV2): libs3 initialisation: %s", S3_get_status_name(libs3_init_status));
    if (strlen(cfg->endpoint) > S3_MAX_HOSTNAME_SIZE)
        return st_errorf(ST_EINVAL, "S3 (SigV2): endpoint longer than %d bytes", S3_MAX_HOSTNAME_SIZE);
    if (!cfg->access_key)
        return st_errorf(ST_EINVAL, "S3 (SigV2): access_key and secret_key are required (config or environment)");
    v2_t *s = calloc(1, sizeof *s);
    if (!s) return st_errorf(ST_ENOMEM, "S3: out of memory");
    s->endpoint = strdup(cfg->endpoint);
    s->bucket = strdup(cfg->bucket);
    s->access_key = strdup(cfg->access_key);
    s->secret_key = strdup(cfg->secret_key);
    if (asprintf(&so->desc, "S3:%s@%s", cfg->bucket, cfg->endpoint) < 0) so->desc = NULL;
    if (!s->endpoint || !s->bucket || !s->access_key || !s->secret_key || !so->desc) {
        v2_close(s);
        return st_errorf(ST_ENOMEM, "S3: out of memory");
    }
    s->attempts = cfg->max_retries + 1;
    s->ctx = (S3BucketContext){
        .hostName = s->endpoint,
        .bucketName = s->bucket,
        .protocol = cfg->insecure ? S3ProtocolHTTP : S3ProtocolHTTPS,
        .uriStyle = S3UriStylePath,
        .accessKeyId = s->access_key,
        .secretAccessKey = s->secret_key,
    };
    so->ops = &v2_ops;
    so->impl = s;
    return ST_OK;
}
