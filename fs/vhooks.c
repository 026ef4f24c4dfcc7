/* vhooks.c — the hooks of versions (hooks.h): a checkpoint file's versions
 * go with it when it is purged, and versions take part in the life of an
 * open file of a checkpoint or dataset area: versions claim
 * those files; a change starts or feeds the write session (vsession.c),
 * and the close of the last writer ends it with a version (checkpoint
 * files) or a content hash (dataset files), after which a file a training
 * stack writes last may complete its directory's version (layouts.c).
 */
#include "fs/version_priv.h"
#include "fs/content.h"
#include "fs/hooks.h"
#include "fs/inode.h"
#include "fs/layouts.h"
#include "fs/version.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* During a write session, a reader of a checkpoint file reads its newest
 * complete version (the kernel's pages of the file are the writer's). */
static int vfile_read_instead(struct fs *fs, struct inode *in, struct inode **out)
{
	struct vrec v;
	bool session;

	*out = NULL;
	pthread_rwlock_rdlock(&in->lock);
	session = version_tracked(in) && ver_session(fs, in);
	pthread_rwlock_unlock(&in->lock);
	if (!session || version_get(fs, in->ino, 0, &v, NULL) < 0)
		return 0;
	return inode_get(fs, v.vino, out);
}

/* The name a checkpoint file was created with names its versions' save
 * (version_lookup keeps it up to date). */
static void vfile_created(struct fs *fs, struct inode *in, uint64_t parent, const char *name)
{
	struct vfile *vf;

	if (!version_tracked(in) || !(vf = ver_file(fs, in, true)))
		return;
	vf->lparent = parent;
	free(vf->lname);
	vf->lname = strdup(name);
}

static int vfile_change(struct fs *fs, struct fuse_req *req, struct inode *in,
			const struct fs_change *c)
{
	version_modify(fs, req, in);
	switch (c->what) {
	case FS_CHANGE_WRITE:
		version_hide_name(fs, in);
		version_hash(fs, in, c->buf, c->size, c->off);
		break;
	case FS_CHANGE_SIZE:
		version_hide_name(fs, in);
		version_truncate(fs, in, c->size);
		break;
	case FS_CHANGE_OPEN_TRUNC:
		/* the name stays: a writer that has not written yet may still
		 * be joined by another */
		version_truncate(fs, in, 0);
		break;
	case FS_CHANGE_ALLOCATE:
		version_truncate(fs, in, UINT64_MAX);
		break;
	}
	return 0;
}

static int session_end(struct fs *fs, struct inode *in, bool *ended)
{
	*ended = true;
	return version_tracked(in) ? version_commit(fs, in) : ver_dataset_commit(fs, in);
}

/* close() of the only write handle ends a session that wrote data now, so
 * that the version is committed and durable when close returns (release
 * comes later and asynchronously; a shell's dup2 closes the opened fd
 * before writing, hence "wrote"). */
static int vfile_flush(struct fs *fs, struct inode *in, int rc, bool *ended)
{
	struct vfile *vf;

	if (rc == 0 && in->nwriters == 1 && version_wrote(fs, in))
		rc = session_end(fs, in, ended);
	vf = ver_file(fs, in, false);
	if (vf && vf->sess)
		vf->closing = true;	/* its release may end the session */
	return rc;
}

static int vfile_last_close(struct fs *fs, struct fuse_req *req, struct inode *in, bool *ended)
{
	(void)req;
	return ver_session(fs, in) ? session_end(fs, in, ended) : 0;
}

/* A file a training stack writes last may complete its directory's save. */
static void vfile_closed(struct fs *fs, struct fuse_req *req, struct inode *in)
{
	const struct fuse_ctx *ctx = req ? fuse_req_ctx(req) : NULL;
	uint64_t dir;

	/* REQ NULL: the daemon's own close, uid 0 and pid 0 */
	if (version_tracked(in) && layout_close_commits(fs, in, &dir))
		version_dir_commit(fs, dir, ctx ? ctx->uid : 0, ctx ? ctx->pid : 0);
}

/* A checkpoint file's versions go when the file is purged. */
static void version_before_purge(struct fs *fs, struct inode *in)
{
	if (version_tracked(in))
		version_drop_all(fs, in->ino);
}

const struct fs_feature_ops version_feature = {
	.name = "versions",
	.keeps_records = version_tracked,
	.before_purge = version_before_purge,
	.free = ver_file_free,
	.claims = content_tracked,
	.writer_waits = version_tracked,
	.read_instead = vfile_read_instead,
	.created = vfile_created,
	.change = vfile_change,
	.needs_flush = version_tracked,
	.flush = vfile_flush,
	.last_close = vfile_last_close,
	.closed = vfile_closed,
};
