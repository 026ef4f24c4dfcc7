/* data.c — file content: write gathering, reads, truncation, durability.
 *
 * A file's content is its extent map (extmap.c: sorted, non-overlapping
 * pieces of immutable extents) overlaid by its write buffer.  Writes that continue
 * the buffer are gathered up to FS_WB_CAP and then appended to the hot
 * tier as one extent; the map change and the inode go to meta/ in one
 * batch, without a sync (fsync syncs).  Reads submit every extent piece
 * they need to the tier in one batch, zero the holes and copy the newer
 * buffered bytes over the result.
 *
 * Every extent record added or removed here is reported to space.c, which
 * gives back the space nothing references any more.
 */
#include "fs/fs.h"
#include "fs/commit.h"
#include "fs/data.h"
#include "fs/extmap.h"
#include "fs/prealloc.h"
#include "fs/space.h"
#include "fs/hooks.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static __thread char *scratch;
static __thread size_t scratch_len;
static pthread_key_t scratch_key;	/* frees a retired thread's buffer */
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static bool scratch_keyed;

static void scratch_key_make(void)
{
	scratch_keyed = pthread_key_create(&scratch_key, free) == 0;
	if (!scratch_keyed)
		log_err("no thread key for read buffers: a retired thread's buffer leaks");
}

char *fs_scratch(size_t len)
{
	if (len > scratch_len) {
		char *n = realloc(scratch, len);

		if (!n)
			return NULL;
		pthread_once(&scratch_once, scratch_key_make);
		if (scratch_keyed)
			pthread_setspecific(scratch_key, n);
		scratch = n;
		scratch_len = len;
	}
	return scratch;
}

/* --- the write buffer ------------------------------------------------ */

/* Commit B, which stores buffered data of IN; the features' records of
 * those writes (a journal file's) go in the same batch, so a record is
 * durable exactly when the bytes it describes are. */
static int commit_with_records(struct fs *fs, struct inode *in, struct meta_batch *b)
{
	return fs_commit_store(fs, in, b);
}

/* Store the whole content, which is the buffer, inline. */
static int inline_store(struct fs *fs, struct inode *in)
{
	struct meta_batch *b = meta_batch_new();
	int rc;

	if (!b)
		return -ENOMEM;
	meta_inline_put(b, in->ino, in->wbuf, in->wb_len);
	in->attr.flags |= META_IF_INLINE;
	in->attr.alloc = in->wb_len;
	inode_save(b, in);
	rc = commit_with_records(fs, in, b);
	if (rc == 0)
		in->wb_dirty = false;
	meta_batch_free(b);
	return rc;
}

/* IN outgrows inline storage: append its stored inline bytes as extent *IE
 * at offset 0 (counted, not yet in the map), unless the buffer being
 * flushed starts at 0 and so holds all of them (IE left empty). */
static int inline_append(struct fs *fs, struct inode *in, struct ext *ie)
{
	uint32_t crcs[TIER_NCRC(FS_INLINE_MAX)], ncrc;
	void *data = NULL;
	size_t len = 0;
	int rc;

	if (in->wb_off == 0)
		return 0;
	rc = meta_inline_get(fs->meta, in->ino, &data, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc == 0 && len) {
		space_append_begin(fs);
		rc = tier_append(fs->tiers[TIER_HOT], data, (uint32_t)len, TIER_CODEC_RAW, &ie->ref,
				 crcs, &ncrc);
		space_append_end(fs, rc == 0 ? &ie->ref : NULL);
		if (rc == 0) {
			ie->foff = 0;
			ie->len = len;
			ie->crcs = fs_crcs_new(crcs, ncrc);
			if (!ie->crcs)
				rc = -ENOMEM;
		}
	}
	free(data);
	return rc;
}

/* Replace IN's inline content by extent IE (if any) in B, which also
 * stores the buffer: the inline record goes in the commit that stores
 * what replaces it, so a crash keeps one or the other. */
static int inline_unstore(struct fs *fs, struct inode *in, struct meta_batch *b, struct ext *ie)
{
	int rc = 0;

	in->attr.alloc = 0;
	if (ie->len) {
		rc = fs_map_insert(fs, in, b, ie);
		if (rc == 0)
			ie->crcs = NULL;	/* owned by the map now */
	}
	if (rc == 0) {
		meta_inline_del(b, in->ino);
		in->attr.flags &= ~META_IF_INLINE;
	}
	return rc;
}

/* An extent appended ahead of its commit (a buffer in flight). */
struct appended {
	struct tier_ref ref;
	const uint32_t *crc;
	uint32_t ncrc;
};

