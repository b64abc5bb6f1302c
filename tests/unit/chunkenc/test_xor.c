/* XOR chunk codec: byte-exact examples of the format reference (§3.5, §3.6)
 * and a bit-by-bit reference encoder/decoder written from §3.1-§3.4 that the
 * fast codec must match on every input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strata/chunkenc.h"
#include "strata/err.h"

static uint64_t dbits(double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static double bitsd(uint64_t u) {
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

/* ---- reference codec, one bit at a time (§3.1 primitives) ---- */

typedef struct {
    uint8_t *buf;
    size_t len;
    unsigned count;
    size_t nbits; /* data bits after the header */
} bs_t;

static void bs_bit(bs_t *s, int b) {
    if (s->count == 0) {
        s->buf[s->len++] = 0;
        s->count = 8;
    }
    if (b) s->buf[s->len - 1] |= (uint8_t)(1u << (s->count - 1));
    s->count--;
    s->nbits++;
}

static void bs_byte(bs_t *s, uint8_t y) {
    if (s->count == 0) {
        s->buf[s->len++] = 0;
        s->count = 8;
    }
    s->buf[s->len - 1] |= (uint8_t)(y >> (8 - s->count));
    s->buf[s->len++] = (uint8_t)((unsigned)y << s->count);
    s->nbits += 8;
}

static void bs_bits(bs_t *s, uint64_t v, int n) {
    v <<= 64 - n;
    for (; n >= 8; n -= 8, v <<= 8) bs_byte(s, (uint8_t)(v >> 56));
    for (; n > 0; n--, v <<= 1) bs_bit(s, (int)(v >> 63));
}

static void bs_uvarint(bs_t *s, uint64_t u) {
    while (u >= 0x80) {
        bs_byte(s, (uint8_t)(u | 0x80));
        u >>= 7;
    }
    bs_byte(s, (uint8_t)u);
}

static int fits(int64_t x, int n) { return x >= -((1ll << (n - 1)) - 1) && x <= (1ll << (n - 1)); }

/* Encodes n samples into buf (large enough); returns the length; *nbits gets
 * the number of meaningful bits after the header. */
static size_t ref_encode(const int64_t *ts, const uint64_t *vs, size_t n, uint8_t *buf, size_t *nbits) {
    bs_t s = {buf, 2, 0, 0};
    buf[0] = (uint8_t)(n >> 8);
    buf[1] = (uint8_t)n;
    uint64_t tdelta = 0;
    int leading = 0xff, trailing = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0) {
            bs_uvarint(&s, ((uint64_t)ts[0] << 1) ^ (uint64_t)(ts[0] >> 63));
            bs_bits(&s, vs[0], 64);
            continue;
        }
        uint64_t d = (uint64_t)ts[i] - (uint64_t)ts[i - 1];
        if (i == 1) {
            bs_uvarint(&s, d);
        } else {
            int64_t dod = (int64_t)(d - tdelta);
            if (dod == 0) {
                bs_bit(&s, 0);
            } else if (fits(dod, 14)) {
                bs_bits(&s, 2, 2);
                bs_bits(&s, (uint64_t)dod, 14);
            } else if (fits(dod, 17)) {
                bs_bits(&s, 6, 3);
                bs_bits(&s, (uint64_t)dod, 17);
            } else if (fits(dod, 20)) {
                bs_bits(&s, 14, 4);
                bs_bits(&s, (uint64_t)dod, 20);
            } else {
                bs_bits(&s, 15, 4);
                bs_bits(&s, (uint64_t)dod, 64);
            }
        }
        tdelta = d;
        uint64_t x = vs[i] ^ vs[i - 1];
        if (x == 0) {
            bs_bit(&s, 0);
            continue;
        }
        bs_bit(&s, 1);
        int l = __builtin_clzll(x), t = __builtin_ctzll(x);
        if (l >= 32) l = 31;
        if (leading != 0xff && l >= leading && t >= trailing) {
            bs_bit(&s, 0);
            bs_bits(&s, x >> trailing, 64 - leading - trailing);
        } else {
            leading = l;
            trailing = t;
            bs_bit(&s, 1);
            bs_bits(&s, (uint64_t)l, 5);
            bs_bits(&s, (uint64_t)(64 - l - t), 6);
            bs_bits(&s, x >> t, 64 - l - t);
        }
    }
    *nbits = s.nbits;
    return s.len;
}

