/* store.h — a whole aifs store on disk: configuration, lock, metadata, tiers.
 *
 *   STORE/aifs.conf   "key = value" lines: format, uuid, created, hot, cold,
 *                     segment_size, ceph_conf, ceph_user
 *   STORE/lock        held (flock) by whoever has the store open
 *   STORE/meta/       RocksDB database (meta.h)
 *   STORE/hot/        hot tier segments (or, for "hot = rados:POOL/NAME",
 *                     objects in Ceph: the store's data lives in RADOS)
 *   STORE/cache/      the local read cache and write buffer of a hot tier in
 *                     RADOS (tier.h, TIER_CACHE_DEFAULT)
 *   STORE/cold/       cold tier segments (or the directory named by "cold",
 *                     or, for "cold = rados:POOL/NAME", objects in Ceph)
 *
 * Opening refuses, with a message for the user in ERR, a missing store, a
 * store of a newer format than this binary, and a store already open.
 */
#ifndef AIFS_STORE_H
#define AIFS_STORE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "meta/meta.h"
#include "tier/tier.h"

/* Format 2: every change of extent records logs the change of the stored
 * extents' reference counts (meta/spacecp.h), which mounts read instead of
 * counting; an aifs of format 1 would change them without.  A store of
 * format 1 is upgraded at its first read-write mount (store_set_format).
 * Format 3: the store may hold epoch snapshots (meta/history.c), whose
 * files an aifs of format 2 would not know; a store of format 2 becomes 3
 * at its first epoch snapshot, so that until then an older aifs opens it. */
#define STORE_FORMAT 3

struct store {
	char *path;
	char uuid[40];
	uint32_t format;
	int64_t created;		/* seconds since the epoch */
	char *hot_path;			/* rados:POOL/NAME of the hot tier, or NULL: STORE/hot */
	char *cold_path;		/* directory of the cold tier, or rados:POOL/NAME */
	char *ceph_conf, *ceph_user;	/* how to reach Ceph (NULL: Ceph's defaults) */
	uint64_t segment_size;		/* segments cut at this size (0: tier default) */
	struct meta *meta;
	struct tier *tiers[TIER_COUNT];
	int lock_fd;
};

/* Seconds a request to a RADOS tier may wait for the cluster, by default. */
#define STORE_RADOS_TIMEOUT	30

/* Choices for store_mkfs_opts and store_open_opts; NULL or 0 fields take
 * what aifs.conf says, else the defaults. */
struct store_opts {
	const char *cold;		/* cold tier: a directory or rados:POOL[/NAME] */
	const char *data;		/* mkfs: hot tier (all new data) in rados:POOL[/NAME] */
	uint64_t segment_size;		/* mkfs: segments of at most this size */
	const char *ceph_conf;		/* ceph.conf of the cluster */
	const char *ceph_user;		/* Ceph user */
	int rados_timeout;		/* seconds (0: wait forever; < 0: the default) */
	int64_t cache_size;		/* bytes of STORE/cache for data in RADOS (0: the
					 * default, < 0: none) */
	const char *mnt;		/* mount point, named in the RADOS lock */
	bool follower;			/* a replica of a store in RADOS: its metadata
					 * written here, its data read only, the
					 * pool's lock left to the writer */
};

/* Create a new store at PATH (an absent or empty directory) with its root
 * directory inode.  COLD is the cold tier directory or NULL for STORE/cold.
 * On failure ERR holds one line for the user. */
int store_mkfs(const char *path, const char *cold, char *err, size_t errlen);
/* The same with segments of at most SEGMENT_SIZE bytes (0: the default). */
int store_mkfs_seg(const char *path, const char *cold, uint64_t segment_size, char *err,
		   size_t errlen);

/* Create a store with the choices O (data, cold, segment_size, ceph_conf,
 * ceph_user are recorded in aifs.conf).  A RADOS tier's namespace must be
 * empty; NAME defaults to the new store's uuid.  With O->data and no
 * O->cold, both tiers share the data tier's namespace. */
int store_mkfs_opts(const char *path, const struct store_opts *o, char *err, size_t errlen);

/* Make S's format FORMAT: aifs.conf first, then the metadata (a store
 * whose aifs.conf is one ahead of its metadata is an upgrade cut short
 * there, which opening completes). */
int store_set_format(struct store *s, uint32_t format);

/* Open the store at PATH with the choices O (mount options), taking its
 * lock and, for a RADOS tier, the store's lock in the pool. */
int store_open_opts(const char *path, const struct store_opts *o, struct store **out,
		    char *err, size_t errlen);

/* Break the lock in the pool of the RADOS tier of the (unmounted) store
 * PATH, reporting each holder to REPORT.  The number broken, or a negative
 * errno with ERR set. */
int store_rados_unlock(const char *path, const struct store_opts *o,
		       void (*report)(void *ctx, const char *who), void *ctx, char *err,
		       size_t errlen);

/* Open the store at PATH, taking its lock.  *OUT is freed by store_close. */
int store_open(const char *path, struct store **out, char *err, size_t errlen);

/* The same, with the cold tier in directory COLD (when not NULL) instead
 * of the one aifs.conf names (mount option cold=PATH). */
int store_open_cold(const char *path, const char *cold, struct store **out, char *err,
		    size_t errlen);

/* Open the store at PATH for reading only, while it may be mounted: no
 * lock is taken and nothing may be written through *OUT. */
int store_open_readonly(const char *path, struct store **out, char *err, size_t errlen);

/* Open the store at PATH (cold tier in COLD when not NULL) on read-only
 * media, for a read-only mount or check: a shared lock keeps writers out
 * (and is refused while one holds the store), nothing may be written
 * through *OUT, and nothing left by a crash is undone. */
int store_open_ro(const char *path, const char *cold, struct store **out, char *err,
		  size_t errlen);

/* Record in the lock file that the store is mounted on MNT: a later
 * store_open that finds the lock held by a holder whose MNT is no longer
 * mounted waits (up to 10 s) for it to exit instead of refusing.
 * 0 or -errno. */
int store_lock_mounted(struct store *s, const char *mnt);

/* Close everything and release the lock. */
void store_close(struct store *s);

#endif
