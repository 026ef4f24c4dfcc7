/* snapepoch.c — dataset snapshots as epochs of the store (meta/history.c):
 * making one, dropping one, and which snapshot a file is of.
 *
 * An epoch sees the store, not what open files hold buffered: making one
 * first stores every dirty file, each under its lock (whole write() calls
 * only).  Dropping one leaves its files the kernel knows holding what they
 * read until they are let go.
 */
#include "fs/inode.h"
#include "fs/data.h"
#include "fs/extmap.h"
#include "fs/space.h"
#include "fs/snapshot_priv.h"
#include "tier/failpoint.h"

#include <errno.h>
#include <stdlib.h>

/* The store format that epoch snapshots need (meta/history.c). */
#define FORMAT_EPOCHS	3

int snapshot_epoch_make(struct fs *fs, struct meta_batch *b, uint64_t ds, struct snaprec *r)
{
	uint64_t e;
	int rc = failpoint("snapshot_epoch", EOVERFLOW);	/* tests: the copy */

	if (rc == 0)
		rc = inode_flush_buffered(fs);	/* an epoch sees the store */
	if (rc == 0)
		rc = meta_epoch_create(fs->meta, b, ds, fs_ino_hwm(fs), r->time, &e);
	if (rc == 0 && fs->store->format < FORMAT_EPOCHS)
		rc = store_set_format(fs->store, FORMAT_EPOCHS);
	if (rc == 0) {
		r->root = meta_snap_ino(e, ds);
		r->files = r->bytes = UNCOUNTED;
	}
	return rc;
}

static bool of_epoch(const struct inode *in, void *ctx)
{
	return meta_ino_is_snap(in->ino) && meta_snap_epoch(in->ino) == *(const uint64_t *)ctx;
}

/* Drop the epoch snapshot with root ROOT in B (namespace locked, space
 * deferred); its files the kernel knows are held in *HELD: those open keep
 * what they read (their maps stay counted until they are let go).  What the
 * epoch's history held is found and uncounted by the commit
 * (snapshot_epoch_dropped). */
int snapshot_epoch_drop(struct fs *fs, struct meta_batch *b, uint64_t root, struct inode ***held,
			size_t *nheld)
{
	uint64_t e = meta_snap_epoch(root);
	int rc = inode_collect(fs, of_epoch, &e, held, nheld);

	for (size_t i = 0; rc == 0 && i < *nheld; i++) {
		struct inode *in = (*held)[i];

		pthread_rwlock_wrlock(&in->lock);
		if (S_ISREG(in->attr.mode) && !in->purged &&
		    (in->attr.alloc || (in->attr.flags & META_IF_INLINE)))
			rc = fs_map_load(fs, in);
		for (size_t j = 0; rc == 0 && !in->purged && j < in->map.n; j++)
			space_ref(fs, &in->map.v[j].ref);
		pthread_rwlock_unlock(&in->lock);
	}
	if (rc == 0)
		rc = meta_epoch_drop(fs->meta, b, e);
	return rc;
}

/* The epoch is dropped (B committed): the extents only its history held
 * are uncounted (space deferred: given back once that is durable), and its
 * files the kernel knows now read what they hold. */
void snapshot_epoch_dropped(struct fs *fs, struct meta_batch *b, struct inode **held, size_t n)
{
	const struct tier_ref *refs;
	size_t nr = meta_batch_dropped(b, &refs);

	for (size_t i = 0; i < nr; i++)
		space_unref(fs, &refs[i], 0, 0, false);
	for (size_t i = 0; i < n; i++) {
		pthread_rwlock_wrlock(&held[i]->lock);
		held[i]->attr.nlink = 0;
		held[i]->purged = true;
		pthread_rwlock_unlock(&held[i]->lock);
	}
}

int snapshot_root_of(struct fs *fs, uint64_t ino, uint64_t *root)
{
	struct meta_epoch ep;
	int rc;

	if (!meta_ino_is_snap(ino))
		return -ENOENT;
	rc = meta_epoch_get(fs->meta, meta_snap_epoch(ino), &ep);
	if (rc == 0)
		*root = meta_snap_ino(ep.epoch, ep.ds);
	return rc;
}
