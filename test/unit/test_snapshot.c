/* test_snapshot.c — dataset snapshots (snapshot.c) against the core,
 * linked without libfuse on a fresh store (a real RocksDB, the local
 * tier), both kinds: epochs (what snapshots are) and copies (what a store
 * whose numbers do not fit makes; fail point snapshot_epoch forces them).
 * A snapshot freezes a tree sharing its data, its deletion brings the
 * records and the extents' reference counts back to what they were, what
 * is refused, and a failed commit of either (or of a change the epoch
 * keeps), after which the counts are still those of the records in the
 * store.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/fs.h"
#include "fs/data.h"
#include "fs/extmap.h"
#include "fs/inode.h"
#include "fs/snapshot.h"
#include "fs/space.h"
#include "test/unit/corefix.h"
#include "tier/failpoint.h"

static struct fs *fs;
static struct inode *ds, *sub;
static const char *mode = "";	/* fail points armed for the whole test */

/* Arm SPEC besides the mode's own fail points. */
static void arm(const char *spec)
{
	char all[256];

	snprintf(all, sizeof(all), "%s%s%s", mode, *mode && *spec ? "," : "", spec);
	ck_assert_int_eq(failpoint_arm(all), 0);
}
static uint64_t ia, ib;		/* ds/a, ds/sub/b: not in memory, as most files */

#define ALEN	100000
#define BLEN	30000

static void setup(void)
{
	struct meta_batch *b = meta_batch_new();
	struct inode *d;

	fs = corefix_open(NULL);
	d = corefix_mknod(fs, META_ROOT_INO, "ds", S_IFDIR | 0755);
	pthread_rwlock_wrlock(&d->lock);
	d->attr.policy = META_AREA_DATASET;
	inode_save(b, d);
	pthread_rwlock_unlock(&d->lock);
	ck_assert_int_eq(fs_commit(fs, b, false), 0);
	meta_batch_free(b);
	ds = d;
	sub = corefix_mknod(fs, ds->ino, "sub", S_IFDIR | 0755);
	d = corefix_mknod(fs, ds->ino, "a", S_IFREG | 0644);
	ck_assert_int_eq(d->attr.policy, META_AREA_DATASET);
	ck_assert_int_eq(corefix_write(fs, d, ALEN, 1), 0);
	ia = d->ino;
	inode_put(fs, d);
	d = corefix_mknod(fs, sub->ino, "b", S_IFREG | 0644);
	ck_assert_int_eq(corefix_write(fs, d, BLEN, 2), 0);
	ib = d->ino;
	inode_put(fs, d);
	ck_assert_ptr_null(inode_peek(fs, ia));
}

#ifdef AIFS_FAILPOINTS
static void setup_copy(void)
{
	mode = "snapshot_epoch:1+";
	arm("");
	setup();
}
#endif

static void teardown(void)
{
	inode_put(fs, sub);
	inode_put(fs, ds);
	corefix_close(fs);
	fs = NULL;
	if (*mode) {
		mode = "";
		ck_assert_int_eq(failpoint_arm(""), 0);
	}
}

/* IN's first LEN bytes are pattern SEED. */
static void content_is(uint64_t ino, size_t len, unsigned seed)
{
	char *got = malloc(len);
	struct inode *in;
	size_t n = 0;

	ck_assert_int_eq(inode_get(fs, ino, &in), 0);
	pthread_rwlock_wrlock(&in->lock);
	ck_assert_int_eq(fs_map_load(fs, in), 0);
	ck_assert_int_eq(fs_read(fs, in, got, len, 0, &n), 0);
	pthread_rwlock_unlock(&in->lock);
	inode_put(fs, in);
	ck_assert_uint_eq(n, len);
	for (size_t i = 0; i < len; i++)
		ck_assert_msg(got[i] == (char)(i * 31 + seed), "byte %zu differs", i);
	free(got);
}

