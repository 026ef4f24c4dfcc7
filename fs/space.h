/* space.h — who references which stored extent, and giving space back
 * (space.c; the sweep of bytes no extent covers: spacesweep.c).
 *
 * A record referencing an extent is counted with space_ref and uncounted
 * with space_unref; when no record references an extent any more, its
 * blocks are freed (and its segment removed once empty) by a background
 * thread, after the metadata that dropped it is durable.  With UNIQUE the
 * caller knows nothing else uses the decoded range [inner, inner+len) of
 * the removed record (plain areas share no extents), so that range is
 * freed at once even if other pieces of the extent live on.
 *
 * Layer: core; called by the core, by tiering (migration, gc) and by main.c.
 */
#ifndef AIFS_FS_SPACE_H
#define AIFS_FS_SPACE_H

#include "fs/fs.h"

int space_init(struct fs *fs);
/* Whether IN's extents are its own alone: a plain file's, unless it was
 * ever given or gave shared ones (META_IF_SHARED: promote, copy_file_range)
 * or an epoch snapshot keeps its records; then what it removes is freed at
 * once (space_unref's UNIQUE). */
static inline bool fs_extents_unique(struct fs *fs, const struct inode *in)
{
	return in->attr.policy == META_AREA_PLAIN && !(in->attr.flags & META_IF_SHARED) &&
	       !meta_history_covers(fs->meta, in->ino);
}
void space_ref(struct fs *fs, const struct tier_ref *r);
/* Count R, which an epoch snapshot's history record now references (a
 * commit kept it: meta_batch_kept); no uncount held back for it frees its
 * range at once any more. */
void space_kept(struct fs *fs, const struct tier_ref *r);
/* How many extent records reference the stored extent at R (0: none). */
uint32_t space_refs(struct fs *fs, const struct tier_ref *r);
void space_unref(struct fs *fs, const struct tier_ref *r, uint32_t inner, uint64_t len,
		 bool unique);
/* A batch that may fail to commit: between space_defer_begin and
 * space_defer_end this thread's space_unref calls are held back, and its
 * space_ref calls remembered.  End applies the unrefs if COMMITTED, else
 * undoes the refs: the counts stay those of the records on disk.  They
 * nest (up to 4 deep): an inner pair ends what was done since its begin,
 * for a batch committed on its own while the outer one is being made. */
void space_defer_begin(void);
void space_defer_end(struct fs *fs, bool committed);
/* WHO changes a content map in a batch that may fail to commit: it must
 * run inside space_defer_begin/end, or a count could reach zero (and its
 * bytes be given back) for an extent the records on disk still reference.
 * Outside one, builds with fail points abort (so that the test suite
 * finds the caller) and others log one line. */
void space_must_defer(const char *who);
/* Bracket a tier append; REF is the new extent (counted once) or NULL. */
void space_append_begin(struct fs *fs);
void space_append_end(struct fs *fs, const struct tier_ref *ref);
int space_reclaimer_start(struct fs *fs);
/* Give back what is queued now (what the reclaim thread does each second). */
void space_reclaim_now(struct fs *fs);
/* A counted stored extent. */
struct space_extent {
	uint8_t tier;
	uint32_t seg;
	uint64_t off;
	uint32_t len;		/* stored bytes */
};
/* Every counted extent, sorted by tier, segment, offset (malloc'd into
 * *OUT), and each tier's active segment and its size at that moment
 * (extents counted later lie past that); -EAGAIN while an append is in
 * flight. */
int space_extents(struct fs *fs, struct space_extent **out, size_t *n,
		  uint32_t active[TIER_COUNT], uint64_t active_size[TIER_COUNT]);
/* Free the stored bytes that no counted extent covers: gaps between
 * extents are punched out, segments with none are removed (a crash can
 * leave such bytes: appended, never committed).  -EAGAIN while an append
 * is in flight. */
int space_sweep(struct fs *fs);
void space_reclaimer_stop(struct fs *fs);
/* -ENOSPC when the store's disk has less than half the reserve free: an
 * operation that adds metadata (a name, an attribute) is refused then, so
 * that what is left keeps deletes and commits working. */
int space_meta_room(struct fs *fs);

#endif
