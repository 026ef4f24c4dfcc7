/* test_history.c — epoch snapshots of meta/history.c on a real RocksDB:
 * the history a commit keeps, the views of meta.c's readers at an epoch,
 * dropping epochs, the space log's counts of kept extents, the fail point
 * history_keep, and reopening.
 *
 * Every test gets a fresh database in its own directory under one mkdtemp
 * directory, which main removes at the end; its test case's fixture leaves
 * it empty, fills it with populate's records, or adds one epoch (e1) over
 * them.  The test reads history's own records ('h', 'g') through meta/db.h,
 * private to meta/.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "meta/db.h"
#include "meta/keys.h"
#include "meta/meta.h"
#include "meta/records.h"
#include "tier/failpoint.h"
#include "tier/tier.h"

static char tmp_root[] = "/tmp/aifs-test-history.XXXXXX";
static char dir[sizeof(tmp_root) + 32];
static struct meta *m;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "%s/db.XXXXXX", tmp_root);
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
	ck_assert_int_eq(meta_open(dir, true, &m), 0);
}

static void teardown(void)
{
	failpoint_arm("");
	meta_close(m);
	m = NULL;
}

static void reopen(void)
{
	meta_close(m);
	m = NULL;
	ck_assert_int_eq(meta_open(dir, false, &m), 0);
}

static void commit(struct meta_batch *b)
{
	ck_assert_int_eq(meta_batch_commit(m, b, false), 0);
	meta_batch_free(b);
}

/* --- fixtures ------------------------------------------------------------ */

/* The stored extent number N: one checksum block, a distinct place. */
static struct tier_ref ref(uint32_t n)
{
	return (struct tier_ref){ .tier = TIER_HOT, .codec = 0, .seg = n, .off = 4096ull * n,
				  .stored_len = 4096, .raw_len = 4096 };
}

static bool ref_eq(const struct tier_ref *a, const struct tier_ref *b)
{
	return a->tier == b->tier && a->codec == b->codec && a->seg == b->seg &&
	       a->off == b->off && a->stored_len == b->stored_len && a->raw_len == b->raw_len;
}

static const uint32_t crc1[1] = { 0x12345678 };

static void ext_put(struct meta_batch *b, uint64_t ino, uint64_t foff, uint64_t len,
		    uint32_t inner, uint32_t n)
{
	struct meta_extent e = { .foff = foff, .len = len, .inner = inner, .ref = ref(n),
				 .ncrc = 1, .crcs = crc1 };

	meta_extent_put(b, ino, &e);
}

static void ext_del(struct meta_batch *b, uint64_t ino, uint64_t foff, uint32_t n)
{
	struct tier_ref r = ref(n);

	meta_extent_del(b, ino, foff, &r);
}

/* Inode 3's extent at 0 moved from stored extent FROM to TO. */
static void ext_repoint(struct meta_batch *b, uint32_t from, uint32_t to)
{
	ext_del(b, 3, 0, from);
	ext_put(b, 3, 0, 4096, 0, to);
}

static struct meta_inode inode(uint64_t ino, uint32_t mode, uint64_t size)
{
	return (struct meta_inode){ .ino = ino, .mode = mode, .uid = 1000, .gid = 1000,
				    .nlink = 1, .size = size, .mtime = (int64_t)size * 3,
				    .flags = META_IF_XATTR, .generation = size + 7 };
}

static void put_inode(struct meta_batch *b, uint64_t ino, uint32_t mode, uint64_t size)
{
	struct meta_inode in = inode(ino, mode, size);

	meta_inode_put(b, &in);
}

static void hash_put(struct meta_batch *b, uint64_t ino, const char *v)
{
	uint8_t k[8];

	key_put_u64(k, ino);
	meta_rec_put(b, META_REC_CONTENT_HASH, k, 8, v, strlen(v));
}

static uint64_t make_epoch(uint64_t ds, uint64_t hwm)
{
	struct meta_batch *b = meta_batch_new();
	uint64_t e = 0;

	ck_assert_int_eq(meta_epoch_create(m, b, ds, hwm, 1000, &e), 0);
	commit(b);
	return e;
}

struct refs {
	struct tier_ref v[64];
	size_t n;
};

/* Commit B and free it; the extents its commit kept into KEPT. */
static void commit_kept(struct meta_batch *b, struct refs *kept)
{
	const struct tier_ref *v;
	size_t n;

	ck_assert_int_eq(meta_batch_commit(m, b, false), 0);
	n = meta_batch_kept(b, &v);
	kept->n = 0;
	for (size_t i = 0; i < n; i++)
		kept->v[kept->n++] = v[i];
	meta_batch_free(b);
}

/* Drop epoch E; the refs its commit dropped into *REFS (caller frees). */
static size_t drop_epoch(uint64_t e, struct tier_ref **refs)
{
	struct meta_batch *b = meta_batch_new();
	const struct tier_ref *v;
	size_t n;

	ck_assert_int_eq(meta_epoch_drop(m, b, e), 0);
	ck_assert_int_eq(meta_batch_commit(m, b, false), 0);
	n = meta_batch_dropped(b, &v);
	*refs = malloc((n ? n : 1) * sizeof(**refs));
	ck_assert_ptr_nonnull(*refs);
	if (n)
		memcpy(*refs, v, n * sizeof(**refs));
	meta_batch_free(b);
	return n;
}

/* --- what the store holds --------------------------------------------------- */

/* How many records start with the PLEN bytes of PREFIX. */
static size_t count(const uint8_t *prefix, size_t plen)
{
	struct db_cursor c;
	size_t n = 0;

	ck_assert_int_eq(db_cur_open(&c, m, prefix, plen, prefix, plen), 0);
	while (db_cur_next(&c))
		n++;
	ck_assert_int_eq(db_cur_close(&c, 0), 0);
	return n;
}

static size_t count_kind(uint8_t kind)
{
	return count(&kind, 1);
}

/* History records of KIND's records of INO. */
static size_t count_hist_of(uint8_t kind, uint64_t ino)
{
	uint8_t p[10] = { META_REC_HISTORY, kind };

	key_put_u64(p + 2, ino);
	return count(p, sizeof(p));
}

struct net {
	struct tier_ref r;
	long sum;
	size_t records;		/* log records */
	size_t deltas;		/* deltas in them */
};

static int net_cb(void *ctx, uint64_t id, const struct space_delta *d, size_t n)
{
	struct net *x = ctx;

	(void)id;
	x->records++;
	x->deltas += n;
	for (size_t i = 0; i < n; i++)
		if (d[i].tier == x->r.tier && d[i].seg == x->r.seg && d[i].off == x->r.off &&
		    d[i].len == x->r.stored_len)
			x->sum += d[i].delta;
	return 0;
}

/* The net count the space log gives stored extent N. */
static long space_net(uint32_t n)
{
	struct net x = { .r = ref(n) };

	ck_assert_int_eq(meta_space_log_foreach(m, 0, UINT64_MAX, net_cb, &x), 0);
	return x.sum;
}

