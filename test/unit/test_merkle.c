/* test_merkle.c — the RFC 6962 Merkle tree of meta/merkle.h and the signed
 * checkpoints of meta/note.h.
 *
 * The standard is the vector set in test/vectors/rfc6962-merkle (inclusion,
 * consistency and their subtree forms; one JSON object per file with
 * "wantErr"; see test/vectors/README.md), read in place from $AIFS_VECTORS
 * or from the source tree; missing vectors fail the suite.  Their happy paths are trees
 * of the 8 leaves of the Certificate Transparency reference tests
 * (ref_leaves): our leaf hashes, roots and generated proofs must equal theirs.
 *
 * Signed notes are checked against the published example of the reference
 * implementation (golang.org/x/mod/sumdb/note): same key, same text, the
 * same Ed25519 signature byte for byte.  Key files live in one mkdtemp
 * directory, which main removes at the end.
 */
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "meta/merkle.h"
#include "meta/note.h"

#define HL MERKLE_HASH_LEN
#define U(x) ((unsigned long long)(x))

static char *vec_dir;
static char tmp_root[] = "/tmp/aifs-test-merkle.XXXXXX";

/* Hex of a hash, for messages. */
static const char *hex(const uint8_t p[HL])
{
	static char buf[2 * HL + 1];

	for (size_t i = 0; i < HL; i++)
		sprintf(buf + 2 * i, "%02x", p[i]);
	return buf;
}

static void sha256(const void *p, size_t n, uint8_t out[HL])
{
	ck_assert_msg(EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL), "EVP_Digest failed");
}

/* Leaf accessor over an array of leaf hashes; N limits the indices. */
struct leaves {
	uint8_t (*h)[HL];
	uint64_t n, fail_at;	/* leaf count; the index whose read fails with -EIO */
};

static int get_leaf(void *ctx, uint64_t i, uint8_t out[HL])
{
	struct leaves *l = ctx;

	ck_assert_msg(i < l->n, "leaf %llu read, tree has %llu", U(i), U(l->n));
	if (i == l->fail_at)
		return -EIO;
	memcpy(out, l->h[i], HL);
	return 0;
}

/* MTH by RFC 6962's recursive definition, as the reference. */
static void ref_mth(uint8_t (*h)[HL], uint64_t n, uint8_t out[HL])
{
	uint8_t l[HL], r[HL];
	uint64_t k = 1;

	if (n == 0) {
		sha256("", 0, out);
		return;
	}
	if (n == 1) {
		memcpy(out, h[0], HL);
		return;
	}
	while (k * 2 < n)
		k *= 2;
	ref_mth(h, k, l);
	ref_mth(h + k, n - k, r);
	ck_assert_int_eq(merkle_node_hash(l, r, out), 0);
}

/* Leaf hashes of the leaves "0", "1", ... of a synthetic log. */
static uint8_t (*make_leaves(uint64_t n))[HL]
{
	uint8_t (*h)[HL] = calloc(n + 1, HL);
	char buf[32];

	for (uint64_t i = 0; i < n; i++) {
		int len = snprintf(buf, sizeof(buf), "record %llu", U(i));

		ck_assert_int_eq(merkle_leaf_hash(buf, (size_t)len, h[i]), 0);
	}
	return h;
}

/* The 8 leaves of the Certificate Transparency reference tree. */
static const struct { const char *data; size_t len; } ref_leaves[8] = {
	{ "", 0 }, { "\x00", 1 }, { "\x10", 1 }, { "\x20\x21", 2 }, { "\x30\x31", 2 },
	{ "\x40\x41\x42\x43", 4 }, { "\x50\x51\x52\x53\x54\x55\x56\x57", 8 },
	{ "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f", 16 },
};

/* --- vector files ---------------------------------------------------------- */

/* One vector file: a flat JSON object of numbers, booleans, strings (no
 * escapes) and arrays of strings.  Values are looked up by key. */
struct vec {
	const char *path;
	char text[16384];
};

#define VEC_PROOF_MAX (MERKLE_PROOF_MAX + 4)	/* room for a vector's overlong proofs */

static void vec_load(struct vec *v, const char *path)
{
	FILE *fp = fopen(path, "r");
	size_t len;

	ck_assert_msg(fp != NULL, "RFC 6962 vector %s: %s (set AIFS_VECTORS to the "
		      "rfc6962-merkle directory)", path, strerror(errno));
	len = fread(v->text, 1, sizeof(v->text) - 1, fp);
	fclose(fp);
	v->text[len] = '\0';
	ck_assert_msg(len < sizeof(v->text) - 1 && !strchr(v->text, '\\'),
		      "%s: larger than expected or has escapes", path);
	v->path = path;
}

