/*
 * Relabeling (semantics in relabel.h).
 *
 * Processing works on a small unsorted array of borrowed (name, value)
 * pairs. Strings a rule produces (expansions, hashmod digits, case maps)
 * live in a per-call arena of fixed blocks, so earlier pairs never move
 * when later ones are added. Each rule sees the sorted output of the
 * previous one, as in Prometheus, which matters for labelmap: when two
 * names map to the same target, the one sorting last wins.
 */
#include "strata/relabel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "strata/regex.h"
#include <openssl/evp.h>

#include "strata/err.h"

#define DEFAULT_SEPARATOR ";"
#define DEFAULT_REGEX "(.*)"
#define DEFAULT_REPLACEMENT "$1"

typedef struct {
    st_relabel_action_t action;
    char **source_labels;
    size_t n_source_labels;
    char *separator;
    char *regex;
    char *target_label;
    char *replacement;
    uint64_t modulus;
    pcre2_code *re;
    bool match_all; /* regex is the default (.*) on a line: skip PCRE2 for keep/drop tests */
} rule_t;

struct st_relabel {
    rule_t *rules;
    size_t n;
    uint32_t max_pairs; /* capture pairs of the rule with the most groups, +1 for the whole match */
};

static const char *const action_names[] = {
    [ST_RELABEL_REPLACE] = "replace",     [ST_RELABEL_KEEP] = "keep",           [ST_RELABEL_DROP] = "drop",
    [ST_RELABEL_KEEPEQUAL] = "keepequal", [ST_RELABEL_DROPEQUAL] = "dropequal", [ST_RELABEL_HASHMOD] = "hashmod",
    [ST_RELABEL_LABELMAP] = "labelmap",   [ST_RELABEL_LABELDROP] = "labeldrop", [ST_RELABEL_LABELKEEP] = "labelkeep",
    [ST_RELABEL_LOWERCASE] = "lowercase", [ST_RELABEL_UPPERCASE] = "uppercase",
};
#define N_ACTIONS (sizeof action_names / sizeof action_names[0])

int st_relabel_action_parse(const char *s, st_relabel_action_t *out) {
    for (size_t i = 0; i < N_ACTIONS; i++)
        if (strcasecmp(s, action_names[i]) == 0) {
            *out = (st_relabel_action_t)i;
            return ST_OK;
        }
    return st_errorf(ST_EINVAL, "unknown relabel action \"%s\"", s);
}

const char *st_relabel_action_name(st_relabel_action_t a) {
    return (size_t)a < N_ACTIONS ? action_names[a] : "unknown";
}

static bool is_word(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool st_label_name_valid(const char *s, size_t n) {
    if (n == 0 || (s[0] >= '0' && s[0] <= '9')) return false;
    for (size_t i = 0; i < n; i++)
        if (!is_word(s[i])) return false;
    return true;
}

/* Length of a "$name" / "${name}" reference at s (s[0] == '$') as
 * Prometheus's relabelTarget pattern accepts it (\w+ or {\w+}), 0 if none. */
static size_t template_ref_len(const char *s) {
    size_t i = 1;
    if (s[i] == '{') {
        size_t k = ++i;
        while (is_word(s[i])) i++;
        return i > k && s[i] == '}' ? i + 1 : 0;
    }
    while (is_word(s[i])) i++;
    return i > 1 ? i : 0;
}

/* Prometheus's relabelTarget: ^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$ —
 * a label name in which "$ref" templates may appear, starting with a letter,
 * '_' or a template. */
static bool valid_target_template(const char *s) {
    if (!*s || (*s >= '0' && *s <= '9')) return false;
    while (*s) {
        if (*s == '$') {
            size_t n = template_ref_len(s);
            if (!n) return false;
            s += n;
        } else if (is_word(*s)) {
            s++;
        } else {
            return false;
        }
    }
    return true;
}

static void rule_clear(rule_t *r) {
    for (size_t i = 0; i < r->n_source_labels; i++) free(r->source_labels[i]);
    free(r->source_labels);
    free(r->separator);
    free(r->regex);
    free(r->target_label);
    free(r->replacement);
    pcre2_code_free(r->re);
}

void st_relabel_free(st_relabel_t *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) rule_clear(&r->rules[i]);
    free(r->rules);
    free(r);
}

