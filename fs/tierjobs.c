/* tierjobs.c — the tier thread and its jobs: migrations (migrate.c moves
 * the bytes), compaction (gc) and the automatic policies
 * (cold_after_versions, cold_after_days).
 *
 * gc: after a sweep of unreferenced bytes, every extent record is read to
 * find each segment's live bytes; the pieces in segments (not the active
 * one) whose live bytes are below the threshold fraction of what they take
 * on disk are moved to the end of the same tier by migrate_relocate (migrate.c),
 * which leaves the segment unreferenced, and space.c removes it.
 *
 * Policies queue jobs that are not kept in metadata: they find the same
 * data again at their next run if a crash or unmount cut a job short.
 */
#include "fs/fs.h"
#include "fs/migrate_priv.h"
#include "fs/inode.h"
#include "fs/space.h"
#include "fs/version.h"
#include "fs/snapshot.h"
#include "fs/migrate.h"
#include "meta/keys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* gc: which segments to empty, and the inodes with pieces in them. */
struct gcscan {
	struct fs *fs;
	uint64_t ino;
	uint64_t *live[TIER_COUNT];	/* live stored bytes per segment */
	size_t nlive[TIER_COUNT];
	uint8_t *mask[TIER_COUNT];
	struct inolist inos;
	bool marking;
};

