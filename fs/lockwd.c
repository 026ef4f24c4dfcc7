/* lockwd.c — the lock watchdog (see lockwd.h).
 *
 * Each thread that takes an aifs lock has a record, never freed (a thread
 * that ends leaves it to the next one): the locks it holds, with the mode
 * and the place each was taken, the lock it waits for, and the request it
 * serves.  Only the owner writes its record; a waiter that warns reads all
 * records, racily (relaxed atomics): what it prints may be a moment old,
 * which is enough to find who holds what.
 */
#define LK_IMPL
#include "fs/fs.h"

#include <errno.h>
#include <execinfo.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef AIFS_LOCK_ABORT_SECS
#define AIFS_LOCK_ABORT_SECS 0
#endif

#define LK_HELD 32		/* locks one thread holds at once, at most recorded */

enum { LK_RD = 1, LK_WR, LK_MX };

struct lk_held {
	_Atomic(const void *) lock;
	_Atomic(const char *) site;
	atomic_int mode;
};

struct lk_thread {
	struct lk_thread *next;			/* every record */
	atomic_int tid;				/* 0: free for a new thread */
	atomic_int n;				/* entries of held[] in use */
	int over;				/* held but not recorded (full) */
	struct lk_held held[LK_HELD];
	_Atomic(const void *) wait;		/* the lock waited for */
	_Atomic(const char *) wsite;
	atomic_int wmode;
	_Atomic(const char *) op;
};

static _Atomic(struct lk_thread *) lk_all;
static __thread struct lk_thread *lk_self;
static pthread_key_t lk_key;
static pthread_once_t lk_once = PTHREAD_ONCE_INIT;
static double lk_warn = LK_WARN_SECS, lk_abort = AIFS_LOCK_ABORT_SECS;

static pthread_mutex_t lk_report_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t lk_nwarn;
static char lk_last[1024];

void lk_configure(double warn, double abort_secs)
{
	lk_warn = warn;
	lk_abort = abort_secs;
}

static void lk_thread_end(void *arg)
{
	struct lk_thread *t = arg;

	atomic_store(&t->n, 0);
	atomic_store(&t->wait, NULL);
	atomic_store(&t->op, NULL);
	t->over = 0;
	atomic_store(&t->tid, 0);
}

static void lk_key_make(void)
{
	pthread_key_create(&lk_key, lk_thread_end);
}

static struct lk_thread *lk_me(void)
{
	struct lk_thread *t;
	int tid;

	if (lk_self)
		return lk_self;
	tid = (int)syscall(SYS_gettid);
	pthread_once(&lk_once, lk_key_make);
	for (t = atomic_load(&lk_all); t; t = t->next) {
		int free_tid = 0;

		if (atomic_compare_exchange_strong(&t->tid, &free_tid, tid))
			break;
	}
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t)
			abort();	/* a few hundred bytes per thread, once */
		atomic_store(&t->tid, tid);
		t->next = atomic_load(&lk_all);
		while (!atomic_compare_exchange_weak(&lk_all, &t->next, t))
			;
	}
	lk_self = t;
	pthread_setspecific(lk_key, t);
	return t;
}

static void lk_push(const void *l, int mode, const char *site)
{
	struct lk_thread *t = lk_me();
	int n = atomic_load_explicit(&t->n, memory_order_relaxed);

	if (n == LK_HELD) {
		t->over++;
		return;
	}
	atomic_store_explicit(&t->held[n].lock, l, memory_order_relaxed);
	atomic_store_explicit(&t->held[n].site, site, memory_order_relaxed);
	atomic_store_explicit(&t->held[n].mode, mode, memory_order_relaxed);
	atomic_store_explicit(&t->n, n + 1, memory_order_release);
}

static void lk_pop(const void *l)
{
	struct lk_thread *t = lk_me();
	int n = atomic_load_explicit(&t->n, memory_order_relaxed);

	for (int i = n - 1; i >= 0; i--) {
		if (atomic_load_explicit(&t->held[i].lock, memory_order_relaxed) != l)
			continue;
		if (i != n - 1) {
			struct lk_held *last = &t->held[n - 1];

			atomic_store_explicit(&t->held[i].site, atomic_load_explicit(
				&last->site, memory_order_relaxed), memory_order_relaxed);
			atomic_store_explicit(&t->held[i].mode, atomic_load_explicit(
				&last->mode, memory_order_relaxed), memory_order_relaxed);
			atomic_store_explicit(&t->held[i].lock, atomic_load_explicit(
				&last->lock, memory_order_relaxed), memory_order_relaxed);
		}
		atomic_store_explicit(&t->n, n - 1, memory_order_release);
		return;
	}
	if (t->over)
		t->over--;
}

void lk_op(const char *op)
{
	atomic_store_explicit(&lk_me()->op, op, memory_order_relaxed);
}

/* --- reports ------------------------------------------------------------ */

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *short_site(const char *site)
{
	while (site && !strncmp(site, "../", 3))
		site += 3;
	return site ? site : "?";
}

