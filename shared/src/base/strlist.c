/* Owned string lists; see strlist.h. */
#include "strata/strlist.h"

#include <stdlib.h>
#include <string.h>

#include "strata/err.h"

int st_strlist_push(st_strlist_t *l, const char *s) {
    /* The capacity is implied: 4, then doubled whenever n reaches a power
     * of two, so the struct needs no capacity field. */
    if (l->n == 0 || (l->n >= 4 && (l->n & (l->n - 1)) == 0)) {
        size_t cap = l->n ? l->n * 2 : 4;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) return st_errorf(ST_ENOMEM, "string list: growing to %zu entries", cap);
        l->v = v;
    }
    if (!(l->v[l->n] = strdup(s))) return st_errorf(ST_ENOMEM, "string list: copying a string");
    l->n++;
    return ST_OK;
}

void st_strlist_free(st_strlist_t *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

size_t st_strs_sort_unique(char **v, size_t n) {
    if (n < 2) return n;
    qsort(v, n, sizeof *v, cmp_str);
    size_t k = 1;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(v[i], v[k - 1]) == 0) free(v[i]);
        else v[k++] = v[i];
    }
    return k;
}

void st_strlist_sort_unique(st_strlist_t *l) { l->n = st_strs_sort_unique(l->v, l->n); }
