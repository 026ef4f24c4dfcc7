/* fsck.h — what fsck.c shares with fsckspace.c. */
#ifndef AIFS_TOOLS_FSCK_H
#define AIFS_TOOLS_FSCK_H

#include "meta/store.h"

/* Note the stored extent of one extent record. */
int fsck_space_add(const struct tier_ref *r);
/* Check the noted extents against the segments: no two different extents
 * overlap, no segment holds bytes that none covers.  Each problem goes to
 * PROBLEM as one line; returns how many.  Forgets the noted extents. */
unsigned long fsck_space_check(struct store *s, void (*problem)(void *, const char *),
			       void *ctx);

#endif
