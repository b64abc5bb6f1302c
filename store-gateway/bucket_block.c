/*
 * One bucket block as the store gateway reads it: the index-header on
 * local disk (mmapped) and everything else by ranged reads of the block's
 * objects, never a whole index or chunk file.
 *
 * What is read, and where its byte range comes from:
 *   postings list   <ULID>/index [off, off+len) from the index-header's
 *                   postings offset table: be32 len | be32 n | n x be32 | crc
 *   series entry    <ULID>/index at 16 x series ID: uvarint len | body | crc,
 *                   inside the series section [TOC series, TOC label
 *                   indices). Its size is known only once the prefix is
 *                   read, but series IDs are offsets / 16 and a postings
 *                   list is sorted, so an entry ends before the next wanted
 *                   series starts: the read goes up to that ID when it is
 *                   at most 64 KiB on; otherwise (and for the last one) it
 *                   takes a guess (4 x the block's mean entry, at least
 *                   1 KiB, at most 64 KiB) cut at the end of the section;
 *                   an entry the length prefix shows larger is read again
 *   chunk           <ULID>/chunks/NNNNNN at the ref's offset (segment =
 *                   ref >> 32 indexes the sorted segment files): uvarint len
 *                   | encoding (1 XOR, 0xff AggrChunk of a downsampled
 *                   block: downsample.h) | data | crc; read up to the next wanted
 *                   chunk when within 16000 bytes, else with a guess (4 x
 *                   the block's mean chunk, at least 2 KiB, at most 16000
 *                   bytes) cut at the segment's end; read again when larger
 * Ranges are sorted and merged into GETs by store_partition(). Postings
 * lists and series entries are cached (exact bytes) under
 * 'P'|ULID|offset|length and 'S'|ULID|series ID.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "strata/buf.h"
#include "strata/chunks.h"
#include "strata/crc32c.h"
#include "strata/downsample.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/log.h"
#include "strata/postings.h"

#define CHUNK_MAX ((uint64_t)64 << 20) /* no real chunk is near this; a larger length is corruption */
#define CHUNK_ENC_XOR 1
#define IH_FILE "index-header"
/* The tail of an index-header (indexheader.h): the index's TOC, verbatim
 * (be64 symbols | series | label indices | label offset table | postings |
 * postings offset table | crc), then the header's own 20-byte TOC. */
#define INDEX_TOC_LEN 52
#define IH_TOC_LEN 20
#define INDEX_HEADER_LEN 5 /* magic | version: no series starts before */
#define SEGMENT_HEADER_LEN 8
#define GUESS_MEAN_FACTOR 4
#define SERIES_GUESS_MIN 1024
#define CHUNK_GUESS_MIN 2048 /* above a 120-sample XOR chunk of random floats (~1 KiB) */

/* ---- loading ---- */

typedef struct {
    store_t *st;
    const char *name;
} ih_read_ctx_t;

static int ih_read(void *ctx, uint64_t off, uint64_t len, uint8_t **out, size_t *outlen) {
    ih_read_ctx_t *c = ctx;
    int rc = st_objstore_get_range(c->st->bkt, c->name, off, len, out, outlen);
    if (rc) return rc;
    atomic_fetch_add(&c->st->m.fetched_index_header, *outlen);
    atomic_fetch_add(&c->st->m.gets, 1);
    return ST_OK;
}

static uint64_t seg_number(const char *name) {
    const char *base = strrchr(name, '/');
    return strtoull(base ? base + 1 : name, NULL, 10);
}

static int seg_cmp(const void *x, const void *y) {
    uint64_t a = seg_number(((const store_segment_t *)x)->name), b = seg_number(((const store_segment_t *)y)->name);
    return a < b ? -1 : a > b;
}

static bool is_segment_name(const char *base) {
    if (!*base || strlen(base) > 19) return false;
    for (const char *c = base; *c; c++)
        if (*c < '0' || *c > '9') return false;
    return true;
}

static int add_segment(store_block_t *b, const char *name, uint64_t size) {
    store_segment_t *v = realloc(b->segs, (b->nsegs + 1) * sizeof *v);
    if (!v) return st_errorf(ST_ENOMEM, "block %s: allocating segment list", b->ulid);
    b->segs = v;
    if (!(v[b->nsegs].name = strdup(name))) return st_errorf(ST_ENOMEM, "block %s: allocating segment list", b->ulid);
    v[b->nsegs++].size = size;
    return ST_OK;
}

