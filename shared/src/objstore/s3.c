/*
 * S3 backend over libcurl, signed by curl itself (CURLOPT_AWS_SIGV4,
 * "aws:amz:REGION:s3"). Path-style requests on http(s)://ENDPOINT/BUCKET:
 *
 *   PUT    /b/key                                  upload of at most part_size bytes
 *   POST   /b/key?uploads=                         initiate multipart -> <UploadId>
 *   PUT    /b/key?partNumber=N&uploadId=U          one part -> ETag header
 *   POST   /b/key?uploadId=U                       complete: <CompleteMultipartUpload>
 *   DELETE /b/key?uploadId=U                       abort, after any failure
 *   GET    /b/key            [Range: bytes=A-B]    get / ranged get
 *   HEAD   /b/key                                  size and Last-Modified
 *   DELETE /b/key                                  delete (after a HEAD: S3 says 204
 *                                                  for missing keys too)
 *   GET    /b?continuation-token=T&delimiter=%2F&list-type=2&prefix=P   ListObjectsV2
 *
 * curl 7.88 signs the path and query exactly as given and every header we
 * add, so the query is written already sorted and encoded the SigV4 way,
 * bare flags as "uploads=", and x-amz-content-sha256 carries the hex
 * SHA-256 of the body. Keys are percent-encoded once (S3 does not
 * normalise its canonical URI). curl 7.88 also signs a header we only
 * blank out ("Expect:"), which it then does not send: so we never do that,
 * and big bodies go with curl's own, unsigned, Expect: 100-continue.
 *
 * Every call uses its own easy handle; connections, DNS and TLS sessions
 * are shared through one CURLSH, so the handle is thread-safe and still
 * keeps connections alive. Each request has a connect timeout and a
 * low-speed abort; 5xx, 429 and transport errors are retried with jittered
 * exponential backoff. The secret key only ever goes to CURLOPT_USERPWD:
 * it is never logged and never in an error detail.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "objstore_int.h"
#include "strata/buf.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/log.h"

#define CONNECT_TIMEOUT_S 10L
#define LOW_SPEED_TIME_S 30L    /* abort a transfer stalled below 1 byte/s this long */
#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 5000
#define ERRBODY_MAX (64 << 10)  /* error documents are small; keep the start */
#define LIST_BODY_MAX ST_S3_XML_MAX_BYTES
#define MAX_PARTS 10000         /* S3's limit on parts per upload */

typedef struct {
    char *base;    /* "http://endpoint/bucket" */
    char *bucket;
    char *userpwd; /* "KEY:SECRET" or NULL (anonymous); never logged */
    char *sigv4;   /* "aws:amz:REGION:s3" */
    uint64_t part_size;
    int attempts;
    bool skip_verify;
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
} s3_t;

/* ---- helpers shared with s3_v2.c (declared in objstore_int.h) ---- */

char *st_uri_encode(const char *s, bool keep_slash) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1);
    if (!out) {
        st_errorf(ST_ENOMEM, "S3: out of memory");
        return NULL;
    }
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '_' || c == '.' || c == '~' || (c == '/' && keep_slash)) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = 0;
    return out;
}

void st_sha256_hex(const void *data, size_t len, char hex[65]) {
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", md[i]);
    hex[64] = 0;
}

void st_objstore_backoff(int attempt) {
    uint64_t d = (uint64_t)BACKOFF_BASE_MS << (attempt < 16 ? attempt : 16);
    if (d > BACKOFF_CAP_MS) d = BACKOFF_CAP_MS;
    /* "equal jitter": half fixed, half random, so retries of many clients spread */
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) r = (uint32_t)time(NULL) * 2654435761u;
    uint64_t ms = d / 2 + r % (d / 2 + 1);
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- one HTTP exchange ---- */

typedef struct {
    const char *method;
    const char *key;   /* NULL: the bucket itself */
    const char *query; /* canonical query (sorted, encoded) or NULL */
    const uint8_t *body;
    size_t body_len;
    bool has_body;
    bool ranged;
    uint64_t range_off, range_len; /* range_len ST_OBJ_TO_END: open-ended */
    int fd;                        /* >= 0: a 2xx body goes to this file */
    size_t max;                    /* memory sink: cap (ST_ELIMIT above it); 0: a
                                      response document, ST_S3_XML_MAX_BYTES */
} req_t;

