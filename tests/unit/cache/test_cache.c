/* LRU cache: hits and misses, eviction order, replacement, the 1/16 rule,
 * random operations against a simple list model (which keys survive, and
 * the byte cap), and 4 threads hammering one cache (run under ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "strata/cache.h"
#include "strata/err.h"

static uint64_t overhead;

/* The per-entry overhead, measured once through the stats. */
static uint64_t entry_overhead(void) {
    if (overhead) return overhead;
    st_cache_t *c;
    assert_int_equal(st_cache_new(&c, 1 << 20), 0);
    assert_int_equal(st_cache_put(c, "k", 1, "vv", 2), 0);
    st_cache_stats_t s;
    st_cache_stats(c, &s);
    assert_int_equal(s.items, 1);
    overhead = s.bytes - 3;
    assert_true(overhead >= 32 && overhead <= 256);
    st_cache_free(c);
    return overhead;
}

static void expect_get(st_cache_t *c, const char *key, const char *want) {
    uint8_t *v = (uint8_t *)1;
    size_t n = 99;
    int rc = st_cache_get(c, key, strlen(key), &v, &n);
    if (!want) {
        if (rc != 0) fail_msg("%s: hit, want a miss", key);
        assert_null(v);
        assert_int_equal(n, 0);
        return;
    }
    if (rc != 1) fail_msg("%s: miss, want \"%s\"", key, want);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(v, want, n);
    free(v);
}

static void test_hit_miss(void **state) {
    (void)state;
    st_cache_t *c;
    assert_int_equal(st_cache_new(&c, 1 << 20), 0);
    expect_get(c, "a", NULL);
    assert_int_equal(st_cache_put(c, "a", 1, "alpha", 5), 0);
    assert_int_equal(st_cache_put(c, "b", 1, "", 0), 0); /* empty value */
    assert_int_equal(st_cache_put(c, "", 0, "empty key", 9), 0);
    expect_get(c, "a", "alpha");
    expect_get(c, "b", "");
    expect_get(c, "", "empty key");
    expect_get(c, "ab", NULL);
    /* binary keys that differ only after a NUL */
    assert_int_equal(st_cache_put(c, "x\0y", 3, "1", 1), 0);
    assert_int_equal(st_cache_put(c, "x\0z", 3, "2", 1), 0);
    uint8_t *v;
    size_t n;
    assert_int_equal(st_cache_get(c, "x\0z", 3, &v, &n), 1);
    assert_int_equal(v[0], '2');
    free(v);
    st_cache_stats_t s;
    st_cache_stats(c, &s);
    assert_int_equal(s.hits, 4);
    assert_int_equal(s.misses, 2);
    assert_int_equal(s.items, 5);
    assert_int_equal(s.bytes, 5 * entry_overhead() + (1 + 5) + 1 + 9 + 4 + 4);
    assert_int_equal(s.evictions, 0);
    st_cache_free(c);
    st_cache_free(NULL);

    /* disabled */
    assert_int_equal(st_cache_new(&c, 0), 0);
    assert_int_equal(st_cache_put(c, "a", 1, "alpha", 5), 0);
    expect_get(c, "a", NULL);
    st_cache_stats(c, &s);
    assert_int_equal(s.items, 0);
    assert_int_equal(s.misses, 1);
    st_cache_free(c);
}

static void put_n(st_cache_t *c, int i, size_t vlen) {
    char key[16], val[256];
    snprintf(key, sizeof key, "k%03d", i);
    memset(val, 'a' + i % 26, vlen);
    assert_int_equal(st_cache_put(c, key, 4, val, vlen), 0);
}

static int has(st_cache_t *c, int i) {
    char key[16];
    snprintf(key, sizeof key, "k%03d", i);
    uint8_t *v;
    size_t n;
    int rc = st_cache_get(c, key, 4, &v, &n);
    if (rc == 1) free(v);
    return rc;
}

