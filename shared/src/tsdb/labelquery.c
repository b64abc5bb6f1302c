/*
 * Label names and values over head + blocks (st_db_label_names/values),
 * with the scope of Prometheus 2.42's querier: a block takes part when its
 * [minTime, maxTime) overlaps the closed query range, the head when the
 * range overlaps [its oldest sample, its newest sample]; inside them no
 * series is filtered by time. Without matchers the answers come from the
 * postings tables alone; with matchers, names come from the matching
 * series' labels and values from intersecting each value's postings with
 * the matching series (blocks) or from the matching series (head).
 */
#include <stdlib.h>
#include <string.h>

#include "strata/err.h"
#include "strata/postings.h"
#include "strata/strlist.h"
#include "tsdb_int.h"

/* ---- string sets ---- */

static void strset_dedup(strset_t *s) { s->n = st_strs_sort_unique(s->v, s->n); }

int st__strset_add(strset_t *s, const char *p, size_t len) {
    if (s->n == s->cap) {
        strset_dedup(s);
        if (s->n * 2 >= s->cap) { /* keep the dedup cost amortized */
            size_t cap = s->cap ? s->cap * 2 : 64;
            char **nv = realloc(s->v, cap * sizeof *nv);
            if (!nv) return st_errorf(ST_ENOMEM, "tsdb: collecting %zu label strings", cap);
            s->v = nv;
            s->cap = cap;
        }
    }
    char *c = malloc(len + 1);
    if (!c) return st_errorf(ST_ENOMEM, "tsdb: copying a label string of %zu bytes", len);
    memcpy(c, p, len);
    c[len] = 0;
    s->v[s->n++] = c;
    return ST_OK;
}

void st__strset_finish(strset_t *s, st_db_strings_t *out) {
    strset_dedup(s);
    out->v = s->v;
    out->n = s->n;
    memset(s, 0, sizeof *s);
}

void st__strset_free(strset_t *s) {
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

void st_db_strings_free(st_db_strings_t *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* ---- blocks ---- */

static int block_names(const st_block_t *b, const st_matchers_t *ms, strset_t *out) {
    const st_index_reader_t *ir = st_block_index(b);
    if (!ms) {
        const char *const *names;
        size_t n = st_index_label_names(ir, &names);
        for (size_t i = 0; i < n; i++) {
            int rc = st__strset_add(out, names[i], strlen(names[i]));
            if (rc) return rc;
        }
        return ST_OK;
    }
    st_postings_t ids;
    int rc = st_block_postings(b, ms, &ids);
    for (size_t i = 0; i < ids.n && !rc; i++) {
        st_labels_t l;
        if ((rc = st_index_series(ir, ids.ids[i], &l, NULL, NULL))) break;
        for (size_t k = 0; k < l.n && !rc; k++) rc = st__strset_add(out, l.v[k].name, l.v[k].name_len);
        st_labels_free(&l);
    }
    st_postings_free(&ids);
    return rc;
}

static int block_values(const st_block_t *b, const char *name, const st_matchers_t *ms, strset_t *out) {
    const st_index_reader_t *ir = st_block_index(b);
    const char **vals = NULL;
    size_t nv = 0;
    st_postings_t sel = {0};
    int rc = st_index_label_values(ir, name, &vals, &nv);
    if (!rc && ms && nv) rc = st_block_postings(b, ms, &sel);
    for (size_t i = 0; i < nv && !rc; i++) {
        if (ms) {
            st_postings_t p, both;
            if (sel.n == 0) break;
            if ((rc = st_index_postings(ir, name, vals[i], &p))) break;
            rc = st_postings_intersect(&both, &sel, &p);
            st_postings_free(&p);
            if (rc) break;
            size_t hit = both.n;
            st_postings_free(&both);
            if (!hit) continue;
        }
        rc = st__strset_add(out, vals[i], strlen(vals[i]));
    }
    st_postings_free(&sel);
    free(vals);
    return rc;
}

/* ---- the database ---- */

/* name == NULL: label names; else the values of `name`. */
static int label_query(st_db_t *db, const char *name, const st_matchers_t *sets, size_t nsets, int64_t mint,
                       int64_t maxt, st_db_strings_t *out) {
    memset(out, 0, sizeof *out);
    if (mint > maxt || (name && !*name)) return ST_OK;
    strset_t set = {0};
    dbblock_t **blocks = NULL;
    size_t nb = 0;
    int rc = ST_OK;
    pthread_mutex_lock(&db->blocks_mu);
    if (db->nblocks && !(blocks = malloc(db->nblocks * sizeof *blocks))) {
        pthread_mutex_unlock(&db->blocks_mu);
        return st_errorf(ST_ENOMEM, "tsdb: label query over %zu blocks", db->nblocks);
    }
    for (size_t i = 0; i < db->nblocks; i++) {
        const st_meta_t *m = st_block_meta(db->blocks[i]->b);
        if (m->min_time > maxt || m->max_time <= mint) continue;
        atomic_fetch_add(&db->blocks[i]->refs, 1);
        blocks[nb++] = db->blocks[i];
    }
    pthread_mutex_unlock(&db->blocks_mu);
    size_t passes = nsets ? nsets : 1;
    for (size_t b = 0; b < nb && !rc; b++)
        for (size_t k = 0; k < passes && !rc; k++) {
            const st_matchers_t *ms = nsets ? &sets[k] : NULL;
            rc = name ? block_values(blocks[b]->b, name, ms, &set) : block_names(blocks[b]->b, ms, &set);
            if (rc) rc = st_errwrap(rc, "tsdb: block %s", st_block_dir(blocks[b]->b));
        }
    head_t *h = &db->head;
    bool head = maxt >= atomic_load(&h->min_time) && mint <= atomic_load(&h->max_time);
    for (size_t k = 0; head && k < passes && !rc; k++) {
        const st_matchers_t *ms = nsets ? &sets[k] : NULL;
        rc = name ? st__head_label_values(h, name, ms, &set) : st__head_label_names(h, ms, &set);
    }
    for (size_t b = 0; b < nb; b++) st__db_block_release(blocks[b]);
    free(blocks);
    if (rc) {
        st__strset_free(&set);
        return rc;
    }
    st__strset_finish(&set, out);
    return ST_OK;
}

int st_db_label_names(st_db_t *db, const st_matchers_t *sets, size_t nsets, int64_t mint, int64_t maxt,
                      st_db_strings_t *out) {
    return label_query(db, NULL, sets, nsets, mint, maxt, out);
}

int st_db_label_values(st_db_t *db, const char *name, const st_matchers_t *sets, size_t nsets, int64_t mint,
                       int64_t maxt, st_db_strings_t *out) {
    return label_query(db, name, sets, nsets, mint, maxt, out);
}
