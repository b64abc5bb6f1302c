/* st_strlist_t: owned string lists of the label APIs and stream hints. */
#include <stdlib.h>
#include <string.h>

#include "storeapi_int.h"
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

int st__sa_strlist_append(st_strlist_t *l, char *const *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int rc = st_strlist_push(l, v[i] ? v[i] : "");
        if (rc) return rc;
    }
    return ST_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void st__sa_strlist_sort_unique(st_strlist_t *l) {
    if (l->n < 2) return;
    qsort(l->v, l->n, sizeof *l->v, cmp_str);
    size_t k = 1;
    for (size_t i = 1; i < l->n; i++) {
        if (strcmp(l->v[i], l->v[k - 1]) == 0) free(l->v[i]);
        else l->v[k++] = l->v[i];
    }
    l->n = k;
}
