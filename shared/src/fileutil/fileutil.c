/* File-system helpers; the durability protocol is described in fileutil.h.
 * Every error detail names the path and carries strerror(errno), except
 * those of the fd helpers, which know no path (see fileutil.h). */
#include "strata/fileutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata/err.h"

/* ENOENT is reported as ST_ENOTFOUND so callers can treat "missing" as a
 * normal outcome (e.g. an absent tombstones file); everything else is EIO. */
static int io_err(int e, const char *what, const char *path) {
    return st_errorf(e == ENOENT ? ST_ENOTFOUND : ST_EIO, "%s %s: %s", what, path, strerror(e));
}

enum { XFER_WRITE, XFER_PWRITE, XFER_PREAD };

/* The one loop behind st_write_all, st_pwrite_all and st_pread_all. Only
 * XFER_PREAD stores into buf, which is why it is not const. */
static int xfer(int fd, int op, void *buf, size_t len, uint64_t off, size_t *done) {
    uint8_t *p = buf;
    size_t n = 0;
    int rc = ST_OK;
    while (n < len) {
        ssize_t k;
        if (op == XFER_WRITE) k = write(fd, p + n, len - n);
        else if (op == XFER_PWRITE) k = pwrite(fd, p + n, len - n, (off_t)(off + n));
        else k = pread(fd, p + n, len - n, (off_t)(off + n));
        if (k < 0 && errno == EINTR) continue;
        if (k == 0 && op == XFER_PREAD) break; /* end of file */
        if (k <= 0) {
            int e = k < 0 ? errno : EIO; /* a write of 0 bytes would otherwise loop forever */
            if (op == XFER_WRITE) st_errorf(ST_EIO, "write: %s", strerror(e));
            else st_errorf(ST_EIO, "%s at offset %llu: %s", op == XFER_PWRITE ? "pwrite" : "pread",
                           (unsigned long long)(off + n), strerror(e));
            errno = e;
            rc = ST_EIO;
            break;
        }
        n += (size_t)k;
    }
    if (done) *done = n;
    return rc;
}

int st_write_all(int fd, const void *p, size_t len) {
    return xfer(fd, XFER_WRITE, (void *)p, len, 0, NULL);
}

int st_pwrite_all(int fd, const void *p, size_t len, uint64_t off) {
    return xfer(fd, XFER_PWRITE, (void *)p, len, off, NULL);
}

int st_pread_all(int fd, void *p, size_t len, uint64_t off, size_t *got) {
    return xfer(fd, XFER_PREAD, p, len, off, got);
}

/* Parent directory of path as a malloc'd string ("a/b" -> "a", "b" -> "."). */
static char *parent_dir(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--; /* "a/b/" names the same entry as "a/b" */
    while (n > 0 && path[n - 1] != '/') n--;
    if (n == 0) return strdup(".");
    while (n > 1 && path[n - 1] == '/') n--;
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, path, n);
    d[n] = 0;
    return d;
}

int st_fsync_path(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return io_err(errno, "open", path);
    int rc = ST_OK;
    if (fsync(fd) != 0) rc = io_err(errno, "fsync", path);
    close(fd);
    return rc;
}

int st_fsync_dir_of(const char *path) {
    char *dir = parent_dir(path);
    if (!dir) return st_errorf(ST_ENOMEM, "fsync parent of %s: out of memory", path);
    int rc = st_fsync_path(dir);
    free(dir);
    return rc;
}

#define TMP_MARK ".tmp-"
#define TMP_TEMPLATE TMP_MARK "XXXXXX"

int st_atomic_file_open(st_atomic_file_t *f, const char *path) {
    size_t pl = strlen(path);
    f->fd = -1;
    f->path = strdup(path);
    f->tmp = malloc(pl + sizeof TMP_TEMPLATE);
    if (!f->path || !f->tmp) {
        st_atomic_file_abort(f);
        return st_errorf(ST_ENOMEM, "write %s: out of memory", path);
    }
    memcpy(f->tmp, path, pl);
    memcpy(f->tmp + pl, TMP_TEMPLATE, sizeof TMP_TEMPLATE);
    /* unique, so concurrent writers of one path never share a temporary */
    f->fd = mkostemp(f->tmp, O_CLOEXEC);
    if (f->fd < 0) {
        int rc = io_err(errno, "create", f->tmp);
        free(f->tmp);
        f->tmp = NULL; /* nothing to unlink */
        st_atomic_file_abort(f);
        return rc;
    }
    if (fchmod(f->fd, 0644) != 0) {
        int rc = io_err(errno, "chmod", f->tmp);
        st_atomic_file_abort(f);
        return rc;
    }
    return ST_OK;
}

