/* space.c — extent reference counts and giving space back.
 *
 * Versions and snapshots share stored extents with live files, so the
 * daemon counts, per stored extent (tier, segment, offset), the extent
 * records that reference it.  Per segment it counts the extents still
 * referenced.  At mount the table is read from what the store keeps of
 * the counts (meta/spacecp.h: a checkpoint and the log of changes every
 * commit adds since), not counted from every extent record; only a store
 * that keeps none that can be used (made by an older aifs, or whose
 * checkpoint is damaged) is counted record by record, and then keeps one.
 * At unmount, and when the log has grown long, the log is compacted into
 * a new checkpoint.
 *
 * Space comes back in three ways, all in the reclaim thread, and only
 * after meta_sync has made durable the metadata that stopped referencing
 * it (so a crash never leaves a reference to freed blocks):
 *  - an extent no record references: all its blocks are punched out;
 *  - a range that a record of a plain-area file stopped using (UNIQUE):
 *    its whole blocks are punched out at once;
 *  - a segment with no referenced extent, no longer appended to: removed.
 * No segment is removed while an append is in flight, so an extent
 * appended but not yet counted is never lost.  What is queued when the
 * daemon dies is only leaked until compaction.
 */
#include "fs/fs.h"
#include "fs/space.h"
#include "meta/spacecp.h"

#include <errno.h>
#include <stdio.h>
#include <sys/statvfs.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct xref {
	uint64_t off;		/* 0 with seg UINT32_MAX: empty slot */
	uint32_t seg;
	uint8_t tier;
	uint32_t refs;
	uint32_t len;		/* stored bytes */
};

struct discard {
	struct tier_ref ref;
	uint32_t inner, len;
	bool whole;		/* its last reference went */
};

struct space {
	pthread_mutex_t lock;		/* everything below */
	struct xref *x;			/* open addressing, power of two */
	size_t xsize, xcount;
	uint64_t *segrefs[TIER_COUNT];	/* referenced extents per segment */
	size_t nsegs[TIER_COUNT];
	uint32_t appending;
	uint32_t *segfree;		/* (tier << 31) | seg: now unreferenced */
	size_t nsegfree, capsegfree;
	struct discard *d;
	size_t nd, capd;
	pthread_t thread;
	pthread_cond_t cond;
	bool running, stop;
	bool incomplete;		/* an extent could not be counted: never sweep */
	uint64_t beyond;		/* extents found past their segment's end at mount */
	uint64_t logged;		/* space log changes at the last compaction */
};

/* Compact the space log once this many changes were logged since the last
 * compaction, and at least as many as there are extents. */
#define COMPACT_AFTER	(1u << 20)

static size_t xhash(uint8_t tier, uint32_t seg, uint64_t off, size_t size)
{
	uint64_t h = off * 0x9E3779B97F4A7C15ull ^ ((uint64_t)seg << 8 | tier) * 0xC2B2AE3D27D4EB4Full;

	return (size_t)(h >> 17) & (size - 1);
}

static struct xref *xfind(struct space *sp, const struct tier_ref *r, bool *found)
{
	size_t i = xhash(r->tier, r->seg, r->off, sp->xsize);

	for (;; i = (i + 1) & (sp->xsize - 1)) {
		struct xref *e = &sp->x[i];

		if (e->refs == 0) {
			*found = false;
			return e;
		}
		if (e->off == r->off && e->seg == r->seg && e->tier == r->tier) {
			*found = true;
			return e;
		}
	}
}

static int xgrow(struct space *sp)
{
	size_t nsize = sp->xsize ? sp->xsize * 2 : 4096;
	struct xref *old = sp->x, *n = calloc(nsize, sizeof(*n));
	size_t osize = sp->xsize;

	if (!n)
		return -ENOMEM;
	sp->x = n;
	sp->xsize = nsize;
	for (size_t i = 0; i < osize; i++) {
		bool found;
		struct tier_ref r = { .tier = old[i].tier, .seg = old[i].seg, .off = old[i].off };

		if (old[i].refs)
			*xfind(sp, &r, &found) = old[i];
	}
	free(old);
	return 0;
}