/* Store BUF, the LEN bytes of IN at OFF, as one extent and commit the map
 * change (with the move of inline content to an extent, if IN was inline),
 * IN's map loaded; PRE: the bytes were appended already (counted), else
 * they are appended here.  The inode is stored with a size of at most
 * SIZE (what IN's stored bytes reach: newer buffered bytes are not
 * stored yet).  The map and the space counts change as on disk only if
 * the commit succeeds: the pieces it replaces are un-counted then, and a
 * failure reloads the map and un-counts the appended bytes, which the
 * caller keeps for the next try. */
static int store_extent(struct fs *fs, struct inode *in, const char *buf, uint64_t off,
			uint32_t len, uint64_t size, const struct appended *pre)
{
	uint32_t crcbuf[TIER_NCRC(FS_WB_CAP)], ncrc;
	struct meta_batch *b = meta_batch_new();
	struct ext e = { .foff = off, .len = len, .ref = pre ? pre->ref : (struct tier_ref){ 0 } };
	struct ext ie = { 0 };
	uint64_t alloc_was = in->attr.alloc, size_now = in->attr.size;
	uint32_t flags_was = in->attr.flags;
	bool appended = pre != NULL, mapped = false;
	int rc = b ? 0 : -ENOMEM;

	if (rc == 0 && (in->attr.flags & META_IF_INLINE))
		rc = inline_append(fs, in, &ie);
	if (rc == 0)
		rc = prealloc_write(fs, in, b, e.foff, e.len);
	if (rc == 0 && pre) {
		if (!(e.crcs = fs_crcs_new(pre->crc, pre->ncrc)))
			rc = -ENOMEM;
	} else if (rc == 0) {
		space_append_begin(fs);
		rc = tier_append(fs->tiers[TIER_HOT], buf, len, fs->opt.codec, &e.ref,
				 crcbuf, &ncrc);
		space_append_end(fs, rc == 0 ? &e.ref : NULL);
		appended = rc == 0;
		if (rc < 0)
			log_err("write of %u bytes of inode %llu to the hot tier failed: %s",
				len, (unsigned long long)in->ino, strerror(-rc));
		if (rc == 0 && !(e.crcs = fs_crcs_new(crcbuf, ncrc)))
			rc = -ENOMEM;
	}
	if (rc == 0) {
		space_defer_begin();
		mapped = true;
		if (in->attr.flags & META_IF_INLINE)
			rc = inline_unstore(fs, in, b, &ie);
		if (rc == 0)
			rc = fs_map_insert(fs, in, b, &e);
		if (rc == 0) {
			e.crcs = NULL;		/* owned by the map now */
			if (size < size_now)
				in->attr.size = size;
			inode_save(b, in);
			in->attr.size = size_now;
			rc = commit_with_records(fs, in, b);
		}
		space_defer_end(fs, rc == 0);
	}
	if (rc == 0) {
		prealloc_apply(fs, in);
	} else {
		/* the appended bytes are referenced by nothing */
		if (appended)
			space_unref(fs, &e.ref, 0, e.len, true);
		if (ie.len)
			space_unref(fs, &ie.ref, 0, ie.len, true);
		if (mapped)
			fs_content_reload(in);
		in->attr.alloc = alloc_was;
		in->attr.flags = flags_was;
	}
	if (e.crcs)
		fs_crcs_put(e.crcs);
	if (ie.crcs)
		fs_crcs_put(ie.crcs);
	meta_batch_free(b);
	return rc;
}

/* Store the write buffer as one extent (see store_extent). */
static int flush_extent(struct fs *fs, struct inode *in)
{
	int rc = store_extent(fs, in, in->wbuf, in->wb_off, in->wb_len, UINT64_MAX, NULL);

	if (rc == 0) {
		in->wb_len = 0;
		in->wb_dirty = false;
	}
	return rc;
}

/* --- write-behind: a full buffer stored after the write's reply --------
 *
 * The write that fills IN's buffer hands it over as IN's flight and
 * returns; its caller appends the flight to the hot tier once it has
 * replied and let go of IN's lock (fs_flight_run), while the writer fills
 * a second buffer.  The flight's commit (its map change) waits for the
 * next holder of IN's lock who needs it: fs_flush (fsync, close, a
 * truncate, a snapshot...), a write apart from the buffer or the write
 * that fills the next buffer (flight_settle).  So the map changes in the
 * order of the writes, and a commit never waits for an append of the
 * same file.  Until then reads see the flight's bytes from memory.  A
 * failed append or commit is that holder's error (the next write to fill
 * a buffer, fsync or close); the bytes stay in flight and the next one
 * stores them in its own thread.  A file of the journal (its records are
 * stored with its bytes) or an inline file is never written behind. */
