/* test_meta.c — the metadata store of meta/meta.h on a real RocksDB: open
 * and close, batches, inodes and dentries.  The other record kinds are
 * tested in test_records.c.
 *
 * Every test gets a fresh database in its own directory under one mkdtemp
 * directory, which main removes at the end (a failing test exits its
 * forked child before any teardown could run).
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "meta/meta.h"

static char tmp_root[] = "/tmp/aifs-test-meta.XXXXXX";
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

static struct meta_inode sample_inode(uint64_t ino)
{
	return (struct meta_inode){
		.ino = ino, .mode = 0100644, .uid = 1000 + (uint32_t)ino,
		.gid = 0xfffffffe, .nlink = 3, .size = 0x123456789abull,
		.rdev = 0x0102030405060708ull, .atime = -1, .mtime = INT64_MAX,
		.ctime = INT64_MIN, .btime = 1700000000123456789ll,
		.flags = META_IF_INLINE | META_IF_XATTR, .policy = 0xa5,
		.generation = ino * 7 + 0xff00000000000000ull,
	};
}

static void put_inode(uint64_t ino)
{
	struct meta_batch *b = meta_batch_new();
	struct meta_inode in = sample_inode(ino);

	meta_inode_put(b, &in);
	commit(b);
}

/* Inode INO must read back as sample_inode(INO), field by field. */
static void assert_inode(uint64_t ino)
{
	struct meta_inode got, want = sample_inode(ino);
	int rc = meta_inode_get(m, ino, &got);

	ck_assert_msg(rc == 0, "inode %llu: got %d, expected 0", (unsigned long long)ino, rc);
	ck_assert_uint_eq(got.ino, want.ino);
	ck_assert_uint_eq(got.mode, want.mode);
	ck_assert_uint_eq(got.uid, want.uid);
	ck_assert_uint_eq(got.gid, want.gid);
	ck_assert_uint_eq(got.nlink, want.nlink);
	ck_assert_uint_eq(got.size, want.size);
	ck_assert_uint_eq(got.rdev, want.rdev);
	ck_assert_int_eq(got.atime, want.atime);
	ck_assert_int_eq(got.mtime, want.mtime);
	ck_assert_int_eq(got.ctime, want.ctime);
	ck_assert_int_eq(got.btime, want.btime);
	ck_assert_uint_eq(got.flags, want.flags);
	ck_assert_uint_eq(got.policy, want.policy);
	ck_assert_uint_eq(got.generation, want.generation);
}

static void assert_no_inode(uint64_t ino)
{
	struct meta_inode got;
	int rc = meta_inode_get(m, ino, &got);

	ck_assert_msg(rc == -ENOENT, "inode %llu: got %d, expected -ENOENT",
		      (unsigned long long)ino, rc);
}

/* --- inodes and batches ------------------------------------------------ */

START_TEST(inode_put_get_round_trips_every_field)
{
	put_inode(0x100000000ull);
	assert_inode(0x100000000ull);
	/* Again from a table file: reopening flushes the recovered log. */
	reopen();
	assert_inode(0x100000000ull);
}
END_TEST

START_TEST(inode_get_of_absent_ino_is_enoent)
{
	put_inode(2);
	assert_no_inode(1);
	assert_no_inode(3);
	assert_no_inode(UINT64_MAX);
}
END_TEST

START_TEST(inode_del_removes_it)
{
	struct meta_batch *b = meta_batch_new();

	put_inode(9);
	meta_inode_del(b, 9);
	commit(b);
	assert_no_inode(9);
}
END_TEST

START_TEST(batch_is_invisible_until_commit_then_all_visible)
{
	struct meta_batch *b = meta_batch_new();

	for (uint64_t ino = 1; ino <= 500; ino++) {
		struct meta_inode in = sample_inode(ino);

		meta_inode_put(b, &in);
		meta_dentry_put(b, 1, "x", 1, ino, 0100000);
	}
	for (uint64_t ino = 1; ino <= 500; ino++)
		assert_no_inode(ino);
	ck_assert_int_eq(meta_dir_empty(m, 1), 1);
	commit(b);
	for (uint64_t ino = 1; ino <= 500; ino++)
		assert_inode(ino);
}
END_TEST

