/* meta.c — the metadata store on RocksDB (see meta.h for the key schema).
 *
 * Values.  Integers are little-endian; inodes, dentries and extents start
 * with a one-byte record version so that each kind can evolve on its own
 * (a reader rejects a version or a length it does not know as corruption):
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
 * The inode number and the file offset are in the key only.  Every
 * iteration runs under an upper bound equal to the end of its prefix, so
 * RocksDB stops at the prefix end instead of reading into the next kind.
 *
 * Memory: a 32 MiB block cache that also holds index and filter blocks,
 * and at most two 32 MiB memtables, so RocksDB stays near 100 MiB of the
 * daemon's 256 MiB whatever the size of the store.
 *
 * Thread safety: rocksdb_t is thread-safe and the read and write options
 * kept in struct meta are never modified after meta_open.  Iterations use
 * their own read options, since each carries its own upper bound.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "meta/keys.h"
#include "meta/meta.h"
#include "tier/log.h"

#define INODE_V1_LEN	86
#define DENTRY_V1_LEN	13
#define EXTENT_V1_HDR	39
/* Most checksums an extent can have: tier_append takes at most
 * TIER_EXTENT_MAX bytes and never stores them larger than given. */
#define EXTENT_NCRC_MAX	TIER_NCRC(TIER_EXTENT_MAX)

static const uint8_t format_key[] = { 'S', 'f', 'o', 'r', 'm', 'a', 't' };

struct meta {
	rocksdb_t *db;
	rocksdb_readoptions_t *ropt;	/* point reads */
	rocksdb_writeoptions_t *wopt;	/* commits: WAL, no sync */
	rocksdb_writeoptions_t *wsync;	/* commits: WAL, synced */
};

struct meta_batch {
	rocksdb_writebatch_t *wb;
};

/* --- errors and value encodings --------------------------------------- */

/* Log RocksDB error ERR (freed here) about WHAT; return its errno. */
static int meta_fail(const char *what, char *err)
{
	int rc = -EIO;

	/* RocksDB reports a held LOCK file with either message, depending
	 * on whether this process or another one holds it. */
	if (strstr(err, "While lock file") || strstr(err, "lock hold by") ||
	    strstr(err, "Resource busy"))
		rc = -EBUSY;
	else if (strstr(err, "does not exist (create_if_missing is false)"))
		rc = -ENOENT;
	log_err("meta: %s: %s", what, err);
	rocksdb_free(err);
	return rc;
}

/* Log a record that cannot be decoded; return -EIO. */
static int meta_corrupt(const char *what, const uint8_t *k, size_t klen, size_t vlen)
{
	uint64_t ino = klen >= 9 ? key_get_u64(k + 1) : 0;

	log_err("meta: corrupt %s record of inode %llu (key %zu bytes, value %zu bytes)",
		what, (unsigned long long)ino, klen, vlen);
	return -EIO;
}

static uint8_t *le_put(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
	return p + n;
}

/* Read N little-endian bytes at *P and advance *P past them. */
static uint64_t le_get(const uint8_t **p, int n)
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
	p = le_put(p, in->mode, 4);
	p = le_put(p, in->uid, 4);
	p = le_put(p, in->gid, 4);
	p = le_put(p, in->nlink, 4);
	p = le_put(p, in->size, 8);
	p = le_put(p, in->rdev, 8);
	p = le_put(p, (uint64_t)in->atime, 8);
	p = le_put(p, (uint64_t)in->mtime, 8);
	p = le_put(p, (uint64_t)in->ctime, 8);
	p = le_put(p, (uint64_t)in->btime, 8);
	p = le_put(p, in->flags, 4);
	*p++ = in->policy;
	p = le_put(p, in->generation, 8);
	p = le_put(p, in->alloc, 8);
	return (size_t)(p - v);
}

static int inode_decode(const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
			struct meta_inode *out)
{
	const uint8_t *p = v + 1;

	if (klen != 9 || vlen != INODE_V1_LEN || v[0] != 1)
		return meta_corrupt("inode", k, klen, vlen);
	out->ino = key_get_u64(k + 1);
	out->mode = (uint32_t)le_get(&p, 4);
	out->uid = (uint32_t)le_get(&p, 4);
	out->gid = (uint32_t)le_get(&p, 4);
	out->nlink = (uint32_t)le_get(&p, 4);
	out->size = le_get(&p, 8);
	out->rdev = le_get(&p, 8);
	out->atime = (int64_t)le_get(&p, 8);
	out->mtime = (int64_t)le_get(&p, 8);
	out->ctime = (int64_t)le_get(&p, 8);
	out->btime = (int64_t)le_get(&p, 8);
	out->flags = (uint32_t)le_get(&p, 4);
	out->policy = *p++;
	out->generation = le_get(&p, 8);
	out->alloc = le_get(&p, 8);
	return 0;
}

