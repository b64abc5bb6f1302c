/* logfmt lines on stderr; format in log.h. */
#include "strata/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "strata/buf.h"
#include "strata/err.h"

static atomic_int min_level = ST_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void st_log_set_level(st_log_level_t level) { atomic_store(&min_level, (int)level); }

int st_log_parse_level(const char *s, st_log_level_t *out) {
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (st_log_level_t)i;
            return ST_OK;
        }
    return st_errorf(ST_EINVAL, "unknown log level \"%s\" (want debug, info, warn or error)", s);
}

static void put_value(st_encbuf_t *b, const char *v) {
    bool quote = *v == 0;
    for (const char *p = v; *p && !quote; p++)
        if (*p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20) quote = true;
    if (!quote) {
        st_put_cstr(b, v);
        return;
    }
    st_put_u8(b, '"');
    for (const char *p = v; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            st_put_u8(b, '\\');
            st_put_u8(b, c);
        } else if (c == '\n') {
            st_put_cstr(b, "\\n");
        } else if (c < 0x20) {
            st_put_fmt(b, "\\x%02x", c);
        } else {
            st_put_u8(b, c);
        }
    }
    st_put_u8(b, '"');
}

void st_log(st_log_level_t level, const char *msg, ...) {
    if ((int)level < atomic_load(&min_level)) return;
    st_encbuf_t b;
    st_encbuf_init(&b, 64 * 1024);
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    st_put_fmt(&b, "level=%s ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ msg=", level_names[level], tm.tm_year + 1900,
               tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    put_value(&b, msg);
    va_list ap;
    va_start(ap, msg);
    const char *k;
    while ((k = va_arg(ap, const char *))) {
        const char *v = va_arg(ap, const char *);
        st_put_u8(&b, ' ');
        st_put_cstr(&b, k);
        st_put_u8(&b, '=');
        put_value(&b, v ? v : "");
    }
    va_end(ap);
    st_put_u8(&b, '\n');
    if (!b.err) {
        ssize_t n = write(STDERR_FILENO, b.p, b.len);
        (void)n; /* nowhere to report a failed log write */
    }
    st_encbuf_free(&b);
}
