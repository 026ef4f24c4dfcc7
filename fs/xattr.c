/* xattr.c — extended attributes: the FUSE handlers, which dispatch each
 * name through the tables the modules register (xattr.h says in which
 * order and under which lock), and the names of the adapter itself: the
 * area of a directory (user.aifs.area), the fail points of a debug build,
 * POSIX ACLs, and the attributes stored for an inode.
 */
#include "fs/acl.h"
#include "fs/hooks.h"
#include "fs/inode.h"
#include "fs/space.h"
#include "fs/virt.h"
#include "fs/ops.h"
#include "fs/xattr.h"
#include "tier/failpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#define XATTR_VALUE_MAX 65536

int fs_xattr_register(struct fs *fs, const struct fs_xattr *table)
{
	if (fs->nxattrs == FS_XATTR_TABLES)
		return -ENOSPC;
	fs->xattrs[fs->nxattrs++] = table;
	return 0;
}

static int xattr_name_check(const char *name)
{
	if (strlen(name) > 255 || !name[0])
		return -ERANGE;
	if (!strncmp(name, "system.", 7))
		return acl_name(name) ? 0 : -EOPNOTSUPP;	/* POSIX ACLs only */
	if (strncmp(name, "user.", 5) && strncmp(name, "trusted.", 8) &&
	    strncmp(name, "security.", 9))
		return -EOPNOTSUPP;
	return 0;
}

/* --- the adapter's own names ------------------------------------------- */

static const char *const area_names[] = { "plain", "dataset", "checkpoint", "journal" };

static int area_get(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		    char **val, size_t *len)
{
	int n;

	(void)fs;
	(void)req;
	(void)name;
	pthread_rwlock_rdlock(&in->lock);
	n = asprintf(val, "%s", in->attr.policy < 4 ? area_names[in->attr.policy] : "unknown");
	pthread_rwlock_unlock(&in->lock);
	if (n < 0)
		return -ENOMEM;
	*len = (size_t)n;
	return 0;
}

/* setxattr user.aifs.area=POLICY on a directory marks its area (what is
 * created below it inherits it).  Only its owner or root may. */
static int area_set(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		    const char *value, size_t size, int flags)
{
	struct meta_inode old;
	struct meta_batch *b;
	int policy = -1, rc;

	(void)name;
	(void)flags;
	if (!value)
		return -EPERM;
	if (!S_ISDIR(in->attr.mode))
		return -ENOTDIR;
	if (!access_req_owner(req, &in->attr))
		return -EPERM;
	for (int i = 0; i < 4; i++)
		if (strlen(area_names[i]) == size && !memcmp(value, area_names[i], size))
			policy = i;
	if (policy < 0)
		return -EINVAL;
	/* Object Lock: a journal area stays one (but for root in governance
	 * mode), and becomes one only empty: what is in it was written there. */
	if (in->attr.policy == META_AREA_JOURNAL && policy != META_AREA_JOURNAL &&
	    (fuse_req_ctx(req)->uid != 0 || fs->opt.audit_compliance))
		return -EPERM;
	if (policy == META_AREA_JOURNAL && in->attr.policy != META_AREA_JOURNAL &&
	    (rc = meta_dir_empty(fs->meta, in->ino)) <= 0)
		return rc < 0 ? rc : -ENOTEMPTY;
	b = meta_batch_new();
	if (!b)
		return -ENOMEM;
	old = in->attr;
	in->attr.policy = (uint8_t)policy;
	in->attr.ctime = fs_now();
	inode_save(b, in);
	rc = fs_commit(fs, b, false);
	meta_batch_free(b);
	if (rc < 0)
		in->attr = old;		/* not committed: as on disk */
	return rc;
}

/* setxattr user.aifs.failpoints=SPEC on the mount root: root arms the fail
 * points of a debug build (failpoint.h). */
static int failpoints_set(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
			  const char *value, size_t size, int flags)
{
	char spec[256];
	int rc;

	(void)fs;
	(void)name;
	(void)flags;
	if (in->ino != META_ROOT_INO)
		return FS_XATTR_PASS;
	if (fuse_req_ctx(req)->uid != 0)
		return -EPERM;
	if (size >= sizeof(spec))
		return -EINVAL;
	memcpy(spec, value, size);
	spec[size] = 0;
	rc = failpoint_arm(spec);
	if (rc < 0)
		log_info("fail points %s refused: %s", spec, strerror(-rc));
	return rc;
}

static int acl_set(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		   const char *value, size_t size, int flags)
{
	return acl_xattr_set(req, fs, in, name, value, size, flags, !value);
}

/* The user.aifs.* names no module serves: none to read, none to set. */
static int reserved_get(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
			char **val, size_t *len)
{
	(void)fs, (void)req, (void)in, (void)name, (void)val, (void)len;
	return -ENODATA;
}

