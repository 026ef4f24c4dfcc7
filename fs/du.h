/* du.h — what a tree, a version, a snapshot or a clone holds alone
 * (du.c has the definitions of its figures).  Called by the xattr adapter
 * with no inode lock held. */
#ifndef AIFS_FS_DU_H
#define AIFS_FS_DU_H

#include "fs/fs.h"
#include "fs/fuseapi.h"

/* The figures of the file or tree at ROOT, as text into BUF: its length,
 * or -errno (EACCES: a directory the caller may not list). */
int fs_du(struct fs *fs, fuse_req_t req, struct inode *root, char *buf, size_t len);

#endif
