/*
 * TSDB internals shared by head.c (series, symbols, postings, chunks, GC),
 * headread.c (selecting from the head, cutting blocks), appender.c and
 * db.c (open, replay, compaction, retention, blocks).
 *
 * Memory per head series is what the scraper's RSS is made of, so the
 * structures are compact: label strings are interned once (hsym_t) and a
 * series holds pointers to them; series are addressed by a dense uint32
 * slot (renumbered, order-preserving, at every GC) in the postings lists
 * and hash tables; the open chunk grows in small steps and a closed chunk
 * is trimmed to its exact size.
 *
 * Locking (see ARCHITECTURE.md for the whole picture):
 *   app_mu   held by the one open appender (st_db_appender .. commit/
 *            rollback) and by head GC: whoever holds it is the only thread
 *            that changes the head's index, so it may read it unlocked;
 *   lock     rwlock over the index (symbols, slots, tables, postings):
 *            readers take it shared to resolve matchers and pin series,
 *            the app_mu holder takes it exclusive only to change it;
 *   series spinlock (hseries_t.lock) over one series' chunks: taken by
 *            commit to append, by readers to copy chunk bytes, by GC to
 *            drop old chunks;
 *   refs     a series is freed when its count drops to 0: the head holds
 *            one reference until GC removes the series, each reader
 *            (select, block cut) one while it uses it. A removed series'
 *            symbols stay referenced until it is freed.
 */
#ifndef STRATA_TSDB_INT_H
#define STRATA_TSDB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "strata/block.h"
#include "strata/chunkenc.h"
#include "strata/matcher.h"
#include "strata/tsdb.h"
#include "strata/wal.h"

/* An interned label name or value. */
typedef struct {
    uint64_t hash;
    uint32_t refs; /* label slots of series pointing here; 0 = swept at the next GC */
    uint32_t mark; /* block-cut epoch that last collected it as a symbol */
    uint32_t len;
    char s[]; /* NUL-terminated */
} hsym_t;

/* A closed (full) chunk, trimmed to its size. */
typedef struct {
    int64_t mint, maxt;
    uint8_t *data;
    uint32_t len;
} hchunk_t;

typedef struct {
    uint64_t ref;  /* WAL series ref */
    uint64_t hash; /* st_labels_hash of the labels */
    hchunk_t *closed;
    st_xor_appender_t app; /* the open chunk; app.buf == NULL when none */
    int64_t open_mint;     /* first timestamp of the open chunk */
    int64_t next_at;       /* chunk cut rule state (chunkcut.h) */
    atomic_uint refs;
    uint32_t nclosed;
    uint32_t pend_gen, pend_idx; /* last sample staged by appender generation pend_gen */
    uint16_t nlabels;
    atomic_flag lock;
    bool dead; /* removed from the head by GC (set under the exclusive lock) */
    const hsym_t *lbl[]; /* name, value, name, value, ... sorted by name */
} hseries_t;

/* ref -> series; aliases (a second ref of the same labels, from replay)
 * included. Key and value side by side: one cache miss per lookup. */
typedef struct {
    uint64_t ref; /* 0 = empty */
    hseries_t *s;
} refent_t;

/* Open addressing over uint32 indices (stored +1; 0 = empty), linear
 * probing, power-of-two capacity, load <= 3/4. */
typedef struct {
    uint32_t *v;
    size_t cap;
} itab_t;

/* Series slots having one label pair, ascending. */
typedef struct {
    const hsym_t *name, *value;
    uint32_t *ids;
    uint32_t n, cap;
} plist_t;

/* The plists of one label name (for regex and != matchers). */
typedef struct {
    const hsym_t *name;
    uint32_t *plists;
    uint32_t n, cap;
} lname_t;

typedef struct {
    pthread_rwlock_t lock;
    int64_t chunk_range;

    hsym_t **syms;
    uint32_t nsyms, capsyms;
    itab_t symtab; /* -> syms, by string hash */

    hseries_t **series; /* dense slots */
    uint32_t nseries, capseries;
    itab_t lbltab; /* -> slot, by label hash */

    refent_t *refs;
    size_t refcap, nrefs;

    plist_t *plists;
    uint32_t nplists, capplists;
    itab_t ptab; /* -> plists, by (name, value) */
    lname_t *names;
    uint32_t nnames, capnames;
    itab_t ntab; /* -> names, by name */

    uint32_t cut_epoch;
    atomic_int_fast64_t min_time, max_time; /* of the samples in the head; INT64_MAX / INT64_MIN when empty */
    atomic_uint_fast64_t nchunks;
} head_t;

int st__head_init(head_t *h, int64_t chunk_range);
void st__head_free(head_t *h);

