/* corefix.h — the fixture of the unit suites that link the core of the
 * daemon without libfuse (test_rename, test_snapshot, ...): a fresh store
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
/* Run S (CK_ENV), remove the temporary directory; main's exit status
 * (a failure if a check failed or none ran). */
int corefix_main(Suite *s);

#endif
