/* failpoint.h — named fail points, so that tests can inject the failures
 * that a full disk, a failing device or an interrupted request cause.
 *
 * Built in when meson's failpoints option is on (its default, auto, turns
 * it on in every build type but release, plain and minsize); otherwise
 * failpoint() is the constant 0 and arming fails with -ENOTSUP.
 *
 * A spec is "NAME:N[+][=ERR],...": the Nth hit of NAME counted from the
 * arming fails (with "+", that hit and every later one), with -ERR (an
 * errno name: EIO, ENOSPC, EINTR, ENOMEM, EROFS; default the point's own),
 * or "=KILL": the process raises SIGKILL at that hit, a crash at a moment
 * chosen exactly.
 * The daemon arms AIFS_FAILPOINTS at start; root re-arms a mounted daemon
 * by setting user.aifs.failpoints on the mount root (counts start anew).
 *
 * Points: meta_commit (a RocksDB write batch, EIO), meta_sync (a sync of
 * RocksDB's log, EIO), tier_append (an extent append, ENOSPC), tier_fsync
 * (a tier sync, EIO), open_reply (the reply to an open or create is lost,
 * as for an interrupted request), release_slow (a file's release waits
 * 300 ms before it is handled, as when its worker is slow to run),
 * journal_seal (just before the commit that seals a journal file, EIO),
 * journal_sealed (just after it; only =KILL does something there),
 * journal_record (the memory for a record of the signed log, ENOMEM),
 * history_keep (a commit that keeps records for an epoch snapshot, after
 * they were added to its batch, ENOMEM), snapshot_epoch (a dataset
 * snapshot is made as a copy instead of an epoch, EOVERFLOW), vhash_thread
 * (the thread of a big session's SHA-256 cannot start, EAGAIN: the writer
 * hashes), vhash_queue (the memory for a write queued for that thread,
 * ENOMEM: the writer hashes it), lookup_slow (a lookup waits 2 s, as
 * on a lock a slow request holds).
 * Lives in tier/ with log.h, the lowest layer, so that every layer uses it.
 */
#ifndef AIFS_FAILPOINT_H
#define AIFS_FAILPOINT_H

#include <errno.h>

#ifdef AIFS_FAILPOINTS
/* Replace the armed fail points by SPEC ("" disarms): 0, or -EINVAL. */
int failpoint_arm(const char *spec);
/* 0, or -errno when this hit of NAME is to fail (ERR: its default errno). */
int failpoint_hit(const char *name, int err);
#define failpoint(name, err)	failpoint_hit(name, err)
#else
static inline int failpoint_arm(const char *spec)
{
	(void)spec;
	return -ENOTSUP;
}
#define failpoint(name, err)	0
#endif

#endif
