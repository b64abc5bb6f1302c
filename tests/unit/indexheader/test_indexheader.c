/* Index-header: built through a range reader that records every read, then
 * compared with the mapped index reader (names, values, every postings list
 * fetched by its range and decoded, every symbol, series decoded through
 * the header's symbols); the file compared with bytes assembled straight
 * from the index; corruption of every section; a block written by the
 * real promtool when it is on PATH. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include <cmocka.h>

#include "st_test.h"
#include "strata/block.h"
#include "strata/buf.h"
#include "strata/crc32c.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/index.h"
#include "strata/indexheader.h"
#include "strata/labels.h"

/* ---- a recording in-memory range reader ---------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t len;
    uint64_t reads, bytes;
    uint64_t (*ranges)[2];
    size_t nranges, cap;
    int fail;          /* != 0: the read with index fail_at returns this */
    uint64_t fail_at;
    bool short_read;   /* return one byte less than asked */
} mem_reader_t;

static int mem_read(void *ctx, uint64_t off, uint64_t len, uint8_t **out, size_t *outlen) {
    mem_reader_t *m = ctx;
    *out = NULL;
    *outlen = 0;
    if (m->fail && m->reads == m->fail_at) return st_errorf(m->fail, "injected failure");
    m->reads++;
    if (m->nranges == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 16;
        m->ranges = realloc(m->ranges, m->cap * sizeof *m->ranges);
        assert_non_null(m->ranges);
    }
    m->ranges[m->nranges][0] = off;
    m->ranges[m->nranges][1] = len;
    m->nranges++;
    uint64_t n = off >= m->len ? 0 : (m->len - off < len ? m->len - off : len);
    if (m->short_read && n > 0) n--;
    *out = malloc(n ? n : 1);
    assert_non_null(*out);
    memcpy(*out, m->p + off, n);
    *outlen = n;
    m->bytes += n;
    return 0;
}

/* ---- index layout computed from the index bytes alone --------------------- */

typedef struct {
    uint64_t sym_off, sym_len, pot_off, pot_len, toc_off, label_offsets;
} layout_t;

static layout_t layout_of(const uint8_t *p, size_t len) {
    layout_t l;
    l.toc_off = len - 52;
    l.sym_off = st_be64(p + l.toc_off);
    l.label_offsets = st_be64(p + l.toc_off + 24);
    l.pot_off = st_be64(p + l.toc_off + 40);
    l.sym_len = 8 + (uint64_t)st_be32(p + l.sym_off);
    l.pot_len = 8 + (uint64_t)st_be32(p + l.pot_off);
    return l;
}

/* Thanos's file for this index: header, symbol table, everything from the
 * postings offset table to the end of the index, TOC, CRC. */
static uint8_t *expected_header(const uint8_t *idx, size_t len, size_t *out_len) {
    layout_t l = layout_of(idx, len);
    size_t n = 14 + l.sym_len + (len - l.pot_off) + 20;
    uint8_t *h = malloc(n);
    assert_non_null(h);
    st_be32_put(h, 0xBAAAD792);
    h[4] = 1;
    h[5] = 2;
    st_be64_put(h + 6, l.pot_off);
    memcpy(h + 14, idx + l.sym_off, l.sym_len);
    memcpy(h + 14 + l.sym_len, idx + l.pot_off, len - l.pot_off);
    uint8_t *t = h + n - 20;
    st_be64_put(t, 14);
    st_be64_put(t + 8, 14 + l.sym_len);
    st_be32_put(t + 16, st_crc32c(0, t, 16));
    *out_len = n;
    return h;
}

static char *tmpdir(const char *name) {
    char buf[512];
    assert_int_equal(st_test_mkdtemp(buf, sizeof buf, name), 0);
    char *d = strdup(buf);
    assert_non_null(d);
    return d;
}

