/* lineage.h — automatic lineage: which dataset snapshots, live dataset
 * trees and checkpoint versions a job read, attached to the versions the
 * job commits (fs/ only; see lineage.c).
 *
 * A job is a set of processes of one user: those that carry AIFS_JOB=NAME
 * in their initial environment, else those of a session whose leader is
 * not a shell, else the process tree below the nearest shell (linjob.c).
 * The same name chosen by two users makes two jobs.  The user is the one
 * the kernel names in the request.
 *
 * Layer: feature (lineage: linserve.c, linjob.c, lineage.c, linattach.c,
 * each calling only those before it), over versions, snapshots and the core; it learns
 * of opens and commits through the hooks (hooks.h) and version_events.
 */
#ifndef AIFS_FS_LINEAGE_H
#define AIFS_FS_LINEAGE_H

#include "fs/fs.h"
#include "fs/fuseapi.h"
#include "fs/version.h"
#include "fs/xattr.h"

/* Process REQ's pid opened IN with open FLAGS: lineage_read for it (REQ
 * NULL: the daemon's own open, which no job makes). */
void lineage_open(struct fs *fs, fuse_req_t req, struct inode *in, int flags);
/* Process PID of user UID opened IN with open FLAGS: record IN's source (a
 * dataset snapshot, a live dataset tree or a checkpoint version) for the
 * job of that process, once per (job, source); PID 0 (the daemon) has no
 * job.  Never fails the open. */
void lineage_read(struct fs *fs, uint32_t pid, uint32_t uid, struct inode *in, int flags);

/* Version VINO is being committed by process PID of user UID: put the
 * lineage of that job (its sources so far, command line, start time) into
 * B, which the caller commits durably.  Nothing is added for an unknown
 * job. */
void lineage_attach(struct fs *fs, struct meta_batch *b, uint32_t pid, uint32_t uid,
		    uint64_t vino);

/* user.aifs.lineage (xattr.h, get) of IN (a version, a checkpoint file or directory: its
 * newest complete version) as malloc'd JSON in *OUT (*LEN bytes), with the
 * lineage of each checkpoint version source nested as "upstream";
 * -ENODATA if none.  Command lines (which may carry secrets passed as
 * arguments) are shown to the caller only if it is root or owns the file
 * the version is of; others see "cmdline": null. */
extern const struct fs_xattr lineage_xattrs[];

/* Version TO restores version FROM: FROM's lineage becomes TO's, into B. */
void lineage_copy(struct fs *fs, struct meta_batch *b, uint64_t from, uint64_t to);

/* Version inode INO is purged: drop its lineage into B. */
/* A write of process PID (of UID) to journal file INO, the first of its
 * job: put the lineage of the job (what it read) into B as the file's,
 * and its SHA-256 into SHA, for a "lineage" record of the signed log in
 * the same batch.  1 if put, 0 if there was nothing to put (the same job
 * as before, a job that read nothing, lineage off), or -errno.  If B does
 * not commit, lineage_journal_undo(INO) makes the next write try again. */
int lineage_journal(struct fs *fs, struct meta_batch *b, uint64_t ino, uint32_t pid, uint32_t uid,
		    uint8_t sha[32]);
void lineage_journal_undo(uint64_t ino);
void lineage_forget(struct meta_batch *b, uint64_t ino);

/* At mount: delete the stored sources of jobs that have ended (a session
 * job of an earlier boot, or whose session leader has exited); those of
 * named jobs (AIFS_JOB) are kept.  Logs what it pruned; never fails. */
void lineage_prune(struct fs *fs);
/* What the last lineage_prune removed: jobs and their source records. */
void lineage_pruned(unsigned long *jobs, unsigned long *sources);

/* The .aifs/versions lookup met file INO named NAME in directory DIR:
 * remember it, to name that file's versions when they are read. */
void lineage_note_name(uint64_t ino, uint64_t dir, const char *name);

/* Across hosts (fwd.c, fwdserve.c).  A job spans hosts by its name
 * (AIFS_JOB): on a follower, what its processes read is sent to the writer,
 * and the changes they forward are made there in that job. */
#define LINEAGE_SRC_KEY	17
/* On a follower: the source reading IN is (its key, and with JSON its
 * description, malloc'd), or -ENOENT if IN is none. */
int lineage_source_of(struct fs *fs, struct inode *in, uint8_t key[LINEAGE_SRC_KEY], char **json);
/* On the writer: job NAME of user UID, on another host, read source KEY
 * (described by JSON; through live dataset file FILE, or 0). */
void lineage_remote_read(struct fs *fs, uint32_t uid, const char *name, const char *cmdline,
			 const uint8_t key[LINEAGE_SRC_KEY], const char *json, uint64_t file);
/* Thread TID makes a change forwarded by a process of job NAME ("" if it
 * had none: no lineage then) and command line CMDLINE, until _end. */
void lineage_remote_begin(uint32_t tid, const char *job, const char *cmdline);
void lineage_remote_end(uint32_t tid);
/* AIFS_JOB of process PID, if set to a usable name. */
bool lineage_job_name(uint32_t pid, char *name, size_t len);

/* The hooks of lineage into the core (hooks.h), registered at mount. */
extern const struct fs_feature_ops lineage_feature;

/* Lineage's subscription to what versions publish (version.h). */
extern const struct version_events lineage_version_events;

#endif
