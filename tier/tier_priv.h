/* tier_priv.h — what the local tier (local.c) shares with its reads
 * (read.c); private to tier/. */
#ifndef AIFS_TIER_PRIV_H
#define AIFS_TIER_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "tier/tier.h"

struct dcache;
struct local;		/* a local tier: its struct tier is its first member */

/* Log one error line "tier NAME: MESSAGE" and return RC. */
int local_fail(const struct local *t, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Take a reference on the segment holding REF for a read, opening it on
 * first use; checks that the extent lies within what the segment holds.
 * *FD stays valid until seg_put. */
int seg_get(struct local *t, const struct tier_ref *ref, int *fd);

/* Drop a reference taken by seg_get (or by an append); WROTE marks the
 * segment for the next sync. */
void seg_put(struct local *t, uint32_t seg, bool wrote);

/* The tier's decoded-extent cache (may be NULL: no caching). */
struct dcache *local_dcache(struct local *t);

/* tier_ops.read_batch of local tiers: the ios whose ref names a tier of
 * TIERS (all local) are read together. */
int local_read_batch(struct tier *const *tiers, struct tier_io *ios, unsigned n);

#endif
