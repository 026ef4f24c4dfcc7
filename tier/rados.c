/* rados.c — the RADOS tier: extents as objects of a Ceph pool, behind the
 * tier interface (struct tier_ops, tier.h).  This file opens and locks
 * the store's namespace and keeps the segment table; connecting is in
 * radosconn.c, the I/O in radosio.c.  The layout and the invariants are in rados_priv.h.
 *
 * One writer per store: a read-write open takes the exclusive lock
 * RADOS_LOCK on RADOS_STORE_OBJ with the cookie "HOST:STORE-PATH".  The
 * lock has no expiry (a writer that loses its lock while it still runs
 * would corrupt the store); a lock left by a dead host is broken by
 * tier_rados_unlock (aifsctl rados unlock).
 *
 * A tier opened with a cache directory keeps its objects there too
 * (objcache.h): opened first thing after the listing, so that what a crash
 * left buffered takes its place in the segment table before a new
 * segment is started.
 */
#include "tier/tier.h"
#include "tier/dcache.h"
#include "tier/log.h"
#include "tier/objcache.h"
#include "tier/rados_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEG_LIMIT	(1u << 24)
#define STAT_SECS	5	/* cluster capacity is asked at most this often */

static const char *tier_name(int id)
{
	return id == TIER_HOT ? "hot" : id == TIER_COLD ? "cold" : "?";
}

int rtier_fail(const struct rtier *t, int rc, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_err("tier %s (%s): %s", tier_name(t->id), t->spec, msg);
	return rc;
}

/* Extent objects of the hot tier start "h.", of the cold tier "c.". */
static char obj_prefix(int id)
{
	return id == TIER_HOT ? 'h' : 'c';
}

void rtier_obj_name(const struct rtier *t, char *buf, uint32_t seg, uint64_t off, uint32_t len)
{
	snprintf(buf, RADOS_NAME_SIZE, "%c.%08" PRIx32 ".%012" PRIx64 ".%08" PRIx32,
		 obj_prefix(t->id), seg, off, len);
}

/* Parse an extent object name of tier T as rtier_obj_name prints it. */
static bool obj_parse(const struct rtier *t, const char *name, uint32_t *seg, uint64_t *off,
		      uint32_t *len)
{
	char canon[RADOS_NAME_SIZE];
	unsigned long long o;
	unsigned s, l;

	if (name[0] != obj_prefix(t->id) || sscanf(name + 1, ".%8x.%12llx.%8x", &s, &o, &l) != 3)
		return false;
	rtier_obj_name(t, canon, s, o, l);
	*seg = s;
	*off = o;
	*len = l;
	return strcmp(canon, name) == 0;
}

/* ---- the lock -------------------------------------------------------- */

struct lockers {
	int n;
	char clients[1024], cookies[4096], addrs[1024];
};

static int lockers_list(rados_ioctx_t io, struct lockers *l)
{
	char tag[256];
	size_t tl = sizeof tag, cl = sizeof l->clients, kl = sizeof l->cookies,
	       al = sizeof l->addrs;
	int excl = 0;
	ssize_t n = rados_list_lockers(io, RADOS_STORE_OBJ, RADOS_LOCK, &excl, tag, &tl,
				       l->clients, &cl, l->cookies, &kl, l->addrs, &al);

	l->n = n < 0 ? 0 : (int)n;
	return n < 0 ? (int)n : 0;
}

/* Take the lock; a lock held by the same holder (a dead process of this
 * host on this store: the caller holds the store's local lock) is broken
 * once first. */
