/* snapcmd.c — `aifsctl snapshot create|delete|list|manifest|diff`, through
 * the mount: a snapshot is DS/.aifs/snapshots/TAG (mkdir makes it, rmdir
 * drops it) and every file's SHA-256 is its user.aifs.sha256 attribute, so
 * manifests and diffs read metadata only.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "tools/aifsctl.h"
#include "tools/common.h"

struct entry {
	char *path;		/* relative to the tree's root */
	long long size;
	unsigned mode;
	long long mtime;
	char sha[65];
};

struct tree {
	struct entry *v;
	size_t n, cap;
	size_t rootlen;
	long long bytes;
};

static struct tree *walking;

static int walk_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	struct tree *t = walking;
	struct entry *e;
	ssize_t n;

	(void)ftw;
	if (type != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		struct entry *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return -1;
		t->v = v;
		t->cap = cap;
	}
	e = &t->v[t->n];
	e->path = strdup(path + t->rootlen + 1);
	if (!e->path)
		return -1;
	e->size = st->st_size;
	e->mode = st->st_mode & 07777;
	e->mtime = st->st_mtime;
	n = getxattr(path, "user.aifs.sha256", e->sha, 64);
	e->sha[n == 64 ? 64 : 0] = 0;
	t->bytes += st->st_size;
	t->n++;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

/* Load the regular files under ROOT, sorted by path. */
static int tree_load(const char *root, struct tree *t)
{
	memset(t, 0, sizeof(*t));
	t->rootlen = strlen(root);
	walking = t;
	if (nftw(root, walk_cb, 64, FTW_PHYS) != 0) {
		fprintf(stderr, "aifsctl snapshot: cannot read %s: %s\n", root, strerror(errno));
		return -1;
	}
	if (t->n)
		qsort(t->v, t->n, sizeof(*t->v), cmp_entry);
	return 0;
}

static void tree_free(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].path);
	free(t->v);
}


static void snapdir(char *buf, size_t len, const char *ds, const char *tag)
{
	if (!tag || !strcmp(tag, "live"))
		snprintf(buf, len, "%s", ds);
	else if (strchr(tag, '/'))	/* any directory: a clone, say */
		snprintf(buf, len, "%s", tag);
	else
		snprintf(buf, len, "%s/.aifs/snapshots/%s", ds, tag);
}

static unsigned long long files_copied(const char *stats)
{
	json_t *d = json_load_file(stats, 0, NULL);
	unsigned long long n = json_u64_at(d, "snapshot_files_copied");

	json_decref(d);
	return n;
}

/* mkdir DS/.aifs/snapshots/TAG.  On a terminal, a snapshot of a large tree
 * shows how many files it has copied (the daemon's count, read from the
 * mount's statistics) while the mkdir runs in a child. */
static int snap_create(const char *ds, const char *tag)
{
	char p[8500], root[PATH_MAX], stats[PATH_MAX + 16] = "";
	struct timespec tick = { 0, 200 * 1000 * 1000 };
	int status, err = 0, ticks = 0;
	bool shown = false;
	pid_t pid;

	snapdir(p, sizeof(p), ds, tag);
	if (isatty(STDERR_FILENO) && mount_root(ds, root, sizeof(root)) == 0)
		snprintf(stats, sizeof(stats), "%s/.aifs/stats", root);
	if (!stats[0] || (pid = fork()) < 0) {
		err = mkdir(p, 0755) < 0 ? errno : 0;
	} else if (pid == 0) {
		_exit(mkdir(p, 0755) < 0 ? errno : 0);
	} else {
		while (waitpid(pid, &status, WNOHANG) == 0) {
			nanosleep(&tick, NULL);
			if (++ticks < 3)
				continue;	/* quick ones show nothing */
			fprintf(stderr, "\rsnapshot %s: %llu files copied", tag, files_copied(stats));
			shown = true;
		}
		err = WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
		if (shown)	/* the count is the daemon's, gone when it is done */
			fprintf(stderr, "\rsnapshot %s: %-30s\n", tag, err ? "failed" : "done");
	}
	if (err) {
		fprintf(stderr, "aifsctl snapshot create: %s: %s\n", p,
			err == EPERM ? "not a directory in a dataset area" : strerror(err));
		return EXIT_PROBLEM;
	}
	return EXIT_OK;
}

