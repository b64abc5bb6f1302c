/* gen_downsampled WORKDIR OBJSTORE_YML START_MS — the bucket of
 * test_store_downsampled.sh and what the store must serve from it.
 *
 * Blocks (external labels {cluster="ds"} unless said):
 *   WORKDIR/rawA/<ULID>   raw, samples every 60 s over [START, START+48h):
 *                         ds_counter (resets every 7 h), ds_gauge, ds_sparse
 *                         (every 7 min, with a 5 h hole); one 48h-range block
 *   WORKDIR/rawB/<ULID>   raw, the same series over [START+48h, START+50h)
 *                         (not downsampled: the newest data)
 *   WORKDIR/ds5m/<ULID>   rawA downsampled to 5m (st_downsample_block)
 *   WORKDIR/ds1h/<ULID>   that 5m block downsampled to 1h
 *   WORKDIR/crafted/<ULID> resolution 5m, {cluster="crafted"}: crafted_broken
 *                         (an AggrChunk whose payload is cut short, CRC
 *                         valid) and crafted_partial (an AggrChunk holding
 *                         count and sum only)
 * each uploaded with st_bucket_upload_block and its thanos resolution.
 *
 * Expected output of `strata tools store series --aggregate=...` (every
 * member of every chunk, "{labels} KIND value ts", series in label order,
 * per series by KIND then time):
 *   WORKDIR/expect_5m.txt, expect_1h.txt   the downsampled blocks read back
 *                         from local disk with the mapped block reader
 *                         (index + chunk segments, st_aggr_chunk_decode):
 *                         another read path than the store's ranged reads
 *   WORKDIR/expect_partial.txt  the count and sum samples crafted_partial
 *                         was written with
 * Values are integers, so the aggregates' sums are exact whatever the
 * order of addition (the test recomputes count/sum/min/max per window
 * from the raw dump). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/block.h"
#include "strata/bucket.h"
#include "strata/chunkenc.h"
#include "strata/chunks.h"
#include "strata/downsample.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/index.h"
#include "strata/objstore.h"
#include "strata/textfmt.h"

#define MIN ((int64_t)60 * 1000)
#define HOUR (60 * MIN)

static const char *const kinds[ST_AGGR_N] = {"raw", "count", "sum", "min", "max", "counter"};

static void die(const char *what, int rc) {
    fprintf(stderr, "gen_downsampled: %s: %s\n", what, st_errdetail(rc));
    exit(1);
}

static st_labels_t series_labels(const char *name, const char *cluster) {
    st_label_t p[3] = {st_label("__name__", name), st_label("job", "gen")};
    size_t n = 2;
    if (cluster) p[n++] = st_label("cluster", cluster);
    st_labels_t l;
    int rc = st_labels_from_pairs(&l, p, n);
    if (rc) die("labels", rc);
    return l;
}

/* Append ds_* samples in [from, to) to a builder. The series are pure
 * functions of t, so both raw blocks continue one another. */
static void add_samples(st_block_builder_t *b, int64_t start, int64_t from, int64_t to) {
    st_labels_t lc = series_labels("ds_counter", NULL), lg = series_labels("ds_gauge", NULL),
                ls = series_labels("ds_sparse", NULL);
    int rc = ST_OK;
    for (int64_t t = from; t < to && !rc; t += MIN) {
        int64_t k = (t - start) / MIN;
        /* counter: +0..9 a minute, reset to 0 every 7 h */
        int64_t since = k % 420, v = 0;
        for (int64_t i = 1; i <= since; i++) v += (i * 7 + k / 420) % 10;
        rc = st_block_builder_append(b, &lc, t, (double)v);
        if (!rc) rc = st_block_builder_append(b, &lg, t, (double)((k * 37 + k / 13) % 101 - 50));
        /* every 7 min, nothing in [START+20h, START+25h) */
        bool hole = t >= start + 20 * HOUR && t < start + 25 * HOUR;
        if (!rc && k % 7 == 0 && !hole) rc = st_block_builder_append(b, &ls, t, (double)(k % 23));
    }
    if (rc) die("appending samples", rc);
    st_labels_free(&lc);
    st_labels_free(&lg);
    st_labels_free(&ls);
}

static char *build_raw(const char *parent, int64_t start, int64_t from, int64_t to, int64_t chunk_range) {
    st_block_builder_t *b;
    char *dir = NULL;
    int rc = st_block_builder_new(&b, chunk_range);
    if (rc) die("block builder", rc);
    add_samples(b, start, from, to);
    if ((rc = st_block_builder_write(b, parent, &dir)) || !dir) die("writing a raw block", rc);
    st_block_builder_free(b);
    return dir;
}

static void upload(st_objstore_t *bkt, const char *dir, const char *cluster, int64_t res) {
    st_thanos_t th = {.resolution = res, .source = (char *)ST_THANOS_SOURCE_COMPACTOR};
    st_label_t p = st_label("cluster", cluster);
    int rc = st_labels_from_pairs(&th.labels, &p, 1);
    if (!rc) rc = st_bucket_upload_block(bkt, dir, &th, NULL, NULL);
    if (rc) die(dir, rc);
    st_labels_free(&th.labels);
}