static int lock_take(struct rtier *t, const struct tier_rados_opts *ro)
{
	struct lockers l;
	int rc;

	for (int attempt = 0; ; attempt++) {
		rc = rados_lock_exclusive(t->io, RADOS_STORE_OBJ, RADOS_LOCK, ro->holder,
					  ro->note ? ro->note : "", NULL, 0);
		if (rc != -EBUSY || attempt)
			break;
		if (lockers_list(t->io, &l) < 0 || l.n != 1 || strcmp(l.cookies, ro->holder))
			break;
		log_notice("%s: breaking the lock of %s (client %s, %s), which is this store on "
			   "this host and no longer running", t->spec, l.cookies, l.clients,
			   l.addrs);
		rados_break_lock(t->io, RADOS_STORE_OBJ, RADOS_LOCK, l.clients, l.cookies);
	}
	if (rc == -EBUSY) {
		if (lockers_list(t->io, &l) < 0 || l.n < 1)
			snprintf(l.cookies, sizeof l.cookies, "another client");
		return rtier_user_fail(ro, -EBUSY, "%s is in use by %s (client %s): only one host may "
				 "write a store; if that host is dead, break its lock with: "
				 "aifsctl rados unlock STORE", t->spec, l.cookies,
				 l.n ? l.clients : "?");
	}
	if (rc < 0 && rc != -EEXIST)
		return rtier_user_fail(ro, rc, "%s: cannot take the store's lock: %s", t->spec,
				 strerror(-rc));
	t->cookie = strdup(ro->holder);
	if (!t->cookie)
		return -ENOMEM;
	return 0;
}

/* ---- segment table --------------------------------------------------- */

static int seg_slot(struct rtier *t, uint32_t seg)
{
	uint32_t n = t->nsegs ? t->nsegs : 16;
	struct rseg *s;

	if (seg < t->nsegs)
		return 0;
	if (seg >= SEG_LIMIT)
		return rtier_fail(t, -ERANGE, "segment number %" PRIu32 " is out of range", seg);
	while (n <= seg)
		n *= 2;
	s = realloc(t->segs, n * sizeof *s);
	if (!s)
		return rtier_fail(t, -ENOMEM, "cannot grow the segment table");
	memset(s + t->nsegs, 0, (n - t->nsegs) * sizeof *s);
	t->segs = s;
	t->nsegs = n;
	return 0;
}

int rtier_seg_add(struct rtier *t, uint32_t seg, uint64_t off, uint32_t len)
{
	struct rseg *s;
	uint32_t i;
	int rc = seg_slot(t, seg);

	if (rc)
		return rc;
	s = &t->segs[seg];
	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 64;
		struct robj *v = realloc(s->v, cap * sizeof *v);

		if (!v)
			return rtier_fail(t, -ENOMEM, "cannot grow the object list");
		s->v = v;
		s->cap = cap;
	}
	for (i = s->n; i > 0 && s->v[i - 1].off > off; i--)
		s->v[i] = s->v[i - 1];
	s->v[i] = (struct robj){ .off = off, .len = len };
	s->n++;
	s->present = true;
	if (off + len > s->size)
		s->size = off + len;
	t->used += len;
	return 0;
}

void rtier_seg_drop(struct rtier *t, uint32_t seg, uint64_t off)
{
	struct rseg *s = seg < t->nsegs ? &t->segs[seg] : NULL;

	for (uint32_t i = 0; s && i < s->n; i++) {
		if (s->v[i].off != off)
			continue;
		t->used -= s->v[i].len;
		memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof *s->v);
		s->n--;
		return;
	}
}

void rtier_wait_submitted(struct rtier *t)
{
	uint64_t upto = t->tickets;

	for (;;) {
		bool older = false;

		for (unsigned i = 0; i < t->npend && !older; i++)
			older = t->pend[i].ticket < upto;
		if (!older)
			return;
		pthread_cond_wait(&t->cond, &t->lock);
	}
}

bool rtier_wait_place(struct rtier *t, uint32_t seg, uint64_t off)
{
	bool waited = false;

	for (unsigned i = 0; i < t->npend; ) {
		if (t->pend[i].seg == seg && t->pend[i].off == off) {
			pthread_cond_wait(&t->cond, &t->lock);
			waited = true;
			i = 0;
		} else {
			i++;
		}
	}
	return waited;
}

