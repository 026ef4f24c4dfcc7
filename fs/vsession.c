/* vsession.c — write sessions of checkpoint and dataset files: a session
 * starts with the first change of a file and ends at the close of its last
 * writer; while it is open, the session's running SHA-256 is fed, lookups
 * of the file's name answer with its newest complete version, and an 'W'
 * record says that a crash in the middle of the save is to be undone at
 * the next mount (version_recover).
 */
#include "fs/version_priv.h"
#include "fs/inval.h"
#include "fs/inode.h"
#include "fs/space.h"
#include "fs/content.h"
#include "fs/version.h"
#include "meta/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool version_wrote(struct fs *fs, struct inode *in)
{
	struct session *s = ver_session(fs, in);

	return s && s->wrote;
}

/* Record (or clear) that INO has an open write session, so that a crash
 * in the middle of a save is undone at the next mount. */
void ver_session_mark(struct fs *fs, uint64_t ino, bool open)
{
	struct meta_batch *b = meta_batch_new();
	uint8_t k[8];

	if (!b)
		return;
	key_put_u64(k, ino);
	if (open)
		meta_rec_put(b, REC_W, k, 8, "", 0);
	else
		meta_rec_del(b, REC_W, k, 8);
	if (fs_commit(fs, b, false) < 0)
		log_warn("inode %llu: cannot record its write session", (unsigned long long)ino);
	meta_batch_free(b);
}

void version_modify(struct fs *fs, fuse_req_t req, struct inode *in)
{
	const struct fuse_ctx *ctx = req ? fuse_req_ctx(req) : NULL;

	version_modify_by(fs, in, ctx ? ctx->uid : 0, ctx ? ctx->pid : 0);
}

void version_modify_by(struct fs *fs, struct inode *in, uint32_t uid, uint32_t pid)
{
	struct vfile *vf;
	struct session *s;

	if (!content_tracked(in))
		return;
	vf = ver_file(fs, in, true);
	if (vf && !vf->sess) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return;		/* the commit then hashes the content itself */
		s->hash = vhash_new();
		s->hash_ok = s->hash && in->attr.size == 0;
		s->uid = uid;
		s->pid = pid;
		if (pid)	/* else the daemon's own change */
			fs_proc_comm(pid, s->comm);
		vf->sess = s;
		if (version_tracked(in))
			ver_session_mark(fs, in->ino, true);
	}
}

void version_hash(struct fs *fs, struct inode *in, const char *buf, size_t size, uint64_t off)
{
	struct session *s = ver_session(fs, in);

	if (!s)
		return;
	s->wrote = true;
	if (!s->hash_ok)
		return;
	if (off == s->hashed && vhash_update(s->hash, buf, size) == 0)
		s->hashed += size;
	else
		s->hash_ok = false;	/* out of order: hash the content at commit */
}

void version_truncate(struct fs *fs, struct inode *in, uint64_t size)
{
	struct session *s = ver_session(fs, in);

	if (!s)
		return;
	if (size == 0 && s->hash && vhash_reset(s->hash) == 0) {
		s->hashed = 0;
		s->hash_ok = true;
	} else if (size < s->hashed || size > s->hashed) {
		s->hash_ok = false;
	}
}

bool ver_session_sha(struct session *s, uint64_t size, uint8_t sha[32])
{
	if (s && s->sha_known) {
		memcpy(sha, s->sha, 32);
		return true;
	}
	if (!s || !s->hash_ok || s->hashed != size)
		return false;
	s->hash_ok = false;	/* the hash is spent */
	return vhash_final(s->hash, sha) == 0;
}

int ver_dataset_commit(struct fs *fs, struct inode *in)
{
	struct session *s = ver_session(fs, in);
	uint8_t sha[32];
	int rc = 0;

	if (ver_session_sha(s, in->attr.size, sha))
		rc = content_hash_put(fs, in, sha);
	ver_session_free(fs, in);	/* otherwise hashed lazily when asked */
	return rc;
}

/* --- names during a session --------------------------------------------- */

