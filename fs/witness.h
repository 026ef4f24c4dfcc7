/* witness.h — each new signed checkpoint handed to a command outside the
 * store's control (-o audit_witness=CMD).
 *
 * A root who rewrites the whole store can re-sign the rewritten log with a
 * new key; only checkpoints kept elsewhere catch that.  For each checkpoint
 * posted, a thread of its own runs `/bin/sh -c CMD` (in a process group of
 * its own, stdout to /dev/null, stderr inherited) with one line on its
 * stdin, {"checkpoint":"NOTE"} (the note JSON-escaped: the line format of
 * `aifsctl audit witness` and `audit verify --against`), and waits for it.
 *
 * Posting never waits for the command: it copies the note into a bounded
 * queue (WITNESS_QUEUE) under the queue's own mutex, a leaf of the lock
 * order, so it may be called from a request handler or under any lock.
 * Checkpoints are delivered one at a time, in the order of their sizes; a
 * checkpoint no larger than one already posted is not posted again.  When
 * the queue is full the oldest queued one is dropped (each later checkpoint
 * signs all its records): one line is logged per run of drops.  A command
 * that fails logs one line; one that runs longer than WITNESS_SLOW_SECS
 * logs one line and is waited for.  The file system never waits for it,
 * except at unmount, which delivers what is queued for at most
 * WITNESS_STOP_SECS, then kills the command and logs what was lost.
 *
 * Layer: part of the journal feature, below journal.c, which alone calls
 * it; calls nothing else in fs/.
 */
#ifndef AIFS_FS_WITNESS_H
#define AIFS_FS_WITNESS_H

#include <stdint.h>

#define WITNESS_QUEUE		64
#define WITNESS_SLOW_SECS	30
#define WITNESS_STOP_SECS	10

struct witness;

/* Start the thread that runs CMD; 0 with *OUT, or a negative errno. */
int witness_start(const char *cmd, struct witness **out);

/* Queue NOTE, the signed checkpoint at SIZE records (copied). */
void witness_post(struct witness *w, uint64_t size, const char *note);

/* Deliver what is queued (within WITNESS_STOP_SECS), end the thread, free W.
 * W may be NULL. */
void witness_stop(struct witness *w);

#endif
