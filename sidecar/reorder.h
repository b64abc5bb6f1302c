/*
 * reorder.h — keep the sidecar's Series stream sorted after the external
 * labels are applied, holding back only the series that may still be
 * overtaken.
 *
 * Prometheus streams remote-read series sorted by their stored labels R
 * and adds its external labels E where a series lacks them (its own label
 * wins). The StoreAPI wants the order of F = R with E added, E winning
 * (Thanos's ExtendSortedLabels). The two orders differ in two ways:
 *   - a prefix: R_a = {a="1"} < R_b = {a="1",b="2"}, but with E = {c="e"}
 *     F_b = {a="1",b="2",c="e"} < F_a = {a="1",c="e"};
 *   - an override: a stored label named like an external one (honor_labels)
 *     is replaced, which can move the series anywhere.
 * Thanos buffers and sorts every response. Instead, for each arriving
 * series S a lower bound LB(S) of F over every series still to come is
 * computed, and held series with F <= LB(S) are sent. With Q the longest
 * prefix of R_S holding no label named like an external one,
 *   LB(S) = Q merged with the external labels named below Q's last name
 * (empty when Q is). Why it holds, for any later series Y (R_Y > R_S):
 *   - R_Y starts with Q: F_Y starts with exactly LB(S), so F_Y >= LB(S);
 *   - R_Y departs from R_S at a position k inside Q, R_Y[k] > R_S[k]:
 *     F_Y and LB(S) agree on every label named below R_S[k]'s name; next
 *     LB(S) has R_S[k] while F_Y has R_Y[k] (greater), or an external
 *     label or a later label of Y (both named above it): F_Y > LB(S).
 * Which labels of the received set P are stored ones? A label named like
 * an external one with a different value is; with the same value it may
 * be either. In exact mode the caller has established that no stored
 * label is named like an external one (Prometheus's /api/v1/labels over
 * the range), so Q is all of P but its external-named labels, and a
 * series usually waits for the next one at most. Otherwise (conservative
 * mode) Q ends before P's first external-named label, which holds series
 * back longer (e.g. per metric name) but is always right. A third mode
 * holds every series until the end and sends them sorted (Thanos's way,
 * bounded by max_held_bytes): for a caller that changed the received
 * labels in a way the bound cannot follow (replica labels stripped where
 * a stored label may carry such a name).
 *
 * Every F sent is checked against the previous one: a source that breaks
 * its own order (or a stored external-named label that appeared after the
 * caller looked) is reported as ST_ECORRUPT, never sent out of order.
 */
#ifndef STRATA_SIDECAR_REORDER_H
#define STRATA_SIDECAR_REORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/labels.h"
#include "strata/storeapi.h"

/* Receives series in final order; labels and chunk bytes are valid during
 * the call only. Returns 0, or non-zero to stop (passed back to the
 * caller of reorder_add / reorder_flush). */
typedef int (*reorder_emit_fn)(void *ctx, const st_labels_t *lbls, const st_store_chunk_t *chunks, size_t n);

typedef struct held held_t;

typedef enum { REORDER_CONSERVATIVE, REORDER_EXACT, REORDER_HOLD_ALL } reorder_mode_t;

typedef struct {
    const st_labels_t *ext; /* borrowed, sorted */
    reorder_mode_t mode;
    size_t max_held_bytes; /* held label + chunk bytes; more is ST_ELIMIT */
    reorder_emit_fn emit;
    void *ctx;
    /* state */
    held_t **held; /* sorted by F, arrival order among equals */
    size_t nheld, capheld, held_bytes;
    uint64_t seq; /* arrival number of the next held series */
    st_labels_t last; /* last F sent, for the order check */
    bool sent_any;
    st_label_t *scratch;
    size_t scratch_cap;
    size_t max_held_seen; /* most series still held after an add (tests, logs) */
} reorder_t;

void reorder_init(reorder_t *r, const st_labels_t *ext, reorder_mode_t mode, size_t max_held_bytes,
                  reorder_emit_fn emit, void *ctx);
/* One series as received (p: the source's labels, sorted). chunks are
 * borrowed; they are copied only when the series has to wait. */
int reorder_add(reorder_t *r, const st_labels_t *p, const st_store_chunk_t *chunks, size_t n);
/* End of the source: send everything held. */
int reorder_flush(reorder_t *r);
void reorder_free(reorder_t *r); /* NULL ok */

#endif
