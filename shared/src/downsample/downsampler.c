/*
 * Downsampling one series, as Thanos's pkg/compact/downsample does it, so
 * that the same input gives the same AggrChunks (byte layout in
 * aggrchunk.c).
 *
 * Raw input (DownsampleRaw). Stale markers are dropped on input; other NaNs
 * are kept until the batches are cut (they count for the batch size) and
 * dropped from each batch. The series' n samples are cut into
 *   k = target chunk count (span, 1m assumed raw interval, n)
 * batches of n / k + 1 samples, each batch extended to the end of the
 * window its last sample falls into. A batch gives one AggrChunk: per
 * window a sample at the window's end (t - t % res + res - 1), except the
 * batch's last window, whose timestamp is the batch's last sample's. The
 * counter is a fresh running total per batch (first value, then each
 * increase, a drop counting as a reset), framed by the first raw sample and
 * the last raw value at the last timestamp. The chunk's mint/maxt are its
 * first and last window timestamps.
 *
 * Downsampled input (downsampleAggr, 5m -> 1h). The series' chunks are cut
 * into k = target chunk count (span, 5m, windows) parts of n / k chunks
 * (never splitting a chunk, so counter boundaries survive). Per part,
 * count/sum/min/max are re-aggregated over the samples of that aggregate
 * (count and sum add up), and the counter is rebuilt from the part's
 * counter sub-chunks read with resets applied (downsample_acr_t), framed
 * like a raw batch with its first sample and the last raw value.
 *
 * Target chunk count: E = floor(span / out_res) * min(1, n / (span /
 * in_res)) truncated, plus 1; k = the smallest k with E / k <= 140.
 *
 * Deliberate differences from Thanos, only on input Thanos never writes:
 * a part with an aggregate missing does not get mint 0 (Thanos's result
 * would not be a valid index), a part with no aggregate at all is
 * dropped, and n / k = 0 parts means one chunk per part (Thanos loops
 * forever). A corrupt counter sub-chunk is an error (Thanos skips the rest
 * of that sub-chunk).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "downsample_int.h"
#include "strata/downsample.h"
#include "strata/err.h"
#include "strata/promql_engine.h"

#define RAW_INTERVAL_GUESS ((int64_t)60000) /* Thanos assumes 1m raw data when sizing chunks */
#define MAX_WINDOWS_PER_CHUNK 140

typedef struct {
    int64_t t;
    double v;
} sample_t;

typedef struct {
    int64_t mint, maxt;
    size_t off[ST_AGGR_N], len[ST_AGGR_N]; /* into inbytes; len 0 = absent */
} in_chunk_t;

typedef struct {
    int64_t mint, maxt;
    size_t off, len; /* payload in out */
} out_chunk_t;

enum { IN_NONE, IN_RAW, IN_AGGR };

struct st_downsampler {
    int64_t res;
    int in;
    bool finished;
    /* raw input */
    sample_t *raw;
    size_t nraw, capraw;
    int64_t last_t;
    bool have_last;
    /* downsampled input, copied: the caller's bytes are borrowed */
    in_chunk_t *inc;
    size_t ninc, capinc;
    st_encbuf_t inbytes;
    /* scratch */
    sample_t *buf;
    size_t nbuf, capbuf;
    downsample_bytes_t *ctrs;
    size_t capctrs;
    st_xor_appender_t app[ST_AGGR_N]; /* [COUNT..COUNTER] while a chunk is built */
    bool app_on[ST_AGGR_N];
    /* output */
    st_encbuf_t out;
    out_chunk_t *outc;
    size_t nout, capout;
    st_chunk_t *chunks;
    uint64_t nsamples;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return ST_OK;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need) ncap *= 2;
    void *np = realloc(*p, ncap * elem);
    if (!np) return st_errorf(ST_ENOMEM, "downsampler: growing a buffer to %zu entries", ncap);
    *p = np;
    *cap = ncap;
    return ST_OK;
}

