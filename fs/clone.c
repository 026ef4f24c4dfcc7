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
#include "fs/acl.h"
#include "fs/clone.h"
#include "fs/inval.h"
#include "fs/inode.h"
#include "fs/space.h"
#include "fs/data.h"
#include "fs/extmap.h"
#include "fs/version.h"
#include "fs/ops.h"
#include "fs/content.h"
#include "fs/xattr.h"

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
	bool saving = false;
	int rc = inode_get(fs, src, &from);

	if (rc == 0 && version_tracked(from)) {
		pthread_rwlock_rdlock(&from->lock);
		saving = version_name_hidden(fs, from);
		pthread_rwlock_unlock(&from->lock);
	}
	if (saving && version_get(fs, from->ino, 0, &v, NULL) == 0) {
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
		space_defer_begin();	/* the copies count once committed */
		rc = fs_map_copy_from(fs, in, b, from->ino);
		if (rc == 0) {
			in->attr.flags |= META_IF_SHARED;
			in->attr.size = from->attr.size;
			if (!(in->attr.flags & META_IF_INLINE))
				in->attr.alloc = from->attr.alloc;
			inode_save(b, in);
			rc = fs_commit(fs, b, false);
		}
		space_defer_end(fs, rc == 0);
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

/* Copy entry E of a source directory into DST (its directories queued on
 * Q to be copied in turn); ROOT is the copy's root, never copied. */
static int copy_entry(struct fs *fs, fuse_req_t req, const struct access_cred *c, uint64_t dst,
		      const struct centry *e, uint64_t root, struct cqueue *q, uint64_t *skipped)
{
	struct meta_inode a;
	struct inode *in = NULL;
	int rc = 0;

	if (e->ino == root) {
		return 0;	/* the copy, made inside its source */
	} else if (S_ISDIR(e->type)) {
		rc = src_attr(fs, c, e->ino, R_OK | X_OK, &a);
		if (rc == 0)
			rc = fs_make_node(req, dst, e->name, S_IFDIR | copy_mode(req, &a) | 0100,
					  NULL, &in);
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

			rc = z ? fs_make_node(req, dst, e->name, S_IFLNK | 0777, z, &in) : -ENOMEM;
			free(z);
		}
		free(t);
	} else if (S_ISFIFO(e->type) || S_ISSOCK(e->type)) {
		rc = src_attr(fs, c, e->ino, 0, &a);
		if (rc == 0)
			rc = fs_make_node(req, dst, e->name, e->type | copy_mode(req, &a), NULL, &in);
	} else {
		(*skipped)++;
	}
	if (in)
		inode_put(fs, in);
	return rc;
}

/* Copy the directories queued on Q (pairs source, copy) and what is in them. */
static int copy_queued(struct fs *fs, fuse_req_t req, const struct access_cred *c,
		       struct cqueue *q, uint64_t root, uint64_t *skipped)
{
	int rc = 0;

	while (rc == 0 && q->n) {
		uint64_t dst = q->p[--q->n], src = q->p[--q->n];
		struct clist l = { 0 };

		rc = meta_dentry_foreach(fs->meta, src, NULL, 0, list_entry, &l);
		for (size_t i = 0; rc == 0 && i < l.n; i++)
			rc = copy_entry(fs, req, c, dst, &l.e[i], root, q, skipped);
		clist_free(&l);
	}
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

static int remove_tree(struct fs *fs, fuse_req_t req, uint64_t parent, const struct centry *e);

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
	if (rc == 0)
		rc = copy_queued(fs, req, &c, &q, root->ino, &skipped);
	if (rc == 0 && skipped)
		log_info("clone of %llu into %s: %llu device nodes not copied",
			 (unsigned long long)src->ino, name, (unsigned long long)skipped);
	if (rc < 0 && root) {
		/* a copy that fails part way leaves nothing: what it made goes */
		struct centry e = { (char *)name, root->ino, S_IFDIR };
		int r = remove_tree(fs, req, parent, &e);

		if (r < 0)
			log_err("clone of %llu into %s stopped part way: %s; removing what it "
				"made failed: %s (it is left)", (unsigned long long)src->ino, name,
				strerror(-rc), strerror(-r));
		else if (!access_refusal(rc))
			log_err("clone of %llu into %s stopped part way: %s (what it made is "
				"removed)", (unsigned long long)src->ino, name, strerror(-rc));
	}
	if (root)
		inode_put(fs, root);
	free(q.p);
	return rc;
}

