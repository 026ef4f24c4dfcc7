/* fwdops.c — the FUSE handlers of a follower's mount (fwd.h): those that
 * only read are the base table's; those that change forward what the
 * areas allow (fwd.c) and refuse the rest with EROFS.  A handle of a write
 * session has FH_STAGED set in fi->fh; a file made here and not yet by the
 * writer has a node id of its session (fwd_is_node), whose name and
 * attributes the kernel never caches.
 */
#include "fs/fs.h"
#include "fs/fwd.h"
#include "fs/fwd_priv.h"
#include "fs/follow.h"
#include "fs/inode.h"
#include "fs/inval.h"
#include "fs/data.h"
#include "fs/extmap.h"
#include "fs/lineage.h"
#include "fs/path.h"
#include "fs/virt.h"
#include "fs/ops.h"
#include "meta/keys.h"
#include "tier/radosmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Copy IN's content into S's staged file (an open without O_TRUNC). */
static int stage_copy(struct fs *fs, struct fsess *s, struct inode *in)
{
	char *buf = malloc(COPY_CHUNK);
	uint64_t off = 0;
	int rc = buf ? 0 : -ENOMEM;

	pthread_rwlock_wrlock(&in->lock);
	if (rc == 0)
		rc = fs_map_load(fs, in);
	while (rc == 0 && off < in->attr.size) {
		size_t got = 0;

		rc = fs_read(fs, in, buf, COPY_CHUNK, off, &got);
		if (rc == 0 && !got)
			break;
		if (rc == 0 && pwrite(s->fd, buf, got, (off_t)off) != (ssize_t)got)
			rc = -EIO;
		off += got;
	}
	pthread_rwlock_unlock(&in->lock);
	free(buf);
	s->size = off;
	return rc;
}

/* ---- handlers ---------------------------------------------------------------- */

static void sess_entry(struct fsess *s, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = s->node;
	e->generation = 1;
	fwd_sess_stat(s, &e->attr);		/* nothing cached: the writer makes the file */
}

static void fw_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fsess *s = virt_is(parent) ? NULL : fwd_sess_find_name(parent, name);
	struct fuse_entry_param e;

	if (!s) {
		FW.base->lookup(req, parent, name);
		return;
	}
	sess_entry(s, &e);
	fwd_sess_put(s);
	fuse_reply_entry(req, &e);
}

static void fw_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	if (fwd_is_node(ino))
		fuse_reply_none(req);	/* a session's node: nothing counted */
	else
		FW.base->forget(req, ino, nlookup);
}

static void fw_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *v)
{
	size_t n = 0;

	for (size_t i = 0; i < count; i++)
		if (!fwd_is_node(v[i].ino))
			v[n++] = v[i];
	FW.base->forget_multi(req, n, v);
}

static void fw_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fsess *s = virt_is(ino) ? NULL : fwd_sess_find_node(ino);
	struct stat st;

	if (!s) {
		if (fwd_is_node(ino))
			fuse_reply_err(req, ESTALE);
		else
			FW.base->getattr(req, ino, fi);
		return;
	}
	if (fwd_is_node(ino)) {
		fwd_sess_stat(s, &st);
	} else {
		struct inode *in;
		int rc = inode_get(fs, ino, &in);

		if (rc < 0) {
			fwd_sess_put(s);
			fuse_reply_err(req, -rc);
			return;
		}
		pthread_rwlock_rdlock(&in->lock);
		inode_stat(in, &st);
		pthread_rwlock_unlock(&in->lock);
		inode_put(fs, in);
		pthread_mutex_lock(&s->lock);
		st.st_size = (off_t)(s->journal ? s->base + s->size : s->size);
		pthread_mutex_unlock(&s->lock);
	}
	fwd_sess_put(s);
	fuse_reply_attr(req, &st, 0);
}