int st_downsampler_new(st_downsampler_t **out, int64_t resolution) {
    *out = NULL;
    if (resolution != ST_RES_5M && resolution != ST_RES_1H)
        return st_errorf(ST_EINVAL, "downsampler: resolution %lld ms, want %lld or %lld", (long long)resolution,
                         (long long)ST_RES_5M, (long long)ST_RES_1H);
    st_downsampler_t *d = calloc(1, sizeof *d);
    if (!d) return st_errorf(ST_ENOMEM, "downsampler: allocation failed");
    d->res = resolution;
    st_encbuf_init(&d->inbytes, 0);
    st_encbuf_init(&d->out, 0);
    *out = d;
    return ST_OK;
}

static void apps_free(st_downsampler_t *d) {
    for (int a = 0; a < ST_AGGR_N; a++) {
        if (d->app_on[a]) st_xor_appender_free(&d->app[a]);
        d->app_on[a] = false;
    }
}

void st_downsampler_reset(st_downsampler_t *d) {
    d->in = IN_NONE;
    d->finished = false;
    d->nraw = 0;
    d->have_last = false;
    d->ninc = 0;
    st_encbuf_reset(&d->inbytes);
    d->nbuf = 0;
    apps_free(d);
    st_encbuf_reset(&d->out);
    d->nout = 0;
    d->nsamples = 0;
}

void st_downsampler_free(st_downsampler_t *d) {
    if (!d) return;
    apps_free(d);
    free(d->raw);
    free(d->inc);
    st_encbuf_free(&d->inbytes);
    free(d->buf);
    free(d->ctrs);
    st_encbuf_free(&d->out);
    free(d->outc);
    free(d->chunks);
    free(d);
}

/* Output of the previous series stays until the next call. */
static int begin_input(st_downsampler_t *d, int kind) {
    if (d->finished) st_downsampler_reset(d);
    if (d->in != IN_NONE && d->in != kind)
        return st_errorf(ST_EINVAL, "downsampler: raw and downsampled input mixed in one series");
    d->in = kind;
    return ST_OK;
}

static bool is_stale(double v) {
    union { double d; uint64_t u; } x = {.d = v};
    return x.u == ST_STALE_NAN_BITS;
}

int st_downsampler_add_raw(st_downsampler_t *d, int64_t t, double v) {
    int rc = begin_input(d, IN_RAW);
    if (rc) return rc;
    if (d->have_last && t <= d->last_t)
        return st_errorf(ST_EINVAL, "downsampler: sample at %lld not after %lld", (long long)t,
                         (long long)d->last_t);
    d->last_t = t;
    d->have_last = true;
    if (is_stale(v)) return ST_OK;
    if ((rc = grow((void **)&d->raw, &d->capraw, d->nraw + 1, sizeof *d->raw))) return rc;
    d->raw[d->nraw++] = (sample_t){t, v};
    return ST_OK;
}

int st_downsampler_add_aggr(st_downsampler_t *d, const st_store_chunk_t *c) {
    if (d->res != ST_RES_1H)
        return st_errorf(ST_EINVAL, "downsampler: downsampled input needs resolution %lld", (long long)ST_RES_1H);
    int rc = begin_input(d, IN_AGGR);
    if (rc) return rc;
    if (c->mint > c->maxt || (d->ninc && c->mint <= d->inc[d->ninc - 1].maxt))
        return st_errorf(ST_EINVAL, "downsampler: chunk [%lld, %lld] overlaps or precedes the previous one",
                         (long long)c->mint, (long long)c->maxt);
    if ((rc = grow((void **)&d->inc, &d->capinc, d->ninc + 1, sizeof *d->inc))) return rc;
    in_chunk_t *ic = &d->inc[d->ninc];
    memset(ic, 0, sizeof *ic);
    ic->mint = c->mint;
    ic->maxt = c->maxt;
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++) {
        if (!c->data[a] || !c->len[a]) continue;
        ic->off[a] = d->inbytes.len;
        ic->len[a] = c->len[a];
        st_put_bytes(&d->inbytes, c->data[a], c->len[a]);
    }
    if (d->inbytes.err) return st_errorf(d->inbytes.err, "downsampler: copying chunk bytes");
    d->ninc++;
    return ST_OK;
}

