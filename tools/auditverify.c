/* auditverify.c — what `aifsctl audit verify` checks (audit.c reads the
 * arguments and prints the verdict):
 *
 *   - the tree: every signed checkpoint's signature, size and root against
 *     the records, consistency proofs between consecutive checkpoints and
 *     inclusion proofs of records spread over the log;
 *   - the content: the SHA-256 of every write record's bytes and of every
 *     sealed file's bytes against the stored data;
 *   - the cover: every journal file written to its end by records, and
 *     sealed only with a seal record; the deleted files (auditdel.c); the
 *     newest lineage record of each file against its lineage.
 *
 * It is linear in the records and in the bytes, and runs on every core
 * (par_for):
 *   - each record is read once from the store, its leaf hashed once and its
 *     fields parsed once (auditrec_parse, into struct recinfo), in parallel;
 *   - the tree's levels are built once, level by level in parallel; every
 *     root and proof is then O(log n) node hashes away (levels_range);
 *   - each journal file is read sequentially once, its extents batched
 *     into a few large reads, and every record's range of it (writes and
 *     the seal, which covers all of it) is hashed as the bytes stream by,
 *     one file per thread at a time.
 * A stored block that cannot be read fails the records whose ranges hold
 * it, as a read of each record alone would: a failed read is read again in
 * the pieces the records' boundaries cut it into.  Problems are printed in
 * the order of the records, whatever thread found them.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "meta/merkle.h"
#include "meta/note.h"
#include "meta/records.h"
#include "meta/store.h"
#include "tools/audit.h"
#include "tools/auditrec.h"
#include "tools/auditverify.h"
#include "tools/common.h"

/* --- the fields of each record -------------------------------------------- */

static const struct { const char *name; uint8_t op; } ops[] = {
	{ "write", OP_WRITE }, { "seal", OP_SEAL }, { "create", OP_CREATE },
	{ "lineage", OP_LINEAGE }, { "release", OP_RELEASE }, { "delete", OP_DELETE },
};

static int unhex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void parse_part(void *ctx, size_t lo, size_t hi)
{
	struct log *l = ctx;
	struct auditrec r;

	for (size_t i = lo; i < hi; i++) {
		struct recinfo *ri = &l->info[i];

		memset(ri, 0, sizeof(*ri));
		if (auditrec_parse(&r, l->rec[i], l->len[i], NULL) < 0) {
			ri->bad = true;
			continue;
		}
		ri->ino = r.ino;
		for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]) && !ri->op; k++)
			if (!strcmp(r.op, ops[k].name))
				ri->op = ops[k].op;
		if (ri->op != OP_WRITE && ri->op != OP_SEAL && ri->op != OP_CREATE &&
		    ri->op != OP_LINEAGE)
			continue;
		ri->off = r.off;
		ri->len = r.len;
		ri->sha_ok = strlen(r.sha256) == 64;
		for (int k = 0; k < 32 && ri->sha_ok; k++) {
			int a = unhex(r.sha256[2 * k]), b = unhex(r.sha256[2 * k + 1]);

			ri->sha_ok = a >= 0 && b >= 0;
			ri->sha[k] = (uint8_t)(a << 4 | b);
		}
	}
}

/* A problem for record I, which is not a JSON object of a record's fields
 * (the daemon writes none such; the tree check says whether it was
 * changed since it was signed). */
static void record_bad(struct log *l, size_t i)
{
	struct auditrec *r = malloc(sizeof(*r));
	char why[160] = "out of memory";

	if (r && auditrec_parse(r, l->rec[i], l->len[i], why) == -ENOMEM)
		snprintf(why, sizeof(why), "out of memory");
	problem(l, "record %zu is not a record of the journal: %s", i, why);
	free(r);
}

/* --- the tree --------------------------------------------------------------- */

