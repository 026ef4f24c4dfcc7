/* content.h — content hashes (SHA-256) of the files of dataset and
 * checkpoint areas, and whether a saved file is whole by its format
 * (content.c).
 *
 * Layer: feature (content hashing); called by versions, snapshots, the
 * journal, lineage and the FUSE adapter.
 */
#ifndef AIFS_FS_CONTENT_H
#define AIFS_FS_CONTENT_H

#include "fs/fs.h"

/* True if IN is a regular file whose content hash is kept (dataset and
 * checkpoint areas). */
bool content_tracked(const struct inode *in);
/* Store SHA as the SHA-256 of IN's current content (IN locked): a write
 * session computed it as the bytes arrived.  0 or -errno. */
int content_hash_put(struct fs *fs, struct inode *in, const uint8_t sha[32]);
/* SHA-256 of IN's current content (IN locked; computed and stored if the
 * stored one is stale). */
int content_sha(struct fs *fs, struct inode *in, uint8_t sha[32]);
/* Delete INO's stored hash into B (the inode is purged). */
void content_forget(struct meta_batch *b, uint64_t ino);
/* Copy the stored hash of SRC to DST into B (snapshots). */
void content_copy_hash(struct fs *fs, struct meta_batch *b, uint64_t src, uint64_t dst);
/* Is IN's content (locked, map loaded) whole by its format: a zip of
 * torch.save or a safetensors file that ends where its index says; any
 * other content is whole. */
bool content_whole(struct fs *fs, struct inode *in);
/* True if version inode VINO is a zip or safetensors file (formats whose
 * saves are never empty); false when it cannot be read. */
bool content_known_format(struct fs *fs, uint64_t vino);
/* SHA-256 of IN's whole current content (IN locked, map loadable). */
int content_hash_now(struct fs *fs, struct inode *in, uint8_t sha[32]);

/* The hooks of content hashes into the core (hooks.h), registered at mount. */
extern const struct fs_feature_ops content_feature;

#endif
