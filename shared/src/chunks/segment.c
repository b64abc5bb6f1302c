/*
 * Chunk segment files of a block: <block>/chunks/000001, 000002, ...
 *
 *   segment:  be32 magic 0x85BD40DD | u8 version 1 | 3 zero bytes | entry...
 *   entry:    uvarint len | u8 encoding | len bytes data | be32 CRC32C(encoding | data)
 *
 * A chunk ref is (position of the file in the sorted list of numerically
 * named files) << 32 | offset of the entry's len field in that file. Files
 * are cut like Prometheus does: each entry is estimated at 5 + 1 + len + 4
 * bytes and a new file starts when it would push a non-empty file past the
 * segment size.
 */
#include "strata/chunks.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/buf.h"
#include "strata/crc32c.h"
#include "strata/err.h"
#include "strata/fileutil.h"

#define SEG_MAGIC 0x85BD40DDu
#define SEG_VERSION 1
#define SEG_HEADER 8
#define SEG_MAX_FILES 999999 /* %06d names sort numerically only this far */
#define ENTRY_MAX_LEN_FIELD 5 /* readers decode len from at most 5 bytes */
#define WBUF_SIZE ((size_t)1 << 20)
/* Start writeback of each completed range this large while writing, so the
 * final fsync of a large segment finds little left to write. */
#define WRITEBACK_RANGE ((uint64_t)16 << 20)

/* Prometheus reads file names with strconv.ParseUint: all digits, fits 64 bits. */
static int is_segment_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 20) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return n < 20 || strcmp(s, "18446744073709551615") <= 0;
}

static int io_err(const char *what, const char *path) {
    int e = errno;
    return st_errorf(e == ENOENT ? ST_ENOTFOUND : ST_EIO, "chunks %s: %s: %s", path, what, strerror(e));
}

/* ---- writer ---- */

struct st_chunk_writer {
    char *dir;
    uint64_t seg_size;
    int fd;            /* current segment, -1 before the first chunk and after close */
    char *path;        /* of the current segment */
    uint32_t nsegs;    /* files created; the current one has position nsegs - 1 */
    uint64_t n;        /* bytes in the current segment, buffered ones included */
    uint64_t written;  /* bytes of the current segment handed to the kernel */
    uint64_t kicked;   /* prefix of those whose writeback has been started */
    uint8_t *wbuf;
    size_t wlen;
    int closed;
};

static int write_seg(st_chunk_writer_t *w, const void *p, size_t len) {
    if (st_write_all(w->fd, p, len)) return io_err("write", w->path);
    w->written += len;
    if (w->written - w->kicked >= WRITEBACK_RANGE) {
#ifdef __linux__
        /* A hint: durability still comes from the fsync when the segment is
         * finished, so a failure here changes nothing. */
        (void)sync_file_range(w->fd, (off_t)w->kicked, (off_t)(w->written - w->kicked), SYNC_FILE_RANGE_WRITE);
#endif
        w->kicked = w->written;
    }
    return ST_OK;
}

static int flush(st_chunk_writer_t *w) {
    int rc = write_seg(w, w->wbuf, w->wlen);
    w->wlen = 0;
    return rc;
}

static int put(st_chunk_writer_t *w, const void *p, size_t len) {
    if (w->wlen + len > WBUF_SIZE) {
        int rc = flush(w);
        if (rc) return rc;
        if (len > WBUF_SIZE) return write_seg(w, p, len);
    }
    if (len) memcpy(w->wbuf + w->wlen, p, len);
    w->wlen += len;
    return ST_OK;
}

/* Flush and close the current segment; durable only when sync is set. */
static int finish_segment(st_chunk_writer_t *w, int sync) {
    if (w->fd < 0) return ST_OK;
    int rc = flush(w);
    if (close(w->fd) != 0 && !rc) rc = io_err("close", w->path);
    w->fd = -1;
    if (!rc && sync) rc = st_fsync_path(w->path);
    return rc;
}

