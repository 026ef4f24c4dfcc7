/* xattr.c — extended attributes: stored ones, and the user.aifs.* names
 * through which areas, retention, holds, restore, promote and directory
 * commits are driven (so that scripts need no aifsctl).
 */
#include "fs/access.h"
#include "fs/acl.h"
#include "fs/lineage.h"
#include "fs/inode.h"
#include "fs/space.h"
#include "fs/version.h"
#include "fs/journal.h"
#include "fs/virt.h"
#include "fs/tierctl.h"
#include "fs/ops.h"
#include "tier/failpoint.h"
#include "fs/du.h"
#include "fs/dirver.h"
#include "fs/clone.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#define XATTR_VALUE_MAX 65536

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

/* 0 if REQ's caller may read the content of version N of IN, which a
 * restore makes IN's (history grants no access the version would not). */
static int restore_may(struct fs *fs, fuse_req_t req, struct inode *in, uint32_t n)
{
	struct access_cred c;
	struct meta_inode a;
	struct vrec v;
	int rc = version_get(fs, in->ino, n, &v, NULL);

	/* a version never changes: its stored attributes are current (and
	 * IN is locked, so no other inode lock is taken here) */
	if (rc == 0)
		rc = meta_inode_get(fs->meta, v.vino, &a);
	if (rc < 0)
		return rc;
	access_cred_get(req, &c);
	return acl_access_check(fs, &c, &a, R_OK);
}

/* setxattr user.aifs.restore=N on a directory of a checkpoint area. */
static int dir_restore(fuse_req_t req, struct inode *in, const char *value, size_t size)
{
	char num[16], *end;
	unsigned long n;

	if (size == 0 || size >= sizeof(num))
		return -EINVAL;
	memcpy(num, value, size);
	num[size] = 0;
	n = strtoul(num, &end, 10);
	if (*end || !n || n > UINT32_MAX)
		return -EINVAL;
	return fs_restore_tree(fuse_req_userdata(req), req, in, (uint32_t)n);
}

/* setxattr user.aifs.area=POLICY on a directory marks its area (what is
 * created below it inherits it).  Only its owner or root may. */
static int area_set(struct fs *fs, struct inode *in, fuse_req_t req, const char *name,
		    const char *value, size_t size)
{
	static const char *const names[] = { "plain", "dataset", "checkpoint", "journal" };
	struct meta_inode old;
	struct meta_batch *b;
	int policy = -1, rc;

	if (!strcmp(name, "user.aifs.retain")) {
		if (!access_req_owner(req, &in->attr))
			return -EPERM;
		return version_retain_set(fs, in, value, size);
	}
	if (!strcmp(name, "user.aifs.restore")) {
		char num[16];
		char *end;
		unsigned long n;

		if (size == 0 || size >= sizeof(num))
			return -EINVAL;
		memcpy(num, value, size);
		num[size] = 0;
		n = strtoul(num, &end, 10);
		if (*end || !n || n > UINT32_MAX)
			return -EINVAL;
		rc = restore_may(fs, req, in, (uint32_t)n);
		return rc < 0 ? rc : version_restore(fs, req, in, (uint32_t)n);
	}
	if (strcmp(name, "user.aifs.area"))
		return -EPERM;		/* the other user.aifs.* are read-only */
	if (!S_ISDIR(in->attr.mode))
		return -ENOTDIR;
	if (!access_req_owner(req, &in->attr))
		return -EPERM;
	for (int i = 0; i < 4; i++)
		if (strlen(names[i]) == size && !memcmp(value, names[i], size))
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

static int xattr_set(fuse_req_t req, struct fs *fs, struct inode *in, const char *name,
		     const char *value, size_t size, int flags, bool remove)
{
	struct meta_inode was = in->attr;
	struct meta_batch *b;
	void *old = NULL;
	size_t oldlen;
	int rc = xattr_name_check(name);

	if (rc < 0)
		return rc;
	if (((in->attr.flags & META_IF_VERSION) || dirver_is_version(fs, in, NULL, NULL)) &&
	    !remove && (!strcmp(name, "user.aifs.hold") || !strcmp(name, "user.aifs.unhold")))
		return version_hold(fs, in, value, size, name[10] == 'h');
	if (in->attr.flags & META_IF_READONLY)
		return -EROFS;
	if (journal_file(in)) {
		if (!strncmp(name, "user.aifs.", 10) && !remove)
			return journal_xattr(fs, req, in, name, value, size);
		rc = journal_may_change(fs, in);
		if (rc < 0)
			return rc;
	}
	if (acl_name(name))
		return acl_xattr_set(req, fs, in, name, value, size, flags, remove);
	if (!strncmp(name, "user.aifs.", 10))
		return remove ? -EPERM : area_set(fs, in, req, name, value, size);
	if (!remove && size > XATTR_VALUE_MAX)
		return -E2BIG;
	if (!strncmp(name, "user.", 5) && !S_ISREG(in->attr.mode) && !S_ISDIR(in->attr.mode))
		return remove ? -ENODATA : -EPERM;
	rc = (in->attr.flags & META_IF_XATTR) ?
		meta_xattr_get(fs->meta, in->ino, name, &old, &oldlen) : -ENODATA;
	free(old);
	if (rc < 0 && rc != -ENODATA)
		return rc;
	if (rc == 0 && !remove && (flags & XATTR_CREATE))
		return -EEXIST;
	if (rc == -ENODATA && (remove || (flags & XATTR_REPLACE)))
		return -ENODATA;
	rc = remove ? 0 : space_meta_room(fs);
	if (rc < 0)
		return rc;
	b = meta_batch_new();
	if (!b)
		return -ENOMEM;
	if (remove)
		meta_xattr_del(b, in->ino, name);
	else
		meta_xattr_put(b, in->ino, name, value, size);
	in->attr.flags |= META_IF_XATTR;
	in->attr.ctime = fs_now();
	inode_save(b, in);
	rc = fs_commit(fs, b, false);
	meta_batch_free(b);
	if (rc < 0)
		in->attr = was;		/* not committed: as on disk */
	return rc;
}

/* setxattr user.aifs.failpoints=SPEC on the mount root: root arms the fail
 * points of a debug build (failpoint.h). */
static int failpoints_set(fuse_req_t req, const char *value, size_t size)
{
	char spec[256];
	int rc;

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

static void xattr_change(fuse_req_t req, fuse_ino_t ino, const char *name,
			 const char *value, size_t size, int flags, bool remove)
{
	struct fs *fs = fuse_req_userdata(req);
	struct inode *in;
	int rc = inode_get(fs, ino, &in), t = 1;

	if (rc == 0 && !remove && !strcmp(name, "user.aifs.failpoints") && ino == FUSE_ROOT_ID)
		t = failpoints_set(req, value, size);
	/* tier controls queue work for the tier thread: not under IN's lock */
	else if (rc == 0 && !remove && !strncmp(name, "user.aifs.", 10))
		t = tierctl_xattr_set(fs, req, in, name, value, size);
	if (t != 1) {
		rc = t;
		inode_put(fs, in);
	} else if (rc == 0 && !remove && !strcmp(name, "user.aifs.commit")) {
		const struct fuse_ctx *ctx = fuse_req_ctx(req);

		/* takes the namespace lock, so not under IN's */
		rc = !access_req_owner(req, &in->attr) ? -EPERM :
			version_dir_commit(fs, in->ino, ctx->uid, ctx->pid);
		inode_put(fs, in);
	} else if (rc == 0 && !remove && !strcmp(name, "user.aifs.retention")) {
		/* records the directory's path: reads its ancestors' locks, so not under IN's */
		rc = journal_dir_retention(fs, req, in, value, size);
		inode_put(fs, in);
	} else if (rc == 0 && !remove && !strcmp(name, "user.aifs.restore") &&
		   S_ISDIR(in->attr.mode)) {
		/* a directory version: commits, so not under IN's lock */
		rc = dir_restore(req, in, value, size);
		inode_put(fs, in);
	} else if (rc == 0 && !remove && !strcmp(name, "user.aifs.promote")) {
		/* creates a file: takes the namespace lock, so not under IN's */
		rc = fs_promote(fs, req, in, value, size);
		inode_put(fs, in);
	} else if (rc == 0) {
		pthread_rwlock_wrlock(&in->lock);
		rc = xattr_set(req, fs, in, name, value, size, flags, remove);
		pthread_rwlock_unlock(&in->lock);
		inode_put(fs, in);
	}
	fuse_reply_err(req, -rc);
}

static void do_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	xattr_change(req, ino, name, value, size, flags, false);
}

static void do_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	xattr_change(req, ino, name, NULL, 0, 0, true);
}

