/*
 * Index writer, format version 2, byte-identical to what Prometheus 2.42
 * writes for the same symbols, series and chunk refs.
 *
 * All integers big-endian; uvarint = LEB128; varint = zig-zag + uvarint;
 * str = uvarint length + bytes; every crc is CRC32C as be32 over the bytes
 * its section's len counts (never over the len field itself).
 *
 *   header        be32 0xBAAAD700 | u8 version 2
 *   symbol table  be32 len | be32 #symbols | #symbols x str (sorted, unique) | crc
 *   series        per series, each zero-padded to a 16-byte boundary; ID = offset / 16:
 *                   uvarint len | uvarint #labels | #labels x (uvarint name ref,
 *                   uvarint value ref) | uvarint #chunks |
 *                   chunk 0: varint mint, uvarint maxt-mint, uvarint ref |
 *                   chunk i: uvarint mint-prev maxt, uvarint maxt-mint,
 *                            varint ref-prev ref | crc
 *   label indices one per label name in name order, each 4-byte aligned:
 *                   be32 len | be32 1 | be32 #values | #values x be32 value ref | crc
 *   postings      ("","") = every series first, then one per (name, value)
 *                 in (name, value) order, each 4-byte aligned:
 *                   be32 len = 4+4n | be32 n | n x be32 series ID | crc
 *   label offset table     be32 len | be32 #names |
 *                          #names x (u8 1, str name, uvarint label index offset) | crc
 *   postings offset table  be32 len | be32 #lists |
 *                          #lists x (u8 2, str name, str value, uvarint list offset) | crc
 *   TOC           be64 symbols | be64 series | be64 label indices |
 *                 be64 label offset table | be64 postings | be64 postings offset table |
 *                 crc over those 48 bytes
 *
 * Like Prometheus, TOC.series, TOC.label_indices and TOC.postings hold the
 * position where the section's first entry was requested, i.e. before its
 * alignment padding; readers go through IDs and offset tables instead.
 *
 * Symbols are kept in memory (the series stage looks refs up by binary
 * search); series go straight to the file; postings are collected per
 * (name ref, value ref) in a hash table and written at close. Because refs
 * are positions in the sorted symbol list, ordering refs orders strings.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/buf.h"
#include "strata/crc32c.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/index.h"
#include "index_int.h"

#define WBUF_SIZE ((size_t)1 << 16)

enum { STAGE_SYMBOLS, STAGE_SERIES, STAGE_CLOSED };

typedef struct {
    uint32_t *ids;
    size_t n, cap;
} idlist_t;

typedef struct {
    uint64_t key; /* name ref << 32 | value ref */
    idlist_t ids;
    uint64_t off; /* file offset of the list, known once written */
} plist_t;

struct st_index_writer {
    char *path;
    int fd;
    int err; /* sticky write failure; the detail was recorded when it happened */
    int stage;
    uint64_t pos; /* file offset of the next byte written */
    uint32_t crc; /* running CRC of everything written since crc_begin */
    uint8_t *buf;
    size_t blen;

    char *sym;        /* symbol bytes back to back */
    size_t sym_len, sym_cap;
    size_t *sym_off;  /* symbol i is sym[sym_off[i] .. sym_off[i+1]) */
    size_t nsyms, sym_off_cap;

    uint32_t *prev_refs, *cur_refs; /* name/value refs of the previous and current series */
    size_t prev_n, prev_cap, cur_cap;
    bool have_last;
    st_encbuf_t entry; /* one series body */

    idlist_t all;
    plist_t *lists;
    size_t nlists, lists_cap;
    size_t *slots; /* open addressing: list index + 1, 0 = empty */
    size_t nslots;

    uint64_t toc[6];
};

enum { TOC_SYMBOLS, TOC_SERIES, TOC_LABEL_INDICES, TOC_LABEL_OFFSETS, TOC_POSTINGS, TOC_POT };

