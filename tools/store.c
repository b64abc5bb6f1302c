/* `strata tools store series|label-names|label-values|info`: a StoreAPI
 * client to look at what a store (Strata's or Thanos's) serves. `series`
 * prints exactly what `tools tsdb dump` (promtool's text form) prints for
 * the same data: one Series call per --match selector, the sorted streams
 * merged by label set, each series' chunks decoded, samples kept within
 * [--min-time, --max-time] and merged by time with duplicate timestamps
 * dropped (overlapping blocks hold the same samples).
 *
 * Downsampled data: --max-resolution-window and --aggregate go into the
 * request as they are; with --aggregate every decoded member of every
 * chunk is printed as "{labels} KIND value timestamp" (KIND raw, count,
 * sum, min, max or counter), per series by KIND then time. Raw samples are
 * merged as above; aggregate samples are printed as the chunks hold them
 * (a counter chunk repeats its last sample at the same timestamp). */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/chunkenc.h"
#include "strata/err.h"
#include "strata/flags.h"
#include "strata/storeapi.h"
#include "strata/textfmt.h"
#include "tools_int.h"

#define DEFAULT_TIMEOUT_MS (5 * 60 * 1000)
#define SERIES_BATCH 64 /* Thanos's querier default */

/* Flags every store command takes. */
typedef struct {
    const char *cmd;
    const char *store;
    int64_t timeout_ms, mint, maxt, limit;
    st_flag_strings_t match; /* --match, repeatable */
    st_matchers_t *sels;     /* one per --match, or the default selector */
    size_t nsels;
    st_grpc_client_t *client;
} common_t;

static void common_free(common_t *c) {
    for (size_t i = 0; i < c->nsels; i++) st_matchers_free(&c->sels[i]);
    free(c->sels);
    free(c->match.v);
    st_grpc_client_free(c->client);
}

/* Parse flags (the common ones plus `extra`). Returns -1 to go on, or the
 * exit code. */
static int common_parse(common_t *c, int argc, char **argv, const st_flag_t *extra, size_t nextra,
                        const char *usage, const char *summary) {
    c->timeout_ms = DEFAULT_TIMEOUT_MS;
    c->mint = INT64_MIN;
    c->maxt = INT64_MAX;
    st_flag_t flags[16] = {
        {"store", ST_FLAG_STRING, &c->store, "Address of the StoreAPI server (HOST:PORT)."},
        {"match", ST_FLAG_STRINGS, &c->match,
         "Series selector; repeatable. Default: every series with a metric name (series), none (labels)."},
        {"min-time", ST_FLAG_INT64, &c->mint, "Start of the time range (ms, inclusive)."},
        {"max-time", ST_FLAG_INT64, &c->maxt, "End of the time range (ms, inclusive)."},
        {"limit", ST_FLAG_INT64, &c->limit, "At most this many results (0 = no limit)."},
        {"timeout", ST_FLAG_DURATION, &c->timeout_ms, "Timeout of the call (default 5m)."},
    };
    size_t nflags = 6;
    for (size_t i = 0; i < nextra; i++) flags[nflags++] = extra[i];
    char **pos = NULL;
    size_t npos = 0;
    int rc = st_flags_parse(flags, nflags, argc - 1, argv + 1, &pos, &npos);
    free(pos);
    if (rc == 1 || (rc == 0 && (npos != 0 || !c->store))) {
        st_flags_usage(rc == 1 ? stdout : stderr, usage, summary, flags, nflags);
        return rc == 1 ? 0 : 2;
    }
    if (rc) return tools_fail_in("store", c->cmd, rc);
    if (c->mint > c->maxt)
        return tools_fail_in("store", c->cmd, st_errorf(ST_EINVAL, "--min-time is after --max-time"));
    if (c->limit < 0) return tools_fail_in("store", c->cmd, st_errorf(ST_EINVAL, "--limit must not be negative"));
    /* Thanos stores refuse requests without a matcher that selects
     * something, so "every series" is every series with a name. */
    static const char *const every[] = {"{__name__=~\".+\"}"};
    const char *const *sel = c->match.n ? c->match.v : every;
    size_t nsel = c->match.n ? c->match.n : 1;
    if (!(c->sels = calloc(nsel, sizeof *c->sels)))
        return tools_fail_in("store", c->cmd, st_errorf(ST_ENOMEM, "allocating selectors"));
    for (; c->nsels < nsel; c->nsels++)
        if ((rc = st_selector_parse(&c->sels[c->nsels], sel[c->nsels])))
            return tools_fail_in("store", c->cmd, st_errwrap(rc, "--match=%s", sel[c->nsels]));
    if ((rc = st_grpc_client_new(&c->client, c->store, NULL))) return tools_fail_in("store", c->cmd, rc);
    /* `| head` closing the pipe must end us quietly, not kill us mid-call */
    signal(SIGPIPE, SIG_IGN);
    return -1;
}

