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
 *   first when two) -> fs->itab_lock, fs->seg_lock (leaves).  The lock
 *   calls of fs/ go through the lock watchdog (lockwd.h, included last),
 *   which logs a wait of more than a few seconds with who holds the lock.
 * - No handler, and nothing under an aifs lock, sends the kernel a
 *   notification: invalidations are queued (inval.h).
 * - File content = extents (immutable, in tiers) overlaid by the inode's
 *   write buffer [wb_off, wb_off + wb_len), which is newer.
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
#define FS_INLINE_MAX	4096u		/* files up to this size live in metadata */
#define FS_MAX_SIZE	(1ull << 62)	/* largest file size: write, truncate, fallocate */
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
	bool dirty;			/* data written since the last fsync */
	uint32_t nwriters;		/* opens with write access */
	uint32_t ncached;		/* open handles through the page cache */
	bool kpages;			/* the kernel may hold pages of the file */
	int werr;			/* -errno of a store at release, for fsync */
	char *jpath;			/* journal file: its recorded path */
	struct jleaf *jpend;		/* its writes not yet stored (journal.c) */
	size_t njpend, capjpend;
	uint32_t juid, jpid;		/* its creator or last writer, whom the */
	char jcomm[16];			/* seal names (a release has no caller) */
	uint64_t lparent;		/* checkpoint file: last name looked up */
	char *lname;
	bool name_hidden;		/* the session has written: lookups of the
					 * name answer with the last version */
	bool closing;			/* a writer closed since the session last
					 * wrote: the release that ends it may be
					 * on its way (version_lookup waits) */
	bool purged;			/* records deleted at unlink; only the in-memory
					 * map (and the space it holds) is left */
	struct session *sess;		/* checkpoint write session (version.c) */
	uint64_t prealloc;		/* bytes reserved by fallocate, not yet written */
	uint64_t prealloc_next;		/* its value once the staged batch commits */
};

struct fs_opts {
	int foreground, debug, single;
	int log_level;
	unsigned max_threads;
	double attr_timeout, entry_timeout;
	int codec;
	unsigned keep_versions;		/* 0: keep every version */
	unsigned keep_every;		/* also keep every K-th version (0: none) */
	double audit_retention_days;	/* journal files kept at least this long */
	int audit_compliance;		/* 1: nobody may lift retention */
	long audit_admin_gid;		/* places and lifts legal holds (-1: root only) */
	unsigned audit_leaves, audit_secs;	/* sign a checkpoint this often */
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
	double reserve_mb;		/* reserve=MB, or -1 for the default */
	bool store_ro;			/* the store is on read-only media: the
					 * daemon writes nothing to it */
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
	struct space *space;			/* space.c */
	uint64_t prealloc_total;		/* every inode's prealloc (atomic) */
	struct journal *journal;		/* journal.c */
	struct migrate *mig;			/* migrate.c */
	struct shipper *shipper;		/* shipping.c */
	struct fuse_session *se;
	uint64_t reserve;			/* bytes kept free on the store's disk */
};

extern struct fs *the_fs;

/* time */
int64_t fs_now(void);

/* inode.c — the inode table */
int fs_itab_init(struct fs *fs);
void fs_itab_destroy(struct fs *fs);
/* Get a referenced inode (loaded from meta/ if needed); -ENOENT if absent. */
int inode_get(struct fs *fs, uint64_t ino, struct inode **out);
/* IN if it is loaded (referenced), else NULL; never reads meta/. */
struct inode *inode_peek(struct fs *fs, uint64_t ino);
/* Insert a newly created inode (refs = 1). */
struct inode *inode_new(struct fs *fs, const struct meta_inode *attr);
/* Drop a handler reference; may purge an unlinked inode. */
void inode_put(struct fs *fs, struct inode *in);
/* Count a kernel lookup / open on IN (caller holds a reference). */
void inode_lookup_inc(struct fs *fs, struct inode *in, uint64_t n);
void inode_open_inc(struct fs *fs, struct inode *in);
/* Delete IN's records in B at its last unlink if nothing has it open;
 * true if done (the caller then does not save IN). */