/* List the namespace's extent objects into the segment table. */
static int scan(struct rtier *t, int64_t *newest)
{
	rados_list_ctx_t ls;
	const char *name;
	uint64_t off;
	uint32_t seg, len;
	int rc = rados_nobjects_list_open(t->io, &ls);

	*newest = -1;
	if (rc < 0)
		return rtier_fail(t, rc, "cannot list the objects: %s", strerror(-rc));
	while ((rc = rados_nobjects_list_next(ls, &name, NULL, NULL)) == 0) {
		if (!obj_parse(t, name, &seg, &off, &len))
			continue;
		rc = rtier_seg_add(t, seg, off, len);
		if (rc)
			break;
		if ((int64_t)seg > *newest)
			*newest = seg;
	}
	rados_nobjects_list_close(ls);
	if (rc == -ENOENT)
		rc = 0;
	else if (rc < 0)
		rtier_fail(t, rc, "cannot list the objects: %s", strerror(-rc));
	return rc;
}

/* ---- the cache -------------------------------------------------------- */

/* objcache_ops.adopt: an object buffered before a crash is one of this
 * tier's, of its full length, and takes its place in the segment table
 * (so that the place is never given out again). */
static int cache_adopt(void *ctx, const char *name, uint64_t len)
{
	struct rtier *t = ctx;
	uint64_t off;
	uint32_t seg, l;
	bool known = false;
	int rc = 0;

	if (!obj_parse(t, name, &seg, &off, &l) || l != len) {
		log_warn("%s: %s in the cache was never completely written: dropped", t->spec,
			 name);
		return 1;
	}
	pthread_mutex_lock(&t->lock);
	for (uint32_t i = 0; seg < t->nsegs && i < t->segs[seg].n; i++)
		known |= t->segs[seg].v[i].off == off;
	if (!known)
		rc = rtier_seg_add(t, seg, off, l);
	pthread_mutex_unlock(&t->lock);
	return rc ? 1 : 0;
}

