/* `strata tools bucket ls|inspect|verify|cleanup|download|upload-blocks`:
 * the blocks of an object store bucket, in the spirit of `thanos tools bucket`. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strata/bucket.h"
#include "strata/buf.h"
#include "strata/downsample.h"
#include "strata/err.h"
#include "strata/fileutil.h"
#include "strata/flags.h"
#include "strata/textfmt.h"
#include "tools_int.h"

typedef struct {
    const char *file, *yaml;
} objflags_t;

static int open_bucket(const objflags_t *o, st_objstore_t **out) {
    if (o->file && o->yaml)
        return st_errorf(ST_EINVAL, "--objstore.config-file and --objstore.config are mutually exclusive");
    if (o->file) return st_objstore_open_file(out, o->file);
    if (o->yaml) return st_objstore_open(out, o->yaml, strlen(o->yaml));
    return st_errorf(ST_EINVAL, "no bucket: give --objstore.config-file or --objstore.config");
}

/* Parse flags (objstore ones first in `flags`); 0 = go on, else the exit code. */
static int parse(const char *cmd, const char *usage, const char *summary, const st_flag_t *flags, size_t nflags,
                 size_t want_pos, int argc, char **argv, char ***pos) {
    size_t npos = 0;
    int rc = st_flags_parse(flags, nflags, argc - 1, argv + 1, pos, &npos);
    if (rc == 1 || (rc == 0 && npos != want_pos)) {
        st_flags_usage(rc == 1 ? stdout : stderr, usage, summary, flags, nflags);
        free(*pos);
        *pos = NULL;
        return rc == 1 ? -1 : 2;
    }
    if (rc) {
        free(*pos);
        *pos = NULL;
        return tools_fail_in("bucket", cmd, rc) + 1; /* usage error: 2 */
    }
    return 0;
}

#define OBJ_FLAGS(o)                                                                                              \
    {"objstore.config-file", ST_FLAG_STRING, &(o).file, "Path to a YAML file with the object store configuration."}, \
    {                                                                                                             \
        "objstore.config", ST_FLAG_STRING, &(o).yaml, "Object store configuration as YAML text (instead of a file)."  \
    }

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* RFC 3339 in UTC with milliseconds when there are any. */
static void fmt_time(char *out, size_t cap, int64_t ms, bool table) {
    time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)s * 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[40];
    strftime(base, sizeof base, table ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%dT%H:%M:%S", &tm);
    int n;
    if (table) n = snprintf(out, cap, "%s", base);
    else if (frac) n = snprintf(out, cap, "%s.%03dZ", base, frac);
    else n = snprintf(out, cap, "%sZ", base);
    if (n < 0 && cap) out[0] = 0; /* callers pass 40+ bytes: a time always fits */
}

static void fmt_labels(char *out, size_t cap, const st_labels_t *l) {
    st_encbuf_t b;
    st_encbuf_init(&b, 64 * 1024);
    st_put_labels_go(&b, l);
    snprintf(out, cap, "%.*s", (int)(b.err ? 0 : b.len), b.p ? (const char *)b.p : "");
    st_encbuf_free(&b);
}

static uint64_t block_size(const st_bucket_block_t *b, bool *known) {
    uint64_t sum = 0;
    *known = false;
    for (size_t i = 0; i < b->thanos.nfiles; i++) {
        sum += b->thanos.files[i].size;
        *known = true;
    }
    return sum;
}

static int list_blocks(const char *cmd, const objflags_t *o, unsigned flags, st_objstore_t **bkt,
                       st_bucket_block_t **v, size_t *n) {
    int rc = open_bucket(o, bkt);
    if (!rc) rc = st_bucket_list(*bkt, flags, v, n);
    if (rc) {
        st_objstore_close(*bkt);
        *bkt = NULL;
        return tools_fail_in("bucket", cmd, rc);
    }
    return 0;
}

/* ---- ls ---- */

