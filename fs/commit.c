/* commit.c — the bottom of the core: the commit of a batch, which runs
 * the features' hooks of a commit (hooks.h), the clock, a caller's command
 * name, and the record of an inode's attributes.  It calls nothing of fs/ but hooks.c.
 */
#include "fs/commit.h"
#include "fs/hooks.h"
#include "fs/space.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t fs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void fs_proc_comm(uint32_t pid, char comm[16])
{
	char path[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, comm, 15) : -1;
	if (fd >= 0)
		close(fd);
	comm[n > 0 ? n : 0] = 0;
	comm[strcspn(comm, "\n")] = 0;
}

void inode_save(struct meta_batch *b, struct inode *in)
{
	if (in->purged) {
		/* opened by a path walk that raced the unlink, and changed: it
		 * is back in the store, as an orphan for the next mount to reap */
		in->purged = false;
		if (in->attr.nlink == 0)
			meta_orphan_put(b, in->ino);
	}
	meta_inode_put(b, &in->attr);
}

/* A durable commit also runs the durable hooks (with remote_sync, the
 * shipping waits); their failure is only logged: the commit stands, and the
 * caller's memory must follow it. */
int fs_commit(struct fs *fs, struct meta_batch *b, bool sync)
{
	int rc = meta_batch_commit(fs->meta, b, sync);

	if (rc == 0) {
		/* extents an epoch snapshot's history now keeps referenced:
		 * counted before the caller's deferred uncounts of the records
		 * that went (space_defer_end), so they are never freed */
		const struct tier_ref *kept;
		size_t n = meta_batch_kept(b, &kept);

		for (size_t i = 0; i < n; i++)
			space_kept(fs, &kept[i]);
	}
	if (rc == 0 && sync)
		fs_hook_durable(fs);
	return rc;
}

int fs_commit_store(struct fs *fs, struct inode *in, struct meta_batch *b)
{
	bool on[FS_FEATURES_MAX];
	int rc;

	for (unsigned i = 0; i < fs->nfeatures; i++)
		on[i] = fs->features[i]->store_begin &&
			fs->features[i]->store_begin(fs, in, b);
	rc = fs_commit(fs, b, false);
	for (unsigned i = 0; i < fs->nfeatures; i++)
		if (on[i])
			fs->features[i]->store_end(fs, in, rc);
	return rc;
}
