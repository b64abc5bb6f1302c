/*
 * Blocks in a bucket: upload, download, delete, list (protocol in
 * bucket.h). Names coming back from a listing are untrusted: only
 * "<ULID>/index" and "<ULID>/chunks/<name>" (no further '/', not "." or
 * "..") are ever turned into local paths.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bucket_int.h"
#include "strata/block.h"
#include "strata/err.h"
#include "strata/fileutil.h"

/* ---- small owned string list ---- */

typedef struct {
    char **v;
    size_t n, cap;
} strlist_t;

static int strlist_add(strlist_t *l, const char *s) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) return st_errorf(ST_ENOMEM, "name list of %zu entries", cap);
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s))) return st_errorf(ST_ENOMEM, "name list entry");
    l->n++;
    return ST_OK;
}

static void strlist_free(strlist_t *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int collect(void *ctx, const char *name) { return strlist_add(ctx, name); }

static int strcmp_p(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every object under <ULID>/ (recursive). */
static int list_block_objects(st_objstore_t *s, const st_ulid_t *id, strlist_t *out) {
    char *dir = bucket_obj_name(id, "");
    if (!dir) return st_errorf(ST_ENOMEM, "block dir name");
    int rc = st_objstore_iter(s, dir, true, collect, out);
    free(dir);
    return rc;
}

/* ---- upload ---- */

/* chunks/<segment> files (sorted), then index, then meta.json (no size). */
static int gather_files(const char *dir, st_thanos_file_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    char *cdir = st_path_join(dir, "chunks");
    strlist_t names = {0};
    st_thanos_file_t *files = NULL;
    size_t nf = 0;
    int rc = ST_OK;
    DIR *d = cdir ? opendir(cdir) : NULL;
    if (!d) {
        rc = cdir ? st_errorf(errno == ENOENT ? ST_ENOTFOUND : ST_EIO, "block %s: open chunks dir: %s", dir,
                              strerror(errno))
                  : st_errorf(ST_ENOMEM, "block %s: path", dir);
        goto out;
    }
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && (rc = strlist_add(&names, e->d_name))) goto out;
    if (names.n) qsort(names.v, names.n, sizeof *names.v, strcmp_p);
    files = calloc(names.n + 2, sizeof *files);
    if (!files) {
        rc = st_errorf(ST_ENOMEM, "block %s: %zu files", dir, names.n + 2);
        goto out;
    }
    for (size_t i = 0; i <= names.n; i++) {
        bool is_index = i == names.n;
        size_t len = strlen(is_index ? "index" : names.v[i]) + 8;
        char *rel = malloc(len);
        if (!rel) {
            rc = st_errorf(ST_ENOMEM, "block %s: file name", dir);
            goto out;
        }
        if (is_index) snprintf(rel, len, "index");
        else snprintf(rel, len, "chunks/%s", names.v[i]);
        files[nf++].rel_path = rel;
        char *path = st_path_join(dir, rel);
        struct stat st;
        if (!path || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            rc = !path ? st_errorf(ST_ENOMEM, "block %s: path", dir)
                       : st_errorf(ST_EIO, "block %s: %s: not a readable regular file", dir, rel);
            free(path);
            goto out;
        }
        free(path);
        files[nf - 1].size = (uint64_t)st.st_size;
    }
    if (!(files[nf].rel_path = strdup(ST_META_FILENAME))) {
        rc = st_errorf(ST_ENOMEM, "block %s: file name", dir);
        goto out;
    }
    nf++;
    *out = files;
    *n = nf;
    files = NULL;
out:
    if (d) closedir(d);
    for (size_t i = 0; files && i < nf; i++) free(files[i].rel_path);
    free(files);
    strlist_free(&names);
    free(cdir);
    return rc;
}

/* The last path component of dir, ignoring trailing slashes. */
static int dir_ulid(const char *dir, st_ulid_t *id) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/') b--;
    char name[ST_ULID_TEXT_LEN + 1];
    if (n - b != ST_ULID_TEXT_LEN) return st_errorf(ST_EINVAL, "%s: not a block directory (name is not a ULID)", dir);
    memcpy(name, dir + b, ST_ULID_TEXT_LEN);
    name[ST_ULID_TEXT_LEN] = 0;
    if (st_ulid_parse(id, name)) return st_errorf(ST_EINVAL, "%s: not a block directory (name is not a ULID)", dir);
    return ST_OK;
}