/* How many deltas the whole log holds. */
static size_t space_deltas(void)
{
	struct net x = { .r = ref(0xffffff) };

	ck_assert_int_eq(meta_space_log_foreach(m, 0, UINT64_MAX, net_cb, &x), 0);
	return x.deltas;
}

static int hist_ext_cb(void *ctx, uint64_t ino, const struct tier_ref *r)
{
	struct refs *x = ctx;

	(void)ino;
	ck_assert_uint_lt(x->n, 64);
	x->v[x->n++] = *r;
	return 0;
}

static void history_refs(struct refs *x)
{
	x->n = 0;
	ck_assert_int_eq(meta_history_extent_foreach(m, hist_ext_cb, x), 0);
}

/* How many of V[0..N) are stored extent K. */
static size_t ref_count(const struct tier_ref *v, size_t n, uint32_t k)
{
	struct tier_ref r = ref(k);
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += ref_eq(&v[i], &r);
	return c;
}

/* V[0..N) is exactly the multiset of stored extents WANT[0..NW). */
static void assert_refs(const struct tier_ref *v, size_t n, const uint32_t *want, size_t nw,
			const char *what)
{
	ck_assert_msg(n == nw, "%s: %zu refs, expected %zu", what, n, nw);
	for (size_t i = 0; i < nw; i++) {
		size_t times = 0;

		for (size_t j = 0; j < nw; j++)
			times += want[j] == want[i];
		ck_assert_msg(ref_count(v, n, want[i]) == times,
			      "%s: stored extent %u is there %zu times, expected %zu", what,
			      want[i], ref_count(v, n, want[i]), times);
	}
}

/* Drop epoch E; its commit must drop exactly the stored extents WANT[0..NW). */
static void drop_expect(uint64_t e, const uint32_t *want, size_t nw, const char *what)
{
	struct tier_ref *dr;
	size_t nd = drop_epoch(e, &dr);

	assert_refs(dr, nd, want, nw, what);
	free(dr);
}

static int live_ext_cb(void *ctx, const struct meta_extent *e)
{
	struct net *x = ctx;

	if (ref_eq(&e->ref, &x->r))
		x->sum++;
	return 0;
}

/* Live extent records of inode 3 that reference stored extent N. */
static long live_refs(uint32_t n)
{
	struct net x = { .r = ref(n) };

	ck_assert_int_eq(meta_extent_foreach(m, 3, live_ext_cb, &x), 0);
	return x.sum;
}

/* N history records, and N of their index by death. */
static void assert_history(size_t n)
{
	ck_assert_uint_eq(count_kind(META_REC_HISTORY), n);
	ck_assert_uint_eq(count_kind(META_REC_HISTORY_BY_DEATH), n);
}

/* Nothing is kept any more: the space log counts stored extents FROM..TO
 * just as the live records do. */
static void assert_nothing_kept(uint32_t from, uint32_t to)
{
	assert_history(0);
	for (uint32_t r = from; r <= to; r++)
		ck_assert_msg(space_net(r) == live_refs(r),
			      "stored extent %u: net %ld, live records %ld", r, space_net(r),
			      live_refs(r));
}

/* --- reading ------------------------------------------------------------- */

static void assert_size(uint64_t ino, uint64_t size)
{
	struct meta_inode in;
	int rc = meta_inode_get(m, ino, &in);

	ck_assert_msg(rc == 0, "inode %#llx: %d", (unsigned long long)ino, rc);
	ck_assert_uint_eq(in.ino, ino);
	ck_assert_msg(in.size == size, "inode %#llx: size %llu, expected %llu",
		      (unsigned long long)ino, (unsigned long long)in.size,
		      (unsigned long long)size);
	ck_assert_uint_eq(in.generation, size + 7);
	ck_assert_int_eq(in.mtime, (int64_t)size * 3);
	if (meta_ino_is_snap(ino))
		ck_assert(in.flags & META_IF_SNAPSHOT);
}

static void assert_dentry(uint64_t parent, const char *name, int want_rc, uint64_t want)
{
	uint64_t ino = 0;
	uint32_t type = 0;
	int rc = meta_dentry_get(m, parent, name, strlen(name), &ino, &type);

	ck_assert_msg(rc == want_rc, "dentry %#llx/%s: %d, expected %d",
		      (unsigned long long)parent, name, rc, want_rc);
	if (rc == 0)
		ck_assert_msg(ino == want, "dentry %#llx/%s: ino %#llx, expected %#llx",
			      (unsigned long long)parent, name, (unsigned long long)ino,
			      (unsigned long long)want);
}

struct listing {
	char buf[1024];
	size_t len;
};

static int list_cb(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type)
{
	struct listing *l = ctx;

	(void)type;
	l->len += (size_t)snprintf(l->buf + l->len, sizeof(l->buf) - l->len, "%.*s=%#llx ",
				   (int)len, name, (unsigned long long)ino);
	return 0;
}

/* "name=ino " for each entry of PARENT after AFTER (NULL: all). */
static void assert_listing(uint64_t parent, const char *after, const char *want)
{
	struct listing l = { .len = 0 };

	ck_assert_int_eq(meta_dentry_foreach(m, parent, after, after ? strlen(after) : 0,
					     list_cb, &l), 0);
	ck_assert_msg(!strcmp(l.buf, want),
		      "listing of %#llx after %s:\n got  \"%s\"\n want \"%s\"",
		      (unsigned long long)parent, after ? after : "(none)", l.buf, want);
}

static int ext_list_cb(void *ctx, const struct meta_extent *e)
{
	struct listing *l = ctx;

	l->len += (size_t)snprintf(l->buf + l->len, sizeof(l->buf) - l->len,
				   "%llu+%llu@%u:%u ", (unsigned long long)e->foff,
				   (unsigned long long)e->len, e->ref.seg, e->inner);
	return 0;
}

/* "foff+len@stored extent:inner " for each extent of INO. */
static void assert_extents(uint64_t ino, const char *want)
{
	struct listing l = { .len = 0 };

	ck_assert_int_eq(meta_extent_foreach(m, ino, ext_list_cb, &l), 0);
	ck_assert_msg(!strcmp(l.buf, want), "extents of %#llx:\n got  \"%s\"\n want \"%s\"",
		      (unsigned long long)ino, l.buf, want);
}

static int xattr_list_cb(void *ctx, const char *name, const void *val, size_t len)
{
	struct listing *l = ctx;

	l->len += (size_t)snprintf(l->buf + l->len, sizeof(l->buf) - l->len, "%s=%.*s ",
				   name, (int)len, (const char *)val);
	return 0;
}

static void assert_xattrs(uint64_t ino, const char *want)
{
	struct listing l = { .len = 0 };

	ck_assert_int_eq(meta_xattr_foreach(m, ino, xattr_list_cb, &l), 0);
	ck_assert_msg(!strcmp(l.buf, want), "xattrs of %#llx:\n got  \"%s\"\n want \"%s\"",
		      (unsigned long long)ino, l.buf, want);
}

