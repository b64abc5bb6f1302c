/* StoreAPI codecs without a network: requests and InfoResponse decoded from
 * wire bytes written here by hand from the protobuf wire spec and the field
 * numbers of thanos-reference.md §2 (so protoc-c's tables are checked, not
 * trusted), encode/decode round trips, every validation error, and the
 * external-label helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strata/err.h"
#include "strata/storeapi.h"

/* ---- a protobuf writer from the wire spec: tag = field << 3 | type ---- */

typedef struct {
    uint8_t b[4096];
    size_t n;
} wb_t;

static void w_raw_varint(wb_t *w, uint64_t v) {
    while (v >= 0x80) {
        w->b[w->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    w->b[w->n++] = (uint8_t)v;
}
static void w_varint(wb_t *w, unsigned field, uint64_t v) {
    w_raw_varint(w, (uint64_t)field << 3 | 0);
    w_raw_varint(w, v);
}
static void w_bytes(wb_t *w, unsigned field, const void *p, size_t n) {
    w_raw_varint(w, (uint64_t)field << 3 | 2);
    w_raw_varint(w, n);
    memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void w_str(wb_t *w, unsigned field, const char *s) { w_bytes(w, field, s, strlen(s)); }
static void w_msg(wb_t *w, unsigned field, const wb_t *m) { w_bytes(w, field, m->b, m->n); }
static void w_matcher(wb_t *w, unsigned field, int type, const char *name, const char *value) {
    wb_t m = {.n = 0};
    if (type) w_varint(&m, 1, (uint64_t)type);
    w_str(&m, 2, name);
    w_str(&m, 3, value);
    w_msg(w, field, &m);
}
static void w_label(wb_t *w, unsigned field, const char *name, const char *value) {
    wb_t m = {.n = 0};
    w_str(&m, 1, name);
    w_str(&m, 2, value);
    w_msg(w, field, &m);
}

/* ---- and a reader: the first occurrence of a field at the top level ---- */

static uint64_t r_varint(const uint8_t *p, size_t len, size_t *off) {
    uint64_t v = 0;
    for (int s = 0; *off < len; s += 7) {
        uint8_t c = p[(*off)++];
        v |= (uint64_t)(c & 0x7f) << s;
        if (!(c & 0x80)) return v;
    }
    fail_msg("truncated varint");
    return 0;
}

static bool r_field(const uint8_t *p, size_t len, unsigned field, const uint8_t **sub, size_t *sublen) {
    size_t off = 0;
    while (off < len) {
        uint64_t tag = r_varint(p, len, &off);
        size_t start = off, n = 0;
        if ((tag & 7) == 0) {
            r_varint(p, len, &off);
        } else if ((tag & 7) == 2) {
            n = (size_t)r_varint(p, len, &off);
            start = off;
            off += n;
        } else {
            fail_msg("unexpected wire type %u", (unsigned)(tag & 7));
        }
        assert_true(off <= len);
        if ((tag >> 3) == field) {
            if (sub) *sub = p + start, *sublen = n;
            return true;
        }
    }
    return false;
}

static void assert_matcher(const st_matcher_t *m, st_match_type_t t, const char *name, const char *value) {
    assert_int_equal(st_matcher_type(m), t);
    assert_string_equal(st_matcher_name(m), name);
    assert_string_equal(st_matcher_value(m), value);
}

static st_labels_t mklabels(const char *const *kv, size_t npairs) {
    st_label_t p[16];
    for (size_t i = 0; i < npairs; i++) p[i] = st_label(kv[2 * i], kv[2 * i + 1]);
    st_labels_t l;
    assert_int_equal(st_labels_from_pairs(&l, p, npairs), 0);
    return l;
}

static void parse(st_matchers_t *ms, const char *sel) { assert_int_equal(st_selector_parse(ms, sel), 0); }

/* ---- SeriesRequest ---- */

static void series_request_bytes(wb_t *w, bool packed) {
    w->n = 0;
    w_varint(w, 1, 1000);                        /* min_time */
    w_varint(w, 2, 2000);                        /* max_time */
    w_matcher(w, 3, 0, "__name__", "up");        /* EQ */
    w_matcher(w, 3, 2, "job", "a.*");            /* RE */
    w_varint(w, 4, 300000);                      /* max_resolution_window */
    if (packed) {
        const uint8_t aggr[] = {1, 2, 5};        /* COUNT, SUM, COUNTER */
        w_bytes(w, 5, aggr, sizeof aggr);
    } else {
        w_varint(w, 5, 1);
        w_varint(w, 5, 2);
        w_varint(w, 5, 5);
    }
    w_varint(w, 7, 1);                           /* partial_response_strategy ABORT */
    w_varint(w, 8, 1);                           /* skip_chunks */
    wb_t hints = {.n = 0}, any = {.n = 0};
    w_matcher(&hints, 1, 3, "__block_id", "01H.*"); /* block_matchers, NRE */
    w_str(&any, 1, "type.googleapis.com/hintspb.SeriesRequestHints");
    w_msg(&any, 2, &hints);
    w_msg(w, 9, &any);                           /* hints */
    w_varint(w, 10, 15000);                      /* step (deprecated, ignored) */
    wb_t qh = {.n = 0};
    w_varint(&qh, 1, 30000);
    w_msg(w, 12, &qh);                           /* query_hints (ignored) */
    w_str(w, 14, "replica");                     /* without_replica_labels */
    w_str(w, 14, "rule_replica");
    w_varint(w, 15, 10);                         /* limit */
    w_varint(w, 16, 64);                         /* response_batch_size */
    w_varint(w, 99, 7);                          /* unknown field */
}

static void check_series_request(const st_series_request_t *r) {
    assert_int_equal(r->min_time, 1000);
    assert_int_equal(r->max_time, 2000);
    assert_int_equal(r->matchers.n, 2);
    assert_matcher(r->matchers.v[0], ST_MATCH_EQ, "__name__", "up");
    assert_matcher(r->matchers.v[1], ST_MATCH_RE, "job", "a.*");
    assert_int_equal(r->max_resolution_window, 300000);
    assert_int_equal(r->aggregates, (1u << ST_AGGR_COUNT) | (1u << ST_AGGR_SUM) | (1u << ST_AGGR_COUNTER));
    assert_true(r->partial_response_abort);
    assert_true(r->skip_chunks);
    assert_int_equal(r->limit, 10);
    assert_int_equal(r->response_batch_size, 64);
    assert_int_equal(r->block_matchers.n, 1);
    assert_matcher(r->block_matchers.v[0], ST_MATCH_NRE, "__block_id", "01H.*");
    assert_int_equal(r->without_replica_labels.n, 2);
    assert_string_equal(r->without_replica_labels.v[0], "replica");
    assert_string_equal(r->without_replica_labels.v[1], "rule_replica");
}

static void test_series_request_wire(void **state) {
    (void)state;
    wb_t w;
    for (int packed = 0; packed < 2; packed++) {
        series_request_bytes(&w, packed);
        st_series_request_t r;
        assert_int_equal(st_series_request_decode(w.b, w.n, &r), 0);
        check_series_request(&r);
        /* and our encoder's bytes decode to the same request */
        uint8_t *enc;
        size_t len;
        assert_int_equal(st_series_request_encode(&r, &enc, &len), 0);
        st_series_request_t r2;
        assert_int_equal(st_series_request_decode(enc, len, &r2), 0);
        check_series_request(&r2);
        st_series_request_free(&r2);
        free(enc);
        st_series_request_free(&r);
    }

    /* negative times travel as 10-byte two's complement varints */
    w.n = 0;
    w_varint(&w, 1, (uint64_t)INT64_MIN);
    w_varint(&w, 2, (uint64_t)-1);
    w_matcher(&w, 3, 1, "a", "");
    st_series_request_t r;
    assert_int_equal(st_series_request_decode(w.b, w.n, &r), 0);
    assert_int_equal(r.min_time, INT64_MIN);
    assert_int_equal(r.max_time, -1);
    assert_matcher(r.matchers.v[0], ST_MATCH_NEQ, "a", "");
    assert_false(r.partial_response_abort);
    assert_int_equal(r.aggregates, 0);
    assert_int_equal(r.block_matchers.n, 0);
    assert_int_equal(r.without_replica_labels.n, 0);
    st_series_request_free(&r);

    /* the deprecated partial_response_disabled also means ABORT */
    w.n = 0;
    w_varint(&w, 6, 1);
    assert_int_equal(st_series_request_decode(w.b, w.n, &r), 0);
    assert_true(r.partial_response_abort);
    st_series_request_free(&r);

    /* hints of another type are ignored, even undecodable ones */
    w.n = 0;
    wb_t any = {.n = 0};
    w_str(&any, 1, "type.googleapis.com/hintspb.LabelNamesRequestHints");
    w_bytes(&any, 2, "\x0a\xff", 2);
    w_msg(&w, 9, &any);
    assert_int_equal(st_series_request_decode(w.b, w.n, &r), 0);
    assert_int_equal(r.block_matchers.n, 0);
    st_series_request_free(&r);

    /* an empty request is valid: every field zero */
    assert_int_equal(st_series_request_decode((const uint8_t *)"", 0, &r), 0);
    assert_int_equal(r.matchers.n, 0);
    assert_int_equal(r.min_time, 0);
    st_series_request_free(&r);
}

static void test_series_request_roundtrip(void **state) {
    (void)state;
    st_series_request_t r = {
        .min_time = -7,
        .max_time = INT64_MAX,
        .max_resolution_window = 3600000,
        .aggregates = 1u << ST_AGGR_RAW | 1u << ST_AGGR_MAX,
        .skip_chunks = false,
        .partial_response_abort = true,
        .limit = 1,
        .response_batch_size = 100,
    };
    parse(&r.matchers, "{__name__=~\"x|y\", a!=\"b\", c!~\"d+\", e=\"\"}");
    parse(&r.block_matchers, "{__block_id=\"01ABC\"}");
    uint8_t *enc;
    size_t len;
    assert_int_equal(st_series_request_encode(&r, &enc, &len), 0);
    st_series_request_t d;
    assert_int_equal(st_series_request_decode(enc, len, &d), 0);
    assert_int_equal(d.min_time, -7);
    assert_int_equal(d.max_time, INT64_MAX);
    assert_int_equal(d.max_resolution_window, 3600000);
    assert_int_equal(d.aggregates, r.aggregates);
    assert_false(d.skip_chunks);
    assert_true(d.partial_response_abort);
    assert_int_equal(d.limit, 1);
    assert_int_equal(d.response_batch_size, 100);
    assert_int_equal(d.matchers.n, 4);
    for (size_t i = 0; i < 4; i++)
        assert_matcher(d.matchers.v[i], st_matcher_type(r.matchers.v[i]), st_matcher_name(r.matchers.v[i]),
                       st_matcher_value(r.matchers.v[i]));
    assert_int_equal(d.block_matchers.n, 1);
    assert_matcher(d.block_matchers.v[0], ST_MATCH_EQ, "__block_id", "01ABC");
    st_series_request_free(&d);
    free(enc);
    st_series_request_free(&r);
    st_series_request_free(NULL);
}

static void expect_series_error(const wb_t *w, int code, const char *detail) {
    st_series_request_t r;
    memset(&r, 0x5a, sizeof r);
    int rc = st_series_request_decode(w->b, w->n, &r);
    assert_int_equal(rc, code);
    if (!strstr(st_errdetail(rc), detail)) fail_msg("detail \"%s\" lacks \"%s\"", st_errdetail(rc), detail);
    assert_int_equal(r.matchers.n, 0);
    assert_null(r.matchers.v);
    assert_int_equal(r.block_matchers.n, 0);
}

static void test_series_request_errors(void **state) {
    (void)state;
    wb_t w = {.n = 0};
    /* truncated length-delimited field */
    memcpy(w.b, "\x1a\x05\x12\x01", 4);
    w.n = 4;
    expect_series_error(&w, ST_ECORRUPT, "SeriesRequest");
    /* wire type 7 does not exist */
    w.b[0] = 0x0f, w.b[1] = 0;
    w.n = 2;
    expect_series_error(&w, ST_ECORRUPT, "SeriesRequest");

    w.n = 0;
    w_matcher(&w, 3, 4, "a", "b");
    expect_series_error(&w, ST_EINVAL, "unknown type 4");
    w.n = 0;
    w_matcher(&w, 3, 0, "a", "b");
    w_matcher(&w, 3, 0, "", "b");
    expect_series_error(&w, ST_EINVAL, "matcher 1: empty label name");
    w.n = 0;
    w_matcher(&w, 3, 2, "job", "(unclosed");
    expect_series_error(&w, ST_EINVAL, "matcher 0 (job)");
    w.n = 0;
    w_varint(&w, 1, 5);
    w_varint(&w, 2, 4);
    expect_series_error(&w, ST_EINVAL, "min_time 5 is after max_time 4");
    w.n = 0;
    w_varint(&w, 5, 6);
    expect_series_error(&w, ST_EINVAL, "unknown aggregate 6");
    w.n = 0;
    w_varint(&w, 15, (uint64_t)-1);
    expect_series_error(&w, ST_EINVAL, "negative limit -1");
    w.n = 0;
    w_varint(&w, 16, (uint64_t)-2);
    expect_series_error(&w, ST_EINVAL, "negative response_batch_size -2");
    w.n = 0;
    w_varint(&w, 4, (uint64_t)-3);
    expect_series_error(&w, ST_EINVAL, "negative max_resolution_window -3");
    w.n = 0;
    w_varint(&w, 7, 2);
    expect_series_error(&w, ST_EINVAL, "unknown partial_response_strategy 2");
    w.n = 0;
    w_str(&w, 14, "replica");
    w_str(&w, 14, "");
    expect_series_error(&w, ST_EINVAL, "without_replica_labels[1]: empty label name");

    wb_t hints = {.n = 0}, any = {.n = 0};
    w_matcher(&hints, 1, 9, "__block_id", "x");
    w_str(&any, 1, "type.googleapis.com/hintspb.SeriesRequestHints");
    w_msg(&any, 2, &hints);
    w.n = 0;
    w_matcher(&w, 3, 0, "a", "b");
    w_msg(&w, 9, &any);
    expect_series_error(&w, ST_EINVAL, "block_matchers: matcher 0: unknown type 9");
    any.n = 0;
    w_str(&any, 1, "type.googleapis.com/hintspb.SeriesRequestHints");
    w_bytes(&any, 2, "\x0a\x09\x12", 3);
    w.n = 0;
    w_msg(&w, 9, &any);
    expect_series_error(&w, ST_ECORRUPT, "SeriesRequestHints does not decode");
}

/* ---- label requests and responses ---- */

static void test_label_requests_wire(void **state) {
    (void)state;
    /* LabelValuesRequest, byte by byte: label "job" (1), partial_response_disabled (2), start 5 (4), end 10 (5),
     * matchers [{NEQ env "dev"}] (7), limit 3 (9) */
    static const uint8_t lv[] = {0x0a, 0x03, 'j', 'o', 'b', 0x10, 0x01, 0x20, 0x05, 0x28, 0x0a,
                                 0x3a, 0x0c, 0x08, 0x01, 0x12, 0x03, 'e', 'n', 'v', 0x1a, 0x03,
                                 'd', 'e', 'v', 0x48, 0x03};
    st_label_request_t r;
    assert_int_equal(st_label_values_request_decode(lv, sizeof lv, &r), 0);
    assert_string_equal(r.label, "job");
    assert_true(r.partial_response_abort);
    assert_int_equal(r.start, 5);
    assert_int_equal(r.end, 10);
    assert_int_equal(r.matchers.n, 1);
    assert_matcher(r.matchers.v[0], ST_MATCH_NEQ, "env", "dev");
    assert_int_equal(r.limit, 3);
    uint8_t *enc;
    size_t len;
    assert_int_equal(st_label_values_request_encode(&r, &enc, &len), 0);
    st_label_request_t r2;
    assert_int_equal(st_label_values_request_decode(enc, len, &r2), 0);
    assert_string_equal(r2.label, "job");
    assert_int_equal(r2.start, 5);
    assert_int_equal(r2.end, 10);
    assert_int_equal(r2.limit, 3);
    assert_true(r2.partial_response_abort);
    assert_matcher(r2.matchers.v[0], ST_MATCH_NEQ, "env", "dev");
    st_label_request_free(&r2);
    free(enc);
    st_label_request_free(&r);

    /* LabelNamesRequest: strategy ABORT (2), start (3), end (4), hints (5, ignored), matchers (6), limit (8) */
    wb_t w = {.n = 0}, any = {.n = 0};
    w_varint(&w, 2, 1);
    w_varint(&w, 3, (uint64_t)-100);
    w_varint(&w, 4, 100);
    w_str(&any, 1, "type.googleapis.com/hintspb.LabelNamesRequestHints");
    w_msg(&w, 5, &any);
    w_matcher(&w, 6, 2, "__name__", "up|down");
    w_varint(&w, 8, 50);
    assert_int_equal(st_label_names_request_decode(w.b, w.n, &r), 0);
    assert_null(r.label);
    assert_true(r.partial_response_abort);
    assert_int_equal(r.start, -100);
    assert_int_equal(r.end, 100);
    assert_matcher(r.matchers.v[0], ST_MATCH_RE, "__name__", "up|down");
    assert_int_equal(r.limit, 50);
    assert_int_equal(st_label_names_request_encode(&r, &enc, &len), 0);
    st_label_request_free(&r);
    assert_int_equal(st_label_names_request_decode(enc, len, &r), 0);
    assert_int_equal(r.start, -100);
    assert_int_equal(r.end, 100);
    assert_int_equal(r.limit, 50);
    assert_int_equal(r.matchers.n, 1);
    free(enc);
    st_label_request_free(&r);
    st_label_request_free(NULL);
}

static void expect_label_error(bool values, const wb_t *w, int code, const char *detail) {
    st_label_request_t r;
    int rc = values ? st_label_values_request_decode(w->b, w->n, &r) : st_label_names_request_decode(w->b, w->n, &r);
    assert_int_equal(rc, code);
    if (!strstr(st_errdetail(rc), detail)) fail_msg("detail \"%s\" lacks \"%s\"", st_errdetail(rc), detail);
    assert_null(r.label);
    assert_int_equal(r.matchers.n, 0);
}

static void test_label_request_errors(void **state) {
    (void)state;
    wb_t w = {.n = 0};
    w_varint(&w, 4, 1);
    expect_label_error(true, &w, ST_EINVAL, "LabelValuesRequest: empty label name");
    w.n = 0;
    w_str(&w, 1, "job");
    w_varint(&w, 4, 9);
    w_varint(&w, 5, 8);
    expect_label_error(true, &w, ST_EINVAL, "start 9 is after end 8");
    w.n = 0;
    w_str(&w, 1, "job");
    w_varint(&w, 9, (uint64_t)-1);
    expect_label_error(true, &w, ST_EINVAL, "negative limit -1");
    w.n = 0;
    w_str(&w, 1, "job");
    w_matcher(&w, 7, 2, "x", "[");
    expect_label_error(true, &w, ST_EINVAL, "LabelValuesRequest: matchers: matcher 0 (x)");
    w.n = 0;
    w_varint(&w, 2, 3);
    expect_label_error(false, &w, ST_EINVAL, "LabelNamesRequest: unknown partial_response_strategy 3");
    w.n = 0;
    w_matcher(&w, 6, 0, "", "x");
    expect_label_error(false, &w, ST_EINVAL, "empty label name");
    w.n = 0;
    w_varint(&w, 8, (uint64_t)-5);
    expect_label_error(false, &w, ST_EINVAL, "negative limit -5");
    memcpy(w.b, "\x32\x7f", 2);
    w.n = 2;
    expect_label_error(false, &w, ST_ECORRUPT, "LabelNamesRequest: protobuf does not decode");
    expect_label_error(true, &w, ST_ECORRUPT, "LabelValuesRequest: protobuf does not decode");

    st_label_request_t r = {0};
    uint8_t *enc;
    size_t len;
    assert_int_equal(st_label_values_request_encode(&r, &enc, &len), ST_EINVAL);
}

static void test_label_response(void **state) {
    (void)state;
    /* names "a", "b", warning "w" (LabelNamesResponse 1, 2; hints 3 ignored) */
    wb_t w = {.n = 0}, any = {.n = 0};
    w_str(&w, 1, "a");
    w_str(&w, 1, "b");
    w_str(&w, 2, "w");
    w_str(&any, 1, "type.googleapis.com/hintspb.LabelNamesResponseHints");
    w_msg(&w, 3, &any);
    st_strlist_t v, warn;
    assert_int_equal(st_label_response_decode(w.b, w.n, &v, &warn), 0);
    assert_int_equal(v.n, 2);
    assert_string_equal(v.v[0], "a");
    assert_string_equal(v.v[1], "b");
    assert_int_equal(warn.n, 1);
    assert_string_equal(warn.v[0], "w");
    uint8_t *enc;
    size_t len;
    assert_int_equal(st_label_response_encode(&v, &warn, &enc, &len), 0);
    /* exactly the fields above, in field order, without the hints */
    assert_int_equal(len, 9);
    assert_memory_equal(enc, w.b, 9);
    st_strlist_t v2, w2;
    assert_int_equal(st_label_response_decode(enc, len, &v2, &w2), 0);
    assert_int_equal(v2.n, 2);
    assert_int_equal(w2.n, 1);
    free(enc);
    st_strlist_free(&v2);
    st_strlist_free(&w2);
    st_strlist_free(&v);
    st_strlist_free(&warn);
    st_strlist_free(NULL);

    assert_int_equal(st_label_response_decode((const uint8_t *)"\x0a\x05", 2, &v, &warn), ST_ECORRUPT);
    assert_int_equal(v.n, 0);

    /* many pushes grow the list */
    st_strlist_t big = {0};
    char s[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(s, sizeof s, "v%04d", i);
        assert_int_equal(st_strlist_push(&big, s), 0);
    }
    assert_string_equal(big.v[999], "v0999");
    st_strlist_free(&big);
    assert_null(big.v);
}

/* ---- InfoResponse ---- */

static void test_info_wire(void **state) {
    (void)state;
    wb_t w = {.n = 0}, zs = {.n = 0}, store = {.n = 0}, ti = {.n = 0}, tl = {.n = 0}, ex = {.n = 0};
    w_label(&zs, 1, "replica", "r1");
    w_label(&zs, 1, "cluster", "eu");
    w_msg(&w, 1, &zs);                       /* label_sets */
    w_str(&w, 2, "sidecar");                 /* ComponentType */
    w_varint(&store, 1, (uint64_t)-5);       /* min_time */
    w_varint(&store, 2, (uint64_t)INT64_MAX); /* max_time */
    w_varint(&store, 3, 1);                  /* supports_sharding */
    w_varint(&store, 5, 1);                  /* supports_without_replica_labels */
    w_label(&tl, 1, "cluster", "eu");
    w_msg(&ti, 1, &tl);
    w_varint(&ti, 2, 100);
    w_varint(&ti, 3, 200);
    w_msg(&store, 6, &ti);                   /* tsdb_infos */
    w_msg(&w, 3, &store);
    w_varint(&ex, 1, 7);
    w_msg(&w, 7, &ex);                       /* exemplars: ignored */
    st_store_info_t i;
    assert_int_equal(st_store_info_decode(w.b, w.n, &i), 0);
    assert_string_equal(i.component, "sidecar");
    assert_int_equal(i.nlabel_sets, 1);
    assert_int_equal(i.label_sets[0].n, 2);
    assert_string_equal(i.label_sets[0].v[0].name, "cluster"); /* sorted */
    assert_string_equal(i.label_sets[0].v[1].value, "r1");
    assert_int_equal(i.min_time, -5);
    assert_int_equal(i.max_time, INT64_MAX);
    assert_true(i.supports_sharding);
    assert_true(i.supports_without_replica_labels);
    assert_int_equal(i.ntsdb_infos, 1);
    assert_int_equal(i.tsdb_infos[0].min_time, 100);
    assert_int_equal(i.tsdb_infos[0].max_time, 200);
    assert_string_equal(i.tsdb_infos[0].labels.v[0].value, "eu");

    uint8_t *enc;
    size_t len;
    assert_int_equal(st_store_info_encode(&i, &enc, &len), 0);
    st_store_info_t d;
    assert_int_equal(st_store_info_decode(enc, len, &d), 0);
    assert_string_equal(d.component, "sidecar");
    assert_int_equal(d.nlabel_sets, 1);
    assert_true(st_labels_equal(&d.label_sets[0], &i.label_sets[0]));
    assert_int_equal(d.min_time, -5);
    assert_int_equal(d.max_time, INT64_MAX);
    assert_true(d.supports_sharding);
    assert_true(d.supports_without_replica_labels);
    assert_int_equal(d.ntsdb_infos, 1);
    assert_true(st_labels_equal(&d.tsdb_infos[0].labels, &i.tsdb_infos[0].labels));
    assert_int_equal(d.tsdb_infos[0].max_time, 200);
    /* our encoding advertises the StoreAPI (field 3) and not what we do not serve: no other API (4..9) */
    const uint8_t *sub;
    size_t sublen;
    assert_true(r_field(enc, len, 3, &sub, &sublen));
    for (unsigned f = 4; f <= 9; f++) assert_false(r_field(enc, len, f, NULL, NULL));
    assert_true(r_field(sub, sublen, 6, NULL, NULL));
    assert_true(r_field(sub, sublen, 5, NULL, NULL));
    free(enc);
    /* a store that does not strip replica labels leaves StoreInfo 5 out */
    d.supports_without_replica_labels = false;
    assert_int_equal(st_store_info_encode(&d, &enc, &len), 0);
    assert_true(r_field(enc, len, 3, &sub, &sublen));
    assert_false(r_field(sub, sublen, 5, NULL, NULL));
    free(enc);
    st_store_info_free(&d);
    st_store_info_free(&i);
    st_store_info_free(NULL);

    /* an endpoint without the store sub-message */
    w.n = 0;
    w_str(&w, 2, "query");
    assert_int_equal(st_store_info_decode(w.b, w.n, &i), 0);
    assert_string_equal(i.component, "query");
    assert_int_equal(i.ntsdb_infos, 0);
    st_store_info_free(&i);

    /* a label set naming a label twice is corrupt */
    w.n = 0;
    zs.n = 0;
    w_label(&zs, 1, "a", "1");
    w_label(&zs, 1, "a", "2");
    w_msg(&w, 1, &zs);
    assert_int_equal(st_store_info_decode(w.b, w.n, &i), ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(ST_ECORRUPT), "InfoResponse: label_sets"));
    assert_null(i.label_sets);
    assert_null(i.component);
    assert_int_equal(st_store_info_decode((const uint8_t *)"\x1a\x03\x08", 3, &i), ST_ECORRUPT);
}

/* ---- external labels ---- */

static void check_match(const st_labels_t *ext, const char *sel, bool want, const char *const *rest_names,
                        size_t nrest) {
    st_matchers_t ms, rest;
    parse(&ms, sel);
    bool m;
    assert_int_equal(st_storeapi_match_external(ext, &ms, &m, &rest), 0);
    if (m != want) fail_msg("%s: matches %d, want %d", sel, m, want);
    assert_int_equal(rest.n, nrest);
    for (size_t i = 0; i < nrest; i++) assert_string_equal(st_matcher_name(rest.v[i]), rest_names[i]);
    free(rest.v);
    st_matchers_free(&ms);
}

static void test_match_external(void **state) {
    (void)state;
    static const char *const kv[] = {"cluster", "eu", "replica", "r1"};
    st_labels_t ext = mklabels(kv, 2), none = {0};
    static const char *const name[] = {"__name__"}, *const name_job[] = {"__name__", "job"};
    /* (the selectors list __name__ first: st_selector_parse keeps the written order) */
    /* a contradicting equality */
    check_match(&ext, "{__name__=\"up\", cluster=\"us\"}", false, NULL, 0);
    /* a regex over the external label: holds -> dropped; fails -> no match */
    check_match(&ext, "{__name__=\"up\", cluster=~\"eu|us\"}", true, name, 1);
    check_match(&ext, "{__name__=\"up\", cluster=~\"u.*\"}", false, NULL, 0);
    /* negative matchers are decided by the external value too */
    check_match(&ext, "{__name__=\"up\", replica!=\"r1\"}", false, NULL, 0);
    check_match(&ext, "{__name__=\"up\", replica!~\"r2\"}", true, name, 1);
    /* matchers on other labels go through untouched */
    check_match(&ext, "{__name__=\"up\", job=\"a\", cluster=\"eu\"}", true, name_job, 2);
    /* a matcher on a label the store lacks, matching "", is the series' business */
    check_match(&ext, "{__name__=\"up\", zone=\"\"}", true, (const char *const[]){"__name__", "zone"}, 2);
    /* no external labels: everything is passed on */
    check_match(&none, "{__name__=\"up\", cluster=\"us\"}", true, (const char *const[]){"__name__", "cluster"}, 2);
    st_labels_free(&ext);
}

static void test_extend_labels(void **state) {
    (void)state;
    static const char *const skv[] = {"__name__", "up", "cluster", "local", "job", "j", "zz", "last"};
    static const char *const ekv[] = {"cluster", "eu", "a", "first", "replica", "r1"};
    static const char *const wkv[] = {"__name__", "up", "a", "first", "cluster", "eu",
                                      "job", "j", "replica", "r1", "zz", "last"};
    st_labels_t s = mklabels(skv, 4), e = mklabels(ekv, 3), want = mklabels(wkv, 6), out, none = {0};
    assert_int_equal(st_storeapi_extend_labels(&s, &e, &out), 0);
    assert_true(st_labels_equal(&out, &want));
    st_labels_free(&out);
    assert_int_equal(st_storeapi_extend_labels(&s, &none, &out), 0);
    assert_true(st_labels_equal(&out, &s));
    st_labels_free(&out);
    assert_int_equal(st_storeapi_extend_labels(&none, &e, &out), 0);
    assert_true(st_labels_equal(&out, &e));
    st_labels_free(&out);
    assert_int_equal(st_storeapi_extend_labels(&none, &none, &out), 0);
    assert_int_equal(out.n, 0);
    st_labels_free(&out);
    st_labels_free(&s);
    st_labels_free(&e);
    st_labels_free(&want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_request_wire),  cmocka_unit_test(test_series_request_roundtrip),
        cmocka_unit_test(test_series_request_errors), cmocka_unit_test(test_label_requests_wire),
        cmocka_unit_test(test_label_request_errors),  cmocka_unit_test(test_label_response),
        cmocka_unit_test(test_info_wire),             cmocka_unit_test(test_match_external),
        cmocka_unit_test(test_extend_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
