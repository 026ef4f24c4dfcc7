/* migrate_priv.h — what the tier thread (migrate.c) shares with the gc
 * and the policies (tierjobs.c); fs/ only.
 *
 * Layer: private to the tiering feature.
 */
#ifndef AIFS_FS_MIGRATE_PRIV_H
#define AIFS_FS_MIGRATE_PRIV_H

#include "fs/fs.h"
#include "fs/migrate.h"
#include "meta/records.h"

/* Record kinds (meta/records.h); of versions and snapshots, only the
 * keys are read here. */
#define REC_MIG		META_REC_MIGRATE
#define REC_PIN		META_REC_PIN
#define REC_VER		META_REC_VERSION
#define REC_SNAP	META_REC_SNAPSHOT

#define JOB_MIGRATE	0
#define JOB_GC		1
#define TO_SAME		0xff	/* gc: each piece stays in its own tier */

struct job {
	uint64_t ino;
	uint8_t kind;
	uint8_t to;
	bool versions;		/* a file's versions go along */
	bool durable;		/* has an 'm' record */
	double threshold;	/* gc */
};

/* A piece moved by the current job: key (old place) -> new extent. */
struct moved {
	uint8_t tier;
	uint32_t seg;
	uint64_t off;
	uint32_t inner;
	uint64_t len;
	struct tier_ref ref;
	struct crcs *crcs;
};

/* The tier thread's state. */
struct migrate {
	pthread_mutex_t lock;		/* everything below */
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stop;
	struct job *q;
	size_t nq, capq;
	struct moved *cache;		/* of the current job (thread only) */
	size_t ncache, capcache;
	uint8_t *buf;			/* TIER_EXTENT_MAX bytes (thread only) */
	double bw_next;			/* when the next write may start */
	double last_policy;
	struct migrate_stats st;
};

struct inolist {
	uint64_t *v;
	size_t n, cap;
};

/* Sleep up to SECS, waking early when a job is queued; false if the
 * thread is being stopped. */
bool migrate_nap(struct migrate *m, double secs);
/* Append INO to L; 0 or -ENOMEM. */
int migrate_ino_add(struct inolist *l, uint64_t ino);
/* Queue job J (copied); 0 or -ENOMEM. */
int migrate_queue_push(struct migrate *m, const struct job *j);
/* Move the pieces of inode INO that job J wants (gc: those in segments
 * marked in SEGMASK, NMASK entries per tier); see migrate.c. */
int migrate_relocate(struct fs *fs, const struct job *j, uint64_t ino,
	     const uint8_t *segmask[TIER_COUNT], const size_t nmask[TIER_COUNT]);
/* End of a job: drop its references on the copies it made. */
void migrate_cache_release(struct fs *fs);
/* space_sweep, waiting up to 10 s for a moment with no append in flight. */
int migrate_sweep(struct fs *fs);
/* Run migration job J. */
void migrate_run(struct fs *fs, const struct job *j);
/* Seconds on the monotonic clock. */
double migrate_now(void);
/* True once migrate_stop asked the tier thread to stop. */
bool migrate_stopping(struct migrate *m);

#endif
