/*
 * fileutil.h — the only place Strata touches durability primitives.
 *
 * Durable write protocol (st_file_write_atomic): write path.tmp, fsync it,
 * rename over path, fsync the parent directory. A crash leaves either the
 * old file or the new one, never a torn one.
 *
 * Errors: a missing path (ENOENT) gives ST_ENOTFOUND, a file larger than a
 * read cap ST_ELIMIT, any other failure ST_EIO; the detail names the path and
 * carries strerror(errno).
 */
#ifndef STRATA_FILEUTIL_H
#define STRATA_FILEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int st_file_write_atomic(const char *path, const void *data, size_t len);

/* Whole-buffer I/O on an open fd: EINTR is retried and short transfers are
 * continued. These know no path, so they differ from the rest of this
 * header: a failure returns ST_EIO with errno preserved (a transfer of 0
 * bytes where more were asked sets EIO) and a detail holding only the call
 * and strerror(errno) ("write: No space left on device"). The caller names
 * its file and section, either afresh with strerror(errno) or by
 * st_errwrap() on that detail. Bytes already transferred when an error
 * occurs stay where they were written. */
int st_write_all(int fd, const void *p, size_t len);                 /* at the file position */
int st_pwrite_all(int fd, const void *p, size_t len, uint64_t off); /* position untouched */
/* Read len bytes at off, or fewer when the file ends first: *got says how
 * many (a file shrinking under a reader is not an error). */
int st_pread_all(int fd, void *p, size_t len, uint64_t off, size_t *got);

/* The same protocol for data written piece by piece (downloads): open
 * creates a unique temporary "<path>.tmp-XXXXXX" next to path, the caller
 * writes to f->fd, commit fsyncs, renames over path and fsyncs the
 * directory; abort (or a failed commit) removes the temporary. */
typedef struct {
    int fd;
    char *tmp;
    char *path;
} st_atomic_file_t;
int st_atomic_file_open(st_atomic_file_t *f, const char *path);
int st_atomic_file_commit(st_atomic_file_t *f);
void st_atomic_file_abort(st_atomic_file_t *f); /* safe after commit or on a zeroed struct */
/* Is this file name one of those temporaries (to hide from listings)? */
bool st_file_is_tmp(const char *name);
/* Read a whole regular file of at most max bytes; *out malloc'd (+1 NUL). */
int st_file_read_all(const char *path, size_t max, uint8_t **out, size_t *len);
int st_fsync_path(const char *path);   /* fsync a file or directory by path */
int st_fsync_dir_of(const char *path); /* fsync the directory containing path */
int st_rename_durable(const char *from, const char *to); /* rename + fsync both parents */
int st_mkdir_p(const char *path, unsigned mode);
int st_rm_rf(const char *path);       /* missing path is not an error */
int st_path_exists(const char *path); /* 1, 0 */

/* Read-only mapping of a whole file. An empty file maps to p == NULL, len 0. */
typedef struct {
    const uint8_t *p;
    size_t len;
} st_mmap_t;
int st_mmap_open(st_mmap_t *m, const char *path);
void st_mmap_close(st_mmap_t *m); /* NULL / unmapped ok */
/* Give the mapping's resident pages back (madvise MADV_DONTNEED, a hint):
 * it stays readable, later reads map pages in again from the page cache.
 * For passes over a whole file whose resident set would otherwise grow by
 * every byte read. Unmapped ok. */
void st_mmap_release(const st_mmap_t *m);

/* Join two path parts into a malloc'd string ("a" + "b" -> "a/b"). */
char *st_path_join(const char *a, const char *b);

#endif