/* A getter of WHAT answered RC and the LEN bytes at V (freed here): WANT, or
 * with WANT NULL, the answer ABSENT. */
static void assert_value(const char *what, int rc, void *v, size_t len, const char *want,
			 int absent)
{
	if (!want) {
		ck_assert_msg(rc == absent, "%s: %d, expected %d", what, rc, absent);
		return;
	}
	ck_assert_msg(rc == 0, "%s: %d", what, rc);
	ck_assert_msg(len == strlen(want) && !memcmp(v, want, len),
		      "%s: \"%.*s\", expected \"%s\"", what, (int)len, (char *)v, want);
	free(v);
}

static void assert_xattr(uint64_t ino, const char *name, const char *want)
{
	char what[64];
	void *v = NULL;
	size_t len = 0;
	int rc = meta_xattr_get(m, ino, name, &v, &len);

	snprintf(what, sizeof(what), "xattr %s of %#llx", name, (unsigned long long)ino);
	assert_value(what, rc, v, len, want, -ENODATA);
}

static void assert_symlink(uint64_t ino, const char *want)
{
	char *t = NULL;
	size_t len = 0;

	ck_assert_int_eq(meta_symlink_get(m, ino, &t, &len), 0);
	ck_assert_msg(len == strlen(want) && !strcmp(t, want), "symlink %#llx: \"%s\", want \"%s\"",
		      (unsigned long long)ino, t, want);
	free(t);
}

static void assert_inline(uint64_t ino, const char *want)
{
	char what[32];
	void *v = NULL;
	size_t len = 0;
	int rc = meta_inline_get(m, ino, &v, &len);

	snprintf(what, sizeof(what), "inline %#llx", (unsigned long long)ino);
	assert_value(what, rc, v, len, want, 0);
}

static void assert_hash(uint64_t ino, const char *want)
{
	char what[32];
	uint8_t k[8];
	void *v = NULL;
	size_t len = 0;
	int rc;

	key_put_u64(k, ino);
	rc = meta_rec_get(m, META_REC_CONTENT_HASH, k, 8, &v, &len);
	snprintf(what, sizeof(what), "hash %#llx", (unsigned long long)ino);
	assert_value(what, rc, v, len, want, -ENOENT);
}

#define S(e, ino)	meta_snap_ino((e), (ino))

/* --- 1: one epoch, every kind ---------------------------------------------------- */

/* Inodes: 1 root, 2 = D (the dataset), 3 a file with extents, xattrs and a
 * content hash, 4 5 files, 6 a symlink, 7 a file with inline data, 8 an
 * empty directory, 9 a directory with one entry. */
#define D	2ull
#define HWM	9ull

static void populate(void)
{
	struct meta_batch *b = meta_batch_new();

	put_inode(b, 1, 040755, 1);
	put_inode(b, D, 040755, 2);
	put_inode(b, 3, 0100644, 12288);
	put_inode(b, 4, 0100644, 4);
	put_inode(b, 5, 0100644, 5);
	put_inode(b, 6, 0120777, 10);
	put_inode(b, 7, 0100644, 10);
	put_inode(b, 8, 040755, 8);
	put_inode(b, 9, 040755, 9);
	meta_dentry_put(b, 1, "d", 1, D, DT_DIR);
	meta_dentry_put(b, D, "a", 1, 3, DT_REG);
	meta_dentry_put(b, D, "b", 1, 4, DT_REG);
	meta_dentry_put(b, D, "c", 1, 5, DT_REG);
	meta_dentry_put(b, D, "e", 1, 8, DT_DIR);
	meta_dentry_put(b, D, "f", 1, 9, DT_DIR);
	meta_dentry_put(b, D, "l", 1, 6, DT_LNK);
	meta_dentry_put(b, D, "n", 1, 7, DT_REG);
	meta_dentry_put(b, 9, "x", 1, 3, DT_REG);
	ext_put(b, 3, 0, 4096, 0, 1);
	ext_put(b, 3, 4096, 4096, 0, 2);
	ext_put(b, 3, 8192, 4096, 0, 3);
	meta_xattr_put(b, 3, "user.a", "1", 1);
	meta_xattr_put(b, 3, "user.b", "2", 1);
	meta_xattr_put(b, 3, "user.c", "3", 1);
	meta_symlink_put(b, 6, "target-old", 10);
	meta_inline_put(b, 7, "inline-old", 10);
	hash_put(b, 3, "hash-old");
	commit(b);
}

/* The extents of 3 as populate made them. */
#define OLD_EXTENTS	"0+4096@1:0 4096+4096@2:0 8192+4096@3:0 "

static uint64_t e1;	/* the epoch setup_epoch made over populate's records */

static void setup_populated(void)
{
	setup();
	populate();
}

static void setup_epoch(void)
{
	setup_populated();
	e1 = make_epoch(D, HWM);
}

static void assert_old_view(uint64_t e)
{
	char want[512];
	unsigned long long s3 = S(e, 3), s4 = S(e, 4), s5 = S(e, 5), s6 = S(e, 6), s7 = S(e, 7),
			   s8 = S(e, 8), s9 = S(e, 9);
	struct meta_inode in;

	assert_size(S(e, 3), 12288);
	assert_size(S(e, D), 2);
	ck_assert_int_eq(meta_inode_get(m, S(e, D), &in), 0);
	ck_assert(in.flags & META_IF_SNAPROOT);
	ck_assert_int_eq(meta_inode_get(m, S(e, 3), &in), 0);
	ck_assert(!(in.flags & META_IF_SNAPROOT));
	assert_dentry(S(e, D), "a", 0, s3);
	assert_dentry(S(e, D), "b", 0, s4);
	assert_dentry(S(e, D), "c", 0, s5);
	assert_dentry(S(e, D), "d", -ENOENT, 0);
	assert_dentry(S(e, D), "aa", -ENOENT, 0);
	assert_dentry(S(e, 9), "x", 0, s3);
	assert_dentry(S(e, 8), "y", -ENOENT, 0);
	snprintf(want, sizeof(want), "a=%#llx b=%#llx c=%#llx e=%#llx f=%#llx l=%#llx n=%#llx ",
		 s3, s4, s5, s8, s9, s6, s7);
	assert_listing(S(e, D), NULL, want);
	snprintf(want, sizeof(want), "b=%#llx c=%#llx e=%#llx f=%#llx l=%#llx n=%#llx ",
		 s4, s5, s8, s9, s6, s7);
	assert_listing(S(e, D), "a", want);		/* not "aa", made since */
	snprintf(want, sizeof(want), "c=%#llx e=%#llx f=%#llx l=%#llx n=%#llx ",
		 s5, s8, s9, s6, s7);
	assert_listing(S(e, D), "b", want);		/* deleted since */
	assert_listing(S(e, D), "bb", want);		/* absent */
	snprintf(want, sizeof(want), "e=%#llx f=%#llx l=%#llx n=%#llx ", s8, s9, s6, s7);
	assert_listing(S(e, D), "c", want);		/* re-pointed since */
	assert_listing(S(e, D), "d", want);		/* made since */
	assert_listing(S(e, D), "n", "");
	assert_listing(S(e, D), "zz", "");
	snprintf(want, sizeof(want), "x=%#llx ", s3);
	assert_listing(S(e, 9), NULL, want);
	assert_listing(S(e, 8), NULL, "");
	ck_assert_int_eq(meta_dir_empty(m, S(e, 8)), 1);	/* filled since */
	ck_assert_int_eq(meta_dir_empty(m, S(e, 9)), 0);	/* emptied since */
	ck_assert_int_eq(meta_dir_empty(m, S(e, D)), 0);
	assert_extents(S(e, 3), OLD_EXTENTS);
	assert_xattrs(S(e, 3), "user.a=1 user.b=2 user.c=3 ");
	assert_xattr(S(e, 3), "user.a", "1");
	assert_xattr(S(e, 3), "user.b", "2");
	assert_xattr(S(e, 3), "user.d", NULL);
	assert_symlink(S(e, 6), "target-old");
	assert_inline(S(e, 7), "inline-old");
	assert_hash(S(e, 3), "hash-old");
	assert_hash(S(e, 4), NULL);
	/* made after the epoch: not in it */
	ck_assert_int_eq(meta_inode_get(m, S(e, 10), &in), -ENOENT);
}

