/* jhooks.c — the hooks of the journal (hooks.h): a journal file keeps its
 * records when unlinked (they go at its purge), the records of its
 * buffered writes are stored with them, it changes only once its
 * retention allows (journal_may_change), and the journal claims it as an
 * open file: writes only at its end, each one recorded before it is made,
 * no truncation or allocation, and its last writer's release seals it.
 */
#include "fs/journal_priv.h"
#include "fs/hooks.h"
#include "fs/journal.h"

#include <errno.h>

static bool journal_store_begin(struct fs *fs, struct inode *in, struct meta_batch *b)
{
	struct jfile *jf = jfile_of(fs, in, false);

	if (!jf || !jf->n)
		return false;
	journal_records_begin(fs, in, b);
	return true;
}

/* A sealed file is never written again. */
static int jfile_open(struct fs *fs, struct inode *in, bool write)
{
	(void)fs;
	return write && (in->attr.flags & META_IF_SEALED) ? -EPERM : 0;
}

static int jfile_change(struct fs *fs, struct fuse_req *req, struct inode *in,
			const struct fs_change *c)
{
	int rc;

	switch (c->what) {
	case FS_CHANGE_WRITE:
		rc = journal_check_write(in, c->off);
		return rc < 0 ? rc : journal_wrote(fs, req, in, c->buf, c->size, c->off);
	case FS_CHANGE_OPEN_TRUNC:
		return in->attr.size || in->wb_len ? -EPERM : 0;
	case FS_CHANGE_ALLOCATE:
		return -EPERM;
	case FS_CHANGE_SIZE:
		break;		/* retention allowed it (journal_may_change) */
	}
	return 0;
}

static int jfile_last_close(struct fs *fs, struct fuse_req *req, struct inode *in, bool *ended)
{
	(void)ended;
	return journal_seal(fs, req, in);
}

const struct fs_feature_ops journal_feature = {
	.name = "journal",
	.keeps_records = journal_file,
	.store_begin = journal_store_begin,
	.store_end = journal_records_end,
	.may_change = journal_may_change,
	.free = jfile_free,
	.claims = journal_file,
	.writer_waits = journal_file,
	.open = jfile_open,
	.change = jfile_change,
	.unwrite = journal_unwrote,
	.needs_flush = journal_file,
	.last_close = jfile_last_close,
};
