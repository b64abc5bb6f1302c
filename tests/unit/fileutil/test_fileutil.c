/* fileutil: durable writes, capped reads, whole-buffer fd I/O, mkdir -p,
 * rm -rf, mmap, paths. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "strata/err.h"
#include "strata/fileutil.h"
#include "st_test.h"

static char tmpdir[4096];

static int setup(void **state) {
    (void)state;
    return st_test_mkdtemp(tmpdir, sizeof tmpdir, "fileutil");
}

static int teardown(void **state) {
    (void)state;
    return st_rm_rf(tmpdir);
}

/* tmpdir + "/" + rel, in a static buffer (one live at a time per slot). */
static const char *tpath(int slot, const char *rel) {
    static char bufs[4][8192];
    snprintf(bufs[slot], sizeof bufs[slot], "%s/%s", tmpdir, rel);
    return bufs[slot];
}

static void write_plain(const char *path, const char *s) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(s, 1, strlen(s), f), strlen(s));
    fclose(f);
}

static size_t count_entries(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void test_atomic_file_stream(void **state) {
    (void)state;
    const char *p = tpath(0, "obj");
    st_atomic_file_t f;
    assert_int_equal(st_atomic_file_open(&f, p), 0);
    assert_true(st_file_is_tmp(f.tmp));
    assert_int_equal(write(f.fd, "ab", 2), 2);
    assert_int_equal(write(f.fd, "cd", 2), 2);
    assert_int_equal(st_path_exists(p), 0); /* invisible until commit */
    assert_int_equal(st_atomic_file_commit(&f), 0);
    uint8_t *buf;
    size_t len;
    assert_int_equal(st_file_read_all(p, 10, &buf, &len), 0);
    assert_memory_equal(buf, "abcd", 4);
    free(buf);
    st_atomic_file_abort(&f); /* harmless after commit */

    /* two writers of one path do not share a temporary; abort leaves nothing */
    st_atomic_file_t a, b;
    assert_int_equal(st_atomic_file_open(&a, p), 0);
    assert_int_equal(st_atomic_file_open(&b, p), 0);
    assert_string_not_equal(a.tmp, b.tmp);
    st_atomic_file_abort(&a);
    st_atomic_file_abort(&b);
    assert_int_equal(count_entries(tmpdir), 1);

    assert_false(st_file_is_tmp("index"));
    assert_false(st_file_is_tmp(".tmp-abcdef"));
    assert_false(st_file_is_tmp("x.tmp"));
    assert_true(st_file_is_tmp("meta.json.tmp-Ab12Cd"));
}

static void test_write_atomic_read_all(void **state) {
    (void)state;
    const char *p = tpath(0, "f1");
    assert_int_equal(st_file_write_atomic(p, "hello", 5), 0);
    assert_int_equal(st_file_write_atomic(p, "replaced\0x", 10), 0); /* overwrite */
    assert_int_equal(count_entries(tmpdir), 1); /* no temporary left behind */
    uint8_t *buf;
    size_t len;
    assert_int_equal(st_file_read_all(p, 10, &buf, &len), 0);
    assert_int_equal(len, 10);
    assert_memory_equal(buf, "replaced\0x", 10);
    assert_int_equal(buf[10], 0); /* extra NUL */
    free(buf);

    assert_int_equal(st_file_write_atomic(p, "", 0), 0);
    assert_int_equal(st_file_read_all(p, 0, &buf, &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(buf[0], 0);
    free(buf);
}

static void test_read_all_errors(void **state) {
    (void)state;
    const char *p = tpath(0, "big");
    write_plain(p, "0123456789");
    uint8_t *buf = (uint8_t *)"x";
    size_t len = 7;
    int rc = st_file_read_all(p, 9, &buf, &len);
    assert_int_equal(rc, ST_ELIMIT);
    assert_null(buf);
    assert_int_equal(len, 0);
    assert_non_null(strstr(st_errdetail(rc), p));

    const char *missing = tpath(1, "missing");
    rc = st_file_read_all(missing, 100, &buf, &len);
    assert_int_equal(rc, ST_ENOTFOUND);
    assert_non_null(strstr(st_errdetail(rc), missing));
    assert_non_null(strstr(st_errdetail(rc), "No such file"));

    rc = st_file_read_all(tmpdir, 100, &buf, &len); /* a directory */
    assert_int_equal(rc, ST_EIO);
    assert_non_null(strstr(st_errdetail(rc), "not a regular file"));
}

static void test_write_atomic_missing_dir(void **state) {
    (void)state;
    const char *p = tpath(0, "nodir/x");
    int rc = st_file_write_atomic(p, "a", 1);
    assert_int_equal(rc, ST_ENOTFOUND);
    assert_non_null(strstr(st_errdetail(rc), "nodir/x.tmp"));
}

static void test_mkdir_p(void **state) {
    (void)state;
    const char *p = tpath(0, "a/b//c/");
    assert_int_equal(st_mkdir_p(p, 0755), 0);
    assert_int_equal(st_mkdir_p(p, 0755), 0); /* idempotent */
    struct stat st;
    assert_int_equal(stat(tpath(1, "a/b/c"), &st), 0);
    assert_true(S_ISDIR(st.st_mode));

    write_plain(tpath(1, "a/file"), "x");
    int rc = st_mkdir_p(tpath(2, "a/file/sub"), 0755);
    assert_int_equal(rc, ST_EEXIST);
    assert_non_null(strstr(st_errdetail(rc), "a/file"));
}

static void test_rm_rf_does_not_follow_symlinks(void **state) {
    (void)state;
    assert_int_equal(st_mkdir_p(tpath(0, "keep"), 0755), 0);
    write_plain(tpath(0, "keep/precious"), "x");
    assert_int_equal(st_mkdir_p(tpath(0, "tree/d1/d2"), 0755), 0);
    write_plain(tpath(0, "tree/f"), "x");
    write_plain(tpath(0, "tree/d1/d2/g"), "x");
    assert_int_equal(symlink(tpath(1, "keep"), tpath(0, "tree/d1/link")), 0);
    assert_int_equal(symlink(tpath(1, "keep/precious"), tpath(0, "tree/flink")), 0);

    assert_int_equal(st_rm_rf(tpath(0, "tree")), 0);
    assert_int_equal(st_path_exists(tpath(0, "tree")), 0);
    assert_int_equal(st_path_exists(tpath(0, "keep/precious")), 1);
    assert_int_equal(st_rm_rf(tpath(0, "tree")), 0); /* missing is fine */

    /* a symlink given directly is removed, its target kept */
    assert_int_equal(symlink(tpath(1, "keep"), tpath(0, "dlink")), 0);
    assert_int_equal(st_rm_rf(tpath(0, "dlink")), 0);
    assert_int_equal(st_path_exists(tpath(0, "keep/precious")), 1);
    assert_int_equal(st_rm_rf(tpath(0, "keep/precious")), 0); /* plain file */
    assert_int_equal(st_path_exists(tpath(0, "keep/precious")), 0);
}

static void test_mmap(void **state) {
    (void)state;
    st_mmap_t m;
    write_plain(tpath(0, "empty"), "");
    assert_int_equal(st_mmap_open(&m, tpath(0, "empty")), 0);
    assert_null(m.p);
    assert_int_equal(m.len, 0);
    st_mmap_close(&m);

    write_plain(tpath(0, "data"), "abcdef");
    assert_int_equal(st_mmap_open(&m, tpath(0, "data")), 0);
    assert_int_equal(m.len, 6);
    assert_memory_equal(m.p, "abcdef", 6);
    st_mmap_close(&m);
    assert_null(m.p);
    st_mmap_close(&m); /* twice is fine */
    st_mmap_close(NULL);

    int rc = st_mmap_open(&m, tpath(0, "nope"));
    assert_int_equal(rc, ST_ENOTFOUND);
    assert_non_null(strstr(st_errdetail(rc), "nope"));
    assert_null(m.p);
    assert_int_equal(st_mmap_open(&m, tmpdir), ST_EIO);
}

static void test_rename_and_fsync(void **state) {
    (void)state;
    assert_int_equal(st_mkdir_p(tpath(0, "r1"), 0755), 0);
    assert_int_equal(st_mkdir_p(tpath(0, "r2"), 0755), 0);
    write_plain(tpath(0, "r1/x"), "payload");
    assert_int_equal(st_rename_durable(tpath(0, "r1/x"), tpath(1, "r2/y")), 0);
    assert_int_equal(st_path_exists(tpath(0, "r1/x")), 0);
    assert_int_equal(st_path_exists(tpath(1, "r2/y")), 1);
    int rc = st_rename_durable(tpath(0, "r1/x"), tpath(1, "r2/z"));
    assert_int_equal(rc, ST_ENOTFOUND);
    assert_non_null(strstr(st_errdetail(rc), "r1/x"));

    assert_int_equal(st_fsync_path(tpath(0, "r2")), 0);
    assert_int_equal(st_fsync_path(tpath(0, "r2/y")), 0);
    assert_int_equal(st_fsync_dir_of(tpath(0, "r2/y")), 0);
    assert_int_equal(st_fsync_dir_of(tpath(0, "r2/")), 0);
    assert_int_equal(st_fsync_dir_of("relative-name"), 0); /* parent is "." */
    assert_int_equal(st_fsync_path(tpath(0, "r3")), ST_ENOTFOUND);
}

static void test_path_join(void **state) {
    (void)state;
    static const struct { const char *a, *b, *want; } cases[] = {
        {"a", "b", "a/b"}, {"a/", "b", "a/b"}, {"", "b", "b"}, {"/", "x", "/x"}, {"a/b", "c/d", "a/b/c/d"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = st_path_join(cases[i].a, cases[i].b);
        assert_non_null(s);
        assert_string_equal(s, cases[i].want);
        free(s);
    }
}

/* ---- st_write_all / st_pwrite_all / st_pread_all ---- */

static volatile sig_atomic_t alarms;
static void on_alarm(int sig) {
    (void)sig;
    alarms++;
}

typedef struct {
    int fd;
    uint8_t *got;
    size_t cap, n;
} drain_t;

/* A slow reader, so the writer keeps blocking on a full pipe where the
 * timer's signals cut its write(2)s short or fail them with EINTR. */
static void *drain(void *arg) {
    drain_t *d = arg;
    const struct timespec pause = {0, 50 * 1000};
    for (;;) {
        nanosleep(&pause, NULL);
        size_t room = d->cap - d->n;
        ssize_t k = read(d->fd, d->got + d->n, room < 4096 ? room + 1 : 4096); /* +1: notice excess */
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        d->n += (size_t)k;
        if (d->n > d->cap) break;
    }
    return NULL;
}

static void test_write_all_interrupted(void **state) {
    (void)state;
    const size_t len = 4u << 20;
    uint8_t *src = malloc(len), *dst = malloc(len + 1);
    assert_non_null(src);
    assert_non_null(dst);
    for (size_t i = 0; i < len; i++) src[i] = (uint8_t)(i * 131 + (i >> 11));
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);

    /* the handler has no SA_RESTART: a signal ends a blocked write early */
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    sigset_t alrm, prev;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &alrm, &prev); /* the reader inherits the block: signals hit the writer */
    drain_t d = {.fd = pfd[0], .got = dst, .cap = len};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, drain, &d), 0);
    pthread_sigmask(SIG_SETMASK, &prev, NULL);
    alarms = 0;
    struct itimerval it = {{0, 500}, {0, 500}};
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);

    int rc = st_write_all(pfd[1], src, len);

    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &old, NULL);
    close(pfd[1]);
    pthread_join(th, NULL);
    close(pfd[0]);
    assert_int_equal(rc, 0);
    assert_true(alarms > 0);
    assert_int_equal(d.n, len);
    assert_memory_equal(dst, src, len);
    free(src);
    free(dst);
}