static void print_warnings(const common_t *c, const st_strlist_t *w) {
    for (size_t i = 0; i < w->n; i++) fprintf(stderr, "strata tools store %s: warning: %s\n", c->cmd, w->v[i]);
}

/* End of output: a reader that went away (EPIPE) is not an error. */
static int finish_output(const common_t *c) {
    if (fflush(stdout) == 0 || errno == EPIPE) return 0;
    return tools_fail_in("store", c->cmd, st_errorf(ST_EIO, "writing output: %s", strerror(errno)));
}

/* ---- series ---- */

typedef struct {
    int kind; /* st_aggr_t */
    int64_t t;
    double v;
    size_t seq; /* arrival order: the first of equal timestamps wins */
} sample_t;

static const char *const aggr_names[ST_AGGR_N] = {"raw", "count", "sum", "min", "max", "counter"};

/* --aggregate values: names, each possibly a comma-separated list. */
static int parse_aggregates(const st_flag_strings_t *l, uint32_t *out) {
    *out = 0;
    for (size_t i = 0; i < l->n; i++) {
        const char *p = l->v[i];
        for (;;) {
            size_t n = strcspn(p, ",");
            int a = 0;
            while (a < ST_AGGR_N && !(strlen(aggr_names[a]) == n && strncmp(aggr_names[a], p, n) == 0)) a++;
            if (a == ST_AGGR_N)
                return st_errorf(ST_EINVAL,
                                 "--aggregate: unknown aggregate \"%.*s\" (raw, count, sum, min, max, counter)",
                                 (int)n, p);
            *out |= 1u << a;
            if (!p[n]) break;
            p += n + 1;
        }
    }
    return ST_OK;
}

typedef struct {
    sample_t *v;
    size_t n, cap;
} samples_t;

static int cmp_sample(const void *a, const void *b) {
    const sample_t *x = a, *y = b;
    if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The samples of member `kind` of chunk c within [mint, maxt]. */
static int add_member(samples_t *s, const st_store_chunk_t *c, int kind, int64_t mint, int64_t maxt) {
    st_xor_iter_t it;
    int rc = st_xor_iter_init(&it, c->data[kind], c->len[kind]);
    while (rc == 0 && (rc = st_xor_iter_next(&it)) == 1) {
        sample_t x = {.kind = kind};
        st_xor_iter_at(&it, &x.t, &x.v);
        rc = 0;
        if (x.t < mint || x.t > maxt) continue;
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 256;
            sample_t *v = realloc(s->v, cap * sizeof *v);
            if (!v) return st_errorf(ST_ENOMEM, "allocating %zu samples", cap);
            s->v = v;
            s->cap = cap;
        }
        x.seq = s->n;
        s->v[s->n++] = x;
    }
    if (rc < 0)
        return st_errwrap(rc, "chunk [%lld, %lld] %s", (long long)c->mint, (long long)c->maxt, aggr_names[kind]);
    return ST_OK;
}

/* Raw only (all_members false: a chunk without raw data is an error), or
 * every member the chunk carries. */