/* The value of KEY in V. */
static const char *vec_at(const struct vec *v, const char *key)
{
	char quoted[32];
	const char *p;

	snprintf(quoted, sizeof(quoted), "\"%s\":", key);
	p = strstr(v->text, quoted);
	ck_assert_msg(p != NULL, "%s: no \"%s\"", v->path, key);
	for (p += strlen(quoted); isspace((unsigned char)*p); p++)
		;
	return p;
}

static uint64_t vec_num(const struct vec *v, const char *key)
{
	const char *p = vec_at(v, key);
	uint64_t n;

	errno = 0;
	n = strtoull(p, NULL, 10);
	ck_assert_msg(isdigit((unsigned char)*p) && errno == 0, "%s: \"%s\" is not a u64",
		      v->path, key);
	return n;
}

/* The hash in the base64 string at *P into OUT; advance *P past it.  The
 * vectors were written for an API that takes hashes as byte strings, and
 * some use placeholders that are not 32 bytes ("", "WrongLeaf", "don't
 * care 1").  Ours takes 32-byte hashes, so a placeholder becomes
 * SHA-256("placeholder:" || bytes): equal placeholders stay equal, and none
 * equals a hash of the tree.  Returns false for a placeholder. */
static bool vec_b64(const struct vec *v, const char **p, uint8_t out[HL])
{
	uint8_t buf[12 + 192];
	const char *s = *p, *end = *s == '"' ? strchr(s + 1, '"') : NULL;
	size_t len = end ? (size_t)(end - s - 1) : 0;
	int n;

	ck_assert_msg(end && len % 4 == 0 && len <= 256, "%s: bad base64 at %.20s", v->path, s);
	n = EVP_DecodeBlock(buf + 12, (const unsigned char *)s + 1, (int)len);
	ck_assert_msg(n >= 0, "%s: bad base64 at %.20s", v->path, s);
	n -= (len > 0 && end[-1] == '=') + (len > 1 && end[-2] == '=');
	*p = end + 1;
	if (n == HL) {
		memcpy(out, buf + 12, HL);
		return true;
	}
	memcpy(buf, "placeholder:", 12);
	sha256(buf, 12 + (size_t)n, out);
	return false;
}

static bool vec_hash(const struct vec *v, const char *key, uint8_t out[HL])
{
	const char *p = vec_at(v, key);

	return vec_b64(v, &p, out);
}

/* The proof into OUT (room for VEC_PROOF_MAX hashes); its count. */
static size_t vec_proof(const struct vec *v, uint8_t *out)
{
	const char *p = vec_at(v, "proof");
	size_t n = 0;

	if (!strncmp(p, "null", 4))
		return 0;
	ck_assert_msg(*p++ == '[', "%s: proof is not an array", v->path);
	while (*p && *p != ']') {
		ck_assert_msg(n < VEC_PROOF_MAX, "%s: proof too long", v->path);
		if (*p == '"')
			vec_b64(v, &p, out + HL * n++);
		else
			p++;
	}
	ck_assert_msg(*p == ']', "%s: unterminated proof", v->path);
	return n;
}

static const char *const kinds[] = { "inclusion", "consistency", "subtreeinclusion",
				     "subtreeconsistency" };

/* Verify vector V of kind K (an index into kinds).  A leaf hash that is not
 * 32 bytes cannot be passed to our API at all; the reference
 * implementation rejects it too ("leafHash has unexpected size"), while it
 * compares roots as plain byte strings. */
static int check_vector(const struct vec *v, int k)
{
	uint8_t a[HL], b[HL], proof[VEC_PROOF_MAX * HL];
	size_t n = vec_proof(v, proof);
	bool incl = k % 2 == 0;

	if (!vec_hash(v, incl ? "leafHash" : "root1", a) && incl)
		return -EINVAL;
	vec_hash(v, incl ? "root" : "root2", b);
	switch (k) {
	case 0:
		return merkle_verify_inclusion(a, vec_num(v, "leafIdx"), vec_num(v, "treeSize"),
					       proof, n, b);
	case 1:
		return merkle_verify_consistency(vec_num(v, "size1"), vec_num(v, "size2"), a, b,
						 proof, n);
	case 2:
		return merkle_verify_subtree_inclusion(a, vec_num(v, "leafIdx"),
						       vec_num(v, "start"), vec_num(v, "end"),
						       proof, n, b);
	default:
		return merkle_verify_subtree_consistency(vec_num(v, "start"), vec_num(v, "end"),
							 vec_num(v, "size"), a, b, proof, n);
	}
}

