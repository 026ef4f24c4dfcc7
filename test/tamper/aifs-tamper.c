/* aifs-tamper.c — change the journal of an unmounted store behind aifs's
 * back, for the tamper tests (test/integration/test_journal_more.py).
 *
 *   aifs-tamper STORE delete-record SEQ     remove journal record SEQ
 *   aifs-tamper STORE alter-record SEQ      change one character of its JSON
 *                                           (a digit of "length")
 *   aifs-tamper STORE swap-records A B      exchange the values of A and B
 *   aifs-tamper STORE truncate-log N        remove every record with seq >= N
 *   aifs-tamper STORE delete-checkpoint SIZE  remove the signed checkpoint
 *                                           at tree size SIZE
 *   aifs-tamper STORE delete-inode INO      remove file INO's inode record
 *                                           (a deletion no daemon recorded)
 *   aifs-tamper STORE skew-space-count N    add one to the reference count the
 *                                           store keeps of its N-th stored
 *                                           extent (a logged change no extent
 *                                           record backs)
 *   aifs-tamper STORE old-format 1          make the store one of format 1, as
 *                                           an aifs before kept reference
 *                                           counts made it: format 1 in
 *                                           aifs.conf and the metadata, no
 *                                           kept counts (STORE/space.counts,
 *                                           the mark and the log gone)
 *   aifs-tamper STORE old-format 2          make it one of format 2, as an aifs
 *                                           before epoch snapshots made it (the
 *                                           format number only)
 *
 * Journal records are kind 'J' keyed by the 8-byte big-endian seq, the
 * JSON leaf as value; signed checkpoints are kind 'K' keyed by the 8-byte
 * big-endian tree size (fs/journal.c).  The store is opened through
 * store_open (so it must not be mounted) and every change is one durable
 * batch.  Exit 0 on success, 1 with a message on stderr otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meta/keys.h"
#include "meta/records.h"
#include "meta/spacecp.h"
#include "meta/store.h"

#define REC_J META_REC_JOURNAL_LEAF
#define REC_K META_REC_JOURNAL_CHECKPOINT

static const char usage[] =
	"usage: aifs-tamper STORE delete-record SEQ\n"
	"       aifs-tamper STORE alter-record SEQ\n"
	"       aifs-tamper STORE swap-records A B\n"
	"       aifs-tamper STORE truncate-log N\n"
	"       aifs-tamper STORE delete-checkpoint SIZE\n"
	"       aifs-tamper STORE delete-inode INO\n"
	"       aifs-tamper STORE alter-lineage INO\n"
	"       aifs-tamper STORE skew-space-count N\n"
	"       aifs-tamper STORE old-format 1|2\n";

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!*s || *s == '-')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

/* Value of record KIND/N into *VAL (malloc'd); 0, or -1 with a message. */
static int get(struct store *s, uint8_t kind, uint64_t n, void **val, size_t *len)
{
	uint8_t k[8];
	int rc;

	key_put_u64(k, n);
	rc = meta_rec_get(s->meta, kind, k, 8, val, len);
	if (rc < 0) {
		fprintf(stderr, "aifs-tamper: no %s %llu: %s\n",
			kind == REC_J ? "journal record" : "checkpoint at size",
			(unsigned long long)n, strerror(-rc));
		return -1;
	}
	return 0;
}

static int commit(struct store *s, struct meta_batch *b)
{
	int rc = meta_batch_commit(s->meta, b, true);

	if (rc < 0)
		fprintf(stderr, "aifs-tamper: commit: %s\n", strerror(-rc));
	return rc < 0 ? -1 : 0;
}

static int delete_one(struct store *s, struct meta_batch *b, uint8_t kind, uint64_t n)
{
	uint8_t k[8];
	void *v;
	size_t len;

	if (get(s, kind, n, &v, &len) < 0)
		return -1;
	free(v);
	key_put_u64(k, n);
	meta_rec_del(b, kind, k, 8);
	return commit(s, b);
}