static int add_chunk(samples_t *s, const st_store_chunk_t *c, bool all_members, int64_t mint, int64_t maxt) {
    if (!all_members && !c->data[ST_AGGR_RAW])
        return st_errorf(ST_EUNSUPPORTED, "chunk [%lld, %lld] carries no raw XOR data (see --aggregate)",
                         (long long)c->mint, (long long)c->maxt);
    int rc = ST_OK;
    for (int a = 0; a < (all_members ? ST_AGGR_N : 1) && !rc; a++)
        if (c->data[a]) rc = add_member(s, c, a, mint, maxt);
    return rc;
}

typedef struct {
    st_series_stream_t *s;
    const st_labels_t *lbls; /* NULL once the stream ended */
    const st_store_chunk_t *chunks;
    size_t n;
} head_t;

static int advance(head_t *h) {
    int rc = st_series_stream_next(h->s, &h->lbls, &h->chunks, &h->n);
    if (rc <= 0) h->lbls = NULL;
    return rc < 0 ? rc : ST_OK;
}

int tools_store_series(int argc, char **argv) {
    common_t c = {.cmd = "series"};
    const char *format = "dump";
    bool skip_chunks = false;
    int64_t max_res = 0;
    st_flag_strings_t aggr_flags = {0}, without = {0};
    uint32_t aggregates = 0;
    const st_flag_t extra[] = {
        {"skip-chunks", ST_FLAG_BOOL, &skip_chunks, "Ask for labels only (with --format=labels)."},
        {"format", ST_FLAG_STRING, &format, "Output: dump ({labels} value timestamp per sample) or labels."},
        {"max-resolution-window", ST_FLAG_DURATION, &max_res,
         "Downsampled data up to this resolution (5m, 1h; default 0 = raw only)."},
        {"aggregate", ST_FLAG_STRINGS, &aggr_flags,
         "Aggregates to ask for: raw, count, sum, min, max, counter (repeatable or comma-separated); "
         "prints every chunk member as {labels} KIND value timestamp."},
        {"without-replica-label", ST_FLAG_STRINGS, &without,
         "Ask the store to leave this label out and sort without it, as a deduplicating querier does "
         "(repeatable; stores that advertise supports_without_replica_labels)."},
    };
    head_t *heads = NULL;
    samples_t smp = {0};
    st_encbuf_t line;
    st_encbuf_init(&line, 0);
    int exit_code = common_parse(&c, argc, argv, extra, 5, "strata tools store series --store=HOST:PORT [flags]",
                                 "Print the series a store serves, as `strata tools tsdb dump` prints them.");
    if (exit_code >= 0) goto out;
    int arc = parse_aggregates(&aggr_flags, &aggregates);
    if (!arc && max_res < 0) arc = st_errorf(ST_EINVAL, "--max-resolution-window must not be negative");
    if (arc) {
        exit_code = tools_fail_in("store", c.cmd, arc);
        goto out;
    }
    bool all_members = aggr_flags.n > 0;
    bool dump = strcmp(format, "dump") == 0;
    if ((!dump && strcmp(format, "labels") != 0) || (dump && skip_chunks)) {
        fprintf(stderr, "strata tools store series: --format must be dump or labels; --skip-chunks needs labels\n");
        exit_code = 2;
        goto out;
    }
    int rc = ST_OK;
    if (!(heads = calloc(c.nsels, sizeof *heads))) {
        exit_code = tools_fail_in("store", c.cmd, st_errorf(ST_ENOMEM, "allocating streams"));
        goto out;
    }
    for (size_t i = 0; i < c.nsels && !rc; i++) {
        st_series_request_t req = {
            .min_time = c.mint,
            .max_time = c.maxt,
            .matchers = c.sels[i],
            .skip_chunks = skip_chunks,
            .partial_response_abort = true,
            .limit = c.limit,
            .response_batch_size = SERIES_BATCH,
            .max_resolution_window = max_res,
            .aggregates = aggregates,
            /* borrowed from argv: req is never freed */
            .without_replica_labels = {(char **)without.v, without.n},
        };
        rc = st_series_stream_open(&heads[i].s, c.client, &req, c.timeout_ms);
        if (!rc) rc = advance(&heads[i]);
    }
    static char obuf[1 << 20];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    int64_t printed = 0;
    bool reader_gone = false;
    while (!rc && !reader_gone && (c.limit == 0 || printed < c.limit)) {
        const st_labels_t *min = NULL;
        for (size_t i = 0; i < c.nsels; i++)
            if (heads[i].lbls && (!min || st_labels_cmp(heads[i].lbls, min) < 0)) min = heads[i].lbls;
        if (!min) break;
        size_t prefix = tools_dump_series(&line, min);
        smp.n = 0;
        for (size_t i = 0; i < c.nsels && dump && !rc; i++) {
            if (!heads[i].lbls || !st_labels_equal(heads[i].lbls, min)) continue;
            for (size_t k = 0; k < heads[i].n && !rc; k++)
                rc = add_chunk(&smp, &heads[i].chunks[k], all_members, c.mint, c.maxt);
        }
        if (rc) {
            st_errwrap(rc, "series %.*s", (int)(prefix - 1), (const char *)line.p);
            break;
        }
        if (dump) {
            if (smp.n) qsort(smp.v, smp.n, sizeof *smp.v, cmp_sample);
            for (size_t k = 0; k < smp.n && !rc; k++) {
                const sample_t *x = &smp.v[k];
                if (k > 0 && x->kind == ST_AGGR_RAW && x[-1].kind == ST_AGGR_RAW && x->t == x[-1].t) continue;
                size_t pre = prefix;
                if (all_members) {
                    line.len = prefix;
                    st_put_cstr(&line, aggr_names[x->kind]);
                    st_put_u8(&line, ' ');
                    pre = line.len;
                }
                rc = tools_dump_sample(&line, pre, x->t, x->v, stdout);
            }
        } else {
            line.p[prefix - 1] = '\n';
            if (fwrite(line.p, 1, prefix, stdout) != prefix)
                rc = errno == EPIPE ? ST_ECANCELED : st_errorf(ST_EIO, "writing output: %s", strerror(errno));
        }
        if (rc == ST_ECANCELED) reader_gone = true, rc = ST_OK;
        printed++;
        /* min points into a head: compare before any of them moves */
        for (size_t i = c.nsels; i-- > 0 && !rc;)
            if (heads[i].lbls && heads[i].lbls != min && st_labels_equal(heads[i].lbls, min)) rc = advance(&heads[i]);
        for (size_t i = 0; i < c.nsels && !rc; i++)
            if (heads[i].lbls == min) rc = advance(&heads[i]);
    }
    if (rc) {
        fflush(stdout);
        exit_code = tools_fail_in("store", c.cmd, rc);
        goto out;
    }
    for (size_t i = 0; i < c.nsels; i++) print_warnings(&c, st_series_stream_warnings(heads[i].s));
    exit_code = reader_gone ? 0 : finish_output(&c);
out:
    for (size_t i = 0; heads && i < c.nsels; i++) st_series_stream_free(heads[i].s);
    free(heads);
    free(smp.v);
    free(aggr_flags.v);
    free(without.v);
    st_encbuf_free(&line);
    common_free(&c);
    return exit_code;
}

