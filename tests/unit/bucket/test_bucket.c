/* Blocks in a FILESYSTEM bucket: upload order and meta.json's thanos
 * section, download round trip, delete, listing with partial uploads and
 * markers, and the index/file checks of `tools bucket verify`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sys/stat.h>

#include "st_test.h"
#include "strata/block.h"
#include "strata/bucket.h"
#include "strata/err.h"
#include "strata/fileutil.h"

static char tmproot[4096];
static char *bucket_dir, *local_dir, *block_dir;
static char block_id[ST_ULID_TEXT_LEN + 1];
static st_objstore_t *bkt;

static st_labels_t ext_labels(void) {
    st_label_t pairs[] = {st_label("replica", "a"), st_label("cluster", "eu-1")};
    st_labels_t l;
    assert_int_equal(st_labels_from_pairs(&l, pairs, 2), 0);
    return l;
}

/* A block of 3 series x 200 samples at 15 s under local_dir. */
static char *make_block(int64_t start) {
    st_block_builder_t *b;
    assert_int_equal(st_block_builder_new(&b, ST_DEFAULT_BLOCK_DURATION_MS), 0);
    const char *names[] = {"up", "x", "y"};
    for (int s = 0; s < 3; s++) {
        st_label_t p[] = {st_label("__name__", names[s]), st_label("job", "j")};
        st_labels_t l;
        assert_int_equal(st_labels_from_pairs(&l, p, 2), 0);
        for (int i = 0; i < 200; i++) assert_int_equal(st_block_builder_append(b, &l, start + i * 15000, i + s), 0);
        st_labels_free(&l);
    }
    char *dir = NULL;
    assert_int_equal(st_block_builder_write(b, local_dir, &dir), 0);
    st_block_builder_free(b);
    return dir;
}

static int setup(void **state) {
    (void)state;
    if (st_test_mkdtemp(tmproot, sizeof tmproot, "bucket")) return -1;
    bucket_dir = st_path_join(tmproot, "bkt");
    local_dir = st_path_join(tmproot, "local");
    char yaml[8192];
    snprintf(yaml, sizeof yaml, "type: FILESYSTEM\nconfig:\n  directory: %s\n", bucket_dir);
    if (st_mkdir_p(bucket_dir, 0755) || st_mkdir_p(local_dir, 0755) || st_objstore_open(&bkt, yaml, strlen(yaml)))
        return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    st_objstore_close(bkt);
    free(bucket_dir);
    free(local_dir);
    free(block_dir);
    return st_rm_rf(tmproot);
}

static char *read_obj(const char *name, size_t *len) {
    uint8_t *p = NULL;
    int rc = st_objstore_get(bkt, name, 1 << 26, &p, len);
    if (rc) fail_msg("get %s: %s", name, st_errdetail(rc));
    return (char *)p;
}

static char *read_local(const char *dir, const char *rel, size_t *len) {
    char *path = st_path_join(dir, rel);
    uint8_t *p = NULL;
    assert_int_equal(st_file_read_all(path, 1 << 26, &p, len), 0);
    free(path);
    return (char *)p;
}

static uint64_t local_size(const char *dir, const char *rel) {
    char *path = st_path_join(dir, rel);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    free(path);
    return (uint64_t)st.st_size;
}

static bool obj_exists(const char *name) {
    bool e = false;
    assert_int_equal(st_objstore_exists(bkt, name, &e), 0);
    return e;
}