typedef struct {
    const uint8_t *buf;
    size_t len, pos; /* pos in bits */
} br_t;

static int br_bits(br_t *r, int n, uint64_t *out) {
    uint64_t v = 0;
    if (r->pos + (size_t)n > r->len * 8) return -1;
    while (n--) {
        v = (v << 1) | ((r->buf[r->pos >> 3] >> (7 - (r->pos & 7))) & 1u);
        r->pos++;
    }
    *out = v;
    return 0;
}

static int br_uvarint(br_t *r, uint64_t *out) {
    uint64_t x = 0, b;
    for (int i = 0, s = 0; i < 10; i++, s += 7) {
        if (br_bits(r, 8, &b)) return -1;
        if (b < 0x80) {
            if (i == 9 && b > 1) return -1;
            *out = x | b << s;
            return 0;
        }
        x |= (b & 0x7f) << s;
    }
    return -1;
}

/* Decodes into ts/vs (room for 65535); returns samples or -1. */
static int ref_decode(const uint8_t *chunk, size_t len, int64_t *ts, uint64_t *vs) {
    if (len < 2) return -1;
    int n = chunk[0] << 8 | chunk[1];
    br_t r = {chunk + 2, len - 2, 0};
    uint64_t tdelta = 0, u, v = 0;
    int64_t t = 0;
    int leading = 0, trailing = 0;
    for (int i = 0; i < n; i++) {
        if (i == 0) {
            if (br_uvarint(&r, &u)) return -1;
            t = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
            if (br_bits(&r, 64, &v)) return -1;
            ts[0] = t;
            vs[0] = v;
            continue;
        }
        if (i == 1) {
            if (br_uvarint(&r, &tdelta)) return -1;
        } else {
            int ones = 0;
            uint64_t b;
            while (ones < 4) {
                if (br_bits(&r, 1, &b)) return -1;
                if (!b) break;
                ones++;
            }
            static const int width[] = {0, 14, 17, 20, 64};
            int64_t dod = 0;
            if (ones) {
                if (br_bits(&r, width[ones], &b)) return -1;
                if (ones < 4 && b > (1ull << (width[ones] - 1))) b -= 1ull << width[ones];
                dod = (int64_t)b;
            }
            tdelta += (uint64_t)dod;
        }
        t = (int64_t)((uint64_t)t + tdelta);
        uint64_t b;
        if (br_bits(&r, 1, &b)) return -1;
        if (b) {
            if (br_bits(&r, 1, &b)) return -1;
            uint64_t m;
            if (b) {
                uint64_t l;
                if (br_bits(&r, 5, &l) || br_bits(&r, 6, &m)) return -1;
                if (m == 0) m = 64;
                if (l + m > 64) return -1;
                leading = (int)l;
                trailing = (int)(64 - l - m);
            } else {
                m = (uint64_t)(64 - leading - trailing);
            }
            if (br_bits(&r, (int)m, &b)) return -1;
            v ^= b << trailing;
        }
        ts[i] = t;
        vs[i] = v;
    }
    return n;
}

/* ---- helpers over the real codec ---- */

static void encode(st_xor_appender_t *a, const int64_t *ts, const uint64_t *vs, size_t n) {
    assert_int_equal(st_xor_appender_init(a), 0);
    for (size_t i = 0; i < n; i++) assert_int_equal(st_xor_append(a, ts[i], bitsd(vs[i])), 0);
}

