/* du.c — what a tree, a version, a snapshot or a clone holds alone.
 *
 * getxattr user.aifs.du on a file or directory answers
 *     "logical=L stored=S unique=U shared=H files=F"
 * L: the bytes of its regular files (each inode once); S: the stored
 * bytes its files reference (each stored extent once); U: the part of S
 * that nothing outside the tree references, which removing the tree (and
 * its versions' own data, if it is a version) would give back; H = S - U:
 * shared with files, versions, snapshots or clones elsewhere.  Data kept
 * inline in the metadata counts in L and U.  Counted from the extent
 * records as last stored: a writer's buffered bytes count once stored.
 * Listing a directory takes what du(1) takes: read and search permission
 * on it (EACCES otherwise).
 *
 * getxattr user.aifs.snapshot on the root of DS/.aifs/snapshots/TAG
 * answers "files=F bytes=B": the regular files of the snapshot (each inode
 * once) and their bytes, as the census counted them once (snapshot.h), so
 * that listing the snapshots of a dataset costs nothing in their trees.
 * It takes read permission on that directory, as listing its top does.
 */
#include "fs/access.h"
#include "fs/acl.h"
#include "fs/du.h"
#include "fs/snapshot.h"
#include "fs/space.h"
#include "fs/xattr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A stored extent seen in the tree, and how many of its records. */
struct seen {
	struct tier_ref ref;	/* tier, seg, off: the key; stored_len */
	uint32_t n;		/* 0: empty slot */
};

struct du {
	struct fs *fs;
	const struct access_cred *c;
	struct seen *t;
	size_t size, count;
	uint64_t *dirs;
	size_t nd, capd;
	uint64_t *linked;	/* inodes with more than one link, counted */
	size_t nl, capl;
	uint64_t logical, inline_bytes, files;
};

static size_t slot(const struct tier_ref *r, size_t size)
{
	uint64_t h = r->off * 0x9E3779B97F4A7C15ull ^
		     ((uint64_t)r->seg << 8 | r->tier) * 0xC2B2AE3D27D4EB4Full;

	return (size_t)(h >> 17) & (size - 1);
}

static int grow(struct du *d)
{
	size_t nsize = d->size ? d->size * 2 : 1024;
	struct seen *n = calloc(nsize, sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < d->size; i++) {
		size_t j;

		if (!d->t[i].n)
			continue;
		for (j = slot(&d->t[i].ref, nsize); n[j].n; j = (j + 1) & (nsize - 1))
			;
		n[j] = d->t[i];
	}
	free(d->t);
	d->t = n;
	d->size = nsize;
	return 0;
}

static int count_ref(struct du *d, const struct tier_ref *r)
{
	size_t i;

	if ((d->count + 1) * 2 > d->size && grow(d) < 0)
		return -ENOMEM;
	for (i = slot(r, d->size); d->t[i].n; i = (i + 1) & (d->size - 1)) {
		const struct tier_ref *e = &d->t[i].ref;

		if (e->off == r->off && e->seg == r->seg && e->tier == r->tier) {
			d->t[i].n++;
			return 0;
		}
	}
	d->t[i].ref = *r;
	d->t[i].n = 1;
	d->count++;
	return 0;
}

static int on_extent(void *ctx, const struct meta_extent *e)
{
	return count_ref(ctx, &e->ref);
}

