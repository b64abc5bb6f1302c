/* The `strata` binary: one subcommand per component, like `thanos`. */
#include <stdio.h>
#include <string.h>

#include "compactor.h"
#include "query.h"
#include "scraper.h"
#include "sidecar.h"
#include "store.h"
#include "tools.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"compact", compact_main, "Compact, deduplicate, downsample and apply retention to bucket blocks."},
    {"query", query_main, "Query StoreAPI endpoints as one: fan-out, HA dedup, Prometheus HTTP API (PromQL pending)."},
    {"scraper", scraper_main, "Scrape targets as Prometheus does into a local TSDB (head + WAL + blocks)."},
    {"sidecar", sidecar_main, "Ship Prometheus blocks to object storage (meta.json last)."},
    {"store", store_main, "Serve bucket blocks over the StoreAPI (index-headers, ranged reads)."},
    {"tools", tools_main, "Offline tools: tsdb (create-blocks-from, dump, analyze, list), bucket (ls, inspect, verify, cleanup, download)."},
};

static void usage(FILE *f) {
    fprintf(f, "usage: strata <command> [flags] [args]\n\nA Prometheus/Thanos-compatible metrics store.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nRun 'strata <command> --help' for a command's flags.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "strata: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
