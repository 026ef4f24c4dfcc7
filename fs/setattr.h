/* setattr.h — a change of attributes applied to an inode (setattr.c).
 *
 * Layer: FUSE adapter; called by the setattr handler (ops.c) and by the
 * open of a file with O_TRUNC (file.c).
 */
#ifndef AIFS_FS_SETATTR_H
#define AIFS_FS_SETATTR_H

#include "fs/fs.h"

#include <sys/stat.h>

/* Apply a setattr (TO_SET, FUSE_SET_ATTR_* bits, of ATTR) to IN (locked
 * for writing) into B: 0 or -errno, IN's attributes changed only in
 * memory until B is committed. */
int fs_setattr_apply(struct fs *fs, struct inode *in, struct meta_batch *b,
		     const struct stat *attr, int to_set);

#endif
