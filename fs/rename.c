/* rename.c — rename(2) and renameat2 (RENAME_NOREPLACE, RENAME_EXCHANGE)
 * within the namespace: under fs->ns held for writing, the inodes involved
 * locked in inode-number order, all records in one batch, which the core
 * makes (fs_rename_apply, path.h); what the rename changed in memory is
 * put back if the commit fails.  The history of a checkpoint file
 * (versions, pins) follows the name it is renamed over.
 */
#include "fs/dir_priv.h"
#include "fs/layouts.h"
#include "fs/access.h"
#include "fs/acl.h"
#include "fs/hooks.h"
#include "fs/inode.h"
#include "fs/path.h"
#include "fs/version.h"
#include "fs/snapshot.h"
#include "fs/journal.h"
#include "fs/virt.h"

#include <errno.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>

/* Check that DST (maybe NULL) may be replaced by SRC in a rename. */
static int rename_check(struct fs *fs, struct inode *src, struct inode *dst)
{
	int rc;

	if (!dst)
		return 0;
	if (S_ISDIR(src->attr.mode) && !S_ISDIR(dst->attr.mode))
		return -ENOTDIR;
	if (!S_ISDIR(src->attr.mode) && S_ISDIR(dst->attr.mode))
		return -EISDIR;
	if (S_ISDIR(dst->attr.mode)) {
		rc = meta_dir_empty(fs->meta, dst->ino);
		if (rc == 1 && snapshot_foreach(fs, dst->ino, any_snapshot, NULL) == 1)
			rc = 0;
		if (rc <= 0)
			return rc == 0 ? -ENOTEMPTY : rc;
	}
	return 0;
}

struct rename_op {
	struct fs_rename n;	/* the rename, as the core applies it */
	fuse_req_t req;
	unsigned flags;
	bool inherit;		/* DST's versions continue on SRC */
};

/* History follows a name over a rename only for a caller who owned, or
 * could read, the file replaced: else its versions would become readable
 * and restorable by someone the file itself never let read them. */
static bool history_follows(fuse_req_t req, struct inode *dst)
{
	struct fs *fs = fuse_req_userdata(req);
	struct access_cred c;
	struct meta_inode a;

	pthread_rwlock_rdlock(&dst->lock);
	a = dst->attr;
	pthread_rwlock_unlock(&dst->lock);
	if (access_req_owner(req, &a))
		return true;
	access_cred_get(req, &c);
	return acl_access_check(fs, &c, &a, R_OK) == 0;
}

static int rename_load(struct fs *fs, struct rename_op *r)
{
	uint64_t sino, dino;
	uint32_t type;
	int rc;

	if (virt_is(r->n.parent) || virt_is(r->n.newparent))
		return -EROFS;
	rc = meta_dentry_get(fs->meta, r->n.parent, r->n.name, strlen(r->n.name), &sino, &type);
	if (rc == -ENOENT && fs_lookup_alias(fs, r->n.parent, r->n.name, &r->n.src) == 0)
		return -EROFS;		/* FILE@vN */
	if (rc < 0)
		return rc;
	rc = meta_dentry_get(fs->meta, r->n.newparent, r->n.newname, strlen(r->n.newname), &dino,
			     &type);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (rc == 0 && (r->flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (rc == -ENOENT && (r->flags & RENAME_EXCHANGE))
		return -ENOENT;
	if (rc == 0 && (rc = inode_get(fs, dino, &r->n.dst)) < 0)
		return rc;
	if ((rc = inode_get(fs, sino, &r->n.src)) < 0 ||
	    (rc = inode_get(fs, r->n.parent, &r->n.p)) < 0 ||
	    (rc = inode_get(fs, r->n.newparent, &r->n.np)) < 0)
		return rc;
	rc = fs_rename_allowed(fs, &r->n);
	if (rc != 0)
		return rc;		/* 1: two links of one inode, nothing to do */
	r->inherit = r->n.dst && !(r->flags & RENAME_EXCHANGE) && version_tracked(r->n.src) &&
		     version_tracked(r->n.dst) && history_follows(r->req, r->n.dst);
	if (r->n.dst && !r->inherit && version_tracked(r->n.dst) &&
	    !((r->flags & RENAME_EXCHANGE) && version_tracked(r->n.src)) &&
	    r->n.dst->attr.nlink == 1 && version_file_held(fs, r->n.dst->ino))
		return -EBUSY;	/* replacing it would drop a held version */
	if (!alias_ok(r->n.np, r->n.newname) ||
	    (r->flags & RENAME_EXCHANGE && !alias_ok(r->n.p, r->n.name)))
		return -EINVAL;
	if (r->flags & RENAME_EXCHANGE)
		return 0;
	return rename_check(fs, r->n.src, r->n.dst);
}

/* Drop the references rename_load took. */
static void rename_put(struct fs *fs, struct fs_rename *n)
{
	struct inode *v[4] = { n->p, n->np, n->src, n->dst };

	for (int i = 0; i < 4; i++)
		if (v[i])
			inode_put(fs, v[i]);
}

static void do_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct fs *fs = fuse_req_userdata(req);
	struct rename_op r = { .req = req, .flags = flags,
			       .n = { .parent = parent, .newparent = newparent, .name = name,
				      .newname = newname, .exchange = flags & RENAME_EXCHANGE } };
	struct meta_batch *b = NULL;
	struct lockset ls = { .n = 0 };
	int rc;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	rc = name_check(newname);
	if (rc == 0 && strlen(name) > META_NAME_MAX)
		rc = -ENAMETOOLONG;
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_rwlock_wrlock(&fs->ns);
	rc = rename_load(fs, &r);
	if (rc != 0)
		goto out;
	b = meta_batch_new();
	if (!b) {
		rc = -ENOMEM;
		goto out;
	}
	lockset_add(&ls, r.n.p);
	lockset_add(&ls, r.n.np);
	lockset_add(&ls, r.n.src);
	lockset_add(&ls, r.n.dst);
	lockset_lock(&ls);
	rc = 0;
	if (r.inherit)
		rc = version_rename(fs, b, r.n.src->ino, r.n.dst->ino);	/* history follows the name */
	if (rc == 0) {
		bool jdel = r.n.dst && !r.n.exchange && journal_file(r.n.dst);

		fs_rename_apply(b, &r.n);
		if (jdel)
			rc = journal_delete_begin(fs, req, r.n.dst, b);	/* the replaced file */
		if (rc == 0)
			rc = fs_commit(fs, b, false);
		if (jdel)
			journal_delete_end(fs, rc);
		if (rc < 0)
			fs_rename_undo(&r.n);
	}
	lockset_unlock(&ls);
out:
	pthread_rwlock_unlock(&fs->ns);
	/* A PyTorch distributed checkpoint is complete when its .metadata
	 * lands, a TensorFlow one when its state file does (layouts.c): the
	 * directory commits as one version. */
	if (rc == 0 && r.n.np && r.n.np->attr.policy == META_AREA_CHECKPOINT &&
	    layout_rename_commits(fs, newparent, newname))
		version_dir_commit(fs, newparent, fuse_req_ctx(req)->uid, fuse_req_ctx(req)->pid);
	rename_put(fs, &r.n);
	meta_batch_free(b);
	fuse_reply_err(req, rc > 0 ? 0 : -rc);
}


void fs_rename_ops(struct fuse_lowlevel_ops *ops)
{
	ops->rename = do_rename;
}
