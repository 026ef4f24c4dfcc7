/* acl.c — POSIX ACLs kept as xattrs, in step with the mode (see acl.h).
 *
 * Value format (the kernel's, little-endian): a u32 version (2), then
 * entries { u16 tag, u16 perm, u32 id }, in tag order ACL_USER_OBJ,
 * ACL_USER..., ACL_GROUP_OBJ, ACL_GROUP..., ACL_MASK, ACL_OTHER, named
 * entries by ascending id.  The rules are those of posix_acl_valid(),
 * posix_acl_equiv_mode(), posix_acl_create_masq() and posix_acl_chmod().
 */
#include "fs/acl.h"
#include "fs/inode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#define ACL_VERSION	2
#define ACL_HDR		4
#define ACL_ENTRY	8

#define TAG_USER_OBJ	0x01
#define TAG_USER	0x02
#define TAG_GROUP_OBJ	0x04
#define TAG_GROUP	0x08
#define TAG_MASK	0x10
#define TAG_OTHER	0x20

static uint32_t le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t tag_at(const uint8_t *v, size_t i)
{
	const uint8_t *e = v + ACL_HDR + i * ACL_ENTRY;

	return (uint16_t)(e[0] | e[1] << 8);
}

static uint16_t perm_at(const uint8_t *v, size_t i)
{
	const uint8_t *e = v + ACL_HDR + i * ACL_ENTRY + 2;

	return (uint16_t)(e[0] | e[1] << 8);
}

static void perm_put(uint8_t *v, size_t i, uint32_t perm)
{
	uint8_t *e = v + ACL_HDR + i * ACL_ENTRY + 2;

	e[0] = (uint8_t)(perm & 7);
	e[1] = 0;
}

static size_t count(size_t size)
{
	return (size - ACL_HDR) / ACL_ENTRY;
}

bool acl_name(const char *name)
{
	return !strcmp(name, ACL_XATTR_ACCESS) || !strcmp(name, ACL_XATTR_DEFAULT);
}

/* 0 if V (SIZE bytes) is a well-formed ACL, else -EINVAL. */
static int acl_valid(const uint8_t *v, size_t size)
{
	static const uint16_t order[] = { TAG_USER_OBJ, TAG_USER, TAG_GROUP_OBJ, TAG_GROUP,
					  TAG_MASK, TAG_OTHER };
	size_t n, state = 0;
	bool named = false, mask = false, have[6] = { false };
	uint32_t prev = 0;

	if (size < ACL_HDR + ACL_ENTRY || (size - ACL_HDR) % ACL_ENTRY ||
	    le32(v) != ACL_VERSION)
		return -EINVAL;
	n = count(size);
	for (size_t i = 0; i < n; i++) {
		uint16_t tag = tag_at(v, i);
		uint32_t id = le32(v + ACL_HDR + i * ACL_ENTRY + 4);
		size_t s = state;

		if (perm_at(v, i) & ~7u)
			return -EINVAL;
		while (s < 6 && order[s] != tag)
			s++;
		if (s == 6)
			return -EINVAL;		/* unknown tag, or out of order */
		if (tag == TAG_USER || tag == TAG_GROUP) {
			if (s == state && have[s] && id <= prev)
				return -EINVAL;	/* named entries by ascending id, once */
			prev = id;
			named = true;
		} else if (have[s]) {
			return -EINVAL;		/* the others at most once */
		}
		mask |= tag == TAG_MASK;
		have[s] = true;
		state = s;
	}
	if (!have[0] || !have[2] || !have[5] || (named && !mask))
		return -EINVAL;
	return 0;
}

/* The mode bits V stands for; true if V says no more than they do. */
static bool acl_equiv_mode(const uint8_t *v, size_t size, uint32_t *mode)
{
	uint32_t m = 0, group = 0, mask = 8;
	bool equiv = true;

	for (size_t i = 0; i < count(size); i++) {
		uint32_t p = perm_at(v, i);

		switch (tag_at(v, i)) {
		case TAG_USER_OBJ: m |= p << 6; break;
		case TAG_GROUP_OBJ: group = p; break;
		case TAG_OTHER: m |= p; break;
		case TAG_MASK: mask = p; equiv = false; break;
		default: equiv = false; break;
		}
	}
	*mode = m | (mask != 8 ? mask : group) << 3;
	return equiv;
}

/* Set V's owner, mask (or group) and other permissions to MODE's. */
static void acl_chmod_masq(uint8_t *v, size_t size, uint32_t mode)
{
	size_t group = SIZE_MAX, mask = SIZE_MAX;

	for (size_t i = 0; i < count(size); i++) {
		switch (tag_at(v, i)) {
		case TAG_USER_OBJ: perm_put(v, i, mode >> 6); break;
		case TAG_GROUP_OBJ: group = i; break;
		case TAG_MASK: mask = i; break;
		case TAG_OTHER: perm_put(v, i, mode); break;
		default: break;
		}
	}
	perm_put(v, mask != SIZE_MAX ? mask : group, mode >> 3);
}