/* Build the header of idx into dir/index-header and check what was read. */
static char *build_checked(const uint8_t *idx, size_t len, const char *dir) {
    char *out = st_path_join(dir, "index-header");
    assert_non_null(out);
    mem_reader_t m = {.p = idx, .len = len};
    int rc = st_indexheader_build(mem_read, &m, len, "test/index", out);
    if (rc) fail_msg("build: %s", st_errdetail(rc));
    layout_t l = layout_of(idx, len);
    /* only the 5-byte index header, the TOC and the two sections, each byte once */
    for (size_t i = 0; i < m.nranges; i++) {
        uint64_t off = m.ranges[i][0], end = off + m.ranges[i][1];
        bool ok = end <= 5 || (off >= l.toc_off && end <= len) ||
                  (off >= l.sym_off && end <= l.sym_off + l.sym_len) ||
                  (off >= l.pot_off && end <= l.pot_off + l.pot_len);
        if (!ok) fail_msg("read [%llu, %llu) outside the allowed sections", (unsigned long long)off,
                          (unsigned long long)end);
    }
    assert_int_equal(m.bytes, 5 + 52 + l.sym_len + l.pot_len);
    free(m.ranges);

    /* the file is exactly the independently assembled bytes */
    uint8_t *got;
    size_t glen, wlen;
    assert_int_equal(st_file_read_all(out, (size_t)1 << 30, &got, &glen), 0);
    uint8_t *want = expected_header(idx, len, &wlen);
    assert_int_equal(glen, wlen);
    assert_memory_equal(got, want, wlen);
    free(got);
    free(want);
    return out;
}

/* ---- comparison with the mapped reader ----------------------------------- */

static void compare_postings(const st_indexheader_t *h, const st_index_reader_t *r, const uint8_t *idx, size_t len,
                             const char *name, const char *value) {
    st_index_range_t rg;
    bool found;
    assert_int_equal(st_indexheader_postings_range(h, name, value, &rg, &found), 0);
    if (!found) fail_msg("no range for %s=\"%s\"", name, value);
    assert_true(rg.off + rg.len <= len);
    st_postings_t a, b;
    int rc = st_index_decode_postings(idx + rg.off, (size_t)rg.len, "range", &a);
    if (rc) fail_msg("%s=\"%s\" [%llu+%llu]: %s", name, value, (unsigned long long)rg.off,
                     (unsigned long long)rg.len, st_errdetail(rc));
    assert_int_equal(st_index_postings(r, name, value, &b), 0);
    assert_int_equal(a.n, b.n);
    assert_true(a.n > 0 || (name[0] == 0 && value[0] == 0));
    if (a.n) assert_memory_equal(a.ids, b.ids, a.n * sizeof *a.ids);
    st_postings_free(&a);
    st_postings_free(&b);
}

typedef struct {
    const char **vals;
    size_t n, i;
    const st_indexheader_t *h;
    const char *name;
} ranges_ctx_t;

static int check_range_cb(void *ctx, const char *value, size_t len, st_index_range_t r) {
    ranges_ctx_t *c = ctx;
    assert_true(c->i < c->n);
    assert_int_equal(len, strlen(value));
    assert_string_equal(value, c->vals[c->i]);
    st_index_range_t r2;
    bool found;
    assert_int_equal(st_indexheader_postings_range(c->h, c->name, value, &r2, &found), 0);
    assert_true(found);
    assert_int_equal(r.off, r2.off);
    assert_int_equal(r.len, r2.len);
    c->i++;
    return 0;
}

static int stop_cb(void *ctx, const char *value, size_t len, st_index_range_t r) {
    (void)value, (void)len, (void)r;
    return ++*(int *)ctx == 2 ? 42 : 0;
}

static int header_symbol(void *ctx, uint32_t ref, const char **s, size_t *len) {
    return st_indexheader_symbol(ctx, ref, s, len);
}

static void not_found(const st_indexheader_t *h, const char *name, const char *value) {
    st_index_range_t rg = {1, 1};
    bool found = true;
    assert_int_equal(st_indexheader_postings_range(h, name, value, &rg, &found), 0);
    if (found) fail_msg("%s=\"%s\" found", name, value);
}

