/* history.c — epoch snapshots: a snapshot is an epoch of the store, not a
 * copy of its records (the design is at the top of fs/snapshot.h).
 *
 * The store counts epochs ('S' "epochs": the current one).  Making an
 * epoch snapshot of a dataset writes one 'e' record, epoch | {hwm, ds, time},
 * and moves the store to the next epoch: constant time.  Every inode that
 * existed then has a number of at most hwm (numbers only grow).
 *
 * History.  While some epoch snapshot lives, a commit that changes a
 * record of a namespace kind (I D E X L N and the content hash H, all
 * keyed "kind | ino | ...") of an inode numbered at most the greatest
 * live hwm first keeps the value the record had, once per epoch: 'h' |
 * kind | key | death (the epoch of the change), whose value is 1 and the
 * old value, or 0 when the record did not exist (a name made since).  An
 * index 'g' | death | kind | key finds what a change of an epoch kept.
 * A record kept from epoch E on holds the value of every epoch in
 * [previous death, E); the value of a record at epoch e is thus the
 * first history entry whose death is > e, or the live record if none is.
 * Inodes made after the newest snapshot pay nothing, nor does a store
 * without epoch snapshots.  An extent record kept in history keeps its
 * stored extent referenced (a +1 in the space log, and in the daemon's
 * counts through meta_batch_kept).
 *
 * Views.  The files of epoch snapshot e are named by snapshot inode
 * numbers meta_snap_ino(e, live ino); meta.c's readers answer them from
 * the records at epoch e (histview.c: hist_view_get, hist_view_foreach),
 * read-only.
 *
 * Dropping an epoch deletes what only it needed: entries whose death lies
 * between it and the next live epoch and that no earlier live epoch sees,
 * at a cost in the changes made in that span, not in the tree.
 *
 * Concurrency.  Every commit holds the gate shared; one that makes or
 * drops an epoch holds it exclusive, so that no commit decides with an
 * epoch state that changes under it.  While history is kept, the commits
 * that change a record an epoch sees (of an inode numbered at most hwm) are
 * serialized by a mutex from the check of a record to its write; the others
 * (files made since the newest snapshot) go on in parallel.
 *
 * Tiering moves a piece of a snapshot's file by history entries too, made
 * under that mutex at commit (histmove.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "meta/db.h"
#include "meta/history_priv.h"
#include "meta/keys.h"
#include "meta/meta.h"
#include "meta/meta_priv.h"
#include "meta/records.h"
#include "tier/failpoint.h"
#include "tier/log.h"

static const uint8_t epochs_key[] = { META_REC_SUPER, 'e', 'p', 'o', 'c', 'h', 's' };

struct hist {
	pthread_rwlock_t gate;		/* commits shared; epoch changes exclusive */
	pthread_mutex_t keep;		/* commits that keep history */
	pthread_rwlock_t state;		/* what follows */
	uint64_t cur;			/* the current epoch */
	struct meta_epoch *v;		/* live epoch snapshots, by epoch */
	size_t n;
	uint64_t hwm;			/* the greatest of their hwm */
};


bool meta_hist_kind(uint8_t kind)
{
	switch (kind) {
	case META_REC_INODE: case META_REC_DENTRY: case META_REC_EXTENT:
	case META_REC_XATTR: case META_REC_SYMLINK: case META_REC_INLINE:
	case META_REC_CONTENT_HASH:
		return true;
	default:
		return false;
	}
}

/* --- state -------------------------------------------------------------- */

static int epoch_decode(const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
			struct meta_epoch *e)
{
	const uint8_t *p = v + 1;

	if (klen != 9 || vlen != 25 || v[0] != 1)
		return meta_corrupt("epoch", k, klen, vlen);
	e->epoch = key_get_u64(k + 1);
	e->hwm = meta_le_get(&p, 8);
	e->ds = meta_le_get(&p, 8);
	e->time = (int64_t)meta_le_get(&p, 8);
	return 0;
}

