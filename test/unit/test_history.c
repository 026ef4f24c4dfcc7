/* test_history.c — epoch snapshots of meta/history.c on a real RocksDB:
 * the history a commit keeps, the views of meta.c's readers at an epoch
 * (histview.c), the space log's counts of kept extents, the fail point
 * history_keep, the read-only snapshot inodes, and reopening.  Dropping
 * epochs is test_history_drop.c's; the fixture is history_fixture.h.
 */
#include "test/unit/history_fixture.h"

/* History records of KIND's records of INO. */
static size_t count_hist_of(uint8_t kind, uint64_t ino)
{
	uint8_t p[10] = { META_REC_HISTORY, kind };

	key_put_u64(p + 2, ino);
	return count(p, sizeof(p));
}

static void assert_old_view(uint64_t e)
{
	char want[512];
	unsigned long long s3 = S(e, 3), s4 = S(e, 4), s5 = S(e, 5), s6 = S(e, 6), s7 = S(e, 7),
			   s8 = S(e, 8), s9 = S(e, 9);
	struct meta_inode in;

	assert_size(S(e, 3), 12288);
	assert_size(S(e, D), 2);
	ck_assert_int_eq(meta_inode_get(m, S(e, D), &in), 0);
	ck_assert(in.flags & META_IF_SNAPROOT);
	ck_assert_int_eq(meta_inode_get(m, S(e, 3), &in), 0);
	ck_assert(!(in.flags & META_IF_SNAPROOT));
	assert_dentry(S(e, D), "a", 0, s3);
	assert_dentry(S(e, D), "b", 0, s4);
	assert_dentry(S(e, D), "c", 0, s5);
	assert_dentry(S(e, D), "d", -ENOENT, 0);
	assert_dentry(S(e, D), "aa", -ENOENT, 0);
	assert_dentry(S(e, 9), "x", 0, s3);
	assert_dentry(S(e, 8), "y", -ENOENT, 0);
	snprintf(want, sizeof(want), "a=%#llx b=%#llx c=%#llx e=%#llx f=%#llx l=%#llx n=%#llx ",
		 s3, s4, s5, s8, s9, s6, s7);
	assert_listing(S(e, D), NULL, want);
	snprintf(want, sizeof(want), "b=%#llx c=%#llx e=%#llx f=%#llx l=%#llx n=%#llx ",
		 s4, s5, s8, s9, s6, s7);
	assert_listing(S(e, D), "a", want);		/* not "aa", made since */
	snprintf(want, sizeof(want), "c=%#llx e=%#llx f=%#llx l=%#llx n=%#llx ",
		 s5, s8, s9, s6, s7);
	assert_listing(S(e, D), "b", want);		/* deleted since */
	assert_listing(S(e, D), "bb", want);		/* absent */
	snprintf(want, sizeof(want), "e=%#llx f=%#llx l=%#llx n=%#llx ", s8, s9, s6, s7);
	assert_listing(S(e, D), "c", want);		/* re-pointed since */
	assert_listing(S(e, D), "d", want);		/* made since */
	assert_listing(S(e, D), "n", "");
	assert_listing(S(e, D), "zz", "");
	snprintf(want, sizeof(want), "x=%#llx ", s3);
	assert_listing(S(e, 9), NULL, want);
	assert_listing(S(e, 8), NULL, "");
	ck_assert_int_eq(meta_dir_empty(m, S(e, 8)), 1);	/* filled since */
	ck_assert_int_eq(meta_dir_empty(m, S(e, 9)), 0);	/* emptied since */
	ck_assert_int_eq(meta_dir_empty(m, S(e, D)), 0);
	assert_extents(S(e, 3), OLD_EXTENTS);
	assert_xattrs(S(e, 3), "user.a=1 user.b=2 user.c=3 ");
	assert_xattr(S(e, 3), "user.a", "1");
	assert_xattr(S(e, 3), "user.b", "2");
	assert_xattr(S(e, 3), "user.d", NULL);
	assert_symlink(S(e, 6), "target-old");
	assert_inline(S(e, 7), "inline-old");
	assert_hash(S(e, 3), "hash-old");
	assert_hash(S(e, 4), NULL);
	/* made after the epoch: not in it */
	ck_assert_int_eq(meta_inode_get(m, S(e, 10), &in), -ENOENT);
}