/* Decodes with the real iterator and checks every sample. */
static void check_decode(const uint8_t *chunk, size_t len, const int64_t *ts, const uint64_t *vs, size_t n) {
    st_xor_iter_t it;
    assert_int_equal(st_xor_iter_init(&it, chunk, len), 0);
    assert_int_equal(st_xor_num_samples(chunk, len), (int)n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(st_xor_iter_next(&it), 1);
        int64_t t;
        double v;
        st_xor_iter_at(&it, &t, &v);
        assert_int_equal(t, ts[i]);
        assert_int_equal(dbits(v), vs[i]);
    }
    assert_int_equal(st_xor_iter_next(&it), 0);
    assert_int_equal(st_xor_iter_next(&it), 0);
    /* the batch decoder gives the same samples for any batch size (one size
     * per call, rotating, to keep the random tests fast under ASan) */
    static const int sizes[] = {1, 2, 3, 7, 120, 1000};
    static unsigned rot;
    static int64_t bt[1000];
    static double bv[1000];
    {
        size_t k = rot++ % (sizeof sizes / sizeof sizes[0]);
        assert_int_equal(st_xor_iter_init(&it, chunk, len), 0);
        size_t got = 0;
        int rc;
        while ((rc = st_xor_iter_next_batch(&it, bt, bv, sizes[k])) > 0) {
            assert_true(rc <= sizes[k]);
            for (int i = 0; i < rc; i++, got++) {
                assert_true(got < n);
                assert_int_equal(bt[i], ts[got]);
                assert_int_equal(dbits(bv[i]), vs[got]);
            }
            int64_t t;
            double v;
            st_xor_iter_at(&it, &t, &v); /* the last one is current, as after next */
            assert_int_equal(t, ts[got - 1]);
        }
        assert_int_equal(rc, 0);
        assert_int_equal(got, n);
    }
}

static uint8_t refbuf[65536 * 20];
static unsigned extra_byte_chunks; /* multi-sample chunks ending in the §3.1 extra byte */
static int64_t rts[65536];
static uint64_t rvs[65536];

/* Encode with both codecs, require identical bytes, decode both ways. */
static void check_both(const int64_t *ts, const uint64_t *vs, size_t n) {
    size_t nbits;
    size_t rlen = ref_encode(ts, vs, n, refbuf, &nbits);
    if (n >= 2 && rlen == 2 + (nbits + 7) / 8 + 1) extra_byte_chunks++;
    st_xor_appender_t a;
    encode(&a, ts, vs, n);
    size_t len;
    const uint8_t *b = st_xor_bytes(&a, &len);
    assert_int_equal(len, rlen);
    assert_memory_equal(b, refbuf, len);
    /* exact-size copy: ASan catches any read past the chunk */
    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, b, len);
    check_decode(copy, len, ts, vs, n);
    assert_int_equal(ref_decode(copy, len, rts, rvs), (int)n);
    assert_memory_equal(rts, ts, n * sizeof *ts);
    assert_memory_equal(rvs, vs, n * sizeof *vs);
    free(copy);
    st_xor_appender_free(&a);
}

static size_t chunk_of(const int64_t *ts, const double *v, size_t n, uint8_t *out) {
    st_xor_appender_t a;
    assert_int_equal(st_xor_appender_init(&a), 0);
    for (size_t i = 0; i < n; i++) assert_int_equal(st_xor_append(&a, ts[i], v[i]), 0);
    size_t len;
    const uint8_t *b = st_xor_bytes(&a, &len);
    memcpy(out, b, len);
    st_xor_appender_free(&a);
    return len;
}

/* ---- tests ---- */

static void test_example_3_5(void **state) {
    (void)state;
    static const uint8_t want[] = {0x00, 0x03, 0xd0, 0x0f, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00,
                                   0x00, 0x00, 0xe8, 0x07, 0xc2, 0x5f, 0xff, 0x6c, 0x06};
    const int64_t ts[] = {1000, 2000, 3000};
    const double vs[] = {1.0, 2.0, 3.0};
    uint8_t out[64];
    size_t len = chunk_of(ts, vs, 3, out);
    assert_int_equal(len, sizeof want);
    assert_memory_equal(out, want, sizeof want);

    st_xor_iter_t it;
    assert_int_equal(st_xor_iter_init(&it, want, sizeof want), 0);
    for (int i = 0; i < 3; i++) {
        int64_t t;
        double v;
        assert_int_equal(st_xor_iter_next(&it), 1);
        st_xor_iter_at(&it, &t, &v);
        assert_int_equal(t, ts[i]);
        assert_true(v == vs[i]);
    }
    assert_int_equal(st_xor_iter_next(&it), 0);
}

