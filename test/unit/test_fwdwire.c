/* test_fwdwire.c — unit tests of the encoding of forwarded requests and
 * their answers (fs/fwdwire.h): a request decodes to what was encoded, a
 * field a reader does not know is skipped, a damaged or truncated request
 * is refused; paths the writer would resolve outside the mount are
 * refused. */
#include "fs/fwdwire.h"
#include "meta/keys.h"
#include "tier/log.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct fwd_req sample(void)
{
	static const uint8_t lens[8] = { 0, 0, 4, 0, 0, 0, 0, 9 };
	struct fwd_req r = {
		.op = FWD_APPEND, .host = "gpu7", .id = 42, .expires = 1234567890123ll,
		.uid = 1000, .gid = 100, .umask = 022, .pid = 777, .mode = 0640, .flags = FWD_FINAL,
		.ngroups = 2, .groups = { 100, 27 }, .size = 1033, .sid = 0xabcdef0123ull,
		.path = "audit/serve.log", .obj = "00ff.12", .job = "exp-7",
		.cmdline = "python serve.py", .comm = "python", .value = lens, .vlen = sizeof(lens),
	};

	memcpy(r.writer, "0123456789abcdef0123456789abcdef", FWD_ID_LEN + 1);
	return r;
}

START_TEST(a_request_decodes_to_what_was_encoded)
{
	struct fwd_req r = sample(), d;
	void *buf;
	size_t len;

	ck_assert_int_eq(fwd_req_encode(&r, &buf, &len), 0);
	ck_assert_int_eq(fwd_req_decode(buf, len, &d), 0);
	ck_assert_int_eq(d.op, FWD_APPEND);
	ck_assert_str_eq(d.writer, r.writer);
	ck_assert_str_eq(d.host, "gpu7");
	ck_assert_uint_eq(d.id, 42);
	ck_assert_int_eq(d.expires, 1234567890123ll);
	ck_assert_uint_eq(d.uid, 1000);
	ck_assert_uint_eq(d.gid, 100);
	ck_assert_uint_eq(d.umask, 022);
	ck_assert_uint_eq(d.pid, 777);
	ck_assert_uint_eq(d.mode, 0640);
	ck_assert_uint_eq(d.flags, FWD_FINAL);
	ck_assert_uint_eq(d.ngroups, 2);
	ck_assert_uint_eq(d.groups[1], 27);
	ck_assert_uint_eq(d.size, 1033);
	ck_assert_uint_eq(d.sid, 0xabcdef0123ull);
	ck_assert_str_eq(d.path, "audit/serve.log");
	ck_assert_ptr_null(d.path2);
	ck_assert_str_eq(d.obj, "00ff.12");
	ck_assert_str_eq(d.job, "exp-7");
	ck_assert_str_eq(d.cmdline, "python serve.py");
	ck_assert_str_eq(d.comm, "python");
	ck_assert_uint_eq(d.vlen, 8);
	ck_assert_int_eq(memcmp(d.value, r.value, 8), 0);
	free(buf);
}
END_TEST

START_TEST(an_unknown_field_is_skipped_and_damage_refused)
{
	struct fwd_req r = sample(), d;
	uint8_t *b, *big;
	void *buf;
	size_t len;

	ck_assert_int_eq(fwd_req_encode(&r, &buf, &len), 0);
	b = buf;
	/* a newer follower's field (tag 200) at the end: skipped */
	big = malloc(len + 8);
	memcpy(big, b, len);
	big[len] = 200;
	key_put_u32(big + len + 1, 3);
	memcpy(big + len + 5, "new", 3);
	key_put_u32(big + 5, (uint32_t)(len + 8));
	ck_assert_int_eq(fwd_req_decode(big, len + 8, &d), 0);
	ck_assert_str_eq(d.path, "audit/serve.log");
	/* truncated anywhere, or with bytes after it: refused */
	for (size_t cut = 0; cut < len; cut++)
		ck_assert_int_eq(fwd_req_decode(b, cut, &d), -EINVAL);
	ck_assert_int_eq(fwd_req_decode(big, len + 1, &d), -EINVAL);
	/* a wrong magic or version */
	b[0] = 'X';
	ck_assert_int_eq(fwd_req_decode(b, len, &d), -EINVAL);
	b[0] = 'A';
	b[4] = FWD_VERSION + 1;
	ck_assert_int_eq(fwd_req_decode(b, len, &d), -EINVAL);
	b[4] = FWD_VERSION;
	/* a string field without its NUL */
	for (size_t pos = 9; pos + 5 <= len; pos += 5 + key_get_u32(b + pos + 1)) {
		if (b[pos] == 15 /* T_PATH */) {
			b[pos + 5 + key_get_u32(b + pos + 1) - 1] = 'x';
			break;
		}
	}
	ck_assert_int_eq(fwd_req_decode(b, len, &d), -EINVAL);
	free(big);
	free(buf);
}
END_TEST

START_TEST(an_answer_decodes_to_what_was_encoded)
{
	struct fwd_answer a = { .err = EACCES, .seq = 987654321 }, d;
	uint8_t out[FWD_ANSWER_LEN];

	memcpy(a.writer, "fedcba9876543210fedcba9876543210", FWD_ID_LEN + 1);
	fwd_answer_encode(&a, out);
	ck_assert_int_eq(fwd_answer_decode(out, sizeof(out), &d), 0);
	ck_assert_int_eq(d.err, EACCES);
	ck_assert_uint_eq(d.seq, 987654321);
	ck_assert_str_eq(d.writer, a.writer);
	ck_assert_int_eq(fwd_answer_decode(out, sizeof(out) - 1, &d), -EINVAL);
	out[0] = 'Z';
	ck_assert_int_eq(fwd_answer_decode(out, sizeof(out), &d), -EINVAL);
}
END_TEST

START_TEST(only_paths_beneath_the_mount_are_accepted)
{
	ck_assert(fwd_path_ok("checkpoints/run/model.pt"));
	ck_assert(fwd_path_ok("checkpoints"));
	ck_assert(fwd_path_ok("audit/.hidden/..x"));
	ck_assert(!fwd_path_ok(""));
	ck_assert(!fwd_path_ok("/etc/passwd"));
	ck_assert(!fwd_path_ok("checkpoints/../../etc"));
	ck_assert(!fwd_path_ok(".."));
	ck_assert(!fwd_path_ok("./checkpoints"));
	ck_assert(!fwd_path_ok("checkpoints//x"));
	ck_assert(!fwd_path_ok("checkpoints/"));
	ck_assert(!fwd_path_ok("checkpoints/."));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fwdwire");
	TCase *tc = tcase_create("fwdwire");
	SRunner *sr;
	int failed;

	log_init("test_fwdwire", 1, LOG_WARNING);
	tcase_add_test(tc, a_request_decodes_to_what_was_encoded);
	tcase_add_test(tc, an_unknown_field_is_skipped_and_damage_refused);
	tcase_add_test(tc, an_answer_decodes_to_what_was_encoded);
	tcase_add_test(tc, only_paths_beneath_the_mount_are_accepted);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