static size_t target_chunks(int64_t mint, int64_t maxt, int64_t in_res, int64_t out_res, uint64_t n) {
    int64_t span = (int64_t)((uint64_t)maxt - (uint64_t)mint); /* wraps as Go's int64 does */
    double max_samples = (double)(span / out_res);
    double full = (double)n / ((double)span / (double)in_res);
    if (full > 1) full = 1;
    double e = max_samples * full;
    /* Go's int() of NaN or an out-of-range float is MinInt64 on amd64: one chunk. */
    if (isnan(e) || e >= 9.2e18 || e <= -9.2e18) return 1;
    int64_t expect = (int64_t)e + 1;
    if (expect <= MAX_WINDOWS_PER_CHUNK) return 1;
    return (size_t)(expect / (MAX_WINDOWS_PER_CHUNK + 1)) + 1;
}

/* ---- building one output chunk ---- */

static int app_start(st_downsampler_t *d, int a) {
    int rc = st_xor_appender_init(&d->app[a]);
    if (rc) return rc;
    d->app_on[a] = true;
    return ST_OK;
}

static int push_chunk(st_downsampler_t *d, int64_t mint, int64_t maxt) {
    st_store_chunk_t c;
    memset(&c, 0, sizeof c);
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++)
        if (d->app_on[a]) c.data[a] = st_xor_bytes(&d->app[a], &c.len[a]);
    int rc = grow((void **)&d->outc, &d->capout, d->nout + 1, sizeof *d->outc);
    if (rc) return rc;
    size_t off = d->out.len;
    if ((rc = st_aggr_chunk_encode(&c, &d->out))) return rc;
    d->outc[d->nout++] = (out_chunk_t){mint, maxt, off, d->out.len - off};
    /* Thanos counts a chunk's samples as its count aggregate's. */
    if (d->app_on[ST_AGGR_COUNT]) d->nsamples += d->app[ST_AGGR_COUNT].num;
    apps_free(d);
    return ST_OK;
}

/* Thanos's floatAggregator: per-window count/sum/min/max and a running
 * counter over the whole batch. min/max start at +-DBL_MAX and only move
 * on < and >, as in Thanos (a window of +Inf only has min DBL_MAX). */
typedef struct {
    uint64_t total, count;
    double sum, min, max, counter, last;
} faggr_t;

static void faggr_reset(faggr_t *a) {
    a->count = 0;
    a->sum = 0;
    a->min = DBL_MAX;
    a->max = -DBL_MAX;
}

static void faggr_add(faggr_t *a, double v) {
    if (a->total > 0) {
        if (v < a->last) a->counter += v;
        else a->counter += v - a->last;
    } else {
        a->counter = v;
    }
    a->last = v;
    a->sum += v;
    a->count++;
    a->total++;
    if (v < a->min) a->min = v;
    if (v > a->max) a->max = v;
}

/* What a window emits: every aggregate (raw input) or one of them. */
typedef enum { EMIT_ALL, EMIT_SUM, EMIT_MIN, EMIT_MAX, EMIT_COUNTER } emit_t;

typedef struct {
    int64_t mint, maxt;
} range_t;

static int emit(st_downsampler_t *d, emit_t what, int a, int64_t t, const faggr_t *g, range_t *r) {
    if (t < r->mint) r->mint = t;
    if (t > r->maxt) r->maxt = t;
    int rc;
    switch (what) {
    case EMIT_ALL:
        if ((rc = st_xor_append_repeat(&d->app[ST_AGGR_COUNT], t, (double)g->count)) ||
            (rc = st_xor_append_repeat(&d->app[ST_AGGR_SUM], t, g->sum)) ||
            (rc = st_xor_append_repeat(&d->app[ST_AGGR_MIN], t, g->min)) ||
            (rc = st_xor_append_repeat(&d->app[ST_AGGR_MAX], t, g->max)))
            return rc;
        return st_xor_append_repeat(&d->app[ST_AGGR_COUNTER], t, g->counter);
    case EMIT_SUM: return st_xor_append_repeat(&d->app[a], t, g->sum);
    case EMIT_MIN: return st_xor_append_repeat(&d->app[a], t, g->min);
    case EMIT_MAX: return st_xor_append_repeat(&d->app[a], t, g->max);
    case EMIT_COUNTER: return st_xor_append_repeat(&d->app[a], t, g->counter);
    }
    return ST_OK;
}

