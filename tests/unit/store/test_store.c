/* The store gateway over a FILESYSTEM bucket, against the mapped block
 * reader on the same block (a different read path: whole-file mmap, no
 * index-header, no ranged reads):
 *  - postings for every matcher type (=, !=, =~, !~, matchers that match
 *    "", labels that do not exist, negative-only sets) equal st_block_postings;
 *  - series entries (labels, chunk metas) and chunk bytes equal
 *    st_index_series / st_chunk_reader_get, also with tiny first-read
 *    estimates (every entry and chunk read twice) and from the cache;
 *  - bytes fetched: a run of adjacent series costs one GET of about their
 *    entries (up to the next wanted ID, the last one a guess from the
 *    block's mean entry, cut at the end of the series section), not 64 KiB
 *    per query; the same for their chunks; an entry far above the mean is
 *    read again, whole;
 *  - sync: partial uploads, deletion marks, corrupt indexes (skipped and
 *    counted, the rest served), --min-time/--max-time, relabel keep and
 *    hashmod sharding (checked with OpenSSL's MD5), unloading. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "st_test.h"
#include "store.h"
#include "strata/block.h"
#include "strata/bucket.h"
#include "strata/err.h"
#include "strata/fileutil.h"

#define NSERIES 400
#define HOUR ((int64_t)3600 * 1000)

static char tmproot[4096];
static char *bucket_dir, *local_dir;

static st_objstore_t *open_bucket(const char *dir) {
    char yaml[8192];
    snprintf(yaml, sizeof yaml, "type: FILESYSTEM\nconfig:\n  directory: %s\n", dir);
    st_objstore_t *b = NULL;
    assert_int_equal(st_mkdir_p(dir, 0755), 0);
    assert_int_equal(st_objstore_open(&b, yaml, strlen(yaml)), 0);
    return b;
}

static st_labels_t labels2(const char *n1, const char *v1, const char *n2, const char *v2) {
    st_label_t p[2] = {st_label(n1, v1)};
    if (n2) p[1] = st_label(n2, v2);
    st_labels_t l;
    assert_int_equal(st_labels_from_pairs(&l, p, n2 ? 2 : 1), 0);
    return l;
}

/* NSERIES series over [start, start + 1h): four names, two jobs, one
 * instance each, env absent / prod / dev, 2-3 chunks each. */
static char *make_block(int64_t start, int nseries) {
    st_block_builder_t *b;
    assert_int_equal(st_block_builder_new(&b, 2 * HOUR), 0);
    const char *names[] = {"a", "b", "c", "d_total"};
    for (int i = 0; i < nseries; i++) {
        char inst[32];
        snprintf(inst, sizeof inst, "i%d", i);
        const char *env = i % 5 == 0 ? "" : i % 5 == 1 ? "prod" : "dev";
        st_label_t p[] = {st_label("__name__", names[i % 4]), st_label("job", i % 3 == 0 ? "x" : "y"),
                          st_label("instance", inst), st_label("env", env)};
        st_labels_t l;
        assert_int_equal(st_labels_from_pairs(&l, p, 4), 0);
        int n = 150 + i % 200;
        for (int k = 0; k < n; k++)
            assert_int_equal(st_block_builder_append(b, &l, start + (int64_t)k * (HOUR / n), (double)(i * k % 977)), 0);
        st_labels_free(&l);
    }
    char *dir = NULL;
    assert_int_equal(st_block_builder_write(b, local_dir, &dir), 0);
    st_block_builder_free(b);
    return dir;
}

static void upload(st_objstore_t *bkt, const char *dir, const st_labels_t *ext) {
    st_thanos_t th = {.labels = *ext, .source = (char *)"test"};
    int rc = st_bucket_upload_block(bkt, dir, &th, NULL, NULL);
    if (rc) fail_msg("upload %s: %s", dir, st_errdetail(rc));
}

static int setup(void **state) {
    (void)state;
    if (st_test_mkdtemp(tmproot, sizeof tmproot, "store")) return -1;
    bucket_dir = st_path_join(tmproot, "bkt");
    local_dir = st_path_join(tmproot, "local");
    return st_mkdir_p(local_dir, 0755) ? -1 : 0;
}

