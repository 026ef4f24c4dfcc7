/* test_records.c — the record kinds of meta/meta.h past inodes and
 * dentries (extents, xattrs, symlinks, inline data, orphans, generic
 * records, the format version) and meta_inode_purge, on a real RocksDB.
 *
 * Every test gets a fresh database in its own directory under one mkdtemp
 * directory, which main removes at the end (a failing test exits its
 * forked child before any teardown could run).
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "meta/meta.h"

static char tmp_root[] = "/tmp/aifs-test-records.XXXXXX";
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
	meta_close(m);
	m = NULL;
}

static void reopen(void)
{
	meta_close(m);
	m = NULL;
	ck_assert_int_eq(meta_open(dir, false, &m), 0);
}

/* Commit B (without sync) and free it. */
static void commit(struct meta_batch *b)
{
	ck_assert_int_eq(meta_batch_commit(m, b, false), 0);
	meta_batch_free(b);
}

/* --- extents ----------------------------------------------------------- */

struct extents {
	struct meta_extent e[16];
	uint32_t crcs[16][8];
	int n;
};

static int collect_extent(void *ctx, const struct meta_extent *e)
{
	struct extents *x = ctx;

	ck_assert_msg(x->n < 16 && e->ncrc <= 8, "unexpected extent %d (ncrc %u)", x->n, e->ncrc);
	x->e[x->n] = *e;
	memcpy(x->crcs[x->n], e->crcs, e->ncrc * sizeof(uint32_t));
	x->e[x->n].crcs = x->crcs[x->n];
	x->n++;
	return 0;
}

/* An extent at FOFF whose fields all derive from FOFF and SALT. */
static struct meta_extent sample_extent(uint64_t foff, uint32_t salt, uint32_t *crcs)
{
	struct meta_extent e = {
		.foff = foff, .len = 3 * TIER_BLOCK + 1 + salt, .inner = 17 + salt,
		.ref = { .tier = TIER_COLD, .codec = TIER_CODEC_LZ4, .seg = 0xfffffff0u + salt,
			 .off = 0x1234567890ull + foff, .stored_len = 3 * TIER_BLOCK + 1,
			 .raw_len = 0x800000u - salt },
	};

	e.ncrc = TIER_NCRC(e.ref.stored_len);
	for (uint32_t i = 0; i < e.ncrc; i++)
		crcs[i] = 0xdeadbeefu ^ (salt << 8) ^ i;
	e.crcs = crcs;
	return e;
}

static void assert_extent(const struct meta_extent *got, uint64_t foff, uint32_t salt)
{
	uint32_t crcs[8];
	struct meta_extent want = sample_extent(foff, salt, crcs);

	ck_assert_uint_eq(got->foff, want.foff);
	ck_assert_uint_eq(got->len, want.len);
	ck_assert_uint_eq(got->inner, want.inner);
	ck_assert_uint_eq(got->ref.tier, want.ref.tier);
	ck_assert_uint_eq(got->ref.codec, want.ref.codec);
	ck_assert_uint_eq(got->ref.seg, want.ref.seg);
	ck_assert_uint_eq(got->ref.off, want.ref.off);
	ck_assert_uint_eq(got->ref.stored_len, want.ref.stored_len);
	ck_assert_uint_eq(got->ref.raw_len, want.ref.raw_len);
	ck_assert_uint_eq(got->ncrc, 4);
	for (uint32_t i = 0; i < want.ncrc; i++)
		ck_assert_msg(got->crcs[i] == crcs[i], "crc %u is %#x, expected %#x",
			      i, got->crcs[i], crcs[i]);
}

static void put_extent(struct meta_batch *b, uint64_t ino, uint64_t foff, uint32_t salt)
{
	uint32_t crcs[8];
	struct meta_extent e = sample_extent(foff, salt, crcs);

	meta_extent_put(b, ino, &e);
}

