/* auditexport.c — `aifsctl audit export`: the records, checkpoints,
 * proofs and public key of a journal, into a directory that a third party
 * verifies offline (`aifsctl audit verify --export DIR`).
 *
 * Root runs it; DIR may be a path another user prepared.  So it writes
 * only into a directory it made or one the caller owns that is empty, and
 * creates every file relative to that directory's fd, O_EXCL|O_NOFOLLOW:
 * nothing planted there (a symlink, a file) is followed or overwritten.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta/store.h"
#include "tools/aifsctl.h"
#include "tools/audit.h"

/* Open DIR for an export: made here (0755), or an existing empty
 * directory owned by the caller.  Never through a symlink: as root, a
 * directory another user could write into would let them point the files
 * written into it anywhere.  Returns its fd, or -1 after saying why. */
static int export_dir_open(const char *dir)
{
	const char *why = NULL;
	struct stat st;
	struct dirent *de;
	bool empty = true;
	DIR *d = NULL;
	int fd, dfd = -1;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "aifsctl audit export: cannot make %s: %s\n", dir, strerror(errno));
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "aifsctl audit export: %s: %s\n", dir, errno == ELOOP ||
			errno == ENOTDIR ? "not a directory (a symlink?): refusing" :
			strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || (dfd = dup(fd)) < 0 || !(d = fdopendir(dfd))) {
		why = strerror(errno);
		if (dfd >= 0)
			close(dfd);
		goto out;
	}
	if (st.st_uid != geteuid()) {
		fprintf(stderr, "aifsctl audit export: %s is owned by uid %u, not by you: "
			"refusing (give a new directory)\n", dir, (unsigned)st.st_uid);
		why = "";
		goto out;
	}
	while (empty && (de = readdir(d)))
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	if (!empty) {
		fprintf(stderr, "aifsctl audit export: %s is not empty: refusing (give a new or "
			"empty directory)\n", dir);
		why = "";
	}
out:
	if (d)
		closedir(d);
	if (why && *why)
		fprintf(stderr, "aifsctl audit export: %s: %s\n", dir, why);
	if (why) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A new file NAME in directory DFD, for writing: never an existing name,
 * never through a symlink. */
static FILE *export_file(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	if (fd >= 0 && !f)
		close(fd);
	return f;
}

/* A new subdirectory NAME of DFD, opened; -1 on failure. */
static int export_subdir(int dfd, const char *name)
{
	if (mkdirat(dfd, name, 0755) < 0)
		return -1;
	return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static int export_proofs(int dfd, struct log *l, uint64_t from)
{
	uint64_t size = l->ck_size[l->nck - 1];
	struct levels lv = { .count = 0 };
	int pfd = export_subdir(dfd, "proofs"), rc;
	FILE *f;

	if (pfd < 0)
		return -errno;
	f = export_file(pfd, "inclusion.jsonl");
	rc = size <= l->n ? levels_build(&lv, l, size) : -EIO;
	for (uint64_t i = from; f && rc == 0 && i < size; i++)
		rc = print_inclusion(f, l, &lv, i, size);
	levels_free(&lv);
	if (!f || fclose(f) != 0)
		rc = rc ? rc : -EIO;
	f = rc == 0 ? export_file(pfd, "consistency.jsonl") : NULL;
	if (f)
		rc = print_consistency(f, l);
	if (!f || fclose(f) != 0)
		rc = rc ? rc : -EIO;
	close(pfd);
	return rc;
}

int audit_export(const char *store, const char *dir, uint64_t from)
{
	struct log l = { 0 };
	struct store *s;
	char q[4300];
	FILE *f = NULL;
	int dfd, cfd = -1, rc;

	if (open_store(store, &s) < 0)
		return EXIT_PROBLEM;
	dfd = export_dir_open(dir);
	if (dfd < 0) {
		store_close(s);
		return EXIT_PROBLEM;
	}
	rc = load_store(s, &l);
	if (rc == 0 && (f = export_file(dfd, "records.jsonl")) == NULL)
		rc = -errno;
	for (size_t i = from; f && i < l.n; i++)
		fprintf(f, "%s\n", l.rec[i]);
	if (f && fclose(f) != 0)
		rc = -errno;
	/* proofs: each exported record in the newest checkpoint, and each
	 * checkpoint in the next, for checkers that do not have every record */
	if (rc == 0 && l.nck)
		rc = export_proofs(dfd, &l, from);
	else if (rc == 0 && mkdirat(dfd, "proofs", 0755) < 0)
		rc = -errno;
	if (rc == 0 && (cfd = export_subdir(dfd, "checkpoints")) < 0)
		rc = -errno;
	for (size_t i = 0; rc == 0 && i < l.nck; i++) {
		snprintf(q, sizeof(q), "%llu.note", (unsigned long long)l.ck_size[i]);
		f = export_file(cfd, q);
		if (!f || fputs(l.ck_note[i], f) < 0 || fclose(f) != 0)
			rc = -EIO;
	}
	if (rc == 0) {
		char *pub, mounted[4096];

		snprintf(q, sizeof(q), "%s/audit.pub",
			 store_of_mount(store, mounted, sizeof(mounted)) ? mounted : store);
		pub = read_text(q);
		f = pub ? export_file(dfd, "audit.pub") : NULL;
		if (!f || fputs(pub, f) < 0 || fclose(f) != 0)
			rc = -EIO;
		free(pub);
	}
	if (rc < 0)
		fprintf(stderr, "aifsctl audit export: %s: %s\n", dir, strerror(-rc));
	else if (l.n > from)
		printf("exported %zu records (%llu to %zu) and %zu checkpoints to %s\n",
		       l.n - (size_t)from, (unsigned long long)from, l.n - 1, l.nck, dir);
	else
		printf("exported 0 records (the log has %zu) and %zu checkpoints to %s\n", l.n,
		       l.nck, dir);
	if (cfd >= 0)
		close(cfd);
	close(dfd);
	log_free(&l);
	store_close(s);
	return rc < 0 ? EXIT_PROBLEM : EXIT_OK;
}