int st_bucket_upload_block(st_objstore_t *s, const char *dir, const st_thanos_t *thanos, const atomic_bool *stop,
                           st_meta_t *out_meta) {
    st_ulid_t id;
    st_meta_t m;
    st_thanos_file_t *files = NULL;
    size_t nfiles = 0, nsent = 0;
    char *thanos_json = NULL, *meta_json = NULL, *obj = NULL, *path = NULL;
    size_t meta_len = 0;
    char idtext[ST_ULID_TEXT_LEN + 1];
    memset(&m, 0, sizeof m);
    int rc = dir_ulid(dir, &id);
    if (rc) return rc;
    st_ulid_format(&id, idtext);
    if ((rc = st_meta_read(&m, dir))) goto out;
    if (st_ulid_cmp(&m.ulid, &id) != 0) {
        rc = st_errorf(ST_ECORRUPT, "block %s: meta.json names another ULID", dir);
        goto out;
    }
    if ((rc = gather_files(dir, &files, &nfiles)) ||
        (rc = bucket_thanos_json(thanos, m.thanos_json, files, nfiles, idtext, &thanos_json)))
        goto out;
    free(m.thanos_json);
    m.thanos_json = thanos_json;
    thanos_json = NULL;
    if ((rc = st_meta_encode(&m, &meta_json, &meta_len))) goto out;

    /* files[] ends with meta.json, which goes up from memory, last */
    for (size_t i = 0; i + 1 < nfiles; i++) {
        if (stop && atomic_load(stop)) {
            rc = st_errorf(ST_EIO, "upload of block %s interrupted by shutdown after %zu of %zu files", idtext, i,
                           nfiles);
            goto out;
        }
        free(obj);
        free(path);
        obj = bucket_obj_name(&id, files[i].rel_path);
        path = st_path_join(dir, files[i].rel_path);
        if (!obj || !path) {
            rc = st_errorf(ST_ENOMEM, "block %s: names", idtext);
            goto out;
        }
        if ((rc = st_objstore_upload_file(s, obj, path))) {
            st_errwrap(rc, "upload block %s: %s", idtext, files[i].rel_path);
            goto out;
        }
        nsent++;
    }
    if (stop && atomic_load(stop)) {
        rc = st_errorf(ST_EIO, "upload of block %s interrupted by shutdown before meta.json", idtext);
        goto out;
    }
    free(obj);
    obj = bucket_obj_name(&id, ST_META_FILENAME);
    if (!obj) {
        rc = st_errorf(ST_ENOMEM, "block %s: names", idtext);
        goto out;
    }
    if ((rc = st_objstore_upload(s, obj, meta_json, meta_len))) {
        st_errwrap(rc, "upload block %s: meta.json", idtext);
        nsent = 0; /* it may have landed anyway: never delete around it */
        goto out;
    }
    if (out_meta) {
        *out_meta = m;
        memset(&m, 0, sizeof m);
    }
out:
    if (rc && nsent && !(stop && atomic_load(stop))) {
        /* best effort, and keep the upload's error as the one reported */
        char saved[512];
        snprintf(saved, sizeof saved, "%s", st_errdetail(rc));
        st_bucket_delete_block(s, &id);
        st_errorf(rc, "%s", saved);
    }
    for (size_t i = 0; i < nfiles; i++) free(files[i].rel_path);
    free(files);
    free(thanos_json);
    free(meta_json);
    free(obj);
    free(path);
    st_meta_free(&m);
    return rc;
}

/* ---- meta ---- */

int st_bucket_read_meta(st_objstore_t *s, const st_ulid_t *id, st_meta_t *out) {
    memset(out, 0, sizeof *out);
    char *obj = bucket_obj_name(id, ST_META_FILENAME);
    if (!obj) return st_errorf(ST_ENOMEM, "meta name");
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = st_objstore_get(s, obj, ST_BUCKET_META_MAX, &buf, &len);
    if (!rc) rc = st_meta_parse(out, (const char *)buf, len, obj);
    if (!rc && st_ulid_cmp(&out->ulid, id) != 0) {
        st_meta_free(out);
        rc = st_errorf(ST_ECORRUPT, "meta %s: field \"ulid\" names another block", obj);
    }
    free(buf);
    free(obj);
    return rc;
}

/* ---- download ---- */

/* The local rel path for a bucket object of the block, or NULL to skip it. */
static const char *local_rel(const char *name, size_t prefix_len) {
    const char *rel = name + prefix_len;
    if (strcmp(rel, "index") == 0) return rel;
    if (strncmp(rel, "chunks/", 7) != 0) return NULL;
    const char *seg = rel + 7;
    if (!seg[0] || strchr(seg, '/') || strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0) return NULL;
    return rel;
}

