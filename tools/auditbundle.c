/* auditbundle.c — proofs for third parties: `aifsctl audit prove` writes one
 * self-contained bundle that shows that a line (or byte) of a journal file
 * was logged, `audit verify --bundle` checks it offline with nothing else;
 * `audit witness` copies signed checkpoints out of the store, and `audit
 * verify --against` checks that the store's log still extends them.
 *
 * The bundle (format "aifs-audit-bundle-1", described in aifs(7)) is one
 * JSON object; every check it allows needs only SHA-256, Ed25519 and the
 * RFC 6962 inclusion proof, so it can be verified without aifs.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meta/merkle.h"
#include "meta/note.h"
#include "meta/store.h"
#include "tools/aifsctl.h"
#include "tools/common.h"
#include "tools/audit.h"
#include "tools/auditrec.h"

#define BUNDLE_FORMAT "aifs-audit-bundle-1"

static void hex(const uint8_t *h, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", h[i]);
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
	if (!s || strlen(s) != 2 * n)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++)
		if (sscanf(s + 2 * i, "%2hhx", &out[i]) != 1)
			return -EBADMSG;
	return 0;
}

/* Base64 of DATA (malloc'd), or NULL. */
static char *b64(const void *data, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out)
		EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

/* Decode base64 S into *OUT (malloc'd, NUL-terminated) and *LEN. */
static int unb64(const char *s, uint8_t **out, size_t *len)
{
	size_t n = s ? strlen(s) : 0;
	int got;

	if (!s || n % 4)
		return -EBADMSG;
	*out = malloc(n / 4 * 3 + 1);
	if (!*out)
		return -ENOMEM;
	got = EVP_DecodeBlock(*out, (const unsigned char *)s, (int)n);
	if (got < 0) {
		free(*out);
		return -EBADMSG;
	}
	*len = (size_t)got - (n && s[n - 1] == '=') - (n > 1 && s[n - 2] == '=');
	(*out)[*len] = 0;
	return 0;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
	uint8_t h[32];

	EVP_Digest(data, len, h, NULL, EVP_sha256(), NULL);
	hex(h, 32, out);
}

/* The first line of file PATH (a verifier key), malloc'd; NULL after saying why. */
static char *read_key(const char *path, const char *cmd)
{
	char *k = read_text(path);

	if (!k) {
		fprintf(stderr, "aifsctl audit %s: cannot read public key %s: %s\n", cmd, path,
			strerror(errno));
		return NULL;
	}
	k[strcspn(k, "\n")] = 0;
	return k;
}

/* --- prove ------------------------------------------------------------- */

/* [*START, *END) of line N (from 1) of the file open at FD. */
static int line_range(int fd, unsigned long long n, uint64_t *start, uint64_t *end)
{
	char buf[65536];
	uint64_t off = 0, line = 1;
	ssize_t got;

	*start = n == 1 ? 0 : UINT64_MAX;
	while ((got = pread(fd, buf, sizeof(buf), (off_t)off)) > 0) {
		for (ssize_t i = 0; i < got; i++) {
			if (buf[i] != '\n')
				continue;
			if (line == n) {
				*end = off + (uint64_t)i + 1;
				return 0;
			}
			if (++line == n)
				*start = off + (uint64_t)i + 1;
		}
		off += (uint64_t)got;
	}
	if (got < 0)
		return -errno;
	if (*start == UINT64_MAX || *start >= off)
		return -ERANGE;
	*end = off;		/* a last line without its newline */
	return 0;
}

/* One entry of a bundle: record SEQ of L (its fields R), the bytes it
 * logged (read from FD and checked against the record), its inclusion
 * proof in the tree of SIZE records. */
