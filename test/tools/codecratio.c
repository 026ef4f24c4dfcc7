/* codecratio.c — compression ratios of the tier codecs on a file, for the
 * measurements reported by test/integration/test_tier.py.
 *
 *   aifs-codecratio FILE
 *
 * The file is cut into 4 MiB extents, as the daemon's write buffer cuts
 * it, and each extent is encoded with every codec.  Prints one line per
 * codec: "CODEC stored=BYTES ratio=RAW/STORED saved=PCT% MB/s=ENCODE",
 * where "auto" is what tier_append stores (the codec codec_choose picks,
 * or raw when that saves less than 5%).  Exit 0, or 1 with a message.
 */
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tier/codec.h"
#include "tier/tier.h"

#define EXTENT (4u << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "raw", "lz4", "bg4", "bg2", "auto" };
	unsigned long long stored[5] = { 0 }, raw = 0;
	double secs[5] = { 0 };
	uint32_t cap = (uint32_t)LZ4_compressBound(EXTENT);
	uint8_t *buf = malloc(EXTENT), *out = malloc(cap), *tmp = malloc(EXTENT);
	FILE *f;
	size_t n;

	if (argc != 2 || !buf || !out || !tmp) {
		fprintf(stderr, "usage: aifs-codecratio FILE\n");
		return 1;
	}
	f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	while ((n = fread(buf, 1, EXTENT, f)) > 0) {
		uint32_t len = (uint32_t)n, budget = len * 95ull / 100;

		raw += len;
		stored[0] += len;
		for (int c = TIER_CODEC_LZ4; c <= TIER_CODEC_BG2; c++) {
			double t = now();
			uint32_t got = codec_encode(c, buf, len, out, cap, tmp);

			secs[c] += now() - t;
			stored[c] += got ? got : len;
		}
		{
			double t = now();
			int c = codec_choose(buf, len, tmp, out);
			uint32_t got = codec_encode(c, buf, len, out, budget, tmp);

			secs[4] += now() - t;
			stored[4] += got ? got : len;
		}
	}
	fclose(f);
	for (int c = 0; c < 5; c++)
		printf("%s stored=%llu ratio=%.3f saved=%.1f%% MB/s=%.0f\n", names[c], stored[c],
		       stored[c] ? (double)raw / stored[c] : 0.0,
		       raw ? 100.0 * (1.0 - (double)stored[c] / raw) : 0.0,
		       secs[c] > 0 ? raw / secs[c] / 1e6 : 0.0);
	free(buf);
	free(out);
	free(tmp);
	return 0;
}