static int cut(st_chunk_writer_t *w) {
    int rc = finish_segment(w, 1);
    if (rc) return rc;
    if (w->nsegs == SEG_MAX_FILES)
        return st_errorf(ST_ELIMIT, "chunks %s: more than %d segment files", w->dir, SEG_MAX_FILES);
    char name[16];
    snprintf(name, sizeof name, "%06" PRIu32, w->nsegs + 1);
    char *path = st_path_join(w->dir, name);
    if (!path) return ST_ENOMEM;
    free(w->path);
    w->path = path;
    w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (w->fd < 0) return io_err("create", path);
    w->nsegs++;
    w->written = w->kicked = 0;
    uint8_t hdr[SEG_HEADER] = {0, 0, 0, 0, SEG_VERSION, 0, 0, 0};
    st_be32_put(hdr, SEG_MAGIC);
    w->n = SEG_HEADER;
    return put(w, hdr, sizeof hdr);
}

int st_chunk_writer_open(st_chunk_writer_t **out, const char *dir, uint64_t segment_size) {
    *out = NULL;
    if (segment_size == 0) segment_size = ST_CHUNK_SEGMENT_DEFAULT_SIZE;
    if (segment_size > ((uint64_t)1 << 32))
        return st_errorf(ST_EINVAL, "chunks %s: segment size %" PRIu64 " exceeds the 4 GiB ref offset range",
                         dir, segment_size);
    int rc = st_mkdir_p(dir, 0777);
    if (rc) return rc;
    DIR *d = opendir(dir);
    if (!d) return io_err("opendir", dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (is_segment_name(e->d_name)) {
            rc = st_errorf(ST_EEXIST, "chunks %s: already holds segment %s", dir, e->d_name);
            break;
        }
    }
    closedir(d);
    if (rc) return rc;
    st_chunk_writer_t *w = calloc(1, sizeof *w);
    if (!w) return st_errorf(ST_ENOMEM, "chunks %s: allocating writer", dir);
    w->fd = -1;
    w->seg_size = segment_size;
    w->dir = strdup(dir);
    w->wbuf = malloc(WBUF_SIZE);
    if (!w->dir || !w->wbuf) {
        st_chunk_writer_free(w);
        return st_errorf(ST_ENOMEM, "chunks %s: allocating writer", dir);
    }
    *out = w;
    return ST_OK;
}

int st_chunk_writer_write(st_chunk_writer_t *w, uint8_t encoding, const uint8_t *data, size_t len,
                          uint64_t *out_ref) {
    return st_chunk_writer_write_crc(w, encoding, data, len, st_crc32c(st_crc32c(0, &encoding, 1), data, len),
                                     out_ref);
}

int st_chunk_writer_write_crc(st_chunk_writer_t *w, uint8_t encoding, const uint8_t *data, size_t len,
                              uint32_t crc32c, uint64_t *out_ref) {
    if (w->closed) return st_errorf(ST_EINVAL, "chunks %s: write after close", w->dir);
    if (len > UINT32_MAX)
        return st_errorf(ST_EINVAL, "chunks %s: chunk of %zu bytes exceeds the 32-bit length field", w->dir, len);
    uint64_t estimate = ENTRY_MAX_LEN_FIELD + 1 + (uint64_t)len + 4;
    int rc;
    if (w->fd < 0 || (w->n > SEG_HEADER && w->n + estimate > w->seg_size)) {
        rc = cut(w);
        if (rc) return rc;
    }
    *out_ref = (uint64_t)(w->nsegs - 1) << 32 | w->n;
    uint8_t head[ENTRY_MAX_LEN_FIELD + 1];
    size_t hl = st_uvarint_put(head, len);
    head[hl++] = encoding;
    uint8_t crc[4];
    st_be32_put(crc, crc32c);
    if ((rc = put(w, head, hl)) || (rc = put(w, data, len)) || (rc = put(w, crc, 4))) return rc;
    w->n += hl + len + 4;
    return ST_OK;
}

