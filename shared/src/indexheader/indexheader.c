/*
 * Index-header, Thanos binary format v1 (same bytes as Thanos writes for
 * the same index). All integers big-endian; crc = CRC32C.
 *
 *   0      be32 magic 0xBAAAD792 | u8 format version 1 | u8 index version 2 |
 *          be64 offset of the postings offset table IN THE INDEX
 *   14     symbol table, verbatim: be32 len | be32 #symbols | #symbols x str | crc
 *          postings offset table, verbatim and right after it:
 *            be32 len | be32 #entries |
 *            #entries x (uvarint 2, str name, str value, uvarint list offset) | crc
 *          index TOC, verbatim (52 bytes: Thanos copies the index from its
 *            postings offset table to the end, so the TOC comes along)
 *   end-20 TOC: be64 symbol table offset, be64 postings offset table offset
 *          (both IN THIS FILE) | crc over those 16 bytes
 *
 * Building reads exactly [0,5) (magic, index version), the index TOC, and
 * the two sections (their 4-byte length first, then the rest in parts of
 * at most 8 MiB, streamed into a temporary file with a running CRC).
 *
 * Reading: everything is checked at open (magic, versions, both TOCs,
 * section bounds and CRCs, every symbol and table entry in bounds, symbols
 * strictly ascending, entries strictly ascending by (name, value), names
 * non-empty except the all-postings key ("", "") which may only come first,
 * list offsets strictly ascending and at least one minimal list (12 bytes)
 * apart, every label name a symbol), so lookups can walk the mapping.
 * RAM keeps: every label name (NUL-terminated), the table offset of every
 * 32nd entry of each name plus its last one, and the offset of every 32nd
 * symbol. A lookup binary-searches the samples and walks at most 31
 * entries (or symbols) in the mapping.
 *
 * Postings ranges: [list offset, next entry's list offset). A list's size
 * (12 + 4n) is a multiple of 4 and lists start 4-byte aligned, so in an
 * index written by Prometheus this is exactly be32 len | ... | crc; a
 * writer that left alignment gaps adds at most 3 zero bytes, which
 * st_index_decode_postings accepts. The last list ends where the label
 * offset table starts (from the index TOC copied into the header); Thanos
 * instead over-fetches up to the postings offset table.
 */
#include "strata/indexheader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strata/buf.h"
#include "strata/crc32c.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/labels.h"

#define IH_VERSION 1
#define IH_HEADER_LEN 14
#define IH_TOC_LEN 20
#define INDEX_MAGIC 0xBAAAD700u
#define INDEX_VERSION 2
#define INDEX_HEADER_LEN 5
#define INDEX_TOC_LEN 52
#define POSTINGS_MIN 12 /* be32 len | be32 n = 0 | crc */
#define PART_MAX ((uint64_t)8 << 20)
#define S ST_INDEXHEADER_SAMPLING

enum { TOC_SYMBOLS, TOC_SERIES, TOC_LABEL_INDICES, TOC_LABEL_OFFSETS, TOC_POSTINGS, TOC_POT };

/* ---- building ---- */

typedef struct {
    st_range_read_fn read;
    void *ctx;
    uint64_t size;
    const char *name;
    st_atomic_file_t f;
} builder_t;

static int fetch(builder_t *b, uint64_t off, uint64_t len, const char *what, uint8_t **out) {
    size_t got = 0;
    *out = NULL;
    int rc = b->read(b->ctx, off, len, out, &got);
    if (rc) {
        free(*out);
        *out = NULL;
        return st_errwrap(rc, "index %s: %s: reading %llu bytes at offset %llu", b->name, what,
                          (unsigned long long)len, (unsigned long long)off);
    }
    if (got != len) {
        free(*out);
        *out = NULL;
        return st_errorf(ST_ECORRUPT, "index %s: %s: read of %llu bytes at offset %llu returned %zu (object shorter "
                         "than its size %llu?)", b->name, what, (unsigned long long)len, (unsigned long long)off, got,
                         (unsigned long long)b->size);
    }
    return 0;
}

static int write_all(builder_t *b, const uint8_t *p, size_t n) {
    if (st_write_all(b->f.fd, p, n)) return st_errorf(ST_EIO, "index-header %s: write: %s", b->f.tmp, strerror(errno));
    return 0;
}