static int delete_inode(struct store *s, struct meta_batch *b, uint64_t ino)
{
	struct meta_inode in;

	if (meta_inode_get(s->meta, ino, &in) < 0) {
		fprintf(stderr, "aifs-tamper: no inode %llu\n", (unsigned long long)ino);
		return -1;
	}
	meta_inode_del(b, ino);
	return commit(s, b);
}

/* Change one character: a digit of "length" if there is one (d -> d+1,
 * 9 -> 8), else the last character before the closing brace. */
static int alter(struct store *s, struct meta_batch *b, uint64_t seq)
{
	static const char field[] = "\"length\":";
	uint8_t k[8];
	char *v, *p, old;
	size_t len;

	if (get(s, REC_J, seq, (void **)&v, &len) < 0)
		return -1;
	p = memmem(v, len, field, sizeof(field) - 1);
	if (p && p + sizeof(field) - 1 < v + len && p[sizeof(field) - 1] >= '0' &&
	    p[sizeof(field) - 1] <= '9') {
		p += sizeof(field) - 1;
		old = *p;
		*p = old == '9' ? '8' : old + 1;
	} else if (len >= 2) {
		p = v + len - 2;
		old = *p;
		*p ^= 0x01;
	} else {
		fprintf(stderr, "aifs-tamper: record %llu is too short to alter\n",
			(unsigned long long)seq);
		free(v);
		return -1;
	}
	fprintf(stderr, "aifs-tamper: record %llu: offset %zu: '%c' -> '%c'\n",
		(unsigned long long)seq, (size_t)(p - v), old, *p);
	key_put_u64(k, seq);
	meta_rec_put(b, REC_J, k, 8, v, len);
	free(v);
	return commit(s, b);
}

static int swap(struct store *s, struct meta_batch *b, uint64_t x, uint64_t y)
{
	uint8_t kx[8], ky[8];
	void *vx, *vy;
	size_t lx, ly;
	int rc;

	if (x == y) {
		fprintf(stderr, "aifs-tamper: swap-records: A and B are the same record\n");
		return -1;
	}
	if (get(s, REC_J, x, &vx, &lx) < 0)
		return -1;
	if (get(s, REC_J, y, &vy, &ly) < 0) {
		free(vx);
		return -1;
	}
	key_put_u64(kx, x);
	key_put_u64(ky, y);
	meta_rec_put(b, REC_J, kx, 8, vy, ly);
	meta_rec_put(b, REC_J, ky, 8, vx, lx);
	rc = commit(s, b);
	free(vx);
	free(vy);
	return rc;
}

struct trunc {
	uint64_t from, n;
	struct meta_batch *b;
};

static int trunc_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct trunc *t = ctx;

	(void)val;
	(void)vlen;
	if (klen == 8 && key_get_u64(key) >= t->from) {
		meta_rec_del(t->b, REC_J, key, 8);
		t->n++;
	}
	return 0;
}

static int truncate_log(struct store *s, struct meta_batch *b, uint64_t from)
{
	struct trunc t = { from, 0, b };
	int rc = meta_rec_foreach(s->meta, REC_J, NULL, 0, trunc_cb, &t);

	if (rc < 0) {
		fprintf(stderr, "aifs-tamper: reading the journal: %s\n", strerror(-rc));
		return -1;
	}
	if (!t.n) {
		fprintf(stderr, "aifs-tamper: no journal records with seq >= %llu\n",
			(unsigned long long)from);
		return -1;
	}
	fprintf(stderr, "aifs-tamper: deleting %llu records from seq %llu on\n",
		(unsigned long long)t.n, (unsigned long long)from);
	return commit(s, b);
}

/* Change one byte of the lineage ('Z' record) of inode INO, as someone
 * who rewrote what a journal file says its writer read. */
static int alter_lineage(struct store *s, struct meta_batch *b, uint64_t ino)
{
	uint8_t k[8];
	void *v;
	size_t len;

	if (get(s, 'Z', ino, &v, &len) < 0)
		return -1;
	((uint8_t *)v)[len - 2] ^= 0x20;
	key_put_u64(k, ino);
	meta_rec_put(b, 'Z', k, 8, v, len);
	free(v);
	return commit(s, b);
}

