/* crc32c.c — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78).
 *
 * tier_crc32c(seed, ...) inverts on entry and exit, so tier_crc32c(0, s, n)
 * is the standard CRC-32C (0xE3069283 for "123456789") and feeding the
 * result back as SEED continues the same checksum over more bytes.
 *
 * On x86-64 CPUs with SSE4.2 the crc32 instruction does the work eight
 * bytes at a time; elsewhere a slice-by-8 table does.  Both give the same
 * values; the choice is made once, on first use.
 *
 * The instruction takes three cycles but can start one every cycle, so
 * the hardware path runs three lanes of LANE bytes at once (a TIER_BLOCK
 * is one such stripe and a tail) and joins them: the CRC state of A||B is
 * that of A advanced over |B| zero bytes, xor that of B from 0, and the
 * advance over LANE zero bytes is linear, a table lookup (lane_shift).
 */
#include "tier/tier.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#define CRC32C_POLY	0x82F63B78u

typedef uint32_t crc_fn(uint32_t crc, const uint8_t *p, size_t len);

/* Written once under crc_once, read-only afterwards. */
static uint32_t crc_table[8][256];
static crc_fn *crc_impl;
#define LANE	1360		/* 3 * LANE + 16 == TIER_BLOCK */
static uint32_t lane_table[4][256];	/* state advanced over LANE zero bytes */
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/* Slice-by-8: table k maps a byte to its contribution k bytes further on.
 * Words are assembled byte by byte so that the result does not depend on
 * the host's endianness (compilers turn this into one load on x86). */
static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
				     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 |
			      (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;

		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		      crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

static uint32_t lane_shift(uint32_t c)
{
	return lane_table[0][c & 0xff] ^ lane_table[1][(c >> 8) & 0xff] ^
	       lane_table[2][(c >> 16) & 0xff] ^ lane_table[3][c >> 24];
}

/* lane_table from the advance of each single-bit state (crc_table ready). */
static void lane_init(void)
{
	static const uint8_t zeros[LANE];
	uint32_t bit[32];

	for (int i = 0; i < 32; i++)
		bit[i] = crc_sw(1u << i, zeros, LANE);
	for (int k = 0; k < 4; k++)
		for (uint32_t b = 0; b < 256; b++) {
			uint32_t v = 0;

			for (int i = 0; i < 8; i++)
				if (b & (1u << i))
					v ^= bit[8 * k + i];
			lane_table[k][b] = v;
		}
}

#if defined(__x86_64__)
static inline uint64_t load64(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof w);
	return w;
}

/* The crc32 instruction; unaligned head and tail go a byte at a time so
 * that the 8-byte loads in between are aligned. */
__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;

	while (len > 0 && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	while (len >= 3 * LANE) {
		uint64_t c1 = 0, c2 = 0;

		for (size_t i = 0; i < LANE; i += 8) {
			c = _mm_crc32_u64(c, load64(p + i));
			c1 = _mm_crc32_u64(c1, load64(p + LANE + i));
			c2 = _mm_crc32_u64(c2, load64(p + 2 * LANE + i));
		}
		c = lane_shift(lane_shift((uint32_t)c) ^ (uint32_t)c1) ^ (uint32_t)c2;
		p += 3 * LANE;
		len -= 3 * LANE;
	}
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, sizeof w);
		c = _mm_crc32_u64(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

static void crc_init(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc_table[0][n] = c;
	}
	for (uint32_t n = 0; n < 256; n++)
		for (int k = 1; k < 8; k++)
			crc_table[k][n] = (crc_table[k - 1][n] >> 8) ^
					  crc_table[0][crc_table[k - 1][n] & 0xff];
	crc_impl = crc_sw;
	lane_init();
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		crc_impl = crc_hw;
#endif
}

uint32_t tier_crc32c(uint32_t seed, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return ~crc_impl(~seed, buf, len);
}
