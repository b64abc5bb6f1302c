/*
 * FILESYSTEM backend: object "a/b/c" is the file <directory>/a/b/c.
 * Uploads go through st_file_write_atomic (unique tmp + fsync + rename +
 * dir fsync), so readers see the old or the new object, and listings hide
 * the temporaries of uploads in flight. Like Thanos's
 * filesystem bucket, a delete also removes the directories it left empty,
 * and a non-recursive listing reports each subdirectory once as "dir/".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "objstore_int.h"
#include "strata/err.h"
#include "strata/fileutil.h"

typedef struct {
    char *root;
} fs_t;

static char *obj_path(st_objstore_t *s, const char *name) {
    fs_t *fs = s->impl;
    return st_path_join(fs->root, name);
}

/* stat an object: a missing path or a directory is ST_ENOTFOUND. */
static int stat_obj(const char *path, struct stat *st) {
    if (stat(path, st) != 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR) return st_errorf(ST_ENOTFOUND, "object %s: not found", path);
        return st_errorf(ST_EIO, "stat %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st->st_mode)) return st_errorf(ST_ENOTFOUND, "object %s: not found (not a regular file)", path);
    return ST_OK;
}

static int mkdir_parent(const char *path) {
    char *dir = strdup(path);
    if (!dir) return st_errorf(ST_ENOMEM, "mkdir parent of %s: out of memory", path);
    char *slash = strrchr(dir, '/');
    int rc = ST_OK;
    if (slash && slash != dir) {
        *slash = 0;
        rc = st_mkdir_p(dir, 0755);
    }
    free(dir);
    return rc;
}

static int put_bytes(const char *path, const void *data, size_t len) {
    /* A concurrent delete prunes empty directories, so a parent may vanish
     * between our mkdir and the create (ENOENT): try again a few times. */
    int rc = ST_OK;
    for (int attempt = 0; attempt < 8; attempt++) {
        rc = mkdir_parent(path);
        if (!rc) rc = st_file_write_atomic(path, data, len);
        if (rc != ST_ENOTFOUND) break;
    }
    return rc;
}

static int fs_upload(st_objstore_t *s, const char *name, const void *data, size_t len) {
    char *path = obj_path(s, name);
    if (!path) return ST_ENOMEM;
    int rc = put_bytes(path, data, len);
    free(path);
    return rc;
}

static int fs_upload_file(st_objstore_t *s, const char *name, const char *src) {
    st_mmap_t m = {0};
    char *path = obj_path(s, name);
    if (!path) return ST_ENOMEM;
    int rc = st_mmap_open(&m, src);
    if (rc) {
        st_errwrap(rc, "upload %s", name);
        goto out;
    }
    rc = put_bytes(path, m.p, m.len);
out:
    st_mmap_close(&m);
    free(path);
    return rc;
}

static int fs_get(st_objstore_t *s, const char *name, uint64_t off, uint64_t len, size_t max, uint8_t **out,
                  size_t *outlen) {
    char *path = obj_path(s, name);
    if (!path) return ST_ENOMEM;
    uint8_t *buf = NULL;
    int rc = ST_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        rc = e == ENOENT || e == ENOTDIR ? st_errorf(ST_ENOTFOUND, "object %s: not found", path)
                                         : st_errorf(ST_EIO, "open %s: %s", path, strerror(e));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = st_errorf(ST_EIO, "stat %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = st_errorf(ST_ENOTFOUND, "object %s: not found (not a regular file)", path);
        goto out;
    }
    uint64_t size = (uint64_t)st.st_size;
    uint64_t start = off < size ? off : size;
    uint64_t want = size - start;
    if (len != ST_OBJ_TO_END && len < want) want = len;
    if (want > max) {
        rc = st_errorf(ST_ELIMIT, "object %s: %llu bytes exceed the limit of %zu", path,
                       (unsigned long long)want, max);
        goto out;
    }
    buf = malloc((size_t)want + 1);
    if (!buf) {
        rc = st_errorf(ST_ENOMEM, "object %s: allocating %llu bytes", path, (unsigned long long)want + 1);
        goto out;
    }
    size_t got; /* less than want when truncated under us: return what is there */
    if ((rc = st_pread_all(fd, buf, (size_t)want, start, &got))) {
        rc = st_errwrap(rc, "read %s", path);
        goto out;
    }
    buf[got] = 0;
    *out = buf;
    *outlen = got;
    buf = NULL;
out:
    if (fd >= 0) close(fd);
    free(buf);
    free(path);
    return rc;
}

static int fs_download_file(st_objstore_t *s, const char *name, const char *dst) {
    st_mmap_t m = {0};
    char *path = obj_path(s, name);
    if (!path) return ST_ENOMEM;
    struct stat st;
    int rc = stat_obj(path, &st);
    if (rc) goto out;
    if ((rc = st_mmap_open(&m, path))) goto out;
    rc = st_file_write_atomic(dst, m.p, m.len);
out:
    st_mmap_close(&m);
    free(path);
    return rc;
}

static int fs_attributes(st_objstore_t *s, const char *name, st_obj_attrs_t *a) {
    char *path = obj_path(s, name);
    if (!path) return ST_ENOMEM;
    struct stat st;
    int rc = stat_obj(path, &st);
    if (!rc) {
        a->size = (uint64_t)st.st_size;
        a->last_modified_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    }
    free(path);
    return rc;
}

static int fs_delete(st_objstore_t *s, const char *name) {
    fs_t *fs = s->impl;
    char *path = obj_path(s, name);
    if (!path) return ST_ENOMEM;
    struct stat st;
    int rc = stat_obj(path, &st);
    if (rc) goto out;
    if (unlink(path) != 0) {
        int e = errno;
        rc = e == ENOENT ? st_errorf(ST_ENOTFOUND, "object %s: not found", path)
                         : st_errorf(ST_EIO, "unlink %s: %s", path, strerror(e));
        goto out;
    }
    /* Prune now-empty parents up to (not including) the root; the first
     * rmdir that fails (ENOTEMPTY, a race with an upload) ends it. */
    size_t rootlen = strlen(fs->root);
    bool kept = false; /* path names a directory that still exists */
    for (char *slash = strrchr(path, '/'); slash && (size_t)(slash - path) > rootlen; slash = strrchr(path, '/')) {
        *slash = 0;
        if (rmdir(path) != 0) {
            kept = true;
            break;
        }
    }
    /* make the last change durable: in the kept directory, or in the
     * parent of the last entry removed */
    rc = kept ? st_fsync_path(path) : st_fsync_dir_of(path);
    if (rc == ST_ENOTFOUND) rc = ST_OK; /* pruned concurrently by another delete */
out:
    free(path);
    return rc;
}

typedef struct {
    char *name; /* entry name, "sub/" for directories */
    bool is_dir;
} fs_entry_t;

static int entry_cmp(const void *a, const void *b) {
    return strcmp(((const fs_entry_t *)a)->name, ((const fs_entry_t *)b)->name);
}

/* Entries of root/rel sorted by name, directories with a trailing '/', so
 * that walking them in order (recursing into directories) yields the full
 * names in lexicographic order, as S3 lists keys. */
static int read_sorted(const char *path, fs_entry_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    DIR *d = opendir(path);
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR) return ST_OK; /* no objects under it */
        return st_errorf(ST_EIO, "opendir %s: %s", path, strerror(errno));
    }
    fs_entry_t *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = ST_OK;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) rc = st_errorf(ST_EIO, "readdir %s: %s", path, strerror(errno));
            break;
        }
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, 0) != 0) continue; /* deleted meanwhile, or a dangling link */
        bool is_dir = S_ISDIR(st.st_mode);
        if (!is_dir && !S_ISREG(st.st_mode)) continue;
        if (!is_dir && st_file_is_tmp(e->d_name)) continue; /* an upload in flight */
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            fs_entry_t *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                rc = st_errorf(ST_ENOMEM, "list %s: out of memory", path);
                break;
            }
            v = nv;
            cap = ncap;
        }
        size_t l = strlen(e->d_name);
        char *nm = malloc(l + 2);
        if (!nm) {
            rc = st_errorf(ST_ENOMEM, "list %s: out of memory", path);
            break;
        }
        memcpy(nm, e->d_name, l);
        if (is_dir) nm[l++] = '/';
        nm[l] = 0;
        v[cnt].name = nm;
        v[cnt].is_dir = is_dir;
        cnt++;
    }
    closedir(d);
    if (rc) {
        for (size_t i = 0; i < cnt; i++) free(v[i].name);
        free(v);
        return rc;
    }
    if (cnt) qsort(v, cnt, sizeof *v, entry_cmp);
    *out = v;
    *n = cnt;
    return ST_OK;
}

