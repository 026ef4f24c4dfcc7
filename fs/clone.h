/* clone.h — a writable copy of a directory tree that shares its data
 * (clone.c has the rules: permissions, what is copied, failures).
 * Called by promote.c for a directory; takes the namespace lock itself, so
 * the caller holds no inode lock. */
#ifndef AIFS_FS_CLONE_H
#define AIFS_FS_CLONE_H

#include "fs/fs.h"
#include "fs/fuseapi.h"

/* Copy the tree at SRC as NAME in directory PARENT (whose permissions
 * the caller checked): 0 or -errno. */
int fs_clone_tree(struct fs *fs, fuse_req_t req, struct inode *src, uint64_t parent,
		  const char *name);

/* Make directory DIR (a checkpoint directory; no lock held) hold what its
 * version N holds, keeping what it held as a version first and committing
 * the result as its newest version: 0 or -errno (EBUSY: a file in it is
 * being written). */
int fs_restore_tree(struct fs *fs, fuse_req_t req, struct inode *dir, uint32_t n);
/* Serve the clone ioctl (aifs_ioctl.h) in OPS. */
void fs_clone_ops(struct fuse_lowlevel_ops *ops);

#endif