START_TEST(extent_round_trips_with_crcs_in_offset_order)
{
	static const uint64_t offs[] = { 0x100000000ull, 256, 0, 255, 1ull << 40 };
	static const uint64_t sorted[] = { 0, 255, 256, 0x100000000ull, 1ull << 40 };
	struct meta_batch *b = meta_batch_new();
	struct extents x = { .n = 0 };

	for (int i = 0; i < 5; i++)
		put_extent(b, 5, offs[i], (uint32_t)offs[i] & 0xff);
	commit(b);
	ck_assert_int_eq(meta_extent_foreach(m, 5, collect_extent, &x), 0);
	ck_assert_int_eq(x.n, 5);
	for (int i = 0; i < 5; i++)
		assert_extent(&x.e[i], sorted[i], (uint32_t)sorted[i] & 0xff);
}
END_TEST

START_TEST(extent_del_removes_only_that_offset)
{
	struct meta_batch *b = meta_batch_new();
	struct extents x = { .n = 0 };

	put_extent(b, 5, 0, 1);
	put_extent(b, 5, 4096, 2);
	put_extent(b, 5, 8192, 3);
	commit(b);
	b = meta_batch_new();
	{
		uint32_t crcs[8];
		struct meta_extent e = sample_extent(4096, 2, crcs);

		meta_extent_del(b, 5, 4096, &e.ref);
	}
	commit(b);
	ck_assert_int_eq(meta_extent_foreach(m, 5, collect_extent, &x), 0);
	ck_assert_int_eq(x.n, 2);
	assert_extent(&x.e[0], 0, 1);
	assert_extent(&x.e[1], 8192, 3);
}
END_TEST

START_TEST(extent_del_all_of_ino_5_leaves_ino_4_and_6)
{
	struct meta_batch *b = meta_batch_new();

	for (uint64_t ino = 4; ino <= 6; ino++) {
		put_extent(b, ino, 0, 1);
		put_extent(b, ino, UINT64_MAX - 4096, 2);
	}
	commit(b);
	b = meta_batch_new();
	meta_extent_del_all(m, b, 5);
	commit(b);
	for (uint64_t ino = 4; ino <= 6; ino++) {
		struct extents x = { .n = 0 };

		ck_assert_int_eq(meta_extent_foreach(m, ino, collect_extent, &x), 0);
		ck_assert_msg(x.n == (ino == 5 ? 0 : 2), "ino %llu has %d extents",
			      (unsigned long long)ino, x.n);
	}
}
END_TEST

/* --- xattrs, symlinks, inline data, orphans ---------------------------- */

struct xattrs {
	char names[8][META_NAME_MAX + 1];
	char vals[8][16];
	size_t lens[8];
	int n;
};

static int collect_xattr(void *ctx, const char *name, const void *val, size_t len)
{
	struct xattrs *x = ctx;

	ck_assert_msg(x->n < 8 && strlen(name) <= META_NAME_MAX && len < 16,
		      "unexpected xattr %d \"%s\"", x->n, name);
	strcpy(x->names[x->n], name);
	memcpy(x->vals[x->n], val, len);
	x->lens[x->n++] = len;
	return 0;
}

