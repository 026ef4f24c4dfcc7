/* tier.h — extent stores.
 *
 * A tier stores immutable extents and gives them back by reference.  Every
 * tier implements struct tier_ops below; the functions of this header
 * dispatch to it, and nothing above tier/ sees more than these functions,
 * so nothing there may assume that a tier is a local directory.
 *
 * The local implementation (tier_open, local.c) keeps append-only segment
 * files in one directory ("seg-%08u", at most TIER_SEG_MAX bytes each; an
 * extent never spans two segments) and does its I/O with io_uring.
 * Nothing is overwritten in place: space comes back only when a whole
 * segment is removed or its dead blocks are punched out.  A tier kept in
 * an object store (Ceph RADOS, S3) would map a segment to an object or an
 * object prefix and implement the same operations.
 *
 * Every extent carries one CRC-32C per TIER_BLOCK bytes of its *stored*
 * bytes; the caller keeps them (in metadata) and hands them back on read,
 * so a flipped byte on disk is a -EIO and one log line, never wrong data.
 *
 * All functions are thread-safe and return 0 or a negative errno.
 */
#ifndef AIFS_TIER_H
#define AIFS_TIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIER_HOT	0
#define TIER_COLD	1
#define TIER_COUNT	2

#define TIER_CODEC_RAW	0
#define TIER_CODEC_LZ4	1	/* lz4 */
#define TIER_CODEC_BG4	2	/* 4-byte values split into byte planes, then lz4 */
#define TIER_CODEC_BG2	3	/* 2-byte values split into byte planes, then lz4 */
#define TIER_CODEC_MAX	TIER_CODEC_BG2
#define TIER_CODEC_AUTO	255	/* tier_append: whichever of LZ4, BG4, BG2 suits */

#define TIER_BLOCK	4096u		/* checksum granularity */
#define TIER_EXTENT_MAX	(8u << 20)	/* largest extent accepted by append */
#define TIER_SEG_MAX	(1ull << 30)	/* a segment never exceeds this size */
#define TIER_SEG_MIN	(2ull * TIER_EXTENT_MAX)	/* smallest segment limit allowed */

/* Number of checksums of an extent of LEN stored bytes. */
#define TIER_NCRC(len)	(((len) + TIER_BLOCK - 1) / TIER_BLOCK)

struct tier;

/* Where an extent's bytes are. */
struct tier_ref {
	uint8_t  tier;		/* TIER_HOT or TIER_COLD */
	uint8_t  codec;		/* TIER_CODEC_* */
	uint32_t seg;		/* segment number */
	uint64_t off;		/* byte offset of the extent in its segment */
	uint32_t stored_len;	/* bytes on disk */
	uint32_t raw_len;	/* bytes after decoding */
};

/* One read of a batch (see tier_read_batch). */
struct tier_io;
struct tier_space;
struct tier_cache_stats;

/* The operations of a tier implementation; each takes the tier it was
 * opened as (see tier_impl.h), and does what the function of the same name
 * below says.  read_batch gets the whole TIERS array but only the ios
 * whose tier uses these ops. */
struct tier_ops {
	int (*append)(struct tier *t, const void *buf, uint32_t len, int codec,
		      struct tier_ref *ref, uint32_t *crcs, uint32_t *ncrc);
	int (*read_batch)(struct tier *const *tiers, struct tier_io *ios, unsigned n);
	int (*sync)(struct tier *t);
	int (*discard)(struct tier *t, const struct tier_ref *ref, uint32_t inner, uint32_t len);
	int (*seg_remove)(struct tier *t, uint32_t seg);
	int64_t (*seg_size)(struct tier *t, uint32_t seg);
	int64_t (*seg_allocated)(struct tier *t, uint32_t seg);
	uint32_t (*active_seg)(struct tier *t);
	int (*seg_foreach)(struct tier *t, int (*fn)(void *ctx, uint32_t seg, uint64_t size),
			   void *ctx);
	int (*space)(struct tier *t, struct tier_space *out);
	int (*set_seg_max)(struct tier *t, uint64_t bytes);
	void (*close)(struct tier *t);
	/* optional (NULL: the tier keeps no blobs; nothing to wait for) */
	int (*blob_put)(struct tier *t, const char *name, const void *buf, size_t len);
	int (*blob_get)(struct tier *t, const char *name, void **buf, size_t *len);
	int (*blob_remove)(struct tier *t, const char *name);
	int (*blob_list)(struct tier *t, const char *prefix,
			 int (*fn)(void *ctx, const char *name), void *ctx);
	int (*wait_writes)(struct tier *t);
	int (*cache_stats)(struct tier *t, struct tier_cache_stats *out);
	int (*cluster_addr)(struct tier *t, char *buf, size_t len);
};

/* Open the local tier ID kept in directory DIR (which must exist).  Finds the
 * segments present and resumes appending at the end of the newest one.
 * *OUT is owned by the caller and freed by tier_close. */
