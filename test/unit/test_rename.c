/* test_rename.c — the core's part of a rename (fs_rename_apply and
 * fs_rename_undo, path.h) linked without libfuse, on a fresh store (a
 * real RocksDB, the local tier): what may be renamed (fs_rename_allowed:
 * read-only directories, journal areas, a feature's may_change hook), a
 * rename within a directory and across directories, over an existing
 * file (purged at its last reference, or kept while open) or an empty
 * directory, an exchange, and a failed commit, which leaves the store as
 * it was and puts memory back.  What the adapter checks besides (types, empty directories,
 * permissions, versions) is tested through the mount (test_posix.py,
 * test_checkpoint.py).
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/fs.h"
#include "fs/data.h"
#include "fs/hooks.h"
#include "fs/inode.h"
#include "fs/path.h"
#include "test/unit/corefix.h"
#include "tier/failpoint.h"

static struct fs *fs;
static struct inode *root;

/* What the test feature's hooks saw, and what it refuses. */
static struct {
	unsigned before_purge, purge, free, may_change;
	uint64_t purged_ino;
	uint64_t refuse_ino;	/* may_change is -EPERM for this inode */
} seen;

static int t_may_change(struct fs *f, struct inode *in)
{
	(void)f;
	seen.may_change++;
	return in->ino == seen.refuse_ino ? -EPERM : 0;
}

static void t_before_purge(struct fs *f, struct inode *in)
{
	(void)f, (void)in;
	seen.before_purge++;
}

static void t_purge(struct fs *f, struct inode *in, struct meta_batch *b)
{
	(void)f, (void)b;
	seen.purge++;
	seen.purged_ino = in->ino;
}

static void t_free(struct inode *in, void *slot)
{
	(void)in, (void)slot;
	seen.free++;
}

static const struct fs_feature_ops test_feature = {
	.name = "test",
	.before_purge = t_before_purge,
	.purge = t_purge,
	.free = t_free,
	.may_change = t_may_change,
};

static void setup(void)
{
	memset(&seen, 0, sizeof(seen));
	fs = corefix_open(&test_feature);
	ck_assert_int_eq(inode_get(fs, META_ROOT_INO, &root), 0);
}

static void teardown(void)
{
	inode_put(fs, root);
	corefix_close(fs);
	fs = NULL;
}

/* Commit rename R as the adapter does: under the namespace lock, its
 * inodes locked in inode-number order, its memory put back on failure. */
static int rename_commit(struct fs_rename *r)
{
	struct inode *v[4] = { r->p, r->np, r->src, r->dst }, *t;
	struct meta_batch *b = meta_batch_new();
	int n = 0, rc;

	for (int i = 0; i < 4; i++) {
		bool dup = !v[i];

		for (int j = 0; j < n && !dup; j++)
			dup = v[j] == v[i];
		if (!dup)
			v[n++] = v[i];
	}
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j - 1]->ino > v[j]->ino; j--) {
			t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	pthread_rwlock_wrlock(&fs->ns);
	for (int i = 0; i < n; i++)
		pthread_rwlock_wrlock(&v[i]->lock);
	fs_rename_apply(b, r);
	rc = fs_commit(fs, b, false);
	if (rc < 0)
		fs_rename_undo(r);
	for (int i = n - 1; i >= 0; i--)
		pthread_rwlock_unlock(&v[i]->lock);
	pthread_rwlock_unlock(&fs->ns);
	meta_batch_free(b);
	return rc;
}

/* The stored attributes of INO. */
static struct meta_inode stored(uint64_t ino)
{
	struct meta_inode a;

	ck_assert_int_eq(meta_inode_get(fs->meta, ino, &a), 0);
	return a;
}

/* Set IN's area POLICY and FLAGS, stored. */
static void set_area(struct inode *in, uint8_t policy, uint32_t flags)
{
	struct meta_batch *b = meta_batch_new();

	pthread_rwlock_wrlock(&in->lock);
	in->attr.policy = policy;
	in->attr.flags |= flags;
	inode_save(b, in);
	pthread_rwlock_unlock(&in->lock);
	ck_assert_int_eq(fs_commit(fs, b, false), 0);
	meta_batch_free(b);
}