static void assert_new_live(void)
{
	struct meta_inode in;

	assert_size(3, 99999);
	assert_size(D, 22);
	assert_size(10, 10);
	assert_dentry(D, "b", -ENOENT, 0);
	assert_dentry(D, "c", 0, 4);
	assert_dentry(D, "d", 0, 10);
	assert_listing(D, NULL, "a=0x3 aa=0x3 c=0x4 d=0xa e=0x8 f=0x9 l=0x6 n=0x7 ");
	assert_listing(D, "a", "aa=0x3 c=0x4 d=0xa e=0x8 f=0x9 l=0x6 n=0x7 ");
	ck_assert_int_eq(meta_dir_empty(m, 8), 0);
	ck_assert_int_eq(meta_dir_empty(m, 9), 1);
	assert_extents(3, "0+4096@4:0 4096+2048@2:0 6144+2048@2:2048 ");
	assert_extents(10, "0+4096@5:0 ");
	assert_xattrs(3, "user.a=1b user.c=3 user.d=4 ");
	assert_symlink(6, "target-new");
	assert_inline(7, "inline-new-longer");
	assert_hash(3, "hash-new");
	ck_assert_int_eq(meta_inode_get(m, 10, &in), 0);
}

/* The changes after the epoch, in two batches: every kind of inodes <= HWM,
 * and an inode made since (10).  Returns the extents the first batch kept. */
static void change_all(struct refs *kept)
{
	struct meta_batch *b = meta_batch_new();
	struct refs again;

	put_inode(b, 3, 0100644, 5555);
	put_inode(b, D, 040755, 22);
	put_inode(b, 10, 0100644, 10);
	meta_dentry_del(b, D, "b", 1);
	meta_dentry_put(b, D, "d", 1, 10, DT_REG);
	meta_dentry_put(b, D, "c", 1, 4, DT_REG);
	meta_dentry_put(b, D, "aa", 2, 3, DT_REG);
	meta_dentry_put(b, 8, "y", 1, 3, DT_REG);
	meta_dentry_del(b, 9, "x", 1);
	ext_repoint(b, 1, 4);			/* overwritten */
	ext_del(b, 3, 4096, 2);			/* split */
	ext_put(b, 3, 4096, 2048, 0, 2);
	ext_put(b, 3, 6144, 2048, 2048, 2);
	ext_del(b, 3, 8192, 3);			/* deleted */
	meta_xattr_put(b, 3, "user.a", "1a", 2);
	meta_xattr_del(b, 3, "user.b");
	meta_xattr_put(b, 3, "user.d", "4", 1);
	meta_symlink_put(b, 6, "target-new", 10);
	meta_inline_put(b, 7, "inline-new-longer", 17);
	hash_put(b, 3, "hash-new");
	ext_put(b, 10, 0, 4096, 0, 5);
	meta_xattr_put(b, 10, "user.z", "z", 1);
	commit_kept(b, kept);

	/* the same keys again in the same epoch: nothing more is kept */
	b = meta_batch_new();
	put_inode(b, 3, 0100644, 99999);
	meta_xattr_put(b, 3, "user.a", "1b", 2);
	ext_repoint(b, 4, 4);
	put_inode(b, 10, 0100644, 10);
	meta_xattr_put(b, 10, "user.z", "zz", 2);
	commit_kept(b, &again);
	ck_assert_msg(again.n == 0, "a second change in the epoch kept %zu extents", again.n);
}

/* The keys kept: I2 I3, D2/aa D2/b D2/c D2/d D8/y D9/x, E3@0 E3@4096 E3@6144
 * E3@8192, X3/user.a X3/user.b X3/user.d, L6, N7, H3. */
#define KEPT_KEYS 18

START_TEST(one_epoch_views_every_kind_as_it_was)
{
	struct refs kept;
	uint64_t e;

	ck_assert(!meta_history_covers(m, 3));
	e = make_epoch(D, HWM);
	ck_assert(meta_history_covers(m, HWM));
	ck_assert(!meta_history_covers(m, HWM + 1));
	assert_old_view(e);
	change_all(&kept);
	assert_old_view(e);
	assert_new_live();
	assert_history(KEPT_KEYS);
	ck_assert_uint_eq(count_hist_of(META_REC_INODE, 10), 0);
	ck_assert_uint_eq(count_hist_of(META_REC_EXTENT, 10), 0);
	ck_assert_uint_eq(count_hist_of(META_REC_XATTR, 10), 0);
	ck_assert_uint_eq(count_hist_of(META_REC_DENTRY, D), 4);
	ck_assert_uint_eq(count_hist_of(META_REC_EXTENT, 3), 4);
	ck_assert_uint_eq(count_hist_of(META_REC_CONTENT_HASH, 3), 1);
	/* 3: the stored extents the kept records referenced */
	assert_refs(kept.v, kept.n, (const uint32_t[]){ 1, 2, 3 }, 3, "kept");
}
END_TEST

/* --- 2 and 3: three epochs, dropped in turn ---------------------------------- */

struct state {
	uint64_t size;		/* of inode 3 */
	const char *xa;		/* user.a of 3 */
	const char *only2;	/* user.o of 3: changed only between e2 and e3 */
	int k;			/* 8/k -> 0: absent, else that ino */
	uint32_t e0;		/* stored extent of 3 at 0 */
	uint32_t e1;		/* stored extent of 3 at 4096 (changed between e1 and e2) */
};

