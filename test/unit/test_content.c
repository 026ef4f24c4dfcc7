/* test_content.c — content hashes and whole-file checks (content.c)
 * against the core, linked without libfuse on a fresh store (a real
 * RocksDB, the local tier): the SHA-256 of a file is that of its bytes,
 * is stored for the generation it describes and computed anew after a
 * change, goes with the file's purge; a torn torch.save zip or
 * safetensors file is told from a whole one.
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
#include "fs/inode.h"
#include "fs/path.h"
#include "meta/keys.h"
#include "meta/records.h"
#include "test/unit/corefix.h"

static struct fs *fs;
static struct inode *ds;	/* a dataset directory */

static void setup(void)
{
	struct meta_batch *b = meta_batch_new();

	fs = corefix_open(&content_feature);
	ds = corefix_mknod(fs, META_ROOT_INO, "ds", S_IFDIR | 0755);
	pthread_rwlock_wrlock(&ds->lock);
	ds->attr.policy = META_AREA_DATASET;
	inode_save(b, ds);
	pthread_rwlock_unlock(&ds->lock);
	ck_assert_int_eq(fs_commit(fs, b, false), 0);
	meta_batch_free(b);
}

static void teardown(void)
{
	inode_put(fs, ds);
	corefix_close(fs);
	fs = NULL;
}

/* SHA-256 of LEN bytes of corefix_write's pattern SEED. */
static void pattern_sha(size_t len, unsigned seed, uint8_t sha[32])
{
	char *buf = malloc(len);

	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(i * 31 + seed);
	ck_assert_int_eq(EVP_Digest(buf, len, sha, NULL, EVP_sha256(), NULL), 1);
	free(buf);
}

/* IN's SHA-256 as content_sha answers. */
static void sha_of(struct inode *in, uint8_t sha[32])
{
	pthread_rwlock_wrlock(&in->lock);
	ck_assert_int_eq(content_sha(fs, in, sha), 0);
	pthread_rwlock_unlock(&in->lock);
}

/* The generation the stored hash of INO describes, or -1 if none. */
static int64_t stored_gen(uint64_t ino)
{
	uint8_t k[8];
	size_t len;
	void *v;
	int64_t gen;

	key_put_u64(k, ino);
	if (meta_rec_get(fs->meta, META_REC_CONTENT_HASH, k, 8, &v, &len) < 0)
		return -1;
	ck_assert_uint_eq(len, 40);
	gen = (int64_t)key_get_u64(v);
	free(v);
	return gen;
}

START_TEST(sha_is_of_the_bytes_stored_per_generation_and_renewed)
{
	struct inode *f = corefix_mknod(fs, ds->ino, "f", S_IFREG | 0644);
	uint8_t want[32], got[32];

	ck_assert(content_tracked(f));
	ck_assert_int_eq(corefix_write(fs, f, 300000, 4), 0);
	ck_assert_int_eq(stored_gen(f->ino), -1);	/* computed when first asked */
	pattern_sha(300000, 4, want);
	sha_of(f, got);
	ck_assert_mem_eq(got, want, 32);
	ck_assert_int_eq(stored_gen(f->ino), (int64_t)f->attr.generation);
	sha_of(f, got);					/* from the record */
	ck_assert_mem_eq(got, want, 32);

	ck_assert_int_eq(corefix_write(fs, f, 300000, 5), 0);	/* a new generation */
	ck_assert_int_ne(stored_gen(f->ino), (int64_t)f->attr.generation);
	pattern_sha(300000, 5, want);
	sha_of(f, got);
	ck_assert_mem_eq(got, want, 32);
	ck_assert_int_eq(stored_gen(f->ino), (int64_t)f->attr.generation);
	inode_put(fs, f);
}
END_TEST

START_TEST(stored_sha_goes_with_the_purge)
{
	struct inode *f = corefix_mknod(fs, ds->ino, "f", S_IFREG | 0644);
	struct meta_batch *b = meta_batch_new();
	uint64_t ino = f->ino;
	uint8_t sha[32];

	ck_assert_int_eq(corefix_write(fs, f, 5000, 1), 0);
	sha_of(f, sha);
	ck_assert_int_ge(stored_gen(ino), 0);
	pthread_rwlock_wrlock(&f->lock);
	meta_dentry_del(b, ds->ino, "f", 1);
	fs_drop_link(b, f, fs_now());
	pthread_rwlock_unlock(&f->lock);
	ck_assert_int_eq(fs_commit(fs, b, false), 0);
	meta_batch_free(b);
	ck_assert_int_ge(stored_gen(ino), 0);	/* open: kept */
	inode_put(fs, f);			/* purged: the purge hook forgets it */
	ck_assert_int_eq(stored_gen(ino), -1);
}
END_TEST

/* A file NAME of LEN bytes BUF in the dataset directory, stored. */
static struct inode *file_of(const char *name, const void *buf, size_t len)
{
	struct inode *f = corefix_mknod(fs, ds->ino, name, S_IFREG | 0644);

	pthread_rwlock_wrlock(&f->lock);
	ck_assert_int_eq(fs_write(fs, f, buf, len, 0, NULL), 0);
	ck_assert_int_eq(fs_flush(fs, f), 0);
	pthread_rwlock_unlock(&f->lock);
	return f;
}

static bool whole(const char *name, const void *buf, size_t len)
{
	struct inode *f = file_of(name, buf, len);
	bool w;

	pthread_rwlock_wrlock(&f->lock);
	ck_assert_int_eq(fs_map_load(fs, f), 0);
	w = content_whole(fs, f);
	pthread_rwlock_unlock(&f->lock);
	inode_put(fs, f);
	return w;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

START_TEST(torn_safetensors_is_not_whole)
{
	static const char hdr[] =
		"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
		"\"b\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[16,48]}}";
	size_t hlen = sizeof(hdr) - 1, len = 8 + hlen + 48;
	uint8_t *st = calloc(1, len);

	put_le(st, hlen, 8);
	memcpy(st + 8, hdr, hlen);
	ck_assert(whole("st", st, len));
	ck_assert(!whole("st-torn", st, len - 4));		/* the data cut short */
	ck_assert(!whole("st-header", st, 8 + hlen / 2));	/* the header too */
	ck_assert(whole("plain", "not a known format", 18));	/* nothing to tell */
	free(st);
}
END_TEST

START_TEST(torn_zip_is_not_whole)
{
	size_t body = 1000, cd = 46, len = body + cd + 22;
	uint8_t *z = calloc(1, len), *eocd = z + body + cd;

	put_le(z, 0x04034b50, 4);		/* a local file header */
	put_le(z + body, 0x02014b50, 4);	/* the central directory */
	put_le(eocd, 0x06054b50, 4);
	put_le(eocd + 12, cd, 4);
	put_le(eocd + 16, body, 4);
	ck_assert(whole("zip", z, len));
	ck_assert(!whole("zip-torn", z, len - 30));	/* no end record */
	put_le(eocd + 12, cd - 1, 4);			/* its directory does not end there */
	ck_assert(!whole("zip-bad", z, len));
	free(z);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("content");
	TCase *tc = tcase_create("content");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, sha_is_of_the_bytes_stored_per_generation_and_renewed);
	tcase_add_test(tc, stored_sha_goes_with_the_purge);
	tcase_add_test(tc, torn_safetensors_is_not_whole);
	tcase_add_test(tc, torn_zip_is_not_whole);
	suite_add_tcase(s, tc);
	return corefix_main(s);
}