static void w_flush(st_index_writer_t *w) {
    /* pwrite at the buffer's own offset (the file is written front to back
     * from 0), so the detail names the exact offset that failed */
    if (!w->err && st_pwrite_all(w->fd, w->buf, w->blen, w->pos - w->blen))
        w->err = st_errwrap(ST_EIO, "index %s", w->path);
    w->blen = 0;
}

static void w_bytes(st_index_writer_t *w, const void *p, size_t n) {
    if (w->err || n == 0) return;
    w->crc = st_crc32c(w->crc, p, n);
    const uint8_t *s = p;
    while (n > 0) {
        if (w->blen == WBUF_SIZE) w_flush(w);
        size_t k = WBUF_SIZE - w->blen < n ? WBUF_SIZE - w->blen : n;
        memcpy(w->buf + w->blen, s, k);
        w->blen += k;
        w->pos += k; /* per piece: w_flush relies on pos - blen being the buffer's file offset */
        s += k;
        n -= k;
    }
}

static void w_be32(st_index_writer_t *w, uint32_t v) {
    uint8_t x[4];
    st_be32_put(x, v);
    w_bytes(w, x, 4);
}

static void w_be64(st_index_writer_t *w, uint64_t v) {
    uint8_t x[8];
    st_be64_put(x, v);
    w_bytes(w, x, 8);
}

static void w_uvarint(st_index_writer_t *w, uint64_t v) {
    uint8_t x[10];
    w_bytes(w, x, st_uvarint_put(x, v));
}

static void w_str(st_index_writer_t *w, const void *p, size_t n) {
    w_uvarint(w, n);
    w_bytes(w, p, n);
}

static void w_pad(st_index_writer_t *w, unsigned align) {
    static const uint8_t zeros[16];
    size_t rem = (size_t)(w->pos % align);
    if (rem) w_bytes(w, zeros, align - rem);
}

static void w_crc_begin(st_index_writer_t *w) { w->crc = 0; }
static void w_crc_end(st_index_writer_t *w) { w_be32(w, w->crc); }

static const char *sym_ptr(const st_index_writer_t *w, size_t i, size_t *len) {
    *len = w->sym_off[i + 1] - w->sym_off[i];
    return w->sym + w->sym_off[i];
}

/* Position of s in the symbol list, or -1. */
static int64_t sym_find(const st_index_writer_t *w, const char *s, size_t len) {
    size_t lo = 0, hi = w->nsyms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2, mlen;
        const char *m = sym_ptr(w, mid, &mlen);
        int c = st_bytes_cmp(m, mlen, s, len);
        if (c == 0) return (int64_t)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) ncap *= 2;
    void *np = realloc(*p, ncap * elem);
    if (!np) return -1;
    *p = np;
    *cap = ncap;
    return 0;
}

static int idlist_push(idlist_t *l, uint32_t id) {
    if (grow((void **)&l->ids, &l->cap, l->n + 1, sizeof *l->ids)) return ST_ENOMEM;
    l->ids[l->n++] = id;
    return 0;
}

int st_index_writer_open(st_index_writer_t **out, const char *path) {
    *out = NULL;
    st_index_writer_t *w = calloc(1, sizeof *w);
    if (!w) return st_errorf(ST_ENOMEM, "index %s: allocating writer", path);
    w->fd = -1;
    w->path = strdup(path);
    w->buf = malloc(WBUF_SIZE);
    w->sym_off = calloc(16, sizeof *w->sym_off);
    w->sym_off_cap = 16;
    w->sym = malloc(256);
    w->sym_cap = 256;
    if (!w->path || !w->buf || !w->sym_off || !w->sym) {
        st_index_writer_free(w);
        return st_errorf(ST_ENOMEM, "index %s: allocating writer", path);
    }
    st_encbuf_init(&w->entry, 0);
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int rc = st_errorf(ST_EIO, "index %s: open: %s", path, strerror(errno));
        st_index_writer_free(w);
        return rc;
    }
    uint8_t header[ST_INDEX_HEADER_LEN];
    st_be32_put(header, ST_INDEX_MAGIC);
    header[4] = ST_INDEX_VERSION;
    w_bytes(w, header, sizeof header);
    *out = w;
    return 0;
}

