/*
 * chunks.h — chunk segment files of a block (<block>/chunks/000001 ...).
 * Layout at the top of shared/src/chunks/segment.c. A chunk ref is
 * (segment position << 32) | byte offset of the entry.
 */
#ifndef STRATA_CHUNKS_H
#define STRATA_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

#define ST_CHUNK_SEGMENT_DEFAULT_SIZE ((uint64_t)512 << 20)

typedef struct st_chunk_writer st_chunk_writer_t;

/* Create dir (must not contain segments yet) and start writing segments of
 * at most segment_size bytes (0 = default 512 MiB; a single chunk larger than
 * that still gets written, alone in its file). */
int st_chunk_writer_open(st_chunk_writer_t **out, const char *dir, uint64_t segment_size);
/* Append one chunk; *out_ref receives its ref. Refs increase monotonically. */
int st_chunk_writer_write(st_chunk_writer_t *w, uint8_t encoding, const uint8_t *data, size_t len,
                          uint64_t *out_ref);
/* Same with the CRC32C of encoding | data already known (a chunk copied
 * byte for byte from a segment that was checked: st_chunk_stored_crc), so
 * it is not computed again. A wrong value writes a corrupt entry. */
int st_chunk_writer_write_crc(st_chunk_writer_t *w, uint8_t encoding, const uint8_t *data, size_t len,
                              uint32_t crc32c, uint64_t *out_ref);
/* Flush, truncate to the written size, fsync every segment and the dir. */
int st_chunk_writer_close(st_chunk_writer_t *w);
void st_chunk_writer_free(st_chunk_writer_t *w); /* closes without fsync if still open; NULL ok */

typedef struct st_chunk_reader st_chunk_reader_t;

/* mmap every numerically named file of dir (sorted); checks each header.
 * Errors name the file. */
int st_chunk_reader_open(st_chunk_reader_t **out, const char *dir);
/* Same over in-memory segments (borrowed; for tests and fuzzing). */
int st_chunk_reader_open_mem(st_chunk_reader_t **out, const uint8_t *const *segs, const size_t *lens,
                             size_t nsegs);
/* Resolve ref: CRC-checked; *data borrowed from the mapping (valid until
 * free). ST_ECORRUPT with the file and offset in the detail on any problem. */
int st_chunk_reader_get(const st_chunk_reader_t *r, uint64_t ref, uint8_t *encoding,
                        const uint8_t **data, size_t *len);
/* Decode the entry at p[0..len) fetched from a segment (ranged reads):
 * returns 0 with *need = 0 and the chunk (borrowed from p) set when the
 * entry fits and its CRC holds; 0 with *need > len when p is too short:
 * fetch *need bytes from the same offset and call again (when even the
 * length field was cut off, *need covers the longest length field, and
 * the next call yields the entry's full size). *need is untrusted: cap it
 * by the segment size. ST_ECORRUPT on a bad length or CRC; the detail
 * starts with "<what>: " (what may be NULL: the caller then wraps it, as
 * st_chunk_reader_get does, which uses this decoder too). */
int st_chunk_decode_entry(const uint8_t *p, size_t len, const char *what, uint8_t *encoding, const uint8_t **data,
                          size_t *dlen, uint64_t *need);
/* The CRC32C stored after a chunk's data, for data and len exactly as
 * st_chunk_reader_get or st_chunk_decode_entry returned them (both checked
 * it against the bytes and bounds the 4 bytes after data lie in). */
uint32_t st_chunk_stored_crc(const uint8_t *data, size_t len);
uint64_t st_chunk_reader_size(const st_chunk_reader_t *r); /* total bytes of all segments */
/* Give the pages of the segment mappings back (madvise MADV_DONTNEED):
 * chunks stay readable, a later get maps them in again from the page
 * cache. For passes over a whole block (compaction, downsampling), whose
 * resident set would otherwise grow by every byte read. No-op for
 * in-memory segments. */
void st_chunk_reader_release_pages(const st_chunk_reader_t *r);
void st_chunk_reader_free(st_chunk_reader_t *r);

#endif
