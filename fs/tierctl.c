/* tierctl.c — tiers seen through the mount: the user.aifs.* attributes
 * that show where a file's bytes are and drive migration, pins and gc.
 *
 *   user.aifs.tier         (get) hot, cold or mixed: where a file's bytes are
 *   user.aifs.stored_size  (get) bytes the file takes in the tiers (compressed)
 *   user.aifs.migrate      (set hot|cold) move a file with its versions, a
 *                          directory tree, a version or a snapshot
 *   user.aifs.pin          (set hot|cold|none, get) keep it in a tier
 *   user.aifs.gc           (set THRESHOLD on the root) start a compaction;
 *                          (get) its progress
 *   user.aifs.tierstat     (get on the root) JSON: extents, bytes and
 *                          compression per tier, migration counters
 */
#include "fs/access.h"
#include "fs/extmap.h"
#include "fs/migrate.h"
#include "fs/sb.h"
#include "fs/tierctl.h"
#include "fs/xattr.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tier_parse(const char *value, size_t size, bool none_ok)
{
	if (size == 3 && !memcmp(value, "hot", 3))
		return TIER_HOT;
	if (size == 4 && !memcmp(value, "cold", 4))
		return TIER_COLD;
	if (none_ok && size == 4 && !memcmp(value, "none", 4))
		return -1;
	return -2;
}

/* user.aifs.migrate=hot|cold, user.aifs.pin=hot|cold|none: queued for the
 * tier thread, so not under IN's lock. */
static int migrate_set(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		       const char *value, size_t size, int flags)
{
	bool is_pin = name[10] == 'p';
	int to = tier_parse(value, size, is_pin), pin;

	(void)flags;
	if (to < -1)
		return -EINVAL;
	if (!access_req_owner(req, &in->attr))
		return -EPERM;
	if (!S_ISREG(in->attr.mode) && !S_ISDIR(in->attr.mode))
		return -EINVAL;
	if (is_pin)
		return migrate_pin(fs, in->ino, to);
	if (migrate_pinned(fs, in->ino, &pin) && pin != to)
		return -EBUSY;
	return migrate_request(fs, in->ino, to);
}

/* user.aifs.gc=THRESHOLD on the root. */
static int gc_set(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		  const char *value, size_t size, int flags)
{
	char num[32] = "0.5";
	double threshold;
	char *end;

	(void)name;
	(void)flags;
	if (in->ino != META_ROOT_INO)
		return -EINVAL;
	if (!access_req_owner(req, &in->attr))
		return -EPERM;
	if (size >= sizeof(num))
		return -EINVAL;
	if (size) {
		memcpy(num, value, size);
		num[size] = 0;
	}
	threshold = strtod(num, &end);
	if (*end || threshold < 0 || threshold > 1)
		return -EINVAL;
	return migrate_gc_request(fs, threshold);
}

/* ---- where a file's bytes are ---------------------------------------- */

/* Bytes of IN's content per tier, and stored bytes (IN locked for writing). */
static int file_tiers(struct fs *fs, struct inode *in, uint64_t bytes[TIER_COUNT],
		      uint64_t *stored)
{
	int rc = fs_map_load(fs, in);

	memset(bytes, 0, TIER_COUNT * sizeof(*bytes));
	*stored = 0;
	if (rc < 0)
		return rc;
	if (in->attr.flags & META_IF_INLINE) {
		bytes[TIER_HOT] = *stored = in->wb_len;
		return 0;
	}
	for (size_t i = 0; i < in->map.n; i++) {
		const struct ext *e = &in->map.v[i];

		if (e->ref.tier >= TIER_COUNT)
			continue;
		bytes[e->ref.tier] += e->len;
		*stored += e->ref.codec == TIER_CODEC_RAW ? e->len :
			(e->ref.stored_len * e->len + e->ref.raw_len - 1) / e->ref.raw_len;
	}
	return 0;
}

/* ---- the store-wide status --------------------------------------------- */