int tier_open(const char *dir, int id, struct tier **out);

/* Open a tier only to read it, possibly while another process appends to
 * it: nothing is created (tier_append must not be called). */
int tier_open_readonly(const char *dir, int id, struct tier **out);

/* How to reach a tier kept in Ceph RADOS (rados.c).  A RADOS tier is
 * named "rados:POOL/NAME": its objects live in pool POOL under the RADOS
 * namespace NAME (by default the store's uuid), one object per extent,
 * plus the object "aifs.store" that names the store and carries its
 * one-writer lock. */
struct tier_rados_opts {
	const char *conf;	/* ceph.conf; NULL: Ceph's own search ($CEPH_CONF, /etc/ceph) */
	const char *user;	/* "admin" or "client.admin"; NULL: Ceph's default */
	unsigned timeout;	/* seconds before a request to the cluster fails (0: never) */
	const char *uuid;	/* the store's uuid: NAME by default, checked against aifs.store */
	const char *holder;	/* the lock's cookie: host and store path (NULL: no lock) */
	const char *note;	/* the lock's description, for whoever finds it held */
	const char *cache_dir;	/* local read cache and write buffer (NULL: none) */
	int64_t cache_size;	/* its bound in bytes (< 0: TIER_CACHE_DEFAULT, 0: off) */
	bool cache_own;		/* a read-only tier's cache is this mount's own (a
				 * follower's): reads keep copies in it */
	char *err;		/* on failure, one line for the user (may be NULL) */
	size_t errlen;
};

/* The local cache of a RADOS tier (tier_rados_opts.cache_dir): reads of
 * extents go through a copy kept on the local disk (least recently used
 * objects evicted first, every byte checked against its checksum, a
 * damaged copy dropped and read again from the cluster), and appends are
 * written there and uploaded in the background.  The cache holds at most
 * cache_size bytes, of which at most half not yet uploaded (an append
 * that would pass that waits for uploads, at most the request timeout,
 * then goes to the cluster directly).  tier_sync makes what is buffered
 * durable on the local disk; tier_wait_writes waits until it is in the
 * cluster.  What a crash left buffered is uploaded at the next open. */
#define TIER_CACHE_DEFAULT	(1ull << 30)

/* True if SPEC names a RADOS tier ("rados:..."). */
int tier_spec_is_rados(const char *spec);

/* Open tier ID named by SPEC: a RADOS tier (with options RO) or else a
 * local directory, as tier_open or, with READONLY, tier_open_readonly.
 * A RADOS tier opened read-write takes the store's exclusive lock
 * (RO->holder) and refuses with -EBUSY when another holder has it; a lock
 * with the very same holder is broken first (the caller holds the
 * store's local lock, so that holder is dead). */
int tier_open_spec(const char *spec, int id, int readonly, const struct tier_rados_opts *ro,
		   struct tier **out);

/* Make the RADOS tier SPEC for the store RO->uuid: its namespace must
 * hold no object; writes aifs.store.  The resolved spec (with NAME) is
 * written to OUT (OUTLEN bytes). */
int tier_rados_create(const char *spec, const struct tier_rados_opts *ro, char *out,
		      size_t outlen);

/* Break every holder's lock on the RADOS tier SPEC; REPORT is called with
 * a description of each lock broken.  Returns how many were broken, or a
 * negative errno. */
int tier_rados_unlock(const char *spec, const struct tier_rados_opts *ro,
		      void (*report)(void *ctx, const char *who), void *ctx);

/* Start new segments once the active one would pass BYTES (between
 * TIER_SEG_MIN and TIER_SEG_MAX; default TIER_SEG_MAX).  Returns 0 or
 * -EINVAL. */
int tier_set_seg_max(struct tier *t, uint64_t bytes);

/* Keep BYTES free on the device of tier T for metadata and for the appends
 * that give space back: an append that would leave less fails with ENOSPC
 * unless this thread uses the reserve (tier_reserve_use).  0: none. */
void tier_set_reserve(struct tier *t, uint64_t bytes);
/* While ON, this thread's appends may use the reserve (gc, migration). */
void tier_reserve_use(bool on);

/* Close the tier; pending data is synced first. */
void tier_close(struct tier *t);

/* Append LEN (1..TIER_EXTENT_MAX) bytes of BUF as one extent.  CODEC is the
 * preferred codec: with any but TIER_CODEC_RAW the bytes are compressed
 * unless that saves less than about 5%, in which case they are stored raw;
 * TIER_CODEC_AUTO picks the codec that best encodes a sample of the bytes.  On success
 * *REF describes the extent and CRCS (room for TIER_NCRC(LEN) entries) holds
 * its checksums; *NCRC is how many were written.  The bytes are written when
 * this returns (not yet durable: see tier_sync). */
