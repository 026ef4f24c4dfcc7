/* ops.c — FUSE handlers for attributes (the change itself: setattr.c) and
 * statfs, the session (init, destroy) and the table of every handler (open
 * files: file.c; the namespace: dir.c, rename.c, readdir.c; xattrs:
 * xattr.c; the clone ioctl: promote.c).
 *
 * Each handler replies exactly once.  Handlers that change an inode hold
 * its lock for writing until the change is committed to meta/.
 */
#include "fs/acl.h"
#include "fs/fs.h"
#include "fs/inode.h"
#include "fs/data.h"
#include "fs/prealloc.h"
#include "fs/space.h"
#include "fs/hooks.h"
#include "fs/virt.h"
#include "fs/ops.h"
#include "fs/setattr.h"


#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Reply with the attributes of IN (any lock state; takes it for reading). */
static void reply_attr(fuse_req_t req, struct fs *fs, struct inode *in)
{
	struct stat st;

	pthread_rwlock_rdlock(&in->lock);
	inode_stat(in, &st);
	pthread_rwlock_unlock(&in->lock);
	fuse_reply_attr(req, &st, fs_attr_timeout(fs, in));
}

static void do_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct inode *in;
	struct stat st;
	int rc;

	(void)fi;
	if (virt_is(ino)) {
		virt_stat(fs, ino, &st);
		fuse_reply_attr(req, &st, fs->opt.attr_timeout);
		return;
	}
	rc = inode_get(fs, ino, &in);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	reply_attr(req, fs, in);
	inode_put(fs, in);
}

static void do_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct meta_batch *b;
	struct meta_inode saved;
	struct inode *in;
	int rc = inode_get(fs, ino, &in);

	(void)fi;
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	b = meta_batch_new();
	if (!b) {
		inode_put(fs, in);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_rwlock_wrlock(&in->lock);
	saved = in->attr;
	if (in->attr.flags & META_IF_READONLY) {
		rc = -EROFS;
		goto unlock;
	}
	rc = fs_hook_may_change(fs, in);
	if (rc < 0)
		goto unlock;
	if ((to_set & FUSE_SET_ATTR_SIZE) && (uint64_t)attr->st_size > FS_MAX_SIZE) {
		rc = -EFBIG;
		goto unlock;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		struct fs_change c = { .what = FS_CHANGE_SIZE, .size = (uint64_t)attr->st_size };

		rc = fs_hook_change(fs, req, in, &c);
		/* buffered bytes are stored by a commit of their own: not deferred */
		if (rc == 0 && (uint64_t)attr->st_size < in->attr.size)
			rc = fs_flush(fs, in);
		if (rc < 0)
			goto unlock;
	}
	space_defer_begin();
	rc = fs_setattr_apply(fs, in, b, attr, to_set);
	if (rc == 0)
		rc = fs_commit(fs, b, false);
	space_defer_end(fs, rc == 0);
	if (rc < 0 && (to_set & FUSE_SET_ATTR_SIZE))
		fs_content_reload(in);
	if (rc < 0)
		in->attr = saved;
	else
		prealloc_apply(fs, in);
unlock:
	pthread_rwlock_unlock(&in->lock);
	meta_batch_free(b);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		reply_attr(req, fs, in);
	inode_put(fs, in);
}

/* Both tiers: a cold tier on another device adds its space. */
static void do_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fuse_req_userdata(req);
	struct tier_space sp, cold;
	struct statvfs st = { .f_bsize = 4096, .f_frsize = 4096, .f_namemax = META_NAME_MAX };
	int rc = tier_space(fs->tiers[TIER_HOT], &sp);

	(void)ino;
	if (rc == 0)
		rc = tier_space(fs->tiers[TIER_COLD], &cold);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (cold.dev != sp.dev) {
		sp.total += cold.total;
		sp.avail += cold.avail;
	}
	st.f_blocks = sp.total / 4096;
	/* as ext4 with its reserved blocks: f_bavail leaves out the reserve */
	st.f_bfree = prealloc_avail(fs, sp.avail) / 4096;
	st.f_bavail = prealloc_avail(fs, sp.avail > fs->reserve ? sp.avail - fs->reserve : 0) / 4096;
	st.f_files = 1ull << 32;
	st.f_ffree = st.f_favail = st.f_files - fs->next_ino;
	fuse_reply_statfs(req, &st);
}

/* --- session --------------------------------------------------------- */

static void do_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->max_write = FS_MAX_WRITE;
	conn->max_readahead = FS_MAX_WRITE;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_IOCTL_DIR)
		conn->want |= FUSE_CAP_IOCTL_DIR;	/* clone of a tree (aifs_ioctl.h) */
	/* The kernel enforces ACLs (default_permissions); with them it leaves
	 * the umask and ACL inheritance to the daemon (acl_inherit). */
	if ((conn->capable & FUSE_CAP_POSIX_ACL) && (conn->capable & FUSE_CAP_DONT_MASK))
		conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
}

static void do_destroy(void *userdata)
{
	struct fs *fs = userdata;

	if (!fs->opt.store_ro && fs_sync(fs, NULL) < 0)
		log_err("final sync at unmount failed");
}

const struct fuse_lowlevel_ops *fs_ops_table(void)
{
	static struct fuse_lowlevel_ops ops = {
		.init = do_init,
		.destroy = do_destroy,
		.getattr = do_getattr,
		.setattr = do_setattr,
		.statfs = do_statfs,
	};

	fs_file_ops(&ops);
	fs_dir_ops(&ops);
	fs_rename_ops(&ops);
	fs_readdir_ops(&ops);
	fs_xattr_ops(&ops);
	fs_ioctl_ops(&ops);
	return &ops;
}
