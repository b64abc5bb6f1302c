/*
 * Downsampling a block, as Thanos's Downsample() does: every symbol of the
 * source index is carried over (so the symbol table equals Thanos's),
 * series go in index order, each downsampled alone; a series left without
 * chunks (all NaN) is dropped. Raw chunks are read as Thanos's
 * expandXorChunkIterator reads them (per chunk, samples older than the
 * previous one kept, starting from 0, are skipped). In a 5m block, a plain
 * XOR chunk (written by old Thanos versions) is downsampled to 5m on its
 * own first, and an empty one is skipped, as Thanos does.
 *
 * The meta is the source's (compaction section, time range) with new
 * stats and a thanos section saying resolution `resolution` and source
 * "compactor". Its files and segment_files lists are dropped, being the
 * source's; the upload (st_bucket_upload_block) lists the new files.
 *
 * The source's index entries and chunks are read from its mappings, whose
 * pages count in the resident set once touched: they are given back every
 * RELEASE_BYTES of chunks or RELEASE_SERIES series, so memory stays that
 * of one series whatever the block's size.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "downsample_int.h"
#include "strata/bucket.h"
#include "strata/downsample.h"
#include "strata/err.h"

#define THANOS_SOURCE_COMPACTOR "compactor"
#define RELEASE_BYTES ((uint64_t)16 << 20)
#define RELEASE_SERIES 16384

typedef struct {
    const st_block_t *src;
    const char *name;
    const st_tombstones_t *tomb;
    uint32_t id;
    bool tombstoned;
    st_downsample_stats_t *stats;
    st_xor_appender_t apps[ST_AGGR_N]; /* tombstone filtering of AggrChunks */
    bool app_on[ST_AGGR_N];
    uint64_t mapped_bytes; /* chunk bytes read since the last release */
} job_t;

static int thanos_section(const st_meta_t *m, int64_t src_res, int64_t res, const char *name, char **out) {
    *out = NULL;
    st_thanos_t th;
    int rc = st_thanos_parse(&th, m->thanos_json, name);
    if (rc) return rc;
    int64_t have = th.resolution;
    st_thanos_free(&th);
    if (have != src_res)
        return st_errorf(ST_EINVAL, "block %s: meta says resolution %lld, downsampling from %lld", name,
                         (long long)have, (long long)src_res);
    json_t *root = m->thanos_json ? json_loads(m->thanos_json, 0, NULL) : json_object();
    json_t *down = json_object();
    bool ok = root && down && (m->thanos_json || json_object_set_new(root, "labels", json_object()) == 0) &&
              json_object_set_new(down, "resolution", json_integer(res)) == 0 &&
              json_object_set(root, "downsample", down) == 0 &&
              json_object_set_new(root, "source", json_string(THANOS_SOURCE_COMPACTOR)) == 0;
    if (ok) {
        json_object_del(root, "segment_files");
        json_object_del(root, "files");
        *out = json_dumps(root, JSON_COMPACT);
    }
    json_decref(down);
    json_decref(root);
    return *out ? ST_OK : st_errorf(ST_ENOMEM, "block %s: building the thanos section", name);
}

/* One raw XOR chunk into d. */
static int feed_raw(job_t *j, st_downsampler_t *d, const uint8_t *data, size_t len, uint64_t ref) {
    st_xor_iter_t it;
    int rc = st_xor_iter_init(&it, data, len);
    int64_t last = 0;
    while (rc >= 0 && (rc = st_xor_iter_next(&it)) == 1) {
        int64_t t;
        double v;
        st_xor_iter_at(&it, &t, &v);
        j->stats->samples_in++;
        if (t < last) continue;
        last = t;
        if (j->tombstoned && st_tombstones_covers(j->tomb, j->id, t)) continue;
        if ((rc = st_downsampler_add_raw(d, t, v)) == ST_EINVAL) rc = ST_ECORRUPT;
    }
    if (rc < 0)
        return st_errwrap(rc, "block %s: series %u: chunk ref 0x%llx", j->name, j->id, (unsigned long long)ref);
    return ST_OK;
}

static void apps_free(job_t *j) {
    for (int a = 0; a < ST_AGGR_N; a++) {
        if (j->app_on[a]) st_xor_appender_free(&j->apps[a]);
        j->app_on[a] = false;
    }
}

/* c without the samples the tombstones cover (sub-chunks rewritten into
 * j->apps); *empty when nothing is left. */