/* --- the standard vectors -------------------------------------------------- */

/* Every vector of one kind (loop index _i) must verify (0) or, with
 * wantErr, be rejected with -EINVAL or -EBADMSG; at least as many as the
 * set has today, both outcomes among them, must be there. */
START_TEST(every_vector_verifies_or_fails_as_its_file_says)
{
	static const size_t min[] = { 98, 98, 204, 118 };
	size_t good = 0, bad = 0;
	static struct vec v;
	char *pattern;
	glob_t g;

	ck_assert_int_gt(asprintf(&pattern, "%s/%s/{*,*/*}/*.json", vec_dir, kinds[_i]), 0);
	ck_assert_msg(glob(pattern, GLOB_BRACE | GLOB_ERR, NULL, &g) == 0, "RFC 6962 vectors "
		      "missing: %s (set AIFS_VECTORS to their directory)", pattern);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		char *const *found = g.gl_pathv;
		const char *want_err;
		int rc;

		vec_load(&v, found[i]);
		rc = check_vector(&v, _i);
		want_err = vec_at(&v, "wantErr");
		ck_assert_msg(!strncmp(want_err, "true", 4) || !strncmp(want_err, "false", 5),
			      "%s: wantErr is not a boolean", found[i]);
		if (*want_err == 't')
			ck_assert_msg(rc == -EINVAL || rc == -EBADMSG, "%s: accepted (rc %d), "
				      "the vector says it must fail", found[i], rc);
		else
			ck_assert_msg(rc == 0, "%s: rejected (%s), the vector says it verifies",
				      found[i], strerror(-rc));
		rc == 0 ? good++ : bad++;
	}
	ck_assert_msg(good + bad >= min[_i] && good > 0 && bad > 0, "%s: %zu valid and %zu "
		      "invalid vectors, expected %zu or more of both", pattern, good, bad, min[_i]);
	globfree(&g);
	free(pattern);
}
END_TEST

/* The happy path of each numbered vector directory k / 5 ("<kind>/<k % 5>")
 * is a tree of the reference leaves: same leaf hash, same root, and the
 * proof we generate is the vector's, hash for hash. */
START_TEST(generated_proofs_equal_the_vectors_happy_paths)
{
	uint8_t h[8][HL], root[HL], want[HL], got[MERKLE_PROOF_MAX * HL];
	uint8_t proof[VEC_PROOF_MAX * HL];
	struct leaves l = { h, 8, UINT64_MAX };
	static struct vec v;

	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(merkle_leaf_hash(ref_leaves[i].data, ref_leaves[i].len, h[i]), 0);
	for (int k = 0; k < 20; k++) {
		int sub = k / 5 >= 2, incl = k / 5 % 2 == 0;
		uint64_t hi, n, idx = 0;
		size_t count, want_count;
		char *path;
		int rc;

		ck_assert_int_gt(asprintf(&path, "%s/%s/%d/happy-path.json", vec_dir,
					  kinds[k / 5], k % 5), 0);
		vec_load(&v, path);
		hi = vec_num(&v, sub ? "end" : incl ? "treeSize" : "size1");
		n = incl ? hi : vec_num(&v, sub ? "size" : "size2");
		ck_assert_msg((!sub || vec_num(&v, "start") == 0) && n <= 8,
			      "%s: not a tree of the reference leaves", path);
		ck_assert_int_eq(merkle_range_root(0, n, get_leaf, &l, root), 0);
		vec_hash(&v, incl ? "root" : "root2", want);
		ck_assert_msg(memcmp(root, want, HL) == 0, "%s: root of %llu leaves is %s", path,
			      U(n), hex(root));
		if (incl) {
			idx = vec_num(&v, "leafIdx");
			vec_hash(&v, "leafHash", want);
			ck_assert_msg(!memcmp(h[idx], want, HL), "%s: leaf hash differs", path);
		}
		rc = incl ? merkle_inclusion_proof(n, idx, get_leaf, &l, got, &count)
			  : merkle_consistency_proof(hi, n, get_leaf, &l, got, &count);
		ck_assert_int_eq(rc, 0);
		want_count = vec_proof(&v, proof);
		ck_assert_msg(count == want_count, "%s: generated %zu hashes, the vector has %zu",
			      path, count, want_count);
		for (size_t i = 0; i < count; i++)
			ck_assert_msg(memcmp(got + i * HL, proof + i * HL, HL) == 0,
				      "%s: proof[%zu] is %s, the vector has another", path, i,
				      hex(got + i * HL));
		free(path);
	}
}
END_TEST