static const struct state st[4] = {
	{ 100, "v0", "p", 0, 10, 20 },	/* at e1 */
	{ 101, "v1", "p", 3, 11, 21 },	/* at e2 */
	{ 102, "v2", "q", 0, 12, 21 },	/* at e3 */
	{ 103, "v3", "q", 4, 13, 21 },	/* live */
};

static void set_state(int i, struct refs *kept)
{
	struct meta_batch *b = meta_batch_new();

	put_inode(b, 3, 0100644, st[i].size);
	meta_xattr_put(b, 3, "user.a", st[i].xa, strlen(st[i].xa));
	if (i == 0 || strcmp(st[i].only2, st[i - 1].only2))
		meta_xattr_put(b, 3, "user.o", st[i].only2, 1);
	if (st[i].k)
		meta_dentry_put(b, 8, "k", 1, (uint64_t)st[i].k, DT_REG);
	else if (i)
		meta_dentry_del(b, 8, "k", 1);
	if (i) {
		ext_del(b, 3, 0, st[i - 1].e0);
	} else {		/* populate's extents go */
		ext_del(b, 3, 0, 1);
		ext_del(b, 3, 4096, 2);
		ext_del(b, 3, 8192, 3);
	}
	ext_put(b, 3, 0, 4096, 0, st[i].e0);
	if (i == 0 || st[i].e1 != st[i - 1].e1) {
		if (i)
			ext_del(b, 3, 4096, st[i - 1].e1);
		ext_put(b, 3, 4096, 4096, 0, st[i].e1);
	}
	commit_kept(b, kept);
}

/* Epochs E[0..2] made at st[0..2], then st[3] live; what each change kept
 * into KEPT[0..3]. */
static void make_three_epochs(uint64_t e[3], struct refs kept[4])
{
	for (int i = 0; i < 3; i++) {
		set_state(i, &kept[i]);
		e[i] = make_epoch(D, HWM);
	}
	set_state(3, &kept[3]);
}

static void assert_state(uint64_t ino3, uint64_t d, const struct state *s, uint64_t e)
{
	char want[256];

	assert_size(ino3, s->size);
	assert_xattr(ino3, "user.a", s->xa);
	assert_xattr(ino3, "user.o", s->only2);
	snprintf(want, sizeof(want), "0+4096@%u:0 4096+4096@%u:0 ", s->e0, s->e1);
	assert_extents(ino3, want);
	if (s->k) {
		uint64_t ino = e ? S(e, (uint64_t)s->k) : (uint64_t)s->k;

		assert_dentry(d, "k", 0, ino);
		snprintf(want, sizeof(want), "k=%#llx ", (unsigned long long)ino);
	} else {
		assert_dentry(d, "k", -ENOENT, 0);
		want[0] = 0;
	}
	assert_listing(d, NULL, want);
	ck_assert_int_eq(meta_dir_empty(m, d), !s->k);
}

static void assert_epoch(uint64_t e, int i)
{
	assert_state(S(e, 3), S(e, 8), &st[i], e);
}

static void assert_gone(uint64_t e)
{
	struct meta_inode in;
	struct listing l = { .len = 0 };
	uint64_t ino;
	uint32_t type;
	void *v;
	char *t;
	size_t len;
	uint8_t k[8];
	struct meta_epoch ep;

	ck_assert_int_eq(meta_epoch_get(m, e, &ep), -ENOENT);
	ck_assert_int_eq(meta_inode_get(m, S(e, 3), &in), -ENOENT);
	ck_assert_int_eq(meta_inode_get(m, S(e, D), &in), -ENOENT);
	ck_assert_int_eq(meta_dentry_get(m, S(e, D), "a", 1, &ino, &type), -ENOENT);
	ck_assert_int_eq(meta_dentry_get(m, S(e, 8), "k", 1, &ino, &type), -ENOENT);
	ck_assert_int_eq(meta_dentry_foreach(m, S(e, D), NULL, 0, list_cb, &l), -ENOENT);
	ck_assert_int_eq(meta_dir_empty(m, S(e, D)), -ENOENT);
	ck_assert_int_eq(meta_extent_foreach(m, S(e, 3), ext_list_cb, &l), -ENOENT);
	ck_assert_int_eq(meta_xattr_foreach(m, S(e, 3), xattr_list_cb, &l), -ENOENT);
	/* meta_xattr_get answers an absent name -ENODATA: a dropped epoch too */
	ck_assert_int_eq(meta_xattr_get(m, S(e, 3), "user.a", &v, &len), -ENODATA);
	ck_assert_int_eq(meta_symlink_get(m, S(e, 6), &t, &len), -ENOENT);
	ck_assert_int_eq(meta_inline_get(m, S(e, 7), &v, &len), -ENOENT);
	key_put_u64(k, S(e, 3));
	ck_assert_int_eq(meta_rec_get(m, META_REC_CONTENT_HASH, k, 8, &v, &len), -ENOENT);
}

/* Drop epoch E as drop_expect does; the history's extents lose just those
 * its commit dropped. */
static void drop_from_history(uint64_t e, const uint32_t *want, size_t nw, const char *what)
{
	struct refs before, after;
	struct tier_ref *dr;
	size_t nd;

	history_refs(&before);
	nd = drop_epoch(e, &dr);
	history_refs(&after);
	assert_refs(dr, nd, want, nw, what);
	ck_assert_uint_eq(before.n - after.n, nd);
	for (size_t i = 0; i < nd; i++)
		ck_assert_uint_eq(ref_count(before.v, before.n, dr[i].seg) -
				  ref_count(after.v, after.n, dr[i].seg),
				  ref_count(dr, nd, dr[i].seg));
	free(dr);
}

START_TEST(three_epochs_interleaved_then_dropped)
{
	struct refs kept[4];
	uint64_t e[3];

	make_three_epochs(e, kept);
	ck_assert(e[0] < e[1] && e[1] < e[2]);

	/* 3: each commit reports the extents it kept */
	assert_refs(kept[0].v, kept[0].n, NULL, 0, "kept before e1");
	assert_refs(kept[1].v, kept[1].n, (const uint32_t[]){ 10, 20 }, 2, "kept after e1");
	assert_refs(kept[2].v, kept[2].n, (const uint32_t[]){ 11 }, 1, "kept after e2");
	assert_refs(kept[3].v, kept[3].n, (const uint32_t[]){ 12 }, 1, "kept after e3");
	for (uint32_t r = 10; r <= 21; r++)
		ck_assert_msg(space_net(r) == live_refs(r) +
			      (long)ref_count((struct tier_ref[]){ ref(10), ref(20), ref(11),
							   ref(12) }, 4, r),
			      "stored extent %u: net %ld", r, space_net(r));

	for (int i = 0; i < 3; i++)
		assert_epoch(e[i], i);
	assert_state(3, 8, &st[3], 0);

	/* the middle one */
	drop_from_history(e[1], (const uint32_t[]){ 11 }, 1, "dropped with e2");
	assert_gone(e[1]);
	assert_epoch(e[0], 0);
	assert_epoch(e[2], 2);
	assert_state(3, 8, &st[3], 0);

	/* the first */
	drop_from_history(e[0], (const uint32_t[]){ 10, 20 }, 2, "dropped with e1");
	assert_gone(e[0]);
	assert_epoch(e[2], 2);
	assert_state(3, 8, &st[3], 0);

	/* the last */
	drop_expect(e[2], (const uint32_t[]){ 12 }, 1, "dropped with e3");
	assert_gone(e[2]);
	ck_assert_uint_eq(count_kind(META_REC_EPOCH), 0);
	assert_nothing_kept(10, 21);
	assert_state(3, 8, &st[3], 0);
	ck_assert(!meta_history_covers(m, 3));
}
END_TEST

