/* corefix.h — the fixture of the unit suites that link the core of the
 * daemon (test_rename, test_snapshot, ...; test_versions and test_lineage
 * with libfuse, which the others and this fixture do not need): a fresh store
 * made by store_mkfs under one temporary directory (a real RocksDB, the
 * local tier), opened as a struct fs with its inode table, space and
 * preallocation running, and the namespace built through the core's own
 * records.  corefix_main runs a suite and removes the directory.
 */
#ifndef AIFS_TEST_COREFIX_H
#define AIFS_TEST_COREFIX_H

#include <check.h>

#include "fs/fs.h"
#include "fs/hooks.h"

/* A fresh store, opened, with FEATURE's hooks registered (NULL: none). */
struct fs *corefix_open(const struct fs_feature_ops *feature);
/* Stop what corefix_open started, disarm the fail points, close the store. */
void corefix_close(struct fs *fs);
/* A new inode of MODE (S_IFREG or S_IFDIR and permission bits) named NAME
 * in directory PARENT, in PARENT's area (whose link count a directory
 * raises), committed; referenced. */
struct inode *corefix_mknod(struct fs *fs, uint64_t parent, const char *name, uint32_t mode);
/* The inode the entry NAME of PARENT names in the store, or 0 if none. */
uint64_t corefix_lookup(struct fs *fs, uint64_t parent, const char *name);
/* True if INO has an orphan record. */
bool corefix_orphan(struct fs *fs, uint64_t ino);
/* Write LEN bytes of pattern SEED (byte I is I * 31 + SEED) at 0 into IN
 * (unlocked) and store them. */
int corefix_write(struct fs *fs, struct inode *in, size_t len, unsigned seed);
/* The FUSE adapter's calls for a writer of IN, as file.c makes them with
 * no request (a change of the daemon's own): IN's claimer, which must be
 * a feature, is told through its hooks.  open(O_WRONLY, with TRUNC
 * O_TRUNC: the truncation as WHAT FS_CHANGE_OPEN_TRUNC), a write of LEN
 * bytes of BUF at OFF, ftruncate(0) (WHAT FS_CHANGE_SIZE), and the close
 * of a writer: FLUSH, then RELEASE, whose result is that of the end of
 * IN's session if one ended (1: a torn save undone, 0 or -errno), else
 * of the flush. */
void corefix_open_w(struct fs *fs, struct inode *in, bool trunc);
void corefix_write_w(struct fs *fs, struct inode *in, const void *buf, size_t len, uint64_t off);
void corefix_truncate_w(struct fs *fs, struct inode *in, int what);
int corefix_close_w(struct fs *fs, struct inode *in);
/* The stored extent of INO's first extent record. */
struct tier_ref corefix_first_ref(struct fs *fs, uint64_t ino);
/* The store's records: how many extent records reference REF, how many
 * inodes there are. */
struct corefix_census {
	uint32_t refs;
	uint64_t inodes;
};
struct corefix_census corefix_census(struct fs *fs, struct tier_ref ref);
/* The store's records reference REF N times, and so says its count in
 * memory (space_refs). */
void corefix_refs_are(struct fs *fs, struct tier_ref ref, uint32_t n);
/* Run S (CK_ENV), remove the temporary directory; main's exit status
 * (a failure if a check failed or none ran). */
int corefix_main(Suite *s);

#endif