/* --- the append-only tree and generated proofs ------------------------------ */

/* For n = 0..300: the incremental root, the range root and RFC 6962's
 * recursive MTH agree, and the state serialized at n, once restored, grows
 * on exactly like the tree it came from. */
START_TEST(every_size_to_300_has_the_recursive_root_and_a_restorable_state)
{
	uint8_t (*h)[HL] = make_leaves(301), buf[MERKLE_STATE_MAX], got[HL], want[HL];
	struct leaves l = { h, 301, UINT64_MAX };
	struct merkle m, r;
	size_t len;

	merkle_init(&m);
	ck_assert_int_eq(merkle_root(&m, got), 0);
	ck_assert_str_eq(hex(got),	/* SHA-256("") */
			 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	for (uint64_t n = 0; n <= 300; n++) {
		ref_mth(h, n, want);
		ck_assert_int_eq(merkle_size(&m), n);
		ck_assert_int_eq(merkle_root(&m, got), 0);
		ck_assert_msg(!memcmp(got, want, HL), "n=%llu: root %s differs", U(n), hex(got));
		ck_assert_int_eq(merkle_range_root(0, n, get_leaf, &l, got), 0);
		ck_assert_msg(!memcmp(got, want, HL), "n=%llu: range root differs", U(n));
		len = merkle_serialize(&m, buf);
		ck_assert_msg(len == 8 + HL * (size_t)__builtin_popcountll(n) &&
			      buf[6] == (uint8_t)(n >> 8) && buf[7] == (uint8_t)n,
			      "n=%llu: state is not the big-endian size and the frontier", U(n));
		ck_assert_int_eq(merkle_deserialize(&r, buf, len), 0);
		ck_assert_int_eq(merkle_append(&r, h[n]), 0);
		ck_assert_int_eq(merkle_append(&m, h[n]), 0);
		ck_assert_int_eq(merkle_root(&r, got), 0);
		ref_mth(h, n + 1, want);
		ck_assert_msg(!memcmp(got, want, HL), "n=%llu: restored tree differs", U(n));
	}
	free(h);
}
END_TEST

START_TEST(bad_state_is_einval_and_a_full_tree_refuses_appends)
{
	uint8_t buf[MERKLE_STATE_MAX + 1] = { 0 }, h[HL] = { 1 }, before[HL], after[HL];
	struct merkle m;

	merkle_init(&m);
	ck_assert_int_eq(merkle_append(&m, h), 0);
	ck_assert_int_eq(merkle_root(&m, before), 0);
	for (size_t len = 0; len < 8; len++)
		ck_assert_int_eq(merkle_deserialize(&m, buf, len), -EINVAL);
	buf[7] = 3;	/* 3 leaves: two subtrees, 72 bytes */
	ck_assert_int_eq(merkle_deserialize(&m, buf, 8 + HL), -EINVAL);
	ck_assert_int_eq(merkle_deserialize(&m, buf, 8 + 2 * HL + 1), -EINVAL);
	ck_assert_int_eq(merkle_root(&m, after), 0);
	ck_assert_msg(memcmp(before, after, HL) == 0, "a rejected state changed the tree");
	memset(buf, 0xff, 8);	/* 2^64 - 1 leaves: 64 subtrees */
	ck_assert_int_eq(merkle_deserialize(&m, buf, MERKLE_STATE_MAX), 0);
	ck_assert_int_eq(merkle_append(&m, h), -EOVERFLOW);
	ck_assert_msg(merkle_size(&m) == UINT64_MAX, "size changed by a refused append");
}
END_TEST

/* The generated inclusion proof of leaf I in the tree of the first N
 * leaves of L (root RN) verifies; the wrong leaf, and any proof hash with a
 * bit flipped, fail. */
static void check_inclusion_proof(struct leaves *l, uint64_t n, uint64_t i, uint8_t rn[HL])
{
	uint8_t p[MERKLE_PROOF_MAX * HL], (*h)[HL] = l->h;
	size_t c;

	ck_assert_int_eq(merkle_inclusion_proof(n, i, get_leaf, l, p, &c), 0);
	ck_assert_msg(merkle_verify_inclusion(h[i], i, n, p, c, rn) == 0,
		      "inclusion of %llu in %llu fails", U(i), U(n));
	ck_assert_int_eq(merkle_verify_inclusion(h[(i + 1) % n], i, n, p, c, rn),
			 n == 1 ? 0 : -EBADMSG);
	for (size_t k = 0; k < c; k++) {
		p[k * HL + k % HL] ^= 1;
		ck_assert_int_eq(merkle_verify_inclusion(h[i], i, n, p, c, rn), -EBADMSG);
		p[k * HL + k % HL] ^= 1;
	}
}

/* Likewise for the consistency proof from M to N leaves. */
static void check_consistency_proof(struct leaves *l, uint64_t m, uint64_t n, uint8_t rn[HL])
{
	uint8_t p[MERKLE_PROOF_MAX * HL], rm[HL];
	size_t c;

	ref_mth(l->h, m, rm);
	ck_assert_int_eq(merkle_consistency_proof(m, n, get_leaf, l, p, &c), 0);
	ck_assert_msg(merkle_verify_consistency(m, n, rm, rn, p, c) == 0,
		      "consistency %llu -> %llu fails", U(m), U(n));
	ck_assert_msg(merkle_verify_subtree_consistency(0, m, n, rm, rn, p, c) == 0,
		      "subtree [0, %llu) of %llu fails", U(m), U(n));
	ck_assert_int_eq(merkle_verify_consistency(m, n, rn, rn, p, c), m == n ? 0 : -EBADMSG);
	for (size_t k = 0; k < c; k++) {
		p[k * HL + 7] ^= 0x80;
		ck_assert_int_eq(merkle_verify_consistency(m, n, rm, rn, p, c), -EBADMSG);
		p[k * HL + 7] ^= 0x80;
	}
}

/* Trees of 1..40 leaves: the vectors only cover 8. */
START_TEST(generated_proofs_verify_and_any_altered_hash_fails)
{
	struct leaves l = { make_leaves(40), 40, UINT64_MAX };
	uint8_t rn[HL];

	for (uint64_t n = 1; n <= 40; n++) {
		ref_mth(l.h, n, rn);
		for (uint64_t i = 0; i < n; i++)
			check_inclusion_proof(&l, n, i, rn);
		for (uint64_t m = 1; m <= n; m++)
			check_consistency_proof(&l, m, n, rn);
	}
	free(l.h);
}
END_TEST

START_TEST(requests_outside_the_tree_are_einval_and_read_errors_pass_through)
{
	uint8_t (*h)[HL] = make_leaves(8), p[MERKLE_PROOF_MAX * HL], r[HL] = { 0 };
	struct leaves l = { h, 8, UINT64_MAX };
	size_t c;

	ck_assert_int_eq(merkle_inclusion_proof(8, 8, get_leaf, &l, p, &c), -EINVAL);
	ck_assert_int_eq(merkle_inclusion_proof(0, 0, get_leaf, &l, p, &c), -EINVAL);
	ck_assert_int_eq(merkle_consistency_proof(0, 8, get_leaf, &l, p, &c), -EINVAL);
	ck_assert_int_eq(merkle_consistency_proof(5, 4, get_leaf, &l, p, &c), -EINVAL);
	ck_assert_int_eq(merkle_range_root(5, 4, get_leaf, &l, r), -EINVAL);
	ck_assert_int_eq(merkle_verify_inclusion(h[0], 8, 8, p, 0, r), -EINVAL);
	ck_assert_int_eq(merkle_verify_consistency(0, 8, r, r, p, 0), -EINVAL);
	ck_assert_int_eq(merkle_verify_consistency(5, 4, r, r, p, 0), -EINVAL);
	/* [3, 5) is not a subtree: 3 is not a multiple of 2 */
	ck_assert_int_eq(merkle_verify_subtree_inclusion(h[3], 3, 3, 5, p, 0, r), -EINVAL);
	ck_assert_int_eq(merkle_verify_subtree_consistency(2, 6, 8, r, r, p, 0), -EINVAL);
	l.fail_at = 5;
	ck_assert_int_eq(merkle_range_root(0, 8, get_leaf, &l, r), -EIO);
	ck_assert_int_eq(merkle_inclusion_proof(8, 0, get_leaf, &l, p, &c), -EIO);
	ck_assert_int_eq(merkle_consistency_proof(3, 8, get_leaf, &l, p, &c), -EIO);
	free(h);
}
END_TEST

/* --- keys and signed notes ------------------------------------------------- */

/* The example of golang.org/x/mod/sumdb/note: its private key is
 * base64(0x01 || Ed25519 seed) after "PRIVATE+KEY+PeterNeumann+c74f20a3+". */
#define GO_SEED_B64	"AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define GO_KEY		"ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define GO_VKEY		"PeterNeumann+c74f20a3+" GO_KEY
#define GO_TEXT		"If you think cryptography is the answer to your problem,\n" \
			"then you don't know what your problem is.\n"
#define ZERO_B64	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="	/* 32 zero bytes */
#define GO_NOTE		GO_TEXT "\n\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBt" \
			"iFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

static char *tmp_path(const char *name)
{
	static char path[sizeof(tmp_root) + 64];

	snprintf(path, sizeof(path), "%s/%s", tmp_root, name);
	return path;
}

/* Write PKEY (freed) to PATH as PEM. */
static void write_pem(const char *path, EVP_PKEY *pkey)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f && PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL),
		      "writing %s", path);
	fclose(f);
	EVP_PKEY_free(pkey);
}

