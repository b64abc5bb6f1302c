/* Index writer and reader against the §4.10 reference bytes, a large round
 * trip, and corrupt inputs (each error must name the damaged section). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "strata/buf.h"
#include "strata/crc32c.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/index.h"
#include "strata/labels.h"

/* §4.10: the complete index promtool 2.42 writes for foo{a="b"}, one chunk
 * [1000, 3000] at ref 8. */
static const uint8_t example[269] = {
    0xba, 0xaa, 0xd7, 0x00, 0x02,                                           /* 0 magic, version */
    0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x05,                         /* 5 symbols: len 22, 5 */
    0x00, 0x08, '_', '_', 'n', 'a', 'm', 'e', '_', '_', 0x01, 'a', 0x01, 'b', /* 13 "", __name__, a, b */
    0x03, 'f', 'o', 'o', 0x9e, 0x48, 0xb0, 0x3c,                            /* 27 foo, CRC */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                                  /* 35 pad to 48 */
    0x0b, 0x02, 0x01, 0x04, 0x02, 0x03, 0x01, 0xd0, 0x0f, 0xd0, 0x0f, 0x08, /* 48 series ID 3 */
    0x39, 0xdf, 0xaf, 0x3d,                                                 /* 60 series CRC */
    0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, /* 64 label index __name__ */
    0x00, 0x00, 0x00, 0x04, 0x20, 0xd5, 0x9b, 0xa6,
    0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, /* 84 label index a */
    0x00, 0x00, 0x00, 0x03, 0xf4, 0x1f, 0xff, 0x4d,
    0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, /* 104 postings ("","") */
    0xa7, 0x69, 0x2e, 0xd2,
    0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, /* 120 (__name__, foo) */
    0xa7, 0x69, 0x2e, 0xd2,
    0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, /* 136 (a, b) */
    0xa7, 0x69, 0x2e, 0xd2,
    0x00, 0x00, 0x00, 0x13, 0x00, 0x00, 0x00, 0x02,                         /* 152 label offset table */
    0x01, 0x08, '_', '_', 'n', 'a', 'm', 'e', '_', '_', 0x40,               /* 160 */
    0x01, 0x01, 'a', 0x54, 0x13, 0x04, 0x98, 0x3a,                         /* 171 */
    0x00, 0x00, 0x00, 0x1e, 0x00, 0x00, 0x00, 0x03,                         /* 179 postings offset table */
    0x02, 0x00, 0x00, 0x68,                                                 /* 187 ("", "", 104) */
    0x02, 0x08, '_', '_', 'n', 'a', 'm', 'e', '_', '_', 0x03, 'f', 'o', 'o', 0x78, /* 191 */
    0x02, 0x01, 'a', 0x01, 'b', 0x88, 0x01,                                 /* 206 (a, b, 136) */
    0xcd, 0x15, 0x3b, 0xb4,                                                 /* 213 CRC */
    0, 0, 0, 0, 0, 0, 0, 0x05, 0, 0, 0, 0, 0, 0, 0, 0x23,                   /* 217 TOC */
    0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0, 0x98,
    0, 0, 0, 0, 0, 0, 0, 0x68, 0, 0, 0, 0, 0, 0, 0, 0xb3,
    0x1a, 0x4d, 0x56, 0x03,                                                 /* 265 TOC CRC */
};

static char *tmp_path(const char *name) {
    const char *dir = getenv("ST_TEST_TMP");
    if (!dir) dir = "/tmp";
    assert_int_equal(st_mkdir_p(dir, 0755), 0);
    char file[256];
    snprintf(file, sizeof file, "index-%ld-%s", (long)getpid(), name);
    char *p = st_path_join(dir, file);
    assert_non_null(p);
    return p;
}

static void add_symbols(st_index_writer_t *w, const char *const *syms, size_t n) {
    for (size_t i = 0; i < n; i++) assert_int_equal(st_index_writer_add_symbol(w, syms[i], strlen(syms[i])), 0);
}

