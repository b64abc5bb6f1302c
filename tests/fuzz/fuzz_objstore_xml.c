/* S3 XML response parsers (expat): never crash, hang or leak on any bytes.
 * The first byte picks the parser (ListObjectsV2, initiate-multipart,
 * error document); what parses must satisfy the parser's promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../shared/src/objstore/objstore_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *xml = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 3) {
    case 0: {
        st_s3_list_t l;
        if (st_s3_parse_list(&l, xml, len) != 0) {
            if (l.v || l.n || l.next_token) abort(); /* freed on error */
            return 0;
        }
        if (l.truncated && (!l.next_token || !*l.next_token)) abort();
        for (size_t i = 0; i < l.n; i++) {
            if (!l.v[i].name) abort();
            if (l.v[i].is_prefix && l.v[i].size) abort();
            if (i && strcmp(l.v[i - 1].name, l.v[i].name) > 0) abort();
        }
        st_s3_list_free(&l);
        break;
    }
    case 1: {
        char *id = NULL;
        if (st_s3_parse_upload_id(&id, xml, len) == 0 && (!id || !*id)) abort();
        free(id);
        break;
    }
    default: {
        char code[32], msg[64];
        if (st_s3_parse_error(xml, len, code, sizeof code, msg, sizeof msg) == 0 &&
            (strlen(code) >= sizeof code || strlen(msg) >= sizeof msg))
            abort();
        break;
    }
    }
    return 0;
}
