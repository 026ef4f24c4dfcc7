/* version_priv.h — what the files of checkpoint versions share (version.c,
 * vsession.c, vadmin.c, dirver.c, content.c; fs/ only). */
#ifndef AIFS_FS_VERSION_PRIV_H
#define AIFS_FS_VERSION_PRIV_H

#include "fs/fs.h"
#include "fs/version.h"

#include <openssl/evp.h>

#include "meta/records.h"

/* Record kinds (meta/records.h). */
#define REC_V		META_REC_VERSION
#define REC_B		META_REC_VERSION_OF
#define REC_W		META_REC_SESSION
#define REC_Q		META_REC_RETAIN
#define REC_HOLD	META_REC_VERSION_HOLD

/* The versions of one file, in order. */
struct vlist {
	uint32_t *n;
	struct vrec *v;
	size_t count, cap;
};

/* Command name of process PID into COMM (16 bytes). */
void ver_read_comm(uint32_t pid, char *comm);
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
