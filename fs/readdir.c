/* readdir.c — directory listings.
 *
 * A listing is materialised when it starts (offset 0) and served from the
 * directory handle afterwards, so a reader sees one consistent view: an
 * entry present for the whole listing appears exactly once, whatever is
 * created, renamed or removed meanwhile.  The offset of an entry is its
 * index + 1 in that view.
 */
#include "fs/fs.h"
#include "fs/inode.h"
#include "fs/data.h"
#include "fs/virt.h"
#include "fs/ops.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct dent {
	uint64_t ino;
	uint32_t type;
	char *name;
};

struct dirh {
	pthread_mutex_t lock;
	struct dent *v;
	size_t n, cap;
	bool loaded;
};

static void dirh_clear(struct dirh *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].name);
	d->n = 0;
	d->loaded = false;
}

static int dirh_add(struct dirh *d, const char *name, size_t len, uint64_t ino,
		    uint32_t type)
{
	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 64;
		struct dent *v = realloc(d->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->v = v;
		d->cap = ncap;
	}
	d->v[d->n].name = strndup(name, len);
	if (!d->v[d->n].name)
		return -ENOMEM;
	d->v[d->n].ino = ino;
	d->v[d->n].type = type;
	d->n++;
	return 0;
}

static int add_cb(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type)
{
	return dirh_add(ctx, name, len, ino, type);
}

static int dirh_load(struct fs *fs, struct dirh *d, fuse_ino_t ino)
{
	struct inode *in;
	uint64_t parent = ino;
	int rc;

	dirh_clear(d);
	if (virt_is(ino)) {
		rc = dirh_add(d, ".", 1, ino, S_IFDIR);
		if (rc == 0)
			rc = dirh_add(d, "..", 2, ino, S_IFDIR);
		if (rc == 0)
			rc = virt_readdir(fs, ino, add_cb, d);
		d->loaded = rc == 0;
		return rc;
	}
	rc = inode_get(fs, ino, &in);
	if (rc < 0)
		return rc;
	if (in->parent)
		parent = in->parent;
	inode_put(fs, in);
	pthread_rwlock_rdlock(&fs->ns);
	rc = dirh_add(d, ".", 1, ino, S_IFDIR);
	if (rc == 0)
		rc = dirh_add(d, "..", 2, parent, S_IFDIR);
	if (rc == 0)
		rc = meta_dentry_foreach(fs->meta, ino, NULL, 0, add_cb, d);
	pthread_rwlock_unlock(&fs->ns);
	if (rc < 0) {
		dirh_clear(d);
		return rc;
	}
	d->loaded = true;
	return 0;
}

static void do_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct dirh *d;
	int rc = virt_is(ino) ? virt_access(fs, req, ino, true) : 0;

	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&d->lock, NULL);
	fi->fh = (uintptr_t)d;
	/* Names in a real directory change only through this kernel (the
	 * store is locked to one mount), which resets its cached listing on
	 * each change; what aifs itself adds (promote) is invalidated by
	 * notification.  The .aifs views change with commits: not cached. */
	fi->cache_readdir = !virt_is(ino);
	fi->keep_cache = !virt_is(ino);
	if (fuse_reply_open(req, fi) != 0) {
		pthread_mutex_destroy(&d->lock);
		free(d);
	}
}

static void do_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;

	(void)ino;
	dirh_clear(d);
	free(d->v);
	pthread_mutex_destroy(&d->lock);
	free(d);
	fuse_reply_err(req, 0);
}

/* Add entry I of D to BUF (REM bytes left); returns its size, or 0 if it
 * did not fit.  With PLUS, the entry counts as a lookup, unless the kernel
 * already holds its inode: then it goes without attributes (node id 0,
 * which the kernel takes as a plain entry), sparing the daemon the inode's
 * attributes and the kernel the update of a dentry it has.  A listing
 * after the names were looked up (a cold stat of each, then ls) costs
 * what a plain READDIR costs; a listing of names the kernel does not hold
 * (ls -l) still links each one.  Should the kernel let go of the name
 * meanwhile, its next use is one LOOKUP, as after a plain READDIR. */
static size_t add_one(fuse_req_t req, struct fs *fs, fuse_ino_t dir, struct dent *de,
		      bool plus, char *buf, size_t rem, off_t next)
{
	struct fuse_entry_param e;
	struct inode *in;
	size_t sz;

	if (!plus) {
		struct stat st = { .st_ino = de->ino, .st_mode = de->type };

		sz = fuse_add_direntry(req, buf, rem, de->name, &st, next);
		return sz > rem ? 0 : sz;
	}
	if (!strcmp(de->name, ".") || !strcmp(de->name, "..") ||
	    inode_kernel_holds(fs, de->ino)) {
		memset(&e, 0, sizeof(e));
		e.attr.st_ino = de->ino;
		e.attr.st_mode = de->type;
		sz = fuse_add_direntry_plus(req, buf, rem, de->name, &e, next);
		return sz > rem ? 0 : sz;
	}
	if (inode_get(fs, de->ino, &in) < 0)
		return SIZE_MAX;	/* removed since the listing began: skip */
	if (!virt_is(dir))
		in->parent = dir;	/* journal and lineage name paths through it */
	pthread_rwlock_rdlock(&in->lock);
	fs_entry(fs, in, &e);
	pthread_rwlock_unlock(&in->lock);
	sz = fuse_add_direntry_plus(req, buf, rem, de->name, &e, next);
	if (sz <= rem)
		inode_lookup_inc(fs, in, 1);
	inode_put(fs, in);
	return sz > rem ? 0 : sz;
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi, bool plus)
{
	struct fs *fs = fuse_req_userdata(req);
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	char *buf = fs_scratch(size);
	size_t used = 0;
	int rc = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&d->lock);
	if (off == 0 || !d->loaded)
		rc = dirh_load(fs, d, ino);
	for (size_t i = (size_t)off; rc == 0 && i < d->n; i++) {
		size_t sz = add_one(req, fs, ino, &d->v[i], plus, buf + used, size - used,
				    (off_t)(i + 1));

		if (sz == 0)
			break;
		if (sz != SIZE_MAX)
			used += sz;
	}
	pthread_mutex_unlock(&d->lock);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, buf, used);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, false);
}

static void do_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, true);
}

static void do_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	int rc = meta_sync(fs->meta);

	(void)ino;
	(void)datasync;
	(void)fi;
	if (rc < 0)
		log_err("fsyncdir: syncing metadata failed: %s", strerror(-rc));
	fuse_reply_err(req, -rc);
}

void fs_readdir_ops(struct fuse_lowlevel_ops *ops)
{
	ops->opendir = do_opendir;
	ops->releasedir = do_releasedir;
	ops->readdir = do_readdir;
	ops->readdirplus = do_readdirplus;
	ops->fsyncdir = do_fsyncdir;
}
