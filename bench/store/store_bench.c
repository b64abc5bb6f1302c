/*
 * store_bench — the C half of bench/store (run.sh drives it):
 *
 *   store_bench gen DIR SERIES DAYS STEP_S
 *       write DAYS x 12 two-hour blocks of SERIES series (a counter per
 *       series, labels like a node fleet's: job, instance, method, code)
 *       into DIR, ending at the last whole 2h boundary before now
 *   store_bench series HOST:PORT SELECTOR MINT MAXT RUNS
 *       a StoreAPI Series call (raw chunks), RUNS times
 *   store_bench rread URL SELECTOR MINT MAXT RUNS
 *       the same selection as a Prometheus remote read (streamed XOR
 *       chunks, POST URL/api/v1/read), RUNS times
 *
 * series/rread print one line: median_ms series chunks bytes — bytes being
 * the chunk bytes received — so run.sh can show both side by side.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blockgen.h"
#include "strata/block.h"
#include "strata/err.h"
#include "strata/grpc.h"
#include "strata/httpclient.h"
#include "strata/labels.h"
#include "strata/matcher.h"
#include "strata/remoteread.h"
#include "strata/storeapi.h"

#include "benchutil.h"

#define BLOCK_MS ST_DEFAULT_BLOCK_DURATION_MS

static int fail(const char *what, int rc) {
    fprintf(stderr, "store_bench: %s: %s\n", what, st_errdetail(rc));
    return 1;
}

/* http_requests_total grows by 0-99 per sample; one xorshift stream over
 * all samples in blockgen's order. */
typedef struct {
    uint64_t rng;
    double *val;
} counters_t;

static double next_value(void *ctx, size_t i, int64_t t) {
    (void)t;
    counters_t *c = ctx;
    c->rng ^= c->rng << 13, c->rng ^= c->rng >> 7, c->rng ^= c->rng << 17;
    return c->val[i] += (double)(c->rng % 100);
}

static int gen(const char *dir, long nseries, long days, long step_s) {
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};
    static const char *const codes[] = {"200", "404", "500"};
    int64_t end = ((int64_t)time(NULL) * 1000 / BLOCK_MS) * BLOCK_MS;
    int64_t start = end - (int64_t)days * 12 * BLOCK_MS;
    st_labels_t *lbls = calloc((size_t)nseries, sizeof *lbls);
    counters_t c = {0x9e3779b97f4a7c15ULL, calloc((size_t)nseries, sizeof *c.val)};
    int rc = 0;
    if (!lbls || !c.val) {
        rc = st_errorf(ST_ENOMEM, "%ld series", nseries);
        goto out;
    }
    for (long i = 0; i < nseries; i++) {
        char job[32], inst[32];
        snprintf(job, sizeof job, "api-%ld", i % 10);
        snprintf(inst, sizeof inst, "host-%ld:9100", i / 12);
        st_label_t l[] = {{"__name__", "http_requests_total", 8, 19},
                          {"code", codes[i % 3], 4, 3},
                          {"instance", inst, 8, strlen(inst)},
                          {"job", job, 3, strlen(job)},
                          {"method", methods[(i / 3) % 4], 6, strlen(methods[(i / 3) % 4])}};
        if ((rc = st_labels_from_pairs(&lbls[i], l, 5))) goto out;
    }
    rc = bench_gen_blocks(dir, lbls, (size_t)nseries, NULL, start, end, step_s * 1000, next_value, &c);
out:
    for (long i = 0; lbls && i < nseries; i++) st_labels_free(&lbls[i]);
    free(lbls);
    free(c.val);
    return rc ? fail("gen", rc) : 0;
}

static int series(const char *addr, const st_matchers_t *ms, int64_t mint, int64_t maxt, int runs) {
    st_grpc_client_t *c = NULL;
    double *lat = calloc((size_t)runs, sizeof *lat);
    uint64_t nseries = 0, nchunks = 0, bytes = 0;
    int rc = lat ? st_grpc_client_new(&c, addr, NULL) : st_errorf(ST_ENOMEM, "runs");
    for (int r = 0; r < runs && !rc; r++) {
        st_series_request_t req = {.min_time = mint, .max_time = maxt, .matchers = *ms};
        st_series_stream_t *s = NULL;
        nseries = nchunks = bytes = 0;
        double t0 = bench_now_ms();
        rc = st_series_stream_open(&s, c, &req, 600000);
        const st_labels_t *l;
        const st_store_chunk_t *ch;
        size_t n;
        int more;
        while (!rc && (more = st_series_stream_next(s, &l, &ch, &n)) != 0) {
            if (more < 0) {
                rc = more;
                break;
            }
            nseries++;
            nchunks += n;
            for (size_t i = 0; i < n; i++) bytes += ch[i].len[ST_AGGR_RAW];
        }
        lat[r] = bench_now_ms() - t0;
        st_series_stream_free(s);
    }
    if (!rc) printf("%.2f %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", bench_median(lat, runs), nseries, nchunks, bytes);
    st_grpc_client_free(c);
    free(lat);
    return rc ? fail("series", rc) : 0;
}