int st_index_writer_add_symbol(st_index_writer_t *w, const char *s, size_t len) {
    if (w->err) return w->err;
    if (w->stage != STAGE_SYMBOLS)
        return st_errorf(ST_EINVAL, "index %s: symbol table: symbol added after the first series", w->path);
    if (w->nsyms > 0) {
        size_t plen;
        const char *prev = sym_ptr(w, w->nsyms - 1, &plen);
        if (st_bytes_cmp(prev, plen, s, len) >= 0)
            return st_errorf(ST_EINVAL, "index %s: symbol table: symbol %zu \"%.*s\" not after \"%.*s\"",
                             w->path, w->nsyms, (int)(len > 64 ? 64 : len), s,
                             (int)(plen > 64 ? 64 : plen), prev);
    }
    if (w->nsyms >= UINT32_MAX)
        return st_errorf(ST_ELIMIT, "index %s: symbol table: more than 2^32-1 symbols", w->path);
    if (grow((void **)&w->sym, &w->sym_cap, w->sym_len + len, 1) ||
        grow((void **)&w->sym_off, &w->sym_off_cap, w->nsyms + 2, sizeof *w->sym_off))
        return st_errorf(ST_ENOMEM, "index %s: symbol table: out of memory", w->path);
    if (len) memcpy(w->sym + w->sym_len, s, len);
    w->sym_len += len;
    w->nsyms++;
    w->sym_off[w->nsyms] = w->sym_len;
    return 0;
}

static int finish_symbols(st_index_writer_t *w) {
    uint64_t body = 4;
    for (size_t i = 0; i < w->nsyms; i++) {
        size_t len = w->sym_off[i + 1] - w->sym_off[i];
        body += st_uvarint_len(len) + len;
    }
    if (body > UINT32_MAX)
        return w->err = st_errorf(ST_ELIMIT, "index %s: symbol table: %llu bytes exceed 2^32-1",
                                  w->path, (unsigned long long)body);
    w->toc[TOC_SYMBOLS] = w->pos;
    w_be32(w, (uint32_t)body);
    w_crc_begin(w);
    w_be32(w, (uint32_t)w->nsyms);
    for (size_t i = 0; i < w->nsyms; i++) {
        size_t len;
        const char *s = sym_ptr(w, i, &len);
        w_str(w, s, len);
    }
    w_crc_end(w);
    w->toc[TOC_SERIES] = w->pos;
    w->stage = STAGE_SERIES;
    return w->err;
}

