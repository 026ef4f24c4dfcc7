/* test_versions.c — checkpoint versions (version.c, vsession.c,
 * vhooks.c) against the core on a fresh store (a real RocksDB, the local
 * tier), driven as the FUSE adapter drives them (file.c): a file of a
 * checkpoint area is opened for writing, each write goes through the
 * change hook of the feature that claims it and is stored by the core's
 * fs_write, and the close is its flush and its release (the flush and
 * last_close hooks).  No request: the hooks are given NULL, the daemon's
 * own change.  libfuse is linked (the permission checks and the
 * invalidation queue name it) but no session is made: inval_* only queue,
 * and before inval_start they queue nothing.
 *
 * A write session becomes version N+1 with the bytes and SHA-256 of what
 * was written; a failed commit leaves no version and the previous one
 * served, with the reference counts those of the store's records; pruning
 * frees what only the pruned versions referenced; a torn save is kept as
 * an incomplete version and the file goes back to the last good one.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "fs/fs.h"
#include "fs/content.h"
#include "fs/data.h"
#include "fs/extmap.h"
#include "fs/hooks.h"
#include "fs/inode.h"
#include "fs/inval.h"
#include "fs/space.h"
#include "fs/version.h"
#include "test/unit/corefix.h"
#include "tier/failpoint.h"

static struct fs *fs;
static struct inode *ck;	/* a checkpoint directory */
static struct inode *f;		/* ck/model.pt */

#define LEN	200000

static void setup(void)
{
	struct meta_batch *b = meta_batch_new();
	const struct fs_feature_ops *claimer;

	fs = corefix_open(&version_feature);	/* as main.c: versions, then content */
	ck_assert_int_eq(fs_feature_register(fs, &content_feature), 0);
	ck = corefix_mknod(fs, META_ROOT_INO, "ck", S_IFDIR | 0755);
	pthread_rwlock_wrlock(&ck->lock);
	ck->attr.policy = META_AREA_CHECKPOINT;
	inode_save(b, ck);
	pthread_rwlock_unlock(&ck->lock);
	ck_assert_int_eq(fs_commit(fs, b, false), 0);
	meta_batch_free(b);
	f = corefix_mknod(fs, ck->ino, "model.pt", S_IFREG | 0644);
	ck_assert(version_tracked(f));
	claimer = fs_hook_claimer(fs, f);
	ck_assert_ptr_eq(claimer, &version_feature);
	pthread_rwlock_wrlock(&f->lock);
	claimer->created(fs, f, ck->ino, "model.pt");
	pthread_rwlock_unlock(&f->lock);
}

static void teardown(void)
{
	inode_put(fs, f);
	inode_put(fs, ck);
	corefix_close(fs);
	fs = NULL;
}

static void pattern(char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(i * 31 + seed);
}

/* A save of LEN bytes BUF: opened with O_TRUNC, written in pieces, closed. */
static int save(struct inode *in, const void *buf, size_t len)
{
	corefix_open_w(fs, in, true);
	for (size_t off = 0; off < len; off += 65536)
		corefix_write_w(fs, in, (const char *)buf + off, len - off < 65536 ? len - off : 65536, off);
	return corefix_close_w(fs, in);
}

/* A save of LEN bytes of pattern SEED. */
static int save_pattern(struct inode *in, size_t len, unsigned seed)
{
	char *buf = malloc(len);
	int rc;

	pattern(buf, len, seed);
	rc = save(in, buf, len);
	free(buf);
	return rc;
}

static void sha_of(const void *buf, size_t len, uint8_t sha[32])
{
	ck_assert_int_eq(EVP_Digest(buf, len, sha, NULL, EVP_sha256(), NULL), 1);
}

static void pattern_sha(size_t len, unsigned seed, uint8_t sha[32])
{
	char *buf = malloc(len);

	pattern(buf, len, seed);
	sha_of(buf, len, sha);
	free(buf);
}

