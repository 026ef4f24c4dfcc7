/* promote.c — publish a file or one of its versions under another name.
 *
 * setxattr user.aifs.promote=PATH makes PATH (from the mount root) a new
 * file that shares the content's extents: no byte is copied.  The name is
 * made by aifs, not by a syscall of the kernel's, so what the kernel cached
 * of the directory is invalidated.  The kernel checked only write
 * permission on the file; the daemon checks the rest as open(2) and
 * link(2) would (read permission on the content, search on the way,
 * write and search on the new name's directory).  The clone ioctl
 * (AIFS_IOC_CLONE, aifs_ioctl.h) does the same for aifsctl.
 */
#include "fs/access.h"
#include "fs/aifs_ioctl.h"
#include "fs/inval.h"
#include "fs/acl.h"
#include "fs/inode.h"
#include "fs/space.h"
#include "fs/extmap.h"
#include "fs/version.h"
#include "fs/ops.h"
#include "fs/clone.h"
#include "fs/xattr.h"

#include <errno.h>
#include <string.h>

/* Attributes of directory INO as they are now. */
static int dir_attr(struct fs *fs, uint64_t ino, struct meta_inode *a)
{
	struct inode *in;
	int rc = inode_get(fs, ino, &in);

	if (rc < 0)
		return rc;
	pthread_rwlock_rdlock(&in->lock);
	*a = in->attr;
	pthread_rwlock_unlock(&in->lock);
	inode_put(fs, in);
	return S_ISDIR(a->mode) ? 0 : -ENOTDIR;
}

/* Resolve PATH (relative to the mount root) to its parent directory and
 * last name as a path walk of caller C would: search permission on each
 * directory before a name is looked up in it (so that nothing is told
 * about the names of a directory C may not search), then write and
 * search permission on the parent.  No name is made in a journal area
 * but by writing it there (EPERM). */
static int resolve_parent(struct fs *fs, const struct access_cred *c, const char *path,
			  uint64_t *parent, char *name)
{
	char buf[4096], *save = NULL, *comp, *next;
	struct meta_inode a;
	uint64_t dir = META_ROOT_INO, ino;
	uint32_t type;
	int rc;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	comp = strtok_r(buf, "/", &save);
	if (!comp)
		return -EINVAL;
	pthread_rwlock_rdlock(&fs->ns);
	for (;;) {
		rc = dir_attr(fs, dir, &a);
		if (rc == 0)
			rc = acl_access_check(fs, c, &a, X_OK);
		next = rc == 0 ? strtok_r(NULL, "/", &save) : NULL;
		if (rc < 0 || !next)
			break;
		rc = meta_dentry_get(fs->meta, dir, comp, strlen(comp), &ino, &type);
		if (rc == 0 && type != S_IFDIR)
			rc = -ENOTDIR;
		if (rc < 0)
			break;
		dir = ino;
		comp = next;
	}
	pthread_rwlock_unlock(&fs->ns);
	if (rc == 0 && a.policy == META_AREA_JOURNAL)
		rc = -EPERM;
	if (rc == 0)
		rc = acl_access_check(fs, c, &a, W_OK | X_OK);
	if (rc == 0 && strlen(comp) > META_NAME_MAX)
		rc = -ENAMETOOLONG;
	if (rc < 0)
		return rc;
	strcpy(name, comp);
	*parent = dir;
	return 0;
}

/* 0 if C may read the content of IN. */
static int may_read(struct fs *fs, const struct access_cred *c, struct inode *in)
{
	struct meta_inode a;

	pthread_rwlock_rdlock(&in->lock);
	a = in->attr;
	pthread_rwlock_unlock(&in->lock);
	return acl_access_check(fs, c, &a, R_OK);
}

/* setxattr user.aifs.promote=PATH on a file or version: publish its
 * content as a new file at PATH (from the mount root) without copying. */
