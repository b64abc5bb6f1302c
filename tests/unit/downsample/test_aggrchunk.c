/* AggrChunk codec: layout byte by byte, every absent/present combination,
 * bad inputs; the equal-timestamp XOR append the counter needs. */
#include "ds_oracle.h"

#include "../../../shared/src/downsample/downsample_int.h"
#include "strata/buf.h"

/* A small XOR chunk whose samples depend on `salt`. */
static void mk_xor(st_xor_appender_t *a, int salt, int n) {
    assert_int_equal(st_xor_appender_init(a), 0);
    for (int i = 0; i < n; i++) assert_int_equal(st_xor_append(a, 1000 * (i + 1), salt * 1.5 + i), 0);
}

static void test_roundtrip_all_combinations(void **state) {
    (void)state;
    for (unsigned mask = 0; mask < 32; mask++) {
        st_xor_appender_t app[ST_AGGR_N];
        st_store_chunk_t c;
        memset(&c, 0, sizeof c);
        /* expected payload built by hand from the layout */
        uint8_t want[4096];
        size_t wl = 0;
        for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++) {
            if (!(mask & (1u << (a - 1)))) {
                want[wl++] = 0;
                continue;
            }
            mk_xor(&app[a], a, 3 + a * 20); /* > 127 bytes for some: 2-byte uvarint */
            c.data[a] = st_xor_bytes(&app[a], &c.len[a]);
            wl += st_uvarint_put(want + wl, c.len[a]);
            want[wl++] = 1;
            memcpy(want + wl, c.data[a], c.len[a]);
            wl += c.len[a];
        }
        st_encbuf_t b;
        st_encbuf_init(&b, 0);
        assert_int_equal(st_aggr_chunk_encode(&c, &b), 0);
        assert_int_equal(b.len, wl);
        assert_memory_equal(b.p, want, wl);

        st_store_chunk_t d;
        memset(&d, 0, sizeof d);
        d.mint = 42;
        d.maxt = 43;
        d.data[ST_AGGR_RAW] = (const uint8_t *)"x";
        assert_int_equal(st_aggr_chunk_decode(b.p, b.len, &d), 0);
        assert_int_equal(d.mint, 42);
        assert_int_equal(d.maxt, 43);
        assert_null(d.data[ST_AGGR_RAW]);
        for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++) {
            if (!(mask & (1u << (a - 1)))) {
                assert_null(d.data[a]);
                assert_int_equal(d.len[a], 0);
                continue;
            }
            assert_true(d.data[a] > b.p && d.data[a] + d.len[a] <= b.p + b.len); /* borrowed from the input */
            assert_int_equal(d.len[a], c.len[a]);
            assert_memory_equal(d.data[a], c.data[a], c.len[a]);
            st_xor_appender_free(&app[a]);
        }
        st_encbuf_free(&b);
    }
}

static int decode_rc(const uint8_t *p, size_t len) {
    st_store_chunk_t d;
    memset(&d, 0, sizeof d);
    return st_aggr_chunk_decode(p, len, &d);
}

