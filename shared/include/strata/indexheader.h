/*
 * indexheader.h — the binary index-header of a block in object storage,
 * the file Thanos's store gateway keeps per block instead of the index.
 * Layout (byte-identical to what Thanos's index-header v1 writer produces
 * for the same index) at the top of shared/src/indexheader/indexheader.c:
 *
 *   be32 0xBAAAD792 | u8 1 | u8 index version (2) | be64 postings offset
 *   table offset IN THE INDEX | symbol table (verbatim copy) | postings
 *   offset table (verbatim copy) | the index's 52-byte TOC (verbatim: Thanos
 *   copies from the postings offset table to the end of the index) |
 *   TOC: be64 symbols, be64 postings offset table (offsets IN THE HEADER) |
 *   CRC32C of the TOC
 *
 * It is built from ranged reads of the index object (its first 5 bytes,
 * TOC, symbol table, postings offset table: never the series or postings
 * sections), written durably next to the store's data, and mmapped. In
 * memory it keeps the label names, every 32nd symbol offset and every 32nd
 * postings-offset entry of each name (plus its last), so RAM is a small
 * fraction of the file and the file ~ symbols + offset table.
 *
 * With the header a store answers label names/values itself and learns the
 * byte range of any postings list inside the index, which it then fetches
 * with a ranged read and decodes with st_index_decode_postings().
 *
 * A reader is immutable after open and may be shared by threads.
 */
#ifndef STRATA_INDEXHEADER_H
#define STRATA_INDEXHEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_INDEXHEADER_MAGIC 0xBAAAD792u
#define ST_INDEXHEADER_SAMPLING 32

/* Read [off, off+len) of the index into a malloc'd buffer (fewer bytes only
 * at the end of the object). */
typedef int (*st_range_read_fn)(void *ctx, uint64_t off, uint64_t len, uint8_t **out, size_t *outlen);

/* Build the index-header of an index of index_size bytes, read through
 * `read`, into out_path (tmp + fsync + rename). The TOC, symbol table and
 * postings offset table are CRC-checked; anything wrong is ST_ECORRUPT
 * naming `name` (e.g. "01H.../index") and the section. */
int st_indexheader_build(st_range_read_fn read, void *ctx, uint64_t index_size, const char *name,
                         const char *out_path);

typedef struct st_indexheader st_indexheader_t;

/* mmap and validate (magic, versions, both TOCs, section bounds and CRCs,
 * every symbol and entry, symbol and entry order, list offsets ascending,
 * label names present as symbols). The index-header is as untrusted as the
 * bucket it came from; ST_ECORRUPT names the file and the section. */
int st_indexheader_open(st_indexheader_t **out, const char *path);
/* Same over a borrowed memory image (kept until free); `name` is used in
 * error details. */
int st_indexheader_open_mem(st_indexheader_t **out, const uint8_t *p, size_t len, const char *name);
void st_indexheader_free(st_indexheader_t *h); /* NULL ok */

/* Bytes of the file and bytes of RAM the reader holds (for metrics). */
uint64_t st_indexheader_file_size(const st_indexheader_t *h);
uint64_t st_indexheader_mem_size(const st_indexheader_t *h);

/* Symbol by reference as stored in series entries (v2: position in the
 * symbol table). Borrowed from the mapping; ST_ECORRUPT when out of range. */
int st_indexheader_symbol(const st_indexheader_t *h, uint32_t ref, const char **s, size_t *len);

/* Label names, ascending, excluding the all-postings key. Owned array of
 * NUL-terminated strings borrowed from the reader (free() the array only). */
int st_indexheader_label_names(const st_indexheader_t *h, const char ***out, size_t *n);
/* Values of name, ascending. One allocation holding the array and the
 * NUL-terminated strings (values live in the mapping without a NUL):
 * free() the array only. Unknown name: *out NULL, n = 0. */
int st_indexheader_label_values(const st_indexheader_t *h, const char *name, const char ***out, size_t *n);

/* A postings list's place in the index: [off, off+len) = [its offset, the
 * next list's offset), or for the last list [its offset, the label offset
 * table). It holds be32 len | be32 n | n x be32 | crc, plus at most 3 zero
 * bytes of alignment padding from writers that leave gaps (none from
 * Prometheus: lists are 4-byte aligned and 12 + 4n long), i.e. exactly what
 * st_index_decode_postings accepts. ("", "") is the all-postings list. */
typedef struct {
    uint64_t off, len;
} st_index_range_t;

/* *found = false (and 0 returned) when the pair has no postings list. */
int st_indexheader_postings_range(const st_indexheader_t *h, const char *name, const char *value,
                                  st_index_range_t *out, bool *found);
/* Calls fn for every value of name in ascending order with its range (for
 * regex / negative matchers). value is NUL-terminated and borrowed. fn
 * returning non-zero stops and that value is returned. */
typedef int (*st_indexheader_value_fn)(void *ctx, const char *value, size_t len, st_index_range_t r);
int st_indexheader_postings_ranges(const st_indexheader_t *h, const char *name, st_indexheader_value_fn fn,
                                   void *ctx);

#endif