START_TEST(batch_freed_without_commit_leaves_nothing)
{
	struct meta_batch *b = meta_batch_new();

	for (uint64_t ino = 1; ino <= 100; ino++) {
		struct meta_inode in = sample_inode(ino);

		meta_inode_put(b, &in);
	}
	meta_batch_free(b);
	reopen();
	for (uint64_t ino = 1; ino <= 100; ino++)
		assert_no_inode(ino);
}
END_TEST

START_TEST(batch_clear_drops_what_was_gathered)
{
	struct meta_batch *b = meta_batch_new();
	struct meta_inode a = sample_inode(10), c = sample_inode(11);

	meta_inode_put(b, &a);
	meta_batch_clear(b);
	meta_inode_put(b, &c);
	commit(b);
	assert_no_inode(10);
	assert_inode(11);
}
END_TEST

START_TEST(commit_survives_close_and_reopen_with_and_without_sync)
{
	struct meta_batch *b = meta_batch_new();
	struct meta_inode a = sample_inode(20), c = sample_inode(21);

	meta_inode_put(b, &a);
	ck_assert_int_eq(meta_batch_commit(m, b, false), 0);
	meta_batch_clear(b);
	meta_inode_put(b, &c);
	ck_assert_int_eq(meta_batch_commit(m, b, true), 0);
	meta_batch_free(b);
	ck_assert_int_eq(meta_sync(m), 0);
	reopen();
	assert_inode(20);
	assert_inode(21);
}
END_TEST

START_TEST(open_without_create_of_missing_db_is_enoent)
{
	char missing[sizeof(dir) + 16];
	struct meta *other = NULL;

	snprintf(missing, sizeof(missing), "%s/none", dir);
	ck_assert_int_eq(meta_open(missing, false, &other), -ENOENT);
	ck_assert_msg(other == NULL, "meta_open set *out on failure");
}
END_TEST

START_TEST(open_of_db_already_open_is_ebusy)
{
	struct meta *other = NULL;

	ck_assert_int_eq(meta_open(dir, false, &other), -EBUSY);
	ck_assert_msg(other == NULL, "meta_open set *out on failure");
}
END_TEST

