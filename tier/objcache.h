/* objcache.h — a bounded cache on local disk of the immutable objects of a
 * remote store, which is also their write buffer (private to tier/; the
 * RADOS tier uses it for a store whose data lives in the cluster).
 *
 * Layout of its directory DIR:
 *   DIR/up/NAME   an object written here first and not yet uploaded (dirty)
 *   DIR/rd/NAME   a copy of an object of the store (clean): read from it,
 *                 or uploaded from up/ (then renamed here)
 *
 * A dirty object is uploaded by the cache's own threads, oldest first,
 * and stays readable here meanwhile; it is never evicted, and survives a
 * crash: objcache_open hands what up/ holds to the owner (ADOPT) and
 * uploads it.  Clean objects are evicted least recently used first, so
 * that up/ and rd/ together never hold more than the size limit; dirty
 * ones never more than half of it (a writer that would pass it waits for
 * uploads).  Objects are immutable and a name is never reused with other
 * bytes, so an entry is never stale; the owner checks every byte read
 * from here (objcache_corrupt drops a damaged copy).
 *
 * All functions are thread-safe and return 0 or a negative errno unless
 * said otherwise.
 */
#ifndef AIFS_TIER_OBJCACHE_H
#define AIFS_TIER_OBJCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OBJCACHE_NAME_MAX	64	/* longest object name, with its NUL */
#define OBJCACHE_UPLOADERS	4	/* uploads in flight */

struct objcache;

/* What the owner provides.  UPLOAD writes object NAME (LEN bytes of BUF)
 * to the store and returns once it is durable there (0) or failed
 * (negative errno: the object stays dirty and is tried again).  ADOPT is
 * called by objcache_open for each object found dirty, with its size; a
 * nonzero return discards it (an object whose write never completed). */
struct objcache_ops {
	int (*upload)(void *ctx, const char *name, const void *buf, size_t len);
	int (*adopt)(void *ctx, const char *name, uint64_t len);
};

struct objcache_stats {
	uint64_t limit;		/* the size limit */
	uint64_t bytes;		/* bytes held (clean and dirty) */
	uint64_t dirty;		/* bytes not yet uploaded */
	uint64_t hits, misses;	/* objcache_get outcomes */
	uint64_t uploads;	/* objects uploaded */
	uint64_t upload_errors;	/* failed upload attempts */
	uint64_t evictions;	/* clean objects evicted */
	uint64_t corrupt;	/* copies dropped by objcache_corrupt */
};

/* Open the cache in DIR (made if absent) holding at most LIMIT bytes (0:
 * nothing is cached or buffered, but dirty objects left by an earlier run
 * are still uploaded).  TIMEOUT (seconds, 0: none) bounds how long a
 * writer waits for room.  READONLY: only read what is there (no upload,
 * no eviction, no put).  *OUT is freed by objcache_close. */
int objcache_open(const char *dir, uint64_t limit, unsigned timeout, bool readonly,
		  const struct objcache_ops *ops, void *ctx, struct objcache **out);

/* Upload what is dirty (as long as uploads succeed), stop the uploads and
 * free C.  Objects left dirty stay in DIR/up for the next open. */
void objcache_close(struct objcache *c);

/* Write object NAME (LEN bytes) as dirty, to be uploaded.  Waits while the
 * dirty half is full.  Fails (the caller then writes to the store itself)
 * when the object does not fit, when no room came within the timeout, or
 * when the local write fails. */
int objcache_put_dirty(struct objcache *c, const char *name, const void *buf, size_t len);

/* Keep a copy of object NAME (LEN bytes just read from the store and
 * checked), evicting others; silently skipped when it cannot be kept. */
void objcache_put_clean(struct objcache *c, const char *name, const void *buf, size_t len);

/* Would a copy of object NAME (LEN bytes) be kept if read now?  False when
 * the cache holds it, or it is too large, or nothing is cached. */
bool objcache_wants(struct objcache *c, const char *name, size_t len);

/* The size limit. */
uint64_t objcache_limit(const struct objcache *c);

/* Read LEN bytes at OFF of object NAME into DST: 1 if the cache held them,
 * 0 if not (read the store). */
int objcache_get(struct objcache *c, const char *name, uint64_t off, size_t len, void *dst);

/* The bytes objcache_get gave for NAME are damaged: drop a clean copy
 * (the caller reads the store).  -EIO when the damaged copy is dirty
 * (the only one), else 0. */
int objcache_corrupt(struct objcache *c, const char *name);

/* Object NAME is dead: forget it, cancelling its upload (an upload in
 * progress is waited for, so that the caller's removal from the store
 * comes after it). */
void objcache_drop(struct objcache *c, const char *name);

/* Make every dirty object durable on the local disk (fdatasync). */
int objcache_sync(struct objcache *c);

/* Wait until every object put dirty before this call is uploaded; -EIO
 * as soon as the upload of one of them fails (it is tried again later). */
int objcache_flush(struct objcache *c);

void objcache_stats(struct objcache *c, struct objcache_stats *out);

#endif