static void test_upload(void **state) {
    (void)state;
    st_bucket_block_t *none;
    size_t nnone;
    assert_int_equal(st_bucket_list(bkt, ST_BUCKET_LIST_MARKERS, &none, &nnone), 0);
    assert_int_equal(nnone, 0);
    st_bucket_blocks_free(none, nnone);
    block_dir = make_block(1700000000000);
    const char *slash = strrchr(block_dir, '/');
    snprintf(block_id, sizeof block_id, "%s", slash + 1);
    size_t before_len, after_len;
    char *before = read_local(block_dir, "meta.json", &before_len);

    st_thanos_t th = {.labels = ext_labels(), .resolution = 0, .source = (char *)ST_THANOS_SOURCE_SIDECAR};
    st_meta_t up;
    assert_int_equal(st_bucket_upload_block(bkt, block_dir, &th, NULL, &up), 0);
    st_labels_free(&th.labels);

    char expected[1024];
    snprintf(expected, sizeof expected,
             "{\"labels\":{\"cluster\":\"eu-1\",\"replica\":\"a\"},\"downsample\":{\"resolution\":0},\"source\":"
             "\"sidecar\",\"segment_files\":[\"000001\"],\"files\":[{\"rel_path\":\"chunks/000001\",\"size_bytes\":%llu},"
             "{\"rel_path\":\"index\",\"size_bytes\":%llu},{\"rel_path\":\"meta.json\"}]}",
             (unsigned long long)local_size(block_dir, "chunks/000001"),
             (unsigned long long)local_size(block_dir, "index"));
    assert_string_equal(up.thanos_json, expected);

    /* the bucket's meta.json is the local one plus the section, MarshalIndent style */
    char name[128];
    size_t len;
    snprintf(name, sizeof name, "%s/meta.json", block_id);
    char *remote = read_obj(name, &len);
    char *encoded;
    size_t enc_len;
    assert_int_equal(st_meta_encode(&up, &encoded, &enc_len), 0);
    assert_int_equal(len, enc_len);
    assert_memory_equal(remote, encoded, len);
    assert_non_null(strstr(remote, "\t\"version\": 1,\n\t\"thanos\": {\n\t\t\"labels\": {\n\t\t\t\"cluster\": \"eu-1\",\n"));
    assert_non_null(strstr(remote, "\t\t\"downsample\": {\n\t\t\t\"resolution\": 0\n\t\t},\n\t\t\"source\": \"sidecar\""));
    free(encoded);
    free(remote);
    st_meta_free(&up);

    /* data objects byte-equal; tombstones not shipped; local dir untouched */
    static const char *const rels[] = {"chunks/000001", "index"};
    for (size_t i = 0; i < 2; i++) {
        size_t a, b;
        snprintf(name, sizeof name, "%s/%s", block_id, rels[i]);
        char *x = read_obj(name, &a), *y = read_local(block_dir, rels[i], &b);
        assert_int_equal(a, b);
        assert_memory_equal(x, y, a);
        free(x);
        free(y);
    }
    snprintf(name, sizeof name, "%s/tombstones", block_id);
    assert_false(obj_exists(name));
    char *after = read_local(block_dir, "meta.json", &after_len);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    free(before);
    free(after);
}

static void test_upload_errors(void **state) {
    (void)state;
    st_thanos_t empty = {.source = (char *)"sidecar"};
    int rc = st_bucket_upload_block(bkt, block_dir, &empty, NULL, NULL);
    assert_int_equal(rc, ST_EINVAL);
    assert_non_null(strstr(st_errdetail(rc), "empty external labels"));
    /* no labels given and the block has no thanos section of its own */
    rc = st_bucket_upload_block(bkt, block_dir, NULL, NULL, NULL);
    assert_int_equal(rc, ST_EINVAL);
    assert_non_null(strstr(st_errdetail(rc), "no thanos section"));
    rc = st_bucket_upload_block(bkt, local_dir, &empty, NULL, NULL);
    assert_int_equal(rc, ST_EINVAL);
    assert_non_null(strstr(st_errdetail(rc), "not a block directory"));

    /* a stop request before the first object: nothing but a partial upload */
    char *dir = make_block(1700100000000);
    const char *id = strrchr(dir, '/') + 1;
    atomic_bool stop = true;
    st_thanos_t th = {.labels = ext_labels(), .source = (char *)"sidecar"};
    rc = st_bucket_upload_block(bkt, dir, &th, &stop, NULL);
    assert_int_equal(rc, ST_EIO);
    assert_non_null(strstr(st_errdetail(rc), "interrupted by shutdown"));
    char name[128];
    snprintf(name, sizeof name, "%s/meta.json", id);
    assert_false(obj_exists(name));
    /* the same block uploads whole afterwards */
    atomic_store(&stop, false);
    assert_int_equal(st_bucket_upload_block(bkt, dir, &th, &stop, NULL), 0);
    assert_true(obj_exists(name));
    st_labels_free(&th.labels);
    st_ulid_t u;
    assert_int_equal(st_ulid_parse(&u, id), 0);
    assert_int_equal(st_bucket_delete_block(bkt, &u), 0);
    st_rm_rf(dir);
    free(dir);
}