static int filter_aggr(job_t *j, st_store_chunk_t *c, bool *empty) {
    *empty = true;
    for (int a = ST_AGGR_COUNT; a <= ST_AGGR_COUNTER; a++) {
        if (!c->data[a]) continue;
        int rc = st_xor_appender_init(&j->apps[a]);
        if (rc) return rc;
        j->app_on[a] = true;
        st_xor_iter_t it;
        rc = st_xor_iter_init(&it, c->data[a], c->len[a]);
        while (rc >= 0 && (rc = st_xor_iter_next(&it)) == 1) {
            int64_t t;
            double v;
            st_xor_iter_at(&it, &t, &v);
            if (st_tombstones_covers(j->tomb, j->id, t)) continue;
            if ((rc = st_xor_append_repeat(&j->apps[a], t, v)) == ST_EINVAL) rc = ST_ECORRUPT;
        }
        if (rc < 0) return rc;
        c->data[a] = NULL;
        c->len[a] = 0;
        if (j->apps[a].num) {
            c->data[a] = st_xor_bytes(&j->apps[a], &c->len[a]);
            *empty = false;
        }
    }
    return ST_OK;
}

/* One chunk of a 5m block into d. */
static int feed_aggr(job_t *j, st_downsampler_t *d, st_downsampler_t *fix, const st_chunk_meta_t *cm,
                     uint8_t enc, const uint8_t *data, size_t len) {
    int rc = ST_OK;
    st_store_chunk_t c;
    memset(&c, 0, sizeof c);
    c.mint = cm->mint;
    c.maxt = cm->maxt;
    if (enc == ST_CHUNK_ENC_XOR) {
        if (st_xor_num_samples(data, len) == 0) return ST_OK;
        const st_chunk_t *out;
        size_t n;
        uint64_t ns;
        st_downsampler_reset(fix);
        if ((rc = feed_raw(j, fix, data, len, cm->ref))) return rc;
        if ((rc = st_downsampler_finish(fix, &out, &n, &ns))) goto out;
        for (size_t i = 0; i < n && rc == 0; i++) {
            c.mint = out[i].mint;
            c.maxt = out[i].maxt;
            if ((rc = st_aggr_chunk_decode(out[i].data, out[i].len, &c)) == 0) rc = st_downsampler_add_aggr(d, &c);
        }
        goto out;
    }
    if (enc != ST_CHUNK_ENC_AGGR) {
        return st_errorf(ST_ECORRUPT, "block %s: series %u: chunk ref 0x%llx: encoding %u in a downsampled block",
                         j->name, j->id, (unsigned long long)cm->ref, enc);
    }
    if ((rc = st_aggr_chunk_decode(data, len, &c))) goto out;
    j->stats->samples_in += c.data[ST_AGGR_COUNT] ? (uint64_t)st_xor_num_samples(c.data[ST_AGGR_COUNT], c.len[ST_AGGR_COUNT]) : 0;
    if (j->tombstoned) {
        bool empty;
        if ((rc = filter_aggr(j, &c, &empty)) || empty) goto out;
    }
    rc = st_downsampler_add_aggr(d, &c);
out:
    apps_free(j);
    if (rc == ST_EINVAL) rc = ST_ECORRUPT; /* overlapping chunks, bad boundary samples */
    if (rc) return st_errwrap(rc, "block %s: series %u: chunk ref 0x%llx", j->name, j->id, (unsigned long long)cm->ref);
    return ST_OK;
}

