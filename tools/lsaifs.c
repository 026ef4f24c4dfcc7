/* lsaifs.c — `ls` with the lifecycle columns of aifs.
 *
 * Everything comes through the mount: lstat(2), the user.aifs.* attributes
 * and the hidden, reachable-by-name DIR/.aifs/versions/NAME and
 * DIR/.aifs/snapshots directories.  So lsaifs needs no privileges beyond
 * reading the paths it lists, and on a file system that is not aifs it
 * still lists names, modes and sizes (the aifs columns show "-").
 *
 * The JSON document (--json) is an interface: its keys are documented in
 * lsaifs(1) and checked by test/integration/test_docs.py; add keys, never
 * rename or drop them without raising "version".
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "tools/aifsctl.h"
#include "tools/common.h"

#define JSON_SCHEMA_VERSION 1

struct opts {
	int lng, all, recurse, dirs, versions, json, human;
};

struct version {
	unsigned long num;
	time_t time;
	long long size;
	int complete;		/* 1, 0, or -1 when unknown */
	char sha[65];
};

/* What lsaifs knows about one name.  Strings are "" when unknown. */
struct info {
	char *path;		/* as the user would type it; owned */
	const char *name;	/* points into path, or "." style operand */
	struct stat st;
	long long stored;	/* bytes in the tiers (compressed), else st_blocks * 512 */
	char area[16];
	long version;		/* current version, or -1 */
	long nversions;		/* entries in .aifs/versions/NAME, or -1 */
	int complete;		/* 1, 0, or -1 when unknown */
	char tier[16];
	char sha[65];
	int sealed;		/* journal files: 1 or 0; else -1 */
	char retain[32];	/* journal files: user.aifs.retain_until */
	char holds[256];	/* journal files: legal hold tags, comma-separated */
	char **snaps;		/* tags of a dataset directory (NULL: not one) */
	size_t nsnaps;
	struct version *vers;	/* only with --versions */
	size_t nvers;
	char link[4096];	/* symlink target, for -l */
};

static const struct opts *opt;
static int status = EXIT_OK;
static int json_first = 1;

static void problem(const char *path, int err)
{
	fprintf(stderr, "lsaifs: %s: %s\n", path, strerror(err));
	status = EXIT_PROBLEM;
}

/* Read attribute NAME of PATH into BUF as a string; "" when absent. */
static void attr(const char *path, const char *name, char *buf, size_t len)
{
	ssize_t n = lgetxattr(path, name, buf, len - 1);

	buf[n > 0 ? n : 0] = 0;
}

static int tristate(const char *s)
{
	return !strcmp(s, "true") ? 1 : !strcmp(s, "false") ? 0 : -1;
}

