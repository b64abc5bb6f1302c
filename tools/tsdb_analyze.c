/* `strata tools tsdb list` and `analyze`: block inventory and statistics
 * read from meta.json, the index and chunk headers (samples are counted
 * from chunk headers, not decoded). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/chunkenc.h"
#include "strata/err.h"
#include "strata/flags.h"
#include "tools_int.h"

int tools_tsdb_list(int argc, char **argv) {
    char **pos = NULL;
    size_t npos = 0, n = 0;
    st_block_t **blocks = NULL;
    int rc = st_flags_parse(NULL, 0, argc - 1, argv + 1, &pos, &npos);
    if (rc == 1 || (rc == 0 && npos != 1)) {
        st_flags_usage(rc == 1 ? stdout : stderr, "strata tools tsdb list DIR", "List the blocks of a TSDB data directory.",
                       NULL, 0);
        free(pos);
        return rc == 1 ? 0 : 2;
    }
    if (rc || (rc = st_blocks_open_dir(pos[0], &blocks, &n))) {
        free(pos);
        return tools_fail("list", rc);
    }
    printf("%-26s  %-14s  %-14s  %-13s  %-12s  %-11s  %-11s  %s\n", "BLOCK ULID", "MIN TIME", "MAX TIME", "DURATION",
           "NUM SAMPLES", "NUM CHUNKS", "NUM SERIES", "SIZE");
    for (size_t i = 0; i < n; i++) {
        const st_meta_t *m = st_block_meta(blocks[i]);
        char id[ST_ULID_TEXT_LEN + 1], dur[64];
        st_ulid_format(&m->ulid, id);
        tools_fmt_duration(dur, sizeof dur, m->max_time - m->min_time);
        printf("%-26s  %-14lld  %-14lld  %-13s  %-12llu  %-11llu  %-11llu  %llu\n", id, (long long)m->min_time,
               (long long)m->max_time, dur, (unsigned long long)m->num_samples, (unsigned long long)m->num_chunks,
               (unsigned long long)m->num_series, (unsigned long long)st_block_size(blocks[i]));
    }
    st_blocks_close(blocks, n);
    free(pos);
    return 0;
}

typedef struct {
    const char *name;
    uint64_t count;
} stat_t;

static int stat_desc(const void *x, const void *y) {
    const stat_t *a = x, *b = y;
    if (a->count != b->count) return a->count < b->count ? 1 : -1;
    return strcmp(a->name, b->name);
}

static void print_top(const char *title, stat_t *v, size_t n, size_t limit) {
    qsort(v, n, sizeof *v, stat_desc);
    printf("\n%s:\n", title);
    for (size_t i = 0; i < n && i < limit; i++) printf("%llu %s\n", (unsigned long long)v[i].count, v[i].name);
}

static int analyze_block(const st_block_t *b, size_t limit) {
    const st_index_reader_t *ix = st_block_index(b);
    const st_meta_t *m = st_block_meta(b);
    const char *const *names;
    size_t nnames = st_index_label_names(ix, &names);
    stat_t *card = calloc(nnames ? nnames : 1, sizeof *card);
    stat_t *metrics = NULL;
    st_postings_t all = {0};
    const char **vals = NULL;
    size_t nmetrics = 0;
    uint64_t pairs = 0, entries = 0, samples = 0, chunks = 0, buckets[5] = {0};
    int rc = ST_OK;
    if (!card) return st_errorf(ST_ENOMEM, "allocation failed");
    for (size_t i = 0; i < nnames; i++) {
        size_t nv;
        if ((rc = st_index_label_values(ix, names[i], &vals, &nv))) goto out;
        card[i] = (stat_t){names[i], nv};
        pairs += nv;
        for (size_t k = 0; k < nv; k++) {
            st_postings_t p;
            if ((rc = st_index_postings(ix, names[i], vals[k], &p))) goto out;
            entries += p.n;
            st_postings_free(&p);
        }
        if (strcmp(names[i], ST_METRIC_NAME) == 0) {
            if (!(metrics = calloc(nv ? nv : 1, sizeof *metrics))) {
                rc = st_errorf(ST_ENOMEM, "allocation failed");
                goto out;
            }
            for (size_t k = 0; k < nv; k++) {
                st_postings_t p;
                if ((rc = st_index_postings(ix, names[i], vals[k], &p))) goto out;
                metrics[nmetrics++] = (stat_t){vals[k], p.n};
                st_postings_free(&p);
            }
        }
        free(vals); /* the strings themselves live in the index mapping */
        vals = NULL;
    }
    if ((rc = st_index_postings(ix, "", "", &all))) goto out;
    for (size_t i = 0; i < all.n; i++) {
        st_chunk_meta_t *cm = NULL;
        size_t nc = 0;
        if ((rc = st_index_series(ix, all.ids[i], NULL, &cm, &nc))) goto out;
        for (size_t k = 0; k < nc; k++) {
            uint8_t enc;
            const uint8_t *data;
            size_t len;
            if ((rc = st_chunk_reader_get(st_block_chunks(b), cm[k].ref, &enc, &data, &len))) {
                free(cm);
                goto out;
            }
            int ns = enc == ST_CHUNK_ENC_XOR ? st_xor_num_samples(data, len) : 0;
            if (ns < 0) {
                free(cm);
                rc = st_errorf(ST_ECORRUPT, "block %s: chunks: chunk ref 0x%llx has no sample count",
                               st_block_dir(b), (unsigned long long)cm[k].ref);
                goto out;
            }
            samples += (uint64_t)ns;
            chunks++;
            int fill = ns * 100 / ST_SAMPLES_PER_CHUNK;
            buckets[fill < 25 ? 0 : fill < 50 ? 1 : fill < 75 ? 2 : fill <= 100 ? 3 : 4]++;
        }
        free(cm);
    }
    char id[ST_ULID_TEXT_LEN + 1], dur[64];
    st_ulid_format(&m->ulid, id);
    tools_fmt_duration(dur, sizeof dur, m->max_time - m->min_time);
    uint64_t size = st_block_size(b);
    printf("Block ID: %s\nDuration: %s\nSeries: %zu\nSamples: %llu\nChunks: %llu\n", id, dur, all.n,
           (unsigned long long)samples, (unsigned long long)chunks);
    printf("Size: %llu bytes (index %llu, chunks %llu)\n", (unsigned long long)size,
           (unsigned long long)st_index_reader_size(ix), (unsigned long long)st_chunk_reader_size(st_block_chunks(b)));
    printf("Bytes per sample: %.3f (chunks only: %.3f)\n", samples ? (double)size / (double)samples : 0.0,
           samples ? (double)st_chunk_reader_size(st_block_chunks(b)) / (double)samples : 0.0);
    printf("Label names: %zu\nPostings (unique label pairs): %llu\nPostings entries (total label pairs): %llu\n",
           nnames, (unsigned long long)pairs, (unsigned long long)entries);
    printf("\nChunk fullness (samples relative to %d):\n", ST_SAMPLES_PER_CHUNK);
    static const char *bucket_names[] = {"0-25%", "25-50%", "50-75%", "75-100%", ">100%"};
    for (int i = 0; i < 5; i++) printf("%-8s %llu\n", bucket_names[i], (unsigned long long)buckets[i]);
    print_top("Highest cardinality labels", card, nnames, limit);
    if (metrics) print_top("Highest cardinality metric names", metrics, nmetrics, limit);