struct inode *version_lookup(struct fs *fs, struct inode *in, uint64_t parent,
			     const char *name)
{
	struct inode *vin;
	struct vfile *vf;
	struct vrec v;
	bool session, same;
	int i;

	/* Each path lookup of the name comes here (it is not cached): the name
	 * is rarely new, so look before taking the lock for writing.  The name
	 * serves the version once the session has changed the content by a
	 * write or a truncate (name_hidden): a writer that opened it with
	 * O_TRUNC and has not written yet may still be joined by another. */
	pthread_rwlock_rdlock(&in->lock);
	vf = ver_file(fs, in, false);
	same = vf && vf->lparent == parent && vf->lname && !strcmp(vf->lname, name);
	session = vf && vf->sess && vf->name_hidden;
	/* Every writer has closed since the last write: close() returned
	 * after FLUSH, but the RELEASE that ends the session is sent
	 * asynchronously and another worker may be handling it now.  A
	 * reopen right after close must find the name, not the version it
	 * served during the session: give that release up to 500 ms (the
	 * time it takes to commit is not counted; the lock waits for it).
	 * The state stays while the inode does: VF outlives the unlock. */
	for (i = 0; session && vf->closing && i < 500; i++) {
		pthread_rwlock_unlock(&in->lock);
		usleep(1000);
		pthread_rwlock_rdlock(&in->lock);
		session = vf->sess && vf->name_hidden;
	}
	pthread_rwlock_unlock(&in->lock);
	if (!same) {
		pthread_rwlock_wrlock(&in->lock);
		vf = ver_file(fs, in, true);
		if (vf && (vf->lparent != parent || !vf->lname || strcmp(vf->lname, name))) {
			char *n = strdup(name);

			if (n) {
				free(vf->lname);
				vf->lname = n;
				vf->lparent = parent;
			}
		}
		session = vf && vf->sess && vf->name_hidden;
		pthread_rwlock_unlock(&in->lock);
	}
	if (!session || version_get(fs, in->ino, 0, &v, NULL) < 0 ||
	    inode_get(fs, v.vino, &vin) < 0)
		return in;
	inode_put(fs, in);
	return vin;
}

void version_hide_name(struct fs *fs, struct inode *in)
{
	struct vfile *vf = ver_file(fs, in, false);

	if (!vf)
		return;
	vf->closing = false;
	if (!vf->sess || vf->name_hidden)
		return;
	vf->name_hidden = true;
	if (vf->lname)
		inval_entry(vf->lparent, vf->lname, strlen(vf->lname));
}

/* --- crash recovery ------------------------------------------------------ */

static int recover_one(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct fs *fs = ctx;
	uint64_t ino = klen == 8 ? key_get_u64(key) : 0;
	struct meta_batch *b = meta_batch_new();
	struct inode *in = NULL;
	struct meta_inode saved;
	struct vrec good;
	bool reverted;
	int rc = b ? inode_get(fs, ino, &in) : -ENOMEM;

	(void)val;
	(void)vlen;
	if (rc == 0) {
		pthread_rwlock_wrlock(&in->lock);
		saved = in->attr;
		space_defer_begin();
		/* an unreadable version record is not "no version" */
		rc = version_tracked(in) ? version_get(fs, ino, 0, &good, NULL) : -ENOENT;
		reverted = rc == 0;
		if (rc == 0)
			rc = ver_revert(fs, in, b, &good);
		if (rc == -ENOENT)
			rc = 0;		/* no complete version: the save stands */
		if (rc == 0) {
			meta_rec_del(b, REC_W, key, klen);
			rc = fs_commit(fs, b, true);
		}
		space_defer_end(fs, rc == 0);
		if (rc < 0) {
			fs_content_reload(in);
			in->attr = saved;
		} else if (reverted) {
			log_notice("inode %llu: a save was cut short by a crash; "
				   "back to its last complete version", (unsigned long long)ino);
		}
		pthread_rwlock_unlock(&in->lock);
	} else if (b && rc == -ENOENT) {
		meta_rec_del(b, REC_W, key, klen);
		rc = fs_commit(fs, b, true);
	}
	if (rc < 0)
		log_err("inode %llu: undoing an interrupted save failed: %s",
			(unsigned long long)ino, strerror(-rc));
	if (in)
		inode_put(fs, in);
	meta_batch_free(b);
	return 0;
}

int version_recover(struct fs *fs)
{
	return meta_rec_foreach(fs->meta, REC_W, NULL, 0, recover_one, fs);
}

