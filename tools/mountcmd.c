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

static const char versions_usage[] =
	"usage: aifsctl versions [--json] FILE|DIR\n"
	"\n"
	"List the versions of FILE, a file or a versioned directory in a checkpoint\n"
	"area of a mounted aifs: number, commit time, size, complete flag, SHA-256\n"
	"(of a directory version: its manifest digest, see aifs(7)) and writer.\n";

/* The whole content of PATH, malloc'd and NUL-terminated; NULL and errno
 * set on failure. */
static char *read_all(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 1 << 16, n = 0;
	char *buf = fd >= 0 ? malloc(cap) : NULL;

	while (buf) {
		ssize_t r;

		if (n + 1 == cap) {
			char *b = realloc(buf, cap *= 2);

			if (!b) {
				free(buf);
				buf = NULL;
				errno = ENOMEM;
				break;
			}
			buf = b;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(buf);
			buf = NULL;
			errno = e;
			break;
		}
		if (r == 0) {
			buf[n] = 0;
			*len = n;
			break;
		}
		n += (size_t)r;
	}
	if (fd >= 0) {
		int e = errno;

		close(fd);
		errno = e;
	}
	return buf;
}

/* A reader of the listing (DIR/.aifs/versions/FILE/index.json): JSON of
 * flat objects, read in place.  jansson's tree of it took 60% of the time
 * of this command at 10,000 versions. */
struct jscan {
	const char *p, *end;
};

static bool jpeek(struct jscan *s, char c)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\t' || *s->p == '\r'))
		s->p++;
	return s->p < s->end && *s->p == c;
}

static bool jtake(struct jscan *s, char c)
{
	if (!jpeek(s, c))
		return false;
	s->p++;
	return true;
}

/* A string into OUT (LEN bytes, NUL-terminated, cut if longer); a \u escape
 * below U+0100 is that byte (the daemon writes each byte outside printable
 * ASCII so), a higher one its UTF-8. */
static bool jstring(struct jscan *s, char *out, size_t len)
{
	size_t o = 0;

	if (!jtake(s, '"'))
		return false;
	while (s->p < s->end && *s->p != '"') {
		unsigned c = (unsigned char)*s->p++;
		char u[4];
		size_t n = 1;

		if (c == '\\') {
			if (s->p >= s->end)
				return false;
			c = (unsigned char)*s->p++;
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u': {
				char hex[5];

				if (s->end - s->p < 4)
					return false;
				memcpy(hex, s->p, 4);
				hex[4] = 0;
				s->p += 4;
				c = (unsigned)strtoul(hex, NULL, 16);
				break;
			}
			default: break;	/* \" \\ \/ */
			}
		}
		if (c < 0x100) {
			u[0] = (char)c;
		} else if (c < 0x800) {
			u[0] = (char)(0xc0 | c >> 6);
			u[1] = (char)(0x80 | (c & 0x3f));
			n = 2;
		} else {
			u[0] = (char)(0xe0 | c >> 12);
			u[1] = (char)(0x80 | ((c >> 6) & 0x3f));
			u[2] = (char)(0x80 | (c & 0x3f));
			n = 3;
		}
		for (size_t i = 0; i < n && o + 1 < len; i++)
			out[o++] = u[i];
	}
	if (len)
		out[o] = 0;
	return jtake(s, '"');
}

/* A number, true, false or null into *V (true 1, the others 0). */
static bool jscalar(struct jscan *s, long long *v)
{
	char *e;

	jpeek(s, 0);
	*v = 0;
	if (s->end - s->p >= 4 && !memcmp(s->p, "true", 4)) {
		*v = 1;
		s->p += 4;
		return true;
	}
	if (s->end - s->p >= 5 && !memcmp(s->p, "false", 5)) {
		s->p += 5;
		return true;
	}
	if (s->end - s->p >= 4 && !memcmp(s->p, "null", 4)) {
		s->p += 4;
		return true;
	}
	*v = strtoll(s->p, &e, 10);
	if (e == s->p)
		return false;
	s->p = e;
	return true;
}

struct vrow {
	long long version, time_ns, size, complete;
	char sha[72], writer[128];
};

