/* data.c — file content: extent maps, write gathering, reads, segments.
 *
 * A file's content is its extent map (sorted, non-overlapping pieces of
 * immutable extents) overlaid by its write buffer.  Writes that continue
 * the buffer are gathered up to FS_WB_CAP and then appended to the hot
 * tier as one extent; the map change and the inode go to meta/ in one
 * batch, without a sync (fsync syncs).  Reads submit every extent piece
 * they need to the tier in one batch, zero the holes and copy the newer
 * buffered bytes over the result.
 *
 * Segment accounting: segrefs counts the extent records pointing into
 * each segment.  A segment whose count drops to zero, that is no longer
 * appended to, is removed once the metadata that stopped referencing it
 * is durable.  No segment is removed while an append is in flight, so an
 * extent appended but not yet counted is never lost.
 */
#include "fs/fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WB_MIN (64u << 10)

static __thread char *scratch;
static __thread size_t scratch_len;

char *fs_scratch(size_t len)
{
	if (len > scratch_len) {
		char *n = realloc(scratch, len);

		if (!n)
			return NULL;
		scratch = n;
		scratch_len = len;
	}
	return scratch;
}

/* --- checksums and the extent map ------------------------------------ */

static struct crcs *crcs_new(const uint32_t *c, uint32_t n)
{
	struct crcs *k = malloc(sizeof(*k) + n * sizeof(uint32_t));

	if (!k)
		return NULL;
	k->refs = 1;
	k->n = n;
	memcpy(k->c, c, n * sizeof(uint32_t));
	return k;
}

static void crcs_put(struct crcs *k)
{
	if (k && --k->refs == 0)
		free(k);
}

