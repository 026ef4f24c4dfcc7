/* fwdwire.h — the requests and answers that the follower's side (fwd.c)
 * and the writer's side (fwdserve.c) of forwarded writes exchange through
 * the pool (tier/radosmsg.h), encoded by fwdwire.c (no libfuse here: unit
 * tested by test_fwdwire).
 *
 * A request is "AIFW", a version byte and its whole length (4 bytes big-
 * endian), then fields, each a tag byte, a
 * 4-byte big-endian length and its bytes (strings with their NUL), in any
 * order; a field a reader does not know is skipped, one it needs and does
 * not find is an EINVAL answer.  An answer is "AIFR", the version, the
 * errno (4 bytes, 0 for success), the writer's sequence number that holds
 * the change (8 bytes: the follower waits until its replica has applied
 * it) and the writer's identity (32 characters of writer.id).
 *
 * Paths are relative to the mount root, with no "." or ".." components:
 * the writer resolves them beneath its mount (openat2 RESOLVE_BENEATH).
 *
 * Layer: a codec below everything in fs/ (no fs/ header, no libfuse);
 * used by fwd.c and fwdserve.c.
 */
#ifndef AIFS_FS_FWDWIRE_H
#define AIFS_FS_FWDWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FWD_VERSION	1
#define FWD_GROUPS_MAX	64
#define FWD_ID_LEN	32	/* characters of a writer's identity */

enum fwd_op {
	FWD_CHECK = 1,		/* may the caller open PATH with FLAGS (creating it, MODE)? */
	FWD_PUT,		/* write OBJ's SIZE bytes as the whole of file PATH */
	FWD_APPEND,		/* append OBJ's records (lengths in VALUE) to journal file PATH */
	FWD_MKDIR,
	FWD_UNLINK,
	FWD_RMDIR,
	FWD_RENAME,		/* PATH to PATH2 with renameat2 FLAGS */
	FWD_SETXATTR,		/* NAME2 = VALUE on PATH, setxattr FLAGS */
	FWD_REMOVEXATTR,
	FWD_LINEAGE,		/* reads of named jobs: notes in VALUE (fwd.c) */
	FWD_OPS
};

/* FWD_APPEND flags */
#define FWD_FINAL	1	/* the follower's session ends: release the hold (seal) */

struct fwd_req {
	uint8_t op;
	char writer[FWD_ID_LEN + 1];	/* the writer the follower follows */
	const char *host;		/* the follower's host name */
	uint64_t id;			/* the follower's number of the request */
	int64_t expires;		/* CLOCK_REALTIME ns: dropped after it */
	uint32_t uid, gid, umask, pid, mode, flags, ngroups;
	uint32_t groups[FWD_GROUPS_MAX];
	uint64_t size;			/* bytes of OBJ */
	uint64_t sid;			/* journal session (FWD_APPEND) */
	const char *path, *path2, *obj, *job, *cmdline, *comm, *name2;
	const void *value;
	size_t vlen;
};

struct fwd_answer {
	int err;			/* errno (positive), 0 on success */
	uint64_t seq;
	char writer[FWD_ID_LEN + 1];
};

/* Encode R into a malloc'd *OUT of *LEN bytes. */
int fwd_req_encode(const struct fwd_req *r, void **out, size_t *len);
/* Decode BUF (kept: R's strings point into it): 0 or -EINVAL. */
int fwd_req_decode(const void *buf, size_t len, struct fwd_req *r);
/* An answer is FWD_ANSWER_LEN bytes. */
#define FWD_ANSWER_LEN	(4 + 1 + 4 + 8 + FWD_ID_LEN)
void fwd_answer_encode(const struct fwd_answer *a, uint8_t out[FWD_ANSWER_LEN]);
int fwd_answer_decode(const void *buf, size_t len, struct fwd_answer *a);

/* Is P a path the writer accepts: relative, no empty, "." or ".."
 * component, at most PATH_MAX bytes? */
bool fwd_path_ok(const char *p);

/* Read the 32-character writer identity of store or replica DIR
 * (DIR/writer.id) into ID: 0 or -errno. */
int fwd_writer_id(const char *dir, char id[FWD_ID_LEN + 1]);

#endif
