/* AggrChunk payloads: decode; every sub-chunk iterated to its end; the
 * decoded chunk re-encoded decodes to the same sub-chunks; read back with
 * every st_aggr_iter mode; and re-downsampled to 1h, whose output must
 * decode and iterate cleanly. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata/chunkenc.h"
#include "strata/downsample.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void drain_xor(const uint8_t *p, size_t len) {
    st_xor_iter_t it;
    if (st_xor_iter_init(&it, p, len)) return;
    int n = st_xor_num_samples(p, len), k = 0, rc;
    while ((rc = st_xor_iter_next(&it)) == 1)
        if (++k > n) abort();
}

static void check_output(const st_chunk_t *cs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        st_store_chunk_t c;
        memset(&c, 0, sizeof c);
        if (cs[i].encoding != ST_CHUNK_ENC_AGGR || cs[i].mint > cs[i].maxt) abort();
        if (i && cs[i].mint <= cs[i - 1].maxt) abort();
        if (st_aggr_chunk_decode(cs[i].data, cs[i].len, &c)) abort();
        for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++)
            if (c.data[a]) drain_xor(c.data[a], c.len[a]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_store_chunk_t c;
    memset(&c, 0, sizeof c);
    if (st_aggr_chunk_decode(data, size, &c)) return 0;
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++) {
        if (!c.data[a]) continue;
        if (c.data[a] < data || c.data[a] + c.len[a] > data + size) abort();
        drain_xor(c.data[a], c.len[a]);
    }
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    st_store_chunk_t back;
    memset(&back, 0, sizeof back);
    if (st_aggr_chunk_encode(&c, &b) || st_aggr_chunk_decode(b.p, b.len, &back)) abort();
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++)
        if (back.len[a] != c.len[a] || (c.len[a] && memcmp(back.data[a], c.data[a], c.len[a]))) abort();
    st_encbuf_free(&b);

    c.mint = 0;
    c.maxt = (int64_t)size;
    for (int w = ST_AGGR_READ_COUNT; w <= ST_AGGR_READ_AVG; w++) {
        st_aggr_iter_t *it;
        if (st_aggr_iter_new(&it, &c, 1, (st_aggr_read_t)w, INT64_MIN, INT64_MAX)) continue;
        int64_t t, prev = INT64_MIN;
        double v;
        int rc, k = 0;
        while ((rc = st_aggr_iter_next(it, &t, &v)) == 1) {
            /* one chunk: the counter only moves forward in time */
            if (w == ST_AGGR_READ_COUNTER && k++ && t <= prev) abort();
            prev = t;
        }
        st_aggr_iter_free(it);
    }

    st_downsampler_t *d;
    if (st_downsampler_new(&d, ST_RES_1H)) return 0;
    const st_chunk_t *cs;
    size_t n;
    uint64_t ns;
    if (st_downsampler_add_aggr(d, &c) == 0 && st_downsampler_finish(d, &cs, &n, &ns) == 0) check_output(cs, n);
    st_downsampler_free(d);
    return 0;
}
