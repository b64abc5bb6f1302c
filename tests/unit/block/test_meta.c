/* meta.json: byte-exact MarshalIndent output, strict field checks, thanos. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/meta.h"

/* §1.3 of the format reference: promtool 2.42 create-blocks-from openmetrics
 * output, which has no trailing newline (checked with xxd). */
static const char ref_meta[] =
    "{\n"
    "\t\"ulid\": \"01M87PBESKN6R2S7YSEM7VJ8M7\",\n"
    "\t\"minTime\": 1000,\n"
    "\t\"maxTime\": 3001,\n"
    "\t\"stats\": {\n"
    "\t\t\"numSamples\": 3,\n"
    "\t\t\"numSeries\": 1,\n"
    "\t\t\"numChunks\": 1\n"
    "\t},\n"
    "\t\"compaction\": {\n"
    "\t\t\"level\": 1,\n"
    "\t\t\"sources\": [\n"
    "\t\t\t\"01M87PBESKN6R2S7YSEM7VJ8M7\"\n"
    "\t\t]\n"
    "\t},\n"
    "\t\"version\": 1\n"
    "}";

/* A compacted Thanos block: every optional compaction field, in Go's struct
 * order (level, sources, deletable, parents, failed, hints), "thanos" after
 * "version" as Thanos (which embeds BlockMeta) writes it. */
static const char full_meta[] =
    "{\n"
    "\t\"ulid\": \"01M87PBESKN6R2S7YSEM7VJ8M7\",\n"
    "\t\"minTime\": -5,\n"
    "\t\"maxTime\": 7200000,\n"
    "\t\"stats\": {\n"
    "\t\t\"numSamples\": 18446744073709551,\n"
    "\t\t\"numChunks\": 4,\n"
    "\t\t\"numTombstones\": 2\n"
    "\t},\n"
    "\t\"compaction\": {\n"
    "\t\t\"level\": 3,\n"
    "\t\t\"sources\": [\n"
    "\t\t\t\"00000000010000000000000000\",\n"
    "\t\t\t\"00000000020000000000000000\"\n"
    "\t\t],\n"
    "\t\t\"deletable\": true,\n"
    "\t\t\"parents\": [\n"
    "\t\t\t{\n"
    "\t\t\t\t\"ulid\": \"00000000030000000000000000\",\n"
    "\t\t\t\t\"minTime\": 0,\n"
    "\t\t\t\t\"maxTime\": 3600000\n"
    "\t\t\t},\n"
    "\t\t\t{\n"
    "\t\t\t\t\"ulid\": \"00000000040000000000000000\",\n"
    "\t\t\t\t\"minTime\": 3600000,\n"
    "\t\t\t\t\"maxTime\": 7200000\n"
    "\t\t\t}\n"
    "\t\t],\n"
    "\t\t\"failed\": true,\n"
    "\t\t\"hints\": [\n"
    "\t\t\t\"from-out-of-order\"\n"
    "\t\t]\n"
    "\t},\n"
    "\t\"version\": 1,\n"
    "\t\"thanos\": {\n"
    "\t\t\"labels\": {\n"
    "\t\t\t\"cluster\": \"eu\\u003c1\\u003e \\u0026 \\\"q\\\" \\\\ \\n\\t\\u0001\\u2028\"\n"
    "\t\t},\n"
    "\t\t\"downsample\": {\n"
    "\t\t\t\"resolution\": 300000\n"
    "\t\t},\n"
    "\t\t\"source\": \"compactor\",\n"
    "\t\t\"files\": [\n"
    "\t\t\t{\n"
    "\t\t\t\t\"rel_path\": \"index\",\n"
    "\t\t\t\t\"size_bytes\": 1313\n"
    "\t\t\t},\n"
    "\t\t\t{\n"
    "\t\t\t\t\"rel_path\": \"meta.json\"\n"
    "\t\t\t}\n"
    "\t\t],\n"
    "\t\t\"empty_obj\": {},\n"
    "\t\t\"empty_arr\": [],\n"
    "\t\t\"flags\": [\n"
    "\t\t\ttrue,\n"
    "\t\t\tfalse,\n"
    "\t\t\tnull\n"
    "\t\t]\n"
    "\t}\n"
    "}";

static void assert_encodes_to(const st_meta_t *m, const char *want) {
    char *out;
    size_t len;
    assert_int_equal(st_meta_encode(m, &out, &len), 0);
    assert_string_equal(out, want);
    assert_int_equal(len, strlen(want));
    free(out);
}