static int seg_iter(void *ctx, const char *name) {
    store_block_t *b = ctx;
    const char *base = strrchr(name, '/');
    if (!base || !is_segment_name(base + 1)) return 0;
    return add_segment(b, name, 0);
}

/* Segment files from the thanos section's file list (with sizes), or by
 * listing <ULID>/chunks/ for blocks uploaded without one. */
static int find_segments(store_block_t *b, const st_bucket_block_t *lb) {
    char name[256];
    int rc = ST_OK;
    for (size_t i = 0; i < lb->thanos.nfiles && !rc; i++) {
        const st_thanos_file_t *f = &lb->thanos.files[i];
        if (strncmp(f->rel_path, "chunks/", 7) != 0 || !is_segment_name(f->rel_path + 7)) continue;
        snprintf(name, sizeof name, "%s/%s", b->ulid, f->rel_path);
        rc = add_segment(b, name, f->size);
    }
    if (!rc && !b->nsegs) {
        snprintf(name, sizeof name, "%s/chunks/", b->ulid);
        rc = st_objstore_iter(b->store->bkt, name, false, seg_iter, b);
        if (rc) st_errwrap(rc, "block %s: listing chunk segments", b->ulid);
    }
    if (!rc && b->nsegs > 1) qsort(b->segs, b->nsegs, sizeof *b->segs, seg_cmp);
    return rc;
}

/* The series section of b's index, from the index TOC in the index-header
 * file. It ends where the first later section present starts (label
 * indices in every Prometheus index; a writer leaving sections out has
 * them at offset 0). */
static int read_series_section(store_block_t *b, const char *ih_path) {
    uint8_t t[INDEX_TOC_LEN];
    uint64_t size = st_indexheader_file_size(b->ih);
    size_t got = 0;
    if (size < INDEX_TOC_LEN + IH_TOC_LEN)
        return st_errorf(ST_ECORRUPT, "index-header %s: %llu bytes hold no index TOC", ih_path,
                         (unsigned long long)size);
    int fd = open(ih_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return st_errorf(ST_EIO, "index-header %s: open: %s", ih_path, strerror(errno));
    int rc = st_pread_all(fd, t, sizeof t, size - IH_TOC_LEN - INDEX_TOC_LEN, &got);
    close(fd);
    if (rc) return st_errwrap(rc, "index-header %s: reading the index TOC", ih_path);
    if (got != sizeof t) return st_errorf(ST_ECORRUPT, "index-header %s: index TOC: short read", ih_path);
    if (st_be32(t + 48) != st_crc32c(0, t, 48))
        return st_errorf(ST_ECORRUPT, "index-header %s: index TOC: CRC mismatch", ih_path);
    uint64_t start = st_be64(t + 8), end = b->index_size;
    for (int i = 2; i < 6; i++) {
        uint64_t o = st_be64(t + 8 * i);
        if (o > start && o < end) end = o;
    }
    if (start < INDEX_HEADER_LEN || start >= end)
        return st_errorf(ST_ECORRUPT, "index %s: TOC: series section at %llu ends at %llu (index of %llu bytes)",
                         b->index_name, (unsigned long long)start, (unsigned long long)end,
                         (unsigned long long)b->index_size);
    b->series_start = start;
    b->series_end = end;
    return ST_OK;
}

/* Mean entry sizes from meta.json's stats (untrusted: a wrong count only
 * changes how much a first read takes). */
static void set_means(store_block_t *b, const st_bucket_block_t *lb) {
    if (lb->meta.num_series) b->series_mean = (b->series_end - b->series_start) / lb->meta.num_series;
    uint64_t bytes = 0;
    for (size_t i = 0; i < b->nsegs; i++) {
        if (b->segs[i].size <= SEGMENT_HEADER_LEN) return; /* sizes unknown (listed, not in meta.json) */
        bytes += b->segs[i].size - SEGMENT_HEADER_LEN;
    }
    if (lb->meta.num_chunks) b->chunk_mean = bytes / lb->meta.num_chunks;
}

/* How much a first read of an entry with nothing after it takes: entries
 * of a block are alike, so a few times the mean holds nearly all of them,
 * and one that does not costs a second GET instead of every query
 * over-reading by tens of KiB. */
static uint64_t first_read(uint64_t mean, uint64_t min, uint64_t estimate) {
    if (!mean || mean > estimate / GUESS_MEAN_FACTOR) return estimate;
    uint64_t g = mean * GUESS_MEAN_FACTOR;
    if (g < min) g = min;
    return g < estimate ? g : estimate;
}

static void block_free(store_block_t *b) {
    if (!b) return;
    st_indexheader_free(b->ih);
    st_labels_free(&b->ext);
    free(b->index_name);
    for (size_t i = 0; i < b->nsegs; i++) free(b->segs[i].name);
    free(b->segs);
    free(b->dir);
    free(b);
}

void store_block_ref(store_block_t *b) { atomic_fetch_add(&b->refs, 1); }

void store_block_unref(store_block_t *b) {
    if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
        if (b->ih) {
            atomic_fetch_sub(&b->store->ih_file_bytes, st_indexheader_file_size(b->ih));
            atomic_fetch_sub(&b->store->ih_mem_bytes, st_indexheader_mem_size(b->ih));
        }
        block_free(b);
    }
}

