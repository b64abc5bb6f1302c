/*
 * XOR ("Gorilla") chunk codec, bit-exact with Prometheus 2.42.
 *
 *   be16 N                      number of samples (1..65535; 0 = empty chunk)
 *   -- bit stream, MSB-first, zero-padded to a byte --
 *   sample 0:  varint(t0) bytes | 64 bits of v0
 *   sample 1:  uvarint(t1 - t0) bytes | value field
 *   sample i:  dod field | value field          (i >= 2)
 *
 *   dod = (t_i - t_{i-1}) - (t_{i-1} - t_{i-2}):
 *     0                     dod == 0
 *     10   + 14 bits        -8191   <= dod <= 8192
 *     110  + 17 bits        -65535  <= dod <= 65536
 *     1110 + 20 bits        -524287 <= dod <= 524288
 *     1111 + 64 bits        otherwise
 *   value field, x = bits(v_i) ^ bits(v_{i-1}):
 *     0                                   x == 0
 *     1 0 + (64-L-T) bits of x >> T       x fits the previous window (L, T)
 *     1 1 + L:5 + sig:6 (64 -> 0) + sig bits of x >> T   new window,
 *                                         L = min(clz(x), 31), T = ctz(x)
 *
 * Chunk length follows Prometheus's bstream: a field whose width is a
 * multiple of 8 is written with the whole-byte primitive, which always
 * appends the byte after the one it fills; so a chunk whose last field has
 * such a width and ends byte-aligned carries one extra zero byte.
 * Readers stop after N samples and never look at it.
 */
#include "strata/chunkenc.h"

#include <stdlib.h>
#include <string.h>

#include "strata/buf.h"
#include "strata/err.h"

/* Largest sample in bytes (sample 0: 10 varint + 8 + 1 extra byte; later
 * ones at most 68 + 77 bits) plus the 8 bytes a flush stores past it. */
#define SAMPLE_SLACK 40

static inline uint64_t load_be64(const uint8_t *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return __builtin_bswap64(w);
}

static inline void store_be64(uint8_t *p, uint64_t v) {
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
}

/* ---- encoder ---- */

int st_xor_appender_init(st_xor_appender_t *a) {
    memset(a, 0, sizeof *a);
    a->cap = 128;
    a->buf = calloc(1, a->cap);
    if (!a->buf) return st_errorf(ST_ENOMEM, "xor chunk: allocating %zu bytes", a->cap);
    a->len = 2;
    a->leading = 0xff;
    return ST_OK;
}

void st_xor_appender_free(st_xor_appender_t *a) {
    if (!a) return;
    free(a->buf);
    a->buf = NULL;
    a->len = a->cap = 0;
}

/* Bytes past len are kept zero: a sample's bits start inside the last,
 * partly written byte, and the stream's padding must be zero. */
static int reserve(st_xor_appender_t *a) {
    if (a->len + SAMPLE_SLACK <= a->cap) return ST_OK;
    size_t ncap = a->cap * 2;
    uint8_t *nb = realloc(a->buf, ncap);
    if (!nb) return st_errorf(ST_ENOMEM, "xor chunk: growing to %zu bytes", ncap);
    memset(nb + a->cap, 0, ncap - a->cap);
    a->buf = nb;
    a->cap = ncap;
    return ST_OK;
}

/* One sample's bits are gathered in registers: acc holds nacc bits
 * (MSB-first) that belong at out[0...]. Only whole 8-byte stores hit memory,
 * so no load ever waits on a partially overlapping earlier store. */
typedef struct {
    uint8_t *out;
    uint64_t acc;
    unsigned nacc;
    int byte_last; /* see put() */
} bw_t;

/* Append the low n (1..56) bits of v. byte_last says the final bits belong
 * to a field whose width is a multiple of 8, i.e. Prometheus wrote them with
 * its whole-byte primitive, which leaves len = floor(bits/8) + 1; bit writes
 * leave len = ceil(bits/8). */
static inline __attribute__((always_inline)) void put(bw_t *w, uint64_t v, unsigned n, int byte_last) {
    if (w->nacc + n > 64) {
        store_be64(w->out, w->acc);
        unsigned k = w->nacc >> 3; /* >= 1 since n <= 56 */
        w->out += k;
        w->acc = (w->acc << 8) << (8 * (k - 1));
        w->nacc &= 7;
    }
    w->acc |= (v << (64 - n)) >> w->nacc;
    w->nacc += n;
    w->byte_last = byte_last;
}

