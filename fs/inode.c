/* inode.c — the in-memory inode table and the life of an inode.
 *
 * The table maps inode numbers (which are also the FUSE node ids) to
 * struct inode.  An entry lives while the kernel holds lookups, the file
 * is open, or a handler holds a reference; the last of those to go
 * evicts it, and purges it from the store if it was unlinked.  This keeps
 * warm stat off RocksDB: the kernel only asks about inodes it holds.
 */
#include "fs/fs.h"
#include "fs/inode.h"
#include "fs/data.h"
#include "fs/extmap.h"
#include "fs/prealloc.h"
#include "fs/space.h"
#include "fs/hooks.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t hash_ino(uint64_t ino, size_t size)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 20) & (size - 1);
}

int fs_itab_init(struct fs *fs)
{
	fs->itab_size = 1 << 16;
	fs->itab = calloc(fs->itab_size, sizeof(*fs->itab));
	if (!fs->itab)
		return -ENOMEM;
	pthread_mutex_init(&fs->itab_lock, NULL);
	pthread_mutex_init(&fs->ino_lock, NULL);
	pthread_mutex_init(&fs->flight_lock, NULL);
	pthread_cond_init(&fs->flight_done, NULL);
	lk_name(&fs->itab_lock, "the inode table lock");
	lk_name(&fs->ino_lock, "the inode number lock");
	lk_name(&fs->flight_lock, "the lock of buffers in flight");
	return meta_inode_max(fs->meta, &fs->next_ino) < 0 ? -EIO : (fs->next_ino++, 0);
}

static void inode_free(struct fs *fs, struct inode *in)
{
	fs_hook_free(fs, in);
	fs_flight_drop(fs, in);
	fs_wbuf_free(in);
	fs_map_free(&in->map);
	pthread_rwlock_destroy(&in->lock);
	free(in);
}

void fs_itab_destroy(struct fs *fs)
{
	for (size_t i = 0; i < fs->itab_size; i++) {
		struct inode *in = fs->itab[i], *next;

		for (; in; in = next) {
			next = in->hnext;
			inode_free(fs, in);
		}
	}
	free(fs->itab);
}

/* Grow the hash table when it gets crowded (caller holds itab_lock). */
static void itab_grow(struct fs *fs)
{
	size_t nsize = fs->itab_size * 2;
	struct inode **n = calloc(nsize, sizeof(*n));

	if (!n)
		return;		/* a crowded table is slower, not wrong */
	for (size_t i = 0; i < fs->itab_size; i++) {
		struct inode *in = fs->itab[i], *next;

		for (; in; in = next) {
			size_t h = hash_ino(in->ino, nsize);

			next = in->hnext;
			in->hnext = n[h];
			n[h] = in;
		}
	}
	free(fs->itab);
	fs->itab = n;
	fs->itab_size = nsize;
}

static struct inode *itab_find(struct fs *fs, uint64_t ino)
{
	struct inode *in = fs->itab[hash_ino(ino, fs->itab_size)];

	while (in && in->ino != ino)
		in = in->hnext;
	return in;
}

static void itab_insert(struct fs *fs, struct inode *in)
{
	size_t h;

	if (fs->itab_count >= fs->itab_size)
		itab_grow(fs);
	h = hash_ino(in->ino, fs->itab_size);
	in->hnext = fs->itab[h];
	fs->itab[h] = in;
	fs->itab_count++;
}

static void itab_remove(struct fs *fs, struct inode *in)
{
	struct inode **p = &fs->itab[hash_ino(in->ino, fs->itab_size)];

	while (*p != in)
		p = &(*p)->hnext;
	*p = in->hnext;
	fs->itab_count--;
}

static struct inode *inode_alloc(const struct meta_inode *attr)
{
	struct inode *in = calloc(1, sizeof(*in));

	if (!in)
		return NULL;
	in->ino = attr->ino;
	in->attr = *attr;
	in->refs = 1;
	pthread_rwlock_init(&in->lock, NULL);
	return in;
}

struct inode *inode_find_cached(struct fs *fs, uint64_t ino)
{
	struct inode *in;

	pthread_mutex_lock(&fs->itab_lock);
	in = itab_find(fs, ino);
	if (in)
		in->refs++;
	pthread_mutex_unlock(&fs->itab_lock);
	return in;
}

