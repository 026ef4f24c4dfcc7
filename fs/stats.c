/* stats.c — operation counts, bytes and latency, and MOUNT/.aifs/stats.
 *
 * Every instrumented FUSE operation goes through a wrapper that times the
 * handler (which replies inside) and adds to lock-free counters: a count,
 * bytes moved and a histogram of latencies in power-of-two microsecond
 * buckets, from which percentiles are read.  .aifs/stats is a JSON
 * document made when it is opened: store, daemon, space, counts of
 * versions, snapshots and journal records, and the operations;
 * .aifs/metrics is the same in the Prometheus text format.
 */
#include "fs/fs.h"
#include "fs/follow.h"
#include "fs/fwd.h"
#include "fs/inval.h"
#include "fs/lineage.h"
#include "fs/inode.h"
#include "fs/snapshot.h"
#include "fs/journal.h"
#include "fs/sb.h"
#include "fs/stats.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum op {
	OP_LOOKUP, OP_GETATTR, OP_SETATTR, OP_CREATE, OP_OPEN, OP_READ, OP_WRITE, OP_FLUSH,
	OP_RELEASE, OP_FSYNC, OP_MKDIR, OP_UNLINK, OP_RMDIR, OP_RENAME, OP_READDIR,
	OP_GETXATTR, OP_SETXATTR, OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"lookup", "getattr", "setattr", "create", "open", "read", "write", "flush",
	"release", "fsync", "mkdir", "unlink", "rmdir", "rename", "readdir",
	"getxattr", "setxattr"
};

#define BUCKETS 32

struct op_stat {
	atomic_ullong count, bytes;
	atomic_ullong hist[BUCKETS];	/* latency < 2^i microseconds */
};

static struct op_stat stats[OP_COUNT];
static struct fuse_lowlevel_ops real;
static int64_t started;

static int64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void account(enum op op, int64_t t0, uint64_t bytes)
{
	uint64_t us = (uint64_t)(mono() - t0) / 1000;
	int b = 0;

	while (b < BUCKETS - 1 && (1ull << b) <= us)
		b++;
	atomic_fetch_add_explicit(&stats[op].count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&stats[op].bytes, bytes, memory_order_relaxed);
	atomic_fetch_add_explicit(&stats[op].hist[b], 1, memory_order_relaxed);
}

#define WRAP(name, op, bytes, params, args)			\
	static void w_##name params				\
	{							\
		int64_t t0 = mono();				\
		lk_op(op_names[op]);				\
		real.name args;					\
		lk_op(NULL);					\
		account(op, t0, bytes);				\
	}

WRAP(lookup, OP_LOOKUP, 0, (fuse_req_t r, fuse_ino_t p, const char *n), (r, p, n))
WRAP(getattr, OP_GETATTR, 0, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f), (r, i, f))
WRAP(setattr, OP_SETATTR, 0,
     (fuse_req_t r, fuse_ino_t i, struct stat *a, int s, struct fuse_file_info *f),
     (r, i, a, s, f))
WRAP(create, OP_CREATE, 0,
     (fuse_req_t r, fuse_ino_t p, const char *n, mode_t m, struct fuse_file_info *f),
     (r, p, n, m, f))
WRAP(open, OP_OPEN, 0, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f), (r, i, f))
WRAP(read, OP_READ, s, (fuse_req_t r, fuse_ino_t i, size_t s, off_t o, struct fuse_file_info *f),
     (r, i, s, o, f))
WRAP(write, OP_WRITE, s,
     (fuse_req_t r, fuse_ino_t i, const char *b, size_t s, off_t o, struct fuse_file_info *f),
     (r, i, b, s, o, f))
WRAP(flush, OP_FLUSH, 0, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f), (r, i, f))
WRAP(release, OP_RELEASE, 0, (fuse_req_t r, fuse_ino_t i, struct fuse_file_info *f), (r, i, f))
WRAP(fsync, OP_FSYNC, 0, (fuse_req_t r, fuse_ino_t i, int d, struct fuse_file_info *f),
     (r, i, d, f))
