/* lineage_priv.h — what lineage.c, linattach.c, linjob.c and linserve.c share
 * (fs/ only).
 *
 * Layer: private to the lineage feature.
 */
#ifndef AIFS_FS_LINEAGE_PRIV_H
#define AIFS_FS_LINEAGE_PRIV_H

#include "fs/fs.h"
#include "fs/sb.h"
#include "meta/records.h"

#define LIN_JOB_ID	16		/* bytes of a job id */
#define LIN_SRC_KEY	17		/* kind u8 | ino u64 | 0 u64 */
#define LIN_SRC_HDR	(1 + 1 + 8 + 32)	/* 'U' value before its JSON */
#define LIN_PARTIAL	1		/* live state misses files (memory bound) */
#define LIN_REC_SRC	META_REC_LINEAGE_SOURCE	/* record kinds: meta/records.h */
#define LIN_REC_LIN	META_REC_LINEAGE
#define LIN_REC_JOB	META_REC_LINEAGE_JOB
#define LIN_JOB_REC	(1 + 1 + 4 + 8 + 40)	/* 'j' value, see linjob.c */

/* A source a job read (fields under lin_lock once in a job). */
struct lsrc {
	uint8_t key[LIN_SRC_KEY];
	uint8_t flags;			/* LIN_PARTIAL */
	uint64_t files;			/* live: distinct (file, content) read */
	uint8_t sum[32];		/* live: sum of their SHA-256 mod 2^256 */
	char *json;			/* description, a JSON object */
};

/* A job; lives until unmount.  src, nsrc, cap under lin_lock. */
struct ljob {
	uint8_t id[LIN_JOB_ID];
	struct ljob *next;
	char *desc;			/* JSON object: id, name, sid, uid, cmdline, start */
	uint8_t rec[LIN_JOB_REC];	/* its 'j' record: how to tell it has ended */
	struct lsrc *src;
	size_t nsrc, cap;
};

/* Guards jobs, their sources and the caches; a leaf lock. */
extern pthread_mutex_t lin_lock;

/* linjob.c — processes and jobs. */
/* Read boot time, clock rate and boot id once. */
void lin_boot_init(void);
/* The job of process PID acting as user UID (NULL if unknown).  With
 * GONE_OK a process that has exited is looked up by pid and uid alone (a
 * commit at its last close). */
struct ljob *lin_job_of(uint32_t pid, uint32_t uid, bool gone_ok);
/* The named job NAME of user UID (AIFS_JOB), found or made (CMDLINE: its
 * command line if made here). */
struct ljob *lin_named_job(uint32_t uid, const char *name, const char *cmdline);
/* AIFS_JOB=NAME of process PID's initial environment into NAME. */
bool lin_job_name(uint32_t pid, char *name, size_t len);
/* Thread TID of this daemon makes a change a follower forwarded, for
 * process CMDLINE of job NAME ("": unnamed) there, until lin_remote_end:
 * lin_job_of and lin_cmdline answer for that process. */
void lin_remote_begin(uint32_t tid, const char *name, const char *cmdline);
void lin_remote_end(uint32_t tid);
bool lin_is_remote(uint32_t pid);
/* Command line of PID, arguments joined by spaces ("" if gone). */
void lin_cmdline(uint32_t pid, char *buf, size_t len);
/* Whether the job of 'j' record VAL has ended for good: a session job whose
 * boot is over or whose session leader has exited.  Named jobs never end. */
bool lin_job_ended(const uint8_t *val, size_t vlen);

/* lineage.c — the sources jobs read. */
/* Once per process: lin_boot_init. */
extern pthread_once_t lin_boot_once;
/* Store (job J, source S) as its 'U' record into B. */
void lin_src_put(struct meta_batch *b, const struct ljob *j, const struct lsrc *s);

/* linserve.c — JSON text and records. */
/* A SHA-256 as a JSON string, or null when SHA is NULL. */
void lin_sha(struct sb *s, const uint8_t *sha);
/* NS (since the epoch) as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void lin_iso(int64_t ns, char *buf, size_t len);
/* Double the array *V of *CAP elements of SIZE bytes. */
int lin_grow(void **v, size_t *cap, size_t size);
/* SUM += SHA, both 256-bit big-endian. */
void lin_sum_add(uint8_t sum[32], const uint8_t sha[32]);
/* The header of a 'U' value into V (LIN_SRC_HDR bytes). */
void lin_src_encode(uint8_t *v, uint8_t flags, uint64_t files, const uint8_t sum[32]);
/* Start a 'Z' value with header HDR; append one source. */
void lin_rec_begin(struct sb *val, const struct sb *hdr);
void lin_rec_source(struct sb *val, const uint8_t *key, uint8_t flags, uint64_t files,
		    const uint8_t sum[32], const char *json);

#endif