static int teardown(void **state) {
    (void)state;
    free(bucket_dir);
    free(local_dir);
    return st_rm_rf(tmproot);
}

/* ---- one block, ranged reads vs the mapped reader ---- */

typedef struct {
    const char *name;
    st_match_type_t type;
    const char *value;
} m_t;

static void make_matchers(st_matchers_t *ms, const m_t *m, size_t n) {
    ms->v = calloc(n ? n : 1, sizeof *ms->v);
    ms->n = n;
    for (size_t i = 0; i < n; i++) assert_int_equal(st_matcher_new(&ms->v[i], m[i].type, m[i].name, m[i].value), 0);
}

#define EQ ST_MATCH_EQ
#define NEQ ST_MATCH_NEQ
#define RE ST_MATCH_RE
#define NRE ST_MATCH_NRE

static const m_t sets[][3] = {
    {{"__name__", EQ, "a"}},
    {{"__name__", NEQ, "a"}},
    {{"__name__", RE, "a|b"}},
    {{"__name__", RE, "d_.*"}},
    {{"__name__", NRE, "a|b"}},
    {{"__name__", RE, ".*"}},
    {{"__name__", RE, ".+"}},
    {{"job", EQ, "x"}, {"__name__", RE, ".+"}},
    {{"env", EQ, ""}},
    {{"env", NEQ, ""}},
    {{"env", RE, ""}},
    {{"env", RE, "|prod"}},
    {{"env", NRE, "prod"}},
    {{"env", NRE, ""}},
    {{"env", NRE, "prod|dev"}},
    {{"nonexistent", EQ, "x"}},
    {{"nonexistent", NEQ, "x"}},
    {{"nonexistent", RE, ".*"}},
    {{"nonexistent", RE, ".+"}},
    {{"nonexistent", NRE, ".+"}},
    {{"__name__", EQ, "a"}, {"instance", RE, "i1.*"}},
    {{"__name__", EQ, "a"}, {"instance", NRE, "i1.*"}, {"env", NEQ, "dev"}},
    {{"job", EQ, "x"}, {"job", EQ, "y"}},
    {{"__name__", EQ, "nope"}},
    {{"instance", RE, "i(1|22|3.)"}, {"env", NRE, "dev"}},
    {{"job", NEQ, "x"}, {"env", NEQ, "prod"}},
    {{"instance", EQ, "i7"}},
    {{"__name__", RE, "(?i)A"}},
};
static const size_t nsets_m[] = {1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 2, 1, 2, 2, 1, 1};

static store_block_t *load_only_block(store_t *st, st_objstore_t *bkt) {
    st_bucket_block_t *v = NULL;
    size_t n = 0;
    assert_int_equal(st_bucket_list(bkt, ST_BUCKET_LIST_MARKERS, &v, &n), 0);
    assert_int_equal(n, 1);
    store_block_t *b = NULL;
    int rc = store_block_load(st, &v[0], &b);
    if (rc) fail_msg("load: %s", st_errdetail(rc));
    st_bucket_blocks_free(v, n);
    return b;
}