WRAP(mkdir, OP_MKDIR, 0, (fuse_req_t r, fuse_ino_t p, const char *n, mode_t m), (r, p, n, m))
WRAP(unlink, OP_UNLINK, 0, (fuse_req_t r, fuse_ino_t p, const char *n), (r, p, n))
WRAP(rmdir, OP_RMDIR, 0, (fuse_req_t r, fuse_ino_t p, const char *n), (r, p, n))
WRAP(rename, OP_RENAME, 0,
     (fuse_req_t r, fuse_ino_t p, const char *n, fuse_ino_t np, const char *nn, unsigned fl),
     (r, p, n, np, nn, fl))
WRAP(readdirplus, OP_READDIR, 0,
     (fuse_req_t r, fuse_ino_t i, size_t s, off_t o, struct fuse_file_info *f), (r, i, s, o, f))
WRAP(getxattr, OP_GETXATTR, 0, (fuse_req_t r, fuse_ino_t i, const char *n, size_t s),
     (r, i, n, s))
WRAP(setxattr, OP_SETXATTR, 0,
     (fuse_req_t r, fuse_ino_t i, const char *n, const char *v, size_t s, int fl),
     (r, i, n, v, s, fl))

const struct fuse_lowlevel_ops *stats_wrap(const struct fuse_lowlevel_ops *ops)
{
	static struct fuse_lowlevel_ops w;

	started = fs_now();
	real = *ops;
	w = *ops;
	w.lookup = w_lookup;
	w.getattr = w_getattr;
	w.setattr = w_setattr;
	w.create = w_create;
	w.open = w_open;
	w.read = w_read;
	w.write = w_write;
	w.flush = w_flush;
	w.release = w_release;
	w.fsync = w_fsync;
	w.mkdir = w_mkdir;
	w.unlink = w_unlink;
	w.rmdir = w_rmdir;
	w.rename = w_rename;
	w.readdirplus = w_readdirplus;
	w.getxattr = w_getxattr;
	w.setxattr = w_setxattr;
	return &w;
}

/* Upper bound in microseconds of the bucket holding quantile Q. */
static uint64_t percentile(const struct op_stat *s, double q)
{
	uint64_t n = atomic_load(&s->count), seen = 0;

	if (!n)
		return 0;
	for (int b = 0; b < BUCKETS; b++) {
		seen += atomic_load(&s->hist[b]);
		if (seen >= q * n)
			return 1ull << b;
	}
	return 1ull << (BUCKETS - 1);
}

static int count_cb(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	(*(uint64_t *)ctx)++;
	return 0;
}

static uint64_t count_recs(struct fs *fs, uint8_t kind)
{
	uint64_t n = 0;

	meta_rec_foreach(fs->meta, kind, NULL, 0, count_cb, &n);
	return n;
}

/* The local cache of a hot tier in RADOS, if there is one. */
static void cache_json(struct fs *fs, struct sb *b)
{
	struct tier_cache_stats c;

	if (tier_cache_stats(fs->tiers[TIER_HOT], &c) < 0)
		return;
	sb_printf(b, " \"cache\": {\"limit\": %llu, \"bytes\": %llu, \"dirty\": %llu, \"hits\": %llu, "
	    "\"misses\": %llu, \"remote_reads\": %llu, \"uploads\": %llu, "
	    "\"upload_errors\": %llu, \"evictions\": %llu, \"corrupt\": %llu},\n",
	    (unsigned long long)c.limit, (unsigned long long)c.bytes,
	    (unsigned long long)c.dirty, (unsigned long long)c.hits,
	    (unsigned long long)c.misses, (unsigned long long)c.remote_reads,
	    (unsigned long long)c.uploads, (unsigned long long)c.upload_errors,
	    (unsigned long long)c.evictions, (unsigned long long)c.corrupt);
}