/* Read the epoch state from the store into H (its lock held, or not yet shared). */
static int load(struct meta *m, struct hist *h)
{
	const uint8_t prefix[] = { META_REC_EPOCH };
	struct meta_epoch *v = NULL, e;
	size_t n = 0, cap = 0;
	struct db_pinned p;
	struct db_cursor c;
	uint64_t cur = 1, hwm = 0;
	int rc = db_get_pinned(m, epochs_key, sizeof(epochs_key), &p);

	if (rc == 0) {
		const uint8_t *q = p.v;

		if (p.len == 8)
			cur = meta_le_get(&q, 8);
		else
			rc = meta_corrupt("epoch counter", epochs_key, sizeof(epochs_key), p.len);
		db_unpin(&p);
	} else if (rc == -ENOENT) {
		rc = 0;
	}
	if (rc == 0)
		rc = db_cur_open(&c, m, prefix, 1, prefix, 1);
	if (rc)
		return rc;
	while (rc == 0 && db_cur_next(&c)) {
		rc = epoch_decode(c.k, c.klen, c.v, c.vlen, &e);
		if (rc == 0 && n == cap) {
			struct meta_epoch *nv = realloc(v, (cap = cap ? 2 * cap : 8) * sizeof(*v));

			if (!nv)
				rc = -ENOMEM;
			else
				v = nv;
		}
		if (rc == 0) {
			v[n++] = e;
			if (e.hwm > hwm)
				hwm = e.hwm;
		}
	}
	rc = db_cur_close(&c, rc);
	if (rc) {
		free(v);
		return rc;
	}
	free(h->v);
	h->v = v;
	h->n = n;
	h->cur = cur;
	h->hwm = hwm;
	return 0;
}

int hist_open(struct meta *m)
{
	struct hist *h = calloc(1, sizeof(*h));
	int rc;

	if (!h)
		return -ENOMEM;
	pthread_rwlock_init(&h->gate, NULL);
	pthread_mutex_init(&h->keep, NULL);
	pthread_rwlock_init(&h->state, NULL);
	rc = load(m, h);
	if (rc) {
		hist_close(h);
		return rc;
	}
	*db_hist(m) = h;
	return 0;
}

void hist_close(struct hist *h)
{
	if (!h)
		return;
	pthread_rwlock_destroy(&h->gate);
	pthread_mutex_destroy(&h->keep);
	pthread_rwlock_destroy(&h->state);
	free(h->v);
	free(h);
}

void hist_reload(struct meta *m)
{
	struct hist *h = *db_hist(m);
	int rc;

	pthread_rwlock_wrlock(&h->state);
	rc = load(m, h);
	pthread_rwlock_unlock(&h->state);
	if (rc)
		log_err("meta: cannot read the epoch snapshots after an update: %s", strerror(-rc));
}

int meta_epoch_get(struct meta *m, uint64_t epoch, struct meta_epoch *out)
{
	struct hist *h = *db_hist(m);
	int rc = -ENOENT;

	pthread_rwlock_rdlock(&h->state);
	for (size_t i = 0; i < h->n; i++)
		if (h->v[i].epoch == epoch) {
			*out = h->v[i];
			rc = 0;
			break;
		}
	pthread_rwlock_unlock(&h->state);
	return rc;
}

/* A copy of the list: FN may read the store, which takes the state lock. */
int meta_epoch_foreach(struct meta *m, int (*fn)(void *ctx, const struct meta_epoch *ep),
		       void *ctx)
{
	struct hist *h = *db_hist(m);
	struct meta_epoch *v;
	size_t n;
	int rc = 0;

	pthread_rwlock_rdlock(&h->state);
	n = h->n;
	v = malloc((n ? n : 1) * sizeof(*v));
	if (v && n)
		memcpy(v, h->v, n * sizeof(*v));
	pthread_rwlock_unlock(&h->state);
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = fn(ctx, &v[i]);
	free(v);
	return rc;
}

bool meta_history_covers(struct meta *m, uint64_t ino)
{
	struct hist *h = *db_hist(m);
	bool r;

	pthread_rwlock_rdlock(&h->state);
	r = h->n && ino <= h->hwm;
	pthread_rwlock_unlock(&h->state);
	return r;
}

/* Whether a live epoch lies in [LO, HI). */
bool hist_live_in(struct hist *h, uint64_t lo, uint64_t hi)
{
	bool r = false;

	pthread_rwlock_rdlock(&h->state);
	for (size_t i = 0; i < h->n && !r; i++)
		r = h->v[i].epoch >= lo && h->v[i].epoch < hi;
	pthread_rwlock_unlock(&h->state);
	return r;
}

