/* st_downsample_block: a 40h+ raw block of random series (built with the
 * block builder, one series with tombstones) to 5m and on to 1h, and raw
 * to 1h; the outputs open, keep the meta's compaction section and external
 * labels, and every series holds what the independent checks expect.
 * Bad blocks fail with ST_ECORRUPT and leave nothing behind. */
#include "ds_oracle.h"

#include <dirent.h>
#include <stdio.h>

#include "../../../shared/src/downsample/downsample_int.h"
#include "st_test.h"
#include "strata/block.h"
#include "strata/bucket.h"

#define NSERIES 40
#define T0 ((int64_t)1700000000000)
#define DEL_SERIES 3
#define DEL_MINT (T0 + 5 * 3600000)
#define DEL_MAXT (T0 + 7 * 3600000 + 12345)

static char tmproot[4096];

static int setup(void **state) {
    (void)state;
    return st_test_mkdtemp(tmproot, sizeof tmproot, "downsample");
}

static int teardown(void **state) {
    (void)state;
    return st_rm_rf(tmproot);
}

static size_t count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static st_labels_t series_labels(int i) {
    char v[16];
    snprintf(v, sizeof v, "%03d", i);
    st_label_t pairs[3] = {st_label("__name__", "ds_test"), st_label("i", v),
                           st_label("kind", i % 2 ? "counter" : "gauge")};
    st_labels_t l;
    assert_int_equal(st_labels_from_pairs(&l, pairs, 3), 0);
    return l;
}

static void set_thanos(const char *dir, const char *json) {
    st_meta_t m;
    assert_int_equal(st_meta_read(&m, dir), 0);
    free(m.thanos_json);
    m.thanos_json = strdup(json);
    assert_int_equal(st_meta_write(&m, dir), 0);
    st_meta_free(&m);
}

typedef struct {
    int i;
    dchunk_t *d;
    st_store_chunk_t *sc;
    size_t n;
} bseries_t;

/* Every series of a downsampled block, decoded (chunk bytes borrowed from
 * the open block). */
static bseries_t *read_block(const st_block_t *b, size_t *n) {
    const st_index_reader_t *ix = st_block_index(b);
    st_postings_t all;
    assert_int_equal(st_index_postings(ix, "", "", &all), 0);
    bseries_t *out = calloc(all.n + 1, sizeof *out);
    for (size_t s = 0; s < all.n; s++) {
        st_labels_t l;
        st_chunk_meta_t *cm;
        size_t nc;
        assert_int_equal(st_index_series(ix, all.ids[s], &l, &cm, &nc), 0);
        out[s].i = atoi(st_labels_get(&l, "i")->value);
        out[s].d = calloc(nc, sizeof *out[s].d);
        out[s].sc = calloc(nc, sizeof *out[s].sc);
        out[s].n = nc;
        for (size_t c = 0; c < nc; c++) {
            st_chunk_t ch = {cm[c].mint, cm[c].maxt, 0, NULL, 0};
            assert_int_equal(st_chunk_reader_get(st_block_chunks(b), cm[c].ref, &ch.encoding, &ch.data, &ch.len), 0);
            ds_decode(&ch, &out[s].d[c]);
            out[s].sc[c].mint = ch.mint;
            out[s].sc[c].maxt = ch.maxt;
            assert_int_equal(st_aggr_chunk_decode(ch.data, ch.len, &out[s].sc[c]), 0);
        }
        free(cm);
        st_labels_free(&l);
    }
    *n = all.n;
    st_postings_free(&all);
    return out;
}

static void free_series(bseries_t *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < s[i].n; c++) ds_dchunk_free(&s[i].d[c]);
        free(s[i].d);
        free(s[i].sc);
    }
    free(s);
}