static void fw_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct fsess *s = fwd_fh_sess(fi);
	struct stat st;
	int rc = 0;

	if (s) {
		pthread_mutex_lock(&FW.lock);
		s->refs++;
		pthread_mutex_unlock(&FW.lock);
	} else if (!virt_is(ino)) {
		s = fwd_sess_find_node(ino);
	}
	if (!s) {
		fuse_reply_err(req, EROFS);
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))
		rc = -EROFS;
	else if ((to_set & FUSE_SET_ATTR_SIZE) && s->journal)
		rc = -EPERM;		/* journal files are only appended to */
	else if (to_set & FUSE_SET_ATTR_SIZE)
		rc = ftruncate(s->fd, attr->st_size) < 0 ? -errno : 0;
	if (rc == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
		s->size = (uint64_t)attr->st_size;
		s->dirty = true;
	}
	if (rc == 0 && (to_set & FUSE_SET_ATTR_MODE))
		s->mode = attr->st_mode & 07777;	/* of the file the writer makes */
	s->mtime = fs_now();
	pthread_mutex_unlock(&s->lock);
	fwd_sess_stat(s, &st);
	if (!fwd_is_node(ino))
		st.st_ino = ino;
	fwd_sess_put(s);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, 0);
}

static bool writes(const struct fuse_file_info *fi)
{
	return (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
}

/* A session's handle to the kernel: direct I/O (the kernel keeps no pages
 * of staged bytes). */
static void reply_sess_open(fuse_req_t req, struct fsess *s, struct fuse_file_info *fi)
{
	fi->fh = (uintptr_t)s | FH_STAGED;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi) != 0) {
		pthread_mutex_lock(&FW.lock);
		s->handles--;
		pthread_mutex_unlock(&FW.lock);
		if (!s->handles)
			fwd_sess_unlink(s);
		fwd_sess_put(s);
	}
}

static void fw_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fsess *s = NULL;
	struct caller who;
	struct meta_inode a;
	struct inode *in = NULL;
	char path[4096];
	int rc;

	if (fwd_is_node(ino)) {	/* another open of a file being made here */
		s = fwd_sess_find_node(ino);
		if (!s) {
			fuse_reply_err(req, ESTALE);
			return;
		}
		pthread_mutex_lock(&FW.lock);
		s->handles++;
		pthread_mutex_unlock(&FW.lock);
		reply_sess_open(req, s, fi);
		return;
	}
	if (virt_is(ino) || !writes(fi)) {
		if (!virt_is(ino) && (fi->flags & O_ACCMODE) != O_WRONLY &&
		    inode_get(fs, ino, &in) == 0) {
			fwd_note_read(req, in);
			inode_put(fs, in);
		}
		FW.base->open(req, ino, fi);
		return;
	}
	rc = fwd_area_of(ino, &a);
	if (rc == 0 && !S_ISREG(a.mode))
		rc = -EISDIR;
	if (rc == 0 && a.policy == META_AREA_JOURNAL && (a.flags & META_IF_SEALED))
		rc = -EPERM;		/* sealed: never written again */
	if (rc == 0 && a.policy == META_AREA_JOURNAL && (fi->flags & O_TRUNC) && a.size)
		rc = -EPERM;
	if (rc == 0)
		rc = fwd_path_of(ino, path, sizeof(path));
	if (rc == 0) {
		struct fwd_req r = { .op = FWD_CHECK, .path = path, .flags = (uint32_t)fi->flags };

		fwd_caller_of(req, &who);
		rc = fwd_call(&r, &who);
	}
	if (rc == 0)
		rc = fwd_sess_new(path, 0, strrchr(path, '/') ? strrchr(path, '/') + 1 : path, ino,
			      a.policy == META_AREA_JOURNAL, a.mode & 07777, &who, &s);
	if (rc == 0 && s->journal)
		s->base = a.size;
	else if (rc == 0 && !(fi->flags & O_TRUNC) && a.size && inode_get(fs, ino, &in) == 0) {
		rc = stage_copy(fs, s, in);
		inode_put(fs, in);
	}
	if (rc == 0 && !s->journal && (fi->flags & O_TRUNC))
		s->dirty = true;	/* a truncation is a save, even with no write */
	if (rc < 0) {
		if (s) {
			fwd_sess_unlink(s);
			fwd_sess_put(s);
		}
		fuse_reply_err(req, -rc);
		return;
	}
	reply_sess_open(req, s, fi);
}