typedef struct {
    long status;
    bool started; /* first body byte seen: sink mode decided */
    bool to_err;  /* the body is an error document */
    uint64_t skip; /* leading bytes to drop (server ignored Range) */
    uint8_t *buf;
    size_t len, cap;
    uint64_t written; /* bytes into req->fd */
    bool have_cl, have_cr;
    uint64_t content_length, cr_start;
    int64_t last_modified_ms;
    char etag[256];
    int sink_err;
    const req_t *req;
    size_t body_pos; /* request body read cursor */
} resp_t;

static const char *what_of(const req_t *q) { return q->key ? q->key : ""; }

static void resp_reset(resp_t *r, const req_t *req) {
    uint8_t *buf = r->buf;
    size_t cap = r->cap;
    memset(r, 0, sizeof *r);
    r->buf = buf;
    r->cap = cap;
    r->req = req;
}

static bool grow(resp_t *r, size_t need) {
    if (need <= r->cap) return true;
    size_t ncap = r->cap ? r->cap : 4096;
    while (ncap < need) ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    uint8_t *nb = realloc(r->buf, ncap);
    if (!nb) return false;
    r->buf = nb;
    r->cap = ncap;
    return true;
}

static size_t on_header(char *line, size_t size, size_t n, void *ud) {
    resp_t *r = ud;
    size_t len = size * n;
    char h[512];
    size_t l = len < sizeof h - 1 ? len : sizeof h - 1;
    memcpy(h, line, l);
    while (l > 0 && (h[l - 1] == '\r' || h[l - 1] == '\n')) l--;
    h[l] = 0;
    if (!strncmp(h, "HTTP/", 5)) {
        /* a new response (after a 100 Continue): forget earlier headers */
        long st = 0;
        if (sscanf(h, "%*s %ld", &st) == 1) r->status = st;
        r->have_cl = r->have_cr = false;
        r->etag[0] = 0;
        return len;
    }
    char *colon = strchr(h, ':');
    if (!colon) return len;
    *colon = 0;
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t') v++;
    unsigned long long a;
    if (!strcasecmp(h, "Content-Length")) {
        char *end;
        errno = 0;
        a = strtoull(v, &end, 10);
        r->have_cl = !errno && end != v && !*end;
        r->content_length = a;
    } else if (!strcasecmp(h, "Content-Range")) {
        r->have_cr = sscanf(v, "bytes %llu-", &a) == 1;
        r->cr_start = a;
    } else if (!strcasecmp(h, "ETag")) {
        snprintf(r->etag, sizeof r->etag, "%s", v);
    } else if (!strcasecmp(h, "Last-Modified")) {
        time_t t = curl_getdate(v, NULL);
        r->last_modified_ms = t > 0 ? (int64_t)t * 1000 : 0;
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
    resp_t *r = ud;
    const req_t *q = r->req;
    size_t len = size * n;
    size_t max = q->max ? q->max : ST_S3_XML_MAX_BYTES;
    if (!r->started) {
        r->started = true;
        r->to_err = r->status < 200 || r->status >= 300;
        if (!r->to_err && q->ranged) {
            if (r->status == 200) r->skip = q->range_off; /* Range ignored: whole object */
            else if (r->have_cr && r->cr_start != q->range_off) {
                r->sink_err = st_errorf(ST_ECORRUPT, "S3 GET %s: Content-Range starts at %llu, asked %llu",
                                        q->key, (unsigned long long)r->cr_start,
                                        (unsigned long long)q->range_off);
                return 0;
            }
        }
        if (!r->to_err && q->fd < 0 && r->have_cl && !q->ranged) {
            if (r->content_length > max) {
                r->sink_err = st_errorf(ST_ELIMIT, "S3 %s %s: %llu bytes exceed the limit of %zu", q->method,
                                        what_of(q), (unsigned long long)r->content_length, max);
                return 0;
            }
            if (!grow(r, (size_t)r->content_length + 1)) {
                r->sink_err = st_errorf(ST_ENOMEM, "S3 %s %s: out of memory", q->method, what_of(q));
                return 0;
            }
        }
    }
    if (r->to_err) {
        size_t take = r->len < ERRBODY_MAX ? ERRBODY_MAX - r->len : 0;
        if (take > len) take = len;
        if (take && grow(r, r->len + take + 1)) {
            memcpy(r->buf + r->len, data, take);
            r->len += take;
        }
        return len;
    }
    if (r->skip) {
        size_t d = r->skip < len ? (size_t)r->skip : len;
        data += d;
        len -= d;
        r->skip -= d;
        if (!len) return size * n;
    }
    if (q->fd >= 0) {
        if (st_pwrite_all(q->fd, data, len, r->written)) {
            r->sink_err = st_errwrap(ST_EIO, "S3 GET %s: writing the local file", q->key);
            return 0;
        }
        r->written += len;
        return size * n;
    }
    size_t keep = len;
    if (q->ranged) {
        uint64_t room = q->range_len - r->len; /* a server sending more than asked is cut off */
        if (keep > room) keep = (size_t)room;
    } else if (len > max - r->len) {
        r->sink_err = st_errorf(ST_ELIMIT, "S3 %s %s: response exceeds the limit of %zu bytes", q->method,
                                what_of(q), max);
        return 0;
    }
    if (keep) {
        if (!grow(r, r->len + keep + 1)) {
            r->sink_err = st_errorf(ST_ENOMEM, "S3 %s %s: out of memory", q->method, what_of(q));
            return 0;
        }
        memcpy(r->buf + r->len, data, keep);
        r->len += keep;
    }
    return size * n;
}

static size_t on_read(char *dst, size_t size, size_t n, void *ud) {
    resp_t *r = ud;
    size_t left = r->req->body_len - r->body_pos;
    size_t take = size * n < left ? size * n : left;
    memcpy(dst, r->req->body + r->body_pos, take);
    r->body_pos += take;
    return take;
}

static int on_seek(void *ud, curl_off_t off, int origin) {
    resp_t *r = ud;
    if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->req->body_len) return CURL_SEEKFUNC_FAIL;
    r->body_pos = (size_t)off;
    return CURL_SEEKFUNC_OK;
}

