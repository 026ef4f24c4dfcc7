/* test_kinds.c — the registry of record kinds (meta/records.h): every key
 * byte has one owner, and the constants the modules use are the table's.
 */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "meta/records.h"

START_TEST(no_two_owners_share_a_byte)
{
	for (size_t i = 0; i < meta_rec_nkinds; i++)
		for (size_t j = i + 1; j < meta_rec_nkinds; j++)
			ck_assert_msg(meta_rec_kinds[i].byte != meta_rec_kinds[j].byte,
				      "kind '%c' is owned by both %s (%s) and %s (%s)",
				      meta_rec_kinds[i].byte, meta_rec_kinds[i].name,
				      meta_rec_kinds[i].owner, meta_rec_kinds[j].name,
				      meta_rec_kinds[j].owner);
}
END_TEST

START_TEST(every_kind_is_described)
{
	for (size_t i = 0; i < meta_rec_nkinds; i++) {
		const struct meta_rec_kind *k = &meta_rec_kinds[i];

		ck_assert_msg(isgraph(k->byte), "kind %s has the unprintable byte 0x%02x",
			      k->name, k->byte);
		ck_assert_msg(k->owner[0] && k->key[0] && k->value[0],
			      "kind '%c' (%s) lacks its owner, key or value", k->byte, k->name);
		ck_assert_ptr_eq(meta_rec_kind_of(k->byte), k);
	}
}
END_TEST

START_TEST(constants_are_the_table_bytes)
{
	/* The bytes stores on disk hold: a change here is a format change. */
	static const struct { int constant; char byte; } fixed[] = {
		{ META_REC_SUPER, 'S' }, { META_REC_INODE, 'I' }, { META_REC_DENTRY, 'D' },
		{ META_REC_EXTENT, 'E' }, { META_REC_VERSION, 'V' },
		{ META_REC_JOURNAL_LEAF, 'J' }, { META_REC_JOURNAL_CHECKPOINT, 'K' },
		{ META_REC_SNAPSHOT, 'P' }, { META_REC_LINEAGE, 'Z' }, { META_REC_PREALLOC, 'r' },
	};

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		ck_assert_int_eq(fixed[i].constant, fixed[i].byte);
	ck_assert_ptr_null(meta_rec_kind_of(0));
	ck_assert_ptr_null(meta_rec_kind_of('~'));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kinds");
	TCase *tc = tcase_create("registry");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, no_two_owners_share_a_byte);
	tcase_add_test(tc, every_kind_is_described);
	tcase_add_test(tc, constants_are_the_table_bytes);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