bool inode_purge_at_unlink(struct fs *fs, struct inode *in, struct meta_batch *b);
/* The same for an inode removed otherwise (a dropped snapshot tree), any
 * link count; the caller holds IN's lock. */
bool inode_purge_now(struct fs *fs, struct inode *in, struct meta_batch *b);
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
/* --- space reserved by fallocate (prealloc.c) ---------------------------
 * A reservation is a byte count per inode ('r' record, META_IF_PREALLOC),
 * not a set of ranges: fallocate adds the bytes of its range that no
 * extent holds, writes of new bytes consume it, truncation below the
 * reserved bytes and deletion give it back.  The store holds the sum back
 * from everyone else: statfs, other fallocates and unreserved writes see
 * only the free space beyond it.
 *
 * Each change is staged into a batch (prealloc_next) and becomes the
 * in-memory value only by prealloc_apply after that batch committed. */
/* Bytes of [OFF, END) of IN (map loaded) that its extents or its inline
 * content hold. */
uint64_t fs_map_covered(const struct inode *in, uint64_t off, uint64_t end);
int prealloc_init(struct fs *fs);
int prealloc_load(struct fs *fs, struct inode *in);
/* Stage fallocate of [OFF, OFF+LEN) of IN (locked, flushed, map loaded);
 * -ENOSPC when the free space beyond all reservations is short. */
int prealloc_add(struct fs *fs, struct inode *in, struct meta_batch *b, uint64_t off,
		 uint64_t len);
/* Stage IN's reservation after truncation to SIZE. */
void prealloc_trim(struct inode *in, struct meta_batch *b, uint64_t size);
/* Before storing LEN new bytes at OFF of IN (map loaded): -ENOSPC if they
 * would eat into other files' reservations; stages what they consume. */
int prealloc_write(struct fs *fs, struct inode *in, struct meta_batch *b, uint64_t off,
		   uint64_t len);
/* The staged value is now durable (its batch committed). */
void prealloc_apply(struct fs *fs, struct inode *in);
/* IN's content is being deleted in B: its reservation goes back. */
void prealloc_drop(struct fs *fs, struct inode *in, struct meta_batch *b);
/* Free bytes of the hot tier beyond every reservation. */
uint64_t prealloc_avail(struct fs *fs, uint64_t avail);

int fs_punch(struct fs *fs, struct inode *in, struct meta_batch *b, uint64_t off,
	     uint64_t len);
/* Forget IN's content: all extents and buffer (for purge), into B. */
void fs_content_drop(struct fs *fs, struct inode *in, struct meta_batch *b);
/* A commit of a change to IN's content failed: forget its in-memory map
 * and clean buffer, so that the next access loads what is committed (IN
 * locked; its dirty buffer, if any, is kept). */
void fs_content_reload(struct inode *in);
/* Commit B (durably with SYNC). */
int fs_commit(struct fs *fs, struct meta_batch *b, bool sync);

/* space.c — who references which stored extent, and giving space back.
 * A record referencing an extent is counted with space_ref and uncounted
 * with space_unref; when no record references an extent any more, its
 * blocks are freed (and its segment removed once empty) by a background
 * thread, after the metadata that dropped it is durable.  With UNIQUE the
 * caller knows nothing else uses the decoded range [inner, inner+len) of
 * the removed record (plain areas share no extents), so that range is
 * freed at once even if other pieces of the extent live on. */
int space_init(struct fs *fs);
/* Whether IN's extents are its own alone: a plain file's, unless it was
 * ever given or gave shared ones (META_IF_SHARED: promote, copy_file_range);
 * then what it removes is freed at once (space_unref's UNIQUE). */
static inline bool fs_extents_unique(const struct inode *in)
{
	return in->attr.policy == META_AREA_PLAIN && !(in->attr.flags & META_IF_SHARED);
}
void space_ref(struct fs *fs, const struct tier_ref *r);
void space_unref(struct fs *fs, const struct tier_ref *r, uint32_t inner, uint64_t len,
		 bool unique);
/* A batch that may fail to commit: between space_defer_begin and
 * space_defer_end this thread's space_unref calls are held back, and its
 * space_ref calls remembered.  End applies the unrefs if COMMITTED, else
 * undoes the refs: the counts stay those of the records on disk. */
