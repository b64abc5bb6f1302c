/*
 * WAL record codec (Prometheus 2.42 tsdb/record). A record's first byte is
 * its type; integers are big-endian, varints are zig-zag (Go PutVarint):
 *
 *   series (1):     repeated { be64 ref | uvarint n | n x (str name, str value) }
 *   samples (2):    be64 base_ref | be64 base_t |
 *                   repeated { varint ref-base_ref | varint t-base_t | be64 value bits }
 *                   (base = the first sample; an empty record is the type byte alone)
 *   tombstones (3): repeated { be64 ref | varint mint | varint maxt }
 *
 * str = uvarint length + bytes. Refs and times are differenced modulo 2^64
 * as Go does with int64 wrap-around.
 */
#include <stdlib.h>
#include <string.h>

#include "strata/err.h"
#include "strata/wal.h"

int st_wal_record_type(const uint8_t *rec, size_t len) {
    if (len == 0) return st_errorf(ST_ECORRUPT, "wal record: empty record has no type");
    return rec[0];
}

void st_wal_encode_series(st_encbuf_t *b, const st_wal_series_t *s, size_t n) {
    st_put_u8(b, ST_WAL_REC_SERIES);
    for (size_t i = 0; i < n; i++) {
        st_put_be64(b, s[i].ref);
        st_put_uvarint(b, s[i].lbls.n);
        for (size_t k = 0; k < s[i].lbls.n; k++) {
            const st_label_t *l = &s[i].lbls.v[k];
            st_put_str(b, l->name, l->name_len);
            st_put_str(b, l->value, l->value_len);
        }
    }
}

void st_wal_encode_samples(st_encbuf_t *b, const st_wal_sample_t *s, size_t n) {
    st_put_u8(b, ST_WAL_REC_SAMPLES);
    if (n == 0) return;
    uint8_t *p = st_encbuf_reserve(b, 16 + n * 28);
    if (!p) return;
    uint64_t base_ref = s[0].ref, base_t = (uint64_t)s[0].t;
    st_be64_put(p, base_ref);
    st_be64_put(p + 8, base_t);
    p += 16;
    for (size_t i = 0; i < n; i++) {
        union { double d; uint64_t u; } v = {.d = s[i].v};
        p += st_uvarint_put(p, st_zigzag((int64_t)(s[i].ref - base_ref)));
        p += st_uvarint_put(p, st_zigzag((int64_t)((uint64_t)s[i].t - base_t)));
        st_be64_put(p, v.u);
        p += 8;
    }
    b->len = (size_t)(p - b->p);
}

void st_wal_encode_tombstones(st_encbuf_t *b, const st_wal_tombstone_t *t, size_t n) {
    st_put_u8(b, ST_WAL_REC_TOMBSTONES);
    for (size_t i = 0; i < n; i++) {
        st_put_be64(b, t[i].ref);
        st_put_varint(b, t[i].mint);
        st_put_varint(b, t[i].maxt);
    }
}

static int check_type(st_decbuf_t *d, int want, const char *what) {
    if (st_dec_u8(d) != want || d->err)
        return st_errorf(ST_ECORRUPT, "wal %s record: wrong or missing type byte", what);
    return ST_OK;
}

/* Grow *arr (elements of `size` bytes) to hold at least n + 1. */
static int grow(void **arr, size_t *cap, size_t n, size_t size, const char *what) {
    if (n < *cap) return ST_OK;
    size_t nc = *cap ? *cap * 2 : 16;
    void *na = realloc(*arr, nc * size);
    if (!na) return st_errorf(ST_ENOMEM, "wal %s record: allocating %zu entries", what, nc);
    *arr = na;
    *cap = nc;
    return ST_OK;
}