/* One version's object into *R. */
static bool jrow(struct jscan *s, struct vrow *r)
{
	memset(r, 0, sizeof(*r));
	if (!jtake(s, '{'))
		return false;
	if (jtake(s, '}'))
		return true;
	do {
		char key[32], skip[8];
		long long v;
		bool ok;

		if (!jstring(s, key, sizeof(key)) || !jtake(s, ':'))
			return false;
		if (jpeek(s, '"'))
			ok = jstring(s, !strcmp(key, "sha256") ? r->sha : !strcmp(key, "writer") ?
				     r->writer : skip, !strcmp(key, "sha256") ? sizeof(r->sha) :
				     !strcmp(key, "writer") ? sizeof(r->writer) : sizeof(skip));
		else if ((ok = jscalar(s, &v))) {
			if (!strcmp(key, "version"))
				r->version = v;
			else if (!strcmp(key, "time_ns"))
				r->time_ns = v;
			else if (!strcmp(key, "size"))
				r->size = v;
			else if (!strcmp(key, "complete"))
				r->complete = v;
		}
		if (!ok)
			return false;
	} while (jtake(s, ','));
	return jtake(s, '}');
}

int cmd_versions(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char dir[4096], *d, *b, vlist[8192], *text, key[32];
	struct jscan s;
	struct vrow r;
	long long cur = 0;
	size_t len, i = 0;
	int ch, json = 0;
	bool ok;

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
	/* one read of the listing, not a lookup and a few attributes per version */
	snprintf(vlist, sizeof(vlist), "%s/.aifs/versions/%s/index.json", d, b);
	text = read_all(vlist, &len);
	if (!text) {
		fprintf(stderr, "aifsctl versions: %s has no versions (%s); is it a file in a "
			"checkpoint area of a mounted aifs?\n", argv[optind], strerror(errno));
		return EXIT_PROBLEM;
	}
	/* {"current": N|null, "versions": [...]} */
	s.p = text;
	s.end = text + len;
	ok = jtake(&s, '{') && jstring(&s, key, sizeof(key)) && !strcmp(key, "current") &&
	     jtake(&s, ':') && jscalar(&s, &cur) && jtake(&s, ',') &&
	     jstring(&s, key, sizeof(key)) && !strcmp(key, "versions") && jtake(&s, ':') &&
	     jtake(&s, '[');
	if (json) {
		printf("{\"file\": ");
		json_str(argv[optind]);
		if (cur)
			printf(", \"current\": %lld, \"versions\": [", cur);
		else
			printf(", \"current\": null, \"versions\": [");
	} else {
		printf("%-8s %-20s %14s %-9s %-16s %s\n", "VERSION", "TIME", "SIZE", "COMPLETE",
		       "SHA256", "WRITER");
	}
	while (ok && !jpeek(&s, ']')) {
		char when[32];
		time_t sec;
		struct tm tm;

		if (i && !jtake(&s, ',')) {
			ok = false;
			break;
		}
		if (!(ok = jrow(&s, &r)))
			break;
		sec = (time_t)(r.time_ns / 1000000000 - (r.time_ns < 0 && r.time_ns % 1000000000));
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&sec, &tm));
		if (json) {
			printf("%s{\"version\": %lld, \"time\": \"%s\", \"size\": %lld, "
			       "\"complete\": %s, \"current\": %s, \"sha256\": ", i ? ", " : "",
			       r.version, when, r.size, r.complete ? "true" : "false",
			       r.version == cur ? "true" : "false");
			json_str(r.sha);
			fputs(", \"writer\": ", stdout);
			json_str(r.writer);
			putchar('}');
		} else {
			char q[TTY_QUOTE_MAX];

			printf("%-8lld %-20s %14lld %-9s %-16.16s %s%s\n", r.version, when, r.size,
			       r.complete ? "true" : "false", r.sha, tty_quote(r.writer, q, sizeof(q)),
			       r.version == cur ? "  (current)" : "");
		}
		i++;
	}
	if (json)
		printf("]}\n");
	if (!ok) {
		fflush(stdout);
		fprintf(stderr, "aifsctl versions: %s: the listing of %s cannot be read (at byte "
			"%zu)\n", vlist, argv[optind], (size_t)(s.p - text));
	}
	free(text);
	return ok ? EXIT_OK : EXIT_PROBLEM;
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
