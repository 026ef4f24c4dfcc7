/* meta.c — the record formats of the metadata store, kind by kind (see meta.h
 * for the key schema).
 *
 * Values.  Integers are little-endian; inodes, dentries and extents start
 * with a one-byte record version so that each kind can evolve on its own
 * (a reader rejects a version or a length it does not know as corruption;
 * the kind bytes are those of meta/records.h):
 *
 *   'I' ino          v1: mode, uid, gid, nlink u32; size, rdev u64;
 *                        atime, mtime, ctime, btime i64; flags u32;
 *                        policy u8; generation, alloc u64     (86 bytes)
 *   'D' parent name  v1: ino u64, type u32                    (13 bytes)
 *   'E' ino foff     v1: tier u8, codec u8, seg u32, off u64, stored_len u32,
 *                        raw_len u32, len u64, inner u32, ncrc u32,
 *                        crcs u32[ncrc]                       (39 + 4 ncrc)
 *   'X' ino name     the attribute value
 *   'L' ino          the symlink target
 *   'N' ino          the inline data
 *   'O' ino          empty
 *   'S' "format"     format version u32 (no record version: it *is* the
 *                    version everything else is read under)
 *
 * The inode number and the file offset are in the key only.  RocksDB
 * itself (open, batches, reads, iteration) is reached through db.h.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "meta/db.h"
#include "meta/keys.h"
#include "meta/meta.h"
#include "meta/meta_priv.h"
#include "meta/records.h"
#include "tier/log.h"

#define INODE_V1_LEN	86
#define DENTRY_V1_LEN	13
#define EXTENT_V1_HDR	39
/* Most checksums an extent can have: tier_append takes at most
 * TIER_EXTENT_MAX bytes and never stores them larger than given. */
#define EXTENT_NCRC_MAX	TIER_NCRC(TIER_EXTENT_MAX)

static const uint8_t format_key[] = { META_REC_SUPER, 'f', 'o', 'r', 'm', 'a', 't' };

/* --- errors and value encodings --------------------------------------- */

int meta_corrupt(const char *what, const uint8_t *k, size_t klen, size_t vlen)
{
	uint64_t ino = klen >= 9 ? key_get_u64(k + 1) : 0;

	log_err("meta: corrupt %s record of inode %llu (key %zu bytes, value %zu bytes)",
		what, (unsigned long long)ino, klen, vlen);
	return -EIO;
}

uint8_t *meta_le_put(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
	return p + n;
}

uint64_t meta_le_get(const uint8_t **p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | (*p)[i];
	*p += n;
	return v;
}

static size_t inode_encode(uint8_t *v, const struct meta_inode *in)
{
	uint8_t *p = v;

	*p++ = 1;
	p = meta_le_put(p, in->mode, 4);
	p = meta_le_put(p, in->uid, 4);
	p = meta_le_put(p, in->gid, 4);
	p = meta_le_put(p, in->nlink, 4);
	p = meta_le_put(p, in->size, 8);
	p = meta_le_put(p, in->rdev, 8);
	p = meta_le_put(p, (uint64_t)in->atime, 8);
	p = meta_le_put(p, (uint64_t)in->mtime, 8);
	p = meta_le_put(p, (uint64_t)in->ctime, 8);
	p = meta_le_put(p, (uint64_t)in->btime, 8);
	p = meta_le_put(p, in->flags, 4);
	*p++ = in->policy;
	p = meta_le_put(p, in->generation, 8);
	p = meta_le_put(p, in->alloc, 8);
	return (size_t)(p - v);
}

static int inode_decode(const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
			struct meta_inode *out)
{
	const uint8_t *p = v + 1;

