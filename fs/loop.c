/* loop.c — the request loop: a leader reads and answers quick requests
 * itself, hands the reading on before slow ones (loop.h says why).
 *
 * Invariants (all under loop.mu):
 *  - at most one worker is the leader (loop.leader); only the leader calls
 *    fuse_session_receive_buf, so requests are read one at a time;
 *  - a worker that is not the leader and has no request sleeps on its own
 *    condition in the idle stack, newest on top;
 *  - loop.leader is NULL while the reading is handed on: the first worker
 *    to come to the top of its loop takes it.
 */
#include "fs/loop.h"
#include "fs/aifs_ioctl.h"
#include "tier/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WATCH_NS	2000000L	/* the leader's time on one request before
					 * the reading is handed on */
#define IDLE_POLLS	500		/* a second without requests: sleep */
#define QUICK_WRITE	(128u << 10)	/* writes up to this are quick */

struct worker {
	struct loop *l;
	pthread_t thread;
	pthread_cond_t wake;
	struct worker *next_idle;
	struct worker *next;		/* every worker, for the join */
	struct fuse_buf buf;
	bool woken, busy;
};

struct loop {
	struct fuse_session *se;
	pthread_mutex_t mu;
	struct worker *leader, *idle, *all;
	unsigned nworkers, max;
	uint64_t seq;			/* quick requests the leaders began */
	bool exit, watch_asleep;
	int error;
	sem_t kick;			/* wakes the watchdog from its sleep */
};

static void *worker_main(void *arg);

/* Start one more worker (MU held): false if none could start. */
static bool spawn(struct loop *l)
{
	struct worker *w;
	sigset_t all, old;
	int rc;

	if (l->nworkers >= l->max || !(w = calloc(1, sizeof(*w))))
		return false;
	w->l = l;
	pthread_cond_init(&w->wake, NULL);
	sigfillset(&all);		/* signals go to the watchdog */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&w->wake);
		free(w);
		if (l->nworkers == 0)
			l->error = -rc;
		log_warn("cannot start a worker thread (%s): %u serve requests",
			 strerror(rc), l->nworkers);
		return false;
	}
	w->next = l->all;
	l->all = w;
	l->nworkers++;
	return true;
}

/* The reading is vacant (MU held): wake the newest idle worker to take
 * it, or start one; else the next worker done with its request takes it. */
static void hand_on(struct loop *l)
{
	struct worker *w = l->idle;

	if (w) {
		l->idle = w->next_idle;
		w->woken = true;
		pthread_cond_signal(&w->wake);
	} else {
		spawn(l);
	}
}

/* Requests that finish in microseconds unless a lock is busy: the leader
 * answers them itself.  Anything else may wait on I/O, on a commit that
 * syncs, or on another request's release. */
static bool quick(const struct fuse_buf *buf)
{
	const struct fuse_in_header *h = buf->mem;
	const void *arg = h + 1;

	if ((buf->flags & FUSE_BUF_IS_FD) || buf->size < sizeof(*h))
		return false;
	switch (h->opcode) {
	case FUSE_LOOKUP: case FUSE_FORGET: case FUSE_BATCH_FORGET: case FUSE_GETATTR:
	case FUSE_READLINK: case FUSE_STATFS: case FUSE_GETXATTR: case FUSE_LISTXATTR:
	case FUSE_ACCESS: case FUSE_OPENDIR: case FUSE_READDIR: case FUSE_READDIRPLUS:
	case FUSE_RELEASEDIR: case FUSE_CREATE: case FUSE_MKNOD: case FUSE_MKDIR:
	case FUSE_UNLINK: case FUSE_SYMLINK: case FUSE_LINK: case FUSE_RENAME:
	case FUSE_RENAME2: case FUSE_INTERRUPT: case FUSE_INIT: case FUSE_DESTROY:
		return true;
	case FUSE_OPEN:		/* a writer may wait for an earlier one's release */
		return buf->size >= sizeof(*h) + sizeof(struct fuse_open_in) &&
		       (((const struct fuse_open_in *)arg)->flags & (O_ACCMODE | O_TRUNC)) ==
		       O_RDONLY;
	case FUSE_WRITE:	/* a small write is buffered; a big one is stored */
		return buf->size >= sizeof(*h) + sizeof(struct fuse_write_in) &&
		       ((const struct fuse_write_in *)arg)->size <= QUICK_WRITE;
	case FUSE_IOCTL:	/* a clone copies a tree; others (a tty probe) fail */
		return buf->size >= sizeof(*h) + sizeof(struct fuse_ioctl_in) &&
		       ((const struct fuse_ioctl_in *)arg)->cmd != AIFS_IOC_CLONE;
	case FUSE_RELEASE:	/* a writer's release may end a save */
		return buf->size >= sizeof(*h) + sizeof(struct fuse_release_in) &&
		       (((const struct fuse_release_in *)arg)->flags & O_ACCMODE) == O_RDONLY;
	default:
		return false;
	}
}

