/* acl.h — POSIX ACLs: system.posix_acl_access and system.posix_acl_default
 * (fs/ only).
 *
 * The kernel enforces ACLs (default_permissions with FUSE_CAP_POSIX_ACL):
 * it reads them with getxattr and caches them.  The daemon stores them as
 * ordinary xattrs, in the kernel's xattr format, and does around them what
 * the kernel does for a local filesystem (fs/posix_acl.c), because for a
 * FUSE filesystem it does not: keep the mode and the access ACL in step,
 * and derive a new inode's mode and ACLs from its directory's default ACL
 * or from the caller's umask.
 *
 * Invariant: a stored access ACL is never equivalent to a mode (it has a
 * named entry or a mask), and its ACL_USER_OBJ, ACL_MASK and ACL_OTHER
 * permissions are the owner, group and other bits of the inode's mode.
 *
 * Layer: permissions, over access.h and the core; called by the features
 * and the FUSE adapter.
 */
#ifndef AIFS_FS_ACL_H
#define AIFS_FS_ACL_H

#include "fs/fuseapi.h"

#include "fs/access.h"

#define ACL_XATTR_ACCESS	"system.posix_acl_access"
#define ACL_XATTR_DEFAULT	"system.posix_acl_default"

/* True if NAME is one of the two ACL xattr names. */
bool acl_name(const char *name);

/* setxattr (or, with REMOVE, removexattr) of ACL xattr NAME on IN, locked
 * for writing, by REQ's caller; FLAGS are XATTR_CREATE / XATTR_REPLACE.
 * Validates the value (-EINVAL), allows only the owner or root (-EPERM),
 * keeps the mode in step and commits.  Returns 0 or -errno. */
int acl_xattr_set(fuse_req_t req, struct fs *fs, struct inode *in, const char *name,
		  const void *value, size_t size, int flags, bool remove);

/* After IN's mode changed (IN locked for writing): put into B its access
 * ACL with the owner, mask (or group) and other permissions of the new
 * mode, as chmod(2) does.  0 or -errno. */
int acl_chmod(struct fs *fs, struct inode *in, struct meta_batch *b);

/* A new inode A is made in directory DIR (locked) by REQ: mask A's mode by
 * DIR's default ACL, or by the caller's umask when DIR has none; put the
 * access ACL (and, for a directory, the default ACL) it inherits into B.
 * Symbolic links take neither.  0 or -errno. */
int acl_inherit(fuse_req_t req, struct fs *fs, struct inode *dir, struct meta_inode *a,
		struct meta_batch *b);

/* 0 if C may do MASK (R_OK, W_OK, X_OK) to an inode with attributes A,
 * else -EACCES: access_check() with A's access ACL applied as the kernel
 * applies it (posix_acl_permission()).  -errno if the ACL cannot be read. */
int acl_access_check(struct fs *fs, const struct access_cred *c, const struct meta_inode *a,
		     int mask);

/* A version VA of IN (locked) is made: put IN's access ACL, with no write
 * permission in any entry, as VA's into B and flag VA as having xattrs.
 * A version keeps the ACL of the commit; later changes of the live file do
 * not reach it, as they do not reach its mode.  0 or -errno. */
int acl_version_copy(struct fs *fs, struct inode *in, struct meta_inode *va,
		     struct meta_batch *b);

/* acl_access_check() for inode INO, its attributes read under its lock:
 * 0, -EACCES, or -errno of loading it. */
int acl_check_ino(struct fs *fs, const struct access_cred *c, uint64_t ino, int mask);

#endif