/* Mask *MODE by V and V by *MODE, as for a new inode; true if V still says
 * more than the mode. */
static bool acl_create_masq(uint8_t *v, size_t size, uint32_t *mode)
{
	uint32_t m = *mode & 0777;
	size_t group = SIZE_MAX, mask = SIZE_MAX, g;
	bool not_equiv = false;

	for (size_t i = 0; i < count(size); i++) {
		uint32_t p = perm_at(v, i);

		switch (tag_at(v, i)) {
		case TAG_USER_OBJ:
			p &= m >> 6;
			perm_put(v, i, p);
			m = (m & 077) | p << 6;
			break;
		case TAG_GROUP_OBJ: group = i; break;
		case TAG_MASK: mask = i; not_equiv = true; break;
		case TAG_OTHER:
			p &= m;
			perm_put(v, i, p);
			m = (m & 0770) | p;
			break;
		default: not_equiv = true; break;
		}
	}
	g = mask != SIZE_MAX ? mask : group;
	perm_put(v, g, perm_at(v, g) & (m >> 3));
	m = (m & 0707) | (uint32_t)perm_at(v, g) << 3;
	*mode = (*mode & ~0777u) | m;
	return not_equiv;
}

/* Read ACL xattr NAME of IN (locked) into *V; -ENODATA if it has none. */
static int acl_get(struct fs *fs, const struct meta_inode *a, const char *name, uint8_t **v,
		   size_t *size)
{
	if (!(a->flags & META_IF_XATTR))
		return -ENODATA;
	return meta_xattr_get(fs->meta, a->ino, name, (void **)v, size);
}

/* The new mode of IN for access ACL V and the set-gid rule of
 * posix_acl_update_mode(): a caller outside the group (not root) loses it. */
static uint32_t mode_for(fuse_req_t req, const struct meta_inode *a, const uint8_t *v,
			 size_t size, bool *equiv)
{
	struct access_cred c;
	uint32_t m, mode;

	*equiv = acl_equiv_mode(v, size, &m);
	mode = (a->mode & ~0777u) | m;
	access_cred_get(req, &c);
	if (c.uid != 0 && !access_in_group(&c, a->gid))
		mode &= ~(uint32_t)S_ISGID;
	return mode;
}

int acl_xattr_set(fuse_req_t req, struct fs *fs, struct inode *in, const char *name,
		  const void *value, size_t size, int flags, bool remove)
{
	bool access = !strcmp(name, ACL_XATTR_ACCESS), equiv = false, had;
	struct meta_inode saved = in->attr;
	struct meta_batch *b;
	uint8_t *old = NULL;
	size_t oldlen;
	int rc;

	if (!access_req_owner(req, &in->attr))
		rc = -EPERM;
	else if (!access && !S_ISDIR(in->attr.mode))
		rc = remove ? -ENODATA : -EACCES;	/* only directories have one */
	else
		rc = remove ? 0 : acl_valid(value, size);
	if (rc == 0)
		rc = acl_get(fs, &in->attr, name, &old, &oldlen);
	free(old);
	if (rc < 0 && rc != -ENODATA) {
		log_debug("inode %llu: %s of %s by uid %u refused: %s",
			  (unsigned long long)in->ino, remove ? "removal" : "setting", name,
			  fuse_req_ctx(req)->uid, strerror(-rc));
		return rc;
	}
	had = rc == 0;
	if (had ? !remove && (flags & XATTR_CREATE) : remove || (flags & XATTR_REPLACE))
		return had ? -EEXIST : -ENODATA;
	b = meta_batch_new();
	if (!b)
		return -ENOMEM;
	if (access && !remove)
		in->attr.mode = mode_for(req, &in->attr, value, size, &equiv);
	if (remove || equiv)
		meta_xattr_del(b, in->ino, name);	/* a mode says it all */
	else
		meta_xattr_put(b, in->ino, name, value, size);
	if (!remove && !equiv)
		in->attr.flags |= META_IF_XATTR;
	in->attr.ctime = fs_now();
	inode_save(b, in);
	rc = fs_commit(fs, b, false);
	meta_batch_free(b);
	if (rc < 0)
		in->attr = saved;
	return rc;
}

int acl_chmod(struct fs *fs, struct inode *in, struct meta_batch *b)
{
	uint8_t *v;
	size_t size;
	int rc = acl_get(fs, &in->attr, ACL_XATTR_ACCESS, &v, &size);

	if (rc == -ENODATA)
		return 0;
	if (rc < 0)
		return rc;
	if (acl_valid(v, size) == 0) {
		acl_chmod_masq(v, size, in->attr.mode);
		meta_xattr_put(b, in->ino, ACL_XATTR_ACCESS, v, size);
	}
	free(v);
	return 0;
}