static void check_meta(const st_block_t *src, const st_block_t *out, int64_t res) {
    const st_meta_t *a = st_block_meta(src), *b = st_block_meta(out);
    assert_memory_not_equal(&a->ulid, &b->ulid, sizeof a->ulid);
    assert_int_equal(a->min_time, b->min_time);
    assert_int_equal(a->max_time, b->max_time);
    assert_int_equal(a->level, b->level);
    assert_int_equal(a->nsources, b->nsources);
    assert_memory_equal(a->sources, b->sources, a->nsources * sizeof *a->sources);
    assert_int_equal(b->num_series, NSERIES);
    st_thanos_t th;
    assert_int_equal(st_thanos_parse(&th, b->thanos_json, "out"), 0);
    assert_int_equal(th.resolution, res);
    assert_string_equal(th.source, "compactor");
    assert_int_equal(th.labels.n, 1);
    assert_string_equal(st_labels_get(&th.labels, "replica")->value, "r1");
    assert_int_equal(th.nfiles, 0); /* the source's list would be wrong */
    st_thanos_free(&th);
}

static void test_block(void **state) {
    (void)state;
    /* the raw block */
    ts_t *raw[NSERIES];
    size_t nraw[NSERIES];
    st_block_builder_t *bb;
    assert_int_equal(st_block_builder_new(&bb, ST_DEFAULT_BLOCK_DURATION_MS), 0);
    for (int i = 0; i < NSERIES; i++) {
        nraw[i] = 3000 + (size_t)i * 40;
        raw[i] = ds_gen((uint64_t)i + 1000, i % 2 ? DS_COUNTER : DS_GAUGE, nraw[i], T0);
        st_labels_t l = series_labels(i);
        for (size_t k = 0; k < nraw[i]; k++) assert_int_equal(st_block_builder_append(bb, &l, raw[i][k].t, raw[i][k].v), 0);
        st_labels_free(&l);
    }
    uint64_t total = st_block_builder_num_samples(bb);
    char *rawparent = st_path_join(tmproot, "raw"), *dir = NULL;
    assert_int_equal(st_block_builder_write(bb, rawparent, &dir), 0);
    st_block_builder_free(bb);
    set_thanos(dir, "{\"labels\":{\"replica\":\"r1\"},\"downsample\":{\"resolution\":0},\"source\":\"sidecar\","
                    "\"segment_files\":[\"000001\"],\"files\":[{\"rel_path\":\"index\",\"size_bytes\":1}]}");
    /* tombstones on one series */
    st_block_t *src;
    assert_int_equal(st_block_open(&src, dir), 0);
    st_postings_t p;
    assert_int_equal(st_index_postings(st_block_index(src), "i", "003", &p), 0);
    assert_int_equal(p.n, 1);
    st_tombstone_t del = {p.ids[0], DEL_MINT, DEL_MAXT};
    st_tombstones_t ts = {&del, 1};
    st_postings_free(&p);
    st_block_close(src);
    assert_int_equal(st_tombstones_write(&ts, dir), 0);
    size_t w = 0;
    for (size_t k = 0; k < nraw[DEL_SERIES]; k++)
        if (raw[DEL_SERIES][k].t < DEL_MINT || raw[DEL_SERIES][k].t > DEL_MAXT) raw[DEL_SERIES][w++] = raw[DEL_SERIES][k];
    assert_true(w < nraw[DEL_SERIES]);
    nraw[DEL_SERIES] = w;
    assert_int_equal(st_block_open(&src, dir), 0);
    const st_meta_t *sm = st_block_meta(src);
    assert_true(sm->max_time - sm->min_time >= ST_DOWNSAMPLE_RANGE_5M);

    /* raw -> 5m */
    char *p5 = st_path_join(tmproot, "5m"), *d5 = NULL;
    st_downsample_stats_t st;
    assert_int_equal(st_downsample_block(src, ST_RES_RAW, ST_RES_5M, p5, &d5, &st), 0);
    assert_int_equal(st.series_in, NSERIES);
    assert_int_equal(st.series_out, NSERIES);
    assert_int_equal(st.samples_in, total);
    st_block_t *b5;
    assert_int_equal(st_block_open(&b5, d5), 0);
    check_meta(src, b5, ST_RES_5M);
    assert_int_equal(st_block_meta(b5)->num_samples, st.samples_out);
    assert_int_equal(st_block_meta(b5)->num_chunks, st.chunks_out);
    size_t n5;
    bseries_t *s5 = read_block(b5, &n5);
    assert_int_equal(n5, NSERIES);
    for (size_t s = 0; s < n5; s++) {
        int i = s5[s].i;
        assert_int_equal(i, (int)s); /* label order */
        ds_check_raw(raw[i], nraw[i], ST_RES_5M, s5[s].d, s5[s].n);
        if (i % 2) ds_check_counter(raw[i], nraw[i], s5[s].sc, s5[s].n);
    }

    /* 5m -> 1h, and raw -> 1h */
    char *p1 = st_path_join(tmproot, "1h"), *d1 = NULL, *d1r = NULL;
    assert_int_equal(st_downsample_block(b5, ST_RES_5M, ST_RES_1H, p1, &d1, NULL), 0);
    assert_int_equal(st_downsample_block(src, ST_RES_RAW, ST_RES_1H, p1, &d1r, NULL), 0);
    st_block_t *b1, *b1r;
    assert_int_equal(st_block_open(&b1, d1), 0);
    assert_int_equal(st_block_open(&b1r, d1r), 0);
    check_meta(src, b1, ST_RES_1H);
    check_meta(src, b1r, ST_RES_1H);
    size_t n1, n1r;
    bseries_t *s1 = read_block(b1, &n1), *s1r = read_block(b1r, &n1r);
    assert_int_equal(n1, NSERIES);
    assert_int_equal(n1r, NSERIES);
    for (size_t s = 0; s < n1; s++) {
        int i = s1[s].i;
        ds_check_raw(raw[i], nraw[i], ST_RES_1H, s1r[s].d, s1r[s].n);
        ds_grid_t gr, ga;
        ds_grid_init(&gr, raw[i][0].t, raw[i][nraw[i] - 1].t, ST_RES_1H);
        ds_grid_init(&ga, raw[i][0].t, raw[i][nraw[i] - 1].t, ST_RES_1H);
        ds_grid_raw(&gr, raw[i], nraw[i], ST_RES_1H);
        ds_grid_chunks(&ga, s1[s].d, s1[s].n, ST_RES_1H);
        ds_grid_equal(&gr, &ga);
        ds_grid_free(&gr);
        ds_grid_free(&ga);
        if (i % 2) ds_check_counter(raw[i], nraw[i], s1[s].sc, s1[s].n);
    }
    free_series(s1, n1);
    free_series(s1r, n1r);
    free_series(s5, n5);

    /* resolutions that do not fit: nothing written */
    char *bad = NULL;
    assert_int_equal(st_downsample_block(src, ST_RES_5M, ST_RES_1H, p1, &bad, NULL), ST_EINVAL); /* meta says raw */
    assert_int_equal(st_downsample_block(b5, ST_RES_5M, ST_RES_5M, p1, &bad, NULL), ST_EINVAL);
    assert_int_equal(st_downsample_block(b1, ST_RES_1H, ST_RES_5M, p1, &bad, NULL), ST_EINVAL);
    assert_null(bad);
    assert_int_equal(count_entries(p1), 2);

    st_block_close(b1);
    st_block_close(b1r);
    st_block_close(b5);
    st_block_close(src);
    for (int i = 0; i < NSERIES; i++) free(raw[i]);
    free(rawparent);
    free(dir);
    free(p5);
    free(d5);
    free(p1);
    free(d1);
    free(d1r);
}

