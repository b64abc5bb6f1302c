/* TSDB: appender semantics, visibility after commit, replay after close and
 * after a crash, a corrupt WAL tail, block cuts (boundaries, chunk cutting
 * equal to the block builder's, WAL checkpoint), GC, retention, the lock,
 * matchers over head + blocks, and readers racing the writer. */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/tsdb.h"
#include "strata/wal.h"
#include "st_test.h"

#define MIN_MS 60000

static char tmproot[4096];
static int dirseq;

static int setup(void **state) {
    (void)state;
    return st_test_mkdtemp(tmproot, sizeof tmproot, "tsdb");
}

static int teardown(void **state) {
    (void)state;
    return st_rm_rf(tmproot);
}

static char *fresh_dir(void) {
    char name[32];
    snprintf(name, sizeof name, "db%d", dirseq++);
    return st_path_join(tmproot, name);
}

static st_db_t *open_db(const char *dir, int64_t block_ms, int64_t retention_ms) {
    st_db_opts_t o;
    st_db_opts_default(&o, dir);
    o.block_duration_ms = block_ms;
    o.retention_ms = retention_ms;
    st_db_t *db = NULL;
    int rc = st_db_open(&db, &o);
    if (rc) fail_msg("st_db_open: %s", st_errdetail(rc));
    return db;
}

static st_labels_t mk(const char *name, const char *job) {
    st_label_t p[2] = {st_label("__name__", name), st_label("job", job ? job : "")};
    st_labels_t l;
    assert_int_equal(st_labels_from_pairs(&l, p, 2), 0);
    return l;
}

static void append(st_db_t *db, const char *name, const char *job, int64_t from, int64_t step, int n) {
    st_appender_t *a;
    assert_int_equal(st_db_appender(db, &a), 0);
    st_labels_t l = mk(name, job);
    uint64_t ref = 0;
    for (int i = 0; i < n; i++) {
        int64_t t = from + i * step;
        int rc = st_appender_add(a, &ref, i ? NULL : &l, t, (double)t / 1000);
        if (rc) fail_msg("add %s at %lld: %s", name, (long long)t, st_errdetail(rc));
    }
    st_labels_free(&l);
    assert_int_equal(st_appender_commit(a), 0);
}

typedef struct {
    size_t series, samples;
    int64_t mint, maxt;
    bool values_ok; /* every value equals t / 1000 */
} result_t;

static result_t query(st_db_t *db, const char *sel, int64_t mint, int64_t maxt) {
    st_matchers_t ms;
    assert_int_equal(st_selector_parse(&ms, sel), 0);
    st_series_set_t *set;
    int rc = st_db_select(db, &ms, mint, maxt, &set);
    if (rc) fail_msg("select %s: %s", sel, st_errdetail(rc));
    result_t r = {0, 0, INT64_MAX, INT64_MIN, true};
    while ((rc = st_series_set_next(set)) == 1) {
        r.series++;
        int64_t t, prev = INT64_MIN;
        double v;
        while ((rc = st_series_set_sample(set, &t, &v)) == 1) {
            assert_true(t > prev);
            prev = t;
            r.samples++;
            if (t < r.mint) r.mint = t;
            if (t > r.maxt) r.maxt = t;
            if (v != (double)t / 1000) r.values_ok = false;
        }
        assert_int_equal(rc, 0);
    }
    assert_int_equal(rc, 0);
    st_series_set_free(set);
    st_matchers_free(&ms);
    return r;
}

