/* The shared synthetic-block writer of the benchmarks (see blockgen.h). */
#include "blockgen.h"

#include "strata/block.h"
#include "strata/err.h"

int bench_gen_blocks(const char *dir, const st_labels_t *lbls, size_t n, const int64_t *offset_ms, int64_t start,
                     int64_t end, int64_t step_ms, bench_value_fn value, void *ctx) {
    const int64_t block_ms = ST_DEFAULT_BLOCK_DURATION_MS;
    if (step_ms <= 0 || start % block_ms || end % block_ms)
        return st_errorf(ST_EINVAL, "blockgen: step %lld ms, range [%lld, %lld) not in whole 2h blocks",
                         (long long)step_ms, (long long)start, (long long)end);
    int rc = 0;
    for (int64_t b = start; b < end && !rc; b += block_ms) {
        st_block_builder_t *bb = NULL;
        if ((rc = st_block_builder_new(&bb, block_ms))) break;
        for (size_t i = 0; i < n && !rc; i++)
            for (int64_t t = b + (offset_ms ? offset_ms[i] : 0); t < b + block_ms && !rc; t += step_ms)
                rc = st_block_builder_append(bb, &lbls[i], t, value(ctx, i, t));
        if (!rc) rc = st_block_builder_write(bb, dir, NULL);
        st_block_builder_free(bb);
    }
    return rc;
}
