/* Fuzzes the sample iterators of dedup.h over chunk bytes and claimed
 * time ranges as a store might send them: the time-ordered merge of one replica, the
 * penalty dedup of several, the overlap split and chunk order; and the
 * same over downsampled chunks read through st_aggr_iter.
 *
 * Input layout:
 *   u8    flags: bit 0 counter adjustment; bits 1-2 replicas - 1;
 *         bit 3 "select path": all chunks sorted by st_dedup_chunk_cmp and
 *         dealt to replicas by st_dedup_overlap_split instead of by index;
 *         bit 4 "downsampled": st_dedup_samples_new_aggr reading
 *         st_aggr_read_t (bits 5-7) mod 6
 *   be64  mint, be64 maxt (int64, the select's bounds)
 *   then records to the end, at most MAX_CHUNKS:
 *   u8    replica index (mod replicas); downsampled: bits 0-3 that,
 *         bits 4-7 mod 7 where the bytes go: 0 raw, 1-5 that aggregate
 *         (count .. counter), 6 count and sum both
 *   be64  claimed min time, be64 claimed max time
 *   be16  n, then n bytes of XOR chunk data (with its 2-byte count)
 *
 * Checked: samples strictly increasing and within [mint, maxt], at most
 * as many as the chunks hold, an ended iterator stays ended, split
 * replicas never overlap, the chunk order is antisymmetric; and reading in
 * batches (st_dedup_samples_next_batch, caps varying, single calls mixed
 * in) gives the same samples bit for bit and the same end. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata/chunkenc.h"
#include "strata/dedup.h"
#include "strata/buf.h"

#define MAX_CHUNKS 64
#define MAX_REPLICAS 4

static void check(int ok) {
    if (!ok) __builtin_trap();
}

static int open_samples(st_dedup_samples_t **s, const st_dedup_replica_t *r, size_t n, int64_t mint, int64_t maxt,
                        bool counter, int what) {
    return what < 0 ? st_dedup_samples_new(s, r, n, mint, maxt, counter)
                    : st_dedup_samples_new_aggr(s, r, n, mint, maxt, counter, (st_aggr_read_t)what);
}

#define BATCH_MAX 1024

/* what < 0: raw */
static void run(const st_dedup_replica_t *r, size_t n, int64_t mint, int64_t maxt, bool counter, int what,
                size_t total) {
    st_dedup_samples_t *s;
    if (open_samples(&s, r, n, mint, maxt, counter, what)) return;
    int64_t *want_t = malloc((total + 1) * sizeof *want_t), *got_t = malloc((total + BATCH_MAX) * sizeof *got_t);
    double *want_v = malloc((total + 1) * sizeof *want_v), *got_v = malloc((total + BATCH_MAX) * sizeof *got_v);
    check(want_t && got_t && want_v && got_v);
    int64_t t, last = INT64_MIN;
    double v;
    size_t got = 0;
    int rc;
    while ((rc = st_dedup_samples_next(s, &t, &v)) == 1) {
        check(got == 0 || t > last);
        check(t >= mint && t <= maxt);
        check(got < total);
        want_t[got] = t;
        want_v[got++] = v;
        last = t;
    }
    int want_end = rc;
    check(st_dedup_samples_next(s, &t, &v) == rc);
    st_dedup_samples_free(s);

    /* caps 1, 2, 7, 1024 and a mix with single calls, from a seed of the input */
    uint32_t seed = (uint32_t)mint ^ (uint32_t)maxt ^ (uint32_t)total;
    for (int mode = 0; mode < 5; mode++) {
        if (open_samples(&s, r, n, mint, maxt, counter, what)) check(0);
        size_t k = 0;
        for (;;) {
            seed = seed * 1103515245u + 12345u;
            size_t cap = mode == 0 ? 1 : mode == 1 ? 2 : mode == 2 ? 7 : mode == 3 ? BATCH_MAX : 1 + (seed >> 16) % 300;
            if (mode == 4 && (seed >> 8) % 3 == 0) {
                rc = st_dedup_samples_next(s, &got_t[k], &got_v[k]);
            } else {
                rc = st_dedup_samples_next_batch(s, &got_t[k], &got_v[k], cap);
                check(rc <= (int)cap);
            }
            if (rc <= 0) break;
            k += (size_t)rc;
            check(k <= got);
        }
        check(rc == want_end && k == got);
        check(st_dedup_samples_next_batch(s, &t, &v, 3) == rc);
        for (size_t i = 0; i < k; i++)
            check(got_t[i] == want_t[i] && memcmp(&got_v[i], &want_v[i], sizeof got_v[i]) == 0);
        st_dedup_samples_free(s);
    }
    free(want_t);
    free(got_t);
    free(want_v);
    free(got_v);
}

