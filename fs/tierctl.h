/* tierctl.h — the user.aifs.* attributes of tiers (tierctl.c): tier,
 * stored_size, migrate, pin.  Each returns 1 when NAME is not one of its
 * names.
 *
 * Layer: FUSE adapter (attributes) over migrate.h; called by xattr.c.
 */
#ifndef AIFS_FS_TIERCTL_H
#define AIFS_FS_TIERCTL_H

#include "fs/fs.h"
#include "fs/fuseapi.h"

int tierctl_xattr_set(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		   const char *value, size_t size);
/* *VAL is malloc'd (caller frees), *LEN bytes; IN unlocked. */
int tierctl_xattr_get(struct fs *fs, struct inode *in, const char *name, char **val, size_t *len);

#endif