/* Deletion in linear probing: move later entries of the run back. */
static void xremove(struct space *sp, struct xref *e)
{
	size_t i = (size_t)(e - sp->x), j = i;

	e->refs = 0;
	for (;;) {
		size_t k;

		j = (j + 1) & (sp->xsize - 1);
		if (sp->x[j].refs == 0)
			break;
		k = xhash(sp->x[j].tier, sp->x[j].seg, sp->x[j].off, sp->xsize);
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			sp->x[i] = sp->x[j];
			sp->x[j].refs = 0;
			i = j;
		}
	}
	sp->xcount--;
}

static void seg_count(struct space *sp, const struct tier_ref *r, int delta)
{
	int t = r->tier;

	if (r->seg >= sp->nsegs[t]) {
		size_t n = sp->nsegs[t] ? sp->nsegs[t] : 64;
		uint64_t *v;

		while (n <= r->seg)
			n *= 2;
		v = realloc(sp->segrefs[t], n * sizeof(*v));
		if (!v) {
			log_err("space accounting: out of memory; segment %u is kept", r->seg);
			return;
		}
		memset(v + sp->nsegs[t], 0, (n - sp->nsegs[t]) * sizeof(*v));
		sp->segrefs[t] = v;
		sp->nsegs[t] = n;
	}
	sp->segrefs[t][r->seg] += delta;
	if (sp->segrefs[t][r->seg] == 0) {
		if (sp->nsegfree == sp->capsegfree) {
			size_t n = sp->capsegfree ? sp->capsegfree * 2 : 16;
			uint32_t *v = realloc(sp->segfree, n * sizeof(*v));

			if (!v)
				return;
			sp->segfree = v;
			sp->capsegfree = n;
		}
		sp->segfree[sp->nsegfree++] = ((uint32_t)t << 31) | r->seg;
	}
}

static void ref_locked(struct space *sp, const struct tier_ref *r)
{
	struct xref *e;
	bool found;

	if (sp->xcount * 2 >= sp->xsize && xgrow(sp) < 0) {
		log_err("space accounting: out of memory; space of extent in segment %u "
			"will only come back with compaction", r->seg);
		sp->incomplete = true;
		return;
	}
	e = xfind(sp, r, &found);
	if (!found) {
		*e = (struct xref){ .off = r->off, .seg = r->seg, .tier = r->tier,
				    .len = r->stored_len };
		sp->xcount++;
		seg_count(sp, r, +1);
	}
	e->refs++;
}

static void discard_queue(struct space *sp, const struct tier_ref *r, uint32_t inner,
			  uint64_t len, bool whole)
{
	if (sp->nd == sp->capd) {
		size_t n = sp->capd ? sp->capd * 2 : 256;
		struct discard *v = realloc(sp->d, n * sizeof(*v));

		if (!v)
			return;
		sp->d = v;
		sp->capd = n;
	}
	sp->d[sp->nd++] = (struct discard){ *r, inner, (uint32_t)len, whole };
}

/* A ref taken or an unref held back while this thread defers (see
 * space_defer_begin); malloc'd per outermost deferral, freed at its end. */
struct dref {
	struct tier_ref ref;
	uint32_t inner;
	uint64_t len;
	bool unref, unique;
};

/* Deferrals nest (a snapshot's copy flushes the open files it copies,
 * each in a batch of its own): each level ends what it added since its
 * begin, at V[MARK[level]]. */
#define DEFER_DEPTH	4

static __thread struct {
	unsigned depth;
	size_t mark[DEFER_DEPTH];
	struct dref *v;
	size_t n, cap;
} defer;

/* Remember D in the deferral; false if out of memory. */
static bool defer_add(const struct dref *d)
{
	if (defer.n == defer.cap) {
		size_t cap = defer.cap ? defer.cap * 2 : 16;
		struct dref *v = realloc(defer.v, cap * sizeof(*v));

		if (!v)
			return false;
		defer.v = v;
		defer.cap = cap;
	}
	defer.v[defer.n++] = *d;
	return true;
}

void space_ref(struct fs *fs, const struct tier_ref *r)
{
	if (defer.depth && !defer_add(&(struct dref){ .ref = *r }))
		log_err("space accounting: out of memory: a reference taken for a "
			"change that may not commit cannot be undone");
	pthread_mutex_lock(&fs->space->lock);
	ref_locked(fs->space, r);
	pthread_mutex_unlock(&fs->space->lock);
}