/* Thanos's downsampleBatch over s[0..n) (n >= 1): a window ends when a
 * sample passes its end; the last window is stamped with the last sample's
 * time. *last_t receives the last window's timestamp. A window stamp of
 * -1 is Thanos's "no window yet" (only reachable with negative times). */
static int run_batch(st_downsampler_t *d, const sample_t *s, size_t n, emit_t what, int a, range_t *r,
                     int64_t *last_t) {
    int64_t next = -1, end = s[n - 1].t;
    faggr_t g;
    memset(&g, 0, sizeof g);
    int rc;
    for (size_t i = 0; i < n; i++) {
        if (s[i].t > next) {
            if (next != -1 && (rc = emit(d, what, a, next, &g, r))) return rc;
            faggr_reset(&g);
            int64_t w = downsample_window(s[i].t, d->res);
            next = w < end ? w : end;
        }
        faggr_add(&g, s[i].v);
    }
    if (g.total > 0 && (rc = emit(d, what, a, next, &g, r))) return rc;
    *last_t = next;
    return ST_OK;
}

/* ---- raw input ---- */

static int raw_batch(st_downsampler_t *d, const sample_t *s, size_t n) {
    int rc;
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++)
        if ((rc = app_start(d, a))) return rc;
    range_t r = {INT64_MAX, INT64_MIN};
    int64_t last_t;
    if ((rc = st_xor_append_repeat(&d->app[ST_AGGR_COUNTER], s[0].t, s[0].v)) ||
        (rc = run_batch(d, s, n, EMIT_ALL, 0, &r, &last_t)) ||
        (rc = st_xor_append_repeat(&d->app[ST_AGGR_COUNTER], last_t, s[n - 1].v)))
        return rc;
    return push_chunk(d, r.mint, r.maxt);
}

static int finish_raw(st_downsampler_t *d) {
    size_t n = d->nraw;
    if (!n) return ST_OK;
    const sample_t *s = d->raw;
    size_t k = target_chunks(s[0].t, s[n - 1].t, RAW_INTERVAL_GUESS, d->res, n);
    size_t batch = n / k + 1;
    int rc = grow((void **)&d->buf, &d->capbuf, n, sizeof *d->buf);
    if (rc) return rc;
    for (size_t i = 0; i < n;) {
        size_t j = i + (batch < n - i ? batch : n - i);
        int64_t w = downsample_window(s[j - 1].t, d->res);
        while (j < n && s[j].t <= w) j++;
        size_t m = 0;
        for (size_t x = i; x < j; x++)
            if (!isnan(s[x].v)) d->buf[m++] = s[x];
        i = j;
        if (m && (rc = raw_batch(d, d->buf, m))) return rc;
    }
    return ST_OK;
}

/* ---- downsampled input ---- */

static int buf_push(st_downsampler_t *d, int64_t t, double v) {
    int rc = grow((void **)&d->buf, &d->capbuf, d->nbuf + 1, sizeof *d->buf);
    if (rc) return rc;
    d->buf[d->nbuf++] = (sample_t){t, v};
    return ST_OK;
}

/* Thanos's expandXorChunkIterator, per sub-chunk: stale markers and
 * samples older than the previous kept one (starting from 0, so negative
 * times too) are skipped. */
static int expand_aggr(st_downsampler_t *d, const in_chunk_t *part, size_t n, int a) {
    d->nbuf = 0;
    for (size_t c = 0; c < n; c++) {
        if (!part[c].len[a]) continue;
        st_xor_iter_t it;
        int rc = st_xor_iter_init(&it, d->inbytes.p + part[c].off[a], part[c].len[a]);
        int64_t last = 0;
        while (rc >= 0 && (rc = st_xor_iter_next(&it)) == 1) {
            int64_t t;
            double v;
            st_xor_iter_at(&it, &t, &v);
            if (is_stale(v) || t < last) continue;
            last = t;
            rc = buf_push(d, t, v);
        }
        if (rc < 0) return rc;
    }
    return ST_OK;
}

