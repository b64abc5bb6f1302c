/*
 * Streaming block writer. Build protocol (crash-safe):
 *   1. mkdir <parent>/<ULID>.tmp-for-creation (a leftover one is removed)
 *   2. chunks/ segments are appended while series arrive, index alongside
 *   3. commit: index close (fsync), tombstones, meta.json (each durable)
 *   4. fsync the tmp dir, rename it to <parent>/<ULID>, fsync <parent>
 * Readers (ours and Prometheus's) ignore *.tmp-for-creation, so a crash at any
 * step leaves no half block under a ULID name.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strata/block.h"
#include "strata/err.h"
#include "strata/fileutil.h"

struct st_block_writer {
    st_ulid_t ulid;
    char *parent;
    char *tmpdir;
    st_chunk_writer_t *chunks;
    st_index_writer_t *index;
    int64_t mint, maxt;
    bool range_set;
    uint64_t num_series, num_chunks, num_samples;
};

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int st_block_writer_open(st_block_writer_t **out, const char *parent_dir, const st_ulid_t *id) {
    *out = NULL;
    int rc;
    char name[ST_ULID_TEXT_LEN + sizeof ST_BLOCK_TMP_SUFFIX];
    char *chunkdir = NULL, *indexpath = NULL;
    st_block_writer_t *w = calloc(1, sizeof *w);
    if (!w) return st_errorf(ST_ENOMEM, "block writer: allocation failed");
    if (id) w->ulid = *id;
    else if ((rc = st_ulid_new(&w->ulid, now_ms()))) goto out;
    st_ulid_format(&w->ulid, name);
    memcpy(name + ST_ULID_TEXT_LEN, ST_BLOCK_TMP_SUFFIX, sizeof ST_BLOCK_TMP_SUFFIX);
    w->parent = strdup(parent_dir);
    w->tmpdir = st_path_join(parent_dir, name);
    if (!w->parent || !w->tmpdir) {
        rc = st_errorf(ST_ENOMEM, "block writer: allocation failed");
        goto out;
    }
    if ((rc = st_rm_rf(w->tmpdir)) || (rc = st_mkdir_p(w->tmpdir, 0777))) goto out;
    chunkdir = st_path_join(w->tmpdir, "chunks");
    indexpath = st_path_join(w->tmpdir, "index");
    if (!chunkdir || !indexpath) {
        rc = st_errorf(ST_ENOMEM, "block writer: allocation failed");
        goto out;
    }
    if ((rc = st_chunk_writer_open(&w->chunks, chunkdir, 0))) goto out;
    if ((rc = st_index_writer_open(&w->index, indexpath))) goto out;
    *out = w;
    w = NULL;
out:
    free(chunkdir);
    free(indexpath);
    st_block_writer_free(w);
    return rc;
}

const st_ulid_t *st_block_writer_ulid(const st_block_writer_t *w) { return &w->ulid; }

void st_block_writer_set_range(st_block_writer_t *w, int64_t mint, int64_t maxt) {
    w->mint = mint;
    w->maxt = maxt;
    w->range_set = true;
}

int st_block_writer_add_symbol(st_block_writer_t *w, const char *s, size_t len) {
    return st_index_writer_add_symbol(w->index, s, len);
}

int st_block_writer_add_series(st_block_writer_t *w, const st_labels_t *lbls, const st_chunk_t *chunks,
                               size_t nchunks, uint64_t nsamples) {
    return st_block_writer_add_series_crc(w, lbls, chunks, NULL, nchunks, nsamples);
}

int st_block_writer_add_series_crc(st_block_writer_t *w, const st_labels_t *lbls, const st_chunk_t *chunks,
                                   const int64_t *crcs, size_t nchunks, uint64_t nsamples) {
    if (nchunks == 0) return st_errorf(ST_EINVAL, "block writer: series without chunks");
    st_chunk_meta_t stackmetas[16];
    st_chunk_meta_t *metas = nchunks <= 16 ? stackmetas : malloc(nchunks * sizeof *metas);
    if (!metas) return st_errorf(ST_ENOMEM, "block writer: allocating %zu chunk metas", nchunks);
    int rc = ST_OK;
    for (size_t i = 0; i < nchunks; i++) {
        metas[i].mint = chunks[i].mint;
        metas[i].maxt = chunks[i].maxt;
        const st_chunk_t *c = &chunks[i];
        if (crcs && crcs[i] != ST_CHUNK_CRC_UNKNOWN)
            rc = st_chunk_writer_write_crc(w->chunks, c->encoding, c->data, c->len, (uint32_t)crcs[i], &metas[i].ref);
        else
            rc = st_chunk_writer_write(w->chunks, c->encoding, c->data, c->len, &metas[i].ref);
        if (rc) goto out;
    }
    if ((rc = st_index_writer_add_series(w->index, lbls, metas, nchunks, NULL))) goto out;
    w->num_series++;
    w->num_chunks += nchunks;
    w->num_samples += nsamples;
out:
    if (metas != stackmetas) free(metas);
    return rc;
}

int st_block_writer_commit(st_block_writer_t *w, const st_meta_t *meta, char **out_dir) {
    int rc;
    char name[ST_ULID_TEXT_LEN + 1];
    char *final = NULL;
    st_meta_t m;
    st_tombstones_t none = {0};
    if (out_dir) *out_dir = NULL;
    if (meta) {
        m = *meta;
    } else {
        memset(&m, 0, sizeof m);
        if (!w->range_set) {
            rc = st_errorf(ST_EINVAL, "block writer: commit without a time range");
            goto out;
        }
        m.min_time = w->mint;
        m.max_time = w->maxt;
        m.level = 1;
        m.sources = &w->ulid;
        m.nsources = 1;
    }
    m.ulid = w->ulid;
    m.num_series = w->num_series;
    m.num_chunks = w->num_chunks;
    m.num_samples = w->num_samples;
    m.num_tombstones = 0;

    rc = st_chunk_writer_close(w->chunks);
    st_chunk_writer_free(w->chunks);
    w->chunks = NULL;
    if (rc) goto out;
    rc = st_index_writer_close(w->index);
    st_index_writer_free(w->index);
    w->index = NULL;
    if (rc) goto out;
    if ((rc = st_tombstones_write(&none, w->tmpdir))) goto out;
    if ((rc = st_meta_write(&m, w->tmpdir))) goto out;
    if ((rc = st_fsync_path(w->tmpdir))) goto out;
    st_ulid_format(&w->ulid, name);
    if (!(final = st_path_join(w->parent, name))) {
        rc = st_errorf(ST_ENOMEM, "block writer: allocation failed");
        goto out;
    }
    if ((rc = st_rename_durable(w->tmpdir, final))) goto out;
    if (out_dir) {
        *out_dir = final;
        final = NULL;
    }
out:
    free(final);
    st_block_writer_free(w);
    return rc;
}

void st_block_writer_free(st_block_writer_t *w) {
    if (!w) return;
    st_chunk_writer_free(w->chunks);
    st_index_writer_free(w->index);
    if (w->tmpdir) st_rm_rf(w->tmpdir); /* gone already after a successful rename */
    free(w->tmpdir);
    free(w->parent);
    free(w);
}