static void test_eviction_order(void **state) {
    (void)state;
    uint64_t cost = entry_overhead() + 4 + 100;
    st_cache_t *c;
    assert_int_equal(st_cache_new(&c, 20 * cost), 0);
    for (int i = 0; i < 20; i++) put_n(c, i, 100);
    st_cache_stats_t s;
    st_cache_stats(c, &s);
    assert_int_equal(s.items, 20);
    assert_int_equal(s.bytes, 20 * cost);
    assert_int_equal(has(c, 0), 1); /* 0 becomes the most recent: 1 is now the oldest */
    put_n(c, 20, 100);
    assert_int_equal(has(c, 2), 1); /* then 3 is the oldest */
    put_n(c, 21, 100);
    put_n(c, 22, 100);
    st_cache_stats(c, &s);
    assert_int_equal(s.evictions, 3);
    assert_int_equal(s.items, 20);
    assert_int_equal(has(c, 1), 0);
    assert_int_equal(has(c, 3), 0);
    assert_int_equal(has(c, 4), 0);
    for (int i = 5; i <= 22; i++) assert_int_equal(has(c, i), 1);
    assert_int_equal(has(c, 0), 1);
    assert_int_equal(has(c, 2), 1);

    /* oldest first now: 5, 6, 7 ... 22, 0, 2; an entry 20 bytes bigger than
     * the others needs two of them gone */
    char big[120];
    memset(big, 'z', sizeof big);
    assert_int_equal(st_cache_put(c, "bigg", 4, big, sizeof big), 0);
    assert_int_equal(has(c, 5), 0);
    assert_int_equal(has(c, 6), 0);
    assert_int_equal(has(c, 7), 1);
    uint8_t *bv;
    size_t bn;
    assert_int_equal(st_cache_get(c, "bigg", 4, &bv, &bn), 1);
    assert_int_equal(bn, sizeof big);
    free(bv);
    st_cache_stats(c, &s);
    assert_true(s.bytes <= 20 * cost);
    st_cache_free(c);
}

static void test_replace_and_refuse(void **state) {
    (void)state;
    uint64_t o = entry_overhead();
    st_cache_t *c;
    assert_int_equal(st_cache_new(&c, 16 * (o + 1 + 100)), 0);
    assert_int_equal(st_cache_put(c, "k", 1, "short", 5), 0);
    assert_int_equal(st_cache_put(c, "k", 1, "longer value", 12), 0);
    expect_get(c, "k", "longer value");
    st_cache_stats_t s;
    st_cache_stats(c, &s);
    assert_int_equal(s.items, 1);
    assert_int_equal(s.bytes, o + 1 + 12);
    assert_int_equal(s.evictions, 0);

    /* cost exactly max/16 is stored; one byte more is not, and the old value goes */
    char v[200];
    memset(v, 'v', sizeof v);
    assert_int_equal(st_cache_put(c, "k", 1, v, 100), 0);
    st_cache_stats(c, &s);
    assert_int_equal(s.items, 1);
    assert_int_equal(st_cache_put(c, "k", 1, v, 101), 0);
    expect_get(c, "k", NULL);
    st_cache_stats(c, &s);
    assert_int_equal(s.items, 0);
    assert_int_equal(s.bytes, 0);
    assert_int_equal(st_cache_put(c, "j", 1, v, 200), 0);
    expect_get(c, "j", NULL);
    st_cache_free(c);
}

/* ---- random operations against a model ------------------------------------ */

typedef struct {
    int key;
    uint64_t cost;
    size_t vlen;
} mentry_t;

typedef struct {
    mentry_t e[512]; /* e[0] most recent */
    size_t n;
    uint64_t bytes, max;
} model_t;

static int model_find(model_t *m, int key) {
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].key == key) return (int)i;
    return -1;
}

static void model_remove(model_t *m, size_t i) {
    m->bytes -= m->e[i].cost;
    memmove(&m->e[i], &m->e[i + 1], (m->n - i - 1) * sizeof m->e[0]);
    m->n--;
}

static void model_touch(model_t *m, size_t i) {
    mentry_t e = m->e[i];
    memmove(&m->e[1], &m->e[0], i * sizeof m->e[0]);
    m->e[0] = e;
}

static void model_put(model_t *m, int key, size_t vlen) {
    uint64_t cost = overhead + 8 + vlen;
    int i = model_find(m, key);
    if (i >= 0) model_remove(m, (size_t)i);
    if (cost > m->max / 16) return;
    while (m->n && m->bytes + cost > m->max) model_remove(m, m->n - 1);
    memmove(&m->e[1], &m->e[0], m->n * sizeof m->e[0]);
    m->e[0] = (mentry_t){key, cost, vlen};
    m->n++;
    m->bytes += cost;
}

