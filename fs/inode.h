/* inode.h — the inode table (inode.c): a struct inode stays in memory
 * while the kernel holds lookups on it, it is open, or a handler holds a
 * reference; an unlinked inode is purged when the last of them goes (or at
 * the next mount).
 *
 * Layer: core, its top: it calls the content (data.h, extmap.h,
 * prealloc.h), commit.h and the hooks; every part of fs/ calls it.
 */
#ifndef AIFS_FS_INODE_H
#define AIFS_FS_INODE_H

#include "fs/fs.h"
/* what the inode table's callers use with it: the commit, the clock, and
 * the in-memory content (fs_content_reload) */
#include "fs/commit.h"
#include "fs/extmap.h"

int fs_itab_init(struct fs *fs);
void fs_itab_destroy(struct fs *fs);
/* Get a referenced inode (loaded from meta/ if needed); -ENOENT if absent. */
int inode_get(struct fs *fs, uint64_t ino, struct inode **out);
/* INO's inode if the table holds it (referenced), else NULL. */
struct inode *inode_find_cached(struct fs *fs, uint64_t ino);
/* Does the kernel hold INO (a lookup not yet forgotten)?  Never reads
 * meta/; the answer may be stale by the time the caller acts on it. */
bool inode_kernel_holds(struct fs *fs, uint64_t ino);
/* IN if it is loaded (referenced), else NULL; never reads meta/. */
struct inode *inode_peek(struct fs *fs, uint64_t ino);
/* Insert a newly created inode (refs = 1). */
struct inode *inode_new(struct fs *fs, const struct meta_inode *attr);
/* Drop a handler reference; may purge an unlinked inode. */
void inode_put(struct fs *fs, struct inode *in);
/* Count a kernel lookup / open on IN (caller holds a reference). */
void inode_lookup_inc(struct fs *fs, struct inode *in, uint64_t n);
void inode_open_inc(struct fs *fs, struct inode *in);
/* Delete IN's records in B at its last unlink if nothing has it open;
 * true if done (the caller then does not save IN). */
bool inode_purge_at_unlink(struct fs *fs, struct inode *in, struct meta_batch *b);
/* The same for an inode removed otherwise (a dropped snapshot tree), any
 * link count; the caller holds IN's lock. */
bool inode_purge_now(struct fs *fs, struct inode *in, struct meta_batch *b);
/* Forget N lookups / close one open; may purge. */
void inode_forget(struct fs *fs, uint64_t ino, uint64_t n);
void inode_open_dec(struct fs *fs, struct inode *in);
/* Allocate a new inode number. */
uint64_t fs_ino_alloc(struct fs *fs);
/* The greatest inode number given so far (every inode made is at most it). */
uint64_t fs_ino_hwm(struct fs *fs);
/* A reference (put each with inode_put) to every inode of the table that
 * MATCH accepts, called under the table's lock: into malloc'd *OUT, *N. */
int inode_collect(struct fs *fs, bool (*match)(const struct inode *in, void *ctx), void *ctx,
		  struct inode ***out, size_t *n);
/* Store what every open file holds buffered (whole write() calls; their
 * locks taken one at a time): 0, or the first -errno (the rest is tried). */
int inode_flush_buffered(struct fs *fs);
/* Purge inodes left orphaned by an earlier mount. */
int fs_orphans_reap(struct fs *fs);
/* Fill ST from IN's attributes (caller holds IN's lock). */
void inode_stat(const struct inode *in, struct stat *st);

#endif
