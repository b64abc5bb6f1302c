/* Label sets; ordering and ownership rules are in labels.h. */
#include "strata/labels.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack */
#include <xxhash.h>

#include "strata/err.h"

int st_bytes_cmp(const char *a, size_t alen, const char *b, size_t blen) {
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c) return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int label_name_cmp(const void *x, const void *y) {
    const st_label_t *a = x, *b = y;
    return st_bytes_cmp(a->name, a->name_len, b->name, b->name_len);
}

/* Copy n pairs (already in final order) into one owned block. */
static int labels_pack(st_labels_t *out, const st_label_t *pairs, size_t n) {
    out->v = NULL;
    out->n = 0;
    if (n == 0) return ST_OK;
    size_t bytes = n * sizeof(st_label_t);
    for (size_t i = 0; i < n; i++) bytes += pairs[i].name_len + pairs[i].value_len + 2;
    st_label_t *v = malloc(bytes);
    if (!v) return st_errorf(ST_ENOMEM, "labels: allocating %zu bytes", bytes);
    char *s = (char *)(v + n);
    for (size_t i = 0; i < n; i++) {
        v[i].name = s;
        v[i].name_len = pairs[i].name_len;
        memcpy(s, pairs[i].name, pairs[i].name_len);
        s += pairs[i].name_len;
        *s++ = 0;
        v[i].value = s;
        v[i].value_len = pairs[i].value_len;
        memcpy(s, pairs[i].value, pairs[i].value_len);
        s += pairs[i].value_len;
        *s++ = 0;
    }
    out->v = v;
    out->n = n;
    return ST_OK;
}

int st_labels_from_pairs(st_labels_t *out, const st_label_t *pairs, size_t n) {
    out->v = NULL;
    out->n = 0;
    st_label_t stackbuf[32];
    st_label_t *tmp = n <= 32 ? stackbuf : malloc(n * sizeof *tmp);
    if (!tmp) return st_errorf(ST_ENOMEM, "labels: allocating %zu pairs", n);
    size_t m = 0;
    int rc = ST_OK;
    for (size_t i = 0; i < n; i++) {
        if (pairs[i].name_len == 0) {
            rc = st_errorf(ST_EINVAL, "labels: empty label name");
            goto out;
        }
        if (pairs[i].value_len > 0) tmp[m++] = pairs[i];
    }
    qsort(tmp, m, sizeof *tmp, label_name_cmp);
    for (size_t i = 1; i < m; i++) {
        if (label_name_cmp(&tmp[i - 1], &tmp[i]) == 0) {
            rc = st_errorf(ST_EINVAL, "labels: label name \"%.*s\" is not unique", (int)tmp[i].name_len, tmp[i].name);
            goto out;
        }
    }
    rc = labels_pack(out, tmp, m);
out:
    if (tmp != stackbuf) free(tmp);
    return rc;
}

int st_labels_from_sorted(st_labels_t *out, const st_label_t *pairs, size_t n) {
#ifndef NDEBUG
    for (size_t i = 1; i < n; i++) assert(label_name_cmp(&pairs[i - 1], &pairs[i]) < 0);
#endif
    return labels_pack(out, pairs, n);
}

int st_labels_copy(st_labels_t *out, const st_labels_t *in) { return labels_pack(out, in->v, in->n); }

static bool name_listed(const st_label_t *l, const char *const *names, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (strlen(names[k]) == l->name_len && memcmp(names[k], l->name, l->name_len) == 0) return true;
    return false;
}

int st_labels_without(st_labels_t *out, const st_labels_t *in, const char *const *names, size_t n) {
    out->v = NULL;
    out->n = 0;
    size_t first = 0;
    while (first < in->n && !name_listed(&in->v[first], names, n)) first++;
    if (first == in->n) return labels_pack(out, in->v, in->n); /* the common case: nothing to take off */
    st_label_t stackbuf[32] = {{0}};
    st_label_t *keep = in->n <= 32 ? stackbuf : malloc(in->n * sizeof *keep);
    if (!keep) return st_errorf(ST_ENOMEM, "labels: allocating %zu pairs", in->n);
    memcpy(keep, in->v, first * sizeof *keep);
    size_t m = first;
    for (size_t i = first + 1; i < in->n; i++)
        if (!name_listed(&in->v[i], names, n)) keep[m++] = in->v[i];
    int rc = labels_pack(out, keep, m);
    if (keep != stackbuf) free(keep);
    return rc;
}

void st_labels_free(st_labels_t *l) {
    if (!l) return;
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int st_labels_cmp(const st_labels_t *a, const st_labels_t *b) {
    size_t n = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < n; i++) {
        const st_label_t *x = &a->v[i], *y = &b->v[i];
        int c = st_bytes_cmp(x->name, x->name_len, y->name, y->name_len);
        if (c) return c;
        c = st_bytes_cmp(x->value, x->value_len, y->value, y->value_len);
        if (c) return c;
    }
    return a->n < b->n ? -1 : a->n > b->n ? 1 : 0;
}

bool st_labels_equal(const st_labels_t *a, const st_labels_t *b) { return st_labels_cmp(a, b) == 0; }

uint64_t st_labels_hash(const st_labels_t *l) {
    static const char sep = '\xff';
    XXH64_state_t st;
    XXH64_reset(&st, 0);
    for (size_t i = 0; i < l->n; i++) {
        XXH64_update(&st, l->v[i].name, l->v[i].name_len);
        XXH64_update(&st, &sep, 1);
        XXH64_update(&st, l->v[i].value, l->v[i].value_len);
        XXH64_update(&st, &sep, 1);
    }
    return XXH64_digest(&st);
}

const st_label_t *st_labels_get(const st_labels_t *l, const char *name) {
    size_t nlen = strlen(name);
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = st_bytes_cmp(l->v[mid].name, l->v[mid].name_len, name, nlen);
        if (c == 0) return &l->v[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}