static int gc_ext(void *ctx, const struct meta_extent *e)
{
	struct gcscan *g = ctx;
	int t = e->ref.tier;

	if (t >= TIER_COUNT)
		return 0;
	if (g->marking) {
		if (e->ref.seg < g->nlive[t] && g->mask[t][e->ref.seg] &&
		    (!g->inos.n || g->inos.v[g->inos.n - 1] != g->ino))
			return migrate_ino_add(&g->inos, g->ino);
		return 0;
	}
	if (e->ref.seg >= g->nlive[t]) {
		size_t n = g->nlive[t] ? g->nlive[t] : 64;
		uint64_t *v;

		while (n <= e->ref.seg)
			n *= 2;
		v = realloc(g->live[t], n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(v + g->nlive[t], 0, (n - g->nlive[t]) * sizeof(*v));
		g->live[t] = v;
		g->nlive[t] = n;
	}
	/* a shared piece counts once per sharer: an over-estimate of live
	 * bytes, so a segment is never emptied for less than it gives back */
	g->live[t][e->ref.seg] += e->ref.codec == TIER_CODEC_RAW ? e->len :
		(uint64_t)e->ref.stored_len * e->len / (e->ref.raw_len ? e->ref.raw_len : 1);
	return 0;
}

static int gc_inode(void *ctx, const struct meta_inode *in)
{
	struct gcscan *g = ctx;

	if (!S_ISREG(in->mode))
		return 0;
	g->ino = in->ino;
	return meta_extent_foreach(g->fs->meta, in->ino, gc_ext, g);
}

static uint64_t allocated(struct fs *fs)
{
	struct tier_space sp;
	uint64_t sum = 0;

	for (int t = 0; t < TIER_COUNT; t++)
		if (tier_space(fs->tiers[t], &sp) == 0)
			sum += sp.allocated;
	return sum;
}

/* space_sweep, waiting up to 10 s for a moment with no append in flight. */
int migrate_sweep(struct fs *fs)
{
	int rc = space_sweep(fs);

	for (int i = 0; rc == -EAGAIN && i < 1000; i++) {
		if (!migrate_nap(fs->mig, 0.01))
			return -EINTR;
		rc = space_sweep(fs);
	}
	return rc;
}

static void gc_progress(struct fs *fs, int state, uint64_t done, uint64_t total)
{
	pthread_mutex_lock(&fs->mig->lock);
	fs->mig->st.gc_state = state;
	fs->mig->st.gc_done = done;
	fs->mig->st.gc_total = total;
	pthread_mutex_unlock(&fs->mig->lock);
}

static void run_gc(struct fs *fs, const struct job *j)
{
	struct gcscan g = { .fs = fs };
	uint64_t before = allocated(fs), after;
	int rc;

	gc_progress(fs, 1, 0, 0);
	rc = migrate_sweep(fs);
	if (rc == -EAGAIN)
		rc = 0;		/* appends never paused: compaction alone */
	if (rc == 0)
		rc = meta_inode_foreach(fs->meta, gc_inode, &g);
	for (int t = 0; rc == 0 && t < TIER_COUNT; t++) {
		uint32_t active = tier_active_seg(fs->tiers[t]);

		g.mask[t] = calloc(g.nlive[t] ? g.nlive[t] : 1, 1);
		if (!g.mask[t]) {
			rc = -ENOMEM;
			break;
		}
		for (uint32_t s = 0; s < g.nlive[t]; s++) {
			int64_t a = tier_seg_allocated(fs->tiers[t], s);

			if (s != active && a > 0 && g.live[t][s] &&
			    (double)g.live[t][s] < j->threshold * (double)a)
				g.mask[t][s] = 1;
		}
	}
	g.marking = true;
	if (rc == 0)
		rc = meta_inode_foreach(fs->meta, gc_inode, &g);
	for (size_t i = 0; rc == 0 && i < g.inos.n; i++) {
		gc_progress(fs, 1, i, g.inos.n);
		rc = migrate_relocate(fs, j, g.inos.v[i], (const uint8_t **)g.mask, g.nlive);
	}
	migrate_cache_release(fs);
	space_reclaim_now(fs);
	after = allocated(fs);
	pthread_mutex_lock(&fs->mig->lock);
	fs->mig->st.gc_state = rc == 0 ? 2 : 3;
	fs->mig->st.gc_done = g.inos.n;
	fs->mig->st.gc_total = g.inos.n;
	fs->mig->st.gc_reclaimed = before > after ? before - after : 0;
	fs->mig->st.gc_runs++;
	pthread_mutex_unlock(&fs->mig->lock);
	if (rc < 0 && rc != -EINTR)
		log_err("tier: gc stopped: %s", strerror(-rc));
	else
		log_notice("tier: gc reclaimed %llu bytes",
			   (unsigned long long)(before > after ? before - after : 0));
	for (int t = 0; t < TIER_COUNT; t++) {
		free(g.live[t]);
		free(g.mask[t]);
	}
	free(g.inos.v);
}

int migrate_gc_request(struct fs *fs, double threshold)
{
	struct job j = { .kind = JOB_GC, .to = TO_SAME, .threshold = threshold };

	gc_progress(fs, 1, 0, 0);
	return migrate_queue_push(fs->mig, &j);
}

/* ---- policies -------------------------------------------------------- */

/* Queue INO to go cold (not kept: the policy finds it again if needed). */
static void policy_cold(struct fs *fs, uint64_t ino)
{
	struct job j = { .ino = ino, .kind = JOB_MIGRATE, .to = TIER_COLD };

	if (!migrate_pinned(fs, ino, NULL))
		migrate_queue_push(fs->mig, &j);
}

struct pol {
	struct fs *fs;
	uint64_t last;			/* last file seen, so each is done once */
	uint32_t keep;
	int64_t before;			/* ns: older than this is unused */
	struct inolist vers;
};

static int pol_ver(void *ctx, uint32_t n, const struct vrec *v)
{
	(void)n;
	return migrate_ino_add(ctx, v->vino);
}

static int pol_file(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct pol *p = ctx;
	uint64_t ino;

	(void)val;
	(void)vlen;
	if (klen < 8 || (ino = key_get_u64(key)) == p->last)
		return 0;
	p->last = ino;
	p->vers.n = 0;
	if (migrate_pinned(p->fs, ino, NULL) || version_foreach(p->fs, ino, pol_ver, &p->vers) < 0)
		return 0;
	for (size_t i = 0; i + p->keep < p->vers.n; i++)
		policy_cold(p->fs, p->vers.v[i]);
	return 0;
}

static int pol_snap(void *ctx, const char *tag, size_t len, const struct snapinfo *si)
{
	struct pol *p = ctx;

	(void)tag;
	(void)len;
	if (snapshot_last_used(p->fs, si) < p->before)
		policy_cold(p->fs, si->root);
	return 0;
}

static int pol_ds(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct pol *p = ctx;
	uint64_t ds;

	(void)val;
	(void)vlen;
	if (klen < 8 || (ds = key_get_u64(key)) == p->last)
		return 0;
	p->last = ds;
	return snapshot_foreach(p->fs, ds, pol_snap, p);
}

static int pol_sealed(void *ctx, const struct meta_inode *in)
{
	struct pol *p = ctx;

	if ((in->flags & META_IF_SEALED) && S_ISREG(in->mode) && in->mtime < p->before &&
	    in->atime < p->before)
		policy_cold(p->fs, in->ino);
	return 0;
}

static void run_policies(struct fs *fs)
{
	struct pol p = { .fs = fs, .keep = fs->opt.cold_after_versions };

	if (fs->opt.cold_after_versions)
		meta_rec_foreach(fs->meta, REC_VER, NULL, 0, pol_file, &p);
	if (fs->opt.cold_after_days > 0) {
		p.before = fs_now() - (int64_t)(fs->opt.cold_after_days * 86400e9);
		p.last = 0;
		meta_rec_foreach(fs->meta, REC_SNAP, NULL, 0, pol_ds, &p);
		meta_inode_foreach(fs->meta, pol_sealed, &p);
	}
	free(p.vers.v);
}

/* --- the tier thread ---------------------------------------------------- */

static void *tier_main(void *arg)
{
	struct fs *fs = arg;
	struct migrate *m = fs->mig;

	tier_reserve_use(true);		/* gc and migration give space back */
	while (!migrate_stopping(m)) {
		struct job j;
		bool have;

		pthread_mutex_lock(&m->lock);
		have = m->nq > 0;
		if (have) {
			j = m->q[0];
			memmove(m->q, m->q + 1, --m->nq * sizeof(*m->q));
		}
		pthread_mutex_unlock(&m->lock);
		if (have) {
			if (j.kind == JOB_GC)
				run_gc(fs, &j);
			else
				migrate_run(fs, &j);
			pthread_mutex_lock(&m->lock);
			m->st.queued = m->nq;
			m->st.jobs_done++;
			pthread_mutex_unlock(&m->lock);
			continue;
		}
		if (migrate_now() - m->last_policy >= fs->opt.tier_interval) {
			m->last_policy = migrate_now();
			run_policies(fs);
			continue;
		}
		migrate_nap(m, fs->opt.tier_interval < 1 ? fs->opt.tier_interval : 1);
	}
	return NULL;
}

int migrate_start(struct fs *fs)
{
	struct migrate *m = fs->mig;
	int rc;

	m->buf = malloc(TIER_EXTENT_MAX);
	if (!m->buf)
		return -ENOMEM;
	m->last_policy = migrate_now();
	rc = -pthread_create(&m->thread, NULL, tier_main, fs);
	m->running = rc == 0;
	return rc;
}

void migrate_stop(struct fs *fs)
{
	struct migrate *m = fs->mig;

	if (!m)
		return;
	if (m->running) {
		pthread_mutex_lock(&m->lock);
		m->stop = true;
		pthread_cond_broadcast(&m->cond);
		pthread_mutex_unlock(&m->lock);
		pthread_join(m->thread, NULL);
	}
	free(m->q);
	free(m->cache);
	free(m->buf);
	free(m);
	fs->mig = NULL;
}