	if (klen != 9 || vlen != INODE_V1_LEN || v[0] != 1)
		return meta_corrupt("inode", k, klen, vlen);
	out->ino = key_get_u64(k + 1);
	out->mode = (uint32_t)meta_le_get(&p, 4);
	out->uid = (uint32_t)meta_le_get(&p, 4);
	out->gid = (uint32_t)meta_le_get(&p, 4);
	out->nlink = (uint32_t)meta_le_get(&p, 4);
	out->size = meta_le_get(&p, 8);
	out->rdev = meta_le_get(&p, 8);
	out->atime = (int64_t)meta_le_get(&p, 8);
	out->mtime = (int64_t)meta_le_get(&p, 8);
	out->ctime = (int64_t)meta_le_get(&p, 8);
	out->btime = (int64_t)meta_le_get(&p, 8);
	out->flags = (uint32_t)meta_le_get(&p, 4);
	out->policy = *p++;
	out->generation = meta_le_get(&p, 8);
	out->alloc = meta_le_get(&p, 8);
	return 0;
}

static int dentry_decode(const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
			 uint64_t *ino, uint32_t *type)
{
	const uint8_t *p = v + 1;

	if (vlen != DENTRY_V1_LEN || v[0] != 1)
		return meta_corrupt("dentry", k, klen, vlen);
	*ino = meta_le_get(&p, 8);
	*type = (uint32_t)meta_le_get(&p, 4);
	return 0;
}

/* Decode an extent; CRCS has room for EXTENT_NCRC_MAX entries. */
static int extent_decode(const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
			 struct meta_extent *e, uint32_t *crcs)
{
	const uint8_t *p = v + 1;

	if (klen != 17 || vlen < EXTENT_V1_HDR || v[0] != 1)
		return meta_corrupt("extent", k, klen, vlen);
	e->foff = key_get_u64(k + 9);
	e->ref.tier = *p++;
	e->ref.codec = *p++;
	e->ref.seg = (uint32_t)meta_le_get(&p, 4);
	e->ref.off = meta_le_get(&p, 8);
	e->ref.stored_len = (uint32_t)meta_le_get(&p, 4);
	e->ref.raw_len = (uint32_t)meta_le_get(&p, 4);
	e->len = meta_le_get(&p, 8);
	e->inner = (uint32_t)meta_le_get(&p, 4);
	e->ncrc = (uint32_t)meta_le_get(&p, 4);
	if (e->ncrc > EXTENT_NCRC_MAX || vlen != EXTENT_V1_HDR + 4 * (size_t)e->ncrc)
		return meta_corrupt("extent", k, klen, vlen);
	for (uint32_t i = 0; i < e->ncrc; i++)
		crcs[i] = (uint32_t)meta_le_get(&p, 4);
	e->crcs = crcs;
	return 0;
}

int meta_extent_ref(const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
		    struct tier_ref *r)
{
	uint32_t crcs[EXTENT_NCRC_MAX];
	struct meta_extent e;
	int rc = extent_decode(k, klen, v, vlen, &e, crcs);

	if (rc == 0)
		*r = e.ref;
	return rc;
}

/* --- record helpers ----------------------------------------------------- */

/* Put / delete the record "KIND | INO". */
static void ino_put(struct meta_batch *b, uint8_t kind, uint64_t ino,
		    const void *v, size_t vlen)
{
	uint8_t k[KEY_MAX];

	db_batch_put(b, k, key_ino(k, kind, ino), v, vlen);
}

static void ino_del(struct meta_batch *b, uint8_t kind, uint64_t ino)
{
	uint8_t k[KEY_MAX];

	db_batch_del(b, k, key_ino(k, kind, ino));
}

/* Delete every record "KIND | INO | ..." with one range tombstone. */
/* Point-delete every KIND record of INO.  Not a range delete: RocksDB
 * re-fragments range tombstones on every read of the memtable, so a few
 * thousand of them (one per deleted file) make every lookup slow. */
static void ino_del_all(struct meta *m, struct meta_batch *b, uint8_t kind, uint64_t ino)
{
	uint8_t prefix[KEY_MAX];
	size_t plen = key_ino(prefix, kind, ino);
	struct db_cursor c;
	int rc = db_cur_open(&c, m, prefix, plen, prefix, plen);

	if (rc)
		return;
	while (db_cur_next(&c)) {
		/* an extent record that goes takes its reference along */
		if (kind == META_REC_EXTENT) {
			uint32_t crcs[EXTENT_NCRC_MAX];
			struct meta_extent e;

			if (extent_decode(c.k, c.klen, c.v, c.vlen, &e, crcs) == 0)
				meta_space_delta(b, &e.ref, -1);
		}
		db_batch_del(b, c.k, c.klen);
	}
	rc = db_cur_close(&c, 0);
	if (rc)
		log_err("meta: cannot list records of inode %llu to delete them: %s",
			(unsigned long long)ino, strerror(-rc));
}

