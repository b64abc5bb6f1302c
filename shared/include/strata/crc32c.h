/*
 * crc32c.h — CRC-32C (Castagnoli), the checksum of every TSDB section.
 * Reflected polynomial 0x82F63B78, init and final XOR 0xFFFFFFFF;
 * st_crc32c(0, "123456789", 9) == 0xE3069283. Uses the SSE4.2 crc32
 * instruction when the CPU has it, a slicing-by-8 table otherwise.
 */
#ifndef STRATA_CRC32C_H
#define STRATA_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: pass 0 to start, the previous result to extend (like Go's
 * crc32.Update), so st_crc32c(st_crc32c(0,a,n),b,m) == crc of a||b. */
uint32_t st_crc32c(uint32_t crc, const void *p, size_t n);

#endif
