/* test_auditrec.c — the reader of audit records (tools/auditrec.c): its
 * fast reader of the daemon's own layout must give exactly what jansson
 * gives, on random records of that layout and on records of any other
 * layout (which it hands to jansson).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/auditrec.h"

/* A string value as fs/sb.c's sb_str writes it. */
static size_t put_str(char *o, const char *s)
{
	size_t n = 0;

	o[n++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			o[n++] = '\\';
			o[n++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			n += (size_t)sprintf(o + n, "\\u%04x", c);
		} else {
			o[n++] = (char)c;
		}
	}
	o[n++] = '"';
	return n;
}

/* A random name of up to MAX bytes: letters mostly, and quotes,
 * backslashes, control bytes, UTF-8 and bytes that are not UTF-8. */
static void rand_name(char *s, size_t max)
{
	static const char *pieces[] = { "a", "Z", "/", " ", "\"", "\\", "\x01", "\x1f", "\x7f",
					"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x80",
					"\xff", "\xc3", "\"op\":\"write\"", "\\u0041", "}" };
	size_t n = 0, want = (size_t)rand() % max;

	while (n < want) {
		const char *p = pieces[rand() % (int)(sizeof(pieces) / sizeof(pieces[0]))];
		size_t k = strlen(p);

		if (n + k >= max)
			break;
		memcpy(s + n, p, k);
		n += k;
	}
	s[n] = 0;
}

static uint64_t rand_u64(void)
{
	switch (rand() % 4) {
	case 0:
		return 0;
	case 1:
		return (uint64_t)rand() % 10;
	case 2:
		return (uint64_t)rand() << 20 ^ (uint64_t)rand();
	default:
		return ((uint64_t)rand() << 33 ^ (uint64_t)rand() << 2) & INT64_MAX;
	}
}

/* A record of the daemon's layout (fs/jlog.c) into BUF; its length. */
static size_t make_record(char *buf)
{
	static const char *ops[] = { "create", "write", "seal", "delete", "hold", "lineage" };
	char name[600], comm[16], tag[100];
	size_t n = 0;

	n += (size_t)sprintf(buf + n, "{\"seq\":%llu,\"op\":\"%s\",\"time\":%lld,\"uid\":%u,\"pid\":%u,"
			     "\"comm\":", (unsigned long long)rand_u64(), ops[rand() % 6],
			     (long long)(rand() % 3 ? (int64_t)rand_u64() : -(int64_t)rand_u64()),
			     (unsigned)rand(), (unsigned)rand());
	rand_name(comm, sizeof(comm));
	n += put_str(buf + n, comm);
	n += (size_t)sprintf(buf + n, ",\"path\":");
	rand_name(name, sizeof(name));
	n += put_str(buf + n, name);
	n += (size_t)sprintf(buf + n, ",\"inode\":%llu,\"offset\":%llu,\"length\":%llu,\"sha256\":\"",
			     (unsigned long long)rand_u64(), (unsigned long long)rand_u64(),
			     (unsigned long long)rand_u64());
	if (rand() % 2)
		for (int i = 0; i < 64; i++)
			buf[n++] = "0123456789abcdef"[rand() % 16];
	buf[n++] = '"';
	if (rand() % 3 == 0) {
		rand_name(tag, sizeof(tag));
		n += (size_t)sprintf(buf + n, ",\"tag\":");
		n += put_str(buf + n, tag);
	}
	if (rand() % 3 == 0)
		n += (size_t)sprintf(buf + n, ",\"retention\":%lld", (long long)rand_u64());
	if (rand() % 3 == 0)
		n += (size_t)sprintf(buf + n, ",\"lock\":\"%s\"", rand() % 2 ? "compliance" : "governance");
	if (rand() % 3 == 0)
		n += (size_t)sprintf(buf + n, ",\"age\":%lld", (long long)(rand() % 2 ? 5 : -5));
	buf[n++] = '}';
	buf[n] = 0;
	return n;
}

static void same(const char *text, size_t len)
{
	static struct auditrec a, b;
	char ea[200] = "", eb[200] = "";
	int ra = auditrec_parse(&a, text, len, ea), rb = auditrec_parse_json(&b, text, len, eb);

	ck_assert_msg(ra == rb, "record %.*s: %d against jansson's %d (%s)", (int)len, text, ra, rb, eb);
	if (ra < 0)
		return;
	ck_assert_msg(a.seq == b.seq && a.ino == b.ino && a.off == b.off && a.len == b.len &&
		      a.uid == b.uid && a.pid == b.pid && a.time == b.time &&
		      a.has_retention == b.has_retention && a.retention == b.retention &&
		      a.has_age == b.has_age && a.age == b.age,
		      "record %.*s: a number differs from jansson's", (int)len, text);
	ck_assert_str_eq(a.op, b.op);
	ck_assert_str_eq(a.lock, b.lock);
	ck_assert_str_eq(a.sha256, b.sha256);
	ck_assert_str_eq(a.comm, b.comm);
	ck_assert_str_eq(a.tag, b.tag);
	ck_assert_str_eq(a.path, b.path);
}