static bool retryable(CURLcode cc) {
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return true;
    default: return false;
    }
}

static char *req_url(const s3_t *s, const req_t *q) {
    char *ekey = NULL;
    if (q->key && !(ekey = st_uri_encode(q->key, true))) return NULL;
    size_t n = strlen(s->base) + (ekey ? strlen(ekey) + 1 : 0) + (q->query ? strlen(q->query) + 1 : 0) + 1;
    char *url = malloc(n);
    if (url)
        snprintf(url, n, "%s%s%s%s%s", s->base, ekey ? "/" : "", ekey ? ekey : "", q->query ? "?" : "",
                 q->query ? q->query : "");
    else
        st_errorf(ST_ENOMEM, "S3: out of memory");
    free(ekey);
    return url;
}

/* One attempt. Returns the curl code; resp holds status, headers, body. */
static CURLcode perform_once(s3_t *s, const req_t *q, const char *url, resp_t *r, char errbuf[CURL_ERROR_SIZE]) {
    CURL *h = curl_easy_init();
    if (!h) return CURLE_OUT_OF_MEMORY;
    struct curl_slist *hdrs = NULL, *nh;
    char line[128];
    char sha[65];
    CURLcode cc = CURLE_OUT_OF_MEMORY;
    st_sha256_hex(q->has_body ? q->body : (const uint8_t *)"", q->has_body ? q->body_len : 0, sha);
    snprintf(line, sizeof line, "x-amz-content-sha256: %s", sha);
    if (!(nh = curl_slist_append(hdrs, line))) goto out;
    hdrs = nh;
    if (q->has_body) {
        /* curl would default POSTs to a form type */
        if (!(nh = curl_slist_append(hdrs, !strcmp(q->method, "POST") ? "Content-Type: application/xml"
                                                                       : "Content-Type: application/octet-stream")))
            goto out;
        hdrs = nh;
    }
    if (q->ranged) {
        if (q->range_len == ST_OBJ_TO_END)
            snprintf(line, sizeof line, "Range: bytes=%llu-", (unsigned long long)q->range_off);
        else
            snprintf(line, sizeof line, "Range: bytes=%llu-%llu", (unsigned long long)q->range_off,
                     (unsigned long long)(q->range_off + q->range_len - 1));
        if (!(nh = curl_slist_append(hdrs, line))) goto out;
        hdrs = nh;
    }
    errbuf[0] = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_SHARE, s->share);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_TIME_S);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "strata");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    if (s->skip_verify) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (s->userpwd) {
        curl_easy_setopt(h, CURLOPT_USERPWD, s->userpwd);
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
    }
    if (!strcmp(q->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(q->method, "PUT")) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_len);
    } else if (!strcmp(q->method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
    } else if (strcmp(q->method, "GET")) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
    }
    if (q->has_body) {
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
    }
    cc = curl_easy_perform(h);
    if (r->status == 0) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