static void fill(uint8_t *v, int key, size_t vlen, unsigned gen) {
    for (size_t i = 0; i < vlen; i++) v[i] = (uint8_t)(key * 31 + gen + i);
}

static void test_model(void **state) {
    (void)state;
    entry_overhead();
    static model_t m;
    m.max = 40000;
    m.n = 0;
    m.bytes = 0;
    st_cache_t *c;
    assert_int_equal(st_cache_new(&c, m.max), 0);
    unsigned seed = 12345, gens[300] = {0};
    uint8_t val[4096], want[4096];
    for (int op = 0; op < 20000; op++) {
        seed = seed * 1103515245u + 12345u;
        int key = (int)((seed >> 8) % 300);
        char k[8];
        snprintf(k, sizeof k, "%07d", key);
        if ((seed >> 20) % 3 == 0) {
            size_t vlen = (seed >> 4) % 2600; /* up to past max/16 = 2500 */
            gens[key]++;
            fill(val, key, vlen, gens[key]);
            assert_int_equal(st_cache_put(c, k, 8, val, vlen), 0);
            model_put(&m, key, vlen);
        } else {
            uint8_t *v;
            size_t n;
            int rc = st_cache_get(c, k, 8, &v, &n);
            int i = model_find(&m, key);
            if ((rc == 1) != (i >= 0)) fail_msg("op %d key %d: cache %s, model %s", op, key, rc ? "hit" : "miss",
                                                i >= 0 ? "hit" : "miss");
            if (rc == 1) {
                assert_int_equal(n, m.e[i].vlen);
                fill(want, key, n, gens[key]);
                assert_memory_equal(v, want, n);
                free(v);
                model_touch(&m, (size_t)i);
            }
        }
        st_cache_stats_t s;
        st_cache_stats(c, &s);
        assert_true(s.bytes <= m.max);
        assert_int_equal(s.bytes, m.bytes);
        assert_int_equal(s.items, m.n);
    }
    st_cache_free(c);
}

/* ---- threads ------------------------------------------------------------------- */

#define THREADS 4
#define OPS 20000

typedef struct {
    st_cache_t *c;
    unsigned seed;
    uint64_t gets, bad;
} worker_t;

static void *worker(void *arg) {
    worker_t *w = arg;
    uint8_t val[1024];
    for (int op = 0; op < OPS; op++) {
        w->seed = w->seed * 1103515245u + 12345u;
        int key = (int)((w->seed >> 8) % 500);
        char k[8];
        snprintf(k, sizeof k, "%07d", key);
        /* a key's value is a function of the key alone, so any hit can be checked */
        size_t vlen = 16 + (size_t)key % 900;
        if ((w->seed >> 20) % 2) {
            fill(val, key, vlen, 0);
            if (st_cache_put(w->c, k, 8, val, vlen) != 0) w->bad++;
        } else {
            uint8_t *v;
            size_t n;
            w->gets++;
            if (st_cache_get(w->c, k, 8, &v, &n) == 1) {
                fill(val, key, vlen, 0);
                if (n != vlen || memcmp(v, val, n) != 0) w->bad++;
                free(v);
            }
        }
    }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    st_cache_t *c;
    uint64_t max = 100000; /* about 60% of all keys fit */
    assert_int_equal(st_cache_new(&c, max), 0);
    pthread_t t[THREADS];
    worker_t w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker_t){c, 7u * (unsigned)i + 1, 0, 0};
        assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]), 0);
    }
    uint64_t gets = 0;
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].bad, 0);
        gets += w[i].gets;
    }
    st_cache_stats_t s;
    st_cache_stats(c, &s);
    assert_true(s.bytes <= max);
    assert_int_equal(s.hits + s.misses, gets);
    assert_true(s.hits > 0 && s.evictions > 0);
    printf("# %d threads: %llu hits, %llu misses, %llu evictions, %llu items, %llu bytes\n", THREADS,
           (unsigned long long)s.hits, (unsigned long long)s.misses, (unsigned long long)s.evictions,
           (unsigned long long)s.items, (unsigned long long)s.bytes);
    st_cache_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_miss),   cmocka_unit_test(test_eviction_order),
        cmocka_unit_test(test_replace_and_refuse), cmocka_unit_test(test_model),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