int store_block_load(store_t *st, const st_bucket_block_t *lb, store_block_t **out) {
    *out = NULL;
    store_block_t *b = calloc(1, sizeof *b);
    if (!b) return st_errorf(ST_ENOMEM, "allocating a block");
    atomic_init(&b->refs, 1);
    b->store = st;
    b->id = lb->id;
    st_ulid_format(&lb->id, b->ulid);
    b->min_time = lb->meta.min_time;
    b->max_time = lb->meta.max_time;
    b->resolution = lb->thanos.resolution;
    char *ih_path = NULL;
    int rc = st_labels_copy(&b->ext, &lb->thanos.labels);
    if (rc) goto out;
    b->index_name = malloc(ST_ULID_TEXT_LEN + 7);
    b->dir = st_path_join(st->data_dir, b->ulid);
    ih_path = b->dir ? st_path_join(b->dir, IH_FILE) : NULL;
    if (!b->index_name || !ih_path) {
        rc = st_errorf(ST_ENOMEM, "block %s: allocating names", b->ulid);
        goto out;
    }
    snprintf(b->index_name, ST_ULID_TEXT_LEN + 7, "%s/index", b->ulid);
    for (size_t i = 0; i < lb->thanos.nfiles; i++)
        if (strcmp(lb->thanos.files[i].rel_path, "index") == 0) b->index_size = lb->thanos.files[i].size;
    if (!b->index_size) {
        st_obj_attrs_t a;
        if ((rc = st_objstore_attributes(st->bkt, b->index_name, &a))) {
            st_errwrap(rc, "block %s: index", b->ulid);
            goto out;
        }
        b->index_size = a.size;
    }
    if ((rc = find_segments(b, lb))) goto out;

    /* A header left by an earlier run is reused when it still opens; one
     * that does not (torn by a crash, older format) is rebuilt. */
    if (st_path_exists(ih_path)) {
        rc = st_indexheader_open(&b->ih, ih_path);
        if (rc) {
            st_log(ST_LOG_WARN, "index-header on disk unusable; rebuilding it", "block", b->ulid, "err",
                   st_errdetail(rc), NULL);
            b->ih = NULL;
        }
    }
    if (!b->ih) {
        if ((rc = st_mkdir_p(b->dir, 0755))) goto out;
        ih_read_ctx_t rctx = {st, b->index_name};
        if ((rc = st_indexheader_build(ih_read, &rctx, b->index_size, b->index_name, ih_path)) ||
            (rc = st_indexheader_open(&b->ih, ih_path))) {
            st_errwrap(rc, "block %s: building the index-header", b->ulid);
            goto out;
        }
    }
    if ((rc = read_series_section(b, ih_path))) {
        st_errwrap(rc, "block %s", b->ulid);
        goto out;
    }
    set_means(b, lb);
    atomic_fetch_add(&st->ih_file_bytes, st_indexheader_file_size(b->ih));
    atomic_fetch_add(&st->ih_mem_bytes, st_indexheader_mem_size(b->ih));
    *out = b;
    b = NULL;
out:
    free(ih_path);
    block_free(b);
    return rc;
}