/* --- one epoch, every kind ---------------------------------------------------- */

/* The keys kept: I2 I3, D2/aa D2/b D2/c D2/d D8/y D9/x, E3@0 E3@4096 E3@6144
 * E3@8192, X3/user.a X3/user.b X3/user.d, L6, N7, H3. */
#define KEPT_KEYS 18

START_TEST(one_epoch_views_every_kind_as_it_was)
{
	struct refs kept;
	uint64_t e;

	ck_assert(!meta_history_covers(m, 3));
	e = make_epoch(D, HWM);
	ck_assert(meta_history_covers(m, HWM));
	ck_assert(!meta_history_covers(m, HWM + 1));
	assert_old_view(e);
	change_all(&kept);
	assert_old_view(e);
	assert_new_live();
	assert_history(KEPT_KEYS);
	ck_assert_uint_eq(count_hist_of(META_REC_INODE, 10), 0);
	ck_assert_uint_eq(count_hist_of(META_REC_EXTENT, 10), 0);
	ck_assert_uint_eq(count_hist_of(META_REC_XATTR, 10), 0);
	ck_assert_uint_eq(count_hist_of(META_REC_DENTRY, D), 4);
	ck_assert_uint_eq(count_hist_of(META_REC_EXTENT, 3), 4);
	ck_assert_uint_eq(count_hist_of(META_REC_CONTENT_HASH, 3), 1);
	/* 3: the stored extents the kept records referenced */
	assert_refs(kept.v, kept.n, (const uint32_t[]){ 1, 2, 3 }, 3, "kept");
}
END_TEST

/* --- the fail point history_keep ------------------------------------------ */

START_TEST(failed_keep_leaves_nothing_and_a_retry_keeps_once)
{
	struct meta_batch *b;
	struct refs kept;
	const struct tier_ref *v;
	size_t deltas0 = space_deltas();

	ck_assert_int_eq(failpoint_arm("history_keep:1"), 0);
	b = meta_batch_new();
	put_inode(b, 3, 0100644, 777);
	ext_repoint(b, 1, 4);
	ext_del(b, 3, 8192, 3);
	meta_xattr_put(b, 3, "user.a", "x", 1);
	ck_assert_int_eq(meta_batch_commit(m, b, false), -ENOMEM);
	ck_assert_uint_eq(meta_batch_kept(b, &v), 0);
	assert_history(0);
	ck_assert_uint_eq(space_deltas(), deltas0);
	assert_size(3, 12288);
	assert_old_view(e1);

	/* the same batch again (the point fired once) */
	commit_kept(b, &kept);
	assert_refs(kept.v, kept.n, (const uint32_t[]){ 1, 3 }, 2, "kept by the retry");
	assert_history(4);
	/* the commit's own -1 +1 -1 and history's +1 for each of 1 and 3, once */
	ck_assert_uint_eq(space_deltas(), deltas0 + 5);
	ck_assert_int_eq(space_net(1), 1);	/* only history references it */
	ck_assert_int_eq(space_net(3), 1);
	ck_assert_int_eq(space_net(4), 1);
	ck_assert_int_eq(space_net(2), 1);
	assert_size(3, 777);
	assert_size(S(e1, 3), 12288);
	assert_extents(S(e1, 3), OLD_EXTENTS);
	assert_extents(3, "0+4096@4:0 4096+4096@2:0 ");
}
END_TEST

/* A failing keep with every hit (a commit that can never keep) changes
 * nothing, however many times it is tried. */
