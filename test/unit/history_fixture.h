/* history_fixture.h — the fixture of the suites of meta/history.c
 * (test_history, test_history_drop), on a real RocksDB.
 *
 * Every test gets a fresh database in its own directory under one mkdtemp
 * directory, which history_fixture_main removes at the end; its test case's
 * fixture leaves it empty (setup), fills it with populate's records
 * (setup_populated), or adds one epoch (e1) over them (setup_epoch).  The
 * helpers read history's own records ('h', 'g') through meta/db.h, private
 * to meta/.  Included by one file of each test program: the state below is
 * that program's.
 */
#ifndef AIFS_TEST_HISTORY_FIXTURE_H
#define AIFS_TEST_HISTORY_FIXTURE_H


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

static inline void setup(void)
{
	snprintf(dir, sizeof(dir), "%s/db.XXXXXX", tmp_root);
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
	ck_assert_int_eq(meta_open(dir, true, &m), 0);
}

static inline void teardown(void)
{
	failpoint_arm("");
	meta_close(m);
	m = NULL;
}

static inline void reopen(void)
{
	meta_close(m);
	m = NULL;
	ck_assert_int_eq(meta_open(dir, false, &m), 0);
}

static inline void commit(struct meta_batch *b)
{
	ck_assert_int_eq(meta_batch_commit(m, b, false), 0);
	meta_batch_free(b);
}

/* --- fixtures ------------------------------------------------------------ */

/* The stored extent number N: one checksum block, a distinct place. */
static inline struct tier_ref ref(uint32_t n)
{
	return (struct tier_ref){ .tier = TIER_HOT, .codec = 0, .seg = n, .off = 4096ull * n,
				  .stored_len = 4096, .raw_len = 4096 };
}

static inline bool ref_eq(const struct tier_ref *a, const struct tier_ref *b)
{
	return a->tier == b->tier && a->codec == b->codec && a->seg == b->seg &&
	       a->off == b->off && a->stored_len == b->stored_len && a->raw_len == b->raw_len;
}

static const uint32_t crc1[1] = { 0x12345678 };

static inline void ext_put(struct meta_batch *b, uint64_t ino, uint64_t foff, uint64_t len,
			   uint32_t inner, uint32_t n)
{
	struct meta_extent e = { .foff = foff, .len = len, .inner = inner, .ref = ref(n),
				 .ncrc = 1, .crcs = crc1 };

	meta_extent_put(b, ino, &e);
}

static inline void ext_del(struct meta_batch *b, uint64_t ino, uint64_t foff, uint32_t n)
{
	struct tier_ref r = ref(n);

	meta_extent_del(b, ino, foff, &r);
}

/* Inode 3's extent at 0 moved from stored extent FROM to TO. */
static inline void ext_repoint(struct meta_batch *b, uint32_t from, uint32_t to)
{
	ext_del(b, 3, 0, from);
	ext_put(b, 3, 0, 4096, 0, to);
}

static inline struct meta_inode inode(uint64_t ino, uint32_t mode, uint64_t size)
{
	return (struct meta_inode){ .ino = ino, .mode = mode, .uid = 1000, .gid = 1000,
				    .nlink = 1, .size = size, .mtime = (int64_t)size * 3,
				    .flags = META_IF_XATTR, .generation = size + 7 };
}

static inline void put_inode(struct meta_batch *b, uint64_t ino, uint32_t mode, uint64_t size)
{
	struct meta_inode in = inode(ino, mode, size);

	meta_inode_put(b, &in);
}

static inline void hash_put(struct meta_batch *b, uint64_t ino, const char *v)
{
	uint8_t k[8];

	key_put_u64(k, ino);
	meta_rec_put(b, META_REC_CONTENT_HASH, k, 8, v, strlen(v));
}