static json_t *bundle_entry(struct log *l, uint64_t seq, const struct auditrec *r,
			    uint64_t size, int fd, bool with_data)
{
	uint8_t proof[MERKLE_PROOF_MAX * 32], *data;
	uint64_t off = r->off, len = r->len;
	char got[65], h[65], *rec64 = NULL, *data64 = NULL;
	const char *want = r->sha256;
	json_t *e = NULL, *arr;
	size_t count;

	data = malloc(len ? len : 1);
	if (!data || pread(fd, data, len, (off_t)off) != (ssize_t)len) {
		fprintf(stderr, "aifsctl audit prove: cannot read the %llu bytes of record %llu\n",
			(unsigned long long)len, (unsigned long long)seq);
		goto out;
	}
	sha256_hex(data, len, got);
	if (strcmp(got, want)) {
		fprintf(stderr, "aifsctl audit prove: the bytes of record %llu changed: sha256 %s, "
			"recorded %s (run audit verify)\n", (unsigned long long)seq, got, want);
		goto out;
	}
	if (merkle_inclusion_proof(size, seq, leaf_fn, l, proof, &count) < 0) {
		fprintf(stderr, "aifsctl audit prove: no inclusion proof of record %llu\n",
			(unsigned long long)seq);
		goto out;
	}
	rec64 = b64(l->rec[seq], l->len[seq]);
	data64 = with_data ? b64(data, len) : NULL;
	arr = json_array();
	for (size_t i = 0; arr && i < count; i++) {
		hex(proof + 32 * i, 32, h);
		json_array_append_new(arr, json_string(h));
	}
	hex(l->hash[seq], 32, h);
	e = json_pack("{s:I, s:s, s:s, s:o}", "seq", (json_int_t)seq, "record_b64",
		      rec64 ? rec64 : "", "leaf_hash", h, "inclusion_proof", arr);
	if (e && data64)
		json_object_set_new(e, "data_b64", json_string(data64));
out:
	free(rec64);
	free(data64);
	free(data);
	return e;
}

static const char prove_usage[] =
	"usage: aifsctl audit prove FILE --line N|--offset BYTE [--hash-only] [-o BUNDLE]\n"
	"\n"
	"Write one bundle that proves to a third party that line N (or byte BYTE) of\n"
	"journal file FILE was logged: the records that wrote it, their bytes (only\n"
	"their SHA-256 with --hash-only), their inclusion proofs, the newest signed\n"
	"checkpoint and the public key.  Check it with audit verify --bundle.\n";

struct prove_args {
	const char *file, *out;
	unsigned long long line, offset;
	bool has_line, has_offset, hash_only;
};

static int prove_parse(int argc, char **argv, struct prove_args *a)
{
	char *end;

	for (int i = 0; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if ((!strcmp(argv[i], "--line") || !strcmp(argv[i], "--offset")) && v) {
			unsigned long long n = strtoull(v, &end, 10);

			if (*end || !*v || v[0] == '-' || (argv[i][2] == 'l' && n == 0))
				return -1;
			if (argv[i][2] == 'l')
				a->line = n, a->has_line = true;
			else
				a->offset = n, a->has_offset = true;
			i++;
		} else if (!strcmp(argv[i], "-o") && v) {
			a->out = argv[++i];
		} else if (!strcmp(argv[i], "--hash-only")) {
			a->hash_only = true;
		} else if (argv[i][0] != '-' && !a->file) {
			a->file = argv[i];
		} else {
			return -1;
		}
	}
	return a->file && a->has_line != a->has_offset ? 0 : -1;
}

