/* fsck.h — what fsck.c shares with fsckspace.c. */
#ifndef AIFS_TOOLS_FSCK_H
#define AIFS_TOOLS_FSCK_H

#include <stdbool.h>

#include "meta/store.h"

/* Note the stored extent of one extent record. */
int fsck_space_add(const struct tier_ref *r);
/* Check the noted extents against the segments: no two different extents
 * overlap (damage), no segment holds bytes that none covers (what a crash
 * leaves, which the next mount gives back: not damage).  Each finding goes
 * to REPORT as one line; returns how many are damage.  Forgets the noted
 * extents. */
unsigned long fsck_space_check(struct store *s,
			       void (*report)(void *ctx, bool damage, const char *msg), void *ctx);

/* Check the reference counts the store keeps (meta/spacecp.h) against the
 * noted extents; each wrong count is one line to REPORT (PROBLEM false: a
 * note), and with REPAIR the counts are kept anew from the records (the
 * repairs' own changes are logged after them).  Returns the problems. */
unsigned long fsck_space_counts(struct store *s, bool repair,
				void (*report)(void *ctx, bool problem, bool repaired,
					       const char *msg),
				void *ctx);

#endif