static const char *mode_name(int mode)
{
	return mode == LK_RD ? "read" : mode == LK_WR ? "write" : "mutex";
}

/* Locks named by lk_name: written before the threads that take them start. */
static struct {
	const void *lock;
	const char *name;
} lk_names[8];
static _Atomic int lk_nnames;

void lk_name(const void *lock, const char *name)
{
	int n = lk_nnames;

	if (n < (int)(sizeof(lk_names) / sizeof(lk_names[0]))) {
		lk_names[n].lock = lock;
		lk_names[n].name = name;
		lk_nnames = n + 1;
	}
}

/* What lock L (taken in MODE) is, into BUF. */
static void lk_describe(const void *l, int mode, char *buf, size_t len)
{
	for (int i = 0; i < lk_nnames; i++)
		if (lk_names[i].lock == l) {
			snprintf(buf, len, "%s", lk_names[i].name);
			return;
		}
	if (mode != LK_MX)		/* every other rwlock of fs/ is an inode's */
		snprintf(buf, len, "the lock of inode %llu", (unsigned long long)
			 ((const struct inode *)((const char *)l -
						 offsetof(struct inode, lock)))->ino);
	else
		snprintf(buf, len, "mutex %p", l);
}

/* Append to BUF (LEN bytes, *OFF used so far; never beyond LEN - 1). */
static void __attribute__((format(printf, 4, 5)))
app(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off + 1 >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off = *off + (size_t)n < len ? *off + (size_t)n : len - 1;
}

/* Append to BUF the holders of L and what each waits for itself. */
static void lk_holders(const void *l, char *buf, size_t len, size_t *off)
{
	int found = 0;

	for (struct lk_thread *t = atomic_load(&lk_all); t; t = t->next) {
		int tid = atomic_load_explicit(&t->tid, memory_order_relaxed);
		int n = atomic_load_explicit(&t->n, memory_order_acquire);

		for (int i = 0; tid && i < n && i < LK_HELD; i++) {
			const void *w;
			const char *op;
			char what[96];

			if (atomic_load_explicit(&t->held[i].lock, memory_order_relaxed) != l)
				continue;
			if (found++ == 3) {
				app(buf, len, off, "; and others");
				return;
			}
			op = atomic_load_explicit(&t->op, memory_order_relaxed);
			app(buf, len, off, "%s thread %d%s (%s, taken at %s%s%s)", found > 1 ? ";" : "",
			    tid, t == lk_self ? " (this one)" : "",
			    mode_name(atomic_load_explicit(&t->held[i].mode, memory_order_relaxed)),
			    short_site(atomic_load_explicit(&t->held[i].site, memory_order_relaxed)),
			    op ? ", serving " : "", op ? op : "");
			w = atomic_load_explicit(&t->wait, memory_order_relaxed);
			if (w && t != lk_self) {
				lk_describe(w, atomic_load_explicit(&t->wmode, memory_order_relaxed),
					    what, sizeof(what));
				app(buf, len, off, ", itself waiting for %s at %s", what,
				    short_site(atomic_load_explicit(&t->wsite, memory_order_relaxed)));
			} else if (t != lk_self) {
				/* busy, or stuck outside aifs: its kernel stack
				 * (/proc/PID/task/TID/stack) tells */
				app(buf, len, off, ", not waiting for an aifs lock");
			}
			break;
		}
	}
	if (!found)
		app(buf, len, off, " no recorded holder (readers beyond the record, or a "
		    "thread outside fs/)");
}

static void lk_report(const void *l, int mode, const char *site, double waited)
{
	struct lk_thread *me = lk_me();
	const char *op = atomic_load_explicit(&me->op, memory_order_relaxed);
	char what[96], line[900];
	size_t off = 0;

	lk_describe(l, mode, what, sizeof(what));
	app(line, sizeof(line), &off, "lock watchdog: thread %d%s%s has waited %.0f s at %s for "
	    "%s%s; held by", atomic_load(&me->tid), op ? " serving " : "", op ? op : "",
	    waited, short_site(site), what,
	    mode == LK_MX ? "" : mode == LK_RD ? " (read)" : " (write)");
	lk_holders(l, line, sizeof(line), &off);
	log_warn("%s", line);
	pthread_mutex_lock(&lk_report_lock);
	lk_nwarn++;
	snprintf(lk_last, sizeof(lk_last), "%s", line);
	pthread_mutex_unlock(&lk_report_lock);
}

