/* test_jretain.c — retention of journal files (jretain.c) against the
 * core, linked without libfuse on a fresh store (a real RocksDB, the local
 * tier), with the journal's may_change hook registered as at mount: a file
 * still being written, or whose retention runs from its seal on the
 * store's clock, or under a legal hold, may not change, and the core's
 * checks of a rename ask it so; a release lets it go in governance mode
 * only; retention is inherited from directories, compliance too.  The
 * controls that set holds and retention are tested through the mount
 * (test_journal.py).
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/fs.h"
#include "fs/hooks.h"
#include "fs/inode.h"
#include "fs/journal.h"
#include "fs/journal_priv.h"
#include "fs/path.h"
#include "meta/keys.h"
#include "test/unit/corefix.h"

#define DAY	(86400LL * 1000000000LL)

/* The journal's hook of whether a file may change, as jhooks.c registers it. */
static const struct fs_feature_ops retention_feature = {
	.name = "journal",
	.may_change = journal_may_change,
};

static struct fs *fs;
static struct journal *j;
static struct inode *logs, *f;	/* a journal directory, a file in it */

static void commit(struct meta_batch *b)
{
	ck_assert_int_eq(fs_commit(fs, b, false), 0);
	meta_batch_free(b);
}

/* A new file NAME in journal directory DIR, as journal_node_commit makes
 * it: its retention from DIR, its path, not sealed. */
static struct inode *jfile_new(struct inode *dir, const char *name)
{
	struct inode *in = corefix_mknod(fs, dir->ino, name, S_IFREG | 0644);
	struct meta_batch *b = meta_batch_new();
	bool compliance;

	ck_assert(journal_file(in));
	journal_retention_inherit(fs, dir->ino, in->ino, &compliance, b);
	journal_path_put(b, in->ino, name, -1);
	commit(b);
	return in;
}

/* Seal IN AGO ns ago on the store's clock. */
static void seal(struct inode *in, int64_t ago)
{
	struct meta_batch *b = meta_batch_new();

	pthread_rwlock_wrlock(&in->lock);
	in->attr.flags |= META_IF_SEALED;
	inode_save(b, in);
	pthread_rwlock_unlock(&in->lock);
	journal_path_put(b, in->ino, "sealed", journal_mono_now(j) - ago);
	commit(b);
}

static void setup(void)
{
	struct meta_batch *b = meta_batch_new();

	fs = corefix_open(&retention_feature);
	j = calloc(1, sizeof(*j));
	ck_assert_ptr_nonnull(j);
	j->mono_base = 30 * DAY;	/* the store has been mounted 30 days */
	j->boot0 = journal_boottime();
	fs->journal = j;
	fs->opt.audit_retention_days = 1;
	logs = corefix_mknod(fs, META_ROOT_INO, "logs", S_IFDIR | 0755);
	pthread_rwlock_wrlock(&logs->lock);
	logs->attr.policy = META_AREA_JOURNAL;
	inode_save(b, logs);
	pthread_rwlock_unlock(&logs->lock);
	commit(b);
	f = jfile_new(logs, "a");
}

static void teardown(void)
{
	inode_put(fs, f);
	inode_put(fs, logs);
	sb_free(&j->rec);	/* the record builder (journal_stop's part) */
	free(j);
	corefix_close(fs);
	fs = NULL;
}

START_TEST(a_file_being_written_may_not_change)
{
	struct inode *plain = corefix_mknod(fs, META_ROOT_INO, "plain", S_IFREG | 0644);
	struct fs_rename r = { .parent = logs->ino, .newparent = logs->ino, .name = "a",
			       .newname = "b", .p = logs, .np = logs, .src = f };

	ck_assert_int_eq(journal_may_change(fs, f), -EPERM);
	ck_assert_int_eq(fs_hook_may_change(fs, f), -EPERM);	/* the core asks the hook */
	ck_assert_int_eq(fs_rename_allowed(fs, &r), -EPERM);
	ck_assert_int_eq(journal_may_change(fs, plain), 0);	/* not a journal file */
	ck_assert_int_eq(journal_may_change(fs, logs), 0);
	inode_put(fs, plain);
}
END_TEST

