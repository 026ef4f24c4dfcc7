/* version.h — checkpoint versions (version.c: commit, records,
 * retention, holds; vsession.c: write sessions; dirver.c: directory
 * versions; vadmin.c: holds, retention settings, restore, attributes;
 * vhooks.c: the hooks by which versions claim checkpoint and dataset
 * files), in that order: each file calls only those before it.
 *
 * A version is an immutable inode (META_IF_VERSION) sharing the extents of
 * the file at the close that ended a write session; 'V' ino|n records name
 * them.
 *
 * Layer: feature (versions), over snapshots, content hashes, the
 * permission checks and the core; called by the FUSE adapter and by
 * lineage and tiering, which read versions; the core and the adapter's
 * open-file handlers reach it through its hooks.
 */
#ifndef AIFS_FS_VERSION_H
#define AIFS_FS_VERSION_H

#include "fs/fs.h"
#include "fs/fuseapi.h"
#include "fs/xattr.h"

struct vrec {
	uint64_t vino;
	int64_t time;
	uint64_t size;
	uint8_t sha[32];
	uint32_t uid, pid;
	char comm[16];
	uint8_t tier, complete, held;
};
/* True if IN is a regular file whose writes make versions. */
bool version_tracked(const struct inode *in);
/* Note a modification of IN (locked) by REQ's process (REQ NULL: the
 * daemon's own, uid 0 and pid 0): starts a session. */
void version_modify(struct fs *fs, fuse_req_t req, struct inode *in);
/* The same for a change by process PID of user UID (0, 0: the daemon). */
void version_modify_by(struct fs *fs, struct inode *in, uint32_t uid, uint32_t pid);
/* True if IN's session has written data (not only truncated). */
bool version_wrote(struct fs *fs, struct inode *in);
/* IN's size is set to SIZE within its session. */
void version_truncate(struct fs *fs, struct inode *in, uint64_t size);
/* What versions keep of a checkpoint or dataset file IN, in IN's slot for
 * them (hooks.h), for the features that need it (IN locked, for reading at
 * least): */
/* True if IN has a write session open (from its first change to the
 * close of its last writer). */
bool version_in_session(struct fs *fs, struct inode *in);
/* True if lookups of IN's name answer with its newest complete version:
 * its session has written or truncated (version_hide_name). */
bool version_name_hidden(struct fs *fs, struct inode *in);
/* The name checkpoint file IN was created or last looked up by: its
 * directory into *PARENT and the name into NAME (SIZE bytes, cut short if
 * longer); false, with *PARENT 0 and NAME "", if none is known. */
bool version_last_name(struct fs *fs, struct inode *in, uint64_t *parent, char *name,
		       size_t size);
/* Lookup of NAME in PARENT found checkpoint file IN (referenced): during
 * a write session that has written or truncated (version_hide_name),
 * answer with its newest complete version instead, so that new openers
 * see that version's bytes and size; returns the inode to reply with
 * (referenced).  Remembers the name. */
struct inode *version_lookup(struct fs *fs, struct inode *in, uint64_t parent,
			     const char *name);
/* IN's session has begun: have the kernel drop its cached name of IN (a
 * hint, queued: inval.h; the name is not cached anyway, see fs_entry, so
 * the next lookup comes to version_lookup). */
void version_hide_name(struct fs *fs, struct inode *in);
/* Feed written bytes to the session's running SHA-256. */
void version_hash(struct fs *fs, struct inode *in, const char *buf, size_t size, uint64_t off);
/* End IN's session (IN locked; last writer gone): commit version N+1.
 * Returns 1 if the version was torn and IN went back to the last good
 * content (the caller drops the kernel's cached pages), 0, or -errno. */
int version_commit(struct fs *fs, struct inode *in);
/* Version N of INO (N 0: the newest complete one, found walking back from
 * the newest); -ENOENT if none.  Both are a seek, not a walk of them all. */
int version_get(struct fs *fs, uint64_t ino, uint32_t n, struct vrec *out, uint32_t *nout);
/* Call FN for each version of INO in order (FN's nonzero return stops the
 * walk and is returned); _rev: newest first. */
