/* virt.c — the hidden ".aifs" directory of every directory.
 *
 * ".aifs" is reachable by name in every directory but never listed, like
 * ZFS's ".zfs".  It and everything under it are read-only views that the
 * lifecycle features fill (versions, snapshots, statistics, audit head).
 * Its node id is the parent's inode number with FS_VIRT_BIT set, so it
 * needs no table entry and no lookup count: inode_get refuses it with
 * EROFS, which is what every change below it must give.
 */
#include "fs/access.h"
#include "fs/acl.h"
#include "fs/lineage.h"
#include "fs/inode.h"
#include "fs/version.h"
#include "fs/snapshot.h"
#include "fs/journal.h"
#include "fs/stats.h"
#include "fs/virt.h"
#include "fs/inval.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Virtual node ids: FS_VIRT_BIT | kind << 59 | inode number. */
#define KIND_AIFS	0ull	/* DIR/.aifs */
#define KIND_VERSIONS	1ull	/* DIR/.aifs/versions */
#define KIND_VFILE	2ull	/* DIR/.aifs/versions/FILE */
#define KIND_SNAPS	3ull	/* DIR/.aifs/snapshots */
#define KIND_AUDIT	4ull	/* ROOT/.aifs/audit */
#define KIND_CKPT	5ull	/* ROOT/.aifs/audit/checkpoint (a file) */
#define KIND_STATS	6ull	/* ROOT/.aifs/stats (a file) */
#define KIND_METRICS	7ull	/* ROOT/.aifs/metrics (a file) */
#define KIND_VLIST	8ull	/* DIR/.aifs/versions/FILE/index.json (a file) */
#define KIND_SHIFT	59
#define INO_MASK	((1ull << KIND_SHIFT) - 1)

static uint64_t vid(uint64_t kind, uint64_t ino)
{
	return FS_VIRT_BIT | kind << KIND_SHIFT | ino;
}

static uint64_t vkind(uint64_t id)
{
	return (id & ~FS_VIRT_BIT) >> KIND_SHIFT;
}

static int64_t mount_time;

void virt_init(void)
{
	mount_time = fs_now();
}

bool virt_is(uint64_t ino)
{
	return (ino & FS_VIRT_BIT) != 0;
}

void virt_stat(struct fs *fs, uint64_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
	if (vkind(ino) == KIND_SNAPS)
		st->st_mode = S_IFDIR | 01777;	/* mkdir/rmdir here; owner checked by aifs */
	if (vkind(ino) == KIND_STATS || vkind(ino) == KIND_METRICS || vkind(ino) == KIND_VLIST) {
		st->st_mode = S_IFREG | 0444;	/* made at open; read to its end */
		st->st_nlink = 1;
	}
	if (vkind(ino) == KIND_CKPT) {
		char *text;
		size_t len;

		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		if (journal_checkpoint_text(fs, &text, &len) == 0) {
			st->st_size = (off_t)len;
			free(text);
		}
	}
	st->st_blksize = 4096;
	st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec =
		mount_time / 1000000000;
}

static int stop_cb(void *ctx, uint32_t n, const struct vrec *v)
{
	(void)ctx;
	(void)n;
	(void)v;
	return 1;
}

static bool has_versions(struct fs *fs, uint64_t ino)
{
	return version_foreach(fs, ino, stop_cb, NULL) == 1;
}

int virt_lookup(struct fs *fs, uint64_t parent, const char *name,
		struct fuse_entry_param *e, struct inode **real)
{
	uint64_t ino = parent & INO_MASK, child;
	uint32_t type, n;
	struct vrec v;
	char *end;
	int rc;

	memset(e, 0, sizeof(*e));
	*real = NULL;
	if (!virt_is(parent)) {
		if (strcmp(name, FS_VIRT_NAME))
			return -ENOENT;
		e->ino = vid(KIND_AIFS, parent);
	} else if (vkind(parent) == KIND_AIFS) {
		if (!strcmp(name, "versions"))
			e->ino = vid(KIND_VERSIONS, ino);
		else if (!strcmp(name, "snapshots"))
			e->ino = vid(KIND_SNAPS, ino);
		else if (!strcmp(name, "audit") && ino == META_ROOT_INO)
			e->ino = vid(KIND_AUDIT, ino);
		else if (!strcmp(name, "stats") && ino == META_ROOT_INO)
			e->ino = vid(KIND_STATS, ino);
		else if (!strcmp(name, "metrics") && ino == META_ROOT_INO)
			e->ino = vid(KIND_METRICS, ino);
		else
			return -ENOENT;
	} else if (vkind(parent) == KIND_AUDIT) {
		if (strcmp(name, "checkpoint"))
			return -ENOENT;
		e->ino = vid(KIND_CKPT, ino);
	} else if (vkind(parent) == KIND_SNAPS) {
		struct snapinfo si;

		rc = snapshot_get(fs, ino, name, &si);
		return rc < 0 ? rc : inode_get(fs, si.root, real);
	} else if (vkind(parent) == KIND_VERSIONS) {
		rc = meta_dentry_get(fs->meta, ino, name, strlen(name), &child, &type);
		if (rc < 0)
			return rc;
		if ((type != S_IFREG && type != S_IFDIR) || !has_versions(fs, child))
			return -ENOENT;
		lineage_note_name(child, ino, name);
		e->ino = vid(KIND_VFILE, child);
	} else if (!strcmp(name, VLIST_NAME)) {
		/* the listing of the versions: reachable, never listed */
		if (!has_versions(fs, ino))
			return -ENOENT;
		e->ino = vid(KIND_VLIST, ino);
	} else {
		n = (uint32_t)strtoul(name, &end, 10);
		if (*end || !n || name[0] == '0')
			return -ENOENT;
		rc = version_get(fs, ino, n, &v, NULL);
		return rc < 0 ? rc : inode_get(fs, v.vino, real);
	}
	/* The view directories themselves never change (their ids derive from
	 * the parent's), so the kernel keeps them like any name: a path into a
	 * snapshot costs no LOOKUP per open.  A version list appears and goes
	 * with commits and renames, and the audit checkpoint's size changes
	 * with every signature: those are not cached. */
	e->generation = 1;
	virt_stat(fs, e->ino, &e->attr);
	if (vkind(e->ino) != KIND_VFILE && vkind(e->ino) != KIND_VLIST) {
		e->entry_timeout = fs->opt.entry_timeout;
		if (vkind(e->ino) != KIND_CKPT)
			e->attr_timeout = fs->opt.attr_timeout;
	}
	return 0;
}