/* --- inodes ------------------------------------------------------------ */

/* INO of an epoch snapshot, at its epoch: read-only, as a snapshot's
 * files are (no set-id bits, the flags a frozen copy keeps). */
static int inode_view(struct meta *m, uint64_t ino, struct meta_inode *out)
{
	struct meta_epoch ep;
	uint8_t k[KEY_MAX];
	size_t klen, vlen;
	void *v;
	int rc = hist_snap_epoch(m, ino, &ep);

	if (rc)
		return rc;
	klen = key_ino(k, META_REC_INODE, meta_snap_live(ino));
	rc = hist_view_get(m, k, klen, ep.epoch, &v, &vlen);
	if (rc)
		return rc;
	rc = inode_decode(k, klen, v, vlen, out);
	free(v);
	if (rc)
		return rc;
	out->ino = ino;
	out->mode &= ~(uint32_t)(S_ISUID | S_ISGID);
	out->flags = (out->flags & (META_IF_XATTR | META_IF_INLINE)) | META_IF_SNAPSHOT |
		     (meta_snap_live(ino) == ep.ds ? META_IF_SNAPROOT : 0);
	if (out->flags & META_IF_SNAPROOT)
		out->ctime = ep.time;	/* the snapshot's time, as listings show it */
	return 0;
}

int meta_inode_get(struct meta *m, uint64_t ino, struct meta_inode *out)
{
	uint8_t k[KEY_MAX];
	size_t klen;
	struct db_pinned p;
	int rc;

	if (meta_ino_is_snap(ino))
		return inode_view(m, ino, out);
	klen = key_ino(k, META_REC_INODE, ino);
	rc = db_get_pinned(m, k, klen, &p);
	if (rc)
		return rc;
	rc = inode_decode(k, klen, p.v, p.len, out);
	db_unpin(&p);
	return rc;
}

void meta_inode_put(struct meta_batch *b, const struct meta_inode *in)
{
	uint8_t v[INODE_V1_LEN];

	ino_put(b, META_REC_INODE, in->ino, v, inode_encode(v, in));
}

void meta_inode_del(struct meta_batch *b, uint64_t ino)
{
	ino_del(b, META_REC_INODE, ino);
}

/* An empty store answers META_ROOT_INO too, so that "max + 1" is always
 * a free inode number.  The lower bound "I" keeps the search from taking
 * a key of the kinds sorting before 'I' when there is no inode. */
int meta_inode_max(struct meta *m, uint64_t *out)
{
	static const uint8_t lower[] = { META_REC_INODE };
	uint8_t last[KEY_MAX], k[KEY_MAX];
	size_t llen = key_ino(last, META_REC_INODE, UINT64_MAX), klen;
	int rc = db_last_key(m, "inode max", lower, sizeof(lower), last, llen, k, &klen);

	*out = META_ROOT_INO;
	if (rc == -ENOENT)
		return 0;
	if (rc == 0 && klen == 9)
		*out = key_get_u64(k + 1);
	else if (rc == 0)
		rc = meta_corrupt("inode", k, klen, 0);
	return rc;
}

int meta_inode_foreach(struct meta *m,
		       int (*fn)(void *ctx, const struct meta_inode *in), void *ctx)
{
	const uint8_t prefix[] = { META_REC_INODE };
	struct meta_inode in;
	struct db_cursor c;
	int rc = db_cur_open(&c, m, prefix, 1, prefix, 1);

	if (rc)
		return rc;
	while (rc == 0 && db_cur_next(&c)) {
		rc = inode_decode(c.k, c.klen, c.v, c.vlen, &in);
		if (rc == 0)
			rc = fn(ctx, &in);
	}
	return db_cur_close(&c, rc);
}

