/* uring.c — the per-thread io_uring engine of tier/ (see uring.h).
 *
 * The thread's state is reached through a __thread pointer (the fast
 * path) and owned by a pthread key, whose destructor frees it at thread
 * exit.  The key and the fork handler are set up once per process.
 *
 * Invariant: ring_ok is true iff ring is initialised and belongs to this
 * process; every SQE prepared is submitted before uring_run returns, so a
 * ring that is kept never holds a stale SQE.
 */
#include "tier/uring.h"
#include "tier/log.h"
#include "tier/tier.h"

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct uring_thread {
	struct io_uring ring;
	bool ring_ok;
	void *scratch;		/* staged reads, lz4 compression output */
	size_t scratch_cap;
	void *decode;		/* lz4 output of a read not starting at 0 */
	size_t decode_cap;
};

static __thread struct uring_thread *self;
static pthread_key_t self_key;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;
static int self_key_err;

/* ---- per-thread state ------------------------------------------------ */

static void uring_thread_free(void *p)
{
	struct uring_thread *ts = p;

	if (ts->ring_ok)
		io_uring_queue_exit(&ts->ring);
	free(ts->scratch);
	free(ts->decode);
	free(ts);
	self = NULL;
}

/* A forked child (a daemon detaching, say) must not drive the parent's
 * ring, whose queues are shared memory: the forking thread's ring is
 * dropped in the child and made afresh on its next use. */
static void uring_thread_forked(void)
{
	if (self && self->ring_ok) {
		io_uring_queue_exit(&self->ring);
		self->ring_ok = false;
	}
}

static void uring_key_create(void)
{
	self_key_err = pthread_key_create(&self_key, uring_thread_free);
	if (self_key_err == 0)
		self_key_err = pthread_atfork(NULL, NULL, uring_thread_forked);
}

int uring_thread_get(struct uring_thread **out)
{
	int rc;

	if (!self) {
		struct uring_thread *ts = NULL;

		pthread_once(&self_once, uring_key_create);
		rc = self_key_err;
		if (rc == 0)
			rc = (ts = calloc(1, sizeof *ts)) ? pthread_setspecific(self_key, ts) : ENOMEM;
		if (rc) {
			log_err("tier: cannot set up the thread's I/O state: %s", strerror(rc));
			free(ts);
			return -rc;
		}
		self = ts;
	}
	if (!self->ring_ok) {
		rc = io_uring_queue_init(URING_DEPTH, &self->ring, 0);
		if (rc < 0) {
			log_err("tier: cannot create an io_uring: %s", strerror(-rc));
			return rc;
		}
		self->ring_ok = true;
	}
	*out = self;
	return 0;
}

/* Make *BUF hold at least NEED bytes; the old contents are not kept. */
static int uring_buf_reserve(void **buf, size_t *cap, size_t need)
{
	size_t n = *cap ? *cap : 64u << 10;
	void *p;
	int rc;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	rc = posix_memalign(&p, TIER_BLOCK, n);
	if (rc) {
		log_err("tier: cannot allocate %zu bytes of scratch: %s", n, strerror(rc));
		return -rc;
	}
	free(*buf);
	*buf = p;
	*cap = n;
	return 0;
}

int uring_scratch(struct uring_thread *ts, size_t need, void **buf)
{
	int rc = uring_buf_reserve(&ts->scratch, &ts->scratch_cap, need);

	if (rc == 0)
		*buf = ts->scratch;
	return rc;
}

int uring_decode(struct uring_thread *ts, size_t need, void **buf)
{
	int rc = uring_buf_reserve(&ts->decode, &ts->decode_cap, need);

	if (rc == 0)
		*buf = ts->decode;
	return rc;
}

/* ---- io_uring engine ------------------------------------------------- */

static void uring_prep(struct io_uring *ring, struct uring_op *op, unsigned k)
{
	/* Never NULL: at most URING_DEPTH ops, and every submit drains the SQ. */
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (op->write)
		io_uring_prep_write(sqe, op->fd, op->buf + op->done, op->len - op->done,
				    op->off + op->done);
	else
		io_uring_prep_read(sqe, op->fd, op->buf + op->done, op->len - op->done,
				   op->off + op->done);
	io_uring_sqe_set_data64(sqe, k);
}

/* Hand every prepared SQE to the kernel, adding to *INFLIGHT those it
 * took (each of them will give exactly one CQE). */
static int uring_submit(struct io_uring *ring, unsigned *inflight)
{
	while (io_uring_sq_ready(ring) > 0) {
		int r = io_uring_submit(ring);

		if (r == -EINTR)
			continue;
		if (r <= 0)
			return r ? r : -EIO;
		*inflight += (unsigned)r;
	}
	return 0;
}

/* A failed ring is dropped with any SQE it did not take. */
void uring_run(struct uring_thread *ts, struct uring_op *ops, unsigned n)
{
	struct io_uring *ring = &ts->ring;
	unsigned inflight = 0;
	int err;

	for (unsigned k = 0; k < n; k++)
		uring_prep(ring, &ops[k], k);
	err = uring_submit(ring, &inflight);
	while (inflight > 0) {
		struct io_uring_cqe *cqe;
		struct uring_op *op;
		int r = io_uring_wait_cqe(ring, &cqe);

		if (r == -EINTR)
			continue;
		if (r < 0) {
			err = r;
			break;
		}
		op = &ops[io_uring_cqe_get_data64(cqe)];
		r = cqe->res;
		io_uring_cqe_seen(ring, cqe);
		inflight--;
		if (r < 0)
			op->res = r;
		else if (r == 0)
			op->res = op->write ? -EIO : -ENODATA;
		else if ((op->done += (uint32_t)r) < op->len && !err) {
			uring_prep(ring, op, (unsigned)(op - ops));
			err = uring_submit(ring, &inflight);
		}
	}
	if (err) {
		log_err("tier: io_uring failed: %s", strerror(-err));
		for (unsigned k = 0; k < n; k++)
			if (ops[k].res == 0 && ops[k].done < ops[k].len)
				ops[k].res = err;
		io_uring_queue_exit(ring);
		ts->ring_ok = false;
	}
}