static void test_download_and_reupload_own_section(void **state) {
    (void)state;
    st_ulid_t id;
    assert_int_equal(st_ulid_parse(&id, block_id), 0);
    char *dst = st_path_join(tmproot, "dl");
    char *out = NULL;
    assert_int_equal(st_bucket_download_block(bkt, &id, dst, &out), 0);
    assert_non_null(strstr(out, block_id));
    static const char *const rels[] = {"chunks/000001", "index"};
    for (size_t i = 0; i < 2; i++) {
        size_t a, b;
        char *x = read_local(out, rels[i], &a), *y = read_local(block_dir, rels[i], &b);
        assert_int_equal(a, b);
        assert_memory_equal(x, y, a);
        free(x);
        free(y);
    }
    st_block_t *blk;
    assert_int_equal(st_block_open(&blk, out), 0);
    assert_int_equal(st_block_meta(blk)->num_samples, 600);
    st_block_close(blk);
    char *tmp = st_path_join(dst, block_id);
    assert_string_equal(tmp, out);
    free(tmp);
    assert_int_equal(st_bucket_download_block(bkt, &id, dst, NULL), ST_EEXIST);

    /* a downloaded block carries its section: re-upload keeps labels and source */
    assert_int_equal(st_bucket_delete_block(bkt, &id), 0);
    st_meta_t m;
    assert_int_equal(st_bucket_upload_block(bkt, out, NULL, NULL, &m), 0);
    st_thanos_t th;
    assert_int_equal(st_thanos_parse(&th, m.thanos_json, "x"), 0);
    assert_int_equal(th.labels.n, 2);
    assert_string_equal(th.source, "sidecar");
    assert_int_equal(th.nfiles, 3);
    assert_string_equal(th.files[2].rel_path, "meta.json");
    st_thanos_free(&th);
    st_meta_free(&m);

    st_ulid_t missing;
    assert_int_equal(st_ulid_parse(&missing, "01ARZ3NDEKTSV4RRFFQ69G5FAV"), 0);
    int rc = st_bucket_download_block(bkt, &missing, dst, NULL);
    assert_int_equal(rc, ST_ENOTFOUND);
    assert_non_null(strstr(st_errdetail(rc), "no meta.json"));
    free(out);
    free(dst);
}

static void put(const char *name, const char *text) {
    assert_int_equal(st_objstore_upload(bkt, name, text, strlen(text)), 0);
}