static void metric(struct sb *b, const char *name, const char *type, const char *help);

static void cache_prometheus(struct fs *fs, struct sb *b)
{
	static const struct { const char *name, *type, *help; size_t off; } m[] = {
		{ "aifs_cache_size_bytes", "gauge", "Bound of the local cache of data in RADOS.",
		  offsetof(struct tier_cache_stats, limit) },
		{ "aifs_cache_used_bytes", "gauge", "Bytes held by the local cache.",
		  offsetof(struct tier_cache_stats, bytes) },
		{ "aifs_cache_dirty_bytes", "gauge", "Bytes of the cache not yet uploaded to RADOS.",
		  offsetof(struct tier_cache_stats, dirty) },
		{ "aifs_cache_hits_total", "counter", "Extent reads served by the local cache.",
		  offsetof(struct tier_cache_stats, hits) },
		{ "aifs_cache_misses_total", "counter", "Extent reads the local cache did not hold.",
		  offsetof(struct tier_cache_stats, misses) },
		{ "aifs_cache_remote_reads_total", "counter", "Objects read from RADOS.",
		  offsetof(struct tier_cache_stats, remote_reads) },
		{ "aifs_cache_uploads_total", "counter", "Objects uploaded from the write buffer.",
		  offsetof(struct tier_cache_stats, uploads) },
		{ "aifs_cache_upload_errors_total", "counter", "Failed uploads (tried again).",
		  offsetof(struct tier_cache_stats, upload_errors) },
		{ "aifs_cache_evictions_total", "counter", "Copies evicted from the local cache.",
		  offsetof(struct tier_cache_stats, evictions) },
		{ "aifs_cache_corrupt_total", "counter", "Damaged copies found in the local cache.",
		  offsetof(struct tier_cache_stats, corrupt) },
	};
	struct tier_cache_stats c;

	if (tier_cache_stats(fs->tiers[TIER_HOT], &c) < 0)
		return;
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		metric(b, m[i].name, m[i].type, m[i].help);
		sb_printf(b, "%s %llu\n", m[i].name,
		    (unsigned long long)*(const uint64_t *)((const char *)&c + m[i].off));
	}
}