/* ---- ranged reads ---- */

static int get_range(store_block_t *b, const char *obj, uint64_t off, uint64_t len, atomic_uint_fast64_t *counter,
                     store_fetch_t *f, uint8_t **out, size_t *outlen) {
    *out = NULL;
    *outlen = 0;
    int rc = st_objstore_get_range(b->store->bkt, obj, off, len, out, outlen);
    if (rc)
        return st_errwrap(rc, "reading %s [%llu, %llu)", obj, (unsigned long long)off, (unsigned long long)(off + len));
    atomic_fetch_add(counter, *outlen);
    atomic_fetch_add(&b->store->m.gets, 1);
    if (f && f->sink && (rc = st_series_sink_fetched(f->sink, *outlen))) {
        free(*out);
        *out = NULL;
        *outlen = 0;
    }
    return rc;
}

/* Sort order of pending ranges: by start offset. */
typedef struct {
    uint64_t start, end;
    size_t idx; /* caller's item */
} pending_t;

static int pending_cmp(const void *x, const void *y) {
    const pending_t *a = x, *b = y;
    if (a->start != b->start) return a->start < b->start ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Fetch pending[0..n) of obj (sorted here) in merged GETs and call fn for
 * each with the bytes from its start to the end of its GET. */
typedef int (*slice_fn)(void *ctx, size_t idx, const uint8_t *p, size_t avail);

static int fetch_merged(store_block_t *b, const char *obj, pending_t *pend, size_t n, atomic_uint_fast64_t *counter,
                        store_fetch_t *f, slice_fn fn, void *ctx) {
    if (!n) return ST_OK;
    qsort(pend, n, sizeof *pend, pending_cmp);
    store_range_t *r = malloc(n * sizeof *r);
    if (!r) return st_errorf(ST_ENOMEM, "block %s: allocating %zu ranges", b->ulid, n);
    for (size_t i = 0; i < n; i++) r[i] = (store_range_t){pend[i].start, pend[i].end};
    store_part_t *parts = NULL;
    size_t nparts = 0;
    int rc = store_partition(r, n, STORE_PARTITION_MAX_GAP, STORE_PARTITION_MAX_PART, &parts, &nparts);
    free(r);
    for (size_t k = 0; k < nparts && !rc; k++) {
        uint8_t *buf;
        size_t len;
        if ((rc = get_range(b, obj, parts[k].start, parts[k].end - parts[k].start, counter, f, &buf, &len))) break;
        for (size_t i = parts[k].first; i < parts[k].last && !rc; i++) {
            uint64_t off = pend[i].start - parts[k].start;
            rc = fn(ctx, pend[i].idx, off < len ? buf + off : buf, off < len ? len - (size_t)off : 0);
        }
        free(buf);
    }
    free(parts);
    return rc;
}

/* ---- postings ---- */

typedef struct {
    uint64_t off, len;
    size_t group; /* matcher index; nmatchers = the all-postings list */
    st_postings_t p;
} pitem_t;

typedef struct {
    store_block_t *b;
    const st_matcher_t *m;
    bool want;
    size_t group;
    pitem_t *v;
    size_t n, cap;
    int err;
} pcollect_t;

static int pitem_add(pcollect_t *c, st_index_range_t r, size_t group) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        pitem_t *v = realloc(c->v, cap * sizeof *v);
        if (!v) return st_errorf(ST_ENOMEM, "allocating a postings list");
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = (pitem_t){r.off, r.len, group, {0}};
    return ST_OK;
}

static int collect_value(void *ctx, const char *value, size_t len, st_index_range_t r) {
    pcollect_t *c = ctx;
    if (st_matcher_matches(c->m, value, len) != c->want) return 0;
    return pitem_add(c, r, c->group);
}

static void cache_key_postings(uint8_t key[33], const store_block_t *b, uint64_t off, uint64_t len) {
    key[0] = 'P';
    memcpy(key + 1, b->id.b, 16);
    memcpy(key + 17, &off, 8);
    memcpy(key + 25, &len, 8);
}

typedef struct {
    store_block_t *b;
    pitem_t *items;
} pslice_t;

/* (errors here are wrapped with the block by store_block_postings) */
static int decode_postings_item(pitem_t *it, const uint8_t *p, size_t len) {
    char what[64];
    snprintf(what, sizeof what, "index postings at %llu", (unsigned long long)it->off);
    return st_index_decode_postings(p, len, what, &it->p);
}