int fs_promote(struct fs *fs, fuse_req_t req, struct inode *src, const char *value, size_t size)
{
	char path[4096], name[META_NAME_MAX + 1];
	struct access_cred c;
	struct meta_batch *b;
	struct inode *in = NULL, *from = src;
	struct vrec v;
	uint64_t parent = 0;
	int rc;

	if ((!S_ISREG(src->attr.mode) && !S_ISDIR(src->attr.mode)) || size == 0 ||
	    size >= sizeof(path))
		return -EINVAL;
	memcpy(path, value, size);
	path[size] = 0;
	access_cred_get(req, &c);
	if (S_ISDIR(src->attr.mode)) {		/* a tree: clone.c */
		rc = resolve_parent(fs, &c, path, &parent, name);
		return rc < 0 ? rc : fs_clone_tree(fs, req, src, parent, name);
	}
	rc = may_read(fs, &c, src);		/* the kernel checked write permission only */
	if (rc < 0)
		return rc;
	if (version_tracked(src)) {	/* a checkpoint file: its newest complete version */
		rc = version_get(fs, src->ino, 0, &v, NULL);
		if (rc == 0)
			rc = inode_get(fs, v.vino, &from);
		if (rc < 0)
			return rc == -ENOENT ? -ENODATA : rc;
	}
	rc = from != src ? may_read(fs, &c, from) : 0;
	if (rc == 0)
		rc = resolve_parent(fs, &c, path, &parent, name);
	if (rc == 0)
		rc = fs_create_node(req, parent, name,
				    ((from->attr.mode & 0777) | 0200) & ~access_umask(req), &in);
	b = rc == 0 ? meta_batch_new() : NULL;
	if (rc == 0 && !b)
		rc = -ENOMEM;
	if (rc == 0) {
		struct meta_inode saved;

		pthread_rwlock_wrlock(&in->lock);
		saved = in->attr;
		space_defer_begin();	/* the copies count once committed */
		rc = fs_map_copy_from(fs, in, b, from->ino);
		if (rc == 0) {
			in->attr.flags |= META_IF_SHARED;	/* with FROM */
			in->attr.size = from->attr.size;
			if (!(in->attr.flags & META_IF_INLINE))
				in->attr.alloc = from->attr.alloc;
			inode_save(b, in);
			rc = fs_commit(fs, b, true);
		}
		space_defer_end(fs, rc == 0);
		if (rc < 0) {
			fs_content_reload(in);
			in->attr = saved;
		}
		pthread_rwlock_unlock(&in->lock);
	}
	meta_batch_free(b);
	if (in) {
		uint64_t ino = in->ino;

		inode_put(fs, in);
		if (rc < 0) {
			/* a promote that fails leaves no empty file behind */
			int r = fs_remove_entry(req, parent, name, false);

			if (r == 0)
				inval_delete(parent, ino, name, strlen(name));
			else
				log_err("promote into %s failed (%s) and removing its new empty "
					"file failed: %s (it is left)", name, strerror(-rc),
					strerror(-r));
		}
	}
	if (from != src)
		inode_put(fs, from);
	if (rc == 0) {
		/* The kernel did not make this name: drop what it cached of the
		 * directory (a miss, a listing), soon (inval.h). */
		inval_entry(parent, name, strlen(name));
		inval_inode(parent, 0, 0);
	}
	return rc;
}

/* ioctl AIFS_IOC_CLONE on an open file or directory (aifs_ioctl.h). */
static void do_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		     struct fuse_file_info *fi, unsigned flags, const void *in_buf,
		     size_t in_bufsz, size_t out_bufsz)
{
	struct fs *fs = fuse_req_userdata(req);
	struct aifs_clone_req r;
	struct inode *in;
	int rc;

	(void)arg;
	(void)fi;
	(void)flags;
	(void)out_bufsz;
	if (cmd != AIFS_IOC_CLONE) {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	if (in_bufsz != sizeof(r) || (ino & FS_VIRT_BIT)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	memcpy(&r, in_buf, sizeof(r));
	r.dest[sizeof(r.dest) - 1] = 0;
	rc = inode_get(fs, ino, &in);
	if (rc == 0) {
		rc = fs_promote(fs, req, in, r.dest, strlen(r.dest));
		inode_put(fs, in);
	}
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_ioctl(req, 0, NULL, 0);
}

void fs_ioctl_ops(struct fuse_lowlevel_ops *ops)
{
	ops->ioctl = do_ioctl;
}

/* Creates a file: takes the namespace lock, so not under SRC's. */
static int promote_set(struct fs *fs, fuse_req_t req, struct inode *src, const char *name,
		       const char *value, size_t size, int flags)
{
	(void)name;
	(void)flags;
	return fs_promote(fs, req, src, value, size);
}

const struct fs_xattr promote_xattrs[] = {
	{ "user.aifs.promote", "promote", 0, NULL, promote_set, NULL },
	{ NULL, NULL, 0, NULL, NULL, NULL },
};
