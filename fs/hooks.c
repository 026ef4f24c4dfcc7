/* hooks.c — the table of feature hooks (hooks.h). */
#include "fs/hooks.h"

#include <errno.h>
#include <string.h>

int fs_feature_register(struct fs *fs, const struct fs_feature_ops *ops)
{
	if (fs->nfeatures == FS_FEATURES_MAX)
		return -ENOSPC;
	fs->features[fs->nfeatures++] = ops;
	return 0;
}

#define EACH_FEATURE(fs, f)							\
	for (const struct fs_feature_ops *const *f = (fs)->features;		\
	     f < (fs)->features + (fs)->nfeatures; f++)

bool fs_hook_keeps_records(struct fs *fs, const struct inode *in)
{
	EACH_FEATURE(fs, f)
		if ((*f)->keeps_records && (*f)->keeps_records(in))
			return true;
	return false;
}

bool fs_hook_stores_records(struct fs *fs, const struct inode *in)
{
	EACH_FEATURE(fs, f)
		if ((*f)->store_begin && (*f)->keeps_records && (*f)->keeps_records(in))
			return true;
	return false;
}

void fs_hook_before_purge(struct fs *fs, struct inode *in)
{
	EACH_FEATURE(fs, f)
		if ((*f)->before_purge)
			(*f)->before_purge(fs, in);
}

void fs_hook_purge(struct fs *fs, struct inode *in, struct meta_batch *b)
{
	EACH_FEATURE(fs, f)
		if ((*f)->purge)
			(*f)->purge(fs, in, b);
}

void fs_hook_purge_now(struct fs *fs, struct inode *in, struct meta_batch *b)
{
	EACH_FEATURE(fs, f)
		if ((*f)->purge_now)
			(*f)->purge_now(fs, in, b);
}

void fs_hook_free(struct fs *fs, struct inode *in)
{
	EACH_FEATURE(fs, f)
		if ((*f)->free)
			(*f)->free(in, in->slot[f - fs->features]);
}

void **fs_slot(struct fs *fs, struct inode *in, const char *feature)
{
	EACH_FEATURE(fs, f)
		if (!strcmp((*f)->name, feature))
			return &in->slot[f - fs->features];
	return NULL;
}

void fs_hook_opened(struct fs *fs, struct fuse_req *req, struct inode *in, int flags)
{
	EACH_FEATURE(fs, f)
		if ((*f)->opened)
			(*f)->opened(fs, req, in, flags);
}

const struct fs_feature_ops *fs_hook_claimer(struct fs *fs, const struct inode *in)
{
	EACH_FEATURE(fs, f)
		if ((*f)->claims && (*f)->claims(in))
			return *f;
	return NULL;
}

int fs_hook_change(struct fs *fs, struct fuse_req *req, struct inode *in,
		   const struct fs_change *c)
{
	const struct fs_feature_ops *f = fs_hook_claimer(fs, in);

	return f && f->change ? f->change(fs, req, in, c) : 0;
}

int fs_hook_may_change(struct fs *fs, struct inode *in)
{
	EACH_FEATURE(fs, f)
		if ((*f)->may_change) {
			int rc = (*f)->may_change(fs, in);

			if (rc < 0)
				return rc;
		}
	return 0;
}

int fs_hook_durable(struct fs *fs)
{
	int rc = 0;

	EACH_FEATURE(fs, f)
		if ((*f)->durable) {
			int r = (*f)->durable(fs);

			if (rc == 0)
				rc = r;
		}
	return rc;
}
