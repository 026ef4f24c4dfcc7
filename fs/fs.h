/* fs.h — the aifs daemon's internal interface (fs/ only).
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
 *   first when two) -> fs->itab_lock, fs->seg_lock (leaves).
 * - File content = extents (immutable, in tiers) overlaid by the inode's
 *   write buffer [wb_off, wb_off + wb_len), which is newer.
 */
#ifndef AIFS_FS_H
#define AIFS_FS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "meta/meta.h"
#include "meta/store.h"
#include "tier/log.h"
#include "tier/tier.h"

#define FS_WB_CAP	(4u << 20)	/* write buffer: largest gathered extent */
#define FS_MAX_WRITE	(1u << 20)
#define FS_VIRT_BIT	(1ull << 63)	/* node ids of the hidden .aifs views */
#define FS_VIRT_NAME	".aifs"

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
	uint64_t parent;		/* directories: last known parent */
	pthread_rwlock_t lock;		/* attr, map, write buffer */
	struct meta_inode attr;
	bool map_loaded;
	struct extmap map;
	char *wbuf;			/* FS_WB_CAP bytes once written to */
	uint64_t wb_off;
	uint32_t wb_len;
	uint32_t wb_cap;
	bool dirty;			/* data written since the last fsync */
};

struct fs_opts {
	int foreground, debug, single;
	int log_level;
	unsigned max_threads;
	double attr_timeout, entry_timeout;
	int codec;
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
	pthread_mutex_t seg_lock;		/* the fields below */
	uint64_t *segrefs[TIER_COUNT];		/* extent records per segment */
	size_t nsegs[TIER_COUNT];
	uint32_t appending;			/* appends in flight */
	uint32_t *segfree;			/* candidates: (tier << 31) | seg */
	size_t nsegfree, capsegfree;
	struct discard *discards;		/* dead extent bytes to give back */
	size_t ndiscards, capdiscards;
	pthread_t reclaimer;
	pthread_cond_t reclaim_cond;
	bool reclaimer_running, reclaim_stop;
};

extern struct fs *the_fs;

/* time */
int64_t fs_now(void);

/* inode.c — the inode table */
int fs_itab_init(struct fs *fs);
void fs_itab_destroy(struct fs *fs);
/* Get a referenced inode (loaded from meta/ if needed); -ENOENT if absent. */
int inode_get(struct fs *fs, uint64_t ino, struct inode **out);
/* Insert a newly created inode (refs = 1). */
struct inode *inode_new(struct fs *fs, const struct meta_inode *attr);
/* Drop a handler reference; may purge an unlinked inode. */
void inode_put(struct fs *fs, struct inode *in);
/* Count a kernel lookup / open on IN (caller holds a reference). */
void inode_lookup_inc(struct fs *fs, struct inode *in, uint64_t n);
void inode_open_inc(struct fs *fs, struct inode *in);
/* Forget N lookups / close one open; may purge. */
void inode_forget(struct fs *fs, uint64_t ino, uint64_t n);
void inode_open_dec(struct fs *fs, struct inode *in);
/* Allocate a new inode number. */
uint64_t fs_ino_alloc(struct fs *fs);
/* Purge inodes left orphaned by an earlier mount. */
int fs_orphans_reap(struct fs *fs);
/* Fill ST from IN's attributes (caller holds IN's lock). */
void inode_stat(const struct inode *in, struct stat *st);
/* Persist IN's attributes into B (caller holds IN's lock for writing). */
void inode_save(struct meta_batch *b, struct inode *in);

/* data.c — content */
int fs_segs_init(struct fs *fs);
/* Callers hold IN's lock for writing except fs_read (reading suffices
 * once fs_map_load has run). */
int fs_map_load(struct fs *fs, struct inode *in);
int fs_write(struct fs *fs, struct inode *in, const char *buf, size_t size, uint64_t off);
int fs_read(struct fs *fs, struct inode *in, char *dst, size_t size, uint64_t off,
	    size_t *got);
int fs_flush(struct fs *fs, struct inode *in);
/* Make IN's content and all metadata durable. */
int fs_sync(struct fs *fs, struct inode *in);
/* Remove content in [off, off+len) (len UINT64_MAX: to the end) into B. */
int fs_punch(struct fs *fs, struct inode *in, struct meta_batch *b, uint64_t off,
	     uint64_t len);
/* Forget IN's content: all extents and buffer (for purge), into B. */
void fs_content_drop(struct fs *fs, struct inode *in, struct meta_batch *b);
/* Commit B (durably with SYNC). */
int fs_commit(struct fs *fs, struct meta_batch *b, bool sync);
/* Start / stop the background thread that gives back the space of dead
 * extents and empty segments once the metadata dropping them is durable. */
int fs_reclaimer_start(struct fs *fs);
void fs_reclaimer_stop(struct fs *fs);
void fs_wbuf_free(struct inode *in);
void fs_map_free(struct extmap *m);

/* per-thread scratch buffer of at least LEN bytes (never freed by caller) */
char *fs_scratch(size_t len);

/* virt.c — the hidden .aifs directories */
void virt_init(void);
bool virt_is(uint64_t ino);
void virt_stat(uint64_t ino, struct stat *st);
/* Entry for NAME in PARENT if it is a virtual name; -ENOENT if not. */
int virt_lookup(struct fs *fs, uint64_t parent, const char *name,
		struct fuse_entry_param *e);

/* dir.c, readdir.c, ops.c */
const struct fuse_lowlevel_ops *fs_ops_table(void);
void fs_dir_ops(struct fuse_lowlevel_ops *ops);
void fs_readdir_ops(struct fuse_lowlevel_ops *ops);
/* Fill E for IN (caller holds IN's lock). */
void fs_entry(struct fs *fs, struct inode *in, struct fuse_entry_param *e);
/* Create regular file NAME in PARENT; *OUT is referenced. */
int fs_create_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		   struct inode **out);

#endif