static struct note_key *new_key(const char *name)
{
	struct note_key *k;

	ck_assert_int_eq(note_key_generate(tmp_path(name)), 0);
	ck_assert_int_eq(note_key_load(tmp_path(name), &k), 0);
	return k;
}

/* note_verify with what it parses thrown away. */
static int verify(const char *vkey, const char *note)
{
	uint8_t root[HL];
	uint64_t size;

	return note_verify(vkey, note, NULL, &size, root, NULL);
}

/* A copy of NOTE with its first FROM replaced by TO (same length). */
static char *tampered(const char *note, const char *from, const char *to)
{
	char *t = strdup(note), *p = strstr(t, from);

	ck_assert_msg(p != NULL && strlen(from) == strlen(to), "no \"%s\" in note", from);
	memcpy(p, to, strlen(to));
	return t;
}

START_TEST(key_file_is_0600_never_replaced_and_only_ed25519_loads)
{
	char *path = strdup(tmp_path("audit.key"));
	mode_t old = umask(0277);	/* would turn a plain 0600 create into 0400 */
	struct stat st, again;
	struct note_key *k;
	FILE *f;

	ck_assert_int_eq(note_key_generate(path), 0);
	umask(old);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_msg(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600,
		      "key file mode %o, expected 0600", st.st_mode & 07777);
	ck_assert_int_eq(note_key_generate(path), -EEXIST);
	ck_assert_int_eq(stat(path, &again), 0);
	ck_assert_msg(again.st_ino == st.st_ino && again.st_size == st.st_size &&
		      again.st_mtim.tv_nsec == st.st_mtim.tv_nsec, "the key file was replaced");
	ck_assert_int_eq(note_key_load(path, &k), 0);
	note_key_free(k);
	k = NULL;
	f = fopen(tmp_path("junk.key"), "w");
	fputs("not a key\n", f);
	fclose(f);
	write_pem(tmp_path("ec.key"), EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
	ck_assert_int_eq(note_key_load(tmp_path("no-such.key"), &k), -ENOENT);
	ck_assert_int_eq(note_key_load(tmp_path("junk.key"), &k), -EBADMSG);
	ck_assert_int_eq(note_key_load(tmp_path("ec.key"), &k), -EBADMSG);
	ck_assert_msg(k == NULL, "a rejected load returned a key");
	free(path);
}
END_TEST

START_TEST(note_signature_equals_go_sumdb_reference)
{
	uint8_t seed[33];
	struct note_key *k;
	char *vkey, *note, *text;

	ck_assert_int_eq(EVP_DecodeBlock(seed, (const unsigned char *)GO_SEED_B64, 44), 33);
	write_pem(tmp_path("peter.key"),
		  EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed + 1, 32));
	ck_assert_int_eq(note_key_load(tmp_path("peter.key"), &k), 0);
	ck_assert_int_eq(note_vkey(k, "PeterNeumann", &vkey), 0);
	ck_assert_str_eq(vkey, GO_VKEY);
	ck_assert_int_eq(note_sign_text(k, "PeterNeumann", GO_TEXT, &note), 0);
	ck_assert_str_eq(note, GO_NOTE);
	ck_assert_int_eq(note_open(GO_VKEY, GO_NOTE, &text), 0);
	ck_assert_str_eq(text, GO_TEXT);
	note[5] ^= 0x20;	/* "you" -> "yoU" */
	ck_assert_int_eq(note_open(GO_VKEY, note, &text), -EBADMSG);
	free(vkey);
	free(note);
	free(text);
	note_key_free(k);
}
END_TEST