static void test_append_commit_select(void **state) {
    (void)state;
    char *dir = fresh_dir();
    st_db_t *db = open_db(dir, 2 * 3600 * 1000, 0);
    st_appender_t *a;
    assert_int_equal(st_db_appender(db, &a), 0);
    st_labels_t l = mk("up", "x");
    uint64_t ref = 0;
    assert_int_equal(st_appender_add(a, &ref, &l, 1000, 1), 0);
    assert_true(ref != 0);
    /* staged, not visible yet */
    result_t r = query(db, "up", 0, 10000);
    assert_int_equal(r.samples, 0);
    assert_int_equal(st_appender_add(a, &ref, NULL, 2000, 2), 0);
    assert_int_equal(st_appender_commit(a), 0);
    r = query(db, "up", 0, 10000);
    assert_int_equal(r.series, 1);
    assert_int_equal(r.samples, 2);
    r = query(db, "up", 1500, 10000); /* range clipping */
    assert_int_equal(r.samples, 1);

    /* rollback: nothing visible; the series exists with no samples */
    assert_int_equal(st_db_appender(db, &a), 0);
    st_labels_t l2 = mk("down", "x");
    uint64_t ref2 = 0;
    assert_int_equal(st_appender_add(a, &ref2, &l2, 1000, 1), 0);
    st_appender_rollback(a);
    r = query(db, "down", 0, 10000);
    assert_int_equal(r.series, 0);

    append(db, "a", "x", 0, 1000, 10);
    append(db, "a", "y", 0, 1000, 10);
    append(db, "b", "x", 0, 1000, 10);
    append(db, "c", NULL, 0, 1000, 10);
    assert_int_equal(query(db, "{job=\"x\"}", 0, 100000).series, 3); /* up, a, b */
    assert_int_equal(query(db, "{__name__=~\"a|b\"}", 0, 100000).series, 3);
    assert_int_equal(query(db, "a{job!=\"x\"}", 0, 100000).series, 1);
    assert_int_equal(query(db, "{__name__=~\".+\",job=\"\"}", 0, 100000).series, 1); /* c */
    assert_int_equal(query(db, "{job=~\"x|\",__name__=~\"[a-c]\"}", 0, 100000).series, 3); /* a x, b x, c */
    assert_int_equal(query(db, "nope", 0, 100000).series, 0);
    result_t all = query(db, "{__name__=~\".+\"}", 0, 100000);
    assert_int_equal(all.series, 5);
    assert_int_equal(all.samples, 42);

    st_db_stats_t st;
    st_db_stats(db, &st);
    assert_int_equal(st.head_series, 6);
    assert_int_equal(st.samples_appended_total, 42);
    assert_int_equal(st.head_min_time, 0);
    assert_int_equal(st.head_max_time, 9000);
    assert_true(st.wal_bytes > 0);
    st_labels_free(&l);
    st_labels_free(&l2);
    st_db_close(db);
    free(dir);
}

static void test_rejections(void **state) {
    (void)state;
    char *dir = fresh_dir();
    st_db_t *db = open_db(dir, 2 * 3600 * 1000, 0);
    append(db, "m", "x", 10000, 1000, 2); /* 10000, 11000 */
    st_appender_t *a;
    assert_int_equal(st_db_appender(db, &a), 0);
    st_labels_t l = mk("m", "x");
    uint64_t ref = 0;
    int rc = st_appender_add(a, &ref, &l, 5000, 1);
    assert_int_equal(rc, ST_EINVAL);
    assert_non_null(strstr(st_errdetail(rc), "out of order"));
    assert_true(ref != 0); /* the series is known */
    assert_int_equal(st_appender_add(a, &ref, NULL, 11000, 11), 0); /* exact duplicate: accepted, dropped */
    rc = st_appender_add(a, &ref, NULL, 11000, 99);
    assert_int_equal(rc, ST_EINVAL);
    assert_non_null(strstr(st_errdetail(rc), "duplicate"));
    /* order inside one appender */
    assert_int_equal(st_appender_add(a, &ref, NULL, 20000, 20), 0);
    assert_int_equal(st_appender_add(a, &ref, NULL, 15000, 15), ST_EINVAL);
    assert_int_equal(st_appender_add(a, &ref, NULL, 20000, 20), 0);
    assert_int_equal(st_appender_add(a, &ref, NULL, 20000, 21), ST_EINVAL);
    /* unknown ref without labels */
    uint64_t bogus = 987654321;
    rc = st_appender_add(a, &bogus, NULL, 30000, 1);
    assert_int_equal(rc, ST_ENOTFOUND);
    assert_int_equal(st_appender_commit(a), 0);
    result_t r = query(db, "m", 0, 100000);
    assert_int_equal(r.samples, 3);
    assert_int_equal(r.maxt, 20000);
    st_db_stats_t st;
    st_db_stats(db, &st);
    assert_int_equal(st.out_of_order_total, 2);

    /* the lock */
    st_db_opts_t o;
    st_db_opts_default(&o, dir);
    st_db_t *db2 = NULL;
    rc = st_db_open(&db2, &o);
    assert_int_equal(rc, ST_EEXIST);
    assert_non_null(strstr(st_errdetail(rc), "lock"));
    st_labels_free(&l);
    st_db_close(db);
    free(dir);
}

