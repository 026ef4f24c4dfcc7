/* statuscmd.c — `aifsctl status` and `aifsctl stats` of a mounted aifs,
 * from MOUNT/.aifs/stats (a JSON document the daemon makes on open).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/aifsctl.h"
#include "tools/common.h"

static char *read_stats(const char *mnt)
{
	char path[4200], *buf = NULL;
	size_t cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/.aifs/stats", mnt);
	f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "aifsctl: %s is not a mounted aifs (%s)\n", mnt, strerror(errno));
		return NULL;
	}
	if (getdelim(&buf, &cap, 0, f) < 0) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* Number after "KEY": in the part of J starting at FROM. */
static unsigned long long num(const char *j, const char *from, const char *key)
{
	char k[64];
	const char *p = from ? strstr(j, from) : j;

	snprintf(k, sizeof(k), "\"%s\": ", key);
	p = p ? strstr(p, k) : NULL;
	return p ? strtoull(p + strlen(k), NULL, 10) : 0;
}

static void str(const char *j, const char *key, char *out, size_t len)
{
	char k[64];
	const char *p, *e;

	snprintf(k, sizeof(k), "\"%s\": \"", key);
	p = strstr(j, k);
	out[0] = 0;
	if (!p)
		return;
	p += strlen(k);
	e = strchr(p, '"');
	if (e && (size_t)(e - p) < len) {
		memcpy(out, p, (size_t)(e - p));
		out[e - p] = 0;
	}
}

static const char status_usage[] =
	"usage: aifsctl status [--json] MOUNT\n"
	"       aifsctl stats [--json] MOUNT\n"
	"\n"
	"status: store, space per tier, versions, snapshots, journal, lineage, daemon.\n"
	"stats:  operations since mount: count, bytes, median and 99th percentile\n"
	"        latency (upper bound of a power-of-two microsecond bucket).\n";

int cmd_status(int argc, char **argv)
{
	const char *verb = argv[0];
	int json = argc == 3 && !strcmp(argv[1], "--json");
	const char *mnt = argc == 2 ? argv[1] : json ? argv[2] : NULL;
	char *j, s1[4096], s2[64];
	static const char *const ops[] = { "lookup", "getattr", "setattr", "create", "open",
		"read", "write", "flush", "release", "fsync", "mkdir", "unlink", "rmdir", "rename",
		"readdir", "getxattr", "setxattr" };

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage_of(stdout, status_usage, verb, true);
		return EXIT_OK;
	}
	if (!mnt) {
		usage_of(stderr, status_usage, verb, false);
		return EXIT_USAGE;
	}
	j = read_stats(mnt);
	if (!j)
		return EXIT_PROBLEM;
	if (json) {
		fputs(j, stdout);
	} else if (!strcmp(verb, "status")) {
		str(j, "store", s1, sizeof(s1));
		str(j, "uuid", s2, sizeof(s2));
		printf("store      %s (uuid %s, format %llu)\n", s1, s2, num(j, NULL, "format"));
		printf("daemon     pid %llu, up %llu s\n", num(j, "\"daemon\"", "pid"),
		       num(j, "\"daemon\"", "uptime_s"));
		printf("hot tier   %.1f MiB stored, %.1f GiB free of %.1f GiB\n",
		       num(j, "\"hot\"", "bytes") / 1048576.0,
		       num(j, "\"hot\"", "device_avail") / 1073741824.0,
		       num(j, "\"hot\"", "device_total") / 1073741824.0);
		printf("cold tier  %.1f MiB stored, %.1f GiB free of %.1f GiB\n",
		       num(j, "\"cold\"", "bytes") / 1048576.0,
		       num(j, "\"cold\"", "device_avail") / 1073741824.0,
		       num(j, "\"cold\"", "device_total") / 1073741824.0);
		if (strstr(j, "\"cache\": {"))
			printf("cache      %.1f of %.1f MiB, %.1f MiB not yet uploaded; %llu hits, "
			       "%llu misses, %llu objects read from RADOS\n",
			       num(j, "\"cache\"", "bytes") / 1048576.0,
			       num(j, "\"cache\"", "limit") / 1048576.0,
			       num(j, "\"cache\"", "dirty") / 1048576.0, num(j, "\"cache\"", "hits"),
			       num(j, "\"cache\"", "misses"), num(j, "\"cache\"", "remote_reads"));
		if (strstr(j, "\"follower\": {")) {
			const char *f = strstr(j, "\"lag_s\": ");

			printf("follower   %.1f s behind what the writer shipped (next batch %llu); "
			       "writes forwarded: %llu made, %llu refused, %llu failed\n",
			       f ? strtod(f + 9, NULL) : -1.0, num(j, "\"follower\"", "next_batch"),
			       num(j, "\"forwarded\"", "made"), num(j, "\"forwarded\"", "refused"),
			       num(j, "\"forwarded\"", "failed"));
		}
		printf("versions   %llu\nsnapshots  %llu\n", num(j, NULL, "versions"),
		       num(j, NULL, "snapshots"));
		printf("journal    %llu records, %llu signed\n", num(j, "\"journal\"", "records"),
		       num(j, "\"journal\"", "signed"));
		printf("lineage    %llu jobs with stored reads (%llu ended jobs pruned at mount)\n",
		       num(j, "\"lineage\"", "jobs"),
		       num(j, "\"lineage\"", "ended_jobs_pruned_at_mount"));
	} else {
		printf("%-10s %12s %14s %10s %10s\n", "OPERATION", "COUNT", "BYTES", "P50_US",
		       "P99_US");
		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
			char key[32];

			snprintf(key, sizeof(key), "\"%s\": {", ops[i]);
			printf("%-10s %12llu %14llu %10llu %10llu\n", ops[i], num(j, key, "count"),
			       num(j, key, "bytes"), num(j, key, "p50_us"), num(j, key, "p99_us"));
		}
	}
	free(j);
	return EXIT_OK;
}