static char *join(const char *dir, const char *name)
{
	size_t dl = strlen(dir);
	char *p = malloc(dl + strlen(name) + 2);

	if (!p) {
		perror("lsaifs");
		exit(EXIT_PROBLEM);
	}
	sprintf(p, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", name);
	return p;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_ver(const void *a, const void *b)
{
	unsigned long x = ((const struct version *)a)->num, y = ((const struct version *)b)->num;

	return x < y ? -1 : x > y;
}

/* Names in DIR, sorted; dot names only when DOTS.  Returns the count or -errno;
 * the caller frees each name and *OUT. */
static long read_names(const char *dir, int dots, char ***out)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		const char *s = de->d_name;

		if (!strcmp(s, ".") || !strcmp(s, "..") || !strcmp(s, ".aifs") ||
		    (s[0] == '.' && !dots))
			continue;
		if (n == cap) {
			char **t = realloc(v, (cap = cap ? cap * 2 : 64) * sizeof(*t));

			if (!t)
				break;
			v = t;
		}
		if (!(v[n] = strdup(s)))
			break;
		n++;
	}
	closedir(d);
	if (de) {
		while (n)
			free(v[--n]);
		free(v);
		return -ENOMEM;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	*out = v;
	return (long)n;
}

static void free_names(char **v, long n)
{
	while (n > 0)
		free(v[--n]);
	free(v);
}

/* The versions of NAME in directory DIR: their count, and with --versions
 * their records in I->vers.  Leaves -1 when NAME has no versions. */
static void load_versions(struct info *i, const char *dir, const char *name)
{
	char *vd = join(dir, ".aifs/versions"), *vdir = join(vd, name), **names = NULL;
	long n = read_names(vdir, 0, &names);

	free(vd);
	if (n >= 0 && opt->versions && n)
		i->vers = calloc((size_t)n, sizeof(*i->vers));
	for (long k = 0; k < n; k++) {
		char *end, *p, buf[16];
		unsigned long num = strtoul(names[k], &end, 10);
		struct version *v;
		struct stat st;

		if (*end || !num)
			continue;
		i->nversions = i->nversions < 0 ? 1 : i->nversions + 1;
		if (!i->vers)
			continue;
		p = join(vdir, names[k]);
		if (lstat(p, &st) == 0) {	/* else pruned meanwhile */
			v = &i->vers[i->nvers++];
			v->num = num;
			v->time = st.st_mtime;
			v->size = st.st_size;
			attr(p, "user.aifs.complete", buf, sizeof(buf));
			v->complete = tristate(buf);
			attr(p, "user.aifs.sha256", v->sha, sizeof(v->sha));
		}
		free(p);
	}
	if (i->nvers)
		qsort(i->vers, i->nvers, sizeof(*i->vers), cmp_ver);
	if (n >= 0 && i->nversions < 0 && !strcmp(i->area, "checkpoint"))
		i->nversions = 0;
	if (n > 0)
		free_names(names, n);
	free(vdir);
}

static void load_snapshots(struct info *i)
{
	char *sd = join(i->path, ".aifs/snapshots");
	long n = read_names(sd, 0, &i->snaps);

	if (n >= 0) {
		i->nsnaps = (size_t)n;
		if (!i->snaps)
			i->snaps = calloc(1, sizeof(char *));	/* a dataset dir with none */
	}
	free(sd);
}

/* Fill I for PATH (owned by I from now on), named NAME, in directory DIR.
 * FOLLOW: stat through a symbolic link (command-line operands).  Returns 0 or -errno. */
static int info_load(struct info *i, char *path, const char *dir, const char *name, int follow)
{
	char buf[32], *target = NULL;

	memset(i, 0, sizeof(*i));
	i->path = path;
	i->name = name;
	i->version = i->nversions = -1;
	if ((follow ? stat(path, &i->st) : lstat(path, &i->st)) < 0)
		return -errno;
	if (S_ISLNK(i->st.st_mode)) {
		ssize_t n = readlink(path, i->link, sizeof(i->link) - 1);

		i->link[n > 0 ? n : 0] = 0;
	}
	/* An operand that is a link to a file: ask the target for its attributes. */
	if (follow && !S_ISLNK(i->st.st_mode)) {
		target = realpath(path, NULL);
		path = target ? target : path;
	}
	attr(path, "user.aifs.area", i->area, sizeof(i->area));
	attr(path, "user.aifs.version", buf, sizeof(buf));
	i->version = buf[0] ? strtol(buf, NULL, 10) : -1;
	attr(path, "user.aifs.complete", buf, sizeof(buf));
	i->complete = tristate(buf);
	attr(path, "user.aifs.tier", i->tier, sizeof(i->tier));
	i->stored = (long long)i->st.st_blocks * 512;
	if (S_ISREG(i->st.st_mode)) {
		attr(path, "user.aifs.stored_size", buf, sizeof(buf));
		if (buf[0])
			i->stored = strtoll(buf, NULL, 10);
		attr(path, "user.aifs.sha256", i->sha, sizeof(i->sha));
	}
	attr(path, "user.aifs.sealed", buf, sizeof(buf));
	i->sealed = tristate(buf);
	if (i->sealed >= 0) {
		attr(path, "user.aifs.retain_until", i->retain, sizeof(i->retain));
		attr(path, "user.aifs.holds", i->holds, sizeof(i->holds));
	}
	if (!strcmp(i->area, "checkpoint"))
		load_versions(i, dir, name);
	if (S_ISDIR(i->st.st_mode) && !strcmp(i->area, "dataset"))
		load_snapshots(i);
	free(target);
	return 0;
}

static void info_free(struct info *i)
{
	for (size_t k = 0; k < i->nsnaps; k++)
		free(i->snaps[k]);
	free(i->snaps);
	free(i->vers);
	free(i->path);
}

/* ------------------------------------------------------------ text output */

enum { C_MODE, C_SIZE, C_STORED, C_AREA, C_VER, C_VERS, C_COMPLETE, C_TIER, C_SHA,
       C_SEALED, C_RETAIN, C_SNAPS, NCOLS };

static const char *const heads[NCOLS] = {
	"MODE", "SIZE", "STORED", "AREA", "VER", "VERS", "COMPLETE", "TIER", "SHA256",
	"SEALED", "RETAIN", "SNAPSHOTS"
};
static const int right[NCOLS] = { [C_SIZE] = 1, [C_STORED] = 1, [C_VER] = 1, [C_VERS] = 1 };

static void mode_str(mode_t m, char *s)
{
	static const char types[] = "?pc?d?b?-?l?s???";
	static const char rwx[] = "rwxrwxrwx";

	s[0] = types[(m >> 12) & 15];
	for (int k = 0; k < 9; k++)
		s[k + 1] = m & (0400 >> k) ? rwx[k] : '-';
	if (m & S_ISUID)
		s[3] = m & S_IXUSR ? 's' : 'S';
	if (m & S_ISGID)
		s[6] = m & S_IXGRP ? 's' : 'S';
	if (m & S_ISVTX)
		s[9] = m & S_IXOTH ? 't' : 'T';
	s[10] = 0;
}

/* BYTES as -l shows it: exact, or with -h in K, M, G... (powers of 1024,
 * one decimal below 10, as ls -h). */
static char *size_str(long long bytes)
{
	static const char units[] = "KMGTPE";
	double v = (double)bytes;
	char *s;
	int u = -1;

	if (!opt->human || bytes < 1024) {
		if (asprintf(&s, "%lld", bytes) < 0)
			exit(EXIT_PROBLEM);
		return s;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (asprintf(&s, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]) < 0)
		exit(EXIT_PROBLEM);
	return s;
}

static const char *or_dash(const char *s)
{
	return s[0] ? s : "-";
}

static const char *complete_str(int c)
{
	return c < 0 ? "-" : c ? "yes" : "no";
}

/* The -l cells of I; each an allocated string. */
static void cells(const struct info *i, char **c)
{
	char m[11], *snaps = NULL;
	size_t len = 0;

	mode_str(i->st.st_mode, m);
	c[C_MODE] = strdup(m);
	c[C_SIZE] = size_str(i->st.st_size);
	c[C_STORED] = size_str(i->stored);
	c[C_AREA] = strdup(or_dash(i->area));
	if (i->version < 0 ? !(c[C_VER] = strdup("-")) : asprintf(&c[C_VER], "%ld", i->version) < 0)
		exit(EXIT_PROBLEM);
	if (i->nversions < 0 ? !(c[C_VERS] = strdup("-")) :
	    asprintf(&c[C_VERS], "%ld", i->nversions) < 0)
		exit(EXIT_PROBLEM);
	c[C_COMPLETE] = strdup(complete_str(i->complete));
	c[C_TIER] = strdup(or_dash(i->tier));
	c[C_SHA] = strndup(or_dash(i->sha), 12);
	c[C_SEALED] = strdup(complete_str(i->sealed));
	if (i->holds[0])
		c[C_RETAIN] = strdup("held");	/* a legal hold outlasts any date */
	else
		c[C_RETAIN] = strdup(or_dash(i->retain));
	for (size_t k = 0; k < i->nsnaps; k++)
		len += strlen(i->snaps[k]) + 1;
	if (len && (snaps = malloc(4 * len))) {
		static char q[TTY_QUOTE_MAX];

		snaps[0] = 0;
		for (size_t k = 0; k < i->nsnaps; k++)
			strcat(strcat(snaps, k ? "," : ""), tty_quote(i->snaps[k], q, sizeof(q)));
	}
	c[C_SNAPS] = snaps ? snaps : strdup("-");
}

static void print_versions(const struct info *i)
{
	for (size_t k = 0; k < i->nvers; k++) {
		const struct version *v = &i->vers[k];
		char when[32];

		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&v->time));
		printf("    @v%-5lu %-20s %14lld  %-10s %.12s%s\n", v->num, when, v->size,
		       v->complete < 0 ? "-" : v->complete ? "complete" : "incomplete",
		       or_dash(v->sha), i->version >= 0 && (unsigned long)i->version == v->num ?
		       "  (current)" : "");
	}
}