static void test_replay_after_close(void **state) {
    (void)state;
    char *dir = fresh_dir();
    st_db_t *db = open_db(dir, 2 * 3600 * 1000, 0);
    for (int s = 0; s < 50; s++) {
        char name[16];
        snprintf(name, sizeof name, "s%d", s);
        append(db, name, "x", 1000, 15000, 300); /* several chunks each */
    }
    st_db_stats_t before;
    st_db_stats(db, &before);
    st_db_close(db);
    db = open_db(dir, 2 * 3600 * 1000, 0);
    result_t r = query(db, "{job=\"x\"}", INT64_MIN, INT64_MAX);
    assert_int_equal(r.series, 50);
    assert_int_equal(r.samples, 50 * 300);
    assert_true(r.values_ok);
    st_db_stats_t after;
    st_db_stats(db, &after);
    assert_int_equal(after.head_chunks, before.head_chunks); /* same cut rule on replay */
    /* new series continue after the replayed refs */
    append(db, "new", "x", 1000, 1000, 1);
    st_db_close(db);
    db = open_db(dir, 2 * 3600 * 1000, 0);
    assert_int_equal(query(db, "{job=\"x\"}", INT64_MIN, INT64_MAX).series, 51);
    assert_int_equal(query(db, "s7", INT64_MIN, INT64_MAX).samples, 300);
    st_db_close(db);
    free(dir);
}

/* A child process appends and dies without closing anything: every
 * committed sample must come back. */
static void test_replay_after_crash(void **state) {
    (void)state;
    char *dir = fresh_dir();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        st_db_opts_t o;
        st_db_opts_default(&o, dir);
        o.wal_fsync_interval_ms = 60000; /* write(2) only: the page cache must be enough */
        st_db_t *db;
        if (st_db_open(&db, &o)) _exit(2);
        for (int i = 0; i < 200; i++) {
            st_appender_t *a;
            st_db_appender(db, &a);
            for (int s = 0; s < 20; s++) {
                char name[16];
                snprintf(name, sizeof name, "k%d", s);
                st_label_t p = st_label("__name__", name);
                st_labels_t l;
                st_labels_from_pairs(&l, &p, 1);
                uint64_t ref = 0;
                if (st_appender_add(a, &ref, &l, (int64_t)i * 1000, i * 1.0)) _exit(3);
                st_labels_free(&l);
            }
            if (st_appender_commit(a)) _exit(4);
        }
        _exit(0); /* no close: the last page stays partial, nothing padded */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* the lock file is left behind but not held */
    st_db_t *db = open_db(dir, 2 * 3600 * 1000, 0);
    result_t r = query(db, "{__name__=~\"k.*\"}", INT64_MIN, INT64_MAX);
    assert_int_equal(r.series, 20);
    assert_int_equal(r.samples, 20 * 200);
    st_db_close(db);
    free(dir);
}