struct tstat {
	struct fs *fs;
	uint64_t *seen;			/* set of (tier, seg, off) keys; 0 free */
	size_t size, count;
	uint64_t extents[TIER_COUNT], raw[TIER_COUNT], stored[TIER_COUNT];
	uint64_t pieces[TIER_COUNT], bytes[TIER_COUNT], codecs[TIER_COUNT][TIER_CODEC_MAX + 1];
};

/* Add KEY to the set; 1 if it was new, 0 if there, -ENOMEM. */
static int seen_add(struct tstat *s, uint64_t key)
{
	size_t i;

	if (s->count * 2 >= s->size) {
		size_t n = s->size ? s->size * 2 : 4096;
		uint64_t *v = calloc(n, sizeof(*v)), *old = s->seen;
		size_t osize = s->size;

		if (!v)
			return -ENOMEM;
		s->seen = v;
		s->size = n;
		s->count = 0;
		for (size_t j = 0; j < osize; j++)
			if (old[j])
				seen_add(s, old[j]);
		free(old);
	}
	for (i = (size_t)(key * 0x9E3779B97F4A7C15ull >> 20) & (s->size - 1); s->seen[i];
	     i = (i + 1) & (s->size - 1))
		if (s->seen[i] == key)
			return 0;
	s->seen[i] = key;
	s->count++;
	return 1;
}

static int stat_ext(void *ctx, const struct meta_extent *e)
{
	struct tstat *s = ctx;
	int t = e->ref.tier, rc;

	if (t >= TIER_COUNT)
		return 0;
	s->pieces[t]++;
	s->bytes[t] += e->len;
	/* offsets are 4 KiB-aligned: 1 bit tier, 24 bits segment, 39 bits block */
	rc = seen_add(s, ((uint64_t)t << 63 | (uint64_t)e->ref.seg << 39 |
			  e->ref.off / TIER_BLOCK) + 1);
	if (rc <= 0)
		return rc;
	s->extents[t]++;
	s->raw[t] += e->ref.raw_len;
	s->stored[t] += e->ref.stored_len;
	if (e->ref.codec <= TIER_CODEC_MAX)
		s->codecs[t][e->ref.codec]++;
	return 0;
}

static int stat_inode(void *ctx, const struct meta_inode *in)
{
	struct tstat *s = ctx;

	return S_ISREG(in->mode) ? meta_extent_foreach(s->fs->meta, in->ino, stat_ext, s) : 0;
}


static int tierstat_json(struct fs *fs, char **text, size_t *len)
{
	static const char *const names[] = { "hot", "cold" };
	static const char *const codecs[] = { "raw", "lz4", "lz4_bg4", "lz4_bg2" };
	struct tstat s = { .fs = fs };
	struct migrate_stats ms;
	struct sb o = { 0 };
	int rc = meta_inode_foreach(fs->meta, stat_inode, &s);

	free(s.seen);
	if (rc < 0)
		return rc;
	migrate_stats_get(fs, &ms);
	sb_printf(&o, "{\"tiers\": {");
	for (int t = 0; t < TIER_COUNT; t++) {
		struct tier_space sp = { 0 };

		tier_space(fs->tiers[t], &sp);
		sb_printf(&o, "%s\"%s\": {\"extents\": %llu, \"pieces\": %llu, \"bytes\": %llu, "
		    "\"raw_bytes\": %llu, \"stored_bytes\": %llu, \"ratio\": %.3f, "
		    "\"segment_bytes\": %llu, \"allocated_bytes\": %llu, \"device_total\": %llu, "
		    "\"device_avail\": %llu, \"codecs\": {", t ? ", " : "", names[t],
		    (unsigned long long)s.extents[t], (unsigned long long)s.pieces[t],
		    (unsigned long long)s.bytes[t], (unsigned long long)s.raw[t],
		    (unsigned long long)s.stored[t],
		    s.stored[t] ? (double)s.raw[t] / (double)s.stored[t] : 1.0,
		    (unsigned long long)sp.used, (unsigned long long)sp.allocated,
		    (unsigned long long)sp.total, (unsigned long long)sp.avail);
		for (int c = 0; c <= TIER_CODEC_MAX; c++)
			sb_printf(&o, "%s\"%s\": %llu", c ? ", " : "", codecs[c],
			    (unsigned long long)s.codecs[t][c]);
		sb_printf(&o, "}}");
	}
	sb_printf(&o, "}, \"migration\": {\"queued\": %llu, \"jobs_done\": %llu, \"moved_bytes\": %llu, "
	    "\"moved_extents\": %llu, \"skipped\": %llu, \"failed\": %llu, \"seconds\": %.3f}, "
	    "\"gc\": {\"state\": \"%s\", \"done\": %llu, \"total\": %llu, "
	    "\"reclaimed_bytes\": %llu, \"runs\": %llu}}\n",
	    (unsigned long long)ms.queued, (unsigned long long)ms.jobs_done,
	    (unsigned long long)ms.moved_bytes, (unsigned long long)ms.moved_extents,
	    (unsigned long long)ms.skipped, (unsigned long long)ms.failed, ms.secs,
	    ms.gc_state == 1 ? "running" : ms.gc_state == 2 ? "done" :
	    ms.gc_state == 3 ? "failed" : "idle",
	    (unsigned long long)ms.gc_done, (unsigned long long)ms.gc_total,
	    (unsigned long long)ms.gc_reclaimed, (unsigned long long)ms.gc_runs);
	*len = o.len;
	*text = sb_take(&o);
	return *text ? 0 : -ENOMEM;
	return 0;
}