static void read_plain(const char *path, char *buf, size_t cap, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    *len = fread(buf, 1, cap, f);
    fclose(f);
}

static void test_pwrite_pread_all(void **state) {
    (void)state;
    const char *p = tpath(0, "rw");
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(st_pwrite_all(fd, "world", 5, 6), 0);
    assert_int_equal(st_pwrite_all(fd, "hello ", 6, 0), 0);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 0); /* the file position is not used */
    char text[64];
    size_t n;
    read_plain(p, text, sizeof text, &n);
    assert_int_equal(n, 11);
    assert_memory_equal(text, "hello world", 11);

    char buf[32];
    size_t got = 99;
    assert_int_equal(st_pread_all(fd, buf, 5, 6, &got), 0);
    assert_int_equal(got, 5);
    assert_memory_equal(buf, "world", 5);
    assert_int_equal(st_pread_all(fd, buf, sizeof buf, 3, &got), 0); /* the file ends first */
    assert_int_equal(got, 8);
    assert_memory_equal(buf, "lo world", 8);
    assert_int_equal(st_pread_all(fd, buf, sizeof buf, 11, &got), 0);
    assert_int_equal(got, 0);
    assert_int_equal(st_pread_all(fd, buf, sizeof buf, 1000, &got), 0);
    assert_int_equal(got, 0);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);

    /* st_write_all writes at (and advances) the file position */
    assert_int_equal(lseek(fd, 6, SEEK_SET), 6);
    assert_int_equal(st_write_all(fd, "there!", 6), 0);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 12);
    close(fd);
    read_plain(p, text, sizeof text, &n);
    assert_int_equal(n, 12);
    assert_memory_equal(text, "hello there!", 12);
}