START_TEST(snapshot_freezes_the_tree_sharing_its_data)
{
	struct tier_ref ra = corefix_first_ref(fs, ia), rb = corefix_first_ref(fs, ib);
	uint64_t root = 0, sroot, sa, ssub, sb;
	struct snapinfo si;
	struct meta_inode a;
	struct inode *fa;

	corefix_refs_are(fs, ra, 1);
	ck_assert_int_eq(snapshot_create(fs, ds->ino, "t1", 0, &root), 0);
	ck_assert_int_eq(snapshot_get(fs, ds->ino, "t1", &si), 0);
	sroot = si.root;
	ck_assert_uint_eq(sroot, root);
	ck_assert_uint_eq(si.files, 2);
	ck_assert_uint_eq(si.bytes, ALEN + BLEN);
	sa = corefix_lookup(fs, sroot, "a");
	ssub = corefix_lookup(fs, sroot, "sub");
	ck_assert_uint_ne(sa, 0);
	ck_assert_uint_ne(sa, ia);		/* a copy, not the live file */
	ck_assert_uint_ne(ssub, 0);
	sb = corefix_lookup(fs, ssub, "b");
	ck_assert_uint_ne(sb, 0);
	ck_assert_int_eq(meta_inode_get(fs->meta, sa, &a), 0);
	ck_assert(a.flags & META_IF_SNAPSHOT);
	ck_assert_uint_eq(a.size, ALEN);
	ck_assert_int_eq(meta_inode_get(fs->meta, sroot, &a), 0);
	ck_assert(a.flags & META_IF_SNAPROOT);
	corefix_refs_are(fs, ra, 2);			/* the data is shared */
	corefix_refs_are(fs, rb, 2);

	ck_assert_int_eq(inode_get(fs, ia, &fa), 0);
	ck_assert_int_eq(corefix_write(fs, fa, ALEN, 7), 0);	/* the live file changes */
	inode_put(fs, fa);
	content_is(ia, ALEN, 7);
	content_is(sa, ALEN, 1);		/* the frozen one does not */
	content_is(sb, BLEN, 2);
	corefix_refs_are(fs, ra, 1);
	ck_assert_int_eq(snapshot_create(fs, ds->ino, "t1", 0, &root), -EEXIST);
}
END_TEST

START_TEST(snapshot_delete_brings_records_and_counts_back)
{
	struct tier_ref ra = corefix_first_ref(fs, ia), rb = corefix_first_ref(fs, ib);
	struct corefix_census before = corefix_census(fs, ra);
	struct snapinfo si;
	struct meta_inode a;
	uint64_t root;

	ck_assert_int_eq(snapshot_create(fs, ds->ino, "t1", 0, &root), 0);
	ck_assert_uint_eq(corefix_census(fs, ra).inodes, before.inodes + 4);	/* root, sub, a, b */
	ck_assert_int_eq(snapshot_delete(fs, ds->ino, "t1", 0), 0);
	ck_assert_int_eq(snapshot_get(fs, ds->ino, "t1", &si), -ENOENT);
	ck_assert_int_eq(meta_inode_get(fs->meta, root, &a), -ENOENT);
	ck_assert_uint_eq(corefix_census(fs, ra).inodes, before.inodes);
	corefix_refs_are(fs, ra, 1);
	corefix_refs_are(fs, rb, 1);
	ck_assert_int_eq(snapshot_delete(fs, ds->ino, "t1", 0), -ENOENT);
	ck_assert_int_eq(snapshot_create(fs, ds->ino, "t1", 0, &root), 0);	/* the tag is free */
	corefix_refs_are(fs, ra, 2);
}
END_TEST

START_TEST(snapshot_refusals)
{
	uint64_t root;

	ck_assert_int_eq(snapshot_create(fs, sub->ino, "t", 0, &root), 0);	/* any dataset dir */
	ck_assert_int_eq(snapshot_create(fs, META_ROOT_INO, "t", 0, &root), -EPERM);
	ck_assert_int_eq(snapshot_create(fs, ds->ino, "t", 1000, &root), -EACCES);
	ck_assert_int_eq(snapshot_create(fs, ds->ino, "", 0, &root), -EINVAL);
	ck_assert_int_eq(snapshot_create(fs, ds->ino, "a/b", 0, &root), -EINVAL);
	ck_assert_int_eq(snapshot_create(fs, ds->ino, ".t", 0, &root), -EINVAL);
	ck_assert_int_eq(snapshot_create(fs, ds->ino, "t", 0, &root), 0);
	ck_assert_int_eq(snapshot_delete(fs, ds->ino, "t", 1000), -EACCES);
	ck_assert_int_eq(snapshot_delete(fs, ds->ino, "t", 0), 0);
}
END_TEST