struct epoch_list {
	uint64_t v[4];
	size_t n, stop;		/* return 1 at the STOP-th (0: never) */
};

static int list_epoch(void *ctx, const struct meta_epoch *ep)
{
	struct epoch_list *l = ctx;

	ck_assert_uint_lt(l->n, 4);
	l->v[l->n++] = ep->epoch;
	return l->n == l->stop;
}

/* meta_epoch_foreach lists the live epochs oldest first and stops where
 * its callback says. */
START_TEST(epoch_foreach_lists_the_live_epochs_oldest_first)
{
	struct epoch_list l = { .n = 0 };
	struct refs kept[4];
	uint64_t e[3];

	make_three_epochs(e, kept);
	ck_assert_int_eq(meta_epoch_foreach(m, list_epoch, &l), 0);
	ck_assert_uint_eq(l.n, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(l.v[i], e[i]);
	l = (struct epoch_list){ .stop = 2 };
	ck_assert_int_eq(meta_epoch_foreach(m, list_epoch, &l), 1);
	ck_assert_uint_eq(l.n, 2);
	drop_from_history(e[1], (const uint32_t[]){ 11 }, 1, "dropped with e2");
	l = (struct epoch_list){ .n = 0 };
	ck_assert_int_eq(meta_epoch_foreach(m, list_epoch, &l), 0);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_uint_eq(l.v[0], e[0]);
	ck_assert_uint_eq(l.v[1], e[2]);
}
END_TEST

/* Dropping in creation order and in reverse leaves the same: nothing. */
START_TEST(three_epochs_dropped_newest_first)
{
	struct refs kept[4];
	struct tier_ref *dr;
	uint64_t e[3];
	size_t total = 0;

	make_three_epochs(e, kept);
	for (int i = 2; i >= 0; i--) {
		total += drop_epoch(e[i], &dr);
		free(dr);
		assert_gone(e[i]);
		for (int j = 0; j < i; j++)
			assert_epoch(e[j], j);
	}
	ck_assert_uint_eq(total, 4);
	assert_nothing_kept(10, 21);
}
END_TEST

/* The deaths of the history entries of KIND's records of INO, in key order
 * (name, then death), are WANT[0..N). */
static void assert_deaths(uint8_t kind, uint64_t ino, const uint64_t *want, size_t n,
			  const char *what)
{
	uint8_t p[10] = { META_REC_HISTORY, kind };
	struct db_cursor c;
	size_t i = 0;

	key_put_u64(p + 2, ino);
	ck_assert_int_eq(db_cur_open(&c, m, p, sizeof(p), p, sizeof(p)), 0);
	while (db_cur_next(&c)) {
		uint64_t death = key_get_u64(c.k + c.klen - 8);

		ck_assert_msg(i < n, "%s: entry %zu died at %llu, expected only %zu entries",
			      what, i, (unsigned long long)death, n);
		ck_assert_msg(death == want[i], "%s: entry %zu died at %llu, expected %llu", what,
			      i, (unsigned long long)death, (unsigned long long)want[i]);
		i++;
	}
	ck_assert_int_eq(db_cur_close(&c, 0), 0);
	ck_assert_msg(i == n, "%s: %zu entries, expected %zu", what, i, n);
}

/* Dropping an epoch while two later ones live deletes only what died up to
 * the nearest of them: what died before the farther one is what the nearer
 * one reads.  E[3] is made at st[3], the live state, after the changes that
 * died at it; a change made after E[i] dies at E[i + 1]. */
START_TEST(drop_with_two_later_epochs_stops_at_the_nearest)
{
	struct refs kept[4];
	uint64_t e[4];

	make_three_epochs(e, kept);
	e[3] = make_epoch(D, HWM);
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(e[i + 1], e[i] + 1);
	/* I3 and E3@0 changed in every span, E3@4096 only before e2, user.o
	 * only before e3, 8/k was made, deleted and made again */
	assert_history(14);
	for (int i = 0; i < 4; i++)
		assert_epoch(e[i], i);

	/* the middle one, e1 before it, e3 and e4 after: what changed before e3
	 * goes, but user.o, which e1 reads from the entry that died at e3 */
	drop_from_history(e[1], (const uint32_t[]){ 11 }, 1, "dropped with e2");
	assert_gone(e[1]);
	assert_history(10);
	assert_deaths(META_REC_INODE, 3, (const uint64_t[]){ e[1], e[3] }, 2, "I3 after e2");
	assert_deaths(META_REC_EXTENT, 3, (const uint64_t[]){ e[1], e[3], e[1] }, 3,
		      "E3 (at 0, then 4096) after e2");
	assert_deaths(META_REC_XATTR, 3, (const uint64_t[]){ e[1], e[3], e[2] }, 3,
		      "X3 (user.a, then user.o) after e2");
	assert_deaths(META_REC_DENTRY, 8, (const uint64_t[]){ e[1], e[3] }, 2, "D8 after e2");
	assert_epoch(e[0], 0);
	assert_epoch(e[2], 2);
	assert_epoch(e[3], 3);
	assert_state(3, 8, &st[3], 0);

	/* the first, e3 and e4 after it: all that died up to e3 goes */
	drop_from_history(e[0], (const uint32_t[]){ 10, 20 }, 2, "dropped with e1");
	assert_gone(e[0]);
	assert_history(4);
	assert_deaths(META_REC_INODE, 3, (const uint64_t[]){ e[3] }, 1, "I3 after e1");
	assert_deaths(META_REC_EXTENT, 3, (const uint64_t[]){ e[3] }, 1, "E3 after e1");
	assert_deaths(META_REC_XATTR, 3, (const uint64_t[]){ e[3] }, 1, "X3 after e1");
	assert_deaths(META_REC_DENTRY, 8, (const uint64_t[]){ e[3] }, 1, "D8 after e1");
	assert_epoch(e[2], 2);
	assert_epoch(e[3], 3);
	assert_state(3, 8, &st[3], 0);

	/* the newest reads the live records: its drop deletes nothing */
	drop_expect(e[3], NULL, 0, "dropped with e4");
	assert_history(4);
	assert_epoch(e[2], 2);
	drop_expect(e[2], (const uint32_t[]){ 12 }, 1, "dropped with e3");
	assert_nothing_kept(10, 21);
	assert_state(3, 8, &st[3], 0);
}
END_TEST

/* An entry that an earlier live epoch still reads survives the drop of a
 * later one: e2 and e3 read the value kept when it changed after e3. */
static void set_e0(uint32_t from, uint32_t to, const char *xa)
{
	struct meta_batch *b = meta_batch_new();

	ext_repoint(b, from, to);
	meta_xattr_put(b, 3, "user.a", xa, strlen(xa));
	commit(b);
}

static void assert_e0(uint64_t ino, uint32_t n, const char *xa)
{
	char want[64];

	snprintf(want, sizeof(want), "0+4096@%u:0 4096+4096@2:0 8192+4096@3:0 ", n);
	assert_extents(ino, want);
	assert_xattr(ino, "user.a", xa);
}

START_TEST(drop_keeps_what_an_earlier_epoch_reads)
{
	uint64_t e[4];

	e[0] = make_epoch(D, HWM);
	set_e0(1, 11, "v1");
	e[1] = make_epoch(D, HWM);
	e[2] = make_epoch(D, HWM);	/* nothing changed since e2 */
	set_e0(11, 12, "v2");
	e[3] = make_epoch(D, HWM);
	set_e0(12, 13, "v3");
	assert_e0(S(e[0], 3), 1, "1");
	assert_e0(S(e[1], 3), 11, "v1");
	assert_e0(S(e[2], 3), 11, "v1");
	assert_e0(S(e[3], 3), 12, "v2");

	drop_expect(e[2], NULL, 0, "dropped with e3");	/* e2 reads what e3 read */
	assert_e0(S(e[0], 3), 1, "1");
	assert_e0(S(e[1], 3), 11, "v1");
	assert_e0(S(e[3], 3), 12, "v2");

	drop_expect(e[1], (const uint32_t[]){ 11 }, 1, "dropped with e2");
	assert_e0(S(e[0], 3), 1, "1");
	assert_e0(S(e[3], 3), 12, "v2");

	drop_expect(e[3], (const uint32_t[]){ 12 }, 1, "dropped with e4");
	assert_e0(S(e[0], 3), 1, "1");

	drop_expect(e[0], (const uint32_t[]){ 1 }, 1, "dropped with e1");
	assert_nothing_kept(1, 13);
}
END_TEST

/* A batch that drops the last live epoch and changes a record it saw: once
 * it commits, no epoch lives, and nothing may stay kept for one. */
START_TEST(drop_of_the_last_epoch_with_a_change_keeps_nothing)
{
	struct meta_batch *b = meta_batch_new();

	ck_assert_int_eq(meta_epoch_drop(m, b, e1), 0);
	ext_repoint(b, 1, 4);
	put_inode(b, 3, 0100644, 777);
	commit(b);
	ck_assert(!meta_history_covers(m, 3));
	assert_nothing_kept(1, 4);
}
END_TEST

/* --- 4: the fail point history_keep ------------------------------------------ */

START_TEST(failed_keep_leaves_nothing_and_a_retry_keeps_once)
{
	struct meta_batch *b;
	struct refs kept;
	const struct tier_ref *v;
	size_t deltas0 = space_deltas();

	ck_assert_int_eq(failpoint_arm("history_keep:1"), 0);
	b = meta_batch_new();
	put_inode(b, 3, 0100644, 777);
	ext_repoint(b, 1, 4);
	ext_del(b, 3, 8192, 3);
	meta_xattr_put(b, 3, "user.a", "x", 1);
	ck_assert_int_eq(meta_batch_commit(m, b, false), -ENOMEM);
	ck_assert_uint_eq(meta_batch_kept(b, &v), 0);
	assert_history(0);
	ck_assert_uint_eq(space_deltas(), deltas0);
	assert_size(3, 12288);
	assert_old_view(e1);

	/* the same batch again (the point fired once) */
	commit_kept(b, &kept);
	assert_refs(kept.v, kept.n, (const uint32_t[]){ 1, 3 }, 2, "kept by the retry");
	assert_history(4);
	/* the commit's own -1 +1 -1 and history's +1 for each of 1 and 3, once */
	ck_assert_uint_eq(space_deltas(), deltas0 + 5);
	ck_assert_int_eq(space_net(1), 1);	/* only history references it */
	ck_assert_int_eq(space_net(3), 1);
	ck_assert_int_eq(space_net(4), 1);
	ck_assert_int_eq(space_net(2), 1);
	assert_size(3, 777);
	assert_size(S(e1, 3), 12288);
	assert_extents(S(e1, 3), OLD_EXTENTS);
	assert_extents(3, "0+4096@4:0 4096+4096@2:0 ");
}
END_TEST

/* A failing keep with every hit (a commit that can never keep) changes
 * nothing, however many times it is tried. */
START_TEST(keep_failing_every_time_changes_nothing)
{
	struct meta_batch *b;
	size_t deltas0 = space_deltas();

	ck_assert_int_eq(failpoint_arm("history_keep:1+=EIO"), 0);
	b = meta_batch_new();
	ext_repoint(b, 1, 4);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(meta_batch_commit(m, b, false), -EIO);
	ck_assert_uint_eq(count_kind(META_REC_HISTORY), 0);
	ck_assert_uint_eq(space_deltas(), deltas0);
	ck_assert_int_eq(failpoint_arm(""), 0);
	ck_assert_int_eq(meta_batch_commit(m, b, false), 0);
	meta_batch_free(b);
	ck_assert_uint_eq(count_kind(META_REC_HISTORY), 1);
	ck_assert_uint_eq(space_deltas(), deltas0 + 3);
	ck_assert_int_eq(space_net(1), 1);
	assert_extents(S(e1, 3), OLD_EXTENTS);
}
END_TEST

/* A commit failed by the point, then an epoch made, then the retry: the
 * retry keeps only in the new epoch, nothing of the failed try stays. */
START_TEST(failed_keep_then_new_epoch_then_retry)
{
	struct meta_batch *b;
	struct refs kept;
	struct tier_ref *dr;
	uint64_t e2;

	ck_assert_int_eq(failpoint_arm("history_keep:1"), 0);
	b = meta_batch_new();
	ext_repoint(b, 1, 4);
	ck_assert_int_eq(meta_batch_commit(m, b, false), -ENOMEM);
	e2 = make_epoch(D, HWM);
	commit_kept(b, &kept);
	assert_refs(kept.v, kept.n, (const uint32_t[]){ 1 }, 1, "kept by the retry");
	assert_history(1);
	ck_assert_int_eq(space_net(1), 1);
	assert_extents(S(e1, 3), OLD_EXTENTS);
	assert_extents(S(e2, 3), OLD_EXTENTS);
	drop_epoch(e2, &dr);
	free(dr);
	assert_extents(S(e1, 3), OLD_EXTENTS);
	drop_expect(e1, (const uint32_t[]){ 1 }, 1, "dropped");
	assert_nothing_kept(1, 4);
}
END_TEST

/* meta_space_log_count counts every change logged, history's +1 too. */
START_TEST(space_log_count_counts_the_kept_extents)
{
	struct meta_batch *b = meta_batch_new();
	uint64_t c0 = meta_space_log_count(m);
	size_t d0 = space_deltas();

	ext_repoint(b, 1, 4);
	commit(b);
	ck_assert_uint_eq(space_deltas() - d0, 3);	/* -1 +1, and history's +1 */
	ck_assert_msg(meta_space_log_count(m) - c0 == space_deltas() - d0,
		      "meta_space_log_count grew by %llu, the log by %zu deltas",
		      (unsigned long long)(meta_space_log_count(m) - c0), space_deltas() - d0);
}
END_TEST

/* --- 5: snapshot inodes are read-only ---------------------------------------- */

START_TEST(change_of_a_snapshot_inode_is_erofs)
{
	struct meta_batch *b;
	uint8_t k[8];

	for (int kind = 0; kind < 7; kind++) {
		b = meta_batch_new();
		put_inode(b, 4, 0100644, 4444);		/* a live change beside it */
		switch (kind) {
		case 0: put_inode(b, S(e1, 3), 0100644, 1); break;
		case 1: meta_dentry_put(b, S(e1, D), "z", 1, 3, DT_REG); break;
		case 2: ext_del(b, S(e1, 3), 0, 1); break;
		case 3: meta_xattr_put(b, S(e1, 3), "user.a", "y", 1); break;
		case 4: meta_symlink_put(b, S(e1, 6), "t", 1); break;
		case 5: meta_inline_del(b, S(e1, 7)); break;
		case 6:
			key_put_u64(k, S(e1, 3));
			meta_rec_put(b, META_REC_CONTENT_HASH, k, 8, "h", 1);
			break;
		}
		ck_assert_msg(meta_batch_commit(m, b, false) == -EROFS, "kind %d", kind);
		meta_batch_free(b);
	}
	assert_size(4, 4);
	ck_assert_uint_eq(count_kind(META_REC_HISTORY), 0);
	assert_old_view(e1);
}
END_TEST

/* --- 6: reopening ----------------------------------------------------------- */

START_TEST(epochs_and_views_survive_reopen)
{
	struct meta_epoch ep;
	struct refs kept;
	uint64_t e2;

	change_all(&kept);
	reopen();
	ck_assert_int_eq(meta_epoch_get(m, e1, &ep), 0);
	ck_assert_uint_eq(ep.epoch, e1);
	ck_assert_uint_eq(ep.hwm, HWM);
	ck_assert_uint_eq(ep.ds, D);
	ck_assert(meta_history_covers(m, HWM));
	assert_old_view(e1);
	assert_new_live();
	/* the epoch counter went on: a new one is another epoch */
	e2 = make_epoch(D, 10);
	ck_assert_uint_gt(e2, e1);
	reopen();
	ck_assert_int_eq(meta_epoch_get(m, e2, &ep), 0);
	ck_assert_uint_eq(ep.hwm, 10);
	assert_old_view(e1);
	assert_size(S(e2, 10), 10);
	assert_size(S(e2, 3), 99999);
}
END_TEST

/* --- 7: a dropped epoch ------------------------------------------------------- */

START_TEST(view_of_a_dropped_epoch_is_enoent)
{
	struct meta_batch *b;
	struct refs kept;

	change_all(&kept);
	drop_expect(e1, (const uint32_t[]){ 1, 2, 3 }, 3, "dropped");
	assert_gone(e1);
	assert_history(0);
	ck_assert_int_eq(space_net(1), 0);
	ck_assert_int_eq(space_net(2), 2);
	ck_assert_int_eq(space_net(3), 0);
	ck_assert_int_eq(space_net(4), 1);
	/* dropping it again: not live */
	b = meta_batch_new();
	ck_assert_int_eq(meta_epoch_drop(m, b, e1), -ENOENT);
	meta_batch_free(b);
	reopen();
	assert_gone(e1);
	assert_new_live();
}
END_TEST

/* --- 8: numbers that do not fit a snapshot inode -------------------------------- */

START_TEST(epoch_create_with_too_large_hwm_is_eoverflow)
{
	struct meta_batch *b = meta_batch_new();
	uint64_t e = 0;

	ck_assert_int_eq(meta_epoch_create(m, b, 2, META_SNAP_INO_MAX + 1, 0, &e), -EOVERFLOW);
	ck_assert_int_eq(meta_epoch_create(m, b, 2, UINT64_MAX, 0, &e), -EOVERFLOW);
	ck_assert_int_eq(meta_epoch_create(m, b, META_SNAP_INO_MAX, META_SNAP_INO_MAX, 0, &e), 0);
	commit(b);
	ck_assert(meta_history_covers(m, META_SNAP_INO_MAX));
	ck_assert_uint_eq(count_kind(META_REC_EPOCH), 1);
}
END_TEST

/* --- suite ------------------------------------------------------------------ */

/* Three test cases by what the store holds when a test starts: nothing,
 * populate's records, or those and the epoch e1 over them. */
static Suite *history_suite(void)
{
	Suite *s = suite_create("history");
	TCase *empty = tcase_create("empty");
	TCase *populated = tcase_create("populated");
	TCase *epoch = tcase_create("epoch");

	tcase_add_checked_fixture(empty, setup, teardown);
	tcase_add_checked_fixture(populated, setup_populated, teardown);
	tcase_add_checked_fixture(epoch, setup_epoch, teardown);
	tcase_add_test(populated, one_epoch_views_every_kind_as_it_was);
	tcase_add_test(populated, three_epochs_interleaved_then_dropped);
	tcase_add_test(populated, three_epochs_dropped_newest_first);
	tcase_add_test(populated, epoch_foreach_lists_the_live_epochs_oldest_first);
	tcase_add_test(populated, drop_keeps_what_an_earlier_epoch_reads);
	tcase_add_test(populated, drop_with_two_later_epochs_stops_at_the_nearest);
	tcase_add_test(epoch, drop_of_the_last_epoch_with_a_change_keeps_nothing);
	tcase_add_test(epoch, failed_keep_leaves_nothing_and_a_retry_keeps_once);
	tcase_add_test(epoch, failed_keep_then_new_epoch_then_retry);
	tcase_add_test(epoch, space_log_count_counts_the_kept_extents);
	tcase_add_test(epoch, keep_failing_every_time_changes_nothing);
	tcase_add_test(epoch, change_of_a_snapshot_inode_is_erofs);
	tcase_add_test(epoch, epochs_and_views_survive_reopen);
	tcase_add_test(epoch, view_of_a_dropped_epoch_is_enoent);
	tcase_add_test(empty, epoch_create_with_too_large_hwm_is_eoverflow);
	suite_add_tcase(s, populated);
	suite_add_tcase(s, epoch);
	suite_add_tcase(s, empty);
	return s;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (!mkdtemp(tmp_root)) {
		perror(tmp_root);
		return EXIT_FAILURE;
	}
	sr = srunner_create(history_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