START_TEST(xattr_get_put_del_and_foreach_in_name_order)
{
	struct meta_batch *b = meta_batch_new();
	struct xattrs x = { .n = 0 };
	void *val = NULL;
	size_t len = 0;

	meta_xattr_put(b, 7, "user.b", "two", 3);
	meta_xattr_put(b, 7, "user.a", "one\0x", 5);
	meta_xattr_put(b, 7, "user.ab", "", 0);
	meta_xattr_put(b, 8, "user.a", "other", 5);
	commit(b);
	ck_assert_int_eq(meta_xattr_get(m, 7, "user.a", &val, &len), 0);
	ck_assert_uint_eq(len, 5);
	ck_assert_msg(memcmp(val, "one\0x", 5) == 0, "user.a value differs");
	free(val);
	ck_assert_int_eq(meta_xattr_get(m, 7, "user.ab", &val, &len), 0);
	ck_assert_uint_eq(len, 0);
	free(val);
	ck_assert_int_eq(meta_xattr_get(m, 7, "user.c", &val, &len), -ENODATA);
	ck_assert_int_eq(meta_xattr_get(m, 9, "user.a", &val, &len), -ENODATA);
	ck_assert_int_eq(meta_xattr_foreach(m, 7, collect_xattr, &x), 0);
	ck_assert_int_eq(x.n, 3);
	ck_assert_str_eq(x.names[0], "user.a");
	ck_assert_str_eq(x.names[1], "user.ab");
	ck_assert_str_eq(x.names[2], "user.b");
	ck_assert_uint_eq(x.lens[2], 3);
	ck_assert_msg(memcmp(x.vals[2], "two", 3) == 0, "user.b value differs");
	b = meta_batch_new();
	meta_xattr_del(b, 7, "user.a");
	commit(b);
	ck_assert_int_eq(meta_xattr_get(m, 7, "user.a", &val, &len), -ENODATA);
	ck_assert_int_eq(meta_xattr_get(m, 8, "user.a", &val, &len), 0);
	free(val);
}
END_TEST

START_TEST(xattr_del_all_of_ino_7_leaves_ino_6_and_8)
{
	struct meta_batch *b = meta_batch_new();

	for (uint64_t ino = 6; ino <= 8; ino++) {
		meta_xattr_put(b, ino, "user.a", "1", 1);
		meta_xattr_put(b, ino, "user.b", "2", 1);
	}
	commit(b);
	b = meta_batch_new();
	meta_xattr_del_all(m, b, 7);
	commit(b);
	for (uint64_t ino = 6; ino <= 8; ino++) {
		struct xattrs x = { .n = 0 };

		ck_assert_int_eq(meta_xattr_foreach(m, ino, collect_xattr, &x), 0);
		ck_assert_msg(x.n == (ino == 7 ? 0 : 2), "ino %llu has %d xattrs",
			      (unsigned long long)ino, x.n);
	}
}
END_TEST

START_TEST(symlink_and_inline_data_round_trip)
{
	static const char data[] = "bin\0ary\xff";
	struct meta_batch *b = meta_batch_new();
	char *target = NULL;
	void *got = NULL;
	size_t len = 0;

	meta_symlink_put(b, 3, "../a/b", 6);
	meta_inline_put(b, 3, data, sizeof(data));
	commit(b);
	ck_assert_int_eq(meta_symlink_get(m, 3, &target, &len), 0);
	ck_assert_uint_eq(len, 6);
	ck_assert_str_eq(target, "../a/b");
	free(target);
	ck_assert_int_eq(meta_inline_get(m, 3, &got, &len), 0);
	ck_assert_uint_eq(len, sizeof(data));
	ck_assert_msg(memcmp(got, data, sizeof(data)) == 0, "inline data differs");
	free(got);
	ck_assert_int_eq(meta_symlink_get(m, 4, &target, &len), -ENOENT);
	ck_assert_int_eq(meta_inline_get(m, 4, &got, &len), -ENOENT);
}
END_TEST

static int collect_orphan(void *ctx, uint64_t ino)
{
	uint64_t *seen = ctx;

	seen[++seen[0]] = ino;
	return 0;
}

START_TEST(orphans_are_listed_in_order_until_deleted)
{
	struct meta_batch *b = meta_batch_new();
	uint64_t seen[8] = { 0 };

	meta_orphan_put(b, 0x100000000ull);
	meta_orphan_put(b, 12);
	meta_orphan_put(b, 256);
	commit(b);
	ck_assert_int_eq(meta_orphan_foreach(m, collect_orphan, seen), 0);
	ck_assert_uint_eq(seen[0], 3);
	ck_assert_uint_eq(seen[1], 12);
	ck_assert_uint_eq(seen[2], 256);
	ck_assert_uint_eq(seen[3], 0x100000000ull);
	b = meta_batch_new();
	meta_orphan_del(b, 256);
	commit(b);
	seen[0] = 0;
	ck_assert_int_eq(meta_orphan_foreach(m, collect_orphan, seen), 0);
	ck_assert_uint_eq(seen[0], 2);
	ck_assert_uint_eq(seen[2], 0x100000000ull);
}
END_TEST

