/* test_core.c — the core of the daemon (inode table, content, extent maps,
 * space, commit, paths, the feature hooks) linked without libfuse, on a
 * store made by store_mkfs in a temporary directory (a real RocksDB, the
 * local tier): the commit of written data, the purge of an unlinked inode,
 * a failed commit, and the calls of the hooks features register; and the
 * string builder's JSON (sb.h), which needs no store.
 *
 * Every test gets a fresh store under one mkdtemp directory, which main
 * removes at the end.
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/fs.h"
#include "fs/data.h"
#include "fs/extmap.h"
#include "fs/hooks.h"
#include "fs/inode.h"
#include "fs/path.h"
#include "fs/prealloc.h"
#include "fs/sb.h"
#include "fs/space.h"
#include "meta/store.h"
#include "test/unit/corefix.h"
#include "tier/failpoint.h"

static struct fs *fs;

/* What the test feature's hooks saw. */
static struct {
	unsigned before_purge, purge, purge_now, free, store_begin, store_end, durable;
	int store_rc;
	void *freed_slot;		/* what the free hook was given */
	uint64_t keep_ino;	/* keeps_records is true for this inode */
	int durable_rc;
} seen;

static bool t_keeps_records(const struct inode *in)
{
	return in->ino == seen.keep_ino;
}

static void t_before_purge(struct fs *f, struct inode *in)
{
	(void)f, (void)in;
	seen.before_purge++;
}

static void t_purge(struct fs *f, struct inode *in, struct meta_batch *b)
{
	(void)f, (void)in, (void)b;
	seen.purge++;
}

static void t_purge_now(struct fs *f, struct inode *in, struct meta_batch *b)
{
	(void)f, (void)in, (void)b;
	seen.purge_now++;
}

static void t_free(struct inode *in, void *slot)
{
	(void)in;
	seen.free++;
	seen.freed_slot = slot;
	free(slot);
}

static bool t_store_begin(struct fs *f, struct inode *in, struct meta_batch *b)
{
	(void)f, (void)in, (void)b;
	seen.store_begin++;
	return true;
}

static void t_store_end(struct fs *f, struct inode *in, int rc)
{
	(void)f, (void)in;
	seen.store_end++;
	seen.store_rc = rc;
}

static int t_durable(struct fs *f)
{
	(void)f;
	seen.durable++;
	return seen.durable_rc;
}

static const struct fs_feature_ops test_feature = {
	.name = "test",
	.keeps_records = t_keeps_records,
	.before_purge = t_before_purge,
	.purge = t_purge,
	.purge_now = t_purge_now,
	.free = t_free,
	.store_begin = t_store_begin,
	.store_end = t_store_end,
	.durable = t_durable,
};

static void setup(void)
{
	memset(&seen, 0, sizeof(seen));
	fs = corefix_open(&test_feature);
}

static void teardown(void)
{
	corefix_close(fs);
	fs = NULL;
}

/* A new regular file NAME in the root, committed; referenced. */
static struct inode *file_new(const char *name, uint32_t nlink)
{
	struct meta_inode a = { .ino = fs_ino_alloc(fs), .mode = S_IFREG | 0644,
				.nlink = nlink, .ctime = fs_now(), .mtime = fs_now() };
	struct meta_batch *b = meta_batch_new();
	struct inode *in = inode_new(fs, &a);

	ck_assert_ptr_nonnull(in);
	in->parent = META_ROOT_INO;
	inode_save(b, in);
	if (nlink)
		meta_dentry_put(b, META_ROOT_INO, name, strlen(name), in->ino, S_IFREG);
	else
		meta_orphan_put(b, in->ino);
	ck_assert_int_eq(fs_commit(fs, b, false), 0);
	meta_batch_free(b);
	return in;
}

static void pattern(char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(i * 31 + seed);
}

/* IN's content is LEN bytes of pattern SEED. */
static void check_content(struct inode *in, size_t len, unsigned seed)
{
	char *want = malloc(len), *got = malloc(len);
	size_t n = 0;

	pattern(want, len, seed);
	pthread_rwlock_wrlock(&in->lock);
	ck_assert_int_eq(fs_map_load(fs, in), 0);
	ck_assert_int_eq(fs_read(fs, in, got, len, 0, &n), 0);
	pthread_rwlock_unlock(&in->lock);
	ck_assert_uint_eq(n, len);
	ck_assert_msg(!memcmp(want, got, len), "content read back differs from what was written");
	free(want);
	free(got);
}

