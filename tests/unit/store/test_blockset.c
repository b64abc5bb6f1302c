/* The store gateway's choice of blocks by resolution (store_blocks_for),
 * against block lists worked out by hand from Thanos's getFor rule, and
 * the AggrChunk member selection of Thanos's populateChunk
 * (store_aggr_chunk). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "st_test.h"
#include "store.h"
#include "strata/chunkenc.h"
#include "strata/downsample.h"
#include "strata/err.h"

#define H ((int64_t)3600 * 1000)
#define R5 ST_RES_5M
#define R1 ST_RES_1H

typedef struct {
    const char *name;
    int64_t min, max, res;
} spec_t;

static store_block_t blocks[16];
static store_block_t *ptrs[16];

static size_t setup(const spec_t *s, size_t n) {
    memset(blocks, 0, sizeof blocks);
    for (size_t i = 0; i < n; i++) {
        blocks[i].min_time = s[i].min;
        blocks[i].max_time = s[i].max;
        blocks[i].resolution = s[i].res;
        blocks[i].id.b[15] = (uint8_t)i;
        snprintf(blocks[i].ulid, sizeof blocks[i].ulid, "%s", s[i].name);
        ptrs[i] = &blocks[i];
    }
    return n;
}

/* The names of the chosen blocks, in order, space-separated. */
static void expect(size_t n, int64_t mint, int64_t maxt, int64_t max_res, const char *want) {
    store_block_t *out[16];
    size_t nout = 99;
    assert_int_equal(store_blocks_for(ptrs, n, mint, maxt, max_res, out, &nout), 0);
    char got[256] = "";
    for (size_t i = 0; i < nout; i++) {
        if (i) strcat(got, " ");
        strcat(got, out[i]->ulid);
    }
    if (strcmp(got, want) != 0) fail_msg("[%lld, %lld] max_res %lld: got '%s', want '%s'", (long long)mint,
                                         (long long)maxt, (long long)max_res, got, want);
}

/* A 48h raw block downsampled to 5m and 1h, and a newer raw block. */
static void test_latest_not_downsampled(void **state) {
    (void)state;
    const spec_t s[] = {{"b", 48 * H, 50 * H, 0}, {"a", 0, 48 * H, 0}, {"a5", 0, 48 * H, R5}, {"a1", 0, 48 * H, R1}};
    size_t n = setup(s, 4);
    expect(n, 0, 50 * H, 0, "a b");           /* raw only, as before downsampled blocks were served */
    expect(n, 0, 50 * H, R5 - 1, "a b");      /* below the finest downsampled resolution */
    expect(n, 0, 50 * H, R5, "a5 b");         /* 5m, the gap after it from raw */
    expect(n, 0, 50 * H, 30 * 60000, "a5 b"); /* the coarsest not above the window */
    expect(n, 0, 50 * H, R1, "a1 b");
    expect(n, 0, 50 * H, 24 * H, "a1 b");
    expect(n, 48 * H, 50 * H, R1, "b");    /* only raw exists there */
    expect(n, 0, 48 * H - 1, R1, "a1");    /* no gap: nothing finer */
    expect(n, 10 * H, 20 * H, R5, "a5");
    expect(n, 60 * H, 70 * H, R1, "");     /* outside every block */
    expect(n, 20 * H, 10 * H, 0, "");      /* mint > maxt */
    expect(n, 48 * H, 48 * H, R1, "b");    /* block ranges are half-open */
    expect(n, 48 * H - 1, 48 * H - 1, R1, "a1");
}

/* Gaps between coarse blocks are filled from the next finer resolution,
 * recursively; blocks come in getFor's order. */