#ifdef AIFS_FAILPOINTS
START_TEST(failed_snapshot_commit_leaves_no_snapshot_and_no_counts)
{
	struct tier_ref ra = corefix_first_ref(fs, ia), rb = corefix_first_ref(fs, ib);
	struct corefix_census before = corefix_census(fs, ra);
	struct snapinfo si;
	uint64_t root;

	arm("meta_commit:1=EIO");
	ck_assert_int_eq(snapshot_create(fs, ds->ino, "t1", 0, &root), -EIO);
	ck_assert_int_eq(snapshot_get(fs, ds->ino, "t1", &si), -ENOENT);
	ck_assert_uint_eq(corefix_census(fs, ra).inodes, before.inodes);
	corefix_refs_are(fs, ra, 1);
	corefix_refs_are(fs, rb, 1);
	ck_assert_int_eq(snapshot_create(fs, ds->ino, "t1", 0, &root), 0);
	corefix_refs_are(fs, ra, 2);
}
END_TEST

/* Write LEN bytes of pattern SEED at 0 into IN, left in its buffer. */
static void write_buffered(struct inode *in, size_t len, unsigned seed)
{
	char *buf = malloc(len);

	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(i * 31 + seed);
	pthread_rwlock_wrlock(&in->lock);
	ck_assert_int_eq(fs_write(fs, in, buf, len, 0, NULL), 0);
	ck_assert(in->wb_dirty);
	pthread_rwlock_unlock(&in->lock);
	free(buf);
}

/* A snapshot stores what open files have buffered first (an epoch all of
 * them, a copy each file it copies), in a commit of its own: that one
 * stands when the snapshot's fails. */
START_TEST(failed_snapshot_of_a_file_with_buffered_writes_keeps_them_counted_once)
{
	struct tier_ref ra = corefix_first_ref(fs, ia), rn;
	struct snapinfo si;
	struct inode *fa;
	uint64_t root, sa;

	ck_assert_int_eq(inode_get(fs, ia, &fa), 0);	/* open, with bytes buffered */
	write_buffered(fa, 4096, 3);
	arm("meta_commit:2=EIO");
	ck_assert_int_eq(snapshot_create(fs, ds->ino, "t1", 0, &root), -EIO);
	ck_assert_int_eq(snapshot_get(fs, ds->ino, "t1", &si), -ENOENT);
	ck_assert(!fa->wb_dirty);		/* the flush committed */
	rn = corefix_first_ref(fs, ia);		/* the extent at 0 is the new one */
	ck_assert(rn.seg != ra.seg || rn.off != ra.off);
	corefix_refs_are(fs, rn, 1);
	corefix_refs_are(fs, ra, 1);			/* the rest of a's old extent */
	ck_assert_int_eq(snapshot_create(fs, ds->ino, "t1", 0, &root), 0);
	corefix_refs_are(fs, rn, *mode ? 2 : 1);	/* a copy's record, or none */
	sa = corefix_lookup(fs, root, "a");
	write_buffered(fa, 4096, 8);
	ck_assert_int_eq(snapshot_create(fs, ds->ino, "t2", 0, &root), 0);
	content_is(corefix_lookup(fs, root, "a"), 4096, 8);
	content_is(sa, 4096, 3);
	corefix_refs_are(fs, rn, 1);			/* t1's alone */
	inode_put(fs, fa);
}
END_TEST

START_TEST(failed_delete_commit_keeps_the_snapshot_and_its_counts)
{
	struct tier_ref ra = corefix_first_ref(fs, ia), rb = corefix_first_ref(fs, ib);
	struct snapinfo si;
	uint64_t root, sa;

	ck_assert_int_eq(snapshot_create(fs, ds->ino, "t1", 0, &root), 0);
	sa = corefix_lookup(fs, root, "a");
	arm("meta_commit:1=EIO");
	ck_assert_int_eq(snapshot_delete(fs, ds->ino, "t1", 0), -EIO);
	ck_assert_int_eq(snapshot_get(fs, ds->ino, "t1", &si), 0);
	corefix_refs_are(fs, ra, 2);		/* else the live file's unlink would free its data */
	corefix_refs_are(fs, rb, 2);
	content_is(sa, ALEN, 1);
	ck_assert_int_eq(snapshot_delete(fs, ds->ino, "t1", 0), 0);
	corefix_refs_are(fs, ra, 1);
	corefix_refs_are(fs, rb, 1);
}
END_TEST
#endif


/* --- epochs ---------------------------------------------------------------- */