/* Everything the header answers, against the mapped reader of the index. */
static void compare_all(const char *hpath, const uint8_t *idx, size_t len) {
    st_indexheader_t *h;
    st_index_reader_t *r;
    int rc = st_indexheader_open(&h, hpath);
    if (rc) fail_msg("open: %s", st_errdetail(rc));
    assert_int_equal(st_index_reader_open_mem(&r, idx, len, "index"), 0);

    const char *const *rnames;
    size_t nr = st_index_label_names(r, &rnames);
    const char **hnames;
    size_t nh;
    assert_int_equal(st_indexheader_label_names(h, &hnames, &nh), 0);
    assert_int_equal(nh, nr);
    for (size_t i = 0; i < nr; i++) {
        assert_string_equal(hnames[i], rnames[i]);
        const char **rv, **hv;
        size_t nrv, nhv;
        assert_int_equal(st_index_label_values(r, rnames[i], &rv, &nrv), 0);
        assert_int_equal(st_indexheader_label_values(h, rnames[i], &hv, &nhv), 0);
        assert_int_equal(nhv, nrv);
        for (size_t k = 0; k < nrv; k++) {
            assert_string_equal(hv[k], rv[k]);
            compare_postings(h, r, idx, len, rnames[i], rv[k]);
        }
        ranges_ctx_t c = {rv, nrv, 0, h, rnames[i]};
        assert_int_equal(st_indexheader_postings_ranges(h, rnames[i], check_range_cb, &c), 0);
        assert_int_equal(c.i, nrv);
        /* values that are not there: before, between, after */
        not_found(h, rnames[i], "");
        if (nrv) {
            char probe[600];
            snprintf(probe, sizeof probe, "%.500s\x01", rv[nrv / 2]);
            not_found(h, rnames[i], probe);
            snprintf(probe, sizeof probe, "%.500s\xff", rv[nrv - 1]);
            not_found(h, rnames[i], probe);
        }
        free(rv);
        free(hv);
    }
    free(hnames);
    compare_postings(h, r, idx, len, "", "");
    not_found(h, "no_such_label", "x");
    not_found(h, "", "x");
    const char **v = (const char **)1;
    size_t n = 1;
    assert_int_equal(st_indexheader_label_values(h, "no_such_label", &v, &n), 0);
    assert_null(v);
    assert_int_equal(n, 0);
    int calls = 0;
    if (nr && st_index_label_values(r, rnames[0], &v, &n) == 0) {
        if (n >= 2) assert_int_equal(st_indexheader_postings_ranges(h, rnames[0], stop_cb, &calls), 42);
        free(v);
    }

    size_t nsyms = st_index_symbol_count(r);
    for (uint32_t i = 0; i < nsyms; i++) {
        const char *a, *b;
        size_t al, bl;
        assert_int_equal(st_index_symbol(r, i, &a, &al), 0);
        assert_int_equal(st_indexheader_symbol(h, i, &b, &bl), 0);
        assert_int_equal(al, bl);
        assert_memory_equal(a, b, al);
    }
    const char *s;
    size_t sl;
    st_errclear();
    assert_int_equal(st_indexheader_symbol(h, (uint32_t)nsyms, &s, &sl), ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(ST_ECORRUPT), "symbol table"));

    /* series decoded with the header's symbols equal the mapped reader's */
    st_postings_t all;
    assert_int_equal(st_index_postings(r, "", "", &all), 0);
    for (size_t i = 0; i < all.n; i++) {
        st_labels_t la, lb;
        st_chunk_meta_t *ca, *cb;
        size_t nca, ncb;
        uint64_t off = (uint64_t)all.ids[i] * 16;
        rc = st_index_decode_series(idx + off, len - off, header_symbol, h, "series", &la, &ca, &nca);
        if (rc) fail_msg("series %u: %s", all.ids[i], st_errdetail(rc));
        assert_int_equal(st_index_series(r, all.ids[i], &lb, &cb, &ncb), 0);
        assert_int_equal(st_labels_cmp(&la, &lb), 0);
        assert_int_equal(nca, ncb);
        assert_memory_equal(ca, cb, nca * sizeof *ca);
        st_labels_free(&la);
        st_labels_free(&lb);
        free(ca);
        free(cb);
    }
    st_postings_free(&all);

    printf("# index %zu bytes, index-header %llu bytes (%.1f%%), reader RAM %llu bytes, %zu symbols, %zu names\n",
           len, (unsigned long long)st_indexheader_file_size(h),
           100.0 * (double)st_indexheader_file_size(h) / (double)len, (unsigned long long)st_indexheader_mem_size(h),
           nsyms, nr);
    st_index_reader_free(r);
    st_indexheader_free(h);
}