void space_defer_begin(void);
void space_defer_end(struct fs *fs, bool committed);
/* Bracket a tier append; REF is the new extent (counted once) or NULL. */
void space_append_begin(struct fs *fs);
void space_append_end(struct fs *fs, const struct tier_ref *ref);
int space_reclaimer_start(struct fs *fs);
/* Give back what is queued now (what the reclaim thread does each second). */
void space_reclaim_now(struct fs *fs);
/* A counted stored extent. */
struct space_extent {
	uint8_t tier;
	uint32_t seg;
	uint64_t off;
	uint32_t len;		/* stored bytes */
};
/* Every counted extent, sorted by tier, segment, offset (malloc'd into
 * *OUT), and each tier's active segment and its size at that moment
 * (extents counted later lie past that); -EAGAIN while an append is in
 * flight. */
int space_extents(struct fs *fs, struct space_extent **out, size_t *n,
		  uint32_t active[TIER_COUNT], uint64_t active_size[TIER_COUNT]);
/* Free the stored bytes that no counted extent covers: gaps between
 * extents are punched out, segments with none are removed (a crash can
 * leave such bytes: appended, never committed).  -EAGAIN while an append
 * is in flight. */
int space_sweep(struct fs *fs);
void space_reclaimer_stop(struct fs *fs);
/* -ENOSPC when the store's disk has less than half the reserve free: an
 * operation that adds metadata (a name, an attribute) is refused then, so
 * that what is left keeps deletes and commits working. */
int space_meta_room(struct fs *fs);

/* Checksums shared by map pieces: a new set (refs 1), dropping one ref. */
struct crcs *crcs_new(const uint32_t *c, uint32_t n);
void crcs_put(struct crcs *k);
/* Compare-and-swap on IN's map (IN locked for writing): each piece OLD[i]
 * still in the map exactly as it was is replaced by REPL[i] (same file
 * range and bytes, stored elsewhere; counted here), all in one durable
 * batch.  Returns how many were replaced, or a negative errno (then none). */
int fs_map_replace(struct fs *fs, struct inode *in, const struct ext *old,
		   const struct ext *repl, size_t n);

void fs_wbuf_free(struct inode *in);
/* Make IN's write buffer hold at least NEED bytes (0 or -ENOMEM). */
int fs_wbuf_grow(struct inode *in, uint32_t need);
/* Index of the first piece of M that ends after OFF. */
size_t fs_map_find(const struct extmap *m, uint64_t off);
/* Remove [OFF, END) from IN's loaded map, recording the change in B. */
int fs_map_punch(struct fs *fs, struct inode *in, struct meta_batch *b, uint64_t off,
		 uint64_t end);
/* Put extent E (already counted by space_ref) at its place in IN's map. */
int fs_map_insert(struct fs *fs, struct inode *in, struct meta_batch *b, const struct ext *e);
/* Add IN's extent pieces as the extents of inode DST (same offsets). */
int fs_map_clone_to(struct fs *fs, struct inode *in, struct meta_batch *b, uint64_t dst);
/* Insert the extents of inode SRC into IN's (emptied) map. */
int fs_map_copy_from(struct fs *fs, struct inode *in, struct meta_batch *b, uint64_t src);
/* Make [DOFF, DOFF+LEN) of DST share the pieces of [SOFF, SOFF+LEN) of
 * SRC (holes stay holes), into B: DST's pieces there are dropped.  Both
 * locked for writing, flushed, maps loaded, not inline; SRC may be DST
 * with the ranges apart; a plain file among them is marked META_IF_SHARED
 * by the caller.  Call it between space_defer_begin and space_defer_end. */
int fs_map_share(struct fs *fs, struct inode *dst, struct meta_batch *b, uint64_t doff,
		 const struct inode *src, uint64_t soff, uint64_t len);
/* copy_file_range between open files of IN and OUT: shares extents (see
 * reflink.c); bytes done, or -EOPNOTSUPP for the kernel to copy bytes. */
ssize_t fs_reflink(struct fs *fs, fuse_req_t req, struct inode *src, uint64_t soff,
		   struct inode *dst, uint64_t doff, size_t len);
void fs_map_free(struct extmap *m);

