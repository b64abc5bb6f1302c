/*
 * Index reader, format version 2 (byte layout at the top of writer.c).
 *
 *   header  be32 0xBAAAD700 | u8 2            at offset 0
 *   TOC     6 x be64 section offsets | crc    the last 52 bytes
 *   symbol table, postings offset table       where the TOC points
 *   series entries                            at ID x 16
 *   postings lists                            where the postings offset table points
 *
 * Open checks what Prometheus checks (magic, version, TOC, symbol table and
 * postings offset table CRCs, postings label names present as symbols) and
 * also that symbols and table entries are sorted, because every lookup here
 * is a binary search. Series entries and postings lists are CRC-checked when
 * read. Every offset comes from the file and is checked against its size
 * before use; counts are capped by the bytes that could hold them, so a
 * corrupt file can cause neither a wild read nor a huge allocation.
 *
 * The postings offset table is copied into NUL-terminated strings at open
 * (the API hands out C strings); symbols stay in the mapping, addressed by
 * the offset of each symbol's length varint.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "strata/buf.h"
#include "strata/crc32c.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/index.h"
#include "index_int.h"

typedef struct {
    const char *s;
    size_t len;
    uint64_t off; /* file offset of the postings list */
} pot_value_t;

typedef struct {
    const char *s;
    size_t len;
    pot_value_t *vals; /* into r->vals, ascending */
    size_t nvals;
} pot_name_t;

struct st_index_reader {
    char *name;
    st_mmap_t map; /* only for st_index_reader_open */
    const uint8_t *p;
    size_t len;
    uint64_t *sym_off; /* file offset of each symbol's str */
    size_t nsyms;
    char *arena; /* NUL-terminated names and values of the postings offset table */
    pot_value_t *vals;
    pot_name_t *names; /* ascending; "" (the all-postings key) sorts first */
    size_t nnames;
    const char **label_names; /* names without "" */
    size_t nlabel_names;
};

enum { TOC_SYMBOLS, TOC_SERIES, TOC_LABEL_INDICES, TOC_LABEL_OFFSETS, TOC_POSTINGS, TOC_POT };

void st_postings_free(st_postings_t *p) {
    if (!p) return;
    free(p->ids);
    p->ids = NULL;
    p->n = 0;
}

/* A len-prefixed, CRC-terminated section at off: bounds and CRC checked,
 * *d set to its len bytes. */
static int section_at(const st_index_reader_t *r, uint64_t off, const char *what, st_decbuf_t *d) {
    if (off > r->len || r->len - off < 4)
        return st_errorf(ST_ECORRUPT, "index %s: %s at offset %llu: beyond file size %zu", r->name, what,
                         (unsigned long long)off, r->len);
    uint32_t n = st_be32(r->p + off);
    if (r->len - off - 4 < (uint64_t)n + 4)
        return st_errorf(ST_ECORRUPT, "index %s: %s at offset %llu: length %u exceeds file size %zu",
                         r->name, what, (unsigned long long)off, n, r->len);
    const uint8_t *body = r->p + off + 4;
    uint32_t stored = st_be32(body + n), computed = st_crc32c(0, body, n);
    if (stored != computed)
        return st_errorf(ST_ECORRUPT,
                         "index %s: %s at offset %llu: CRC mismatch (stored 0x%08x, computed 0x%08x)",
                         r->name, what, (unsigned long long)off, stored, computed);
    st_decbuf_init(d, body, n);
    return 0;
}

static const char *sym_get(const st_index_reader_t *r, size_t ref, size_t *len) {
    st_decbuf_t d;
    st_decbuf_init(&d, r->p + r->sym_off[ref], r->len - r->sym_off[ref]);
    return (const char *)st_dec_str(&d, len); /* validated at open */
}