static int dentry_decode(const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
			 uint64_t *ino, uint32_t *type)
{
	const uint8_t *p = v + 1;

	if (vlen != DENTRY_V1_LEN || v[0] != 1)
		return meta_corrupt("dentry", k, klen, vlen);
	*ino = le_get(&p, 8);
	*type = (uint32_t)le_get(&p, 4);
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
	e->ref.seg = (uint32_t)le_get(&p, 4);
	e->ref.off = le_get(&p, 8);
	e->ref.stored_len = (uint32_t)le_get(&p, 4);
	e->ref.raw_len = (uint32_t)le_get(&p, 4);
	e->len = le_get(&p, 8);
	e->inner = (uint32_t)le_get(&p, 4);
	e->ncrc = (uint32_t)le_get(&p, 4);
	if (e->ncrc > EXTENT_NCRC_MAX || vlen != EXTENT_V1_HDR + 4 * (size_t)e->ncrc)
		return meta_corrupt("extent", k, klen, vlen);
	for (uint32_t i = 0; i < e->ncrc; i++)
		crcs[i] = (uint32_t)le_get(&p, 4);
	e->crcs = crcs;
	return 0;
}

/* Build into END the smallest key above every key that starts with
 * PREFIX; return its length, or 0 when PREFIX is all 0xff (no such key:
 * every key at or past PREFIX then starts with it). */
static size_t prefix_end(uint8_t *end, const uint8_t *prefix, size_t plen)
{
	memcpy(end, prefix, plen);
	while (plen > 0 && end[plen - 1] == 0xff)
		plen--;
	if (plen > 0)
		end[plen - 1]++;
	return plen;
}

/* --- open, close, batches --------------------------------------------- */

int meta_open(const char *dir, bool create, struct meta **out)
{
	rocksdb_options_t *opt = rocksdb_options_create();
	rocksdb_block_based_table_options_t *tbl = rocksdb_block_based_options_create();
	rocksdb_cache_t *cache = rocksdb_cache_create_lru(32u << 20);
	struct meta *m = calloc(1, sizeof(*m));
	char *err = NULL;
	int rc = 0;

	if (!m) {
		rc = -ENOMEM;
		goto out;
	}
	/* Memory stays bounded: index and filter blocks are charged to the
	 * 32 MiB block cache instead of growing with the number of tables,
	 * and at most two 32 MiB memtables exist. */
	rocksdb_block_based_options_set_block_cache(tbl, cache);
	rocksdb_block_based_options_set_filter_policy(tbl,
						      rocksdb_filterpolicy_create_bloom_full(10));
	rocksdb_block_based_options_set_cache_index_and_filter_blocks(tbl, 1);
	rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(tbl, 1);
	rocksdb_options_set_block_based_table_factory(opt, tbl);
	rocksdb_options_set_create_if_missing(opt, create);
	rocksdb_options_set_write_buffer_size(opt, 32u << 20);
	rocksdb_options_set_max_write_buffer_number(opt, 2);
	rocksdb_options_set_max_open_files(opt, 512);
	/* Recent levels churn and are small: compress only the last one. */
	rocksdb_options_set_compression(opt, rocksdb_no_compression);
	rocksdb_options_set_bottommost_compression(opt, rocksdb_lz4_compression);
	rocksdb_options_set_level_compaction_dynamic_level_bytes(opt, 1);
	/* RocksDB's own LOG: warnings and up (InfoLogLevel 2 is WARN_LEVEL;
	 * c.h has no name for it), a few small files. */
	rocksdb_options_set_info_log_level(opt, 2);
	rocksdb_options_set_keep_log_file_num(opt, 4);
	rocksdb_options_set_max_log_file_size(opt, 4u << 20);

	m->db = rocksdb_open(opt, dir, &err);
	if (err) {
		rc = meta_fail(dir, err);
		goto out;
	}
	m->ropt = rocksdb_readoptions_create();
	m->wopt = rocksdb_writeoptions_create();
	m->wsync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(m->wopt, 0);
	rocksdb_writeoptions_set_sync(m->wsync, 1);
	*out = m;
	m = NULL;
out:
	free(m);
	/* The DB holds its own references to the options and the cache. */
	rocksdb_cache_destroy(cache);
	rocksdb_block_based_options_destroy(tbl);
	rocksdb_options_destroy(opt);
	return rc;
}

