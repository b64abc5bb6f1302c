/*
 * objstore_int.h — private to the objstore module (and its tests/fuzzers):
 * the parsed objstore.yml, the backend vtable, and the pieces of the S3
 * backend that are tested on their own (XML parsing, SigV4 signing).
 */
#ifndef STRATA_OBJSTORE_INT_H
#define STRATA_OBJSTORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strata/objstore.h"

/* ---- configuration (config.c) ---- */

typedef enum { ST_OBJ_FILESYSTEM = 1, ST_OBJ_S3 = 2 } st_obj_type_t;

#define ST_OBJ_DEFAULT_PART_SIZE ((uint64_t)64 << 20)
#define ST_OBJ_MIN_PART_SIZE ((uint64_t)5 << 20) /* S3's minimum for all parts but the last */
#define ST_OBJ_MAX_PART_SIZE ((uint64_t)5 << 30)
#define ST_OBJ_DEFAULT_MAX_RETRIES 4 /* 5 attempts in all */
#define ST_OBJ_CONFIG_MAX_BYTES ((size_t)1 << 20)

typedef struct {
    st_obj_type_t type;
    char *directory; /* FILESYSTEM */
    /* S3; all owned, NULL when absent (access/secret key fall back to the
     * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY environment variables) */
    char *bucket, *endpoint, *access_key, *secret_key, *region;
    bool insecure, signature_version2, insecure_skip_verify;
    uint64_t part_size;
    int max_retries;
} st_objstore_config_t;

/* Parse a Thanos objstore.yml document. ST_EINVAL with the line on errors;
 * the secret key never appears in a detail. */
int st_objstore_config_parse(st_objstore_config_t *cfg, const char *yaml, size_t len);
void st_objstore_config_free(st_objstore_config_t *cfg); /* NULL ok */

/* ---- backend vtable (objstore.c dispatches; names are validated there) ---- */

#define ST_OBJ_TO_END UINT64_MAX

typedef struct {
    int (*upload)(st_objstore_t *s, const char *name, const void *data, size_t len);
    int (*upload_file)(st_objstore_t *s, const char *name, const char *path);
    /* [off, off+len) (len ST_OBJ_TO_END: to the end); a result above max is
     * ST_ELIMIT; an offset at or past the end gives 0 bytes. */
    int (*get)(st_objstore_t *s, const char *name, uint64_t off, uint64_t len, size_t max,
               uint8_t **out, size_t *outlen);
    int (*download_file)(st_objstore_t *s, const char *name, const char *path);
    int (*attributes)(st_objstore_t *s, const char *name, st_obj_attrs_t *out);
    int (*del)(st_objstore_t *s, const char *name);
    int (*iter)(st_objstore_t *s, const char *dir, bool recursive, st_objstore_iter_fn fn,
                void *ctx);
    void (*close)(void *impl);
} st_objstore_ops_t;

struct st_objstore {
    const st_objstore_ops_t *ops;
    void *impl;
    char *desc;
};

/* Each fills s->ops, s->impl and s->desc from an already validated config. */
int st_objstore_fs_open(st_objstore_t *s, const st_objstore_config_t *cfg);
int st_objstore_s3_open(st_objstore_t *s, const st_objstore_config_t *cfg);
int st_objstore_s3v2_open(st_objstore_t *s, const st_objstore_config_t *cfg);

/* ---- S3 XML responses (s3_xml.c, expat) ---- */

typedef struct {
    char *name;     /* key or common prefix, owned */
    uint64_t size;
    bool is_prefix;
} st_s3_entry_t;

typedef struct {
    st_s3_entry_t *v; /* Contents and CommonPrefixes merged, sorted by name */
    size_t n;
    bool truncated;
    char *next_token; /* NextContinuationToken, owned, NULL if none */
} st_s3_list_t;

#define ST_S3_XML_MAX_BYTES ((size_t)16 << 20)
#define ST_S3_LIST_MAX_ENTRIES 100000

/* ListObjectsV2 result. Bad XML or a missing/oversized element is ST_ECORRUPT. */
int st_s3_parse_list(st_s3_list_t *out, const char *xml, size_t len);
void st_s3_list_free(st_s3_list_t *l); /* NULL ok */
/* <InitiateMultipartUploadResult><UploadId>. */
int st_s3_parse_upload_id(char **out, const char *xml, size_t len);
/* <Error><Code>..</Code><Message>..</Message>: copies into code/msg
 * (truncated, always NUL-terminated; empty when absent). 0 or ST_ECORRUPT. */
int st_s3_parse_error(const char *xml, size_t len, char *code, size_t codecap, char *msg,
                      size_t msgcap);

/* ---- shared by the S3 backends ---- */

/* Sleep for attempt n (0-based) of the jittered exponential backoff. */
void st_objstore_backoff(int attempt);
/* Percent-encode s as SigV4 wants it: RFC 3986 unreserved bytes kept, '/'
 * kept when keep_slash, everything else %XX with upper-case hex. malloc'd. */
char *st_uri_encode(const char *s, bool keep_slash);
/* Lower-case hex SHA-256 of data (x-amz-content-sha256). */
void st_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
