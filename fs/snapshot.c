/* snapshot.c — dataset snapshots.
 *
 * A snapshot of directory DS is an epoch of the store (meta/history.c): it
 * writes one 'e' record and a 'P' record DS|TAG whose root is the
 * snapshot inode number of DS at that epoch, and copies nothing; from then
 * on meta/ keeps, at their first change, the records the snapshot sees.
 * Its files and bytes are counted by a thread in the background (or by
 * lineage, if it needs them first: counts()).  Deleting it drops the
 * epoch, with the history only it needed.
 *
 * A store whose numbers do not fit a snapshot inode number (inodes past
 * 2^40, more than 2^21 epochs made) copies instead, as directory versions
 * always do: every inode, dentry, extent record, xattr and symlink target
 * under new inode numbers with META_IF_SNAPSHOT set, the file data shared
 * (space.c counts the extra references).
 *
 * Atomicity: both run with the namespace locked for writing (no name
 * changes, no new opens).  An epoch first stores what every open file has
 * buffered, each under its lock, and a store holds whole write() calls
 * only; a copy copies each open file from its in-memory state under its
 * lock.  Either way every file is caught between two writes, never in the
 * middle of one.  Writes to files already open go on.
 */
#include "fs/access.h"
#include "fs/inode.h"
#include "fs/data.h"
#include "fs/extmap.h"
#include "fs/space.h"
#include "fs/content.h"
#include "fs/snapshot.h"
#include "meta/records.h"
#include "meta/keys.h"
#include "tier/failpoint.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Files copied so far by the snapshot being made (0 when none is: they
 * are made one at a time, under the namespace lock); for progress bars. */
static _Atomic uint64_t freezing;

/* Record kinds (meta/records.h). */
#define REC_P	META_REC_SNAPSHOT
#define REC_USE	META_REC_SNAPSHOT_USE

/* files and bytes of an epoch snapshot not counted yet (counted after it is
 * made, not when: that is what makes it constant time) */
#define UNCOUNTED	UINT64_MAX
/* The store format that epoch snapshots need (meta/history.c). */
#define FORMAT_EPOCHS	3

struct snaprec {
	uint64_t root;
	int64_t time;
	uint64_t files, bytes;
};

/* Map of source inode -> copy, for hard links inside the tree. */
struct linkmap {
	uint64_t *src, *dst;
	size_t n, cap;
};

struct copy {
	struct fs *fs;
	struct meta_batch *b;
	uint64_t *queue;	/* pairs (src dir, dst dir) still to copy */
	size_t qn, qcap;
	struct linkmap links;
	uint64_t files, bytes;
	uint64_t cur_src, cur_dst;
	bool no_write_bits;	/* a directory version: shown read-only */
	int rc;
};

static size_t pkey(uint8_t *k, uint64_t ds, const char *tag)
{
	size_t len = strlen(tag);

	for (int i = 7; i >= 0; i--, ds >>= 8)
		k[i] = (uint8_t)ds;
	memcpy(k + 8, tag, len);
	return 8 + len;
}

static int push(struct copy *c, uint64_t src, uint64_t dst)
{
	if (c->qn + 2 > c->qcap) {
		size_t n = c->qcap ? c->qcap * 2 : 1024;
		uint64_t *q = realloc(c->queue, n * sizeof(*q));

		if (!q)
			return -ENOMEM;
		c->queue = q;
		c->qcap = n;
	}
	c->queue[c->qn++] = src;
	c->queue[c->qn++] = dst;
	return 0;
}

static int copy_xattr(void *ctx, const char *name, const void *val, size_t len)
{
	struct copy *c = ctx;

	meta_xattr_put(c->b, c->cur_dst, name, val, len);
	return 0;
}

static int copy_extent(void *ctx, const struct meta_extent *e)
{
	struct copy *c = ctx;

	meta_extent_put(c->b, c->cur_dst, e);
	space_ref(c->fs, &e->ref);
	return 0;
}

