/* jretain.c — retention of journal files: per directory, legal holds,
 * release by root in governance mode.
 *
 * A journal file cannot be changed or removed while it is being written,
 * while its retention (measured on the store's monotonic clock from its
 * seal) runs, or while a legal hold is on it.  Every hold, unhold and
 * release is itself a record of the log.
 */
#include "fs/journal_priv.h"
#include "meta/keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Retention of INO in ns: its own, set when it was created from its
 * directory's, else the mount's. */
int64_t journal_retention_of(struct fs *fs, uint64_t ino)
{
	uint8_t k[8];
	void *v;
	size_t len;
	int64_t ns = (int64_t)(fs->opt.audit_retention_days * 86400.0 * 1e9);

	key_put_u64(k, ino);
	if (meta_rec_get(fs->meta, REC_T, k, 8, &v, &len) == 0) {
		if (len == 8)
			ns = (int64_t)key_get_u64(v);
		free(v);
	}
	return ns;
}

/* A new file keeps the retention its directory had when it was created
 * (changing the directory's later never shortens it). */
void journal_retention_inherit(struct fs *fs, uint64_t dir, uint64_t ino)
{
	struct meta_batch *b;
	uint8_t k[8];
	void *v;
	size_t len;

	key_put_u64(k, dir);
	if (meta_rec_get(fs->meta, REC_T, k, 8, &v, &len) < 0)
		return;
	b = meta_batch_new();
	if (b && len == 8) {
		key_put_u64(k, ino);
		meta_rec_put(b, REC_T, k, 8, v, 8);
		fs_commit(fs, b, false);
	}
	meta_batch_free(b);
	free(v);
}

int journal_dir_retention(struct fs *fs, fuse_req_t req, struct inode *dir, const char *value,
			  size_t size)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct meta_batch *b;
	char buf[32], *end;
	double days;
	uint8_t k[8], v[8];
	int rc;

	if (!S_ISDIR(dir->attr.mode) || dir->attr.policy != META_AREA_JOURNAL)
		return -EINVAL;
	if (ctx->uid != 0 && ctx->uid != dir->attr.uid)
		return -EPERM;
	if (size == 0 || size >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, value, size);
	buf[size] = 0;
	days = strtod(buf, &end);
	if (*end || days < 0 || days > 365000)
		return -EINVAL;
	b = meta_batch_new();
	if (!b)
		return -ENOMEM;
	key_put_u64(k, dir->ino);
	key_put_u64(v, (uint64_t)(days * 86400.0 * 1e9));
	meta_rec_put(b, REC_T, k, 8, v, 8);
	rc = fs_commit(fs, b, false);
	meta_batch_free(b);
	return rc;
}

int journal_may_change(struct fs *fs, struct inode *in)
{
	char path[8];
	int64_t sealed;
	uint8_t k[8];
	void *v;
	size_t vlen;

	if (!journal_file(in))
		return 0;
	key_put_u64(k, in->ino);
	if (meta_rec_any(fs->meta, REC_Y, k, 8))
		return -EPERM;		/* legal hold */
	if (!fs->opt.audit_compliance && meta_rec_get(fs->meta, REC_R, k, 8, &v, &vlen) == 0) {
		free(v);
		return 0;		/* retention released (governance mode) */
	}
	if (!(in->attr.flags & META_IF_SEALED) ||
	    path_load(fs, in->ino, path, sizeof(path), &sealed) < 0 || sealed < 0)
		return -EPERM;		/* still being written */
	if (mono_now(fs->journal) - sealed < journal_retention_of(fs, in->ino))
		return -EPERM;		/* retention not over */
	return 0;
}

/* user.aifs.hold=TAG, user.aifs.unhold=TAG, user.aifs.release=1 on a
 * journal file.  Holds: owner or root; release: root, governance mode. */
int journal_xattr(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
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
		if (ctx->uid != 0 && ctx->uid != in->attr.uid)
			return -EPERM;
		l.op = name[10] == 'h' ? "hold" : "unhold";
	} else if (!strcmp(name, "user.aifs.release")) {
		if (ctx->uid != 0 || fs->opt.audit_compliance)
			return -EPERM;
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
	rc = fs_commit(fs, b, false);
	meta_batch_free(b);
	if (path_load(fs, in->ino, path, sizeof(path), &sealed) < 0)
		snprintf(path, sizeof(path), "?%llu", (unsigned long long)in->ino);
	who(req, &l, comm);
	l.path = path;
	return rc ? rc : leaf_add(fs, &l);	/* the act itself is journaled */
}