out:
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return cc;
}

/* The request with retries. ST_OK means an HTTP response arrived that is
 * not worth retrying (any status: the caller interprets it). */
static int s3_do(s3_t *s, const req_t *q, resp_t *r) {
    char *url = req_url(s, q);
    if (!url) return ST_ENOMEM;
    char errbuf[CURL_ERROR_SIZE];
    int rc = ST_OK;
    for (int attempt = 0; attempt < s->attempts; attempt++) {
        resp_reset(r, q);
        if (q->fd >= 0 && attempt > 0 && ftruncate(q->fd, 0) != 0) {
            rc = st_errorf(ST_EIO, "S3 GET %s: truncating the local file: %s", q->key, strerror(errno));
            break;
        }
        CURLcode cc = perform_once(s, q, url, r, errbuf);
        if (r->sink_err) {
            rc = r->sink_err;
            break;
        }
        bool again;
        if (cc != CURLE_OK) {
            rc = st_errorf(ST_EIO, "S3 %s %s/%s: %s", q->method, s->bucket, what_of(q),
                           errbuf[0] ? errbuf : curl_easy_strerror(cc));
            again = retryable(cc);
        } else if (r->status >= 500 || r->status == 429) {
            char code[64], msg[256];
            if (st_s3_parse_error((const char *)r->buf, r->len, code, sizeof code, msg, sizeof msg)) code[0] = 0;
            rc = st_errorf(ST_EIO, "S3 %s %s/%s: HTTP %ld %s", q->method, s->bucket, what_of(q), r->status, code);
            again = true;
        } else {
            rc = ST_OK;
            break;
        }
        if (!again) break;
        if (attempt + 1 < s->attempts) {
            char n[16];
            snprintf(n, sizeof n, "%d", attempt + 1);
            st_log(ST_LOG_WARN, "S3 request failed, retrying", "method", q->method, "object", what_of(q),
                   "attempt", n, "err", st_errdetail(rc), NULL);
            st_objstore_backoff(attempt);
        } else {
            char detail[900];
            snprintf(detail, sizeof detail, "%s", st_errdetail(rc));
            st_errorf(rc, "%s (after %d attempts)", detail, s->attempts);
        }
    }
    free(url);
    return rc;
}

/* Error for a non-2xx status that was not retried. */
static int status_err(s3_t *s, const req_t *q, const resp_t *r) {
    char code[64] = "", msg[256] = "";
    if (r->to_err && r->len && st_s3_parse_error((const char *)r->buf, r->len, code, sizeof code, msg, sizeof msg))
        code[0] = msg[0] = 0;
    int kind = r->status == 404 && strcmp(code, "NoSuchBucket") ? ST_ENOTFOUND : ST_EIO;
    return st_errorf(kind, "S3 %s %s/%s: HTTP %ld%s%s%s%s", q->method, s->bucket, what_of(q), r->status,
                     code[0] ? " " : "", code, msg[0] ? ": " : "", msg);
}

/* ---- operations ---- */

static int put_single(s3_t *s, const char *name, const uint8_t *data, size_t len) {
    req_t q = {.method = "PUT", .key = name, .body = data, .body_len = len, .has_body = true, .fd = -1};
    resp_t r = {0};
    int rc = s3_do(s, &q, &r);
    if (!rc && (r.status < 200 || r.status >= 300)) rc = status_err(s, &q, &r);
    free(r.buf);
    return rc;
}

static void xml_escape(st_encbuf_t *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': st_put_cstr(b, "&amp;"); break;
        case '<': st_put_cstr(b, "&lt;"); break;
        case '>': st_put_cstr(b, "&gt;"); break;
        case '"': st_put_cstr(b, "&quot;"); break;
        default: st_put_u8(b, (uint8_t)*s);
        }
    }
}

