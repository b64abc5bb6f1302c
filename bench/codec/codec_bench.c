/*
 * codec_bench DATA_DIR [RUNS]: loads every XOR chunk of every block under
 * DATA_DIR into memory, then times (median of RUNS) decoding all of them
 * and re-encoding their samples. Prints ns/sample and bytes/sample, and
 * checks that re-encoding reproduces the stored chunk bytes exactly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strata/block.h"
#include "strata/chunkenc.h"
#include "strata/err.h"

typedef struct {
    const uint8_t *data;
    size_t len;
} chunkref_t;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int dbl_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, dbl_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: codec_bench DATA_DIR [RUNS]\n");
        return 2;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    if (runs < 1 || runs > 1000) runs = 7;
    st_block_t **blocks;
    size_t nblocks;
    int rc = st_blocks_open_dir(argv[1], &blocks, &nblocks);
    if (rc) {
        fprintf(stderr, "codec_bench: %s\n", st_errdetail(rc));
        return 1;
    }
    chunkref_t *chunks = NULL;
    size_t nchunks = 0, cap = 0;
    uint64_t nsamples = 0, nbytes = 0;
    for (size_t b = 0; b < nblocks; b++) {
        const st_index_reader_t *ix = st_block_index(blocks[b]);
        st_postings_t all;
        if ((rc = st_index_postings(ix, "", "", &all))) goto fail;
        for (size_t i = 0; i < all.n; i++) {
            st_chunk_meta_t *cm;
            size_t nc;
            if ((rc = st_index_series(ix, all.ids[i], NULL, &cm, &nc))) goto fail;
            for (size_t k = 0; k < nc; k++) {
                uint8_t enc;
                chunkref_t c;
                if ((rc = st_chunk_reader_get(st_block_chunks(blocks[b]), cm[k].ref, &enc, &c.data, &c.len))) goto fail;
                if (enc != ST_CHUNK_ENC_XOR) continue;
                if (nchunks == cap) {
                    cap = cap ? cap * 2 : 1024;
                    chunks = realloc(chunks, cap * sizeof *chunks);
                    if (!chunks) return 1;
                }
                chunks[nchunks++] = c;
                nsamples += (uint64_t)st_xor_num_samples(c.data, c.len);
                nbytes += c.len;
            }
            free(cm);
        }
        st_postings_free(&all);
    }
    if (!nsamples) {
        fprintf(stderr, "codec_bench: no samples under %s\n", argv[1]);
        return 1;
    }
    int64_t *ts = malloc(nsamples * sizeof *ts);
    double *vs = malloc(nsamples * sizeof *vs);
    double *dec = malloc((size_t)runs * sizeof *dec), *encd = malloc((size_t)runs * sizeof *encd);
    if (!ts || !vs || !dec || !encd) return 1;
    /* the samples, once, for the encode pass (not timed) */
    size_t j = 0;
    for (size_t c = 0; c < nchunks; c++) {
        st_xor_iter_t it;
        st_xor_iter_init(&it, chunks[c].data, chunks[c].len);
        while (st_xor_iter_next(&it) == 1) {
            st_xor_iter_at(&it, &ts[j], &vs[j]);
            j++;
        }
        if (it.err) {
            fprintf(stderr, "codec_bench: corrupt chunk %zu\n", c);
            return 1;
        }
    }
    /* Timed decodes consume samples as a query would, without storing them
     * all: next()+at() one by one, and next_batch() into a small buffer. */
    volatile double sink = 0;
    double *batch = malloc((size_t)runs * sizeof *batch);
    if (!batch) return 1;
    for (int r = 0; r < runs; r++) {
        double acc = 0, t0 = now_ns();
        for (size_t c = 0; c < nchunks; c++) {
            st_xor_iter_t it;
            int64_t t;
            double v;
            st_xor_iter_init(&it, chunks[c].data, chunks[c].len);
            while (st_xor_iter_next(&it) == 1) {
                st_xor_iter_at(&it, &t, &v);
                acc += v + (double)t;
            }
        }
        dec[r] = (now_ns() - t0) / (double)nsamples;
        sink += acc;
        int64_t bt[256];
        double bv[256];
        acc = 0;
        t0 = now_ns();
        for (size_t c = 0; c < nchunks; c++) {
            st_xor_iter_t it;
            int n;
            st_xor_iter_init(&it, chunks[c].data, chunks[c].len);
            while ((n = st_xor_iter_next_batch(&it, bt, bv, 256)) > 0) acc += bv[n - 1] + (double)bt[n - 1];
        }
        batch[r] = (now_ns() - t0) / (double)nsamples;
        sink += acc;
    }
    size_t mismatches = 0;
    for (int r = 0; r < runs; r++) {
        double t0 = now_ns();
        j = 0;
        for (size_t c = 0; c < nchunks; c++) {
            st_xor_appender_t a;
            st_xor_appender_init(&a);
            int n = st_xor_num_samples(chunks[c].data, chunks[c].len);
            for (int k = 0; k < n; k++, j++) st_xor_append(&a, ts[j], vs[j]);
            size_t len;
            const uint8_t *bytes = st_xor_bytes(&a, &len);
            if (r == 0 && (len != chunks[c].len || memcmp(bytes, chunks[c].data, len) != 0)) mismatches++;
            st_xor_appender_free(&a);
        }
        encd[r] = (now_ns() - t0) / (double)nsamples;
    }
    printf("chunks %zu  samples %llu  chunk bytes %llu\n", nchunks, (unsigned long long)nsamples,
           (unsigned long long)nbytes);
    printf("bytes/sample (chunk data) %.3f\n", (double)nbytes / (double)nsamples);
    printf("decode ns/sample, next+at (median of %d) %.2f\n", runs, median(dec, runs));
    printf("decode ns/sample, batch (median of %d) %.2f\n", runs, median(batch, runs));
    printf("encode ns/sample (median of %d) %.2f\n", runs, median(encd, runs));
    printf("re-encoded chunks differing from the stored bytes: %zu\n", mismatches);
    (void)sink;
    free(ts);
    free(vs);
    free(dec);
    free(batch);
    free(encd);
    free(chunks);
    st_blocks_close(blocks, nblocks);
    return mismatches ? 1 : 0;
fail:
    fprintf(stderr, "codec_bench: %s\n", st_errdetail(rc));
    return 1;
}
