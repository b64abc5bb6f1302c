/* Chunk segment files: the byte-exact §3.5 segment of the format reference,
 * refs across rollovers, and every kind of damage a reader must report. */
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

#include "strata/chunks.h"
#include "strata/err.h"
#include "strata/fileutil.h"

static const uint8_t ex_chunk[] = {0x00, 0x03, 0xd0, 0x0f, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00,
                                   0x00, 0x00, 0xe8, 0x07, 0xc2, 0x5f, 0xff, 0x6c, 0x06};
static const uint8_t ex_segment[] = {
    0x85, 0xbd, 0x40, 0xdd, 0x01, 0x00, 0x00, 0x00, /* header */
    0x13, 0x01,                                     /* len 19, XOR */
    0x00, 0x03, 0xd0, 0x0f, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0xe8, 0x07, 0xc2, 0x5f, 0xff, 0x6c, 0x06,
    0x7a, 0x75, 0xe4, 0xe8, /* CRC32C(01 || data) */
};

static char *mktemp_dir(void) {
    const char *base = getenv("ST_TEST_TMP");
    if (!base || !*base) base = "/tmp";
    assert_int_equal(st_mkdir_p(base, 0777), 0);
    char *tmpl = st_path_join(base, "segment-XXXXXX");
    assert_non_null(tmpl);
    assert_non_null(mkdtemp(tmpl));
    return tmpl;
}

static char *sub(const char *dir, const char *name) {
    char *p = st_path_join(dir, name);
    assert_non_null(p);
    return p;
}

