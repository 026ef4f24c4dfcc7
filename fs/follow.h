/* follow.h — a follower mount keeps its replica of a store's metadata up
 * to date with what the writer ships to the pool (follow.c).
 *
 * Layer: a service of follower mounts over the core, meta/ and tier/;
 * called by main.c, stats.c and the follower's forwarded writes (fwd*.c).
 */
#ifndef AIFS_FS_FOLLOW_H
#define AIFS_FS_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>

struct fs;
struct tier_rados_opts;

/* The next shipped sequence number the replica in directory REPLICA
 * needs (its follow.seq): 0 or -errno. */
int follow_seq_read(const char *replica, uint64_t *next);
int follow_seq_write(const char *replica, uint64_t next);
/* Start applying what is shipped to rados spec SPEC from NEXT on (and
 * forwarding writes, fwd.h); logs what it does. */
int follow_start(struct fs *fs, const char *spec, const struct tier_rados_opts *ro,
		 uint64_t next);
void follow_stop(struct fs *fs);
/* Make *REPLICA (its default under /var/lib/aifs/follow when NULL,
 * malloc'd) the local replica of the store in rados spec SPEC: made from
 * what the writer shipped if absent, made anew (the old one set aside)
 * if another writer ships now; *NEXT the first shipped sequence number it
 * needs.  0, or -errno with MSG saying why. */
int follow_replica(const char *spec, const struct tier_rados_opts *ro, char **replica,
		   uint64_t *next, char *msg, size_t msglen);
/* Does another writer than the one REPLICA follows ship to SPEC now? */
bool follow_writer_changed(const char *spec, const struct tier_rados_opts *ro, const char *replica);
/* Wake the follower and wait, MS milliseconds at most, until its replica
 * has applied the writer's sequence number SEQ: 0, -ETIMEDOUT, or -ESTALE
 * when it cannot (no follower, or one that no longer follows). */
int follow_wait(uint64_t seq, unsigned ms);
/* True when no follower runs, or it no longer follows its writer (its
 * replica must be made anew): it cannot show its own writes. */
bool follow_stale(void);
/* A follower's link to the cluster: the error of its last attempt to read
 * what the writer ships (0: it could), how many times its client was made
 * anew after the cluster blocklisted it, and that client's address. */
struct follow_link {
	int err;
	uint64_t renewals;
	char addr[128];
};
/* On a follower: the seconds since it last caught up with what the writer
 * had shipped, the next sequence number it needs, and its link. */
bool follow_status(double *lag, uint64_t *next, struct follow_link *link);

#endif