static void do_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = fuse_req_userdata(req);
	struct inode *in;
	void *val = NULL;
	size_t len = 0;
	int rc = virt_is(ino) ? -ENODATA : inode_get(fs, ino, &in);

	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (!strcmp(name, "user.aifs.lineage")) {
		rc = lineage_xattr(fs, in, fuse_req_ctx(req)->uid, (char **)&val, &len);
	} else if (!strcmp(name, "user.aifs.du")) {
		val = malloc(256);
		rc = val ? fs_du(fs, req, in, val, 256) : -ENOMEM;
		len = rc > 0 ? (size_t)rc : 0;
	} else if (journal_file(in) && (!strcmp(name, "user.aifs.sealed") ||
		   !strcmp(name, "user.aifs.retain_until") || !strcmp(name, "user.aifs.holds") ||
		   !strcmp(name, "user.aifs.retention_mode"))) {
		val = malloc(4096);
		pthread_rwlock_rdlock(&in->lock);
		rc = val ? journal_xattr_get(fs, in, name, val, 4096) : -ENOMEM;
		pthread_rwlock_unlock(&in->lock);
		len = rc > 0 ? (size_t)rc : 0;
	} else if (!strncmp(name, "user.aifs.", 10) &&
		   (rc = tierctl_xattr_get(fs, in, name, (char **)&val, &len)) != 1) {
		/* tiers: answered (or refused) by tierctl.c */
	} else if (!strncmp(name, "user.aifs.", 10)) {
		char *buf = malloc(256);

		pthread_rwlock_wrlock(&in->lock);	/* may load the map and hash */
		rc = buf ? version_xattr(fs, in, name, buf, 256) : -ENOMEM;
		pthread_rwlock_unlock(&in->lock);
		val = buf;
		len = rc > 0 ? (size_t)rc : 0;
	} else {
		rc = (in->attr.flags & META_IF_XATTR) && strlen(name) <= 255 ?
			meta_xattr_get(fs->meta, ino, name, &val, &len) : -ENODATA;
	}
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

static int xlist_add(void *ctx, const char *name, const void *val, size_t vlen)
{
	struct xlist *l = ctx;
	size_t n = strlen(name) + 1;

	(void)val;
	(void)vlen;
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

static void do_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fuse_req_userdata(req);
	struct xlist l = { 0 };
	struct inode *in;
	int rc = virt_is(ino) ? 1 : inode_get(fs, ino, &in);

	if (rc == 0) {
		if (in->attr.flags & META_IF_XATTR)
			rc = meta_xattr_foreach(fs->meta, ino, xlist_add, &l);
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
