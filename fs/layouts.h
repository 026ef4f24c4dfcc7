/* layouts.h — directory checkpoints of training stacks recognised by the
 * file each stack writes last (layouts.c lists them).  The FUSE adapter
 * asks after a close or a rename, holding no lock, and commits the
 * directory (version_dir_commit) when told to.
 *
 * Layer: feature (versions of directories); called by the FUSE adapter
 * (rename.c) and vhooks.c; calls the core and versions.
 */
#ifndef AIFS_FS_LAYOUTS_H
#define AIFS_FS_LAYOUTS_H

#include <stdbool.h>
#include <stdint.h>

struct fs;
struct inode;

/* Does the close of checkpoint file IN (unlocked; as last looked up, its
 * name in directory *DIRP) complete that directory's save? */
bool layout_close_commits(struct fs *fs, struct inode *in, uint64_t *dirp);
/* Does a rename onto NAME in directory DIR complete DIR's save? */
bool layout_rename_commits(struct fs *fs, uint64_t dir, const char *name);

#endif
