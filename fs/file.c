/* file.c — FUSE handlers of open files: open, create, read, write, flush,
 * release, fsync, fallocate, copy_file_range.
 *
 * Each handler replies exactly once.  Handlers that change an inode hold
 * its lock for writing until the change is committed to meta/.  A handle
 * is an inode (referenced) or a view of .aifs (a text fixed at open).
 *
 * The feature that claims a file (versions for checkpoint and dataset
 * files, the journal for journal files: hooks.h) is told of its opens,
 * changes and closes through its hooks; this file names no feature.
 */
#include "fs/fs.h"
#include "fs/hooks.h"
#include "fs/inval.h"
#include "fs/inode.h"
#include "fs/data.h"
#include "fs/extmap.h"
#include "fs/prealloc.h"
#include "fs/space.h"
#include "fs/virt.h"
#include "fs/ops.h"
#include "fs/setattr.h"
#include "tier/failpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

/* May this handle bypass the page cache?  A handle that can only write
 * (O_WRONLY) cannot be mmap'ed, so direct_io takes nothing from it, and it
 * spares each write() a copy into the page cache and the kernel's GETXATTR
 * of security.capability (file_remove_privs, which the direct path skips):
 * one round trip per write instead of two.  Files whose writes must drop
 * privileges (set-id bits, a security.capability attribute) keep the
 * kernel's path, which does that. */