enum { FLIGHT_RUNNING, FLIGHT_DONE, FLIGHT_RETRY };

/* Free space on the hot tier (past its reserve) below which writes store
 * their buffer before they return: a full disk fails the write itself. */
#define FLIGHT_ROOM	(64ull << 20)

struct fs_flight {
	char *buf;			/* FS_WB_CAP bytes */
	uint64_t off;
	uint32_t len;
	uint64_t size;			/* IN's size when it was handed over */
	uint64_t ino;
	int state;			/* under fs->flight_lock */
	int rc;				/* of the append, once FLIGHT_DONE */
	struct tier_ref ref;
	uint32_t ncrc;
	uint32_t crc[TIER_NCRC(FS_WB_CAP)];
};

void fs_flight_run(struct fs *fs, struct fs_flight *fl)
{
	int rc;

	space_append_begin(fs);
	rc = tier_append(fs->tiers[TIER_HOT], fl->buf, fl->len, fs->opt.codec, &fl->ref,
			 fl->crc, &fl->ncrc);
	space_append_end(fs, rc == 0 ? &fl->ref : NULL);
	if (rc < 0)
		log_err("write of %u bytes of inode %llu to the hot tier failed: %s",
			fl->len, (unsigned long long)fl->ino, strerror(-rc));
	/* FL is its inode's to free from the moment it is done */
	pthread_mutex_lock(&fs->flight_lock);
	fl->rc = rc;
	fl->state = FLIGHT_DONE;
	pthread_cond_broadcast(&fs->flight_done);
	pthread_mutex_unlock(&fs->flight_lock);
}

static void flight_wait(struct fs *fs, struct fs_flight *fl)
{
	pthread_mutex_lock(&fs->flight_lock);
	while (fl->state == FLIGHT_RUNNING)
		pthread_cond_wait(&fs->flight_done, &fs->flight_lock);
	pthread_mutex_unlock(&fs->flight_lock);
}

static void flight_free(struct inode *in, struct fs_flight *fl)
{
	in->flight = NULL;
	if (!in->wb_spare)
		in->wb_spare = fl->buf;
	else
		free(fl->buf);
	free(fl);
}

/* Commit IN's flight (IN locked for writing), after its append; 0, or the
 * -errno of its append or commit (the flight stays, for a retry here). */
static int flight_settle(struct fs *fs, struct inode *in)
{
	struct fs_flight *fl = in->flight;
	struct appended pre;
	int rc;

	if (!fl)
		return 0;
	flight_wait(fs, fl);
	if (fl->state == FLIGHT_DONE && fl->rc < 0) {
		fl->state = FLIGHT_RETRY;
		return fl->rc;
	}
	rc = fs_map_load(fs, in);
	if (rc == 0) {
		pre = (struct appended){ .ref = fl->ref, .crc = fl->crc, .ncrc = fl->ncrc };
		rc = store_extent(fs, in, fl->buf, fl->off, fl->len, fl->size,
				  fl->state == FLIGHT_DONE ? &pre : NULL);
	} else if (fl->state == FLIGHT_DONE) {
		space_unref(fs, &fl->ref, 0, fl->len, true);
	}
	if (rc < 0) {
		fl->state = FLIGHT_RETRY;	/* store_extent un-counted the append */
		return rc;
	}
	flight_free(in, fl);
	return 0;
}

void fs_flight_drop(struct fs *fs, struct inode *in)
{
	struct fs_flight *fl = in->flight;

	if (!fl)
		return;
	flight_wait(fs, fl);
	if (fl->state == FLIGHT_DONE && fl->rc == 0)
		space_unref(fs, &fl->ref, 0, fl->len, true);
	flight_free(in, fl);
}

/* May the write that fills IN's buffer hand it over? */
static bool flight_ok(struct fs *fs, struct inode *in)
{
	struct tier_space sp;

	if ((in->attr.flags & META_IF_INLINE) || fs_hook_stores_records(fs, in))
		return false;
	/* near a full disk, a write that cannot be stored fails itself */
	return tier_space(fs->tiers[TIER_HOT], &sp) == 0 &&
	       sp.avail > fs->reserve + FLIGHT_ROOM;
}

