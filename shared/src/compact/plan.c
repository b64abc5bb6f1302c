/*
 * plan.c — the planning half of compact.h: group labels and keys, the
 * leveled planner and the redundant-block filter, the way Thanos's
 * compactor decides them (pkg/compact/planner.go, pkg/block/fetcher.go).
 * Pure functions over metas: no I/O.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/compact.h"
#include "strata/err.h"

#define HOUR_MS INT64_C(3600000)

const int64_t st_compact_default_ranges[ST_COMPACT_NRANGES] = {2 * HOUR_MS, 8 * HOUR_MS, 48 * HOUR_MS,
                                                               336 * HOUR_MS};

/* ---- groups ---- */

static bool is_replica(const st_label_t *l, const char *const *replica, size_t nreplica) {
    for (size_t i = 0; i < nreplica; i++)
        if (strlen(replica[i]) == l->name_len && memcmp(replica[i], l->name, l->name_len) == 0) return true;
    return false;
}

int st_compact_group_labels(const st_labels_t *ext, const char *const *replica_labels, size_t nreplica,
                            st_labels_t *out) {
    out->v = NULL;
    out->n = 0;
    st_label_t *keep = malloc((ext->n + 1) * sizeof(*keep));
    if (!keep) return st_errorf(ST_ENOMEM, "compact: group labels: allocating %zu labels", ext->n + 1);
    size_t k = 0;
    for (size_t i = 0; i < ext->n; i++)
        if (!is_replica(&ext->v[i], replica_labels, nreplica)) keep[k++] = ext->v[i];
    /* Thanos's ReplicaLabelRemover: a stream must keep some label, so one
     * made only of replica labels becomes <first replica label>="deduped". */
    if (k == 0 && nreplica > 0) keep[k++] = st_label(replica_labels[0], "deduped");
    int rc = st_labels_from_pairs(out, keep, k);
    free(keep);
    return rc;
}

void st_compact_group_key(const st_labels_t *group_labels, int64_t resolution, char *buf, size_t cap) {
    if (cap == 0) return;
    snprintf(buf, cap, "%" PRId64 "@%" PRIu64, resolution, st_labels_hash(group_labels));
}

/* ---- the planner ---- */

typedef struct {
    const st_meta_t *m;
    size_t idx;
    bool no_compact;
} ent_t;

static int ent_cmp(const void *x, const void *y) {
    const ent_t *a = x, *b = y;
    if (a->m->min_time != b->m->min_time) return a->m->min_time < b->m->min_time ? -1 : 1;
    return st_ulid_cmp(&a->m->ulid, &b->m->ulid);
}

/* Blocks overlapping in time: the first pair that overlaps and everything
 * chained to it by overlap, in min-time order. */
static size_t select_overlapping(const ent_t *const *a, size_t n, const ent_t **out) {
    if (n < 2) return 0;
    size_t k = 0;
    int64_t global_max = a[0]->m->max_time;
    for (size_t i = 1; i < n; i++) {
        if (a[i]->m->min_time < global_max) {
            if (k == 0) out[k++] = a[i - 1];
            out[k++] = a[i];
        } else if (k > 0) {
            break;
        }
        if (a[i]->m->max_time > global_max) global_max = a[i]->m->max_time;
    }
    return k;
}

/* End of the aligned range of size tr holding t: floor division, so a
 * negative time belongs to the range below zero; saturates at the ends
 * of int64 instead of wrapping. */
static int64_t aligned_end(int64_t t, int64_t tr) {
    int64_t q = t / tr;
    if (t % tr != 0 && t < 0) q--;
    int64_t start, end;
    if (__builtin_mul_overflow(q, tr, &start)) start = INT64_MIN;
    if (__builtin_add_overflow(start, tr, &end)) end = INT64_MAX;
    return end;
}

