/* vdir.c — versions of checkpoint directories (DCP directories, Hugging
 * Face checkpoint-N/): a version is a frozen copy of the directory's tree
 * that shares all data (tree_freeze), numbered as a file's versions are.
 */
#include "fs/version_priv.h"
#include "fs/access.h"
#include "fs/lineage.h"
#include "meta/keys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

