/* jcontrol.c — the journal's controls through the mount, each a record
 * of the log committed with the change it makes: the create record of a
 * new file, the retention set on a directory, legal holds, release by
 * root in governance mode, and the record of a deletion (the user.aifs.*
 * names of journal areas).  What retention allows is jretain.c's.
 */
#include "fs/journal_priv.h"
#include "fs/inode.h"
#include "fs/journal.h"
#include "fs/xattr.h"
#include "meta/keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Root, or a member of the mount's audit_admin_group: who places and
 * lifts legal holds. */
static bool audit_admin(struct fs *fs, fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	gid_t g[256];
	int n;

	if (ctx->uid == 0)
		return true;
	if (fs->opt.audit_admin_gid < 0)
		return false;
	if (ctx->gid == (gid_t)fs->opt.audit_admin_gid)
		return true;
	n = fuse_req_getgroups(req, 256, g);
	for (int i = 0; i < n && i < 256; i++)
		if (g[i] == (gid_t)fs->opt.audit_admin_gid)
			return true;
	return false;
}

/* A node made in a journal area inherits its directory's retention; a
 * file also gets its path and a create record, in the same commit. */
static bool journal_node(const struct meta_inode *a)
{
	return S_ISREG(a->mode) && a->policy == META_AREA_JOURNAL &&
	       !(a->flags & META_IF_READONLY);
}

int journal_node_commit(struct fs *fs, fuse_req_t req, uint64_t parent, const char *dir,
			const char *name, const struct meta_inode *a, struct meta_batch *b)
{
	char path[4096], comm[16];
	struct leaf l = { .op = "create", .ino = a->ino };
	bool compliance;

	if (S_ISDIR(a->mode))
		journal_dir_inherit(fs, parent, a->ino, b);
	if (!journal_node(a))
		return fs_commit(fs, b, false);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	journal_who(req, &l, comm);
	l.path = path;
	l.retention = journal_retention_inherit(fs, parent, a->ino, &compliance, b);
	l.has_retention = true;
	l.lock = compliance ? "compliance" : "governance";
	journal_path_put(b, a->ino, path, -1);
	return journal_leaf_commit(fs, &l, b);
}

/* setxattr user.aifs.retention=DAYS on a journal directory.  Its owner,
 * root or the audit group may lengthen it; shortening it, or setting it
 * below the mount's audit_retention, is root's alone and only in
 * governance mode (S3 Object Lock).  The change is a record of the log. */
static int dir_retention(struct fs *fs, fuse_req_t req, struct inode *dir, const char *value,
			 size_t size)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char buf[32], *end, path[4096], comm[16];
	struct leaf l = { .op = "retention", .ino = dir->ino, .tag = buf, .has_retention = true };
	struct meta_batch *b;
	int64_t ns, cur, floor = (int64_t)(fs->opt.audit_retention_days * 86400.0 * 1e9);
	bool compliance;
	double days;
	int rc;

	pthread_rwlock_rdlock(&dir->lock);
	rc = dir->attr.flags & META_IF_READONLY ? -EROFS :
	     !S_ISDIR(dir->attr.mode) || dir->attr.policy != META_AREA_JOURNAL ? -EINVAL :
	     ctx->uid != 0 && ctx->uid != dir->attr.uid && !audit_admin(fs, req) ? -EPERM : 0;
	pthread_rwlock_unlock(&dir->lock);
	if (rc < 0)
		return rc;
	if (size == 0 || size >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, value, size);
	buf[size] = 0;
	days = strtod(buf, &end);
	if (*end || days < 0 || days > 365000)
		return -EINVAL;
	ns = (int64_t)(days * 86400.0 * 1e9);
	journal_dir_path(fs, dir->ino, path, sizeof(path));
	journal_who(req, &l, comm);
	l.path = path;
	l.retention = ns;
	b = meta_batch_new();
	if (!b)
		return -ENOMEM;
	pthread_mutex_lock(&fs->journal->retention_lock);
	cur = journal_retention_get(fs, dir->ino, &compliance);
	compliance = compliance || fs->opt.audit_compliance;
	if ((ns < cur || ns < floor) && (compliance || ctx->uid != 0)) {
		log_debug("audit: uid %u may not shorten the retention of directory %llu to %s "
			  "days (%s mode)", ctx->uid, (unsigned long long)dir->ino, buf,
			  compliance ? "compliance" : "governance");
		rc = -EPERM;
	} else {
		journal_retention_put(b, dir->ino, ns, compliance);
		rc = journal_leaf_commit(fs, &l, b);	/* the change and its record, together */
	}
	pthread_mutex_unlock(&fs->journal->retention_lock);
	meta_batch_free(b);
	return rc;
}

