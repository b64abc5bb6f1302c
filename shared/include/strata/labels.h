/*
 * labels.h — label sets: the identity of a series.
 *
 * An st_labels_t is sorted by name, has unique names and no empty values
 * (Prometheus treats an empty value as "label absent"). It owns one
 * allocation holding the label array and all strings; strings are
 * NUL-terminated and carry their length. Copying the struct does not copy
 * the allocation: exactly one owner calls st_labels_free().
 *
 * Ordering is Prometheus's labels.Compare: pairwise by name, then value,
 * bytewise; a prefix set sorts first. This is also the order of series in
 * an index.
 */
#ifndef STRATA_LABELS_H
#define STRATA_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ST_METRIC_NAME "__name__"

typedef struct {
    const char *name;
    const char *value;
    size_t name_len;
    size_t value_len;
} st_label_t;

typedef struct {
    st_label_t *v; /* owned block: array followed by string bytes; NULL when n == 0 */
    size_t n;
} st_labels_t;

/* Build a label set from borrowed pairs (any order). Pairs with an empty
 * value are dropped; a repeated name is ST_EINVAL; an empty name is
 * ST_EINVAL. On success *out owns a fresh copy. */
int st_labels_from_pairs(st_labels_t *out, const st_label_t *pairs, size_t n);
/* Same as above for pairs known to be sorted, unique and non-empty (index
 * decoding): no sorting or checks beyond a debug assert. */
int st_labels_from_sorted(st_labels_t *out, const st_label_t *pairs, size_t n);
int st_labels_copy(st_labels_t *out, const st_labels_t *in);
/* *out (owned) = in minus the labels named names[0..n) (replica labels
 * stripped for deduplication); a plain copy when none is present. */
int st_labels_without(st_labels_t *out, const st_labels_t *in, const char *const *names, size_t n);
void st_labels_free(st_labels_t *l); /* frees the block, zeroes *l; l may be NULL */

int st_labels_cmp(const st_labels_t *a, const st_labels_t *b);
bool st_labels_equal(const st_labels_t *a, const st_labels_t *b);
/* xxhash64 over name\xffvalue\xff...; stable across runs and hosts. */
uint64_t st_labels_hash(const st_labels_t *l);
/* Borrowed pointer to the value of `name`, or NULL. */
const st_label_t *st_labels_get(const st_labels_t *l, const char *name);

/* Byte compare of two (ptr,len) strings: memcmp order, shorter first. */
int st_bytes_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* A borrowed pair from two C strings. */
static inline st_label_t st_label(const char *name, const char *value) {
    st_label_t l = {name, value, strlen(name), strlen(value)};
    return l;
}

#endif
