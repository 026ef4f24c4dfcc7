/* vhash.h — the running SHA-256 of a write session (vsession.c), fed in
 * file order as the writes arrive.
 *
 * Layer: private to the versions feature (fs/ only; no FUSE).
 *
 * The first VHASH_ASYNC_FROM bytes are hashed in the caller's thread, as
 * they come: a small file never costs a thread.  Past them, the hash gets
 * a thread of its own and each write is copied to its queue, so that a
 * checkpoint's SHA-256 runs beside the writes instead of inside each write
 * handler (it was 40% of the daemon's time in a 512 MiB torch.save).  At
 * most VHASH_QUEUE bytes wait; a writer past that waits for the hash
 * thread, never for the kernel.  Without memory or a thread, the hash is
 * taken in the caller's thread, so the result is always the same.
 *
 * A vhash is used by one thread at a time (its session's, under the
 * inode's lock); only its queue is shared with its hash thread.
 */
#ifndef AIFS_FS_VHASH_H
#define AIFS_FS_VHASH_H

#include <stddef.h>
#include <stdint.h>

#define VHASH_ASYNC_FROM	(4u << 20)
#define VHASH_QUEUE		(16u << 20)

struct vhash;

/* A new hash of nothing, or NULL without memory. */
struct vhash *vhash_new(void);
/* Hash the next SIZE bytes of BUF (copied if queued): 0, or -errno when
 * the hash can no longer be right (then only vhash_reset helps). */
int vhash_update(struct vhash *h, const void *buf, size_t size);
/* The SHA-256 of everything given since the last reset into SHA: 0, or
 * -EIO if an update failed.  Waits for the queue; the hash is then spent
 * until vhash_reset. */
int vhash_final(struct vhash *h, uint8_t sha[32]);
/* Start again from nothing: 0, or -EIO. */
int vhash_reset(struct vhash *h);
/* Stop its thread (after the queue) and free H; NULL is fine. */
void vhash_free(struct vhash *h);

#endif