static void test_bad_inputs(void **state) {
    (void)state;
    st_xor_appender_t app[ST_AGGR_N];
    st_store_chunk_t c;
    memset(&c, 0, sizeof c);
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++) {
        mk_xor(&app[a], a, 5);
        c.data[a] = st_xor_bytes(&app[a], &c.len[a]);
    }
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    assert_int_equal(st_aggr_chunk_encode(&c, &b), 0);
    assert_int_equal(decode_rc(b.p, b.len), 0);
    /* every truncation */
    for (size_t l = 0; l < b.len; l++) assert_int_equal(decode_rc(b.p, l), ST_ECORRUPT);
    /* trailing bytes */
    uint8_t *p = malloc(b.len + 2);
    memcpy(p, b.p, b.len);
    p[b.len] = 0;
    assert_int_equal(decode_rc(p, b.len + 1), ST_ECORRUPT);
    p[b.len] = 0x55;
    p[b.len + 1] = 0x01;
    assert_int_equal(decode_rc(p, b.len + 2), ST_ECORRUPT);
    /* over-long: a length past the end */
    const uint8_t over[] = {9, 1, 0, 1, 2, 3, 4, 5, 6, 7};
    assert_int_equal(decode_rc(over, sizeof over), ST_ECORRUPT);
    const uint8_t exact[] = {8, 1, 0, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0};
    assert_int_equal(decode_rc(exact, sizeof exact), 0);
    /* the last one claims one byte more */
    size_t last = b.len - c.len[ST_AGGR_COUNTER] - 2;
    memcpy(p, b.p, b.len);
    p[last] = (uint8_t)(c.len[ST_AGGR_COUNTER] + 1);
    assert_int_equal(decode_rc(p, b.len), ST_ECORRUPT);
    /* encodings other than XOR: in the first and in the last aggregate */
    const uint8_t encs[] = {0, 2, 3, 0xff};
    for (size_t i = 0; i < sizeof encs; i++) {
        memcpy(p, b.p, b.len);
        p[1] = encs[i];
        assert_int_equal(decode_rc(p, b.len), ST_ECORRUPT);
        memcpy(p, b.p, b.len);
        p[last + 1] = encs[i];
        assert_int_equal(decode_rc(p, b.len), ST_ECORRUPT);
    }
    free(p);
    /* a sub-chunk too short for the XOR header */
    const uint8_t one[] = {1, 1, 0x00, 0, 0, 0, 0};
    assert_int_equal(decode_rc(one, sizeof one), ST_ECORRUPT);
    /* all absent is fine; empty input is not */
    const uint8_t none[] = {0, 0, 0, 0, 0};
    assert_int_equal(decode_rc(none, sizeof none), 0);
    assert_int_equal(decode_rc(none, 0), ST_ECORRUPT);
    assert_int_equal(decode_rc(none, 4), ST_ECORRUPT);
    /* a uvarint longer than 10 bytes */
    uint8_t big[16];
    memset(big, 0xff, sizeof big);
    assert_int_equal(decode_rc(big, sizeof big), ST_ECORRUPT);
    /* a length beyond size_t-sized inputs */
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01, 0, 0};
    assert_int_equal(decode_rc(huge, sizeof huge), ST_ECORRUPT);
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++) st_xor_appender_free(&app[a]);
    st_encbuf_free(&b);
}

/* Prometheus's appender writes a repeated timestamp as a zero delta; the
 * bytes for (1000, 1), (1000, 1) worked out from the XOR layout:
 * count 2 | uvarint(zigzag 1000 = 2000) d0 0f | 1.0 = 3ff0000000000000 |
 * delta uvarint 0 | value bit 0, padded. */
static void test_xor_repeated_timestamp(void **state) {
    (void)state;
    st_xor_appender_t a;
    assert_int_equal(st_xor_appender_init(&a), 0);
    assert_int_equal(st_xor_append_repeat(&a, 1000, 1.0), 0);
    assert_int_equal(st_xor_append_repeat(&a, 1000, 1.0), 0);
    const uint8_t want[] = {0x00, 0x02, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x00, 0x00};
    size_t len;
    const uint8_t *p = st_xor_bytes(&a, &len);
    assert_int_equal(len, sizeof want);
    assert_memory_equal(p, want, sizeof want);
    st_xor_appender_free(&a);

    /* later samples: dod of a repeat, then the delta state is back to 0 */
    const ts_t in[] = {{5000, 1}, {5000, 7}, {6000, 2}, {6000, 3}, {6000, 3.5}, {9000, 4}, {123456789, -1},
                       {123456789, 8}};
    for (size_t start = 0; start < 2; start++) {
        assert_int_equal(st_xor_appender_init(&a), 0);
        for (size_t i = start; i < sizeof in / sizeof in[0]; i++) assert_int_equal(st_xor_append_repeat(&a, in[i].t, in[i].v), 0);
        p = st_xor_bytes(&a, &len);
        size_t n;
        ts_t *out = ds_xor_samples(p, len, &n);
        assert_int_equal(n, sizeof in / sizeof in[0] - start);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(out[i].t, in[start + i].t);
            assert_true(out[i].v == in[start + i].v);
        }
        free(out);
        assert_int_equal(st_xor_append_repeat(&a, 100, 0), ST_EINVAL);
        st_xor_appender_free(&a);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_all_combinations),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_xor_repeated_timestamp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