static int put_multipart(s3_t *s, const char *name, const uint8_t *data, size_t len) {
    uint64_t psize = s->part_size;
    if ((len + psize - 1) / psize > MAX_PARTS) psize = (len + MAX_PARTS - 1) / MAX_PARTS;
    size_t nparts = (size_t)((len + psize - 1) / psize);
    char *upload_id = NULL, *eid = NULL, *query = NULL;
    char **etags = calloc(nparts, sizeof *etags);
    st_encbuf_t xml;
    st_encbuf_init(&xml, 0);
    resp_t r = {0};
    int rc = ST_OK;
    if (!etags) {
        rc = st_errorf(ST_ENOMEM, "S3 upload %s: out of memory", name);
        goto out;
    }
    req_t init = {.method = "POST", .key = name, .query = "uploads=", .has_body = true, .body = (const uint8_t *)"",
                  .fd = -1};
    if ((rc = s3_do(s, &init, &r))) goto out;
    if (r.status != 200) {
        rc = status_err(s, &init, &r);
        goto out;
    }
    if ((rc = st_s3_parse_upload_id(&upload_id, (const char *)r.buf, r.len))) {
        st_errwrap(rc, "S3 upload %s", name);
        goto out;
    }
    if (!(eid = st_uri_encode(upload_id, false))) {
        rc = ST_ENOMEM;
        goto out;
    }
    size_t qcap = strlen(eid) + 64;
    if (!(query = malloc(qcap))) {
        rc = st_errorf(ST_ENOMEM, "S3 upload %s: out of memory", name);
        goto out;
    }
    for (size_t i = 0; i < nparts; i++) {
        uint64_t off = (uint64_t)i * psize;
        size_t plen = (size_t)(len - off < psize ? len - off : psize);
        snprintf(query, qcap, "partNumber=%zu&uploadId=%s", i + 1, eid);
        req_t part = {.method = "PUT", .key = name, .query = query, .body = data + off, .body_len = plen,
                      .has_body = true, .fd = -1};
        if ((rc = s3_do(s, &part, &r))) goto abort;
        if (r.status < 200 || r.status >= 300) {
            rc = status_err(s, &part, &r);
            goto abort;
        }
        if (!r.etag[0]) {
            rc = st_errorf(ST_EIO, "S3 upload %s: part %zu: no ETag in the response", name, i + 1);
            goto abort;
        }
        if (!(etags[i] = strdup(r.etag))) {
            rc = st_errorf(ST_ENOMEM, "S3 upload %s: out of memory", name);
            goto abort;
        }
    }
    st_put_cstr(&xml, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < nparts; i++) {
        st_put_fmt(&xml, "<Part><PartNumber>%zu</PartNumber><ETag>", i + 1);
        xml_escape(&xml, etags[i]);
        st_put_cstr(&xml, "</ETag></Part>");
    }
    st_put_cstr(&xml, "</CompleteMultipartUpload>");
    if (xml.err) {
        rc = st_errorf(xml.err, "S3 upload %s: building the completion document", name);
        goto abort;
    }
    snprintf(query, qcap, "uploadId=%s", eid);
    req_t done = {.method = "POST", .key = name, .query = query, .body = xml.p, .body_len = xml.len,
                  .has_body = true, .fd = -1};
    if ((rc = s3_do(s, &done, &r))) goto abort;
    if (r.status != 200) {
        rc = status_err(s, &done, &r);
        goto abort;
    }
    /* S3 may answer 200 and still fail the completion in the body */
    char code[64], msg[256];
    if (st_s3_parse_error((const char *)r.buf, r.len, code, sizeof code, msg, sizeof msg) == ST_OK) {
        rc = st_errorf(ST_EIO, "S3 upload %s: completing: %s: %s", name, code, msg);
        goto abort;
    }
    goto out;
abort: {
    /* Best effort: keep the original error's detail, not the abort's. */
    char detail[1024];
    snprintf(detail, sizeof detail, "%s", st_errdetail(rc));
    snprintf(query, qcap, "uploadId=%s", eid);
    req_t ab = {.method = "DELETE", .key = name, .query = query, .fd = -1};
    resp_t ar = {0};
    if (s3_do(s, &ab, &ar) || ar.status >= 300)
        st_log(ST_LOG_WARN, "S3 abort of a failed multipart upload failed", "object", name, NULL);
    free(ar.buf);
    st_errorf(rc, "%s", detail);
}
out:
    if (etags)
        for (size_t i = 0; i < nparts; i++) free(etags[i]);
    free(etags);
    free(upload_id);
    free(eid);
    free(query);
    free(r.buf);
    st_encbuf_free(&xml);
    return rc;
}

static int s3_upload(st_objstore_t *so, const char *name, const void *data, size_t len) {
    s3_t *s = so->impl;
    if (len > s->part_size) return put_multipart(s, name, data, len);
    return put_single(s, name, data, len);
}

