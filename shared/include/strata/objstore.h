/*
 * objstore.h — object storage, one interface over several backends, as in
 * Thanos's objstore. Configured by a Thanos objstore.yml document:
 *
 *   type: FILESYSTEM            # the embedded default; no server needed
 *   config:
 *     directory: /var/strata/bucket
 *
 *   type: S3
 *   config:
 *     bucket: metrics
 *     endpoint: 127.0.0.1:9000  # host:port
 *     access_key: ...           # or AWS_ACCESS_KEY_ID
 *     secret_key: ...           # or AWS_SECRET_ACCESS_KEY
 *     insecure: true            # http instead of https
 *     region: us-east-1
 *     signature_version2: false # true: libs3 (SigV2) for old MinIO/Ceph
 *     part_size: 67108864       # multipart part size (bytes)
 *
 * Object names are bucket-relative paths with '/' separators
 * ("01H.../chunks/000001"). A handle is safe for concurrent use by several
 * threads. Errors: ST_ENOTFOUND for a missing object, ST_EIO for transport
 * or server failures after retries (the detail has the HTTP status or curl
 * error, never credentials), ST_EINVAL for bad configuration.
 */
#ifndef STRATA_OBJSTORE_H
#define STRATA_OBJSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct st_objstore st_objstore_t;

typedef struct {
    uint64_t size;
    int64_t last_modified_ms; /* ms since epoch; 0 if the backend can't tell */
} st_obj_attrs_t;

/* Open from objstore.yml text (`--objstore.config`) or a file
 * (`--objstore.config-file`). Bad YAML or config: ST_EINVAL with the line. */
int st_objstore_open(st_objstore_t **out, const char *yaml, size_t len);
int st_objstore_open_file(st_objstore_t **out, const char *path);
void st_objstore_close(st_objstore_t *s); /* NULL ok */
/* "FILESYSTEM:/dir" or "S3:bucket@endpoint" — safe to log. */
const char *st_objstore_describe(const st_objstore_t *s);

/* Upload replaces an existing object atomically (readers see the old or the
 * new object, never a part). Large files go up in parts where the backend
 * supports it. */
int st_objstore_upload(st_objstore_t *s, const char *name, const void *data, size_t len);
int st_objstore_upload_file(st_objstore_t *s, const char *name, const char *path);
/* Whole object into a malloc'd buffer (NUL-terminated; *len excludes the
 * NUL). Objects larger than max are ST_ELIMIT. */
int st_objstore_get(st_objstore_t *s, const char *name, size_t max, uint8_t **out, size_t *len);
/* Bytes [off, off+len) (fewer at the end of the object), malloc'd. */
int st_objstore_get_range(st_objstore_t *s, const char *name, uint64_t off, uint64_t len, uint8_t **out,
                          size_t *outlen);
/* Stream an object into a local file (durably: tmp + fsync + rename). */
int st_objstore_download_file(st_objstore_t *s, const char *name, const char *path);
int st_objstore_exists(st_objstore_t *s, const char *name, bool *exists);
int st_objstore_attributes(st_objstore_t *s, const char *name, st_obj_attrs_t *out);
/* Delete one object. A missing object is ST_ENOTFOUND. */
int st_objstore_delete(st_objstore_t *s, const char *name);

/* Calls fn for each entry under dir ("" = bucket root, else ending in '/'):
 * non-recursive lists direct children, with sub-"directories" reported once
 * as "dir/sub/" (S3 delimiter semantics); recursive lists every object.
 * Names are full bucket-relative paths, in lexicographic order. fn
 * returning non-zero stops the iteration and that value is returned. */
typedef int (*st_objstore_iter_fn)(void *ctx, const char *name);
int st_objstore_iter(st_objstore_t *s, const char *dir, bool recursive, st_objstore_iter_fn fn, void *ctx);

#endif
