/* thanos.shipper.json parser of the sidecar: never crash on any bytes;
 * whatever parses must encode, parse back to the same list and re-encode
 * byte for byte. The sidecar is not part of libstrata, which is all fuzz
 * targets link, so its (self-contained) state file code is compiled in. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../sidecar/shipper_state.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    shipper_state_t s, back;
    if (shipper_state_parse(&s, (const char *)data, size, "fuzz") != 0) return 0;
    char *enc = NULL, *enc2 = NULL;
    size_t len, len2;
    if (shipper_state_encode(&s, &enc, &len) != 0) abort();
    if (shipper_state_parse(&back, enc, len, "fuzz-reencoded") != 0) abort();
    if (back.n != s.n) abort();
    for (size_t i = 0; i < s.n; i++) {
        if (st_ulid_cmp(&s.uploaded[i], &back.uploaded[i]) != 0) abort();
        if (!shipper_state_has(&back, &s.uploaded[i])) abort();
    }
    if (shipper_state_encode(&back, &enc2, &len2) != 0) abort();
    if (len != len2 || memcmp(enc, enc2, len) != 0) abort();
    free(enc);
    free(enc2);
    shipper_state_free(&s);
    shipper_state_free(&back);
    return 0;
}