int st_bucket_download_block(st_objstore_t *s, const st_ulid_t *id, const char *parent, char **out_dir) {
    if (out_dir) *out_dir = NULL;
    char idtext[ST_ULID_TEXT_LEN + 1];
    st_ulid_format(id, idtext);
    char tmpname[ST_ULID_TEXT_LEN + sizeof ST_BLOCK_TMP_SUFFIX];
    snprintf(tmpname, sizeof tmpname, "%s%s", idtext, ST_BLOCK_TMP_SUFFIX);
    char *final = st_path_join(parent, idtext), *tmp = st_path_join(parent, tmpname), *obj = NULL, *path = NULL;
    char *chunks = tmp ? st_path_join(tmp, "chunks") : NULL;
    uint8_t *meta = NULL;
    size_t meta_len = 0;
    strlist_t names = {0};
    st_meta_t m;
    memset(&m, 0, sizeof m);
    bool made_tmp = false;
    int rc = ST_OK;
    if (!final || !tmp || !chunks || !(obj = bucket_obj_name(id, ST_META_FILENAME))) {
        rc = st_errorf(ST_ENOMEM, "download block %s: paths", idtext);
        goto out;
    }
    if (st_path_exists(final)) {
        rc = st_errorf(ST_EEXIST, "download block %s: %s already exists", idtext, final);
        goto out;
    }
    rc = st_objstore_get(s, obj, ST_BUCKET_META_MAX, &meta, &meta_len);
    if (rc == ST_ENOTFOUND) {
        rc = st_errorf(ST_ENOTFOUND, "download block %s: no meta.json in the bucket (missing or partial upload)",
                       idtext);
        goto out;
    }
    if (rc || (rc = st_meta_parse(&m, (const char *)meta, meta_len, obj))) goto out;
    if (st_ulid_cmp(&m.ulid, id) != 0) {
        rc = st_errorf(ST_ECORRUPT, "meta %s: field \"ulid\" names another block", obj);
        goto out;
    }
    if ((rc = st_rm_rf(tmp)) || (rc = st_mkdir_p(chunks, 0755))) goto out;
    made_tmp = true;
    if ((rc = list_block_objects(s, id, &names))) goto out;
    size_t prefix_len = ST_ULID_TEXT_LEN + 1;
    for (size_t i = 0; i < names.n; i++) {
        const char *rel = strncmp(names.v[i], idtext, ST_ULID_TEXT_LEN) == 0 ? local_rel(names.v[i], prefix_len)
                                                                             : NULL;
        if (!rel) continue;
        free(path);
        if (!(path = st_path_join(tmp, rel))) {
            rc = st_errorf(ST_ENOMEM, "download block %s: path", idtext);
            goto out;
        }
        if ((rc = st_objstore_download_file(s, names.v[i], path))) goto out;
    }
    free(path);
    if (!(path = st_path_join(tmp, ST_META_FILENAME))) {
        rc = st_errorf(ST_ENOMEM, "download block %s: path", idtext);
        goto out;
    }
    if ((rc = st_file_write_atomic(path, meta, meta_len)) || (rc = st_fsync_path(chunks)) ||
        (rc = st_fsync_path(tmp)) || (rc = st_rename_durable(tmp, final)))
        goto out;
    made_tmp = false;
    if (out_dir) {
        *out_dir = final;
        final = NULL;
    }
out:
    if (made_tmp) st_rm_rf(tmp);
    st_meta_free(&m);
    strlist_free(&names);
    free(meta);
    free(final);
    free(tmp);
    free(chunks);
    free(obj);
    free(path);
    return rc;
}

/* ---- delete ---- */

static int delete_missing_ok(st_objstore_t *s, const char *name) {
    int rc = st_objstore_delete(s, name);
    return rc == ST_ENOTFOUND ? ST_OK : rc;
}

int st_bucket_delete_block(st_objstore_t *s, const st_ulid_t *id) {
    char *meta = bucket_obj_name(id, ST_META_FILENAME), *mark = bucket_obj_name(id, ST_BUCKET_DELETION_MARK);
    strlist_t names = {0};
    int rc = ST_OK;
    if (!meta || !mark) {
        rc = st_errorf(ST_ENOMEM, "delete block: names");
        goto out;
    }
    if ((rc = delete_missing_ok(s, meta)) || (rc = list_block_objects(s, id, &names))) goto out;
    for (size_t i = 0; i < names.n; i++) {
        if (strcmp(names.v[i], meta) == 0 || strcmp(names.v[i], mark) == 0) continue;
        if ((rc = delete_missing_ok(s, names.v[i]))) goto out;
    }
    rc = delete_missing_ok(s, mark);
out:
    strlist_free(&names);
    free(meta);
    free(mark);
    return rc;
}