void meta_close(struct meta *m)
{
	if (!m)
		return;
	rocksdb_close(m->db);
	rocksdb_readoptions_destroy(m->ropt);
	rocksdb_writeoptions_destroy(m->wopt);
	rocksdb_writeoptions_destroy(m->wsync);
	free(m);
}

int meta_sync(struct meta *m)
{
	char *err = NULL;

	rocksdb_flush_wal(m->db, 1, &err);
	return err ? meta_fail("sync", err) : 0;
}

/* NULL if out of memory. */
struct meta_batch *meta_batch_new(void)
{
	struct meta_batch *b = malloc(sizeof(*b));

	if (b)
		b->wb = rocksdb_writebatch_create();
	return b;
}

void meta_batch_free(struct meta_batch *b)
{
	if (!b)
		return;
	rocksdb_writebatch_destroy(b->wb);
	free(b);
}

void meta_batch_clear(struct meta_batch *b)
{
	rocksdb_writebatch_clear(b->wb);
}

int meta_batch_commit(struct meta *m, struct meta_batch *b, bool sync)
{
	char *err = NULL;

	rocksdb_write(m->db, sync ? m->wsync : m->wopt, b->wb, &err);
	return err ? meta_fail("commit", err) : 0;
}

/* --- record helpers ----------------------------------------------------- */

static void batch_put(struct meta_batch *b, const uint8_t *k, size_t klen,
		      const void *v, size_t vlen)
{
	rocksdb_writebatch_put(b->wb, (const char *)k, klen, v, vlen);
}

static void batch_del(struct meta_batch *b, const uint8_t *k, size_t klen)
{
	rocksdb_writebatch_delete(b->wb, (const char *)k, klen);
}

/* Put / delete the record "KIND | INO". */
static void ino_put(struct meta_batch *b, uint8_t kind, uint64_t ino,
		    const void *v, size_t vlen)
{
	uint8_t k[KEY_MAX];

	batch_put(b, k, key_ino(k, kind, ino), v, vlen);
}

static void ino_del(struct meta_batch *b, uint8_t kind, uint64_t ino)
{
	uint8_t k[KEY_MAX];

	batch_del(b, k, key_ino(k, kind, ino));
}

/* Delete every record "KIND | INO | ..." with one range tombstone. */
static void ino_del_all(struct meta_batch *b, uint8_t kind, uint64_t ino)
{
	uint8_t start[KEY_MAX], end[KEY_MAX];
	size_t slen = key_ino(start, kind, ino);
	size_t elen = prefix_end(end, start, slen);

	rocksdb_writebatch_delete_range(b->wb, (const char *)start, slen,
					(const char *)end, elen);
}

/* A value read in place: pinned in the block cache or the memtable,
 * which spares a copy, until rocksdb_pinnableslice_destroy(ps). */
struct pinned {
	rocksdb_pinnableslice_t *ps;
	const uint8_t *v;
	size_t len;
};

/* Look key K up into *P; -ENOENT if absent. */
static int get_pinned(struct meta *m, const uint8_t *k, size_t klen, struct pinned *p)
{
	char *err = NULL;

	p->ps = rocksdb_get_pinned(m->db, m->ropt, (const char *)k, klen, &err);
	if (err)
		return meta_fail("get", err);
	if (!p->ps)
		return -ENOENT;
	p->v = (const uint8_t *)rocksdb_pinnableslice_value(p->ps, &p->len);
	return 0;
}

/* Copy the value of K into a malloc'd *VAL of *LEN bytes followed by a NUL,
 * so that a symlink target is a C string and an empty value is not NULL. */
static int get_copy(struct meta *m, const uint8_t *k, size_t klen, void **val, size_t *len)
{
	struct pinned p;
	char *copy;
	int rc = get_pinned(m, k, klen, &p);

	if (rc)
		return rc;
	copy = malloc(p.len + 1);
	if (copy) {
		memcpy(copy, p.v, p.len);
		copy[p.len] = '\0';
		*val = copy;
		*len = p.len;
	}
	rocksdb_pinnableslice_destroy(p.ps);
	return copy ? 0 : -ENOMEM;
}