static int rread(const char *base, const st_matchers_t *ms, int64_t mint, int64_t maxt, int runs) {
    char url[1024];
    snprintf(url, sizeof url, "%s/api/v1/read", base);
    st_remoteread_query_t q = {.start_ms = mint, .end_ms = maxt, .matchers = *ms};
    st_rr_response_type_t acc = ST_RR_STREAMED_XOR_CHUNKS;
    uint8_t *body = NULL;
    size_t blen = 0;
    double *lat = calloc((size_t)runs, sizeof *lat);
    uint64_t nseries = 0, nchunks = 0, bytes = 0;
    int rc = lat ? st_remoteread_encode_request(&q, 1, &acc, 1, &body, &blen) : st_errorf(ST_ENOMEM, "runs");
    static const char *const hdrs[] = {"Content-Type: application/x-protobuf", "Content-Encoding: snappy",
                                       "X-Prometheus-Remote-Read-Version: 0.1.0", NULL};
    for (int r = 0; r < runs && !rc; r++) {
        st_http_req_t req = {.method = "POST", .url = url, .headers = hdrs, .body = body, .body_len = blen,
                             .timeout_ms = 600000, .max_body = (size_t)4 << 30};
        st_http_resp_t resp = {0};
        nseries = nchunks = bytes = 0;
        double t0 = bench_now_ms();
        rc = st_http_do(&req, &resp);
        if (!rc && resp.status != 200) rc = st_errorf(ST_EIO, "%s: HTTP %ld: %.200s", url, resp.status, resp.body);
        for (size_t off = 0; !rc && off < resp.len;) {
            st_remoteread_frame_t f;
            size_t used;
            int got = st_remoteread_frame_next((const uint8_t *)resp.body + off, resp.len - off, 0, &f, &used);
            if (got <= 0) {
                rc = got ? got : st_errorf(ST_ECORRUPT, "%s: truncated frame", url);
                break;
            }
            for (size_t i = 0; i < f.nseries; i++) {
                nseries++;
                nchunks += f.series[i].nchunks;
                for (size_t k = 0; k < f.series[i].nchunks; k++) bytes += f.series[i].chunks[k].len;
            }
            st_remoteread_frame_free(&f);
            off += used;
        }
        lat[r] = bench_now_ms() - t0;
        st_http_resp_free(&resp);
    }
    if (!rc) printf("%.2f %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", bench_median(lat, runs), nseries, nchunks, bytes);
    free(body);
    free(lat);
    return rc ? fail("rread", rc) : 0;
}

int main(int argc, char **argv) {
    if (argc == 6 && strcmp(argv[1], "gen") == 0) return gen(argv[2], atol(argv[3]), atol(argv[4]), atol(argv[5]));
    if (argc != 7 || (strcmp(argv[1], "series") != 0 && strcmp(argv[1], "rread") != 0)) {
        fprintf(stderr, "usage: store_bench gen DIR SERIES DAYS STEP_S\n"
                        "       store_bench series|rread ADDR SELECTOR MINT MAXT RUNS\n");
        return 2;
    }
    st_matchers_t ms = {0};
    int rc = st_selector_parse(&ms, argv[3]);
    if (rc) return fail(argv[3], rc);
    int64_t mint = strtoll(argv[4], NULL, 10), maxt = strtoll(argv[5], NULL, 10);
    int runs = atoi(argv[6]);
    if (runs < 1) runs = 1;
    int ret = strcmp(argv[1], "series") == 0 ? series(argv[2], &ms, mint, maxt, runs)
                                             : rread(argv[2], &ms, mint, maxt, runs);
    st_matchers_free(&ms);
    return ret;
}