uint32_t space_refs(struct fs *fs, const struct tier_ref *r)
{
	uint32_t n = 0;
	bool found;

	pthread_mutex_lock(&fs->space->lock);
	if (fs->space->xsize) {
		struct xref *x = xfind(fs->space, r, &found);

		n = found ? x->refs : 0;
	}
	pthread_mutex_unlock(&fs->space->lock);
	return n;
}

static void unref_now(struct fs *fs, const struct tier_ref *r, uint32_t inner, uint64_t len,
		      bool unique);

void space_unref(struct fs *fs, const struct tier_ref *r, uint32_t inner, uint64_t len,
		 bool unique)
{
	struct dref d = { .ref = *r, .inner = inner, .len = len, .unref = true,
			  .unique = unique };

	if (defer.depth && defer_add(&d))
		return;
	if (defer.depth)
		log_err("space accounting: out of memory: space of a change that may "
			"not commit is given back now");
	unref_now(fs, r, inner, len, unique);
}

void space_kept(struct fs *fs, const struct tier_ref *r)
{
	/* the uncounts held back for this thread's batch may have said
	 * UNIQUE before an epoch snapshot came: history reads the range */
	for (size_t i = 0; i < defer.n; i++)
		if (defer.v[i].unref && defer.v[i].ref.tier == r->tier &&
		    defer.v[i].ref.seg == r->seg && defer.v[i].ref.off == r->off)
			defer.v[i].unique = false;
	space_ref(fs, r);
}

void space_defer_begin(void)
{
	if (defer.depth == DEFER_DEPTH)
		abort();	/* a bug: deferrals nest as deep as calls do */
	defer.mark[defer.depth++] = defer.n;
}

void space_defer_end(struct fs *fs, bool committed)
{
	size_t mark = defer.mark[--defer.depth];

	for (size_t i = mark; i < defer.n; i++) {
		const struct dref *d = &defer.v[i];

		if (committed && d->unref)
			unref_now(fs, &d->ref, d->inner, d->len, d->unique);
		else if (!committed && !d->unref)
			unref_now(fs, &d->ref, 0, 0, false);	/* the record never was */
	}
	defer.n = mark;
	if (defer.depth == 0) {
		free(defer.v);
		defer.v = NULL;
		defer.cap = 0;
	}
}

void space_must_defer(const char *who)
{
	if (defer.depth)
		return;
	log_err("space accounting: %s changed a content map outside a deferral: its counts "
		"change before its commit does", who);
#ifdef AIFS_FAILPOINTS
	abort();	/* a bug: the caller must bracket its batch */
#endif
}

static void unref_now(struct fs *fs, const struct tier_ref *r, uint32_t inner, uint64_t len,
		      bool unique)
{
	struct space *sp = fs->space;
	struct xref *e;
	bool found;

	pthread_mutex_lock(&sp->lock);
	e = sp->xsize ? xfind(sp, r, &found) : NULL;
	if (!e || !found) {
		log_err("space accounting: extent at segment %u offset %llu was not counted",
			r->seg, (unsigned long long)r->off);
	} else if (--e->refs == 0) {
		xremove(sp, e);
		discard_queue(sp, r, 0, r->raw_len, true);
		seg_count(sp, r, -1);
	} else if (unique) {
		discard_queue(sp, r, inner, len, false);
	}
	pthread_mutex_unlock(&sp->lock);
}

void space_append_begin(struct fs *fs)
{
	pthread_mutex_lock(&fs->space->lock);
	fs->space->appending++;
	pthread_mutex_unlock(&fs->space->lock);
}

void space_append_end(struct fs *fs, const struct tier_ref *ref)
{
	pthread_mutex_lock(&fs->space->lock);
	if (ref)
		ref_locked(fs->space, ref);
	fs->space->appending--;
	pthread_mutex_unlock(&fs->space->lock);
}

static int count_ext(void *ctx, const struct meta_extent *e)
{
	struct fs *fs = ctx;

	ref_locked(fs->space, &e->ref);
	return 0;
}

