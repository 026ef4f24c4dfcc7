/* snapshot.h — dataset snapshots ('P' ds|tag records) and the frozen
 * trees they and directory versions are made of (snapshot.c; epochs in
 * snapepoch.c, their counts in snapcensus.c).
 *
 * Layer: feature (snapshots); called by the FUSE adapter, versions,
 * lineage and tiering.
 *
 * Snapshots in constant time.  A dataset snapshot is an epoch, as a ZFS
 * snapshot is a birth time (meta/history.c has the details):
 *
 *  - The store keeps an epoch counter ('S' "epochs").  Making a snapshot
 *    of DS writes an 'e' record {hwm, DS} and a 'P' record DS|TAG, and
 *    moves to the next epoch: constant time, whatever the tree's size.
 *  - The first change, after a snapshot, of a namespace record (I D E X L
 *    N and the content hash H) of an inode that existed then (numbered at
 *    most hwm: numbers only grow) keeps the old value, or "absent" for a
 *    name made since, in an 'h' record keyed by the record and the epoch of
 *    the change (its death), with a 'g' index by death; one extra put in
 *    the same batch, once per record and snapshot.  Inodes made after the
 *    newest snapshot pay nothing; a store without snapshots pays a shared
 *    lock per commit.
 *  - Reading at epoch e (a file inside snapshot DS@TAG) reads the first
 *    history entry of a key whose death is > e (one seek), else the live
 *    record; listings merge the two in key order.  A snapshot's files are
 *    named by snapshot inode numbers (bit 61 | epoch << 40 | live ino), so
 *    st_ino is stable and distinct from every live and other snapshot
 *    inode, and hard links share it.
 *  - A history entry is garbage when no live epoch lies in its span
 *    [previous death, death); dropping a snapshot deletes the entries that
 *    died between it and the next live epoch that no earlier live epoch
 *    sees: a cost in the changes made since, not in the tree.  Extents that
 *    history records reference stay counted (space.c, the space log, fsck,
 *    gc and the recount at mount see them).
 *  - Format 3; stores whose numbers do not fit, and directory versions
 *    (which need their size), copy.
 *
 * Where this departs from the first design (birth epochs in every value):
 * no value format changed; a name made since a snapshot gets an "absent"
 * entry instead of a birth, and the hwm spares every inode made later.
 */
#ifndef AIFS_FS_SNAPSHOT_H
#define AIFS_FS_SNAPSHOT_H

#include "fs/fs.h"

struct snapinfo {
	uint64_t root;		/* root directory inode of the frozen tree */
	int64_t time;
	uint64_t files, bytes;
};
/* The thread that counts the files and bytes of epoch snapshots once they
 * are made (the writer's, read-write mounts); stop it before the store
 * closes. */
int snapshot_census_start(struct fs *fs);
void snapshot_census_stop(void);
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