/* Copy inode SRC as DST: attributes, content references, xattrs, target. */
static int copy_inode(struct copy *c, uint64_t src, uint64_t dst, uint32_t extra_flags,
		      uint32_t *nlink)
{
	struct fs *fs = c->fs;
	struct meta_inode a;
	struct inode *in = NULL;
	char *target;
	size_t len;
	int rc;

	in = inode_peek(fs, src);
	if (in) {
		/* An open file: store what is buffered (whole write() calls)
		 * and copy its in-memory state, which is authoritative. */
		pthread_rwlock_wrlock(&in->lock);
		rc = S_ISREG(in->attr.mode) ? fs_flush(fs, in) : 0;
		if (rc == 0 && S_ISREG(in->attr.mode) &&
		    (in->attr.alloc || (in->attr.flags & META_IF_INLINE)))
			rc = fs_map_load(fs, in);	/* empty files have no map */
		a = in->attr;
	} else {
		rc = meta_inode_get(fs->meta, src, &a);
	}
	if (rc < 0)
		goto out;
	c->cur_dst = dst;
	if (S_ISREG(a.mode)) {
		c->files++;
		c->bytes += a.size;
		if (!(c->files & 1023))
			atomic_store(&freezing, c->files);
		if (in) {
			rc = fs_map_clone_to(fs, in, c->b, dst);
		} else if (a.flags & META_IF_INLINE) {
			void *data;
			size_t len;

			rc = meta_inline_get(fs->meta, src, &data, &len);
			if (rc == 0) {
				meta_inline_put(c->b, dst, data, len);
				free(data);
			}
		} else if (a.alloc) {
			rc = meta_extent_foreach(fs->meta, src, copy_extent, c);
		}
	}
	if (rc == 0 && (a.flags & META_IF_XATTR))
		rc = meta_xattr_foreach(fs->meta, src, copy_xattr, c);
	if (rc == 0 && S_ISREG(a.mode) && a.size)
		content_copy_hash(fs, c->b, src, dst);
	*nlink = a.nlink;
	if (rc == 0 && S_ISLNK(a.mode) && meta_symlink_get(fs->meta, src, &target, &len) == 0) {
		meta_symlink_put(c->b, dst, target, len);
		free(target);
	}
	a.ino = dst;
	a.mode &= ~(uint32_t)(S_ISUID | S_ISGID);	/* a frozen copy grants no privilege */
	if (c->no_write_bits)
		a.mode &= ~0222u;	/* as a file version shows it */
	a.flags = (a.flags & (META_IF_XATTR | META_IF_INLINE)) | META_IF_SNAPSHOT | extra_flags;
	if (extra_flags & META_IF_SNAPROOT)
		a.ctime = fs_now();	/* the snapshot's time, as listings show it */
	meta_inode_put(c->b, &a);
	if (rc == 0 && S_ISDIR(a.mode))
		rc = push(c, src, dst);
out:
	if (in) {
		pthread_rwlock_unlock(&in->lock);
		inode_put(fs, in);
	}
	return rc;
}

static uint64_t link_find(struct linkmap *l, uint64_t src)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->src[i] == src)
			return l->dst[i];
	return 0;
}

static int link_add(struct linkmap *l, uint64_t src, uint64_t dst)
{
	if (l->n == l->cap) {
		size_t n = l->cap ? l->cap * 2 : 64;
		uint64_t *a = realloc(l->src, n * sizeof(*a)), *b;

		if (!a)
			return -ENOMEM;
		l->src = a;
		b = realloc(l->dst, n * sizeof(*b));
		if (!b)
			return -ENOMEM;
		l->dst = b;
		l->cap = n;
	}
	l->src[l->n] = src;
	l->dst[l->n++] = dst;
	return 0;
}

static int copy_entry(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type)
{
	struct copy *c = ctx;
	uint64_t parent = c->cur_dst, dst = 0;
	uint32_t nlink = 1;
	int rc = 0;

	/* Hard links stay hard links inside the snapshot: a second name of an
	 * inode already copied points at the copy. */
	if (type != S_IFDIR)
		dst = link_find(&c->links, ino);
	if (!dst) {
		dst = fs_ino_alloc(c->fs);
		rc = copy_inode(c, ino, dst, 0, &nlink);
		if (rc == 0 && type != S_IFDIR && nlink > 1)
			rc = link_add(&c->links, ino, dst);
	}
	c->cur_dst = parent;
	if (rc == 0)
		meta_dentry_put(c->b, parent, name, len, dst, type);
	return rc;
}

