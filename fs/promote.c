/* promote.c — publish a file or one of its versions under another name.
 *
 * setxattr user.aifs.promote=PATH makes PATH (from the mount root) a new
 * file that shares the content's extents: no byte is copied.  The name is
 * made by aifs, not by a syscall of the kernel's, so what the kernel cached
 * of the directory is invalidated.
 */
#include "fs/fs.h"
#include "fs/inval.h"

#include <errno.h>
#include <string.h>

/* Resolve PATH (relative to the mount root) to its parent directory and
 * last name. */
static int resolve_parent(struct fs *fs, const char *path, uint64_t *parent, char *name)
{
	char buf[4096], *save = NULL, *c, *next;
	uint64_t dir = META_ROOT_INO, ino;
	uint32_t type;
	int rc;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	c = strtok_r(buf, "/", &save);
	if (!c)
		return -EINVAL;
	while ((next = strtok_r(NULL, "/", &save))) {
		rc = meta_dentry_get(fs->meta, dir, c, strlen(c), &ino, &type);
		if (rc < 0)
			return rc;
		if (type != S_IFDIR)
			return -ENOTDIR;
		dir = ino;
		c = next;
	}
	if (strlen(c) > META_NAME_MAX)
		return -ENAMETOOLONG;
	strcpy(name, c);
	*parent = dir;
	return 0;
}

/* setxattr user.aifs.promote=PATH on a file or version: publish its
 * content as a new file at PATH (from the mount root) without copying. */
int fs_promote(struct fs *fs, fuse_req_t req, struct inode *src, const char *value, size_t size)
{
	char path[4096], name[META_NAME_MAX + 1];
	struct meta_batch *b;
	struct inode *in = NULL, *from = src;
	struct vrec v;
	uint64_t parent = 0;
	int rc;

	if (!S_ISREG(src->attr.mode) || size == 0 || size >= sizeof(path))
		return -EINVAL;
	memcpy(path, value, size);
	path[size] = 0;
	if (version_tracked(src)) {	/* a checkpoint file: its newest complete version */
		rc = version_get(fs, src->ino, 0, &v, NULL);
		if (rc == 0)
			rc = inode_get(fs, v.vino, &from);
		if (rc < 0)
			return rc == -ENOENT ? -ENODATA : rc;
	}
	rc = resolve_parent(fs, path, &parent, name);
	if (rc == 0)
		rc = fs_create_node(req, parent, name, (from->attr.mode & 0777) | 0200, &in);
	b = rc == 0 ? meta_batch_new() : NULL;
	if (rc == 0 && !b)
		rc = -ENOMEM;
	if (rc == 0) {
		pthread_rwlock_wrlock(&in->lock);
		rc = fs_map_copy_from(fs, in, b, from->ino);
		if (rc == 0) {
			in->attr.size = from->attr.size;
			if (!(in->attr.flags & META_IF_INLINE))
				in->attr.alloc = from->attr.alloc;
			inode_save(b, in);
			rc = fs_commit(fs, b, true);
		}
		pthread_rwlock_unlock(&in->lock);
	}
	meta_batch_free(b);
	if (in)
		inode_put(fs, in);
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