START_TEST(checkpoint_round_trips_with_exact_text)
{
	struct note_key *k = new_key("log.key");
	uint8_t root[HL], got[HL];
	char *vkey, *note, *origin, want[256], b64[64];
	uint64_t size;
	int64_t time;

	memset(root, 0xa7, HL);
	EVP_EncodeBlock((unsigned char *)b64, root, HL);
	ck_assert_int_eq(note_vkey(k, "aifs.example/audit", &vkey), 0);
	for (int with_time = 1; with_time >= 0; with_time--) {
		ck_assert_int_eq(note_sign(k, "aifs.example/audit", "aifs.example/audit",
					   with_time ? 12345 : 0, root,
					   with_time ? 1700000000 : -1, &note), 0);
		snprintf(want, sizeof(want), "aifs.example/audit\n%s\n%s\n%s\n\xe2\x80\x94 "
			 "aifs.example/audit ", with_time ? "12345" : "0", b64,
			 with_time ? "time 1700000000\n" : "");
		ck_assert_msg(strncmp(note, want, strlen(want)) == 0, "checkpoint is\n%s", note);
		ck_assert_int_eq(note_verify(vkey, note, &origin, &size, got, &time), 0);
		ck_assert_str_eq(origin, "aifs.example/audit");
		ck_assert_uint_eq(size, with_time ? 12345 : 0);
		ck_assert_msg(memcmp(got, root, HL) == 0, "root came back as %s", hex(got));
		ck_assert_int_eq(time, with_time ? 1700000000 : -1);
		free(origin);
		free(note);
	}
	free(vkey);
	note_key_free(k);
}
END_TEST

