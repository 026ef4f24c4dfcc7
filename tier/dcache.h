/* dcache.h — decoded compressed extents, kept for the reads that follow
 * (private to tier/).
 *
 * A compressed extent can only be decoded from its start, so reading it
 * piecewise (the kernel asks 128 KiB at a time) would decode the whole
 * extent for every piece.  Each tier keeps its last DCACHE_SLOTS decoded
 * extents, keyed by place (segment, offset): extents are immutable and a
 * place is never reused, so an entry is never stale.  Bytes enter only
 * after their checksums were verified.  Thread-safe.
 */
#ifndef AIFS_TIER_DCACHE_H
#define AIFS_TIER_DCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "tier/tier.h"

#define DCACHE_SLOTS	4

struct dcache;
struct dslot;

struct dcache *dcache_new(void);
void dcache_free(struct dcache *c);

/* Copy the decoded bytes [INNER, INNER+LEN) of extent R to DST if R is
 * cached; true on a hit. */
bool dcache_read(struct dcache *c, const struct tier_ref *r, uint32_t inner, uint32_t len,
		 void *dst);

/* A slot to decode extent R into (*BUF has room for r->raw_len bytes), or
 * NULL when every slot is in use or memory is short. */
struct dslot *dcache_begin(struct dcache *c, const struct tier_ref *r, uint8_t **buf);

/* Publish the slot's bytes (OK) or give the slot back empty. */
void dcache_end(struct dcache *c, struct dslot *s, bool ok);

#endif
