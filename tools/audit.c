/* audit.c — `aifsctl audit ...`: verify, export, pubkey, head, hold,
 * unhold, release.
 *
 * verify recomputes the journal's Merkle tree from its records, checks
 * every signed checkpoint against it with only the public key, checks
 * consistency proofs between consecutive checkpoints and inclusion proofs
 * of the records, and re-reads every journaled byte still stored to check
 * it against the SHA-256 its record holds.  It works on an unmounted store
 * or on an export directory (records and checkpoints only).
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
#include "tools/common.h"

/* Check the checkpoints and proofs of L with the verifier key VKEY. */
static void verify_tree(struct log *l, const char *vkey)
{
	uint8_t root[32], prev_root[32], proof[MERKLE_PROOF_MAX * 32];
	uint64_t prev = 0, size;
	struct merkle m;
	size_t count, done = 0;
	int64_t t;

	merkle_init(&m);
	for (size_t i = 0; i < l->nck; i++) {
		uint8_t want[32];

		/* the tree grows once, in order: checkpoints are sorted by size */
		while (done < l->n && done < l->ck_size[i])
			merkle_append(&m, l->hash[done++]);
		if (note_verify(vkey, l->ck_note[i], NULL, &size, root, &t) < 0) {
			problem(l, "checkpoint at %llu records: signature or format invalid",
				(unsigned long long)l->ck_size[i]);
			continue;
		}
		if (size != l->ck_size[i] || size > l->n) {
			problem(l, "checkpoint claims %llu records but the log has %zu",
				(unsigned long long)size, l->n);
			continue;
		}
		if (merkle_root(&m, want) < 0 || memcmp(want, root, 32)) {
			problem(l, "checkpoint at %llu records: root hash does not match the records",
				(unsigned long long)size);
			continue;
		}
		if (prev && (merkle_consistency_proof(prev, size, leaf_fn, l, proof, &count) < 0 ||
			     merkle_verify_consistency(prev, size, prev_root, root, proof, count) < 0))
			problem(l, "checkpoints at %llu and %llu records are not consistent",
				(unsigned long long)prev, (unsigned long long)size);
		prev = size;
		memcpy(prev_root, root, 32);
	}
	if (!prev)
		return;
	/* Inclusion of every record (of 200 spread over very long logs: each
	 * proof reads the whole log). */
	for (uint64_t i = 0; i < prev; i += prev > 200 ? prev / 200 : 1) {
		if (merkle_inclusion_proof(prev, i, leaf_fn, l, proof, &count) < 0 ||
		    merkle_verify_inclusion(l->hash[i], i, prev, proof, count, prev_root) < 0)
			problem(l, "record %llu is not included in the checkpoint at %llu records",
				(unsigned long long)i, (unsigned long long)prev);
	}
	if (prev < l->n)
		printf("note: %zu records after the newest checkpoint are not yet signed\n",
		       (size_t)(l->n - prev));
}


struct reader {
	struct store *s;
	uint64_t off, len;
	uint8_t *dst;
	int rc;
};

static int read_ext(void *ctx, const struct meta_extent *e)
{
	struct reader *r = ctx;
	uint64_t s = e->foff > r->off ? e->foff : r->off;
	uint64_t t = e->foff + e->len < r->off + r->len ? e->foff + e->len : r->off + r->len;
	struct tier_io io;

	if (s >= t)
		return 0;
	io = (struct tier_io){ .ref = &e->ref, .crcs = e->crcs,
			       .inner = e->inner + (uint32_t)(s - e->foff),
			       .len = (uint32_t)(t - s), .dst = r->dst + (s - r->off) };
	if (tier_read_batch(r->s->tiers, &io, 1) < 0)
		r->rc = io.result;
	return 0;
}

