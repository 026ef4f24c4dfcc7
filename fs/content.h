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

#include <openssl/evp.h>

/* True if IN is a regular file whose content hash is kept (dataset and
 * checkpoint areas). */
bool content_tracked(const struct inode *in);
/* End a dataset file's session: store the SHA-256 if it was computed as
 * the bytes arrived in order (else it is computed when first asked). */
int content_commit(struct fs *fs, struct inode *in);
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

/* A write session of a file of a dataset or checkpoint area (in->sess): it
 * begins with the file's first change (version_modify) and ends at the
 * close of its last writer (content_commit, version_commit). */
struct session {
	EVP_MD_CTX *md;
	uint64_t hashed;	/* bytes hashed, in order, from 0 */
	bool hash_ok;
	bool wrote;		/* data written, not only truncated */
	bool sha_known;		/* restore: the content is a version's, sha below */
	uint8_t sha[32];
	uint64_t restored;	/* restore: that version's inode (its lineage is kept) */
	uint32_t uid, pid;
	char comm[16];
};

/* The hooks of content hashes into the core (hooks.h), registered at mount. */
extern const struct fs_feature_ops content_feature;

/* End IN's write session (the running hash, and for versions the hidden
 * name): free its state; IN leaves memory or its session is over. */
void content_session_free(struct inode *in);

#endif
