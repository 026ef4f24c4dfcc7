/* snapcensus.c — the thread that counts the files and bytes of epoch
 * snapshots once they are made, and the same count made on demand by the
 * first that needs it before the thread (snapshot_find_root).
 *
 * Counting walks the frozen tree, a cost in its size; that is why an
 * epoch snapshot is made with its counts UNCOUNTED and counted here.
 */
#include "fs/commit.h"
#include "fs/snapshot_priv.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* The census thread counts epoch snapshots in the background once they are
 * made; their 'P' records are written under its lock (snapshot_create and
 * snapshot_delete take it inside the namespace lock: snapshot_census_lock),
 * so that a count is never stored into a snapshot deleted meanwhile. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stop, wake;
	_Atomic bool abort;
} cen = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

struct census {
	uint64_t *dirs, *links;
	size_t nd, cd, nl, cl;
	uint64_t files, bytes;
	struct fs *fs;
	int rc;
};

static int push_u64(uint64_t **v, size_t *n, size_t *cap, uint64_t x)
{
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 256;
		uint64_t *nv = realloc(*v, c * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = c;
	}
	(*v)[(*n)++] = x;
	return 0;
}

static int census_entry(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type)
{
	struct census *c = ctx;
	struct meta_inode a;
	int rc;

	(void)name;
	(void)len;
	if (type == S_IFDIR)
		return push_u64(&c->dirs, &c->nd, &c->cd, ino);
	if (type != S_IFREG)
		return 0;
	rc = meta_inode_get(c->fs->meta, ino, &a);
	if (rc)
		return rc;
	if (a.nlink > 1)	/* counted once, however many names it has */
		return push_u64(&c->links, &c->nl, &c->cl, ino);
	c->files++;
	c->bytes += a.size;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Count the files and bytes of the frozen tree at ROOT. */
static int census(struct fs *fs, uint64_t root, uint64_t *files, uint64_t *bytes)
{
	struct census c = { .fs = fs };
	int rc = push_u64(&c.dirs, &c.nd, &c.cd, root);

	meta_bulk_scan(true);
	while (rc == 0 && c.nd)
		rc = atomic_load(&cen.abort) ? -EINTR :
		     meta_dentry_foreach(fs->meta, c.dirs[--c.nd], NULL, 0, census_entry, &c);
	meta_bulk_scan(false);
	if (rc == 0 && c.nl) {
		qsort(c.links, c.nl, sizeof(*c.links), cmp_u64);
		for (size_t i = 0; rc == 0 && i < c.nl; i++) {
			struct meta_inode a;

			if (i && c.links[i] == c.links[i - 1])
				continue;
			rc = meta_inode_get(fs->meta, c.links[i], &a);
			c.files++;
			c.bytes += rc == 0 ? a.size : 0;
		}
	}
	free(c.dirs);
	free(c.links);
	*files = c.files;
	*bytes = c.bytes;
	return rc;
}

/* SI of the 'P' record K: an epoch snapshot's counts are made by the census
 * thread, or here by the first that needs them first; kept (by the writer
 * only) unless the snapshot was deleted meanwhile. */
void snapshot_counts(struct fs *fs, const uint8_t *k, size_t klen, struct snapinfo *si)
{
	struct meta_batch *b;
	uint8_t v[32];
	void *old;
	size_t oldlen;

	if (si->files != UNCOUNTED)
		return;
	if (census(fs, si->root, &si->files, &si->bytes) < 0) {
		si->files = si->bytes = 0;
		return;
	}
	memcpy(v, &si->root, 8);
	memcpy(v + 8, &si->time, 8);
	memcpy(v + 16, &si->files, 8);
	memcpy(v + 24, &si->bytes, 8);
	if (!cen.running || !(b = meta_batch_new()))
		return;		/* a follower or a read-only mount: not kept */
	pthread_mutex_lock(&cen.lock);
	if (meta_rec_get(fs->meta, REC_P, k, klen, &old, &oldlen) == 0) {
		uint64_t files;

		if (oldlen == 32)
			memcpy(&files, (uint8_t *)old + 16, 8);
		if (oldlen == 32 && !memcmp(old, v, 16) && files == UNCOUNTED) {
			meta_rec_put(b, REC_P, k, klen, v, sizeof(v));
			if (fs_commit(fs, b, false) < 0)
				log_warn("snapshot %llu: its counts could not be kept",
					 (unsigned long long)si->root);
		}
		free(old);
	}
	pthread_mutex_unlock(&cen.lock);
	meta_batch_free(b);
}

struct uncounted {
	uint8_t (*keys)[8 + META_NAME_MAX];
	size_t *lens, n, cap;
};

static int uncounted_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct uncounted *u = ctx;
	uint64_t files;

	if (klen <= 8 || klen > 8 + META_NAME_MAX || vlen != 32)
		return 0;
	memcpy(&files, (const uint8_t *)val + 16, 8);
	if (files != UNCOUNTED)
		return 0;
	if (u->n == u->cap) {
		size_t cap = u->cap ? 2 * u->cap : 8;
		void *k = realloc(u->keys, cap * sizeof(*u->keys));
		size_t *l = k ? realloc(u->lens, cap * sizeof(*l)) : NULL;

		if (k)
			u->keys = k;
		if (!l)
			return -ENOMEM;
		u->lens = l;
		u->cap = cap;
	}
	memcpy(u->keys[u->n], key, klen);
	u->lens[u->n++] = klen;
	return 0;
}