/* --- restore of a directory version --------------------------------------- */

/* Is a regular file of the live tree at DIR being written? */
static int tree_busy(struct fs *fs, uint64_t dir)
{
	struct cqueue q = { 0 };
	int rc = enqueue(&q, dir, 0);

	while (rc == 0 && q.n) {
		struct clist l = { 0 };
		uint64_t d;

		q.n--;
		d = q.p[--q.n];
		rc = meta_dentry_foreach(fs->meta, d, NULL, 0, list_entry, &l);
		for (size_t i = 0; rc == 0 && i < l.n; i++) {
			struct inode *in;

			if (S_ISDIR(l.e[i].type)) {
				rc = enqueue(&q, l.e[i].ino, 0);
			} else if (S_ISREG(l.e[i].type) && inode_get(fs, l.e[i].ino, &in) == 0) {
				pthread_rwlock_rdlock(&in->lock);
				rc = in->nwriters || version_in_session(fs, in) ? -EBUSY : 0;
				pthread_rwlock_unlock(&in->lock);
				inode_put(fs, in);
			}
		}
		clist_free(&l);
	}
	free(q.p);
	return rc;
}

/* Remove entry E of live directory PARENT and all below it. */
static int remove_tree(struct fs *fs, fuse_req_t req, uint64_t parent, const struct centry *e)
{
	int rc = 0;

	if (S_ISDIR(e->type)) {
		struct clist l = { 0 };

		rc = meta_dentry_foreach(fs->meta, e->ino, NULL, 0, list_entry, &l);
		for (size_t i = 0; rc == 0 && i < l.n; i++)
			rc = remove_tree(fs, req, e->ino, &l.e[i]);
		clist_free(&l);
	}
	if (rc == 0)
		rc = fs_remove_entry(req, parent, e->name, S_ISDIR(e->type));
	if (rc == 0)	/* the kernel did not remove it (inval.h) */
		inval_delete(parent, e->ino, e->name, strlen(e->name));
	return rc;
}

/* Same content: sizes and SHA-256s equal. */
static bool same_content(struct fs *fs, uint64_t a, uint64_t b)
{
	uint8_t sa[32], sb[32];
	uint64_t za = 0, zb = 1;
	struct inode *in;
	int rc = 0;

	for (int i = 0; i < 2 && rc == 0; i++) {
		rc = inode_get(fs, i ? b : a, &in);
		if (rc < 0)
			break;
		pthread_rwlock_wrlock(&in->lock);
		*(i ? &zb : &za) = in->attr.size;
		rc = fs_flush(fs, in);
		if (rc == 0)
			rc = content_sha(fs, in, i ? sb : sa);
		pthread_rwlock_unlock(&in->lock);
		inode_put(fs, in);
	}
	return rc == 0 && za == zb && !memcmp(sa, sb, 32);
}

/* Make live file LIVE's content that of frozen file FROZEN, as a restore
 * of a version of it would (its next version). */
static int restore_file(struct fs *fs, fuse_req_t req, uint64_t live, uint64_t frozen)
{
	struct inode *in, *fin;
	struct vrec v = { .vino = frozen, .complete = 1 };
	int rc;

	if (same_content(fs, live, frozen))
		return 0;
	rc = inode_get(fs, frozen, &fin);
	if (rc < 0)
		return rc;
	pthread_rwlock_wrlock(&fin->lock);
	v.size = fin->attr.size;
	v.time = fin->attr.mtime;
	rc = content_sha(fs, fin, v.sha);
	pthread_rwlock_unlock(&fin->lock);
	inode_put(fs, fin);
	if (rc == 0)
		rc = inode_get(fs, live, &in);
	if (rc < 0)
		return rc;
	pthread_rwlock_wrlock(&in->lock);
	rc = version_tracked(in) ? version_restore_from(fs, req, in, &v) : -EINVAL;
	pthread_rwlock_unlock(&in->lock);
	if (rc == 0)
		inval_inode(live, 0, 0);	/* the kernel's pages are of the old content */
	inode_put(fs, in);
	return rc;
}

