/* migrate.c — the tier thread: moving extents between tiers, compaction,
 * and the automatic tier policies.
 *
 * One background thread does all of it, one job at a time, writing at
 * most migrate_bw MB/s.  A job moves the stored pieces of a set of inodes:
 *  - migrate: a file (and its versions), a directory tree, a version or a
 *    snapshot tree, to the hot or the cold tier;
 *  - gc: the pieces that lie in segments mostly dead, to a new place in
 *    the same tier, after which the emptied segments are removed.
 *
 * Moving one inode's pieces (migrate_relocate):
 *  1. under the inode's lock, note the pieces to move;
 *  2. without it, read each piece's bytes (checksums verified), append
 *     them to the target tier as a new extent and sync that tier;
 *  3. under the lock again, fs_map_replace swaps in the new extents of
 *     the pieces still exactly as noted (compare-and-swap: a piece that a
 *     writer replaced or cut meanwhile stays as it is), in one durable
 *     batch.  The old extents lose a reference and space.c frees them
 *     once that is durable.
 * A crash before step 3 leaves new extents that nothing references: the
 * sweep at the next mount punches them out.  After it the old ones are
 * unreferenced in durable metadata, so they are freed at the next mount
 * too.  No piece is ever referenced from two places.
 *
 * Inodes of one job that share a piece (a file and its newest version, a
 * snapshot and its dataset) get one new copy, through the job's cache of
 * pieces moved; the cache holds one reference on each new extent, dropped
 * when the job ends, so a copy that no map adopted is freed.
 *
 * The gc and the policies are in tierjobs.c.
 *
 * Migrate requests are kept in 'm' records (ino -> target tier) until
 * done, so they survive an unmount or crash; pins in 'p' records.
 */
#include "fs/fs.h"
#include "fs/migrate_priv.h"
#include "fs/inode.h"
#include "fs/extmap.h"
#include "fs/space.h"
#include "fs/version.h"
#include "fs/migrate.h"
#include "meta/keys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double migrate_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleep up to SECS; false if the thread is being stopped. */
bool migrate_nap(struct migrate *m, double secs)
{
	struct timespec until;
	bool go;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)secs;
	until.tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&m->lock);
	if (!m->stop)
		pthread_cond_timedwait(&m->cond, &m->lock, &until);
	go = !m->stop;
	pthread_mutex_unlock(&m->lock);
	return go;
}

/* Keep writes at migrate_bw MB/s: LEN bytes are about to be written. */
static bool throttle(struct fs *fs, uint32_t len)
{
	struct migrate *m = fs->mig;
	double t = migrate_now(), bw = fs->opt.migrate_bw * 1e6, start;

	if (bw <= 0)
		return true;
	if (m->bw_next < t)
		m->bw_next = t;
	start = m->bw_next;
	m->bw_next += len / bw;
	/* a nap ends early when a request is queued: sleep the rest too */
	while ((t = migrate_now()) < start)
		if (!migrate_nap(m, start - t))
			return false;
	return true;
}

bool migrate_stopping(struct migrate *m)
{
	bool s;

	pthread_mutex_lock(&m->lock);
	s = m->stop;
	pthread_mutex_unlock(&m->lock);
	return s;
}

/* ---- the cache of moved pieces --------------------------------------- */

static struct moved *cache_find(struct migrate *m, const struct ext *e)
{
	for (size_t i = m->ncache; i-- > 0; ) {
		struct moved *c = &m->cache[i];

		if (c->off == e->ref.off && c->seg == e->ref.seg && c->tier == e->ref.tier &&
		    c->inner == e->inner && c->len == e->len)
			return c;
	}
	return NULL;
}

/* Drop the job's references on the new extents (unadopted ones are freed). */
void migrate_cache_release(struct fs *fs)
{
	struct migrate *m = fs->mig;

	for (size_t i = 0; i < m->ncache; i++) {
		space_unref(fs, &m->cache[i].ref, 0, m->cache[i].len, false);
		fs_crcs_put(m->cache[i].crcs);
	}
	m->ncache = 0;
}

/* Read piece E and append its bytes to tier TO as a new extent, counted
 * once (the cache's reference). */