int journal_delete_begin(struct fs *fs, fuse_req_t req, struct inode *in, struct meta_batch *b)
{
	struct journal *j = fs->journal;
	char path[4096], comm[16];
	struct leaf l = { .op = "delete", .ino = in->ino, .length = in->attr.size,
			  .has_age = true, .has_retention = true };
	int64_t sealed;

	if (journal_retention_allows(fs, in, &l.tag, &l.age) < 0)
		l.tag = "retention running";	/* callers checked: never */
	l.retention = journal_retention_of(fs, in->ino);
	if (journal_path_load(fs, in->ino, path, sizeof(path), &sealed) < 0)
		snprintf(path, sizeof(path), "?%llu", (unsigned long long)in->ino);
	journal_who(req, &l, comm);
	l.path = path;
	pthread_mutex_lock(&j->lock);	/* held until journal_delete_end */
	return journal_leaf_put_next(fs, &l, b, j->del_hash);
}

void journal_delete_end(struct fs *fs, int rc)
{
	struct journal *j = fs->journal;

	if (rc == 0 && merkle_append(&j->tree, j->del_hash) == 0 &&
	    merkle_size(&j->tree) - j->signed_size >= fs->opt.audit_leaves)
		pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
}

/* user.aifs.hold=TAG, user.aifs.unhold=TAG, user.aifs.release=1 on a
 * journal file.  Holds: root or the audit group (never merely the owner of
 * the logs); release: root, governance mode. */
static int hold_set(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		    const char *value, size_t size)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char tag[256], comm[16], path[4096];
	struct meta_batch *b;
	uint8_t k[8 + 256];
	int64_t sealed;
	struct leaf l = { .ino = in->ino, .tag = tag };
	int rc;

	if (size == 0 || size > 255 || memchr(value, 0, size))
		return -EINVAL;
	memcpy(tag, value, size);
	tag[size] = 0;
	key_put_u64(k, in->ino);
	memcpy(k + 8, tag, size);
	if (!strcmp(name, "user.aifs.hold") || !strcmp(name, "user.aifs.unhold")) {
		if (!audit_admin(fs, req)) {
			log_debug("audit: uid %u may not %s inode %llu", ctx->uid, name + 10,
				  (unsigned long long)in->ino);
			return -EPERM;
		}
		l.op = name[10] == 'h' ? "hold" : "unhold";
	} else if (!strcmp(name, "user.aifs.release")) {
		bool compliance;

		journal_retention_get(fs, in->ino, &compliance);
		if (ctx->uid != 0 || fs->opt.audit_compliance || compliance)
			return -EPERM;	/* root, governance mode, a file made in it */
		l.op = "release";
	} else {
		return -EPERM;
	}
	b = meta_batch_new();
	if (!b)
		return -ENOMEM;
	if (l.op[0] == 'h')
		meta_rec_put(b, REC_Y, k, 8 + size, "", 0);
	else if (l.op[0] == 'u')
		meta_rec_del(b, REC_Y, k, 8 + size);
	else
		meta_rec_put(b, REC_R, k, 8, tag, size);
	if (journal_path_load(fs, in->ino, path, sizeof(path), &sealed) < 0)
		snprintf(path, sizeof(path), "?%llu", (unsigned long long)in->ino);
	journal_who(req, &l, comm);
	l.path = path;
	rc = journal_leaf_commit(fs, &l, b);	/* the act and its record, together */
	meta_batch_free(b);
	return rc;
}

struct holdtags {
	char *buf;
	size_t len, cap;
};