static void write_example(const char *path) {
    static const char *const syms[] = {"", "__name__", "a", "b", "foo"};
    st_index_writer_t *w;
    assert_int_equal(st_index_writer_open(&w, path), 0);
    add_symbols(w, syms, 5);
    st_label_t pairs[] = {st_label("__name__", "foo"), st_label("a", "b")};
    st_labels_t l;
    assert_int_equal(st_labels_from_pairs(&l, pairs, 2), 0);
    st_chunk_meta_t c = {1000, 3000, 8};
    uint32_t id = 0;
    assert_int_equal(st_index_writer_add_series(w, &l, &c, 1, &id), 0);
    assert_int_equal(id, 3);
    assert_int_equal(st_index_writer_close(w), 0);
    st_index_writer_free(w);
    st_labels_free(&l);
}

static void test_example_bytes(void **state) {
    (void)state;
    char *path = tmp_path("example");
    write_example(path);
    uint8_t *got;
    size_t len;
    assert_int_equal(st_file_read_all(path, 1 << 20, &got, &len), 0);
    assert_int_equal(len, sizeof example);
    for (size_t i = 0; i < len; i++)
        if (got[i] != example[i]) fail_msg("byte %zu: got 0x%02x, want 0x%02x", i, got[i], example[i]);
    free(got);

    st_index_reader_t *r;
    assert_int_equal(st_index_reader_open(&r, path), 0);
    assert_int_equal(st_index_reader_size(r), 269);
    assert_int_equal(st_index_symbol_count(r), 5);
    const char *s;
    size_t slen;
    assert_int_equal(st_index_symbol(r, 4, &s, &slen), 0);
    assert_int_equal(slen, 3);
    assert_memory_equal(s, "foo", 3);
    assert_int_equal(st_index_symbol(r, 5, &s, &slen), ST_ECORRUPT);
    const char *const *names;
    assert_int_equal(st_index_label_names(r, &names), 2);
    assert_string_equal(names[0], "__name__");
    assert_string_equal(names[1], "a");
    const char **vals;
    size_t nv;
    assert_int_equal(st_index_label_values(r, "a", &vals, &nv), 0);
    assert_int_equal(nv, 1);
    assert_string_equal(vals[0], "b");
    free(vals);
    st_postings_t p;
    assert_int_equal(st_index_postings(r, "", "", &p), 0);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.ids[0], 3);
    st_postings_free(&p);
    assert_int_equal(st_index_postings(r, "a", "c", &p), 0);
    assert_int_equal(p.n, 0);
    assert_null(p.ids);
    st_labels_t l;
    st_chunk_meta_t *c;
    size_t nc;
    assert_int_equal(st_index_series(r, 3, &l, &c, &nc), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0].name, "__name__");
    assert_string_equal(l.v[0].value, "foo");
    assert_string_equal(l.v[1].name, "a");
    assert_string_equal(l.v[1].value, "b");
    assert_int_equal(nc, 1);
    assert_int_equal(c[0].mint, 1000);
    assert_int_equal(c[0].maxt, 3000);
    assert_int_equal(c[0].ref, 8);
    st_labels_free(&l);
    free(c);
    st_index_reader_free(r);
    unlink(path);
    free(path);
}

/* ---- round trip ---------------------------------------------------------- */

#define NSERIES 1000

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

typedef struct {
    st_labels_t l;
    st_chunk_meta_t *c;
    size_t nc;
    uint32_t id;
} tseries_t;

typedef struct {
    const char *s;
    size_t len;
} tstr_t;

static int labels_qcmp(const void *a, const void *b) {
    return st_labels_cmp(&((const tseries_t *)a)->l, &((const tseries_t *)b)->l);
}

static int str_qcmp(const void *a, const void *b) {
    const tstr_t *x = a, *y = b;
    return st_bytes_cmp(x->s, x->len, y->s, y->len);
}

static char long_value[301];