START_TEST(epoch_snapshot_copies_nothing_and_keeps_what_changes)
{
	struct tier_ref ra = corefix_first_ref(fs, ia), rb = corefix_first_ref(fs, ib);
	struct corefix_census before = corefix_census(fs, ra);
	uint64_t root = 0, sa, ssub, sb;
	struct snapinfo si;
	struct meta_inode a;
	struct inode *fa;

	ck_assert_int_eq(snapshot_create(fs, ds->ino, "t1", 0, &root), 0);
	ck_assert(meta_ino_is_snap(root));
	ck_assert_uint_eq(meta_snap_live(root), ds->ino);
	ck_assert_uint_eq(corefix_census(fs, ra).inodes, before.inodes);	/* no copy */
	corefix_refs_are(fs, ra, 1);
	corefix_refs_are(fs, rb, 1);
	sa = corefix_lookup(fs, root, "a");
	ssub = corefix_lookup(fs, root, "sub");
	sb = corefix_lookup(fs, ssub, "b");
	ck_assert_uint_eq(sa, meta_snap_ino(meta_snap_epoch(root), ia));
	ck_assert_uint_eq(meta_snap_live(sb), ib);
	ck_assert_int_eq(meta_inode_get(fs->meta, sa, &a), 0);
	ck_assert(a.flags & META_IF_SNAPSHOT);
	ck_assert_uint_eq(a.size, ALEN);
	ck_assert_int_eq(meta_inode_get(fs->meta, root, &a), 0);
	ck_assert(a.flags & META_IF_SNAPROOT);
	ck_assert_int_eq(snapshot_get(fs, ds->ino, "t1", &si), 0);
	ck_assert_int_eq(a.ctime, si.time);		/* the root's ctime: when it was made */
	ck_assert_uint_eq(si.files, UINT64_MAX);	/* not counted when made */
	{
		char tag[META_NAME_MAX + 1];
		uint64_t dsx;

		ck_assert_int_eq(snapshot_find_root(fs, root, &dsx, tag, sizeof(tag), &si), 0);
		ck_assert_uint_eq(dsx, ds->ino);
		ck_assert_str_eq(tag, "t1");
		ck_assert_uint_eq(si.files, 2);		/* counted for who needs it */
		ck_assert_uint_eq(si.bytes, ALEN + BLEN);
	}

	ck_assert_int_eq(inode_get(fs, ia, &fa), 0);
	ck_assert_int_eq(corefix_write(fs, fa, ALEN, 7), 0);	/* the live file changes */
	inode_put(fs, fa);
	content_is(ia, ALEN, 7);
	content_is(sa, ALEN, 1);		/* the snapshot's does not */
	content_is(sb, BLEN, 2);
	corefix_refs_are(fs, ra, 1);		/* kept by history alone */
	ck_assert_int_eq(snapshot_create(fs, ds->ino, "t1", 0, &root), -EEXIST);
	ck_assert_int_eq(snapshot_delete(fs, ds->ino, "t1", 0), 0);
	corefix_refs_are(fs, ra, 0);		/* given back with the epoch */
	corefix_refs_are(fs, rb, 1);
	ck_assert_int_eq(meta_inode_get(fs->meta, sa, &a), -ENOENT);
}
END_TEST

START_TEST(file_of_a_dropped_epoch_open_reads_on)
{
	struct tier_ref ra = corefix_first_ref(fs, ia);
	struct inode *fa, *held;
	uint64_t root, sa;

	ck_assert_int_eq(snapshot_create(fs, ds->ino, "t1", 0, &root), 0);
	sa = corefix_lookup(fs, root, "a");
	ck_assert_int_eq(inode_get(fs, ia, &fa), 0);
	ck_assert_int_eq(corefix_write(fs, fa, ALEN, 7), 0);
	inode_put(fs, fa);
	ck_assert_int_eq(inode_get(fs, sa, &held), 0);
	inode_open_inc(fs, held);		/* open, never read yet */
	ck_assert_int_eq(snapshot_delete(fs, ds->ino, "t1", 0), 0);
	ck_assert_uint_eq(corefix_census(fs, ra).refs, 0);	/* no record */
	ck_assert_uint_eq(space_refs(fs, &ra), 1);		/* the open file */
	content_is(sa, ALEN, 1);
	inode_open_dec(fs, held);
	inode_put(fs, held);
	ck_assert_uint_eq(space_refs(fs, &ra), 0);
}
END_TEST

#ifdef AIFS_FAILPOINTS
START_TEST(failed_epoch_commit_leaves_no_snapshot)
{
	struct tier_ref ra = corefix_first_ref(fs, ia);
	struct snapinfo si;
	struct inode *fa;
	uint64_t root;

	arm("meta_commit:1=EIO");
	ck_assert_int_eq(snapshot_create(fs, ds->ino, "t1", 0, &root), -EIO);
	ck_assert_int_eq(snapshot_get(fs, ds->ino, "t1", &si), -ENOENT);
	ck_assert(!meta_history_covers(fs->meta, ia));
	ck_assert_int_eq(inode_get(fs, ia, &fa), 0);
	ck_assert_int_eq(corefix_write(fs, fa, ALEN, 7), 0);
	inode_put(fs, fa);
	corefix_refs_are(fs, ra, 0);		/* nothing kept it */
}
END_TEST