static void fw_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	struct fsess *s = NULL;
	struct meta_inode a;
	struct caller who;
	char path[4096];
	int rc = strlen(name) > META_NAME_MAX ? -ENAMETOOLONG : fwd_area_of(parent, &a);

	if (rc == 0 && !S_ISDIR(a.mode))
		rc = -ENOTDIR;
	if (rc == 0)
		rc = fwd_path_in(parent, name, path, sizeof(path));
	if (rc == 0) {
		struct fwd_req r = { .op = FWD_CHECK, .path = path, .mode = mode,
				     .flags = (uint32_t)fi->flags | O_CREAT };

		fwd_caller_of(req, &who);
		rc = fwd_call(&r, &who);
	}
	if (rc == 0)
		rc = fwd_sess_new(path, parent, name, 0, a.policy == META_AREA_JOURNAL, mode & 07777,
			      &who, &s);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	s->dirty = true;	/* made even if nothing is written */
	s->oflags = fi->flags;
	sess_entry(s, &e);
	fi->fh = (uintptr_t)s | FH_STAGED;
	fi->direct_io = 1;
	if (fuse_reply_create(req, &e, fi) != 0) {
		fwd_sess_unlink(s);
		fwd_sess_put(s);
	}
}

static void fw_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fsess *s = fwd_fh_sess(fi);
	char *buf;
	ssize_t got = 0;
	int rc = 0;

	if (!s) {
		FW.base->read(req, ino, size, off, fi);
		return;
	}
	buf = fs_scratch(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (s->journal && (uint64_t)off < s->base) {
		/* what the file held before the session: the replica's */
		struct inode *in;

		rc = inode_get(fs, s->ino, &in);
		if (rc == 0) {
			size_t n = 0, want = s->base - (uint64_t)off < size ?
					    (size_t)(s->base - (uint64_t)off) : size;

			pthread_rwlock_wrlock(&in->lock);
			rc = fs_map_load(fs, in);
			if (rc == 0)
				rc = fs_read(fs, in, buf, want, (uint64_t)off, &n);
			pthread_rwlock_unlock(&in->lock);
			inode_put(fs, in);
			got = (ssize_t)n;
		}
	} else {
		uint64_t at = s->journal ? (uint64_t)off - s->base : (uint64_t)off;

		got = pread(s->fd, buf, size, (off_t)at);
		if (got < 0)
			rc = -errno;
	}
	pthread_mutex_unlock(&s->lock);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, buf, (size_t)got);
}

static void fw_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fsess *s = fwd_fh_sess(fi);
	ssize_t n;
	int rc = 0;

	(void)ino;
	if (!s) {
		fuse_reply_err(req, EROFS);
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (s->journal) {
		if (s->err)
			rc = -EIO;
		else if ((uint64_t)off != s->base + s->size)
			rc = -EPERM;		/* journal files are only appended to */
		else if (s->nrecs == s->caprecs) {
			size_t cap = s->caprecs ? s->caprecs * 2 : 64;
			uint32_t *v = realloc(s->recs, cap * sizeof(*v));

			if (v) {
				s->recs = v;
				s->caprecs = cap;
			} else {
				rc = -ENOMEM;
			}
		}
		if (rc == 0) {
			n = pwrite(s->fd, buf, size, (off_t)s->size);
			rc = n == (ssize_t)size ? 0 : n < 0 ? -errno : -EIO;
		}
		if (rc == 0) {
			s->recs[s->nrecs++] = (uint32_t)size;
			s->size += size;
		}
	} else {
		n = pwrite(s->fd, buf, size, off);
		rc = n == (ssize_t)size ? 0 : n < 0 ? -errno : -EIO;
		if (rc == 0 && (uint64_t)off + size > s->size)
			s->size = (uint64_t)off + size;
		if (rc == 0)
			s->dirty = true;
	}
	s->mtime = fs_now();
	pthread_mutex_unlock(&s->lock);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

/* close(2) of a descriptor: a checkpoint file written since is saved now,
 * a journal file's records are sent (its seal waits for the release). */
static void fw_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fsess *s = fwd_fh_sess(fi);
	int rc = 0;

	if (!s) {
		FW.base->flush(req, ino, fi);
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (s->journal)
		rc = s->nrecs ? fwd_send_records(s, false) : s->err;
	else if (s->dirty)
		rc = fwd_send_put(s);
	pthread_mutex_unlock(&s->lock);
	fuse_reply_err(req, -rc);
}

static void fw_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fsess *s = fwd_fh_sess(fi);
	bool last;
	int rc = 0;

	if (!s) {
		FW.base->release(req, ino, fi);
		return;
	}
	pthread_mutex_lock(&FW.lock);
	last = --s->handles == 0;
	pthread_mutex_unlock(&FW.lock);
	if (last) {
		pthread_mutex_lock(&s->lock);
		if (s->journal)
			rc = fwd_send_records(s, true);
		else if (s->dirty)
			rc = fwd_send_put(s);
		pthread_mutex_unlock(&s->lock);
		if (rc < 0)
			log_err("follower: %s: what was written before its last close could not "
				"be sent to the writer: %s", s->path, strerror(-rc));
		fwd_sess_unlink(s);
	}
	fwd_sess_put(s);
	fuse_reply_err(req, 0);
}

