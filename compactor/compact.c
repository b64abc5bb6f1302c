/* Compaction of the groups: up to --compact.concurrency workers, each
 * taking the next group and compacting it until its plan is empty:
 *
 *   plan -> download the sources into <data-dir>/compact/<group key>/
 *        -> st_compact_merge (penalty gap fill or 1:1, per --deduplication.func)
 *        -> upload (thanos section: group labels, resolution, "compactor")
 *        -> deletion marks on the sources -> local files removed
 *
 * The order makes a kill at any point repairable by the next run: before
 * the upload's meta.json lands the bucket has at most a partial upload
 * (ignored, deleted after --delete-delay); after it, sources not yet
 * marked are redundant and the next sync marks them.
 *
 * A problem no retry fixes (overlapping downsampled blocks, a source that
 * does not decode or holds what the merger does not handle) sets the
 * blocks aside with a no-compact mark and the group goes on without them;
 * other failures (transport) end the group's turn and the iteration
 * reports them, so the next one retries. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compactor.h"
#include "strata/block.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/log.h"

#define CRASH_ENV "STRATA_COMPACT_TEST_CRASH_AFTER"

void compactor_crash_point(const char *step) {
    const char *want = getenv(CRASH_ENV);
    if (!want || strcmp(want, step) != 0) return;
    st_log(ST_LOG_WARN, "test hook: dying here as a kill -9 would", "env", CRASH_ENV, "step", step, NULL);
    _exit(137);
}

static uint64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

uint64_t compactor_dir_bytes(const char *dir) {
    char *p = st_path_join(dir, "index");
    uint64_t sum = p ? file_size(p) : 0;
    free(p);
    char *cdir = st_path_join(dir, "chunks");
    DIR *d = cdir ? opendir(cdir) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *f = st_path_join(cdir, e->d_name);
        if (f) sum += file_size(f);
        free(f);
    }
    if (d) closedir(d);
    free(cdir);
    return sum;
}

static void fmt_ulids(char *out, size_t cap, const st_meta_t *metas, const size_t *idx, size_t n) {
    size_t at = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && at + ST_ULID_TEXT_LEN + 2 < cap; i++) {
        if (i) out[at++] = ',';
        st_ulid_format(&metas[idx[i]].ulid, out + at);
        at += ST_ULID_TEXT_LEN;
    }
    out[at] = 0;
}

/* no-compact marks on the plan's blocks named in the error detail (all of
 * them when it names none); they stay in the group, flagged. */
static int set_aside(compactor_t *c, compactor_group_t *g, const size_t *plan, size_t np, mark_reason_t why,
                     const char *detail) {
    size_t named = 0;
    for (size_t i = 0; i < np; i++) {
        char id[ST_ULID_TEXT_LEN + 1];
        st_ulid_format(&g->metas[plan[i]].ulid, id);
        named += strstr(detail, id) != NULL;
    }
    int rc = ST_OK;
    for (size_t i = 0; i < np; i++) {
        char id[ST_ULID_TEXT_LEN + 1];
        st_ulid_format(&g->metas[plan[i]].ulid, id);
        if (named && !strstr(detail, id)) continue;
        int mrc = compactor_mark(c, &g->metas[plan[i]].ulid, why, detail);
        if (mrc) {
            st_log(ST_LOG_ERROR, "writing a no-compact mark failed", "group", g->key, "block", id, "err",
                   st_errdetail(mrc), NULL);
            if (!rc) rc = mrc;
            continue;
        }
        g->no_compact[plan[i]] = true;
        st_log(ST_LOG_WARN, "block set aside with a no-compact mark", "group", g->key, "block", id, "details", detail,
               NULL);
    }
    return rc;
}

typedef struct {
    st_block_t **blocks;
    size_t n;
} opened_t;

static void opened_close(opened_t *o) {
    for (size_t i = 0; i < o->n; i++) st_block_close(o->blocks[i]);
    free(o->blocks);
    memset(o, 0, sizeof *o);
}

/* Download and open the plan's blocks into dir. */
static int fetch(compactor_t *c, const compactor_group_t *g, const size_t *plan, size_t np, const char *dir,
                 opened_t *o) {
    if (!(o->blocks = calloc(np, sizeof *o->blocks))) return st_errorf(ST_ENOMEM, "opening %zu blocks", np);
    for (size_t i = 0; i < np; i++) {
        char *bdir = NULL;
        int rc = st_bucket_download_block(c->bkt, &g->metas[plan[i]].ulid, dir, &bdir);
        if (!rc) rc = st_block_open(&o->blocks[o->n], bdir);
        free(bdir);
        if (rc) return rc;
        atomic_fetch_add(&c->m.bytes_read, st_block_size(o->blocks[o->n]));
        o->n++;
    }
    return ST_OK;
}

