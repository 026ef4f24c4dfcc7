/* vadmin.c — what users do to checkpoint versions through attributes:
 * holds, retention settings, restore, and the user.aifs.* attributes of
 * versions (version.c makes and drops versions).
 */
#include "fs/version_priv.h"
#include "fs/access.h"
#include "fs/acl.h"
#include "fs/dirver.h"
#include "fs/inode.h"
#include "fs/sb.h"
#include "fs/space.h"
#include "fs/content.h"
#include "fs/data.h"
#include "fs/version.h"
#include "fs/xattr.h"
#include "meta/keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- holds, retention settings, restore ---------------------------------- */

static int version_hold(struct fs *fs, struct inode *vin, const char *tag, size_t len, bool on)
{
	struct meta_batch *b;
	uint8_t k[8 + META_NAME_MAX];
	int rc;

	if (!(vin->attr.flags & META_IF_VERSION) && !dirver_is_version(fs, vin, NULL, NULL))
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
static int version_holds(struct fs *fs, uint64_t vino, char *buf, size_t len)
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

static int version_retain_set(struct fs *fs, struct inode *dir, const char *value, size_t size)
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

static int version_restore(struct fs *fs, fuse_req_t req, struct inode *in, uint32_t n)
{
	struct vrec v;
	int rc;

	if (!version_tracked(in))
		return -EINVAL;
	if (in->nwriters)
		return -EBUSY;		/* a save is under way */
	rc = version_get(fs, in->ino, n, &v, NULL);
	if (rc < 0)
		return rc == -ENOENT ? -ENOENT : rc;
	return version_restore_from(fs, req, in, &v);
}

int version_restore_from(struct fs *fs, fuse_req_t req, struct inode *in, const struct vrec *vp)
{
	struct vrec v = *vp;
	struct meta_inode saved;
	struct meta_batch *b;
	struct session *s;
	int rc;

	if (!version_tracked(in))
		return -EINVAL;
	if (in->nwriters)
		return -EBUSY;		/* a save is under way */
	rc = fs_flush(fs, in);		/* bytes still buffered: in a commit of their own */
	if (rc < 0)
		return rc;
	saved = in->attr;		/* what a failed restore puts back */
	b = meta_batch_new();
	if (!b)
		return -ENOMEM;
	version_modify(fs, req, in);
	s = ver_session(fs, in);
	space_defer_begin();	/* the counts change as on disk only if it commits */
	rc = s ? ver_revert(fs, in, b, &v) : -ENOMEM;
	if (rc == 0)
		rc = fs_commit(fs, b, false);
	space_defer_end(fs, rc == 0);
	if (rc < 0 && s) {
		fs_content_reload(in);
		in->attr = saved;
	}
	meta_batch_free(b);
	if (rc == 0) {
		s->sha_known = true;
		memcpy(s->sha, v.sha, 32);
		s->restored = v.vino;
		in->attr.mtime = fs_now();
		rc = version_commit(fs, in);	/* N's content as the newest version */
	}
	return rc < 0 ? rc : 0;
}

/* --- user.aifs.* attributes ------------------------------------------ */

static int version_xattr(struct fs *fs, struct inode *in, const char *name, char *buf, size_t len)
{
	struct vrec v;
	uint64_t owner;
	uint32_t n;
	int rc;

	if (!strcmp(name, "user.aifs.holds") &&
	    ((in->attr.flags & META_IF_VERSION) || dirver_is_version(fs, in, NULL, NULL)))
		return version_holds(fs, in->ino, buf, len);
	rc = dirver_xattr(fs, in, name, buf, len);
	if (rc != DIRVER_NOT_MINE)
		return rc;
	if (strcmp(name, "user.aifs.version") && strcmp(name, "user.aifs.sha256") &&
	    strcmp(name, "user.aifs.complete") && strcmp(name, "user.aifs.writer") &&
	    strcmp(name, "user.aifs.tier") && strcmp(name, "user.aifs.size"))
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
	if (!strcmp(name, "user.aifs.size"))
		return snprintf(buf, len, "%llu", (unsigned long long)v.size);
hex:
	if (rc < 0)
		return rc;
	for (int i = 0; i < 32; i++)
		snprintf(buf + 2 * i, len - 2 * i, "%02x", v.sha[i]);
	return 64;
}

static bool is_version(struct fs *fs, struct inode *in)
{
	return (in->attr.flags & META_IF_VERSION) || dirver_is_version(fs, in, NULL, NULL);
}

static int vx_get(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		  char **val, size_t *len)
{
	char *buf = malloc(256);
	int rc;

	(void)req;
	if (!buf)
		return -ENOMEM;
	pthread_rwlock_wrlock(&in->lock);	/* may load the map and hash */
	rc = version_xattr(fs, in, name, buf, 256);
	pthread_rwlock_unlock(&in->lock);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*val = buf;
	*len = (size_t)rc;
	return 0;
}

/* user.aifs.tier of a directory (version): tierctl.c answers for files. */
static int vx_dir_tier(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		       char **val, size_t *len)
{
	return S_ISDIR(in->attr.mode) ? vx_get(fs, req, in, name, val, len) : FS_XATTR_PASS;
}

/* user.aifs.hold=TAG, user.aifs.unhold=TAG on a version (read-only). */
static int vx_hold(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		   const char *value, size_t size, int flags)
{
	(void)req;
	(void)flags;
	if (!value || !is_version(fs, in))
		return FS_XATTR_PASS;
	return version_hold(fs, in, value, size, name[10] == 'h');
}

/* user.aifs.commit on a checkpoint directory: takes the namespace lock. */
static int vx_commit(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		     const char *value, size_t size, int flags)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	(void)name, (void)value, (void)size, (void)flags;
	if (!access_req_owner(req, &in->attr))
		return -EPERM;
	return version_dir_commit(fs, in->ino, ctx->uid, ctx->pid);
}