int audit_prove(int argc, char **argv)
{
	struct prove_args a = { 0 };
	char mnt[4096], rel[4096], store[4096], pubp[4200], fp[65], *vkey = NULL;
	struct auditrec *r = NULL;
	uint64_t start, end, size;
	struct log l = { 0 };
	struct store *s = NULL;
	json_t *b = NULL, *entries;
	int fd = -1, rc = EXIT_PROBLEM;

	if (prove_parse(argc, argv, &a) < 0) {
		usage_of(stderr, prove_usage, NULL, false);
		return EXIT_USAGE;
	}
	if (split_mount(a.file, mnt, sizeof(mnt), rel, sizeof(rel)) < 0 ||
	    !store_of_mount(mnt, store, sizeof(store))) {
		fprintf(stderr, "aifsctl audit prove: %s is not on a mounted aifs\n", a.file);
		return EXIT_PROBLEM;
	}
	fd = open(a.file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "aifsctl audit prove: %s: %s\n", a.file, strerror(errno));
		return EXIT_PROBLEM;
	}
	start = a.offset, end = a.offset + 1;
	if (a.has_line && line_range(fd, a.line, &start, &end) < 0) {
		fprintf(stderr, "aifsctl audit prove: %s has no line %llu\n", a.file, a.line);
		goto out;
	}
	snprintf(pubp, sizeof(pubp), "%s/audit.pub", store);
	if (!(vkey = read_key(pubp, "prove")) || open_store(mnt, &s) < 0 || load_store(s, &l) < 0)
		goto out;
	if (!(r = malloc(sizeof(*r)))) {
		fprintf(stderr, "aifsctl audit prove: out of memory\n");
		goto out;
	}
	if (!l.nck) {
		fprintf(stderr, "aifsctl audit prove: no signed checkpoint yet\n");
		goto out;
	}
	size = l.ck_size[l.nck - 1];
	entries = json_array();
	for (uint64_t i = 0; entries && i < l.n; i++) {
		json_t *e;

		if (auditrec_parse(r, l.rec[i], l.len[i], NULL) < 0 || strcmp(r->op, "write") ||
		    strcmp(r->path, rel) || r->off >= end || r->off + r->len <= start)
			continue;
		if (i >= size) {
			fprintf(stderr, "aifsctl audit prove: record %llu is not signed yet: try again "
				"after the next checkpoint (audit_checkpoint_secs)\n",
				(unsigned long long)i);
			json_decref(entries);
			goto out;
		}
		e = bundle_entry(&l, i, r, size, fd, !a.hash_only);
		if (!e) {
			json_decref(entries);
			goto out;
		}
		json_array_append_new(entries, e);
	}
	if (!entries || !json_array_size(entries)) {
		fprintf(stderr, "aifsctl audit prove: no write record of %s covers %s %llu\n", rel,
			a.has_line ? "line" : "byte", a.has_line ? a.line : a.offset);
		json_decref(entries);
		goto out;
	}
	sha256_hex(vkey, strlen(vkey), fp);
	b = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:I, s:s, s:s, s:s}",
		      "format", BUNDLE_FORMAT, "path", rel, "selector", a.has_line ? "line" : "offset",
		      "line", (json_int_t)(a.has_line ? a.line : 0),
		      "start", (json_int_t)start, "end", (json_int_t)end, "entries", entries,
		      "tree_size", (json_int_t)size, "checkpoint", l.ck_note[l.nck - 1],
		      "public_key", vkey, "key_fingerprint", fp);
	if (!b || (a.out ? json_dump_file(b, a.out, JSON_INDENT(1)) :
		   json_dumpf(b, stdout, JSON_INDENT(1))) < 0) {
		fprintf(stderr, "aifsctl audit prove: cannot write %s\n", a.out ? a.out : "the bundle");
		goto out;
	}
	if (!a.out)
		putchar('\n');
	else
		printf("wrote %s: %zu record%s of %s, checkpoint at %llu records\n", a.out,
		       json_array_size(entries), json_array_size(entries) == 1 ? "" : "s", rel,
		       (unsigned long long)size);
	rc = EXIT_OK;
out:
	json_decref(b);
	free(r);
	free(vkey);
	log_free(&l);
	store_close(s);
	close(fd);
	return rc;
}

/* --- verify --bundle --------------------------------------------------- */

/* Check entry E of a bundle against ROOT of the tree of SIZE; its data
 * (if any) into *DATA.  NULL if it holds, else what failed. */