static int push(struct du *d, uint64_t ino)
{
	if (d->nd == d->capd) {
		size_t n = d->capd ? d->capd * 2 : 32;
		uint64_t *p = realloc(d->dirs, n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		d->dirs = p;
		d->capd = n;
	}
	d->dirs[d->nd++] = ino;
	return 0;
}

/* True if INO (of several links) was counted already; else remembers it. */
static bool linked_seen(struct du *d, uint64_t ino)
{
	for (size_t i = 0; i < d->nl; i++)
		if (d->linked[i] == ino)
			return true;
	if (d->nl == d->capl) {
		size_t n = d->capl ? d->capl * 2 : 16;
		uint64_t *p = realloc(d->linked, n * sizeof(*p));

		if (!p)
			return false;	/* counted again: an overcount, not an error */
		d->linked = p;
		d->capl = n;
	}
	d->linked[d->nl++] = ino;
	return false;
}

static int add_file(struct du *d, uint64_t ino)
{
	struct meta_inode a;
	int rc = meta_inode_get(d->fs->meta, ino, &a);

	if (rc < 0)
		return rc;
	if (a.nlink > 1 && linked_seen(d, ino))
		return 0;
	d->files++;
	d->logical += a.size;
	if (a.flags & META_IF_INLINE) {
		d->inline_bytes += a.alloc;
		return 0;
	}
	return meta_extent_foreach(d->fs->meta, ino, on_extent, d);
}

static int on_entry(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type)
{
	struct du *d = ctx;

	(void)name;
	(void)len;
	if (S_ISDIR(type))
		return push(d, ino);
	return S_ISREG(type) ? add_file(d, ino) : 0;
}

static int fs_du(struct fs *fs, fuse_req_t req, struct inode *root, char *buf, size_t len)
{
	struct access_cred c;
	struct du d = { .fs = fs, .c = &c };
	uint64_t stored = 0, unique = 0;
	int rc = 0;

	access_cred_get(req, &c);
	if (S_ISREG(root->attr.mode))
		rc = add_file(&d, root->ino);
	else if (S_ISDIR(root->attr.mode))
		rc = push(&d, root->ino);
	else
		return -ENODATA;
	while (rc == 0 && d.nd) {
		uint64_t dir = d.dirs[--d.nd];

		rc = acl_check_ino(fs, &c, dir, R_OK | X_OK);
		if (rc == 0)
			rc = meta_dentry_foreach(fs->meta, dir, NULL, 0, on_entry, &d);
	}
	for (size_t i = 0; rc == 0 && i < d.size; i++) {
		if (!d.t[i].n)
			continue;
		stored += d.t[i].ref.stored_len;
		if (d.t[i].n >= space_refs(fs, &d.t[i].ref))
			unique += d.t[i].ref.stored_len;
	}
	free(d.t);
	free(d.dirs);
	free(d.linked);
	if (rc < 0)
		return rc;
	stored += d.inline_bytes;
	unique += d.inline_bytes;
	rc = snprintf(buf, len, "logical=%llu stored=%llu unique=%llu shared=%llu files=%llu",
		      (unsigned long long)d.logical, (unsigned long long)stored,
		      (unsigned long long)unique, (unsigned long long)(stored - unique),
		      (unsigned long long)d.files);
	return rc >= (int)len ? -ERANGE : rc;
}

static int du_get(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		  char **val, size_t *len)
{
	char *buf = malloc(256);
	int rc = buf ? fs_du(fs, req, in, buf, 256) : -ENOMEM;

	(void)name;
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*val = buf;
	*len = (size_t)rc;
	return 0;
}

static int snapshot_figures_get(struct fs *fs, fuse_req_t req, struct inode *in,
				const char *name, char **val, size_t *len)
{
	char tag[META_NAME_MAX + 1], *buf;
	struct access_cred c;
	struct snapinfo si;
	uint64_t ds;
	int rc;

	(void)name;
	if (!S_ISDIR(in->attr.mode))
		return FS_XATTR_PASS;
	rc = snapshot_find_root(fs, in->ino, &ds, tag, sizeof(tag), &si);
	if (rc == -ENOENT)
		return FS_XATTR_PASS;	/* not a snapshot's root: no such attribute */
	access_cred_get(req, &c);
	if (rc == 0)
		rc = acl_check_ino(fs, &c, in->ino, R_OK);
	if (rc < 0)
		return rc;
	buf = malloc(64);
	if (!buf)
		return -ENOMEM;
	*len = (size_t)snprintf(buf, 64, "files=%llu bytes=%llu", (unsigned long long)si.files,
				(unsigned long long)si.bytes);
	*val = buf;
	return 0;
}

const struct fs_xattr du_xattrs[] = {
	{ "user.aifs.du", "du", 0, du_get, NULL, NULL },
	{ "user.aifs.snapshot", "du", 0, snapshot_figures_get, NULL, NULL },
	{ NULL, NULL, 0, NULL, NULL, NULL },
};
