/* vermore.c — what surrounds checkpoint versions: content hashes of
 * dataset files, names during a session, crash recovery, holds, retention
 * settings, restore, directory versions and the user.aifs.* attributes of
 * versions (see version.c for versions).
 */
#include "fs/version_priv.h"
#include "fs/access.h"
#include "fs/inval.h"
#include "fs/lineage.h"
#include "meta/keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- content hashes of dataset files ----------------------------------- */

static void hash_put(struct meta_batch *b, uint64_t ino, uint64_t gen, const uint8_t sha[32])
{
	uint8_t k[8], v[40];

	key_put_u64(k, ino);
	key_put_u64(v, gen);
	memcpy(v + 8, sha, 32);
	meta_rec_put(b, REC_H, k, 8, v, sizeof(v));
}

int content_commit(struct fs *fs, struct inode *in)
{
	struct session *s = in->sess;
	struct meta_batch *b;
	uint8_t sha[32];
	int rc = 0;

	if (s && s->hash_ok && s->hashed == in->attr.size) {
		EVP_DigestFinal_ex(s->md, sha, NULL);
		b = meta_batch_new();
		if (b) {
			hash_put(b, in->ino, in->attr.generation, sha);
			rc = fs_commit(fs, b, false);
			meta_batch_free(b);
		}
	}
	version_session_free(in);	/* otherwise hashed lazily when asked */
	return rc;
}

int content_sha(struct fs *fs, struct inode *in, uint8_t sha[32])
{
	struct meta_batch *b;
	uint8_t k[8];
	void *v;
	size_t len;
	int rc;

	key_put_u64(k, in->ino);
	if (meta_rec_get(fs->meta, REC_H, k, 8, &v, &len) == 0) {
		bool fresh = len == 40 && key_get_u64(v) == in->attr.generation;

		if (fresh)
			memcpy(sha, (uint8_t *)v + 8, 32);
		free(v);
		if (fresh)
			return 0;
	}
	rc = fs_map_load(fs, in);
	if (rc == 0)
		rc = content_hash_now(fs, in, sha);
	if (rc == 0 && (b = meta_batch_new())) {
		hash_put(b, in->ino, in->attr.generation, sha);
		fs_commit(fs, b, false);
		meta_batch_free(b);
	}
	return rc;
}

void content_copy_hash(struct fs *fs, struct meta_batch *b, uint64_t src, uint64_t dst)
{
	uint8_t k[8];
	void *v;
	size_t len;

	key_put_u64(k, src);
	if (meta_rec_get(fs->meta, REC_H, k, 8, &v, &len) == 0) {
		key_put_u64(k, dst);
		meta_rec_put(b, REC_H, k, 8, v, len);
		free(v);
	}
}

void content_forget(struct meta_batch *b, uint64_t ino)
{
	uint8_t k[8];

	key_put_u64(k, ino);
	meta_rec_del(b, REC_H, k, 8);
}

/* --- names during a session --------------------------------------------- */