static int postings_slice(void *ctx, size_t idx, const uint8_t *p, size_t avail) {
    pslice_t *s = ctx;
    pitem_t *it = &s->items[idx];
    if (avail < it->len)
        return st_errorf(ST_ECORRUPT, "index postings at %llu: list runs past the end of the index",
                         (unsigned long long)it->off);
    int rc = decode_postings_item(it, p, (size_t)it->len);
    if (!rc) {
        uint8_t key[33];
        cache_key_postings(key, s->b, it->off, it->len);
        st_cache_put(s->b->store->cache, key, sizeof key, p, (size_t)it->len);
    }
    return rc;
}

/* Decode every item: from the cache, the rest by merged ranged reads. */
static int fetch_postings(store_block_t *b, pitem_t *items, size_t n, store_fetch_t *f) {
    store_t *st = b->store;
    pending_t *pend = malloc((n ? n : 1) * sizeof *pend);
    if (!pend) return st_errorf(ST_ENOMEM, "allocating %zu postings reads", n);
    size_t np = 0;
    int rc = ST_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        uint8_t key[33], *val;
        size_t vlen;
        cache_key_postings(key, b, items[i].off, items[i].len);
        atomic_fetch_add(&st->m.postings_requests, 1);
        if (st_cache_get(st->cache, key, sizeof key, &val, &vlen) == 1) {
            atomic_fetch_add(&st->m.postings_hits, 1);
            rc = decode_postings_item(&items[i], val, vlen);
            free(val);
        } else {
            pend[np++] = (pending_t){items[i].off, items[i].off + items[i].len, i};
        }
    }
    pslice_t ctx = {b, items};
    if (!rc) rc = fetch_merged(b, b->index_name, pend, np, &st->m.fetched_postings, f, postings_slice, &ctx);
    free(pend);
    return rc;
}

static int u32_cmp(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x, c = *(const uint32_t *)y;
    return a < c ? -1 : a > c;
}

/* Union of the decoded lists of one group. The lists belong to values of
 * one label name and a series has one value per name, so they are
 * disjoint: concatenating and sorting is the union. */
static int group_union(pitem_t *items, size_t n, size_t group, st_postings_t *out) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (items[i].group == group) total += items[i].p.n;
    out->ids = NULL;
    out->n = 0;
    if (!total) return ST_OK;
    if (!(out->ids = malloc(total * sizeof *out->ids)))
        return st_errorf(ST_ENOMEM, "allocating %zu postings", total);
    for (size_t i = 0; i < n; i++) {
        if (items[i].group != group || !items[i].p.n) continue;
        memcpy(out->ids + out->n, items[i].p.ids, items[i].p.n * sizeof *out->ids);
        out->n += items[i].p.n;
    }
    qsort(out->ids, out->n, sizeof *out->ids, u32_cmp);
    return ST_OK;
}

/* Replace *acc by op(*acc, *p). */
static int combine(int (*op)(st_postings_t *, const st_postings_t *, const st_postings_t *), st_postings_t *acc,
                   st_postings_t *p) {
    st_postings_t tmp;
    int rc = op(&tmp, acc, p);
    if (rc) return rc;
    st_postings_free(acc);
    *acc = tmp;
    return ST_OK;
}