/* ---- label names and values ---- */


static int labels_cmd(int argc, char **argv, bool values) {
    common_t c = {.cmd = values ? "label-values" : "label-names"};
    const char *label = NULL;
    const st_flag_t extra[] = {{"label", ST_FLAG_STRING, &label, "The label whose values to list."}};
    st_strlist_t all = {0}, warnings = {0};
    int exit_code = common_parse(&c, argc, argv, extra, values,
                                 values ? "strata tools store label-values --store=HOST:PORT --label=NAME [flags]"
                                        : "strata tools store label-names --store=HOST:PORT [flags]",
                                 values ? "Print the values of a label, one per line."
                                        : "Print the label names, one per line.");
    if (exit_code >= 0) goto out;
    if (values && (!label || !*label)) {
        fprintf(stderr, "strata tools store label-values: --label is required\n");
        exit_code = 2;
        goto out;
    }
    int rc = ST_OK;
    /* one call per selector, the union printed; no --match: no matchers */
    size_t ncalls = c.match.n ? c.nsels : 1;
    for (size_t i = 0; i < ncalls && !rc; i++) {
        st_label_request_t req = {
            .label = (char *)label,
            .start = c.mint,
            .end = c.maxt,
            .partial_response_abort = true,
            .limit = c.limit,
        };
        if (c.match.n) req.matchers = c.sels[i];
        st_strlist_t got, warn;
        rc = values ? st_storeapi_label_values(c.client, &req, c.timeout_ms, &got, &warn)
                    : st_storeapi_label_names(c.client, &req, c.timeout_ms, &got, &warn);
        if (rc) break;
        for (size_t k = 0; k < got.n && !rc; k++) rc = st_strlist_push(&all, got.v[k]);
        for (size_t k = 0; k < warn.n && !rc; k++) rc = st_strlist_push(&warnings, warn.v[k]);
        st_strlist_free(&got);
        st_strlist_free(&warn);
    }
    if (rc) {
        exit_code = tools_fail_in("store", c.cmd, rc);
        goto out;
    }
    /* sorted, unique, limited across the calls as each store does per call */
    st_strlist_sort_unique(&all);
    for (size_t i = 0; i < all.n && (c.limit == 0 || i < (uint64_t)c.limit); i++)
        if (printf("%s\n", all.v[i]) < 0) break;
    print_warnings(&c, &warnings);
    exit_code = finish_output(&c);
out:
    st_strlist_free(&all);
    st_strlist_free(&warnings);
    common_free(&c);
    return exit_code;
}

