/*
 * promql_driver — runs st_promql_parse for the integration test: reads one
 * query per line, hex-encoded (any bytes), and prints per query
 *   ok <hex of st_promql_format>      or      err <hex of the error detail>
 * Exit code 0 unless the input itself is malformed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/err.h"
#include "strata/promql.h"

static void put_hex(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
    printf("\n");
}

static int unhex(const char *s, size_t n, char *out) {
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned v;
        if (sscanf(s + i, "%2x", &v) != 1) return -1;
        out[i / 2] = (char)v;
    }
    return 0;
}

int main(void) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        char *q = malloc((size_t)n / 2 + 1);
        if (!q || (n % 2) || unhex(line, (size_t)n, q)) {
            fprintf(stderr, "promql_driver: bad input line\n");
            return 1;
        }
        st_promql_expr_t *e;
        int rc = st_promql_parse(&e, q, (size_t)n / 2);
        if (rc) {
            const char *d = st_errdetail(rc);
            printf("err ");
            put_hex((const unsigned char *)d, strlen(d));
        } else {
            st_encbuf_t b;
            st_encbuf_init(&b, 0);
            st_promql_format(&b, e);
            printf("ok ");
            put_hex(b.p ? b.p : (const unsigned char *)"", b.err ? 0 : b.len);
            st_encbuf_free(&b);
            st_promql_expr_free(e);
        }
        fflush(stdout);
        free(q);
    }
    free(line);
    return 0;
}
