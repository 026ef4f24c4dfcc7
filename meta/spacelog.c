/* spacelog.c — the space log: in the batch of every commit that adds or
 * removes extent records, how the reference count of each stored extent
 * changed, so that a mount reads the counts (spacecp.c) plus this log
 * instead of counting every extent (meta.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "meta/db.h"
#include "meta/keys.h"
#include "meta/meta.h"
#include "meta/meta_priv.h"
#include "meta/records.h"
#include "tier/log.h"

size_t meta_space_log_encode(const struct space_delta *d, size_t n, uint8_t *out)
{
	uint8_t *p = out;

	*p++ = 1;
	for (size_t i = 0; i < n; i++) {
		*p++ = d[i].tier;
		p = meta_le_put(p, d[i].seg, 4);
		p = meta_le_put(p, d[i].off, 8);
		p = meta_le_put(p, d[i].len, 4);
		*p++ = (uint8_t)d[i].delta;
	}
	return (size_t)(p - out);
}

struct log_walk {
	int (*fn)(void *ctx, uint64_t id, const struct space_delta *d, size_t n);
	void *ctx;
	struct space_delta *d;
	size_t cap;
};

static int log_cb(struct log_walk *w, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	const uint8_t *p = v + 1;
	size_t n;

	if (klen != 9 || vlen < 1 || v[0] != 1 || (vlen - 1) % SPACE_DELTA_LEN)
		return meta_corrupt("space log", k, klen, vlen);
	n = (vlen - 1) / SPACE_DELTA_LEN;
	if (n > w->cap) {
		struct space_delta *d = realloc(w->d, n * sizeof(*d));

		if (!d)
			return -ENOMEM;
		w->d = d;
		w->cap = n;
	}
	for (size_t i = 0; i < n; i++) {
		w->d[i].tier = *p++;
		w->d[i].seg = (uint32_t)meta_le_get(&p, 4);
		w->d[i].off = meta_le_get(&p, 8);
		w->d[i].len = (uint32_t)meta_le_get(&p, 4);
		w->d[i].delta = (int8_t)*p++;
	}
	return w->fn(w->ctx, key_get_u64(k + 1), w->d, n);
}

int meta_space_log_foreach(struct meta *m, uint64_t after, uint64_t upto,
			   int (*fn)(void *ctx, uint64_t id, const struct space_delta *d,
				     size_t n),
			   void *ctx)
{
	uint8_t prefix[1] = { META_REC_SPACE_LOG }, start[9];
	struct log_walk w = { fn, ctx, NULL, 0 };
	struct db_cursor c;
	int rc;

	if (after == UINT64_MAX || after >= upto)
		return 0;
	start[0] = META_REC_SPACE_LOG;
	key_put_u64(start + 1, after + 1);
	rc = db_cur_open(&c, m, prefix, 1, start, sizeof(start));
	if (rc)
		return rc;
	while (rc == 0 && db_cur_next(&c)) {
		if (c.klen == 9 && key_get_u64(c.k + 1) > upto)
			break;
		rc = log_cb(&w, c.k, c.klen, c.v, c.vlen);
	}
	free(w.d);
	return db_cur_close(&c, rc);
}

void meta_space_log_trim(struct meta_batch *b, uint64_t upto)
{
	uint8_t lo[9], hi[9];

	if (!upto)
		return;
	lo[0] = hi[0] = META_REC_SPACE_LOG;
	key_put_u64(lo + 1, 0);
	key_put_u64(hi + 1, upto + 1);
	db_batch_del_range(b, lo, sizeof(lo), hi, sizeof(hi));
}

static const uint8_t space_key[] = { META_REC_SUPER, 's', 'p', 'a', 'c', 'e' };

int meta_space_mark_get(struct meta *m, uint64_t *epoch, uint64_t *log_end)
{
	struct db_pinned p;
	const uint8_t *q;
	int rc = db_get_pinned(m, space_key, sizeof(space_key), &p);

	if (rc)
		return rc;
	q = p.v + 1;
	if (p.len == 17 && p.v[0] == 1) {
		*epoch = meta_le_get(&q, 8);
		*log_end = meta_le_get(&q, 8);
	} else {
		rc = meta_corrupt("space mark", space_key, sizeof(space_key), p.len);
	}
	db_unpin(&p);
	return rc;
}

void meta_space_mark_put(struct meta_batch *b, uint64_t epoch, uint64_t log_end)
{
	uint8_t v[17], *p = v;

	*p++ = 1;
	p = meta_le_put(p, epoch, 8);
	meta_le_put(p, log_end, 8);
	db_batch_put(b, space_key, sizeof(space_key), v, sizeof(v));
}

void meta_space_drop(struct meta_batch *b)
{
	meta_space_log_trim(b, UINT64_MAX - 1);
	db_batch_del(b, space_key, sizeof(space_key));
}