int acl_inherit(fuse_req_t req, struct fs *fs, struct inode *dir, struct meta_inode *a,
		struct meta_batch *b)
{
	uint8_t *v;
	size_t size;
	int rc;

	if (S_ISLNK(a->mode))
		return 0;
	rc = acl_get(fs, &dir->attr, ACL_XATTR_DEFAULT, &v, &size);
	if (rc == -ENODATA || (rc == 0 && acl_valid(v, size) < 0)) {
		if (rc == 0)
			free(v);
		/* with FUSE_CAP_POSIX_ACL the kernel leaves the umask to us */
		a->mode &= ~(fuse_req_ctx(req)->umask & 0777);
		return 0;
	}
	if (rc < 0)
		return rc;
	if (S_ISDIR(a->mode)) {
		meta_xattr_put(b, a->ino, ACL_XATTR_DEFAULT, v, size);
		a->flags |= META_IF_XATTR;
	}
	if (acl_create_masq(v, size, &a->mode)) {
		meta_xattr_put(b, a->ino, ACL_XATTR_ACCESS, v, size);
		a->flags |= META_IF_XATTR;
	}
	free(v);
	return 0;
}

/* True if V, the access ACL of an inode of group GID, grants C (not its
 * owner) all of WANT, as posix_acl_permission(): C's named user entry if
 * there is one, else any matching group entry, each limited by the mask;
 * the other entry only if no user or group entry matched. */
static bool acl_permits(const uint8_t *v, size_t size, uint32_t gid,
			const struct access_cred *c, uint32_t want)
{
	uint32_t mask = 7, other = 0;
	bool matched = false;

	for (size_t i = 0; i < count(size); i++) {
		if (tag_at(v, i) == TAG_MASK)
			mask = perm_at(v, i);
		else if (tag_at(v, i) == TAG_OTHER)
			other = perm_at(v, i);
	}
	for (size_t i = 0; i < count(size); i++)
		if (tag_at(v, i) == TAG_USER && le32(v + ACL_HDR + i * ACL_ENTRY + 4) == c->uid)
			return (perm_at(v, i) & mask & want) == want;
	for (size_t i = 0; i < count(size); i++) {
		uint16_t tag = tag_at(v, i);

		if ((tag == TAG_GROUP_OBJ && access_in_group(c, gid)) ||
		    (tag == TAG_GROUP && access_in_group(c, le32(v + ACL_HDR + i * ACL_ENTRY + 4)))) {
			matched = true;
			if ((perm_at(v, i) & mask & want) == want)
				return true;
		}
	}
	return !matched && (other & want) == want;
}

int acl_access_check(struct fs *fs, const struct access_cred *c, const struct meta_inode *a,
		     int mask)
{
	uint8_t *v;
	size_t size;
	bool ok;
	int rc;

	/* the owner, root, and a mode with no group bits (every entry masked
	 * out) are decided by the mode, as in the kernel */
	if (c->uid == 0 || c->uid == a->uid || !(a->mode & 070))
		return access_check(c, a, mask);
	rc = acl_get(fs, a, ACL_XATTR_ACCESS, &v, &size);
	if (rc == -ENODATA)
		return access_check(c, a, mask);
	if (rc < 0)
		return rc;
	if (acl_valid(v, size) < 0) {
		free(v);
		return access_check(c, a, mask);
	}
	ok = acl_permits(v, size, a->gid, c, (uint32_t)mask & (R_OK | W_OK | X_OK));
	free(v);
	return ok ? 0 : -EACCES;
}

int acl_version_copy(struct fs *fs, struct inode *in, struct meta_inode *va,
		     struct meta_batch *b)
{
	uint8_t *v;
	size_t size;
	int rc = acl_get(fs, &in->attr, ACL_XATTR_ACCESS, &v, &size);

	if (rc == -ENODATA)
		return 0;
	if (rc < 0)
		return rc;
	if (acl_valid(v, size) == 0) {
		for (size_t i = 0; i < count(size); i++)
			perm_put(v, i, perm_at(v, i) & ~2u);	/* versions are read-only */
		meta_xattr_put(b, va->ino, ACL_XATTR_ACCESS, v, size);
		va->flags |= META_IF_XATTR;
	}
	free(v);
	return 0;
}

int acl_check_ino(struct fs *fs, const struct access_cred *c, uint64_t ino, int mask)
{
	struct meta_inode a;
	struct inode *in;
	int rc = inode_get(fs, ino, &in);

	if (rc < 0)
		return rc;
	pthread_rwlock_rdlock(&in->lock);
	a = in->attr;
	pthread_rwlock_unlock(&in->lock);
	inode_put(fs, in);
	return acl_access_check(fs, c, &a, mask);
}
