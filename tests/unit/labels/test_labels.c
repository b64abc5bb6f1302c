/* st_labels_without: the label set a deduplicating querier (or a store
 * asked for without_replica_labels) sends on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "strata/labels.h"

static void labels_of(st_labels_t *l, const char *const *kv, size_t n) {
    st_label_t pairs[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++) pairs[i] = st_label(kv[2 * i], kv[2 * i + 1]);
    assert_int_equal(st_labels_from_pairs(l, pairs, n), 0);
}

static void expect_without(const char *const *in, size_t nin, const char *const *names, size_t nnames,
                           const char *const *want, size_t nwant) {
    st_labels_t l, w, got;
    labels_of(&l, in, nin);
    labels_of(&w, want, nwant);
    assert_int_equal(st_labels_without(&got, &l, names, nnames), 0);
    assert_true(st_labels_equal(&got, &w));
    /* a fresh copy: the input can go first */
    st_labels_free(&l);
    assert_true(st_labels_equal(&got, &w));
    st_labels_free(&got);
    st_labels_free(&w);
}

static void test_without(void **state) {
    (void)state;
    const char *in[] = {"__name__", "up", "job", "api", "replica", "a", "zone", "eu"};
    const char *replica[] = {"replica"};
    const char *want1[] = {"__name__", "up", "job", "api", "zone", "eu"};
    expect_without(in, 4, replica, 1, want1, 3);
    /* two names, one absent; the first and the last label */
    const char *two[] = {"zone", "rule_replica", "__name__"};
    const char *want2[] = {"job", "api", "replica", "a"};
    expect_without(in, 4, two, 3, want2, 2);
    /* a name that is only a prefix of a label's name strips nothing */
    const char *prefix[] = {"rep", "replicas", "replic"};
    expect_without(in, 4, prefix, 3, in, 4);
    /* nothing to strip: a copy; everything stripped: empty */
    expect_without(in, 4, NULL, 0, in, 4);
    const char *all[] = {"replica", "job", "__name__", "zone"};
    expect_without(in, 4, all, 4, NULL, 0);
}

/* More labels than the function's stack buffer holds. */
static void test_without_many(void **state) {
    (void)state;
    char names[40][8], values[40][8];
    const char *kv[80], *want[78];
    size_t nw = 0;
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof names[i], "l%02d", i);
        snprintf(values[i], sizeof values[i], "v%d", i);
        kv[2 * i] = names[i];
        kv[2 * i + 1] = values[i];
        if (i != 7) {
            want[nw++] = names[i];
            want[nw++] = values[i];
        }
    }
    const char *strip[] = {"l07"};
    expect_without(kv, 40, strip, 1, want, 39);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_without),
        cmocka_unit_test(test_without_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
