/* test_witness.c — unit tests of the audit witness (fs/witness.h): each
 * checkpoint posted reaches the command's stdin once, as one JSON line, in
 * order of size; while the command waits, later checkpoints queue and past
 * WITNESS_QUEUE the oldest are dropped; a command that fails or never reads
 * its stdin holds nothing up. */
#include "fs/witness.h"
#include "tier/log.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64], out[128], gate[128];

static void setup(void)
{
	strcpy(dir, "/tmp/aifs-witness-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(gate, sizeof(gate), "%s/gate", dir);
}

static void teardown(void)
{
	unlink(out);
	unlink(gate);
	rmdir(dir);
}

/* Post a checkpoint note of SIZE records (the witness hands it on as it is). */
static void post(struct witness *w, uint64_t size)
{
	char note[128];

	snprintf(note, sizeof(note), "aifs/test\n%llu\nUk9PVA==\n\n\xe2\x80\x94 test c2ln\n",
		 (unsigned long long)size);
	witness_post(w, size, note);
}

/* The sizes of the checkpoints the command wrote to OUT, in order, into
 * SIZES (room for MAX); returns how many there are. */
static size_t delivered(uint64_t *sizes, size_t max)
{
	FILE *f = fopen(out, "re");
	char line[4096];
	size_t n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		json_t *j = json_loads(line, 0, NULL);
		const char *note = json_string_value(json_object_get(j, "checkpoint"));

		ck_assert_msg(note && strchr(note, '\n'), "not a witness line: %s", line);
		if (n < max)
			sizes[n] = strtoull(strchr(note, '\n') + 1, NULL, 10);
		n++;
		json_decref(j);
	}
	fclose(f);
	return n;
}

/* Wait until the checkpoint of SIZE records has been delivered (the suite's
 * timeout bounds it). */
static void wait_delivered(uint64_t size)
{
	uint64_t sizes[256];
	size_t n;

	while ((n = delivered(sizes, 256)) == 0 || sizes[n < 256 ? n - 1 : 255] < size)
		usleep(10000);
}

START_TEST(each_checkpoint_reaches_the_command_once_in_order)
{
	struct witness *w;
	uint64_t sizes[8];
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "cat >> %s", out);
	ck_assert_int_eq(witness_start(cmd, &w), 0);
	for (uint64_t s = 10; s <= 50; s += 10)
		post(w, s);
	post(w, 30);		/* no newer than one posted: not posted again */
	wait_delivered(50);
	witness_stop(w);
	ck_assert_uint_eq(delivered(sizes, 8), 5);
	for (int i = 0; i < 5; i++)
		ck_assert_uint_eq(sizes[i], 10 * (i + 1));
}
END_TEST

START_TEST(a_waiting_command_queues_checkpoints_and_drops_the_oldest)
{
	struct witness *w;
	uint64_t sizes[256];
	char cmd[512];
	size_t n;
	FILE *g;

	snprintf(cmd, sizeof(cmd), "while [ ! -e %s ]; do sleep 0.01; done; cat >> %s", gate, out);
	ck_assert_int_eq(witness_start(cmd, &w), 0);
	for (uint64_t s = 1; s <= 100; s++)
		post(w, s);
	ck_assert_uint_eq(delivered(sizes, 256), 0);
	g = fopen(gate, "we");
	ck_assert_ptr_nonnull(g);
	fclose(g);
	wait_delivered(100);
	witness_stop(w);
	n = delivered(sizes, 256);
	/* the queue's worth, and the first if the thread took it before the rest came */
	ck_assert_msg(n == WITNESS_QUEUE || n == WITNESS_QUEUE + 1, "delivered %zu", n);
	for (size_t i = 1; i < n; i++)
		ck_assert_uint_lt(sizes[i - 1], sizes[i]);
	ck_assert_uint_eq(sizes[n - 1], 100);
	ck_assert_uint_eq(sizes[n - 2], 99);
}
END_TEST

START_TEST(a_failing_or_deaf_command_holds_nothing_up)
{
	const char *cmds[] = { "exit 3", "true", "kill -9 $$" };
	struct witness *w;

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		ck_assert_int_eq(witness_start(cmds[i], &w), 0);
		for (uint64_t s = 1; s <= 3; s++)
			post(w, s);
		witness_stop(w);	/* returns: each run ended, however it ended */
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("witness");
	TCase *tc = tcase_create("witness");
	SRunner *sr;
	int failed;

	log_init("test_witness", 1, LOG_WARNING);
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, each_checkpoint_reaches_the_command_once_in_order);
	tcase_add_test(tc, a_waiting_command_queues_checkpoints_and_drops_the_oldest);
	tcase_add_test(tc, a_failing_or_deaf_command_holds_nothing_up);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