/* The files and bytes of snapshot P: the daemon's count (user.aifs.snapshot,
 * a file with several names once); a walk of its tree (each name) only if
 * the mount has no such attribute.  -1 if they cannot be had (EACCES). */
static int snap_figures(const char *p, long long *files, long long *bytes)
{
	unsigned long long f, b;
	char v[128];
	ssize_t n = getxattr(p, "user.aifs.snapshot", v, sizeof(v) - 1);
	struct tree t;

	if (n > 0) {
		v[n] = 0;
		if (sscanf(v, "files=%llu bytes=%llu", &f, &b) == 2) {
			*files = (long long)f;
			*bytes = (long long)b;
			return 0;
		}
	}
	if (n >= 0 || (errno != ENODATA && errno != ENOTSUP) || tree_load(p, &t) < 0)
		return -1;
	*files = (long long)t.n;
	*bytes = t.bytes;
	tree_free(&t);
	return 0;
}

static int snap_list(const char *ds, int json)
{
	char dir[8192], p[8500], when[32];
	struct dirent *de;
	DIR *d;
	int first = 1;

	snprintf(dir, sizeof(dir), "%s/.aifs/snapshots", ds);
	d = opendir(dir);
	if (!d) {
		fprintf(stderr, "aifsctl snapshot: %s: %s (a directory in a dataset area of a "
			"mounted aifs?)\n", ds, strerror(errno));
		return EXIT_PROBLEM;
	}
	if (json)
		printf("[");
	else
		printf("%-24s %-20s %10s %16s\n", "TAG", "TIME", "FILES", "BYTES");
	while ((de = readdir(d))) {
		long long files = -1, bytes = -1;
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (stat(p, &st) < 0)
			continue;	/* dropped meanwhile */
		snap_figures(p, &files, &bytes);	/* unknown (-1) if unreadable */
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&st.st_ctime));
		if (json) {
			printf("%s{\"tag\": ", first ? "" : ", ");
			json_str(de->d_name);
			if (files < 0)
				printf(", \"time\": \"%s\", \"files\": null, \"bytes\": null}", when);
			else
				printf(", \"time\": \"%s\", \"files\": %lld, \"bytes\": %lld}", when,
				       files, bytes);
		} else {
			char q[TTY_QUOTE_MAX], nf[24] = "-", nb[24] = "-";

			if (files >= 0) {
				snprintf(nf, sizeof(nf), "%lld", files);
				snprintf(nb, sizeof(nb), "%lld", bytes);
			}
			printf("%-24s %-20s %10s %16s\n", tty_quote(de->d_name, q, sizeof(q)), when,
			       nf, nb);
		}
		first = 0;
	}
	closedir(d);
	if (json)
		printf("]\n");
	return EXIT_OK;
}

/* The manifest of TAG of DS (JSON lines) to F. */
static int manifest_write(FILE *f, const char *ds, const char *tag)
{
	char root[8192];
	struct tree t;

	snapdir(root, sizeof(root), ds, tag);
	if (tree_load(root, &t) < 0)
		return -1;
	for (size_t i = 0; i < t.n; i++) {
		fprintf(f, "{\"path\": ");
		json_fstr(f, t.v[i].path);
		fprintf(f, ", \"size\": %lld, \"sha256\": \"%s\", \"mode\": \"%04o\", "
			"\"mtime\": %lld}\n", t.v[i].size, t.v[i].sha, t.v[i].mode, t.v[i].mtime);
	}
	tree_free(&t);
	return 0;
}

static int snap_manifest(const char *ds, const char *tag)
{
	return manifest_write(stdout, ds, tag) < 0 ? EXIT_PROBLEM : EXIT_OK;
}