static int read_symbols(st_index_reader_t *r, uint64_t off) {
    st_decbuf_t d;
    int rc = section_at(r, off, "symbol table", &d);
    if (rc) return rc;
    uint32_t n = st_dec_be32(&d);
    if (d.err || n > st_dec_remaining(&d))
        return st_errorf(ST_ECORRUPT, "index %s: symbol table: %u symbols cannot fit in %zu bytes", r->name,
                         n, st_dec_remaining(&d));
    r->sym_off = malloc((n ? n : 1) * sizeof *r->sym_off);
    if (!r->sym_off) return st_errorf(ST_ENOMEM, "index %s: symbol table: %u symbols", r->name, n);
    const char *prev = NULL;
    size_t prev_len = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t at = (uint64_t)(d.p - r->p);
        size_t len;
        const char *s = (const char *)st_dec_str(&d, &len);
        if (d.err)
            return st_errorf(ST_ECORRUPT, "index %s: symbol table: symbol %u at offset %llu truncated",
                             r->name, i, (unsigned long long)at);
        if (prev && st_bytes_cmp(prev, prev_len, s, len) >= 0)
            return st_errorf(ST_ECORRUPT, "index %s: symbol table: symbol %u at offset %llu not sorted",
                             r->name, i, (unsigned long long)at);
        r->sym_off[i] = at;
        prev = s;
        prev_len = len;
    }
    r->nsyms = n;
    if (st_dec_remaining(&d))
        return st_errorf(ST_ECORRUPT, "index %s: symbol table: %zu bytes after the last symbol", r->name,
                         st_dec_remaining(&d));
    return 0;
}

static bool sym_exists(const st_index_reader_t *r, const char *s, size_t len) {
    size_t lo = 0, hi = r->nsyms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2, mlen;
        const char *m = sym_get(r, mid, &mlen);
        int c = st_bytes_cmp(m, mlen, s, len);
        if (c == 0) return true;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return false;
}

typedef struct {
    const char *name, *value;
    size_t nlen, vlen;
    uint64_t off;
} pot_entry_t;

static int pot_entry(const st_index_reader_t *r, st_decbuf_t *d, uint32_t i, pot_entry_t *e) {
    uint64_t keys = st_dec_uvarint(d);
    if (!d->err && keys != 2)
        return st_errorf(ST_ECORRUPT, "index %s: postings offset table: entry %u has %llu keys, want 2",
                         r->name, i, (unsigned long long)keys);
    e->name = (const char *)st_dec_str(d, &e->nlen);
    e->value = (const char *)st_dec_str(d, &e->vlen);
    e->off = st_dec_uvarint(d);
    if (d->err) return st_errorf(ST_ECORRUPT, "index %s: postings offset table: entry %u truncated", r->name, i);
    /* the smallest postings list is len + count + crc */
    if (e->off > r->len || r->len - e->off < 12)
        return st_errorf(ST_ECORRUPT,
                         "index %s: postings offset table: entry %u (%.*s=\"%.*s\") offset %llu beyond file "
                         "size %zu",
                         r->name, i, (int)(e->nlen > 64 ? 64 : e->nlen), e->name,
                         (int)(e->vlen > 64 ? 64 : e->vlen), e->value, (unsigned long long)e->off, r->len);
    return 0;
}

static int read_pot(st_index_reader_t *r, uint64_t off) {
    st_decbuf_t d, start;
    int rc = section_at(r, off, "postings offset table", &d);
    if (rc) return rc;
    uint32_t n = st_dec_be32(&d);
    /* an entry takes at least 4 bytes: key count, two empty strings, offset */
    if (d.err || n > st_dec_remaining(&d) / 4)
        return st_errorf(ST_ECORRUPT, "index %s: postings offset table: %u entries cannot fit in %zu bytes",
                         r->name, n, st_dec_remaining(&d));
    start = d;

    /* Pass 1: validate, count names and string bytes. */
    size_t nnames = 0, bytes = 0;
    pot_entry_t e, prev = {0};
    for (uint32_t i = 0; i < n; i++) {
        if ((rc = pot_entry(r, &d, i, &e))) return rc;
        int c = i ? st_bytes_cmp(prev.name, prev.nlen, e.name, e.nlen) : -1;
        if (c > 0 || (c == 0 && st_bytes_cmp(prev.value, prev.vlen, e.value, e.vlen) >= 0))
            return st_errorf(ST_ECORRUPT, "index %s: postings offset table: entry %u not sorted", r->name, i);
        if (c != 0) {
            if (e.nlen > 0 && !sym_exists(r, e.name, e.nlen))
                return st_errorf(ST_ECORRUPT,
                                 "index %s: postings offset table: label name \"%.*s\" not in the symbol table",
                                 r->name, (int)(e.nlen > 64 ? 64 : e.nlen), e.name);
            nnames++;
            bytes += e.nlen + 1;
        }
        bytes += e.vlen + 1;
        prev = e;
    }
    if (st_dec_remaining(&d))
        return st_errorf(ST_ECORRUPT, "index %s: postings offset table: %zu bytes after the last entry", r->name,
                         st_dec_remaining(&d));

    r->arena = malloc(bytes ? bytes : 1);
    r->vals = malloc((n ? n : 1) * sizeof *r->vals);
    r->names = malloc((nnames ? nnames : 1) * sizeof *r->names);
    r->label_names = malloc((nnames ? nnames : 1) * sizeof *r->label_names);
    if (!r->arena || !r->vals || !r->names || !r->label_names)
        return st_errorf(ST_ENOMEM, "index %s: postings offset table: %u entries", r->name, n);

    /* Pass 2: copy. */
    d = start;
    char *a = r->arena;
    pot_name_t *cur = NULL;
    for (uint32_t i = 0; i < n; i++) {
        pot_entry(r, &d, i, &e);
        if (!cur || st_bytes_cmp(cur->s, cur->len, e.name, e.nlen) != 0) {
            cur = &r->names[r->nnames++];
            memcpy(a, e.name, e.nlen);
            a[e.nlen] = 0;
            cur->s = a;
            cur->len = e.nlen;
            cur->vals = &r->vals[i];
            cur->nvals = 0;
            a += e.nlen + 1;
            if (e.nlen > 0) r->label_names[r->nlabel_names++] = cur->s;
        }
        pot_value_t *v = &cur->vals[cur->nvals++];
        memcpy(a, e.value, e.vlen);
        a[e.vlen] = 0;
        v->s = a;
        v->len = e.vlen;
        v->off = e.off;
        a += e.vlen + 1;
    }
    return 0;
}

