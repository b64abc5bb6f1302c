/* The compactor's pure decisions (compactor/groups.c): which blocks are due
 * for downsampling (span, coverage of their sources by a block of the
 * target resolution, no-downsample marks), which plans it refuses
 * (overlapping downsampled blocks, overlapping raw blocks without vertical
 * compaction), and the bookkeeping of a group's blocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "compactor.h"
#include "strata/downsample.h"

#define H ((int64_t)3600000)

static st_ulid_t uid(int i) {
    st_ulid_t u;
    memset(&u, 0, sizeof u);
    u.b[0] = 1;
    u.b[15] = (uint8_t)i;
    return u;
}

/* A listed block: id i, resolution, span in hours, sources (ids). */
static void block(st_bucket_block_t *b, int i, int64_t res, int64_t hours, const int *src, size_t nsrc) {
    memset(b, 0, sizeof *b);
    b->id = uid(i);
    b->meta.ulid = b->id;
    b->meta.min_time = 0;
    b->meta.max_time = hours * H;
    b->meta.sources = calloc(nsrc ? nsrc : 1, sizeof *b->meta.sources);
    assert_non_null(b->meta.sources);
    for (size_t k = 0; k < nsrc; k++) b->meta.sources[k] = uid(src[k]);
    b->meta.nsources = nsrc;
    b->thanos.resolution = res;
}

static void test_downsample_todo(void **state) {
    (void)state;
    enum { N = 9 };
    st_bucket_block_t *v = calloc(N, sizeof *v);
    assert_non_null(v);
    block(&v[0], 10, ST_RES_RAW, 48, (int[]){1, 2}, 2); /* covered by v[2] */
    block(&v[1], 11, ST_RES_RAW, 48, (int[]){3}, 1);    /* due */
    block(&v[2], 12, ST_RES_5M, 48, (int[]){1, 2}, 2);  /* too short for 1h */
    block(&v[3], 13, ST_RES_RAW, 10, (int[]){4}, 1);    /* too short */
    block(&v[4], 14, ST_RES_RAW, 48, (int[]){7}, 1);    /* no-downsample mark */
    v[4].no_downsample_marked = true;
    block(&v[5], 15, ST_RES_5M, 240, (int[]){5}, 1);    /* due: 10d */
    block(&v[6], 16, ST_RES_5M, 239, (int[]){8}, 1);    /* just short of 10d */
    block(&v[7], 17, ST_RES_1H, 240, (int[]){6}, 1);
    block(&v[8], 18, ST_RES_5M, 240, (int[]){6}, 1);    /* covered by v[7] */
    size_t live[N];
    for (size_t i = 0; i < N; i++) live[i] = i;
    compactor_view_t view = {.v = v, .n = N, .live = live, .nlive = N};
    size_t *todo = NULL, n = 0;
    assert_int_equal(compactor_downsample_todo(&view, &todo, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(todo[0], 1);
    assert_int_equal(todo[1], 5);
    free(todo);

    /* a raw block partly covered (one source of two) is still due */
    v[2].meta.nsources = 1;
    assert_int_equal(compactor_downsample_todo(&view, &todo, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(todo[0], 0);
    free(todo);
    v[2].meta.nsources = 2;

    /* blocks outside the live set do not count, as covering blocks either */
    live[0] = 1;
    live[1] = 0; /* v[2] (the 5m cover) left out */
    view.nlive = 2;
    assert_int_equal(compactor_downsample_todo(&view, &todo, &n), 0);
    assert_int_equal(n, 2);
    free(todo);
    st_bucket_blocks_free(v, N);
}

static void test_plan_refused(void **state) {
    (void)state;
    compactor_t c;
    memset(&c, 0, sizeof c);
    compactor_group_t raw = {.resolution = ST_RES_RAW}, five = {.resolution = ST_RES_5M};
    mark_reason_t why = MARK_NREASONS;
    assert_false(compactor_plan_refused(&c, &raw, false, &why));
    assert_false(compactor_plan_refused(&c, &five, false, &why));
    assert_true(compactor_plan_refused(&c, &five, true, &why));
    assert_int_equal(why, MARK_NO_COMPACT_DOWNSAMPLED_OVERLAP);
    assert_true(compactor_plan_refused(&c, &raw, true, &why));
    assert_int_equal(why, MARK_NO_COMPACT_OVERLAP);
    c.vertical = true;
    assert_false(compactor_plan_refused(&c, &raw, true, &why));
    assert_true(compactor_plan_refused(&c, &five, true, &why)); /* never for aggregates */
    assert_string_equal(compactor_mark_reason(MARK_NO_COMPACT_DOWNSAMPLED_OVERLAP), "downsample-vertical-compaction");
    assert_int_equal(compactor_mark_kind(MARK_DELETION_RETENTION), ST_MARK_DELETION);
    assert_string_equal(compactor_mark_reason(MARK_DELETION_RETENTION), "");
}

static void test_group_plan_and_bookkeeping(void **state) {
    (void)state;
    compactor_group_t *g = calloc(1, sizeof *g);
    assert_non_null(g);
    strcpy(g->key, "0@1");
    /* four 2h blocks [0, 8h) and a newer one: the first four are due */
    for (int i = 0; i < 5; i++) {
        st_meta_t m = {0};
        m.ulid = uid(i + 1);
        m.min_time = i * 2 * H;
        m.max_time = (i + 1) * 2 * H;
        assert_int_equal(compactor_group_add(g, &m), 0);
        assert_true(g->owned[g->n - 1]);
    }
    size_t *plan = NULL, np = 0;
    bool overlap = true;
    assert_int_equal(compactor_group_plan(g, &plan, &np, &overlap), 0);
    assert_int_equal(np, 4);
    assert_false(overlap);
    compactor_group_remove(g, plan, np);
    free(plan);
    assert_int_equal(g->n, 1);
    st_ulid_t want = uid(5);
    assert_int_equal(st_ulid_cmp(&g->metas[0].ulid, &want), 0);

    /* a block over the same range as the one left: an overlapping plan */
    st_meta_t m = {0};
    m.ulid = uid(9);
    m.min_time = 8 * H;
    m.max_time = 10 * H;
    assert_int_equal(compactor_group_add(g, &m), 0);
    assert_int_equal(compactor_group_plan(g, &plan, &np, &overlap), 0);
    assert_int_equal(np, 2);
    assert_true(overlap);
    free(plan);

    /* no-compact blocks take no part in a vertical compaction */
    g->no_compact[0] = true;
    assert_int_equal(compactor_group_plan(g, &plan, &np, &overlap), 0);
    assert_int_equal(np, 0);
    free(plan);
    compactor_groups_free(g, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_downsample_todo),
        cmocka_unit_test(test_plan_refused),
        cmocka_unit_test(test_group_plan_and_bookkeeping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