/* --- batches ------------------------------------------------------------ */

size_t meta_batch_kept(struct meta_batch *b, const struct tier_ref **v)
{
	struct hist_batch *hb = db_batch_hist(b);

	*v = hb->kept;
	return hb->nkept;
}

int hist_kept_add(struct hist_batch *hb, const struct tier_ref *r)
{
	if (hb->nkept == hb->capkept) {
		size_t cap = hb->capkept ? 2 * hb->capkept : 16;
		struct tier_ref *v = realloc(hb->kept, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		hb->kept = v;
		hb->capkept = cap;
	}
	hb->kept[hb->nkept++] = *r;
	return 0;
}

int meta_epoch_create(struct meta *m, struct meta_batch *b, uint64_t ds, uint64_t hwm,
		      int64_t time, uint64_t *epoch)
{
	struct hist *h = *db_hist(m);
	struct hist_batch *hb = db_batch_hist(b);
	uint8_t k[9], v[25], c[8];
	uint64_t e;

	pthread_rwlock_rdlock(&h->state);
	e = h->cur;
	pthread_rwlock_unlock(&h->state);
	if (e > META_SNAP_EPOCH_MAX || hwm > META_SNAP_INO_MAX || ds > hwm || hb->change)
		return -EOVERFLOW;
	k[0] = META_REC_EPOCH;
	key_put_u64(k + 1, e);
	v[0] = 1;
	meta_le_put(meta_le_put(meta_le_put(v + 1, hwm, 8), ds, 8), (uint64_t)time, 8);
	db_batch_put(b, k, sizeof(k), v, sizeof(v));
	meta_le_put(c, e + 1, 8);
	db_batch_put(b, epochs_key, sizeof(epochs_key), c, sizeof(c));
	hb->change = +1;
	hb->ep = (struct meta_epoch){ .epoch = e, .hwm = hwm, .ds = ds, .time = time };
	*epoch = e;
	return 0;
}

/* --- keeping history at commit ------------------------------------------ */

struct hkey {
	uint16_t len;
	uint8_t k[KEY_MAX];
};

struct collect {
	struct hkey *v;
	size_t n, cap;
	uint64_t hwm;
	int rc;
};

static void collect_key(struct collect *c, const uint8_t *k, size_t klen)
{
	uint64_t ino;

	if (c->rc || klen < 9 || klen > KEY_MAX || !meta_hist_kind(k[0]))
		return;
	ino = key_get_u64(k + 1);
	if (meta_ino_is_snap(ino)) {
		log_err("meta: a change of a record of snapshot inode %llu refused: snapshots are "
			"read-only", (unsigned long long)ino);
		c->rc = -EROFS;
		return;
	}
	if (ino > c->hwm)
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		struct hkey *v = realloc(c->v, cap * sizeof(*v));

		if (!v) {
			c->rc = -ENOMEM;
			return;
		}
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n].len = (uint16_t)klen;
	memcpy(c->v[c->n].k, k, klen);
	c->n++;
}

static void collect_put(void *ctx, const char *k, size_t klen, const char *v, size_t vlen)
{
	(void)v;
	(void)vlen;
	collect_key(ctx, (const uint8_t *)k, klen);
}

static void collect_del(void *ctx, const char *k, size_t klen)
{
	collect_key(ctx, (const uint8_t *)k, klen);
}

static int hkey_cmp(const void *a, const void *b)
{
	const struct hkey *x = a, *y = b;
	int r = memcmp(x->k, y->k, x->len < y->len ? x->len : y->len);

	return r ? r : (int)x->len - (int)y->len;
}

/* 'h' | K | DEATH into HK; its length. */
size_t hist_hkey(uint8_t *hk, const uint8_t *k, size_t klen, uint64_t death)
{
	hk[0] = META_REC_HISTORY;
	memcpy(hk + 1, k, klen);
	key_put_u64(hk + 1 + klen, death);
	return 1 + klen + 8;
}

/* 'g' | DEATH | K into GK; its length. */
size_t hist_gkey(uint8_t *gk, const uint8_t *k, size_t klen, uint64_t death)
{
	gk[0] = META_REC_HISTORY_BY_DEATH;
	key_put_u64(gk + 1, death);
	memcpy(gk + 9, k, klen);
	return 9 + klen;
}

