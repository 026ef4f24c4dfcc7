/* merkle.c — RFC 6962 Merkle trees (see merkle.h).
 *
 * Proof generation walks from the root towards the leaf (or towards the
 * old tree's right edge), computing each sibling subtree's hash from the
 * stored leaves with a temporary frontier, and then reverses the path,
 * because RFC 6962's recursive definition lists the deepest hash first.
 *
 * The verifiers are RFC 9162's algorithms step by step: fn and sn are the
 * positions of the first and last node of interest at the current level,
 * so their low bits say whether a proof hash joins from the left or the
 * right, and sn reaching 0 exactly when the proof runs out is what rules
 * out proofs that are too short or too long.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "meta/keys.h"
#include "meta/merkle.h"

#define HLEN MERKLE_HASH_LEN

/* Fetched once: an implicit fetch on every digest would cost more than
 * the hashing of a 65-byte node.  Each thread keeps one digest context
 * too (freed when it ends): a context made and freed per hash cost twice
 * the hashing of a node. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static pthread_key_t ctx_key;
static __thread EVP_MD_CTX *thread_ctx;

static void ctx_free(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (pthread_key_create(&ctx_key, ctx_free) != 0) {
		EVP_MD_free(sha256_md);
		sha256_md = NULL;
	}
}

/* OUT = SHA-256(PREFIX || A || B); returns 0 or -ENOMEM. */
static int hash_prefixed(uint8_t prefix, const void *a, size_t alen,
			 const void *b, size_t blen, uint8_t out[HLEN])
{
	EVP_MD_CTX *ctx = thread_ctx;

	if (!ctx) {
		pthread_once(&sha256_once, sha256_fetch);
		if (!sha256_md)
			return -ENOMEM;
		ctx = EVP_MD_CTX_new();
		if (!ctx)
			return -ENOMEM;
		pthread_setspecific(ctx_key, ctx);	/* freed at the thread's end */
		thread_ctx = ctx;
	}
	if (!EVP_DigestInit_ex(ctx, sha256_md, NULL) || !EVP_DigestUpdate(ctx, &prefix, 1) ||
	    !EVP_DigestUpdate(ctx, a, alen) || (blen && !EVP_DigestUpdate(ctx, b, blen)) ||
	    !EVP_DigestFinal_ex(ctx, out, NULL))
		return -ENOMEM;
	return 0;
}

/* OUT = SHA-256(""), the root of the empty tree. */
static int empty_root(uint8_t out[HLEN])
{
	pthread_once(&sha256_once, sha256_fetch);
	if (!sha256_md || !EVP_Digest("", 0, out, NULL, sha256_md, NULL))
		return -ENOMEM;
	return 0;
}

static bool hash_eq(const uint8_t *a, const uint8_t *b)
{
	return CRYPTO_memcmp(a, b, HLEN) == 0;
}

int merkle_leaf_hash(const void *data, size_t len, uint8_t out[HLEN])
{
	return hash_prefixed(0x00, data, len, NULL, 0, out);
}

int merkle_node_hash(const uint8_t l[HLEN], const uint8_t r[HLEN], uint8_t out[HLEN])
{
	return hash_prefixed(0x01, l, HLEN, r, HLEN, out);
}

/* --- the append-only tree ----------------------------------------------- */

void merkle_init(struct merkle *m)
{
	memset(m, 0, sizeof(*m));
}

uint64_t merkle_size(const struct merkle *m)
{
	return m->size;
}

int merkle_append(struct merkle *m, const uint8_t leaf[HLEN])
{
	unsigned top = (unsigned)__builtin_popcountll(m->size);
	uint8_t h[HLEN];
	int rc;

	if (m->size == UINT64_MAX)
		return -EOVERFLOW;
	memcpy(h, leaf, HLEN);
	/* Each trailing one bit of size is a perfect subtree exactly as large
	 * as the one being carried up: merge them, like binary addition.  The
	 * frontier is written only at the end, so an error leaves M as it was. */
	for (uint64_t s = m->size; s & 1; s >>= 1) {
		rc = merkle_node_hash(m->frontier[--top], h, h);
		if (rc)
			return rc;
	}
	memcpy(m->frontier[top], h, HLEN);
	m->size++;
	return 0;
}

