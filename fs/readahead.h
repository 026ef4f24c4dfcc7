/* readahead.h — the kernel's read-ahead of a FUSE mount (readahead.c).
 *
 * Layer: adapter (called by main.c when the mount is up).
 */
#ifndef AIFS_FS_READAHEAD_H
#define AIFS_FS_READAHEAD_H

/* Set the read-ahead of the FUSE mount on MNT to KIB KiB (0: leave it);
 * a failure is logged and costs the mount nothing. */
void readahead_set(const char *mnt, unsigned kib);

#endif
