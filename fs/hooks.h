/* hooks.h — how the features plug into the core: a table of hooks each
 * feature registers at mount (as a tier registers its struct tier_ops), so
 * that the core (inode table, content, space, commit) acts on a purge, a
 * store or a durable commit without knowing versions, content hashes,
 * lineage, the journal or shipping.
 *
 * Every hook may be NULL.  Hooks run in the order the features were
 * registered, in the thread and under the locks of the core's operation
 * (said for each below); they must not take the namespace lock.
 *
 * Layer: core.  Features register (fs_feature_register, from main.c at
 * mount, before any request is served); the core calls the fs_hook_*
 * functions, and the FUSE adapter the hooks of the files a feature claims
 * and fs_hook_may_change.  The core never includes libfuse: a request is
 * passed through as struct fuse_req *.
 */
#ifndef AIFS_FS_HOOKS_H
#define AIFS_FS_HOOKS_H

#include "fs/fs.h"

struct fuse_req;

/* A change of a claimed file's content, as the change hook is told it. */
struct fs_change {
	enum {
		FS_CHANGE_WRITE,	/* SIZE bytes of BUF written at OFF */
		FS_CHANGE_SIZE,		/* truncate(2) or ftruncate(2) to SIZE */
		FS_CHANGE_OPEN_TRUNC,	/* open(O_TRUNC) */
		FS_CHANGE_ALLOCATE,	/* fallocate(2) */
	} what;
	const char *buf;
	uint64_t size, off;
};

struct fs_feature_ops {
	const char *name;
	/* True if IN's records must not go with the unlink of its last name
	 * (inode_purge_at_unlink): the feature acts at its purge. */
	bool (*keeps_records)(const struct inode *in);
	/* IN (unlinked, unused, not locked) is about to be purged at its last
	 * close or forget: drop what the feature keeps apart (its own batches). */
	void (*before_purge)(struct fs *fs, struct inode *in);
	/* IN's records are being deleted into B at its last close or forget
	 * (inode_purge)... */
	void (*purge)(struct fs *fs, struct inode *in, struct meta_batch *b);
	/* ...or in the batch of the operation that removed it (inode_purge_now;
	 * IN locked). */
	void (*purge_now)(struct fs *fs, struct inode *in, struct meta_batch *b);
	/* IN leaves memory: free the feature's state of IN (SLOT: what the
	 * feature put in IN's slot, or NULL). */
	void (*free)(struct inode *in, void *slot);
	/* B stores buffered data of IN (locked): put the feature's records of
	 * it into B; true if store_end must follow once B's commit returned RC.
	 * Only for the files whose records the feature keeps (keeps_records):
	 * the bytes of other files may be stored in an order of their own
	 * (write-behind, data.c). */
	bool (*store_begin)(struct fs *fs, struct inode *in, struct meta_batch *b);
	void (*store_end)(struct fs *fs, struct inode *in, int rc);
	/* May IN (locked) change: its attributes, stored xattrs, content,
	 * names?  0, or -errno (-EPERM: a journal file under retention). */
	int (*may_change)(struct fs *fs, struct inode *in);

	/* Any file IN (unlocked) is opened with FLAGS by the caller of REQ. */
	void (*opened)(struct fs *fs, struct fuse_req *req, struct inode *in, int flags);

