/* histmove.c — moving a piece of an epoch snapshot's file to another tier
 * (meta_snap_extent_move): queued in the batch, done at its commit under
 * the keep lock (history.c: hist_commit_begin), as history entries that
 * give the snapshot's epoch alone the moved piece.
 *
 * A move checks, at commit, that the piece the epoch reads is still the one
 * moved; if it changed meanwhile (or the epoch was dropped) the move is left
 * undone and the piece stays where it is.
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

void hist_batch_moves_free(struct hist_batch *hb)
{
	for (size_t i = 0; i < hb->nmoves; i++)
		free(hb->moves[i].v);
	free(hb->moves);
	hb->moves = NULL;
	hb->nmoves = hb->capmoves = 0;
}

int meta_snap_extent_move(struct meta_batch *b, uint64_t sino, uint64_t foff,
			  const struct tier_ref *old, const struct meta_extent *e)
{
	struct hist_batch *hb = db_batch_hist(b);
	struct hist_move *mv;

	if (!meta_ino_is_snap(sino) || e->foff != foff)
		return -EINVAL;
	if (hb->nmoves == hb->capmoves) {
		size_t cap = hb->capmoves ? 2 * hb->capmoves : 16;
		struct hist_move *v = realloc(hb->moves, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		hb->moves = v;
		hb->capmoves = cap;
	}
	mv = &hb->moves[hb->nmoves];
	*mv = (struct hist_move){ .sino = sino, .foff = foff, .old = *old, .to = e->ref };
	mv->v = meta_extent_value(e, &mv->vlen);
	if (!mv->v)
		return -ENOMEM;
	hb->nmoves++;
	return 0;
}

static bool same_ref(const struct tier_ref *a, const struct tier_ref *b)
{
	return a->tier == b->tier && a->seg == b->seg && a->off == b->off;
}

/* Put history entry K|DEATH = V (VLEN bytes, with its tag) into B, with its
 * index and mark; REF (if not NULL) is the extent it references. */
static int put_entry(struct meta_batch *b, struct hist_batch *hb, const uint8_t *k, size_t klen,
		     uint64_t death, const uint8_t *v, size_t vlen, const struct tier_ref *ref)
{
	uint8_t hk[HKEY_MAX];
	int rc = ref ? hist_kept_add(hb, ref) : 0;

	if (rc)
		return rc;
	if (ref)
		meta_space_delta(b, ref, +1);
	db_batch_put(b, hk, hist_hkey(hk, k, klen, death), v, vlen);
	db_batch_put(b, hk, hist_gkey(hk, k, klen, death), "", 0);
	db_batch_put(b, hk, hist_fkey(hk, k, klen), "", 0);
	return 0;
}

/* Do move MV into B (under the keep lock).  Epoch e reads the record from
 * the first entry that died after e, or from the live record; that value
 * spans [p, d) of epochs (p: the death before, d: that entry's or none).
 * The span is split so that e alone reads the moved piece: [p, e) keeps
 * the old value (if a live epoch lies there), e reads an entry that dies
 * at e + 1 (replacing the one found if that is its death), and [e + 1, d)
 * reads what it read. */
int hist_move_one(struct meta *m, struct meta_batch *b, struct hist_batch *hb,
		  const struct hist_move *mv)
{
	struct hist *h = *db_hist(m);
	uint64_t epoch = meta_snap_epoch(mv->sino);
	uint8_t k[KEY_MAX], hk[HKEY_MAX];
	size_t klen = key_ino_off(k, META_REC_EXTENT, meta_snap_live(mv->sino), mv->foff);
	size_t hlen = hist_hkey(hk, k, klen, epoch + 1);
	struct meta_epoch ep;
	struct tier_ref r;
	struct db_cursor c;
	uint64_t found = 0, p;
	uint8_t *old = NULL, *v;
	size_t oldlen = 0;
	int rc = meta_epoch_get(m, epoch, &ep);

	if (rc == -ENOENT)
		return 0;	/* dropped meanwhile: nothing to move */
	if (rc)
		return rc;
	rc = db_cur_open(&c, m, hk, 1 + klen, hk, hlen);
	if (rc)
		return rc;
	if (db_cur_next(&c) && c.klen == hlen) {
		found = key_get_u64(c.k + 1 + klen);
		if (c.vlen > 1 && c.v[0] == 1) {
			old = malloc(c.vlen);
			if (old) {
				memcpy(old, c.v, c.vlen);
				oldlen = c.vlen;
			}
		}
	}
	/* an entry that says the record did not exist then: nothing to move */
	rc = db_cur_close(&c, !found || old ? 0 : c.vlen > 1 && c.v[0] == 1 ? -ENOMEM : -ENOENT);
	if (rc == 0 && !found) {	/* it reads the live record */
		struct db_pinned lp;

		rc = db_get_pinned(m, k, klen, &lp);
		if (rc == 0) {
			old = malloc(lp.len + 1);
			if (old) {
				old[0] = 1;
				memcpy(old + 1, lp.v, lp.len);
				oldlen = lp.len + 1;
			}
			db_unpin(&lp);
			rc = old ? 0 : -ENOMEM;
		}
	}
	if (rc == 0 && (meta_extent_ref(k, klen, old + 1, oldlen - 1, &r) < 0 ||
			!same_ref(&r, &mv->old)))
		rc = -ESTALE;	/* changed meanwhile: the piece stays where it is */
	if (rc == 0)
		rc = hist_death_before(m, k, klen, found ? found : epoch + 1, &p);
	if (rc == 0 && found && p > epoch)
		rc = -ESTALE;	/* cannot be: the entry found is the first after e */
	if (rc == 0 && p < epoch && hist_live_in(h, p ? p : 1, epoch))
		rc = put_entry(b, hb, k, klen, epoch, old, oldlen, &r);
	v = rc == 0 ? malloc(mv->vlen + 1) : NULL;
	if (rc == 0 && !v)
		rc = -ENOMEM;
	if (rc == 0) {
		v[0] = 1;
		memcpy(v + 1, mv->v, mv->vlen);
		rc = put_entry(b, hb, k, klen, epoch + 1, v, mv->vlen + 1, &mv->to);
	}
	if (rc == 0 && found == epoch + 1) {	/* put over the one found */
		rc = hist_dropped_add(hb, &r);
		if (rc == 0)
			meta_space_delta(b, &r, -1);
	}
	free(v);
	free(old);
	return rc == -ENOENT || rc == -ESTALE ? 0 : rc;
}