bool inode_kernel_holds(struct fs *fs, uint64_t ino)
{
	const struct inode *in;
	bool held;

	pthread_mutex_lock(&fs->itab_lock);
	in = itab_find(fs, ino);
	held = in && in->nlookup > 0;
	pthread_mutex_unlock(&fs->itab_lock);
	return held;
}

int inode_get(struct fs *fs, uint64_t ino, struct inode **out)
{
	struct meta_inode attr;
	struct inode *in, *other;
	int rc;

	if (ino & FS_VIRT_BIT)
		return -EROFS;	/* the .aifs views are never changed */
	pthread_mutex_lock(&fs->itab_lock);
	in = itab_find(fs, ino);
	if (in) {
		in->refs++;
		pthread_mutex_unlock(&fs->itab_lock);
		*out = in;
		return 0;
	}
	pthread_mutex_unlock(&fs->itab_lock);

	rc = meta_inode_get(fs->meta, ino, &attr);
	if (rc < 0)
		return rc;
	in = inode_alloc(&attr);
	if (!in)
		return -ENOMEM;
	rc = prealloc_load(fs, in);
	if (rc < 0) {
		inode_free(fs, in);
		return rc;
	}
	pthread_mutex_lock(&fs->itab_lock);
	other = itab_find(fs, ino);	/* another thread may have loaded it */
	if (other) {
		other->refs++;
		pthread_mutex_unlock(&fs->itab_lock);
		inode_free(fs, in);
		*out = other;
		return 0;
	}
	itab_insert(fs, in);
	pthread_mutex_unlock(&fs->itab_lock);
	*out = in;
	return 0;
}

struct inode *inode_peek(struct fs *fs, uint64_t ino)
{
	struct inode *in;

	pthread_mutex_lock(&fs->itab_lock);
	in = itab_find(fs, ino);
	if (in)
		in->refs++;
	pthread_mutex_unlock(&fs->itab_lock);
	return in;
}

struct inode *inode_new(struct fs *fs, const struct meta_inode *attr)
{
	struct inode *in = inode_alloc(attr);

	if (!in)
		return NULL;
	pthread_mutex_lock(&fs->itab_lock);
	itab_insert(fs, in);
	pthread_mutex_unlock(&fs->itab_lock);
	return in;
}

/* Give back the space of IN's in-memory map (its records are gone). */
static void content_unref(struct fs *fs, struct inode *in)
{
	for (size_t i = 0; i < in->map.n; i++)
		space_unref(fs, &in->map.v[i].ref, in->map.v[i].inner, in->map.v[i].len,
			    fs_extents_unique(fs, in));
	fs_map_free(&in->map);
	in->map_loaded = false;
	fs_flight_drop(fs, in);
	fs_wbuf_free(in);
}

/* Remove an unlinked, unused inode and its content from the store. */
static void inode_purge(struct fs *fs, struct inode *in)
{
	struct meta_batch *b;
	int rc;

	if (in->purged) {		/* its records went with the unlink */
		content_unref(fs, in);
		return;
	}
	b = meta_batch_new();
	if (!b) {
		log_err("purge of inode %llu deferred to next mount: out of memory",
			(unsigned long long)in->ino);
		return;
	}
	fs_hook_before_purge(fs, in);
	/* the extents go uncounted only once the commit has counted those an
	 * epoch snapshot's history keeps: uncounted first, they would drop to
	 * no reference, and their bytes be given back under the snapshot */
	space_defer_begin();
	pthread_rwlock_wrlock(&in->lock);
	fs_content_drop(fs, in, b);
	pthread_rwlock_unlock(&in->lock);
	/* fs_content_drop deleted the extent records */
	meta_inode_purge_some(fs->meta, b, in->ino, META_PURGE_SYMLINK | META_PURGE_INLINE |
			      META_PURGE_ORPHAN |
			      ((in->attr.flags & META_IF_XATTR) ? META_PURGE_XATTRS : 0));
	fs_hook_purge(fs, in, b);
	rc = fs_commit(fs, b, false);
	space_defer_end(fs, rc == 0);
	if (rc < 0)
		log_err("purge of inode %llu failed (%s); it stays an orphan until the "
			"next mount", (unsigned long long)in->ino, strerror(-rc));
	meta_batch_free(b);
}

/* Evict IN if nothing holds it any more (caller holds itab_lock); returns
 * true if the caller must purge and free it after unlocking. */