/* --- dentries ---------------------------------------------------------- */

int meta_dentry_get(struct meta *m, uint64_t parent, const char *name, size_t len,
		    uint64_t *ino, uint32_t *type)
{
	uint8_t k[KEY_MAX];
	size_t klen;
	struct db_pinned p;
	int rc;

	if (len > META_NAME_MAX)
		return -ENAMETOOLONG;
	if (meta_ino_is_snap(parent)) {
		void *v;
		size_t vlen;

		rc = hist_snap_get(m, META_REC_DENTRY, parent, name, len, &v, &vlen);
		if (rc)
			return rc;
		klen = key_ino_name(k, META_REC_DENTRY, meta_snap_live(parent), name, len);
		rc = dentry_decode(k, klen, v, vlen, ino, type);
		free(v);
		if (rc == 0)
			*ino = meta_snap_ino(meta_snap_epoch(parent), *ino);
		return rc;
	}
	klen = key_ino_name(k, META_REC_DENTRY, parent, name, len);
	rc = db_get_pinned(m, k, klen, &p);
	if (rc)
		return rc;
	rc = dentry_decode(k, klen, p.v, p.len, ino, type);
	db_unpin(&p);
	return rc;
}

void meta_dentry_put(struct meta_batch *b, uint64_t parent, const char *name,
		     size_t len, uint64_t ino, uint32_t type)
{
	uint8_t k[KEY_MAX], v[DENTRY_V1_LEN];
	size_t klen = key_ino_name(k, META_REC_DENTRY, parent, name, len);

	v[0] = 1;
	meta_le_put(meta_le_put(v + 1, ino, 8), type, 4);
	db_batch_put(b, k, klen, v, sizeof(v));
}

void meta_dentry_del(struct meta_batch *b, uint64_t parent, const char *name,
		     size_t len)
{
	uint8_t k[KEY_MAX];

	db_batch_del(b, k, key_ino_name(k, META_REC_DENTRY, parent, name, len));
}

struct dentry_view {
	uint64_t epoch;
	int (*fn)(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type);
	void *ctx;
};

static int dentry_view_cb(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
			  size_t vlen)
{
	struct dentry_view *d = ctx;
	uint64_t ino = 0;
	uint32_t type = 0;
	int rc = dentry_decode(k, klen, v, vlen, &ino, &type);

	return rc ? rc : d->fn(d->ctx, (const char *)k + 9, klen - 9,
			       meta_snap_ino(d->epoch, ino), type);
}

int meta_dentry_foreach(struct meta *m, uint64_t parent, const char *after,
			size_t after_len,
			int (*fn)(void *ctx, const char *name, size_t len,
				  uint64_t ino, uint32_t type),
			void *ctx)
{
	uint8_t prefix[KEY_MAX], start[KEY_MAX];
	size_t plen = key_ino(prefix, META_REC_DENTRY, parent);
	size_t slen = key_ino(start, META_REC_DENTRY, parent);
	struct db_cursor c;
	uint64_t ino = 0;
	uint32_t type = 0;
	int rc;

	if (after && after_len > META_NAME_MAX)
		return -EINVAL;
	if (meta_ino_is_snap(parent)) {
		struct dentry_view d = { meta_snap_epoch(parent), fn, ctx };

		return hist_snap_foreach(m, META_REC_DENTRY, parent, after, after_len,
					 dentry_view_cb, &d);
	}
	if (after) {
		/* The smallest key above "parent|after" is "parent|after|0". */
		slen = key_ino_name(start, META_REC_DENTRY, parent, after, after_len);
		start[slen++] = 0;
	}
	rc = db_cur_open(&c, m, prefix, plen, start, slen);
	if (rc)
		return rc;
	while (rc == 0 && db_cur_next(&c)) {
		rc = dentry_decode(c.k, c.klen, c.v, c.vlen, &ino, &type);
		if (rc == 0)
			rc = fn(ctx, (const char *)c.k + 9, c.klen - 9, ino, type);
	}
	return db_cur_close(&c, rc);
}