/* Copy the len-prefixed, CRC-terminated section at off (which must end by
 * `limit`) into the file, checking its CRC on the way. *out_len receives
 * the section's total size. */
static int copy_section(builder_t *b, uint64_t off, uint64_t limit, const char *what, uint64_t *out_len) {
    uint8_t *p;
    if (off > limit || limit - off < 8)
        return st_errorf(ST_ECORRUPT, "index %s: %s at offset %llu: beyond its bound %llu", b->name, what,
                         (unsigned long long)off, (unsigned long long)limit);
    int rc = fetch(b, off, 4, what, &p);
    if (rc) return rc;
    uint32_t n = st_be32(p);
    rc = write_all(b, p, 4);
    free(p);
    if (rc) return rc;
    if (limit - off - 8 < n)
        return st_errorf(ST_ECORRUPT, "index %s: %s at offset %llu: length %u runs past %llu", b->name, what,
                         (unsigned long long)off, n, (unsigned long long)limit);
    uint64_t body_end = off + 4 + n, end = body_end + 4;
    uint32_t crc = 0;
    uint8_t stored[4];
    for (uint64_t pos = off + 4; pos < end;) {
        uint64_t want = end - pos < PART_MAX ? end - pos : PART_MAX;
        if ((rc = fetch(b, pos, want, what, &p))) return rc;
        uint64_t body = pos >= body_end ? 0 : (body_end - pos < want ? body_end - pos : want);
        crc = st_crc32c(crc, p, (size_t)body);
        for (uint64_t i = body; i < want; i++) stored[pos + i - body_end] = p[i];
        rc = write_all(b, p, (size_t)want);
        free(p);
        if (rc) return rc;
        pos += want;
    }
    if (st_be32(stored) != crc)
        return st_errorf(ST_ECORRUPT, "index %s: %s at offset %llu: CRC mismatch (stored 0x%08x, computed 0x%08x)",
                         b->name, what, (unsigned long long)off, st_be32(stored), crc);
    *out_len = end - off;
    return 0;
}

int st_indexheader_build(st_range_read_fn read, void *ctx, uint64_t index_size, const char *name,
                         const char *out_path) {
    builder_t b = {read, ctx, index_size, name, {.fd = -1}};
    uint8_t *head = NULL, *toc = NULL;
    int rc = 0;
    if (index_size < INDEX_HEADER_LEN + INDEX_TOC_LEN)
        return st_errorf(ST_ECORRUPT, "index %s: header: %llu bytes cannot hold an index", name,
                         (unsigned long long)index_size);
    if ((rc = fetch(&b, 0, INDEX_HEADER_LEN, "header", &head))) goto out;
    if (st_be32(head) != INDEX_MAGIC) {
        rc = st_errorf(ST_ECORRUPT, "index %s: header: bad magic 0x%08x", name, st_be32(head));
        goto out;
    }
    if (head[4] != INDEX_VERSION) {
        rc = st_errorf(ST_ECORRUPT, "index %s: header: unsupported index version %u (only %d is supported)", name,
                       head[4], INDEX_VERSION);
        goto out;
    }
    uint64_t toc_off = index_size - INDEX_TOC_LEN;
    if ((rc = fetch(&b, toc_off, INDEX_TOC_LEN, "TOC", &toc))) goto out;
    uint32_t stored = st_be32(toc + 48), computed = st_crc32c(0, toc, 48);
    if (stored != computed) {
        rc = st_errorf(ST_ECORRUPT, "index %s: TOC at offset %llu: CRC mismatch (stored 0x%08x, computed 0x%08x)",
                       name, (unsigned long long)toc_off, stored, computed);
        goto out;
    }
    uint64_t sym_off = st_be64(toc + 8 * TOC_SYMBOLS), pot_off = st_be64(toc + 8 * TOC_POT);
    if (sym_off < INDEX_HEADER_LEN || pot_off < sym_off) {
        rc = st_errorf(ST_ECORRUPT, "index %s: TOC: symbol table offset %llu, postings offset table offset %llu "
                       "out of order", name, (unsigned long long)sym_off, (unsigned long long)pot_off);
        goto out;
    }

    if ((rc = st_atomic_file_open(&b.f, out_path))) goto out;
    uint8_t h[IH_HEADER_LEN];
    st_be32_put(h, ST_INDEXHEADER_MAGIC);
    h[4] = IH_VERSION;
    h[5] = head[4];
    st_be64_put(h + 6, pot_off);
    if ((rc = write_all(&b, h, sizeof h))) goto out;
    uint64_t sym_len, pot_len;
    if ((rc = copy_section(&b, sym_off, pot_off, "symbol table", &sym_len))) goto out;
    if ((rc = copy_section(&b, pot_off, toc_off, "postings offset table", &pot_len))) goto out;
    if (pot_off + pot_len != toc_off) {
        rc = st_errorf(ST_ECORRUPT, "index %s: postings offset table ends at %llu, the TOC starts at %llu", name,
                       (unsigned long long)(pot_off + pot_len), (unsigned long long)toc_off);
        goto out;
    }
    if ((rc = write_all(&b, toc, INDEX_TOC_LEN))) goto out;
    uint8_t t[IH_TOC_LEN];
    st_be64_put(t, IH_HEADER_LEN);
    st_be64_put(t + 8, IH_HEADER_LEN + sym_len);
    st_be32_put(t + 16, st_crc32c(0, t, 16));
    if ((rc = write_all(&b, t, sizeof t))) goto out;
    rc = st_atomic_file_commit(&b.f);
out:
    if (rc) st_atomic_file_abort(&b.f);
    free(head);
    free(toc);
    return rc;
}

