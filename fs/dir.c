/* dir.c — the namespace: lookup, create, link, unlink (rename: rename.c,
 * readdir: readdir.c).
 *
 * Every change of the namespace runs under fs->ns held for writing, so a
 * dentry read at the start of an operation is still true at its commit.
 * The inodes an operation changes are locked (lowest number first) until
 * their new attributes are committed, so a later save of the same inode
 * never lands before an earlier one.  All records of one operation go in
 * one batch.
 */
#include "fs/dir_priv.h"
#include "fs/access.h"
#include "fs/dirver.h"
#include "fs/acl.h"
#include "fs/hooks.h"
#include "fs/inode.h"
#include "fs/path.h"
#include "fs/space.h"
#include "fs/version.h"
#include "fs/snapshot.h"
#include "fs/journal.h"
#include "fs/virt.h"
#include "fs/ops.h"
#include "tier/failpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Snapshot trees never change: the kernel may keep their names and
 * attributes for a day (rmdir of the snapshot goes through the kernel,
 * which drops them), so a second epoch costs no LOOKUP or GETATTR. */
#define FS_FROZEN_TIMEOUT 86400.0

double fs_attr_timeout(const struct fs *fs, const struct inode *in)
{
	if ((in->attr.flags & META_IF_SNAPSHOT) && fs->opt.attr_timeout < FS_FROZEN_TIMEOUT)
		return FS_FROZEN_TIMEOUT;
	return fs->opt.attr_timeout;
}

void fs_entry(struct fs *fs, struct inode *in, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = in->ino;
	e->generation = 1;
	e->attr_timeout = fs_attr_timeout(fs, in);
	/* A version's name is not cached, so the kernel lets go of a pruned
	 * version (and its space) as soon as nobody uses it.  Nor is the name
	 * of a checkpoint file: what it serves changes when a write session
	 * starts (version_lookup), and each path lookup must ask (the kernel
	 * is not told to drop the name at once, inval.h). */
	e->entry_timeout = (in->attr.flags & META_IF_VERSION) || version_tracked(in) ? 0 :
		(in->attr.flags & META_IF_SNAPSHOT) ? fs_attr_timeout(fs, in) :
		fs->opt.entry_timeout;
	inode_stat(in, &e->attr);
}

/* Reply with IN as a new entry: counts one lookup, drops the handler ref. */
static void reply_entry(fuse_req_t req, struct fs *fs, struct inode *in)
{
	struct fuse_entry_param e;

	pthread_rwlock_rdlock(&in->lock);
	fs_entry(fs, in, &e);
	pthread_rwlock_unlock(&in->lock);
	inode_lookup_inc(fs, in, 1);
	if (fuse_reply_entry(req, &e) != 0)
		inode_forget(fs, in->ino, 1);	/* the kernel never got it */
	inode_put(fs, in);
}

/* "FILE@vN": the length of FILE and N, or 0 if NAME is not such a name. */
size_t fs_version_alias(const char *name, uint32_t *n)
{
	const char *at = strrchr(name, '@');
	char *end;
	unsigned long v;

	if (!at || at == name || at[1] != 'v' || at[2] < '1' || at[2] > '9')
		return 0;
	v = strtoul(at + 2, &end, 10);
	if (*end || v > UINT32_MAX)
		return 0;
	*n = (uint32_t)v;
	return (size_t)(at - name);
}

/* Look up the alias FILE@vN in checkpoint directory PARENT. */
int fs_lookup_alias(struct fs *fs, fuse_ino_t parent, const char *name,
			struct inode **out)
{
	struct inode *dir;
	struct vrec v;
	uint64_t ino;
	uint32_t n, type;
	size_t len = fs_version_alias(name, &n);
	int rc;

	if (!len)
		return -ENOENT;
	rc = inode_get(fs, parent, &dir);
	if (rc < 0)
		return rc;
	rc = dir->attr.policy == META_AREA_CHECKPOINT ? 0 : -ENOENT;
	inode_put(fs, dir);
	if (rc == 0)
		rc = meta_dentry_get(fs->meta, parent, name, len, &ino, &type);
	if (rc == 0)
		rc = version_get(fs, ino, n, &v, NULL);
	if (rc == 0)
		rc = inode_get(fs, v.vino, out);
	return rc;
}

