/* tierctl.h — the user.aifs.* attributes of tiers (tierctl.c says what
 * each one does): tier, stored_size, tierstat (get), migrate (set), pin
 * and gc (set and get).
 *
 * Layer: FUSE adapter (attributes) over migrate.h; its table is registered
 * by main.c (xattr.h).
 */
#ifndef AIFS_FS_TIERCTL_H
#define AIFS_FS_TIERCTL_H

#include "fs/fs.h"
#include "fs/xattr.h"

extern const struct fs_xattr tierctl_xattrs[];

#endif
