/* Index reader over arbitrary bytes: open, then walk label names, their
 * values, the postings of every pair and every series of the all-postings
 * list. Loop counts are bounded so one input stays fast. */
#include <stdint.h>
#include <stdlib.h>

#include "strata/index.h"
#include "strata/labels.h"

#define MAX_WALK 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_index_reader_t *r;
    if (st_index_reader_open_mem(&r, data, size, "fuzz") != 0) return 0;

    size_t nsyms = st_index_symbol_count(r);
    for (size_t i = 0; i < nsyms && i < MAX_WALK; i++) {
        const char *s;
        size_t len;
        st_index_symbol(r, (uint32_t)i, &s, &len);
    }

    const char *const *names;
    size_t nnames = st_index_label_names(r, &names);
    for (size_t i = 0; i < nnames && i < MAX_WALK; i++) {
        const char **vals;
        size_t nv;
        if (st_index_label_values(r, names[i], &vals, &nv) != 0) continue;
        for (size_t k = 0; k < nv && k < MAX_WALK; k++) {
            st_postings_t p;
            st_index_postings(r, names[i], vals[k], &p);
            st_postings_free(&p);
        }
        free(vals);
    }

    st_postings_t all;
    if (st_index_postings(r, "", "", &all) == 0) {
        for (size_t i = 0; i < all.n && i < MAX_WALK; i++) {
            st_labels_t l;
            st_chunk_meta_t *c;
            size_t nc;
            if (st_index_series(r, all.ids[i], &l, &c, &nc) == 0) {
                st_labels_free(&l);
                free(c);
            }
        }
        st_postings_free(&all);
    }
    /* IDs that no postings list names */
    st_index_series(r, 0, NULL, NULL, NULL);
    st_index_series(r, (uint32_t)(size / 32), NULL, NULL, NULL);
    st_index_reader_free(r);
    return 0;
}
