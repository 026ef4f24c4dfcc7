/* journal_priv.h — what the files of the journal feature share (jlog.c,
 * jretain.c, journal.c, jcontrol.c, jhooks.c; fs/ internal).
 *
 * Layer: private to the journal feature.
 */
#ifndef AIFS_FS_JOURNAL_PRIV_H
#define AIFS_FS_JOURNAL_PRIV_H

#include "fs/fs.h"

#include <time.h>
#include "fs/fuseapi.h"
#include "fs/sb.h"
#include "meta/merkle.h"
#include "meta/note.h"
#include "meta/records.h"

/* Record kinds (meta/records.h). */
#define REC_J	META_REC_JOURNAL_LEAF
#define REC_K	META_REC_JOURNAL_CHECKPOINT
#define REC_A	META_REC_JOURNAL_SEAL
#define REC_C	META_REC_JOURNAL_CLOCK
#define REC_Y	META_REC_LEGAL_HOLD
#define REC_R	META_REC_RELEASED
#define REC_T	META_REC_RETENTION

struct journal {
	pthread_mutex_t lock;		/* tree, seq, ckpt fields */
	struct merkle tree;
	uint64_t signed_size;
	struct note_key *key;
	char name[64], origin[96];
	int64_t mono_base, boot0;
	int64_t wall0;		/* CLOCK_REALTIME (ns) when boot0 was taken */
	pthread_t thread;
	pthread_cond_t cond;
	bool running, stop;
	struct inode **dirty;		/* journal files with unstored records */
	size_t ndirty, capdirty;
	uint64_t npending;		/* their records */
	uint8_t del_hash[32];		/* journal_delete_begin..end (lock held) */
	pthread_mutex_t retention_lock;	/* a retention's check and change, as one */
	uint8_t (*pend_hash)[32];	/* hashes of the records of the batch */
	size_t pend_cap;		/* being committed (records_begin..end) */
	size_t pend_n;			/* and how many records it holds */
	bool pend_short;		/* some could not be made: left pending */
	struct sb rec;			/* the record being made (under lock) */
	struct witness *witness;	/* -o audit_witness=CMD, or NULL */
};

/* One record of the log.  Its op is one of: create, write, seal (a journal
 * file's life), hold, unhold, release (legal holds, governance release),
 * retention (a directory's retention set), delete (a name removed from a
 * journal area).  create, retention and delete records also carry the
 * retention in ns; create records the file's lock mode; delete records the
 * file's age since its seal on the store's clock and, in tag, why
 * retention allowed it. */
struct leaf {
	const char *op;
	uint32_t uid, pid;
	const char *comm, *path, *tag;
	uint64_t ino, offset, length;
	const uint8_t *sha;	/* 32 bytes or NULL */
	const char *lock;	/* create: "governance" or "compliance" */
	bool has_retention, has_age;
	int64_t retention, age;	/* ns */
};

/* Monotonic ns in the store's life (persisted across mounts). */
/* CLOCK_BOOTTIME in nanoseconds: counts through suspend, never steps. */
static inline int64_t journal_boottime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
int64_t journal_mono_now(struct journal *j);
/* The wall-clock second (UTC) of store-clock instant MONO, fixed for the
 * life of a mount so that a deadline reads the same at every call. */
time_t journal_wall_of(struct journal *j, int64_t mono);
/* Append L to the log in batch B and commit B: the change B holds and its
 * record are durable together or not at all. */
int journal_leaf_commit(struct fs *fs, const struct leaf *l, struct meta_batch *b);
/* Put L into B as the next record (caller holds the journal lock); its
 * leaf hash into H, appended to the tree once B is committed. */
int journal_leaf_put_next(struct fs *fs, const struct leaf *l, struct meta_batch *b, uint8_t h[32]);
/* Put L into B as record SEQ made at time T (caller holds the journal
 * lock); its leaf hash into H (jlog.c).  0, or -ENOMEM (logged). */
