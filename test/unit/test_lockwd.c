/* test_lockwd.c — unit tests of the lock watchdog (fs/lockwd.h): a wait
 * for an aifs lock longer than the warning time is reported once, naming
 * the lock, its holders, where they took it and what they wait for. */
#include "fs/fs.h"

#include <check.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>


static struct inode in_a = { .ino = 42 }, in_b = { .ino = 43 };
static pthread_mutex_t mx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static volatile int holder_tid, stage;

static void msleep(int ms)
{
	usleep((useconds_t)ms * 1000);
}

static void wait_stage(int s)
{
	while (__atomic_load_n(&stage, __ATOMIC_ACQUIRE) < s)
		msleep(1);
}

static void set_stage(int s)
{
	__atomic_store_n(&stage, s, __ATOMIC_RELEASE);
}

static void setup(void)
{
	pthread_rwlock_init(&in_a.lock, NULL);
	pthread_rwlock_init(&in_b.lock, NULL);
	lk_configure(1.0, 0);
	set_stage(0);
}

/* Holds inode 42 for writing for 2.5 s. */
static void *hold_write(void *arg)
{
	(void)arg;
	holder_tid = (int)syscall(SYS_gettid);
	lk_op("write");
	pthread_rwlock_wrlock(&in_a.lock);
	set_stage(1);
	msleep(2500);
	pthread_rwlock_unlock(&in_a.lock);
	lk_op(NULL);
	return NULL;
}

START_TEST(short_waits_are_not_reported)
{
	uint64_t before = lk_warnings(NULL, 0);

	setup();
	for (int i = 0; i < 100000; i++) {
		pthread_rwlock_wrlock(&in_a.lock);
		pthread_rwlock_unlock(&in_a.lock);
		pthread_rwlock_rdlock(&in_a.lock);
		pthread_rwlock_rdlock(&in_b.lock);
		pthread_rwlock_unlock(&in_b.lock);
		pthread_rwlock_unlock(&in_a.lock);
		pthread_mutex_lock(&mx);
		pthread_mutex_unlock(&mx);
	}
	ck_assert_uint_eq(lk_warnings(NULL, 0), before);
}
END_TEST

START_TEST(long_wait_names_the_inode_and_its_writer)
{
	char text[1024], want[128];
	pthread_t t;
	uint64_t before = lk_warnings(NULL, 0);

	setup();
	pthread_create(&t, NULL, hold_write, NULL);
	wait_stage(1);
	pthread_rwlock_rdlock(&in_a.lock);	/* waits about 2.5 s */
	pthread_rwlock_unlock(&in_a.lock);
	pthread_join(t, NULL);
	ck_assert_uint_eq(lk_warnings(text, sizeof(text)), before + 1);
	ck_assert_msg(strstr(text, "for the lock of inode 42 (read)"), "report: %s", text);
	snprintf(want, sizeof(want), "thread %d (write, taken at ", holder_tid);
	ck_assert_msg(strstr(text, want), "report: %s (expected %s)", text, want);
	ck_assert_msg(strstr(text, "test_lockwd.c:"), "report: %s", text);
	ck_assert_msg(strstr(text, "serving write"), "report: %s", text);
}
END_TEST

/* Holds the mutex, then waits for inode 43 (held by the test). */
static void *hold_mutex_wait_inode(void *arg)
{
	(void)arg;
	holder_tid = (int)syscall(SYS_gettid);
	pthread_mutex_lock(&mx);
	set_stage(2);
	pthread_rwlock_wrlock(&in_b.lock);
	pthread_rwlock_unlock(&in_b.lock);
	pthread_mutex_unlock(&mx);
	return NULL;
}

static void *lock_mutex(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mx);	/* waits for hold_mutex_wait_inode */
	pthread_mutex_unlock(&mx);
	set_stage(3);
	return NULL;
}

START_TEST(report_shows_what_the_holder_waits_for)
{
	char text[1024];
	pthread_t h, w;
	uint64_t before;

	setup();
	pthread_rwlock_rdlock(&in_b.lock);
	before = lk_warnings(NULL, 0);
	pthread_create(&h, NULL, hold_mutex_wait_inode, NULL);
	wait_stage(2);
	pthread_create(&w, NULL, lock_mutex, NULL);
	/* w reports mutex mx held by h, which waits for inode 43; h reports
	 * inode 43 held by this thread for reading */
	while (lk_warnings(NULL, 0) < before + 2)
		msleep(10);
	pthread_rwlock_unlock(&in_b.lock);
	pthread_join(h, NULL);
	pthread_join(w, NULL);
	ck_assert_int_eq(stage, 3);
	lk_warnings(text, sizeof(text));
	ck_assert_msg(strstr(text, "itself waiting for the lock of inode 43") ||
		      strstr(text, "for the lock of inode 43 (write); held by thread"),
		      "report: %s", text);
}
END_TEST

static void *signal_later(void *arg)
{
	(void)arg;
	msleep(1500);
	pthread_mutex_lock(&mx);
	set_stage(4);
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mx);
	return NULL;
}

START_TEST(condition_waits_release_the_mutex)
{
	pthread_t t;
	uint64_t before = lk_warnings(NULL, 0);

	setup();
	pthread_create(&t, NULL, signal_later, NULL);
	pthread_mutex_lock(&mx);
	while (stage < 4)
		pthread_cond_wait(&cv, &mx);
	pthread_mutex_unlock(&mx);
	pthread_join(t, NULL);
	ck_assert_uint_eq(lk_warnings(NULL, 0), before);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lockwd");
	TCase *tc = tcase_create("lockwd");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, short_waits_are_not_reported);
	tcase_add_test(tc, long_wait_names_the_inode_and_its_writer);
	tcase_add_test(tc, report_shows_what_the_holder_waits_for);
	tcase_add_test(tc, condition_waits_release_the_mutex);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