static bool direct_ok(struct fs *fs, struct inode *in, const struct fuse_file_info *fi,
		      bool fresh)
{
	mode_t m = in->attr.mode;
	void *val = NULL;
	size_t len;

	if ((fi->flags & O_ACCMODE) != O_WRONLY || !S_ISREG(m) || fi->direct_io)
		return false;
	if ((m & S_ISUID) || (m & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		return false;
	if (fresh || !(in->attr.flags & META_IF_XATTR) ||
	    meta_xattr_get(fs->meta, in->ino, "security.capability", &val, &len) < 0)
		return true;
	free(val);
	return false;
}

/* Content is only ever changed through this kernel (the store is locked to
 * one mount), so the page cache stays valid across opens (keep_cache).
 * Direct writers keep it coherent: a direct open drops the kernel's pages
 * of the file when no cached handle is open, and while one is, each direct
 * write invalidates the range it wrote (do_write).  FRESH: just created. */
static void open_common(struct fs *fs, struct inode *in, struct fuse_file_info *fi, bool fresh,
			bool *kpages_was)
{
	const struct fs_feature_ops *f = fs_hook_claimer(fs, in);
	bool direct = direct_ok(fs, in, fi, fresh);

	inode_open_inc(fs, in);
	/* The handle is the inode; bit 0 says whether it may write (flush is
	 * not told the open flags), bit 2 that it reads through the cache. */
	fi->fh = (uintptr_t)in | ((fi->flags & O_ACCMODE) != O_RDONLY);
	fi->keep_cache = 1;
	pthread_rwlock_wrlock(&in->lock);
	*kpages_was = in->kpages;
	if (direct) {
		fi->direct_io = 1;
		if (in->ncached == 0) {
			fi->keep_cache = 0;	/* the kernel drops its pages */
			in->kpages = false;
		}
	} else if (!fi->direct_io) {
		fi->fh |= 4;
		in->ncached++;
		in->kpages = true;
	}
	pthread_rwlock_unlock(&in->lock);
	/* close() of a read-only handle has nothing to flush or commit, and
	 * a direct writer's buffered bytes may be stored at release, as a
	 * local filesystem's page cache would write them back later: spare
	 * the kernel the FLUSH round trip.  A failure to store them then is
	 * logged and returned by the next fsync of the file (werr), as with
	 * writeback errors.  A file whose feature commits before close
	 * returns (a checkpoint version) keeps FLUSH. */
	fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY ||
		      (direct && !(f && f->needs_flush && f->needs_flush(in)));
}

static bool writable(const struct fuse_file_info *fi)
{
	return (fi->flags & O_ACCMODE) != O_RDONLY;
}

/* A writer of IN whose close() has returned may not be released yet: the
 * kernel sends RELEASE asynchronously.  Still counted, it would keep a new
 * write session from ending at its own close (the commit waits for the
 * last writer), so a new writer gives such a release up to 100 ms.  A
 * writer that really is still open only delays the new one by that. */
static void wait_released(struct inode *in)
{
	for (int i = 0; i < 100; i++) {
		uint32_t n;

		pthread_rwlock_rdlock(&in->lock);
		n = in->nwriters - in->nheld;	/* a follower's session is no close */
		pthread_rwlock_unlock(&in->lock);
		if (n == 0)
			return;
		usleep(1000);
	}
}

/* A change of IN (locked) as C says, by REQ's caller: 0 if the feature
 * that claims IN, if any, lets it. */
static int file_change(struct fs *fs, fuse_req_t req, struct inode *in, int what,
		       const char *buf, uint64_t size, uint64_t off)
{
	struct fs_change c = { .what = what, .buf = buf, .size = size, .off = off };

	return fs_hook_change(fs, req, in, &c);
}

/* Versions are read-only.  A writer of a claimed file is counted (and may
 * be refused) by its feature, which may have a reader read another inode
 * (*IN is replaced by it, uncached). */
static int open_claimed(struct fs *fs, struct inode **inp, struct fuse_file_info *fi)
{
	struct inode *in = *inp, *other = NULL;
	const struct fs_feature_ops *f;
	bool write = writable(fi);
	int rc = 0;

	if ((in->attr.flags & META_IF_READONLY) && (write || (fi->flags & O_TRUNC)))
		return -EROFS;
	f = fs_hook_claimer(fs, in);
	if (!f)
		return 0;
	if (write && f->writer_waits && f->writer_waits(in))
		wait_released(in);
	pthread_rwlock_wrlock(&in->lock);
	if (f->open)
		rc = f->open(fs, in, write);
	if (rc == 0 && write)
		in->nwriters++;
	pthread_rwlock_unlock(&in->lock);
	if (rc < 0 || write || !f->read_instead)
		return rc;
	rc = f->read_instead(fs, in, &other);
	if (rc < 0 || !other)
		return rc;
	inode_put(fs, in);
	*inp = other;
	fi->direct_io = 1;
	return 0;
}

static void open_undo(struct fs *fs, struct inode *in, struct fuse_file_info *fi)
{
	if (fs_hook_claimer(fs, in) && writable(fi)) {
		pthread_rwlock_wrlock(&in->lock);
		in->nwriters--;
		pthread_rwlock_unlock(&in->lock);
	}
}

static bool fh_cached(const struct fuse_file_info *fi);

/* The reply to an open or create of IN was not delivered (the request was
 * interrupted): the kernel holds no handle, so no release will come.  Undo
 * what the open counted; the kernel still holds the pages it held before
 * (KPAGES_WAS).  A writer that was the last one ends its session or seals
 * its journal file as its release would have.  IN is unlocked.  The
 * request is answered (and freed) by then: nothing here may use it. */
static void open_lost(struct fs *fs, struct inode *in, struct fuse_file_info *fi,
		      bool kpages_was)
{
	const struct fs_feature_ops *f = fs_hook_claimer(fs, in);
	bool ended = false;
	int rc = 0;

	pthread_rwlock_wrlock(&in->lock);
	if (fh_cached(fi))
		in->ncached--;
	in->kpages = in->kpages || kpages_was;
	if (f && writable(fi) && --in->nwriters == 0 && f->last_close)
		rc = f->last_close(fs, NULL, in, &ended);
	pthread_rwlock_unlock(&in->lock);
	if (rc < 0)
		log_err("inode %llu: ending the writes of an interrupted open failed: %s",
			(unsigned long long)in->ino, strerror(-rc));
	else
		log_info("inode %llu: an open was interrupted before its reply",
			 (unsigned long long)in->ino);
	inode_open_dec(fs, in);
}

/* fuse_reply_open / fuse_reply_create; the fail point open_reply makes the
 * reply fail as an interrupted request's does (the caller gets the errno). */
static int reply_open(fuse_req_t req, const struct fuse_file_info *fi)
{
	int rc = failpoint("open_reply", EINTR);

	if (rc == 0)
		return fuse_reply_open(req, fi);
	fuse_reply_err(req, -rc);
	return rc;
}

static int reply_create(fuse_req_t req, const struct fuse_entry_param *e,
			const struct fuse_file_info *fi)
{
	int rc = failpoint("open_reply", EINTR);

	if (rc == 0)
		return fuse_reply_create(req, e, fi);
	fuse_reply_err(req, -rc);
	return rc;
}

/* open(O_TRUNC): the kernel leaves the truncation to us (atomic_o_trunc). */
static int truncate_zero(fuse_req_t req, struct fs *fs, struct inode *in)
{
	struct meta_batch *b = meta_batch_new();
	struct stat st = { .st_size = 0 };
	struct meta_inode saved;
	int rc;

	if (!b)
		return -ENOMEM;
	pthread_rwlock_wrlock(&in->lock);
	saved = in->attr;
	rc = file_change(fs, req, in, FS_CHANGE_OPEN_TRUNC, NULL, 0, 0);
	/* buffered bytes are stored by a commit of their own: not deferred */
	if (rc == 0 && (in->attr.size || in->wb_len))
		rc = fs_flush(fs, in);
	space_defer_begin();
	if (rc == 0 && (in->attr.size || in->wb_len))
		rc = fs_setattr_apply(fs, in, b, &st, FUSE_SET_ATTR_SIZE);
	if (rc == 0)
		rc = fs_commit(fs, b, false);
	space_defer_end(fs, rc == 0);
	if (rc < 0) {
		fs_content_reload(in);
		in->attr = saved;
	} else {
		prealloc_apply(fs, in);
	}
	pthread_rwlock_unlock(&in->lock);
	meta_batch_free(b);
	return rc;
}

/* An open .aifs view file: fh is this struct with bit 1 set. */
struct vfile {
	char *text;
	size_t len;
};

static void open_view(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct vfile *v = calloc(1, sizeof(*v));
	int rc = v ? virt_open(fs, ino, &v->text, &v->len) : -ENOMEM;

	if (rc == 0 && (fi->flags & O_ACCMODE) != O_RDONLY)
		rc = -EROFS;
	if (rc < 0) {
		if (v)
			free(v->text);
		free(v);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uintptr_t)v | 2;
	fi->direct_io = 1;
	if (fuse_reply_open(req, fi) != 0) {
		free(v->text);
		free(v);
	}
}

static struct vfile *fh_view(const struct fuse_file_info *fi)
{
	return fi->fh & 2 ? (struct vfile *)(uintptr_t)(fi->fh & ~(uint64_t)3) : NULL;
}

static void do_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct inode *in;
	bool kpages_was;
	int rc;

	if (virt_is(ino)) {
		open_view(req, ino, fi);
		return;
	}
	rc = inode_get(fs, ino, &in);

	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	rc = open_claimed(fs, &in, fi);
	if (rc == 0 && (fi->flags & O_TRUNC) && S_ISREG(in->attr.mode))
		rc = truncate_zero(req, fs, in);
	if (rc < 0) {
		open_undo(fs, in, fi);
		inode_put(fs, in);
		fuse_reply_err(req, -rc);
		return;
	}
	fs_hook_opened(fs, req, in, fi->flags);
	open_common(fs, in, fi, false, &kpages_was);
	if (reply_open(req, fi) != 0)
		open_lost(fs, in, fi, kpages_was);
	inode_put(fs, in);
}

static void do_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	const struct fs_feature_ops *f;
	struct fuse_entry_param e;
	struct inode *in;
	bool kpages_was;
	int rc = fs_create_node(req, parent, name, mode, &in);

	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	f = fs_hook_claimer(fs, in);
	pthread_rwlock_wrlock(&in->lock);
	fs_entry(fs, in, &e);
	if (f && writable(fi))
		in->nwriters++;
	if (f && f->created)
		f->created(fs, in, parent, name);
	pthread_rwlock_unlock(&in->lock);
	inode_lookup_inc(fs, in, 1);
	open_common(fs, in, fi, true, &kpages_was);
	if (reply_create(req, &e, fi) != 0) {
		open_lost(fs, in, fi, kpages_was);
		inode_forget(fs, e.ino, 1);
		/* the name exists: the kernel may still hold it as absent */
		inval_entry(parent, name, strlen(name));
	}
	inode_put(fs, in);
}