static int snap_copy(struct copy *c, uint64_t ds, uint64_t root)
{
	uint32_t nlink;
	int rc = copy_inode(c, ds, root, META_IF_SNAPROOT, &nlink);

	while (rc == 0 && c->qn) {
		uint64_t dst = c->queue[--c->qn], src = c->queue[--c->qn];

		c->cur_src = src;
		c->cur_dst = dst;
		rc = meta_dentry_foreach(c->fs->meta, src, NULL, 0, copy_entry, c);
	}
	return rc;
}

/* --- epoch snapshots (meta/history.c) ------------------------------------ */

static bool dirty_file(const struct inode *in, void *ctx)
{
	(void)ctx;
	return S_ISREG(in->attr.mode) && in->wb_dirty && !meta_ino_is_snap(in->ino);
}

/* Store what open files hold buffered (whole write() calls): an epoch
 * sees the store. */
static int flush_dirty(struct fs *fs)
{
	struct inode **v;
	size_t n;
	int rc = inode_collect(fs, dirty_file, NULL, &v, &n);

	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		int r;

		pthread_rwlock_wrlock(&v[i]->lock);
		r = fs_flush(fs, v[i]);
		pthread_rwlock_unlock(&v[i]->lock);
		if (r < 0 && rc == 0)
			rc = r;
		inode_put(fs, v[i]);
	}
	free(v);
	return rc;
}

/* Make the snapshot of DS in B as an epoch (namespace locked): *R's root;
 * -EOVERFLOW if it cannot be one (then it is copied). */
static int epoch_make(struct fs *fs, struct meta_batch *b, uint64_t ds, struct snaprec *r)
{
	uint64_t e;
	int rc = failpoint("snapshot_epoch", EOVERFLOW);	/* tests: the copy */

	if (rc == 0)
		rc = flush_dirty(fs);
	if (rc == 0)
		rc = meta_epoch_create(fs->meta, b, ds, fs_ino_hwm(fs), r->time, &e);
	if (rc == 0 && fs->store->format < FORMAT_EPOCHS)
		rc = store_set_format(fs->store, FORMAT_EPOCHS);
	if (rc == 0) {
		r->root = meta_snap_ino(e, ds);
		r->files = r->bytes = UNCOUNTED;
	}
	return rc;
}

static bool of_epoch(const struct inode *in, void *ctx)
{
	return meta_ino_is_snap(in->ino) && meta_snap_epoch(in->ino) == *(const uint64_t *)ctx;
}

/* Drop the epoch snapshot with root ROOT in B (namespace locked, space
 * deferred); its files the kernel knows are held in *HELD: those open keep
 * what they read (their maps stay counted until they are let go).  What the
 * epoch's history held is found and uncounted by the commit (epoch_dropped). */
static int epoch_drop(struct fs *fs, struct meta_batch *b, uint64_t root, struct inode ***held,
		      size_t *nheld)
{
	uint64_t e = meta_snap_epoch(root);
	int rc = inode_collect(fs, of_epoch, &e, held, nheld);

	for (size_t i = 0; rc == 0 && i < *nheld; i++) {
		struct inode *in = (*held)[i];

		pthread_rwlock_wrlock(&in->lock);
		if (S_ISREG(in->attr.mode) && !in->purged &&
		    (in->attr.alloc || (in->attr.flags & META_IF_INLINE)))
			rc = fs_map_load(fs, in);
		for (size_t j = 0; rc == 0 && !in->purged && j < in->map.n; j++)
			space_ref(fs, &in->map.v[j].ref);
		pthread_rwlock_unlock(&in->lock);
	}
	if (rc == 0)
		rc = meta_epoch_drop(fs->meta, b, e);
	return rc;
}

/* The epoch is dropped (B committed): the extents only its history held
 * are uncounted (space deferred: given back once that is durable), and its
 * files the kernel knows now read what they hold. */
static void epoch_dropped(struct fs *fs, struct meta_batch *b, struct inode **held, size_t n)
{
	const struct tier_ref *refs;
	size_t nr = meta_batch_dropped(b, &refs);

	for (size_t i = 0; i < nr; i++)
		space_unref(fs, &refs[i], 0, 0, false);
	for (size_t i = 0; i < n; i++) {
		pthread_rwlock_wrlock(&held[i]->lock);
		held[i]->attr.nlink = 0;
		held[i]->purged = true;
		pthread_rwlock_unlock(&held[i]->lock);
	}
}

