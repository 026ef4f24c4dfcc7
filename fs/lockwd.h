/* lockwd.h — the lock watchdog: aifs's locks, watched (fs/ only).
 *
 * fs.h includes this last, so in every file of fs/ the pthread calls
 * that take and release a lock are macros for the lk_* wrappers below:
 * pthread_rwlock_{rd,wr}lock and _unlock, pthread_mutex_lock and _unlock,
 * pthread_cond_wait and _timedwait.  A wrapper tries the lock first (the fast
 * path: a try-lock and two stores into this thread's record of the locks it
 * holds); only if the lock is busy does it wait, in slices of a second, and
 * after LK_WARN_SECS of waiting it logs one line: which thread waits, where,
 * for what (the namespace lock, the lock of inode N, a mutex), and who holds
 * it, with where each holder took it, which operation it serves and what it
 * waits for itself (a deadlock shows as a cycle).  Waits that end after the
 * warning log a second line with how long they took.  If the build sets an
 * abort time (meson -Dlock_abort=SECONDS; debug builds default to 60), a wait
 * that long logs every thread's locks and the waiter's stack and aborts.
 *
 * Every pthread_rwlock_t of fs/ is the namespace lock (fs->ns, named by
 * lk_name at mount) or an inode's (struct inode.lock): the watchdog names a
 * rwlock that lk_name did not name by the inode that contains it.  Add no
 * other rwlock to fs/ without naming it with lk_name.
 *
 * Layer: below the core (fs.h includes it); calls nothing in fs/.
 */
#ifndef AIFS_FS_LOCKWD_H
#define AIFS_FS_LOCKWD_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define LK_WARN_SECS 5.0

int lk_rdlock(pthread_rwlock_t *l, const char *site);
int lk_wrlock(pthread_rwlock_t *l, const char *site);
int lk_rwunlock(pthread_rwlock_t *l);
int lk_mutex_lock(pthread_mutex_t *m, const char *site);
int lk_mutex_unlock(pthread_mutex_t *m);
int lk_cond_wait(pthread_cond_t *c, pthread_mutex_t *m, const char *site);
int lk_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t,
		      const char *site);

/* Name LOCK as NAME (a static string, "the namespace lock") in what the
 * watchdog logs; call before any thread takes LOCK.  Other rwlocks are
 * named by the inode that contains them. */
void lk_name(const void *lock, const char *name);
/* The request this thread serves now (a static string; NULL: none). */
void lk_op(const char *op);
/* Warn after WARN seconds of waiting; abort after ABORT (0: never). */
void lk_configure(double warn, double abort_secs);
/* Waits warned about so far; the last warning's text into BUF (LEN). */
uint64_t lk_warnings(char *buf, size_t len);

#define LK_STR2(x) #x
#define LK_STR(x) LK_STR2(x)
#define LK_SITE __FILE__ ":" LK_STR(__LINE__)

#ifndef LK_IMPL
#define pthread_rwlock_rdlock(l)	lk_rdlock((l), LK_SITE)
#define pthread_rwlock_wrlock(l)	lk_wrlock((l), LK_SITE)
#define pthread_rwlock_unlock(l)	lk_rwunlock(l)
#define pthread_mutex_lock(m)		lk_mutex_lock((m), LK_SITE)
#define pthread_mutex_unlock(m)		lk_mutex_unlock(m)
#define pthread_cond_wait(c, m)		lk_cond_wait((c), (m), LK_SITE)
#define pthread_cond_timedwait(c, m, t)	lk_cond_timedwait((c), (m), (t), LK_SITE)
#endif

#endif
