/* `strata sidecar`: ships the blocks of a Prometheus (or strata scraper)
 * TSDB directory to object storage, as `thanos sidecar` does. */
#ifndef STRATA_SIDECAR_H
#define STRATA_SIDECAR_H

/* argv[0] is "sidecar". Returns the process exit code: 0 after a clean
 * shutdown (SIGINT/SIGTERM), 1 on a fatal error, 2 on a usage error. */
int sidecar_main(int argc, char **argv);

#endif