int st_atomic_file_commit(st_atomic_file_t *f) {
    int rc = ST_OK;
    if (fsync(f->fd) != 0) {
        rc = io_err(errno, "fsync", f->tmp);
        goto out;
    }
    int fd = f->fd;
    f->fd = -1;
    if (close(fd) != 0) {
        rc = io_err(errno, "close", f->tmp);
        goto out;
    }
    if (rename(f->tmp, f->path) != 0) {
        rc = io_err(errno, "rename to", f->path);
        goto out;
    }
    free(f->tmp);
    f->tmp = NULL; /* renamed: nothing left to remove */
    rc = st_fsync_dir_of(f->path);
out:
    st_atomic_file_abort(f);
    return rc;
}

void st_atomic_file_abort(st_atomic_file_t *f) {
    if (f->fd >= 0) close(f->fd);
    if (f->tmp) unlink(f->tmp);
    free(f->tmp);
    free(f->path);
    f->fd = -1;
    f->tmp = f->path = NULL;
}

bool st_file_is_tmp(const char *name) {
    size_t n = strlen(name), m = sizeof TMP_TEMPLATE - 1;
    return n > m && memcmp(name + n - m, TMP_MARK, sizeof TMP_MARK - 1) == 0;
}

int st_file_write_atomic(const char *path, const void *data, size_t len) {
    st_atomic_file_t f;
    int rc = st_atomic_file_open(&f, path);
    if (rc) return rc;
    if (st_write_all(f.fd, data, len) != 0) {
        rc = io_err(errno, "write", f.tmp);
        st_atomic_file_abort(&f);
        return rc;
    }
    return st_atomic_file_commit(&f);
}

/* Open path read-only and check it is a regular file: the shared prologue
 * of reading and mapping. `op` names the operation in errors. On success
 * *fd is open and *st filled; on failure nothing is left open. */
static int open_regular(const char *path, const char *op, int *fd, struct stat *st) {
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) return io_err(errno, "open", path);
    int rc = ST_OK;
    if (fstat(*fd, st) != 0) rc = io_err(errno, "stat", path);
    else if (!S_ISREG(st->st_mode)) rc = st_errorf(ST_EIO, "%s %s: not a regular file", op, path);
    if (rc) {
        close(*fd);
        *fd = -1;
    }
    return rc;
}

int st_file_read_all(const char *path, size_t max, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    int rc = ST_OK;
    uint8_t *buf = NULL;
    int fd;
    struct stat st;
    if ((rc = open_regular(path, "read", &fd, &st))) return rc;
    if ((uint64_t)st.st_size > max) {
        rc = st_errorf(ST_ELIMIT, "read %s: size %lld exceeds the limit of %zu bytes", path,
                       (long long)st.st_size, max);
        goto out;
    }
    size_t size = (size_t)st.st_size;
    buf = malloc(size + 1);
    if (!buf) {
        rc = st_errorf(ST_ENOMEM, "read %s: allocating %zu bytes", path, size + 1);
        goto out;
    }
    /* The file may shrink under us; a short read just ends the data. */
    size_t got;
    if (st_pread_all(fd, buf, size, 0, &got) != 0) {
        rc = io_err(errno, "read", path);
        goto out;
    }
    buf[got] = 0;
    *out = buf;
    *len = got;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return rc;
}

int st_rename_durable(const char *from, const char *to) {
    if (rename(from, to) != 0) {
        int e = errno;
        return st_errorf(e == ENOENT ? ST_ENOTFOUND : ST_EIO, "rename %s to %s: %s", from, to,
                         strerror(e));
    }
    int rc = st_fsync_dir_of(to);
    if (rc) return rc;
    char *a = parent_dir(from), *b = parent_dir(to);
    if (!a || !b) {
        rc = st_errorf(ST_ENOMEM, "rename %s: out of memory", from);
    } else if (strcmp(a, b) != 0) {
        rc = st_fsync_path(a);
    }
    free(a);
    free(b);
    return rc;
}

