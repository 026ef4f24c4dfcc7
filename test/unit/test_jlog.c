/* test_jlog.c — the records of the journal's signed log (jlog.c) against
 * the core, linked without libfuse on a fresh store (a real RocksDB, the
 * local tier): each committed record is a JSON line under the next
 * sequence number whose leaf hashes, read back from the store, give the
 * root of the journal's Merkle tree; a changed record gives another root;
 * a failed commit leaves neither a record nor a leaf; the paths kept for
 * journal files.  The signing of checkpoints and the witness are tested
 * by test_merkle and test_witness; records made by writes, seals and
 * retention through the mount (test_journal.py).
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "fs/fs.h"
#include "fs/journal.h"
#include "fs/journal_priv.h"
#include "fs/inode.h"
#include "meta/keys.h"
#include "meta/merkle.h"
#include "test/unit/corefix.h"
#include "tier/failpoint.h"

static struct fs *fs;
static struct journal *j;

static void setup(void)
{
	fs = corefix_open(NULL);
	j = calloc(1, sizeof(*j));
	ck_assert_ptr_nonnull(j);
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->cond, NULL);
	merkle_init(&j->tree);
	fs->journal = j;
	fs->opt.audit_leaves = 1000;
}

static void teardown(void)
{
	pthread_cond_destroy(&j->cond);
	pthread_mutex_destroy(&j->lock);
	sb_free(&j->rec);	/* the record builder (journal_stop's part) */
	free(j);
	corefix_close(fs);
	fs = NULL;
}

/* Commit a record of OP on PATH by uid 1000 in a batch of its own. */
static int record(const char *op, const char *path, uint64_t ino, const uint8_t *sha)
{
	struct leaf l = { .op = op, .uid = 1000, .pid = 42, .comm = "train", .path = path,
			  .ino = ino, .offset = 4096, .length = 512, .sha = sha };
	struct meta_batch *b = meta_batch_new();
	int rc = journal_leaf_commit(fs, &l, b);

	meta_batch_free(b);
	return rc;
}

struct replay {
	struct merkle tree;
	uint64_t n;
	bool in_order;
};

static int replay_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct replay *r = ctx;
	uint8_t h[32];

	ck_assert_uint_eq(klen, 8);
	if (key_get_u64(key) != r->n)
		r->in_order = false;
	ck_assert_int_eq(merkle_leaf_hash(val, vlen, h), 0);
	ck_assert_int_eq(merkle_append(&r->tree, h), 0);
	r->n++;
	return 0;
}

/* The root of the leaf hashes of the records in the store, in sequence
 * order, is the journal's; their number is N. */
static void store_verifies(uint64_t n)
{
	struct replay r = { .in_order = true };
	uint8_t want[32], got[32];

	merkle_init(&r.tree);
	ck_assert_int_eq(meta_rec_foreach(fs->meta, REC_J, NULL, 0, replay_cb, &r), 0);
	ck_assert(r.in_order);			/* 0, 1, 2, ...: no gap */
	ck_assert_uint_eq(r.n, n);
	ck_assert_uint_eq(merkle_size(&j->tree), n);
	ck_assert_int_eq(merkle_root(&j->tree, want), 0);
	ck_assert_int_eq(merkle_root(&r.tree, got), 0);
	ck_assert_mem_eq(got, want, 32);
}

/* Record SEQ as stored, parsed. */
static json_t *stored(uint64_t seq)
{
	uint8_t k[8];
	size_t len;
	void *v;
	json_t *o;

	key_put_u64(k, seq);
	ck_assert_int_eq(meta_rec_get(fs->meta, REC_J, k, 8, &v, &len), 0);
	o = json_loadb(v, len, 0, NULL);
	ck_assert_msg(o != NULL, "record %llu is not JSON: %.*s", (unsigned long long)seq,
		      (int)len, (char *)v);
	free(v);
	return o;
}

START_TEST(records_are_json_lines_whose_root_verifies)
{
	uint8_t sha[32];
	json_t *o;

	for (int i = 0; i < 32; i++)
		sha[i] = (uint8_t)(0xa0 + i);
	ck_assert_int_eq(record("create", "/logs/a", 7, NULL), 0);
	ck_assert_int_eq(record("write", "/logs/a", 7, sha), 0);
	ck_assert_int_eq(record("write", "/logs/\"quoted\"\n\\name", 8, NULL), 0);
	ck_assert_int_eq(record("seal", "/logs/a", 7, sha), 0);
	store_verifies(4);

	o = stored(1);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "seq")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(o, "op")), "write");
	ck_assert_str_eq(json_string_value(json_object_get(o, "path")), "/logs/a");
	ck_assert_str_eq(json_string_value(json_object_get(o, "comm")), "train");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "uid")), 1000);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "inode")), 7);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "offset")), 4096);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "length")), 512);
	ck_assert_str_eq(json_string_value(json_object_get(o, "sha256")),
			 "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf");
	json_decref(o);
	o = stored(2);				/* a name with what JSON escapes */
	ck_assert_str_eq(json_string_value(json_object_get(o, "path")), "/logs/\"quoted\"\n\\name");
	ck_assert_str_eq(json_string_value(json_object_get(o, "sha256")), "");
	json_decref(o);
}
END_TEST