static void test_example_3_6(void **state) {
    (void)state;
    static const uint8_t want[] = {0x00, 0x04, 0xd0, 0x0f, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00,
                                   0x00, 0xe8, 0x07, 0xc2, 0x5f, 0xff, 0x6c, 0x07, 0x03, 0xe8};
    const int64_t ts[] = {1000, 2000, 3000, 4500};
    const double vs[] = {1.0, 2.0, 3.0, 3.0};
    uint8_t out[64];
    size_t len = chunk_of(ts, vs, 4, out);
    assert_int_equal(len, sizeof want);
    assert_memory_equal(out, want, sizeof want);
    int64_t t[4];
    uint64_t v[4];
    for (int i = 0; i < 4; i++) v[i] = dbits(vs[i]);
    check_decode(want, sizeof want, ts, v, 4);
    assert_int_equal(ref_decode(want, sizeof want, t, v), 4);
}

/* The extra zero byte of §3.1: sample 0 ends with a 64-bit field, so a
 * 1-sample chunk is header + varint + 8 bytes + one zero byte. */
static void test_extra_zero_byte(void **state) {
    (void)state;
    const int64_t ts[] = {1000};
    const double vs[] = {1.0};
    uint8_t out[64];
    size_t len = chunk_of(ts, vs, 1, out);
    static const uint8_t want[] = {0x00, 0x01, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x00};
    assert_int_equal(len, sizeof want);
    assert_memory_equal(out, want, sizeof want);
    /* sample 2: dod '0' (1 bit) + value '1 0' + reused 8-bit window = 11 bits
     * after sample 1's 2 + 13 + 8 = 23 bits: ends aligned after a byte field */
    uint64_t v[3] = {0, 0xff00000000000000ull, 0};
    int64_t t[3] = {0, 8, 16};
    check_both(t, v, 3);
    size_t nbits;
    size_t rlen = ref_encode(t, v, 3, refbuf, &nbits);
    assert_int_equal(nbits % 8, 0);
    assert_int_equal(rlen, 2 + nbits / 8 + 1);
}

static void test_empty_and_short(void **state) {
    (void)state;
    st_xor_iter_t it;
    const uint8_t empty[] = {0, 0};
    assert_int_equal(st_xor_iter_init(&it, empty, 2), 0);
    assert_int_equal(st_xor_iter_next(&it), 0);
    assert_int_equal(st_xor_iter_seek(&it, 0), 0);
    assert_int_equal(st_xor_iter_init(&it, empty, 1), ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(ST_ECORRUPT), "xor chunk"));
    assert_int_equal(st_xor_num_samples(empty, 1), -1);
    assert_int_equal(st_xor_num_samples(empty, 2), 0);
    const uint8_t hdr[] = {0x12, 0x34};
    assert_int_equal(st_xor_num_samples(hdr, 2), 0x1234);
    /* header claims samples, no data */
    assert_int_equal(st_xor_iter_init(&it, hdr, 2), 0);
    assert_int_equal(st_xor_iter_next(&it), ST_ECORRUPT);
    assert_int_equal(st_xor_iter_next(&it), ST_ECORRUPT); /* sticky */
    assert_int_equal(st_xor_iter_seek(&it, 0), ST_ECORRUPT);
}

/* Returns the dod field of sample 2 of a 3-sample chunk with constant values
 * (t0 = 0 so sample 0 is 1 + 8 + extra bytes); *prefix gets the prefix ones. */
