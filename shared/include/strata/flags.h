/*
 * flags.h — command-line flags in the style of Prometheus/Thanos (kingpin):
 * `--name=value` or `--name value`, `--flag`/`--no-flag` for booleans,
 * `-h`/`--help`. Positional arguments may appear anywhere; `--` ends flags.
 * Durations use Prometheus's syntax (1y 2w 3d 4h 5m 6s 7ms, combinable).
 */
#ifndef STRATA_FLAGS_H
#define STRATA_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { ST_FLAG_STRING, ST_FLAG_INT64, ST_FLAG_BOOL, ST_FLAG_DURATION, ST_FLAG_STRINGS } st_flag_kind_t;

/* A repeatable string flag (--store=a --store=b), like kingpin's Strings():
 * each occurrence appends. v is malloc'd (free() it, even after a failed
 * parse); the strings are borrowed from argv. */
typedef struct {
    const char **v;
    size_t n;
} st_flag_strings_t;

typedef struct {
    const char *name;    /* without the leading "--" */
    st_flag_kind_t kind;
    void *dst;           /* const char **, int64_t *, bool *, int64_t * (ms), st_flag_strings_t * */
    const char *help;
} st_flag_t;

/* Parse argv[0..argc) (argv[0] is NOT skipped: pass argc-1, argv+1 after a
 * command word). Returns 0, 1 when help was asked for, or ST_EINVAL with the
 * reason in the detail. *pos receives a malloc'd array of borrowed argv
 * pointers (free() it), *npos its length. */
int st_flags_parse(const st_flag_t *flags, size_t nflags, int argc, char **argv, char ***pos, size_t *npos);
void st_flags_usage(FILE *f, const char *usage, const char *summary, const st_flag_t *flags, size_t nflags);
/* A component's command line (argv[0] is the command word; no positional
 * arguments): st_flags_parse, then on --help the usage on stdout and
 * *exit_code = 0, on a positional argument the usage on stderr and
 * *exit_code = 2; both return 1 (exit with *exit_code). Only the first
 * nshown flags are listed (trailing hidden aliases). 0 = go on; < 0 = a bad
 * flag, the reason in the detail (report it with the other checks). */
int st_flags_parse_command(const st_flag_t *flags, size_t nflags, size_t nshown, int argc, char **argv,
                           const char *usage, const char *summary, int *exit_code);

/* "90s", "1h30m", "2d" -> milliseconds. ST_EINVAL on bad syntax or overflow. */
int st_duration_parse(const char *s, int64_t *ms);
/* A size as Thanos/Prometheus flags and configs write it (Go's Base2Bytes):
 * digits and an optional 1024-based unit B, KB/KiB, MB/MiB, GB/GiB, TB/TiB,
 * PB/PiB, EB/EiB ("250MB" = 250 << 20). ST_EINVAL otherwise. */
int st_bytes_parse(const char *s, uint64_t *out);
/* Strict decimal int64 parse of the whole string. ST_EINVAL otherwise. */
int st_int64_parse(const char *s, int64_t *out);

#endif
