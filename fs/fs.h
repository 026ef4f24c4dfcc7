/* fs.h — the aifs daemon's shared types (fs/ only): the daemon state
 * (struct fs), the in-memory inode (struct inode) and its extent map, and
 * the mount options.  Every file of fs/ includes it; each module declares
 * its functions in the header beside it:
 *
 *   core         sb.h (strings), hooks.h (the features' hooks and slots),
 *                commit.h (fs_commit),
 *                extmap.h, prealloc.h, data.h (content), inode.h (the
 *                inode table), space.h, path.h
 *   permissions  access.h, acl.h
 *   features     content.h, version.h, snapshot.h, lineage.h, journal.h,
 *                migrate.h (tiering), shipping.h
 *   adapter      ops.h (handlers), xattr.h (the tables of xattr names),
 *                virt.h (.aifs views), stats.h, tierctl.h, du.h, clone.h,
 *                inval.h (and main.c)
 *
 * Calls go down this list (README, "Source tree", orders the files): the
 * adapter calls features, the permission checks and the core, features
 * call the permission checks and the core, and the core calls features
 * only through the hooks they register (hooks.h), which also tell the
 * feature that claims a file of its opens, changes and closes; versions
 * publish to lineage, tiering and the views through struct version_events
 * (version.h); the modules that serve user.aifs.* names register tables
 * that xattr.c dispatches (xattr.h).  Only the adapter, the permission
 * checks and the features whose functions take a request include libfuse
 * (fuseapi.h).  A feature keeps its state of an inode in the inode's slot
 * for it (fs_slot: the journal's pending records; the write session of
 * versions and the name a checkpoint file was last looked up by).
 *
 * Invariants:
 * - A struct inode exists in the table while the kernel holds lookups on
 *   it (nlookup), it is open (nopen), or a handler holds a reference
 *   (refs).  Its attr is the authoritative copy of the inode; every change
 *   is written through to meta/ in the same batch as the rest of the
 *   operation.
 * - An inode with nlink == 0 has an orphan record until it is purged,
 *   which happens when nlookup and nopen both reach zero (or at the next
 *   mount).
 * - Lock order: fs->ns (namespace, rwlock) -> inode->lock (lower ino
 *   first when two) -> fs->itab_lock, fs->seg_lock (leaves).  The lock
 *   calls of fs/ go through the lock watchdog (lockwd.h, included last),
 *   which logs a wait of more than a few seconds with who holds the lock.
 * - No handler, and nothing under an aifs lock, sends the kernel a
 *   notification: invalidations are queued (inval.h).
 * - File content = extents (immutable, in tiers) overlaid by the inode's
 *   buffer in flight (a full write buffer being stored, data.c), then by
 *   its write buffer [wb_off, wb_off + wb_len), which is newer.
 * - A file of at most FS_INLINE_MAX bytes with no extents lives inline in
 *   its 'N' record (META_IF_INLINE); once loaded, that content is the
 *   write buffer [0, size), clean until written to.
 * - The failure state: memory (inode attributes, link counts, purge marks,
 *   extent maps, space counts, writer counts) changes only after the commit
 *   that makes the change durable returned 0, or is put back when it did
 *   not: save the attributes before and restore them, hold space_unref
 *   back between space_defer_begin and space_defer_end (store the write
 *   buffer first: its own commit is not the deferred one; deferrals do
 *   not nest), and reload a map that was changed ahead of its batch
 *   (fs_content_reload).  A failed commit leaves the store as it was, so
 *   memory must say the same.
 */
#ifndef AIFS_FS_H
#define AIFS_FS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "meta/meta.h"
#include "meta/store.h"
#include "tier/log.h"
#include "tier/tier.h"

struct fs_feature_ops;
struct fs_flight;
struct fs_xattr;
struct fuse_session;
struct version_events;

#define FS_WB_CAP	(4u << 20)	/* write buffer: largest gathered extent */
#define FS_MAX_WRITE	(1u << 20)
#define FS_INLINE_MAX	4096u		/* files up to this size live in metadata */
#define FS_MAX_SIZE	(1ull << 62)	/* largest file size: write, truncate, fallocate */
#define FS_VIRT_BIT	(1ull << 63)	/* node ids of the hidden .aifs views */
#define FS_VIRT_NAME	".aifs"
#define FS_FEATURES_MAX	8		/* features registered (hooks.h) */
#define FS_XATTR_TABLES	12		/* tables of xattr names registered (xattr.h) */


/* Checksums shared by all pieces of one stored extent. */
struct crcs {
	uint32_t refs;
	uint32_t n;
	uint32_t c[];
};

/* One piece of a file's extent map (see struct meta_extent). */
struct ext {
	uint64_t foff;
	uint64_t len;
	uint32_t inner;
	struct tier_ref ref;
	struct crcs *crcs;
};

struct extmap {
	struct ext *v;
	size_t n, cap;
};