int st_wal_decode_series(const uint8_t *rec, size_t len, st_wal_series_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    st_decbuf_t d;
    st_decbuf_init(&d, rec, len);
    int rc = check_type(&d, ST_WAL_REC_SERIES, "series");
    if (rc) return rc;
    st_wal_series_t *v = NULL;
    st_label_t *pairs = NULL;
    size_t nv = 0, cap = 0, pcap = 0;
    while (st_dec_remaining(&d) > 0) {
        uint64_t ref = st_dec_be64(&d);
        uint64_t nl = st_dec_uvarint(&d);
        /* every label takes at least two bytes: bounds the allocation */
        if (d.err || nl > st_dec_remaining(&d) / 2) {
            rc = st_errorf(ST_ECORRUPT, "wal series record: entry %zu: truncated or bad label count", nv);
            goto out;
        }
        if (nl > pcap) {
            st_label_t *np = realloc(pairs, nl * sizeof *np);
            if (!np) {
                rc = st_errorf(ST_ENOMEM, "wal series record: allocating %llu labels", (unsigned long long)nl);
                goto out;
            }
            pairs = np;
            pcap = nl;
        }
        for (size_t k = 0; k < nl; k++) {
            pairs[k].name = (const char *)st_dec_str(&d, &pairs[k].name_len);
            pairs[k].value = (const char *)st_dec_str(&d, &pairs[k].value_len);
        }
        if (d.err) {
            rc = st_errorf(ST_ECORRUPT, "wal series record: entry %zu (ref %llu): truncated label", nv,
                           (unsigned long long)ref);
            goto out;
        }
        if ((rc = grow((void **)&v, &cap, nv, sizeof *v, "series"))) goto out;
        v[nv].ref = ref;
        if ((rc = st_labels_from_pairs(&v[nv].lbls, pairs, nl))) {
            if (rc == ST_EINVAL)
                rc = st_errwrap(ST_ECORRUPT, "wal series record: entry %zu (ref %llu)", nv, (unsigned long long)ref);
            goto out;
        }
        nv++;
    }
    *out = v;
    *n = nv;
    v = NULL;
    nv = 0;
out:
    free(pairs);
    st_wal_series_free(v, nv);
    return rc;
}

void st_wal_series_free(st_wal_series_t *s, size_t n) {
    if (!s) return;
    for (size_t i = 0; i < n; i++) st_labels_free(&s[i].lbls);
    free(s);
}

int st_wal_decode_samples(const uint8_t *rec, size_t len, st_wal_sample_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    st_decbuf_t d;
    st_decbuf_init(&d, rec, len);
    int rc = check_type(&d, ST_WAL_REC_SAMPLES, "samples");
    if (rc || st_dec_remaining(&d) == 0) return rc;
    uint64_t base_ref = st_dec_be64(&d), base_t = st_dec_be64(&d);
    /* a sample takes at least 10 bytes */
    size_t max = st_dec_remaining(&d) / 10;
    st_wal_sample_t *v = malloc((max ? max : 1) * sizeof *v);
    if (!v) return st_errorf(ST_ENOMEM, "wal samples record: allocating %zu samples", max);
    size_t nv = 0;
    while (!d.err && st_dec_remaining(&d) > 0 && nv < max) {
        v[nv].ref = base_ref + (uint64_t)st_dec_varint(&d);
        v[nv].t = (int64_t)(base_t + (uint64_t)st_dec_varint(&d));
        union { uint64_t u; double d; } x = {.u = st_dec_be64(&d)};
        v[nv].v = x.d;
        nv++;
    }
    if (d.err || st_dec_remaining(&d) > 0) {
        free(v);
        return st_errorf(ST_ECORRUPT, "wal samples record: sample %zu: truncated", nv ? nv - 1 : 0);
    }
    *out = v;
    *n = nv;
    return ST_OK;
}

int st_wal_decode_tombstones(const uint8_t *rec, size_t len, st_wal_tombstone_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    st_decbuf_t d;
    st_decbuf_init(&d, rec, len);
    int rc = check_type(&d, ST_WAL_REC_TOMBSTONES, "tombstones");
    if (rc) return rc;
    /* an entry takes at least 10 bytes */
    size_t max = st_dec_remaining(&d) / 10;
    st_wal_tombstone_t *v = malloc((max ? max : 1) * sizeof *v);
    if (!v) return st_errorf(ST_ENOMEM, "wal tombstones record: allocating %zu entries", max);
    size_t nv = 0;
    while (!d.err && st_dec_remaining(&d) > 0 && nv < max) {
        v[nv].ref = st_dec_be64(&d);
        v[nv].mint = st_dec_varint(&d);
        v[nv].maxt = st_dec_varint(&d);
        nv++;
    }
    if (d.err || st_dec_remaining(&d) > 0) {
        free(v);
        return st_errorf(ST_ECORRUPT, "wal tombstones record: entry %zu: truncated", nv ? nv - 1 : 0);
    }
    if (nv == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    *n = nv;
    return ST_OK;
}
