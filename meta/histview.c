/* histview.c — reading the records of an epoch snapshot: a record's value
 * at an epoch (hist_view_get), the records under a prefix at an epoch, in
 * key order (hist_view_foreach), and the same for a snapshot inode, at its
 * snapshot's epoch (hist_snap_get, hist_snap_foreach), for meta.c's readers
 * of snapshot inodes; and every extent history references
 * (meta_history_extent_foreach), for the space counts, fsck and gc.
 *
 * Reads take no lock of history.c's: what they see of an epoch is settled
 * by the order in which they read the live record and its history (below).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "meta/db.h"
#include "meta/history_priv.h"
#include "meta/keys.h"
#include "meta/meta.h"
#include "meta/meta_priv.h"
#include "meta/records.h"

/* The live record is read first: a change commits its history, its mark
 * and its new value in one batch, so a mark still absent (or a history
 * still without an entry that died after EPOCH) when looked at after the
 * live record was read says that record was the value at EPOCH. */
int hist_view_get(struct meta *m, const uint8_t *k, size_t klen, uint64_t epoch,
		  void **val, size_t *vlen)
{
	uint8_t hk[HKEY_MAX];
	size_t hlen, llen = 0;
	struct db_pinned p;
	struct db_cursor c;
	void *live = NULL;
	int lrc = db_get_copy(m, k, klen, &live, &llen);
	int rc = lrc == 0 || lrc == -ENOENT ? db_get_pinned(m, hk, hist_fkey(hk, k, klen), &p) : lrc;

	if (rc == -ENOENT) {	/* never changed since an epoch: the live record */
		*val = live;
		*vlen = llen;
		return lrc;
	}
	if (rc == 0) {
		db_unpin(&p);
		hlen = hist_hkey(hk, k, klen, epoch + 1);
		rc = db_cur_open(&c, m, hk, 1 + klen, hk, hlen);
	}
	if (rc) {
		free(live);
		return rc;
	}
	if (db_cur_next(&c) && c.klen == hlen) {
		free(live);
		live = NULL;
		if (c.vlen < 1 || c.v[0] > 1) {
			rc = meta_corrupt("history", c.k, c.klen, c.vlen);
		} else if (c.v[0] == 0) {
			rc = -ENOENT;
		} else {
			char *copy = malloc(c.vlen);

			if (!copy) {
				rc = -ENOMEM;
			} else {
				memcpy(copy, c.v + 1, c.vlen - 1);
				copy[c.vlen - 1] = '\0';
				*val = copy;
				*vlen = c.vlen - 1;
			}
		}
		return db_cur_close(&c, rc);
	}
	rc = db_cur_close(&c, 0);
	if (rc) {
		free(live);
		return rc;
	}
	*val = live;
	*vlen = llen;
	return lrc;
}

/* Compare the rests of two keys after a common prefix, as RocksDB orders
 * the keys (a rest and its history entries sort before longer rests). */
static int rest_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int r = memcmp(a, b, alen < blen ? alen : blen);

	return r ? r : (alen > blen) - (alen < blen);
}