/* 'f' | K into FK: the mark that K has history entries; its length. */
size_t hist_fkey(uint8_t *fk, const uint8_t *k, size_t klen)
{
	fk[0] = META_REC_HISTORY_MARK;
	memcpy(fk + 1, k, klen);
	return 1 + klen;
}

/* Keep the value of record K (before B) as it was before epoch CUR. */
static int keep_one(struct meta *m, struct meta_batch *b, struct hist_batch *hb,
		    const uint8_t *k, size_t klen, uint64_t cur)
{
	uint8_t hk[HKEY_MAX], gk[HKEY_MAX];
	size_t hlen = hist_hkey(hk, k, klen, cur);
	struct db_pinned p;
	uint8_t *v;
	int rc = db_get_pinned(m, hk, hlen, &p);

	if (rc == 0) {
		db_unpin(&p);
		return 0;	/* kept already in this epoch */
	}
	if (rc != -ENOENT)
		return rc;
	rc = db_get_pinned(m, k, klen, &p);
	if (rc == -ENOENT) {
		static const uint8_t absent = 0;

		db_batch_put(b, hk, hlen, &absent, 1);
	} else if (rc == 0) {
		v = malloc(p.len + 1);
		if (!v) {
			db_unpin(&p);
			return -ENOMEM;
		}
		v[0] = 1;
		memcpy(v + 1, p.v, p.len);
		if (k[0] == META_REC_EXTENT) {
			struct tier_ref r;

			rc = meta_extent_ref(k, klen, p.v, p.len, &r);
			if (rc == 0)
				rc = hist_kept_add(hb, &r);
			if (rc == 0)
				meta_space_delta(b, &r, +1);
		}
		if (rc == 0)
			db_batch_put(b, hk, hlen, v, p.len + 1);
		free(v);
		db_unpin(&p);
		if (rc)
			return rc;
	} else {
		return rc;
	}
	db_batch_put(b, gk, hist_gkey(gk, k, klen, cur), "", 0);
	db_batch_put(b, gk, hist_fkey(gk, k, klen), "", 0);
	return 0;
}

static int drop_scan(struct meta *m, struct meta_batch *b, struct hist_batch *hb,
		     uint64_t epoch, uint64_t prev, uint64_t next);

int hist_commit_begin(struct meta *m, struct meta_batch *b)
{
	struct hist *h = *db_hist(m);
	struct hist_batch *hb = db_batch_hist(b);
	struct collect c = { 0 };
	uint64_t cur, prev = 0, next = 0;
	bool found = false;
	size_t live = 0;
	int rc = 0;

	if (hb->change)
		pthread_rwlock_wrlock(&h->gate);
	else
		pthread_rwlock_rdlock(&h->gate);
	pthread_rwlock_rdlock(&h->state);
	cur = h->cur;
	for (size_t i = 0; i < h->n; i++) {
		uint64_t e = h->v[i].epoch;

		if (hb->change < 0 && e == hb->ep.epoch) {
			found = true;	/* dropped by this very commit */
			continue;
		}
		live++;
		if (h->v[i].hwm > c.hwm)
			c.hwm = h->v[i].hwm;
		if (hb->change < 0 && e < hb->ep.epoch && e > prev)
			prev = e;
		if (hb->change < 0 && e > hb->ep.epoch && (!next || e < next))
			next = e;
	}
	pthread_rwlock_unlock(&h->state);
	hb->gate = true;
	hb->keeping = false;
	hb->marked = false;
	hb->nkept = 0;
	hb->ndropped = 0;
	if (hb->change < 0 && !found) {
		rc = -ENOENT;		/* dropped meanwhile */
		goto out;
	}
	if (live == 0 && hb->change >= 0)
		return 0;		/* read under the gate: no epoch comes or goes now */
	hb->marked = true;
	hb->nd0 = db_batch_nd(b);
	db_batch_mark(b);
	if (hb->change < 0) {
		rc = drop_scan(m, b, hb, hb->ep.epoch, prev, next);
		if (rc || live == 0)
			goto out;
	}
	db_batch_iterate(b, &c, collect_put, collect_del);
	rc = c.rc;
	if (rc || (c.n == 0 && hb->nmoves == 0)) {
		free(c.v);	/* nothing an epoch sees: no need to wait for others */
		goto out;
	}
	hb->keeping = true;
	pthread_mutex_lock(&h->keep);
	if (c.n) {
		qsort(c.v, c.n, sizeof(*c.v), hkey_cmp);
		for (size_t i = 0; rc == 0 && i < c.n; i++)
			if (i == 0 || hkey_cmp(&c.v[i - 1], &c.v[i]))
				rc = keep_one(m, b, hb, c.v[i].k, c.v[i].len, cur);
	}
	for (size_t i = 0; rc == 0 && i < hb->nmoves; i++)
		rc = hist_move_one(m, b, hb, &hb->moves[i]);
	if (rc == 0)	/* after what was kept: its undoing is what is tested */
		rc = failpoint("history_keep", ENOMEM);
	free(c.v);
out:
	if (rc)
		hist_commit_end(m, b, false);
	return rc;
}

