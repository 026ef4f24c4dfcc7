/* auditverify.h — what the files of `aifsctl audit verify` share
 * (auditverify.c: the tree and the content; auditcover.c: the cover of
 * each journal file by its records, and lineage).  Private to them.
 */
#ifndef AIFS_TOOLS_AUDITVERIFY_H
#define AIFS_TOOLS_AUDITVERIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "meta/store.h"
#include "tools/audit.h"

enum { OP_OTHER, OP_CREATE, OP_WRITE, OP_SEAL, OP_LINEAGE, OP_RELEASE, OP_DELETE };

/* What verify reads of each record (off, len, sha of writes, seals,
 * creates and lineage records only). */
struct recinfo {
	uint64_t ino, off, len;
	uint8_t op;
	bool bad;		/* not a record aifs writes: not JSON, or a field mistyped */
	bool sha_ok;		/* "sha256" is 64 lower-case hex digits, in sha */
	uint8_t sha[32];
};

/* What the records say of one journal file. */
struct jfile {
	uint64_t ino, covered;
	bool sealed;
};

struct cover {
	struct log *l;
	struct store *s;
	struct jfile *v;
	size_t n;
	FILE *out;		/* the problems, printed after the content's */
	char *text;
	size_t len;
};

/* The cover check (a thread: ARG is a struct cover); its problems go to
 * the cover's OUT, printed after the content's. */
void *verify_cover_main(void *arg);
/* Each journal file's stored lineage against its "lineage" record. */
void verify_lineage(struct log *l, struct store *s);

#endif