/* Bytes [off, off+len) of file INO from the store (holes are zeros). */
static int store_read(struct store *s, uint64_t ino, uint64_t off, uint64_t len, uint8_t *dst)
{
	struct reader r = { s, off, len, dst, 0 };
	void *data;
	size_t dlen;
	int rc;

	memset(dst, 0, len);
	if (meta_inline_get(s->meta, ino, &data, &dlen) == 0) {
		if (off < dlen)
			memcpy(dst, (uint8_t *)data + off, dlen - off < len ? dlen - off : len);
		free(data);
		return 0;
	}
	rc = meta_extent_foreach(s->meta, ino, read_ext, &r);
	return rc ? rc : r.rc;
}

/* What the records say of one journal file. */
struct jfile {
	uint64_t ino, covered;
	bool sealed;
};

struct cover {
	struct log *l;
	struct jfile *v;
	size_t n;
};

static struct jfile *jfile_of(struct cover *c, uint64_t ino)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].ino == ino)
			return &c->v[i];
	return NULL;
}

/* Every journal file must be covered to its end by write records, and
 * have a seal record if it is sealed: records removed from the end of the
 * log (and the checkpoints after them) show up here. */
static int cover_check(void *ctx, const struct meta_inode *in)
{
	struct cover *c = ctx;
	struct jfile *j;

	if (!S_ISREG(in->mode) || in->policy != META_AREA_JOURNAL ||
	    (in->flags & (META_IF_VERSION | META_IF_SNAPSHOT)))
		return 0;
	j = jfile_of(c, in->ino);
	if (!j || j->covered != in->size)
		problem(c->l, "journal file inode %llu holds %llu bytes but records cover %llu: "
			"records were removed", (unsigned long long)in->ino,
			(unsigned long long)in->size, (unsigned long long)(j ? j->covered : 0));
	else if ((in->flags & META_IF_SEALED) && !j->sealed)
		problem(c->l, "journal file inode %llu is sealed but its seal record is missing",
			(unsigned long long)in->ino);
	return 0;
}

static void verify_cover(struct log *l, struct store *s)
{
	struct cover c = { .l = l };

	c.v = calloc(l->n ? l->n : 1, sizeof(*c.v));
	if (!c.v)
		return;
	for (size_t i = 0; i < l->n; i++) {
		char op[16];
		uint64_t ino = field_u64(l->rec[i], "inode");
		struct jfile *j;

		field_str(l->rec[i], "op", op, sizeof(op));
		if (strcmp(op, "write") && strcmp(op, "seal") && strcmp(op, "create"))
			continue;
		j = jfile_of(&c, ino);
		if (!j) {
			j = &c.v[c.n++];
			j->ino = ino;
		}
		if (!strcmp(op, "write")) {
			uint64_t end = field_u64(l->rec[i], "offset") + field_u64(l->rec[i], "length");

			if (end > j->covered)
				j->covered = end;
		} else if (!strcmp(op, "seal")) {
			j->sealed = true;
		}
	}
	meta_inode_foreach(s->meta, cover_check, &c);
	free(c.v);
}

/* Each journal file keeps the lineage of the job that last started writing
 * it; the log's newest "lineage" record of the file must name its SHA-256
 * (the bytes of the 'Z' record, fs/lineage.c).  Earlier ones were
 * replaced and cannot be checked here. */
static void verify_lineage(struct log *l, struct store *s)
{
	for (size_t i = l->n; i-- > 0;) {
		char op[16], want[65], got[65], path[4096];
		uint64_t ino = field_u64(l->rec[i], "inode");
		bool newest = true;
		uint8_t k[8], sha[32];
		void *v;
		size_t len;

		field_str(l->rec[i], "op", op, sizeof(op));
		if (strcmp(op, "lineage"))
			continue;
		for (size_t j = i + 1; j < l->n && newest; j++) {
			field_str(l->rec[j], "op", op, sizeof(op));
			newest = strcmp(op, "lineage") || field_u64(l->rec[j], "inode") != ino;
		}
		if (!newest)
			continue;
		field_str(l->rec[i], "sha256", want, sizeof(want));
		field_str(l->rec[i], "path", path, sizeof(path));
		for (int b = 7; b >= 0; b--, ino >>= 8)
			k[b] = (uint8_t)ino;
		if (meta_rec_get(s->meta, 'Z', k, 8, &v, &len) < 0)
			continue;	/* the file is gone, and its lineage with it */
		EVP_Digest(v, len, sha, NULL, EVP_sha256(), NULL);
		free(v);
		for (int b = 0; b < 32; b++)
			snprintf(got + 2 * b, 3, "%02x", sha[b]);
		if (strcmp(want, got))
			problem(l, "lineage of %s was changed (record %zu names %.16s..., the store "
				"holds %.16s...)", path, i, want, got);
	}
}