/* per-thread scratch buffer of at least LEN bytes (never freed by caller) */
char *fs_scratch(size_t len);

/* version.c — checkpoint versions.  A version is an immutable inode
 * (META_IF_VERSION) sharing the extents of the file at the close that
 * ended a write session; 'V' ino|n records name them. */
struct vrec {
	uint64_t vino;
	int64_t time;
	uint64_t size;
	uint8_t sha[32];
	uint32_t uid, pid;
	char comm[16];
	uint8_t tier, complete, held;
};

/* True if IN is a regular file whose content hash is kept (dataset and
 * checkpoint areas). */
bool content_tracked(const struct inode *in);
/* End a dataset file's session: store the SHA-256 if it was computed as
 * the bytes arrived in order (else it is computed when first asked). */
int content_commit(struct fs *fs, struct inode *in);
/* SHA-256 of IN's current content (IN locked; computed and stored if the
 * stored one is stale). */
int content_sha(struct fs *fs, struct inode *in, uint8_t sha[32]);
/* Delete INO's stored hash into B (the inode is purged). */
void content_forget(struct meta_batch *b, uint64_t ino);
/* Copy the stored hash of SRC to DST into B (snapshots). */
void content_copy_hash(struct fs *fs, struct meta_batch *b, uint64_t src, uint64_t dst);
/* Is IN's content (locked, map loaded) whole by its format: a zip of
 * torch.save or a safetensors file that ends where its index says; any
 * other content is whole. */
bool content_whole(struct fs *fs, struct inode *in);
/* True if version inode VINO is a zip or safetensors file (formats whose
 * saves are never empty); false when it cannot be read. */
bool content_known_format(struct fs *fs, uint64_t vino);
/* True if IN is a regular file whose writes make versions. */
bool version_tracked(const struct inode *in);
/* Note a modification of IN (locked) by REQ's process: starts a session. */
void version_modify(fuse_req_t req, struct inode *in);
/* True if IN's session has written data (not only truncated). */
bool version_wrote(const struct inode *in);
/* IN's size is set to SIZE within its session. */
void version_truncate(struct inode *in, uint64_t size);
/* Lookup of NAME in PARENT found checkpoint file IN (referenced): during
 * a write session that has written or truncated (version_hide_name),
 * answer with its newest complete version instead, so that new openers
 * see that version's bytes and size; returns the inode to reply with
 * (referenced).  Remembers the name. */
struct inode *version_lookup(struct fs *fs, struct inode *in, uint64_t parent,
			     const char *name);
/* IN's session has begun: have the kernel drop its cached name of IN (a
 * hint, queued: inval.h; the name is not cached anyway, see fs_entry, so
 * the next lookup comes to version_lookup). */
void version_hide_name(struct fs *fs, struct inode *in);
/* Feed written bytes to the session's running SHA-256. */
void version_hash(struct inode *in, const char *buf, size_t size, uint64_t off);
/* End IN's session (IN locked; last writer gone): commit version N+1.
 * Returns 1 if the version was torn and IN went back to the last good
 * content (the caller drops the kernel's cached pages), 0, or -errno. */
int version_commit(struct fs *fs, struct inode *in);
/* Version N of INO (N 0: the newest complete one); -ENOENT if none. */
int version_get(struct fs *fs, uint64_t ino, uint32_t n, struct vrec *out, uint32_t *nout);
/* Call FN for each version of INO in order. */
int version_foreach(struct fs *fs, uint64_t ino,
		    int (*fn)(void *ctx, uint32_t n, const struct vrec *v), void *ctx);
/* Which (file, n) version inode VINO is. */
int version_owner(struct fs *fs, uint64_t vino, uint64_t *ino, uint32_t *n);
/* Holds on a version (EBUSY when deleting its file); tags listed in BUF. */
int version_hold(struct fs *fs, struct inode *vin, const char *tag, size_t len, bool on);
int version_holds(struct fs *fs, uint64_t vino, char *buf, size_t len);
/* True if a version of checkpoint file INO is held. */
bool version_file_held(struct fs *fs, uint64_t ino);
/* user.aifs.retain="last=N[,every=K]" on a directory: how many versions
 * of its checkpoint files are kept (overrides keep_versions/keep_every). */
