/* fsck.c — `aifsctl fsck [--repair] STORE`: check every invariant offline.
 *
 * Invariants checked, one output line per violation:
 *  - every dentry names an existing inode of the type the dentry records;
 *  - every inode's link count equals the dentries naming it (directories:
 *    2 + subdirectories); a live inode is named at least once; an inode
 *    with no links has an orphan record (it was unlinked while open);
 *  - every extent lies inside its segment, extents of a file do not
 *    overlap, and every stored byte matches its checksum; the pieces of
 *    stored extents that only epoch snapshots read (history references
 *    them) are read back too, once each, through a snapshot file that
 *    reads them (check_history);
 *  - no stored byte is referenced by two different extents, and none is
 *    held in a segment without being referenced (fsckspace.c).
 * --repair fixes what needs no guessing: dangling dentries are removed,
 * wrong entry types and link counts set to what the inodes and the
 * namespace say, orphans freed, unnamed inodes given a name in
 * /lost+found.  A file whose data is damaged (an extent outside its
 * segment or in a missing one, bytes that fail their checksum or cannot
 * be read) loses those extents (it reads zeros there, and its allocated
 * size counts what is left) and is quarantined: each of its names moves
 * to /lost+found/INO-NAME (versions and snapshot files, which are
 * immutable and named by their records, stay where they are; the extents
 * only epoch snapshots keep cannot be dropped: not repaired).  Each
 * problem's line says whether it was repaired; what was not (overlapping
 * extents, a missing root) is counted in the summary.
 * Bytes a crash left unreferenced are a note, not a problem: the next
 * mount gives them back.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "meta/store.h"
#include "tier/log.h"
#include "tools/aifsctl.h"
#include "tools/common.h"
#include "tools/fsck.h"

struct ient {
	struct meta_inode in;
	uint32_t links;		/* dentries naming it (+ subdirectory '..') */
	bool orphan;
	bool damaged;		/* --repair dropped extents: quarantine it */
};

/* Where a stored extent is: two records naming it share its bytes. */
struct place {
	uint8_t tier;
	uint32_t seg;
	uint64_t off;
};

/* The piece of the stored extent at AT that a record reads. */
struct piece {
	struct place at;
	uint32_t inner, len;
};

/* A stored extent that epoch snapshots' history references. */
struct hplace {
	struct place at;
	bool seen;		/* a snapshot's file reads it */
	size_t reads;		/* the pieces read through one: in fsck.reads, or NONE */
};

/* A piece read through a snapshot's file; NEXT: the one read before it at
 * the same place (NONE: none). */
struct sread {
	uint32_t inner, len;
	size_t next;
};
#define NONE SIZE_MAX

struct fsck {
	struct store *s;
	struct ient *v;
	size_t n, cap;
	bool repair;
	unsigned long problems, fixed, extents;
	unsigned long repaired, unrepaired, notes, quarantined;
	unsigned long long bytes;
	struct meta_batch *b;
	uint64_t cur;		/* inode being walked */
	uint64_t last_end;
	uint64_t lf;		/* /lost+found, once found or made */
	char *buf;
	struct piece *live;	/* what the live walk read */
	size_t nlive, caplive;
	struct hplace *hist;	/* what history references */
	size_t nhist, caphist;
	uint64_t *hino;		/* the live inodes it was of */
	size_t nhino, caphino;
	struct sread *reads;
	size_t nreads, capreads;
	unsigned long snap_extents;	/* pieces read through snapshots' files */
};

static void problem(struct fsck *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct fsck *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	f->problems++;
}

/* Suffix of a problem's line: with --repair, REPAIRED says it was done,
 * else WHY_NOT says why it was not (and both are counted). */
static const char *outcome(struct fsck *f, bool done, const char *repaired, const char *why_not)
{
	static char buf[160];

	if (!f->repair)
		return "";
	if (done) {
		f->repaired++;
		snprintf(buf, sizeof(buf), " (%s)", repaired);
	} else {
		f->unrepaired++;
		snprintf(buf, sizeof(buf), " (not repaired: %s)", why_not);
	}
	return buf;
}