/* max - min, saturated: a block too long for int64 spans every range. */
static int64_t span(int64_t min, int64_t max) {
    int64_t d;
    if (__builtin_sub_overflow(max, min, &d)) return INT64_MAX;
    return d;
}

/* Step 2 over a (min-time order, newest block already left out): returns
 * the plan's first element's offset in a and its length in *len. */
static bool select_by_ranges(const ent_t *const *a, size_t n, const int64_t *ranges, size_t nranges, size_t *off,
                             size_t *len) {
    if (nranges < 2 || n < 1) return false;
    int64_t high = a[n - 1]->m->min_time;
    for (size_t r = 1; r < nranges; r++) {
        int64_t iv = ranges[r];
        for (size_t i = 0; i < n;) {
            int64_t end = aligned_end(a[i]->m->min_time, iv);
            /* Misaligned, or already as long as the range (or longer). */
            if (a[i]->m->max_time > end) {
                i++;
                continue;
            }
            size_t j = i;
            while (j < n && a[j]->m->max_time <= end) j++;
            size_t p = i, plen = j - i;
            i = j;

            bool failed = false;
            for (size_t k = p; k < p + plen; k++) failed |= a[k]->m->failed;
            if (failed || plen < 2) continue;
            int64_t mint = a[p]->m->min_time, maxt = a[p + plen - 1]->m->max_time;
            /* Wait while another block of this size could still land in
             * the range, unless newer data already exists past it. */
            if (span(mint, maxt) != iv && maxt > high) continue;

            size_t from = p;
            for (size_t k = p; k < p + plen; k++) {
                if (!a[k]->no_compact) continue;
                if (k - from > 1) {
                    *off = from;
                    *len = k - from;
                    return true;
                }
                from = k + 1;
            }
            if (p + plen - from > 1) {
                *off = from;
                *len = p + plen - from;
                return true;
            }
        }
    }
    return false;
}

static int emit(const ent_t *const *a, size_t n, size_t **out, size_t *nout) {
    size_t *v = malloc(n * sizeof(*v));
    if (!v) return st_errorf(ST_ENOMEM, "compact: plan: allocating %zu indexes", n);
    for (size_t i = 0; i < n; i++) v[i] = a[i]->idx;
    *out = v;
    *nout = n;
    return ST_OK;
}

int st_compact_plan(const st_meta_t *metas, size_t n, const bool *no_compact, const int64_t *ranges,
                    size_t nranges, size_t **out, size_t *nout) {
    *out = NULL;
    *nout = 0;
    if (!ranges || nranges == 0) return st_errorf(ST_EINVAL, "compact: plan: no block ranges");
    for (size_t r = 0; r < nranges; r++)
        if (ranges[r] <= 0 || (r > 0 && ranges[r] < ranges[r - 1]))
            return st_errorf(ST_EINVAL, "compact: plan: block range %zu (%" PRId64 " ms) not positive and ascending",
                             r, ranges[r]);
    if (n == 0) return ST_OK;

    int rc = ST_OK;
    ent_t *ents = malloc(n * sizeof(*ents));
    /* all: every block by min time; unmarked: those without no-compact;
     * sel: scratch for the overlap selection. */
    const ent_t **all = malloc(3 * n * sizeof(*all));
    if (!ents || !all) {
        rc = st_errorf(ST_ENOMEM, "compact: plan: allocating for %zu blocks", n);
        goto out;
    }
    const ent_t **unmarked = all + n, **sel = all + 2 * n;
    for (size_t i = 0; i < n; i++) ents[i] = (ent_t){&metas[i], i, no_compact && no_compact[i]};
    qsort(ents, n, sizeof(*ents), ent_cmp);
    size_t nunmarked = 0;
    for (size_t i = 0; i < n; i++) {
        all[i] = &ents[i];
        if (!ents[i].no_compact) unmarked[nunmarked++] = &ents[i];
    }

    size_t k = select_overlapping(unmarked, nunmarked, sel);
    if (k > 0) {
        rc = emit(sel, k, out, nout);
        goto out;
    }

    /* The newest block is left out: it may just have been uploaded, and
     * this leaves a block's length of time to repair it by hand. */
    if (!all[n - 1]->no_compact) nunmarked--;
    size_t off, len;
    if (select_by_ranges(all, n - 1, ranges, nranges, &off, &len)) {
        rc = emit(all + off, len, out, nout);
        goto out;
    }

    for (size_t i = nunmarked; i-- > 0;) {
        const st_meta_t *m = unmarked[i]->m;
        if (span(m->min_time, m->max_time) < ranges[nranges / 2]) break;
        if ((double)m->num_tombstones / ((double)m->num_series + 1.0) > 0.05) {
            rc = emit(&unmarked[i], 1, out, nout);
            goto out;
        }
    }

out:
    free(ents);
    free(all);
    return rc;
}