static void *census_main(void *arg)
{
	struct fs *fs = arg;

	pthread_mutex_lock(&cen.lock);
	for (;;) {
		struct uncounted u = { 0 };

		while (!cen.stop && !cen.wake)
			pthread_cond_wait(&cen.cond, &cen.lock);
		if (cen.stop)
			break;
		cen.wake = false;
		pthread_mutex_unlock(&cen.lock);
		if (meta_rec_foreach(fs->meta, REC_P, NULL, 0, uncounted_cb, &u) < 0)
			log_warn("snapshots: cannot list those not counted yet");
		for (size_t i = 0; i < u.n && !atomic_load(&cen.abort); i++) {
			struct snapinfo si;
			void *v;
			size_t vlen;

			if (meta_rec_get(fs->meta, REC_P, u.keys[i], u.lens[i], &v, &vlen) < 0)
				continue;
			if (vlen == 32) {
				memcpy(&si.root, v, 8);
				memcpy(&si.time, (uint8_t *)v + 8, 8);
				memcpy(&si.files, (uint8_t *)v + 16, 8);
				memcpy(&si.bytes, (uint8_t *)v + 24, 8);
				snapshot_counts(fs, u.keys[i], u.lens[i], &si);
			}
			free(v);
		}
		free(u.keys);
		free(u.lens);
		pthread_mutex_lock(&cen.lock);
	}
	pthread_mutex_unlock(&cen.lock);
	return NULL;
}

int snapshot_census_start(struct fs *fs)
{
	int rc;

	cen.stop = false;
	cen.wake = true;	/* what an earlier mount left not counted */
	atomic_store(&cen.abort, false);
	rc = -pthread_create(&cen.thread, NULL, census_main, fs);
	cen.running = rc == 0;
	return rc;
}

void snapshot_census_stop(void)
{
	if (!cen.running)
		return;
	atomic_store(&cen.abort, true);	/* a count in progress gives up */
	pthread_mutex_lock(&cen.lock);
	cen.stop = true;
	pthread_cond_signal(&cen.cond);
	pthread_mutex_unlock(&cen.lock);
	pthread_join(cen.thread, NULL);
	cen.running = false;
}

void snapshot_census_wake(void)
{
	if (!cen.running)
		return;
	pthread_mutex_lock(&cen.lock);
	cen.wake = true;
	pthread_cond_signal(&cen.cond);
	pthread_mutex_unlock(&cen.lock);
}

void snapshot_census_lock(void)
{
	pthread_mutex_lock(&cen.lock);
}

void snapshot_census_unlock(void)
{
	pthread_mutex_unlock(&cen.lock);
}
