/* dir_priv.h — what the namespace handlers (dir.c, rename.c) share: the
 * set of inodes an operation locks, and the checks of new names.  Only
 * dir.c and rename.c include it.
 *
 * Layer: private to the FUSE adapter's namespace handlers.
 */
#ifndef AIFS_FS_DIR_PRIV_H
#define AIFS_FS_DIR_PRIV_H

#include "fs/fs.h"
#include "fs/fuseapi.h"
#include "fs/inode.h"
#include "fs/snapshot.h"
#include "fs/ops.h"

#include <errno.h>
#include <string.h>

/* Up to four inodes locked for writing in inode-number order. */
struct lockset {
	struct inode *v[4];
	int n;
};

static inline void lockset_add(struct lockset *ls, struct inode *in)
{
	int i;

	if (!in)
		return;
	for (i = 0; i < ls->n; i++)
		if (ls->v[i] == in)
			return;
	ls->v[ls->n++] = in;
}

static inline void lockset_lock(struct lockset *ls)
{
	for (int i = 1; i < ls->n; i++)
		for (int j = i; j > 0 && ls->v[j - 1]->ino > ls->v[j]->ino; j--) {
			struct inode *t = ls->v[j];

			ls->v[j] = ls->v[j - 1];
			ls->v[j - 1] = t;
		}
	for (int i = 0; i < ls->n; i++)
		pthread_rwlock_wrlock(&ls->v[i]->lock);
}

static inline void lockset_unlock(struct lockset *ls)
{
	for (int i = ls->n - 1; i >= 0; i--)
		pthread_rwlock_unlock(&ls->v[i]->lock);
}

static inline int name_check(const char *name)
{
	size_t len = strlen(name);

	if (len > META_NAME_MAX)
		return -ENAMETOOLONG;
	if (!strcmp(name, ".aifs"))
		return -EEXIST;		/* reserved for lifecycle introspection */
	return 0;
}

/* In checkpoint directories, FILE@vN names a version: no real entry may
 * be called so. */
static inline bool alias_ok(const struct inode *dir, const char *name)
{
	uint32_t n;

	return dir->attr.policy != META_AREA_CHECKPOINT || !fs_version_alias(name, &n);
}

/* snapshot_foreach callback: there is one. */
static inline int any_snapshot(void *ctx, const char *tag, size_t len, const struct snapinfo *si)
{
	(void)ctx;
	(void)tag;
	(void)len;
	(void)si;
	return 1;
}

/* Look up the alias FILE@vN in checkpoint directory PARENT: *OUT is the
 * version's inode, referenced; -ENOENT if NAME is no such alias. */
int fs_lookup_alias(struct fs *fs, fuse_ino_t parent, const char *name, struct inode **out);
#endif
