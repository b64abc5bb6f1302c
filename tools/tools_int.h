/* Entry points of the `strata tools tsdb|bucket|store` subcommands (argv[0] =
 * the subcommand word). Each returns the process exit code: 0 ok, 1 error,
 * 2 usage error. */
#ifndef STRATA_TOOLS_INT_H
#define STRATA_TOOLS_INT_H

#include <stdio.h>

#include "strata/block.h"
#include "strata/buf.h"
#include "strata/labels.h"

int tools_tsdb_dump(int argc, char **argv);
int tools_tsdb_analyze(int argc, char **argv);
int tools_tsdb_list(int argc, char **argv);
int tools_tsdb_create_blocks(int argc, char **argv);
int tools_bucket_ls(int argc, char **argv);
int tools_bucket_inspect(int argc, char **argv);
int tools_bucket_verify(int argc, char **argv);
int tools_bucket_cleanup(int argc, char **argv);
int tools_bucket_download(int argc, char **argv);
int tools_bucket_upload_blocks(int argc, char **argv);
int tools_store_series(int argc, char **argv);
int tools_store_label_names(int argc, char **argv);
int tools_store_label_values(int argc, char **argv);
int tools_store_info(int argc, char **argv);
int tools_promql_query(int argc, char **argv);
int tools_query_instant(int argc, char **argv);
int tools_query_range(int argc, char **argv);

/* Print "strata tools <group> <cmd>: <detail>" for a failed call; returns 1. */
int tools_fail_in(const char *group, const char *cmd, int rc);
/* tools_fail_in("tsdb", cmd, rc). */
int tools_fail(const char *cmd, int rc);
/* promtool tsdb dump's lines (dump.c): tools_dump_series resets line to
 * "{labels} " and returns its length (the prefix); tools_dump_sample writes
 * prefix + "value timestamp\n" to out. ST_ECANCELED when the reader of a
 * pipe went away (EPIPE), ST_EIO on other write errors. */
size_t tools_dump_series(st_encbuf_t *line, const st_labels_t *l);
int tools_dump_sample(st_encbuf_t *line, size_t prefix, int64_t t, double v, FILE *out);
/* Go time.Duration.String() of a millisecond span ("2h0m0s", "1m30.5s"). */
void tools_fmt_duration(char *out, size_t len, int64_t ms);

#endif