static void space_report(void *ctx, bool damage, const char *msg)
{
	struct fsck *f = ctx;

	if (damage) {
		problem(f, "%s%s", msg, outcome(f, false, "",
			"which extent holds the right bytes cannot be known"));
	} else {
		printf("note: %s\n", msg);
		f->notes++;
	}
}

static void counts_report(void *ctx, bool is_problem, bool repaired, const char *msg)
{
	struct fsck *f = ctx;

	if (is_problem) {
		problem(f, "%s%s", msg, outcome(f, repaired, "counts kept anew from the records",
						"they could not be written"));
	} else {
		printf("note: %s%s\n", msg, repaired ? " (kept now)" : "");
		f->notes++;
	}
}

static struct ient *find(struct fsck *f, uint64_t ino)
{
	size_t lo = 0, hi = f->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (f->v[mid].in.ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->n && f->v[lo].in.ino == ino ? &f->v[lo] : NULL;
}

static int add_inode(void *ctx, const struct meta_inode *in)
{
	struct fsck *f = ctx;

	if (f->n == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 1024;
		struct ient *v = realloc(f->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		f->v = v;
		f->cap = ncap;
	}
	f->v[f->n++] = (struct ient){ .in = *in };
	return 0;
}

/* The inode of /lost+found, made (in the repair's batch) if needed. */
static uint64_t lost_found_dir(struct fsck *f)
{
	struct meta_inode d = { .mode = S_IFDIR | 0700, .nlink = 2 };
	struct ient *root = find(f, META_ROOT_INO);
	uint32_t type;

	if (f->lf || meta_dentry_get(f->s->meta, META_ROOT_INO, "lost+found", 10, &f->lf,
				     &type) == 0)
		return f->lf;
	meta_inode_max(f->s->meta, &f->lf);
	d.ino = ++f->lf;
	d.atime = d.mtime = d.ctime = d.btime = (int64_t)time(NULL) * 1000000000;
	meta_inode_put(f->b, &d);
	meta_dentry_put(f->b, META_ROOT_INO, "lost+found", 10, f->lf, S_IFDIR);
	if (root) {		/* its '..' */
		root->in.nlink++;
		root->links++;
		meta_inode_put(f->b, &root->in);
	}
	return f->lf;
}

/* Give inode E a name in /lost+found. */
static void lost_found(struct fsck *f, struct ient *e)
{
	uint64_t lf = lost_found_dir(f);
	char name[32];
	int n;

	n = snprintf(name, sizeof(name), "#%llu", (unsigned long long)e->in.ino);
	meta_dentry_put(f->b, lf, name, n, e->in.ino, e->in.mode & S_IFMT);
	e->links = 1;
}

/* Move damaged file E's name NAME (LEN bytes, in the directory being
 * walked) to /lost+found/INO-NAME. */
static void quarantine(struct fsck *f, struct ient *e, const char *name, size_t len)
{
	uint64_t lf = lost_found_dir(f);
	char q[META_NAME_MAX + 1];
	int n = snprintf(q, sizeof(q), "%llu-%.*s", (unsigned long long)e->in.ino, (int)len, name);

	if (n >= (int)sizeof(q))
		n = sizeof(q) - 1;	/* the name is cut, the inode number kept */
	meta_dentry_del(f->b, f->cur, name, len);
	meta_dentry_put(f->b, lf, q, (size_t)n, e->in.ino, e->in.mode & S_IFMT);
	printf("quarantined: '%.*s' in directory %llu (inode %llu, damaged data dropped) "
	       "moved to /lost+found/%.*s\n", (int)len, name, (unsigned long long)f->cur,
	       (unsigned long long)e->in.ino, n, q);
	f->quarantined++;
}

static int mark_orphan(void *ctx, uint64_t ino)
{
	struct fsck *f = ctx;
	struct ient *e = find(f, ino);

	if (e)
		e->orphan = true;
	else if (f->repair)
		meta_orphan_del(f->b, ino);
	return 0;
}

static int check_dentry(void *ctx, const char *name, size_t len, uint64_t ino,
			uint32_t type)
{
	struct fsck *f = ctx;
	struct ient *e = find(f, ino);

	if (!e) {
		problem(f, "dangling entry '%.*s' in directory %llu: inode %llu does not exist%s",
			(int)len, name, (unsigned long long)f->cur, (unsigned long long)ino,
			outcome(f, true, "removed", ""));
		if (f->repair)
			meta_dentry_del(f->b, f->cur, name, len);
		return 0;
	}
	if ((e->in.mode & S_IFMT) != type) {
		problem(f, "entry '%.*s' in directory %llu records type %o but inode %llu is %o%s",
			(int)len, name, (unsigned long long)f->cur, type,
			(unsigned long long)ino, e->in.mode & S_IFMT,
			outcome(f, true, "type set to the inode's", ""));
		if (f->repair)
			meta_dentry_put(f->b, f->cur, name, len, ino, e->in.mode & S_IFMT);
	}
	if (e->damaged && !(e->in.flags & META_IF_READONLY) && f->cur != f->lf)
		quarantine(f, e, name, len);
	e->links++;
	if (S_ISDIR(e->in.mode)) {
		struct ient *p = find(f, f->cur);

		if (p)
			p->links++;	/* the subdirectory's ".." */
	}
	return 0;
}

/* --repair: drop damaged extent X of the inode being walked, which then
 * counts only the bytes it keeps and is quarantined. */
static void drop_extent(struct fsck *f, const struct meta_extent *x)
{
	struct ient *e = find(f, f->cur);

	if (!f->repair)
		return;
	meta_extent_del(f->b, f->cur, x->foff, &x->ref);
	if (!e)
		return;
	e->in.alloc = e->in.alloc > x->len ? e->in.alloc - x->len : 0;
	meta_inode_put(f->b, &e->in);
	e->damaged = true;
}

/* Both compare the place first: struct piece and struct hplace start with it. */
static int place_cmp(const void *a, const void *b)
{
	const struct place *x = a, *y = b;

	if (x->tier != y->tier)
		return x->tier < y->tier ? -1 : 1;
	if (x->seg != y->seg)
		return x->seg < y->seg ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

static int piece_cmp(const void *a, const void *b)
{
	const struct piece *x = a, *y = b;
	int c = place_cmp(&x->at, &y->at);

	return c ? c : x->inner < y->inner ? -1 : x->inner > y->inner;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The index of the first of the N elements of V (SIZE bytes each, sorted,
 * each starting with its place) at P, or N if none is there. */
static size_t first_at(const void *v, size_t n, size_t size, const struct place *p)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (place_cmp((const char *)v + mid * size, p) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && !place_cmp((const char *)v + lo * size, p) ? lo : n;
}

static struct place place_of(const struct tier_ref *r)
{
	return (struct place){ .tier = r->tier, .seg = r->seg, .off = r->off };
}

/* Grow *V (of *CAP elements of SIZE bytes) to hold N + 1; -ENOMEM. */
static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t ncap = *cap ? *cap * 2 : 1024;
	void *nv;

	if (n < *cap)
		return 0;
	nv = realloc(*v, ncap * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

/* What --repair does with damaged extent X of the inode being walked: a
 * live one is dropped, a snapshot's (EPOCH nonzero) is read-only. */
static const char *data_outcome(struct fsck *f, uint64_t epoch, const char *repaired)
{
	if (epoch)
		return outcome(f, false, "", "a snapshot's files are read-only: "
			       "only dropping the snapshot lets go of them");
	return outcome(f, true, repaired, "");
}

/* Check that extent X of inode INO (of epoch snapshot EPOCH; 0: the live
 * file) lies inside an existing segment and read its bytes back against
 * their checksums (decompressing them if they are stored compressed);
 * each violation is one problem line.  Whether the bytes are intact. */
static bool check_data(struct fsck *f, uint64_t ino, uint64_t epoch, const struct meta_extent *x)
{
	struct tier *t = x->ref.tier < TIER_COUNT ? f->s->tiers[x->ref.tier] : NULL;
	int64_t segsz = t ? tier_seg_size(t, x->ref.seg) : -EINVAL;
	unsigned long long foff = (unsigned long long)x->foff;
	char what[96], data[96];
	struct tier_io io;

	if (epoch) {
		snprintf(what, sizeof(what), "a snapshot's extent at %llu (epoch %llu)", foff,
			 (unsigned long long)epoch);
		snprintf(data, sizeof(data), "a snapshot's data at %llu (epoch %llu, %llu bytes)",
			 foff, (unsigned long long)epoch, (unsigned long long)x->len);
	} else {
		snprintf(what, sizeof(what), "extent at %llu", foff);
		snprintf(data, sizeof(data), "data at %llu (%llu bytes)", foff,
			 (unsigned long long)x->len);
	}
	if (segsz < 0) {
		problem(f, "inode %llu: %s is in missing segment %u of tier %u%s",
			(unsigned long long)ino, what, x->ref.seg, x->ref.tier,
			data_outcome(f, epoch, "extent dropped: the file reads zeros there"));
		return false;
	}
	if (x->ref.off + x->ref.stored_len > (uint64_t)segsz ||
	    (uint64_t)x->inner + x->len > x->ref.raw_len ||
	    x->ncrc != TIER_NCRC(x->ref.stored_len)) {
		problem(f, "inode %llu: %s lies outside segment %u (offset %llu, %u bytes, "
			"segment %lld bytes)%s", (unsigned long long)ino, what, x->ref.seg,
			(unsigned long long)x->ref.off, x->ref.stored_len, (long long)segsz,
			data_outcome(f, epoch, "extent dropped: the file reads zeros there"));
		return false;
	}
	io = (struct tier_io){ .ref = &x->ref, .crcs = x->crcs, .inner = x->inner,
			       .len = (uint32_t)x->len, .dst = f->buf };
	if (tier_read_batch(f->s->tiers, &io, 1) < 0) {
		problem(f, "inode %llu: %s is damaged: %s%s", (unsigned long long)ino, data,
			strerror(-io.result),
			data_outcome(f, epoch, "the bytes are lost; extent dropped: the file "
				     "reads zeros there"));
		return false;
	}
	return true;
}

static int check_extent(void *ctx, const struct meta_extent *x)
{
	struct fsck *f = ctx;

	f->extents++;
	if (fsck_space_add(&x->ref) < 0 ||
	    grow((void **)&f->live, &f->caplive, f->nlive, sizeof(*f->live)) < 0)
		return -ENOMEM;
	f->live[f->nlive++] = (struct piece){ place_of(&x->ref), x->inner, (uint32_t)x->len };
	if (x->foff < f->last_end)
		problem(f, "inode %llu: extent at %llu overlaps the previous one%s",
			(unsigned long long)f->cur, (unsigned long long)x->foff,
			outcome(f, false, "", "which extent holds the right bytes cannot be known"));
	f->last_end = x->foff + x->len;
	if (check_data(f, f->cur, 0, x))
		f->bytes += x->len;
	else
		drop_extent(f, x);
	return 0;
}

static int history_extent(void *ctx, uint64_t ino, const struct tier_ref *r)
{
	struct fsck *f = ctx;

	if (fsck_space_add(r) < 0 ||
	    grow((void **)&f->hist, &f->caphist, f->nhist, sizeof(*f->hist)) < 0 ||
	    grow((void **)&f->hino, &f->caphino, f->nhino, sizeof(*f->hino)) < 0)
		return -ENOMEM;
	f->hist[f->nhist++] = (struct hplace){ .at = place_of(r), .reads = NONE };
	f->hino[f->nhino++] = ino;
	return 0;
}

/* Sort V (N elements of SIZE bytes) by CMP and keep one of equal ones;
 * how many are left. */
static size_t sort_unique(void *v, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	size_t k = 0;

	if (n == 0)
		return 0;	/* V may be NULL */
	qsort(v, n, size, cmp);
	for (size_t i = 0; i < n; i++)
		if (!k || cmp((char *)v + (k - 1) * size, (char *)v + i * size))
			memmove((char *)v + k++ * size, (char *)v + i * size, size);
	return k;
}

/* The pieces of the stored extent at H read back so far, by the live walk
 * or through a snapshot's file: the end of the one that covers POS and
 * reaches furthest (POS if none does), and in *NEXT the least start above
 * POS (UINT64_MAX if none). */
static uint64_t read_from(struct fsck *f, const struct hplace *h, uint64_t pos, uint64_t *next)
{
	uint64_t end = pos;

	*next = UINT64_MAX;
	for (size_t i = first_at(f->live, f->nlive, sizeof(*f->live), &h->at);
	     i < f->nlive && !place_cmp(&f->live[i].at, &h->at); i++) {
		uint64_t a = f->live[i].inner, b = a + f->live[i].len;

		if (a <= pos && b > end)
			end = b;
		else if (a > pos && a < *next)
			*next = a;
	}
	for (size_t r = h->reads; r != NONE; r = f->reads[r].next) {
		uint64_t a = f->reads[r].inner, b = a + f->reads[r].len;

		if (a <= pos && b > end)
			end = b;
		else if (a > pos && a < *next)
			*next = a;
	}
	return end;
}

/* The bytes of X's piece of the stored extent at H that nothing has read
 * back yet. */
static uint64_t unread(struct fsck *f, const struct hplace *h, const struct meta_extent *x)
{
	uint64_t pos = x->inner, end = x->inner + x->len, n = 0, next;

	while (pos < end) {
		uint64_t to = read_from(f, h, pos, &next);

		if (to > pos) {
			pos = to;
			continue;
		}
		n += (next < end ? next : end) - pos;
		pos = next;
	}
	return n;
}

/* Extent X of the snapshot file being walked: read it back if history
 * references its stored extent and nothing has read its piece yet. */
static int check_snap_extent(void *ctx, const struct meta_extent *x)
{
	struct fsck *f = ctx;
	struct place p = place_of(&x->ref);
	size_t i = first_at(f->hist, f->nhist, sizeof(*f->hist), &p);
	struct hplace *h = i < f->nhist ? &f->hist[i] : NULL;
	uint64_t fresh;

	if (!h)
		return 0;	/* a live record the snapshot still reads */
	h->seen = true;
	fresh = unread(f, h, x);
	if (!fresh)
		return 0;
	if (grow((void **)&f->reads, &f->capreads, f->nreads, sizeof(*f->reads)) < 0)
		return -ENOMEM;
	f->reads[f->nreads] = (struct sread){ x->inner, (uint32_t)x->len, h->reads };
	h->reads = f->nreads++;
	f->snap_extents++;
	if (check_data(f, meta_snap_live(f->cur), meta_snap_epoch(f->cur), x))
		f->bytes += fresh;	/* what the live walk read is counted once */
	return 0;
}

/* Walk the files of epoch snapshot EP that history keeps extents of. */
static int check_epoch(void *ctx, const struct meta_epoch *ep)
{
	struct fsck *f = ctx;
	int rc = 0;

	for (size_t i = 0; i < f->nhino && f->hino[i] <= ep->hwm && rc == 0; i++) {
		f->cur = meta_snap_ino(ep->epoch, f->hino[i]);
		rc = meta_extent_foreach(f->s->meta, f->cur, check_snap_extent, f);
		if (rc == -ENOENT)	/* not a file of this snapshot */
			rc = 0;
	}
	return rc;
}

/* Read back the extents epoch snapshots' history references, through the
 * snapshots' files that read them: each piece no live record reads (a
 * snapshot file's piece may be larger than the live file's), once. */
static int check_history(struct fsck *f)
{
	int rc = meta_history_extent_foreach(f->s->meta, history_extent, f);

	if (rc < 0)
		return rc;
	if (f->nlive)
		qsort(f->live, f->nlive, sizeof(*f->live), piece_cmp);
	f->nhist = sort_unique(f->hist, f->nhist, sizeof(*f->hist), place_cmp);
	f->nhino = sort_unique(f->hino, f->nhino, sizeof(*f->hino), u64_cmp);
	rc = meta_epoch_foreach(f->s->meta, check_epoch, f);
	for (size_t i = 0; i < f->nhist && rc == 0; i++) {
		const struct hplace *h = &f->hist[i];

		if (h->seen)
			continue;
		printf("note: history keeps the extent at tier %u segment %u offset %llu, "
		       "which no snapshot reads\n", h->at.tier, h->at.seg,
		       (unsigned long long)h->at.off);
		f->notes++;
	}
	return rc;
}

static void check_links(struct fsck *f, struct ient *e)
{
	unsigned long long ino = (unsigned long long)e->in.ino;
	uint32_t want = e->links + (S_ISDIR(e->in.mode) ? 1 : 0);

	if (e->in.flags & META_IF_VERSION)
		return;		/* named by its version record, not a directory */
	if (e->in.nlink == 0 && e->orphan && e->links == 0) {
		if (f->repair) {
			meta_inode_purge(f->s->meta, f->b, e->in.ino);
			f->fixed++;
		}
		return;		/* dropped while in use: freed at the next mount */
	}
	if (e->in.ino == META_ROOT_INO || (e->in.flags & META_IF_SNAPROOT)) {
		want = e->links + 2;	/* named by the store or a snapshot record */
		if (e->in.nlink != want) {
			problem(f, "directory %llu has link count %u but %u names%s", ino,
				e->in.nlink, want, outcome(f, true, "fixed", ""));
			if (f->repair) {
				e->in.nlink = want;
				meta_inode_put(f->b, &e->in);
			}
		}
		return;
	}
	if (e->links == 0 && e->in.ino != META_ROOT_INO) {
		if (e->in.nlink == 0 && e->orphan) {
			if (f->repair) {
				meta_inode_purge(f->s->meta, f->b, e->in.ino);
				f->fixed++;
			}
			return;		/* unlinked while open: freed at mount */
		}
		problem(f, "inode %llu (mode %o) is not named by any directory%s", ino,
			e->in.mode, outcome(f, true, "moved to /lost+found", ""));
		if (!f->repair)
			return;
		lost_found(f, e);
		want = S_ISDIR(e->in.mode) ? 2 : 1;
	}
	if (e->in.nlink != want) {
		problem(f, "inode %llu has link count %u but %u names%s", ino, e->in.nlink, want,
			outcome(f, true, "fixed", ""));
		if (f->repair) {
			e->in.nlink = want;
			meta_inode_put(f->b, &e->in);
		}
	}
}

static int walk(struct fsck *f)
{
	int rc;

	rc = meta_inode_foreach(f->s->meta, add_inode, f);
	if (rc == 0)
		rc = meta_orphan_foreach(f->s->meta, mark_orphan, f);
	if (rc < 0)
		return rc;
	if (!find(f, META_ROOT_INO))
		problem(f, "root directory inode is missing%s",
			outcome(f, false, "", "a new root would lose every name"));
	/* the data first, so that the names of damaged files are known to be
	 * such when the directories are walked */
	if (f->repair && meta_dentry_get(f->s->meta, META_ROOT_INO, "lost+found", 10, &f->lf,
					 &(uint32_t){ 0 }) < 0)
		f->lf = 0;
	for (size_t i = 0; i < f->n && rc == 0; i++) {
		progress("fsck", i + 1, 2 * f->n);
		f->cur = f->v[i].in.ino;
		f->last_end = 0;
		if (S_ISREG(f->v[i].in.mode))
			rc = meta_extent_foreach(f->s->meta, f->cur, check_extent, f);
	}
	for (size_t i = 0; i < f->n && rc == 0; i++) {
		progress("fsck", f->n + i + 1, 2 * f->n);
		f->cur = f->v[i].in.ino;
		if (S_ISDIR(f->v[i].in.mode))
			rc = meta_dentry_foreach(f->s->meta, f->cur, NULL, 0, check_dentry, f);
	}
	for (size_t i = 0; i < f->n && rc == 0; i++)
		check_links(f, &f->v[i]);
	if (rc == 0)	/* epoch snapshots' history references extents too */
		rc = check_history(f);
	if (rc == 0)
		fsck_space_counts(f->s, f->repair, counts_report, f);
	if (rc == 0)
		fsck_space_check(f->s, space_report, f);
	return rc;
}

static const char fsck_usage[] =
	"usage: aifsctl fsck [--repair] STORE\n"
	"\n"
	"Check every invariant of an unmounted store and read back every stored\n"
	"byte against its checksum; one line per problem.\n"
	"  --repair   fix what can be fixed without guessing\n";

int cmd_fsck(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "repair", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct fsck f = { 0 };
	bool ro;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r': f.repair = true; break;
		case 'h': fputs(fsck_usage, stdout); return EXIT_OK;
		default: usage_of(stderr, fsck_usage, NULL, false); return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		usage_of(stderr, fsck_usage, NULL, false);
		return EXIT_USAGE;
	}
	if (tool_store_open_ro_ok(argv[optind], &f.s, "fsck", &ro) < 0)
		return EXIT_PROBLEM;
	if (ro && f.repair) {
		fprintf(stderr, "aifsctl fsck: --repair: %s could only be opened read-only; "
			"nothing can be repaired\n", argv[optind]);
		store_close(f.s);
		return EXIT_PROBLEM;
	}
	f.b = meta_batch_new();
	f.buf = malloc(TIER_EXTENT_MAX);
	rc = f.b && f.buf ? walk(&f) : -ENOMEM;
	if (rc == 0 && f.repair)
		rc = meta_batch_commit(f.s->meta, f.b, true);
	if (rc < 0)
		fprintf(stderr, "aifsctl fsck: %s the store: %s\n",
			f.repair ? "cannot repair" : "cannot read", strerror(-rc));
	else if (f.problems && f.repair)
		printf("fsck: %lu problem%s found in %zu inodes, %lu extents: %lu repaired, "
		       "%lu not repaired%s; %lu name%s quarantined in /lost+found\n", f.problems,
		       f.problems == 1 ? "" : "s", f.n, f.extents, f.repaired, f.unrepaired,
		       f.unrepaired ? " (each listed above with the reason)" : "",
		       f.quarantined, f.quarantined == 1 ? "" : "s");
	else if (f.problems)
		printf("fsck: %lu problem%s found in %zu inodes, %lu extents\n", f.problems,
		       f.problems == 1 ? "" : "s", f.n, f.extents);
	else
		printf("fsck: clean: %zu inodes, %lu extents (and %lu only snapshots read), "
		       "%llu bytes verified%s\n", f.n, f.extents, f.snap_extents, f.bytes,
		       f.notes ? "; notes above" : "");
	meta_batch_free(f.b);
	free(f.buf);
	free(f.v);
	free(f.live);
	free(f.hist);
	free(f.hino);
	free(f.reads);
	store_close(f.s);
	/* repaired throughout: the store is consistent now */
	return rc < 0 || (f.problems && (!f.repair || f.unrepaired)) ? EXIT_PROBLEM : EXIT_OK;
}
