/*
 * WAL reader: reassembles records from the fragments of one or more
 * segments (layout in segment.c) and checks everything a 2.42 reader
 * checks: CRC32C per fragment, the full | first middle* last sequence, zero
 * padding up to the page end, fragments inside their page, records inside
 * their segment. A segment that ends mid-page reads as if zero-padded, so a
 * partial last page is fine; a record cut off by the end of its segment is
 * a torn record (ST_ECORRUPT), which is what a crash during a write leaves.
 *
 * Segments are mapped one at a time. Snappy records are decoded only after
 * checking that the claimed length is plausible (at most 22 output bytes per
 * input byte, snappy's maximum expansion) and within ST_WAL_MAX_RECORD.
 */
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>

#include "strata/crc32c.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/wal.h"
#include "wal_int.h"

#define SNAPPY_MAX_EXPANSION 22

struct st_wal_reader {
    char *dir; /* NULL for a memory reader */
    int cur, last;
    bool mapped;
    st_mmap_t map;
    char *name; /* current segment, for errors */
    const uint8_t *p;
    size_t len, pos;
    int rec_seg;
    uint64_t rec_off;
    st_encbuf_t rec;
    uint8_t *dec;
    size_t deccap;
};

static int open_segment(st_wal_reader_t *r, int index) {
    if (r->mapped) st_mmap_close(&r->map);
    r->mapped = false;
    free(r->name);
    r->name = st_wal_segment_path(r->dir, index);
    if (!r->name) return st_errorf(ST_ENOMEM, "wal %s: allocation failed", r->dir);
    int rc = st_mmap_open(&r->map, r->name);
    if (rc) return st_errwrap(rc, "wal segment %s", r->name);
    r->mapped = true;
    r->p = r->map.p;
    r->len = r->map.len;
    r->pos = 0;
    r->cur = index;
    return ST_OK;
}

static st_wal_reader_t *reader_new(void) {
    st_wal_reader_t *r = calloc(1, sizeof *r);
    if (r) st_encbuf_init(&r->rec, ST_WAL_MAX_RECORD);
    return r;
}

int st_wal_reader_open(st_wal_reader_t **out, const char *dir, int first, int last) {
    *out = NULL;
    st_wal_reader_t *r = reader_new();
    if (!r || !(r->dir = strdup(dir))) {
        st_wal_reader_free(r);
        return st_errorf(ST_ENOMEM, "wal %s: allocating reader", dir);
    }
    r->last = last;
    r->cur = first - 1;
    r->rec_seg = first;
    if (first <= last) {
        int rc = open_segment(r, first);
        if (rc) {
            st_wal_reader_free(r);
            return rc;
        }
    }
    *out = r;
    return ST_OK;
}

int st_wal_reader_open_mem(st_wal_reader_t **out, const uint8_t *p, size_t len, const char *name) {
    *out = NULL;
    st_wal_reader_t *r = reader_new();
    if (!r || !(r->name = strdup(name))) {
        st_wal_reader_free(r);
        return st_errorf(ST_ENOMEM, "wal %s: allocating reader", name);
    }
    r->p = p;
    r->len = len;
    r->cur = r->last = r->rec_seg = -1;
    *out = r;
    return ST_OK;
}

void st_wal_reader_position(const st_wal_reader_t *r, int *segment, uint64_t *offset) {
    *segment = r->rec_seg;
    *offset = r->rec_off;
}

static int corrupt(st_wal_reader_t *r, size_t at, const char *what) {
    return st_errorf(ST_ECORRUPT, "wal segment %s: offset %zu: %s", r->name, at, what);
}

static int decode_snappy(st_wal_reader_t *r, const uint8_t **rec, size_t *len) {
    size_t ulen;
    if (snappy_uncompressed_length((const char *)r->rec.p, r->rec.len, &ulen) != SNAPPY_OK ||
        ulen > r->rec.len * SNAPPY_MAX_EXPANSION || ulen > ST_WAL_MAX_RECORD)
        return corrupt(r, (size_t)r->rec_off, "snappy record: bad or implausible length header");
    if (ulen > r->deccap) {
        uint8_t *nd = realloc(r->dec, ulen);
        if (!nd) return st_errorf(ST_ENOMEM, "wal segment %s: allocating %zu bytes for a record", r->name, ulen);
        r->dec = nd;
        r->deccap = ulen;
    }
    size_t got = ulen;
    if (snappy_uncompress((const char *)r->rec.p, r->rec.len, (char *)r->dec, &got) != SNAPPY_OK || got != ulen)
        return corrupt(r, (size_t)r->rec_off, "snappy record does not decode");
    *rec = r->dec;
    *len = got;
    return 1;
}