static inline uint64_t make_epoch(uint64_t ds, uint64_t hwm)
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
static inline void commit_kept(struct meta_batch *b, struct refs *kept)
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
static inline size_t drop_epoch(uint64_t e, struct tier_ref **refs)
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
static inline size_t count(const uint8_t *prefix, size_t plen)
{
	struct db_cursor c;
	size_t n = 0;

	ck_assert_int_eq(db_cur_open(&c, m, prefix, plen, prefix, plen), 0);
	while (db_cur_next(&c))
		n++;
	ck_assert_int_eq(db_cur_close(&c, 0), 0);
	return n;
}

static inline size_t count_kind(uint8_t kind)
{
	return count(&kind, 1);
}

struct net {
	struct tier_ref r;
	long sum;
	size_t records;		/* log records */
	size_t deltas;		/* deltas in them */
};

static inline int net_cb(void *ctx, uint64_t id, const struct space_delta *d, size_t n)
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
static inline long space_net(uint32_t n)
{
	struct net x = { .r = ref(n) };

	ck_assert_int_eq(meta_space_log_foreach(m, 0, UINT64_MAX, net_cb, &x), 0);
	return x.sum;
}

/* How many deltas the whole log holds. */
static inline size_t space_deltas(void)
{
	struct net x = { .r = ref(0xffffff) };

	ck_assert_int_eq(meta_space_log_foreach(m, 0, UINT64_MAX, net_cb, &x), 0);
	return x.deltas;
}

/* How many of V[0..N) are stored extent K. */
static inline size_t ref_count(const struct tier_ref *v, size_t n, uint32_t k)
{
	struct tier_ref r = ref(k);
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += ref_eq(&v[i], &r);
	return c;
}