/* ---- blocks --------------------------------------------------------------- */

/* Labels chosen to hit the sampling edges: names with 1, 31, 32, 33, 64 and
 * 65 values, one with a value per series, odd bytes in values. */
static char *write_block(const char *dir, size_t nseries, size_t *out_series) {
    st_block_builder_t *b;
    assert_int_equal(st_block_builder_new(&b, 2 * 3600 * 1000), 0);
    for (size_t i = 0; i < nseries; i++) {
        char name[32], inst[32], v31[8], v32[8], v33[8], v64[8], v65[8], odd[32];
        snprintf(name, sizeof name, "metric_%zu", i % 7);
        snprintf(inst, sizeof inst, "host-%06zu:9100", i);
        snprintf(v31, sizeof v31, "%zu", i % 31);
        snprintf(v32, sizeof v32, "%zu", i % 32);
        snprintf(v33, sizeof v33, "%zu", i % 33);
        snprintf(v64, sizeof v64, "%zu", i % 64);
        snprintf(v65, sizeof v65, "%zu", i % 65);
        snprintf(odd, sizeof odd, "%s\"\\\n%zu", i % 2 ? "ü" : "\x7f", i % 5);
        st_label_t pairs[] = {st_label("__name__", name), st_label("instance", inst), st_label("job", "node"),
                              st_label("v31", v31), st_label("v32", v32), st_label("v33", v33),
                              st_label("v64", v64), st_label("v65", v65), st_label("odd", odd)};
        st_labels_t l;
        assert_int_equal(st_labels_from_pairs(&l, pairs, sizeof pairs / sizeof pairs[0]), 0);
        for (int k = 0; k < 3; k++) assert_int_equal(st_block_builder_append(b, &l, 1000 + 15000 * k, (double)i), 0);
        st_labels_free(&l);
    }
    *out_series = st_block_builder_num_series(b);
    char *bdir = NULL;
    assert_int_equal(st_block_builder_write(b, dir, &bdir), 0);
    st_block_builder_free(b);
    char *idx = st_path_join(bdir, "index");
    free(bdir);
    return idx;
}

static void check_index_file(const char *index_path, const char *dir) {
    uint8_t *idx;
    size_t len;
    assert_int_equal(st_file_read_all(index_path, (size_t)1 << 30, &idx, &len), 0);
    char *hpath = build_checked(idx, len, dir);
    compare_all(hpath, idx, len);
    unlink(hpath);
    free(hpath);
    free(idx);
}

static void test_builder_blocks(void **state) {
    (void)state;
    size_t sizes[] = {1, 40, 10000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *dir = tmpdir("ih-block");
        size_t n;
        char *idx = write_block(dir, sizes[i], &n);
        assert_int_equal(n, sizes[i]);
        printf("# st_block_builder block, %zu series:\n", n);
        check_index_file(idx, dir);
        free(idx);
        st_rm_rf(dir);
        free(dir);
    }
}

/* A block written by the real promtool (skipped only when it is absent). */
static void test_promtool_block(void **state) {
    (void)state;
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        printf("# promtool not on PATH: skipping the promtool block check\n");
        skip();
    }
    char *dir = tmpdir("ih-promtool");
    char *om = st_path_join(dir, "in.om"), *out = st_path_join(dir, "blocks");
    FILE *f = fopen(om, "w");
    assert_non_null(f);
    fprintf(f, "# TYPE http_requests counter\n");
    for (int i = 0; i < 300; i++)
        for (int k = 0; k < 4; k++)
            fprintf(f, "http_requests_total{code=\"%d\",handler=\"/api/v%d\",instance=\"10.0.%d.%d:80\"} %d %d\n",
                    200 + i % 7, i % 40, i / 250, i % 250, i * k, 1700000000 + 15 * k);
    fprintf(f, "# TYPE temp gauge\n");
    for (int i = 0; i < 70; i++)
        fprintf(f, "temp{zone=\"z%02d\",odd=\"a\\\"b\\\\c\\nd%d\"} %d.5 1700000010\n", i, i % 3, i);
    fprintf(f, "# EOF\n");
    fclose(f);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "timeout 120 promtool tsdb create-blocks-from openmetrics '%s' '%s' >'%s/promtool.log' 2>&1", om, out,
             dir);
    if (system(cmd) != 0) {
        snprintf(cmd, sizeof cmd, "cat '%s/promtool.log' >&2", dir);
        (void)system(cmd);
        fail_msg("promtool create-blocks-from failed");
    }
    DIR *d = opendir(out);
    assert_non_null(d);
    struct dirent *e;
    int blocks = 0;
    while ((e = readdir(d))) {
        if (strlen(e->d_name) != 26) continue;
        char *bdir = st_path_join(out, e->d_name);
        char *idx = st_path_join(bdir, "index");
        printf("# promtool block %s:\n", e->d_name);
        check_index_file(idx, dir);
        free(idx);
        free(bdir);
        blocks++;
    }
    closedir(d);
    assert_true(blocks >= 1);
    free(om);
    free(out);
    st_rm_rf(dir);
    free(dir);
}

