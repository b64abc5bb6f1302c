/*
 * buf.h — bounds-checked byte encoding and decoding.
 *
 * st_encbuf_t is a growable output buffer with an owner-chosen cap: growing
 * past `max` sets a sticky ST_ELIMIT (ST_ENOMEM on allocation failure) and
 * later puts are no-ops, so writers emit a whole record and check err once.
 *
 * st_decbuf_t reads from a borrowed (ptr,len) slice. Every getter checks its
 * bounds; the first violation sets a sticky ST_ECORRUPT and all later getters
 * return 0/NULL. Parsers read straight through and test d->err once.
 *
 * Integer encodings (Prometheus/Go conventions):
 *   be16/be32/be64  fixed width, big-endian
 *   uvarint         unsigned LEB128, 1..10 bytes
 *   varint          zig-zag then uvarint (Go binary.PutVarint)
 *   str             uvarint length + raw bytes
 */
#ifndef STRATA_BUF_H
#define STRATA_BUF_H

#include <stddef.h>
#include <stdint.h>

#define ST_ENCBUF_DEFAULT_MAX ((size_t)1 << 32)

typedef struct {
    uint8_t *p;  /* owned; NULL until the first put */
    size_t len;
    size_t cap;
    size_t max;  /* growth cap in bytes */
    int err;     /* sticky: 0, ST_ENOMEM or ST_ELIMIT */
} st_encbuf_t;

void st_encbuf_init(st_encbuf_t *b, size_t max); /* max 0 => ST_ENCBUF_DEFAULT_MAX */
void st_encbuf_free(st_encbuf_t *b);             /* releases p; b may be NULL */
void st_encbuf_reset(st_encbuf_t *b);            /* len = 0, err = 0, keeps memory */
/* Make room for n more bytes; returns a pointer to write them or NULL (err set). */
uint8_t *st_encbuf_reserve(st_encbuf_t *b, size_t n);
void st_put_u8(st_encbuf_t *b, uint8_t v);
void st_put_be16(st_encbuf_t *b, uint16_t v);
void st_put_be32(st_encbuf_t *b, uint32_t v);
void st_put_be64(st_encbuf_t *b, uint64_t v);
void st_put_uvarint(st_encbuf_t *b, uint64_t v);
void st_put_varint(st_encbuf_t *b, int64_t v);
void st_put_bytes(st_encbuf_t *b, const void *p, size_t n);
void st_put_str(st_encbuf_t *b, const void *p, size_t n); /* uvarint len + bytes */
void st_put_cstr(st_encbuf_t *b, const char *s);          /* raw bytes, no length */
/* Append printf output (no terminating NUL counted in len). */
void st_put_fmt(st_encbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Overwrite 4 bytes at an earlier offset (length back-patching). */
void st_encbuf_patch_be32(st_encbuf_t *b, size_t off, uint32_t v);

/* Raw helpers for fixed buffers. st_uvarint_put writes at most 10 bytes. */
size_t st_uvarint_put(uint8_t *dst, uint64_t v);
size_t st_uvarint_len(uint64_t v);
static inline uint64_t st_zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t st_unzigzag(uint64_t u) { return (int64_t)(u >> 1) ^ -(int64_t)(u & 1); }

static inline uint16_t st_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t st_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t st_be64(const uint8_t *p) {
    return ((uint64_t)st_be32(p) << 32) | st_be32(p + 4);
}
static inline void st_be32_put(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void st_be64_put(uint8_t *p, uint64_t v) {
    st_be32_put(p, (uint32_t)(v >> 32)); st_be32_put(p + 4, (uint32_t)v);
}

typedef struct {
    const uint8_t *p;   /* cursor */
    const uint8_t *end; /* one past the last readable byte */
    int err;            /* sticky: 0 or ST_ECORRUPT */
} st_decbuf_t;

void st_decbuf_init(st_decbuf_t *d, const void *p, size_t len);
static inline size_t st_dec_remaining(const st_decbuf_t *d) { return (size_t)(d->end - d->p); }
uint8_t st_dec_u8(st_decbuf_t *d);
uint16_t st_dec_be16(st_decbuf_t *d);
uint32_t st_dec_be32(st_decbuf_t *d);
uint64_t st_dec_be64(st_decbuf_t *d);
uint64_t st_dec_uvarint(st_decbuf_t *d);
int64_t st_dec_varint(st_decbuf_t *d);
/* Returns a pointer to the next n bytes (borrowed) and advances, or NULL. */
const uint8_t *st_dec_bytes(st_decbuf_t *d, size_t n);
/* uvarint length + bytes; *len receives the length. Borrowed pointer or NULL. */
const uint8_t *st_dec_str(st_decbuf_t *d, size_t *len);
void st_dec_skip(st_decbuf_t *d, size_t n);

/* Decode a uvarint from p[0..len). Returns bytes consumed, 0 if truncated or
 * longer than 10 bytes / overflowing 64 bits. */
size_t st_uvarint_get(const uint8_t *p, size_t len, uint64_t *out);

#endif
