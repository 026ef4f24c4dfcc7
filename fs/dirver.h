/* dirver.h — directory versions described like file versions.
 *
 * A directory version (a frozen tree committed by version_dir_commit) has
 * the user.aifs.* attributes of a file version: version, size (its files'
 * bytes), writer, complete, tier and sha256.  Its sha256 is the digest of
 * a manifest, one line "HEX  PATH\n" per regular file of the tree (HEX the
 * file's SHA-256 in lower-case hex, PATH its path below the version's
 * root), sorted by PATH as bytes: for names without a backslash or a
 * newline, what
 *     find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0r sha256sum
 * prints in the version's directory, so that
 *     ... | sha256sum
 * recomputes it without aifs.  A version is complete when each of its files
 * is whole by its format (zip of torch.save, safetensors) and its commit
 * marker was present, which its commit implies.  Digest and completeness
 * are worked out when first asked and kept in the version's record.
 *
 * Called by the xattr adapter with IN's lock held for writing.
 *
 * Layer: feature (versions), beside version.c; called by the FUSE adapter
 * (dir.c) and vadmin.c.
 */
#ifndef AIFS_FS_DIRVER_H
#define AIFS_FS_DIRVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fs;
struct inode;

/* Attribute NAME of directory IN when IN is a directory version or a
 * versioned directory of a checkpoint area: its length (written into BUF),
 * -ENODATA when IN has no such attribute, or 1 << 30 when IN is not such a
 * directory (the caller answers as for any inode). */
#define DIRVER_NOT_MINE	(1 << 30)
int dirver_xattr(struct fs *fs, struct inode *in, const char *name, char *buf, size_t len);

/* Fill in the digest and completeness of version N (record *V) of
 * directory DIR if they were not worked out yet (kept in its record). */
struct vrec;
int dirver_summarize(struct fs *fs, uint64_t dir, uint32_t n, struct vrec *v);
/* Is IN the root of a directory version?  Its directory and number then. */
bool dirver_is_version(struct fs *fs, const struct inode *in, uint64_t *dir, uint32_t *n);
/* Is any version of directory DIR on hold (its removal is refused)? */
bool dirver_held(struct fs *fs, uint64_t dir);
/* Drop the oldest versions of directory DIR (in PARENT) beyond the
 * mount's keep_versions or PARENT's retention, as for files: never a held
 * one, every K-th, nor the newest complete one.  Namespace lock held. */
void dirver_prune(struct fs *fs, uint64_t dir, uint64_t parent);

#endif