int merkle_root(const struct merkle *m, uint8_t out[HLEN])
{
	unsigned top = (unsigned)__builtin_popcountll(m->size);
	uint8_t h[HLEN];
	int rc;

	if (top == 0)
		return empty_root(out);
	/* MTH splits off the largest power of two on the left, which is the
	 * first frontier entry; so the root folds the frontier from the right. */
	memcpy(h, m->frontier[top - 1], HLEN);
	for (unsigned i = top - 1; i-- > 0;) {
		rc = merkle_node_hash(m->frontier[i], h, h);
		if (rc)
			return rc;
	}
	memcpy(out, h, HLEN);
	return 0;
}

size_t merkle_serialize(const struct merkle *m, uint8_t out[MERKLE_STATE_MAX])
{
	size_t top = (size_t)__builtin_popcountll(m->size);

	key_put_u64(out, m->size);
	memcpy(out + 8, m->frontier, top * HLEN);
	return 8 + top * HLEN;
}

int merkle_deserialize(struct merkle *m, const uint8_t *buf, size_t len)
{
	uint64_t size;
	size_t top;

	if (len < 8)
		return -EINVAL;
	size = key_get_u64(buf);
	top = (size_t)__builtin_popcountll(size);
	if (len != 8 + top * HLEN)
		return -EINVAL;
	merkle_init(m);
	m->size = size;
	memcpy(m->frontier, buf + 8, top * HLEN);
	return 0;
}

/* --- proofs from stored leaves ------------------------------------------ */

/* The largest power of two smaller than N (N >= 2): RFC 6962's split k. */
static uint64_t split_point(uint64_t n)
{
	return 1ull << (63 - __builtin_clzll(n - 1));
}

int merkle_range_root(uint64_t start, uint64_t end, merkle_leaf_fn get_leaf, void *ctx,
		      uint8_t out[HLEN])
{
	struct merkle t;
	uint8_t leaf[HLEN];
	int rc;

	if (start > end)
		return -EINVAL;
	merkle_init(&t);
	for (uint64_t i = start; i < end; i++) {
		rc = get_leaf(ctx, i, leaf);
		if (!rc)
			rc = merkle_append(&t, leaf);
		if (rc)
			return rc;
	}
	return merkle_root(&t, out);
}

/* Store the C hashes of PATH, collected root first, as a proof (deepest
 * first). */
static void path_reverse(uint8_t path[][HLEN], size_t c, uint8_t *proof, size_t *count)
{
	for (size_t i = 0; i < c; i++)
		memcpy(proof + i * HLEN, path[c - 1 - i], HLEN);
	*count = c;
}

struct leaves {
	merkle_leaf_fn get_leaf;
	void *ctx;
};

static int range_of_leaves(void *ctx, uint64_t start, uint64_t end, uint8_t out[HLEN])
{
	struct leaves *l = ctx;

	return merkle_range_root(start, end, l->get_leaf, l->ctx, out);
}

int merkle_inclusion_proof(uint64_t n, uint64_t index, merkle_leaf_fn get_leaf, void *ctx,
			   uint8_t *proof, size_t *count)
{
	struct leaves l = { get_leaf, ctx };

	return merkle_inclusion_proof_by(n, index, range_of_leaves, &l, proof, count);
}

int merkle_consistency_proof(uint64_t m, uint64_t n, merkle_leaf_fn get_leaf, void *ctx,
			     uint8_t *proof, size_t *count)
{
	struct leaves l = { get_leaf, ctx };

	return merkle_consistency_proof_by(m, n, range_of_leaves, &l, proof, count);
}