static struct inode *fh_inode(struct fuse_file_info *fi)
{
	return (struct inode *)(uintptr_t)(fi->fh & ~(uint64_t)7);
}

static bool fh_writable(const struct fuse_file_info *fi)
{
	return fi->fh & 1;
}

/* Does the handle read and write through the kernel's page cache? */
static bool fh_cached(const struct fuse_file_info *fi)
{
	return fi->fh & 4;
}

static void do_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct inode *in = fh_inode(fi);
	char *buf = fs_scratch(size);
	size_t got = 0;
	int rc = 0;

	(void)ino;
	if (fh_view(fi) && buf) {
		struct vfile *v = fh_view(fi);

		/* Replied from this thread's buffer: once the reply is written,
		 * a RELEASE on another thread may free the view's text. */
		if ((uint64_t)off < v->len) {
			got = v->len - off < size ? v->len - off : size;
			memcpy(buf, v->text + off, got);
		}
		fuse_reply_buf(req, buf, got);
		return;
	}
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_rwlock_rdlock(&in->lock);
	while (!in->map_loaded && rc == 0) {
		pthread_rwlock_unlock(&in->lock);
		pthread_rwlock_wrlock(&in->lock);
		rc = fs_map_load(fs, in);
		pthread_rwlock_unlock(&in->lock);
		pthread_rwlock_rdlock(&in->lock);
	}
	if (rc == 0)
		rc = fs_read(fs, in, buf, size, off, &got);
	pthread_rwlock_unlock(&in->lock);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, buf, got);
}