static void fw_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fsess *s = fwd_fh_sess(fi);
	int rc;

	if (!s) {
		FW.base->fsync(req, ino, datasync, fi);
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (s->journal)	/* the records are in the writer's journal when it returns */
		rc = s->nrecs ? fwd_send_records(s, false) : s->err;
	else		/* durable here; the save is made at close, as on the writer */
		rc = fsync(s->fd) < 0 ? -errno : 0;
	pthread_mutex_unlock(&s->lock);
	fuse_reply_err(req, -rc);
}

static void fw_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct fsess *s = fwd_fh_sess(fi);
	struct stat st;
	int rc;

	(void)ino;
	if (!s || s->journal) {
		fuse_reply_err(req, s ? EPERM : EROFS);
		return;
	}
	pthread_mutex_lock(&s->lock);
	rc = fallocate(s->fd, mode, off, len) < 0 ? -errno : 0;
	if (rc == 0 && fstat(s->fd, &st) == 0) {
		s->size = (uint64_t)st.st_size;
		s->dirty = true;
	}
	pthread_mutex_unlock(&s->lock);
	fuse_reply_err(req, -rc);
}

static void fw_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			       struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			       struct fuse_file_info *fi_out, size_t len, int flags)
{
	(void)ino_in; (void)off_in; (void)fi_in; (void)ino_out; (void)off_out; (void)len;
	(void)flags;
	/* into a session: the kernel copies the bytes through read and write */
	fuse_reply_err(req, fwd_fh_sess(fi_out) ? EOPNOTSUPP : EROFS);
}

/* A namespace change: forwarded if DIR's area (and DIR2's) forwards. */
static int forward_names(fuse_req_t req, uint8_t op, fuse_ino_t dir, const char *name,
			 fuse_ino_t dir2, const char *name2, uint32_t mode, uint32_t flags)
{
	char path[4096], path2[4096];
	struct fwd_req r = { .op = op, .path = path, .mode = mode, .flags = flags };
	struct meta_inode a;
	struct caller who;
	int rc = fwd_area_of(dir, &a);

	if (rc == 0 && dir2)
		rc = fwd_area_of(dir2, &a);
	if (rc == 0)
		rc = fwd_path_in(dir, name, path, sizeof(path));
	if (rc == 0 && dir2) {
		rc = fwd_path_in(dir2, name2, path2, sizeof(path2));
		r.path2 = path2;
	}
	if (rc < 0)
		return rc;
	fwd_caller_of(req, &who);
	return fwd_call(&r, &who);
}

static void fw_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e;
	struct inode *in;
	uint64_t ino;
	uint32_t type;
	int rc = forward_names(req, FWD_MKDIR, parent, name, 0, NULL, mode, 0);

	if (rc == 0)	/* the replica has it now (or the wait said why not) */
		rc = meta_dentry_get(fs->meta, parent, name, strlen(name), &ino, &type);
	if (rc == 0)
		rc = inode_get(fs, ino, &in);
	if (rc < 0) {
		fuse_reply_err(req, rc == -ENOENT ? EIO : -rc);
		return;
	}
	in->parent = parent;
	pthread_rwlock_rdlock(&in->lock);
	fs_entry(fs, in, &e);
	pthread_rwlock_unlock(&in->lock);
	inode_lookup_inc(fs, in, 1);
	if (fuse_reply_entry(req, &e) != 0)
		inode_forget(fs, in->ino, 1);
	inode_put(fs, in);
}

