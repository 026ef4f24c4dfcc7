/* spacesweep.c — sweeping the stored bytes no counted extent covers
 * (space_sweep): the gaps between the extents space.c counts are punched
 * out and segments holding none are removed.  A crash can leave such
 * bytes: appended, never committed.
 *
 * Layer: core; over space.c's public functions (space_extents), the tiers
 * and meta_sync; called by tiering (migration, gc).
 */
#include "fs/fs.h"
#include "fs/space.h"

#include <stdlib.h>

/* Punch [start, end) of segment SEG of tier T as dead (whole blocks). */
static void punch(struct fs *fs, int t, uint32_t seg, uint64_t start, uint64_t end)
{
	struct tier_ref r = { .tier = (uint8_t)t, .codec = TIER_CODEC_RAW, .seg = seg,
			      .off = start };

	while (start < end) {
		uint64_t n = end - start > (1u << 30) ? (1u << 30) : end - start;

		r.off = start;
		r.stored_len = r.raw_len = (uint32_t)n;
		tier_discard(fs->tiers[t], &r, 0, (uint32_t)n);
		start += n;
	}
}

struct sweep {
	struct fs *fs;
	int t;
	const struct space_extent *v;
	size_t n, i;
	uint32_t active;	/* segment appended to when the extents were listed */
	uint64_t active_size;	/* and its size then: later appends start past it */
	uint64_t removed;
};

static int sweep_seg(void *ctx, uint32_t seg, uint64_t size)
{
	struct sweep *w = ctx;
	uint64_t pos = 0;
	bool any = false;

	/* Extents not yet counted when the list was taken lie in the active
	 * segment of then, past its extents, or in later segments. */
	if (seg > w->active)
		return 0;
	while (w->i < w->n && (w->v[w->i].tier < w->t ||
			       (w->v[w->i].tier == w->t && w->v[w->i].seg < seg)))
		w->i++;
	for (; w->i < w->n && w->v[w->i].tier == w->t && w->v[w->i].seg == seg; w->i++) {
		const struct space_extent *e = &w->v[w->i];

		if (e->off > pos)
			punch(w->fs, w->t, seg, pos, e->off);
		if (e->off + e->len > pos)
			pos = e->off + e->len;
		any = true;
	}
	if (seg == w->active || seg == tier_active_seg(w->fs->tiers[w->t])) {
		if (seg == w->active && w->active_size > pos)
			punch(w->fs, w->t, seg, pos, w->active_size);
		return 0;	/* appended to: kept */
	}
	if (!any) {
		int64_t sz = tier_seg_size(w->fs->tiers[w->t], seg);

		if (tier_seg_remove(w->fs->tiers[w->t], seg) == 0 && sz > 0)
			w->removed += (uint64_t)sz;
	} else if (size > pos) {
		punch(w->fs, w->t, seg, pos, size);
	}
	return 0;
}

int space_sweep(struct fs *fs)
{
	struct sweep w = { .fs = fs };
	struct space_extent *v;
	uint32_t active[TIER_COUNT];
	uint64_t active_size[TIER_COUNT];
	size_t n;
	int rc = space_extents(fs, &v, &n, active, active_size);

	if (rc < 0)
		return rc;
	/* What no record counts now is dead once the metadata that dropped it
	 * is durable (appends cannot land in it: none was in flight). */
	rc = meta_sync(fs->meta);
	for (int t = 0; rc == 0 && t < TIER_COUNT; t++) {
		w.t = t;
		w.active = active[t];
		w.active_size = active_size[t];
		w.v = v;
		w.n = n;
		w.i = 0;
		rc = tier_seg_foreach(fs->tiers[t], sweep_seg, &w);
	}
	free(v);
	return rc;
}