size_t st_relabel_len(const st_relabel_t *r) { return r ? r->n : 0; }

static int compile_rule_regex(rule_t *r, size_t idx) {
    int rc = st_regex_compile(&r->re, r->regex, strlen(r->regex));
    if (rc) return st_errwrap(rc, "relabel rule %zu (%s)", idx, action_names[r->action]);
    r->match_all = strcmp(r->regex, DEFAULT_REGEX) == 0 || strcmp(r->regex, ".*") == 0;
    return ST_OK;
}

static char *dup_or(const char *s, const char *dflt) { return strdup(s ? s : dflt); }

/* Checks from Prometheus's relabel Config.Validate, with its wording. */
static int validate_rule(const rule_t *r, const st_relabel_spec_t *sp, size_t idx) {
    const char *act = action_names[r->action];
    st_relabel_action_t a = r->action;
    bool needs_target = a == ST_RELABEL_REPLACE || a == ST_RELABEL_HASHMOD || a == ST_RELABEL_LOWERCASE ||
                        a == ST_RELABEL_UPPERCASE || a == ST_RELABEL_KEEPEQUAL || a == ST_RELABEL_DROPEQUAL;
    bool plain_target = a == ST_RELABEL_HASHMOD || a == ST_RELABEL_LOWERCASE || a == ST_RELABEL_UPPERCASE ||
                        a == ST_RELABEL_KEEPEQUAL || a == ST_RELABEL_DROPEQUAL;
    for (size_t i = 0; i < r->n_source_labels; i++)
        if (!st_label_name_valid(r->source_labels[i], strlen(r->source_labels[i])))
            return st_errorf(ST_EINVAL, "relabel rule %zu (%s): \"%s\" is not a valid label name in source_labels",
                             idx, act, r->source_labels[i]);
    if (a == ST_RELABEL_HASHMOD && r->modulus == 0)
        return st_errorf(ST_EINVAL, "relabel rule %zu (%s): relabel configuration for hashmod requires non-zero modulus",
                         idx, act);
    if (needs_target && r->target_label[0] == 0)
        return st_errorf(ST_EINVAL, "relabel rule %zu (%s): relabel configuration for %s action requires 'target_label' value",
                         idx, act, act);
    if (a == ST_RELABEL_REPLACE && !valid_target_template(r->target_label))
        return st_errorf(ST_EINVAL, "relabel rule %zu (%s): \"%s\" is invalid 'target_label' for %s action", idx, act,
                         r->target_label, act);
    if (plain_target && !st_label_name_valid(r->target_label, strlen(r->target_label)))
        return st_errorf(ST_EINVAL, "relabel rule %zu (%s): \"%s\" is invalid 'target_label' for %s action", idx, act,
                         r->target_label, act);
    if ((a == ST_RELABEL_LOWERCASE || a == ST_RELABEL_UPPERCASE || a == ST_RELABEL_KEEPEQUAL ||
         a == ST_RELABEL_DROPEQUAL) && sp->replacement && strcmp(sp->replacement, DEFAULT_REPLACEMENT) != 0)
        return st_errorf(ST_EINVAL, "relabel rule %zu (%s): 'replacement' can not be set for %s action", idx, act, act);
    if ((a == ST_RELABEL_KEEPEQUAL || a == ST_RELABEL_DROPEQUAL) &&
        ((sp->regex && strcmp(sp->regex, DEFAULT_REGEX) != 0) || sp->modulus != 0))
        return st_errorf(ST_EINVAL, "relabel rule %zu (%s): %s action requires only 'source_labels' and 'target_label', "
                         "and no other fields", idx, act, act);
    if (a == ST_RELABEL_LABELMAP && !valid_target_template(r->replacement))
        return st_errorf(ST_EINVAL, "relabel rule %zu (%s): \"%s\" is invalid 'replacement' for %s action", idx, act,
                         r->replacement, act);
    if ((a == ST_RELABEL_LABELDROP || a == ST_RELABEL_LABELKEEP) &&
        (r->n_source_labels > 0 || r->target_label[0] || r->modulus != 0 ||
         strcmp(r->separator, DEFAULT_SEPARATOR) != 0 || strcmp(r->replacement, DEFAULT_REPLACEMENT) != 0))
        return st_errorf(ST_EINVAL, "relabel rule %zu (%s): %s action requires only 'regex', and no other fields", idx,
                         act, act);
    return ST_OK;
}

