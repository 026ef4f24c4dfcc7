/* stats.h — per-operation counts, bytes and latency (stats.c), and the
 * .aifs/stats and .aifs/metrics documents.
 *
 * Layer: FUSE adapter; called by main.c (stats_wrap) and virt.c.
 */
#ifndef AIFS_FS_STATS_H
#define AIFS_FS_STATS_H

#include "fs/fs.h"
#include "fs/fuseapi.h"

/* Return OPS with the instrumented operations wrapped. */
const struct fuse_lowlevel_ops *stats_wrap(const struct fuse_lowlevel_ops *ops);
/* The .aifs/stats document (malloc'd JSON). */
int stats_json(struct fs *fs, char **text, size_t *len);
/* The .aifs/metrics document (malloc'd): the same counters in the
 * Prometheus text exposition format (names documented in aifs(7)). */
int stats_prometheus(struct fs *fs, char **text, size_t *len);

#endif
