/* ducmd.c — `aifsctl du`: what a tree, a version, a snapshot or a clone
 * holds alone, read from the attribute user.aifs.du (fs/du.c defines the
 * figures), since du(1) counts data shared by several names once per name.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "tools/aifsctl.h"
#include "tools/common.h"

static const char du_usage[] =
	"usage: aifsctl du [--json] PATH...\n"
	"\n"
	"For each PATH (a file or directory of a mounted aifs: a tree, a version,\n"
	"a snapshot, a clone), print its logical bytes, the stored bytes it\n"
	"references, the part of them that nothing else references (UNIQUE: what\n"
	"removing it gives back) and the part shared with other files, versions,\n"
	"snapshots or clones (SHARED).\n";

static const char *const keys[] = { "logical", "stored", "unique", "shared", "files" };

/* Parse "logical=L stored=S ..." into V (in the order of keys). */
static int parse(const char *s, unsigned long long v[5])
{
	for (int i = 0; i < 5; i++) {
		char k[32];
		const char *at;

		snprintf(k, sizeof(k), "%s=", keys[i]);
		at = strstr(s, k);
		if (!at)
			return -1;
		v[i] = strtoull(at + strlen(k), NULL, 10);
	}
	return 0;
}

int cmd_du(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch, json = 0, status = EXIT_OK, first = 1;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j': json = 1; break;
		case 'h': fputs(du_usage, stdout); return EXIT_OK;
		default: usage_of(stderr, du_usage, NULL, false); return EXIT_USAGE;
		}
	}
	if (optind == argc) {
		usage_of(stderr, du_usage, NULL, false);
		return EXIT_USAGE;
	}
	if (json)
		putchar('[');
	else
		printf("%14s %14s %14s %14s %9s %s\n", "LOGICAL", "STORED", "UNIQUE", "SHARED",
		       "FILES", "PATH");
	for (int i = optind; i < argc; i++) {
		char buf[256];
		unsigned long long v[5];
		ssize_t n = getxattr(argv[i], "user.aifs.du", buf, sizeof(buf) - 1);

		if (n < 0 || (buf[n] = 0, parse(buf, v) < 0)) {
			fprintf(stderr, "aifsctl du: %s: %s\n", argv[i],
				n >= 0 ? "unexpected answer from the daemon" :
				errno == ENOTSUP || errno == ENODATA ? "not on a mounted aifs" :
				strerror(errno));
			status = EXIT_PROBLEM;
			continue;
		}
		if (json) {
			printf("%s{\"path\": ", first ? "" : ", ");
			json_str(argv[i]);
			for (int k = 0; k < 5; k++)
				printf(", \"%s\": %llu", keys[k], v[k]);
			putchar('}');
			first = 0;
		} else {
			char q[TTY_QUOTE_MAX];

			printf("%14llu %14llu %14llu %14llu %9llu %s\n", v[0], v[1], v[2], v[3], v[4],
			       tty_quote(argv[i], q, sizeof(q)));
		}
	}
	if (json)
		printf("]\n");
	return status;
}
