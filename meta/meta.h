/* meta.h — the metadata store of aifs, kept in RocksDB.
 *
 * One RocksDB database holds every record kind; a record's key starts with
 * a one-byte kind followed by fixed-width big-endian fields (see keys.h), so
 * that prefix iteration is readdir and extent lookup:
 *
 *   'S'                      superblock (format version, next inode hint)
 *   'I' ino                  inode
 *   'D' parent name          dentry -> child ino, file type
 *   'E' ino file-offset      extent -> tier reference, checksums
 *   'X' ino name             extended attribute -> value
 *   'L' ino                  symlink target
 *   'N' ino                  inline data of a small file
 *   'O' ino                  orphan: unlinked while open, freed at last close
 *                            or at the next mount
 *   other kinds              records of the lifecycle features (meta_rec_*);
 *                            every kind and its owner: meta/records.h
 *
 * Every metadata change of one operation goes into one struct meta_batch
 * and is committed whole or not at all.  Reads see committed batches only.
 *
 * All functions are thread-safe and return 0 or a negative errno unless
 * said otherwise.
 */
#ifndef AIFS_META_H
#define AIFS_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tier/tier.h"

#define META_ROOT_INO	1ull
#define META_NAME_MAX	255

struct meta;
struct meta_batch;

/* An inode.  Times are nanoseconds since the epoch. */
struct meta_inode {
	uint64_t ino;
	uint32_t mode;		/* type and permission bits, as st_mode */
	uint32_t uid, gid;
	uint32_t nlink;
	uint64_t size;
	uint64_t rdev;
	int64_t  atime, mtime, ctime, btime;
	uint32_t flags;		/* META_IF_* */
	uint8_t  policy;	/* META_AREA_* */
	uint64_t generation;	/* bumped on every content change (fs/ use) */
	uint64_t alloc;		/* bytes of content stored in extents */
};

/* Area policies (meta_inode.policy), inherited from the parent directory. */
#define META_AREA_PLAIN		0
#define META_AREA_DATASET	1
#define META_AREA_CHECKPOINT	2
#define META_AREA_JOURNAL	3

#define META_IF_INLINE	0x1	/* content lives in the 'N' record */
#define META_IF_XATTR	0x2	/* may have 'X' records (none if clear) */
#define META_IF_VERSION	0x4	/* an immutable checkpoint version, named by a 'V' record */
#define META_IF_SNAPSHOT 0x8	/* part of an immutable dataset snapshot */
#define META_IF_SNAPROOT 0x10	/* root of a snapshot, named by a 'P' record */
#define META_IF_SEALED	0x20	/* a journal file closed by its last writer */
#define META_IF_PREALLOC 0x40	/* space reserved by fallocate: an 'r' record (fs/prealloc.c) */
#define META_IF_SHARED	0x80	/* may share extents with other inodes (promote, copy_file_range) */
#define META_IF_READONLY (META_IF_VERSION | META_IF_SNAPSHOT)

/* One piece of a file's extent map: file bytes [foff, foff+len) are the
 * decoded bytes [inner, inner+len) of the extent REF. */
struct meta_extent {
	uint64_t foff;
	uint64_t len;
	uint32_t inner;
	struct tier_ref ref;
	uint32_t ncrc;
	const uint32_t *crcs;	/* TIER_NCRC(ref.stored_len) checksums */
};

/* Open the RocksDB database in directory DIR.  With CREATE, make it if
 * missing (mkfs); otherwise it must exist.  Options are sized for a daemon
 * that must stay well under 256 MiB RSS. */
int meta_open(const char *dir, bool create, struct meta **out);
void meta_close(struct meta *m);

/* Open DIR read-only beside the process that has it open (no lock taken;
 * it sees what that process had written when this is called). */
int meta_open_readonly(const char *dir, struct meta **out);

/* Make every committed batch durable (sync the write-ahead log). */
int meta_sync(struct meta *m);

