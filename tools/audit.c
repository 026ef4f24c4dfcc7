/* audit.c — `aifsctl audit ...`: verify, export, pubkey, head, hold,
 * unhold, release.
 *
 * verify recomputes the journal's Merkle tree from its records, checks
 * every signed checkpoint against it with only the public key, checks
 * consistency proofs between consecutive checkpoints and inclusion proofs
 * of the records, and re-reads every journaled byte still stored to check
 * it against the SHA-256 its record holds (auditverify.c).  It works on an
 * unmounted store or on an export directory (records and checkpoints only).
 */
#include <errno.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "meta/merkle.h"
#include "meta/note.h"
#include "meta/store.h"
#include "tools/aifsctl.h"
#include "tools/audit.h"
#include "tools/auditrec.h"
#include "tools/common.h"

static const char audit_usage[] =
	"usage: aifsctl audit verify [--json] [--pubkey FILE] [--against WITNESSED]\n"
	"                            STORE|MOUNT|--export DIR\n"
	"       aifsctl audit verify --bundle BUNDLE [--json] [--pubkey FILE]\n"
	"       aifsctl audit export [--from SEQ] STORE|MOUNT DIR\n"
	"       aifsctl audit proof FILE\n"
	"       aifsctl audit prove FILE --line N|--offset BYTE [--hash-only] [-o BUNDLE]\n"
	"       aifsctl audit witness MOUNT WITNESSED\n"
	"       aifsctl audit pubkey STORE\n"
	"       aifsctl audit head [--json] MOUNT\n"
	"       aifsctl audit hold|unhold FILE TAG\n"
	"       aifsctl audit release FILE\n"
	"\n"
	"verify and export work on an unmounted store; head, hold, unhold and\n"
	"release, prove and witness on a mounted one.  verify exits 0 if the journal is intact, 1 if\n"
	"anything was changed, removed or reordered, or a journal file was deleted\n"
	"against its retention; it names who deleted each file that is gone.\n";

/* Print the lines of TEXT (LEN bytes) as a JSON array of strings. */
static void json_lines(const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	int k = 0;

	putchar('[');
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char *line = strndup(p, nl ? (size_t)(nl - p) : (size_t)(end - p));

		if (line) {
			fputs(k++ ? ", " : "", stdout);
			json_str(line);
			free(line);
		}
		p = nl ? nl + 1 : end;
	}
	putchar(']');
}

/* audit verify --json: one object instead of lines.  The problems and the
 * notes (what the text form prints) are gathered while verifying. */
struct verify_json {
	FILE *real_stdout, *notes_f;
	char *notes, *problems;
	size_t nnotes, nproblems;
};

static int verify_json_begin(struct verify_json *v, struct log *l)
{
	v->real_stdout = stdout;
	l->problem_out = open_memstream(&v->problems, &v->nproblems);
	v->notes_f = open_memstream(&v->notes, &v->nnotes);
	if (!l->problem_out || !v->notes_f) {
		perror("aifsctl audit verify");
		return -ENOMEM;
	}
	stdout = v->notes_f;
	return 0;
}

static void verify_json_end(struct verify_json *v, struct log *l, unsigned long long bytes)
{
	if (v->notes_f)
		fclose(v->notes_f);
	if (l->problem_out)
		fclose(l->problem_out);
	stdout = v->real_stdout;
	printf("{\"intact\": %s, \"records\": %zu, \"checkpoints\": %zu, "
	       "\"signed_records\": %llu, \"bytes_reread\": %llu, \"problems\": ",
	       l->problems ? "false" : "true", l->n, l->nck,
	       (unsigned long long)(l->nck ? l->ck_size[l->nck - 1] : 0), bytes);
	json_lines(v->problems ? v->problems : "", v->nproblems);
	printf(", \"notes\": ");
	json_lines(v->notes ? v->notes : "", v->nnotes);
	printf("}\n");
	free(v->notes);
	free(v->problems);
}

/* The "seq" of record I of L (0 if it has none). */
static uint64_t record_seq(struct log *l, size_t i)
{
	struct auditrec *r = malloc(sizeof(*r));
	uint64_t seq = r && auditrec_parse(r, l->rec[i], l->len[i], NULL) == 0 ? r->seq : 0;

	free(r);
	return seq;
}