/* --- purge ------------------------------------------------------------- */

static void put_everything(struct meta_batch *b, uint64_t ino)
{
	struct meta_inode in = { .ino = ino, .mode = 0100644, .nlink = 1 };

	meta_inode_put(b, &in);
	put_extent(b, ino, 0, 1);
	put_extent(b, ino, 1 << 20, 2);
	meta_xattr_put(b, ino, "user.x", "v", 1);
	meta_symlink_put(b, ino, "t", 1);
	meta_inline_put(b, ino, "d", 1);
	meta_orphan_put(b, ino);
	meta_dentry_put(b, 1, (char[]){ (char)('0' + ino) }, 1, ino, 0100000);
}

/* Count every record of INO, of every kind that purge removes. */
static int records_of(uint64_t ino)
{
	struct extents ex = { .n = 0 };
	struct xattrs xa = { .n = 0 };
	uint64_t orphans[8] = { 0 };
	struct meta_inode in;
	char *target;
	void *data;
	size_t len;
	int n = 0;

	n += meta_inode_get(m, ino, &in) == 0;
	ck_assert_int_eq(meta_extent_foreach(m, ino, collect_extent, &ex), 0);
	ck_assert_int_eq(meta_xattr_foreach(m, ino, collect_xattr, &xa), 0);
	n += ex.n + xa.n;
	if (meta_symlink_get(m, ino, &target, &len) == 0) {
		free(target);
		n++;
	}
	if (meta_inline_get(m, ino, &data, &len) == 0) {
		free(data);
		n++;
	}
	ck_assert_int_eq(meta_orphan_foreach(m, collect_orphan, orphans), 0);
	for (uint64_t i = 1; i <= orphans[0]; i++)
		n += orphans[i] == ino;
	return n;
}

START_TEST(inode_purge_removes_every_kind_of_that_ino_only)
{
	struct meta_batch *b = meta_batch_new();
	uint64_t ino;
	uint32_t type;

	for (uint64_t i = 4; i <= 6; i++)
		put_everything(b, i);
	commit(b);
	ck_assert_int_eq(records_of(5), 7);
	b = meta_batch_new();
	meta_inode_purge(m, b, 5);
	commit(b);
	reopen();
	ck_assert_int_eq(records_of(4), 7);
	ck_assert_int_eq(records_of(5), 0);
	ck_assert_int_eq(records_of(6), 7);
	/* The dentry naming it is the caller's to remove. */
	ck_assert_int_eq(meta_dentry_get(m, 1, "5", 1, &ino, &type), 0);
}
END_TEST

/* --- generic records and the superblock -------------------------------- */

struct recs {
	char keys[8][8];
	size_t klens[8];
	int n;
};

static int collect_rec(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct recs *r = ctx;

	ck_assert_msg(r->n < 8 && klen < 8, "unexpected record %d", r->n);
	ck_assert_msg(vlen == 1 && *(const char *)val == 'v', "record value differs");
	memcpy(r->keys[r->n], key, klen);
	r->klens[r->n++] = klen;
	return 0;
}

