/* Fuzzes the prometheus.yml parser: any input must parse or fail cleanly;
 * a config that parses must write YAML that parses back to the same
 * YAML (the writer is what /api/v1/status/config serves). The input is
 * also tried as a relabel rule list and as file_sd documents (YAML, JSON). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata/promconfig.h"

static void check(int ok) {
    if (!ok) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 65536) return 0;
    const char *s = (const char *)data;
    st_promconfig_t *c;
    if (st_promconfig_parse(&c, s, size, "fuzz.yml") == 0) {
        st_encbuf_t a, b;
        st_encbuf_init(&a, 0);
        st_encbuf_init(&b, 0);
        st_promconfig_write_yaml(c, &a);
        st_promconfig_t *c2;
        int rc = st_promconfig_parse(&c2, (const char *)a.p, a.len, "written.yml");
        check(rc == 0);
        st_promconfig_write_yaml(c2, &b);
        check(a.len == b.len && memcmp(a.p, b.p, a.len) == 0);
        st_promconfig_free(c2);
        st_encbuf_free(&a);
        st_encbuf_free(&b);
        st_promconfig_free(c);
    } else {
        check(c == NULL);
    }
    st_relabel_list_t l;
    if (st_promconfig_parse_relabel(&l, s, size, "fuzz.yml") == 0) st_relabel_list_free(&l);
    st_target_group_t *g;
    size_t n;
    if (st_target_groups_parse(&g, &n, s, size, false, "fuzz.yml") == 0) st_target_groups_free(g, n);
    if (st_target_groups_parse(&g, &n, s, size, true, "fuzz.json") == 0) st_target_groups_free(g, n);
    return 0;
}
