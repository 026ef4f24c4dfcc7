/* radoscmd.c — `aifsctl rados unlock STORE`: break the lock in the pool
 * that a dead host's mount left on a store with a RADOS tier.
 *
 * The lock keeps a second host from writing the store; it outlives a host
 * that died while mounting it.  Breaking it is safe only once that host
 * is known to be dead (or its mount gone): this command cannot tell, so it
 * says whose lock it broke.  A store mounted on this host is refused (its
 * local lock is held): unmount it instead.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "tools/aifsctl.h"

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

int cmd_rados(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ceph-conf", required_argument, NULL, 'C' },
		{ "ceph-user", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct store_opts o = { .rados_timeout = -1 };
	char err[1024] = "";
	int ch, rc;

	if (argc >= 2 && !strcmp(argv[1], "--help")) {
		fputs(rados_usage, stdout);
		return EXIT_OK;
	}
	if (argc < 2 || strcmp(argv[1], "unlock")) {
		fputs(rados_usage, stderr);
		return EXIT_USAGE;
	}
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'C': o.ceph_conf = optarg; break;
		case 'U': o.ceph_user = optarg; break;
		case 'h': fputs(rados_usage, stdout); return EXIT_OK;
		default: fputs(rados_usage, stderr); return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		fputs(rados_usage, stderr);
		return EXIT_USAGE;
	}
	rc = store_rados_unlock(argv[optind], &o, said, NULL, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "aifsctl rados unlock: %s\n", err);
		return EXIT_PROBLEM;
	}
	if (rc == 0)
		printf("%s: no lock held\n", argv[optind]);
	return EXIT_OK;
}
