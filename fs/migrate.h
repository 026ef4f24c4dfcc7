/* migrate.h — the tier thread (migrate.c: migration, pins; tierjobs.c:
 * compaction requests and the tier policies): jobs are durable records
 * until done.
 *
 * Layer: feature (tiering); called by main.c, tierctl.c, stats.c and the
 * namespace (a pin follows a rename).
 */
#ifndef AIFS_FS_MIGRATE_H
#define AIFS_FS_MIGRATE_H

#include "fs/fs.h"

struct migrate_stats {
	uint64_t queued, jobs_done;
	uint64_t moved_bytes, moved_extents;	/* decoded bytes and extents written */
	uint64_t skipped;		/* pieces changed by a writer meanwhile: left alone */
	uint64_t failed;		/* pieces unreadable (checksum): left alone */
	double secs;			/* spent in migrate jobs */
	int gc_state;			/* 0 never run, 1 running, 2 done, 3 failed */
	uint64_t gc_done, gc_total, gc_reclaimed, gc_runs;
};
int migrate_init(struct fs *fs);
int migrate_start(struct fs *fs);
void migrate_stop(struct fs *fs);
/* Queue moving INO (a file with its versions, a directory tree, a version,
 * a snapshot tree) to tier TO; the request is durable until done. */
int migrate_request(struct fs *fs, uint64_t ino, int to);
/* Queue a compaction of the segments whose live fraction is below THRESHOLD. */
int migrate_gc_request(struct fs *fs, double threshold);
/* Pin INO (and what lies below it) to TIER and move it there; TIER -1 unpins. */
int migrate_pin(struct fs *fs, uint64_t ino, int tier);
/* True if INO is pinned; *TIER (if not NULL) is the tier. */
bool migrate_pinned(struct fs *fs, uint64_t ino, int *tier);
void migrate_stats_get(struct fs *fs, struct migrate_stats *out);
/* rename(SRC over DST): a pin of DST follows the name to SRC, into B. */
void migrate_pin_rename(struct fs *fs, struct meta_batch *b, uint64_t src, uint64_t dst);

/* Tiering's subscription to what versions publish (version.h). */
extern const struct version_events migrate_version_events;

#endif
