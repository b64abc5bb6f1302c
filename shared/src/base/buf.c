/* Encoding/decoding buffers; byte conventions are listed in buf.h. */
#include "strata/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/err.h"

void st_encbuf_init(st_encbuf_t *b, size_t max) {
    memset(b, 0, sizeof *b);
    b->max = max ? max : ST_ENCBUF_DEFAULT_MAX;
}

void st_encbuf_free(st_encbuf_t *b) {
    if (!b) return;
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void st_encbuf_reset(st_encbuf_t *b) {
    b->len = 0;
    b->err = 0;
}

uint8_t *st_encbuf_reserve(st_encbuf_t *b, size_t n) {
    if (b->err) return NULL;
    if (n > b->max - b->len) {
        b->err = ST_ELIMIT;
        return NULL;
    }
    if (b->len + n > b->cap || !b->p) { /* allocate even for n == 0: NULL + 0 is undefined */
        size_t ncap = b->cap ? b->cap : 64;
        while (ncap < b->len + n) ncap = ncap > b->max / 2 ? b->max : ncap * 2;
        uint8_t *np = realloc(b->p, ncap);
        if (!np) {
            b->err = ST_ENOMEM;
            return NULL;
        }
        b->p = np;
        b->cap = ncap;
    }
    return b->p + b->len;
}

void st_put_bytes(st_encbuf_t *b, const void *p, size_t n) {
    uint8_t *dst = st_encbuf_reserve(b, n);
    if (!dst) return;
    if (n) memcpy(dst, p, n);
    b->len += n;
}

void st_put_u8(st_encbuf_t *b, uint8_t v) { st_put_bytes(b, &v, 1); }

void st_put_be16(st_encbuf_t *b, uint16_t v) {
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    st_put_bytes(b, x, 2);
}

void st_put_be32(st_encbuf_t *b, uint32_t v) {
    uint8_t x[4];
    st_be32_put(x, v);
    st_put_bytes(b, x, 4);
}

void st_put_be64(st_encbuf_t *b, uint64_t v) {
    uint8_t x[8];
    st_be64_put(x, v);
    st_put_bytes(b, x, 8);
}

size_t st_uvarint_put(uint8_t *dst, uint64_t v) {
    size_t i = 0;
    while (v >= 0x80) {
        dst[i++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    dst[i++] = (uint8_t)v;
    return i;
}

size_t st_uvarint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

void st_put_uvarint(st_encbuf_t *b, uint64_t v) {
    uint8_t x[10];
    st_put_bytes(b, x, st_uvarint_put(x, v));
}

void st_put_varint(st_encbuf_t *b, int64_t v) { st_put_uvarint(b, st_zigzag(v)); }

void st_put_str(st_encbuf_t *b, const void *p, size_t n) {
    st_put_uvarint(b, n);
    st_put_bytes(b, p, n);
}

void st_put_cstr(st_encbuf_t *b, const char *s) { st_put_bytes(b, s, strlen(s)); }

void st_put_fmt(st_encbuf_t *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->err = b->err ? b->err : ST_EINVAL;
        return;
    }
    if ((size_t)n < sizeof small) {
        st_put_bytes(b, small, (size_t)n);
        return;
    }
    uint8_t *dst = st_encbuf_reserve(b, (size_t)n + 1);
    if (!dst) return;
    va_start(ap, fmt);
    vsnprintf((char *)dst, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void st_encbuf_patch_be32(st_encbuf_t *b, size_t off, uint32_t v) {
    if (b->err || off + 4 > b->len) return;
    st_be32_put(b->p + off, v);
}

void st_decbuf_init(st_decbuf_t *d, const void *p, size_t len) {
    d->p = p;
    d->end = d->p + len;
    d->err = 0;
}

static inline int dec_need(st_decbuf_t *d, size_t n) {
    if (d->err) return 0;
    if ((size_t)(d->end - d->p) < n) {
        d->err = ST_ECORRUPT;
        return 0;
    }
    return 1;
}

uint8_t st_dec_u8(st_decbuf_t *d) {
    if (!dec_need(d, 1)) return 0;
    return *d->p++;
}

uint16_t st_dec_be16(st_decbuf_t *d) {
    if (!dec_need(d, 2)) return 0;
    uint16_t v = st_be16(d->p);
    d->p += 2;
    return v;
}

uint32_t st_dec_be32(st_decbuf_t *d) {
    if (!dec_need(d, 4)) return 0;
    uint32_t v = st_be32(d->p);
    d->p += 4;
    return v;
}

uint64_t st_dec_be64(st_decbuf_t *d) {
    if (!dec_need(d, 8)) return 0;
    uint64_t v = st_be64(d->p);
    d->p += 8;
    return v;
}

size_t st_uvarint_get(const uint8_t *p, size_t len, uint64_t *out) {
    uint64_t v = 0;
    unsigned shift = 0;
    for (size_t i = 0; i < len && i < 10; i++) {
        uint8_t c = p[i];
        if (i == 9 && c > 1) return 0; /* overflows 64 bits */
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return i + 1;
        }
        shift += 7;
    }
    return 0;
}

uint64_t st_dec_uvarint(st_decbuf_t *d) {
    if (d->err) return 0;
    uint64_t v;
    size_t n = st_uvarint_get(d->p, (size_t)(d->end - d->p), &v);
    if (!n) {
        d->err = ST_ECORRUPT;
        return 0;
    }
    d->p += n;
    return v;
}

int64_t st_dec_varint(st_decbuf_t *d) { return st_unzigzag(st_dec_uvarint(d)); }

const uint8_t *st_dec_bytes(st_decbuf_t *d, size_t n) {
    if (!dec_need(d, n)) return NULL;
    const uint8_t *p = d->p;
    d->p += n;
    return p;
}

const uint8_t *st_dec_str(st_decbuf_t *d, size_t *len) {
    uint64_t n = st_dec_uvarint(d);
    *len = 0;
    if (d->err) return NULL;
    if (n > (uint64_t)(d->end - d->p)) {
        d->err = ST_ECORRUPT;
        return NULL;
    }
    *len = (size_t)n;
    return st_dec_bytes(d, (size_t)n);
}

void st_dec_skip(st_decbuf_t *d, size_t n) { (void)st_dec_bytes(d, n); }