out:
    st_postings_free(&all);
    free(metrics);
    free(vals);
    free(card);
    return rc;
}

int tools_tsdb_analyze(int argc, char **argv) {
    int64_t limit = 20;
    const st_flag_t flags[] = {{"limit", ST_FLAG_INT64, &limit, "How many items to show in each list."}};
    char **pos = NULL;
    size_t npos = 0, n = 0;
    st_block_t **blocks = NULL;
    int exit_code = 1;
    int rc = st_flags_parse(flags, 1, argc - 1, argv + 1, &pos, &npos);
    if (rc == 1 || (rc == 0 && (npos < 1 || npos > 2))) {
        st_flags_usage(rc == 1 ? stdout : stderr, "strata tools tsdb analyze [flags] DIR [BLOCK_ID]",
                       "Analyze a block (default: the most recent by min time).", flags, 1);
        exit_code = rc == 1 ? 0 : 2;
        goto out;
    }
    if (rc || (rc = st_blocks_open_dir(pos[0], &blocks, &n))) {
        exit_code = tools_fail("analyze", rc);
        goto out;
    }
    const st_block_t *pick = n ? blocks[n - 1] : NULL;
    if (npos == 2) {
        st_ulid_t want;
        pick = NULL;
        if ((rc = st_ulid_parse(&want, pos[1]))) {
            exit_code = tools_fail("analyze", rc);
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            if (st_ulid_cmp(&st_block_meta(blocks[i])->ulid, &want) == 0) pick = blocks[i];
    }
    if (!pick) {
        exit_code = tools_fail("analyze", st_errorf(ST_ENOTFOUND, "%s: no such block", npos == 2 ? pos[1] : pos[0]));
        goto out;
    }
    if ((rc = analyze_block(pick, limit > 0 ? (size_t)limit : 0))) {
        exit_code = tools_fail("analyze", rc);
        goto out;
    }
    exit_code = 0;
out:
    st_blocks_close(blocks, n);
    free(pos);
    return exit_code;
}
