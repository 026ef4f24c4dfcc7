/* radosmsg.h — messages between the hosts that mount one store, carried by
 * the store's own RADOS namespace (radosmsg.c): a follower asks the writer
 * to make a change and waits for its answer, and the bytes of the change
 * travel as objects of the pool.  Ceph authenticates both ends (cephx) and
 * carries the bytes: aifs opens no connection of its own between hosts.
 *
 * The contract:
 *  - The writer serves (radosmsg_serve): it creates the object
 *    RADOSMSG_OBJ of the namespace and watches it (rados_watch3), with a
 *    watch timeout of RADOSMSG_WATCH_SECS, so that the watch of a writer
 *    that died without unwatching is gone within that time.  A watch the
 *    cluster dropped (a lost connection) is made again within a second.
 *    Each request arrives in FN, on a thread of librados: FN must not
 *    block (it copies the request and queues it, or answers at once).
 *    Each request is answered at most once, with radosmsg_reply, from any
 *    thread; one not answered in time is an error for its caller.
 *  - A follower calls (radosmsg_call): the request is a notify of
 *    RADOSMSG_OBJ, whose watchers' answers come back in rados_notify2's
 *    reply buffer; the first non-empty answer is the call's.  -ENOTCONN
 *    when no writer watches (none mounted, or the watch of a dead one has
 *    timed out), -ETIMEDOUT when a watcher did not answer within
 *    TIMEOUT_MS, another negative errno when the cluster could not be
 *    asked.  A call is never retried here: the caller decides.
 *  - Data objects carry the bytes of a change: "w.NAME.PART" (PART in six
 *    hex digits), RADOSMSG_PART bytes each at most (Ceph refuses large
 *    objects), written by the follower before it sends its request, read
 *    by the writer, and removed by the writer once it is done (or by the
 *    follower when its call failed).  NAME is the caller's to make unique.
 *    radosmsg_sweep removes data objects left by a host that died between
 *    writing them and the answer.
 *  - A caller whose client the cluster blocklisted (evicted) connects anew
 *    on its own, with a new client address, and the operation refused is
 *    tried again; one whose operation timed out connects anew for the
 *    next (a client can go on timing out after an OSD came back).
 * All functions are thread-safe and return 0 (or a count) or a negative
 * errno.  Only tier/ includes librados.
 */
#ifndef AIFS_TIER_RADOSMSG_H
#define AIFS_TIER_RADOSMSG_H

#include <stddef.h>
#include <stdint.h>

#include "tier/tier.h"

#define RADOSMSG_OBJ		"aifs.writer.ctl"
#define RADOSMSG_WATCH_SECS	10
#define RADOSMSG_PART		(64ull << 20)
#define RADOSMSG_MAX		(1u << 20)	/* largest request or answer */

struct radosmsg;

/* Connect to the namespace of rados spec SPEC ("rados:POOL/NAME") as RO
 * says (conf, user, timeout; RO->err gets one line on failure). */
int radosmsg_open(const char *spec, const struct tier_rados_opts *ro, struct radosmsg **out);
/* Stop serving, wait for the callbacks under way, disconnect. */
void radosmsg_close(struct radosmsg *m);

/* Which notify an answer goes to. */
struct radosmsg_token {
	uint64_t notify_id, cookie;
};

/* Serve requests: FN(CTX, TOKEN, REQUEST, LEN) for each. */
int radosmsg_serve(struct radosmsg *m,
		   void (*fn)(void *ctx, struct radosmsg_token tok, const void *buf, size_t len),
		   void *ctx);
/* Stop serving: no FN runs once this returns. */
void radosmsg_unserve(struct radosmsg *m);
/* Answer request TOK with LEN bytes of BUF (LEN > 0). */
int radosmsg_reply(struct radosmsg *m, struct radosmsg_token tok, const void *buf, size_t len);

/* Send REQ and wait at most TIMEOUT_MS for the answer: *OUT (malloc'd,
 * *OUTLEN bytes, freed by the caller). */
int radosmsg_call(struct radosmsg *m, const void *req, size_t len, unsigned timeout_ms,
		  void **out, size_t *outlen);

/* Data object NAME: write LEN bytes at OFF (in pieces; a part written at
 * its offset 0 is replaced whole), read up to LEN bytes at OFF (the bytes
 * read, fewer only at its end), remove its parts holding SIZE bytes. */
int radosmsg_data_write(struct radosmsg *m, const char *name, uint64_t off, const void *buf,
			size_t len);
int64_t radosmsg_data_read(struct radosmsg *m, const char *name, uint64_t off, void *buf,
			   size_t len);
void radosmsg_data_remove(struct radosmsg *m, const char *name, uint64_t size);
/* The address the cluster knows this end's client by (for `ceph osd
 * blocklist`), and how many times it was made anew. */
int radosmsg_addr(struct radosmsg *m, char *buf, size_t len, uint64_t *renewals);
/* Remove the data objects not written for AGE seconds: how many. */
int radosmsg_sweep(struct radosmsg *m, unsigned age);

#endif
