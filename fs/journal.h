/* journal.h — journal areas (jlog.c: the log's records; jretain.c:
 * retention; journal.c: the log; jcontrol.c: nodes, retention settings,
 * holds and deletions; jhooks.c: the journal's hooks, by which it claims
 * its files): append-only files, sealed at their last close,
 * kept until their retention ends; every create, write, seal, retention
 * change and deletion is a leaf of a Merkle log whose head is signed.
 *
 * Layer: feature (journal), over lineage, content, the permission checks
 * and the core; called by the FUSE adapter and main.c; the core and the
 * adapter's open-file handlers reach it through its hooks.
 */
#ifndef AIFS_FS_JOURNAL_H
#define AIFS_FS_JOURNAL_H

#include "fs/fs.h"
#include "fs/fuseapi.h"
#include "fs/xattr.h"

int journal_init(struct fs *fs);
int journal_start(struct fs *fs);
void journal_stop(struct fs *fs);
/* True if IN is a file of a journal area. */
bool journal_file(const struct inode *in);
/* Commit B, which makes node A named NAME in PARENT (path DIR, from
 * journal_dir_path) of a journal area: a file's path, retention and create
 * record (a directory's retention) go into the same commit, so the node
 * exists exactly when they do.  Takes no inode lock. */
int journal_node_commit(struct fs *fs, fuse_req_t req, uint64_t parent, const char *dir,
			const char *name, const struct meta_inode *a, struct meta_batch *b);
/* Path of directory DIR from the mount root ("" for the root, else with a
 * leading slash), or "?INO"; takes inode locks. */
void journal_dir_path(struct fs *fs, uint64_t dir, char *out, size_t len);
/* New journal file IN remembers its creator (named by its seal record). */
void journal_created(fuse_req_t req, struct inode *in);
/* 0 if IN may be changed, unlinked or renamed (not a journal file, or its
 * retention is over and no hold is on it), else -EPERM. */
int journal_may_change(struct fs *fs, struct inode *in);
/* The user.aifs.* names of journal areas (xattr.h): retention (set on a
 * journal directory: what files created in it afterwards are kept for;
 * its owner, root or the audit group lengthen it, only root in governance
 * mode shortens it); on a journal file, hold, unhold and release (set) and
 * sealed, retain_until, retention_mode and holds (get); every other
 * user.aifs.* change of a journal file is refused. */
extern const struct fs_xattr journal_xattrs[];
/* Removing a name of journal file IN (locked) in batch B: put its delete
 * record (who, why retention allowed it) into B.
 * The log stays locked until journal_delete_end(FS, RC), called once B's
 * commit returned RC, so the record is in the tree exactly when B is.
 * 0, or -ENOMEM (no record was put: do not commit B, still call end). */
int journal_delete_begin(struct fs *fs, fuse_req_t req, struct inode *in, struct meta_batch *b);
void journal_delete_end(struct fs *fs, int rc);
/* The newest signed checkpoint (malloc'd). */
int journal_checkpoint_text(struct fs *fs, char **text, size_t *len);
/* Records in the journal's log, and how many are covered by a signature. */
void journal_sizes(struct fs *fs, uint64_t *records, uint64_t *signed_size);

/* The hooks of the journal into the core (hooks.h), registered at mount. */
extern const struct fs_feature_ops journal_feature;

#endif
