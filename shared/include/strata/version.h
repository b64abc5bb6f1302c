/* version.h — the release every component reports (buildinfo, logs,
 * User-Agent). */
#ifndef STRATA_VERSION_H
#define STRATA_VERSION_H

#define ST_VERSION "0.1.0"

#endif