/* Make live directory LIVE hold what frozen directory FROZEN holds. */
static int restore_dir(struct fs *fs, fuse_req_t req, const struct access_cred *c,
		       uint64_t live, uint64_t frozen, uint64_t *skipped)
{
	struct clist l = { 0 }, f = { 0 };
	struct cqueue q = { 0 };
	size_t i = 0, j = 0;
	int rc = meta_dentry_foreach(fs->meta, live, NULL, 0, list_entry, &l);

	if (rc == 0)
		rc = meta_dentry_foreach(fs->meta, frozen, NULL, 0, list_entry, &f);
	while (rc == 0 && (i < l.n || j < f.n)) {
		int cmp = i == l.n ? 1 : j == f.n ? -1 : strcmp(l.e[i].name, f.e[j].name);

		if (cmp < 0) {			/* not in the version */
			rc = remove_tree(fs, req, live, &l.e[i++]);
		} else if (cmp > 0) {		/* only in the version */
			rc = copy_entry(fs, req, c, live, &f.e[j], 0, &q, skipped);
			if (rc == 0) {
				inval_entry(live, f.e[j].name, strlen(f.e[j].name));
				rc = copy_queued(fs, req, c, &q, 0, skipped);
			}
			j++;
		} else if (S_ISREG(l.e[i].type) && S_ISREG(f.e[j].type)) {
			rc = restore_file(fs, req, l.e[i++].ino, f.e[j++].ino);
		} else if (S_ISDIR(l.e[i].type) && S_ISDIR(f.e[j].type)) {
			rc = restore_dir(fs, req, c, l.e[i++].ino, f.e[j++].ino, skipped);
		} else {			/* another type: made anew */
			rc = remove_tree(fs, req, live, &l.e[i++]);
			if (rc == 0)
				continue;	/* then copied as only in the version */
		}
	}
	clist_free(&l);
	clist_free(&f);
	free(q.p);
	return rc;
}

static int restore_tree(struct fs *fs, fuse_req_t req, struct inode *dir, uint32_t n)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct access_cred c;
	struct meta_inode a;
	uint64_t skipped = 0;
	struct vrec v;
	int rc;

	if (!S_ISDIR(dir->attr.mode) || dir->attr.policy != META_AREA_CHECKPOINT ||
	    (dir->attr.flags & META_IF_READONLY))
		return -EINVAL;
	rc = version_get(fs, dir->ino, n, &v, NULL);
	if (rc < 0)
		return rc;
	access_cred_get(req, &c);
	rc = src_attr(fs, &c, v.vino, R_OK | X_OK, &a);
	if (rc == 0)
		rc = may_read_tree(fs, &c, v.vino);
	if (rc == 0)
		rc = tree_busy(fs, dir->ino);
	/* what the directory holds now stays as a version of its own */
	if (rc == 0)
		rc = version_dir_commit(fs, dir->ino, ctx->uid, ctx->pid);
	if (rc == 0)
		rc = restore_dir(fs, req, &c, dir->ino, v.vino, &skipped);
	if (rc == 0)
		rc = version_dir_commit(fs, dir->ino, ctx->uid, ctx->pid);
	else if (!access_refusal(rc) && rc != -EBUSY)
		log_err("directory %llu: restore of version %u stopped part way: %s (the "
			"version committed before it holds what was there)",
			(unsigned long long)dir->ino, n, strerror(-rc));
	return rc;
}

/* user.aifs.restore=N on a directory: commits, so not under DIR's lock. */
static int restore_set(struct fs *fs, fuse_req_t req, struct inode *dir, const char *name,
		       const char *value, size_t size, int flags)
{
	uint32_t n;
	int rc;

	(void)name;
	(void)flags;
	if (!S_ISDIR(dir->attr.mode))
		return FS_XATTR_PASS;
	rc = fs_xattr_u32(value, size, &n);
	return rc < 0 ? rc : restore_tree(fs, req, dir, n);
}

const struct fs_xattr clone_xattrs[] = {
	{ "user.aifs.restore", "directory restore", 0, NULL, restore_set, NULL },
	{ NULL, NULL, 0, NULL, NULL, NULL },
};
