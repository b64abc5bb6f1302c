/*
 * In-memory block builder. Chunks are cut exactly like Prometheus 2.42's
 * head (the rule is in chunkcut.h, shared with the TSDB head) so that the
 * same samples produce the same chunk bytes as promtool's backfill.
 */
#include <stdlib.h>
#include <string.h>

#include "strata/block.h"
#include "strata/chunkenc.h"
#include "strata/err.h"
#include "chunkcut.h"

typedef struct {
    st_xor_appender_t app;
    int64_t mint, maxt;
} bchunk_t;

typedef struct {
    st_labels_t lbls;
    uint64_t hash;
    bchunk_t *chunks;
    size_t nchunks, capchunks;
    int64_t next_at;
    uint64_t nsamples;
} bseries_t;

struct st_block_builder {
    int64_t chunk_range;
    bseries_t *series;
    size_t nseries, capseries;
    uint32_t *slots; /* open addressing: series index + 1, 0 = empty */
    size_t nslots;
    uint64_t nsamples;
    int64_t mint, maxt;
};

int st_block_builder_new(st_block_builder_t **out, int64_t chunk_range) {
    *out = NULL;
    if (chunk_range <= 0) return st_errorf(ST_EINVAL, "block builder: chunk range must be positive");
    st_block_builder_t *b = calloc(1, sizeof *b);
    if (!b) return st_errorf(ST_ENOMEM, "block builder: allocation failed");
    b->chunk_range = chunk_range;
    b->mint = INT64_MAX;
    b->maxt = INT64_MIN;
    *out = b;
    return ST_OK;
}

static int grow_slots(st_block_builder_t *b) {
    size_t n = b->nslots ? b->nslots * 2 : 1024;
    uint32_t *slots = calloc(n, sizeof *slots);
    if (!slots) return st_errorf(ST_ENOMEM, "block builder: allocating %zu slots", n);
    for (size_t i = 0; i < b->nseries; i++) {
        size_t k = b->series[i].hash & (n - 1);
        while (slots[k]) k = (k + 1) & (n - 1);
        slots[k] = (uint32_t)(i + 1);
    }
    free(b->slots);
    b->slots = slots;
    b->nslots = n;
    return ST_OK;
}

static int find_or_add(st_block_builder_t *b, const st_labels_t *lbls, bseries_t **out) {
    int rc;
    if ((b->nseries + 1) * 2 > b->nslots && (rc = grow_slots(b))) return rc;
    uint64_t h = st_labels_hash(lbls);
    size_t k = h & (b->nslots - 1);
    while (b->slots[k]) {
        bseries_t *s = &b->series[b->slots[k] - 1];
        if (s->hash == h && st_labels_equal(&s->lbls, lbls)) {
            *out = s;
            return ST_OK;
        }
        k = (k + 1) & (b->nslots - 1);
    }
    if (b->nseries == UINT32_MAX - 1) return st_errorf(ST_ELIMIT, "block builder: too many series");
    if (b->nseries == b->capseries) {
        size_t cap = b->capseries ? b->capseries * 2 : 256;
        bseries_t *ns = realloc(b->series, cap * sizeof *ns);
        if (!ns) return st_errorf(ST_ENOMEM, "block builder: allocating %zu series", cap);
        b->series = ns;
        b->capseries = cap;
    }
    bseries_t *s = &b->series[b->nseries];
    memset(s, 0, sizeof *s);
    if ((rc = st_labels_copy(&s->lbls, lbls))) return rc;
    s->hash = h;
    b->slots[k] = (uint32_t)++b->nseries;
    *out = s;
    return ST_OK;
}

static int cut_chunk(st_block_builder_t *b, bseries_t *s, int64_t t) {
    if (s->nchunks == s->capchunks) {
        size_t cap = s->capchunks ? s->capchunks * 2 : 2;
        bchunk_t *nc = realloc(s->chunks, cap * sizeof *nc);
        if (!nc) return st_errorf(ST_ENOMEM, "block builder: allocating chunks");
        s->chunks = nc;
        s->capchunks = cap;
    }
    bchunk_t *c = &s->chunks[s->nchunks];
    int rc = st_xor_appender_init(&c->app);
    if (rc) return rc;
    c->mint = t;
    c->maxt = INT64_MIN;
    s->nchunks++;
    s->next_at = st_chunkcut_range_end(t, b->chunk_range);
    return ST_OK;
}

int st_block_builder_append(st_block_builder_t *b, const st_labels_t *lbls, int64_t t, double v) {
    bseries_t *s = NULL;
    int rc = find_or_add(b, lbls, &s);
    if (rc) return rc;
    if (s->nchunks == 0) {
        if ((rc = cut_chunk(b, s, t))) return rc;
    } else {
        bchunk_t *c = &s->chunks[s->nchunks - 1];
        if (t <= c->maxt) return st_errorf(ST_EINVAL, "block builder: out of order sample at %lld", (long long)t);
        if (st_chunkcut_before_append(&s->next_at, c->app.num, c->mint, c->maxt, t) && (rc = cut_chunk(b, s, t)))
            return rc;
    }
    bchunk_t *c = &s->chunks[s->nchunks - 1];
    if ((rc = st_xor_append(&c->app, t, v))) return rc;
    c->maxt = t;
    s->nsamples++;
    b->nsamples++;
    if (t < b->mint) b->mint = t;
    if (t > b->maxt) b->maxt = t;
    return ST_OK;
}