static const char *entry_check(json_t *e, uint64_t size, const uint8_t root[32], uint8_t **data,
			       size_t *dlen, uint64_t *off)
{
	uint8_t *rec = NULL, leaf[32], want_leaf[32], proof[MERKLE_PROOF_MAX * 32];
	json_t *arr = json_object_get(e, "inclusion_proof"), *h;
	uint64_t seq = (uint64_t)json_integer_value(json_object_get(e, "seq"));
	struct auditrec *r = malloc(sizeof(*r));
	char got[65];
	const char *why = NULL;
	size_t rlen, i;
	bool parsed;

	*data = NULL;
	if (!r)
		return "out of memory";
	if (unb64(json_string_value(json_object_get(e, "record_b64")), &rec, &rlen) < 0) {
		free(r);
		return "record_b64 is not base64";
	}
	merkle_leaf_hash(rec, rlen, leaf);
	parsed = auditrec_parse(r, (char *)rec, rlen, NULL) == 0;
	if (unhex(json_string_value(json_object_get(e, "leaf_hash")), want_leaf, 32) < 0 ||
	    memcmp(leaf, want_leaf, 32))
		why = "the leaf hash is not SHA-256(0x00 || record)";
	else if (!parsed || r->seq != seq || strcmp(r->op, "write"))
		why = "the record is not the write record it claims to be";
	else if (!json_is_array(arr) || json_array_size(arr) > MERKLE_PROOF_MAX)
		why = "no inclusion proof";
	json_array_foreach(arr, i, h)
		if (!why && unhex(json_string_value(h), proof + 32 * i, 32) < 0)
			why = "the inclusion proof is not hex hashes";
	if (!why && merkle_verify_inclusion(leaf, seq, size, proof, json_array_size(arr), root) < 0)
		why = "the record is not included in the signed checkpoint";
	*off = r->off;
	if (!why && json_object_get(e, "data_b64")) {
		if (unb64(json_string_value(json_object_get(e, "data_b64")), data, dlen) < 0)
			why = "data_b64 is not base64";
		else if (sha256_hex(*data, *dlen, got), strcmp(got, r->sha256) || *dlen != r->len)
			why = "the bytes are not the ones the record's sha256 names";
	}
	free(rec);
	free(r);
	return why;
}

/* The verdict on bundle PATH as one JSON object (WHY: NULL if valid). */
static void bundle_json(const char *path, json_t *b, const char *why, size_t n, uint64_t size,
			const char *vkey, const char *fp, bool trusted, const char *line)
{
	printf("{\"bundle\": ");
	json_str(path);
	printf(", \"valid\": %s, \"problem\": ", why ? "false" : "true");
	if (why)
		json_str(why);
	else
		printf("null");
	if (!why) {
		printf(", \"path\": ");
		json_str(json_string_value(json_object_get(b, "path")) ?: "?");
		printf(", \"records\": %zu, \"tree_size\": %llu, \"key\": \"%.*s\", "
		       "\"key_sha256\": \"%s\", \"trusted_key\": %s", n, (unsigned long long)size,
		       (int)strcspn(vkey, "+"), vkey, fp, trusted ? "true" : "false");
		if (line) {
			printf(", \"line\": %lld, \"text\": ",
			       (long long)json_integer_value(json_object_get(b, "line")));
			json_str(line);
		}
	}
	printf("}\n");
}