int st_relabel_new(st_relabel_t **out, const st_relabel_spec_t *specs, size_t n) {
    *out = NULL;
    int rc = ST_OK;
    st_relabel_t *r = calloc(1, sizeof *r);
    if (!r || (n && !(r->rules = calloc(n, sizeof *r->rules)))) {
        free(r);
        return st_errorf(ST_ENOMEM, "relabel: allocating %zu rules", n);
    }
    for (size_t i = 0; i < n; i++) {
        const st_relabel_spec_t *sp = &specs[i];
        rule_t *ru = &r->rules[i];
        r->n = i + 1;
        if ((size_t)sp->action >= N_ACTIONS) {
            rc = st_errorf(ST_EINVAL, "relabel rule %zu: unknown action %d", i + 1, (int)sp->action);
            goto out;
        }
        ru->action = sp->action;
        ru->modulus = sp->modulus;
        ru->separator = dup_or(sp->separator, DEFAULT_SEPARATOR);
        ru->regex = dup_or(sp->regex, DEFAULT_REGEX);
        ru->target_label = dup_or(sp->target_label, "");
        ru->replacement = dup_or(sp->replacement, DEFAULT_REPLACEMENT);
        if (sp->n_source_labels) ru->source_labels = calloc(sp->n_source_labels, sizeof(char *));
        bool oom = !ru->separator || !ru->regex || !ru->target_label || !ru->replacement ||
                   (sp->n_source_labels && !ru->source_labels);
        for (size_t k = 0; !oom && k < sp->n_source_labels; k++) {
            ru->source_labels[k] = strdup(sp->source_labels[k] ? sp->source_labels[k] : "");
            ru->n_source_labels = k + 1;
            oom = !ru->source_labels[k];
        }
        if (oom) {
            rc = st_errorf(ST_ENOMEM, "relabel rule %zu: allocating", i + 1);
            goto out;
        }
        if ((rc = validate_rule(ru, sp, i + 1))) goto out;
        if ((rc = compile_rule_regex(ru, i + 1))) goto out;
        uint32_t groups = 0;
        (void)pcre2_pattern_info(ru->re, PCRE2_INFO_CAPTURECOUNT, &groups);
        if (groups + 1 > r->max_pairs) r->max_pairs = groups + 1;
    }
    *out = r;
    r = NULL;
out:
    st_relabel_free(r);
    return rc;
}

/* ---- processing ---- */

#define ARENA_BLOCK 4096

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    char data[];
} arena_block_t;

typedef struct {
    st_label_t *v;
    size_t n, cap;
    arena_block_t *blocks;
    pcre2_match_data *md;
} builder_t;

static char *arena_alloc(builder_t *b, size_t n) {
    arena_block_t *blk = b->blocks;
    if (!blk || blk->cap - blk->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        blk = malloc(sizeof *blk + cap);
        if (!blk) return NULL;
        blk->cap = cap;
        blk->used = 0;
        blk->next = b->blocks;
        b->blocks = blk;
    }
    char *p = blk->data + blk->used;
    blk->used += n;
    return p;
}

