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
 * mount, before any request is served); only the core calls the fs_hook_*
 * functions.
 */
#ifndef AIFS_FS_HOOKS_H
#define AIFS_FS_HOOKS_H

#include "fs/fs.h"

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
	/* IN leaves memory: free the feature's state of IN. */
	void (*free)(struct inode *in);
	/* B stores buffered data of IN (locked): put the feature's records of
	 * it into B; true if store_end must follow once B's commit returned RC. */
	bool (*store_begin)(struct fs *fs, struct inode *in, struct meta_batch *b);
	void (*store_end)(struct fs *fs, struct inode *in, int rc);
	/* May IN (locked) change: its attributes, stored xattrs, content,
	 * names?  0, or -errno (-EPERM: a journal file under retention). */
	int (*may_change)(struct fs *fs, struct inode *in);
	/* A durable commit or an fsync returned: 0 once what it made durable
	 * is wherever the feature keeps it too, or -errno. */
	int (*durable)(struct fs *fs);
};

/* Add OPS (static, never freed) to FS's features; -ENOSPC past FS_FEATURES_MAX. */
int fs_feature_register(struct fs *fs, const struct fs_feature_ops *ops);

/* The core's calls of the hooks (see struct fs_feature_ops). */
bool fs_hook_keeps_records(struct fs *fs, const struct inode *in);
void fs_hook_before_purge(struct fs *fs, struct inode *in);
void fs_hook_purge(struct fs *fs, struct inode *in, struct meta_batch *b);
void fs_hook_purge_now(struct fs *fs, struct inode *in, struct meta_batch *b);
void fs_hook_free(struct fs *fs, struct inode *in);
/* Commit B, which stores buffered data of IN, with the features' records. */
int fs_hook_commit_store(struct fs *fs, struct inode *in, struct meta_batch *b);
/* The first refusal of the may_change hooks, or 0. */
int fs_hook_may_change(struct fs *fs, struct inode *in);
/* The first failure of the durable hooks, or 0. */
int fs_hook_durable(struct fs *fs);

#endif