/* ---- reading ---- */

typedef struct {
    const char *s; /* NUL-terminated, in the arena */
    size_t len;
    uint32_t first;    /* index of its first sample in h->samples */
    uint32_t nsamples;
    uint32_t nvals;
    uint32_t vbytes;   /* sum of value lengths, for label_values' one allocation */
    uint64_t end;      /* end in the index of its last postings list */
} ih_name_t;

struct st_indexheader {
    char *name;
    st_mmap_t map;
    const uint8_t *p;
    size_t len;
    const uint8_t *syms; /* symbol bytes after the count; sym_samples are relative to it */
    size_t syms_len;
    uint32_t nsyms;
    uint32_t *sym_samples;
    const uint8_t *pot; /* entry bytes after the count; samples are relative to it */
    size_t pot_len;
    uint32_t *samples;
    size_t nsamples;
    ih_name_t *names; /* ascending; "" first when present */
    size_t nnames;
    const char **label_names;
    size_t nlabel_names;
    char *arena;
    size_t max_vlen;
    uint64_t mem;
};

typedef struct {
    const char *name, *value;
    size_t nlen, vlen;
    uint64_t off;
} entry_t;

static void entry_next(st_decbuf_t *d, entry_t *e) {
    uint64_t keys = st_dec_uvarint(d);
    if (keys != 2) d->err = ST_ECORRUPT;
    e->name = (const char *)st_dec_str(d, &e->nlen);
    e->value = (const char *)st_dec_str(d, &e->vlen);
    e->off = st_dec_uvarint(d);
}

/* Decoder at table offset `at`. Bounds were checked at open; the decoders
 * stay bounds-checked anyway. */
static void pot_at(const st_indexheader_t *h, uint32_t at, st_decbuf_t *d) {
    st_decbuf_init(d, h->pot + at, h->pot_len - at);
}

/* A len-prefixed, CRC-checked section at off, ending by limit; *d gets its
 * body after the be32 count, *count the count, *end the section end. */
