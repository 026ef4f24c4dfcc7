/* genrec.c — the generic records (meta_rec_*): the records of the kinds
 * the lifecycle features own (versions, journal, lineage, ...; the owner
 * of each kind is in records.h), read, written and walked by kind and key
 * bytes.  The kinds the files of meta/ own are refused here: their records
 * go through those files' own encoders.  A record of a kind history keeps
 * (meta_hist_kind) whose key starts with a snapshot inode is read at that
 * snapshot's epoch.
 *
 * Layer: meta, over db.c and histview.c.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "meta/db.h"
#include "meta/keys.h"
#include "meta/meta.h"
#include "meta/records.h"
#include "tier/log.h"

/* Refuse KIND if it is one of meta.c's own kinds (records.h): log it,
 * return true. */
static bool rec_refused(uint8_t kind, const char *op)
{
	const struct meta_rec_kind *k = meta_rec_kind_of(kind);

	if (!k || strncmp(k->owner, "meta/", 5))
		return false;
	log_err("meta: %s of reserved record kind '%c' refused", op, kind);
	return true;
}

/* "KIND | KEY" in a malloc'd buffer (generic keys have no length bound). */
static uint8_t *rec_key(uint8_t kind, const void *key, size_t klen)
{
	uint8_t *k = malloc(1 + klen);

	if (k) {
		k[0] = kind;
		if (klen)
			memcpy(k + 1, key, klen);
	}
	return k;
}

int meta_rec_get(struct meta *m, uint8_t kind, const void *key, size_t klen,
		 void **val, size_t *vlen)
{
	uint8_t *k;
	int rc;

	if (rec_refused(kind, "rec get"))
		return -EINVAL;
	if (meta_hist_kind(kind) && klen >= 8 && klen <= KEY_MAX - 1 &&
	    meta_ino_is_snap(key_get_u64(key))) {
		uint64_t ino = key_get_u64(key);
		struct meta_epoch ep;
		uint8_t kb[KEY_MAX];

		rc = hist_snap_epoch(m, ino, &ep);
		if (rc)
			return rc;
		kb[0] = kind;
		key_put_u64(kb + 1, meta_snap_live(ino));
		memcpy(kb + 9, (const uint8_t *)key + 8, klen - 8);
		return hist_view_get(m, kb, 1 + klen, ep.epoch, val, vlen);
	}
	k = rec_key(kind, key, klen);
	rc = k ? db_get_copy(m, k, 1 + klen, val, vlen) : -ENOMEM;
	free(k);
	return rc;
}

void meta_rec_put(struct meta_batch *b, uint8_t kind, const void *key, size_t klen,
		  const void *val, size_t vlen)
{
	if (rec_refused(kind, "rec put")) {
		assert(!"reserved record kind");
		return;
	}
	db_batch_put_kind(b, kind, key, klen, val, vlen);
}

void meta_rec_del(struct meta_batch *b, uint8_t kind, const void *key, size_t klen)
{
	if (rec_refused(kind, "rec del")) {
		assert(!"reserved record kind");
		return;
	}
	db_batch_del_kind(b, kind, key, klen);
}

static int any_cb(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)ctx;
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	return 1;
}

bool meta_rec_any(struct meta *m, uint8_t kind, const void *prefix, size_t plen)
{
	return meta_rec_foreach(m, kind, prefix, plen, any_cb, NULL) == 1;
}

int meta_rec_foreach(struct meta *m, uint8_t kind, const void *prefix, size_t plen,
		     int (*fn)(void *ctx, const void *key, size_t klen,
			       const void *val, size_t vlen),
		     void *ctx)
{
	return meta_rec_foreach_from(m, kind, prefix, plen, prefix, plen, fn, ctx);
}

int meta_rec_foreach_from(struct meta *m, uint8_t kind, const void *prefix, size_t plen,
			  const void *start, size_t slen,
			  int (*fn)(void *ctx, const void *key, size_t klen,
				    const void *val, size_t vlen),
			  void *ctx)
{
	struct db_cursor c;
	uint8_t *p, *st;
	int rc;

	if (rec_refused(kind, "rec foreach"))
		return -EINVAL;
	p = rec_key(kind, prefix, plen);
	st = rec_key(kind, start, slen);
	rc = p && st ? db_cur_open(&c, m, p, 1 + plen, st, 1 + slen) : -ENOMEM;
	free(p);
	free(st);
	if (rc)
		return rc;
	while (rc == 0 && db_cur_next(&c))
		rc = fn(ctx, c.k + 1, c.klen - 1, c.v, c.vlen);
	return db_cur_close(&c, rc);
}

int meta_rec_foreach_rev(struct meta *m, uint8_t kind, const void *prefix, size_t plen,
			 int (*fn)(void *ctx, const void *key, size_t klen,
				   const void *val, size_t vlen),
			 void *ctx)
{
	struct db_cursor c;
	uint8_t *p;
	int rc;

	if (rec_refused(kind, "rec foreach"))
		return -EINVAL;
	p = rec_key(kind, prefix, plen);
	rc = p ? db_cur_open_rev(&c, m, p, 1 + plen) : -ENOMEM;
	free(p);
	if (rc)
		return rc;
	while (rc == 0 && db_cur_next(&c))
		rc = fn(ctx, c.k + 1, c.klen - 1, c.v, c.vlen);
	return db_cur_close(&c, rc);
}