static int count_history(void *ctx, uint64_t ino, const struct tier_ref *r)
{
	struct fs *fs = ctx;

	(void)ino;
	ref_locked(fs->space, r);
	return 0;
}

static int count_inode(void *ctx, const struct meta_inode *in)
{
	struct fs *fs = ctx;

	if (!S_ISREG(in->mode))
		return 0;
	return meta_extent_foreach(fs->meta, in->ino, count_ext, fs);
}

/* The table as the store's kept counts (sorted). */
static struct space_count *table_dump(struct space *sp, size_t *n)
{
	struct space_count *v = malloc((sp->xcount ? sp->xcount : 1) * sizeof(*v));
	size_t k = 0;

	for (size_t i = 0; v && i < sp->xsize; i++)
		if (sp->x[i].refs)
			v[k++] = (struct space_count){ .tier = sp->x[i].tier, .seg = sp->x[i].seg,
						       .off = sp->x[i].off, .len = sp->x[i].len,
						       .refs = sp->x[i].refs };
	if (v)
		qsort(v, k, sizeof(*v), space_count_cmp);
	*n = k;
	return v;
}

/* Extent V (with its count) into the table. */
static int table_put(struct space *sp, const struct space_count *v)
{
	struct tier_ref r = { .tier = v->tier, .seg = v->seg, .off = v->off,
			      .stored_len = v->len };
	struct xref *e;
	bool found;

	if (sp->xcount * 2 >= sp->xsize && xgrow(sp) < 0)
		return -ENOMEM;
	e = xfind(sp, &r, &found);
	if (!found) {
		*e = (struct xref){ .off = v->off, .seg = v->seg, .tier = v->tier, .len = v->len };
		sp->xcount++;
		seg_count(sp, &r, +1);
	}
	e->refs += v->refs;
	return 0;
}

/* Count the references of every extent of the store, record by record
 * (a store that keeps no counts); then keep them, so that the next mount
 * reads them. */
static int count_all(struct fs *fs, const char *why)
{
	struct space *sp = fs->space;
	struct space_count *v;
	uint64_t end = 0;
	size_t n;
	int rc;

	log_notice("%s: counting the references of every stored extent (the counts kept: %s)",
		   fs->store->path, why);
	rc = meta_space_log_stable(fs->meta, &end);	/* what the records hold now */
	if (rc == 0)
		rc = meta_inode_foreach(fs->meta, count_inode, fs);
	if (rc == 0)	/* what epoch snapshots' history keeps */
		rc = meta_history_extent_foreach(fs->meta, count_history, fs);
	if (rc < 0 || fs->opt.ro || fs->opt.store_ro || sp->incomplete)
		return rc;
	v = table_dump(sp, &n);
	rc = v ? store_space_save(fs->store, v, n, end) : -ENOMEM;
	free(v);
	if (rc == 0 && fs->store->format < 2)
		rc = store_set_format(fs->store, 2);	/* counts kept from now on */
	if (rc < 0) {
		log_warn("%s: the counts could not be kept (%s): the next mount counts them "
			 "again", fs->store->path, strerror(-rc));
		rc = 0;
	} else {
		log_info("%s: %zu extents counted and kept", fs->store->path, n);
	}
	return rc;
}

/* The extents of the table that lie past the end of their segment file or
 * in a missing one (segment files cut short). */
static uint64_t count_beyond(struct fs *fs)
{
	struct space *sp = fs->space;
	int64_t size = 0;
	uint32_t seg = UINT32_MAX;
	uint8_t tier = 0xff;
	uint64_t n = 0;

	for (size_t i = 0; i < sp->xsize; i++) {
		const struct xref *e = &sp->x[i];

		if (!e->refs)
			continue;
		if (e->tier != tier || e->seg != seg) {
			struct tier *t = e->tier < TIER_COUNT ? fs->tiers[e->tier] : NULL;

			tier = e->tier;
			seg = e->seg;
			size = t ? tier_seg_size(t, seg) : -EINVAL;
		}
		if (size < 0 || e->off + e->len > (uint64_t)size)
			n++;
	}
	return n;
}