int tools_bucket_ls(int argc, char **argv) {
    objflags_t o = {0};
    const st_flag_t flags[] = {OBJ_FLAGS(o)};
    char **pos = NULL;
    int code = parse("ls", "strata tools bucket ls [flags]",
                     "List the blocks of a bucket: ULID, time range, duration, external labels, resolution, size "
                     "(bytes of chunks and index). Partial uploads (no meta.json) are listed as such.",
                     flags, 2, 0, argc, argv, &pos);
    free(pos);
    if (code) return code < 0 ? 0 : code;
    st_objstore_t *bkt = NULL;
    st_bucket_block_t *v = NULL;
    size_t n = 0;
    if ((code = list_blocks("ls", &o, 0, &bkt, &v, &n))) return code;
    for (size_t i = 0; i < n; i++) {
        const st_bucket_block_t *b = &v[i];
        char id[ST_ULID_TEXT_LEN + 1];
        st_ulid_format(&b->id, id);
        if (b->partial) {
            printf("%s  partial upload (no meta.json)\n", id);
            continue;
        }
        if (b->meta_rc) {
            printf("%s  unreadable meta.json: %s\n", id, b->meta_err);
            continue;
        }
        char from[40], to[40], dur[64], res[64], labels[2048], size[32];
        bool known;
        fmt_time(from, sizeof from, b->meta.min_time, false);
        fmt_time(to, sizeof to, b->meta.max_time, false);
        tools_fmt_duration(dur, sizeof dur, b->meta.max_time - b->meta.min_time);
        tools_fmt_duration(res, sizeof res, b->thanos.resolution);
        fmt_labels(labels, sizeof labels, &b->thanos.labels);
        uint64_t sz = block_size(b, &known);
        if (known) snprintf(size, sizeof size, "%llu", (unsigned long long)sz);
        else snprintf(size, sizeof size, "?");
        printf("%s  %s - %s  %s  %s  resolution=%s  size=%s\n", id, from, to, dur, labels, res, size);
    }
    st_bucket_blocks_free(v, n);
    st_objstore_close(bkt);
    return 0;
}

/* ---- inspect ---- */

enum { COL_ULID, COL_FROM, COL_UNTIL, COL_RANGE, COL_UNTIL_DOWN, COL_SERIES, COL_SAMPLES, COL_CHUNKS,
       COL_LEVEL, COL_FAILED, COL_LABELS, COL_RES, COL_SOURCE, NCOLS };

static const char *const headers[NCOLS] = {"ULID",     "FROM",       "UNTIL",       "RANGE",  "UNTIL-DOWN",
                                           "#SERIES",  "#SAMPLES",   "#CHUNKS",     "COMP-LEVEL",
                                           "COMP-FAILED", "LABELS",  "RESOLUTION", "SOURCE"};

typedef struct {
    char *c[NCOLS];
} row_t;

static int by_from(const void *x, const void *y) {
    const st_bucket_block_t *a = *(st_bucket_block_t *const *)x, *b = *(st_bucket_block_t *const *)y;
    if (a->meta.min_time != b->meta.min_time) return a->meta.min_time < b->meta.min_time ? -1 : 1;
    return st_ulid_cmp(&a->id, &b->id);
}

/* Thanos's compact.UntilNextDownsampling: time left before a block is long
 * enough to be downsampled; "-" when it never will be. */
static void until_down(char *out, size_t cap, const st_bucket_block_t *b) {
    int64_t range = b->meta.max_time - b->meta.min_time, need = -1;
    if (b->thanos.resolution == ST_RES_RAW) need = ST_DOWNSAMPLE_RANGE_5M;
    else if (b->thanos.resolution == ST_RES_5M) need = ST_DOWNSAMPLE_RANGE_1H;
    if (need < 0) snprintf(out, cap, "-");
    else tools_fmt_duration(out, cap, need - range);
}

static void print_sep(const size_t *w) {
    for (int c = 0; c < NCOLS; c++) {
        printf("|");
        for (size_t i = 0; i < w[c] + 2; i++) putchar('-');
    }
    printf("|\n");
}