static int mkdir_one(char *path, unsigned mode) {
    if (mkdir(path, (mode_t)mode) == 0) return ST_OK;
    int e = errno;
    struct stat st;
    if (e == EEXIST && stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return ST_OK;
        return st_errorf(ST_EEXIST, "mkdir %s: exists and is not a directory", path);
    }
    return io_err(e, "mkdir", path);
}

int st_mkdir_p(const char *path, unsigned mode) {
    char *p = strdup(path);
    if (!p) return st_errorf(ST_ENOMEM, "mkdir %s: out of memory", path);
    int rc = ST_OK;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/' || s[-1] == '/') continue;
        *s = 0;
        rc = mkdir_one(p, mode);
        *s = '/';
        if (rc) goto out;
    }
    rc = mkdir_one(p, mode);
out:
    free(p);
    return rc;
}

/* Empty the open directory dfd (named path, for errors; dfd is consumed);
 * the caller removes the directory itself. Entries are unlinked by name and
 * subdirectories opened with O_NOFOLLOW, so a symlink is removed, never
 * followed out of the tree. */
static int rm_contents(int dfd, const char *path) {
    DIR *d = fdopendir(dfd);
    if (!d) {
        int e = errno;
        close(dfd);
        return io_err(e, "opendir", path);
    }
    int rc = ST_OK;
    struct dirent *e;
    for (;;) {
        errno = 0;
        e = readdir(d);
        if (!e) {
            if (errno) rc = io_err(errno, "readdir", path);
            break;
        }
        const char *name = e->d_name;
        if (!strcmp(name, ".") || !strcmp(name, "..")) continue;
        if (unlinkat(dirfd(d), name, 0) == 0 || errno == ENOENT) continue;
        int err = errno;
        if (err != EISDIR && err != EPERM) {
            char *sub = st_path_join(path, name);
            rc = sub ? io_err(err, "unlink", sub) : ST_ENOMEM;
            free(sub);
            break;
        }
        /* A directory (Linux says EISDIR, POSIX allows EPERM). */
        char *sub = st_path_join(path, name);
        if (!sub) {
            rc = ST_ENOMEM;
            break;
        }
        int cfd = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0) {
            rc = io_err(errno, "open", sub);
        } else {
            rc = rm_contents(cfd, sub);
            if (rc == ST_OK && unlinkat(dirfd(d), name, AT_REMOVEDIR) != 0 && errno != ENOENT)
                rc = io_err(errno, "rmdir", sub);
        }
        free(sub);
        if (rc) break;
    }
    closedir(d);
    return rc;
}

int st_rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return ST_OK;
        return io_err(errno, "stat", path);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0 && errno != ENOENT) return io_err(errno, "unlink", path);
        return ST_OK;
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return io_err(errno, "open", path);
    int rc = rm_contents(fd, path);
    if (rc) return rc;
    if (rmdir(path) != 0 && errno != ENOENT) return io_err(errno, "rmdir", path);
    return ST_OK;
}

int st_path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? 1 : 0;
}

int st_mmap_open(st_mmap_t *m, const char *path) {
    m->p = NULL;
    m->len = 0;
    int fd;
    struct stat st;
    int rc = open_regular(path, "mmap", &fd, &st);
    if (rc) return rc;
    if ((uint64_t)st.st_size > SIZE_MAX) {
        rc = st_errorf(ST_ELIMIT, "mmap %s: file too large", path);
        goto out;
    }
    if (st.st_size == 0) goto out; /* mmap of length 0 is EINVAL; callers see an empty slice */
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
        rc = io_err(errno, "mmap", path);
        goto out;
    }
    m->p = p;
    m->len = (size_t)st.st_size;
out:
    close(fd);
    return rc;
}

void st_mmap_close(st_mmap_t *m) {
    if (!m || !m->p) return;
    munmap((void *)m->p, m->len);
    m->p = NULL;
    m->len = 0;
}

void st_mmap_release(const st_mmap_t *m) {
    if (m->p) (void)madvise((void *)m->p, m->len, MADV_DONTNEED);
}

char *st_path_join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    int sep = la > 0 && a[la - 1] != '/';
    char *s = malloc(la + (size_t)sep + lb + 1);
    if (!s) {
        st_errorf(ST_ENOMEM, "path join %s + %s: out of memory", a, b);
        return NULL;
    }
    memcpy(s, a, la);
    if (sep) s[la] = '/';
    memcpy(s + la + (size_t)sep, b, lb + 1);
    return s;
}
