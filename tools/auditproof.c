/* auditproof.c — RFC 6962 proofs for exports and partial exports. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta/merkle.h"
#include "meta/note.h"
#include "tools/audit.h"

static void hexs(FILE *f, const uint8_t *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", h[i]);
}


struct level_job {
	uint8_t (*below)[32], (*out)[32];
};

static void level_part(void *ctx, size_t lo, size_t hi)
{
	struct level_job *j = ctx;

	for (size_t i = lo; i < hi; i++)
		merkle_node_hash(j->below[2 * i], j->below[2 * i + 1], j->out[i]);
}

int levels_build(struct levels *lv, struct log *l, uint64_t size)
{
	memset(lv, 0, sizeof(*lv));
	lv->size = size;
	lv->h[0] = l->hash;
	lv->n[0] = size;
	lv->count = 1;
	while (lv->n[lv->count - 1] > 1 && lv->count < MERKLE_PROOF_MAX) {
		int k = lv->count - 1;
		uint64_t n = (lv->n[k] + 1) / 2;
		struct level_job j;

		lv->h[k + 1] = malloc(n * 32);
		if (!lv->h[k + 1])
			return -ENOMEM;
		j = (struct level_job){ lv->h[k], lv->h[k + 1] };
		par_for(lv->n[k] / 2, level_part, &j);	/* each node of a level alone */
		if (lv->n[k] % 2)
			memcpy(lv->h[k + 1][n - 1], lv->h[k][lv->n[k] - 1], 32);
		lv->n[k + 1] = n;
		lv->count++;
	}
	return 0;
}

/* The largest power of two smaller than N (N >= 2). */
static uint64_t split_of(uint64_t n)
{
	return 1ull << (63 - __builtin_clzll(n - 1));
}

int levels_range(void *ctx, uint64_t start, uint64_t end, uint8_t out[32])
{
	const struct levels *lv = ctx;
	uint64_t w = end - start;
	uint8_t right[32];
	int k, rc;

	if (start >= end || end > lv->size)
		return -EINVAL;
	/* a perfect subtree is a node of its level (a node of the tree of
	 * SIZE leaves is the same in every tree that holds all its leaves) */
	if (!(w & (w - 1)) && !(start & (w - 1))) {
		k = __builtin_ctzll(w);
		if (k >= lv->count)
			return -EINVAL;
		memcpy(out, lv->h[k][start >> k], 32);
		return 0;
	}
	/* otherwise as MTH splits it: the largest power of two on the left */
	w = split_of(w);
	if (start & (w - 1))
		return -EINVAL;		/* no subtree RFC 6962 makes */
	rc = levels_range(ctx, start + w, end, right);
	if (rc == 0)
		rc = levels_range(ctx, start, start + w, out);
	return rc ? rc : merkle_node_hash(out, right, out);
}

void levels_free(struct levels *lv)
{
	for (int k = 1; k < lv->count; k++)
		free(lv->h[k]);
}

static int levels_proof(const struct levels *lv, uint64_t m, uint8_t *proof, size_t *count)
{
	*count = 0;
	for (int k = 0; k < lv->count - 1; k++, m /= 2) {
		uint64_t sib = m ^ 1;

		if (sib < lv->n[k])
			memcpy(proof + 32 * (*count)++, lv->h[k][sib], 32);
	}
	return 0;
}

/* One JSON line: the inclusion proof of record SEQ in the tree LV (or, with
 * no LV, computed from the records). */
int print_inclusion(FILE *f, struct log *l, const struct levels *lv, uint64_t seq,
			   uint64_t size)
{
	uint8_t proof[MERKLE_PROOF_MAX * 32];
	size_t count;
	int rc = lv ? levels_proof(lv, seq, proof, &count) :
		merkle_inclusion_proof(size, seq, leaf_fn, l, proof, &count);

	if (rc < 0)
		return rc;
	fprintf(f, "{\"seq\": %llu, \"tree_size\": %llu, \"leaf_hash\": \"",
		(unsigned long long)seq, (unsigned long long)size);
	hexs(f, l->hash[seq], 32);
	fprintf(f, "\", \"proof\": [");
	for (size_t i = 0; i < count; i++) {
		fprintf(f, "%s\"", i ? ", " : "");
		hexs(f, proof + 32 * i, 32);
		fputc('"', f);
	}
	fprintf(f, "]}\n");
	return 0;
}

/* Consistency proofs between successive checkpoints, one JSON line each. */
int print_consistency(FILE *f, struct log *l)
{
	uint8_t proof[MERKLE_PROOF_MAX * 32];
	size_t count;

	for (size_t i = 1; i < l->nck; i++) {
		uint64_t m = l->ck_size[i - 1], n = l->ck_size[i];

		if (!m || m == n || n > l->n)
			continue;
		if (merkle_consistency_proof(m, n, leaf_fn, l, proof, &count) < 0)
			return -EIO;
		fprintf(f, "{\"from\": %llu, \"to\": %llu, \"proof\": [",
			(unsigned long long)m, (unsigned long long)n);
		for (size_t k = 0; k < count; k++) {
			fprintf(f, "%s\"", k ? ", " : "");
			hexs(f, proof + 32 * k, 32);
			fputc('"', f);
		}
		fprintf(f, "]}\n");
	}
	return 0;
}

