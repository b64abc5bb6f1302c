/*
 * S3 XML responses, parsed with expat (streaming; no DTDs, no entities
 * beyond XML's own, every text field and the entry count capped):
 *
 *   <ListBucketResult>                         ListObjectsV2
 *     <IsTruncated>true|false</IsTruncated>
 *     <NextContinuationToken>..</NextContinuationToken>
 *     <Contents><Key>..</Key><Size>123</Size>..</Contents>*
 *     <CommonPrefixes><Prefix>..</Prefix></CommonPrefixes>*
 *   </ListBucketResult>
 *   <InitiateMultipartUploadResult><UploadId>..</UploadId>..</..>
 *   <Error><Code>..</Code><Message>..</Message>..</Error>
 *
 * Elements not listed are skipped; their order does not matter.
 */
#include <expat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objstore_int.h"
#include "strata/err.h"

#define TEXT_MAX 4096 /* longer than any key (1024) or token S3 sends */
#define DEPTH_TRACKED 4

typedef enum {
    E_OTHER,
    E_LIST, E_CONTENTS, E_KEY, E_SIZE, E_PREFIXES, E_PREFIX, E_TRUNC, E_NEXT,
    E_INITIATE, E_UPLOADID,
    E_ERROR, E_CODE, E_MESSAGE,
} elem_t;

static const struct {
    const char *name;
    elem_t parent, id;
} known[] = {
    {"Contents", E_LIST, E_CONTENTS},     {"CommonPrefixes", E_LIST, E_PREFIXES},
    {"IsTruncated", E_LIST, E_TRUNC},     {"NextContinuationToken", E_LIST, E_NEXT},
    {"Key", E_CONTENTS, E_KEY},           {"Size", E_CONTENTS, E_SIZE},
    {"Prefix", E_PREFIXES, E_PREFIX},     {"UploadId", E_INITIATE, E_UPLOADID},
    {"Code", E_ERROR, E_CODE},            {"Message", E_ERROR, E_MESSAGE},
};

typedef struct {
    XML_Parser p;
    elem_t root; /* the root element the caller expects */
    int depth;
    elem_t stack[DEPTH_TRACKED + 1];
    char text[TEXT_MAX + 1];
    size_t tlen;
    int err; /* first error; detail already recorded */
    /* ListObjectsV2 */
    st_s3_list_t *list;
    size_t cap;
    char *key;
    uint64_t size;
    bool have_size;
    char *prefix;
    /* single fields */
    char *upload_id, *code, *message;
} xml_t;

