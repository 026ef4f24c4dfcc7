/* merkle.h — RFC 6962 Merkle tree hashing for the journal's audit log.
 *
 * The tree is the one of RFC 6962 §2.1 (RFC 9162 §2.1) with SHA-256:
 *
 *   leaf hash   SHA-256(0x00 || leaf bytes)
 *   node hash   SHA-256(0x01 || left || right)
 *   MTH({})     SHA-256("")
 *   MTH(D[n])   the node hash of MTH(D[0:k]) and MTH(D[k:n]), where k is
 *               the largest power of two smaller than n
 *
 * Three parts:
 *   - struct merkle, an append-only tree state that keeps only its
 *     frontier (one root per perfect subtree, at most 64), so appending is
 *     O(log n) and the daemon persists a few KiB, never the leaves;
 *   - proof generation over leaf hashes the caller reads on demand (a
 *     merkle_leaf_fn), for the verifier and the exporter;
 *   - proof verification that needs nothing but hashes (RFC 9162
 *     §2.1.3.2 and §2.1.4.2), plus the subtree proofs of
 *     draft-davidben-tls-merkle-tree-certs so that every vector of the
 *     shared RFC 6962 test set is checked.
 *
 * A proof is MERKLE_HASH_LEN-byte hashes concatenated, lowest level first,
 * as in RFC 9162's inclusion_path and consistency_path.
 *
 * Functions return 0 or a negative errno: -EINVAL for arguments no tree
 * has (index out of range, sizes out of order), -EBADMSG for a proof or
 * hash that does not verify, -ENOMEM when OpenSSL cannot allocate, or the
 * error the leaf reader returned.  Nothing here keeps global state except
 * the SHA-256 implementation fetched once from OpenSSL; all functions are
 * thread-safe on distinct struct merkle values.
 */
#ifndef AIFS_META_MERKLE_H
#define AIFS_META_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH_LEN		32
/* A tree of n < 2^64 leaves is at most 64 perfect subtrees, one per bit. */
#define MERKLE_FRONTIER_MAX	64
/* Inclusion proofs have at most 64 hashes, consistency proofs 65. */
#define MERKLE_PROOF_MAX	65
/* Largest serialized tree state: 8-byte size and a full frontier. */
#define MERKLE_STATE_MAX	(8 + MERKLE_FRONTIER_MAX * MERKLE_HASH_LEN)

/* An append-only tree of SIZE leaves.  Invariant: frontier holds one hash
 * per set bit of size, most significant bit first, and frontier[i] is the
 * root of the perfect subtree of 2^bit leaves that bit stands for.  Treat
 * the fields as private; a zeroed struct is not an empty tree, use
 * merkle_init. */
struct merkle {
	uint64_t size;
	uint8_t frontier[MERKLE_FRONTIER_MAX][MERKLE_HASH_LEN];
};

/* Reads the leaf hash of leaf INDEX into OUT; returns 0 or a negative
 * errno, which the proof functions return unchanged. */
typedef int (*merkle_leaf_fn)(void *ctx, uint64_t index, uint8_t out[MERKLE_HASH_LEN]);

/* OUT = SHA-256(0x00 || DATA[0..LEN)). */
int merkle_leaf_hash(const void *data, size_t len, uint8_t out[MERKLE_HASH_LEN]);
/* OUT = SHA-256(0x01 || L || R).  OUT may be L or R. */
int merkle_node_hash(const uint8_t l[MERKLE_HASH_LEN], const uint8_t r[MERKLE_HASH_LEN],
		     uint8_t out[MERKLE_HASH_LEN]);

/* --- the append-only tree ----------------------------------------------- */

/* Make M the empty tree. */
void merkle_init(struct merkle *m);
/* Number of leaves appended so far. */
uint64_t merkle_size(const struct merkle *m);
/* Append the leaf hash LEAF.  -EOVERFLOW once the tree has 2^64-1 leaves;
 * on any error M is unchanged. */
int merkle_append(struct merkle *m, const uint8_t leaf[MERKLE_HASH_LEN]);
/* OUT = MTH of all leaves appended so far (SHA-256("") when empty). */
int merkle_root(const struct merkle *m, uint8_t out[MERKLE_HASH_LEN]);

/* Write M's state to OUT as the 8-byte big-endian size followed by the
 * frontier hashes, largest subtree first; return the number of bytes
 * written (8 + 32 * popcount(size), at most MERKLE_STATE_MAX). */
size_t merkle_serialize(const struct merkle *m, uint8_t out[MERKLE_STATE_MAX]);
/* Load a state written by merkle_serialize.  -EINVAL (M unchanged) if LEN
 * does not match the size it encodes.  The hashes cannot be checked here:
 * compare merkle_root with the last signed tree head to detect a corrupt
 * or substituted state. */
int merkle_deserialize(struct merkle *m, const uint8_t *buf, size_t len);

