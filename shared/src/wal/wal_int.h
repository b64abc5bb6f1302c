/* Shared by the WAL writer, reader and checkpoint (layout in segment.c). */
#ifndef STRATA_WAL_INT_H
#define STRATA_WAL_INT_H

#define ST__WAL_SNAPPY 0x08 /* fragment type flag: the record is snappy-compressed */

enum { ST__WAL_FRAG_PAD = 0, ST__WAL_FRAG_FULL, ST__WAL_FRAG_FIRST, ST__WAL_FRAG_MIDDLE, ST__WAL_FRAG_LAST };

/* Index of a segment or checkpoint name ("00000012" -> 12): all digits, at
 * most 9 of them; -1 otherwise. */
int st__wal_parse_index(const char *s);

#endif
