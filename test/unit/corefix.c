/* corefix.c — the fixture of the suites that link the core (corefix.h). */
#include "test/unit/corefix.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/data.h"
#include "fs/inode.h"
#include "fs/prealloc.h"
#include "fs/space.h"
#include "meta/store.h"
#include "tier/failpoint.h"

static char tmp_root[] = "/tmp/aifs-test-corefix.XXXXXX";

struct fs *corefix_open(const struct fs_feature_ops *feature)
{
	char path[sizeof(tmp_root) + 32], err[512];
	struct fs *fs;

	snprintf(path, sizeof(path), "%s/s.XXXXXX", tmp_root);
	ck_assert_msg(mkdtemp(path) != NULL, "mkdtemp %s: %s", path, strerror(errno));
	ck_assert_msg(store_mkfs(path, NULL, err, sizeof(err)) == 0, "mkfs: %s", err);
	fs = calloc(1, sizeof(*fs));
	ck_assert_ptr_nonnull(fs);
	ck_assert_msg(store_open(path, &fs->store, err, sizeof(err)) == 0, "open: %s", err);
	fs->meta = fs->store->meta;
	fs->tiers = fs->store->tiers;
	pthread_rwlock_init(&fs->ns, NULL);
	if (feature)
		ck_assert_int_eq(fs_feature_register(fs, feature), 0);
	ck_assert_int_eq(fs_itab_init(fs), 0);
	ck_assert_int_eq(space_init(fs), 0);
	ck_assert_int_eq(prealloc_init(fs), 0);
	return fs;
}

void corefix_close(struct fs *fs)
{
	failpoint_arm("");
	space_reclaimer_stop(fs);
	fs_itab_destroy(fs);
	store_close(fs->store);
	pthread_rwlock_destroy(&fs->ns);
	free(fs);
}

struct inode *corefix_mknod(struct fs *fs, uint64_t parent, const char *name, uint32_t mode)
{
	bool dir = S_ISDIR(mode);
	struct meta_batch *b = meta_batch_new();
	struct meta_inode a;
	struct inode *p, *in;

	ck_assert_int_eq(inode_get(fs, parent, &p), 0);
	a = (struct meta_inode){ .ino = fs_ino_alloc(fs), .mode = mode, .nlink = dir ? 2 : 1,
				 .ctime = fs_now(), .mtime = fs_now(),
				 .policy = p->attr.policy };	/* the area of its directory */
	in = inode_new(fs, &a);
	ck_assert_ptr_nonnull(in);
	in->parent = parent;
	pthread_rwlock_wrlock(&p->lock);
	if (dir)
		p->attr.nlink++;
	inode_save(b, p);
	pthread_rwlock_unlock(&p->lock);
	inode_save(b, in);
	meta_dentry_put(b, parent, name, strlen(name), in->ino, mode & S_IFMT);
	ck_assert_int_eq(fs_commit(fs, b, false), 0);
	meta_batch_free(b);
	inode_put(fs, p);
	return in;
}

uint64_t corefix_lookup(struct fs *fs, uint64_t parent, const char *name)
{
	uint64_t ino;
	uint32_t type;
	int rc = meta_dentry_get(fs->meta, parent, name, strlen(name), &ino, &type);

	ck_assert_msg(rc == 0 || rc == -ENOENT, "lookup of %s: %s", name, strerror(-rc));
	return rc == 0 ? ino : 0;
}

struct orphan_find {
	uint64_t ino;
	bool found;
};

static int orphan_cb(void *ctx, uint64_t ino)
{
	struct orphan_find *f = ctx;

	if (ino == f->ino)
		f->found = true;
	return 0;
}

bool corefix_orphan(struct fs *fs, uint64_t ino)
{
	struct orphan_find f = { .ino = ino };

	ck_assert_int_eq(meta_orphan_foreach(fs->meta, orphan_cb, &f), 0);
	return f.found;
}

int corefix_write(struct fs *fs, struct inode *in, size_t len, unsigned seed)
{
	char *buf = malloc(len);
	int rc;

	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(i * 31 + seed);
	pthread_rwlock_wrlock(&in->lock);
	rc = fs_write(fs, in, buf, len, 0, NULL);
	if (rc == 0)
		rc = fs_flush(fs, in);
	pthread_rwlock_unlock(&in->lock);
	free(buf);
	return rc;
}

void corefix_open_w(struct fs *fs, struct inode *in, bool trunc)
{
	const struct fs_feature_ops *c = fs_hook_claimer(fs, in);

	pthread_rwlock_wrlock(&in->lock);
	if (c->open)
		ck_assert_int_eq(c->open(fs, in, true), 0);
	in->nwriters++;
	pthread_rwlock_unlock(&in->lock);
	if (trunc)
		corefix_truncate_w(fs, in, FS_CHANGE_OPEN_TRUNC);
}

