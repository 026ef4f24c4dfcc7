/* aifsctl.c — the aifs control tool: one grammar, `aifsctl CMD [ARGS]`.
 *
 * Offline commands (mkfs, fsck) open a store through meta/ and tier/;
 * commands on a mounted filesystem use the mount only.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta/store.h"
#include "tier/log.h"
#include "tools/aifsctl.h"
#include "tools/common.h"

static const char usage_text[] =
	"usage: aifsctl COMMAND [ARGS]\n"
	"\n"
	"commands:\n"
	"  mkfs [--data|--cold ...] [--segment-size MIB] STORE   create a new store\n"
	"  fsck [--repair] STORE      check (and repair) an unmounted store\n"
	"  status [--json] MOUNT      store, space, versions, snapshots, journal, daemon\n"
	"  stats [--json] MOUNT       operation counts, bytes and latency percentiles\n"
	"  versions [--json] FILE     list the versions of a checkpoint file\n"
	"  checkpoint commit DIR      commit a checkpoint directory as one version\n"
	"  restore FILE N             make version N of FILE the newest (no copy)\n"
	"  promote FILE[@vN] DEST     publish a version as a new file (no copy)\n"
	"  clone SRC DEST             writable copy of a file or tree, sharing data\n"
	"  du [--json] PATH...        bytes a tree, version, snapshot or clone holds alone\n"
	"  hold|unhold FILE@vN TAG    keep a version (deleting its file gives EBUSY)\n"
	"  retain DIR --last N [--every K]  versions kept of DIR's checkpoint files\n"
	"  snapshot create DS TAG     freeze dataset directory DS as TAG\n"
	"  snapshot delete DS TAG     drop snapshot TAG of DS\n"
	"  snapshot list [--json] DS  list the snapshots of DS\n"
	"  snapshot manifest DS TAG   JSON lines: path, size, sha256, mode, mtime\n"
	"  snapshot diff [--json] DS A B  paths added, removed, changed from A to B\n"
	"  audit verify STORE         check the journal with only the public key\n"
	"  audit verify --against FILE STORE  also check it extends witnessed checkpoints\n"
	"  audit verify --bundle B    check a proof bundle offline\n"
	"  audit export STORE DIR     write records, checkpoints and public key\n"
	"  audit prove FILE --line N  write a proof bundle of one journal line\n"
	"  audit witness MOUNT FILE   append the newest signed checkpoint to FILE\n"
	"  audit pubkey STORE         print the public key of the journal\n"
	"  audit head MOUNT           print the newest signed checkpoint\n"
	"  audit hold|unhold FILE TAG set or clear a legal hold on a journal file\n"
	"  audit release FILE         lift retention (root, governance mode)\n"
	"  policy get DIR             show the area policy of a directory\n"
	"  policy set DIR POLICY      mark a directory checkpoint|dataset|journal|plain\n"
	"  lineage [--json|--openlineage] PATH  what a checkpoint version was made from\n"
	"  tier status [--json] MOUNT extents, bytes, compression per tier\n"
	"  tier migrate PATH --to T   move PATH to the hot or cold tier\n"
	"  tier pin PATH hot|cold|none  keep PATH in a tier\n"
	"  gc [--threshold F] MOUNT|STORE  compact segments, report bytes reclaimed\n"
	"  rados unlock STORE         break the pool lock a dead host left on STORE\n"
	"  recover rados:POOL/NAME DIR  rebuild a store with its data in RADOS from the pool\n"
	"  promote-primary REPLICA    a follower's replica becomes the writer (fail-over)\n"
	"\n"
	"  aifsctl COMMAND --help     help on one command\n"
	"  aifsctl --version          print the version\n"
	"\n"
	"Exit status: 0 ok, 1 problem found or failure, 2 usage error.  See aifsctl(8).\n";

static const char mkfs_usage[] =
	"usage: aifsctl mkfs [--data rados:POOL[/NAME]] [--cold PATH|rados:POOL[/NAME]]\n"
	"                    [--ceph-conf FILE] [--ceph-user NAME] [--segment-size MIB] STORE\n"
	"\n"
	"Create a new aifs store in STORE, which must be absent or empty.\n"
	"  --data rados:POOL[/NAME]  keep all data in Ceph (the hot tier and, unless --cold\n"
	"                       says otherwise, the cold one); the metadata is shipped there\n"
	"                       too, for aifsctl recover\n"
	"  --cold PATH          keep the cold tier in PATH (default STORE/cold)\n"
	"  --cold rados:POOL[/NAME]  keep the cold tier in Ceph pool POOL under the RADOS\n"
	"                       namespace NAME (default: the store's uuid), which must be empty\n"
	"  --ceph-conf FILE     the cluster's ceph.conf (default: Ceph's own search)\n"
	"  --ceph-user NAME     the Ceph user (default: Ceph's default, admin)\n"
	"  --segment-size MIB   cut segment files at MIB MiB (16..1024, default 1024)\n";

static int cmd_mkfs(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "cold", required_argument, NULL, 'c' },
		{ "data", required_argument, NULL, 'D' },
		{ "segment-size", required_argument, NULL, 's' },
		{ "ceph-conf", required_argument, NULL, 'C' },
		{ "ceph-user", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct store_opts o = { .rados_timeout = -1 };
	const char *cold = NULL;
	unsigned long long seg = 0;
	char err[1024], *end;
	int ch;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': cold = optarg; break;
		case 'C': o.ceph_conf = optarg; break;
		case 'D': o.data = optarg; break;
		case 'U': o.ceph_user = optarg; break;
		case 's':
			seg = strtoull(optarg, &end, 10) << 20;
			if (*end || seg < TIER_SEG_MIN || seg > TIER_SEG_MAX) {
				fprintf(stderr, "aifsctl mkfs: --segment-size must be 16..1024 (MiB)\n");
				return EXIT_USAGE;
			}
			break;
		case 'h': fputs(mkfs_usage, stdout); return EXIT_OK;
		default: usage_of(stderr, mkfs_usage, NULL, false); return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		usage_of(stderr, mkfs_usage, NULL, false);
		return EXIT_USAGE;
	}
	o.cold = cold;
	o.segment_size = seg;
	if (store_mkfs_opts(argv[optind], &o, err, sizeof(err)) < 0) {
		fprintf(stderr, "aifsctl mkfs: %s\n", err);
		return EXIT_PROBLEM;
	}
	printf("created aifs store %s (format %d)\n", argv[optind], STORE_FORMAT);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	log_init("aifsctl", 1, LOG_WARNING);
	if (argc < 2) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(usage_text, stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("aifsctl %s\n", AIFS_VERSION);
		return EXIT_OK;
	}
	/* "aifsctl restore FILE --help": help wherever it stands; a command
	 * with verbs keeps the verb ("aifsctl snapshot create --help"). */
	for (int i = 2; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			bool verb = i > 2 && argv[2][0] != '-' && (!strcmp(argv[1], "snapshot") ||
				!strcmp(argv[1], "audit") || !strcmp(argv[1], "policy") ||
				!strcmp(argv[1], "tier"));

			argv[verb ? 3 : 2] = "--help";
			argc = verb ? 4 : 3;
			break;
		}
	if (!strcmp(argv[1], "mkfs"))
		return cmd_mkfs(argc - 1, argv + 1);
	if (!strcmp(argv[1], "fsck"))
		return cmd_fsck(argc - 1, argv + 1);
	if (!strcmp(argv[1], "status") || !strcmp(argv[1], "stats"))
		return cmd_status(argc - 1, argv + 1);
	if (!strcmp(argv[1], "versions"))
		return cmd_versions(argc - 1, argv + 1);
	if (!strcmp(argv[1], "du"))
		return cmd_du(argc - 1, argv + 1);
	if (!strcmp(argv[1], "promote-primary"))
		return cmd_promote_primary(argc - 1, argv + 1);
	if (!strcmp(argv[1], "restore") || !strcmp(argv[1], "promote") ||
	    !strcmp(argv[1], "clone") ||
	    !strcmp(argv[1], "checkpoint") ||
	    !strcmp(argv[1], "hold") || !strcmp(argv[1], "unhold") || !strcmp(argv[1], "retain"))
		return cmd_checkpoint(argc - 1, argv + 1);
	if (!strcmp(argv[1], "snapshot"))
		return cmd_snapshot(argc - 1, argv + 1);
	if (!strcmp(argv[1], "audit"))
		return cmd_audit(argc - 1, argv + 1);
	if (!strcmp(argv[1], "policy"))
		return cmd_policy(argc - 1, argv + 1);
	if (!strcmp(argv[1], "lineage"))
		return cmd_lineage(argc - 1, argv + 1);
	if (!strcmp(argv[1], "tier"))
		return cmd_tier(argc - 1, argv + 1);
	if (!strcmp(argv[1], "gc"))
		return cmd_gc(argc - 1, argv + 1);
	if (!strcmp(argv[1], "rados"))
		return cmd_rados(argc - 1, argv + 1);
	if (!strcmp(argv[1], "recover"))
		return cmd_recover(argc - 1, argv + 1);
	fprintf(stderr, "aifsctl: unknown command '%s'\n%s", argv[1], usage_text);
	return EXIT_USAGE;
}
