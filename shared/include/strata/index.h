/*
 * index.h — the block index, format version 2, byte-compatible with
 * Prometheus 2.42 (layout at the top of shared/src/index/writer.c).
 *
 * Series IDs are the series' byte offset / 16 and so are unique, increasing
 * in label order, and fit in uint32.
 */
#ifndef STRATA_INDEX_H
#define STRATA_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "strata/labels.h"

typedef struct {
    int64_t mint, maxt; /* closed interval: first and last sample timestamp */
    uint64_t ref;       /* chunk ref into the block's segments */
} st_chunk_meta_t;

/* A postings list: series IDs, ascending. Owned when returned by a function
 * that says so; free with st_postings_free. */
typedef struct {
    uint32_t *ids;
    size_t n;
} st_postings_t;
void st_postings_free(st_postings_t *p); /* frees ids, zeroes; p may be NULL */

typedef struct st_index_writer st_index_writer_t;

/* Write to path via path + ".tmp"-free direct writes; the caller (the block
 * writer) makes the whole block directory atomic. */
int st_index_writer_open(st_index_writer_t **out, const char *path);
/* All symbols first, strictly ascending bytewise (ST_EINVAL otherwise). */
int st_index_writer_add_symbol(st_index_writer_t *w, const char *s, size_t len);
/* Then series in strictly ascending label order (ST_EINVAL otherwise), each
 * with >= 1 chunk, every label name/value previously added as a symbol.
 * *out_id (may be NULL) receives the series ID. */
int st_index_writer_add_series(st_index_writer_t *w, const st_labels_t *lbls,
                               const st_chunk_meta_t *chunks, size_t nchunks, uint32_t *out_id);
/* Writes label indices, postings (incl. all-postings), both offset tables,
 * the TOC, and fsyncs. */
int st_index_writer_close(st_index_writer_t *w);
void st_index_writer_free(st_index_writer_t *w); /* NULL ok */

typedef struct st_index_reader st_index_reader_t;

/* mmap path; verify magic, version 2, TOC CRC, symbol table CRC, postings
 * offset table CRC, every posting label name present in symbols. Errors name
 * the file and the section. */
int st_index_reader_open(st_index_reader_t **out, const char *path);
/* Same over a borrowed memory image; `name` is used in error details. */
int st_index_reader_open_mem(st_index_reader_t **out, const uint8_t *p, size_t len, const char *name);
void st_index_reader_free(st_index_reader_t *r);
uint64_t st_index_reader_size(const st_index_reader_t *r);
/* st_chunk_reader_release_pages for the index mapping (borrowed symbols
 * and label strings stay valid). No-op for a memory image. */
void st_index_reader_release_pages(const st_index_reader_t *r);

/* Symbol by position (borrowed). ST_ECORRUPT for out-of-range refs. */
int st_index_symbol(const st_index_reader_t *r, uint32_t ref, const char **s, size_t *len);
size_t st_index_symbol_count(const st_index_reader_t *r);

/* Label names present in the postings offset table, ascending, excluding
 * the all-postings key "". Borrowed array of borrowed strings. */
size_t st_index_label_names(const st_index_reader_t *r, const char *const **names);
/* Values of `name`, ascending. *out is an owned array of borrowed
 * NUL-terminated strings into the mapping (free() the array only). */
int st_index_label_values(const st_index_reader_t *r, const char *name, const char ***out, size_t *n);
/* Postings for (name, value); ("","") is every series. A missing pair
 * yields an empty list, not an error. *out is owned. */
int st_index_postings(const st_index_reader_t *r, const char *name, const char *value, st_postings_t *out);
/* Decode series `id` (CRC-checked). lbls (owned, may be NULL to skip) and
 * an owned chunk meta array (may be NULL to skip; free()). */
int st_index_series(const st_index_reader_t *r, uint32_t id, st_labels_t *lbls,
                    st_chunk_meta_t **chunks, size_t *nchunks);

/* ---- format-level decoders over fetched bytes ----
 * For readers that fetch pieces of an index by ranged reads (the store
 * gateway) instead of mapping it; the mapped reader above uses them too.
 * Error details start with "<what>: " (what may be NULL: the detail then
 * starts bare and the caller prefixes it with st_errwrap). */

/* A postings list: p[0..len) = be32 len | be32 n | n x be32 ID | be32 crc,
 * optionally followed by up to 3 zero bytes of 4-byte alignment padding
 * (so the range [list offset, next list's offset) that the index-header
 * hands out is accepted as is); any other trailing byte is ST_ECORRUPT.
 * CRC, len = 4 + 4n and ascending IDs are checked. *out owned. */
int st_index_decode_postings(const uint8_t *p, size_t len, const char *what, st_postings_t *out);

/* Size of the series entry starting at p (uvarint len | body | crc), so a
 * reader that fetched too few bytes knows how many it needs. ST_ECORRUPT
 * if the length prefix is malformed or above 4 GiB; 0 with *need = 0 when
 * p is too short to hold the prefix. *need is untrusted: cap it by the
 * index size before fetching. */
int st_index_series_entry_size(const uint8_t *p, size_t len, uint64_t *need);

/* Resolve a v2 symbol reference; how the mapped reader and the
 * index-header look symbols up. *s is borrowed and must stay valid while
 * the decoded labels are being copied. Unknown refs: ST_ECORRUPT with a
 * detail naming the ref (the decoder prefixes the label's position). */
typedef int (*st_index_symbol_fn)(void *ctx, uint32_t ref, const char **s, size_t *len);

/* Decode the series entry at p[0..len) (len >= its entry size; bytes after
 * the entry, such as the padding to the next 16-byte boundary, are
 * ignored). Checks CRC, label order, symbol refs, non-empty names and
 * values. lbls and chunks as in st_index_series (either may be NULL). */
int st_index_decode_series(const uint8_t *p, size_t len, st_index_symbol_fn sym, void *sym_ctx, const char *what,
                           st_labels_t *lbls, st_chunk_meta_t **chunks, size_t *nchunks);

#endif
