/* rename.c — rename(2) and renameat2 (RENAME_NOREPLACE, RENAME_EXCHANGE)
 * within the namespace: under fs->ns held for writing, the inodes involved
 * locked in inode-number order, all records in one batch; what the rename
 * changed in memory is put back if the commit fails.  The history of a
 * checkpoint file (versions, pins) follows the name it is renamed over.
 */
#include "fs/dir_priv.h"
#include "fs/layouts.h"
#include "fs/access.h"
#include "fs/acl.h"
#include "fs/hooks.h"
#include "fs/inode.h"
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
	fuse_req_t req;
	fuse_ino_t parent, newparent;
	const char *name, *newname;
	unsigned flags;
	struct inode *p, *np, *src, *dst;
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

/* Apply the rename R (inodes locked) into B. */
static void rename_apply(struct meta_batch *b, struct rename_op *r)
{
	int64_t now = fs_now();
	bool sdir = S_ISDIR(r->src->attr.mode);

	if (r->flags & RENAME_EXCHANGE) {
		bool ddir = S_ISDIR(r->dst->attr.mode);

		meta_dentry_put(b, r->parent, r->name, strlen(r->name), r->dst->ino,
				r->dst->attr.mode & S_IFMT);
		if (sdir != ddir && r->p != r->np) {
			r->p->attr.nlink += sdir ? -1 : 1;
			r->np->attr.nlink += sdir ? 1 : -1;
		}
		r->dst->attr.ctime = now;
		if (ddir)
			r->dst->parent = r->parent;
		inode_save(b, r->dst);
	} else {
		meta_dentry_del(b, r->parent, r->name, strlen(r->name));
		if (r->dst) {
			drop_link(b, r->dst, now);
			if (S_ISDIR(r->dst->attr.mode))
				r->np->attr.nlink--;
		}
		if (sdir && r->p != r->np) {
			r->p->attr.nlink--;
			r->np->attr.nlink++;
		}
	}
	meta_dentry_put(b, r->newparent, r->newname, strlen(r->newname), r->src->ino,
			r->src->attr.mode & S_IFMT);
	r->src->attr.ctime = now;
	r->src->parent = r->newparent;
	r->p->attr.mtime = r->p->attr.ctime = now;
	r->np->attr.mtime = r->np->attr.ctime = now;
	inode_save(b, r->src);
	inode_save(b, r->p);
	if (r->np != r->p)
		inode_save(b, r->np);
}

/* What rename_apply changes in memory, to put back if the commit fails. */
struct rename_saved {
	struct meta_inode attr[4];
	uint64_t parent[4];
	bool purged[4];
};

static void rename_save(struct rename_op *r, struct rename_saved *s)
{
	for (int i = 0; i < 4; i++) {
		struct inode *in = (&r->p)[i];

		if (in) {
			s->attr[i] = in->attr;
			s->parent[i] = in->parent;
			s->purged[i] = in->purged;
		}
	}
}

static void rename_restore(struct rename_op *r, const struct rename_saved *s)
{
	for (int i = 0; i < 4; i++) {
		struct inode *in = (&r->p)[i];

		if (in) {
			in->attr = s->attr[i];
			in->parent = s->parent[i];
			in->purged = s->purged[i];
		}
	}
}