static int reader_init(st_index_reader_t *r) {
    if (r->len < ST_INDEX_HEADER_LEN + ST_INDEX_TOC_LEN)
        return st_errorf(ST_ECORRUPT, "index %s: header: file of %zu bytes is truncated (minimum %d)", r->name,
                         r->len, ST_INDEX_HEADER_LEN + ST_INDEX_TOC_LEN);
    uint32_t magic = st_be32(r->p);
    if (magic != ST_INDEX_MAGIC)
        return st_errorf(ST_ECORRUPT, "index %s: header: bad magic 0x%08x (want 0x%08x)", r->name, magic,
                         ST_INDEX_MAGIC);
    if (r->p[4] != ST_INDEX_VERSION)
        return st_errorf(ST_ECORRUPT, "index %s: header: unsupported index version %u (only %d is supported)",
                         r->name, r->p[4], ST_INDEX_VERSION);
    const uint8_t *toc = r->p + r->len - ST_INDEX_TOC_LEN;
    uint32_t stored = st_be32(toc + 48), computed = st_crc32c(0, toc, 48);
    if (stored != computed)
        return st_errorf(ST_ECORRUPT, "index %s: TOC at offset %zu: CRC mismatch (stored 0x%08x, computed 0x%08x)",
                         r->name, r->len - ST_INDEX_TOC_LEN, stored, computed);
    int rc = read_symbols(r, st_be64(toc + 8 * TOC_SYMBOLS));
    if (!rc) rc = read_pot(r, st_be64(toc + 8 * TOC_POT));
    return rc;
}