static int unhex32(const char *h, uint8_t out[32])
{
	for (int i = 0; i < 32; i++) {
		unsigned v;

		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	return 0;
}

/* Parse proof line LINE ({"seq": ..., "proof": ["hex", ...]} or {"from":
 * ..., "to": ..., "proof": [...]}) into *DOC (the caller json_decrefs it,
 * also on failure) and its proof into PROOF (count *N): 0 or -EINVAL. */
static int parse_proof(const char *line, json_t **doc, uint8_t *proof, size_t *n)
{
	json_t *arr, *h;
	size_t i;

	*n = 0;
	*doc = json_loads(line, 0, NULL);
	arr = json_object_get(*doc, "proof");
	if (!json_is_array(arr) || json_array_size(arr) > MERKLE_PROOF_MAX)
		return -EINVAL;
	json_array_foreach(arr, i, h) {
		const char *hex = json_string_value(h);

		if (!hex || strlen(hex) != 64 || unhex32(hex, proof + 32 * i) < 0)
			return -EINVAL;
	}
	*n = json_array_size(arr);
	return 0;
}

static uint64_t doc_u64(json_t *doc, const char *key)
{
	return (uint64_t)json_integer_value(json_object_get(doc, key));
}

/* Check an export that starts at record FROM > 0: every record against the
 * newest checkpoint through its inclusion proof, and the checkpoints
 * against each other through consistency proofs. */
void verify_partial(struct log *l, const char *dir, uint64_t from, const char *vkey)
{
	uint8_t proof[MERKLE_PROOF_MAX * 32], root[32];
	char path[4200], *line = NULL;
	size_t cap = 0, count, checked = 0;
	uint64_t size = 0;
	FILE *f;

	for (size_t i = 0; i < l->nck; i++) {
		if (note_verify(vkey, l->ck_note[i], NULL, &size, root, NULL) < 0 ||
		    size != l->ck_size[i]) {
			problem(l, "checkpoint at %llu records: signature or format invalid",
				(unsigned long long)l->ck_size[i]);
			return;
		}
	}
	snprintf(path, sizeof(path), "%s/proofs/inclusion.jsonl", dir);
	f = fopen(path, "re");
	if (!f) {
		problem(l, "export has records from %llu on but no proofs/inclusion.jsonl",
			(unsigned long long)from);
		return;
	}
	while (getline(&line, &cap, f) > 0) {
		json_t *doc;
		int rc = parse_proof(line, &doc, proof, &count);
		uint64_t seq = doc_u64(doc, "seq");
		uint8_t leaf[32];

		json_decref(doc);
		if (seq < from || seq - from >= l->n || rc < 0) {
			problem(l, "proof line for record %llu does not match the export",
				(unsigned long long)seq);
			continue;
		}
		memcpy(leaf, l->hash[seq - from], 32);
		if (merkle_verify_inclusion(leaf, seq, size, proof, count, root) < 0)
			problem(l, "record %llu is not included in the checkpoint at %llu records",
				(unsigned long long)seq, (unsigned long long)size);
		checked++;
	}
	fclose(f);
	if (checked != l->n)
		problem(l, "%zu records but %zu inclusion proofs", l->n, checked);
	snprintf(path, sizeof(path), "%s/proofs/consistency.jsonl", dir);
	f = fopen(path, "re");
	while (f && getline(&line, &cap, f) > 0) {
		json_t *doc;
		int rc = parse_proof(line, &doc, proof, &count);
		uint64_t m = doc_u64(doc, "from"), n = doc_u64(doc, "to"), sm, sn;
		uint8_t rm[32], rn[32];
		size_t a = l->nck, b = l->nck;

		json_decref(doc);
		for (size_t i = 0; i < l->nck; i++) {
			if (l->ck_size[i] == m)
				a = i;
			if (l->ck_size[i] == n)
				b = i;
		}
		if (a == l->nck || b == l->nck || rc < 0 ||
		    note_verify(vkey, l->ck_note[a], NULL, &sm, rm, NULL) < 0 ||
		    note_verify(vkey, l->ck_note[b], NULL, &sn, rn, NULL) < 0 ||
		    merkle_verify_consistency(sm, sn, rm, rn, proof, count) < 0)
			problem(l, "checkpoints at %llu and %llu records are not consistent",
				(unsigned long long)m, (unsigned long long)n);
	}
	if (f)
		fclose(f);
	free(line);
}