/* INO's content is LEN bytes, those of BUF. */
static void content_is(uint64_t ino, const void *buf, size_t len)
{
	char *got = malloc(len + 1);
	struct inode *in;
	size_t n = 0;

	ck_assert_int_eq(inode_get(fs, ino, &in), 0);
	pthread_rwlock_wrlock(&in->lock);
	ck_assert_uint_eq(in->attr.size, len);
	ck_assert_int_eq(fs_map_load(fs, in), 0);
	ck_assert_int_eq(fs_read(fs, in, got, len + 1, 0, &n), 0);
	pthread_rwlock_unlock(&in->lock);
	inode_put(fs, in);
	ck_assert_uint_eq(n, len);
	ck_assert_msg(!memcmp(got, buf, len), "content of inode %llu differs",
		      (unsigned long long)ino);
	free(got);
}

static void content_is_pattern(uint64_t ino, size_t len, unsigned seed)
{
	char *buf = malloc(len);

	pattern(buf, len, seed);
	content_is(ino, buf, len);
	free(buf);
}

static int count_cb(void *ctx, uint32_t n, const struct vrec *v)
{
	(void)n, (void)v;
	++*(unsigned *)ctx;
	return 0;
}

static unsigned nversions(uint64_t ino)
{
	unsigned n = 0;

	ck_assert_int_eq(version_foreach(fs, ino, count_cb, &n), 0);
	return n;
}

/* The newest complete version of INO is number N, V. */
static void served_is(uint64_t ino, uint32_t n, struct vrec *v)
{
	uint32_t got = 0;

	ck_assert_int_eq(version_get(fs, ino, 0, v, &got), 0);
	ck_assert_uint_eq(got, n);
}

START_TEST(each_write_session_is_a_version_of_its_bytes)
{
	const struct fs_feature_ops *c = fs_hook_claimer(fs, f);
	struct inval_stats st;
	uint8_t want[32];
	struct vrec v1, v2, v;
	struct inode *other;
	char *buf = malloc(LEN);

	ck_assert_int_eq(version_get(fs, f->ino, 0, &v, NULL), -ENOENT);
	ck_assert_int_eq(save_pattern(f, LEN, 1), 0);
	ck_assert_uint_eq(nversions(f->ino), 1);
	ck_assert_int_eq(version_get(fs, f->ino, 1, &v1, NULL), 0);
	ck_assert(v1.complete);
	ck_assert_uint_eq(v1.size, LEN);
	ck_assert_uint_eq(v1.uid, 0);			/* the daemon's own change */
	pattern_sha(LEN, 1, want);
	ck_assert_mem_eq(v1.sha, want, 32);
	content_is_pattern(v1.vino, LEN, 1);
	corefix_refs_are(fs, corefix_first_ref(fs, f->ino), 2);			/* the version shares the data */
	ck_assert(!version_in_session(fs, f));

	/* during the next session, a reader reads version 1 */
	corefix_open_w(fs, f, true);
	pattern(buf, LEN, 2);
	corefix_write_w(fs, f, buf, LEN, 0);
	ck_assert(version_in_session(fs, f));
	ck_assert(version_name_hidden(fs, f));
	ck_assert_int_eq(c->read_instead(fs, f, &other), 0);
	ck_assert_ptr_nonnull(other);
	ck_assert_uint_eq(other->ino, v1.vino);
	inode_put(fs, other);
	ck_assert_int_eq(corefix_close_w(fs, f), 0);
	ck_assert_int_eq(c->read_instead(fs, f, &other), 0);
	ck_assert_ptr_null(other);			/* the file itself again */

	ck_assert_uint_eq(nversions(f->ino), 2);
	served_is(f->ino, 2, &v2);
	ck_assert_uint_ne(v2.vino, v1.vino);
	pattern_sha(LEN, 2, want);
	ck_assert_mem_eq(v2.sha, want, 32);
	content_is_pattern(v2.vino, LEN, 2);
	content_is_pattern(v1.vino, LEN, 1);		/* each keeps its own */
	content_is_pattern(f->ino, LEN, 2);
	corefix_refs_are(fs, corefix_first_ref(fs, v1.vino), 1);
	corefix_refs_are(fs, corefix_first_ref(fs, v2.vino), 2);

	/* a short save: the version is of the bytes written, not more */
	ck_assert_int_eq(save_pattern(f, 1000, 3), 0);
	ck_assert_int_eq(version_get(fs, f->ino, 3, &v, NULL), 0);
	ck_assert_uint_eq(v.size, 1000);
	pattern_sha(1000, 3, want);
	ck_assert_mem_eq(v.sha, want, 32);
	free(buf);
	/* the names hidden were queued to no kernel: no inval thread runs */
	inval_stats_get(&st);
	ck_assert_uint_eq(st.queued + st.pending, 0);
}
END_TEST