int snap_manifest_digest(const char *ds, const char *tag, char hex[65])
{
	unsigned char md[32];
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rc = f ? manifest_write(f, ds, tag) : -1;

	if (f)
		fclose(f);
	if (rc == 0 && EVP_Digest(text, len, md, NULL, EVP_sha256(), NULL) != 1)
		rc = -1;
	for (int i = 0; rc == 0 && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	free(text);
	return rc;
}

static int snap_diff(const char *ds, const char *a, const char *b, int json)
{
	char ra[8192], rb[8192];
	struct tree x, y;
	size_t i = 0, j = 0;
	int first = 1;

	snapdir(ra, sizeof(ra), ds, a);
	snapdir(rb, sizeof(rb), ds, b);
	if (tree_load(ra, &x) < 0)
		return EXIT_PROBLEM;
	if (tree_load(rb, &y) < 0) {
		tree_free(&x);
		return EXIT_PROBLEM;
	}
	if (json)
		printf("[");
	while (i < x.n || j < y.n) {
		int c = i == x.n ? 1 : j == y.n ? -1 : strcmp(x.v[i].path, y.v[j].path);
		const char *what = NULL, *path;

		if (c < 0) {
			what = "removed";
			path = x.v[i++].path;
		} else if (c > 0) {
			what = "added";
			path = y.v[j++].path;
		} else {
			if (x.v[i].size != y.v[j].size || strcmp(x.v[i].sha, y.v[j].sha))
				what = "changed";
			path = x.v[i].path;
			i++;
			j++;
		}
		if (!what)
			continue;
		if (json) {
			printf("%s{\"change\": \"%s\", \"path\": ", first ? "" : ", ", what);
			json_str(path);
			putchar('}');
		} else {
			char q[TTY_QUOTE_MAX];

			printf("%c %s\n", what[0] == 'a' ? '+' : what[0] == 'r' ? '-' : 'M',
			       tty_quote(path, q, sizeof(q)));
		}
		first = 0;
	}
	if (json)
		printf("]\n");
	tree_free(&x);
	tree_free(&y);
	return EXIT_OK;
}

static const char snapshot_usage[] =
	"usage: aifsctl snapshot create DS TAG\n"
	"       aifsctl snapshot delete DS TAG\n"
	"       aifsctl snapshot list [--json] DS\n"
	"       aifsctl snapshot manifest DS TAG|live\n"
	"       aifsctl snapshot diff [--json] DS A B     (A, B: tags, \"live\" or paths)\n"
	"       aifsctl snapshot clone DS TAG NEWDIR\n"
	"\n"
	"Dataset snapshots of DS, a directory in a dataset area of a mounted aifs.\n"
	"A snapshot is also DS/.aifs/snapshots/TAG: mkdir makes it, rmdir drops it.\n"
	"clone makes NEWDIR a writable copy of the snapshot that shares its data.\n"
	"diff compares two snapshots, the live tree or any directory given by a path\n"
	"with a slash (a clone: ./branch).\n"
	"diff prints \"+ path\" (added), \"- path\" (removed), \"M path\" (changed).\n";

int cmd_snapshot(int argc, char **argv)
{
	const char *verb = argc >= 2 ? argv[1] : "";
	char **arg = argv + 2, p[8192];
	int n = argc - 2, json = 0;

	if (!strcmp(verb, "--help") || !strcmp(verb, "-h") ||
	    (argc == 3 && !strcmp(argv[2], "--help"))) {
		usage_of(stdout, snapshot_usage, verb, true);
		return EXIT_OK;
	}
	if (n > 0 && !strcmp(arg[0], "--json")) {
		json = 1;
		arg++;
		n--;
	}
	if (!strcmp(verb, "create") && n == 2 && !json)
		return snap_create(arg[0], arg[1]);
	if (!strcmp(verb, "delete") && n == 2 && !json) {
		snapdir(p, sizeof(p), arg[0], arg[1]);
		if (rmdir(p) < 0) {
			fprintf(stderr, "aifsctl snapshot delete: %s: %s\n", p, strerror(errno));
			return EXIT_PROBLEM;
		}
		return EXIT_OK;
	}
	if (!strcmp(verb, "list") && n == 1)
		return snap_list(arg[0], json);
	if (!strcmp(verb, "manifest") && n == 2 && !json)
		return snap_manifest(arg[0], arg[1]);
	if (!strcmp(verb, "clone") && n == 3 && !json) {
		char *cargv[] = { "clone", p, arg[2], NULL };

		snapdir(p, sizeof(p), arg[0], arg[1]);
		return cmd_checkpoint(3, cargv);
	}
	if (!strcmp(verb, "diff") && n == 3)
		return snap_diff(arg[0], arg[1], arg[2], json);
	usage_of(stderr, snapshot_usage, verb, false);
	return EXIT_USAGE;
}