START_TEST(rec_put_get_del_and_prefix_foreach)
{
	struct meta_batch *b = meta_batch_new();
	struct recs r = { .n = 0 };
	void *val = NULL;
	size_t vlen = 0;

	meta_rec_put(b, 'V', "ab", 2, "v", 1);
	meta_rec_put(b, 'V', "a", 1, "v", 1);
	meta_rec_put(b, 'V', "b", 1, "v", 1);
	meta_rec_put(b, 'W', "a", 1, "v", 1);
	meta_rec_put(b, 0xff, "\xff\xff", 2, "v", 1);
	meta_rec_put(b, 0xff, "\xff", 1, "v", 1);
	meta_rec_put(b, 0xff, "\xfe", 1, "v", 1);
	commit(b);
	ck_assert_int_eq(meta_rec_get(m, 'V', "ab", 2, &val, &vlen), 0);
	ck_assert_uint_eq(vlen, 1);
	ck_assert_msg(memcmp(val, "v", 1) == 0, "record value differs");
	free(val);
	ck_assert_int_eq(meta_rec_get(m, 'W', "b", 1, &val, &vlen), -ENOENT);
	ck_assert_int_eq(meta_rec_foreach(m, 'V', "a", 1, collect_rec, &r), 0);
	ck_assert_int_eq(r.n, 2);
	ck_assert_uint_eq(r.klens[0], 1);
	ck_assert_msg(memcmp(r.keys[1], "ab", 2) == 0 && r.klens[1] == 2, "second key differs");
	r.n = 0;
	ck_assert_int_eq(meta_rec_foreach(m, 'V', NULL, 0, collect_rec, &r), 0);
	ck_assert_int_eq(r.n, 3);
	r.n = 0;
	ck_assert_int_eq(meta_rec_foreach(m, 0xff, "\xff", 1, collect_rec, &r), 0);
	ck_assert_int_eq(r.n, 2);
	b = meta_batch_new();
	meta_rec_del(b, 'V', "a", 1);
	commit(b);
	ck_assert_int_eq(meta_rec_get(m, 'V', "a", 1, &val, &vlen), -ENOENT);
	r.n = 0;
	ck_assert_int_eq(meta_rec_foreach(m, 'V', "a", 1, collect_rec, &r), 0);
	ck_assert_int_eq(r.n, 1);
}
END_TEST

START_TEST(rec_get_and_foreach_refuse_reserved_kinds)
{
	const char *reserved = "SIDEXLNO";
	struct recs r = { .n = 0 };
	void *val;
	size_t vlen;

	for (const char *k = reserved; *k; k++) {
		int rc = meta_rec_get(m, (uint8_t)*k, "a", 1, &val, &vlen);

		ck_assert_msg(rc == -EINVAL, "meta_rec_get of kind '%c': got %d, expected %d",
			      *k, rc, -EINVAL);
		rc = meta_rec_foreach(m, (uint8_t)*k, NULL, 0, collect_rec, &r);
		ck_assert_msg(rc == -EINVAL, "meta_rec_foreach of kind '%c': got %d, expected %d",
			      *k, rc, -EINVAL);
	}
}
END_TEST

#ifndef NDEBUG
START_TEST(rec_put_of_reserved_kind_aborts)
{
	struct meta_batch *b = meta_batch_new();

	meta_rec_put(b, 'I', "a", 1, "v", 1);
}
END_TEST
#endif

START_TEST(format_version_round_trips)
{
	struct meta_batch *b = meta_batch_new();
	uint32_t v = 0;

	ck_assert_int_eq(meta_format_get(m, &v), -ENOENT);
	meta_format_put(b, 0xfeedf00d);
	commit(b);
	reopen();
	ck_assert_int_eq(meta_format_get(m, &v), 0);
	ck_assert_uint_eq(v, 0xfeedf00d);
}
END_TEST

/* --- the space log ---------------------------------------------------- */

struct logsum {
	int64_t sum[4];		/* by the salt of sample_extent */
	uint64_t last, records;
};

static int log_sum(void *ctx, uint64_t id, const struct space_delta *d, size_t n)
{
	struct logsum *l = ctx;

	ck_assert_uint_gt(id, l->last);		/* in id order */
	l->last = id;
	l->records++;
	for (size_t i = 0; i < n; i++) {
		uint32_t salt = d[i].seg - 0xfffffff0u;

		ck_assert_uint_lt(salt, 4);
		ck_assert_uint_eq(d[i].len, 3 * TIER_BLOCK + 1);
		l->sum[salt] += d[i].delta;
	}
	return 0;
}