int space_init(struct fs *fs)
{
	struct space *sp = calloc(1, sizeof(*sp));
	struct space_count *v = NULL;
	uint64_t end;
	size_t n = 0;
	char why[256];
	int rc;

	if (!sp)
		return -ENOMEM;
	pthread_mutex_init(&sp->lock, NULL);
	pthread_cond_init(&sp->cond, NULL);
	fs->space = sp;
	rc = xgrow(sp);
	if (rc == 0)
		rc = store_space_load(fs->store, &v, &n, &end, why, sizeof(why));
	if (rc == 0) {
		/* a table sized for them at once, not grown step by step */
		while (rc == 0 && sp->xsize < 2 * n + 2)
			rc = xgrow(sp);
		for (size_t i = 0; rc == 0 && i < n; i++)
			rc = table_put(sp, &v[i]);
		free(v);
		if (rc == 0)
			log_info("%s: %zu extents' reference counts read", fs->store->path, n);
	} else if (rc != -ENOMEM) {
		if (rc != -ENOENT && rc != -EBADMSG)	/* the mark itself unreadable */
			snprintf(why, sizeof(why), "they cannot be read: %s", strerror(-rc));
		rc = count_all(fs, why);
	}
	sp->logged = meta_space_log_count(fs->meta);
	sp->nsegfree = 0;	/* only segments emptied from now on are removed */
	if (rc == 0)
		sp->beyond = count_beyond(fs);
	if (rc == 0 && sp->beyond)
		log_warn("%llu extents lie past the end of their segment file or in a missing "
			 "one (segment files cut short): reading them fails with EIO; "
			 "aifsctl fsck --repair drops them", (unsigned long long)sp->beyond);
	return rc;
}

/* The log of count changes into a new checkpoint (the reclaim thread, when
 * it has grown long; the unmount). */
static void compact(struct fs *fs, bool always)
{
	struct space *sp = fs->space;
	uint64_t logged = meta_space_log_count(fs->meta);
	size_t n;
	int rc;

	if (fs->opt.ro || fs->opt.store_ro || logged == sp->logged)
		return;
	pthread_mutex_lock(&sp->lock);
	n = sp->xcount;
	pthread_mutex_unlock(&sp->lock);
	if (!always && logged - sp->logged < (COMPACT_AFTER > n ? COMPACT_AFTER : n))
		return;
	rc = store_space_compact(fs->store, &n);
	if (rc < 0) {
		log_warn("%s: the log of reference count changes could not be compacted (%s): "
			 "the next mount reads it all", fs->store->path, strerror(-rc));
		return;
	}
	sp->logged = logged;
	log_debug("%s: reference counts of %zu extents kept", fs->store->path, n);
}

/* Was extent R, whose last reference went, counted again before its bytes
 * were given back (SP locked)?  Then something reads it: a count that went
 * to zero too early is logged, and the bytes kept. */
static bool counted_again(struct space *sp, const struct tier_ref *r)
{
	bool found;

	if (!sp->xsize)
		return false;
	xfind(sp, r, &found);
	if (found)
		log_err("space accounting: extent at segment %u offset %llu was counted "
			"again after its last reference went; its bytes are kept", r->seg,
			(unsigned long long)r->off);
	return found;
}

/* Give back what was queued (see the top of the file). */
void space_reclaim_now(struct fs *fs)
{
	struct space *sp = fs->space;
	struct discard *d;
	uint32_t todo[64];
	size_t nd, n = 0;
	int rc;

	pthread_mutex_lock(&sp->lock);
	d = sp->d;
	nd = sp->nd;
	sp->d = NULL;
	sp->nd = sp->capd = 0;
	for (size_t i = 0; i < nd; i++)
		if (d[i].whole && counted_again(sp, &d[i].ref))
			d[i].len = 0;
	if (sp->appending == 0) {
		while (sp->nsegfree && n < 64) {
			uint32_t c = sp->segfree[--sp->nsegfree];
			int t = c >> 31;
			uint32_t seg = c & 0x7fffffff;

			if (sp->segrefs[t][seg] == 0 && seg != tier_active_seg(fs->tiers[t]))
				todo[n++] = c;
		}
	}
	pthread_mutex_unlock(&sp->lock);
	if (!n && !nd)
		return;
	rc = meta_sync(fs->meta);
	if (rc < 0) {
		log_err("space reclaim postponed: syncing metadata failed: %s", strerror(-rc));
		free(d);
		return;
	}
	for (size_t i = 0; i < nd; i++)
		if (d[i].len)
			tier_discard(fs->tiers[d[i].ref.tier], &d[i].ref, d[i].inner, d[i].len);
	free(d);
	for (size_t i = 0; i < n; i++) {
		int r = tier_seg_remove(fs->tiers[todo[i] >> 31], todo[i] & 0x7fffffff);

		if (r < 0 && r != -ENOENT && r != -EBUSY)
			log_warn("cannot remove empty segment %u: %s", todo[i] & 0x7fffffff,
				 strerror(-r));
	}
}