/* ---- redundant blocks ---- */

typedef struct {
    const st_meta_t *m;
    const char *key;
    st_ulid_t *src; /* sorted, unique: a view into one shared array */
    size_t nsrc;
    size_t idx;
} red_t;

static int ulid_cmp_v(const void *x, const void *y) { return st_ulid_cmp(x, y); }

/* Thanos's order: by group, then most sources first (as listed, repeats
 * counted), then ULID; a block is only ever covered by an earlier one. */
static int red_cmp(const void *x, const void *y) {
    const red_t *a = x, *b = y;
    int c = strcmp(a->key, b->key);
    if (c) return c;
    if (a->m->nsources != b->m->nsources) return a->m->nsources > b->m->nsources ? -1 : 1;
    return st_ulid_cmp(&a->m->ulid, &b->m->ulid);
}

static bool subset(const red_t *child, const red_t *parent) {
    size_t j = 0;
    for (size_t i = 0; i < child->nsrc; i++) {
        while (j < parent->nsrc && st_ulid_cmp(&parent->src[j], &child->src[i]) < 0) j++;
        if (j == parent->nsrc || st_ulid_cmp(&parent->src[j], &child->src[i]) != 0) return false;
    }
    return true;
}

int st_compact_find_redundant(const st_meta_t *metas, const char *const *group_keys, size_t n, bool *redundant) {
    if (n == 0) return ST_OK;
    int rc = ST_OK;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += metas[i].nsources;
    red_t *r = malloc(n * sizeof(*r));
    size_t *cover = malloc(n * sizeof(*cover));
    st_ulid_t *pool = malloc((total ? total : 1) * sizeof(*pool));
    if (!r || !cover || !pool) {
        rc = st_errorf(ST_ENOMEM, "compact: redundant blocks: allocating for %zu blocks, %zu sources", n, total);
        goto out;
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        st_ulid_t *s = pool + at;
        size_t ns = metas[i].nsources;
        if (ns) memcpy(s, metas[i].sources, ns * sizeof(*s));
        qsort(s, ns, sizeof(*s), ulid_cmp_v);
        size_t u = 0;
        for (size_t j = 0; j < ns; j++)
            if (u == 0 || st_ulid_cmp(&s[u - 1], &s[j]) != 0) s[u++] = s[j];
        r[i] = (red_t){&metas[i], group_keys ? group_keys[i] : "", s, u, i};
        at += ns;
        redundant[i] = false;
    }
    qsort(r, n, sizeof(*r), red_cmp);

    /* cover: the blocks of the current group kept so far; what one of them
     * covers transitively is covered by a kept block too. */
    size_t ncover = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(r[i].key, r[i - 1].key) != 0) ncover = 0;
        bool covered = false;
        for (size_t c = 0; c < ncover && !covered; c++) covered = subset(&r[i], &r[cover[c]]);
        if (covered) redundant[r[i].idx] = true;
        else cover[ncover++] = i;
    }

out:
    free(r);
    free(cover);
    free(pool);
    return rc;
}
