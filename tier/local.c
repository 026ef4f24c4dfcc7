/* local.c — the local tier: append-only segment files in one directory,
 * behind the tier interface (struct tier_ops, tier.h).
 *
 * A tier directory holds "seg-%08u" files of at most TIER_SEG_MAX bytes.
 * Extents are appended to the newest ("active") segment; an extent that
 * would not fit starts a new segment numbered one higher, so segment
 * numbers only grow and the number of a removed segment is never reused.
 *
 * Invariants of struct tier, all guarded by t->lock:
 *  - segs[n] describes segment n for n < nsegs; the file exists iff
 *    present, and used is the sum of the sizes of the present segments.
 *  - size is where the next extent of that segment would start: an append
 *    reserves [size, size + stored_len) under the lock and writes outside
 *    it, so concurrent appenders overlap their I/O.  A failed write leaves
 *    an unreferenced gap, never a reused range.
 *  - refs counts I/O in flight on fd.  A removed segment keeps its fd
 *    until refs drops to 0, so an fd number is never recycled under a
 *    reader that still uses it.
 *  - dirty is set when a write has completed, not at reservation: a sync
 *    clears it only for writes it is sure to cover.
 *
 * Batched reads are in read.c, which shares seg_get / seg_put with this
 * file through tier_priv.h.
 *
 * I/O goes through the calling thread's io_uring and scratch buffers
 * (uring.h); being per thread, none of them is locked.
 */
#include "tier/tier.h"
#include "tier/codec.h"
#include "tier/dcache.h"
#include "tier/tier_impl.h"
#include "tier/tier_priv.h"
#include "tier/log.h"
#include "tier/uring.h"

/* Extents from this size on are sent to the disk as soon as written. */
#define TIER_EARLY_WRITEBACK	(1u << 20)

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define SEG_LIMIT	(1u << 24)	/* segment numbers (16 PiB of appends) */
#define SEG_NAME_SIZE	32

struct seg {
	int fd;			/* -1 until first used */
	uint32_t refs;		/* I/O in flight on fd */
	uint64_t size;		/* bytes reserved so far */
	bool present;
	bool dirty;		/* written to since the last sync */
};

struct local {
	struct tier base;	/* first: the struct tier handed out is this */
	int id;
	int dirfd;
	char *dir;
	pthread_mutex_t lock;
	struct seg *segs;	/* indexed by segment number */
	uint32_t nsegs;
	uint32_t active;
	uint64_t used;
	uint64_t seg_max;	/* segments are cut at this size */
	struct dcache *dcache;	/* decoded compressed extents */
	bool dir_dirty;		/* a segment was created or removed since the last sync */
};

static const char *tier_name(int id)
{
	return id == TIER_HOT ? "hot" : id == TIER_COLD ? "cold" : "?";
}

static void seg_name(char *buf, uint32_t seg)
{
	snprintf(buf, SEG_NAME_SIZE, "seg-%08" PRIu32, seg);
}

int local_fail(const struct local *t, int rc, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_err("tier %s: %s", tier_name(t->id), msg);
	return rc;
}

/* ---- segment table --------------------------------------------------- */

/* Make segs[SEG] exist.  Called with the lock held (or before sharing). */
static int seg_slot(struct local *t, uint32_t seg)
{
	uint32_t n = t->nsegs ? t->nsegs : 16;
	struct seg *s;

	if (seg < t->nsegs)
		return 0;
	if (seg >= SEG_LIMIT)
		return local_fail(t, -ERANGE, "segment number %" PRIu32 " is out of range", seg);
	while (n <= seg)
		n *= 2;
	s = realloc(t->segs, n * sizeof *s);
	if (!s)
		return local_fail(t, -ENOMEM, "cannot grow the segment table: %s", strerror(ENOMEM));
	for (uint32_t i = t->nsegs; i < n; i++)
		s[i] = (struct seg){ .fd = -1 };
	t->segs = s;
	t->nsegs = n;
	return 0;
}