static int cmp_chunks(const void *a, const void *b) { return st_dedup_chunk_cmp(a, b); }

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t len) {
    st_decbuf_t d;
    st_decbuf_init(&d, p, len);
    uint8_t flags = st_dec_u8(&d);
    int64_t mint = (int64_t)st_dec_be64(&d), maxt = (int64_t)st_dec_be64(&d);
    if (d.err) return 0;
    bool counter = flags & 1, split = flags & 8;
    int what = flags & 16 ? (flags >> 5) % 6 : -1;
    size_t nrep = (size_t)((flags >> 1) & 3) + 1;
    st_store_chunk_t c[MAX_CHUNKS];
    size_t rep[MAX_CHUNKS], n = 0, total = 0;
    while (st_dec_remaining(&d) > 0 && n < MAX_CHUNKS) {
        uint8_t ri = st_dec_u8(&d);
        int64_t cmin = (int64_t)st_dec_be64(&d), cmax = (int64_t)st_dec_be64(&d);
        uint16_t clen = st_dec_be16(&d);
        const uint8_t *data = st_dec_bytes(&d, clen);
        if (d.err) break;
        memset(&c[n], 0, sizeof c[n]);
        c[n].mint = cmin;
        c[n].maxt = cmax;
        int slot = what < 0 ? ST_AGGR_RAW : (ri >> 4) % 7;
        if (slot == 6) {
            c[n].data[ST_AGGR_COUNT] = data;
            c[n].len[ST_AGGR_COUNT] = clen;
            slot = ST_AGGR_SUM;
        }
        c[n].data[slot] = data;
        c[n].len[slot] = clen;
        int ns = st_xor_num_samples(data, clen);
        total += ns > 0 ? (size_t)ns : 0;
        rep[n++] = (what < 0 ? ri : ri & 15) % nrep;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        int x = st_dedup_chunk_cmp(&c[i], &c[i + 1]), y = st_dedup_chunk_cmp(&c[i + 1], &c[i]);
        check((x < 0 && y > 0) || (x > 0 && y < 0) || (x == 0 && y == 0));
        if (x == 0) check(st_dedup_chunk_identical(&c[i], &c[i + 1]));
    }
    if (split) {
        qsort(c, n, sizeof *c, cmp_chunks);
        st_dedup_replica_t *r;
        st_store_chunk_t *st;
        size_t nr;
        if (st_dedup_overlap_split(c, n, &r, &nr, &st)) return 0;
        size_t sum = 0;
        for (size_t k = 0; k < nr; k++) {
            sum += r[k].n;
            for (size_t i = 1; i < r[k].n; i++) check(r[k].chunks[i - 1].maxt < r[k].chunks[i].mint);
        }
        check(sum == n && nr >= 1 && nr <= (n ? n : 1));
        run(r, nr, mint, maxt, counter, what, total);
        free(r);
        free(st);
        return 0;
    }
    /* chunks dealt by index; each replica's sorted by min time, as stores send them */
    st_store_chunk_t byrep[MAX_CHUNKS];
    st_dedup_replica_t r[MAX_REPLICAS];
    size_t off = 0;
    for (size_t k = 0; k < nrep; k++) {
        r[k].chunks = byrep + off;
        r[k].n = 0;
        for (size_t i = 0; i < n; i++)
            if (rep[i] == k) byrep[off + r[k].n++] = c[i];
        for (size_t i = 1; i < r[k].n; i++)
            for (size_t j = i; j > 0 && byrep[off + j - 1].mint > byrep[off + j].mint; j--) {
                st_store_chunk_t tmp = byrep[off + j];
                byrep[off + j] = byrep[off + j - 1];
                byrep[off + j - 1] = tmp;
            }
        off += r[k].n;
    }
    run(r, nrep, mint, maxt, counter, what, total);
    return 0;
}