/* Print the rows of V: names, or the -l table with one header. */
static void print_table(struct info *v, size_t n)
{
	static char q[TTY_QUOTE_MAX], ql[TTY_QUOTE_MAX];
	char *(*c)[NCOLS] = NULL;
	int w[NCOLS];

	if (!opt->lng) {
		for (size_t k = 0; k < n; k++) {
			printf("%s\n", tty_quote(v[k].name, q, sizeof(q)));
			if (opt->versions)
				print_versions(&v[k]);
		}
		return;
	}
	if (n && !(c = calloc(n, sizeof(*c))))
		exit(EXIT_PROBLEM);
	for (int j = 0; j < NCOLS; j++)
		w[j] = (int)strlen(heads[j]);
	for (size_t k = 0; k < n; k++) {
		cells(&v[k], c[k]);
		for (int j = 0; j < NCOLS; j++) {
			if (!c[k][j])
				exit(EXIT_PROBLEM);
			if ((int)strlen(c[k][j]) > w[j])
				w[j] = (int)strlen(c[k][j]);
		}
	}
	for (int j = 0; j < NCOLS; j++)
		printf("%*s  ", right[j] ? w[j] : -w[j], heads[j]);
	printf("NAME\n");
	for (size_t k = 0; k < n; k++) {
		for (int j = 0; j < NCOLS; j++) {
			printf("%*s  ", right[j] ? w[j] : -w[j], c[k][j]);
			free(c[k][j]);
		}
		if (S_ISLNK(v[k].st.st_mode))
			printf("%s -> %s\n", tty_quote(v[k].name, q, sizeof(q)),
			       tty_quote(v[k].link, ql, sizeof(ql)));
		else
			printf("%s\n", tty_quote(v[k].name, q, sizeof(q)));
		if (opt->versions)
			print_versions(&v[k]);
	}
	free(c);
}

