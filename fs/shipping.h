/* shipping.h — a store whose data is in RADOS ships its metadata there
 * (shipping.c; a no-op for other stores); stop ships the last changes.
 * With remote_sync, shipping_wait returns once what is committed now is in
 * the pool (0), or -EIO if shipping it failed; at once otherwise.
 *
 * Layer: feature (shipping); called by main.c and by fs_sync.
 */
#ifndef AIFS_FS_SHIPPING_H
#define AIFS_FS_SHIPPING_H

#include "fs/fs.h"

int shipping_start(struct fs *fs);
void shipping_stop(struct fs *fs);
int shipping_wait(struct fs *fs);
/* Ship now, whatever remote_sync says, and wait until the metadata up to
 * sequence number SEQ is in the pool (fwdserve.c: a follower waits for it):
 * 0, or -errno when the round that should have shipped it failed. */
int shipping_push(struct fs *fs, uint64_t seq);

/* The hooks of shipping into the core (hooks.h), registered at mount. */
extern const struct fs_feature_ops shipping_feature;

#endif