static int tierstat_get(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
			char **val, size_t *len)
{
	(void)req;
	(void)name;
	return in->ino == META_ROOT_INO ? tierstat_json(fs, val, len) : -ENODATA;
}

/* user.aifs.tier, stored_size, pin and gc: short texts. */
static int tier_get(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		    char **val, size_t *len)
{
	uint64_t bytes[TIER_COUNT], stored;
	struct migrate_stats ms;
	char *buf;
	int rc, pin, n;

	(void)req;
	buf = malloc(128);
	if (!buf)
		return -ENOMEM;
	if (!strcmp(name, "user.aifs.pin")) {
		n = migrate_pinned(fs, in->ino, &pin) ?
			snprintf(buf, 128, "%s", pin == TIER_COLD ? "cold" : "hot") : -ENODATA;
	} else if (!strcmp(name, "user.aifs.gc")) {
		migrate_stats_get(fs, &ms);
		n = in->ino != META_ROOT_INO ? -ENODATA :
			snprintf(buf, 128, "state=%s done=%llu total=%llu reclaimed=%llu runs=%llu",
				 ms.gc_state == 1 ? "running" : ms.gc_state == 2 ? "done" :
				 ms.gc_state == 3 ? "failed" : "idle",
				 (unsigned long long)ms.gc_done, (unsigned long long)ms.gc_total,
				 (unsigned long long)ms.gc_reclaimed, (unsigned long long)ms.gc_runs);
	} else if (!S_ISREG(in->attr.mode)) {
		n = -ENODATA;
	} else {
		pthread_rwlock_wrlock(&in->lock);
		rc = file_tiers(fs, in, bytes, &stored);
		pthread_rwlock_unlock(&in->lock);
		if (rc < 0)
			n = rc;
		else if (name[10] == 't')
			n = snprintf(buf, 128, "%s", bytes[TIER_COLD] == 0 ? "hot" :
				     bytes[TIER_HOT] == 0 ? "cold" : "mixed");
		else
			n = snprintf(buf, 128, "%llu", (unsigned long long)stored);
	}
	if (n < 0) {
		free(buf);
		return n;
	}
	*val = buf;
	*len = (size_t)n;
	return 0;
}

const struct fs_xattr tierctl_xattrs[] = {
	{ "user.aifs.migrate", "tiers", 0, NULL, migrate_set, NULL },
	{ "user.aifs.pin", "tiers", 0, tier_get, migrate_set, NULL },
	{ "user.aifs.gc", "tiers", 0, tier_get, gc_set, NULL },
	{ "user.aifs.tier", "tiers", 0, tier_get, NULL, NULL },
	{ "user.aifs.stored_size", "tiers", 0, tier_get, NULL, NULL },
	{ "user.aifs.tierstat", "tiers", 0, tierstat_get, NULL, NULL },
	{ NULL, NULL, 0, NULL, NULL, NULL },
};