/* Re-read the journaled bytes of every write and seal record; then say
 * what became of the files that are gone. */
static void verify_content(struct log *l, struct store *s, unsigned long long *bytes)
{
	uint64_t *gone = NULL;
	size_t ngone = 0, capgone = 0;

	for (size_t i = 0; i < l->n; i++) {
		char op[16], want[65], got[65], path[4096];

		progress("verify", i + 1, l->n);
		uint64_t ino = field_u64(l->rec[i], "inode"), off, len;
		struct meta_inode in;
		uint8_t *buf, sha[32];

		field_str(l->rec[i], "op", op, sizeof(op));
		if (strcmp(op, "write") && strcmp(op, "seal"))
			continue;
		field_str(l->rec[i], "sha256", want, sizeof(want));
		field_str(l->rec[i], "path", path, sizeof(path));
		off = strcmp(op, "write") ? 0 : field_u64(l->rec[i], "offset");
		len = field_u64(l->rec[i], "length");
		if (meta_inode_get(s->meta, ino, &in) < 0) {
			if (ngone == capgone) {
				uint64_t *v = realloc(gone, (capgone ? capgone * 2 : 64) * sizeof(*v));

				if (!v) {
					problem(l, "out of memory listing deleted files");
					break;
				}
				gone = v;
				capgone = capgone ? capgone * 2 : 64;
			}
			if (!ngone || gone[ngone - 1] != ino)
				gone[ngone++] = ino;
			continue;
		}
		buf = malloc(len ? len : 1);
		if (!buf || store_read(s, ino, off, len, buf) < 0) {
			problem(l, "record %zu: %s (inode %llu): bytes at %llu cannot be read "
				"(damaged)", i, path, (unsigned long long)ino, (unsigned long long)off);
			free(buf);
			continue;
		}
		EVP_Digest(buf, len, sha, NULL, EVP_sha256(), NULL);
		for (int k = 0; k < 32; k++)
			sprintf(got + 2 * k, "%02x", sha[k]);
		if (strcmp(got, want))
			problem(l, "record %zu: %s (inode %llu): the %s of %llu bytes at offset %llu "
				"was changed: sha256 %s, recorded %s", i, path,
				(unsigned long long)ino, op, (unsigned long long)len,
				(unsigned long long)off, got, want);
		*bytes += len;
		free(buf);
	}
	verify_deletions(l, gone, ngone);
	free(gone);
}



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
		uint64_t from = exp && l.n ? field_u64(l.rec[0], "seq") : 0;

		if (from)
			verify_partial(&l, exp, from, vkey);
		else
			verify_tree(&l, vkey);
		if (s) {
			verify_content(&l, s, &bytes);
			verify_cover(&l, s);
			verify_lineage(&l, s);
		}
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
	char mnt[4096], rel[4096], path[4200];
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
	for (size_t i = 0; rc == 0 && i < l.ck_size[l.nck - 1]; i++) {
		field_str(l.rec[i], "path", path, sizeof(path));
		if (strcmp(path, rel))
			continue;
		rc = print_inclusion(stdout, &l, NULL, i, l.ck_size[l.nck - 1]);
		found++;
	}
	if (rc < 0)
		fprintf(stderr, "aifsctl audit proof: %s\n", rc == -ENOENT ?
			"no signed checkpoint yet" : strerror(-rc));
	else if (!found)
		fprintf(stderr, "aifsctl audit proof: no signed record names %s\n", rel);
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
