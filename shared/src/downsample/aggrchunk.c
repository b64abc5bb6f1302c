/*
 * AggrChunk: the chunk Thanos writes into downsampled blocks (chunk
 * encoding 0xff, pkg/compact/downsample/aggr.go).
 *
 * In a chunk segment file it is an ordinary entry (shared/src/chunks/segment.c):
 *   uvarint(len(payload)) | u8 0xff | payload | be32 CRC32C(0xff | payload)
 * The payload holds five aggregates in this fixed order:
 *   count, sum, min, max, counter
 * each one as
 *   uvarint n                  n = 0: the aggregate is absent; nothing follows
 *   u8 encoding | n bytes      n > 0: the sub-chunk's encoding (1 = XOR) and
 *                              its n bytes (n excludes the encoding byte)
 * and nothing after the fifth. Each sub-chunk is a plain XOR chunk (layout
 * in shared/src/chunkenc/xor.c): count/sum/min/max hold one sample per
 * window; the counter sub-chunk also holds the first raw sample ahead of
 * the windows and, after them, the last raw value again at the last
 * window's timestamp (so two samples share that timestamp).
 */
#include <stdlib.h>
#include <string.h>

#include "downsample_int.h"
#include "strata/downsample.h"
#include "strata/err.h"

static const char *const aggr_name[ST_AGGR_N] = {"raw", "count", "sum", "min", "max", "counter"};

int st_aggr_chunk_decode(const uint8_t *p, size_t len, st_store_chunk_t *out) {
    const uint8_t *data[ST_AGGR_N] = {0};
    size_t lens[ST_AGGR_N] = {0};
    st_decbuf_t d;
    st_decbuf_init(&d, p, len);
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++) {
        uint64_t n = st_dec_uvarint(&d);
        if (d.err) return st_errorf(ST_ECORRUPT, "aggr chunk: %s: truncated or bad length", aggr_name[a]);
        if (n == 0) continue;
        uint8_t enc = st_dec_u8(&d);
        if (d.err) return st_errorf(ST_ECORRUPT, "aggr chunk: %s: missing encoding byte", aggr_name[a]);
        if (enc != ST_CHUNK_ENC_XOR)
            return st_errorf(ST_ECORRUPT, "aggr chunk: %s: sub-chunk encoding %u, want XOR (%d)", aggr_name[a],
                             enc, ST_CHUNK_ENC_XOR);
        if (n > st_dec_remaining(&d))
            return st_errorf(ST_ECORRUPT, "aggr chunk: %s: %llu bytes declared, %zu left", aggr_name[a],
                             (unsigned long long)n, st_dec_remaining(&d));
        if (n < 2)
            return st_errorf(ST_ECORRUPT, "aggr chunk: %s: %llu bytes, shorter than an XOR chunk header",
                             aggr_name[a], (unsigned long long)n);
        lens[a] = (size_t)n;
        data[a] = st_dec_bytes(&d, lens[a]);
    }
    if (st_dec_remaining(&d))
        return st_errorf(ST_ECORRUPT, "aggr chunk: %zu trailing bytes after the counter", st_dec_remaining(&d));
    for (int a = 0; a < ST_AGGR_N; a++) {
        out->data[a] = data[a];
        out->len[a] = lens[a];
    }
    return ST_OK;
}

int st_aggr_chunk_encode(const st_store_chunk_t *c, st_encbuf_t *b) {
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++) {
        if (!c->data[a] || !c->len[a]) {
            st_put_uvarint(b, 0);
            continue;
        }
        st_put_uvarint(b, c->len[a]);
        st_put_u8(b, ST_CHUNK_ENC_XOR);
        st_put_bytes(b, c->data[a], c->len[a]);
    }
    return b->err ? st_errorf(b->err, "aggr chunk: encoding: output buffer full") : ST_OK;
}
