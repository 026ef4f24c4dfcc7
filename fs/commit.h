/* commit.h — the bottom of the core (commit.c): the commit of a batch of
 * any module, the clock, a caller's command name, and an inode's record.
 *
 * Layer: core, its lowest part: it calls only hooks.h (the features'
 * hooks of a commit) and meta/; everything in fs/ may call it.
 */
#ifndef AIFS_FS_COMMIT_H
#define AIFS_FS_COMMIT_H

#include "fs/fs.h"

/* Wall-clock time in nanoseconds (inode times). */
int64_t fs_now(void);
/* The command name of process PID (/proc/PID/comm) into COMM, at most 15
 * bytes and a NUL; "" if it cannot be read (the process is gone). */
void fs_proc_comm(uint32_t pid, char comm[16]);
/* Persist IN's attributes into B (caller holds IN's lock for writing). */
void inode_save(struct meta_batch *b, struct inode *in);
/* Commit B (durably with SYNC); a durable commit also runs the durable
 * hooks, whose failure is only logged. */
int fs_commit(struct fs *fs, struct meta_batch *b, bool sync);
/* Commit B, which stores buffered data of IN, with the features' records
 * of those writes (store_begin, store_end hooks). */
int fs_commit_store(struct fs *fs, struct inode *in, struct meta_batch *b);

#endif
