/* setattr.c — a change of attributes (size, owner, mode, times) applied to
 * an inode and put in a batch: the setattr handler's (ops.c) and an open
 * with O_TRUNC's (file.c).
 */
#include "fs/acl.h"
#include "fs/commit.h"
#include "fs/data.h"
#include "fs/fs.h"
#include "fs/fuseapi.h"
#include "fs/inode.h"
#include "fs/prealloc.h"
#include "fs/setattr.h"

#include <errno.h>

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

int fs_setattr_apply(struct fs *fs, struct inode *in, struct meta_batch *b,
		     const struct stat *attr, int to_set)
{
	struct meta_inode *a = &in->attr;
	int64_t now = fs_now();
	int rc;

	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (!S_ISREG(a->mode))
			return S_ISDIR(a->mode) ? -EISDIR : -EINVAL;
		if ((uint64_t)attr->st_size > FS_MAX_SIZE)
			return -EFBIG;
		if ((uint64_t)attr->st_size < a->size) {
			rc = fs_punch(fs, in, b, attr->st_size, UINT64_MAX);
			if (rc < 0)
				return rc;
		}
		prealloc_trim(in, b, attr->st_size);
		a->size = attr->st_size;
		a->mtime = now;
		a->generation++;
	}
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		bool changed = ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != a->uid) ||
			       ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != a->gid);

		if (to_set & FUSE_SET_ATTR_UID)
			a->uid = attr->st_uid;
		if (to_set & FUSE_SET_ATTR_GID)
			a->gid = attr->st_gid;
		/* As the kernel does for local filesystems: a new owner does
		 * not inherit set-id powers (the kernel usually sends the mode
		 * change itself; this covers a chown without it). */
		if (changed && !S_ISDIR(a->mode) && !(to_set & FUSE_SET_ATTR_MODE)) {
			a->mode &= ~S_ISUID;
			if (a->mode & S_IXGRP)
				a->mode &= ~S_ISGID;
		}
	}
	if (to_set & FUSE_SET_ATTR_MODE) {
		a->mode = (a->mode & S_IFMT) | (attr->st_mode & 07777);
		rc = acl_chmod(fs, in, b);	/* the kernel leaves the ACL mask to us */
		if (rc < 0)
			return rc;
	}
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		a->atime = now;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		a->atime = ts_ns(&attr->st_atim);
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		a->mtime = now;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		a->mtime = ts_ns(&attr->st_mtim);
	a->ctime = (to_set & FUSE_SET_ATTR_CTIME) ? ts_ns(&attr->st_ctim) : now;
	inode_save(b, in);
	return 0;
}
