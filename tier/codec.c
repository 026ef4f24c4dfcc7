/* codec.c — lz4 and byte-grouped lz4 extents (see codec.h). */
#include "tier/codec.h"
#include "tier/tier.h"

#include <errno.h>
#include <lz4.h>
#include <string.h>

unsigned codec_width(int codec)
{
	return codec == TIER_CODEC_BG4 ? 4 : codec == TIER_CODEC_BG2 ? 2 : 1;
}

/* Split LEN bytes of SRC into W byte planes in DST. */
static void planes_split(const uint8_t *src, uint32_t len, unsigned w, uint8_t *dst)
{
	uint32_t n = len / w;

	if (w == 4) {
		for (uint32_t i = 0; i < n; i++) {
			dst[i] = src[4 * i];
			dst[n + i] = src[4 * i + 1];
			dst[2 * n + i] = src[4 * i + 2];
			dst[3 * n + i] = src[4 * i + 3];
		}
	} else {
		for (uint32_t i = 0; i < n; i++) {
			dst[i] = src[2 * i];
			dst[n + i] = src[2 * i + 1];
		}
	}
	memcpy(dst + n * w, src + n * w, len - n * w);
}

/* Write the bytes [INNER, INNER+LEN) of the value stream whose W planes
 * (of a stream of RAW bytes) are in PL to DST. */
static void planes_gather(const uint8_t *pl, uint32_t raw, unsigned w, uint32_t inner,
			  uint32_t len, uint8_t *dst)
{
	uint32_t n = raw / w, end = inner + len, p = inner;

	for (; p < end && p < n * w && p % w; p++)
		*dst++ = pl[(p % w) * n + p / w];
	if (w == 4) {
		const uint8_t *p0 = pl, *p1 = pl + n, *p2 = pl + 2 * n, *p3 = pl + 3 * n;

		for (; p + 4 <= end && p + 4 <= n * 4; p += 4, dst += 4) {
			uint32_t i = p / 4;

			dst[0] = p0[i];
			dst[1] = p1[i];
			dst[2] = p2[i];
			dst[3] = p3[i];
		}
	} else {
		const uint8_t *p0 = pl, *p1 = pl + n;

		for (; p + 2 <= end && p + 2 <= n * 2; p += 2, dst += 2) {
			dst[0] = p0[p / 2];
			dst[1] = p1[p / 2];
		}
	}
	for (; p < end && p < n * w; p++)
		*dst++ = pl[(p % w) * n + p / w];
	if (p < end)
		memcpy(dst, pl + p, end - p);
}

uint32_t codec_encode(int codec, const uint8_t *src, uint32_t len, uint8_t *dst,
		      uint32_t cap, uint8_t *tmp)
{
	unsigned w = codec_width(codec);

	if (cap == 0 || len == 0)
		return 0;
	if (w > 1) {
		planes_split(src, len, w, tmp);
		src = tmp;
	}
	return (uint32_t)LZ4_compress_default((const char *)src, (char *)dst, (int)len, (int)cap);
}

int codec_decode(int codec, const uint8_t *src, uint32_t stored, uint32_t raw,
		 uint32_t inner, uint32_t len, uint8_t *dst, uint8_t *tmp)
{
	unsigned w = codec_width(codec);
	uint32_t want = w > 1 ? raw : inner + len;
	uint8_t *out = w == 1 && inner == 0 ? dst : tmp;
	int n;

	if ((uint64_t)inner + len > raw)
		return -EIO;
	n = LZ4_decompress_safe_partial((const char *)src, (char *)out, (int)stored, (int)want,
					(int)want);
	if (n != (int)want)
		return -EIO;
	if (w > 1)
		planes_gather(tmp, raw, w, inner, len, dst);
	else if (out != dst)
		memcpy(dst, tmp + inner, len);
	return 0;
}

uint32_t codec_choose_room(void)
{
	return (uint32_t)LZ4_compressBound(CODEC_SAMPLE);
}

int codec_choose(const uint8_t *src, uint32_t len, uint8_t *tmp, uint8_t *out)
{
	static const int tries[] = { TIER_CODEC_LZ4, TIER_CODEC_BG4, TIER_CODEC_BG2 };
	uint32_t n = len < CODEC_SAMPLE ? len : CODEC_SAMPLE;
	uint32_t start = (len - n) / 2 & ~3u, best_len = UINT32_MAX;
	int best = TIER_CODEC_LZ4;

	for (unsigned i = 0; i < sizeof tries / sizeof *tries; i++) {
		uint32_t got = codec_encode(tries[i], src + start, n, out, codec_choose_room(), tmp);

		if (got && got < best_len) {
			best_len = got;
			best = tries[i];
		}
	}
	return best;
}