static void make_series(tseries_t *ser) {
    memset(long_value, 'x', 300);
    for (size_t i = 0; i < NSERIES; i++) {
        char name[32], inst[32], job[32], zone[32];
        snprintf(name, sizeof name, "metric_%zu", i % 7);
        snprintf(inst, sizeof inst, "host-%04zu", i);
        snprintf(job, sizeof job, "job_%zu", i % 13);
        snprintf(zone, sizeof zone, "z%zu", i % 5);
        st_label_t pairs[5] = {st_label("__name__", name), st_label("instance", inst), st_label("job", job)};
        size_t n = 3;
        if (i % 3 == 0) pairs[n++] = st_label("zone", zone);
        if (i % 100 == 1) pairs[n++] = st_label("odd", i % 200 == 1 ? "q\"\\\n\xc3\xa9" : long_value);
        assert_int_equal(st_labels_from_pairs(&ser[i].l, pairs, n), 0);
        ser[i].nc = 1 + i % 40;
        ser[i].c = calloc(ser[i].nc, sizeof *ser[i].c);
        int64_t t = i % 5 == 0 ? -(int64_t)(rnd() % 100000000) : (int64_t)(rnd() % 1700000000000ull);
        uint64_t ref = ((uint64_t)(i / 300) << 32) | (8 + i * 5000);
        for (size_t k = 0; k < ser[i].nc; k++) {
            ser[i].c[k].mint = t + 1 + (int64_t)(rnd() % (k == 3 ? 1u << 30 : 1000));
            ser[i].c[k].maxt = ser[i].c[k].mint + (int64_t)(rnd() % 7200000);
            t = ser[i].c[k].maxt;
            /* an occasional backwards ref exercises the signed delta */
            ref = k == 5 ? ref - 17 : ref + 1 + rnd() % 300;
            ser[i].c[k].ref = ref;
        }
    }
    qsort(ser, NSERIES, sizeof *ser, labels_qcmp);
}

static tstr_t *make_symbols(const tseries_t *ser, size_t *n) {
    tstr_t *s = malloc((NSERIES * 10 + 2) * sizeof *s);
    size_t m = 0;
    s[m++] = (tstr_t){"", 0};
    s[m++] = (tstr_t){"zz_unused", 9};
    for (size_t i = 0; i < NSERIES; i++)
        for (size_t k = 0; k < ser[i].l.n; k++) {
            s[m++] = (tstr_t){ser[i].l.v[k].name, ser[i].l.v[k].name_len};
            s[m++] = (tstr_t){ser[i].l.v[k].value, ser[i].l.v[k].value_len};
        }
    qsort(s, m, sizeof *s, str_qcmp);
    size_t u = 0;
    for (size_t i = 0; i < m; i++)
        if (u == 0 || str_qcmp(&s[u - 1], &s[i]) != 0) s[u++] = s[i];
    *n = u;
    return s;
}

static void check_postings(st_index_reader_t *r, const tseries_t *ser, const char *name, const char *value) {
    st_postings_t p;
    assert_int_equal(st_index_postings(r, name, value, &p), 0);
    size_t k = 0;
    for (size_t i = 0; i < NSERIES; i++) {
        const st_label_t *l = st_labels_get(&ser[i].l, name);
        if (!l || strcmp(l->value, value) != 0) continue;
        assert_true(k < p.n);
        assert_int_equal(p.ids[k++], ser[i].id);
    }
    assert_int_equal(k, p.n);
    assert_true(k > 0);
    st_postings_free(&p);
}