/* ---- expected output ---- */

typedef struct {
    st_labels_t lbls; /* with the external label */
    char *text;       /* its lines */
} out_series_t;

static int out_cmp(const void *a, const void *b) {
    return st_labels_cmp(&((const out_series_t *)a)->lbls, &((const out_series_t *)b)->lbls);
}

static void put_line(st_encbuf_t *b, const st_labels_t *l, int kind, int64_t t, double v) {
    char num[ST_FLOAT_BUF];
    size_t n = st_fmt_go_g(num, v);
    st_put_labels_go(b, l);
    st_put_fmt(b, " %s ", kinds[kind]);
    st_put_bytes(b, num, n);
    st_put_fmt(b, " %lld\n", (long long)t);
}

/* Every aggregate sample of every series of the downsampled block at dir,
 * read with the mapped reader, into path. */
static void expect_block(const char *dir, const char *cluster, const char *path) {
    st_block_t *blk;
    int rc = st_block_open(&blk, dir);
    if (rc) die(dir, rc);
    const st_index_reader_t *ix = st_block_index(blk);
    st_postings_t all;
    if ((rc = st_index_postings(ix, "", "", &all))) die("postings", rc);
    out_series_t *ser = calloc(all.n ? all.n : 1, sizeof *ser);
    if (!ser) die("allocating", ST_ENOMEM);
    st_label_t ext = st_label("cluster", cluster);
    for (size_t i = 0; i < all.n; i++) {
        st_labels_t l;
        st_chunk_meta_t *cm;
        size_t nc;
        if ((rc = st_index_series(ix, all.ids[i], &l, &cm, &nc))) die("series", rc);
        st_label_t *pairs = malloc((l.n + 1) * sizeof *pairs);
        if (!pairs) die("allocating", ST_ENOMEM);
        memcpy(pairs, l.v, l.n * sizeof *pairs);
        pairs[l.n] = ext;
        if ((rc = st_labels_from_pairs(&ser[i].lbls, pairs, l.n + 1))) die("labels", rc);
        free(pairs);
        st_encbuf_t b;
        st_encbuf_init(&b, 0);
        /* per kind, chunks in time order */
        for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++)
            for (size_t c = 0; c < nc; c++) {
                uint8_t enc;
                const uint8_t *p;
                size_t len;
                st_store_chunk_t ac = {0};
                if ((rc = st_chunk_reader_get(st_block_chunks(blk), cm[c].ref, &enc, &p, &len))) die("chunk", rc);
                if (enc != ST_CHUNK_ENC_AGGR) die("a downsampled chunk is not an AggrChunk", ST_ECORRUPT);
                if ((rc = st_aggr_chunk_decode(p, len, &ac))) die("aggr chunk", rc);
                if (!ac.data[a]) continue;
                st_xor_iter_t it;
                if ((rc = st_xor_iter_init(&it, ac.data[a], ac.len[a]))) die("xor", rc);
                while ((rc = st_xor_iter_next(&it)) == 1) {
                    int64_t t;
                    double v;
                    st_xor_iter_at(&it, &t, &v);
                    put_line(&b, &ser[i].lbls, a, t, v);
                }
                if (rc < 0) die("xor", rc);
            }
        st_put_u8(&b, 0);
        if (b.err) die("formatting", b.err);
        ser[i].text = (char *)b.p;
        st_labels_free(&l);
        free(cm);
    }
    qsort(ser, all.n, sizeof *ser, out_cmp);
    FILE *f = fopen(path, "w");
    if (!f) die(path, ST_EIO);
    for (size_t i = 0; i < all.n; i++) {
        fputs(ser[i].text, f);
        free(ser[i].text);
        st_labels_free(&ser[i].lbls);
    }
    if (fclose(f)) die(path, ST_EIO);
    free(ser);
    st_postings_free(&all);
    st_block_close(blk);
}

/* ---- the crafted block ---- */

static void xor_of(st_xor_appender_t *a, int64_t t0, int n, double mul) {
    int rc = st_xor_appender_init(a);
    for (int i = 0; i < n && !rc; i++) rc = st_xor_append(a, t0 + i * 5 * MIN + 5 * MIN - 1, mul * (i + 1));
    if (rc) die("xor appender", rc);
}

