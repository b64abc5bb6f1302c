/*
 * Block health checks for `tools bucket verify` (and the compactor): the
 * index against its meta, the bucket's objects against the thanos files
 * list. Each problem is counted; the first is described.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bucket_int.h"
#include "strata/buf.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/index.h"
#include "strata/textfmt.h"

/* st_index_check gives the index mapping's pages back this often, so
 * checking a large index does not keep every page it read resident. */
#define CHECK_RELEASE_SERIES 16384

static void problem(st_index_check_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(st_index_check_t *c, const char *fmt, ...) {
    if (c->problems++) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->first_problem, sizeof c->first_problem, fmt, ap);
    va_end(ap);
}

/* {a="b"} of a series, for messages (truncated to fit). */
static void fmt_labels(const st_labels_t *l, char *out, size_t cap) {
    st_encbuf_t b;
    st_encbuf_init(&b, 4096);
    st_put_labels_go(&b, l);
    snprintf(out, cap, "%.*s", (int)(b.err ? 0 : b.len), b.p ? (const char *)b.p : "");
    st_encbuf_free(&b);
}

static void check_series(st_index_check_t *c, const st_meta_t *m, const uint64_t *seg_sizes, size_t nseg,
                         const st_labels_t *prev, const st_labels_t *l, const st_chunk_meta_t *ch, size_t nch) {
    char ls[200];
    fmt_labels(l, ls, sizeof ls);
    if (prev && st_labels_cmp(prev, l) >= 0) problem(c, "series %s is not after the previous series in label order", ls);
    for (size_t i = 1; i < l->n; i++)
        if (st_bytes_cmp(l->v[i - 1].name, l->v[i - 1].name_len, l->v[i].name, l->v[i].name_len) >= 0)
            problem(c, "series %s: label names not sorted or repeated", ls);
    if (!nch) problem(c, "series %s has no chunks", ls);
    for (size_t i = 0; i < nch; i++) {
        if (ch[i].mint > ch[i].maxt)
            problem(c, "series %s: chunk %zu has minTime %lld > maxTime %lld", ls, i, (long long)ch[i].mint,
                    (long long)ch[i].maxt);
        if (i && ch[i].mint <= ch[i - 1].maxt)
            problem(c, "series %s: chunk %zu [%lld, %lld] overlaps or precedes chunk %zu [%lld, %lld]", ls, i,
                    (long long)ch[i].mint, (long long)ch[i].maxt, i - 1, (long long)ch[i - 1].mint,
                    (long long)ch[i - 1].maxt);
        /* maxTime is exclusive, but Thanos tolerates a chunk ending on it */
        if (ch[i].mint < m->min_time || ch[i].maxt > m->max_time)
            problem(c, "series %s: chunk %zu [%lld, %lld] outside the block range [%lld, %lld)", ls, i,
                    (long long)ch[i].mint, (long long)ch[i].maxt, (long long)m->min_time, (long long)m->max_time);
        uint64_t seg = ch[i].ref >> 32, off = ch[i].ref & 0xffffffffu;
        if (nseg && (seg >= nseg || off >= seg_sizes[seg]))
            problem(c, "series %s: chunk %zu ref (segment %llu, offset %llu) is outside the segment files", ls, i,
                    (unsigned long long)seg + 1, (unsigned long long)off);
    }
}

