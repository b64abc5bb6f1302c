/*
 * objstore_suite — one test suite for every objstore backend.
 *
 *   objstore_suite CONFIG.yml                  the whole suite
 *   objstore_suite --bad-credentials CONFIG.yml every call fails with a clear error
 *   objstore_suite --server-down CONFIG.yml    ST_EIO after bounded retries, no hang
 *
 * SCRATCH (env, default /tmp) holds local files for upload_file and
 * download_file; SUITE_NO_SPACES says the backend refuses names with
 * spaces (SigV2). The bucket must start empty. Exit status 0 = all passed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/objstore.h"

static int failures;

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                  \
            failures++;                                                                      \
        }                                                                                    \
    } while (0)
#define CHECK_RC(call, want)                                                                 \
    do {                                                                                     \
        int rc_ = (call);                                                                    \
        if (rc_ != (want)) {                                                                 \
            fprintf(stderr, "FAIL %s:%d: %s = %d (%s), want %d\n", __FILE__, __LINE__, #call, rc_, \
                    st_errdetail(rc_), (want));                                              \
            failures++;                                                                      \
        }                                                                                    \
    } while (0)

static char scratch[4096];

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Deterministic bytes, different per seed, so a misplaced range shows. */
static uint8_t *pattern(size_t n, uint32_t seed) {
    uint8_t *p = malloc(n ? n : 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

typedef struct {
    char **v;
    size_t n;
    size_t stop_at; /* return 7 after this many names; 0 = never */
} names_t;

static int collect(void *ctx, const char *name) {
    names_t *l = ctx;
    l->v = realloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n++] = strdup(name);
    return l->stop_at && l->n == l->stop_at ? 7 : 0;
}

static void names_free(names_t *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static bool names_equal(const names_t *l, const char *const *want, size_t n) {
    bool ok = l->n == n;
    for (size_t i = 0; ok && i < n; i++) ok = !strcmp(l->v[i], want[i]);
    if (!ok) {
        fprintf(stderr, "  listed %zu:", l->n);
        for (size_t i = 0; i < l->n && i < 20; i++) fprintf(stderr, " %s", l->v[i]);
        fprintf(stderr, "\n  wanted %zu:", n);
        for (size_t i = 0; i < n && i < 20; i++) fprintf(stderr, " %s", want[i]);
        fprintf(stderr, "\n");
    }
    return ok;
}

static void test_round_trip(st_objstore_t *s) {
    uint8_t *got = NULL;
    size_t len = 0;
    CHECK_RC(st_objstore_upload(s, "rt/hello.txt", "hello, bucket", 13), 0);
    CHECK_RC(st_objstore_get(s, "rt/hello.txt", 1 << 20, &got, &len), 0);
    CHECK(len == 13 && got && !memcmp(got, "hello, bucket", 13) && got[13] == 0);
    free(got);
    /* replace */
    CHECK_RC(st_objstore_upload(s, "rt/hello.txt", "second", 6), 0);
    CHECK_RC(st_objstore_get(s, "rt/hello.txt", 1 << 20, &got, &len), 0);
    CHECK(len == 6 && got && !memcmp(got, "second", 6));
    free(got);
    /* cap */
    CHECK_RC(st_objstore_get(s, "rt/hello.txt", 5, &got, &len), ST_ELIMIT);
    CHECK(got == NULL);
    /* empty object */
    CHECK_RC(st_objstore_upload(s, "rt/empty", NULL, 0), 0);
    CHECK_RC(st_objstore_get(s, "rt/empty", 10, &got, &len), 0);
    CHECK(len == 0 && got && got[0] == 0);
    free(got);
    st_obj_attrs_t a;
    CHECK_RC(st_objstore_attributes(s, "rt/empty", &a), 0);
    CHECK(a.size == 0);
    CHECK_RC(st_objstore_attributes(s, "rt/hello.txt", &a), 0);
    CHECK(a.size == 6);
    int64_t now_ms = (int64_t)time(NULL) * 1000;
    CHECK(a.last_modified_ms > now_ms - 3600 * 1000 && a.last_modified_ms < now_ms + 3600 * 1000);
    bool ex = false;
    CHECK_RC(st_objstore_exists(s, "rt/hello.txt", &ex), 0);
    CHECK(ex);
    /* names that need escaping in a URL and in XML */
    /* SUITE_NO_SPACES: the backend refuses spaces (SigV2/libs3) */
    bool no_spaces = getenv("SUITE_NO_SPACES") != NULL;
    const char *odd = no_spaces ? "rt/odd_name+plus=eq&amp;%25_ü~(1).txt" : "rt/odd name+plus=eq&amp;%25 ü~(1).txt";
    if (no_spaces) CHECK_RC(st_objstore_upload(s, "rt/a space", "x", 1), ST_EINVAL);
    CHECK_RC(st_objstore_upload(s, odd, "odd", 3), 0);
    CHECK_RC(st_objstore_get(s, odd, 100, &got, &len), 0);
    CHECK(len == 3 && got && !memcmp(got, "odd", 3));
    free(got);
    names_t l = {0};
    CHECK_RC(st_objstore_iter(s, "rt/", false, collect, &l), 0);
    const char *want[] = {"rt/empty", "rt/hello.txt", odd};
    CHECK(names_equal(&l, want, 3));
    names_free(&l);
    CHECK_RC(st_objstore_delete(s, odd), 0);
    CHECK_RC(st_objstore_delete(s, "rt/empty"), 0);
    CHECK_RC(st_objstore_delete(s, "rt/hello.txt"), 0);
    CHECK_RC(st_objstore_exists(s, "rt/hello.txt", &ex), 0);
    CHECK(!ex);
}

static void test_missing(st_objstore_t *s) {
    uint8_t *got = (uint8_t *)"x";
    size_t len = 99;
    CHECK_RC(st_objstore_get(s, "missing/object", 100, &got, &len), ST_ENOTFOUND);
    CHECK(got == NULL && len == 0);
    CHECK_RC(st_objstore_get_range(s, "missing/object", 10, 5, &got, &len), ST_ENOTFOUND);
    CHECK_RC(st_objstore_get_range(s, "missing/object", 0, 0, &got, &len), ST_ENOTFOUND);
    st_obj_attrs_t a;
    CHECK_RC(st_objstore_attributes(s, "missing/object", &a), ST_ENOTFOUND);
    CHECK_RC(st_objstore_delete(s, "missing/object"), ST_ENOTFOUND);
    char dst[4200];
    snprintf(dst, sizeof dst, "%s/never", scratch);
    CHECK_RC(st_objstore_download_file(s, "missing/object", dst), ST_ENOTFOUND);
    CHECK(!st_path_exists(dst));
    bool ex = true;
    CHECK_RC(st_objstore_exists(s, "missing/object", &ex), 0);
    CHECK(!ex);
    names_t l = {0};
    CHECK_RC(st_objstore_iter(s, "missing/", true, collect, &l), 0);
    CHECK(l.n == 0);
    names_free(&l);
}

static void test_bad_names(st_objstore_t *s) {
    const char *bad[] = {"", "/abs", "a//b", "a/../b", "..", "./a", "dir/", "a\nb"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_RC(st_objstore_upload(s, bad[i], "x", 1), ST_EINVAL);
    names_t l = {0};
    CHECK_RC(st_objstore_iter(s, "nodir", false, collect, &l), ST_EINVAL);
    CHECK_RC(st_objstore_iter(s, "/", false, collect, &l), ST_EINVAL);
    CHECK_RC(st_objstore_iter(s, "a/../", false, collect, &l), ST_EINVAL);
    names_free(&l);
}

#define BIG (20u << 20)

static void test_big_and_ranges(st_objstore_t *s) {
    uint8_t *data = pattern(BIG, 42);
    char src[4200], dst[4200];
    snprintf(src, sizeof src, "%s/big.src", scratch);
    snprintf(dst, sizeof dst, "%s/big.dst", scratch);
    CHECK_RC(st_file_write_atomic(src, data, BIG), 0);
    double t0 = now_s();
    CHECK_RC(st_objstore_upload_file(s, "big/chunks/000001", src), 0);
    fprintf(stderr, "  20 MiB upload_file: %.2f s\n", now_s() - t0);
    st_obj_attrs_t a;
    CHECK_RC(st_objstore_attributes(s, "big/chunks/000001", &a), 0);
    CHECK(a.size == BIG);
    uint8_t *got = NULL;
    size_t len = 0;
    CHECK_RC(st_objstore_get(s, "big/chunks/000001", BIG, &got, &len), 0);
    CHECK(len == BIG && got && !memcmp(got, data, BIG));
    free(got);
    CHECK_RC(st_objstore_get(s, "big/chunks/000001", BIG - 1, &got, &len), ST_ELIMIT);
    /* ranges at and across 5 MiB part boundaries, at the end, past the end */
    const struct { uint64_t off, len, want; } r[] = {
        {0, 1, 1},
        {0, 4096, 4096},
        {(5u << 20) - 10, 20, 20},
        {5u << 20, 1u << 20, 1u << 20},
        {(15u << 20) - 1, 2, 2},
        {BIG - 16, 16, 16},
        {BIG - 10, 100, 10},
        {BIG - 1, 1, 1},
        {BIG, 10, 0},
        {BIG + 1000, 10, 0},
        {1234567, 0, 0},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        got = NULL;
        CHECK_RC(st_objstore_get_range(s, "big/chunks/000001", r[i].off, r[i].len, &got, &len), 0);
        bool ok = got && len == r[i].want && (len == 0 || !memcmp(got, data + r[i].off, len)) && got[len] == 0;
        if (!ok) fprintf(stderr, "  range %zu: off %llu len %llu -> %zu bytes\n", i,
                         (unsigned long long)r[i].off, (unsigned long long)r[i].len, len);
        CHECK(ok);
        free(got);
    }
    /* upload from memory (multipart too when above the part size) */
    CHECK_RC(st_objstore_upload(s, "big/mem", data + 7, BIG - 7), 0);
    CHECK_RC(st_objstore_get_range(s, "big/mem", BIG - 7 - 3, 3, &got, &len), 0);
    CHECK(len == 3 && got && !memcmp(got, data + BIG - 3, 3));
    free(got);
    /* stream to a local file */
    t0 = now_s();
    CHECK_RC(st_objstore_download_file(s, "big/chunks/000001", dst), 0);
    fprintf(stderr, "  20 MiB download_file: %.2f s\n", now_s() - t0);
    CHECK_RC(st_file_read_all(dst, BIG, &got, &len), 0);
    CHECK(len == BIG && got && !memcmp(got, data, BIG));
    free(got);
    CHECK_RC(st_objstore_delete(s, "big/chunks/000001"), 0);
    CHECK_RC(st_objstore_delete(s, "big/mem"), 0);
    unlink(src);
    unlink(dst);
    free(data);
}

#define MANY 1105 /* more than one ListObjectsV2 page of 1000 */

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_listing(st_objstore_t *s) {
    double t0 = now_s();
    char name[64];
    int up_fail = 0;
    for (int i = 0; i < MANY; i++) {
        snprintf(name, sizeof name, "many/%d", i * 7919 % 100003);
        up_fail += st_objstore_upload(s, name, name, strlen(name)) != 0;
    }
    CHECK(up_fail == 0);
    fprintf(stderr, "  %d small uploads: %.2f s\n", MANY, now_s() - t0);
    names_t l = {0};
    CHECK_RC(st_objstore_iter(s, "many/", false, collect, &l), 0);
    CHECK(l.n == MANY);
    bool sorted = true;
    for (size_t i = 1; i < l.n; i++) sorted &= strcmp(l.v[i - 1], l.v[i]) < 0;
    CHECK(sorted);
    char **want = malloc(MANY * sizeof *want);
    for (int i = 0; i < MANY; i++) {
        snprintf(name, sizeof name, "many/%d", i * 7919 % 100003);
        want[i] = strdup(name);
    }
    qsort(want, MANY, sizeof *want, name_cmp);
    CHECK(names_equal(&l, (const char *const *)want, MANY));
    names_free(&l);
    /* stopping early returns the callback's value */
    l.stop_at = 1001;
    CHECK_RC(st_objstore_iter(s, "many/", true, collect, &l), 7);
    CHECK(l.n == 1001);
    names_free(&l);

    /* delimiter semantics and order: '-' (0x2d) sorts before '/' (0x2f) */
    const char *objs[] = {"t/d/a", "t/d/b/c", "t/d/b/d", "t/d-x", "t/e", "t/d/b/e/f"};
    for (size_t i = 0; i < 6; i++) CHECK_RC(st_objstore_upload(s, objs[i], "v", 1), 0);
    CHECK_RC(st_objstore_iter(s, "", false, collect, &l), 0);
    const char *root[] = {"many/", "t/"};
    CHECK(names_equal(&l, root, 2));
    names_free(&l);
    CHECK_RC(st_objstore_iter(s, "t/", false, collect, &l), 0);
    const char *t1[] = {"t/d-x", "t/d/", "t/e"};
    CHECK(names_equal(&l, t1, 3));
    names_free(&l);
    CHECK_RC(st_objstore_iter(s, "t/d/", false, collect, &l), 0);
    const char *t2[] = {"t/d/a", "t/d/b/"};
    CHECK(names_equal(&l, t2, 2));
    names_free(&l);
    CHECK_RC(st_objstore_iter(s, "t/", true, collect, &l), 0);
    const char *t3[] = {"t/d-x", "t/d/a", "t/d/b/c", "t/d/b/d", "t/d/b/e/f", "t/e"};
    CHECK(names_equal(&l, t3, 6));
    names_free(&l);
    /* deleting the last objects of a "directory" makes it vanish */
    CHECK_RC(st_objstore_delete(s, "t/d/b/c"), 0);
    CHECK_RC(st_objstore_delete(s, "t/d/b/d"), 0);
    CHECK_RC(st_objstore_delete(s, "t/d/b/e/f"), 0);
    CHECK_RC(st_objstore_iter(s, "t/d/", false, collect, &l), 0);
    const char *t4[] = {"t/d/a"};
    CHECK(names_equal(&l, t4, 1));
    names_free(&l);
    for (size_t i = 0; i < 6; i++) {
        if (!strcmp(objs[i], "t/d/b/c") || !strcmp(objs[i], "t/d/b/d") || !strcmp(objs[i], "t/d/b/e/f")) continue;
        CHECK_RC(st_objstore_delete(s, objs[i]), 0);
    }
    t0 = now_s();
    int del_fail = 0;
    for (int i = 0; i < MANY; i++) del_fail += st_objstore_delete(s, want[i]) != 0;
    CHECK(del_fail == 0);
    fprintf(stderr, "  %d deletes: %.2f s\n", MANY, now_s() - t0);
    for (int i = 0; i < MANY; i++) free(want[i]);
    free(want);
    CHECK_RC(st_objstore_iter(s, "", true, collect, &l), 0);
    CHECK(l.n == 0);
    names_free(&l);
}

typedef struct {
    st_objstore_t *s;
    int id, fails;
} worker_t;

static void *worker(void *arg) {
    worker_t *w = arg;
    for (int i = 0; i < 25; i++) {
        char name[64];
        snprintf(name, sizeof name, "conc/%d/%d", w->id, i);
        size_t n = 1000 + (size_t)(w->id * 100 + i) * 37;
        uint8_t *d = pattern(n, (uint32_t)(w->id * 1000 + i));
        uint8_t *got = NULL;
        size_t len = 0;
        if (st_objstore_upload(w->s, name, d, n) || st_objstore_get(w->s, name, n, &got, &len) || len != n ||
            memcmp(got, d, n) || st_objstore_delete(w->s, name)) {
            fprintf(stderr, "  worker %d object %d: %s\n", w->id, i, st_errdetail(ST_EIO));
            w->fails++;
        }
        free(got);
        free(d);
    }
    return NULL;
}

static void test_concurrent(st_objstore_t *s) {
    pthread_t th[6];
    worker_t w[6];
    for (int i = 0; i < 6; i++) {
        w[i] = (worker_t){s, i, 0};
        pthread_create(&th[i], NULL, worker, &w[i]);
    }
    int fails = 0;
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        fails += w[i].fails;
    }
    CHECK(fails == 0);
}

/* Every kind of call must fail with ST_EIO and a detail that says why,
 * within a bounded time, and never leak the secret key. */
static void expect_failures(st_objstore_t *s, const char *why, const char *secret, double max_s) {
    uint8_t *got = NULL;
    size_t len;
    st_obj_attrs_t a;
    names_t l = {0};
    bool ex;
    int rcs[6];
    const char *what[6] = {"upload", "get", "get_range", "attributes", "iter", "exists"};
    double t0 = now_s();
    rcs[0] = st_objstore_upload(s, "x/y", "z", 1);
    const char *d0 = st_errdetail(rcs[0]);
    fprintf(stderr, "  upload error: %s\n", d0);
    CHECK(strcasestr(d0, why) != NULL);
    CHECK(!secret || !strstr(d0, secret));
    rcs[1] = st_objstore_get(s, "x/y", 100, &got, &len);
    rcs[2] = st_objstore_get_range(s, "x/y", 1, 2, &got, &len);
    rcs[3] = st_objstore_attributes(s, "x/y", &a);
    rcs[4] = st_objstore_iter(s, "", true, collect, &l);
    const char *d4 = st_errdetail(rcs[4]);
    fprintf(stderr, "  iter error: %s\n", d4);
    CHECK(strcasestr(d4, why) != NULL);
    rcs[5] = st_objstore_exists(s, "x/y", &ex);
    double dt = now_s() - t0;
    for (int i = 0; i < 6; i++) {
        if (rcs[i] != ST_EIO) {
            fprintf(stderr, "FAIL %s: %d, want ST_EIO\n", what[i], rcs[i]);
            failures++;
        }
    }
    fprintf(stderr, "  6 failing calls took %.1f s\n", dt);
    CHECK(dt < max_s);
    names_free(&l);
}

int main(int argc, char **argv) {
    const char *mode = "suite";
    const char *cfgpath = argv[argc - 1];
    if (argc == 3) mode = argv[1];
    else if (argc != 2) {
        fprintf(stderr, "usage: %s [--bad-credentials|--server-down] CONFIG.yml\n", argv[0]);
        return 2;
    }
    const char *sc = getenv("SCRATCH");
    snprintf(scratch, sizeof scratch, "%s", sc && *sc ? sc : "/tmp");
    st_objstore_t *s = NULL;
    int rc = st_objstore_open_file(&s, cfgpath);
    if (rc) {
        fprintf(stderr, "open %s: %s\n", cfgpath, st_errdetail(rc));
        return 1;
    }
    fprintf(stderr, "%s: %s\n", mode, st_objstore_describe(s));
    if (!strcmp(mode, "--bad-credentials")) {
        expect_failures(s, "InvalidAccessKeyId", getenv("SUITE_SECRET"), 20);
    } else if (!strcmp(mode, "--server-down")) {
        expect_failures(s, "connect", NULL, 60);
    } else if (!strcmp(mode, "suite")) {
        struct {
            const char *name;
            void (*fn)(st_objstore_t *);
        } tests[] = {{"round_trip", test_round_trip}, {"missing", test_missing},
                     {"bad_names", test_bad_names},   {"big_and_ranges", test_big_and_ranges},
                     {"listing", test_listing},       {"concurrent", test_concurrent}};
        for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
            int before = failures;
            double t0 = now_s();
            tests[i].fn(s);
            fprintf(stderr, "%s %s (%.2f s)\n", failures == before ? "ok  " : "FAIL", tests[i].name,
                    now_s() - t0);
        }
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        failures++;
    }
    st_objstore_close(s);
    fprintf(stderr, "%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
    return failures ? 1 : 0;
}