struct inode {
	uint64_t ino;
	struct inode *hnext;		/* hash chain, under itab_lock */
	uint64_t nlookup;		/* under itab_lock */
	uint32_t nopen;			/* under itab_lock */
	uint32_t refs;			/* under itab_lock */
	uint64_t parent;		/* last known parent (of the name last looked up) */
	pthread_rwlock_t lock;		/* attr, map, write buffer */
	struct meta_inode attr;
	bool map_loaded;
	struct extmap map;
	char *wbuf;			/* FS_WB_CAP bytes once written to */
	uint64_t wb_off;
	uint32_t wb_len;
	uint32_t wb_cap;
	bool wb_dirty;			/* the buffer holds bytes not stored yet */
	char *wb_spare;			/* a free FS_WB_CAP buffer, or NULL */
	struct fs_flight *flight;	/* a full buffer being stored (data.c), or NULL */
	bool dirty;			/* data written since the last fsync */
	uint32_t nwriters;		/* opens with write access */
	uint32_t nheld;			/* of which followers' journal sessions
					 * the writer holds (fwdserve.c) */
	uint32_t ncached;		/* open handles through the page cache */
	bool kpages;			/* the kernel may hold pages of the file */
	int werr;			/* -errno of a store at release, for fsync */
	void *slot[FS_FEATURES_MAX];	/* each feature's state of it (hooks.h) */
	bool purged;			/* records deleted at unlink; only the in-memory
					 * map (and the space it holds) is left */
	uint64_t prealloc;		/* bytes reserved by fallocate, not yet written */
	uint64_t prealloc_next;		/* its value once the staged batch commits */
};

struct fs_opts {
	int foreground, debug, single;
	int log_level;
	unsigned max_threads;
	unsigned spin_us;		/* a worker's spin for the next request (fuseio.h) */
	double attr_timeout, entry_timeout;
	int codec;
	unsigned keep_versions;		/* 0: keep every version */
	unsigned keep_every;		/* also keep every K-th version (0: none) */
	bool dir_versions_manual;	/* no directory commit but on request (layouts.c) */
	double audit_retention_days;	/* journal files kept at least this long */
	int audit_compliance;		/* 1: nobody may lift retention */
	long audit_admin_gid;		/* places and lifts legal holds (-1: root only) */
	unsigned audit_leaves, audit_secs;	/* sign a checkpoint this often */
	char *audit_witness;		/* command given each new checkpoint, or NULL */
	unsigned readahead_kb;		/* kernel read-ahead of the mount (0: its default) */
	bool lineage_off;		/* no lineage capture (-o lineage=off) */
	bool remote_sync;		/* durable commits wait for shipping (-o remote_sync=on) */
	char *cold;			/* cold tier directory given at mount, or NULL */
	int cold_codec;			/* codec of extents written to the cold tier */
	double migrate_bw;		/* MB/s of migration and gc writes (0: no limit) */
	unsigned cold_after_versions;	/* versions older than the newest K go cold (0: off) */
	double cold_after_days;		/* snapshots, sealed journals unused D days go cold */
	double tier_interval;		/* seconds between policy runs */
	bool ro;			/* mounted with -o ro */
	bool write_behind;		/* a full write buffer is stored after the reply */
	double reserve_mb;		/* reserve=MB, or -1 for the default */
	bool store_ro;			/* the store is on read-only media: the
					 * daemon writes nothing to it */
	unsigned journal_lease;		/* the writer: seconds a silent follower's journal
					 * session is held before the file is sealed */
	unsigned forward_timeout;	/* a follower's writes: seconds the writer
					 * has to answer (fwd.c) */
};

struct fs {
	struct store *store;
	struct meta *meta;
	struct tier *const *tiers;
	struct fs_opts opt;
	pthread_rwlock_t ns;
	pthread_mutex_t itab_lock;
	struct inode **itab;
	size_t itab_size, itab_count;
	pthread_mutex_t ino_lock;
	uint64_t next_ino;
	pthread_mutex_t flight_lock;		/* struct fs_flight's state (a leaf) */
	pthread_cond_t flight_done;
	struct space *space;			/* space.c */
	uint64_t prealloc_total;		/* every inode's prealloc (atomic) */
	struct journal *journal;		/* journal.c */
	struct migrate *mig;			/* migrate.c */
	struct shipper *shipper;		/* shipping.c */
	struct fwd_server *fwd_server;		/* fwdserve.c: followers' writes */
	struct fuse_session *se;
	const struct fs_feature_ops *features[FS_FEATURES_MAX];	/* hooks.h */
	unsigned nfeatures;
	const struct fs_xattr *xattrs[FS_XATTR_TABLES];	/* xattr.h */
	unsigned nxattrs;
	const struct version_events *version_subs[4];	/* version.h */
	unsigned nversion_subs;
	uint64_t reserve;			/* bytes kept free on the store's disk */
};

#include "fs/lockwd.h"

#endif
