/* prealloc.h — space reserved by fallocate (prealloc.c).
 *
 * A reservation is a byte count per inode ('r' record, META_IF_PREALLOC),
 * not a set of ranges: fallocate adds the bytes of its range that no
 * extent holds, writes of new bytes consume it, truncation below the
 * reserved bytes and deletion give it back.  The store holds the sum back
 * from everyone else: statfs, other fallocates and unreserved writes see
 * only the free space beyond it.
 *
 * Each change is staged into a batch (prealloc_next) and becomes the
 * in-memory value only by prealloc_apply after that batch committed.
 *
 * Layer: core; called by the core and the FUSE adapter (fallocate, statfs).
 */
#ifndef AIFS_FS_PREALLOC_H
#define AIFS_FS_PREALLOC_H

#include "fs/fs.h"

int prealloc_init(struct fs *fs);
int prealloc_load(struct fs *fs, struct inode *in);
/* Stage fallocate of [OFF, OFF+LEN) of IN (locked, flushed, map loaded);
 * -ENOSPC when the free space beyond all reservations is short. */
int prealloc_add(struct fs *fs, struct inode *in, struct meta_batch *b, uint64_t off,
		 uint64_t len);
/* Stage IN's reservation after truncation to SIZE. */
void prealloc_trim(struct inode *in, struct meta_batch *b, uint64_t size);
/* Before storing LEN new bytes at OFF of IN (map loaded): -ENOSPC if they
 * would eat into other files' reservations; stages what they consume. */
int prealloc_write(struct fs *fs, struct inode *in, struct meta_batch *b, uint64_t off,
		   uint64_t len);
/* The staged value is now durable (its batch committed). */
void prealloc_apply(struct fs *fs, struct inode *in);
/* IN's content is being deleted in B: its reservation goes back. */
void prealloc_drop(struct fs *fs, struct inode *in, struct meta_batch *b);
/* Free bytes of the hot tier beyond every reservation. */
uint64_t prealloc_avail(struct fs *fs, uint64_t avail);

#endif
