/* tier_impl.h — for tier implementations only: the common head of every
 * tier.  An implementation's own struct starts with a struct tier, sets
 * ops and id when it opens, and casts back in its operations. */
#ifndef AIFS_TIER_IMPL_H
#define AIFS_TIER_IMPL_H

#include "tier/tier.h"

struct tier {
	const struct tier_ops *ops;
	int id;			/* TIER_HOT or TIER_COLD */
	uint64_t reserve;	/* bytes kept free on its device (tier_set_reserve) */
};

/* May this thread's appends use the reserve? */
bool tier_reserve_usable(void);

#endif