START_TEST(checkpoint_tampered_or_under_another_key_is_ebadmsg)
{
	struct note_key *k = new_key("a.key"), *other = new_key("b.key");
	uint8_t root[HL] = { 0 };
	char *vkey, *vother, *vname, *note, *t, *sig, *cosigned;
	static const char *const edits[][2] = {
		{ "log.example\n", "log.exampl3\n" }, { "\n42\n", "\n43\n" },
		{ "\nAAAA", "\nAAAB" }, { "time 99\n", "time 98\n" },
	};

	ck_assert_int_eq(note_vkey(k, "log.example", &vkey), 0);
	ck_assert_int_eq(note_vkey(other, "log.example", &vother), 0);
	ck_assert_int_eq(note_vkey(k, "log.example2", &vname), 0);
	ck_assert_int_eq(note_sign(k, "log.example", "log.example", 42, root, 99, &note), 0);
	ck_assert_int_eq(verify(vkey, note), 0);
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		t = tampered(note, edits[i][0], edits[i][1]);
		ck_assert_msg(verify(vkey, t) == -EBADMSG, "edit %s -> %s was accepted",
			      edits[i][0], edits[i][1]);
		free(t);
	}
	t = strdup(note);
	sig = strrchr(t, ' ') + 40;	/* inside the signature, past the key hash */
	*sig = *sig == 'A' ? 'B' : 'A';
	ck_assert_int_eq(verify(vkey, t), -EBADMSG);
	strstr(t, "\n\n")[2] = '\0';	/* no signature line at all */
	ck_assert_int_eq(verify(vkey, t), -EBADMSG);
	ck_assert_int_eq(verify(vother, note), -EBADMSG);
	ck_assert_int_eq(verify(vname, note), -EBADMSG);
	/* A witness's signature is ignored by the log's vkey and vice versa. */
	free(t);
	ck_assert_int_eq(note_sign(other, "witness", "log.example", 42, root, 99, &t), 0);
	ck_assert_int_gt(asprintf(&cosigned, "%s%s", note, strstr(t, "\n\n") + 2), 0);
	ck_assert_int_eq(verify(vkey, cosigned), 0);
	ck_assert_int_eq(verify(vother, cosigned), -EBADMSG);	/* named log.example */
	free(cosigned);
	free(t);
	free(note);
	free(vkey);
	free(vother);
	free(vname);
	note_key_free(k);
	note_key_free(other);
}
END_TEST

