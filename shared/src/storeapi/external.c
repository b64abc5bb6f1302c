/* External labels as Thanos stores apply them (the sidecar's
 * matchesExternalLabels and labelpb.ExtendSortedLabels): matchers on an
 * external label are decided by the external value alone, and external
 * labels win over series labels of the same name. */
#include <stdlib.h>
#include <string.h>

#include "strata/err.h"
#include "strata/storeapi.h"

int st_storeapi_match_external(const st_labels_t *ext, const st_matchers_t *ms, bool *matches, st_matchers_t *rest) {
    *matches = false;
    memset(rest, 0, sizeof *rest);
    if (ms->n && !(rest->v = malloc(ms->n * sizeof *rest->v)))
        return st_errorf(ST_ENOMEM, "external labels: allocating %zu matchers", ms->n);
    for (size_t i = 0; i < ms->n; i++) {
        const st_matcher_t *m = ms->v[i];
        const st_label_t *l = st_labels_get(ext, st_matcher_name(m));
        if (!l) {
            rest->v[rest->n++] = ms->v[i];
        } else if (!st_matcher_matches(m, l->value, l->value_len)) {
            free(rest->v);
            memset(rest, 0, sizeof *rest);
            return ST_OK;
        }
    }
    *matches = true;
    return ST_OK;
}

int st_storeapi_extend_labels(const st_labels_t *series, const st_labels_t *ext, st_labels_t *out) {
    memset(out, 0, sizeof *out);
    size_t n = series->n + ext->n;
    st_label_t *pairs = malloc((n ? n : 1) * sizeof *pairs);
    if (!pairs) return st_errorf(ST_ENOMEM, "external labels: allocating %zu labels", n);
    size_t i = 0, k = 0, o = 0;
    while (i < series->n || k < ext->n) {
        int c = i == series->n ? 1
                : k == ext->n  ? -1
                               : st_bytes_cmp(series->v[i].name, series->v[i].name_len, ext->v[k].name,
                                              ext->v[k].name_len);
        if (c < 0) {
            pairs[o++] = series->v[i++];
        } else {
            if (c == 0) i++; /* the external label replaces the series' */
            pairs[o++] = ext->v[k++];
        }
    }
    int rc = st_labels_from_sorted(out, pairs, o);
    free(pairs);
    return rc;
}