/* Refs compared pairwise (name, value), shorter first: the label-set order. */
static int refs_cmp(const uint32_t *a, size_t an, const uint32_t *b, size_t bn) {
    size_t n = an < bn ? an : bn;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

static size_t hash_slot(uint64_t key, size_t nslots) {
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & (nslots - 1);
}

static int rehash(st_index_writer_t *w) {
    size_t n = w->nslots ? w->nslots * 2 : 1024;
    size_t *s = calloc(n, sizeof *s);
    if (!s) return ST_ENOMEM;
    for (size_t i = 0; i < w->nlists; i++) {
        size_t h = hash_slot(w->lists[i].key, n);
        while (s[h]) h = (h + 1) & (n - 1);
        s[h] = i + 1;
    }
    free(w->slots);
    w->slots = s;
    w->nslots = n;
    return 0;
}

static int postings_add(st_index_writer_t *w, uint64_t key, uint32_t id) {
    if ((w->nlists + 1) * 2 > w->nslots && rehash(w)) return ST_ENOMEM;
    size_t h = hash_slot(key, w->nslots);
    while (w->slots[h] && w->lists[w->slots[h] - 1].key != key) h = (h + 1) & (w->nslots - 1);
    if (!w->slots[h]) {
        if (grow((void **)&w->lists, &w->lists_cap, w->nlists + 1, sizeof *w->lists)) return ST_ENOMEM;
        memset(&w->lists[w->nlists], 0, sizeof *w->lists);
        w->lists[w->nlists].key = key;
        w->slots[h] = ++w->nlists;
    }
    return idlist_push(&w->lists[w->slots[h] - 1].ids, id);
}

int st_index_writer_add_series(st_index_writer_t *w, const st_labels_t *lbls,
                               const st_chunk_meta_t *chunks, size_t nchunks, uint32_t *out_id) {
    if (w->err) return w->err;
    if (w->stage == STAGE_CLOSED) return st_errorf(ST_EINVAL, "index %s: series added after close", w->path);
    if (nchunks == 0 || !chunks)
        return st_errorf(ST_EINVAL, "index %s: series: a series needs at least one chunk", w->path);
    for (size_t i = 0; i < nchunks; i++) {
        if (chunks[i].mint > chunks[i].maxt || (i > 0 && chunks[i].mint <= chunks[i - 1].maxt))
            return st_errorf(ST_EINVAL,
                             "index %s: series: chunk %zu [%lld, %lld] unordered or overlapping", w->path,
                             i, (long long)chunks[i].mint, (long long)chunks[i].maxt);
    }
    if (grow((void **)&w->cur_refs, &w->cur_cap, 2 * lbls->n + 1, sizeof *w->cur_refs))
        return st_errorf(ST_ENOMEM, "index %s: series: out of memory", w->path);
    uint32_t *refs = w->cur_refs;
    for (size_t i = 0; i < lbls->n; i++) {
        const st_label_t *l = &lbls->v[i];
        int64_t nr = sym_find(w, l->name, l->name_len);
        int64_t vr = sym_find(w, l->value, l->value_len);
        if (l->name_len == 0 || nr < 0 || vr < 0)
            return st_errorf(ST_EINVAL, "index %s: series: label %.*s=\"%.*s\": %s", w->path,
                             (int)(l->name_len > 64 ? 64 : l->name_len), l->name,
                             (int)(l->value_len > 64 ? 64 : l->value_len), l->value,
                             l->name_len == 0 ? "empty label name"
                             : nr < 0         ? "name not in the symbol table"
                                              : "value not in the symbol table");
        if (i > 0 && (uint32_t)nr <= refs[2 * i - 2])
            return st_errorf(ST_EINVAL, "index %s: series: labels not sorted by unique name at %.*s",
                             w->path, (int)(l->name_len > 64 ? 64 : l->name_len), l->name);
        refs[2 * i] = (uint32_t)nr;
        refs[2 * i + 1] = (uint32_t)vr;
    }
    if (w->have_last && refs_cmp(w->prev_refs, 2 * w->prev_n, refs, 2 * lbls->n) >= 0)
        return st_errorf(ST_EINVAL, "index %s: series: not in strictly ascending label order", w->path);

    if (w->stage == STAGE_SYMBOLS && finish_symbols(w)) return w->err;
    uint64_t start = (w->pos + 15) & ~(uint64_t)15;
    if (start / 16 > UINT32_MAX)
        return st_errorf(ST_ELIMIT, "index %s: series: offset %llu exceeds 16 x 2^32 (series ID overflow)",
                         w->path, (unsigned long long)start);
    uint32_t id = (uint32_t)(start / 16);

    st_encbuf_t *e = &w->entry;
    st_encbuf_reset(e);
    st_put_uvarint(e, lbls->n);
    for (size_t i = 0; i < 2 * lbls->n; i++) st_put_uvarint(e, refs[i]);
    st_put_uvarint(e, nchunks);
    st_put_varint(e, chunks[0].mint);
    st_put_uvarint(e, (uint64_t)chunks[0].maxt - (uint64_t)chunks[0].mint);
    st_put_uvarint(e, chunks[0].ref);
    for (size_t i = 1; i < nchunks; i++) {
        st_put_uvarint(e, (uint64_t)chunks[i].mint - (uint64_t)chunks[i - 1].maxt);
        st_put_uvarint(e, (uint64_t)chunks[i].maxt - (uint64_t)chunks[i].mint);
        st_put_varint(e, (int64_t)(chunks[i].ref - chunks[i - 1].ref));
    }
    if (e->err) return st_errorf(e->err, "index %s: series: encoding entry failed", w->path);

    for (size_t i = 0; i < lbls->n; i++)
        if (postings_add(w, (uint64_t)refs[2 * i] << 32 | refs[2 * i + 1], id))
            return w->err = st_errorf(ST_ENOMEM, "index %s: postings: out of memory", w->path);
    if (idlist_push(&w->all, id))
        return w->err = st_errorf(ST_ENOMEM, "index %s: postings: out of memory", w->path);

    w_pad(w, 16);
    w_uvarint(w, e->len);
    w_crc_begin(w);
    w_bytes(w, e->p, e->len);
    w_crc_end(w);
    if (w->err) return w->err;

    uint32_t *t = w->prev_refs;
    size_t tcap = w->prev_cap;
    w->prev_refs = w->cur_refs;
    w->prev_cap = w->cur_cap;
    w->cur_refs = t;
    w->cur_cap = tcap;
    w->prev_n = lbls->n;
    w->have_last = true;
    if (out_id) *out_id = id;
    return 0;
}

static int plist_cmp(const void *x, const void *y) {
    const plist_t *a = x, *b = y;
    return a->key < b->key ? -1 : a->key > b->key;
}

static int write_postings(st_index_writer_t *w, const idlist_t *l, uint64_t *off) {
    if (l->n > (UINT32_MAX - 4) / 4)
        return w->err = st_errorf(ST_ELIMIT, "index %s: postings: list of %zu series too long", w->path, l->n);
    w_pad(w, 4);
    *off = w->pos;
    w_be32(w, (uint32_t)(4 + 4 * l->n));
    w_crc_begin(w);
    w_be32(w, (uint32_t)l->n);
    for (size_t i = 0; i < l->n; i++) w_be32(w, l->ids[i]);
    w_crc_end(w);
    return w->err;
}

static const char *key_name(const st_index_writer_t *w, uint64_t key, size_t *len) {
    return sym_ptr(w, (size_t)(key >> 32), len);
}

static const char *key_value(const st_index_writer_t *w, uint64_t key, size_t *len) {
    return sym_ptr(w, (size_t)(uint32_t)key, len);
}

/* Writes one legacy label index per name and records each offset into
 * name_off (indexed by the name's first list). */
static int write_label_indices(st_index_writer_t *w, uint64_t *name_off, size_t *nnames) {
    *nnames = 0;
    for (size_t i = 0; i < w->nlists;) {
        size_t j = i;
        while (j < w->nlists && w->lists[j].key >> 32 == w->lists[i].key >> 32) j++;
        if (j - i > (UINT32_MAX - 8) / 4)
            return w->err = st_errorf(ST_ELIMIT, "index %s: label indices: too many values", w->path);
        w_pad(w, 4);
        name_off[i] = w->pos;
        w_be32(w, (uint32_t)(8 + 4 * (j - i)));
        w_crc_begin(w);
        w_be32(w, 1);
        w_be32(w, (uint32_t)(j - i));
        for (size_t k = i; k < j; k++) w_be32(w, (uint32_t)w->lists[k].key);
        w_crc_end(w);
        (*nnames)++;
        i = j;
    }
    return w->err;
}

static int write_label_offset_table(st_index_writer_t *w, const uint64_t *name_off, size_t nnames) {
    uint64_t body = 4;
    for (size_t i = 0; i < w->nlists; i++) {
        if (i > 0 && w->lists[i].key >> 32 == w->lists[i - 1].key >> 32) continue;
        size_t nlen;
        key_name(w, w->lists[i].key, &nlen);
        body += 1 + st_uvarint_len(nlen) + nlen + st_uvarint_len(name_off[i]);
    }
    if (body > UINT32_MAX)
        return w->err = st_errorf(ST_ELIMIT, "index %s: label offset table: too large", w->path);
    w->toc[TOC_LABEL_OFFSETS] = w->pos;
    w_be32(w, (uint32_t)body);
    w_crc_begin(w);
    w_be32(w, (uint32_t)nnames);
    for (size_t i = 0; i < w->nlists; i++) {
        if (i > 0 && w->lists[i].key >> 32 == w->lists[i - 1].key >> 32) continue;
        size_t nlen;
        const char *name = key_name(w, w->lists[i].key, &nlen);
        w_uvarint(w, 1);
        w_str(w, name, nlen);
        w_uvarint(w, name_off[i]);
    }
    w_crc_end(w);
    return w->err;
}

static int write_postings_offset_table(st_index_writer_t *w, uint64_t all_off) {
    uint64_t body = 4 + 1 + 1 + 1 + st_uvarint_len(all_off);
    for (size_t i = 0; i < w->nlists; i++) {
        size_t nlen, vlen;
        key_name(w, w->lists[i].key, &nlen);
        key_value(w, w->lists[i].key, &vlen);
        body += 1 + st_uvarint_len(nlen) + nlen + st_uvarint_len(vlen) + vlen +
                st_uvarint_len(w->lists[i].off);
    }
    if (body > UINT32_MAX || w->nlists + 1 > UINT32_MAX)
        return w->err = st_errorf(ST_ELIMIT, "index %s: postings offset table: too large", w->path);
    w->toc[TOC_POT] = w->pos;
    w_be32(w, (uint32_t)body);
    w_crc_begin(w);
    w_be32(w, (uint32_t)(w->nlists + 1));
    w_uvarint(w, 2);
    w_str(w, "", 0);
    w_str(w, "", 0);
    w_uvarint(w, all_off);
    for (size_t i = 0; i < w->nlists; i++) {
        size_t nlen, vlen;
        const char *name = key_name(w, w->lists[i].key, &nlen);
        const char *value = key_value(w, w->lists[i].key, &vlen);
        w_uvarint(w, 2);
        w_str(w, name, nlen);
        w_str(w, value, vlen);
        w_uvarint(w, w->lists[i].off);
    }
    w_crc_end(w);
    return w->err;
}

int st_index_writer_close(st_index_writer_t *w) {
    if (w->err) return w->err;
    if (w->stage == STAGE_CLOSED) return st_errorf(ST_EINVAL, "index %s: closed twice", w->path);
    if (w->stage == STAGE_SYMBOLS && finish_symbols(w)) return w->err;
    w->stage = STAGE_CLOSED;

    if (w->nlists) qsort(w->lists, w->nlists, sizeof *w->lists, plist_cmp);
    uint64_t *name_off = calloc(w->nlists ? w->nlists : 1, sizeof *name_off);
    if (!name_off) return w->err = st_errorf(ST_ENOMEM, "index %s: label indices: out of memory", w->path);
    size_t nnames = 0;
    uint64_t all_off = 0;
    w->toc[TOC_LABEL_INDICES] = w->pos;
    if (write_label_indices(w, name_off, &nnames)) goto out;
    w->toc[TOC_POSTINGS] = w->pos;
    if (write_postings(w, &w->all, &all_off)) goto out;
    for (size_t i = 0; i < w->nlists; i++)
        if (write_postings(w, &w->lists[i].ids, &w->lists[i].off)) goto out;
    if (write_label_offset_table(w, name_off, nnames)) goto out;
    if (write_postings_offset_table(w, all_off)) goto out;
    w_crc_begin(w);
    for (int i = 0; i < 6; i++) w_be64(w, w->toc[i]);
    w_crc_end(w);
    w_flush(w);
    if (w->err) goto out;
    if (close(w->fd) != 0) {
        w->fd = -1;
        w->err = st_errorf(ST_EIO, "index %s: close: %s", w->path, strerror(errno));
        goto out;
    }
    w->fd = -1;
    w->err = st_fsync_path(w->path);
out:
    free(name_off);
    return w->err;
}

void st_index_writer_free(st_index_writer_t *w) {
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    free(w->path);
    free(w->buf);
    free(w->sym);
    free(w->sym_off);
    free(w->prev_refs);
    free(w->cur_refs);
    st_encbuf_free(&w->entry);
    free(w->all.ids);
    for (size_t i = 0; i < w->nlists; i++) free(w->lists[i].ids.ids);
    free(w->lists);
    free(w->slots);
    free(w);
}
