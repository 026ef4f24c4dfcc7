/* virt.c — the hidden ".aifs" directory of every directory.
 *
 * ".aifs" is reachable by name in every directory but never listed, like
 * ZFS's ".zfs".  It and everything under it are read-only views that the
 * lifecycle features fill (versions, snapshots, statistics, audit head).
 * Its node id is the parent's inode number with FS_VIRT_BIT set, so it
 * needs no table entry and no lookup count: inode_get refuses it with
 * EROFS, which is what every change below it must give.
 */
#include "fs/fs.h"

#include <errno.h>
#include <string.h>

static int64_t mount_time;

void virt_init(void)
{
	mount_time = fs_now();
}

bool virt_is(uint64_t ino)
{
	return (ino & FS_VIRT_BIT) != 0;
}

void virt_stat(uint64_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
	st->st_blksize = 4096;
	st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec =
		mount_time / 1000000000;
}

int virt_lookup(struct fs *fs, uint64_t parent, const char *name,
		struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	if (virt_is(parent) || strcmp(name, FS_VIRT_NAME))
		return -ENOENT;
	e->ino = parent | FS_VIRT_BIT;
	e->generation = 1;
	e->attr_timeout = e->entry_timeout = fs->opt.attr_timeout;
	virt_stat(e->ino, &e->attr);
	return 0;
}
