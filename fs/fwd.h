/* fwd.h — writes from follower mounts, made by the writer (issue 21).
 *
 * A follower (follow.c) may write where the lifecycle needs it: files and
 * directories of checkpoint and journal areas.  It makes no change itself:
 * each one is sent to the writer through the pool (fwd_priv.h,
 * tier/radosmsg.h), the writer makes it through its own mount as the
 * caller (fwdserve.c), and the follower answers once its replica has
 * applied what the writer shipped with it, so that the caller reads its
 * own write.  Everything else a follower is asked to change fails with
 * EROFS, and if the writer does not answer in time (forward_timeout), with
 * EIO: a follower never diverges from the writer.
 *
 * Layer: adapter.  Follower side: fwdops.c (fwd_ops wraps the handlers of
 * a follower's mount), fwd.c (requests, write sessions, the forwarding
 * thread; fwd_start/fwd_stop from main.c), fwdnotes.c (what named jobs
 * read, for lineage).  Writer side: fwdserve.c (fwd_serve_start/stop from
 * main.c).  Both: fwdwire.h (the requests and answers).
 */
#ifndef AIFS_FS_FWD_H
#define AIFS_FS_FWD_H

#include "fs/fs.h"
#include "fs/fuseapi.h"

struct tier_rados_opts;

/* The handlers of a follower's mount: BASE's for what only reads, and the
 * forwarding ones (or EROFS) for what changes. */
const struct fuse_lowlevel_ops *fwd_ops(const struct fuse_lowlevel_ops *base);
/* Start forwarding the follower FS's writes to the writer of rados spec
 * SPEC (reached as RO says). */
int fwd_start(struct fs *fs, const char *spec, const struct tier_rados_opts *ro);
void fwd_stop(struct fs *fs);
/* Forwarded requests answered, failed (an errno from the writer), and
 * not answered (EIO), for aifsctl status. */
void fwd_counts(uint64_t *ok, uint64_t *refused, uint64_t *lost);
/* The client address the follower's requests go out by, and how many
 * times that client was made anew (the cluster blocklisted it). */
int fwd_link(char *addr, size_t len, uint64_t *renewals);

/* The writer: serve followers' requests, making their changes through the
 * mount MNT of FS (a store whose data is in RADOS). */
int fwd_serve_start(struct fs *fs, const char *mnt, const struct tier_rados_opts *ro);
void fwd_serve_stop(struct fs *fs);

#endif