/* Fields wider than 56 bits (n in 1..64). */
static inline __attribute__((always_inline)) void put_wide(bw_t *w, uint64_t v, unsigned n, int byte_last) {
    if (n > 56) {
        put(w, v >> 32, n - 32, 0);
        put(w, v & 0xffffffffu, 32, byte_last);
    } else {
        put(w, v, n, byte_last);
    }
}

static void put_varint_bytes(bw_t *w, uint64_t u) {
    uint8_t tmp[10];
    size_t n = st_uvarint_put(tmp, u);
    for (size_t i = 0; i < n; i++) put(w, tmp[i], 8, 1);
}

static inline __attribute__((always_inline)) void put_value(st_xor_appender_t *a, bw_t *w, uint64_t vb) {
    uint64_t x = vb ^ a->vbits;
    if (!x) {
        put(w, 0, 1, 0);
        return;
    }
    unsigned l = (unsigned)__builtin_clzll(x), t = (unsigned)__builtin_ctzll(x);
    if (l > 31) l = 31; /* the 5-bit field; Prometheus clamps the same way */
    if (a->leading != 0xff && l >= a->leading && t >= a->trailing) {
        unsigned m = 64u - a->leading - a->trailing;
        uint64_t payload = x >> a->trailing;
        if (m <= 54) {
            put(w, (2ull << m) | payload, m + 2, m % 8 == 0);
        } else {
            put(w, 2, 2, 0);
            put_wide(w, payload, m, m % 8 == 0);
        }
        return;
    }
    unsigned m = 64 - l - t;
    uint64_t hdr = (3ull << 11) | ((uint64_t)l << 6) | (m & 63);
    if (m <= 43) {
        put(w, (hdr << m) | (x >> t), 13 + m, m % 8 == 0);
    } else {
        put(w, hdr, 13, 0);
        put_wide(w, x >> t, m, m % 8 == 0);
    }
    a->leading = (uint8_t)l;
    a->trailing = (uint8_t)t;
}

static inline __attribute__((always_inline)) void put_dod(bw_t *w, int64_t dod) {
    uint64_t u = (uint64_t)dod;
    if (dod == 0) {
        put(w, 0, 1, 0);
    } else if (dod >= -8191 && dod <= 8192) {
        put(w, (2ull << 14) | (u & 0x3fff), 16, 0);
    } else if (dod >= -65535 && dod <= 65536) {
        put(w, (6ull << 17) | (u & 0x1ffff), 20, 0);
    } else if (dod >= -524287 && dod <= 524288) {
        put(w, (14ull << 20) | (u & 0xfffff), 24, 0);
    } else {
        put(w, 15, 4, 0);
        put_wide(w, u, 64, 1);
    }
}

static inline __attribute__((always_inline)) bw_t bw_start(const st_xor_appender_t *a) {
    size_t pos = a->len * 8 - a->count;
    bw_t w = {a->buf + (pos >> 3), 0, (unsigned)(pos & 7), 0};
    w.acc = (uint64_t)w.out[0] << 56;
    return w;
}

static inline __attribute__((always_inline)) void bw_finish(st_xor_appender_t *a, const bw_t *w) {
    store_be64(w->out, w->acc);
    size_t pos = (size_t)(w->out - a->buf) * 8 + w->nacc;
    a->len = w->byte_last ? (pos >> 3) + 1 : (pos + 7) >> 3;
    a->count = (unsigned)(a->len * 8 - pos);
}

/* Samples 0 and 1 (varint timestamps); kept apart so the writer state of
 * the common path stays in registers. */
static __attribute__((noinline)) void append_head(st_xor_appender_t *a, int64_t t, uint64_t vb, uint64_t delta) {
    bw_t w = bw_start(a);
    if (a->num == 0) {
        put_varint_bytes(&w, st_zigzag(t));
        put_wide(&w, vb, 64, 1);
    } else {
        put_varint_bytes(&w, delta);
        put_value(a, &w, vb);
    }
    bw_finish(a, &w);
}

static int append_sample(st_xor_appender_t *a, int64_t t, double v) {
    union { double d; uint64_t u; } vb = {.d = v};
    if (a->num == ST_CHUNK_MAX_SAMPLES)
        return st_errorf(ST_ELIMIT, "xor chunk: already holds %u samples", ST_CHUNK_MAX_SAMPLES);
    int rc = reserve(a);
    if (rc) return rc;
    /* Deltas are modulo 2^64, as in Prometheus: t - a->t may exceed INT64_MAX. */
    uint64_t delta = a->num ? (uint64_t)t - (uint64_t)a->t : 0;
    if (a->num < 2) {
        append_head(a, t, vb.u, delta);
    } else {
        bw_t w = bw_start(a);
        put_dod(&w, (int64_t)(delta - a->tdelta));
        put_value(a, &w, vb.u);
        bw_finish(a, &w);
    }
    a->t = t;
    a->tdelta = delta;
    a->vbits = vb.u;
    a->num++;
    a->buf[0] = (uint8_t)(a->num >> 8);
    a->buf[1] = (uint8_t)a->num;
    return ST_OK;
}