void verify_tree(struct log *l, const char *vkey)
{
	uint8_t root[32], prev_root[32], want[32], proof[MERKLE_PROOF_MAX * 32];
	uint64_t prev = 0, size, top = 0;
	struct levels lv;
	size_t count;
	int64_t t;

	/* one tree of the records the newest checkpoint can cover: every
	 * checkpoint's root and every proof is a few of its nodes */
	for (size_t i = 0; i < l->nck; i++)
		if (l->ck_size[i] <= l->n && l->ck_size[i] > top)
			top = l->ck_size[i];
	if (levels_build(&lv, l, top) < 0) {
		problem(l, "out of memory building the tree of %llu records", (unsigned long long)top);
		levels_free(&lv);
		return;
	}
	for (size_t i = 0; i < l->nck; i++) {
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
		if ((size ? levels_range(&lv, 0, size, want) :
			    merkle_range_root(0, 0, leaf_fn, l, want)) < 0 || memcmp(want, root, 32)) {
			problem(l, "checkpoint at %llu records: root hash does not match the records",
				(unsigned long long)size);
			continue;
		}
		if (prev && (merkle_consistency_proof_by(prev, size, levels_range, &lv, proof,
							 &count) < 0 ||
			     merkle_verify_consistency(prev, size, prev_root, root, proof, count) < 0))
			problem(l, "checkpoints at %llu and %llu records are not consistent",
				(unsigned long long)prev, (unsigned long long)size);
		prev = size;
		memcpy(prev_root, root, 32);
	}
	if (prev) {
		/* Inclusion of every record (of 200 spread over long logs) */
		for (uint64_t i = 0; i < prev; i += prev > 200 ? prev / 200 : 1) {
			if (merkle_inclusion_proof_by(prev, i, levels_range, &lv, proof, &count) < 0 ||
			    merkle_verify_inclusion(l->hash[i], i, prev, proof, count, prev_root) < 0)
				problem(l, "record %llu is not included in the checkpoint at %llu "
					"records", (unsigned long long)i, (unsigned long long)prev);
		}
		if (prev < l->n)
			printf("note: %zu records after the newest checkpoint are not yet signed\n",
			       (size_t)(l->n - prev));
	}
	levels_free(&lv);
}

/* --- the content ------------------------------------------------------------ */

enum { R_OK, R_UNREADABLE, R_CHANGED };

/* The bytes [start, end) of a journal file that record REC hashes. */
struct vrange {
	uint64_t ino, start, end;
	size_t rec;
	bool seal;
	uint8_t status;
	uint8_t got[32];
};

/* A part of the work: ranges [first, first + count) of one journal file
 * still in the store, read from the start of the first to the end of the
 * last.  A file's seal records (its whole length each) are one job, its
 * write records cut into jobs of about JOB_BYTES: the seal of a large
 * file and its writes are hashed on different cores. */
struct vfile {
	size_t first, count;
	uint64_t bytes;
};

#define JOB_BYTES	(16u << 20)

/* A piece of a file's extent map (its checksums copied). */
struct piece {
	uint64_t foff, len;
	uint32_t inner;
	struct tier_ref ref;
	uint32_t *crcs;
};

struct content {
	struct log *l;
	struct store *s;
	struct vrange *r;
	size_t nr;
	struct vfile *f;
	size_t nf;
	atomic_size_t next;		/* the next file to take */
	atomic_ullong done;		/* bytes of the files done, for progress */
	unsigned long long total;
};

#define BATCH_BYTES	(8u << 20)	/* stored bytes read at once */
#define BATCH_PIECES	64
#define CHUNK_MAX	(16u << 20)	/* a larger piece is read in parts */

static const uint8_t zeros[64 << 10];

/* One thread's work on one file: R[0..N) its ranges by start. */
struct fstate {
	struct vrange *r;
	size_t n, next;			/* ranges [0, next) were started */
	size_t *active;			/* ranges being hashed, by index */
	EVP_MD_CTX **ctx;		/* their digests (one per active slot) */
	size_t nactive, cap;
};

/* Fetched once: EVP_sha256() per digest looks it up under a lock. */
static EVP_MD *sha_md;
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;