static int rtier_cache_stats(struct tier *base, struct tier_cache_stats *out)
{
	struct rtier *t = (struct rtier *)base;
	struct objcache_stats st;

	if (!t->cache)
		return -EOPNOTSUPP;
	objcache_stats(t->cache, &st);
	*out = (struct tier_cache_stats){
		.limit = st.limit, .bytes = st.bytes, .dirty = st.dirty, .hits = st.hits,
		.misses = st.misses, .uploads = st.uploads, .upload_errors = st.upload_errors,
		.evictions = st.evictions, .corrupt = st.corrupt,
	};
	pthread_mutex_lock(&t->lock);
	out->remote_reads = t->remote_reads;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* Open the cache RO->cache_dir; *NEWEST becomes the newest segment known,
 * buffered objects included. */
static int cache_open(struct rtier *t, const struct tier_rados_opts *ro, int64_t *newest)
{
	static const struct objcache_ops ops = { .upload = rtier_upload, .adopt = cache_adopt };
	uint64_t size = ro->cache_size < 0 ? TIER_CACHE_DEFAULT : (uint64_t)ro->cache_size;
	int rc = objcache_open(ro->cache_dir, size, ro->timeout, t->readonly && !ro->cache_own,
			       &ops, t, &t->cache);

	if (rc < 0)
		return rtier_user_fail(ro, rc, "%s: cannot open the cache %s: %s", t->spec, ro->cache_dir,
				 strerror(-rc));
	for (uint32_t s = t->nsegs; s-- > 0; ) {
		if (t->segs[s].n) {
			if ((int64_t)s > *newest)
				*newest = s;
			break;
		}
	}
	return 0;
}

/* ---- open / close ---------------------------------------------------- */

static const struct tier_ops rtier_ops;

/* tier_space's device of a cluster: from its fsid, so that two tiers in one
 * cluster share it, with the top bit set, which no local st_dev has. */
static uint64_t cluster_dev(rados_t c)
{
	char fsid[64] = "";
	uint64_t h = 1469598103934665603ull;

	rados_cluster_fsid(c, fsid, sizeof fsid);
	for (const char *p = fsid; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	return h | 1ull << 63;
}

static void rtier_free(struct rtier *t)
{
	objcache_close(t->cache);	/* its uploads use the connection */
	if (t->cookie && t->io)
		rados_unlock(t->io, RADOS_STORE_OBJ, RADOS_LOCK, t->cookie);
	if (t->io)
		rados_ioctx_destroy(t->io);
	if (t->cluster)
		rados_shutdown(t->cluster);
	for (uint32_t i = 0; i < t->nsegs; i++)
		free(t->segs[i].v);
	free(t->segs);
	dcache_free(t->dcache);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	free(t->cookie);
	free(t->spec);
	free(t->pool);
	free(t->ns);
	free(t);
}

static int rtier_open(const char *spec, int id, int readonly, const struct tier_rados_opts *ro,
		      struct tier **out)
{
	struct rtier *t = calloc(1, sizeof *t);
	int64_t newest;
	int rc;

	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	t->id = id;
	t->readonly = readonly;
	t->seg_max = TIER_SEG_MAX;
	t->dcache = dcache_new();
	rc = rtier_spec_parse(spec, ro ? ro->uuid : NULL, &t->pool, &t->ns);
	if (rc < 0) {
		rc = rtier_user_fail(ro, rc, "%s is not a RADOS tier name: expected rados:POOL/NAME",
			       spec);
		goto out;
	}
	if (asprintf(&t->spec, "rados:%s/%s", t->pool, t->ns) < 0) {
		t->spec = NULL;
		rc = -ENOMEM;
		goto out;
	}
	rc = rtier_cluster_connect(t->spec, t->pool, t->ns, ro, &t->cluster, &t->io);
	if (rc == 0)
		rc = rtier_store_check(t->spec, t->io, ro);
	if (rc == 0 && !readonly && ro && ro->holder)
		rc = lock_take(t, ro);
	if (rc == 0)
		rc = scan(t, &newest);
	if (rc == 0 && ro && ro->cache_dir)
		rc = cache_open(t, ro, &newest);
	if (rc == 0)
		rc = seg_slot(t, (uint32_t)(newest + 1));
	if (rc)
		goto out;
	t->dev = cluster_dev(t->cluster);
	t->active = (uint32_t)(newest + 1);
	t->segs[t->active].present = true;
	t->base.ops = &rtier_ops;
	t->base.id = id;
	*out = &t->base;
	log_info("tier %s: %s open, %" PRIu64 " bytes in objects", tier_name(id), t->spec, t->used);
	return 0;
out:
	rtier_free(t);
	return rc;
}

int tier_open_spec(const char *spec, int id, int readonly, const struct tier_rados_opts *ro,
		   struct tier **out)
{
	*out = NULL;
	if (tier_spec_is_rados(spec))
		return rtier_open(spec, id, readonly, ro, out);
	return readonly ? tier_open_readonly(spec, id, out) : tier_open(spec, id, out);
}

static void rtier_close(struct tier *base)
{
	struct rtier *t = (struct rtier *)base;

	rtier_sync(base);
	pthread_mutex_lock(&t->lock);
	rtier_wait_prefetch(t);
	pthread_mutex_unlock(&t->lock);
	objcache_close(t->cache);
	t->cache = NULL;
	/* no write callback may outlive the tier */
	pthread_mutex_lock(&t->lock);
	while (t->npend)
		pthread_cond_wait(&t->cond, &t->lock);
	pthread_mutex_unlock(&t->lock);
	rtier_free(t);
}

int tier_rados_create(const char *spec, const struct tier_rados_opts *ro, char *out,
		      size_t outlen)
{
	rados_t cluster;
	rados_ioctx_t io;
	rados_list_ctx_t ls;
	const char *name;
	char *pool, *ns, buf[128];
	int rc = rtier_spec_parse(spec, ro ? ro->uuid : NULL, &pool, &ns);

	if (rc < 0)
		return rtier_user_fail(ro, rc, "%s is not a RADOS tier name: expected rados:POOL[/NAME]",
				 spec);
	snprintf(out, outlen, "rados:%s/%s", pool, ns);
	rc = rtier_cluster_connect(out, pool, ns, ro, &cluster, &io);
	if (rc < 0)
		goto out;
	rc = rados_nobjects_list_open(io, &ls);
	if (rc == 0) {
		/* the name lives only until the listing is closed */
		rc = rados_nobjects_list_next(ls, &name, NULL, NULL);
		if (rc == 0)
			rtier_user_fail(ro, -EEXIST, "%s already holds objects (%s): give the new store a "
				  "name of its own", out, name);
		rados_nobjects_list_close(ls);
		rc = rc == 0 ? -EEXIST : rc == -ENOENT ? 0 : rc;
	}
	if (rc == 0) {
		snprintf(buf, sizeof buf, "uuid = %s\n", ro->uuid);
		rc = rados_write_full(io, RADOS_STORE_OBJ, buf, strlen(buf));
	}
	if (rc < 0 && rc != -EEXIST)
		rtier_user_fail(ro, rc, "%s: cannot create the tier: %s", out, strerror(-rc));
	rados_ioctx_destroy(io);
	rados_shutdown(cluster);
out:
	free(pool);
	free(ns);
	return rc;
}

int tier_rados_unlock(const char *spec, const struct tier_rados_opts *ro,
		      void (*report)(void *ctx, const char *who), void *ctx)
{
	rados_t cluster;
	rados_ioctx_t io;
	struct lockers l;
	char *pool, *ns, who[6400];
	int rc = rtier_spec_parse(spec, ro ? ro->uuid : NULL, &pool, &ns), broken = 0;

	if (rc < 0)
		return rtier_user_fail(ro, rc, "%s is not a RADOS tier name", spec);
	rc = rtier_cluster_connect(spec, pool, ns, ro, &cluster, &io);
	free(pool);
	free(ns);
	if (rc < 0)
		return rc;
	rc = rtier_store_check(spec, io, ro);
	if (rc == 0)
		rc = lockers_list(io, &l);
	if (rc == 0) {
		const char *c = l.clients, *k = l.cookies, *a = l.addrs;

		for (int i = 0; i < l.n && rc == 0; i++) {
			rc = rados_break_lock(io, RADOS_STORE_OBJ, RADOS_LOCK, c, k);
			if (rc < 0) {
				rtier_user_fail(ro, rc, "%s: cannot break the lock of %s: %s", spec, k,
					  strerror(-rc));
				break;
			}
			snprintf(who, sizeof who, "%s (client %s at %s)", k, c, a);
			if (report)
				report(ctx, who);
			broken++;
			c += strlen(c) + 1;
			k += strlen(k) + 1;
			a += strlen(a) + 1;
		}
	} else {
		rtier_user_fail(ro, rc, "%s: cannot list the lock's holders: %s", spec, strerror(-rc));
	}
	rados_ioctx_destroy(io);
	rados_shutdown(cluster);
	return rc < 0 ? rc : broken;
}

/* ---- segments and space ---------------------------------------------- */

static int rtier_set_seg_max(struct tier *base, uint64_t bytes)
{
	struct rtier *t = (struct rtier *)base;

	if (bytes < TIER_SEG_MIN || bytes > TIER_SEG_MAX)
		return rtier_fail(t, -EINVAL, "segment size %" PRIu64 " is out of range", bytes);
	pthread_mutex_lock(&t->lock);
	t->seg_max = bytes;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static int64_t rtier_seg_size(struct tier *base, uint32_t seg)
{
	struct rtier *t = (struct rtier *)base;
	int64_t size = -ENOENT;

	pthread_mutex_lock(&t->lock);
	if (seg < t->nsegs && t->segs[seg].present)
		size = (int64_t)t->segs[seg].size;
	pthread_mutex_unlock(&t->lock);
	return size;
}

static int64_t rtier_seg_allocated(struct tier *base, uint32_t seg)
{
	struct rtier *t = (struct rtier *)base;
	int64_t size = -ENOENT;

	pthread_mutex_lock(&t->lock);
	if (seg < t->nsegs && t->segs[seg].present) {
		size = 0;
		for (uint32_t i = 0; i < t->segs[seg].n; i++)
			size += t->segs[seg].v[i].len;
	}
	pthread_mutex_unlock(&t->lock);
	return size;
}

static uint32_t rtier_active_seg(struct tier *base)
{
	struct rtier *t = (struct rtier *)base;
	uint32_t seg;

	pthread_mutex_lock(&t->lock);
	seg = t->active;
	pthread_mutex_unlock(&t->lock);
	return seg;
}

static int rtier_seg_foreach(struct tier *base, int (*fn)(void *ctx, uint32_t seg, uint64_t size),
			     void *ctx)
{
	struct rtier *t = (struct rtier *)base;
	struct { uint32_t seg; uint64_t size; } *list;
	uint32_t n = 0, i;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	list = malloc((t->nsegs ? t->nsegs : 1) * sizeof *list);
	for (i = 0; list && i < t->nsegs; i++) {
		if (t->segs[i].present) {
			list[n].seg = i;
			list[n++].size = t->segs[i].size;
		}
	}
	pthread_mutex_unlock(&t->lock);
	if (!list)
		return rtier_fail(t, -ENOMEM, "cannot list segments");
	for (i = 0; i < n && rc == 0; i++)
		rc = fn(ctx, list[i].seg, list[i].size);
	free(list);
	return rc;
}

/* Capacity comes from the cluster (asked at most every STAT_SECS: it is a
 * monitor round trip); a cluster that does not answer leaves it 0. */
static int rtier_space(struct tier *base, struct tier_space *out)
{
	struct rtier *t = (struct rtier *)base;
	struct rados_cluster_stat_t st;
	int64_t now = (int64_t)time(NULL);
	bool ask;

	pthread_mutex_lock(&t->lock);
	ask = now - t->stat_when >= STAT_SECS;
	if (ask)
		t->stat_when = now;
	pthread_mutex_unlock(&t->lock);
	if (ask && rados_cluster_stat(t->cluster, &st) == 0) {
		pthread_mutex_lock(&t->lock);
		t->stat_total = st.kb * 1024;
		t->stat_avail = st.kb_avail * 1024;
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_lock(&t->lock);
	out->used = out->allocated = t->used;
	out->total = t->stat_total;
	out->avail = t->stat_avail;
	out->dev = t->dev;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static int rtier_cluster_addr(struct tier *base, char *buf, size_t len)
{
	struct rtier *t = (struct rtier *)base;

	return rtier_addr(t->cluster, buf, len);
}

static const struct tier_ops rtier_ops = {
	.append = rtier_append,
	.read_batch = rtier_read_batch,
	.sync = rtier_sync,
	.discard = rtier_discard,
	.seg_remove = rtier_seg_remove,
	.seg_size = rtier_seg_size,
	.seg_allocated = rtier_seg_allocated,
	.active_seg = rtier_active_seg,
	.seg_foreach = rtier_seg_foreach,
	.space = rtier_space,
	.set_seg_max = rtier_set_seg_max,
	.close = rtier_close,
	.blob_put = rtier_blob_put,
	.blob_get = rtier_blob_get,
	.blob_remove = rtier_blob_remove,
	.blob_list = rtier_blob_list,
	.wait_writes = rtier_wait_writes,
	.cache_stats = rtier_cache_stats,
	.cluster_addr = rtier_cluster_addr,
};