static void __attribute__((format(printf, 2, 3))) fail(xml_t *x, const char *fmt, ...) {
    if (!x->err) {
        char what[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        x->err = st_errorf(ST_ECORRUPT, "S3 response: %s (line %lu)", what,
                           (unsigned long)XML_GetCurrentLineNumber(x->p));
    }
    XML_StopParser(x->p, XML_FALSE);
}

static elem_t top(const xml_t *x) {
    return x->depth >= 1 && x->depth <= DEPTH_TRACKED ? x->stack[x->depth] : E_OTHER;
}

static bool is_leaf(elem_t e) {
    return e == E_KEY || e == E_SIZE || e == E_PREFIX || e == E_TRUNC || e == E_NEXT || e == E_UPLOADID ||
           e == E_CODE || e == E_MESSAGE;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs) {
    (void)attrs;
    xml_t *x = ud;
    elem_t parent = top(x);
    x->depth++;
    elem_t id = E_OTHER;
    if (x->depth == 1) {
        static const char *const roots[] = {[E_LIST] = "ListBucketResult",
                                            [E_INITIATE] = "InitiateMultipartUploadResult",
                                            [E_ERROR] = "Error"};
        if (strcmp(name, roots[x->root])) {
            fail(x, "root element <%.64s> is not the expected one", name);
            return;
        }
        id = x->root;
    } else if (x->depth <= DEPTH_TRACKED && parent != E_OTHER) {
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (known[i].parent == parent && !strcmp(name, known[i].name)) id = known[i].id;
    }
    if (x->depth <= DEPTH_TRACKED) x->stack[x->depth] = id;
    x->tlen = 0;
    if (id == E_CONTENTS) {
        free(x->key);
        x->key = NULL;
        x->have_size = false;
    } else if (id == E_PREFIXES) {
        free(x->prefix);
        x->prefix = NULL;
    }
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len) {
    xml_t *x = ud;
    if (!is_leaf(top(x)) || len <= 0) return;
    if ((size_t)len > TEXT_MAX - x->tlen) {
        fail(x, "element text longer than %d bytes", TEXT_MAX);
        return;
    }
    memcpy(x->text + x->tlen, s, (size_t)len);
    x->tlen += (size_t)len;
}

/* Store the collected text into *dst (owned); a repeated element is bad. */
static void take_text(xml_t *x, char **dst, const char *what) {
    if (*dst) {
        fail(x, "repeated <%s>", what);
        return;
    }
    *dst = strndup(x->text, x->tlen);
    if (!*dst && !x->err) {
        x->err = st_errorf(ST_ENOMEM, "S3 response: out of memory");
        XML_StopParser(x->p, XML_FALSE);
    }
}

static bool parse_u64(const char *s, size_t n, uint64_t *out) {
    if (n == 0 || n > 20) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static void push_entry(xml_t *x, char **name, uint64_t size, bool is_prefix) {
    st_s3_list_t *l = x->list;
    if (l->n >= ST_S3_LIST_MAX_ENTRIES) {
        fail(x, "more than %d entries in one page", ST_S3_LIST_MAX_ENTRIES);
        return;
    }
    if (l->n == x->cap) {
        size_t ncap = x->cap ? x->cap * 2 : 64;
        st_s3_entry_t *nv = realloc(l->v, ncap * sizeof *nv);
        if (!nv) {
            x->err = st_errorf(ST_ENOMEM, "S3 list: out of memory");
            XML_StopParser(x->p, XML_FALSE);
            return;
        }
        l->v = nv;
        x->cap = ncap;
    }
    l->v[l->n++] = (st_s3_entry_t){*name, size, is_prefix};
    *name = NULL;
}

static void XMLCALL on_end(void *ud, const XML_Char *name) {
    (void)name;
    xml_t *x = ud;
    elem_t id = top(x);
    switch (id) {
    case E_KEY: take_text(x, &x->key, "Key"); break;
    case E_PREFIX: take_text(x, &x->prefix, "Prefix"); break;
    case E_NEXT: take_text(x, &x->list->next_token, "NextContinuationToken"); break;
    case E_UPLOADID: take_text(x, &x->upload_id, "UploadId"); break;
    case E_CODE: take_text(x, &x->code, "Code"); break;
    case E_MESSAGE: take_text(x, &x->message, "Message"); break;
    case E_SIZE:
        if (x->have_size || !parse_u64(x->text, x->tlen, &x->size)) fail(x, "bad <Size>");
        x->have_size = true;
        break;
    case E_TRUNC:
        if (x->tlen == 4 && !memcmp(x->text, "true", 4)) x->list->truncated = true;
        else if (!(x->tlen == 5 && !memcmp(x->text, "false", 5))) fail(x, "bad <IsTruncated>");
        break;
    case E_CONTENTS:
        if (!x->key || !x->have_size) fail(x, "<Contents> without <Key> or <Size>");
        else push_entry(x, &x->key, x->size, false);
        break;
    case E_PREFIXES:
        if (!x->prefix) fail(x, "<CommonPrefixes> without <Prefix>");
        else push_entry(x, &x->prefix, 0, true);
        break;
    default: break;
    }
    x->tlen = 0;
    x->depth--;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sys, const XML_Char *pub,
                               int internal) {
    (void)sys, (void)pub, (void)internal;
    fail(ud, "DOCTYPE %.64s not allowed", name);
}

static int run(xml_t *x, elem_t root, const char *xml, size_t len) {
    x->root = root;
    if (len > ST_S3_XML_MAX_BYTES)
        return st_errorf(ST_ELIMIT, "S3 response: %zu bytes of XML, more than the limit", len);
    x->p = XML_ParserCreate(NULL);
    if (!x->p) return st_errorf(ST_ENOMEM, "S3 response: out of memory");
    XML_SetUserData(x->p, x);
    XML_SetElementHandler(x->p, on_start, on_end);
    XML_SetCharacterDataHandler(x->p, on_text);
    XML_SetStartDoctypeDeclHandler(x->p, on_doctype);
    if (XML_Parse(x->p, xml, (int)len, XML_TRUE) != XML_STATUS_OK && !x->err)
        x->err = st_errorf(ST_ECORRUPT, "S3 response: bad XML at line %lu: %s",
                           (unsigned long)XML_GetCurrentLineNumber(x->p), XML_ErrorString(XML_GetErrorCode(x->p)));
    XML_ParserFree(x->p);
    free(x->key);
    free(x->prefix);
    return x->err;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(((const st_s3_entry_t *)a)->name, ((const st_s3_entry_t *)b)->name);
}

int st_s3_parse_list(st_s3_list_t *out, const char *xml, size_t len) {
    memset(out, 0, sizeof *out);
    xml_t x = {.list = out};
    int rc = run(&x, E_LIST, xml, len);
    if (!rc && out->truncated && (!out->next_token || !*out->next_token))
        rc = st_errorf(ST_ECORRUPT, "S3 list: truncated page without a NextContinuationToken");
    if (rc) {
        st_s3_list_free(out);
        return rc;
    }
    /* keys and common prefixes come in two sorted runs; callers want one */
    if (out->n) qsort(out->v, out->n, sizeof *out->v, name_cmp);
    return ST_OK;
}

void st_s3_list_free(st_s3_list_t *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) free(l->v[i].name);
    free(l->v);
    free(l->next_token);
    memset(l, 0, sizeof *l);
}

int st_s3_parse_upload_id(char **out, const char *xml, size_t len) {
    *out = NULL;
    st_s3_list_t unused = {0};
    xml_t x = {.list = &unused};
    int rc = run(&x, E_INITIATE, xml, len);
    if (!rc && (!x.upload_id || !*x.upload_id))
        rc = st_errorf(ST_ECORRUPT, "S3 initiate multipart upload: no <UploadId> in the response");
    if (rc) {
        free(x.upload_id);
        return rc;
    }
    *out = x.upload_id;
    return ST_OK;
}

int st_s3_parse_error(const char *xml, size_t len, char *code, size_t codecap, char *msg, size_t msgcap) {
    if (codecap) code[0] = 0;
    if (msgcap) msg[0] = 0;
    st_s3_list_t unused = {0};
    xml_t x = {.list = &unused};
    int rc = run(&x, E_ERROR, xml, len);
    if (!rc) {
        if (codecap && x.code) snprintf(code, codecap, "%s", x.code);
        if (msgcap && x.message) snprintf(msg, msgcap, "%s", x.message);
    }
    free(x.code);
    free(x.message);
    return rc;
}