static void *reclaimer_main(void *arg)
{
	struct fs *fs = arg;
	struct space *sp = fs->space;
	struct timespec until;

	pthread_mutex_lock(&sp->lock);
	while (!sp->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&sp->cond, &sp->lock, &until);
		pthread_mutex_unlock(&sp->lock);
		space_reclaim_now(fs);
		compact(fs, false);
		pthread_mutex_lock(&sp->lock);
	}
	pthread_mutex_unlock(&sp->lock);
	return NULL;
}

int space_reclaimer_start(struct fs *fs)
{
	int rc = -pthread_create(&fs->space->thread, NULL, reclaimer_main, fs);

	fs->space->running = rc == 0;
	return rc;
}

int space_meta_room(struct fs *fs)
{
	struct statvfs sv;

	if (!fs->reserve || fs->opt.store_ro || statvfs(fs->store->path, &sv) < 0)
		return 0;
	if ((uint64_t)sv.f_bavail * sv.f_frsize >= fs->reserve / 2)
		return 0;
	log_info("%s: less than half of the %llu-byte reserve free: a metadata change is "
		 "refused", fs->store->path, (unsigned long long)fs->reserve);
	return -ENOSPC;
}

void space_reclaimer_stop(struct fs *fs)
{
	struct space *sp = fs->space;

	if (!sp)
		return;
	if (sp->running) {
		pthread_mutex_lock(&sp->lock);
		sp->stop = true;
		pthread_cond_signal(&sp->cond);
		pthread_mutex_unlock(&sp->lock);
		pthread_join(sp->thread, NULL);
		sp->running = false;
	}
	space_reclaim_now(fs);
	compact(fs, true);	/* the next mount reads a short log */
	free(sp->d);
	free(sp->segfree);
	free(sp->x);
	for (int t = 0; t < TIER_COUNT; t++)
		free(sp->segrefs[t]);
	free(sp);
	fs->space = NULL;
}

/* ---- the counted extents, listed for the sweep (spacesweep.c) -------- */

static int sx_cmp(const void *a, const void *b)
{
	const struct space_extent *x = a, *y = b;

	if (x->tier != y->tier)
		return x->tier < y->tier ? -1 : 1;
	if (x->seg != y->seg)
		return x->seg < y->seg ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

int space_extents(struct fs *fs, struct space_extent **out, size_t *n,
		  uint32_t active[TIER_COUNT], uint64_t active_size[TIER_COUNT])
{
	struct space *sp = fs->space;
	struct space_extent *v;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&sp->lock);
	if (sp->appending || sp->incomplete) {
		pthread_mutex_unlock(&sp->lock);
		return sp->incomplete ? -ENOMEM : -EAGAIN;
	}
	for (int t = 0; t < TIER_COUNT; t++) {
		int64_t sz;

		active[t] = tier_active_seg(fs->tiers[t]);
		sz = tier_seg_size(fs->tiers[t], active[t]);
		active_size[t] = sz > 0 ? (uint64_t)sz : 0;
	}
	v = malloc((sp->xcount ? sp->xcount : 1) * sizeof(*v));
	for (size_t i = 0; v && i < sp->xsize; i++)
		if (sp->x[i].refs)
			v[k++] = (struct space_extent){ .tier = sp->x[i].tier, .seg = sp->x[i].seg,
							.off = sp->x[i].off, .len = sp->x[i].len };
	pthread_mutex_unlock(&sp->lock);
	if (!v)
		return -ENOMEM;
	qsort(v, k, sizeof(*v), sx_cmp);
	*out = v;
	*n = k;
	return 0;
}
