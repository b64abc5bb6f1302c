/* Shared by the remote read server (handler.c) and codecs (request.c,
 * client.c): snappy with caps, protobuf <-> label sets, packing protobuf-c
 * messages straight into an st_encbuf_t. */
#ifndef STRATA_REMOTE_INT_H
#define STRATA_REMOTE_INT_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "prompb/remote.pb-c.h"
#include "prompb/types.pb-c.h"
#include "strata/buf.h"
#include "strata/labels.h"

/* Decode snappy block bytes of at most max decoded bytes (ST_ELIMIT), or
 * ST_ECORRUPT naming `what`. *out malloc'd (non-NULL even when empty). */
int st__rr_unsnappy(const uint8_t *p, size_t len, size_t max, uint8_t **out, size_t *outlen, const char *what);
/* Snappy-compress p into a malloc'd *out. */
int st__rr_snappy(const uint8_t *p, size_t len, uint8_t **out, size_t *outlen);

/* Label set from protobuf labels; repeated or empty names are ST_ECORRUPT
 * naming `what`. */
int st__rr_labels_from_pb(Prometheus__Label *const *v, size_t n, st_labels_t *out, const char *what);

/* protobuf_c_message_pack_to_buffer target appending to an st_encbuf_t. */
typedef struct {
    ProtobufCBuffer base;
    st_encbuf_t *b;
} st__rr_pbuf_t;
void st__rr_pbuf_init(st__rr_pbuf_t *pb, st_encbuf_t *b);

#endif