/* The census thread counts epoch snapshots in the background once they are
 * made; their 'P' records are written under its lock (snapshot_create and
 * snapshot_delete take it inside the namespace lock), so that a count is
 * never stored into a snapshot deleted meanwhile. */
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
static void counts(struct fs *fs, const uint8_t *k, size_t klen, struct snapinfo *si)
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
				counts(fs, u.keys[i], u.lens[i], &si);
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

static void census_wake(void)
{
	pthread_mutex_lock(&cen.lock);
	cen.wake = true;
	pthread_cond_signal(&cen.cond);
	pthread_mutex_unlock(&cen.lock);
}

int snapshot_root_of(struct fs *fs, uint64_t ino, uint64_t *root)
{
	struct meta_epoch ep;
	int rc;

	if (!meta_ino_is_snap(ino))
		return -ENOENT;
	rc = meta_epoch_get(fs->meta, meta_snap_epoch(ino), &ep);
	if (rc == 0)
		*root = meta_snap_ino(ep.epoch, ep.ds);
	return rc;
}

uint64_t snapshot_progress(void)
{
	return atomic_load(&freezing);
}

int snapshot_create(struct fs *fs, uint64_t ds, const char *tag, uint32_t uid, uint64_t *root)
{
	struct copy c = { .fs = fs };
	struct snaprec r = { .time = fs_now() };
	struct inode *dir = NULL;
	uint8_t k[8 + META_NAME_MAX];
	void *old;
	size_t oldlen;
	int rc;

	if (!tag[0] || strlen(tag) > META_NAME_MAX || strchr(tag, '/') || tag[0] == '.')
		return -EINVAL;
	pthread_rwlock_wrlock(&fs->ns);
	space_defer_begin();	/* the copies' references count once committed */
	rc = inode_get(fs, ds, &dir);
	if (rc == 0 && (dir->attr.policy != META_AREA_DATASET ||
			(dir->attr.flags & META_IF_READONLY)))
		rc = -EPERM;
	if (rc == 0 && uid != 0 && uid != dir->attr.uid)
		rc = -EACCES;		/* only the directory's owner (or root) */
	if (rc == 0 && meta_rec_get(fs->meta, REC_P, k, pkey(k, ds, tag), &old, &oldlen) == 0) {
		free(old);
		rc = -EEXIST;
	}
	if (rc == 0)
		rc = space_meta_room(fs);	/* records of every file: a new name's rule */
	c.b = rc == 0 ? meta_batch_new() : NULL;
	if (rc == 0 && !c.b)
		rc = -ENOMEM;
	if (rc == 0)
		rc = epoch_make(fs, c.b, ds, &r);
	if (rc == -EOVERFLOW) {		/* numbers beyond a snapshot inode's: copy */
		meta_batch_clear(c.b);
		r.root = fs_ino_alloc(fs);
		rc = snap_copy(&c, ds, r.root);
		r.files = c.files;
		r.bytes = c.bytes;
	}
	if (rc == 0) {
		uint8_t v[32];

		memcpy(v, &r.root, 8);
		memcpy(v + 8, &r.time, 8);
		memcpy(v + 16, &r.files, 8);
		memcpy(v + 24, &r.bytes, 8);
		meta_rec_put(c.b, REC_P, k, pkey(k, ds, tag), v, sizeof(v));
		pthread_mutex_lock(&cen.lock);		/* 'P' records change under it */
		rc = fs_commit(fs, c.b, true);
		pthread_mutex_unlock(&cen.lock);
	}
	atomic_store(&freezing, 0);
	space_defer_end(fs, rc == 0);
	pthread_rwlock_unlock(&fs->ns);
	if (rc == 0 && meta_ino_is_snap(r.root) && cen.running)
		census_wake();
	if (rc < 0 && access_refusal(rc))
		log_debug("snapshot %s of directory %llu refused: %s", tag, (unsigned long long)ds,
			  strerror(-rc));
	else if (rc < 0)
		log_err("snapshot %s of directory %llu failed: %s", tag, (unsigned long long)ds,
			strerror(-rc));
	else if (meta_ino_is_snap(r.root))
		log_info("snapshot %s of directory %llu: epoch %llu", tag, (unsigned long long)ds,
			 (unsigned long long)meta_snap_epoch(r.root));
	else
		log_info("snapshot %s of directory %llu: %llu files, %llu bytes (copied)", tag,
			 (unsigned long long)ds, (unsigned long long)c.files,
			 (unsigned long long)c.bytes);
	if (dir)
		inode_put(fs, dir);
	meta_batch_free(c.b);
	free(c.queue);
	free(c.links.src);
	free(c.links.dst);
	*root = r.root;
	return rc;
}