static void test_corrupt_wal_tail(void **state) {
    (void)state;
    char *dir = fresh_dir();
    st_db_t *db = open_db(dir, 2 * 3600 * 1000, 0);
    append(db, "early", "x", 0, 1000, 100);
    st_db_close(db); /* segment 0, padded */
    db = open_db(dir, 2 * 3600 * 1000, 0); /* writes segment 1 */
    append(db, "late", "x", 0, 1000, 10);
    append(db, "later", "x", 0, 1000, 10);
    st_db_close(db);
    /* flip a byte in the middle of segment 1's second record */
    char *waldir = st_path_join(dir, "wal");
    char *seg = st_wal_segment_path(waldir, 1);
    uint8_t *data;
    size_t len;
    assert_int_equal(st_file_read_all(seg, 1 << 20, &data, &len), 0);
    st_wal_reader_t *r;
    const uint8_t *rec;
    size_t rlen;
    assert_int_equal(st_wal_reader_open_mem(&r, data, len, "seg1"), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(st_wal_reader_next(r, &rec, &rlen), 1);
    int s;
    uint64_t off; /* record 3 = the "later" series record */
    st_wal_reader_position(r, &s, &off);
    st_wal_reader_free(r);
    data[off + 9] ^= 0xff;
    FILE *f = fopen(seg, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    free(data);

    db = open_db(dir, 2 * 3600 * 1000, 0);
    assert_int_equal(query(db, "early", 0, INT64_MAX).samples, 100);
    assert_int_equal(query(db, "late", 0, INT64_MAX).samples, 10);
    assert_int_equal(query(db, "later", 0, INT64_MAX).series, 0);
    st_db_stats_t st;
    st_db_stats(db, &st);
    assert_int_equal(st.wal_corruptions_total, 1);
    /* cut at the bad record; writing goes on in a new segment */
    assert_int_equal(st_file_read_all(seg, 1 << 20, &data, &len), 0);
    assert_int_equal(len, off);
    free(data);
    append(db, "after", "x", 0, 1000, 5);
    st_db_close(db);
    db = open_db(dir, 2 * 3600 * 1000, 0);
    assert_int_equal(query(db, "after", 0, INT64_MAX).samples, 5);
    assert_int_equal(query(db, "late", 0, INT64_MAX).samples, 10);
    st_db_stats(db, &st);
    assert_int_equal(st.wal_corruptions_total, 0);
    st_db_close(db);
    free(seg);
    free(waldir);
    free(dir);
}

static int count_blocks(const char *dir, st_meta_t *first) {
    st_block_t **b;
    size_t n;
    assert_int_equal(st_blocks_open_dir(dir, &b, &n), 0);
    if (first && n) {
        const st_meta_t *m = st_block_meta(b[0]);
        *first = *m;
        first->sources = NULL;
        first->nsources = 0;
        first->parents = NULL;
        first->hints = NULL;
        first->thanos_json = NULL;
    }
    st_blocks_close(b, n);
    return (int)n;
}

static void test_block_cut(void **state) {
    (void)state;
    char *dir = fresh_dir();
    st_db_t *db = open_db(dir, MIN_MS, 0);
    append(db, "a", "x", 0, 1000, 80);     /* 0 .. 79 s: head spans 79 s < 90 s */
    append(db, "gone", "x", 0, 1000, 30);  /* stops at 29 s: removed by the cut */
    assert_int_equal(st_db_compact(db), 0);
    assert_int_equal(count_blocks(dir, NULL), 0);
    append(db, "a", "x", 80000, 1000, 21); /* .. 100 s: > 1.5 windows */
    st_db_stats_t st;
    st_db_stats(db, &st);
    assert_int_equal(st.head_series, 2);
    assert_int_equal(st_db_compact(db), 0);
    st_db_stats(db, &st);
    assert_int_equal(st.compactions_total, 1);
    assert_int_equal(st.blocks, 1);
    assert_int_equal(st.head_series, 1);
    assert_int_equal(st.head_min_time, 60000);
    st_meta_t m;
    assert_int_equal(count_blocks(dir, &m), 1);
    assert_int_equal(m.min_time, 0);
    assert_int_equal(m.max_time, MIN_MS);
    assert_int_equal(m.num_series, 2);
    assert_int_equal(m.num_samples, 60 + 30);
    assert_int_equal(m.level, 1);

    /* head + block merged, nothing lost or doubled */
    result_t r = query(db, "a", INT64_MIN, INT64_MAX);
    assert_int_equal(r.samples, 101);
    assert_true(r.values_ok);
    assert_int_equal(query(db, "gone", INT64_MIN, INT64_MAX).samples, 30);
    assert_int_equal(query(db, "a", 59000, 60000).samples, 2); /* across the boundary */

    /* the cut window is closed for appends */
    st_appender_t *a;
    assert_int_equal(st_db_appender(db, &a), 0);
    st_labels_t l = mk("late", "x");
    uint64_t ref = 0;
    int rc = st_appender_add(a, &ref, &l, 59999, 1);
    assert_int_equal(rc, ST_EINVAL);
    assert_non_null(strstr(st_errdetail(rc), "out of bounds"));
    assert_int_equal(st_appender_add(a, &ref, &l, 60000, 1), 0);
    assert_int_equal(st_appender_commit(a), 0);
    st_labels_free(&l);

    /* the WAL was checkpointed and truncated */
    char *waldir = st_path_join(dir, "wal");
    char *cp;
    int idx, first, last;
    assert_int_equal(st_wal_last_checkpoint(waldir, &cp, &idx), 0);
    assert_int_equal(st_wal_segments(waldir, &first, &last), 0);
    assert_int_equal(first, idx + 1);
    free(cp);

    /* reopen: block + checkpoint + WAL give the same data */
    st_db_close(db);
    db = open_db(dir, MIN_MS, 0);
    r = query(db, "a", INT64_MIN, INT64_MAX);
    assert_int_equal(r.samples, 101);
    assert_int_equal(query(db, "late", INT64_MIN, INT64_MAX).samples, 1);
    assert_int_equal(query(db, "gone", INT64_MIN, INT64_MAX).samples, 30);
    st_db_stats(db, &st);
    assert_int_equal(st.head_min_time, 60000);
    assert_int_equal(st.lowest_timestamp_ms, 0);
    /* replay keeps the window closed */
    assert_int_equal(st_db_appender(db, &a), 0);
    l = mk("a", "x");
    ref = 0;
    assert_int_equal(st_appender_add(a, &ref, &l, 30000, 1), ST_EINVAL);
    st_appender_rollback(a);
    st_labels_free(&l);
    st_db_close(db);
    free(waldir);
    free(dir);
}

/* The head cuts chunks exactly like the block builder (Prometheus's rule):
 * 2 h of 15 s samples = 480 samples in 4 chunks, with identical bytes. */
static void test_chunks_like_builder(void **state) {
    (void)state;
    char *dir = fresh_dir();
    const int64_t H2 = ST_DEFAULT_BLOCK_DURATION_MS;
    st_db_t *db = open_db(dir, H2, 0);
    append(db, "c", "x", 0, 15000, 480 + 242); /* reaches past 3 h */
    assert_int_equal(st_db_compact(db), 0);
    st_db_close(db);

    char *bdir = st_path_join(tmproot, "builder-ref");
    st_block_builder_t *b;
    assert_int_equal(st_block_builder_new(&b, H2), 0);
    st_labels_t l = mk("c", "x");
    for (int i = 0; i < 480; i++) assert_int_equal(st_block_builder_append(b, &l, i * 15000, i * 15.0), 0);
    char *ref_dir;
    assert_int_equal(st_block_builder_write(b, bdir, &ref_dir), 0);
    st_block_builder_free(b);

    st_block_t **blocks;
    size_t n;
    assert_int_equal(st_blocks_open_dir(dir, &blocks, &n), 0);
    assert_int_equal(n, 1);
    st_block_t *ref;
    assert_int_equal(st_block_open(&ref, ref_dir), 0);
    assert_int_equal(st_block_meta(blocks[0])->num_chunks, 4);
    assert_int_equal(st_block_meta(ref)->num_chunks, 4);
    st_matchers_t ms;
    assert_int_equal(st_selector_parse(&ms, "c"), 0);
    st_postings_t p1, p2;
    assert_int_equal(st_block_postings(blocks[0], &ms, &p1), 0);
    assert_int_equal(st_block_postings(ref, &ms, &p2), 0);
    assert_int_equal(p1.n, 1);
    assert_int_equal(p2.n, 1);
    st_labels_t l1, l2;
    st_chunk_meta_t *c1, *c2;
    size_t n1, n2;
    assert_int_equal(st_index_series(st_block_index(blocks[0]), p1.ids[0], &l1, &c1, &n1), 0);
    assert_int_equal(st_index_series(st_block_index(ref), p2.ids[0], &l2, &c2, &n2), 0);
    assert_true(st_labels_equal(&l1, &l2));
    st_postings_free(&p1);
    st_postings_free(&p2);
    st_matchers_free(&ms);
    assert_int_equal(n1, n2);
    for (size_t i = 0; i < n1; i++) {
        uint8_t e1, e2;
        const uint8_t *d1, *d2;
        size_t len1, len2;
        assert_int_equal(c1[i].mint, c2[i].mint);
        assert_int_equal(c1[i].maxt, c2[i].maxt);
        assert_int_equal(st_chunk_reader_get(st_block_chunks(blocks[0]), c1[i].ref, &e1, &d1, &len1), 0);
        assert_int_equal(st_chunk_reader_get(st_block_chunks(ref), c2[i].ref, &e2, &d2, &len2), 0);
        assert_int_equal(len1, len2);
        assert_memory_equal(d1, d2, len1);
    }
    st_labels_free(&l);
    st_labels_free(&l1);
    st_labels_free(&l2);
    free(c1);
    free(c2);
    st_block_close(ref);
    st_blocks_close(blocks, n);
    free(ref_dir);
    free(bdir);
    free(dir);
}

static void test_retention(void **state) {
    (void)state;
    char *dir = fresh_dir();
    st_db_t *db = open_db(dir, MIN_MS, 2 * MIN_MS);
    for (int m = 0; m < 7; m++) {
        append(db, "r", "x", (int64_t)m * MIN_MS, 10000, 6);
        assert_int_equal(st_db_compact(db), 0);
    }
    /* windows 0..5 cut (head holds 6 and the cut needs 1.5 windows);
     * newest block maxTime 6 min: blocks ending before 4 min are gone */
    st_db_stats_t st;
    st_db_stats(db, &st);
    assert_int_equal(st.compactions_total, 6);
    assert_int_equal(st.blocks, 3);
    assert_int_equal(count_blocks(dir, NULL), 3);
    result_t r = query(db, "r", INT64_MIN, INT64_MAX);
    assert_int_equal(r.mint, 3 * MIN_MS);
    assert_int_equal(r.samples, 4 * 6);
    st_db_close(db);
    free(dir);
}

typedef struct {
    st_db_t *db;
    atomic_int stop;
    atomic_size_t queries;
} reader_arg_t;

static void *reader_main(void *p) {
    reader_arg_t *ra = p;
    st_matchers_t ms;
    if (st_selector_parse(&ms, "{__name__=~\"s.*\"}")) return NULL;
    while (!atomic_load(&ra->stop)) {
        st_series_set_t *set;
        if (st_db_select(ra->db, &ms, INT64_MIN, INT64_MAX, &set)) abort();
        int64_t t;
        double v;
        while (st_series_set_next(set) == 1)
            while (st_series_set_sample(set, &t, &v) == 1) {
            }
        st_series_set_free(set);
        atomic_fetch_add(&ra->queries, 1);
    }
    st_matchers_free(&ms);
    return NULL;
}

static void *compactor_main(void *p) {
    reader_arg_t *ra = p;
    while (!atomic_load(&ra->stop))
        if (st_db_compact(ra->db)) abort();
    return NULL;
}

/* Readers and a compactor thread run while the writer appends and creates
 * series; blocks are cut and the head garbage-collected meanwhile (ASan and
 * TSan builds check the accesses). */
static void test_concurrent_readers(void **state) {
    (void)state;
    char *dir = fresh_dir();
    st_db_t *db = open_db(dir, 10000, 30000);
    reader_arg_t ra = {.db = db};
    atomic_init(&ra.stop, 0);
    atomic_init(&ra.queries, 0);
    pthread_t th[3];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, reader_main, &ra), 0);
    assert_int_equal(pthread_create(&th[2], NULL, compactor_main, &ra), 0);
    for (int step = 0; step < 300; step++) {
        st_appender_t *a;
        assert_int_equal(st_db_appender(db, &a), 0);
        for (int s = 0; s < 30; s++) {
            char name[16];
            snprintf(name, sizeof name, "s%d", (s + step / 50) % 40); /* series come and go */
            st_label_t p = st_label("__name__", name);
            st_labels_t l;
            assert_int_equal(st_labels_from_pairs(&l, &p, 1), 0);
            uint64_t ref = 0;
            int rc = st_appender_add(a, &ref, &l, (int64_t)step * 500, s);
            assert_true(rc == 0 || rc == ST_EINVAL);
            st_labels_free(&l);
        }
        assert_int_equal(st_appender_commit(a), 0);
        if (step % 20 == 0) usleep(1000); /* let the compactor in */
    }
    atomic_store(&ra.stop, 1);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    assert_true(atomic_load(&ra.queries) > 0);
    st_db_stats_t st;
    st_db_stats(db, &st);
    assert_true(st.compactions_total > 5);
    assert_int_equal(st.compaction_failures_total, 0);
    st_db_close(db);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_commit_select),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_replay_after_close),
        cmocka_unit_test(test_replay_after_crash),
        cmocka_unit_test(test_corrupt_wal_tail),
        cmocka_unit_test(test_block_cut),
        cmocka_unit_test(test_chunks_like_builder),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_concurrent_readers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
