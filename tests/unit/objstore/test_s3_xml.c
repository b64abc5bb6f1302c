/* S3 XML responses: ListObjectsV2 pages, multipart upload ids, errors;
 * and every malformed shape rejected with ST_ECORRUPT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../../shared/src/objstore/objstore_int.h"
#include "strata/err.h"

/* What AWS sends for a delimiter listing (abridged), keys out of order
 * between Contents and CommonPrefixes as in real responses. */
static const char page1[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
    "  <Name>bucket</Name><Prefix>d/</Prefix><KeyCount>4</KeyCount><MaxKeys>4</MaxKeys>\n"
    "  <Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>\n"
    "  <Contents><Key>d/a&amp;b</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>\n"
    "    <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>\n"
    "    <StorageClass>STANDARD</StorageClass></Contents>\n"
    "  <Contents><Key>d/z</Key><Size>0</Size></Contents>\n"
    "  <CommonPrefixes><Prefix>d/b/</Prefix></CommonPrefixes>\n"
    "  <CommonPrefixes><Prefix>d/c-x/</Prefix></CommonPrefixes>\n"
    "  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>\n"
    "</ListBucketResult>\n";

static void test_list_page(void **state) {
    (void)state;
    st_s3_list_t l;
    assert_int_equal(st_s3_parse_list(&l, page1, sizeof page1 - 1), 0);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.v[0].name, "d/a&b");
    assert_int_equal(l.v[0].size, 434234);
    assert_false(l.v[0].is_prefix);
    assert_string_equal(l.v[1].name, "d/b/");
    assert_true(l.v[1].is_prefix);
    assert_string_equal(l.v[2].name, "d/c-x/");
    assert_string_equal(l.v[3].name, "d/z");
    assert_int_equal(l.v[3].size, 0);
    assert_true(l.truncated);
    assert_string_equal(l.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    st_s3_list_free(&l);
    st_s3_list_free(NULL);
}

static void test_list_last_and_empty(void **state) {
    (void)state;
    st_s3_list_t l;
    const char *x = "<ListBucketResult><IsTruncated>false</IsTruncated>"
                    "<Contents><Key>k</Key><Size>18446744073709551615</Size></Contents></ListBucketResult>";
    assert_int_equal(st_s3_parse_list(&l, x, strlen(x)), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].size, UINT64_MAX);
    assert_false(l.truncated);
    assert_null(l.next_token);
    st_s3_list_free(&l);
    x = "<ListBucketResult/>";
    assert_int_equal(st_s3_parse_list(&l, x, strlen(x)), 0);
    assert_int_equal(l.n, 0);
    st_s3_list_free(&l);
}

static void expect_corrupt(const char *x, const char *needle) {
    st_s3_list_t l;
    int rc = st_s3_parse_list(&l, x, strlen(x));
    if (rc != ST_ECORRUPT || !strstr(st_errdetail(rc), needle))
        fprintf(stderr, "xml %s: rc %d %s (want %s)\n", x, rc, st_errdetail(rc), needle);
    assert_int_equal(rc, ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(rc), needle));
    assert_null(l.v);
    assert_int_equal(l.n, 0);
}

static void test_list_bad(void **state) {
    (void)state;
    expect_corrupt("<Error><Code>AccessDenied</Code></Error>", "root element <Error>");
    expect_corrupt("<ListBucketResult><Contents><Key>k</Key>", "bad XML");
    expect_corrupt("<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>", "without <Key> or <Size>");
    expect_corrupt("<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>", "without <Key>");
    expect_corrupt("<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>", "bad <Size>");
    expect_corrupt("<ListBucketResult><Contents><Key>k</Key><Size>18446744073709551616</Size></Contents></ListBucketResult>",
                   "bad <Size>");
    expect_corrupt("<ListBucketResult><Contents><Key>a</Key><Key>b</Key><Size>1</Size></Contents></ListBucketResult>",
                   "repeated <Key>");
    expect_corrupt("<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>", "bad <IsTruncated>");
    expect_corrupt("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", "without a NextContinuationToken");
    expect_corrupt("<ListBucketResult><CommonPrefixes></CommonPrefixes></ListBucketResult>", "without <Prefix>");
    expect_corrupt("<!DOCTYPE l [<!ENTITY a \"aaaa\">]><ListBucketResult/>", "DOCTYPE");
    expect_corrupt("", "bad XML");
    /* a text field past the cap */
    size_t n = 5000;
    char *big = malloc(n + 100);
    strcpy(big, "<ListBucketResult><Contents><Key>");
    size_t o = strlen(big);
    memset(big + o, 'k', n);
    strcpy(big + o + n, "</Key></Contents></ListBucketResult>");
    expect_corrupt(big, "longer than");
    free(big);
}

static void test_upload_id(void **state) {
    (void)state;
    const char *x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                    "<Bucket>example-bucket</Bucket><Key>example-object</Key>"
                    "<UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>"
                    "</InitiateMultipartUploadResult>";
    char *id = NULL;
    assert_int_equal(st_s3_parse_upload_id(&id, x, strlen(x)), 0);
    assert_string_equal(id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
    free(id);
    x = "<InitiateMultipartUploadResult><Bucket>b</Bucket></InitiateMultipartUploadResult>";
    int rc = st_s3_parse_upload_id(&id, x, strlen(x));
    assert_int_equal(rc, ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(rc), "no <UploadId>"));
    assert_null(id);
}

static void test_error_doc(void **state) {
    (void)state;
    const char *x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
                    "<Message>The resource you requested does not exist</Message>"
                    "<Resource>/mybucket/myfoto.jpg</Resource><RequestId>4442587FB7D0A2F9</RequestId></Error>";
    char code[16], msg[20];
    assert_int_equal(st_s3_parse_error(x, strlen(x), code, sizeof code, msg, sizeof msg), 0);
    assert_string_equal(code, "NoSuchKey");
    assert_string_equal(msg, "The resource you re"); /* truncated to the buffer */
    assert_int_equal(st_s3_parse_error("<ListBucketResult/>", 19, code, sizeof code, msg, sizeof msg), ST_ECORRUPT);
    assert_string_equal(code, "");
    assert_int_equal(st_s3_parse_error("not xml", 7, code, sizeof code, msg, sizeof msg), ST_ECORRUPT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_page), cmocka_unit_test(test_list_last_and_empty),
        cmocka_unit_test(test_list_bad),  cmocka_unit_test(test_upload_id),
        cmocka_unit_test(test_error_doc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