static bool inode_release_locked(struct fs *fs, struct inode *in, bool *purge)
{
	if (in->refs || in->nlookup || in->nopen)
		return false;
	itab_remove(fs, in);
	*purge = in->attr.nlink == 0;
	return true;
}

static void inode_evict(struct fs *fs, struct inode *in, bool purge)
{
	if (purge)
		inode_purge(fs, in);
	inode_free(fs, in);
}

void inode_put(struct fs *fs, struct inode *in)
{
	bool evict, purge = false;

	pthread_mutex_lock(&fs->itab_lock);
	in->refs--;
	evict = inode_release_locked(fs, in, &purge);
	pthread_mutex_unlock(&fs->itab_lock);
	if (evict)
		inode_evict(fs, in, purge);
}

void inode_lookup_inc(struct fs *fs, struct inode *in, uint64_t n)
{
	pthread_mutex_lock(&fs->itab_lock);
	in->nlookup += n;
	pthread_mutex_unlock(&fs->itab_lock);
}

void inode_open_inc(struct fs *fs, struct inode *in)
{
	pthread_mutex_lock(&fs->itab_lock);
	in->nopen++;
	pthread_mutex_unlock(&fs->itab_lock);
}

void inode_forget(struct fs *fs, uint64_t ino, uint64_t n)
{
	struct inode *in;
	bool evict = false, purge = false;

	pthread_mutex_lock(&fs->itab_lock);
	in = itab_find(fs, ino);
	if (in) {
		if (in->nlookup < n) {
			log_warn("kernel forgot %llu lookups of inode %llu but held %llu",
				 (unsigned long long)n, (unsigned long long)ino,
				 (unsigned long long)in->nlookup);
			n = in->nlookup;
		}
		in->nlookup -= n;
		evict = inode_release_locked(fs, in, &purge);
	}
	pthread_mutex_unlock(&fs->itab_lock);
	if (evict)
		inode_evict(fs, in, purge);
}

void inode_open_dec(struct fs *fs, struct inode *in)
{
	bool evict, purge = false;

	pthread_mutex_lock(&fs->itab_lock);
	in->nopen--;
	evict = inode_release_locked(fs, in, &purge);
	pthread_mutex_unlock(&fs->itab_lock);
	if (evict)
		inode_evict(fs, in, purge);
}

uint64_t fs_ino_alloc(struct fs *fs)
{
	uint64_t ino;

	pthread_mutex_lock(&fs->ino_lock);
	ino = fs->next_ino++;
	pthread_mutex_unlock(&fs->ino_lock);
	return ino;
}

uint64_t fs_ino_hwm(struct fs *fs)
{
	uint64_t ino;

	pthread_mutex_lock(&fs->ino_lock);
	ino = fs->next_ino - 1;
	pthread_mutex_unlock(&fs->ino_lock);
	return ino;
}

int inode_collect(struct fs *fs, bool (*match)(const struct inode *in, void *ctx), void *ctx,
		  struct inode ***out, size_t *n)
{
	struct inode **v = NULL;
	size_t cnt = 0, cap = 0;
	int rc = 0;

