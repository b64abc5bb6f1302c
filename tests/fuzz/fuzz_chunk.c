/* Fuzzes the XOR chunk iterator and the chunk segment reader.
 *
 * The whole input is decoded as one XOR chunk (next, next_batch and seek
 * must agree; the decoded samples must survive a re-encode). It is also
 * split before every segment magic (85 bd 40 dd) into in-memory segments,
 * whose entries are walked from offset 8 and fed to the XOR iterator too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata/buf.h"
#include "strata/chunkenc.h"
#include "strata/chunks.h"

#define MAX_SEGS 16

static uint64_t bits_of(double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    return u;
}

static void check(int ok) {
    if (!ok) __builtin_trap();
}

static void fuzz_xor(const uint8_t *p, size_t n) {
    st_xor_iter_t it;
    if (st_xor_iter_init(&it, p, n)) return;
    int num = st_xor_num_samples(p, n);
    int64_t *ts = malloc(sizeof *ts * (size_t)(num + 1));
    double *vs = malloc(sizeof *vs * (size_t)(num + 1));
    if (!ts || !vs) goto out;
    int got = 0, rc;
    while ((rc = st_xor_iter_next(&it)) == 1) {
        check(got < num);
        st_xor_iter_at(&it, &ts[got], &vs[got]);
        got++;
    }
    check(rc == 0 ? got == num : rc < 0);
    int end_rc = rc;

    /* batch decoding in odd sizes yields the same samples and outcome */
    int64_t bt[7];
    double bv[7];
    int bgot = 0;
    st_xor_iter_init(&it, p, n);
    while ((rc = st_xor_iter_next_batch(&it, bt, bv, 7)) > 0) {
        for (int i = 0; i < rc; i++, bgot++) {
            check(bgot < got);
            check(bt[i] == ts[bgot] && bits_of(bv[i]) == bits_of(vs[bgot]));
        }
    }
    check(rc == end_rc && bgot == got);

    /* seek stops at the first sample at or after the target (garbage
     * timestamps need not be sorted, so that is not always sample k) */
    if (got > 0) {
        int k = (int)(p[n - 1] % (unsigned)got), j = 0;
        while (ts[j] < ts[k]) j++;
        st_xor_iter_init(&it, p, n);
        check(st_xor_iter_seek(&it, ts[k]) == 1);
        int64_t t;
        double v;
        st_xor_iter_at(&it, &t, &v);
        check(t == ts[j] && bits_of(v) == bits_of(vs[j]));
    }

    /* increasing samples re-encode to a chunk that decodes identically */
    st_xor_appender_t a;
    if (end_rc == 0 && got > 0 && st_xor_appender_init(&a) == 0) {
        int ok = 1;
        for (int i = 0; i < got && ok; i++) ok = st_xor_append(&a, ts[i], vs[i]) == 0;
        if (ok) {
            size_t len;
            const uint8_t *b = st_xor_bytes(&a, &len);
            st_xor_iter_init(&it, b, len);
            for (int i = 0; i < got; i++) {
                int64_t t;
                double v;
                check(st_xor_iter_next(&it) == 1);
                st_xor_iter_at(&it, &t, &v);
                check(t == ts[i] && bits_of(v) == bits_of(vs[i]));
            }
            check(st_xor_iter_next(&it) == 0);
        }
        st_xor_appender_free(&a);
    }
out:
    free(ts);
    free(vs);
}

static void fuzz_segments(const uint8_t *p, size_t n) {
    static const uint8_t magic[4] = {0x85, 0xbd, 0x40, 0xdd};
    const uint8_t *segs[MAX_SEGS];
    size_t lens[MAX_SEGS], nsegs = 0, start = 0;
    for (size_t i = 1; i + 4 <= n && nsegs < MAX_SEGS - 1; i++) {
        if (memcmp(p + i, magic, 4) == 0) {
            segs[nsegs] = p + start;
            lens[nsegs++] = i - start;
            start = i;
        }
    }
    segs[nsegs] = p + start;
    lens[nsegs++] = n - start;

    st_chunk_reader_t *r;
    if (st_chunk_reader_open_mem(&r, segs, lens, nsegs)) return;
    check(st_chunk_reader_size(r) == n);
    for (size_t s = 0; s < nsegs; s++) {
        uint64_t off = 8;
        for (int k = 0; k < 1000 && off < lens[s]; k++) {
            uint8_t enc;
            const uint8_t *data;
            size_t len;
            if (st_chunk_reader_get(r, (uint64_t)s << 32 | off, &enc, &data, &len)) break;
            check(data >= segs[s] && data + len + 4 <= segs[s] + lens[s]);
            if (enc == ST_CHUNK_ENC_XOR) fuzz_xor(data, len);
            off += st_uvarint_len(len) + 1 + len + 4;
        }
    }
    /* a ref taken from the input's last bytes, anywhere */
    if (n >= 8) {
        uint8_t enc;
        const uint8_t *data;
        size_t len;
        (void)st_chunk_reader_get(r, st_be64(p + n - 8), &enc, &data, &len);
    }
    st_chunk_reader_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_xor(data, size);
    fuzz_segments(data, size);
    return 0;
}
