/* reflink.c — copy_file_range(2) between files of the mount shares data.
 *
 * The destination range gets the source range's extent pieces (counted by
 * space.c like a version's), so no byte is read or written and a copy
 * costs metadata only; either file changed later gets new extents of its
 * own and the other keeps the old ones.  Any byte offsets and lengths
 * share: pieces of extents start anywhere.
 *
 * Shared between regular files of every area but journal areas (versions
 * and snapshots included, as sources).  A plain file frees the bytes it
 * overwrites at once unless they may be shared, so both files are marked
 * META_IF_SHARED (fs_extents_unique).  Everything else answers EOPNOTSUPP,
 * on which the kernel copies the bytes through read and write: from or
 * into a journal area (whose writes enter the hash chain as records, and
 * whose files are sealed), and small files stored inline.
 *
 * Into a checkpoint file the copy is a change like a write: it starts a
 * write session (version_modify), and the version its close commits has
 * its SHA-256 computed from the content.
 */
#include "fs/fs.h"
#include "fs/inode.h"
#include "fs/data.h"
#include "fs/extmap.h"
#include "fs/space.h"
#include "fs/version.h"
#include "fs/journal.h"
#include "fs/ops.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool shareable(const struct inode *in)
{
	return S_ISREG(in->attr.mode) && !journal_file(in) &&
	       in->attr.policy != META_AREA_JOURNAL;
}

/* Lock SRC and DST for writing, in inode order (once if they are one). */
static void lock_two(struct inode *src, struct inode *dst)
{
	struct inode *first = src->ino < dst->ino ? src : dst;

	pthread_rwlock_wrlock(&first->lock);
	if (src != dst)
		pthread_rwlock_wrlock(&(first == src ? dst : src)->lock);
}

static void unlock_two(struct inode *src, struct inode *dst)
{
	pthread_rwlock_unlock(&src->lock);
	if (src != dst)
		pthread_rwlock_unlock(&dst->lock);
}

/* Both locked: share [SOFF, SOFF+LEN) of SRC as [DOFF, DOFF+LEN) of DST. */
static int share(struct fs *fs, fuse_req_t req, struct inode *src, uint64_t soff,
		 struct inode *dst, uint64_t doff, uint64_t len)
{
	struct meta_inode saved;
	uint32_t src_flags = src->attr.flags;
	struct meta_batch *b;
	int rc = fs_flush(fs, src);

	if (rc == 0)
		rc = fs_map_load(fs, src);
	if (rc == 0 && src != dst)
		rc = fs_flush(fs, dst);
	if (rc == 0)
		rc = fs_map_load(fs, dst);
	if (rc < 0)
		return rc;
	if ((src->attr.flags | dst->attr.flags) & META_IF_INLINE)
		return -EOPNOTSUPP;	/* a few KiB in RocksDB: the kernel copies them */
	rc = space_meta_room(fs);	/* extent records, no data: the reserve's rule */
	if (rc < 0)
		return rc;
	b = meta_batch_new();
	if (!b)
		return -ENOMEM;
	version_modify(fs, req, dst);
	version_hide_name(fs, dst);
	version_truncate(fs, dst, UINT64_MAX);	/* the SHA-256 is taken at commit */
	saved = dst->attr;
	space_defer_begin();	/* counts change as on disk only if the commit does */
	rc = fs_map_share(fs, dst, b, doff, src, soff, len);
	if (rc == 0) {
		if (doff + len > dst->attr.size)
			dst->attr.size = doff + len;
		dst->attr.mtime = dst->attr.ctime = fs_now();
		dst->attr.generation++;
		dst->attr.flags |= META_IF_SHARED;
		if (src != dst && !(src->attr.flags & (META_IF_SHARED | META_IF_READONLY))) {
			src->attr.flags |= META_IF_SHARED;
			inode_save(b, src);
		}
		inode_save(b, dst);
		rc = fs_commit(fs, b, false);
	}
	space_defer_end(fs, rc == 0);
	if (rc < 0) {
		/* the map changed in memory only: read it again from the store */
		dst->attr = saved;
		src->attr.flags = src_flags;
		fs_content_reload(dst);
		log_warn("copy_file_range into inode %llu: sharing %llu bytes failed: %s",
			 (unsigned long long)dst->ino, (unsigned long long)len, strerror(-rc));
	}
	meta_batch_free(b);
	return rc;
}

ssize_t fs_reflink(struct fs *fs, fuse_req_t req, struct inode *src, uint64_t soff,
		   struct inode *dst, uint64_t doff, size_t len)
{
	uint64_t n = len;
	int rc = 0;

	if (!shareable(src) || !shareable(dst))
		return -EOPNOTSUPP;
	lock_two(src, dst);
	if (soff >= src->attr.size)
		n = 0;
	else if (n > src->attr.size - soff)
		n = src->attr.size - soff;
	if (doff + n > FS_MAX_SIZE)
		rc = -EFBIG;
	else if (src == dst && n && soff < doff + n && doff < soff + n)
		rc = -EINVAL;		/* overlapping ranges of one file */
	else if (n)
		rc = share(fs, req, src, soff, dst, doff, n);
	unlock_two(src, dst);
	return rc < 0 ? rc : (ssize_t)n;
}
