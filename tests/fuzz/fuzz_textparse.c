/* Fuzzes the text exposition parsers. The first input byte picks the
 * format (even: text 0.0.4, odd: OpenMetrics; seeds start with 'p' or 'o');
 * the rest is parsed to the end. Every sample's labels must be UTF-8, name
 * first, and survive st_labels_from_pairs or fail it cleanly; values and
 * strings are printed the Go way. Bit 1 of the first byte also feeds the
 * input, as a C string, to the Content-Type dispatcher. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata/buf.h"
#include "strata/labels.h"
#include "strata/textfmt.h"
#include "strata/textparse.h"

static void check(int ok) {
    if (!ok) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    st_text_format_t fmt = (data[0] & 1) ? ST_TEXT_OPENMETRICS : ST_TEXT_PROM;
    if (data[0] & 2) {
        char ct[256];
        size_t n = size - 1 < sizeof ct - 1 ? size - 1 : sizeof ct - 1;
        memcpy(ct, data + 1, n);
        ct[n] = 0;
        (void)st_text_format_from_content_type(ct);
    }
    st_textparse_t *p;
    if (st_textparse_new(&p, fmt, (const char *)data + 1, size - 1)) return 0;
    st_encbuf_t out;
    st_encbuf_init(&out, 0);
    int rc;
    size_t last_line = 0;
    while ((rc = st_textparse_next(p)) > 0) {
        check(rc <= ST_TP_COMMENT);
        check(st_textparse_line(p) > last_line);
        last_line = st_textparse_line(p);
        if (rc == ST_TP_SAMPLE) {
            const st_label_t *l;
            size_t n;
            st_textparse_labels(p, &l, &n);
            check(n >= 1 && n <= ST_TEXTPARSE_MAX_LABELS);
            check(l[0].name_len == 8 && memcmp(l[0].name, "__name__", 8) == 0 && l[0].value_len > 0);
            for (size_t i = 0; i < n; i++) {
                check(l[i].name_len > 0);
                check(st_utf8_valid(l[i].value, l[i].value_len));
                st_put_go_quote(&out, l[i].value, l[i].value_len);
            }
            st_labels_t ls;
            if (st_labels_from_pairs(&ls, l, n) == 0) {
                st_put_labels_go(&out, &ls);
                st_labels_free(&ls);
            }
            char g[ST_FLOAT_BUF];
            check(st_fmt_go_g(g, st_textparse_value(p)) < ST_FLOAT_BUF);
            int64_t ts;
            (void)st_textparse_timestamp(p, &ts);
        } else {
            const char *s;
            size_t n;
            st_textparse_help(p, &s, &n);
            st_put_go_quote(&out, s, n);
            if (rc != ST_TP_COMMENT) {
                st_textparse_family(p, &s, &n);
                check(n > 0);
            }
        }
        st_encbuf_reset(&out);
    }
    /* the end and errors are sticky */
    check(st_textparse_next(p) == rc);
    st_textparse_free(p);
    st_encbuf_free(&out);
    return 0;
}
