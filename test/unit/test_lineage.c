/* test_lineage.c — lineage (lineage.c, linjob.c, linserve.c) over
 * checkpoint versions and the core on a fresh store (a real RocksDB, the
 * local tier), the features registered and subscribed as at mount: a job
 * (this test's process, by its pid, as a request names its caller) reads
 * version V of a checkpoint file and then saves another file, whose
 * version records V as its source, though the file read has a newer
 * version by then; the daemon's own saves and opens belong to no job.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs.h"
#include "fs/content.h"
#include "fs/hooks.h"
#include "fs/inode.h"
#include "fs/lineage.h"
#include "fs/version.h"
#include "meta/keys.h"
#include "meta/records.h"
#include "test/unit/corefix.h"

static struct fs *fs;
static struct inode *ck;	/* a checkpoint directory */
static struct inode *a;		/* ck/a.pt */

static void setup(void)
{
	struct meta_batch *b = meta_batch_new();

	/* as main.c: versions, content, lineage; lineage subscribes */
	fs = corefix_open(&version_feature);
	ck_assert_int_eq(fs_feature_register(fs, &content_feature), 0);
	ck_assert_int_eq(fs_feature_register(fs, &lineage_feature), 0);
	ck_assert_int_eq(version_subscribe(fs, &lineage_version_events), 0);
	ck = corefix_mknod(fs, META_ROOT_INO, "ck", S_IFDIR | 0755);
	pthread_rwlock_wrlock(&ck->lock);
	ck->attr.policy = META_AREA_CHECKPOINT;
	inode_save(b, ck);
	pthread_rwlock_unlock(&ck->lock);
	ck_assert_int_eq(fs_commit(fs, b, false), 0);
	meta_batch_free(b);
	a = corefix_mknod(fs, ck->ino, "a.pt", S_IFREG | 0644);
}

static void teardown(void)
{
	inode_put(fs, a);
	inode_put(fs, ck);
	corefix_close(fs);
	fs = NULL;
}

/* A save of LEN bytes of pattern SEED into IN by process PID of UID (0,
 * 0: the daemon's own): opened with O_TRUNC, written, closed. */
static void save_by(struct inode *in, size_t len, unsigned seed, uint32_t uid, uint32_t pid)
{
	char *buf = malloc(len);

	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(i * 31 + seed);
	corefix_open_w(fs, in, false);
	pthread_rwlock_wrlock(&in->lock);
	version_modify_by(fs, in, uid, pid);	/* the caller of the changes */
	pthread_rwlock_unlock(&in->lock);
	corefix_truncate_w(fs, in, FS_CHANGE_OPEN_TRUNC);
	corefix_write_w(fs, in, buf, len, 0);
	ck_assert_int_eq(corefix_close_w(fs, in), 0);
	free(buf);
}

static struct vrec newest(uint64_t ino, uint32_t n)
{
	struct vrec v;
	uint32_t got;

	ck_assert_int_eq(version_get(fs, ino, 0, &v, &got), 0);
	ck_assert_uint_eq(got, n);
	return v;
}

/* The sources the lineage record ('Z') of version inode VINO names, as
 * kind and inode into KIND and INO (at most MAX); how many, or -ENOENT
 * if it has none. */
static int sources_of(uint64_t vino, char *kind, uint64_t *ino, int max)
{
	uint8_t k[8], *v;
	size_t len, off;
	void *val;
	int n = 0;

	key_put_u64(k, vino);
	if (meta_rec_get(fs->meta, META_REC_LINEAGE, k, 8, &val, &len) == -ENOENT)
		return -ENOENT;
	v = val;
	ck_assert_uint_ge(len, 5);
	ck_assert_uint_eq(v[0], 1);
	off = 5 + key_get_u32(v + 1);		/* past the header */
	while (off < len) {
		ck_assert_uint_le(off + 17 + 4, len);
		ck_assert_int_lt(n, max);
		kind[n] = (char)v[off];
		ino[n++] = key_get_u64(v + off + 1);
		off += 17 + 4 + key_get_u32(v + off + 17);
	}
	ck_assert_uint_eq(off, len);
	free(val);
	return n;
}

START_TEST(a_save_records_the_version_its_job_read)
{
	uint32_t pid = (uint32_t)getpid(), uid = (uint32_t)getuid();
	struct inode *b = corefix_mknod(fs, ck->ino, "b.pt", S_IFREG | 0644);
	struct vrec a1, a2, b1;
	uint64_t ino[8];
	char kind[8];
	int n;

	save_by(a, 100000, 1, 0, 0);
	a1 = newest(a->ino, 1);
	ck_assert_int_eq(sources_of(a1.vino, kind, ino, 8), -ENOENT);	/* no job */

	/* the job opens a.pt by its name: it reads version 1 */
	fs_hook_opened(fs, NULL, a, O_RDONLY);		/* the daemon's open: no job */
	lineage_read(fs, pid, uid, a, O_RDONLY);
	save_by(a, 100000, 2, 0, 0);			/* a.pt moves on */
	a2 = newest(a->ino, 2);
	ck_assert_int_eq(sources_of(a2.vino, kind, ino, 8), -ENOENT);

	save_by(b, 50000, 3, uid, pid);			/* the job saves b.pt */
	b1 = newest(b->ino, 1);
	ck_assert_uint_eq(b1.pid, pid);
	n = sources_of(b1.vino, kind, ino, 8);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(kind[0], 'v');
	ck_assert_uint_eq(ino[0], a1.vino);		/* the version read, not the newest */
	inode_put(fs, b);
}
END_TEST

/* A job that read nothing, or opened only for writing, leaves no
 * lineage; once it reads version 2, its next save names that one. */
START_TEST(a_job_that_read_nothing_records_nothing)
{
	uint32_t pid = (uint32_t)getpid(), uid = (uint32_t)getuid();
	struct inode *b = corefix_mknod(fs, ck->ino, "b.pt", S_IFREG | 0644);
	struct vrec a2, b1, b2;
	uint64_t ino[8];
	char kind[8];

	save_by(a, 1000, 1, 0, 0);
	save_by(a, 1000, 2, 0, 0);
	a2 = newest(a->ino, 2);
	save_by(b, 1000, 3, uid, pid);
	b1 = newest(b->ino, 1);
	ck_assert_int_le(sources_of(b1.vino, kind, ino, 8), 0);
	lineage_read(fs, pid, uid, a, O_WRONLY);	/* a writer reads nothing */
	save_by(b, 1000, 4, uid, pid);
	b2 = newest(b->ino, 2);
	ck_assert_int_le(sources_of(b2.vino, kind, ino, 8), 0);
	lineage_read(fs, pid, uid, a, O_RDONLY);
	save_by(b, 1000, 5, uid, pid);
	b2 = newest(b->ino, 3);
	ck_assert_int_eq(sources_of(b2.vino, kind, ino, 8), 1);
	ck_assert_int_eq(kind[0], 'v');
	ck_assert_uint_eq(ino[0], a2.vino);
	inode_put(fs, b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lineage");
	TCase *tc = tcase_create("lineage");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, a_save_records_the_version_its_job_read);
	tcase_add_test(tc, a_job_that_read_nothing_records_nothing);
	suite_add_tcase(s, tc);
	return corefix_main(s);
}