START_TEST(failed_keep_changes_nothing_and_a_retry_keeps_once)
{
	struct tier_ref ra = corefix_first_ref(fs, ia), rn;
	struct inode *fa;
	uint64_t root, sa;

	ck_assert_int_eq(snapshot_create(fs, ds->ino, "t1", 0, &root), 0);
	sa = corefix_lookup(fs, root, "a");
	ck_assert_int_eq(inode_get(fs, ia, &fa), 0);
	arm("history_keep:1");
	ck_assert_int_eq(corefix_write(fs, fa, ALEN, 7), -ENOMEM);
	rn = corefix_first_ref(fs, ia);		/* the store still has the old map */
	ck_assert(rn.seg == ra.seg && rn.off == ra.off);
	corefix_refs_are(fs, ra, 1);
	content_is(sa, ALEN, 1);
	pthread_rwlock_wrlock(&fa->lock);
	ck_assert_int_eq(fs_flush(fs, fa), 0);	/* the buffered bytes, again */
	pthread_rwlock_unlock(&fa->lock);
	inode_put(fs, fa);
	content_is(ia, ALEN, 7);
	content_is(sa, ALEN, 1);
	corefix_refs_are(fs, ra, 1);		/* kept once */
	ck_assert_int_eq(snapshot_delete(fs, ds->ino, "t1", 0), 0);
	corefix_refs_are(fs, ra, 0);
}
END_TEST

START_TEST(failed_epoch_delete_keeps_the_snapshot_and_its_counts)
{
	struct tier_ref ra = corefix_first_ref(fs, ia);
	struct snapinfo si;
	struct inode *fa;
	uint64_t root, sa;

	ck_assert_int_eq(snapshot_create(fs, ds->ino, "t1", 0, &root), 0);
	sa = corefix_lookup(fs, root, "a");
	ck_assert_int_eq(inode_get(fs, ia, &fa), 0);
	ck_assert_int_eq(corefix_write(fs, fa, ALEN, 7), 0);
	inode_put(fs, fa);
	arm("meta_commit:1=EIO");
	ck_assert_int_eq(snapshot_delete(fs, ds->ino, "t1", 0), -EIO);
	ck_assert_int_eq(snapshot_get(fs, ds->ino, "t1", &si), 0);
	corefix_refs_are(fs, ra, 1);
	content_is(sa, ALEN, 1);
	ck_assert_int_eq(snapshot_delete(fs, ds->ino, "t1", 0), 0);
	corefix_refs_are(fs, ra, 0);
}
END_TEST
#endif

int main(void)
{
	Suite *s = suite_create("snapshot");
	TCase *te = tcase_create("epoch");
#ifdef AIFS_FAILPOINTS
	TCase *tc = tcase_create("copy");

	tcase_add_checked_fixture(tc, setup_copy, teardown);
	tcase_add_test(tc, snapshot_freezes_the_tree_sharing_its_data);
	tcase_add_test(tc, snapshot_delete_brings_records_and_counts_back);
	tcase_add_test(tc, snapshot_refusals);
	tcase_add_test(tc, failed_snapshot_commit_leaves_no_snapshot_and_no_counts);
	tcase_add_test(tc, failed_delete_commit_keeps_the_snapshot_and_its_counts);
	tcase_add_test(tc, failed_snapshot_of_a_file_with_buffered_writes_keeps_them_counted_once);
	suite_add_tcase(s, tc);
#endif
	tcase_add_checked_fixture(te, setup, teardown);
	tcase_add_test(te, epoch_snapshot_copies_nothing_and_keeps_what_changes);
	tcase_add_test(te, file_of_a_dropped_epoch_open_reads_on);
	tcase_add_test(te, snapshot_refusals);
#ifdef AIFS_FAILPOINTS
	tcase_add_test(te, failed_epoch_commit_leaves_no_snapshot);
	tcase_add_test(te, failed_keep_changes_nothing_and_a_retry_keeps_once);
	tcase_add_test(te, failed_epoch_delete_keeps_the_snapshot_and_its_counts);
	tcase_add_test(te, failed_snapshot_of_a_file_with_buffered_writes_keeps_them_counted_once);
#endif
	suite_add_tcase(s, te);
	return corefix_main(s);
}
