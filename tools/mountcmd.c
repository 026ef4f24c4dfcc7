/* mountcmd.c — aifsctl commands that work through a mounted filesystem:
 * `versions` and `policy`.  They use only plain file operations (the
 * .aifs views and user.aifs.* attributes), so any user who can read a
 * path can run them, and a script can do the same without aifsctl.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fs/aifs_ioctl.h"
#include "tools/aifsctl.h"
#include "tools/common.h"

/* Read attribute NAME of PATH into BUF as a string ("" if absent). */
static void attr(const char *path, const char *name, char *buf, size_t len)
{
	ssize_t n = getxattr(path, name, buf, len - 1);

	buf[n > 0 ? n : 0] = 0;
}

static int cmp_num(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

static const char versions_usage[] =
	"usage: aifsctl versions [--json] FILE|DIR\n"
	"\n"
	"List the versions of FILE, a file or a versioned directory in a checkpoint\n"
	"area of a mounted aifs: number, commit time, size, complete flag, SHA-256\n"
	"(of a directory version: its manifest digest, see aifs(7)) and writer.\n";

int cmd_versions(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char dir[4096], *d, *b, vdir[8192], p[8400], sha[80], comp[16], writer[128], cur[32];
	unsigned long *nums = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int ch, json = 0;
	DIR *dh;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j': json = 1; break;
		case 'h': fputs(versions_usage, stdout); return EXIT_OK;
		default: usage_of(stderr, versions_usage, NULL, false); return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		usage_of(stderr, versions_usage, NULL, false);
		return EXIT_USAGE;
	}
	snprintf(dir, sizeof(dir), "%s", argv[optind]);
	b = basename(argv[optind]);
	d = dirname(dir);
	snprintf(vdir, sizeof(vdir), "%s/.aifs/versions/%s", d, b);
	dh = opendir(vdir);
	if (!dh) {
		fprintf(stderr, "aifsctl versions: %s has no versions (%s); is it a file in a "
			"checkpoint area of a mounted aifs?\n", argv[optind], strerror(errno));
		return EXIT_PROBLEM;
	}
	while ((de = readdir(dh))) {
		char *end;
		unsigned long v = strtoul(de->d_name, &end, 10);

		if (*end || !v)
			continue;
		if (n == cap) {
			unsigned long *t = realloc(nums, (cap = cap ? cap * 2 : 64) * sizeof(*t));

			if (!t) {
				closedir(dh);
				free(nums);
				return EXIT_PROBLEM;
			}
			nums = t;
		}
		nums[n++] = v;
	}
	closedir(dh);
	if (n)
		qsort(nums, n, sizeof(*nums), cmp_num);
	attr(argv[optind], "user.aifs.version", cur, sizeof(cur));
	if (json)
		printf("{\"file\": "), json_str(argv[optind]), printf(", \"current\": %s, \"versions\": [",
								 cur[0] ? cur : "null");
	else
		printf("%-8s %-20s %14s %-9s %-16s %s\n", "VERSION", "TIME", "SIZE", "COMPLETE",
		       "SHA256", "WRITER");
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		char when[32];

		snprintf(p, sizeof(p), "%s/%lu", vdir, nums[i]);
		if (stat(p, &st) < 0)
			continue;	/* pruned meanwhile */
		if (S_ISDIR(st.st_mode)) {	/* a directory version: its files' bytes */
			char sz[32];

			attr(p, "user.aifs.size", sz, sizeof(sz));
			st.st_size = (off_t)strtoll(sz, NULL, 10);
		}
		attr(p, "user.aifs.sha256", sha, sizeof(sha));
		attr(p, "user.aifs.complete", comp, sizeof(comp));
		attr(p, "user.aifs.writer", writer, sizeof(writer));
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&st.st_mtime));
		if (json) {
			printf("%s{\"version\": %lu, \"time\": \"%s\", \"size\": %lld, "
			       "\"complete\": %s, \"current\": %s, \"sha256\": ", i ? ", " : "",
			       nums[i], when, (long long)st.st_size,
			       strcmp(comp, "true") ? "false" : "true",
			       strtoul(cur, NULL, 10) == nums[i] ? "true" : "false");
			json_str(sha);
			printf(", \"writer\": ");
			json_str(writer);
			putchar('}');
		} else {
			char q[TTY_QUOTE_MAX];

			printf("%-8lu %-20s %14lld %-9s %-16.16s %s%s\n", nums[i], when,
			       (long long)st.st_size, comp, sha, tty_quote(writer, q, sizeof(q)),
			       strtoul(cur, NULL, 10) == nums[i] ? "  (current)" : "");
		}
	}
	if (json)
		printf("]}\n");
	free(nums);
	return EXIT_OK;
}

