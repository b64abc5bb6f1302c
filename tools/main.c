/* `strata tools` dispatcher. */
#include <stdio.h>
#include <string.h>

#include "strata/err.h"
#include "tools.h"
#include "tools_int.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} tsdb_cmds[] = {
    {"create-blocks-from", tools_tsdb_create_blocks, "Import samples from an OpenMetrics file into 2h blocks."},
    {"dump", tools_tsdb_dump, "Print every sample: {labels} value timestamp (as promtool tsdb dump)."},
    {"analyze", tools_tsdb_analyze, "Show series, samples, chunk fullness and label cardinality of a block."},
    {"list", tools_tsdb_list, "List the blocks of a data directory."},
};

static void usage(FILE *f) {
    fprintf(f, "usage: strata tools tsdb <command> [flags] [args]\n\nCommands:\n");
    for (size_t i = 0; i < sizeof tsdb_cmds / sizeof tsdb_cmds[0]; i++)
        fprintf(f, "  tsdb %-20s %s\n", tsdb_cmds[i].name, tsdb_cmds[i].help);
}

int tools_fail(const char *cmd, int rc) {
    fprintf(stderr, "strata tools tsdb %s: %s\n", cmd, st_errdetail(rc));
    return 1;
}

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
    if (strcmp(argv[1], "tsdb") != 0) {
        fprintf(stderr, "strata tools: unknown command \"%s\" (have: tsdb)\n", argv[1]);
        return 2;
    }
    if (argc < 3 || strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0) {
        usage(argc < 3 ? stderr : stdout);
        return argc < 3 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof tsdb_cmds / sizeof tsdb_cmds[0]; i++)
        if (strcmp(argv[2], tsdb_cmds[i].name) == 0) return tsdb_cmds[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "strata tools tsdb: unknown command \"%s\"\n", argv[2]);
    usage(stderr);
    return 2;
}