static void test_roundtrip(void **state) {
    (void)state;
    tseries_t *ser = calloc(NSERIES, sizeof *ser);
    make_series(ser);
    size_t nsyms;
    tstr_t *syms = make_symbols(ser, &nsyms);

    char *path = tmp_path("roundtrip");
    st_index_writer_t *w;
    assert_int_equal(st_index_writer_open(&w, path), 0);
    for (size_t i = 0; i < nsyms; i++) assert_int_equal(st_index_writer_add_symbol(w, syms[i].s, syms[i].len), 0);
    for (size_t i = 0; i < NSERIES; i++) {
        assert_int_equal(st_index_writer_add_series(w, &ser[i].l, ser[i].c, ser[i].nc, &ser[i].id), 0);
        if (i > 0) assert_true(ser[i].id > ser[i - 1].id);
    }
    assert_int_equal(st_index_writer_close(w), 0);
    st_index_writer_free(w);

    st_index_reader_t *r;
    assert_int_equal(st_index_reader_open(&r, path), 0);
    assert_int_equal(st_index_symbol_count(r), nsyms);
    for (uint32_t i = 0; i < nsyms; i++) {
        const char *s;
        size_t len;
        assert_int_equal(st_index_symbol(r, i, &s, &len), 0);
        assert_int_equal(len, syms[i].len);
        assert_memory_equal(s, syms[i].s, len);
    }

    static const char *const want_names[] = {"__name__", "instance", "job", "odd", "zone"};
    const char *const *names;
    assert_int_equal(st_index_label_names(r, &names), 5);
    for (size_t i = 0; i < 5; i++) assert_string_equal(names[i], want_names[i]);

    size_t npairs = 0;
    for (size_t ni = 0; ni < 5; ni++) {
        const char **vals;
        size_t nv;
        assert_int_equal(st_index_label_values(r, names[ni], &vals, &nv), 0);
        /* expected values: every symbol that is a value of this name, in order */
        size_t k = 0;
        for (size_t si = 0; si < nsyms; si++) {
            bool used = false;
            for (size_t i = 0; i < NSERIES && !used; i++) {
                const st_label_t *l = st_labels_get(&ser[i].l, names[ni]);
                used = l && st_bytes_cmp(l->value, l->value_len, syms[si].s, syms[si].len) == 0;
            }
            if (!used) continue;
            assert_true(k < nv);
            assert_int_equal(strlen(vals[k]), syms[si].len);
            assert_memory_equal(vals[k], syms[si].s, syms[si].len);
            k++;
        }
        assert_int_equal(k, nv);
        for (size_t i = 0; i < nv; i++) check_postings(r, ser, names[ni], vals[i]);
        npairs += nv;
        free(vals);
    }
    assert_int_equal(npairs, 7 + NSERIES + 13 + 5 + 2);

    st_postings_t all;
    assert_int_equal(st_index_postings(r, "", "", &all), 0);
    assert_int_equal(all.n, NSERIES);
    for (size_t i = 0; i < NSERIES; i++) {
        assert_int_equal(all.ids[i], ser[i].id);
        st_labels_t l;
        st_chunk_meta_t *c;
        size_t nc;
        assert_int_equal(st_index_series(r, all.ids[i], &l, &c, &nc), 0);
        assert_true(st_labels_equal(&l, &ser[i].l));
        assert_int_equal(nc, ser[i].nc);
        assert_memory_equal(c, ser[i].c, nc * sizeof *c);
        st_labels_free(&l);
        free(c);
        assert_int_equal(st_index_series(r, all.ids[i], NULL, NULL, NULL), 0);
    }
    st_postings_free(&all);
    const char **vals;
    size_t nv;
    assert_int_equal(st_index_label_values(r, "nope", &vals, &nv), 0);
    assert_int_equal(nv, 0);
    st_postings_t p;
    assert_int_equal(st_index_postings(r, "job", "job_99", &p), 0);
    assert_int_equal(p.n, 0);
    st_index_reader_free(r);

    /* the all-postings list with two IDs swapped (CRC fixed up) */
    uint8_t *img;
    size_t len;
    assert_int_equal(st_file_read_all(path, 1 << 26, &img, &len), 0);
    uint64_t off = (st_be64(img + len - 52 + 32) + 3) & ~(uint64_t)3; /* TOC.postings, aligned */
    assert_int_equal(st_be32(img + off), 4 + 4 * NSERIES);
    uint8_t tmp[4];
    memcpy(tmp, img + off + 8, 4);
    memcpy(img + off + 8, img + off + 12, 4);
    memcpy(img + off + 12, tmp, 4);
    st_be32_put(img + off + 8 + 4 * NSERIES, st_crc32c(0, img + off + 4, 4 + 4 * NSERIES));
    assert_int_equal(st_index_reader_open_mem(&r, img, len, "swapped"), 0);
    assert_int_equal(st_index_postings(r, "", "", &p), ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(ST_ECORRUPT), "postings list"));
    assert_non_null(strstr(st_errdetail(ST_ECORRUPT), "not ascending"));
    st_index_reader_free(r);
    free(img);

    for (size_t i = 0; i < NSERIES; i++) {
        st_labels_free(&ser[i].l);
        free(ser[i].c);
    }
    free(ser);
    free(syms);
    unlink(path);
    free(path);
}