static int section(st_indexheader_t *h, uint64_t off, uint64_t limit, const char *what, st_decbuf_t *d,
                   uint32_t *count, uint64_t *end) {
    if (off > limit || limit - off < 12)
        return st_errorf(ST_ECORRUPT, "index-header %s: %s at offset %llu: beyond its bound %llu", h->name, what,
                         (unsigned long long)off, (unsigned long long)limit);
    uint32_t n = st_be32(h->p + off);
    if (limit - off - 8 < n || n < 4)
        return st_errorf(ST_ECORRUPT, "index-header %s: %s at offset %llu: length %u does not fit in %llu bytes",
                         h->name, what, (unsigned long long)off, n, (unsigned long long)(limit - off));
    const uint8_t *body = h->p + off + 4;
    uint32_t stored = st_be32(body + n), computed = st_crc32c(0, body, n);
    if (stored != computed)
        return st_errorf(ST_ECORRUPT, "index-header %s: %s at offset %llu: CRC mismatch (stored 0x%08x, computed "
                         "0x%08x)", h->name, what, (unsigned long long)off, stored, computed);
    *count = st_be32(body);
    st_decbuf_init(d, body + 4, n - 4);
    *end = off + 8 + n;
    return 0;
}

static int read_symbols(st_indexheader_t *h, st_decbuf_t *d, uint32_t n) {
    if (n > st_dec_remaining(d))
        return st_errorf(ST_ECORRUPT, "index-header %s: symbol table: %u symbols cannot fit in %zu bytes", h->name,
                         n, st_dec_remaining(d));
    h->syms = d->p;
    h->syms_len = st_dec_remaining(d);
    size_t ns = n / S + 1;
    if (!(h->sym_samples = malloc(ns * sizeof *h->sym_samples)))
        return st_errorf(ST_ENOMEM, "index-header %s: symbol table: %u symbols", h->name, n);
    h->mem += ns * sizeof *h->sym_samples;
    const char *prev = NULL;
    size_t prev_len = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t at = (uint32_t)(d->p - h->syms);
        size_t len;
        const char *s = (const char *)st_dec_str(d, &len);
        if (d->err)
            return st_errorf(ST_ECORRUPT, "index-header %s: symbol table: symbol %u truncated", h->name, i);
        if (prev && st_bytes_cmp(prev, prev_len, s, len) >= 0)
            return st_errorf(ST_ECORRUPT, "index-header %s: symbol table: symbol %u not sorted", h->name, i);
        if (i % S == 0) h->sym_samples[i / S] = at;
        prev = s;
        prev_len = len;
    }
    if (st_dec_remaining(d))
        return st_errorf(ST_ECORRUPT, "index-header %s: symbol table: %zu bytes after the last symbol", h->name,
                         st_dec_remaining(d));
    h->nsyms = n;
    return 0;
}

static const char *sym_walk(const st_indexheader_t *h, uint32_t ref, size_t *len) {
    st_decbuf_t d;
    uint32_t at = h->sym_samples[ref / S];
    st_decbuf_init(&d, h->syms + at, h->syms_len - at);
    for (uint32_t i = ref % S; i > 0; i--) st_dec_str(&d, len);
    const char *s = (const char *)st_dec_str(&d, len);
    return d.err ? NULL : s;
}