static int first_cb(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	(void)ctx;
	(void)k;
	(void)klen;
	(void)v;
	(void)vlen;
	return 1;
}

int meta_dir_empty(struct meta *m, uint64_t parent)
{
	uint8_t prefix[KEY_MAX];
	size_t plen = key_ino(prefix, META_REC_DENTRY, parent);
	struct db_cursor c;
	bool empty;
	int rc;

	if (meta_ino_is_snap(parent)) {
		rc = hist_snap_foreach(m, META_REC_DENTRY, parent, NULL, 0, first_cb, NULL);
		return rc < 0 ? rc : rc == 0;
	}
	rc = db_cur_open(&c, m, prefix, plen, prefix, plen);
	if (rc)
		return rc;
	empty = !db_cur_next(&c);
	rc = db_cur_close(&c, 0);
	return rc ? rc : empty;
}

/* --- extents ----------------------------------------------------------- */

struct extent_view {
	int (*fn)(void *ctx, const struct meta_extent *e);
	void *ctx;
};

static int extent_view_cb(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
			  size_t vlen)
{
	struct extent_view *x = ctx;
	uint32_t crcs[EXTENT_NCRC_MAX];
	struct meta_extent e;
	int rc = extent_decode(k, klen, v, vlen, &e, crcs);

	return rc ? rc : x->fn(x->ctx, &e);
}

int meta_extent_foreach(struct meta *m, uint64_t ino,
			int (*fn)(void *ctx, const struct meta_extent *e), void *ctx)
{
	uint32_t crcs[EXTENT_NCRC_MAX];
	uint8_t prefix[KEY_MAX];
	size_t plen = key_ino(prefix, META_REC_EXTENT, ino);
	struct meta_extent e;
	struct db_cursor c;
	int rc;

	if (meta_ino_is_snap(ino)) {
		struct extent_view x = { fn, ctx };

		return hist_snap_foreach(m, META_REC_EXTENT, ino, NULL, 0, extent_view_cb, &x);
	}
	rc = db_cur_open(&c, m, prefix, plen, prefix, plen);
	if (rc)
		return rc;
	while (rc == 0 && db_cur_next(&c)) {
		rc = extent_decode(c.k, c.klen, c.v, c.vlen, &e, crcs);
		if (rc == 0)
			rc = fn(ctx, &e);
	}
	return db_cur_close(&c, rc);
}

/* Encode E into V (EXTENT_V1_HDR + 4 * EXTENT_NCRC_MAX bytes); its length. */
static size_t extent_encode(uint8_t *v, const struct meta_extent *e)
{
	uint8_t *p = v;

	assert(e->ncrc == TIER_NCRC(e->ref.stored_len));
	assert(e->ncrc <= EXTENT_NCRC_MAX);
	*p++ = 1;
	*p++ = e->ref.tier;
	*p++ = e->ref.codec;
	p = meta_le_put(p, e->ref.seg, 4);
	p = meta_le_put(p, e->ref.off, 8);
	p = meta_le_put(p, e->ref.stored_len, 4);
	p = meta_le_put(p, e->ref.raw_len, 4);
	p = meta_le_put(p, e->len, 8);
	p = meta_le_put(p, e->inner, 4);
	p = meta_le_put(p, e->ncrc, 4);
	for (uint32_t i = 0; i < e->ncrc; i++)
		p = meta_le_put(p, e->crcs[i], 4);
	return (size_t)(p - v);
}

uint8_t *meta_extent_value(const struct meta_extent *e, size_t *len)
{
	uint8_t *v = malloc(EXTENT_V1_HDR + 4 * (size_t)e->ncrc);

	if (v)
		*len = extent_encode(v, e);
	return v;
}

void meta_extent_put(struct meta_batch *b, uint64_t ino, const struct meta_extent *e)
{
	uint8_t k[KEY_MAX], v[EXTENT_V1_HDR + 4 * EXTENT_NCRC_MAX];
	size_t klen = key_ino_off(k, META_REC_EXTENT, ino, e->foff);

	db_batch_put(b, k, klen, v, extent_encode(v, e));
	meta_space_delta(b, &e->ref, +1);
}

