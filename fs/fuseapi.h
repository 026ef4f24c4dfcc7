/* fuseapi.h — the one place fs/ includes libfuse's low-level API, at the
 * version the daemon is written for.
 *
 * Layer: the FUSE adapter, and the features whose functions take the
 * request of the operation they serve (for its caller's uid, pid and
 * groups: fuse_req_ctx).  The core (inode.h, data.h, extmap.h, space.h,
 * prealloc.h, path.h, hooks.h) never includes it: test_core builds it
 * without libfuse.
 */
#ifndef AIFS_FS_FUSEAPI_H
#define AIFS_FS_FUSEAPI_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#endif
