/* objstore.yml parser (libyaml): never crash or leak on any bytes; a
 * config that parses is complete and within its documented bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../shared/src/objstore/objstore_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_objstore_config_t c;
    if (st_objstore_config_parse(&c, (const char *)data, size) != 0) {
        if (c.directory || c.bucket || c.endpoint || c.access_key || c.secret_key || c.region) abort();
        return 0;
    }
    if (c.type == ST_OBJ_FILESYSTEM) {
        if (!c.directory || !*c.directory) abort();
    } else if (c.type == ST_OBJ_S3) {
        if (!c.bucket || !*c.bucket || !c.endpoint || !*c.endpoint || !c.region || !*c.region) abort();
        if (c.part_size < ST_OBJ_MIN_PART_SIZE || c.part_size > ST_OBJ_MAX_PART_SIZE) abort();
        if (c.max_retries < 0 || c.max_retries > 20) abort();
        if (!c.access_key != !c.secret_key) abort();
        if (strchr(c.endpoint, '/') || strchr(c.bucket, '/')) abort();
    } else {
        abort();
    }
    st_objstore_config_free(&c);
    return 0;
}