static int one_series(job_t *j, st_block_writer_t *w, st_downsampler_t *d, st_downsampler_t *fix, int64_t src_res) {
    st_labels_t lbls = {0};
    st_chunk_meta_t *cms = NULL;
    size_t ncm = 0;
    int rc = st_index_series(st_block_index(j->src), j->id, &lbls, &cms, &ncm);
    if (rc) {
        rc = st_errwrap(rc, "block %s", j->name);
        goto out;
    }
    j->stats->series_in++;
    j->stats->chunks_in += ncm;
    j->tombstoned = st_tombstones_has(j->tomb, j->id);
    st_downsampler_reset(d);
    for (size_t i = 0; i < ncm; i++) {
        if (i > 0 && cms[i - 1].maxt >= cms[i].mint) {
            rc = st_errorf(ST_ECORRUPT, "block %s: series %u: overlapping chunks [%lld, %lld] and [%lld, %lld]", j->name,
                           j->id, (long long)cms[i - 1].mint, (long long)cms[i - 1].maxt, (long long)cms[i].mint,
                           (long long)cms[i].maxt);
            goto out;
        }
        uint8_t enc;
        const uint8_t *data;
        size_t len;
        if ((rc = st_chunk_reader_get(st_block_chunks(j->src), cms[i].ref, &enc, &data, &len))) {
            rc = st_errwrap(rc, "block %s: series %u", j->name, j->id);
            goto out;
        }
        j->mapped_bytes += len;
        if (src_res == ST_RES_RAW) {
            if (enc != ST_CHUNK_ENC_XOR) {
                rc = st_errorf(ST_ECORRUPT, "block %s: series %u: chunk ref 0x%llx: encoding %u, want XOR in a raw block",
                               j->name, j->id, (unsigned long long)cms[i].ref, enc);
                goto out;
            }
            rc = feed_raw(j, d, data, len, cms[i].ref);
        } else {
            rc = feed_aggr(j, d, fix, &cms[i], enc, data, len);
        }
        if (rc) goto out;
    }
    const st_chunk_t *chunks;
    size_t n;
    uint64_t ns;
    if ((rc = st_downsampler_finish(d, &chunks, &n, &ns))) {
        rc = st_errwrap(rc == ST_EINVAL ? ST_ECORRUPT : rc, "block %s: series %u", j->name, j->id);
        goto out;
    }
    if (!n) goto out;
    if ((rc = st_block_writer_add_series(w, &lbls, chunks, n, ns))) goto out;
    j->stats->series_out++;
    j->stats->chunks_out += n;
    j->stats->samples_out += ns;
out:
    st_labels_free(&lbls);
    free(cms);
    return rc;
}

static void release_pages(const st_block_t *b) {
    st_index_reader_release_pages(st_block_index(b));
    st_chunk_reader_release_pages(st_block_chunks(b));
}

int st_downsample_block(const st_block_t *src, int64_t src_res, int64_t resolution, const char *parent_dir,
                        char **out_dir, st_downsample_stats_t *stats) {
    *out_dir = NULL;
    st_downsample_stats_t own;
    if (!stats) stats = &own;
    memset(stats, 0, sizeof *stats);
    const st_meta_t *meta = st_block_meta(src);
    job_t j = {.src = src, .name = st_block_dir(src), .tomb = st_block_tombstones(src), .stats = stats};
    if (!((src_res == ST_RES_RAW && (resolution == ST_RES_5M || resolution == ST_RES_1H)) ||
          (src_res == ST_RES_5M && resolution == ST_RES_1H)))
        return st_errorf(ST_EINVAL, "block %s: cannot downsample from resolution %lld to %lld", j.name,
                         (long long)src_res, (long long)resolution);
    char *thanos = NULL;
    st_block_writer_t *w = NULL;
    st_downsampler_t *d = NULL, *fix = NULL;
    st_postings_t all = {0};
    const st_index_reader_t *ix = st_block_index(src);
    int rc;
    if ((rc = thanos_section(meta, src_res, resolution, j.name, &thanos)) ||
        (rc = st_downsampler_new(&d, resolution)) || (rc = st_downsampler_new(&fix, ST_RES_5M)) ||
        (rc = st_index_postings(ix, "", "", &all)) || (rc = st_block_writer_open(&w, parent_dir, NULL)))
        goto out;
    size_t nsym = st_index_symbol_count(ix);
    for (size_t i = 0; i < nsym; i++) {
        const char *s;
        size_t len;
        if ((rc = st_index_symbol(ix, (uint32_t)i, &s, &len)) || (rc = st_block_writer_add_symbol(w, s, len))) {
            rc = st_errwrap(rc, "block %s: symbol %zu", j.name, i);
            goto out;
        }
    }
    for (size_t i = 0; i < all.n; i++) {
        if (i % RELEASE_SERIES == 0 || j.mapped_bytes >= RELEASE_BYTES) { /* i = 0: after the symbols */
            release_pages(src);
            j.mapped_bytes = 0;
        }
        j.id = all.ids[i];
        if ((rc = one_series(&j, w, d, fix, src_res))) goto out;
    }
    release_pages(src);
    st_meta_t m = *meta; /* borrowed members; commit does not free them */
    m.thanos_json = thanos;
    rc = st_block_writer_commit(w, &m, out_dir);
    w = NULL;
out:
    apps_free(&j);
    st_block_writer_free(w);
    st_downsampler_free(d);
    st_downsampler_free(fix);
    st_postings_free(&all);
    free(thanos);
    return rc;
}