/* The session is over (MU held): wake every idle worker to leave. */
static void stop(struct loop *l, int error)
{
	struct worker *w;

	if (error < 0 && !l->error)
		l->error = error;
	l->exit = true;
	fuse_session_exit(l->se);
	while ((w = l->idle)) {
		l->idle = w->next_idle;
		w->woken = true;
		pthread_cond_signal(&w->wake);
	}
	if (l->watch_asleep)
		sem_post(&l->kick);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct loop *l = w->l;
	bool fast;
	int res;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_mutex_lock(&l->mu);
	while (!l->exit) {
		if (l->leader && l->leader != w) {
			w->woken = false;
			w->next_idle = l->idle;
			l->idle = w;
			while (!w->woken)
				pthread_cond_wait(&w->wake, &l->mu);
			continue;
		}
		l->leader = w;
		pthread_mutex_unlock(&l->mu);
		/* the watchdog cancels a leader left in read() at exit */
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		res = fuse_session_receive_buf(l->se, &w->buf);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		pthread_mutex_lock(&l->mu);
		if (res == -EINTR || res == -EAGAIN)
			continue;
		if (res <= 0 || fuse_session_exited(l->se)) {
			stop(l, res);
			break;
		}
		fast = quick(&w->buf);
		if (fast) {
			l->seq++;
			w->busy = true;
			if (l->watch_asleep) {
				l->watch_asleep = false;
				sem_post(&l->kick);
			}
		} else if (l->leader == w) {
			l->leader = NULL;
			hand_on(l);
		}
		pthread_mutex_unlock(&l->mu);
		fuse_session_process_buf(l->se, &w->buf);
		pthread_mutex_lock(&l->mu);
		w->busy = false;
	}
	if (l->leader == w)
		l->leader = NULL;
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* Sleep NS nanoseconds, or until kicked (ASLEEP: up to a second). */
static void watch_sleep(struct loop *l, long ns)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += ns;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	while (sem_timedwait(&l->kick, &until) < 0 && errno == EINTR && !fuse_session_exited(l->se))
		;
}

/* The watchdog: hand the reading on when the leader stays on one quick
 * request for WATCH_NS; notice an exit asked for by a signal. */
static void watch(struct loop *l)
{
	uint64_t seen = UINT64_MAX;
	struct worker *was = NULL;
	unsigned quiet = 0;
	bool asleep;

	pthread_mutex_lock(&l->mu);
	while (!l->exit) {
		if (fuse_session_exited(l->se)) {
			stop(l, 0);
			break;
		}
		if (l->leader && l->leader == was && was->busy && l->seq == seen) {
			l->leader = NULL;	/* it waits: let another read */
			hand_on(l);
		}
		quiet = l->seq == seen ? quiet + 1 : 0;
		was = l->leader;
		seen = l->seq;
		asleep = quiet >= IDLE_POLLS && !(was && was->busy);
		l->watch_asleep = asleep;
		pthread_mutex_unlock(&l->mu);
		watch_sleep(l, asleep ? 999999999L : WATCH_NS);
		pthread_mutex_lock(&l->mu);
		l->watch_asleep = false;
		if (asleep)
			quiet = 0;
	}
	pthread_mutex_unlock(&l->mu);
}

int fs_loop(struct fuse_session *se, unsigned max_threads)
{
	struct loop l = { .se = se, .max = max_threads ? max_threads : 1 };
	struct worker *w;
	int rc;

	pthread_mutex_init(&l.mu, NULL);
	sem_init(&l.kick, 0, 0);
	pthread_mutex_lock(&l.mu);
	rc = spawn(&l) ? 0 : l.error ? l.error : -EAGAIN;
	pthread_mutex_unlock(&l.mu);
	if (rc == 0)
		watch(&l);
	/* A leader may still be in read(): it leaves at its cancellation. */
	pthread_mutex_lock(&l.mu);
	for (w = l.all; w; w = w->next)
		if (w == l.leader)
			pthread_cancel(w->thread);
	pthread_mutex_unlock(&l.mu);
	while ((w = l.all)) {
		l.all = w->next;
		pthread_join(w->thread, NULL);
		pthread_cond_destroy(&w->wake);
		free(w->buf.mem);
		free(w);
	}
	sem_destroy(&l.kick);
	pthread_mutex_destroy(&l.mu);
	return rc < 0 ? rc : l.error;
}