void meta_extent_del(struct meta_batch *b, uint64_t ino, uint64_t foff, const struct tier_ref *ref)
{
	uint8_t k[KEY_MAX];

	db_batch_del(b, k, key_ino_off(k, META_REC_EXTENT, ino, foff));
	meta_space_delta(b, ref, -1);
}

void meta_extent_del_all(struct meta *m, struct meta_batch *b, uint64_t ino)
{
	ino_del_all(m, b, META_REC_EXTENT, ino);
}

/* --- extended attributes, symlinks, inline data ------------------------ */

int meta_xattr_get(struct meta *m, uint64_t ino, const char *name,
		   void **val, size_t *len)
{
	uint8_t k[KEY_MAX];
	size_t nlen = strlen(name);
	int rc;

	/* What getxattr(2) answers for a name longer than XATTR_NAME_MAX. */
	if (nlen > META_NAME_MAX)
		return -ERANGE;
	rc = meta_ino_is_snap(ino) ? hist_snap_get(m, META_REC_XATTR, ino, name, nlen, val, len) :
	     db_get_copy(m, k, key_ino_name(k, META_REC_XATTR, ino, name, nlen), val, len);
	return rc == -ENOENT ? -ENODATA : rc;
}

void meta_xattr_put(struct meta_batch *b, uint64_t ino, const char *name,
		    const void *val, size_t len)
{
	uint8_t k[KEY_MAX];

	db_batch_put(b, k, key_ino_name(k, META_REC_XATTR, ino, name, strlen(name)), val, len);
}

void meta_xattr_del(struct meta_batch *b, uint64_t ino, const char *name)
{
	uint8_t k[KEY_MAX];

	db_batch_del(b, k, key_ino_name(k, META_REC_XATTR, ino, name, strlen(name)));
}

struct xattr_view {
	int (*fn)(void *ctx, const char *name, const void *val, size_t len);
	void *ctx;
};

static int xattr_view_cb(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
			 size_t vlen)
{
	struct xattr_view *x = ctx;
	char name[META_NAME_MAX + 1];

	if (klen <= 9 || klen - 9 > META_NAME_MAX)
		return meta_corrupt("xattr", k, klen, vlen);
	memcpy(name, k + 9, klen - 9);
	name[klen - 9] = '\0';
	return x->fn(x->ctx, name, v, vlen);
}

int meta_xattr_foreach(struct meta *m, uint64_t ino,
		       int (*fn)(void *ctx, const char *name, const void *val,
				 size_t len),
		       void *ctx)
{
	uint8_t prefix[KEY_MAX];
	size_t plen = key_ino(prefix, META_REC_XATTR, ino);
	char name[META_NAME_MAX + 1];
	struct db_cursor c;
	int rc;

	if (meta_ino_is_snap(ino)) {
		struct xattr_view x = { fn, ctx };

		return hist_snap_foreach(m, META_REC_XATTR, ino, NULL, 0, xattr_view_cb, &x);
	}
	rc = db_cur_open(&c, m, prefix, plen, prefix, plen);
	if (rc)
		return rc;
	while (rc == 0 && db_cur_next(&c)) {
		size_t nlen = c.klen - plen;

		if (nlen == 0 || nlen > META_NAME_MAX) {
			rc = meta_corrupt("xattr", c.k, c.klen, c.vlen);
			break;
		}
		memcpy(name, c.k + plen, nlen);
		name[nlen] = '\0';
		rc = fn(ctx, name, c.v, c.vlen);
	}
	return db_cur_close(&c, rc);
}

void meta_xattr_del_all(struct meta *m, struct meta_batch *b, uint64_t ino)
{
	ino_del_all(m, b, META_REC_XATTR, ino);
}