int st_index_check(const char *index_path, const st_meta_t *meta, const uint64_t *seg_sizes, size_t nseg,
                   st_index_check_t *out) {
    memset(out, 0, sizeof *out);
    st_index_reader_t *r = NULL;
    st_postings_t all = {0};
    st_labels_t prev = {0}, cur = {0};
    st_chunk_meta_t *ch = NULL;
    size_t nch = 0;
    int rc = st_index_reader_open(&r, index_path);
    if (rc || (rc = st_index_postings(r, "", "", &all))) goto out;
    for (size_t i = 0; i < all.n; i++) {
        if ((rc = st_index_series(r, all.ids[i], &cur, &ch, &nch))) goto out;
        check_series(out, meta, seg_sizes, nseg, i ? &prev : NULL, &cur, ch, nch);
        out->series++;
        out->chunks += nch;
        if (out->series % CHECK_RELEASE_SERIES == 0) st_index_reader_release_pages(r);
        free(ch);
        ch = NULL;
        st_labels_free(&prev);
        prev = cur;
        memset(&cur, 0, sizeof cur);
    }
    if (out->series != meta->num_series)
        problem(out, "index has %llu series, meta.json says %llu", (unsigned long long)out->series,
                (unsigned long long)meta->num_series);
    if (out->chunks != meta->num_chunks)
        problem(out, "index has %llu chunks, meta.json says %llu", (unsigned long long)out->chunks,
                (unsigned long long)meta->num_chunks);
out:
    free(ch);
    st_labels_free(&cur);
    st_labels_free(&prev);
    st_postings_free(&all);
    st_index_reader_free(r);
    return rc;
}

int st_bucket_check_block(st_objstore_t *s, const st_bucket_block_t *b, const char *tmp_dir, st_index_check_t *out) {
    memset(out, 0, sizeof *out);
    char idtext[ST_ULID_TEXT_LEN + 1];
    st_ulid_format(&b->id, idtext);
    if (b->partial || b->meta_rc) return st_errorf(ST_EINVAL, "check block %s: no readable meta.json", idtext);
    st_index_check_t files = {0};
    uint64_t *segs = calloc(b->thanos.nfiles + 1, sizeof *segs);
    size_t nseg = 0;
    char *obj = NULL, *path = NULL;
    int rc = ST_OK;
    if (!segs) {
        rc = st_errorf(ST_ENOMEM, "check block %s", idtext);
        goto out;
    }
    for (size_t i = 0; i < b->thanos.nfiles; i++) {
        const st_thanos_file_t *f = &b->thanos.files[i];
        if (strcmp(f->rel_path, ST_META_FILENAME) == 0) continue;
        free(obj);
        if (!(obj = bucket_obj_name(&b->id, f->rel_path))) {
            rc = st_errorf(ST_ENOMEM, "check block %s", idtext);
            goto out;
        }
        st_obj_attrs_t a;
        rc = st_objstore_attributes(s, obj, &a);
        if (rc == ST_ENOTFOUND) {
            problem(&files, "%s is listed in meta.json but missing from the bucket", f->rel_path);
            rc = ST_OK;
            continue;
        }
        if (rc) goto out;
        if (f->size && a.size != f->size)
            problem(&files, "%s has %llu bytes in the bucket, meta.json says %llu", f->rel_path,
                    (unsigned long long)a.size, (unsigned long long)f->size);
        if (strncmp(f->rel_path, "chunks/", 7) == 0) segs[nseg++] = a.size;
    }
    free(obj);
    char local[ST_ULID_TEXT_LEN + 16];
    snprintf(local, sizeof local, "%s-index", idtext);
    if (!(obj = bucket_obj_name(&b->id, "index")) || !(path = st_path_join(tmp_dir, local))) {
        rc = st_errorf(ST_ENOMEM, "check block %s", idtext);
        goto out;
    }
    if ((rc = st_mkdir_p(tmp_dir, 0755))) goto out;
    rc = st_objstore_download_file(s, obj, path);
    if (rc == ST_ENOTFOUND) {
        problem(out, "index missing from the bucket");
        rc = ST_OK;
    } else if (!rc) {
        rc = st_index_check(path, &b->meta, segs, nseg, out);
        if (rc) st_errwrap(rc, "block %s", idtext);
    }
    st_rm_rf(path);
    if (files.problems && !out->problems) memcpy(out->first_problem, files.first_problem, sizeof out->first_problem);
    out->problems += files.problems;
out:
    free(segs);
    free(obj);
    free(path);
    return rc;
}
