/* Constants shared by the index writer and reader (layout in writer.c). */
#ifndef STRATA_INDEX_INT_H
#define STRATA_INDEX_INT_H

#define ST_INDEX_MAGIC 0xBAAAD700u
#define ST_INDEX_VERSION 2
#define ST_INDEX_HEADER_LEN 5
#define ST_INDEX_TOC_LEN 52 /* six be64 + be32 CRC */

#endif