/* An iteration over the keys that start with a prefix.  The upper bound
 * (the prefix end) lives here because RocksDB keeps only a pointer to it. */
struct cursor {
	rocksdb_readoptions_t *ro;
	rocksdb_iterator_t *it;
	uint8_t end_buf[KEY_MAX];
	uint8_t *end;
	bool started;
	const uint8_t *k, *v;	/* the current record, after cur_next */
	size_t klen, vlen;
};

/* Start C over the keys starting with PREFIX, at the first key at or
 * after START (which starts with PREFIX).  End it with cur_close. */
static int cur_open(struct cursor *c, struct meta *m, const uint8_t *prefix,
		    size_t plen, const uint8_t *start, size_t slen)
{
	size_t elen;

	c->end = plen <= sizeof(c->end_buf) ? c->end_buf : malloc(plen);
	if (!c->end)
		return -ENOMEM;
	c->ro = rocksdb_readoptions_create();
	elen = prefix_end(c->end, prefix, plen);
	if (elen > 0)
		rocksdb_readoptions_set_iterate_upper_bound(c->ro, (const char *)c->end, elen);
	c->it = rocksdb_create_iterator(m->db, c->ro);
	rocksdb_iter_seek(c->it, (const char *)start, slen);
	c->started = false;
	return 0;
}

/* Step to the next record (the first one on the first call) and set
 * c->k and c->v; false at the end of the prefix or on an error. */
static bool cur_next(struct cursor *c)
{
	if (c->started)
		rocksdb_iter_next(c->it);
	c->started = true;
	if (!rocksdb_iter_valid(c->it))
		return false;
	c->k = (const uint8_t *)rocksdb_iter_key(c->it, &c->klen);
	c->v = (const uint8_t *)rocksdb_iter_value(c->it, &c->vlen);
	return true;
}

/* End C; return RC, or the iterator's error if RC is 0. */
static int cur_close(struct cursor *c, int rc)
{
	char *err = NULL;

	if (rc == 0) {
		rocksdb_iter_get_error(c->it, &err);
		if (err)
			rc = meta_fail("iterate", err);
	}
	rocksdb_iter_destroy(c->it);
	rocksdb_readoptions_destroy(c->ro);
	if (c->end != c->end_buf)
		free(c->end);
	return rc;
}

/* --- inodes ------------------------------------------------------------ */

int meta_inode_get(struct meta *m, uint64_t ino, struct meta_inode *out)
{
	uint8_t k[KEY_MAX];
	size_t klen = key_ino(k, 'I', ino);
	struct pinned p;
	int rc = get_pinned(m, k, klen, &p);

	if (rc)
		return rc;
	rc = inode_decode(k, klen, p.v, p.len, out);
	rocksdb_pinnableslice_destroy(p.ps);
	return rc;
}

void meta_inode_put(struct meta_batch *b, const struct meta_inode *in)
{
	uint8_t v[INODE_V1_LEN];

	ino_put(b, 'I', in->ino, v, inode_encode(v, in));
}

void meta_inode_del(struct meta_batch *b, uint64_t ino)
{
	ino_del(b, 'I', ino);
}

/* An empty store answers META_ROOT_INO too, so that "max + 1" is always
 * a free inode number. */
int meta_inode_max(struct meta *m, uint64_t *out)
{
	uint8_t last[KEY_MAX];
	size_t llen = key_ino(last, 'I', UINT64_MAX);
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;
	char *err = NULL;
	int rc = 0;

	/* The lower bound keeps the backward seek from wandering into the
	 * kinds sorting before 'I' when there is no inode. */
	rocksdb_readoptions_set_iterate_lower_bound(ro, "I", 1);
	it = rocksdb_create_iterator(m->db, ro);
	rocksdb_iter_seek_for_prev(it, (const char *)last, llen);
	*out = META_ROOT_INO;
	if (rocksdb_iter_valid(it)) {
		size_t klen;
		const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &klen);

		if (klen == 9)
			*out = key_get_u64(k + 1);
		else
			rc = meta_corrupt("inode", k, klen, 0);
	} else {
		rocksdb_iter_get_error(it, &err);
		if (err)
			rc = meta_fail("inode max", err);
	}
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	return rc;
}