static void sha_fetch(void)
{
	sha_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static EVP_MD_CTX *slot_ctx(struct fstate *st, size_t slot)
{
	if (!st->ctx[slot])
		st->ctx[slot] = EVP_MD_CTX_new();
	return st->ctx[slot];
}

static int fstate_grow(struct fstate *st)
{
	size_t cap = st->cap ? st->cap * 2 : 8;
	size_t *a = realloc(st->active, cap * sizeof(*a));
	EVP_MD_CTX **c = a ? realloc(st->ctx, cap * sizeof(*c)) : NULL;

	if (a)
		st->active = a;
	if (!c)
		return -ENOMEM;
	memset(c + st->cap, 0, (cap - st->cap) * sizeof(*c));
	st->ctx = c;
	st->cap = cap;
	return 0;
}

static void range_final(struct fstate *st, size_t slot)
{
	struct vrange *v = &st->r[st->active[slot]];

	if (v->status != R_UNREADABLE && st->ctx[slot])
		EVP_DigestFinal_ex(st->ctx[slot], v->got, NULL);
}

/* Bytes [a, b) of the file are D (NULL: zeros) or, with FAILED, could not
 * be read: start the ranges that begin before B, feed each its part, and
 * end those that end by B. */
static void feed(struct fstate *st, uint64_t a, uint64_t b, const uint8_t *d, bool failed)
{
	while (st->next < st->n && st->r[st->next].start < b) {
		size_t slot = st->nactive;
		EVP_MD_CTX *c;

		if (slot == st->cap && fstate_grow(st) < 0) {
			st->r[st->next++].status = R_UNREADABLE;	/* out of memory */
			continue;
		}
		c = slot_ctx(st, slot);
		pthread_once(&sha_once, sha_fetch);
		if (!c || !sha_md || !EVP_DigestInit_ex(c, sha_md, NULL))
			st->r[st->next].status = R_UNREADABLE;
		st->active[st->nactive++] = st->next++;
	}
	for (size_t k = 0; k < st->nactive; k++) {
		struct vrange *v = &st->r[st->active[k]];
		uint64_t s = v->start > a ? v->start : a, t = v->end < b ? v->end : b;

		if (s >= t || v->status == R_UNREADABLE)
			continue;
		if (failed) {
			v->status = R_UNREADABLE;
			continue;
		}
		for (uint64_t x = s; x < t;) {
			uint64_t m = t - x;

			if (!d && m > sizeof(zeros))
				m = sizeof(zeros);
			EVP_DigestUpdate(st->ctx[k], d ? d + (x - a) : zeros, m);
			x += m;
		}
	}
	for (size_t k = 0; k < st->nactive;) {
		if (st->r[st->active[k]].end > b) {
			k++;
			continue;
		}
		range_final(st, k);
		/* the last slot takes this one's place, digest and all */
		st->nactive--;
		if (k != st->nactive) {
			EVP_MD_CTX *c = st->ctx[k];

			st->active[k] = st->active[st->nactive];
			st->ctx[k] = st->ctx[st->nactive];
			st->ctx[st->nactive] = c;
		}
	}
}

/* Read piece P's file bytes [a, b) into BUF; the io's result. */
static int read_piece(struct store *s, const struct piece *p, uint64_t a, uint64_t b, uint8_t *buf)
{
	struct tier_io io = { .ref = &p->ref, .crcs = p->crcs,
			      .inner = p->inner + (uint32_t)(a - p->foff),
			      .len = (uint32_t)(b - a), .dst = buf };

	if (tier_read_batch(s->tiers, &io, 1) < 0)
		return io.result ? io.result : -EIO;
	return 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Piece P's bytes [a, b) failed to read as one: read them again cut at
 * every range boundary inside, so that only the ranges holding a bad
 * block fail (as when each record was read alone). */
static void feed_failed(struct fstate *st, struct store *s, const struct piece *p,
			uint64_t a, uint64_t b)
{
	uint64_t *cut = NULL;
	size_t ncut = 0, cap = 0;
	uint8_t *buf = NULL;

	for (size_t i = 0; i < st->n; i++) {
		uint64_t e[2] = { st->r[i].start, st->r[i].end };

		for (int k = 0; k < 2; k++) {
			if (e[k] <= a || e[k] >= b)
				continue;
			if (ncut == cap) {
				uint64_t *v = realloc(cut, (cap = cap ? cap * 2 : 16) * sizeof(*v));

				if (!v) {
					feed(st, a, b, NULL, true);
					free(cut);
					return;
				}
				cut = v;
			}
			cut[ncut++] = e[k];
		}
	}
	if (ncut)
		qsort(cut, ncut, sizeof(*cut), u64_cmp);
	buf = malloc(b - a);
	for (size_t i = 0; i <= ncut; i++) {
		uint64_t x = i ? cut[i - 1] : a, y = i < ncut ? cut[i] : b;

		if (x >= y)
			continue;
		if (buf && read_piece(s, p, x, y, buf) == 0)
			feed(st, x, y, buf, false);
		else
			feed(st, x, y, NULL, true);
	}
	free(buf);
	free(cut);
}

struct pieces {
	struct piece *v;
	size_t n, cap;
	int rc;
};

static int piece_cb(void *ctx, const struct meta_extent *e)
{
	struct pieces *ps = ctx;
	struct piece *p;

	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 64;
		struct piece *v = realloc(ps->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		ps->v = v;
		ps->cap = cap;
	}
	p = &ps->v[ps->n];
	*p = (struct piece){ .foff = e->foff, .len = e->len, .inner = e->inner, .ref = e->ref };
	p->crcs = malloc((e->ncrc ? e->ncrc : 1) * sizeof(uint32_t));
	if (!p->crcs)
		return -ENOMEM;
	memcpy(p->crcs, e->crcs, e->ncrc * sizeof(uint32_t));
	ps->n++;
	return 0;
}

static void pieces_free(struct pieces *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		free(ps->v[i].crcs);
	free(ps->v);
}

/* Hash every range of file F in one pass over its bytes. */
static void verify_file(struct content *c, struct fstate *st, const struct vfile *f,
			uint8_t *buf)
{
	struct pieces ps = { 0 };
	struct store *s = c->s;
	uint64_t pos = 0, end = 0, ino;
	size_t i = 0;
	void *data;
	size_t dlen;

	st->r = c->r + f->first;
	st->n = f->count;
	st->next = 0;
	st->nactive = 0;
	ino = st->r[0].ino;
	for (size_t k = 0; k < st->n; k++)
		if (st->r[k].end > end)
			end = st->r[k].end;
	pos = st->r[0].start;		/* the job's bytes: from its first range on */
	/* the bytes as a read of each record would see them: the inline
	 * data if the file has some, else its extents; holes are zeros */
	if (meta_inline_get(s->meta, ino, &data, &dlen) == 0) {
		if (pos < dlen && pos < end) {
			feed(st, pos, dlen < end ? dlen : end, (uint8_t *)data + pos, false);
			pos = dlen < end ? dlen : end;
		}
		free(data);
	} else if (meta_extent_foreach(s->meta, ino, piece_cb, &ps) < 0) {
		feed(st, pos, end, NULL, true);
		pos = end;
	}
	while (pos < end && i < ps.n) {
		struct tier_io io[BATCH_PIECES];
		uint64_t from[BATCH_PIECES], to[BATCH_PIECES];
		size_t idx[BATCH_PIECES], k = 0, used = 0;

		/* the next pieces (cut to what is still due) in one batch */
		while (i < ps.n && k < BATCH_PIECES) {
			const struct piece *p = &ps.v[i];
			uint64_t cur = k ? to[k - 1] : pos;
			uint64_t a = p->foff > cur ? p->foff : cur;
			uint64_t pend = p->foff + p->len < end ? p->foff + p->len : end;
			uint64_t b;

			if (a >= pend) {
				i++;
				continue;
			}
			b = pend - a > CHUNK_MAX ? a + CHUNK_MAX : pend;
			if (k && used + (b - a) > BATCH_BYTES)
				break;
			from[k] = a;
			to[k] = b;
			idx[k] = i;
			io[k] = (struct tier_io){ .ref = &p->ref, .crcs = p->crcs,
						  .inner = p->inner + (uint32_t)(a - p->foff),
						  .len = (uint32_t)(b - a), .dst = buf + used };
			used += b - a;
			k++;
			if (b == pend)
				i++;
		}
		if (!k)
			break;
		tier_read_batch(s->tiers, io, (unsigned)k);
		for (size_t j = 0; j < k; j++) {
			if (from[j] > pos)
				feed(st, pos, from[j], NULL, false);	/* a hole */
			if (io[j].result == 0)
				feed(st, from[j], to[j], io[j].dst, false);
			else
				feed_failed(st, s, &ps.v[idx[j]], from[j], to[j]);
			pos = to[j];
		}
	}
	if (pos < end)
		feed(st, pos, end, NULL, false);
	/* ranges that start past every byte, and empty ones at the end */
	if (st->next < st->n || st->nactive)
		feed(st, end, UINT64_MAX, NULL, false);
	pieces_free(&ps);
	for (size_t k = 0; k < st->n; k++) {
		struct vrange *v = &st->r[k];
		const struct recinfo *ri = &c->l->info[v->rec];

		if (v->status == R_OK && (!ri->sha_ok || memcmp(ri->sha, v->got, 32)))
			v->status = R_CHANGED;
	}
}

static void content_work(void *ctx, unsigned thread)
{
	struct content *c = ctx;
	struct fstate st = { 0 };
	uint8_t *buf = malloc(BATCH_BYTES > CHUNK_MAX ? BATCH_BYTES : CHUNK_MAX);
	size_t i;

	while ((i = atomic_fetch_add(&c->next, 1)) < c->nf) {
		if (buf) {
			verify_file(c, &st, &c->f[i], buf);
		} else {
			for (size_t k = 0; k < c->f[i].count; k++)
				c->r[c->f[i].first + k].status = R_UNREADABLE;
		}
		atomic_fetch_add(&c->done, c->f[i].bytes);
		if (thread == 0)	/* the caller's thread shows the progress */
			progress("verify", atomic_load(&c->done), c->total);
	}
	for (size_t k = 0; k < st.cap; k++)
		EVP_MD_CTX_free(st.ctx[k]);
	free(st.active);
	free(st.ctx);
	free(buf);
}

static int range_by_file(const void *a, const void *b)
{
	const struct vrange *x = a, *y = b;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	if (x->seal != y->seal)		/* the writes first, then the seals */
		return x->seal ? 1 : -1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->rec < y->rec ? -1 : x->rec > y->rec;
}

static int range_by_rec(const void *a, const void *b)
{
	const struct vrange *x = a, *y = b;

	return x->rec < y->rec ? -1 : x->rec > y->rec;
}

static int file_by_size(const void *a, const void *b)
{
	const struct vfile *x = a, *y = b;

	return x->bytes > y->bytes ? -1 : x->bytes < y->bytes;
}

/* --- all of it --------------------------------------------------------------- */

struct tree_job {
	struct log *l;
	const char *vkey;
};

static void *tree_main(void *arg)
{
	struct tree_job *j = arg;

	verify_tree(j->l, j->vkey);
	return NULL;
}

void verify_store(struct log *l, struct store *s, const char *vkey, bool tree,
		  unsigned long long *bytes)
{
	struct content c = { .l = l, .s = s };
	struct cover cov = { .l = l, .s = s };
	uint64_t *gone = NULL;
	size_t ngone = 0, m = 0;
	pthread_t cover_thread, tree_thread;
	bool cover_started = false, tree_started;
	struct tree_job tj;
	struct auditrec *r = malloc(sizeof(*r));

	l->info = r ? calloc(l->n ? l->n : 1, sizeof(*l->info)) : NULL;
	if (!l->info) {
		problem(l, "out of memory reading %zu records", l->n);
		free(r);
		return;
	}
	par_for(l->n, parse_part, l);
	for (size_t i = 0; i < l->n; i++)
		if (l->info[i].bad)
			record_bad(l, i);
	/* the range of every write and seal record, by file */
	for (size_t i = 0; i < l->n; i++)
		c.nr += l->info[i].op == OP_WRITE || l->info[i].op == OP_SEAL;
	c.r = calloc(c.nr ? c.nr : 1, sizeof(*c.r));
	c.f = calloc(c.nr ? c.nr : 1, sizeof(*c.f));
	gone = calloc(c.nr ? c.nr : 1, sizeof(*gone));
	if (!c.r || !c.f || !gone) {
		problem(l, "out of memory reading %zu records", l->n);
		goto out;
	}
	c.nr = 0;
	for (size_t i = 0; i < l->n; i++) {
		const struct recinfo *ri = &l->info[i];

		if (ri->op != OP_WRITE && ri->op != OP_SEAL)
			continue;
		c.r[c.nr++] = (struct vrange){ .ino = ri->ino, .rec = i, .seal = ri->op == OP_SEAL,
					       .start = ri->op == OP_WRITE ? ri->off : 0,
					       .end = (ri->op == OP_WRITE ? ri->off : 0) + ri->len };
	}
	qsort(c.r, c.nr, sizeof(*c.r), range_by_file);
	/* the files still in the store; the others are gone */
	for (size_t i = 0, j; i < c.nr; i = j) {
		struct meta_inode in;
		uint64_t sum = 0;

		for (j = i; j < c.nr && c.r[j].ino == c.r[i].ino; j++)
			sum += c.r[j].end - c.r[j].start;
		if (meta_inode_get(s->meta, c.r[i].ino, &in) < 0) {
			gone[ngone++] = c.r[i].ino;
			continue;
		}
		memmove(&c.r[m], &c.r[i], (j - i) * sizeof(*c.r));
		/* jobs: the writes in parts of about JOB_BYTES, the seals */
		for (size_t k = m, first = m, bytes = 0; k < m + (j - i); k++) {
			bytes += c.r[k].end - c.r[k].start;
			if (k + 1 == m + (j - i) || c.r[k + 1].seal != c.r[k].seal ||
			    (!c.r[k].seal && bytes >= JOB_BYTES)) {
				c.f[c.nf++] = (struct vfile){ .first = first, .count = k + 1 - first,
							      .bytes = bytes };
				first = k + 1;
				bytes = 0;
			}
		}
		c.total += sum;
		m += j - i;
	}
	c.nr = m;
	/* the largest first, so that no thread is left with a large one at
	 * the end */
	qsort(c.f, c.nf, sizeof(*c.f), file_by_size);
	cov.out = open_memstream(&cov.text, &cov.len);
	if (cov.out)
		cover_started = pthread_create(&cover_thread, NULL, verify_cover_main, &cov) == 0;
	tj = (struct tree_job){ l, vkey };
	tree_started = tree && pthread_create(&tree_thread, NULL, tree_main, &tj) == 0;
	if (tree && !tree_started)
		verify_tree(l, vkey);
	par_all(content_work, &c);
	if (tree_started)
		pthread_join(tree_thread, NULL);	/* its problems come first */
	if (c.nf)
		progress("verify", c.total, c.total);
	/* what was found, in the order of the records */
	qsort(c.r, c.nr, sizeof(*c.r), range_by_rec);
	for (size_t i = 0; i < c.nr; i++) {
		const struct vrange *v = &c.r[i];
		const struct recinfo *ri = &l->info[v->rec];
		char got[65];

		if (v->status == R_UNREADABLE) {
			auditrec_parse(r, l->rec[v->rec], l->len[v->rec], NULL);
			problem(l, "record %zu: %s (inode %llu): bytes at %llu cannot be read "
				"(damaged)", v->rec, r->path, (unsigned long long)v->ino,
				(unsigned long long)v->start);
			continue;
		}
		*bytes += v->end - v->start;
		if (v->status != R_CHANGED)
			continue;
		auditrec_parse(r, l->rec[v->rec], l->len[v->rec], NULL);
		for (int k = 0; k < 32; k++)
			snprintf(got + 2 * k, 3, "%02x", v->got[k]);
		problem(l, "record %zu: %s (inode %llu): the %s of %llu bytes at offset %llu "
			"was changed: sha256 %s, recorded %s", v->rec, r->path,
			(unsigned long long)v->ino, ri->op == OP_WRITE ? "write" : "seal",
			(unsigned long long)ri->len, (unsigned long long)v->start, got, r->sha256);
	}
	verify_deletions(l, gone, ngone);
	if (cover_started)
		pthread_join(cover_thread, NULL);
	if (cov.out) {
		fclose(cov.out);
		for (char *p = cov.text, *nl; p && *p; p = nl + 1) {
			nl = strchr(p, '\n');
			if (!nl)
				break;
			*nl = 0;
			problem(l, "%s", p);
		}
		free(cov.text);
	}
	free(cov.v);
	verify_lineage(l, s);
out:
	free(r);
	free(gone);
	free(c.r);
	free(c.f);
}