START_TEST(open_of_db_open_in_another_process_is_ebusy)
{
	int status;
	pid_t pid = fork();

	/* A fresh program, not just a fork: a forked child inherits
	 * RocksDB's in-process table of locked files. */
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		execl("/proc/self/exe", "test_meta", "--open-busy", dir, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the other process's meta_open did not fail with -EBUSY");
}
END_TEST

static int collect_ino(void *ctx, const struct meta_inode *in)
{
	uint64_t *seen = ctx;

	seen[++seen[0]] = in->ino;
	return 0;
}

START_TEST(inode_foreach_is_in_increasing_order)
{
	uint64_t seen[8] = { 0 };

	put_inode(0x100000000ull);
	put_inode(256);
	put_inode(1);
	put_inode(255);
	ck_assert_int_eq(meta_inode_foreach(m, collect_ino, seen), 0);
	ck_assert_uint_eq(seen[0], 4);
	ck_assert_uint_eq(seen[1], 1);
	ck_assert_uint_eq(seen[2], 255);
	ck_assert_uint_eq(seen[3], 256);
	ck_assert_uint_eq(seen[4], 0x100000000ull);
}
END_TEST

START_TEST(inode_max_is_largest_ino_in_use)
{
	struct meta_batch *b = meta_batch_new();
	uint64_t max = 0;

	ck_assert_int_eq(meta_inode_max(m, &max), 0);
	ck_assert_uint_eq(max, META_ROOT_INO);
	put_inode(META_ROOT_INO);
	ck_assert_int_eq(meta_inode_max(m, &max), 0);
	ck_assert_uint_eq(max, META_ROOT_INO);
	put_inode(7);
	put_inode(0x100000000ull);
	/* Records of the kinds around 'I' must not be taken for inodes. */
	meta_rec_put(b, 'H', "\xff\xff\xff\xff\xff\xff\xff\xff\xff", 9, "", 0);
	meta_rec_put(b, 'J', "", 0, "", 0);
	meta_dentry_put(b, UINT64_MAX, "z", 1, 3, 0);
	commit(b);
	ck_assert_int_eq(meta_inode_max(m, &max), 0);
	ck_assert_uint_eq(max, 0x100000000ull);
	b = meta_batch_new();
	meta_inode_del(b, 0x100000000ull);
	commit(b);
	ck_assert_int_eq(meta_inode_max(m, &max), 0);
	ck_assert_uint_eq(max, 7);
}
END_TEST

/* --- dentries ---------------------------------------------------------- */

#define NNAMES 1000

struct name {
	char s[META_NAME_MAX + 1];
	size_t len;
};

static int name_cmp(const void *pa, const void *pb)
{
	const struct name *a = pa, *b = pb;
	int c = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);

	return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* Names with long chains of prefixes ("n1", "n10", "n100", "a", "aa",
 * ...), the longest name and high bytes, sorted in byte order. */
static void make_names(struct name *names)
{
	int n = 0;

	for (int i = 0; i < 990; i++, n++)
		names[n].len = (size_t)sprintf(names[n].s, "n%d", i);
	for (size_t len = 1; len <= 8; len++, n++) {
		memset(names[n].s, 'a', len);
		names[n].len = len;
	}
	memset(names[n].s, 'z', META_NAME_MAX);
	names[n++].len = META_NAME_MAX;
	memcpy(names[n].s, "\xff\xfe", 2);
	names[n++].len = 2;
	qsort(names, NNAMES, sizeof(*names), name_cmp);
}

/* Insert NAMES into PARENT in a scrambled order; entry i gets ino 1000+i. */
static void put_names(uint64_t parent, const struct name *names, int n)
{
	struct meta_batch *b = meta_batch_new();

	for (int i = 0; i < n; i++) {
		int j = (i * 7919) % n;	/* 7919 is prime to n: a permutation */

		meta_dentry_put(b, parent, names[j].s, names[j].len, 1000 + (uint64_t)j,
				j % 2 ? 0040000 : 0100000);
	}
	commit(b);
}

struct listing {
	struct name names[NNAMES];
	uint64_t inos[NNAMES];
	uint32_t types[NNAMES];
	int n, limit;
};

static int collect_dentry(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type)
{
	struct listing *l = ctx;

	ck_assert_msg(l->n < NNAMES && len <= META_NAME_MAX,
		      "entry %d is one too many or too long", l->n);
	memcpy(l->names[l->n].s, name, len);
	l->names[l->n].len = len;
	l->inos[l->n] = ino;
	l->types[l->n] = type;
	return ++l->n == l->limit;
}

static void assert_listing(const struct listing *l, const struct name *names, int n)
{
	ck_assert_msg(l->n == n, "listed %d names, expected %d", l->n, n);
	for (int i = 0; i < n; i++) {
		ck_assert_msg(name_cmp(&l->names[i], &names[i]) == 0,
			      "entry %d is \"%.*s\", expected \"%.*s\"", i,
			      (int)l->names[i].len, l->names[i].s, (int)names[i].len, names[i].s);
		ck_assert_msg(l->inos[i] == 1000 + (uint64_t)i, "entry %d has ino %llu", i,
			      (unsigned long long)l->inos[i]);
		ck_assert_uint_eq(l->types[i], i % 2 ? 0040000u : 0100000u);
	}
}

START_TEST(dentry_foreach_lists_1000_names_in_byte_order)
{
	static struct name names[NNAMES];
	static struct listing l;

	make_names(names);
	put_names(1, names, NNAMES);
	ck_assert_int_eq(meta_dentry_foreach(m, 1, NULL, 0, collect_dentry, &l), 0);
	assert_listing(&l, names, NNAMES);
}
END_TEST

START_TEST(dentry_foreach_after_cursor_resumes_past_that_name)
{
	static struct name names[NNAMES];
	static struct listing l;
	const struct name *after = NULL;
	int rc;

	make_names(names);
	put_names(1, names, NNAMES);
	/* Pages of 37 entries, each resuming after the last name of the
	 * previous one, as readdir does across calls. */
	do {
		l.limit = l.n + 37;
		rc = meta_dentry_foreach(m, 1, after ? after->s : NULL,
					 after ? after->len : 0, collect_dentry, &l);
		ck_assert_msg(rc == 0 || rc == 1, "foreach returned %d", rc);
		after = &l.names[l.n - 1];
	} while (rc == 1 && l.n < NNAMES);
	assert_listing(&l, names, NNAMES);
}
END_TEST

START_TEST(dentry_foreach_after_absent_name_starts_at_next_one)
{
	static struct listing l;
	static const char *in[] = { "a", "ab", "abc", "b" };
	struct meta_batch *b = meta_batch_new();

	for (int i = 0; i < 4; i++)
		meta_dentry_put(b, 1, in[i], strlen(in[i]), 10 + (uint64_t)i, 0);
	commit(b);
	ck_assert_int_eq(meta_dentry_foreach(m, 1, "aa", 2, collect_dentry, &l), 0);
	ck_assert_int_eq(l.n, 3);
	ck_assert_uint_eq(l.inos[0], 11);
	l.n = 0;
	ck_assert_int_eq(meta_dentry_foreach(m, 1, "abb", 3, collect_dentry, &l), 0);
	ck_assert_int_eq(l.n, 2);
	ck_assert_uint_eq(l.inos[0], 12);
	ck_assert_uint_eq(l.inos[1], 13);
	l.n = 0;
	ck_assert_int_eq(meta_dentry_foreach(m, 1, "b", 1, collect_dentry, &l), 0);
	ck_assert_int_eq(l.n, 0);
}
END_TEST

static int stop_with_42(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type)
{
	(void)name, (void)len, (void)ino, (void)type;
	++*(int *)ctx;
	return 42;
}

START_TEST(dentry_foreach_stops_at_nonzero_return_and_returns_it)
{
	struct meta_batch *b = meta_batch_new();
	int calls = 0;

	meta_dentry_put(b, 1, "a", 1, 2, 0);
	meta_dentry_put(b, 1, "b", 1, 3, 0);
	commit(b);
	ck_assert_int_eq(meta_dentry_foreach(m, 1, NULL, 0, stop_with_42, &calls), 42);
	ck_assert_int_eq(calls, 1);
}
END_TEST

START_TEST(dentries_of_different_parents_never_mix)
{
	/* the greatest is the greatest inode number not of a snapshot (meta.h) */
	static const uint64_t parents[] = { 1, 2, 255, 256, 0x100000000ull, META_SNAP_BIT - 1 };
	struct meta_batch *b = meta_batch_new();
	uint64_t ino;
	uint32_t type;

	for (int p = 0; p < 6; p++)
		for (int i = 0; i < 3; i++) {
			char name[2] = { (char)('a' + p), (char)('0' + i) };

			meta_dentry_put(b, parents[p], name, 2, parents[p] ^ (uint64_t)i, 0);
		}
	commit(b);
	for (int p = 0; p < 6; p++) {
		static struct listing l;

		l.n = 0;
		ck_assert_int_eq(meta_dentry_foreach(m, parents[p], NULL, 0, collect_dentry, &l),
				 0);
		ck_assert_msg(l.n == 3, "parent %llu lists %d entries, expected 3",
			      (unsigned long long)parents[p], l.n);
		for (int i = 0; i < 3; i++) {
			ck_assert_msg(l.names[i].s[0] == 'a' + p,
				      "parent %llu lists \"%.2s\" of another parent",
				      (unsigned long long)parents[p], l.names[i].s);
			ck_assert_uint_eq(l.inos[i], parents[p] ^ (uint64_t)i);
		}
	}
	ck_assert_int_eq(meta_dentry_get(m, 256, "a0", 2, &ino, &type), -ENOENT);
	ck_assert_int_eq(meta_dentry_get(m, 256, "d0", 2, &ino, &type), 0);
	ck_assert_uint_eq(ino, 256);
	ck_assert_int_eq(meta_dir_empty(m, 3), 1);
}
END_TEST

START_TEST(dentry_get_put_del)
{
	struct meta_batch *b = meta_batch_new();
	uint64_t ino = 0;
	uint32_t type = 0;

	meta_dentry_put(b, 1, "file", 4, 0x100000005ull, 0100000);
	meta_dentry_put(b, 1, "fil", 3, 6, 0040000);
	commit(b);
	ck_assert_int_eq(meta_dentry_get(m, 1, "file", 4, &ino, &type), 0);
	ck_assert_uint_eq(ino, 0x100000005ull);
	ck_assert_uint_eq(type, 0100000);
	ck_assert_int_eq(meta_dentry_get(m, 1, "fi", 2, &ino, &type), -ENOENT);
	b = meta_batch_new();
	meta_dentry_del(b, 1, "file", 4);
	commit(b);
	ck_assert_int_eq(meta_dentry_get(m, 1, "file", 4, &ino, &type), -ENOENT);
	ck_assert_int_eq(meta_dentry_get(m, 1, "fil", 3, &ino, &type), 0);
	ck_assert_uint_eq(ino, 6);
}
END_TEST

START_TEST(dir_empty_until_an_entry_exists_and_again_after_its_delete)
{
	struct meta_batch *b = meta_batch_new();

	ck_assert_int_eq(meta_dir_empty(m, 5), 1);
	meta_dentry_put(b, 4, "x", 1, 9, 0);
	meta_dentry_put(b, 6, "x", 1, 9, 0);
	commit(b);
	ck_assert_int_eq(meta_dir_empty(m, 5), 1);
	b = meta_batch_new();
	meta_dentry_put(b, 5, "x", 1, 9, 0);
	commit(b);
	ck_assert_int_eq(meta_dir_empty(m, 5), 0);
	b = meta_batch_new();
	meta_dentry_del(b, 5, "x", 1);
	commit(b);
	ck_assert_int_eq(meta_dir_empty(m, 5), 1);
}
END_TEST

static Suite *meta_suite(void)
{
	Suite *s = suite_create("meta");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, inode_put_get_round_trips_every_field);
	tcase_add_test(tc, inode_get_of_absent_ino_is_enoent);
	tcase_add_test(tc, inode_del_removes_it);
	tcase_add_test(tc, batch_is_invisible_until_commit_then_all_visible);
	tcase_add_test(tc, batch_freed_without_commit_leaves_nothing);
	tcase_add_test(tc, batch_clear_drops_what_was_gathered);
	tcase_add_test(tc, commit_survives_close_and_reopen_with_and_without_sync);
	tcase_add_test(tc, open_without_create_of_missing_db_is_enoent);
	tcase_add_test(tc, open_of_db_already_open_is_ebusy);
	tcase_add_test(tc, open_of_db_open_in_another_process_is_ebusy);
	tcase_add_test(tc, inode_foreach_is_in_increasing_order);
	tcase_add_test(tc, inode_max_is_largest_ino_in_use);
	tcase_add_test(tc, dentry_foreach_lists_1000_names_in_byte_order);
	tcase_add_test(tc, dentry_foreach_after_cursor_resumes_past_that_name);
	tcase_add_test(tc, dentry_foreach_after_absent_name_starts_at_next_one);
	tcase_add_test(tc, dentry_foreach_stops_at_nonzero_return_and_returns_it);
	tcase_add_test(tc, dentries_of_different_parents_never_mix);
	tcase_add_test(tc, dentry_get_put_del);
	tcase_add_test(tc, dir_empty_until_an_entry_exists_and_again_after_its_delete);
	suite_add_tcase(s, tc);
	return s;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

int main(int argc, char **argv)
{
	SRunner *sr;
	int failed;

	/* The other process of open_of_db_open_in_another_process_is_ebusy. */
	if (argc == 3 && strcmp(argv[1], "--open-busy") == 0)
		return meta_open(argv[2], false, &m) == -EBUSY ? EXIT_SUCCESS : EXIT_FAILURE;
	if (!mkdtemp(tmp_root)) {
		perror(tmp_root);
		return EXIT_FAILURE;
	}
	sr = srunner_create(meta_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