int meta_inode_foreach(struct meta *m,
		       int (*fn)(void *ctx, const struct meta_inode *in), void *ctx)
{
	const uint8_t prefix[] = { 'I' };
	struct meta_inode in;
	struct cursor c;
	int rc = cur_open(&c, m, prefix, 1, prefix, 1);

	if (rc)
		return rc;
	while (rc == 0 && cur_next(&c)) {
		rc = inode_decode(c.k, c.klen, c.v, c.vlen, &in);
		if (rc == 0)
			rc = fn(ctx, &in);
	}
	return cur_close(&c, rc);
}

/* --- dentries ---------------------------------------------------------- */

int meta_dentry_get(struct meta *m, uint64_t parent, const char *name, size_t len,
		    uint64_t *ino, uint32_t *type)
{
	uint8_t k[KEY_MAX];
	size_t klen;
	struct pinned p;
	int rc;

	if (len > META_NAME_MAX)
		return -ENAMETOOLONG;
	klen = key_ino_name(k, 'D', parent, name, len);
	rc = get_pinned(m, k, klen, &p);
	if (rc)
		return rc;
	rc = dentry_decode(k, klen, p.v, p.len, ino, type);
	rocksdb_pinnableslice_destroy(p.ps);
	return rc;
}

void meta_dentry_put(struct meta_batch *b, uint64_t parent, const char *name,
		     size_t len, uint64_t ino, uint32_t type)
{
	uint8_t k[KEY_MAX], v[DENTRY_V1_LEN];
	size_t klen = key_ino_name(k, 'D', parent, name, len);

	v[0] = 1;
	le_put(le_put(v + 1, ino, 8), type, 4);
	batch_put(b, k, klen, v, sizeof(v));
}

void meta_dentry_del(struct meta_batch *b, uint64_t parent, const char *name,
		     size_t len)
{
	uint8_t k[KEY_MAX];

	batch_del(b, k, key_ino_name(k, 'D', parent, name, len));
}

int meta_dentry_foreach(struct meta *m, uint64_t parent, const char *after,
			size_t after_len,
			int (*fn)(void *ctx, const char *name, size_t len,
				  uint64_t ino, uint32_t type),
			void *ctx)
{
	uint8_t prefix[KEY_MAX], start[KEY_MAX];
	size_t plen = key_ino(prefix, 'D', parent);
	size_t slen = key_ino(start, 'D', parent);
	struct cursor c;
	uint64_t ino;
	uint32_t type;
	int rc;

	if (after) {
		if (after_len > META_NAME_MAX)
			return -EINVAL;
		/* The smallest key above "parent|after" is "parent|after|0". */
		slen = key_ino_name(start, 'D', parent, after, after_len);
		start[slen++] = 0;
	}
	rc = cur_open(&c, m, prefix, plen, start, slen);
	if (rc)
		return rc;
	while (rc == 0 && cur_next(&c)) {
		rc = dentry_decode(c.k, c.klen, c.v, c.vlen, &ino, &type);
		if (rc == 0)
			rc = fn(ctx, (const char *)c.k + 9, c.klen - 9, ino, type);
	}
	return cur_close(&c, rc);
}

int meta_dir_empty(struct meta *m, uint64_t parent)
{
	uint8_t prefix[KEY_MAX];
	size_t plen = key_ino(prefix, 'D', parent);
	struct cursor c;
	int rc = cur_open(&c, m, prefix, plen, prefix, plen);
	bool empty;

	if (rc)
		return rc;
	empty = !cur_next(&c);
	rc = cur_close(&c, 0);
	return rc ? rc : empty;
}

/* --- extents ----------------------------------------------------------- */

int meta_extent_foreach(struct meta *m, uint64_t ino,
			int (*fn)(void *ctx, const struct meta_extent *e), void *ctx)
{
	uint32_t crcs[EXTENT_NCRC_MAX];
	uint8_t prefix[KEY_MAX];
	size_t plen = key_ino(prefix, 'E', ino);
	struct meta_extent e;
	struct cursor c;
	int rc = cur_open(&c, m, prefix, plen, prefix, plen);

	if (rc)
		return rc;
	while (rc == 0 && cur_next(&c)) {
		rc = extent_decode(c.k, c.klen, c.v, c.vlen, &e, crcs);
		if (rc == 0)
			rc = fn(ctx, &e);
	}
	return cur_close(&c, rc);
}

