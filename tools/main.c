/* `strata tools` dispatcher. */
#include <stdio.h>
#include <string.h>

#include "strata/err.h"
#include "tools.h"
#include "tools_int.h"

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} cmd_t;

static const cmd_t tsdb_cmds[] = {
    {"create-blocks-from", tools_tsdb_create_blocks, "Import samples from an OpenMetrics file into 2h blocks."},
    {"dump", tools_tsdb_dump, "Print every sample: {labels} value timestamp (as promtool tsdb dump)."},
    {"analyze", tools_tsdb_analyze, "Show series, samples, chunk fullness and label cardinality of a block."},
    {"list", tools_tsdb_list, "List the blocks of a data directory."},
};

static const cmd_t bucket_cmds[] = {
    {"ls", tools_bucket_ls, "List the blocks of a bucket: ULID, time range, labels, resolution, size."},
    {"inspect", tools_bucket_inspect, "Show the blocks of a bucket as a table (as thanos tools bucket inspect)."},
    {"verify", tools_bucket_verify, "Find partial uploads, overlapping blocks and index problems."},
    {"cleanup", tools_bucket_cleanup, "Delete partial uploads and deletion-marked blocks older than --delete-delay."},
    {"download", tools_bucket_download, "Download one block into a local directory."},
    {"upload-blocks", tools_bucket_upload_blocks, "Upload local blocks with external labels (--label=k=v, repeatable)."},
};

static const cmd_t store_cmds[] = {
    {"series", tools_store_series, "Print the series a StoreAPI server serves (as tsdb dump, or label sets)."},
    {"label-names", tools_store_label_names, "Print the label names a StoreAPI server knows."},
    {"label-values", tools_store_label_values, "Print the values of one label (--label=NAME)."},
    {"info", tools_store_info, "Print a StoreAPI server's Info: component, time range, label sets."},
};

static const cmd_t promql_cmds[] = {
    {"query", tools_promql_query, "Evaluate a PromQL query over a data directory's blocks; print the API's JSON."},
};

static const cmd_t query_cmds[] = {
    {"instant", tools_query_instant, "Instant PromQL query through a querier's QueryService (gRPC); print the API's JSON."},
    {"range", tools_query_range, "Range PromQL query through a querier's QueryService (gRPC); print the API's JSON."},
};

static const struct {
    const char *name;
    const cmd_t *cmds;
    size_t n;
} groups[] = {
    {"tsdb", tsdb_cmds, sizeof tsdb_cmds / sizeof tsdb_cmds[0]},
    {"bucket", bucket_cmds, sizeof bucket_cmds / sizeof bucket_cmds[0]},
    {"store", store_cmds, sizeof store_cmds / sizeof store_cmds[0]},
    {"promql", promql_cmds, sizeof promql_cmds / sizeof promql_cmds[0]},
    {"query", query_cmds, sizeof query_cmds / sizeof query_cmds[0]},
};

static void usage(FILE *f) {
    fprintf(f, "usage: strata tools <group> <command> [flags] [args]\n\nCommands:\n");
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        for (size_t i = 0; i < groups[g].n; i++)
            fprintf(f, "  %s %-*s %s\n", groups[g].name, (int)(25 - strlen(groups[g].name)), groups[g].cmds[i].name,
                    groups[g].cmds[i].help);
}

int tools_fail_in(const char *group, const char *cmd, int rc) {
    fprintf(stderr, "strata tools %s %s: %s\n", group, cmd, st_errdetail(rc));
    return 1;
}

int tools_fail(const char *cmd, int rc) { return tools_fail_in("tsdb", cmd, rc); }

void tools_fmt_duration(char *out, size_t len, int64_t ms) {
    const char *sign = ms < 0 ? "-" : "";
    uint64_t u = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    uint64_t h = u / 3600000, m = (u / 60000) % 60, s = (u / 1000) % 60, frac = u % 1000;
    char secs[32];
    if (frac) {
        int n = snprintf(secs, sizeof secs, "%llu.%03llu", (unsigned long long)s, (unsigned long long)frac);
        while (n > 0 && secs[n - 1] == '0') secs[--n] = 0;
    } else {
        snprintf(secs, sizeof secs, "%llu", (unsigned long long)s);
    }
    if (u == 0) snprintf(out, len, "0s");
    else if (u < 1000) snprintf(out, len, "%s%llums", sign, (unsigned long long)u);
    else if (h) snprintf(out, len, "%s%lluh%llum%ss", sign, (unsigned long long)h, (unsigned long long)m, secs);
    else if (m) snprintf(out, len, "%s%llum%ss", sign, (unsigned long long)m, secs);
    else snprintf(out, len, "%s%ss", sign, secs);
}

int tools_main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    size_t g = 0, ng = sizeof groups / sizeof groups[0];
    while (g < ng && strcmp(argv[1], groups[g].name) != 0) g++;
    if (g == ng) {
        fprintf(stderr, "strata tools: unknown command \"%s\" (have: tsdb, bucket, store, promql, query)\n", argv[1]);
        return 2;
    }
    if (argc < 3 || strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0) {
        usage(argc < 3 ? stderr : stdout);
        return argc < 3 ? 2 : 0;
    }
    for (size_t i = 0; i < groups[g].n; i++)
        if (strcmp(argv[2], groups[g].cmds[i].name) == 0) return groups[g].cmds[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "strata tools %s: unknown command \"%s\"\n", groups[g].name, argv[2]);
    usage(stderr);
    return 2;
}
