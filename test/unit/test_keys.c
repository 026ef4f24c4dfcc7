/* test_keys.c — the big-endian key encodings of meta/keys.h.
 *
 * What the metadata store relies on: an encoding round-trips, has a fixed
 * length, and memcmp order of two encodings is the numeric order of the
 * values (and, for name keys, (ino, name bytes) order).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "meta/keys.h"

/* Values around every byte boundary where a little-endian or a
 * variable-length encoding would sort wrong. */
static const uint64_t boundaries[] = {
	0, 1, 2, 127, 128, 255, 256, 257, 65535, 65536,
	0xffffffull, 0x1000000ull, 0xfffffffeull, 0xffffffffull, 0x100000000ull,
	0x100000001ull, 0x00ff00ff00ff00ffull, 0x7fffffffffffffffull,
	0x8000000000000000ull, 0xfffffffffffffffeull, 0xffffffffffffffffull,
};
#define NB (sizeof(boundaries) / sizeof(boundaries[0]))

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

START_TEST(u64_round_trips_and_is_8_bytes)
{
	for (size_t i = 0; i < NB; i++) {
		uint8_t buf[9];

		memset(buf, 0xaa, sizeof(buf));
		uint8_t *end = key_put_u64(buf, boundaries[i]);
		ck_assert_msg(end == buf + 8, "key_put_u64 advanced %td bytes, expected 8",
			      end - buf);
		ck_assert_msg(buf[8] == 0xaa, "key_put_u64 wrote past 8 bytes");
		ck_assert_msg(key_get_u64(buf) == boundaries[i],
			      "u64 %#llx decoded as %#llx",
			      (unsigned long long)boundaries[i],
			      (unsigned long long)key_get_u64(buf));
	}
}
END_TEST

START_TEST(u32_round_trips_and_is_4_bytes)
{
	static const uint32_t vals[] = { 0, 1, 255, 256, 65535, 65536, 0xffffff,
					 0x1000000, 0x7fffffff, 0x80000000, 0xffffffff };

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint8_t buf[5];

		memset(buf, 0xaa, sizeof(buf));
		uint8_t *end = key_put_u32(buf, vals[i]);
		ck_assert_msg(end == buf + 4, "key_put_u32 advanced %td bytes, expected 4",
			      end - buf);
		ck_assert_msg(buf[4] == 0xaa, "key_put_u32 wrote past 4 bytes");
		ck_assert_msg(key_get_u32(buf) == vals[i], "u32 %#x decoded as %#x",
			      vals[i], key_get_u32(buf));
	}
}
END_TEST

START_TEST(u64_is_most_significant_byte_first)
{
	uint8_t buf[8];
	static const uint8_t want[8] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };

	key_put_u64(buf, 0x0123456789abcdefull);
	ck_assert_msg(memcmp(buf, want, 8) == 0,
		      "0x0123456789abcdef encoded as %02x%02x%02x%02x%02x%02x%02x%02x",
		      buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], buf[6], buf[7]);
}
END_TEST

START_TEST(u64_memcmp_order_is_numeric_order)
{
	for (size_t i = 0; i < NB; i++)
		for (size_t j = 0; j < NB; j++) {
			uint8_t a[8], b[8];

			key_put_u64(a, boundaries[i]);
			key_put_u64(b, boundaries[j]);
			int got = sign(memcmp(a, b, 8));
			int want = cmp_u64(boundaries[i], boundaries[j]);

			ck_assert_msg(got == want,
				      "memcmp order of %#llx and %#llx is %d, numeric order %d",
				      (unsigned long long)boundaries[i],
				      (unsigned long long)boundaries[j], got, want);
		}
}
END_TEST

START_TEST(u32_memcmp_order_is_numeric_order)
{
	static const uint32_t vals[] = { 0, 1, 255, 256, 65535, 65536, 0xffffffff };
	const size_t n = sizeof(vals) / sizeof(vals[0]);

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			uint8_t a[4], b[4];

			key_put_u32(a, vals[i]);
			key_put_u32(b, vals[j]);
			ck_assert_msg(sign(memcmp(a, b, 4)) == cmp_u64(vals[i], vals[j]),
				      "memcmp order of %#x and %#x is %d", vals[i], vals[j],
				      sign(memcmp(a, b, 4)));
		}
}
END_TEST

START_TEST(key_ino_is_kind_then_ino)
{
	uint8_t k[KEY_MAX];
	size_t n = key_ino(k, 'I', 0x100000000ull);

	ck_assert_msg(n == 9, "key_ino length %zu, expected 9", n);
	ck_assert_msg(k[0] == 'I', "kind byte %#x, expected 'I'", k[0]);
	ck_assert_msg(key_get_u64(k + 1) == 0x100000000ull, "ino %#llx, expected 2^32",
		      (unsigned long long)key_get_u64(k + 1));
}
END_TEST

