/* snapshot.c — dataset snapshots.
 *
 * A snapshot of directory DS is an epoch of the store (meta/history.c): it
 * writes one 'e' record and a 'P' record DS|TAG whose root is the
 * snapshot inode number of DS at that epoch, and copies nothing; from then
 * on meta/ keeps, at their first change, the records the snapshot sees.
 * Its files and bytes are counted by a thread in the background (or by
 * lineage, if it needs them first: snapshot_counts()).  Deleting it drops the
 * epoch, with the history only it needed.
 *
 * The epoch is made and dropped in snapepoch.c, counted in snapcensus.c;
 * this file holds the 'P' records and the copy.
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
#include "fs/snapshot_priv.h"
#include "meta/keys.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Files copied so far by the snapshot being made (0 when none is: they
 * are made one at a time, under the namespace lock); for progress bars. */
static _Atomic uint64_t freezing;

#define REC_USE	META_REC_SNAPSHOT_USE

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
		rc = snapshot_epoch_make(fs, c.b, ds, &r);
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
		snapshot_census_lock();		/* 'P' records change under it */
		rc = fs_commit(fs, c.b, true);
		snapshot_census_unlock();
	}
	atomic_store(&freezing, 0);
	space_defer_end(fs, rc == 0);
	pthread_rwlock_unlock(&fs->ns);
	if (rc == 0 && meta_ino_is_snap(r.root))
		snapshot_census_wake();
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
		rc = !d.b ? -ENOMEM :
		     meta_ino_is_snap(root) ? snapshot_epoch_drop(fs, d.b, root, &d.held, &d.nh) :
		     drop_inode(&d, root, S_IFDIR);
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
		snapshot_census_lock();		/* 'P' records change under it */
		rc = fs_commit(fs, d.b, false);
		snapshot_census_unlock();
		if (rc == 0 && meta_ino_is_snap(root))
			snapshot_epoch_dropped(fs, d.b, d.held, d.nh);
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
	snapshot_counts(fs, f.key, f.klen, &f.si);
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