int journal_leaf_put(struct fs *fs, const struct leaf *l, uint64_t seq, int64_t t,
		     struct meta_batch *b, uint8_t h[32]);
/* Fill L's uid, pid and comm (COMM: 16 bytes) from REQ (journal.c). */
void journal_who(fuse_req_t req, struct leaf *l, char *comm);
/* The path and seal time (-1: not sealed) kept for journal file INO. */
void journal_path_put(struct meta_batch *b, uint64_t ino, const char *path, int64_t sealed);
int journal_path_load(struct fs *fs, uint64_t ino, char *path, size_t len, int64_t *sealed);
/* Retention of INO in ns: its own, else the mount's (jretain.c)... */
int64_t journal_retention_of(struct fs *fs, uint64_t ino);
/* ...and with *COMPLIANCE (if given): whether it was set in compliance mode. */
int64_t journal_retention_get(struct fs *fs, uint64_t ino, bool *compliance);
/* Keep retention NS (COMPLIANCE: locked in compliance mode) for INO in B. */
void journal_retention_put(struct meta_batch *b, uint64_t ino, int64_t ns, bool compliance);
/* Whether retention lets journal file IN change or go now: 0 (*WHY:
 * "released" or "retention ended"), else -EPERM (a legal hold, still being
 * written, retention not over); *AGE: ns since its seal, or -1. */
int journal_retention_allows(struct fs *fs, struct inode *in, const char **why, int64_t *age);
/* A new file INO in DIR keeps the retention DIR has now (returned, in ns)
 * and its mode (*COMPLIANCE: compliance, from DIR or the mount): the
 * record goes into B. */
int64_t journal_retention_inherit(struct fs *fs, uint64_t dir, uint64_t ino, bool *compliance,
				  struct meta_batch *b);
/* A new directory DIR in PARENT keeps PARENT's retention, if it has one
 * (the record goes into B). */
void journal_dir_inherit(struct fs *fs, uint64_t parent, uint64_t dir, struct meta_batch *b);

/* A write recorded when its bytes are stored (journal_records_*). */
struct jleaf {
	int64_t time;
	uint32_t uid, pid;
	char comm[16];
	uint64_t offset, length;
	uint8_t sha[32];
};

/* What the journal keeps of a loaded journal file, in its slot of the
 * inode (hooks.h: fs_slot), under the inode's lock. */
struct jfile {
	char *path;			/* its recorded path, once looked up */
	struct jleaf *pend;		/* its writes whose bytes are not stored yet */
	size_t n, cap;
	uint32_t uid, pid;		/* its creator or last writer, whom the */
	char comm[16];			/* seal names (a release has no caller) */
};
/* IN's state (made first if MAKE), or NULL (none yet, or no memory). */
struct jfile *jfile_of(struct fs *fs, struct inode *in, bool make);
/* The free hook: IN leaves memory. */
void jfile_free(struct inode *in, void *slot);

/* The journal's part in its files' writes and closes (jhooks.c). */
/* 0 if a write at OFF may go to journal file IN, else -EPERM. */
int journal_check_write(struct inode *in, uint64_t off);
/* The records of IN's buffered writes go into B (journal lock taken),
 * then into the log if B was committed (RC 0); IN locked. */
void journal_records_begin(struct fs *fs, struct inode *in, struct meta_batch *b);
void journal_records_end(struct fs *fs, struct inode *in, int rc);
/* Record the write of BUF (SIZE bytes at OFF) to journal file IN before it
 * is made: the record is stored in the commit that stores its bytes.  If
 * the write then fails, journal_unwrote takes the record back. */
int journal_wrote(struct fs *fs, fuse_req_t req, struct inode *in, const char *buf,
		  size_t size, uint64_t off);
void journal_unwrote(struct fs *fs, struct inode *in);
/* Seal journal file IN: flag, seal time and record in one commit; REQ
 * (the releasing request, or NULL) names the sealer if no writer is known. */
int journal_seal(struct fs *fs, fuse_req_t req, struct inode *in);

#endif