static const char policy_usage[] =
	"usage: aifsctl policy get [--json] DIR\n"
	"       aifsctl policy set DIR checkpoint|dataset|journal|plain\n"
	"\n"
	"Show or set the area policy of a directory of a mounted aifs; what is\n"
	"created below it afterwards inherits it.\n";

int cmd_policy(int argc, char **argv)
{
	char buf[64];

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
			  (argc == 3 && !strcmp(argv[2], "--help")))) {
		usage_of(stdout, policy_usage, argv[1], true);
		return EXIT_OK;
	}
	if ((argc == 3 || (argc == 4 && !strcmp(argv[2], "--json"))) && !strcmp(argv[1], "get")) {
		const char *dir = argv[argc - 1];
		ssize_t n = getxattr(dir, "user.aifs.area", buf, sizeof(buf) - 1);

		if (n < 0) {
			fprintf(stderr, "aifsctl policy: %s: %s (is it on a mounted aifs?)\n",
				dir, strerror(errno));
			return EXIT_PROBLEM;
		}
		buf[n] = 0;
		if (argc == 3) {
			printf("%s\n", buf);
			return EXIT_OK;
		}
		printf("{\"path\": ");
		json_str(dir);
		printf(", \"policy\": ");
		json_str(buf);
		printf("}\n");
		return EXIT_OK;
	}
	if (argc == 4 && !strcmp(argv[1], "set")) {
		if (getxattr(argv[2], "user.aifs.area", buf, sizeof(buf)) < 0) {
			fprintf(stderr, "aifsctl policy: %s is not on a mounted aifs (%s)\n",
				argv[2], strerror(errno));
			return EXIT_PROBLEM;
		}
		if (setxattr(argv[2], "user.aifs.area", argv[3], strlen(argv[3]), 0) < 0) {
			fprintf(stderr, "aifsctl policy: cannot set %s on %s: %s\n", argv[3],
				argv[2], errno == EINVAL ? "unknown policy (checkpoint, dataset, "
				"journal or plain)" : strerror(errno));
			return errno == EINVAL ? EXIT_USAGE : EXIT_PROBLEM;
		}
		return EXIT_OK;
	}
	usage_of(stderr, policy_usage, argc >= 2 ? argv[1] : NULL, false);
	return EXIT_USAGE;
}

static int set_or_fail(const char *cmd, const char *path, const char *name, const char *val)
{
	char area[16];

	/* never set user.aifs.* on another file system, which would keep it */
	if (getxattr(path, "user.aifs.area", area, sizeof(area)) < 0) {
		fprintf(stderr, "aifsctl %s: %s: %s\n", cmd, path, errno == ENOENT ?
			strerror(errno) : "not on a mounted aifs");
		return EXIT_PROBLEM;
	}
	if (setxattr(path, name, val, strlen(val), 0) == 0)
		return EXIT_OK;
	fprintf(stderr, "aifsctl %s: %s: %s\n", cmd, path,
		errno == EBUSY ? "busy (a save is under way, or a held version)" :
		errno == ENOENT ? "no such version" :
		errno == EINVAL ? "not a checkpoint file or version, or a bad value" :
		strerror(errno));
	return EXIT_PROBLEM;
}

/* Make DEST (from the mount root) a copy of SRC sharing its data: through
 * the clone ioctl on SRC opened for reading, which anyone who may read SRC
 * can do (a version or a snapshot included); setting user.aifs.promote
 * needs write permission on SRC. */
static int clone_or_fail(const char *cmd, const char *src, const char *dest)
{
	struct aifs_clone_req r;
	int fd, rc, err;

	if (strlen(dest) >= sizeof(r.dest)) {
		fprintf(stderr, "aifsctl %s: %s: %s\n", cmd, dest, strerror(ENAMETOOLONG));
		return EXIT_PROBLEM;
	}
	fd = open(src, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		fprintf(stderr, "aifsctl %s: %s: %s\n", cmd, src, strerror(errno));
		return EXIT_PROBLEM;
	}
	memset(&r, 0, sizeof(r));
	strcpy(r.dest, dest);
	rc = ioctl(fd, AIFS_IOC_CLONE, &r);
	err = errno;
	close(fd);
	if (rc < 0 && (err == ENOTTY || err == ENOSYS))	/* an older daemon */
		return set_or_fail(cmd, src, "user.aifs.promote", dest);
	if (rc == 0)
		return EXIT_OK;
	fprintf(stderr, "aifsctl %s: %s: %s\n", cmd, src,
		err == ENODATA ? "no complete version to copy" :
		err == EEXIST ? "the destination exists" : strerror(err));
	return EXIT_PROBLEM;
}