int tools_bucket_inspect(int argc, char **argv) {
    objflags_t o = {0};
    const st_flag_t flags[] = {OBJ_FLAGS(o)};
    char **pos = NULL;
    int code = parse("inspect", "strata tools bucket inspect [flags]",
                     "Show every complete block of a bucket in a table, sorted by start time.", flags, 2, 0, argc,
                     argv, &pos);
    free(pos);
    if (code) return code < 0 ? 0 : code;
    st_objstore_t *bkt = NULL;
    st_bucket_block_t *v = NULL;
    size_t n = 0, nrows = 0, partial = 0;
    if ((code = list_blocks("inspect", &o, 0, &bkt, &v, &n))) return code;
    st_bucket_block_t **sorted = calloc(n ? n : 1, sizeof *sorted);
    row_t *rows = calloc(n ? n : 1, sizeof *rows);
    size_t w[NCOLS];
    for (int c = 0; c < NCOLS; c++) w[c] = strlen(headers[c]);
    if (!sorted || !rows) {
        code = tools_fail_in("bucket", "inspect", st_errorf(ST_ENOMEM, "table of %zu blocks", n));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i].partial || v[i].meta_rc) partial++;
        else sorted[nrows++] = &v[i];
    }
    qsort(sorted, nrows, sizeof *sorted, by_from);
    for (size_t r = 0; r < nrows; r++) {
        const st_bucket_block_t *b = sorted[r];
        char cell[NCOLS][2048];
        st_ulid_format(&b->id, cell[COL_ULID]);
        fmt_time(cell[COL_FROM], sizeof cell[0], b->meta.min_time, true);
        fmt_time(cell[COL_UNTIL], sizeof cell[0], b->meta.max_time, true);
        tools_fmt_duration(cell[COL_RANGE], sizeof cell[0], b->meta.max_time - b->meta.min_time);
        until_down(cell[COL_UNTIL_DOWN], sizeof cell[0], b);
        snprintf(cell[COL_SERIES], sizeof cell[0], "%llu", (unsigned long long)b->meta.num_series);
        snprintf(cell[COL_SAMPLES], sizeof cell[0], "%llu", (unsigned long long)b->meta.num_samples);
        snprintf(cell[COL_CHUNKS], sizeof cell[0], "%llu", (unsigned long long)b->meta.num_chunks);
        snprintf(cell[COL_LEVEL], sizeof cell[0], "%d", b->meta.level);
        snprintf(cell[COL_FAILED], sizeof cell[0], "%s", b->meta.failed ? "true" : "false");
        fmt_labels(cell[COL_LABELS], sizeof cell[0], &b->thanos.labels);
        tools_fmt_duration(cell[COL_RES], sizeof cell[0], b->thanos.resolution);
        snprintf(cell[COL_SOURCE], sizeof cell[0], "%s", b->thanos.source);
        for (int c = 0; c < NCOLS; c++) {
            if (!(rows[r].c[c] = strdup(cell[c]))) {
                code = tools_fail_in("bucket", "inspect", st_errorf(ST_ENOMEM, "table cell"));
                goto out;
            }
            if (strlen(cell[c]) > w[c]) w[c] = strlen(cell[c]);
        }
    }
    for (int c = 0; c < NCOLS; c++) printf("| %-*s ", (int)w[c], headers[c]);
    printf("|\n");
    print_sep(w);
    for (size_t r = 0; r < nrows; r++) {
        for (int c = 0; c < NCOLS; c++) printf("| %-*s ", (int)w[c], rows[r].c[c]);
        printf("|\n");
    }
    if (partial) printf("\n%zu partial or unreadable block(s) not shown (see `strata tools bucket verify`)\n", partial);
out:
    for (size_t r = 0; rows && r < nrows; r++)
        for (int c = 0; c < NCOLS; c++) free(rows[r].c[c]);
    free(rows);
    free(sorted);
    st_bucket_blocks_free(v, n);
    st_objstore_close(bkt);
    return code;
}

/* ---- verify ---- */