/* ---- a small hand-made index and header ------------------------------------ */

/* §4.10 of the format notes: the index promtool writes for foo{a="b"}. */
static const uint8_t example[269] = {
    0xba, 0xaa, 0xd7, 0x00, 0x02, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x05, 0x00, 0x08, '_', '_', 'n',
    'a', 'm', 'e', '_', '_', 0x01, 'a', 0x01, 'b', 0x03, 'f', 'o', 'o', 0x9e, 0x48, 0xb0, 0x3c, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0x0b, 0x02, 0x01, 0x04, 0x02, 0x03, 0x01, 0xd0, 0x0f, 0xd0, 0x0f, 0x08, 0x39, 0xdf,
    0xaf, 0x3d, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04,
    0x20, 0xd5, 0x9b, 0xa6, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
    0x00, 0x03, 0xf4, 0x1f, 0xff, 0x4d, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03,
    0xa7, 0x69, 0x2e, 0xd2, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0xa7, 0x69,
    0x2e, 0xd2, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0xa7, 0x69, 0x2e, 0xd2,
    0x00, 0x00, 0x00, 0x13, 0x00, 0x00, 0x00, 0x02, 0x01, 0x08, '_', '_', 'n', 'a', 'm', 'e', '_', '_', 0x40,
    0x01, 0x01, 'a', 0x54, 0x13, 0x04, 0x98, 0x3a, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x00, 0x00, 0x03, 0x02, 0x00,
    0x00, 0x68, 0x02, 0x08, '_', '_', 'n', 'a', 'm', 'e', '_', '_', 0x03, 'f', 'o', 'o', 0x78, 0x02, 0x01, 'a',
    0x01, 'b', 0x88, 0x01, 0xcd, 0x15, 0x3b, 0xb4, 0, 0, 0, 0, 0, 0, 0, 0x05, 0, 0, 0, 0, 0, 0, 0, 0x23, 0, 0,
    0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0, 0x98, 0, 0, 0, 0, 0, 0, 0, 0x68, 0, 0, 0, 0, 0, 0, 0, 0xb3, 0x1a,
    0x4d, 0x56, 0x03,
};

static void test_example(void **state) {
    (void)state;
    char *dir = tmpdir("ih-example");
    char *hpath = build_checked(example, sizeof example, dir);
    compare_all(hpath, example, sizeof example);
    st_indexheader_t *h;
    assert_int_equal(st_indexheader_open(&h, hpath), 0);
    st_index_range_t r;
    bool found;
    /* lists at 104, 120, 136; the label offset table at 152 ends the last */
    assert_int_equal(st_indexheader_postings_range(h, "", "", &r, &found), 0);
    assert_true(found);
    assert_int_equal(r.off, 104);
    assert_int_equal(r.len, 16);
    assert_int_equal(st_indexheader_postings_range(h, "a", "b", &r, &found), 0);
    assert_int_equal(r.off, 136);
    assert_int_equal(r.len, 16);
    assert_int_equal(st_indexheader_file_size(h), 154);
    st_indexheader_free(h);
    st_indexheader_free(NULL);
    unlink(hpath);
    free(hpath);
    st_rm_rf(dir);
    free(dir);
}