int audit_verify_bundle(const char *path, const char *pubkey, bool json)
{
	json_error_t err;
	json_t *b = json_load_file(path, 0, &err), *entries, *e;
	const char *ck, *why = NULL, *vkey;
	char *own = NULL, fp[65], *line = NULL;
	uint8_t root[32];
	uint64_t size, start, end;
	size_t i, llen = 0;
	int rc = EXIT_PROBLEM;

	if (!b) {
		char why_b[256];

		snprintf(why_b, sizeof(why_b), "not a bundle: %s (line %d)", err.text, err.line);
		if (json)
			bundle_json(path, NULL, why_b, 0, 0, NULL, NULL, false, NULL);
		else
			fprintf(stderr, "aifsctl audit verify: %s: %s\n", path, why_b);
		return EXIT_PROBLEM;
	}
	vkey = json_string_value(json_object_get(b, "public_key"));
	if (pubkey && !(vkey = own = read_key(pubkey, "verify")))
		goto out;
	ck = json_string_value(json_object_get(b, "checkpoint"));
	entries = json_object_get(b, "entries");
	start = (uint64_t)json_integer_value(json_object_get(b, "start"));
	end = (uint64_t)json_integer_value(json_object_get(b, "end"));
	if (strcmp(json_string_value(json_object_get(b, "format")) ?: "", BUNDLE_FORMAT))
		why = "not an " BUNDLE_FORMAT " bundle";
	else if (!vkey || !ck || note_verify(vkey, ck, NULL, &size, root, NULL) < 0)
		why = "the checkpoint is not signed by the key";
	else if (size != (uint64_t)json_integer_value(json_object_get(b, "tree_size")))
		why = "tree_size is not the checkpoint's size";
	else if (!json_is_array(entries) || !json_array_size(entries))
		why = "no entries";
	if (!why && end > start && end - start <= (1u << 30))
		line = calloc(1, end - start + 1);
	json_array_foreach(entries, i, e) {
		uint8_t *data;
		size_t dlen;
		uint64_t off;

		if (why)
			break;
		why = entry_check(e, size, root, &data, &dlen, &off);
		for (uint64_t k = 0; line && data && k < dlen; k++)
			if (off + k >= start && off + k < end) {
				line[off + k - start] = (char)data[k];
				llen++;
			}
		free(data);
	}
	if (why && json) {
		bundle_json(path, b, why, 0, 0, NULL, NULL, false, NULL);
		goto out;
	}
	if (why) {
		printf("bundle %s: NOT valid: %s\n", path, why);
		goto out;
	}
	sha256_hex(vkey, strlen(vkey), fp);
	if (json) {
		bool whole = line && llen == end - start && !strcmp(json_string_value(
			json_object_get(b, "selector")) ?: "", "line");

		bundle_json(path, b, NULL, json_array_size(entries), size, vkey, fp, pubkey,
			    whole ? line : NULL);
		rc = EXIT_OK;
		goto out;
	}
	printf("bundle %s: valid: %zu record%s of %s in the checkpoint at %llu records, "
	       "signed by key %.*s (sha256 %.16s)\n", path, json_array_size(entries),
	       json_array_size(entries) == 1 ? "" : "s",
	       json_string_value(json_object_get(b, "path")) ?: "?", (unsigned long long)size,
	       (int)strcspn(vkey, "+"), vkey, fp);
	if (line && llen == end - start && !strcmp(json_string_value(
		    json_object_get(b, "selector")) ?: "", "line"))
		printf("line %lld: %s%s", (long long)json_integer_value(json_object_get(b, "line")),
		       line, llen && line[llen - 1] == '\n' ? "" : "\n");
	if (!pubkey)
		printf("note: checked with the key in the bundle; compare its fingerprint with a "
		       "trusted copy, or give --pubkey\n");
	rc = EXIT_OK;
out:
	free(line);
	free(own);
	json_decref(b);
	return rc;
}

/* --- witness and verify --against -------------------------------------- */

int audit_witness(const char *mnt, const char *file)
{
	char p[4200], *note, *line = NULL, *last = NULL, *now = NULL, size[32] = "?";
	size_t cap = 0;
	json_t *j;
	FILE *f;
	int rc = EXIT_PROBLEM;

	snprintf(p, sizeof(p), "%s/.aifs/audit/checkpoint", mnt);
	note = read_text(p);
	if (!note) {
		fprintf(stderr, "aifsctl audit witness: %s: %s\n", p, errno == ENOENT ?
			"no signed checkpoint yet" : strerror(errno));
		return EXIT_PROBLEM;
	}
	sscanf(note, "%*[^\n]\n%31[^\n]", size);
	f = fopen(file, "a+e");
	if (!f) {
		fprintf(stderr, "aifsctl audit witness: %s: %s\n", file, strerror(errno));
		free(note);
		return EXIT_PROBLEM;
	}
	/* the last line saved: a checkpoint seen again is not saved twice */
	while (getline(&line, &cap, f) > 1) {
		free(last);
		last = strndup(line, strcspn(line, "\n"));
	}
	j = json_pack("{s:s}", "checkpoint", note);
	now = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (now && last && !strcmp(now, last)) {
		printf("%s: the checkpoint at %s records is already witnessed\n", file, size);
		rc = EXIT_OK;
	} else if (now && fprintf(f, "%s\n", now) > 0 && fflush(f) == 0 && fsync(fileno(f)) == 0) {
		printf("%s: witnessed the checkpoint at %s records\n", file, size);
		rc = EXIT_OK;
	} else {
		fprintf(stderr, "aifsctl audit witness: cannot append to %s: %s\n", file,
			strerror(errno));
	}
	free(now);
	free(last);
	free(line);
	json_decref(j);
	fclose(f);
	free(note);
	return rc;
}

