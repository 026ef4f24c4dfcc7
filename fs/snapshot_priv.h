/* snapshot_priv.h — what the files of dataset snapshots share (snapshot.c,
 * snapepoch.c, snapcensus.c; fs/ only).
 *
 * Layer: private to the snapshots feature.
 */
#ifndef AIFS_FS_SNAPSHOT_PRIV_H
#define AIFS_FS_SNAPSHOT_PRIV_H

#include "fs/fs.h"
#include "fs/snapshot.h"
#include "meta/records.h"

/* Record kind (meta/records.h). */
#define REC_P	META_REC_SNAPSHOT

/* files and bytes of an epoch snapshot not counted yet (counted after it is
 * made, not when: that is what makes it constant time) */
#define UNCOUNTED	UINT64_MAX

struct snaprec {
	uint64_t root;
	int64_t time;
	uint64_t files, bytes;
};

/* snapepoch.c */

/* Make the snapshot of DS in B as an epoch (namespace locked): *R's root;
 * -EOVERFLOW if it cannot be one (then it is copied). */
int snapshot_epoch_make(struct fs *fs, struct meta_batch *b, uint64_t ds, struct snaprec *r);
/* Drop the epoch snapshot with root ROOT in B (namespace locked, space
 * deferred); its files the kernel knows are held in *HELD (malloc'd, the
 * caller puts each and frees it). */
int snapshot_epoch_drop(struct fs *fs, struct meta_batch *b, uint64_t root, struct inode ***held,
			size_t *nheld);
/* The epoch is dropped (B committed): uncount what only its history held. */
void snapshot_epoch_dropped(struct fs *fs, struct meta_batch *b, struct inode **held, size_t n);

/* snapcensus.c */

/* The lock 'P' records change under (taken inside the namespace lock), so
 * that a count is never stored into a snapshot deleted meanwhile. */
void snapshot_census_lock(void);
void snapshot_census_unlock(void);
/* Have the census thread, if it runs, count the snapshots not counted yet. */
void snapshot_census_wake(void);
/* Fill in SI's counts, read from the 'P' record K, if they are not made yet. */
void snapshot_counts(struct fs *fs, const uint8_t *k, size_t klen, struct snapinfo *si);

#endif
