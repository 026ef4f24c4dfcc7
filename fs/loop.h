/* loop.h — the daemon's request loop: a pool of worker threads in which
 * one thread at a time, the leader, reads /dev/fuse.
 *
 * Layer: FUSE adapter (called by main.c).
 *
 * libfuse's own pool keeps every idle worker in read(): each request then
 * wakes the worker that has slept longest, on a cold cache and often on
 * another CPU, and a request that takes 10 us costs two or three thread
 * switches.  Here the leader answers a request that is quick by nature
 * (a lookup, getattr, readdir, read-only open or release, forget, create,
 * unlink, a write of at most 128 KiB, ...) itself and reads the next one,
 * as a single-threaded loop would; before a request that may wait (reads,
 * big writes, fsync, flush, a control, a release that may end a save), it
 * hands the reading to an idle worker, newest first, or starts one, up to
 * MAX_THREADS.
 *
 * A quick request may still wait, on a lock that a slow one holds: a
 * watchdog (the calling thread) hands the reading on when the leader has
 * been on one request for more than about 2 ms, so no request waits
 * behind another for longer than that while a worker is free, as with
 * libfuse's pool.  An idle mount wakes the watchdog once a second.
 */
#ifndef AIFS_FS_LOOP_H
#define AIFS_FS_LOOP_H

#include "fs/fuseapi.h"

/* Serve SE until it exits (unmount, or a signal: fuse_session_exit) with
 * at most MAX_THREADS workers: 0, or -errno of the read that failed. */
int fs_loop(struct fuse_session *se, unsigned max_threads);

#endif
