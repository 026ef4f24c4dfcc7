/* uring.h — the per-thread io_uring engine of tier/ (private to tier/).
 *
 * Every thread that does tier I/O gets its own io_uring of URING_DEPTH
 * entries and two scratch buffers, all made on first use and freed by a
 * pthread key destructor when the thread exits.  Being per thread, none of
 * it is locked, and nothing handed out here may be passed to another
 * thread.
 *
 * A ring is never driven by two processes: a forked child drops the
 * forking thread's ring (its queues are memory shared with the parent),
 * and a ring that fails is dropped too; either is made afresh on the
 * thread's next uring_thread_get.
 *
 * Only uring.c includes liburing.h.  Functions return 0 or a negative
 * errno and log their own failures.
 */
#ifndef AIFS_TIER_URING_H
#define AIFS_TIER_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define URING_DEPTH	64	/* most ops one uring_run takes */

struct uring_thread;

/* One read or write carried out to its end by uring_run. */
struct uring_op {
	int fd;
	bool write;
	uint8_t *buf;
	uint64_t off;
	uint32_t len;
	uint32_t done;
	int res;		/* 0, a negative errno, or -ENODATA: the file ended first */
};

/* The calling thread's state, with a working ring, into *OUT.  It belongs
 * to the thread and is freed when the thread exits. */
int uring_thread_get(struct uring_thread **out);

/* Run N (<= URING_DEPTH) ops together on the thread's ring, resubmitting
 * the rest of any short transfer.  Each op gets its own res.  If the ring
 * itself fails, the ops not done get that error and the ring is dropped,
 * to be made afresh on next use. */
void uring_run(struct uring_thread *ts, struct uring_op *ops, unsigned n);

/* Point *BUF at the thread's scratch buffer (staged reads, lz4 compression
 * output), grown to at least NEED bytes and TIER_BLOCK-aligned; the old
 * contents are not kept.  It stays the thread's and is valid until the
 * next uring_scratch. */
int uring_scratch(struct uring_thread *ts, size_t need, void **buf);

/* The same for the thread's decode buffer (lz4 output of a read not
 * starting at 0), distinct from scratch so that both can be in use. */
int uring_decode(struct uring_thread *ts, size_t need, void **buf);

#endif
