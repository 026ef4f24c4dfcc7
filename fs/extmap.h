/* extmap.h — a file's extent map (extmap.c): loading it, editing it into
 * a batch, pieces moved to another place (migration, compaction) and pieces
 * shared between inodes (versions, snapshots, promote, copy_file_range).
 * Every piece added or removed is counted by space.h; and the write
 * buffer that overlays the map.  Callers hold IN's lock for writing.
 *
 * Layer: core, above commit.h and space.h; called by prealloc.c, data.c,
 * inode.c, the features and the FUSE adapter.
 */
#ifndef AIFS_FS_EXTMAP_H
#define AIFS_FS_EXTMAP_H

#include "fs/fs.h"

int fs_map_load(struct fs *fs, struct inode *in);
/* Bytes of [OFF, END) of IN (map loaded) that its extents or its inline
 * content hold. */
uint64_t fs_map_covered(const struct inode *in, uint64_t off, uint64_t end);
/* Checksums shared by map pieces: a new set (refs 1), dropping one ref. */
struct crcs *fs_crcs_new(const uint32_t *c, uint32_t n);
void fs_crcs_put(struct crcs *k);
/* Compare-and-swap on IN's map (IN locked for writing): each piece OLD[i]
 * still in the map exactly as it was is replaced by REPL[i] (same file
 * range and bytes, stored elsewhere; counted here), all in one durable
 * batch.  Returns how many were replaced, or a negative errno (then none). */
int fs_map_replace(struct fs *fs, struct inode *in, const struct ext *old,
		   const struct ext *repl, size_t n);
/* Index of the first piece of M that ends after OFF. */
size_t fs_map_find(const struct extmap *m, uint64_t off);
/* Remove [OFF, END) from IN's loaded map, recording the change in B. */
int fs_map_punch(struct fs *fs, struct inode *in, struct meta_batch *b, uint64_t off,
		 uint64_t end);
/* Put extent E (already counted by space_ref) at its place in IN's map. */
int fs_map_insert(struct fs *fs, struct inode *in, struct meta_batch *b, const struct ext *e);
/* Add IN's extent pieces as the extents of inode DST (same offsets). */
int fs_map_clone_to(struct fs *fs, struct inode *in, struct meta_batch *b, uint64_t dst);
/* Insert the extents of inode SRC into IN's (emptied) map. */
int fs_map_copy_from(struct fs *fs, struct inode *in, struct meta_batch *b, uint64_t src);
/* Make [DOFF, DOFF+LEN) of DST share the pieces of [SOFF, SOFF+LEN) of
 * SRC (holes stay holes), into B: DST's pieces there are dropped.  Both
 * locked for writing, flushed, maps loaded, not inline; SRC may be DST
 * with the ranges apart; a plain file among them is marked META_IF_SHARED
 * by the caller.  Call it between space_defer_begin and space_defer_end. */
int fs_map_share(struct fs *fs, struct inode *dst, struct meta_batch *b, uint64_t doff,
		 const struct inode *src, uint64_t soff, uint64_t len);
void fs_map_free(struct extmap *m);

/* The write buffer: free it (an inline file's content is then reloaded
 * from its record), or make it hold at least NEED bytes (0 or -ENOMEM). */
void fs_wbuf_free(struct inode *in);
/* Make IN's write buffer hold at least NEED bytes (0 or -ENOMEM). */
int fs_wbuf_grow(struct inode *in, uint32_t need);
/* A commit of a change to IN's content failed: forget its in-memory map
 * and clean buffer, so that the next access loads what is committed (IN
 * locked; its dirty buffer, if any, is kept). */
void fs_content_reload(struct inode *in);

#endif