static void do_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e;
	struct inode *in;
	uint64_t ino;
	uint32_t type;
	int rc;

	if (strlen(name) > META_NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	if (failpoint("lookup_slow", EAGAIN))
		sleep(2);	/* a lookup that waits, as on a busy lock */
	rc = virt_is(parent) ? virt_access(fs, req, parent, false) : 0;
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	rc = virt_lookup(fs, parent, name, &e, &in);
	if (rc == 0 && in) {
		in->parent = parent;	/* a snapshot or version: a view */
		reply_entry(req, fs, in);
		return;
	}
	if (rc == 0 || virt_is(parent)) {
		/* what the views show changes with commits: nothing cached,
		 * not even a miss */
		fuse_reply_entry(req, &e);
		return;
	}
	pthread_rwlock_rdlock(&fs->ns);
	rc = meta_dentry_get(fs->meta, parent, name, strlen(name), &ino, &type);
	if (rc == 0)
		rc = inode_get(fs, ino, &in);
	if (rc == -ENOENT)
		rc = fs_lookup_alias(fs, parent, name, &in);
	pthread_rwlock_unlock(&fs->ns);
	if (rc == -ENOENT) {
		uint32_t n;

		/* A missing FILE@vN may appear with the next commit: not cached. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs_version_alias(name, &n) ? 0 : fs->opt.entry_timeout;
		fuse_reply_entry(req, &e);	/* negative entry, cached */
		return;
	}
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	in->parent = parent;
	if (version_tracked(in))
		in = version_lookup(fs, in, parent, name);
	reply_entry(req, fs, in);
}

/* Make the attributes of a new inode in directory DIR for the caller. */
static void attr_init(fuse_req_t req, struct inode *dir, uint32_t mode, uint64_t rdev,
		      struct meta_inode *a)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	memset(a, 0, sizeof(*a));
	a->mode = mode;
	a->uid = ctx->uid;
	a->gid = ctx->gid;
	a->nlink = S_ISDIR(mode) ? 2 : 1;
	a->rdev = rdev;
	a->atime = a->mtime = a->ctime = a->btime = fs_now();
	a->policy = dir->attr.policy;
	if (dir->attr.mode & S_ISGID) {		/* BSD group semantics */
		a->gid = dir->attr.gid;
		if (S_ISDIR(mode))
			a->mode |= S_ISGID;
	}
}

/* Create NAME in PARENT with MODE; *OUT is referenced.  With FI, the new
 * file is also opened (create). */
