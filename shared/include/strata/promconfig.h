/*
 * promconfig.h — the subset of Prometheus's configuration file
 * (prometheus.yml) that `strata scraper` understands, with Prometheus 2.42's
 * defaults and checks, and the YAML writer behind /api/v1/status/config.
 *
 *   global:            scrape_interval (1m), scrape_timeout (10s, at most
 *                      the interval), evaluation_interval (1m, kept only to
 *                      accept existing files), external_labels
 *   scrape_configs:    job_name (required, unique), scrape_interval and
 *                      scrape_timeout (from global; timeout > interval is an
 *                      error), metrics_path (/metrics), scheme (http|https),
 *                      params, honor_labels (false), honor_timestamps (true),
 *                      sample_limit, label_limit, label_name_length_limit,
 *                      label_value_length_limit, target_limit,
 *                      body_size_limit (bytes or "10MB"), static_configs,
 *                      file_sd_configs (files, refresh_interval 5m),
 *                      http_sd_configs (url, refresh_interval 1m),
 *                      relabel_configs, metric_relabel_configs
 *   Strata extension:  label_value_limit_per_name (scrape config, default
 *                      1000, 0 = off): the cardinality guard — per target
 *                      and label name, values beyond this many distinct ones
 *                      become "reassigned_high_cardinality".
 *
 * Like Prometheus (strict unmarshalling) an unknown or repeated key is an
 * error. Errors are ST_EINVAL with "NAME:LINE: where: what" in the detail
 * (NAME is the file name given; LINE 1-based). Sizes are capped: the file at
 * ST_PROMCONFIG_MAX_BYTES, YAML nodes visited (aliases count each time) at
 * ST_PROMCONFIG_MAX_NODES (ST_ELIMIT beyond).
 *
 * A parsed config is immutable; its relabelers may be used from any thread.
 */
#ifndef STRATA_PROMCONFIG_H
#define STRATA_PROMCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/buf.h"
#include "strata/labels.h"
#include "strata/relabel.h"

#define ST_PROMCONFIG_MAX_BYTES ((size_t)64 << 20)
#define ST_PROMCONFIG_MAX_NODES ((size_t)4 << 20)
#define ST_PROMCONFIG_DEFAULT_LABEL_VALUE_LIMIT 1000

/* A static_configs entry, or one group of a file_sd / http_sd document. */
typedef struct {
    char **targets; /* owned "host:port" strings */
    size_t n_targets;
    st_labels_t labels; /* owned */
} st_target_group_t;

typedef struct {
    char **files; /* owned; globs allowed in the last path element */
    size_t n_files;
    int64_t refresh_interval_ms;
} st_file_sd_config_t;

typedef struct {
    char *url; /* owned */
    int64_t refresh_interval_ms;
} st_http_sd_config_t;

typedef struct {
    char *name; /* owned */
    char **values; /* owned */
    size_t n_values;
} st_url_param_t;

/* An owned rule list: the specs as written (strings owned by the config)
 * and their compiled form. */
typedef struct {
    st_relabel_spec_t *specs;
    size_t n;
    st_relabel_t *compiled; /* NULL when n == 0 */
} st_relabel_list_t;

typedef struct {
    char *job_name;
    int64_t scrape_interval_ms, scrape_timeout_ms;
    char *metrics_path, *scheme;
    st_url_param_t *params;
    size_t n_params;
    bool honor_labels, honor_timestamps;
    uint64_t sample_limit, label_limit, label_name_length_limit, label_value_length_limit, target_limit;
    uint64_t body_size_limit; /* bytes, 0 = none */
    uint64_t label_value_limit_per_name;
    st_target_group_t *static_configs;
    size_t n_static_configs;
    st_file_sd_config_t *file_sd_configs;
    size_t n_file_sd_configs;
    st_http_sd_config_t *http_sd_configs;
    size_t n_http_sd_configs;
    st_relabel_list_t relabel_configs, metric_relabel_configs;
} st_scrape_config_t;

typedef struct {
    int64_t scrape_interval_ms, scrape_timeout_ms, evaluation_interval_ms;
    st_labels_t external_labels;
    st_scrape_config_t *scrape_configs;
    size_t n_scrape_configs;
} st_promconfig_t;

/* Parse YAML text; name is used in error details only. An empty document is
 * a valid config with only defaults. */
int st_promconfig_parse(st_promconfig_t **out, const char *yaml, size_t len, const char *name);
/* Read and parse a file (ST_ENOTFOUND / ST_EIO naming the path). */
int st_promconfig_load(st_promconfig_t **out, const char *path);
void st_promconfig_free(st_promconfig_t *c); /* NULL ok */

/* The config as YAML with every default filled in, in the shape Prometheus
 * marshals it (same keys and order for the supported subset), appended to b.
 * Parsing the output gives an equal config. */
void st_promconfig_write_yaml(const st_promconfig_t *c, st_encbuf_t *b);

/* A YAML sequence of relabel rules (as in relabel_configs, or a
 * --selector.relabel-config file) into a compiled list. */
int st_promconfig_parse_relabel(st_relabel_list_t *out, const char *yaml, size_t len, const char *name);
/* Thanos's flag pair --selector.relabel-config-file / --selector.relabel-config:
 * at most one of file and yaml (both is ST_EINVAL); neither leaves *out
 * empty. */
int st_promconfig_load_selector_relabel(st_relabel_list_t *out, const char *file, const char *yaml);
void st_relabel_list_free(st_relabel_list_t *l); /* frees members, zeroes; NULL ok */

/* A file_sd / http_sd document: a list of {targets: [...], labels: {...}}.
 * json selects JSON (jansson; http_sd and *.json files) or YAML (*.yml,
 * *.yaml). Errors name the group index (and the line for YAML). */
int st_target_groups_parse(st_target_group_t **out, size_t *n, const char *data, size_t len, bool json,
                           const char *name);
void st_target_groups_free(st_target_group_t *g, size_t n); /* NULL ok */

/* Prometheus model.Duration.String(): "1m", "1h30m", "10s", "500ms", "2w", "0s". */
void st_fmt_prom_duration(char out[32], int64_t ms);

#endif