int stats_json(struct fs *fs, char **text, size_t *len)
{
	struct sb b = { 0 };
	struct tier_space sp[TIER_COUNT];
	uint64_t records = 0, signed_size = 0;
	unsigned long pjobs, psrcs;
	struct inval_stats iv;

	for (int t = 0; t < TIER_COUNT; t++)
		if (tier_space(fs->tiers[t], &sp[t]) < 0)
			memset(&sp[t], 0, sizeof(sp[t]));
	journal_sizes(fs, &records, &signed_size);
	sb_add(&b, "{\"store\": ");
	sb_str(&b, fs->store->path);	/* any bytes a path may hold, escaped */
	sb_printf(&b, ", \"uuid\": \"%s\", \"format\": %u, \"version\": \"%s\",\n",
	    fs->store->uuid, fs->store->format, AIFS_VERSION);
	inval_stats_get(&iv);
	sb_printf(&b, " \"daemon\": {\"pid\": %d, \"started\": %lld, \"uptime_s\": %lld, "
	    "\"invalidations_sent\": %llu, \"invalidations_pending\": %llu, "
	    "\"lock_waits_warned\": %llu},\n",
	    (int)getpid(), (long long)(started / 1000000000),
	    (long long)((fs_now() - started) / 1000000000), (unsigned long long)iv.sent,
	    (unsigned long long)iv.pending, (unsigned long long)lk_warnings(NULL, 0));
	sb_printf(&b, " \"tiers\": {\"hot\": {\"bytes\": %llu, \"device_total\": %llu, "
	    "\"device_avail\": %llu}, \"cold\": {\"bytes\": %llu, \"device_total\": %llu, "
	    "\"device_avail\": %llu}},\n",
	    (unsigned long long)sp[0].used, (unsigned long long)sp[0].total,
	    (unsigned long long)sp[0].avail, (unsigned long long)sp[1].used,
	    (unsigned long long)sp[1].total, (unsigned long long)sp[1].avail);
	cache_json(fs, &b);
	{
		double lag;
		uint64_t next, made, refused, failed, renewed;
		struct follow_link link;
		char fa[128] = "", ta[2][128] = { "", "" };

		fwd_counts(&made, &refused, &failed);
		if (follow_status(&lag, &next, &link)) {
			fwd_link(fa, sizeof(fa), &renewed);
			for (int i = 0; i < 2; i++)
				if (fs->store->tiers[i])
					tier_cluster_addr(fs->store->tiers[i], ta[i], sizeof(ta[i]));
			sb_printf(&b, " \"follower\": {\"lag_s\": %.3f, \"next_batch\": %llu, "
			    "\"connected\": %s, \"link_error\": \"%s\", \"clients_renewed\": %llu, "
			    "\"client_addrs\": {\"shipped\": \"%s\", \"forward\": \"%s\", "
			    "\"hot\": \"%s\", \"cold\": \"%s\"}, "
			    "\"forwarded\": {\"made\": %llu, \"refused\": %llu, \"failed\": %llu}},\n",
			    lag, (unsigned long long)next, link.err ? "false" : "true",
			    link.err ? strerror(-link.err) : "",
			    (unsigned long long)(link.renewals + renewed), link.addr, fa, ta[0], ta[1],
			    (unsigned long long)made, (unsigned long long)refused,
			    (unsigned long long)failed);
		}
	}
	sb_printf(&b, " \"versions\": %llu, \"snapshots\": %llu, \"snapshot_files_copied\": %llu,\n",
	    (unsigned long long)count_recs(fs, 'V'), (unsigned long long)count_recs(fs, 'P'),
	    (unsigned long long)snapshot_progress());
	sb_printf(&b, " \"journal\": {\"records\": %llu, \"signed\": %llu},\n",
	    (unsigned long long)records, (unsigned long long)signed_size);
	lineage_pruned(&pjobs, &psrcs);
	sb_printf(&b, " \"lineage\": {\"jobs\": %llu, \"ended_jobs_pruned_at_mount\": %lu, "
	    "\"sources_pruned_at_mount\": %lu},\n", (unsigned long long)count_recs(fs, 'j'),
	    pjobs, psrcs);
	sb_printf(&b, " \"ops\": {");
	for (int i = 0; i < OP_COUNT; i++)
		sb_printf(&b, "%s\n  \"%s\": {\"count\": %llu, \"bytes\": %llu, \"p50_us\": %llu, "
		    "\"p99_us\": %llu}", i ? "," : "", op_names[i],
		    (unsigned long long)atomic_load(&stats[i].count),
		    (unsigned long long)atomic_load(&stats[i].bytes),
		    (unsigned long long)percentile(&stats[i], 0.5),
		    (unsigned long long)percentile(&stats[i], 0.99));
	sb_printf(&b, "\n }\n}\n");
	*len = b.len;
	*text = sb_take(&b);
	if (!*text)
		return -ENOMEM;
	return 0;
}