/* --- deletion ---------------------------------------------------------- */

struct drop {
	struct fs *fs;
	struct meta_batch *b;
	struct linkmap links;	/* hard-linked inode -> names still to drop */
	uint64_t *dirs;
	size_t nd, cd;
	struct inode **held;
	size_t nh, ch;
	uint64_t cur;
	int rc;
};

static int drop_extent(void *ctx, const struct meta_extent *e)
{
	struct drop *d = ctx;

	space_unref(d->fs, &e->ref, e->inner, e->len, false);
	return 0;
}

/* Remove inode INO of a snapshot (or leave it to its last user). */
static int drop_inode(struct drop *d, uint64_t ino, uint32_t type)
{
	struct inode *in = inode_peek(d->fs, ino);

	if (type == S_IFDIR) {
		if (d->nd == d->cd) {
			size_t n = d->cd ? d->cd * 2 : 256;
			uint64_t *v = realloc(d->dirs, n * sizeof(*v));

			if (!v)
				return -ENOMEM;
			d->dirs = v;
			d->cd = n;
		}
		d->dirs[d->nd++] = ino;
	}
	if (in) {
		if (d->nh == d->ch) {
			size_t n = d->ch ? d->ch * 2 : 64;
			struct inode **v = realloc(d->held, n * sizeof(*v));

			if (!v) {
				inode_put(d->fs, in);
				return -ENOMEM;
			}
			d->held = v;
			d->ch = n;
		}
		pthread_rwlock_wrlock(&in->lock);
		/* known to the kernel (listed, looked up): its records go now
		 * unless it is open; FORGET then only gives its space back */
		if (!inode_purge_now(d->fs, in, d->b)) {
			in->attr.nlink = 0;
			meta_orphan_put(d->b, ino);
			inode_save(d->b, in);
		}
		pthread_rwlock_unlock(&in->lock);
		d->held[d->nh++] = in;	/* purged when its last user is gone */
		return 0;
	}
	if (type == S_IFREG) {
		struct meta_inode a;

		/* hard links: only the last of its names in the tree frees the
		 * inode (counted here: the batch is not readable yet) */
		size_t k;

		for (k = 0; k < d->links.n && d->links.src[k] != ino; k++)
			;
		if (k == d->links.n && meta_inode_get(d->fs->meta, ino, &a) == 0 && a.nlink > 1) {
			if (link_add(&d->links, ino, a.nlink) < 0)
				return -ENOMEM;
		}
		if (k < d->links.n && --d->links.dst[k] > 0)
			return 0;	/* not the last of its names */
		meta_extent_foreach(d->fs->meta, ino, drop_extent, d);
	}
	meta_inode_purge(d->fs->meta, d->b, ino);
	content_forget(d->b, ino);
	return 0;
}

static int drop_entry(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type)
{
	struct drop *d = ctx;

	meta_dentry_del(d->b, d->cur, name, len);
	return drop_inode(d, ino, type);
}

