/* clone.c — a writable copy of a directory tree that shares its data.
 *
 * setxattr user.aifs.promote=PATH on a directory (a directory version, a
 * snapshot, or a live tree) makes PATH (from the mount root) a new tree
 * owned by the caller: directories, symbolic links, FIFOs and sockets are
 * made anew, and each regular file shares the source file's extents (no
 * byte is copied; either side's later writes are its own).  The source is
 * read as its files are now: a live file's buffered bytes are stored
 * first; a file being saved in a checkpoint area is copied as its name
 * serves it, its newest complete version.
 *
 * The caller needs what cp -r would need: read and search permission on
 * every directory of the source, read permission on every file, write and
 * search permission where the copy is made; all checked before anything is
 * made.  Hard links inside the source
 * become separate files; device nodes are not copied (cp -r as a user
 * cannot make them either): the copy counts and logs them.  A copy made
 * inside its own source does not copy itself.  A copy that
 * fails part way leaves what it made, which the caller removes; the error
 * says so.
 */
#include "fs/access.h"
#include "fs/aifs_ioctl.h"
#include "fs/acl.h"
#include "fs/clone.h"
#include "fs/inval.h"
#include "fs/inode.h"
#include "fs/data.h"
#include "fs/extmap.h"
#include "fs/version.h"
#include "fs/ops.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One entry of a source directory, read before anything is made. */
struct centry {
	char *name;
	uint64_t ino;
	uint32_t type;
};

struct clist {
	struct centry *e;
	size_t n, cap;
};

static int list_entry(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type)
{
	struct clist *l = ctx;

	if (l->n == l->cap) {
		size_t n = l->cap ? l->cap * 2 : 32;
		struct centry *e = realloc(l->e, n * sizeof(*e));

		if (!e)
			return -ENOMEM;
		l->e = e;
		l->cap = n;
	}
	l->e[l->n].name = strndup(name, len);
	if (!l->e[l->n].name)
		return -ENOMEM;
	l->e[l->n].ino = ino;
	l->e[l->n++].type = type;
	return 0;
}

static void clist_free(struct clist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->e[i].name);
	free(l->e);
}

/* Pairs (source directory, its copy) still to copy. */
struct cqueue {
	uint64_t *p;
	size_t n, cap;
};

static int enqueue(struct cqueue *q, uint64_t src, uint64_t dst)
{
	if (q->n + 2 > q->cap) {
		size_t n = q->cap ? q->cap * 2 : 32;
		uint64_t *p = realloc(q->p, n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		q->p = p;
		q->cap = n;
	}
	q->p[q->n++] = src;
	q->p[q->n++] = dst;
	return 0;
}

/* The attributes of INO as they are now, and whether C may ACCESS it. */
static int src_attr(struct fs *fs, const struct access_cred *c, uint64_t ino, int access,
		    struct meta_inode *a)
{
	struct inode *in;
	int rc = inode_get(fs, ino, &in);

	if (rc < 0)
		return rc;
	pthread_rwlock_rdlock(&in->lock);
	*a = in->attr;
	pthread_rwlock_unlock(&in->lock);
	inode_put(fs, in);
	return acl_access_check(fs, c, a, access);
}

/* The mode a copy is made with: the source's permission bits and the
 * owner's write bit (a version's files have none), less the umask. */
static uint32_t copy_mode(fuse_req_t req, const struct meta_inode *a)
{
	return ((a->mode & 0777) | 0200) & ~access_umask(req);
}

/* Make regular file NAME in DIR sharing the content of SRC. */
static int copy_file(struct fs *fs, fuse_req_t req, uint64_t dir, const char *name,
		     uint64_t src, const struct meta_inode *sa)
{
	struct inode *from = NULL, *in = NULL;
	struct meta_batch *b = NULL;
	struct vrec v;
	int rc = inode_get(fs, src, &from);

	if (rc == 0 && version_tracked(from) && from->sess && from->name_hidden &&
	    version_get(fs, from->ino, 0, &v, NULL) == 0) {
		/* being saved: its name serves its newest complete version */
		inode_put(fs, from);
		rc = inode_get(fs, v.vino, &from);
		if (rc < 0)
			from = NULL;
	}
	if (rc == 0) {
		/* a live file's buffered bytes are stored first */
		pthread_rwlock_wrlock(&from->lock);
		rc = from->attr.flags & META_IF_READONLY ? 0 : fs_flush(fs, from);
		pthread_rwlock_unlock(&from->lock);
	}
	if (rc == 0)
		rc = fs_make_node(req, dir, name, S_IFREG | copy_mode(req, sa), NULL, &in);
	b = rc == 0 ? meta_batch_new() : NULL;
	if (rc == 0 && !b)
		rc = -ENOMEM;
	if (rc == 0) {
		pthread_rwlock_rdlock(&from->lock);
		pthread_rwlock_wrlock(&in->lock);
		rc = fs_map_copy_from(fs, in, b, from->ino);
		if (rc == 0) {
			in->attr.flags |= META_IF_SHARED;
			in->attr.size = from->attr.size;
			if (!(in->attr.flags & META_IF_INLINE))
				in->attr.alloc = from->attr.alloc;
			inode_save(b, in);
			rc = fs_commit(fs, b, false);
		}
		if (rc < 0)
			fs_content_reload(in);
		pthread_rwlock_unlock(&in->lock);
		pthread_rwlock_unlock(&from->lock);
	}
	meta_batch_free(b);
	if (in)
		inode_put(fs, in);
	if (from)
		inode_put(fs, from);
	return rc;
}

/* Copy the entries of source directory SRC into DST (made by the caller). */
static int copy_dir(struct fs *fs, fuse_req_t req, const struct access_cred *c, uint64_t src,
		    uint64_t dst, uint64_t root, struct cqueue *q, uint64_t *skipped)
{
	struct clist l = { 0 };
	int rc = meta_dentry_foreach(fs->meta, src, NULL, 0, list_entry, &l);

	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		struct centry *e = &l.e[i];
		struct meta_inode a;
		struct inode *in = NULL;

		if (e->ino == root) {
			continue;	/* the copy, made inside its source */
		} else if (S_ISDIR(e->type)) {
			rc = src_attr(fs, c, e->ino, R_OK | X_OK, &a);
			if (rc == 0)
				rc = fs_make_node(req, dst, e->name,
						  S_IFDIR | copy_mode(req, &a) | 0100, NULL, &in);
			if (rc == 0)
				rc = enqueue(q, e->ino, in->ino);
		} else if (S_ISREG(e->type)) {
			rc = src_attr(fs, c, e->ino, R_OK, &a);
			if (rc == 0)
				rc = copy_file(fs, req, dst, e->name, e->ino, &a);
		} else if (S_ISLNK(e->type)) {
			char *t = NULL;
			size_t len;

			rc = meta_symlink_get(fs->meta, e->ino, &t, &len);
			if (rc == 0) {
				char *z = strndup(t, len);

				rc = z ? fs_make_node(req, dst, e->name, S_IFLNK | 0777, z, &in)
				       : -ENOMEM;
				free(z);
			}
			free(t);
		} else if (S_ISFIFO(e->type) || S_ISSOCK(e->type)) {
			rc = src_attr(fs, c, e->ino, 0, &a);
			if (rc == 0)
				rc = fs_make_node(req, dst, e->name, e->type | copy_mode(req, &a),
						  NULL, &in);
		} else {
			(*skipped)++;
		}
		if (in)
			inode_put(fs, in);
	}
	clist_free(&l);
	return rc;
}