int st_index_reader_open_mem(st_index_reader_t **out, const uint8_t *p, size_t len, const char *name) {
    *out = NULL;
    st_index_reader_t *r = calloc(1, sizeof *r);
    if (!r || !(r->name = strdup(name ? name : "(memory)"))) {
        free(r);
        return st_errorf(ST_ENOMEM, "index %s: allocating reader", name ? name : "(memory)");
    }
    r->p = p;
    r->len = len;
    int rc = reader_init(r);
    if (rc) {
        st_index_reader_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int st_index_reader_open(st_index_reader_t **out, const char *path) {
    *out = NULL;
    st_mmap_t m = {0};
    int rc = st_mmap_open(&m, path);
    if (rc) return st_errwrap(rc, "index %s", path);
    rc = st_index_reader_open_mem(out, m.p, m.len, path);
    if (rc) {
        st_mmap_close(&m);
        return rc;
    }
    (*out)->map = m;
    return 0;
}

void st_index_reader_free(st_index_reader_t *r) {
    if (!r) return;
    st_mmap_close(&r->map);
    free(r->name);
    free(r->sym_off);
    free(r->arena);
    free(r->vals);
    free(r->names);
    free(r->label_names);
    free(r);
}

uint64_t st_index_reader_size(const st_index_reader_t *r) { return r->len; }

void st_index_reader_release_pages(const st_index_reader_t *r) {
    st_mmap_release(&r->map);
}

size_t st_index_symbol_count(const st_index_reader_t *r) { return r->nsyms; }

int st_index_symbol(const st_index_reader_t *r, uint32_t ref, const char **s, size_t *len) {
    if (ref >= r->nsyms)
        return st_errorf(ST_ECORRUPT, "index %s: symbol table: ref %u out of range (%zu symbols)", r->name, ref,
                         r->nsyms);
    *s = sym_get(r, ref, len);
    return 0;
}

size_t st_index_label_names(const st_index_reader_t *r, const char *const **names) {
    *names = r->label_names;
    return r->nlabel_names;
}

static const pot_name_t *find_name(const st_index_reader_t *r, const char *name) {
    size_t len = strlen(name), lo = 0, hi = r->nnames;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = st_bytes_cmp(r->names[mid].s, r->names[mid].len, name, len);
        if (c == 0) return &r->names[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static const pot_value_t *find_value(const pot_name_t *n, const char *value) {
    size_t len = strlen(value), lo = 0, hi = n->nvals;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = st_bytes_cmp(n->vals[mid].s, n->vals[mid].len, value, len);
        if (c == 0) return &n->vals[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

int st_index_label_values(const st_index_reader_t *r, const char *name, const char ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    const pot_name_t *pn = find_name(r, name);
    if (!pn) return 0;
    const char **v = malloc(pn->nvals * sizeof *v);
    if (!v) return st_errorf(ST_ENOMEM, "index %s: label values of %s: %zu values", r->name, name, pn->nvals);
    for (size_t i = 0; i < pn->nvals; i++) v[i] = pn->vals[i].s;
    *out = v;
    *n = pn->nvals;
    return 0;
}

/* ---- format-level decoders (also behind the mapped reader) ---- */

/* Details start with "what: " when the caller named the bytes; without a
 * name they start bare and the caller wraps them (st_errwrap), which keeps
 * formatting off the mapped reader's hot path. */
#define WHAT_FMT "%s%s"
#define WHAT_ARG(w) (w) ? (w) : "", (w) ? ": " : ""

int st_index_decode_postings(const uint8_t *p, size_t len, const char *what, st_postings_t *out) {
    out->ids = NULL;
    out->n = 0;
    if (len < 12)
        return st_errorf(ST_ECORRUPT, WHAT_FMT "%zu bytes cannot hold a postings list (minimum 12)", WHAT_ARG(what),
                         len);
    uint32_t blen = st_be32(p);
    if ((uint64_t)blen + 8 > len)
        return st_errorf(ST_ECORRUPT, WHAT_FMT "length %u exceeds the %zu bytes given", WHAT_ARG(what), blen, len);
    /* Up to 3 zero bytes of 4-byte alignment padding may follow. */
    size_t tail = len - 8 - blen;
    bool padding = tail < 4;
    for (size_t i = 0; padding && i < tail; i++) padding = p[8 + blen + i] == 0;
    if (!padding)
        return st_errorf(ST_ECORRUPT, WHAT_FMT "%zu bytes after the list are not alignment padding", WHAT_ARG(what),
                         tail);
    const uint8_t *body = p + 4;
    uint32_t stored = st_be32(body + blen), computed = st_crc32c(0, body, blen);
    if (stored != computed)
        return st_errorf(ST_ECORRUPT, WHAT_FMT "CRC mismatch (stored 0x%08x, computed 0x%08x)", WHAT_ARG(what),
                         stored, computed);
    uint32_t n = st_be32(body);
    if ((uint64_t)n * 4 + 4 != blen)
        return st_errorf(ST_ECORRUPT, WHAT_FMT "length %u does not hold %u entries", WHAT_ARG(what), blen, n);
    uint32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) return st_errorf(ST_ENOMEM, WHAT_FMT "%u entries", WHAT_ARG(what), n);
    for (uint32_t i = 0; i < n; i++) {
        ids[i] = st_be32(body + 4 + 4 * (size_t)i);
        if (i > 0 && ids[i] <= ids[i - 1]) {
            free(ids);
            return st_errorf(ST_ECORRUPT, WHAT_FMT "series IDs not ascending at entry %u", WHAT_ARG(what), i);
        }
    }
    out->ids = ids;
    out->n = n;
    return 0;
}

/* Entries above 4 GiB cannot be genuine (every other length field of the
 * format is 32 bits) and would make ranged readers fetch absurd amounts. */
#define SERIES_ENTRY_MAX ((uint64_t)UINT32_MAX)

int st_index_series_entry_size(const uint8_t *p, size_t len, uint64_t *need) {
    *need = 0;
    uint64_t blen;
    size_t vn = st_uvarint_get(p, len, &blen);
    if (vn == 0) {
        if (len < 10) return 0; /* a shorter uvarint only fails by running out of bytes */
        return st_errorf(ST_ECORRUPT, "series entry: malformed length uvarint");
    }
    if (blen > SERIES_ENTRY_MAX)
        return st_errorf(ST_ECORRUPT, "series entry: length %llu exceeds %llu", (unsigned long long)blen,
                         (unsigned long long)SERIES_ENTRY_MAX);
    *need = vn + blen + 4;
    return 0;
}

int st_index_decode_series(const uint8_t *p, size_t len, st_index_symbol_fn sym, void *sym_ctx, const char *what,
                           st_labels_t *lbls, st_chunk_meta_t **chunks, size_t *nchunks) {
    if (lbls) {
        lbls->v = NULL;
        lbls->n = 0;
    }
    if (chunks) *chunks = NULL;
    if (nchunks) *nchunks = 0;
    uint64_t need;
    int rc = st_index_series_entry_size(p, len, &need);
    if (rc) return what ? st_errwrap(rc, "%s", what) : rc;
    if (need == 0 || need > len)
        return st_errorf(ST_ECORRUPT, WHAT_FMT "entry length exceeds the %zu bytes given", WHAT_ARG(what), len);
    uint64_t blen;
    size_t vn = st_uvarint_get(p, len, &blen);
    const uint8_t *body = p + vn;
    uint32_t stored = st_be32(body + blen), computed = st_crc32c(0, body, blen);
    if (stored != computed)
        return st_errorf(ST_ECORRUPT, WHAT_FMT "CRC mismatch (stored 0x%08x, computed 0x%08x)", WHAT_ARG(what),
                         stored, computed);
    st_decbuf_t d;
    st_decbuf_init(&d, body, blen);

    st_label_t *pairs = NULL;
    st_chunk_meta_t *metas = NULL;
    uint64_t nl = st_dec_uvarint(&d);
    if (d.err || nl > st_dec_remaining(&d) / 2) {
        rc = st_errorf(ST_ECORRUPT, WHAT_FMT "label count %llu exceeds the entry", WHAT_ARG(what),
                       (unsigned long long)nl);
        goto out;
    }
    if (lbls && !(pairs = malloc((nl ? nl : 1) * sizeof *pairs))) {
        rc = st_errorf(ST_ENOMEM, WHAT_FMT "%llu labels", WHAT_ARG(what), (unsigned long long)nl);
        goto out;
    }
    uint64_t prev_name = 0;
    for (uint64_t i = 0; i < nl; i++) {
        uint64_t nr = st_dec_uvarint(&d), vr = st_dec_uvarint(&d);
        if (d.err) {
            rc = st_errorf(ST_ECORRUPT, WHAT_FMT "label %llu truncated", WHAT_ARG(what), (unsigned long long)i);
            goto out;
        }
        /* v2 refs are positions in the sorted symbol table: ordering refs orders names */
        if (i > 0 && nr <= prev_name) {
            rc = st_errorf(ST_ECORRUPT, WHAT_FMT "label names not sorted and unique at label %llu", WHAT_ARG(what),
                           (unsigned long long)i);
            goto out;
        }
        prev_name = nr;
        if (nr > UINT32_MAX || vr > UINT32_MAX) {
            rc = st_errorf(ST_ECORRUPT, WHAT_FMT "label %llu: symbol ref %llu out of range", WHAT_ARG(what),
                           (unsigned long long)i, (unsigned long long)(nr > UINT32_MAX ? nr : vr));
            goto out;
        }
        const char *nm, *val;
        size_t namelen, valuelen;
        if ((rc = sym(sym_ctx, (uint32_t)nr, &nm, &namelen)) || (rc = sym(sym_ctx, (uint32_t)vr, &val, &valuelen))) {
            rc = st_errwrap(rc, WHAT_FMT "label %llu", WHAT_ARG(what), (unsigned long long)i);
            goto out;
        }
        if (namelen == 0 || valuelen == 0) {
            rc = st_errorf(ST_ECORRUPT, WHAT_FMT "label %llu has an empty %s", WHAT_ARG(what), (unsigned long long)i,
                           namelen == 0 ? "name" : "value");
            goto out;
        }
        if (pairs) pairs[i] = (st_label_t){nm, val, namelen, valuelen};
    }

    uint64_t nc = st_dec_uvarint(&d);
    /* a chunk meta takes at least 3 bytes */
    if (d.err || nc > st_dec_remaining(&d) / 3) {
        rc = st_errorf(ST_ECORRUPT, WHAT_FMT "chunk count %llu exceeds the entry", WHAT_ARG(what),
                       (unsigned long long)nc);
        goto out;
    }
    if (chunks && nc && !(metas = malloc(nc * sizeof *metas))) {
        rc = st_errorf(ST_ENOMEM, WHAT_FMT "%llu chunk metas", WHAT_ARG(what), (unsigned long long)nc);
        goto out;
    }
    /* Deltas are applied with wrapping unsigned arithmetic, as they were computed. */
    uint64_t mint = 0, maxt = 0, ref = 0;
    for (uint64_t i = 0; i < nc; i++) {
        if (i == 0) {
            mint = (uint64_t)st_dec_varint(&d);
            maxt = mint + st_dec_uvarint(&d);
            ref = st_dec_uvarint(&d);
        } else {
            mint = maxt + st_dec_uvarint(&d);
            maxt = mint + st_dec_uvarint(&d);
            ref += (uint64_t)st_dec_varint(&d);
        }
        if (metas) metas[i] = (st_chunk_meta_t){(int64_t)mint, (int64_t)maxt, ref};
    }
    if (d.err || st_dec_remaining(&d)) {
        rc = st_errorf(ST_ECORRUPT, WHAT_FMT "chunk metas %s", WHAT_ARG(what),
                       d.err ? "truncated" : "followed by trailing bytes");
        goto out;
    }
    if (lbls && (rc = st_labels_from_sorted(lbls, pairs, (size_t)nl))) goto out;
    if (chunks) {
        *chunks = metas;
        metas = NULL;
    }
    if (nchunks) *nchunks = (size_t)nc;
out:
    free(pairs);
    free(metas);
    return rc;
}

/* ---- mapped reader on top of the decoders ---- */

int st_index_postings(const st_index_reader_t *r, const char *name, const char *value, st_postings_t *out) {
    out->ids = NULL;
    out->n = 0;
    const pot_name_t *pn = find_name(r, name);
    const pot_value_t *pv = pn ? find_value(pn, value) : NULL;
    if (!pv) return 0;
    uint64_t off = pv->off; /* open checked off + 12 <= len */
    uint32_t blen = st_be32(r->p + off);
    if (r->len - off - 4 < (uint64_t)blen + 4)
        return st_errorf(ST_ECORRUPT,
                         "index %s: postings list %.64s=\"%.64s\" at offset %llu: length %u exceeds file size %zu",
                         r->name, name, value, (unsigned long long)off, blen, r->len);
    int rc = st_index_decode_postings(r->p + off, (size_t)blen + 8, NULL, out);
    if (rc)
        return st_errwrap(rc, "index %s: postings list %.64s=\"%.64s\" at offset %llu", r->name, name, value,
                          (unsigned long long)off);
    return 0;
}

static int mapped_symbol(void *ctx, uint32_t ref, const char **s, size_t *len) {
    const st_index_reader_t *r = ctx;
    if (ref >= r->nsyms)
        return st_errorf(ST_ECORRUPT, "symbol ref %u out of range (%zu symbols)", ref, r->nsyms);
    *s = sym_get(r, ref, len);
    return 0;
}

int st_index_series(const st_index_reader_t *r, uint32_t id, st_labels_t *lbls, st_chunk_meta_t **chunks,
                    size_t *nchunks) {
    if (lbls) {
        lbls->v = NULL;
        lbls->n = 0;
    }
    if (chunks) *chunks = NULL;
    if (nchunks) *nchunks = 0;
    uint64_t off = (uint64_t)id * 16, need;
    if (off >= r->len)
        return st_errorf(ST_ECORRUPT, "index %s: series %u: offset %llu beyond file size %zu", r->name, id,
                         (unsigned long long)off, r->len);
    int rc = st_index_series_entry_size(r->p + off, r->len - off, &need);
    if (!rc && (need == 0 || need > r->len - off))
        rc = st_errorf(ST_ECORRUPT, "length exceeds file size %zu", r->len);
    if (!rc)
        rc = st_index_decode_series(r->p + off, r->len - off, mapped_symbol, (void *)r, NULL, lbls, chunks,
                                    nchunks);
    if (rc)
        return st_errwrap(rc, "index %s: series %u at offset %llu", r->name, id, (unsigned long long)off);
    return 0;
}