static void test_list_partial_corrupt_markers(void **state) {
    (void)state;
    /* partial upload: data but no meta.json */
    put("01ARZ3NDEKTSV4RRFFQ69G5FAV/index", "idx");
    /* unreadable meta.json */
    put("01BX5ZZKBKACTAV9WEVGEMMVRZ/meta.json", "{\"ulid\": ");
    /* not blocks: other names and a lowercase ULID */
    put("debug/metas/x.json", "{}");
    put("01bx5zzkbkactav9wevgemmvs0/meta.json", "{}");
    put("thanos.shipper.json", "{}");
    st_ulid_t id;
    assert_int_equal(st_ulid_parse(&id, block_id), 0);
    st_marker_t mk = {.id = id, .time_s = 1700000000, .details = (char *)"old"};
    assert_int_equal(st_bucket_write_marker(bkt, ST_MARK_DELETION, &mk), 0);

    st_bucket_block_t *v;
    size_t n;
    assert_int_equal(st_bucket_list(bkt, ST_BUCKET_LIST_MARKERS, &v, &n), 0);
    assert_int_equal(n, 3);
    /* sorted by ULID: the two hand-made ones (2016, 2017) before ours */
    char s[ST_ULID_TEXT_LEN + 1];
    st_ulid_format(&v[0].id, s);
    assert_string_equal(s, "01ARZ3NDEKTSV4RRFFQ69G5FAV");
    assert_true(v[0].partial);
    assert_false(v[0].deletion_marked);
    st_ulid_format(&v[1].id, s);
    assert_string_equal(s, "01BX5ZZKBKACTAV9WEVGEMMVRZ");
    assert_false(v[1].partial);
    assert_int_equal(v[1].meta_rc, ST_ECORRUPT);
    assert_non_null(strstr(v[1].meta_err, "01BX5ZZKBKACTAV9WEVGEMMVRZ/meta.json"));
    st_ulid_format(&v[2].id, s);
    assert_string_equal(s, block_id);
    assert_false(v[2].partial);
    assert_int_equal(v[2].meta_rc, 0);
    assert_int_equal(v[2].thanos.labels.n, 2);
    assert_int_equal(v[2].meta.num_samples, 600);
    assert_true(v[2].deletion_marked);
    assert_int_equal(v[2].deletion_time_s, 1700000000);
    assert_false(v[2].no_compact_marked);

    int64_t lm = 0;
    assert_int_equal(st_bucket_block_last_modified(bkt, &v[0].id, &lm), 0);
    assert_true(lm > 1700000000000);
    st_bucket_blocks_free(v, n);

    /* without markers the mark is not looked at */
    assert_int_equal(st_bucket_list(bkt, 0, &v, &n), 0);
    assert_int_equal(n, 3);
    assert_false(v[2].deletion_marked);
    st_bucket_blocks_free(v, n);
}

static void test_delete(void **state) {
    (void)state;
    st_ulid_t p;
    assert_int_equal(st_ulid_parse(&p, "01ARZ3NDEKTSV4RRFFQ69G5FAV"), 0);
    assert_int_equal(st_bucket_delete_block(bkt, &p), 0);
    assert_false(obj_exists("01ARZ3NDEKTSV4RRFFQ69G5FAV/index"));
    assert_int_equal(st_bucket_delete_block(bkt, &p), 0); /* nothing left: fine */
    assert_int_equal(st_ulid_parse(&p, "01BX5ZZKBKACTAV9WEVGEMMVRZ"), 0);
    assert_int_equal(st_bucket_delete_block(bkt, &p), 0);
    st_bucket_block_t *v;
    size_t n;
    assert_int_equal(st_bucket_list(bkt, 0, &v, &n), 0);
    assert_int_equal(n, 1);
    st_bucket_blocks_free(v, n);
}