/* ------------------------------------------------------------ JSON output */


static void json_str_or_null(const char *s)
{
	if (s[0])
		json_str(s);
	else
		fputs("null", stdout);
}

static const char *json_bool(int b)
{
	return b < 0 ? "null" : b ? "true" : "false";
}

static const char *type_name(mode_t m)
{
	return S_ISREG(m) ? "file" : S_ISDIR(m) ? "dir" : S_ISLNK(m) ? "symlink" :
	       S_ISFIFO(m) ? "fifo" : S_ISSOCK(m) ? "socket" : S_ISCHR(m) ? "chardev" :
	       S_ISBLK(m) ? "blockdev" : "unknown";
}

static void json_entry(const struct info *i)
{
	printf("%s\n  {\"path\": ", json_first ? "" : ",");
	json_first = 0;
	json_str(i->path);
	printf(", \"name\": ");
	json_str(i->name);
	printf(", \"type\": \"%s\", \"mode\": \"%04o\", \"size\": %lld, \"stored\": %lld",
	       type_name(i->st.st_mode), (unsigned)(i->st.st_mode & 07777),
	       (long long)i->st.st_size, i->stored);
	printf(", \"area\": ");
	json_str_or_null(i->area);
	if (i->version >= 0)
		printf(", \"current_version\": %ld", i->version);
	else
		printf(", \"current_version\": null");
	if (i->nversions >= 0)
		printf(", \"version_count\": %ld", i->nversions);
	else
		printf(", \"version_count\": null");
	if (opt->versions) {
		printf(", \"versions\": [");
		for (size_t k = 0; k < i->nvers; k++) {
			const struct version *v = &i->vers[k];
			char when[32];

			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&v->time));
			printf("%s{\"version\": %lu, \"time\": \"%s\", \"size\": %lld, "
			       "\"complete\": %s, \"sha256\": ", k ? ", " : "", v->num, when,
			       v->size, json_bool(v->complete));
			json_str_or_null(v->sha);
			putchar('}');
		}
		putchar(']');
	}
	printf(", \"complete\": %s, \"tier\": ", json_bool(i->complete));
	json_str_or_null(i->tier);
	printf(", \"sha256\": ");
	json_str_or_null(i->sha);
	printf(", \"snapshots\": ");
	if (i->snaps) {
		putchar('[');
		for (size_t k = 0; k < i->nsnaps; k++) {
			fputs(k ? ", " : "", stdout);
			json_str(i->snaps[k]);
		}
		putchar(']');
	} else {
		fputs("null", stdout);
	}
	printf(", \"sealed\": %s, \"retention_until\": ", json_bool(i->sealed));
	json_str_or_null(i->retain);
	printf(", \"holds\": ");
	if (i->sealed >= 0) {
		char holds[sizeof(i->holds)], *tag, *save = NULL;
		int k = 0;

		memcpy(holds, i->holds, sizeof(holds));
		putchar('[');
		for (tag = strtok_r(holds, ",", &save); tag; tag = strtok_r(NULL, ",", &save)) {
			fputs(k++ ? ", " : "", stdout);
			json_str(tag);
		}
		putchar(']');
	} else {
		fputs("null", stdout);
	}
	putchar('}');
}

