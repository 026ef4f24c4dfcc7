/* test_vhash.c — unit tests of a session's SHA-256 (fs/vhash.h): the same
 * digest as one SHA-256 of the whole, in the writer's thread and on the
 * hash's own thread, across resets, with the fail points that take the
 * thread or a queued write's memory away, and two sessions at once. */
#include "fs/vhash.h"
#include "tier/failpoint.h"
#include "tier/log.h"

#include <check.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIG	(40u << 20)

static unsigned char *data;

static void make_data(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	data = malloc(BIG);
	ck_assert_ptr_nonnull(data);
	for (size_t i = 0; i < BIG; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		data[i] = (unsigned char)x;
	}
}

static void free_data(void)
{
	free(data);
}

/* The threads of this process (/proc/self/status). */
static int threads(void)
{
	char line[128];
	int n = -1;
	FILE *f = fopen("/proc/self/status", "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* Give H the SIZE bytes from data + OFF in pieces of 1 byte to 1.5 MiB. */
static void feed(struct vhash *h, size_t off, size_t size, unsigned seed)
{
	size_t done = 0;

	while (done < size) {
		size_t piece = (size_t)rand_r(&seed) % (3u << 19) + 1;

		if (piece > size - done)
			piece = size - done;
		ck_assert_int_eq(vhash_update(h, data + off + done, piece), 0);
		done += piece;
	}
}

static void check_digest(struct vhash *h, size_t off, size_t size)
{
	uint8_t got[32], want[32];

	ck_assert_int_eq(EVP_Digest(data + off, size, want, NULL, EVP_sha256(), NULL), 1);
	ck_assert_int_eq(vhash_final(h, got), 0);
	ck_assert_msg(memcmp(got, want, 32) == 0, "SHA-256 of %zu bytes at %zu differs", size, off);
}

START_TEST(vhash_small_stays_in_the_writer_and_big_gets_a_thread)
{
	struct vhash *h = vhash_new();
	int before = threads();

	ck_assert_ptr_nonnull(h);
	feed(h, 0, VHASH_ASYNC_FROM - 1, 1);
	ck_assert_int_eq(threads(), before);
	feed(h, VHASH_ASYNC_FROM - 1, BIG - (VHASH_ASYNC_FROM - 1), 2);
	ck_assert_int_eq(threads(), before + 1);
	check_digest(h, 0, BIG);
	vhash_free(h);
	ck_assert_int_eq(threads(), before);
}
END_TEST

START_TEST(vhash_reset_starts_again_from_nothing)
{
	struct vhash *h = vhash_new();

	ck_assert_ptr_nonnull(h);
	feed(h, 0, 12u << 20, 3);	/* past the thread's start */
	ck_assert_int_eq(vhash_reset(h), 0);
	feed(h, 5, BIG - 5, 4);
	check_digest(h, 5, BIG - 5);
	ck_assert_int_eq(vhash_reset(h), 0);	/* a spent hash is reset too */
	feed(h, 0, 1000, 5);
	check_digest(h, 0, 1000);
	vhash_free(h);
}
END_TEST

#ifdef AIFS_FAILPOINTS
/* One hash of all of data, fed in pieces as SEED says, is right. */
static void whole(unsigned seed)
{
	struct vhash *h = vhash_new();

	ck_assert_ptr_nonnull(h);
	feed(h, 0, BIG, seed);
	check_digest(h, 0, BIG);
	vhash_free(h);
}

START_TEST(vhash_without_its_thread_or_memory_hashes_in_the_writer)
{
	struct vhash *h;
	int before = threads();

	ck_assert_int_eq(failpoint_arm("vhash_thread:1"), 0);
	h = vhash_new();
	ck_assert_ptr_nonnull(h);
	feed(h, 0, BIG, 6);
	ck_assert_int_eq(threads(), before);	/* never tried again */
	check_digest(h, 0, BIG);
	vhash_free(h);

	/* queued writes without memory: hashed in between, in order */
	ck_assert_int_eq(failpoint_arm("vhash_queue:2,vhash_queue:4,vhash_queue:5"), 0);
	whole(7);
	ck_assert_int_eq(failpoint_arm("vhash_queue:1+"), 0);
	whole(8);
	ck_assert_int_eq(failpoint_arm(""), 0);
}
END_TEST
#endif

START_TEST(vhash_two_sessions_at_once_and_one_given_up)
{
	struct vhash *a = vhash_new(), *b = vhash_new(), *c = vhash_new();
	size_t half = BIG / 2;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_nonnull(c);
	for (size_t off = 0; off < half; off += 1u << 20) {
		feed(a, off, 1u << 20, 9);
		feed(b, half + off, 1u << 20, 10);
		feed(c, off, 1u << 20, 11);
	}
	vhash_free(c);		/* given up with writes queued: nothing leaks */
	check_digest(a, 0, half);
	check_digest(b, half, half);
	vhash_free(a);
	vhash_free(b);
	vhash_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vhash");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	log_init("test_vhash", 1, LOG_ERR);
	tcase_add_unchecked_fixture(tc, make_data, free_data);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, vhash_small_stays_in_the_writer_and_big_gets_a_thread);
	tcase_add_test(tc, vhash_reset_starts_again_from_nothing);
#ifdef AIFS_FAILPOINTS
	tcase_add_test(tc, vhash_without_its_thread_or_memory_hashes_in_the_writer);
#endif
	tcase_add_test(tc, vhash_two_sessions_at_once_and_one_given_up);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