static int audit_verify(int argc, char **argv)
{
	const char *pub = NULL, *exp = NULL, *store = NULL, *bundle = NULL, *against = NULL;
	char *vkey, pubpath[4200];
	struct log l = { 0 };
	struct store *s = NULL;
	struct verify_json vj = { 0 };
	unsigned long long bytes = 0;
	bool json = false;
	int rc;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--pubkey") && i + 1 < argc)
			pub = argv[++i];
		else if (!strcmp(argv[i], "--bundle") && i + 1 < argc)
			bundle = argv[++i];
		else if (!strcmp(argv[i], "--against") && i + 1 < argc)
			against = argv[++i];
		else if (!strcmp(argv[i], "--export") && i + 1 < argc)
			exp = argv[++i];
		else if (argv[i][0] != '-' && !store)
			store = argv[i];
		else
			goto usage;
	}
	if (bundle && !exp && !store && !against)
		return audit_verify_bundle(bundle, pub, json);
	if (bundle || !!exp == !!store)
		goto usage;
	if (!pub) {
		char mounted[4096];

		snprintf(pubpath, sizeof(pubpath), "%s/audit.pub", exp ? exp :
			 store_of_mount(store, mounted, sizeof(mounted)) ? mounted : store);
		pub = pubpath;
	}
	vkey = read_text(pub);
	if (!vkey) {
		fprintf(stderr, "aifsctl audit verify: cannot read public key %s: %s\n", pub,
			strerror(errno));
		return EXIT_PROBLEM;
	}
	vkey[strcspn(vkey, "\n")] = 0;
	if (exp)
		rc = load_export(exp, &l);
	else
		rc = open_store(store, &s) < 0 ? -EIO : load_store(s, &l);
	if (rc < 0 && rc != -EBADMSG) {
		fprintf(stderr, "aifsctl audit verify: cannot read the journal: %s\n", strerror(-rc));
		rc = -1;
	} else if (json && verify_json_begin(&vj, &l) < 0) {
		verify_json_end(&vj, &l, 0);
		rc = -1;
	} else {
		/* a young store (or one killed before its first signature) */
		if (!l.nck && l.n)
			printf("note: no signed checkpoint covers the %zu records yet: they are "
			       "signed at the next mount\n", l.n);
		uint64_t from = exp && l.n ? record_seq(&l, 0) : 0;

		if (from)
			verify_partial(&l, exp, from, vkey);
		else if (!s)
			verify_tree(&l, vkey);
		if (s)		/* the tree too, while the journal files are read */
			verify_store(&l, s, vkey, !from, &bytes);
		if (against)
			audit_check_against(&l, vkey, against);
		if (json)
			verify_json_end(&vj, &l, bytes);
		else if (l.problems)
			printf("audit: %lu problem%s: the journal was changed\n", l.problems,
			       l.problems == 1 ? "" : "s");
		else
			printf("audit: intact: %zu records, %zu signed checkpoints, %llu bytes "
			       "re-read\n", l.n, l.nck, bytes);
		rc = 0;
	}
	free(vkey);
	log_free(&l);
	store_close(s);
	return rc < 0 || l.problems ? EXIT_PROBLEM : EXIT_OK;
usage:
	usage_of(stderr, audit_usage, "verify", false);
	return EXIT_USAGE;
}

int split_mount(const char *path, char *mnt, size_t mlen, char *rel, size_t rlen)
{
	char real[4096], cur[4096], store[4096];

	if (!realpath(path, real))
		return -errno;
	snprintf(cur, sizeof(cur), "%s", real);
	for (;;) {
		char *slash;

		if (store_of_mount(cur, store, sizeof(store))) {
			snprintf(mnt, mlen, "%s", cur);
			snprintf(rel, rlen, "%s", real + strlen(cur));
			return 0;
		}
		slash = strrchr(cur, '/');
		if (!slash || slash == cur)
			return -EINVAL;
		*slash = 0;
	}
}

static int audit_proof(const char *file)
{
	char mnt[4096], rel[4096];
	struct auditrec *r = NULL;
	struct log l = { 0 };
	struct store *s = NULL;
	size_t found = 0;
	int rc = split_mount(file, mnt, sizeof(mnt), rel, sizeof(rel));

	if (rc < 0) {
		fprintf(stderr, "aifsctl audit proof: %s is not on a mounted aifs\n", file);
		return EXIT_PROBLEM;
	}
	if (open_store(mnt, &s) < 0)
		return EXIT_PROBLEM;
	rc = load_store(s, &l);
	if (rc == 0 && !l.nck)
		rc = -ENOENT;
	if (rc == 0 && !(r = malloc(sizeof(*r))))
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < l.ck_size[l.nck - 1]; i++) {
		if (auditrec_parse(r, l.rec[i], l.len[i], NULL) < 0 || strcmp(r->path, rel))
			continue;
		rc = print_inclusion(stdout, &l, NULL, i, l.ck_size[l.nck - 1]);
		found++;
	}
	if (rc < 0)
		fprintf(stderr, "aifsctl audit proof: %s\n", rc == -ENOENT ?
			"no signed checkpoint yet" : strerror(-rc));
	else if (!found)
		fprintf(stderr, "aifsctl audit proof: no signed record names %s\n", rel);
	free(r);
	log_free(&l);
	store_close(s);
	return rc < 0 || !found ? EXIT_PROBLEM : EXIT_OK;
}