int fs_flush(struct fs *fs, struct inode *in)
{
	int rc = flight_settle(fs, in);

	if (rc < 0)
		return rc;
	if (!in->wb_len || !in->wb_dirty)
		return 0;
	rc = fs_map_load(fs, in);
	if (rc < 0)
		return rc;
	if (in->map.n == 0 && in->wb_off == 0 && in->wb_len == in->attr.size &&
	    in->wb_len <= FS_INLINE_MAX)
		return inline_store(fs, in);
	return flush_extent(fs, in);
}

/* True if a write at [off, off+size) can go into the current buffer. */
static bool wbuf_fits(const struct inode *in, uint64_t off, size_t size)
{
	return off >= in->wb_off && off <= in->wb_off + in->wb_len &&
	       off + size <= in->wb_off + FS_WB_CAP;
}

static void buffer_write(struct inode *in, const char *buf, size_t size, uint64_t off);
static int write_and_store(struct fs *fs, struct inode *in, const char *buf, size_t size,
			   uint64_t off);
static int write_and_hand_over(struct fs *fs, struct inode *in, const char *buf, size_t size,
			       uint64_t off, struct fs_flight **behind);

int fs_write(struct fs *fs, struct inode *in, const char *buf, size_t size, uint64_t off,
	     struct fs_flight **behind)
{
	int rc;

	if (behind)
		*behind = NULL;
	if ((in->attr.flags & META_IF_INLINE) && (rc = fs_map_load(fs, in)) < 0)
		return rc;	/* the inline content becomes the buffer first */
	if (in->wb_len && !wbuf_fits(in, off, size)) {
		/* A write apart from the buffer: the buffer becomes an
		 * extent.  Never inline (fs_flush's choice for a small file):
		 * inline content lives in the buffer, which is about to be
		 * reused, and the file is no longer one piece from 0. */
		rc = 0;
		if (in->attr.flags & META_IF_INLINE) {
			in->wb_dirty = true;
			rc = flush_extent(fs, in);
		} else if (in->wb_dirty) {
			rc = flight_settle(fs, in);	/* the older bytes first */
			if (rc == 0)
				rc = fs_map_load(fs, in);
			if (rc == 0)
				rc = flush_extent(fs, in);
		}
		if (rc < 0)
			return rc;
		in->wb_len = 0;
	}
	if (!in->wb_len)
		in->wb_off = off;
	rc = fs_wbuf_grow(in, (uint32_t)(off + size - in->wb_off));
	if (rc < 0)
		return rc;
	if (off + size - in->wb_off == FS_WB_CAP)
		return behind && flight_ok(fs, in) ?
		       write_and_hand_over(fs, in, buf, size, off, behind) :
		       write_and_store(fs, in, buf, size, off);
	buffer_write(in, buf, size, off);
	return 0;
}

/* A write that fills the buffer, which becomes IN's flight (*BEHIND) once
 * the flight before it is stored; IN goes on with a fresh buffer.  If the
 * flight before cannot be stored, this write did not happen. */
static int write_and_hand_over(struct fs *fs, struct inode *in, const char *buf, size_t size,
			       uint64_t off, struct fs_flight **behind)
{
	struct fs_flight *fl;
	char *fresh;
	int rc = flight_settle(fs, in);

	if (rc < 0)
		return rc;
	fl = malloc(sizeof(*fl));
	fresh = in->wb_spare ? in->wb_spare : malloc(FS_WB_CAP);
	if (!fl || !fresh) {
		free(fl);
		if (fresh != in->wb_spare)
			free(fresh);
		return write_and_store(fs, in, buf, size, off);
	}
	buffer_write(in, buf, size, off);
	*fl = (struct fs_flight){ .buf = in->wbuf, .off = in->wb_off, .len = in->wb_len,
				  .size = in->attr.size, .ino = in->ino,
				  .state = FLIGHT_RUNNING };
	in->flight = *behind = fl;
	in->wbuf = fresh;
	in->wb_spare = NULL;
	in->wb_cap = FS_WB_CAP;
	in->wb_len = 0;
	in->wb_dirty = false;
	return 0;
}

/* Copy a write into the buffer (room made) and update the inode. */
static void buffer_write(struct inode *in, const char *buf, size_t size, uint64_t off)
{
	memcpy(in->wbuf + (off - in->wb_off), buf, size);
	in->wb_dirty = true;
	if (off + size - in->wb_off > in->wb_len)
		in->wb_len = (uint32_t)(off + size - in->wb_off);
	if (off + size > in->attr.size)
		in->attr.size = off + size;
	in->attr.mtime = in->attr.ctime = fs_now();
	in->attr.generation++;
	in->dirty = true;
}