static bool sym_exists(const st_indexheader_t *h, const char *s, size_t len) {
    /* the last sample whose symbol is <= s, then at most S-1 steps */
    size_t lo = 0, hi = h->nsyms ? (h->nsyms - 1) / S + 1 : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2, mlen;
        const char *m = sym_walk(h, (uint32_t)(mid * S), &mlen);
        if (!m) return false;
        if (st_bytes_cmp(m, mlen, s, len) <= 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return false;
    st_decbuf_t d;
    uint32_t at = h->sym_samples[lo - 1];
    st_decbuf_init(&d, h->syms + at, h->syms_len - at);
    for (uint32_t i = (uint32_t)(lo - 1) * S; i < h->nsyms && i < lo * S; i++) {
        size_t mlen;
        const char *m = (const char *)st_dec_str(&d, &mlen);
        if (d.err) return false;
        int c = st_bytes_cmp(m, mlen, s, len);
        if (c == 0) return true;
        if (c > 0) return false;
    }
    return false;
}

#define CLIP(n) (int)((n) > 64 ? 64 : (n))

/* A name's last entry is always sampled (it may already be an every-S-th one). */
static void add_last_sample(st_indexheader_t *h, ih_name_t *n, uint32_t at) {
    if ((n->nvals - 1) % S == 0) return;
    h->samples[h->nsamples++] = at;
    n->nsamples++;
}

static int read_pot(st_indexheader_t *h, st_decbuf_t *d, uint32_t n, uint64_t last_end) {
    /* an entry takes at least 4 bytes: key count, two empty strings, offset */
    if (n > st_dec_remaining(d) / 4)
        return st_errorf(ST_ECORRUPT, "index-header %s: postings offset table: %u entries cannot fit in %zu bytes",
                         h->name, n, st_dec_remaining(d));
    h->pot = d->p;
    h->pot_len = st_dec_remaining(d);
    st_decbuf_t start = *d;

    /* Pass 1: validate; count names, samples and name bytes. */
    size_t nnames = 0, nsamples = 0, bytes = 0, nvals = 0;
    entry_t e, prev = {0};
    for (uint32_t i = 0; i < n; i++) {
        entry_next(d, &e);
        if (d->err)
            return st_errorf(ST_ECORRUPT, "index-header %s: postings offset table: entry %u truncated or not 2 keys",
                             h->name, i);
        int c = i ? st_bytes_cmp(prev.name, prev.nlen, e.name, e.nlen) : -1;
        if (c > 0 || (c == 0 && st_bytes_cmp(prev.value, prev.vlen, e.value, e.vlen) >= 0))
            return st_errorf(ST_ECORRUPT, "index-header %s: postings offset table: entry %u (%.*s=\"%.*s\") not sorted",
                             h->name, i, CLIP(e.nlen), e.name, CLIP(e.vlen), e.value);
        if (e.nlen == 0 && i > 0)
            return st_errorf(ST_ECORRUPT, "index-header %s: postings offset table: entry %u has an empty label name",
                             h->name, i);
        if (e.nlen == 0 && e.vlen > 0)
            return st_errorf(ST_ECORRUPT, "index-header %s: postings offset table: entry 0: the all-postings key "
                             "has value \"%.*s\"", h->name, CLIP(e.vlen), e.value);
        if (e.off < INDEX_HEADER_LEN || (i > 0 && e.off < prev.off + POSTINGS_MIN))
            return st_errorf(ST_ECORRUPT, "index-header %s: postings offset table: entry %u (%.*s=\"%.*s\"): list "
                             "offset %llu not after the previous list", h->name, i, CLIP(e.nlen), e.name, CLIP(e.vlen),
                             e.value, (unsigned long long)e.off);
        if (c != 0) {
            if (e.nlen > 0 && !sym_exists(h, e.name, e.nlen))
                return st_errorf(ST_ECORRUPT, "index-header %s: postings offset table: label name \"%.*s\" not in the "
                                 "symbol table", h->name, CLIP(e.nlen), e.name);
            if (nnames > 0) nsamples += (nvals - 1) % S != 0; /* the previous name's last value */
            nnames++;
            nvals = 0;
            bytes += e.nlen + 1;
        }
        if (nvals % S == 0) nsamples++;
        nvals++;
        if (e.vlen > h->max_vlen) h->max_vlen = e.vlen;
        prev = e;
    }
    if (nnames > 0) nsamples += (nvals - 1) % S != 0;
    if (st_dec_remaining(d))
        return st_errorf(ST_ECORRUPT, "index-header %s: postings offset table: %zu bytes after the last entry",
                         h->name, st_dec_remaining(d));
    if (n > 0 && prev.off + POSTINGS_MIN > last_end)
        return st_errorf(ST_ECORRUPT, "index-header %s: postings offset table: last list at %llu runs into the label "
                         "offset table at %llu", h->name, (unsigned long long)prev.off, (unsigned long long)last_end);

    h->arena = malloc(bytes ? bytes : 1);
    h->names = calloc(nnames ? nnames : 1, sizeof *h->names);
    h->label_names = malloc((nnames ? nnames : 1) * sizeof *h->label_names);
    h->samples = malloc((nsamples ? nsamples : 1) * sizeof *h->samples);
    if (!h->arena || !h->names || !h->label_names || !h->samples)
        return st_errorf(ST_ENOMEM, "index-header %s: postings offset table: %u entries", h->name, n);
    h->mem += bytes + nnames * (sizeof *h->names + sizeof *h->label_names) + nsamples * sizeof *h->samples;

    /* Pass 2: names and samples. */
    *d = start;
    char *a = h->arena;
    ih_name_t *cur = NULL;
    uint32_t last_at = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t at = (uint32_t)(d->p - h->pot);
        entry_next(d, &e);
        if (!cur || st_bytes_cmp(cur->s, cur->len, e.name, e.nlen) != 0) {
            if (cur) {
                add_last_sample(h, cur, last_at);
                cur->end = e.off;
            }
            cur = &h->names[h->nnames++];
            memcpy(a, e.name, e.nlen);
            a[e.nlen] = 0;
            cur->s = a;
            cur->len = e.nlen;
            cur->first = (uint32_t)h->nsamples;
            a += e.nlen + 1;
            if (e.nlen > 0) h->label_names[h->nlabel_names++] = cur->s;
        }
        if (cur->nvals % S == 0) {
            h->samples[h->nsamples++] = at;
            cur->nsamples++;
        }
        cur->nvals++;
        cur->vbytes += (uint32_t)e.vlen; /* the table is < 4 GiB */
        last_at = at;
    }
    if (cur) {
        add_last_sample(h, cur, last_at);
        cur->end = last_end;
    }
    return 0;
}