int meta_symlink_get(struct meta *m, uint64_t ino, char **target, size_t *len)
{
	uint8_t k[KEY_MAX];
	void *v;
	int rc = meta_ino_is_snap(ino) ? hist_snap_get(m, META_REC_SYMLINK, ino, NULL, 0, &v, len) :
		 db_get_copy(m, k, key_ino(k, META_REC_SYMLINK, ino), &v, len);

	if (rc == 0)
		*target = v;
	return rc;
}

void meta_symlink_put(struct meta_batch *b, uint64_t ino, const char *target, size_t len)
{
	ino_put(b, META_REC_SYMLINK, ino, target, len);
}

int meta_inline_get(struct meta *m, uint64_t ino, void **data, size_t *len)
{
	uint8_t k[KEY_MAX];

	if (meta_ino_is_snap(ino))
		return hist_snap_get(m, META_REC_INLINE, ino, NULL, 0, data, len);
	return db_get_copy(m, k, key_ino(k, META_REC_INLINE, ino), data, len);
}

void meta_inline_put(struct meta_batch *b, uint64_t ino, const void *data, size_t len)
{
	ino_put(b, META_REC_INLINE, ino, data, len);
}

void meta_inline_del(struct meta_batch *b, uint64_t ino)
{
	ino_del(b, META_REC_INLINE, ino);
}

/* --- orphans ----------------------------------------------------------- */

void meta_orphan_put(struct meta_batch *b, uint64_t ino)
{
	ino_put(b, META_REC_ORPHAN, ino, "", 0);
}

void meta_orphan_del(struct meta_batch *b, uint64_t ino)
{
	ino_del(b, META_REC_ORPHAN, ino);
}

int meta_orphan_foreach(struct meta *m, int (*fn)(void *ctx, uint64_t ino), void *ctx)
{
	const uint8_t prefix[] = { META_REC_ORPHAN };
	struct db_cursor c;
	int rc = db_cur_open(&c, m, prefix, 1, prefix, 1);

	if (rc)
		return rc;
	while (rc == 0 && db_cur_next(&c))
		rc = c.klen == 9 ? fn(ctx, key_get_u64(c.k + 1))
				 : meta_corrupt("orphan", c.k, c.klen, c.vlen);
	return db_cur_close(&c, rc);
}

void meta_inode_purge_some(struct meta *m, struct meta_batch *b, uint64_t ino, unsigned what)
{
	/* Point deletes where the kind has one key per inode: a range
	 * tombstone costs every later read that crosses it. */
	ino_del(b, META_REC_INODE, ino);
	if (what & META_PURGE_SYMLINK)
		ino_del(b, META_REC_SYMLINK, ino);
	if (what & META_PURGE_INLINE)
		ino_del(b, META_REC_INLINE, ino);
	if (what & META_PURGE_ORPHAN)
		ino_del(b, META_REC_ORPHAN, ino);
	if (what & META_PURGE_EXTENTS)
		ino_del_all(m, b, META_REC_EXTENT, ino);
	if (what & META_PURGE_XATTRS)
		ino_del_all(m, b, META_REC_XATTR, ino);
}

void meta_inode_purge(struct meta *m, struct meta_batch *b, uint64_t ino)
{
	meta_inode_purge_some(m, b, ino, META_PURGE_EXTENTS | META_PURGE_XATTRS |
			      META_PURGE_SYMLINK | META_PURGE_INLINE | META_PURGE_ORPHAN);
}

/* --- superblock -------------------------------------------------------- */

int meta_format_get(struct meta *m, uint32_t *version)
{
	struct db_pinned p;
	int rc = db_get_pinned(m, format_key, sizeof(format_key), &p);

	if (rc)
		return rc;
	if (p.len == 4)
		*version = (uint32_t)meta_le_get(&p.v, 4);
	else
		rc = meta_corrupt("format", format_key, sizeof(format_key), p.len);
	db_unpin(&p);
	return rc;
}

void meta_format_put(struct meta_batch *b, uint32_t version)
{
	uint8_t v[4];

	meta_le_put(v, version, 4);
	db_batch_put(b, format_key, sizeof(format_key), v, sizeof(v));
}
