/* test_objcache.c — unit tests of the local object cache and write buffer
 * (tier/objcache.h), in a temporary directory, with a "store" that is
 * another directory: uploads write files there, and can be made to fail.
 */
#include "tier/objcache.h"
#include "tier/log.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[256], cdir[300], sdir[300];
static atomic_int fail_uploads;

static int store_upload(void *ctx, const char *name, const void *buf, size_t len)
{
	char path[600];
	FILE *f;

	(void)ctx;
	if (atomic_load(&fail_uploads))
		return -ETIMEDOUT;
	snprintf(path, sizeof(path), "%s/%s", sdir, name);
	f = fopen(path, "wb");
	if (!f)
		return -errno;
	fwrite(buf, 1, len, f);
	return fclose(f) ? -EIO : 0;
}

/* Names are "oN.LEN": an object left in up/ is whole when its size is LEN. */
static int store_adopt(void *ctx, const char *name, uint64_t len)
{
	const char *dot = strrchr(name, '.');

	(void)ctx;
	return dot && strtoull(dot + 1, NULL, 10) == len ? 0 : 1;
}

static const struct objcache_ops ops = { .upload = store_upload, .adopt = store_adopt };

static void setup(void)
{
	snprintf(base, sizeof(base), "/tmp/aifs-objcache-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(cdir, sizeof(cdir), "%s/cache", base);
	snprintf(sdir, sizeof(sdir), "%s/store", base);
	ck_assert_int_eq(mkdir(sdir, 0700), 0);
	atomic_store(&fail_uploads, 0);
}

static void teardown(void)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	ck_assert_int_eq(system(cmd), 0);
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static char *name_of(char *buf, size_t size, int i, size_t len)
{
	snprintf(buf, size, "o%d.%zu", i, len);
	return buf;
}

static long file_size(const char *dir, const char *name)
{
	char path[600];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

START_TEST(objcache_dirty_object_is_read_then_uploaded_and_kept_clean)
{
	struct objcache *c;
	struct objcache_stats st;
	uint8_t in[10000], out[10000];
	char name[64], up[400], rd[400];

	ck_assert_int_eq(objcache_open(cdir, 1 << 20, 5, false, &ops, NULL, &c), 0);
	fill(in, sizeof(in), 1);
	name_of(name, sizeof(name), 1, sizeof(in));
	ck_assert_int_eq(objcache_put_dirty(c, name, in, sizeof(in)), 0);
	ck_assert_int_eq(objcache_sync(c), 0);
	ck_assert_int_eq(objcache_get(c, name, 100, 5000, out), 1);
	ck_assert_mem_eq(out, in + 100, 5000);
	ck_assert_int_eq(objcache_flush(c), 0);
	ck_assert_int_eq(file_size(sdir, name), (long)sizeof(in));
	snprintf(up, sizeof(up), "%s/up", cdir);
	snprintf(rd, sizeof(rd), "%s/rd", cdir);
	ck_assert_int_eq(file_size(up, name), -1);
	ck_assert_int_eq(file_size(rd, name), (long)sizeof(in));
	objcache_stats(c, &st);
	ck_assert_uint_eq(st.uploads, 1);
	ck_assert_uint_eq(st.dirty, 0);
	ck_assert_uint_eq(st.bytes, sizeof(in));
	ck_assert_int_eq(objcache_get(c, name, 0, sizeof(in), out), 1);
	ck_assert_mem_eq(out, in, sizeof(in));
	objcache_close(c);
}
END_TEST

START_TEST(objcache_stays_within_its_limit_evicting_least_recently_used)
{
	struct objcache *c;
	struct objcache_stats st;
	uint8_t b[8192], out[16];
	char name[64];

	ck_assert_int_eq(objcache_open(cdir, 5 * sizeof(b), 5, false, &ops, NULL, &c), 0);
	for (int i = 0; i < 5; i++) {
		fill(b, sizeof(b), (unsigned)i);
		objcache_put_clean(c, name_of(name, sizeof(name), i, sizeof(b)), b, sizeof(b));
	}
	/* o0 used last: o1 goes first */
	ck_assert_int_eq(objcache_get(c, name_of(name, sizeof(name), 0, sizeof(b)), 0, 16, out), 1);
	for (int i = 5; i < 8; i++) {
		fill(b, sizeof(b), (unsigned)i);
		objcache_put_clean(c, name_of(name, sizeof(name), i, sizeof(b)), b, sizeof(b));
		objcache_stats(c, &st);
		ck_assert_uint_le(st.bytes, 5 * sizeof(b));
	}
	ck_assert_int_eq(objcache_get(c, name_of(name, sizeof(name), 0, sizeof(b)), 0, 16, out), 1);
	for (int i = 1; i <= 3; i++)
		ck_assert_int_eq(objcache_get(c, name_of(name, sizeof(name), i, sizeof(b)), 0, 16,
					      out), 0);
	objcache_stats(c, &st);
	ck_assert_uint_eq(st.evictions, 3);
	/* larger than half the cache: not kept */
	ck_assert(!objcache_wants(c, "big.30000", 30000));
	objcache_close(c);
}
END_TEST

START_TEST(objcache_failed_upload_keeps_the_object_for_the_next_open)
{
	struct objcache *c;
	uint8_t in[5000], out[5000];
	char name[64], up[400];
	int fd;

	atomic_store(&fail_uploads, 1);
	ck_assert_int_eq(objcache_open(cdir, 1 << 20, 1, false, &ops, NULL, &c), 0);
	fill(in, sizeof(in), 3);
	name_of(name, sizeof(name), 3, sizeof(in));
	ck_assert_int_eq(objcache_put_dirty(c, name, in, sizeof(in)), 0);
	ck_assert_int_eq(objcache_flush(c), -EIO);
	ck_assert_int_eq(objcache_get(c, name, 0, sizeof(in), out), 1);
	ck_assert_mem_eq(out, in, sizeof(in));
	objcache_close(c);
	ck_assert_int_eq(file_size(sdir, name), -1);
	/* and a torn object beside it, which is dropped */
	snprintf(up, sizeof(up), "%s/up/o4.9999", cdir);
	fd = open(up, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, in, 100), 100);
	close(fd);
	atomic_store(&fail_uploads, 0);
	ck_assert_int_eq(objcache_open(cdir, 1 << 20, 1, false, &ops, NULL, &c), 0);
	ck_assert_int_eq(objcache_flush(c), 0);
	ck_assert_int_eq(file_size(sdir, name), (long)sizeof(in));
	ck_assert_int_eq(file_size(sdir, "o4.9999"), -1);
	ck_assert_int_eq(access(up, F_OK), -1);
	objcache_close(c);
}
END_TEST

START_TEST(objcache_writer_waits_then_fails_when_the_buffer_stays_full)
{
	struct objcache *c;
	uint8_t b[4096];
	char name[64];

	atomic_store(&fail_uploads, 1);
	/* buffer: half of 16 KiB, two objects */
	ck_assert_int_eq(objcache_open(cdir, 4 * sizeof(b), 1, false, &ops, NULL, &c), 0);
	fill(b, sizeof(b), 5);
	ck_assert_int_eq(objcache_put_dirty(c, name_of(name, sizeof(name), 5, sizeof(b)), b,
					    sizeof(b)), 0);
	ck_assert_int_eq(objcache_put_dirty(c, name_of(name, sizeof(name), 6, sizeof(b)), b,
					    sizeof(b)), 0);
	ck_assert_int_eq(objcache_put_dirty(c, name_of(name, sizeof(name), 7, sizeof(b)), b,
					    sizeof(b)), -ETIMEDOUT);
	ck_assert_int_eq(objcache_put_dirty(c, "huge.20000", b, 20000), -EFBIG);
	atomic_store(&fail_uploads, 0);
	while (objcache_flush(c) != 0)	/* until the retries succeed */
		;
	ck_assert_int_eq(objcache_put_dirty(c, name_of(name, sizeof(name), 7, sizeof(b)), b,
					    sizeof(b)), 0);
	ck_assert_int_eq(objcache_flush(c), 0);
	objcache_close(c);
}
END_TEST

START_TEST(objcache_damaged_clean_copy_is_dropped_dirty_one_is_eio)
{
	struct objcache *c;
	uint8_t b[4096], out[16];
	char a[64], d[64];

	ck_assert_int_eq(objcache_open(cdir, 1 << 20, 1, false, &ops, NULL, &c), 0);
	fill(b, sizeof(b), 8);
	objcache_put_clean(c, name_of(a, sizeof(a), 8, sizeof(b)), b, sizeof(b));
	ck_assert_int_eq(objcache_corrupt(c, a), 0);
	ck_assert_int_eq(objcache_get(c, a, 0, 16, out), 0);
	atomic_store(&fail_uploads, 1);
	ck_assert_int_eq(objcache_put_dirty(c, name_of(d, sizeof(d), 9, sizeof(b)), b,
					    sizeof(b)), 0);
	ck_assert_int_eq(objcache_corrupt(c, d), -EIO);
	/* a dead object's upload is cancelled */
	objcache_drop(c, d);
	ck_assert_int_eq(objcache_get(c, d, 0, 16, out), 0);
	atomic_store(&fail_uploads, 0);
	ck_assert_int_eq(objcache_flush(c), 0);
	ck_assert_int_eq(file_size(sdir, d), -1);
	objcache_close(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("objcache");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	log_init("test_objcache", 1, LOG_ERR);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, objcache_dirty_object_is_read_then_uploaded_and_kept_clean);
	tcase_add_test(tc, objcache_stays_within_its_limit_evicting_least_recently_used);
	tcase_add_test(tc, objcache_failed_upload_keeps_the_object_for_the_next_open);
	tcase_add_test(tc, objcache_writer_waits_then_fails_when_the_buffer_stays_full);
	tcase_add_test(tc, objcache_damaged_clean_copy_is_dropped_dirty_one_is_eio);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
