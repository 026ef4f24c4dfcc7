/* extmap.c — a file's extent map: sorted, non-overlapping pieces of
 * immutable stored extents, loaded from meta/ on first use and edited
 * together with the batch that records the change; pieces moved to another
 * place (migration, compaction) and pieces shared between inodes (versions,
 * snapshots, promote, copy_file_range).
 *
 * Every piece added or removed here is reported to space.c (space_ref,
 * space_unref).  Callers hold the inode's lock for writing.
 */
#include "fs/fs.h"
#include "fs/commit.h"
#include "fs/extmap.h"
#include "fs/space.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define EXTMAP_WB_MIN	(64u << 10)	/* first size of a write buffer */

/* --- checksums and the extent map ------------------------------------ */

struct crcs *fs_crcs_new(const uint32_t *c, uint32_t n)
{
	struct crcs *k = malloc(sizeof(*k) + n * sizeof(uint32_t));

	if (!k)
		return NULL;
	k->refs = 1;
	k->n = n;
	memcpy(k->c, c, n * sizeof(uint32_t));
	return k;
}

void fs_crcs_put(struct crcs *k)
{
	if (k && --k->refs == 0)
		free(k);
}

void fs_map_free(struct extmap *m)
{
	for (size_t i = 0; i < m->n; i++)
		fs_crcs_put(m->v[i].crcs);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static int map_reserve(struct extmap *m, size_t extra)
{
	if (m->n + extra > m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 16;
		struct ext *v;

		while (ncap < m->n + extra)
			ncap *= 2;
		v = realloc(m->v, ncap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		m->v = v;
		m->cap = ncap;
	}
	return 0;
}

/* Index of the first piece that ends after OFF. */
size_t fs_map_find(const struct extmap *m, uint64_t off)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (m->v[mid].foff + m->v[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint64_t fs_map_covered(const struct inode *in, uint64_t off, uint64_t end)
{
	const struct extmap *m = &in->map;
	uint64_t n = 0;

	if (in->attr.flags & META_IF_INLINE)
		return off < in->wb_len ? (end < in->wb_len ? end : in->wb_len) - off : 0;
	for (size_t i = fs_map_find(m, off); i < m->n && m->v[i].foff < end; i++) {
		uint64_t s = m->v[i].foff > off ? m->v[i].foff : off;
		uint64_t t = m->v[i].foff + m->v[i].len < end ? m->v[i].foff + m->v[i].len : end;

		n += t - s;
	}
	return n;
}

static void ext_to_meta(const struct ext *e, struct meta_extent *me)
{
	me->foff = e->foff;
	me->len = e->len;
	me->inner = e->inner;
	me->ref = e->ref;
	me->ncrc = e->crcs->n;
	me->crcs = e->crcs->c;
}

/* --- loading and editing the map ------------------------------------- */

static int load_ext(void *ctx, const struct meta_extent *me)
{
	struct extmap *m = ctx;
	struct ext *e;

	if (map_reserve(m, 1) < 0)
		return -ENOMEM;
	e = &m->v[m->n];
	e->foff = me->foff;
	e->len = me->len;
	e->inner = me->inner;
	e->ref = me->ref;
	e->crcs = fs_crcs_new(me->crcs, me->ncrc);
	if (!e->crcs)
		return -ENOMEM;
	m->n++;
	return 0;
}

/* Make the inline content of IN its clean write buffer [0, len). */
static int inline_load(struct inode *in, struct fs *fs)
{
	void *data = NULL;
	size_t len;
	int rc = meta_inline_get(fs->meta, in->ino, &data, &len);

	if (rc == 0 && len > FS_INLINE_MAX)
		rc = -EIO;
	if (rc == 0)
		rc = fs_wbuf_grow(in, (uint32_t)len ? (uint32_t)len : 1);
	if (rc == 0) {
		memcpy(in->wbuf, data, len);
		in->wb_off = 0;
		in->wb_len = (uint32_t)len;
		in->wb_dirty = false;
	}
	if (rc != -ENOENT)
		free(data);
	return rc == -ENOENT ? 0 : rc;
}

int fs_map_load(struct fs *fs, struct inode *in)
{
	int rc;

	if (in->map_loaded)
		return 0;
	rc = meta_extent_foreach(fs->meta, in->ino, load_ext, &in->map);
	if (rc == 0 && (in->attr.flags & META_IF_INLINE) && !in->wb_len)
		rc = inline_load(in, fs);
	if (rc < 0) {
		fs_map_free(&in->map);
		log_err("cannot load the content map of inode %llu: %s",
			(unsigned long long)in->ino, strerror(-rc));
		return rc;
	}
	in->map_loaded = true;
	return 0;
}

/* Remove [off, end) from the loaded map, recording the change in B. */
int fs_map_punch(struct fs *fs, struct inode *in, struct meta_batch *b,
		     uint64_t off, uint64_t end)
{
	struct extmap *m = &in->map;
	size_t i = fs_map_find(m, off), j = i;
	struct ext keep[2];
	size_t nkeep = 0;
	struct meta_extent me;

	space_must_defer("fs_map_punch");
	while (j < m->n && m->v[j].foff < end)
		j++;
	if (i == j)
		return 0;
	if (map_reserve(m, 2) < 0)
		return -ENOMEM;
	if (m->v[i].foff < off) {
		keep[nkeep] = m->v[i];
		keep[nkeep].len = off - m->v[i].foff;
		keep[nkeep++].crcs->refs++;
	}
	if (m->v[j - 1].foff + m->v[j - 1].len > end) {
		struct ext *last = &m->v[j - 1];

		keep[nkeep] = *last;
		keep[nkeep].foff = end;
		keep[nkeep].inner = last->inner + (uint32_t)(end - last->foff);
		keep[nkeep].len = last->foff + last->len - end;
		keep[nkeep++].crcs->refs++;
	}
	/* Count the kept pieces first so a trimmed extent never drops to no
	 * references (which would free all of it). */
	for (size_t k = 0; k < nkeep; k++)
		space_ref(fs, &keep[k].ref);
	for (size_t k = i; k < j; k++) {
		const struct ext *x = &m->v[k];
		uint64_t s = x->foff > off ? x->foff : off;
		uint64_t t = x->foff + x->len < end ? x->foff + x->len : end;

		in->attr.alloc -= x->len;
		meta_extent_del(b, in->ino, x->foff, &x->ref);
		space_unref(fs, &x->ref, x->inner + (uint32_t)(s - x->foff), t - s,
			    fs_extents_unique(fs, in));
		fs_crcs_put(x->crcs);
	}
	memmove(&m->v[i + nkeep], &m->v[j], (m->n - j) * sizeof(*m->v));
	m->n = m->n - (j - i) + nkeep;
	for (size_t k = 0; k < nkeep; k++) {
		m->v[i + k] = keep[k];
		in->attr.alloc += keep[k].len;
		ext_to_meta(&keep[k], &me);
		meta_extent_put(b, in->ino, &me);
	}
	return 0;
}

/* Put extent E (already counted by space_ref) at its place in the map. */
int fs_map_insert(struct fs *fs, struct inode *in, struct meta_batch *b,
		      const struct ext *e)
{
	struct meta_extent me;
	size_t i;
	int rc = fs_map_punch(fs, in, b, e->foff, e->foff + e->len);

	if (rc < 0)
		return rc;
	if (map_reserve(&in->map, 1) < 0)
		return -ENOMEM;
	i = fs_map_find(&in->map, e->foff);
	memmove(&in->map.v[i + 1], &in->map.v[i], (in->map.n - i) * sizeof(*e));
	in->map.v[i] = *e;
	in->map.n++;
	in->attr.alloc += e->len;
	ext_to_meta(e, &me);
	meta_extent_put(b, in->ino, &me);
	return 0;
}


/* --- moving extents (tier migration, compaction) --------------------- */

static bool ext_same(const struct ext *a, const struct ext *b)
{
	return a->foff == b->foff && a->len == b->len && a->inner == b->inner &&
	       a->ref.tier == b->ref.tier && a->ref.seg == b->ref.seg && a->ref.off == b->ref.off;
}

int fs_map_replace(struct fs *fs, struct inode *in, const struct ext *old,
		   const struct ext *repl, size_t n)
{
	struct meta_batch *b;
	struct meta_extent me;
	size_t *at = malloc((n ? n : 1) * sizeof(*at)), done = 0;
	/* a file of an epoch snapshot: meta/ moves the record it reads, and
	 * says which counts changed (the live file may keep the old piece) */
	bool snap = meta_ino_is_snap(in->ino);
	int rc = fs_map_load(fs, in);

	b = meta_batch_new();
	if (!at || !b)
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		size_t k = fs_map_find(&in->map, old[i].foff);

		at[i] = SIZE_MAX;
		if (k >= in->map.n || !ext_same(&in->map.v[k], &old[i]))
			continue;	/* changed meanwhile: this piece stays where it is */
		at[i] = k;
		ext_to_meta(&repl[i], &me);
		if (snap) {
			rc = meta_snap_extent_move(b, in->ino, old[i].foff, &old[i].ref, &me);
		} else {
			meta_extent_del(b, in->ino, old[i].foff, &old[i].ref);	/* put over it */
			meta_extent_put(b, in->ino, &me);
		}
		done++;
	}
	if (rc == 0 && done)
		rc = fs_commit(fs, b, true);	/* counts what a move kept */
	if (rc == 0 && snap) {
		const struct tier_ref *let;
		size_t nlet = meta_batch_dropped(b, &let);

		for (size_t i = 0; i < nlet; i++)
			space_unref(fs, &let[i], 0, 0, false);
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct ext *e;

		if (at[i] == SIZE_MAX)
			continue;
		e = &in->map.v[at[i]];
		if (snap)
			continue;
		space_ref(fs, &repl[i].ref);
		space_unref(fs, &e->ref, e->inner, e->len, fs_extents_unique(fs, in));
		fs_crcs_put(e->crcs);
		*e = repl[i];
		e->crcs->refs++;
	}
	if (rc == 0 && snap && done) {
		/* read again from the records: a move meta/ found stale (the
		 * snapshot no longer reads OLD there) left them as they were */
		fs_map_free(&in->map);
		in->map_loaded = false;
	}
	meta_batch_free(b);
	free(at);
	return rc < 0 ? rc : (int)done;
}

/* --- sharing extents between inodes ---------------------------------- */

int fs_map_clone_to(struct fs *fs, struct inode *in, struct meta_batch *b, uint64_t dst)
{
	struct meta_extent me;

	space_must_defer("fs_map_clone_to");
	if (in->attr.flags & META_IF_INLINE)	/* stored and loaded by the caller */
		meta_inline_put(b, dst, in->wbuf, in->wb_len);

	for (size_t i = 0; i < in->map.n; i++) {
		ext_to_meta(&in->map.v[i], &me);
		meta_extent_put(b, dst, &me);
		space_ref(fs, &in->map.v[i].ref);
	}
	return 0;
}

struct copy_ctx {
	struct fs *fs;
	struct inode *in;
	struct meta_batch *b;
};

static int copy_ext(void *ctx, const struct meta_extent *me)
{
	struct copy_ctx *c = ctx;
	struct ext e = { .foff = me->foff, .len = me->len, .inner = me->inner, .ref = me->ref };
	int rc;

	e.crcs = fs_crcs_new(me->crcs, me->ncrc);
	if (!e.crcs)
		return -ENOMEM;
	space_ref(c->fs, &e.ref);
	rc = fs_map_insert(c->fs, c->in, c->b, &e);
	if (rc < 0) {
		space_unref(c->fs, &e.ref, 0, 0, false);
		fs_crcs_put(e.crcs);
	}
	return rc;
}

int fs_map_copy_from(struct fs *fs, struct inode *in, struct meta_batch *b, uint64_t src)
{
	struct copy_ctx c = { fs, in, b };
	void *data;
	size_t len;
	int rc;

	space_must_defer("fs_map_copy_from");
	rc = fs_map_load(fs, in);
	if (rc < 0)
		return rc;
	rc = meta_inline_get(fs->meta, src, &data, &len);
	if (rc == 0) {		/* SRC is inline: so is IN now (IN was emptied) */
		rc = fs_wbuf_grow(in, len ? (uint32_t)len : 1);
		if (rc == 0) {
			memcpy(in->wbuf, data, len);
			in->wb_off = 0;
			in->wb_len = (uint32_t)len;
			in->wb_dirty = false;
			in->attr.flags |= META_IF_INLINE;
			in->attr.alloc = len;
			meta_inline_put(b, in->ino, data, len);
		}
		free(data);
		return rc;
	}
	if (rc != -ENOENT)
		return rc;
	if (in->attr.flags & META_IF_INLINE) {
		in->attr.flags &= ~META_IF_INLINE;
		in->wb_len = 0;
		meta_inline_del(b, in->ino);
	}
	return meta_extent_foreach(fs->meta, src, copy_ext, &c);
}

int fs_map_share(struct fs *fs, struct inode *dst, struct meta_batch *b, uint64_t doff,
		 const struct inode *src, uint64_t soff, uint64_t len)
{
	const struct extmap *m = &src->map;
	uint64_t end = soff + len;
	struct ext *v = NULL;
	size_t n = 0, cap = 0, i = 0;
	int rc = 0;

	/* SRC's pieces first: SRC may be DST, whose map the punch changes */
	for (size_t k = fs_map_find(m, soff); k < m->n && m->v[k].foff < end; k++) {
		const struct ext *e = &m->v[k];
		uint64_t s = e->foff > soff ? e->foff : soff;
		uint64_t t = e->foff + e->len < end ? e->foff + e->len : end;

		if (n == cap) {
			struct ext *w = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));

			if (!w) {
				rc = -ENOMEM;
				goto out;
			}
			v = w;
		}
		v[n] = *e;
		v[n].foff = doff + (s - soff);
		v[n].inner = e->inner + (uint32_t)(s - e->foff);
		v[n].len = t - s;
		v[n++].crcs->refs++;
	}
	rc = fs_map_punch(fs, dst, b, doff, doff + len);
	while (rc == 0 && i < n) {
		space_ref(fs, &v[i].ref);
		rc = fs_map_insert(fs, dst, b, &v[i]);
		if (rc < 0)
			space_unref(fs, &v[i].ref, 0, 0, false);
		else
			i++;	/* its piece and checksums are the map's now */
	}
out:
	for (; i < n; i++)
		fs_crcs_put(v[i].crcs);
	free(v);
	return rc;
}

/* --- the write buffer -------------------------------------------------- */

void fs_wbuf_free(struct inode *in)
{
	free(in->wbuf);
	free(in->wb_spare);
	in->wbuf = in->wb_spare = NULL;
	in->wb_cap = in->wb_len = 0;
	in->wb_dirty = false;
	if (in->attr.flags & META_IF_INLINE)
		in->map_loaded = false;		/* the content is reloaded from 'N' */
}

int fs_wbuf_grow(struct inode *in, uint32_t need)
{
	uint32_t cap = in->wb_cap ? in->wb_cap : EXTMAP_WB_MIN;
	char *n;

	if (need <= in->wb_cap)
		return 0;
	if (!in->wbuf && in->wb_spare) {
		in->wbuf = in->wb_spare;	/* left by a buffer in flight (data.c) */
		in->wb_spare = NULL;
		in->wb_cap = FS_WB_CAP;
		return 0;
	}
	while (cap < need)
		cap *= 2;
	if (cap > FS_WB_CAP)
		cap = FS_WB_CAP;
	n = realloc(in->wbuf, cap);
	if (!n)
		return -ENOMEM;
	in->wbuf = n;
	in->wb_cap = cap;
	return 0;
}

void fs_content_reload(struct inode *in)
{
	fs_map_free(&in->map);
	in->map_loaded = false;
	if (!in->wb_dirty)
		in->wb_len = 0;
}
