/* journal_priv.h — what journal.c and jretain.c share (fs/ internal). */
#ifndef AIFS_FS_JOURNAL_PRIV_H
#define AIFS_FS_JOURNAL_PRIV_H

#include "fs/fs.h"
#include "meta/merkle.h"
#include "meta/note.h"

#define REC_J	'J'	/* seq -> leaf (JSON) */
#define REC_K	'K'	/* tree size -> signed checkpoint */
#define REC_A	'A'	/* ino -> seal time (monotonic ns), path */
#define REC_C	'C'	/* "clock" -> monotonic ns elapsed in the store's life */
#define REC_Y	'Y'	/* ino | tag -> legal hold */
#define REC_R	'R'	/* ino -> retention released (governance mode) */
#define REC_T	'T'	/* ino -> retention (ns) of a journal directory or file */

struct journal {
	pthread_mutex_t lock;		/* tree, seq, ckpt fields */
	struct merkle tree;
	uint64_t signed_size;
	struct note_key *key;
	char name[64], origin[96];
	int64_t mono_base, boot0;
	pthread_t thread;
	pthread_cond_t cond;
	bool running, stop;
	struct inode **dirty;		/* journal files with unstored records */
	size_t ndirty, capdirty;
	uint64_t npending;		/* their records */
	uint8_t (*pend_hash)[32];	/* hashes of the records of the batch */
	size_t pend_cap;		/* being committed (records_begin..end) */
};

struct leaf {
	const char *op;		/* create, write, seal, release, hold, unhold */
	uint32_t uid, pid;
	const char *comm, *path, *tag;
	uint64_t ino, offset, length;
	const uint8_t *sha;	/* 32 bytes or NULL */
};

/* Monotonic ns in the store's life (persisted across mounts). */
int64_t mono_now(struct journal *j);
/* Append L to the log (a record in its own batch). */
int leaf_add(struct fs *fs, const struct leaf *l);
/* Fill L's uid, pid and comm (COMM: 16 bytes) from REQ. */
void who(fuse_req_t req, struct leaf *l, char *comm);
/* The path and seal time (-1: not sealed) kept for journal file INO. */
int path_save(struct fs *fs, uint64_t ino, const char *path, int64_t sealed);
int path_load(struct fs *fs, uint64_t ino, char *path, size_t len, int64_t *sealed);
/* Retention of INO in ns: its own, else the mount's. */
int64_t journal_retention_of(struct fs *fs, uint64_t ino);
/* A new file INO in DIR keeps the retention DIR has now. */
void journal_retention_inherit(struct fs *fs, uint64_t dir, uint64_t ino);

#endif