void hist_commit_end(struct meta *m, struct meta_batch *b, bool ok)
{
	struct hist *h = *db_hist(m);
	struct hist_batch *hb = db_batch_hist(b);

	if (!hb->gate)
		return;
	if (hb->marked) {
		db_batch_unmark(b, !ok);
		if (!ok) {
			db_batch_set_nd(b, hb->nd0);
			hb->nkept = 0;
			hb->ndropped = 0;
		}
		hb->marked = false;
	}
	if (ok && hb->change) {
		/* the store says what lives now; if it cannot be read, the
		 * state before a drop is kept (history kept for it: safe) and
		 * a made one is added by hand */
		pthread_rwlock_wrlock(&h->state);
		if (load(m, h) != 0 && hb->change > 0) {
			struct meta_epoch *v = realloc(h->v, (h->n + 1) * sizeof(*v));

			if (v) {
				h->v = v;
				h->v[h->n++] = hb->ep;
			}
			h->cur = hb->ep.epoch + 1;
			if (hb->ep.hwm > h->hwm)
				h->hwm = hb->ep.hwm;
			if (!v)
				h->hwm = META_SNAP_INO_MAX;	/* keep everything */
		}
		pthread_rwlock_unlock(&h->state);
	}
	if (ok)
		hb->change = 0;
	if (hb->keeping)
		pthread_mutex_unlock(&h->keep);
	hb->keeping = false;
	hb->gate = false;
	pthread_rwlock_unlock(&h->gate);
}

/* --- dropping an epoch -------------------------------------------------- */

/* The death of the entry of K kept before DEATH, or 0 if there is none. */
int hist_death_before(struct meta *m, const uint8_t *k, size_t klen, uint64_t death,
		      uint64_t *prev)
{
	uint8_t lo[HKEY_MAX], at[HKEY_MAX], got[HKEY_MAX];
	size_t lolen = 1 + klen, glen;
	int rc;

	lo[0] = META_REC_HISTORY;
	memcpy(lo + 1, k, klen);
	*prev = 0;
	if (death <= 1)
		return 0;
	rc = db_prev_key(m, "history", lo, lolen, at, hist_hkey(at, k, klen, death - 1), got,
			 sizeof(got), &glen);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	if (glen == lolen + 8 && !memcmp(got, lo, lolen))
		*prev = key_get_u64(got + lolen);
	return 0;
}

/* Whether K has a history entry that died after DEATH. */
static int entry_after(struct meta *m, const uint8_t *k, size_t klen, uint64_t death,
		       bool *later)
{
	uint8_t hk[HKEY_MAX];
	size_t hlen = hist_hkey(hk, k, klen, death + 1);
	struct db_cursor c;
	int rc = db_cur_open(&c, m, hk, 1 + klen, hk, hlen);

	if (rc)
		return rc;
	*later = db_cur_next(&c) && c.klen == hlen;
	return db_cur_close(&c, 0);
}

/* Delete every history mark (the last epoch goes: marks whose entries went
 * in earlier drops of the same batch of changes are left no longer). */
static int drop_marks(struct meta *m, struct meta_batch *b)
{
	const uint8_t prefix[] = { META_REC_HISTORY_MARK };
	struct db_cursor c;
	int rc = db_cur_open(&c, m, prefix, 1, prefix, 1);

	if (rc)
		return rc;
	while (db_cur_next(&c))
		db_batch_del(b, c.k, c.klen);
	return db_cur_close(&c, 0);
}