static int vx_retain(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		     const char *value, size_t size, int flags)
{
	(void)name;
	(void)flags;
	if (!value)
		return FS_XATTR_PASS;
	if (!access_req_owner(req, &in->attr))
		return -EPERM;
	return version_retain_set(fs, in, value, size);
}

/* 0 if REQ's caller may read the content of version N of IN, which a
 * restore makes IN's (history grants no access the version would not). */
static int restore_may(struct fs *fs, fuse_req_t req, struct inode *in, uint32_t n)
{
	struct access_cred c;
	struct meta_inode a;
	struct vrec v;
	int rc = version_get(fs, in->ino, n, &v, NULL);

	/* a version never changes: its stored attributes are current (and
	 * IN is locked, so no other inode lock is taken here) */
	if (rc == 0)
		rc = meta_inode_get(fs->meta, v.vino, &a);
	if (rc < 0)
		return rc;
	access_cred_get(req, &c);
	return acl_access_check(fs, &c, &a, R_OK);
}

/* user.aifs.restore=N on a checkpoint file (a directory's is clone.c's). */
static int vx_restore(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		      const char *value, size_t size, int flags)
{
	uint32_t n;
	int rc;

	(void)name;
	(void)flags;
	if (!value)
		return FS_XATTR_PASS;
	rc = fs_xattr_u32(value, size, &n);
	if (rc == 0)
		rc = restore_may(fs, req, in, n);
	return rc < 0 ? rc : version_restore(fs, req, in, n);
}

const struct fs_xattr version_xattrs[] = {
	{ "user.aifs.hold", "versions", FS_XATTR_LOCKED | FS_XATTR_ON_READONLY, NULL, vx_hold,
	  NULL },
	{ "user.aifs.unhold", "versions", FS_XATTR_LOCKED | FS_XATTR_ON_READONLY, NULL, vx_hold,
	  NULL },
	{ "user.aifs.commit", "versions", 0, NULL, vx_commit, NULL },
	{ "user.aifs.retain", "versions", FS_XATTR_LOCKED, NULL, vx_retain, NULL },
	{ "user.aifs.restore", "versions", FS_XATTR_LOCKED, NULL, vx_restore, NULL },
	{ "user.aifs.holds", "versions", 0, vx_get, NULL, NULL },
	{ "user.aifs.version", "versions", 0, vx_get, NULL, NULL },
	{ "user.aifs.sha256", "versions", 0, vx_get, NULL, NULL },
	{ "user.aifs.complete", "versions", 0, vx_get, NULL, NULL },
	{ "user.aifs.writer", "versions", 0, vx_get, NULL, NULL },
	{ "user.aifs.size", "versions", 0, vx_get, NULL, NULL },
	{ "user.aifs.tier", "versions", 0, vx_dir_tier, NULL, NULL },
	{ NULL, NULL, 0, NULL, NULL, NULL },
};