int snapshot_delete(struct fs *fs, uint64_t ds, const char *tag, uint32_t uid)
{
	struct meta_inode dsa;

	struct drop d = { .fs = fs };
	uint8_t k[8 + META_NAME_MAX];
	size_t klen, vlen;
	void *v;
	uint64_t root;
	int rc;

	if (strlen(tag) > META_NAME_MAX)
		return -ENAMETOOLONG;
	klen = pkey(k, ds, tag);
	if (uid != 0 && (meta_inode_get(fs->meta, ds, &dsa) < 0 || dsa.uid != uid))
		return -EACCES;		/* only the directory's owner (or root) */
	pthread_rwlock_wrlock(&fs->ns);
	space_defer_begin();	/* the data stays counted unless the drop commits */
	rc = meta_rec_get(fs->meta, REC_P, k, klen, &v, &vlen);
	if (rc == 0) {
		memcpy(&root, v, 8);
		free(v);
		d.b = meta_batch_new();
		rc = !d.b ? -ENOMEM : meta_ino_is_snap(root) ? epoch_drop(fs, d.b, root, &d.held, &d.nh)
							     : drop_inode(&d, root, S_IFDIR);
	}
	while (rc == 0 && d.nd) {
		d.cur = d.dirs[--d.nd];
		rc = meta_dentry_foreach(fs->meta, d.cur, NULL, 0, drop_entry, &d);
	}
	if (rc == 0) {
		uint8_t rk[8];

		meta_rec_del(d.b, REC_P, k, klen);
		key_put_u64(rk, root);
		meta_rec_del(d.b, REC_USE, rk, 8);
		pthread_mutex_lock(&cen.lock);		/* 'P' records change under it */
		rc = fs_commit(fs, d.b, false);
		pthread_mutex_unlock(&cen.lock);
		if (rc == 0 && meta_ino_is_snap(root))
			epoch_dropped(fs, d.b, d.held, d.nh);
	}
	space_defer_end(fs, rc == 0);
	pthread_rwlock_unlock(&fs->ns);
	for (size_t i = 0; i < d.nh; i++)
		inode_put(fs, d.held[i]);
	if (rc < 0 && !access_refusal(rc))
		log_err("deleting snapshot %s failed: %s", tag, strerror(-rc));
	meta_batch_free(d.b);
	free(d.dirs);
	free(d.held);
	free(d.links.src);
	free(d.links.dst);
	return rc;
}

/* --- listing ----------------------------------------------------------- */

struct each {
	int (*fn)(void *ctx, const char *tag, size_t len, const struct snapinfo *si);
	void *ctx;
};

static int each_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct each *e = ctx;
	struct snapinfo si;

	if (klen <= 8 || vlen != 32)
		return 0;
	memcpy(&si.root, val, 8);
	memcpy(&si.time, (const uint8_t *)val + 8, 8);
	memcpy(&si.files, (const uint8_t *)val + 16, 8);
	memcpy(&si.bytes, (const uint8_t *)val + 24, 8);
	return e->fn(e->ctx, (const char *)key + 8, klen - 8, &si);
}

int snapshot_foreach(struct fs *fs, uint64_t ds,
		     int (*fn)(void *ctx, const char *tag, size_t len, const struct snapinfo *si),
		     void *ctx)
{
	struct each e = { fn, ctx };
	uint8_t k[8];

	pkey(k, ds, "");
	return meta_rec_foreach(fs->meta, REC_P, k, 8, each_cb, &e);
}

int snapshot_get(struct fs *fs, uint64_t ds, const char *tag, struct snapinfo *si)
{
	uint8_t k[8 + META_NAME_MAX];
	void *v;
	size_t vlen;
	int rc;

	if (strlen(tag) > META_NAME_MAX)
		return -ENOENT;
	rc = meta_rec_get(fs->meta, REC_P, k, pkey(k, ds, tag), &v, &vlen);
	if (rc < 0)
		return rc;
	if (vlen != 32) {
		free(v);
		return -EIO;
	}
	memcpy(&si->root, v, 8);
	memcpy(&si->time, (uint8_t *)v + 8, 8);
	memcpy(&si->files, (uint8_t *)v + 16, 8);
	memcpy(&si->bytes, (uint8_t *)v + 24, 8);
	free(v);
	return 0;
}

struct rootfind {
	uint64_t root, ds;
	uint8_t key[8 + META_NAME_MAX];
	size_t klen;
	char *tag;
	size_t len;
	struct snapinfo si;
};

static int root_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct rootfind *f = ctx;
	const uint8_t *k = key;
	uint64_t root;

	if (klen <= 8 || vlen != 32)
		return 0;
	memcpy(&root, val, 8);
	if (root != f->root || klen - 8 >= f->len)
		return 0;
	f->ds = 0;
	for (int i = 0; i < 8; i++)
		f->ds = f->ds << 8 | k[i];
	memcpy(f->tag, k + 8, klen - 8);
	f->tag[klen - 8] = 0;
	memcpy(f->key, k, klen);
	f->klen = klen;
	f->si.root = root;
	memcpy(&f->si.time, (const uint8_t *)val + 8, 8);
	memcpy(&f->si.files, (const uint8_t *)val + 16, 8);
	memcpy(&f->si.bytes, (const uint8_t *)val + 24, 8);
	return 1;
}