static int s3_upload_file(st_objstore_t *so, const char *name, const char *path) {
    st_mmap_t m = {0};
    int rc = st_mmap_open(&m, path);
    if (rc) return st_errwrap(rc, "S3 upload %s", name);
    rc = s3_upload(so, name, m.p ? m.p : (const uint8_t *)"", m.len);
    st_mmap_close(&m);
    return rc;
}

static int s3_get(st_objstore_t *so, const char *name, uint64_t off, uint64_t len, size_t max, uint8_t **out,
                  size_t *outlen) {
    s3_t *s = so->impl;
    bool whole = off == 0 && len == ST_OBJ_TO_END;
    req_t q = {.method = "GET", .key = name, .ranged = !whole, .range_off = off, .range_len = len, .fd = -1,
               .max = max};
    resp_t r = {0};
    int rc = s3_do(s, &q, &r);
    if (rc) goto out;
    if (r.status == 416 && q.ranged) {
        r.len = 0; /* the range starts at or past the end */
    } else if (r.status < 200 || r.status >= 300) {
        rc = status_err(s, &q, &r);
        goto out;
    }
    if (!grow(&r, r.len + 1)) {
        rc = st_errorf(ST_ENOMEM, "S3 GET %s: out of memory", name);
        goto out;
    }
    r.buf[r.len] = 0;
    *out = r.buf;
    *outlen = r.len;
    r.buf = NULL;
out:
    free(r.buf);
    return rc;
}

static int s3_download_file(st_objstore_t *so, const char *name, const char *path) {
    s3_t *s = so->impl;
    st_atomic_file_t f;
    resp_t r = {0};
    int rc = st_atomic_file_open(&f, path);
    if (rc) return st_errwrap(rc, "S3 download %s", name);
    req_t q = {.method = "GET", .key = name, .fd = f.fd};
    if ((rc = s3_do(s, &q, &r))) goto out;
    if (r.status != 200) {
        rc = status_err(s, &q, &r);
        goto out;
    }
    if (r.have_cl && r.written != r.content_length) {
        rc = st_errorf(ST_EIO, "S3 GET %s: got %llu of %llu bytes", name, (unsigned long long)r.written,
                       (unsigned long long)r.content_length);
        goto out;
    }
    rc = st_atomic_file_commit(&f);
out:
    st_atomic_file_abort(&f);
    free(r.buf);
    return rc;
}

static int s3_attributes(st_objstore_t *so, const char *name, st_obj_attrs_t *a) {
    s3_t *s = so->impl;
    req_t q = {.method = "HEAD", .key = name, .fd = -1};
    resp_t r = {0};
    int rc = s3_do(s, &q, &r);
    if (!rc && r.status != 200) rc = status_err(s, &q, &r);
    if (!rc && !r.have_cl) rc = st_errorf(ST_EIO, "S3 HEAD %s/%s: no Content-Length", s->bucket, name);
    if (!rc) {
        a->size = r.content_length;
        a->last_modified_ms = r.last_modified_ms;
    }
    free(r.buf);
    return rc;
}

static int s3_delete(st_objstore_t *so, const char *name) {
    s3_t *s = so->impl;
    st_obj_attrs_t a;
    int rc = s3_attributes(so, name, &a);
    if (rc) return rc;
    req_t q = {.method = "DELETE", .key = name, .fd = -1};
    resp_t r = {0};
    rc = s3_do(s, &q, &r);
    if (!rc && (r.status < 200 || r.status >= 300)) rc = status_err(s, &q, &r);
    free(r.buf);
    return rc;
}

