/* prealloc.c — space that fallocate reserves (see fs.h for the model).
 *
 * Invariant: fs->prealloc_total is the sum of every inode's committed
 * reservation, loaded or not (prealloc_init sums the 'r' records at mount;
 * each later change goes through prealloc_apply after its commit, or
 * prealloc_drop with the content).  A loaded inode's prealloc equals its
 * 'r' record.
 */
#include "fs/fs.h"
#include "fs/extmap.h"
#include "fs/prealloc.h"
#include "meta/records.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define REC_PREALLOC META_REC_PREALLOC	/* meta/records.h */

static void rec_key(uint8_t k[8], uint64_t ino)
{
	for (int i = 7; i >= 0; i--, ino >>= 8)
		k[i] = (uint8_t)ino;
}

static uint64_t rec_val(const void *v, size_t len)
{
	const uint8_t *p = v;
	uint64_t x = 0;

	if (len != 8)
		return 0;
	for (int i = 7; i >= 0; i--)
		x = x << 8 | p[i];
	return x;
}

static int sum_one(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	(void)key;
	(void)klen;
	*(uint64_t *)ctx += rec_val(val, vlen);
	return 0;
}

int prealloc_init(struct fs *fs)
{
	uint64_t total = 0;
	int rc = meta_rec_foreach(fs->meta, REC_PREALLOC, NULL, 0, sum_one, &total);

	if (rc < 0) {
		log_err("cannot read the space reserved by fallocate: %s", strerror(-rc));
		return rc;
	}
	__atomic_store_n(&fs->prealloc_total, total, __ATOMIC_RELAXED);
	return 0;
}

int prealloc_load(struct fs *fs, struct inode *in)
{
	uint8_t k[8];
	void *v;
	size_t len;
	int rc;

	in->prealloc = in->prealloc_next = 0;
	if (!(in->attr.flags & META_IF_PREALLOC))
		return 0;
	rec_key(k, in->ino);
	rc = meta_rec_get(fs->meta, REC_PREALLOC, k, sizeof(k), &v, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	in->prealloc = in->prealloc_next = rec_val(v, len);
	free(v);
	return 0;
}

/* Stage NEXT as IN's reservation in B. */
static void stage(struct inode *in, struct meta_batch *b, uint64_t next)
{
	uint8_t k[8], v[8];
	uint64_t x = next;

	in->prealloc_next = next;
	if (next == in->prealloc)
		return;
	rec_key(k, in->ino);
	if (next == 0) {
		meta_rec_del(b, REC_PREALLOC, k, sizeof(k));
		in->attr.flags &= ~META_IF_PREALLOC;
	} else {
		for (int i = 0; i < 8; i++, x >>= 8)
			v[i] = (uint8_t)x;
		meta_rec_put(b, REC_PREALLOC, k, sizeof(k), v, sizeof(v));
		in->attr.flags |= META_IF_PREALLOC;
	}
}

uint64_t prealloc_avail(struct fs *fs, uint64_t avail)
{
	uint64_t held = __atomic_load_n(&fs->prealloc_total, __ATOMIC_RELAXED);

	return avail > held ? avail - held : 0;
}

static int hot_avail(struct fs *fs, uint64_t *avail)
{
	struct tier_space sp;
	int rc = tier_space(fs->tiers[TIER_HOT], &sp);

	if (rc < 0)
		return rc;
	/* the tier refuses new data in its reserve (reserve=MB): never promise it */
	*avail = sp.avail > fs->reserve ? sp.avail - fs->reserve : 0;
	return 0;
}

int prealloc_add(struct fs *fs, struct inode *in, struct meta_batch *b, uint64_t off,
		 uint64_t len)
{
	uint64_t end = off + len, need = len - fs_map_covered(in, off, end);
	uint64_t top = end > in->attr.size ? end : in->attr.size;
	uint64_t stored = in->attr.flags & META_IF_INLINE ? in->wb_len : in->attr.alloc;
	uint64_t next = in->prealloc + need, avail;
	int rc;

	/* A byte count, not ranges: never more than the bytes nothing holds. */
	if (next > top - (stored < top ? stored : top))
		next = top - (stored < top ? stored : top);
	if (next < in->prealloc)
		next = in->prealloc;
	if (next == in->prealloc) {
		in->prealloc_next = next;
		return 0;
	}
	rc = hot_avail(fs, &avail);
	if (rc < 0)
		return rc;
	if (prealloc_avail(fs, avail) < next - in->prealloc)
		return -ENOSPC;
	stage(in, b, next);
	return 0;
}

void prealloc_trim(struct inode *in, struct meta_batch *b, uint64_t size)
{
	uint64_t stored = in->attr.alloc;
	uint64_t room = size > stored ? size - stored : 0;

	stage(in, b, in->prealloc < room ? in->prealloc : room);
}

int prealloc_write(struct fs *fs, struct inode *in, struct meta_batch *b, uint64_t off,
		   uint64_t len)
{
	uint64_t held = __atomic_load_n(&fs->prealloc_total, __ATOMIC_RELAXED);
	uint64_t fresh, use, avail;
	int rc;

	in->prealloc_next = in->prealloc;
	if (held == 0)
		return 0;		/* no reservation anywhere: nothing to keep */
	fresh = len - fs_map_covered(in, off, off + len);
	use = fresh < in->prealloc ? fresh : in->prealloc;
	if (held - in->prealloc > 0) {
		rc = hot_avail(fs, &avail);
		if (rc < 0)
			return rc;
		/* LEN bytes go to disk; USE of them were held back already */
		if (avail < len - use || avail - (len - use) < held - use)
			return -ENOSPC;
	}
	if (b)
		stage(in, b, in->prealloc - use);
	return 0;
}

void prealloc_apply(struct fs *fs, struct inode *in)
{
	uint64_t old = in->prealloc, next = in->prealloc_next;

	if (next > old)
		__atomic_add_fetch(&fs->prealloc_total, next - old, __ATOMIC_RELAXED);
	else if (next < old)
		__atomic_sub_fetch(&fs->prealloc_total, old - next, __ATOMIC_RELAXED);
	in->prealloc = next;
}

void prealloc_drop(struct fs *fs, struct inode *in, struct meta_batch *b)
{
	if (!in->prealloc)
		return;
	stage(in, b, 0);
	prealloc_apply(fs, in);
}
