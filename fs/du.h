/* du.h — what a tree, a version, a snapshot or a clone holds alone
 * (du.c has the definitions of its figures).
 *
 * Layer: FUSE adapter (an attribute); its table is registered by main.c.
 */
#ifndef AIFS_FS_DU_H
#define AIFS_FS_DU_H

#include "fs/fs.h"
#include "fs/xattr.h"

/* user.aifs.du (xattr.h, get) of a file or directory: its figures as text;
 * EACCES for a directory the caller may not list.  user.aifs.snapshot of a
 * snapshot's root: its files and bytes, as counted once (no walk). */
extern const struct fs_xattr du_xattrs[];

#endif
