/* Private to the bucket module: pieces shared by its .c files. */
#ifndef STRATA_BUCKET_INT_H
#define STRATA_BUCKET_INT_H

#include <stddef.h>

#include "strata/bucket.h"

/* The compact JSON of a thanos section for upload: from `t` (labels,
 * resolution, source) or, when t is NULL, from `existing` (a block's own
 * section, unknown keys kept), with segment_files and files replaced by
 * `files` (sorted, chunks first). Empty labels are ST_EINVAL. */
int bucket_thanos_json(const st_thanos_t *t, const char *existing, const st_thanos_file_t *files, size_t nfiles,
                       const char *name, char **out);

/* "<ULID>/<rel>" into a malloc'd string (NULL on allocation failure). */
char *bucket_obj_name(const st_ulid_t *id, const char *rel);

#endif