START_TEST(keep_failing_every_time_changes_nothing)
{
	struct meta_batch *b;
	size_t deltas0 = space_deltas();

	ck_assert_int_eq(failpoint_arm("history_keep:1+=EIO"), 0);
	b = meta_batch_new();
	ext_repoint(b, 1, 4);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(meta_batch_commit(m, b, false), -EIO);
	ck_assert_uint_eq(count_kind(META_REC_HISTORY), 0);
	ck_assert_uint_eq(space_deltas(), deltas0);
	ck_assert_int_eq(failpoint_arm(""), 0);
	ck_assert_int_eq(meta_batch_commit(m, b, false), 0);
	meta_batch_free(b);
	ck_assert_uint_eq(count_kind(META_REC_HISTORY), 1);
	ck_assert_uint_eq(space_deltas(), deltas0 + 3);
	ck_assert_int_eq(space_net(1), 1);
	assert_extents(S(e1, 3), OLD_EXTENTS);
}
END_TEST

/* A commit failed by the point, then an epoch made, then the retry: the
 * retry keeps only in the new epoch, nothing of the failed try stays. */
START_TEST(failed_keep_then_new_epoch_then_retry)
{
	struct meta_batch *b;
	struct refs kept;
	struct tier_ref *dr;
	uint64_t e2;

	ck_assert_int_eq(failpoint_arm("history_keep:1"), 0);
	b = meta_batch_new();
	ext_repoint(b, 1, 4);
	ck_assert_int_eq(meta_batch_commit(m, b, false), -ENOMEM);
	e2 = make_epoch(D, HWM);
	commit_kept(b, &kept);
	assert_refs(kept.v, kept.n, (const uint32_t[]){ 1 }, 1, "kept by the retry");
	assert_history(1);
	ck_assert_int_eq(space_net(1), 1);
	assert_extents(S(e1, 3), OLD_EXTENTS);
	assert_extents(S(e2, 3), OLD_EXTENTS);
	drop_epoch(e2, &dr);
	free(dr);
	assert_extents(S(e1, 3), OLD_EXTENTS);
	drop_expect(e1, (const uint32_t[]){ 1 }, 1, "dropped");
	assert_nothing_kept(1, 4);
}
END_TEST

/* meta_space_log_count counts every change logged, history's +1 too. */
START_TEST(space_log_count_counts_the_kept_extents)
{
	struct meta_batch *b = meta_batch_new();
	uint64_t c0 = meta_space_log_count(m);
	size_t d0 = space_deltas();

	ext_repoint(b, 1, 4);
	commit(b);
	ck_assert_uint_eq(space_deltas() - d0, 3);	/* -1 +1, and history's +1 */
	ck_assert_msg(meta_space_log_count(m) - c0 == space_deltas() - d0,
		      "meta_space_log_count grew by %llu, the log by %zu deltas",
		      (unsigned long long)(meta_space_log_count(m) - c0), space_deltas() - d0);
}
END_TEST

/* --- snapshot inodes are read-only ---------------------------------------- */

START_TEST(change_of_a_snapshot_inode_is_erofs)
{
	struct meta_batch *b;
	uint8_t k[8];

	for (int kind = 0; kind < 7; kind++) {
		b = meta_batch_new();
		put_inode(b, 4, 0100644, 4444);		/* a live change beside it */
		switch (kind) {
		case 0: put_inode(b, S(e1, 3), 0100644, 1); break;
		case 1: meta_dentry_put(b, S(e1, D), "z", 1, 3, DT_REG); break;
		case 2: ext_del(b, S(e1, 3), 0, 1); break;
		case 3: meta_xattr_put(b, S(e1, 3), "user.a", "y", 1); break;
		case 4: meta_symlink_put(b, S(e1, 6), "t", 1); break;
		case 5: meta_inline_del(b, S(e1, 7)); break;
		case 6:
			key_put_u64(k, S(e1, 3));
			meta_rec_put(b, META_REC_CONTENT_HASH, k, 8, "h", 1);
			break;
		}
		ck_assert_msg(meta_batch_commit(m, b, false) == -EROFS, "kind %d", kind);
		meta_batch_free(b);
	}
	assert_size(4, 4);
	ck_assert_uint_eq(count_kind(META_REC_HISTORY), 0);
	assert_old_view(e1);
}
END_TEST