/* ---- corruption ------------------------------------------------------------ */

static void expect_corrupt(int rc, const char *a, const char *b) {
    if (rc != ST_ECORRUPT) fail_msg("rc %d, want ST_ECORRUPT (detail \"%s\")", rc, st_errdetail(rc));
    const char *d = st_errdetail(rc);
    if (!strstr(d, a) || (b && !strstr(d, b))) fail_msg("detail \"%s\" lacks \"%s\"/\"%s\"", d, a, b ? b : "");
}

static int open_bytes(const uint8_t *p, size_t len) {
    st_indexheader_t *h = (st_indexheader_t *)1;
    st_errclear();
    int rc = st_indexheader_open_mem(&h, p, len, "mutated");
    if (rc == 0) st_indexheader_free(h);
    else assert_null(h);
    return rc;
}

static void fix_crc(uint8_t *p, size_t from, size_t to) { st_be32_put(p + to, st_crc32c(0, p + from, to - from)); }

/* The example's header: [0,14) header, [14,44) symbol table (body 18..40),
 * [44,82) postings offset table (body 48..78; entries at 52, 56, 71),
 * [82,134) index TOC, [134,154) TOC. */
static void test_corrupt_header(void **state) {
    (void)state;
    size_t n;
    uint8_t *good = expected_header(example, sizeof example, &n);
    assert_int_equal(n, 154);
    uint8_t h[154];
    assert_int_equal(open_bytes(good, n), 0);

    for (size_t k = 0; k < n; k++) {
        uint8_t *t = malloc(k ? k : 1); /* exact size: ASan sees any read past it */
        memcpy(t, good, k);
        int rc = open_bytes(t, k);
        free(t);
        if (rc != ST_ECORRUPT) fail_msg("truncated to %zu: rc %d", k, rc);
    }
    expect_corrupt(open_bytes(good, 20), "mutated: header", "truncated");

    /* a flipped byte anywhere is caught, naming the section */
    static const struct {
        size_t at;
        const char *a, *b;
    } flips[] = {
        {0, "header", "magic"},          {4, "header", "format version"},   {5, "header", "index version"},
        {13, "index TOC", "header says"}, {20, "symbol table", "CRC"},       {40, "symbol table", "CRC"},
        {60, "postings offset table", "CRC"}, {79, "postings offset table", "CRC"},
        {90, "index TOC", "CRC"},        {133, "index TOC", "CRC"},          {140, "TOC", "CRC"},
        {153, "TOC", "CRC"},
    };
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        memcpy(h, good, n);
        h[flips[i].at] ^= 0x10;
        expect_corrupt(open_bytes(h, n), flips[i].a, flips[i].b);
    }

    /* valid CRCs, wrong content */
    memcpy(h, good, n);
    h[35] = 'Z'; /* symbols "a", "Z" */
    fix_crc(h, 18, 40);
    expect_corrupt(open_bytes(h, n), "symbol table", "not sorted");
    memcpy(h, good, n);
    h[21] = 9; /* 9 symbols in a table of 5 */
    fix_crc(h, 18, 40);
    expect_corrupt(open_bytes(h, n), "symbol table", "truncated");
    memcpy(h, good, n);
    h[21] = 4; /* one symbol left over */
    fix_crc(h, 18, 40);
    expect_corrupt(open_bytes(h, n), "symbol table", "after the last symbol");

    memcpy(h, good, n);
    h[73] = 'A'; /* ("A", "b") after ("__name__", "foo") */
    fix_crc(h, 48, 78);
    expect_corrupt(open_bytes(h, n), "postings offset table", "not sorted");
    memcpy(h, good, n);
    h[73] = 'c'; /* label name "c" is no symbol */
    fix_crc(h, 48, 78);
    expect_corrupt(open_bytes(h, n), "postings offset table", "not in the symbol table");
    memcpy(h, good, n);
    h[76] = 0x80; /* (a, b) list at 128: overlaps the list at 120 */
    fix_crc(h, 48, 78);
    expect_corrupt(open_bytes(h, n), "postings offset table", "not after the previous list");
    memcpy(h, good, n);
    h[77] = 0x02; /* (a, b) list at 264: beyond the label offset table at 152 */
    fix_crc(h, 48, 78);
    expect_corrupt(open_bytes(h, n), "postings offset table", "label offset table");
    memcpy(h, good, n);
    h[56] = 3; /* 3 keys */
    fix_crc(h, 48, 78);
    expect_corrupt(open_bytes(h, n), "postings offset table", "entry 1");
    memcpy(h, good, n);
    h[51] = 4; /* 4 entries, 3 present */
    fix_crc(h, 48, 78);
    expect_corrupt(open_bytes(h, n), "postings offset table", "entry 3");
    memcpy(h, good, n);
    h[51] = 2; /* 2 entries: the third is left over */
    fix_crc(h, 48, 78);
    expect_corrupt(open_bytes(h, n), "postings offset table", "after the last entry");
    memcpy(h, good, n);
    h[51] = 0xff; /* more entries than bytes */
    fix_crc(h, 48, 78);
    expect_corrupt(open_bytes(h, n), "postings offset table", "cannot fit");

    /* the header's index offsets must agree with the index TOC */
    memcpy(h, good, n);
    h[82 + 31] = 0xb4; /* label offset table at 180 > postings offset table at 179 */
    fix_crc(h, 82, 130);
    expect_corrupt(open_bytes(h, n), "index TOC", "label offset table");
    memcpy(h, good, n);
    h[149] = 45; /* postings offset table at 45 in the header: a gap after the symbols */
    fix_crc(h, 134, 150);
    expect_corrupt(open_bytes(h, n), "symbol table ends at 44", NULL);
    memcpy(h, good, n);
    h[141] = 15; /* symbol table at 15 */
    fix_crc(h, 134, 150);
    expect_corrupt(open_bytes(h, n), "TOC", "symbol table at 15");
    free(good);
}