static void do_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		     off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct inode *in = fh_inode(fi);
	const struct fs_feature_ops *f;
	struct fs_flight *behind = NULL;
	bool inval = false;
	int rc;

	(void)ino;
	if ((uint64_t)off + size > FS_MAX_SIZE) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	pthread_rwlock_wrlock(&in->lock);
	f = fs_hook_claimer(fs, in);
	rc = file_change(fs, req, in, FS_CHANGE_WRITE, buf, size, (uint64_t)off);
	if (rc == 0 && (rc = fs_write(fs, in, buf, size, off,
				      fs->opt.write_behind ? &behind : NULL)) < 0 &&
	    f && f->unwrite)
		f->unwrite(fs, in);
	/* A direct write behind pages the kernel may hold (see open_common);
	 * recent kernels drop the range themselves after a direct write, older
	 * ones (Debian 12's 6.1) do not. */
	/* Also after an O_DIRECT write through a cached handle: some kernels
	 * drop the range after a synchronous one only, not after an
	 * asynchronous (AIO) one, and a buffered reader's pages would stay. */
	inval = rc == 0 && in->kpages && (!fh_cached(fi) || (fi->flags & O_DIRECT));
	pthread_rwlock_unlock(&in->lock);
	if (inval)
		inval_inode(in->ino, off, (int64_t)size);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
	if (behind)	/* the full buffer is stored while the writer goes on */
		fs_flight_run(fs, behind);
}

static void do_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct inode *in = fh_inode(fi);
	const struct fs_feature_ops *f;
	bool ended = false;
	int rc, committed = 0;

	if (fh_view(fi)) {
		fuse_reply_err(req, 0);
		return;
	}
	f = fs_hook_claimer(fs, in);
	pthread_rwlock_wrlock(&in->lock);
	rc = fs_flush(fs, in);
	/* A FLUSH comes with every close() of a descriptor, also of a dup or
	 * of a forked child's copy, while the description stays open: the
	 * feature may end a session here (flush), but only the release is
	 * certainly the last close (last_close, which seals a journal file). */
	if (f && f->flush && fh_writable(fi))
		committed = rc = f->flush(fs, in, rc, &ended);
	pthread_rwlock_unlock(&in->lock);
	if (rc >= 0 && ended && f->closed)
		f->closed(fs, req, in);
	ino = in->ino;		/* IN may be gone once the reply lets release run */
	fuse_reply_err(req, rc < 0 ? -rc : 0);
	if (committed == 1)	/* torn save undone: drop the writer's pages */
		inval_inode(ino, 0, 0);
}

static void do_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct inode *in = fh_inode(fi);
	const struct fs_feature_ops *f;
	bool ended = false;
	int rc, committed = 0;

	if (fh_view(fi)) {
		free(fh_view(fi)->text);
		free(fh_view(fi));
		fuse_reply_err(req, 0);
		return;
	}
	(void)ino;
	f = fs_hook_claimer(fs, in);
	if (failpoint("release_slow", EAGAIN))
		usleep(300000);	/* a release that another worker is slow to reach */
	pthread_rwlock_wrlock(&in->lock);
	if (fh_cached(fi))
		in->ncached--;
	rc = fs_flush(fs, in);
	if (f && fh_writable(fi) && --in->nwriters == 0 && f->last_close) {
		committed = f->last_close(fs, req, in, &ended);
		if (committed < 0 && rc == 0)
			rc = committed;
	}
	if (rc == 0 && in->nopen == 1)
		fs_wbuf_free(in);
	if (rc < 0)
		in->werr = rc;
	pthread_rwlock_unlock(&in->lock);
	if (rc < 0) {
		log_err("inode %llu: data written before close could not be stored: %s",
			(unsigned long long)in->ino, strerror(-rc));
	}
	if (rc >= 0 && committed >= 0 && ended && f->closed)
		f->closed(fs, req, in);
	fuse_reply_err(req, -rc);
	if (committed == 1)	/* torn save undone: drop the writer's pages */
		inval_inode(in->ino, 0, 0);
	inode_open_dec(fs, in);
}

