/* history_priv.h — what history.c (epochs, the history kept at commit and
 * dropped with an epoch), histview.c (reading at an epoch) and histmove.c
 * (moving a snapshot's pieces for tiering) share; private to meta/.
 *
 * Layer: meta (epoch snapshots' history).
 */
#ifndef AIFS_META_HISTORY_PRIV_H
#define AIFS_META_HISTORY_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta/db.h"
#include "meta/keys.h"

/* 'h' | kind | ino | name (255) | death; 'g' | death | kind | ino | name. */
#define HKEY_MAX	(1 + KEY_MAX + 8)

/* The keys of history entry K|DEATH ('h'), of its index by death ('g') and
 * of K's mark ('f'), written into the first argument; their lengths. */
size_t hist_hkey(uint8_t *hk, const uint8_t *k, size_t klen, uint64_t death);
size_t hist_gkey(uint8_t *gk, const uint8_t *k, size_t klen, uint64_t death);
size_t hist_fkey(uint8_t *fk, const uint8_t *k, size_t klen);
/* Whether a live epoch lies in [LO, HI). */
bool hist_live_in(struct hist *h, uint64_t lo, uint64_t hi);
/* Add R to the extents HB's history keeps referenced (kept) or references
 * no more (dropped); -ENOMEM. */
int hist_kept_add(struct hist_batch *hb, const struct tier_ref *r);
int hist_dropped_add(struct hist_batch *hb, const struct tier_ref *r);
/* *PREV: the death of the entry of K kept before DEATH, or 0 if none. */
int hist_death_before(struct meta *m, const uint8_t *k, size_t klen, uint64_t death,
		      uint64_t *prev);
/* Do move MV of B's (histmove.c), at commit under the keep lock. */
int hist_move_one(struct meta *m, struct meta_batch *b, struct hist_batch *hb,
		  const struct hist_move *mv);

#endif
