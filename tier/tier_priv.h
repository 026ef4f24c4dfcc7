/* tier_priv.h — what tier.c shares with read.c (private to tier/). */
#ifndef AIFS_TIER_PRIV_H
#define AIFS_TIER_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "tier/tier.h"

struct dcache;

/* Log one error line "tier NAME: MESSAGE" and return RC. */
int tier_fail(const struct tier *t, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Take a reference on the segment holding REF for a read, opening it on
 * first use; checks that the extent lies within what the segment holds.
 * *FD stays valid until seg_put. */
int seg_get(struct tier *t, const struct tier_ref *ref, int *fd);

/* Drop a reference taken by seg_get (or by an append); WROTE marks the
 * segment for the next sync. */
void seg_put(struct tier *t, uint32_t seg, bool wrote);

/* The tier's decoded-extent cache (may be NULL: no caching). */
struct dcache *tier_dcache(struct tier *t);

#endif