START_TEST(rename_allowed_asks_the_features_and_the_areas)
{
	struct inode *d = corefix_mknod(fs, META_ROOT_INO, "d", S_IFDIR | 0755);
	struct inode *j = corefix_mknod(fs, META_ROOT_INO, "j", S_IFDIR | 0755);
	struct inode *a = corefix_mknod(fs, d->ino, "a", S_IFREG | 0644);
	struct inode *b = corefix_mknod(fs, d->ino, "b", S_IFREG | 0644);
	struct inode *jf;
	struct fs_rename r = { .parent = d->ino, .newparent = d->ino, .name = "a",
			       .newname = "b", .p = d, .np = d, .src = a, .dst = b };

	ck_assert_int_eq(fs_rename_allowed(fs, &r), 0);
	ck_assert_uint_eq(seen.may_change, 2);		/* asked of SRC and DST */
	seen.refuse_ino = b->ino;			/* as a retained journal file */
	ck_assert_int_eq(fs_rename_allowed(fs, &r), -EPERM);
	seen.refuse_ino = a->ino;
	ck_assert_int_eq(fs_rename_allowed(fs, &r), -EPERM);
	seen.refuse_ino = 0;
	r.dst = a;					/* two names of one inode */
	ck_assert_int_eq(fs_rename_allowed(fs, &r), 1);

	set_area(j, META_AREA_JOURNAL, 0);		/* into a journal area: no */
	jf = corefix_mknod(fs, j->ino, "log", S_IFREG | 0644);
	r = (struct fs_rename){ .parent = d->ino, .newparent = j->ino, .name = "a",
				.newname = "a", .p = d, .np = j, .src = a };
	ck_assert_int_eq(fs_rename_allowed(fs, &r), -EPERM);
	r = (struct fs_rename){ .parent = j->ino, .newparent = j->ino, .name = "log",
				.newname = "log2", .p = j, .np = j, .src = jf };
	ck_assert_int_eq(fs_rename_allowed(fs, &r), 0);	/* within it: yes */
	r = (struct fs_rename){ .parent = j->ino, .newparent = d->ino, .name = "log",
				.newname = "a", .exchange = true, .p = j, .np = d, .src = jf,
				.dst = a };			/* a swapped in: no */
	ck_assert_int_eq(fs_rename_allowed(fs, &r), -EPERM);

	set_area(d, META_AREA_DATASET, META_IF_SNAPSHOT);	/* a frozen tree */
	r = (struct fs_rename){ .parent = d->ino, .newparent = d->ino, .name = "a",
				.newname = "c", .p = d, .np = d, .src = a };
	ck_assert_int_eq(fs_rename_allowed(fs, &r), -EROFS);
	inode_put(fs, jf);
	inode_put(fs, b);
	inode_put(fs, a);
	inode_put(fs, j);
	inode_put(fs, d);
}
END_TEST

START_TEST(rename_within_a_directory_moves_the_entry)
{
	struct inode *f = corefix_mknod(fs, META_ROOT_INO, "a", S_IFREG | 0644);
	struct fs_rename r = { .parent = META_ROOT_INO, .newparent = META_ROOT_INO, .name = "a",
			       .newname = "b", .p = root, .np = root, .src = f };
	uint32_t nlink = root->attr.nlink;
	int64_t before = stored(f->ino).ctime;

	ck_assert_int_eq(rename_commit(&r), 0);
	ck_assert_uint_eq(corefix_lookup(fs, META_ROOT_INO, "a"), 0);
	ck_assert_uint_eq(corefix_lookup(fs, META_ROOT_INO, "b"), f->ino);
	ck_assert_uint_eq(f->parent, META_ROOT_INO);
	ck_assert_uint_eq(f->attr.nlink, 1);
	ck_assert_int_ge(stored(f->ino).ctime, before);
	ck_assert_int_eq(stored(f->ino).ctime, f->attr.ctime);
	ck_assert_int_eq(stored(META_ROOT_INO).mtime, f->attr.ctime);
	ck_assert_uint_eq(stored(META_ROOT_INO).nlink, nlink);
	ck_assert(!corefix_orphan(fs, f->ino));
	inode_put(fs, f);
	ck_assert_uint_eq(seen.purge, 0);
}
END_TEST