static int header_init(st_indexheader_t *h) {
    if (h->len < IH_HEADER_LEN + IH_TOC_LEN)
        return st_errorf(ST_ECORRUPT, "index-header %s: header: file of %zu bytes is truncated (minimum %d)", h->name,
                         h->len, IH_HEADER_LEN + IH_TOC_LEN);
    if (st_be32(h->p) != ST_INDEXHEADER_MAGIC)
        return st_errorf(ST_ECORRUPT, "index-header %s: header: bad magic 0x%08x (want 0x%08x)", h->name,
                         st_be32(h->p), ST_INDEXHEADER_MAGIC);
    if (h->p[4] != IH_VERSION)
        return st_errorf(ST_ECORRUPT, "index-header %s: header: unsupported format version %u", h->name, h->p[4]);
    if (h->p[5] != INDEX_VERSION)
        return st_errorf(ST_ECORRUPT, "index-header %s: header: unsupported index version %u (only %d is supported)",
                         h->name, h->p[5], INDEX_VERSION);
    uint64_t index_pot = st_be64(h->p + 6);
    const uint8_t *toc = h->p + h->len - IH_TOC_LEN;
    uint32_t stored = st_be32(toc + 16), computed = st_crc32c(0, toc, 16);
    if (stored != computed)
        return st_errorf(ST_ECORRUPT, "index-header %s: TOC: CRC mismatch (stored 0x%08x, computed 0x%08x)", h->name,
                         stored, computed);
    uint64_t sym_off = st_be64(toc), pot_off = st_be64(toc + 8), toc_off = h->len - IH_TOC_LEN, end;
    if (sym_off != IH_HEADER_LEN || pot_off < sym_off || pot_off > toc_off)
        return st_errorf(ST_ECORRUPT, "index-header %s: TOC: symbol table at %llu, postings offset table at %llu do "
                         "not fit in %zu bytes", h->name, (unsigned long long)sym_off, (unsigned long long)pot_off,
                         h->len);

    /* The index TOC Thanos copies along: it must describe the same index. */
    if (toc_off - pot_off < INDEX_TOC_LEN)
        return st_errorf(ST_ECORRUPT, "index-header %s: index TOC: missing after the postings offset table", h->name);
    uint64_t itoc_off = toc_off - INDEX_TOC_LEN;
    const uint8_t *itoc = h->p + itoc_off;
    stored = st_be32(itoc + 48);
    computed = st_crc32c(0, itoc, 48);
    if (stored != computed)
        return st_errorf(ST_ECORRUPT, "index-header %s: index TOC at offset %llu: CRC mismatch (stored 0x%08x, "
                         "computed 0x%08x)", h->name, (unsigned long long)itoc_off, stored, computed);
    uint64_t last_end = st_be64(itoc + 8 * TOC_LABEL_OFFSETS);
    if (st_be64(itoc + 8 * TOC_POT) != index_pot || last_end > index_pot)
        return st_errorf(ST_ECORRUPT, "index-header %s: index TOC at offset %llu: postings offset table at %llu, "
                         "label offset table at %llu, but the header says %llu", h->name, (unsigned long long)itoc_off,
                         (unsigned long long)st_be64(itoc + 8 * TOC_POT), (unsigned long long)last_end,
                         (unsigned long long)index_pot);

    st_decbuf_t d;
    uint32_t n;
    int rc = section(h, sym_off, pot_off, "symbol table", &d, &n, &end);
    if (rc) return rc;
    if (end != pot_off)
        return st_errorf(ST_ECORRUPT, "index-header %s: symbol table ends at %llu, the postings offset table starts "
                         "at %llu", h->name, (unsigned long long)end, (unsigned long long)pot_off);
    if ((rc = read_symbols(h, &d, n))) return rc;
    if ((rc = section(h, pot_off, itoc_off, "postings offset table", &d, &n, &end))) return rc;
    if (end != itoc_off)
        return st_errorf(ST_ECORRUPT, "index-header %s: postings offset table ends at %llu, the index TOC starts at "
                         "%llu", h->name, (unsigned long long)end, (unsigned long long)itoc_off);
    return read_pot(h, &d, n, last_end);
}

