/*
 * relabel.h — Prometheus relabeling (relabel_configs, metric_relabel_configs,
 * --selector.relabel-config), with Prometheus 2.42's semantics:
 *
 *   - the values of source_labels (a missing label is "") are joined with
 *     separator (default ";");
 *   - regex (default "(.*)") is fully anchored: "^(?:REGEX)$";
 *   - replacement (default "$1") and, for replace, target_label are expanded
 *     like Go's Regexp.Expand: $1, ${1}, $name, ${name}, $$ for "$"; a
 *     reference to a group that did not take part expands to "";
 *   - replace: no match -> no change; an expanded target that is not a valid
 *     label name -> no change; an empty result deletes the target label;
 *   - keep / drop: on the joined value; keepequal / dropequal: the joined
 *     value against the value of target_label;
 *   - hashmod: target = (last 8 bytes of md5(joined value), big-endian) mod
 *     modulus, in decimal;
 *   - lowercase / uppercase: target = the joined value with ASCII letters
 *     case-mapped (Go maps all of Unicode; non-ASCII bytes are kept here);
 *   - labelmap: for every label whose name matches, set the expanded
 *     replacement to its value (originals are kept); labeldrop / labelkeep:
 *     remove the labels whose name matches / does not match.
 * Rules apply in order, each to the output of the previous one; a label set
 * that a rule drops stays dropped. Setting a label to "" removes it.
 *
 * Regexes use PCRE2 with the options matcher.h documents (Go RE2 semantics
 * where they differ in ways that matter).
 *
 * A compiled st_relabel_t is immutable and may be used by several threads at
 * once.
 */
#ifndef STRATA_RELABEL_H
#define STRATA_RELABEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/labels.h"

typedef enum {
    ST_RELABEL_REPLACE = 0,
    ST_RELABEL_KEEP,
    ST_RELABEL_DROP,
    ST_RELABEL_KEEPEQUAL,
    ST_RELABEL_DROPEQUAL,
    ST_RELABEL_HASHMOD,
    ST_RELABEL_LABELMAP,
    ST_RELABEL_LABELDROP,
    ST_RELABEL_LABELKEEP,
    ST_RELABEL_LOWERCASE,
    ST_RELABEL_UPPERCASE
} st_relabel_action_t;

/* One rule as written in YAML. NULL strings mean "not set" (the default). */
typedef struct {
    const char *const *source_labels;
    size_t n_source_labels;
    const char *separator;    /* NULL = ";" */
    const char *regex;        /* NULL = "(.*)" */
    uint64_t modulus;
    const char *target_label; /* NULL = "" */
    const char *replacement;  /* NULL = "$1" */
    st_relabel_action_t action;
} st_relabel_spec_t;

typedef struct st_relabel st_relabel_t;

/* Validate and compile n rules (as Prometheus's Config.Validate: e.g.
 * replace needs a target_label matching the label/template syntax, hashmod
 * a non-zero modulus, labeldrop/labelkeep nothing but regex). Errors are
 * ST_EINVAL with "relabel rule N (action): ..." in the detail, N 1-based.
 * n == 0 gives a valid empty rule list. */
int st_relabel_new(st_relabel_t **out, const st_relabel_spec_t *specs, size_t n);
void st_relabel_free(st_relabel_t *r); /* NULL ok */
size_t st_relabel_len(const st_relabel_t *r); /* 0 for NULL */

/* Apply the rules to the labels in[0..n) (any order, unique names; an
 * empty value counts as absent). On success *keep tells whether the set
 * survived; when it did, *out owns the resulting (sorted) set, otherwise
 * *out is empty. r may be NULL (no rules: in is only normalised). */
int st_relabel_process(const st_relabel_t *r, const st_label_t *in, size_t n, st_labels_t *out, bool *keep);

/* "replace" -> ST_RELABEL_REPLACE ...; ST_EINVAL for an unknown word.
 * Prometheus accepts the action in any letter case. */
int st_relabel_action_parse(const char *s, st_relabel_action_t *out);
const char *st_relabel_action_name(st_relabel_action_t a);

/* Prometheus's model.LabelName.IsValid: [a-zA-Z_][a-zA-Z0-9_]*. */
bool st_label_name_valid(const char *s, size_t n);

#endif
