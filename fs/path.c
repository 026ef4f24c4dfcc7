/* path.c — names and paths in the namespace, through the parents the inode
 * table knows (path.h).
 */
#include "fs/fs.h"
#include "fs/inode.h"
#include "fs/path.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Last known parent and attributes of inode INO. */
int fs_ino_parent(struct fs *fs, uint64_t ino, uint64_t *parent, struct meta_inode *a)
{
	struct inode *in;
	int rc = inode_get(fs, ino, &in);

	if (rc < 0)
		return rc;
	pthread_rwlock_rdlock(&in->lock);
	*parent = in->parent;
	*a = in->attr;
	pthread_rwlock_unlock(&in->lock);
	inode_put(fs, in);
	return 0;
}

struct findname {
	uint64_t ino;
	char name[META_NAME_MAX + 1];
};

static int name_cb(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type)
{
	struct findname *f = ctx;

	(void)type;
	if (ino != f->ino)
		return 0;
	memcpy(f->name, name, len);
	f->name[len] = 0;
	return 1;
}

/* Name of INO in directory DIR (a scan). */
int fs_name_in(struct fs *fs, uint64_t dir, uint64_t ino, char *name)
{
	struct findname f = { .ino = ino };
	int rc = meta_dentry_foreach(fs->meta, dir, NULL, 0, name_cb, &f);

	if (rc != 1)
		return rc < 0 ? rc : -ENOENT;
	strcpy(name, f.name);
	return 0;
}

int fs_dir_path(struct fs *fs, uint64_t ino, char *buf, size_t len)
{
	char tmp[4096], name[META_NAME_MAX + 1];
	size_t pos = sizeof(tmp) - 1;
	struct meta_inode a;
	uint64_t p;
	int depth = 0, rc;

	tmp[pos] = 0;
	while (ino != META_ROOT_INO) {
		size_t n;

		if (++depth > 1024)
			return -ELOOP;
		rc = fs_ino_parent(fs, ino, &p, &a);
		if (rc == 0 && (!p || (p & FS_VIRT_BIT)))
			rc = -ENOENT;
		if (rc == 0)
			rc = fs_name_in(fs, p, ino, name);
		if (rc < 0)
			return rc;
		n = strlen(name);
		if (n + 1 > pos)
			return -ENAMETOOLONG;
		pos -= n;
		memcpy(tmp + pos, name, n);
		tmp[--pos] = '/';
		ino = p;
	}
	snprintf(buf, len, "%s", tmp + pos + (pos < sizeof(tmp) - 1));
	return 0;
}