/* ------------------------------------------------------------ listing */

static void emit(struct info *v, size_t n)
{
	if (opt->json)
		for (size_t k = 0; k < n; k++)
			json_entry(&v[k]);
	else
		print_table(v, n);
}

/* List the contents of directory DIR; HEADER: print "DIR:" first (text). */
static void list_dir(const char *dir, int header, int *printed)
{
	struct info *v;
	char **names;
	long n = read_names(dir, opt->all, &names);
	size_t m = 0;

	if (n < 0) {
		problem(dir, (int)-n);
		return;
	}
	if (!opt->json) {
		if (*printed)
			putchar('\n');
		if (header) {
			static char q[TTY_QUOTE_MAX];

			printf("%s:\n", tty_quote(dir, q, sizeof(q)));
		}
		*printed = 1;
	}
	v = calloc(n ? (size_t)n : 1, sizeof(*v));
	if (!v)
		exit(EXIT_PROBLEM);
	for (long k = 0; k < n; k++) {
		char *p = join(dir, names[k]);
		int err = info_load(&v[m], p, dir, p + strlen(p) - strlen(names[k]), 0);

		if (err < 0) {
			problem(p, -err);	/* removed meanwhile */
			info_free(&v[m]);
			continue;
		}
		m++;
	}
	emit(v, m);
	for (size_t k = 0; opt->recurse && k < m; k++)
		if (S_ISDIR(v[k].st.st_mode))
			list_dir(v[k].path, 1, printed);
	for (size_t k = 0; k < m; k++)
		info_free(&v[k]);
	free(v);
	free_names(names, n);
}

/* The directory part of an operand ("." for a bare name). */
static char *parent_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d;

	if (!slash)
		return strdup(".");
	while (slash > path && slash[-1] == '/')
		slash--;
	d = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
	return d;
}

static const char *base_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash && slash[1] ? slash + 1 : path;
}

/* Whether directory DIR is on an aifs mount: the root of an aifs mount
 * answers user.aifs.area, which no other file system has. */
static int on_aifs(const char *dir)
{
	char root[PATH_MAX], area[16];

	return mount_root(dir, root, sizeof(root)) == 0 &&
	       getxattr(root, "user.aifs.area", area, sizeof(area)) > 0;
}

/* Operands as ls treats them: files (and, with -d, directories) first, as one
 * table; then each directory's contents. */
