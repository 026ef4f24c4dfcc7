/* test_failpoint.c — unit tests of the fail points (tier/failpoint.h):
 * parsing a spec, which hit fails, with which errno, re-arming. */
#include "tier/failpoint.h"
#include "tier/log.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef AIFS_FAILPOINTS
START_TEST(failpoint_nth_hit_fails_once_with_its_errno)
{
	ck_assert_int_eq(failpoint_arm("meta_commit:3"), 0);
	ck_assert_int_eq(failpoint("meta_commit", EIO), 0);
	ck_assert_int_eq(failpoint("tier_append", ENOSPC), 0);	/* counted apart */
	ck_assert_int_eq(failpoint("meta_commit", EIO), 0);
	ck_assert_int_eq(failpoint("meta_commit", EIO), -EIO);
	ck_assert_int_eq(failpoint("meta_commit", EIO), 0);
	ck_assert_int_eq(failpoint_arm(""), 0);
}
END_TEST

START_TEST(failpoint_plus_and_errno_override)
{
	ck_assert_int_eq(failpoint_arm("tier_append:2+=EIO,tier_fsync:1"), 0);
	ck_assert_int_eq(failpoint("tier_append", ENOSPC), 0);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(failpoint("tier_append", ENOSPC), -EIO);
	ck_assert_int_eq(failpoint("tier_fsync", EIO), -EIO);
	ck_assert_int_eq(failpoint("tier_fsync", EIO), 0);
	/* re-arming starts the counts anew */
	ck_assert_int_eq(failpoint_arm("tier_append:1"), 0);
	ck_assert_int_eq(failpoint("tier_append", ENOSPC), -ENOSPC);
	ck_assert_int_eq(failpoint("tier_fsync", EIO), 0);	/* no longer armed */
	ck_assert_int_eq(failpoint_arm(""), 0);
	ck_assert_int_eq(failpoint("tier_append", ENOSPC), 0);
}
END_TEST

START_TEST(failpoint_kill_kills_at_that_hit)
{
	int st = 0;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (failpoint_arm("journal_seal:2=KILL") < 0 || failpoint("journal_seal", EIO) != 0)
			_exit(2);
		failpoint("journal_seal", EIO);
		_exit(3);	/* not reached: the second hit kills */
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		      "expected the child killed by SIGKILL, saw status %#x", st);
}
END_TEST

START_TEST(failpoint_bad_specs_are_refused_and_keep_the_arming)
{
	static const char *const bad[] = {
		"meta_commit", "meta_commit:", "meta_commit:0", "meta_commit:x", ":3",
		"meta_commit:3-", "meta_commit:3=EWHAT", "meta_commit:3+x",
		"a_name_that_is_much_too_long_to_be_one:1",
	};

	ck_assert_int_eq(failpoint_arm("meta_commit:1"), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(failpoint_arm(bad[i]) == -EINVAL, "spec '%s' accepted", bad[i]);
	ck_assert_int_eq(failpoint("meta_commit", EIO), -EIO);	/* still armed */
	ck_assert_int_eq(failpoint_arm(""), 0);
}
END_TEST
#else
START_TEST(failpoint_absent_build_refuses_arming)
{
	ck_assert_int_eq(failpoint_arm("meta_commit:1"), -ENOTSUP);
	ck_assert_int_eq(failpoint("meta_commit", EIO), 0);
}
END_TEST
#endif

int main(void)
{
	Suite *s = suite_create("failpoint");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	log_init("test_failpoint", 1, LOG_ERR);
#ifdef AIFS_FAILPOINTS
	tcase_add_test(tc, failpoint_nth_hit_fails_once_with_its_errno);
	tcase_add_test(tc, failpoint_plus_and_errno_override);
	tcase_add_test(tc, failpoint_bad_specs_are_refused_and_keep_the_arming);
	tcase_add_test(tc, failpoint_kill_kills_at_that_hit);
#else
	tcase_add_test(tc, failpoint_absent_build_refuses_arming);
#endif
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