/* --- reopening ----------------------------------------------------------- */

START_TEST(epochs_and_views_survive_reopen)
{
	struct meta_epoch ep;
	struct refs kept;
	uint64_t e2;

	change_all(&kept);
	reopen();
	ck_assert_int_eq(meta_epoch_get(m, e1, &ep), 0);
	ck_assert_uint_eq(ep.epoch, e1);
	ck_assert_uint_eq(ep.hwm, HWM);
	ck_assert_uint_eq(ep.ds, D);
	ck_assert(meta_history_covers(m, HWM));
	assert_old_view(e1);
	assert_new_live();
	/* the epoch counter went on: a new one is another epoch */
	e2 = make_epoch(D, 10);
	ck_assert_uint_gt(e2, e1);
	reopen();
	ck_assert_int_eq(meta_epoch_get(m, e2, &ep), 0);
	ck_assert_uint_eq(ep.hwm, 10);
	assert_old_view(e1);
	assert_size(S(e2, 10), 10);
	assert_size(S(e2, 3), 99999);
}
END_TEST

/* --- numbers that do not fit a snapshot inode -------------------------------- */

START_TEST(epoch_create_with_too_large_hwm_is_eoverflow)
{
	struct meta_batch *b = meta_batch_new();
	uint64_t e = 0;

	ck_assert_int_eq(meta_epoch_create(m, b, 2, META_SNAP_INO_MAX + 1, 0, &e), -EOVERFLOW);
	ck_assert_int_eq(meta_epoch_create(m, b, 2, UINT64_MAX, 0, &e), -EOVERFLOW);
	ck_assert_int_eq(meta_epoch_create(m, b, META_SNAP_INO_MAX, META_SNAP_INO_MAX, 0, &e), 0);
	commit(b);
	ck_assert(meta_history_covers(m, META_SNAP_INO_MAX));
	ck_assert_uint_eq(count_kind(META_REC_EPOCH), 1);
}
END_TEST

/* --- suite ------------------------------------------------------------------ */

/* Three test cases by what the store holds when a test starts: nothing,
 * populate's records, or those and the epoch e1 over them. */
/* Three test cases by what the store holds when a test starts: nothing,
 * populate's records, or those and the epoch e1 over them. */
static Suite *history_suite(void)
{
	Suite *s = suite_create("history");
	TCase *empty = tcase_create("empty");
	TCase *populated = tcase_create("populated");
	TCase *epoch = tcase_create("epoch");

	tcase_add_checked_fixture(empty, setup, teardown);
	tcase_add_checked_fixture(populated, setup_populated, teardown);
	tcase_add_checked_fixture(epoch, setup_epoch, teardown);
	tcase_add_test(populated, one_epoch_views_every_kind_as_it_was);
	tcase_add_test(epoch, failed_keep_leaves_nothing_and_a_retry_keeps_once);
	tcase_add_test(epoch, failed_keep_then_new_epoch_then_retry);
	tcase_add_test(epoch, space_log_count_counts_the_kept_extents);
	tcase_add_test(epoch, keep_failing_every_time_changes_nothing);
	tcase_add_test(epoch, change_of_a_snapshot_inode_is_erofs);
	tcase_add_test(epoch, epochs_and_views_survive_reopen);
	tcase_add_test(empty, epoch_create_with_too_large_hwm_is_eoverflow);
	suite_add_tcase(s, populated);
	suite_add_tcase(s, epoch);
	suite_add_tcase(s, empty);
	return s;
}

int main(void)
{
	return history_fixture_main(history_suite());
}
