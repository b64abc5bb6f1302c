/* FILESYSTEM backend specifics: the on-disk layout, pruning of empty
 * directories on delete, directory entries in listings, no stray tmp files.
 * (The shared behaviour is in tests/integration/objstore/objstore_suite.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/objstore.h"

static char root[4096];
static st_objstore_t *bucket;

static int setup(void **state) {
    (void)state;
    const char *base = getenv("ST_TEST_TMP");
    if (!base || !*base) base = "/tmp";
    if (st_mkdir_p(base, 0755) != 0) return -1;
    char tmpl[4000];
    snprintf(tmpl, sizeof tmpl, "%s/objstore_fs.XXXXXX", base);
    if (!mkdtemp(tmpl)) return -1;
    snprintf(root, sizeof root, "%s/bucket", tmpl); /* created on first upload */
    char yml[4300];
    snprintf(yml, sizeof yml, "type: FILESYSTEM\nconfig:\n  directory: %s\n", root);
    return st_objstore_open(&bucket, yml, strlen(yml));
}

static int teardown(void **state) {
    (void)state;
    st_objstore_close(bucket);
    char *slash = strrchr(root, '/');
    *slash = 0;
    return st_rm_rf(root);
}

static const char *at(const char *rel) {
    static char p[8192];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    return p;
}

static char listed[4096];
static int join(void *ctx, const char *name) {
    (void)ctx;
    strcat(listed, name);
    strcat(listed, ",");
    return 0;
}

static void test_layout_and_prune(void **state) {
    (void)state;
    listed[0] = 0;
    assert_int_equal(st_objstore_iter(bucket, "", true, join, NULL), 0); /* root not there yet */
    assert_string_equal(listed, "");
    assert_int_equal(st_objstore_upload(bucket, "01H/chunks/000001", "abc", 3), 0);
    assert_int_equal(st_objstore_upload(bucket, "01H/meta.json", "{}", 2), 0);
    assert_int_equal(st_objstore_upload(bucket, "x/y/z/deep", "d", 1), 0);
    uint8_t *b;
    size_t n;
    assert_int_equal(st_file_read_all(at("01H/chunks/000001"), 10, &b, &n), 0);
    assert_int_equal(n, 3);
    free(b);
    assert_false(st_path_exists(at("01H/chunks/000001.tmp")));
    listed[0] = 0;
    assert_int_equal(st_objstore_iter(bucket, "", false, join, NULL), 0);
    assert_string_equal(listed, "01H/,x/,");
    listed[0] = 0;
    assert_int_equal(st_objstore_iter(bucket, "01H/", false, join, NULL), 0);
    assert_string_equal(listed, "01H/chunks/,01H/meta.json,");
    /* deleting the last object of x/y/z removes x/y/z, x/y and x, not the root */
    assert_int_equal(st_objstore_delete(bucket, "x/y/z/deep"), 0);
    assert_false(st_path_exists(at("x")));
    assert_true(st_path_exists(root));
    /* a sibling keeps its directory */
    assert_int_equal(st_objstore_delete(bucket, "01H/chunks/000001"), 0);
    assert_false(st_path_exists(at("01H/chunks")));
    assert_true(st_path_exists(at("01H")));
    assert_int_equal(st_objstore_delete(bucket, "01H/meta.json"), 0);
    assert_false(st_path_exists(at("01H")));
}

static void test_directories_are_not_objects(void **state) {
    (void)state;
    assert_int_equal(st_objstore_upload(bucket, "d/f", "x", 1), 0);
    uint8_t *b = NULL;
    size_t n;
    assert_int_equal(st_objstore_get(bucket, "d", 10, &b, &n), ST_ENOTFOUND);
    st_obj_attrs_t a;
    assert_int_equal(st_objstore_attributes(bucket, "d", &a), ST_ENOTFOUND);
    assert_int_equal(st_objstore_delete(bucket, "d"), ST_ENOTFOUND);
    assert_true(st_path_exists(at("d/f")));
    /* an object below a file cannot exist */
    assert_int_equal(st_objstore_get(bucket, "d/f/g", 10, &b, &n), ST_ENOTFOUND);
    assert_int_equal(st_objstore_attributes(bucket, "d/f", &a), 0);
    assert_int_equal(a.size, 1);
    assert_true(a.last_modified_ms > 0);
    assert_int_equal(st_objstore_delete(bucket, "d/f"), 0);
}

static void test_escape_and_sources(void **state) {
    (void)state;
    int rc = st_objstore_upload(bucket, "../outside", "x", 1);
    assert_int_equal(rc, ST_EINVAL);
    assert_non_null(strstr(st_errdetail(rc), "\"..\""));
    rc = st_objstore_upload_file(bucket, "f", "/nonexistent/source");
    assert_int_equal(rc, ST_ENOTFOUND);
    assert_non_null(strstr(st_errdetail(rc), "/nonexistent/source"));
    /* download over an existing file replaces it */
    assert_int_equal(st_objstore_upload(bucket, "dl", "new", 3), 0);
    const char *dst = at("../dl.out");
    assert_int_equal(st_file_write_atomic(dst, "old contents", 12), 0);
    assert_int_equal(st_objstore_download_file(bucket, "dl", dst), 0);
    uint8_t *b;
    size_t n;
    assert_int_equal(st_file_read_all(dst, 100, &b, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(b, "new", 3);
    free(b);
    assert_int_equal(st_objstore_delete(bucket, "dl"), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_and_prune),
        cmocka_unit_test(test_directories_are_not_objects),
        cmocka_unit_test(test_escape_and_sources),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