START_TEST(extent_changes_are_logged_with_their_batch)
{
	struct meta_batch *b = meta_batch_new();
	struct logsum l = { 0 };
	uint32_t crcs[8];
	struct meta_extent e = sample_extent(0, 1, crcs);
	uint64_t stable, epoch, end;

	/* extent 1 named by two records of inode 5, extent 2 by one of inode 6 */
	meta_extent_put(b, 5, &e);
	e.foff = 8192;
	meta_extent_put(b, 5, &e);
	e = sample_extent(0, 2, crcs);
	meta_extent_put(b, 6, &e);
	commit(b);
	b = meta_batch_new();
	e = sample_extent(8192, 1, crcs);
	meta_extent_del(b, 5, 8192, &e.ref);
	commit(b);
	b = meta_batch_new();
	meta_extent_del_all(m, b, 6);		/* read from the store: extent 2's */
	commit(b);
	ck_assert_int_eq(meta_space_log_stable(m, &stable), 0);
	ck_assert_int_eq(meta_space_log_foreach(m, 0, stable, log_sum, &l), 0);
	ck_assert_uint_eq(l.records, 3);		/* one per batch */
	ck_assert_uint_eq(l.last, stable);
	ck_assert_int_eq(l.sum[1], 1);
	ck_assert_int_eq(l.sum[2], 0);
	/* a batch without extent changes logs nothing */
	b = meta_batch_new();
	meta_format_put(b, 2);
	commit(b);
	ck_assert_int_eq(meta_space_log_stable(m, &end), 0);
	ck_assert_uint_eq(end, stable);
	/* a compaction takes the log in; ids go on past it, after a reopen too */
	ck_assert_int_eq(meta_space_mark_get(m, &epoch, &end), -ENOENT);
	b = meta_batch_new();
	meta_space_mark_put(b, 77, stable);
	meta_space_log_trim(b, stable);
	commit(b);
	reopen();
	ck_assert_int_eq(meta_space_mark_get(m, &epoch, &end), 0);
	ck_assert_uint_eq(epoch, 77);
	ck_assert_uint_eq(end, stable);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(meta_space_log_foreach(m, 0, UINT64_MAX - 1, log_sum, &l), 0);
	ck_assert_uint_eq(l.records, 0);
	b = meta_batch_new();
	e = sample_extent(0, 3, crcs);
	meta_extent_put(b, 7, &e);
	commit(b);
	ck_assert_int_eq(meta_space_log_foreach(m, stable, UINT64_MAX - 1, log_sum, &l), 0);
	ck_assert_uint_eq(l.records, 1);
	ck_assert_uint_gt(l.last, stable);
	ck_assert_int_eq(l.sum[3], 1);
}
END_TEST

static Suite *records_suite(void)
{
	Suite *s = suite_create("records");
	TCase *tc = tcase_create("records");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, extent_round_trips_with_crcs_in_offset_order);
	tcase_add_test(tc, extent_del_removes_only_that_offset);
	tcase_add_test(tc, extent_del_all_of_ino_5_leaves_ino_4_and_6);
	tcase_add_test(tc, xattr_get_put_del_and_foreach_in_name_order);
	tcase_add_test(tc, xattr_del_all_of_ino_7_leaves_ino_6_and_8);
	tcase_add_test(tc, symlink_and_inline_data_round_trip);
	tcase_add_test(tc, orphans_are_listed_in_order_until_deleted);
	tcase_add_test(tc, inode_purge_removes_every_kind_of_that_ino_only);
	tcase_add_test(tc, rec_put_get_del_and_prefix_foreach);
	tcase_add_test(tc, rec_get_and_foreach_refuse_reserved_kinds);
#ifndef NDEBUG
	/* Only a forked test can survive the abort it proves. */
	if (!getenv("CK_FORK") || strcmp(getenv("CK_FORK"), "no") != 0)
		tcase_add_test_raise_signal(tc, rec_put_of_reserved_kind_aborts, SIGABRT);
#endif
	tcase_add_test(tc, format_version_round_trips);
	tcase_add_test(tc, extent_changes_are_logged_with_their_batch);
	suite_add_tcase(s, tc);
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
	sr = srunner_create(records_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
