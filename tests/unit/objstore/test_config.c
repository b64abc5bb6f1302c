/* objstore.yml parsing: Thanos's format, defaults, environment credentials,
 * and errors that name the line without echoing secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../../shared/src/objstore/objstore_int.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/objstore.h"

static int parse(st_objstore_config_t *c, const char *y) { return st_objstore_config_parse(c, y, strlen(y)); }

static void test_filesystem(void **state) {
    (void)state;
    st_objstore_config_t c;
    assert_int_equal(parse(&c, "type: FILESYSTEM\nconfig:\n  directory: /var/bucket\n"), 0);
    assert_int_equal(c.type, ST_OBJ_FILESYSTEM);
    assert_string_equal(c.directory, "/var/bucket");
    st_objstore_config_free(&c);
    /* case-insensitive type, Thanos's empty prefix accepted */
    assert_int_equal(parse(&c, "type: filesystem\nconfig: {directory: \"d\"}\nprefix: \"\"\n"), 0);
    assert_string_equal(c.directory, "d");
    st_objstore_config_free(&c);
    st_objstore_t *s = NULL;
    const char *y = "type: FILESYSTEM\nconfig:\n  directory: /tmp/b///\n";
    assert_int_equal(st_objstore_open(&s, y, strlen(y)), 0);
    assert_string_equal(st_objstore_describe(s), "FILESYSTEM:/tmp/b");
    st_objstore_close(s);
    st_objstore_close(NULL);
}

static void test_s3_full(void **state) {
    (void)state;
    st_objstore_config_t c;
    const char *y = "type: S3\n"
                    "config:\n"
                    "  bucket: metrics\n"
                    "  endpoint: 127.0.0.1:9000\n"
                    "  access_key: AK\n"
                    "  secret_key: SK\n"
                    "  insecure: yes\n"
                    "  region: eu-west-1\n"
                    "  signature_version2: false\n"
                    "  part_size: 10485760\n"
                    "  max_retries: 3\n"
                    "  bucket_lookup_type: path\n"
                    "  list_objects_version: v2\n"
                    "  trace: {enable: true}\n"
                    "  sse_config: {}\n"
                    "  http_config:\n"
                    "    idle_conn_timeout: 90s\n"
                    "    insecure_skip_verify: true\n";
    assert_int_equal(parse(&c, y), 0);
    assert_int_equal(c.type, ST_OBJ_S3);
    assert_string_equal(c.bucket, "metrics");
    assert_string_equal(c.endpoint, "127.0.0.1:9000");
    assert_string_equal(c.access_key, "AK");
    assert_string_equal(c.secret_key, "SK");
    assert_true(c.insecure);
    assert_true(c.insecure_skip_verify);
    assert_false(c.signature_version2);
    assert_string_equal(c.region, "eu-west-1");
    assert_int_equal(c.part_size, 10485760);
    assert_int_equal(c.max_retries, 3);
    st_objstore_config_free(&c);
    st_objstore_t *s = NULL;
    assert_int_equal(st_objstore_open(&s, y, strlen(y)), 0);
    assert_string_equal(st_objstore_describe(s), "S3:metrics@127.0.0.1:9000");
    st_objstore_close(s);
}

static void test_s3_defaults_and_env(void **state) {
    (void)state;
    st_objstore_config_t c;
    setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET", 1);
    assert_int_equal(parse(&c, "type: S3\nconfig:\n  bucket: b\n  endpoint: s3.example.com\n"), 0);
    assert_string_equal(c.access_key, "ENVKEY");
    assert_string_equal(c.secret_key, "ENVSECRET");
    assert_string_equal(c.region, "us-east-1");
    assert_false(c.insecure);
    assert_int_equal(c.part_size, ST_OBJ_DEFAULT_PART_SIZE);
    assert_int_equal(c.max_retries, ST_OBJ_DEFAULT_MAX_RETRIES);
    st_objstore_config_free(&c);
    /* keys in the file win over the environment */
    assert_int_equal(parse(&c, "type: S3\nconfig: {bucket: b, endpoint: h, access_key: A, secret_key: S}\n"), 0);
    assert_string_equal(c.access_key, "A");
    st_objstore_config_free(&c);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    /* no credentials anywhere: anonymous */
    assert_int_equal(parse(&c, "type: S3\nconfig: {bucket: b, endpoint: h}\n"), 0);
    assert_null(c.access_key);
    assert_null(c.secret_key);
    st_objstore_config_free(&c);
}

static void expect_err(const char *yaml, const char *needle) {
    st_objstore_config_t c;
    int rc = parse(&c, yaml);
    if (rc != ST_EINVAL || !strstr(st_errdetail(rc), needle))
        fprintf(stderr, "yaml:\n%s\nrc %d detail: %s (want \"%s\")\n", yaml, rc, st_errdetail(rc), needle);
    assert_int_equal(rc, ST_EINVAL);
    assert_non_null(strstr(st_errdetail(rc), needle));
    assert_null(strstr(st_errdetail(rc), "TOPSECRET"));
}

