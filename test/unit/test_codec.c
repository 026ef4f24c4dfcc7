/* test_codec.c — unit tests of the extent codecs (tier/codec.h) and of
 * compressed extents through tier.h on a real directory. */
#include "tier/codec.h"
#include "tier/log.h"
#include "tier/tier.h"

#include <check.h>
#include <lz4.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* N bytes of float-like values of width W: a few exponent patterns in the
 * high byte, noise in the others (what weight tensors look like). */
static uint8_t *floats(uint32_t n, unsigned w)
{
	uint8_t *b = malloc(n);

	for (uint32_t i = 0; i < n; i++)
		b[i] = (i % w == w - 1) ? (uint8_t)(0x3c + (rnd() & 3)) : (uint8_t)rnd();
	return b;
}

START_TEST(codec_roundtrip_every_codec_and_range)
{
	static const uint32_t sizes[] = { 1, 3, 4, 5, 4095, 4097, 65537, 1u << 20 };

	for (unsigned s = 0; s < sizeof sizes / sizeof *sizes; s++) {
		uint32_t len = sizes[s], cap = (uint32_t)LZ4_compressBound((int)len);
		uint8_t *src = floats(len, 4), *enc = malloc(cap), *tmp = malloc(len);
		uint8_t *dst = malloc(len);

		for (int c = TIER_CODEC_LZ4; c <= TIER_CODEC_BG2; c++) {
			uint32_t got = codec_encode(c, src, len, enc, cap, tmp);
			uint32_t inner[] = { 0, len / 3, len - 1 };

			ck_assert_msg(got > 0, "codec %d, %u bytes: encode failed", c, len);
			for (unsigned k = 0; k < 3; k++) {
				uint32_t n = len - inner[k] > 7 ? (len - inner[k]) / 2 + 1 : len - inner[k];

				memset(dst, 0xee, len);
				ck_assert_int_eq(codec_decode(c, enc, got, len, inner[k], n, dst, tmp), 0);
				ck_assert_msg(memcmp(dst, src + inner[k], n) == 0,
					      "codec %d, %u bytes, range [%u,+%u): bytes differ", c,
					      len, inner[k], n);
			}
			ck_assert_int_eq(codec_decode(c, enc, got, len + 1, 0, len + 1, dst, tmp),
					 -EIO);
		}
		free(src);
		free(enc);
		free(tmp);
		free(dst);
	}
}
END_TEST

START_TEST(codec_byte_grouping_beats_lz4_on_floats)
{
	uint32_t len = 1u << 20, cap = (uint32_t)LZ4_compressBound((int)len);
	uint8_t *src = floats(len, 2), *enc = malloc(cap), *tmp = malloc(len);
	uint32_t lz4 = codec_encode(TIER_CODEC_LZ4, src, len, enc, cap, tmp);
	uint32_t bg2 = codec_encode(TIER_CODEC_BG2, src, len, enc, cap, tmp);
	uint8_t *out = malloc(codec_choose_room());

	ck_assert_msg(bg2 < lz4 * 9 / 10, "bg2 %u bytes, lz4 %u bytes", bg2, lz4);
	ck_assert_int_eq(codec_choose(src, len, tmp, out), TIER_CODEC_BG2);
	free(src);
	free(enc);
	free(tmp);
	free(out);
}
END_TEST

START_TEST(tier_auto_codec_reads_back_and_detects_damage)
{
	char dir[] = "/tmp/aifs-codec.XXXXXX", seg[64], cmd[96];
	static uint32_t crcs[TIER_NCRC(3u << 20)], c2[TIER_NCRC(3u << 20)];
	uint32_t len = 3u << 20, ncrc;
	int c;
	uint8_t *src = floats(len, 4), *dst = malloc(len);
	struct tier_ref ref, rnd_ref;
	struct tier_io io;
	struct tier *t;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(tier_open(dir, TIER_COLD, &t), 0);
	ck_assert_int_eq(tier_append(t, src, len, TIER_CODEC_AUTO, &ref, crcs, &ncrc), 0);
	ck_assert_int_eq(ref.codec, TIER_CODEC_BG4);
	ck_assert_uint_lt(ref.stored_len, len * 95 / 100);
	io = (struct tier_io){ .ref = &ref, .crcs = crcs, .inner = 12345, .len = len - 20000,
			       .dst = dst };
	ck_assert_int_eq(tier_read_batch((struct tier *const[]){ NULL, t }, &io, 1), 0);
	ck_assert(memcmp(dst, src + 12345, len - 20000) == 0);
	/* piece by piece, as the kernel reads: from the decoded-extent cache */
	for (uint32_t off = 0; off < len; off += 131072 - 7) {
		uint32_t n = len - off < 131072 - 7 ? len - off : 131072 - 7;

		io = (struct tier_io){ .ref = &ref, .crcs = crcs, .inner = off, .len = n, .dst = dst };
		ck_assert_int_eq(tier_read_batch((struct tier *const[]){ NULL, t }, &io, 1), 0);
		ck_assert_msg(memcmp(dst, src + off, n) == 0, "piece at %u differs", off);
	}
	for (uint32_t i = 0; i < len; i++)
		src[i] = (uint8_t)rnd();
	ck_assert_int_eq(tier_append(t, src, len, TIER_CODEC_AUTO, &rnd_ref, c2, &ncrc), 0);
	ck_assert_int_eq(rnd_ref.codec, TIER_CODEC_RAW);
	ck_assert_int_eq(tier_sync(t), 0);
	/* one flipped stored byte of the first extent: EIO, never wrong bytes */
	snprintf(seg, sizeof seg, "%s/seg-%08u", dir, ref.seg);
	f = fopen(seg, "r+b");
	ck_assert_ptr_nonnull(f);
	fseek(f, (long)ref.off + 100, SEEK_SET);
	c = fgetc(f);
	fseek(f, (long)ref.off + 100, SEEK_SET);
	fputc(0x55 ^ c, f);
	fclose(f);
	/* reopened: the bytes decoded before the damage are not cached any more */
	tier_close(t);
	ck_assert_int_eq(tier_open(dir, TIER_COLD, &t), 0);
	io = (struct tier_io){ .ref = &ref, .crcs = crcs, .inner = 0, .len = len, .dst = dst };
	ck_assert_int_eq(tier_read_batch((struct tier *const[]){ NULL, t }, &io, 1), -EIO);
	tier_close(t);
	free(src);
	free(dst);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("codec");
	TCase *tc = tcase_create("codec");
	SRunner *sr;
	int failed;

	log_init("test_codec", 1, LOG_CRIT);
	tcase_add_test(tc, codec_roundtrip_every_codec_and_range);
	tcase_add_test(tc, codec_byte_grouping_beats_lz4_on_floats);
	tcase_add_test(tc, tier_auto_codec_reads_back_and_detects_damage);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
