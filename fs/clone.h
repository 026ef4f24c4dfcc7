/* clone.h — a writable copy of a directory tree that shares its data
 * (clone.c has the rules: permissions, what is copied, failures).
 * Layer: FUSE adapter, over dir.c; called by promote.c for a directory
 * (it takes the namespace lock itself, so the caller holds no inode lock);
 * its table of names is registered by main.c. */
#ifndef AIFS_FS_CLONE_H
#define AIFS_FS_CLONE_H

#include "fs/fs.h"
#include "fs/fuseapi.h"
#include "fs/xattr.h"

/* Copy the tree at SRC as NAME in directory PARENT (whose permissions
 * the caller checked): 0 or -errno. */
int fs_clone_tree(struct fs *fs, fuse_req_t req, struct inode *src, uint64_t parent,
		  const char *name);

/* user.aifs.restore=N (xattr.h, set) on a checkpoint directory: make it
 * hold what its version N holds, keeping what it held as a version first
 * and committing the result as its newest version (EBUSY: a file in it is
 * being written). */
extern const struct fs_xattr clone_xattrs[];

#endif