/* --- shipping (a copy of the metadata kept elsewhere) ------------------ */

/* Open DIR (which must exist) keeping its write-ahead logs for an hour or
 * 256 MiB after they are obsolete, so that meta_updates can still read
 * what was committed since a checkpoint. */
int meta_open_shipped(const char *dir, struct meta **out);

/* The sequence number of the last committed write. */
uint64_t meta_seq(struct meta *m);

/* Make in DIR (which must not exist) a copy of the database holding at
 * least every write up to *SEQ, set here. */
int meta_checkpoint(struct meta *m, const char *dir, uint64_t *seq);

/* Call FN for each committed batch from sequence number FROM on, in order:
 * SEQ its first sequence number, COUNT how many it takes, REP/LEN its bytes
 * (valid during the call).  FN returns 0 to go on, > 0 to stop, < 0 to
 * fail with that error.  -ENOENT when FROM is no longer in the logs. */
int meta_updates(struct meta *m, uint64_t from,
		 int (*fn)(void *ctx, uint64_t seq, uint32_t count, const void *rep, size_t len),
		 void *ctx);

/* Apply the batch bytes REP (as meta_updates gives them) to M. */
int meta_apply(struct meta *m, const void *rep, size_t len);
/* The same, then call FN for the key of each put and delete it held (a
 * follower learns what changed). */
int meta_apply_keys(struct meta *m, const void *rep, size_t len,
		    void (*fn)(void *ctx, const void *key, size_t klen), void *ctx);

/* --- batches ----------------------------------------------------------- */

struct meta_batch *meta_batch_new(void);
void meta_batch_free(struct meta_batch *b);
/* Drop everything gathered so far; the batch can be reused. */
void meta_batch_clear(struct meta_batch *b);
/* Apply B atomically; with SYNC, durably.  B stays owned by the caller. */
int meta_batch_commit(struct meta *m, struct meta_batch *b, bool sync);

/* --- epoch snapshots (history.c) ---------------------------------------- */

/* The files of epoch snapshot E are named meta_snap_ino(E, live ino): every
 * reader below answers such a number with the records as they were at E
 * (read-only: a commit that changes one fails with -EROFS). */
#define META_SNAP_BIT		(1ull << 61)	/* bits 62 and 63: fs/'s node ids */
#define META_SNAP_INO_BITS	40
#define META_SNAP_INO_MAX	((1ull << META_SNAP_INO_BITS) - 1)
#define META_SNAP_EPOCH_MAX	((1ull << (61 - META_SNAP_INO_BITS)) - 1)

static inline bool meta_ino_is_snap(uint64_t ino)
{
	return (ino >> 61) == 1;
}

static inline uint64_t meta_snap_ino(uint64_t epoch, uint64_t ino)
{
	return META_SNAP_BIT | epoch << META_SNAP_INO_BITS | ino;
}

static inline uint64_t meta_snap_epoch(uint64_t sino)
{
	return sino >> META_SNAP_INO_BITS & META_SNAP_EPOCH_MAX;
}

static inline uint64_t meta_snap_live(uint64_t sino)
{
	return sino & META_SNAP_INO_MAX;
}

struct meta_epoch {
	uint64_t epoch;
	uint64_t hwm;		/* every inode then is numbered at most this */
	uint64_t ds;		/* the dataset directory it is a snapshot of */
	int64_t time;		/* when it was made (ns): its root's ctime */
};
/* Make in B an epoch snapshot of directory DS at TIME: once B commits, every
 * inode numbered at most HWM reads, under meta_snap_ino(*EPOCH, ino), as it
 * is at that commit.  -EOVERFLOW when the numbers do not fit a snapshot
 * inode. */
int meta_epoch_create(struct meta *m, struct meta_batch *b, uint64_t ds, uint64_t hwm,
		      int64_t time, uint64_t *epoch);
/* Drop epoch snapshot EPOCH in B, with the history only it needed (found
 * when B commits, with no other commit keeping anything meanwhile).
 * -ENOENT if it is not live (also from the commit, if another one dropped
 * it first). */