static int aggr_part(st_downsampler_t *d, const in_chunk_t *part, size_t n) {
    static const emit_t how[ST_AGGR_N] = {0, EMIT_SUM, EMIT_SUM, EMIT_MIN, EMIT_MAX, 0};
    range_t r = {INT64_MAX, INT64_MIN};
    int64_t last_t;
    int rc;
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_MAX; a++) {
        if ((rc = expand_aggr(d, part, n, a))) return rc;
        if (!d->nbuf) continue;
        if ((rc = app_start(d, a)) || (rc = run_batch(d, d->buf, d->nbuf, how[a], a, &r, &last_t))) return rc;
    }
    if ((rc = grow((void **)&d->ctrs, &d->capctrs, n, sizeof *d->ctrs))) return rc;
    size_t nc = 0;
    for (size_t c = 0; c < n; c++)
        if (part[c].len[ST_AGGR_COUNTER])
            d->ctrs[nc++] = (downsample_bytes_t){d->inbytes.p + part[c].off[ST_AGGR_COUNTER],
                                                 part[c].len[ST_AGGR_COUNTER]};
    downsample_acr_t acr;
    downsample_acr_init(&acr, d->ctrs, nc);
    d->nbuf = 0;
    int64_t t, last = 0;
    double v;
    while ((rc = downsample_acr_next(&acr, &t, &v)) == 1) {
        if (is_stale(v) || t < last) continue;
        last = t;
        if ((rc = buf_push(d, t, v))) return rc;
    }
    if (rc < 0) return rc;
    if (d->nbuf) {
        if ((rc = app_start(d, ST_AGGR_COUNTER)) ||
            (rc = st_xor_append_repeat(&d->app[ST_AGGR_COUNTER], d->buf[0].t, d->buf[0].v)) ||
            (rc = run_batch(d, d->buf, d->nbuf, EMIT_COUNTER, ST_AGGR_COUNTER, &r, &last_t)) ||
            (rc = st_xor_append_repeat(&d->app[ST_AGGR_COUNTER], last_t, acr.last_v)))
            return rc;
    }
    if (r.mint > r.maxt) return ST_OK; /* no aggregate had a sample */
    return push_chunk(d, r.mint, r.maxt);
}

static int finish_aggr(st_downsampler_t *d) {
    size_t n = d->ninc;
    if (!n) return ST_OK;
    uint64_t windows = 0;
    for (size_t i = 0; i < n; i++)
        if (d->inc[i].len[ST_AGGR_COUNT]) {
            int ns = st_xor_num_samples(d->inbytes.p + d->inc[i].off[ST_AGGR_COUNT], d->inc[i].len[ST_AGGR_COUNT]);
            if (ns > 0) windows += (uint64_t)ns;
        }
    size_t k = target_chunks(d->inc[0].mint, d->inc[n - 1].maxt, ST_RES_5M, d->res, windows);
    size_t per = n / k ? n / k : 1;
    for (size_t i = 0; i < n; i += per) {
        int rc = aggr_part(d, d->inc + i, per < n - i ? per : n - i);
        if (rc) return rc;
    }
    return ST_OK;
}

int st_downsampler_finish(st_downsampler_t *d, const st_chunk_t **chunks, size_t *n, uint64_t *nsamples) {
    *chunks = NULL;
    *n = 0;
    *nsamples = 0;
    if (d->finished) st_downsampler_reset(d);
    int rc = d->in == IN_RAW ? finish_raw(d) : d->in == IN_AGGR ? finish_aggr(d) : ST_OK;
    d->finished = true;
    if (rc) {
        apps_free(d);
        return rc;
    }
    st_chunk_t *cs = realloc(d->chunks, (d->nout ? d->nout : 1) * sizeof *cs);
    if (!cs) return st_errorf(ST_ENOMEM, "downsampler: %zu output chunks", d->nout);
    d->chunks = cs;
    for (size_t i = 0; i < d->nout; i++)
        cs[i] = (st_chunk_t){d->outc[i].mint, d->outc[i].maxt, ST_CHUNK_ENC_AGGR, d->out.p + d->outc[i].off,
                             d->outc[i].len};
    *chunks = d->nout ? cs : NULL;
    *n = d->nout;
    *nsamples = d->nsamples;
    return ST_OK;
}