static void fw_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -forward_names(req, FWD_UNLINK, parent, name, 0, NULL, 0, 0));
}

static void fw_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -forward_names(req, FWD_RMDIR, parent, name, 0, NULL, 0, 0));
}

static void fw_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	fuse_reply_err(req, -forward_names(req, FWD_RENAME, parent, name, newparent, newname, 0,
					   flags));
}

static int forward_xattr(fuse_req_t req, uint8_t op, fuse_ino_t ino, const char *name,
			 const char *value, size_t size, int flags)
{
	char path[4096];
	struct fwd_req r = { .op = op, .path = path, .name2 = name, .value = value,
			     .vlen = size, .flags = (uint32_t)flags };
	struct meta_inode a;
	struct caller who;
	int rc = fwd_area_of(ino, &a);

	if (rc == 0)
		rc = fwd_path_of(ino, path, sizeof(path));
	if (rc < 0)
		return rc;
	fwd_caller_of(req, &who);
	return fwd_call(&r, &who);
}

static void fw_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	if (ino == FUSE_ROOT_ID && !strcmp(name, "user.aifs.failpoints"))
		FW.base->setxattr(req, ino, name, value, size, flags);	/* this daemon's */
	else
		fuse_reply_err(req, -forward_xattr(req, FWD_SETXATTR, ino, name, value, size,
						   flags));
}

static void fw_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, -forward_xattr(req, FWD_REMOVEXATTR, ino, name, NULL, 0, 0));
}

static void fw_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	if (fwd_is_node(ino))
		fuse_reply_err(req, ENODATA);
	else
		FW.base->getxattr(req, ino, name, size);
}

static void fw_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	if (!fwd_is_node(ino))
		FW.base->listxattr(req, ino, size);
	else if (size)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_xattr(req, 0);
}

static void fw_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (fwd_is_node(ino))
		fuse_reply_err(req, ENOTDIR);
	else
		FW.base->opendir(req, ino, fi);
}

static void fw_readlink(fuse_req_t req, fuse_ino_t ino)
{
	if (fwd_is_node(ino))
		fuse_reply_err(req, EINVAL);
	else
		FW.base->readlink(req, ino);
}

static void fw_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	(void)parent; (void)name; (void)mode; (void)rdev;
	fuse_reply_err(req, EROFS);
}

static void fw_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link; (void)parent; (void)name;
	fuse_reply_err(req, EROFS);
}

static void fw_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino; (void)newparent; (void)newname;
	fuse_reply_err(req, EROFS);
}

static void fw_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
		     struct fuse_file_info *fi, unsigned flags, const void *in_buf,
		     size_t in_bufsz, size_t out_bufsz)
{
	(void)ino; (void)cmd; (void)arg; (void)fi; (void)flags; (void)in_buf; (void)in_bufsz;
	(void)out_bufsz;
	fuse_reply_err(req, EROFS);	/* a clone makes files */
}

const struct fuse_lowlevel_ops *fwd_ops(const struct fuse_lowlevel_ops *base)
{
	static struct fuse_lowlevel_ops ops;

	FW.base = base;
	ops = *base;
	ops.lookup = fw_lookup;
	ops.forget = fw_forget;
	ops.forget_multi = fw_forget_multi;
	ops.getattr = fw_getattr;
	ops.setattr = fw_setattr;
	ops.mknod = fw_mknod;
	ops.mkdir = fw_mkdir;
	ops.unlink = fw_unlink;
	ops.rmdir = fw_rmdir;
	ops.symlink = fw_symlink;
	ops.rename = fw_rename;
	ops.link = fw_link;
	ops.open = fw_open;
	ops.create = fw_create;
	ops.read = fw_read;
	ops.write = fw_write;
	ops.flush = fw_flush;
	ops.release = fw_release;
	ops.fsync = fw_fsync;
	ops.fallocate = fw_fallocate;
	ops.copy_file_range = fw_copy_file_range;
	ops.setxattr = fw_setxattr;
	ops.removexattr = fw_removexattr;
	ops.getxattr = fw_getxattr;
	ops.listxattr = fw_listxattr;
	ops.opendir = fw_opendir;
	ops.readlink = fw_readlink;
	ops.ioctl = fw_ioctl;
	return &ops;
}

