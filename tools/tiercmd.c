/* tiercmd.c — `aifsctl tier status|migrate|pin` and `aifsctl gc`.
 *
 * On a mounted store everything goes through user.aifs.* attributes
 * (tierstat, migrate, pin, gc), so a script can do the same with
 * getfattr/setfattr.  `gc STORE` on an unmounted store runs offline
 * (gccmd.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "tools/aifsctl.h"
#include "tools/common.h"

static const char tier_usage[] =
	"usage: aifsctl tier status [--json] MOUNT\n"
	"       aifsctl tier migrate PATH --to hot|cold [--wait]\n"
	"       aifsctl tier pin PATH hot|cold|none\n"
	"\n"
	"status   extents, bytes, compression ratio and space of each tier\n"
	"migrate  move a file (with its versions), a directory tree, a version\n"
	"         (FILE@vN) or a snapshot to a tier, in the background;\n"
	"         --wait returns when it is done\n"
	"pin      keep PATH in a tier (the policies leave it there); none unpins\n";

static void human(double b, char *out, size_t len)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;

	while (b >= 1024 && i < 4) {
		b /= 1024;
		i++;
	}
	snprintf(out, len, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}


static int tier_status(const char *path, bool json)
{
	static const char *const names[] = { "hot", "cold" };
	char mnt[4096], *j;
	json_t *d;

	if (mount_root(path, mnt, sizeof(mnt)) < 0)
		snprintf(mnt, sizeof(mnt), "%s", path);
	j = xattr_str(mnt, "user.aifs.tierstat");

	if (!j) {
		fprintf(stderr, "aifsctl tier status: %s is not in a mounted aifs (%s)\n",
			path, strerror(errno));
		return EXIT_PROBLEM;
	}
	if (json) {
		fputs(j, stdout);
		free(j);
		return EXIT_OK;
	}
	d = json_loads(j, 0, NULL);
	free(j);
	if (!d) {
		fprintf(stderr, "aifsctl tier status: %s: user.aifs.tierstat is not the JSON "
			"expected\n", path);
		return EXIT_PROBLEM;
	}
	/* LOGICAL: file bytes as files and versions see them (shared bytes
	 * once per sharer); UNIQUE: bytes of distinct extents; STORED: UNIQUE
	 * after compression; RATIO = UNIQUE / STORED. */
	printf("%-5s %9s %12s %12s %12s %7s %12s\n", "TIER", "EXTENTS", "LOGICAL", "UNIQUE",
	       "STORED", "RATIO", "ON DISK");
	for (int t = 0; t < 2; t++) {
		json_t *tier = json_object_get(json_object_get(d, "tiers"), names[t]);
		char logical[32], unique[32], stored[32], disk[32];
		double raw = json_num_at(tier, "raw_bytes"), st = json_num_at(tier, "stored_bytes");

		human(json_num_at(tier, "bytes"), logical, sizeof(logical));
		human(raw, unique, sizeof(unique));
		human(st, stored, sizeof(stored));
		human(json_num_at(tier, "allocated_bytes"), disk, sizeof(disk));
		printf("%-5s %9.0f %12s %12s %12s %7.3f %12s\n", names[t],
		       json_num_at(tier, "extents"), logical, unique, stored,
		       st > 0 ? raw / st : 1.0, disk);
	}
	{
		json_t *m = json_object_get(d, "migration");
		double secs = json_num_at(m, "seconds"), bytes = json_num_at(m, "moved_bytes");

		printf("migration: %.0f queued, %.0f extents moved (%.0f bytes, %.0f MB/s), %.0f "
		       "skipped (changed meanwhile), %.0f unreadable\n",
		       json_num_at(m, "queued"), json_num_at(m, "moved_extents"),
		       bytes, secs > 0 ? bytes / secs / 1e6 : 0.0, json_num_at(m, "skipped"),
		       json_num_at(m, "failed"));
	}
	json_decref(d);
	return EXIT_OK;
}

/* Wait until the tier thread has no job left (the one queued included).
 * On a terminal, show the bytes migration has moved since *BASE (-1: take
 * it now). */
static int wait_idle(const char *mnt, double *base)
{
	bool tty = isatty(STDERR_FILENO);

	for (int i = 0; i < 36000; i++) {
		char *j = xattr_str(mnt, "user.aifs.tierstat");
		json_t *d;
		double queued, moved;

		if (!j)
			return -errno;
		d = json_loads(j, 0, NULL);
		queued = json_num_at(d, "migration.queued");
		moved = json_num_at(d, "migration.moved_bytes");
		free(j);
		json_decref(d);
		if (*base < 0)
			*base = moved;
		if (tty && i >= 5)	/* quick ones show nothing */
			fprintf(stderr, "\rmigrate: %.1f MB moved, %.0f job%s queued   ",
				(moved - *base) / 1e6, queued, queued == 1 ? "" : "s");
		if (queued == 0 && i > 0) {
			if (tty && i >= 5)
				fputc('\n', stderr);
			return 0;
		}
		usleep(100000);
	}
	return -ETIMEDOUT;
}

