/* The sidecar's reader of Prometheus's label answers
 * ({"status":"success","data":[...]}, sidecar/promclient.c compiled in:
 * the sidecar is not part of libstrata): never crash on any bytes; what
 * parses is a list of NUL-free strings, one per array element. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../sidecar/promclient.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_strlist_t l = {0};
    if (prom_parse_strings((const char *)data, size, &l) == 0) {
        for (size_t i = 0; i < l.n; i++)
            if (!l.v[i] || strlen(l.v[i]) > size) abort();
    }
    st_strlist_free(&l);
    return 0;
}