int hist_view_foreach(struct meta *m, const uint8_t *prefix, size_t plen,
		      const uint8_t *after, size_t alen, uint64_t epoch,
		      int (*fn)(void *ctx, const uint8_t *k, size_t klen,
				const uint8_t *v, size_t vlen),
		      void *ctx)
{
	uint8_t hp[HKEY_MAX], start[HKEY_MAX], key[HKEY_MAX];
	struct db_cursor live, hc;
	bool lv, hv;
	uint8_t *val = NULL;
	size_t slen = plen;
	int rc;

	memcpy(start, prefix, plen);
	if (after) {
		memcpy(start + plen, after, alen);
		slen += alen;
	}
	hp[0] = META_REC_HISTORY;
	memcpy(hp + 1, start, slen);
	rc = db_cur_open(&live, m, prefix, plen, start, slen);
	if (rc)
		return rc;
	rc = db_cur_open(&hc, m, hp, 1 + plen, hp, 1 + slen);
	if (rc)
		return db_cur_close(&live, rc);
	lv = db_cur_next(&live);
	hv = db_cur_next(&hc);
	while (rc == 0 && (lv || hv)) {
		const uint8_t *lrest = lv ? live.k + plen : NULL;
		size_t lrlen = lv ? live.klen - plen : 0;
		const uint8_t *hrest;
		size_t hrlen, klen;
		int cmp;
		bool have = false;
		size_t vlen = 0;

		if (after && lv && !rest_cmp(lrest, lrlen, after, alen)) {
			lv = db_cur_next(&live);
			continue;
		}
		if (hv && (hc.klen < 1 + plen + 8)) {
			rc = meta_corrupt("history", hc.k, hc.klen, hc.vlen);
			break;
		}
		hrest = hv ? hc.k + 1 + plen : NULL;
		hrlen = hv ? hc.klen - 1 - plen - 8 : 0;
		if (after && hv && !rest_cmp(hrest, hrlen, after, alen)) {
			hv = db_cur_next(&hc);
			continue;
		}
		cmp = !hv ? -1 : !lv ? 1 : rest_cmp(lrest, lrlen, hrest, hrlen);
		if (cmp < 0) {		/* only live: unchanged since the epoch */
			rc = fn(ctx, live.k, live.klen, live.v, live.vlen);
			lv = db_cur_next(&live);
			continue;
		}
		/* a kept record: its first entry that died after the epoch */
		klen = plen + hrlen;
		memcpy(key, prefix, plen);
		memcpy(key + plen, hrest, hrlen);
		while (hv && hc.klen == 1 + klen + 8 && !memcmp(hc.k + 1, key, klen)) {
			if (!have && key_get_u64(hc.k + 1 + klen) > epoch) {
				if (hc.vlen < 1 || hc.v[0] > 1) {
					rc = meta_corrupt("history", hc.k, hc.klen, hc.vlen);
					break;
				}
				have = true;
				free(val);
				val = NULL;
				vlen = 0;
				if (hc.v[0] == 1) {
					val = malloc(hc.vlen);
					if (!val) {
						rc = -ENOMEM;
						break;
					}
					vlen = hc.vlen - 1;
					memcpy(val, hc.v + 1, vlen);
				}
			}
			hv = db_cur_next(&hc);
		}
		if (rc)
			break;
		if (cmp == 0) {
			if (!have)
				rc = fn(ctx, live.k, live.klen, live.v, live.vlen);
			lv = db_cur_next(&live);
		}
		if (rc == 0 && have && val)
			rc = fn(ctx, key, klen, val, vlen);
		free(val);
		val = NULL;
	}
	free(val);
	rc = db_cur_close(&hc, rc);
	return db_cur_close(&live, rc);
}

/* The epoch of snapshot inode INO if it is live; -ENOENT if it is not. */
int hist_snap_epoch(struct meta *m, uint64_t ino, struct meta_epoch *ep)
{
	int rc = meta_epoch_get(m, meta_snap_epoch(ino), ep);

	return rc == 0 && meta_snap_live(ino) > ep->hwm ? -ENOENT : rc;
}

/* Record KIND | live ino of INO | NAME (LEN bytes) at INO's epoch. */
int hist_snap_get(struct meta *m, uint8_t kind, uint64_t ino, const char *name, size_t len,
		  void **val, size_t *vlen)
{
	struct meta_epoch ep;
	uint8_t k[KEY_MAX];
	size_t klen;
	int rc = hist_snap_epoch(m, ino, &ep);

	if (rc)
		return rc;
	klen = name ? key_ino_name(k, kind, meta_snap_live(ino), name, len)
		    : key_ino(k, kind, meta_snap_live(ino));
	return hist_view_get(m, k, klen, ep.epoch, val, vlen);
}

/* Each record KIND | live ino of INO | ... at INO's epoch, after AFTER. */
int hist_snap_foreach(struct meta *m, uint8_t kind, uint64_t ino, const char *after,
		      size_t alen,
		      int (*fn)(void *ctx, const uint8_t *k, size_t klen,
				const uint8_t *v, size_t vlen),
		      void *ctx)
{
	struct meta_epoch ep;
	uint8_t prefix[KEY_MAX];
	int rc = hist_snap_epoch(m, ino, &ep);

	if (rc)
		return rc;
	return hist_view_foreach(m, prefix, key_ino(prefix, kind, meta_snap_live(ino)),
				 (const uint8_t *)after, alen, ep.epoch, fn, ctx);
}

int meta_history_extent_foreach(struct meta *m,
				int (*fn)(void *ctx, uint64_t ino, const struct tier_ref *r),
				void *ctx)
{
	const uint8_t prefix[] = { META_REC_HISTORY, META_REC_EXTENT };
	struct db_cursor c;
	int rc = db_cur_open(&c, m, prefix, 2, prefix, 2);

	if (rc)
		return rc;
	while (rc == 0 && db_cur_next(&c)) {
		struct tier_ref r;

		if (c.klen != 1 + 17 + 8 || c.vlen < 1) {
			rc = meta_corrupt("history", c.k, c.klen, c.vlen);
			break;
		}
		if (c.v[0] == 0)
			continue;
		rc = meta_extent_ref(c.k + 1, 17, c.v + 1, c.vlen - 1, &r);
		if (rc == 0)
			rc = fn(ctx, key_get_u64(c.k + 2), &r);
	}
	return db_cur_close(&c, rc);
}