START_TEST(malformed_vkeys_names_texts_and_checkpoints_are_rejected)
{
	struct note_key *k = new_key("d.key");
	uint8_t root[HL] = { 0 };
	char *out = NULL, *bad, *vkey;
	static const char *const vkeys[] = {
		"", "PeterNeumann", "PeterNeumann+c74f20a3", "PeterNeumann+c74f20a+" GO_KEY,
		"PeterNeumann+c74f20a4+" GO_KEY, "Peter Neumann+c74f20a3+" GO_KEY,
		/* algorithm byte 0x02 */
		"PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
	};
	static const char *const names[] = { "a+b", "a b", "a\xc2\xa0" "b" /* U+00A0 */, "" };
	static const char *const bodies[] = {	/* signed, but not checkpoints */
		"log\n042\n" ZERO_B64 "\n", "log\n-1\n" ZERO_B64 "\n", "log\n1\nAAAA\n",
		"log\n1\n" ZERO_B64 "\n\nx\n", "log\n1\n" ZERO_B64 "\ntime 1x\n",
		"\n1\n" ZERO_B64 "\n",
	};

	for (size_t i = 0; i < sizeof(vkeys) / sizeof(vkeys[0]); i++)
		ck_assert_msg(note_open(vkeys[i], GO_NOTE, &out) == -EINVAL,
			      "vkey \"%s\" was accepted", vkeys[i]);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		ck_assert_msg(note_vkey(k, names[i], &out) == -EINVAL, "name \"%s\"", names[i]);
	ck_assert_int_eq(note_sign_text(k, "n", "no newline", &out), -EINVAL);
	ck_assert_int_eq(note_sign_text(k, "n", "tab\there\n", &out), -EINVAL);
	ck_assert_int_eq(note_sign_text(k, "n", "bad \xff utf-8\n", &out), -EINVAL);
	ck_assert_int_eq(note_sign(k, "n", "two\nlines", 1, root, -1, &out), -EINVAL);
	ck_assert_int_eq(note_sign(k, "n", "", 1, root, -1, &out), -EINVAL);
	bad = tampered(GO_NOTE, "\xe2\x80\x94 ", "--- ");
	ck_assert_int_eq(note_open(GO_VKEY, bad, &out), -EBADMSG);
	ck_assert_msg(out == NULL, "a refused call returned a string");
	free(bad);
	ck_assert_int_eq(note_vkey(k, "n", &vkey), 0);
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		ck_assert_int_eq(note_sign_text(k, "n", bodies[i], &bad), 0);
		ck_assert_msg(verify(vkey, bad) == -EBADMSG, "accepted %s", bodies[i]);
		free(bad);
	}
	free(vkey);
	note_key_free(k);
}
END_TEST

static Suite *merkle_suite(void)
{
	Suite *s = suite_create("merkle");
	TCase *vec = tcase_create("vectors"), *tree = tcase_create("tree");
	TCase *note = tcase_create("note");

	tcase_add_loop_test(vec, every_vector_verifies_or_fails_as_its_file_says, 0, 4);
	tcase_add_test(vec, generated_proofs_equal_the_vectors_happy_paths);
	tcase_add_test(tree, every_size_to_300_has_the_recursive_root_and_a_restorable_state);
	tcase_add_test(tree, bad_state_is_einval_and_a_full_tree_refuses_appends);
	tcase_add_test(tree, generated_proofs_verify_and_any_altered_hash_fails);
	tcase_add_test(tree, requests_outside_the_tree_are_einval_and_read_errors_pass_through);
	tcase_add_test(note, key_file_is_0600_never_replaced_and_only_ed25519_loads);
	tcase_add_test(note, note_signature_equals_go_sumdb_reference);
	tcase_add_test(note, checkpoint_round_trips_with_exact_text);
	tcase_add_test(note, checkpoint_tampered_or_under_another_key_is_ebadmsg);
	tcase_add_test(note, malformed_vkeys_names_texts_and_checkpoints_are_rejected);
	suite_add_tcase(s, vec);
	suite_add_tcase(s, tree);
	suite_add_tcase(s, note);
	return s;
}

/* The vectors: $AIFS_VECTORS, else the source tree's copy, whose path
 * meson passes as AIFS_VECTOR_DIR. */
static void find_vectors(void)
{
	const char *env = getenv("AIFS_VECTORS");

	vec_dir = strdup(env && *env ? env : AIFS_VECTOR_DIR);
	if (!vec_dir)
		abort();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

int main(void)
{
	SRunner *sr;
	int failed;

	find_vectors();
	if (!mkdtemp(tmp_root)) {
		perror(tmp_root);
		return EXIT_FAILURE;
	}
	sr = srunner_create(merkle_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(vec_dir);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