START_TEST(rename_across_directories_moves_a_directory_link)
{
	struct inode *d1 = corefix_mknod(fs, META_ROOT_INO, "d1", S_IFDIR | 0755);
	struct inode *d2 = corefix_mknod(fs, META_ROOT_INO, "d2", S_IFDIR | 0755);
	struct inode *s = corefix_mknod(fs, d1->ino, "s", S_IFDIR | 0755);
	struct inode *f = corefix_mknod(fs, d1->ino, "f", S_IFREG | 0644);
	struct fs_rename rs = { .parent = d1->ino, .newparent = d2->ino, .name = "s",
				.newname = "s", .p = d1, .np = d2, .src = s };
	struct fs_rename rf = { .parent = d1->ino, .newparent = d2->ino, .name = "f",
				.newname = "g", .p = d1, .np = d2, .src = f };
	char path[64];

	ck_assert_uint_eq(d1->attr.nlink, 3);
	ck_assert_int_eq(rename_commit(&rs), 0);
	ck_assert_uint_eq(d1->attr.nlink, 2);	/* s's ".." left d1 */
	ck_assert_uint_eq(d2->attr.nlink, 3);
	ck_assert_uint_eq(stored(d1->ino).nlink, 2);
	ck_assert_uint_eq(stored(d2->ino).nlink, 3);
	ck_assert_uint_eq(s->parent, d2->ino);
	ck_assert_uint_eq(corefix_lookup(fs, d1->ino, "s"), 0);
	ck_assert_uint_eq(corefix_lookup(fs, d2->ino, "s"), s->ino);
	ck_assert_int_eq(fs_dir_path(fs, s->ino, path, sizeof(path)), 0);
	ck_assert_str_eq(path, "d2/s");

	ck_assert_int_eq(rename_commit(&rf), 0);
	ck_assert_uint_eq(d1->attr.nlink, 2);	/* a file's link is no directory's */
	ck_assert_uint_eq(d2->attr.nlink, 3);
	ck_assert_uint_eq(f->parent, d2->ino);
	ck_assert_uint_eq(corefix_lookup(fs, d1->ino, "f"), 0);
	ck_assert_uint_eq(corefix_lookup(fs, d2->ino, "g"), f->ino);
	ck_assert_int_eq(stored(d1->ino).mtime, f->attr.ctime);
	ck_assert_int_eq(stored(d2->ino).mtime, f->attr.ctime);
	inode_put(fs, f);
	inode_put(fs, s);
	inode_put(fs, d2);
	inode_put(fs, d1);
}
END_TEST

START_TEST(rename_over_a_file_purges_it_at_its_last_reference)
{
	struct inode *a = corefix_mknod(fs, META_ROOT_INO, "a", S_IFREG | 0644);
	struct inode *b = corefix_mknod(fs, META_ROOT_INO, "b", S_IFREG | 0644);
	struct fs_rename r = { .parent = META_ROOT_INO, .newparent = META_ROOT_INO, .name = "a",
			       .newname = "b", .p = root, .np = root, .src = a, .dst = b };
	uint64_t bino = b->ino;
	struct meta_inode attr;

	ck_assert_int_eq(corefix_write(fs, b, 100000, 5), 0);
	ck_assert_int_eq(rename_commit(&r), 0);
	ck_assert_uint_eq(corefix_lookup(fs, META_ROOT_INO, "a"), 0);
	ck_assert_uint_eq(corefix_lookup(fs, META_ROOT_INO, "b"), a->ino);
	ck_assert_uint_eq(b->attr.nlink, 0);
	ck_assert_uint_eq(stored(bino).nlink, 0);
	ck_assert(corefix_orphan(fs, bino));	/* unlinked, still referenced */
	ck_assert_uint_eq(seen.purge, 0);
	inode_put(fs, b);			/* its last reference */
	ck_assert_uint_eq(seen.before_purge, 1);
	ck_assert_uint_eq(seen.purge, 1);
	ck_assert_uint_eq(seen.purged_ino, bino);
	ck_assert_int_eq(meta_inode_get(fs->meta, bino, &attr), -ENOENT);
	ck_assert(!corefix_orphan(fs, bino));
	ck_assert_ptr_null(inode_peek(fs, bino));
	inode_put(fs, a);
	ck_assert_uint_eq(seen.purge, 1);
}
END_TEST