/* The newest checkpoint of L whose signature and root verify_tree checked:
 * its size (0 if none) and root. */
static uint64_t newest_checkpoint(struct log *l, const char *vkey, uint8_t root[32])
{
	for (size_t i = l->nck; i-- > 0;) {
		uint64_t size;
		uint8_t mine[32];

		if (note_verify(vkey, l->ck_note[i], NULL, &size, root, NULL) == 0 &&
		    size == l->ck_size[i] && size && size <= l->n &&
		    merkle_range_root(0, size, leaf_fn, l, mine) == 0 && !memcmp(mine, root, 32))
			return size;
	}
	return 0;
}

void audit_check_against(struct log *l, const char *vkey, const char *file)
{
	FILE *f = fopen(file, "re");
	char *buf = NULL;
	size_t cap = 0;
	unsigned long n = 0, lines = 0;
	uint64_t top, most = 0;
	uint8_t top_root[32], proof[MERKLE_PROOF_MAX * 32];

	if (!f) {
		problem(l, "cannot read the witnessed checkpoints %s: %s", file, strerror(errno));
		return;
	}
	top = newest_checkpoint(l, vkey, top_root);
	while (getline(&buf, &cap, f) > 0) {
		/* a line as appended by a witness, or as syslog or a journal keeps it */
		const char *obj = strchr(buf, '{');
		json_t *j = obj ? json_loads(obj, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
		const char *note = json_string_value(json_object_get(j, "checkpoint"));
		uint8_t root[32], ours[32];
		uint64_t size;
		size_t count;

		lines++;
		if (!obj && buf[strspn(buf, " \t\r\n")] == 0)
			continue;
		n++;
		if (!note || note_verify(vkey, note, NULL, &size, root, NULL) < 0)
			problem(l, "%s line %lu: not a checkpoint signed by the key", file, lines);
		else if (size > l->n)
			problem(l, "%s line %lu: a checkpoint at %llu records was witnessed, the log "
				"has %zu: records were removed", file, lines, (unsigned long long)size,
				l->n);
		else if (size && size <= top &&
			 (merkle_consistency_proof(size, top, leaf_fn, l, proof, &count) < 0 ||
			  merkle_verify_consistency(size, top, root, top_root, proof, count) < 0))
			problem(l, "%s line %lu: the store's checkpoint at %llu records is not "
				"consistent with the witnessed one at %llu: the log was rewritten",
				file, lines, (unsigned long long)top, (unsigned long long)size);
		else if (size > top && (merkle_range_root(0, size, leaf_fn, l, ours) < 0 ||
					memcmp(ours, root, 32)))
			problem(l, "%s line %lu: the first %llu records are not the ones the "
				"witnessed checkpoint signed: the log was rewritten", file, lines,
				(unsigned long long)size);
		else if (size > most)
			most = size;
		json_decref(j);
	}
	printf("checked against %lu witnessed checkpoint%s in %s (the newest at %llu "
	       "records; consistency proofs to the store's checkpoint at %llu)\n", n,
	       n == 1 ? "" : "s", file, (unsigned long long)most, (unsigned long long)top);
	free(buf);
	fclose(f);
}