static void test_errors(void **state) {
    (void)state;
    expect_err("", "empty document");
    expect_err("- a\n- b\n", "line 1: expected a mapping");
    expect_err("type: GCS\nconfig: {bucket: b}\n", "line 1: type: unsupported bucket type \"GCS\"");
    expect_err("config:\n  directory: /x\n", "type: expected FILESYSTEM or S3");
    expect_err("type: FILESYSTEM\n", "config: expected a mapping");
    expect_err("type: FILESYSTEM\nconfig:\n  directory: /x\n  dir: /y\n", "line 4: config: unknown FILESYSTEM key \"dir\"");
    expect_err("type: FILESYSTEM\nconfig: {}\n", "FILESYSTEM: no directory");
    expect_err("type: FILESYSTEM\nconfig:\n  directory: [a]\n", "line 3: directory: expected a string");
    expect_err("type: FILESYSTEM\nconfig: {directory: x}\nextra: 1\n", "line 3: unknown key \"extra\"");
    expect_err("type: FILESYSTEM\nconfig: {directory: x}\nprefix: tenant1\n", "prefix: bucket prefixes are not supported");
    expect_err("type: S3\nconfig:\n  bucket: b\n  endpoint: http://h:9000\n", "without scheme");
    expect_err("type: S3\nconfig:\n  endpoint: h\n", "S3: no bucket");
    expect_err("type: S3\nconfig:\n  bucket: b\n", "S3: no endpoint");
    expect_err("type: S3\nconfig:\n  bucket: b/c\n  endpoint: h\n", "invalid bucket name");
    expect_err("type: S3\nconfig:\n  bucket: b\n  endpoint: h\n  insecure: maybe\n", "line 5: insecure: expected true or false");
    expect_err("type: S3\nconfig:\n  bucket: b\n  endpoint: h\n  part_size: 1000\n", "part_size 1000 outside");
    expect_err("type: S3\nconfig:\n  bucket: b\n  endpoint: h\n  part_size: -5\n", "part_size: expected a non-negative");
    expect_err("type: S3\nconfig:\n  bucket: b\n  endpoint: h\n  max_retries: 99\n", "max_retries: 99 is more than 20");
    expect_err("type: S3\nconfig:\n  bucket: b\n  endpoint: h\n  secret_key: TOPSECRET\n", "given together");
    expect_err("type: S3\nconfig:\n  bucket: b\n  endpoint: h\n  session_token: TOPSECRET\n", "session_token: not supported");
    expect_err("type: S3\nconfig:\n  bucket: b\n  endpoint: h\n  bucket_lookup_type: virtual-hosted\n", "bucket_lookup_type");
    expect_err("type: S3\nconfig:\n  bucket: b\n  endpoint: h\n  secret_key: [TOPSECRET]\n", "line 5: secret_key: expected a string");
    expect_err("type: S3\nconfig:\n  bucket: b\n  endpoint: h\n  http_config: {tls_config: {}}\n", "http_config: unknown key \"tls_config\"");
    expect_err("type: S3\nconfig:\n  bucket: b\n  endpoint: h\n  acess_key: x\n", "line 5: config: unknown S3 key \"acess_key\"");
    expect_err("type: S3\nconfig:\n  bucket: b\n  endpoint: h\n  region: \"us east\"\n", "invalid region");
    expect_err("type: S3\nconfig: {bucket: b, endpoint: h\n", "line 3: did not find expected ',' or '}'");
    expect_err("type: FILESYSTEM\nconfig:\n  directory: \"a\\0b\"\n", "contains a NUL byte");
}

static void test_open_file(void **state) {
    (void)state;
    st_objstore_t *s = NULL;
    int rc = st_objstore_open_file(&s, "/nonexistent/objstore.yml");
    assert_int_equal(rc, ST_EINVAL);
    assert_non_null(strstr(st_errdetail(rc), "/nonexistent/objstore.yml"));
    const char *base = getenv("ST_TEST_TMP");
    char path[4096];
    snprintf(path, sizeof path, "%s/objstore_config_test.yml", base && *base ? base : "/tmp");
    assert_int_equal(st_mkdir_p(base && *base ? base : "/tmp", 0755), 0);
    const char *bad = "type: S3\nconfig:\n  bucket: b\n  endpoint: h\n  nope: 1\n";
    assert_int_equal(st_file_write_atomic(path, bad, strlen(bad)), 0);
    rc = st_objstore_open_file(&s, path);
    assert_int_equal(rc, ST_EINVAL);
    assert_non_null(strstr(st_errdetail(rc), path));
    assert_non_null(strstr(st_errdetail(rc), "line 5"));
    assert_null(s);
    const char *good = "type: FILESYSTEM\nconfig:\n  directory: x\n";
    assert_int_equal(st_file_write_atomic(path, good, strlen(good)), 0);
    assert_int_equal(st_objstore_open_file(&s, path), 0);
    assert_string_equal(st_objstore_describe(s), "FILESYSTEM:x");
    st_objstore_close(s);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filesystem),       cmocka_unit_test(test_s3_full),
        cmocka_unit_test(test_s3_defaults_and_env), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_open_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