int version_retain_set(struct fs *fs, struct inode *dir, const char *value, size_t size);
/* Make version N of IN its newest version again (a new version sharing
 * N's data). */
int version_restore(struct fs *fs, fuse_req_t req, struct inode *in, uint32_t n);
/* Commit a version of checkpoint directory DIR: a frozen copy of its tree
 * sharing all data (takes the namespace lock; call with no inode locked). */
int version_dir_commit(struct fs *fs, uint64_t dir, uint32_t uid, uint32_t pid);
/* Drop every version of directory DIR into B (namespace locked); *HELD are
 * inodes to put after B is committed. */
int version_dir_drop_all(struct fs *fs, struct meta_batch *b, uint64_t dir,
			 struct inode ***held, size_t *nheld);
/* At mount: undo the saves a crash cut short (their files go back to
 * their newest complete version). */
int version_recover(struct fs *fs);
/* Drop every version of INO (the file is being purged). */
void version_drop_all(struct fs *fs, uint64_t ino);
/* rename(SRC over DST): DST's history continues on SRC, into B. */
int version_rename(struct fs *fs, struct meta_batch *b, uint64_t src, uint64_t dst);
/* Value of a user.aifs.* attribute of IN into BUF (LEN); -ENODATA if none. */
int version_xattr(struct fs *fs, struct inode *in, const char *name, char *buf, size_t len);
void version_session_free(struct inode *in);

/* snapshot.c — dataset snapshots ('P' ds|tag records). */
struct snapinfo {
	uint64_t root;		/* root directory inode of the frozen tree */
	int64_t time;
	uint64_t files, bytes;
};
/* A file of the snapshot with root ROOT is opened for reading. */
void snapshot_used(struct fs *fs, uint64_t root);
/* When the snapshot was last used: its creation, or the last open of one of
 * its files for reading (to the grain snapshot_used keeps). */
int64_t snapshot_last_used(struct fs *fs, const struct snapinfo *si);
/* Freeze the tree under dataset directory DS as TAG; *ROOT is its root. */
int snapshot_create(struct fs *fs, uint64_t ds, const char *tag, uint32_t uid, uint64_t *root);
/* Path of directory INO from the mount root, without a leading slash ("" for
 * the root), through the parents the inode table knows; -ENOENT if one is
 * unknown (lineage.c). */
int fs_dir_path(struct fs *fs, uint64_t ino, char *buf, size_t len);
/* Files the snapshot being made has copied so far (0: none is being made). */
uint64_t snapshot_progress(void);
int snapshot_delete(struct fs *fs, uint64_t ds, const char *tag, uint32_t uid);
int snapshot_get(struct fs *fs, uint64_t ds, const char *tag, struct snapinfo *si);
/* Which snapshot (dataset DS, TAG of at most LEN - 1 bytes) ROOT is the root of. */
int snapshot_find_root(struct fs *fs, uint64_t root, uint64_t *ds, char *tag, size_t len,
		       struct snapinfo *si);
int snapshot_foreach(struct fs *fs, uint64_t ds,
		     int (*fn)(void *ctx, const char *tag, size_t len, const struct snapinfo *si),
		     void *ctx);

/* journal.c — journal areas: append-only files, signed Merkle log. */
int journal_init(struct fs *fs);
int journal_start(struct fs *fs);
void journal_stop(struct fs *fs);
/* True if IN is a file of a journal area. */
bool journal_file(const struct inode *in);
/* 0 if a write at OFF may go to journal file IN, else -EPERM. */
int journal_check_write(struct inode *in, uint64_t off);
/* The records of IN's buffered writes go into B (journal lock taken),
 * then into the log if B was committed (RC 0); IN locked. */
void journal_records_begin(struct fs *fs, struct inode *in, struct meta_batch *b);
void journal_records_end(struct fs *fs, struct inode *in, int rc);
/* Record a create / a write / the seal of journal file IN. */
void journal_created(struct fs *fs, fuse_req_t req, uint64_t parent, const char *name,
		     struct inode *in);
int journal_wrote(struct fs *fs, fuse_req_t req, struct inode *in, const char *buf,
		  size_t size, uint64_t off);