static void dod_field(const uint8_t *chunk, size_t len, size_t dlen, int *ones, uint64_t *payload) {
    /* data: varint(0)=1 byte, 8 value bytes, dlen uvarint bytes, then '0' */
    br_t r = {chunk + 2, len - 2, (1 + 8 + dlen) * 8 + 1};
    uint64_t b;
    *ones = 0;
    while (*ones < 4) {
        assert_int_equal(br_bits(&r, 1, &b), 0);
        if (!b) break;
        (*ones)++;
    }
    static const int width[] = {0, 14, 17, 20, 64};
    *payload = 0;
    if (*ones) assert_int_equal(br_bits(&r, width[*ones], payload), 0);
}

static void test_dod_buckets(void **state) {
    (void)state;
    static const struct { int64_t dod; int ones; } cases[] = {
        {0, 0},          {1, 1},          {-1, 1},         {8191, 1},       {-8191, 1},
        {8192, 1},       {-8192, 2},      {8193, 2},       {65535, 2},      {-65535, 2},
        {65536, 2},      {-65536, 3},     {65537, 3},      {524287, 3},     {-524287, 3},
        {524288, 3},     {-524288, 4},    {524289, 4},     {999999, 4},     {-999999, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t d1 = 1000000; /* uvarint 3 bytes */
        int64_t ts[3] = {0, d1, 2 * d1 + cases[i].dod};
        uint64_t vs[3] = {dbits(1.5), dbits(1.5), dbits(1.5)};
        check_both(ts, vs, 3);
        uint8_t out[64];
        double dv[3] = {1.5, 1.5, 1.5};
        size_t len = chunk_of(ts, dv, 3, out);
        int ones;
        uint64_t payload;
        dod_field(out, len, 3, &ones, &payload);
        assert_int_equal(ones, cases[i].ones);
        static const int width[] = {0, 14, 17, 20, 64};
        uint64_t mask = width[ones] == 64 ? ~0ull : (1ull << width[ones]) - 1;
        if (ones) assert_int_equal(payload, (uint64_t)cases[i].dod & mask);
    }
    /* beyond 20 bits, both signs, and extremes of the 64-bit case */
    static const int64_t big[] = {1ll << 40, -(1ll << 40), INT64_MAX / 4, 3000000000000ll};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        int64_t d1 = 1ll << 42;
        int64_t ts[4] = {-5, -5 + d1, -5 + 2 * d1 + big[i], 0};
        ts[3] = ts[2] + 1; /* dod back down, large negative */
        uint64_t vs[4] = {0, 0, 0, 0};
        check_both(ts, vs, 4);
    }
    /* full int64 range timestamps: deltas wrap modulo 2^64 */
    int64_t ext[3] = {INT64_MIN, 0, INT64_MAX};
    uint64_t ev[3] = {1, 2, 3};
    check_both(ext, ev, 3);
    int64_t ext2[4] = {INT64_MIN, INT64_MIN + 1, INT64_MAX - 1, INT64_MAX};
    uint64_t ev2[4] = {1, 2, 3, 4};
    check_both(ext2, ev2, 4);
}