int store_block_postings(store_block_t *b, const st_matchers_t *ms, store_fetch_t *f, st_postings_t *out) {
    pcollect_t c = {.b = b};
    st_postings_t acc = {0}, neg = {0}, p = {0};
    bool have_selecting = false, empty = false;
    int rc = ST_OK;
    out->ids = NULL;
    out->n = 0;
    /* Which postings lists are needed: a matcher that does not match ""
     * selects the union of its matching values; one that does removes the
     * series holding a value it rejects (so series lacking the label stay). */
    for (size_t i = 0; i < ms->n && !rc && !empty; i++) {
        const st_matcher_t *m = ms->v[i];
        c.m = m;
        c.want = !st_matcher_matches_empty(m);
        c.group = i;
        size_t before = c.n;
        if (c.want) have_selecting = true;
        if (c.want && st_matcher_type(m) == ST_MATCH_EQ) {
            st_index_range_t r;
            bool found;
            rc = st_indexheader_postings_range(b->ih, st_matcher_name(m), st_matcher_value(m), &r, &found);
            if (!rc && found) rc = pitem_add(&c, r, i);
        } else {
            rc = st_indexheader_postings_ranges(b->ih, st_matcher_name(m), collect_value, &c);
        }
        if (!rc && c.want && c.n == before) empty = true; /* intersection with nothing */
    }
    if (rc || empty) goto out;
    if (!have_selecting) {
        st_index_range_t r;
        bool found;
        if ((rc = st_indexheader_postings_range(b->ih, "", "", &r, &found))) goto out;
        if (!found) goto out; /* an index without series */
        if ((rc = pitem_add(&c, r, ms->n))) goto out;
    }
    if ((rc = fetch_postings(b, c.v, c.n, f))) goto out;
    /* without a selecting matcher, the all-postings list (group ms->n) selects */
    size_t ngroups = have_selecting ? ms->n : ms->n + 1;
    bool have = false;
    for (size_t g = 0; g < ngroups && !rc; g++) {
        bool selecting = g == ms->n || !st_matcher_matches_empty(ms->v[g]);
        if ((rc = group_union(c.v, c.n, g, &p))) break;
        if (selecting) {
            if (have) {
                rc = combine(st_postings_intersect, &acc, &p);
                st_postings_free(&p);
            } else {
                acc = p;
                p = (st_postings_t){0};
                have = true;
            }
            if (!rc && acc.n == 0) goto out;
        } else {
            rc = combine(st_postings_union, &neg, &p);
            st_postings_free(&p);
        }
    }
    if (!rc) rc = st_postings_subtract(out, &acc, &neg);
out:
    for (size_t i = 0; i < c.n; i++) st_postings_free(&c.v[i].p);
    free(c.v);
    st_postings_free(&acc);
    st_postings_free(&neg);
    st_postings_free(&p);
    if (rc) st_errwrap(rc, "block %s: postings", b->ulid);
    return rc;
}

/* ---- series ---- */

void store_series_free(store_series_t *s) {
    if (!s) return;
    st_labels_free(&s->lbls);
    free(s->chunks);
    s->chunks = NULL;
    s->nchunks = 0;
}

static int ih_symbol(void *ctx, uint32_t ref, const char **s, size_t *len) {
    return st_indexheader_symbol(ctx, ref, s, len);
}

static void cache_key_series(uint8_t key[21], const store_block_t *b, uint32_t id) {
    key[0] = 'S';
    memcpy(key + 1, b->id.b, 16);
    memcpy(key + 17, &id, 4);
}

/* The block and series are named only on error: formatting them for every
 * series decoded cost a few % of a large Series call. */
static int decode_series(store_block_t *b, uint32_t id, const uint8_t *p, size_t len, store_series_t *out) {
    int rc = st_index_decode_series(p, len, ih_symbol, b->ih, NULL, &out->lbls, &out->chunks, &out->nchunks);
    return rc ? st_errwrap(rc, "block %s: index series %u", b->ulid, id) : ST_OK;
}

typedef struct {
    store_block_t *b;
    const uint32_t *ids;
    store_series_t *out;
    store_fetch_t *f;
} sslice_t;

static int series_slice(void *ctx, size_t idx, const uint8_t *p, size_t avail) {
    sslice_t *s = ctx;
    store_block_t *b = s->b;
    uint32_t id = s->ids[idx];
    uint64_t start = (uint64_t)id * 16, need = 0, left = b->series_end - start;
    uint8_t *again = NULL;
    size_t alen = 0;
    int rc = st_index_series_entry_size(p, avail, &need);
    /* the guess was short: read the length prefix (need = 0) or the whole
     * entry again, at most twice */
    for (int tries = 0; !rc && (need == 0 || need > avail); tries++) {
        uint64_t want = need ? need : 16;
        if (tries == 2 || (need && need > left) || (!need && avail >= left)) {
            rc = st_errorf(ST_ECORRUPT, "block %s: index series %u: entry runs past the series section's end %llu",
                           b->ulid, id, (unsigned long long)b->series_end);
            break;
        }
        if (want > left) want = left;
        free(again);
        if ((rc = get_range(b, b->index_name, start, want, &b->store->m.fetched_series, s->f, &again, &alen))) break;
        p = again;
        avail = alen;
        rc = st_index_series_entry_size(p, avail, &need);
    }
    if (!rc) rc = decode_series(b, id, p, (size_t)need, &s->out[idx]);
    if (!rc) {
        uint8_t key[21];
        cache_key_series(key, b, id);
        st_cache_put(b->store->cache, key, sizeof key, p, (size_t)need);
    }
    free(again);
    return rc;
}