/* The commands of checkpoint areas, each with its usage line and help. */
static const struct {
	const char *verb, *usage, *help;
} checkpoint_cmds[] = {
	{ "checkpoint", "checkpoint commit DIR",
	  "commit checkpoint directory DIR as one directory version" },
	{ "restore", "restore FILE|DIR N", "make version N of FILE or DIR the newest (no copy)" },
	{ "promote", "promote FILE[@vN]|DIR@vN DEST",
	  "publish a version of FILE or DIR as DEST (no copy)" },
	{ "clone", "clone SRC DEST",
	  "make DEST a writable copy of file or tree SRC that shares its data" },
	{ "hold", "hold FILE@vN TAG", "keep version N of FILE while TAG holds it" },
	{ "unhold", "unhold FILE@vN TAG", "lift hold TAG from version N of FILE" },
	{ "retain", "retain DIR --last N [--every K]",
	  "keep the last N versions (and every K-th) of DIR's checkpoint files" },
};

/* The usage of checkpoint command VERB to F (with its help when HELP). */
static int checkpoint_usage(const char *verb, FILE *f, bool help)
{
	for (size_t i = 0; i < sizeof(checkpoint_cmds) / sizeof(checkpoint_cmds[0]); i++)
		if (!strcmp(verb, checkpoint_cmds[i].verb)) {
			fprintf(f, "usage: aifsctl %s\n", checkpoint_cmds[i].usage);
			if (help)
				fprintf(f, "\n%s.  See aifsctl(8).\n", checkpoint_cmds[i].help);
		}
	return help ? EXIT_OK : EXIT_USAGE;
}

/* N is a decimal number from 1. */
static bool is_count(const char *n)
{
	return n[0] && n[0] != '0' && strspn(n, "0123456789") == strlen(n);
}

int cmd_checkpoint(int argc, char **argv)
{
	const char *verb = argv[0];
	char buf[8500], root[4096], rdest[4096], *d;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		return checkpoint_usage(verb, stdout, true);
	if (!strcmp(verb, "checkpoint") && argc == 3 && !strcmp(argv[1], "commit"))
		return set_or_fail("checkpoint commit", argv[2], "user.aifs.commit", "1");
	if (!strcmp(verb, "restore") && argc == 3 && is_count(argv[2]))
		return set_or_fail(verb, argv[1], "user.aifs.restore", argv[2]);
	if ((!strcmp(verb, "hold") || !strcmp(verb, "unhold")) && argc == 3) {
		snprintf(buf, sizeof(buf), "user.aifs.%s", verb);
		return set_or_fail(verb, argv[1], buf, argv[2]);
	}
	if ((!strcmp(verb, "promote") || !strcmp(verb, "clone")) && argc == 3) {
		snprintf(buf, sizeof(buf), "%s", argv[2]);
		d = dirname(buf);
		if (mount_root(d, root, sizeof(root)) < 0 || !realpath(d, rdest) ||
		    strncmp(rdest, root, strlen(root))) {
			fprintf(stderr, "aifsctl %s: %s is not on the same mounted aifs\n",
				verb, argv[2]);
			return EXIT_PROBLEM;
		}
		snprintf(buf, sizeof(buf), "%s/%s", rdest + strlen(root), basename(argv[2]));
		return clone_or_fail(verb, argv[1], buf[0] == '/' ? buf + 1 : buf);
	}
	if (!strcmp(verb, "retain") && (argc == 4 || argc == 6) && !strcmp(argv[2], "--last") &&
	    strspn(argv[3], "0123456789") == strlen(argv[3]) && argv[3][0] &&
	    (argc == 4 || (!strcmp(argv[4], "--every") && argv[5][0] &&
			   strspn(argv[5], "0123456789") == strlen(argv[5])))) {
		snprintf(buf, sizeof(buf), "last=%s,every=%s", argv[3], argc == 6 ? argv[5] : "0");
		return set_or_fail(verb, argv[1], "user.aifs.retain", buf);
	}
	if (!strcmp(verb, "restore") && argc == 3)
		fprintf(stderr, "aifsctl restore: '%s' is not a version number\n", argv[2]);
	return checkpoint_usage(verb, stderr, false);
}