static void test_special_values(void **state) {
    (void)state;
    static const uint64_t vals[] = {
        0x0000000000000000ull, /* 0 */
        0x8000000000000000ull, /* -0 */
        0x7ff8000000000001ull, /* normal NaN */
        0x7ff0000000000002ull, /* stale NaN */
        0x7ff0000000000000ull, /* +Inf */
        0xfff0000000000000ull, /* -Inf */
        0x0000000000000001ull, /* smallest subnormal */
        0x000fffffffffffffull, /* largest subnormal */
        0x800fffffffffffffull, /* negative subnormal */
        0x7fefffffffffffffull, /* DBL_MAX */
        0xffffffffffffffffull, /* NaN, all bits */
        0x7ff8000000000000ull, /* quiet NaN */
    };
    size_t nv = sizeof vals / sizeof vals[0];
    uint64_t vs[64];
    int64_t ts[64];
    size_t n = 0;
    for (size_t i = 0; i < nv; i++) {
        ts[n] = (int64_t)n * 15000;
        vs[n++] = vals[i];
    }
    vs[n] = dbits(1e300);
    ts[n] = (int64_t)n * 15000;
    n++;
    vs[n] = dbits(1e-300);
    ts[n] = (int64_t)n * 15000;
    n++;
    vs[n] = dbits(-1e300);
    ts[n] = (int64_t)n * 15000;
    n++;
    /* every ordered pair, so each value appears as both x and previous */
    for (size_t i = 0; i < nv; i++)
        for (size_t j = 0; j < nv; j++) {
            int64_t t2[2] = {7, 8};
            uint64_t v2[3] = {vals[i], vals[j], vals[i]};
            int64_t t3[3] = {7, 8, 9};
            check_both(t2, v2, 2);
            check_both(t3, v2, 3);
        }
    check_both(ts, vs, n);
}

static void test_sizes(void **state) {
    (void)state;
    static int64_t ts[65536];
    static uint64_t vs[65536];
    double g = 100;
    for (size_t i = 0; i < 65536; i++) {
        ts[i] = 1600000000000ll + (int64_t)i * 15000 + (int64_t)(rnd() % 7) - 3;
        g += (double)((int64_t)(rnd() % 201) - 100) / 100.0;
        vs[i] = dbits(g);
    }
    check_both(ts, vs, 120);
    check_both(ts, vs, 65535);
    st_xor_appender_t a;
    encode(&a, ts, vs, 65535);
    assert_int_equal(st_xor_append(&a, ts[65535], 1.0), ST_ELIMIT);
    size_t len;
    const uint8_t *b = st_xor_bytes(&a, &len);
    assert_int_equal(st_xor_num_samples(b, len), 65535);
    st_xor_appender_free(&a);
    st_xor_appender_free(NULL);
}

static uint64_t gen_value(int kind, uint64_t prev, size_t i) {
    switch (kind) {
    case 0: return rnd(); /* arbitrary bit patterns */
    case 1: {             /* gauge with 2-3 decimals */
        double d = bitsd(prev);
        if (d != d || d > 1e12 || d < -1e12) d = 0;
        return dbits(d + (double)((int64_t)(rnd() % 2001) - 1000) / 1000.0);
    }
    case 2: return dbits((double)(i * (rnd() % 100))); /* counter-ish */
    case 3: return rnd() % 4 ? prev : rnd();              /* mostly constant */
    case 4: return prev ^ (rnd() & (rnd() >> (rnd() % 64))) << (rnd() % 64);
    default: return prev ^ (1ull << (rnd() % 64));        /* single-bit flips */
    }
}

static int64_t gen_delta(int kind) {
    switch (kind) {
    case 0: return 15000 + (int64_t)(rnd() % 11) - 5;
    case 1: return 1 + (int64_t)(rnd() % 3);
    case 2: return 1 + (int64_t)(rnd() >> (1 + rnd() % 63)); /* any magnitude */
    case 3: return rnd() % 8 ? 1000 : 1 + (int64_t)(rnd() % 2000000);
    default: return 60000;
    }
}

static void test_random_vs_reference(void **state) {
    (void)state;
    static int64_t ts[1200];
    static uint64_t vs[1200];
    for (int c = 0; c < 10000; c++) {
        size_t n = 1 + rnd() % (c % 10 == 0 ? 1200 : 200);
        int vk = (int)(rnd() % 6), tk = (int)(rnd() % 5);
        ts[0] = (int64_t)(rnd() >> (rnd() % 64)) * (rnd() % 2 ? 1 : -1);
        vs[0] = vk == 1 ? dbits(100.0) : rnd();
        for (size_t i = 1; i < n; i++) {
            int64_t d = gen_delta(tk);
            if (ts[i - 1] > INT64_MAX - d) {
                n = i;
                break;
            }
            ts[i] = ts[i - 1] + d;
            vs[i] = gen_value(vk, vs[i - 1], i);
        }
        check_both(ts, vs, n);
    }
    assert_true(extra_byte_chunks > 100);
}