int tier_append(struct tier *t, const void *buf, uint32_t len, int codec,
		struct tier_ref *ref, uint32_t *crcs, uint32_t *ncrc);

/* One read of a batch: LEN decoded bytes starting at INNER within the
 * extent REF (with checksums CRCS) into DST.  RESULT is set to 0 or a
 * negative errno. */
struct tier_io {
	const struct tier_ref *ref;
	const uint32_t *crcs;
	uint32_t inner;
	uint32_t len;
	void *dst;
	int result;
};

/* Read N extents, submitting them to io_uring together.  TIERS is indexed
 * by tier id (ref->tier).  Each io gets its own result; the return value
 * is 0 if all succeeded, else the first error. */
int tier_read_batch(struct tier *const *tiers, struct tier_io *ios, unsigned n);

/* Make every extent appended so far durable (fdatasync of the segments
 * written since the last sync). */
int tier_sync(struct tier *t);

/* The decoded bytes [INNER, INNER+LEN) of extent REF are no longer
 * referenced by anything durable: give back the whole blocks of stored
 * bytes they cover (a hole is punched in the segment).  Only raw extents
 * give space back piecewise; for others this is a no-op until the whole
 * extent is discarded.  Extents start on a TIER_BLOCK boundary, so a block
 * is either wholly dead or still read. */
int tier_discard(struct tier *t, const struct tier_ref *ref, uint32_t inner, uint32_t len);

/* Remove segment SEG, which must not be the one being appended to.  The
 * caller guarantees that no durable metadata references it. */
int tier_seg_remove(struct tier *t, uint32_t seg);

/* Size in bytes of segment SEG, or a negative errno (-ENOENT if absent). */
int64_t tier_seg_size(struct tier *t, uint32_t seg);

/* Bytes of segment SEG backed by storage (punched holes not counted), or
 * a negative errno (-ENOENT if absent). */
int64_t tier_seg_allocated(struct tier *t, uint32_t seg);

/* The segment currently appended to. */
uint32_t tier_active_seg(struct tier *t);

/* Call FN for each segment present, in increasing order; stops at the
 * first nonzero return and returns it. */
int tier_seg_foreach(struct tier *t, int (*fn)(void *ctx, uint32_t seg, uint64_t size),
		     void *ctx);

struct tier_space {
	uint64_t used;		/* bytes in segment files */
	uint64_t total;		/* capacity of the device holding the tier */
	uint64_t avail;		/* bytes still free on that device */
	uint64_t dev;		/* identifies that device: equal for tiers sharing one */
	uint64_t allocated;	/* bytes of segment files backed by storage (holes not counted) */
};

/* Space used by the tier and left on its device. */
int tier_space(struct tier *t, struct tier_space *out);

/* Blobs: named byte strings a tier kept in an object store holds beside
 * its extents (the shipped metadata).  Local tiers give -EOPNOTSUPP.
 * Put replaces NAME whole and returns once it is durable; get returns a
 * malloc'd copy (*BUF, freed by the caller) or -ENOENT; list calls FN
 * with each name starting with PREFIX, stopping at a nonzero return. */
int tier_blob_put(struct tier *t, const char *name, const void *buf, size_t len);
int tier_blob_get(struct tier *t, const char *name, void **buf, size_t *len);
int tier_blob_remove(struct tier *t, const char *name);
int tier_blob_list(struct tier *t, const char *prefix, int (*fn)(void *ctx, const char *name),
		   void *ctx);

/* Wait until every extent appended so far is written (for a tier whose
 * appends complete later), without the durability and the error report of
 * tier_sync: those stay for tier_sync's caller. */
int tier_wait_writes(struct tier *t);

/* Counters of the local cache of a RADOS tier. */
struct tier_cache_stats {
	uint64_t limit;		/* cache_size */
	uint64_t bytes;		/* held on the local disk */
	uint64_t dirty;		/* of which not yet uploaded */
	uint64_t hits, misses;	/* extent reads served from the cache, or not */
	uint64_t remote_reads;	/* objects read from the cluster */
	uint64_t uploads;	/* objects uploaded from the write buffer */
	uint64_t upload_errors;	/* failed upload attempts (each is tried again) */
	uint64_t evictions;	/* copies evicted to stay within limit */
	uint64_t corrupt;	/* damaged copies found (and dropped when uploaded) */
};

/* The counters of T's cache; -EOPNOTSUPP when T has none. */
int tier_cache_stats(struct tier *t, struct tier_cache_stats *out);

/* The address by which the cluster knows T's client (what `ceph osd
 * blocklist add` takes), into BUF; -EOPNOTSUPP when T is not in RADOS. */
int tier_cluster_addr(struct tier *t, char *buf, size_t len);

/* CRC-32C (Castagnoli) of LEN bytes, continuing from SEED (0 to start). */
uint32_t tier_crc32c(uint32_t seed, const void *buf, size_t len);

#endif