static void check_block(store_block_t *sb, const st_block_t *lb) {
    store_fetch_t f = {NULL};
    assert_int_equal(sizeof sets / sizeof sets[0], sizeof nsets_m / sizeof nsets_m[0]);
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
        st_matchers_t ms;
        make_matchers(&ms, sets[s], nsets_m[s]);
        st_postings_t want, got;
        assert_int_equal(st_block_postings(lb, &ms, &want), 0);
        int rc = store_block_postings(sb, &ms, &f, &got);
        if (rc) fail_msg("set %zu: %s", s, st_errdetail(rc));
        if (got.n != want.n) fail_msg("matcher set %zu: %zu series, want %zu", s, got.n, want.n);
        if (want.n) assert_memory_equal(got.ids, want.ids, want.n * sizeof *want.ids);
        st_postings_free(&want);
        st_postings_free(&got);
        st_matchers_free(&ms);
    }
    /* no matchers: every series */
    st_matchers_t none = {0};
    st_postings_t all, all2;
    assert_int_equal(st_block_postings(lb, &none, &all), 0);
    assert_int_equal(store_block_postings(sb, &none, &f, &all2), 0);
    assert_int_equal(all.n, all2.n);
    assert_int_equal(all.n, NSERIES);
    assert_memory_equal(all.ids, all2.ids, all.n * sizeof *all.ids);

    /* every series entry, in two batches, and every chunk */
    store_series_t *ser = calloc(all.n, sizeof *ser);
    size_t half = all.n / 2;
    assert_int_equal(store_block_series(sb, all.ids, half, all.ids[half], &f, ser), 0);
    assert_int_equal(store_block_series(sb, all.ids + half, all.n - half, 0, &f, ser + half), 0);
    size_t nreq = 0;
    for (size_t i = 0; i < all.n; i++) nreq += ser[i].nchunks;
    store_chunk_req_t *reqs = calloc(nreq, sizeof *reqs);
    size_t r = 0;
    for (size_t i = 0; i < all.n; i++) {
        st_labels_t l;
        st_chunk_meta_t *c;
        size_t nc;
        assert_int_equal(st_index_series(st_block_index(lb), all.ids[i], &l, &c, &nc), 0);
        assert_true(st_labels_equal(&l, &ser[i].lbls));
        assert_int_equal(nc, ser[i].nchunks);
        assert_memory_equal(c, ser[i].chunks, nc * sizeof *c);
        /* requests in reverse order: the fetcher sorts them itself */
        for (size_t k = 0; k < nc; k++) reqs[nreq - 1 - r++] = (store_chunk_req_t){.ref = c[k].ref, .tag = i};
        st_labels_free(&l);
        free(c);
    }
    store_bufs_t bufs = {0};
    assert_int_equal(store_block_chunks(sb, reqs, nreq, &f, &bufs), 0);
    for (size_t k = 0; k < nreq; k++) {
        uint8_t enc;
        const uint8_t *data;
        size_t len;
        assert_int_equal(st_chunk_reader_get(st_block_chunks(lb), reqs[k].ref, &enc, &data, &len), 0);
        assert_int_equal(len, reqs[k].len);
        assert_memory_equal(data, reqs[k].data, len);
    }
    store_bufs_free(&bufs);
    free(reqs);
    for (size_t i = 0; i < all.n; i++) store_series_free(&ser[i]);
    free(ser);
    st_postings_free(&all);
    st_postings_free(&all2);
}

static void test_block_reads(void **state) {
    (void)state;
    char *bdir = st_path_join(tmproot, "reads-bkt");
    st_objstore_t *bkt = open_bucket(bdir);
    char *dir = make_block(0, NSERIES);
    st_labels_t ext = labels2("cluster", "c1", NULL, NULL);
    upload(bkt, dir, &ext);
    st_block_t *lb;
    assert_int_equal(st_block_open(&lb, dir), 0);

    char *data = st_path_join(tmproot, "reads-data");
    for (int pass = 0; pass < 3; pass++) {
        /* 0: defaults, no cache; 1: tiny estimates (everything read twice);
         * 2: with a cache, twice (the second run from the cache) */
        store_t st;
        assert_int_equal(store_init(&st, bkt, data, pass == 2 ? 64 << 20 : 0), 0);
        if (pass == 1) {
            st.series_estimate = 3;
            st.chunk_estimate = 2;
        }
        store_block_t *sb = load_only_block(&st, bkt);
        assert_true(st_labels_equal(&sb->ext, &ext));
        check_block(sb, lb);
        if (pass == 1) assert_true(atomic_load(&st.m.fetched_series) > 0);
        if (pass == 2) {
            uint64_t gets = atomic_load(&st.m.gets);
            check_block(sb, lb);
            assert_true(atomic_load(&st.m.postings_hits) > 0);
            assert_int_equal(atomic_load(&st.m.series_hits), NSERIES);
            /* only chunks (not cached) were read the second time */
            uint64_t chunk_gets = atomic_load(&st.m.gets) - gets;
            assert_true(chunk_gets >= 1 && chunk_gets <= 4);
        }
        store_block_unref(sb);
        store_destroy(&st);
    }
    /* the index-header is kept on disk and reused by the next load */
    char path[8192];
    snprintf(path, sizeof path, "%s/%s/index-header", data, strrchr(dir, '/') + 1);
    assert_true(st_path_exists(path));
    store_t st;
    assert_int_equal(store_init(&st, bkt, data, 0), 0);
    store_block_t *sb = load_only_block(&st, bkt);
    assert_int_equal(atomic_load(&st.m.fetched_index_header), 0);
    store_block_unref(sb);
    store_destroy(&st);

    st_block_close(lb);
    st_labels_free(&ext);
    free(dir);
    free(data);
    st_objstore_close(bkt);
    free(bdir);
}

