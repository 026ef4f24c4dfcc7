/* gccmd.c — `aifsctl gc STORE`: compaction of an unmounted store.
 *
 * The same work as the daemon's gc (fs/migrate.c), with the store to
 * itself:
 *  1. read every extent record; a segment's live bytes are what its
 *     records use;
 *  2. the pieces in segments (not the one appended to) whose live
 *     fraction is below the threshold are copied to the end of their tier,
 *     a piece shared by several records once; the tiers are synced, then
 *     the records pointing at the copies are committed durably;
 *  3. only then are segments that no record references removed, and the
 *     bytes between the extents of the others punched out.
 * A crash before step 3 leaves copies nothing references, which the next
 * gc or mount frees; the records always point at intact bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tier/log.h"
#include "tools/aifsctl.h"
#include "tools/common.h"

struct rec {
	uint64_t ino;
	struct meta_extent e;
	uint32_t *crcs;
	bool moved;
};

struct gc {
	struct store *s;
	struct rec *v;
	size_t n, cap;
	uint64_t cur;
};

/* Room in G for one more record: 0, or -ENOMEM with G as it was. */
static int gc_reserve(struct gc *g)
{
	size_t n;
	struct rec *v;

	if (g->n < g->cap)
		return 0;
	n = g->cap ? g->cap * 2 : 1024;
	v = realloc(g->v, n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	g->v = v;
	g->cap = n;
	return 0;
}

static int gc_rec(void *ctx, const struct meta_extent *e)
{
	struct gc *g = ctx;
	struct rec *r;

	if (e->ref.tier >= TIER_COUNT)
		return 0;
	if (gc_reserve(g))
		return -ENOMEM;
	r = &g->v[g->n];
	*r = (struct rec){ .ino = g->cur, .e = *e };
	r->crcs = malloc((e->ncrc ? e->ncrc : 1) * sizeof(uint32_t));
	if (!r->crcs)
		return -ENOMEM;
	memcpy(r->crcs, e->crcs, e->ncrc * sizeof(uint32_t));
	r->e.crcs = r->crcs;
	g->n++;
	return 0;
}

static int gc_inode(void *ctx, const struct meta_inode *in)
{
	struct gc *g = ctx;

	if (!S_ISREG(in->mode))
		return 0;
	g->cur = in->ino;
	return meta_extent_foreach(g->s->meta, in->ino, gc_rec, g);
}

static int by_place(const void *a, const void *b)
{
	const struct tier_ref *x = &((const struct rec *)a)->e.ref;
	const struct tier_ref *y = &((const struct rec *)b)->e.ref;

	if (x->tier != y->tier)
		return x->tier < y->tier ? -1 : 1;
	if (x->seg != y->seg)
		return x->seg < y->seg ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

static uint64_t allocated(struct store *s)
{
	struct tier_space sp;
	uint64_t sum = 0;

	for (int t = 0; t < TIER_COUNT; t++)
		if (tier_space(s->tiers[t], &sp) == 0)
			sum += sp.allocated;
	return sum;
}

/* Live bytes of each segment of tier T into LIVE (NSEG entries). */
static void live_bytes(const struct gc *g, int t, uint64_t *live, uint32_t nseg)
{
	for (size_t i = 0; i < g->n; i++) {
		const struct meta_extent *e = &g->v[i].e;

		if (e->ref.tier != t || e->ref.seg >= nseg)
			continue;
		live[e->ref.seg] += e->ref.codec == TIER_CODEC_RAW ? e->len :
			(uint64_t)e->ref.stored_len * e->len / (e->ref.raw_len ? e->ref.raw_len : 1);
	}
}

/* Copy the pieces in marked segments (MARK[t][seg]); records updated in
 * B, committed with the tiers synced first. */
static int relocate(struct gc *g, uint8_t *mark[TIER_COUNT], uint32_t nseg[TIER_COUNT],
		    uint8_t *buf)
{
	struct meta_batch *b = meta_batch_new();
	static uint32_t crcs[TIER_NCRC(TIER_EXTENT_MAX)];
	size_t todo = 0, done = 0;
	int rc = b ? 0 : -ENOMEM;

	for (size_t i = 0; i < g->n; i++) {
		const struct tier_ref *r = &g->v[i].e.ref;

		todo += r->seg < nseg[r->tier] && mark[r->tier][r->seg];
	}
	for (size_t i = 0; rc == 0 && i < g->n; i++) {
		struct rec *x = &g->v[i];
		struct tier_ref old = x->e.ref, nref;
		struct tier_io io = { .ref = &old, .crcs = x->crcs, .inner = x->e.inner,
				      .len = (uint32_t)x->e.len, .dst = buf };
		uint32_t ncrc;

		if (old.seg >= nseg[old.tier] || !mark[old.tier][old.seg])
			continue;
		progress("gc", ++done, todo);
		rc = tier_read_batch(g->s->tiers, &io, 1);
		if (rc == -EIO) {
			fprintf(stderr, "aifsctl gc: inode %llu: data at %llu is damaged; left in "
				"place\n", (unsigned long long)x->ino, (unsigned long long)x->e.foff);
			mark[old.tier][old.seg] = 0;	/* keep its segment */
			rc = 0;
			continue;
		}
		if (rc == 0)
			rc = tier_append(g->s->tiers[old.tier], buf, io.len,
					 old.codec == TIER_CODEC_RAW ? TIER_CODEC_RAW : TIER_CODEC_AUTO,
					 &nref, crcs, &ncrc);
		if (rc < 0)
			break;
		/* every record sharing this piece points at the one copy */
		for (size_t k = i; k < g->n; k++) {
			struct rec *y = &g->v[k];

			if (y->e.ref.tier != old.tier || y->e.ref.seg != old.seg ||
			    y->e.ref.off != old.off || y->e.inner != x->e.inner ||
			    y->e.len != x->e.len || y->moved)
				continue;
			free(y->crcs);
			y->crcs = malloc(ncrc * sizeof(uint32_t));
			if (!y->crcs)
				return -ENOMEM;
			meta_extent_del(b, y->ino, y->e.foff, &y->e.ref);	/* put over it */
			memcpy(y->crcs, crcs, ncrc * sizeof(uint32_t));
			y->e.ref = nref;
			y->e.inner = 0;
			y->e.ncrc = ncrc;
			y->e.crcs = y->crcs;
			y->moved = true;
			meta_extent_put(b, y->ino, &y->e);
		}
	}
	for (int t = 0; rc == 0 && t < TIER_COUNT; t++)
		rc = tier_sync(g->s->tiers[t]);
	if (rc == 0)
		rc = meta_batch_commit(g->s->meta, b, true);
	meta_batch_free(b);
	return rc;
}

static int history_rec(void *ctx, uint64_t ino, const struct tier_ref *r)
{
	struct gc *g = ctx;

	if (gc_reserve(g))
		return -ENOMEM;
	g->v[g->n++] = (struct rec){ .ino = ino, .e = { .ref = *r, .len = r->raw_len },
				     .moved = true };
	return 0;
}

/* Remove segments no record uses and punch the gaps between extents. */
static int sweep(struct gc *g)
{
	if (g->n)
		qsort(g->v, g->n, sizeof(*g->v), by_place);
	for (int t = 0; t < TIER_COUNT; t++) {
		struct tier *tr = g->s->tiers[t];
		uint32_t active = tier_active_seg(tr);
		size_t i = 0;

		for (uint32_t seg = 0; seg <= active; seg++) {
			int64_t size = tier_seg_size(tr, seg);
			uint64_t pos = 0;
			bool any = false;

			while (i < g->n && (g->v[i].e.ref.tier < t ||
					    (g->v[i].e.ref.tier == t && g->v[i].e.ref.seg < seg)))
				i++;
			if (size < 0)
				continue;
			for (; i < g->n && g->v[i].e.ref.tier == t && g->v[i].e.ref.seg == seg; i++) {
				const struct tier_ref *r = &g->v[i].e.ref;
				struct tier_ref gap = { .tier = (uint8_t)t, .seg = seg, .off = pos,
							.stored_len = (uint32_t)(r->off - pos),
							.raw_len = (uint32_t)(r->off - pos) };

				if (r->off > pos && r->off - pos < (1ull << 32))
					tier_discard(tr, &gap, 0, gap.stored_len);
				if (r->off + r->stored_len > pos)
					pos = r->off + r->stored_len;
				any = true;
			}
			if (!any && seg != active) {
				int rc = tier_seg_remove(tr, seg);

				if (rc < 0)
					return rc;
			} else if ((uint64_t)size > pos && (uint64_t)size - pos < (1ull << 32)) {
				struct tier_ref tail = { .tier = (uint8_t)t, .seg = seg, .off = pos,
							 .stored_len = (uint32_t)(size - pos),
							 .raw_len = (uint32_t)(size - pos) };

				tier_discard(tr, &tail, 0, tail.stored_len);
			}
		}
	}
	return tier_sync(g->s->tiers[TIER_HOT]) ?: tier_sync(g->s->tiers[TIER_COLD]);
}

int gc_offline(const char *path, double threshold)
{
	struct gc g = { 0 };
	uint8_t *mark[TIER_COUNT] = { NULL }, *buf = malloc(TIER_EXTENT_MAX);
	uint32_t nseg[TIER_COUNT] = { 0 };
	uint64_t before, after;
	int rc;

	if (tool_store_open(path, &g.s, "gc") < 0) {
		free(buf);
		return EXIT_PROBLEM;
	}
	before = allocated(g.s);
	rc = buf ? meta_inode_foreach(g.s->meta, gc_inode, &g) : -ENOMEM;
	for (int t = 0; rc == 0 && t < TIER_COUNT; t++) {
		uint32_t active = tier_active_seg(g.s->tiers[t]);
		uint64_t *live = calloc((size_t)active + 1, sizeof(*live));

		nseg[t] = active + 1;
		mark[t] = calloc(nseg[t], 1);
		if (!live || !mark[t]) {
			free(live);
			rc = -ENOMEM;
			break;
		}
		live_bytes(&g, t, live, nseg[t]);
		for (uint32_t s = 0; s < active; s++) {
			int64_t a = tier_seg_allocated(g.s->tiers[t], s);

			mark[t][s] = a > 0 && live[s] && (double)live[s] < threshold * (double)a;
		}
		free(live);
	}
	if (rc == 0)
		rc = relocate(&g, mark, nseg, buf);
	/* what epoch snapshots keep (the relocated pieces' old places among
	 * them) is referenced too: never moved, never swept */
	if (rc == 0)
		rc = meta_history_extent_foreach(g.s->meta, history_rec, &g);
	if (rc == 0)
		rc = sweep(&g);
	after = allocated(g.s);
	if (rc < 0)
		fprintf(stderr, "aifsctl gc: %s: %s\n", path, strerror(-rc));
	else
		printf("gc: reclaimed %llu bytes\n",
		       (unsigned long long)(before > after ? before - after : 0));
	for (size_t i = 0; i < g.n; i++)
		free(g.v[i].crcs);
	free(g.v);
	for (int t = 0; t < TIER_COUNT; t++)
		free(mark[t]);
	free(buf);
	store_close(g.s);
	return rc < 0 ? EXIT_PROBLEM : EXIT_OK;
}