struct vdir {
	struct fs *fs;
	uint32_t type;		/* of the versions listed: file or directory */
	int (*add)(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type);
	void *ctx;
};

static int add_versioned(void *ctx, const char *name, size_t len, uint64_t ino,
			 uint32_t type)
{
	struct vdir *d = ctx;

	if ((type != S_IFREG && type != S_IFDIR) || !has_versions(d->fs, ino))
		return 0;
	return d->add(d->ctx, name, len, vid(KIND_VFILE, ino), S_IFDIR);
}

static int add_version(void *ctx, uint32_t n, const struct vrec *v)
{
	struct vdir *d = ctx;
	char name[16];

	return d->add(d->ctx, name, (size_t)snprintf(name, sizeof(name), "%u", n), v->vino,
		      d->type);
}

static int add_snapshot(void *ctx, const char *tag, size_t len, const struct snapinfo *si)
{
	struct vdir *d = ctx;

	return d->add(d->ctx, tag, len, si->root, S_IFDIR);
}

bool virt_snapshots_of(uint64_t id, uint64_t *ds)
{
	if (!virt_is(id) || vkind(id) != KIND_SNAPS)
		return false;
	*ds = id & INO_MASK;
	return true;
}

int virt_readdir(struct fs *fs, uint64_t id,
		 int (*add)(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type),
		 void *ctx)
{
	struct vdir d = { .fs = fs, .add = add, .ctx = ctx };
	uint64_t ino = id & INO_MASK;

	switch (vkind(id)) {
	case KIND_AIFS: {
		int rc = ino == META_ROOT_INO ?
			add(ctx, "audit", 5, vid(KIND_AUDIT, ino), S_IFDIR) : 0;

		if (rc == 0 && ino == META_ROOT_INO)
			rc = add(ctx, "stats", 5, vid(KIND_STATS, ino), S_IFREG);
		if (rc == 0 && ino == META_ROOT_INO)
			rc = add(ctx, "metrics", 7, vid(KIND_METRICS, ino), S_IFREG);

		if (rc == 0)
			rc = add(ctx, "snapshots", 9, vid(KIND_SNAPS, ino), S_IFDIR);
		return rc ? rc : add(ctx, "versions", 8, vid(KIND_VERSIONS, ino), S_IFDIR);
	}
	case KIND_AUDIT:
		return add(ctx, "checkpoint", 10, vid(KIND_CKPT, ino), S_IFREG);
	case KIND_SNAPS:
		return snapshot_foreach(fs, ino, add_snapshot, &d);
	case KIND_STATS:
	case KIND_METRICS:
	case KIND_CKPT:
	case KIND_VLIST:
		return -ENOTDIR;
	case KIND_VERSIONS:
		return meta_dentry_foreach(fs->meta, ino, NULL, 0, add_versioned, &d);
	default: {
		struct meta_inode a;

		d.type = meta_inode_get(fs->meta, ino, &a) == 0 && S_ISDIR(a.mode) ?
			S_IFDIR : S_IFREG;
		return version_foreach(fs, ino, add_version, &d);
	}
	}
}

/* An open view file: its whole content, taken at open. */
int virt_open(struct fs *fs, uint64_t id, char **text, size_t *len)
{
	if (vkind(id) == KIND_STATS)
		return stats_json(fs, text, len);
	if (vkind(id) == KIND_METRICS)
		return stats_prometheus(fs, text, len);
	if (vkind(id) == KIND_VLIST)
		return version_listing(fs, id & INO_MASK, text, len);
	if (vkind(id) != KIND_CKPT)
		return -EISDIR;
	return journal_checkpoint_text(fs, text, len);
}

int virt_access(struct fs *fs, fuse_req_t req, uint64_t id, bool list)
{
	struct access_cred c;
	uint64_t kind = vkind(id);
	int mask = X_OK;

	/* DIR/.aifs/versions and DIR/.aifs/snapshots list what DIR holds:
	 * listing them needs what listing DIR needs.  The rest shows fixed
	 * names, or the versions of one file reached through a lookup in
	 * DIR/.aifs/versions, which needed search permission on DIR. */
	if (kind != KIND_VERSIONS && kind != KIND_SNAPS)
		return 0;
	if (list)
		mask = R_OK | X_OK;
	access_cred_get(req, &c);
	if (c.uid == 0)
		return 0;
	return acl_check_ino(fs, &c, id & INO_MASK, mask);
}

uint64_t virt_versions_of(uint64_t ino)
{
	return vid(KIND_VFILE, ino);
}

/* What versions publish (version.h): a pruned version leaves its file's
 * versions view (queued; the kernel may cache the name). */
static void virt_version_pruned(uint64_t ino, uint32_t n, uint64_t vino)
{
	char name[16];
	int len = snprintf(name, sizeof(name), "%u", n);

	inval_delete(virt_versions_of(ino), vino, name, (size_t)len);
}

const struct version_events virt_version_events = {
	.pruned = virt_version_pruned,
};
