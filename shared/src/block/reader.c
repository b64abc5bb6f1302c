/*
 * Block reader: opens meta.json, chunks/, index and tombstones of one block
 * directory, and turns label matchers into series IDs.
 *
 * Matcher semantics follow Prometheus: a series lacking a label has the
 * empty value for it. A matcher that does not match "" selects the union of
 * the postings of the values it matches (intersected across matchers); one
 * that matches "" removes the postings of the values it rejects. With no
 * selecting matcher the start set is the all-postings list.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "strata/block.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/postings.h"

struct st_block {
    char *dir;
    st_meta_t meta;
    st_index_reader_t *index;
    st_chunk_reader_t *chunks;
    st_tombstones_t tombstones;
    uint64_t size;
};

static const char *base_name(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    const char *end = path + n;
    const char *p = end;
    while (p > path && p[-1] != '/') p--;
    return p;
}

int st_block_open(st_block_t **out, const char *dir) {
    *out = NULL;
    int rc;
    char *path = NULL;
    struct stat sb;
    st_block_t *b = calloc(1, sizeof *b);
    if (!b || !(b->dir = strdup(dir))) {
        free(b);
        return st_errorf(ST_ENOMEM, "block %s: allocation failed", dir);
    }
    if ((rc = st_meta_read(&b->meta, dir))) goto out;
    {
        st_ulid_t dirid;
        char want[ST_ULID_TEXT_LEN + 1];
        const char *name = base_name(dir);
        if (strlen(name) >= ST_ULID_TEXT_LEN && st_ulid_parse(&dirid, name) == 0 &&
            st_ulid_cmp(&dirid, &b->meta.ulid) != 0) {
            st_ulid_format(&b->meta.ulid, want);
            rc = st_errorf(ST_ECORRUPT, "block %s: meta.json ulid %s does not match the directory name", dir, want);
            goto out;
        }
    }
    if (!(path = st_path_join(dir, "chunks"))) goto nomem;
    if ((rc = st_chunk_reader_open(&b->chunks, path))) goto out;
    free(path);
    if (!(path = st_path_join(dir, "index"))) goto nomem;
    if ((rc = st_index_reader_open(&b->index, path))) goto out;
    if ((rc = st_tombstones_read(&b->tombstones, dir))) goto out;
    b->size = st_index_reader_size(b->index) + st_chunk_reader_size(b->chunks);
    free(path);
    if (!(path = st_path_join(dir, ST_META_FILENAME))) goto nomem;
    if (stat(path, &sb) == 0) b->size += (uint64_t)sb.st_size;
    free(path);
    if (!(path = st_path_join(dir, ST_TOMBSTONES_FILENAME))) goto nomem;
    if (stat(path, &sb) == 0) b->size += (uint64_t)sb.st_size;
    *out = b;
    b = NULL;
    rc = ST_OK;
    goto out;
nomem:
    rc = st_errorf(ST_ENOMEM, "block %s: allocation failed", dir);
out:
    free(path);
    st_block_close(b);
    return rc;
}

void st_block_close(st_block_t *b) {
    if (!b) return;
    st_index_reader_free(b->index);
    st_chunk_reader_free(b->chunks);
    st_tombstones_free(&b->tombstones);
    st_meta_free(&b->meta);
    free(b->dir);
    free(b);
}

const st_meta_t *st_block_meta(const st_block_t *b) { return &b->meta; }
const st_index_reader_t *st_block_index(const st_block_t *b) { return b->index; }
const st_chunk_reader_t *st_block_chunks(const st_block_t *b) { return b->chunks; }
const st_tombstones_t *st_block_tombstones(const st_block_t *b) { return &b->tombstones; }
const char *st_block_dir(const st_block_t *b) { return b->dir; }
uint64_t st_block_size(const st_block_t *b) { return b->size; }

static int u32_cmp(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x, c = *(const uint32_t *)y;
    return a < c ? -1 : a > c;
}

/* Union of the postings of every value of m's label for which the matcher's
 * verdict equals `want`. */