START_TEST(random_records_of_the_daemons_layout_read_as_jansson_reads_them)
{
	static char buf[8192];

	srand(42);
	for (int i = 0; i < 20000; i++) {
		size_t n = make_record(buf);

		same(buf, n);
	}
}
END_TEST

START_TEST(names_come_back_as_the_bytes_written)
{
	static struct auditrec r;
	const char *rec = "{\"seq\":7,\"op\":\"write\",\"time\":-3,\"uid\":1000,\"pid\":42,\"comm\":\"py\","
			  "\"path\":\"/audit/a\\\"b\\\\c\\u0001\xff\xc3\xa9\",\"inode\":9,\"offset\":0,"
			  "\"length\":4,\"sha256\":\"\",\"retention\":60,\"age\":1}";

	ck_assert_int_eq(auditrec_parse(&r, rec, strlen(rec), NULL), 0);
	ck_assert_uint_eq(r.seq, 7);
	ck_assert_int_eq(r.time, -3);
	ck_assert_str_eq(r.path, "/audit/a\"b\\c\x01\xff\xc3\xa9");
	ck_assert(r.has_retention && r.retention == 60 && r.has_age && r.age == 1);
	ck_assert(r.lock[0] == 0 && r.tag[0] == 0);
}
END_TEST

START_TEST(other_layouts_read_as_jansson_reads_them)
{
	static const char *recs[] = {
		/* spaces, another key order, escapes the daemon does not write */
		"{ \"seq\": 1, \"op\": \"write\", \"path\": \"/x\", \"time\": 2 }",
		"{\"op\":\"seal\",\"seq\":3,\"path\":\"\\u00e9\\n\\/\"}",
		"{\"seq\":1,\"op\":\"write\",\"time\":0,\"uid\":0,\"pid\":0,\"comm\":\"\",\"path\":\"\\u0080\","
		"\"inode\":1,\"offset\":0,\"length\":0,\"sha256\":\"\"}",
		"{\"seq\":1,\"op\":\"write\",\"time\":0,\"uid\":0,\"pid\":0,\"comm\":\"\",\"path\":\"a\\n\\/b\","
		"\"inode\":1,\"offset\":0,\"length\":0,\"sha256\":\"\"}",
		"{\"seq\":1,\"op\":\"write\",\"time\":0,\"uid\":0,\"pid\":0,\"comm\":\"\",\"path\":\"\\u00E9\\u0041\","
		"\"inode\":1,\"offset\":0,\"length\":0,\"sha256\":\"\"}",
		/* not records: wrong types, out of range, duplicated, cut short, not JSON */
		"{\"seq\":-1,\"op\":\"write\"}",
		"{\"seq\":18446744073709551615,\"op\":\"write\"}",
		"{\"seq\":01,\"op\":\"write\"}",
		"{\"seq\":\"1\",\"op\":\"write\"}",
		"{\"seq\":1,\"seq\":2}",
		"{\"seq\":1,\"op\":\"write\",\"time\":0,\"uid\":0,\"pid\":0,\"comm\":\"\",\"path\":\"/a",
		"{\"seq\":1,\"op\":\"write\",\"time\":0,\"uid\":0,\"pid\":0,\"comm\":\"\",\"path\":\"\x01\","
		"\"inode\":1,\"offset\":0,\"length\":0,\"sha256\":\"\"}",
		"{\"seq\":1,\"op\":\"write\",\"time\":0,\"uid\":0,\"pid\":0,\"comm\":\"\",\"path\":\"/a\","
		"\"inode\":1,\"offset\":0,\"length\":0,\"sha256\":\"\"} ",
		"{\"seq\":1,\"op\":\"write\",\"time\":0,\"uid\":0,\"pid\":0,\"comm\":\"\",\"path\":\"/a\","
		"\"inode\":1,\"offset\":0,\"length\":0,\"sha256\":\"\"}x",
		"{\"seq\":1,\"op\":\"write\",\"time\":-0,\"uid\":0,\"pid\":0,\"comm\":\"\",\"path\":\"/a\","
		"\"inode\":1,\"offset\":0,\"length\":0,\"sha256\":\"\"}",
		"[1,2]", "", "{",
	};

	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
		same(recs[i], strlen(recs[i]));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("auditrec");
	TCase *tc = tcase_create("auditrec");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, random_records_of_the_daemons_layout_read_as_jansson_reads_them);
	tcase_add_test(tc, names_come_back_as_the_bytes_written);
	tcase_add_test(tc, other_layouts_read_as_jansson_reads_them);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