int merkle_inclusion_proof_by(uint64_t n, uint64_t index, merkle_range_fn get_range, void *ctx,
			      uint8_t *proof, size_t *count)
{
	uint8_t path[MERKLE_PROOF_MAX][HLEN];
	uint64_t lo = 0, hi = n;	/* D[lo:hi] holds INDEX */
	size_t c = 0;
	int rc;

	if (index >= n)
		return -EINVAL;
	while (hi - lo > 1) {
		uint64_t mid = lo + split_point(hi - lo);

		if (index < mid) {
			rc = get_range(ctx, mid, hi, path[c++]);
			hi = mid;
		} else {
			rc = get_range(ctx, lo, mid, path[c++]);
			lo = mid;
		}
		if (rc)
			return rc;
	}
	path_reverse(path, c, proof, count);
	return 0;
}

int merkle_consistency_proof_by(uint64_t m, uint64_t n, merkle_range_fn get_range, void *ctx,
				uint8_t *proof, size_t *count)
{
	uint8_t path[MERKLE_PROOF_MAX][HLEN];
	uint64_t lo = 0, hi = n;	/* D[lo:hi] holds the old tree's edge */
	bool whole = true;	/* RFC 6962's b: D[lo:hi] is a prefix of the old tree */
	size_t c = 0;
	int rc;

	if (m == 0 || m > n)
		return -EINVAL;
	while (m < hi) {
		uint64_t mid = lo + split_point(hi - lo);

		if (m <= mid) {
			rc = get_range(ctx, mid, hi, path[c++]);
			hi = mid;
		} else {
			rc = get_range(ctx, lo, mid, path[c++]);
			lo = mid;
			whole = false;
		}
		if (rc)
			return rc;
	}
	/* The verifier knows the old root, so a subtree that is the whole old
	 * tree needs no hash; any other has to be given. */
	if (!whole) {
		rc = get_range(ctx, lo, hi, path[c++]);
		if (rc)
			return rc;
	}
	path_reverse(path, c, proof, count);
	return 0;
}

/* --- verification -------------------------------------------------------- */

