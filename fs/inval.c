/* inval.c — the invalidation queue and the thread that sends it (see
 * inval.h for the rule it enforces).
 *
 * Pending invalidations are a FIFO list with a hash of their keys, so that
 * one already pending absorbs a duplicate: the same entry (parent, name) or
 * deletion (parent, child, name) is dropped, an inode's ranges are merged
 * into one covering both.  The thread takes the whole list at once, lets go
 * of the queue's mutex, sends each, and frees them.
 */
#include "fs/inval.h"
#include "fs/fuseapi.h"
#include "fs/inode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INVAL_BUCKETS	4096
#define INVAL_MAX	100000		/* pending at most; more are dropped */
#define INVAL_STOP_SECS	5

enum { K_INODE, K_ENTRY, K_DELETE };

struct item {
	struct item *next;		/* FIFO */
	struct item *hnext;		/* hash chain */
	uint32_t bucket;
	uint8_t kind;
	uint64_t a, b;			/* inode or parent; child */
	int64_t off, len;		/* K_INODE */
	size_t nlen;
	char name[];			/* NUL-terminated copy */
};

static struct {
	pthread_mutex_t lock;		/* everything below; a leaf */
	pthread_cond_t cond;
	pthread_cond_t sent_cond;	/* a batch was sent */
	uint64_t taken, sent_batches;	/* batches the thread took, and sent */
	struct item *head, **tail;
	struct item *hash[INVAL_BUCKETS];
	size_t n;
	bool running, stop;
	pthread_t thread;
	int64_t last_drop_log;
	struct inval_stats st;
} q = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
	.sent_cond = PTHREAD_COND_INITIALIZER };

static uint32_t bucket_of(uint8_t kind, uint64_t a, uint64_t b, const char *name, size_t len)
{
	uint64_t h = 1469598103934665603ull ^ kind;

	h = (h ^ a) * 1099511628211ull;
	h = (h ^ b) * 1099511628211ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)name[i]) * 1099511628211ull;
	return (uint32_t)(h ^ (h >> 32)) % INVAL_BUCKETS;
}

/* Merge range (OFF, LEN) into IT's (see inval_inode for the meaning). */
static void merge_range(struct item *it, int64_t off, int64_t len)
{
	int64_t end, iend;

	if (off < 0)
		return;			/* attributes only: any range does that too */
	if (it->off < 0) {
		it->off = off;
		it->len = len;
		return;
	}
	end = len == 0 ? INT64_MAX : off + len;
	iend = it->len == 0 ? INT64_MAX : it->off + it->len;
	it->off = off < it->off ? off : it->off;
	end = end > iend ? end : iend;
	it->len = end == INT64_MAX ? 0 : end - it->off;
}

static void enqueue(uint8_t kind, uint64_t a, uint64_t b, int64_t off, int64_t len,
		    const char *name, size_t nlen)
{
	uint32_t h = bucket_of(kind, a, kind == K_DELETE ? b : 0, name, nlen);
	struct item *it;

	pthread_mutex_lock(&q.lock);
	if (!q.running || q.stop) {
		pthread_mutex_unlock(&q.lock);
		return;
	}
	for (it = q.hash[h]; it; it = it->hnext) {
		if (it->kind != kind || it->a != a || it->nlen != nlen ||
		    (kind == K_DELETE && it->b != b) || memcmp(it->name, name, nlen))
			continue;
		if (kind == K_INODE)
			merge_range(it, off, len);
		q.st.merged++;
		pthread_mutex_unlock(&q.lock);
		return;
	}
	it = q.n < INVAL_MAX ? malloc(sizeof(*it) + nlen + 1) : NULL;
	if (!it) {
		int64_t now = fs_now();

		q.st.dropped++;
		if (now - q.last_drop_log > 60 * 1000000000ll) {
			q.last_drop_log = now;
			log_warn("invalidation queue full (%zu pending): kernel caches may stay "
				 "stale until they time out", q.n);
		}
		pthread_mutex_unlock(&q.lock);
		return;
	}
	*it = (struct item){ .bucket = h, .kind = kind, .a = a, .b = b, .off = off, .len = len,
			     .nlen = nlen };
	memcpy(it->name, name, nlen);
	it->name[nlen] = 0;
	it->hnext = q.hash[h];
	q.hash[h] = it;
	*q.tail = it;
	q.tail = &it->next;
	q.n++;
	q.st.queued++;
	pthread_cond_signal(&q.cond);
	pthread_mutex_unlock(&q.lock);
}