/* Failures: ST_EIO, errno kept for the caller, a detail naming the call
 * that st_errwrap can prefix with the caller's context. */
static void test_fd_io_errors(void **state) {
    (void)state;
    int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
    if (full >= 0) {
        errno = 0;
        int rc = st_write_all(full, "abc", 3);
        assert_int_equal(rc, ST_EIO);
        assert_int_equal(errno, ENOSPC);
        rc = st_errwrap(rc, "segment %s", "/d/000001");
        char want[256];
        snprintf(want, sizeof want, "segment /d/000001: write: %s", strerror(ENOSPC));
        assert_string_equal(st_errdetail(rc), want);
        close(full);
    }

    const char *p = tpath(0, "ro");
    write_plain(p, "0123456789");
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    errno = 0;
    int rc = st_pwrite_all(fd, "x", 1, 7);
    assert_int_equal(rc, ST_EIO);
    assert_int_equal(errno, EBADF);
    char want[256];
    snprintf(want, sizeof want, "pwrite at offset 7: %s", strerror(EBADF));
    assert_string_equal(st_errdetail(rc), want);
    errno = 0;
    assert_int_equal(st_write_all(fd, "x", 1), ST_EIO);
    assert_int_equal(errno, EBADF);
    close(fd);

    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    char buf[4];
    size_t got = 99;
    errno = 0;
    rc = st_pread_all(pfd[0], buf, sizeof buf, 3, &got);
    assert_int_equal(rc, ST_EIO);
    assert_int_equal(errno, ESPIPE);
    assert_int_equal(got, 0);
    snprintf(want, sizeof want, "pread at offset 3: %s", strerror(ESPIPE));
    assert_string_equal(st_errdetail(rc), want);
    close(pfd[0]);
    close(pfd[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_atomic_read_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_file_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_all_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_atomic_missing_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rm_rf_does_not_follow_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mmap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_and_fsync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_join, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_all_interrupted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pwrite_pread_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_io_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