static int mark_sources(compactor_t *c, compactor_group_t *g, const size_t *plan, size_t np, const char *why) {
    int rc = ST_OK;
    for (size_t i = 0; i < np; i++) {
        int mrc = compactor_mark(c, &g->metas[plan[i]].ulid, MARK_DELETION_COMPACTED, why);
        if (mrc && !rc) rc = mrc;
        if (i == 0) compactor_crash_point("mark");
    }
    return rc;
}

/* One compaction of g. *progress: the group changed (go on planning). */
static int compact_once(compactor_t *c, compactor_group_t *g, const char *dir, bool *progress) {
    *progress = false;
    size_t *plan = NULL, np = 0;
    bool overlap = false;
    opened_t o = {0};
    char *out_dir = NULL;
    st_meta_t nm = {0};
    int ri = compactor_res_index(g->resolution);
    int rc = compactor_group_plan(g, &plan, &np, &overlap);
    if (rc || !np) goto out;
    char list[1024];
    fmt_ulids(list, sizeof list, g->metas, plan, np);
    mark_reason_t why;
    if (compactor_plan_refused(c, g, overlap, &why)) {
        char detail[1200];
        snprintf(detail, sizeof detail, "%s: blocks %s overlap in time",
                 why == MARK_NO_COMPACT_DOWNSAMPLED_OVERLAP
                     ? "downsampled blocks cannot be compacted vertically"
                     : "overlapping raw blocks and vertical compaction is off (no --deduplication.replica-label)",
                 list);
        st_log(ST_LOG_ERROR, "unresolvable overlap; setting the blocks aside", "group", g->key, "blocks", list, NULL);
        rc = set_aside(c, g, plan, np, why, detail);
        *progress = rc == ST_OK;
        goto out;
    }
    char nb[24];
    snprintf(nb, sizeof nb, "%zu", np);
    st_log(ST_LOG_INFO, "compaction planned", "group", g->key, "blocks", nb, "plan", list, "overlapping",
           overlap ? "true" : "false", NULL);
    int64_t t0 = compactor_now_ms();
    if ((rc = st_rm_rf(dir)) || (rc = st_mkdir_p(dir, 0755))) goto out;
    if (!(rc = fetch(c, g, plan, np, dir, &o))) {
        st_compact_opts_t opts = {.penalty_dedup = c->penalty_dedup};
        st_compact_stats_t stats = {0};
        rc = st_compact_merge(o.blocks, o.n, &opts, dir, &out_dir, &stats);
        if (!rc) {
            char sin[24], sout[24], br[24], bw[24], dur[24], dd[24];
            snprintf(sin, sizeof sin, "%" PRIu64, stats.series_in);
            snprintf(sout, sizeof sout, "%" PRIu64, stats.series_out);
            snprintf(br, sizeof br, "%" PRIu64, stats.bytes_read);
            snprintf(bw, sizeof bw, "%" PRIu64, stats.bytes_written);
            snprintf(dd, sizeof dd, "%" PRIu64, stats.samples_deduplicated);
            snprintf(dur, sizeof dur, "%.3fs", (double)(compactor_now_ms() - t0) / 1000.0);
            st_log(ST_LOG_INFO, "compacted blocks", "group", g->key, "plan", list, "series_in", sin, "series_out",
                   sout, "samples_deduplicated", dd, "bytes_read", br, "bytes_written", bw, "duration", dur, NULL);
        }
    }
    if (rc == ST_ECORRUPT || rc == ST_EUNSUPPORTED) {
        char detail[1024];
        snprintf(detail, sizeof detail, "%s", st_errdetail(rc));
        st_log(ST_LOG_ERROR, "compaction impossible; setting the block(s) aside", "group", g->key, "plan", list,
               "err", detail, NULL);
        rc = set_aside(c, g, plan, np, rc == ST_ECORRUPT ? MARK_NO_COMPACT_CORRUPT : MARK_NO_COMPACT_UNSUPPORTED,
                       detail);
        if (!rc && ri >= 0) atomic_fetch_add(&c->m.compaction_failures[ri], 1); /* else counted below */
        *progress = rc == ST_OK;
        goto out;
    }
    if (rc) goto out;
    opened_close(&o);
    char what[96];
    if (!out_dir) {
        /* nothing left in the sources (all deleted by tombstones, or empty) */
        st_log(ST_LOG_INFO, "compaction produced no series; marking the sources for deletion", "group", g->key,
               "plan", list, NULL);
        snprintf(what, sizeof what, "source of a compaction that produced no series");
    } else {
        compactor_crash_point("merge");
        uint64_t bytes = compactor_dir_bytes(out_dir);
        st_thanos_t th = {
            .labels = g->labels, .resolution = g->resolution, .source = (char *)ST_THANOS_SOURCE_COMPACTOR};
        if ((rc = st_bucket_upload_block(c->bkt, out_dir, &th, c->stop, &nm))) goto out;
        compactor_crash_point("upload");
        atomic_fetch_add(&c->m.bytes_written, bytes);
        char id[ST_ULID_TEXT_LEN + 1], bs[24];
        st_ulid_format(&nm.ulid, id);
        snprintf(bs, sizeof bs, "%" PRIu64, bytes);
        st_log(ST_LOG_INFO, "uploaded compacted block", "group", g->key, "block", id, "bytes", bs, NULL);
        snprintf(what, sizeof what, "source of compacted block %s", id);
    }
    /* marks go on even when stopping: the new block is up, and leaving
     * its sources unmarked would only defer the work to the next sync */
    rc = mark_sources(c, g, plan, np, what);
    if (!rc) st_log(ST_LOG_INFO, "marked the sources for deletion", "group", g->key, "blocks", nb, NULL);
    if (ri >= 0 && out_dir) {
        atomic_fetch_add(&c->m.compactions[ri], 1);
        if (overlap) atomic_fetch_add(&c->m.vertical_compactions[ri], 1);
    }
    compactor_group_remove(g, plan, np);
    if (out_dir && !rc) rc = compactor_group_add(g, &nm);
    if (!rc) *progress = true;
out:
    if (rc && ri >= 0 && !compactor_stopping(c)) atomic_fetch_add(&c->m.compaction_failures[ri], 1);
    opened_close(&o);
    st_meta_free(&nm);
    free(out_dir);
    free(plan);
    st_rm_rf(dir);
    return rc;
}