	/* --- The files the feature claims.  A regular file is claimed by the
	 * first feature whose claims() is true (fs_hook_claimer); the FUSE
	 * adapter tells that feature alone of the file's opens, changes and
	 * closes, and counts its writers (in->nwriters).  REQ is the request
	 * of the operation (for its caller), or NULL.  IN is locked for
	 * writing unless said. */
	bool (*claims)(const struct inode *in);
	/* True if a writer of IN waits first (IN unlocked, up to 100 ms) for
	 * the release of writers whose close() returned (FUSE sends RELEASE
	 * afterwards): the feature ends something at the last writer's
	 * release (a version, a seal) that a new writer must not join. */
	bool (*writer_waits)(const struct inode *in);
	/* A writer (WRITE) or a reader opens IN: 0, or -errno to refuse. */
	int (*open)(struct fs *fs, struct inode *in, bool write);
	/* A reader opens IN (unlocked): 0 with *OUT the inode it reads
	 * instead, uncached (referenced), or NULL to read IN; or -errno. */
	int (*read_instead)(struct fs *fs, struct inode *in, struct inode **out);
	/* New IN was created as NAME in directory PARENT. */
	void (*created)(struct fs *fs, struct inode *in, uint64_t parent, const char *name);
	/* IN is about to change as C says: 0 to let it, or -errno... */
	int (*change)(struct fs *fs, struct fuse_req *req, struct inode *in,
		      const struct fs_change *c);
	/* ...and the write that change() let failed: take back what it noted. */
	void (*unwrite)(struct fs *fs, struct inode *in);
	/* True if every close() of a writer of IN must reach the daemon
	 * (FLUSH): the feature commits before close() returns. */
	bool (*needs_flush)(const struct inode *in);
	/* close() of a writer's handle of IN (FLUSH), whose buffered bytes were
	 * stored with result RC: RC, or the result of ending IN's session now
	 * (*ENDED set): 1 if the content went back (a torn save: the kernel's
	 * cached pages are dropped), 0 or -errno. */
	int (*flush)(struct fs *fs, struct inode *in, int rc, bool *ended);
	/* The last writer of IN is gone (its release; REQ NULL for an open
	 * whose reply was lost): end its session or seal it, as flush. */
	int (*last_close)(struct fs *fs, struct fuse_req *req, struct inode *in, bool *ended);
	/* A session flush or last_close ended has been committed: act on it
	 * with IN unlocked (a directory version its last file completes). */
	void (*closed)(struct fs *fs, struct fuse_req *req, struct inode *in);

	/* A durable commit or an fsync returned: 0 once what it made durable
	 * is wherever the feature keeps it too, or -errno. */
	int (*durable)(struct fs *fs);
};

/* Add OPS (static, never freed) to FS's features; -ENOSPC past FS_FEATURES_MAX. */
int fs_feature_register(struct fs *fs, const struct fs_feature_ops *ops);

/* IN's slot of the feature named FEATURE (registered): where it keeps its
 * state of IN, NULL until it puts something there, which its free hook
 * frees; callers hold IN's lock as for IN's own fields.  NULL if no such
 * feature is registered. */
void **fs_slot(struct fs *fs, struct inode *in, const char *feature);

/* The core's calls of the hooks (see struct fs_feature_ops). */
bool fs_hook_keeps_records(struct fs *fs, const struct inode *in);
/* True if a feature that keeps IN's records stores some of them with IN's
 * buffered bytes (store_begin): those bytes are then never written behind. */
bool fs_hook_stores_records(struct fs *fs, const struct inode *in);
void fs_hook_before_purge(struct fs *fs, struct inode *in);
void fs_hook_purge(struct fs *fs, struct inode *in, struct meta_batch *b);
void fs_hook_purge_now(struct fs *fs, struct inode *in, struct meta_batch *b);
void fs_hook_free(struct fs *fs, struct inode *in);
/* Tell every feature of an open (the opened hook). */
void fs_hook_opened(struct fs *fs, struct fuse_req *req, struct inode *in, int flags);
/* The feature that claims IN (see claims above), or NULL. */
const struct fs_feature_ops *fs_hook_claimer(struct fs *fs, const struct inode *in);
/* The change hook of the feature that claims IN, or 0 if none. */
int fs_hook_change(struct fs *fs, struct fuse_req *req, struct inode *in,
		   const struct fs_change *c);
/* The first refusal of the may_change hooks, or 0. */
int fs_hook_may_change(struct fs *fs, struct inode *in);
/* The first failure of the durable hooks, or 0. */
int fs_hook_durable(struct fs *fs);

#endif