static void test_empty_index(void **state) {
    (void)state;
    char *path = tmp_path("empty");
    st_index_writer_t *w;
    assert_int_equal(st_index_writer_open(&w, path), 0);
    assert_int_equal(st_index_writer_close(w), 0);
    assert_int_equal(st_index_writer_close(w), ST_EINVAL);
    st_index_writer_free(w);
    st_index_reader_t *r;
    assert_int_equal(st_index_reader_open(&r, path), 0);
    assert_int_equal(st_index_symbol_count(r), 0);
    const char *const *names;
    assert_int_equal(st_index_label_names(r, &names), 0);
    st_postings_t p;
    assert_int_equal(st_index_postings(r, "", "", &p), 0);
    assert_int_equal(p.n, 0);
    st_postings_free(&p);
    st_postings_free(NULL);
    st_index_reader_free(r);
    st_index_reader_free(NULL);
    st_index_writer_free(NULL);
    unlink(path);
    free(path);
}

/* ---- corrupt inputs ------------------------------------------------------ */

/* Rewrite the CRC that follows bytes [from, to) of img. */
static void fix_crc(uint8_t *img, size_t from, size_t to) { st_be32_put(img + to, st_crc32c(0, img + from, to - from)); }

static void expect_detail(int rc, const char *a, const char *b) {
    assert_true(rc < 0);
    const char *d = st_errdetail(rc);
    if (!strstr(d, a) || (b && !strstr(d, b))) fail_msg("detail \"%s\" lacks \"%s\"/\"%s\"", d, a, b ? b : "");
}

static int open_mutated(uint8_t *img, size_t len, st_index_reader_t **r) {
    st_errclear();
    return st_index_reader_open_mem(r, img, len, "mutated");
}

static void test_open_errors(void **state) {
    (void)state;
    uint8_t img[sizeof example];
    st_index_reader_t *r;

    memcpy(img, example, sizeof img);
    assert_int_equal(open_mutated(img, sizeof img, &r), 0);
    st_index_reader_free(r);

    for (size_t n = 0; n < sizeof example; n++) {
        int rc = open_mutated(img, n, &r);
        assert_int_equal(rc, ST_ECORRUPT);
        assert_null(r);
        const char *d = st_errdetail(rc);
        assert_true(strstr(d, "header") || strstr(d, "TOC"));
    }
    expect_detail(open_mutated(img, 40, &r), "mutated: header", "truncated");

    img[0] = 0xbb;
    expect_detail(open_mutated(img, sizeof img, &r), "header", "magic");
    memcpy(img, example, sizeof img);
    img[4] = 3;
    expect_detail(open_mutated(img, sizeof img, &r), "header", "version 3");
    img[4] = 1;
    expect_detail(open_mutated(img, sizeof img, &r), "header", "version 1");

    memcpy(img, example, sizeof img);
    img[266] ^= 1;
    expect_detail(open_mutated(img, sizeof img, &r), "TOC", "CRC");

    memcpy(img, example, sizeof img);
    img[217 + 7] = 0xf0; /* TOC.symbols -> 240: its len runs past the end */
    fix_crc(img, 217, 265);
    expect_detail(open_mutated(img, sizeof img, &r), "symbol table", "exceeds");
    memcpy(img + 217, "\xff\xff\xff\xff\0\0\0\0", 8);
    fix_crc(img, 217, 265);
    expect_detail(open_mutated(img, sizeof img, &r), "symbol table", "beyond");

    memcpy(img, example, sizeof img);
    img[16] ^= 0x20;
    expect_detail(open_mutated(img, sizeof img, &r), "symbol table", "CRC");
    img[16] ^= 0x20;
    img[24] = 'z'; /* "z" after "b": unsorted */
    fix_crc(img, 9, 31);
    expect_detail(open_mutated(img, sizeof img, &r), "symbol table", "sorted");
    memcpy(img, example, sizeof img);
    img[12] = 6; /* one symbol more than the table holds */
    fix_crc(img, 9, 31);
    expect_detail(open_mutated(img, sizeof img, &r), "symbol table", "truncated");

    memcpy(img, example, sizeof img);
    img[195] ^= 1;
    expect_detail(open_mutated(img, sizeof img, &r), "postings offset table", "CRC");
    memcpy(img, example, sizeof img);
    img[211] = 0xff; /* (a, b) list at 16383 */
    img[212] = 0x7f;
    fix_crc(img, 183, 213);
    expect_detail(open_mutated(img, sizeof img, &r), "postings offset table", "beyond file size");
    memcpy(img, example, sizeof img);
    img[187] = 3;
    fix_crc(img, 183, 213);
    expect_detail(open_mutated(img, sizeof img, &r), "postings offset table", "keys");
    memcpy(img, example, sizeof img);
    img[208] = 'c'; /* label name "c" is no symbol */
    fix_crc(img, 183, 213);
    expect_detail(open_mutated(img, sizeof img, &r), "postings offset table", "not in the symbol table");
    memcpy(img, example, sizeof img);
    img[208] = 'A'; /* ("A", "b") after ("__name__", "foo") */
    fix_crc(img, 183, 213);
    expect_detail(open_mutated(img, sizeof img, &r), "postings offset table", "not sorted");
    memcpy(img, example, sizeof img);
    img[186] = 4; /* entry count 4, only 3 present */
    fix_crc(img, 183, 213);
    expect_detail(open_mutated(img, sizeof img, &r), "postings offset table", "truncated");
}

