/* aifs_ioctl.h — the ioctls of an aifs mount (its user-space interface;
 * no FUSE here, so that tools include it).
 *
 * AIFS_IOC_CLONE on an open file or directory makes DEST (a path from the
 * mount root, NUL-terminated) a copy of it that shares its data: a file's
 * content (a checkpoint file's newest complete version), or a writable
 * copy of a whole tree (clone.h).  Opening the source is what proves the
 * caller may reach and read it, so a version or a snapshot, which no one
 * may write, can be cloned by anyone who may read it.
 *
 * Layer: the interface of the mount to user space; includes nothing of
 * fs/, so that tools/ may include it.
 */
#ifndef AIFS_FS_AIFS_IOCTL_H
#define AIFS_FS_AIFS_IOCTL_H

#include <sys/ioctl.h>

struct aifs_clone_req {
	char dest[4000];
};

#define AIFS_IOC_CLONE	_IOW('A', 1, struct aifs_clone_req)

#endif
