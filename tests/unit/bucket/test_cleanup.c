/* bucket.h's maintenance helpers over a FILESYSTEM bucket: the cleanup of
 * deletion-marked blocks and aborted uploads (delay, dry run, events), the
 * no-downsample marker (layout, listing) and the selector relabeling of
 * blocks (replica labels left out, __block_id). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "st_test.h"
#include "strata/block.h"
#include "strata/bucket.h"
#include "strata/err.h"
#include "strata/fileutil.h"

static char tmproot[4096];
static st_objstore_t *bkt;
static char *local_dir;

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int setup(void **state) {
    (void)state;
    if (st_test_mkdtemp(tmproot, sizeof tmproot, "bucket_cleanup")) return -1;
    char *bdir = st_path_join(tmproot, "bkt");
    local_dir = st_path_join(tmproot, "local");
    char yaml[8192];
    snprintf(yaml, sizeof yaml, "type: FILESYSTEM\nconfig:\n  directory: %s\n", bdir);
    int rc = st_mkdir_p(bdir, 0755) || st_mkdir_p(local_dir, 0755) || st_objstore_open(&bkt, yaml, strlen(yaml));
    free(bdir);
    return rc ? -1 : 0;
}

static int teardown(void **state) {
    (void)state;
    st_objstore_close(bkt);
    free(local_dir);
    return st_rm_rf(tmproot);
}

/* Upload a small block with {cluster="c", replica=<replica>}; its ULID. */
static st_ulid_t upload_block(int64_t start, const char *replica) {
    st_block_builder_t *b;
    assert_int_equal(st_block_builder_new(&b, ST_DEFAULT_BLOCK_DURATION_MS), 0);
    st_label_t p[] = {st_label("__name__", "up"), st_label("job", "j")};
    st_labels_t l;
    assert_int_equal(st_labels_from_pairs(&l, p, 2), 0);
    for (int i = 0; i < 10; i++) assert_int_equal(st_block_builder_append(b, &l, start + i * 15000, i), 0);
    st_labels_free(&l);
    char *dir = NULL;
    assert_int_equal(st_block_builder_write(b, local_dir, &dir), 0);
    st_block_builder_free(b);
    st_label_t ext[] = {st_label("cluster", "c"), st_label("replica", replica)};
    st_thanos_t th = {.source = (char *)"test"};
    assert_int_equal(st_labels_from_pairs(&th.labels, ext, 2), 0);
    st_meta_t m;
    assert_int_equal(st_bucket_upload_block(bkt, dir, &th, NULL, &m), 0);
    st_ulid_t id = m.ulid;
    st_meta_free(&m);
    st_labels_free(&th.labels);
    free(dir);
    return id;
}

typedef struct {
    st_ulid_t id[8];
    st_cleanup_action_t action[8];
    bool partial[8];
    size_t n;
} events_t;

static void record(void *ctx, const st_cleanup_event_t *ev) {
    events_t *e = ctx;
    assert_true(e->n < 8);
    e->id[e->n] = ev->block->id;
    e->action[e->n] = ev->action;
    e->partial[e->n] = strcmp(ev->what, "partial upload") == 0;
    e->n++;
}

static st_cleanup_action_t action_of(const events_t *e, const st_ulid_t *id) {
    for (size_t i = 0; i < e->n; i++)
        if (st_ulid_cmp(&e->id[i], id) == 0) return e->action[i];
    fail_msg("no event for the block");
    return ST_CLEANUP_FAILED;
}