static void builder_free(builder_t *b) {
    free(b->v);
    for (arena_block_t *blk = b->blocks, *next; blk; blk = next) {
        next = blk->next;
        free(blk);
    }
    pcre2_match_data_free(b->md);
}

static st_label_t *builder_find(builder_t *b, const char *name, size_t len) {
    for (size_t i = 0; i < b->n; i++)
        if (b->v[i].name_len == len && memcmp(b->v[i].name, name, len) == 0) return &b->v[i];
    return NULL;
}

static void builder_get(builder_t *b, const char *name, size_t len, const char **v, size_t *vlen) {
    st_label_t *l = builder_find(b, name, len);
    *v = l ? l->value : "";
    *vlen = l ? l->value_len : 0;
}

static void builder_del(builder_t *b, const char *name, size_t len) {
    st_label_t *l = builder_find(b, name, len);
    if (l) *l = b->v[--b->n];
}

/* Set a label to borrowed strings that outlive the builder call (input or
 * arena); an empty value deletes, as labels.Builder.Set does. */
static int builder_set(builder_t *b, const char *name, size_t nlen, const char *val, size_t vlen) {
    if (vlen == 0) {
        builder_del(b, name, nlen);
        return ST_OK;
    }
    st_label_t *l = builder_find(b, name, nlen);
    if (l) {
        l->value = val;
        l->value_len = vlen;
        return ST_OK;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 16;
        st_label_t *v = realloc(b->v, cap * sizeof *v);
        if (!v) return st_errorf(ST_ENOMEM, "relabel: growing label set");
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = (st_label_t){name, val, nlen, vlen};
    return ST_OK;
}

static int pair_cmp(const void *x, const void *y) {
    const st_label_t *a = x, *b = y;
    return st_bytes_cmp(a->name, a->name_len, b->name, b->name_len);
}

/* Run the anchored regex; returns the number of capture pairs set (> 0) or
 * 0 for no match (resource limits count as no match, like a failed match). */
static int re_match(const rule_t *r, builder_t *b, const char *s, size_t len) {
    int rc = pcre2_match(r->re, (PCRE2_SPTR)(len ? s : ""), len, 0, 0, b->md, NULL);
    return rc > 0 ? rc : rc == 0 ? (int)pcre2_get_ovector_count(b->md) : 0;
}

static bool re_matches(const rule_t *r, builder_t *b, const char *s, size_t len) {
    if (r->match_all) return memchr(s, '\n', len) == NULL;
    return re_match(r, b, s, len) > 0;
}

/* Go's Regexp.Expand of tmpl against the last match of s into the arena. A
 * name is the longest run of [A-Za-z0-9_]; an all-digit name without a
 * leading zero is a group number; "$" not followed by a name (or an
 * unterminated "${") is literal. */
static int expand(const rule_t *r, builder_t *b, const char *tmpl, const char *s, int npairs, const char **out,
                  size_t *outlen) {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(b->md);
    /* Expansion never exceeds template + groups; size generously in two passes. */
    size_t cap = strlen(tmpl) + 1;
    for (const char *p = tmpl; *p; p++)
        if (*p == '$') cap += ov[1] - ov[0];
    char *dst = arena_alloc(b, cap);
    if (!dst) return st_errorf(ST_ENOMEM, "relabel: expanding \"%s\"", tmpl);
    size_t n = 0;
    const char *p = tmpl;
    while (*p) {
        if (*p != '$') {
            dst[n++] = *p++;
            continue;
        }
        if (p[1] == '$') {
            dst[n++] = '$';
            p += 2;
            continue;
        }
        const char *q = p + 1;
        bool brace = *q == '{';
        if (brace) q++;
        const char *name = q;
        while (is_word(*q)) q++;
        size_t nlen = (size_t)(q - name);
        if (nlen == 0 || (brace && *q != '}')) {
            dst[n++] = '$';
            p++;
            continue;
        }
        p = brace ? q + 1 : q;
        long num = -1;
        if (!(name[0] == '0' && nlen > 1)) {
            num = 0;
            for (size_t i = 0; i < nlen && num >= 0; i++) {
                if (name[i] < '0' || name[i] > '9' || num >= 100000000) num = -1;
                else num = num * 10 + (name[i] - '0');
            }
        }
        if (num < 0) {
            char buf[256];
            if (nlen >= sizeof buf) continue;
            memcpy(buf, name, nlen);
            buf[nlen] = 0;
            int gn = pcre2_substring_number_from_name(r->re, (PCRE2_SPTR)buf);
            if (gn <= 0) continue;
            num = gn;
        }
        if (num >= npairs || ov[2 * num] == PCRE2_UNSET) continue;
        size_t glen = ov[2 * num + 1] - ov[2 * num];
        memcpy(dst + n, s + ov[2 * num], glen);
        n += glen;
    }
    *out = dst;
    *outlen = n;
    return ST_OK;
}

/* md5 of the value; Prometheus folds all 16 bytes into a uint64 with
 * shifts of (15-i)*8, and Go drops shifts >= 64: the low 8 bytes remain. */
static uint64_t hash_mod(const char *s, size_t len, uint64_t modulus) {
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (!EVP_Digest(s, len, d, &dlen, EVP_md5(), NULL) || dlen != 16) return 0;
    uint64_t v = 0;
    for (int i = 8; i < 16; i++) v = (v << 8) | d[i];
    return v % modulus;
}

static int apply_rule(const rule_t *r, builder_t *b, bool *keep) {
    int rc;
    /* join source values */
    size_t sep = strlen(r->separator), total = 0;
    const char *val = "";
    size_t vlen = 0;
    if (r->n_source_labels == 1) {
        builder_get(b, r->source_labels[0], strlen(r->source_labels[0]), &val, &vlen);
    } else if (r->n_source_labels > 1) {
        for (size_t i = 0; i < r->n_source_labels; i++) {
            const char *v;
            size_t l;
            builder_get(b, r->source_labels[i], strlen(r->source_labels[i]), &v, &l);
            total += l + (i ? sep : 0);
        }
        char *j = arena_alloc(b, total + 1);
        if (!j) return st_errorf(ST_ENOMEM, "relabel: joining source labels");
        size_t off = 0;
        for (size_t i = 0; i < r->n_source_labels; i++) {
            const char *v;
            size_t l;
            builder_get(b, r->source_labels[i], strlen(r->source_labels[i]), &v, &l);
            if (i) {
                memcpy(j + off, r->separator, sep);
                off += sep;
            }
            memcpy(j + off, v, l);
            off += l;
        }
        val = j;
        vlen = off;
    }

    switch (r->action) {
    case ST_RELABEL_KEEP:
        if (!re_matches(r, b, val, vlen)) *keep = false;
        return ST_OK;
    case ST_RELABEL_DROP:
        if (re_matches(r, b, val, vlen)) *keep = false;
        return ST_OK;
    case ST_RELABEL_KEEPEQUAL:
    case ST_RELABEL_DROPEQUAL: {
        const char *t;
        size_t tl;
        builder_get(b, r->target_label, strlen(r->target_label), &t, &tl);
        bool eq = tl == vlen && memcmp(t, val, vlen) == 0;
        if (eq == (r->action == ST_RELABEL_DROPEQUAL)) *keep = false;
        return ST_OK;
    }
    case ST_RELABEL_REPLACE: {
        int np = re_match(r, b, val, vlen);
        if (np <= 0) return ST_OK;
        const char *target, *res;
        size_t tlen, rlen;
        if ((rc = expand(r, b, r->target_label, val, np, &target, &tlen))) return rc;
        if (!st_label_name_valid(target, tlen)) return ST_OK;
        if ((rc = expand(r, b, r->replacement, val, np, &res, &rlen))) return rc;
        return builder_set(b, target, tlen, res, rlen);
    }
    case ST_RELABEL_HASHMOD: {
        char *d = arena_alloc(b, 24);
        if (!d) return st_errorf(ST_ENOMEM, "relabel: hashmod");
        int n = snprintf(d, 24, "%llu", (unsigned long long)hash_mod(val, vlen, r->modulus));
        return builder_set(b, r->target_label, strlen(r->target_label), d, (size_t)n);
    }
    case ST_RELABEL_LOWERCASE:
    case ST_RELABEL_UPPERCASE: {
        char *d = arena_alloc(b, vlen + 1);
        if (!d) return st_errorf(ST_ENOMEM, "relabel: case mapping");
        for (size_t i = 0; i < vlen; i++) {
            char c = val[i];
            if (r->action == ST_RELABEL_LOWERCASE && c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
            if (r->action == ST_RELABEL_UPPERCASE && c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
            d[i] = c;
        }
        return builder_set(b, r->target_label, strlen(r->target_label), d, vlen);
    }
    case ST_RELABEL_LABELMAP: {
        /* iterate a snapshot: values set during this rule must not be read back */
        size_t n0 = b->n;
        st_label_t *snap = (st_label_t *)(void *)arena_alloc(b, n0 * sizeof *snap + _Alignof(st_label_t));
        if (!snap && n0) return st_errorf(ST_ENOMEM, "relabel: labelmap");
        if (n0) {
            snap = (st_label_t *)(((uintptr_t)snap + _Alignof(st_label_t) - 1) & ~(uintptr_t)(_Alignof(st_label_t) - 1));
            memcpy(snap, b->v, n0 * sizeof *snap);
        }
        for (size_t i = 0; i < n0; i++) {
            int np = re_match(r, b, snap[i].name, snap[i].name_len);
            if (np <= 0) continue;
            const char *res;
            size_t rlen;
            if ((rc = expand(r, b, r->replacement, snap[i].name, np, &res, &rlen))) return rc;
            /* Go sets whatever the expansion gives; an invalid name would only
             * fail later at ingestion, so it is skipped here */
            if (!st_label_name_valid(res, rlen)) continue;
            if ((rc = builder_set(b, res, rlen, snap[i].value, snap[i].value_len))) return rc;
        }
        return ST_OK;
    }
    case ST_RELABEL_LABELDROP:
    case ST_RELABEL_LABELKEEP:
        for (size_t i = 0; i < b->n;) {
            bool m = re_matches(r, b, b->v[i].name, b->v[i].name_len);
            if (m == (r->action == ST_RELABEL_LABELDROP)) b->v[i] = b->v[--b->n];
            else i++;
        }
        return ST_OK;
    }
    return st_errorf(ST_EINVAL, "relabel: unknown action %d", (int)r->action);
}

int st_relabel_process(const st_relabel_t *r, const st_label_t *in, size_t n, st_labels_t *out, bool *keep) {
    out->v = NULL;
    out->n = 0;
    *keep = true;
    if (!r || r->n == 0) return st_labels_from_pairs(out, in, n);
    builder_t b = {0};
    int rc = ST_OK;
    b.md = pcre2_match_data_create(r->max_pairs, NULL);
    if (!b.md) {
        rc = st_errorf(ST_ENOMEM, "relabel: match data");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if ((rc = builder_set(&b, in[i].name, in[i].name_len, in[i].value, in[i].value_len))) goto out;
    for (size_t i = 0; i < r->n && *keep; i++) {
        if (b.n > 1) qsort(b.v, b.n, sizeof *b.v, pair_cmp);
        if ((rc = apply_rule(&r->rules[i], &b, keep))) goto out;
    }
    if (*keep) rc = st_labels_from_pairs(out, b.v, b.n);
out:
    builder_free(&b);
    return rc;
}
