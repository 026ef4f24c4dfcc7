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
	json_t *d;
	char *j;
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
	d = json ? NULL : json_loads(j, 0, NULL);
	if (json) {
		fputs(j, stdout);
	} else if (!d) {
		fprintf(stderr, "aifsctl: %s/.aifs/stats is not the JSON expected\n", mnt);
		free(j);
		return EXIT_PROBLEM;
	} else if (!strcmp(verb, "status")) {
		printf("store      %s (uuid %s, format %llu)\n",
		       json_string_value(json_at(d, "store")) ?: "",
		       json_string_value(json_at(d, "uuid")) ?: "", json_u64_at(d, "format"));
		printf("daemon     pid %llu, up %llu s\n", json_u64_at(d, "daemon.pid"),
		       json_u64_at(d, "daemon.uptime_s"));
		printf("hot tier   %.1f MiB stored, %.1f GiB free of %.1f GiB\n",
		       json_u64_at(d, "tiers.hot.bytes") / 1048576.0,
		       json_u64_at(d, "tiers.hot.device_avail") / 1073741824.0,
		       json_u64_at(d, "tiers.hot.device_total") / 1073741824.0);
		printf("cold tier  %.1f MiB stored, %.1f GiB free of %.1f GiB\n",
		       json_u64_at(d, "tiers.cold.bytes") / 1048576.0,
		       json_u64_at(d, "tiers.cold.device_avail") / 1073741824.0,
		       json_u64_at(d, "tiers.cold.device_total") / 1073741824.0);
		if (json_at(d, "cache"))
			printf("cache      %.1f of %.1f MiB, %.1f MiB not yet uploaded; %llu hits, "
			       "%llu misses, %llu objects read from RADOS\n",
			       json_u64_at(d, "cache.bytes") / 1048576.0,
			       json_u64_at(d, "cache.limit") / 1048576.0,
			       json_u64_at(d, "cache.dirty") / 1048576.0, json_u64_at(d, "cache.hits"),
			       json_u64_at(d, "cache.misses"), json_u64_at(d, "cache.remote_reads"));
		if (json_at(d, "follower"))
			printf("follower   %.1f s behind what the writer shipped (next batch %llu); "
			       "writes forwarded: %llu made, %llu refused, %llu failed\n",
			       json_at(d, "follower.lag_s") ? json_num_at(d, "follower.lag_s") : -1.0,
			       json_u64_at(d, "follower.next_batch"),
			       json_u64_at(d, "follower.forwarded.made"),
			       json_u64_at(d, "follower.forwarded.refused"),
			       json_u64_at(d, "follower.forwarded.failed"));
		if (json_at(d, "follower.connected"))
			printf("link       %s%s%s; clients made anew after a blocklisting: %llu\n",
			       json_is_true(json_at(d, "follower.connected")) ? "connected" :
			       "disconnected",
			       json_is_true(json_at(d, "follower.connected")) ? "" : ": ",
			       json_string_value(json_at(d, "follower.link_error")) ?: "",
			       json_u64_at(d, "follower.clients_renewed"));
		printf("versions   %llu\nsnapshots  %llu\n", json_u64_at(d, "versions"),
		       json_u64_at(d, "snapshots"));
		printf("journal    %llu records, %llu signed\n", json_u64_at(d, "journal.records"),
		       json_u64_at(d, "journal.signed"));
		printf("lineage    %llu jobs with stored reads (%llu ended jobs pruned at mount)\n",
		       json_u64_at(d, "lineage.jobs"),
		       json_u64_at(d, "lineage.ended_jobs_pruned_at_mount"));
	} else {
		printf("%-10s %12s %14s %10s %10s\n", "OPERATION", "COUNT", "BYTES", "P50_US",
		       "P99_US");
		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
			json_t *o = json_object_get(json_object_get(d, "ops"), ops[i]);

			printf("%-10s %12llu %14llu %10llu %10llu\n", ops[i],
			       json_u64_at(o, "count"), json_u64_at(o, "bytes"),
			       json_u64_at(o, "p50_us"), json_u64_at(o, "p99_us"));
		}
	}
	json_decref(d);
	free(j);
	return EXIT_OK;
}
