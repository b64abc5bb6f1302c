/* Entry points of the `strata tools tsdb|bucket` subcommands (argv[0] =
 * the subcommand word). Each returns the process exit code: 0 ok, 1 error,
 * 2 usage error. */
#ifndef STRATA_TOOLS_INT_H
#define STRATA_TOOLS_INT_H

#include "strata/block.h"

int tools_tsdb_dump(int argc, char **argv);
int tools_tsdb_analyze(int argc, char **argv);
int tools_tsdb_list(int argc, char **argv);
int tools_tsdb_create_blocks(int argc, char **argv);
int tools_bucket_ls(int argc, char **argv);
int tools_bucket_inspect(int argc, char **argv);
int tools_bucket_verify(int argc, char **argv);
int tools_bucket_cleanup(int argc, char **argv);
int tools_bucket_download(int argc, char **argv);

/* Print "strata tools <group> <cmd>: <detail>" for a failed call; returns 1. */
int tools_fail_in(const char *group, const char *cmd, int rc);
/* tools_fail_in("tsdb", cmd, rc). */
int tools_fail(const char *cmd, int rc);
/* Go time.Duration.String() of a millisecond span ("2h0m0s", "1m30.5s"). */
void tools_fmt_duration(char *out, size_t len, int64_t ms);

#endif