static void do_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct inode *in = fh_inode(fi);
	int rc;

	(void)ino;
	(void)datasync;
	pthread_rwlock_wrlock(&in->lock);
	rc = fs_sync(fs, in);
	if (rc == 0 && in->werr)
		rc = in->werr;		/* a store at an earlier release failed */
	in->werr = 0;
	pthread_rwlock_unlock(&in->lock);
	fuse_reply_err(req, -rc);
}

/* fallocate: modes 0 and KEEP_SIZE reserve the bytes of the range that no
 * extent holds (prealloc.c); PUNCH_HOLE drops the range; ZERO_RANGE drops
 * it and reserves it.  (The kernel itself refuses COLLAPSE_RANGE and
 * INSERT_RANGE for FUSE filesystems before they reach us.) */
static void do_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct inode *in = fh_inode(fi);
	struct meta_inode saved;
	struct meta_batch *b;
	uint64_t end = (uint64_t)off + (uint64_t)len;
	int rc = 0;

	(void)ino;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE) ||
	    ((mode & FALLOC_FL_PUNCH_HOLE) &&
	     (!(mode & FALLOC_FL_KEEP_SIZE) || (mode & FALLOC_FL_ZERO_RANGE)))) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (off < 0 || len <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (end > FS_MAX_SIZE && !(mode & FALLOC_FL_PUNCH_HOLE)) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	b = meta_batch_new();
	if (!b) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_rwlock_wrlock(&in->lock);
	saved = in->attr;
	rc = file_change(fs, req, in, FS_CHANGE_ALLOCATE, NULL, 0, 0);
	if (rc < 0) {
		pthread_rwlock_unlock(&in->lock);
		meta_batch_free(b);
		fuse_reply_err(req, -rc);
		return;
	}
	/* buffered bytes are stored by a commit of their own: not deferred */
	rc = fs_flush(fs, in);
	space_defer_begin();
	if (rc == 0 && (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))) {
		rc = fs_punch(fs, in, b, off, len);
		in->attr.mtime = in->attr.ctime = fs_now();
		in->attr.generation++;
	}
	if (rc == 0 && !(mode & FALLOC_FL_PUNCH_HOLE)) {
		rc = fs_map_load(fs, in);
		if (rc == 0)
			rc = prealloc_add(fs, in, b, off, len);
		if (rc == 0 && !(mode & FALLOC_FL_KEEP_SIZE) && end > in->attr.size) {
			in->attr.size = end;
			in->attr.ctime = fs_now();
		}
	}
	if (rc == 0) {
		inode_save(b, in);
		rc = fs_commit(fs, b, false);
	}
	space_defer_end(fs, rc == 0);
	if (rc < 0) {
		fs_content_reload(in);
		in->attr = saved;
	} else {
		prealloc_apply(fs, in);
	}
	pthread_rwlock_unlock(&in->lock);
	meta_batch_free(b);
	fuse_reply_err(req, -rc);
}

/* copy_file_range shares the range's data (reflink.c); EOPNOTSUPP where it
 * cannot makes the kernel copy the bytes through read and write. */
static void do_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			       struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			       struct fuse_file_info *fi_out, size_t len, int flags)
{
	struct fs *fs = fuse_req_userdata(req);

	ssize_t n;

	(void)ino_in;
	(void)ino_out;
	if (flags || off_in < 0 || off_out < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (fh_view(fi_in) || fh_view(fi_out)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (!fh_writable(fi_out)) {
		fuse_reply_err(req, EBADF);
		return;
	}
	n = fs_reflink(fs, req, fh_inode(fi_in), (uint64_t)off_in, fh_inode(fi_out),
		       (uint64_t)off_out, len);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}


void fs_file_ops(struct fuse_lowlevel_ops *ops)
{
	ops->open = do_open;
	ops->create = do_create;
	ops->read = do_read;
	ops->write = do_write;
	ops->flush = do_flush;
	ops->release = do_release;
	ops->fsync = do_fsync;
	ops->fallocate = do_fallocate;
	ops->copy_file_range = do_copy_file_range;
}
