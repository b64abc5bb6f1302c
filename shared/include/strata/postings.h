/*
 * postings.h — set operations on sorted series-ID lists (st_postings_t from
 * index.h). Every function writes a fresh owned list to *out.
 */
#ifndef STRATA_POSTINGS_H
#define STRATA_POSTINGS_H

#include "strata/index.h"

int st_postings_intersect(st_postings_t *out, const st_postings_t *a, const st_postings_t *b);
int st_postings_union(st_postings_t *out, const st_postings_t *a, const st_postings_t *b);
/* a minus b */
int st_postings_subtract(st_postings_t *out, const st_postings_t *a, const st_postings_t *b);

#endif