/* May C read the whole tree at ROOT (directories read and search, files
 * read)?  Checked before anything is made, so that a refusal makes nothing. */
static int may_read_tree(struct fs *fs, const struct access_cred *c, uint64_t root)
{
	struct cqueue q = { 0 };
	int rc = enqueue(&q, root, 0);

	while (rc == 0 && q.n) {
		struct clist l = { 0 };
		uint64_t d;

		q.n--;
		d = q.p[--q.n];
		rc = meta_dentry_foreach(fs->meta, d, NULL, 0, list_entry, &l);
		for (size_t i = 0; rc == 0 && i < l.n; i++) {
			struct meta_inode a;

			if (S_ISDIR(l.e[i].type)) {
				rc = src_attr(fs, c, l.e[i].ino, R_OK | X_OK, &a);
				if (rc == 0)
					rc = enqueue(&q, l.e[i].ino, 0);
			} else if (S_ISREG(l.e[i].type)) {
				rc = src_attr(fs, c, l.e[i].ino, R_OK, &a);
			}
		}
		clist_free(&l);
	}
	free(q.p);
	return rc;
}

int fs_clone_tree(struct fs *fs, fuse_req_t req, struct inode *src, uint64_t parent,
		  const char *name)
{
	struct access_cred c;
	struct cqueue q = { 0 };
	struct meta_inode a;
	struct inode *root = NULL;
	uint64_t skipped = 0;
	int rc;

	access_cred_get(req, &c);
	rc = src_attr(fs, &c, src->ino, R_OK | X_OK, &a);
	if (rc == 0)
		rc = may_read_tree(fs, &c, src->ino);
	if (rc == 0)
		rc = fs_make_node(req, parent, name, S_IFDIR | copy_mode(req, &a) | 0100, NULL,
				  &root);
	if (rc == 0) {
		/* the kernel did not make this name (inval.h) */
		inval_entry(parent, name, strlen(name));
		inval_inode(parent, 0, 0);
		rc = enqueue(&q, src->ino, root->ino);
	}
	while (rc == 0 && q.n) {
		uint64_t d = q.p[--q.n], s = q.p[--q.n];

		rc = copy_dir(fs, req, &c, s, d, root->ino, &q, &skipped);
	}
	if (rc == 0 && skipped)
		log_info("clone of %llu into %s: %llu device nodes not copied",
			 (unsigned long long)src->ino, name, (unsigned long long)skipped);
	if (rc < 0 && root && !access_refusal(rc))
		log_err("clone of %llu into %s stopped part way: %s (what was made is left)",
			(unsigned long long)src->ino, name, strerror(-rc));
	if (root)
		inode_put(fs, root);
	free(q.p);
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

void fs_clone_ops(struct fuse_lowlevel_ops *ops)
{
	ops->ioctl = do_ioctl;
}