int tools_store_label_names(int argc, char **argv) { return labels_cmd(argc, argv, false); }
int tools_store_label_values(int argc, char **argv) { return labels_cmd(argc, argv, true); }

/* ---- info ---- */

int tools_store_info(int argc, char **argv) {
    common_t c = {.cmd = "info"};
    st_store_info_t info = {0};
    st_encbuf_t b;
    st_encbuf_init(&b, 0);
    int exit_code = common_parse(&c, argc, argv, NULL, 0, "strata tools store info --store=HOST:PORT",
                                 "Print what a store serves (thanos.info.Info), as name=value lines.");
    if (exit_code >= 0) goto out;
    int rc = st_storeapi_info(c.client, c.timeout_ms, &info);
    if (rc) {
        exit_code = tools_fail_in("store", c.cmd, rc);
        goto out;
    }
    st_put_fmt(&b,
               "component=%s\nmin_time=%lld\nmax_time=%lld\nsupports_sharding=%s\n"
               "supports_without_replica_labels=%s\n",
               info.component, (long long)info.min_time, (long long)info.max_time,
               info.supports_sharding ? "true" : "false", info.supports_without_replica_labels ? "true" : "false");
    for (size_t i = 0; i < info.nlabel_sets; i++) {
        st_put_cstr(&b, "label_set=");
        st_put_labels_go(&b, &info.label_sets[i]);
        st_put_u8(&b, '\n');
    }
    for (size_t i = 0; i < info.ntsdb_infos; i++) {
        st_put_cstr(&b, "tsdb_info=");
        st_put_labels_go(&b, &info.tsdb_infos[i].labels);
        st_put_fmt(&b, " min_time=%lld max_time=%lld\n", (long long)info.tsdb_infos[i].min_time,
                   (long long)info.tsdb_infos[i].max_time);
    }
    if (b.err) {
        exit_code = tools_fail_in("store", c.cmd, st_errorf(b.err, "formatting the info"));
        goto out;
    }
    fwrite(b.p, 1, b.len, stdout);
    exit_code = finish_output(&c);
out:
    st_store_info_free(&info);
    st_encbuf_free(&b);
    common_free(&c);
    return exit_code;
}