int st_xor_append(st_xor_appender_t *a, int64_t t, double v) {
    if (a->num > 0 && t <= a->t)
        return st_errorf(ST_EINVAL, "xor chunk: timestamp %lld not after previous %lld", (long long)t,
                         (long long)a->t);
    return append_sample(a, t, v);
}

int st_xor_append_repeat(st_xor_appender_t *a, int64_t t, double v) {
    if (a->num > 0 && t < a->t)
        return st_errorf(ST_EINVAL, "xor chunk: timestamp %lld before previous %lld", (long long)t,
                         (long long)a->t);
    return append_sample(a, t, v);
}

/* ---- decoder ----
 * Bit reader state: `buf` holds the next `cnt` unread bits left-aligned;
 * bits below those are either zero or the true following stream bits, so
 * a refill may OR the same bytes in again. `cur` is the first byte not yet
 * accounted for in cnt (the iterator keeps it as the offset `pos`). */

typedef struct {
    const uint8_t *cur, *end;
    uint64_t buf;
    unsigned cnt;
} br_t;

/* Afterwards cnt >= 56, or every byte of the chunk is in buf. */
static inline __attribute__((always_inline)) void refill(br_t *r) {
    if (r->end - r->cur >= 8) {
        r->buf |= load_be64(r->cur) >> r->cnt;
        r->cur += (63 - r->cnt) >> 3;
        r->cnt |= 56;
    } else {
        while (r->cnt <= 56 && r->cur < r->end) {
            r->buf |= (uint64_t)*r->cur++ << (56 - r->cnt);
            r->cnt += 8;
        }
    }
}

/* n in 1..64, n <= cnt. */
static inline __attribute__((always_inline)) uint64_t take(br_t *r, unsigned n) {
    uint64_t v = r->buf >> (64 - n);
    r->buf = (r->buf << (n - 1)) << 1;
    r->cnt -= n;
    return v;
}

/* Read n in 1..64 bits; 0 when the chunk ends first. */
static inline int get_bits(br_t *r, unsigned n, uint64_t *out) {
    if (r->cnt < n) refill(r);
    if (r->cnt >= n) {
        *out = take(r, n);
        return 1;
    }
    if (n <= 32) return 0;
    /* Wider than one refill guarantees: two halves. */
    uint64_t hi, lo;
    if (!get_bits(r, 32, &hi) || !get_bits(r, n - 32, &lo)) return 0;
    *out = hi << (n - 32) | lo;
    return 1;
}

static void br_load(br_t *r, const st_xor_iter_t *it) {
    r->cur = it->p + it->pos;
    r->end = it->p + it->len;
    r->buf = it->bitbuf;
    r->cnt = it->bitcnt;
}

static void br_store(const br_t *r, st_xor_iter_t *it) {
    it->pos = (size_t)(r->cur - it->p);
    it->bitbuf = r->buf;
    it->bitcnt = r->cnt;
}

int st_xor_num_samples(const uint8_t *chunk, size_t len) {
    return len < 2 ? -1 : st_be16(chunk);
}

int st_xor_iter_init(st_xor_iter_t *it, const uint8_t *chunk, size_t len) {
    memset(it, 0, sizeof *it);
    if (len < 2) {
        it->err = ST_ECORRUPT;
        return st_errorf(ST_ECORRUPT, "xor chunk: %zu bytes, shorter than the 2-byte header", len);
    }
    it->num = st_be16(chunk);
    it->p = chunk + 2;
    it->len = len - 2;
    return ST_OK;
}

static int iter_fail(st_xor_iter_t *it, const br_t *r, const char *what) {
    it->err = ST_ECORRUPT;
    return st_errorf(ST_ECORRUPT, "xor chunk: sample %u of %u: %s at bit %zu of %zu", it->read + 1u,
                     it->num, what, (size_t)(r->cur - it->p) * 8 - r->cnt, it->len * 8);
}

/* Go's binary.ReadUvarint over the bit stream: at most 10 bytes, no overflow. */
static int get_uvarint(br_t *r, uint64_t *out) {
    uint64_t x = 0, b;
    for (unsigned i = 0, s = 0; i < 10; i++, s += 7) {
        if (!get_bits(r, 8, &b)) return 0;
        if (b < 0x80) {
            if (i == 9 && b > 1) return 0;
            *out = x | b << s;
            return 1;
        }
        x |= (b & 0x7f) << s;
    }
    return 0;
}

