/* Fuzzes relabeling: the input is a YAML rule list, a line "---LABELS---",
 * then one "name=value" label per line. Rules that compile are applied; a
 * kept result must be a valid label set (sorted, unique, non-empty values)
 * and applying is deterministic. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata/promconfig.h"
#include "strata/relabel.h"

#define SEP "---LABELS---\n"

static void check(int ok) {
    if (!ok) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 16384) return 0;
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    char *lbl = strstr(s, SEP);
    size_t ylen = lbl ? (size_t)(lbl - s) : size;
    st_relabel_list_t l;
    if (st_promconfig_parse_relabel(&l, s, ylen, "fuzz.yml") != 0) {
        free(s);
        return 0;
    }
    st_label_t pairs[64];
    size_t n = 0;
    for (char *p = lbl ? lbl + strlen(SEP) : NULL; p && *p && n < 64;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        char *eq = strchr(p, '=');
        if (eq && eq != p) {
            *eq = 0;
            bool dup = false;
            for (size_t i = 0; i < n; i++) dup |= strcmp(pairs[i].name, p) == 0;
            if (!dup) pairs[n++] = st_label(p, eq + 1);
        }
        p = nl ? nl + 1 : NULL;
    }
    st_labels_t out, out2;
    bool keep, keep2;
    int rc = st_relabel_process(l.compiled, pairs, n, &out, &keep);
    int rc2 = st_relabel_process(l.compiled, pairs, n, &out2, &keep2);
    check(rc == rc2);
    if (rc == 0) {
        check(keep == keep2);
        if (keep) {
            check(st_labels_equal(&out, &out2));
            for (size_t i = 0; i < out.n; i++) {
                check(out.v[i].value_len > 0 && out.v[i].name_len > 0);
                if (i) check(st_bytes_cmp(out.v[i - 1].name, out.v[i - 1].name_len, out.v[i].name, out.v[i].name_len) < 0);
            }
        } else {
            check(out.n == 0);
        }
    }
    st_labels_free(&out);
    st_labels_free(&out2);
    st_relabel_list_free(&l);
    free(s);
    return 0;
}