/* Lookups: shared lock, or the app_mu holder. NULL when absent. */
hseries_t *st__head_by_ref(const head_t *h, uint64_t ref);
hseries_t *st__head_by_labels(const head_t *h, const st_labels_t *l, uint64_t hash);
/* Create a series (app_mu holder; takes the exclusive lock itself). */
int st__head_create(head_t *h, const st_labels_t *l, uint64_t hash, uint64_t ref, hseries_t **out);
/* Map one more ref to an existing series (replay of a duplicate record). */
int st__head_alias(head_t *h, uint64_t ref, hseries_t *s);
/* Append a sample newer than the series' last one (caller holds the
 * series spinlock or is the only thread touching the series). */
int st__series_append(head_t *h, hseries_t *s, int64_t t, double v);
/* Last committed timestamp; false when the series has no samples. */
static inline bool st__series_last(const hseries_t *s, int64_t *t, uint64_t *vbits) {
    if (!s->app.buf || s->app.num == 0) return false;
    *t = s->app.t;
    *vbits = s->app.vbits;
    return true;
}
void st__series_lock(hseries_t *s);
void st__series_unlock(hseries_t *s);
void st__series_release(head_t *h, hseries_t *s);
/* Drop chunks ending before mint and the series left without any
 * (app_mu holder). Recomputes min_time. */
int st__head_gc(head_t *h, int64_t mint);

/* Slots of the series matching ms, ascending (shared lock held). */
int st__head_postings(const head_t *h, const st_matchers_t *ms, st_postings_t *out);

static inline void st__atomic_min(atomic_int_fast64_t *a, int64_t v) {
    int_fast64_t cur = atomic_load(a);
    while (v < cur && !atomic_compare_exchange_weak(a, &cur, v)) {
    }
}

static inline void st__atomic_max(atomic_int_fast64_t *a, int64_t v) {
    int_fast64_t cur = atomic_load(a);
    while (v > cur && !atomic_compare_exchange_weak(a, &cur, v)) {
    }
}

/* Strings collected from several sources, sorted and deduplicated when
 * done (labelquery.c). Memory stays within about twice the distinct
 * strings: the list is deduplicated whenever it fills up. */
typedef struct {
    char **v;
    size_t n, cap;
} strset_t;
int st__strset_add(strset_t *s, const char *p, size_t len); /* copies */
/* Sort, dedup and hand over to *out (s is left empty). */
void st__strset_finish(strset_t *s, st_db_strings_t *out);
void st__strset_free(strset_t *s);

/* Label names, or the values of label `name`, of the head series matching
 * ms (every series when ms is NULL), added to out. Takes the shared lock. */
int st__head_label_names(head_t *h, const st_matchers_t *ms, strset_t *out);
int st__head_label_values(head_t *h, const char *name, const st_matchers_t *ms, strset_t *out);

/* Readers (headread.c). Matching series of the head with samples in
 * [mint, maxt], as a set holding series references. */
int st__head_select(head_t *h, const st_matchers_t *ms, int64_t mint, int64_t maxt, st_series_set_t **out);
/* Write the head's chunks that end before w1 as a level-1 block under dir
 * with meta range [w0, w1) (w0 lowered to the oldest chunk if that is
 * older, which only negative timestamps can cause: chunk windows truncate
 * towards zero, as in Prometheus). *out_dir = NULL when there is no data. */
int st__head_write_block(head_t *h, const char *dir, int64_t w0, int64_t w1, char **out_dir);

/* ---- the database ---- */

typedef struct {
    st_block_t *b;
    char *dir; /* where the directory is now (renamed when deleted) */
    atomic_uint refs;
    bool deleted;
} dbblock_t;

struct st_appender {
    st_db_t *db;
    uint32_t gen;
    st_wal_sample_t *samples;
    hseries_t **sser;
    size_t n, cap;
    hseries_t **created;
    size_t ncreated, capcreated;
    st_encbuf_t enc;
};

struct st_db {
    st_db_opts_t opts;
    char *path;
    int lock_fd;
    char *lock_path;

    head_t head;
    pthread_mutex_t app_mu;
    st_appender_t app; /* reused by every appender */
    uint32_t app_gen;
    uint64_t last_ref;
    atomic_int_fast64_t min_valid_time;

    st_wal_t *wal;
    pthread_t sync_thread;
    bool sync_running;
    pthread_mutex_t sync_mu;
    pthread_cond_t sync_cv;
    bool sync_stop;

    pthread_mutex_t blocks_mu;
    dbblock_t **blocks; /* sorted by minTime */
    size_t nblocks;

    pthread_mutex_t compact_mu;

    atomic_uint_fast64_t samples_appended, out_of_order, compactions, compaction_failures, wal_corruptions;
};

void st__db_block_release(dbblock_t *b);

#endif