static void test_reference_round_trip(void **state) {
    (void)state;
    st_meta_t m;
    assert_int_equal(st_meta_parse(&m, ref_meta, strlen(ref_meta), "ref"), 0);
    char id[ST_ULID_TEXT_LEN + 1];
    st_ulid_format(&m.ulid, id);
    assert_string_equal(id, "01M87PBESKN6R2S7YSEM7VJ8M7");
    assert_int_equal(m.min_time, 1000);
    assert_int_equal(m.max_time, 3001);
    assert_int_equal(m.num_samples, 3);
    assert_int_equal(m.num_series, 1);
    assert_int_equal(m.num_chunks, 1);
    assert_int_equal(m.num_tombstones, 0);
    assert_int_equal(m.level, 1);
    assert_int_equal(m.nsources, 1);
    assert_int_equal(st_ulid_cmp(&m.sources[0], &m.ulid), 0);
    assert_int_equal(m.nparents, 0);
    assert_int_equal(m.nhints, 0);
    assert_false(m.deletable);
    assert_false(m.failed);
    assert_null(m.thanos_json);
    assert_encodes_to(&m, ref_meta);
    st_meta_free(&m);
    assert_null(m.sources);
    st_meta_free(&m); /* after free: zeroed, freeing again is harmless */
    st_meta_free(NULL);
}

static void test_full_round_trip(void **state) {
    (void)state;
    st_meta_t m;
    assert_int_equal(st_meta_parse(&m, full_meta, strlen(full_meta), "full"), 0);
    assert_int_equal(m.min_time, -5);
    assert_int_equal(m.num_samples, UINT64_C(18446744073709551));
    assert_int_equal(m.num_series, 0);
    assert_int_equal(m.level, 3);
    assert_int_equal(m.nsources, 2);
    assert_int_equal(m.nparents, 2);
    assert_int_equal(m.parents[1].min_time, 3600000);
    assert_int_equal(m.parents[1].max_time, 7200000);
    assert_int_equal(st_ulid_time(&m.parents[1].ulid), 4);
    assert_true(m.deletable);
    assert_true(m.failed);
    assert_int_equal(m.nhints, 1);
    assert_string_equal(m.hints[0], "from-out-of-order");
    assert_non_null(m.thanos_json);
    assert_non_null(strstr(m.thanos_json, "\"resolution\":300000"));
    assert_encodes_to(&m, full_meta);
    st_meta_free(&m);
}

static void test_encode_empty_stats(void **state) {
    (void)state;
    st_meta_t m;
    memset(&m, 0, sizeof m);
    m.level = 1;
    m.min_time = 0;
    m.max_time = 1;
    assert_encodes_to(&m, "{\n"
                          "\t\"ulid\": \"00000000000000000000000000\",\n"
                          "\t\"minTime\": 0,\n"
                          "\t\"maxTime\": 1,\n"
                          "\t\"stats\": {},\n"
                          "\t\"compaction\": {\n"
                          "\t\t\"level\": 1\n"
                          "\t},\n"
                          "\t\"version\": 1\n"
                          "}");
    m.level = 0;
    char *out;
    size_t len;
    assert_int_equal(st_meta_encode(&m, &out, &len), ST_EINVAL);
}

/* Unknown keys, other key orders, nulls for optional fields and compact
 * spacing are all accepted; encoding normalises them. */
static void test_lenient_input(void **state) {
    (void)state;
    static const char in[] =
        "{\"version\":1,\"extra\":[1,{\"x\":2}],\"compaction\":{\"sources\":null,\"level\":1,"
        "\"new\":true,\"sources\":[\"01m87pbeskn6r2s7ysem7vj8m7\"]},\"stats\":{\"numSamples\":3,"
        "\"numSeries\":1,\"numChunks\":1,\"numFloatSamples\":3},\"maxTime\":3001,"
        "\"minTime\":1000,\"ulid\":\"01M87PBESKN6R2S7YSEM7VJ8M7\",\"thanos\":null}";
    st_meta_t m;
    assert_int_equal(st_meta_parse(&m, in, strlen(in), "lenient"), 0);
    assert_null(m.thanos_json);
    assert_encodes_to(&m, ref_meta);
    st_meta_free(&m);

    static const char nostats[] =
        "{\"ulid\":\"01M87PBESKN6R2S7YSEM7VJ8M7\",\"minTime\":1,\"maxTime\":2,"
        "\"stats\":null,\"compaction\":{\"level\":2},\"version\":1}";
    assert_int_equal(st_meta_parse(&m, nostats, strlen(nostats), "nostats"), 0);
    assert_int_equal(m.num_samples, 0);
    assert_int_equal(m.level, 2);
    st_meta_free(&m);
}

/* The thanos section survives parse -> encode, re-indented like Go does,
 * with Go's shortest float formatting. */