static void test_markers(void **state) {
    (void)state;
    st_ulid_t id;
    assert_int_equal(st_ulid_parse(&id, "01ARZ3NDEKTSV4RRFFQ69G5FAV"), 0);
    st_marker_t m = {.id = id, .time_s = 1700000000, .details = (char *)"a \"b\""};
    char *json;
    size_t len;
    assert_int_equal(st_marker_encode(ST_MARK_DELETION, &m, &json, &len), 0);
    assert_string_equal(json, "{\"id\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"version\":1,\"details\":\"a \\\"b\\\"\","
                              "\"deletion_time\":1700000000}");
    st_marker_t back;
    assert_int_equal(st_marker_parse(ST_MARK_DELETION, json, len, "x", &back), 0);
    assert_int_equal(back.time_s, 1700000000);
    assert_string_equal(back.details, "a \"b\"");
    st_marker_free(&back);
    free(json);
    st_marker_t nc = {.id = id, .time_s = 5};
    assert_int_equal(st_marker_encode(ST_MARK_NO_COMPACT, &nc, &json, &len), 0);
    assert_string_equal(json,
                        "{\"id\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"version\":1,\"no_compact_time\":5,\"reason\":\"manual\"}");
    free(json);

    static const struct {
        const char *json, *detail;
    } bad[] = {
        {"{\"id\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"version\":2,\"deletion_time\":1}", "version"},
        {"{\"version\":1,\"deletion_time\":1}", "\"id\""},
        {"{\"id\":\"nope\",\"version\":1,\"deletion_time\":1}", "\"id\""},
        {"{\"id\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"version\":1}", "deletion_time"},
        {"{\"id\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"version\":1,\"deletion_time\":1,\"details\":5}", "details"},
        {"[1]", "not a JSON object"},
        {"{\"id\":", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        st_marker_t x;
        int rc = st_marker_parse(ST_MARK_DELETION, bad[i].json, strlen(bad[i].json), "m.json", &x);
        assert_int_equal(rc, ST_ECORRUPT);
        if (!strstr(st_errdetail(rc), bad[i].detail) || !strstr(st_errdetail(rc), "m.json"))
            fail_msg("case %zu: \"%s\"", i, st_errdetail(rc));
    }

    /* bucket round trip; a mark naming another block is refused */
    assert_int_equal(st_bucket_write_marker(bkt, ST_MARK_NO_COMPACT, &nc), 0);
    st_marker_t r;
    assert_int_equal(st_bucket_read_marker(bkt, ST_MARK_NO_COMPACT, &id, &r), 0);
    assert_string_equal(r.reason, "manual");
    st_marker_free(&r);
    assert_int_equal(st_bucket_read_marker(bkt, ST_MARK_DELETION, &id, &r), ST_ENOTFOUND);
    put("01BX5ZZKBKACTAV9WEVGEMMVRZ/deletion-mark.json",
        "{\"id\":\"01ARZ3NDEKTSV4RRFFQ69G5FAV\",\"version\":1,\"deletion_time\":1}");
    st_ulid_t other;
    assert_int_equal(st_ulid_parse(&other, "01BX5ZZKBKACTAV9WEVGEMMVRZ"), 0);
    int rc = st_bucket_read_marker(bkt, ST_MARK_DELETION, &other, &r);
    assert_int_equal(rc, ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(rc), "another block"));
    assert_int_equal(st_bucket_delete_block(bkt, &id), 0);
    assert_int_equal(st_bucket_delete_block(bkt, &other), 0);
}

static void test_thanos_parse(void **state) {
    (void)state;
    st_thanos_t t;
    assert_int_equal(st_thanos_parse(&t, NULL, "x"), 0);
    assert_int_equal(t.labels.n, 0);
    assert_string_equal(t.source, "");
    st_thanos_free(&t);
    const char *full = "{\"version\":1,\"labels\":{\"b\":\"2\",\"a\":\"1\"},\"downsample\":{\"resolution\":300000},"
                       "\"source\":\"compactor\",\"files\":[{\"rel_path\":\"index\",\"size_bytes\":7},"
                       "{\"rel_path\":\"meta.json\"}],\"rewrites\":[]}";
    assert_int_equal(st_thanos_parse(&t, full, "x"), 0);
    assert_int_equal(t.labels.n, 2);
    assert_string_equal(t.labels.v[0].name, "a");
    assert_int_equal(t.resolution, 300000);
    assert_string_equal(t.source, "compactor");
    assert_int_equal(t.nfiles, 2);
    assert_int_equal(t.files[0].size, 7);
    assert_int_equal(t.files[1].size, 0);
    st_thanos_free(&t);
    static const char *const bad[] = {
        "{\"version\":2}",
        "{\"labels\":{\"a\":1}}",
        "{\"labels\":[\"a\"]}",
        "{\"labels\":{\"\":\"x\"}}",
        "{\"downsample\":{\"resolution\":-1}}",
        "{\"downsample\":5}",
        "{\"source\":5}",
        "{\"files\":[{\"size_bytes\":1}]}",
        "{\"files\":[{\"rel_path\":\"index\",\"size_bytes\":-3}]}",
        "[]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = st_thanos_parse(&t, bad[i], "blk/meta.json");
        if (rc != ST_ECORRUPT || !strstr(st_errdetail(rc), "blk/meta.json"))
            fail_msg("case %zu (%s): rc %d \"%s\"", i, bad[i], rc, st_errdetail(rc));
    }
}

