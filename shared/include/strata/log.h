/*
 * log.h — logfmt logging to stderr, like Prometheus/Thanos (go-kit log):
 *   level=info ts=2026-11-25T18:00:00.123Z msg="uploaded block" block=01H... dur=1.2s
 * Each line is written with one write(2), so lines from threads never mix.
 * Secrets must never be passed as values.
 */
#ifndef STRATA_LOG_H
#define STRATA_LOG_H

typedef enum { ST_LOG_DEBUG = 0, ST_LOG_INFO, ST_LOG_WARN, ST_LOG_ERROR } st_log_level_t;

void st_log_set_level(st_log_level_t level);
/* "debug", "info", "warn", "error" (as --log.level). ST_EINVAL otherwise. */
int st_log_parse_level(const char *s, st_log_level_t *out);
/* Key/value pairs follow msg as const char * arguments, ended by NULL:
 *   st_log(ST_LOG_INFO, "uploaded block", "block", id, "files", "3", NULL);
 * Values with spaces, quotes, '=' or control bytes are quoted. */
void st_log(st_log_level_t level, const char *msg, ...) __attribute__((sentinel));

#endif