static char *build_crafted(const char *parent, int64_t start, const char *expect_path) {
    st_block_writer_t *w;
    int rc = st_block_writer_open(&w, parent, NULL);
    if (rc) die("block writer", rc);
    const char *syms[] = {"__name__", "crafted_broken", "crafted_partial", "gen", "job"};
    for (size_t i = 0; i < sizeof syms / sizeof *syms && !rc; i++)
        rc = st_block_writer_add_symbol(w, syms[i], strlen(syms[i]));
    if (rc) die("symbols", rc);
    int64_t end = start + 12 * 5 * MIN - 1;
    /* count says 5 bytes follow; one does */
    static const uint8_t broken[] = {0x05, ST_CHUNK_ENC_XOR, 0x00};
    st_chunk_t cb = {start + 5 * MIN - 1, end, ST_CHUNK_ENC_AGGR, broken, sizeof broken};
    st_labels_t lb = series_labels("crafted_broken", NULL), lp = series_labels("crafted_partial", NULL);
    if ((rc = st_block_writer_add_series(w, &lb, &cb, 1, 12))) die("broken series", rc);

    st_xor_appender_t count, sum;
    xor_of(&count, start, 12, 1);
    xor_of(&sum, start, 12, 2.5);
    st_store_chunk_t ac = {0};
    ac.data[ST_AGGR_COUNT] = st_xor_bytes(&count, &ac.len[ST_AGGR_COUNT]);
    ac.data[ST_AGGR_SUM] = st_xor_bytes(&sum, &ac.len[ST_AGGR_SUM]);
    st_encbuf_t payload;
    st_encbuf_init(&payload, 0);
    if ((rc = st_aggr_chunk_encode(&ac, &payload)) || (rc = payload.err)) die("encoding", rc);
    st_chunk_t cp = {start + 5 * MIN - 1, end, ST_CHUNK_ENC_AGGR, payload.p, payload.len};
    if ((rc = st_block_writer_add_series(w, &lp, &cp, 1, 12))) die("partial series", rc);
    st_block_writer_set_range(w, start, end + 1);
    char *dir = NULL;
    if ((rc = st_block_writer_commit(w, NULL, &dir))) die("committing the crafted block", rc);

    st_labels_t le = series_labels("crafted_partial", "crafted");
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    for (int i = 0; i < 12; i++) put_line(&b, &le, ST_AGGR_COUNT, start + i * 5 * MIN + 5 * MIN - 1, i + 1);
    for (int i = 0; i < 12; i++) put_line(&b, &le, ST_AGGR_SUM, start + i * 5 * MIN + 5 * MIN - 1, 2.5 * (i + 1));
    if (b.err || st_file_write_atomic(expect_path, b.p, b.len)) die(expect_path, ST_EIO);
    st_encbuf_free(&b);
    st_encbuf_free(&payload);
    st_xor_appender_free(&count);
    st_xor_appender_free(&sum);
    st_labels_free(&lb);
    st_labels_free(&lp);
    st_labels_free(&le);
    return dir;
}

static char *sub(const char *root, const char *name) {
    char *p = st_path_join(root, name);
    if (!p) die("allocating", ST_ENOMEM);
    return p;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: gen_downsampled WORKDIR OBJSTORE_YML START_MS\n");
        return 2;
    }
    const char *root = argv[1];
    int64_t start = strtoll(argv[3], NULL, 10);
    st_objstore_t *bkt = NULL;
    int rc = st_objstore_open_file(&bkt, argv[2]);
    if (rc) die(argv[2], rc);

    char *pa = sub(root, "rawA"), *pb = sub(root, "rawB"), *p5 = sub(root, "ds5m"), *p1 = sub(root, "ds1h"),
         *pc = sub(root, "crafted"), *e5 = sub(root, "expect_5m.txt"), *e1 = sub(root, "expect_1h.txt"),
         *ep = sub(root, "expect_partial.txt");
    char *da = build_raw(pa, start, start, start + 48 * HOUR, 48 * HOUR);
    char *db = build_raw(pb, start, start + 48 * HOUR, start + 50 * HOUR, 2 * HOUR);
    st_block_t *ba, *b5;
    char *d5 = NULL, *d1 = NULL;
    if ((rc = st_block_open(&ba, da))) die(da, rc);
    if ((rc = st_downsample_block(ba, ST_RES_RAW, ST_RES_5M, p5, &d5, NULL))) die("downsampling to 5m", rc);
    if ((rc = st_block_open(&b5, d5))) die(d5, rc);
    if ((rc = st_downsample_block(b5, ST_RES_5M, ST_RES_1H, p1, &d1, NULL))) die("downsampling to 1h", rc);
    char *dc = build_crafted(pc, start, ep);

    upload(bkt, da, "ds", ST_RES_RAW);
    upload(bkt, db, "ds", ST_RES_RAW);
    upload(bkt, d5, "ds", ST_RES_5M);
    upload(bkt, d1, "ds", ST_RES_1H);
    upload(bkt, dc, "crafted", ST_RES_5M);
    expect_block(d5, "ds", e5);
    expect_block(d1, "ds", e1);
    printf("%s\n", strrchr(dc, '/') + 1); /* the crafted block's ULID */

    st_block_close(ba);
    st_block_close(b5);
    st_objstore_close(bkt);
    free(pa), free(pb), free(p5), free(p1), free(pc), free(e5), free(e1), free(ep);
    free(da), free(db), free(d5), free(d1), free(dc);
    return 0;
}