int meta_epoch_drop(struct meta *m, struct meta_batch *b, uint64_t epoch)
{
	struct hist_batch *hb = db_batch_hist(b);
	struct meta_epoch ep;
	uint8_t k[9];
	int rc;

	if (hb->change)
		return -EINVAL;
	rc = meta_epoch_get(m, epoch, &ep);
	if (rc)
		return rc;
	k[0] = META_REC_EPOCH;
	key_put_u64(k + 1, epoch);
	db_batch_del(b, k, sizeof(k));
	hb->change = -1;
	hb->ep = ep;
	return 0;
}

size_t meta_batch_dropped(struct meta_batch *b, const struct tier_ref **v)
{
	struct hist_batch *hb = db_batch_hist(b);

	*v = hb->dropped;
	return hb->ndropped;
}

int hist_dropped_add(struct hist_batch *hb, const struct tier_ref *r)
{
	if (hb->ndropped == hb->capdropped) {
		size_t cap = hb->capdropped ? 2 * hb->capdropped : 64;
		struct tier_ref *v = realloc(hb->dropped, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		hb->dropped = v;
		hb->capdropped = cap;
	}
	hb->dropped[hb->ndropped++] = *r;
	return 0;
}

/* Into B (at its commit, the gate held exclusive: no other commit keeps
 * anything meanwhile), the deletion of what only epoch EPOCH needed: the
 * entries that died in (EPOCH, NEXT] (after NEXT, NEXT needs them; 0: no
 * later live epoch) and that PREV, the live epoch before it (0: none),
 * does not see. */
static int drop_scan(struct meta *m, struct meta_batch *b, struct hist_batch *hb,
		     uint64_t epoch, uint64_t prev, uint64_t next)
{
	uint8_t lo[9], hi[9];
	struct db_cursor c;
	int rc;

	lo[0] = hi[0] = META_REC_HISTORY_BY_DEATH;
	key_put_u64(lo + 1, epoch + 1);
	if (next)
		key_put_u64(hi + 1, next + 1);
	rc = db_cur_open(&c, m, lo, 1, lo, sizeof(lo));
	if (rc)
		return rc;
	while (rc == 0 && db_cur_next(&c)) {
		const uint8_t *key = c.k + 9;
		size_t klen = c.klen - 9;
		uint64_t death, before;
		uint8_t hk[HKEY_MAX];
		size_t hlen;

		if (c.klen < 18 || c.klen - 9 > KEY_MAX) {
			rc = meta_corrupt("history index", c.k, c.klen, c.vlen);
			break;
		}
		if (next && memcmp(c.k, hi, sizeof(hi)) >= 0)
			break;
		death = key_get_u64(c.k + 1);
		rc = hist_death_before(m, key, klen, death, &before);
		if (rc)
			break;
		if (prev && (!before || before <= prev))
			continue;	/* the previous live epoch sees it */
		hlen = hist_hkey(hk, key, klen, death);
		if (key[0] == META_REC_EXTENT) {
			struct db_pinned p;

			rc = db_get_pinned(m, hk, hlen, &p);
			if (rc == 0) {
				if (p.len > 1 && p.v[0] == 1) {
					struct tier_ref r;

					rc = meta_extent_ref(key, klen, p.v + 1, p.len - 1, &r);
					if (rc == 0)
						rc = hist_dropped_add(hb, &r);
					if (rc == 0)
						meta_space_delta(b, &r, -1);
				}
				db_unpin(&p);
			} else if (rc == -ENOENT) {
				rc = 0;
			}
			if (rc)
				break;
		}
		db_batch_del(b, hk, hlen);
		db_batch_del(b, c.k, c.klen);
		if (!before) {	/* the mark goes with the last entry */
			bool later;

			rc = entry_after(m, key, klen, death, &later);
			if (rc == 0 && !later)
				db_batch_del(b, hk, hist_fkey(hk, key, klen));
		}
	}
	rc = db_cur_close(&c, rc);
	if (rc == 0 && !prev && !next)
		rc = drop_marks(m, b);	/* no epoch is left: no history either */
	return rc;
}
