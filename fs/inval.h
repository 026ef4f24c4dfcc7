/* inval.h — invalidations of the kernel's caches, sent by a thread of their own.
 *
 * THE RULE: no request handler, and no code that runs under any aifs lock
 * (fs->ns, an inode's lock, or any mutex of fs/), sends a notification to
 * the kernel through libfuse (its notify calls: inval_inode, inval_entry,
 * delete, store, retrieve, poll), directly or through what it calls.  They
 * call inval_* below, which only queue the invalidation (under the queue's
 * own mutex, a leaf of the lock order); the inval thread started at mount
 * sends the queue with no aifs lock held, and inval.c is the only file of
 * fs/ that calls libfuse's notify functions.
 *
 * Why (issue 16): a notification waits in the kernel for locks a process may
 * hold while its own request waits for a daemon worker.  inval_entry waits
 * for the directory's i_rwsem, which a rename holds while its LOOKUP (dentry
 * revalidation) waits for a worker; that worker waited for the inode lock
 * held by the handler sending the notification.  With every worker caught so,
 * the whole mount hung.  The inval thread may still wait in the kernel, but
 * it holds nothing a request needs, so requests go on and the lock it waits
 * for is freed.
 *
 * Nothing waits for the queue (but a follower's close, briefly:
 * inval_settle), so nothing may depend on an invalidation having happened.  What did (a checkpoint name hidden during a write
 * session, version_hide_name) holds another way: the names of checkpoint
 * files are never cached by the kernel (entry timeout 0, fs_entry), so each
 * path lookup asks the daemon, which answers from its own state
 * (version_lookup), and open answers from it too (open_checkpoint).  The
 * queue is the kernel's hint to drop what it holds sooner: pages behind a
 * direct write or of a torn save undone, names of pruned versions, names
 * made by aifs itself (promote).
 *
 * Duplicates pending at once are sent once (an inode's ranges are merged).
 * The queue owns its memory (names are copied).  Before inval_start and
 * after inval_stop, inval_* do nothing (no kernel cache to invalidate).
 *
 * Layer: a service below the features: anything in fs/ may queue an
 * invalidation; only inval.c's thread calls libfuse.
 */
#ifndef AIFS_FS_INVAL_H
#define AIFS_FS_INVAL_H

#include "fs/fs.h"

/* Start the thread that sends the queue to FS's session (fs->se). */
int inval_start(struct fs *fs);
/* Stop it: what is still queued is dropped.  Returns -ETIMEDOUT if the
 * thread did not end within a few seconds (stuck in the kernel); the
 * session must then not be destroyed. */
int inval_stop(struct fs *fs);

/* The kernel's cached pages of INO in [OFF, OFF+LEN) (LEN 0: to the end)
 * and its attributes; OFF < 0: the attributes only. */
void inval_inode(uint64_t ino, int64_t off, int64_t len);
/* The kernel's cached entry NAME (LEN bytes) in directory PARENT. */
void inval_entry(uint64_t parent, const char *name, size_t len);
/* The same, and that NAME in PARENT, which was CHILD, is gone. */
void inval_delete(uint64_t parent, uint64_t child, const char *name, size_t len);

/* Wait, MS milliseconds at most, until what is queued now has been sent:
 * 0 or -ETIMEDOUT.  Only for a handler that holds no aifs lock and whose
 * caller holds no directory lock of the kernel (a follower's close, so that
 * its caller then reads its own save, fwd.c): the thread may wait in the
 * kernel, so the wait is bounded. */
int inval_settle(unsigned ms);

/* Invalidations queued, sent, merged into a pending one, dropped (queue full
 * or stopped), and pending now. */
struct inval_stats {
	uint64_t queued, sent, merged, dropped, pending;
};
void inval_stats_get(struct inval_stats *out);

#endif