static void test_thanos_reindented(void **state) {
    (void)state;
    static const char in[] =
        "{\"ulid\":\"01M87PBESKN6R2S7YSEM7VJ8M7\",\"minTime\":1,\"maxTime\":2,"
        "\"compaction\":{\"level\":1},\"version\":1,"
        "\"thanos\":{\"z\":1,\"a\":{\"nested\":[[],[{}]]},"
        "\"reals\":[1.5,1e21,1e-7,0.000001,100.0,1.2345678901234568e20,-0.0,0.1,-2.5e-10,1e18]}}";
    static const char want[] = "{\n"
                               "\t\"ulid\": \"01M87PBESKN6R2S7YSEM7VJ8M7\",\n"
                               "\t\"minTime\": 1,\n"
                               "\t\"maxTime\": 2,\n"
                               "\t\"stats\": {},\n"
                               "\t\"compaction\": {\n"
                               "\t\t\"level\": 1\n"
                               "\t},\n"
                               "\t\"version\": 1,\n"
                               "\t\"thanos\": {\n"
                               "\t\t\"z\": 1,\n"
                               "\t\t\"a\": {\n"
                               "\t\t\t\"nested\": [\n"
                               "\t\t\t\t[],\n"
                               "\t\t\t\t[\n"
                               "\t\t\t\t\t{}\n"
                               "\t\t\t\t]\n"
                               "\t\t\t]\n"
                               "\t\t},\n"
                               "\t\t\"reals\": [\n"
                               "\t\t\t1.5,\n"
                               "\t\t\t1e+21,\n"
                               "\t\t\t1e-7,\n"
                               "\t\t\t0.000001,\n"
                               "\t\t\t100,\n"
                               "\t\t\t1.2345678901234568e+20,\n" /* Go: plain; see put_real */
                               "\t\t\t0,\n" /* Go: "-0"; see put_real */
                               "\t\t\t0.1,\n"
                               "\t\t\t-2.5e-10,\n"
                               "\t\t\t1000000000000000000\n"
                               "\t\t]\n"
                               "\t}\n"
                               "}";
    st_meta_t m;
    assert_int_equal(st_meta_parse(&m, in, strlen(in), "thanos"), 0);
    assert_encodes_to(&m, want);
    st_meta_free(&m);
}

static void expect_corrupt(const char *json, const char *field) {
    st_meta_t m;
    memset(&m, 0xAB, sizeof m);
    int rc = st_meta_parse(&m, json, strlen(json), "/blocks/X/meta.json");
    assert_int_equal(rc, ST_ECORRUPT);
    const char *d = st_errdetail(rc);
    if (!strstr(d, field) || !strstr(d, "/blocks/X/meta.json"))
        fail_msg("detail \"%s\" does not name \"%s\" and the file", d, field);
    assert_null(m.sources); /* out is left freed and zeroed */
    assert_null(m.thanos_json);
}

#define OKHEAD "{\"ulid\":\"01M87PBESKN6R2S7YSEM7VJ8M7\",\"minTime\":1,\"maxTime\":2,"

