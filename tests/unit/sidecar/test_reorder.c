/* The sidecar's ordering of series after the external labels (reorder.h):
 * random stored label sets, sorted as Prometheus stores them, given
 * Prometheus's remote-read labels (external labels added where missing,
 * the stored label winning); what comes out must be every series once,
 * with Thanos's labels (the external label winning), in label order,
 * its chunk bytes intact; or, only when the caller's mode assumption is
 * broken, an error, never a wrong order. Also the common cases hold back
 * at most one series, the byte cap, and a source out of order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "reorder.h"
#include "strata/err.h"

typedef struct {
    st_labels_t *f; /* received, owned copies */
    char **data;
    size_t n, cap;
    int stop_after; /* return 1 after this many; 0 = never */
} collected_t;

static int collect(void *ctx, const st_labels_t *lbls, const st_store_chunk_t *chunks, size_t n) {
    collected_t *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->f = realloc(c->f, c->cap * sizeof *c->f);
        c->data = realloc(c->data, c->cap * sizeof *c->data);
    }
    assert_int_equal(st_labels_copy(&c->f[c->n], lbls), 0);
    c->data[c->n] = n ? strndup((const char *)chunks[0].data[ST_AGGR_RAW], chunks[0].len[ST_AGGR_RAW]) : NULL;
    c->n++;
    return c->stop_after && (int)c->n >= c->stop_after ? 1 : 0;
}

