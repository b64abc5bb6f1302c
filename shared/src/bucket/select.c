/* Which blocks a sharded reader or compactor takes (bucket.h). */
#include <stdlib.h>
#include <string.h>

#include "strata/bucket.h"
#include "strata/err.h"


int st_bucket_block_selected(const st_relabel_t *r, const st_bucket_block_t *b, const char *const *drop, size_t ndrop,
                             bool *keep) {
    *keep = true;
    if (!r) return ST_OK;
    const st_labels_t *ext = &b->thanos.labels;
    st_label_t *pairs = malloc((ext->n + 1) * sizeof *pairs);
    if (!pairs) return st_errorf(ST_ENOMEM, "selecting blocks: %zu labels", ext->n + 1);
    char id[ST_ULID_TEXT_LEN + 1];
    st_ulid_format(&b->id, id);
    size_t n = 0;
    for (size_t i = 0; i < ext->n; i++) {
        bool skip = strcmp(ext->v[i].name, ST_BUCKET_BLOCK_ID_LABEL) == 0;
        for (size_t d = 0; d < ndrop && !skip; d++) skip = strcmp(ext->v[i].name, drop[d]) == 0;
        if (!skip) pairs[n++] = ext->v[i];
    }
    pairs[n++] = st_label(ST_BUCKET_BLOCK_ID_LABEL, id);
    st_labels_t res = {0};
    int rc = st_relabel_process(r, pairs, n, &res, keep);
    if (!rc && *keep && res.n == 0) *keep = false;
    st_labels_free(&res);
    free(pairs);
    return rc;
}