int st_bucket_block_last_modified(st_objstore_t *s, const st_ulid_t *id, int64_t *ms) {
    *ms = 0;
    strlist_t names = {0};
    int rc = list_block_objects(s, id, &names);
    for (size_t i = 0; !rc && i < names.n; i++) {
        st_obj_attrs_t a;
        rc = st_objstore_attributes(s, names.v[i], &a);
        if (rc == ST_ENOTFOUND) { /* deleted since the listing */
            rc = ST_OK;
            continue;
        }
        if (!rc && a.last_modified_ms > *ms) *ms = a.last_modified_ms;
    }
    strlist_free(&names);
    return rc;
}

/* ---- list ---- */

static int record_err(char **dst, int rc) {
    free(*dst);
    *dst = strdup(st_errdetail(rc));
    return *dst ? ST_OK : st_errorf(ST_ENOMEM, "error detail");
}

static int load_entry(st_objstore_t *s, unsigned flags, st_bucket_block_t *b) {
    int rc = st_bucket_read_meta(s, &b->id, &b->meta);
    if (rc == ST_ENOTFOUND) {
        b->partial = true;
    } else if (rc == ST_ECORRUPT || rc == ST_ELIMIT) {
        b->meta_rc = rc;
        if ((rc = record_err(&b->meta_err, rc))) return rc;
    } else if (rc) {
        return rc;
    } else {
        char name[ST_ULID_TEXT_LEN + 16];
        st_ulid_format(&b->id, name);
        strcat(name, "/meta.json");
        rc = st_thanos_parse(&b->thanos, b->meta.thanos_json, name);
        if (rc == ST_ECORRUPT) {
            b->meta_rc = rc;
            st_meta_free(&b->meta);
            if ((rc = record_err(&b->meta_err, rc))) return rc;
        } else if (rc) {
            return rc;
        }
    }
    if (!(flags & ST_BUCKET_LIST_MARKERS)) return ST_OK;
    static const st_mark_kind_t kinds[] = {ST_MARK_DELETION, ST_MARK_NO_COMPACT, ST_MARK_NO_DOWNSAMPLE};
    bool *seen[] = {&b->deletion_marked, &b->no_compact_marked, &b->no_downsample_marked};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        st_marker_t mk;
        rc = st_bucket_read_marker(s, kinds[k], &b->id, &mk);
        if (rc == ST_OK) {
            *seen[k] = true;
            if (kinds[k] == ST_MARK_DELETION) b->deletion_time_s = mk.time_s;
            st_marker_free(&mk);
        } else if (rc == ST_ECORRUPT) {
            if ((rc = record_err(&b->marker_err, rc))) return rc;
        } else if (rc != ST_ENOTFOUND) {
            return rc;
        }
    }
    return ST_OK;
}

int st_bucket_list(st_objstore_t *s, unsigned flags, st_bucket_block_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    strlist_t names = {0};
    st_bucket_block_t *v = NULL;
    size_t nv = 0;
    int rc = st_objstore_iter(s, "", false, collect, &names);
    if (rc) goto out;
    if (names.n) qsort(names.v, names.n, sizeof *names.v, strcmp_p);
    if (names.n && !(v = calloc(names.n, sizeof *v))) {
        rc = st_errorf(ST_ENOMEM, "bucket listing of %zu entries", names.n);
        goto out;
    }
    for (size_t i = 0; i < names.n; i++) {
        const char *e = names.v[i];
        char id[ST_ULID_TEXT_LEN + 1];
        if (strlen(e) != ST_ULID_TEXT_LEN + 1 || e[ST_ULID_TEXT_LEN] != '/') continue;
        memcpy(id, e, ST_ULID_TEXT_LEN);
        id[ST_ULID_TEXT_LEN] = 0;
        char canon[ST_ULID_TEXT_LEN + 1];
        if (st_ulid_parse(&v[nv].id, id) != ST_OK) continue;
        st_ulid_format(&v[nv].id, canon);
        if (strcmp(canon, id) != 0) continue; /* not a name a block upload would have made */
        nv++;
        if ((rc = load_entry(s, flags, &v[nv - 1]))) goto out;
    }
    *out = v;
    *n = nv;
    v = NULL;
out:
    st_bucket_blocks_free(v, nv);
    strlist_free(&names);
    return rc;
}

void st_bucket_blocks_free(st_bucket_block_t *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) {
        st_meta_free(&v[i].meta);
        st_thanos_free(&v[i].thanos);
        free(v[i].meta_err);
        free(v[i].marker_err);
    }
    free(v);
}