static int skew_space_count(struct store *s, struct meta_batch *b, uint64_t nth)
{
	struct space_count *v;
	struct tier_ref r;
	uint64_t end;
	size_t n;
	char why[256];
	int rc = store_space_load(s, &v, &n, &end, why, sizeof(why));

	if (rc < 0) {
		fprintf(stderr, "aifs-tamper: the store keeps no reference counts: %s\n", why);
		return -1;
	}
	if (nth >= n) {
		fprintf(stderr, "aifs-tamper: the store keeps counts of %zu extents\n", n);
		free(v);
		return -1;
	}
	r = (struct tier_ref){ .tier = v[nth].tier, .seg = v[nth].seg, .off = v[nth].off,
			       .stored_len = v[nth].len };
	fprintf(stderr, "aifs-tamper: tier %u segment %u offset %llu: count %u -> %u\n", r.tier,
		r.seg, (unsigned long long)r.off, v[nth].refs, v[nth].refs + 1);
	free(v);
	meta_space_delta(b, &r, +1);
	return commit(s, b);
}

static int old_format(struct store *s, struct meta_batch *b, uint64_t format)
{
	char path[4200];

	if (format == 2) {
		if (store_set_format(s, 2) < 0) {
			fprintf(stderr, "aifs-tamper: cannot set format 2\n");
			return -1;
		}
		return 0;
	}
	meta_space_drop(b);
	if (commit(s, b) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/space.counts", s->path);
	if (unlink(path) < 0 && errno != ENOENT) {
		fprintf(stderr, "aifs-tamper: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (store_set_format(s, 1) < 0) {
		fprintf(stderr, "aifs-tamper: cannot set format 1\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct store *s = NULL;
	struct meta_batch *b;
	char err[1024];
	uint64_t x = 0, y = 0;
	const char *op;
	int nargs, rc;

	if (argc < 4)
		goto usage;
	op = argv[2];
	nargs = !strcmp(op, "swap-records") ? 2 : 1;
	if (argc != 3 + nargs || parse_u64(argv[3], &x) < 0 ||
	    (nargs == 2 && parse_u64(argv[4], &y) < 0))
		goto usage;
	if (strcmp(op, "delete-record") && strcmp(op, "alter-record") &&
	    strcmp(op, "swap-records") && strcmp(op, "truncate-log") &&
	    strcmp(op, "delete-checkpoint") && strcmp(op, "delete-inode") &&
	    strcmp(op, "alter-lineage") && strcmp(op, "skew-space-count") &&
	    (strcmp(op, "old-format") || (x != 1 && x != 2)))
		goto usage;

	rc = -EBUSY;
	/* a store unmounted a moment ago may still be closing */
	for (int tries = 0; tries < 50 && rc == -EBUSY; tries++) {
		rc = store_open(argv[1], &s, err, sizeof(err));
		if (rc == -EBUSY)
			usleep(100000);
	}
	if (rc < 0) {
		fprintf(stderr, "aifs-tamper: %s\n", err);
		return 1;
	}
	b = meta_batch_new();
	if (!b) {
		fprintf(stderr, "aifs-tamper: out of memory\n");
		store_close(s);
		return 1;
	}
	if (!strcmp(op, "delete-record"))
		rc = delete_one(s, b, REC_J, x);
	else if (!strcmp(op, "alter-record"))
		rc = alter(s, b, x);
	else if (!strcmp(op, "swap-records"))
		rc = swap(s, b, x, y);
	else if (!strcmp(op, "truncate-log"))
		rc = truncate_log(s, b, x);
	else if (!strcmp(op, "delete-inode"))
		rc = delete_inode(s, b, x);
	else if (!strcmp(op, "alter-lineage"))
		rc = alter_lineage(s, b, x);
	else if (!strcmp(op, "skew-space-count"))
		rc = skew_space_count(s, b, x);
	else if (!strcmp(op, "old-format"))
		rc = old_format(s, b, x);
	else
		rc = delete_one(s, b, REC_K, x);
	meta_batch_free(b);
	store_close(s);
	return rc < 0 ? 1 : 0;
usage:
	fputs(usage, stderr);
	return 1;
}