int store_block_series(store_block_t *b, const uint32_t *ids, size_t n, uint32_t next, store_fetch_t *f,
                       store_series_t *out) {
    store_t *st = b->store;
    uint64_t guess = first_read(b->series_mean, SERIES_GUESS_MIN, st->series_estimate);
    pending_t *pend = malloc((n ? n : 1) * sizeof *pend);
    if (!pend) return st_errorf(ST_ENOMEM, "block %s: allocating %zu series reads", b->ulid, n);
    size_t np = 0;
    int rc = ST_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        uint8_t key[21], *val;
        size_t vlen;
        cache_key_series(key, b, ids[i]);
        atomic_fetch_add(&st->m.series_requests, 1);
        if (st_cache_get(st->cache, key, sizeof key, &val, &vlen) == 1) {
            atomic_fetch_add(&st->m.series_hits, 1);
            rc = decode_series(b, ids[i], val, vlen, &out[i]);
            free(val);
            continue;
        }
        uint64_t start = (uint64_t)ids[i] * 16;
        if (start < b->series_start || start >= b->series_end) {
            rc = st_errorf(ST_ECORRUPT, "block %s: series %u lies outside the index's series section [%llu, %llu)",
                           b->ulid, ids[i], (unsigned long long)b->series_start, (unsigned long long)b->series_end);
            break;
        }
        /* An entry ends before the next series starts, and in the section.
         * Up to a next series within the estimate is read whole: the
         * partitioner would fetch that gap anyway, and nothing is read twice. */
        uint64_t end = start + guess, nx = i + 1 < n ? ids[i + 1] : next;
        if (nx > ids[i] && nx * 16 - start <= st->series_estimate) end = nx * 16;
        if (end > b->series_end) end = b->series_end;
        pend[np++] = (pending_t){start, end, i};
    }
    sslice_t ctx = {b, ids, out, f};
    if (!rc) rc = fetch_merged(b, b->index_name, pend, np, &st->m.fetched_series, f, series_slice, &ctx);
    free(pend);
    return rc;
}

/* ---- chunks ---- */

void store_bufs_free(store_bufs_t *b) {
    if (!b) return;
    for (size_t i = 0; i < b->n; i++) free(b->v[i]);
    free(b->v);
    memset(b, 0, sizeof *b);
}

static int bufs_push(store_bufs_t *b, uint8_t *p) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        uint8_t **v = realloc(b->v, cap * sizeof *v);
        if (!v) {
            free(p);
            return st_errorf(ST_ENOMEM, "allocating chunk buffers");
        }
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = p;
    return ST_OK;
}

typedef struct {
    store_block_t *b;
    store_chunk_req_t *reqs;
    const store_segment_t *seg;
    store_fetch_t *f;
    store_bufs_t *bufs;
} cslice_t;

static int chunk_slice(void *ctx, size_t idx, const uint8_t *p, size_t avail) {
    cslice_t *s = ctx;
    store_block_t *b = s->b;
    store_chunk_req_t *r = &s->reqs[idx];
    uint64_t off = r->ref & 0xffffffffu, need = 0;
    uint64_t left = s->seg->size ? (s->seg->size > off ? s->seg->size - off : 0) : CHUNK_MAX;
    uint8_t enc;
    char what[128];
    snprintf(what, sizeof what, "block %s: %s at %llu", b->ulid, s->seg->name, (unsigned long long)off);
    int rc = st_chunk_decode_entry(p, avail, what, &enc, &r->data, &r->len, &need);
    /* the guess was short: read the entry again at its full size */
    for (int tries = 0; !rc && need; tries++) {
        uint8_t *again = NULL;
        size_t alen = 0;
        if (tries == 2 || need > left || need > CHUNK_MAX)
            return st_errorf(ST_ECORRUPT, "%s: chunk of %llu bytes runs past the end of the segment", what,
                             (unsigned long long)need);
        if ((rc = get_range(b, s->seg->name, off, need, &b->store->m.fetched_chunks, s->f, &again, &alen))) return rc;
        if ((rc = bufs_push(s->bufs, again))) return rc;
        rc = st_chunk_decode_entry(again, alen, what, &enc, &r->data, &r->len, &need);
    }
    if (!rc && enc != CHUNK_ENC_XOR && enc != ST_CHUNK_ENC_AGGR)
        rc = st_errorf(ST_EUNSUPPORTED, "%s: chunk encoding %u (only XOR chunks and AggrChunks are served)", what,
                       enc);
    r->enc = enc;
    return rc;
}