static void test_access_errors(void **state) {
    (void)state;
    uint8_t img[sizeof example];
    st_index_reader_t *r;
    st_postings_t p;
    st_labels_t l;
    st_chunk_meta_t *c;
    size_t nc;

    memcpy(img, example, sizeof img);
    img[147] ^= 1; /* the ID of (a, b) */
    assert_int_equal(open_mutated(img, sizeof img, &r), 0);
    expect_detail(st_index_postings(r, "a", "b", &p), "postings list a=\"b\"", "CRC");
    assert_null(p.ids);
    assert_int_equal(st_index_postings(r, "__name__", "foo", &p), 0);
    st_postings_free(&p);
    st_index_reader_free(r);

    memcpy(img, example, sizeof img);
    img[143] = 2; /* count 2 in a list of len 8 */
    fix_crc(img, 140, 148);
    assert_int_equal(open_mutated(img, sizeof img, &r), 0);
    expect_detail(st_index_postings(r, "a", "b", &p), "postings list", "length");
    st_index_reader_free(r);

    memcpy(img, example, sizeof img);
    img[211] = 0xe4; /* (a, b) list at 100 (two-byte uvarint), inside a label index */
    img[212] = 0x00;
    fix_crc(img, 183, 213);
    assert_int_equal(open_mutated(img, sizeof img, &r), 0);
    expect_detail(st_index_postings(r, "a", "b", &p), "postings list a=\"b\" at offset 100", NULL);
    st_index_reader_free(r);

    memcpy(img, example, sizeof img);
    assert_int_equal(open_mutated(img, sizeof img, &r), 0);
    expect_detail(st_index_series(r, 17, &l, &c, &nc), "series 17", "beyond file size");
    expect_detail(st_index_series(r, UINT32_MAX, &l, &c, &nc), "series", "beyond file size");
    expect_detail(st_index_series(r, 4, &l, &c, &nc), "series 4", NULL); /* a label index */
    expect_detail(st_index_series(r, 16, &l, &c, &nc), "series 16", "length");
    assert_null(l.v);
    assert_null(c);
    st_index_reader_free(r);

    memcpy(img, example, sizeof img);
    img[59] = 9; /* chunk ref */
    assert_int_equal(open_mutated(img, sizeof img, &r), 0);
    expect_detail(st_index_series(r, 3, &l, &c, &nc), "series 3", "CRC");
    st_index_reader_free(r);

    memcpy(img, example, sizeof img);
    img[51] = 5; /* value ref 5 of 5 symbols */
    fix_crc(img, 49, 60);
    assert_int_equal(open_mutated(img, sizeof img, &r), 0);
    expect_detail(st_index_series(r, 3, &l, &c, &nc), "series 3", "symbol ref 5 out of range");
    st_index_reader_free(r);

    memcpy(img, example, sizeof img);
    img[52] = 1; /* second label name ref equals the first */
    fix_crc(img, 49, 60);
    assert_int_equal(open_mutated(img, sizeof img, &r), 0);
    expect_detail(st_index_series(r, 3, &l, &c, &nc), "series 3", "sorted");
    st_index_reader_free(r);

    memcpy(img, example, sizeof img);
    img[54] = 2; /* two chunks, but only one encoded */
    fix_crc(img, 49, 60);
    assert_int_equal(open_mutated(img, sizeof img, &r), 0);
    expect_detail(st_index_series(r, 3, &l, &c, &nc), "series 3", NULL);
    st_index_reader_free(r);

    memcpy(img, example, sizeof img);
    img[51] = 0; /* value "" */
    fix_crc(img, 49, 60);
    assert_int_equal(open_mutated(img, sizeof img, &r), 0);
    expect_detail(st_index_series(r, 3, &l, &c, &nc), "series 3", "empty value");
    st_index_reader_free(r);

    st_errclear();
    assert_int_equal(st_index_reader_open(&r, "/nonexistent/index"), ST_ENOTFOUND);
    expect_detail(ST_ENOTFOUND, "/nonexistent/index", NULL);
}