static int rename_load(struct fs *fs, struct rename_op *r)
{
	uint64_t sino, dino;
	uint32_t type;
	int rc;

	if (virt_is(r->parent) || virt_is(r->newparent))
		return -EROFS;
	rc = meta_dentry_get(fs->meta, r->parent, r->name, strlen(r->name), &sino, &type);
	if (rc == -ENOENT && fs_lookup_alias(fs, r->parent, r->name, &r->src) == 0)
		return -EROFS;		/* FILE@vN */
	if (rc < 0)
		return rc;
	rc = meta_dentry_get(fs->meta, r->newparent, r->newname, strlen(r->newname), &dino,
			     &type);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (rc == 0 && (r->flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (rc == -ENOENT && (r->flags & RENAME_EXCHANGE))
		return -ENOENT;
	if (rc == 0 && (rc = inode_get(fs, dino, &r->dst)) < 0)
		return rc;
	if ((rc = inode_get(fs, sino, &r->src)) < 0 ||
	    (rc = inode_get(fs, r->parent, &r->p)) < 0 ||
	    (rc = inode_get(fs, r->newparent, &r->np)) < 0)
		return rc;
	if ((r->p->attr.flags | r->np->attr.flags) & META_IF_READONLY)
		return -EROFS;
	/* A journal area holds only what was written there: nothing moves in
	 * from outside, so no one plants a file the log never saw. */
	if ((r->np->attr.policy == META_AREA_JOURNAL &&
	     r->src->attr.policy != META_AREA_JOURNAL) ||
	    (r->flags & RENAME_EXCHANGE && r->p->attr.policy == META_AREA_JOURNAL &&
	     r->dst->attr.policy != META_AREA_JOURNAL))
		return -EPERM;
	if ((rc = fs_hook_may_change(fs, r->src)) < 0 ||
	    (r->dst && (rc = fs_hook_may_change(fs, r->dst)) < 0))
		return rc;
	if (r->dst == r->src)
		return 1;		/* two links of one inode: nothing to do */
	r->inherit = r->dst && !(r->flags & RENAME_EXCHANGE) && version_tracked(r->src) &&
		     version_tracked(r->dst) && history_follows(r->req, r->dst);
	if (r->dst && !r->inherit && version_tracked(r->dst) &&
	    !((r->flags & RENAME_EXCHANGE) && version_tracked(r->src)) &&
	    r->dst->attr.nlink == 1 && version_file_held(fs, r->dst->ino))
		return -EBUSY;	/* replacing it would drop a held version */
	if (!alias_ok(r->np, r->newname) ||
	    (r->flags & RENAME_EXCHANGE && !alias_ok(r->p, r->name)))
		return -EINVAL;
	if (r->flags & RENAME_EXCHANGE)
		return 0;
	return rename_check(fs, r->src, r->dst);
}

static void do_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct fs *fs = fuse_req_userdata(req);
	struct rename_op r = { .req = req, .parent = parent, .newparent = newparent, .name = name,
			       .newname = newname, .flags = flags };
	struct rename_saved saved;
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
	lockset_add(&ls, r.p);
	lockset_add(&ls, r.np);
	lockset_add(&ls, r.src);
	lockset_add(&ls, r.dst);
	lockset_lock(&ls);
	rc = 0;
	if (r.inherit)
		rc = version_rename(fs, b, r.src->ino, r.dst->ino);	/* history follows the name */
	if (rc == 0 && r.dst && !(flags & RENAME_EXCHANGE) && journal_file(r.dst)) {
		rename_save(&r, &saved);
		rename_apply(b, &r);
		rc = journal_delete_begin(fs, req, r.dst, b);	/* the replaced file */
		if (rc == 0)
			rc = fs_commit(fs, b, false);
		journal_delete_end(fs, rc);
		if (rc < 0)
			rename_restore(&r, &saved);
	} else if (rc == 0) {
		rename_save(&r, &saved);
		rename_apply(b, &r);
		rc = fs_commit(fs, b, false);
		if (rc < 0)
			rename_restore(&r, &saved);
	}
	lockset_unlock(&ls);
out:
	pthread_rwlock_unlock(&fs->ns);
	/* A PyTorch distributed checkpoint is complete when its .metadata
	 * lands, a TensorFlow one when its state file does (layouts.c): the
	 * directory commits as one version. */
	if (rc == 0 && r.np && r.np->attr.policy == META_AREA_CHECKPOINT &&
	    layout_rename_commits(fs, newparent, newname))
		version_dir_commit(fs, newparent, fuse_req_ctx(req)->uid, fuse_req_ctx(req)->pid);
	for (int i = 0; i < 4; i++) {
		struct inode *in = (&r.p)[i];

		if (in)
			inode_put(fs, in);
	}
	meta_batch_free(b);
	fuse_reply_err(req, rc > 0 ? 0 : -rc);
}


void fs_rename_ops(struct fuse_lowlevel_ops *ops)
{
	ops->rename = do_rename;
}