static void test_cleanup(void **state) {
    (void)state;
    int64_t now = now_ms();
    st_ulid_t fresh_mark = upload_block(0, "a"), old_mark = upload_block(3600000, "a");
    st_ulid_t partial = upload_block(7200000, "a"), live = upload_block(10800000, "a");
    st_marker_t m = {.id = fresh_mark, .time_s = now / 1000 - 10};
    assert_int_equal(st_bucket_write_marker(bkt, ST_MARK_DELETION, &m), 0);
    m = (st_marker_t){.id = old_mark, .time_s = now / 1000 - 7200};
    assert_int_equal(st_bucket_write_marker(bkt, ST_MARK_DELETION, &m), 0);
    char u[ST_ULID_TEXT_LEN + 1], name[64];
    st_ulid_format(&partial, u);
    snprintf(name, sizeof name, "%s/meta.json", u);
    assert_int_equal(st_objstore_delete(bkt, name), 0);

    st_bucket_block_t *v;
    size_t n;
    assert_int_equal(st_bucket_list(bkt, ST_BUCKET_LIST_MARKERS, &v, &n), 0);
    assert_int_equal(n, 4);

    /* dry run, no delay: everything marked or partial would go */
    events_t e = {0};
    st_cleanup_stats_t cs;
    assert_int_equal(st_bucket_cleanup(bkt, v, n, 0, now_ms(), true, NULL, record, &e, &cs), 0);
    assert_int_equal(e.n, 3);
    assert_int_equal(action_of(&e, &fresh_mark), ST_CLEANUP_WOULD_DELETE);
    assert_int_equal(action_of(&e, &old_mark), ST_CLEANUP_WOULD_DELETE);
    assert_int_equal(action_of(&e, &partial), ST_CLEANUP_WOULD_DELETE);
    assert_int_equal(cs.deleted, 0);

    /* an hour's delay: only the mark of two hours ago is due */
    e = (events_t){0};
    assert_int_equal(st_bucket_cleanup(bkt, v, n, 3600000, now_ms(), false, NULL, record, &e, &cs), 0);
    assert_int_equal(action_of(&e, &fresh_mark), ST_CLEANUP_KEPT);
    assert_int_equal(action_of(&e, &old_mark), ST_CLEANUP_DELETED);
    assert_int_equal(action_of(&e, &partial), ST_CLEANUP_KEPT);
    for (size_t i = 0; i < e.n; i++) assert_int_equal(e.partial[i], st_ulid_cmp(&e.id[i], &partial) == 0);
    assert_int_equal(cs.deleted, 1);
    assert_int_equal(cs.kept, 2);
    assert_int_equal(cs.failed, 0);
    st_bucket_blocks_free(v, n);

    /* no delay: the rest goes, the live block stays */
    assert_int_equal(st_bucket_list(bkt, ST_BUCKET_LIST_MARKERS, &v, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(st_bucket_cleanup(bkt, v, n, 0, now_ms(), false, NULL, NULL, NULL, &cs), 0);
    assert_int_equal(cs.deleted, 2);
    st_bucket_blocks_free(v, n);
    assert_int_equal(st_bucket_list(bkt, ST_BUCKET_LIST_MARKERS, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(st_ulid_cmp(&v[0].id, &live), 0);
    st_bucket_blocks_free(v, n);

    /* a stop flag already set: nothing is looked at */
    atomic_bool stop = true;
    m = (st_marker_t){.id = live, .time_s = 1};
    assert_int_equal(st_bucket_write_marker(bkt, ST_MARK_DELETION, &m), 0);
    assert_int_equal(st_bucket_list(bkt, ST_BUCKET_LIST_MARKERS, &v, &n), 0);
    assert_int_equal(st_bucket_cleanup(bkt, v, n, 0, now_ms(), false, &stop, NULL, NULL, &cs), 0);
    assert_int_equal(cs.deleted, 0);
    assert_int_equal(st_bucket_cleanup(bkt, v, n, 0, now_ms(), false, NULL, NULL, NULL, &cs), 0);
    assert_int_equal(cs.deleted, 1);
    st_bucket_blocks_free(v, n);
}

static void test_no_downsample_marker(void **state) {
    (void)state;
    st_ulid_t id = upload_block(0, "a");
    st_marker_t m = {.id = id, .time_s = 1700000000, .details = (char *)"too big", .reason = (char *)"manual"};
    char *json;
    size_t len;
    assert_int_equal(st_marker_encode(ST_MARK_NO_DOWNSAMPLE, &m, &json, &len), 0);
    char u[ST_ULID_TEXT_LEN + 1], want[256];
    st_ulid_format(&id, u);
    snprintf(want, sizeof want,
             "{\"id\":\"%s\",\"version\":1,\"details\":\"too big\",\"no_downsample_time\":1700000000,\"reason\":"
             "\"manual\"}",
             u);
    assert_string_equal(json, want);
    free(json);
    assert_string_equal(st_marker_filename(ST_MARK_NO_DOWNSAMPLE), "no-downsample-mark.json");

    st_bucket_block_t *v;
    size_t n;
    assert_int_equal(st_bucket_list(bkt, ST_BUCKET_LIST_MARKERS, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_false(v[0].no_downsample_marked);
    st_bucket_blocks_free(v, n);
    assert_int_equal(st_bucket_write_marker(bkt, ST_MARK_NO_DOWNSAMPLE, &m), 0);
    assert_int_equal(st_bucket_list(bkt, ST_BUCKET_LIST_MARKERS, &v, &n), 0);
    assert_true(v[0].no_downsample_marked);
    assert_false(v[0].no_compact_marked);
    assert_false(v[0].deletion_marked);
    st_bucket_blocks_free(v, n);
    st_marker_t r;
    assert_int_equal(st_bucket_read_marker(bkt, ST_MARK_NO_DOWNSAMPLE, &id, &r), 0);
    assert_int_equal(r.time_s, 1700000000);
    assert_string_equal(r.reason, "manual");
    st_marker_free(&r);
    assert_int_equal(st_bucket_delete_block(bkt, &id), 0);
}

static void test_selected(void **state) {
    (void)state;
    st_ulid_t a = upload_block(0, "a"), b = upload_block(0, "b");
    st_bucket_block_t *v;
    size_t n;
    assert_int_equal(st_bucket_list(bkt, 0, &v, &n), 0);
    assert_int_equal(n, 2);
    bool keep = false;
    assert_int_equal(st_bucket_block_selected(NULL, &v[0], NULL, 0, &keep), 0);
    assert_true(keep);

    /* keep replica b only: seen without the drop list, not with it */
    const char *src[] = {"replica"};
    st_relabel_spec_t spec = {.source_labels = src, .n_source_labels = 1, .regex = "b", .action = ST_RELABEL_KEEP};
    st_relabel_t *r;
    assert_int_equal(st_relabel_new(&r, &spec, 1), 0);
    const char *drop[] = {"replica"};
    for (size_t i = 0; i < n; i++) {
        bool is_b = st_ulid_cmp(&v[i].id, &b) == 0;
        assert_int_equal(st_bucket_block_selected(r, &v[i], NULL, 0, &keep), 0);
        assert_int_equal(keep, is_b);
        assert_int_equal(st_bucket_block_selected(r, &v[i], drop, 1, &keep), 0);
        assert_false(keep);
    }
    st_relabel_free(r);

    /* __block_id names the block */
    char u[ST_ULID_TEXT_LEN + 1];
    st_ulid_format(&a, u);
    const char *bid[] = {"__block_id"};
    spec = (st_relabel_spec_t){.source_labels = bid, .n_source_labels = 1, .regex = u, .action = ST_RELABEL_KEEP};
    assert_int_equal(st_relabel_new(&r, &spec, 1), 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(st_bucket_block_selected(r, &v[i], drop, 1, &keep), 0);
        assert_int_equal(keep, st_ulid_cmp(&v[i].id, &a) == 0);
    }
    st_relabel_free(r);
    st_bucket_blocks_free(v, n);
    assert_int_equal(st_bucket_delete_block(bkt, &a), 0);
    assert_int_equal(st_bucket_delete_block(bkt, &b), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cleanup),
        cmocka_unit_test(test_no_downsample_marker),
        cmocka_unit_test(test_selected),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