static int reserved_set(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
			const char *value, size_t size, int flags)
{
	(void)fs, (void)req, (void)in, (void)name, (void)value, (void)size, (void)flags;
	return -EPERM;
}

static int stored_get(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		      char **val, size_t *len)
{
	(void)req;
	return (in->attr.flags & META_IF_XATTR) && strlen(name) <= 255 ?
		meta_xattr_get(fs->meta, in->ino, name, (void **)val, len) : -ENODATA;
}

static int stored_set(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		      const char *value, size_t size, int flags)
{
	struct meta_inode was = in->attr;
	struct meta_batch *b;
	void *old = NULL;
	size_t oldlen;
	int rc;

	(void)req;
	if (value && size > XATTR_VALUE_MAX)
		return -E2BIG;
	if (!strncmp(name, "user.", 5) && !S_ISREG(in->attr.mode) && !S_ISDIR(in->attr.mode))
		return value ? -EPERM : -ENODATA;
	rc = (in->attr.flags & META_IF_XATTR) ?
		meta_xattr_get(fs->meta, in->ino, name, &old, &oldlen) : -ENODATA;
	free(old);
	if (rc < 0 && rc != -ENODATA)
		return rc;
	if (rc == 0 && value && (flags & XATTR_CREATE))
		return -EEXIST;
	if (rc == -ENODATA && (!value || (flags & XATTR_REPLACE)))
		return -ENODATA;
	rc = value ? space_meta_room(fs) : 0;
	if (rc < 0)
		return rc;
	b = meta_batch_new();
	if (!b)
		return -ENOMEM;
	if (value)
		meta_xattr_put(b, in->ino, name, value, size);
	else
		meta_xattr_del(b, in->ino, name);
	in->attr.flags |= META_IF_XATTR;
	in->attr.ctime = fs_now();
	inode_save(b, in);
	rc = fs_commit(fs, b, false);
	meta_batch_free(b);
	if (rc < 0)
		in->attr = was;		/* not committed: as on disk */
	return rc;
}

static int stored_list(struct fs *fs, struct inode *in,
		       int (*add)(void *ctx, const char *name), void *ctx);

static const struct fs_xattr own_xattrs[] = {
	{ "user.aifs.failpoints", "fail points", 0, NULL, failpoints_set, NULL },
	{ "user.aifs.area", "areas", FS_XATTR_LOCKED | FS_XATTR_GUARDED, area_get, area_set, NULL },
	{ ACL_XATTR_ACCESS, "acl", FS_XATTR_LOCKED | FS_XATTR_GUARDED, NULL, acl_set, NULL },
	{ ACL_XATTR_DEFAULT, "acl", FS_XATTR_LOCKED | FS_XATTR_GUARDED, NULL, acl_set, NULL },
	{ "user.aifs.*", "reserved", FS_XATTR_LOCKED | FS_XATTR_GUARDED, reserved_get,
	  reserved_set, NULL },
	{ "*", "stored", FS_XATTR_LOCKED | FS_XATTR_GUARDED, stored_get, stored_set,
	  stored_list },
	{ NULL, NULL, 0, NULL, NULL, NULL },
};

/* --- dispatch ------------------------------------------------------------ */

static bool xattr_match(const struct fs_xattr *e, const char *name)
{
	size_t n = strlen(e->name);

	if (n && e->name[n - 1] == '*')
		return !strncmp(e->name, name, n - 1);
	return !strcmp(e->name, name);
}

/* The next entry after *TI, *EI (both -1 to start) that matches NAME, or NULL. */
static const struct fs_xattr *xattr_next(struct fs *fs, const char *name, int *ti, int *ei)
{
	for (;;) {
		const struct fs_xattr *t = *ti < 0 ? NULL :
			(unsigned)*ti < fs->nxattrs ? fs->xattrs[*ti] : own_xattrs;

		if (t && t[*ei + 1].name) {
			++*ei;
			if (xattr_match(&t[*ei], name))
				return &t[*ei];
			continue;
		}
		if ((unsigned)++*ti > fs->nxattrs)
			return NULL;
		*ei = -1;
	}
}

/* For each entry E that matches NAME, in the order of xattr.h. */
#define EACH_XATTR(fs, name, e) \
	for (int t_ = -1, e_ = -1; ((e) = xattr_next(fs, name, &t_, &e_)) != NULL;)