/* A one-series block with the given chunks and thanos resolution. */
static char *write_block(const char *sub, const st_chunk_t *chunks, size_t n, int64_t res) {
    char *parent = st_path_join(tmproot, sub), *dir = NULL;
    st_block_writer_t *w;
    assert_int_equal(st_block_writer_open(&w, parent, NULL), 0);
    assert_int_equal(st_block_writer_add_symbol(w, "__name__", 8), 0);
    assert_int_equal(st_block_writer_add_symbol(w, "x", 1), 0);
    st_label_t pair = st_label("__name__", "x");
    st_labels_t l;
    assert_int_equal(st_labels_from_pairs(&l, &pair, 1), 0);
    assert_int_equal(st_block_writer_add_series(w, &l, chunks, n, 1), 0);
    st_labels_free(&l);
    st_block_writer_set_range(w, chunks[0].mint, chunks[n - 1].maxt + 1);
    assert_int_equal(st_block_writer_commit(w, NULL, &dir), 0);
    char json[128];
    snprintf(json, sizeof json, "{\"labels\":{\"replica\":\"r1\"},\"downsample\":{\"resolution\":%lld}}", (long long)res);
    set_thanos(dir, json);
    free(parent);
    return dir;
}

static int downsample_dir(const char *dir, int64_t src_res, int64_t res, const char *sub) {
    st_block_t *b;
    assert_int_equal(st_block_open(&b, dir), 0);
    char *parent = st_path_join(tmproot, sub), *out = NULL;
    int rc = st_downsample_block(b, src_res, res, parent, &out, NULL);
    if (rc) {
        assert_null(out);
        assert_int_equal(count_entries(parent), 0);
    }
    st_block_close(b);
    st_rm_rf(parent);
    free(parent);
    free(out);
    return rc;
}