void corefix_write_w(struct fs *fs, struct inode *in, const void *buf, size_t len, uint64_t off)
{
	struct fs_change c = { .what = FS_CHANGE_WRITE, .buf = buf, .size = len, .off = off };

	pthread_rwlock_wrlock(&in->lock);
	ck_assert_int_eq(fs_hook_change(fs, NULL, in, &c), 0);
	ck_assert_int_eq(fs_write(fs, in, buf, len, off, NULL), 0);
	pthread_rwlock_unlock(&in->lock);
}

void corefix_truncate_w(struct fs *fs, struct inode *in, int what)
{
	struct fs_change c = { .what = what, .size = 0 };
	struct meta_batch *b = meta_batch_new();
	int rc;

	pthread_rwlock_wrlock(&in->lock);
	ck_assert_int_eq(fs_hook_change(fs, NULL, in, &c), 0);
	ck_assert_int_eq(fs_flush(fs, in), 0);
	space_defer_begin();
	rc = fs_punch(fs, in, b, 0, UINT64_MAX);
	in->attr.size = 0;
	in->attr.generation++;
	inode_save(b, in);
	if (rc == 0)
		rc = fs_commit(fs, b, false);
	space_defer_end(fs, rc == 0);
	pthread_rwlock_unlock(&in->lock);
	meta_batch_free(b);
	ck_assert_int_eq(rc, 0);
}

int corefix_close_w(struct fs *fs, struct inode *in)
{
	const struct fs_feature_ops *c = fs_hook_claimer(fs, in);
	bool ended = false;
	int rc, committed = 0;

	pthread_rwlock_wrlock(&in->lock);
	rc = fs_flush(fs, in);
	if (c->flush)
		committed = rc = c->flush(fs, in, rc, &ended);
	pthread_rwlock_unlock(&in->lock);
	if (rc >= 0 && ended && c->closed)
		c->closed(fs, NULL, in);
	if (ended)
		committed = rc;
	ended = false;
	pthread_rwlock_wrlock(&in->lock);
	rc = fs_flush(fs, in);
	if (--in->nwriters == 0 && c->last_close) {
		int r = c->last_close(fs, NULL, in, &ended);

		if (ended)
			committed = r;
	}
	pthread_rwlock_unlock(&in->lock);
	if (ended && committed >= 0 && c->closed)
		c->closed(fs, NULL, in);
	return rc < 0 ? rc : committed;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

int corefix_main(Suite *s)
{
	SRunner *sr;
	int failed, run;

	if (!mkdtemp(tmp_root)) {
		perror(tmp_root);
		return EXIT_FAILURE;
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	run = srunner_ntests_run(sr);
	srunner_free(sr);
	nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return failed || !run ? EXIT_FAILURE : EXIT_SUCCESS;
}

static int first_cb(void *ctx, const struct meta_extent *e)
{
	*(struct tier_ref *)ctx = e->ref;
	return 1;
}

struct tier_ref corefix_first_ref(struct fs *fs, uint64_t ino)
{
	struct tier_ref r;

	ck_assert_int_eq(meta_extent_foreach(fs->meta, ino, first_cb, &r), 1);
	return r;
}

struct census_walk {
	struct fs *fs;
	struct tier_ref ref;
	struct corefix_census c;
};

static int census_ext(void *ctx, const struct meta_extent *e)
{
	struct census_walk *w = ctx;

	if (e->ref.tier == w->ref.tier && e->ref.seg == w->ref.seg && e->ref.off == w->ref.off)
		w->c.refs++;
	return 0;
}

static int census_inode(void *ctx, const struct meta_inode *a)
{
	struct census_walk *w = ctx;

	w->c.inodes++;
	return S_ISREG(a->mode) ? meta_extent_foreach(w->fs->meta, a->ino, census_ext, w) : 0;
}

static int census_history(void *ctx, uint64_t ino, const struct tier_ref *r)
{
	struct census_walk *w = ctx;

	(void)ino;
	if (r->tier == w->ref.tier && r->seg == w->ref.seg && r->off == w->ref.off)
		w->c.refs++;
	return 0;
}

struct corefix_census corefix_census(struct fs *fs, struct tier_ref ref)
{
	struct census_walk w = { .fs = fs, .ref = ref };

	ck_assert_int_eq(meta_inode_foreach(fs->meta, census_inode, &w), 0);
	/* epoch snapshots' history references extents too */
	ck_assert_int_eq(meta_history_extent_foreach(fs->meta, census_history, &w), 0);
	return w.c;
}

void corefix_refs_are(struct fs *fs, struct tier_ref ref, uint32_t n)
{
	ck_assert_uint_eq(corefix_census(fs, ref).refs, n);
	ck_assert_uint_eq(space_refs(fs, &ref), n);
}