START_TEST(commit_of_written_data_survives_eviction)
{
	struct inode *in = file_new("a", 1);
	uint64_t ino = in->ino;
	struct meta_inode a;

	ck_assert_int_eq(corefix_write(fs, in, 200000, 7), 0);
	ck_assert_int_eq(fs_sync(fs, in), 0);
	ck_assert_uint_eq(seen.store_begin, 1);
	ck_assert_uint_eq(seen.store_end, 1);
	ck_assert_int_eq(seen.store_rc, 0);
	ck_assert_uint_ge(seen.durable, 1);
	inode_put(fs, in);		/* evicted: not looked up, not open */
	ck_assert_ptr_null(inode_peek(fs, ino));
	ck_assert_uint_eq(seen.free, 1);
	ck_assert_uint_eq(seen.purge, 0);
	ck_assert_int_eq(meta_inode_get(fs->meta, ino, &a), 0);
	ck_assert_uint_eq(a.size, 200000);
	ck_assert_uint_eq(a.alloc, 200000);
	ck_assert_int_eq(inode_get(fs, ino, &in), 0);
	check_content(in, 200000, 7);
	inode_put(fs, in);
}
END_TEST

START_TEST(failed_commit_keeps_buffer_and_counts)
{
	struct inode *in = file_new("b", 1);
	char buf[100000];
	int rc;

	pattern(buf, sizeof(buf), 3);
	pthread_rwlock_wrlock(&in->lock);
	ck_assert_int_eq(fs_write(fs, in, buf, sizeof(buf), 0, NULL), 0);
	ck_assert_int_eq(failpoint_arm("meta_commit:1=EIO"), 0);
	rc = fs_flush(fs, in);
	ck_assert_int_eq(rc, -EIO);
	ck_assert_int_eq(seen.store_rc, -EIO);	/* the store hook saw the failure */
	ck_assert_uint_eq(in->attr.alloc, 0);	/* nothing counted as stored */
	ck_assert(in->wb_dirty);		/* the bytes wait for the next try */
	ck_assert_int_eq(fs_flush(fs, in), 0);
	ck_assert_int_eq(seen.store_rc, 0);
	ck_assert_uint_eq(in->attr.alloc, sizeof(buf));
	pthread_rwlock_unlock(&in->lock);
	check_content(in, sizeof(buf), 3);
	inode_put(fs, in);
}
END_TEST

/* A count that went to zero too early (a bug: the order of an uncount and
 * the count of a commit) and came back before the reclaim: the bytes stay. */
START_TEST(extent_counted_again_before_reclaim_keeps_its_bytes)
{
	struct inode *in = file_new("k", 1);
	struct tier_ref r;

	ck_assert_int_eq(corefix_write(fs, in, 200000, 9), 0);
	ck_assert_int_eq(fs_sync(fs, in), 0);
	r = corefix_first_ref(fs, in->ino);
	corefix_refs_are(fs, r, 1);
	space_unref(fs, &r, 0, 0, false);	/* its last reference: queued */
	ck_assert_uint_eq(space_refs(fs, &r), 0);
	space_ref(fs, &r);			/* and counted again */
	space_reclaim_now(fs);
	corefix_refs_are(fs, r, 1);
	check_content(in, 200000, 9);
	inode_put(fs, in);
}
END_TEST

START_TEST(purge_of_unlinked_inode_deletes_records_and_runs_hooks)
{
	struct inode *in = file_new("c", 0);
	uint64_t ino = in->ino;
	struct meta_inode a;

	ck_assert_int_eq(corefix_write(fs, in, 150000, 1), 0);
	inode_put(fs, in);		/* the last reference of an orphan: purged */
	ck_assert_uint_eq(seen.before_purge, 1);
	ck_assert_uint_eq(seen.purge, 1);
	ck_assert_uint_eq(seen.free, 1);
	ck_assert_int_eq(meta_inode_get(fs->meta, ino, &a), -ENOENT);
	ck_assert_int_eq(inode_get(fs, ino, &in), -ENOENT);
}
END_TEST

START_TEST(feature_slot_is_its_own_and_freed_with_the_inode)
{
	struct inode *in = file_new("s", 1);
	uint64_t ino = in->ino;
	void **slot = fs_slot(fs, in, "test"), *state = malloc(16);

	ck_assert_ptr_nonnull(slot);
	ck_assert_ptr_null(*slot);		/* nothing until the feature puts it */
	ck_assert_ptr_null(fs_slot(fs, in, "no such feature"));
	*slot = state;
	ck_assert_ptr_eq(*fs_slot(fs, in, "test"), state);
	inode_put(fs, in);			/* evicted: its state goes to the free hook */
	ck_assert_ptr_null(inode_peek(fs, ino));
	ck_assert_uint_eq(seen.free, 1);
	ck_assert_ptr_eq(seen.freed_slot, state);
}
END_TEST

