/* auditrec.h — one record of the signed audit log, read with jansson
 * (tools/ only: the audit commands).
 *
 * The daemon writes each record as one JSON object of fixed keys
 * (fs/jlog.c): seq, op, time, uid, pid, comm, path, inode, offset, length,
 * sha256, and tag, retention, lock, age when they apply.  Its string values
 * are names as bytes: quotes, backslashes and control characters escaped,
 * every other byte as it is, so a name that is not UTF-8 makes a record
 * that jansson refuses.  Such a record is read again with each byte that
 * is not part of a UTF-8 character carried as a private-use code point
 * (U+10FF80 + byte - 0x80; a character of that range in the record's own
 * text is carried byte by byte the same way), and the names come back as
 * the daemon's bytes exactly.
 *
 * A record is parsed once, into struct auditrec, whatever fields the
 * caller reads of it.
 */
#ifndef AIFS_TOOLS_AUDITREC_H
#define AIFS_TOOLS_AUDITREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A record's path is at most what the daemon's 8 KiB record holds. */
#define AUDITREC_PATH_MAX	8192

/* The fields of a record (0 or "" when a record has no such key). */
struct auditrec {
	uint64_t seq, ino, off, len, uid, pid;
	int64_t time, retention, age;
	bool has_retention, has_age;
	char op[16];
	char lock[16];		/* "compliance" or "governance" */
	char sha256[65];	/* 64 hex digits, or "" */
	char comm[64];
	char tag[256];
	char path[AUDITREC_PATH_MAX];
};

/* Parse the record TEXT of LEN bytes into R.  0, or -EBADMSG if TEXT is not
 * a JSON object or a key holds a value of the wrong type or length (R is
 * then as far as it was read), or -ENOMEM.  ERR, if not NULL, gets
 * jansson's reason on failure (at least 160 bytes). */
int auditrec_parse(struct auditrec *r, const char *text, size_t len, char *err);
/* The same with jansson alone (auditrec_parse reads the daemon's own
 * layout without it, and gives anything else to this). */
int auditrec_parse_json(struct auditrec *r, const char *text, size_t len, char *err);

#endif