size_t st_block_builder_num_series(const st_block_builder_t *b) { return b->nseries; }
uint64_t st_block_builder_num_samples(const st_block_builder_t *b) { return b->nsamples; }

typedef struct {
    const char *s;
    size_t len;
} symref_t;

static int symref_cmp(const void *x, const void *y) {
    const symref_t *a = x, *c = y;
    return st_bytes_cmp(a->s, a->len, c->s, c->len);
}

static int series_idx_cmp(const void *x, const void *y, void *ctx) {
    const st_block_builder_t *b = ctx;
    const bseries_t *a = &b->series[*(const uint32_t *)x];
    const bseries_t *c = &b->series[*(const uint32_t *)y];
    return st_labels_cmp(&a->lbls, &c->lbls);
}

/* Every label name and value, plus "" as Prometheus's head contributes it,
 * sorted and unique. */
static int collect_symbols(const st_block_builder_t *b, symref_t **out, size_t *n) {
    size_t cap = 1;
    for (size_t i = 0; i < b->nseries; i++) cap += 2 * b->series[i].lbls.n;
    symref_t *syms = malloc(cap * sizeof *syms);
    if (!syms) return st_errorf(ST_ENOMEM, "block builder: allocating %zu symbols", cap);
    size_t m = 0;
    syms[m++] = (symref_t){"", 0};
    for (size_t i = 0; i < b->nseries; i++) {
        const st_labels_t *l = &b->series[i].lbls;
        for (size_t k = 0; k < l->n; k++) {
            syms[m++] = (symref_t){l->v[k].name, l->v[k].name_len};
            syms[m++] = (symref_t){l->v[k].value, l->v[k].value_len};
        }
    }
    qsort(syms, m, sizeof *syms, symref_cmp);
    size_t u = 0;
    for (size_t i = 0; i < m; i++)
        if (u == 0 || symref_cmp(&syms[u - 1], &syms[i]) != 0) syms[u++] = syms[i];
    *out = syms;
    *n = u;
    return ST_OK;
}

int st_block_builder_write(st_block_builder_t *b, const char *parent_dir, char **out_dir) {
    int rc = ST_OK;
    uint32_t *order = NULL;
    symref_t *syms = NULL;
    size_t nsyms = 0;
    st_chunk_t *chunks = NULL;
    size_t capchunks = 0;
    st_block_writer_t *w = NULL;
    if (out_dir) *out_dir = NULL;
    if (b->nseries == 0) return ST_OK;

    if (!(order = malloc(b->nseries * sizeof *order))) {
        rc = st_errorf(ST_ENOMEM, "block builder: allocating series order");
        goto out;
    }
    for (size_t i = 0; i < b->nseries; i++) order[i] = (uint32_t)i;
    qsort_r(order, b->nseries, sizeof *order, series_idx_cmp, b);
    if ((rc = collect_symbols(b, &syms, &nsyms))) goto out;

    if ((rc = st_block_writer_open(&w, parent_dir, NULL))) goto out;
    for (size_t i = 0; i < nsyms; i++)
        if ((rc = st_block_writer_add_symbol(w, syms[i].s, syms[i].len))) goto out;
    for (size_t i = 0; i < b->nseries; i++) {
        const bseries_t *s = &b->series[order[i]];
        if (s->nchunks > capchunks) {
            st_chunk_t *nc = realloc(chunks, s->nchunks * sizeof *nc);
            if (!nc) {
                rc = st_errorf(ST_ENOMEM, "block builder: allocating chunk list");
                goto out;
            }
            chunks = nc;
            capchunks = s->nchunks;
        }
        for (size_t k = 0; k < s->nchunks; k++) {
            chunks[k].mint = s->chunks[k].mint;
            chunks[k].maxt = s->chunks[k].maxt;
            chunks[k].encoding = ST_CHUNK_ENC_XOR;
            chunks[k].data = st_xor_bytes(&s->chunks[k].app, &chunks[k].len);
        }
        if ((rc = st_block_writer_add_series(w, &s->lbls, chunks, s->nchunks, s->nsamples))) goto out;
    }
    st_block_writer_set_range(w, b->mint, b->maxt + 1);
    rc = st_block_writer_commit(w, NULL, out_dir);
    w = NULL;
out:
    st_block_writer_free(w);
    free(chunks);
    free(syms);
    free(order);
    return rc;
}

void st_block_builder_free(st_block_builder_t *b) {
    if (!b) return;
    for (size_t i = 0; i < b->nseries; i++) {
        bseries_t *s = &b->series[i];
        for (size_t k = 0; k < s->nchunks; k++) st_xor_appender_free(&s->chunks[k].app);
        free(s->chunks);
        st_labels_free(&s->lbls);
    }
    free(b->series);
    free(b->slots);
    free(b);
}
