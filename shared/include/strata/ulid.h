/*
 * ulid.h — ULIDs, the names of blocks: 48-bit ms timestamp + 80 random bits,
 * written as 26 chars of Crockford base32 (uppercase). Parsing is strict
 * like oklog/ulid ParseStrict (accepts lowercase, rejects I L O U, a length
 * other than 26, a first char > '7').
 */
#ifndef STRATA_ULID_H
#define STRATA_ULID_H

#include <stdint.h>

#define ST_ULID_TEXT_LEN 26

typedef struct {
    uint8_t b[16];
} st_ulid_t;

/* New ULID with time ms and randomness from getrandom(2). */
int st_ulid_new(st_ulid_t *out, uint64_t ms);
void st_ulid_format(const st_ulid_t *id, char out[ST_ULID_TEXT_LEN + 1]);
int st_ulid_parse(st_ulid_t *out, const char *s); /* ST_EINVAL */
uint64_t st_ulid_time(const st_ulid_t *id);
int st_ulid_cmp(const st_ulid_t *a, const st_ulid_t *b);

#endif