static void test_seek(void **state) {
    (void)state;
    int64_t ts[10];
    double vs[10];
    for (int i = 0; i < 10; i++) {
        ts[i] = 100 + i * 10;
        vs[i] = i;
    }
    uint8_t out[256];
    size_t len = chunk_of(ts, vs, 10, out);
    st_xor_iter_t it;
    int64_t t;
    double v;

    assert_int_equal(st_xor_iter_init(&it, out, len), 0);
    assert_int_equal(st_xor_iter_seek(&it, INT64_MIN), 1); /* fresh: moves onto the first */
    st_xor_iter_at(&it, &t, &v);
    assert_int_equal(t, 100);
    assert_int_equal(st_xor_iter_seek(&it, 125), 1);
    st_xor_iter_at(&it, &t, &v);
    assert_int_equal(t, 130);
    assert_true(v == 3);
    assert_int_equal(st_xor_iter_seek(&it, 130), 1); /* current qualifies: stays */
    st_xor_iter_at(&it, &t, &v);
    assert_int_equal(t, 130);
    assert_int_equal(st_xor_iter_seek(&it, 0), 1); /* never goes back */
    st_xor_iter_at(&it, &t, &v);
    assert_int_equal(t, 130);
    assert_int_equal(st_xor_iter_next(&it), 1);
    st_xor_iter_at(&it, &t, &v);
    assert_int_equal(t, 140);
    assert_int_equal(st_xor_iter_seek(&it, 190), 1);
    st_xor_iter_at(&it, &t, &v);
    assert_int_equal(t, 190);
    assert_int_equal(st_xor_iter_seek(&it, 191), 0);

    assert_int_equal(st_xor_iter_init(&it, out, len), 0);
    assert_int_equal(st_xor_iter_seek(&it, 1000), 0);
    assert_int_equal(st_xor_iter_init(&it, out, len), 0);
    assert_int_equal(st_xor_iter_seek(&it, 100), 1);
    st_xor_iter_at(&it, &t, &v);
    assert_int_equal(t, 100);
    assert_true(v == 0);

    /* seek runs into corruption */
    assert_int_equal(st_xor_iter_init(&it, out, len - 2), 0);
    assert_int_equal(st_xor_iter_seek(&it, 1000), ST_ECORRUPT);
}

/* Every truncation that drops a meaningful bit fails; a chunk is never read
 * past its end (each copy is exactly sized for ASan). */
static void test_truncated(void **state) {
    (void)state;
    static int64_t ts[300];
    static uint64_t vs[300];
    for (int c = 0; c < 60; c++) {
        size_t n = 1 + rnd() % 130;
        int vk = c % 6, tk = c % 5;
        ts[0] = 1000;
        vs[0] = rnd();
        for (size_t i = 1; i < n; i++) {
            int64_t d = gen_delta(tk);
            if (ts[i - 1] > INT64_MAX - d) {
                n = i;
                break;
            }
            ts[i] = ts[i - 1] + d;
            vs[i] = gen_value(vk, vs[i - 1], i);
        }
        size_t nbits;
        size_t full = ref_encode(ts, vs, n, refbuf, &nbits);
        size_t need = 2 + (nbits + 7) / 8;
        assert_true(full == need || full == need + 1);
        for (size_t l = 0; l <= full; l++) {
            uint8_t *copy = malloc(l ? l : 1);
            assert_non_null(copy);
            memcpy(copy, refbuf, l);
            st_xor_iter_t it;
            int rc = st_xor_iter_init(&it, copy, l);
            if (l < 2) {
                assert_int_equal(rc, ST_ECORRUPT);
                free(copy);
                continue;
            }
            assert_int_equal(rc, 0);
            size_t got = 0;
            while ((rc = st_xor_iter_next(&it)) == 1) got++;
            if (l < need) {
                assert_int_equal(rc, ST_ECORRUPT);
                assert_true(got < n);
                assert_non_null(strstr(st_errdetail(rc), "xor chunk: sample"));
            } else {
                assert_int_equal(rc, 0);
                assert_int_equal(got, n);
            }
            /* batch: samples first, the error on the following call */
            size_t bgot = 0;
            assert_int_equal(st_xor_iter_init(&it, copy, l), 0);
            static int64_t bt[64];
            static double bv[64];
            while ((rc = st_xor_iter_next_batch(&it, bt, bv, 64)) > 0) bgot += (size_t)rc;
            assert_int_equal(rc, l < need ? ST_ECORRUPT : 0);
            assert_int_equal(bgot, got);
            assert_int_equal(st_xor_iter_next_batch(&it, bt, bv, 64), rc); /* sticky */
            free(copy);
        }
    }
}

