/* path.h — names and paths in the namespace (path.c): the parent an inode
 * was last looked up in, its name there, and the path of a directory from
 * the mount root.  Slow (a directory scan per level): for records and
 * attributes that name a file, never for a request's own path.  Also the
 * records and in-memory changes of the namespace operations that move or
 * drop names (a rename, the drop of a link), which the adapter's handlers
 * check, lock and commit.
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

/* Drop one link of IN (locked for writing) into B: the last link (any
 * link of a directory) makes it an orphan, purged at its last reference. */
void fs_drop_link(struct meta_batch *b, struct inode *in, int64_t now);

/* A rename: SRC, named NAME in directory P (inode PARENT), takes the name
 * NEWNAME in directory NP (NEWPARENT; may be P), replacing DST (NULL if
 * none), whose link is dropped; with EXCHANGE, DST takes NAME in P.
 * Callers hold fs->ns for writing; fs_rename_apply's caller has checked
 * the rename (fs_rename_allowed; types, an empty directory replaced, its
 * permissions), holds the four inodes' locks, and DST is not SRC. */
struct fs_rename {
	uint64_t parent, newparent;
	const char *name, *newname;
	bool exchange;
	struct inode *p, *np, *src, *dst;
	/* What fs_rename_apply changed in memory, for fs_rename_undo. */
	struct {
		struct meta_inode attr;
		uint64_t parent;
		bool purged;
	} saved[4];
};

/* May R happen, as far as the core and the features' may_change hooks
 * tell (its directories are not read-only, nothing moves into a journal
 * area from outside one, no feature refuses a change of SRC or DST)?  0;
 * 1 if DST is SRC (two links of one inode: nothing to do); or -errno.
 * The types, an empty directory replaced and the caller's permissions
 * are the adapter's to check. */
int fs_rename_allowed(struct fs *fs, const struct fs_rename *r);
/* Put R's records into B (dentries, the inodes' attributes, DST's orphan
 * record if its last link went) and make its changes in memory (links,
 * times, parents), saving what they replace. */
void fs_rename_apply(struct meta_batch *b, struct fs_rename *r);
/* B's commit failed: put back in memory what fs_rename_apply changed. */
void fs_rename_undo(struct fs_rename *r);

#endif
