/* promtool tsdb dump's text form, shared by `tools tsdb dump` and
 * `tools store series`: one line per sample, `{labels} value timestamp`,
 * labels as Go's labels.String(), the value as Go's %g, ms timestamps. */
#include <errno.h>
#include <string.h>

#include "strata/err.h"
#include "strata/textfmt.h"
#include "tools_int.h"

size_t tools_dump_series(st_encbuf_t *line, const st_labels_t *l) {
    st_encbuf_reset(line);
    st_put_labels_go(line, l);
    st_put_u8(line, ' ');
    return line->len;
}

int tools_dump_sample(st_encbuf_t *line, size_t prefix, int64_t t, double v, FILE *out) {
    char num[ST_FLOAT_BUF];
    size_t n = st_fmt_go_g(num, v);
    line->len = prefix;
    st_put_bytes(line, num, n);
    st_put_fmt(line, " %lld\n", (long long)t);
    if (line->err) return st_errorf(line->err, "formatting a sample line");
    if (fwrite(line->p, 1, line->len, out) != line->len)
        return errno == EPIPE ? st_errorf(ST_ECANCELED, "writing output: the reader closed the pipe")
                              : st_errorf(ST_EIO, "writing output: %s", strerror(errno));
    return ST_OK;
}