/* Every thread's locks and the waiter's stack, then abort (debug builds). */
static void lk_die(const void *l, int mode, const char *site, double waited)
{
	void *frames[64];
	int n;

	log_err("lock watchdog: a wait of %.0f s for a lock at %s: aborting (lock_abort)",
		waited, short_site(site));
	lk_report(l, mode, site, waited);
	for (struct lk_thread *t = atomic_load(&lk_all); t; t = t->next) {
		int tid = atomic_load(&t->tid), held = atomic_load(&t->n);
		const void *w = atomic_load(&t->wait);
		char line[900], what[96];
		size_t off = 0;

		if (!tid || (!held && !w))
			continue;
		app(line, sizeof(line), &off, "lock watchdog: thread %d holds", tid);
		for (int i = 0; i < held && i < LK_HELD; i++) {
			lk_describe(atomic_load(&t->held[i].lock), atomic_load(&t->held[i].mode),
				    what, sizeof(what));
			app(line, sizeof(line), &off, " [%s, %s, %s]", what,
			    mode_name(atomic_load(&t->held[i].mode)),
			    short_site(atomic_load(&t->held[i].site)));
		}
		if (w) {
			lk_describe(w, atomic_load(&t->wmode), what, sizeof(what));
			app(line, sizeof(line), &off, "; waits for %s at %s", what,
			    short_site(atomic_load(&t->wsite)));
		}
		log_err("%s", line);
	}
	n = backtrace(frames, 64);
	backtrace_symbols_fd(frames, n, STDERR_FILENO);
	abort();
}

/* --- waiting ------------------------------------------------------------- */

/* Wait for L in MODE: TRY(L, deadline) in slices of a second. */
static int lk_wait(void *l, int mode, const char *site,
		   int (*try_until)(void *l, const struct timespec *until))
{
	struct lk_thread *me = lk_me();
	double start = mono(), waited = 0;
	bool warned = false;
	int rc;

	atomic_store_explicit(&me->wsite, site, memory_order_relaxed);
	atomic_store_explicit(&me->wmode, mode, memory_order_relaxed);
	atomic_store_explicit(&me->wait, l, memory_order_relaxed);
	for (;;) {
		struct timespec until;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += 1;
		rc = try_until(l, &until);
		if (rc != ETIMEDOUT)
			break;
		waited = mono() - start;
		if (!warned && lk_warn > 0 && waited >= lk_warn) {
			warned = true;
			lk_report(l, mode, site, waited);
		}
		if (lk_abort > 0 && waited >= lk_abort)
			lk_die(l, mode, site, waited);
	}
	atomic_store_explicit(&me->wait, NULL, memory_order_relaxed);
	if (warned)
		log_warn("lock watchdog: thread %d got the lock it waited for at %s after %.1f s",
			 atomic_load(&me->tid), short_site(site), mono() - start);
	return rc;
}

static int rd_until(void *l, const struct timespec *t)
{
	return pthread_rwlock_clockrdlock(l, CLOCK_MONOTONIC, t);
}

static int wr_until(void *l, const struct timespec *t)
{
	return pthread_rwlock_clockwrlock(l, CLOCK_MONOTONIC, t);
}

static int mx_until(void *l, const struct timespec *t)
{
	return pthread_mutex_clocklock(l, CLOCK_MONOTONIC, t);
}

static int lk_failed(int rc, const char *what, const char *site)
{
	log_err("lock watchdog: %s at %s failed: %s", what, short_site(site), strerror(rc));
	if (lk_abort > 0)
		abort();	/* a lock taken twice by one thread, a bad lock: a bug */
	return rc;
}

int lk_rdlock(pthread_rwlock_t *l, const char *site)
{
	int rc = pthread_rwlock_tryrdlock(l);

	if (rc == EBUSY)
		rc = lk_wait(l, LK_RD, site, rd_until);
	if (rc != 0)
		return lk_failed(rc, "read lock", site);
	lk_push(l, LK_RD, site);
	return 0;
}

int lk_wrlock(pthread_rwlock_t *l, const char *site)
{
	int rc = pthread_rwlock_trywrlock(l);

	if (rc == EBUSY)
		rc = lk_wait(l, LK_WR, site, wr_until);
	if (rc != 0)
		return lk_failed(rc, "write lock", site);
	lk_push(l, LK_WR, site);
	return 0;
}

int lk_rwunlock(pthread_rwlock_t *l)
{
	lk_pop(l);
	return pthread_rwlock_unlock(l);
}

int lk_mutex_lock(pthread_mutex_t *m, const char *site)
{
	int rc = pthread_mutex_trylock(m);

	if (rc == EBUSY)
		rc = lk_wait(m, LK_MX, site, mx_until);
	if (rc != 0)
		return lk_failed(rc, "mutex lock", site);
	lk_push(m, LK_MX, site);
	return 0;
}

int lk_mutex_unlock(pthread_mutex_t *m)
{
	lk_pop(m);
	return pthread_mutex_unlock(m);
}

int lk_cond_wait(pthread_cond_t *c, pthread_mutex_t *m, const char *site)
{
	int rc;

	lk_pop(m);
	rc = pthread_cond_wait(c, m);
	lk_push(m, LK_MX, site);
	return rc;
}

int lk_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t,
		      const char *site)
{
	int rc;

	lk_pop(m);
	rc = pthread_cond_timedwait(c, m, t);
	lk_push(m, LK_MX, site);
	return rc;
}

uint64_t lk_warnings(char *buf, size_t len)
{
	uint64_t n;

	pthread_mutex_lock(&lk_report_lock);
	n = lk_nwarn;
	if (buf && len)
		snprintf(buf, len, "%s", lk_last);
	pthread_mutex_unlock(&lk_report_lock);
	return n;
}