static void test_bad_blocks(void **state) {
    (void)state;
    static const uint8_t junk[] = {0x00, 0x05, 0xff, 0x01};
    /* raw block, chunk of another encoding */
    st_chunk_t c = {1000, 2000, 2, junk, sizeof junk};
    char *d = write_block("enc2", &c, 1, 0);
    assert_int_equal(downsample_dir(d, ST_RES_RAW, ST_RES_5M, "o1"), ST_ECORRUPT);
    free(d);
    /* raw block, XOR chunk that does not decode */
    c.encoding = ST_CHUNK_ENC_XOR;
    d = write_block("xorbad", &c, 1, 0);
    assert_int_equal(downsample_dir(d, ST_RES_RAW, ST_RES_5M, "o2"), ST_ECORRUPT);
    free(d);
    /* raw block with an AggrChunk */
    static const uint8_t none[] = {0, 0, 0, 0, 0};
    c = (st_chunk_t){1000, 2000, ST_CHUNK_ENC_AGGR, none, sizeof none};
    d = write_block("rawaggr", &c, 1, 0);
    assert_int_equal(downsample_dir(d, ST_RES_RAW, ST_RES_5M, "o3"), ST_ECORRUPT);
    free(d);
    /* 5m block: an AggrChunk that does not decode */
    static const uint8_t trunc[] = {0x05, 0x01, 0x00};
    c = (st_chunk_t){1000, 2000, ST_CHUNK_ENC_AGGR, trunc, sizeof trunc};
    d = write_block("aggrbad", &c, 1, ST_RES_5M);
    assert_int_equal(downsample_dir(d, ST_RES_5M, ST_RES_1H, "o4"), ST_ECORRUPT);
    free(d);
    /* 5m block: a corrupt counter sub-chunk, and a corrupt count sub-chunk */
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a += ST_AGGR_COUNTER - ST_AGGR_COUNT) {
        st_xor_appender_t ok;
        assert_int_equal(st_xor_appender_init(&ok), 0);
        assert_int_equal(st_xor_append(&ok, 1000, 1), 0);
        st_store_chunk_t sc;
        memset(&sc, 0, sizeof sc);
        for (int k = ST_AGGR_COUNT; k <= ST_AGGR_COUNTER; k++) sc.data[k] = st_xor_bytes(&ok, &sc.len[k]);
        sc.data[a] = junk;
        sc.len[a] = sizeof junk;
        st_encbuf_t b;
        st_encbuf_init(&b, 0);
        assert_int_equal(st_aggr_chunk_encode(&sc, &b), 0);
        c = (st_chunk_t){1000, 2000, ST_CHUNK_ENC_AGGR, b.p, b.len};
        d = write_block(a == ST_AGGR_COUNT ? "cntbad" : "ctrbad", &c, 1, ST_RES_5M);
        assert_int_equal(downsample_dir(d, ST_RES_5M, ST_RES_1H, "o5"), ST_ECORRUPT);
        free(d);
        st_encbuf_free(&b);
        st_xor_appender_free(&ok);
    }
    /* 5m block, chunk of another encoding */
    c = (st_chunk_t){1000, 2000, 3, junk, sizeof junk};
    d = write_block("aggrenc3", &c, 1, ST_RES_5M);
    assert_int_equal(downsample_dir(d, ST_RES_5M, ST_RES_1H, "o6"), ST_ECORRUPT);
    free(d);
}