/* Versions are numbered on: a new session after the one that made N
 * makes N+1, also when written out of order (the SHA-256 is then read
 * back from the stored content). */
START_TEST(out_of_order_writes_are_hashed_from_the_content)
{
	char *buf = malloc(LEN);
	uint8_t want[32];
	struct vrec v;

	pattern(buf, LEN, 9);
	corefix_open_w(fs, f, true);
	corefix_write_w(fs, f, buf + LEN / 2, LEN - LEN / 2, LEN / 2);	/* the second half first */
	corefix_write_w(fs, f, buf, LEN / 2, 0);
	ck_assert_int_eq(corefix_close_w(fs, f), 0);
	served_is(f->ino, 1, &v);
	sha_of(buf, LEN, want);
	ck_assert_mem_eq(v.sha, want, 32);
	content_is(v.vino, buf, LEN);
	free(buf);
}
END_TEST

#ifdef AIFS_FAILPOINTS
START_TEST(failed_commit_leaves_no_version_and_serves_the_last)
{
	struct tier_ref r1, r2;
	struct corefix_census before;
	struct vrec v1, v;
	char *buf = malloc(LEN);

	ck_assert_int_eq(save_pattern(f, LEN, 1), 0);
	served_is(f->ino, 1, &v1);
	r1 = corefix_first_ref(fs, f->ino);
	before = corefix_census(fs, r1);

	corefix_open_w(fs, f, true);
	pattern(buf, LEN, 2);
	corefix_write_w(fs, f, buf, LEN, 0);
	pthread_rwlock_wrlock(&f->lock);
	ck_assert_int_eq(fs_flush(fs, f), 0);		/* the bytes are stored... */
	pthread_rwlock_unlock(&f->lock);
	r2 = corefix_first_ref(fs, f->ino);
	ck_assert(r2.seg != r1.seg || r2.off != r1.off);
	corefix_refs_are(fs, r2, 1);
	corefix_refs_are(fs, r1, 1);
	ck_assert_int_eq(failpoint_arm("meta_commit:1=EIO"), 0);
	ck_assert_int_eq(corefix_close_w(fs, f), -EIO);		/* ...the version's commit fails */

	ck_assert_uint_eq(nversions(f->ino), 1);
	ck_assert_int_eq(version_get(fs, f->ino, 2, &v, NULL), -ENOENT);
	served_is(f->ino, 1, &v);
	ck_assert_uint_eq(v.vino, v1.vino);
	ck_assert(!version_in_session(fs, f));	/* the session is put back */
	content_is_pattern(f->ino, LEN, 1);		/* the last version is served */
	corefix_refs_are(fs, r1, 2);				/* as before the session */
	corefix_refs_are(fs, r2, 0);				/* the failed save's bytes go */
	ck_assert_uint_eq(corefix_census(fs, r1).inodes, before.inodes);

	/* and the next save is version 2 */
	ck_assert_int_eq(save_pattern(f, LEN, 3), 0);
	served_is(f->ino, 2, &v);
	content_is_pattern(v.vino, LEN, 3);
	corefix_refs_are(fs, r1, 1);
	free(buf);
}
END_TEST
#endif