void meta_extent_put(struct meta_batch *b, uint64_t ino, const struct meta_extent *e)
{
	uint8_t k[KEY_MAX], v[EXTENT_V1_HDR + 4 * EXTENT_NCRC_MAX];
	size_t klen = key_ino_off(k, 'E', ino, e->foff);
	uint8_t *p = v;

	assert(e->ncrc == TIER_NCRC(e->ref.stored_len));
	assert(e->ncrc <= EXTENT_NCRC_MAX);
	*p++ = 1;
	*p++ = e->ref.tier;
	*p++ = e->ref.codec;
	p = le_put(p, e->ref.seg, 4);
	p = le_put(p, e->ref.off, 8);
	p = le_put(p, e->ref.stored_len, 4);
	p = le_put(p, e->ref.raw_len, 4);
	p = le_put(p, e->len, 8);
	p = le_put(p, e->inner, 4);
	p = le_put(p, e->ncrc, 4);
	for (uint32_t i = 0; i < e->ncrc; i++)
		p = le_put(p, e->crcs[i], 4);
	batch_put(b, k, klen, v, (size_t)(p - v));
}

void meta_extent_del(struct meta_batch *b, uint64_t ino, uint64_t foff)
{
	uint8_t k[KEY_MAX];

	batch_del(b, k, key_ino_off(k, 'E', ino, foff));
}

void meta_extent_del_all(struct meta_batch *b, uint64_t ino)
{
	ino_del_all(b, 'E', ino);
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
	rc = get_copy(m, k, key_ino_name(k, 'X', ino, name, nlen), val, len);
	return rc == -ENOENT ? -ENODATA : rc;
}

void meta_xattr_put(struct meta_batch *b, uint64_t ino, const char *name,
		    const void *val, size_t len)
{
	uint8_t k[KEY_MAX];

	batch_put(b, k, key_ino_name(k, 'X', ino, name, strlen(name)), val, len);
}

void meta_xattr_del(struct meta_batch *b, uint64_t ino, const char *name)
{
	uint8_t k[KEY_MAX];

	batch_del(b, k, key_ino_name(k, 'X', ino, name, strlen(name)));
}

int meta_xattr_foreach(struct meta *m, uint64_t ino,
		       int (*fn)(void *ctx, const char *name, const void *val,
				 size_t len),
		       void *ctx)
{
	uint8_t prefix[KEY_MAX];
	size_t plen = key_ino(prefix, 'X', ino);
	char name[META_NAME_MAX + 1];
	struct cursor c;
	int rc = cur_open(&c, m, prefix, plen, prefix, plen);

	if (rc)
		return rc;
	while (rc == 0 && cur_next(&c)) {
		size_t nlen = c.klen - plen;

		if (nlen == 0 || nlen > META_NAME_MAX) {
			rc = meta_corrupt("xattr", c.k, c.klen, c.vlen);
			break;
		}
		memcpy(name, c.k + plen, nlen);
		name[nlen] = '\0';
		rc = fn(ctx, name, c.v, c.vlen);
	}
	return cur_close(&c, rc);
}

void meta_xattr_del_all(struct meta_batch *b, uint64_t ino)
{
	ino_del_all(b, 'X', ino);
}

int meta_symlink_get(struct meta *m, uint64_t ino, char **target, size_t *len)
{
	uint8_t k[KEY_MAX];
	void *v;
	int rc = get_copy(m, k, key_ino(k, 'L', ino), &v, len);

	if (rc == 0)
		*target = v;
	return rc;
}

void meta_symlink_put(struct meta_batch *b, uint64_t ino, const char *target, size_t len)
{
	ino_put(b, 'L', ino, target, len);
}

int meta_inline_get(struct meta *m, uint64_t ino, void **data, size_t *len)
{
	uint8_t k[KEY_MAX];

	return get_copy(m, k, key_ino(k, 'N', ino), data, len);
}

void meta_inline_put(struct meta_batch *b, uint64_t ino, const void *data, size_t len)
{
	ino_put(b, 'N', ino, data, len);
}

/* --- orphans ----------------------------------------------------------- */

void meta_orphan_put(struct meta_batch *b, uint64_t ino)
{
	ino_put(b, 'O', ino, "", 0);
}

void meta_orphan_del(struct meta_batch *b, uint64_t ino)
{
	ino_del(b, 'O', ino);
}