/* Value field; L and T persist in the iterator. */
static inline int get_value(st_xor_iter_t *it, br_t *r) {
    if (r->cnt < 13) refill(r);
    if (r->cnt < 1) return iter_fail(it, r, "truncated value");
    uint64_t top = r->buf;
    if (!(top >> 63)) {
        take(r, 1);
        return 1;
    }
    unsigned m;
    if (!(top >> 62 & 1)) {
        if (r->cnt < 2) return iter_fail(it, r, "truncated value");
        take(r, 2);
        m = 64u - it->leading - it->trailing;
    } else {
        if (r->cnt < 13) return iter_fail(it, r, "truncated value window");
        unsigned l = (unsigned)(top >> 57) & 31;
        m = (unsigned)(top >> 51) & 63;
        if (m == 0) m = 64;
        if (l + m > 64) return iter_fail(it, r, "value window wider than 64 bits");
        take(r, 13);
        it->leading = (uint8_t)l;
        it->trailing = (uint8_t)(64 - l - m);
    }
    uint64_t x;
    if (r->cnt >= m) {
        x = take(r, m);
    } else if (!get_bits(r, m, &x)) {
        return iter_fail(it, r, "truncated value bits");
    }
    it->vbits ^= x << it->trailing;
    return 1;
}

static int next_head(st_xor_iter_t *it) {
    br_t r;
    br_load(&r, it);
    uint64_t u;
    if (it->read == 0) {
        if (!get_uvarint(&r, &u)) return iter_fail(it, &r, "bad first timestamp varint");
        it->t = st_unzigzag(u);
        if (!get_bits(&r, 64, &u)) return iter_fail(it, &r, "truncated first value");
        it->vbits = u;
    } else {
        if (!get_uvarint(&r, &u)) return iter_fail(it, &r, "bad timestamp delta uvarint");
        it->tdelta = u;
        it->t = (int64_t)((uint64_t)it->t + u);
        int rc = get_value(it, &r);
        if (rc < 0) return rc;
    }
    br_store(&r, it);
    it->read++;
    return 1;
}

/* Decodes one sample with the general reader: samples 0 and 1, 64-bit dods,
 * value fields wider than one refill, and every error. */
static __attribute__((noinline)) int next_generic(st_xor_iter_t *it) {
    if (it->err) return it->err;
    if (it->read >= it->num) return 0;
    if (it->read < 2) return next_head(it);
    br_t r;
    br_load(&r, it);
    uint64_t b;
    unsigned ones = 0;
    static const uint8_t width[5] = {0, 14, 17, 20, 64};
    while (ones < 4) {
        if (!get_bits(&r, 1, &b)) return iter_fail(it, &r, "truncated timestamp");
        if (!b) break;
        ones++;
    }
    int64_t dod = 0;
    if (ones) {
        unsigned w = width[ones];
        if (!get_bits(&r, w, &b)) return iter_fail(it, &r, "truncated timestamp");
        if (w < 64 && b > (1ull << (w - 1))) b -= 1ull << w;
        dod = (int64_t)b;
    }
    it->tdelta += (uint64_t)dod;
    it->t = (int64_t)((uint64_t)it->t + it->tdelta);
    int rc = get_value(it, &r);
    if (rc < 0) return rc;
    br_store(&r, it);
    it->read++;
    return 1;
}

/* Iterator state held in registers by the fast paths. */
typedef struct {
    br_t r;
    uint64_t t, tdelta, vbits;
    unsigned lead, trail;
} dstate_t;

static inline __attribute__((always_inline)) void ds_load(dstate_t *s, const st_xor_iter_t *it) {
    br_load(&s->r, it);
    s->t = (uint64_t)it->t;
    s->tdelta = it->tdelta;
    s->vbits = it->vbits;
    s->lead = it->leading;
    s->trail = it->trailing;
}

static inline __attribute__((always_inline)) void ds_store(const dstate_t *s, st_xor_iter_t *it) {
    br_store(&s->r, it);
    it->t = (int64_t)s->t;
    it->tdelta = s->tdelta;
    it->vbits = s->vbits;
    it->leading = (uint8_t)s->lead;
    it->trailing = (uint8_t)s->trail;
}

/* One sample after the first two, the common cases only. Returns 0 when it
 * cannot finish (64-bit dod, value wider than the buffered bits, end of data,
 * corruption) and leaves *s alone, so the caller can redo the sample with
 * next_generic. Branches follow the encoding: on regular series (same dod
 * bucket and value form sample after sample) they predict well, and
 * measured faster than branch-free selects, which lengthen the dependency
 * chain through the bit buffer. */
