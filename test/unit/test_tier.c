/* test_tier.c — unit tests of tier/ (tier.h, log.h) on a real directory.
 *
 * Each test gets a fresh directory (made by the checked fixture, so in the
 * test's own process) with the hot tier open in it.  The directories live
 * under one base directory that main removes at the end, so nothing is
 * left behind even when a failing test skips its teardown.  Data is
 * generated from seeds so that every read can be compared byte for byte.
 */
#include "tier/tier.h"
#include "tier/log.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIB	(1u << 20)

static char base[64];		/* of the whole run, made and removed by main */
static char dir[96];		/* of the current test */
static struct tier *tier;

/* ---- helpers --------------------------------------------------------- */

#define expect_eq(seen, want, ...)						\
	do {									\
		long long seen_ = (long long)(seen), want_ = (long long)(want);	\
		char what_[256];						\
		snprintf(what_, sizeof what_, __VA_ARGS__);			\
		ck_assert_msg(seen_ == want_, "%s: expected %lld, saw %lld",	\
			      what_, want_, seen_);				\
	} while (0)

/* Fail with the first differing byte if GOT and WANT differ.  (One
 * assertion, not one per byte: each passing check costs Check a write.) */
static void expect_bytes(const uint8_t *got, const uint8_t *want, size_t len, const char *what)
{
	size_t i = 0;

	if (memcmp(got, want, len) == 0)
		return;
	while (got[i] == want[i])
		i++;
	ck_abort_msg("%s: byte %zu of %zu: expected 0x%02x, saw 0x%02x", what, i, len, want[i],
		     got[i]);
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Incompressible bytes from SEED. */
static void fill_random(uint8_t *buf, size_t len, uint64_t seed)
{
	uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(rng_next(&s) >> 32);
}

/* Text-like bytes from SEED that lz4 compresses well. */
static void fill_text(uint8_t *buf, size_t len, uint64_t seed)
{
	static const char *const words[] = { "tensor ", "epoch ", "loss=0.25 ", "checkpoint ",
					     "dataset\n", "shard-0001 ", "gradient " };
	uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
	size_t i = 0;

	while (i < len) {
		const char *w = words[rng_next(&s) % 7];

		for (size_t k = 0; w[k] && i < len; k++)
			buf[i++] = (uint8_t)w[k];
	}
}

static uint8_t *xmalloc(size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	ck_assert_msg(p != NULL, "malloc(%zu) failed", len);
	return p;
}

/* An appended extent and what a test needs to read it back. */
struct ext {
	struct tier_ref ref;
	uint32_t crcs[TIER_NCRC(TIER_EXTENT_MAX)];
	uint32_t ncrc;
	uint8_t *data;		/* the bytes appended, owned */
};

/* Append LEN bytes of E->data as E. */
static void append_ok(struct tier *t, struct ext *e, uint32_t len, int codec)
{
	int rc = tier_append(t, e->data, len, codec, &e->ref, e->crcs, &e->ncrc);

	expect_eq(rc, 0, "tier_append of %u bytes (codec %d)", len, codec);
	expect_eq(e->ref.tier, TIER_HOT, "tier of a new extent");
	expect_eq(e->ref.raw_len, len, "raw_len of a %u-byte extent", len);
	expect_eq(e->ncrc, TIER_NCRC(e->ref.stored_len), "ncrc of %u stored bytes",
		  e->ref.stored_len);
}

/* Make E: LEN bytes (text-like if TEXT, else random) from SEED, appended. */
static void make_ext(struct ext *e, uint32_t len, int text, uint64_t seed, int codec)
{
	e->data = xmalloc(len);
	(text ? fill_text : fill_random)(e->data, len, seed);
	append_ok(tier, e, len, codec);
}

/* An extent of odd size, so that the next one starts at an unaligned offset. */
static void append_neighbour(void)
{
	static struct ext n;

	make_ext(&n, 1000, 0, 1000, TIER_CODEC_RAW);
	free(n.data);
}

static int read_one(struct tier *t, const struct ext *e, uint32_t inner, uint32_t len, void *dst)
{
	struct tier *tiers[TIER_COUNT] = { [TIER_HOT] = t };
	struct tier_io io = { .ref = &e->ref, .crcs = e->crcs, .inner = inner, .len = len,
			      .dst = dst };
	int rc = tier_read_batch(tiers, &io, 1);

	expect_eq(io.result, rc, "result of a one-io batch vs its return value");
	return rc;
}

/* Read [inner, inner + len) of E and compare with what was appended. */
static void expect_range(struct tier *t, const struct ext *e, uint32_t inner, uint32_t len)
{
	uint8_t *got = xmalloc(len);
	char what[128];

	snprintf(what, sizeof what, "range [%u, +%u) of a %u-byte extent (codec %u)", inner, len,
		 e->ref.raw_len, e->ref.codec);
	expect_eq(read_one(t, e, inner, len, got), 0, "read of %s", what);
	expect_bytes(got, e->data + inner, len, what);
	free(got);
}

/* The whole extent, block edges and COUNT random inner ranges. */
static void expect_extent(struct tier *t, const struct ext *e, unsigned count, uint64_t seed)
{
	uint32_t n = e->ref.raw_len;
	uint64_t s = seed + 7;

	expect_range(t, e, 0, n);
	if (n > TIER_BLOCK + 1)
		expect_range(t, e, TIER_BLOCK - 1, 2);
	for (unsigned i = 0; i < count; i++) {
		uint32_t inner = (uint32_t)(rng_next(&s) % n);
		uint32_t len = 1 + (uint32_t)(rng_next(&s) % (n - inner));

		expect_range(t, e, inner, len);
	}
}

static void seg_path(char *buf, size_t size, uint32_t seg)
{
	snprintf(buf, size, "%s/seg-%08u", dir, seg);
}

/* XOR one stored byte of the extent in its segment file, behind the tier. */
static void flip_stored_byte(const struct ext *e, uint32_t stored_off)
{
	char path[128];
	uint8_t b;
	int fd;

	seg_path(path, sizeof path, e->ref.seg);
	fd = open(path, O_RDWR);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	expect_eq(pread(fd, &b, 1, (off_t)(e->ref.off + stored_off)), 1, "pread of %s", path);
	b ^= 0x5a;
	expect_eq(pwrite(fd, &b, 1, (off_t)(e->ref.off + stored_off)), 1, "pwrite of %s", path);
	close(fd);
}

/* ---- fixture --------------------------------------------------------- */

static void setup(void)
{
	snprintf(dir, sizeof dir, "%s/t-XXXXXX", base);
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
	expect_eq(tier_open(dir, TIER_HOT, &tier), 0, "tier_open(%s)", dir);
}

static void teardown(void)
{
	DIR *d;
	struct dirent *de;

	tier_close(tier);
	tier = NULL;
	d = opendir(dir);
	if (d) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	rmdir(dir);
}

/* ---- tests ----------------------------------------------------------- */

START_TEST(crc32c_gives_standard_check_value)
{
	static uint8_t buf[10000];
	uint32_t whole;

	expect_eq(tier_crc32c(0, "123456789", 9), 0xE3069283u, "CRC-32C of \"123456789\"");
	expect_eq(tier_crc32c(0, "", 0), 0, "CRC-32C of nothing");
	fill_random(buf, sizeof buf, 1);
	whole = tier_crc32c(0, buf, sizeof buf);
	/* Continuing from a seed at every split (and alignment) gives the same value. */
	for (size_t cut = 0; cut <= 64; cut++)
		expect_eq(tier_crc32c(tier_crc32c(0, buf, cut), buf + cut, sizeof buf - cut),
			  whole, "CRC-32C continued after %zu bytes", cut);
	/* ... also where the hardware path's lanes begin and end (3 x 1360 bytes) */
	for (size_t cut = 4000; cut <= 4200; cut += 7)
		expect_eq(tier_crc32c(tier_crc32c(0, buf, cut), buf + cut, sizeof buf - cut),
			  whole, "CRC-32C continued after %zu bytes", cut);
	for (size_t n = 4070; n <= 4100; n++) {
		uint32_t a = tier_crc32c(0, buf, n), b = 0;

		for (size_t i = 0; i < n; i += 100)
			b = tier_crc32c(b, buf + i, n - i < 100 ? n - i : 100);
		expect_eq(a, b, "CRC-32C of %zu bytes at once and in pieces of 100", n);
	}
	/* Against a bitwise reference, at every alignment and short length. */
	for (size_t off = 0; off < 16; off++)
		for (size_t len = 0; len < 80; len++) {
			uint32_t c = ~0u;

			for (size_t i = 0; i < len; i++) {
				c ^= buf[off + i];
				for (int k = 0; k < 8; k++)
					c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
			}
			expect_eq(tier_crc32c(0, buf + off, len), ~c,
				  "CRC-32C of %zu bytes at offset %zu", len, off);
		}
}
END_TEST

START_TEST(log_level_parse_knows_the_five_names)
{
	expect_eq(log_level_parse("error"), LOG_ERR, "level of \"error\"");
	expect_eq(log_level_parse("warning"), LOG_WARNING, "level of \"warning\"");
	expect_eq(log_level_parse("notice"), LOG_NOTICE, "level of \"notice\"");
	expect_eq(log_level_parse("INFO"), LOG_INFO, "level of \"INFO\"");
	expect_eq(log_level_parse("debug"), LOG_DEBUG, "level of \"debug\"");
	expect_eq(log_level_parse("verbose"), -1, "level of \"verbose\"");
	expect_eq(log_level_parse(NULL), -1, "level of NULL");
}
END_TEST

static const uint32_t round_trip_sizes[] = { 1, 4095, 4096, 4097, MIB, 8 * MIB };

START_TEST(append_read_round_trip_is_byte_exact)
{
	uint32_t len = round_trip_sizes[_i];
	static struct ext e;

	append_neighbour();
	make_ext(&e, len, 0, len, TIER_CODEC_RAW);
	expect_eq(e.ref.off, TIER_BLOCK, "offset of the extent after a 1000-byte one (next block boundary)");
	expect_eq(e.ref.codec, TIER_CODEC_RAW, "codec of a raw extent");
	expect_eq(e.ref.stored_len, len, "stored_len of a raw extent");
	expect_eq(e.ncrc, TIER_NCRC(len), "checksums of %u bytes", len);
	expect_extent(tier, &e, 40, len);
	free(e.data);
}
END_TEST

START_TEST(append_rejects_bad_arguments)
{
	static uint8_t buf[16];
	static struct ext e;

	expect_eq(tier_append(tier, buf, 0, TIER_CODEC_RAW, &e.ref, e.crcs, &e.ncrc), -EINVAL,
		  "append of 0 bytes");
	expect_eq(tier_append(tier, buf, TIER_EXTENT_MAX + 1, TIER_CODEC_RAW, &e.ref, e.crcs,
			      &e.ncrc), -EINVAL, "append of TIER_EXTENT_MAX + 1 bytes");
	expect_eq(tier_append(tier, buf, sizeof buf, 7, &e.ref, e.crcs, &e.ncrc), -EINVAL,
		  "append with codec 7");
}
END_TEST

START_TEST(flipped_byte_gives_eio_and_spares_other_blocks)
{
	static struct ext e;
	uint8_t got[3 * TIER_BLOCK];

	append_neighbour();
	make_ext(&e, 3 * TIER_BLOCK, 0, 3, TIER_CODEC_RAW);
	flip_stored_byte(&e, TIER_BLOCK + 100);		/* in block 1 */
	expect_eq(read_one(tier, &e, 0, 3 * TIER_BLOCK, got), -EIO, "read of the whole extent");
	expect_eq(read_one(tier, &e, TIER_BLOCK + 100, 1, got), -EIO, "read of the flipped byte");
	expect_eq(read_one(tier, &e, TIER_BLOCK - 1, 2, got), -EIO, "read across blocks 0 and 1");
	expect_range(tier, &e, 0, TIER_BLOCK);
	expect_range(tier, &e, 2 * TIER_BLOCK, TIER_BLOCK);
	expect_range(tier, &e, 10, 100);
	expect_range(tier, &e, 2 * TIER_BLOCK + 5, TIER_BLOCK - 5);
	free(e.data);
}
END_TEST

START_TEST(lz4_round_trip_of_compressible_data)
{
	uint32_t len = _i ? 8 * MIB : 300000;
	static struct ext e;

	append_neighbour();
	make_ext(&e, len, 1, 11, TIER_CODEC_LZ4);
	expect_eq(e.ref.codec, TIER_CODEC_LZ4, "codec of compressible data");
	ck_assert_msg(e.ref.stored_len * 100ull <= len * 95ull,
		      "stored_len: expected at most 95%% of %u, saw %u", len, e.ref.stored_len);
	expect_eq(e.ncrc, TIER_NCRC(e.ref.stored_len), "checksums of the stored bytes");
	expect_extent(tier, &e, 30, 5);
	expect_range(tier, &e, 0, 1);
	expect_range(tier, &e, len - 1, 1);
	free(e.data);
}
END_TEST

START_TEST(lz4_stores_random_data_raw)
{
	const uint32_t len = 2 * MIB + 17;
	static struct ext e;

	make_ext(&e, len, 0, 99, TIER_CODEC_LZ4);
	expect_eq(e.ref.codec, TIER_CODEC_RAW, "codec of incompressible data appended as lz4");
	expect_eq(e.ref.stored_len, len, "stored_len of data stored raw");
	expect_extent(tier, &e, 10, 8);
	free(e.data);
}
END_TEST

START_TEST(lz4_flipped_byte_gives_eio)
{
	const uint32_t len = MIB;
	static struct ext e;
	uint8_t got[64];

	make_ext(&e, len, 1, 4, TIER_CODEC_LZ4);
	expect_eq(e.ref.codec, TIER_CODEC_LZ4, "codec of compressible data");
	flip_stored_byte(&e, e.ref.stored_len / 2);
	expect_eq(read_one(tier, &e, 0, sizeof got, got), -EIO, "read of a corrupt lz4 extent");
	free(e.data);
}
END_TEST

#define NEXT	50
#define NIO	200

START_TEST(batch_of_200_reads_across_extents_is_exact)
{
	struct tier *tiers[TIER_COUNT] = { [TIER_HOT] = tier };
	static struct ext e[NEXT];
	static struct tier_io io[NIO];
	static uint8_t *dst[NIO];
	uint64_t s = 42;

	for (unsigned i = 0; i < NEXT; i++)
		make_ext(&e[i], 1 + (uint32_t)(rng_next(&s) % (300 << 10)), i % 2, i,
			 i % 3 ? TIER_CODEC_LZ4 : TIER_CODEC_RAW);
	for (unsigned i = 0; i < NIO; i++) {
		const struct ext *x = &e[rng_next(&s) % NEXT];
		uint32_t inner = (uint32_t)(rng_next(&s) % x->ref.raw_len);

		io[i] = (struct tier_io){ .ref = &x->ref, .crcs = x->crcs, .inner = inner,
			.len = 1 + (uint32_t)(rng_next(&s) % (x->ref.raw_len - inner)) };
		io[i].dst = dst[i] = xmalloc(io[i].len);
	}
	expect_eq(tier_read_batch(tiers, io, NIO), 0, "batch of %d reads", NIO);
	for (unsigned i = 0; i < NIO; i++) {
		const struct ext *x = (const struct ext *)io[i].ref;
		char what[96];

		snprintf(what, sizeof what, "io %u: [%u, +%u) of extent %td", i, io[i].inner,
			 io[i].len, x - e);
		expect_eq(io[i].result, 0, "result of %s", what);
		expect_bytes(dst[i], x->data + io[i].inner, io[i].len, what);
		free(dst[i]);
	}
	for (unsigned i = 0; i < NEXT; i++)
		free(e[i].data);
}
END_TEST

START_TEST(batch_with_bad_ios_gives_per_io_results)
{
	struct tier *tiers[TIER_COUNT] = { [TIER_HOT] = tier };
	static struct ext e[10];
	struct tier_ref gone = { .tier = TIER_HOT, .seg = 77, .stored_len = 10, .raw_len = 10 };
	struct tier_ref cold = { .tier = TIER_COLD, .stored_len = 10, .raw_len = 10 };
	static struct tier_io io[100];
	static uint8_t dst[100][TIER_BLOCK];
	int want[100];

	for (unsigned i = 0; i < 10; i++)
		make_ext(&e[i], 2 * TIER_BLOCK, 0, 100 + i, TIER_CODEC_RAW);
	flip_stored_byte(&e[3], 5);			/* block 0 of extent 3 */
	flip_stored_byte(&e[7], TIER_BLOCK + 5);	/* block 1 of extent 7 */
	for (unsigned i = 0; i < 100; i++) {
		const struct ext *x = &e[i % 10];
		uint32_t inner = (i / 10) % 2 ? TIER_BLOCK + 1 : 1;

		io[i] = (struct tier_io){ .ref = &x->ref, .crcs = x->crcs, .inner = inner,
					  .len = 100, .dst = dst[i] };
		want[i] = (x == &e[3] && inner < TIER_BLOCK) ||
			  (x == &e[7] && inner > TIER_BLOCK) ? -EIO : 0;
	}
	io[50] = (struct tier_io){ .ref = &gone, .crcs = e[0].crcs, .len = 5, .dst = dst[50] };
	want[50] = -ENOENT;
	io[60] = (struct tier_io){ .ref = &cold, .crcs = e[0].crcs, .len = 5, .dst = dst[60] };
	want[60] = -EINVAL;
	io[70].inner = 2 * TIER_BLOCK - 10;	/* runs past the end of the extent */
	want[70] = -EINVAL;
	/* io 3 is the first to fail: the batch returns its error. */
	expect_eq(tier_read_batch(tiers, io, 100), -EIO, "return value of the batch");
	for (unsigned i = 0; i < 100; i++) {
		expect_eq(io[i].result, want[i], "result of io %u", i);
		if (want[i] == 0)
			expect_bytes(dst[i], e[i % 10].data + io[i].inner, 100, "good io of a bad batch");
	}
	for (unsigned i = 0; i < 10; i++)
		free(e[i].data);
}
END_TEST

START_TEST(batch_larger_than_staging_is_chunked)
{
	struct tier *tiers[TIER_COUNT] = { [TIER_HOT] = tier };
	static struct ext e[2];
	static struct tier_io io[8];
	static uint8_t *dst[8];

	/* Unaligned 8 MiB reads all need staging: 64 MiB in one batch. */
	for (unsigned i = 0; i < 2; i++)
		make_ext(&e[i], 8 * MIB, 0, 200 + i, TIER_CODEC_RAW);
	for (unsigned i = 0; i < 8; i++) {
		io[i] = (struct tier_io){ .ref = &e[i % 2].ref, .crcs = e[i % 2].crcs,
					  .inner = 1 + i, .len = 8 * MIB - 1 - i };
		io[i].dst = dst[i] = xmalloc(io[i].len);
	}
	expect_eq(tier_read_batch(tiers, io, 8), 0, "batch of eight unaligned 8 MiB reads");
	for (unsigned i = 0; i < 8; i++) {
		expect_eq(io[i].result, 0, "result of io %u", i);
		expect_bytes(dst[i], e[i % 2].data + io[i].inner, io[i].len, "unaligned 8 MiB read");
		free(dst[i]);
	}
	free(e[0].data);
	free(e[1].data);
}
END_TEST

START_TEST(reopen_resumes_at_end_of_segment)
{
	static struct ext a, b, c;
	uint32_t seg = tier_active_seg(tier);
	int64_t size;

	make_ext(&a, 5000, 0, 1, TIER_CODEC_RAW);
	make_ext(&b, 70000, 1, 2, TIER_CODEC_LZ4);
	expect_eq(b.ref.off, (a.ref.off + a.ref.stored_len + TIER_BLOCK - 1) / TIER_BLOCK * TIER_BLOCK,
		  "offset of the second extent (next block boundary)");
	size = tier_seg_size(tier, seg);
	expect_eq(size, b.ref.off + b.ref.stored_len, "segment size after two appends");
	tier_close(tier);
	tier = NULL;

	expect_eq(tier_open(dir, TIER_HOT, &tier), 0, "reopen of %s", dir);
	expect_eq(tier_active_seg(tier), seg, "active segment after reopen");
	expect_eq(tier_seg_size(tier, seg), size, "segment size after reopen");
	make_ext(&c, 1234, 0, 3, TIER_CODEC_RAW);
	expect_eq(c.ref.seg, seg, "segment of the first append after reopen");
	expect_eq(c.ref.off, (size + TIER_BLOCK - 1) / TIER_BLOCK * TIER_BLOCK,
		  "offset of the first append after reopen (next block boundary)");
	expect_extent(tier, &a, 5, 1);
	expect_extent(tier, &b, 5, 2);
	expect_extent(tier, &c, 5, 3);
	free(a.data);
	free(b.data);
	free(c.data);
}
END_TEST

START_TEST(truncated_segment_gives_eio)
{
	static struct ext e;
	uint8_t got[TIER_BLOCK];
	char path[128];

	make_ext(&e, 3 * TIER_BLOCK, 0, 5, TIER_CODEC_RAW);
	seg_path(path, sizeof path, e.ref.seg);
	/* Cut the last block short behind the open tier: a short read.  The
	 * block-aligned read lands in dst, which already holds the right bytes,
	 * so only the short read itself can make it fail. */
	expect_eq(truncate(path, (off_t)(e.ref.off + 2 * TIER_BLOCK + 10)), 0, "truncate %s", path);
	memcpy(got, e.data + 2 * TIER_BLOCK, TIER_BLOCK);
	expect_eq(read_one(tier, &e, 2 * TIER_BLOCK, TIER_BLOCK, got), -EIO, "read past the cut");
	expect_eq(read_one(tier, &e, 2 * TIER_BLOCK, 100, got), -EIO, "staged read past the cut");
	expect_range(tier, &e, 0, 2 * TIER_BLOCK);
	/* Reopened, the tier knows the segment is too short for the extent. */
	tier_close(tier);
	expect_eq(tier_open(dir, TIER_HOT, &tier), 0, "reopen of %s", dir);
	expect_eq(read_one(tier, &e, 2 * TIER_BLOCK, 100, got), -EIO, "read past the end");
	free(e.data);
}
END_TEST

START_TEST(segment_rolls_before_exceeding_seg_max)
{
	const uint32_t n = (uint32_t)(TIER_SEG_MAX / TIER_EXTENT_MAX) + 1;
	static struct ext first, e;
	struct timespec t0, t1;
	struct tier_space sp;

	/* About 1 GiB of real writes: the segment must be filled for real. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	make_ext(&first, TIER_EXTENT_MAX, 0, 7, TIER_CODEC_RAW);
	e.data = calloc(1, TIER_EXTENT_MAX);
	ck_assert_msg(e.data != NULL, "calloc of 8 MiB failed");
	for (uint32_t i = 1; i < n; i++) {
		append_ok(tier, &e, TIER_EXTENT_MAX, TIER_CODEC_RAW);
		expect_eq(e.ref.seg, i < n - 1 ? 0 : 1, "segment of append %u", i);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "segment_rolls_before_exceeding_seg_max: %u appends of 8 MiB in %.2f s\n",
		n, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	expect_eq(e.ref.off, 0, "offset of the first extent of the new segment");
	expect_eq(tier_seg_size(tier, 0), TIER_SEG_MAX, "size of the full segment");
	expect_eq(tier_active_seg(tier), 1, "active segment after the roll");
	expect_eq(tier_sync(tier), 0, "tier_sync");
	expect_range(tier, &first, 0, 4096);
	expect_range(tier, &e, TIER_EXTENT_MAX - 100, 100);
	expect_eq(tier_seg_remove(tier, 1), -EBUSY, "removal of the active segment");
	expect_eq(tier_seg_remove(tier, 0), 0, "removal of the full segment");
	expect_eq(tier_seg_size(tier, 0), -ENOENT, "size of a removed segment");
	expect_eq(read_one(tier, &first, 0, 1, e.data), -ENOENT, "read of a removed segment");
	expect_eq(tier_space(tier, &sp), 0, "tier_space");
	expect_eq(sp.used, TIER_EXTENT_MAX, "space used after the removal");
	free(first.data);
	free(e.data);
}
END_TEST

START_TEST(remove_refuses_active_and_missing_segments)
{
	uint32_t seg = tier_active_seg(tier);
	char path[128];

	expect_eq(tier_seg_remove(tier, seg), -EBUSY, "removal of the active segment %u", seg);
	expect_eq(tier_seg_remove(tier, seg + 5), -ENOENT, "removal of a missing segment");
	seg_path(path, sizeof path, seg);
	expect_eq(access(path, F_OK), 0, "the active segment file still exists");
}
END_TEST

struct seg_seen {
	unsigned n;
	uint32_t seg[8];
	uint64_t size[8];
};

static int collect_seg(void *ctx, uint32_t seg, uint64_t size)
{
	struct seg_seen *s = ctx;

	if (s->n < 8) {
		s->seg[s->n] = seg;
		s->size[s->n] = size;
	}
	s->n++;
	return 0;
}

START_TEST(space_and_segment_listing_match_appends)
{
	static struct ext e[3];
	struct seg_seen seen = { 0 };
	struct tier_space sp;
	uint64_t sum = 0;

	for (unsigned i = 0; i < 3; i++)
		make_ext(&e[i], 10000 * (i + 1), (int)i, i, TIER_CODEC_LZ4);
	/* Extents start on block boundaries: used space runs to the end of the last. */
	sum = e[2].ref.off + e[2].ref.stored_len;
	expect_eq(tier_sync(tier), 0, "tier_sync");
	expect_eq(tier_space(tier, &sp), 0, "tier_space");
	expect_eq(sp.used, sum, "space used by three extents");
	ck_assert_msg(sp.total > 0 && sp.avail <= sp.total,
		      "device space: expected 0 < avail <= total, saw avail %llu total %llu",
		      (unsigned long long)sp.avail, (unsigned long long)sp.total);
	expect_eq(tier_seg_foreach(tier, collect_seg, &seen), 0, "tier_seg_foreach");
	expect_eq(seen.n, 1, "segments listed");
	expect_eq(seen.seg[0], tier_active_seg(tier), "segment listed");
	expect_eq(seen.size[0], sum, "size listed");
	expect_eq(tier_seg_size(tier, 99), -ENOENT, "size of a missing segment");
	for (unsigned i = 0; i < 3; i++)
		free(e[i].data);
}
END_TEST

START_TEST(open_of_missing_directory_gives_enoent)
{
	struct tier *t = (struct tier *)1;
	char path[128];

	snprintf(path, sizeof path, "%s/no-such-dir", dir);
	expect_eq(tier_open(path, TIER_HOT, &t), -ENOENT, "tier_open(%s)", path);
	ck_assert_msg(t == NULL, "tier_open failure: expected *out == NULL, saw %p", (void *)t);
}
END_TEST

#define NTHREAD	4
#define NAPPEND	400

struct appender {
	pthread_t thread;
	unsigned id;
	struct ext e[NAPPEND];
	struct tier_io io[NAPPEND];
	char error[256];	/* first failure, checked by the main thread */
};

static void *appender_run(void *arg)
{
	struct appender *a = arg;
	struct tier *tiers[TIER_COUNT] = { [TIER_HOT] = tier };
	struct tier_io *io = a->io;
	int rc = 0;

	for (unsigned i = 0; i < NAPPEND && rc == 0; i++) {
		struct ext *e = &a->e[i];
		/* Mostly small, so that reservations often race. */
		uint32_t len = 1 + (a->id * 7919 + i * 104729) % (i % 8 ? 600 : 256 << 10);

		e->data = malloc(len);
		(i % 2 ? fill_text : fill_random)(e->data, len, a->id * 1000 + i);
		rc = tier_append(tier, e->data, len, i % 3 ? TIER_CODEC_LZ4 : TIER_CODEC_RAW,
				 &e->ref, e->crcs, &e->ncrc);
		if (rc)
			snprintf(a->error, sizeof a->error, "append %u: expected 0, saw %d", i, rc);
		io[i] = (struct tier_io){ .ref = &e->ref, .crcs = e->crcs, .len = len,
					  .dst = malloc(len) };
	}
	if (rc == 0 && (rc = tier_read_batch(tiers, io, NAPPEND)) != 0)
		snprintf(a->error, sizeof a->error, "read back: expected 0, saw %d", rc);
	for (unsigned i = 0; i < NAPPEND && io[i].dst; i++) {
		if (rc == 0 && memcmp(io[i].dst, a->e[i].data, io[i].len) != 0) {
			snprintf(a->error, sizeof a->error, "extent %u reads back different bytes", i);
			rc = -1;
		}
		free(io[i].dst);
	}
	return NULL;
}

static int ref_order(const void *x, const void *y)
{
	const struct tier_ref *a = *(const struct tier_ref *const *)x;
	const struct tier_ref *b = *(const struct tier_ref *const *)y;

	if (a->seg != b->seg)
		return a->seg < b->seg ? -1 : 1;
	return a->off < b->off ? -1 : a->off > b->off;
}

START_TEST(concurrent_appenders_read_back_their_own_data)
{
	static struct appender a[NTHREAD];
	static const struct tier_ref *all[NTHREAD * NAPPEND];

	for (unsigned k = 0; k < NTHREAD; k++) {
		a[k].id = k;
		expect_eq(pthread_create(&a[k].thread, NULL, appender_run, &a[k]), 0,
			  "pthread_create");
	}
	for (unsigned k = 0; k < NTHREAD; k++)
		pthread_join(a[k].thread, NULL);
	for (unsigned k = 0; k < NTHREAD; k++) {
		ck_assert_msg(!a[k].error[0], "appender %u: %s", k, a[k].error);
		for (unsigned i = 0; i < NAPPEND; i++)
			all[k * NAPPEND + i] = &a[k].e[i].ref;
	}
	/* Reservations never overlap, whatever the interleaving. */
	qsort(all, NTHREAD * NAPPEND, sizeof all[0], ref_order);
	for (unsigned i = 1; i < NTHREAD * NAPPEND; i++)
		if (all[i]->seg == all[i - 1]->seg)
			ck_assert_msg(all[i]->off >= all[i - 1]->off + all[i - 1]->stored_len,
				      "extents overlap: [%llu, +%u) and [%llu, +%u)",
				      (unsigned long long)all[i - 1]->off, all[i - 1]->stored_len,
				      (unsigned long long)all[i]->off, all[i]->stored_len);
	/* And each reads back byte-exact from this thread too. */
	for (unsigned k = 0; k < NTHREAD; k++)
		for (unsigned i = 0; i < NAPPEND; i += 37)
			expect_range(tier, &a[k].e[i], 0, a[k].e[i].ref.raw_len);
}
END_TEST

static Suite *tier_suite(void)
{
	Suite *s = suite_create("tier");
	TCase *tc = tcase_create("tier");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, crc32c_gives_standard_check_value);
	tcase_add_test(tc, log_level_parse_knows_the_five_names);
	tcase_add_loop_test(tc, append_read_round_trip_is_byte_exact, 0,
			    sizeof round_trip_sizes / sizeof round_trip_sizes[0]);
	tcase_add_test(tc, append_rejects_bad_arguments);
	tcase_add_test(tc, flipped_byte_gives_eio_and_spares_other_blocks);
	tcase_add_loop_test(tc, lz4_round_trip_of_compressible_data, 0, 2);
	tcase_add_test(tc, lz4_stores_random_data_raw);
	tcase_add_test(tc, lz4_flipped_byte_gives_eio);
	tcase_add_test(tc, batch_of_200_reads_across_extents_is_exact);
	tcase_add_test(tc, batch_with_bad_ios_gives_per_io_results);
	tcase_add_test(tc, batch_larger_than_staging_is_chunked);
	tcase_add_test(tc, reopen_resumes_at_end_of_segment);
	tcase_add_test(tc, truncated_segment_gives_eio);
	tcase_add_test(tc, remove_refuses_active_and_missing_segments);
	tcase_add_test(tc, space_and_segment_listing_match_appends);
	tcase_add_test(tc, open_of_missing_directory_gives_enoent);
	tcase_add_test(tc, concurrent_appenders_read_back_their_own_data);
	tcase_add_test(tc, segment_rolls_before_exceeding_seg_max);
	suite_add_tcase(s, tc);
	return s;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	SRunner *sr = srunner_create(tier_suite());
	int failed;

	snprintf(base, sizeof base, "/tmp/aifs-test-tier-XXXXXX");
	if (!mkdtemp(base)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