	pthread_mutex_lock(&fs->itab_lock);
	for (size_t i = 0; rc == 0 && i < fs->itab_size; i++)
		for (struct inode *in = fs->itab[i]; in; in = in->hnext) {
			if (!match(in, ctx))
				continue;
			if (cnt == cap) {
				size_t nc = cap ? 2 * cap : 64;
				struct inode **nv = realloc(v, nc * sizeof(*nv));

				if (!nv) {
					rc = -ENOMEM;
					break;
				}
				v = nv;
				cap = nc;
			}
			in->refs++;
			v[cnt++] = in;
		}
	pthread_mutex_unlock(&fs->itab_lock);
	if (rc) {
		for (size_t i = 0; i < cnt; i++)
			inode_put(fs, v[i]);
		free(v);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

static bool dirty_file(const struct inode *in, void *ctx)
{
	(void)ctx;
	return S_ISREG(in->attr.mode) && (in->wb_dirty || in->flight) &&
	       !meta_ino_is_snap(in->ino);
}

int inode_flush_buffered(struct fs *fs)
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

static int reap_one(void *ctx, uint64_t ino)
{
	struct fs *fs = ctx;
	struct inode *in;
	int rc = inode_get(fs, ino, &in);

	if (rc == -ENOENT) {
		struct meta_batch *b = meta_batch_new();

		if (!b)
			return -ENOMEM;
		meta_orphan_del(b, ino);
		rc = meta_batch_commit(fs->meta, b, false);
		meta_batch_free(b);
		return rc;
	}
	if (rc < 0)
		return rc;
	if (in->attr.nlink != 0) {
		/* A crash between link and orphan removal: the inode is live. */
		struct meta_batch *b = meta_batch_new();

		if (b) {
			meta_orphan_del(b, ino);
			meta_batch_commit(fs->meta, b, false);
			meta_batch_free(b);
		}
	}
	inode_put(fs, in);	/* nlink 0 and unused: purged here */
	return 0;
}

int fs_orphans_reap(struct fs *fs)
{
	return meta_orphan_foreach(fs->meta, reap_one, fs);
}

/* Nanoseconds to a timespec, flooring so that times before 1970 work. */
static struct timespec ns_ts(int64_t ns)
{
	int64_t sec = ns / 1000000000, rem = ns % 1000000000;

	if (rem < 0) {
		rem += 1000000000;
		sec--;
	}
	return (struct timespec){ .tv_sec = sec, .tv_nsec = rem };
}

void inode_stat(const struct inode *in, struct stat *st)
{
	const struct meta_inode *a = &in->attr;

	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	/* Versions and snapshots made before set-id bits were dropped at
	 * their making are shown, and so executed, without them. */
	if (a->flags & META_IF_READONLY)
		st->st_mode &= ~(mode_t)(S_ISUID | S_ISGID);
	/* A version is named by no directory: with no links the kernel lets
	 * go of it as soon as it is unused, so a pruned version's space comes
	 * back without waiting for memory pressure. */
	st->st_nlink = (a->flags & META_IF_VERSION) ? 0 : a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_size = a->size;
	st->st_blksize = 4096;
	st->st_blocks = (a->alloc + in->wb_len + (in->flight ? FS_WB_CAP : 0) + in->prealloc +
			 511) / 512;
	st->st_atim = ns_ts(a->atime);
	st->st_mtim = ns_ts(a->mtime);
	st->st_ctim = ns_ts(a->ctime);
}

/* Delete IN's records in B now, if nothing has it open (caller holds its
 * lock): its extents stay mapped in memory until FORGET, so an OPEN that
 * raced the removal still reads them (a change after that puts it back as
 * an orphan, see inode_save), and eviction only gives their space back. */
bool inode_purge_now(struct fs *fs, struct inode *in, struct meta_batch *b)
{
	unsigned what = ((in->attr.flags & META_IF_XATTR) ? META_PURGE_XATTRS : 0) |
			((in->attr.flags & META_IF_INLINE) ? META_PURGE_INLINE : 0) |
			(S_ISLNK(in->attr.mode) ? META_PURGE_SYMLINK : 0) |
			(in->attr.nlink == 0 ? META_PURGE_ORPHAN : 0);
	bool unused;

	if (in->purged)
		return true;
	if (in->wb_len || in->flight)
		return false;
	pthread_mutex_lock(&fs->itab_lock);
	unused = in->nopen == 0;
	pthread_mutex_unlock(&fs->itab_lock);
	if (!unused)
		return false;
	if (S_ISREG(in->attr.mode) && (in->map_loaded || in->attr.size)) {
		if (fs_map_load(fs, in) < 0)
			return false;
		if (in->map.n)
			what |= META_PURGE_EXTENTS;
	}
	in->attr.nlink = 0;
	meta_inode_purge_some(fs->meta, b, in->ino, what);
	fs_hook_purge_now(fs, in, b);
	if (S_ISREG(in->attr.mode))
		prealloc_drop(fs, in, b);
	in->purged = true;
	return true;
}

/* An unlink usually removes the last name of a file nobody has open: its
 * records go in the unlink's own batch, rather than an orphan mark now and
 * a second write at FORGET.  Checkpoint files (versions) and journal files
 * keep the general path. */
bool inode_purge_at_unlink(struct fs *fs, struct inode *in, struct meta_batch *b)
{
	if (in->attr.nlink != 1 || S_ISDIR(in->attr.mode) || fs_hook_keeps_records(fs, in))
		return false;
	return inode_purge_now(fs, in, b);
}
