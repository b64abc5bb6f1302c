/*
 * WAL segments: writer, segment listing and repair (Prometheus 2.42
 * tsdb/wlog). A segment is a file named %08d holding 32 KiB pages; it has no
 * header. Each page holds record fragments:
 *
 *   u8   type    bits 0-2: 0 = rest of page is zero padding, 1 = full record,
 *                2 = first, 3 = middle, 4 = last fragment;
 *                bit 3 (0x08): the record is snappy-compressed (block format,
 *                set on every fragment of it); bits 4-7 zero
 *   be16 length  payload bytes (<= 32768 - 7)
 *   be32 crc     CRC32C of this fragment's payload
 *   payload
 *
 * Invariants the writer keeps (and the reader in reader.c checks):
 *   1. a fragment never crosses a page: when fewer than 8 bytes remain (no
 *      room for a header and one payload byte) the page is padded with zeros;
 *   2. a record never crosses a segment: one that does not fit in the rest
 *      of the segment starts the next segment;
 *   3. only the last page of the newest segment may be partial on disk; a
 *      segment that is closed or left for the next one is padded to a page.
 */
#include "strata/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata/crc32c.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "wal_int.h"

char *st_wal_segment_path(const char *dir, int index) {
    char name[16];
    snprintf(name, sizeof name, "%08d", index);
    return st_path_join(dir, name);
}

int st__wal_parse_index(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 9) return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int int_cmp(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return x < y ? -1 : x > y;
}

int st_wal_segments(const char *dir, int *first, int *last) {
    *first = *last = -1;
    DIR *d = opendir(dir);
    if (!d)
        return st_errorf(errno == ENOENT ? ST_ENOTFOUND : ST_EIO, "wal %s: open directory: %s", dir, strerror(errno));
    int *idx = NULL;
    size_t n = 0, cap = 0;
    int rc = ST_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        int k = st__wal_parse_index(e->d_name);
        if (k < 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            int *ni = realloc(idx, cap * sizeof *ni);
            if (!ni) {
                rc = st_errorf(ST_ENOMEM, "wal %s: listing segments", dir);
                goto out;
            }
            idx = ni;
        }
        idx[n++] = k;
    }
    if (n == 0) goto out;
    qsort(idx, n, sizeof *idx, int_cmp);
    for (size_t i = 1; i < n; i++)
        if (idx[i] != idx[i - 1] + 1) {
            rc = st_errorf(ST_ECORRUPT, "wal %s: segments are not sequential (%08d is followed by %08d)", dir,
                           idx[i - 1], idx[i]);
            goto out;
        }
    *first = idx[0];
    *last = idx[n - 1];
out:
    closedir(d);
    free(idx);
    return rc;
}

int st_wal_repair(const char *dir, int segment, uint64_t offset) {
    int first, last, rc;
    if ((rc = st_wal_segments(dir, &first, &last))) return rc;
    char *path = st_wal_segment_path(dir, segment);
    if (!path) return st_errorf(ST_ENOMEM, "wal %s: repair: allocation failed", dir);
    if (truncate(path, (off_t)offset) != 0) {
        rc = st_errorf(ST_EIO, "wal %s: repair: truncate to %llu bytes: %s", path, (unsigned long long)offset,
                       strerror(errno));
        goto out;
    }
    if ((rc = st_fsync_path(path))) goto out;
    for (int i = segment + 1; i <= last; i++) {
        free(path);
        if (!(path = st_wal_segment_path(dir, i))) {
            rc = st_errorf(ST_ENOMEM, "wal %s: repair: allocation failed", dir);
            goto out;
        }
        if (unlink(path) != 0 && errno != ENOENT) {
            rc = st_errorf(ST_EIO, "wal %s: repair: delete: %s", path, strerror(errno));
            goto out;
        }
    }
    rc = st_fsync_path(dir);
out:
    free(path);
    return rc;
}

/* ---- writer ---- */

struct st_wal {
    pthread_mutex_t mu;
    char *dir;
    uint32_t pages_per_segment;
    bool compress;
    int err; /* sticky: after a failed write the page state is unknown */
    int first_seg, seg;
    int fd;
    char *seg_path;
    uint32_t done_pages; /* pages of the current segment already written whole */
    size_t alloc;        /* bytes of the page in use */
    size_t flushed;      /* bytes of the page already written */
    bool dirty;          /* written since the last fsync */
    uint64_t bytes;      /* all segments in dir */
    uint8_t *zbuf;
    size_t zcap;
    uint8_t page[ST_WAL_PAGE_SIZE];
};

static int write_all(st_wal_t *w, const uint8_t *p, size_t n) {
    if (st_write_all(w->fd, p, n)) {
        w->err = st_errorf(ST_EIO, "wal segment %s: write: %s", w->seg_path, strerror(errno));
        return w->err;
    }
    w->bytes += n;
    w->dirty = true;
    return ST_OK;
}

