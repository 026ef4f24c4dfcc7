/* version_priv.h — what the files of checkpoint versions share (version.c,
 * vsession.c, dirver.c, vadmin.c, vhooks.c; fs/ only).
 *
 * Layer: private to the versions feature.
 */
#ifndef AIFS_FS_VERSION_PRIV_H
#define AIFS_FS_VERSION_PRIV_H

#include "fs/fs.h"
#include "fs/version.h"
#include "fs/vhash.h"

#include "meta/records.h"

/* Record kinds (meta/records.h). */
#define REC_V		META_REC_VERSION
#define REC_B		META_REC_VERSION_OF
#define REC_W		META_REC_SESSION
#define REC_Q		META_REC_RETAIN
#define REC_HOLD	META_REC_VERSION_HOLD

/* A write session of a file of a dataset or checkpoint area: it begins
 * with the file's first change (version_modify) and ends at the close of
 * its last writer (version_commit, ver_dataset_commit). */
struct session {
	struct vhash *hash;	/* running SHA-256 of the bytes, in order */
	uint64_t hashed;	/* bytes given to it, in order, from 0 */
	bool hash_ok;
	bool wrote;		/* data written, not only truncated */
	bool sha_known;		/* restore: the content is a version's, sha below */
	uint8_t sha[32];
	uint64_t restored;	/* restore: that version's inode (its lineage is kept) */
	uint32_t uid, pid;
	char comm[16];
};

/* What versions keep of a checkpoint or dataset file, in the inode's slot
 * for them (hooks.h: fs_slot): made at its first need (ver_file), freed
 * with the inode (the free hook, ver_file_free), so that a pointer to it
 * stays good while the inode is referenced.  The inode's lock (in->lock)
 * guards every field, as it guards the slot: they are written with it
 * held for writing and read with it held. */
struct vfile {
	uint64_t lparent;	/* checkpoint file: the name last looked up
				 * (or created) in directory lparent */
	char *lname;		/* NULL if none */
	bool name_hidden;	/* the session has written: lookups of the
				 * name answer with the last version */
	bool closing;		/* a writer closed since the session last
				 * wrote: the release that ends it may be on
				 * its way (version_lookup waits) */
	struct session *sess;	/* the write session, NULL if none */
};

/* IN's state (MAKE: made if there is none yet, IN locked for writing), or
 * NULL if it has none (or no memory for it). */
struct vfile *ver_file(struct fs *fs, struct inode *in, bool make);
/* The free hook: IN leaves memory with VF (its slot) — free it. */
void ver_file_free(struct inode *in, void *vf);
/* IN's write session, or NULL if none (IN locked). */
struct session *ver_session(struct fs *fs, struct inode *in);
/* End IN's write session (IN locked for writing): free it; lookups of its
 * name find the file again. */
void ver_session_free(struct fs *fs, struct inode *in);

/* The SHA-256 of the SIZE bytes session S (NULL: none) wrote, if it took
 * it as they arrived (or knows it: a restore) into SHA: true, else false
 * (the content is to be hashed). */
bool ver_session_sha(struct session *s, uint64_t size, uint8_t sha[32]);

/* End the session of dataset file IN (IN locked; its last writer gone):
 * store its SHA-256 if the session computed it as the bytes arrived in
 * order (else it is computed when first asked).  0 or -errno. */
int ver_dataset_commit(struct fs *fs, struct inode *in);

/* The versions of one file, in order. */
struct vlist {
	uint32_t *n;
	struct vrec *v;
	size_t count, cap;
};

/* Record (or clear) that INO has an open write session. */
void ver_session_mark(struct fs *fs, uint64_t ino, bool open);
/* Put / delete version N of INO (and its back pointer) into B. */
void ver_rec_put(struct meta_batch *b, uint64_t ino, uint32_t n, const struct vrec *v);
void ver_rec_del(struct meta_batch *b, uint64_t ino, uint32_t n, uint64_t vino);
/* All versions of INO (NULL and *RC < 0 on failure); free with ver_list_free. */
struct vlist *ver_list_load(struct fs *fs, uint64_t ino, int *rc);
void ver_list_free(struct vlist *l);
/* The number of INO's newest version into *LAST (0: none): one seek. */
int ver_last(struct fs *fs, uint64_t ino, uint32_t *last);
/* Make IN's content that of complete version P again (into B). */
int ver_revert(struct fs *fs, struct inode *in, struct meta_batch *b, const struct vrec *p);
/* The retention set on directory DIR (user.aifs.retain) into *KEEP and
 * *EVERY, if any (left as they are otherwise). */
void ver_retain_of(struct fs *fs, uint64_t dir, unsigned *keep, unsigned *every);
/* True if version inode VINO is on hold. */
bool ver_held(struct fs *fs, uint64_t vino);

/* Publish an event (struct version_events) to the subscribers. */
#define VER_PUBLISH(fs, event, ...)						\
	do {									\
		for (unsigned i_ = 0; i_ < (fs)->nversion_subs; i_++)		\
			if ((fs)->version_subs[i_]->event)			\
				(fs)->version_subs[i_]->event(__VA_ARGS__);	\
	} while (0)

#endif