int meta_orphan_foreach(struct meta *m, int (*fn)(void *ctx, uint64_t ino), void *ctx)
{
	const uint8_t prefix[] = { 'O' };
	struct cursor c;
	int rc = cur_open(&c, m, prefix, 1, prefix, 1);

	if (rc)
		return rc;
	while (rc == 0 && cur_next(&c))
		rc = c.klen == 9 ? fn(ctx, key_get_u64(c.k + 1))
				 : meta_corrupt("orphan", c.k, c.klen, c.vlen);
	return cur_close(&c, rc);
}

void meta_inode_purge(struct meta_batch *b, uint64_t ino)
{
	/* Point deletes where the kind has one key per inode: a range
	 * tombstone costs every later read that crosses it. */
	ino_del(b, 'I', ino);
	ino_del(b, 'L', ino);
	ino_del(b, 'N', ino);
	ino_del(b, 'O', ino);
	ino_del_all(b, 'E', ino);
	ino_del_all(b, 'X', ino);
}

/* --- generic records --------------------------------------------------- */

/* Refuse KIND if it is one of meta.h's own kinds: log it, return true. */
static bool rec_refused(uint8_t kind, const char *op)
{
	if (kind == 0 || !strchr("SIDEXLNO", kind))
		return false;
	log_err("meta: %s of reserved record kind '%c' refused", op, kind);
	return true;
}

/* "KIND | KEY" in a malloc'd buffer (generic keys have no length bound). */
static uint8_t *rec_key(uint8_t kind, const void *key, size_t klen)
{
	uint8_t *k = malloc(1 + klen);

	if (k) {
		k[0] = kind;
		if (klen)
			memcpy(k + 1, key, klen);
	}
	return k;
}

int meta_rec_get(struct meta *m, uint8_t kind, const void *key, size_t klen,
		 void **val, size_t *vlen)
{
	uint8_t *k;
	int rc;

	if (rec_refused(kind, "rec get"))
		return -EINVAL;
	k = rec_key(kind, key, klen);
	rc = k ? get_copy(m, k, 1 + klen, val, vlen) : -ENOMEM;
	free(k);
	return rc;
}

void meta_rec_put(struct meta_batch *b, uint8_t kind, const void *key, size_t klen,
		  const void *val, size_t vlen)
{
	const char *kp[2] = { (const char *)&kind, key };
	size_t ks[2] = { 1, klen };
	const char *vp = val;

	if (rec_refused(kind, "rec put")) {
		assert(!"reserved record kind");
		return;
	}
	rocksdb_writebatch_putv(b->wb, 2, kp, ks, 1, &vp, &vlen);
}

void meta_rec_del(struct meta_batch *b, uint8_t kind, const void *key, size_t klen)
{
	const char *kp[2] = { (const char *)&kind, key };
	size_t ks[2] = { 1, klen };

	if (rec_refused(kind, "rec del")) {
		assert(!"reserved record kind");
		return;
	}
	rocksdb_writebatch_deletev(b->wb, 2, kp, ks);
}

int meta_rec_foreach(struct meta *m, uint8_t kind, const void *prefix, size_t plen,
		     int (*fn)(void *ctx, const void *key, size_t klen,
			       const void *val, size_t vlen),
		     void *ctx)
{
	struct cursor c;
	uint8_t *p;
	int rc;

	if (rec_refused(kind, "rec foreach"))
		return -EINVAL;
	p = rec_key(kind, prefix, plen);
	rc = p ? cur_open(&c, m, p, 1 + plen, p, 1 + plen) : -ENOMEM;
	free(p);
	if (rc)
		return rc;
	while (rc == 0 && cur_next(&c))
		rc = fn(ctx, c.k + 1, c.klen - 1, c.v, c.vlen);
	return cur_close(&c, rc);
}

/* --- superblock -------------------------------------------------------- */

int meta_format_get(struct meta *m, uint32_t *version)
{
	struct pinned p;
	int rc = get_pinned(m, format_key, sizeof(format_key), &p);

	if (rc)
		return rc;
	if (p.len == 4)
		*version = (uint32_t)le_get(&p.v, 4);
	else
		rc = meta_corrupt("format", format_key, sizeof(format_key), p.len);
	rocksdb_pinnableslice_destroy(p.ps);
	return rc;
}

void meta_format_put(struct meta_batch *b, uint32_t version)
{
	uint8_t v[4];

	le_put(v, version, 4);
	batch_put(b, format_key, sizeof(format_key), v, sizeof(v));
}