static int make_node(fuse_req_t req, fuse_ino_t parent, const char *name, uint32_t mode,
		     uint64_t rdev, const char *target, struct inode **out)
{
	struct fs *fs = fuse_req_userdata(req);
	struct meta_inode a, saved;
	struct inode *dir = NULL, *in = NULL;
	struct meta_batch *b = NULL;
	char jdir[4096];
	uint64_t ino;
	uint32_t type;
	int rc = name_check(name);

	if (rc < 0)
		return rc;
	pthread_rwlock_wrlock(&fs->ns);
	rc = inode_get(fs, parent, &dir);
	if (rc < 0)
		goto out;
	rc = meta_dentry_get(fs->meta, parent, name, strlen(name), &ino, &type);
	if (rc == 0)
		rc = -EEXIST;
	if (rc != -ENOENT)
		goto out;
	b = meta_batch_new();
	if (!b) {
		rc = -ENOMEM;
		goto out;
	}
	if (dir->attr.flags & META_IF_READONLY) {
		rc = -EROFS;
		goto out;
	}
	if (!alias_ok(dir, name)) {
		rc = -EINVAL;
		goto out;
	}
	rc = space_meta_room(fs);
	if (rc < 0)
		goto out;
	if (dir->attr.policy == META_AREA_JOURNAL)	/* takes inode locks: before DIR's */
		journal_dir_path(fs, parent, jdir, sizeof(jdir));
	pthread_rwlock_wrlock(&dir->lock);
	saved = dir->attr;
	attr_init(req, dir, mode, rdev, &a);
	a.ino = fs_ino_alloc(fs);
	rc = acl_inherit(req, fs, dir, &a, b);
	if (rc < 0) {
		pthread_rwlock_unlock(&dir->lock);
		goto out;
	}
	if (target) {
		a.size = strlen(target);
		meta_symlink_put(b, a.ino, target, a.size);
	}
	meta_inode_put(b, &a);
	meta_dentry_put(b, parent, name, strlen(name), a.ino, mode & S_IFMT);
	dir->attr.mtime = dir->attr.ctime = a.ctime;
	if (S_ISDIR(mode))
		dir->attr.nlink++;
	inode_save(b, dir);
	rc = a.policy == META_AREA_JOURNAL ? journal_node_commit(fs, req, parent, jdir, name, &a, b) :
					     fs_commit(fs, b, false);
	if (rc < 0)
		dir->attr = saved;
	pthread_rwlock_unlock(&dir->lock);
	if (rc == 0) {
		in = inode_new(fs, &a);
		if (!in)
			rc = -ENOMEM;
		else
			in->parent = parent;
		if (in && journal_file(in))
			journal_created(req, in);
	}
out:
	pthread_rwlock_unlock(&fs->ns);
	if (dir)
		inode_put(fs, dir);
	meta_batch_free(b);
	*out = in;
	return rc;
}

static void do_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	struct fs *fs = fuse_req_userdata(req);
	struct inode *in;
	int rc;

	if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode) && !S_ISCHR(mode) &&
	    !S_ISBLK(mode)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	rc = make_node(req, parent, name, mode, rdev, NULL, &in);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	reply_entry(req, fs, in);
}

/* A snapshot of DS is a name made (or removed) in DS's .aifs/snapshots:
 * besides being DS's owner (snapshot.c), the caller needs the write and
 * search permission on DS that a name made in DS would need. */
static int snapshot_may(fuse_req_t req, uint64_t ds)
{
	struct fs *fs = fuse_req_userdata(req);
	struct access_cred c;

	access_cred_get(req, &c);
	return acl_check_ino(fs, &c, ds, W_OK | X_OK);
}

static void do_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fs *fs = fuse_req_userdata(req);
	struct inode *in;
	uint64_t ds, root;
	int rc;

	if (virt_snapshots_of(parent, &ds)) {	/* mkdir DS/.aifs/snapshots/TAG */
		rc = snapshot_may(req, ds);
		if (rc == 0)
			rc = snapshot_create(fs, ds, name, fuse_req_ctx(req)->uid, &root);
		if (rc == 0)
			rc = inode_get(fs, root, &in);
	} else {
		rc = make_node(req, parent, name, S_IFDIR | (mode & 07777), 0, NULL, &in);
	}

	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		reply_entry(req, fs, in);
}

static void do_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	struct inode *in;
	int rc;

	if (strlen(link) >= 4096) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	rc = make_node(req, parent, name, S_IFLNK | 0777, 0, link, &in);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		reply_entry(req, fs, in);
}

int fs_create_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		   struct inode **out)
{
	return make_node(req, parent, name, S_IFREG | (mode & 07777), 0, NULL, out);
}

int fs_make_node(fuse_req_t req, fuse_ino_t parent, const char *name, uint32_t mode,
		 const char *target, struct inode **out)
{
	return make_node(req, parent, name, mode, 0, target, out);
}

static void do_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fuse_req_userdata(req);
	char *t;
	size_t len;
	int rc = meta_symlink_get(fs->meta, ino, &t, &len);

	if (rc < 0) {
		fuse_reply_err(req, rc == -ENOENT ? EINVAL : -rc);
		return;
	}
	fuse_reply_readlink(req, t);
	free(t);
}

