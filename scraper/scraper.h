/* `strata scraper`: Prometheus-compatible pull scraping into a local
 * Prometheus TSDB directory (head + WAL + blocks). */
#ifndef STRATA_SCRAPER_H
#define STRATA_SCRAPER_H

int scraper_main(int argc, char **argv);

#endif
