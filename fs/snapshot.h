/* snapshot.h — dataset snapshots ('P' ds|tag records) and the frozen
 * trees they and directory versions are made of (snapshot.c).
 *
 * Layer: feature (snapshots); called by the FUSE adapter, versions,
 * lineage and tiering.
 *
 * Design of the next step: snapshots in constant time (not built yet).
 * Today a snapshot copies every record of the tree (about 12 us a file:
 * 1.3 s at 100,000 files).  A snapshot should instead be an epoch, as a
 * ZFS snapshot is a birth time:
 *
 *  - The store keeps an epoch counter E (a 'C' record).  Making a
 *    snapshot of DS writes one 'P' record DS|TAG = {epoch E, root DS}
 *    and increments E: constant time, whatever the tree's size.
 *  - Every namespace record of a dataset area (I, D, E, X, L, N) carries
 *    in its value the epoch it was born in.  A change to a record born
 *    before the newest snapshot epoch of the store does not overwrite it:
 *    the old value moves to a history key K|~death (one extra put in the
 *    same batch, only on the first change of a record after a snapshot),
 *    and the new value is written at K born now.  A store or an area
 *    without snapshots pays nothing.
 *  - Reading at epoch e (a lookup, getattr, readdir or extent map of a
 *    file inside snapshot DS@TAG) reads K if its birth is <= e, else seeks
 *    K|~e in the history to the oldest value whose death is > e: one seek
 *    per key.  A snapshot's files are named to the kernel by node ids
 *    allocated on lookup (snapshot id, live ino); st_ino stays stable as
 *    a hash of the pair.
 *  - A history value is garbage when no snapshot epoch lies in its
 *    [birth, death) span for a dataset it lies in; deleting a snapshot
 *    drops its 'P' record and a background sweep frees what no other
 *    snapshot needs, at a cost in the changes made since, not in the
 *    tree.  space.c counts an extent as used while any live or history
 *    extent record refers to it.
 *  - The format version goes up by one; snapshots made by copying stay
 *    readable as they are (their trees are ordinary frozen inodes), and
 *    directory versions keep the copy, which they need for their size.
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
/* The root of the epoch snapshot whose file INO is; -ENOENT if INO is not
 * a file of a live epoch snapshot. */
int snapshot_root_of(struct fs *fs, uint64_t ino, uint64_t *root);
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
