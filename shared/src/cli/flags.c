/* Flag parsing; syntax in flags.h. */
#include <ctype.h>
#include "strata/flags.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strata/err.h"

int st_int64_parse(const char *s, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno) return st_errorf(ST_EINVAL, "invalid integer \"%s\"", s);
    *out = v;
    return ST_OK;
}

int st_duration_parse(const char *s, int64_t *ms) {
    static const struct { const char *unit; int64_t ms; } units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {"w", 604800000}, {"y", 31536000000},
    };
    const char *p = s;
    int64_t total = 0;
    if (!*p) return st_errorf(ST_EINVAL, "empty duration string");
    if (strcmp(p, "0") == 0) {
        *ms = 0;
        return ST_OK;
    }
    while (*p) {
        if (*p < '0' || *p > '9') return st_errorf(ST_EINVAL, "not a valid duration string: \"%s\"", s);
        int64_t n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n > (INT64_MAX - 9) / 10) return st_errorf(ST_EINVAL, "duration out of range: \"%s\"", s);
            n = n * 10 + (*p++ - '0');
        }
        size_t k;
        for (k = 0; k < sizeof units / sizeof units[0]; k++) {
            size_t ul = strlen(units[k].unit);
            /* "ms" must win over "m" followed by "s..." */
            if (strncmp(p, units[k].unit, ul) == 0 && !(ul == 1 && p[0] == 'm' && p[1] == 's')) {
                p += ul;
                break;
            }
        }
        if (k == sizeof units / sizeof units[0])
            return st_errorf(ST_EINVAL, "not a valid duration string: \"%s\"", s);
        if (n > (INT64_MAX - total) / units[k].ms) return st_errorf(ST_EINVAL, "duration out of range: \"%s\"", s);
        total += n * units[k].ms;
    }
    *ms = total;
    return ST_OK;
}

int st_bytes_parse(const char *s, uint64_t *out) {
    static const struct {
        const char *u;
        int shift;
    } units[] = {
        {"", 0},     {"B", 0},   {"KB", 10},  {"KiB", 10}, {"MB", 20},  {"MiB", 20}, {"GB", 30},
        {"GiB", 30}, {"TB", 40}, {"TiB", 40}, {"PB", 50},  {"PiB", 50}, {"EB", 60},  {"EiB", 60},
    };
    if (!s || !isdigit((unsigned char)*s)) return st_errorf(ST_EINVAL, "%s: not a size (e.g. 250MB)", s ? s : "");
    uint64_t v = 0;
    const char *p = s;
    for (; isdigit((unsigned char)*p); p++) {
        if (v > (UINT64_MAX - 9) / 10) return st_errorf(ST_EINVAL, "%s: size out of range", s);
        v = v * 10 + (uint64_t)(*p - '0');
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(p, units[i].u) != 0) continue;
        if (units[i].shift && v > (UINT64_MAX >> units[i].shift))
            return st_errorf(ST_EINVAL, "%s: size out of range", s);
        *out = v << units[i].shift;
        return ST_OK;
    }
    return st_errorf(ST_EINVAL, "%s: not a size (a number with B, KB, MB, GB, TB; 1024-based)", s);
}

static const st_flag_t *find_flag(const st_flag_t *flags, size_t n, const char *name, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0) return &flags[i];
    return NULL;
}

static int set_flag(const st_flag_t *f, const char *val) {
    int rc;
    switch (f->kind) {
    case ST_FLAG_STRING: *(const char **)f->dst = val; return ST_OK;
    case ST_FLAG_INT64:
        if ((rc = st_int64_parse(val, f->dst))) return st_errwrap(rc, "flag --%s", f->name);
        return ST_OK;
    case ST_FLAG_DURATION:
        if ((rc = st_duration_parse(val, f->dst))) return st_errwrap(rc, "flag --%s", f->name);
        return ST_OK;
    case ST_FLAG_BOOL:
        if (strcmp(val, "true") == 0) *(bool *)f->dst = true;
        else if (strcmp(val, "false") == 0) *(bool *)f->dst = false;
        else return st_errorf(ST_EINVAL, "flag --%s: expected true or false, got \"%s\"", f->name, val);
        return ST_OK;
    case ST_FLAG_STRINGS: {
        st_flag_strings_t *l = f->dst;
        const char **v = realloc(l->v, (l->n + 1) * sizeof *v);
        if (!v) return st_errorf(ST_ENOMEM, "flag --%s: allocation failed", f->name);
        v[l->n++] = val;
        l->v = v;
        return ST_OK;
    }
    }
    return ST_EINVAL;
}

int st_flags_parse(const st_flag_t *flags, size_t nflags, int argc, char **argv, char ***pos, size_t *npos) {
    *pos = NULL;
    *npos = 0;
    char **p = malloc((size_t)(argc > 0 ? argc : 1) * sizeof *p);
    if (!p) return st_errorf(ST_ENOMEM, "allocation failed");
    size_t n = 0;
    bool only_pos = false;
    int rc = ST_OK;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == 0) {
            p[n++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            free(p);
            return 1;
        }
        if (a[1] != '-') {
            rc = st_errorf(ST_EINVAL, "unknown short flag '%s'", a);
            goto out;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const st_flag_t *f = find_flag(flags, nflags, name, len);
        if (!f && !eq && len > 3 && strncmp(name, "no-", 3) == 0) {
            f = find_flag(flags, nflags, name + 3, len - 3);
            if (f && f->kind == ST_FLAG_BOOL) {
                *(bool *)f->dst = false;
                continue;
            }
            f = NULL;
        }
        if (!f) {
            rc = st_errorf(ST_EINVAL, "unknown long flag '--%.*s'", (int)len, name);
            goto out;
        }
        if (eq) rc = set_flag(f, eq + 1);
        else if (f->kind == ST_FLAG_BOOL) *(bool *)f->dst = true;
        else if (i + 1 < argc) rc = set_flag(f, argv[++i]);
        else rc = st_errorf(ST_EINVAL, "expected argument for flag '--%s'", f->name);
        if (rc) goto out;
    }
    *pos = p;
    *npos = n;
    p = NULL;
out:
    free(p);
    return rc;
}

void st_flags_usage(FILE *f, const char *usage, const char *summary, const st_flag_t *flags, size_t nflags) {
    fprintf(f, "usage: %s\n\n%s\n", usage, summary);
    if (nflags) fprintf(f, "\nFlags:\n  -h, --help  Show this help.\n");
    for (size_t i = 0; i < nflags; i++) {
        const char *arg = flags[i].kind == ST_FLAG_BOOL ? "" : flags[i].kind == ST_FLAG_DURATION ? "=DURATION"
                          : flags[i].kind == ST_FLAG_INT64 ? "=INT"
                          : flags[i].kind == ST_FLAG_STRINGS ? "=STRING ..." : "=STRING";
        fprintf(f, "  --%s%s\n      %s\n", flags[i].name, arg, flags[i].help);
    }
}

int st_flags_parse_command(const st_flag_t *flags, size_t nflags, size_t nshown, int argc, char **argv,
                           const char *usage, const char *summary, int *exit_code) {
    char **pos = NULL;
    size_t npos = 0;
    int rc = st_flags_parse(flags, nflags, argc - 1, argv + 1, &pos, &npos);
    free(pos);
    if (rc == 1 || (rc == 0 && npos != 0)) {
        st_flags_usage(rc == 1 ? stdout : stderr, usage, summary, flags, nshown);
        *exit_code = rc == 1 ? 0 : 2;
        return 1;
    }
    return rc;
}