static int s3_iter(st_objstore_t *so, const char *dir, bool recursive, st_objstore_iter_fn fn, void *ctx) {
    s3_t *s = so->impl;
    char *eprefix = st_uri_encode(dir, false);
    char *token = NULL, *query = NULL;
    resp_t r = {0};
    st_s3_list_t page = {0};
    int rc = ST_OK;
    if (!eprefix) return ST_ENOMEM;
    for (;;) {
        char *etoken = token ? st_uri_encode(token, false) : NULL;
        if (token && !etoken) {
            rc = ST_ENOMEM;
            break;
        }
        size_t qn = strlen(eprefix) + (etoken ? strlen(etoken) : 0) + 96;
        free(query);
        if (!(query = malloc(qn))) {
            free(etoken);
            rc = st_errorf(ST_ENOMEM, "S3 list: out of memory");
            break;
        }
        /* parameters in SigV4 canonical (sorted) order */
        snprintf(query, qn, "%s%s%s%slist-type=2%s%s", etoken ? "continuation-token=" : "", etoken ? etoken : "",
                 etoken ? "&" : "", recursive ? "" : "delimiter=%2F&", *eprefix ? "&prefix=" : "", eprefix);
        free(etoken);
        req_t q = {.method = "GET", .query = query, .fd = -1, .max = LIST_BODY_MAX};
        if ((rc = s3_do(s, &q, &r))) break;
        if (r.status != 200) {
            rc = status_err(s, &q, &r);
            break;
        }
        if ((rc = st_s3_parse_list(&page, (const char *)r.buf, r.len))) {
            st_errwrap(rc, "S3 list %s/%s", s->bucket, dir);
            break;
        }
        for (size_t i = 0; i < page.n && !rc; i++) {
            const char *nm = page.v[i].name;
            size_t nl = strlen(nm);
            /* "dir/" marker objects are not objects here, as on a filesystem */
            if (!strcmp(nm, dir) || (!page.v[i].is_prefix && nl && nm[nl - 1] == '/')) continue;
            if (page.v[i].is_prefix && recursive) continue;
            rc = fn(ctx, nm);
        }
        if (rc || !page.truncated) break;
        if (token && !strcmp(token, page.next_token)) {
            rc = st_errorf(ST_ECORRUPT, "S3 list %s/%s: the server repeated a continuation token", s->bucket, dir);
            break;
        }
        free(token);
        token = page.next_token;
        page.next_token = NULL;
        st_s3_list_free(&page);
    }
    st_s3_list_free(&page);
    free(token);
    free(query);
    free(eprefix);
    free(r.buf);
    return rc;
}

/* ---- lifetime ---- */

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *ud) {
    (void)h, (void)a;
    pthread_mutex_lock(&((s3_t *)ud)->locks[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *ud) {
    (void)h;
    pthread_mutex_unlock(&((s3_t *)ud)->locks[d]);
}

static void s3_close(void *impl) {
    s3_t *s = impl;
    if (!s) return;
    if (s->share) curl_share_cleanup(s->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_destroy(&s->locks[i]);
    free(s->base);
    free(s->bucket);
    if (s->userpwd) {
        explicit_bzero(s->userpwd, strlen(s->userpwd));
        free(s->userpwd);
    }
    free(s->sigv4);
    free(s);
}

static const st_objstore_ops_t s3_ops = {
    .upload = s3_upload,
    .upload_file = s3_upload_file,
    .get = s3_get,
    .download_file = s3_download_file,
    .attributes = s3_attributes,
    .del = s3_delete,
    .iter = s3_iter,
    .close = s3_close,
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

int st_objstore_s3_open(st_objstore_t *so, const st_objstore_config_t *cfg) {
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return st_errorf(ST_EIO, "S3: curl_global_init: %s", curl_easy_strerror(curl_init_rc));
    s3_t *s = calloc(1, sizeof *s);
    if (!s) return st_errorf(ST_ENOMEM, "S3: out of memory");
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_init(&s->locks[i], NULL);
    s->part_size = cfg->part_size;
    s->attempts = cfg->max_retries + 1;
    s->skip_verify = cfg->insecure_skip_verify;
    if (asprintf(&s->base, "%s://%s/%s", cfg->insecure ? "http" : "https", cfg->endpoint, cfg->bucket) < 0)
        s->base = NULL;
    if (asprintf(&s->sigv4, "aws:amz:%s:s3", cfg->region) < 0) s->sigv4 = NULL;
    if (asprintf(&so->desc, "S3:%s@%s", cfg->bucket, cfg->endpoint) < 0) so->desc = NULL;
    if (cfg->access_key && asprintf(&s->userpwd, "%s:%s", cfg->access_key, cfg->secret_key) < 0) s->userpwd = NULL;
    s->bucket = strdup(cfg->bucket);
    s->share = curl_share_init();
    if (!s->base || !s->bucket || !s->sigv4 || !so->desc || (cfg->access_key && !s->userpwd) || !s->share) {
        s3_close(s);
        return st_errorf(ST_ENOMEM, "S3: out of memory");
    }
    curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    so->ops = &s3_ops;
    so->impl = s;
    return ST_OK;
}