int snapshot_find_root(struct fs *fs, uint64_t root, uint64_t *ds, char *tag, size_t len,
		       struct snapinfo *si)
{
	struct rootfind f = { .root = root, .tag = tag, .len = len };
	int rc = meta_rec_foreach(fs->meta, REC_P, NULL, 0, root_cb, &f);

	if (rc < 0)
		return rc;
	if (rc != 1)
		return -ENOENT;
	counts(fs, f.key, f.klen, &f.si);
	*ds = f.ds;
	*si = f.si;
	return 0;
}

/* --- trees for directory versions (version.c) ---------------------------- */

int snapshot_tree_freeze(struct fs *fs, uint64_t dir, struct meta_batch *b, uint64_t *root,
		uint64_t *files, uint64_t *bytes)
{
	struct copy c = { .fs = fs, .b = b, .no_write_bits = true };
	int rc;

	*root = fs_ino_alloc(fs);
	rc = snap_copy(&c, dir, *root);
	*files = c.files;
	*bytes = c.bytes;
	free(c.queue);
	free(c.links.src);
	free(c.links.dst);
	return rc;
}

int snapshot_tree_drop(struct fs *fs, uint64_t root, struct meta_batch *b, struct inode ***held,
	      size_t *nheld)
{
	struct drop d = { .fs = fs, .b = b };
	int rc = drop_inode(&d, root, S_IFDIR);

	while (rc == 0 && d.nd) {
		d.cur = d.dirs[--d.nd];
		rc = meta_dentry_foreach(fs->meta, d.cur, NULL, 0, drop_entry, &d);
	}
	free(d.dirs);
	free(d.links.src);
	free(d.links.dst);
	*held = d.held;
	*nheld = d.nh;
	return rc;
}

/* --- last use ------------------------------------------------------------ */

/* When a file of a snapshot was last opened for reading (noted while
 * lineage is on or cold_after_days is set), kept to the grain
 * of an hour (finer when cold_after_days asks for less than 8 hours): the
 * time each snapshot last stored is remembered here, so that most opens
 * cost no write. */
#define USE_SLOTS	256

static struct {
	pthread_mutex_t lock;
	uint64_t root[USE_SLOTS];
	int64_t stored[USE_SLOTS];
} use = { .lock = PTHREAD_MUTEX_INITIALIZER };

void snapshot_used(struct fs *fs, uint64_t root)
{
	int64_t now = fs_now(), grain = 3600 * (int64_t)1000000000;
	size_t slot = root % USE_SLOTS;
	struct meta_batch *b;
	uint8_t k[8], v[8];
	int rc;

	if (fs->opt.cold_after_days > 0 && fs->opt.cold_after_days * 86400e9 / 8 < grain)
		grain = (int64_t)(fs->opt.cold_after_days * 86400e9 / 8);
	pthread_mutex_lock(&use.lock);
	if (use.root[slot] == root && now - use.stored[slot] < grain) {
		pthread_mutex_unlock(&use.lock);
		return;
	}
	use.root[slot] = root;
	use.stored[slot] = now;
	pthread_mutex_unlock(&use.lock);
	b = meta_batch_new();
	if (!b)
		return;
	key_put_u64(k, root);
	key_put_u64(v, (uint64_t)now);
	meta_rec_put(b, REC_USE, k, 8, v, 8);
	rc = fs_commit(fs, b, false);
	meta_batch_free(b);
	if (rc < 0)
		log_warn("snapshot %llu: its last use could not be stored: %s",
			 (unsigned long long)root, strerror(-rc));
}

int64_t snapshot_last_used(struct fs *fs, const struct snapinfo *si)
{
	int64_t t = si->time;
	uint8_t k[8];
	void *v;
	size_t len;

	key_put_u64(k, si->root);
	if (meta_rec_get(fs->meta, REC_USE, k, 8, &v, &len) == 0) {
		if (len == 8 && (int64_t)key_get_u64(v) > t)
			t = (int64_t)key_get_u64(v);
		free(v);
	}
	return t;
}
