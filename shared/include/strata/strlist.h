/*
 * strlist.h — lists of owned strings (label names and values, warnings,
 * queried block IDs), and the sort-and-deduplicate every label API needs.
 */
#ifndef STRATA_STRLIST_H
#define STRATA_STRLIST_H

#include <stddef.h>

typedef struct {
    char **v; /* owned strings */
    size_t n;
} st_strlist_t;

int st_strlist_push(st_strlist_t *l, const char *s); /* copies s */
void st_strlist_free(st_strlist_t *l);               /* frees all, zeroes; NULL ok */
/* Sort bytewise (strcmp) and drop duplicates, freeing them. */
void st_strlist_sort_unique(st_strlist_t *l);
/* The same over a bare array of n owned strings; returns the new count. */
size_t st_strs_sort_unique(char **v, size_t n);

#endif
