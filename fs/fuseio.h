/* fuseio.h — how the workers take requests from /dev/fuse: a short spin
 * before they sleep.
 *
 * A request whose worker sleeps costs a wake-up, which on a virtual
 * machine costs more than the work of most handlers.  After a worker has
 * served a request, it polls the device (non-blocking reads) for up to
 * -o spin=US microseconds before it waits in poll(2): a program that makes
 * one request after another (create, unlink, stat, appends) finds a worker
 * awake.  One worker spins at a time; the others wait in poll(2), so
 * requests that come together are still served in parallel.  The spin is
 * left out while every CPU has work (the number of runnable tasks, read
 * from /proc/loadavg at most every 20 ms), so that it does not take a CPU
 * from the programs it serves.
 *
 * Measured on 2 cores (work.py, 6 rounds alternating with spin=0, medians):
 * create +16%, cold stat +12%, unlink +11%, small-file writes +22%,
 * DataLoader epochs +10% and +14%, appends +2%, readdir -8%.  But two
 * `make bench` runs of spin=50 had cold 4 KiB random reads (QD1) at 0.69-0.71
 * of the build before it: so the default is 0, and a spin is asked for.
 *
 * Layer: FUSE adapter (the session's I/O); called by main.c only.
 */
#ifndef AIFS_FS_FUSEIO_H
#define AIFS_FS_FUSEIO_H

#include "fs/fuseapi.h"

/* Serve SE's device with a spin of SPIN_US microseconds (0: none, the
 * plain blocking reads of libfuse).  0, or -errno (logged). */
int fuseio_start(struct fuse_session *se, unsigned spin_us);

#endif