static inline __attribute__((always_inline)) int fast_sample(dstate_t *s) {
    br_t r = s->r;
    uint64_t tdelta = s->tdelta;
    if (r.cnt < 24) refill(&r);
    if (!(r.buf >> 63)) {
        if (r.cnt < 1) return 0;
        r.buf <<= 1;
        r.cnt -= 1;
    } else if (!(r.buf >> 62 & 1)) {
        if (r.cnt < 16) return 0;
        uint64_t b = (r.buf >> 48) & 0x3fff;
        r.buf <<= 16;
        r.cnt -= 16;
        tdelta += b - ((uint64_t)(b > 8192) << 14);
    } else {
        /* prefix 110 / 1110 / 1111 -> 17 / 20 / 64 payload bits */
        unsigned ones = (unsigned)__builtin_clzll(~r.buf | (1ull << 59));
        unsigned w = ones == 2 ? 17 : 20, tot = ones + 1 + w;
        if (ones == 4 || r.cnt < tot) return 0;
        uint64_t b = (r.buf << (ones + 1)) >> (64 - w);
        r.buf <<= tot;
        r.cnt -= tot;
        tdelta += b - ((uint64_t)(b > (1ull << (w - 1))) << w);
    }
    if (r.cnt < 13) refill(&r);
    uint64_t vbits = s->vbits;
    unsigned lead = s->lead, trail = s->trail;
    if (!(r.buf >> 63)) {
        if (r.cnt < 1) return 0;
        r.buf <<= 1;
        r.cnt -= 1;
    } else {
        unsigned m;
        if (r.buf >> 62 & 1) {
            lead = (unsigned)(r.buf >> 57) & 31;
            m = (unsigned)(r.buf >> 51) & 63;
            m = m ? m : 64;
            if (r.cnt < 13 || lead + m > 64) return 0;
            trail = 64 - lead - m;
            r.buf <<= 13;
            r.cnt -= 13;
        } else {
            if (r.cnt < 2) return 0;
            m = 64 - lead - trail;
            r.buf <<= 2;
            r.cnt -= 2;
        }
        if (r.cnt < m) {
            refill(&r);
            if (r.cnt < m) return 0;
        }
        vbits ^= take(&r, m) << trail;
    }
    s->r = r;
    s->tdelta = tdelta;
    s->t += tdelta;
    s->vbits = vbits;
    s->lead = lead;
    s->trail = trail;
    return 1;
}

int st_xor_iter_next(st_xor_iter_t *it) {
    if (__builtin_expect(it->read < 2 || it->read >= it->num || it->err, 0)) return next_generic(it);
    dstate_t s;
    ds_load(&s, it);
    if (!fast_sample(&s)) return next_generic(it);
    ds_store(&s, it);
    it->read++;
    return 1;
}

/* The batch fast path: a leaf loop with no calls, so the state can live in
 * registers. Returns the number of samples stored (<= max); *s is advanced
 * past them. */
static __attribute__((noinline)) unsigned fast_run(dstate_t *s, int64_t *ts, double *vs, unsigned max) {
    dstate_t l = *s;
    unsigned k = 0;
    while (k < max && fast_sample(&l)) {
        ts[k] = (int64_t)l.t;
        memcpy(&vs[k], &l.vbits, 8);
        k++;
    }
    *s = l;
    return k;
}

int st_xor_iter_next_batch(st_xor_iter_t *it, int64_t *ts, double *vs, int max) {
    int n = 0;
    while (n < max) {
        if (it->read >= 2 && it->read < it->num && !it->err) {
            unsigned left = (unsigned)(it->num - it->read);
            if (left > (unsigned)(max - n)) left = (unsigned)(max - n);
            dstate_t s;
            ds_load(&s, it);
            unsigned k = fast_run(&s, ts + n, vs + n, left);
            ds_store(&s, it);
            it->read = (uint16_t)(it->read + k);
            n += (int)k;
            if (n == max) break;
        }
        int rc = next_generic(it);
        if (rc <= 0) return n ? n : rc;
        st_xor_iter_at(it, &ts[n], &vs[n]);
        n++;
    }
    return n;
}

/* Like Prometheus, a seek that needs no movement keeps the current sample,
 * even after the iterator reached the end. */
int st_xor_iter_seek(st_xor_iter_t *it, int64_t t) {
    if (it->err) return it->err;
    while (it->read == 0 || it->t < t) {
        int rc = st_xor_iter_next(it);
        if (rc <= 0) return rc;
    }
    return 1;
}
