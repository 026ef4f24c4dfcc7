/* spacecp.h — the reference counts of stored extents, kept on disk: a
 * checkpoint file and the space log since (spacecp.c, meta.h), so that a
 * mount reads them instead of counting every extent record of the store.
 *
 * Layer: meta/; used by the daemon's space accounting (fs/space.c) and by
 * fsck, which checks them against its count.
 */
#ifndef AIFS_META_SPACECP_H
#define AIFS_META_SPACECP_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* One stored extent and how many extent records reference it. */
struct space_count {
	uint8_t tier;
	uint32_t seg;
	uint64_t off;
	uint32_t len;		/* stored bytes */
	uint32_t refs;
};

/* Order of (tier, seg, off), for qsort and bsearch. */
int space_count_cmp(const void *a, const void *b);

/* The counts of S now (malloc'd into *OUT, sorted, none zero) and the last
 * log id they hold; -ENOENT when S keeps none that can be used (no
 * checkpoint, a damaged one, one of another copy of the metadata: WHY says
 * which), -EBADMSG when the log does not add up (WHY says where). */
int store_space_load(struct store *s, struct space_count **out, size_t *n, uint64_t *log_end,
		     char *why, size_t whylen);
/* Make V[0..N) (sorted) the checkpoint, holding the log up to LOG_END,
 * and delete that log. */
int store_space_save(struct store *s, const struct space_count *v, size_t n,
		     uint64_t log_end);
/* The same for the store in directory DIR with metadata M (mkfs: an
 * empty store keeps the counts of none). */
struct meta;
int space_checkpoint_write(const char *dir, struct meta *m, const struct space_count *v,
			   size_t n, uint64_t log_end);
/* Load and save: the log so far goes into a new checkpoint (*N its
 * extents, if N). */
int store_space_compact(struct store *s, size_t *n);

#endif
