/* Shared helpers of the cmocka unit tests. */
#ifndef STRATA_ST_TEST_H
#define STRATA_ST_TEST_H

#include <stdio.h>
#include <stdlib.h>

#include "strata/fileutil.h"

/* Create a fresh directory $ST_TEST_TMP/<name>.XXXXXX (ST_TEST_TMP is set by
 * ctest to a folder of the build tree; /tmp otherwise) into buf.
 * Returns 0, or -1 as cmocka setup functions do. */
static inline int st_test_mkdtemp(char *buf, size_t size, const char *name) {
    const char *base = getenv("ST_TEST_TMP");
    if (!base || !*base) base = "/tmp";
    if (st_mkdir_p(base, 0755) != 0) return -1;
    snprintf(buf, size, "%s/%s.XXXXXX", base, name);
    return mkdtemp(buf) ? 0 : -1;
}

#endif
