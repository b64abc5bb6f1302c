/*
 * gen_stale_block DIR [NAME=VALUE] — writes one block into DIR holding series
 * that end with Prometheus's stale marker (NaN with bits 0x7ff0000000000002),
 * which OpenMetrics input cannot express, for the PromQL comparison against
 * Prometheus (lib_eval.sh). Series strata_stale{case=...} (plus NAME=VALUE
 * when given: the oracle's copy of data whose other copy gets it as an
 * external label), samples every 15 s from 1700000000 (Unix seconds):
 *   ends     values until 1700004000, a stale marker 15 s later, nothing after
 *   gap      the same, then values again from 1700005000 to 1700008000
 *   twice    stale markers at 1700004015 and 1700004030
 *   first    a stale marker as the very first sample, then values
 *   late     values from 1700006000, stale at 1700007000, values 1700007300..1700007600
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/block.h"
#include "strata/err.h"
#include "strata/labels.h"

static double stale(void) {
    uint64_t u = 0x7ff0000000000002ULL;
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static st_label_t extra;
static size_t nextra;

static int case_labels(st_labels_t *l, const char *c) {
    st_label_t pairs[] = {st_label("__name__", "strata_stale"), st_label("case", c), extra};
    return st_labels_from_pairs(l, pairs, 2 + nextra);
}

static int add(st_block_builder_t *b, const char *c, int64_t from, int64_t to, int64_t stale_at, int64_t from2,
               int64_t to2) {
    st_labels_t l;
    int rc = case_labels(&l, c);
    if (rc) return rc;
    double v = 0;
    for (int64_t t = from; t <= to && !rc; t += 15) rc = st_block_builder_append(b, &l, t * 1000, v += 1.5);
    if (!rc && stale_at) rc = st_block_builder_append(b, &l, stale_at * 1000, stale());
    for (int64_t t = from2; from2 && t <= to2 && !rc; t += 15) rc = st_block_builder_append(b, &l, t * 1000, v += 2);
    st_labels_free(&l);
    return rc;
}

int main(int argc, char **argv) {
    const char *eq = argc == 3 ? strchr(argv[2], '=') : NULL;
    if ((argc != 2 && argc != 3) || (argc == 3 && (!eq || eq == argv[2] || !eq[1]))) {
        fprintf(stderr, "usage: gen_stale_block DIR [NAME=VALUE]\n");
        return 2;
    }
    if (eq) {
        extra = (st_label_t){argv[2], eq + 1, (size_t)(eq - argv[2]), strlen(eq + 1)};
        nextra = 1;
    }
    st_block_builder_t *b;
    char *dir = NULL;
    int rc = st_block_builder_new(&b, ST_DEFAULT_BLOCK_DURATION_MS * 6);
    if (rc) goto out;
    const int64_t s = 1700000000;
    if ((rc = add(b, "ends", s, s + 4000, s + 4015, 0, 0)) || (rc = add(b, "gap", s, s + 4000, s + 4015, s + 5000, s + 8000)))
        goto out;
    {
        st_labels_t l;
        if ((rc = case_labels(&l, "twice"))) goto out;
        for (int64_t t = s; t <= s + 4000 && !rc; t += 15) rc = st_block_builder_append(b, &l, t * 1000, 7);
        if (!rc) rc = st_block_builder_append(b, &l, (s + 4015) * 1000, stale());
        if (!rc) rc = st_block_builder_append(b, &l, (s + 4030) * 1000, stale());
        st_labels_free(&l);
        if (rc) goto out;
    }
    {
        st_labels_t l;
        if ((rc = case_labels(&l, "first"))) goto out;
        rc = st_block_builder_append(b, &l, s * 1000, stale());
        for (int64_t t = s + 15; t <= s + 6000 && !rc; t += 15) rc = st_block_builder_append(b, &l, t * 1000, 3);
        st_labels_free(&l);
        if (rc) goto out;
    }
    if ((rc = add(b, "late", s + 6000, s + 6990, s + 7000, s + 7300, s + 7600))) goto out;
    rc = st_block_builder_write(b, argv[1], &dir);
out:
    if (rc) fprintf(stderr, "gen_stale_block: %s\n", st_errdetail(rc));
    else printf("%s\n", dir);
    free(dir);
    st_block_builder_free(b);
    return rc ? 1 : 0;
}