static int chunk_req_cmp(const void *x, const void *y) {
    uint64_t a = ((const store_chunk_req_t *)x)->ref, b = ((const store_chunk_req_t *)y)->ref;
    return a < b ? -1 : a > b;
}

/* Like fetch_merged, but the GET buffers are kept (chunk data points into
 * them until sent). */
static int fetch_chunks_seg(cslice_t *s, pending_t *pend, size_t n) {
    store_block_t *b = s->b;
    store_range_t *r = malloc((n ? n : 1) * sizeof *r);
    if (!r) return st_errorf(ST_ENOMEM, "block %s: allocating %zu ranges", b->ulid, n);
    for (size_t i = 0; i < n; i++) r[i] = (store_range_t){pend[i].start, pend[i].end};
    store_part_t *parts = NULL;
    size_t nparts = 0;
    int rc = store_partition(r, n, STORE_PARTITION_MAX_GAP, STORE_PARTITION_MAX_PART, &parts, &nparts);
    free(r);
    for (size_t k = 0; k < nparts && !rc; k++) {
        uint8_t *buf;
        size_t len;
        if ((rc = get_range(b, s->seg->name, parts[k].start, parts[k].end - parts[k].start, &b->store->m.fetched_chunks,
                            s->f, &buf, &len)))
            break;
        if ((rc = bufs_push(s->bufs, buf))) break;
        for (size_t i = parts[k].first; i < parts[k].last && !rc; i++) {
            uint64_t off = pend[i].start - parts[k].start;
            rc = chunk_slice(s, pend[i].idx, off < len ? buf + off : buf, off < len ? len - (size_t)off : 0);
        }
    }
    free(parts);
    return rc;
}

int store_block_chunks(store_block_t *b, store_chunk_req_t *reqs, size_t n, store_fetch_t *f, store_bufs_t *bufs) {
    if (!n) return ST_OK;
    qsort(reqs, n, sizeof *reqs, chunk_req_cmp);
    pending_t *pend = malloc(n * sizeof *pend);
    if (!pend) return st_errorf(ST_ENOMEM, "block %s: allocating %zu chunk reads", b->ulid, n);
    uint64_t guess = first_read(b->chunk_mean, CHUNK_GUESS_MIN, b->store->chunk_estimate);
    int rc = ST_OK;
    for (size_t i = 0; i < n && !rc;) {
        uint64_t seg = reqs[i].ref >> 32;
        if (seg >= b->nsegs) {
            rc = st_errorf(ST_ECORRUPT, "block %s: chunk ref %llu names segment %llu of %zu", b->ulid,
                           (unsigned long long)reqs[i].ref, (unsigned long long)seg + 1, b->nsegs);
            break;
        }
        const store_segment_t *sg = &b->segs[seg];
        size_t np = 0, j = i;
        for (; j < n && reqs[j].ref >> 32 == seg; j++) {
            uint64_t off = reqs[j].ref & 0xffffffffu, end = off + guess;
            /* the next chunk (in ref order) starts where this entry ended, or
             * later; up to it within the estimate, as for series entries */
            if (j + 1 < n && reqs[j + 1].ref >> 32 == seg) {
                uint64_t next = reqs[j + 1].ref & 0xffffffffu;
                if (next > off && next - off <= b->store->chunk_estimate) end = next;
            }
            if (sg->size && end > sg->size) end = sg->size > off ? sg->size : off + 1;
            pend[np++] = (pending_t){off, end, j};
        }
        cslice_t ctx = {b, reqs, sg, f, bufs};
        rc = fetch_chunks_seg(&ctx, pend, np);
        i = j;
    }
    free(pend);
    return rc;
}