/* --- the listing of a file's versions (DIR/.aifs/versions/FILE/index.json) -- */

struct listing {
	struct fs *fs;
	uint64_t ino;
	bool dir;		/* INO is a directory: its versions are trees */
	bool first;		/* no version listed yet */
	struct sb sb;
};

/* A version's object: its numbers written without printf, which took 90%
 * of the listing's time (sb_u64). */
static int list_one(void *ctx, uint32_t n, const struct vrec *vp)
{
	struct listing *l = ctx;
	struct vrec v = *vp;
	struct meta_inode a;
	int64_t t = v.time;
	int rc;

	/* the time stat gives for the version (a directory version's root
	 * keeps the directory's) */
	if (l->dir) {
		rc = dirver_summarize(l->fs, l->ino, n, &v);
		if (rc < 0)
			return rc;
		if (meta_inode_get(l->fs->meta, v.vino, &a) == 0)
			t = a.mtime;
	}
	sb_add(&l->sb, l->first ? "\n  {\"version\": " : ",\n  {\"version\": ");
	l->first = false;
	sb_u64(&l->sb, n);
	sb_add(&l->sb, ", \"time_ns\": ");
	sb_i64(&l->sb, t);
	sb_add(&l->sb, ", \"size\": ");
	sb_u64(&l->sb, v.size);
	sb_add(&l->sb, v.complete ? ", \"complete\": true" : ", \"complete\": false");
	sb_add(&l->sb, v.tier == TIER_COLD ? ", \"tier\": \"cold\", \"sha256\": \""
					   : ", \"tier\": \"hot\", \"sha256\": \"");
	sb_hex(&l->sb, v.sha, 32);
	sb_add(&l->sb, "\", \"writer\": \"uid=");
	sb_u64(&l->sb, v.uid);
	sb_add(&l->sb, " pid=");
	sb_u64(&l->sb, v.pid);
	sb_add(&l->sb, " comm=");
	sb_esc(&l->sb, v.comm, true);	/* its bytes come back whole */
	sb_add(&l->sb, "\"}");
	return l->sb.err ? -ENOMEM : 0;
}

int version_listing(struct fs *fs, uint64_t ino, char **text, size_t *len)
{
	struct listing l = { .fs = fs, .ino = ino, .first = true };
	struct inode *in;
	char cur[32], *t;
	int rc = inode_get(fs, ino, &in);

	if (rc < 0)
		return rc;
	l.dir = S_ISDIR(in->attr.mode);
	/* what user.aifs.version of the file answers */
	pthread_rwlock_wrlock(&in->lock);
	rc = version_xattr(fs, in, "user.aifs.version", cur, sizeof(cur));
	pthread_rwlock_unlock(&in->lock);
	inode_put(fs, in);
	if (rc < 0 && rc != -ENODATA)
		return rc;
	sb_add(&l.sb, "{\"current\": ");
	if (rc > 0)
		sb_addn(&l.sb, cur, (size_t)rc);
	else
		sb_add(&l.sb, "null");
	sb_add(&l.sb, ", \"versions\": [");
	rc = version_foreach(fs, ino, list_one, &l);
	sb_add(&l.sb, l.first ? "]}\n" : "\n]}\n");
	*len = l.sb.len;
	t = sb_take(&l.sb);
	if (rc == 0 && !t)
		rc = -ENOMEM;
	if (rc < 0) {
		free(t);
		return rc;
	}
	*text = t;
	return 0;
}