static void write_file(const char *dir, const char *name, const void *p, size_t n) {
    char *path = sub(dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
    free(path);
}

static uint8_t *read_file(const char *dir, const char *name, size_t *n) {
    char *path = sub(dir, name);
    uint8_t *p;
    assert_int_equal(st_file_read_all(path, 1 << 26, &p, n), 0);
    free(path);
    return p;
}

static void cleanup(char *dir) {
    assert_int_equal(st_rm_rf(dir), 0);
    free(dir);
}

static void expect_corrupt(int rc, const char *want1, const char *want2) {
    assert_int_equal(rc, ST_ECORRUPT);
    const char *d = st_errdetail(rc);
    if (!strstr(d, want1) || (want2 && !strstr(d, want2))) fail_msg("detail \"%s\" lacks \"%s\"/\"%s\"", d, want1, want2 ? want2 : "");
}

static void test_example_segment(void **state) {
    (void)state;
    char *dir = mktemp_dir();
    char *cdir = sub(dir, "chunks");
    st_chunk_writer_t *w;
    assert_int_equal(st_chunk_writer_open(&w, cdir, 0), 0);
    uint64_t ref;
    assert_int_equal(st_chunk_writer_write(w, 1, ex_chunk, sizeof ex_chunk, &ref), 0);
    assert_int_equal(ref, 8);
    assert_int_equal(st_chunk_writer_close(w), 0);
    assert_int_equal(st_chunk_writer_close(w), 0);
    uint64_t ref2;
    assert_int_equal(st_chunk_writer_write(w, 1, ex_chunk, sizeof ex_chunk, &ref2), ST_EINVAL);
    st_chunk_writer_free(w);

    size_t n;
    uint8_t *bytes = read_file(cdir, "000001", &n);
    assert_int_equal(n, sizeof ex_segment);
    assert_memory_equal(bytes, ex_segment, n);
    free(bytes);
    char *second = sub(cdir, "000002");
    assert_false(st_path_exists(second));
    free(second);

    st_chunk_reader_t *r;
    assert_int_equal(st_chunk_reader_open(&r, cdir), 0);
    assert_int_equal(st_chunk_reader_size(r), 33);
    uint8_t enc;
    const uint8_t *data;
    size_t len;
    assert_int_equal(st_chunk_reader_get(r, 8, &enc, &data, &len), 0);
    assert_int_equal(enc, 1);
    assert_int_equal(len, sizeof ex_chunk);
    assert_memory_equal(data, ex_chunk, len);
    st_chunk_reader_free(r);

    /* the same bytes in memory */
    const uint8_t *segs[1] = {ex_segment};
    size_t lens[1] = {sizeof ex_segment};
    assert_int_equal(st_chunk_reader_open_mem(&r, segs, lens, 1), 0);
    assert_int_equal(st_chunk_reader_get(r, 8, &enc, &data, &len), 0);
    assert_memory_equal(data, ex_chunk, sizeof ex_chunk);
    st_chunk_reader_free(r);
    st_chunk_reader_free(NULL);
    st_chunk_writer_free(NULL);
    free(cdir);
    cleanup(dir);
}

static void test_round_trip(void **state) {
    (void)state;
    char *dir = mktemp_dir();
    st_chunk_writer_t *w;
    assert_int_equal(st_chunk_writer_open(&w, dir, 0), 0);
    enum { N = 300 };
    static uint8_t *datas[N];
    static size_t lens[N];
    static uint64_t refs[N];
    uint64_t off = 8;
    for (int i = 0; i < N; i++) {
        /* lengths around the 1-byte/2-byte varint edge, empty, and one chunk
         * bigger than the writer's buffer */
        lens[i] = i == 7 ? (3u << 20) : i == 8 ? 0 : (size_t)(i * 37 % 300);
        datas[i] = malloc(lens[i] ? lens[i] : 1);
        for (size_t k = 0; k < lens[i]; k++) datas[i][k] = (uint8_t)(k * 7 + (size_t)i);
        assert_int_equal(st_chunk_writer_write(w, (uint8_t)(1 + i % 3), datas[i], lens[i], &refs[i]), 0);
        assert_int_equal(refs[i], off); /* one segment: ref is the offset */
        size_t vlen = 1;
        for (size_t v = lens[i]; v >= 128; v >>= 7) vlen++;
        off += vlen + 1 + lens[i] + 4;
    }
    assert_int_equal(st_chunk_writer_close(w), 0);
    st_chunk_writer_free(w);

    st_chunk_reader_t *r;
    assert_int_equal(st_chunk_reader_open(&r, dir), 0);
    assert_int_equal(st_chunk_reader_size(r), off);
    for (int i = 0; i < N; i++) {
        uint8_t enc;
        const uint8_t *data;
        size_t len;
        assert_int_equal(st_chunk_reader_get(r, refs[i], &enc, &data, &len), 0);
        assert_int_equal(enc, 1 + i % 3);
        assert_int_equal(len, lens[i]);
        if (len) assert_memory_equal(data, datas[i], len);
        free(datas[i]);
    }
    st_chunk_reader_free(r);

    /* a second writer must not mix into existing segments */
    assert_int_equal(st_chunk_writer_open(&w, dir, 0), ST_EEXIST);
    assert_null(w);
    assert_int_equal(st_chunk_writer_open(&w, dir, ((uint64_t)1 << 32) + 1), ST_EINVAL);
    cleanup(dir);
}

static void test_rollover(void **state) {
    (void)state;
    char *dir = mktemp_dir();
    st_chunk_writer_t *w;
    /* each §3.5 entry is 25 bytes, estimated at 29: 8 + 25 + 29 = 62 fits 62 */
    assert_int_equal(st_chunk_writer_open(&w, dir, 62), 0);
    uint64_t ref[6];
    for (int i = 0; i < 3; i++) assert_int_equal(st_chunk_writer_write(w, 1, ex_chunk, sizeof ex_chunk, &ref[i]), 0);
    uint8_t big[100] = {0};
    assert_int_equal(st_chunk_writer_write(w, 1, big, sizeof big, &ref[3]), 0); /* alone, over the limit */
    assert_int_equal(st_chunk_writer_write(w, 1, ex_chunk, sizeof ex_chunk, &ref[4]), 0);
    assert_int_equal(st_chunk_writer_close(w), 0);
    st_chunk_writer_free(w);
    assert_int_equal(ref[0], 8);
    assert_int_equal(ref[1], 33);
    assert_int_equal(ref[2], (uint64_t)1 << 32 | 8);
    assert_int_equal(ref[3], (uint64_t)2 << 32 | 8);
    assert_int_equal(ref[4], (uint64_t)3 << 32 | 8);
    size_t n;
    uint8_t *b = read_file(dir, "000001", &n);
    assert_int_equal(n, 58);
    assert_memory_equal(b, ex_segment, 33);
    free(b);
    b = read_file(dir, "000002", &n);
    assert_int_equal(n, 33);
    assert_memory_equal(b, ex_segment, 33);
    free(b);
    b = read_file(dir, "000003", &n);
    assert_int_equal(n, 8 + 1 + 1 + 100 + 4);
    free(b);

    /* non-numeric names are ignored; positions, not names, make the ref */
    write_file(dir, "000003.tmp", "junk", 4);
    write_file(dir, "index", "junk", 4);
    st_chunk_reader_t *r;
    assert_int_equal(st_chunk_reader_open(&r, dir), 0);
    for (int i = 0; i < 5; i++) {
        uint8_t enc;
        const uint8_t *data;
        size_t len;
        assert_int_equal(st_chunk_reader_get(r, ref[i], &enc, &data, &len), 0);
        assert_int_equal(len, i == 3 ? 100 : sizeof ex_chunk);
    }
    st_chunk_reader_free(r);
    char *from = sub(dir, "000002"), *to = sub(dir, "000007");
    assert_int_equal(rename(from, to), 0);
    free(from);
    free(to);
    /* sorted: 000001 000003 000004 000007 -> the old 000002 is now position 3 */
    assert_int_equal(st_chunk_reader_open(&r, dir), 0);
    uint8_t enc;
    const uint8_t *data;
    size_t len;
    assert_int_equal(st_chunk_reader_get(r, (uint64_t)3 << 32 | 8, &enc, &data, &len), 0);
    assert_int_equal(len, sizeof ex_chunk);
    assert_int_equal(st_chunk_reader_get(r, (uint64_t)1 << 32 | 8, &enc, &data, &len), 0);
    assert_int_equal(len, 100);
    st_chunk_reader_free(r);
    cleanup(dir);
}

static void test_damage(void **state) {
    (void)state;
    char *dir = mktemp_dir();
    st_chunk_reader_t *r;
    uint8_t enc;
    const uint8_t *data;
    size_t len;
    uint8_t seg[sizeof ex_segment];

    /* CRC mismatch */
    memcpy(seg, ex_segment, sizeof seg);
    seg[20] ^= 0x01;
    write_file(dir, "000001", seg, sizeof seg);
    assert_int_equal(st_chunk_reader_open(&r, dir), 0);
    expect_corrupt(st_chunk_reader_get(r, 8, &enc, &data, &len), "000001", "CRC mismatch");
    /* refs outside the file or the segment list */
    expect_corrupt(st_chunk_reader_get(r, 33, &enc, &data, &len), "000001", "offset 33");
    expect_corrupt(st_chunk_reader_get(r, 29, &enc, &data, &len), "000001", "offset 29");
    expect_corrupt(st_chunk_reader_get(r, 0xffffffffu, &enc, &data, &len), "000001", "beyond");
    expect_corrupt(st_chunk_reader_get(r, 4, &enc, &data, &len), "000001", "header");
    expect_corrupt(st_chunk_reader_get(r, (uint64_t)1 << 32 | 8, &enc, &data, &len), "segment 1", "does not exist");
    st_chunk_reader_free(r);

    /* truncated entry: the length runs past the end */
    write_file(dir, "000001", ex_segment, sizeof ex_segment - 1);
    assert_int_equal(st_chunk_reader_open(&r, dir), 0);
    expect_corrupt(st_chunk_reader_get(r, 8, &enc, &data, &len), "000001", "runs past the end");
    st_chunk_reader_free(r);

    /* bad length varint (more than 5 bytes) */
    memcpy(seg, ex_segment, sizeof seg);
    memset(seg + 8, 0xff, 5);
    write_file(dir, "000001", seg, sizeof seg);
    assert_int_equal(st_chunk_reader_open(&r, dir), 0);
    expect_corrupt(st_chunk_reader_get(r, 8, &enc, &data, &len), "000001", "varint");
    st_chunk_reader_free(r);

    /* short file, bad magic, bad version: open fails naming the file */
    write_file(dir, "000001", ex_segment, 7);
    r = (st_chunk_reader_t *)1;
    expect_corrupt(st_chunk_reader_open(&r, dir), "000001", "shorter");
    assert_null(r);
    write_file(dir, "000001", ex_segment, 0);
    expect_corrupt(st_chunk_reader_open(&r, dir), "000001", "shorter");
    memcpy(seg, ex_segment, sizeof seg);
    seg[0] = 0x86;
    write_file(dir, "000001", ex_segment, sizeof ex_segment);
    write_file(dir, "000002", seg, sizeof seg);
    expect_corrupt(st_chunk_reader_open(&r, dir), "000002", "magic");
    memcpy(seg, ex_segment, sizeof seg);
    seg[4] = 2;
    write_file(dir, "000002", seg, sizeof seg);
    expect_corrupt(st_chunk_reader_open(&r, dir), "000002", "version 2");

    /* in-memory segments report their position */
    const uint8_t *segs[2] = {ex_segment, seg};
    size_t lens[2] = {sizeof ex_segment, sizeof seg};
    expect_corrupt(st_chunk_reader_open_mem(&r, segs, lens, 2), "segment 1", "version");
    lens[1] = 3;
    expect_corrupt(st_chunk_reader_open_mem(&r, segs, lens, 2), "segment 1", "shorter");
    assert_int_equal(st_chunk_reader_open_mem(&r, segs, lens, 0), 0);
    assert_int_equal(st_chunk_reader_size(r), 0);
    expect_corrupt(st_chunk_reader_get(r, 8, &enc, &data, &len), "does not exist", NULL);
    st_chunk_reader_free(r);

    char *missing = sub(dir, "nope");
    assert_int_equal(st_chunk_reader_open(&r, missing), ST_ENOTFOUND);
    free(missing);
    cleanup(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_segment),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_rollover),
        cmocka_unit_test(test_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