/* Write the unwritten part of the page; with `pad` the page is completed
 * with zeros (the buffer past alloc is always zero) and a new one begins. */
static int flush_page(st_wal_t *w, bool pad) {
    size_t end = pad ? ST_WAL_PAGE_SIZE : w->alloc;
    int rc = write_all(w, w->page + w->flushed, end - w->flushed);
    if (rc) return rc;
    if (pad) {
        memset(w->page, 0, w->alloc);
        w->alloc = w->flushed = 0;
        w->done_pages++;
    } else {
        w->flushed = w->alloc;
    }
    return ST_OK;
}

static int create_segment(st_wal_t *w, int index) {
    char *path = st_wal_segment_path(w->dir, index);
    if (!path) return st_errorf(ST_ENOMEM, "wal %s: allocation failed", w->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        int rc = st_errorf(ST_EIO, "wal segment %s: create: %s", path, strerror(errno));
        free(path);
        return rc;
    }
    free(w->seg_path);
    w->seg_path = path;
    w->fd = fd;
    w->seg = index;
    w->done_pages = 0;
    w->alloc = w->flushed = 0;
    /* the new name must survive a crash before the first fsync of data */
    return st_fsync_path(w->dir);
}

static int finish_segment(st_wal_t *w) {
    int rc = ST_OK;
    if (w->alloc > 0) rc = flush_page(w, true);
    if (!rc && w->dirty) rc = st_fsync_path(w->seg_path);
    if (!rc) w->dirty = false;
    close(w->fd);
    w->fd = -1;
    return rc;
}

static int next_segment_locked(st_wal_t *w) {
    int rc = finish_segment(w);
    if (!rc) rc = create_segment(w, w->seg + 1);
    if (rc) w->err = rc;
    return rc;
}

static uint64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

int st_wal_open(st_wal_t **out, const char *dir, uint64_t segment_size, bool compress) {
    *out = NULL;
    int rc, first, last;
    if ((rc = st_mkdir_p(dir, 0777))) return rc;
    if ((rc = st_wal_segments(dir, &first, &last))) return rc;
    st_wal_t *w = calloc(1, sizeof *w);
    if (!w || !(w->dir = strdup(dir))) {
        free(w);
        return st_errorf(ST_ENOMEM, "wal %s: allocating writer", dir);
    }
    pthread_mutex_init(&w->mu, NULL);
    w->fd = -1;
    if (segment_size == 0) segment_size = ST_WAL_DEFAULT_SEGMENT_SIZE;
    uint64_t pages = segment_size / ST_WAL_PAGE_SIZE;
    w->pages_per_segment = pages == 0 ? 1 : pages > UINT32_MAX ? UINT32_MAX : (uint32_t)pages;
    w->compress = compress;
    for (int i = first; first >= 0 && i <= last; i++) {
        char *p = st_wal_segment_path(dir, i);
        if (!p) {
            rc = st_errorf(ST_ENOMEM, "wal %s: allocation failed", dir);
            goto out;
        }
        w->bytes += file_size(p);
        free(p);
    }
    w->first_seg = first >= 0 ? first : last + 1;
    if ((rc = create_segment(w, last + 1))) goto out;
    *out = w;
    w = NULL;
out:
    if (w) st_wal_close(w);
    return rc;
}