/* A write that fills the buffer, which is then stored.  If that fails, the
 * write did not happen: the caller gets the error and the file keeps its
 * size and bytes (the buffered bytes it overwrote are put back). */
static int write_and_store(struct fs *fs, struct inode *in, const char *buf, size_t size,
			   uint64_t off)
{
	uint64_t wb_end = in->wb_off + in->wb_len;
	size_t keep = off < wb_end ? (size_t)((off + size < wb_end ? off + size : wb_end) - off) : 0;
	uint64_t size_was = in->attr.size, gen_was = in->attr.generation;
	int64_t mtime_was = in->attr.mtime, ctime_was = in->attr.ctime;
	uint32_t len_was = in->wb_len;
	bool dirty_was = in->wb_dirty, idirty_was = in->dirty;
	char *old = keep ? malloc(keep) : NULL;
	int rc;

	if (keep && !old)
		return -ENOMEM;
	if (keep)
		memcpy(old, in->wbuf + (off - in->wb_off), keep);
	buffer_write(in, buf, size, off);
	rc = fs_flush(fs, in);
	if (rc < 0 && in->wb_len == FS_WB_CAP) {
		if (keep)
			memcpy(in->wbuf + (off - in->wb_off), old, keep);
		in->wb_len = len_was;
		in->wb_dirty = dirty_was;
		in->dirty = idirty_was;
		in->attr.size = size_was;
		in->attr.mtime = mtime_was;
		in->attr.ctime = ctime_was;
		in->attr.generation = gen_was;
	}
	free(old);
	return rc;
}

/* --- reads ----------------------------------------------------------- */

/* Copy what BUF (LEN bytes of the file at BOFF) holds of [OFF, END) into DST. */
static void overlay(char *dst, uint64_t off, uint64_t end, const char *buf, uint64_t boff,
		    uint64_t len)
{
	uint64_t s = boff > off ? boff : off;
	uint64_t t = boff + len < end ? boff + len : end;

	if (s < t)
		memcpy(dst + (s - off), buf + (s - boff), t - s);
}

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
	for (i = fs_map_find(m, off); i < m->n && m->v[i].foff < end; i++) {
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
			/* tier/ has logged the damage (-EIO) in one line already */
			if (rc != -EIO)
				log_err("read of inode %llu at %llu failed: %s",
					(unsigned long long)in->ino, (unsigned long long)off,
					strerror(-rc));
			goto out;
		}
	}
	if (in->flight)
		overlay(dst, off, end, in->flight->buf, in->flight->off, in->flight->len);
	if (in->wb_len)
		overlay(dst, off, end, in->wbuf, in->wb_off, in->wb_len);
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
	if (in->attr.flags & META_IF_INLINE) {
		/* the content is the buffer: cut or zero it and store it now */
		if (end >= in->wb_len)
			in->wb_len = off < in->wb_len ? (uint32_t)off : in->wb_len;
		else if (off < in->wb_len)
			memset(in->wbuf + off, 0, end - off);
		meta_inline_put(b, in->ino, in->wbuf, in->wb_len);
		in->attr.alloc = in->wb_len;
		return 0;
	}
	return fs_map_punch(fs, in, b, off, end);
}

void fs_content_drop(struct fs *fs, struct inode *in, struct meta_batch *b)
{
	bool none = false;

	space_must_defer("fs_content_drop");
	fs_flight_drop(fs, in);
	in->wb_len = 0;
	fs_wbuf_free(in);
	if (!S_ISREG(in->attr.mode))
		return;
	prealloc_drop(fs, in, b);
	/* Truncation drops the extents past the size, so an empty file has
	 * none: no scan of the store for them. */
	if (!in->map_loaded && in->attr.size == 0)
		return;
	if (fs_map_load(fs, in) < 0) {
		log_err("inode %llu: extent map unreadable; its segments stay counted",
			(unsigned long long)in->ino);
	} else {
		for (size_t i = 0; i < in->map.n; i++) {
			const struct ext *x = &in->map.v[i];

			space_unref(fs, &x->ref, x->inner, x->len,
				    fs_extents_unique(fs, in));
		}
		none = in->map.n == 0;	/* read, and there is nothing to delete */
	}
	fs_map_free(&in->map);
	in->map_loaded = false;
	if (!none)
		meta_extent_del_all(fs->meta, b, in->ino);	/* also if the map was unreadable */
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
	return rc < 0 ? rc : fs_hook_durable(fs);
}