START_TEST(purge_at_unlink_unless_a_feature_keeps_records)
{
	struct inode *kept = file_new("d", 1), *gone = file_new("e", 1);
	struct meta_batch *b = meta_batch_new();
	struct meta_inode a;

	seen.keep_ino = kept->ino;
	pthread_rwlock_wrlock(&kept->lock);
	ck_assert(!inode_purge_at_unlink(fs, kept, b));
	pthread_rwlock_unlock(&kept->lock);
	pthread_rwlock_wrlock(&gone->lock);
	ck_assert(inode_purge_at_unlink(fs, gone, b));
	pthread_rwlock_unlock(&gone->lock);
	ck_assert_uint_eq(seen.purge_now, 1);
	meta_dentry_del(b, META_ROOT_INO, "e", 1);
	ck_assert_int_eq(fs_commit(fs, b, false), 0);
	meta_batch_free(b);
	ck_assert_int_eq(meta_inode_get(fs->meta, gone->ino, &a), -ENOENT);
	ck_assert_int_eq(meta_inode_get(fs->meta, kept->ino, &a), 0);
	inode_put(fs, gone);
	inode_put(fs, kept);
	ck_assert_uint_eq(seen.purge, 0);	/* the records went with the unlink */
}
END_TEST

START_TEST(durable_hook_failure_is_what_fsync_returns)
{
	struct inode *in = file_new("f", 1);

	ck_assert_int_eq(corefix_write(fs, in, 5000, 2), 0);
	seen.durable_rc = -EIO;
	pthread_rwlock_wrlock(&in->lock);
	ck_assert_int_eq(fs_sync(fs, in), -EIO);
	pthread_rwlock_unlock(&in->lock);
	seen.durable_rc = 0;
	inode_put(fs, in);
}
END_TEST

START_TEST(dir_path_follows_parents)
{
	struct meta_inode a = { .ino = fs_ino_alloc(fs), .mode = S_IFDIR | 0755, .nlink = 2 };
	struct meta_batch *b = meta_batch_new();
	struct inode *d = inode_new(fs, &a);
	char path[64], name[META_NAME_MAX + 1];

	d->parent = META_ROOT_INO;
	inode_save(b, d);
	meta_dentry_put(b, META_ROOT_INO, "data", 4, d->ino, S_IFDIR);
	ck_assert_int_eq(fs_commit(fs, b, false), 0);
	meta_batch_free(b);
	ck_assert_int_eq(fs_name_in(fs, META_ROOT_INO, d->ino, name), 0);
	ck_assert_str_eq(name, "data");
	ck_assert_int_eq(fs_dir_path(fs, d->ino, path, sizeof(path)), 0);
	ck_assert_str_eq(path, "data");
	ck_assert_int_eq(fs_dir_path(fs, META_ROOT_INO, path, sizeof(path)), 0);
	ck_assert_str_eq(path, "");
	inode_put(fs, d);
}
END_TEST

START_TEST(sb_writes_json_strings_and_numbers)
{
	static const uint8_t sha[3] = { 0x00, 0xab, 0xff };
	const char *odd = "w\xc3\xa9\"\\\x01\x7fz";
	struct sb s = { 0 };
	char *t;

	sb_str(&s, odd);
	sb_add(&s, " ");
	sb_esc(&s, odd, true);		/* every byte back whole, in ASCII */
	sb_add(&s, " ");
	sb_esc(&s, "plain name.pt", true);
	sb_add(&s, " ");
	sb_u64(&s, UINT64_MAX);
	sb_add(&s, " ");
	sb_i64(&s, INT64_MIN);
	sb_add(&s, " ");
	sb_i64(&s, 0);
	sb_add(&s, " ");
	sb_hex(&s, sha, sizeof(sha));
	t = sb_take(&s);
	ck_assert_str_eq(t, "\"w\xc3\xa9\\\"\\\\\\u0001\\u007fz\" "
			 "w\\u00c3\\u00a9\\\"\\\\\\u0001\\u007fz "
			 "plain name.pt 18446744073709551615 -9223372036854775808 0 00abff");
	ck_assert_ptr_null(s.p);		/* taken: empty again */
	free(t);
	t = sb_take(&s);
	ck_assert_str_eq(t, "");
	free(t);
}
END_TEST

static Suite *core_suite(void)
{
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, commit_of_written_data_survives_eviction);
	tcase_add_test(tc, failed_commit_keeps_buffer_and_counts);
	tcase_add_test(tc, extent_counted_again_before_reclaim_keeps_its_bytes);
	tcase_add_test(tc, purge_of_unlinked_inode_deletes_records_and_runs_hooks);
	tcase_add_test(tc, purge_at_unlink_unless_a_feature_keeps_records);
	tcase_add_test(tc, feature_slot_is_its_own_and_freed_with_the_inode);
	tcase_add_test(tc, durable_hook_failure_is_what_fsync_returns);
	tcase_add_test(tc, dir_path_follows_parents);
	suite_add_tcase(s, tc);
	tc = tcase_create("sb");
	tcase_add_test(tc, sb_writes_json_strings_and_numbers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return corefix_main(core_suite());
}