int st_chunk_writer_close(st_chunk_writer_t *w) {
    if (w->closed) return ST_OK;
    w->closed = 1;
    int rc = finish_segment(w, 1);
    if (!rc) rc = st_fsync_path(w->dir);
    return rc;
}

void st_chunk_writer_free(st_chunk_writer_t *w) {
    if (!w) return;
    finish_segment(w, 0);
    free(w->dir);
    free(w->path);
    free(w->wbuf);
    free(w);
}

/* ---- reader ---- */

typedef struct {
    const uint8_t *p;
    size_t len;
    st_mmap_t map; /* unmapped for in-memory segments */
    char *name;    /* file path, or "segment N" */
} seg_t;

struct st_chunk_reader {
    seg_t *segs;
    size_t nsegs;
    uint64_t size;
};

static int check_header(const seg_t *s) {
    if (s->len < SEG_HEADER)
        return st_errorf(ST_ECORRUPT, "chunks %s: %zu bytes, shorter than the %d-byte header", s->name, s->len,
                         SEG_HEADER);
    uint32_t magic = st_be32(s->p);
    if (magic != SEG_MAGIC)
        return st_errorf(ST_ECORRUPT, "chunks %s: bad magic 0x%08" PRIx32 " (want 0x%08x)", s->name, magic,
                         SEG_MAGIC);
    if (s->p[4] != SEG_VERSION)
        return st_errorf(ST_ECORRUPT, "chunks %s: unsupported version %u", s->name, s->p[4]);
    return ST_OK;
}

static int reader_alloc(st_chunk_reader_t **out, size_t nsegs) {
    st_chunk_reader_t *r = calloc(1, sizeof *r);
    if (r && nsegs) r->segs = calloc(nsegs, sizeof *r->segs);
    if (!r || (nsegs && !r->segs)) {
        free(r);
        return st_errorf(ST_ENOMEM, "chunks: allocating a reader for %zu segments", nsegs);
    }
    *out = r;
    return ST_OK;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int st_chunk_reader_open(st_chunk_reader_t **out, const char *dir) {
    *out = NULL;
    st_chunk_reader_t *r = NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = ST_OK;
    DIR *d = opendir(dir);
    if (!d) return io_err("opendir", dir);
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) rc = io_err("readdir", dir);
            break;
        }
        if (!is_segment_name(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn) {
                rc = st_errorf(ST_ENOMEM, "chunks %s: listing segments", dir);
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = st_errorf(ST_ENOMEM, "chunks %s: listing segments", dir);
            break;
        }
        n++;
    }
    closedir(d);
    if (rc) goto out;
    /* Lexicographic, like Prometheus's directory listing; equal to numeric
     * order for the zero-padded names writers use. */
    if (n) qsort(names, n, sizeof *names, name_cmp);
    if ((rc = reader_alloc(&r, n))) goto out;
    r->nsegs = n;
    for (size_t i = 0; i < n; i++) {
        seg_t *s = &r->segs[i];
        if (!(s->name = st_path_join(dir, names[i]))) {
            rc = ST_ENOMEM;
            goto out;
        }
        if ((rc = st_mmap_open(&s->map, s->name))) goto out;
        s->p = s->map.p;
        s->len = s->map.len;
        if ((rc = check_header(s))) goto out;
        r->size += s->len;
    }
    *out = r;
    r = NULL;
out:
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    st_chunk_reader_free(r);
    return rc;
}

int st_chunk_reader_open_mem(st_chunk_reader_t **out, const uint8_t *const *segs, const size_t *lens,
                             size_t nsegs) {
    *out = NULL;
    st_chunk_reader_t *r = NULL;
    int rc = reader_alloc(&r, nsegs);
    if (rc) return rc;
    r->nsegs = nsegs;
    for (size_t i = 0; i < nsegs; i++) {
        seg_t *s = &r->segs[i];
        char name[32];
        snprintf(name, sizeof name, "segment %zu", i);
        if (!(s->name = strdup(name))) {
            rc = st_errorf(ST_ENOMEM, "chunks: allocating segment names");
            goto out;
        }
        s->p = segs[i];
        s->len = lens[i];
        if ((rc = check_header(s))) goto out;
        r->size += s->len;
    }
    *out = r;
    r = NULL;
out:
    st_chunk_reader_free(r);
    return rc;
}