int journal_seal(struct fs *fs, fuse_req_t req, struct inode *in);
/* 0 if IN may be changed, unlinked or renamed (not a journal file, or its
 * retention is over and no hold is on it), else -EPERM. */
int journal_may_change(struct fs *fs, struct inode *in);
/* user.aifs.sealed (true|false), user.aifs.retain_until (UTC time, or
 * "unsealed", "released"), user.aifs.retention_mode and user.aifs.holds
 * (comma-separated tags) of journal file IN into BUF of LEN bytes: the
 * value's length, or -ENODATA (not a journal file, another name). */
int journal_xattr_get(struct fs *fs, struct inode *in, const char *name, char *buf, size_t len);
/* Holds and release through user.aifs.hold / unhold / release. */
int journal_xattr(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		  const char *value, size_t size);
/* setxattr user.aifs.retention=DAYS on a journal directory: what files
 * created in it afterwards are kept for (owner, root or the audit group
 * lengthen it; only root in governance mode shortens it).  DIR unlocked. */
int journal_dir_retention(struct fs *fs, fuse_req_t req, struct inode *dir, const char *value,
			  size_t size);
/* New journal directory DIR in PARENT: it keeps PARENT's retention. */
void journal_dir_made(struct fs *fs, uint64_t parent, uint64_t dir);
/* Removing a name of journal file IN (locked) in batch B: put its delete
 * record (who, why retention allowed it) into B.
 * The log stays locked until journal_delete_end(FS, RC), called once B's
 * commit returned RC, so the record is in the tree exactly when B is. */
void journal_delete_begin(struct fs *fs, fuse_req_t req, struct inode *in, struct meta_batch *b);
void journal_delete_end(struct fs *fs, int rc);
/* The newest signed checkpoint (malloc'd). */
int journal_checkpoint_text(struct fs *fs, char **text, size_t *len);
/* SHA-256 of IN's whole current content (IN locked, map loadable). */
int content_hash_now(struct fs *fs, struct inode *in, uint8_t sha[32]);

/* Freeze the tree under DIR as a read-only copy rooted at *ROOT, into B;
 * drop such a tree (namespace locked for both). */
int tree_freeze(struct fs *fs, uint64_t dir, struct meta_batch *b, uint64_t *root,
		uint64_t *files, uint64_t *bytes);
int tree_drop(struct fs *fs, uint64_t root, struct meta_batch *b, struct inode ***held,
	      size_t *nheld);

/* stats.c — per-operation counts, bytes and latency. */
/* Return OPS with the instrumented operations wrapped. */
const struct fuse_lowlevel_ops *stats_wrap(const struct fuse_lowlevel_ops *ops);
/* The .aifs/stats document (malloc'd JSON). */
int stats_json(struct fs *fs, char **text, size_t *len);
/* The .aifs/metrics document (malloc'd): the same counters in the
 * Prometheus text exposition format (names documented in aifs(7)). */
int stats_prometheus(struct fs *fs, char **text, size_t *len);
/* Records in the journal's log, and how many are covered by a signature. */
void journal_sizes(struct fs *fs, uint64_t *records, uint64_t *signed_size);

/* virt.c — the hidden .aifs directories */
void virt_init(void);
bool virt_is(uint64_t ino);
void virt_stat(uint64_t ino, struct stat *st);
/* Entry for NAME in PARENT if it is a virtual name; -ENOENT if not.  When
 * the name is a real inode (a version), *REAL is it, referenced. */
int virt_lookup(struct fs *fs, uint64_t parent, const char *name,
		struct fuse_entry_param *e, struct inode **real);
/* Content of view file ID (malloc'd), for open; -EISDIR for directories. */
int virt_open(uint64_t id, char **text, size_t *len);
/* 0 if REQ's caller may list (LIST) or look a name up in view ID, else
 * -EACCES: DIR/.aifs/versions and DIR/.aifs/snapshots list what DIR holds,
 * so listing them needs read and search permission on DIR and looking a
 * name up needs search permission on DIR. */
int virt_access(struct fs *fs, fuse_req_t req, uint64_t id, bool list);
/* Node id of DIR/.aifs/versions/FILE for file INO. */
uint64_t virt_versions_of(uint64_t ino);
/* True if ID is DS/.aifs/snapshots; *DS is then DS. */
bool virt_snapshots_of(uint64_t id, uint64_t *ds);
/* List virtual directory ID through ADD (after "." and ".."). */
int virt_readdir(struct fs *fs, uint64_t id,
		 int (*add)(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type),
		 void *ctx);