static void test_writer_rejects(void **state) {
    (void)state;
    char *path = tmp_path("rejects");
    st_index_writer_t *w;
    assert_int_equal(st_index_writer_open(&w, path), 0);
    add_symbols(w, (const char *const[]){"__name__", "a", "b"}, 3);
    expect_detail(st_index_writer_add_symbol(w, "b", 1), "symbol table", "not after");
    expect_detail(st_index_writer_add_symbol(w, "a", 1), "symbol table", NULL);
    assert_int_equal(st_index_writer_add_symbol(w, "foo", 3), 0);

    st_labels_t la, lb, lx;
    st_label_t pa[] = {st_label("__name__", "foo"), st_label("a", "a")};
    st_label_t pb[] = {st_label("__name__", "foo"), st_label("a", "b")};
    st_label_t px[] = {st_label("__name__", "foo"), st_label("a", "x")};
    assert_int_equal(st_labels_from_pairs(&la, pa, 2), 0);
    assert_int_equal(st_labels_from_pairs(&lb, pb, 2), 0);
    assert_int_equal(st_labels_from_pairs(&lx, px, 2), 0);
    st_chunk_meta_t c[2] = {{0, 10, 8}, {11, 20, 100}};
    st_chunk_meta_t overlap[2] = {{0, 10, 8}, {10, 20, 100}};
    expect_detail(st_index_writer_add_series(w, &lb, c, 0, NULL), "series", "at least one chunk");
    expect_detail(st_index_writer_add_series(w, &lb, overlap, 2, NULL), "series", "overlapping");
    expect_detail(st_index_writer_add_series(w, &lx, c, 2, NULL), "series", "not in the symbol table");
    uint32_t id;
    assert_int_equal(st_index_writer_add_series(w, &lb, c, 2, &id), 0);
    expect_detail(st_index_writer_add_series(w, &lb, c, 2, NULL), "series", "ascending");
    expect_detail(st_index_writer_add_series(w, &la, c, 2, NULL), "series", "ascending");
    expect_detail(st_index_writer_add_symbol(w, "zzz", 3), "symbol table", "after the first series");
    assert_int_equal(st_index_writer_close(w), 0);
    st_index_writer_free(w);

    /* the rejected calls left no trace */
    st_index_reader_t *r;
    assert_int_equal(st_index_reader_open(&r, path), 0);
    assert_int_equal(st_index_symbol_count(r), 4);
    st_postings_t p;
    assert_int_equal(st_index_postings(r, "", "", &p), 0);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.ids[0], id);
    st_postings_free(&p);
    st_index_reader_free(r);

    expect_detail(st_index_writer_open(&w, "/nonexistent/dir/index"), "/nonexistent/dir/index", "open");
    assert_null(w);
    st_labels_free(&la);
    st_labels_free(&lb);
    st_labels_free(&lx);
    unlink(path);
    free(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_bytes), cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_empty_index),   cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_access_errors), cmocka_unit_test(test_writer_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