static int postings_for_values(const st_index_reader_t *ix, const st_matcher_t *m, bool want,
                               st_postings_t *out) {
    const char *name = st_matcher_name(m);
    out->ids = NULL;
    out->n = 0;
    if (st_matcher_type(m) == ST_MATCH_EQ && want) return st_index_postings(ix, name, st_matcher_value(m), out);
    const char **vals = NULL;
    size_t nvals = 0, cap = 0;
    int rc = st_index_label_values(ix, name, &vals, &nvals);
    if (rc) return rc;
    for (size_t i = 0; i < nvals; i++) {
        if (st_matcher_matches(m, vals[i], strlen(vals[i])) != want) continue;
        st_postings_t p;
        if ((rc = st_index_postings(ix, name, vals[i], &p))) goto out;
        if (out->n + p.n > cap) {
            size_t ncap = cap ? cap : 64;
            while (ncap < out->n + p.n) ncap *= 2;
            uint32_t *nids = realloc(out->ids, ncap * sizeof *nids);
            if (!nids) {
                st_postings_free(&p);
                rc = st_errorf(ST_ENOMEM, "postings: allocating %zu ids", ncap);
                goto out;
            }
            out->ids = nids;
            cap = ncap;
        }
        if (p.n) memcpy(out->ids + out->n, p.ids, p.n * sizeof *p.ids);
        out->n += p.n;
        st_postings_free(&p);
    }
    /* one series has one value per name, so the lists are disjoint: sort suffices */
    if (out->n) qsort(out->ids, out->n, sizeof *out->ids, u32_cmp);
out:
    free(vals);
    if (rc) st_postings_free(out);
    return rc;
}

int st_block_postings(const st_block_t *b, const st_matchers_t *ms, st_postings_t *out) {
    st_postings_t acc = {0}, neg = {0}, p = {0}, tmp = {0};
    bool have = false;
    int rc = ST_OK;
    out->ids = NULL;
    out->n = 0;
    for (size_t i = 0; i < ms->n; i++) {
        const st_matcher_t *m = ms->v[i];
        bool selecting = !st_matcher_matches_empty(m);
        if ((rc = postings_for_values(b->index, m, selecting, &p))) goto out;
        if (selecting) {
            if (have) {
                if ((rc = st_postings_intersect(&tmp, &acc, &p))) goto out;
                st_postings_free(&acc);
                st_postings_free(&p);
                acc = tmp;
                tmp = (st_postings_t){0};
            } else {
                acc = p;
                p = (st_postings_t){0};
                have = true;
            }
            if (acc.n == 0) goto done;
        } else {
            if ((rc = st_postings_union(&tmp, &neg, &p))) goto out;
            st_postings_free(&neg);
            st_postings_free(&p);
            neg = tmp;
            tmp = (st_postings_t){0};
        }
    }
    if (!have && (rc = st_index_postings(b->index, "", "", &acc))) goto out;
done:
    rc = st_postings_subtract(out, &acc, &neg);
out:
    st_postings_free(&acc);
    st_postings_free(&neg);
    st_postings_free(&p);
    st_postings_free(&tmp);
    if (rc) st_errwrap(rc, "block %s", b->dir);
    return rc;
}

static int block_cmp(const void *x, const void *y) {
    const st_block_t *a = *(st_block_t *const *)x, *c = *(st_block_t *const *)y;
    if (a->meta.min_time != c->meta.min_time) return a->meta.min_time < c->meta.min_time ? -1 : 1;
    return st_ulid_cmp(&a->meta.ulid, &c->meta.ulid);
}

int st_blocks_open_dir(const char *data_dir, st_block_t ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    DIR *d = opendir(data_dir);
    if (!d) return st_errorf(ST_EIO, "open data directory %s: %s", data_dir, strerror(errno));
    st_block_t **blocks = NULL;
    size_t nb = 0, cap = 0;
    int rc = ST_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        st_ulid_t id;
        if (strlen(e->d_name) != ST_ULID_TEXT_LEN || st_ulid_parse(&id, e->d_name) != 0) continue;
        char *path = st_path_join(data_dir, e->d_name);
        if (!path) {
            rc = st_errorf(ST_ENOMEM, "allocation failed");
            goto out;
        }
        struct stat sb;
        if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            free(path);
            continue;
        }
        if (nb == cap) {
            cap = cap ? cap * 2 : 16;
            st_block_t **nbl = realloc(blocks, cap * sizeof *nbl);
            if (!nbl) {
                free(path);
                rc = st_errorf(ST_ENOMEM, "allocation failed");
                goto out;
            }
            blocks = nbl;
        }
        rc = st_block_open(&blocks[nb], path);
        free(path);
        if (rc) goto out;
        nb++;
    }
    if (nb) qsort(blocks, nb, sizeof *blocks, block_cmp);
    *out = blocks;
    *n = nb;
    blocks = NULL;
    nb = 0;
out:
    closedir(d);
    st_blocks_close(blocks, nb);
    return rc;
}

void st_blocks_close(st_block_t **blocks, size_t n) {
    if (!blocks) return;
    for (size_t i = 0; i < n; i++) st_block_close(blocks[i]);
    free(blocks);
}