/* --- proofs from stored leaves ------------------------------------------ */

/* OUT = MTH(D[start:end]) over the leaves GET_LEAF returns; reads each of
 * the END - START leaves once.  -EINVAL if START > END. */
int merkle_range_root(uint64_t start, uint64_t end, merkle_leaf_fn get_leaf, void *ctx,
		      uint8_t out[MERKLE_HASH_LEN]);

/* The RFC 6962 §2.1.1 audit path of leaf INDEX in the tree of the first N
 * leaves, into PROOF (room for MERKLE_PROOF_MAX hashes); *COUNT = its
 * number of hashes.  Reads the N - 1 other leaves.  -EINVAL unless
 * INDEX < N. */
int merkle_inclusion_proof(uint64_t n, uint64_t index, merkle_leaf_fn get_leaf, void *ctx,
			   uint8_t *proof, size_t *count);

/* The RFC 6962 §2.1.2 consistency proof from the tree of the first M
 * leaves to the tree of the first N, into PROOF (room for
 * MERKLE_PROOF_MAX hashes); *COUNT = its number of hashes (0 when M == N).
 * Reads up to N leaves.  -EINVAL unless 0 < M <= N (RFC 9162 defines no
 * proof from the empty tree). */
int merkle_consistency_proof(uint64_t m, uint64_t n, merkle_leaf_fn get_leaf, void *ctx,
			     uint8_t *proof, size_t *count);

/* The same two proofs from a reader of subtree hashes instead of leaves:
 * GET_RANGE puts MTH(D[START:END]) into OUT for the ranges a proof needs
 * (each a subtree as RFC 6962 splits the tree: START a multiple of the
 * largest power of two not above END - START).  A reader that keeps the
 * tree's levels answers in O(log n), so a proof costs O(log^2 n) instead
 * of reading every leaf. */
typedef int (*merkle_range_fn)(void *ctx, uint64_t start, uint64_t end,
			       uint8_t out[MERKLE_HASH_LEN]);
int merkle_inclusion_proof_by(uint64_t n, uint64_t index, merkle_range_fn get_range, void *ctx,
			      uint8_t *proof, size_t *count);
int merkle_consistency_proof_by(uint64_t m, uint64_t n, merkle_range_fn get_range, void *ctx,
				uint8_t *proof, size_t *count);

/* --- verification -------------------------------------------------------- */

/* Check that LEAF is leaf INDEX of the tree of N leaves whose root is ROOT,
 * by the COUNT-hash audit PROOF (RFC 9162 §2.1.3.2).  -EINVAL unless
 * INDEX < N; -EBADMSG if the proof does not lead to ROOT. */
int merkle_verify_inclusion(const uint8_t leaf[MERKLE_HASH_LEN], uint64_t index, uint64_t n,
			    const uint8_t *proof, size_t count,
			    const uint8_t root[MERKLE_HASH_LEN]);

/* Check that the tree of N leaves with root ROOT_N extends the tree of M
 * leaves with root ROOT_M, by the COUNT-hash PROOF (RFC 9162 §2.1.4.2).
 * M == N needs an empty proof and equal roots.  -EINVAL unless
 * 0 < M <= N; -EBADMSG if the proof does not verify. */
int merkle_verify_consistency(uint64_t m, uint64_t n,
			      const uint8_t root_m[MERKLE_HASH_LEN],
			      const uint8_t root_n[MERKLE_HASH_LEN],
			      const uint8_t *proof, size_t count);

/* Subtrees (draft-davidben-tls-merkle-tree-certs §4): leaves [START, END)
 * form a subtree when START < END and START is a multiple of the smallest
 * power of two >= END - START; its hash is MTH(D[START:END]). */

/* Check that LEAF is leaf INDEX of subtree [START, END) with hash
 * SUBTREE_ROOT.  -EINVAL unless the subtree is valid and contains INDEX;
 * -EBADMSG if the proof does not verify. */
int merkle_verify_subtree_inclusion(const uint8_t leaf[MERKLE_HASH_LEN], uint64_t index,
				    uint64_t start, uint64_t end,
				    const uint8_t *proof, size_t count,
				    const uint8_t subtree_root[MERKLE_HASH_LEN]);

/* Check that subtree [START, END) with hash SUBTREE_ROOT is part of the
 * tree of N leaves with root ROOT.  An empty subtree (START == END <= N)
 * verifies with an empty proof when SUBTREE_ROOT is SHA-256("").  -EINVAL
 * for an invalid subtree or END > N; -EBADMSG if the proof does not
 * verify. */
int merkle_verify_subtree_consistency(uint64_t start, uint64_t end, uint64_t n,
				      const uint8_t subtree_root[MERKLE_HASH_LEN],
				      const uint8_t root[MERKLE_HASH_LEN],
				      const uint8_t *proof, size_t count);

#endif
