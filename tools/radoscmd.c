/* radoscmd.c — `aifsctl rados unlock STORE`: break the lock in the pool
 * that a dead host's mount left on a store with a RADOS tier; and
 * `aifsctl recover rados:POOL/NAME DIR`: rebuild a store whose data is in
 * RADOS from the metadata shipped there (meta/ship.h).
 *
 * The lock keeps a second host from writing the store; it outlives a host
 * that died while mounting it.  Breaking it is safe only once that host
 * is known to be dead (or its mount gone): this command cannot tell, so it
 * says whose lock it broke.  A store mounted on this host is refused (its
 * local lock is held): unmount it instead.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meta/ship.h"
#include "tools/aifsctl.h"
#include "tools/common.h"

static const char rados_usage[] =
	"usage: aifsctl rados unlock [--ceph-conf FILE] [--ceph-user NAME] STORE\n"
	"\n"
	"Break the lock that a mount of STORE on a host now dead left on STORE's\n"
	"RADOS tier, so that the store can be mounted again elsewhere.  Only when\n"
	"that host is dead: two hosts writing one store corrupt it.\n";

static void said(void *ctx, const char *who)
{
	(void)ctx;
	printf("broke the lock of %s\n", who);
}

/* Options of the commands that reach the pool for a STORE (--ceph-conf,
 * --ceph-user) into O, with USAGE for --help and for errors: the index of
 * STORE in ARGV (at least 1), or 0 after --help and -EXIT_USAGE after a
 * usage error, when the command is done. */
static int pool_args(int argc, char **argv, const char *usage, struct store_opts *o)
{
	static const struct option longopts[] = {
		{ "ceph-conf", required_argument, NULL, 'C' },
		{ "ceph-user", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'C': o->ceph_conf = optarg; break;
		case 'U': o->ceph_user = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: usage_of(stderr, usage, NULL, false); return -EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		usage_of(stderr, usage, NULL, false);
		return -EXIT_USAGE;
	}
	return optind;
}

int cmd_rados(int argc, char **argv)
{
	struct store_opts o = { .rados_timeout = -1 };
	char err[1024] = "";
	int i, rc;

	if (argc >= 2 && !strcmp(argv[1], "--help")) {
		fputs(rados_usage, stdout);
		return EXIT_OK;
	}
	if (argc < 2 || strcmp(argv[1], "unlock")) {
		usage_of(stderr, rados_usage, NULL, false);
		return EXIT_USAGE;
	}
	i = pool_args(argc - 1, argv + 1, rados_usage, &o);
	if (i <= 0)
		return -i;
	argv += 1 + i;
	rc = store_rados_unlock(argv[0], &o, said, NULL, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "aifsctl rados unlock: %s\n", err);
		return EXIT_PROBLEM;
	}
	if (rc == 0)
		printf("%s: no lock held\n", argv[0]);
	return EXIT_OK;
}

static const char recover_usage[] =
	"usage: aifsctl recover [--ceph-conf FILE] [--ceph-user NAME] rados:POOL/NAME DIR\n"
	"\n"
	"Rebuild in DIR (absent or empty) the store whose data is in rados:POOL/NAME\n"
	"(made by mkfs with its data in RADOS), from the metadata its mounts shipped\n"
	"to the pool.\n"
	"Then break the old host's lock (aifsctl rados unlock DIR) and mount DIR.\n";

int cmd_recover(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ceph-conf", required_argument, NULL, 'C' },
		{ "ceph-user", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct tier_rados_opts ro = { .timeout = STORE_RADOS_TIMEOUT };
	char err[1024] = "", real[PATH_MAX];
	uint64_t seq = 0;
	int ch;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'C': ro.conf = optarg; break;
		case 'U': ro.user = optarg; break;
		case 'h': fputs(recover_usage, stdout); return EXIT_OK;
		default: usage_of(stderr, recover_usage, NULL, false); return EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		usage_of(stderr, recover_usage, NULL, false);
		return EXIT_USAGE;
	}
	if (ro.conf && !realpath(ro.conf, real)) {
		fprintf(stderr, "aifsctl recover: %s: %s\n", ro.conf, strerror(errno));
		return EXIT_PROBLEM;
	}
	if (ro.conf)
		ro.conf = real;
	ro.err = err;
	ro.errlen = sizeof(err);
	if (ship_recover(argv[optind], &ro, argv[optind + 1], &seq, err, sizeof(err)) < 0) {
		fprintf(stderr, "aifsctl recover: %s\n", err);
		return EXIT_PROBLEM;
	}
	printf("recovered %s into %s (metadata up to %llu)\n", argv[optind], argv[optind + 1],
	       (unsigned long long)seq);
	return EXIT_OK;
}

static const char promote_usage[] =
	"usage: aifsctl promote-primary [--ceph-conf FILE] [--ceph-user NAME] REPLICA\n"
	"\n"
	"Make REPLICA, the replica of an unmounted follower mount, the\n"
	"store's writer once its writer's host is lost: break the dead writer's lock\n"
	"in the pool; mounted read-write (aifs REPLICA MOUNTPOINT), it applies all\n"
	"the old writer shipped, then writes and ships as the new writer.  Only when\n"
	"that host is dead: two hosts writing one store corrupt it.\n";

int cmd_promote_primary(int argc, char **argv)
{
	struct store_opts o = { .rados_timeout = -1 };
	char err[1024] = "", seq[PATH_MAX + 16];
	int i = pool_args(argc, argv, promote_usage, &o), rc;

	if (i <= 0)
		return -i;
	argv += i;
	snprintf(seq, sizeof(seq), "%s/follow.seq", argv[0]);
	if (access(seq, F_OK) < 0) {
		fprintf(stderr, "aifsctl promote-primary: %s is not a follower's replica (no "
			"follow.seq)\n", argv[0]);
		return EXIT_PROBLEM;
	}
	rc = store_rados_unlock(argv[0], &o, said, NULL, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "aifsctl promote-primary: %s\n", err);
		return EXIT_PROBLEM;
	}
	printf("%s becomes the writer when mounted read-write: aifs %s MOUNTPOINT\n",
	       argv[0], argv[0]);
	return EXIT_OK;
}
