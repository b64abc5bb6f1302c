/* Byte ranges to GETs: object stores charge per request and a GET of a few
 * hundred KiB costs about as much as one of a few bytes, so ranges that lie
 * close together are read at once (the idea of Thanos's gap partitioner). */
#include <stdlib.h>

#include "store.h"
#include "strata/err.h"

int store_partition(const store_range_t *r, size_t n, uint64_t max_gap, uint64_t max_part, store_part_t **out,
                    size_t *nout) {
    *out = NULL;
    *nout = 0;
    if (!n) return ST_OK;
    store_part_t *p = malloc(n * sizeof *p);
    if (!p) return st_errorf(ST_ENOMEM, "partitioning %zu byte ranges", n);
    size_t np = 0;
    for (size_t i = 0; i < n;) {
        store_part_t cur = {r[i].start, r[i].end, i, i + 1};
        for (i++; i < n; i++) {
            uint64_t end = r[i].end > cur.end ? r[i].end : cur.end;
            if (r[i].start > cur.end + max_gap || end - cur.start > max_part) break;
            cur.end = end;
            cur.last = i + 1;
        }
        p[np++] = cur;
    }
    *out = p;
    *nout = np;
    return ST_OK;
}
