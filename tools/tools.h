/* `strata tools`: offline utilities over TSDB directories (and, later,
 * buckets), named like promtool's and thanos tools' subcommands. */
#ifndef STRATA_TOOLS_H
#define STRATA_TOOLS_H

/* argv[0] is "tools". Returns the process exit code. */
int tools_main(int argc, char **argv);

#endif