static int tier_migrate(const char *path, const char *to, bool wait)
{
	char mnt[4096];
	double base = -1;

	if (strcmp(to, "hot") && strcmp(to, "cold")) {
		fprintf(stderr, "aifsctl tier migrate: --to must be hot or cold, not '%s'\n", to);
		return EXIT_USAGE;
	}
	if (setxattr(path, "user.aifs.migrate", to, strlen(to), 0) < 0) {
		fprintf(stderr, "aifsctl tier migrate: %s: %s\n", path,
			errno == EBUSY ? "pinned to the other tier (aifsctl tier pin)" :
			errno == ENOTSUP ? "not on a mounted aifs" : strerror(errno));
		return EXIT_PROBLEM;
	}
	if (!wait)
		return EXIT_OK;
	if (mount_root(path, mnt, sizeof(mnt)) < 0)
		snprintf(mnt, sizeof(mnt), "%s", path);
	/* the request is queued; it is done once the thread is idle and a
	 * second look at the tier thread finds nothing more queued */
	if (wait_idle(mnt, &base) < 0 || wait_idle(mnt, &base) < 0) {
		fprintf(stderr, "aifsctl tier migrate: waiting on %s: %s\n", mnt, strerror(errno));
		return EXIT_PROBLEM;
	}
	return EXIT_OK;
}

int cmd_tier(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "to", required_argument, NULL, 't' },
		{ "wait", no_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *to = NULL, *verb;
	bool json = false, wait = false;
	int ch;

	if (argc < 2) {
		usage_of(stderr, tier_usage, NULL, false);
		return EXIT_USAGE;
	}
	verb = argv[1];
	if (!strcmp(verb, "--help") || !strcmp(verb, "-h")) {
		fputs(tier_usage, stdout);
		return EXIT_OK;
	}
	argc--;
	argv++;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j': json = true; break;
		case 't': to = optarg; break;
		case 'w': wait = true; break;
		case 'h': usage_of(stdout, tier_usage, verb, true); return EXIT_OK;
		default: usage_of(stderr, tier_usage, verb, false); return EXIT_USAGE;
		}
	}
	if (!strcmp(verb, "status") && argc - optind == 1 && !to && !wait)
		return tier_status(argv[optind], json);
	if (!strcmp(verb, "migrate") && argc - optind == 1 && to && !json)
		return tier_migrate(argv[optind], to, wait);
	if (!strcmp(verb, "pin") && argc - optind == 2 && !to && !json && !wait) {
		const char *t = argv[optind + 1];

		if (strcmp(t, "hot") && strcmp(t, "cold") && strcmp(t, "none")) {
			fprintf(stderr, "aifsctl tier pin: tier must be hot, cold or none\n");
			return EXIT_USAGE;
		}
		if (setxattr(argv[optind], "user.aifs.pin", t, strlen(t), 0) < 0) {
			fprintf(stderr, "aifsctl tier pin: %s: %s\n", argv[optind], strerror(errno));
			return EXIT_PROBLEM;
		}
		return EXIT_OK;
	}
	usage_of(stderr, tier_usage, verb, false);
	return EXIT_USAGE;
}

/* ---- gc ----------------------------------------------------------------- */

static const char gc_usage[] =
	"usage: aifsctl gc [--threshold F] MOUNT|STORE\n"
	"\n"
	"Compact the segments of both tiers whose live fraction is below F\n"
	"(default 0.5): their live data is rewritten elsewhere and they are\n"
	"removed; stored bytes that nothing references are freed.  On a mounted\n"
	"store (MOUNT, its root) it runs in the daemon; on an unmounted STORE\n"
	"offline.  Prints the bytes reclaimed.\n"
	"  --threshold F   live fraction below which a segment is compacted (0..1)\n";

static int gc_online(const char *mnt, const char *threshold)
{
	unsigned long long done = 0, total = 0, reclaimed = 0, runs0 = 0, runs = 0;
	char state[16] = "";
	char *s = xattr_str(mnt, "user.aifs.gc");

	if (s)
		sscanf(s, "state=%15s done=%llu total=%llu reclaimed=%llu runs=%llu", state, &done,
		       &total, &reclaimed, &runs0);
	free(s);
	if (setxattr(mnt, "user.aifs.gc", threshold, strlen(threshold), 0) < 0) {
		fprintf(stderr, "aifsctl gc: %s: %s\n", mnt, strerror(errno));
		return EXIT_PROBLEM;
	}
	for (;;) {
		usleep(100000);
		s = xattr_str(mnt, "user.aifs.gc");
		if (!s) {
			fprintf(stderr, "aifsctl gc: %s: %s\n", mnt, strerror(errno));
			return EXIT_PROBLEM;
		}
		sscanf(s, "state=%15s done=%llu total=%llu reclaimed=%llu runs=%llu", state, &done,
		       &total, &reclaimed, &runs);
		free(s);
		if (runs > runs0 && strcmp(state, "running"))
			break;
		if (total)
			progress("gc", done, total);
	}
	progress("gc", total, total);
	if (!strcmp(state, "failed")) {
		fprintf(stderr, "aifsctl gc: compaction failed (see the daemon's log)\n");
		return EXIT_PROBLEM;
	}
	printf("gc: reclaimed %llu bytes\n", reclaimed);
	return EXIT_OK;
}

int cmd_gc(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "threshold", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *threshold = "0.5";
	char conf[4200], *end;
	double f;
	int ch;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 't': threshold = optarg; break;
		case 'h': fputs(gc_usage, stdout); return EXIT_OK;
		default: usage_of(stderr, gc_usage, NULL, false); return EXIT_USAGE;
		}
	}
	f = strtod(threshold, &end);
	if (argc - optind != 1 || *end || f < 0 || f > 1) {
		usage_of(stderr, gc_usage, NULL, false);
		return EXIT_USAGE;
	}
	snprintf(conf, sizeof(conf), "%s/aifs.conf", argv[optind]);
	if (access(conf, F_OK) == 0)
		return gc_offline(argv[optind], f);
	return gc_online(argv[optind], threshold);
}