static int remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir)
{
	struct fs *fs = fuse_req_userdata(req);
	struct inode *pin = NULL, *in = NULL, **vheld = NULL;
	size_t nvheld = 0;
	struct meta_batch *b = NULL;
	struct lockset ls = { .n = 0 };
	struct meta_inode saved, psaved;
	bool purged, deferred = false;
	uint64_t ino;
	uint32_t type;
	int rc;

	if (strlen(name) > META_NAME_MAX)
		return -ENAMETOOLONG;
	if (virt_is(parent))
		return -EROFS;		/* versions and snapshots are read-only */
	pthread_rwlock_wrlock(&fs->ns);
	rc = meta_dentry_get(fs->meta, parent, name, strlen(name), &ino, &type);
	if (rc == -ENOENT && fs_lookup_alias(fs, parent, name, &in) == 0)
		rc = -EROFS;		/* FILE@vN */
	if (rc < 0)
		goto out;
	rc = inode_get(fs, parent, &pin);
	if (rc == 0)
		rc = inode_get(fs, ino, &in);
	if (rc < 0)
		goto out;
	if (pin->attr.flags & META_IF_READONLY) {
		rc = -EROFS;
		goto out;
	}
	rc = fs_hook_may_change(fs, in);
	if (rc < 0)
		goto out;
	if (version_tracked(in) && in->attr.nlink == 1 && version_file_held(fs, in->ino)) {
		rc = -EBUSY;		/* a version of it is on hold */
		goto out;
	}
	if (dir && !S_ISDIR(in->attr.mode)) {
		rc = -ENOTDIR;
		goto out;
	}
	if (!dir && S_ISDIR(in->attr.mode)) {
		rc = -EISDIR;
		goto out;
	}
	if (dir) {
		rc = meta_dir_empty(fs->meta, ino);
		if (rc == 1 && snapshot_foreach(fs, ino, any_snapshot, NULL) == 1)
			rc = 0;		/* its snapshots must be deleted first */
		if (rc <= 0) {
			/* a journal directory holding files is protected like them */
			rc = rc < 0 ? rc : in->attr.policy == META_AREA_JOURNAL ? -EPERM : -ENOTEMPTY;
			goto out;
		}
	}
	b = meta_batch_new();
	if (!b) {
		rc = -ENOMEM;
		goto out;
	}
	if (dir && in->attr.policy == META_AREA_CHECKPOINT && dirver_held(fs, ino)) {
		rc = -EBUSY;		/* a held version, as for a file */
		goto out;
	}
	space_defer_begin();	/* dropped versions' data is counted until committed */
	deferred = true;
	if (dir && in->attr.policy == META_AREA_CHECKPOINT) {
		rc = version_dir_drop_all(fs, b, ino, &vheld, &nvheld);
		if (rc < 0)
			goto out;
	}
	lockset_add(&ls, pin);
	lockset_add(&ls, in);
	lockset_lock(&ls);
	saved = in->attr;
	psaved = pin->attr;
	purged = in->purged;
	meta_dentry_del(b, parent, name, strlen(name));
	if (!inode_purge_at_unlink(fs, in, b))
		fs_drop_link(b, in, fs_now());
	else
		in->attr.ctime = fs_now();
	pin->attr.mtime = pin->attr.ctime = in->attr.ctime;
	if (dir)
		pin->attr.nlink--;
	inode_save(b, pin);
	if (journal_file(in)) {
		rc = journal_delete_begin(fs, req, in, b);	/* the deletion is a record */
		if (rc == 0)
			rc = fs_commit(fs, b, false);
		journal_delete_end(fs, rc);
	} else {
		rc = fs_commit(fs, b, false);
	}
	if (rc < 0) {		/* nothing was removed: the file keeps its space */
		in->attr = saved;
		in->purged = purged;
		pin->attr = psaved;
	}
	lockset_unlock(&ls);
out:
	if (deferred)
		space_defer_end(fs, rc == 0);
	pthread_rwlock_unlock(&fs->ns);
	for (size_t i = 0; i < nvheld; i++)
		inode_put(fs, vheld[i]);
	free(vheld);
	if (in)
		inode_put(fs, in);
	if (pin)
		inode_put(fs, pin);
	meta_batch_free(b);
	return rc;
}