int meta_epoch_drop(struct meta *m, struct meta_batch *b, uint64_t epoch);
/* The extents that history referenced and B's commit dropped (counted -1
 * in the space log): the caller uncounts them in memory after the commit. */
size_t meta_batch_dropped(struct meta_batch *b, const struct tier_ref **v);
int meta_epoch_get(struct meta *m, uint64_t epoch, struct meta_epoch *out);
/* Call FN for every live epoch snapshot, oldest first; stops at nonzero
 * return and returns it. */
int meta_epoch_foreach(struct meta *m, int (*fn)(void *ctx, const struct meta_epoch *ep),
		       void *ctx);
/* Whether a change of INO's records is kept for an epoch snapshot now. */
bool meta_history_covers(struct meta *m, uint64_t ino);
/* The extents that B's commit kept referenced in history (counted +1 in
 * the space log): the caller counts them in memory after the commit. */
size_t meta_batch_kept(struct meta_batch *b, const struct tier_ref **v);
/* Every extent referenced by a history record, with the inode it was of. */
int meta_history_extent_foreach(struct meta *m,
				int (*fn)(void *ctx, uint64_t ino, const struct tier_ref *r),
				void *ctx);
/* In B, move the piece at FOFF of file SINO of an epoch snapshot from the
 * stored extent OLD to E, a copy of its bytes elsewhere (tiering): at the
 * commit, if the snapshot still reads OLD there, the history record it
 * reads is rewritten, or, if it reads the live record, a history record of
 * its own is made (the live file keeps OLD).  What changed counts is in
 * meta_batch_kept (E's extent) and meta_batch_dropped (OLD, when a history
 * record let go of it). */
int meta_snap_extent_move(struct meta_batch *b, uint64_t sino, uint64_t foff,
			  const struct tier_ref *old, const struct meta_extent *e);
/* Whether records of KIND are kept for epoch snapshots. */
bool meta_hist_kind(uint8_t kind);

/* --- inodes ------------------------------------------------------------ */

/* Read inode INO into *OUT; -ENOENT if absent. */
int meta_inode_get(struct meta *m, uint64_t ino, struct meta_inode *out);
void meta_inode_put(struct meta_batch *b, const struct meta_inode *in);
void meta_inode_del(struct meta_batch *b, uint64_t ino);
/* Largest inode number in use (META_ROOT_INO if only the root). */
int meta_inode_max(struct meta *m, uint64_t *out);
/* Call FN for every inode in increasing order; stops at nonzero return. */
int meta_inode_foreach(struct meta *m,
		       int (*fn)(void *ctx, const struct meta_inode *in), void *ctx);

/* --- dentries ---------------------------------------------------------- */

/* Look NAME (LEN bytes) up in directory PARENT; -ENOENT if absent. */
int meta_dentry_get(struct meta *m, uint64_t parent, const char *name, size_t len,
		    uint64_t *ino, uint32_t *type);
void meta_dentry_put(struct meta_batch *b, uint64_t parent, const char *name,
		     size_t len, uint64_t ino, uint32_t type);
void meta_dentry_del(struct meta_batch *b, uint64_t parent, const char *name,
		     size_t len);
/* Call FN for each entry of PARENT in name order, starting after the name
 * AFTER (or from the first when AFTER is NULL).  NAME is not NUL-terminated
 * and is valid during the call only.  Stops at the first nonzero return
 * and returns it. */
int meta_dentry_foreach(struct meta *m, uint64_t parent, const char *after,
			size_t after_len,
			int (*fn)(void *ctx, const char *name, size_t len,
				  uint64_t ino, uint32_t type),
			void *ctx);
/* 1 if PARENT has no entries, 0 if it has, or a negative errno. */
int meta_dir_empty(struct meta *m, uint64_t parent);

/* --- extents ----------------------------------------------------------- */