START_TEST(pruning_frees_what_only_the_pruned_versions_held)
{
	struct tier_ref r[5];
	struct corefix_census before;
	struct meta_inode a;
	struct vrec v[5];

	fs->opt.keep_versions = 2;
	for (unsigned i = 1; i <= 4; i++) {
		ck_assert_int_eq(save_pattern(f, LEN, i), 0);
		r[i] = corefix_first_ref(fs, f->ino);
		ck_assert_int_eq(version_get(fs, f->ino, i, &v[i], NULL), 0);
		if (i == 2)
			before = corefix_census(fs, r[1]);	/* two versions */
	}
	ck_assert_uint_eq(nversions(f->ino), 2);
	ck_assert_int_eq(version_get(fs, f->ino, 1, &v[0], NULL), -ENOENT);
	ck_assert_int_eq(version_get(fs, f->ino, 2, &v[0], NULL), -ENOENT);
	for (unsigned i = 1; i <= 2; i++) {
		ck_assert_int_eq(meta_inode_get(fs->meta, v[i].vino, &a), -ENOENT);
		ck_assert(!corefix_orphan(fs, v[i].vino));
		corefix_refs_are(fs, r[i], 0);			/* only the version held it */
	}
	corefix_refs_are(fs, r[3], 1);
	corefix_refs_are(fs, r[4], 2);
	content_is_pattern(v[3].vino, LEN, 3);
	content_is_pattern(v[4].vino, LEN, 4);
	ck_assert_uint_eq(corefix_census(fs, r[1]).inodes, before.inodes);	/* two again */
}
END_TEST

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

/* A save torn short (a zip with no end record) is kept as an incomplete
 * version; the file goes back to the newest complete one. */
START_TEST(torn_save_is_not_served)
{
	size_t body = 100000, cd = 46, len = body + cd + 22;
	uint8_t *z = calloc(1, len), *eocd = z + body + cd, want[32];
	struct vrec v1, v2, v;

	put_le(z, 0x04034b50, 4);		/* a local file header */
	for (size_t i = 4; i < body; i++)
		z[i] = (uint8_t)(i * 7);
	put_le(z + body, 0x02014b50, 4);	/* the central directory */
	put_le(eocd, 0x06054b50, 4);
	put_le(eocd + 12, cd, 4);
	put_le(eocd + 16, body, 4);
	ck_assert_int_eq(save(f, z, len), 0);
	served_is(f->ino, 1, &v1);
	ck_assert(v1.complete);

	z[10] ^= 1;				/* other bytes, cut short */
	ck_assert_int_eq(save(f, z, len - 30), 1);
	ck_assert_uint_eq(nversions(f->ino), 2);
	ck_assert_int_eq(version_get(fs, f->ino, 2, &v2, NULL), 0);
	ck_assert(!v2.complete);
	ck_assert_uint_eq(v2.size, len - 30);
	sha_of(z, len - 30, want);
	ck_assert_mem_eq(v2.sha, want, 32);
	content_is(v2.vino, z, len - 30);	/* kept as it was written */
	served_is(f->ino, 1, &v);
	ck_assert_uint_eq(v.vino, v1.vino);
	z[10] ^= 1;
	content_is(f->ino, z, len);		/* the file is version 1 again */

	/* a session that only truncates a zip is no save either */
	corefix_open_w(fs, f, false);
	corefix_truncate_w(fs, f, FS_CHANGE_SIZE);
	ck_assert_int_eq(corefix_close_w(fs, f), 1);
	ck_assert_int_eq(version_get(fs, f->ino, 3, &v, NULL), 0);
	ck_assert(!v.complete);
	served_is(f->ino, 1, &v);
	content_is(f->ino, z, len);
	free(z);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("versions");
	TCase *tc = tcase_create("versions");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, each_write_session_is_a_version_of_its_bytes);
	tcase_add_test(tc, out_of_order_writes_are_hashed_from_the_content);
#ifdef AIFS_FAILPOINTS
	tcase_add_test(tc, failed_commit_leaves_no_version_and_serves_the_last);
#endif
	tcase_add_test(tc, pruning_frees_what_only_the_pruned_versions_held);
	tcase_add_test(tc, torn_save_is_not_served);
	suite_add_tcase(s, tc);
	return corefix_main(s);
}