int st_wal_log(st_wal_t *w, const uint8_t *rec, size_t len) {
    pthread_mutex_lock(&w->mu);
    int rc = w->err;
    if (rc) {
        rc = st_errorf(rc, "wal %s: not writable after an earlier write error", w->dir);
        goto out;
    }
    const uint8_t *p = rec;
    size_t n = len;
    uint8_t flag = 0;
    if (w->compress && len > 0) {
        size_t need = snappy_max_compressed_length(len);
        if (need > w->zcap) {
            uint8_t *nz = realloc(w->zbuf, need);
            if (!nz) {
                rc = st_errorf(ST_ENOMEM, "wal %s: allocating %zu bytes for compression", w->dir, need);
                goto out;
            }
            w->zbuf = nz;
            w->zcap = need;
        }
        size_t zlen = w->zcap;
        if (snappy_compress((const char *)rec, len, (char *)w->zbuf, &zlen) == SNAPPY_OK && zlen < len) {
            p = w->zbuf;
            n = zlen;
            flag = ST__WAL_SNAPPY;
        }
    }
    const size_t per_page = ST_WAL_PAGE_SIZE - ST_WAL_FRAGMENT_HEADER;
    size_t page_left = ST_WAL_PAGE_SIZE - w->alloc;
    size_t page_room = page_left > ST_WAL_FRAGMENT_HEADER ? page_left - ST_WAL_FRAGMENT_HEADER : 0;
    uint64_t room = page_room + (uint64_t)(w->pages_per_segment - w->done_pages - 1) * per_page;
    if (n > room) {
        if ((uint64_t)n > (uint64_t)w->pages_per_segment * per_page) {
            rc = st_errorf(ST_ELIMIT, "wal %s: record of %zu bytes does not fit in a segment of %u pages", w->dir, n,
                           w->pages_per_segment);
            goto out;
        }
        if ((rc = next_segment_locked(w))) goto out;
    }
    size_t off = 0;
    bool first = true;
    do {
        if (ST_WAL_PAGE_SIZE - w->alloc < ST_WAL_FRAGMENT_HEADER + (n > off) && (rc = flush_page(w, true))) goto out;
        size_t fit = ST_WAL_PAGE_SIZE - w->alloc - ST_WAL_FRAGMENT_HEADER;
        size_t l = n - off < fit ? n - off : fit;
        bool last = off + l == n;
        uint8_t type = first ? (last ? ST__WAL_FRAG_FULL : ST__WAL_FRAG_FIRST)
                             : (last ? ST__WAL_FRAG_LAST : ST__WAL_FRAG_MIDDLE);
        uint8_t *h = w->page + w->alloc;
        h[0] = type | flag;
        h[1] = (uint8_t)(l >> 8);
        h[2] = (uint8_t)l;
        st_be32_put(h + 3, st_crc32c(0, p + off, l));
        if (l) memcpy(h + ST_WAL_FRAGMENT_HEADER, p + off, l);
        w->alloc += ST_WAL_FRAGMENT_HEADER + l;
        off += l;
        first = false;
        if (ST_WAL_PAGE_SIZE - w->alloc < ST_WAL_FRAGMENT_HEADER && (rc = flush_page(w, true))) goto out;
    } while (off < n);
out:
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int st_wal_flush(st_wal_t *w) {
    pthread_mutex_lock(&w->mu);
    int rc = w->err;
    if (!rc && w->alloc > w->flushed) rc = flush_page(w, false);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int st_wal_sync(st_wal_t *w) {
    pthread_mutex_lock(&w->mu);
    int rc = w->err;
    if (!rc && w->alloc > w->flushed) rc = flush_page(w, false);
    char *path = NULL;
    if (!rc && w->dirty) {
        if (!(path = strdup(w->seg_path))) rc = st_errorf(ST_ENOMEM, "wal %s: allocation failed", w->dir);
        else w->dirty = false;
    }
    pthread_mutex_unlock(&w->mu);
    /* fsync outside the lock so commits are not stalled behind the disk; a
     * segment switched meanwhile was fsynced by finish_segment */
    if (path) {
        rc = st_fsync_path(path);
        free(path);
    }
    return rc;
}

int st_wal_next_segment(st_wal_t *w, int *index) {
    pthread_mutex_lock(&w->mu);
    int rc = w->err;
    if (!rc) rc = next_segment_locked(w);
    if (!rc && index) *index = w->seg;
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int st_wal_truncate(st_wal_t *w, int below) {
    pthread_mutex_lock(&w->mu);
    int rc = ST_OK;
    if (below > w->seg) below = w->seg;
    bool removed = false;
    for (; w->first_seg < below; w->first_seg++) {
        char *p = st_wal_segment_path(w->dir, w->first_seg);
        if (!p) {
            rc = st_errorf(ST_ENOMEM, "wal %s: allocation failed", w->dir);
            break;
        }
        uint64_t size = file_size(p);
        if (unlink(p) != 0 && errno != ENOENT) {
            rc = st_errorf(ST_EIO, "wal segment %s: delete: %s", p, strerror(errno));
            free(p);
            break;
        }
        free(p);
        w->bytes -= size < w->bytes ? size : w->bytes;
        removed = true;
    }
    if (removed && !rc) rc = st_fsync_path(w->dir);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

const char *st_wal_dir(const st_wal_t *w) { return w->dir; }

int st_wal_current_segment(st_wal_t *w) {
    pthread_mutex_lock(&w->mu);
    int seg = w->seg;
    pthread_mutex_unlock(&w->mu);
    return seg;
}

uint64_t st_wal_bytes(st_wal_t *w) {
    pthread_mutex_lock(&w->mu);
    uint64_t b = w->bytes;
    pthread_mutex_unlock(&w->mu);
    return b;
}

int st_wal_close(st_wal_t *w) {
    if (!w) return ST_OK;
    int rc = ST_OK;
    if (w->fd >= 0) {
        if (!w->err) rc = finish_segment(w);
        else close(w->fd);
    }
    pthread_mutex_destroy(&w->mu);
    free(w->zbuf);
    free(w->seg_path);
    free(w->dir);
    free(w);
    return rc;
}