int version_foreach(struct fs *fs, uint64_t ino,
		    int (*fn)(void *ctx, uint32_t n, const struct vrec *v), void *ctx);
int version_foreach_rev(struct fs *fs, uint64_t ino,
			int (*fn)(void *ctx, uint32_t n, const struct vrec *v), void *ctx);
/* Which (file, n) version inode VINO is. */
int version_owner(struct fs *fs, uint64_t vino, uint64_t *ino, uint32_t *n);
/* True if a version of checkpoint file INO is held. */
bool version_file_held(struct fs *fs, uint64_t ino);
/* Make IN's newest version one with the content of V (an immutable inode:
 * a version, or a file of a directory version), sharing its data. */
int version_restore_from(struct fs *fs, fuse_req_t req, struct inode *in, const struct vrec *v);
/* Commit a version of checkpoint directory DIR: a frozen copy of its tree
 * sharing all data (takes the namespace lock; call with no inode locked). */
int version_dir_commit(struct fs *fs, uint64_t dir, uint32_t uid, uint32_t pid);
/* Drop every version of directory DIR into B (namespace locked); *HELD are
 * inodes to put after B is committed. */
int version_dir_drop_all(struct fs *fs, struct meta_batch *b, uint64_t dir,
			 struct inode ***held, size_t *nheld);
/* At mount: undo the saves a crash cut short (their files go back to
 * their newest complete version). */
int version_recover(struct fs *fs);
/* Drop every version of INO (the file is being purged). */
void version_drop_all(struct fs *fs, uint64_t ino);
/* rename(SRC over DST): DST's history continues on SRC, into B. */
int version_rename(struct fs *fs, struct meta_batch *b, uint64_t src, uint64_t dst);
/* The user.aifs.* names of versions (xattr.h): hold and unhold (set on a
 * version: a held version keeps its file from being deleted, EBUSY),
 * retain="last=N[,every=K]" (set on a directory: how many versions of its
 * checkpoint files are kept, over keep_versions/keep_every), restore=N
 * (set on a checkpoint file: version N's content becomes its newest
 * version), commit (set on a checkpoint directory: a directory version);
 * holds, version, sha256, complete, writer and size (get). */
extern const struct fs_xattr version_xattrs[];
/* The listing of INO's versions (a file's or a versioned directory's), the
 * content of DIR/.aifs/versions/FILE/index.json: one JSON object
 *   {"current": N|null, "versions": [{"version", "time_ns", "size",
 *    "complete", "tier", "sha256", "writer"}, ...]}
 * oldest first, each as its user.aifs.* attributes and stat answer; made in
 * one pass over INO's version records (malloc'd into *TEXT). */
int version_listing(struct fs *fs, uint64_t ino, char **text, size_t *len);

/* The hooks of versions into the core (hooks.h), registered at mount. */
extern const struct fs_feature_ops version_feature;

/* What versions publish to the features above them (lineage, tiering) and
 * to the .aifs views, which subscribe at mount: nothing below calls up.
 * Each event may be NULL. */
struct version_events {
	/* Version VINO is committed into B by process PID of UID; RESTORED is
	 * the version it restores (0: none). */
	void (*committed)(struct fs *fs, struct meta_batch *b, uint64_t vino, uint32_t pid,
			  uint32_t uid, uint64_t restored);
	/* Directory version VINO is dropped into B (its tree goes with it). */
	void (*dir_dropped)(struct fs *fs, struct meta_batch *b, uint64_t vino);
	/* rename(SRC over DST): DST's history continues on SRC, into B. */
	void (*renamed)(struct fs *fs, struct meta_batch *b, uint64_t src, uint64_t dst);
	/* Version N (inode VINO) of file INO is pruned: forget names of it
	 * (queued; the file is locked). */
	void (*pruned)(uint64_t ino, uint32_t n, uint64_t vino);
};
/* Add EV (static) to what FS's versions publish to; -ENOSPC when full. */
int version_subscribe(struct fs *fs, const struct version_events *ev);

#endif