static size_t issue(const char *id, const char *kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static size_t issue(const char *id, const char *kind, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s  %s: ", id, kind);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    return 1;
}

/* Same group = same resolution and external labels: overlaps inside one
 * group mean duplicated data (Thanos's overlapped_blocks issue). */
static int by_group(const void *x, const void *y) {
    const st_bucket_block_t *a = *(st_bucket_block_t *const *)x, *b = *(st_bucket_block_t *const *)y;
    if (a->thanos.resolution != b->thanos.resolution) return a->thanos.resolution < b->thanos.resolution ? -1 : 1;
    int c = st_labels_cmp(&a->thanos.labels, &b->thanos.labels);
    return c ? c : by_from(x, y);
}

static size_t find_overlaps(st_bucket_block_t *v, size_t n) {
    st_bucket_block_t **g = calloc(n ? n : 1, sizeof *g);
    size_t ng = 0, issues = 0;
    if (!g) return issue("-", "error", "out of memory checking overlaps");
    for (size_t i = 0; i < n; i++)
        if (!v[i].partial && !v[i].meta_rc && !v[i].deletion_marked) g[ng++] = &v[i];
    qsort(g, ng, sizeof *g, by_group);
    size_t reach = 0; /* block with the largest maxTime so far in the group */
    for (size_t i = 1; i < ng; i++) {
        bool same = g[i]->thanos.resolution == g[i - 1]->thanos.resolution &&
                    st_labels_equal(&g[i]->thanos.labels, &g[i - 1]->thanos.labels);
        if (!same) {
            reach = i;
            continue;
        }
        const st_bucket_block_t *p = g[reach];
        if (g[i]->meta.min_time < p->meta.max_time) {
            char a[ST_ULID_TEXT_LEN + 1], b[ST_ULID_TEXT_LEN + 1], labels[1024];
            st_ulid_format(&g[i]->id, a);
            st_ulid_format(&p->id, b);
            fmt_labels(labels, sizeof labels, &g[i]->thanos.labels);
            issues += issue(a, "overlap", "[%lld, %lld) overlaps %s [%lld, %lld) with the same labels %s",
                            (long long)g[i]->meta.min_time, (long long)g[i]->meta.max_time, b,
                            (long long)p->meta.min_time, (long long)p->meta.max_time, labels);
        }
        if (g[i]->meta.max_time > p->meta.max_time) reach = i;
    }
    free(g);
    return issues;
}

int tools_bucket_verify(int argc, char **argv) {
    objflags_t o = {0};
    bool index = true;
    const st_flag_t flags[] = {
        OBJ_FLAGS(o),
        {"index", ST_FLAG_BOOL, &index, "Download and check every block's index (default on; --no-index skips it)."},
    };
    char **pos = NULL;
    int code = parse("verify", "strata tools bucket verify [flags]",
                     "Report partial uploads, unreadable meta.json or markers, blocks without external labels, "
                     "overlapping blocks of one label set and resolution, files missing or of the wrong size, and "
                     "index problems. Exits 1 when anything was found.",
                     flags, 3, 0, argc, argv, &pos);
    free(pos);
    if (code) return code < 0 ? 0 : code;
    st_objstore_t *bkt = NULL;
    st_bucket_block_t *v = NULL;
    size_t n = 0, issues = 0;
    if ((code = list_blocks("verify", &o, ST_BUCKET_LIST_MARKERS, &bkt, &v, &n))) return code;
    const char *tmp_root = getenv("TMPDIR");
    char *tmp = NULL;
    if (index) {
        size_t len = strlen(tmp_root ? tmp_root : "/tmp") + sizeof "/strata-verify.XXXXXX";
        tmp = malloc(len);
        if (tmp) snprintf(tmp, len, "%s/strata-verify.XXXXXX", tmp_root ? tmp_root : "/tmp");
        if (!tmp || !mkdtemp(tmp)) {
            free(tmp);
            tmp = NULL;
            index = false;
            issues += issue("-", "error", "cannot create a scratch dir under %s; index checks skipped",
                            tmp_root ? tmp_root : "/tmp");
        }
    }
    int64_t now = now_ms();
    for (size_t i = 0; i < n; i++) {
        const st_bucket_block_t *b = &v[i];
        char id[ST_ULID_TEXT_LEN + 1];
        st_ulid_format(&b->id, id);
        if (b->marker_err) issues += issue(id, "bad marker", "%s", b->marker_err);
        if (b->partial) {
            int64_t lm = 0;
            char age[64];
            int rc = st_bucket_block_last_modified(bkt, &b->id, &lm);
            if (!rc && !lm) lm = (int64_t)st_ulid_time(&b->id);
            tools_fmt_duration(age, sizeof age, now - lm);
            issues += issue(id, "partial upload", "no meta.json; newest object written %s ago%s", age,
                            b->deletion_marked ? " (marked for deletion)" : "");
            continue;
        }
        if (b->meta_rc) {
            issues += issue(id, "bad meta.json", "%s", b->meta_err);
            continue;
        }
        if (!b->thanos.labels.n) issues += issue(id, "no external labels", "meta.json has no thanos.labels");
        if (!index) continue;
        st_index_check_t chk;
        int rc = st_bucket_check_block(bkt, b, tmp, &chk);
        if (rc == ST_ECORRUPT) issues += issue(id, "index", "%s", st_errdetail(rc));
        else if (rc) issues += issue(id, "error", "checking the block failed: %s", st_errdetail(rc));
        else if (chk.problems)
            issues += issue(id, "index", "%llu problem(s); first: %s", (unsigned long long)chk.problems,
                            chk.first_problem);
    }
    issues += find_overlaps(v, n);
    if (tmp) {
        st_rm_rf(tmp);
        free(tmp);
    }
    printf("verified %zu block(s): %zu issue(s)\n", n, issues);
    st_bucket_blocks_free(v, n);
    st_objstore_close(bkt);
    return issues ? 1 : 0;
}

/* ---- cleanup ---- */

static void cleanup_event(void *ctx, const st_cleanup_event_t *ev) {
    (void)ctx;
    char id[ST_ULID_TEXT_LEN + 1], age[64];
    st_ulid_format(&ev->block->id, id);
    tools_fmt_duration(age, sizeof age, ev->age_ms);
    switch (ev->action) {
    case ST_CLEANUP_KEPT: printf("%s  keeping %s: %s old, younger than --delete-delay\n", id, ev->what, age); break;
    case ST_CLEANUP_WOULD_DELETE: printf("%s  would delete %s (%s old)\n", id, ev->what, age); break;
    case ST_CLEANUP_DELETED: printf("%s  deleted %s (%s old)\n", id, ev->what, age); break;
    case ST_CLEANUP_FAILED: fprintf(stderr, "%s: %s: %s\n", id, ev->what, ev->err); break;
    }
}

int tools_bucket_cleanup(int argc, char **argv) {
    objflags_t o = {0};
    int64_t delay = (int64_t)48 * 3600 * 1000;
    bool dry_run = false;
    const st_flag_t flags[] = {
        OBJ_FLAGS(o),
        {"delete-delay", ST_FLAG_DURATION, &delay,
         "Delete partial uploads whose newest object is older than this, and blocks marked for deletion longer "
         "ago than this (default 48h)."},
        {"dry-run", ST_FLAG_BOOL, &dry_run, "Only print what would be deleted."},
    };
    char **pos = NULL;
    int code = parse("cleanup", "strata tools bucket cleanup [flags]",
                     "Remove aborted partial uploads and deletion-marked blocks once --delete-delay has passed.",
                     flags, 4, 0, argc, argv, &pos);
    free(pos);
    if (code) return code < 0 ? 0 : code;
    st_objstore_t *bkt = NULL;
    st_bucket_block_t *v = NULL;
    size_t n = 0;
    if ((code = list_blocks("cleanup", &o, ST_BUCKET_LIST_MARKERS, &bkt, &v, &n))) return code;
    st_cleanup_stats_t cs = {0};
    int rc = st_bucket_cleanup(bkt, v, n, delay, now_ms(), dry_run, NULL, cleanup_event, NULL, &cs);
    if (rc) code = tools_fail_in("bucket", "cleanup", rc);
    else printf("cleanup: %zu block(s) deleted, %zu failure(s)\n", cs.deleted, cs.failed);
    st_bucket_blocks_free(v, n);
    st_objstore_close(bkt);
    return code ? code : cs.failed ? 1 : 0;
}

/* ---- download ---- */

int tools_bucket_download(int argc, char **argv) {
    objflags_t o = {0};
    const st_flag_t flags[] = {OBJ_FLAGS(o)};
    char **pos = NULL;
    int code = parse("download", "strata tools bucket download [flags] ULID DIR",
                     "Download a complete block (chunks, index, meta.json) into DIR/ULID.", flags, 2, 2, argc, argv,
                     &pos);
    if (code) return code < 0 ? 0 : code;
    st_objstore_t *bkt = NULL;
    st_ulid_t id;
    char *out = NULL;
    int rc = st_ulid_parse(&id, pos[0]);
    if (rc) rc = st_errorf(ST_EINVAL, "\"%s\" is not a ULID", pos[0]);
    if (!rc) rc = open_bucket(&o, &bkt);
    if (!rc) rc = st_bucket_download_block(bkt, &id, pos[1], &out);
    if (rc) code = tools_fail_in("bucket", "download", rc);
    else printf("%s\n", out);
    free(out);
    free(pos);
    st_objstore_close(bkt);
    return code;
}

/* ---- upload-blocks ---- */

/* --label=name=value or name="value" (Thanos's form), repeatable. */
static int parse_label_flag(const char *s, st_label_t *out, char **owned) {
    const char *eq = strchr(s, '=');
    if (!eq || eq == s) return st_errorf(ST_EINVAL, "--label=%s: want name=value", s);
    const char *v = eq + 1;
    size_t vl = strlen(v);
    if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') v++, vl -= 2;
    if (!(*owned = strndup(s, (size_t)(eq - s)))) return st_errorf(ST_ENOMEM, "allocating a label");
    *out = (st_label_t){*owned, v, (size_t)(eq - s), vl};
    return ST_OK;
}

static int upload_dir(st_objstore_t *bkt, const st_thanos_t *th, const char *dir, size_t *n) {
    char *meta = st_path_join(dir, ST_META_FILENAME);
    if (!meta) return st_errorf(ST_ENOMEM, "allocating a path");
    bool is_block = st_path_exists(meta);
    free(meta);
    if (is_block) {
        int rc = st_bucket_upload_block(bkt, dir, th, NULL, NULL);
        if (!rc) {
            printf("uploaded %s\n", dir);
            (*n)++;
        }
        return rc;
    }
    /* a data directory: each complete block in it */
    DIR *d = opendir(dir);
    if (!d) return st_errorf(ST_EIO, "%s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t nn = 0;
    int rc = ST_OK;
    struct dirent *e;
    while ((e = readdir(d)) && !rc) {
        st_ulid_t id;
        if (strlen(e->d_name) != ST_ULID_TEXT_LEN || st_ulid_parse(&id, e->d_name) != ST_OK) continue;
        char **v = realloc(names, (nn + 1) * sizeof *v);
        if (!v || !(v[nn] = st_path_join(dir, e->d_name))) {
            if (v) names = v;
            rc = st_errorf(ST_ENOMEM, "allocating a path");
            break;
        }
        names = v;
        nn++;
    }
    closedir(d);
    for (size_t i = 0; i < nn && !rc; i++) {
        char *m = st_path_join(names[i], ST_META_FILENAME);
        bool ok = m && st_path_exists(m);
        free(m);
        if (ok) rc = upload_dir(bkt, th, names[i], n);
    }
    for (size_t i = 0; i < nn; i++) free(names[i]);
    free(names);
    return rc;
}

int tools_bucket_upload_blocks(int argc, char **argv) {
    objflags_t o = {0};
    const char *path = NULL;
    st_flag_strings_t lflags = {0};
    const st_flag_t flags[] = {
        OBJ_FLAGS(o),
        {"path", ST_FLAG_STRING, &path, "A TSDB directory whose blocks to upload (instead of DIR arguments)."},
        {"label", ST_FLAG_STRINGS, &lflags,
         "External label name=value (or name=\"value\") for the thanos section; repeatable, required."},
    };
    char **pos = NULL, **owned = NULL;
    st_label_t *pairs = NULL;
    size_t nl = 0, npos = 0;
    int code = 1;
    st_thanos_t th = {0};
    st_objstore_t *bkt = NULL;
    int rc = st_flags_parse(flags, 4, argc - 1, argv + 1, &pos, &npos);
    if (rc == 1 || (rc == 0 && (npos == 0) == (path == NULL))) {
        st_flags_usage(rc == 1 ? stdout : stderr,
                       "strata tools bucket upload-blocks [flags] --label=NAME=VALUE... DIR...",
                       "Upload local blocks (block directories, or TSDB directories of blocks) with the given "
                       "external labels in meta.json's thanos section, as thanos tools bucket upload-blocks.",
                       flags, 4);
        code = rc == 1 ? 0 : 2;
        goto out;
    }
    if (!rc && !lflags.n)
        rc = st_errorf(ST_EINVAL, "at least one --label is required (Thanos blocks carry external labels)");
    if (!rc && (!(owned = calloc(lflags.n, sizeof *owned)) || !(pairs = calloc(lflags.n, sizeof *pairs))))
        rc = st_errorf(ST_ENOMEM, "allocating labels");
    for (; !rc && nl < lflags.n; nl++) rc = parse_label_flag(lflags.v[nl], &pairs[nl], &owned[nl]);
    if (!rc) rc = st_labels_from_pairs(&th.labels, pairs, nl);
    th.source = (char *)"upload";
    if (!rc) rc = open_bucket(&o, &bkt);
    size_t n = 0;
    if (path && !rc) rc = upload_dir(bkt, &th, path, &n);
    for (size_t i = 0; i < npos && !rc; i++) rc = upload_dir(bkt, &th, pos[i], &n);
    if (rc) {
        code = tools_fail_in("bucket", "upload-blocks", rc);
        goto out;
    }
    fprintf(stderr, "uploaded %zu block(s)\n", n);
    code = 0;
out:
    st_labels_free(&th.labels);
    for (size_t i = 0; owned && i < nl; i++) free(owned[i]);
    free(owned);
    free(pairs);
    free(lflags.v);
    free(pos);
    st_objstore_close(bkt);
    return code;
}