static void test_bad_window(void **state) {
    (void)state;
    /* sample 1 with a long-form window L = 31, sig = 58: 89 bits > 64 */
    uint8_t c[] = {0x00, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
                   /* 1 1 11111 101000 ... */ 0xff, 0xd0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    st_xor_iter_t it;
    assert_int_equal(st_xor_iter_init(&it, c, sizeof c), 0);
    assert_int_equal(st_xor_iter_next(&it), 1);
    assert_int_equal(st_xor_iter_next(&it), ST_ECORRUPT);
    assert_non_null(strstr(st_errdetail(ST_ECORRUPT), "window"));
    /* reuse form before any window: Prometheus starts at (0,0) = 64 bits */
    uint8_t d[] = {0x00, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x80 | 0x3f, 0xff, 0xff,
                   0xff, 0xff, 0xff, 0xff, 0xff, 0xc0};
    assert_int_equal(st_xor_iter_init(&it, d, sizeof d), 0);
    assert_int_equal(st_xor_iter_next(&it), 1);
    assert_int_equal(st_xor_iter_next(&it), 1);
    int64_t t;
    double v;
    st_xor_iter_at(&it, &t, &v);
    assert_int_equal(t, 1);
    assert_int_equal(dbits(v), 0xffffffffffffffffull);
    /* overlong uvarint delta */
    uint8_t e[] = {0x00, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff,
                   0xff, 0xff, 0xff, 0xff, 0x7f, 0x00};
    assert_int_equal(st_xor_iter_init(&it, e, sizeof e), 0);
    assert_int_equal(st_xor_iter_next(&it), 1);
    assert_int_equal(st_xor_iter_next(&it), ST_ECORRUPT);
}

static void test_non_increasing(void **state) {
    (void)state;
    st_xor_appender_t a;
    assert_int_equal(st_xor_appender_init(&a), 0);
    assert_int_equal(st_xor_append(&a, 100, 1.0), 0);
    assert_int_equal(st_xor_append(&a, 100, 2.0), ST_EINVAL);
    assert_non_null(strstr(st_errdetail(ST_EINVAL), "100"));
    assert_int_equal(st_xor_append(&a, 99, 2.0), ST_EINVAL);
    assert_int_equal(st_xor_append(&a, 200, 2.0), 0);
    assert_int_equal(st_xor_append(&a, INT64_MIN, 2.0), ST_EINVAL);
    assert_int_equal(st_xor_append(&a, 200, 2.0), ST_EINVAL);
    size_t len;
    const uint8_t *b = st_xor_bytes(&a, &len);
    int64_t ts[2] = {100, 200};
    uint64_t vs[2] = {dbits(1.0), dbits(2.0)};
    check_decode(b, len, ts, vs, 2);
    st_xor_appender_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_3_5),        cmocka_unit_test(test_example_3_6),
        cmocka_unit_test(test_extra_zero_byte),    cmocka_unit_test(test_empty_and_short),
        cmocka_unit_test(test_dod_buckets),        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_sizes),              cmocka_unit_test(test_random_vs_reference),
        cmocka_unit_test(test_seek),               cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bad_window),         cmocka_unit_test(test_non_increasing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