int fs_remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir)
{
	return remove_entry(req, parent, name, dir);
}

static void do_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -remove_entry(req, parent, name, false));
}

static void do_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	uint64_t ds;
	int rc;

	if (virt_snapshots_of(parent, &ds)) {	/* rmdir DS/.aifs/snapshots/TAG */
		rc = snapshot_may(req, ds);
		if (rc == 0)
			rc = snapshot_delete(fs, ds, name, fuse_req_ctx(req)->uid);
		fuse_reply_err(req, -rc);
	} else {
		fuse_reply_err(req, -remove_entry(req, parent, name, true));
	}
}

static void do_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	struct fs *fs = fuse_req_userdata(req);
	struct inode *in = NULL, *pin = NULL;
	struct meta_batch *b = NULL;
	struct lockset ls = { .n = 0 };
	struct meta_inode saved, psaved;
	bool purged;
	uint64_t other;
	uint32_t type;
	int rc = name_check(newname);

	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_rwlock_wrlock(&fs->ns);
	rc = meta_dentry_get(fs->meta, newparent, newname, strlen(newname), &other, &type);
	if (rc == 0)
		rc = -EEXIST;
	if (rc != -ENOENT)
		goto out;
	rc = inode_get(fs, ino, &in);
	if (rc == 0)
		rc = inode_get(fs, newparent, &pin);
	if (rc < 0)
		goto out;
	if (S_ISDIR(in->attr.mode) || (in->attr.flags & META_IF_READONLY) ||
	    (pin->attr.flags & META_IF_READONLY)) {
		rc = S_ISDIR(in->attr.mode) ? -EPERM : -EROFS;
		goto out;
	}
	if (!alias_ok(pin, newname)) {
		rc = -EINVAL;
		goto out;
	}
	if (pin->attr.policy == META_AREA_JOURNAL && in->attr.policy != META_AREA_JOURNAL) {
		rc = -EPERM;		/* a journal area holds only what was written there */
		goto out;
	}
	b = meta_batch_new();
	if (!b) {
		rc = -ENOMEM;
		goto out;
	}
	lockset_add(&ls, in);
	lockset_add(&ls, pin);
	lockset_lock(&ls);
	saved = in->attr;
	psaved = pin->attr;
	purged = in->purged;
	if (in->attr.nlink == 0)
		meta_orphan_del(b, in->ino);
	in->attr.nlink++;
	in->attr.ctime = pin->attr.mtime = pin->attr.ctime = fs_now();
	meta_dentry_put(b, newparent, newname, strlen(newname), in->ino,
			in->attr.mode & S_IFMT);
	inode_save(b, in);
	inode_save(b, pin);
	rc = fs_commit(fs, b, false);
	if (rc < 0) {
		in->attr = saved;
		in->purged = purged;
		pin->attr = psaved;
	}
	lockset_unlock(&ls);
out:
	pthread_rwlock_unlock(&fs->ns);
	if (pin)
		inode_put(fs, pin);
	meta_batch_free(b);
	if (rc < 0) {
		if (in)
			inode_put(fs, in);
		fuse_reply_err(req, -rc);
		return;
	}
	reply_entry(req, fs, in);
}

static void do_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = fuse_req_userdata(req);

	inode_forget(fs, ino, nlookup);
	fuse_reply_none(req);
}

static void do_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *v)
{
	struct fs *fs = fuse_req_userdata(req);

	for (size_t i = 0; i < count; i++)
		inode_forget(fs, v[i].ino, v[i].nlookup);
	fuse_reply_none(req);
}

void fs_dir_ops(struct fuse_lowlevel_ops *ops)
{
	ops->lookup = do_lookup;
	ops->forget = do_forget;
	ops->forget_multi = do_forget_multi;
	ops->mknod = do_mknod;
	ops->mkdir = do_mkdir;
	ops->symlink = do_symlink;
	ops->readlink = do_readlink;
	ops->unlink = do_unlink;
	ops->rmdir = do_rmdir;
	ops->link = do_link;
}