/* Call FN for each extent of INO in file-offset order.  E and its crcs are
 * valid during the call only. */
int meta_extent_foreach(struct meta *m, uint64_t ino,
			int (*fn)(void *ctx, const struct meta_extent *e), void *ctx);
/* Put extent E of INO; delete the extent of INO at FOFF, which references
 * the stored extent REF (a put over an existing record must delete it
 * first).  Each logs its change of REF's reference count in B (the space
 * log, below), so the counts of the store follow its records. */
void meta_extent_put(struct meta_batch *b, uint64_t ino, const struct meta_extent *e);
void meta_extent_del(struct meta_batch *b, uint64_t ino, uint64_t foff,
		     const struct tier_ref *ref);
/* Delete every extent of INO (as they are stored: B must hold no change
 * of them yet). */
void meta_extent_del_all(struct meta *m, struct meta_batch *b, uint64_t ino);

/* --- extended attributes, symlinks, inline data ------------------------ */

/* Read xattr NAME of INO into a malloc'd buffer *VAL (caller frees) of
 * *LEN bytes; -ENODATA if absent. */
int meta_xattr_get(struct meta *m, uint64_t ino, const char *name,
		   void **val, size_t *len);
void meta_xattr_put(struct meta_batch *b, uint64_t ino, const char *name,
		    const void *val, size_t len);
void meta_xattr_del(struct meta_batch *b, uint64_t ino, const char *name);
/* Call FN for each xattr of INO in name order (NAME NUL-terminated). */
int meta_xattr_foreach(struct meta *m, uint64_t ino,
		       int (*fn)(void *ctx, const char *name, const void *val,
				 size_t len),
		       void *ctx);
void meta_xattr_del_all(struct meta *m, struct meta_batch *b, uint64_t ino);

/* Symlink target and inline data: malloc'd, caller frees; -ENOENT if absent. */
int meta_symlink_get(struct meta *m, uint64_t ino, char **target, size_t *len);
void meta_symlink_put(struct meta_batch *b, uint64_t ino, const char *target, size_t len);
int meta_inline_get(struct meta *m, uint64_t ino, void **data, size_t *len);
void meta_inline_put(struct meta_batch *b, uint64_t ino, const void *data, size_t len);
void meta_inline_del(struct meta_batch *b, uint64_t ino);

/* --- orphans ----------------------------------------------------------- */

void meta_orphan_put(struct meta_batch *b, uint64_t ino);
void meta_orphan_del(struct meta_batch *b, uint64_t ino);
int meta_orphan_foreach(struct meta *m, int (*fn)(void *ctx, uint64_t ino), void *ctx);

/* Delete every record of INO: inode, extents, xattrs, symlink, inline data,
 * orphan mark (not the dentries that point at it). */
void meta_inode_purge(struct meta *m, struct meta_batch *b, uint64_t ino);

/* The same, for a caller that knows what INO has: only the inode record
 * and the kinds in WHAT are deleted (extents and xattrs each cost a scan,
 * the others a tombstone every later read of the range must skip). */
#define META_PURGE_EXTENTS	0x1
#define META_PURGE_XATTRS	0x2
#define META_PURGE_SYMLINK	0x4	/* the 'L' record (symlinks only) */
#define META_PURGE_INLINE	0x8	/* the 'N' record (META_IF_INLINE only) */
#define META_PURGE_ORPHAN	0x10	/* the orphan mark (only once nlink was 0) */
void meta_inode_purge_some(struct meta *m, struct meta_batch *b, uint64_t ino, unsigned what);

/* --- generic records for the lifecycle features ------------------------ */

/* KIND must not be one of the kinds listed at the top.  KEY is any bytes
 * (use keys.h encoders for ordered fields). */
int meta_rec_get(struct meta *m, uint8_t kind, const void *key, size_t klen,
		 void **val, size_t *vlen);
void meta_rec_put(struct meta_batch *b, uint8_t kind, const void *key, size_t klen,
		  const void *val, size_t vlen);