/* migrate.c — the tier thread: migration, compaction (gc), policies. */
struct migrate_stats {
	uint64_t queued, jobs_done;
	uint64_t moved_bytes, moved_extents;	/* decoded bytes and extents written */
	uint64_t skipped;		/* pieces changed by a writer meanwhile: left alone */
	uint64_t failed;		/* pieces unreadable (checksum): left alone */
	double secs;			/* spent in migrate jobs */
	int gc_state;			/* 0 never run, 1 running, 2 done, 3 failed */
	uint64_t gc_done, gc_total, gc_reclaimed, gc_runs;
};
/* shipping.c — a store whose data is in RADOS ships its metadata there
 * (a no-op for other stores); stop ships the last changes.  With
 * remote_sync, shipping_wait returns once what is committed now is in the
 * pool (0), or -EIO if shipping it failed; at once otherwise. */
int shipping_start(struct fs *fs);
void shipping_stop(struct fs *fs);
int shipping_wait(struct fs *fs);

int migrate_init(struct fs *fs);
int migrate_start(struct fs *fs);
void migrate_stop(struct fs *fs);
/* Queue moving INO (a file with its versions, a directory tree, a version,
 * a snapshot tree) to tier TO; the request is durable until done. */
int migrate_request(struct fs *fs, uint64_t ino, int to);
/* Queue a compaction of the segments whose live fraction is below THRESHOLD. */
int migrate_gc_request(struct fs *fs, double threshold);
/* Pin INO (and what lies below it) to TIER and move it there; TIER -1 unpins. */
int migrate_pin(struct fs *fs, uint64_t ino, int tier);
/* True if INO is pinned; *TIER (if not NULL) is the tier. */
bool migrate_pinned(struct fs *fs, uint64_t ino, int *tier);
void migrate_stats_get(struct fs *fs, struct migrate_stats *out);
/* rename(SRC over DST): a pin of DST follows the name to SRC, into B. */
void migrate_pin_rename(struct fs *fs, struct meta_batch *b, uint64_t src, uint64_t dst);
/* Queue what the tier policies (cold_after_*) send to the cold tier. */
void migrate_policies(struct fs *fs);

/* tierctl.c — the user.aifs.* attributes of tiers.  Each returns 1 when
 * NAME is not one of its names. */
int tier_xattr_set(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		   const char *value, size_t size);
/* *VAL is malloc'd (caller frees), *LEN bytes; IN unlocked. */
int tier_xattr_get(struct fs *fs, struct inode *in, const char *name, char **val, size_t *len);

/* dir.c, readdir.c, ops.c */
const struct fuse_lowlevel_ops *fs_ops_table(void);
void fs_dir_ops(struct fuse_lowlevel_ops *ops);
void fs_file_ops(struct fuse_lowlevel_ops *ops);
/* Apply a setattr (TO_SET of ATTR) to IN (locked for writing) into B. */
int fs_setattr_apply(struct fs *fs, struct inode *in, struct meta_batch *b,
		     const struct stat *attr, int to_set);
void fs_readdir_ops(struct fuse_lowlevel_ops *ops);
void fs_xattr_ops(struct fuse_lowlevel_ops *ops);
/* "FILE@vN": the length of FILE and *N, or 0 if NAME is not an alias. */
size_t fs_version_alias(const char *name, uint32_t *n);
/* Fill E for IN (caller holds IN's lock). */
void fs_entry(struct fs *fs, struct inode *in, struct fuse_entry_param *e);
double fs_attr_timeout(const struct fs *fs, const struct inode *in);
/* Publish SRC's content (a checkpoint file's newest complete version) as
 * a new file at the mount-relative path VALUE, sharing its data. */
int fs_promote(struct fs *fs, fuse_req_t req, struct inode *src, const char *value, size_t size);
/* Create regular file NAME in PARENT; *OUT is referenced. */
int fs_create_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		   struct inode **out);

#include "fs/lockwd.h"

#endif