static int print_file(const char *path)
{
	char *t = read_text(path);

	if (!t) {
		fprintf(stderr, "aifsctl audit: cannot read %s: %s\n", path, strerror(errno));
		return EXIT_PROBLEM;
	}
	fputs(t, stdout);
	free(t);
	return EXIT_OK;
}

static int set_attr(const char *file, const char *name, const char *val)
{
	if (setxattr(file, name, val, strlen(val), 0) < 0) {
		fprintf(stderr, "aifsctl audit: %s: %s\n", file, errno == EPERM ?
			"not permitted (a journal file? holds need root or the mount's "
			"audit_admin_group; release needs root, governance mode and a file not "
			"made in compliance mode)" : strerror(errno));
		return EXIT_PROBLEM;
	}
	return EXIT_OK;
}

/* The newest checkpoint of the store mounted at MNT: the note as it is,
 * or with JSON one object {origin, size, root, note} (nulls and size 0
 * before the first signature). */
static int audit_head(const char *mnt, bool json)
{
	char p[4200], origin[256] = "", root[64] = "";
	unsigned long long size = 0;
	struct stat st;
	char *note;

	snprintf(p, sizeof(p), "%s/.aifs/audit", mnt);
	if (stat(p, &st) < 0) {
		fprintf(stderr, "aifsctl audit head: %s is not a mounted aifs\n", mnt);
		return EXIT_PROBLEM;
	}
	snprintf(p, sizeof(p), "%s/.aifs/audit/checkpoint", mnt);
	note = read_text(p);
	if (!note && errno == ENOENT) {
		if (json)
			printf("{\"origin\": null, \"size\": 0, \"root\": null, \"note\": null}\n");
		else
			printf("no signed checkpoint yet: the journal has no records\n");
		return EXIT_OK;
	}
	if (!note || sscanf(note, "%255[^\n]\n%llu\n%63[^\n]", origin, &size, root) != 3) {
		fprintf(stderr, "aifsctl audit head: cannot read %s: %s\n", p,
			note ? "not a checkpoint" : strerror(errno));
		free(note);
		return EXIT_PROBLEM;
	}
	if (!json) {
		fputs(note, stdout);
		free(note);
		return EXIT_OK;
	}
	printf("{\"origin\": ");
	json_str(origin);
	printf(", \"size\": %llu, \"root\": ", size);
	json_str(root);
	printf(", \"note\": ");
	json_str(note);
	printf("}\n");
	free(note);
	return EXIT_OK;
}

int cmd_audit(int argc, char **argv)
{
	const char *verb = argc >= 2 ? argv[1] : "";
	char p[4200];

	if (!strcmp(verb, "--help") || !strcmp(verb, "-h") ||
	    (argc == 3 && !strcmp(argv[2], "--help"))) {
		usage_of(stdout, audit_usage, verb, true);
		return EXIT_OK;
	}
	if (!strcmp(verb, "verify"))
		return audit_verify(argc - 2, argv + 2);
	if (!strcmp(verb, "export") && argc == 4)
		return audit_export(argv[2], argv[3], 0);
	if (!strcmp(verb, "export") && argc == 6 && !strcmp(argv[2], "--from")) {
		char *end;
		unsigned long long from = strtoull(argv[3], &end, 10);

		if (argv[3][0] >= '0' && argv[3][0] <= '9' && !*end)
			return audit_export(argv[4], argv[5], from);
		fprintf(stderr, "aifsctl audit export: --from '%s' is not a record number\n",
			argv[3]);
	}
	if (!strcmp(verb, "proof") && argc == 3)
		return audit_proof(argv[2]);
	if (!strcmp(verb, "prove"))
		return audit_prove(argc - 2, argv + 2);
	if (!strcmp(verb, "witness") && argc == 4)
		return audit_witness(argv[2], argv[3]);
	if (!strcmp(verb, "pubkey") && argc == 3) {
		snprintf(p, sizeof(p), "%s/audit.pub", argv[2]);
		return print_file(p);
	}
	if (!strcmp(verb, "head") && argc == 3 && argv[2][0] != '-')
		return audit_head(argv[2], false);
	if (!strcmp(verb, "head") && argc == 4 && !strcmp(argv[2], "--json"))
		return audit_head(argv[3], true);
	if ((!strcmp(verb, "hold") || !strcmp(verb, "unhold")) && argc == 4) {
		snprintf(p, sizeof(p), "user.aifs.%s", verb);
		return set_attr(argv[2], p, argv[3]);
	}
	if (!strcmp(verb, "release") && argc == 3)
		return set_attr(argv[2], "user.aifs.release", "1");
	usage_of(stderr, audit_usage, verb, false);
	return EXIT_USAGE;
}
