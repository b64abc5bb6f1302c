/*
 * Dispatch over the backends (fs.c, s3.c, s3_v2.c): object names are checked
 * here once, so every backend sees only clean bucket-relative paths.
 */
#include <stdlib.h>
#include <string.h>

#include "objstore_int.h"
#include "strata/err.h"
#include "strata/fileutil.h"

int st_objstore_open(st_objstore_t **out, const char *yaml, size_t len) {
    *out = NULL;
    st_objstore_config_t cfg;
    int rc = st_objstore_config_parse(&cfg, yaml, len);
    if (rc) return rc;
    st_objstore_t *s = calloc(1, sizeof *s);
    if (!s) {
        rc = st_errorf(ST_ENOMEM, "objstore: out of memory");
        goto out;
    }
    if (cfg.type == ST_OBJ_FILESYSTEM) rc = st_objstore_fs_open(s, &cfg);
    else if (cfg.signature_version2) rc = st_objstore_s3v2_open(s, &cfg);
    else rc = st_objstore_s3_open(s, &cfg);
    if (rc) {
        free(s->desc);
        free(s);
        goto out;
    }
    *out = s;
out:
    st_objstore_config_free(&cfg);
    return rc;
}

int st_objstore_open_file(st_objstore_t **out, const char *path) {
    *out = NULL;
    uint8_t *text = NULL;
    size_t len = 0;
    int rc = st_file_read_all(path, ST_OBJ_CONFIG_MAX_BYTES, &text, &len);
    if (rc) return st_errwrap(rc == ST_ENOTFOUND ? ST_EINVAL : rc, "objstore config file %s", path);
    rc = st_objstore_open(out, (const char *)text, len);
    if (rc) st_errwrap(rc, "%s", path);
    explicit_bzero(text, len); /* it may hold a secret key */
    free(text);
    return rc;
}

void st_objstore_close(st_objstore_t *s) {
    if (!s) return;
    s->ops->close(s->impl);
    free(s->desc);
    free(s);
}

const char *st_objstore_describe(const st_objstore_t *s) { return s ? s->desc : "(none)"; }

/* Names are bucket-relative paths: no leading '/', no empty, "." or ".."
 * segment (a filesystem bucket must never be escaped), no control bytes. */
static int check_name(const char *name, bool dir) {
    if (!name) return st_errorf(ST_EINVAL, "objstore: NULL object name");
    size_t n = strlen(name);
    if (dir && n == 0) return ST_OK;
    if (n == 0 || n > 1024)
        return st_errorf(ST_EINVAL, "objstore: object name of %zu bytes (1..1024 allowed)", n);
    if (dir != (name[n - 1] == '/'))
        return st_errorf(ST_EINVAL, dir ? "objstore: directory \"%s\" must end in '/'"
                                        : "objstore: object name \"%s\" must not end in '/'", name);
    const char *seg = name;
    for (const char *p = name;; p++) {
        if (*p && (unsigned char)*p < 0x20)
            return st_errorf(ST_EINVAL, "objstore: object name has a control byte");
        if (*p == '/' || !*p) {
            size_t sl = (size_t)(p - seg);
            bool last_of_dir = dir && !*p;
            if (!last_of_dir && (sl == 0 || (sl == 1 && seg[0] == '.') || (sl == 2 && !memcmp(seg, "..", 2))))
                return st_errorf(ST_EINVAL, "objstore: object name \"%s\" has an empty, \".\" or \"..\" segment", name);
            if (!*p) break;
            seg = p + 1;
        }
    }
    return ST_OK;
}

int st_objstore_upload(st_objstore_t *s, const char *name, const void *data, size_t len) {
    int rc = check_name(name, false);
    if (rc) return rc;
    if (!data && len) return st_errorf(ST_EINVAL, "objstore: upload %s: NULL data", name);
    return s->ops->upload(s, name, data ? data : "", len);
}

int st_objstore_upload_file(st_objstore_t *s, const char *name, const char *path) {
    int rc = check_name(name, false);
    return rc ? rc : s->ops->upload_file(s, name, path);
}

int st_objstore_get(st_objstore_t *s, const char *name, size_t max, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    int rc = check_name(name, false);
    return rc ? rc : s->ops->get(s, name, 0, ST_OBJ_TO_END, max, out, len);
}

int st_objstore_get_range(st_objstore_t *s, const char *name, uint64_t off, uint64_t len, uint8_t **out,
                          size_t *outlen) {
    *out = NULL;
    *outlen = 0;
    int rc = check_name(name, false);
    if (rc) return rc;
    if (len > SIZE_MAX - 1 || off > UINT64_MAX - len)
        return st_errorf(ST_EINVAL, "objstore: get %s: range %llu+%llu out of bounds", name,
                         (unsigned long long)off, (unsigned long long)len);
    if (len == 0) {
        /* no byte range can express zero bytes; still report a missing object */
        st_obj_attrs_t a;
        rc = s->ops->attributes(s, name, &a);
        if (rc) return rc;
        if (!(*out = malloc(1))) return st_errorf(ST_ENOMEM, "objstore: get %s: out of memory", name);
        (*out)[0] = 0;
        return ST_OK;
    }
    return s->ops->get(s, name, off, len, (size_t)len, out, outlen);
}

int st_objstore_download_file(st_objstore_t *s, const char *name, const char *path) {
    int rc = check_name(name, false);
    return rc ? rc : s->ops->download_file(s, name, path);
}

int st_objstore_exists(st_objstore_t *s, const char *name, bool *exists) {
    *exists = false;
    st_obj_attrs_t a;
    int rc = st_objstore_attributes(s, name, &a);
    if (rc == ST_ENOTFOUND) {
        st_errclear();
        return ST_OK;
    }
    if (rc == ST_OK) *exists = true;
    return rc;
}

int st_objstore_attributes(st_objstore_t *s, const char *name, st_obj_attrs_t *out) {
    memset(out, 0, sizeof *out);
    int rc = check_name(name, false);
    return rc ? rc : s->ops->attributes(s, name, out);
}

int st_objstore_delete(st_objstore_t *s, const char *name) {
    int rc = check_name(name, false);
    return rc ? rc : s->ops->del(s, name);
}

int st_objstore_iter(st_objstore_t *s, const char *dir, bool recursive, st_objstore_iter_fn fn, void *ctx) {
    int rc = check_name(dir, true);
    return rc ? rc : s->ops->iter(s, dir, recursive, fn, ctx);
}