static int copy_piece(struct fs *fs, const struct ext *e, int to, struct moved **out)
{
	struct migrate *m = fs->mig;
	uint32_t crcs[TIER_NCRC(TIER_EXTENT_MAX)], ncrc;
	struct tier_io io = { .ref = &e->ref, .crcs = e->crcs->c, .inner = e->inner,
			      .len = (uint32_t)e->len, .dst = m->buf };
	struct moved c = { .tier = e->ref.tier, .seg = e->ref.seg, .off = e->ref.off,
			   .inner = e->inner, .len = e->len };
	int codec = to == TIER_COLD ? fs->opt.cold_codec : fs->opt.codec;
	int rc;

	rc = tier_read_batch(fs->tiers, &io, 1);
	if (rc < 0)
		return rc;
	if (!throttle(fs, io.len))
		return -EINTR;
	if (m->ncache == m->capcache) {
		size_t n = m->capcache ? m->capcache * 2 : 64;
		struct moved *v = realloc(m->cache, n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		m->cache = v;
		m->capcache = n;
	}
	space_append_begin(fs);
	rc = tier_append(fs->tiers[to], m->buf, io.len, codec, &c.ref, crcs, &ncrc);
	space_append_end(fs, rc == 0 ? &c.ref : NULL);
	if (rc < 0)
		return rc;
	c.crcs = fs_crcs_new(crcs, ncrc);
	if (!c.crcs) {
		space_unref(fs, &c.ref, 0, c.len, false);
		return -ENOMEM;
	}
	m->cache[m->ncache] = c;
	*out = &m->cache[m->ncache++];
	pthread_mutex_lock(&m->lock);
	m->st.moved_bytes += e->len;
	m->st.moved_extents++;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/* ---- moving one inode ------------------------------------------------ */

/* Should piece E of a job move, and to which tier (*TO)? */
static bool wanted(const struct job *j, const struct ext *e, const uint8_t *segmask[TIER_COUNT],
		   const size_t nmask[TIER_COUNT], int *to)
{
	if (j->kind == JOB_MIGRATE) {
		*to = j->to;
		return e->ref.tier != j->to;
	}
	*to = e->ref.tier;
	return e->ref.seg < nmask[e->ref.tier] && segmask[e->ref.tier][e->ref.seg];
}

/* Move the wanted pieces of inode INO (see the top of the file). */
int migrate_relocate(struct fs *fs, const struct job *j, uint64_t ino,
		    const uint8_t *segmask[TIER_COUNT], const size_t nmask[TIER_COUNT])
{
	struct migrate *m = fs->mig;
	struct ext *taken = NULL, *old = NULL, *repl = NULL;
	size_t n = 0, k = 0;
	bool synced[TIER_COUNT] = { false };
	struct inode *in;
	int rc, to;

	rc = inode_get(fs, ino, &in);
	if (rc < 0)
		return rc == -ENOENT ? 0 : rc;
	pthread_rwlock_wrlock(&in->lock);
	rc = S_ISREG(in->attr.mode) ? fs_map_load(fs, in) : 0;
	if (rc == 0 && S_ISREG(in->attr.mode) && in->map.n) {
		taken = malloc(in->map.n * sizeof(*taken));
		old = malloc(in->map.n * sizeof(*old));
		repl = malloc(in->map.n * sizeof(*repl));
		if (!taken || !old || !repl)
			rc = -ENOMEM;
		for (size_t i = 0; rc == 0 && i < in->map.n; i++) {
			if (!wanted(j, &in->map.v[i], segmask, nmask, &to))
				continue;
			taken[n] = in->map.v[i];
			taken[n++].crcs->refs++;
		}
	}
	pthread_rwlock_unlock(&in->lock);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct moved *c = cache_find(m, &taken[i]);

		wanted(j, &taken[i], segmask, nmask, &to);
		if (!c) {
			rc = copy_piece(fs, &taken[i], to, &c);
			if (rc == -EIO) {	/* damaged: logged, left where it is */
				pthread_mutex_lock(&m->lock);
				m->st.failed++;
				pthread_mutex_unlock(&m->lock);
				rc = 0;
				continue;
			}
			if (rc < 0)
				break;
			synced[to] = true;
		}
		repl[k] = (struct ext){ .foff = taken[i].foff, .len = taken[i].len, .inner = 0,
					.ref = c->ref, .crcs = c->crcs };
		old[k++] = taken[i];
	}
	for (int t = 0; rc == 0 && t < TIER_COUNT; t++)
		if (synced[t])
			rc = tier_sync(fs->tiers[t]);
	if (rc == 0 && k) {
		struct meta_inode mi;

		/* Under the namespace lock, so that a tree dropped meanwhile
		 * (snapshot, directory version) has either gone from meta/
		 * (and nothing is replaced) or not started. */
		pthread_rwlock_rdlock(&fs->ns);
		pthread_rwlock_wrlock(&in->lock);
		rc = meta_inode_get(fs->meta, ino, &mi) < 0 ? 0 :
			fs_map_replace(fs, in, old, repl, k);
		pthread_rwlock_unlock(&in->lock);
		pthread_rwlock_unlock(&fs->ns);
		if (rc >= 0 && (size_t)rc < k) {
			pthread_mutex_lock(&m->lock);
			m->st.skipped += k - (size_t)rc;
			pthread_mutex_unlock(&m->lock);
		}
		rc = rc < 0 ? rc : 0;
	}
	for (size_t i = 0; i < n; i++)
		fs_crcs_put(taken[i].crcs);
	if (rc < 0 && rc != -EINTR)
		log_err("tier: moving the data of inode %llu failed: %s",
			(unsigned long long)ino, strerror(-rc));
	free(taken);
	free(old);
	free(repl);
	inode_put(fs, in);
	return rc;
}

/* ---- the inodes of a job --------------------------------------------- */

int migrate_ino_add(struct inolist *l, uint64_t ino)
{
	if (l->n == l->cap) {
		size_t n = l->cap ? l->cap * 2 : 64;
		uint64_t *v = realloc(l->v, n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = n;
	}
	l->v[l->n++] = ino;
	return 0;
}

static int add_child(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type)
{
	(void)name;
	(void)len;
	(void)type;
	return migrate_ino_add(ctx, ino);
}

static int add_version(void *ctx, uint32_t n, const struct vrec *v)
{
	(void)n;
	return migrate_ino_add(ctx, v->vino);
}

bool migrate_pinned(struct fs *fs, uint64_t ino, int *tier)
{
	uint8_t k[8];
	void *v;
	size_t len;

	key_put_u64(k, ino);
	if (meta_rec_get(fs->meta, REC_PIN, k, 8, &v, &len) < 0)
		return false;
	if (tier)
		*tier = len == 1 ? ((uint8_t *)v)[0] : TIER_HOT;
	free(v);
	return true;
}

/* Every inode under J's root (itself, directory trees, with versions);
 * pinned ones and their trees are left out of a move away from the pin. */
static int job_inodes(struct fs *fs, const struct job *j, struct inolist *out)
{
	struct inolist todo = { 0 };
	int rc = migrate_ino_add(&todo, j->ino);

	while (rc == 0 && todo.n) {
		uint64_t ino = todo.v[--todo.n];
		struct meta_inode mi;
		int pin;

		if (meta_inode_get(fs->meta, ino, &mi) < 0)
			continue;
		if (migrate_pinned(fs, ino, &pin) && pin != j->to)
			continue;
		if (S_ISDIR(mi.mode)) {
			rc = meta_dentry_foreach(fs->meta, ino, NULL, 0, add_child, &todo);
		} else if (S_ISREG(mi.mode)) {
			rc = migrate_ino_add(out, ino);
			if (rc == 0 && j->versions && !(mi.flags & META_IF_READONLY))
				rc = version_foreach(fs, ino, add_version, out);
		}
	}
	free(todo.v);
	return rc;
}

static void job_done(struct fs *fs, const struct job *j)
{
	struct meta_batch *b;
	uint8_t k[8];

	if (!j->durable || !(b = meta_batch_new()))
		return;
	key_put_u64(k, j->ino);
	meta_rec_del(b, REC_MIG, k, 8);
	if (fs_commit(fs, b, false) < 0)
		log_warn("tier: migrate request of inode %llu stays queued",
			 (unsigned long long)j->ino);
	meta_batch_free(b);
}

void migrate_run(struct fs *fs, const struct job *j)
{
	struct inolist l = { 0 };
	const uint8_t *mask[TIER_COUNT] = { NULL };
	size_t nmask[TIER_COUNT] = { 0 };
	double t0 = migrate_now();
	int rc = job_inodes(fs, j, &l);

	for (size_t i = 0; rc == 0 && i < l.n; i++)
		rc = migrate_relocate(fs, j, l.v[i], mask, nmask);
	migrate_cache_release(fs);
	free(l.v);
	pthread_mutex_lock(&fs->mig->lock);
	fs->mig->st.secs += migrate_now() - t0;
	pthread_mutex_unlock(&fs->mig->lock);
	if (rc == 0)
		job_done(fs, j);
	else if (rc != -EINTR)
		log_err("tier: migration of inode %llu to the %s tier stopped: %s",
			(unsigned long long)j->ino, j->to == TIER_COLD ? "cold" : "hot",
			strerror(-rc));
}

/* ---- the queue and the thread ---------------------------------------- */

int migrate_queue_push(struct migrate *m, const struct job *j)
{
	pthread_mutex_lock(&m->lock);
	if (m->nq == m->capq) {
		size_t n = m->capq ? m->capq * 2 : 16;
		struct job *v = realloc(m->q, n * sizeof(*v));

		if (!v) {
			pthread_mutex_unlock(&m->lock);
			return -ENOMEM;
		}
		m->q = v;
		m->capq = n;
	}
	m->q[m->nq++] = *j;
	m->st.queued = m->nq;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int migrate_request(struct fs *fs, uint64_t ino, int to)
{
	struct job j = { .ino = ino, .kind = JOB_MIGRATE, .to = (uint8_t)to, .versions = true,
			 .durable = true };
	struct meta_batch *b = meta_batch_new();
	uint8_t k[8], v = (uint8_t)to;
	int rc;

	if (!b)
		return -ENOMEM;
	key_put_u64(k, ino);
	meta_rec_put(b, REC_MIG, k, 8, &v, 1);
	rc = fs_commit(fs, b, true);
	meta_batch_free(b);
	return rc < 0 ? rc : migrate_queue_push(fs->mig, &j);
}

int migrate_pin(struct fs *fs, uint64_t ino, int tier)
{
	struct meta_batch *b = meta_batch_new();
	uint8_t k[8], v = (uint8_t)tier;
	int rc;

	if (!b)
		return -ENOMEM;
	key_put_u64(k, ino);
	if (tier < 0)
		meta_rec_del(b, REC_PIN, k, 8);
	else
		meta_rec_put(b, REC_PIN, k, 8, &v, 1);
	rc = fs_commit(fs, b, true);
	meta_batch_free(b);
	if (rc == 0 && tier >= 0)
		rc = migrate_request(fs, ino, tier);
	return rc;
}

void migrate_pin_rename(struct fs *fs, struct meta_batch *b, uint64_t src, uint64_t dst)
{
	uint8_t ks[8], kd[8], v;
	int tier;

	if (migrate_pinned(fs, src, NULL) || !migrate_pinned(fs, dst, &tier))
		return;
	v = (uint8_t)tier;
	key_put_u64(ks, src);
	key_put_u64(kd, dst);
	meta_rec_put(b, REC_PIN, ks, 8, &v, 1);
	meta_rec_del(b, REC_PIN, kd, 8);
}

void migrate_stats_get(struct fs *fs, struct migrate_stats *out)
{
	pthread_mutex_lock(&fs->mig->lock);
	*out = fs->mig->st;
	pthread_mutex_unlock(&fs->mig->lock);
}

static int requeue(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct fs *fs = ctx;
	struct job j = { .kind = JOB_MIGRATE, .versions = true, .durable = true };

	if (klen != 8 || vlen != 1 || ((const uint8_t *)val)[0] >= TIER_COUNT)
		return 0;
	j.ino = key_get_u64(key);
	j.to = ((const uint8_t *)val)[0];
	return migrate_queue_push(fs->mig, &j);
}

int migrate_init(struct fs *fs)
{
	struct migrate *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	fs->mig = m;
	/* Before the mount serves anything, so no append is in flight: what a
	 * crash left appended but never committed, or freed in memory only,
	 * is given back now. */
	rc = fs->opt.store_ro ? 0 : space_sweep(fs);
	if (rc < 0)
		log_warn("tier: unreferenced space not swept (%s); aifsctl gc does it",
			 strerror(-rc));
	return meta_rec_foreach(fs->meta, REC_MIG, NULL, 0, requeue, fs);
}

/* What versions publish (version.h): a pin follows a rename's history. */
const struct version_events migrate_version_events = {
	.renamed = migrate_pin_rename,
};