int st_chunk_decode_entry(const uint8_t *p, size_t len, const char *what, uint8_t *encoding, const uint8_t **data,
                          size_t *dlen, uint64_t *need) {
    *need = 0;
    /* Details start with "what: " when the caller named the entry, bare
     * otherwise (the mapped reader wraps them, formatting only on error). */
    const char *w = what ? what : "", *sep = what ? ": " : "";
    uint64_t n;
    size_t vn = st_uvarint_get(p, len < ENTRY_MAX_LEN_FIELD ? len : ENTRY_MAX_LEN_FIELD, &n);
    if (vn == 0) {
        if (len >= ENTRY_MAX_LEN_FIELD) return st_errorf(ST_ECORRUPT, "%s%sbad length varint", w, sep);
        /* enough for the longest length field and the smallest entry */
        *need = ENTRY_MAX_LEN_FIELD + 1 + 4;
        return ST_OK;
    }
    /* n < 2^35 (5 varint bytes), so this cannot overflow */
    uint64_t total = vn + 1 + n + 4;
    if (total > len) {
        *need = total;
        return ST_OK;
    }
    const uint8_t *e = p + vn;
    uint32_t stored = st_be32(e + 1 + n), computed = st_crc32c(0, e, 1 + n);
    if (stored != computed)
        return st_errorf(ST_ECORRUPT, "%s%sCRC mismatch (stored 0x%08" PRIx32 ", computed 0x%08" PRIx32 ")", w, sep,
                         stored, computed);
    *encoding = e[0];
    *data = e + 1;
    *dlen = (size_t)n;
    return ST_OK;
}

int st_chunk_reader_get(const st_chunk_reader_t *r, uint64_t ref, uint8_t *encoding, const uint8_t **data,
                        size_t *len) {
    uint64_t segno = ref >> 32;
    uint32_t off = (uint32_t)ref;
    if (segno >= r->nsegs)
        return st_errorf(ST_ECORRUPT, "chunks: ref 0x%016" PRIx64 ": segment %" PRIu64 " does not exist (%zu segments)",
                         ref, segno, r->nsegs);
    const seg_t *s = &r->segs[segno];
    if (off < SEG_HEADER)
        return st_errorf(ST_ECORRUPT, "chunks %s: ref 0x%016" PRIx64 ": offset %" PRIu32 " is inside the header",
                         s->name, ref, off);
    if (off >= s->len)
        return st_errorf(ST_ECORRUPT, "chunks %s: chunk at offset %" PRIu32 ": beyond the end of the %zu-byte file",
                         s->name, off, s->len);
    uint64_t need;
    int rc = st_chunk_decode_entry(s->p + off, s->len - off, NULL, encoding, data, len, &need);
    if (!rc && need)
        rc = st_errorf(ST_ECORRUPT, "entry runs past the end of the %zu-byte file", s->len);
    if (rc) return st_errwrap(rc, "chunks %s: chunk at offset %" PRIu32, s->name, off);
    return ST_OK;
}

uint32_t st_chunk_stored_crc(const uint8_t *data, size_t len) { return st_be32(data + len); }

uint64_t st_chunk_reader_size(const st_chunk_reader_t *r) { return r->size; }

void st_chunk_reader_release_pages(const st_chunk_reader_t *r) {
    for (size_t i = 0; i < r->nsegs; i++) st_mmap_release(&r->segs[i].map);
}

void st_chunk_reader_free(st_chunk_reader_t *r) {
    if (!r) return;
    for (size_t i = 0; i < r->nsegs; i++) {
        st_mmap_close(&r->segs[i].map);
        free(r->segs[i].name);
    }
    free(r->segs);
    free(r);
}
