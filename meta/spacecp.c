/* spacecp.c — the reference counts of stored extents, kept on disk so
 * that a mount does not count them by reading every extent record of the
 * store (see spacecp.h).
 *
 * Two parts:
 *   - a checkpoint file, STORE/space.counts: every stored extent with its
 *     count, sorted, written whole (to a temporary name, synced, renamed);
 *   - the space log in the metadata (meta.h): every batch that puts or
 *     deletes extent records logs the change of each count, in the same
 *     batch, so that a crash never separates the two.
 * The 'S' "space" record names the checkpoint the log continues (a random
 * epoch written into the file too, and the last log id the file holds):
 * a file that does not match it (another copy of the metadata, a crash
 * between writing the file and the record) is not used.  The counts are
 * the file's plus the log's records past it.  Compaction writes a new file
 * of those counts, then in one batch the new record and the deletion of
 * the log it took in.
 *
 * Format (little-endian):
 *   "AIFSSPC1" | epoch u64 | log end u64 | n u64 |
 *   n x (tier u8, seg u32, off u64, stored_len u32, refs u32) | crc32c u32
 * (the checksum covers everything after the magic).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "meta/spacecp.h"
#include "meta/store.h"
#include "meta/store_priv.h"
#include "tier/log.h"

#define MAGIC		"AIFSSPC1"
#define HDR_LEN		(8 + 8 + 8 + 8)
#define ENT_LEN		21
#define FILE_NAME	"space.counts"

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

int space_count_cmp(const void *a, const void *b)
{
	const struct space_count *x = a, *y = b;

	if (x->tier != y->tier)
		return x->tier < y->tier ? -1 : 1;
	if (x->seg != y->seg)
		return x->seg < y->seg ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* --- the file ------------------------------------------------------------- */

static int file_read(struct store *s, uint64_t *epoch, uint64_t *log_end,
		     struct space_count **out, size_t *nout, char *why, size_t whylen)
{
	char *path = store_path_join(s->path, FILE_NAME);
	uint8_t *buf = NULL;
	struct space_count *v = NULL;
	struct stat st;
	uint64_t n;
	size_t len;
	int fd, rc = 0;

	if (!path)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0) {
		snprintf(why, whylen, "no %s: %s", FILE_NAME, strerror(errno));
		return -ENOENT;
	}
	if (fstat(fd, &st) < 0 || st.st_size < HDR_LEN + 4) {
		snprintf(why, whylen, "%s is cut short", FILE_NAME);
		rc = -EBADMSG;
		goto out;
	}
	len = (size_t)st.st_size;
	buf = malloc(len);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t got = 0; got < len;) {
		ssize_t r = pread(fd, buf + got, len - got, (off_t)got);

		if (r <= 0) {
			snprintf(why, whylen, "%s cannot be read: %s", FILE_NAME,
				 r < 0 ? strerror(errno) : "cut short");
			rc = r < 0 ? -errno : -EBADMSG;
			goto out;
		}
		got += (size_t)r;
	}
	n = get_le(buf + 24, 8);
	if (memcmp(buf, MAGIC, 8) || n > (len - HDR_LEN - 4) / ENT_LEN ||
	    len != HDR_LEN + n * ENT_LEN + 4 ||
	    tier_crc32c(0, buf + 8, len - 12) != (uint32_t)get_le(buf + len - 4, 4)) {
		snprintf(why, whylen, "%s is damaged", FILE_NAME);
		rc = -EBADMSG;
		goto out;
	}
	*epoch = get_le(buf + 8, 8);
	*log_end = get_le(buf + 16, 8);
	v = malloc((n ? n : 1) * sizeof(*v));
	if (!v) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < n; i++) {
		const uint8_t *p = buf + HDR_LEN + i * ENT_LEN;

		v[i] = (struct space_count){ .tier = p[0], .seg = (uint32_t)get_le(p + 1, 4),
					     .off = get_le(p + 5, 8),
					     .len = (uint32_t)get_le(p + 13, 4),
					     .refs = (uint32_t)get_le(p + 17, 4) };
		if (i && space_count_cmp(&v[i - 1], &v[i]) >= 0) {
			snprintf(why, whylen, "%s is out of order", FILE_NAME);
			rc = -EBADMSG;
			goto out;
		}
	}
	*out = v;
	*nout = (size_t)n;
	v = NULL;
out:
	free(v);
	free(buf);
	close(fd);
	return rc;
}

static int file_write(const char *dir, uint64_t epoch, uint64_t log_end,
		      const struct space_count *v, size_t n)
{
	char *path = store_path_join(dir, FILE_NAME);
	char *tmp = store_path_join(dir, FILE_NAME ".tmp");
	size_t len = HDR_LEN + n * ENT_LEN + 4;
	uint8_t *buf = malloc(len);
	int fd = -1, rc = 0;

	if (!path || !tmp || !buf) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(buf, MAGIC, 8);
	put_le(buf + 8, epoch, 8);
	put_le(buf + 16, log_end, 8);
	put_le(buf + 24, n, 8);
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = buf + HDR_LEN + i * ENT_LEN;

		p[0] = v[i].tier;
		put_le(p + 1, v[i].seg, 4);
		put_le(p + 5, v[i].off, 8);
		put_le(p + 13, v[i].len, 4);
		put_le(p + 17, v[i].refs, 4);
	}
	put_le(buf + len - 4, tier_crc32c(0, buf + 8, len - 12), 4);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	for (size_t put = 0; put < len;) {
		ssize_t w = write(fd, buf + put, len - put);

		if (w < 0) {
			rc = -errno;
			goto out;
		}
		put += (size_t)w;
	}
	if (fsync(fd) < 0 || rename(tmp, path) < 0) {
		rc = -errno;
		goto out;
	}
	close(fd);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);	/* the rename, durable */
	if (fd < 0 || fsync(fd) < 0)
		rc = -errno;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp)
		unlink(tmp);
	free(buf);
	free(path);
	free(tmp);
	return rc;
}