static void collected_free(collected_t *c) {
    for (size_t i = 0; i < c->n; i++) {
        st_labels_free(&c->f[i]);
        free(c->data[i]);
    }
    free(c->f);
    free(c->data);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static unsigned rnd(unsigned n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static st_labels_t mk(const char *const *kv, size_t n) {
    st_label_t p[16];
    for (size_t i = 0; i < n; i++) p[i] = st_label(kv[2 * i], kv[2 * i + 1]);
    st_labels_t l;
    assert_int_equal(st_labels_from_pairs(&l, p, n), 0);
    return l;
}

/* a merged with b; on equal names a's label when a_wins, else b's */
static st_labels_t merge(const st_labels_t *a, const st_labels_t *b, bool a_wins) {
    st_label_t p[32];
    size_t n = 0;
    for (size_t i = 0; i < a->n; i++) p[n++] = a->v[i];
    for (size_t i = 0; i < b->n; i++) {
        size_t k = 0;
        while (k < n && strcmp(p[k].name, b->v[i].name) != 0) k++;
        if (k == n) p[n++] = b->v[i];
        else if (!a_wins) p[k] = b->v[i];
    }
    st_labels_t l;
    assert_int_equal(st_labels_from_pairs(&l, p, n), 0);
    return l;
}

static int lcmp(const void *x, const void *y) { return st_labels_cmp(x, y); }

/* One random run: returns the reorder result code; checks the output. */
static int run(const st_labels_t *ext, bool own_ext, reorder_mode_t mode, size_t nseries, size_t *max_held) {
    static const char *const names[] = {"__name__", "a", "b", "c", "region", "replica", "z"};
    static const char *const vals[] = {"1", "2", "eu", "us", "x"};
    st_labels_t *r = calloc(nseries, sizeof *r);
    size_t nr = 0;
    for (size_t i = 0; i < nseries; i++) {
        const char *kv[14];
        size_t n = 0;
        for (size_t k = 0; k < 7; k++) {
            bool is_ext = st_labels_get(ext, names[k]) != NULL;
            if ((is_ext && !own_ext) || rnd(3) == 0) continue;
            kv[2 * n] = names[k];
            kv[2 * n + 1] = vals[rnd(is_ext ? 5 : 2)];
            n++;
        }
        if (!n) continue;
        r[nr++] = mk(kv, n);
    }
    qsort(r, nr, sizeof *r, lcmp);
    size_t u = 0; /* distinct stored series */
    for (size_t i = 0; i < nr; i++) {
        if (u && st_labels_equal(&r[u - 1], &r[i])) st_labels_free(&r[i]);
        else r[u++] = r[i];
    }
    nr = u;
    collected_t got = {0};
    reorder_t ro;
    reorder_init(&ro, ext, mode, (size_t)1 << 30, collect, &got);
    int rc = ST_OK;
    char id[32];
    for (size_t i = 0; i < nr && !rc; i++) {
        st_labels_t p = merge(&r[i], ext, true); /* Prometheus: the stored label wins */
        snprintf(id, sizeof id, "series-%zu", i);
        st_store_chunk_t ch = {.mint = 1, .maxt = 2};
        ch.data[ST_AGGR_RAW] = (const uint8_t *)id;
        ch.len[ST_AGGR_RAW] = strlen(id);
        rc = reorder_add(&ro, &p, &ch, 1);
        st_labels_free(&p);
    }
    if (!rc) rc = reorder_flush(&ro);
    *max_held = ro.max_held_seen;
    reorder_free(&ro);
    /* whatever was sent is in order */
    for (size_t i = 1; i < got.n; i++) assert_true(st_labels_cmp(&got.f[i - 1], &got.f[i]) <= 0);
    if (!rc) {
        /* every series once, labels as Thanos gives them, chunk intact */
        assert_int_equal(got.n, nr);
        bool *seen = calloc(nr, sizeof *seen);
        for (size_t i = 0; i < got.n; i++) {
            size_t idx;
            assert_int_equal(sscanf(got.data[i], "series-%zu", &idx), 1);
            assert_true(idx < nr);
            assert_false(seen[idx]);
            seen[idx] = true;
            st_labels_t want = merge(&r[idx], ext, false);
            assert_true(st_labels_equal(&want, &got.f[i]));
            st_labels_free(&want);
        }
        free(seen);
    }
    for (size_t i = 0; i < nr; i++) st_labels_free(&r[i]);
    free(r);
    collected_free(&got);
    return rc;
}

static void test_random_exact(void **state) {
    (void)state;
    static const char *const e1[] = {"b", "E", "region", "eu"};
    static const char *const e2[] = {"A", "x"}; /* sorts before __name__ */
    static const char *const e3[] = {"zz", "9"};
    const char *const *exts[] = {e1, e2, e3};
    size_t next[] = {2, 1, 1};
    for (int round = 0; round < 300; round++) {
        st_labels_t ext = mk(exts[round % 3], next[round % 3]);
        size_t held;
        assert_int_equal(run(&ext, false, REORDER_EXACT, 1 + rnd(60), &held), 0);
        st_labels_free(&ext);
    }
}

static void test_random_conservative(void **state) {
    (void)state;
    static const char *const e[] = {"b", "E", "region", "eu"};
    for (int round = 0; round < 300; round++) {
        st_labels_t ext = mk(e, 2);
        size_t held;
        /* stored labels named like the external ones, some equal to them */
        assert_int_equal(run(&ext, true, REORDER_CONSERVATIVE, 1 + rnd(60), &held), 0);
        st_labels_free(&ext);
    }
}

/* Holding everything: the same complete, sorted output whatever is
 * stored, and every series held until the end. */
static void test_random_hold_all(void **state) {
    (void)state;
    static const char *const e[] = {"b", "E", "region", "eu"};
    for (int round = 0; round < 300; round++) {
        st_labels_t ext = mk(e, 2);
        size_t held, n = 1 + rnd(60);
        assert_int_equal(run(&ext, round % 2 == 0, REORDER_HOLD_ALL, n, &held), 0);
        assert_true(held <= n);
        st_labels_free(&ext);
    }
}

static void test_wrong_mode_never_unsorted(void **state) {
    (void)state;
    static const char *const e[] = {"b", "E", "region", "eu"};
    int errors = 0;
    for (int round = 0; round < 300; round++) {
        st_labels_t ext = mk(e, 2);
        size_t held;
        int rc = run(&ext, true, REORDER_EXACT, 1 + rnd(60), &held); /* exact mode although labels are stored */
        if (rc) {
            assert_int_equal(rc, ST_ECORRUPT);
            assert_non_null(strstr(st_errdetail(rc), "out of order"));
            errors++;
        }
        st_labels_free(&ext);
    }
    assert_true(errors > 0); /* the order check does fire */
}

/* Scraped series ({__name__, instance, job}) hold back at most one series
 * whatever the external label's name, in exact mode. */
static void test_scraped_series_stream(void **state) {
    (void)state;
    static const char *const names[] = {"cluster", "replica", "a", "zone", "__a"};
    for (size_t k = 0; k < 5; k++) {
        const char *ekv[] = {names[k], "v"};
        st_labels_t ext = mk(ekv, 1);
        collected_t got = {0};
        reorder_t ro;
        reorder_init(&ro, &ext, REORDER_EXACT, (size_t)1 << 30, collect, &got);
        char metric[16], inst[16];
        for (int m = 0; m < 20; m++)
            for (int i = 0; i < 20; i++) {
                snprintf(metric, sizeof metric, "m%02d", m);
                snprintf(inst, sizeof inst, "host%02d", i);
                const char *kv[] = {"__name__", metric, "instance", inst, "job", "node"};
                st_labels_t r = mk(kv, 3), p = merge(&r, &ext, true);
                assert_int_equal(reorder_add(&ro, &p, NULL, 0), 0);
                st_labels_free(&r);
                st_labels_free(&p);
            }
        assert_int_equal(reorder_flush(&ro), 0);
        assert_int_equal(got.n, 400);
        if (ro.max_held_seen > 1) fail_msg("external label %s: %zu series held", names[k], ro.max_held_seen);
        reorder_free(&ro);
        collected_free(&got);
        st_labels_free(&ext);
    }
}

/* The prefix case: {__name__="p"} must follow {__name__="p", a="1"} once
 * replica is added. */
static void test_prefix_case(void **state) {
    (void)state;
    const char *ekv[] = {"replica", "r1"};
    st_labels_t ext = mk(ekv, 1);
    collected_t got = {0};
    reorder_t ro;
    reorder_init(&ro, &ext, REORDER_EXACT, (size_t)1 << 30, collect, &got);
    const char *k1[] = {"__name__", "p", "replica", "r1"};
    const char *k2[] = {"__name__", "p", "a", "1", "replica", "r1"};
    const char *k3[] = {"__name__", "q", "replica", "r1"};
    st_labels_t p1 = mk(k1, 2), p2 = mk(k2, 3), p3 = mk(k3, 2);
    assert_int_equal(reorder_add(&ro, &p1, NULL, 0), 0);
    assert_int_equal(reorder_add(&ro, &p2, NULL, 0), 0);
    assert_int_equal(reorder_add(&ro, &p3, NULL, 0), 0);
    assert_int_equal(reorder_flush(&ro), 0);
    assert_int_equal(got.n, 3);
    assert_true(st_labels_equal(&got.f[0], &p2));
    assert_true(st_labels_equal(&got.f[1], &p1));
    assert_true(st_labels_equal(&got.f[2], &p3));
    st_labels_free(&p1);
    st_labels_free(&p2);
    st_labels_free(&p3);
    reorder_free(&ro);
    collected_free(&got);
    st_labels_free(&ext);
}

static void test_limits_and_errors(void **state) {
    (void)state;
    const char *ekv[] = {"A", "x"}; /* sorts first: in conservative mode every series waits */
    st_labels_t ext = mk(ekv, 1);
    collected_t got = {0};
    reorder_t ro;
    reorder_init(&ro, &ext, REORDER_CONSERVATIVE, 2000, collect, &got);
    char big[600];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = 0;
    int rc = ST_OK;
    char name[16];
    for (int i = 0; i < 10 && !rc; i++) {
        snprintf(name, sizeof name, "m%d", i);
        const char *kv[] = {"__name__", name, "A", "x"}; /* as Prometheus sends it */
        st_labels_t p = mk(kv, 2);
        st_store_chunk_t ch = {0};
        ch.data[ST_AGGR_RAW] = (const uint8_t *)big;
        ch.len[ST_AGGR_RAW] = sizeof big;
        rc = reorder_add(&ro, &p, &ch, 1);
        st_labels_free(&p);
    }
    assert_int_equal(rc, ST_ELIMIT);
    assert_non_null(strstr(st_errdetail(rc), "held back"));
    assert_int_equal(got.n, 0);
    reorder_free(&ro);

    /* a source out of order is an error, not an unsorted answer */
    st_labels_t none = {0};
    reorder_init(&ro, &none, REORDER_EXACT, (size_t)1 << 20, collect, &got);
    const char *a[] = {"__name__", "b"}, *b[] = {"__name__", "a"};
    st_labels_t pa = mk(a, 1), pb = mk(b, 1);
    assert_int_equal(reorder_add(&ro, &pa, NULL, 0), 0);
    rc = reorder_add(&ro, &pb, NULL, 0);
    assert_int_equal(rc, ST_ECORRUPT);
    reorder_free(&ro);

    /* the emitter's stop comes back */
    collected_free(&got);
    memset(&got, 0, sizeof got);
    got.stop_after = 1;
    reorder_init(&ro, &none, REORDER_EXACT, (size_t)1 << 20, collect, &got);
    assert_int_equal(reorder_add(&ro, &pb, NULL, 0), 1);
    reorder_free(&ro);
    st_labels_free(&pa);
    st_labels_free(&pb);
    collected_free(&got);
    st_labels_free(&ext);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_exact),       cmocka_unit_test(test_random_conservative),
        cmocka_unit_test(test_random_hold_all),
        cmocka_unit_test(test_wrong_mode_never_unsorted), cmocka_unit_test(test_scraped_series_stream),
        cmocka_unit_test(test_prefix_case),        cmocka_unit_test(test_limits_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