/* Create segment SEG and make it the active one.  Lock held. */
static int seg_create(struct local *t, uint32_t seg)
{
	char name[SEG_NAME_SIZE];
	int fd, rc;

	rc = seg_slot(t, seg);
	if (rc)
		return rc;
	seg_name(name, seg);
	fd = openat(t->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return local_fail(t, -errno, "cannot create segment %s/%s: %m", t->dir, name);
	t->segs[seg] = (struct seg){ .fd = fd, .present = true };
	t->active = seg;
	t->dir_dirty = true;
	return 0;
}

/* Reserve LEN bytes at the end of the active segment, starting a new one
 * if they would not fit, and take a reference on it for the write. */
static int seg_reserve(struct local *t, uint32_t len, uint32_t *seg, uint64_t *off, int *fd)
{
	struct seg *s;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	if (((t->segs[t->active].size + TIER_BLOCK - 1) & ~(uint64_t)(TIER_BLOCK - 1)) + len >
	    t->seg_max)
		rc = seg_create(t, t->active + 1);
	if (rc == 0) {
		s = &t->segs[t->active];
		*seg = t->active;
		/* Extents start block-aligned so that tier_discard can free
		 * whole blocks; the gap stays a hole in the file. */
		*off = (s->size + TIER_BLOCK - 1) & ~(uint64_t)(TIER_BLOCK - 1);
		*fd = s->fd;
		t->used += *off + len - s->size;
		s->size = *off + len;
		s->refs++;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int seg_get(struct local *t, const struct tier_ref *ref, int *fd)
{
	char name[SEG_NAME_SIZE];
	struct seg *s;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	s = ref->seg < t->nsegs ? &t->segs[ref->seg] : NULL;
	if (!s || !s->present) {
		rc = local_fail(t, -ENOENT, "segment %" PRIu32 " does not exist (extent at offset %"
			  PRIu64 ")", ref->seg, ref->off);
	} else if (ref->off + ref->stored_len > s->size) {
		rc = local_fail(t, -EIO, "extent [%" PRIu64 ", +%" PRIu32 ") lies past the end of "
			  "segment %" PRIu32 " (%" PRIu64 " bytes)", ref->off, ref->stored_len,
			  ref->seg, s->size);
	} else if (s->fd < 0) {
		seg_name(name, ref->seg);
		s->fd = openat(t->dirfd, name, O_RDWR | O_CLOEXEC);
		if (s->fd < 0)
			rc = local_fail(t, -errno, "cannot open segment %s/%s: %m", t->dir, name);
	}
	if (rc == 0) {
		s->refs++;
		*fd = s->fd;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void seg_put(struct local *t, uint32_t seg, bool wrote)
{
	struct seg *s;

	pthread_mutex_lock(&t->lock);
	s = &t->segs[seg];
	s->dirty |= wrote;
	if (--s->refs == 0 && !s->present && s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	pthread_mutex_unlock(&t->lock);
}

/* ---- open / close ---------------------------------------------------- */

/* Parse a canonical segment file name ("seg-" and at least 8 digits,
 * exactly as seg_name would print it); anything else is not ours. */
static bool seg_parse(const char *name, uint32_t *seg)
{
	char canon[SEG_NAME_SIZE];
	unsigned long v;
	char *end;

	if (strncmp(name, "seg-", 4) != 0)
		return false;
	v = strtoul(name + 4, &end, 10);
	if (*end || v > UINT32_MAX)
		return false;
	seg_name(canon, (uint32_t)v);
	*seg = (uint32_t)v;
	return strcmp(canon, name) == 0;
}

/* Record every segment file of the directory; *NEWEST is the highest
 * number found, or -1 if there is none. */
static int tier_scan(struct local *t, int64_t *newest)
{
	struct dirent *de;
	struct stat st;
	uint32_t seg;
	DIR *d;
	int fd, rc = 0;

	*newest = -1;
	fd = dup(t->dirfd);
	d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		rc = local_fail(t, -errno, "cannot list %s: %m", t->dir);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (!seg_parse(de->d_name, &seg))
			continue;
		if (fstatat(t->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			rc = local_fail(t, -errno, "cannot stat %s/%s: %m", t->dir, de->d_name);
		else if (!S_ISREG(st.st_mode))
			rc = local_fail(t, -EINVAL, "%s/%s is not a regular file", t->dir, de->d_name);
		else
			rc = seg_slot(t, seg);
		if (rc)
			break;
		t->segs[seg].present = true;
		t->segs[seg].size = (uint64_t)st.st_size;
		t->used += (uint64_t)st.st_size;
		if ((int64_t)seg > *newest)
			*newest = seg;
	}
	if (rc == 0 && errno)
		rc = local_fail(t, -errno, "cannot list %s: %m", t->dir);
	closedir(d);
	return rc;
}

/* Open the newest segment for appending, trusting fstat for its size
 * (a torn tail from a crash is simply left behind, unreferenced). */
static __thread bool opening_readonly;	/* tier_open_readonly in progress */

static int tier_resume(struct local *t, uint32_t seg)
{
	char name[SEG_NAME_SIZE];
	struct seg *s = &t->segs[seg];
	struct stat st;

	seg_name(name, seg);
	/* a read-only opener (perhaps on read-only media) never appends */
	s->fd = openat(t->dirfd, name, (opening_readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (s->fd < 0 || fstat(s->fd, &st) < 0)
		return local_fail(t, -errno, "cannot open segment %s/%s for appending: %m", t->dir, name);
	t->used += (uint64_t)st.st_size - s->size;
	s->size = (uint64_t)st.st_size;
	t->active = seg;
	return 0;
}

static void tier_free(struct local *t)
{
	for (uint32_t i = 0; i < t->nsegs; i++)
		if (t->segs[i].fd >= 0)
			close(t->segs[i].fd);
	if (t->dirfd >= 0)
		close(t->dirfd);
	pthread_mutex_destroy(&t->lock);
	dcache_free(t->dcache);
	free(t->segs);
	free(t->dir);
	free(t);
}

static const struct tier_ops local_ops;
static int local_sync(struct tier *base);

int tier_open_readonly(const char *dir, int id, struct tier **out)
{
	int rc;

	opening_readonly = true;
	rc = tier_open(dir, id, out);
	opening_readonly = false;
	return rc;
}

int tier_open(const char *dir, int id, struct tier **out)
{
	struct local *t;
	int64_t newest;
	int rc;

	*out = NULL;
	if (id < 0 || id >= TIER_COUNT) {
		log_err("tier: cannot open %s: tier id %d is not valid", dir, id);
		return -EINVAL;
	}
	t = calloc(1, sizeof *t);
	if (!t || !(t->dir = strdup(dir))) {
		log_err("tier %s: cannot open %s: %s", tier_name(id), dir, strerror(ENOMEM));
		free(t);
		return -ENOMEM;
	}
	t->id = id;
	t->seg_max = TIER_SEG_MAX;
	t->dcache = dcache_new();	/* without it, reads only decode more often */
	pthread_mutex_init(&t->lock, NULL);
	t->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dirfd < 0) {
		rc = local_fail(t, -errno, "cannot open directory %s: %m", dir);
		goto out;
	}
	rc = tier_scan(t, &newest);
	if (rc)
		goto out;
	rc = newest < 0 ? (opening_readonly ? 0 : seg_create(t, 0)) :
			  tier_resume(t, (uint32_t)newest);
	if (rc)
		goto out;
	t->base.ops = &local_ops;
	t->base.id = id;
	*out = &t->base;
	return 0;
out:
	tier_free(t);
	return rc;
}

static int local_set_seg_max(struct tier *base, uint64_t bytes)
{
	struct local *t = (struct local *)base;

	if (bytes < TIER_SEG_MIN || bytes > TIER_SEG_MAX)
		return local_fail(t, -EINVAL, "segment size %" PRIu64 " is outside [%llu, %llu]", bytes,
			    (unsigned long long)TIER_SEG_MIN, (unsigned long long)TIER_SEG_MAX);
	pthread_mutex_lock(&t->lock);
	t->seg_max = bytes;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static void local_close(struct tier *base)
{
	struct local *t = (struct local *)base;

	if (!t)
		return;
	local_sync(&t->base);
	tier_free(t);
}

/* ---- append ---------------------------------------------------------- */

/* Encode LEN bytes of SRC with CODEC (or the codec codec_choose picks for
 * TIER_CODEC_AUTO) into the thread's scratch (*DST) if that saves at least
 * 5%: lz4 gives up once its output would pass that budget, so
 * incompressible data costs little.  Returns the stored length (*USED the
 * codec), or 0 when the bytes should be stored raw. */
static uint32_t pack(struct uring_thread *ts, int codec, const void *src, uint32_t len,
		     void **dst, int *used)
{
	uint32_t budget = (uint32_t)((uint64_t)len * 95 / 100);
	size_t tmp_need = len > CODEC_SAMPLE ? len : CODEC_SAMPLE;
	void *tmp;

	if (budget == 0 || uring_decode(ts, tmp_need, &tmp) != 0)
		return 0;
	if (codec == TIER_CODEC_AUTO) {
		if (uring_scratch(ts, codec_choose_room(), dst) != 0)
			return 0;
		codec = codec_choose(src, len, tmp, *dst);
	}
	if (uring_scratch(ts, budget, dst) != 0)
		return 0;
	*used = codec;
	return codec_encode(codec, src, len, *dst, budget, tmp);
}

/* -ENOSPC if storing LEN more bytes would leave less than the reserve
 * free on the device (a refusal, logged at info level). */
static int reserve_check(struct local *t, uint32_t len)
{
	struct statvfs sv;
	uint64_t avail;

	if (!t->base.reserve || tier_reserve_usable() || fstatvfs(t->dirfd, &sv) < 0)
		return 0;	/* no reserve, or the append itself will tell */
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (avail >= t->base.reserve + len)
		return 0;
	log_info("tier %s: %llu bytes free, %llu kept in reserve: an append of %u bytes "
		 "refused", tier_name(t->id), (unsigned long long)avail,
		 (unsigned long long)t->base.reserve, len);
	return -ENOSPC;
}

static int local_append(struct tier *base, const void *buf, uint32_t len, int codec,
		struct tier_ref *ref, uint32_t *crcs, uint32_t *ncrc)
{
	struct local *t = (struct local *)base;
	struct uring_thread *ts;
	struct uring_op op = { .write = true, .buf = (uint8_t *)buf, .len = len };
	uint32_t seg, packed = 0;
	void *packed_buf = NULL;
	int rc, used = TIER_CODEC_RAW;

	if (!buf || !ref || !crcs || !ncrc || len == 0 || len > TIER_EXTENT_MAX ||
	    (codec > TIER_CODEC_MAX && codec != TIER_CODEC_AUTO) || codec < 0)
		return local_fail(t, -EINVAL, "invalid append of %" PRIu32 " bytes with codec %d",
			    len, codec);
	rc = reserve_check(t, len);
	if (rc)
		return rc;
	rc = uring_thread_get(&ts);
	if (rc)
		return rc;
	if (codec != TIER_CODEC_RAW)
		packed = pack(ts, codec, buf, len, &packed_buf, &used);
	if (packed) {
		op.buf = packed_buf;
		op.len = packed;
	}
	*ncrc = TIER_NCRC(op.len);
	for (uint32_t i = 0; i < *ncrc; i++) {
		uint32_t pos = i * TIER_BLOCK;

		crcs[i] = tier_crc32c(0, op.buf + pos,
				      op.len - pos < TIER_BLOCK ? op.len - pos : TIER_BLOCK);
	}
	rc = seg_reserve(t, op.len, &seg, &op.off, &op.fd);
	if (rc)
		return rc;
	uring_run(ts, &op, 1);
	/* Start writing a large extent to the disk now rather than at the
	 * next fsync or when the kernel gets to it: a checkpoint's or a big
	 * file's fsync then finds most of it written (it is not durable
	 * before that fsync either way). */
	if (op.res == 0 && op.len >= TIER_EARLY_WRITEBACK)
		(void)sync_file_range(op.fd, (off64_t)op.off, op.len, SYNC_FILE_RANGE_WRITE);
	seg_put(t, seg, op.res == 0);
	if (op.res)
		return local_fail(t, op.res, "write of %" PRIu32 " bytes at offset %" PRIu64
			    " of segment %" PRIu32 " failed: %s", op.len, op.off, seg,
			    strerror(-op.res));
	*ref = (struct tier_ref){
		.tier = (uint8_t)t->id,
		.codec = (uint8_t)(packed ? used : TIER_CODEC_RAW),
		.seg = seg,
		.off = op.off,
		.stored_len = op.len,
		.raw_len = len,
	};
	return 0;
}

/* ---- sync, segments, space ------------------------------------------- */

/* Segments are taken one at a time, each with a reference, so that the
 * fdatasyncs run without the lock.  A failed fdatasync does not mark the
 * segment dirty again: Linux reports a writeback error once per file and
 * may have dropped the pages, so a retry could succeed over lost data. */
static int local_sync(struct tier *base)
{
	struct local *t = (struct local *)base;
	bool dir_dirty;
	int rc = 0, err;

	for (uint32_t i = 0; ; i++) {
		struct seg *s;
		int fd = -1;

		pthread_mutex_lock(&t->lock);
		if (i >= t->nsegs) {
			pthread_mutex_unlock(&t->lock);
			break;
		}
		s = &t->segs[i];
		if (s->present && s->dirty) {
			s->dirty = false;
			s->refs++;
			fd = s->fd;
		}
		pthread_mutex_unlock(&t->lock);
		if (fd < 0)
			continue;
		if (fdatasync(fd) < 0) {
			err = local_fail(t, -errno, "fdatasync of segment %" PRIu32 " failed: %m", i);
			rc = rc ? rc : err;
		}
		seg_put(t, i, false);
	}
	/* Created and removed segment names are durable only with the directory. */
	pthread_mutex_lock(&t->lock);
	dir_dirty = t->dir_dirty;
	t->dir_dirty = false;
	pthread_mutex_unlock(&t->lock);
	if (dir_dirty && fsync(t->dirfd) < 0) {
		err = local_fail(t, -errno, "fsync of directory %s failed: %m", t->dir);
		pthread_mutex_lock(&t->lock);
		t->dir_dirty = true;
		pthread_mutex_unlock(&t->lock);
		rc = rc ? rc : err;
	}
	return rc;
}

static int local_discard(struct tier *base, const struct tier_ref *ref, uint32_t inner, uint32_t len)
{
	struct local *t = (struct local *)base;
	uint64_t start, end;
	int fd, rc;

	if (len == 0 || (ref->codec != TIER_CODEC_RAW && (inner || len < ref->raw_len)))
		return 0;
	if (ref->codec != TIER_CODEC_RAW) {
		inner = 0;
		len = ref->stored_len;
	}
	start = ref->off + inner;
	end = start + len;
	/* The block tail past the extent's end belongs to no other extent. */
	if (inner + len >= ref->stored_len)
		end = (end + TIER_BLOCK - 1) & ~(uint64_t)(TIER_BLOCK - 1);
	start = (start + TIER_BLOCK - 1) & ~(uint64_t)(TIER_BLOCK - 1);
	end &= ~(uint64_t)(TIER_BLOCK - 1);
	if (end <= start)
		return 0;
	rc = seg_get(t, ref, &fd);
	if (rc)
		return rc;
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)start,
		      (off_t)(end - start)) < 0)
		rc = local_fail(t, -errno, "cannot free %" PRIu64 " bytes of segment %" PRIu32 ": %s",
			  end - start, ref->seg, strerror(errno));
	seg_put(t, ref->seg, false);
	return rc;
}

static int local_seg_remove(struct tier *base, uint32_t seg)
{
	struct local *t = (struct local *)base;
	char name[SEG_NAME_SIZE];
	struct seg *s;
	int rc = 0;

	seg_name(name, seg);
	pthread_mutex_lock(&t->lock);
	s = seg < t->nsegs ? &t->segs[seg] : NULL;
	if (seg == t->active)
		rc = local_fail(t, -EBUSY, "segment %" PRIu32 " is being appended to and cannot be "
			  "removed", seg);
	else if (!s || !s->present)
		rc = local_fail(t, -ENOENT, "cannot remove segment %" PRIu32 ": no such segment", seg);
	else if (unlinkat(t->dirfd, name, 0) < 0)
		rc = local_fail(t, -errno, "cannot remove segment %s/%s: %m", t->dir, name);
	else {
		t->used -= s->size;
		s->present = false;
		s->dirty = false;
		s->size = 0;
		t->dir_dirty = true;
		/* Readers still in flight keep the fd; the last seg_put closes it. */
		if (s->refs == 0 && s->fd >= 0) {
			close(s->fd);
			s->fd = -1;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

/* Bytes of segment SEG backed by storage within its size (lock held):
 * data ranges found with SEEK_DATA / SEEK_HOLE, so that blocks a file
 * system preallocates past the end are not counted. */
static uint64_t seg_allocated(struct local *t, uint32_t seg)
{
	char name[SEG_NAME_SIZE];
	uint64_t sum = 0;
	off_t pos = 0, hole;
	struct stat st;
	int fd;

	seg_name(name, seg);
	fd = openat(t->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0) {
		while (pos < st.st_size && (pos = lseek(fd, pos, SEEK_DATA)) >= 0) {
			hole = lseek(fd, pos, SEEK_HOLE);
			if (hole < 0)
				break;
			sum += (uint64_t)(hole - pos);
			pos = hole;
		}
	}
	close(fd);
	return sum;
}

/* An absent segment is an answer here, not an error, so it is not logged. */
static int64_t local_seg_size(struct tier *base, uint32_t seg)
{
	struct local *t = (struct local *)base;
	int64_t size = -ENOENT;

	pthread_mutex_lock(&t->lock);
	if (seg < t->nsegs && t->segs[seg].present)
		size = (int64_t)t->segs[seg].size;
	pthread_mutex_unlock(&t->lock);
	return size;
}

static int64_t local_seg_allocated(struct tier *base, uint32_t seg)
{
	struct local *t = (struct local *)base;
	int64_t size = -ENOENT;

	pthread_mutex_lock(&t->lock);
	if (seg < t->nsegs && t->segs[seg].present)
		size = (int64_t)seg_allocated(t, seg);
	pthread_mutex_unlock(&t->lock);
	return size;
}

static uint32_t local_active_seg(struct tier *base)
{
	struct local *t = (struct local *)base;
	uint32_t seg;

	pthread_mutex_lock(&t->lock);
	seg = t->active;
	pthread_mutex_unlock(&t->lock);
	return seg;
}

/* FN runs on a copy of the list, without the lock, so that it may call
 * back into the tier (to remove a segment, say). */
static int local_seg_foreach(struct tier *base, int (*fn)(void *ctx, uint32_t seg, uint64_t size),
		     void *ctx)
{
	struct local *t = (struct local *)base;
	struct { uint32_t seg; uint64_t size; } *list;
	uint32_t n = 0, i;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	list = malloc((t->nsegs ? t->nsegs : 1) * sizeof *list);
	for (i = 0; list && i < t->nsegs; i++) {
		if (t->segs[i].present) {
			list[n].seg = i;
			list[n++].size = t->segs[i].size;
		}
	}
	pthread_mutex_unlock(&t->lock);
	if (!list)
		return local_fail(t, -ENOMEM, "cannot list segments: %s", strerror(ENOMEM));
	for (i = 0; i < n && rc == 0; i++)
		rc = fn(ctx, list[i].seg, list[i].size);
	free(list);
	return rc;
}

static int local_space(struct tier *base, struct tier_space *out)
{
	struct local *t = (struct local *)base;
	struct statvfs sv;
	struct stat st;

	if (fstatvfs(t->dirfd, &sv) < 0 || fstat(t->dirfd, &st) < 0)
		return local_fail(t, -errno, "fstatvfs of %s failed: %m", t->dir);
	pthread_mutex_lock(&t->lock);
	out->used = t->used;
	out->allocated = 0;
	for (uint32_t i = 0; i < t->nsegs; i++)
		if (t->segs[i].present)
			out->allocated += seg_allocated(t, i);
	pthread_mutex_unlock(&t->lock);
	out->total = (uint64_t)sv.f_blocks * sv.f_frsize;
	out->avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	out->dev = (uint64_t)st.st_dev;
	return 0;
}

struct dcache *local_dcache(struct local *t)
{
	return t->dcache;
}

static const struct tier_ops local_ops = {
	.append = local_append,
	.read_batch = local_read_batch,
	.sync = local_sync,
	.discard = local_discard,
	.seg_remove = local_seg_remove,
	.seg_size = local_seg_size,
	.seg_allocated = local_seg_allocated,
	.active_seg = local_active_seg,
	.seg_foreach = local_seg_foreach,
	.space = local_space,
	.set_seg_max = local_set_seg_max,
	.close = local_close,
};