/* A 5m block holding a plain XOR chunk (old Thanos versions wrote some):
 * downsampled to 5m first, as Thanos does, then to 1h. */
static void test_xor_in_5m_block(void **state) {
    (void)state;
    size_t n = 2000;
    ts_t *raw = ds_gen(77, DS_COUNTER, n, T0);
    size_t m;
    ts_t *clean = ds_clean(raw, n, &m); /* XOR chunks of a block carry no NaN problem, keep it simple */
    st_xor_appender_t a;
    assert_int_equal(st_xor_appender_init(&a), 0);
    for (size_t i = 0; i < m; i++) assert_int_equal(st_xor_append(&a, clean[i].t, clean[i].v), 0);
    st_chunk_t c = {clean[0].t, clean[m - 1].t, ST_CHUNK_ENC_XOR, NULL, 0};
    c.data = st_xor_bytes(&a, &c.len);
    char *d = write_block("xor5m", &c, 1, ST_RES_5M);
    st_block_t *b;
    assert_int_equal(st_block_open(&b, d), 0);
    char *parent = st_path_join(tmproot, "xor5m-out"), *out = NULL;
    assert_int_equal(st_downsample_block(b, ST_RES_5M, ST_RES_1H, parent, &out, NULL), 0);
    st_block_t *b1;
    assert_int_equal(st_block_open(&b1, out), 0);
    const st_index_reader_t *ix = st_block_index(b1);
    st_postings_t all;
    assert_int_equal(st_index_postings(ix, "", "", &all), 0);
    assert_int_equal(all.n, 1);
    st_chunk_meta_t *cm;
    size_t nc;
    assert_int_equal(st_index_series(ix, all.ids[0], NULL, &cm, &nc), 0);
    dchunk_t *dc = calloc(nc, sizeof *dc);
    st_store_chunk_t *sc = calloc(nc, sizeof *sc);
    for (size_t k = 0; k < nc; k++) {
        st_chunk_t ch = {cm[k].mint, cm[k].maxt, 0, NULL, 0};
        assert_int_equal(st_chunk_reader_get(st_block_chunks(b1), cm[k].ref, &ch.encoding, &ch.data, &ch.len), 0);
        ds_decode(&ch, &dc[k]);
        sc[k].mint = ch.mint;
        sc[k].maxt = ch.maxt;
        assert_int_equal(st_aggr_chunk_decode(ch.data, ch.len, &sc[k]), 0);
    }
    ds_grid_t gr, ga;
    ds_grid_init(&gr, clean[0].t, clean[m - 1].t, ST_RES_1H);
    ds_grid_init(&ga, clean[0].t, clean[m - 1].t, ST_RES_1H);
    ds_grid_raw(&gr, clean, m, ST_RES_1H);
    ds_grid_chunks(&ga, dc, nc, ST_RES_1H);
    ds_grid_equal(&gr, &ga);
    ds_check_counter(clean, m, sc, nc);
    ds_grid_free(&gr);
    ds_grid_free(&ga);
    for (size_t k = 0; k < nc; k++) ds_dchunk_free(&dc[k]);
    free(dc);
    free(sc);
    free(cm);
    st_postings_free(&all);
    st_block_close(b1);
    st_block_close(b);
    st_xor_appender_free(&a);
    free(parent);
    free(out);
    free(d);
    free(clean);
    free(raw);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block),
        cmocka_unit_test(test_bad_blocks),
        cmocka_unit_test(test_xor_in_5m_block),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
