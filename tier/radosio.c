/* radosio.c — the I/O of the RADOS tier (see rados_priv.h): appends as
 * asynchronous whole-object writes, batched asynchronous reads checked
 * block by block against their checksums, and discards as object
 * removals.
 *
 * An append returns once its write is submitted (up to RADOS_INFLIGHT per
 * tier are in flight); a read of an extent still being written waits for
 * that write, and tier_sync waits for every one submitted before it (not
 * for later ones, so that other writers cannot starve it) and returns the
 * first failure, as fdatasync reports a failed writeback.  A write is acked by
 * RADOS once it is durable on every replica.
 *
 * Every failure of the cluster (an object missing, a timeout, an OSD
 * gone) is a read's -EIO with one log line naming the object: never bytes
 * that were not verified.
 */
#include "tier/tier.h"
#include "tier/codec.h"
#include "tier/dcache.h"
#include "tier/log.h"
#include "tier/objcache.h"
#include "tier/rados_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN(x)	(((x) + TIER_BLOCK - 1) & ~(uint64_t)(TIER_BLOCK - 1))

/* ---- append ---------------------------------------------------------- */

struct wctx {
	struct rtier *t;
	uint32_t seg;
	uint64_t off;
	uint32_t len;
};

static void pend_drop(struct rtier *t, uint32_t seg, uint64_t off)
{
	for (unsigned i = 0; i < t->npend; i++) {
		if (t->pend[i].seg == seg && t->pend[i].off == off) {
			t->pend_bytes -= t->pend[i].len;
			t->pend[i] = t->pend[--t->npend];
			break;
		}
	}
	pthread_cond_broadcast(&t->cond);
}

/* Completion of an append's write (a librados thread). */
static void write_done(rados_completion_t c, void *arg)
{
	struct wctx *w = arg;
	struct rtier *t = w->t;
	int rc = rados_aio_get_return_value(c);
	char name[RADOS_NAME_SIZE];

	pthread_mutex_lock(&t->lock);
	if (rc < 0) {
		rtier_obj_name(t, name, w->seg, w->off, w->len);
		rtier_fail(t, rc, "write of object %s (%" PRIu32 " bytes) failed: %s", name, w->len,
			   strerror(-rc));
		rtier_seg_drop(t, w->seg, w->off);
		if (!t->werr)
			t->werr = rc == -ETIMEDOUT ? -EIO : rc;
	}
	pend_drop(t, w->seg, w->off);
	pthread_mutex_unlock(&t->lock);
	rados_aio_release(c);
	free(w);
}

/* Encode LEN bytes of SRC into DST (room for LEN) with CODEC if that saves
 * at least 5%; returns the stored length (*USED the codec), or 0 for raw. */
static uint32_t pack(int codec, const void *src, uint32_t len, uint8_t *dst, int *used)
{
	uint32_t budget = (uint32_t)((uint64_t)len * 95 / 100), n = 0;
	uint8_t *tmp = malloc(len > CODEC_SAMPLE ? len : CODEC_SAMPLE), *out = NULL;

	if (!tmp || budget == 0)
		goto out;
	if (codec == TIER_CODEC_AUTO) {
		out = malloc(codec_choose_room());
		if (!out)
			goto out;
		codec = codec_choose(src, len, tmp, out);
	}
	*used = codec;
	n = codec_encode(codec, src, len, dst, budget, tmp);
out:
	free(tmp);
	free(out);
	return n;
}

/* Wait until one more write of LEN bytes may be in flight, and count
 * (SEG, OFF) among them (lock held). */
static void pend_enter(struct rtier *t, uint32_t seg, uint64_t off, uint32_t len)
{
	while (t->npend >= RADOS_INFLIGHT ||
	       (t->npend && t->pend_bytes + len > RADOS_INFLIGHT_BYTES))
		pthread_cond_wait(&t->cond, &t->lock);
	t->pend[t->npend++] = (struct rplace){ .seg = seg, .off = off, .len = len,
					       .ticket = t->tickets++ };
	t->pend_bytes += len;
}

/* Reserve a place for LEN stored bytes and, when DIRECT (written to the
 * cluster at once, not through the cache), count the write in flight. */
