/* Index-header over arbitrary bytes, both ways in:
 *  - the input as an index: build its header through an in-memory range
 *    reader into a temporary file, open it, walk names, values, ranges (each
 *    range's bytes decoded as a postings list) and symbols;
 *  - the input as an index-header: open it from memory and walk the same,
 *    then once more with every CRC it points at recomputed, so mutations
 *    reach the checks and walks behind the CRCs.
 * Walks are bounded so one input stays fast. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/buf.h"
#include "strata/crc32c.h"
#include "strata/index.h"
#include "strata/indexheader.h"

#define MAX_WALK 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    const uint8_t *p;
    size_t len;
} input_t;

static int read_input(void *ctx, uint64_t off, uint64_t len, uint8_t **out, size_t *outlen) {
    const input_t *in = ctx;
    uint64_t n = off >= in->len ? 0 : (in->len - off < len ? in->len - off : len);
    if (!(*out = malloc(n ? n : 1))) return -1;
    if (n) memcpy(*out, in->p + off, n);
    *outlen = n;
    return 0;
}

typedef struct {
    const input_t *index; /* NULL when the ranges point into no known index */
    int calls;
} walk_ctx_t;

static int on_value(void *ctx, const char *value, size_t len, st_index_range_t r) {
    walk_ctx_t *w = ctx;
    (void)value;
    (void)len;
    if (w->index && r.off <= w->index->len && r.len <= w->index->len - r.off) {
        st_postings_t p;
        if (st_index_decode_postings(w->index->p + r.off, (size_t)r.len, "fuzz", &p) == 0) st_postings_free(&p);
    }
    return ++w->calls >= MAX_WALK;
}

static void walk(const st_indexheader_t *h, const input_t *index) {
    const char **names;
    size_t nn;
    if (st_indexheader_label_names(h, &names, &nn) != 0) return;
    for (size_t i = 0; i < nn && i < MAX_WALK; i++) {
        const char **vals;
        size_t nv;
        if (st_indexheader_label_values(h, names[i], &vals, &nv) == 0) {
            for (size_t k = 0; k < nv && k < MAX_WALK; k++) {
                st_index_range_t r;
                bool found;
                st_indexheader_postings_range(h, names[i], vals[k], &r, &found);
            }
            free(vals);
        }
        walk_ctx_t w = {index, 0};
        st_indexheader_postings_ranges(h, names[i], on_value, &w);
        st_index_range_t r;
        bool found;
        st_indexheader_postings_range(h, names[i], "", &r, &found);
        st_indexheader_postings_range(h, names[i], "\xff", &r, &found);
    }
    free(names);
    st_index_range_t r;
    bool found;
    st_indexheader_postings_range(h, "", "", &r, &found);
    for (uint32_t ref = 0; ref < MAX_WALK; ref++) {
        const char *s;
        size_t len;
        if (st_indexheader_symbol(h, ref, &s, &len) != 0) break;
    }
    st_indexheader_file_size(h);
    st_indexheader_mem_size(h);
}

/* Recompute the CRC of the len-prefixed section at off, if it fits in p[0..end). */
static void fix_section(uint8_t *p, size_t end, uint64_t off) {
    if (off > end || end - off < 8) return;
    uint32_t n = st_be32(p + off);
    if (end - off - 8 < n) return;
    st_be32_put(p + off + 4 + n, st_crc32c(0, p + off + 4, n));
}

static void fix_crcs(uint8_t *p, size_t len) {
    if (len < 14 + 20 + 52) return;
    size_t toc = len - 20;
    fix_section(p, toc, st_be64(p + toc));
    fix_section(p, toc, st_be64(p + toc + 8));
    st_be32_put(p + toc - 4, st_crc32c(0, p + toc - 52, 48)); /* the index TOC */
    st_be32_put(p + toc + 16, st_crc32c(0, p + toc, 16));
}

static char dir[] = "/tmp/fuzz_indexheader.XXXXXX";

static void cleanup(void) {
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/ih", dir);
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        if (!mkdtemp(dir)) return 0;
        atexit(cleanup);
        ready = 1;
    }
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/ih", dir);

    input_t in = {data, size};
    st_indexheader_t *h;
    if (st_indexheader_build(read_input, &in, size, "fuzz", path) == 0) {
        if (st_indexheader_open(&h, path) == 0) {
            walk(h, &in);
            st_indexheader_free(h);
        }
        unlink(path);
    }
    if (st_indexheader_open_mem(&h, data, size, "fuzz") == 0) {
        walk(h, NULL);
        st_indexheader_free(h);
    }
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    fix_crcs(copy, size);
    if (st_indexheader_open_mem(&h, copy, size, "fuzz") == 0) {
        walk(h, NULL);
        st_indexheader_free(h);
    }
    free(copy);
    return 0;
}