void meta_rec_del(struct meta_batch *b, uint8_t kind, const void *key, size_t klen);
/* With ON, this thread's walks of records read each record once (a whole
 * log, say): they leave the block cache to what is read again and read
 * ahead. */
void meta_bulk_scan(bool on);
/* Whether any KIND record's key starts with PREFIX. */
bool meta_rec_any(struct meta *m, uint8_t kind, const void *prefix, size_t plen);
/* Call FN for each record of KIND whose key starts with PREFIX, in key order
 * (KEY without the kind byte); stops at FN's first nonzero return and
 * returns it. */
int meta_rec_foreach(struct meta *m, uint8_t kind, const void *prefix, size_t plen,
		     int (*fn)(void *ctx, const void *key, size_t klen,
			       const void *val, size_t vlen),
		     void *ctx);
/* The same from the first key at or after START (which starts with PREFIX):
 * a walk cut in parts, one per thread. */
int meta_rec_foreach_from(struct meta *m, uint8_t kind, const void *prefix, size_t plen,
			  const void *start, size_t slen,
			  int (*fn)(void *ctx, const void *key, size_t klen,
				    const void *val, size_t vlen),
			  void *ctx);
/* The same in reverse key order: from the greatest key down, so that "the
 * last record of INO" is one seek, whatever the number before it. */
int meta_rec_foreach_rev(struct meta *m, uint8_t kind, const void *prefix, size_t plen,
			 int (*fn)(void *ctx, const void *key, size_t klen,
				   const void *val, size_t vlen),
			 void *ctx);

/* --- the space log ------------------------------------------------------ */

/* How many extent records reference each stored extent is kept on disk as
 * a checkpoint (meta/spacecp.c) and this log since: every batch that puts
 * or deletes extent records carries, in one SPACE_LOG record under a new
 * id, the change of each stored extent's count.  Ids grow; a batch that
 * fails to commit takes its record with it. */
struct space_delta {
	uint8_t tier;
	uint32_t seg;
	uint64_t off;
	uint32_t len;		/* stored bytes */
	int8_t delta;		/* +1 or -1 */
};
#define SPACE_DELTA_LEN	18	/* encoded */

/* Note in B that REF gained (+1) or lost (-1) a referencing record. */
void meta_space_delta(struct meta_batch *b, const struct tier_ref *r, int delta);
/* The value of a log record holding D[0..N) into OUT (1 + N * SPACE_DELTA_LEN). */
size_t meta_space_log_encode(const struct space_delta *d, size_t n, uint8_t *out);
/* How many changes were logged since the open. */
uint64_t meta_space_log_count(struct meta *m);
/* The largest id below which every id given is committed or given up: a
 * compaction of the log may take the records up to it. */
int meta_space_log_stable(struct meta *m, uint64_t *last);
/* FN for each log record with AFTER < id <= UPTO, in id order (D valid
 * during the call). */
int meta_space_log_foreach(struct meta *m, uint64_t after, uint64_t upto,
			   int (*fn)(void *ctx, uint64_t id, const struct space_delta *d,
				     size_t n),
			   void *ctx);
/* Delete the log records with id <= UPTO in B. */
void meta_space_log_trim(struct meta_batch *b, uint64_t upto);
/* Which checkpoint the log continues: EPOCH names the checkpoint file,
 * LOG_END the last id it holds; -ENOENT if none was made. */
int meta_space_mark_get(struct meta *m, uint64_t *epoch, uint64_t *log_end);
void meta_space_mark_put(struct meta_batch *b, uint64_t epoch, uint64_t log_end);
/* Forget the kept counts: the mark and the whole log. */
void meta_space_drop(struct meta_batch *b);

/* --- superblock -------------------------------------------------------- */

/* Read / write the store's metadata format version ('S' record). */
int meta_format_get(struct meta *m, uint32_t *version);
void meta_format_put(struct meta_batch *b, uint32_t version);

#endif