struct inode *version_lookup(struct fs *fs, struct inode *in, uint64_t parent,
			     const char *name)
{
	struct inode *vin;
	struct vrec v;
	bool session, same;
	int i;

	/* Each path lookup of the name comes here (it is not cached): the name
	 * is rarely new, so look before taking the lock for writing.  The name
	 * serves the version once the session has changed the content by a
	 * write or a truncate (name_hidden): a writer that opened it with
	 * O_TRUNC and has not written yet may still be joined by another. */
	pthread_rwlock_rdlock(&in->lock);
	same = in->lparent == parent && in->lname && !strcmp(in->lname, name);
	session = in->sess && in->name_hidden;
	/* Every writer has closed since the last write: close() returned
	 * after FLUSH, but the RELEASE that ends the session is sent
	 * asynchronously and another worker may be handling it now.  A
	 * reopen right after close must find the name, not the version it
	 * served during the session: give that release up to 500 ms (the
	 * time it takes to commit is not counted; the lock waits for it). */
	for (i = 0; session && in->closing && i < 500; i++) {
		pthread_rwlock_unlock(&in->lock);
		usleep(1000);
		pthread_rwlock_rdlock(&in->lock);
		session = in->sess && in->name_hidden;
	}
	pthread_rwlock_unlock(&in->lock);
	if (!same) {
		pthread_rwlock_wrlock(&in->lock);
		if (in->lparent != parent || !in->lname || strcmp(in->lname, name)) {
			char *n = strdup(name);

			if (n) {
				free(in->lname);
				in->lname = n;
				in->lparent = parent;
			}
		}
		session = in->sess && in->name_hidden;
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
	(void)fs;
	in->closing = false;
	if (!in->sess || in->name_hidden)
		return;
	in->name_hidden = true;
	if (in->lname)
		inval_entry(in->lparent, in->lname, strlen(in->lname));
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

/* --- holds, retention settings, restore ---------------------------------- */

int version_hold(struct fs *fs, struct inode *vin, const char *tag, size_t len, bool on)
{
	struct meta_batch *b;
	uint8_t k[8 + META_NAME_MAX];
	int rc;

	if (!(vin->attr.flags & META_IF_VERSION))
		return -EINVAL;
	if (len == 0 || len > META_NAME_MAX)
		return -EINVAL;
	b = meta_batch_new();
	if (!b)
		return -ENOMEM;
	key_put_u64(k, vin->ino);
	memcpy(k + 8, tag, len);
	if (on)
		meta_rec_put(b, REC_HOLD, k, 8 + len, "", 0);
	else
		meta_rec_del(b, REC_HOLD, k, 8 + len);
	rc = fs_commit(fs, b, false);
	meta_batch_free(b);
	return rc;
}

struct tags {
	char *buf;
	size_t len, cap;
};

static int tag_cb(void *ctx, const void *key, size_t klen, const void *v, size_t vl)
{
	struct tags *t = ctx;

	(void)v;
	(void)vl;
	if (klen <= 8)
		return 0;
	if (t->len + klen > t->cap) {
		size_t cap = (t->cap + klen) * 2;
		char *n = realloc(t->buf, cap);

		if (!n)
			return -ENOMEM;
		t->buf = n;
		t->cap = cap;
	}
	if (t->len)
		t->buf[t->len++] = ',';
	memcpy(t->buf + t->len, (const char *)key + 8, klen - 8);
	t->len += klen - 8;
	return 0;
}

/* Comma-separated hold tags of version VINO into BUF. */
int version_holds(struct fs *fs, uint64_t vino, char *buf, size_t len)
{
	struct tags t = { 0 };
	uint8_t k[8];
	int rc;

	key_put_u64(k, vino);
	rc = meta_rec_foreach(fs->meta, REC_HOLD, k, 8, tag_cb, &t);
	if (rc == 0)
		rc = snprintf(buf, len, "%.*s", (int)t.len, t.buf ? t.buf : "");
	free(t.buf);
	return rc;
}

int version_retain_set(struct fs *fs, struct inode *dir, const char *value, size_t size)
{
	struct meta_batch *b;
	char buf[64];
	unsigned keep = 0, every = 0;
	uint8_t k[8], v[8];
	int rc;

	if (!S_ISDIR(dir->attr.mode))
		return -ENOTDIR;
	if (size >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, value, size);
	buf[size] = 0;
	/* "last=N" or "last=N,every=K" */
	if (sscanf(buf, "last=%u,every=%u", &keep, &every) < 1 &&
	    sscanf(buf, "every=%u", &every) != 1)
		return -EINVAL;
	b = meta_batch_new();
	if (!b)
		return -ENOMEM;
	key_put_u64(k, dir->ino);
	key_put_u32(v, keep);
	key_put_u32(v + 4, every);
	meta_rec_put(b, REC_Q, k, 8, v, 8);
	rc = fs_commit(fs, b, false);
	meta_batch_free(b);
	return rc;
}

int version_restore(struct fs *fs, fuse_req_t req, struct inode *in, uint32_t n)
{
	struct vrec v;
	struct meta_batch *b;
	int rc;

	if (!version_tracked(in))
		return -EINVAL;
	if (in->nwriters)
		return -EBUSY;		/* a save is under way */
	rc = version_get(fs, in->ino, n, &v, NULL);
	if (rc < 0)
		return rc == -ENOENT ? -ENOENT : rc;
	b = meta_batch_new();
	if (!b)
		return -ENOMEM;
	version_modify(req, in);
	rc = in->sess ? ver_revert(fs, in, b, &v) : -ENOMEM;
	if (rc == 0)
		rc = fs_commit(fs, b, false);
	meta_batch_free(b);
	if (rc == 0) {
		in->sess->sha_known = true;
		memcpy(in->sess->sha, v.sha, 32);
		in->sess->restored = v.vino;
		in->attr.mtime = fs_now();
		rc = version_commit(fs, in);	/* N's content as the newest version */
	}
	return rc < 0 ? rc : 0;
}

/* --- directory versions --------------------------------------------------- */

int version_dir_commit(struct fs *fs, uint64_t dir, uint32_t uid, uint32_t pid)
{
	struct meta_batch *b = meta_batch_new();
	struct inode *din = NULL;
	struct vrec v = { .time = fs_now(), .complete = 1, .uid = uid, .pid = pid };
	uint64_t files;
	uint32_t last = 0;
	int rc = b ? 0 : -ENOMEM;

	ver_read_comm(pid, v.comm);
	pthread_rwlock_wrlock(&fs->ns);
	if (rc == 0)
		rc = inode_get(fs, dir, &din);
	if (rc == 0 && (!S_ISDIR(din->attr.mode) || din->attr.policy != META_AREA_CHECKPOINT ||
			(din->attr.flags & META_IF_READONLY)))
		rc = -EINVAL;
	if (rc == 0)
		rc = version_foreach(fs, dir, ver_last_cb, &last);
	if (rc == 0)
		rc = tree_freeze(fs, dir, b, &v.vino, &files, &v.size);
	if (rc == 0) {
		ver_rec_put(b, dir, last + 1, &v);
		lineage_attach(fs, b, pid, uid, v.vino);
		rc = tier_sync(fs->tiers[TIER_HOT]);
	}
	if (rc == 0)
		rc = fs_commit(fs, b, true);
	pthread_rwlock_unlock(&fs->ns);
	if (rc == 0)
		log_info("directory %llu: version %u committed (%llu files, %llu bytes)",
			 (unsigned long long)dir, last + 1, (unsigned long long)files,
			 (unsigned long long)v.size);
	else if (access_refusal(rc))
		log_debug("directory %llu: commit of a directory version refused: %s",
			  (unsigned long long)dir, strerror(-rc));
	else
		log_err("directory %llu: commit of a directory version failed: %s",
			(unsigned long long)dir, strerror(-rc));
	if (din)
		inode_put(fs, din);
	meta_batch_free(b);
	return rc;
}

int version_dir_drop_all(struct fs *fs, struct meta_batch *b, uint64_t dir,
			 struct inode ***held, size_t *nheld)
{
	struct vlist *l;
	int rc;

	*held = NULL;
	*nheld = 0;
	l = ver_list_load(fs, dir, &rc);
	for (size_t i = 0; l && rc == 0 && i < l->count; i++) {
		struct inode **h;
		size_t nh;

		ver_rec_del(b, dir, l->n[i], l->v[i].vino);
		lineage_forget(b, l->v[i].vino);
		rc = tree_drop(fs, l->v[i].vino, b, &h, &nh);
		if (nh) {
			struct inode **all = realloc(*held, (*nheld + nh) * sizeof(*all));

			if (all) {
				memcpy(all + *nheld, h, nh * sizeof(*h));
				*held = all;
				*nheld += nh;
			}
		}
		free(h);
	}
	ver_list_free(l);
	return rc;
}

/* --- holds on versions ---------------------------------------------------- */

bool ver_held(struct fs *fs, uint64_t vino)
{
	uint8_t k[8];

	key_put_u64(k, vino);
	return meta_rec_any(fs->meta, REC_HOLD, k, 8);
}

bool version_file_held(struct fs *fs, uint64_t ino)
{
	struct vlist *l;
	bool held = false;
	int rc;

	l = ver_list_load(fs, ino, &rc);
	for (size_t i = 0; l && i < l->count && !held; i++)
		held = ver_held(fs, l->v[i].vino);
	ver_list_free(l);
	return held;
}

/* --- user.aifs.* attributes ------------------------------------------ */

static const char *const area_names[] = { "plain", "dataset", "checkpoint", "journal" };

int version_xattr(struct fs *fs, struct inode *in, const char *name, char *buf, size_t len)
{
	struct vrec v;
	uint64_t owner;
	uint32_t n;
	int rc;

	if (!strcmp(name, "user.aifs.area"))
		return snprintf(buf, len, "%s", in->attr.policy < 4 ?
				area_names[in->attr.policy] : "unknown");
	if (!strcmp(name, "user.aifs.holds") && (in->attr.flags & META_IF_VERSION))
		return version_holds(fs, in->ino, buf, len);
	if (strcmp(name, "user.aifs.version") && strcmp(name, "user.aifs.sha256") &&
	    strcmp(name, "user.aifs.complete") && strcmp(name, "user.aifs.writer") &&
	    strcmp(name, "user.aifs.tier"))
		return -ENODATA;
	if (in->attr.flags & META_IF_VERSION) {
		rc = version_owner(fs, in->ino, &owner, &n);
		if (rc == 0)
			rc = version_get(fs, owner, n, &v, NULL);
	} else if (version_tracked(in)) {
		rc = version_get(fs, in->ino, 0, &v, &n);
	} else if (S_ISREG(in->attr.mode) && !strcmp(name, "user.aifs.sha256") &&
		   (in->attr.policy == META_AREA_DATASET || (in->attr.flags & META_IF_SNAPSHOT))) {
		rc = content_sha(fs, in, v.sha);
		goto hex;
	} else {
		return -ENODATA;
	}
	if (rc < 0)
		return rc == -ENOENT ? -ENODATA : rc;
	if (!strcmp(name, "user.aifs.version"))
		return snprintf(buf, len, "%u", n);
	if (!strcmp(name, "user.aifs.complete"))
		return snprintf(buf, len, "%s", v.complete ? "true" : "false");
	if (!strcmp(name, "user.aifs.writer"))
		return snprintf(buf, len, "uid=%u pid=%u comm=%s", v.uid, v.pid, v.comm);
	if (!strcmp(name, "user.aifs.tier"))
		return snprintf(buf, len, "%s", v.tier == TIER_COLD ? "cold" : "hot");
hex:
	if (rc < 0)
		return rc;
	for (int i = 0; i < 32; i++)
		snprintf(buf + 2 * i, len - 2 * i, "%02x", v.sha[i]);
	return 64;
}