/* One metric: its HELP and TYPE lines, then the samples the caller adds. */
static void metric(struct sb *b, const char *name, const char *type, const char *help)
{
	sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int stats_prometheus(struct fs *fs, char **text, size_t *len)
{
	static const char *const tiers[TIER_COUNT] = { "hot", "cold" };
	struct sb b = { 0 };
	struct tier_space sp[TIER_COUNT];
	uint64_t records = 0, signed_size = 0;

	for (int t = 0; t < TIER_COUNT; t++)
		if (tier_space(fs->tiers[t], &sp[t]) < 0)
			memset(&sp[t], 0, sizeof(sp[t]));
	journal_sizes(fs, &records, &signed_size);
	metric(&b, "aifs_info", "gauge", "The mounted store (always 1).");
	sb_printf(&b, "aifs_info{uuid=\"%s\",format=\"%u\",version=\"%s\"} 1\n",
	    fs->store->uuid, fs->store->format, AIFS_VERSION);
	metric(&b, "aifs_start_time_seconds", "gauge", "When the daemon mounted the store (Unix time).");
	sb_printf(&b, "aifs_start_time_seconds %lld\n", (long long)(started / 1000000000));
	metric(&b, "aifs_tier_used_bytes", "gauge", "Bytes of the segment files of a tier.");
	for (int t = 0; t < TIER_COUNT; t++)
		sb_printf(&b, "aifs_tier_used_bytes{tier=\"%s\"} %llu\n", tiers[t],
		    (unsigned long long)sp[t].used);
	metric(&b, "aifs_tier_device_size_bytes", "gauge", "Size of the file system holding a tier.");
	for (int t = 0; t < TIER_COUNT; t++)
		sb_printf(&b, "aifs_tier_device_size_bytes{tier=\"%s\"} %llu\n", tiers[t],
		    (unsigned long long)sp[t].total);
	metric(&b, "aifs_tier_device_avail_bytes", "gauge",
	       "Bytes available on the file system holding a tier.");
	for (int t = 0; t < TIER_COUNT; t++)
		sb_printf(&b, "aifs_tier_device_avail_bytes{tier=\"%s\"} %llu\n", tiers[t],
		    (unsigned long long)sp[t].avail);
	cache_prometheus(fs, &b);
	metric(&b, "aifs_versions", "gauge", "Checkpoint versions kept.");
	sb_printf(&b, "aifs_versions %llu\n", (unsigned long long)count_recs(fs, 'V'));
	metric(&b, "aifs_snapshots", "gauge", "Dataset snapshots kept.");
	sb_printf(&b, "aifs_snapshots %llu\n", (unsigned long long)count_recs(fs, 'P'));
	metric(&b, "aifs_journal_records", "gauge", "Records in the audit log.");
	sb_printf(&b, "aifs_journal_records %llu\n", (unsigned long long)records);
	metric(&b, "aifs_journal_signed_records", "gauge",
	       "Records of the audit log covered by the newest signed checkpoint.");
	sb_printf(&b, "aifs_journal_signed_records %llu\n", (unsigned long long)signed_size);
	metric(&b, "aifs_operations_total", "counter", "FUSE operations served, by operation.");
	for (int i = 0; i < OP_COUNT; i++)
		sb_printf(&b, "aifs_operations_total{op=\"%s\"} %llu\n", op_names[i],
		    (unsigned long long)atomic_load(&stats[i].count));
	metric(&b, "aifs_operation_bytes_total", "counter",
	       "Bytes moved by read and write operations, by operation.");
	for (int i = 0; i < OP_COUNT; i++)
		sb_printf(&b, "aifs_operation_bytes_total{op=\"%s\"} %llu\n", op_names[i],
		    (unsigned long long)atomic_load(&stats[i].bytes));
	metric(&b, "aifs_operation_latency_seconds", "gauge",
	       "Upper bound of the 50th and 99th percentile latency since mount, by operation.");
	for (int i = 0; i < OP_COUNT; i++)
		sb_printf(&b, "aifs_operation_latency_seconds{op=\"%s\",quantile=\"0.5\"} %.6f\n"
		    "aifs_operation_latency_seconds{op=\"%s\",quantile=\"0.99\"} %.6f\n",
		    op_names[i], (double)percentile(&stats[i], 0.5) / 1e6,
		    op_names[i], (double)percentile(&stats[i], 0.99) / 1e6);
	*len = b.len;
	*text = sb_take(&b);
	if (!*text)
		return -ENOMEM;
	return 0;
}