static int reserve(struct rtier *t, uint32_t len, bool direct, uint32_t *seg, uint64_t *off)
{
	struct rseg *s;
	int rc;

	pthread_mutex_lock(&t->lock);
	if (direct)	/* wait first, so that the place is given out in order */
		while (t->npend >= RADOS_INFLIGHT ||
		       (t->npend && t->pend_bytes + len > RADOS_INFLIGHT_BYTES))
			pthread_cond_wait(&t->cond, &t->lock);
	s = &t->segs[t->active];
	*off = ALIGN(s->size);
	if (*off + len > t->seg_max && s->size) {
		rc = rtier_seg_add(t, t->active + 1, 0, len);
		if (rc == 0) {
			t->active++;
			*off = 0;
		}
	} else {
		rc = rtier_seg_add(t, t->active, *off, len);
	}
	*seg = t->active;
	if (rc == 0 && direct)
		pend_enter(t, *seg, *off, len);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

/* librados copies the bytes of a write when it is submitted (the C API
 * appends them to a bufferlist of its own), so the caller's buffer, or the
 * encoded copy, is free once rados_aio_write_full returns. */
int rtier_append(struct tier *base, const void *buf, uint32_t len, int codec,
		 struct tier_ref *ref, uint32_t *crcs, uint32_t *ncrc)
{
	struct rtier *t = (struct rtier *)base;
	char name[RADOS_NAME_SIZE];
	rados_completion_t c;
	struct wctx *w;
	uint8_t *packed = NULL;
	const uint8_t *src = buf;
	uint32_t stored = 0;
	int rc, used = TIER_CODEC_RAW;

	if (!buf || !ref || !crcs || !ncrc || len == 0 || len > TIER_EXTENT_MAX ||
	    (codec > TIER_CODEC_MAX && codec != TIER_CODEC_AUTO) || codec < 0 || t->readonly)
		return rtier_fail(t, -EINVAL, "invalid append of %" PRIu32 " bytes with codec %d",
				  len, codec);
	w = calloc(1, sizeof *w);
	if (w && codec != TIER_CODEC_RAW && !(packed = malloc(len))) {
		free(w);
		w = NULL;
	}
	if (!w)
		return rtier_fail(t, -ENOMEM, "no memory for an append of %" PRIu32 " bytes", len);
	if (packed)
		stored = pack(codec, buf, len, packed, &used);
	if (stored) {
		src = packed;
	} else {
		stored = len;
		used = TIER_CODEC_RAW;
	}
	*ncrc = TIER_NCRC(stored);
	for (uint32_t i = 0; i < *ncrc; i++) {
		uint32_t pos = i * TIER_BLOCK;

		crcs[i] = tier_crc32c(0, src + pos,
				      stored - pos < TIER_BLOCK ? stored - pos : TIER_BLOCK);
	}
	w->t = t;
	w->len = stored;
	rc = reserve(t, stored, !t->cache, &w->seg, &w->off);
	if (rc)
		goto out;
	*ref = (struct tier_ref){ .tier = (uint8_t)t->id, .codec = (uint8_t)used, .seg = w->seg,
				  .off = w->off, .stored_len = stored, .raw_len = len };
	rtier_obj_name(t, name, w->seg, w->off, stored);
	if (t->cache) {
		/* the write buffer, else (full, or the local disk fails) the cluster */
		if (objcache_put_dirty(t->cache, name, src, stored) == 0)
			goto out;
		pthread_mutex_lock(&t->lock);
		pend_enter(t, w->seg, w->off, stored);
		pthread_mutex_unlock(&t->lock);
	}
	rc = rados_aio_create_completion2(w, write_done, &c);
	if (rc == 0) {
		rc = rados_aio_write_full(t->io, name, c, (const char *)src, stored);
		if (rc == 0) {
			free(packed);	/* w belongs to write_done now */
			return 0;
		}
		rados_aio_release(c);
	}
	pthread_mutex_lock(&t->lock);
	rtier_seg_drop(t, w->seg, w->off);
	pend_drop(t, w->seg, w->off);
	pthread_mutex_unlock(&t->lock);
	rc = rtier_fail(t, rc, "cannot submit the write of object %s: %s", name, strerror(-rc));
out:
	free(packed);
	free(w);
	return rc;
}

/* With the cache, what is buffered becomes durable on the local disk, and
 * reaches the cluster later (tier_wait_writes waits for that). */
int rtier_sync(struct tier *base)
{
	struct rtier *t = (struct rtier *)base;
	int rc = t->cache ? objcache_sync(t->cache) : 0;

	pthread_mutex_lock(&t->lock);
	rtier_wait_submitted(t);
	rc = rc ? rc : t->werr;
	t->werr = 0;
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int rtier_upload(void *ctx, const char *name, const void *buf, size_t len)
{
	struct rtier *t = ctx;
	int rc = rados_write_full(t->io, name, buf, len);

	if (rc < 0)
		rtier_fail(t, rc, "upload of object %s (%zu bytes) failed: %s", name, len,
			   strerror(-rc));
	return rc == -ETIMEDOUT ? -EIO : rc;
}

/* ---- reads ----------------------------------------------------------- */

/* One read of a batch: stored bytes [soff, soff + rlen) of io's extent
 * into buf (dst itself when direct). */
struct rread {
	struct tier_io *io;
	struct rtier *t;
	rados_completion_t c;
	uint8_t *buf;
	uint32_t soff, rlen;
	bool direct;
	bool fill;		/* the whole object, for the cache */
};

static struct rtier *read_check(struct tier *const *tiers, struct tier_io *io)
{
	const struct tier_ref *r = io->ref;
	struct rtier *t = r && r->tier < TIER_COUNT ? (struct rtier *)tiers[r->tier] : NULL;

	if (!t) {
		io->result = -EINVAL;
		return NULL;
	}
	if (!io->dst || !io->crcs || r->stored_len == 0 || r->codec > TIER_CODEC_MAX ||
	    (r->codec == TIER_CODEC_RAW && r->stored_len != r->raw_len) ||
	    (uint64_t)io->inner + io->len > r->raw_len) {
		io->result = rtier_fail(t, -EINVAL, "invalid read of [%" PRIu32 ", +%" PRIu32 ") from "
					"the extent at segment %" PRIu32 " offset %" PRIu64, io->inner,
					io->len, r->seg, r->off);
		return NULL;
	}
	return t;
}

/* The stored bytes [*SOFF, *SOFF + *RLEN) a read of IO needs: whole
 * blocks of a raw extent (*DIRECT when they are exactly IO's bytes), the
 * whole of any other. */
static void read_span(const struct tier_io *io, uint32_t *soff, uint32_t *rlen, bool *direct)
{
	const struct tier_ref *r = io->ref;
	uint32_t end = r->stored_len;

	*soff = 0;
	*direct = false;
	if (r->codec == TIER_CODEC_RAW) {
		uint64_t e = ALIGN((uint64_t)io->inner + io->len);

		*soff = io->inner / TIER_BLOCK * TIER_BLOCK;
		end = e < end ? (uint32_t)e : end;
		*direct = *soff == io->inner && end == io->inner + io->len;
	}
	*rlen = end - *soff;
}

static int read_use(struct rread *p);

/* ---- read-ahead into the cache ---------------------------------------- */

struct pfetch {
	struct rtier *t;
	uint32_t seg, len;
	uint64_t off;
	char name[RADOS_NAME_SIZE];
	char *buf;
};

static bool pf_has(const struct rtier *t, uint32_t seg, uint64_t off)
{
	for (unsigned i = 0; i < t->npf; i++)
		if (t->pf[i].seg == seg && t->pf[i].off == off)
			return true;
	return false;
}

static bool pend_has(const struct rtier *t, uint32_t seg, uint64_t off)
{
	for (unsigned i = 0; i < t->npend; i++)
		if (t->pend[i].seg == seg && t->pend[i].off == off)
			return true;
	return false;
}

/* Completion of a read ahead (a librados thread): keep the copy. */
static void prefetch_done(rados_completion_t c, void *arg)
{
	struct pfetch *f = arg;
	struct rtier *t = f->t;

	if (rados_aio_get_return_value(c) == (int)f->len)
		objcache_put_clean(t->cache, f->name, f->buf, f->len);
	pthread_mutex_lock(&t->lock);
	for (unsigned i = 0; i < t->npf; i++) {
		if (t->pf[i].seg == f->seg && t->pf[i].off == f->off) {
			t->pf[i] = t->pf[--t->npf];
			break;
		}
	}
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	rados_aio_release(c);
	free(f->buf);
	free(f);
}

/* Read ahead the objects that follow (SEG, OFF) in its segment, as far as
 * a quarter of the cache, that the cache does not hold (lock held). */
static void prefetch_after(struct rtier *t, uint32_t seg, uint64_t off)
{
	struct rseg *s = seg < t->nsegs ? &t->segs[seg] : NULL;
	uint64_t budget = objcache_limit(t->cache) / 4;
	uint32_t i = 0;

	while (s && i < s->n && s->v[i].off <= off)
		i++;
	for (unsigned k = 0; s && i < s->n && k < RADOS_PREFETCH && t->npf < RADOS_PREFETCH;
	     i++, k++) {
		struct robj o = s->v[i];
		rados_completion_t c;
		struct pfetch *f;

		if (o.len > budget)
			break;
		budget -= o.len;
		if (pf_has(t, seg, o.off) || pend_has(t, seg, o.off))
			continue;
		f = calloc(1, sizeof(*f));
		if (!f)
			break;
		*f = (struct pfetch){ .t = t, .seg = seg, .off = o.off, .len = o.len };
		rtier_obj_name(t, f->name, seg, o.off, o.len);
		if (!objcache_wants(t->cache, f->name, o.len) || !(f->buf = malloc(o.len)) ||
		    rados_aio_create_completion2(f, prefetch_done, &c) < 0) {
			free(f->buf);
			free(f);
			continue;
		}
		if (rados_aio_read(t->io, f->name, c, f->buf, o.len, 0) < 0) {
			rados_aio_release(c);
			free(f->buf);
			free(f);
			continue;
		}
		t->pf[t->npf++] = (struct rplace){ .seg = seg, .off = o.off, .len = o.len };
		t->remote_reads++;
	}
}

void rtier_wait_prefetch(struct rtier *t)
{
	while (t->npf)
		pthread_cond_wait(&t->cond, &t->lock);
}

/* Serve IO from the cache of T: true when done (IO's result set), false
 * when the cluster must be read (a miss, or a damaged clean copy, which
 * is dropped). */
static bool read_cached(struct rtier *t, struct tier_io *io)
{
	const struct tier_ref *r = io->ref;
	struct rread p = { .io = io, .t = t };
	char name[RADOS_NAME_SIZE];
	int rc;

	pthread_mutex_lock(&t->lock);
	while (pf_has(t, r->seg, r->off))
		pthread_cond_wait(&t->cond, &t->lock);
	pthread_mutex_unlock(&t->lock);
	read_span(io, &p.soff, &p.rlen, &p.direct);
	p.buf = p.direct ? io->dst : malloc(p.rlen);
	if (!p.buf)
		return false;
	rtier_obj_name(t, name, r->seg, r->off, r->stored_len);
	rc = objcache_get(t->cache, name, p.soff, p.rlen, p.buf) == 1 ? read_use(&p) : 1;
	if (rc == 0 && io->inner == 0) {	/* a reader at the start of an object */
		pthread_mutex_lock(&t->lock);
		prefetch_after(t, r->seg, r->off);
		pthread_mutex_unlock(&t->lock);
	}
	if (!p.direct)
		free(p.buf);
	if (rc == -EIO && objcache_corrupt(t->cache, name) == 0)
		rc = 1;		/* damaged here, intact in the cluster */
	if (rc == 1)
		return false;
	io->result = rc;
	return true;
}

/* Plan and submit the read of IO; false if it needs none (done or failed). */
static bool read_submit(struct tier *const *tiers, struct tier_io *io, struct rread *p)
{
	const struct tier_ref *r = io->ref;
	struct rtier *t = read_check(tiers, io);
	char name[RADOS_NAME_SIZE];
	int rc;

	if (!t)
		return false;
	if (io->len == 0) {
		io->result = 0;
		return false;
	}
	if (r->codec != TIER_CODEC_RAW &&
	    dcache_read(t->dcache, r, io->inner, io->len, io->dst)) {
		io->result = 0;
		return false;
	}
	if (t->cache && read_cached(t, io))
		return false;
	*p = (struct rread){ .io = io, .t = t };
	read_span(io, &p->soff, &p->rlen, &p->direct);
	if (t->cache) {		/* the whole object, to keep a copy */
		p->fill = true;
		p->direct = false;
		p->soff = 0;
		p->rlen = r->stored_len;
	}
	p->buf = p->direct ? io->dst : malloc(p->rlen);
	if (!p->buf) {
		io->result = rtier_fail(t, -ENOMEM, "no memory for a read of %" PRIu32 " bytes",
					p->rlen);
		return false;
	}
	pthread_mutex_lock(&t->lock);
	rtier_wait_place(t, r->seg, r->off);
	t->remote_reads++;
	if (t->cache)
		prefetch_after(t, r->seg, r->off);
	pthread_mutex_unlock(&t->lock);
	rtier_obj_name(t, name, r->seg, r->off, r->stored_len);
	rc = rados_aio_create_completion2(NULL, NULL, &p->c);
	if (rc == 0) {
		rc = rados_aio_read(t->io, name, p->c, (char *)p->buf, p->rlen, p->soff);
		if (rc < 0)
			rados_aio_release(p->c);
	}
	if (rc < 0) {
		io->result = rtier_fail(t, -EIO, "cannot submit the read of object %s: %s", name,
					strerror(-rc));
		if (!p->direct)
			free(p->buf);
		return false;
	}
	return true;
}

static int read_verify(const struct rread *p)
{
	const struct tier_ref *r = p->io->ref;
	char name[RADOS_NAME_SIZE];

	for (uint32_t pos = p->soff; pos < p->soff + p->rlen; pos += TIER_BLOCK) {
		uint32_t blk = pos / TIER_BLOCK;
		uint32_t n = r->stored_len - pos < TIER_BLOCK ? r->stored_len - pos : TIER_BLOCK;
		uint32_t crc = tier_crc32c(0, p->buf + (pos - p->soff), n);

		if (crc != p->io->crcs[blk]) {
			rtier_obj_name(p->t, name, r->seg, r->off, r->stored_len);
			return rtier_fail(p->t, -EIO, "checksum mismatch in object %s at offset %"
					  PRIu32 " (block %" PRIu32 "): expected %08" PRIx32
					  ", found %08" PRIx32, name, pos, blk, p->io->crcs[blk], crc);
		}
	}
	return 0;
}

static int read_decode(const struct rread *p)
{
	const struct tier_ref *r = p->io->ref;
	uint8_t *whole = NULL, *tmp = malloc(r->raw_len);
	struct dslot *slot;
	int rc;

	if (!tmp)
		return -ENOMEM;
	slot = dcache_begin(p->t->dcache, r, &whole);
	if (slot) {
		rc = codec_decode(r->codec, p->buf, r->stored_len, r->raw_len, 0, r->raw_len, whole,
				  tmp);
		if (rc == 0)
			memcpy(p->io->dst, whole + p->io->inner, p->io->len);
		dcache_end(p->t->dcache, slot, rc == 0);
	} else {
		rc = codec_decode(r->codec, p->buf, r->stored_len, r->raw_len, p->io->inner,
				  p->io->len, p->io->dst, tmp);
	}
	free(tmp);
	if (rc == -EIO)
		rtier_fail(p->t, rc, "extent at segment %" PRIu32 " offset %" PRIu64 " (codec %u) "
			   "does not decode to %" PRIu32 " bytes", r->seg, r->off, r->codec,
			   r->raw_len);
	return rc;
}

/* Check P's bytes, keep a copy of a whole object read for the cache, and
 * give IO its bytes. */
static int read_use(struct rread *p)
{
	const struct tier_ref *r = p->io->ref;
	char name[RADOS_NAME_SIZE];
	int rc = read_verify(p);

	if (rc == 0 && p->fill) {
		rtier_obj_name(p->t, name, r->seg, r->off, r->stored_len);
		objcache_put_clean(p->t->cache, name, p->buf, p->rlen);
	}
	if (rc == 0 && r->codec != TIER_CODEC_RAW)
		rc = read_decode(p);
	else if (rc == 0 && !p->direct)
		memcpy(p->io->dst, p->buf + (p->io->inner - p->soff), p->io->len);
	return rc;
}

static void read_finish(struct rread *p)
{
	const struct tier_ref *r = p->io->ref;
	char name[RADOS_NAME_SIZE];
	int rc;

	rados_aio_wait_for_complete(p->c);
	rc = rados_aio_get_return_value(p->c);
	rados_aio_release(p->c);
	rtier_obj_name(p->t, name, r->seg, r->off, r->stored_len);
	if (rc == -ENOENT)
		rc = rtier_fail(p->t, -EIO, "object %s is missing", name);
	else if (rc < 0)
		rc = rtier_fail(p->t, -EIO, "read of object %s failed: %s", name, strerror(-rc));
	else if ((uint32_t)rc < p->rlen)
		rc = rtier_fail(p->t, -EIO, "object %s holds %d bytes from offset %" PRIu32
				", %" PRIu32 " expected: truncated object", name, rc, p->soff,
				p->rlen);
	else
		rc = read_use(p);
	if (!p->direct)
		free(p->buf);
	p->io->result = rc;
}

int rtier_read_batch(struct tier *const *tiers, struct tier_io *ios, unsigned n)
{
	struct rread p[RADOS_READS];

	for (unsigned i = 0; i < n; ) {
		unsigned k = 0;

		for (; i < n && k < RADOS_READS; i++)
			if (read_submit(tiers, &ios[i], &p[k]))
				k++;
		for (unsigned j = 0; j < k; j++)
			read_finish(&p[j]);
	}
	for (unsigned i = 0; i < n; i++)
		if (ios[i].result)
			return ios[i].result;
	return 0;
}

/* ---- giving space back ----------------------------------------------- */

/* Remove the objects NAMES (N of them) together; the first error. */
static int remove_all(struct rtier *t, char (*names)[RADOS_NAME_SIZE], uint32_t n)
{
	rados_completion_t *c = calloc(n ? n : 1, sizeof *c);
	int rc = 0;

	if (!c)
		return rtier_fail(t, -ENOMEM, "no memory to remove %" PRIu32 " objects", n);
	for (uint32_t i = 0; i < n; i++) {
		int r = rados_aio_create_completion2(NULL, NULL, &c[i]);

		if (r == 0 && (r = rados_aio_remove(t->io, names[i], c[i])) < 0) {
			rados_aio_release(c[i]);
		}
		if (r < 0) {
			c[i] = NULL;
			rc = rc ? rc : rtier_fail(t, r, "cannot remove object %s: %s", names[i],
						  strerror(-r));
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		int r;

		if (!c[i])
			continue;
		rados_aio_wait_for_complete(c[i]);
		r = rados_aio_get_return_value(c[i]);
		rados_aio_release(c[i]);
		if (r < 0 && r != -ENOENT)
			rc = rc ? rc : rtier_fail(t, r, "cannot remove object %s: %s", names[i],
						  strerror(-r));
	}
	free(c);
	return rc;
}

/* Forget the objects of segment SEG lying within [START, END) and remove
 * them; the whole segment when ALL. */
static int drop_range(struct rtier *t, uint32_t seg, uint64_t start, uint64_t end, bool all)
{
	char (*names)[RADOS_NAME_SIZE] = NULL;
	uint32_t n = 0, cap;
	int rc;

	pthread_mutex_lock(&t->lock);
	cap = seg < t->nsegs ? t->segs[seg].n : 0;
	if (cap && !(names = malloc(cap * sizeof *names))) {
		pthread_mutex_unlock(&t->lock);
		return rtier_fail(t, -ENOMEM, "no memory to give segment %" PRIu32 " back", seg);
	}
	/* t->segs moves while a write is waited for: index it afresh each time */
	for (uint32_t i = 0; n < cap && i < t->segs[seg].n; ) {
		struct robj o = t->segs[seg].v[i];

		if (!all && (o.off < start || o.off + o.len > end)) {
			i++;
		} else if (rtier_wait_place(t, seg, o.off)) {
			i = 0;		/* the list may have changed meanwhile */
		} else {
			rtier_obj_name(t, names[n++], seg, o.off, o.len);
			rtier_seg_drop(t, seg, o.off);
		}
	}
	if (all && seg < t->nsegs) {
		t->segs[seg].present = false;
		t->segs[seg].size = 0;
	}
	pthread_mutex_unlock(&t->lock);
	for (uint32_t i = 0; t->cache && i < n; i++)
		objcache_drop(t->cache, names[i]);
	rc = remove_all(t, names, n);
	free(names);
	return rc;
}

int rtier_discard(struct tier *base, const struct tier_ref *ref, uint32_t inner, uint32_t len)
{
	struct rtier *t = (struct rtier *)base;
	uint64_t start, end;

	if (len == 0 || (ref->codec != TIER_CODEC_RAW && (inner || len < ref->raw_len)))
		return 0;
	if (ref->codec != TIER_CODEC_RAW) {
		inner = 0;
		len = ref->stored_len;
	}
	start = ref->off + inner;
	end = start + len;
	if (inner + len >= ref->stored_len)
		end = ALIGN(end);
	return drop_range(t, ref->seg, start, end, false);
}

int rtier_seg_remove(struct tier *base, uint32_t seg)
{
	struct rtier *t = (struct rtier *)base;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	if (seg == t->active)
		rc = rtier_fail(t, -EBUSY, "segment %" PRIu32 " is being appended to and cannot be "
				"removed", seg);
	else if (seg >= t->nsegs || !t->segs[seg].present)
		rc = rtier_fail(t, -ENOENT, "cannot remove segment %" PRIu32 ": no such segment",
				seg);
	pthread_mutex_unlock(&t->lock);
	return rc ? rc : drop_range(t, seg, 0, UINT64_MAX, true);
}