static void test_index_check(void **state) {
    (void)state;
    char *index = st_path_join(block_dir, "index");
    st_meta_t m;
    assert_int_equal(st_meta_read(&m, block_dir), 0);
    uint64_t seg = local_size(block_dir, "chunks/000001");
    st_index_check_t c;
    assert_int_equal(st_index_check(index, &m, &seg, 1, &c), 0);
    assert_int_equal(c.problems, 0);
    assert_int_equal(c.series, 3);
    assert_int_equal(c.chunks, m.num_chunks);

    st_meta_t narrow = m;
    narrow.min_time += 60000; /* chunks now start before the block */
    assert_int_equal(st_index_check(index, &narrow, &seg, 1, &c), 0);
    assert_int_equal(c.problems, 3);
    assert_non_null(strstr(c.first_problem, "outside the block range"));
    assert_non_null(strstr(c.first_problem, "{__name__=\"up\", job=\"j\"}"));

    uint64_t small = 10;
    assert_int_equal(st_index_check(index, &m, &small, 1, &c), 0);
    assert_true(c.problems >= 1);
    assert_non_null(strstr(c.first_problem, "outside the segment files"));

    st_meta_t wrong = m;
    wrong.num_series = 4;
    assert_int_equal(st_index_check(index, &wrong, NULL, 0, &c), 0);
    assert_int_equal(c.problems, 1);
    assert_string_equal(c.first_problem, "index has 3 series, meta.json says 4");

    /* a truncated index is a format error naming the file */
    size_t len;
    char *bytes = read_local(block_dir, "index", &len);
    char *cut = st_path_join(tmproot, "cut-index");
    assert_int_equal(st_file_write_atomic(cut, bytes, len / 2), 0);
    int rc = st_index_check(cut, &m, NULL, 0, &c);
    assert_int_equal(rc, ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(rc), "cut-index"));
    free(bytes);
    free(cut);
    free(index);
    st_meta_free(&m);
}

static void test_check_block(void **state) {
    (void)state;
    st_bucket_block_t *v;
    size_t n;
    char *tmp = st_path_join(tmproot, "verify");
    assert_int_equal(st_bucket_list(bkt, 0, &v, &n), 0);
    assert_int_equal(n, 1);
    st_index_check_t c;
    assert_int_equal(st_bucket_check_block(bkt, &v[0], tmp, &c), 0);
    assert_int_equal(c.problems, 0);
    assert_int_equal(c.series, 3);

    char name[128];
    snprintf(name, sizeof name, "%s/chunks/000001", block_id);
    put(name, "short");
    assert_int_equal(st_bucket_check_block(bkt, &v[0], tmp, &c), 0);
    assert_true(c.problems >= 2); /* size mismatch, refs past the shortened segment */
    assert_non_null(strstr(c.first_problem, "outside the segment files"));
    assert_int_equal(st_objstore_delete(bkt, name), 0);
    assert_int_equal(st_bucket_check_block(bkt, &v[0], tmp, &c), 0);
    assert_non_null(strstr(c.first_problem, "chunks/000001 is listed in meta.json but missing"));
    st_bucket_blocks_free(v, n);
    free(tmp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upload),       cmocka_unit_test(test_upload_errors),
        cmocka_unit_test(test_download_and_reupload_own_section),
        cmocka_unit_test(test_list_partial_corrupt_markers),
        cmocka_unit_test(test_delete),       cmocka_unit_test(test_markers),
        cmocka_unit_test(test_thanos_parse), cmocka_unit_test(test_index_check),
        cmocka_unit_test(test_check_block),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