static void test_recursive_gaps(void **state) {
    (void)state;
    const spec_t s[] = {{"h0", 0, 10, R1},  {"h1", 20, 30, R1}, {"m", 5, 25, R5},
                        {"r0", 0, 40, 0},   {"r1", 40, 50, 0},  {"m2", 32, 34, R5}};
    size_t n = setup(s, 6);
    /* h0; gap [10,19] -> m; h1; gap [30,35] -> 5m: m2 covers [32,34) and
     * the rest of that gap falls to raw: [30,31] -> r0, [34,35] -> r0 once */
    expect(n, 0, 35, R1, "h0 m h1 r0 m2");
    expect(n, 0, 35, R5, "r0 m m2");
    expect(n, 0, 45, 0, "r0 r1");
    expect(n, 12, 18, R1, "m");
}

/* Thanos moves its cursor to the last block's end even when an earlier,
 * longer block reached further, and blocks of unknown resolutions are
 * never picked. */
static void test_overlaps_and_unknown(void **state) {
    (void)state;
    const spec_t s[] = {{"long", 0, 100, R1}, {"short", 10, 50, R1}, {"raw", 60, 70, 0}, {"odd", 0, 100, 60000}};
    size_t n = setup(s, 4);
    expect(n, 0, 200, R1, "long short raw");
    expect(n, 0, 200, 60000, "raw");
    expect(n, 0, 200, -1, "raw");
}

static void test_empty(void **state) {
    (void)state;
    store_block_t *out[1];
    size_t nout = 7;
    assert_int_equal(store_blocks_for(ptrs, 0, 0, 100, R1, out, &nout), 0);
    assert_int_equal(nout, 0);
}

/* ---- AggrChunk members ---- */

static void xor_chunk(st_xor_appender_t *a, double base) {
    assert_int_equal(st_xor_appender_init(a), 0);
    for (int i = 0; i < 5; i++) assert_int_equal(st_xor_append(a, 1000 + i * 300000, base + i), 0);
}

static void test_aggr_members(void **state) {
    (void)state;
    st_xor_appender_t x[ST_AGGR_N];
    st_store_chunk_t in = {0};
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++) {
        if (a == ST_AGGR_MAX) continue; /* absent */
        xor_chunk(&x[a], a * 10);
        in.data[a] = st_xor_bytes(&x[a], &in.len[a]);
    }
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    assert_int_equal(st_aggr_chunk_encode(&in, &b), 0);

    st_store_chunk_t out = {0};
    uint32_t want = 1u << ST_AGGR_SUM | 1u << ST_AGGR_COUNTER | 1u << ST_AGGR_RAW;
    assert_int_equal(store_aggr_chunk(b.p, b.len, want, &out), 0);
    for (int a = 0; a < ST_AGGR_N; a++) {
        if (a == ST_AGGR_SUM || a == ST_AGGR_COUNTER) {
            assert_int_equal(out.len[a], in.len[a]);
            assert_memory_equal(out.data[a], in.data[a], in.len[a]);
        } else {
            assert_null(out.data[a]); /* not requested (RAW means nothing here) */
        }
    }
    /* none requested: an empty chunk, not an error */
    st_store_chunk_t none = {0};
    assert_int_equal(store_aggr_chunk(b.p, b.len, 0, &none), 0);
    for (int a = 0; a < ST_AGGR_N; a++) assert_null(none.data[a]);
    /* a requested aggregate the chunk lacks */
    st_store_chunk_t miss = {0};
    assert_int_equal(store_aggr_chunk(b.p, b.len, 1u << ST_AGGR_MAX | 1u << ST_AGGR_SUM, &miss), ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(ST_ECORRUPT), "aggregate max does not exist"));
    /* cut short anywhere: an error, never a read past the end */
    for (size_t len = 0; len < b.len; len++) {
        st_store_chunk_t cut = {0};
        assert_int_equal(store_aggr_chunk(b.p, len, 1u << ST_AGGR_COUNT, &cut), ST_ECORRUPT);
    }
    st_encbuf_free(&b);
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++)
        if (a != ST_AGGR_MAX) st_xor_appender_free(&x[a]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_latest_not_downsampled),
        cmocka_unit_test(test_recursive_gaps),
        cmocka_unit_test(test_overlaps_and_unknown),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_aggr_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