/* ---- bytes fetched ---- */

typedef struct {
    uint64_t series, chunks, series_gets, chunk_gets;
} fetched_t;

static fetched_t fetched(store_t *st) {
    return (fetched_t){atomic_load(&st->m.fetched_series), atomic_load(&st->m.fetched_chunks),
                       atomic_load(&st->m.gets), 0};
}

/* Read ids[0..n) (next as store_block_series takes it) and their chunks;
 * returns what that fetched. Entries are checked against the mapped
 * reader. */
static fetched_t read_run(store_t *st, store_block_t *sb, const st_block_t *lb, const uint32_t *ids, size_t n,
                          uint32_t next) {
    store_fetch_t f = {NULL};
    fetched_t before = fetched(st);
    store_series_t *ser = calloc(n, sizeof *ser);
    int rc = store_block_series(sb, ids, n, next, &f, ser);
    if (rc) fail_msg("series: %s", st_errdetail(rc));
    fetched_t mid = fetched(st);
    size_t nreq = 0;
    for (size_t i = 0; i < n; i++) nreq += ser[i].nchunks;
    store_chunk_req_t *reqs = calloc(nreq, sizeof *reqs);
    size_t r = 0;
    for (size_t i = 0; i < n; i++) {
        st_labels_t l;
        st_chunk_meta_t *c;
        size_t nc;
        assert_int_equal(st_index_series(st_block_index(lb), ids[i], &l, &c, &nc), 0);
        assert_true(st_labels_equal(&l, &ser[i].lbls));
        assert_int_equal(nc, ser[i].nchunks);
        assert_memory_equal(c, ser[i].chunks, nc * sizeof *c);
        for (size_t k = 0; k < nc; k++) reqs[r++] = (store_chunk_req_t){.ref = c[k].ref};
        st_labels_free(&l);
        free(c);
        store_series_free(&ser[i]);
    }
    store_bufs_t bufs = {0};
    assert_int_equal(store_block_chunks(sb, reqs, nreq, &f, &bufs), 0);
    for (size_t k = 0; k < nreq; k++) {
        uint8_t enc;
        const uint8_t *data;
        size_t len;
        assert_int_equal(st_chunk_reader_get(st_block_chunks(lb), reqs[k].ref, &enc, &data, &len), 0);
        assert_int_equal(len, reqs[k].len);
        assert_memory_equal(data, reqs[k].data, len);
    }
    store_bufs_free(&bufs);
    free(reqs);
    free(ser);
    fetched_t after = fetched(st);
    return (fetched_t){mid.series - before.series, after.chunks - mid.chunks, mid.series_gets - before.series_gets,
                       after.series_gets - mid.series_gets};
}

/* Offset of the first chunk of series id (chunks are written in series
 * order, so a run of series has its chunks in one stretch). */
static uint64_t first_chunk_off(const st_block_t *lb, uint32_t id) {
    st_chunk_meta_t *c;
    size_t nc;
    assert_int_equal(st_index_series(st_block_index(lb), id, NULL, &c, &nc), 0);
    uint64_t off = c[0].ref & 0xffffffffu;
    free(c);
    return off;
}