START_TEST(key_ino_off_is_kind_ino_off)
{
	uint8_t k[KEY_MAX];
	size_t n = key_ino_off(k, 'E', 5, 0xffffffffffffffffull);

	ck_assert_msg(n == 17, "key_ino_off length %zu, expected 17", n);
	ck_assert_msg(k[0] == 'E', "kind byte %#x, expected 'E'", k[0]);
	ck_assert_msg(key_get_u64(k + 1) == 5, "ino %llu, expected 5",
		      (unsigned long long)key_get_u64(k + 1));
	ck_assert_msg(key_get_u64(k + 9) == 0xffffffffffffffffull, "offset %#llx, expected 2^64-1",
		      (unsigned long long)key_get_u64(k + 9));
}
END_TEST

START_TEST(key_ino_off_orders_by_ino_then_offset)
{
	static const uint64_t inos[] = { 1, 255, 256, 0x100000000ull };
	static const uint64_t offs[] = { 0, 4096, 1ull << 20, 0x100000000ull, UINT64_MAX };
	uint8_t prev[KEY_MAX], cur[KEY_MAX];

	for (size_t i = 0; i < 4; i++)
		for (size_t j = 0; j < 5; j++) {
			size_t n = key_ino_off(cur, 'E', inos[i], offs[j]);

			if (i + j > 0)
				ck_assert_msg(memcmp(prev, cur, n) < 0,
					      "key (%llu, %#llx) sorts before its predecessor",
					      (unsigned long long)inos[i],
					      (unsigned long long)offs[j]);
			memcpy(prev, cur, n);
		}
}
END_TEST

START_TEST(key_ino_name_is_kind_ino_name)
{
	uint8_t k[KEY_MAX];
	size_t n = key_ino_name(k, 'D', 1, "hello", 5);

	ck_assert_msg(n == 14, "key_ino_name length %zu, expected 14", n);
	ck_assert_msg(memcmp(k + 9, "hello", 5) == 0, "name bytes not copied after ino");
}
END_TEST

START_TEST(key_ino_name_fits_longest_name_in_key_max)
{
	uint8_t k[KEY_MAX];
	char name[255];

	memset(name, 'x', sizeof(name));
	size_t n = key_ino_name(k, 'X', UINT64_MAX, name, sizeof(name));
	ck_assert_msg(n == 264, "255-byte name key length %zu, expected 264", n);
	ck_assert_msg(n < KEY_MAX, "KEY_MAX %d leaves no byte for a cursor successor", KEY_MAX);
}
END_TEST

/* Compare two name keys the way RocksDB's bytewise comparator does. */
static int cmp_keys(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? sign(c) : (alen > blen) - (alen < blen);
}

START_TEST(key_ino_name_orders_by_ino_then_name_bytes)
{
	/* In the order a directory listing must come out in. */
	static const struct { uint64_t ino; const char *name; } keys[] = {
		{ 1, "a" }, { 1, "ab" }, { 1, "abc" }, { 1, "b" }, { 1, "\xff" },
		{ 255, "" }, { 255, "zzz" }, { 256, "a" },
		{ 0x100000000ull, "A" }, { 0x100000000ull, "a" },
	};
	const size_t n = sizeof(keys) / sizeof(keys[0]);

	for (size_t i = 0; i + 1 < n; i++) {
		uint8_t a[KEY_MAX], b[KEY_MAX];
		size_t alen = key_ino_name(a, 'D', keys[i].ino, keys[i].name,
					   strlen(keys[i].name));
		size_t blen = key_ino_name(b, 'D', keys[i + 1].ino, keys[i + 1].name,
					   strlen(keys[i + 1].name));

		ck_assert_msg(cmp_keys(a, alen, b, blen) < 0,
			      "(%llu, \"%s\") does not sort before (%llu, \"%s\")",
			      (unsigned long long)keys[i].ino, keys[i].name,
			      (unsigned long long)keys[i + 1].ino, keys[i + 1].name);
	}
}
END_TEST

static Suite *keys_suite(void)
{
	Suite *s = suite_create("keys");
	TCase *tc = tcase_create("encodings");

	tcase_add_test(tc, u64_round_trips_and_is_8_bytes);
	tcase_add_test(tc, u32_round_trips_and_is_4_bytes);
	tcase_add_test(tc, u64_is_most_significant_byte_first);
	tcase_add_test(tc, u64_memcmp_order_is_numeric_order);
	tcase_add_test(tc, u32_memcmp_order_is_numeric_order);
	tcase_add_test(tc, key_ino_is_kind_then_ino);
	tcase_add_test(tc, key_ino_off_is_kind_ino_off);
	tcase_add_test(tc, key_ino_off_orders_by_ino_then_offset);
	tcase_add_test(tc, key_ino_name_is_kind_ino_name);
	tcase_add_test(tc, key_ino_name_fits_longest_name_in_key_max);
	tcase_add_test(tc, key_ino_name_orders_by_ino_then_name_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(keys_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
