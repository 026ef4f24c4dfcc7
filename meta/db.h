/* db.h — the RocksDB plumbing of meta/ (private to meta/).
 *
 * db.c owns struct meta and struct meta_batch and implements the parts of
 * meta.h that are pure RocksDB: open, close, sync and batches.  meta.c
 * builds the keys and values of each record kind and reaches RocksDB only
 * through the functions below; only db.c includes rocksdb/c.h.
 *
 * Keys and values are raw bytes, compared bytewise.  A failing RocksDB
 * call is logged here ("meta: WHAT: message") and mapped to a negative
 * errno (-EBUSY for a held lock, -ENOENT for a missing database, -EIO for
 * the rest).  Functions that take a struct meta are thread-safe; a batch
 * and a cursor belong to one thread at a time.
 */
#ifndef AIFS_META_DB_H
#define AIFS_META_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta/keys.h"
#include "meta/meta.h"

struct rocksdb_pinnableslice_t;
struct rocksdb_readoptions_t;
struct rocksdb_iterator_t;

/* --- batches ----------------------------------------------------------- */

/* Put K -> V, or delete K, in B. */
void db_batch_put(struct meta_batch *b, const uint8_t *k, size_t klen,
		  const void *v, size_t vlen);
void db_batch_del(struct meta_batch *b, const uint8_t *k, size_t klen);
/* Delete the keys in [LO, HI). */
void db_batch_del_range(struct meta_batch *b, const uint8_t *lo, size_t lolen,
			const uint8_t *hi, size_t hilen);

/* The same for the key "KIND | KEY", given in two pieces so that a key of
 * any length needs no buffer. */
void db_batch_put_kind(struct meta_batch *b, uint8_t kind, const void *key, size_t klen,
		       const void *v, size_t vlen);
void db_batch_del_kind(struct meta_batch *b, uint8_t kind, const void *key, size_t klen);

/* Call PUT or DEL for each change of B, in order (range deletes: none). */
void db_batch_iterate(struct meta_batch *b, void *ctx,
		      void (*put)(void *ctx, const char *k, size_t klen, const char *v, size_t vlen),
		      void (*del)(void *ctx, const char *k, size_t klen));
/* B's count of space deltas, and putting it back to an earlier count. */
size_t db_batch_nd(const struct meta_batch *b);
void db_batch_set_nd(struct meta_batch *b, size_t nd);
/* Mark B's changes so far; drop the mark, undoing what came after it if
 * UNDO. */
void db_batch_mark(struct meta_batch *b);
void db_batch_unmark(struct meta_batch *b, bool undo);

/* --- epoch history (history.c, histview.c, histmove.c) ------------------- */

struct hist;
/* What a batch carries for history.c. */
struct hist_batch {
	int change;			/* +1: makes epoch ep, -1: drops it */
	struct meta_epoch ep;
	bool gate, keeping, marked;	/* held by a commit in progress */
	size_t nd0;			/* space deltas before history's own */
	struct tier_ref *kept;		/* extents kept referenced by history */
	size_t nkept, capkept;
	struct tier_ref *dropped;	/* extents history referenced no more */
	size_t ndropped, capdropped;
	struct hist_move *moves;	/* meta_snap_extent_move, done at commit */
	size_t nmoves, capmoves;
};
struct hist_move {
	uint64_t sino, foff;
	struct tier_ref old, to;
	uint8_t *v;			/* the new extent record */
	size_t vlen;
};
/* Forget B's moves (its batch is freed or cleared). */
void hist_batch_moves_free(struct hist_batch *hb);
struct hist **db_hist(struct meta *m);
struct hist_batch *db_batch_hist(struct meta_batch *b);
/* Read the epoch state at open (history.c); free it at close. */
int hist_open(struct meta *m);
void hist_close(struct hist *h);
/* Read it again after replicated changes of epochs were applied. */
void hist_reload(struct meta *m);
/* Around a commit of B: keep what B changes that an epoch snapshot sees
 * (begin), and finish with the commit's outcome (end, also after a failed
 * begin's own cleanup: it does nothing twice). */
int hist_commit_begin(struct meta *m, struct meta_batch *b);
void hist_commit_end(struct meta *m, struct meta_batch *b, bool ok);
/* The value of record K at EPOCH (malloc'd, NUL-terminated); -ENOENT if
 * it did not exist then. */
int hist_view_get(struct meta *m, const uint8_t *k, size_t klen, uint64_t epoch,
		  void **val, size_t *vlen);
