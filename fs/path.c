/* path.c — names and paths in the namespace, through the parents the inode
 * table knows, and the records of a rename and of a dropped link (path.h).
 */
#include "fs/fs.h"
#include "fs/hooks.h"
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

void fs_drop_link(struct meta_batch *b, struct inode *in, int64_t now)
{
	if (S_ISDIR(in->attr.mode))
		in->attr.nlink = 0;
	else if (in->attr.nlink > 0)
		in->attr.nlink--;
	in->attr.ctime = now;
	if (in->attr.nlink == 0)
		meta_orphan_put(b, in->ino);
	inode_save(b, in);
}

/* R's inodes, in the order of its saved[] (NULL for no DST). */
static void rename_inodes(const struct fs_rename *r, struct inode *v[4])
{
	v[0] = r->p;
	v[1] = r->np;
	v[2] = r->src;
	v[3] = r->dst;
}

int fs_rename_allowed(struct fs *fs, const struct fs_rename *r)
{
	int rc;

	if ((r->p->attr.flags | r->np->attr.flags) & META_IF_READONLY)
		return -EROFS;
	/* A journal area holds only what was written there: nothing moves in
	 * from outside, so no one plants a file the log never saw. */
	if ((r->np->attr.policy == META_AREA_JOURNAL &&
	     r->src->attr.policy != META_AREA_JOURNAL) ||
	    (r->exchange && r->p->attr.policy == META_AREA_JOURNAL &&
	     r->dst->attr.policy != META_AREA_JOURNAL))
		return -EPERM;
	if ((rc = fs_hook_may_change(fs, r->src)) < 0 ||
	    (r->dst && (rc = fs_hook_may_change(fs, r->dst)) < 0))
		return rc;
	return r->dst == r->src;
}

void fs_rename_apply(struct meta_batch *b, struct fs_rename *r)
{
	int64_t now = fs_now();
	bool sdir = S_ISDIR(r->src->attr.mode);
	struct inode *v[4];

	rename_inodes(r, v);
	for (int i = 0; i < 4; i++)
		if (v[i]) {
			r->saved[i].attr = v[i]->attr;
			r->saved[i].parent = v[i]->parent;
			r->saved[i].purged = v[i]->purged;
		}
	if (r->exchange) {
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
			fs_drop_link(b, r->dst, now);
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

void fs_rename_undo(struct fs_rename *r)
{
	struct inode *v[4];

	rename_inodes(r, v);
	for (int i = 0; i < 4; i++)
		if (v[i]) {
			v[i]->attr = r->saved[i].attr;
			v[i]->parent = r->saved[i].parent;
			v[i]->purged = r->saved[i].purged;
		}
}