/* --- the counts: the file and the log since ------------------------------ */

struct gather {
	struct space_delta *d;
	size_t n, cap;
	uint64_t last;
};

static int gather_cb(void *ctx, uint64_t id, const struct space_delta *d, size_t n)
{
	struct gather *g = ctx;

	if (g->n + n > g->cap) {
		size_t cap = g->cap ? g->cap : 1024;
		struct space_delta *v;

		while (cap < g->n + n)
			cap *= 2;
		v = realloc(g->d, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		g->d = v;
		g->cap = cap;
	}
	memcpy(g->d + g->n, d, n * sizeof(*d));
	g->n += n;
	g->last = id;
	return 0;
}

static int delta_cmp(const void *a, const void *b)
{
	const struct space_delta *x = a, *y = b;

	if (x->tier != y->tier)
		return x->tier < y->tier ? -1 : 1;
	if (x->seg != y->seg)
		return x->seg < y->seg ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* V (sorted) plus the changes D (any order) into *OUT (sorted, counts of
 * zero left out); -EBADMSG if a count would go below zero. */
static int apply(const struct space_count *v, size_t n, struct space_delta *d, size_t nd,
		 struct space_count **out, size_t *nout, char *why, size_t whylen)
{
	struct space_count *r = malloc((n + nd ? n + nd : 1) * sizeof(*r));
	size_t i = 0, j = 0, k = 0;

	if (!r)
		return -ENOMEM;
	if (nd)
		qsort(d, nd, sizeof(*d), delta_cmp);
	while (i < n || j < nd) {
		struct space_count c;
		int64_t refs;

		if (j == nd || (i < n && space_count_cmp(&v[i], &(struct space_count){
				.tier = d[j].tier, .seg = d[j].seg, .off = d[j].off }) < 0)) {
			r[k++] = v[i++];
			continue;
		}
		c = (struct space_count){ .tier = d[j].tier, .seg = d[j].seg, .off = d[j].off,
					  .len = d[j].len };
		refs = 0;
		if (i < n && !space_count_cmp(&v[i], &c)) {
			refs = v[i].refs;
			c.len = v[i].len;
			i++;
		}
		for (; j < nd && d[j].tier == c.tier && d[j].seg == c.seg && d[j].off == c.off; j++) {
			refs += d[j].delta;
			if (d[j].delta > 0)
				c.len = d[j].len;
		}
		if (refs < 0 || refs > UINT32_MAX) {
			snprintf(why, whylen, "the count of the extent in tier %u segment %u at %llu "
				 "would be %lld", c.tier, c.seg, (unsigned long long)c.off,
				 (long long)refs);
			free(r);
			return -EBADMSG;
		}
		if (refs) {
			c.refs = (uint32_t)refs;
			r[k++] = c;
		}
	}
	*out = r;
	*nout = k;
	return 0;
}

int store_space_load(struct store *s, struct space_count **out, size_t *n, uint64_t *log_end,
		     char *why, size_t whylen)
{
	struct space_count *v = NULL;
	struct gather g = { 0 };
	uint64_t epoch, end, fepoch = 0, fend = 0, upto;
	size_t nv = 0;
	int rc;

	snprintf(why, whylen, "none kept");
	rc = meta_space_mark_get(s->meta, &epoch, &end);
	if (rc == -ENOENT) {
		snprintf(why, whylen, "none kept in this store's metadata");
		return -ENOENT;
	}
	if (rc < 0)
		return rc;
	rc = file_read(s, &fepoch, &fend, &v, &nv, why, whylen);
	if (rc < 0)
		return rc == -ENOMEM ? rc : -ENOENT;
	if (fepoch != epoch || fend != end) {
		snprintf(why, whylen, "%s is not the one the metadata names", FILE_NAME);
		free(v);
		return -ENOENT;
	}
	rc = meta_space_log_stable(s->meta, &upto);
	g.last = end;
	if (rc == 0)
		rc = meta_space_log_foreach(s->meta, end, upto, gather_cb, &g);
	if (rc == 0)
		rc = apply(v, nv, g.d, g.n, out, n, why, whylen);
	if (rc == 0)
		*log_end = g.last;
	free(v);
	free(g.d);
	return rc;
}

int space_checkpoint_write(const char *dir, struct meta *m, const struct space_count *v,
			   size_t n, uint64_t log_end)
{
	struct meta_batch *b;
	uint64_t epoch;
	int rc;

	if (getrandom(&epoch, sizeof(epoch), 0) != sizeof(epoch))
		epoch = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	rc = file_write(dir, epoch, log_end, v, n);
	if (rc < 0)
		return rc;
	b = meta_batch_new();
	if (!b)
		return -ENOMEM;
	meta_space_mark_put(b, epoch, log_end);
	meta_space_log_trim(b, log_end);
	rc = meta_batch_commit(m, b, true);
	meta_batch_free(b);
	return rc;
}

int store_space_save(struct store *s, const struct space_count *v, size_t n, uint64_t log_end)
{
	return space_checkpoint_write(s->path, s->meta, v, n, log_end);
}

int store_space_compact(struct store *s, size_t *nout)
{
	struct space_count *v = NULL;
	uint64_t end;
	size_t n = 0;
	char why[256];
	int rc = store_space_load(s, &v, &n, &end, why, sizeof(why));

	if (rc == 0)
		rc = store_space_save(s, v, n, end);
	if (rc == 0 && nout)
		*nout = n;
	free(v);
	return rc;
}
