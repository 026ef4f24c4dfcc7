/* keys.c — fixed-width big-endian key encodings (see keys.h).
 *
 * Integers are written most significant byte first, byte by byte, so the
 * encoding is the same on every host and memcmp order is numeric order.
 */
#include <assert.h>
#include <string.h>

#include "meta/keys.h"

uint8_t *key_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
	return p + 8;
}

uint8_t *key_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
	return p + 4;
}

uint64_t key_get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

uint32_t key_get_u32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 8 | p[i];
	return v;
}

size_t key_ino(uint8_t *k, uint8_t kind, uint64_t ino)
{
	k[0] = kind;
	return (size_t)(key_put_u64(k + 1, ino) - k);
}

size_t key_ino_off(uint8_t *k, uint8_t kind, uint64_t ino, uint64_t off)
{
	size_t n = key_ino(k, kind, ino);

	return (size_t)(key_put_u64(k + n, off) - k);
}

size_t key_ino_name(uint8_t *k, uint8_t kind, uint64_t ino, const char *name, size_t len)
{
	size_t n = key_ino(k, kind, ino);

	/* KEY_MAX leaves one byte past a 255-byte name, which meta.c uses
	 * to form the key just after a name (a readdir cursor). */
	assert(len <= 255);
	memcpy(k + n, name, len);
	return n + len;
}