/* Entries built by hand: the empty name is only allowed first, with an
 * empty value. */
static void test_corrupt_entries(void **state) {
    (void)state;
    /* entries: ("", "", 104), then name "" or "a" with value "" or "b" */
    static const struct {
        const char *n0v, *n1, *n1v, *a, *b;
    } cases[] = {
        {"", "a", "b", NULL, NULL},
        {"", "", "b", "entry 1", "empty label name"},
        {"x", "a", "b", "entry 0", "all-postings"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        st_encbuf_t pot;
        st_encbuf_init(&pot, 0);
        st_put_be32(&pot, 0);
        st_put_be32(&pot, 2);
        st_put_uvarint(&pot, 2);
        st_put_str(&pot, "", 0);
        st_put_str(&pot, cases[c].n0v, strlen(cases[c].n0v));
        st_put_uvarint(&pot, 104);
        st_put_uvarint(&pot, 2);
        st_put_str(&pot, cases[c].n1, strlen(cases[c].n1));
        st_put_str(&pot, cases[c].n1v, strlen(cases[c].n1v));
        st_put_uvarint(&pot, 136);
        st_encbuf_patch_be32(&pot, 0, (uint32_t)(pot.len - 4));
        st_put_be32(&pot, st_crc32c(0, pot.p + 4, pot.len - 4));
        assert_int_equal(pot.err, 0);

        /* index TOC: label offset table at 152, postings offset table at 179 */
        uint8_t itoc[52] = {0};
        st_be64_put(itoc, 5);
        st_be64_put(itoc + 24, 152);
        st_be64_put(itoc + 40, 179);
        st_be32_put(itoc + 48, st_crc32c(0, itoc, 48));

        size_t n = 14 + 30 + pot.len + 52 + 20;
        uint8_t *h = malloc(n);
        st_be32_put(h, 0xBAAAD792);
        h[4] = 1;
        h[5] = 2;
        st_be64_put(h + 6, 179);
        memcpy(h + 14, example + 5, 30);
        memcpy(h + 44, pot.p, pot.len);
        memcpy(h + 44 + pot.len, itoc, 52);
        st_be64_put(h + n - 20, 14);
        st_be64_put(h + n - 12, 44);
        st_be32_put(h + n - 4, st_crc32c(0, h + n - 20, 16));
        int rc = open_bytes(h, n);
        if (cases[c].a) expect_corrupt(rc, cases[c].a, cases[c].b);
        else assert_int_equal(rc, 0);
        free(h);
        st_encbuf_free(&pot);
    }
}

/* Building from a damaged index or a failing reader leaves no file. */
static void test_build_errors(void **state) {
    (void)state;
    char *dir = tmpdir("ih-builderr");
    char *out = st_path_join(dir, "index-header");
    uint8_t idx[sizeof example];
    mem_reader_t m;

    static const struct {
        size_t at;
        const char *a, *b;
    } flips[] = {
        {0, "header", "magic"},
        {4, "header", "version"},
        {250, "TOC", "CRC"},
        {20, "symbol table", "CRC"},
        {200, "postings offset table", "CRC"},
    };
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        memcpy(idx, example, sizeof idx);
        idx[flips[i].at] ^= 0x02;
        m = (mem_reader_t){.p = idx, .len = sizeof idx};
        st_errclear();
        expect_corrupt(st_indexheader_build(mem_read, &m, sizeof idx, "blk/index", out), flips[i].a, flips[i].b);
        assert_non_null(strstr(st_errdetail(ST_ECORRUPT), "blk/index"));
        assert_int_equal(st_path_exists(out), 0);
        free(m.ranges);
    }
    /* section lengths that run out of their place */
    memcpy(idx, example, sizeof idx);
    idx[8] = 0xff; /* symbol table len 255 */
    m = (mem_reader_t){.p = idx, .len = sizeof idx};
    expect_corrupt(st_indexheader_build(mem_read, &m, sizeof idx, "blk/index", out), "symbol table", "length");
    free(m.ranges);
    memcpy(idx, example, sizeof idx);
    idx[182] = 0x1d; /* postings offset table one byte shorter: its CRC is elsewhere */
    m = (mem_reader_t){.p = idx, .len = sizeof idx};
    expect_corrupt(st_indexheader_build(mem_read, &m, sizeof idx, "blk/index", out), "postings offset table", NULL);
    free(m.ranges);
    /* TOC pointing outside */
    memcpy(idx, example, sizeof idx);
    idx[217 + 40] = 0x01; /* postings offset table beyond the end */
    fix_crc(idx, 217, 265);
    m = (mem_reader_t){.p = idx, .len = sizeof idx};
    expect_corrupt(st_indexheader_build(mem_read, &m, sizeof idx, "blk/index", out), "postings offset table", NULL);
    free(m.ranges);
    /* too small, short reads, reader errors */
    m = (mem_reader_t){.p = example, .len = 50};
    expect_corrupt(st_indexheader_build(mem_read, &m, 50, "blk/index", out), "blk/index", "cannot hold");
    m = (mem_reader_t){.p = example, .len = sizeof example, .short_read = true};
    expect_corrupt(st_indexheader_build(mem_read, &m, sizeof example, "blk/index", out), "header", "returned 4");
    free(m.ranges);
    m = (mem_reader_t){.p = example, .len = sizeof example - 10};
    expect_corrupt(st_indexheader_build(mem_read, &m, sizeof example, "blk/index", out), "TOC", "shorter");
    free(m.ranges);
    for (uint64_t k = 0; k < 6; k++) {
        m = (mem_reader_t){.p = example, .len = sizeof example, .fail = ST_EIO, .fail_at = k};
        st_errclear();
        int rc = st_indexheader_build(mem_read, &m, sizeof example, "blk/index", out);
        assert_int_equal(rc, ST_EIO);
        assert_non_null(strstr(st_errdetail(rc), "injected failure"));
        assert_non_null(strstr(st_errdetail(rc), "blk/index"));
        assert_int_equal(st_path_exists(out), 0);
        free(m.ranges);
    }
    /* no temporaries left behind */
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d))) assert_true(e->d_name[0] == '.');
    closedir(d);

    st_indexheader_t *h;
    assert_int_equal(st_indexheader_open(&h, out), ST_ENOTFOUND);
    assert_non_null(strstr(st_errdetail(ST_ENOTFOUND), out));
    free(out);
    st_rm_rf(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example),        cmocka_unit_test(test_corrupt_header),
        cmocka_unit_test(test_corrupt_entries), cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_builder_blocks), cmocka_unit_test(test_promtool_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