int st_indexheader_open_mem(st_indexheader_t **out, const uint8_t *p, size_t len, const char *name) {
    *out = NULL;
    if (!name) name = "(memory)";
    st_indexheader_t *h = calloc(1, sizeof *h);
    if (!h || !(h->name = strdup(name))) {
        free(h);
        return st_errorf(ST_ENOMEM, "index-header %s: allocating reader", name);
    }
    h->p = p;
    h->len = len;
    h->mem = sizeof *h + strlen(name) + 1;
    int rc = header_init(h);
    if (rc) {
        st_indexheader_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

int st_indexheader_open(st_indexheader_t **out, const char *path) {
    *out = NULL;
    st_mmap_t m = {0};
    int rc = st_mmap_open(&m, path);
    if (rc) return st_errwrap(rc, "index-header %s", path);
    if ((rc = st_indexheader_open_mem(out, m.p, m.len, path))) {
        st_mmap_close(&m);
        return rc;
    }
    (*out)->map = m;
    return 0;
}

void st_indexheader_free(st_indexheader_t *h) {
    if (!h) return;
    st_mmap_close(&h->map);
    free(h->name);
    free(h->sym_samples);
    free(h->samples);
    free(h->names);
    free(h->label_names);
    free(h->arena);
    free(h);
}

uint64_t st_indexheader_file_size(const st_indexheader_t *h) { return h->len; }
uint64_t st_indexheader_mem_size(const st_indexheader_t *h) { return h->mem; }

int st_indexheader_symbol(const st_indexheader_t *h, uint32_t ref, const char **s, size_t *len) {
    if (ref >= h->nsyms)
        return st_errorf(ST_ECORRUPT, "index-header %s: symbol table: ref %u out of range (%u symbols)", h->name, ref,
                         h->nsyms);
    if (!(*s = sym_walk(h, ref, len)))
        return st_errorf(ST_ECORRUPT, "index-header %s: symbol table: symbol %u unreadable", h->name, ref);
    return 0;
}

int st_indexheader_label_names(const st_indexheader_t *h, const char ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    const char **v = malloc((h->nlabel_names ? h->nlabel_names : 1) * sizeof *v);
    if (!v) return st_errorf(ST_ENOMEM, "index-header %s: %zu label names", h->name, h->nlabel_names);
    memcpy(v, h->label_names, h->nlabel_names * sizeof *v);
    *out = v;
    *n = h->nlabel_names;
    return 0;
}

static const ih_name_t *find_name(const st_indexheader_t *h, const char *name) {
    size_t len = strlen(name), lo = 0, hi = h->nnames;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = st_bytes_cmp(h->names[mid].s, h->names[mid].len, name, len);
        if (c == 0) return &h->names[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* Walks a name's entries in table order from its sample k, decoding one
 * entry ahead because a list ends where the next one starts. */
typedef struct {
    const st_indexheader_t *h;
    const ih_name_t *n;
    st_decbuf_t d;
    uint32_t idx; /* value index within the name of `next` */
    entry_t cur, next;
} walk_t;

static void walk_start(walk_t *w, const st_indexheader_t *h, const ih_name_t *n, uint32_t k) {
    w->h = h;
    w->n = n;
    pot_at(h, h->samples[n->first + k], &w->d);
    w->idx = k + 1 == n->nsamples ? n->nvals - 1 : k * S;
    entry_next(&w->d, &w->next);
}

/* 1 = w->cur and *r set, 0 = the name has no more entries, <0 = unreadable
 * (only if the file changed under the mapping: open checked every entry). */
static int walk_next(walk_t *w, st_index_range_t *r) {
    if (w->idx >= w->n->nvals) return 0;
    w->cur = w->next;
    uint64_t end = w->n->end;
    if (++w->idx < w->n->nvals) {
        entry_next(&w->d, &w->next);
        end = w->next.off;
    }
    if (w->d.err || end < w->cur.off)
        return st_errorf(ST_ECORRUPT, "index-header %s: postings offset table: entries of \"%.*s\" unreadable",
                         w->h->name, CLIP(w->n->len), w->n->s);
    r->off = w->cur.off;
    r->len = end - w->cur.off;
    return 1;
}

int st_indexheader_label_values(const st_indexheader_t *h, const char *name, const char ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    const ih_name_t *nm = find_name(h, name);
    if (!nm) return 0;
    size_t size = nm->nvals * sizeof(char *) + nm->vbytes + nm->nvals;
    const char **v = malloc(size);
    if (!v) return st_errorf(ST_ENOMEM, "index-header %s: %u values of %s", h->name, nm->nvals, name);
    char *a = (char *)(v + nm->nvals);
    walk_t w;
    st_index_range_t r;
    int rc = 0;
    walk_start(&w, h, nm, 0);
    for (uint32_t i = 0; i < nm->nvals; i++) {
        if ((rc = walk_next(&w, &r)) < 0) break;
        memcpy(a, w.cur.value, w.cur.vlen); /* vbytes counted exactly these at open */
        a[w.cur.vlen] = 0;
        v[i] = a;
        a += w.cur.vlen + 1;
    }
    if (rc < 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = nm->nvals;
    return 0;
}

int st_indexheader_postings_range(const st_indexheader_t *h, const char *name, const char *value,
                                  st_index_range_t *out, bool *found) {
    *found = false;
    out->off = out->len = 0;
    const ih_name_t *nm = find_name(h, name);
    if (!nm) return 0;
    size_t vlen = strlen(value);
    /* the last sample whose value is <= value */
    uint32_t lo = 0, hi = nm->nsamples;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        st_decbuf_t d;
        entry_t e;
        pot_at(h, h->samples[nm->first + mid], &d);
        entry_next(&d, &e);
        if (d.err) return st_errorf(ST_ECORRUPT, "index-header %s: postings offset table: sample unreadable", h->name);
        if (st_bytes_cmp(e.value, e.vlen, value, vlen) <= 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return 0;
    walk_t w;
    st_index_range_t r;
    walk_start(&w, h, nm, lo - 1);
    for (uint32_t i = 0; i < S; i++) {
        int rc = walk_next(&w, &r);
        if (rc <= 0) return rc;
        int c = st_bytes_cmp(w.cur.value, w.cur.vlen, value, vlen);
        if (c > 0) return 0;
        if (c == 0) {
            *out = r;
            *found = true;
            return 0;
        }
    }
    return 0;
}

int st_indexheader_postings_ranges(const st_indexheader_t *h, const char *name, st_indexheader_value_fn fn,
                                   void *ctx) {
    const ih_name_t *nm = find_name(h, name);
    if (!nm) return 0;
    char *buf = malloc(h->max_vlen + 1);
    if (!buf) return st_errorf(ST_ENOMEM, "index-header %s: value buffer of %zu bytes", h->name, h->max_vlen + 1);
    walk_t w;
    st_index_range_t r;
    int rc;
    walk_start(&w, h, nm, 0);
    while ((rc = walk_next(&w, &r)) == 1) {
        memcpy(buf, w.cur.value, w.cur.vlen); /* max_vlen bounds every value, checked at open */
        buf[w.cur.vlen] = 0;
        if ((rc = fn(ctx, buf, w.cur.vlen, r))) break;
    }
    free(buf);
    return rc;
}
