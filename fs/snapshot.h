/* snapshot.h — dataset snapshots ('P' ds|tag records) and the frozen
 * trees they and directory versions are made of (snapshot.c).
 *
 * Layer: feature (snapshots); called by the FUSE adapter, versions,
 * lineage and tiering.
 */
#ifndef AIFS_FS_SNAPSHOT_H
#define AIFS_FS_SNAPSHOT_H

#include "fs/fs.h"

struct snapinfo {
	uint64_t root;		/* root directory inode of the frozen tree */
	int64_t time;
	uint64_t files, bytes;
};
/* A file of the snapshot with root ROOT is opened for reading. */
void snapshot_used(struct fs *fs, uint64_t root);
/* When the snapshot was last used: its creation, or the last open of one of
 * its files for reading (to the grain snapshot_used keeps). */
int64_t snapshot_last_used(struct fs *fs, const struct snapinfo *si);
/* Freeze the tree under dataset directory DS as TAG; *ROOT is its root. */
int snapshot_create(struct fs *fs, uint64_t ds, const char *tag, uint32_t uid, uint64_t *root);
/* Files the snapshot being made has copied so far (0: none is being made). */
uint64_t snapshot_progress(void);
int snapshot_delete(struct fs *fs, uint64_t ds, const char *tag, uint32_t uid);
int snapshot_get(struct fs *fs, uint64_t ds, const char *tag, struct snapinfo *si);
/* Which snapshot (dataset DS, TAG of at most LEN - 1 bytes) ROOT is the root of. */
int snapshot_find_root(struct fs *fs, uint64_t root, uint64_t *ds, char *tag, size_t len,
		       struct snapinfo *si);
int snapshot_foreach(struct fs *fs, uint64_t ds,
		     int (*fn)(void *ctx, const char *tag, size_t len, const struct snapinfo *si),
		     void *ctx);
/* Freeze the tree under DIR as a read-only copy rooted at *ROOT, into B;
 * drop such a tree (namespace locked for both). */
int snapshot_tree_freeze(struct fs *fs, uint64_t dir, struct meta_batch *b, uint64_t *root,
		uint64_t *files, uint64_t *bytes);
int snapshot_tree_drop(struct fs *fs, uint64_t root, struct meta_batch *b, struct inode ***held,
	      size_t *nheld);

#endif