int merkle_verify_inclusion(const uint8_t leaf[HLEN], uint64_t index, uint64_t n,
			    const uint8_t *proof, size_t count, const uint8_t root[HLEN])
{
	uint64_t fn = index, sn = n - 1;
	uint8_t r[HLEN];
	int rc;

	if (index >= n)
		return -EINVAL;
	memcpy(r, leaf, HLEN);
	for (size_t i = 0; i < count; i++) {
		const uint8_t *p = proof + i * HLEN;

		if (sn == 0)
			return -EBADMSG;
		if ((fn & 1) || fn == sn) {
			rc = merkle_node_hash(p, r, r);
			/* A left child on the right edge: the levels where it
			 * has no sibling add no hash. */
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			rc = merkle_node_hash(r, p, r);
		}
		if (rc)
			return rc;
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && hash_eq(r, root) ? 0 : -EBADMSG;
}

int merkle_verify_consistency(uint64_t m, uint64_t n, const uint8_t root_m[HLEN],
			      const uint8_t root_n[HLEN], const uint8_t *proof, size_t count)
{
	uint8_t fr[HLEN], sr[HLEN];
	uint64_t fn, sn;
	size_t i = 0;
	int rc;

	if (m == 0 || m > n)
		return -EINVAL;
	if (m == n)
		return count == 0 && hash_eq(root_m, root_n) ? 0 : -EBADMSG;
	if (count == 0)
		return -EBADMSG;
	/* When M is a power of two the old tree is one node of the new one,
	 * and the proof leaves out the hash the verifier already has. */
	if ((m & (m - 1)) == 0) {
		memcpy(fr, root_m, HLEN);
	} else {
		memcpy(fr, proof, HLEN);
		i = 1;
	}
	memcpy(sr, fr, HLEN);
	fn = m - 1;
	sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < count; i++) {
		const uint8_t *c = proof + i * HLEN;

		if (sn == 0)
			return -EBADMSG;
		if ((fn & 1) || fn == sn) {
			rc = merkle_node_hash(c, fr, fr);
			if (!rc)
				rc = merkle_node_hash(c, sr, sr);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			rc = merkle_node_hash(sr, c, sr);
		}
		if (rc)
			return rc;
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && hash_eq(fr, root_m) && hash_eq(sr, root_n) ? 0 : -EBADMSG;
}

static bool subtree_valid(uint64_t start, uint64_t end)
{
	uint64_t width, align;

	if (start >= end)
		return false;
	width = end - start;
	if (width > 1ull << 63)
		return false;
	align = width == 1 ? 1 : 1ull << (64 - __builtin_clzll(width - 1));
	return (start & (align - 1)) == 0;
}

int merkle_verify_subtree_inclusion(const uint8_t leaf[HLEN], uint64_t index,
				    uint64_t start, uint64_t end,
				    const uint8_t *proof, size_t count,
				    const uint8_t subtree_root[HLEN])
{
	if (!subtree_valid(start, end) || index < start || index >= end)
		return -EINVAL;
	/* A subtree is itself a Merkle tree of END - START leaves. */
	return merkle_verify_inclusion(leaf, index - start, end - start, proof, count,
				       subtree_root);
}

int merkle_verify_subtree_consistency(uint64_t start, uint64_t end, uint64_t n,
				      const uint8_t subtree_root[HLEN],
				      const uint8_t root[HLEN],
				      const uint8_t *proof, size_t count)
{
	uint8_t fr[HLEN], sr[HLEN];
	uint64_t fn, sn, tn;	/* first and last leaf of the subtree, last of the tree */
	size_t i = 0;
	int rc;

	/* Nothing is in an empty subtree; the vectors accept it, with the
	 * empty tree's hash and no proof, anywhere inside the tree. */
	if (start == end && end <= n) {
		if (count != 0)
			return -EBADMSG;
		rc = empty_root(fr);
		if (rc)
			return rc;
		return hash_eq(subtree_root, fr) ? 0 : -EBADMSG;
	}
	if (!subtree_valid(start, end) || end > n)
		return -EINVAL;
	fn = start;
	sn = end - 1;
	tn = n - 1;
	/* Climb to the highest node of the subtree's right edge that is also
	 * a node of the tree: the whole subtree if it ends where the tree
	 * does, else the largest perfect subtree ending at END.  (Starting
	 * from sn < tn, climbing while sn is odd never makes sn == tn.) */
	while (fn != sn && (sn == tn || (sn & 1))) {
		fn >>= 1;
		sn >>= 1;
		tn >>= 1;
	}
	if (fn == sn) {
		memcpy(fr, subtree_root, HLEN);
	} else {
		if (count == 0)
			return -EBADMSG;
		memcpy(fr, proof, HLEN);
		i = 1;
	}
	memcpy(sr, fr, HLEN);
	for (; i < count; i++) {
		const uint8_t *p = proof + i * HLEN;

		if (tn == 0)
			return -EBADMSG;
		if ((sn & 1) || sn == tn) {
			rc = fn < sn ? merkle_node_hash(p, fr, fr) : 0;
			if (!rc)
				rc = merkle_node_hash(p, sr, sr);
			while (!(sn & 1)) {
				fn >>= 1;
				sn >>= 1;
				tn >>= 1;
			}
		} else {
			rc = merkle_node_hash(sr, p, sr);
		}
		if (rc)
			return rc;
		fn >>= 1;
		sn >>= 1;
		tn >>= 1;
	}
	return tn == 0 && hash_eq(fr, subtree_root) && hash_eq(sr, root) ? 0 : -EBADMSG;
}