void inval_inode(uint64_t ino, int64_t off, int64_t len)
{
	enqueue(K_INODE, ino, 0, off, len, "", 0);
}

void inval_entry(uint64_t parent, const char *name, size_t len)
{
	enqueue(K_ENTRY, parent, 0, 0, 0, name, len);
}

void inval_delete(uint64_t parent, uint64_t child, const char *name, size_t len)
{
	enqueue(K_DELETE, parent, child, 0, 0, name, len);
}

static void send_one(struct fuse_session *se, const struct item *it)
{
	int rc;

	switch (it->kind) {
	case K_INODE:
		rc = fuse_lowlevel_notify_inval_inode(se, it->a, it->off, it->len);
		break;
	case K_ENTRY:
		rc = fuse_lowlevel_notify_inval_entry(se, it->a, it->name, it->nlen);
		break;
	default:
		rc = fuse_lowlevel_notify_delete(se, it->a, it->b, it->name, it->nlen);
		break;
	}
	/* ENOENT: the kernel holds nothing of it (any more) */
	if (rc < 0 && rc != -ENOENT)
		log_debug("invalidation of %s %llu%s%s failed: %s",
			  it->kind == K_INODE ? "inode" : "entry in", (unsigned long long)it->a,
			  it->nlen ? " " : "", it->name, strerror(-rc));
}

static void free_list(struct item *it)
{
	while (it) {
		struct item *next = it->next;

		free(it);
		it = next;
	}
}

/* Take the whole queue (the caller holds its lock). */
static struct item *take_all(void)
{
	struct item *list = q.head;

	for (struct item *it = list; it; it = it->next)
		q.hash[it->bucket] = NULL;
	q.head = NULL;
	q.tail = &q.head;
	q.n = 0;
	return list;
}

static void *inval_main(void *arg)
{
	struct fuse_session *se = arg;

	pthread_mutex_lock(&q.lock);
	for (;;) {
		struct item *list;
		uint64_t n = 0;

		while (!q.head && !q.stop)
			pthread_cond_wait(&q.cond, &q.lock);
		if (q.stop)
			break;
		list = take_all();
		q.taken++;
		pthread_mutex_unlock(&q.lock);
		/* no aifs lock is held here: the kernel may make us wait */
		for (struct item *it = list; it; it = it->next, n++)
			send_one(se, it);
		free_list(list);
		pthread_mutex_lock(&q.lock);
		q.st.sent += n;
		q.sent_batches++;
		pthread_cond_broadcast(&q.sent_cond);
	}
	pthread_mutex_unlock(&q.lock);
	return NULL;
}

int inval_start(struct fs *fs)
{
	int rc;

	pthread_mutex_lock(&q.lock);
	q.head = NULL;
	q.tail = &q.head;
	q.stop = false;
	rc = -pthread_create(&q.thread, NULL, inval_main, fs->se);
	q.running = rc == 0;
	pthread_mutex_unlock(&q.lock);
	return rc;
}

int inval_stop(struct fs *fs)
{
	struct timespec until;
	struct item *left;
	int rc = 0;

	(void)fs;
	pthread_mutex_lock(&q.lock);
	if (!q.running) {
		pthread_mutex_unlock(&q.lock);
		return 0;
	}
	q.stop = true;
	q.st.dropped += q.n;
	left = take_all();
	pthread_cond_signal(&q.cond);
	pthread_mutex_unlock(&q.lock);
	free_list(left);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += INVAL_STOP_SECS;
	if (pthread_timedjoin_np(q.thread, NULL, &until) != 0) {
		log_err("invalidation thread stuck in the kernel at unmount: left running");
		rc = -ETIMEDOUT;
	}
	pthread_mutex_lock(&q.lock);
	q.running = false;
	pthread_mutex_unlock(&q.lock);
	return rc;
}

int inval_settle(unsigned ms)
{
	struct timespec until;
	uint64_t target;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&q.lock);
	/* what is queued goes with the next batch; a batch being sent counts */
	target = q.head ? q.taken + 1 : q.taken;
	while (q.running && !q.stop && q.sent_batches < target && rc == 0)
		rc = -pthread_cond_timedwait(&q.sent_cond, &q.lock, &until);
	pthread_mutex_unlock(&q.lock);
	return rc;
}

void inval_stats_get(struct inval_stats *out)
{
	pthread_mutex_lock(&q.lock);
	*out = q.st;
	out->pending = q.n;
	pthread_mutex_unlock(&q.lock);
}