static int walk(fs_t *fs, const char *rel, bool recursive, st_objstore_iter_fn fn, void *ctx) {
    char *path = st_path_join(fs->root, rel);
    if (!path) return ST_ENOMEM;
    fs_entry_t *v = NULL;
    size_t n = 0;
    int rc = read_sorted(path, &v, &n);
    free(path);
    if (rc) return rc;
    size_t rl = strlen(rel);
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t nl = strlen(v[i].name);
        char *full = malloc(rl + nl + 1);
        if (!full) {
            rc = st_errorf(ST_ENOMEM, "list %s: out of memory", rel);
            break;
        }
        memcpy(full, rel, rl);
        memcpy(full + rl, v[i].name, nl + 1);
        /* names are capped at 1024 bytes, which also ends symlink loops */
        if (v[i].is_dir && recursive) rc = rl + nl <= 1024 ? walk(fs, full, true, fn, ctx) : ST_OK;
        else rc = fn(ctx, full);
        free(full);
    }
    for (size_t i = 0; i < n; i++) free(v[i].name);
    free(v);
    return rc;
}

static int fs_iter(st_objstore_t *s, const char *dir, bool recursive, st_objstore_iter_fn fn, void *ctx) {
    return walk(s->impl, dir, recursive, fn, ctx);
}

static void fs_close(void *impl) {
    fs_t *fs = impl;
    if (!fs) return;
    free(fs->root);
    free(fs);
}

static const st_objstore_ops_t fs_ops = {
    .upload = fs_upload,
    .upload_file = fs_upload_file,
    .get = fs_get,
    .download_file = fs_download_file,
    .attributes = fs_attributes,
    .del = fs_delete,
    .iter = fs_iter,
    .close = fs_close,
};

int st_objstore_fs_open(st_objstore_t *s, const st_objstore_config_t *cfg) {
    fs_t *fs = calloc(1, sizeof *fs);
    if (!fs) return st_errorf(ST_ENOMEM, "objstore: out of memory");
    /* trailing slashes would double up in joined paths and in the prune bound */
    size_t n = strlen(cfg->directory);
    while (n > 1 && cfg->directory[n - 1] == '/') n--;
    fs->root = strndup(cfg->directory, n);
    size_t dl = n + sizeof "FILESYSTEM:";
    s->desc = malloc(dl);
    if (!fs->root || !s->desc) {
        fs_close(fs);
        return st_errorf(ST_ENOMEM, "objstore: out of memory");
    }
    snprintf(s->desc, dl, "FILESYSTEM:%s", fs->root);
    s->ops = &fs_ops;
    s->impl = fs;
    return ST_OK;
}