START_TEST(retention_runs_from_the_seal)
{
	struct fs_rename r = { .parent = logs->ino, .newparent = logs->ino, .name = "a",
			       .newname = "b", .p = logs, .np = logs, .src = f };
	const char *why = NULL;
	int64_t age;

	ck_assert_int_eq(journal_retention_of(fs, f->ino), DAY);	/* the mount's */
	seal(f, DAY / 2);
	ck_assert_int_eq(journal_retention_allows(fs, f, &why, &age), -EPERM);
	ck_assert_int_ge(age, DAY / 2);
	ck_assert_int_lt(age, DAY);
	ck_assert_int_eq(fs_rename_allowed(fs, &r), -EPERM);
	seal(f, 2 * DAY);
	ck_assert_int_eq(journal_retention_allows(fs, f, &why, &age), 0);
	ck_assert_str_eq(why, "retention ended");
	ck_assert_int_eq(fs_rename_allowed(fs, &r), 0);
}
END_TEST

START_TEST(a_legal_hold_keeps_a_file_past_its_retention)
{
	struct meta_batch *b = meta_batch_new();
	uint8_t k[8 + 4];

	seal(f, 2 * DAY);
	ck_assert_int_eq(journal_may_change(fs, f), 0);
	key_put_u64(k, f->ino);
	memcpy(k + 8, "case", 4);
	meta_rec_put(b, REC_Y, k, sizeof(k), "", 0);
	commit(b);
	ck_assert_int_eq(journal_may_change(fs, f), -EPERM);
	b = meta_batch_new();
	meta_rec_del(b, REC_Y, k, sizeof(k));
	commit(b);
	ck_assert_int_eq(journal_may_change(fs, f), 0);
}
END_TEST

/* Release IN as root does in governance mode. */
static void release(struct inode *in)
{
	struct meta_batch *b = meta_batch_new();
	uint8_t k[8];

	key_put_u64(k, in->ino);
	meta_rec_put(b, REC_R, k, 8, "audit", 5);
	commit(b);
}

START_TEST(a_release_lets_a_file_go_in_governance_mode_only)
{
	struct meta_batch *b = meta_batch_new();
	struct inode *g;
	const char *why = NULL;
	int64_t age;

	seal(f, DAY / 2);
	release(f);
	ck_assert_int_eq(journal_retention_allows(fs, f, &why, &age), 0);
	ck_assert_str_eq(why, "released");
	fs->opt.audit_compliance = 1;			/* a compliance mount */
	ck_assert_int_eq(journal_may_change(fs, f), -EPERM);
	fs->opt.audit_compliance = 0;

	journal_retention_put(b, logs->ino, DAY, true);	/* set in compliance mode */
	commit(b);
	g = jfile_new(logs, "g");
	seal(g, DAY / 2);
	release(g);
	ck_assert_int_eq(journal_may_change(fs, g), -EPERM);	/* kept so on this mount */
	inode_put(fs, g);
}
END_TEST

START_TEST(retention_and_its_mode_are_inherited)
{
	struct meta_batch *b = meta_batch_new();
	struct inode *sub, *g;
	bool compliance;

	journal_retention_put(b, logs->ino, 3 * DAY, false);
	commit(b);
	ck_assert_int_eq(journal_retention_of(fs, f->ino), DAY);	/* kept from its creation */
	g = jfile_new(logs, "g");
	ck_assert_int_eq(journal_retention_get(fs, g->ino, &compliance), 3 * DAY);
	ck_assert(!compliance);

	sub = corefix_mknod(fs, logs->ino, "sub", S_IFDIR | 0755);
	b = meta_batch_new();
	journal_dir_inherit(fs, logs->ino, sub->ino, b);	/* no way around it */
	commit(b);
	ck_assert_int_eq(journal_retention_of(fs, sub->ino), 3 * DAY);

	fs->opt.audit_compliance = 1;
	b = meta_batch_new();
	ck_assert_int_eq(journal_retention_inherit(fs, sub->ino, 999, &compliance, b), 3 * DAY);
	commit(b);
	fs->opt.audit_compliance = 0;
	ck_assert(compliance);
	journal_retention_get(fs, 999, &compliance);		/* stays on later mounts */
	ck_assert(compliance);
	inode_put(fs, sub);
	inode_put(fs, g);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("jretain");
	TCase *tc = tcase_create("jretain");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, a_file_being_written_may_not_change);
	tcase_add_test(tc, retention_runs_from_the_seal);
	tcase_add_test(tc, a_legal_hold_keeps_a_file_past_its_retention);
	tcase_add_test(tc, a_release_lets_a_file_go_in_governance_mode_only);
	tcase_add_test(tc, retention_and_its_mode_are_inherited);
	suite_add_tcase(s, tc);
	return corefix_main(s);
}