static int compact_group(compactor_t *c, compactor_group_t *g) {
    char *root = st_path_join(c->data_dir, "compact");
    char *dir = root ? st_path_join(root, g->key) : NULL;
    free(root);
    if (!dir) return st_errorf(ST_ENOMEM, "group %s: path", g->key);
    int rc = ST_OK;
    size_t done = 0;
    for (bool progress = true; progress && !compactor_stopping(c);) {
        if ((rc = compact_once(c, g, dir, &progress))) break;
        done += progress;
    }
    free(dir);
    if (rc && compactor_stopping(c)) {
        st_log(ST_LOG_INFO, "compaction interrupted by shutdown; the next run takes it up", "group", g->key, "err",
               st_errdetail(rc), NULL);
        return ST_OK;
    }
    if (rc) {
        st_log(ST_LOG_ERROR, "compacting group failed; retried next iteration", "group", g->key, "err",
               st_errdetail(rc), NULL);
    } else if (done) {
        char n[24];
        snprintf(n, sizeof n, "%zu", done);
        st_log(ST_LOG_INFO, "group done", "group", g->key, "steps", n, NULL);
    }
    return rc;
}

typedef struct {
    compactor_t *c;
    compactor_group_t *g;
} groups_t;

static int group_job(void *ctx, size_t i) {
    groups_t *gs = ctx;
    return compact_group(gs->c, &gs->g[i]);
}

static const char *group_name(void *ctx, size_t i) { return ((groups_t *)ctx)->g[i].key; }

int compactor_compact_groups(compactor_t *c, compactor_group_t *g, size_t ng) {
    groups_t gs = {c, g};
    return compactor_run_jobs(c, ng, c->concurrency, "group", group_job, group_name, &gs);
}

typedef struct {
    compactor_t *c;
    size_t n;
    const char *kind;
    int (*job)(void *ctx, size_t i);
    const char *(*name)(void *ctx, size_t i);
    void *ctx;
    atomic_size_t next;
    pthread_mutex_t mu;
    int first_err;
    char first_detail[512];
} pool_t;

static void *worker(void *arg) {
    pool_t *p = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n || compactor_stopping(p->c)) break;
        int rc = p->job(p->ctx, i);
        if (rc) {
            pthread_mutex_lock(&p->mu);
            if (!p->first_err) {
                p->first_err = rc;
                snprintf(p->first_detail, sizeof p->first_detail, "%s %s: %s", p->kind, p->name(p->ctx, i),
                         st_errdetail(rc));
            }
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

int compactor_run_jobs(compactor_t *c, size_t n, int nth, const char *kind, int (*job)(void *ctx, size_t i),
                       const char *(*name)(void *ctx, size_t i), void *ctx) {
    pool_t p = {.c = c, .n = n, .kind = kind, .job = job, .name = name, .ctx = ctx};
    atomic_init(&p.next, 0);
    pthread_mutex_init(&p.mu, NULL);
    size_t nthreads = (size_t)(nth > 0 ? nth : 1);
    if (nthreads > n) nthreads = n;
    pthread_t *th = calloc(nthreads ? nthreads : 1, sizeof *th);
    size_t started = 0;
    for (; th && started < nthreads; started++)
        if (pthread_create(&th[started], NULL, worker, &p) != 0) break;
    if (!started) worker(&p); /* no threads to be had: do it here */
    for (size_t i = 0; i < started; i++) pthread_join(th[i], NULL);
    free(th);
    pthread_mutex_destroy(&p.mu);
    if (p.first_err) return st_errorf(p.first_err, "%s", p.first_detail);
    return ST_OK;
}
