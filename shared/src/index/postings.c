/* Linear-merge set operations over ascending series-ID lists. */
#include "strata/postings.h"

#include <stdlib.h>

#include "strata/err.h"

static int postings_alloc(st_postings_t *out, size_t cap) {
    out->n = 0;
    out->ids = malloc((cap ? cap : 1) * sizeof *out->ids);
    if (!out->ids) return st_errorf(ST_ENOMEM, "postings: allocating %zu ids", cap);
    return ST_OK;
}

int st_postings_intersect(st_postings_t *out, const st_postings_t *a, const st_postings_t *b) {
    int rc = postings_alloc(out, a->n < b->n ? a->n : b->n);
    if (rc) return rc;
    size_t i = 0, j = 0;
    while (i < a->n && j < b->n) {
        if (a->ids[i] < b->ids[j]) i++;
        else if (a->ids[i] > b->ids[j]) j++;
        else {
            out->ids[out->n++] = a->ids[i];
            i++;
            j++;
        }
    }
    return ST_OK;
}

int st_postings_union(st_postings_t *out, const st_postings_t *a, const st_postings_t *b) {
    int rc = postings_alloc(out, a->n + b->n);
    if (rc) return rc;
    size_t i = 0, j = 0;
    while (i < a->n || j < b->n) {
        uint32_t x;
        if (j >= b->n || (i < a->n && a->ids[i] < b->ids[j])) x = a->ids[i++];
        else if (i >= a->n || b->ids[j] < a->ids[i]) x = b->ids[j++];
        else {
            x = a->ids[i++];
            j++;
        }
        out->ids[out->n++] = x;
    }
    return ST_OK;
}

int st_postings_subtract(st_postings_t *out, const st_postings_t *a, const st_postings_t *b) {
    int rc = postings_alloc(out, a->n);
    if (rc) return rc;
    size_t j = 0;
    for (size_t i = 0; i < a->n; i++) {
        while (j < b->n && b->ids[j] < a->ids[i]) j++;
        if (j < b->n && b->ids[j] == a->ids[i]) continue;
        out->ids[out->n++] = a->ids[i];
    }
    return ST_OK;
}
