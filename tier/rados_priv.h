/* rados_priv.h — what the RADOS tier's files share (rados.c: lock,
 * segments, space; radosconn.c: connection; radosio.c: appends, reads,
 * discards); private to tier/.
 *
 * Layout in the pool, under the store's namespace:
 *   aifs.store                 "uuid = UUID\n", and the lock "aifs" on it
 *   c.SSSSSSSS.OOOOOOOOOOOO.LLLLLLLL   one extent of the cold tier ("h."
 *                              of the hot one): segment S, offset O,
 *                              stored length L (hex), its stored bytes
 *   m.*                        blobs (radosblob.c): the shipped metadata
 * A segment is a numbering of extents only (no object): its "size" is
 * where its next extent would start.  Every open starts a new segment, so
 * a place whose write was lost in a crash is never given out again.
 *
 * Invariants of struct rtier, under lock:
 *  - segs[n].v lists the objects of segment n (sorted by offset) that
 *    exist or are being written; used is the sum of their lengths;
 *  - pend[] holds the places of the writes in flight (npend of them, at
 *    most RADOS_INFLIGHT, of pend_bytes bytes), each with its ticket
 *    (tickets counts the appends ever submitted); werr is the first write error since the last
 *    sync, which returns it.
 *
 * With a cache (objcache.h, a store whose data lives in the cluster), an
 * append is written to the cache's buffer on the local disk and uploaded
 * by the cache, out of pend[]; it goes to the cluster directly (through
 * pend[]) only when the buffer cannot take it.  Reads look in the cache
 * first and keep a copy of each object they read from the cluster; the
 * first read of an object also reads the next objects of its segment
 * ahead into the cache (pf[], npf of them in flight; a read of one waits
 * for it).  Those copies are not checked when they are kept: every read
 * from the cache checks what it reads.
 */
#ifndef AIFS_TIER_RADOS_PRIV_H
#define AIFS_TIER_RADOS_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <rados/librados.h>

#include "tier/tier.h"
#include "tier/tier_impl.h"

#define RADOS_INFLIGHT	32	/* appends in flight per tier */
#define RADOS_INFLIGHT_BYTES	(64u << 20)	/* and their bytes (one may exceed it) */
#define RADOS_READS	64	/* reads in flight per batch */
#define RADOS_PREFETCH	4	/* objects read ahead into the cache */
#define RADOS_STORE_OBJ	"aifs.store"
#define RADOS_LOCK	"aifs"
#define RADOS_NAME_SIZE	48

struct robj {
	uint64_t off;
	uint32_t len;
};

struct rseg {
	struct robj *v;
	uint32_t n, cap;
	uint64_t size;		/* where the next extent would start */
	bool present;
};

struct objcache;

struct rplace {
	uint32_t seg;
	uint32_t len;
	uint64_t off;
	uint64_t ticket;	/* order of submission */
};

struct rtier {
	struct tier base;	/* first: the struct tier handed out is this */
	int id;
	char *spec;		/* "rados:POOL/NAME" */
	char *pool, *ns;
	char *cookie;		/* lock cookie, NULL when not locked */
	rados_t cluster;
	rados_ioctx_t io;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rseg *segs;
	uint32_t nsegs;
	uint32_t active;
	uint64_t seg_max;
	uint64_t used;
	struct rplace pend[RADOS_INFLIGHT];
	unsigned npend;
	uint64_t pend_bytes;
	uint64_t tickets;	/* appends submitted so far */
	int werr;
	bool readonly;
	struct dcache *dcache;
	struct objcache *cache;	/* local read cache and write buffer, or NULL */
	struct rplace pf[RADOS_PREFETCH];	/* objects being read ahead */
	unsigned npf;
	uint64_t remote_reads;	/* objects read from the cluster */
	uint64_t dev;		/* tier_space's device: the cluster */
	uint64_t stat_total, stat_avail;	/* cluster capacity, cached */
	int64_t stat_when;
};

/* Split "rados:POOL[/NAME]" into POOL and NAME (UUID when absent), malloc'd. */
int rtier_spec_parse(const char *spec, const char *uuid, char **pool, char **ns);
/* Connect to the cluster as RO says and open POOL with namespace NS (SPEC
 * names it in messages; RO->err gets one line on failure). */
int rtier_cluster_connect(const char *spec, const char *pool, const char *ns,
			  const struct tier_rados_opts *ro, rados_t *cluster, rados_ioctx_t *io);
/* CLUSTER's client address as the blocklist takes it ("IP:PORT/NONCE"). */
int rtier_addr(rados_t cluster, char *buf, size_t len);
/* The namespace holds a store (aifs.store), RO->uuid's if given. */
int rtier_store_check(const char *spec, rados_ioctx_t io, const struct tier_rados_opts *ro);

/* Log MESSAGE and tell the user (RO->err) one line; returns RC. */
int rtier_user_fail(const struct tier_rados_opts *ro, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Log "tier NAME (SPEC): MESSAGE" and return RC. */
int rtier_fail(const struct rtier *t, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The object name of the extent of tier T at (SEG, OFF) of LEN stored bytes. */
void rtier_obj_name(const struct rtier *t, char *buf, uint32_t seg, uint64_t off, uint32_t len);

/* Record object (SEG, OFF, LEN) in the segment table (lock held). */
int rtier_seg_add(struct rtier *t, uint32_t seg, uint64_t off, uint32_t len);

/* Forget object (SEG, OFF) (lock held). */
void rtier_seg_drop(struct rtier *t, uint32_t seg, uint64_t off);

/* Wait until every append submitted before this call has completed
 * (lock held); later ones may still be in flight, so that a steady
 * stream of appends cannot starve the caller. */
void rtier_wait_submitted(struct rtier *t);

/* Wait until no write to (SEG, OFF) is in flight (lock held); true if
 * it had to wait (the lock was dropped meanwhile). */
bool rtier_wait_place(struct rtier *t, uint32_t seg, uint64_t off);

/* The tier_ops of radosio.c. */
int rtier_append(struct tier *base, const void *buf, uint32_t len, int codec,
		 struct tier_ref *ref, uint32_t *crcs, uint32_t *ncrc);
int rtier_read_batch(struct tier *const *tiers, struct tier_io *ios, unsigned n);
int rtier_sync(struct tier *base);
int rtier_discard(struct tier *base, const struct tier_ref *ref, uint32_t inner, uint32_t len);
int rtier_seg_remove(struct tier *base, uint32_t seg);

/* Wait until no object is being read ahead (lock held). */
void rtier_wait_prefetch(struct rtier *t);

/* objcache_ops.upload of the tier's cache: write object NAME whole. */
int rtier_upload(void *ctx, const char *name, const void *buf, size_t len);

/* The tier_ops of radosblob.c. */
int rtier_blob_put(struct tier *base, const char *name, const void *buf, size_t len);
int rtier_blob_get(struct tier *base, const char *name, void **buf, size_t *len);
int rtier_blob_remove(struct tier *base, const char *name);
int rtier_blob_list(struct tier *base, const char *prefix,
		    int (*fn)(void *ctx, const char *name), void *ctx);
int rtier_wait_writes(struct tier *base);

#endif
