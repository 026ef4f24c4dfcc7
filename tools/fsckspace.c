/* fsckspace.c — the stored-extent checks of `aifsctl fsck`.
 *
 * Every extent record names a stored extent (tier, segment, offset,
 * stored length).  Records may share an extent (versions, snapshots), but
 * two different extents must never overlap: that would be one stored byte
 * referenced twice.  And every byte a segment holds (holes excepted) must
 * belong to some referenced extent: anything else is leaked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/aifsctl.h"
#include "tools/fsck.h"

struct xt {
	uint8_t tier, codec;
	uint32_t seg;
	uint64_t off;
	uint32_t stored, raw;
};

static struct xt *xv;
static size_t xn, xcap;

int fsck_space_add(const struct tier_ref *r)
{
	if (xn == xcap) {
		size_t n = xcap ? xcap * 2 : 4096;
		struct xt *v = realloc(xv, n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		xv = v;
		xcap = n;
	}
	xv[xn++] = (struct xt){ r->tier, r->codec, r->seg, r->off, r->stored_len, r->raw_len };
	return 0;
}

static int xt_cmp(const void *a, const void *b)
{
	const struct xt *x = a, *y = b;

	if (x->tier != y->tier)
		return x->tier < y->tier ? -1 : 1;
	if (x->seg != y->seg)
		return x->seg < y->seg ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* One line per finding through REPORT; returns the number of damages. */
unsigned long fsck_space_check(struct store *s,
			       void (*report)(void *ctx, bool damage, const char *msg), void *ctx)
{
	unsigned long found = 0;
	char msg[256];
	size_t i = 0;

	if (xn)		/* qsort's buffer may not be NULL, even for none */
		qsort(xv, xn, sizeof(*xv), xt_cmp);
	for (int t = 0; t < TIER_COUNT; t++) {
		uint32_t active = tier_active_seg(s->tiers[t]);

		for (uint32_t seg = 0; seg <= active; seg++) {
			int64_t alloc = tier_seg_allocated(s->tiers[t], seg);
			uint64_t used = 0, end = 0;
			const struct xt *prev = NULL;

			for (; i < xn && xv[i].tier == t && xv[i].seg == seg; i++) {
				const struct xt *x = &xv[i];

				if (prev && x->off == prev->off) {
					if (x->stored != prev->stored || x->codec != prev->codec ||
					    x->raw != prev->raw) {
						snprintf(msg, sizeof(msg), "tier %d segment %u offset %llu: "
							 "two different extents start at the same place", t,
							 seg, (unsigned long long)x->off);
						report(ctx, true, msg);
						found++;
					}
					continue;
				}
				if (x->off < end) {
					snprintf(msg, sizeof(msg), "tier %d segment %u: extent at %llu "
						 "overlaps the extent before it (ends at %llu): stored "
						 "bytes referenced twice", t, seg,
						 (unsigned long long)x->off, (unsigned long long)end);
					report(ctx, true, msg);
					found++;
				}
				used += ((uint64_t)x->stored + TIER_BLOCK - 1) / TIER_BLOCK * TIER_BLOCK;
				end = x->off + x->stored;
				prev = x;
			}
			if (alloc > 0 && (uint64_t)alloc > used) {
				snprintf(msg, sizeof(msg), "tier %s segment %u: %llu stored bytes are "
					 "referenced by nothing (left by a crash or an append that "
					 "failed; the next mount or aifsctl gc gives them back)",
					 t ? "cold" : "hot", seg,
					 (unsigned long long)((uint64_t)alloc - used));
				report(ctx, false, msg);
			}
		}
		while (i < xn && xv[i].tier == t)
			i++;
	}
	free(xv);
	xv = NULL;
	xn = xcap = 0;
	return found;
}