static void test_errors(void **state) {
    (void)state;
    expect_corrupt("{\"ulid\": ", "bad JSON");
    expect_corrupt("", "bad JSON");
    expect_corrupt("[1]", "not an object");
    expect_corrupt("{\"minTime\":1,\"maxTime\":2,\"compaction\":{\"level\":1},\"version\":1}", "\"ulid\"");
    expect_corrupt("{\"ulid\":5,\"minTime\":1,\"maxTime\":2,\"compaction\":{\"level\":1},\"version\":1}",
                   "\"ulid\"");
    expect_corrupt("{\"ulid\":\"8ZZZZZZZZZZZZZZZZZZZZZZZZZ\",\"minTime\":1,\"maxTime\":2,"
                   "\"compaction\":{\"level\":1},\"version\":1}",
                   "\"ulid\"");
    expect_corrupt(OKHEAD "\"compaction\":{\"level\":1},\"version\":2}", "version 2");
    expect_corrupt(OKHEAD "\"compaction\":{\"level\":1}}", "\"version\"");
    expect_corrupt(OKHEAD "\"compaction\":{\"level\":1},\"version\":1.0}", "\"version\"");
    expect_corrupt("{\"ulid\":\"01M87PBESKN6R2S7YSEM7VJ8M7\",\"minTime\":\"1000\",\"maxTime\":2,"
                   "\"compaction\":{\"level\":1},\"version\":1}",
                   "\"minTime\"");
    expect_corrupt("{\"ulid\":\"01M87PBESKN6R2S7YSEM7VJ8M7\",\"minTime\":1,"
                   "\"compaction\":{\"level\":1},\"version\":1}",
                   "\"maxTime\"");
    expect_corrupt(OKHEAD "\"compaction\":{\"level\":0},\"version\":1}", "\"compaction.level\"");
    expect_corrupt(OKHEAD "\"compaction\":{\"level\":4294967296},\"version\":1}",
                   "\"compaction.level\"");
    expect_corrupt(OKHEAD "\"version\":1}", "\"compaction\"");
    expect_corrupt(OKHEAD "\"compaction\":[],\"version\":1}", "\"compaction\"");
    expect_corrupt(OKHEAD "\"stats\":{\"numSeries\":-1},\"compaction\":{\"level\":1},\"version\":1}",
                   "\"stats.numSeries\"");
    expect_corrupt(OKHEAD "\"stats\":{\"numChunks\":\"1\"},\"compaction\":{\"level\":1},\"version\":1}",
                   "\"stats.numChunks\"");
    expect_corrupt(OKHEAD "\"stats\":3,\"compaction\":{\"level\":1},\"version\":1}", "\"stats\"");
    expect_corrupt(OKHEAD "\"compaction\":{\"level\":1,\"sources\":[\"01M87PBESKN6R2S7YSEM7VJ8M7\","
                          "\"bogus\"]},\"version\":1}",
                   "\"compaction.sources\"");
    expect_corrupt(OKHEAD "\"compaction\":{\"level\":1,\"sources\":\"x\"},\"version\":1}",
                   "\"compaction.sources\"");
    expect_corrupt(OKHEAD "\"compaction\":{\"level\":1,\"parents\":[{\"ulid\":"
                          "\"01M87PBESKN6R2S7YSEM7VJ8M7\",\"minTime\":1}]},\"version\":1}",
                   "\"compaction.parents.maxTime\"");
    expect_corrupt(OKHEAD "\"compaction\":{\"level\":1,\"parents\":[7]},\"version\":1}",
                   "\"compaction.parents\"");
    expect_corrupt(OKHEAD "\"compaction\":{\"level\":1,\"deletable\":1},\"version\":1}",
                   "\"compaction.deletable\"");
    expect_corrupt(OKHEAD "\"compaction\":{\"level\":1,\"failed\":\"yes\"},\"version\":1}",
                   "\"compaction.failed\"");
    expect_corrupt(OKHEAD "\"compaction\":{\"level\":1,\"hints\":[\"a\",2]},\"version\":1}",
                   "\"compaction.hints\"");
    /* a late failure must release what was already allocated */
    expect_corrupt(OKHEAD "\"compaction\":{\"level\":1,\"sources\":[\"01M87PBESKN6R2S7YSEM7VJ8M7\"],"
                          "\"hints\":[\"a\"]},\"version\":1,\"thanos\":[]}",
                   "\"thanos\"");
}

static void test_write_read_dir(void **state) {
    (void)state;
    const char *base = getenv("ST_TEST_TMP");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/meta.XXXXXX", base && *base ? base : "/tmp");
    assert_int_equal(st_mkdir_p(base && *base ? base : "/tmp", 0755), 0);
    assert_non_null(mkdtemp(dir));

    st_meta_t m, back;
    assert_int_equal(st_meta_parse(&m, full_meta, strlen(full_meta), "full"), 0);
    assert_int_equal(st_meta_write(&m, dir), 0);
    char *path = st_path_join(dir, ST_META_FILENAME);
    uint8_t *buf;
    size_t len;
    assert_int_equal(st_file_read_all(path, 1 << 20, &buf, &len), 0);
    assert_int_equal(len, strlen(full_meta));
    assert_memory_equal(buf, full_meta, len);
    free(buf);
    assert_int_equal(st_meta_read(&back, dir), 0);
    assert_int_equal(st_ulid_cmp(&back.ulid, &m.ulid), 0);
    assert_string_equal(back.thanos_json, m.thanos_json);
    st_meta_free(&back);
    st_meta_free(&m);

    /* a corrupt file names its path */
    assert_int_equal(st_file_write_atomic(path, "{", 1), 0);
    int rc = st_meta_read(&back, dir);
    assert_int_equal(rc, ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(rc), path));

    assert_int_equal(st_rm_rf(dir), 0);
    rc = st_meta_read(&back, dir);
    assert_int_equal(rc, ST_ENOTFOUND);
    assert_non_null(strstr(st_errdetail(rc), path));
    free(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_round_trip),
        cmocka_unit_test(test_full_round_trip),
        cmocka_unit_test(test_encode_empty_stats),
        cmocka_unit_test(test_lenient_input),
        cmocka_unit_test(test_thanos_reindented),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_write_read_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
