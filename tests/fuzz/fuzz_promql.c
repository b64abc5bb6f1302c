/* Fuzzes the PromQL parser and printer: any bytes are parsed; a query that
 * parses is printed, and the printed text must parse again into an equal
 * tree that prints the same. A rejected query must leave *out NULL with
 * an error detail.
 *
 * One exception is Prometheus's own: it prints the number +Inf with its
 * sign, so `Inf ^ x` prints as `+Inf ^ x`, which parses as +(Inf ^ x). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata/err.h"
#include "strata/promql.h"

static void check(int ok) {
    if (!ok) __builtin_trap();
}

static char *format(const st_promql_expr_t *e, size_t *len) {
    st_encbuf_t b;
    st_encbuf_init(&b, 1 << 20);
    st_promql_format(&b, e);
    check(b.err == 0);
    *len = b.len;
    return (char *)b.p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    st_promql_expr_t *e = (st_promql_expr_t *)1;
    int rc = st_promql_parse(&e, (const char *)data, size);
    if (rc) {
        check(e == NULL && st_errdetail(rc)[0] != 0);
        return 0;
    }
    size_t n1, n2;
    char *s1 = format(e, &n1);
    st_promql_expr_t *e2;
    rc = st_promql_parse(&e2, s1 ? s1 : "", n1);
    check(rc == 0);
    char *s2 = format(e2, &n2);
    if (!st_promql_expr_equal(e, e2)) check(memmem(s1, n1, "+Inf ^", 6) != NULL);
    else check(n1 == n2 && (n1 == 0 || memcmp(s1, s2, n1) == 0));
    free(s1);
    free(s2);
    st_promql_expr_free(e);
    st_promql_expr_free(e2);
    return 0;
}
