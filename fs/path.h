/* path.h — names and paths in the namespace (path.c): the parent an inode
 * was last looked up in, its name there, and the path of a directory from
 * the mount root.  Slow (a directory scan per level): for records and
 * attributes that name a file, never for a request's own path.
 *
 * Layer: core, above inode.h; called by features (lineage, the journal)
 * and the adapter.
 */
#ifndef AIFS_FS_PATH_H
#define AIFS_FS_PATH_H

#include "fs/fs.h"

/* Last known parent and attributes of inode INO. */
int fs_ino_parent(struct fs *fs, uint64_t ino, uint64_t *parent, struct meta_inode *a);
/* Name of INO in directory DIR into NAME (META_NAME_MAX + 1 bytes); a scan. */
int fs_name_in(struct fs *fs, uint64_t dir, uint64_t ino, char *name);
/* Path of directory INO from the mount root, without a leading slash ("" for
 * the root), through the parents the inode table knows; -ENOENT if one is
 * unknown. */
int fs_dir_path(struct fs *fs, uint64_t ino, char *buf, size_t len);

#endif