static void list_operands(char **paths, int n)
{
	struct info *files = calloc((size_t)n, sizeof(*files));
	char **dirs = calloc((size_t)n, sizeof(*dirs));
	int nf = 0, nd = 0, printed = 0;

	if (!files || !dirs)
		exit(EXIT_PROBLEM);
	for (int k = 0; k < n; k++) {
		char *parent = parent_of(paths[k]), *p = strdup(paths[k]);
		int err;

		if (!parent || !p)
			exit(EXIT_PROBLEM);
		err = info_load(&files[nf], p, parent, base_of(p), 1);
		if (err == 0 && !on_aifs(S_ISDIR(files[nf].st.st_mode) ? p : parent))
			err = -ENOTSUP;
		free(parent);
		if (err == -ENOTSUP) {
			fprintf(stderr, "lsaifs: %s: not on an aifs mount\n", paths[k]);
			status = EXIT_PROBLEM;
			info_free(&files[nf]);
		} else if (err < 0) {
			problem(paths[k], -err);
			info_free(&files[nf]);
		} else if (S_ISDIR(files[nf].st.st_mode) && !opt->dirs) {
			info_free(&files[nf]);
			dirs[nd++] = paths[k];
		} else {
			files[nf].name = files[nf].path;
			nf++;
		}
	}
	if (nf) {
		emit(files, (size_t)nf);
		printed = 1;
	}
	for (int k = 0; k < nd; k++)
		list_dir(dirs[k], n > 1 || opt->recurse, &printed);
	for (int k = 0; k < nf; k++)
		info_free(&files[k]);
	free(files);
	free(dirs);
}

static const char usage_text[] =
	"usage: lsaifs [-l] [-h] [-a] [-R] [-d] [--versions] [--json] [PATH...]\n"
	"\n"
	"List files of a mounted aifs with their lifecycle state (default PATH: .).\n"
	"  -l, --long       columns MODE SIZE STORED AREA VER VERS COMPLETE TIER SHA256\n"
	"                   SEALED RETAIN SNAPSHOTS NAME (\"-\": does not apply)\n"
	"  -h, --human-readable  with -l, sizes in K, M, G (powers of 1024)\n"
	"  -a, --all        also list names starting with a dot (never .aifs)\n"
	"  -R, --recursive  list subdirectories too\n"
	"  -d, --directory  list directories themselves, not their contents\n"
	"      --versions   under each checkpoint file, list every version\n"
	"      --json       one JSON document {\"version\": 1, \"entries\": [...]}\n"
	"      --help       this text\n"
	"  -V, --version    print the version\n"
	"\n"
	"Exit status: 0 ok, 1 a path could not be listed, 2 usage error.  See lsaifs(1).\n";

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "long", no_argument, NULL, 'l' },
		{ "all", no_argument, NULL, 'a' },
		{ "recursive", no_argument, NULL, 'R' },
		{ "directory", no_argument, NULL, 'd' },
		{ "versions", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'j' },
		{ "human-readable", no_argument, NULL, 'h' },
		{ "help", no_argument, NULL, 'H' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	static struct opts o;
	static char *dot[] = { "." };
	int ch;

	while ((ch = getopt_long(argc, argv, "laRdhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l': o.lng = 1; break;
		case 'a': o.all = 1; break;
		case 'R': o.recurse = 1; break;
		case 'd': o.dirs = 1; break;
		case 'v': o.versions = 1; break;
		case 'j': o.json = 1; break;
		case 'h': o.human = 1; break;
		case 'H': fputs(usage_text, stdout); return EXIT_OK;
		case 'V': printf("lsaifs %s\n", AIFS_VERSION); return EXIT_OK;
		default: fputs(usage_text, stderr); return EXIT_USAGE;
		}
	}
	opt = &o;
	if (o.json)
		printf("{\"version\": %d, \"entries\": [", JSON_SCHEMA_VERSION);
	if (optind < argc)
		list_operands(argv + optind, argc - optind);
	else
		list_operands(dot, 1);
	if (o.json)
		printf("%s]}\n", json_first ? "" : "\n");
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("lsaifs: standard output");
		return EXIT_PROBLEM;
	}
	return status;
}