START_TEST(a_changed_record_gives_another_root)
{
	static const char forged[] = "{\"seq\":1,\"op\":\"write\",\"path\":\"/logs/b\"}";
	struct meta_batch *b = meta_batch_new();
	struct replay r = { .in_order = true };
	uint8_t want[32], got[32], k[8];

	ck_assert_int_eq(record("create", "/logs/a", 7, NULL), 0);
	ck_assert_int_eq(record("write", "/logs/a", 7, NULL), 0);
	ck_assert_int_eq(record("seal", "/logs/a", 7, NULL), 0);
	store_verifies(3);
	key_put_u64(k, 1);
	meta_rec_put(b, REC_J, k, 8, forged, sizeof(forged) - 1);
	ck_assert_int_eq(meta_batch_commit(fs->meta, b, false), 0);
	meta_batch_free(b);
	merkle_init(&r.tree);
	ck_assert_int_eq(meta_rec_foreach(fs->meta, REC_J, NULL, 0, replay_cb, &r), 0);
	ck_assert_int_eq(merkle_root(&j->tree, want), 0);
	ck_assert_int_eq(merkle_root(&r.tree, got), 0);
	ck_assert(memcmp(got, want, 32) != 0);
}
END_TEST

#ifdef AIFS_FAILPOINTS
START_TEST(a_failed_commit_leaves_no_record_and_no_leaf)
{
	uint8_t k[8];
	size_t len;
	void *v;
	json_t *o;

	ck_assert_int_eq(record("create", "/logs/a", 7, NULL), 0);
	ck_assert_int_eq(failpoint_arm("meta_commit:1=EIO"), 0);
	ck_assert_int_eq(record("write", "/logs/a", 7, NULL), -EIO);
	key_put_u64(k, 1);
	ck_assert_int_eq(meta_rec_get(fs->meta, REC_J, k, 8, &v, &len), -ENOENT);
	store_verifies(1);
	ck_assert_int_eq(record("write", "/logs/a", 7, NULL), 0);	/* takes seq 1 */
	store_verifies(2);
	o = stored(1);
	ck_assert_str_eq(json_string_value(json_object_get(o, "op")), "write");
	json_decref(o);
}
END_TEST
#endif

START_TEST(paths_of_journal_files_are_kept)
{
	struct inode *d1 = corefix_mknod(fs, META_ROOT_INO, "logs", S_IFDIR | 0755);
	struct inode *d2 = corefix_mknod(fs, d1->ino, "run 1", S_IFDIR | 0755);
	struct meta_batch *b = meta_batch_new();
	char path[128];
	int64_t sealed;

	journal_dir_path(fs, d2->ino, path, sizeof(path));
	ck_assert_str_eq(path, "/logs/run 1");
	journal_dir_path(fs, META_ROOT_INO, path, sizeof(path));
	ck_assert_str_eq(path, "");
	journal_dir_path(fs, 999999, path, sizeof(path));	/* no such directory */
	ck_assert_str_eq(path, "?999999");
	journal_path_put(b, 77, "/logs/run 1/a", -1);
	journal_path_put(b, 78, "/logs/b", 123456789);
	ck_assert_int_eq(fs_commit(fs, b, false), 0);
	meta_batch_free(b);
	ck_assert_int_eq(journal_path_load(fs, 77, path, sizeof(path), &sealed), 0);
	ck_assert_str_eq(path, "/logs/run 1/a");
	ck_assert_int_eq(sealed, -1);
	ck_assert_int_eq(journal_path_load(fs, 78, path, sizeof(path), &sealed), 0);
	ck_assert_str_eq(path, "/logs/b");
	ck_assert_int_eq(sealed, 123456789);
	ck_assert_int_eq(journal_path_load(fs, 79, path, sizeof(path), &sealed), -ENOENT);
	inode_put(fs, d2);
	inode_put(fs, d1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("jlog");
	TCase *tc = tcase_create("jlog");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, records_are_json_lines_whose_root_verifies);
	tcase_add_test(tc, a_changed_record_gives_another_root);
#ifdef AIFS_FAILPOINTS
	tcase_add_test(tc, a_failed_commit_leaves_no_record_and_no_leaf);
#endif
	tcase_add_test(tc, paths_of_journal_files_are_kept);
	suite_add_tcase(s, tc);
	return corefix_main(s);
}