START_TEST(rename_over_an_open_file_keeps_it_until_its_close)
{
	struct inode *a = corefix_mknod(fs, META_ROOT_INO, "a", S_IFREG | 0644);
	struct inode *b = corefix_mknod(fs, META_ROOT_INO, "b", S_IFREG | 0644);
	struct fs_rename r = { .parent = META_ROOT_INO, .newparent = META_ROOT_INO, .name = "a",
			       .newname = "b", .p = root, .np = root, .src = a, .dst = b };
	uint64_t bino = b->ino, n = 0;
	struct meta_inode attr;
	char buf[16];

	ck_assert_int_eq(corefix_write(fs, b, 50000, 9), 0);
	inode_open_inc(fs, b);
	ck_assert_int_eq(rename_commit(&r), 0);
	inode_put(fs, b);			/* the handler's reference; the open stays */
	ck_assert_uint_eq(seen.purge, 0);
	ck_assert_int_eq(meta_inode_get(fs->meta, bino, &attr), 0);
	ck_assert_uint_eq(attr.nlink, 0);
	ck_assert(corefix_orphan(fs, bino));
	pthread_rwlock_wrlock(&b->lock);	/* still readable through its open */
	ck_assert_int_eq(fs_read(fs, b, buf, sizeof(buf), 0, &n), 0);
	pthread_rwlock_unlock(&b->lock);
	ck_assert_uint_eq(n, sizeof(buf));
	ck_assert_int_eq(buf[1], (char)(31 + 9));
	inode_open_dec(fs, b);			/* the last close */
	ck_assert_uint_eq(seen.purge, 1);
	ck_assert_int_eq(meta_inode_get(fs->meta, bino, &attr), -ENOENT);
	ck_assert(!corefix_orphan(fs, bino));
	inode_put(fs, a);
}
END_TEST

START_TEST(rename_over_an_empty_directory_drops_its_link)
{
	struct inode *d1 = corefix_mknod(fs, META_ROOT_INO, "d1", S_IFDIR | 0755);
	struct inode *d2 = corefix_mknod(fs, META_ROOT_INO, "d2", S_IFDIR | 0755);
	struct inode *x = corefix_mknod(fs, d1->ino, "x", S_IFDIR | 0755);
	struct inode *y = corefix_mknod(fs, d2->ino, "y", S_IFDIR | 0755);
	struct fs_rename r = { .parent = d1->ino, .newparent = d2->ino, .name = "x",
			       .newname = "y", .p = d1, .np = d2, .src = x, .dst = y };
	uint64_t yino = y->ino;
	struct meta_inode a;

	ck_assert_int_eq(rename_commit(&r), 0);
	ck_assert_uint_eq(corefix_lookup(fs, d2->ino, "y"), x->ino);
	ck_assert_uint_eq(stored(d1->ino).nlink, 2);	/* x's ".." left */
	ck_assert_uint_eq(stored(d2->ino).nlink, 3);	/* y's went, x's came */
	ck_assert_uint_eq(stored(yino).nlink, 0);
	ck_assert(corefix_orphan(fs, yino));
	inode_put(fs, y);
	ck_assert_uint_eq(seen.purge, 1);
	ck_assert_int_eq(meta_inode_get(fs->meta, yino, &a), -ENOENT);
	inode_put(fs, x);
	inode_put(fs, d2);
	inode_put(fs, d1);
}
END_TEST

START_TEST(rename_exchange_swaps_a_directory_and_a_file)
{
	struct inode *d1 = corefix_mknod(fs, META_ROOT_INO, "d1", S_IFDIR | 0755);
	struct inode *d2 = corefix_mknod(fs, META_ROOT_INO, "d2", S_IFDIR | 0755);
	struct inode *x = corefix_mknod(fs, d1->ino, "x", S_IFDIR | 0755);
	struct inode *y = corefix_mknod(fs, d2->ino, "y", S_IFREG | 0644);
	struct fs_rename r = { .parent = d1->ino, .newparent = d2->ino, .name = "x",
			       .newname = "y", .exchange = true, .p = d1, .np = d2, .src = x,
			       .dst = y };

	ck_assert_int_eq(rename_commit(&r), 0);
	ck_assert_uint_eq(corefix_lookup(fs, d1->ino, "x"), y->ino);
	ck_assert_uint_eq(corefix_lookup(fs, d2->ino, "y"), x->ino);
	ck_assert_uint_eq(stored(d1->ino).nlink, 2);	/* x's ".." went to d2 */
	ck_assert_uint_eq(stored(d2->ino).nlink, 3);
	ck_assert_uint_eq(x->parent, d2->ino);
	ck_assert_uint_eq(y->attr.nlink, 1);	/* exchanged, not replaced */
	ck_assert(!corefix_orphan(fs, y->ino));
	inode_put(fs, y);
	inode_put(fs, x);
	inode_put(fs, d2);
	inode_put(fs, d1);
	ck_assert_uint_eq(seen.purge, 0);
}
END_TEST

/* What a failed rename must leave of IN as it was. */
struct before {
	struct meta_inode mem, disk;
	uint64_t parent;
};

static void note(struct inode *in, struct before *b)
{
	b->mem = in->attr;
	b->parent = in->parent;
	b->disk = stored(in->ino);
}