static void test_fetch_bytes(void **state) {
    (void)state;
    char *bdir = st_path_join(tmproot, "bytes-bkt");
    st_objstore_t *bkt = open_bucket(bdir);
    char *dir = make_block(0, NSERIES);
    st_labels_t ext = labels2("cluster", "c1", NULL, NULL);
    upload(bkt, dir, &ext);
    st_block_t *lb;
    assert_int_equal(st_block_open(&lb, dir), 0);
    char *data = st_path_join(tmproot, "bytes-data");
    store_t st;
    assert_int_equal(store_init(&st, bkt, data, 0), 0); /* no cache: every read goes to the bucket */
    store_block_t *sb = load_only_block(&st, bkt);
    assert_true(sb->series_start > 5 && sb->series_end > sb->series_start && sb->series_end < sb->index_size);
    assert_true(sb->series_mean > 0 && sb->chunk_mean > 0);
    st_postings_t all;
    st_matchers_t none = {0};
    store_fetch_t f = {NULL};
    assert_int_equal(store_block_postings(sb, &none, &f, &all), 0);
    assert_int_equal(all.n, NSERIES);
    /* the section holds every entry: the last one ends at its end, after
     * at most 15 bytes of padding */
    assert_true(sb->series_start <= (uint64_t)all.ids[0] * 16);

    /* 50 adjacent series in the middle: one GET for the entries, whose
     * bytes are their span plus at most the guess for the last one */
    const size_t a = 100, n = 50;
    uint64_t span = ((uint64_t)all.ids[a + n] - all.ids[a]) * 16;
    uint64_t cspan = first_chunk_off(lb, all.ids[a + n]) - first_chunk_off(lb, all.ids[a]);
    fetched_t got = read_run(&st, sb, lb, all.ids + a, n, 0);
    uint64_t guess = 4 * sb->series_mean < 1024 ? 1024 : 4 * sb->series_mean;
    print_message("50 adjacent series: entries %llu bytes, fetched %llu; chunks %llu bytes, fetched %llu\n",
                  (unsigned long long)span, (unsigned long long)got.series, (unsigned long long)cspan,
                  (unsigned long long)got.chunks);
    assert_true(got.series >= span && got.series <= span + guess);
    assert_true(got.series < span + 4096); /* not a 64 KiB guess */
    assert_true(got.chunks >= cspan && got.chunks <= cspan + 4 * sb->chunk_mean + 2048);
    assert_int_equal(got.series_gets, 1);
    assert_int_equal(got.chunk_gets, 1);
    /* the following ID known (the next batch's first): exactly the span */
    got = read_run(&st, sb, lb, all.ids + a, n, all.ids[a + n]);
    assert_int_equal(got.series, span);
    /* the last 10 series: cut at the end of the series section */
    got = read_run(&st, sb, lb, all.ids + NSERIES - 10, 10, 0);
    assert_int_equal(got.series, sb->series_end - (uint64_t)all.ids[NSERIES - 10] * 16);
    assert_true(got.series < ((uint64_t)all.ids[NSERIES - 1] - all.ids[NSERIES - 10]) * 16 + 1024);
    /* every 7th series: ranges up to the next wanted ID, merged */
    uint32_t sparse[40];
    for (size_t i = 0; i < 40; i++) sparse[i] = all.ids[i * 7];
    got = read_run(&st, sb, lb, sparse, 40, 0);
    assert_true(got.series <= ((uint64_t)sparse[39] - sparse[0]) * 16 + guess);
    assert_int_equal(got.series_gets, 1);
    st_postings_free(&all);
    store_block_unref(sb);
    store_destroy(&st);
    st_block_close(lb);
    free(dir);
    st_objstore_close(bkt);
    free(bdir);
    free(data);

    /* one series with 600 chunks among 99 with one: its entry is far above
     * 4 x the mean, so read alone it takes two GETs, the second of its
     * exact size, and decodes like the mapped reader's */
    st_block_builder_t *bb;
    assert_int_equal(st_block_builder_new(&bb, 2 * HOUR), 0);
    for (int i = 0; i < 100; i++) {
        char inst[32];
        snprintf(inst, sizeof inst, "i%03d", i);
        st_labels_t l = labels2("__name__", "m", "instance", inst);
        int nsamples = i == 50 ? 72000 : 60;
        for (int k = 0; k < nsamples; k++)
            assert_int_equal(st_block_builder_append(bb, &l, 2 * HOUR + (int64_t)k * (HOUR / 36000), (double)k), 0);
        st_labels_free(&l);
    }
    assert_int_equal(st_block_builder_write(bb, local_dir, &dir), 0);
    st_block_builder_free(bb);
    bdir = st_path_join(tmproot, "bytes-bkt2");
    bkt = open_bucket(bdir);
    upload(bkt, dir, &ext);
    assert_int_equal(st_block_open(&lb, dir), 0);
    data = st_path_join(tmproot, "bytes-data2");
    assert_int_equal(store_init(&st, bkt, data, 0), 0);
    sb = load_only_block(&st, bkt);
    assert_int_equal(store_block_postings(sb, &none, &f, &all), 0);
    assert_int_equal(all.n, 100);
    uint64_t big = ((uint64_t)all.ids[51] - all.ids[50]) * 16;
    guess = 4 * sb->series_mean < 1024 ? 1024 : 4 * sb->series_mean;
    assert_true(big > guess);
    got = read_run(&st, sb, lb, all.ids + 50, 1, 0);
    assert_int_equal(got.series_gets, 2);
    assert_true(got.series <= guess + big);
    /* bounded by the next ID instead: one GET of exactly the entry */
    got = read_run(&st, sb, lb, all.ids + 50, 1, all.ids[51]);
    assert_int_equal(got.series_gets, 1);
    assert_int_equal(got.series, big);
    /* every series: one GET, the section from the first entry on */
    got = read_run(&st, sb, lb, all.ids, all.n, 0);
    assert_int_equal(got.series_gets, 1);
    assert_int_equal(got.series, sb->series_end - (uint64_t)all.ids[0] * 16);
    st_postings_free(&all);
    store_block_unref(sb);
    store_destroy(&st);
    st_block_close(lb);
    free(dir);
    free(data);
    st_labels_free(&ext);
    st_objstore_close(bkt);
    free(bdir);
}

