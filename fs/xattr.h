/* xattr.h — how the modules that serve extended attribute names (the
 * user.aifs.* controls of versions, the journal, lineage, tiers, du,
 * promote and restore) plug into the xattr handlers of the FUSE adapter
 * (xattr.c), which knows none of their names.
 *
 * Each module exports a table of struct fs_xattr, ended by an entry whose
 * name is NULL; main.c registers the tables at mount (fs_xattr_register),
 * before any request is served.  xattr.c asks the entries that match a
 * name in the order of registration, its own last (the area, the fail
 * points, POSIX ACLs, what is left of user.aifs.*, and the attributes
 * stored for the inode, which answer any other name), until one answers:
 *
 *   getxattr      every entry with a get, IN unlocked (a handler takes
 *                 IN's lock as it needs it);
 *   setxattr      first the entries without FS_XATTR_LOCKED (controls that
 *                 take the namespace lock or queue work: IN unlocked), then
 *                 under IN's lock for writing: the FS_XATTR_ON_READONLY
 *                 entries, -EROFS for a read-only inode, the other locked
 *                 entries, where an FS_XATTR_GUARDED one is made only if
 *                 the features let IN change (fs_hook_may_change);
 *   removexattr   the locked entries only, as setxattr, with VALUE NULL;
 *   listxattr     every entry with a list.
 *
 * A handler returns FS_XATTR_PASS for a name it does not serve on that
 * inode (the next entry is asked), 0 or a length, or -errno.
 *
 * Layer: the FUSE adapter's interface to the modules below it, as hooks.h
 * is the core's: the modules define tables and never call xattr.c; only
 * main.c registers them.
 */
#ifndef AIFS_FS_XATTR_H
#define AIFS_FS_XATTR_H

#include "fs/fs.h"
#include "fs/fuseapi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FS_XATTR_PASS		1

#define FS_XATTR_LOCKED		1u	/* set under IN's lock for writing */
#define FS_XATTR_ON_READONLY	2u	/* ...also on a read-only inode (a version) */
#define FS_XATTR_GUARDED	4u	/* ...only if the features let IN change */

struct fs_xattr {
	/* The attribute's name, or a prefix followed by '*' ("user.aifs.*";
	 * "*" alone matches every name). */
	const char *name;
	/* Who serves it: the module (for logs and the reader). */
	const char *owner;
	unsigned flags;
	/* Value of NAME of IN in *VAL (malloc'd, the caller frees) of *LEN
	 * bytes: 0, FS_XATTR_PASS or -errno. */
	int (*get)(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		   char **val, size_t *len);
	/* Set NAME of IN to VALUE (SIZE bytes; NULL: remove NAME), FLAGS
	 * XATTR_CREATE or XATTR_REPLACE: 0, FS_XATTR_PASS or -errno. */
	int (*set)(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		   const char *value, size_t size, int flags);
	/* Call ADD for each name of IN the entry serves: 0 or -errno. */
	int (*list)(struct fs *fs, struct inode *in,
		    int (*add)(void *ctx, const char *name), void *ctx);
};

/* Add TABLE (static, never freed) after those registered before it;
 * -ENOSPC past FS_XATTR_TABLES. */
int fs_xattr_register(struct fs *fs, const struct fs_xattr *table);

/* A value "N" (decimal, 1 to UINT32_MAX, no terminating NUL needed) in *N:
 * 0 or -EINVAL.  For handlers of version numbers. */
static inline int fs_xattr_u32(const char *value, size_t size, uint32_t *n)
{
	char num[16], *end;
	unsigned long v;

	if (!value || size == 0 || size >= sizeof(num))
		return -EINVAL;
	memcpy(num, value, size);
	num[size] = 0;
	v = strtoul(num, &end, 10);
	if (*end || !v || v > UINT32_MAX)
		return -EINVAL;
	*n = (uint32_t)v;
	return 0;
}

#endif
