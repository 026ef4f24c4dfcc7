/* ship.h — the metadata of a store whose data is in RADOS, shipped to the
 * pool so that the store can be rebuilt elsewhere from the pool alone.
 *
 * Blobs of the hot (RADOS) tier (tier_blob_*, so "m.NAME" objects):
 *   conf, audit.key, audit.pub   the store's aifs.conf and signing keys
 *   writer                       the writer's identity (STORE/writer.id)
 *   c.SEQ                        a RocksDB checkpoint holding every write up
 *                                to SEQ: "NAME SIZE" lines, its files being
 *   c.SEQ.NAME                   the bytes of file NAME of that checkpoint
 *   head                         "SEQ": the checkpoint to start from
 *   l.SEQ                        the write batches from sequence number SEQ
 *                                on: each an 8-byte big-endian sequence
 *                                number, 4-byte count, 4-byte length, bytes
 * (SEQ in 16 hex digits, so that names sort in order).  head is written
 * only once its checkpoint is whole, and the older checkpoint and logs are
 * removed only after it.
 *
 * Before a batch is shipped, every extent append made before it is
 * waited for, so shipped metadata never points at bytes still in flight.
 * Not thread-safe: one shipper per store.
 */
#ifndef AIFS_META_SHIP_H
#define AIFS_META_SHIP_H

#include <stddef.h>
#include <stdint.h>

#include "meta/store.h"

struct ship;

/* Start shipping store S (its hot tier must be RADOS and its metadata
 * opened with meta_open_shipped): the conf and keys, then a checkpoint,
 * unless the pool's logs are this same writer's and its metadata still
 * holds every batch after the last one they hold: then shipping goes on
 * with them, so that followers go on following a writer mounted again.
 * *OUT is freed by ship_free. */
int ship_open(struct store *s, struct ship **out);

/* Ship the batches committed since the last call (a new checkpoint
 * instead when the logs have grown large or lost what was not shipped).
 * Returns 0 or a negative errno; the next call tries again. */
int ship_step(struct ship *sh);

/* The sequence number shipped so far. */
uint64_t ship_shipped(const struct ship *sh);

void ship_free(struct ship *sh);

/* Rebuild in DIR (absent or empty) the store whose data is the RADOS tier
 * SPEC, from what was shipped; RO says how to reach the cluster (its conf
 * and user replace those of the shipped aifs.conf when given).  *SEQ is
 * the last sequence number recovered.  On failure ERR says why. */
int ship_recover(const char *spec, const struct tier_rados_opts *ro, const char *dir,
		 uint64_t *seq, char *err, size_t errlen);

/* A follower: a replica of the store's metadata (from ship_recover) kept
 * up to date with what the writer ships. */
struct ship_follow;
int ship_follow_open(const char *spec, const struct tier_rados_opts *ro, const char *replica,
		     struct ship_follow **out);
/* 0 if the pool's writer is still the one the replica follows; -ECHILD
 * if another writer ships there now (a replica promoted to writer after a
 * fail-over): the replica must be made anew. */
int ship_follow_same_writer(struct ship_follow *f);
/* Apply to M the batches shipped from sequence number *NEXT on, calling FN
 * with every key they put or delete; *NEXT moves past them.  -ESTALE when
 * the writer has compacted past *NEXT, -ECHILD when another writer ships
 * (the replica must be made anew in both cases). */
int ship_follow_step(struct ship_follow *f, struct meta *m, uint64_t *next,
		     void (*fn)(void *ctx, const void *key, size_t klen), void *ctx);
/* The client address of F's handle (for `ceph osd blocklist`), or "". */
void ship_follow_addr(struct ship_follow *f, char *buf, size_t len);
void ship_follow_free(struct ship_follow *f);
/* Store S opened for writing is a follower's replica (a follow.seq): apply
 * everything its writer shipped before it becomes the writer itself (a
 * fail-over).  0 (also when S is no replica), or -errno with ERR saying
 * why (another writer took over, or the replica missed a compaction). */
int ship_catch_up(struct store *s, char *err, size_t errlen);

#endif
