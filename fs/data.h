/* data.h — file content (data.c): writes gathered in a per-inode buffer
 * and stored as extents, reads, truncation and holes, fsync.
 *
 * Callers hold IN's lock for writing except fs_read (reading suffices once
 * fs_map_load has run).
 *
 * Layer: core, over extmap.h, prealloc.h and commit.h; called by inode.c,
 * the FUSE adapter and the features.
 */
#ifndef AIFS_FS_DATA_H
#define AIFS_FS_DATA_H

#include "fs/fs.h"

/* Write SIZE bytes of BUF at OFF.  With BEHIND, a write that fills the
 * write buffer may hand it over instead of storing it (write-behind, see
 * data.c): *BEHIND is then set, and the caller must call fs_flight_run
 * with it once IN's lock is released (after its reply), whatever else
 * happens; otherwise *BEHIND is NULL. */
int fs_write(struct fs *fs, struct inode *in, const char *buf, size_t size, uint64_t off,
	     struct fs_flight **behind);
/* Append a buffer fs_write handed over (no lock held). */
void fs_flight_run(struct fs *fs, struct fs_flight *fl);
/* Forget IN's flight, if any, once its append is over (IN being dropped;
 * the bytes go with it). */
void fs_flight_drop(struct fs *fs, struct inode *in);
int fs_read(struct fs *fs, struct inode *in, char *dst, size_t size, uint64_t off,
	    size_t *got);
/* Store what IN buffers: its flight, then its write buffer. */
int fs_flush(struct fs *fs, struct inode *in);
/* Make IN's content and all metadata durable. */
int fs_sync(struct fs *fs, struct inode *in);
/* Remove content in [off, off+len) (len UINT64_MAX: to the end) into B. */
int fs_punch(struct fs *fs, struct inode *in, struct meta_batch *b, uint64_t off,
	     uint64_t len);
/* Forget IN's content: all extents and buffer (for purge), into B. */
void fs_content_drop(struct fs *fs, struct inode *in, struct meta_batch *b);
/* per-thread scratch buffer of at least LEN bytes (never freed by caller) */
char *fs_scratch(size_t len);

#endif