/* ---- sync ---- */

static bool loaded(store_t *st, const char *ulid) {
    for (size_t i = 0; i < st->nblocks; i++)
        if (strcmp(st->blocks[i]->ulid, ulid) == 0) return true;
    return false;
}

static void sync_ok(store_t *st) {
    int rc = store_sync(st);
    if (rc) fail_msg("sync: %s", st_errdetail(rc));
}

static const char *base(const char *dir) { return strrchr(dir, '/') + 1; }

/* Prometheus's hashmod: md5 of the value, last 8 bytes big-endian, mod m. */
static uint64_t hashmod(const char *s, uint64_t m) {
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    assert_int_equal(EVP_Digest(s, strlen(s), d, &dl, EVP_md5(), NULL), 1);
    assert_int_equal(dl, 16);
    uint64_t v = 0;
    for (int i = 8; i < 16; i++) v = v << 8 | d[i];
    return v % m;
}

static void test_sync(void **state) {
    (void)state;
    st_objstore_t *bkt = open_bucket(bucket_dir);
    st_labels_t c1 = labels2("cluster", "c1", "replica", "r"), c2 = labels2("cluster", "c2", "replica", "r");
    char *b1 = make_block(0, 20), *b2 = make_block(2 * HOUR, 20), *b3 = make_block(4 * HOUR, 20);
    char *b4 = make_block(6 * HOUR, 20), *b5 = make_block(8 * HOUR, 20);
    upload(bkt, b1, &c1);
    upload(bkt, b2, &c2);
    upload(bkt, b3, &c1);
    upload(bkt, b4, &c1);
    upload(bkt, b5, &c2);
    char name[256];
    /* b3 marked for deletion, b4 a partial upload (no meta.json) */
    st_marker_t mk = {.time_s = 1};
    assert_int_equal(st_ulid_parse(&mk.id, base(b3)), 0);
    assert_int_equal(st_bucket_write_marker(bkt, ST_MARK_DELETION, &mk), 0);
    snprintf(name, sizeof name, "%s/meta.json", base(b4));
    assert_int_equal(st_objstore_delete(bkt, name), 0);
    /* b5's index replaced by garbage of the same size */
    snprintf(name, sizeof name, "%s/index", base(b5));
    st_obj_attrs_t a;
    assert_int_equal(st_objstore_attributes(bkt, name, &a), 0);
    uint8_t *junk = malloc(a.size);
    memset(junk, 0x5a, a.size);
    assert_int_equal(st_objstore_upload(bkt, name, junk, a.size), 0);
    free(junk);

    char *data = st_path_join(tmproot, "sync-data");
    /* a leftover of an earlier run that the bucket no longer has */
    char stray[8192];
    snprintf(stray, sizeof stray, "%s/01ARZ3NDEKTSV4RRFFQ69G5FAV", data);
    assert_int_equal(st_mkdir_p(stray, 0755), 0);
    store_t st;
    assert_int_equal(store_init(&st, bkt, data, 1 << 20), 0);
    st.sync_concurrency = 3;
    sync_ok(&st);
    assert_int_equal(st.nblocks, 2);
    assert_true(loaded(&st, base(b1)) && loaded(&st, base(b2)));
    assert_int_equal(atomic_load(&st.m.block_load_failures), 1);
    assert_int_equal(st_path_exists(stray), 0);
    /* the failing block is tried again at the next sync */
    sync_ok(&st);
    assert_int_equal(st.nblocks, 2);
    assert_int_equal(atomic_load(&st.m.block_load_failures), 2);
    assert_int_equal(atomic_load(&st.m.block_loads), 2);

    /* --min-time: b1 ([0, 1h)) ends before 90m */
    st.min_time = (store_time_t){false, 90 * 60 * 1000};
    sync_ok(&st);
    assert_int_equal(st.nblocks, 1);
    assert_true(loaded(&st, base(b2)));
    char b1dir[8192];
    snprintf(b1dir, sizeof b1dir, "%s/%s", data, base(b1));
    assert_int_equal(st_path_exists(b1dir), 0); /* unloaded: index-header deleted */
    assert_int_equal(atomic_load(&st.m.block_drops), 1);
    /* --max-time before b2 starts: nothing */
    st.max_time = (store_time_t){false, 2 * HOUR - 1};
    sync_ok(&st);
    assert_int_equal(st.nblocks, 0);
    st.min_time = (store_time_t){false, INT64_MIN};
    st.max_time = (store_time_t){false, INT64_MAX};

    /* relabel keep on an external label */
    const char *keep = "- source_labels: [cluster]\n  regex: c1\n  action: keep\n";
    assert_int_equal(st_promconfig_parse_relabel(&st.relabel, keep, strlen(keep), "test"), 0);
    sync_ok(&st);
    assert_int_equal(st.nblocks, 1);
    assert_true(loaded(&st, base(b1)));
    st_relabel_list_free(&st.relabel);

    /* hashmod sharding over __block_id: two shards split the blocks */
    for (int shard = 0; shard < 2; shard++) {
        char cfg[512];
        snprintf(cfg, sizeof cfg,
                 "- source_labels: [__block_id]\n  modulus: 2\n  target_label: shard\n  action: hashmod\n"
                 "- source_labels: [shard]\n  regex: %d\n  action: keep\n",
                 shard);
        assert_int_equal(st_promconfig_parse_relabel(&st.relabel, cfg, strlen(cfg), "test"), 0);
        sync_ok(&st);
        size_t want = 0;
        const char *ids[] = {base(b1), base(b2)};
        for (int i = 0; i < 2; i++) {
            bool in = hashmod(ids[i], 2) == (uint64_t)shard;
            want += in;
            assert_int_equal(loaded(&st, ids[i]), in);
        }
        assert_int_equal(st.nblocks, want);
        st_relabel_list_free(&st.relabel);
    }

    /* a deletion mark on a served block removes it at the next sync */
    sync_ok(&st);
    assert_int_equal(st.nblocks, 2);
    assert_int_equal(st_ulid_parse(&mk.id, base(b2)), 0);
    assert_int_equal(st_bucket_write_marker(bkt, ST_MARK_DELETION, &mk), 0);
    store_block_t **snap;
    size_t nsnap;
    assert_int_equal(store_snapshot(&st, &snap, &nsnap), 0); /* a "query" holding the blocks */
    sync_ok(&st);
    assert_int_equal(st.nblocks, 1);
    assert_true(loaded(&st, base(b1)));
    /* the held block is still readable after its unload */
    for (size_t i = 0; i < nsnap; i++) {
        store_fetch_t f = {NULL};
        st_matchers_t none = {0};
        st_postings_t p;
        assert_int_equal(store_block_postings(snap[i], &none, &f, &p), 0);
        assert_int_equal(p.n, 20);
        st_postings_free(&p);
        store_block_unref(snap[i]);
    }
    free(snap);

    store_destroy(&st);
    st_labels_free(&c1);
    st_labels_free(&c2);
    free(b1), free(b2), free(b3), free(b4), free(b5);
    free(data);
    st_objstore_close(bkt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_reads),
        cmocka_unit_test(test_fetch_bytes),
        cmocka_unit_test(test_sync),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