void fs_map_free(struct extmap *m)
{
	for (size_t i = 0; i < m->n; i++)
		crcs_put(m->v[i].crcs);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static int map_reserve(struct extmap *m, size_t extra)
{
	if (m->n + extra > m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 16;
		struct ext *v;

		while (ncap < m->n + extra)
			ncap *= 2;
		v = realloc(m->v, ncap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		m->v = v;
		m->cap = ncap;
	}
	return 0;
}

/* Index of the first piece that ends after OFF. */
static size_t map_find(const struct extmap *m, uint64_t off)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (m->v[mid].foff + m->v[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void ext_to_meta(const struct ext *e, struct meta_extent *me)
{
	me->foff = e->foff;
	me->len = e->len;
	me->inner = e->inner;
	me->ref = e->ref;
	me->ncrc = e->crcs->n;
	me->crcs = e->crcs->c;
}

/* --- segment accounting ---------------------------------------------- */

static void seg_adj_locked(struct fs *fs, const struct tier_ref *r, int delta)
{
	int t = r->tier;

	if (r->seg >= fs->nsegs[t]) {
		size_t n = fs->nsegs[t] ? fs->nsegs[t] : 64;
		uint64_t *v;

		while (n <= r->seg)
			n *= 2;
		v = realloc(fs->segrefs[t], n * sizeof(*v));
		if (!v) {
			log_err("segment accounting: out of memory; segment %u stays", r->seg);
			return;
		}
		memset(v + fs->nsegs[t], 0, (n - fs->nsegs[t]) * sizeof(*v));
		fs->segrefs[t] = v;
		fs->nsegs[t] = n;
	}
	if (delta < 0 && fs->segrefs[t][r->seg] == 0) {
		log_err("segment accounting: tier %d segment %u already unreferenced", t, r->seg);
		return;
	}
	fs->segrefs[t][r->seg] += delta;
	if (fs->segrefs[t][r->seg] == 0) {
		if (fs->nsegfree == fs->capsegfree) {
			size_t n = fs->capsegfree ? fs->capsegfree * 2 : 16;
			uint32_t *v = realloc(fs->segfree, n * sizeof(*v));

			if (!v)
				return;
			fs->segfree = v;
			fs->capsegfree = n;
		}
		fs->segfree[fs->nsegfree++] = ((uint32_t)t << 31) | r->seg;
	}
}

static void seg_adj(struct fs *fs, const struct tier_ref *r, int delta)
{
	pthread_mutex_lock(&fs->seg_lock);
	seg_adj_locked(fs, r, delta);
	pthread_mutex_unlock(&fs->seg_lock);
}

static int count_ext(void *ctx, const struct meta_extent *e)
{
	seg_adj_locked(ctx, &e->ref, +1);
	return 0;
}

static int count_inode(void *ctx, const struct meta_inode *in)
{
	if (!S_ISREG(in->mode))
		return 0;
	return meta_extent_foreach(((struct fs *)ctx)->meta, in->ino, count_ext, ctx);
}

int fs_segs_init(struct fs *fs)
{
	int rc;

	pthread_mutex_init(&fs->seg_lock, NULL);
	rc = meta_inode_foreach(fs->meta, count_inode, fs);
	fs->nsegfree = 0;	/* only segments emptied from now on are removed */
	return rc;
}

struct discard {
	struct tier_ref ref;
	uint32_t inner, len;
};

/* Queue the decoded bytes [inner, inner+len) of REF as dead (caller holds
 * seg_lock).  Losing the queue in a crash only leaks space until gc. */
static void discard_queue_locked(struct fs *fs, const struct tier_ref *ref, uint32_t inner,
				 uint64_t len)
{
	if (fs->ndiscards == fs->capdiscards) {
		size_t n = fs->capdiscards ? fs->capdiscards * 2 : 256;
		struct discard *v = realloc(fs->discards, n * sizeof(*v));

		if (!v)
			return;
		fs->discards = v;
		fs->capdiscards = n;
	}
	fs->discards[fs->ndiscards++] = (struct discard){ *ref, inner, (uint32_t)len };
	pthread_cond_signal(&fs->reclaim_cond);
}

/* Give back dead bytes and empty segments.  The metadata that stopped
 * referencing them is made durable first, so a crash never leaves a
 * reference to freed space.  Segment removal is skipped while an append
 * is in flight (its extent may not be counted yet). */
static void reclaim(struct fs *fs)
{
	struct discard *d;
	uint32_t todo[64];
	size_t nd, n = 0;
	int rc;

	pthread_mutex_lock(&fs->seg_lock);
	d = fs->discards;
	nd = fs->ndiscards;
	fs->discards = NULL;
	fs->ndiscards = fs->capdiscards = 0;
	if (fs->appending == 0) {
		while (fs->nsegfree && n < 64) {
			uint32_t c = fs->segfree[--fs->nsegfree];
			int t = c >> 31;
			uint32_t seg = c & 0x7fffffff;

			if (fs->segrefs[t][seg] == 0 && seg != tier_active_seg(fs->tiers[t]))
				todo[n++] = c;
		}
	}
	pthread_mutex_unlock(&fs->seg_lock);
	if (!n && !nd)
		return;
	rc = meta_sync(fs->meta);
	if (rc < 0) {
		log_err("space reclaim postponed: syncing metadata failed: %s", strerror(-rc));
		free(d);
		return;
	}
	for (size_t i = 0; i < nd; i++)
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
	struct timespec until;

	pthread_mutex_lock(&fs->seg_lock);
	while (!fs->reclaim_stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&fs->reclaim_cond, &fs->seg_lock, &until);
		pthread_mutex_unlock(&fs->seg_lock);
		reclaim(fs);
		pthread_mutex_lock(&fs->seg_lock);
	}
	pthread_mutex_unlock(&fs->seg_lock);
	return NULL;
}

int fs_reclaimer_start(struct fs *fs)
{
	int rc;

	pthread_cond_init(&fs->reclaim_cond, NULL);
	rc = -pthread_create(&fs->reclaimer, NULL, reclaimer_main, fs);
	fs->reclaimer_running = rc == 0;
	return rc;
}

void fs_reclaimer_stop(struct fs *fs)
{
	if (!fs->reclaimer_running)
		return;
	pthread_mutex_lock(&fs->seg_lock);
	fs->reclaim_stop = true;
	pthread_cond_signal(&fs->reclaim_cond);
	pthread_mutex_unlock(&fs->seg_lock);
	pthread_join(fs->reclaimer, NULL);
	fs->reclaimer_running = false;
	reclaim(fs);
	free(fs->discards);
	fs->discards = NULL;
}

int fs_commit(struct fs *fs, struct meta_batch *b, bool sync)
{
	return meta_batch_commit(fs->meta, b, sync);
}

/* --- loading and editing the map ------------------------------------- */

static int load_ext(void *ctx, const struct meta_extent *me)
{
	struct extmap *m = ctx;
	struct ext *e;

	if (map_reserve(m, 1) < 0)
		return -ENOMEM;
	e = &m->v[m->n];
	e->foff = me->foff;
	e->len = me->len;
	e->inner = me->inner;
	e->ref = me->ref;
	e->crcs = crcs_new(me->crcs, me->ncrc);
	if (!e->crcs)
		return -ENOMEM;
	m->n++;
	return 0;
}

int fs_map_load(struct fs *fs, struct inode *in)
{
	int rc;

	if (in->map_loaded)
		return 0;
	rc = meta_extent_foreach(fs->meta, in->ino, load_ext, &in->map);
	if (rc < 0) {
		fs_map_free(&in->map);
		log_err("cannot load extent map of inode %llu: %s",
			(unsigned long long)in->ino, strerror(-rc));
		return rc;
	}
	in->map_loaded = true;
	return 0;
}

/* Remove [off, end) from the loaded map, recording the change in B. */
static int map_punch(struct fs *fs, struct inode *in, struct meta_batch *b,
		     uint64_t off, uint64_t end)
{
	struct extmap *m = &in->map;
	size_t i = map_find(m, off), j = i;
	struct ext keep[2];
	size_t nkeep = 0;
	struct meta_extent me;

	while (j < m->n && m->v[j].foff < end)
		j++;
	if (i == j)
		return 0;
	if (map_reserve(m, 2) < 0)
		return -ENOMEM;
	if (m->v[i].foff < off) {
		keep[nkeep] = m->v[i];
		keep[nkeep].len = off - m->v[i].foff;
		keep[nkeep++].crcs->refs++;
	}
	if (m->v[j - 1].foff + m->v[j - 1].len > end) {
		struct ext *last = &m->v[j - 1];

		keep[nkeep] = *last;
		keep[nkeep].foff = end;
		keep[nkeep].inner = last->inner + (uint32_t)(end - last->foff);
		keep[nkeep].len = last->foff + last->len - end;
		keep[nkeep++].crcs->refs++;
	}
	for (size_t k = i; k < j; k++) {
		const struct ext *x = &m->v[k];
		uint64_t s = x->foff > off ? x->foff : off;
		uint64_t t = x->foff + x->len < end ? x->foff + x->len : end;

		in->attr.alloc -= x->len;
		meta_extent_del(b, in->ino, x->foff);
		pthread_mutex_lock(&fs->seg_lock);
		discard_queue_locked(fs, &x->ref, x->inner + (uint32_t)(s - x->foff), t - s);
		seg_adj_locked(fs, &x->ref, -1);
		pthread_mutex_unlock(&fs->seg_lock);
		crcs_put(x->crcs);
	}
	memmove(&m->v[i + nkeep], &m->v[j], (m->n - j) * sizeof(*m->v));
	m->n = m->n - (j - i) + nkeep;
	for (size_t k = 0; k < nkeep; k++) {
		m->v[i + k] = keep[k];
		in->attr.alloc += keep[k].len;
		ext_to_meta(&keep[k], &me);
		meta_extent_put(b, in->ino, &me);
		seg_adj(fs, &keep[k].ref, +1);
	}
	return 0;
}

/* Put extent E (already counted in segrefs) at its place in the map. */
static int map_insert(struct fs *fs, struct inode *in, struct meta_batch *b,
		      const struct ext *e)
{
	struct meta_extent me;
	size_t i;
	int rc = map_punch(fs, in, b, e->foff, e->foff + e->len);

	if (rc < 0)
		return rc;
	if (map_reserve(&in->map, 1) < 0)
		return -ENOMEM;
	i = map_find(&in->map, e->foff);
	memmove(&in->map.v[i + 1], &in->map.v[i], (in->map.n - i) * sizeof(*e));
	in->map.v[i] = *e;
	in->map.n++;
	in->attr.alloc += e->len;
	ext_to_meta(e, &me);
	meta_extent_put(b, in->ino, &me);
	return 0;
}

/* --- the write buffer ------------------------------------------------ */

void fs_wbuf_free(struct inode *in)
{
	free(in->wbuf);
	in->wbuf = NULL;
	in->wb_cap = in->wb_len = 0;
}

/* Append the buffered bytes as one extent and commit the map change. */
int fs_flush(struct fs *fs, struct inode *in)
{
	uint32_t crcbuf[TIER_NCRC(FS_WB_CAP)], ncrc;
	struct meta_batch *b;
	struct ext e = { .foff = in->wb_off, .len = in->wb_len };
	int rc;

	if (!in->wb_len)
		return 0;
	rc = fs_map_load(fs, in);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fs->seg_lock);
	fs->appending++;
	pthread_mutex_unlock(&fs->seg_lock);
	rc = tier_append(fs->tiers[TIER_HOT], in->wbuf, in->wb_len, fs->opt.codec, &e.ref,
			 crcbuf, &ncrc);
	pthread_mutex_lock(&fs->seg_lock);
	if (rc == 0)
		seg_adj_locked(fs, &e.ref, +1);
	fs->appending--;
	pthread_mutex_unlock(&fs->seg_lock);
	if (rc < 0) {
		log_err("write of %u bytes of inode %llu to the hot tier failed: %s",
			in->wb_len, (unsigned long long)in->ino, strerror(-rc));
		return rc;
	}
	e.crcs = crcs_new(crcbuf, ncrc);
	b = meta_batch_new();
	if (!e.crcs || !b) {
		rc = -ENOMEM;
		goto out;
	}
	rc = map_insert(fs, in, b, &e);
	if (rc < 0)
		goto out;
	e.crcs = NULL;		/* owned by the map now */
	inode_save(b, in);
	rc = fs_commit(fs, b, false);
	if (rc == 0)
		in->wb_len = 0;
out:
	if (e.crcs) {
		seg_adj(fs, &e.ref, -1);
		crcs_put(e.crcs);
	}
	meta_batch_free(b);
	return rc;
}

/* True if a write at [off, off+size) can go into the current buffer. */
static bool wbuf_fits(const struct inode *in, uint64_t off, size_t size)
{
	return off >= in->wb_off && off <= in->wb_off + in->wb_len &&
	       off + size <= in->wb_off + FS_WB_CAP;
}

static int wbuf_grow(struct inode *in, uint32_t need)
{
	uint32_t cap = in->wb_cap ? in->wb_cap : WB_MIN;
	char *n;

	if (need <= in->wb_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > FS_WB_CAP)
		cap = FS_WB_CAP;
	n = realloc(in->wbuf, cap);
	if (!n)
		return -ENOMEM;
	in->wbuf = n;
	in->wb_cap = cap;
	return 0;
}

int fs_write(struct fs *fs, struct inode *in, const char *buf, size_t size, uint64_t off)
{
	int rc;

	if (in->wb_len && !wbuf_fits(in, off, size)) {
		rc = fs_flush(fs, in);
		if (rc < 0)
			return rc;
	}
	if (!in->wb_len)
		in->wb_off = off;
	rc = wbuf_grow(in, (uint32_t)(off + size - in->wb_off));
	if (rc < 0)
		return rc;
	memcpy(in->wbuf + (off - in->wb_off), buf, size);
	if (off + size - in->wb_off > in->wb_len)
		in->wb_len = (uint32_t)(off + size - in->wb_off);
	if (off + size > in->attr.size)
		in->attr.size = off + size;
	in->attr.mtime = in->attr.ctime = fs_now();
	in->attr.generation++;
	in->dirty = true;
	if (in->wb_len == FS_WB_CAP)
		return fs_flush(fs, in);
	return 0;
}

/* --- reads ----------------------------------------------------------- */

int fs_read(struct fs *fs, struct inode *in, char *dst, size_t size, uint64_t off,
	    size_t *got)
{
	struct tier_io small[32], *ios = small;
	const struct extmap *m = &in->map;
	uint64_t end, pos;
	size_t i, n = 0, cap = 32;
	int rc = 0;

	*got = 0;
	if (off >= in->attr.size)
		return 0;
	if (size > in->attr.size - off)
		size = in->attr.size - off;
	end = off + size;
	pos = off;
	for (i = map_find(m, off); i < m->n && m->v[i].foff < end; i++) {
		const struct ext *e = &m->v[i];
		uint64_t s = e->foff > off ? e->foff : off;
		uint64_t t = e->foff + e->len < end ? e->foff + e->len : end;

		if (s > pos)
			memset(dst + (pos - off), 0, s - pos);
		if (n == cap) {
			struct tier_io *v = malloc(cap * 2 * sizeof(*v));

			if (!v) {
				rc = -ENOMEM;
				goto out;
			}
			memcpy(v, ios, n * sizeof(*v));
			if (ios != small)
				free(ios);
			ios = v;
			cap *= 2;
		}
		ios[n++] = (struct tier_io){ .ref = &e->ref, .crcs = e->crcs->c,
					     .inner = e->inner + (uint32_t)(s - e->foff),
					     .len = (uint32_t)(t - s), .dst = dst + (s - off) };
		pos = t;
	}
	if (pos < end)
		memset(dst + (pos - off), 0, end - pos);
	if (n) {
		rc = tier_read_batch(fs->tiers, ios, (unsigned)n);
		if (rc < 0) {
			log_err("read of inode %llu at %llu failed: %s", (unsigned long long)in->ino,
				(unsigned long long)off, strerror(-rc));
			goto out;
		}
	}
	if (in->wb_len && in->wb_off < end && in->wb_off + in->wb_len > off) {
		uint64_t s = in->wb_off > off ? in->wb_off : off;
		uint64_t t = in->wb_off + in->wb_len < end ? in->wb_off + in->wb_len : end;

		memcpy(dst + (s - off), in->wbuf + (s - in->wb_off), t - s);
	}
	*got = size;
out:
	if (ios != small)
		free(ios);
	return rc;
}

/* --- truncation, holes, durability ----------------------------------- */

int fs_punch(struct fs *fs, struct inode *in, struct meta_batch *b, uint64_t off,
	     uint64_t len)
{
	uint64_t end = len == UINT64_MAX || off + len < off ? UINT64_MAX : off + len;
	int rc = fs_flush(fs, in);

	if (rc < 0)
		return rc;
	rc = fs_map_load(fs, in);
	if (rc < 0)
		return rc;
	return map_punch(fs, in, b, off, end);
}

void fs_content_drop(struct fs *fs, struct inode *in, struct meta_batch *b)
{
	in->wb_len = 0;
	fs_wbuf_free(in);
	if (!S_ISREG(in->attr.mode))
		return;
	if (fs_map_load(fs, in) < 0) {
		log_err("inode %llu: extent map unreadable; its segments stay counted",
			(unsigned long long)in->ino);
	} else {
		pthread_mutex_lock(&fs->seg_lock);
		for (size_t i = 0; i < in->map.n; i++) {
			const struct ext *x = &in->map.v[i];

			discard_queue_locked(fs, &x->ref, x->inner, x->len);
			seg_adj_locked(fs, &x->ref, -1);
		}
		pthread_mutex_unlock(&fs->seg_lock);
	}
	fs_map_free(&in->map);
	in->map_loaded = false;
	meta_extent_del_all(b, in->ino);
}

int fs_sync(struct fs *fs, struct inode *in)
{
	int rc = 0;

	if (in) {
		rc = fs_flush(fs, in);
		if (rc < 0)
			return rc;
	}
	if (!in || in->dirty) {
		rc = tier_sync(fs->tiers[TIER_HOT]);
		if (rc < 0) {
			log_err("fsync: syncing the hot tier failed: %s", strerror(-rc));
			return rc;
		}
		if (in)
			in->dirty = false;
	}
	rc = meta_sync(fs->meta);
	if (rc < 0)
		log_err("fsync: syncing metadata failed: %s", strerror(-rc));
	return rc;
}
