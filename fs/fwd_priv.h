/* fwd_priv.h — what the files of the follower's side of forwarded writes
 * share (fwd.c: requests, sessions, the forwarding thread; fwdnotes.c:
 * lineage notes; fwdops.c: the FUSE handlers).  Only they include it.
 *
 * Layer: private to the FUSE adapter's follower side.
 */
#ifndef AIFS_FS_FWD_PRIV_H
#define AIFS_FS_FWD_PRIV_H

#include "fs/fwdwire.h"

#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "fs/fs.h"
#include "fs/fuseapi.h"

struct radosmsg;

#define NODE_BIT	(1ull << 62)	/* node ids of files not yet made by the writer
					 * (with FS_VIRT_BIT clear: a view's bits differ) */
#define FH_STAGED	8		/* fi->fh of a session (file.c uses bits 0-2) */
#define STREAM_MS	1000		/* journal records are sent at least this often */
#define RENEW_SECS	4		/* an idle journal session renews its hold (the
					 * writer's journal_lease is 10 s at least) */
#define NOTES_MAX	(256u << 10)	/* bytes of lineage notes sent at once */
#define SEEN_MAX	(1u << 20)	/* lineage notes remembered as sent */
#define COPY_CHUNK	(1u << 20)
#define WAIT_MS		10000		/* for the replica to apply a change made */
#define SETTLE_MS	200		/* a save waits this long at most for the kernel
					 * to drop its pages of the file */

struct caller {
	uint32_t uid, gid, umask, pid, ngroups;
	uint32_t groups[FWD_GROUPS_MAX];
	char job[129];
	char cmdline[1024];
	char comm[16];
};

/* A write session: one open (create) of a file for writing, and the
 * opens of its node that share it.  Fields under lock, but node, ino,
 * parent, name, path, journal, which never change. */
struct fsess {
	pthread_mutex_t lock;
	uint32_t refs;		/* under FW.lock: handles and passing users */
	uint32_t handles;	/* under FW.lock: open handles */
	uint64_t node;		/* the kernel's node id: ino, or NODE_BIT | n */
	uint64_t ino;		/* the file's inode, 0 when new */
	uint64_t parent;
	char *name, *path;
	bool journal;
	uint32_t mode;		/* of a new file */
	int oflags;		/* of the open that made the session */
	int fd;			/* the staged bytes */
	uint64_t size;		/* checkpoint: the file's size; journal: bytes staged */
	uint64_t base;		/* journal: the file's size at the open */
	uint64_t sent;		/* journal: staged bytes sent */
	uint32_t *recs;		/* journal: lengths of the records not sent */
	size_t nrecs, caprecs;
	bool dirty;		/* checkpoint: written since last sent */
	int err;		/* journal: a send failed (-errno): the session is over */
	bool made;		/* the writer has the file (journal) */
	uint64_t sid;
	int64_t last_sent;	/* CLOCK_MONOTONIC s */
	int64_t mtime;
	struct caller who;
	struct fsess *next;	/* under FW.lock */
};

struct fwd_follower {
	struct fs *fs;
	const struct fuse_lowlevel_ops *base;
	struct radosmsg *msg;
	char writer[FWD_ID_LEN + 1];
	char host[256];
	char stage_dir[4200];
	unsigned timeout_ms;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct fsess *sessions;
	uint64_t next_node, next_id, sid_base, nonce;
	pthread_t thread;
	bool running, stop;
	/* lineage notes */
	uint8_t *notes;
	size_t nlen, ncap;
	uint64_t *seen;		/* hashes of notes sent (open addressing, 0: free) */
	size_t nseen;
	pthread_mutex_t send_lock;	/* one batch of notes in flight */
	/* counts */
	uint64_t ok, refused, lost;
};

extern struct fwd_follower FW;

static inline int64_t fwd_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static inline int64_t fwd_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline bool fwd_is_node(uint64_t ino)
{
	return (ino & (NODE_BIT | FS_VIRT_BIT)) == NODE_BIT;
}

/* /proc/PID/WHAT as one line (NULs and newlines made spaces) into BUF. */
void fwd_proc_text(uint32_t pid, const char *what, char *buf, size_t len);
/* The identity of REQ's caller (uid, gid, groups, umask, AIFS_JOB, ...). */
void fwd_caller_of(fuse_req_t req, struct caller *c);
/* Send R for caller WHO (NULL: none) and wait for the answer, then for the
 * replica to apply the change: 0, the writer's -errno, or -EIO. */
int fwd_call(struct fwd_req *r, const struct caller *who);
/* Mount-relative paths: of NAME in directory DIR, of inode INO. */
int fwd_path_in(uint64_t dir, const char *name, char *buf, size_t len);
int fwd_path_of(uint64_t ino, char *buf, size_t len);
/* 0 if inode INO (attributes into A) is in an area whose writes are
 * forwarded, else -EROFS (or -errno). */
int fwd_area_of(uint64_t ino, struct meta_inode *a);
/* Session S (locked): send the whole file; send the records not sent
 * (FINAL: and end the session). */
int fwd_send_put(struct fsess *s);
int fwd_send_records(struct fsess *s, bool final);
/* Sessions: found by node id or by the name of a file not made yet
 * (referenced: fwd_sess_put), made (one handle), unlinked at the last
 * release, described as a stat. */
struct fsess *fwd_sess_find_node(uint64_t node);
struct fsess *fwd_sess_find_name(uint64_t parent, const char *name);
void fwd_sess_put(struct fsess *s);
struct fsess *fwd_fh_sess(const struct fuse_file_info *fi);
int fwd_sess_new(const char *path, uint64_t parent, const char *name, uint64_t ino,
		 bool journal, uint32_t mode, const struct caller *who, struct fsess **out);
void fwd_sess_unlink(struct fsess *s);
void fwd_sess_stat(struct fsess *s, struct stat *st);
/* fwdnotes.c: the AIFS_JOB of PID (cached a moment); a read of IN by REQ's
 * process, noted for the writer if its job is named; send the notes. */
bool fwd_job_of(uint32_t pid, char *job, size_t len);
void fwd_note_read(fuse_req_t req, struct inode *in);
void fwd_notes_send(void);

#endif