int st_wal_reader_next(st_wal_reader_t *r, const uint8_t **rec, size_t *len) {
    *rec = NULL;
    *len = 0;
    st_encbuf_reset(&r->rec);
    bool in_rec = false, compressed = false;
    for (;;) {
        if (r->pos >= r->len) {
            if (in_rec) return corrupt(r, (size_t)r->rec_off, "record torn at the end of the segment");
            if (r->cur >= r->last) {
                r->rec_off = r->len;
                return 0;
            }
            int rc = open_segment(r, r->cur + 1);
            if (rc) return rc;
            r->rec_seg = r->cur;
            r->rec_off = 0;
            continue;
        }
        size_t pos = r->pos;
        size_t page_left = ST_WAL_PAGE_SIZE - pos % ST_WAL_PAGE_SIZE;
        if (!in_rec) {
            r->rec_seg = r->cur;
            r->rec_off = pos;
        }
        uint8_t type = r->p[pos];
        if (type == ST__WAL_FRAG_PAD) {
            size_t end = pos + page_left < r->len ? pos + page_left : r->len;
            for (size_t i = pos + 1; i < end; i++)
                if (r->p[i]) return corrupt(r, i, "non-zero byte in the zero padding of a page");
            r->pos = pos + page_left;
            continue;
        }
        if (type & ~(ST__WAL_SNAPPY | 7)) return corrupt(r, pos, "fragment type has unknown flag bits");
        uint8_t ftype = type & 7;
        if (ftype > ST__WAL_FRAG_LAST) return corrupt(r, pos, "invalid fragment type");
        if (page_left < ST_WAL_FRAGMENT_HEADER) return corrupt(r, pos, "fragment header crosses a page boundary");
        if (r->len - pos < ST_WAL_FRAGMENT_HEADER)
            return corrupt(r, in_rec ? (size_t)r->rec_off : pos, "record torn at the end of the segment");
        size_t flen = st_be16(r->p + pos + 1);
        uint32_t stored = st_be32(r->p + pos + 3);
        if (ST_WAL_FRAGMENT_HEADER + flen > page_left) return corrupt(r, pos, "fragment crosses a page boundary");
        if (r->len - pos - ST_WAL_FRAGMENT_HEADER < flen)
            return corrupt(r, in_rec ? (size_t)r->rec_off : pos, "record torn at the end of the segment");
        const uint8_t *payload = r->p + pos + ST_WAL_FRAGMENT_HEADER;
        uint32_t crc = st_crc32c(0, payload, flen);
        if (crc != stored) {
            return st_errorf(ST_ECORRUPT,
                             "wal segment %s: offset %zu: fragment CRC mismatch (stored 0x%08x, computed 0x%08x)",
                             r->name, pos, stored, crc);
        }
        if (!in_rec && (ftype == ST__WAL_FRAG_MIDDLE || ftype == ST__WAL_FRAG_LAST))
            return corrupt(r, pos, "middle or last fragment without a first one");
        if (in_rec && (ftype == ST__WAL_FRAG_FULL || ftype == ST__WAL_FRAG_FIRST))
            return corrupt(r, pos, "new record starts before the previous one ended");
        if (!in_rec) compressed = type & ST__WAL_SNAPPY;
        if (flen) st_put_bytes(&r->rec, payload, flen); /* an empty buffer cannot take a 0-byte put (NULL + 0) */
        if (r->rec.err)
            return r->rec.err == ST_ELIMIT ? corrupt(r, (size_t)r->rec_off, "record exceeds the size limit")
                                           : st_errorf(ST_ENOMEM, "wal segment %s: allocating a record", r->name);
        r->pos = pos + ST_WAL_FRAGMENT_HEADER + flen;
        if (ftype == ST__WAL_FRAG_FIRST || ftype == ST__WAL_FRAG_MIDDLE) {
            in_rec = true;
            continue;
        }
        if (compressed) return decode_snappy(r, rec, len);
        *rec = r->rec.p ? r->rec.p : (const uint8_t *)"";
        *len = r->rec.len;
        return 1;
    }
}

void st_wal_reader_free(st_wal_reader_t *r) {
    if (!r) return;
    if (r->mapped) st_mmap_close(&r->map);
    st_encbuf_free(&r->rec);
    free(r->dec);
    free(r->name);
    free(r->dir);
    free(r);
}