static void same(struct inode *in, const struct before *b)
{
	struct meta_inode d = stored(in->ino);

	ck_assert_uint_eq(in->attr.nlink, b->mem.nlink);
	ck_assert_int_eq(in->attr.ctime, b->mem.ctime);
	ck_assert_int_eq(in->attr.mtime, b->mem.mtime);
	ck_assert_uint_eq(in->parent, b->parent);
	ck_assert_uint_eq(d.nlink, b->disk.nlink);
	ck_assert_int_eq(d.ctime, b->disk.ctime);
	ck_assert_int_eq(d.mtime, b->disk.mtime);
	ck_assert_uint_eq(d.size, b->disk.size);
}

START_TEST(failed_commit_leaves_store_and_memory_as_they_were)
{
	struct inode *d1 = corefix_mknod(fs, META_ROOT_INO, "d1", S_IFDIR | 0755);
	struct inode *d2 = corefix_mknod(fs, META_ROOT_INO, "d2", S_IFDIR | 0755);
	struct inode *s = corefix_mknod(fs, d1->ino, "s", S_IFDIR | 0755);
	struct inode *a = corefix_mknod(fs, d1->ino, "a", S_IFREG | 0644);
	struct inode *b = corefix_mknod(fs, d2->ino, "b", S_IFREG | 0644);
	struct fs_rename rs = { .parent = d1->ino, .newparent = d2->ino, .name = "s",
				.newname = "s", .p = d1, .np = d2, .src = s };
	struct fs_rename ra = { .parent = d1->ino, .newparent = d2->ino, .name = "a",
				.newname = "b", .p = d1, .np = d2, .src = a, .dst = b };
	struct before w[5];
	struct inode *all[5] = { d1, d2, s, a, b };
	uint64_t bino = b->ino;
	struct meta_inode attr;

	ck_assert_int_eq(corefix_write(fs, b, 70000, 4), 0);
	for (int i = 0; i < 5; i++)
		note(all[i], &w[i]);
	ck_assert_int_eq(failpoint_arm("meta_commit:1=EIO"), 0);
	ck_assert_int_eq(rename_commit(&rs), -EIO);
	ck_assert_int_eq(failpoint_arm("meta_commit:1=EIO"), 0);
	ck_assert_int_eq(rename_commit(&ra), -EIO);
	for (int i = 0; i < 5; i++)
		same(all[i], &w[i]);
	ck_assert_uint_eq(corefix_lookup(fs, d1->ino, "s"), s->ino);
	ck_assert_uint_eq(corefix_lookup(fs, d2->ino, "s"), 0);
	ck_assert_uint_eq(corefix_lookup(fs, d1->ino, "a"), a->ino);
	ck_assert_uint_eq(corefix_lookup(fs, d2->ino, "b"), bino);
	ck_assert(!corefix_orphan(fs, bino));
	inode_put(fs, b);			/* still linked: not purged */
	ck_assert_uint_eq(seen.purge, 0);
	ck_assert_int_eq(meta_inode_get(fs->meta, bino, &attr), 0);

	/* The next try, which succeeds, starts from what was put back. */
	ck_assert_int_eq(inode_get(fs, bino, &b), 0);
	ra.dst = b;
	ck_assert_int_eq(rename_commit(&rs), 0);
	ck_assert_int_eq(rename_commit(&ra), 0);
	ck_assert_uint_eq(stored(d1->ino).nlink, 2);
	ck_assert_uint_eq(stored(d2->ino).nlink, 3);
	ck_assert_uint_eq(corefix_lookup(fs, d2->ino, "b"), a->ino);
	inode_put(fs, b);
	ck_assert_uint_eq(seen.purge, 1);
	ck_assert_int_eq(meta_inode_get(fs->meta, bino, &attr), -ENOENT);
	inode_put(fs, a);
	inode_put(fs, s);
	inode_put(fs, d2);
	inode_put(fs, d1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rename");
	TCase *tc = tcase_create("rename");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, rename_allowed_asks_the_features_and_the_areas);
	tcase_add_test(tc, rename_within_a_directory_moves_the_entry);
	tcase_add_test(tc, rename_across_directories_moves_a_directory_link);
	tcase_add_test(tc, rename_over_a_file_purges_it_at_its_last_reference);
	tcase_add_test(tc, rename_over_an_open_file_keeps_it_until_its_close);
	tcase_add_test(tc, rename_over_an_empty_directory_drops_its_link);
	tcase_add_test(tc, rename_exchange_swaps_a_directory_and_a_file);
#ifdef AIFS_FAILPOINTS
	tcase_add_test(tc, failed_commit_leaves_store_and_memory_as_they_were);
#endif
	suite_add_tcase(s, tc);
	return corefix_main(s);
}