/* The locked entries for NAME on IN (locked for writing), as xattr.h says. */
static int xattr_set_locked(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
			    const char *value, size_t size, int flags)
{
	const struct fs_xattr *e;
	bool guarded = false;
	int rc = xattr_name_check(name);

	if (rc < 0)
		return rc;
	EACH_XATTR(fs, name, e)
		if (e->set && (e->flags & FS_XATTR_ON_READONLY) &&
		    (rc = e->set(fs, req, in, name, value, size, flags)) != FS_XATTR_PASS)
			return rc;
	if (in->attr.flags & META_IF_READONLY)
		return -EROFS;
	EACH_XATTR(fs, name, e) {
		if (!e->set || !(e->flags & FS_XATTR_LOCKED) || (e->flags & FS_XATTR_ON_READONLY))
			continue;
		if ((e->flags & FS_XATTR_GUARDED) && !guarded) {
			rc = fs_hook_may_change(fs, in);
			if (rc < 0)
				return rc;
			guarded = true;
		}
		rc = e->set(fs, req, in, name, value, size, flags);
		if (rc != FS_XATTR_PASS)
			return rc;
	}
	return -EOPNOTSUPP;	/* not reached: "*" serves every name */
}

static void xattr_change(fuse_req_t req, fuse_ino_t ino, const char *name,
			 const char *value, size_t size, int flags)
{
	struct fs *fs = fuse_req_userdata(req);
	const struct fs_xattr *e;
	struct inode *in;
	int rc = inode_get(fs, ino, &in);

	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	rc = FS_XATTR_PASS;
	/* controls that take the namespace lock or queue work: not under IN's */
	if (value)
		EACH_XATTR(fs, name, e)
			if (e->set && !(e->flags & FS_XATTR_LOCKED) &&
			    (rc = e->set(fs, req, in, name, value, size, flags)) != FS_XATTR_PASS)
				break;
	if (rc == FS_XATTR_PASS) {
		pthread_rwlock_wrlock(&in->lock);
		rc = xattr_set_locked(fs, req, in, name, value, size, flags);
		pthread_rwlock_unlock(&in->lock);
	}
	inode_put(fs, in);
	fuse_reply_err(req, -rc);
}

static void do_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	xattr_change(req, ino, name, value ? value : "", size, flags);
}

static void do_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	xattr_change(req, ino, name, NULL, 0, 0);
}

static void do_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = fuse_req_userdata(req);
	const struct fs_xattr *e;
	struct inode *in;
	char *val = NULL;
	size_t len = 0;
	int rc = virt_is(ino) ? -ENODATA : inode_get(fs, ino, &in);

	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	rc = FS_XATTR_PASS;
	EACH_XATTR(fs, name, e)
		if (e->get && (rc = e->get(fs, req, in, name, &val, &len)) != FS_XATTR_PASS)
			break;
	inode_put(fs, in);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, len);
	free(val);
}

struct xlist {
	char *buf;
	size_t len, cap;
};

static int xlist_add(void *ctx, const char *name)
{
	struct xlist *l = ctx;
	size_t n = strlen(name) + 1;

	if (l->len + n > l->cap) {
		size_t ncap = (l->cap + n) * 2;
		char *b = realloc(l->buf, ncap);

		if (!b)
			return -ENOMEM;
		l->buf = b;
		l->cap = ncap;
	}
	memcpy(l->buf + l->len, name, n);
	l->len += n;
	return 0;
}

struct stored_names {
	int (*add)(void *ctx, const char *name);
	void *ctx;
};

static int stored_name(void *ctx, const char *name, const void *val, size_t vlen)
{
	struct stored_names *s = ctx;

	(void)val;
	(void)vlen;
	return s->add(s->ctx, name);
}

static int stored_list(struct fs *fs, struct inode *in,
		       int (*add)(void *ctx, const char *name), void *ctx)
{
	struct stored_names s = { add, ctx };

	if (!(in->attr.flags & META_IF_XATTR))
		return 0;
	return meta_xattr_foreach(fs->meta, in->ino, stored_name, &s);
}

static void do_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fuse_req_userdata(req);
	struct xlist l = { 0 };
	struct inode *in;
	int rc = virt_is(ino) ? 1 : inode_get(fs, ino, &in);

	if (rc == 0) {
		for (unsigned t = 0; t <= fs->nxattrs && rc == 0; t++)
			for (const struct fs_xattr *e = t < fs->nxattrs ? fs->xattrs[t] : own_xattrs;
			     e->name && rc == 0; e++)
				if (e->list)
					rc = e->list(fs, in, xlist_add, &l);
		inode_put(fs, in);
	}
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (size == 0)
		fuse_reply_xattr(req, l.len);
	else if (size < l.len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, l.buf, l.len);
	free(l.buf);
}

void fs_xattr_ops(struct fuse_lowlevel_ops *ops)
{
	ops->setxattr = do_setxattr;
	ops->getxattr = do_getxattr;
	ops->listxattr = do_listxattr;
	ops->removexattr = do_removexattr;
}