/* V[0..N) is exactly the multiset of stored extents WANT[0..NW). */
static inline void assert_refs(const struct tier_ref *v, size_t n, const uint32_t *want, size_t nw,
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
static inline void drop_expect(uint64_t e, const uint32_t *want, size_t nw, const char *what)
{
	struct tier_ref *dr;
	size_t nd = drop_epoch(e, &dr);

	assert_refs(dr, nd, want, nw, what);
	free(dr);
}

static inline int live_ext_cb(void *ctx, const struct meta_extent *e)
{
	struct net *x = ctx;

	if (ref_eq(&e->ref, &x->r))
		x->sum++;
	return 0;
}

/* Live extent records of inode 3 that reference stored extent N. */
static inline long live_refs(uint32_t n)
{
	struct net x = { .r = ref(n) };

	ck_assert_int_eq(meta_extent_foreach(m, 3, live_ext_cb, &x), 0);
	return x.sum;
}

/* N history records, and N of their index by death. */
static inline void assert_history(size_t n)
{
	ck_assert_uint_eq(count_kind(META_REC_HISTORY), n);
	ck_assert_uint_eq(count_kind(META_REC_HISTORY_BY_DEATH), n);
}

/* Nothing is kept any more: the space log counts stored extents FROM..TO
 * just as the live records do. */
static inline void assert_nothing_kept(uint32_t from, uint32_t to)
{
	assert_history(0);
	for (uint32_t r = from; r <= to; r++)
		ck_assert_msg(space_net(r) == live_refs(r),
			      "stored extent %u: net %ld, live records %ld", r, space_net(r),
			      live_refs(r));
}

/* --- reading ------------------------------------------------------------- */

static inline void assert_size(uint64_t ino, uint64_t size)
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

static inline void assert_dentry(uint64_t parent, const char *name, int want_rc, uint64_t want)
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

static inline int list_cb(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type)
{
	struct listing *l = ctx;

	(void)type;
	l->len += (size_t)snprintf(l->buf + l->len, sizeof(l->buf) - l->len, "%.*s=%#llx ",
				   (int)len, name, (unsigned long long)ino);
	return 0;
}

/* "name=ino " for each entry of PARENT after AFTER (NULL: all). */
static inline void assert_listing(uint64_t parent, const char *after, const char *want)
{
	struct listing l = { .len = 0 };

	ck_assert_int_eq(meta_dentry_foreach(m, parent, after, after ? strlen(after) : 0,
					     list_cb, &l), 0);
	ck_assert_msg(!strcmp(l.buf, want),
		      "listing of %#llx after %s:\n got  \"%s\"\n want \"%s\"",
		      (unsigned long long)parent, after ? after : "(none)", l.buf, want);
}

static inline int ext_list_cb(void *ctx, const struct meta_extent *e)
{
	struct listing *l = ctx;

	l->len += (size_t)snprintf(l->buf + l->len, sizeof(l->buf) - l->len,
				   "%llu+%llu@%u:%u ", (unsigned long long)e->foff,
				   (unsigned long long)e->len, e->ref.seg, e->inner);
	return 0;
}

/* "foff+len@stored extent:inner " for each extent of INO. */
static inline void assert_extents(uint64_t ino, const char *want)
{
	struct listing l = { .len = 0 };

	ck_assert_int_eq(meta_extent_foreach(m, ino, ext_list_cb, &l), 0);
	ck_assert_msg(!strcmp(l.buf, want), "extents of %#llx:\n got  \"%s\"\n want \"%s\"",
		      (unsigned long long)ino, l.buf, want);
}

static inline int xattr_list_cb(void *ctx, const char *name, const void *val, size_t len)
{
	struct listing *l = ctx;

	l->len += (size_t)snprintf(l->buf + l->len, sizeof(l->buf) - l->len, "%s=%.*s ",
				   name, (int)len, (const char *)val);
	return 0;
}

static inline void assert_xattrs(uint64_t ino, const char *want)
{
	struct listing l = { .len = 0 };

	ck_assert_int_eq(meta_xattr_foreach(m, ino, xattr_list_cb, &l), 0);
	ck_assert_msg(!strcmp(l.buf, want), "xattrs of %#llx:\n got  \"%s\"\n want \"%s\"",
		      (unsigned long long)ino, l.buf, want);
}

/* A getter of WHAT answered RC and the LEN bytes at V (freed here): WANT, or
 * with WANT NULL, the answer ABSENT. */
static inline void assert_value(const char *what, int rc, void *v, size_t len, const char *want,
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

static inline void assert_xattr(uint64_t ino, const char *name, const char *want)
{
	char what[64];
	void *v = NULL;
	size_t len = 0;
	int rc = meta_xattr_get(m, ino, name, &v, &len);

	snprintf(what, sizeof(what), "xattr %s of %#llx", name, (unsigned long long)ino);
	assert_value(what, rc, v, len, want, -ENODATA);
}

static inline void assert_symlink(uint64_t ino, const char *want)
{
	char *t = NULL;
	size_t len = 0;

	ck_assert_int_eq(meta_symlink_get(m, ino, &t, &len), 0);
	ck_assert_msg(len == strlen(want) && !strcmp(t, want), "symlink %#llx: \"%s\", want \"%s\"",
		      (unsigned long long)ino, t, want);
	free(t);
}

static inline void assert_inline(uint64_t ino, const char *want)
{
	char what[32];
	void *v = NULL;
	size_t len = 0;
	int rc = meta_inline_get(m, ino, &v, &len);

	snprintf(what, sizeof(what), "inline %#llx", (unsigned long long)ino);
	assert_value(what, rc, v, len, want, 0);
}

static inline void assert_hash(uint64_t ino, const char *want)
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

/* --- the populated store, and one epoch over it ----------------------------- */

/* Inodes: 1 root, 2 = D (the dataset), 3 a file with extents, xattrs and a
 * content hash, 4 5 files, 6 a symlink, 7 a file with inline data, 8 an
 * empty directory, 9 a directory with one entry. */
#define D	2ull
#define HWM	9ull

static inline void populate(void)
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

static inline void setup_populated(void)
{
	setup();
	populate();
}

static inline void setup_epoch(void)
{
	setup_populated();
	e1 = make_epoch(D, HWM);
}

static inline void assert_new_live(void)
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
static inline void change_all(struct refs *kept)
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

static inline int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* Run S (CK_ENV) with the temporary directory made, then remove it; main's
 * exit status. */
static inline int history_fixture_main(Suite *s)
{
	SRunner *sr;
	int failed;

	if (!mkdtemp(tmp_root)) {
		perror(tmp_root);
		return EXIT_FAILURE;
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