static int holdtag_cb(void *ctx, const void *key, size_t klen, const void *v, size_t vl)
{
	struct holdtags *t = ctx;
	size_t n = klen - 8;

	(void)v;
	(void)vl;
	if (klen <= 8)
		return 0;
	if (t->len + n + 1 > t->cap)
		return -ERANGE;
	if (t->len)
		t->buf[t->len++] = ',';
	memcpy(t->buf + t->len, (const char *)key + 8, n);
	t->len += n;
	return 0;
}

/* The wall-clock time (UTC, ISO 8601) at store-clock instant MONO. */
static int wall_of(struct fs *fs, int64_t mono, char *buf, size_t len)
{
	time_t t = journal_wall_of(fs->journal, mono);
	struct tm tm;

	if (!gmtime_r(&t, &tm))
		return -EOVERFLOW;
	return (int)strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int file_xattr(struct fs *fs, struct inode *in, const char *name, char *buf, size_t len)
{
	struct holdtags t = { .buf = buf, .cap = len };
	char path[8];
	int64_t sealed = -1, ret;
	uint8_t k[8];
	void *v;
	size_t vlen;
	bool compliance;
	int rc;

	if (!journal_file(in))
		return -ENODATA;
	key_put_u64(k, in->ino);
	if (!strcmp(name, "user.aifs.holds")) {
		rc = meta_rec_foreach(fs->meta, REC_Y, k, 8, holdtag_cb, &t);
		return rc < 0 ? rc : (int)t.len;
	}
	if (strcmp(name, "user.aifs.sealed") && strcmp(name, "user.aifs.retain_until") &&
	    strcmp(name, "user.aifs.retention_mode"))
		return -ENODATA;
	if ((in->attr.flags & META_IF_SEALED) &&
	    journal_path_load(fs, in->ino, path, sizeof(path), &sealed) < 0)
		sealed = -1;
	if (!strcmp(name, "user.aifs.sealed"))
		return snprintf(buf, len, "%s", sealed >= 0 ? "true" : "false");
	ret = journal_retention_get(fs, in->ino, &compliance);
	compliance |= fs->opt.audit_compliance;
	if (!strcmp(name, "user.aifs.retention_mode"))
		return snprintf(buf, len, "%s", compliance ? "compliance" : "governance");
	if (!compliance && meta_rec_get(fs->meta, REC_R, k, 8, &v, &vlen) == 0) {
		free(v);
		return snprintf(buf, len, "released");
	}
	if (sealed < 0)
		return snprintf(buf, len, "unsealed");	/* retention starts at the seal */
	return wall_of(fs, sealed + ret, buf, len);
}

/* --- the names of journal areas (xattr.h) --------------------------------- */

static int jx_retention(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
			const char *value, size_t size, int flags)
{
	(void)name;
	(void)flags;
	return dir_retention(fs, req, in, value, size);
}

/* Every user.aifs.* change of a journal file: holds and release, or -EPERM. */
static int jx_file_set(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		       const char *value, size_t size, int flags)
{
	(void)flags;
	if (!value || !journal_file(in))
		return FS_XATTR_PASS;
	return hold_set(fs, req, in, name, value, size);
}

static int jx_file_get(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		       char **val, size_t *len)
{
	char *buf;
	int rc;

	(void)req;
	if (!journal_file(in))
		return FS_XATTR_PASS;
	buf = malloc(4096);
	if (!buf)
		return -ENOMEM;
	pthread_rwlock_rdlock(&in->lock);
	rc = file_xattr(fs, in, name, buf, 4096);
	pthread_rwlock_unlock(&in->lock);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*val = buf;
	*len = (size_t)rc;
	return 0;
}

const struct fs_xattr journal_xattrs[] = {
	{ "user.aifs.retention", "journal", 0, NULL, jx_retention, NULL },
	{ "user.aifs.*", "journal", FS_XATTR_LOCKED, NULL, jx_file_set, NULL },
	{ "user.aifs.sealed", "journal", 0, jx_file_get, NULL, NULL },
	{ "user.aifs.retain_until", "journal", 0, jx_file_get, NULL, NULL },
	{ "user.aifs.retention_mode", "journal", 0, jx_file_get, NULL, NULL },
	{ "user.aifs.holds", "journal", 0, jx_file_get, NULL, NULL },
	{ NULL, NULL, 0, NULL, NULL, NULL },
};