/* FN for each record starting with PREFIX as it was at EPOCH, in key
 * order, from the first whose rest is above AFTER (ALEN bytes; NULL: all). */
int hist_view_foreach(struct meta *m, const uint8_t *prefix, size_t plen,
		      const uint8_t *after, size_t alen, uint64_t epoch,
		      int (*fn)(void *ctx, const uint8_t *k, size_t klen,
				const uint8_t *v, size_t vlen),
		      void *ctx);
/* The epoch of snapshot inode INO if it is live; -ENOENT if it is not. */
int hist_snap_epoch(struct meta *m, uint64_t ino, struct meta_epoch *ep);
/* Record KIND | live ino of INO | NAME (LEN bytes; NULL: none) at the epoch
 * of snapshot inode INO, as hist_view_get. */
int hist_snap_get(struct meta *m, uint8_t kind, uint64_t ino, const char *name, size_t len,
		  void **val, size_t *vlen);
/* Each record KIND | live ino of INO | ... at the epoch of snapshot inode
 * INO, after AFTER, as hist_view_foreach. */
int hist_snap_foreach(struct meta *m, uint8_t kind, uint64_t ino, const char *after,
		      size_t alen,
		      int (*fn)(void *ctx, const uint8_t *k, size_t klen,
				const uint8_t *v, size_t vlen),
		      void *ctx);

/* --- point reads ------------------------------------------------------- */

/* A value read in place: pinned in the block cache or the memtable, which
 * spares a copy, until db_unpin. */
struct db_pinned {
	struct rocksdb_pinnableslice_t *ps;
	const uint8_t *v;
	size_t len;
};

/* Look key K up into *P (release it with db_unpin); -ENOENT if absent. */
int db_get_pinned(struct meta *m, const uint8_t *k, size_t klen, struct db_pinned *p);
void db_unpin(struct db_pinned *p);

/* Copy the value of K into a malloc'd *VAL (caller frees) of *LEN bytes
 * followed by a NUL, so that a symlink target is a C string and an empty
 * value is not NULL; -ENOENT if absent. */
int db_get_copy(struct meta *m, const uint8_t *k, size_t klen, void **val, size_t *len);

/* Copy into KEY (KEY_MAX bytes) the greatest key that is at most AT and at
 * least LOWER, with its full length in *KLEN (a longer key is cut to
 * KEY_MAX bytes); -ENOENT if there is none.  WHAT names the lookup in the
 * log. */
int db_last_key(struct meta *m, const char *what, const uint8_t *lower, size_t lowlen,
		const uint8_t *at, size_t alen, uint8_t *key, size_t *klen);

/* Like db_last_key, with KEY of CAP bytes. */
int db_prev_key(struct meta *m, const char *what, const uint8_t *lower, size_t lowlen,
		const uint8_t *at, size_t alen, uint8_t *key, size_t cap, size_t *klen);

/* --- prefix iteration -------------------------------------------------- */

/* An iteration over the keys that start with a prefix.  It runs under an
 * upper bound equal to the prefix end, so RocksDB stops there instead of
 * reading into the next kind; the bound lives here because RocksDB keeps
 * only a pointer to it. */
struct db_cursor {
	struct rocksdb_readoptions_t *ro;
	struct rocksdb_iterator_t *it;
	uint8_t end_buf[KEY_MAX];
	uint8_t *end;
	uint8_t *low;		/* the prefix: lower bound of a backward walk */
	bool started, backward;
	const uint8_t *k, *v;	/* the current record, after db_cur_next */
	size_t klen, vlen;
};

/* Start C over the keys starting with PREFIX, at the first key at or
 * after START (which starts with PREFIX).  End it with db_cur_close. */
int db_cur_open(struct db_cursor *c, struct meta *m, const uint8_t *prefix, size_t plen,
		const uint8_t *start, size_t slen);

/* Start C over the keys starting with PREFIX, backward: from the greatest
 * such key down (db_cur_next then steps to the previous one). */
int db_cur_open_rev(struct db_cursor *c, struct meta *m, const uint8_t *prefix, size_t plen);

/* Step to the next record (the first one on the first call) and set c->k
 * and c->v, valid until the next step; false at the end of the prefix or
 * on an error. */
bool db_cur_next(struct db_cursor *c);

/* End C; return RC, or the iterator's error if RC is 0. */
int db_cur_close(struct db_cursor *c, int rc);

#endif
